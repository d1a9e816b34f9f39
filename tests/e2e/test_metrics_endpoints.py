# End-to-end: the metrics endpoints. /metrics and /analytics/prometheus
# expose the same families, text 0.0.4 or OpenMetrics by Accept, gzip by
# Accept-Encoding; promtool and prometheus_client accept the output; the
# category endpoints partition it; /health and /ready answer. Runs with a
# non-default namespace to check that it prefixes every gateway family.
# With metrics.genai, the OpenTelemetry GenAI families after known traffic.

import gzip
import json
import re
import subprocess

from prometheus_client.openmetrics.parser import \
    text_string_to_metric_families as openmetrics_families

import harness
from harness import (GatewayTestCase, Metrics, chat_prompt_tokens, embedding_tokens, free_port,
                     gateway_config, model, provider)

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
OPENMETRICS_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
CATEGORIES = ("system", "providers", "models", "business", "performance")
NS = "e2e"
# The metric catalog of DESIGN.md: family -> type as OpenMetrics names it.
CATALOG = {
    "http_requests_total": "counter", "http_request_duration_seconds": "histogram",
    "http_requests_in_progress": "gauge", "api_errors_total": "counter",
    "build_info": "gauge", "uptime_seconds": "gauge",
    "llm_requests_total": "counter", "llm_request_duration_seconds": "histogram",
    "llm_ttft_seconds": "histogram", "llm_tokens_total": "counter",
    "llm_cost_dollars": "summary", "llm_token_efficiency_ratio": "gauge",
    "model_uptime_24h_ratio": "gauge", "llm_retries_total": "counter",
    "llm_fallbacks_total": "counter", "provider_health_status": "gauge",
    "provider_circuit_breaker_state": "gauge", "provider_circuit_breaker": "stateset",
    "provider_availability_ratio": "gauge", "provider_error_rate_ratio": "gauge",
    "provider_response_time_seconds": "histogram", "provider_health_score": "gauge",
    "detected_anomalies_total": "counter", "cache_hits_total": "counter",
    "cache_misses_total": "counter", "cache_saved_dollars_total": "counter",
    "rate_limited_requests_total": "counter", "active_api_keys": "gauge", "orgs": "gauge",
    "db_query_duration_seconds": "histogram", "db_connections_active": "gauge",
    "ws_connections_active": "gauge", "ws_messages_total": "counter",
}
# Families with labels get their first series from an event this test does
# not cause: a fallback (test_fallback checks it), a store query (no store).
# Families whose series only the first event of their kind creates (a
# family nobody used has none, however large the configuration): those of
# subsystems still to come, and retries and fallbacks, which this traffic
# does not cause. /prometheus/metrics/docs lists them all the same.
NEEDS_AN_EVENT = {"llm_fallbacks_total", "llm_retries_total", "db_query_duration_seconds",
                  "cache_hits_total", "cache_misses_total", "cache_saved_dollars_total",
                  "rate_limited_requests_total", "detected_anomalies_total", "orgs",
                  "ws_messages_total"}
PROCESS_FAMILIES = {"process_cpu_seconds_total", "process_resident_memory_bytes",
                    "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                    "process_start_time_seconds"}


class MetricsEndpointTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cfg = gateway_config(free_port(), [provider("mock", cls.mock)], [
            model("gpt-4o-mini", [("mock", "gpt-4o-mini")])], metrics={"namespace": NS})
        cls.tollgate = cls.start_tollgate(cfg)
        # Traffic, so that the request, LLM and token families have series.
        cls.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        for stream in (False, True):
            r = cls.tollgate.chat(
                {"model": "gpt-4o-mini", "stream": stream, "max_tokens": 3,
                 "messages": [{"role": "user", "content": "count to three"}]},
                {"traceparent": "00-%s-00f067aa0ba902b7-01" % cls.trace_id})
            if r.status != 200:
                raise RuntimeError("warm-up request failed: %d %r" % (r.status, r.body))
        cls.tollgate.request("GET", "/no-such-path")   # an api_errors_total series

    def get(self, path, **headers):
        r = self.tollgate.request("GET", path, headers=headers)
        self.assertEqual(r.status, 200, "%s: %r" % (path, r.body[:300]))
        return r

    def test_default_is_text_format(self):
        r = self.get("/metrics")
        self.assertEqual(r.header("Content-Type"), TEXT_TYPE)
        self.assertIsNone(r.header("Content-Encoding"))
        m = Metrics(r.body.decode())
        for family in ("http_requests_total", "http_request_duration_seconds",
                       "api_errors_total", "build_info", "uptime_seconds",
                       "llm_requests_total", "llm_request_duration_seconds", "llm_ttft_seconds",
                       "llm_tokens_total", "llm_cost_dollars"):
            self.assertIn("%s_%s" % (NS, family), m.family_names())
        self.assertEqual(m.value(NS + "_build_info", version="0.1.0"), 1)
        self.assertGreater(m.value(NS + "_uptime_seconds"), 0)

    def test_namespace_prefixes_every_gateway_family(self):
        # process_* (client convention) and tally_* (the library's own)
        # are not the gateway's and keep their names (docs/metrics.md).
        for name in Metrics(self.get("/metrics").body.decode()).family_names():
            if not name.startswith(("process_", "tally_")):
                self.assertTrue(name.startswith(NS + "_"), name)

    def test_every_catalog_family_is_exposed_with_its_type(self):
        text = self.get("/metrics", Accept=OPENMETRICS_ACCEPT).body.decode()
        # OpenMetrics names counter families without _total.
        exposed = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
        docs = self.get("/prometheus/metrics/docs").body.decode()
        for family, kind in CATALOG.items():
            name = "%s_%s" % (NS, family)
            self.assertIn("`%s`" % name, docs)
            if family in NEEDS_AN_EVENT:
                continue
            if kind == "counter":
                name = name[:-len("_total")]
            self.assertEqual(exposed.get(name), kind, name)
        for family in PROCESS_FAMILIES:
            name = family[:-len("_total")] if family.endswith("_total") else family
            self.assertIn(name, exposed)

    def test_analytics_alias_has_the_same_families(self):
        a = Metrics(self.get("/metrics").body.decode()).family_names()
        b = Metrics(self.get("/analytics/prometheus").body.decode()).family_names()
        self.assertEqual(a, b)
        self.assertEqual(self.get("/analytics/prometheus").header("Content-Type"), TEXT_TYPE)

    def test_openmetrics_by_accept(self):
        for path in ("/metrics", "/analytics/prometheus"):
            r = self.get(path, Accept=OPENMETRICS_ACCEPT)
            self.assertEqual(r.header("Content-Type"), OPENMETRICS_TYPE)
            text = r.body.decode()
            self.assertTrue(text.endswith("# EOF\n"), text[-50:])
            families = {f.name for f in openmetrics_families(text)}
            self.assertIn(NS + "_llm_tokens", families)

    def test_openmetrics_latency_exemplar_carries_trace_id(self):
        text = self.get("/metrics", Accept=OPENMETRICS_ACCEPT).body.decode()
        exemplars = [s.exemplar for f in openmetrics_families(text) for s in f.samples
                     if f.name in (NS + "_llm_request_duration_seconds",
                                   NS + "_http_request_duration_seconds") and s.exemplar]
        self.assertTrue(exemplars, "no exemplar on the latency histograms")
        self.assertIn(self.trace_id, [e.labels.get("trace_id") for e in exemplars])

    def test_gzip_by_accept_encoding(self):
        plain = Metrics(self.get("/metrics").body.decode()).family_names()
        for accept in ({}, {"Accept": OPENMETRICS_ACCEPT}):
            r = self.get("/metrics", **{"Accept-Encoding": "gzip"}, **accept)
            self.assertEqual(r.header("Content-Encoding"), "gzip")
            text = gzip.decompress(r.body).decode()
            if accept:
                self.assertTrue(text.endswith("# EOF\n"))
            else:
                self.assertEqual(Metrics(text).family_names(), plain)
        r = self.get("/metrics", **{"Accept-Encoding": "gzip;q=0, identity"})
        self.assertIsNone(r.header("Content-Encoding"))

    def test_promtool_accepts_the_exposition(self):
        # promtool's linter reads the text format only (OpenMetrics is
        # checked by prometheus_client's OpenMetrics parser above).
        body = self.get("/metrics").body
        p = subprocess.run(["promtool", "check", "metrics"], input=body,
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())

    def test_prometheus_client_parses_every_sample(self):
        text = self.get("/metrics").body.decode()
        m = Metrics(text)
        sample_lines = [l for l in text.splitlines() if l and not l.startswith("#")]
        self.assertEqual(len(m.samples), len(sample_lines))

    def test_categories_partition_the_families(self):
        everything = Metrics(self.get("/metrics").body.decode()).family_names()
        self.assertEqual(Metrics(self.get("/prometheus/metrics/all").body.decode()).family_names(),
                         everything)
        seen = {}
        for category in CATEGORIES:
            r = self.get("/prometheus/metrics/" + category)
            self.assertEqual(r.header("Content-Type"), TEXT_TYPE)
            names = Metrics(r.body.decode()).family_names()
            for name in names:
                self.assertNotIn(name, seen, "%s in both %s and %s" % (name, seen.get(name), category))
                seen[name] = category
        self.assertEqual(set(seen), everything)
        self.assertEqual(seen[NS + "_http_requests_total"], "system")
        self.assertEqual(seen[NS + "_llm_tokens_total"], "models")
        r = self.tollgate.request("GET", "/prometheus/metrics/nonsense")
        self.assertEqual(r.status, 404)

    def test_docs_cover_every_family(self):
        r = self.get("/prometheus/metrics/docs")
        self.assertTrue(r.header("Content-Type").startswith("text/markdown"),
                        r.header("Content-Type"))
        doc = r.body.decode()
        for name in Metrics(self.get("/metrics").body.decode()).family_names():
            self.assertIn("`%s`" % name, doc)

    def test_summary_statistics(self):
        metrics = Metrics(self.get("/metrics").body.decode())
        summary = self.get("/prometheus/metrics/summary").json()
        families = {f["name"]: f for f in summary["families"]}
        tokens = families[NS + "_llm_tokens_total"]
        self.assertEqual(tokens["type"], "counter")
        self.assertEqual(tokens["total"], metrics.value(NS + "_llm_tokens_total"))
        ttft = families[NS + "_llm_ttft_seconds"]
        self.assertEqual(ttft["count"], metrics.value(NS + "_llm_ttft_seconds_count"))

    def test_summary_category_filter(self):
        models = Metrics(self.get("/prometheus/metrics/models").body.decode()).family_names()
        summary = self.get("/prometheus/metrics/summary?category=models").json()
        self.assertEqual(summary.get("category"), "models")
        names = {f["name"] for f in summary["families"]}
        self.assertIn(NS + "_llm_tokens_total", names)
        self.assertLessEqual(names, models)

    def test_health_and_ready(self):
        r = self.get("/health")
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        health = r.json()
        # The contract names the field, not its healthy value.
        self.assertIn(health["status"], ("ok", "healthy", "up"))
        self.assertEqual(health["version"], "0.1.0")
        # The issue says "uptime"; the unit belongs in the name, as in metrics.
        uptime = health.get("uptime_seconds", health.get("uptime"))
        self.assertIsInstance(uptime, (int, float))
        self.assertGreater(uptime, 0)
        self.assertIn("mock", json.dumps(health["providers"]))
        self.assertEqual(self.tollgate.request("GET", "/ready").status, 200)

    def test_metrics_paths_are_counted_by_template(self):
        before = Metrics(self.get("/metrics").body.decode())
        self.get("/prometheus/metrics/system")
        after = Metrics(self.get("/metrics").body.decode())
        labels = {"method": "GET", "path": "/prometheus/metrics/{category}", "status": "200"}
        self.assertEqual(after.value(NS + "_http_requests_total", **labels)
                         - before.value(NS + "_http_requests_total", **labels), 1)
        for s in after.find(NS + "_http_requests_total"):
            self.assertFalse(re.search(r"/prometheus/metrics/(system|all)", s.labels["path"]), s)


class MetricsListenerTest(GatewayTestCase):
    """metrics.listen: a second listener for the observability paths;
    metrics.bearer_token: the metrics paths want that token, on both."""

    TOKEN = "mtok-e2e-0b5d7c"

    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.metrics_port = free_port()
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock)],
            [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])],
            metrics={"listen": "127.0.0.1:%d" % cls.metrics_port, "bearer_token": cls.TOKEN}))

    def on_metrics_port(self, method, path, **headers):
        return harness.http_request(self.metrics_port, method, path, headers=headers)

    def test_metrics_listener_serves_observability_only(self):
        auth = {"Authorization": "Bearer " + self.TOKEN}
        r = self.on_metrics_port("GET", "/metrics", **auth)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), TEXT_TYPE)
        self.assertIn("# TYPE tollgate_http_requests_total counter", r.body.decode())
        self.assertEqual(self.on_metrics_port("GET", "/health").status, 200)
        self.assertEqual(self.on_metrics_port("GET", "/ready").status, 200)
        self.assertEqual(self.on_metrics_port("GET", "/v1/models").status, 404)
        self.assertEqual(self.on_metrics_port("POST", "/v1/chat/completions").status, 404)

    def test_bearer_token_guards_the_metrics_paths(self):
        for port in (self.metrics_port, self.tollgate.port):
            for path in ("/metrics", "/analytics/prometheus", "/prometheus/metrics/system"):
                for headers in ({}, {"Authorization": "Bearer wrong"},
                                {"Authorization": self.TOKEN}):
                    r = harness.http_request(port, "GET", path, headers=headers)
                    self.assertEqual(r.status, 401, (port, path, headers))
                r = harness.http_request(port, "GET", path,
                                         headers={"Authorization": "Bearer " + self.TOKEN})
                self.assertEqual(r.status, 200, (port, path))
        # The API itself is not behind the metrics token.
        r = self.tollgate.chat({"model": "gpt-4o-mini",
                                "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 200, r.body)
        self.assertNotIn(self.TOKEN, self.tollgate.logs())


# The OpenTelemetry GenAI conventions' recommended bucket boundaries.
GENAI_BUCKETS = {
    "gen_ai_client_token_usage": [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576,
                                  4194304, 16777216, 67108864],
    "gen_ai_client_operation_duration_seconds": [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28,
                                                 2.56, 5.12, 10.24, 20.48, 40.96, 81.92],
    "gen_ai_server_time_to_first_token_seconds": [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                                  0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0],
}
MESSAGES = [{"role": "user", "content": "count to three"}]


class GenAIMetricsTest(GatewayTestCase):
    """metrics.genai: the three GenAI histograms after known traffic, beside
    the gateway's own families, under their standard names."""

    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cfg = gateway_config(
            free_port(),
            [provider("mock", cls.mock), provider("claude", cls.mock, type="anthropic")],
            [model("gpt-4o-mini", [("mock", "gpt-4o-mini-up")]),
             model("claude-x", [("claude", "claude-up")])],
            metrics={"namespace": NS, "genai": True})
        cls.tollgate = cls.start_tollgate(cfg)
        t = cls.tollgate
        for stream in (False, True):
            r = t.chat({"model": "gpt-4o-mini", "stream": stream, "max_tokens": 3, "messages": MESSAGES})
            cls.check(r, 200)
        cls.check(t.request("POST", "/v1/embeddings", {"model": "gpt-4o-mini", "input": "one two three"}), 200)
        cls.check(t.request("POST", "/v1/messages",
                            {"model": "claude-x", "max_tokens": 5, "messages": MESSAGES}), 200)
        cls.mock.configure(status=500)
        cls.check(t.chat({"model": "gpt-4o-mini", "max_tokens": 3, "messages": MESSAGES}), 502)
        cls.mock.reset()
        # A model nobody configured: answered 404 before any provider, no call.
        cls.check(t.chat({"model": "nope", "messages": MESSAGES}), 404)
        cls.text = t.request("GET", "/metrics").body.decode()
        cls.m = Metrics(cls.text)

    @staticmethod
    def check(r, status):
        if r.status != status:
            raise RuntimeError("traffic: %d (wanted %d) %r" % (r.status, status, r.body[:300]))

    def genai(self, family, sample, **labels):
        return self.m.value("%s_%s" % (family, sample), **labels)

    GPT = {"gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o-mini",
           "gen_ai_response_model": "gpt-4o-mini-up"}
    CLAUDE = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "anthropic",
              "gen_ai_request_model": "claude-x", "gen_ai_response_model": "claude-up"}

    def test_durations_of_every_call(self):
        d = "gen_ai_client_operation_duration_seconds"
        chat = dict(self.GPT, gen_ai_operation_name="chat")
        self.assertEqual(self.genai(d, "count", error_type="", **chat), 2)
        self.assertEqual(self.genai(d, "count", error_type="error", **chat), 1)
        self.assertEqual(self.genai(d, "count", error_type="",
                                    gen_ai_operation_name="embeddings", **self.GPT), 1)
        self.assertEqual(self.genai(d, "count", error_type="", **self.CLAUDE), 1)
        # One observation per LLM call, as llm_requests_total counts them,
        # and the same time spent.
        self.assertEqual(self.genai(d, "count"), 5)
        self.assertEqual(self.m.value(NS + "_llm_requests_total"), 5)
        self.assertAlmostEqual(self.genai(d, "sum"), self.m.value(NS + "_llm_request_duration_seconds_sum"),
                               places=6)
        self.assertEqual({s.labels["error_type"] for s in self.m.find(d + "_count")}, {"", "error"})

    def test_token_usage_by_type(self):
        u = "gen_ai_client_token_usage"
        chat = dict(self.GPT, gen_ai_operation_name="chat")
        prompt = chat_prompt_tokens(MESSAGES)
        self.assertEqual(self.genai(u, "count", gen_ai_token_type="input", **chat), 2)
        self.assertEqual(self.genai(u, "sum", gen_ai_token_type="input", **chat), 2 * prompt)
        self.assertEqual(self.genai(u, "count", gen_ai_token_type="output", **chat), 2)
        self.assertEqual(self.genai(u, "sum", gen_ai_token_type="output", **chat), 6)
        self.assertEqual(self.genai(u, "bucket", gen_ai_token_type="output", le="1", **chat), 0)
        self.assertEqual(self.genai(u, "bucket", gen_ai_token_type="output", le="4", **chat), 2)
        emb = dict(self.GPT, gen_ai_operation_name="embeddings")
        self.assertEqual(self.genai(u, "sum", gen_ai_token_type="input", **emb),
                         embedding_tokens("one two three"))
        self.assertEqual(self.m.find(u + "_count", gen_ai_token_type="output", **emb), [])
        # Anthropic's: what the gateway's own token counter read from its usage.
        for genai_type, ours in (("input", "prompt"), ("output", "completion")):
            self.assertEqual(self.genai(u, "count", gen_ai_token_type=genai_type, **self.CLAUDE), 1)
            self.assertEqual(self.genai(u, "sum", gen_ai_token_type=genai_type, **self.CLAUDE),
                             self.m.value(NS + "_llm_tokens_total", provider="claude", model="claude-x",
                                          type=ours))
        self.assertEqual(self.genai(u, "sum", gen_ai_token_type="output", **self.CLAUDE), 5)
        # Every token the gateway counted, and no failed call's.
        for genai_type, ours in (("input", "prompt"), ("output", "completion")):
            self.assertEqual(self.genai(u, "sum", gen_ai_token_type=genai_type),
                             self.m.value(NS + "_llm_tokens_total", type=ours))

    def test_time_to_first_token_of_streams_only(self):
        t = "gen_ai_server_time_to_first_token_seconds"
        self.assertEqual(self.genai(t, "count"), 1)
        self.assertEqual(self.genai(t, "count", gen_ai_operation_name="chat", **self.GPT), 1)
        self.assertAlmostEqual(self.genai(t, "sum"), self.m.value(NS + "_llm_ttft_seconds_sum"), places=6)

    def test_standard_names_buckets_and_bounded_labels(self):
        families = self.m.family_names()
        for family, bounds in GENAI_BUCKETS.items():
            self.assertIn(family, families)
            self.assertNotIn(NS + "_" + family, families)
            les = sorted({float(s.labels["le"]) for s in self.m.find(family + "_bucket")})
            self.assertEqual(les, [float(b) for b in bounds] + [float("inf")], family)
        for name in families:
            if not name.startswith(("process_", "tally_", "gen_ai_")):
                self.assertTrue(name.startswith(NS + "_"), name)
        values = {}
        for s in self.m.samples:
            if s.name.startswith("gen_ai_"):
                for k, v in s.labels.items():
                    values.setdefault(k, set()).add(v)
        self.assertEqual(values["gen_ai_operation_name"], {"chat", "embeddings"})
        self.assertEqual(values["gen_ai_provider_name"], {"openai", "anthropic"})
        self.assertEqual(values["gen_ai_request_model"], {"gpt-4o-mini", "claude-x"})
        self.assertEqual(values["gen_ai_response_model"], {"gpt-4o-mini-up", "claude-up"})
        self.assertEqual(values["gen_ai_token_type"], {"input", "output"})

    def test_promtool_and_openmetrics_accept_them(self):
        p = subprocess.run(["promtool", "check", "metrics"], input=self.text.encode(),
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        text = self.tollgate.request("GET", "/metrics", headers={"Accept": OPENMETRICS_ACCEPT}).body.decode()
        families = {f.name: f for f in openmetrics_families(text)}
        self.assertEqual(families["gen_ai_client_operation_duration_seconds"].unit, "seconds")
        self.assertEqual(families["gen_ai_client_token_usage"].type, "histogram")

    def test_docs_name_them(self):
        doc = self.tollgate.request("GET", "/prometheus/metrics/docs").body.decode()
        for family in GENAI_BUCKETS:
            self.assertIn("`%s`" % family, doc)


if __name__ == "__main__":
    harness.main()
