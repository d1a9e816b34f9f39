# The gateway benchmark (bench/run.sh calls this): wrk against mock-llm
# direct, nginx as a plain keep-alive reverse proxy to the same mock, and
# tollgate, in one run, plain and streamed. Measures requests/s at 32 and 64
# connections, added latency at 1 connection, the proxy process's CPU time
# per 1,000 requests (/proc utime+stime, steadier than requests/s on a
# shared machine), its peak RSS (VmHWM), and, for streams, the time to the
# first SSE chunk (its own client: wrk only times whole responses). With
# --baseline, a tollgate binary built from an earlier commit runs as a
# fifth target in the same run, and the report compares the CPU per request
# of the two. Writes the "Gateway" section of bench/RESULTS.md, leaving every
# other section alone.

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import (binaries, cpu_seconds, free_port, machine, median, process_tree, run_wrk,
                      start_mock, start_server, stop_process, write_section)

PATH = "/v1/chat/completions"

# The targets for tollgate, relative to nginx where they say so.
MAX_CPU_RATIO = 1.5
MIN_THROUGHPUT_RATIO = 0.7
MAX_ADDED_P50_US = {"plain": 50, "stream": 100}
MAX_RSS_MB = 30
# ... and against the binary from before the change (--baseline): CPU per
# request "within 3% of the old (or better)".
MAX_CPU_RATIO_BASELINE = 1.03

# The targets, in the order they take turns; "before" only with --baseline.
TARGET_NAMES = {"direct": "mock-llm direct", "nginx": "nginx", "tollgate": "tollgate",
                "before": "tollgate (before)"}


def peak_rss_mb(pid):
    total_kb = 0
    for p in process_tree(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
            total_kb += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total_kb / 1024.0


# Time to first chunk: requests per target, and the mock's pause between
# events (x-mock-token-delay-ms, passed on by both proxies: by tollgate
# because its config lists it in forward_headers), so that the first event
# travels alone as from a real model instead of in one write with the
# whole stream.
TTFT_REQUESTS = 300
TTFT_TOKEN_DELAY_MS = 1
STREAM_BODY = (b'{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user",'
               b'"content":"Say hello to the benchmark"}],"stream":true}')


class FirstChunkClient:
    """One keep-alive connection that POSTs a streamed chat completion and
    times, from the first byte sent, the arrival of the first SSE "data:"
    event; then reads the rest of the (chunked) response so the connection
    can be reused."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        b"X-Mock-Token-Delay-Ms: %d\r\nContent-Length: %d\r\n\r\n%s"
                        % (PATH.encode(), TTFT_TOKEN_DELAY_MS, len(STREAM_BODY), STREAM_BODY))

    def first_chunk_us(self):
        received = b""
        first = None
        start = time.perf_counter()
        self.sock.sendall(self.request)
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("connection closed mid-response")
            received += data
            if first is None:
                head_end = received.find(b"\r\n\r\n")
                if head_end >= 0 and b"data:" in received[head_end:]:
                    first = time.perf_counter()
                    if not received.startswith(b"HTTP/1.1 200"):
                        raise RuntimeError("status: %r" % received[:40])
            # the end of the chunked body (every target answers chunked)
            if first is not None and received.endswith(b"\r\n0\r\n\r\n"):
                return (first - start) * 1e6

    def close(self):
        self.sock.close()


def combine_rounds(runs):
    """One cell from a target's runs at one connection count: requests/s
    averaged, latencies the median run's, CPU per request from the summed
    CPU time and requests (with one round: that run's figures)."""
    requests = sum(r["requests"] for r in runs)
    return {"rps": sum(r["rps"] for r in runs) / len(runs), "requests": requests,
            "p50": median(r["p50"] for r in runs), "p99": median(r["p99"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "socket_errors": "; ".join(r["socket_errors"] for r in runs if r["socket_errors"]),
            "cpu_ms_per_1k": (sum(r["cpu_s"] for r in runs) * 1e6 / requests) if requests else None,
            "cpu_rounds": [r["cpu_ms_per_1k"] for r in runs]}


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="tollgate-bench-")
        self.procs = {}
        self.baseline_without_forward_headers = False

    def start(self, name, argv, port, **kw):
        self.procs[name] = start_server(name, argv, port, self.tmp, **kw)
        return self.procs[name]

    def start_mock(self):
        self.procs["mock"], port = start_mock(self.args.mock, self.tmp, self.args.workers)
        return port

    def start_nginx(self, mock_port):
        port = free_port()
        temp_paths = "\n".join("    %s_temp_path %s/%s;" % (kind, self.tmp, kind)
                               for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""# written by bench/gateway_bench.py
%(user)s
worker_processes %(workers)d;
daemon off;
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
%(temp_paths)s
    upstream mock {
        server 127.0.0.1:%(mock_port)d;
        keepalive 128;
    }
    server {
        listen 127.0.0.1:%(port)d;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
""" % {"user": "user root;" if os.geteuid() == 0 else "", "workers": self.args.workers,
       "tmp": self.tmp, "temp_paths": temp_paths, "mock_port": mock_port, "port": port})
        self.start("nginx", ["nginx", "-p", self.tmp, "-c", conf, "-e",
                             os.path.join(self.tmp, "nginx-error.log")], port)
        return port

    def tollgate_config(self, name, port, mock_port, forward_headers):
        conf = os.path.join(self.tmp, name + ".yaml")
        with open(conf, "w") as f:
            f.write("""# written by bench/gateway_bench.py
server:
  listen: "127.0.0.1:%d"
  workers: %d
logging:
  format: json
  level: info
auth:
  allow_anonymous: true
store:
  driver: none     # the proxy path alone; bench/tenancy.sh measures keys and the ledger
providers:
  - name: mock
    base_url: "http://127.0.0.1:%d/v1"
    max_connections: 256
%s
models:
  - name: gpt-4o-mini
    routes:
      - provider: mock
        model: gpt-4o-mini
    pricing: { input: 0.15, cached_input: 0.075, output: 0.60 }
""" % (port, self.args.workers, mock_port,
       "    forward_headers: [x-mock-token-delay-ms]" if forward_headers else ""))
        return conf

    def start_tollgate(self, name, binary, mock_port):
        """Starts one tollgate (name "tollgate" or "before") on the example
        pipeline. A baseline older than forward_headers refuses that key;
        it passed every client header on, X-Mock-* included, so it gets the
        same config without it (and the report says so)."""
        port = free_port()
        conf = self.tollgate_config(name, port, mock_port, True)
        check = subprocess.run([binary, "check-config", conf], capture_output=True, text=True)
        if check.returncode != 0 and name == "before" and "forward_headers" in check.stdout + check.stderr:
            conf = self.tollgate_config(name, port, mock_port, False)
            self.baseline_without_forward_headers = True
        # Logs go to a file: the benchmark pays for writing them, as in
        # production, but not for a terminal.
        self.start(name, [binary, "serve", "--config", conf], port, cwd=self.tmp)
        return port

    def wrk(self, port, connections, seconds, stream, label):
        return run_wrk(port, PATH, connections, seconds, "gateway-" + label,
                       {"STREAM": "1" if stream else "0"})

    def run(self):
        mock_port = self.start_mock()
        targets = {"direct": (mock_port, "mock"),
                   "nginx": (self.start_nginx(mock_port), "nginx"),
                   "tollgate": (self.start_tollgate("tollgate", self.args.tollgate, mock_port),
                                "tollgate")}
        if self.args.baseline:
            targets["before"] = (self.start_tollgate("before", self.args.baseline, mock_port),
                                 "before")
        results = {}
        for mode in ("plain", "stream"):
            stream = mode == "stream"
            for port, _ in targets.values():
                self.wrk(port, 8, 1, stream, "warmup")
            # Targets take turns at each connection count, so that all of
            # them meet about the same background load on a shared machine.
            # With --rounds N they take N turns, each cell adding up its
            # rounds: a burst of other work then falls on several targets'
            # short runs instead of on one target's long one. Each round
            # starts with the next target, so none always follows the same.
            order = list(targets.items())
            for conns in (1, 32, 64):
                rounds = {}
                for i in range(self.args.rounds):
                    shift = i % len(order)
                    for target, (port, proc_name) in order[shift:] + order[:shift]:
                        r = self.measured_wrk(port, conns, stream, proc_name, "%s-%s-c%d%s" % (
                            mode, target, conns, "-r%d" % (i + 1) if self.args.rounds > 1 else ""))
                        rounds.setdefault(target, []).append(r)
                        print("%-6s %-17s c=%-2d %9.0f req/s  p50 %8.1f us  p99 %8.1f us  "
                              "cpu %6.1f ms/1k  errors %d %s" % (
                                  mode, TARGET_NAMES[target], conns, r["rps"], r["p50"] or 0,
                                  r["p99"] or 0, r["cpu_ms_per_1k"] or 0, r["errors"],
                                  r["socket_errors"]),
                              flush=True)
                for target, runs in rounds.items():
                    results.setdefault((mode, target), {})[conns] = combine_rounds(runs)
            if stream:
                for target, ttft in self.first_chunk_times(targets).items():
                    results[(mode, target)]["ttft_p50"] = ttft
                    print("stream %-17s time to first chunk p50 %8.1f us" % (TARGET_NAMES[target], ttft),
                          flush=True)
            for target, (_, proc_name) in targets.items():
                results[(mode, target)]["rss_mb"] = peak_rss_mb(self.procs[proc_name].pid)
        return results

    def measured_wrk(self, port, connections, stream, proc_name, label):
        """One wrk run, with the CPU time the target's processes spent in it."""
        pid = self.procs[proc_name].pid
        cpu_before = cpu_seconds(pid)
        r = self.wrk(port, connections, self.args.seconds, stream, label)
        r["cpu_s"] = cpu_seconds(pid) - cpu_before
        r["cpu_ms_per_1k"] = r["cpu_s"] * 1e6 / r["requests"] if r["requests"] else None
        return r

    def first_chunk_times(self, targets):
        """Median time to the first chunk per target, at one connection;
        targets take turns request by request so that they share the
        background load."""
        clients = {target: FirstChunkClient(port) for target, (port, _) in targets.items()}
        times = {target: [] for target in targets}
        try:
            for i in range(TTFT_REQUESTS + 20):
                for target, client in clients.items():
                    t = client.first_chunk_us()
                    if i >= 20:     # the first ones warm up
                        times[target].append(t)
        finally:
            for client in clients.values():
                client.close()
        return {target: sorted(t)[len(t) // 2] for target, t in times.items()}

    def stop(self):
        for proc in reversed(list(self.procs.values())):
            stop_process(proc)
        shutil.rmtree(self.tmp, ignore_errors=True)


def verdict(ok):
    return "met" if ok else "**missed**"


def fmt(v, spec="%.0f"):
    return "n/a" if v is None else spec % v


def report(results, args, without_forward_headers):
    targets = [t for t in TARGET_NAMES if (("plain", t) in results)]
    lines = ["## Gateway", "",
             "`bench/run.sh %s`, %s UTC. Machine: %s. Every run: wrk 1 thread, %d s, "
             "POST %s (16 completion tokens)%s; proxies run %d worker(s) and the mock %d "
             "thread(s), all on this machine. Raw wrk output in bench/out/."
             % (" ".join(sys.argv[1:]), time.strftime("%Y-%m-%d %H:%M", time.gmtime()), machine(),
                args.seconds, PATH,
                "; %d rounds of turns per cell: CPU per request from their sums, requests/s "
                "their mean, latencies the median round's" % args.rounds if args.rounds > 1 else "",
                args.workers, args.workers), ""]
    for mode in ("plain", "stream"):
        direct = results[(mode, "direct")]
        lines += ["### %s" % ("Plain (JSON)" if mode == "plain" else "Streamed (SSE)"), "",
                  "| target | req/s @32 | req/s @64 | CPU ms / 1k req @32 | CPU ms / 1k req @64 "
                  "| p50 @1 (us) | p99 @1 (us) | added p50 | added p99 | peak RSS (MB) | non-2xx |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for target in targets:
            row = results[(mode, target)]
            added = [None if target == "direct" or row[1][k] is None or direct[1][k] is None
                     else row[1][k] - direct[1][k] for k in ("p50", "p99")]
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (
                TARGET_NAMES[target],
                fmt(row[32]["rps"]), fmt(row[64]["rps"]),
                fmt(row[32]["cpu_ms_per_1k"], "%.1f"), fmt(row[64]["cpu_ms_per_1k"], "%.1f"),
                fmt(row[1]["p50"]), fmt(row[1]["p99"]), fmt(added[0]), fmt(added[1]),
                fmt(row["rss_mb"], "%.1f"), sum(row[c]["errors"] for c in (1, 32, 64))))
        lines.append("")
        if mode == "stream":
            ttft = {t: results[(mode, t)]["ttft_p50"] for t in targets}
            lines += ["Time to the first chunk at 1 connection (median of %d requests; the mock "
                      "pauses %d ms between events, so the first one travels alone): "
                      % (TTFT_REQUESTS, TTFT_TOKEN_DELAY_MS)
                      + ", ".join("%s %s us" % (TARGET_NAMES[t], fmt(ttft[t])) for t in targets)
                      + "; added: "
                      + ", ".join("%s %s us" % (TARGET_NAMES[t], fmt(ttft[t] - ttft["direct"]))
                                  for t in targets if t != "direct") + ".", ""]

    lines += ["### tollgate against the targets", "",
              "| target | plain | streamed |", "|---|---|---|"]
    checks = {}
    for mode in ("plain", "stream"):
        t, n, d = (results[(mode, x)] for x in ("tollgate", "nginx", "direct"))
        cpu_ratio = (t[64]["cpu_ms_per_1k"] / n[64]["cpu_ms_per_1k"]
                     if t[64]["cpu_ms_per_1k"] and n[64]["cpu_ms_per_1k"] else None)
        tput_ratio = t[64]["rps"] / n[64]["rps"] if n[64]["rps"] else None
        if mode == "stream":
            added_p50 = t["ttft_p50"] - d["ttft_p50"]
        else:
            added_p50 = (t[1]["p50"] - d[1]["p50"]) if t[1]["p50"] and d[1]["p50"] else None
        checks[mode] = [
            (cpu_ratio, cpu_ratio is not None and cpu_ratio <= MAX_CPU_RATIO, "%.2fx"),
            (tput_ratio, tput_ratio is not None and tput_ratio >= MIN_THROUGHPUT_RATIO, "%.2fx"),
            (added_p50, added_p50 is not None and added_p50 <= MAX_ADDED_P50_US[mode], "%.0f us"),
            (t["rss_mb"], t["rss_mb"] <= MAX_RSS_MB, "%.1f MB"),
        ]
    names = ["CPU per request vs nginx (@64, <= %.1fx)" % MAX_CPU_RATIO,
             "throughput vs nginx (@64, >= %.1fx)" % MIN_THROUGHPUT_RATIO,
             "added p50 @1 (<= %d us plain; <= %d us streamed, to the first chunk)"
             % (MAX_ADDED_P50_US["plain"], MAX_ADDED_P50_US["stream"]),
             "peak RSS (<= %d MB)" % MAX_RSS_MB]
    for i, name in enumerate(names):
        cells = []
        for mode in ("plain", "stream"):
            value, ok, spec = checks[mode][i]
            cells.append("%s (%s)" % (fmt(value, spec), verdict(ok)))
        lines.append("| %s | %s | %s |" % (name, cells[0], cells[1]))
    lines.append("")
    if "before" in targets:
        lines += baseline_report(results, args, without_forward_headers)
    lines += ["Streamed p50/p99 in the table are wrk's times to the whole (16-chunk) "
              "response, sent by the mock in one write; the target uses the time to the first "
              "chunk above. On a shared machine p99 at one "
              "connection mostly measures other jobs' scheduling: a negative added p99 "
              "means that noise exceeded the difference; CPU per request is the steady "
              "figure.", ""]
    return "\n".join(lines)


def baseline_report(results, args, without_forward_headers):
    """The CPU per request of tollgate against the baseline binary, each
    cell from runs that took turns in the same run."""
    cols = [(mode, conns) for mode in ("plain", "stream") for conns in (32, 64)]
    cpu = {t: [results[(mode, t)][conns]["cpu_ms_per_1k"] for mode, conns in cols]
           for t in ("before", "tollgate", "nginx")}
    lines = ["### tollgate against the binary before the change", "",
             "`--baseline %s`, a Release build of the earlier commit, measured in the same "
             "run as the rest, taking turns with the other targets. The issue's check: CPU per "
             "request of the new one within 3%% of the old (or better), i.e. new / before "
             "<= %.2f." % (args.baseline, MAX_CPU_RATIO_BASELINE), "",
             "| CPU ms / 1k req | plain @32 | plain @64 | streamed @32 | streamed @64 |",
             "|---|---|---|---|---|"]
    for t in ("before", "tollgate"):
        lines.append("| %s | %s |" % (TARGET_NAMES[t], " | ".join(fmt(v, "%.1f") for v in cpu[t])))
    def ratios(a, b, check):
        cells = []
        for x, y in zip(cpu[a], cpu[b]):
            r = x / y if x and y else None
            cells.append(fmt(r, "%.3fx") + (" (%s)" % verdict(r is not None and r <= MAX_CPU_RATIO_BASELINE)
                                           if check else ""))
        return " | ".join(cells)
    lines += ["| new / before (<= %.2f) | %s |" % (MAX_CPU_RATIO_BASELINE,
                                                    ratios("tollgate", "before", True)),
              "| new / nginx | %s |" % ratios("tollgate", "nginx", False),
              "| before / nginx | %s |" % ratios("before", "nginx", False)]
    if args.rounds > 1:
        spread = []
        for mode, conns in cols:
            per_round = [x / y for x, y in zip(results[(mode, "tollgate")][conns]["cpu_rounds"],
                                               results[(mode, "before")][conns]["cpu_rounds"]) if x and y]
            spread.append("%.2f .. %.2f" % (min(per_round), max(per_round)) if per_round else "n/a")
        lines.append("| new / before, each round (min .. max) | %s |" % " | ".join(spread))
    lines.append("")
    if without_forward_headers:
        lines += ["The baseline predates `forward_headers` (it passed every client header on, "
                  "`X-Mock-Token-Delay-Ms` included), so its config leaves that key out; "
                  "otherwise both run the same config.", ""]
    return lines


def main():
    parser = argparse.ArgumentParser(prog="bench/run.sh")
    parser.add_argument("build_dir")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1,
                        help="nginx worker processes = tollgate workers = mock threads")
    parser.add_argument("--rounds", type=int, default=1,
                        help="turns the targets take at each connection count, each cell "
                             "adding up its rounds")
    parser.add_argument("--baseline", metavar="PATH",
                        help="a tollgate binary (Release) built from an earlier commit, "
                             "measured as a fifth target")
    args = parser.parse_args()
    args.tollgate, args.mock = binaries(args.build_dir)
    if args.baseline:
        args.baseline = os.path.abspath(args.baseline)
        if not os.access(args.baseline, os.X_OK):
            sys.exit("missing %s: build the baseline first (bench/README.md)" % args.baseline)
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit("%s is not installed (scripts/install-deps.sh --bench)" % tool)
    bench = Bench(args)
    try:
        results = bench.run()
    finally:
        bench.stop()
    section = report(results, args, bench.baseline_without_forward_headers)
    write_section(section)
    print("\n" + section)


if __name__ == "__main__":
    main()
