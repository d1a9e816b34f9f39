# End-to-end: request IDs, trace context, the access log line and secrets.
# X-Request-ID is echoed or generated; traceparent reaches the provider with
# the client's trace id; the JSON log line carries the contract's fields and
# exact numbers; no key or Authorization value ever reaches a log or
# /metrics; a client that hangs up mid-stream still gets logged and counted.

import json
import re
import secrets
import time

import harness
from harness import (GatewayTestCase, chat_prompt_tokens, cost, free_port, gateway_config,
                     hang_up_mid_stream, LOG_TIMESTAMP, model, provider)

PRICING = {"input": 2.5, "cached_input": 1.25, "output": 10.0}
PROVIDER_SECRET = "sk-e2e-provider-" + secrets.token_hex(12)
CLIENT_SECRET = "sk-e2e-client-" + secrets.token_hex(12)
LOG_FIELDS = ("timestamp", "level", "logger", "message", "request_id", "org_id", "trace_id",
              "method", "path", "status", "latency", "model_used", "model", "provider",
              "attempts", "prompt_tokens", "completion_tokens", "cost", "tokens_estimated",
              "cache_hit", "cache_tier")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def messages(text):
    return [{"role": "user", "content": text}]


class ObservabilityTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cfg = gateway_config(
            free_port(),
            [provider("mock", cls.mock, api_key_env="E2E_PROVIDER_KEY")],
            [model("big", [("mock", "gpt-4o")], PRICING)],
            # debug: the chattiest level is where a leaked secret would show.
            logging={"level": "debug"})
        cls.tollgate = cls.start_tollgate(cfg, env={"E2E_PROVIDER_KEY": PROVIDER_SECRET})

    def tearDown(self):
        self.mock.configure(token_delay_ms=0)

    def test_request_id_is_echoed(self):
        r = self.tollgate.chat({"model": "big", "messages": messages("hi")},
                               {"X-Request-ID": "e2e-echo-1"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("X-Request-ID"), "e2e-echo-1")

    def test_request_id_of_128_chars_is_kept(self):
        rid = "r" * 128
        r = self.tollgate.chat({"model": "big", "messages": messages("hi")}, {"X-Request-ID": rid})
        self.assertEqual(r.header("X-Request-ID"), rid)

    def test_request_id_is_generated(self):
        for headers in ({}, {"X-Request-ID": "x" * 200}):
            r = self.tollgate.chat({"model": "big", "messages": messages("hi")}, headers)
            self.assertRegex(r.header("X-Request-ID") or "", r"^[0-9a-f]{32}$")
        self.assertRegex(self.tollgate.request("GET", "/nope").header("X-Request-ID") or "",
                         r"^[0-9a-f]{32}$")

    def test_traceparent_is_forwarded_and_logged(self):
        trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
        r = self.tollgate.chat({"model": "big", "messages": messages("trace me")},
                               {"traceparent": "00-%s-%s-01" % (trace_id, span_id),
                                "X-Request-ID": "e2e-trace-1"})
        self.assertEqual(r.status, 200, r.body)
        upstream = self.mock.stats()["last_headers"].get("traceparent", "")
        match = TRACEPARENT.match(upstream)
        self.assertTrue(match, upstream)
        self.assertEqual(match.group(1), trace_id)
        self.assertNotEqual(match.group(2), span_id, "tollgate's hop needs its own span id")
        self.assertEqual(self.tollgate.access_log("e2e-trace-1")["trace_id"], trace_id)

    def test_traceparent_is_generated(self):
        r = self.tollgate.chat({"model": "big", "messages": messages("no trace")},
                               {"X-Request-ID": "e2e-trace-2"})
        self.assertEqual(r.status, 200, r.body)
        match = TRACEPARENT.match(self.mock.stats()["last_headers"].get("traceparent", ""))
        self.assertTrue(match)
        self.assertNotEqual(match.group(1), "0" * 32)
        self.assertEqual(self.tollgate.access_log("e2e-trace-2")["trace_id"], match.group(1))

    def test_invalid_traceparent_is_replaced(self):
        r = self.tollgate.chat({"model": "big", "messages": messages("bad trace")},
                               {"traceparent": "00-not-a-trace-01", "X-Request-ID": "e2e-trace-3"})
        self.assertEqual(r.status, 200, r.body)
        match = TRACEPARENT.match(self.mock.stats()["last_headers"].get("traceparent", ""))
        self.assertTrue(match)
        self.assertEqual(self.tollgate.access_log("e2e-trace-3")["trace_id"], match.group(1))

    def test_logged_path_is_truncated(self):
        path = "/" + "p" * 1000
        r = self.tollgate.request("GET", path, headers={"X-Request-ID": "e2e-long-path"})
        self.assertEqual(r.status, 404)
        rec = self.tollgate.access_log("e2e-long-path")
        self.assertEqual(rec["path"], path[:253] + "...")  # 256 bytes, marked as cut
        self.assertEqual(int(rec["status"]), 404)

    def test_access_log_line_fields_and_numbers(self):
        msgs = messages("how many tokens is this")
        r = self.tollgate.chat({"model": "big", "messages": msgs, "max_tokens": 11},
                               {"X-Request-ID": "e2e-log-plain"})
        self.assertEqual(r.status, 200, r.body)
        rec = self.tollgate.access_log("e2e-log-plain")
        self.assertIsNotNone(rec, "no access log line")
        for field in LOG_FIELDS:
            self.assertIn(field, rec)
        self.assertRegex(rec["timestamp"], LOG_TIMESTAMP)
        self.assertEqual(rec["level"].lower(), "info")
        self.assertEqual(rec["logger"], "access")
        self.assertEqual(rec["message"], "request completed")
        self.assertEqual(rec["org_id"], "anonymous")
        self.assertEqual(rec["method"], "POST")
        self.assertEqual(rec["path"], "/v1/chat/completions")
        self.assertEqual(int(rec["status"]), 200)
        self.assertGreater(rec["latency"], 0)
        self.assertLess(rec["latency"], 10)
        self.assertEqual(rec["model"], "big")
        self.assertEqual(rec["model_used"], "gpt-4o")
        self.assertEqual(rec["provider"], "mock")
        self.assertEqual(rec["attempts"], 1)
        prompt = chat_prompt_tokens(msgs)
        self.assertEqual(rec["prompt_tokens"], prompt)
        self.assertEqual(rec["completion_tokens"], 11)
        self.assertAlmostEqual(rec["cost"], cost(PRICING, prompt, 11), places=12)
        self.assertIs(rec["tokens_estimated"], False)
        self.assertIs(rec["cache_hit"], False)
        self.assertIsNone(rec["cache_tier"])

    def test_streamed_log_line_has_ttft(self):
        r = self.tollgate.chat({"model": "big", "messages": messages("stream it"),
                                "max_tokens": 5, "stream": True},
                               {"X-Request-ID": "e2e-log-stream"})
        self.assertEqual(r.status, 200, r.body)
        rec = self.tollgate.access_log("e2e-log-stream")
        self.assertIsNotNone(rec)
        self.assertEqual(rec["completion_tokens"], 5)
        self.assertGreater(rec["ttft"], 0)
        self.assertLessEqual(rec["ttft"], rec["latency"])
        self.assertIs(rec["tokens_estimated"], False)

    def test_every_log_line_is_a_json_object(self):
        self.tollgate.request("GET", "/health")
        lines = [l for l in self.tollgate.logs().splitlines() if l.strip()]
        self.assertTrue(lines)
        for line in lines:
            rec = json.loads(line)
            for field in ("timestamp", "level", "logger", "message"):
                self.assertIn(field, rec, line)
        self.assertTrue(any(rec.get("logger") == "server" and
                            rec.get("message") == "listening on http://127.0.0.1:%d"
                            % self.tollgate.port for rec in self.tollgate.log_records()))

    def test_secrets_never_leak(self):
        r = self.tollgate.chat({"model": "big", "messages": messages("key check")})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.mock.stats()["last_headers"].get("authorization"),
                         "Bearer " + PROVIDER_SECRET)
        # The client's own key is not the provider's and must not be passed on
        # or written anywhere, whether or not the gateway accepts it.
        r = self.tollgate.chat({"model": "big", "messages": messages("client key")},
                               {"Authorization": "Bearer " + CLIENT_SECRET})
        self.assertIn(r.status, (200, 401), r.body)
        self.assertNotEqual(self.mock.stats()["last_headers"].get("authorization"),
                            "Bearer " + CLIENT_SECRET)
        self.tollgate.request("GET", "/v1/models", headers={"Authorization": "Bearer " + CLIENT_SECRET})
        time.sleep(0.2)     # let the access lines land
        everywhere = (self.tollgate.logs() + self.tollgate.metrics().text
                      + self.tollgate.request("GET", "/health").body.decode())
        for secret in (PROVIDER_SECRET, CLIENT_SECRET):
            self.assertNotIn(secret, everywhere)

    def test_client_disconnect_mid_stream_is_logged_and_counted(self):
        self.mock.configure(token_delay_ms=100)
        before = self.tollgate.metrics()
        received = hang_up_mid_stream(self.tollgate.port,
                                      {"model": "big", "messages": messages("go slowly"),
                                       "max_tokens": 40, "stream": True},
                                      {"X-Request-ID": "e2e-hangup"})
        self.assertIn(b" 200 ", received.split(b"\r\n")[0])
        rec = self.tollgate.access_log("e2e-hangup", timeout=10)
        self.assertIsNotNone(rec, "no log line for the disconnected stream")
        self.assertIs(rec["tokens_estimated"], True)
        self.assertGreaterEqual(rec["completion_tokens"], 1)
        self.assertLess(rec["completion_tokens"], 40)
        after = self.tollgate.metrics()
        labels = {"provider": "mock", "model": "big", "operation": "chat",
                  "stream_mode": "streaming", "status": "client_disconnect"}
        self.assertEqual(after.value("tollgate_llm_requests_total", **labels)
                         - before.value("tollgate_llm_requests_total", **labels), 1)
        tokens = {"provider": "mock", "model": "big", "type": "completion"}
        self.assertEqual(after.value("tollgate_llm_tokens_total", **tokens)
                         - before.value("tollgate_llm_tokens_total", **tokens),
                         rec["completion_tokens"])


class LogFormatTest(GatewayTestCase):
    """LOG_FORMAT=json overrides a config asking for text."""

    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cfg = gateway_config(free_port(), [provider("mock", cls.mock)],
                             [model("big", [("mock", "gpt-4o")], PRICING)],
                             logging={"format": "text"})
        cls.tollgate = cls.start_tollgate(cfg, env={"LOG_FORMAT": "json"})

    def test_env_overrides_config(self):
        r = self.tollgate.chat({"model": "big", "messages": messages("hi")},
                               {"X-Request-ID": "e2e-env-json"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(int(self.tollgate.access_log("e2e-env-json")["status"]), 200)


class TextLogTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cfg = gateway_config(free_port(), [provider("mock", cls.mock)],
                             [model("big", [("mock", "gpt-4o")], PRICING)],
                             logging={"format": "text"})
        cls.tollgate = cls.start_tollgate(cfg)

    def test_text_line_shape(self):
        r = self.tollgate.chat({"model": "big", "messages": messages("hi")},
                               {"X-Request-ID": "e2e-text-1"})
        self.assertEqual(r.status, 200, r.body)
        pattern = re.compile(r"^\S+ \S+ access: request completed .*\brequest_id=e2e-text-1\b")
        deadline = time.time() + 5
        while not any(pattern.match(l) for l in self.tollgate.logs().splitlines()):
            self.assertLess(time.time(), deadline, self.tollgate.logs()[-2000:])
            time.sleep(0.05)


if __name__ == "__main__":
    harness.main()
