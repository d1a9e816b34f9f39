#!/bin/bash
# conformance.sh - third-party parsers read tally's output: prog_conformance
# renders a registry that uses every feature (text 0.0.4 and OpenMetrics,
# plain and gzip); promtool must accept the 0.0.4 output and
# conformance_check.py (prometheus_client's parsers) must read back every
# recorded value, label and exemplar.
#
# Usage: conformance.sh BUILD_DIR   (the lib's build directory)
#
# promtool lints as well as parses and exits 3 on lint problems alone. The
# registry here is meant to be lint-clean (help everywhere, counters end in
# _total, units as suffixes), so any complaint fails the test: a lint
# problem in tally's own families (process_*, tally_series_overflow_total)
# is a bug too.
set -euo pipefail

build_dir=${1:?usage: conformance.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$build_dir/tally_prog_conformance" "$out"

for f in metrics.txt metrics.txt.gz metrics.om metrics.om.gz expected.json; do
    [ -s "$out/$f" ] || { echo "FAIL: $f missing or empty"; exit 1; }
done

for input in metrics.txt metrics.txt.gz; do
    if [[ $input == *.gz ]]; then
        gunzip -c "$out/$input" > "$out/promtool-input"
    else
        cp "$out/$input" "$out/promtool-input"
    fi
    if ! report=$(promtool check metrics < "$out/promtool-input" 2>&1); then
        echo "FAIL: promtool check metrics rejected $input:"
        echo "$report"
        exit 1
    fi
    if [ -n "$report" ]; then
        echo "FAIL: promtool complained about $input:"
        echo "$report"
        exit 1
    fi
done
echo "promtool: text 0.0.4 output accepted, plain and gzip"

/usr/bin/python3 "$here/conformance_check.py" "$out"
