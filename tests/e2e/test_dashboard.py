# End-to-end: the built-in status page (GET /dashboard; docs/observability.md,
# "The status page") in headless Chromium, driven over the DevTools protocol.
# After known traffic the page shows the numbers /metrics has (totals,
# latency and TTFT quantiles computed as histogram_quantile does, cost,
# tokens by model, provider health and breakers, cache); its console has no
# error and it requested nothing but the gateway; a screenshot is kept in
# <build>/test-artifacts/. The page sits behind the metrics token, which a
# browser gives once as ?token= and which never reaches a log.
#
# Needs Debian's chromium and python3-websocket (scripts/install-deps.sh
# --test); skipped, saying so, without them.

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import unittest
import urllib.request

import harness
from harness import GatewayTestCase, free_port, gateway_config, model, poll, provider

try:
    import websocket  # python3-websocket
except ImportError:
    websocket = None

TOKEN = "dash-" + secrets.token_urlsafe(18)
OWN_PATHS = {"/metrics", "/analytics/prometheus", "/prometheus/metrics/{category}", "/health", "/ready",
             "/dashboard"}
BREAKER = ["closed", "open", "half-open"]
CHROMIUM = shutil.which("chromium")


def quantile(q, buckets):
    """Prometheus's histogram_quantile over cumulative {le: count}."""
    bounds = sorted((float("inf") if le == "+Inf" else float(le), n) for le, n in buckets.items())
    if not bounds or bounds[-1][1] <= 0:
        return None
    rank = q * bounds[-1][1]
    lower, below = 0.0, 0.0
    for le, n in bounds:
        if n >= rank:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * ((rank - below) / (n - below) if n > below else 0)
        lower, below = le, n
    return lower


def parse_seconds(text):
    """The page's "12 ms" / "1.25 s" / "–"."""
    m = re.match(r"^([\d.]+) (ms|s)$", text)
    if not m:
        return None
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


class Browser:
    """Headless Chromium and one page, over the DevTools protocol."""

    def __init__(self, workdir):
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-port=0", "--remote-allow-origins=*", "--window-size=1280,1000",
             "--user-data-dir=" + os.path.join(workdir, "chromium"), "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ws_url, deadline = None, time.time() + 30
        while ws_url is None and time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("chromium exited early")
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            ws_url = m and m.group(1)
        port = int(re.search(r":(\d+)/", ws_url).group(1))
        targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], suppress_origin=True, timeout=20)
        self.next_id = 0
        self.events = []
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(domain + ".enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self.events.append(msg)

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return r.get("result", {}).get("value")

    def errors(self):
        """Console errors, uncaught exceptions, and the browser's own error
        entries (failed loads, blocked content)."""
        out = []
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(p["exceptionDetails"].get("text", "") + " " +
                           json.dumps(p["exceptionDetails"].get("exception", {}).get("description")))
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + json.dumps(p.get("args")))
            elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append("log: " + p["entry"].get("text", ""))
        return out

    def requested_urls(self):
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stderr.close()


class DashboardTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock)],
            [model("big", [("mock", "gpt-4o")]), model("small", [("mock", "gpt-4o-mini")])],
            metrics={"bearer_token": TOKEN}, logging={"metrics_scrapes": "info"}))
        cls.tollgate.secrets.add(TOKEN)

    def get(self, path, token=True):
        return self.tollgate.request("GET", path, headers={"Authorization": "Bearer " + TOKEN} if token else {})

    def test_token(self):
        self.assertEqual(self.get("/dashboard", token=False).status, 401)
        self.assertEqual(self.get("/dashboard?token=wrong-" + TOKEN[:8], token=False).status, 401)
        r = self.get("/dashboard")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type"), "text/html; charset=utf-8")
        self.assertIn("default-src 'none'", r.header("content-security-policy"))
        r = self.get("/dashboard?token=" + TOKEN, token=False)
        self.assertEqual(r.status, 200)
        # only the page takes the token in its URL
        self.assertEqual(self.get("/prometheus/metrics/summary?token=" + TOKEN, token=False).status, 401)
        # nothing fetched from elsewhere: no absolute URL but the SVG namespace
        html = r.body.decode()
        self.assertEqual(set(re.findall(r"https?://[^\s\"']+", html)), {"http://www.w3.org/2000/svg"})
        # the URL's token is redacted from the access line
        r = self.tollgate.request("GET", "/dashboard?token=" + TOKEN, headers={"X-Request-ID": "e2e-dash-token"})
        line = self.tollgate.access_log("e2e-dash-token")
        self.assertNotIn(TOKEN, line["path"])
        self.assertTrue(line["path"].startswith("/dashboard?token="), line["path"])

    def test_summary_series_is_an_extension(self):
        plain = self.get("/prometheus/metrics/summary").json()
        self.assertTrue(all("samples" not in f for f in plain["families"]))
        series = self.get("/prometheus/metrics/summary?series=true").json()
        http = next(f for f in series["families"] if f["name"] == "tollgate_http_requests_total")
        self.assertEqual(sum(s["value"] for s in http["samples"]), http["total"])

    @unittest.skipUnless(CHROMIUM and websocket, "needs Debian's chromium and python3-websocket "
                                                 "(scripts/install-deps.sh --test)")
    def test_page_shows_the_metrics(self):
        body = lambda m, text, **kw: dict({"model": m, "messages": [{"role": "user", "content": text}],
                                           "max_tokens": 6}, **kw)
        for i in range(5):
            self.assertEqual(self.tollgate.chat(body("big", "plain request number %d" % i)).status, 200)
        for i in range(2):
            self.assertEqual(self.tollgate.chat(body("small", "streamed %d" % i, stream=True)).status, 200)
        self.mock.configure(status=503)
        for i in range(2):
            self.assertEqual(self.tollgate.chat(body("big", "failing %d" % i)).status, 502)
        self.mock.reset()
        self.assertEqual(self.tollgate.request("GET", "/nope").status, 404)

        m = self.get("/metrics")
        metrics = harness.Metrics(m.body.decode())
        browser = Browser(self.workdir)
        try:
            url = "http://127.0.0.1:%d/dashboard?token=%s" % (self.tollgate.port, TOKEN)
            browser.call("Page.navigate", url=url)
            polls = poll(lambda: int(browser.evaluate("document.body.dataset.polls || '0'") or 0) >= 2, 20)
            shown = json.loads(browser.evaluate("""JSON.stringify({
                url: location.href,
                status: document.getElementById('status').textContent,
                text: Object.fromEntries([...document.querySelectorAll('[id]')].map(e => [e.id, e.textContent])),
                providers: [...document.querySelectorAll('#providers tbody tr')].map(tr =>
                    [...tr.children].map(td => td.textContent)),
                tokens: [...document.querySelectorAll('#tokens tbody tr')].map(tr =>
                    [...tr.children].map(td => td.textContent)),
            })"""))
            artifacts = os.environ.get("TOLLGATE_TEST_ARTIFACTS") or os.path.join(
                os.path.dirname(os.path.dirname(os.path.abspath(harness.TOLLGATE_BIN))), "test-artifacts")
            os.makedirs(artifacts, exist_ok=True)
            shot = os.path.join(self.workdir, "dashboard.png")
            browser.screenshot(shot)
            shutil.copy(shot, os.path.join(artifacts, "dashboard.png"))
            self.assertTrue(polls, shown)
            self.assertEqual(browser.errors(), [])
            origin = "http://127.0.0.1:%d/" % self.tollgate.port
            self.assertTrue(all(u.startswith(origin) or u.startswith("data:") for u in browser.requested_urls()),
                            browser.requested_urls())
        finally:
            browser.close()

        t = shown["text"]
        self.assertTrue(shown["status"].startswith("live"), shown["status"])
        self.assertNotIn("token", shown["url"])  # taken out of the address bar

        # traffic the page saw: /metrics then, plus the scrapes and page loads since, which it leaves out
        api = [s for s in metrics.find("tollgate_http_requests_total") if s.labels["path"] not in OWN_PATHS]
        self.assertEqual(int(t["req-total"]), int(sum(s.value for s in api)))
        self.assertEqual(int(t["req-total"]), 10)
        self.assertEqual(int(t["err-total"]), int(sum(s.value for s in api if int(s.labels["status"]) >= 500)))
        self.assertEqual(int(t["err-total"]), 2)

        def buckets(name, keep=lambda s: True):
            out = {}
            for s in metrics.find(name + "_bucket"):
                if keep(s):
                    out[s.labels["le"]] = out.get(s.labels["le"], 0) + s.value
            return {("+Inf" if le in ("+Inf", "inf") else le): n for le, n in out.items()}

        latency = buckets("tollgate_http_request_duration_seconds", lambda s: s.labels["path"] not in OWN_PATHS)
        ttft = buckets("tollgate_llm_ttft_seconds")
        for shown_id, b, q in (("p50", latency, 0.5), ("p95", latency, 0.95),
                               ("ttft-p50", ttft, 0.5), ("ttft-p95", ttft, 0.95)):
            want = quantile(q, b)
            got = parse_seconds(t[shown_id])
            self.assertIsNotNone(got, (shown_id, t[shown_id]))
            self.assertAlmostEqual(got, want, delta=max(0.0006, want * 0.006), msg=shown_id)

        cost = metrics.value("tollgate_llm_cost_dollars_sum")
        self.assertGreater(cost, 0)
        self.assertAlmostEqual(float(t["cost-total"]), cost, delta=1e-6)
        self.assertEqual(int(t["cache-hits"]), int(metrics.value("tollgate_cache_hits_total")))
        self.assertEqual(int(t["cache-misses"]), int(metrics.value("tollgate_cache_misses_total")))

        tokens = {row[0]: row for row in shown["tokens"]}
        self.assertEqual(set(tokens), {"big", "small"})
        for name, row in tokens.items():
            prompt = metrics.value("tollgate_llm_tokens_total", model=name, type="prompt")
            completion = metrics.value("tollgate_llm_tokens_total", model=name, type="completion")
            self.assertEqual((int(row[1]), int(row[2]), int(row[3])),
                             (prompt, completion, prompt + completion), row)

        self.assertEqual(len(shown["providers"]), 1)
        name, health, breaker, score = shown["providers"][0]
        self.assertEqual(name, "mock")
        healthy = metrics.value("tollgate_provider_health_status", provider="mock")
        self.assertEqual(health, "healthy" if healthy == 1 else "unhealthy")
        self.assertEqual(breaker, BREAKER[int(metrics.value("tollgate_provider_circuit_breaker_state",
                                                            provider="mock"))])


if __name__ == "__main__":
    harness.main()
