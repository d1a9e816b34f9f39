# End-to-end: SIGHUP reloads under load with two workers. Each reload
# swaps the configuration (alternating the body limit and an extra model)
# while four clients keep plain and streamed requests going on keep-alive
# connections; every request must succeed, every reload must be confirmed
# by both workers, and the process must exit cleanly. CTest runs this
# against the ASan build and, as e2e_reload_tsan, against the
# ThreadSanitizer build of tollgate (the reload crash of issue 6 was a data
# race between workers that only TSan or a release build shows).

import http.client
import json
import os
import threading
import time

from harness import GatewayTestCase, free_port, gateway_config, model, provider

RELOADS = int(os.environ.get("TOLLGATE_RELOADS", "300"))
CLIENTS = 4


class Client(threading.Thread):
    """Requests in a loop on one keep-alive connection until told to stop."""

    def __init__(self, port, stream):
        super().__init__(daemon=True)
        self.port, self.stream = port, stream
        self.done = threading.Event()
        self.ok = 0
        self.failures = []
        self.start()

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        body = json.dumps({"model": "gpt-4o-mini", "max_tokens": 4, "stream": self.stream,
                           "messages": [{"role": "user", "content": "reload me"}]})
        while not self.done.is_set():
            try:
                conn.request("POST", "/v1/chat/completions", body=body,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 200 and (not self.stream or b"[DONE]" in data):
                    self.ok += 1
                else:
                    self.failures.append((resp.status, data[:200]))
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))
                conn.close()
        conn.close()


class ReloadUnderLoadTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.port = free_port()
        cls.tollgate = cls.start_tollgate(cls.config(0))

    @classmethod
    def config(cls, generation):
        models = [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])]
        if generation % 2:
            models.append(model("gpt-4o", [("mock", "gpt-4o")]))
        cfg = gateway_config(cls.port, [provider("mock", cls.mock)], models)
        cfg["server"]["max_body_bytes"] = 1048576 * (1 + generation % 2)
        return cfg

    def reloads_confirmed(self, log, offset):
        with open(log, errors="replace") as f:
            f.seek(offset)
            text = f.read()
        return text.count("configuration reloaded from"), offset + len(text.encode())

    def test_reloads_under_load_drop_nothing(self):
        clients = [Client(self.port, stream=i % 2 == 1) for i in range(CLIENTS)]
        log = self.tollgate.stderr_path
        offset, confirmed = 0, 0
        try:
            for generation in range(1, RELOADS + 1):
                self.tollgate.write_config(self.config(generation))
                self.tollgate.signal(1)  # SIGHUP
                deadline = time.time() + 20
                while True:
                    n, offset = self.reloads_confirmed(log, offset)
                    confirmed += n
                    if confirmed >= generation:
                        break
                    self.assertIsNone(self.tollgate.proc.poll(), "tollgate died during reload %d:\n%s"
                                      % (generation, self.tollgate.stderr()[-4000:]))
                    self.assertLess(time.time(), deadline, "reload %d never confirmed" % generation)
                    time.sleep(0.002)
        finally:
            for c in clients:
                c.done.set()
            for c in clients:
                c.join(30)
        self.assertEqual(confirmed, RELOADS)
        self.assertNotIn("not every worker confirmed", self.tollgate.stderr())
        for c in clients:
            self.assertEqual(c.failures, [], "requests failed during reloads")
            self.assertGreater(c.ok, 0)
        served = sum(c.ok for c in clients)
        print("\n%d reloads under load, %d requests served" % (RELOADS, served))


if __name__ == "__main__":
    import harness
    harness.main()
