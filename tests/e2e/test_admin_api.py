# End-to-end: the admin API (docs/tenancy.md, "Admin API") through real
# HTTP: every operation, its answer's shape and its errors, the master key,
# and the audit trail each operation leaves, both as JSON log lines (logger
# "audit") and at GET /admin/v1/audit. A request that fails changes nothing
# and leaves no audit entry of a change.

import base64

import harness
from harness import (ADMIN_ENV, ADMIN_KEY, GatewayTestCase, PLANS, tenancy_sections)

NO_SUCH_KEY = "key_0000000000000000"


class AdminOffTest(GatewayTestCase):
    """No TOLLGATE_ADMIN_KEY: every /admin/ path is 404, with or without a
    key."""

    @classmethod
    def start(cls):
        cls.start_one_route(**tenancy_sections(cls.workdir))

    def test_every_admin_path_is_404(self):
        for method, path, body in (("GET", "/admin/v1/orgs", None),
                                   ("POST", "/admin/v1/orgs", {"name": "acme"}),
                                   ("POST", "/admin/v1/keys", {"org": "acme", "name": "ci"}),
                                   ("GET", "/admin/v1/audit", None), ("GET", "/admin/", None)):
            for headers in ({}, {"Authorization": "Bearer " + ADMIN_KEY}):
                r = self.tollgate.request(method, path, body, headers)
                self.assertOpenAIError(r, 404, None, "not_found")
        self.assertEqual(self.tollgate.audit_log(timeout=0.2), [])


class AdminApiTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.start_one_route(env=ADMIN_ENV, **tenancy_sections(cls.workdir))

    def call(self, method, path, body=None, rid=None, **kw):
        """An admin request, with X-Request-ID rid when given."""
        return self.tollgate.admin(method, path, body, {"X-Request-ID": rid} if rid else None, **kw)

    def audited(self, rid, action, org, **extra):
        """The one audit line of request rid, checked field by field."""
        lines = self.tollgate.audit_log(request_id=rid)
        self.assertEqual(len(lines), 1, lines)
        self.assertAuditLine(lines[0], action, org, "admin", rid, **extra)
        return lines[0]

    def not_audited(self, *rids):
        for rid in rids:
            self.assertEqual(self.tollgate.audit_log(timeout=0, request_id=rid), [], rid)

    def orgs(self):
        r = self.call("GET", "/orgs")
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(body["object"], "list")
        return {o["name"]: o for o in body["data"]}

    def keys(self, query=""):
        r = self.call("GET", "/keys" + query)
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(body["object"], "list")
        return {k["id"]: k for k in body["data"]}

    def assertBadRequest(self, method, path, bodies, prefix):
        """Each body is refused with 400 invalid_request and leaves no audit
        line."""
        rids = []
        for i, body in enumerate(bodies):
            rid = "%s-%d" % (prefix, i)
            r = self.call(method, path, body, rid)
            self.assertOpenAIError(r, 400, None, "invalid_request")
            rids.append(rid)
        self.not_audited(*rids)

    # --- the master key -----------------------------------------------------

    def test_master_key_is_required(self):
        b64 = base64.b64encode(b"admin:" + ADMIN_KEY.encode()).decode()
        for i, headers in enumerate(({}, {"Authorization": "Bearer wrong-master-key-0123456789"},
                                     {"Authorization": "Bearer " + ADMIN_KEY[:-1]},
                                     {"Authorization": "Bearer " + ADMIN_KEY + "x"},
                                     {"Authorization": ADMIN_KEY},
                                     {"Authorization": "Basic " + b64},
                                     {"x-api-key": ADMIN_KEY})):
            rid = "adm-auth-%d" % i
            r = self.tollgate.request("POST", "/admin/v1/orgs", {"name": "sneaky-%d" % i},
                                      dict(headers, **{"X-Request-ID": rid}))
            self.assertOpenAIError(r, 401, "authentication_error", "invalid_api_key")
            lines = self.tollgate.audit_log(request_id=rid)
            self.assertEqual(len(lines), 1, (headers, lines))
            rec = lines[0]
            self.assertEqual(rec["action"], "admin_auth_failure")
            self.assertEqual(rec["level"], "warn")
            self.assertRegex(rec["timestamp"], harness.LOG_TIMESTAMP)
            self.assertRegex(rec["client_addr"], r"^127\.0\.0\.1(:\d+)?$")
            self.assertIsInstance(rec["reason"], str)
            self.assertTrue(rec["reason"])
            self.assertNotEqual(rec.get("user_id"), "admin")
        self.assertFalse([n for n in self.orgs() if n.startswith("sneaky")])
        entries = self.call("GET", "/audit?action=admin_auth_failure&limit=100").json()["data"]
        self.assertTrue({"adm-auth-0", "adm-auth-6"} <= {e["request_id"] for e in entries}, entries)

    # --- orgs -------------------------------------------------------------------

    def test_create_org(self):
        r = self.call("POST", "/orgs", {"name": "acme", "plan": "trial", "rpm": 60,
                                        "budget_usd": 25.0}, "org-create-1")
        self.assertEqual(r.status, 201, r.body)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        org = r.json()
        self.assertOrg(org, "acme", "trial", rpm=60, budget_usd=25.0)
        self.audited("org-create-1", "org_created", "acme")
        self.assertEqual(self.orgs()["acme"], org)

        # --plan defaults to the first of tenancy.plans; names may use
        # [A-Za-z0-9._-] up to 64 characters.
        r = self.call("POST", "/orgs", {"name": "Plain_org.2-x"})
        self.assertEqual(r.status, 201, r.body)
        self.assertOrg(r.json(), "Plain_org.2-x", PLANS[0])
        long_name = "n" * 64
        r = self.call("POST", "/orgs", {"name": long_name, "plan": "paid", "tpm": 0,
                                        "max_concurrent": 3, "models": ["gpt-4o-mini"]})
        self.assertEqual(r.status, 201, r.body)
        self.assertOrg(r.json(), long_name, "paid", tpm=0, max_concurrent=3,
                       models=["gpt-4o-mini"])

    def test_create_org_errors_change_nothing(self):
        self.tollgate.create_org("dupe", "trial")
        r = self.call("POST", "/orgs", {"name": "dupe", "plan": "paid"}, "org-dupe")
        self.assertOpenAIError(r, 409, None, "already_exists")
        self.not_audited("org-dupe")
        self.assertEqual(self.orgs()["dupe"]["plan"], "trial")

        before = self.orgs()
        self.assertBadRequest("POST", "/orgs", [
            {"name": ""}, {"name": "x" * 65}, {"name": "has space"}, {"name": "sl/ash"},
            {"name": "caf\u00e9"}, {"name": 5}, {"name": None}, {"plan": "trial"},
            {"name": "gold-org", "plan": "gold"}, {"name": "colour-org", "colour": "red"},
            {"name": "neg", "rpm": -1}, {"name": "str", "rpm": "10"}, {"name": "frac", "tpm": 1.5},
            {"name": "budget", "budget_usd": -1}, {"name": "budget2", "budget_usd": "x"},
            {"name": "models", "models": "gpt-4o-mini"}, {"name": "models2", "models": [1]},
            "{", "[]", "", "null"], "org-bad")
        self.assertEqual(self.orgs(), before)

    def test_patch_org(self):
        self.tollgate.create_org("patchy", "free", rpm=10, budget_usd=5)
        r = self.call("PATCH", "/orgs/patchy", {"plan": "paid"}, "org-patch-plan")
        self.assertEqual(r.status, 200, r.body)
        self.assertOrg(r.json(), "patchy", "paid", rpm=10, budget_usd=5)
        rec = self.audited("org-patch-plan", "org_updated", "patchy")
        self.assertTrue(rec.get("detail"), rec)
        self.assertIn("paid", str(rec["detail"]))

        r = self.call("PATCH", "/orgs/patchy",
                      {"rpm": None, "tpm": 1000, "models": ["gpt-4o-mini"]}, "org-patch-policy")
        self.assertEqual(r.status, 200, r.body)
        after = r.json()
        self.assertOrg(after, "patchy", "paid", tpm=1000, budget_usd=5, models=["gpt-4o-mini"])
        rec = self.audited("org-patch-policy", "policy_update", "patchy")
        self.assertIn("tpm", str(rec.get("detail")), rec)

        self.assertBadRequest("PATCH", "/orgs/patchy", [
            {"plan": "gold"}, {"name": "renamed"}, {"rpm": -5}, {"models": "x"}, "{"],
            "org-patch-bad")
        r = self.call("PATCH", "/orgs/nope", {"plan": "paid"}, "org-patch-404")
        self.assertOpenAIError(r, 404, None, "not_found")
        self.not_audited("org-patch-404")
        self.assertEqual(self.orgs()["patchy"], after)

    # --- keys -------------------------------------------------------------------

    def test_create_key(self):
        self.tollgate.create_org("keyco", "paid")
        self.tollgate.create_org("otherco", "paid")
        r = self.call("POST", "/keys", {"org": "keyco", "name": "ci", "models": ["gpt-4o-mini"]},
                      "key-create-1")
        self.assertEqual(r.status, 201, r.body)
        key = r.json()
        self.tollgate.secrets.add(key["key"])
        self.assertKey(key, "keyco", "ci", secret=True, models=["gpt-4o-mini"])
        rec = self.audited("key-create-1", "key_created", "keyco", key_id=key["id"])
        self.assertNotIn(key["key"][3:-4], str(rec))

        other = self.tollgate.create_key("keyco", "ci-2")
        self.assertNotEqual(other["id"], key["id"])
        self.assertNotEqual(other["key"], key["key"])
        # A key name is unique within its org only.
        r = self.call("POST", "/keys", {"org": "keyco", "name": "ci"}, "key-dupe")
        self.assertOpenAIError(r, 409, None, "already_exists")
        self.assertKey(self.tollgate.create_key("otherco", "ci"), "otherco", "ci", secret=True)

        r = self.call("POST", "/keys", {"org": "ghost", "name": "ci"}, "key-ghost")
        self.assertOpenAIError(r, 404, None, "not_found")
        self.not_audited("key-dupe", "key-ghost")
        before = self.keys()
        self.assertBadRequest("POST", "/keys", [
            {"org": "keyco"}, {"name": "x"}, {"org": "keyco", "name": "bad name"},
            {"org": "keyco", "name": "y" * 65}, {"org": "keyco", "name": "z", "secret": "s"},
            {"org": "keyco", "name": "z", "rpm": -1}, {"org": "keyco", "name": "z", "models": 3},
            "{"], "key-bad")
        self.assertEqual(self.keys(), before)

    def test_list_keys_never_shows_a_secret(self):
        self.tollgate.create_org("listco", "trial")
        self.tollgate.create_org("listco2", "trial")
        made = [self.tollgate.create_key("listco", "a", rpm=7),
                self.tollgate.create_key("listco", "b"),
                self.tollgate.create_key("listco2", "a")]
        r = self.call("GET", "/keys")
        self.assertEqual(r.status, 200, r.body)
        text = r.body.decode()
        for k in made:
            self.assertNotIn(k["key"], text)
            self.assertNotIn(k["key"][3:-4], text)
        listed = self.keys()
        for k in made:
            shown = listed[k["id"]]
            self.assertKey(shown, k["org"], k["name"], **{f: v for f, v in k["policy"].items()
                                                          if v is not None})
            self.assertEqual(shown, {f: v for f, v in k.items() if f != "key"})
        self.assertEqual(set(self.keys("?org=listco")), {made[0]["id"], made[1]["id"]})

    def test_patch_and_revoke_key(self):
        self.tollgate.create_org("revco", "trial")
        key = self.tollgate.create_key("revco", "k1")
        path = "/keys/" + key["id"]
        r = self.call("PATCH", path, {"rpm": 5, "name": "k1-renamed"}, "key-patch-1")
        self.assertEqual(r.status, 200, r.body)
        self.assertKey(r.json(), "revco", "k1-renamed", rpm=5)
        rec = self.audited("key-patch-1", "policy_update", "revco", key_id=key["id"])
        self.assertIn("rpm", str(rec.get("detail")), rec)
        r = self.call("PATCH", path, {"rpm": None, "budget_usd": 1.5})
        self.assertEqual(r.status, 200, r.body)
        self.assertKey(r.json(), "revco", "k1-renamed", budget_usd=1.5)
        self.assertBadRequest("PATCH", path, [{"org": "otherco"}, {"name": ""}, {"tpm": "x"}, "{"],
                              "key-patch-bad")

        r = self.call("DELETE", path, None, "key-revoke-1")
        self.assertEqual(r.status, 200, r.body)
        revoked = r.json()
        self.assertKey(revoked, "revco", "k1-renamed", revoked=True, budget_usd=1.5)
        self.audited("key-revoke-1", "key_revoked", "revco", key_id=key["id"])
        r = self.call("DELETE", path, None, "key-revoke-2")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), revoked)
        self.not_audited("key-revoke-2")
        self.assertEqual(len(self.tollgate.audit_log(action="key_revoked", key_id=key["id"])), 1)
        entries = self.call("GET", "/audit?org=revco&action=key_revoked").json()["data"]
        self.assertEqual([e["key_id"] for e in entries], [key["id"]])

        r = self.call("PATCH", path, {"rpm": 1}, "key-patch-revoked")
        self.assertOpenAIError(r, 409, None, "key_revoked")
        self.not_audited("key-patch-revoked")
        self.assertEqual(self.keys()[key["id"]], revoked)

        for method, body in (("PATCH", {"rpm": 1}), ("DELETE", None)):
            r = self.call(method, "/keys/" + NO_SUCH_KEY, body)
            self.assertOpenAIError(r, 404, None, "not_found")

    # --- paths, methods -------------------------------------------------------

    def test_unknown_paths_and_methods(self):
        for path in ("/admin/v1/nothing", "/admin/v1/", "/admin/v2/orgs", "/admin/v1/keys/x/y",
                     "/admin/v1/orgsx"):
            r = self.tollgate.request("GET", path, headers={"Authorization": "Bearer " + ADMIN_KEY})
            self.assertOpenAIError(r, 404, None, "not_found")
        for method, path in (("DELETE", "/orgs"), ("PUT", "/keys"), ("POST", "/usage"),
                             ("POST", "/audit"), ("DELETE", "/orgs/acme"),
                             ("GET", "/keys/" + NO_SUCH_KEY), ("POST", "/keys/" + NO_SUCH_KEY)):
            r = self.call(method, path, {} if method in ("POST", "PUT") else None)
            self.assertOpenAIError(r, 405, None, "method_not_allowed")

    # --- usage and audit ----------------------------------------------------------

    def test_usage_shape_and_errors(self):
        r = self.call("GET", "/usage")
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual((body["object"], body["group_by"], body["from"], body["to"]),
                         ("usage", None, None, None))
        self.assertIsInstance(body["data"], list)
        self.assertEqual(body["total"]["requests"], 0)
        r = self.call("GET", "/usage?group_by=model&from=2026-01-01&to=2026-01-02T00:00:00Z")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["group_by"], "model")
        for query in ("group_by=colour", "from=yesterday", "to=2026-13-45", "from=-x"):
            r = self.call("GET", "/usage?" + query)
            self.assertOpenAIError(r, 400, None, "invalid_request")

    def test_audit_endpoint(self):
        self.call("POST", "/orgs", {"name": "audco", "plan": "trial"}, "aud-1")
        key = self.call("POST", "/keys", {"org": "audco", "name": "k"}, "aud-2").json()
        self.tollgate.secrets.add(key["key"])
        self.call("PATCH", "/keys/" + key["id"], {"tpm": 100}, "aud-3")
        self.call("PATCH", "/orgs/audco", {"plan": "paid"}, "aud-4")
        self.call("DELETE", "/keys/" + key["id"], None, "aud-5")
        expected = [("aud-5", "key_revoked"), ("aud-4", "org_updated"), ("aud-3", "policy_update"),
                    ("aud-2", "key_created"), ("aud-1", "org_created")]

        r = self.call("GET", "/audit?org=audco")
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(body["object"], "list")
        entries = body["data"]
        self.assertEqual([(e["request_id"], e["action"]) for e in entries], expected)
        for e in entries:
            self.assertEqual((e["org_id"], e["user_id"]), ("audco", "admin"), e)
            self.assertIn("timestamp", e)
            if e["action"] in ("key_created", "key_revoked", "policy_update"):
                self.assertEqual(e["key_id"], key["id"], e)
        for rid, action in expected:
            self.audited(rid, action, "audco")

        r = self.call("GET", "/audit?org=audco&action=key_created")
        self.assertEqual([e["request_id"] for e in r.json()["data"]], ["aud-2"])
        r = self.call("GET", "/audit?org=audco&limit=2")
        self.assertEqual([e["request_id"] for e in r.json()["data"]], ["aud-5", "aud-4"])
        # Unfiltered, still newest first: this test's entries lead.
        r = self.call("GET", "/audit?limit=3")
        self.assertEqual([e["request_id"] for e in r.json()["data"]], ["aud-5", "aud-4", "aud-3"])
        for query in ("action=bogus", "limit=abc", "limit=-1"):
            self.assertOpenAIError(self.call("GET", "/audit?" + query), 400, None,
                                   "invalid_request")


if __name__ == "__main__":
    harness.main()
