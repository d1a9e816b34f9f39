#!/usr/bin/env bash
# Series benchmark: series count, scrape size and RSS of an idle tollgate
# with 4, 50 and 500 configured models after 5 requests; results go to the
# "Series" section of bench/RESULTS.md. See bench/README.md.
#
#   bench/series.sh BUILD_DIR     (a Release build)
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: bench/series.sh BUILD_DIR" >&2; exit 2; }
# Debian's python3, whatever python3 comes first on PATH; -B: no __pycache__
# for the shared benchlib.py in the tree.
exec /usr/bin/python3 -B "$(dirname "$0")/series.py" "$@"
