# End-to-end: provider health sees failures that happen after the status
# line went out, and the gateway's /health reports them. A stream the
# provider cuts after its first byte is the provider failing (error rate up,
# availability down, and at the next evaluation "unhealthy" in /health and
# provider_health_status 0), though the client got a 200; the access line
# says so in llm_status. A client that leaves mid-stream is no
# fault of the provider's. A client that resets its connection before a
# plain response is ready is a client disconnect (499), whose tokens the
# provider still bills.

import json
import socket
import struct
import time

import harness
from harness import (GatewayTestCase, chat_prompt_tokens, free_port, gateway_config, model,
                     provider)

TRUNCATED_STREAMS = 20


def messages(text):
    return [{"role": "user", "content": text}]


def raw_request(body, request_id):
    body = json.dumps(body).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nX-Request-ID: %s\r\n"
            b"Content-Length: %d\r\n\r\n" % (request_id.encode(), len(body))) + body


class TruncatedStreamTest(GatewayTestCase):
    """One provider whose every stream is cut half-way."""

    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        # breaker off: every stream must reach the provider (an open breaker
        # would answer 503 after the fifth cut)
        cfg = gateway_config(free_port(), [provider("cut", cls.mock, breaker={"enabled": False})],
                             [model("m", [("cut", "gpt-4o-mini")])])
        cls.tollgate = cls.start_tollgate(cfg)

    def health(self):
        r = self.tollgate.request("GET", "/health")
        self.assertEqual(r.status, 200)
        return r.json()

    def test_cut_streams_count_against_the_provider(self):
        self.assertEqual(self.health()["status"], "ok")
        self.mock.configure(fault="truncate")
        before = self.tollgate.metrics()
        for i in range(TRUNCATED_STREAMS):
            received = harness.send_and_read_all(self.tollgate.port, raw_request(
                {"model": "m", "messages": messages("cut me"), "max_tokens": 8, "stream": True},
                "e2e-cut-%d" % i))
            self.assertIn(b" 200 ", received.split(b"\r\n")[0])
            self.assertIn(b"data:", received)
            self.assertNotIn(b"[DONE]", received)

        rec = self.tollgate.access_log("e2e-cut-0")
        self.assertIsNotNone(rec)
        self.assertEqual(rec["status"], 200)            # what the client was sent
        self.assertEqual(rec["llm_status"], "error")     # what happened

        after = self.tollgate.metrics()
        labels = {"provider": "cut", "stream_mode": "streaming", "status": "error"}
        self.assertEqual(after.value("tollgate_llm_requests_total", **labels)
                         - before.value("tollgate_llm_requests_total", **labels),
                         TRUNCATED_STREAMS)
        self.assertEqual(after.value("tollgate_provider_error_rate_ratio", provider="cut"), 1.0)
        self.assertEqual(after.value("tollgate_provider_availability_ratio", provider="cut"), 0.0)
        self.assertEqual(after.value("tollgate_provider_response_time_seconds_count",
                                     provider="cut")
                         - before.value("tollgate_provider_response_time_seconds_count",
                                        provider="cut"), TRUNCATED_STREAMS)
        # the housekeeping tick judges the provider within a second or so
        deadline = time.monotonic() + 2.5
        while self.tollgate.metrics().value("tollgate_provider_health_status", provider="cut") != 0:
            self.assertLess(time.monotonic(), deadline, "the cut provider never became unhealthy")
            time.sleep(0.05)
        health = self.health()
        self.assertEqual(health["status"], "unhealthy")   # its only provider is
        cut = health["providers"][0]
        self.assertEqual(cut["state"], "unhealthy")
        self.assertEqual(cut["error_rate"], 1.0)
        self.assertIsNotNone(cut["last_error"])


class ClientLeavesTest(GatewayTestCase):
    """A slow provider; clients that do not wait for it."""

    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cfg = gateway_config(free_port(), [provider("slow", cls.mock)],
                             [model("m", [("slow", "gpt-4o-mini")])])
        cls.tollgate = cls.start_tollgate(cfg)

    def tearDown(self):
        self.mock.configure(latency_ms=0, token_delay_ms=0)

    def test_reset_before_a_plain_response_is_a_client_disconnect(self):
        self.leave_before_plain_response("e2e-reset-plain", reset=True)

    def test_close_before_a_plain_response_is_a_client_disconnect(self):
        self.leave_before_plain_response("e2e-close-plain", reset=False)

    def leave_before_plain_response(self, request_id, reset):
        self.mock.configure(latency_ms=500)
        before = self.tollgate.metrics()
        chats = self.mock.stats()["chat"]
        s = socket.create_connection(("127.0.0.1", self.tollgate.port), timeout=10)
        s.sendall(raw_request({"model": "m", "messages": messages("never mind"),
                               "max_tokens": 5}, request_id))
        time.sleep(0.2)     # the request is with the provider now
        if reset:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()           # RST, or FIN

        rec = self.tollgate.access_log(request_id, timeout=10)
        self.assertIsNotNone(rec, "no access line for " + request_id)
        self.assertEqual(rec["status"], 499)
        self.assertEqual(rec["llm_status"], "client_disconnect")
        # the provider answered and bills it: real usage, not an estimate
        self.assertEqual(self.mock.stats()["chat"] - chats, 1)
        self.assertEqual(rec["prompt_tokens"], chat_prompt_tokens(messages("never mind")))
        self.assertEqual(rec["completion_tokens"], 5)
        self.assertIs(rec["tokens_estimated"], False)

        after = self.tollgate.metrics()
        llm = {"provider": "slow", "stream_mode": "non_streaming", "status": "client_disconnect"}
        self.assertEqual(after.value("tollgate_llm_requests_total", **llm)
                         - before.value("tollgate_llm_requests_total", **llm), 1)
        success = dict(llm, status="success")
        self.assertEqual(after.value("tollgate_llm_requests_total", **success)
                         - before.value("tollgate_llm_requests_total", **success), 0)
        http = {"path": "/v1/chat/completions", "status": "499"}
        self.assertEqual(after.value("tollgate_http_requests_total", **http)
                         - before.value("tollgate_http_requests_total", **http), 1)
        tokens = {"provider": "slow", "type": "completion"}
        self.assertEqual(after.value("tollgate_llm_tokens_total", **tokens)
                         - before.value("tollgate_llm_tokens_total", **tokens), 5)
        # the provider did its part
        self.assertEqual(after.value("tollgate_provider_error_rate_ratio", provider="slow"), 0.0)

    def test_client_leaving_mid_stream_is_no_provider_failure(self):
        self.mock.configure(token_delay_ms=50)
        before = self.tollgate.metrics()
        with socket.create_connection(("127.0.0.1", self.tollgate.port), timeout=10) as s:
            s.sendall(raw_request({"model": "m", "messages": messages("go slowly"),
                                   "max_tokens": 40, "stream": True}, "e2e-leave-stream"))
            received = b""
            while b"data:" not in received:
                chunk = s.recv(4096)
                self.assertTrue(chunk, "connection closed before the first chunk")
                received += chunk
        rec = self.tollgate.access_log("e2e-leave-stream", timeout=10)
        self.assertIsNotNone(rec)
        self.assertEqual(rec["llm_status"], "client_disconnect")
        after = self.tollgate.metrics()
        self.assertEqual(after.value("tollgate_provider_response_time_seconds_count",
                                     provider="slow")
                         - before.value("tollgate_provider_response_time_seconds_count",
                                        provider="slow"), 1)
        self.assertEqual(after.value("tollgate_provider_error_rate_ratio", provider="slow"), 0.0)
        self.assertEqual(after.value("tollgate_provider_availability_ratio", provider="slow"), 1.0)

    def test_pipelined_client_is_still_there(self):
        """Bytes waiting on the connection (the next request) are a client
        that is there, not one that left."""
        self.mock.configure(latency_ms=200)
        body = {"model": "m", "messages": messages("one"), "max_tokens": 2}
        with socket.create_connection(("127.0.0.1", self.tollgate.port), timeout=10) as s:
            s.sendall(raw_request(body, "e2e-pipe-1") + raw_request(body, "e2e-pipe-2"))
            received = b""
            while received.count(b"HTTP/1.1 200") < 2:
                chunk = s.recv(65536)
                self.assertTrue(chunk, "connection closed: %r" % received)
                received += chunk
        for request_id in ("e2e-pipe-1", "e2e-pipe-2"):
            rec = self.tollgate.access_log(request_id)
            self.assertEqual(rec["status"], 200)
            self.assertEqual(rec["llm_status"], "success")

    def test_plain_answer_to_a_waiting_client_is_a_success(self):
        r = self.tollgate.chat({"model": "m", "messages": messages("hi")},
                               {"X-Request-ID": "e2e-stay"})
        self.assertEqual(r.status, 200, r.body)
        rec = self.tollgate.access_log("e2e-stay")
        self.assertEqual(rec["status"], 200)
        self.assertEqual(rec["llm_status"], "success")


if __name__ == "__main__":
    harness.main()
