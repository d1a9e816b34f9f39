#!/usr/bin/env bash
# Reliability measurements: memory and descriptors under load, idle
# connections, reloads under load, stalled and oversized uploads, the
# descriptor limit, ambiguous framing; results go to the "Reliability"
# section of bench/RESULTS.md. See bench/README.md and docs/reliability.md.
#
#   bench/reliability.sh BUILD_DIR [--only ITEMS] [--requests N] [--reloads N]   (a Release build)
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: bench/reliability.sh BUILD_DIR [--only ITEMS] [--requests N] [--reloads N]" >&2; exit 2; }
# Debian's python3 (prometheus_client for the e2e harness), whatever python3
# comes first on PATH; -B: no __pycache__ next to the modules it imports.
exec /usr/bin/python3 -B "$(dirname "$0")/reliability.py" "$@"
