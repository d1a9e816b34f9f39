# End-to-end: request smuggling. A request whose body could be framed two
# ways (two different Content-Lengths, Content-Length with
# Transfer-Encoding, two Transfer-Encodings) gets a 400 in OpenAI's shape
# and the connection is closed, so that the bytes a different parser
# would read as a second request are never read as one (RFC 9112 6.1,
# 6.3). Well-framed keep-alive requests still share their connection.

import json

from harness import GatewayTestCase, send_and_read_all

CHAT = b"/v1/chat/completions"
BODY = json.dumps({"model": "gpt-4o-mini", "max_tokens": 2,
                   "messages": [{"role": "user", "content": "hi"}]}).encode()
# A complete second request, hidden in the first one's body.
SMUGGLED = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"


def exchange(port, data, timeout=5):
    """Every byte the server sends back to data until it closes."""
    return send_and_read_all(port, data, timeout)


def request(headers, body):
    return (b"POST " + CHAT + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body)


def chunked(body):
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


class FramingTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.start_one_route()

    def assertRefusedAndClosed(self, out):
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out[:200])
        self.assertNotIn(b"<timeout>", out, "connection left open")
        self.assertIn(b"\r\nConnection: close\r\n", out)
        self.assertEqual(out.count(b"HTTP/1.1 "), 1, "a second (smuggled) request was answered")
        body = out.split(b"\r\n\r\n", 1)[1]
        err = json.loads(body)["error"]
        self.assertEqual(err["type"], "invalid_request_error")
        self.assertEqual(err["code"], "invalid_request")

    def test_two_different_content_lengths(self):
        out = exchange(self.tollgate.port, request(
            [b"Content-Length: %d" % len(BODY), b"Content-Length: %d" % (len(BODY) + len(SMUGGLED))],
            BODY + SMUGGLED))
        self.assertRefusedAndClosed(out)

    def test_content_length_and_chunked(self):
        wire = chunked(BODY)
        out = exchange(self.tollgate.port, request(
            [b"Content-Length: %d" % len(wire), b"Transfer-Encoding: chunked"], wire + SMUGGLED))
        self.assertRefusedAndClosed(out)

    def test_chunked_then_content_length(self):
        wire = chunked(BODY)
        out = exchange(self.tollgate.port, request(
            [b"Transfer-Encoding: chunked", b"Content-Length: 4"], wire + SMUGGLED))
        self.assertRefusedAndClosed(out)

    def test_two_transfer_encodings(self):
        wire = chunked(BODY)
        out = exchange(self.tollgate.port, request(
            [b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"], wire + SMUGGLED))
        self.assertRefusedAndClosed(out)

    def test_refusal_never_reaches_the_provider(self):
        before = self.mock.stats()["requests"]
        exchange(self.tollgate.port, request(
            [b"Content-Length: %d" % len(BODY), b"Content-Length: 1"], BODY))
        self.assertEqual(self.mock.stats()["requests"], before)

    def test_repeated_equal_length_is_accepted(self):
        """RFC 9110 8.6 lets a recipient accept a repeated, equal length;
        pipelined requests after it are still served on the connection."""
        out = exchange(self.tollgate.port, request(
            [b"Content-Length: %d" % len(BODY)] * 2, BODY) + request(
            [b"Content-Length: %d" % len(BODY), b"Connection: close"], BODY))
        self.assertEqual(out.count(b"HTTP/1.1 200 "), 2, out[:400])


if __name__ == "__main__":
    import harness
    harness.main()
