# End-to-end: every bad-input case gets its documented OpenAI-style error
# and status, is counted in api_errors_total with the documented labels,
# never leaks a client-invented name into /metrics, and leaves the gateway
# healthy.

import harness
from harness import GatewayTestCase, free_port, gateway_config, model, provider

MAX_BODY = 4096
CONFIGURED_MODELS = {"gpt-4o-mini", "text-embedding-3-small"}
CHAT = "/v1/chat/completions"


class BadInputTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cfg = gateway_config(free_port(), [provider("mock", cls.mock)], [
            model("gpt-4o-mini", [("mock", "gpt-4o-mini")]),
            model("text-embedding-3-small", [("mock", "text-embedding-3-small")]),
        ], server={"max_body_bytes": MAX_BODY})
        cls.tollgate = cls.start_tollgate(cfg)

    def tearDown(self):
        # Whatever the bad input was, the gateway still serves good input.
        self.assertEqual(self.tollgate.request("GET", "/health").status, 200)
        ok = self.tollgate.chat({"model": "gpt-4o-mini",
                                 "messages": [{"role": "user", "content": "still alive?"}]})
        self.assertEqual(ok.status, 200, ok.body)

    def check(self, method, path, body, status, code, template, err_type="invalid_request_error",
              headers=None):
        before = self.tollgate.metrics()
        r = self.tollgate.request(method, path, body, headers)
        self.assertOpenAIError(r, status, err_type, code)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        after = self.tollgate.metrics()
        labels = {"error_type": err_type, "error_code": code, "path": template}
        self.assertEqual(after.value("tollgate_api_errors_total", **labels)
                         - before.value("tollgate_api_errors_total", **labels), 1,
                         "api_errors_total%r" % labels)
        http = {"method": method, "path": template, "status": str(status)}
        self.assertEqual(after.value("tollgate_http_requests_total", **http)
                         - before.value("tollgate_http_requests_total", **http), 1,
                         "http_requests_total%r" % http)
        return r, after

    def test_malformed_json(self):
        self.check("POST", CHAT, b'{"model": "gpt-4o-mini", "messages": [', 400,
                   "invalid_json", CHAT)

    def test_json_that_is_not_an_object(self):
        self.check("POST", CHAT, b'[1, 2, 3]', 400, "invalid_json", CHAT)

    def test_empty_body(self):
        self.check("POST", CHAT, b"", 400, "invalid_json", CHAT)

    def test_binary_garbage(self):
        self.check("POST", "/v1/embeddings", bytes(range(256)) * 4, 400, "invalid_json",
                   "/v1/embeddings")

    def test_missing_model(self):
        self.check("POST", CHAT, {"messages": [{"role": "user", "content": "hi"}]}, 400,
                   "missing_model", CHAT)

    def test_non_string_model(self):
        self.check("POST", CHAT, {"model": 42, "messages": []}, 400, "missing_model", CHAT)
        self.check("POST", "/v1/embeddings", {"model": None, "input": "x"}, 400,
                   "missing_model", "/v1/embeddings")

    def test_missing_messages_or_input(self):
        self.check("POST", CHAT, {"model": "gpt-4o-mini"}, 400, "invalid_request", CHAT)
        self.check("POST", CHAT, {"model": "gpt-4o-mini", "messages": "hi"}, 400,
                   "invalid_request", CHAT)
        self.check("POST", "/v1/embeddings", {"model": "text-embedding-3-small"}, 400,
                   "invalid_request", "/v1/embeddings")

    def test_body_over_limit(self):
        filler = "word " * (MAX_BODY // 4)
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": filler}]}
        self.check("POST", CHAT, body, 413, "body_too_large", CHAT)

    def test_unknown_model_is_never_a_label(self):
        invented = "secret-model-e2e-7f3a9c"
        mock_before = self.mock.stats()["chat"]
        r, after = self.check("POST", CHAT, {"model": invented, "messages": [
            {"role": "user", "content": "hi"}]}, 404, "model_not_found", CHAT)
        self.assertEqual(self.mock.stats()["chat"], mock_before, "must not reach a provider")
        self.assertNotIn(invented, after.text)
        for sample in after.samples:
            if "model" in sample.labels:
                self.assertIn(sample.labels["model"], CONFIGURED_MODELS | {"other"}, sample)

    def test_unknown_path(self):
        invented = "/v1/nothing-here-e2e-51d2"
        r, after = self.check("GET", invented, None, 404, "not_found", "other")
        self.assertNotIn(invented, after.text)
        self.check("POST", "/v2/chat/completions", {"model": "gpt-4o-mini"}, 404,
                   "not_found", "other")

    def test_wrong_method(self):
        r, _ = self.check("GET", CHAT, None, 405, "method_not_allowed", CHAT)
        self.assertIn("POST", r.header("Allow") or "")
        r, _ = self.check("DELETE", "/metrics", None, 405, "method_not_allowed", "/metrics")
        self.assertIn("GET", r.header("Allow") or "")
        r, _ = self.check("POST", "/v1/models", {}, 405, "method_not_allowed", "/v1/models")
        self.assertIn("GET", r.header("Allow") or "")


if __name__ == "__main__":
    harness.main()
