# End-to-end: provider health is judged by the housekeeping tick, once a
# second, on each provider's last minute of attempts (docs/gateway-behaviour.md,
# "Provider health"). A provider answering 503 to everything turns
# provider_health_status 0 and "unhealthy" in /health within about a second,
# keeps that state across a reload that keeps its name, and is healthy again
# once its successes outweigh its failures; the tick times itself into
# housekeeping_duration_seconds. CTest also runs this against the
# ThreadSanitizer build (e2e_health_evaluation_tsan): the tick reads what the
# workers write, and walks the provider registry while a reload adds to it.

import os
import time

import harness
from harness import GatewayTestCase, Metrics, free_port, gateway_config, model, provider

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "metrics.md")
# The verdict's promise is the next evaluation (at most a second and a
# tick); the margin is for a loaded machine and a sanitizer build.
VERDICT_TIMEOUT_S = 2.5


class HealthEvaluationTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.flaky_mock = cls.start_mock()
        cls.steady_mock = cls.start_mock()
        cls.port = free_port()
        cls.tollgate = cls.start_tollgate(cls.config())

    @classmethod
    def config(cls, extra_provider=False):
        # breakers off: this is the healthy verdict's test, and an open
        # breaker would answer 503 before the flaky provider is asked
        no_breaker = {"enabled": False}
        providers = [provider("flaky", cls.flaky_mock, breaker=no_breaker),
                     provider("steady", cls.steady_mock, breaker=no_breaker)]
        models = [model("f", [("flaky", "gpt-4o-mini")]), model("s", [("steady", "gpt-4o-mini")])]
        if extra_provider:
            providers.append(provider("fresh", cls.steady_mock))
            models.append(model("x", [("fresh", "gpt-4o-mini")]))
        return gateway_config(cls.port, providers, models)

    def chat(self, model_name):
        return self.tollgate.chat({"model": model_name, "max_tokens": 2,
                                   "messages": [{"role": "user", "content": "are you there"}]}).status

    def gauge(self, name):
        return self.tollgate.metrics().value("tollgate_provider_health_status", provider=name)

    def wait_for_gauge(self, name, value):
        """Seconds until provider_health_status{provider=name} == value."""
        start = time.monotonic()
        while self.gauge(name) != value:
            self.assertLess(time.monotonic() - start, VERDICT_TIMEOUT_S,
                            "provider_health_status{provider=%r} never became %d" % (name, value))
            time.sleep(0.02)
        return time.monotonic() - start

    def providers(self):
        r = self.tollgate.request("GET", "/health")
        self.assertEqual(r.status, 200)
        body = r.json()
        return body["status"], {p["name"]: p for p in body["providers"]}

    def health_logs(self, message):
        return [r for r in self.tollgate.log_records()
                if r.get("logger") == "health" and r.get("message") == message]

    def reload(self, cfg):
        before = self.tollgate.stderr().count("configuration reloaded from")
        self.tollgate.write_config(cfg)
        self.tollgate.signal(1)  # SIGHUP
        deadline = time.monotonic() + 20
        while self.tollgate.stderr().count("configuration reloaded from") == before:
            self.assertLess(time.monotonic(), deadline, "reload never confirmed")
            time.sleep(0.02)

    def test_failing_provider_goes_unhealthy_and_back(self):
        self.assertEqual(self.gauge("flaky"), 1)
        self.assertEqual(self.providers()[0], "ok")

        # 6 attempts, every one a 503 (max_retries 0: one attempt a request)
        self.flaky_mock.configure(status=503)
        for _ in range(6):
            self.assertEqual(self.chat("f"), 502)
        took = self.wait_for_gauge("flaky", 0)
        print("\nunhealthy %.2f s after the 6th failure" % took)
        self.assertEqual(self.gauge("steady"), 1)
        status, providers = self.providers()
        self.assertEqual(status, "degraded")
        self.assertEqual(providers["flaky"]["state"], "unhealthy")
        self.assertEqual(providers["flaky"]["last_error"], "status_5xx")
        self.assertEqual(providers["steady"]["state"], "healthy")
        [line] = self.health_logs("provider unhealthy")
        self.assertEqual((line["provider"], line["attempts_last_minute"],
                          line["provider_failures_last_minute"]), ("flaky", 6, 6))

        # A reload that keeps the name keeps the state; a new provider starts healthy.
        self.reload(self.config(extra_provider=True))
        self.assertEqual(self.gauge("fresh"), 1)
        self.assertEqual(self.gauge("flaky"), 0)
        self.assertEqual(self.providers()[1]["flaky"]["state"], "unhealthy")
        self.assertEqual(self.chat("x"), 200)

        # Answering again: 6 successes for 6 failures is still half...
        self.flaky_mock.configure(status=0)
        for _ in range(6):
            self.assertEqual(self.chat("f"), 200)
        time.sleep(1.3)  # at least one evaluation
        self.assertEqual(self.gauge("flaky"), 0)
        # ... one more is not.
        self.assertEqual(self.chat("f"), 200)
        self.wait_for_gauge("flaky", 1)
        status, providers = self.providers()
        # healthy again; its 5-minute health score still remembers the 503s
        self.assertEqual(providers["flaky"]["state"], "degraded")
        self.assertEqual(status, "degraded")
        [line] = self.health_logs("provider healthy again")
        self.assertEqual((line["provider"], line["attempts_last_minute"],
                          line["provider_failures_last_minute"]), ("flaky", 13, 6))

    def test_housekeeping_ticks_are_timed(self):
        def counts():
            m = self.tollgate.metrics()
            return (m.value("tollgate_housekeeping_duration_seconds_count", task="tick"),
                    m.value("tollgate_housekeeping_duration_seconds_count", task="provider_health"))
        ticks, runs = counts()
        time.sleep(1.5)
        ticks_after, runs_after = counts()
        # 10 ticks a second, provider health once a second
        self.assertGreaterEqual(ticks_after - ticks, 10)
        self.assertLessEqual(ticks_after - ticks, 20)
        self.assertGreaterEqual(runs_after - runs, 1)
        self.assertLessEqual(runs_after - runs, 2)

    def test_docs_list_every_family(self):
        """docs/metrics.md names every family the registry exposes."""
        with open(DOCS) as f:
            doc = f.read()
        for name in Metrics(self.tollgate.request("GET", "/metrics").body.decode()).family_names():
            self.assertIn("`%s`" % name, doc)


if __name__ == "__main__":
    harness.main()
