# End-to-end: which client headers reach the provider. An allow-list:
# content negotiation, the trace state, tollgate's own traceparent and
# X-Request-ID, the provider's key and the provider's forward_headers; the
# client's credentials (its tollgate key, in x-api-key or Authorization),
# billing and routing headers, mock fault switches and any number of
# ordinary extra headers stay behind (and so cannot make the provider
# refuse the request).

import random
import secrets
import string

import harness
from harness import (ADMIN_ENV, GatewayTestCase, free_port, gateway_config, model, provider,
                     tenancy_sections)

PROVIDER_SECRET = "sk-e2e-provider-" + secrets.token_hex(12)

# What a client might send that is none of the provider's business.
DROPPED = {
    "Proxy-Authorization": "Basic " + secrets.token_hex(8),
    "OpenAI-Organization": "org-chosen-by-the-client",
    "OpenAI-Project": "proj-chosen-by-the-client",
    "X-Mock-Status": "500",             # would fail the request at the mock
    "Cookie": "session=" + secrets.token_hex(8),
    "Baggage": "user.id=alice",
}


def ordinary_headers(rng, count):
    """count distinct made-up headers a client could plausibly send."""
    names = set()
    while len(names) < count:
        names.add("X-Client-" + "".join(rng.choice(string.ascii_letters) for _ in range(10)))
    return {name: "".join(rng.choice(string.ascii_letters + string.digits + "-_.")
                          for _ in range(rng.randint(1, 40)))
            for name in names}


class UpstreamHeadersTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cfg = gateway_config(
            free_port(),
            [provider("mock", cls.mock, api_key_env="E2E_PROVIDER_KEY",
                      forward_headers=["OpenAI-Beta", "user-agent"])],
            [model("m", [("mock", "gpt-4o-mini")])], **tenancy_sections(cls.workdir))
        cls.tollgate = cls.start_tollgate(cfg, env=dict(ADMIN_ENV, E2E_PROVIDER_KEY=PROVIDER_SECRET))
        cls.tollgate.create_org("headers", "paid")
        cls.client_key = cls.tollgate.create_key("headers", "client")["key"]

    def chat(self, headers, stream=False):
        """With the client's key in x-api-key, unless headers has one in
        Authorization."""
        if "Authorization" not in headers:
            headers = dict(headers, **{"X-Api-Key": self.client_key})
        return self.tollgate.chat({"model": "m", "stream": stream,
                                   "messages": [{"role": "user", "content": "hi"}]}, headers)

    def test_only_allowed_headers_reach_the_provider(self):
        headers = dict(DROPPED)
        headers.update({
            "Accept": "application/json",
            "Accept-Language": "de-CH",
            "traceparent": "00-%s-%s-01" % (secrets.token_hex(16), secrets.token_hex(8)),
            "tracestate": "vendor=e2e",
            "X-Request-ID": "e2e-headers-1",
            "OpenAI-Beta": "assistants=v2",
            "User-Agent": "e2e-client/1.0",
        })
        r = self.chat(headers)
        self.assertEqual(r.status, 200, r.body)
        seen = self.mock.stats()["last_headers"]

        for name in list(DROPPED) + ["X-Api-Key"]:
            self.assertNotIn(name.lower(), seen, "%s reached the provider" % name)
        self.assertEqual(seen.get("authorization"), "Bearer " + PROVIDER_SECRET)
        self.assertEqual(seen.get("accept"), "application/json")
        self.assertEqual(seen.get("accept-language"), "de-CH")
        self.assertEqual(seen.get("tracestate"), "vendor=e2e")
        self.assertEqual(seen.get("x-request-id"), "e2e-headers-1")
        self.assertEqual(seen.get("traceparent", "")[3:35], headers["traceparent"][3:35])
        self.assertEqual(seen.get("openai-beta"), "assistants=v2")
        self.assertEqual(seen.get("user-agent"), "e2e-client/1.0")
        # (h2o keeps host and content-length out of the header list it shows)
        self.assertEqual(set(seen), {"connection", "content-type", "authorization", "traceparent",
                                     "x-request-id", "accept", "accept-language", "tracestate",
                                     "openai-beta", "user-agent"})

    def test_client_authorization_is_replaced(self):
        r = self.chat({"Authorization": "Bearer " + self.client_key})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.mock.stats()["last_headers"].get("authorization"),
                         "Bearer " + PROVIDER_SECRET)

    def test_many_ordinary_headers_stay_behind(self):
        """95 extra headers, with the 4 every request has and the client's
        key, are the 100 h2o accepts; passed on next to tollgate's own, the
        provider saw more than it accepts and answered 400."""
        extra = ordinary_headers(random.Random(20240611), 95)
        r = self.chat(extra)
        self.assertEqual(r.status, 200, r.body)
        seen = self.mock.stats()["last_headers"]
        for name in extra:
            self.assertNotIn(name.lower(), seen, "%s reached the provider" % name)
        self.assertEqual(seen.get("authorization"), "Bearer " + PROVIDER_SECRET)

    def test_streamed_request_forwards_the_same(self):
        r = self.chat(dict(DROPPED, **{"Accept": "text/event-stream"}), stream=True)
        self.assertEqual(r.status, 200, r.body)
        self.assertIn(b"[DONE]", r.body)
        seen = self.mock.stats()["last_headers"]
        for name in list(DROPPED) + ["X-Api-Key"]:
            self.assertNotIn(name.lower(), seen, "%s reached the provider" % name)
        self.assertEqual(seen.get("accept"), "text/event-stream")
        self.assertEqual(seen.get("authorization"), "Bearer " + PROVIDER_SECRET)


if __name__ == "__main__":
    harness.main()
