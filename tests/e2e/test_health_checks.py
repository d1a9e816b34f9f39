# End-to-end: active health checks and anomaly detection on the
# housekeeping tick (docs/gateway-behaviour.md, "Provider health" and
# "Anomaly detection").
#
# Checks: with no client traffic at all, a provider whose /v1/models
# answers 503 turns provider_health_status 0 from its checks alone (every
# second here), and 1 again once they pass; a hung provider fails its check
# by the check's timeout, and no run of the checks holds the tick longer;
# a provider with checks off, from the start or after a reload, gets no
# request. Each change of a check's result is logged once.
#
# Anomalies: steady traffic builds the baselines (300 ms intervals here),
# then mock-llm answers 300 ms late: detected_anomalies_total{type=
# "latency_spike"} counts it and one warning line gives the numbers.

import threading
import time

import harness
from harness import GatewayTestCase, free_port, gateway_config, model, provider

CHECK = {"enabled": True, "interval_ms": 1000, "timeout_ms": 300}
# A check is due every second and so is the verdict: one failed check
# shows within about 2 s. The margin is for a loaded machine and a
# sanitizer build; it stays below the 4 s and more it would take the
# failed checks to make up 5 attempts in the window on their own, so the
# test sees the failed check itself turn the provider unhealthy.
UNHEALTHY_TIMEOUT_S = 3.5
# Failed checks stay in the last minute's window: recovery waits until the
# passing ones outnumber them (docs: "Provider health").
RECOVERY_TIMEOUT_S = 15.0


class HealthCheckTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.checked = cls.start_mock()
        cls.unchecked = cls.start_mock()
        cls.port = free_port()
        cls.tollgate = cls.start_tollgate(cls.config(CHECK))

    @classmethod
    def config(cls, check):
        providers = [provider("checked", cls.checked, health_check=check),
                     provider("unchecked", cls.unchecked)]
        models = [model("c", [("checked", "gpt-4o-mini")]), model("u", [("unchecked", "gpt-4o-mini")])]
        return gateway_config(cls.port, providers, models)

    def gauge(self, name):
        return self.tollgate.metrics().value("tollgate_provider_health_status", provider=name)

    def wait_for(self, what, predicate, timeout):
        start = time.monotonic()
        while not predicate():
            self.assertLess(time.monotonic() - start, timeout, "never: " + what)
            time.sleep(0.05)
        return time.monotonic() - start

    def check_logs(self, message):
        return [r for r in self.tollgate.log_records()
                if r.get("logger") == "health" and r.get("message") == message]

    def test_1_checks_alone_drive_health(self):
        # the first check comes an interval after start; it is a GET of the
        # model list, never a completion
        self.wait_for("a check", lambda: self.checked.stats()["requests"] >= 1, 3)
        stats = self.checked.stats()
        self.assertEqual(stats["chat"], 0)
        self.assertEqual(stats["last_headers"].get("user-agent"), "tollgate-health-check")
        self.assertEqual(self.gauge("checked"), 1)

        self.checked.configure(status=503)
        took = self.wait_for("unhealthy", lambda: self.gauge("checked") == 0, UNHEALTHY_TIMEOUT_S)
        print("\nunhealthy %.2f s after /v1/models began answering 503, without client traffic" % took)
        r = self.tollgate.request("GET", "/health").json()
        entry = {p["name"]: p for p in r["providers"]}["checked"]
        self.assertEqual(entry["state"], "unhealthy")
        self.assertEqual(entry["last_error"], "status_5xx")
        [line] = self.check_logs("health check failed")
        self.assertEqual((line["provider"], line["reason"], line["status"]), ("checked", "status_5xx", 503))

        self.checked.configure(status=0)
        took = self.wait_for("healthy", lambda: self.gauge("checked") == 1, RECOVERY_TIMEOUT_S)
        print("healthy again %.2f s after /v1/models answered 200 again" % took)
        [line] = self.check_logs("health check passed again")
        self.assertEqual((line["provider"], line["status"]), ("checked", 200))
        # checks off: never asked
        self.assertEqual(self.unchecked.stats()["requests"], 0)

    def test_2_hung_provider_fails_by_the_timeout(self):
        def runs_over_half_a_second():
            m = self.tollgate.metrics()
            labels = {"task": "health_checks"}
            return (m.value("tollgate_housekeeping_duration_seconds_count", **labels) -
                    m.value("tollgate_housekeeping_duration_seconds_bucket", le="0.5", **labels))

        failed_before = len(self.check_logs("health check failed"))
        self.checked.configure(fault="hang")
        self.wait_for("a timeout", lambda: len(self.check_logs("health check failed")) > failed_before,
                      UNHEALTHY_TIMEOUT_S)
        line = self.check_logs("health check failed")[-1]
        self.assertEqual((line["provider"], line["reason"], line["status"]), ("checked", "timeout", 0))
        self.assertGreaterEqual(line["seconds"], 0.3)
        self.assertLess(line["seconds"], 0.5)
        self.wait_for("unhealthy", lambda: self.gauge("checked") == 0, UNHEALTHY_TIMEOUT_S)
        time.sleep(1.0)  # more hung checks
        self.assertEqual(runs_over_half_a_second(), 0)
        self.checked.configure(fault="")
        self.wait_for("healthy", lambda: self.gauge("checked") == 1, RECOVERY_TIMEOUT_S)
        self.assertEqual(self.unchecked.stats()["requests"], 0)

    def test_3_reload_turns_checks_off(self):
        before = self.tollgate.stderr().count("configuration reloaded from")
        self.tollgate.write_config(self.config({"enabled": False}))
        self.tollgate.signal(1)  # SIGHUP
        self.wait_for("the reload", lambda: self.tollgate.stderr().count("configuration reloaded from") > before,
                      20)
        time.sleep(0.2)  # a check already under way when the reload landed
        requests = self.checked.stats()["requests"]
        time.sleep(1.2)
        self.assertEqual(self.checked.stats()["requests"], requests)
        self.assertEqual(self.gauge("checked"), 1)


class AnomalyTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.port = free_port()
        cfg = gateway_config(cls.port, [provider("p", cls.mock)], [model("m", [("p", "gpt-4o-mini")])],
                             anomaly={"interval_ms": 300, "warmup_intervals": 3, "min_requests": 5})
        cls.tollgate = cls.start_tollgate(cfg)

    def spikes(self):
        return self.tollgate.metrics().value("tollgate_detected_anomalies_total", type="latency_spike")

    def test_latency_spike_is_detected(self):
        stop = threading.Event()

        def client():
            while not stop.is_set():
                self.tollgate.chat({"model": "m", "max_tokens": 2,
                                    "messages": [{"role": "user", "content": "steady"}]})

        # 8 clients: at 300 ms a request each still fill an interval's
        # min_requests; 300 ms stays far above a loaded machine's baseline.
        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        try:
            time.sleep(2.0)  # warm-up: 3 intervals of 300 ms, and a few more
            before = self.spikes()
            self.mock.configure(latency_ms=300)
            start = time.monotonic()
            while self.spikes() == before:
                self.assertLess(time.monotonic() - start, 10, "no latency_spike counted")
                time.sleep(0.05)
            print("\nlatency_spike counted %.2f s after the mock began answering 300 ms late"
                  % (time.monotonic() - start))
        finally:
            stop.set()
            for t in threads:
                t.join()
        spikes = [r for r in self.tollgate.log_records()
                  if r.get("message") == "anomaly detected" and r.get("type") == "latency_spike"
                  and r["value"] >= 0.25]
        self.assertTrue(spikes, "no warning line for the spike")
        line = spikes[0]
        self.assertEqual((line["logger"], line["level"], line["provider"]), ("health", "warn", "p"))
        self.assertGreater(line["value"], 3 * line["baseline"])
        self.assertGreaterEqual(line["attempts"], 5)
        self.assertAlmostEqual(line["interval_seconds"], 0.3, delta=0.15)


if __name__ == "__main__":
    harness.main()
