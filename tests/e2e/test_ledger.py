# End-to-end: the usage ledger (docs/tenancy.md, "Usage ledger"), read
# straight from the SQLite file. Known traffic (plain, streamed, embeddings;
# two orgs' keys and anonymous; cached and reasoning tokens; a provider
# error) leaves exactly one row per request that reached the provider, with
# mock-llm's token counts and the configured prices; requests refused
# before a provider leave none. A client that leaves mid-stream is billed
# estimated tokens, marked in the row and the access log. Ledger totals
# equal the token and cost metrics, GET /admin/v1/usage equals SQL over the
# rows (also bounded at each row's own time, inside a block), the ledger_* metrics count what was written, a database locked by
# another process leaves rows in the journal, retried (a full journal
# spools them; admin changes get 503), and SIGTERM under load commits every
# row of every answer a client received.

import datetime
import signal
import sqlite3
import threading
import time

import harness
from harness import (ADMIN_ENV, GatewayTestCase, chat_prompt_tokens, cost, embedding_tokens,
                     free_port, gateway_config, hang_up_mid_stream, model, poll, provider,
                     tenancy_sections)

CHEAP = {"input": 0.15, "cached_input": 0.075, "output": 0.60}
FAST = {"input": 0.05, "cached_input": 0.025, "output": 0.08}
EMBED = {"input": 0.02, "cached_input": 0.02, "output": 0}
PRICING = {"gpt-4o-mini": CHEAP, "fast": FAST, "text-embedding-3-small": EMBED}
UPSTREAM = {"gpt-4o-mini": "gpt-4o-mini", "fast": "llama-3.1-8b-instant",
            "text-embedding-3-small": "text-embedding-3-small"}
FORWARD = ["x-mock-token-delay-ms", "x-mock-cached-tokens", "x-mock-reasoning-tokens",
           "x-mock-status"]
TOKEN_FIELDS = ("prompt_tokens", "cached_tokens", "cache_write_tokens", "completion_tokens",
                "reasoning_tokens")
USAGE_FIELDS = TOKEN_FIELDS + ("requests", "total_tokens", "cost_usd", "estimated_requests")
# GET /admin/v1/usage?group_by=X groups the ledger by this column.
GROUP_COLUMN = {"model": "model_requested", "provider": "provider", "key": "key_id", "org": "org"}


def start_ledger_gateway(cls, **tenancy):
    cls.mock = cls.start_mock()
    cls.tollgate = cls.start_tollgate(gateway_config(
        free_port(), [provider("mock", cls.mock, forward_headers=FORWARD)],
        [model(name, [("mock", UPSTREAM[name])], PRICING[name]) for name in PRICING],
        **tenancy_sections(cls.workdir, allow_anonymous=True, **tenancy)), ADMIN_ENV)


def msgs(text):
    return [{"role": "user", "content": text}]


def chat(model_name, text, max_tokens, stream=False, include_usage=False):
    body = {"model": model_name, "messages": msgs(text), "max_tokens": max_tokens}
    if stream:
        body["stream"] = True
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return body


def day_of(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d")


class LedgerTest(GatewayTestCase):
    @classmethod
    def start(cls):
        start_ledger_gateway(cls)
        cls.t0 = time.time()
        t = cls.tollgate
        t.create_org("led-a", "paid")
        t.create_org("led-b", "trial")
        cls.ka = t.create_key("led-a", "ka")
        cls.kb = t.create_key("led-b", "kb", models=["gpt-4o-mini", "text-embedding-3-small"])
        cls.expected = {}    # request id -> the row's expected fields
        cls.answers = {}     # request id -> Response
        ka, kb = cls.ka, cls.kb
        p = chat_prompt_tokens(msgs("ledger words here"))
        cls.send("led-plain-a", ka, chat("gpt-4o-mini", "ledger words here", 5),
                 expect=(p, 5, 0, 0))
        cls.send("led-cached-a", ka, chat("gpt-4o-mini", "ledger words here", 6),
                 {"X-Mock-Cached-Tokens": "4", "X-Mock-Reasoning-Tokens": "2"}, expect=(p, 6, 4, 2))
        cls.send("led-stream-a", ka, chat("fast", "ledger words here", 4, True, True),
                 expect=(p, 4, 0, 0))
        cls.send("led-stream-b", kb, chat("gpt-4o-mini", "ledger words here", 3, True),
                 expect=(p, 3, 0, 0))
        inputs = ["hello world", "x"]
        cls.send("led-embed-b", kb, {"model": "text-embedding-3-small", "input": inputs},
                 path="/v1/embeddings", expect=(embedding_tokens(inputs), 0, 0, 0))
        cls.send("led-anon", None, chat("gpt-4o-mini", "ledger words here", 2), expect=(p, 2, 0, 0))
        cls.send("led-anon-stream", None, chat("fast", "ledger words here", 7, True),
                 expect=(p, 7, 0, 0))
        # Reached the provider, which failed: a row, with no tokens.
        cls.send("led-upstream-error", ka, chat("gpt-4o-mini", "fail please", 3),
                 {"X-Mock-Status": "500"}, expect=(0, 0, 0, 0))
        # Refused before any provider: no row.
        cls.send("led-no-model", ka, chat("no-such-model", "x", 1))
        cls.send("led-not-allowed", kb, chat("fast", "x", 1))
        cls.send("led-bad-key", {"key": "tg-" + "A" * 43}, chat("gpt-4o-mini", "x", 1))
        # A client that leaves mid-stream.
        hang_up_mid_stream(t.port, chat("gpt-4o-mini", "please go slowly now", 40, True),
                           {"Authorization": "Bearer " + ka["key"], "X-Request-ID": "led-hangup",
                            "X-Mock-Token-Delay-Ms": "100"}, events=3)
        cls.hangup_log = t.access_log("led-hangup", timeout=10)
        poll(lambda: t.db("SELECT 1 FROM ledger WHERE request_id = ?", "led-hangup"), timeout=10)
        cls.t1 = time.time()

    @classmethod
    def send(cls, rid, key, body, headers=None, path="/v1/chat/completions", expect=None):
        hdrs = dict(headers or {}, **{"X-Request-ID": rid})
        if key is not None:
            hdrs["Authorization"] = "Bearer " + key["key"]
        r = cls.tollgate.request("POST", path, body, hdrs)
        cls.answers[rid] = r
        if expect is not None:
            prompt, completion, cached, reasoning = expect
            name = body["model"]
            org = "anonymous" if key is None else ("led-a" if key is cls.ka else "led-b")
            cls.expected[rid] = {
                "org": org, "key_id": None if key is None else key["id"],
                "model_requested": name, "model_used": UPSTREAM[name], "provider": "mock",
                "operation": "embeddings" if path.endswith("embeddings") else "chat",
                "prompt_tokens": prompt, "cached_tokens": cached, "cache_write_tokens": 0,
                "completion_tokens": completion, "reasoning_tokens": reasoning,
                "cost_usd": cost(PRICING[name], prompt, completion, cached),
                "status": r.status, "estimated": 0, "stream": body.get("stream", False)}

    def rows(self, where="", *args):
        return self.tollgate.db("SELECT * FROM ledger " + where, *args)

    def test_answers(self):
        for rid, r in self.answers.items():
            want = 502 if rid == "led-upstream-error" else {
                "led-no-model": 404, "led-not-allowed": 403, "led-bad-key": 401}.get(rid, 200)
            self.assertEqual(r.status, want, (rid, r.body))

    def test_one_row_per_request_that_reached_the_provider(self):
        rows = self.rows()
        by_rid = {}
        for row in rows:
            by_rid.setdefault(row["request_id"], []).append(row)
        self.assertEqual(set(by_rid), set(self.expected) | {"led-hangup"})
        self.assertEqual(len({row["id"] for row in rows}), len(rows))
        for rid, want in self.expected.items():
            self.assertEqual(len(by_rid[rid]), 1, rid)
            row = by_rid[rid][0]
            for field, value in want.items():
                if field == "stream" or (rid == "led-upstream-error" and field == "model_used"):
                    continue
                got = row[field]
                if field == "key_id" and value is None:
                    got = got or None     # "" or NULL: no key
                if field == "cost_usd":
                    self.assertAlmostEqual(got, value, places=12, msg=rid)
                else:
                    self.assertEqual(got, value, "%s.%s: %r" % (rid, field, row))
            self.assertFalse(row["cache_hit"], rid)
            self.assertGreaterEqual(row["ts"], self.t0 - 1, rid)
            self.assertLessEqual(row["ts"], self.t1 + 1, rid)
            self.assertGreater(row["latency_seconds"], 0, rid)
            if want["stream"]:
                self.assertGreaterEqual(row["ttft_seconds"], 0, rid)
                self.assertLessEqual(row["ttft_seconds"], row["latency_seconds"], rid)

    def test_client_that_left_mid_stream_is_billed_estimated_tokens(self):
        rec = self.hangup_log
        self.assertIsNotNone(rec, "no access log line for led-hangup")
        self.assertIs(rec["tokens_estimated"], True, rec)
        self.assertEqual(rec["org_id"], "led-a")
        (row,) = self.rows("WHERE request_id = ?", "led-hangup")
        self.assertEqual(row["estimated"], 1, row)
        self.assertEqual((row["org"], row["key_id"], row["model_requested"]),
                         ("led-a", self.ka["id"], "gpt-4o-mini"))
        self.assertGreater(row["prompt_tokens"], 0, row)
        self.assertGreaterEqual(row["completion_tokens"], 2, row)
        self.assertLess(row["completion_tokens"], 40, row)
        self.assertEqual((row["prompt_tokens"], row["completion_tokens"]),
                         (rec["prompt_tokens"], rec["completion_tokens"]))
        self.assertAlmostEqual(row["cost_usd"], cost(CHEAP, row["prompt_tokens"],
                                                     row["completion_tokens"]), places=12)
        self.assertAlmostEqual(rec["cost"], row["cost_usd"], places=9)

    def test_ledger_totals_equal_the_metrics(self):
        m = self.tollgate.metrics()
        (sums,) = self.tollgate.db(
            "SELECT count(*) AS n, sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion,"
            " sum(cached_tokens) AS cached, sum(reasoning_tokens) AS reasoning, sum(cost_usd) AS cost"
            " FROM ledger")
        for kind, column in (("prompt", "prompt"), ("completion", "completion"),
                             ("cached_prompt", "cached"), ("reasoning", "reasoning")):
            self.assertEqual(m.value("tollgate_llm_tokens_total", type=kind), sums[column], kind)
        self.assertAlmostEqual(m.value("tollgate_llm_cost_dollars_sum"), sums["cost"], places=9)
        self.assertEqual(m.value("tollgate_llm_requests_total"), sums["n"])
        # cost by the plan of the caller's org: led-a is paid, led-b trial, the rest anonymous
        by_org = {row["org"]: row["cost"] for row in self.tollgate.db(
            "SELECT org, sum(cost_usd) AS cost FROM ledger GROUP BY org")}
        for plan, org in (("paid", "led-a"), ("trial", "led-b"), ("anonymous", "anonymous")):
            self.assertAlmostEqual(m.value("tollgate_plan_cost_dollars_total", plan=plan), by_org[org], places=9, msg=plan)

    def test_ledger_metrics(self):
        m = self.tollgate.metrics()
        n = len(self.rows())
        self.assertEqual(m.value("tollgate_ledger_rows_written_total"), n)
        for name in ("tollgate_ledger_queue_depth", "tollgate_ledger_write_errors_total",
                     "tollgate_ledger_spooled_rows_total"):
            self.assertEqual(len(m.find(name)), 1, name)
            self.assertEqual(m.value(name), 0, name)

    # --- GET /admin/v1/usage ---------------------------------------------------------

    def usage(self, query):
        r = self.tollgate.admin("GET", "/usage?" + query)
        self.assertEqual(r.status, 200, (query, r.body))
        return r.json()

    def sql_totals(self, rows, group_of):
        totals = {}
        for row in rows:
            t = totals.setdefault(group_of(row), dict.fromkeys(USAGE_FIELDS, 0))
            t["requests"] += 1
            for f in TOKEN_FIELDS:
                t[f] += row[f]
            t["total_tokens"] += row["prompt_tokens"] + row["completion_tokens"]
            t["cost_usd"] += row["cost_usd"]
            t["estimated_requests"] += row["estimated"]
        return totals

    def assertTotal(self, got, want, what):
        for f in USAGE_FIELDS:
            if f == "cost_usd":
                self.assertAlmostEqual(got[f], want[f], places=9, msg=what)
            else:
                self.assertEqual(got[f], want[f], "%s: %s" % (what, f))

    def test_usage_by_group_equals_sql(self):
        rows = self.rows()
        everything = self.sql_totals(rows, lambda row: "")[""]
        self.assertTotal(self.usage("")["total"], everything, "no group")
        for group_by in ("model", "provider", "key", "org", "day"):
            if group_by == "day":
                group_of = lambda row: day_of(row["ts"])
            else:
                group_of = lambda row, c=GROUP_COLUMN[group_by]: row[c] or ""
            want = self.sql_totals(rows, group_of)
            body = self.usage("group_by=" + group_by)
            self.assertEqual(body["group_by"], group_by)
            got = {(d["group"] or ""): d for d in body["data"]}
            self.assertEqual(set(got), set(want), group_by)
            for g in want:
                self.assertTotal(got[g], want[g], "%s=%s" % (group_by, g))
            self.assertTotal(body["total"], everything, group_by + " total")

    def test_usage_filters(self):
        rows = self.rows()
        only_a = self.sql_totals([r for r in rows if r["org"] == "led-a"], lambda r: "")[""]
        self.assertTotal(self.usage("org=led-a")["total"], only_a, "org=led-a")
        only_kb = self.sql_totals([r for r in rows if r["key_id"] == self.kb["id"]], lambda r: "")[""]
        self.assertTotal(self.usage("key=" + self.kb["id"])["total"], only_kb, "key=kb")
        everything = self.sql_totals(rows, lambda row: "")[""]
        now = time.time()
        hour_ago = datetime.datetime.fromtimestamp(now - 3600, datetime.timezone.utc)
        tomorrow = day_of(now + 86400)
        for query in ("from=%d" % (now - 3600), "from=" + hour_ago.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "to=" + tomorrow, "from=%s&to=%s" % (day_of(now), tomorrow)):
            body = self.usage(query)
            self.assertTotal(body["total"], everything, query)
        for query in ("from=%d" % (now + 3600), "to=%d" % (self.t0 - 3600), "to=2020-01-01"):
            self.assertEqual(self.usage(query)["total"]["requests"], 0, query)

    def test_usage_bounded_at_each_rows_time_equals_sql(self):
        """from and to on each row's own time (to the microsecond the view
        gives), splitting the blocks: the API counts what SQL over the
        view counts, from <= ts < to."""
        times = sorted(r["ts"] for r in self.rows())
        self.assertGreater(len(times), 3)
        blocks = self.tollgate.db("SELECT count(*) AS n FROM ledger_blocks")[0]["n"]
        self.assertLess(blocks, len(times), "no block of several rows: nothing is split")
        for ts in times:
            for query, where in (("from=%r" % ts, "ts >= ?"), ("to=%r" % ts, "ts < ?"),
                                 ("from=%r&to=%r" % (ts, ts + 1e-6), "ts >= ? AND ts < ? + 1e-6")):
                want = self.sql_totals(self.rows("WHERE " + where, *([ts] * where.count("?"))),
                                       lambda r: "").get("", dict.fromkeys(USAGE_FIELDS, 0))
                self.assertTotal(self.usage(query)["total"], want, query)


class LockedStoreTest(GatewayTestCase):
    """Another process holds the database's write lock longer than
    store.busy_timeout_ms: an admin change is refused with 503
    store_unavailable and changes nothing; requests are still answered,
    their rows waiting in the journal (each failed transaction counts as a
    write error and is tried again at the next flush, nothing spooled), and
    reach the ledger once the lock is gone, each once."""

    queue_size = None   # the default: the journal holds every row of the test
    locked = ["locked-%d" % i for i in range(5)]

    @classmethod
    def start(cls):
        start_ledger_gateway(cls, busy_timeout_ms=200, queue_size=cls.queue_size)

    def test_rows_wait_until_the_lock_is_gone(self):
        t = self.tollgate
        self.assertEqual(t.chat(chat("gpt-4o-mini", "before", 2), {"X-Request-ID": "unlocked"}).status, 200)
        # in the table (and its slot free) before the lock is taken
        self.assertTrue(poll(lambda: t.db("SELECT 1 FROM ledger WHERE request_id = 'unlocked'"), timeout=10))
        in_journal = len(self.locked) if self.queue_size is None else self.queue_size
        lock = sqlite3.connect(t.db_path, timeout=10, isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            r = t.admin("POST", "/orgs", {"name": "locked-out"})
            self.assertOpenAIError(r, 503, None, "store_unavailable")
            for rid in self.locked:
                r = t.chat(chat("gpt-4o-mini", "while locked", 2, stream=rid.endswith("1")),
                           {"X-Request-ID": rid})
                self.assertEqual(r.status, 200, r.body)
            errors = lambda: t.metrics().value("tollgate_ledger_write_errors_total")
            self.assertTrue(poll(lambda: errors() > 0, timeout=10), "no failed transaction counted")
            self.assertTrue(poll(lambda: errors() > 1, timeout=10), "the failed rows were not tried again")
            depth = lambda: t.metrics().value("tollgate_ledger_queue_depth")
            poll(lambda: depth() == in_journal, timeout=10)
            self.assertEqual(depth(), in_journal)
            m = t.metrics()
            self.assertEqual(m.value("tollgate_ledger_spooled_rows_total"), len(self.locked) - in_journal)
            self.assertEqual(lock.execute("SELECT count(*) FROM ledger WHERE request_id LIKE 'locked-%'")
                             .fetchone()[0], 0)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        have = lambda: {r["request_id"] for r in t.db("SELECT request_id FROM ledger")}
        poll(lambda: set(self.locked) <= have(), timeout=10, interval=0.1)
        rows = t.db("SELECT request_id, count(*) AS n FROM ledger GROUP BY request_id")
        self.assertEqual({r["request_id"]: r["n"] for r in rows}, dict.fromkeys(["unlocked"] + self.locked, 1))
        self.assertTrue(poll(lambda: t.metrics().value("tollgate_ledger_queue_depth") == 0, timeout=10))
        self.assertNotIn("locked-out", {o["name"] for o in t.admin("GET", "/orgs").json()["data"]})
        self.assertEqual(t.admin("POST", "/orgs", {"name": "locked-out"}).status, 201)


class LockedFullJournalTest(LockedStoreTest):
    """The same with a journal of two slots: the rows that do not fit go to
    the spool file, which is replayed once the lock is gone, each row once
    with the journal's."""

    queue_size = 2


class LedgerDrainTest(GatewayTestCase):
    """SIGTERM under load: in-flight requests finish and every answer a
    client received has its row once the process has exited."""

    @classmethod
    def start(cls):
        start_ledger_gateway(cls)

    def test_sigterm_under_load_commits_every_row(self):
        done, lock, stop = [], threading.Lock(), threading.Event()

        def client(n):
            i = 0
            while not stop.is_set():
                rid = "drain-%d-%d" % (n, i)
                i += 1
                stream = i % 2 == 0
                try:
                    r = self.tollgate.chat(chat("gpt-4o-mini", "drain me", 8, stream),
                                           {"X-Request-ID": rid, "X-Mock-Token-Delay-Ms": "20"})
                except Exception:
                    return      # the listener is gone
                if r.status == 200:
                    with lock:
                        done.append(rid)

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(6)]
        for th in threads:
            th.start()
        time.sleep(1.5)
        self.tollgate.signal(signal.SIGTERM)
        self.assertEqual(self.tollgate.proc.wait(20), 0)
        stop.set()
        for th in threads:
            th.join(10)
        self.assertGreater(len(done), 6)
        rows = self.tollgate.db("SELECT request_id, count(*) AS n FROM ledger GROUP BY request_id")
        counts = {r["request_id"]: r["n"] for r in rows}
        self.assertEqual([rid for rid in done if counts.get(rid) != 1], [])
        self.assertEqual([rid for rid, n in counts.items() if n != 1], [])
        self.assertEqual(self.tollgate.db("PRAGMA integrity_check"), [{"integrity_check": "ok"}])


if __name__ == "__main__":
    harness.main()
