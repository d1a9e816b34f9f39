# End-to-end: the CLI (docs/tenancy.md, "CLI") on the database of a running
# tollgate: `tollgate orgs|keys|usage|audit ...` with --json (the admin
# API's JSON) and text output, exit status 0 / 1 (the operation failed) /
# 2 (a usage error), audit entries with user_id "cli"; a key made by the
# CLI works at once, and one it revokes is refused by every worker within
# a second.

import json
import re
import time

import harness
from harness import (ADMIN_ENV, KEY_SECRET, GatewayTestCase, PLANS, run_tollgate,
                     tenancy_sections)

NO_SUCH_KEY = "key_0000000000000000"


def chat_body(text="hello from the cli test"):
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}],
            "max_tokens": 3}


class CliTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.start_one_route(env=ADMIN_ENV, **tenancy_sections(cls.workdir))

    def cli(self, *args, code=0, json_out=False):
        """Runs the CLI, insists on exit status `code`; the result."""
        r = self.tollgate.cli(*args, json_out=json_out)
        self.assertEqual(r.code, code, r)
        if code != 0:
            self.assertTrue(r.err.strip(), "no message on stderr: %r" % r)
        return r

    def cli_json(self, *args):
        return self.cli(*args, json_out=True).json()

    def new_key(self, *args):
        """keys create ARGS --json: the key, its secret registered."""
        key = self.cli_json("keys", "create", *args)
        self.tollgate.secrets.add(key["key"])
        return key

    def audit(self, query):
        r = self.tollgate.admin("GET", "/audit?" + query)
        self.assertEqual(r.status, 200, r.body)
        return r.json()["data"]

    def with_key(self, secret):
        return self.tollgate.chat(chat_body(), {"Authorization": "Bearer " + secret})

    def test_orgs(self):
        org = self.cli_json("orgs", "create", "cli-acme", "--plan", "trial", "--rpm", "60",
                            "--budget-usd", "25")
        self.assertOrg(org, "cli-acme", "trial", rpm=60, budget_usd=25.0)
        r = self.cli("orgs", "create", "cli-beta")
        self.assertIn("cli-beta", r.out)

        listed = self.cli_json("orgs", "list")
        self.assertEqual(listed["object"], "list")
        by_name = {o["name"]: o for o in listed["data"]}
        self.assertEqual(by_name["cli-acme"], org)
        self.assertEqual(by_name["cli-beta"]["plan"], PLANS[0])
        text = self.cli("orgs", "list").out
        self.assertIn("cli-acme", text)
        self.assertIn("trial", text)

        self.cli("orgs", "create", "cli-acme", code=1)              # exists
        self.cli("orgs", "create", "bad name", code=1)
        self.cli("orgs", "create", "cli-gold", "--plan", "gold", code=1)
        self.cli("orgs", "update", "cli-ghost", "--plan", "paid", code=1)
        for args in (("orgs",), ("orgs", "frobnicate"), ("orgs", "create"),
                     ("orgs", "create", "cli-x", "--colour", "red"), ("orgs", "create", "cli-x", "--rpm")):
            self.cli(*args, code=2)
        names = {o["name"] for o in self.cli_json("orgs", "list")["data"]}
        self.assertFalse(names & {"bad name", "cli-gold", "cli-ghost", "cli-x"})

        self.assertOrg(self.cli_json("orgs", "update", "cli-acme", "--plan", "paid"),
                       "cli-acme", "paid", rpm=60, budget_usd=25.0)
        self.assertOrg(self.cli_json("orgs", "update", "cli-acme", "--tpm", "100"),
                       "cli-acme", "paid", rpm=60, tpm=100, budget_usd=25.0)
        after = self.cli_json("orgs", "update", "cli-acme", "--rpm", "none", "--models",
                              "gpt-4o-mini,gpt-4o")
        self.assertOrg(after, "cli-acme", "paid", tpm=100, budget_usd=25.0,
                       models=["gpt-4o-mini", "gpt-4o"])
        # The server reads the same database.
        served = {o["name"]: o for o in self.tollgate.admin("GET", "/orgs").json()["data"]}
        self.assertEqual(served["cli-acme"], after)

        entries = self.audit("org=cli-acme")
        self.assertEqual([e["action"] for e in entries],
                         ["policy_update", "policy_update", "org_updated", "org_created"])
        for e in entries:
            self.assertEqual((e["org_id"], e["user_id"], e["request_id"]), ("cli-acme", "cli", None))
        self.assertEqual(self.cli_json("audit", "--org", "cli-acme")["data"], entries)
        only = self.cli_json("audit", "--org", "cli-acme", "--action", "org_created", "--limit", "1")
        self.assertEqual(only["data"], entries[-1:])
        self.assertIn("org_created", self.cli("audit", "--org", "cli-acme").out)

    def test_keys(self):
        self.cli("orgs", "create", "cli-keys", "--plan", "paid")
        r = self.cli("keys", "create", "--org", "cli-keys", "--name", "ci", "--models", "gpt-4o-mini",
                     json_out=True)
        key = r.json()
        self.tollgate.secrets.add(key["key"])
        self.assertKey(key, "cli-keys", "ci", secret=True, models=["gpt-4o-mini"])
        # The CLI's own audit line (the config asks for JSON logs), on stderr.
        lines = [json.loads(l) for l in r.err.splitlines() if l.startswith("{")]
        audit = [l for l in lines if l.get("logger") == "audit"]
        self.assertEqual(len(audit), 1, r.err)
        self.assertAuditLine(audit[0], "key_created", "cli-keys", "cli", None, key_id=key["id"])
        self.assertNotIn(key["key"][3:-4], r.err)
        # Text output shows the secret: this is its one showing.
        text = self.cli("keys", "create", "--org", "cli-keys", "--name", "ci2").out
        shown = [w for w in re.findall(r"tg-[A-Za-z0-9_-]+", text) if KEY_SECRET.match(w)]
        self.assertEqual(len(shown), 1, text)
        self.tollgate.secrets.add(shown[0])

        for args in (("keys", "list"), ("keys", "list", "--org", "cli-keys")):
            for json_out in (False, True):
                out = self.cli(*args, json_out=json_out).out
                self.assertNotIn(key["key"], out)
                self.assertNotIn(shown[0], out)
                self.assertIn(key["id"], out)
        listed = {k["id"]: k for k in self.cli_json("keys", "list", "--org", "cli-keys")["data"]}
        self.assertEqual(len(listed), 2)
        self.assertEqual(listed[key["id"]], {f: v for f, v in key.items() if f != "key"})

        self.assertKey(self.cli_json("keys", "update", key["id"], "--name", "ci-renamed", "--rpm", "5"),
                       "cli-keys", "ci-renamed", rpm=5, models=["gpt-4o-mini"])
        self.assertKey(self.cli_json("keys", "update", key["id"], "--rpm", "none", "--models", "none"),
                       "cli-keys", "ci-renamed")
        revoked = self.cli_json("keys", "revoke", key["id"])
        self.assertKey(revoked, "cli-keys", "ci-renamed", revoked=True)
        self.assertEqual(self.cli_json("keys", "revoke", key["id"]), revoked)
        self.cli("keys", "update", key["id"], "--rpm", "1", code=1)
        self.cli("keys", "revoke", NO_SUCH_KEY, code=1)
        self.cli("keys", "create", "--org", "cli-ghost", "--name", "x", code=1)
        self.cli("keys", "create", "--org", "cli-keys", "--name", "ci2", code=1)   # exists
        for args in (("keys",), ("keys", "create", "--org", "cli-keys"),
                     ("keys", "create", "--name", "x"), ("keys", "revoke"),
                     ("keys", "list", "--org")):
            self.cli(*args, code=2)

        entries = self.audit("org=cli-keys")
        self.assertEqual([e["action"] for e in entries],
                         ["key_revoked", "policy_update", "policy_update", "key_created",
                          "key_created", "org_created"])
        for e in entries:
            self.assertEqual((e["user_id"], e["request_id"]), ("cli", None), e)
        self.assertEqual(entries[0]["key_id"], key["id"])

    def test_config_from_environment(self):
        r = run_tollgate("orgs", "list", "--json", env={"TOLLGATE_CONFIG": self.tollgate.config_path})
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.json()["object"], "list")

    def test_usage(self):
        self.cli("orgs", "create", "cli-use")
        key = self.new_key("--org", "cli-use", "--name", "u")
        for _ in range(3):
            self.assertEqual(self.with_key(key["key"]).status, 200)
        got = self.cli_json("usage", "--org", "cli-use", "--group-by", "model")
        served = self.tollgate.admin("GET", "/usage?org=cli-use&group_by=model").json()
        self.assertEqual(got, served)
        self.assertEqual(got["object"], "usage")
        self.assertEqual([(d["group"], d["requests"]) for d in got["data"]], [("gpt-4o-mini", 3)])
        self.assertEqual(got["total"]["requests"], 3)
        by_key = self.cli_json("usage", "--key", key["id"])
        self.assertEqual(by_key["total"]["requests"], 3)
        self.assertIn("gpt-4o-mini", self.cli("usage", "--org", "cli-use", "--group-by", "model").out)
        self.assertIn(self.tollgate.cli("usage", "--group-by", "colour").code, (1, 2))

    def test_key_made_by_cli_works_at_once_and_revoking_reaches_every_worker(self):
        self.cli("orgs", "create", "cli-live")
        key = self.new_key("--org", "cli-live", "--name", "now")
        # Fresh connections land on either worker: each must find the key,
        # made a moment ago by another process, in the database.
        for i in range(8):
            r = self.with_key(key["key"])
            self.assertEqual(r.status, 200, (i, r.body))
        self.cli("keys", "revoke", key["id"])
        time.sleep(1.0)
        for i in range(12):
            r = self.with_key(key["key"])
            self.assertOpenAIError(r, 401, "authentication_error", "invalid_api_key",
                                   "This API key has been revoked.")


if __name__ == "__main__":
    harness.main()
