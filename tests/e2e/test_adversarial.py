# End-to-end: hostile upstreams. A raw-socket fake provider in this process
# answers each request with canned bytes chosen by the upstream model name
# of the route, so every shape of broken response (impossible status codes,
# endless informational heads, usage numbers that contradict each other)
# reaches the real tollgate. The bar: a clear error or a bounded result,
# never a crash, and never a metric that breaks the contract.

import json
import re
import socket
import threading

import harness
from harness import GatewayTestCase, free_port, gateway_config, model, provider

OK_BODY = json.dumps({"id": "x", "object": "chat.completion",
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
                      "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}).encode()


def plain(status_line, body=OK_BODY, content_type=b"application/json"):
    return b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        status_line, content_type, len(body), body)


def with_usage(usage):
    body = b'{"id":"x","choices":[{"index":0,"message":{"content":"hi"}}],"usage":' + usage + b"}"
    return plain(b"200 OK", body)


# upstream model name -> the bytes the fake provider answers with
ANSWERS = {
    "status-000": plain(b"000 OK"),
    "status-099": plain(b"099 OK"),
    # ~4 MB of informational heads arrive in very few reads
    "many-100": b"HTTP/1.1 100 Continue\r\n\r\n" * 160000 + plain(b"200 OK"),
    # a completion that claims to be a stream, to a client that asked for none
    "json-labelled-sse": plain(b"200 OK", content_type=b"text/event-stream"),
    "cached-above-prompt": with_usage(b'{"prompt_tokens":2,"completion_tokens":1,'
                                      b'"prompt_tokens_details":{"cached_tokens":100},'
                                      b'"completion_tokens_details":{"reasoning_tokens":50}}'),
}


# ~40 MB of content events and [DONE], far more than a stalled client and
# the kernel's socket buffers hold
BIG_EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"' + b"a" * 65536 + b'"}}]}\n\n'
BIG_STREAM = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + BIG_EVENT * 640
              + b"data: [DONE]\n\n")
ANSWERS["big-stream"] = BIG_STREAM


class FakeProvider:
    """Accepts connections, reads one request, answers ANSWERS[model] and
    closes: each request is alone on its connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.answered = threading.Event()  # set once an answer was sent or refused
        self.base_url = "http://127.0.0.1:%d/v1" % self.port
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn):
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            try:
                conn.sendall(ANSWERS[json.loads(body)["model"]])
                conn.shutdown(socket.SHUT_WR)
            except OSError:  # tollgate stopped reading and closed
                pass
            self.answered.set()
            try:
                while conn.recv(65536):  # until tollgate closes its side
                    pass
            except OSError:
                pass

    def close(self):
        self.sock.close()


class AdversarialUpstreamTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.fake = FakeProvider()
        providers = [provider("fake", cls.fake, max_retries=0, timeout_ms=5000)]
        models = [model("m-" + name, [("fake", name)]) for name in ANSWERS]
        cls.model_names = [m["name"] for m in models]
        cls.tollgate = cls.start_tollgate(gateway_config(free_port(), providers, models))

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.fake.close()

    def chat(self, name):
        return self.tollgate.chat({"model": "m-" + name, "messages": [{"role": "user", "content": "x"}]})

    def test_status_below_100_is_a_bad_response(self):
        for name in ("status-000", "status-099"):
            before = self.tollgate.metrics()
            r = self.chat(name)
            self.assertOpenAIError(r, 502, "upstream_error", "upstream_unavailable")
            after = self.tollgate.metrics()
            self.assertEqual(after.value("tollgate_llm_requests_total", model="m-" + name, status="error")
                             - before.value("tollgate_llm_requests_total", model="m-" + name, status="error"), 1)
            self.assertEqual(after.find("tollgate_http_requests_total", status="0"), [])
            self.assertEqual(after.find("tollgate_http_requests_total", status="99"), [])

    def test_endless_informational_heads_are_skipped_without_recursion(self):
        r = self.chat("many-100")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["usage"]["completion_tokens"], 4)
        self.assertIsNone(self.tollgate.proc.poll(), "tollgate died")

    def test_plain_completion_is_json_whatever_the_upstream_label(self):
        r = self.chat("json-labelled-sse")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.json()["usage"]["completion_tokens"], 4)

    def test_stalled_stream_reader_does_not_grow_the_gateway_without_bound(self):
        """The client reads nothing until tollgate has taken the provider's
        40 MB or hung up on it; then the stream the client gets must be cut
        short (no [DONE]) rather than all of it held for it."""
        before = self.tollgate.metrics()
        body = json.dumps({"model": "m-big-stream", "stream": True,
                           "messages": [{"role": "user", "content": "x"}]}).encode()
        self.fake.answered.clear()
        with socket.create_connection(("127.0.0.1", self.tollgate.port), timeout=30) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            self.assertTrue(self.fake.answered.wait(30), "the provider's answer was neither read nor refused")
            received = b""
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                received += chunk
        # (no assert*In: a failure would print 40 MB)
        self.assertTrue(received.startswith(b"HTTP/1.1 200"), received[:200])
        self.assertFalse(b"[DONE]" in received, "the whole stream was held for a stalled client")
        self.assertLess(len(received), len(BIG_STREAM) * 3 // 4)
        after = self.tollgate.metrics()
        labels = {"model": "m-big-stream", "status": "error"}
        self.assertEqual(after.value("tollgate_llm_requests_total", **labels)
                         - before.value("tollgate_llm_requests_total", **labels), 1)

    def test_usage_parts_never_exceed_their_totals(self):
        r = self.chat("cached-above-prompt")
        self.assertEqual(r.status, 200, r.body)
        m = self.tollgate.metrics()
        tokens = {t: m.value("tollgate_llm_tokens_total", model="m-cached-above-prompt", type=t)
                  for t in ("prompt", "cached_prompt", "completion", "reasoning")}
        self.assertEqual(tokens, {"prompt": 2, "cached_prompt": 2, "completion": 1, "reasoning": 1})


if __name__ == "__main__":
    harness.main()
