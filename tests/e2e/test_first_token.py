# End-to-end: the first-token deadline (a provider's first_token_timeout_ms)
# moves a request on to the next route while nothing has reached the
# client; a stream that breaks after it did ends with an SSE error event;
# an error's access line says what failed on each route.
#
# mock-llm "slow" is given its fault per test (/mock/config); "fast" always
# answers. Each case has its own provider names, so that one case's
# failures never count against another's provider (breakers, health).

import http.client
import json
import time

import harness
from harness import (GatewayTestCase, free_port, gateway_config, model, provider, sse_events)

DEADLINE_MS = 500
SLOW_MS = 5000
CASES = ("plain", "stream", "role", "roleok", "last", "why", "broken")


class FirstTokenTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.slow = cls.start_mock()
        cls.fast = cls.start_mock()
        providers, models = [], []
        for case in CASES:
            # max_retries 1: the deadline must not retry the slow route
            providers.append(provider("slow-" + case, cls.slow, max_retries=1, timeout_ms=10000,
                                      first_token_timeout_ms=DEADLINE_MS))
            providers.append(provider("fast-" + case, cls.fast))
        # every route slow: the last one's deadline ends the request
        providers.append(provider("slow2-last", cls.slow, timeout_ms=10000, first_token_timeout_ms=DEADLINE_MS))
        # nobody listens there: a connect error
        providers.append({"name": "dead-why", "base_url": "http://127.0.0.1:%d/v1" % free_port(),
                          "timeout_ms": 2000, "max_retries": 0})
        for case in CASES:
            second = {"last": "slow2-last", "why": "dead-why", "broken": None}.get(case, "fast-" + case)
            first = "fast-broken" if case == "broken" else "slow-" + case
            models.append(model("m-" + case, [(first, "gpt-4o-mini")]
                                + ([(second, "gpt-4o-mini")] if second else [])))
        cls.tollgate = cls.start_tollgate(gateway_config(free_port(), providers, models))

    def setUp(self):
        for m in (self.slow, self.fast):
            m.reset()

    def body(self, case, **extra):
        return harness.case_body(case, **extra)

    def timed_chat(self, case, **extra):
        rid = "e2e-ftt-%s-%d" % (case, time.monotonic_ns())
        started = time.monotonic()
        r = self.tollgate.chat(self.body(case, **extra), {"X-Request-ID": rid})
        return r, time.monotonic() - started, rid

    def assert_failed_over(self, case, r, elapsed, rid):
        self.assertEqual(r.status, 200, r.body)
        self.assertLess(elapsed, 1.0)
        self.assertEqual(r.header("X-Tollgate-Provider"), "fast-" + case)
        self.assertEqual(r.header("X-Tollgate-Fallback"), "slow-%s->fast-%s" % (case, case))
        self.assertEqual(r.header("X-Tollgate-Attempts"), "2")  # no retry on the slow route
        rec = self.tollgate.access_log(rid)
        self.assertEqual((rec["status"], rec["provider"], rec["upstream_failures"]),
                         (200, "fast-" + case, "slow-%s:timeout" % case))
        m = self.tollgate.metrics()
        self.assertEqual(m.value("tollgate_llm_fallbacks_total", **{"from": "slow-" + case}), 1)
        self.assertEqual(m.value("tollgate_llm_retries_total", provider="slow-" + case), 0)
        return rec

    def test_slow_plain_answer_goes_to_next_route(self):
        self.slow.configure(latency_ms=SLOW_MS)
        r, elapsed, rid = self.timed_chat("plain")
        self.assert_failed_over("plain", r, elapsed, rid)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "tok1 tok2 tok3 tok4")
        print("plain: B's answer after %.3f s (A's head due at %d ms, deadline %d ms)"
              % (elapsed, SLOW_MS, DEADLINE_MS))

    def test_slow_stream_head_goes_to_next_route(self):
        self.slow.configure(latency_ms=SLOW_MS)
        r, elapsed, rid = self.timed_chat("stream", stream=True)
        self.assert_failed_over("stream", r, elapsed, rid)
        events = sse_events(r.body)
        self.assertEqual((len(events), events[-1]), (4 + 2, "[DONE]"))
        print("stream, late head: B's whole stream after %.3f s" % elapsed)

    def test_role_chunk_then_slow_content_goes_to_next_route(self):
        """The head and a role-only chunk came at once, the first content
        would come 5 s later: nothing of it may have reached the client."""
        self.slow.configure(fault="role_chunk", token_delay_ms=SLOW_MS)
        r, elapsed, rid = self.timed_chat("role", stream=True)
        self.assert_failed_over("role", r, elapsed, rid)
        events = sse_events(r.body)
        # B's stream alone: no role chunk of A's before it
        self.assertEqual((len(events), events[-1]), (4 + 2, "[DONE]"))
        first = json.loads(events[0])["choices"][0]["delta"]
        self.assertEqual(first, {"role": "assistant", "content": "tok1"})
        print("stream, role chunk then 5 s: B's whole stream after %.3f s" % elapsed)

    def test_held_role_chunk_goes_out_with_the_first_content(self):
        self.slow.configure(fault="role_chunk", token_delay_ms=100)
        r, elapsed, rid = self.timed_chat("roleok", stream=True)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("X-Tollgate-Provider"), "slow-roleok")
        self.assertIsNone(r.header("X-Tollgate-Fallback"))
        events = sse_events(r.body)
        self.assertEqual((len(events), events[-1]), (1 + 4 + 2, "[DONE]"))
        self.assertEqual(json.loads(events[0])["choices"][0]["delta"],
                         {"role": "assistant", "content": "", "refusal": None})
        rec = self.tollgate.access_log(rid)
        self.assertEqual((rec["llm_status"], rec["upstream_failures"]), ("success", None))

    def test_every_route_late_gives_504_saying_why(self):
        self.slow.configure(latency_ms=SLOW_MS)
        r, elapsed, rid = self.timed_chat("last")
        self.assertOpenAIError(r, 504, "upstream_error", "upstream_timeout")
        self.assertLess(elapsed, 2 * DEADLINE_MS / 1000.0 + 0.5)
        self.assertEqual(r.header("X-Tollgate-Attempts"), "2")
        rec = self.tollgate.access_log(rid)
        self.assertEqual((rec["status"], rec["level"], rec["upstream_failures"]),
                         (504, "warn", "slow-last:timeout,slow2-last:timeout"))

    def test_502_access_line_says_why(self):
        self.slow.configure(status=503)
        r, _, rid = self.timed_chat("why")
        self.assertOpenAIError(r, 502, "upstream_error", "upstream_unavailable")
        rec = self.tollgate.access_log(rid)
        self.assertEqual((rec["status"], rec["upstream_failures"]),
                         (502, "slow-why:status_5xx,dead-why:connect"))

    def test_stream_broken_after_content_ends_with_error_event(self):
        self.fast.configure(fault="truncate")
        before = self.tollgate.metrics()
        rid = "e2e-ftt-broken"
        conn = http.client.HTTPConnection("127.0.0.1", self.tollgate.port, timeout=10)
        try:
            conn.request("POST", "/v1/chat/completions", json.dumps(self.body("broken", max_tokens=8, stream=True)),
                         {"Content-Type": "application/json", "X-Request-ID": rid})
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            try:
                body = resp.read()
            except http.client.IncompleteRead as cut:
                body = cut.partial
        finally:
            conn.close()
        events = sse_events(body)
        self.assertNotIn("[DONE]", events)
        self.assertEqual(len(events), 4 + 1, events)  # half the 8 tokens, then the error
        self.assertEqual(json.loads(events[-2])["choices"][0]["delta"]["content"], " tok4")
        err = json.loads(events[-1])
        self.assertEqual(set(err), {"error"})
        self.assertEqual({k: err["error"][k] for k in ("type", "param", "code")},
                         {"type": "upstream_error", "param": None, "code": "upstream_stream_broken"})
        self.assertIn("incomplete", err["error"]["message"])
        after = self.tollgate.metrics()
        for family, labels in (("tollgate_llm_requests_total", {"provider": "fast-broken", "status": "error"}),
                               ("tollgate_api_errors_total", {"error_code": "upstream_stream_broken",
                                                              "error_type": "upstream_error"})):
            self.assertEqual(after.value(family, **labels) - before.value(family, **labels), 1, family)
        rec = self.tollgate.access_log(rid)
        self.assertEqual((rec["status"], rec["llm_status"]), (200, "error"))
        self.assertIn(rec["upstream_failures"], ("fast-broken:reset", "fast-broken:bad_response"))


if __name__ == "__main__":
    harness.main()
