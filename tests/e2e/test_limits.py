# End-to-end: rate limits and budgets (docs/limits.md) through the real
# binary, with keys and orgs made through the admin API.
#
# - rpm: 200 requests at once on a key of 60 rpm pass exactly 60 (plus one
#   per whole second the burst lasted); the rest get 429 type "requests",
#   Retry-After 1; every answer carries x-ratelimit-* headers, the 200s
#   each a different remaining count.
# - tpm: requests of a known estimate ((bytes of messages + 3) / 4 +
#   max_tokens, which for these bodies is also mock-llm's real count) fill
#   a bucket exactly; one larger than a minute's tokens is refused without
#   Retry-After; the estimate is corrected to the real usage afterwards.
# - max_concurrent 3 with slow answers: 3 reach the provider, the others
#   get 429 at once, and the places come back when the calls end.
# - an org's limit is shared by its keys; the tighter of a key's and its
#   org's shows in the headers; a refusal gives back what it took.
# - budget: waves of concurrent requests against an org's $0.01 never
#   settle more than $0.01 in the ledger; every refusal is
#   insufficient_quota before any provider call; after a restart on the
#   same database the spend is the same (org_budget_used_ratio, and which
#   requests fit in what is left).
# - anonymous requests and keys without limits: no x-ratelimit-* header,
#   never refused.

import http.client
import json
import math
import re
import threading
import time

import harness
from harness import (ADMIN_ENV, GatewayTestCase, chat_prompt_tokens, free_port, gateway_config,
                     model, poll, provider, tenancy_sections)

LIMIT_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                 "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
                 "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens")
RESET = re.compile(r"^(?:(\d+)ms|(?:(\d+)m)?(\d+(?:\.\d+)?)s)$")
RATE_LIMITED = "tollgate_rate_limited_requests_total"
BUDGET_USE = "tollgate_org_budget_used_ratio"
# budget-model: 10 dollars per million tokens in and out, so that a
# request's worst case is (bytes of messages + max_tokens) * $0.00001
UNIT = 10 / 1e6
FLAT = {"input": 10.0, "cached_input": 10.0, "output": 10.0}
LATENCY = "x-mock-latency-ms"
DEFAULT_MAX_TOKENS = 1000


def five_words(max_tokens=None, model_name="gpt-4o-mini", **extra):
    """A chat body whose messages are 42 bytes of JSON and 5 words: the
    limits estimate (42 + 3) // 4 = 11 prompt tokens, and mock-llm counts
    5 + 3 + 3 = 11: estimate and real usage are the same."""
    body = {"model": model_name, "messages": [{"role": "user", "content": "a a a a a"}]}
    assert len(json.dumps(body["messages"])) == 42
    assert chat_prompt_tokens(body["messages"]) == 11
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    body.update(extra)
    return body


def costing(units):
    """A chat body to budget-model whose worst case is exactly `units` *
    UNIT: 34 bytes of messages plus max_tokens. It really costs
    (7 + max_tokens) units (7 prompt tokens)."""
    messages = [{"role": "user", "content": "x"}]
    assert len(json.dumps(messages)) == 34 and units > 34
    return {"model": "budget-model", "messages": messages, "max_tokens": units - 34}


def reset_seconds(text):
    m = RESET.match(text or "")
    if m is None:
        raise AssertionError("bad x-ratelimit-reset value %r" % text)
    if m.group(1) is not None:
        return int(m.group(1)) / 1000
    return int(m.group(2) or 0) * 60 + float(m.group(3))


def bearer(key):
    return {"Authorization": "Bearer " + key["key"]}


class Shot:
    """One request of a burst: its answer and when it was sent and read
    (time.monotonic())."""

    def __init__(self):
        self.status = None
        self.headers = {}
        self.body = b""
        self.sent = self.done = None
        self.error = None

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name)


def burst(port, requests, path="/v1/chat/completions"):
    """Sends every (body, headers) of `requests` at once: one thread and one
    connection each, all connected before any sends, released together.
    Returns the Shots in order and the span from the first send to the
    last answer read (an upper bound of the time between the first and the
    last request's arrival at the gateway)."""
    shots = [Shot() for _ in requests]
    gate = threading.Barrier(len(requests))

    def run(shot, body, headers):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.connect()
            data = json.dumps(body).encode()
            hdrs = dict(headers, **{"Content-Type": "application/json"})
            gate.wait()
            shot.sent = time.monotonic()
            conn.request("POST", path, body=data, headers=hdrs)
            resp = conn.getresponse()
            shot.body = resp.read()
            shot.status = resp.status
            shot.headers = {k.lower(): v for k, v in resp.getheaders()}
            shot.done = time.monotonic()
        except Exception as e:  # reported by the caller's assertion
            shot.error = repr(e)
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(s, b, h)) for s, (b, h) in zip(shots, requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [s.error for s in shots if s.error]
    if errors:
        raise AssertionError("%d requests failed: %s" % (len(errors), errors[:3]))
    return shots, max(s.done for s in shots) - min(s.sent for s in shots)


def start_gateway(cls, **limits):
    """mock-llm and a tollgate with keys, anonymous access, three models
    and the config's `limits` section (when given)."""
    sections = tenancy_sections(cls.workdir, allow_anonymous=True)
    if limits:
        sections["limits"] = limits
    cls.mock = cls.start_mock()
    return cls.start_tollgate(gateway_config(
        free_port(), [provider("mock", cls.mock, forward_headers=[LATENCY])],
        [model("gpt-4o-mini", [("mock", "gpt-4o-mini")]),
         model("budget-model", [("mock", "gpt-4o-mini")], FLAT),
         model("text-embedding-3-small", [("mock", "text-embedding-3-small")])],
        **sections), ADMIN_ENV)


class LimitsCase(GatewayTestCase):
    def refused(self, metrics_before, reason):
        """How many more requests rate_limited_requests_total{reason}
        counts than in metrics_before."""
        now = self.tollgate.metrics().value(RATE_LIMITED, reason=reason)
        return now - metrics_before.value(RATE_LIMITED, reason=reason)

    def assertRateLimited(self, resp, err_type, retry_after):
        """429 rate_limit_exceeded of this type; retry_after: the expected
        Retry-After (an int, a container of ints, or None: absent)."""
        self.assertOpenAIError(resp, 429, err_type, "rate_limit_exceeded")
        got = resp.header("retry-after")
        if retry_after is None:
            self.assertIsNone(got)
        elif isinstance(retry_after, int):
            self.assertEqual(got, str(retry_after))
        else:
            self.assertIn(int(got), retry_after)

    def assertNoLimitHeaders(self, resp):
        present = [h for h in LIMIT_HEADERS if resp.header(h) is not None]
        self.assertEqual(present, [], resp.headers)

    def mock_chats(self):
        return self.mock.stats()["chat"]


class RateLimitTest(LimitsCase):
    @classmethod
    def start(cls):
        cls.tollgate = start_gateway(cls, default_max_tokens=DEFAULT_MAX_TOKENS)

    def new_key(self, org, org_policy=None, **key_policy):
        self.tollgate.create_org(org, "paid", **(org_policy or {}))
        return self.tollgate.create_key(org, "k", **key_policy)

    def test_rpm_burst(self):
        key = self.new_key("rpm-burst", rpm=60)
        before = self.tollgate.metrics()
        chats = self.mock_chats()
        shots, span = burst(self.tollgate.port, [(five_words(1), bearer(key))] * 200)
        ok = [s for s in shots if s.status == 200]
        refused = [s for s in shots if s.status != 200]
        # one token a second comes back: the burst lasted at most `span`
        if span < 1:
            self.assertEqual(len(ok), 60)
        self.assertGreaterEqual(len(ok), 60)
        self.assertLessEqual(len(ok), 60 + math.floor(span))
        for s in refused:
            # the bucket is never more than full, so the next token is at most 1 s away
            self.assertRateLimited(s, "requests", 1)
            self.assertEqual(s.header("x-ratelimit-remaining-requests"), "0")
        remaining = [int(s.header("x-ratelimit-remaining-requests")) for s in ok]
        if len(ok) == 60:
            self.assertEqual(sorted(remaining), list(range(60)))  # each took its own token
        for s in shots:
            self.assertEqual(s.header("x-ratelimit-limit-requests"), "60")
            self.assertLessEqual(reset_seconds(s.header("x-ratelimit-reset-requests")), 60)
            self.assertIsNone(s.header("x-ratelimit-limit-tokens"))  # no tpm on this key
        # answered in the order they took: fewer left, longer until full
        by_left = sorted(ok, key=lambda s: -int(s.header("x-ratelimit-remaining-requests")))
        resets = [reset_seconds(s.header("x-ratelimit-reset-requests")) for s in by_left]
        if len(ok) == 60:
            self.assertEqual(resets, sorted(resets))
        self.assertEqual(self.refused(before, "rpm"), len(refused))
        self.assertEqual(self.mock_chats() - chats, len(ok))

    def test_tpm_burst(self):
        # 600 tokens a minute, 60 per request (11 of prompt, 49 of output):
        # 10 fit, and a request's worth comes back every 6 s
        key = self.new_key("tpm-burst", tpm=600)
        before = self.tollgate.metrics()
        shots, span = burst(self.tollgate.port, [(five_words(49), bearer(key))] * 40)
        ok = [s for s in shots if s.status == 200]
        self.assertLess(span, 6)
        self.assertEqual(len(ok), 10)
        for s in shots:
            self.assertEqual(s.header("x-ratelimit-limit-tokens"), "600")
            self.assertIsNone(s.header("x-ratelimit-limit-requests"))
            if s.status == 200:
                self.assertEqual(s.json()["usage"]["total_tokens"], 60)  # the estimate was exact
                self.assertLessEqual(int(s.header("x-ratelimit-remaining-tokens")), 540)
            else:
                self.assertRateLimited(s, "tokens", range(1, 7) if span >= 1 else 6)
                self.assertLess(int(s.header("x-ratelimit-remaining-tokens")), 60)
        self.assertEqual(self.refused(before, "tpm"), 30)
        # more than a whole minute's tokens can never pass: no Retry-After
        big = self.new_key("tpm-too-big", tpm=600)
        r = self.tollgate.chat(five_words(590), bearer(big))
        self.assertRateLimited(r, "tokens", None)
        self.assertEqual(r.header("x-ratelimit-remaining-tokens"), "600")  # nothing was taken
        self.assertEqual(self.tollgate.chat(five_words(589), bearer(big)).status, 200)

    def test_tpm_estimate(self):
        """The first request on a full bucket shows capacity - estimate."""
        cases = [
            (five_words(100), 111),
            (five_words(max_completion_tokens=50), 61),
            (five_words(max_tokens=7, max_completion_tokens=50), 61),  # the newer name wins
            (five_words(), 11 + DEFAULT_MAX_TOKENS),                    # limits.default_max_tokens
            ({"model": "text-embedding-3-small", "input": "hello world"}, 4),  # (13 + 3) // 4, no output
        ]
        for i, (body, estimate) in enumerate(cases):
            key = self.new_key("tpm-estimate-%d" % i, tpm=100000)
            path = "/v1/embeddings" if "input" in body else "/v1/chat/completions"
            r = self.tollgate.request("POST", path, body, bearer(key))
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.header("x-ratelimit-remaining-tokens"), str(100000 - estimate), body)
            # a token every 0.6 ms: full again after estimate * 0.6 ms, rounded up
            self.assertEqual(r.header("x-ratelimit-reset-tokens"), "%dms" % ((estimate * 600000 + 999999) // 1000000))

    def test_tpm_corrected_to_real_usage(self):
        """A request without max_tokens is charged 11 + 1000 by estimate
        and really uses 11 + 16: the rest comes back when it ends, so a
        second one fits at once in a bucket of 1100."""
        key = self.new_key("tpm-correct", tpm=1100)
        first = self.tollgate.chat(five_words(), bearer(key))
        self.assertEqual(first.status, 200)
        self.assertEqual(first.json()["usage"]["total_tokens"], 27)
        self.assertEqual(first.header("x-ratelimit-remaining-tokens"), "89")
        second = self.tollgate.chat(five_words(), bearer(key))
        self.assertEqual(second.status, 200, second.body)
        self.assertGreaterEqual(int(second.header("x-ratelimit-remaining-tokens")), 89 - 27)

    def test_tpm_charged_for_usage_beyond_estimate(self):
        """100 one-letter words: 232 bytes, estimated (232 + 3) // 4 = 58
        prompt tokens, really 106. The 48 more are charged when the call
        ends, from then on, even though the bucket (100 tokens a second)
        had refilled during the call's second at the provider."""
        key = self.new_key("tpm-beyond", tpm=6000)
        body = {"model": "gpt-4o-mini", "max_tokens": 1,
                "messages": [{"role": "user", "content": " ".join(["a"] * 100)}]}
        first = self.tollgate.chat(body, dict(bearer(key), **{LATENCY: "1000"}))
        self.assertEqual(first.status, 200)
        self.assertEqual(first.header("x-ratelimit-remaining-tokens"), str(6000 - 59))
        self.assertEqual(first.json()["usage"]["total_tokens"], 107)
        second = self.tollgate.chat(body, bearer(key))
        # 6000 - 48 - 59, plus what came back between the two (a token every 10 ms)
        left = int(second.header("x-ratelimit-remaining-tokens"))
        self.assertGreaterEqual(left, 6000 - 48 - 59)
        self.assertLess(left, 6000 - 48 - 59 + 30)

    def test_concurrency(self):
        key = self.new_key("concurrent", max_concurrent=3)
        before = self.tollgate.metrics()
        chats = self.mock_chats()
        slow = dict(bearer(key), **{LATENCY: "2000"})
        for wave in range(2):
            shots, _ = burst(self.tollgate.port, [(five_words(1), slow)] * 20)
            ok = [s for s in shots if s.status == 200]
            refused = [s for s in shots if s.status != 200]
            first = min(s.sent for s in shots)
            # every refusal came while the first three were still at the provider
            if max(s.done for s in refused) < first + 2.0:
                self.assertEqual(len(ok), 3)
            self.assertGreaterEqual(len(ok), 3)
            for s in ok:
                self.assertGreaterEqual(s.done - s.sent, 1.9)
                self.assertNoLimitHeaders(s)  # max_concurrent has no headers
            for s in refused:
                self.assertRateLimited(s, "requests", None)
                self.assertLess(s.done - s.sent, 1.5)  # at once, not after a provider call
        self.assertEqual(self.refused(before, "concurrency"), 40 - (self.mock_chats() - chats))

    def test_org_limit_shared_by_its_keys(self):
        t = self.tollgate
        t.create_org("shared", "paid", rpm=10)
        k1, k2 = t.create_key("shared", "one"), t.create_key("shared", "two")
        answers = [t.chat(five_words(1), bearer(k1 if i % 2 else k2)) for i in range(12)]
        self.assertEqual([a.status for a in answers], [200] * 10 + [429] * 2)
        for i, a in enumerate(answers):
            self.assertEqual(a.header("x-ratelimit-limit-requests"), "10")
            if i < 10:
                self.assertEqual(a.header("x-ratelimit-remaining-requests"), str(9 - i))
            else:
                self.assertRateLimited(a, "requests", range(1, 7))
        k3 = t.create_key("shared", "three", rpm=100)
        self.assertRateLimited(t.chat(five_words(1), bearer(k3)), "requests", range(1, 7))

    def test_tighter_limit_shows(self):
        t = self.tollgate
        key = self.new_key("loose-org", {"rpm": 100, "tpm": 1000}, rpm=4, tpm=100000)
        r = t.chat(five_words(9), bearer(key))
        self.assertEqual(r.status, 200)
        # requests: the key's 4 is tighter; tokens: the org's 1000
        self.assertEqual((r.header("x-ratelimit-limit-requests"),
                          r.header("x-ratelimit-remaining-requests")), ("4", "3"))
        self.assertEqual((r.header("x-ratelimit-limit-tokens"),
                          r.header("x-ratelimit-remaining-tokens")), ("1000", "980"))
        for left in (2, 1, 0):
            self.assertEqual(t.chat(five_words(9), bearer(key)).header("x-ratelimit-remaining-requests"),
                             str(left))
        self.assertRateLimited(t.chat(five_words(9), bearer(key)), "requests", range(1, 16))

    def test_refusal_gives_back_what_it_took(self):
        """The key's own rpm passes, then its org's max_concurrent refuses:
        the key's request token comes back."""
        t = self.tollgate
        t.create_org("give-back", "paid", max_concurrent=1)
        busy = t.create_key("give-back", "busy")
        key = t.create_key("give-back", "limited", rpm=3)
        chats = self.mock_chats()
        slow = threading.Thread(target=t.chat, args=(five_words(1), dict(bearer(busy), **{LATENCY: "2500"})))
        slow.start()
        try:
            self.assertTrue(poll(lambda: self.mock_chats() > chats, timeout=5))
            for _ in range(5):
                self.assertRateLimited(t.chat(five_words(1), bearer(key)), "requests", None)
        finally:
            slow.join()
        answers = [t.chat(five_words(1), bearer(key)) for _ in range(4)]
        self.assertEqual([a.status for a in answers], [200, 200, 200, 429])
        self.assertEqual([a.header("x-ratelimit-remaining-requests") for a in answers[:3]], ["2", "1", "0"])

    def test_no_limits_no_headers(self):
        t = self.tollgate
        before = t.metrics()
        free = self.new_key("unlimited")
        shots, _ = burst(t.port, [(five_words(1), bearer(free))] * 30 + [(five_words(1), {})] * 30)
        for s in shots:
            self.assertEqual(s.status, 200, s.body)
            self.assertNoLimitHeaders(s)
        self.assertNoLimitHeaders(t.chat({"model": "gpt-4o-mini"}, bearer(free)))  # a 400 neither
        self.assertEqual(t.metrics().value(RATE_LIMITED), before.value(RATE_LIMITED))

    def test_stream_has_the_headers(self):
        key = self.new_key("stream-rpm", rpm=5)
        r = self.tollgate.chat(five_words(3, stream=True), bearer(key))
        self.assertEqual(r.status, 200)
        self.assertIn(b"[DONE]", r.body)
        self.assertEqual((r.header("x-ratelimit-limit-requests"),
                          r.header("x-ratelimit-remaining-requests")), ("5", "4"))


class BudgetTest(LimitsCase):
    BUDGET = 0.01

    @classmethod
    def start(cls):
        cls.tollgate = start_gateway(cls)

    def spent(self, org):
        rows = self.tollgate.db("SELECT count(*) AS n, coalesce(sum(cost_usd), 0) AS usd FROM ledger "
                                "WHERE org = ? AND ts >= CAST(strftime('%s', 'now', 'start of month') AS REAL)", org)
        return rows[0]["n"], rows[0]["usd"]

    def ledger_settles(self, org, rows):
        """Waits for the ledger to hold `rows` rows of org; its spend."""
        self.assertTrue(poll(lambda: self.spent(org)[0] == rows, timeout=10), self.spent(org))
        return self.spent(org)[1]

    def assertQuotaRefused(self, resp):
        self.assertOpenAIError(resp, 429, "insufficient_quota", "insufficient_quota")
        self.assertIsNone(resp.header("retry-after"))

    def test_budget_waves_and_restart(self):
        t = self.tollgate
        t.create_org("budget", "paid", budget_usd=self.BUDGET)
        key = t.create_key("budget", "spender")
        before = t.metrics()
        chats = self.mock_chats()
        successes = refusals = 0
        # worst case 100 units ($0.001), real cost 73: ten fit at once, and
        # the room the settled ones leave lets a few more in later waves
        for wave in range(10):
            shots, _ = burst(t.port, [(costing(100), bearer(key))] * 64)
            ok = [s for s in shots if s.status == 200]
            for s in shots:
                if s.status != 200:
                    self.assertQuotaRefused(s)
                self.assertNoLimitHeaders(s)  # a budget is not a rate limit
            for s in ok:
                self.assertEqual(s.json()["usage"]["total_tokens"], 73)
            successes += len(ok)
            refusals += len(shots) - len(ok)
            spent = self.ledger_settles("budget", successes)
            self.assertLessEqual(spent, self.BUDGET + 1e-12)
            self.assertEqual(self.mock_chats() - chats, successes)  # refused before any call
            if not ok:
                break
        else:
            self.fail("the budget never ran out")
        self.assertGreaterEqual(successes, 10)
        self.assertAlmostEqual(spent, successes * 73 * UNIT, places=12)
        self.assertGreater(spent + 100 * UNIT, self.BUDGET)  # the last wave could not fit one
        self.assertEqual(self.refused(before, "budget"), refusals)
        self.assertAlmostEqual(t.metrics().value(BUDGET_USE, org="budget") * self.BUDGET, spent, places=12)

        left = round((self.BUDGET - spent) / UNIT, 6)   # in units
        self.assertLess(left, 100)
        over, under = math.ceil(left) + 1, math.floor(left) - 1
        self.assertQuotaRefused(t.chat(costing(over), bearer(key)))

        # a restart on the same database: the spend is read back from the ledger
        t.stop(self.fail)
        self._procs.remove(t)
        self.__class__.tollgate = t = self.start_tollgate(t.cfg, ADMIN_ENV)
        t.secrets.add(key["key"])
        chats = self.mock_chats()
        self.assertQuotaRefused(t.chat(costing(over), bearer(key)))
        self.assertAlmostEqual(t.metrics().value(BUDGET_USE, org="budget") * self.BUDGET, spent, places=12)
        if under > 34:  # the smallest request costing() makes
            r = t.chat(costing(under), bearer(key))
            self.assertEqual(r.status, 200, r.body)
            spent = self.ledger_settles("budget", successes + 1)
            self.assertLessEqual(spent, self.BUDGET)
        self.assertEqual(self.mock_chats() - chats, 1 if under > 34 else 0)

    def test_key_budget(self):
        """A key's own budget applies beside its org's (which has none)."""
        t = self.tollgate
        t.create_org("key-budget", "paid")
        key = t.create_key("key-budget", "capped", budget_usd=260 * UNIT)
        statuses = [t.chat(costing(100), bearer(key)).status for _ in range(4)]
        # 100 reserved, 73 settled each time: 73, 146, 219, and then 219 + 100 > 260
        self.assertEqual(statuses, [200, 200, 200, 429])
        self.assertQuotaRefused(t.chat(costing(42), bearer(key)))     # 219 + 42 > 260
        self.assertEqual(t.chat(costing(40), bearer(key)).status, 200)  # 219 + 40 <= 260
        self.assertAlmostEqual(self.ledger_settles("key-budget", 4), 232 * UNIT, places=12)  # 3 * 73 + 13
        self.assertEqual(t.metrics().find(BUDGET_USE, org="key-budget"), [])  # a gauge per org budget only



class BudgetSeriesTest(LimitsCase):
    @classmethod
    def start(cls):
        cls.tollgate = start_gateway(cls, max_org_series=3)

    def test_budget_series_are_capped(self):
        t = self.tollgate
        for i in range(5):
            t.create_org("capped-%d" % i, "paid", budget_usd=1)
            key = t.create_key("capped-%d" % i, "k")
            self.assertEqual(t.chat(costing(40), bearer(key)).status, 200)
        series = t.metrics().find(BUDGET_USE)
        self.assertLessEqual(len(series), 3 + 1, [s.labels for s in series])  # max_org_series + overflow
        self.assertTrue(any(s.labels["org"] == "__overflow__" for s in series))
        self.assertEqual(t.metrics().value("tally_series_overflow_total", family=BUDGET_USE), 2)


if __name__ == "__main__":
    harness.main()
