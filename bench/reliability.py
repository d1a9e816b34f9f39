# The reliability measurements (bench/reliability.sh calls this): what a
# Release tollgate with 2 workers in front of the real mock-llm does to its
# memory and descriptors under sustained load, many idle connections,
# 1,000 reloads under load, stalled and oversized uploads and a descriptor
# limit, and how it answers ambiguous framing. Each item starts its own
# mock-llm and tollgate (tests/e2e/harness.py), prints its method and a
# markdown table, and the whole run replaces the "Reliability" section of
# bench/RESULTS.md. docs/reliability.md says what these figures back.
#
# An item that finds a defect (a wrong status, a failed request, a crash)
# stops there and says what it saw; the run then exits 1.

import argparse
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
E2E_DIR = os.path.join(os.path.dirname(BENCH_DIR), "tests", "e2e")
sys.path.insert(0, E2E_DIR)

import harness  # noqa: E402
from harness import MockLLM, Tollgate, free_port, gateway_config, model, provider  # noqa: E402
from benchlib import machine, median, parse_wrk, write_section  # noqa: E402
from test_body_limits import read_response, send_quietly  # noqa: E402
import test_framing  # noqa: E402
from test_reload_under_load import Client  # noqa: E402

MB = 1 << 20
LIMIT = MB                    # server.max_body_bytes in every item
HEADER_TIMEOUT_MS = 10000     # tollgate's default
CHAT = "/v1/chat/completions"
CHAT_BODY = {"model": "gpt-4o-mini", "max_tokens": 4,
             "messages": [{"role": "user", "content": "measure me"}]}


class Defect(Exception):
    """What an item saw that tollgate must not do; ends that item."""


def mb(v_kb):
    return "%.1f MB" % (v_kb / 1024.0)


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^%s:\s+(\d+) kB" % field, f.read(), re.M).group(1))


def reset_peak(pid):
    """Starts a new VmHWM (peak RSS) period for pid (Linux: clear_refs 5)."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


class Rig:
    """A mock-llm and a tollgate (2 workers, 1 MB body limit, the default
    header timeout) in a temp dir of their own."""

    def __init__(self, max_fds=None, **server):
        self.tmp = tempfile.TemporaryDirectory(prefix="tollgate-reliability-")
        self.mock = MockLLM(self.tmp.name)
        self.port = free_port()
        self.server = dict({"max_body_bytes": LIMIT, "header_timeout_ms": HEADER_TIMEOUT_MS}, **server)
        self.tollgate = Tollgate(self.tmp.name, self.config(), max_fds=max_fds)
        self.pid = self.tollgate.proc.pid

    def config(self, extra_model=False, limit=None):
        models = [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])]
        if extra_model:
            models.append(model("gpt-4o", [("mock", "gpt-4o")]))
        cfg = gateway_config(self.port, [provider("mock", self.mock)], models, server=self.server)
        if limit is not None:
            cfg["server"]["max_body_bytes"] = limit
        return cfg

    def rss(self):
        return self.tollgate.rss_kb()

    def fds(self):
        return self.tollgate.open_fds()

    def alive(self, what):
        if self.tollgate.proc.poll() is not None:
            raise Defect("tollgate exited (%d) during %s; stderr tail:\n%s"
                         % (self.tollgate.proc.returncode, what, self.tollgate.stderr()[-2000:]))

    def chat_ok(self, what, timeout=30.0):
        r = self.tollgate.request("POST", CHAT, CHAT_BODY, timeout=timeout)
        if r.status != 200:
            raise Defect("%s: a normal chat request got %d %r" % (what, r.status, r.body[:200]))

    def wait_fds(self, target, timeout=15.0):
        """Seconds until tollgate holds at most `target` descriptors, or
        None when it still holds more after `timeout`."""
        started = time.monotonic()
        while self.fds() > target:
            if time.monotonic() - started > timeout:
                return None
            time.sleep(0.01)
        return time.monotonic() - started

    def close(self):
        problems = []
        self.tollgate.stop(problems.append)
        self.mock.stop(problems.append)
        self.tmp.cleanup()
        if problems:
            raise Defect("unclean stop: " + "; ".join(problems))


def settle():
    time.sleep(1.0)


def connect_many(port, n):
    socks = []
    for _ in range(n):
        socks.append(socket.create_connection(("127.0.0.1", port)))
    return socks


# --- 1. sustained load ------------------------------------------------------

def wrk(rig, requests, stream):
    """wrk (1 thread, 32 keep-alive connections, bench/chat.lua) until
    exactly `requests` answers came back; every one must be 2xx."""
    done_file = os.path.join(rig.tmp.name, "wrk.done")
    env = dict(os.environ, STREAM="1" if stream else "0", WRK_STOP_AFTER=str(requests),
               WRK_DONE_FILE=done_file)
    argv = ["wrk", "-t1", "-c32", "-d600s", "-s", os.path.join(BENCH_DIR, "chat.lua"),
            "http://127.0.0.1:%d%s" % (rig.port, CHAT)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    while not os.path.exists(done_file) and p.poll() is None:
        rig.alive("load")
        time.sleep(0.01)
    p.send_signal(signal.SIGINT)  # wrk prints its statistics and exits
    r = parse_wrk(p.communicate(timeout=30)[0])
    os.remove(done_file)
    if r["errors"] or r["requests"] < requests:
        raise Defect("wrk: %d non-2xx answers, %d requests of %d (%s)"
                     % (r["errors"], r["requests"], requests, r["socket_errors"]))
    return r["requests"]


def item_load(args):
    rig = Rig()
    try:
        rig.chat_ok("warm-up")
        settle()
        rows = [("idle (after start and one request)", 0, mb(rig.rss()), rig.fds())]
        total, marks = 0, []
        for phase in range(2):
            done = wrk(rig, args.requests // 2, False) + wrk(rig, args.requests - args.requests // 2, True)
            total += done
            settle()
            marks.append((rig.rss(), rig.fds(), done))
            rows.append(("after phase %d" % (phase + 1), total, mb(marks[-1][0]), marks[-1][1]))
        peak = status_kb(rig.pid, "VmHWM")
    finally:
        rig.close()
    grown = marks[1][0] - marks[0][0]
    return ["### 1. RSS and descriptors under sustained load", "",
            "One tollgate (2 workers) and one mock-llm; wrk (1 thread, 32 keep-alive "
            "connections, `bench/chat.lua`: 16 completion tokens), per phase %s requests: half "
            "plain, then half streamed (the script stops wrk after exactly that many answers); two phases. RSS (`VmRSS`) and "
            "open descriptors (`/proc/PID/fd`) 1 s after each phase. Every answer was 2xx."
            % format(args.requests, ","), ""] + \
        table(["when", "requests", "RSS", "open descriptors"],
              [(w, format(n, ","), r, f) for w, n, r, f in rows]) + \
        ["", "Phase 2 (%s requests): RSS %+d KB (%.2f bytes per request); peak RSS %s: %s."
         % (format(marks[1][2], ","), grown, grown * 1024.0 / marks[1][2], mb(peak),
            "flat (within 1 MB)" if abs(grown) <= 1024 else "**grows**"),
         "The descriptors after load are the idle ones plus the upstream keep-alive "
         "connections the pools keep to mock-llm (at most `max_connections` per worker).", ""]


# --- 2. idle client connections -----------------------------------------------

def item_idle(args):
    rig = Rig(header_timeout_ms=120000)  # the idle clients stay for the whole item
    n = args.idle
    try:
        rig.chat_ok("warm-up")
        settle()
        base_rss, base_fds = rig.rss(), rig.fds()
        rows = [("baseline", mb(base_rss), base_fds, "")]
        for kind in ("silent (connected, nothing sent)", "keep-alive (one chat request each, then idle)"):
            socks = connect_many(rig.port, n)
            try:
                if kind.startswith("keep-alive"):
                    req = (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n%s")
                    body = json.dumps(CHAT_BODY).encode()
                    for s in socks:
                        s.sendall(req % (CHAT.encode(), len(body), body))
                        status, _, _ = read_response(s)
                        if status != 200:
                            raise Defect("keep-alive client got %d" % status)
                deadline = time.monotonic() + 15
                while rig.fds() < base_fds + n:
                    if time.monotonic() > deadline:
                        raise Defect("only %d of %d connections accepted" % (rig.fds() - base_fds, n))
                    time.sleep(0.05)
                settle()
                rss, fds = rig.rss(), rig.fds()
            finally:
                for s in socks:
                    s.close()
            # upstream keep-alive connections opened by the requests stay pooled
            back = rig.wait_fds(base_fds + 4)
            rig.alive("idle connections")
            rows.append(("%s %s open" % (format(n, ","), kind), mb(rss), fds,
                         "%.0f bytes per connection" % ((rss - base_rss) * 1024.0 / n)))
            rows.append(("after they closed", mb(rig.rss()), rig.fds(),
                         "descriptors back in %.2f s" % back if back is not None else "**descriptors not back in 15 s**"))
        rig.chat_ok("after idle connections")
    finally:
        rig.close()
    return ["### 2. Idle client connections", "",
            "%s client connections opened and left idle, first silent (connected, not one "
            "byte sent), then keep-alive after one plain chat request each; RSS and "
            "descriptors once all were accepted, and after the client closed them "
            "(`header_timeout_ms` raised to 120 s so that tollgate does not close them "
            "first). Baseline after one request." % format(n, ","), ""] + \
        table(["state", "RSS", "open descriptors", "note"], rows) + [""]


# --- 3. reloads under load --------------------------------------------------

class Reloader:
    """SIGHUP reloads of one tollgate, each awaited until tollgate logs that
    both workers switched, each changing the configuration (the body limit
    alternates between 1 and 2 MB, an extra model comes and goes)."""

    def __init__(self, rig):
        self.rig = rig
        self.generation = 0
        self.confirmed = 0
        self.offset = 0

    def reload(self):
        rig = self.rig
        self.generation += 1
        odd = self.generation % 2 == 1
        rig.tollgate.write_config(rig.config(extra_model=odd, limit=LIMIT * (2 if odd else 1)))
        rig.tollgate.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while self.confirmed < self.generation:
            with open(rig.tollgate.stderr_path, errors="replace") as f:
                f.seek(self.offset)
                text = f.read()
            self.offset += len(text.encode())
            self.confirmed += text.count("configuration reloaded from")
            rig.alive("reload %d" % self.generation)
            if time.monotonic() > deadline:
                raise Defect("reload %d not confirmed in 20 s" % self.generation)
            if self.confirmed < self.generation:
                time.sleep(0.002)

    def run(self, n, every):
        """n reloads; returns ([(reloads done, RSS KB)] every `every`
        reloads, from 0, and the seconds taken)."""
        samples = [(0, self.rig.rss())]
        started = time.monotonic()
        for i in range(1, n + 1):
            self.reload()
            if i % every == 0:
                samples.append((i, self.rig.rss()))
        return samples, time.monotonic() - started


def slope(samples):
    """Least-squares slope of RSS KB per reload."""
    n = len(samples)
    mx = sum(g for g, _ in samples) / n
    my = sum(r for _, r in samples) / n
    return sum((g - mx) * (r - my) for g, r in samples) / sum((g - mx) ** 2 for g, _ in samples)


def item_reloads(args):
    rig = Rig()
    try:
        return reloads(rig, args)
    finally:
        rig.close()


def reloads(rig, args):
    every = max(1, args.reloads // 10)
    reloader = Reloader(rig)
    clients = [Client(rig.port, stream=i % 2 == 1) for i in range(4)]
    try:
        time.sleep(2)  # warm: pools and buffers at their working size
        fds0 = rig.fds()
        loaded, loaded_s = reloader.run(args.reloads, every)
        fds1 = rig.fds()
    finally:
        for c in clients:
            c.done.set()
        for c in clients:
            c.join(30)
    failures = [f for c in clients for f in c.failures]
    served = sum(c.ok for c in clients)
    if failures:
        raise Defect("%d requests failed during reloads, first: %r" % (len(failures), failures[0]))
    settle()
    quiet, quiet_s = reloader.run(args.reloads, every)
    if "not every worker confirmed" in rig.tollgate.stderr():
        raise Defect("a reload was not confirmed by every worker")
    rig.chat_ok("after reloads")
    rows = [("under load (%s requests served, 0 failed)" % format(served, ","), mb(loaded[0][1]),
             mb(loaded[-1][1]), "%.2f KB" % slope(loaded), "%d / %d" % (fds0, fds1),
             "%.1f s (%.1f ms per reload)" % (loaded_s, loaded_s * 1000 / args.reloads)),
            ("then without load", mb(quiet[0][1]), mb(quiet[-1][1]), "%.2f KB" % slope(quiet),
             "%d / %d" % (fds1, rig.fds()), "%.1f s (%.1f ms per reload)" % (quiet_s, quiet_s * 1000 / args.reloads))]
    return ["### 3. Reloads", "",
            "%s SIGHUP reloads one after the other, each changing the configuration (the body "
            "limit alternates between 1 and 2 MB, an extra model comes and goes) and each awaited "
            "until tollgate logs `configuration reloaded from` (both workers switched): first "
            "under load, 4 clients (2 plain, 2 streamed, each on one keep-alive connection, "
            "every answer checked: 200, and `[DONE]` for streams; the clients of "
            "tests/e2e/test_reload_under_load.py) running throughout after 2 s of warm-up; then "
            "%s more on the same process with no client. RSS sampled every %d reloads; growth "
            "per reload is the least-squares slope through the samples."
            % (format(args.reloads, ","), format(args.reloads, ","), every), ""] + \
        table(["%s reloads" % format(args.reloads, ","), "RSS before", "RSS after", "growth per reload (fit)",
               "descriptors before / after", "time"], rows) + \
        ["", "RSS every %d reloads, under load: " % every + ", ".join(mb(r) for _, r in loaded)
         + "; without load: " + ", ".join(mb(r) for _, r in quiet) + ".", ""]


# --- 4. uploads -------------------------------------------------------------

def sampled_peak(rig, phase):
    """Runs phase() and returns (its result, tollgate's peak RSS during it)."""
    reset_peak(rig.pid)
    result = phase()
    return result, status_kb(rig.pid, "VmHWM")


def upload_declared_16mb(rig, n):
    """n clients declare 16 MB, push 15 MB and stall. Seconds from each
    head sent to its 413."""
    def one(times):
        s = socket.create_connection(("127.0.0.1", rig.port))
        try:
            s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % (CHAT.encode(), 16 * MB))
            t0 = time.monotonic()
            threading.Thread(target=send_quietly, args=(s, b"x" * 15 * MB), daemon=True).start()
            status, headers, body = read_response(s)
            times.append(time.monotonic() - t0)
            check_json_413(status, headers, body)
            time.sleep(1.0)  # the client stalls; tollgate holds nothing for it
        finally:
            s.close()
    return run_clients(n, one)


def upload_within_limit_stalled(rig, n):
    """n clients declare exactly the limit, send 90% of it and stall.
    Seconds from each head sent until tollgate closed the connection, and
    what it sent first."""
    def one(times, received):
        s = socket.create_connection(("127.0.0.1", rig.port))
        s.settimeout(HEADER_TIMEOUT_MS / 1000.0 + 20)
        try:
            t0 = time.monotonic()
            s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % (CHAT.encode(), LIMIT))
            s.sendall(b"x" * (LIMIT * 9 // 10))
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                data += b"<reset>"
            times.append(time.monotonic() - t0)
            received.append(data)
        finally:
            s.close()
    received = []
    times = run_clients(n, lambda times: one(times, received))
    return times, received


def upload_chunked_past_limit(rig, n, total):
    """n clients send a chunked body in 64 KB chunks, `total` bytes each
    (or until refused) as fast as they can. Seconds from the first byte to
    each 413."""
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
    head = (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" % CHAT.encode())

    def one(times):
        s = socket.create_connection(("127.0.0.1", rig.port))
        try:
            t0 = time.monotonic()
            s.sendall(head)
            threading.Thread(target=send_quietly, args=(s, chunk * (total // (64 * 1024))),
                             daemon=True).start()
            status, headers, body = read_response(s)
            times.append(time.monotonic() - t0)
            check_json_413(status, headers, body)
        finally:
            s.close()
    return run_clients(n, one)


def check_json_413(status, headers, body):
    if status != 413 or headers.get("content-type") != "application/json" or \
            json.loads(body)["error"]["code"] != "body_too_large":
        raise Defect("expected the JSON 413, got %d %s %r" % (status, headers.get("content-type"), body[:200]))


def run_clients(n, one):
    """Runs one(times) on n threads at once; the list they appended to.
    The first Defect or error a thread met is raised here."""
    times, errors = [], []

    def wrapped():
        try:
            one(times)
        except Exception as exc:  # reported by the caller's thread
            errors.append(exc)
    threads = [threading.Thread(target=wrapped) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0] if isinstance(errors[0], Defect) else Defect(repr(errors[0]))
    return times


def http2_over_limit(rig):
    """curl's HTTP/2 upload of twice the limit: what the client sees."""
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                        "-H", "Content-Type: application/json", "--data-binary", "@-",
                        "http://127.0.0.1:%d%s" % (rig.port, CHAT)],
                       input=b"x" * 2 * LIMIT, capture_output=True, timeout=60)
    err = p.stderr.decode(errors="replace").strip().splitlines()
    return "curl exit %d, status %s: %s" % (p.returncode, p.stdout.decode() or "none", err[-1] if err else "")


def chunked_rounds(rig, clients, total, rounds, rows):
    """`rounds` rounds of upload_chunked_past_limit, one row: whether what
    the allocator keeps after a round is reused by the next, or grows."""
    base, peaks, afters, times, growth = rig.rss(), [], [], [], 0
    for _ in range(rounds):
        before = rig.rss()
        t, peak = sampled_peak(rig, lambda: upload_chunked_past_limit(rig, clients, total))
        growth = max(growth, peak - before)
        rig.alive("chunked uploads")
        times += t
        peaks.append(peak)
        time.sleep(0.5)
        afters.append(rig.rss())
    rows.append(("%d chunked, 64 KB chunks, up to %d MB each, as fast as %s can; %d rounds"
                 % (clients, total // MB, "they" if clients > 1 else "it", rounds), mb(base),
                 " / ".join("%.1f" % (p / 1024.0) for p in peaks) + " MB", mb(growth) + " (largest of a round)",
                 "JSON 413 once past the limit: median %.1f ms, max %.1f ms from the first byte"
                 % (1000 * median(times), 1000 * max(times)),
                 " / ".join("%.1f" % (a / 1024.0) for a in afters) + " MB"))


def item_uploads(args):
    n = args.uploads
    rows = []
    rig = Rig()
    try:
        rig.chat_ok("warm-up")
        settle()
        base = rig.rss()
        times, peak = sampled_peak(rig, lambda: upload_declared_16mb(rig, n))
        rig.alive("16 MB uploads")
        settle()
        rows.append(("%d declare 16 MB, push 15 MB, stall" % n, mb(base), mb(peak), mb(peak - base),
                     "JSON 413 at the head: median %.1f ms, max %.1f ms" % (1000 * median(times), 1000 * max(times)),
                     mb(rig.rss())))

        base = rig.rss()
        (times, received), peak = sampled_peak(rig, lambda: upload_within_limit_stalled(rig, n))
        rig.alive("stalled uploads within the limit")
        settle()
        answers = sorted(set("no response, then the connection closed" if r == b""
                             else "a reset" if r == b"<reset>" else repr(r[:40]) for r in received))
        rows.append(("%d declare 1 MB (the limit), send 0.9 MB, stall" % n, mb(base), mb(peak), mb(peak - base),
                     "%s, after %.2f to %.2f s (`header_timeout_ms` %d)"
                     % ("; ".join(answers), min(times), max(times), HEADER_TIMEOUT_MS), mb(rig.rss())))

        chunked_rounds(rig, n, 4 * MB, 3, rows)
        h2 = http2_over_limit(rig)
        rig.chat_ok("after uploads")
    finally:
        rig.close()
    # One fast client alone, on a fresh process: what one connection can
    # make tollgate hold.
    rig = Rig()
    try:
        rig.chat_ok("warm-up")
        settle()
        chunked_rounds(rig, 1, 32 * MB, 10, rows)
    finally:
        rig.close()
    return ["### 4. Uploads against the 1 MB body limit", "",
            "tollgate with `max_body_bytes` 1 MB and `header_timeout_ms` %d (the default). All "
            "rows but the last on one process, one after the other; the last (one client "
            "alone) on a fresh one. Each client on its own connection and thread, all of a "
            "round at once. Peak = the kernel's `VmHWM`, reset (`/proc/PID/clear_refs`) at "
            "the start of each round; times from the request head sent (chunked: from its "
            "first byte). Rows of several rounds give the peak and the RSS after each round."
            % HEADER_TIMEOUT_MS, ""] + \
        table(["uploads", "RSS before", "peak RSS", "peak growth", "what the clients got",
               "RSS after (1 s; rounds: 0.5 s)"], rows) + \
        ["", "HTTP/2 (h2c, prior knowledge) upload of 2 MB: %s (h2o 2.2.5 refuses the stream; no JSON 413)." % h2, ""]


# --- 5. descriptor limit ------------------------------------------------------

def item_descriptors(args):
    limit, n = 1024, args.fd_idle
    rig = Rig(max_fds=limit, header_timeout_ms=120000)
    socks = []
    try:
        socks = connect_many(rig.port, n)
        deadline = time.monotonic() + 15
        while rig.fds() < limit - 8:
            if time.monotonic() > deadline:
                raise Defect("descriptors never ran out (%d open)" % rig.fds())
            time.sleep(0.05)
        time.sleep(0.5)
        fds_at_limit = rig.fds()
        cpu0, wall0 = rig.tollgate.cpu_seconds(), time.monotonic()
        time.sleep(5)
        share = (rig.tollgate.cpu_seconds() - cpu0) / (time.monotonic() - wall0)
        rig.alive("descriptor exhaustion")

        # A client that comes while no descriptor is left: its connection
        # waits in the listen backlog.
        waiting = {}

        def waiting_client():
            try:
                r = rig.tollgate.request("POST", CHAT, CHAT_BODY, timeout=30)
                waiting["status"], waiting["at"] = r.status, time.monotonic()
            except OSError as exc:
                waiting["status"], waiting["at"] = repr(exc), time.monotonic()
        waiter = threading.Thread(target=waiting_client, daemon=True)
        waiter.start()
        time.sleep(1.0)
        served_while_full = "status" in waiting

        released = time.monotonic()
        for s in socks:
            s.close()
        socks = []
        attempts = 0
        while True:
            attempts += 1
            try:
                r = rig.tollgate.request("POST", CHAT, CHAT_BODY, timeout=5)
                if r.status != 200:
                    raise Defect("after the idle clients left: %d %r" % (r.status, r.body[:200]))
                break
            except OSError:
                if time.monotonic() - released > 15:
                    raise Defect("not serving 15 s after the idle clients left")
                time.sleep(0.01)
        recovered = time.monotonic() - released
        waiter.join(30)
        logged = rig.tollgate.stderr().count("out of file descriptors")
    finally:
        for s in socks:
            s.close()
        rig.close()
    waited = ("%s, %.2f s after the idle ones closed" % (waiting.get("status"), waiting["at"] - released)
              if "at" in waiting and not served_while_full else repr(waiting.get("status")))
    return ["### 5. At the descriptor limit", "",
            "tollgate started with `ulimit -n %d` (soft = hard), `header_timeout_ms` 120 s; %s "
            "idle clients connect (nothing sent) and stay. CPU = tollgate's utime + stime over "
            "5 s once its descriptors ran out. Then one more client sends a chat request "
            "(its connection waits in the listen backlog), the idle clients close, and a "
            "new request is tried every 10 ms until one is served." % (limit, format(n, ",")), ""] + \
        table(["descriptors open at the limit", "tollgate CPU at the limit", "\"out of file descriptors\" lines",
               "request made while full", "first new request served after the idle ones closed"],
              [(fds_at_limit, "%.1f%% of a core" % (100 * share), logged, waited,
                "%.0f ms (attempt %d)" % (1000 * recovered, attempts))]) + [""]


# --- 6. framing ---------------------------------------------------------------

def item_framing(args):
    rig = Rig()
    cases = [
        ("two different Content-Lengths",
         [b"Content-Length: %d" % len(test_framing.BODY),
          b"Content-Length: %d" % (len(test_framing.BODY) + len(test_framing.SMUGGLED))],
         test_framing.BODY),
        ("Content-Length and Transfer-Encoding: chunked",
         [b"Content-Length: %d" % len(test_framing.chunked(test_framing.BODY)), b"Transfer-Encoding: chunked"],
         test_framing.chunked(test_framing.BODY)),
        ("Transfer-Encoding: chunked, then Content-Length",
         [b"Transfer-Encoding: chunked", b"Content-Length: 4"], test_framing.chunked(test_framing.BODY)),
        ("two Transfer-Encoding: chunked",
         [b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"], test_framing.chunked(test_framing.BODY)),
    ]
    rows = []
    try:
        for name, headers, body in cases:
            out = test_framing.exchange(rig.port, test_framing.request(headers, body + test_framing.SMUGGLED))
            head = out.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
            closed = b"<timeout>" not in out and "Connection: close" in head
            answers = out.count(b"HTTP/1.1 ")
            rows.append((name, head.split("\r\n")[0][9:], "yes" if closed else "**no**",
                         "no" if answers == 1 else "**yes**"))
            if not head.startswith("HTTP/1.1 400") or not closed or answers != 1:
                raise Defect("%s: %r" % (name, out[:300]))
        others = [(name, *bad_request(rig, data)) for name, data in MALFORMED]
    finally:
        rig.close()
    return ["### 6. Ambiguous framing (request smuggling)", "",
            "Each request of tests/e2e/test_framing.py, with a complete second request "
            "(`GET /v1/models`) hidden in its body, on a fresh connection against the "
            "Release build.", ""] + \
        table(["framing", "answer", "connection closed", "hidden request answered"], rows) + \
        ["", "Other malformed requests, each on a fresh connection: the answer, its type, and whether "
         "it shows in `http_requests_total` (and so in the access log, written by the same code).", ""] + \
        table(["request", "answer", "Content-Type", "counted"], others) + [""]


# Requests that h2o refuses before any handler; tollgate answers some in
# JSON (the refusal filter) while others never reach it.
MALFORMED = [
    ("unparseable request line", b"GARBAGE\r\n\r\n"),
    ("101 header fields (h2o's limit: 100)",
     b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(100)) + b"\r\n"),
    ("request head over 408 KB (h2o's limit)", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: "
     + b"a" * (420 * 1024) + b"\r\n\r\n"),
    ("Content-Length: -1", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    ("Transfer-Encoding: gzip", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: gzip\r\n\r\n{}"),
    ("a chunk size that is not hex", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ("Expect: other than 100-continue", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
     b"Expect: teapot\r\nContent-Length: 2\r\n\r\n{}"),
]


def requests_counted(rig):
    """http_requests_total summed over every path but the /metrics scrape."""
    return sum(s.value for s in rig.tollgate.metrics().find("tollgate_http_requests_total")
               if s.labels.get("path") != "/metrics")


def bad_request(rig, data):
    before = requests_counted(rig)
    out = test_framing.exchange(rig.port, data)
    head = out.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    ctype = re.search(r"(?im)^content-type:\s*([^;\r\n]+)", head)
    time.sleep(0.1)  # counted when the response is done
    counted = requests_counted(rig) - before
    return (head.split("\r\n")[0][9:] or repr(out[:40]), ctype.group(1) if ctype else "none",
            "yes" if counted else "no")


ITEMS = {"load": item_load, "idle": item_idle, "reloads": item_reloads, "uploads": item_uploads,
         "descriptors": item_descriptors, "framing": item_framing}


def main():
    parser = argparse.ArgumentParser(prog="bench/reliability.sh")
    parser.add_argument("build_dir")
    parser.add_argument("--only", default=",".join(ITEMS),
                        help="comma-separated items (%s); RESULTS.md is written only when all run"
                        % ", ".join(ITEMS))
    parser.add_argument("--requests", type=int, default=100000, help="requests per load phase")
    parser.add_argument("--idle", type=int, default=2000, help="idle client connections")
    parser.add_argument("--reloads", type=int, default=1000)
    parser.add_argument("--uploads", type=int, default=30, help="concurrent uploads per row")
    parser.add_argument("--fd-idle", type=int, default=1500, help="idle clients against 1,024 descriptors")
    args = parser.parse_args()
    harness.TOLLGATE_BIN = os.path.abspath(os.path.join(args.build_dir, "src", "tollgate"))
    harness.MOCK_BIN = os.path.abspath(os.path.join(args.build_dir, "tools", "mock-llm", "mock-llm"))
    for path in (harness.TOLLGATE_BIN, harness.MOCK_BIN):
        if not os.access(path, os.X_OK):
            sys.exit("missing %s: build first" % path)
    if not subprocess.run(["which", "wrk"], capture_output=True).returncode == 0:
        sys.exit("wrk is not installed (scripts/install-deps.sh --bench)")
    # This process holds every idle client's socket.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(args.idle, args.fd_idle) + 512
    if soft < need:
        if hard < need:
            sys.exit("needs %d descriptors, the hard limit is %d" % (need, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    chosen = [name for name in args.only.split(",") if name]
    for name in chosen:
        if name not in ITEMS:
            sys.exit("unknown item %r" % name)
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    load_before = os.getloadavg()[0]
    lines, defects = [], []
    for name in chosen:
        print("== %s" % name, flush=True)
        t0 = time.monotonic()
        try:
            part = ITEMS[name](args)
        except Defect as exc:
            defects.append((name, str(exc)))
            part = ["### %s" % name, "", "**DEFECT**: %s" % exc, ""]
        print("\n".join(part) + "(%.0f s)\n" % (time.monotonic() - t0), flush=True)
        lines += part
    section = ["## Reliability", "",
               "`bench/reliability.sh %s` (Release build), %s UTC. Machine: %s; load average %.1f "
               "at the start, %.1f at the end (other work shares the machine). tollgate runs 2 "
               "workers, mock-llm 1 thread, both on this machine. What these figures back: "
               "[docs/reliability.md](../docs/reliability.md)."
               % (args.build_dir, started, machine(), load_before, os.getloadavg()[0]), ""] + lines
    if len(chosen) == len(ITEMS) and not defects:
        write_section("\n".join(section))
        print("bench/RESULTS.md: Reliability section written")
    for name, what in defects:
        print("DEFECT in %s: %s" % (name, what), file=sys.stderr)
    sys.exit(1 if defects else 0)


if __name__ == "__main__":
    main()
