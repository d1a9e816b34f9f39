# End-to-end: runs tests/node/sdk_test.mjs (the official `openai` npm SDK)
# against a tollgate started by the harness in front of a mock-llm, then
# reads the ledger: one row per call that reached the provider, under its
# operation, priced by it (images, seconds of audio, characters). Keys are
# required: the SDK uses one made through the admin API (TOLLGATE_API_KEY).

import os
import shutil
import subprocess

import harness
from harness import (ADMIN_ENV, GatewayTestCase, free_port, gateway_config, model, provider,
                     tenancy_sections)

NODE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "node")

IMAGE = {"input": 5.00, "output": 40.00, "image": 0.04}
AUDIO = {"audio_second": 0.0001}
SPEECH = {"characters": 15.00}
# The calls sdk_test.mjs makes that reach the provider, by operation.
CALLS = {"chat": 8, "embeddings": 2, "responses": 4, "completions": 2, "image": 1,
         "audio_transcription": 2, "audio_speech": 1}


class OpenAISdkTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.cutting = cls.start_mock("--fault", "truncate")
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock), provider("cutting", cls.cutting)],
            [model("gpt-4o-mini", [("mock", "gpt-4o-mini")]),
             model("text-embedding-3-small", [("mock", "text-embedding-3-small")]),
             model("broken-stream", [("cutting", "gpt-4o-mini")]),
             model("gpt-3.5-turbo-instruct", [("mock", "gpt-3.5-turbo-instruct")]),
             model("gpt-image-1", [("mock", "gpt-image-1")], IMAGE),
             model("whisper-1", [("mock", "whisper-1")], AUDIO),
             model("tts-1", [("mock", "tts-1")], SPEECH)],
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

        t = self.tollgate
        total = sum(CALLS.values())
        harness.poll(lambda: len(t.db("SELECT id FROM ledger")) >= total, timeout=10)
        rows = t.db("SELECT operation, model_requested, prompt_tokens, completion_tokens, cost_usd"
                    " FROM ledger ORDER BY id")
        counts = {}
        for row in rows:
            counts[row["operation"]] = counts.get(row["operation"], 0) + 1
        self.assertEqual(counts, CALLS)
        by_op = lambda op: [r for r in rows if r["operation"] == op]
        (image,) = by_op("image")
        self.assertEqual((image["prompt_tokens"], image["completion_tokens"]), (3, 2 * 1056))
        self.assertAlmostEqual(image["cost_usd"], 2 * 0.04 + (3 * 5.00 + 2112 * 40.00) / 1e6, places=12)
        # 2 s then 1 s of audio, by whisper-1's usage.seconds
        self.assertEqual([round(r["cost_usd"] / AUDIO["audio_second"], 6)
                          for r in by_op("audio_transcription")], [2, 1])
        (spoken,) = by_op("audio_speech")
        self.assertAlmostEqual(spoken["cost_usd"], len("one two three four") * 15.00 / 1e6, places=12)
        m = t.metrics()
        self.assertEqual({s.labels["operation"] for s in m.find("tollgate_llm_requests_total")}, set(CALLS))


if __name__ == "__main__":
    harness.main()
