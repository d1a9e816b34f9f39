#!/usr/bin/env bash
# Response cache benchmark: tollgate's cache hits against its proxied path,
# nginx as a proxy and mock-llm direct, plain and streamed, in one run;
# results go to the "Response cache" section of bench/RESULTS.md. See
# bench/README.md.
#
#   bench/cache.sh BUILD_DIR [--seconds N] [--workers N]   (a Release build)
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: bench/cache.sh BUILD_DIR [--seconds N] [--workers N]" >&2; exit 2; }
exec /usr/bin/python3 -B "$(dirname "$0")/cache_bench.py" "$@"
