# End-to-end: no secret leaves tollgate. The provider's API key (from
# api_key_env), the clients' keys (valid, revoked, made up) and the admin
# master key are sent every way a client might get it wrong: in the URL
# query, in malformed Authorization headers, in x-api-key, to the admin
# API; then every log line, every exposition (/metrics in both formats and
# the structured endpoints), every answer, the CLI's output and the
# database files are searched: none of them may appear, whole or in part.
# A key sent as X-Request-ID must not reach the logs either. (Every other
# e2e test gets the same check of its logs and answers at shutdown, from
# the harness.)

import base64
import glob
import secrets

import harness
from harness import (ADMIN_ENV, ADMIN_KEY, GatewayTestCase, free_port, gateway_config, model,
                     provider, tenancy_sections)

PROVIDER_KEY = "sk-upstream-" + secrets.token_urlsafe(24)
EXPOSITIONS = (("/metrics", {}),
               ("/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"}),
               ("/prometheus/metrics/all", {}), ("/prometheus/metrics/summary", {}),
               ("/prometheus/metrics/docs", {}), ("/health", {}))


def pieces(secret):
    """What of a secret must not show: all of it, and its middle (a secret
    cut, escaped at its ends or stripped of its prefix)."""
    return [secret, secret[4:-4]]


class SecretsTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock, api_key_env="E2E_UPSTREAM_KEY")],
            [model("gpt-4o-mini", [("mock", "gpt-4o-mini")]),
             model("text-embedding-3-small", [("mock", "text-embedding-3-small")])],
            logging={"level": "debug"}, **tenancy_sections(cls.workdir)),
            dict(ADMIN_ENV, E2E_UPSTREAM_KEY=PROVIDER_KEY))
        cls.tollgate.secrets.add(PROVIDER_KEY)

    def chat(self, headers=None, path="/v1/chat/completions", stream=False):
        body = {"model": "gpt-4o-mini", "max_tokens": 3, "stream": stream,
                "messages": [{"role": "user", "content": "keep it secret"}]}
        return self.tollgate.request("POST", path, body, headers)

    def test_no_secret_anywhere(self):
        t = self.tollgate
        t.create_org("sec", "paid")
        good = t.create_key("sec", "good")["key"]
        gone = t.create_key("sec", "gone")
        t.revoke_key(gone["id"])
        made_up = "tg-" + secrets.token_urlsafe(32)
        t.secrets.add(made_up)
        clients = [good, gone["key"], made_up]

        # Served: the provider gets its own key, never the client's.
        self.assertEqual(self.chat({"Authorization": "Bearer " + good}).status, 200)
        self.assertEqual(self.chat({"x-api-key": good}, stream=True).status, 200)
        r = t.request("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"},
                      {"Authorization": "Bearer " + good})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.mock.stats()["last_headers"].get("authorization"),
                         "Bearer " + PROVIDER_KEY)

        for key in clients:
            # In the query string: not a way to present a key.
            for query in ("api_key", "key", "token", "access_token"):
                r = self.chat(path="/v1/chat/completions?%s=%s" % (query, key))
                self.assertEqual(r.status, 401, r.body)
            r = t.request("GET", "/v1/models?api_key=" + key)
            self.assertEqual(r.status, 401, r.body)
            for auth in ("Bearer " + key + "x", "Bearer " + key[:-1], key, "Token " + key,
                         "Basic " + base64.b64encode(b"user:" + key.encode()).decode(),
                         "Bearer " + key + " " + key, "bearer" + key):
                r = self.chat({"Authorization": auth})
                self.assertEqual(r.status, 401, (auth[:12], r.body))
        # A key where a request id goes: the logs scan ids for secrets. (The
        # ledger and the audit table keep request ids as sent: not checked.)
        rid_secret = "tg-" + secrets.token_urlsafe(32)
        for key in (good, made_up):
            self.chat({"Authorization": "Bearer " + key, "X-Request-ID": rid_secret})
        # The provider's key and the master key, offered as client keys.
        for key in (PROVIDER_KEY, ADMIN_KEY):
            for headers in ({"Authorization": "Bearer " + key}, {"x-api-key": key}):
                self.assertEqual(self.chat(headers).status, 401)
        # The admin API, with near misses of the master key.
        for auth in ("Bearer " + ADMIN_KEY + "x", "Bearer " + ADMIN_KEY[:-1], ADMIN_KEY,
                     "Bearer " + good, "Bearer " + PROVIDER_KEY):
            r = t.request("GET", "/admin/v1/keys", headers={"Authorization": auth})
            self.assertEqual(r.status, 401, r.body)
        r = t.request("GET", "/admin/v1/orgs?key=" + ADMIN_KEY)
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(t.admin("GET", "/keys").status, 200)
        self.assertEqual(t.admin("GET", "/audit?limit=500").status, 200)
        self.assertEqual(t.admin("GET", "/usage?group_by=key").status, 200)

        # Where to look.
        cli = [t.cli(*args, json_out=j) for args in (("keys", "list"), ("audit", "--limit", "500"),
                                                     ("usage", "--group-by", "key"))
               for j in (False, True)]
        for path, headers in EXPOSITIONS:
            r = t.request("GET", path, headers=headers)
            self.assertEqual(r.status, 200, path)
        texts = {"logs": t.logs(),
                 "answers": b"".join(t.answers).decode("utf-8", "replace"),
                 "cli": "".join(c.out + c.err for c in cli)}
        for path in glob.glob(t.db_path + "*"):
            with open(path, "rb") as f:
                texts[path] = f.read().decode("latin-1")
        for name, secret in [("provider key", PROVIDER_KEY), ("master key", ADMIN_KEY)] + [
                ("client key %d" % i, k) for i, k in enumerate(clients)]:
            for piece in pieces(secret):
                for where, text in texts.items():
                    self.assertNotIn(piece, text, "%s found in %s" % (name, where))
        for piece in pieces(rid_secret):
            self.assertNotIn(piece, texts["logs"], "a key sent as X-Request-ID is in the logs")


if __name__ == "__main__":
    harness.main()
