# End-to-end: secrets in the request path never reach the access log,
# through the real gateway. The path is redacted whole before it is cut to
# 256 bytes (cut first, a key's first characters used to show: the issue's
# reproduction below), by parameter name as well as by the key's shape;
# ordinary paths and the ids logged on purpose stay readable. The full
# table of shapes and positions is the unit test (src/tests/test_log.c).

import harness
from harness import GatewayTestCase, free_port, gateway_config, model, provider

PAD = "p" * 231
PROBE = "sk-PROBE-SECRET-0123456789abcdef"
HEX40 = "a4494df4dcba7acf501d9bbf55e581ddb0de921d"
JWT = ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0."
       "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U")


class RedactionTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cfg = gateway_config(free_port(), [provider("mock", cls.mock)],
                             [model("big", [("mock", "gpt-4o")])],
                             logging={"level": "debug"})
        cls.tollgate = cls.start_tollgate(cfg)

    def logged_path(self, path, request_id):
        r = self.tollgate.request("GET", path, headers={"X-Request-ID": request_id})
        self.assertIn(r.status, (200, 404), r.body)
        rec = self.tollgate.access_log(request_id)
        self.assertIsNotNone(rec, "no access log line for %s" % request_id)
        return rec["path"]

    def assertNoPrefix(self, secret, shown):
        """Nothing of `secret` past its first `shown` characters is in any
        log line: not "sk-P", not "sk-PROBE-SE"."""
        logs = self.tollgate.logs()
        for end in range(shown + 1, len(secret) + 1):
            self.assertNotIn(secret[:end], logs)

    def test_issue_reproduction(self):
        # /v1/models? + 231 x p + &k=sk-...: the key starts before byte 256.
        path = self.logged_path("/v1/models?" + PAD + "&k=" + PROBE, "e2e-redact-issue")
        self.assertEqual(path, "/v1/models?" + PAD + "&k=[REDACTED]")
        self.assertNoPrefix(PROBE, len("sk-"))

    def test_secrets_by_name_and_by_shape(self):
        path = self.logged_path(
            "/v1/models?limit=10&api_key=hunter2-a1b2&token=t0k3n-v4lu3&h=%s&j=%s&PASSWORD=pw-9z8y"
            % (HEX40, JWT), "e2e-redact-query")
        self.assertEqual(path, "/v1/models?limit=10&api_key=[REDACTED]&token=[REDACTED]"
                               "&h=[REDACTED]&j=[REDACTED]&PASSWORD=[REDACTED]")
        for secret in ("hunter2", "t0k3n", HEX40[:8], JWT[:8], "pw-9z8y"):
            self.assertNotIn(secret, self.tollgate.logs())

    def test_long_path_is_cut_after_redaction(self):
        # Redacted, this still does not fit: cut, marked, and the key,
        # past the cut or not, is gone.
        path = self.logged_path("/v1/models?" + "q" * 300 + "&key=" + PROBE, "e2e-redact-long")
        self.assertEqual(path, "/v1/models?" + "q" * 242 + "...")
        self.assertNoPrefix(PROBE, len("sk-"))

    def test_readable_paths_and_ids_stay(self):
        plain = "/v1/models?limit=10&order=desc&after=gpt-4o-mini"
        self.assertEqual(self.logged_path(plain, "e2e-redact-plain"), plain)
        # A 32-hex request id is logged as it is in its own field; in a path
        # it cannot be told from a hex key.
        hex32 = "4bf92f3577b34da6a3ce929d0e0e4736"
        self.assertEqual(self.logged_path("/v1/traces/" + hex32, hex32), "/v1/traces/[REDACTED]")


if __name__ == "__main__":
    harness.main()
