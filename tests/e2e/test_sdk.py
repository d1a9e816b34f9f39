# End-to-end: runs tests/node/sdk_test.mjs (the official `openai` npm SDK)
# against a tollgate started by the harness in front of a mock-llm. Keys are
# required: the SDK uses one made through the admin API (TOLLGATE_API_KEY).

import os
import shutil
import subprocess

import harness
from harness import (ADMIN_ENV, GatewayTestCase, free_port, gateway_config, model, provider,
                     tenancy_sections)

NODE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "node")


class OpenAISdkTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.cutting = cls.start_mock("--fault", "truncate")
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock), provider("cutting", cls.cutting)],
            [model("gpt-4o-mini", [("mock", "gpt-4o-mini")]),
             model("text-embedding-3-small", [("mock", "text-embedding-3-small")]),
             model("broken-stream", [("cutting", "gpt-4o-mini")])],
            **tenancy_sections(cls.workdir)), ADMIN_ENV)
        cls.tollgate.create_org("sdk", "paid")
        cls.key = cls.tollgate.create_key("sdk", "node")["key"]

    def test_openai_sdk(self):
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is not installed")
        self.assertTrue(os.path.isdir(os.path.join(NODE_DIR, "node_modules", "openai")),
                        "run `npm ci` in tests/node (scripts/install-deps.sh does)")
        env = dict(os.environ, TOLLGATE_URL="http://127.0.0.1:%d" % self.tollgate.port,
                   TOLLGATE_API_KEY=self.key)
        p = subprocess.run([node, os.path.join(NODE_DIR, "sdk_test.mjs")], cwd=NODE_DIR,
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(self.tollgate.find_logs(logger="access", org_id="sdk"))


if __name__ == "__main__":
    harness.main()
