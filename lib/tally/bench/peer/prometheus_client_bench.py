#!/usr/bin/python3
"""prometheus_client_bench.py - the cases of tally_bench against a peer library
that is installed here: the official Python client (Debian's
python3-prometheus-client), so that RESULTS.md can compare with a library
measured in the same session on the same machine. Same harness as
tally_bench.c: each case is the median of 5 repetitions of about 0.6 s, one
line per case in ns per operation (the rendering cases in ns per render).

Usage: /usr/bin/python3 lib/tally/bench/peer/prometheus_client_bench.py
"""
import statistics
import threading
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

REPS = 5
SECONDS = 0.6
BUCKETS10 = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1)


def measure(fn):
    """ns per operation of fn(n), with n picked so a run lasts about SECONDS."""
    n = 1
    while True:
        t0 = time.perf_counter()
        fn(n)
        t = time.perf_counter() - t0
        if t > 0.05:
            break
        n *= 8
    n = int(n * SECONDS / t) + 1
    t0 = time.perf_counter()
    fn(n)
    return (time.perf_counter() - t0) * 1e9 / n


def report(name, ns):
    ns = sorted(ns)
    print(f"{name:<34} {statistics.median(ns):12.1f}  ({ns[0]:.1f} .. {ns[-1]:.1f})", flush=True)


def run_case(name, fn):
    report(name, [measure(fn) for _ in range(REPS)])


def main():
    reg = CollectorRegistry()
    plain = Counter("plain", "", registry=reg)
    three = Counter("three", "", ["a", "b", "c"], registry=reg)
    kept = three.labels("GET", "/v1/chat/completions", "200")
    shared = Counter("shared", "", registry=reg)
    gauge = Gauge("level", "", registry=reg)
    hist = Histogram("lat_seconds", "", buckets=BUCKETS10, registry=reg)

    def inc(c):
        def loop(n):
            for _ in range(n):
                c.inc()
        return loop

    def two_threads(n):
        # Both threads increment the same counter; ns per op per thread.
        threads = [threading.Thread(target=inc(shared), args=(n,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def gauge_set(n):
        for i in range(n):
            gauge.set(i)

    def observe(n):
        for i in range(n):
            hist.observe((i & 2047) * 0.0006)

    run_case("counter_inc_unlabelled", inc(plain))
    run_case("counter_inc_3label_handle", inc(kept))
    run_case("counter_inc_2threads_per_thread", two_threads)
    run_case("gauge_set", gauge_set)
    run_case("histogram_observe_10_buckets", observe)

    looked_up = Counter("looked_up", "", ["x", "y", "z"], registry=reg)
    values = [(f"x{i % 10}", f"y{(i // 10) % 50}", f"z{i // 500}") for i in range(1000)]
    for v in values:
        looked_up.labels(*v).inc()

    def lookup(n):
        for i in range(n):
            looked_up.labels(*values[i % 1000])
    run_case("lookup_3labels_1000_children", lookup)

    # New children need fresh label sets: a new family per repetition, label
    # values made beforehand so only the creations are timed.
    created = [0]

    def create(n):
        created[0] += 1
        fam = Counter(f"created{created[0]}", "", ["a", "b", "c"], registry=None)
        labels = [str(i) for i in range(n)]
        t0 = time.perf_counter()
        for b in labels:
            fam.labels("x", b, "y").inc()
        return time.perf_counter() - t0

    report("child_create", [create(100000) * 1e9 / 100000 for _ in range(REPS)])

    big = CollectorRegistry()
    c = Counter("bench_requests", "Requests.", ["a", "b"], registry=big)
    h = Histogram("bench_latency_seconds", "Latency.", ["h"], buckets=BUCKETS10, registry=big)
    for i in range(1000):
        for j in range(100):
            c.labels(f"a{i}", f"b{j}").inc(i * 100 + j)
        hh = h.labels(f"a{i}")
        for k in range(20):
            hh.observe(k * 0.05)

    def render(gen):
        def loop(n):
            for _ in range(n):
                gen(big)
        return loop
    # One render takes seconds here: 5 renders, not 5 x 0.6 s.
    for name, gen in (("render_100k_text", generate_latest),
                      ("render_100k_openmetrics", generate_openmetrics)):
        ns = []
        for _ in range(REPS):
            t0 = time.perf_counter()
            gen(big)
            ns.append((time.perf_counter() - t0) * 1e9)
        report(name, ns)


if __name__ == "__main__":
    main()
