# End-to-end: the process life cycle and command line. SIGTERM lets an
# in-flight request finish and exits 0; SIGHUP applies a changed config
# without dropping a concurrent request and keeps the old one when the new
# file is invalid; `check-config` and `--version` print what the contract
# says; the example config `make run` uses serves through a mock.

import os
import re
import signal
import threading
import time

import harness
from harness import (GatewayTestCase, chat_content, free_port, gateway_config, model,
                     provider, run_tollgate, to_yaml)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLOW_MS = 1500


class InFlight(threading.Thread):
    """One request running in the background; .response once joined."""

    def __init__(self, gateway, body):
        super().__init__(daemon=True)
        self.gateway, self.body = gateway, body
        self.response, self.error = None, None
        self.start()

    def run(self):
        try:
            self.response = self.gateway.chat(self.body)
        except Exception as exc:   # reported by the test thread
            self.error = exc

    def result(self, test):
        self.join(15)
        test.assertFalse(self.is_alive(), "in-flight request never finished")
        test.assertIsNone(self.error)
        return self.response


def chat_body(model_name, max_tokens=3):
    return {"model": model_name, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": "hold on"}]}


def wait_until_in_flight(mock, before):
    """Block until the request reached the mock, where it then waits
    SLOW_MS: a signal sent next lands while it is in flight. (/mock/stats
    itself is not delayed by the mock's latency setting.)"""
    deadline = time.time() + 5
    while mock.stats()["requests"] == before and time.time() < deadline:
        time.sleep(0.02)


class GracefulShutdownTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock("--latency-ms", str(SLOW_MS))
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock)],
            [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])]))

    def test_sigterm_lets_the_request_in_flight_finish(self):
        before = self.mock.stats()["requests"]
        flight = InFlight(self.tollgate, chat_body("gpt-4o-mini"))
        wait_until_in_flight(self.mock, before)
        self.tollgate.signal(signal.SIGTERM)
        time.sleep(0.3)
        with self.assertRaises(OSError, msg="still accepting after SIGTERM"):
            self.tollgate.request("GET", "/health", timeout=2)
        r = flight.result(self)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], chat_content(3))
        self.assertEqual(self.tollgate.proc.wait(10), 0)


REQUEST_TIMEOUT_MS = 1000


def start_with_request_timeout(cls):
    """A gateway whose request timeout is far below its provider's."""
    cls.mock = cls.start_mock()
    cls.tollgate = cls.start_tollgate(gateway_config(
        free_port(), [provider("mock", cls.mock, timeout_ms=10000)],
        [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])],
        server={"request_timeout_ms": REQUEST_TIMEOUT_MS}))


class RequestTimeoutTest(GatewayTestCase):
    """server.request_timeout_ms bounds a request whatever the provider's
    own timeout."""

    start = classmethod(start_with_request_timeout)

    def test_slow_provider_is_cut_at_request_timeout(self):
        self.mock.configure(latency_ms=4000)
        try:
            started = time.monotonic()
            r = self.tollgate.chat(chat_body("gpt-4o-mini"))
            elapsed = time.monotonic() - started
        finally:
            self.mock.configure(latency_ms=0)
        self.assertOpenAIError(r, 504, "upstream_error", "upstream_timeout")
        self.assertGreaterEqual(elapsed, REQUEST_TIMEOUT_MS / 1000.0 - 0.01)
        self.assertLess(elapsed, REQUEST_TIMEOUT_MS / 1000.0 + 2)


class ShutdownTimeoutTest(GatewayTestCase):
    """SIGTERM waits for a hung request at most request_timeout_ms."""

    start = classmethod(start_with_request_timeout)

    def test_sigterm_waits_at_most_request_timeout(self):
        self.mock.configure(fault="hang")
        before = self.mock.stats()["requests"]
        flight = InFlight(self.tollgate, chat_body("gpt-4o-mini"))
        wait_until_in_flight(self.mock, before)
        started = time.monotonic()
        self.tollgate.signal(signal.SIGTERM)
        self.assertEqual(self.tollgate.proc.wait(10), 0)
        self.assertLess(time.monotonic() - started, REQUEST_TIMEOUT_MS / 1000.0 + 2)
        r = flight.result(self)
        self.assertOpenAIError(r, 504, "upstream_error", "upstream_timeout")


class ReloadTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.cfg = gateway_config(free_port(), [provider("mock", cls.mock)],
                                 [model("alpha", [("mock", "gpt-4o-mini")])])
        cls.tollgate = cls.start_tollgate(cls.cfg)

    def models(self):
        return sorted(m["id"] for m in self.tollgate.request("GET", "/v1/models").json()["data"])

    def reload_and_wait(self):
        """SIGHUP, then wait for the line tollgate logs once every worker
        serves the new configuration (any worker may take the next request)."""
        done = self.tollgate.logs().count("configuration reloaded")
        self.tollgate.signal(signal.SIGHUP)
        deadline = time.time() + 5
        while self.tollgate.logs().count("configuration reloaded") == done:
            self.assertLess(time.time(), deadline, "reload not applied")
            time.sleep(0.05)

    def test_sighup_reload_without_dropping_requests(self):
        self.assertEqual(self.models(), ["alpha"])
        self.mock.configure(latency_ms=SLOW_MS)
        before = self.mock.stats()["requests"]
        flight = InFlight(self.tollgate, chat_body("alpha"))
        wait_until_in_flight(self.mock, before)
        self.mock.configure(latency_ms=0)

        new_cfg = dict(self.cfg, models=self.cfg["models"] + [model("beta", [("mock", "gpt-4o")])])
        self.tollgate.write_config(new_cfg)
        self.reload_and_wait()
        self.assertEqual(self.models(), ["alpha", "beta"])
        r = self.tollgate.chat(chat_body("beta"))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["model"], "gpt-4o")

        r = flight.result(self)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], chat_content(3))

        # An invalid file: logged, and the running config stays.
        self.tollgate.write_config("server:\n  listen: [unclosed\n")
        self.tollgate.signal(signal.SIGHUP)
        deadline = time.time() + 5
        while self.tollgate.config_path not in self.tollgate.logs():
            self.assertLess(time.time(), deadline, "invalid reload not logged")
            time.sleep(0.05)
        self.assertEqual(self.models(), ["alpha", "beta"])
        self.assertEqual(self.tollgate.chat(chat_body("beta")).status, 200)
        self.assertEqual(self.tollgate.request("GET", "/ready").status, 200)


class CommandLineTest(GatewayTestCase):
    def write(self, name, text):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def valid_config(self):
        return gateway_config(free_port(),
                              [{"name": "up", "base_url": "http://127.0.0.1:9/v1"}],
                              [model("m", [("up", "m")])])

    def assertRejected(self, path, line=None):
        p = run_tollgate("check-config", path)
        self.assertEqual(p.code, 1, p.out + p.err)
        out = p.out + p.err
        where = re.escape(path) + ":" + (str(line) if line else r"\d+") + ":"
        self.assertRegex(out, where, out)

    def test_version(self):
        p = run_tollgate("--version")
        self.assertEqual(p.code, 0)
        self.assertEqual(p.out.strip(), "tollgate 0.1.0")

    def test_check_config_accepts_valid_files(self):
        for path in (self.write("good.yaml", to_yaml(self.valid_config()) + "\n"),
                     os.path.join(REPO, "config", "tollgate.example.yaml")):
            p = run_tollgate("check-config", path)
            self.assertEqual(p.code, 0, p.out + p.err)
            self.assertEqual(p.out.strip(), "ok")

    def bad_workers_config(self):
        """A valid config but for one value; returns (lines, its 0-based index)."""
        lines = (to_yaml(self.valid_config()) + "\n").split("\n")
        workers = next(i for i, l in enumerate(lines) if l.strip().startswith("workers:"))
        lines[workers] = "  workers: many"
        return lines, workers

    def test_check_config_names_the_bad_line(self):
        lines, workers = self.bad_workers_config()
        self.assertRejected(self.write("bad-type.yaml", "\n".join(lines)), workers + 1)

        route = next(i for i, l in enumerate(lines) if l.strip() == '- provider: "up"')
        lines[workers] = "  workers: 2"
        lines[route] = lines[route].replace('"up"', '"ghost"')
        self.assertRejected(self.write("bad-ref.yaml", "\n".join(lines)), route + 1)

        self.assertRejected(self.write("bad-syntax.yaml", "server:\n  listen: [unclosed\n"))

    def test_check_config_missing_file(self):
        path = os.path.join(self.workdir, "absent.yaml")
        p = run_tollgate("check-config", path)
        self.assertEqual(p.code, 1)
        self.assertIn(path, p.out + p.err)

    def test_serve_refuses_a_bad_config(self):
        lines, workers = self.bad_workers_config()
        path = self.write("bad-serve.yaml", "\n".join(lines))
        p = run_tollgate("serve", "--config", path)
        self.assertNotEqual(p.code, 0)
        self.assertIn("%s:%d:" % (path, workers + 1), p.out + p.err)

    def test_unknown_command(self):
        p = run_tollgate("frobnicate")
        self.assertNotEqual(p.code, 0)


class ExampleConfigTest(GatewayTestCase):
    """config/tollgate.example.yaml, as `make run` starts it: PORT and
    MOCK_PORT come from the environment."""

    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        port = free_port()
        with open(os.path.join(REPO, "config", "tollgate.example.yaml")) as f:
            text = f.read()
        cls.tollgate = cls.start_tollgate(text, env={"PORT": str(port),
                                                     "MOCK_PORT": str(cls.mock.port),
                                                     "TOLLGATE_DATA_DIR": cls.workdir},
                                          port=port)

    def test_demo_request_without_key(self):
        r = self.tollgate.chat(chat_body("gpt-4o-mini", 2))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("X-Tollgate-Provider"), "mock")
        self.assertEqual(r.json()["choices"][0]["message"]["content"], chat_content(2))
        ids = {m["id"] for m in self.tollgate.request("GET", "/v1/models").json()["data"]}
        self.assertEqual(ids, {"gpt-4o-mini", "gpt-4o", "llama-3.1-8b-instant",
                               "text-embedding-3-small", "gpt-3.5-turbo-instruct", "gpt-image-1",
                               "whisper-1", "tts-1", "claude-sonnet-4-5"})


if __name__ == "__main__":
    harness.main()
