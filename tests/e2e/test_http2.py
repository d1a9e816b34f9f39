# End-to-end: cleartext HTTP/2 with prior knowledge (h2c) on the API port.
# nghttp (nghttp2's client) multiplexes chat completions on one connection;
# curl's one-connection-per-transfer form, the workaround
# docs/gateway-behaviour.md gives for curl 7.88's h2c reuse bug, works too.

import json
import os
import re
import subprocess

import harness
from harness import GatewayTestCase

STREAMS = 8


class Http2Test(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.start_one_route()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.tollgate.port, path)

    def test_streams_multiplexed_on_one_connection(self):
        body = os.path.join(self.workdir, "chat.json")
        with open(body, "w") as f:
            json.dump({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, f)
        before = self.mock.stats()["chat"]
        # Distinct URLs (nghttp fetches a repeated one once); the query is
        # not part of the route.
        urls = [self.url("/v1/chat/completions?n=%d" % i) for i in range(STREAMS)]
        out = subprocess.run(["nghttp", "-ns", "-d", body, "-H", "content-type: application/json"] + urls,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        # -s prints one row per stream: id, times, status, size, path.
        rows = re.findall(r"^\s*(\d+)\s+\S+\s+\S+\s+\S+\s+(\d+)\s+\d+\s+(\S+)$", out.stdout, re.M)
        self.assertEqual(len({stream for stream, _, _ in rows}), STREAMS, out.stdout)
        self.assertEqual({status for _, status, _ in rows}, {"200"}, out.stdout)
        self.assertEqual(self.mock.stats()["chat"] - before, STREAMS)

    def test_curl_one_connection_per_transfer(self):
        urls = [self.url("/v1/models?n=%d" % i) for i in range(4)]
        out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--parallel", "--parallel-immediate",
                              "-w", "%{http_version} %{http_code}\n"]
                             + [arg for u in urls for arg in ("-o", os.devnull, u)],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout.split("\n")[:-1], ["2 200"] * len(urls), out.stdout)


if __name__ == "__main__":
    harness.main()
