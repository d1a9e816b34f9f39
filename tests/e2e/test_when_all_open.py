# End-to-end: what a model does when every route's circuit breaker is open
# (docs/gateway-behaviour.md, "Circuit breakers"; config `when_all_open`).
# Each model here has one route, on its own provider, whose breaker opens
# after 2 failures and would stay open 30 s. `fail` (the default) answers
# 503 at once and the provider sees nothing; `probe` sends each request to
# the provider as its breaker's half-open probe, so the client gets the
# provider's answer: a 502 while it fails (the breaker reopens), then,
# once the provider heals, a 200 that closes the breaker.

import harness
from harness import GatewayTestCase, free_port, gateway_config, model, provider

BREAKER = {"failures": 2, "cooldown_ms": 30000}


def body(name):
    return {"model": name, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}


class WhenAllOpenTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.f = cls.start_mock()
        cls.p = cls.start_mock()
        providers = [provider("f", cls.f, breaker=BREAKER), provider("p", cls.p, breaker=BREAKER)]
        failing = model("failing", [("f", "gpt-4o-mini")])
        failing["when_all_open"] = "fail"
        probing = model("probing", [("p", "gpt-4o-mini")])
        probing["when_all_open"] = "probe"
        cls.tollgate = cls.start_tollgate(gateway_config(free_port(), providers, [failing, probing]))

    def breaker(self, name):
        health = self.tollgate.request("GET", "/health").json()
        return next(p for p in health["providers"] if p["name"] == name)["circuit_breaker"]

    def open_breaker(self, mock, name, model_name):
        mock.configure(status=503)
        for _ in range(2):
            self.assertOpenAIError(self.tollgate.chat(body(model_name)), 502, "upstream_error",
                                   "upstream_unavailable")
        self.assertEqual(self.breaker(name), "open")

    def test_fail_answers_503_at_once(self):
        self.open_breaker(self.f, "f", "failing")
        before = self.f.stats()["requests"]
        r = self.tollgate.chat(body("failing"))
        self.assertOpenAIError(r, 503, "upstream_error", "all_providers_unavailable")
        self.assertTrue(28 <= int(r.header("Retry-After")) <= 30, r.header("Retry-After"))
        self.assertEqual(self.f.stats()["requests"], before)
        self.assertEqual(self.breaker("f"), "open")

    def test_probe_reaches_the_provider_and_a_healed_one_closes(self):
        self.open_breaker(self.p, "p", "probing")
        metrics = self.tollgate.metrics()
        opened = metrics.value("tollgate_provider_circuit_breaker_transitions_total",
                               provider="p", **{"from": "open", "to": "half_open"})
        before = self.p.stats()["requests"]
        for i in range(3):      # still failing: each request is a probe, and reopens it
            self.assertOpenAIError(self.tollgate.chat(body("probing")), 502, "upstream_error",
                                   "upstream_unavailable")
            self.assertEqual(self.p.stats()["requests"], before + i + 1)
            self.assertEqual(self.breaker("p"), "open")
        self.p.configure(status=0)
        r = self.tollgate.chat(body("probing"))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("X-Tollgate-Provider"), "p")
        self.assertEqual(self.p.stats()["requests"], before + 4)
        self.assertEqual(self.breaker("p"), "closed")
        after = self.tollgate.metrics()
        self.assertEqual(after.value("tollgate_provider_circuit_breaker_transitions_total",
                                     provider="p", **{"from": "open", "to": "half_open"}) - opened, 4)
        self.assertEqual(after.value("tollgate_provider_circuit_breaker_transitions_total",
                                     provider="p", **{"from": "half_open", "to": "closed"}), 1)


if __name__ == "__main__":
    harness.main()
