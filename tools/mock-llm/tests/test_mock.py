#!/usr/bin/python3
"""End-to-end test of mock-llm: starts the real binary on a free port and
checks every endpoint, the exact usage numbers, SSE framing, every fault in
its header and flag forms, the /mock/ control endpoints, and a clean exit on
SIGTERM (ASan/UBSan findings on stderr fail the test).

usage: test_mock.py PATH/TO/mock-llm   (standard library only)
"""
import base64
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

MOCK = None  # path of the binary, from argv

MODELS = ["gpt-4o-mini", "gpt-4o", "llama-3.1-8b-instant", "text-embedding-3-small", "claude-sonnet-4-5",
          "gpt-3.5-turbo-instruct", "gpt-image-1", "dall-e-3", "whisper-1", "gpt-4o-mini-transcribe", "tts-1"]
API_PATHS = ["/v1/chat/completions", "/v1/embeddings", "/v1/models", "/v1/models/{id}", "/v1/messages",
             "/v1/responses", "/v1/completions", "/v1/images/generations", "/v1/audio/transcriptions",
             "/v1/audio/translations", "/v1/audio/speech"]

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Mock:
    """One mock-llm process listening on a port the OS picked."""

    def __init__(self, *flags):
        self.tmp = tempfile.TemporaryDirectory()
        port_file = os.path.join(self.tmp.name, "port")
        self.stderr = open(os.path.join(self.tmp.name, "stderr"), "w+")
        self.proc = subprocess.Popen([MOCK, "--listen", "127.0.0.1:0", "--port-file", port_file, *flags],
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("mock-llm listening on 127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError("mock-llm did not start: %r" % line)
        with open(port_file) as f:
            self.port = int(f.read())
        if line.strip() != "mock-llm listening on 127.0.0.1:%d" % self.port:
            raise RuntimeError("port file and banner disagree: %r vs %d" % (line, self.port))

    def request(self, method, path, body=None, headers=None, timeout=5):
        """Returns (status, headers dict with lower-cased names, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None, timeout=5):
        status, hdrs, data = self.request(method, path, body, headers, timeout)
        return status, hdrs, json.loads(data)

    def stop(self):
        """SIGTERM; returns (exit code, stderr text)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = "did not exit on SIGTERM"
        self.proc.stdout.close()
        self.stderr.seek(0)
        err = self.stderr.read()
        self.stderr.close()
        self.tmp.cleanup()
        return code, err


def chat(messages=None, **extra):
    body = {"model": "gpt-4o-mini", "messages": messages or [{"role": "user", "content": "hi"}]}
    body.update(extra)
    return body


def sse_events(data):
    """Splits an SSE body into its data payloads, checking the framing."""
    text = data.decode()
    assert text.endswith("\n\n"), "stream does not end with a blank line: %r" % text[-40:]
    events = text[:-2].split("\n\n")
    for e in events:
        assert e.startswith("data: ") and "\n" not in e, "bad SSE event: %r" % e
    return [e[len("data: "):] for e in events]


class MockTestCase(unittest.TestCase):
    def stopped_cleanly(self, mock):
        code, err = mock.stop()
        self.assertEqual(code, 0, err)
        for mark in SANITIZER_MARKS:
            self.assertNotIn(mark, err)


class Endpoints(MockTestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()

    @classmethod
    def tearDownClass(cls):
        code, err = cls.mock.stop()
        if code != 0 or any(m in err for m in SANITIZER_MARKS):
            raise AssertionError("unclean exit %r:\n%s" % (code, err))

    def test_models(self):
        status, hdrs, body = self.mock.json("GET", "/v1/models")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertEqual([m["id"] for m in body["data"]], MODELS)
        for m in body["data"]:
            self.assertEqual(set(m), {"id", "object", "created", "owned_by"})
            status, _, one = self.mock.json("GET", "/v1/models/" + m["id"])
            self.assertEqual((status, one), (200, m))
        status, _, err = self.mock.json("GET", "/v1/models/no-such-model")
        self.assertEqual(status, 404)
        self.assertEqual(err["error"]["code"], "model_not_found")

    def test_chat_usage_is_exact(self):
        messages = [{"role": "system", "content": "  be\tbrief\n"},
                    {"role": "user", "content": "hello world  foo"}]
        before = time.time()
        status, _, body = self.mock.json("POST", "/v1/chat/completions", chat(messages, max_tokens=5))
        self.assertEqual(status, 200)
        self.assertTrue(body["id"].startswith("chatcmpl-mock-"))
        self.assertEqual(body["object"], "chat.completion")
        self.assertEqual(body["model"], "gpt-4o-mini")
        self.assertLessEqual(abs(body["created"] - before), 2)
        self.assertEqual(body["choices"][0]["message"], {"role": "assistant", "content": "tok1 tok2 tok3 tok4 tok5"})
        self.assertEqual(body["choices"][0]["finish_reason"], "stop")
        # (2 + 3) + (3 + 3) + 3
        self.assertEqual(body["usage"], {"prompt_tokens": 14, "completion_tokens": 5, "total_tokens": 19,
                                         "prompt_tokens_details": {"cached_tokens": 0},
                                         "completion_tokens_details": {"reasoning_tokens": 0}})

    def test_chat_content_parts_and_completion_defaults(self):
        parts = [{"role": "user", "content": [{"type": "text", "text": "one two"},
                                              {"type": "image_url", "image_url": {"url": "x y z"}},
                                              {"type": "text", "text": "three"}]},
                 {"role": "assistant", "content": None}]
        cases = [({}, 16), ({"max_tokens": 0}, 16), ({"max_tokens": 7}, 7), ({"max_tokens": 100000}, 4096),
                 ({"max_completion_tokens": 2}, 2)]
        for extra, completion in cases:
            _, _, body = self.mock.json("POST", "/v1/chat/completions", chat(parts, **extra))
            self.assertEqual(body["usage"]["prompt_tokens"], (3 + 3) + (0 + 3) + 3, extra)
            self.assertEqual(body["usage"]["completion_tokens"], completion, extra)
            self.assertEqual(body["choices"][0]["message"]["content"].split(),
                             ["tok%d" % i for i in range(1, completion + 1)])

    def test_cached_and_reasoning_headers_are_capped(self):
        for cached, reasoning, want_cached, want_reasoning in [("4", "2", 4, 2), ("100", "100", 7, 3)]:
            _, _, body = self.mock.json("POST", "/v1/chat/completions", chat(max_tokens=3),
                                        {"X-Mock-Cached-Tokens": cached, "X-Mock-Reasoning-Tokens": reasoning})
            self.assertEqual(body["usage"]["prompt_tokens"], 7)
            self.assertEqual(body["usage"]["prompt_tokens_details"]["cached_tokens"], want_cached)
            self.assertEqual(body["usage"]["completion_tokens_details"]["reasoning_tokens"], want_reasoning)

    def check_stream(self, include_usage):
        extra = {"stream": True, "max_tokens": 3}
        if include_usage is not None:
            extra["stream_options"] = {"include_usage": include_usage}
        status, hdrs, data = self.mock.request("POST", "/v1/chat/completions", chat(**extra),
                                               {"X-Mock-Cached-Tokens": "2"})
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["content-type"], "text/event-stream")
        events = sse_events(data)
        self.assertEqual(len(events), 3 + 1 + (1 if include_usage else 0) + 1)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(len({c["id"] for c in chunks}), 1)
        for c in chunks:
            self.assertEqual(c["object"], "chat.completion.chunk")
            self.assertEqual(c["model"], "gpt-4o-mini")
        self.assertEqual(chunks[0]["choices"][0]["delta"], {"role": "assistant", "content": "tok1"})
        self.assertEqual(chunks[1]["choices"][0]["delta"], {"content": " tok2"})
        self.assertEqual(chunks[2]["choices"][0]["delta"], {"content": " tok3"})
        for c in chunks[:3]:
            self.assertIsNone(c["choices"][0]["finish_reason"])
        self.assertEqual(chunks[3]["choices"], [{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if include_usage:
            self.assertEqual(chunks[4]["choices"], [])
            self.assertEqual(chunks[4]["usage"], {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
                                                  "prompt_tokens_details": {"cached_tokens": 2},
                                                  "completion_tokens_details": {"reasoning_tokens": 0}})
        else:
            self.assertNotIn("usage", chunks[-1])

    def test_model_is_echoed_verbatim(self):
        model = 'odd "model"\\ \u00e9\n\x01'
        body = chat(max_tokens=1)
        body["model"] = model
        self.assertEqual(self.mock.json("POST", "/v1/chat/completions", body)[2]["model"], model)
        body["stream"] = True
        events = sse_events(self.mock.request("POST", "/v1/chat/completions", body)[2])
        self.assertEqual(json.loads(events[0])["model"], model)
        self.assertEqual(self.mock.json("POST", "/v1/embeddings", {"model": model, "input": "x"})[2]["model"], model)

    def test_stream_without_usage(self):
        self.check_stream(None)
        self.check_stream(False)

    def test_stream_with_usage(self):
        self.check_stream(True)

    def test_embeddings(self):
        _, _, body = self.mock.json("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "a b  c"})
        self.assertEqual(body["usage"], {"prompt_tokens": 4, "total_tokens": 4})
        self.assertEqual(body["model"], "text-embedding-3-small")
        self.assertEqual(len(body["data"]), 1)
        self.assertEqual(body["data"][0]["embedding"], [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08])

        _, _, body = self.mock.json("POST", "/v1/embeddings", {"model": "m", "input": ["a b", "c", ""]})
        self.assertEqual(body["usage"], {"prompt_tokens": 3 + 2 + 1, "total_tokens": 6})
        self.assertEqual([d["index"] for d in body["data"]], [0, 1, 2])
        floats = [d["embedding"] for d in body["data"]]
        self.assertEqual(floats[1], [0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16])
        self.assertEqual(floats[2][7], 0.24)

        _, _, body = self.mock.json("POST", "/v1/embeddings",
                                    {"model": "m", "input": ["a", "b"], "encoding_format": "base64"})
        decoded = struct.unpack("<8f", base64.b64decode(body["data"][1]["embedding"]))
        for got, want in zip(decoded, floats[1]):
            self.assertAlmostEqual(got, want, places=6)

    def test_bad_requests(self):
        cases = [("/v1/chat/completions", b"{not json"), ("/v1/chat/completions", b""),
                 ("/v1/chat/completions", {"messages": []}), ("/v1/chat/completions", {"model": "m"}),
                 ("/v1/chat/completions", {"model": "m", "messages": [{"content": 5}]}),
                 ("/v1/embeddings", {"model": "m"}), ("/v1/embeddings", {"model": "m", "input": [1, 2]}),
                 ("/v1/embeddings", [1])]
        for path, body in cases:
            status, _, err = self.mock.json("POST", path, body)
            self.assertEqual(status, 400, body)
            self.assertEqual(err["error"]["type"], "invalid_request_error")
            self.assertTrue(err["error"]["message"])

    def test_unknown_path_and_method(self):
        status, _, err = self.mock.json("GET", "/v1/nothing")
        self.assertEqual(status, 404)
        self.assertEqual(err["error"]["code"], "unknown_url")
        status, _, _ = self.mock.json("GET", "/v1/chat/completions")
        self.assertEqual(status, 405)

    def test_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.mock.port, timeout=5)
        for _ in range(3):
            conn.request("POST", "/v1/chat/completions", json.dumps(chat(max_tokens=2)))
            resp = conn.getresponse()
            self.assertEqual(json.loads(resp.read())["usage"]["total_tokens"], 9)
        sock = conn.sock
        conn.request("GET", "/v1/models")
        conn.getresponse().read()
        self.assertIs(conn.sock, sock)  # no reconnect happened
        conn.close()


class HeaderFaults(MockTestCase):
    """Faults asked for per request; a fresh process so stats are exact."""

    def setUp(self):
        self.mock = Mock()

    def tearDown(self):
        self.stopped_cleanly(self.mock)

    def timed(self, headers, body=None, path="/v1/chat/completions"):
        start = time.monotonic()
        status, _, data = self.mock.request("POST", path, body or chat(max_tokens=3), headers)
        return status, data, time.monotonic() - start

    def test_latency(self):
        status, data, elapsed = self.timed({"X-Mock-Latency-Ms": "300"})
        self.assertEqual(status, 200)
        self.assertGreaterEqual(elapsed, 0.29)
        self.assertLess(elapsed, 2)
        json.loads(data)

    def test_token_delay(self):
        status, data, elapsed = self.timed({"X-Mock-Token-Delay-Ms": "100"}, chat(max_tokens=3, stream=True))
        self.assertEqual(status, 200)
        self.assertEqual(len(sse_events(data)), 5)
        self.assertGreaterEqual(elapsed, 0.39)  # 4 gaps between 5 events
        self.assertLess(elapsed, 3)

    def test_role_chunk(self):
        # OpenAI's shape: the role alone first, then content one token delay later.
        status, data, elapsed = self.timed({"X-Mock-Fault": "role_chunk", "X-Mock-Token-Delay-Ms": "300"},
                                           chat(max_tokens=2, stream=True))
        self.assertEqual(status, 200)
        events = sse_events(data)
        self.assertEqual(len(events), 1 + 2 + 1 + 1)
        self.assertEqual(json.loads(events[0])["choices"][0]["delta"],
                         {"role": "assistant", "content": "", "refusal": None})
        self.assertEqual([json.loads(e)["choices"][0]["delta"] for e in events[1:3]],
                         [{"content": "tok1"}, {"content": " tok2"}])
        self.assertEqual(events[-1], "[DONE]")
        self.assertGreaterEqual(elapsed, 1.19)  # 4 gaps between 5 events
        status, data, _ = self.timed({"X-Mock-Fault": "role_chunk"}, chat(max_tokens=2))
        self.assertEqual(json.loads(data)["choices"][0]["message"]["content"], "tok1 tok2")

    def test_statuses(self):
        for code in (500, 503, 429):
            status, hdrs, body = self.mock.json("POST", "/v1/chat/completions", chat(), {"X-Mock-Status": str(code)})
            self.assertEqual(status, code)
            self.assertIn("message", body["error"])
            self.assertEqual(hdrs.get("retry-after"), "1" if code == 429 else None)
        status, hdrs, _ = self.mock.request("POST", "/v1/embeddings", {"model": "m", "input": "x"},
                                            {"X-Mock-Status": "429", "X-Mock-Retry-After": "7"})
        self.assertEqual((status, hdrs["retry-after"]), (429, "7"))

    def test_reset(self):
        with self.assertRaises(ConnectionResetError):
            self.mock.request("POST", "/v1/chat/completions", chat(), {"X-Mock-Fault": "reset"})
        self.assertEqual(self.mock.json("POST", "/v1/chat/completions", chat())[0], 200)

    def test_hang(self):
        start = time.monotonic()
        with self.assertRaises(socket.timeout):
            self.mock.request("POST", "/v1/chat/completions", chat(), {"X-Mock-Fault": "hang"}, timeout=0.5)
        self.assertGreaterEqual(time.monotonic() - start, 0.45)
        self.assertEqual(self.mock.json("GET", "/v1/models")[0], 200)

    def test_malformed(self):
        status, _, data = self.mock.request("POST", "/v1/chat/completions", chat(), {"X-Mock-Fault": "malformed"})
        self.assertEqual(status, 200)
        self.assertEqual(data, b'{"id": "broken')
        with self.assertRaises(ValueError):
            json.loads(data)

    def test_truncate(self):
        with self.assertRaises(http.client.IncompleteRead) as caught:
            self.mock.request("POST", "/v1/chat/completions", chat(max_tokens=4), {"X-Mock-Fault": "truncate"})
        partial, missing = caught.exception.partial, caught.exception.expected
        self.assertGreater(len(partial), 0)
        self.assertEqual(len(partial), (len(partial) + missing) // 2)  # exactly half was sent
        self.assertTrue(partial.startswith(b'{"id":"chatcmpl-mock-'))

        for delay in ("0", "20"):
            with self.assertRaises(http.client.IncompleteRead) as caught:
                self.mock.request("POST", "/v1/chat/completions", chat(max_tokens=4, stream=True),
                                  {"X-Mock-Fault": "truncate", "X-Mock-Token-Delay-Ms": delay})
            events = sse_events(caught.exception.partial)
            self.assertEqual(len(events), 2, delay)
            self.assertNotIn("[DONE]", events)

    def test_stats_and_reset(self):
        self.mock.request("POST", "/v1/chat/completions", chat())
        self.mock.request("POST", "/v1/embeddings", {"model": "m", "input": "x"})
        self.mock.request("GET", "/v1/models")
        self.mock.request("GET", "/mock/stats")  # control endpoints are not counted
        self.mock.request("POST", "/v1/chat/completions", chat(), {"X-Mock-Status": "500"})
        self.mock.request("POST", "/v1/chat/completions", chat(),
                          {"X-Custom-Thing": "Value 1", "Authorization": "Bearer sk-test"})
        status, _, stats = self.mock.json("GET", "/mock/stats")
        self.assertEqual(status, 200)
        self.assertEqual({k: stats[k] for k in ("requests", "chat", "embeddings", "faults")},
                         {"requests": 5, "chat": 3, "embeddings": 1, "faults": 1})
        self.assertEqual(stats["last_headers"]["x-custom-thing"], "Value 1")
        self.assertEqual(stats["last_headers"]["authorization"], "Bearer sk-test")
        self.assertNotIn("x-mock-status", stats["last_headers"])

        status, _, zeroed = self.mock.json("POST", "/mock/reset")
        self.assertEqual(status, 200)
        self.assertEqual(zeroed, {"requests": 0, "chat": 0, "embeddings": 0, "faults": 0, "last_headers": {},
                                  "paths": {p: 0 for p in API_PATHS}})
        self.assertEqual(self.mock.json("GET", "/mock/stats")[2], zeroed)

    def test_config(self):
        status, _, cfg = self.mock.json("POST", "/mock/config", {"status": 503})
        self.assertEqual(status, 200)
        self.assertEqual(cfg, {"latency_ms": 0, "token_delay_ms": 0, "status": 503, "fault": "",
                               "fail_first": 0, "retry_after": 1, "output_tokens": 0, "cached_tokens": 0,
                               "reasoning_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0})
        self.assertEqual(self.mock.request("POST", "/v1/chat/completions", chat())[0], 503)
        self.assertEqual(self.mock.request("POST", "/v1/chat/completions", chat())[0], 503)
        # a header still wins over the process setting
        self.assertEqual(self.mock.request("POST", "/v1/chat/completions", chat(), {"X-Mock-Status": "500"})[0], 500)

        self.mock.json("POST", "/mock/config", {"status": 0, "fault": "malformed", "fail_first": 2})
        for _ in range(2):
            self.assertEqual(self.mock.request("POST", "/v1/chat/completions", chat())[2], b'{"id": "broken')
        self.assertEqual(self.mock.json("POST", "/v1/chat/completions", chat())[0], 200)

        self.mock.json("POST", "/mock/config", {"fault": "", "fail_first": 0, "latency_ms": 250})
        start = time.monotonic()
        self.assertEqual(self.mock.request("GET", "/v1/models")[0], 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.24)
        self.assertEqual(self.mock.json("GET", "/mock/config")[2]["latency_ms"], 250)

        for bad in ({"status": 200}, {"fault": "explode"}, {"latency_ms": -1}, {"latency_ms": "5"}, [1], "x"):
            self.assertEqual(self.mock.request("POST", "/mock/config", bad)[0], 400, bad)
        self.assertEqual(self.mock.request("POST", "/mock/config", b"{")[0], 400)
        self.assertEqual(self.mock.json("GET", "/mock/config")[2]["latency_ms"], 250)  # unchanged by bad ones


class FlagFaults(MockTestCase):
    """The same faults given as command-line flags, one process each."""

    def run_with(self, flags, check):
        mock = Mock(*flags)
        try:
            check(mock)
        finally:
            self.stopped_cleanly(mock)

    def test_latency_and_token_delay_flags(self):
        def check(mock):
            start = time.monotonic()
            status, _, data = mock.request("POST", "/v1/chat/completions", chat(max_tokens=2, stream=True))
            elapsed = time.monotonic() - start
            self.assertEqual(status, 200)
            self.assertEqual(len(sse_events(data)), 4)
            self.assertGreaterEqual(elapsed, 0.2 + 3 * 0.05 - 0.02)
            self.assertLess(elapsed, 3)
        self.run_with(["--latency-ms", "200", "--token-delay-ms", "50"], check)

    def test_status_flags(self):
        def check(mock):
            status, hdrs, _ = mock.request("POST", "/v1/chat/completions", chat())
            self.assertEqual((status, hdrs["retry-after"]), (429, "9"))
            self.assertEqual(mock.request("GET", "/v1/models")[0], 429)
            self.assertEqual(mock.request("GET", "/mock/stats")[0], 200)  # control paths never fail
        self.run_with(["--status", "429", "--retry-after", "9"], check)
        self.run_with(["--status", "503"],
                      lambda mock: self.assertEqual(mock.request("POST", "/v1/embeddings",
                                                                 {"model": "m", "input": "x"})[0], 503))

    def test_fault_flags(self):
        def reset(mock):
            with self.assertRaises(ConnectionResetError):
                mock.request("GET", "/v1/models")

        def hang(mock):
            # left hanging on purpose: the process must still stop on SIGTERM
            with self.assertRaises(socket.timeout):
                mock.request("POST", "/v1/chat/completions", chat(), timeout=0.3)

        def malformed(mock):
            self.assertEqual(mock.request("POST", "/v1/chat/completions", chat())[2], b'{"id": "broken')

        def truncate(mock):
            with self.assertRaises(http.client.IncompleteRead) as caught:
                mock.request("POST", "/v1/chat/completions", chat(max_tokens=6, stream=True))
            self.assertEqual(len(sse_events(caught.exception.partial)), 3)

        for fault, check in (("reset", reset), ("hang", hang), ("malformed", malformed), ("truncate", truncate)):
            with self.subTest(fault=fault):
                self.run_with(["--fault", fault], check)

    def test_fail_first(self):
        def check(mock):
            got = [mock.request("POST", "/v1/chat/completions", chat())[0] for _ in range(4)]
            self.assertEqual(got, [500, 500, 200, 200])
            self.assertEqual(mock.json("GET", "/mock/stats")[2]["faults"], 2)
        self.run_with(["--fail-first", "2", "--status", "500"], check)

    def test_threads(self):
        def check(mock):
            conns = [http.client.HTTPConnection("127.0.0.1", mock.port, timeout=5) for _ in range(8)]
            for c in conns:
                c.request("POST", "/v1/chat/completions", json.dumps(chat(max_tokens=4)), {"X-Mock-Latency-Ms": "100"})
            for c in conns:
                self.assertEqual(json.loads(c.getresponse().read())["usage"]["completion_tokens"], 4)
                c.close()
            self.assertEqual(mock.json("GET", "/mock/stats")[2]["chat"], 8)
        self.run_with(["--threads", "3"], check)

    def test_sigterm_with_requests_in_flight(self):
        mock = Mock()

        def send(headers, body):
            sock = socket.create_connection(("127.0.0.1", mock.port), timeout=5)
            body = json.dumps(body).encode()
            head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n" % (
                len(body), "".join("%s: %s\r\n" % h for h in headers.items()))
            sock.sendall(head.encode() + body)
            return sock

        waiting = [send({"X-Mock-Latency-Ms": "5000"}, chat()),
                   send({"X-Mock-Token-Delay-Ms": "1000"}, chat(stream=True)),
                   send({"X-Mock-Fault": "hang"}, chat()),
                   socket.create_connection(("127.0.0.1", mock.port), timeout=5)]  # idle keep-alive
        time.sleep(0.3)
        self.stopped_cleanly(mock)
        for sock in waiting:  # every client learns that the server is gone, none waits for its timeout
            try:
                while sock.recv(65536):
                    pass
            except ConnectionResetError:
                pass
            sock.close()

    def test_bad_flags(self):
        for flags in (["--threads", "0"], ["--status", "200"], ["--fault", "boom"], ["--listen", "nope"],
                      ["--latency-ms", "-5"], ["extra"]):
            proc = subprocess.run([MOCK, *flags], capture_output=True, text=True, timeout=10)
            self.assertEqual(proc.returncode, 2, flags)
            self.assertIn("usage: mock-llm", proc.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    MOCK = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
