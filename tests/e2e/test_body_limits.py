# End-to-end: request bodies are held to server.max_body_bytes before they
# are buffered. A declared Content-Length over the limit is refused before
# the body is read, a chunked body as soon as it passes the limit, and
# both get OpenAI's JSON 413 whatever the size (h2o's own refusal used to
# be text/plain above 16 MB). Thirty uploads that declare 16 MB and stall
# keep the gateway's memory flat; a reload moves the limit.

import json
import socket
import threading
import time

from harness import GatewayTestCase, free_port, gateway_config, model, provider

MB = 1 << 20
LIMIT = MB
CHAT = "/v1/chat/completions"
STALLED = 30


def read_response(sock, timeout=10):
    """(status, headers dict, body bytes) of one HTTP/1.1 response."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a response: %r" % data)
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body[:length]


def send_quietly(sock, data):
    """Sends what the peer takes; it may refuse the rest by closing."""
    try:
        sock.sendall(data)
    except OSError:
        pass


class BodyLimitTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.port = free_port()
        cls.tollgate = cls.start_tollgate(cls.config(LIMIT))

    @classmethod
    def config(cls, limit):
        cfg = gateway_config(cls.port, [provider("mock", cls.mock)],
                             [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])])
        cfg["server"]["max_body_bytes"] = limit
        return cfg

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        self.addCleanup(s.close)
        return s

    def assertJson413(self, status, headers, body):
        self.assertEqual(status, 413, body)
        self.assertEqual(headers.get("content-type"), "application/json")
        err = json.loads(body)["error"]
        self.assertEqual(err["code"], "body_too_large")
        self.assertEqual(err["type"], "invalid_request_error")
        self.assertEqual(headers.get("connection"), "close")

    def test_declared_16mb_is_refused_before_the_body_is_read(self):
        """The 413 arrives although not one byte of the body was sent."""
        s = self.connect()
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % (CHAT.encode(), 16 * MB))
        self.assertJson413(*read_response(s))

    def test_declared_over_64mb_gets_the_same_json(self):
        s = self.connect()
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % (CHAT.encode(), 200 * MB))
        self.assertJson413(*read_response(s))

    def test_chunked_body_is_refused_once_past_the_limit(self):
        """Chunks keep coming; the refusal comes once the limit is passed,
        not at the end of the body (there is no end here)."""
        s = self.connect()
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % CHAT.encode())
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
        sender = threading.Thread(target=send_quietly, args=(s, chunk * (LIMIT // (64 * 1024) + 2)))
        sender.start()
        self.assertJson413(*read_response(s))
        sender.join(10)

    def test_body_of_exactly_the_limit_reaches_the_handler(self):
        pad = LIMIT - len(json.dumps({"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": ""}]}))
        body = json.dumps({"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "w" * pad}]}).encode()
        self.assertEqual(len(body), LIMIT)
        r = self.tollgate.request("POST", CHAT, body, {"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.body[:300])
        r = self.tollgate.request("POST", CHAT, body + b" ", {"Content-Type": "application/json"})
        self.assertOpenAIError(r, 413, "invalid_request_error", "body_too_large")

    def test_refusals_are_counted_and_logged(self):
        before = self.tollgate.metrics()
        s = self.connect()
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nX-Request-ID: big-upload-1\r\n"
                  b"Content-Length: %d\r\n\r\n" % (CHAT.encode(), 16 * MB))
        status, headers, _ = read_response(s)
        self.assertEqual(status, 413)
        self.assertEqual(headers.get("x-request-id"), "big-upload-1")
        after = self.tollgate.metrics()
        labels = {"method": "POST", "path": CHAT, "status": "413"}
        self.assertEqual(after.value("tollgate_http_requests_total", **labels)
                         - before.value("tollgate_http_requests_total", **labels), 1)
        err = {"error_type": "invalid_request_error", "error_code": "body_too_large", "path": CHAT}
        self.assertEqual(after.value("tollgate_api_errors_total", **err)
                         - before.value("tollgate_api_errors_total", **err), 1)
        rec = self.tollgate.access_log("big-upload-1")
        self.assertIsNotNone(rec)
        self.assertEqual(rec["status"], 413)

    def test_stalled_uploads_do_not_hold_memory(self):
        """30 clients declare 16 MB, push 15 MB and stall. Each is refused
        at its headers, so the gateway never buffers their bodies (before
        the fix: 112 -> 547 MB)."""
        before = self.tollgate.rss_kb()
        socks, senders = [], []
        for _ in range(STALLED):
            s = self.connect()
            s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      % (CHAT.encode(), 16 * MB))
            t = threading.Thread(target=send_quietly, args=(s, b"x" * 15 * MB), daemon=True)
            t.start()
            socks.append(s)
            senders.append(t)
        for s in socks:
            self.assertJson413(*read_response(s))
        time.sleep(0.5)
        grown_mb = (self.tollgate.rss_kb() - before) / 1024
        peak_mb = self.tollgate.rss_kb() / 1024
        print("\n%d stalled 16 MB uploads: RSS %.1f MB (grew %.1f MB)" % (STALLED, peak_mb, grown_mb))
        self.assertLess(grown_mb, 64)
        self.assertLess(peak_mb, 200)  # ASan's own shadow and quarantine included

    def test_reload_moves_the_limit(self):
        big = json.dumps({"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "w" * int(1.5 * MB)}]})
        self.assertEqual(self.tollgate.request("POST", CHAT, big).status, 413)
        try:
            self.reload(2 * MB)
            r = self.tollgate.request("POST", CHAT, big, {"Content-Type": "application/json"})
            self.assertEqual(r.status, 200, r.body[:300])
        finally:
            self.reload(LIMIT)
        self.assertEqual(self.tollgate.request("POST", CHAT, big).status, 413)

    def reload(self, limit):
        count = self.tollgate.stderr().count("configuration reloaded")
        self.tollgate.write_config(self.config(limit))
        self.tollgate.signal(1)
        deadline = time.time() + 10
        while self.tollgate.stderr().count("configuration reloaded") == count:
            self.assertLess(time.time(), deadline, "reload not confirmed")
            time.sleep(0.02)


if __name__ == "__main__":
    import harness
    harness.main()
