# End-to-end: API keys on /v1/* (docs/tenancy.md, "API keys and auth"):
# Bearer and x-api-key, the four refusals and their messages, anonymous
# access (no key, never a wrong one), the org in the access log, the
# models policy (a key's list wins over its org's), the auth_failure audit
# lines (a hint of the key, never the key), and the tenancy gauges
# (active_api_keys, orgs{plan}) and db_query_duration_seconds on /metrics.

import os
import secrets
import time

import harness
from harness import (ADMIN_ENV, GatewayTestCase, PLANS, free_port, gateway_config, model, poll,
                     provider, run_tollgate, tenancy_sections, write_config)

MISSING = "You didn't provide an API key."
UNKNOWN = "Incorrect API key provided."
REVOKED = "This API key has been revoked."


def chat_body(model_name="gpt-4o-mini"):
    return {"model": model_name, "messages": [{"role": "user", "content": "auth check"}],
            "max_tokens": 2}


def bearer(secret):
    return {"Authorization": "Bearer " + secret}


def made_up_key():
    """A key of tollgate's shape that no store knows."""
    return "tg-" + secrets.token_urlsafe(32)


class KeyedGatewayTestCase(GatewayTestCase):
    anonymous = False

    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock)],
            [model("gpt-4o-mini", [("mock", "gpt-4o-mini")]), model("gpt-4o", [("mock", "gpt-4o")])],
            **tenancy_sections(cls.workdir, allow_anonymous=cls.anonymous)), ADMIN_ENV)

    def chat(self, headers, rid=None, model_name="gpt-4o-mini"):
        if rid:
            headers = dict(headers, **{"X-Request-ID": rid})
        return self.tollgate.chat(chat_body(model_name), headers)

    def assertRefused(self, resp, message):
        self.assertOpenAIError(resp, 401, "authentication_error", "invalid_api_key", message)

    def assertServedAs(self, headers, org, rid, model_name="gpt-4o-mini"):
        r = self.chat(headers, rid, model_name)
        self.assertEqual(r.status, 200, r.body)
        rec = self.tollgate.access_log(rid)
        self.assertIsNotNone(rec, rid)
        self.assertEqual(rec["org_id"], org, rec)

    def auth_failure(self, rid, reason, org=None, key_hint=None):
        """The one auth_failure audit line of request rid, checked."""
        lines = self.tollgate.audit_log(request_id=rid)
        self.assertEqual(len(lines), 1, lines)
        rec = lines[0]
        extra = {"reason": reason} if key_hint is None else {"reason": reason, "key_hint": key_hint}
        self.assertAuditLine(rec, "auth_failure", org, None, rid, **extra)
        self.assertRegex(rec["client_addr"], r"^127\.0\.0\.1(:\d+)?$")
        return rec


class AuthTest(KeyedGatewayTestCase):
    def test_bearer_and_x_api_key(self):
        self.tollgate.create_org("auth-a", "paid")
        made = self.tollgate.create_key("auth-a", "k")
        key = made["key"]
        self.assertIsNone(made["last_used"])
        self.assertServedAs(bearer(key), "auth-a", "auth-bearer")
        # last_used follows (at most once a minute: not checked here).
        used = lambda: self.tollgate.admin("GET", "/keys?org=auth-a").json()["data"][0]["last_used"]
        self.assertTrue(poll(used, timeout=5), "last_used not set after a request")
        self.assertRecent(used())
        self.assertServedAs({"x-api-key": key}, "auth-a", "auth-x-api-key")
        # Authorization wins when both are there.
        self.assertServedAs(dict(bearer(key), **{"x-api-key": made_up_key()}), "auth-a", "auth-both-1")
        stranger = made_up_key()
        self.tollgate.secrets.add(stranger)
        self.assertRefused(self.chat(dict(bearer(stranger), **{"x-api-key": key})), UNKNOWN)

    def test_unknown_key(self):
        chats = self.mock.stats()["chat"]
        stranger = made_up_key()
        self.tollgate.secrets.add(stranger)
        self.assertRefused(self.chat(bearer(stranger), "auth-unknown"), UNKNOWN)
        self.auth_failure("auth-unknown", "unknown_key", key_hint="tg-\u2026" + stranger[-4:])
        # Not of tollgate's shape: the hint shows nothing of it.
        other = "sk-proj-" + secrets.token_hex(20)
        self.tollgate.secrets.add(other)
        self.assertRefused(self.chat({"x-api-key": other}, "auth-other"), UNKNOWN)
        rec = self.auth_failure("auth-other", "unknown_key")
        self.assertNotIn(other[-4:], rec["key_hint"] or "")
        self.assertEqual(self.mock.stats()["chat"], chats)

    def test_missing_key(self):
        chats = self.mock.stats()["chat"]
        self.assertRefused(self.chat({}, "auth-missing"), MISSING)
        self.auth_failure("auth-missing", "missing_key")
        self.assertRefused(self.tollgate.request("GET", "/v1/models"), MISSING)
        self.assertRefused(self.tollgate.request(
            "POST", "/v1/embeddings", {"model": "gpt-4o-mini", "input": "x"}), MISSING)
        self.assertEqual(self.mock.stats()["chat"], chats)

    def test_revoked_key_fails_on_the_next_request(self):
        self.tollgate.create_org("auth-r", "trial")
        key = self.tollgate.create_key("auth-r", "soon-gone")
        # Fresh connections: both workers learn the key first.
        for i in range(8):
            self.assertEqual(self.chat(bearer(key["key"])).status, 200)
        self.tollgate.revoke_key(key["id"])
        for i in range(8):
            self.assertRefused(self.chat(bearer(key["key"]), "auth-revoked-%d" % i), REVOKED)
        self.auth_failure("auth-revoked-0", "revoked_key", "auth-r", "tg-\u2026" + key["key"][-4:])

    def test_models_policy(self):
        chats = self.mock.stats()["chat"]
        self.tollgate.create_org("auth-m", "paid")
        narrow = self.tollgate.create_key("auth-m", "narrow", models=["gpt-4o-mini"])
        self.assertServedAs(bearer(narrow["key"]), "auth-m", "auth-m-1")
        r = self.chat(bearer(narrow["key"]), "auth-m-2", "gpt-4o")
        self.assertOpenAIError(r, 403, "permission_error", "model_not_allowed")
        self.auth_failure("auth-m-2", "model_not_allowed", "auth-m")
        self.assertEqual(self.mock.stats()["chat"], chats + 1)
        # The model list shows what the key may use, and nothing else.
        listed = self.tollgate.request("GET", "/v1/models", headers=bearer(narrow["key"]))
        self.assertEqual([m["id"] for m in listed.json()["data"]], ["gpt-4o-mini"])
        self.assertEqual(self.tollgate.request("GET", "/v1/models/gpt-4o-mini", headers=bearer(narrow["key"])).status,
                         200)
        self.assertOpenAIError(self.tollgate.request("GET", "/v1/models/gpt-4o", headers=bearer(narrow["key"])),
                               404, "invalid_request_error", "model_not_found")

        # The org's list applies to a key without one; a key's own list wins.
        self.tollgate.create_org("auth-o", "paid", models=["gpt-4o"])
        plain = self.tollgate.create_key("auth-o", "plain")
        own = self.tollgate.create_key("auth-o", "own", models=["gpt-4o-mini"])
        self.assertServedAs(bearer(plain["key"]), "auth-o", "auth-o-1", "gpt-4o")
        self.assertEqual(self.chat(bearer(plain["key"])).status, 403)
        self.assertServedAs(bearer(own["key"]), "auth-o", "auth-o-2", "gpt-4o-mini")
        self.assertEqual(self.chat(bearer(own["key"]), model_name="gpt-4o").status, 403)
        # An admin change is on every worker before the API answers.
        r = self.tollgate.admin("PATCH", "/keys/" + own["id"], {"models": None})
        self.assertEqual(r.status, 200, r.body)
        for _ in range(4):
            self.assertEqual(self.chat(bearer(own["key"])).status, 403)
            self.assertEqual(self.chat(bearer(own["key"]), model_name="gpt-4o").status, 200)

    def gauge(self, name, **labels):
        return self.tollgate.metrics().value(name, **labels)

    def assertGaugeBecomes(self, expected, name, **labels):
        got = poll(lambda: self.gauge(name, **labels) == expected, timeout=3)
        self.assertTrue(got, "%s%r = %r, expected %r" % (name, labels, self.gauge(name, **labels),
                                                         expected))

    def test_tenancy_gauges_follow_the_store(self):
        m = self.tollgate.metrics()
        for plan in PLANS:
            self.assertEqual(len(m.find("tollgate_orgs", plan=plan)), 1, plan)
        orgs = {plan: m.value("tollgate_orgs", plan=plan) for plan in PLANS}
        active = m.value("tollgate_active_api_keys")
        self.tollgate.create_org("auth-g", "trial")
        self.assertGaugeBecomes(orgs["trial"] + 1, "tollgate_orgs", plan="trial")
        keys = [self.tollgate.create_key("auth-g", "g%d" % i) for i in range(3)]
        self.assertGaugeBecomes(active + 3, "tollgate_active_api_keys")
        self.tollgate.revoke_key(keys[0]["id"])
        self.assertGaugeBecomes(active + 2, "tollgate_active_api_keys")
        self.tollgate.revoke_key(keys[0]["id"])
        self.assertGaugeBecomes(active + 2, "tollgate_active_api_keys")
        r = self.tollgate.admin("PATCH", "/orgs/auth-g", {"plan": "paid"})
        self.assertEqual(r.status, 200, r.body)
        self.assertGaugeBecomes(orgs["trial"], "tollgate_orgs", plan="trial")
        self.assertGaugeBecomes(orgs["paid"] + 1, "tollgate_orgs", plan="paid")

    def test_made_up_keys_cost_the_store_one_lookup_each(self):
        # The store said "unknown": the worker remembers it until its next key
        # index, so the same made-up key 100 times is not 100 lookups.
        stranger = made_up_key()
        self.tollgate.secrets.add(stranger)
        selects = lambda: self.tollgate.metrics().value("tollgate_db_query_duration_seconds_count",
                                                        operation="select")
        before = selects()
        for _ in range(100):
            self.assertRefused(self.chat(bearer(stranger)), UNKNOWN)
        # one key and org lookup per worker, and the store's own 4 polls a second
        self.assertLess(selects() - before, 40)

    def test_a_flood_of_refusals_is_audited_at_a_bounded_rate(self):
        # 100 a second: the rest are counted, not written (line or row).
        def audited():
            (row,) = self.tollgate.db("SELECT count(*) AS n FROM audit WHERE action = 'auth_failure'")
            return row["n"]
        def suppressed():
            return self.tollgate.metrics().value("tollgate_audit_suppressed_total") or 0
        rows_before, suppressed_before = audited(), suppressed()
        started = time.monotonic()
        for _ in range(400):
            self.assertEqual(self.chat({"Authorization": "Basic bm8tc3VjaA=="}).status, 401)
        elapsed = time.monotonic() - started
        self.assertTrue(poll(lambda: audited() - rows_before + suppressed() - suppressed_before == 400, timeout=3))
        self.assertLessEqual(audited() - rows_before, 100 + 100 * elapsed + 1)
        self.assertGreater(suppressed() - suppressed_before, 0)
        time.sleep(1.2)  # the bucket full again: the other tests' refusals are audited

    def test_db_query_durations(self):
        self.tollgate.create_org("auth-db", "free")
        key = self.tollgate.create_key("auth-db", "k")
        self.assertEqual(self.chat(bearer(key["key"])).status, 200)
        m = self.tollgate.metrics()
        for op in ("insert", "select"):
            self.assertGreater(m.value("tollgate_db_query_duration_seconds_count", operation=op), 0, op)
        self.assertEqual(len(m.find("tollgate_db_connections_active")), 1)


class AnonymousTest(KeyedGatewayTestCase):
    anonymous = True

    def test_startup_warns(self):
        warnings = [r for r in self.tollgate.log_records()
                    if r.get("level") == "warn" and "anonymous" in r.get("message", "").lower()]
        self.assertEqual(len(warnings), 1, self.tollgate.logs()[-3000:])

    def test_no_key_is_anonymous_a_wrong_one_is_not(self):
        self.assertServedAs({}, "anonymous", "anon-none")
        stranger = made_up_key()
        self.tollgate.secrets.add(stranger)
        self.assertRefused(self.chat(bearer(stranger), "anon-wrong"), UNKNOWN)
        self.auth_failure("anon-wrong", "unknown_key", key_hint="tg-\u2026" + stranger[-4:])
        self.assertRefused(self.chat({"x-api-key": "not-even-a-key"}), UNKNOWN)

    def test_key_is_its_org_even_when_anonymous_is_on(self):
        self.tollgate.create_org("anon-org", "trial")
        key = self.tollgate.create_key("anon-org", "k")
        self.assertServedAs(bearer(key["key"]), "anon-org", "anon-keyed")
        self.tollgate.revoke_key(key["id"])
        self.assertRefused(self.chat(bearer(key["key"])), REVOKED)


class NoStoreTest(GatewayTestCase):
    """store.driver none: no keys, no ledger, anonymous only; every request
    is anonymous, a key is not looked at, and anonymous access must be on
    (docs/configuration.md)."""

    @classmethod
    def start(cls):
        cls.start_one_route(env=ADMIN_ENV, store={"driver": "none"}, auth={"allow_anonymous": True})

    def test_anonymous_only(self):
        r = self.tollgate.chat(chat_body(), {"X-Request-ID": "none-anon"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.tollgate.access_log("none-anon")["org_id"], "anonymous")
        stranger = made_up_key()
        self.tollgate.secrets.add(stranger)
        r = self.tollgate.chat(chat_body(), dict(bearer(stranger), **{"X-Request-ID": "none-key"}))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.tollgate.access_log("none-key")["org_id"], "anonymous")
        self.assertEqual([f for f in os.listdir(self.workdir) if ".db" in f], [])
        self.assertOpenAIError(self.tollgate.admin("GET", "/orgs"), 404, None, "not_found")

    def test_anonymous_access_must_be_on(self):
        cfg = dict(self.tollgate.cfg, auth={"allow_anonymous": False})
        path = os.path.join(self.workdir, "no-store-no-anonymous.yaml")
        write_config(path, cfg)
        r = run_tollgate("check-config", path)
        self.assertEqual(r.code, 1, r)
        self.assertIn("allow_anonymous", r.out + r.err)


if __name__ == "__main__":
    harness.main()
