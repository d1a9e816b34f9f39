#!/usr/bin/env bash
# Tenancy benchmark: CPU per request with API-key auth and the usage ledger
# on against off (one run, the two taking turns), instructions per request
# (callgrind), and the ledger's sustained write rate; results go to the
# "Tenancy: auth and ledger cost" section of bench/RESULTS.md. See
# bench/README.md.
#
#   bench/tenancy.sh BUILD_DIR [--seconds N] [--rounds N] [--connections N] [--workers N]
#                    [--sustain-seconds N] [--sustain-connections N] [--skip-instructions]
#   (Release builds; needs wrk and valgrind: scripts/install-deps.sh --bench)
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: bench/tenancy.sh BUILD_DIR [--seconds N] [--rounds N] [--connections N] [--workers N] [--sustain-seconds N] [--sustain-connections N] [--skip-instructions]" >&2; exit 2; }
# Debian's python3, whatever python3 comes first on PATH; -B: no __pycache__
# for the shared benchlib.py in the tree.
exec /usr/bin/python3 -B "$(dirname "$0")/tenancy.py" "$@"
