# End-to-end: every bad-input case gets its documented OpenAI-style error
# and status, is counted in api_errors_total with the documented labels,
# never leaks a client-invented name into /metrics, and leaves the gateway
# healthy.

import http.client
import json
import socket
import time

import harness
from harness import (GatewayTestCase, free_port, gateway_config, model, provider,
                     unbounded_labels)

MAX_BODY = 4096
HEADER_TIMEOUT_MS = 500
CONFIGURED_MODELS = {"gpt-4o-mini", "text-embedding-3-small"}
CHAT = "/v1/chat/completions"


def raw_get(port, target):
    """GET with the request target sent as the given bytes (http.client
    wants ASCII); returns (status, body) of the one response."""
    received = harness.send_and_read_all(
        port, b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


class BadInputTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cfg = gateway_config(free_port(), [provider("mock", cls.mock)], [
            model("gpt-4o-mini", [("mock", "gpt-4o-mini")]),
            model("text-embedding-3-small", [("mock", "text-embedding-3-small")]),
        ], server={"max_body_bytes": MAX_BODY, "header_timeout_ms": HEADER_TIMEOUT_MS})
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

    def test_chunked_body_over_limit(self):
        """No Content-Length to check up front: the limit still holds."""
        def body():
            yield b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
            for _ in range(MAX_BODY // 100 + 2):
                yield b"word " * 20
            yield b'"}]}'
        before = self.tollgate.metrics()
        conn = http.client.HTTPConnection("127.0.0.1", self.tollgate.port, timeout=10)
        try:
            conn.request("POST", CHAT, body=body(), encode_chunked=True,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            r = harness.Response(resp.status, {k.lower(): v for k, v in resp.getheaders()},
                                 resp.read())
        finally:
            conn.close()
        self.assertOpenAIError(r, 413, "invalid_request_error", "body_too_large")
        labels = {"error_type": "invalid_request_error", "error_code": "body_too_large",
                  "path": CHAT}
        self.assertEqual(self.tollgate.metrics().value("tollgate_api_errors_total", **labels)
                         - before.value("tollgate_api_errors_total", **labels), 1)

    def test_unknown_model_is_never_a_label(self):
        invented = "secret-model-e2e-7f3a9c"
        mock_before = self.mock.stats()["chat"]
        r, after = self.check("POST", CHAT, {"model": invented, "messages": [
            {"role": "user", "content": "hi"}]}, 404, "model_not_found", CHAT)
        self.assertEqual(self.mock.stats()["chat"], mock_before, "must not reach a provider")
        self.assertNotIn(invented, after.text)
        self.assertEqual(unbounded_labels(after, ["mock"], CONFIGURED_MODELS), [])

    def test_unknown_path(self):
        invented = "/v1/nothing-here-e2e-51d2"
        r, after = self.check("GET", invented, None, 404, "not_found", "other")
        self.assertNotIn(invented, after.text)
        self.check("POST", "/v2/chat/completions", {"model": "gpt-4o-mini"}, 404,
                   "not_found", "other")

    def test_unknown_metrics_category_is_named(self):
        """The 404 names the category asked for, in valid JSON whatever
        bytes it holds: invalid UTF-8 shows as U+FFFD, and a character cut
        by the 64-byte echo limit is left out whole."""
        template = "/prometheus/metrics/{category}"
        for path, asked in (("/prometheus/metrics/bogus-e2e", "bogus-e2e"),
                            ("/prometheus/metrics/summary?category=nope", "nope")):
            r, _ = self.check("GET", path, None, 404, "not_found", template)
            self.assertIn('category "%s";' % asked, r.json()["error"]["message"])
        for raw, shown in ((b"\xff\xfe", "\ufffd\ufffd"),
                           (b"a" * 63 + "\u00e9".encode(), "a" * 63 + "...")):
            for target in (b"/prometheus/metrics/summary?category=" + raw,
                           b"/prometheus/metrics/" + raw):
                status, body = raw_get(self.tollgate.port, target)
                self.assertEqual(status, 404, body)
                err = json.loads(body)["error"]   # strict: the body must be UTF-8
                self.assertEqual(err["code"], "not_found")
                self.assertIn('category "%s";' % shown, err["message"])

    def test_slow_headers_are_cut_off(self):
        """A client that never finishes its request head (slowloris) loses
        the connection after header_timeout_ms, with at most a 408."""
        with socket.create_connection(("127.0.0.1", self.tollgate.port), timeout=10) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            started = time.monotonic()
            received = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                received += chunk
            elapsed = time.monotonic() - started
        self.assertLess(elapsed, HEADER_TIMEOUT_MS / 1000.0 + 3)
        self.assertTrue(received == b"" or received.startswith(b"HTTP/1.1 408"), received)

    def test_wrong_method(self):
        r, _ = self.check("GET", CHAT, None, 405, "method_not_allowed", CHAT)
        self.assertIn("POST", r.header("Allow") or "")
        r, _ = self.check("DELETE", "/metrics", None, 405, "method_not_allowed", "/metrics")
        self.assertIn("GET", r.header("Allow") or "")
        r, _ = self.check("POST", "/v1/models", {}, 405, "method_not_allowed", "/v1/models")
        self.assertIn("GET", r.header("Allow") or "")


class AuthRequiredTest(GatewayTestCase):
    """allow_anonymous off, no key issued: every API request is refused
    before it reaches a provider; health and metrics stay open."""

    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock)],
            [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])],
            auth={"allow_anonymous": False}))

    def test_missing_or_unknown_key_gets_401(self):
        labels = {"error_type": "authentication_error", "error_code": "invalid_api_key",
                  "path": CHAT}
        before = self.tollgate.metrics()
        for headers in ({}, {"Authorization": "Bearer sk-not-a-key"}, {"Authorization": "Basic x"}):
            r = self.tollgate.chat({"model": "gpt-4o-mini",
                                    "messages": [{"role": "user", "content": "hi"}]}, headers)
            self.assertOpenAIError(r, 401, "authentication_error", "invalid_api_key")
        after = self.tollgate.metrics()
        self.assertEqual(after.value("tollgate_api_errors_total", **labels)
                         - before.value("tollgate_api_errors_total", **labels), 3)
        self.assertEqual(self.mock.stats()["chat"], 0)
        self.assertNotIn("sk-not-a-key", self.tollgate.logs() + after.text)
        self.assertEqual(self.tollgate.request("GET", "/health").status, 200)


if __name__ == "__main__":
    harness.main()
