# What the gateway benchmarks share (gateway_bench.py, series.py): free
# ports, waiting for a server, starting mock-llm, the machine's description,
# and rewriting one "## " section of bench/RESULTS.md.

import os
import platform
import re
import socket
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(BENCH_DIR, "RESULTS.md")


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
