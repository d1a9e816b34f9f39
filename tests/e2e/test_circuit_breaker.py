# End-to-end: circuit breakers (docs/gateway-behaviour.md, "Circuit
# breakers"). Two providers serve one model under steady load from client
# threads; provider A then answers 503, then resets its connections, then
# hangs, then heals. Clients never see an error; A's breaker opens after
# its configured failures; while it is open A gets nothing but the probes
# (counted at the mock); once A heals the breaker goes half-open, then
# closed, and A gets the traffic again. Each step shows in /metrics,
# /health and the log. A model whose only route is open is answered 503
# all_providers_unavailable with Retry-After, without an upstream attempt,
# in under 5 ms. A 429 with Retry-After takes its provider out of routing
# for that long, without opening its breaker.

import threading
import time

import harness
from harness import GatewayTestCase, free_port, gateway_config, model, provider

FAILURES = 3             # A's breaker opens on this many failures in a row
COOLDOWN_MS = 400
MAX_COOLDOWN_MS = 800
A_TIMEOUT_MS = 300       # how long a hung A holds a request before the fallback
LOAD_THREADS = 3
STATE = {"closed": 0, "open": 1, "half_open": 2}


class Load:
    """Client threads sending chat requests back to back; every status is
    kept."""

    def __init__(self, port, model_name, threads):
        self.port = port
        self.body = {"model": model_name, "max_tokens": 2,
                     "messages": [{"role": "user", "content": "steady load"}]}
        self.statuses = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stopping.is_set():
            try:
                status = harness.http_request(self.port, "POST", "/v1/chat/completions", self.body).status
            except OSError as e:
                status = repr(e)
            with self.lock:
                self.statuses.append(status)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join()
        return self.statuses


class CircuitBreakerTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.a = cls.start_mock()
        cls.b = cls.start_mock()
        cls.c = cls.start_mock()
        cls.d = cls.start_mock()
        breaker = {"failures": FAILURES, "cooldown_ms": COOLDOWN_MS, "max_cooldown_ms": MAX_COOLDOWN_MS}
        providers = [
            provider("a", cls.a, timeout_ms=A_TIMEOUT_MS, breaker=breaker),
            provider("b", cls.b),
            provider("c", cls.c, breaker={"failures": 2, "cooldown_ms": 30000}),
            provider("d", cls.d),
            provider("e", cls.b),
        ]
        models = [model("m", [("a", "gpt-4o-mini"), ("b", "gpt-4o-mini")]),
                  model("solo", [("c", "gpt-4o-mini")]),
                  model("limited", [("d", "gpt-4o-mini"), ("e", "gpt-4o-mini")])]
        cls.tollgate = cls.start_tollgate(gateway_config(free_port(), providers, models))

    # --- what the gateway says about A

    def provider_health(self, name):
        body = self.tollgate.request("GET", "/health").json()
        return next(p for p in body["providers"] if p["name"] == name)

    def transitions(self, metrics, name, frm, to):
        return metrics.value("tollgate_provider_circuit_breaker_transitions_total",
                             provider=name, **{"from": frm, "to": to})

    def wait_for(self, what, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            self.assertLess(time.monotonic(), deadline, "timed out waiting for " + what)
            time.sleep(0.01)

    def wait_open(self, name="a"):
        """Waits until the breaker is open (not half-open: the probe of the
        last half-open period, if any, is decided), and returns /health's
        entry."""
        return self.wait_for("%s open" % name,
                             lambda: (lambda p: p if p["circuit_breaker"] == "open" else None)(
                                 self.provider_health(name)))

    def breaker_logs(self, name):
        return [(r["from"], r["to"]) for r in self.tollgate.log_records()
                if r.get("logger") == "health" and r.get("provider") == name and "to" in r]

    def settled(self):
        """A's request count at the mock and the gateway's metrics, taken
        while A's breaker was open and made no transition: every half-open
        period so far has ended in a reopen, so every probe has reached A."""
        while True:
            first = self.tollgate.metrics()
            requests = self.a.stats()["requests"]
            second = self.tollgate.metrics()
            half_opens = self.transitions(first, "a", "open", "half_open")
            if (half_opens == self.transitions(second, "a", "open", "half_open")
                    and half_opens == self.transitions(first, "a", "half_open", "open")
                    and half_opens == self.transitions(second, "a", "half_open", "open")):
                return requests, half_opens, second
            time.sleep(0.01)

    def probe_phase(self, label, seconds, last_error):
        """While A keeps failing, every request it receives is a probe: one
        per half-open period, each failing and reopening the breaker."""
        requests_before, half_opens_before, _ = self.settled()
        time.sleep(seconds)
        requests_after, half_opens_after, metrics = self.settled()
        probes = requests_after - requests_before
        half_opens = half_opens_after - half_opens_before
        print("%s: %.1f s open, %d probes reached A, %d half-open periods"
              % (label, seconds, probes, half_opens))
        self.assertGreaterEqual(half_opens, 1)
        self.assertEqual(probes, half_opens)
        h = self.provider_health("a")
        self.assertEqual(h["last_error"], last_error)
        if h["circuit_breaker"] == "open":
            self.assertLessEqual(h["next_probe_in_seconds"], MAX_COOLDOWN_MS / 1000)
        # open, or half-open at the tick's last copy (a probe on its way)
        self.assertIn(metrics.value("tollgate_provider_circuit_breaker_state", provider="a"), (1, 2))
        return probes

    def test_failing_provider_is_routed_around_and_comes_back(self):
        load = Load(self.tollgate.port, "m", LOAD_THREADS)
        try:
            time.sleep(0.5)
            self.assertEqual(self.b.stats()["requests"], 0)   # A first, and A answers
            self.assertEqual(self.provider_health("a")["circuit_breaker"], "closed")

            # 503: the breaker opens within its failures (plus the requests
            # already on their way to A when it opened)
            self.a.configure(status=503)
            opened = time.monotonic()
            self.wait_open()
            print("open %.0f ms after A began failing, after %d failures at A"
                  % ((time.monotonic() - opened) * 1000, self.a.stats()["faults"]))
            self.assertLessEqual(self.a.stats()["faults"], FAILURES + LOAD_THREADS - 1)
            # the state gauges follow at the tick's next provider_health run
            m = self.wait_for("the state gauge", lambda: (lambda m: m if m.value(
                "tollgate_provider_circuit_breaker_state", provider="a") == 1 else None)(self.tollgate.metrics()))
            self.assertEqual(self.transitions(m, "a", "closed", "open"), 1)
            self.assertEqual(m.value("tollgate_provider_circuit_breaker", provider="a",
                                     tollgate_provider_circuit_breaker="open"), 1)
            self.assertGreater(m.value("tollgate_provider_circuit_breaker_cooldown_seconds",
                                       provider="a"), 0)
            self.assertEqual(self.breaker_logs("a")[0], ("closed", "open"))

            self.probe_phase("503", 1.5, "status_5xx")
            self.a.configure(status=0, fault="reset")
            self.wait_for("a probe reset", lambda: self.provider_health("a")["last_error"] == "reset")
            self.probe_phase("reset", 1.5, "reset")
            self.a.configure(fault="hang")
            self.wait_for("a probe timed out",
                          lambda: self.provider_health("a")["last_error"] == "timeout")
            self.probe_phase("hang", 1.5, "timeout")

            # A heals: the next probe closes the breaker, A gets the traffic
            self.a.configure(fault="")
            healed = time.monotonic()
            self.wait_for("a closed", lambda: self.provider_health("a")["circuit_breaker"] == "closed")
            print("closed %.0f ms after A healed" % ((time.monotonic() - healed) * 1000))
            a_before, b_before = self.a.stats()["requests"], self.b.stats()["requests"]
            time.sleep(0.5)
            self.assertGreater(self.a.stats()["requests"] - a_before, 10)
            self.assertEqual(self.b.stats()["requests"], b_before)
        finally:
            statuses = load.stop()

        # clients never saw an error
        self.assertGreater(len(statuses), 100)
        self.assertEqual([s for s in statuses if s != 200], [])
        m = self.wait_for("the state gauge", lambda: (lambda m: m if m.value(
            "tollgate_provider_circuit_breaker_state", provider="a") == 0 else None)(self.tollgate.metrics()))
        self.assertEqual(self.transitions(m, "a", "half_open", "closed"), 1)
        self.assertEqual(m.value("tollgate_provider_circuit_breaker_cooldown_seconds", provider="a"), 0)
        logs = self.breaker_logs("a")
        self.assertEqual(logs[-2:], [("open", "half_open"), ("half_open", "closed")])
        self.assertEqual(len(logs), sum(self.transitions(m, "a", f, t) for f in STATE for t in STATE))
        health = self.provider_health("a")
        self.assertEqual(health["circuit_breaker"], "closed")
        self.assertIsNone(health["next_probe_in_seconds"])
        print("%d requests, all 200; A's breaker: %s" % (len(statuses), logs))

    def test_every_route_open_fails_fast(self):
        self.c.configure(status=503)
        body = {"model": "solo", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(2):
            self.assertOpenAIError(self.tollgate.chat(body), 502, "upstream_error", "upstream_unavailable")
        self.assertEqual(self.provider_health("c")["circuit_breaker"], "open")
        requests_at_c = self.c.stats()["requests"]
        before = self.tollgate.metrics()
        took = []
        for i in range(10):
            started = time.monotonic()
            r = self.tollgate.chat(body, {"X-Request-ID": "e2e-all-open-%d" % i})
            took.append(time.monotonic() - started)
            self.assertOpenAIError(r, 503, "upstream_error", "all_providers_unavailable")
            self.assertTrue(28 <= int(r.header("Retry-After")) <= 30, r.header("Retry-After"))
        self.assertEqual(self.c.stats()["requests"], requests_at_c)   # nothing reached C
        served = sorted(self.tollgate.access_log("e2e-all-open-%d" % i)["latency"] for i in range(10))
        print("every route open: 503 in %.2f ms at the gateway (median), %.2f ms at the client"
              % (served[5] * 1000, sorted(took)[5] * 1000))
        self.assertLess(served[5], 0.005)
        after = self.tollgate.metrics()
        self.assertEqual(after.value("tollgate_provider_circuit_breaker_rejected_requests_total", model="solo")
                         - before.value("tollgate_provider_circuit_breaker_rejected_requests_total",
                                        model="solo"), 10)
        self.assertEqual(after.value("tollgate_api_errors_total", error_code="all_providers_unavailable")
                         - before.value("tollgate_api_errors_total", error_code="all_providers_unavailable"), 10)

    def test_retry_after_cools_a_provider_down(self):
        self.d.configure(status=429, retry_after=2)
        body = {"model": "limited", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
        r = self.tollgate.chat(body)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("X-Tollgate-Fallback"), "d->e")
        self.assertEqual(self.d.stats()["requests"], 1)
        for _ in range(5):                       # within the Retry-After: straight to e
            r = self.tollgate.chat(body)
            self.assertEqual((r.status, r.header("X-Tollgate-Provider"), r.header("X-Tollgate-Attempts")),
                             (200, "e", "1"))
        self.assertEqual(self.d.stats()["requests"], 1)
        self.assertEqual(self.provider_health("d")["circuit_breaker"], "closed")   # not broken
        self.d.configure(status=0)
        self.wait_for("d tried again", lambda: self.tollgate.chat(body).header("X-Tollgate-Provider") == "d",
                      timeout=4)


if __name__ == "__main__":
    harness.main()
