# End-to-end: a real Prometheus server (Debian's `prometheus`) scrapes
# tollgate's /metrics and its query API returns the token counts mock-llm
# reported, and the tenancy gauges and ledger counter follow the store:
# the exposition works for the consumer it is written for, not only for
# parsers.

import json
import os
import shutil
import subprocess
import time
import urllib.parse

import harness
from harness import (ADMIN_ENV, GatewayTestCase, chat_prompt_tokens, free_port, http_request, poll,
                     tenancy_sections)

SCRAPE_TIMEOUT_S = 30


class PrometheusScrapeTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.start_one_route(env=ADMIN_ENV, **tenancy_sections(cls.workdir, allow_anonymous=True))
        cls.prometheus = None
        binary = shutil.which("prometheus")
        if binary is None:
            return
        cls.prom_port = free_port()
        config = os.path.join(cls.workdir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(harness.to_yaml({
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [{"job_name": "tollgate", "static_configs": [
                    {"targets": ["127.0.0.1:%d" % cls.tollgate.port]}]}]}) + "\n")
        cls.prom_log = open(os.path.join(cls.workdir, "prometheus.log"), "wb")
        cls.prometheus = subprocess.Popen(
            [binary, "--config.file=" + config,
             "--storage.tsdb.path=" + os.path.join(cls.workdir, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % cls.prom_port],
            stdout=cls.prom_log, stderr=subprocess.STDOUT, cwd=cls.workdir)

    @classmethod
    def tearDownClass(cls):
        if cls.prometheus is not None:
            cls.prometheus.terminate()
            try:
                cls.prometheus.wait(15)
            except subprocess.TimeoutExpired:
                cls.prometheus.kill()
                cls.prometheus.wait()
            cls.prom_log.close()
        super().tearDownClass()

    def query(self, promql):
        r = http_request(self.prom_port, "GET",
                         "/api/v1/query?" + urllib.parse.urlencode({"query": promql}), timeout=5)
        if r.status != 200:
            return None
        result = json.loads(r.body)["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, promql, expected):
        deadline = time.time() + SCRAPE_TIMEOUT_S
        value = None
        while time.time() < deadline:
            try:
                value = self.query(promql)
            except OSError:
                value = None        # Prometheus still starting
            if value == expected:
                return
            time.sleep(0.25)
        with open(os.path.join(self.workdir, "prometheus.log"), errors="replace") as f:
            log = f.read()[-3000:]
        self.fail("%s = %r, expected %r; prometheus log:\n%s" % (promql, value, expected, log))

    def test_prometheus_scrapes_token_counts(self):
        if self.prometheus is None:
            self.skipTest("prometheus is not installed")
        msgs = [{"role": "user", "content": "scrape me please"}]
        for _ in range(3):
            r = self.tollgate.chat({"model": "gpt-4o-mini", "messages": msgs, "max_tokens": 5})
            self.assertEqual(r.status, 200, r.body)
        self.wait_for('up{job="tollgate"}', 1.0)
        self.wait_for('sum(tollgate_llm_tokens_total{provider="mock",model="gpt-4o-mini",'
                      'type="completion"})', 15.0)
        self.wait_for('sum(tollgate_llm_tokens_total{model="gpt-4o-mini",type="prompt"})',
                      3.0 * chat_prompt_tokens(msgs))
        # Scrapes themselves are counted, under their route template.
        self.wait_for('sum(tollgate_http_requests_total{path="/metrics",method="GET"}) > bool 0',
                      1.0)

    def test_prometheus_sees_tenancy_and_ledger(self):
        if self.prometheus is None:
            self.skipTest("prometheus is not installed")
        t = self.tollgate
        t.create_org("prom-trial", "trial")
        t.create_org("prom-paid", "paid")
        keys = [t.create_key("prom-paid", "k%d" % i) for i in range(3)]
        t.revoke_key(keys[2]["id"])
        msgs = [{"role": "user", "content": "ledger through prometheus"}]
        for i, key in enumerate(keys[:2]):
            r = t.chat({"model": "gpt-4o-mini", "messages": msgs, "max_tokens": 2},
                       {"Authorization": "Bearer " + key["key"], "X-Request-ID": "prom-%d" % i})
            self.assertEqual(r.status, 200, r.body)
        # the table lags the answers by ledger.flush_ms; rows go in in the
        # order of their requests, so the other test's (if it ran first) too
        poll(lambda: len(t.db("SELECT id FROM ledger WHERE request_id IN ('prom-0', 'prom-1')")) == 2,
             timeout=10)
        rows = len(t.db("SELECT id FROM ledger"))
        self.wait_for("tollgate_active_api_keys", 2.0)
        self.wait_for('tollgate_orgs{plan="trial"}', 1.0)
        self.wait_for('tollgate_orgs{plan="paid"}', 1.0)
        self.wait_for('tollgate_orgs{plan="free"}', 0.0)
        self.wait_for("tollgate_ledger_rows_written_total", float(rows))
        self.wait_for("tollgate_ledger_spooled_rows_total", 0.0)


if __name__ == "__main__":
    harness.main()
