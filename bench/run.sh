#!/usr/bin/env bash
# Gateway benchmark: wrk against mock-llm direct, nginx (plain keep-alive
# reverse proxy) and tollgate, plain and streamed; results go to the
# "Gateway" section of bench/RESULTS.md. See bench/README.md.
#
#   bench/run.sh BUILD_DIR [--seconds N] [--workers N]     (a Release build)
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: bench/run.sh BUILD_DIR [--seconds N] [--workers N]" >&2; exit 2; }
# Debian's python3, whatever python3 comes first on PATH.
exec /usr/bin/python3 "$(dirname "$0")/gateway_bench.py" "$@"
