"""conformance_check.py - reads tally's renderings with prometheus_client's
own parsers (text 0.0.4 and OpenMetrics 1.0.0) and checks that every sample
prog_conformance recorded comes back with the same name, labels, value and
(OpenMetrics) exemplar; also that each format's family types and rules hold.

Usage: /usr/bin/python3 conformance_check.py OUTDIR
"""
import gzip
import json
import math
import os
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics)
from prometheus_client.parser import text_string_to_metric_families as parse_text

PROCESS_FAMILIES = {
    "process_cpu_seconds": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
}

# Family types each format must declare (0.0.4 has no info or stateset).
OM_TYPES = {"conf_requests": "counter", "conf_values": "gauge",
            "conf_latency_seconds": "histogram", "conf_tokens": "summary",
            "conf_build": "info", "conf_breaker": "stateset",
            "conf_collected_events": "counter", "conf_collected_legacy": "unknown"}
TEXT_TYPES = {"conf_requests": "counter", "conf_values": "gauge",
              "conf_latency_seconds": "histogram", "conf_tokens": "summary",
              "conf_build_info": "gauge", "conf_breaker": "gauge",
              "conf_collected_events": "counter",
              # prometheus_client reads 0.0.4's "untyped" as "unknown"
              "conf_collected_legacy": "unknown"}
OM_UNITS = {"conf_sent_bytes": "bytes", "conf_latency_seconds": "seconds",
            "conf_cost_dollars": "dollars", "conf_collected_temp_celsius": "celsius",
            "process_cpu_seconds": "seconds"}

errors = []


def fail(msg):
    errors.append(msg)


def same_value(want, got):
    if math.isnan(want):
        return math.isnan(got)
    return want == got


def label_key(labels, numeric=("le", "quantile")):
    """Labels as a hashable key; le and quantile compare as numbers, since
    the formats spell them differently ("1" against "1.0")."""
    return tuple(sorted((k, float(v) if k in numeric else v) for k, v in labels.items()))


def index_samples(families, fmt):
    samples = {}
    for fam in families:
        for s in fam.samples:
            key = (s.name, label_key(s.labels))
            if key in samples:
                fail(f"{fmt}: duplicate sample {s.name}{s.labels}")
            samples[key] = s
    return samples


def check_format(fmt, text, expected):
    parser = parse_openmetrics if fmt.startswith("om") else parse_text
    is_om = fmt.startswith("om")
    try:
        families = list(parser(text))
    except Exception as exc:  # the parser's verdict is the test
        fail(f"{fmt}: parser rejected the output: {exc!r}")
        return
    samples = index_samples(families, fmt)
    types = {f.name: f.type for f in families}
    units = {f.name: f.unit for f in families}

    for want in expected["samples"]:
        key = (want["name"], label_key(want["labels"]))
        got = samples.get(key)
        if got is None:
            fail(f"{fmt}: missing sample {want['name']}{want['labels']}")
            continue
        if not same_value(float(want["value"]), got.value):
            fail(f"{fmt}: {want['name']}{want['labels']} = {got.value}, want {want['value']}")
        want_ex = want.get("exemplar")
        got_ex = getattr(got, "exemplar", None)
        if is_om and want_ex is not None:
            if got_ex is None:
                fail(f"{fmt}: exemplar missing on {want['name']}{want['labels']}")
            elif (got_ex.labels != want_ex["labels"] or got_ex.value != want_ex["value"]
                  or float(got_ex.timestamp) != want_ex["timestamp"]):
                fail(f"{fmt}: exemplar {got_ex} != {want_ex}")
        elif got_ex is not None:
            fail(f"{fmt}: unexpected exemplar on {want['name']}{want['labels']}")

    for name, typ in (OM_TYPES if is_om else TEXT_TYPES).items():
        if types.get(name) != typ:
            fail(f"{fmt}: family {name} has type {types.get(name)}, want {typ}")
    if is_om:
        for name, unit in OM_UNITS.items():
            if units.get(name) != unit:
                fail(f"{fmt}: family {name} has unit {units.get(name)!r}, want {unit!r}")
        if not text.endswith("# EOF\n") or text.count("# EOF") != 1:
            fail(f"{fmt}: does not end with a single # EOF")
        created = [s for s in samples.values() if s.name == "conf_requests_created"]
        if len(created) != 2 or any(not 1e9 < s.value < 1e11 for s in created):
            fail(f"{fmt}: conf_requests_created samples wrong: {created}")
    else:
        if "_created" in text or "# EOF" in text or " # {" in text:
            fail(f"{fmt}: OpenMetrics-only content in text 0.0.4")

    for name, typ in PROCESS_FAMILIES.items():
        if types.get(name) != typ:
            fail(f"{fmt}: process family {name} type {types.get(name)}, want {typ}")
    start = [s for s in samples.values() if s.name == "process_start_time_seconds"]
    if len(start) != 1 or not 1e9 < start[0].value < 1e11:
        fail(f"{fmt}: process_start_time_seconds implausible: {start}")


def main():
    outdir = sys.argv[1]
    with open(os.path.join(outdir, "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)
    if len(expected["samples"]) < 50:
        fail(f"expected.json holds only {len(expected['samples'])} samples")
    for fmt, name in (("text", "metrics.txt"), ("om", "metrics.om"),
                      ("text+gzip", "metrics.txt.gz"), ("om+gzip", "metrics.om.gz")):
        path = os.path.join(outdir, name)
        raw = open(path, "rb").read()
        if name.endswith(".gz"):
            raw = gzip.decompress(raw)
        check_format(fmt, raw.decode("utf-8"), expected)
    for e in errors:
        print("FAIL:", e)
    if errors:
        return 1
    print(f"conformance: {len(expected['samples'])} samples match in 4 renderings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
