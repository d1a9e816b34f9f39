# End-to-end test harness: starts real mock-llm and tollgate processes on
# free 127.0.0.1 ports, writes their config, speaks HTTP to them and reads
# their /metrics and logs. Standard library only, plus Debian's
# python3-prometheus-client for parsing the exposition (run with
# /usr/bin/python3).
#
# Every test file is a standalone unittest script taking --tollgate and
# --mock (paths to the binaries); CTest passes them. By hand, one test:
#
#   /usr/bin/python3 tests/e2e/test_chat.py --tollgate build-asan/src/tollgate \
#       --mock build-asan/tools/mock-llm/mock-llm ChatTest.test_embeddings_match_direct
#
# A process that fails to start or to stop cleanly shows its output. Each
# test class starts its own processes in one temp dir (removed afterwards);
# they must exit 0, without sanitizer reports. A tollgate also must not have
# let any secret it was given (its admin key, keys made through it, those
# a test adds to .secrets) into a log line, /metrics or an answer.
#
# Tenancy (docs/tenancy.md): tenancy_sections() gives the store, ledger,
# tenancy and auth sections, ADMIN_ENV turns the admin API on,
# Tollgate.admin() speaks to it, Tollgate.cli() runs `tollgate <command>`
# on the same store, Tollgate.db() reads the database.

import argparse
import http.client
import json
import os
import re
import resource
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

# Filled in by main() from the command line.
TOLLGATE_BIN = None
MOCK_BIN = None

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:",
                     "UndefinedBehaviorSanitizer")

# A log line's timestamp: ISO 8601, UTC, milliseconds.
LOG_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|\+00:00)$")

STARTUP_TIMEOUT_S = 20.0   # ASan builds on a loaded 2-core box start slowly
STOP_TIMEOUT_S = 15.0


def free_port():
    """A port the OS just handed out, for a process that binds it a moment
    later. Another process taking it in between is unlikely, and shows as
    that process failing to start, not as a wrong result."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def words(text):
    """mock-llm's token count of a string: runs of non-whitespace."""
    return len(text.split())


def chat_prompt_tokens(messages):
    return sum(words(m["content"]) + 3 for m in messages) + 3


def chat_completion_tokens(max_tokens=None):
    if max_tokens and max_tokens > 0:
        return min(max_tokens, 4096)
    return 16


def chat_content(max_tokens=None):
    n = chat_completion_tokens(max_tokens)
    return " ".join("tok%d" % i for i in range(1, n + 1))


def embedding_tokens(inputs):
    if isinstance(inputs, str):
        inputs = [inputs]
    return sum(words(s) + 1 for s in inputs)


def cost(pricing, prompt, completion, cached=0):
    return ((prompt - cached) * pricing["input"] + cached * pricing["cached_input"]
            + completion * pricing["output"]) / 1e6


# --- YAML -----------------------------------------------------------------
# A tiny block-style emitter: test configs are dicts, written the way a
# person would write them, so tollgate's loader sees realistic YAML.

def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


def to_yaml(value, indent=0):
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(v, indent + 1))
            elif isinstance(v, list):
                lines.append("%s%s: []" % (pad, k))
            else:
                lines.append("%s%s: %s" % (pad, k, _scalar(v)))
    else:
        for item in value:
            if isinstance(item, dict):
                body = to_yaml(item, indent + 1).split("\n")
                body[0] = pad + "- " + body[0].lstrip()
                lines.extend(body)
            else:
                lines.append("%s- %s" % (pad, _scalar(item)))
    return "\n".join(lines)


# --- HTTP -------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # lower-cased name -> value
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


def http_request(port, method, path, body=None, headers=None, timeout=30.0):
    """One request on a fresh connection; body may be bytes, str or a
    JSON-able object. Returns a Response with the whole body read."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def send_and_read_all(port, data, timeout=10):
    """Sends raw bytes on a fresh connection and returns every byte the
    server sends back until it closes; b"<timeout>" is appended when it
    does not close in time."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            out += b"<timeout>"
    return out


def hang_up_mid_stream(port, body, headers=None, events=1, path="/v1/chat/completions"):
    """A client that leaves mid-stream: POSTs the body (which should ask
    for a slow stream) to path on a raw connection, reads until `events`
    SSE events arrived, and closes. Returns the bytes it read."""
    data = json.dumps(body).encode()
    head = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
    request = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\n" + head.encode()
               + b"Content-Length: %d\r\n\r\n" % len(data)) + data
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        received = b""
        while received.count(b"data:") < events:
            chunk = s.recv(4096)
            if not chunk:
                raise AssertionError("connection closed before %d events: %r" % (events, received))
            received += chunk
    return received


def case_body(case, **extra):
    """A short chat request to model "m-<case>" (tests that give each case
    its own model)."""
    b = {"model": "m-" + case, "messages": [{"role": "user", "content": "hello there"}],
         "max_tokens": 4}
    b.update(extra)
    return b


def sse_events(body):
    """The `data:` payloads of an SSE body, in order, as strings."""
    events = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        data = [line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")]
        events.append("\n".join(data))
    return events


def mask_response_ids(body):
    """A raw response body with the per-response values (id, created)
    blanked, for byte-for-byte comparison of two answers."""
    body = re.sub(rb'"id":\s*"[^"]*"', b'"id":""', body)
    return re.sub(rb'"created":\s*\d+', b'"created":0', body)


def normalise_completion(obj):
    """A completion without its per-response fields (id, created), so that
    two answers to the same request compare equal."""
    return {k: v for k, v in obj.items() if k not in ("id", "created")}


def normalise_chunk(event):
    """normalise_completion for one SSE event's payload."""
    return event if event == "[DONE]" else normalise_completion(json.loads(event))


# --- metrics ------------------------------------------------------------------

class Metrics:
    """A parsed exposition: sample lookup by full sample name + labels."""

    def __init__(self, text):
        self.text = text
        self.families = list(text_string_to_metric_families(text))
        self.samples = [s for f in self.families for s in f.samples]

    def family_names(self):
        # prometheus_client strips _total from counter family names; the
        # TYPE lines carry the names as exposed.
        return set(re.findall(r"^# TYPE (\S+) ", self.text, re.M))

    def find(self, name, **labels):
        """Samples named `name` whose labels include `labels`."""
        return [s for s in self.samples if s.name == name
                and all(s.labels.get(k) == v for k, v in labels.items())]

    def value(self, name, **labels):
        """Sum over the matching samples; 0 when none (a counter not yet
        touched reads as zero)."""
        return sum(s.value for s in self.find(name, **labels))


# The contract's bounded label sets (docs/gateway-behaviour.md), per family.
# The `operation` label's values (src/core/words.h, TG_OPERATION_MAP).
OPERATIONS = {"chat", "responses", "completions", "embeddings", "image", "audio_transcription",
              "audio_speech", "messages"}
_MODES = {"operation": OPERATIONS, "stream_mode": {"streaming", "non_streaming"}}
BOUNDED_LABELS = {
    "llm_requests_total": dict(_MODES, status={"success", "error", "timeout", "rate_limited",
                                               "client_disconnect"}),
    "llm_request_duration_seconds": _MODES,
    "llm_tokens_total": {"type": {"prompt", "completion", "cached_prompt", "reasoning", "cache_write"}},
    "llm_retries_total": {"reason": {"connect", "reset", "timeout", "status_5xx",
                                     "status_429", "bad_response"}},
}


def unbounded_labels(metrics, providers, models, namespace="tollgate"):
    """Gateway samples whose label values fall outside the contract's sets;
    providers and models are the configured names, which bound the
    provider, from, to and model labels of every family."""
    everywhere = {"provider": set(providers), "from": set(providers), "to": set(providers),
                  "model": set(models) | {"other"}}
    bad = []
    for s in metrics.samples:
        allowed = dict(everywhere)
        for family, labels in BOUNDED_LABELS.items():
            name = "%s_%s" % (namespace, family)
            if s.name == name or s.name.startswith(name + "_"):
                allowed.update(labels)
        bad += [(s.name, label, value) for label, value in s.labels.items()
                if label in allowed and value not in allowed[label]]
    return bad


# --- processes ------------------------------------------------------------------

def _check_clean_exit(testcase_fail, name, proc, stderr_text):
    if any(marker in stderr_text for marker in SANITIZER_MARKERS):
        testcase_fail("%s: sanitizer report in stderr:\n%s" % (name, stderr_text[-4000:]))
    elif proc.returncode != 0:
        testcase_fail("%s exited with %r; stderr tail:\n%s"
                      % (name, proc.returncode, stderr_text[-4000:]))


class _ChildProcess:
    """What mock-llm and tollgate share: output files, and a stop that
    insists on a clean exit."""

    name = None

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    killed = False

    def kill(self):
        """SIGKILL, as a crash would; stop() then expects no clean exit."""
        self.killed = True
        self.proc.kill()
        self.proc.wait()

    def stop(self, fail):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail("%s did not stop on SIGTERM" % self.name)
        if not self.killed:
            _check_clean_exit(fail, self.name, self.proc, self.stderr())


class MockLLM(_ChildProcess):
    name = "mock-llm"

    def __init__(self, workdir, args=()):
        self.workdir = workdir
        port_file = os.path.join(workdir, "mock-%d.port" % id(self))
        self.stdout_path = port_file + ".out"
        self.stderr_path = port_file + ".err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [MOCK_BIN, "--listen", "127.0.0.1:0", "--port-file", port_file,
                 "--threads", "1"] + list(args),
                stdout=out, stderr=err, cwd=workdir)
        deadline = time.time() + STARTUP_TIMEOUT_S
        self.port = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mock-llm exited early:\n" + self.stderr())
            try:
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    break
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.02)
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("mock-llm did not write its port file")

    @property
    def base_url(self):
        return "http://127.0.0.1:%d/v1" % self.port

    def request(self, method, path, body=None, headers=None):
        return http_request(self.port, method, path, body, headers)

    def stats(self):
        return self.request("GET", "/mock/stats").json()

    def reset(self):
        """No fault, no delay: as started."""
        self.configure(status=0, fault="", fail_first=0, latency_ms=0, token_delay_ms=0)

    def configure(self, **settings):
        r = self.request("POST", "/mock/config", settings)
        if r.status != 200:
            raise RuntimeError("mock /mock/config -> %d %r" % (r.status, r.body))



DEFAULT_PRICING = {"input": 0.15, "cached_input": 0.075, "output": 0.60}


def provider(name, mock, **overrides):
    """Active health checks are off unless the test turns them on: their
    GET /v1/models would add to the counts tests read at the mock."""
    p = {"name": name, "base_url": mock.base_url, "timeout_ms": 5000,
         "max_retries": 0, "retry_backoff_ms": 10, "health_check": {"enabled": False}}
    p.update(overrides)
    return p


def model(name, routes, pricing=None):
    """routes: [(provider_name, upstream_model), ...]"""
    return {"name": name,
            "routes": [{"provider": p, "model": m} for p, m in routes],
            "pricing": dict(pricing or DEFAULT_PRICING)}


def gateway_config(port, providers, models, **sections):
    cfg = {
        "server": {"listen": "127.0.0.1:%d" % port, "workers": 2,
                   "max_body_bytes": 1048576, "request_timeout_ms": 20000,
                   "header_timeout_ms": 5000},
        "logging": {"format": "json", "level": "info"},
        "metrics": {"namespace": "tollgate"},
        "auth": {"allow_anonymous": True},
        "providers": providers,
        "models": models,
    }
    for key, val in sections.items():
        cfg.setdefault(key, {}).update(val)
    return cfg


PLANS = ["free", "trial", "paid"]
# The master key of every tollgate started with ADMIN_ENV; random per test
# process, so that a leak check cannot be fooled by a fixed string.
ADMIN_KEY = "e2e-master-" + secrets.token_urlsafe(24)
ADMIN_ENV = {"TOLLGATE_ADMIN_KEY": ADMIN_KEY}
KEY_SECRET = re.compile(r"^tg-[A-Za-z0-9_-]{43}$")
KEY_ID = re.compile(r"^key_[0-9a-f]{16}$")
EMPTY_POLICY = {"rpm": None, "tpm": None, "max_concurrent": None, "budget_usd": None,
                "models": None}


def tenancy_sections(workdir, allow_anonymous=False, queue_size=None, db="t.db", **store):
    """The store, ledger, tenancy and auth sections of gateway_config():
    SQLite in workdir, its spool beside it, plans PLANS. store: more keys
    of the store section (synchronous, busy_timeout_ms)."""
    ledger = {"spool_path": os.path.join(workdir, db + ".spool")}
    if queue_size is not None:
        ledger["queue_size"] = queue_size
    return {"store": dict({"driver": "sqlite", "path": os.path.join(workdir, db)}, **store),
            "ledger": ledger,
            "tenancy": {"plans": list(PLANS)},
            "auth": {"allow_anonymous": allow_anonymous}}


def write_config(path, cfg):
    """cfg (a dict, or YAML text) to path, atomically: never let a reload or
    a CLI run see half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(cfg if isinstance(cfg, str) else to_yaml(cfg) + "\n")
    os.replace(tmp, path)


def db_query(path, sql, args=()):
    """Rows of one statement on a tollgate database, as dicts. A connection
    of its own per call: it sees what is committed now, WAL included."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, args)]
    finally:
        conn.close()


class CliResult:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return "exit %r\nstdout: %s\nstderr: %s" % (self.code, self.out, self.err)


def child_env(env=None):
    """The environment of a tollgate: ours, less LOG_FORMAT (which would
    override the config's logging.format), plus env."""
    full = dict(os.environ)
    full.pop("LOG_FORMAT", None)
    full.update(env or {})
    return full


def run_tollgate(*args, env=None, timeout=30):
    """`tollgate ARGS...` to its end; a sanitizer report fails the test
    whatever the exit status."""
    p = subprocess.run([TOLLGATE_BIN] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, env=child_env(env))
    if any(marker in p.stderr for marker in SANITIZER_MARKERS):
        raise AssertionError("tollgate %s: sanitizer report:\n%s" % (" ".join(map(str, args)),
                                                                    p.stderr[-4000:]))
    return CliResult(p)


def poll(fn, timeout=5.0, interval=0.05):
    """fn() until it returns something true or timeout passes; its last
    value either way."""
    deadline = time.time() + timeout
    while True:
        value = fn()
        if value or time.time() > deadline:
            return value
        time.sleep(interval)


_MASTER = object()     # Tollgate.admin's default: the master key it was started with


class Tollgate(_ChildProcess):
    """A running `tollgate serve`. cfg is a dict built by gateway_config()
    whose server.listen names the port, or raw YAML text listening on
    `port`.

    secrets: strings that must never show in its logs, in /metrics or in
    any answer but the one that creates a key; stop() checks. The master
    key and every key made through create_key() are in it."""

    name = "tollgate"

    def __init__(self, workdir, cfg, env=None, port=None, max_fds=None):
        self.workdir = workdir
        self.cfg = cfg
        self.port = port or int(cfg["server"]["listen"].rsplit(":", 1)[1])
        self.config_path = os.path.join(workdir, "tollgate-%d.yaml" % self.port)
        self.write_config(cfg)
        self.stdout_path = self.config_path + ".out"
        self.stderr_path = self.config_path + ".err"
        self.admin_key = (env or {}).get("TOLLGATE_ADMIN_KEY")
        self.secrets = {self.admin_key} if self.admin_key else set()
        self.answers = []   # bodies of the answers stop() scans for secrets
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [TOLLGATE_BIN, "serve", "--config", self.config_path],
                stdout=out, stderr=err, cwd=workdir, env=child_env(env),
                preexec_fn=None if max_fds is None else lambda: resource.setrlimit(
                    resource.RLIMIT_NOFILE, max_fds if isinstance(max_fds, tuple) else (max_fds, max_fds)))
        self.wait_ready()

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def cpu_seconds(self):
        """User + system CPU time the process has used so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def open_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def write_config(self, cfg):
        write_config(self.config_path, cfg)

    def wait_ready(self):
        deadline = time.time() + STARTUP_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("tollgate exited early (%d):\n%s"
                                   % (self.proc.returncode, self.logs()))
            try:
                if self.request("GET", "/ready", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError("tollgate not ready in time:\n" + self.logs())

    def request(self, method, path, body=None, headers=None, timeout=30.0):
        r = http_request(self.port, method, path, body, headers, timeout)
        if not (method == "POST" and path.startswith("/admin/v1/keys") and r.status == 201):
            self.answers.append(r.body)
        return r

    # --- tenancy ----------------------------------------------------------

    def admin(self, method, path, body=None, headers=None, key=_MASTER):
        """A request to /admin/v1<path> with `Authorization: Bearer key`
        (the master key by default; None: no Authorization)."""
        hdrs = dict(headers or {})
        key = self.admin_key if key is _MASTER else key
        if key is not None:
            hdrs["Authorization"] = "Bearer " + key
        return self.request(method, "/admin/v1" + path, body, hdrs)

    def _admin_ok(self, method, path, body, status):
        r = self.admin(method, path, body)
        if r.status != status:
            raise AssertionError("%s /admin/v1%s -> %d %r" % (method, path, r.status, r.body))
        return r.json()

    def create_org(self, name, plan=None, **policy):
        body = dict(policy, name=name)
        if plan is not None:
            body["plan"] = plan
        return self._admin_ok("POST", "/orgs", body, 201)

    def create_key(self, org, name, **policy):
        """The new key's JSON; its secret, in "key", joins self.secrets."""
        key = self._admin_ok("POST", "/keys", dict(policy, org=org, name=name), 201)
        self.secrets.add(key["key"])
        return key

    def revoke_key(self, key_id):
        return self._admin_ok("DELETE", "/keys/" + key_id, None, 200)

    def cli(self, *args, json_out=False, env=None):
        """`tollgate ARGS... --config <this tollgate's config> [--json]`."""
        return run_tollgate(*(list(args) + ["--config", self.config_path]
                              + (["--json"] if json_out else [])), env=env)

    @property
    def db_path(self):
        return self.cfg["store"]["path"]

    def db(self, sql, *args):
        return db_query(self.db_path, sql, args)

    def leaked_secrets(self):
        """Which of self.secrets (abbreviated) show in the logs or in an
        answer."""
        text = self.logs() + "".join(b.decode("utf-8", "replace") for b in self.answers)
        return [s[:6] + "..." for s in self.secrets if s in text]

    def stop(self, fail):
        super().stop(fail)
        leaked = self.leaked_secrets()
        if leaked:
            fail("tollgate let secrets out (logs or answers): %s" % leaked)

    def chat(self, body, headers=None):
        return self.request("POST", "/v1/chat/completions", body, headers)

    def metrics(self):
        r = self.request("GET", "/metrics")
        if r.status != 200:
            raise RuntimeError("/metrics -> %d" % r.status)
        return Metrics(r.body.decode())

    def stdout(self):
        with open(self.stdout_path, errors="replace") as f:
            return f.read()

    def logs(self):
        return self.stdout() + self.stderr()

    def log_records(self):
        """Every JSON object logged, from either stream, in order."""
        records = []
        for line in self.logs().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass
        return records

    def find_logs(self, timeout=0.0, **fields):
        """The JSON log records whose fields include `fields`; logging may
        lag an answer a little, so poll up to timeout for at least one."""
        return poll(lambda: [rec for rec in self.log_records()
                             if all(k in rec and rec[k] == v for k, v in fields.items())],
                    timeout)

    def access_log(self, request_id, timeout=5.0):
        """The access log line of one request, or None."""
        found = self.find_logs(timeout, logger="access", request_id=request_id)
        return found[0] if found else None

    def audit_log(self, timeout=5.0, **fields):
        """The audit lines (logger "audit") whose fields include `fields`."""
        return self.find_logs(timeout, logger="audit", **fields)

    def signal(self, sig):
        self.proc.send_signal(sig)


class GatewayTestCase(unittest.TestCase):
    """Base class: one temp dir and a set of processes per test class,
    started once in setUpClass and checked for a clean exit at the end."""

    tollgate = None

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="tollgate-e2e-")
        cls.workdir = cls._tmp.name
        cls._procs = []
        try:
            cls.start()
        except Exception:
            cls._stop_all(lambda msg: None)
            cls._tmp.cleanup()
            raise

    @classmethod
    def start(cls):
        """Subclasses start their processes here, through start_mock and
        start_tollgate."""

    @classmethod
    def start_one_route(cls, env=None, **sections):
        """One mock-llm and a tollgate serving gpt-4o-mini through it
        (provider "mock"); sections as in gateway_config()."""
        cls.mock = cls.start_mock()
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock)],
            [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])], **sections), env)

    @classmethod
    def start_mock(cls, *args):
        m = MockLLM(cls.workdir, args)
        cls._procs.append(m)
        return m

    @classmethod
    def start_tollgate(cls, cfg, env=None, port=None, max_fds=None):
        t = Tollgate(cls.workdir, cfg, env, port, max_fds)
        cls._procs.append(t)
        return t

    @classmethod
    def _stop_all(cls, fail):
        # The gateway first, so it never sees its providers vanish.
        for p in reversed(cls._procs):
            p.stop(fail)

    @classmethod
    def tearDownClass(cls):
        problems = []
        cls._stop_all(problems.append)
        if problems:
            print("\n".join(problems), file=sys.stderr)
            if cls.tollgate is not None:
                print("--- tollgate logs ---\n" + cls.tollgate.logs()[-6000:], file=sys.stderr)
        cls._tmp.cleanup()
        if problems:
            raise AssertionError("unclean shutdown:\n" + "\n".join(problems))

    def assertOpenAIError(self, resp, status, err_type, code, message=None):
        """resp is OpenAI's error JSON with this status, code and type
        (None: any type) and, when given, message; returns the error."""
        self.assertEqual(resp.status, status, resp.body)
        body = resp.json()
        self.assertIn("error", body, body)
        err = body["error"]
        self.assertIsInstance(err.get("message"), str)
        self.assertTrue(err["message"])
        if err_type is None:
            self.assertIsInstance(err.get("type"), str, body)
        else:
            self.assertEqual(err.get("type"), err_type, body)
        self.assertEqual(err.get("code"), code, body)
        self.assertIn("param", err)
        if message is not None:
            self.assertEqual(err["message"], message, body)
        return err

    # --- tenancy: the shapes of docs/tenancy.md -------------------------------

    def assertRecent(self, t, slack=10):
        """t is Unix seconds, an integer, close to now."""
        self.assertIsInstance(t, int)
        self.assertLess(abs(t - time.time()), slack)

    def assertOrg(self, org, name, plan, **policy):
        """An org as the admin API shows it; policy: the fields set."""
        self.assertEqual(set(org), {"object", "name", "plan", "created", "policy"}, org)
        self.assertEqual((org["object"], org["name"], org["plan"]), ("organization", name, plan))
        self.assertRecent(org["created"])
        self.assertEqual(org["policy"], dict(EMPTY_POLICY, **policy))

    def assertKey(self, key, org, name, secret=False, revoked=False, **policy):
        """A key as the admin API shows it: with its secret only in the
        answer that made it (secret=True)."""
        fields = {"object", "id", "hint", "org", "name", "created", "last_used", "revoked", "policy"}
        self.assertEqual(set(key), fields | ({"key"} if secret else set()), key)
        self.assertEqual((key["object"], key["org"], key["name"]), ("api_key", org, name))
        self.assertRegex(key["id"], KEY_ID)
        if secret:
            self.assertRegex(key["key"], KEY_SECRET)
            self.assertEqual(key["hint"], "tg-\u2026" + key["key"][-4:])
        else:
            self.assertRegex(key["hint"], r"^tg-\u2026[A-Za-z0-9_-]{4}$")
        self.assertRecent(key["created"])
        self.assertTrue(key["last_used"] is None or isinstance(key["last_used"], int), key)
        if revoked:
            self.assertRecent(key["revoked"])
        else:
            self.assertIsNone(key["revoked"])
        self.assertEqual(key["policy"], dict(EMPTY_POLICY, **policy))

    def assertAuditLine(self, rec, action, org, user_id, request_id, **extra):
        """One audit log line, field by field; extra: more fields it must
        have, with these values."""
        self.assertEqual(rec["logger"], "audit")
        self.assertEqual(rec["action"], action, rec)
        self.assertRegex(rec["timestamp"], LOG_TIMESTAMP)
        failure = action in ("auth_failure", "admin_auth_failure")
        self.assertEqual(rec["level"], "warn" if failure else "info", rec)
        for field, value in dict(extra, org_id=org, user_id=user_id, request_id=request_id).items():
            self.assertIn(field, rec)
            self.assertEqual(rec[field], value, rec)


def main():
    global TOLLGATE_BIN, MOCK_BIN
    parser = argparse.ArgumentParser()
    parser.add_argument("--tollgate", required=True)
    parser.add_argument("--mock", required=True)
    args, rest = parser.parse_known_args()
    TOLLGATE_BIN = os.path.abspath(args.tollgate)
    MOCK_BIN = os.path.abspath(args.mock)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)

