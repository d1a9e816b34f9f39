# End-to-end: a circuit breaker per (provider, upstream model) (config: a
# route's `breaker`; docs/gateway-behaviour.md, "Circuit breakers"). One
# mock provider serves two models, routed to upstream models "good" and
# "bad", each route with its own breaker (2 failures open it for 30 s).
# Only requests to "bad" fail: the client sends X-Mock-Status: 503 on
# those, which the provider's forward_headers passes to the mock. The
# "bad" breaker opens and answers 503 at once without reaching the mock,
# while "good" keeps being served and the provider's breaker (3 failures)
# stays closed: a 5xx is the upstream model's failure, not the provider's.

import harness
from harness import GatewayTestCase, free_port, gateway_config, provider

ROUTE_BREAKER = {"failures": 2, "cooldown_ms": 30000}


def body(name):
    return {"model": name, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}


class ModelBreakerTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        providers = [provider("p", cls.mock, breaker={"failures": 3, "cooldown_ms": 30000},
                              forward_headers=["x-mock-status"])]
        models = [{"name": name, "routes": [{"provider": "p", "model": upstream, "breaker": ROUTE_BREAKER}]}
                  for name, upstream in (("good-m", "good"), ("bad-m", "bad"))]
        cls.tollgate = cls.start_tollgate(gateway_config(free_port(), providers, models))

    def provider_health(self):
        health = self.tollgate.request("GET", "/health").json()
        return next(p for p in health["providers"] if p["name"] == "p")

    def test_bad_upstream_model_opens_its_own_breaker_only(self):
        fail = {"X-Mock-Status": "503"}
        for _ in range(2):
            self.assertOpenAIError(self.tollgate.chat(body("bad-m"), fail), 502, "upstream_error",
                                   "upstream_unavailable")
        p = self.provider_health()
        self.assertEqual(p["circuit_breaker"], "closed")
        breakers = {b["upstream_model"]: b for b in p["model_breakers"]}
        self.assertEqual(breakers["bad"]["circuit_breaker"], "open")
        self.assertTrue(25 < breakers["bad"]["next_probe_in_seconds"] <= 30, breakers["bad"])
        self.assertEqual(breakers["good"]["circuit_breaker"], "closed")
        self.assertIsNone(breakers["good"]["next_probe_in_seconds"])

        # "bad" is answered at once, without the mock; "good" is served,
        # more often than the provider's breaker would have allowed failures.
        before = self.mock.stats()["requests"]
        for _ in range(3):
            r = self.tollgate.chat(body("bad-m"), fail)
            self.assertOpenAIError(r, 503, "upstream_error", "all_providers_unavailable")
            self.assertTrue(28 <= int(r.header("Retry-After")) <= 30, r.header("Retry-After"))
            r = self.tollgate.chat(body("good-m"))
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json()["model"], "good")
        self.assertEqual(self.mock.stats()["requests"], before + 3)
        self.assertEqual(self.provider_health()["circuit_breaker"], "closed")

        metrics = self.tollgate.metrics()
        state = "tollgate_provider_model_circuit_breaker_state"
        self.assertEqual(metrics.value(state, provider="p", upstream_model="bad"), 1)
        self.assertEqual(metrics.value(state, provider="p", upstream_model="good"), 0)
        transitions = "tollgate_provider_model_circuit_breaker_transitions_total"
        self.assertEqual(metrics.value(transitions, provider="p", upstream_model="bad",
                                       **{"from": "closed", "to": "open"}), 1)
        self.assertEqual(metrics.find(transitions, provider="p", upstream_model="good"), [])
        self.assertEqual(metrics.value("tollgate_provider_circuit_breaker_transitions_total", provider="p"), 0)


if __name__ == "__main__":
    harness.main()
