#!/usr/bin/env bash
# Gateway benchmark: wrk against mock-llm direct, nginx (plain keep-alive
# reverse proxy) and tollgate, plain and streamed; results go to the
# "Gateway" section of bench/RESULTS.md. See bench/README.md.
#
#   bench/run.sh BUILD_DIR [--seconds N] [--workers N] [--rounds N] [--baseline PATH]
#   (Release builds; PATH: a tollgate binary built from an earlier commit)
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: bench/run.sh BUILD_DIR [--seconds N] [--workers N] [--rounds N] [--baseline PATH]" >&2; exit 2; }
# Debian's python3, whatever python3 comes first on PATH; -B: no __pycache__
# for the shared benchlib.py in the tree.
exec /usr/bin/python3 -B "$(dirname "$0")/gateway_bench.py" "$@"
