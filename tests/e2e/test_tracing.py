# End-to-end: traces (docs/observability.md, "Traces"). A small OTLP/HTTP receiver runs in
# the test; tollgate exports to it. A request's SERVER span is the child of
# the client's traceparent span, each upstream attempt a CLIENT span child
# of it whose id is the one the provider got in its traceparent; the GenAI
# attributes carry the numbers the access line logs; the trace id is the
# same in the span, the access line and the exemplar on /metrics. A
# receiver that is down or failing costs the traffic nothing but counted
# drops, and so does a full queue. Scrapes are not logged at info.

import http.server
import json
import os
import secrets
import threading
import time

import harness
from harness import GatewayTestCase, free_port, gateway_config, model, poll, provider

OPENMETRICS_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


class Receiver:
    """An OTLP/HTTP trace receiver (JSON encoding): keeps every span it is
    sent; answers `status` (200 unless told otherwise)."""

    def __init__(self):
        self.spans = []
        self.requests = []
        self.status = 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append((self.path, dict(self.headers)))
                    if receiver.status == 200:
                        doc = json.loads(body)
                        for rs in doc["resourceSpans"]:
                            for ss in rs["scopeSpans"]:
                                for s in ss["spans"]:
                                    s["_resource"] = rs["resource"]
                                    receiver.spans.append(s)
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def trace(self, trace_id, count, timeout=8.0):
        """The spans of one trace, once at least `count` arrived."""
        def found():
            with self.lock:
                spans = [s for s in self.spans if s["traceId"] == trace_id]
            return spans if len(spans) >= count else None
        return poll(found, timeout) or []

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def attrs(span):
    """A span's attributes as a plain dict (ints as ints, arrays as lists)."""
    out = {}
    for a in span["attributes"]:
        v = a["value"]
        if "stringValue" in v:
            out[a["key"]] = v["stringValue"]
        elif "intValue" in v:
            out[a["key"]] = int(v["intValue"])
        elif "arrayValue" in v:
            out[a["key"]] = [x["stringValue"] for x in v["arrayValue"]["values"]]
    return out


def chat(text, **extra):
    body = {"model": "big", "messages": [{"role": "user", "content": text}], "max_tokens": 5}
    body.update(extra)
    return body


class TracingTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.receiver = Receiver()
        cls.mock = cls.start_mock()
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock, max_retries=1)], [model("big", [("mock", "gpt-4o")])],
            tracing={"enabled": True, "endpoint": "http://127.0.0.1:%d/v1/traces" % cls.receiver.port,
                     "service_name": "gw-e2e", "interval_ms": 100,
                     "headers": {"x-scope-orgid": "tenant-e2e"}}))

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.receiver.close()

    def tearDown(self):
        self.mock.reset()

    def traced_chat(self, body, flags="01", request_id=None):
        trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
        headers = {"traceparent": "00-%s-%s-%s" % (trace_id, parent, flags)}
        if request_id:
            headers["X-Request-ID"] = request_id
        r = self.tollgate.chat(body, headers)
        return r, trace_id, parent

    def test_spans_parents_attributes_log_and_exemplar(self):
        time.sleep(1.1)  # a new second: this request's duration gets the exemplar
        r, trace_id, parent = self.traced_chat(chat("trace this one"), request_id="e2e-span-1")
        self.assertEqual(r.status, 200, r.body)
        upstream_tp = self.mock.stats()["last_headers"]["traceparent"]
        spans = self.receiver.trace(trace_id, 2)
        self.assertEqual(len(spans), 2, spans)
        server = next(s for s in spans if s["kind"] == 2)
        client = next(s for s in spans if s["kind"] == 3)

        # parents: client's span -> the request's span -> the attempt's span
        self.assertEqual(server["parentSpanId"], parent)
        self.assertEqual(client["parentSpanId"], server["spanId"])
        self.assertEqual(upstream_tp, "00-%s-%s-01" % (trace_id, client["spanId"]),
                         "the provider's spans must nest under the attempt")
        self.assertEqual(server["_resource"]["attributes"][0],
                         {"key": "service.name", "value": {"stringValue": "gw-e2e"}})

        log = self.tollgate.access_log("e2e-span-1")
        self.assertEqual(log["trace_id"], trace_id)
        a = attrs(server)
        self.assertEqual(server["name"], "chat big")
        self.assertEqual(a["gen_ai.operation.name"], "chat")
        self.assertEqual(a["gen_ai.request.model"], "big")
        self.assertEqual(a["gen_ai.provider.name"], "openai")  # the type's well-known name
        self.assertEqual(a["tollgate.provider"], "mock")
        self.assertEqual(a["gen_ai.response.model"], "gpt-4o")
        self.assertEqual(a["gen_ai.response.finish_reasons"], ["stop"])
        self.assertEqual(a["gen_ai.usage.input_tokens"], log["prompt_tokens"])
        self.assertEqual(a["gen_ai.usage.output_tokens"], log["completion_tokens"])
        self.assertEqual(a["http.response.status_code"], 200)
        self.assertEqual(a["http.route"], "/v1/chat/completions")
        self.assertNotIn("error.type", a)
        self.assertEqual(server["status"], {"code": 0})
        start, end = int(server["startTimeUnixNano"]), int(server["endTimeUnixNano"])
        self.assertAlmostEqual((end - start) / 1e9, log["latency"], delta=0.05)
        self.assertLess(abs(start / 1e9 - time.time()), 30)

        c = attrs(client)
        self.assertEqual(client["name"], "chat gpt-4o")
        self.assertEqual(c["gen_ai.request.model"], "gpt-4o")
        self.assertEqual(c["gen_ai.response.model"], "gpt-4o")
        self.assertEqual(c["gen_ai.provider.name"], "openai")
        self.assertEqual(c["tollgate.provider"], "mock")
        self.assertEqual(c["gen_ai.usage.input_tokens"], log["prompt_tokens"])
        self.assertEqual(c["server.address"], "127.0.0.1")
        self.assertEqual(c["server.port"], self.mock.port)
        self.assertEqual(c["http.response.status_code"], 200)
        self.assertEqual(c["tollgate.attempt"], 1)
        self.assertGreaterEqual(int(client["startTimeUnixNano"]), start)
        self.assertLessEqual(int(client["endTimeUnixNano"]), end)

        # the exemplar of the request's duration carries the same trace id
        text = self.tollgate.request("GET", "/metrics", headers={"Accept": OPENMETRICS_ACCEPT}).body.decode()
        exemplars = [line for line in text.splitlines()
                     if 'trace_id="%s"' % trace_id in line]
        self.assertTrue(any(line.startswith("tollgate_http_request_duration_seconds_bucket") for line in exemplars),
                        exemplars)

        path, headers = self.receiver.requests[-1]
        self.assertEqual(path, "/v1/traces")
        self.assertEqual({k.lower(): v for k, v in headers.items()}.get("x-scope-orgid"), "tenant-e2e")

    def test_retry_gives_a_span_per_attempt(self):
        self.mock.configure(status=500, fail_first=1)
        r, trace_id, _ = self.traced_chat(chat("retry me"))
        self.assertEqual(r.status, 200, r.body)
        spans = self.receiver.trace(trace_id, 3)
        clients = sorted((s for s in spans if s["kind"] == 3), key=lambda s: attrs(s)["tollgate.attempt"])
        self.assertEqual(len(clients), 2, spans)
        failed, ok = attrs(clients[0]), attrs(clients[1])
        self.assertEqual((failed["tollgate.attempt"], ok["tollgate.attempt"]), (1, 2))
        self.assertEqual(failed["error.type"], "status_5xx")
        self.assertEqual(failed["http.response.status_code"], 500)
        self.assertEqual(clients[0]["status"], {"code": 2})
        self.assertNotIn("error.type", ok)
        self.assertNotEqual(clients[0]["spanId"], clients[1]["spanId"])
        server = next(s for s in spans if s["kind"] == 2)
        self.assertTrue(all(c["parentSpanId"] == server["spanId"] for c in clients))
        self.assertTrue(self.mock.stats()["last_headers"]["traceparent"].endswith(clients[1]["spanId"] + "-01"))

    def test_stream_and_error_spans(self):
        r, trace_id, _ = self.traced_chat(chat("stream it", stream=True), request_id="e2e-span-stream")
        self.assertEqual(r.status, 200, r.body)
        spans = self.receiver.trace(trace_id, 2)
        server = attrs(next(s for s in spans if s["kind"] == 2))
        log = self.tollgate.access_log("e2e-span-stream")
        self.assertEqual(server["gen_ai.response.finish_reasons"], ["stop"])
        self.assertEqual(server["gen_ai.usage.output_tokens"], log["completion_tokens"])

        # every attempt fails: the request's span is an error, named by its code
        self.mock.configure(status=503)
        r, trace_id, _ = self.traced_chat(chat("fail"))
        self.assertEqual(r.status, 502, r.body)
        spans = self.receiver.trace(trace_id, 3)
        server = next(s for s in spans if s["kind"] == 2)
        self.assertEqual(attrs(server)["error.type"], "upstream_unavailable")
        self.assertEqual(server["status"], {"code": 2})
        self.assertEqual(len([s for s in spans if s["kind"] == 3]), 2)

    def test_unsampled_and_untraced_requests(self):
        r, trace_id, _ = self.traced_chat(chat("not sampled"), flags="00")
        self.assertEqual(r.status, 200)
        # a request without traceparent starts a trace of its own
        r = self.tollgate.chat(chat("new trace"), {"X-Request-ID": "e2e-span-new"})
        new_trace = self.tollgate.access_log("e2e-span-new")["trace_id"]
        spans = self.receiver.trace(new_trace, 2)
        self.assertNotIn("parentSpanId", next(s for s in spans if s["kind"] == 2))
        time.sleep(0.5)
        self.assertEqual(self.receiver.trace(trace_id, 1, timeout=0), [])
        # scrapes have no span and, at logging.metrics_scrapes debug, no access line at info
        self.tollgate.request("GET", "/metrics", headers={"X-Request-ID": "e2e-scrape"})
        self.tollgate.request("GET", "/health", headers={"X-Request-ID": "e2e-health"})
        self.tollgate.chat(chat("after the scrape"), {"X-Request-ID": "e2e-after-scrape"})
        self.assertIsNotNone(self.tollgate.access_log("e2e-after-scrape"))
        self.assertIsNone(self.tollgate.access_log("e2e-scrape", timeout=0))
        self.assertIsNone(self.tollgate.access_log("e2e-health", timeout=0))
        m = self.tollgate.metrics()
        self.assertGreater(m.value("tollgate_tracing_spans_exported_total"), 0)
        self.assertEqual(m.value("tollgate_tracing_spans_dropped_total"), 0)


class DeadReceiverTest(GatewayTestCase):
    """The endpoint is down, then refuses: spans are dropped and counted,
    requests are served as fast as ever; a queue too small drops too."""

    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.dead_port = free_port()  # nothing listens there
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock)], [model("big", [("mock", "gpt-4o")])],
            logging={"metrics_scrapes": "info"},
            tracing={"enabled": True, "endpoint": "http://127.0.0.1:%d/v1/traces" % cls.dead_port,
                     "interval_ms": 100, "timeout_ms": 300}))

    def own_store(self, name):
        """The store section of a second gateway beside self.tollgate: a
        database (and so a ledger journal) of its own, as each needs."""
        return {"path": os.path.join(self.workdir, name + ".db")}

    def dropped(self, reason):
        return self.tollgate.metrics().value("tollgate_tracing_spans_dropped_total", reason=reason)

    def test_receiver_down_costs_only_drops(self):
        started = time.time()
        for i in range(10):
            r = self.tollgate.chat(chat("into the void %d" % i))
            self.assertEqual(r.status, 200, r.body)
        self.assertLess(time.time() - started, 5)
        self.assertTrue(poll(lambda: self.dropped("export_failed") >= 20, 5), self.dropped("export_failed"))
        self.assertEqual(self.tollgate.metrics().value("tollgate_tracing_spans_exported_total"), 0)
        warned = self.tollgate.find_logs(2, logger="tracing", level="warn")
        self.assertEqual(len(warned), 1, warned)  # once, not once a batch

    def test_refusing_receiver_is_counted_too(self):
        receiver = Receiver()
        receiver.status = 500
        try:
            # a second gateway, exporting to the refusing receiver
            other = self.start_tollgate(gateway_config(
                free_port(), [provider("mock", self.mock)], [model("big", [("mock", "gpt-4o")])],
                store=self.own_store("refusing"),
                tracing={"enabled": True, "endpoint": "http://127.0.0.1:%d/v1/traces" % receiver.port,
                         "interval_ms": 100}))
            self.assertEqual(other.chat(chat("refused")).status, 200)
            self.assertTrue(poll(lambda: other.metrics().value("tollgate_tracing_spans_dropped_total",
                                                               reason="export_failed") >= 2, 5))
            self.assertGreaterEqual(len(receiver.requests), 1)
            self.assertEqual(receiver.spans, [])
        finally:
            receiver.close()

    def test_full_queue_drops(self):
        other = self.start_tollgate(gateway_config(
            free_port(), [provider("mock", self.mock)], [model("big", [("mock", "gpt-4o")])],
            store=self.own_store("full-queue"),
            tracing={"enabled": True, "endpoint": "http://127.0.0.1:%d/v1/traces" % self.dead_port,
                     "queue_size": 2, "batch_max": 64, "interval_ms": 600000}))
        for i in range(3):
            self.assertEqual(other.chat(chat("crowd %d" % i)).status, 200)
        m = other.metrics()
        self.assertEqual(m.value("tollgate_tracing_spans_dropped_total", reason="queue_full"), 4)

    def test_scrapes_logged_at_the_configured_level(self):
        self.tollgate.request("GET", "/metrics", headers={"X-Request-ID": "e2e-scrape-info"})
        line = self.tollgate.access_log("e2e-scrape-info")
        self.assertIsNotNone(line)
        self.assertEqual(line["level"], "info")


if __name__ == "__main__":
    harness.main()
