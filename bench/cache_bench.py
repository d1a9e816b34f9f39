# The response cache benchmark (bench/cache.sh): in one run, with wrk and
# bench/chat.lua, tollgate answering from its memory tier (the request has
# "temperature": 0, so after the first all are hits), tollgate proxying the
# same request without it (not cacheable: the upstream answers each), nginx
# as a plain keep-alive reverse proxy to the same mock-llm, and mock-llm
# direct; plain and streamed. Reports the p50 and p99 at 1 connection and
# requests/s and CPU per 1,000 requests at 32 and 64 connections, and
# writes the "Response cache" section of bench/RESULTS.md. The targets take
# turns at each connection count, as in gateway_bench.py, whose processes
# and wrk parsing this reuses.

import argparse
import shutil
import sys

from benchlib import binaries, cpu_seconds, machine, run_wrk, write_section
from gateway_bench import PATH, Bench

# target -> (label, cacheable request)
TARGETS = {"hit": ("tollgate, cache hit (memory)", True),
           "proxied": ("tollgate, proxied (not cacheable)", False),
           "nginx": ("nginx proxy", True),
           "direct": ("mock-llm direct", True)}


class CacheBench(Bench):
    def wrk_env(self, port, connections, seconds, stream, cacheable, label):
        return run_wrk(port, PATH, connections, seconds, "cache-" + label,
                       {"STREAM": "1" if stream else "0", "CACHEABLE": "1" if cacheable else "0"})

    def run(self):
        mock_port = self.start_mock()
        tollgate = self.start_tollgate("tollgate", self.args.tollgate, mock_port)
        ports = {"hit": (tollgate, "tollgate"), "proxied": (tollgate, "tollgate"),
                 "nginx": (self.start_nginx(mock_port), "nginx"), "direct": (mock_port, "mock")}
        results = {}
        for mode in ("plain", "stream"):
            stream = mode == "stream"
            for target, (port, _) in ports.items():
                self.wrk_env(port, 8, 1, stream, TARGETS[target][1], "warmup")
            for conns in (1, 32, 64):
                for target, (port, proc) in ports.items():
                    pid = self.procs[proc].pid
                    before = cpu_seconds(pid)
                    r = self.wrk_env(port, conns, self.args.seconds, stream, TARGETS[target][1],
                                     "%s-%s-c%d" % (mode, target, conns))
                    cpu = cpu_seconds(pid) - before
                    r["cpu_ms_per_1k"] = cpu * 1e6 / r["requests"] if r["requests"] else None
                    results.setdefault((mode, target), {})[conns] = r
                    print("%-6s %-34s c=%-2d %9.0f req/s  p50 %8.1f us  p99 %8.1f us  cpu %6.1f ms/1k  "
                          "errors %d" % (mode, TARGETS[target][0], conns, r["rps"], r["p50"] or 0,
                                         r["p99"] or 0, r["cpu_ms_per_1k"] or 0, r["errors"]), flush=True)
        return results


def fmt(v, spec="%.0f"):
    return "n/a" if v is None else spec % v


def report(results, args):
    lines = ["## Response cache", "",
             "`bench/cache.sh %s --seconds %d` on %s; %d worker(s) each (tollgate workers, nginx "
             "worker processes, mock-llm threads); wrk 1 thread. The same request (`max_tokens: 16`); "
             "the cache-hit runs add `\"temperature\": 0`, so every request after the first is "
             "answered from the memory tier; the proxied runs leave it out (not cacheable), so "
             "each goes to mock-llm. tollgate runs the gateway benchmark's config (`store.driver: "
             "none`: no ledger, so no SQLite tier; the hit path is the memory tier's). All four "
             "targets in the same run, taking turns at each connection count. CPU: the serving process's utime + stime per 1,000 requests "
             "(nginx: its worker processes; the hit and proxied rows: tollgate alone, the mock's "
             "work not included)." % (args.build_dir, args.seconds, machine(), args.workers), ""]
    for mode in ("plain", "stream"):
        lines += ["### %s" % ("Plain (one JSON body)" if mode == "plain" else
                              "Streamed (16 chunks; a hit replays the recorded stream)"), "",
                  "| target | p50 @1 (us) | p99 @1 (us) | req/s @32 | req/s @64 | CPU ms/1k @64 | errors |",
                  "|---|---|---|---|---|---|---|"]
        for target, (label, _) in TARGETS.items():
            r = results[(mode, target)]
            errors = sum(r[c]["errors"] for c in (1, 32, 64))
            lines.append("| %s | %s | %s | %s | %s | %s | %d |" % (
                label, fmt(r[1]["p50"], "%.1f"), fmt(r[1]["p99"], "%.1f"), fmt(r[32]["rps"]),
                fmt(r[64]["rps"]), fmt(r[64]["cpu_ms_per_1k"], "%.1f"), errors))
        hit, proxied, nginx = (results[(mode, t)] for t in ("hit", "proxied", "nginx"))
        lines += ["", "Hit vs proxied: p50 @1 %s us less, throughput @64 %sx; hit vs nginx: throughput @64 %sx." % (
            fmt(proxied[1]["p50"] - hit[1]["p50"], "%.1f") if hit[1]["p50"] and proxied[1]["p50"] else "n/a",
            fmt(hit[64]["rps"] / proxied[64]["rps"], "%.2f") if proxied[64]["rps"] else "n/a",
            fmt(hit[64]["rps"] / nginx[64]["rps"], "%.2f") if nginx[64]["rps"] else "n/a"), ""]
    lines.append("Raw wrk output: `bench/out/cache-*.txt` (not committed).")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(prog="bench/cache.sh")
    parser.add_argument("build_dir")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    args.tollgate, args.mock = binaries(args.build_dir)
    args.baseline = None
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit("%s is not installed (scripts/install-deps.sh --bench)" % tool)
    bench = CacheBench(args)
    try:
        results = bench.run()
    finally:
        bench.stop()
    section = report(results, args)
    write_section(section)
    print("\n" + section)


if __name__ == "__main__":
    main()
