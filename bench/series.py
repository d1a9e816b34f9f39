# The series benchmark (bench/series.sh calls this): how many series an
# idle gateway exposes, how large one scrape is, and tollgate's resident
# memory, with 4, 50 and 500 configured models (each routed to two
# providers, as in the example config), after 5 requests: three chat
# completions, one streamed, one embeddings call. The target: with
# 500 models, under 2,000 series and under 30 MB RSS. Writes the "Series"
# section of bench/RESULTS.md, leaving every other section alone.

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

from benchlib import binaries, free_port, machine, start_mock, stop_process, wait_port, write_section

MODEL_COUNTS = (4, 50, 500)
WORKERS = 2                     # as in config/tollgate.example.yaml
MAX_SERIES_500 = 2000
MAX_RSS_MB_500 = 30

# The example config's four models come first (the requests use them); the
# rest are model-0005, model-0006, ...
EXAMPLE_MODELS = [("gpt-4o-mini", "{ input: 0.15, cached_input: 0.075, output: 0.60 }"),
                  ("gpt-4o", "{ input: 2.50, cached_input: 1.25, output: 10.00 }"),
                  ("llama-3.1-8b-instant", "{ input: 0.05, cached_input: 0.05, output: 0.08 }"),
                  ("text-embedding-3-small", "{ input: 0.02, cached_input: 0.02, output: 0 }")]
OTHER_PRICING = "{ input: 1.00, cached_input: 0.50, output: 2.00 }"

CHAT = "/v1/chat/completions"
REQUESTS = [(CHAT, '{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"Hello"}]}'),
            (CHAT, '{"model":"gpt-4o","max_tokens":16,"messages":[{"role":"user","content":"Hello"}]}'),
            (CHAT, '{"model":"llama-3.1-8b-instant","max_tokens":16,'
                   '"messages":[{"role":"user","content":"Hello"}]}'),
            (CHAT, '{"model":"gpt-4o-mini","max_tokens":16,"stream":true,'
                   '"messages":[{"role":"user","content":"Hello"}]}'),
            ("/v1/embeddings", '{"model":"text-embedding-3-small","input":"Hello"}')]


def config(models, port, mock_port):
    lines = ["# written by bench/series.py: the example config's shape, %d models" % models,
             "server:", '  listen: "127.0.0.1:%d"' % port, "  workers: %d" % WORKERS,
             "logging:", "  format: json", "  level: info",
             "metrics:", "  namespace: tollgate",
             "auth:", "  allow_anonymous: true",
             "providers:",
             "  - name: mock", '    base_url: "http://127.0.0.1:%d/v1"' % mock_port,
             "    timeout_ms: 30000", "    max_retries: 1", "    retry_backoff_ms: 50",
             "    max_connections: 256",
             "  - name: mock-backup", '    base_url: "http://127.0.0.1:%d/v1"' % mock_port,
             "    timeout_ms: 30000", "    max_retries: 0",
             "models:"]
    names = EXAMPLE_MODELS[:models] + [("model-%04d" % i, OTHER_PRICING)
                                       for i in range(len(EXAMPLE_MODELS) + 1, models + 1)]
    for name, pricing in names:
        lines += ["  - name: %s" % name, "    routes:",
                  "      - provider: mock", "        model: %s" % name,
                  "      - provider: mock-backup", "        model: %s" % name,
                  "    pricing: %s" % pricing]
    return "\n".join(lines) + "\n"


def memory_mb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^%s:\s+(\d+) kB" % field, f.read(), re.M).group(1)) / 1024.0


def http(port, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=body.encode() if body else None,
                                 headers={"Content-Type": "application/json"} if body else {})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read()


def measure(tollgate, mock_port, models, tmp):
    port = free_port()
    conf = os.path.join(tmp, "tollgate-%d.yaml" % models)
    with open(conf, "w") as f:
        f.write(config(models, port, mock_port))
    log = open(os.path.join(tmp, "tollgate-%d.log" % models), "wb")
    proc = subprocess.Popen([tollgate, "serve", "--config", conf], stdout=log,
                            stderr=subprocess.STDOUT, cwd=tmp)
    try:
        wait_port(port, proc, "tollgate (%d models)" % models, timeout=60)
        for path, body in REQUESTS:
            http(port, path, body)
        # Idle: a second for the gateway's periodic work, then a scrape
        # (the first scrape's own request shows in the second) and the
        # memory right after it.
        time.sleep(1)
        http(port, "/metrics")
        scrape = http(port, "/metrics")
        rss, peak = memory_mb(proc.pid, "VmRSS"), memory_mb(proc.pid, "VmHWM")
    finally:
        stop_process(proc)
        log.close()
    samples = sum(1 for line in scrape.decode().split("\n") if line and not line.startswith("#"))
    return {"series": samples, "bytes": len(scrape), "rss_mb": rss, "peak_mb": peak}


def report(results, build_dir):
    big = results[500]
    verdict = lambda ok: "met" if ok else "**missed**"
    lines = ["## Series", "",
             "`bench/series.sh %s`, %s UTC. Machine: %s. tollgate (%d workers, as in the "
             "example config) in front of mock-llm, each model routed to two providers "
             "(`mock`, `mock-backup`); the 4-model config has the example's four models, the "
             "larger ones those and `model-0005`, `model-0006`, ... After 5 requests (chat "
             "completions to gpt-4o-mini, gpt-4o and llama-3.1-8b-instant, one streamed to "
             "gpt-4o-mini, one embeddings call to text-embedding-3-small), 1 s idle and one "
             "scrape, a second scrape of `/metrics` (text format, uncompressed) gives the "
             "samples (lines not starting with `#`) and its size; RSS is tollgate's `VmRSS` "
             "right after it, peak its `VmHWM`."
             % (build_dir, time.strftime("%Y-%m-%d %H:%M", time.gmtime()), machine(), WORKERS), "",
             "| models | series | scrape (bytes) | RSS (MB) | peak RSS (MB) |",
             "|---|---|---|---|---|"]
    for models in MODEL_COUNTS:
        r = results[models]
        lines.append("| %d | {:,} | {:,} | %.1f | %.1f |".format(r["series"], r["bytes"])
                     % (models, r["rss_mb"], r["peak_mb"]))
    lines += ["", "The issue's target with 500 models: under %s series (%s: %s) and under %d MB "
              "RSS (%s: %.1f MB). It measured, before: 9,118 series (1.0 MB per scrape, 30 MB "
              "RSS) with 50 models and 89,158 series (10.5 MB, 219 MB RSS) with 500."
              % ("{:,}".format(MAX_SERIES_500), verdict(big["series"] < MAX_SERIES_500),
                 "{:,}".format(big["series"]),
                 MAX_RSS_MB_500, verdict(big["rss_mb"] < MAX_RSS_MB_500), big["rss_mb"]), ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(prog="bench/series.sh")
    parser.add_argument("build_dir")
    args = parser.parse_args()
    tollgate, mock = binaries(args.build_dir)
    tmp = tempfile.mkdtemp(prefix="tollgate-series-")
    mock_proc, mock_port = start_mock(mock, tmp, 1)
    results = {}
    try:
        for models in MODEL_COUNTS:
            results[models] = measure(tollgate, mock_port, models, tmp)
            r = results[models]
            print("%4d models: %7d series  %9d bytes  RSS %6.1f MB  peak %6.1f MB"
                  % (models, r["series"], r["bytes"], r["rss_mb"], r["peak_mb"]), flush=True)
    finally:
        stop_process(mock_proc)
        shutil.rmtree(tmp, ignore_errors=True)
    section = report(results, args.build_dir)
    write_section(section)
    print("\n" + section)


if __name__ == "__main__":
    main()
