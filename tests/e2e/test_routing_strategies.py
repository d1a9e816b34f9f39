# End-to-end: routing strategies per model (docs/gateway-behaviour.md,
# "Routing, retries, fallback") through the real gateway and two mock-llm
# providers, counted at each mock's /mock/stats: lowest_latency sends the
# bulk of the traffic to the faster mock, weighted 3:1 splits about 3:1,
# and priority (the default) sends everything to the first route. Each
# model routes through its own provider names, so no case's latency or
# health counts against another's.

import harness
from harness import GatewayTestCase, free_port, gateway_config, model, provider


class RoutingStrategiesTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.slow = cls.start_mock()
        cls.fast = cls.start_mock()
        providers, models = [], []
        for case, strategy in (("priority", None), ("latency", "lowest_latency"), ("weighted", "weighted")):
            providers.append(provider("slow-" + case, cls.slow))
            providers.append(provider("fast-" + case, cls.fast))
            m = model("m-" + case, [("slow-" + case, "gpt-4o-mini"), ("fast-" + case, "gpt-4o-mini")])
            if strategy:
                m["strategy"] = strategy
            if case == "weighted":
                m["routes"][0]["weight"] = 3
            models.append(m)
        cls.tollgate = cls.start_tollgate(gateway_config(free_port(), providers, models))

    def setUp(self):
        self.slow.configure(latency_ms=0)

    def send(self, case, n):
        """n requests to m-<case>; how many each mock got."""
        before = (self.slow.stats()["chat"], self.fast.stats()["chat"])
        for _ in range(n):
            r = self.tollgate.chat({"model": "m-" + case, "max_tokens": 2,
                                    "messages": [{"role": "user", "content": "hi"}]})
            self.assertEqual(r.status, 200, r.body)
        return self.slow.stats()["chat"] - before[0], self.fast.stats()["chat"] - before[1]

    def test_priority_sends_all_to_the_first_route(self):
        self.slow.configure(latency_ms=100)
        self.assertEqual(self.send("priority", 10), (10, 0))

    def test_lowest_latency_prefers_the_faster_provider(self):
        # The slow mock is first by priority; once both are measured the
        # fast one takes the traffic. Unmeasured providers go first, so the
        # slow one gets the first request (and would get another only when
        # its peak decays below the fast one's: tens of seconds).
        self.slow.configure(latency_ms=150)
        slow, fast = self.send("latency", 30)
        self.assertEqual(slow + fast, 30)
        self.assertLessEqual(slow, 2, (slow, fast))

    def test_weighted_splits_by_weight(self):
        slow, fast = self.send("weighted", 400)
        self.assertEqual(slow + fast, 400)
        # 3:1 -> 300 expected, standard deviation 8.7; 4 of them either way.
        self.assertTrue(265 <= slow <= 335, (slow, fast))


if __name__ == "__main__":
    harness.main()
