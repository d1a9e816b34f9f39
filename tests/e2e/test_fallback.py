# End-to-end: retries and fallback. A primary mock-llm is switched between
# faults at run time (/mock/config); a backup mock answers normally unless a
# test breaks it too. Each case routes through its own pair of provider
# names (both pointing at the same two mocks) so that one case's failures
# never count against another's provider (circuit breakers, health).

import http.client
import json
import time

import harness
from harness import (GatewayTestCase, chat_content, free_port, gateway_config,
                     model, provider, sse_events, unbounded_labels)

PRIMARY_TIMEOUT_MS = 400
CASES = ("s503", "reset", "hang", "r429", "malformed", "truncate", "failfirst", "stream",
         "cut", "all502", "all429", "all504")


class FallbackTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.primary = cls.start_mock()
        cls.backup = cls.start_mock()
        providers, models = [], []
        for case in CASES:
            providers.append(provider("primary-" + case, cls.primary, max_retries=1,
                                      retry_backoff_ms=10, timeout_ms=PRIMARY_TIMEOUT_MS))
            providers.append(provider("backup-" + case, cls.backup, max_retries=0,
                                      timeout_ms=PRIMARY_TIMEOUT_MS))
            models.append(model("m-" + case, [("primary-" + case, "gpt-4o-mini"),
                                              ("backup-" + case, "gpt-4o-mini")]))
        cls.provider_names = [p["name"] for p in providers]
        cls.model_names = [m["name"] for m in models]
        cls.tollgate = cls.start_tollgate(gateway_config(free_port(), providers, models))

    def setUp(self):
        for m in (self.primary, self.backup):
            m.reset()

    def body(self, case, **extra):
        return harness.case_body(case, **extra)

    def run_fallback(self, case, reason, **extra):
        """Primary already broken: the request must retry once on it, then
        be answered by the backup, and say so."""
        before = self.tollgate.metrics()
        backup_before = self.backup.stats()["chat"]
        r = self.tollgate.chat(self.body(case, **extra), {"X-Request-ID": "e2e-fb-" + case})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("X-Tollgate-Provider"), "backup-" + case)
        self.assertEqual(r.header("X-Tollgate-Fallback"), "primary-%s->backup-%s" % (case, case))
        self.assertEqual(r.header("X-Tollgate-Attempts"), "3")
        self.assertEqual(self.backup.stats()["chat"] - backup_before, 1)
        after = self.tollgate.metrics()
        fallbacks = {"from": "primary-" + case, "to": "backup-" + case}
        self.assertEqual(after.value("tollgate_llm_fallbacks_total", **fallbacks)
                         - before.value("tollgate_llm_fallbacks_total", **fallbacks), 1)
        # reason None: the contract leaves the reason open, any one will do.
        retries = {"provider": "primary-" + case}
        if reason is not None:
            retries["reason"] = reason
        self.assertEqual(after.value("tollgate_llm_retries_total", **retries)
                         - before.value("tollgate_llm_retries_total", **retries), 1)
        self.assertEqual(unbounded_labels(after, self.provider_names, self.model_names), [])
        # Tokens are the backup's, never the failed primary's.
        self.assertEqual(after.value("tollgate_llm_tokens_total", provider="primary-" + case), 0)
        self.assertEqual(after.value("tollgate_llm_tokens_total", provider="backup-" + case,
                                     type="completion"), 4)
        rec = self.tollgate.access_log("e2e-fb-" + case)
        self.assertEqual((rec["provider"], rec["attempts"], rec["completion_tokens"]),
                         ("backup-" + case, 3, 4))
        return r

    def test_503_falls_back(self):
        self.primary.configure(status=503)
        r = self.run_fallback("s503", "status_5xx")
        self.assertEqual(r.json()["choices"][0]["message"]["content"], chat_content(4))

    def test_reset_falls_back(self):
        self.primary.configure(fault="reset")
        self.run_fallback("reset", "reset")

    def test_hang_falls_back_after_timeout(self):
        self.primary.configure(fault="hang")
        started = time.monotonic()
        self.run_fallback("hang", "timeout")
        # Two attempts on the primary, each cut at its timeout.
        self.assertGreaterEqual(time.monotonic() - started, 2 * PRIMARY_TIMEOUT_MS / 1000.0)

    def test_429_falls_back(self):
        self.primary.configure(status=429, retry_after=0)
        self.run_fallback("r429", "status_429")

    def test_malformed_body_falls_back(self):
        self.primary.configure(fault="malformed")
        self.run_fallback("malformed", "bad_response")

    def test_truncated_body_falls_back(self):
        # Half a JSON body, then the connection closes: garbage or a reset,
        # either way nothing reached the client yet.
        self.primary.configure(fault="truncate")
        self.run_fallback("truncate", None)

    def test_stream_cut_after_first_byte_is_not_retried(self):
        """Once chunks went to the client there is no going back: the
        client sees the cut stream, nobody else is asked."""
        self.primary.configure(fault="truncate")
        before = self.tollgate.metrics()
        backup_before = self.backup.stats()["chat"]
        conn = http.client.HTTPConnection("127.0.0.1", self.tollgate.port, timeout=10)
        try:
            conn.request("POST", "/v1/chat/completions",
                         json.dumps(self.body("cut", max_tokens=8, stream=True)),
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.getheader("X-Tollgate-Provider"), "primary-cut")
            self.assertIsNone(resp.getheader("X-Tollgate-Fallback"))
            try:
                body = resp.read()
            except http.client.IncompleteRead as cut:
                body = cut.partial
        finally:
            conn.close()
        events = sse_events(body)
        self.assertNotIn("[DONE]", events)
        self.assertTrue(0 < len(events) < 8, events)
        self.assertEqual(self.backup.stats()["chat"], backup_before)
        after = self.tollgate.metrics()
        self.assertEqual(after.value("tollgate_llm_fallbacks_total", **{"from": "primary-cut"}), 0)
        self.assertEqual(after.value("tollgate_llm_retries_total", provider="primary-cut"), 0)
        labels = {"provider": "primary-cut", "model": "m-cut", "status": "error"}
        self.assertEqual(after.value("tollgate_llm_requests_total", **labels)
                         - before.value("tollgate_llm_requests_total", **labels), 1)

    def test_streamed_request_falls_back_before_first_byte(self):
        self.primary.configure(status=503)
        r = self.run_fallback("stream", "status_5xx", stream=True)
        events = sse_events(r.body)
        self.assertEqual(events[-1], "[DONE]")
        self.assertEqual(len(events), 4 + 2)

    def test_retry_on_same_provider_succeeds(self):
        self.primary.configure(status=503, fail_first=1)
        before = self.tollgate.metrics()
        r = self.tollgate.chat(self.body("failfirst"))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("X-Tollgate-Provider"), "primary-failfirst")
        self.assertEqual(r.header("X-Tollgate-Attempts"), "2")
        self.assertIsNone(r.header("X-Tollgate-Fallback"))
        after = self.tollgate.metrics()
        retries = {"provider": "primary-failfirst", "reason": "status_5xx"}
        self.assertEqual(after.value("tollgate_llm_retries_total", **retries)
                         - before.value("tollgate_llm_retries_total", **retries), 1)
        self.assertEqual(after.value("tollgate_llm_fallbacks_total", **{"from": "primary-failfirst"}), 0)

    def run_all_fail(self, case, expected_status, err_type, code, faults):
        for m in (self.primary, self.backup):
            m.configure(**faults)
        before = self.tollgate.metrics()
        r = self.tollgate.chat(self.body(case))
        self.assertOpenAIError(r, expected_status, err_type, code)
        self.assertEqual(r.header("X-Tollgate-Attempts"), "3")
        after = self.tollgate.metrics()
        labels = {"error_type": err_type, "error_code": code, "path": "/v1/chat/completions"}
        self.assertEqual(after.value("tollgate_api_errors_total", **labels)
                         - before.value("tollgate_api_errors_total", **labels), 1)
        self.assertEqual(unbounded_labels(after, self.provider_names, self.model_names), [])
        # Still healthy, and serving again once the providers recover.
        self.setUp()
        self.assertEqual(self.tollgate.request("GET", "/health").status, 200)
        self.assertEqual(self.tollgate.chat(self.body("s503")).status, 200)

    def test_all_providers_failing_gives_502(self):
        self.run_all_fail("all502", 502, "upstream_error", "upstream_unavailable",
                          {"status": 503})

    def test_all_providers_rate_limited_gives_429(self):
        self.run_all_fail("all429", 429, "rate_limit_error", "upstream_rate_limited",
                          {"status": 429, "retry_after": 0})

    def test_all_providers_timing_out_gives_504(self):
        self.run_all_fail("all504", 504, "upstream_error", "upstream_timeout",
                          {"fault": "hang"})


if __name__ == "__main__":
    harness.main()
