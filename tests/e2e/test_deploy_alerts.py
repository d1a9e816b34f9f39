# End-to-end: the observability package of deploy/ against real servers.
# tollgate with two mock providers (alpha, the primary, and beta), a real
# Prometheus (Debian's) loading the project's rule files, a real
# Alertmanager (Debian's prometheus-alertmanager) with the project's
# routing, and a webhook receiver in this test. Client threads drive steady
# traffic (plain, streamed, embeddings, deterministic requests the response
# cache answers, a key with a budget, a key over its rpm limit, a model
# served by alpha alone); then
#   1. a latency spike at alpha: TollgateAnomalyDetected{type=latency_spike}
#      fires;
#   2. an outage of alpha (503) together with a cost spike (a burst of
#      calls to an expensive model on beta): TollgateProviderDown and
#      TollgateCircuitBreakerOpen go pending, then firing, and reach the
#      webhook (the on-call receiver: they are critical);
#      TollgateHighCostRate fires;
#   3. alpha heals: both alerts resolve, and the webhook hears it.
# Then every query of every Grafana dashboard (deploy/grafana/dashboards/),
# every dashboard variable, every recording rule and every PromQL query of
# docs/observability.md must parse and return data on this Prometheus (a
# threshold query, `x > 0.8`, that nothing crosses now: its left side);
# every field its LogQL queries name must be a field of tollgate's log
# lines; and every scrape job of the config (tollgate, Prometheus,
# Alertmanager) must be up.
#
# What the test changes in the project's files, and why (nothing else):
# - prometheus-token.yml (the bearer-token variant: this tollgate's
#   metrics need a token, so the variant is what is proven): scrape and
#   evaluation every 1 s instead of 15 s, scrape timeout 1 s; targets on
#   127.0.0.1 ports; the rule files are the scaled copies below.
# - alerts.yml and recording.yml: every duration divided by TIME_SCALE (30):
#   `for:` (1m -> 2 s, 2m -> 4 s, 5m -> 10 s, 10m -> 20 s) and the range
#   windows and offsets in expressions ([5m] -> [10s], [10m] -> [20s]).
#   The production values need minutes of data; scaled, each window still
#   holds 10 or more samples at the 1 s scrape, so rates and `for:` behave
#   as they do in production, 30 times faster. Thresholds are unchanged.
#   promtool tests (deploy/prometheus/tests/) prove the production values.
# - alertmanager.yml: the webhook URLs point at this test's receiver (the
#   paths, which say the receiver, kept); group_wait and group_interval
#   1 s instead of 30 s and 5 m, so a notification follows within seconds.
# - Dashboards: $provider and $model are ".*" (Grafana's "All"),
#   $__rate_interval is 10s (Grafana's 4 x scrape interval would be 1m at
#   the production 15 s: the same number of samples as here).
# Prometheus resends alerts to Alertmanager every second
# (--rules.alert.resend-delay=1s instead of 1m) for the same reason.

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

import yaml

import harness
from harness import (ADMIN_ENV, GatewayTestCase, free_port, gateway_config, http_request, model,
                     provider, tenancy_sections)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(REPO, "deploy")
DASHBOARDS = os.path.join(DEPLOY, "grafana", "dashboards")
TIME_SCALE = 30
RATE_INTERVAL = "10s"
# Deadlines are generous: ASan builds on a loaded 2-core machine.
ALERT_TIMEOUT_S = 40
START_TIMEOUT_S = 30

TOKEN = "metrics-" + os.urandom(12).hex()
EXPENSIVE = {"input": 500.0, "cached_input": 250.0, "output": 2000.0}   # $ per million tokens


# --- the project's files, adapted (see the header) ---------------------------------

def parse_duration(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError("not a duration: %r" % text)
    return sum(int(n) * units[u] for n, u in parts)


def scaled(text):
    seconds = parse_duration(text) / TIME_SCALE
    if seconds < 1 or seconds != int(seconds):
        raise ValueError("%s / %d is not a whole number of seconds" % (text, TIME_SCALE))
    return "%ds" % seconds


def scale_expr(expr):
    expr = re.sub(r"\[(\w+)\]", lambda m: "[%s]" % scaled(m.group(1)), expr)
    return re.sub(r"\boffset (\w+)", lambda m: "offset %s" % scaled(m.group(1)), expr)


def scaled_rules(name):
    with open(os.path.join(DEPLOY, "prometheus", name)) as f:
        doc = yaml.safe_load(f)
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule["expr"] = scale_expr(rule["expr"])
            if "for" in rule:
                rule["for"] = scaled(rule["for"])
    return doc


def dashboards():
    """(file name, dashboard) of every dashboard JSON."""
    out = []
    for name in sorted(os.listdir(DASHBOARDS)):
        if name.endswith(".json"):
            with open(os.path.join(DASHBOARDS, name)) as f:
                out.append((name, json.load(f)))
    return out


def panels(dashboard):
    for p in dashboard.get("panels", []):
        yield p
        yield from p.get("panels", [])      # a collapsed row keeps its panels


def grafana_expr(expr):
    """A panel's query as Grafana sends it with every variable on All."""
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    return re.sub(r"\$\{?(provider|model)\}?", ".*", expr)


def code_blocks(path, lang):
    with open(path) as f:
        return re.findall(r"^```%s\n(.*?)^```" % lang, f.read(), re.M | re.S)


def cookbook_queries():
    """The PromQL queries of docs/observability.md: one per line, a line
    that starts with white space or an operator continuing the one before;
    comment lines name them."""
    queries = []
    for block in code_blocks(os.path.join(REPO, "docs", "observability.md"), "promql"):
        title = None
        for line in block.splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                title = line.lstrip("# ")
            elif queries and re.match(r"\s|[/*+-]|(or|and|unless)\b", line):
                queries[-1] = (queries[-1][0], queries[-1][1] + "\n" + line)
            else:
                queries.append((title, line))
    return queries


def logql_fields():
    """The log fields the LogQL queries of docs/observability.md name."""
    fields = set()
    for block in code_blocks(os.path.join(REPO, "docs", "observability.md"), "logql"):
        for line in block.splitlines():
            if line.startswith("#") or "| json" not in line:
                continue
            parsed = line.split("| json", 1)[1]
            fields |= set(re.findall(r"\{\{\.(\w+)\}\}", parsed))
            fields |= set(re.findall(r"\bunwrap (\w+)", parsed))
            fields |= set(re.findall(r"\| (\w+) *(?:=~|!~|!=|>=|<=|=|>|<)", parsed))
            fields |= set(re.findall(r"\bby \((\w+)\)", line))
    return fields


# --- the webhook receiver ---------------------------------------------------------------

class Webhook:
    """Alertmanager's webhook posts, kept as (path, status, labels) per alert."""

    def __init__(self):
        self.received = []
        self.lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    doc = json.loads(body)
                    with hook.lock:
                        for a in doc.get("alerts", []):
                            hook.received.append((self.path, a.get("status"), a.get("labels", {})))
                except ValueError:
                    pass
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self):
        with self.lock:
            return len(self.received)

    def has(self, alertname, status, path, since=0):
        """An alert of this name and status was posted to path, as the
        since-th post or later."""
        with self.lock:
            return any(labels.get("alertname") == alertname and st == status and p == path
                       for p, st, labels in self.received[since:])

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# --- traffic ----------------------------------------------------------------------------------

class Traffic:
    """Client threads: each loops over a mix of requests; `premium` turns
    the cost spike on."""

    def __init__(self, tollgate, budget_key, limited_key, threads=4):
        self.t = tollgate
        self.budget_key = budget_key
        self.limited_key = limited_key
        self.premium = threading.Event()
        self.stopping = threading.Event()
        self.statuses = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(threads)]
        self.threads.append(threading.Thread(target=self.run_limited, daemon=True))
        self.threads.append(threading.Thread(target=self.run_premium, daemon=True))
        for th in self.threads:
            th.start()

    def send(self, kind, path, body, key=None):
        headers = {"Authorization": "Bearer " + key, "X-Mock-Cached-Tokens": "2"} if key else {}
        try:
            status = http_request(self.t.port, "POST", path, body, headers, timeout=20).status
        except OSError as e:
            status = type(e).__name__
        with self.lock:
            counts = self.statuses.setdefault(kind, {})
            counts[status] = counts.get(status, 0) + 1

    def chat(self, model_name, **extra):
        body = {"model": model_name, "messages": [{"role": "user", "content": "observe me"}],
                "max_tokens": 4}
        body.update(extra)
        return body

    def run(self, n):
        i = n
        while not self.stopping.is_set():
            i += 1
            if i % 10 == 0:
                self.send("embeddings", "/v1/embeddings", {"model": "embed", "input": "vector me"})
            elif i % 10 == 5:
                self.send("solo", "/v1/chat/completions", self.chat("solo"))
            elif i % 10 == 7:
                # deterministic, so cacheable: 5 prompts over and over
                self.send("cacheable", "/v1/chat/completions",
                          self.chat("chat", temperature=0, seed=i % 5))
            elif i % 4 == 1:
                self.send("stream", "/v1/chat/completions", self.chat("chat", stream=True))
            elif i % 4 == 2:
                self.send("budget", "/v1/chat/completions", self.chat("chat"), self.budget_key)
            else:
                self.send("chat", "/v1/chat/completions", self.chat("chat"))
            time.sleep(0.05)

    def run_limited(self):
        while not self.stopping.is_set():
            self.send("limited", "/v1/chat/completions", self.chat("chat"), self.limited_key)
            time.sleep(0.3)

    def run_premium(self):
        while not self.stopping.is_set():
            if self.premium.is_set():
                self.send("premium", "/v1/chat/completions", self.chat("premium", max_tokens=100))
                time.sleep(0.1)
            else:
                time.sleep(0.1)

    def stop(self):
        self.stopping.set()
        for th in self.threads:
            th.join(30)
        return self.statuses


# --- the test ------------------------------------------------------------------------------------

class DeployAlertsTest(GatewayTestCase):
    servers = []

    @classmethod
    def start(cls):
        cls.prometheus_bin = shutil.which("prometheus")
        cls.alertmanager_bin = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if cls.prometheus_bin is None or cls.alertmanager_bin is None:
            return
        cls.alpha = cls.start_mock()
        cls.beta = cls.start_mock()
        breaker = {"failures": 5, "cooldown_ms": 1000, "max_cooldown_ms": 2000}
        cfg = gateway_config(
            free_port(),
            # alpha's active health checks make it unhealthy as soon as one
            # fails, whatever the successes earlier in its last minute.
            # X-Mock-Cached-Tokens: the mock reports that many prompt tokens
            # as cached (the prompt-caching panels).
            [provider("alpha", cls.alpha, max_retries=1, breaker=breaker,
                      health_check={"enabled": True, "interval_ms": 500, "timeout_ms": 400},
                      forward_headers=["x-mock-cached-tokens"]),
             provider("beta", cls.beta, breaker=breaker, forward_headers=["x-mock-cached-tokens"])],
            [model("chat", [("alpha", "gpt-4o-mini"), ("beta", "gpt-4o-mini")]),
             model("solo", [("alpha", "gpt-4o-mini")]),
             model("embed", [("beta", "text-embedding-3-small")]),
             dict(model("premium", [("beta", "gpt-4o")], EXPENSIVE),
                  routes=[{"provider": "beta", "model": "gpt-4o", "breaker": {"failures": 5}}])],
            metrics={"bearer_token": TOKEN},
            anomaly={"interval_ms": 1000, "warmup_intervals": 3, "min_requests": 5},
            cache={"enabled": True},
            **tenancy_sections(cls.workdir, allow_anonymous=True))
        cls.tollgate = cls.start_tollgate(cfg, ADMIN_ENV)
        cls.tollgate.secrets.add(TOKEN)
        t = cls.tollgate
        t.create_org("acme", "paid", budget_usd=1.0)
        cls.budget_key = t.create_key("acme", "budgeted")["key"]
        t.create_org("tiny", "trial")
        cls.limited_key = t.create_key("tiny", "limited", rpm=10)["key"]
        cls.traffic = Traffic(t, cls.budget_key, cls.limited_key)

        cls.webhook = Webhook()
        cls.am_port = free_port()
        cls.prom_port = free_port()
        cls.start_alertmanager()
        cls.start_prometheus()

    @classmethod
    def start_alertmanager(cls):
        with open(os.path.join(DEPLOY, "alertmanager", "alertmanager.yml")) as f:
            am = yaml.safe_load(f)

        def adapt(route):
            route["group_wait"] = route["group_interval"] = "1s"
            for r in route.get("routes", []):
                adapt(r)
        adapt(am["route"])
        for receiver in am["receivers"]:
            for hook in receiver.get("webhook_configs", []):
                path = urllib.parse.urlsplit(hook["url"]).path
                hook["url"] = "http://127.0.0.1:%d%s" % (cls.webhook.port, path)
        path = os.path.join(cls.workdir, "alertmanager.yml")
        with open(path, "w") as f:
            yaml.safe_dump(am, f)
        cls.spawn("alertmanager", [
            cls.alertmanager_bin, "--config.file=" + path,
            "--storage.path=" + os.path.join(cls.workdir, "am-data"),
            "--web.listen-address=127.0.0.1:%d" % cls.am_port,
            "--cluster.listen-address="])

    @classmethod
    def start_prometheus(cls):
        with open(os.path.join(DEPLOY, "prometheus", "prometheus-token.yml")) as f:
            prom = yaml.safe_load(f)
        prom["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        rule_files = []
        for name in prom["rule_files"]:
            path = os.path.join(cls.workdir, name)
            with open(path, "w") as f:
                yaml.safe_dump(scaled_rules(name), f)
            rule_files.append(name)
        prom["rule_files"] = rule_files
        prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = \
            ["127.0.0.1:%d" % cls.am_port]
        ports = {"tollgate": cls.tollgate.port, "prometheus": cls.prom_port,
                 "alertmanager": cls.am_port}
        for job in prom["scrape_configs"]:
            job["static_configs"][0]["targets"] = ["127.0.0.1:%d" % ports[job["job_name"]]]
        with open(os.path.join(cls.workdir, "tollgate-metrics-token"), "w") as f:
            f.write(TOKEN)
        path = os.path.join(cls.workdir, "prometheus.yml")
        with open(path, "w") as f:
            yaml.safe_dump(prom, f)
        cls.spawn("prometheus", [
            cls.prometheus_bin, "--config.file=" + path,
            "--storage.tsdb.path=" + os.path.join(cls.workdir, "tsdb"),
            "--web.listen-address=127.0.0.1:%d" % cls.prom_port,
            "--rules.alert.resend-delay=1s"])

    @classmethod
    def spawn(cls, name, argv):
        log = open(os.path.join(cls.workdir, name + ".log"), "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=cls.workdir)
        cls.servers.append((name, proc, log))

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "traffic", None) is not None:
            cls.traffic.stop()
        for name, proc, log in reversed(cls.servers):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        if getattr(cls, "webhook", None) is not None:
            cls.webhook.stop()
        super().tearDownClass()

    # --- Prometheus' HTTP API --------------------------------------------------------------

    def api(self, path, **params):
        r = http_request(self.prom_port, "GET",
                         "/api/v1/" + path + "?" + urllib.parse.urlencode(params), timeout=10)
        return json.loads(r.body)

    def query(self, promql):
        """(status, result) of an instant query; status "success" or the
        error type (bad_data for a query that does not parse)."""
        doc = self.api("query", query=promql)
        if doc["status"] != "success":
            return doc.get("errorType", "error") + ": " + doc.get("error", ""), []
        return "success", doc["data"]["result"]

    def alert_states(self):
        """{alertname: {states}} of the alerts Prometheus holds now, with
        the labels that matter here (type, provider)."""
        states = {}
        for a in self.api("alerts")["data"]["alerts"]:
            key = (a["labels"]["alertname"], a["labels"].get("provider", ""),
                   a["labels"].get("type", ""))
            states[key] = a["state"]
        return states

    def prometheus_log(self):
        with open(os.path.join(self.workdir, "prometheus.log"), errors="replace") as f:
            return f.read()[-3000:]

    def wait(self, what, check, timeout=ALERT_TIMEOUT_S, interval=0.2):
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = check()
            except (OSError, ValueError):
                value = None        # a server still starting (Prometheus answers text until it is ready)
            if value:
                return value
            if time.monotonic() > deadline:
                self.fail("%s: not within %d s; traffic %s\nprometheus log:\n%s"
                          % (what, timeout, self.traffic.statuses, self.prometheus_log()))
            time.sleep(interval)

    def follow(self, keys, timeout=ALERT_TIMEOUT_S):
        """Polls the alerts until every key is firing; returns, per key,
        the states seen in order (duplicates dropped)."""
        seen = {k: [] for k in keys}

        def all_firing():
            states = self.alert_states()
            for k in keys:
                s = states.get(k)
                if s and (not seen[k] or seen[k][-1] != s):
                    seen[k].append(s)
            return all(seen[k] and seen[k][-1] == "firing" for k in keys)
        self.wait("firing: %s" % (keys,), all_firing, timeout, interval=0.1)
        return seen

    # --- the scenario -------------------------------------------------------------------------

    def test_alerts_dashboards_and_rules_on_live_servers(self):
        if self.prometheus_bin is None or self.alertmanager_bin is None:
            self.skipTest("prometheus or prometheus-alertmanager is not installed")
        began = time.monotonic()
        marks = []

        def mark(what):
            marks.append("%s %.1f s" % (what, time.monotonic() - began))

        # Every job of the config is scraped, tollgate's with its token.
        for job in ("tollgate", "prometheus", "alertmanager"):
            self.wait("up{job=%s}" % job,
                      lambda: [r for r in self.query('up{job="%s"} == 1' % job)[1]], START_TIMEOUT_S)
        self.wait("rules loaded", lambda: len(self.api("rules")["data"]["groups"]) == 2)
        mark("targets up")

        # 1. Latency spike at alpha, after the detector's warm-up (3 intervals
        # of 1 s) on steady traffic.
        time.sleep(4)
        self.alpha.configure(latency_ms=300)
        spike = ("TollgateAnomalyDetected", "", "latency_spike")
        self.wait("latency_spike alert firing", lambda: self.alert_states().get(spike) == "firing")
        self.alpha.configure(latency_ms=0)
        mark("anomaly alert firing")

        # 2. Outage at alpha, and the cost spike at once.
        cost = ("TollgateHighCostRate", "", "")
        self.assertNotIn(cost, self.alert_states(), "cost alert before the cost spike")
        self.alpha.configure(status=503)
        self.traffic.premium.set()
        down = ("TollgateProviderDown", "alpha", "")
        breaker = ("TollgateCircuitBreakerOpen", "alpha", "")
        seen = self.follow([down, breaker])
        mark("provider down and breaker alerts firing")
        for key in (down, breaker):
            self.assertEqual(seen[key], ["pending", "firing"], key)
            self.wait("%s firing at the webhook" % key[0],
                      lambda: self.webhook.has(key[0], "firing", "/oncall"))
        mark("webhook has them")

        # 3. alpha heals: both resolve, at Prometheus and at the webhook.
        healed = self.webhook.count()
        self.alpha.reset()
        for key in (down, breaker):
            self.wait("%s resolved" % key[0], lambda: key not in self.alert_states())
            self.wait("%s resolved at the webhook" % key[0],
                      lambda: self.webhook.has(key[0], "resolved", "/oncall", healed))
        mark("resolved")
        self.wait("cost alert firing", lambda: self.alert_states().get(cost) == "firing")
        self.traffic.premium.clear()
        mark("cost alert firing")

        # Prometheus kept the pending phase too.
        for name in ("TollgateProviderDown", "TollgateCircuitBreakerOpen"):
            status, result = self.query(
                'max_over_time(ALERTS{alertname="%s", provider="alpha", alertstate="pending"}[5m])'
                % name)
            self.assertTrue(result, "%s never pending in ALERTS" % name)

        self.check_queries()
        mark("queries checked")
        # The fields the cookbook's LogQL queries name are fields of
        # tollgate's log lines.
        logged = set()
        for record in self.tollgate.log_records():
            logged |= set(record)
        self.assertEqual(logql_fields() - logged, set(), "LogQL names fields tollgate never logs")
        statuses = self.traffic.stop()
        print("\n" + "; ".join(marks) + "\ntraffic: %s" % statuses)
        self.assertGreater(statuses.get("limited", {}).get(429, 0), 0)
        self.assertGreater(statuses.get("premium", {}).get(200, 0), 0)

    def check_queries(self):
        problems = []

        def check(where, promql):
            status, result = self.query(promql)
            if status != "success":
                problems.append("%s: %s does not parse: %s" % (where, promql, status))
            elif not result:
                problems.append("%s: %s returns no data" % (where, promql))

        count = 0
        for name, board in dashboards():
            for var in board.get("templating", {}).get("list", []):
                if var.get("type") != "query":
                    continue
                q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
                m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q)
                self.assertIsNotNone(m, "%s: variable %s: %s" % (name, var["name"], q))
                values = self.api("label/%s/values" % m.group(2),
                                  **{"match[]": grafana_expr(m.group(1))})["data"]
                if not values:
                    problems.append("%s: variable %s has no values" % (name, var["name"]))
                count += 1
            for panel in panels(board):
                for target in panel.get("targets", []):
                    check("%s / %s" % (name, panel["title"]), grafana_expr(target["expr"]))
                    count += 1
        for group in self.api("rules")["data"]["groups"]:
            for rule in group["rules"]:
                if rule["type"] == "recording":
                    check("recording rule", rule["name"])
                    count += 1
        # The cookbook. A query that filters by a threshold (`x > 0.8`) is
        # empty while nothing crosses it: then the query without its
        # comparisons must have data.
        thresholds = []
        for title, promql in cookbook_queries():
            status, result = self.query(promql)
            unfiltered = re.sub(r"\s(?:[<>]=?|[!=]=)\s*[\d.]+(?=\s|$)", "", promql)
            if status == "success" and not result and unfiltered != promql:
                thresholds.append(promql)
                promql = unfiltered
            check("observability.md / " + title, promql)
            count += 1
        print("\n%d queries checked; threshold queries empty now (their left side has data): %s"
              % (count, thresholds))
        self.assertEqual(problems, [], "\n".join(problems))


if __name__ == "__main__":
    harness.main()
