# End-to-end: chat completions (plain and streamed), embeddings and
# /v1/models through tollgate are what mock-llm itself answers, and the
# token, cost and latency metrics equal exactly what the mock reported.

import http.client
import json
import socket
import subprocess
import threading
import time

import harness
from harness import (GatewayTestCase, chat_completion_tokens, chat_content,
                     chat_prompt_tokens, cost, embedding_tokens, free_port,
                     gateway_config, mask_response_ids, model, normalise_chunk,
                     normalise_completion, provider, sse_events)

CHEAP = {"input": 0.15, "cached_input": 0.075, "output": 0.60}
FAST = {"input": 0.05, "cached_input": 0.05, "output": 0.08}
EMBED = {"input": 0.02, "cached_input": 0.02, "output": 0}


class ChatTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cfg = gateway_config(free_port(), [provider("mock", cls.mock)], [
            model("gpt-4o-mini", [("mock", "gpt-4o-mini")], CHEAP),
            # An alias: tollgate must send the upstream name to the provider.
            model("fast", [("mock", "llama-3.1-8b-instant")], FAST),
            model("text-embedding-3-small", [("mock", "text-embedding-3-small")], EMBED),
        ])
        cls.tollgate = cls.start_tollgate(cfg)

    def messages(self, text="Say hello to the gateway"):
        return [{"role": "system", "content": "You are terse."},
                {"role": "user", "content": text}]

    def direct(self, body):
        r = self.mock.request("POST", "/v1/chat/completions", body)
        self.assertEqual(r.status, 200, r.body)
        return r

    def assertProxiedBy(self, resp, provider_name, attempts=1):
        self.assertEqual(resp.header("X-Tollgate-Provider"), provider_name)
        self.assertEqual(resp.header("X-Tollgate-Attempts"), str(attempts))
        self.assertIsNone(resp.header("X-Tollgate-Fallback"))

    def test_plain_completion_matches_direct(self):
        body = {"model": "gpt-4o-mini", "messages": self.messages(), "max_tokens": 7}
        via = self.tollgate.chat(body)
        self.assertEqual(via.status, 200, via.body)
        self.assertTrue(via.header("Content-Type").startswith("application/json"))
        self.assertProxiedBy(via, "mock")
        got = via.json()
        direct = self.direct(body)
        self.assertEqual(mask_response_ids(via.body), mask_response_ids(direct.body))
        self.assertEqual(normalise_completion(got), normalise_completion(direct.json()))
        self.assertEqual(got["choices"][0]["message"]["content"], chat_content(7))
        prompt = chat_prompt_tokens(body["messages"])
        self.assertEqual(got["usage"]["prompt_tokens"], prompt)
        self.assertEqual(got["usage"]["completion_tokens"], 7)
        self.assertEqual(got["usage"]["total_tokens"], prompt + 7)

    def test_alias_sends_upstream_model_name(self):
        body = {"model": "fast", "messages": self.messages("hi"), "max_tokens": 3}
        via = self.tollgate.chat(body)
        self.assertEqual(via.status, 200, via.body)
        direct = self.direct(dict(body, model="llama-3.1-8b-instant"))
        self.assertEqual(mask_response_ids(via.body), mask_response_ids(direct.body))
        self.assertEqual(via.json()["model"], "llama-3.1-8b-instant")

    def stream_both(self, body, direct_body):
        via = self.tollgate.chat(body)
        self.assertEqual(via.status, 200, via.body)
        self.assertTrue(via.header("Content-Type").startswith("text/event-stream"),
                        via.header("Content-Type"))
        self.assertProxiedBy(via, "mock")
        direct = self.direct(direct_body)
        # Passed through as the provider sent it, bytes and all.
        self.assertEqual(mask_response_ids(via.body), mask_response_ids(direct.body))
        return sse_events(via.body), sse_events(direct.body)

    def test_stream_without_usage_strips_usage_chunk(self):
        body = {"model": "gpt-4o-mini", "messages": self.messages(), "max_tokens": 5,
                "stream": True}
        via, direct = self.stream_both(body, body)
        # The mock, asked directly without include_usage, sends no usage
        # chunk: the client must see exactly that, although tollgate asked
        # the provider for usage behind its back.
        self.assertEqual([normalise_chunk(e) for e in via], [normalise_chunk(e) for e in direct])
        self.assertEqual(via[-1], "[DONE]")
        self.assertEqual(len(via), 5 + 2)   # one per token, the stop chunk, [DONE]
        for event in via[:-1]:
            self.assertNotIn("usage", normalise_chunk(event))
        text = "".join(normalise_chunk(e)["choices"][0]["delta"].get("content", "")
                       for e in via[:-1])
        self.assertEqual(text, chat_content(5))

    def test_stream_with_usage_keeps_usage_chunk(self):
        body = {"model": "gpt-4o-mini", "messages": self.messages(), "max_tokens": 4,
                "stream": True, "stream_options": {"include_usage": True}}
        via, direct = self.stream_both(body, body)
        self.assertEqual([normalise_chunk(e) for e in via], [normalise_chunk(e) for e in direct])
        self.assertEqual(via[-1], "[DONE]")
        usage_chunk = normalise_chunk(via[-2])
        self.assertEqual(usage_chunk["choices"], [])
        prompt = chat_prompt_tokens(body["messages"])
        self.assertEqual(usage_chunk["usage"]["prompt_tokens"], prompt)
        self.assertEqual(usage_chunk["usage"]["completion_tokens"], 4)

    def test_embeddings_match_direct(self):
        body = {"model": "text-embedding-3-small", "input": ["hello big world", "x"]}
        via = self.tollgate.request("POST", "/v1/embeddings", body)
        self.assertEqual(via.status, 200, via.body)
        direct = self.mock.request("POST", "/v1/embeddings", body)
        self.assertEqual(via.body, direct.body)
        self.assertEqual(len(via.json()["data"]), 2)
        self.assertEqual(via.json()["usage"]["prompt_tokens"], embedding_tokens(body["input"]))

    def test_ttft_is_the_first_chunk_not_the_last(self):
        """A provider that answers after 300 ms, then sends a token every
        150 ms: TTFT is about 0.3 s, the whole call at least 0.3 + 5 * 0.15."""
        labels = {"provider": "mock", "model": "gpt-4o-mini"}
        before = self.tollgate.metrics()
        self.mock.configure(latency_ms=300, token_delay_ms=150)
        try:
            r = self.tollgate.chat({"model": "gpt-4o-mini", "messages": self.messages(),
                                    "max_tokens": 6, "stream": True})
        finally:
            self.mock.configure(latency_ms=0, token_delay_ms=0)
        self.assertEqual(r.status, 200, r.body)
        after = self.tollgate.metrics()
        ttft = (after.value("tollgate_llm_ttft_seconds_sum", **labels)
                - before.value("tollgate_llm_ttft_seconds_sum", **labels))
        duration = (after.value("tollgate_llm_request_duration_seconds_sum", stream_mode="streaming",
                                **labels)
                    - before.value("tollgate_llm_request_duration_seconds_sum",
                                   stream_mode="streaming", **labels))
        self.assertGreaterEqual(ttft, 0.29)    # event-loop timers round to the ms
        self.assertGreaterEqual(duration, 0.29 + 5 * 0.15)
        # At least four token delays before the end: the first chunk, not
        # the last (a bound that holds however loaded the machine is).
        self.assertLess(ttft, duration - 4 * 0.15)

    def test_stream_is_passed_through_as_it_arrives(self):
        """Chunks reach the client while the provider is still producing
        them, not all at once at the end."""
        body = json.dumps({"model": "gpt-4o-mini", "messages": self.messages(),
                           "max_tokens": 6, "stream": True}).encode()
        self.mock.configure(token_delay_ms=150)
        try:
            with socket.create_connection(("127.0.0.1", self.tollgate.port), timeout=10) as s:
                started = time.monotonic()
                s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                          % len(body) + body)
                received, first_chunk = b"", None
                while b"[DONE]" not in received:
                    data = s.recv(65536)
                    self.assertTrue(data, "stream ended without [DONE]")
                    received += data
                    if first_chunk is None and b"data:" in received:
                        first_chunk = time.monotonic() - started
                done = time.monotonic() - started
        finally:
            self.mock.configure(token_delay_ms=0)
        self.assertGreaterEqual(done, 5 * 0.15 - 0.01)
        self.assertLess(first_chunk, done - 4 * 0.15)

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.tollgate.port, timeout=10)
        try:
            for n in (1, 2, 3):
                conn.request("POST", "/v1/chat/completions", json.dumps(
                    {"model": "gpt-4o-mini", "messages": self.messages(), "max_tokens": n}),
                    {"Content-Type": "application/json"})
                resp = conn.getresponse()
                body = json.loads(resp.read())
                self.assertEqual(resp.status, 200)
                self.assertEqual(body["choices"][0]["message"]["content"], chat_content(n))
                sock = conn.sock
                self.assertIsNotNone(sock, "server closed a keep-alive connection")
        finally:
            conn.close()

    def test_concurrent_requests_are_all_counted(self):
        """Both workers, many connections at once: every request and token
        is counted exactly once."""
        labels = {"provider": "mock", "model": "gpt-4o-mini"}
        before = self.tollgate.metrics()
        threads, per_thread = 8, 12
        failures = []

        def client(index):
            for n in range(per_thread):
                body = {"model": "gpt-4o-mini", "messages": self.messages(),
                        "max_tokens": 1 + (index + n) % 5, "stream": n % 2 == 1}
                r = self.tollgate.chat(body)
                if r.status != 200:
                    failures.append((r.status, r.body))

        pool = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(60)
        self.assertEqual(failures, [])
        after = self.tollgate.metrics()
        completion = sum(1 + (i + n) % 5 for i in range(threads) for n in range(per_thread))
        self.assertEqual(after.value("tollgate_llm_requests_total", status="success", **labels)
                         - before.value("tollgate_llm_requests_total", status="success", **labels),
                         threads * per_thread)
        self.assertEqual(after.value("tollgate_llm_tokens_total", type="completion", **labels)
                         - before.value("tollgate_llm_tokens_total", type="completion", **labels),
                         completion)
        self.assertEqual(after.value("tollgate_llm_tokens_total", type="prompt", **labels)
                         - before.value("tollgate_llm_tokens_total", type="prompt", **labels),
                         threads * per_thread * chat_prompt_tokens(self.messages()))

    def test_http2_clients(self):
        """h2c, by prior knowledge and by Upgrade (curl: the stdlib has no
        HTTP/2 client)."""
        body = {"model": "gpt-4o-mini", "messages": self.messages(), "max_tokens": 4}
        for flag in ("--http2-prior-knowledge", "--http2"):
            for stream in (False, True):
                p = subprocess.run(
                    ["curl", "-sS", flag, "-w", "\n%{http_version} %{http_code}",
                     "-H", "Content-Type: application/json",
                     "-d", json.dumps(dict(body, stream=stream)),
                     "http://127.0.0.1:%d/v1/chat/completions" % self.tollgate.port],
                    capture_output=True, timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
                payload, status = p.stdout.rsplit(b"\n", 1)
                self.assertEqual(status, b"2 200", (flag, stream))
                if stream:
                    events = sse_events(payload)
                    self.assertEqual(events[-1], "[DONE]")
                    text = "".join(normalise_chunk(e)["choices"][0]["delta"].get("content", "")
                                   for e in events[:-1])
                else:
                    text = json.loads(payload)["choices"][0]["message"]["content"]
                self.assertEqual(text, chat_content(4))

    def test_models_lists_configured_models(self):
        r = self.tollgate.request("GET", "/v1/models")
        self.assertEqual(r.status, 200, r.body)
        listing = r.json()
        self.assertEqual(listing.get("object"), "list")
        ids = [m["id"] for m in listing["data"]]
        self.assertEqual(sorted(ids), ["fast", "gpt-4o-mini", "text-embedding-3-small"])
        for m in listing["data"]:
            self.assertEqual(m.get("object"), "model")

    def test_token_and_cost_metrics_are_exact(self):
        labels = {"provider": "mock", "model": "gpt-4o-mini"}
        before = self.tollgate.metrics()
        bodies = [
            {"model": "gpt-4o-mini", "messages": self.messages("one two three"), "max_tokens": 9},
            {"model": "gpt-4o-mini", "messages": self.messages("four"), "max_tokens": 6,
             "stream": True},
            {"model": "gpt-4o-mini", "messages": self.messages("five six"), "stream": True,
             "stream_options": {"include_usage": True}},
        ]
        prompt = completion = 0
        for body in bodies:
            r = self.tollgate.chat(body)
            self.assertEqual(r.status, 200, r.body)
            prompt += chat_prompt_tokens(body["messages"])
            completion += chat_completion_tokens(body.get("max_tokens"))
        embed_input = ["alpha beta", "gamma"]
        r = self.tollgate.request("POST", "/v1/embeddings",
                                  {"model": "text-embedding-3-small", "input": embed_input})
        self.assertEqual(r.status, 200, r.body)
        after = self.tollgate.metrics()

        def delta(name, **lbl):
            return after.value(name, **lbl) - before.value(name, **lbl)

        self.assertEqual(delta("tollgate_llm_tokens_total", type="prompt", **labels), prompt)
        self.assertEqual(delta("tollgate_llm_tokens_total", type="completion", **labels),
                         completion)
        self.assertEqual(delta("tollgate_llm_tokens_total", type="cached_prompt", **labels), 0)
        self.assertEqual(delta("tollgate_llm_cost_dollars_count", **labels), 3)
        self.assertAlmostEqual(delta("tollgate_llm_cost_dollars_sum", **labels),
                               cost(CHEAP, prompt, completion), places=12)
        self.assertEqual(delta("tollgate_llm_requests_total", operation="chat",
                               stream_mode="non_streaming", status="success", **labels), 1)
        self.assertEqual(delta("tollgate_llm_requests_total", operation="chat",
                               stream_mode="streaming", status="success", **labels), 2)

        emb = {"provider": "mock", "model": "text-embedding-3-small"}
        self.assertEqual(delta("tollgate_llm_tokens_total", type="prompt", **emb),
                         embedding_tokens(embed_input))
        self.assertEqual(delta("tollgate_llm_requests_total", operation="embeddings",
                               status="success", **emb), 1)
        self.assertAlmostEqual(delta("tollgate_llm_cost_dollars_sum", **emb),
                               cost(EMBED, embedding_tokens(embed_input), 0), places=12)
        self.assertEqual(delta("tollgate_http_requests_total", method="POST",
                               path="/v1/chat/completions", status="200"), 3)

    def test_latency_histograms_gain_samples(self):
        labels = {"provider": "mock", "model": "gpt-4o-mini"}
        before = self.tollgate.metrics()
        r = self.tollgate.chat({"model": "gpt-4o-mini", "messages": self.messages(),
                                "max_tokens": 3, "stream": True})
        self.assertEqual(r.status, 200, r.body)
        r = self.tollgate.chat({"model": "gpt-4o-mini", "messages": self.messages(),
                                "max_tokens": 3})
        self.assertEqual(r.status, 200, r.body)
        after = self.tollgate.metrics()

        def delta(name, **lbl):
            return after.value(name, **lbl) - before.value(name, **lbl)

        self.assertGreaterEqual(delta("tollgate_llm_ttft_seconds_count", **labels), 1)
        self.assertGreater(delta("tollgate_llm_ttft_seconds_sum", **labels), 0)
        self.assertEqual(delta("tollgate_llm_request_duration_seconds_count",
                               operation="chat", stream_mode="streaming", **labels), 1)
        self.assertEqual(delta("tollgate_llm_request_duration_seconds_count",
                               operation="chat", stream_mode="non_streaming", **labels), 1)
        self.assertEqual(delta("tollgate_http_request_duration_seconds_count",
                               method="POST", path="/v1/chat/completions"), 2)
        # The +Inf bucket of a histogram always equals its count.
        inf = after.value("tollgate_llm_ttft_seconds_bucket", le="+Inf", **labels)
        self.assertEqual(inf, after.value("tollgate_llm_ttft_seconds_count", **labels))


if __name__ == "__main__":
    harness.main()
