# End-to-end: runs tests/node/anthropic_sdk_test.mjs (the official
# `@anthropic-ai/sdk` on POST /v1/messages, routed to an anthropic-type
# provider and to an openai-type one, and the `openai` SDK's chat on the
# anthropic-type provider) against a tollgate started by the harness in
# front of one mock-llm, then checks what the calls left: a ledger row per
# call that reached a provider, exactly as the script expects it (prompt,
# cached, cache-written, completion and reasoning tokens), priced as
# (prompt - cached - written) x input + cached x cached_input + written x
# cache_write + completion x output, per million; and the token and cost
# metrics, which must reconcile with the ledger. Keys are required: the SDKs
# use one made through the admin API.

import json
import os
import shutil
import subprocess

import harness
from harness import (ADMIN_ENV, GatewayTestCase, free_port, gateway_config, model, provider,
                     tenancy_sections)

NODE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "node")
FORWARD = ["x-mock-cache-read", "x-mock-cache-write", "x-mock-cached-tokens", "x-mock-reasoning-tokens",
           "x-mock-output-tokens"]
PRICING = {
    "claude": {"input": 3.00, "cached_input": 0.30, "cache_write": 3.75, "output": 15.00},
    "gpt": {"input": 0.15, "cached_input": 0.075, "output": 0.60},
}
TYPES = {"prompt": "prompt", "cached_prompt": "cached", "cache_write": "written",
         "completion": "completion", "reasoning": "reasoning"}


def cost(pricing, row):
    written_price = pricing.get("cache_write", pricing["input"])
    return ((row["prompt"] - row["cached"] - row["written"]) * pricing["input"]
            + row["cached"] * pricing["cached_input"] + row["written"] * written_price
            + row["completion"] * pricing["output"]) / 1e6


class AnthropicSdkTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(),
            [provider("oai", cls.mock, forward_headers=FORWARD),
             provider("ant", cls.mock, type="anthropic", forward_headers=FORWARD)],
            [model("claude", [("ant", "claude-sonnet-4-5")], PRICING["claude"]),
             model("gpt", [("oai", "gpt-4o-mini")], PRICING["gpt"])],
            **tenancy_sections(cls.workdir)), ADMIN_ENV)
        cls.tollgate.create_org("sdk", "paid")
        cls.key = cls.tollgate.create_key("sdk", "node")["key"]

    def test_anthropic_sdk(self):
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is not installed")
        self.assertTrue(os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@anthropic-ai", "sdk")),
                        "run `npm ci` in tests/node (scripts/install-deps.sh does)")
        t = self.tollgate
        m0 = t.metrics()
        env = dict(os.environ, TOLLGATE_URL="http://127.0.0.1:%d" % t.port, TOLLGATE_API_KEY=self.key,
                   MOCK_URL="http://127.0.0.1:%d" % self.mock.port)
        p = subprocess.run([node, os.path.join(NODE_DIR, "anthropic_sdk_test.mjs")], cwd=NODE_DIR,
                           env=env, capture_output=True, text=True, timeout=90)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        last = p.stdout.strip().splitlines()[-1]
        self.assertTrue(last.startswith("EXPECTED "), p.stdout)
        expected = json.loads(last[len("EXPECTED "):])
        self.assertEqual(len(expected), 13)

        # the ledger: the answered calls, in order, each exactly
        harness.poll(lambda: len(t.db("SELECT id FROM ledger WHERE status = 200")) >= len(expected),
                     timeout=10)
        rows = t.db("SELECT operation, model_requested, provider, prompt_tokens, cached_tokens,"
                    " cache_write_tokens, completion_tokens, reasoning_tokens, cost_usd"
                    " FROM ledger WHERE status = 200 ORDER BY id")
        got = [{"model": r["model_requested"], "operation": r["operation"], "prompt": r["prompt_tokens"],
                "cached": r["cached_tokens"], "written": r["cache_write_tokens"],
                "completion": r["completion_tokens"], "reasoning": r["reasoning_tokens"]} for r in rows]
        self.assertEqual(got, expected)
        self.assertEqual([r["provider"] for r in rows], ["ant" if e["model"] == "claude" else "oai"
                                                         for e in expected])
        for r, e in zip(rows, expected):
            self.assertAlmostEqual(r["cost_usd"], cost(PRICING[e["model"]], e), places=12)
        # the refused calls (an untranslatable field, an unknown model, a
        # made-up key) reached no provider and cost nothing
        self.assertEqual(t.db("SELECT count(*) AS n FROM ledger WHERE status != 200 AND cost_usd != 0")[0]["n"],
                         0)

        # the metrics reconcile with the ledger, token type by token type
        m = t.metrics()
        d = lambda name, **labels: m.value(name, **labels) - m0.value(name, **labels)
        for name in PRICING:
            mine = [e for e in expected if e["model"] == name]
            for metric_type, field in TYPES.items():
                self.assertEqual(d("tollgate_llm_tokens_total", model=name, type=metric_type),
                                 sum(e[field] for e in mine), (name, metric_type))
            self.assertAlmostEqual(d("tollgate_llm_cost_dollars_sum", model=name),
                                   sum(r["cost_usd"] for r in rows if r["model_requested"] == name), places=12)
            self.assertEqual(d("tollgate_llm_cost_dollars_count", model=name), len(mine))
        for op in ("messages", "chat"):
            self.assertEqual(d("tollgate_llm_requests_total", operation=op, status="success"),
                             sum(1 for e in expected if e["operation"] == op))
        written = sum(e["written"] for e in expected)
        self.assertGreater(written, 0)
        self.assertEqual(d("tollgate_llm_tokens_total", type="cache_write"), written)
        self.assertTrue(t.find_logs(logger="access", org_id="sdk"))


if __name__ == "__main__":
    harness.main()
