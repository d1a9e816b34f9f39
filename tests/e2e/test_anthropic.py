# End-to-end: Anthropic in and out (docs/gateway-behaviour.md, "Anthropic"),
# raw HTTP against a tollgate in front of mock-llm. Every dialect, plain and
# streamed: an Anthropic client on a provider of type anthropic (passed as
# it is) and on an OpenAI-compatible one (translated), an OpenAI chat client
# on both. Errors of /v1/messages in Anthropic's shape, a field that cannot
# be translated refused with a 400 naming it, a provider's error relayed in
# the client's API, a stream the provider cuts ending in the client API's
# error event, an operation an Anthropic provider cannot serve, fallback
# from an anthropic-type provider to an OpenAI one, and the ledger and
# metrics under operation "messages".

import http.client
import json

import harness
from harness import (ADMIN_ENV, GatewayTestCase, free_port, gateway_config, model, provider,
                     tenancy_sections, words)

FORWARD = ["x-mock-status", "x-mock-fault", "x-mock-cache-read", "x-mock-cache-write",
           "x-mock-cached-tokens", "x-mock-reasoning-tokens", "x-mock-output-tokens"]
CLAUDE = {"input": 3.00, "cached_input": 0.30, "cache_write": 3.75, "output": 15.00}
# The error cases' 5xx must not open a breaker under the other cases.
NO_BREAKER = {"enabled": False}
GPT = {"input": 0.15, "cached_input": 0.075, "output": 0.60}

# The events of a streamed message, in the order Anthropic documents them
# for one content block (ping may come anywhere after message_start).
MESSAGE_EVENTS = ["message_start", "content_block_start", "content_block_delta",
                  "content_block_stop", "message_delta", "message_stop"]

USER = [{"role": "user", "content": "Name three colours please"}]
# mock-llm: (words + 3) per message, plus 3
PROMPT = words("Name three colours please") + 3 + 3


def prose(n):
    return " ".join("tok%d" % i for i in range(1, n + 1))


def anthropic_events(body):
    """(event name, data object) of each SSE event of an Anthropic stream."""
    out = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        out.append((name, json.loads("\n".join(data))))
    return out


def collapse(names):
    """Event names without pings, runs of one name made one."""
    out = []
    for n in names:
        if n != "ping" and (not out or out[-1] != n):
            out.append(n)
    return out


class AnthropicTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.down = cls.start_mock()     # the fallback's first route: 500 to everything
        cls.down.configure(status=500)
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(),
            [provider("oai", cls.mock, forward_headers=FORWARD, breaker=NO_BREAKER),
             provider("ant", cls.mock, type="anthropic", forward_headers=FORWARD, breaker=NO_BREAKER),
             provider("ant-down", cls.down, type="anthropic", breaker=NO_BREAKER)],
            [model("claude", [("ant", "claude-sonnet-4-5")], CLAUDE),
             model("gpt", [("oai", "gpt-4o-mini")], GPT),
             model("claude-then-gpt", [("ant-down", "claude-sonnet-4-5"), ("oai", "gpt-4o-mini")], GPT),
             model("embed-claude", [("ant", "text-embedding-3-small")], CLAUDE)],
            **tenancy_sections(cls.workdir)), ADMIN_ENV)
        t = cls.tollgate
        t.create_org("anth", "paid")
        cls.key = t.create_key("anth", "raw")["key"]
        cls.slow_key = t.create_key("anth", "one-a-minute", rpm=1)["key"]

    # --- helpers -----------------------------------------------------------

    def post(self, path, body, key=None, **headers):
        h = {"Authorization": "Bearer " + (key or self.key)}
        h.update({k.replace("_", "-"): str(v) for k, v in headers.items()})
        return self.tollgate.request("POST", path, body, h)

    def post_cut(self, path, body, **headers):
        """A stream the gateway ends as broken: its error event, then the
        connection closed without the chunked encoding's last chunk (the
        client must not take it for a whole answer). (status, bytes read)."""
        h = {"Authorization": "Bearer " + self.key, "Content-Type": "application/json"}
        h.update({k.replace("_", "-"): str(v) for k, v in headers.items()})
        conn = http.client.HTTPConnection("127.0.0.1", self.tollgate.port, timeout=10)
        try:
            conn.request("POST", path, json.dumps(body), h)
            resp = conn.getresponse()
            try:
                data = resp.read()
            except http.client.IncompleteRead as cut:
                data = cut.partial
            return resp.status, data
        finally:
            conn.close()

    def messages(self, body, **headers):
        return self.post("/v1/messages", body, **headers)

    def chat(self, body, **headers):
        return self.post("/v1/chat/completions", body, **headers)

    def assertAnthropicError(self, resp, status, err_type, *needles):
        self.assertEqual(resp.status, status, resp.body)
        self.assertTrue(resp.header("content-type").startswith("application/json"))
        body = resp.json()
        self.assertEqual(body["type"], "error", body)
        self.assertEqual(set(body), {"type", "error"})
        self.assertEqual(body["error"]["type"], err_type, body)
        for n in needles:
            self.assertIn(n, body["error"]["message"])
        return body["error"]

    def assertMessageStream(self, resp, text, model_name, usage, stop="end_turn"):
        """A whole streamed message: the documented event order, each event's
        name its data's type, the text, and the usage: message_start's, as
        message_delta's counts update it (an OpenAI stream tells the
        prompt's size only at its end)."""
        self.assertEqual(resp.status, 200, resp.body)
        self.assertTrue(resp.header("content-type").startswith("text/event-stream"))
        events = anthropic_events(resp.body)
        for name, data in events:
            self.assertEqual(name, data["type"])
        self.assertEqual(collapse(n for n, _ in events), MESSAGE_EVENTS)
        start = events[0][1]["message"]
        self.assertEqual((start["role"], start["model"], start["content"]), ("assistant", model_name, []))
        deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
        self.assertEqual("".join(d["text"] for d in deltas), text)
        final = [d for n, d in events if n == "message_delta"][0]
        self.assertEqual(final["delta"]["stop_reason"], stop)
        got = dict(start["usage"], **final["usage"])
        for k, v in usage.items():
            self.assertEqual(got.get(k, 0), v, (k, got))
        return events

    def assertChatStream(self, resp, text, usage=None):
        self.assertEqual(resp.status, 200, resp.body)
        events = harness.sse_events(resp.body)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        for c in chunks:
            self.assertEqual(c["object"], "chat.completion.chunk")
        self.assertEqual("".join(c["choices"][0]["delta"].get("content") or ""
                                 for c in chunks if c["choices"]), text)
        finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]
                  and c["choices"][0].get("finish_reason")]
        self.assertEqual(finish, ["stop"])
        usage_chunks = [c for c in chunks if not c["choices"]]
        if usage is None:
            self.assertEqual(usage_chunks, [])
            self.assertTrue(all(c.get("usage") is None for c in chunks))
        else:
            self.assertEqual(len(usage_chunks), 1)
            self.assertIs(usage_chunks[0], chunks[-1])
            u = usage_chunks[0]["usage"]
            self.assertEqual((u["prompt_tokens"], u["completion_tokens"]), usage)
        return chunks

    # --- every dialect, plain and streamed ------------------------------

    def test_messages_on_anthropic_provider_pass_as_they_are(self):
        r = self.messages({"model": "claude", "max_tokens": 6, "messages": USER},
                          x_mock_cache_read=40, x_mock_cache_write=12)
        self.assertEqual(r.status, 200, r.body)
        m = r.json()
        self.assertEqual((m["type"], m["role"], m["model"], m["stop_reason"]),
                         ("message", "assistant", "claude-sonnet-4-5", "max_tokens"))
        self.assertEqual(m["content"], [{"type": "text", "text": prose(6)}])
        self.assertEqual((m["usage"]["input_tokens"], m["usage"]["cache_read_input_tokens"],
                          m["usage"]["cache_creation_input_tokens"], m["usage"]["output_tokens"]),
                         (PROMPT, 40, 12, 6))
        self.assertEqual(r.header("x-tollgate-provider"), "ant")
        self.assertEqual(self.mock.stats()["last_headers"].get("anthropic-version") is not None, True)

        s = self.messages({"model": "claude", "max_tokens": 50, "messages": USER, "stream": True},
                          x_mock_cache_read=3, x_mock_cache_write=4, x_mock_output_tokens=5)
        self.assertMessageStream(s, prose(5), "claude-sonnet-4-5",
                                 {"input_tokens": PROMPT, "cache_read_input_tokens": 3,
                                  "cache_creation_input_tokens": 4, "output_tokens": 5})

    def test_messages_on_openai_provider_are_translated(self):
        r = self.messages({"model": "gpt", "max_tokens": 6, "system": "You are terse.",
                           "messages": USER}, x_mock_cached_tokens=5)
        self.assertEqual(r.status, 200, r.body)
        m = r.json()
        self.assertEqual((m["type"], m["role"], m["model"], m["stop_reason"]),
                         ("message", "assistant", "gpt", "end_turn"))
        self.assertTrue(m["id"])
        self.assertEqual(m["content"], [{"type": "text", "text": prose(6)}])
        prompt = PROMPT + words("You are terse.") + 3
        self.assertEqual(m["usage"], {"input_tokens": prompt - 5, "cache_read_input_tokens": 5,
                                      "cache_creation_input_tokens": 0, "output_tokens": 6})
        self.assertEqual(r.header("x-tollgate-provider"), "oai")

        s = self.messages({"model": "gpt", "max_tokens": 4, "messages": USER, "stream": True})
        self.assertMessageStream(s, prose(4), "gpt", {"input_tokens": PROMPT, "output_tokens": 4})

    def test_chat_on_anthropic_provider_is_translated(self):
        r = self.chat({"model": "claude", "max_tokens": 6, "messages": USER},
                      x_mock_cache_read=20, x_mock_cache_write=8)
        self.assertEqual(r.status, 200, r.body)
        c = r.json()
        self.assertEqual((c["object"], c["model"]), ("chat.completion", "claude"))
        self.assertEqual(c["choices"][0]["message"]["content"], prose(6))
        self.assertEqual(c["choices"][0]["finish_reason"], "length")   # Anthropic's max_tokens
        self.assertEqual((c["usage"]["prompt_tokens"], c["usage"]["completion_tokens"],
                          c["usage"]["total_tokens"], c["usage"]["prompt_tokens_details"]["cached_tokens"]),
                         (PROMPT + 28, 6, PROMPT + 28 + 6, 20))

        body = {"model": "claude", "max_tokens": 20, "messages": USER, "stream": True}
        self.assertChatStream(self.chat(body), prose(16))
        body["stream_options"] = {"include_usage": True}
        self.assertChatStream(self.chat(body, x_mock_cache_read=2), prose(16), (PROMPT + 2, 16))

    def test_chat_on_openai_provider_passes(self):
        r = self.chat({"model": "gpt", "max_tokens": 3, "messages": USER})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["model"], "gpt-4o-mini")
        self.assertEqual(r.json()["choices"][0]["message"]["content"], prose(3))
        body = {"model": "gpt", "max_tokens": 3, "messages": USER, "stream": True}
        self.assertChatStream(self.chat(body), prose(3))
        body["stream_options"] = {"include_usage": True}
        self.assertChatStream(self.chat(body), prose(3), (PROMPT, 3))

    # --- errors -------------------------------------------------------------

    def test_messages_errors_have_anthropic_shape(self):
        t = self.tollgate
        auth = {"Authorization": "Bearer " + self.key, "Content-Type": "application/json"}
        self.assertAnthropicError(t.request("POST", "/v1/messages", b'{"model": "claude",', auth),
                                  400, "invalid_request_error")
        self.assertAnthropicError(self.messages({"model": "nope", "max_tokens": 5, "messages": USER}),
                                  404, "not_found_error")
        self.assertAnthropicError(t.request("POST", "/v1/messages",
                                            {"model": "claude", "max_tokens": 5, "messages": USER}),
                                  401, "authentication_error")
        # the Anthropic SDKs send the key as x-api-key
        r = t.request("POST", "/v1/messages", {"model": "claude", "max_tokens": 5, "messages": USER},
                      {"x-api-key": self.key})
        self.assertEqual(r.status, 200, r.body)
        # rate limit: the key's one request a minute
        body = {"model": "claude", "max_tokens": 2, "messages": USER}
        self.assertEqual(self.post("/v1/messages", body, key=self.slow_key).status, 200)
        err = self.assertAnthropicError(self.post("/v1/messages", body, key=self.slow_key),
                                        429, "rate_limit_error")
        self.assertTrue(err["message"])

    def test_untranslatable_fields_are_refused_by_name(self):
        # an Anthropic client on an OpenAI provider: top_k has no equivalent
        before = self.mock.stats()["requests"]
        err = self.assertAnthropicError(
            self.messages({"model": "gpt", "max_tokens": 5, "messages": USER, "top_k": 5}),
            400, "invalid_request_error", "top_k")
        self.assertIn("top-k", err["message"])
        # an OpenAI client on an Anthropic provider: logprobs, and a member no API has
        r = self.chat({"model": "claude", "max_tokens": 5, "messages": USER, "logprobs": True})
        e = self.assertOpenAIError(r, 400, "invalid_request_error", "invalid_request")
        self.assertEqual(e["param"], "logprobs")
        self.assertIn("logprobs", e["message"])
        r = self.chat({"model": "claude", "max_tokens": 5, "messages": USER, "frobnicate": 1})
        self.assertEqual(self.assertOpenAIError(r, 400, "invalid_request_error", "invalid_request")["param"],
                         "frobnicate")
        r = self.chat({"model": "claude", "max_tokens": 5, "n": 2, "messages": USER})
        self.assertEqual(self.assertOpenAIError(r, 400, "invalid_request_error", "invalid_request")["param"], "n")
        # nested: a content part
        r = self.messages({"model": "gpt", "max_tokens": 5, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi", "citations": [{"x": 1}]}]}]})
        self.assertAnthropicError(r, 400, "invalid_request_error", "citations")
        # a value that asks for nothing passes
        r = self.chat({"model": "claude", "max_tokens": 2, "n": 1, "logprobs": False, "messages": USER})
        self.assertEqual(r.status, 200, r.body)
        # the refused ones never reached the provider
        self.assertEqual(self.mock.stats()["requests"], before + 1)

    def test_provider_errors_in_the_clients_api(self):
        # a 4xx the provider gave is relayed, in the client's API's shape
        r = self.messages({"model": "gpt", "max_tokens": 5, "messages": USER}, x_mock_status=403)
        self.assertAnthropicError(r, 403, "permission_error")
        r = self.messages({"model": "gpt", "max_tokens": 5, "messages": USER}, x_mock_status=400)
        self.assertAnthropicError(r, 400, "invalid_request_error")
        r = self.chat({"model": "claude", "max_tokens": 5, "messages": USER}, x_mock_status=404)
        self.assertEqual(r.status, 404, r.body)
        self.assertEqual(r.json()["error"]["type"], "not_found_error")
        self.assertEqual(set(r.json()["error"]), {"message", "type", "param", "code"})
        r = self.chat({"model": "claude", "max_tokens": 5, "messages": USER, "stream": True},
                      x_mock_status=400)
        self.assertEqual((r.status, r.json()["error"]["type"]), (400, "invalid_request_error"))
        # 429 and 5xx are retried, then the gateway's own error, in the client's shape
        r = self.messages({"model": "gpt", "max_tokens": 5, "messages": USER}, x_mock_status=429)
        self.assertAnthropicError(r, 429, "rate_limit_error")
        r = self.messages({"model": "claude", "max_tokens": 5, "messages": USER, "stream": True},
                          x_mock_status=500)
        self.assertAnthropicError(r, 502, "api_error")
        r = self.chat({"model": "claude", "max_tokens": 5, "messages": USER}, x_mock_status=529)
        self.assertOpenAIError(r, 502, "upstream_error", "upstream_unavailable")
        r = self.chat({"model": "claude", "max_tokens": 5, "messages": USER}, x_mock_status=429)
        self.assertOpenAIError(r, 429, "rate_limit_error", "upstream_rate_limited")

    def test_streams_cut_by_the_provider_end_in_an_error_event(self):
        for name, body in (("native", {"model": "claude", "max_tokens": 8, "messages": USER, "stream": True}),
                           ("translated", {"model": "gpt", "max_tokens": 8, "messages": USER,
                                           "stream": True})):
            with self.subTest(name):
                status, data = self.post_cut("/v1/messages", body, x_mock_fault="truncate")
                self.assertEqual(status, 200, data)
                events = anthropic_events(data)
                names = [n for n, _ in events]
                self.assertNotIn("message_stop", names)
                self.assertNotIn("message_delta", names)
                self.assertEqual(names[-1], "error", names)
                self.assertEqual(names[0], "message_start")
                err = events[-1][1]
                self.assertEqual(err["error"]["type"], "api_error")
                self.assertIn("incomplete", err["error"]["message"])
                text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
                self.assertEqual(text, prose(4))
        status, data = self.post_cut("/v1/chat/completions", {"model": "claude", "max_tokens": 8,
                                                              "messages": USER, "stream": True},
                                     x_mock_fault="truncate")
        self.assertEqual(status, 200, data)
        events = harness.sse_events(data)
        self.assertNotIn("[DONE]", events)
        last = json.loads(events[-1])
        self.assertEqual((last["error"]["type"], last["error"]["code"]),
                         ("upstream_error", "upstream_stream_broken"))
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        self.assertEqual("".join(c["choices"][0]["delta"].get("content") or "" for c in chunks), prose(4))

    def test_operation_an_anthropic_provider_cannot_serve(self):
        before = self.mock.stats()["requests"]
        r = self.post("/v1/embeddings", {"model": "embed-claude", "input": "hello"})
        e = self.assertOpenAIError(r, 400, "invalid_request_error", "invalid_request")
        self.assertIn("Anthropic", e["message"])
        self.assertIn("embeddings", e["message"])
        self.assertEqual(self.mock.stats()["requests"], before)

    def test_fallback_from_anthropic_provider_to_openai(self):
        down_before = self.down.stats()["requests"]
        r = self.messages({"model": "claude-then-gpt", "max_tokens": 3, "messages": USER})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual((r.json()["type"], r.json()["model"]), ("message", "claude-then-gpt"))
        self.assertEqual(r.json()["content"][0]["text"], prose(3))
        self.assertEqual(r.header("x-tollgate-fallback"), "ant-down->oai")
        s = self.messages({"model": "claude-then-gpt", "max_tokens": 3, "messages": USER, "stream": True})
        self.assertMessageStream(s, prose(3), "claude-then-gpt", {"input_tokens": PROMPT, "output_tokens": 3})
        self.assertEqual(s.header("x-tollgate-fallback"), "ant-down->oai")
        c = self.chat({"model": "claude-then-gpt", "max_tokens": 3, "messages": USER, "stream": True})
        self.assertChatStream(c, prose(3))
        self.assertEqual(c.header("x-tollgate-fallback"), "ant-down->oai")
        self.assertEqual(self.down.stats()["paths"]["/v1/messages"] - 0 >= 3, True)
        self.assertEqual(self.down.stats()["requests"] - down_before, 3)

    # --- accounting -------------------------------------------------------

    def test_ledger_and_metrics_under_messages(self):
        """Every token type of every dialect, plain and streamed, in the
        ledger and the metrics, priced (cache writes at cache_write)."""
        t = self.tollgate
        m0 = t.metrics()
        calls = [
            (self.messages, {"model": "claude", "max_tokens": 7, "messages": USER},
             {"x_mock_cache_read": 30, "x_mock_cache_write": 11}),
            (self.messages, {"model": "gpt", "max_tokens": 5, "messages": USER, "stream": True},
             {"x_mock_cached_tokens": 4, "x_mock_reasoning_tokens": 2}),
            (self.messages, {"model": "gpt", "max_tokens": 6, "messages": USER},
             {"x_mock_cached_tokens": 3, "x_mock_reasoning_tokens": 1}),
            (self.chat, {"model": "claude", "max_tokens": 50, "messages": USER, "stream": True},
             {"x_mock_cache_read": 5, "x_mock_cache_write": 6, "x_mock_output_tokens": 9}),
            (self.messages, {"model": "claude", "max_tokens": 50, "messages": USER, "stream": True},
             {"x_mock_cache_read": 2, "x_mock_cache_write": 13, "x_mock_output_tokens": 3}),
        ]
        rids = ["acct-%d" % i for i in range(len(calls))]
        for rid, (send, body, headers) in zip(rids, calls):
            r = send(body, X_Request_ID=rid, **headers)
            self.assertEqual(r.status, 200, r.body)
        # the table lags the answers by ledger.flush_ms (the rows wait in the journal)
        mine = "FROM ledger WHERE request_id IN (%s)" % ",".join("?" * len(rids))
        harness.poll(lambda: len(t.db("SELECT id " + mine, *rids)) >= len(calls), timeout=10)
        rows = t.db("SELECT operation, model_requested, provider, prompt_tokens, cached_tokens,"
                    " cache_write_tokens, completion_tokens, reasoning_tokens, cost_usd, status "
                    + mine + " ORDER BY id", *rids)
        self.assertEqual([(x["operation"], x["model_requested"], x["provider"], x["status"]) for x in rows],
                         [("messages", "claude", "ant", 200), ("messages", "gpt", "oai", 200),
                          ("messages", "gpt", "oai", 200), ("chat", "claude", "ant", 200),
                          ("messages", "claude", "ant", 200)])
        # (prompt, cached, written, completion, reasoning); prompt counts all three kinds of input
        expected = [(PROMPT + 41, 30, 11, 7, 0), (PROMPT, 4, 0, 5, 2), (PROMPT, 3, 0, 6, 1),
                    (PROMPT + 11, 5, 6, 9, 0), (PROMPT + 15, 2, 13, 3, 0)]
        self.assertEqual([(x["prompt_tokens"], x["cached_tokens"], x["cache_write_tokens"],
                           x["completion_tokens"], x["reasoning_tokens"]) for x in rows], expected)
        price = {"claude": CLAUDE, "gpt": GPT}
        for row, (p, c, w, out, _) in zip(rows, expected):
            pr = price[row["model_requested"]]
            want = ((p - c - w) * pr["input"] + c * pr["cached_input"]
                    + w * pr.get("cache_write", pr["input"]) + out * pr["output"]) / 1e6
            self.assertAlmostEqual(row["cost_usd"], want, places=12)

        m = t.metrics()
        d = lambda name, **l: m.value(name, **l) - m0.value(name, **l)
        for stream_mode, provider_name, n in (("non_streaming", "ant", 1), ("streaming", "oai", 1),
                                              ("non_streaming", "oai", 1), ("streaming", "ant", 1)):
            self.assertEqual(d("tollgate_llm_requests_total", operation="messages", provider=provider_name,
                               stream_mode=stream_mode, status="success"), n)
        self.assertEqual(d("tollgate_llm_requests_total", operation="chat"), 1)
        types = ("prompt", "cached_prompt", "cache_write", "completion", "reasoning")
        for name in ("claude", "gpt"):
            mine = [e for e, row in zip(expected, rows) if row["model_requested"] == name]
            self.assertEqual([d("tollgate_llm_tokens_total", model=name, type=x) for x in types],
                             [sum(e[i] for e in mine) for i in range(5)], name)
            self.assertAlmostEqual(d("tollgate_llm_cost_dollars_sum", model=name),
                                   sum(r["cost_usd"] for r in rows if r["model_requested"] == name), places=12)
        self.assertEqual(d("tollgate_llm_request_duration_seconds_count", operation="messages"), 4)
        self.assertEqual(harness.unbounded_labels(m, ["oai", "ant", "ant-down"],
                                                  ["claude", "gpt", "claude-then-gpt", "embed-claude"]), [])

if __name__ == "__main__":
    harness.main()
