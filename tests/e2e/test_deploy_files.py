# The deployment files, checked without Docker or Kubernetes
# (tests/e2e/test_deploy_alerts.py runs the Prometheus, Alertmanager and
# Grafana files against live servers):
# - every YAML file under deploy/ (and the k8s manifests' documents) parses,
#   without tabs or duplicate keys; every dashboard JSON parses;
# - docker-compose.yml: every image is built from the repository's
#   Dockerfile or is an official image with a pinned tag; every path it
#   mounts exists; every file a service's command names is in a mount;
# - deploy/k8s/: every manifest has apiVersion, kind and name; images as
#   above; the Service is annotated for Prometheus on the container's port;
#   the probes are /health and /ready; the ServiceMonitor selects the
#   Service by its labels and port name; kustomization lists files that
#   exist; the ConfigMap's tollgate.yaml and deploy/tollgate.yaml pass
#   `tollgate check-config`;
# - the Dockerfile: Debian slim stages, a non-root user, a HEALTHCHECK on
#   /health, its build steps those of the Makefile's `build` target (the
#   README's), and every COPY source present;
# - promtool check config (both variants of prometheus.yml, and the
#   Kubernetes one with its service discovery swapped out: Debian's
#   Prometheus is built without Kubernetes discovery), amtool check-config;
# - every alert has a severity, a summary, a description and a runbook_url
#   whose anchor is a heading of docs/runbooks.md, and a promtool test in
#   which it fires; the Grafana provisioning names the data source the
#   dashboards use and the path compose mounts them at.

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

import harness

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(REPO, "deploy")
# Images the files may name besides the one built from the Dockerfile.
OFFICIAL_IMAGES = {"debian", "prom/prometheus", "prom/alertmanager", "grafana/grafana"}
BUILT_IMAGE = "tollgate"


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (which
    PyYAML would silently resolve to the last)."""


def _mapping(loader, node, deep=False):
    keys = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue                    # a key may override what `<<` merges
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(None, None, "duplicate key %r" % key,
                                                    key_node.start_mark)
        keys.add(key)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=deep))


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path):
    with open(path) as f:
        text = f.read()
    if "\t" in text:
        raise AssertionError("%s: a tab character" % path)
    return list(yaml.load_all(text, Loader=UniqueKeyLoader))


def files(under, *exts):
    for root, _, names in os.walk(under):
        for name in sorted(names):
            if name.endswith(exts):
                yield os.path.join(root, name)


def image_ok(image):
    """Built from the Dockerfile, or official with a pinned tag."""
    name, _, tag = image.partition(":")
    if name == BUILT_IMAGE:
        return True
    return name in OFFICIAL_IMAGES and tag not in ("", "latest")


def run(*argv, env=None):
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    return p.returncode, p.stdout + p.stderr


class DeployFilesTest(unittest.TestCase):
    def check_config(self, text):
        """`tollgate check-config` on a config text, its data dir a temp dir."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tollgate.yaml")
            with open(path, "w") as f:
                f.write(text)
            env = dict(os.environ, TOLLGATE_DATA_DIR=tmp)
            r = harness.run_tollgate("check-config", path, env=env)
            self.assertEqual((r.code, r.out.strip()), (0, "ok"), r)

    def test_yaml_and_json_parse(self):
        count = 0
        for path in files(DEPLOY, ".yml", ".yaml"):
            docs = load_yaml(path)
            self.assertTrue(docs and all(d is not None for d in docs), path)
            count += 1
        for path in files(DEPLOY, ".json"):
            with open(path) as f:
                json.load(f)
            count += 1
        self.assertGreater(count, 20)

    def test_compose(self):
        compose = load_yaml(os.path.join(DEPLOY, "docker-compose.yml"))[0]
        self.assertEqual(set(compose["services"]),
                         {"tollgate", "mock-llm", "prometheus", "alertmanager", "grafana"})
        for name, svc in compose["services"].items():
            self.assertTrue(image_ok(svc["image"]), (name, svc["image"]))
            if "build" in svc:
                context = os.path.normpath(os.path.join(DEPLOY, svc["build"]["context"]))
                self.assertTrue(os.path.isfile(os.path.join(context, svc["build"]["dockerfile"])), name)
                self.assertEqual(svc["image"].partition(":")[0], BUILT_IMAGE, name)
            mounts = {}
            for volume in svc.get("volumes", []):
                source, target = volume.split(":")[:2]
                if source.startswith("."):
                    host = os.path.normpath(os.path.join(DEPLOY, source))
                    self.assertTrue(os.path.exists(host), "%s mounts %s: missing" % (name, source))
                    mounts[target] = host
                else:
                    self.assertIn(source, compose["volumes"], name)
            # A file the command names in a bind mount must be there.
            for arg in svc.get("command", []) + [v for v in svc.get("environment", {}).values()]:
                for path in re.findall(r"(/[\w./-]+\.(?:ya?ml|json))", str(arg)):
                    base = [t for t in mounts if path.startswith(t + "/")]
                    if base:
                        host = mounts[base[0]] + path[len(base[0]):]
                        self.assertTrue(os.path.isfile(host), "%s: %s -> %s" % (name, path, host))
        # Grafana's provisioning: the data source uid the dashboards use,
        # and the dashboards path compose mounts.
        grafana = os.path.join(DEPLOY, "grafana", "provisioning")
        sources = load_yaml(os.path.join(grafana, "datasources", "datasources.yml"))[0]["datasources"]
        self.assertIn("prometheus", {s["uid"] for s in sources})
        providers = load_yaml(os.path.join(grafana, "dashboards", "dashboards.yml"))[0]["providers"]
        mounted = [v.split(":")[1] for v in compose["services"]["grafana"]["volumes"]]
        self.assertIn(providers[0]["options"]["path"], mounted)

    def test_dashboards(self):
        for path in files(os.path.join(DEPLOY, "grafana", "dashboards"), ".json"):
            with open(path) as f:
                board = json.load(f)
            names = {v["name"]: v for v in board["templating"]["list"]}
            self.assertEqual(names["datasource"]["query"], "prometheus", path)
            for var in ("provider", "model"):
                self.assertTrue(names[var]["includeAll"] and names[var]["allValue"] == ".*", path)
            ids = [p["id"] for p in board["panels"]]
            self.assertEqual(len(ids), len(set(ids)), path)
            for p in board["panels"]:
                if p["type"] != "row":
                    self.assertEqual(p["datasource"]["uid"], "${datasource}", (path, p["title"]))
                    self.assertTrue(p["targets"], (path, p["title"]))

    def test_kubernetes(self):
        k8s = os.path.join(DEPLOY, "k8s")
        docs = {}
        for path in files(k8s, ".yaml"):
            for doc in load_yaml(path):
                self.assertIn("apiVersion", doc, path)
                docs[doc["kind"]] = doc
                if doc["kind"] != "Kustomization":
                    self.assertTrue(doc["metadata"]["name"], path)
        for res in docs["Kustomization"]["resources"]:
            self.assertTrue(os.path.isfile(os.path.join(k8s, res)), res)
        pod = docs["Deployment"]["spec"]["template"]
        self.assertTrue(pod["spec"]["securityContext"]["runAsNonRoot"])
        container = pod["spec"]["containers"][0]
        self.assertTrue(image_ok(container["image"]), container["image"])
        port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
        self.assertEqual(container["livenessProbe"]["httpGet"]["path"], "/health")
        self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/ready")
        service = docs["Service"]
        notes = service["metadata"]["annotations"]
        self.assertEqual((notes["prometheus.io/scrape"], notes["prometheus.io/port"]), ("true", str(port)))
        self.assertEqual(service["spec"]["selector"], pod["metadata"]["labels"])
        monitor = docs["ServiceMonitor"]
        self.assertEqual(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
        self.assertIn(monitor["spec"]["endpoints"][0]["port"], {p["name"] for p in service["spec"]["ports"]})
        # The ConfigMap is what the Deployment mounts, and a valid config
        # that listens on the container's port.
        config = docs["ConfigMap"]
        mounted = [v["configMap"]["name"] for v in pod["spec"]["volumes"] if "configMap" in v]
        self.assertEqual(mounted, [config["metadata"]["name"]])
        self.assertIn('"0.0.0.0:%d"' % port, config["data"]["tollgate.yaml"])
        self.check_config(config["data"]["tollgate.yaml"])

    def test_container_config(self):
        with open(os.path.join(DEPLOY, "tollgate.yaml")) as f:
            self.check_config(f.read())

    def test_dockerfile(self):
        with open(os.path.join(REPO, "Dockerfile")) as f:
            text = f.read()
        logical = re.sub(r"\\\n", " ", text)
        lines = [l.strip() for l in logical.splitlines() if l.strip() and not l.lstrip().startswith("#")]
        stages = [l.split()[1] for l in lines if l.startswith("FROM ")]
        self.assertGreaterEqual(len(stages), 2, "multi-stage")
        self.assertTrue(all(s == "debian:12-slim" for s in stages), stages)
        final = lines[max(i for i, l in enumerate(lines) if l.startswith("FROM "))]
        tail = lines[lines.index(final):]
        users = [l.split()[1] for l in tail if l.startswith("USER ")]
        self.assertTrue(users and users[-1] not in ("root", "0"), users)
        self.assertTrue(any(l.startswith("HEALTHCHECK") and "/health" in l for l in tail))
        # The build is the Makefile's `build` target: install-deps, then its
        # cmake commands (their output redirections and job count aside).
        with open(os.path.join(REPO, "Makefile")) as f:
            make = f.read()
        recipe = re.search(r"^build: deps\n((?:\t.*\n)+)", make, re.M).group(1)
        steps = ["scripts/install-deps.sh"] + [
            re.sub(r"\s*>/dev/null|\s*-j\S+", "", l.strip().lstrip("@")) for l in recipe.splitlines()]
        run_steps = " ".join(l for l in lines if l.startswith("RUN ") and "cmake" in l)
        for step in steps:
            self.assertIn(step, re.sub(r'\s*-j"\$\(nproc\)"', "", run_steps))
        # Every COPY source outside a stage is in the repository.
        for l in lines:
            if l.startswith("COPY ") and "--from=" not in l:
                for source in l.split()[1:-1]:
                    self.assertTrue(os.path.exists(os.path.join(REPO, source)), source)

    def test_prometheus_and_alertmanager_configs(self):
        promtool = shutil.which("promtool")
        amtool = shutil.which("amtool")
        if promtool is None or amtool is None:
            self.skipTest("promtool or amtool missing (prometheus, prometheus-alertmanager)")
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(os.path.join(DEPLOY, "prometheus"), os.path.join(tmp, "prometheus"))
            with open(os.path.join(tmp, "prometheus", "tollgate-metrics-token"), "w") as f:
                f.write("token")
            for name in ("prometheus.yml", "prometheus-token.yml"):
                code, out = run(promtool, "check", "config", os.path.join(tmp, "prometheus", name))
                self.assertEqual(code, 0, out)
            # The variant is the plain file plus the Authorization block.
            plain = load_yaml(os.path.join(DEPLOY, "prometheus", "prometheus.yml"))[0]
            token = load_yaml(os.path.join(DEPLOY, "prometheus", "prometheus-token.yml"))[0]
            auth = token["scrape_configs"][0].pop("authorization")
            self.assertEqual(auth, {"type": "Bearer", "credentials_file": "tollgate-metrics-token"})
            self.assertEqual(plain, token)
            kube = load_yaml(os.path.join(DEPLOY, "k8s", "prometheus-kubernetes.yml"))[0]
            kube["scrape_configs"][0].pop("kubernetes_sd_configs")
            kube["scrape_configs"][0]["static_configs"] = [{"targets": ["tollgate:8080"]}]
            os.makedirs(os.path.join(tmp, "k8s"))
            path = os.path.join(tmp, "k8s", "prometheus-kubernetes.yml")
            with open(path, "w") as f:
                yaml.safe_dump(kube, f)
            code, out = run(promtool, "check", "config", path)
            self.assertEqual(code, 0, out)
        code, out = run(amtool, "check-config", os.path.join(DEPLOY, "alertmanager", "alertmanager.yml"))
        self.assertEqual(code, 0, out)

    def test_alerts_documented_and_tested(self):
        with open(os.path.join(REPO, "docs", "runbooks.md")) as f:
            anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
                       for h in re.findall(r"^#+ (.+)$", f.read(), re.M)}
        alerts = [r for g in load_yaml(os.path.join(DEPLOY, "prometheus", "alerts.yml"))[0]["groups"]
                  for r in g["rules"]]
        fired = set()
        for path in files(os.path.join(DEPLOY, "prometheus", "tests"), ".yml"):
            for test in load_yaml(path)[0]["tests"]:
                for case in test.get("alert_rule_test", []):
                    if case.get("exp_alerts"):
                        fired.add(case["alertname"])
        self.assertGreaterEqual(len(alerts), 14)
        for rule in alerts:
            name = rule["alert"]
            self.assertIn(rule["labels"]["severity"], ("critical", "warning"), name)
            notes = rule["annotations"]
            self.assertTrue(notes["summary"] and notes["description"], name)
            self.assertEqual(notes["runbook_url"], "docs/runbooks.md#" + name.lower())
            self.assertIn(name.lower(), anchors, "%s: no runbook section" % name)
            self.assertIn(name, fired, "%s: no promtool test fires it" % name)


if __name__ == "__main__":
    harness.main()
