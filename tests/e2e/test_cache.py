# End-to-end: the response cache (docs/cache.md) through the real binary
# and mock-llm. A repeated deterministic request is answered from memory,
# byte for byte, without an upstream call (the mock's stats say so), also
# when its JSON has other key order and whitespace; after a restart the
# same request is answered from the SQLite tier, then from memory again; a
# stream is replayed byte for byte, a plain request is answered from a
# cached stream and a stream from a cached plain answer; non-deterministic
# requests are never cached; orgs never see each other's answers; the
# use / bypass / refresh directives; hits' ledger rows (zero cost, the
# tier), access lines and metrics; 100 concurrent identical misses make one
# upstream call, a failed fill sends its waiters upstream, and a wait
# longer than cache.coalesce_wait_ms ends with the waiter's own call.

import json
import threading
import time

import harness
from harness import (ADMIN_ENV, GatewayTestCase, free_port, gateway_config, model, poll,
                     provider, sse_events, tenancy_sections)

PRICING = {"input": 0.15, "cached_input": 0.075, "output": 0.60}
FORWARD = ["x-mock-latency-ms", "x-mock-status", "x-mock-cached-tokens"]


def chat(text, max_tokens=5, **extra):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}],
            "max_tokens": max_tokens}
    body.update(extra)
    return body


def start_cache_gateway(cls, port=None, **cache):
    """A tollgate with a store in cls.workdir; cache: the cache section."""
    sections = tenancy_sections(cls.workdir, allow_anonymous=True)
    if cache:
        sections["cache"] = cache
    cls.tollgate = cls.start_tollgate(gateway_config(
        port or free_port(), [provider("mock", cls.mock, forward_headers=FORWARD)],
        [model("gpt-4o-mini", [("mock", "gpt-4o-mini")], PRICING)], **sections), ADMIN_ENV)
    return cls.tollgate


class CacheTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        t = start_cache_gateway(cls)
        t.create_org("cache-a", "paid")
        t.create_org("cache-b", "paid")
        cls.ka = t.create_key("cache-a", "ka")
        cls.kb = t.create_key("cache-b", "kb")

    def send(self, body, key=None, headers=None, rid=None):
        hdrs = dict(headers or {})
        hdrs["Authorization"] = "Bearer " + (key or self.ka)["key"]
        if rid is not None:
            hdrs["X-Request-ID"] = rid
        return self.tollgate.chat(body, hdrs)

    def upstream_calls(self):
        return self.mock.stats()["chat"]

    def assertUpstream(self, before, calls):
        self.assertEqual(self.upstream_calls() - before, calls)

    def test_memory_hit_is_byte_identical(self):
        body = chat("memory hit please", temperature=0)
        before = self.upstream_calls()
        first = self.send(body)
        self.assertEqual(first.status, 200, first.body)
        self.assertEqual(first.header("x-tollgate-cache"), "miss")
        second = self.send(body)
        self.assertEqual(second.status, 200)
        self.assertEqual(second.header("x-tollgate-cache"), "hit-memory")
        self.assertEqual(second.body, first.body)
        self.assertEqual(second.header("content-type"), "application/json")
        self.assertUpstream(before, 1)
        # other key order and whitespace: the same normalised request
        raw = ('{ "max_tokens" : 5,\n "temperature": 0, "messages": [ {"content": "memory hit please",'
               ' "role": "user"} ],\t"model": "gpt-4o-mini" }')
        third = self.tollgate.request("POST", "/v1/chat/completions", raw,
                                      {"Authorization": "Bearer " + self.ka["key"],
                                       "Content-Type": "application/json"})
        self.assertEqual(third.header("x-tollgate-cache"), "hit-memory")
        self.assertEqual(third.body, first.body)
        self.assertUpstream(before, 1)
        # a different parameter is a different request
        other = self.send(chat("memory hit please", max_tokens=6, temperature=0))
        self.assertEqual(other.header("x-tollgate-cache"), "miss")
        self.assertUpstream(before, 2)

    def test_seed_makes_a_request_cacheable(self):
        body = chat("seeded", temperature=0.9, seed=42)
        before = self.upstream_calls()
        self.assertEqual(self.send(body).header("x-tollgate-cache"), "miss")
        self.assertEqual(self.send(body).header("x-tollgate-cache"), "hit-memory")
        self.assertUpstream(before, 1)

    def test_non_deterministic_requests_are_never_cached(self):
        for body in (chat("not deterministic"), chat("warm", temperature=0.7),
                     chat("null seed", temperature=1, seed=None)):
            before = self.upstream_calls()
            a, b = self.send(body), self.send(body)
            self.assertEqual((a.status, b.status), (200, 200))
            self.assertIsNone(a.header("x-tollgate-cache"), body)
            self.assertIsNone(b.header("x-tollgate-cache"), body)
            self.assertNotEqual(a.json()["id"], b.json()["id"])
            self.assertUpstream(before, 2)

    def test_orgs_are_isolated(self):
        body = chat("org scoped", temperature=0)
        before = self.upstream_calls()
        a = self.send(body, self.ka)
        self.assertEqual(self.send(body, self.ka).header("x-tollgate-cache"), "hit-memory")
        b = self.send(body, self.kb)
        self.assertEqual(b.header("x-tollgate-cache"), "miss")
        self.assertNotEqual(a.json()["id"], b.json()["id"])
        self.assertEqual(self.send(body, self.kb).body, b.body)
        self.assertUpstream(before, 2)

    def test_directives(self):
        # use: a non-deterministic request opts in
        body = chat("opt in", temperature=0.8)
        before = self.upstream_calls()
        use = {"x-tollgate-cache": "use"}
        first = self.send(body, headers=use)
        self.assertEqual(first.header("x-tollgate-cache"), "miss")
        self.assertEqual(self.send(body, headers=use).body, first.body)
        self.assertUpstream(before, 1)
        # bypass: neither read nor written
        det = chat("directive det", temperature=0)
        cached = self.send(det)
        before = self.upstream_calls()
        bypassed = self.send(det, headers={"X-Tollgate-Cache": "BYPASS"})
        self.assertEqual(bypassed.status, 200)
        self.assertIsNone(bypassed.header("x-tollgate-cache"))
        self.assertNotEqual(bypassed.body, cached.body)
        self.assertEqual(self.send(det).body, cached.body)
        self.assertUpstream(before, 1)
        # refresh: goes upstream and replaces the entry
        refreshed = self.send(det, headers={"x-tollgate-cache": "refresh"})
        self.assertEqual(refreshed.header("x-tollgate-cache"), "miss")
        self.assertNotEqual(refreshed.body, cached.body)
        self.assertUpstream(before, 2)
        again = self.send(det)
        self.assertEqual(again.header("x-tollgate-cache"), "hit-memory")
        self.assertEqual(again.body, refreshed.body)
        # anything else is refused
        bad = self.send(det, headers={"x-tollgate-cache": "sometimes"})
        self.assertOpenAIError(bad, 400, "invalid_request_error", "invalid_request")
        self.assertUpstream(before, 2)

    def test_embeddings_on_request(self):
        body = {"model": "gpt-4o-mini", "input": ["cache me"]}
        before = self.mock.stats()["embeddings"]
        hdrs = {"Authorization": "Bearer " + self.ka["key"]}
        plain = self.tollgate.request("POST", "/v1/embeddings", body, hdrs)
        self.assertIsNone(plain.header("x-tollgate-cache"))
        hdrs["x-tollgate-cache"] = "use"
        a = self.tollgate.request("POST", "/v1/embeddings", body, hdrs)
        b = self.tollgate.request("POST", "/v1/embeddings", body, hdrs)
        self.assertEqual((a.header("x-tollgate-cache"), b.header("x-tollgate-cache")), ("miss", "hit-memory"))
        self.assertEqual(a.body, b.body)
        self.assertEqual(self.mock.stats()["embeddings"] - before, 2)

    def test_stream_replay_is_byte_identical(self):
        body = chat("stream me please", max_tokens=6, temperature=0, stream=True,
                    stream_options={"include_usage": True})
        before = self.upstream_calls()
        first = self.send(body)
        self.assertEqual(first.status, 200)
        self.assertEqual(first.header("x-tollgate-cache"), "miss")
        second = self.send(body)
        self.assertEqual(second.header("x-tollgate-cache"), "hit-memory")
        self.assertEqual(second.header("content-type"), "text/event-stream")
        self.assertEqual(second.body, first.body)
        self.assertTrue(second.body.endswith(b"data: [DONE]\n\n"))
        # without include_usage: the same chunks, no usage chunk
        no_usage = dict(body)
        del no_usage["stream_options"]
        third = self.send(no_usage)
        self.assertEqual(third.header("x-tollgate-cache"), "hit-memory")
        events = sse_events(first.body)
        self.assertEqual(sse_events(third.body), [e for e in events if '"choices":[]' not in e])
        # a plain request answered from the cached stream
        plain_body = dict(no_usage)
        del plain_body["stream"]
        plain = self.send(plain_body)
        self.assertEqual(plain.header("x-tollgate-cache"), "hit-memory")
        completion = plain.json()
        chunks = [json.loads(e) for e in events if e != "[DONE]"]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        self.assertEqual(completion["object"], "chat.completion")
        self.assertEqual(completion["choices"][0]["message"], {"role": "assistant", "content": text})
        self.assertEqual(completion["choices"][0]["finish_reason"], "stop")
        self.assertEqual(completion["usage"], chunks[-1]["usage"])
        self.assertEqual(completion["id"], chunks[0]["id"])
        self.assertUpstream(before, 1)

    def test_stream_from_cached_plain_answer(self):
        plain_body = chat("plain first", max_tokens=4, temperature=0)
        before = self.upstream_calls()
        plain = self.send(plain_body)
        stream = self.send(dict(plain_body, stream=True, stream_options={"include_usage": True}))
        self.assertEqual(stream.header("x-tollgate-cache"), "hit-memory")
        self.assertEqual(stream.header("content-type"), "text/event-stream")
        events = sse_events(stream.body)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        completion = plain.json()
        self.assertTrue(all(c["object"] == "chat.completion.chunk" and c["id"] == completion["id"]
                            for c in chunks))
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        self.assertEqual(text, completion["choices"][0]["message"]["content"])
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertEqual(chunks[-1]["usage"], completion["usage"])
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"], "stop")
        self.assertUpstream(before, 1)

    def test_hits_billing_logs_and_metrics(self):
        t = self.tollgate
        body = chat("bill the hit", max_tokens=7, temperature=0)
        m0 = t.metrics()
        miss = self.send(body, rid="cache-bill-miss")
        hit = self.send(body, rid="cache-bill-hit")
        self.assertEqual(hit.header("x-tollgate-cache"), "hit-memory")
        usage = miss.json()["usage"]
        cost = (usage["prompt_tokens"] * PRICING["input"] + usage["completion_tokens"] * PRICING["output"]) / 1e6
        rows = {r["request_id"]: r for r in poll(lambda: (lambda rs: rs if len(rs) == 2 else None)(
            t.db("SELECT * FROM ledger WHERE request_id IN ('cache-bill-miss', 'cache-bill-hit')")), timeout=10)}
        m, h = rows["cache-bill-miss"], rows["cache-bill-hit"]
        self.assertEqual((m["cache_hit"], m["cache_tier"]), (0, ""))
        self.assertAlmostEqual(m["cost_usd"], cost)
        self.assertEqual((h["cache_hit"], h["cache_tier"], h["cost_usd"]), (1, "memory", 0))
        self.assertEqual((h["provider"], h["model_used"], h["model_requested"], h["org"]),
                         ("mock", "gpt-4o-mini", "gpt-4o-mini", "cache-a"))
        self.assertEqual((h["prompt_tokens"], h["completion_tokens"]),
                         (usage["prompt_tokens"], usage["completion_tokens"]))
        self.assertEqual(h["status"], 200)
        log = t.access_log("cache-bill-hit")
        self.assertEqual((log["cache_hit"], log["cache_tier"], log["cost"]), (True, "memory", 0))
        self.assertEqual(log["model_used"], "gpt-4o-mini")
        self.assertEqual(t.access_log("cache-bill-miss")["cache_hit"], False)
        m1 = t.metrics()

        def delta(name, **labels):
            return m1.value(name, **labels) - m0.value(name, **labels)
        self.assertEqual(delta("tollgate_cache_hits_total", tier="memory"), 1)
        self.assertEqual(delta("tollgate_cache_misses_total", tier="memory"), 1)
        self.assertEqual(delta("tollgate_cache_misses_total", tier="sqlite"), 1)
        self.assertAlmostEqual(delta("tollgate_cache_saved_dollars_total", tier="memory"), cost)
        # a hit is not an LLM call
        self.assertEqual(delta("tollgate_llm_requests_total", model="gpt-4o-mini"), 1)
        self.assertEqual(delta("tollgate_http_requests_total", path="/v1/chat/completions", status="200"), 2)
        self.assertIn("tollgate_cache_hits_total", m1.text)

    def test_coalescing_makes_one_upstream_call(self):
        body = chat("coalesce these", temperature=0)
        before = self.upstream_calls()
        answers = [None] * 100
        start = threading.Barrier(100)

        def one(i):
            start.wait()
            answers[i] = self.send(body, headers={"X-Mock-Latency-Ms": "600"})
        threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual([a.status for a in answers], [200] * 100)
        self.assertEqual(sorted(a.header("x-tollgate-cache") for a in answers), ["hit-memory"] * 99 + ["miss"])
        self.assertEqual({a.body for a in answers}, {answers[0].body})
        self.assertUpstream(before, 1)

    def test_failed_fill_sends_waiters_upstream(self):
        body = chat("the filler fails", temperature=0)
        before = self.upstream_calls()
        # the first request fails slowly; the others, waiting on it, then call themselves
        self.mock.configure(fail_first=1, status=500, latency_ms=500)
        try:
            first = [None]
            th = threading.Thread(target=lambda: first.__setitem__(0, self.send(body)))
            th.start()
            time.sleep(0.2)
            rest = [None] * 3
            others = [threading.Thread(target=lambda i=i: rest.__setitem__(i, self.send(body))) for i in range(3)]
            for o in others:
                o.start()
            for o in others + [th]:
                o.join()
        finally:
            self.mock.reset()
        self.assertEqual(first[0].status, 502)
        self.assertEqual(first[0].header("x-tollgate-cache"), "miss")
        self.assertEqual([r.status for r in rest], [200] * 3)
        self.assertEqual([r.header("x-tollgate-cache") for r in rest], ["miss"] * 3)
        self.assertUpstream(before, 4)


class CacheRestartTest(GatewayTestCase):
    """The SQLite tier outlives the process; a short coalescing bound."""

    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.port = free_port()
        start_cache_gateway(cls, cls.port, coalesce_wait_ms=300)

    def test_served_from_sqlite_after_restart(self):
        plain = chat("survive a restart", temperature=0)
        stream = chat("stream survives", temperature=0, stream=True, stream_options={"include_usage": True})
        first = self.tollgate.chat(plain)
        first_stream = self.tollgate.chat(stream)
        self.assertEqual(first.header("x-tollgate-cache"), "miss")
        poll(lambda: len(self.tollgate.db("SELECT key FROM cache")) == 2, timeout=10)
        self.tollgate.stop(self.fail)
        self._procs.remove(self.tollgate)
        before = self.mock.stats()["chat"]
        t = start_cache_gateway(type(self), self.port, coalesce_wait_ms=300)
        m0 = t.metrics()
        again = t.chat(plain)
        self.assertEqual(again.status, 200)
        self.assertEqual(again.header("x-tollgate-cache"), "hit-sqlite")
        self.assertEqual(again.body, first.body)
        again_stream = t.chat(stream)
        self.assertEqual(again_stream.header("x-tollgate-cache"), "hit-sqlite")
        self.assertEqual(again_stream.body, first_stream.body)
        # promoted to memory
        self.assertEqual(t.chat(plain).header("x-tollgate-cache"), "hit-memory")
        self.assertEqual(self.mock.stats()["chat"], before)
        m1 = t.metrics()
        self.assertEqual(m1.value("tollgate_cache_hits_total", tier="sqlite")
                         - m0.value("tollgate_cache_hits_total", tier="sqlite"), 2)
        # the two rows may reach the table in two flushes: wait for both
        hits = lambda: t.db("SELECT cost_usd FROM ledger WHERE cache_tier = 'sqlite'")
        poll(lambda: len(hits()) >= 2, timeout=10)
        self.assertEqual([r["cost_usd"] for r in hits()], [0, 0])

    def test_wait_is_bounded(self):
        body = chat("too slow to wait for", temperature=0)
        before = self.mock.stats()["chat"]
        answers = [None] * 3

        def one(i):
            time.sleep(0.1 * i)
            answers[i] = self.tollgate.chat(body, {"X-Mock-Latency-Ms": "1500"})
        threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual([a.status for a in answers], [200] * 3)
        # the waiters gave up after 300 ms and called the provider themselves
        self.assertEqual(self.mock.stats()["chat"] - before, 3)


if __name__ == "__main__":
    harness.main()
