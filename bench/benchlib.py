# What the gateway benchmarks share (gateway_bench.py, series.py,
# reliability.py, tenancy.py): free ports, starting and stopping servers and
# mock-llm, running wrk and reading its report, a process's CPU time, the
# machine's description, and rewriting one "## " section of
# bench/RESULTS.md.

import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(BENCH_DIR, "RESULTS.md")
RAW_DIR = os.path.join(BENCH_DIR, "out")    # raw wrk output (not committed)
CLK_TCK = os.sysconf("SC_CLK_TCK")
UNITS_US = {"us": 1.0, "ms": 1000.0, "s": 1e6}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("%s exited during startup (%d)" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("%s did not open port %d" % (what, port))


def start_server(name, argv, port, tmp, **kw):
    """Starts a server with its output in TMP/NAME.log and waits for its
    port."""
    log = open(os.path.join(tmp, name + ".log"), "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kw)
    log.close()     # the child has its own descriptor
    wait_port(port, proc, name)
    return proc


def stop_process(proc):
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_mock(mock, tmp, threads):
    """Starts mock-llm on a free port (it writes the port to a file);
    returns (process, port)."""
    port_file = os.path.join(tmp, "mock.port")
    proc = subprocess.Popen([mock, "--listen", "127.0.0.1:0", "--port-file", port_file,
                             "--threads", str(threads)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while not (os.path.exists(port_file) and open(port_file).read().strip()):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            sys.exit("mock-llm did not start")
        time.sleep(0.02)
    return proc, int(open(port_file).read())


def binaries(build_dir):
    """tollgate and mock-llm of a build directory; exits if either is missing."""
    tollgate = os.path.abspath(os.path.join(build_dir, "src", "tollgate"))
    mock = os.path.abspath(os.path.join(build_dir, "tools", "mock-llm", "mock-llm"))
    for path in (tollgate, mock):
        if not os.access(path, os.X_OK):
            sys.exit("missing %s: build first" % path)
    return tollgate, mock


def process_tree(pid):
    """pid and its direct children (nginx's workers)."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    pids.append(int(entry))
            except (OSError, IndexError):
                pass
    return pids


def cpu_seconds(pid):
    """User + system CPU time of pid (all its threads) and its direct
    children so far, from /proc/PID/stat."""
    total = 0
    for p in process_tree(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])   # utime, stime
        except OSError:
            pass
    return total / CLK_TCK


def parse_wrk(out):
    """requests/s, requests, p50/p99 (us; with --latency), non-2xx answers
    and socket errors from wrk's report."""
    def latency(pct):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % pct, out, re.M)
        return float(m.group(1)) * UNITS_US[m.group(2)] if m else None
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": requests, "p50": latency(50), "p99": latency(99),
            "errors": (int(errors.group(1)) if errors else 0),
            "socket_errors": socket_errors.group(1).strip() if socket_errors else ""}


def run_wrk(port, path, connections, seconds, label, env=None):
    """One wrk run (1 thread, bench/chat.lua, --latency) with `env` added
    to the environment (chat.lua reads STREAM and AUTH); its raw output
    goes to bench/out/LABEL.txt. Returns parse_wrk's figures."""
    argv = ["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "--latency",
            "-s", os.path.join(BENCH_DIR, "chat.lua"), "http://127.0.0.1:%d%s" % (port, path)]
    out = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, **(env or {})),
                         timeout=seconds + 30).stdout
    os.makedirs(RAW_DIR, exist_ok=True)
    with open(os.path.join(RAW_DIR, "%s.txt" % label), "w") as f:
        f.write(" ".join(argv) + "\n" + out)
    return parse_wrk(out)


def median(values):
    """The middle value (the upper one of an even count), Nones left out."""
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
        if m:
            cpu = m.group(1).strip()
    return "%d cores (nproc), %s, Linux %s" % (os.cpu_count(), cpu, platform.release())


def write_section(section):
    """Replace the section of RESULTS.md whose "## " heading is the first
    line of `section` (up to the next "## " heading), or append it; every
    other section stays as it was."""
    heading = section.split("\n", 1)[0]
    text = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results\n\n"
    pattern = re.compile(r"^%s\n.*?(?=^## |\Z)" % re.escape(heading), re.M | re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(RESULTS, "w") as f:
        f.write(text)
