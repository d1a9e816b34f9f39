#!/usr/bin/env bash
# Translation benchmark: CPU per streamed request when tollgate translates
# between OpenAI chat and Anthropic Messages (both ways) against passing
# each API through, four cases in one run; results go to the "Translation:
# Anthropic ↔ OpenAI" section of bench/RESULTS.md. See bench/README.md.
#
#   bench/translation.sh BUILD_DIR [--seconds N] [--rounds N] [--connections N]   (a Release build)
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: bench/translation.sh BUILD_DIR [--seconds N] [--rounds N] [--connections N]" >&2; exit 2; }
exec /usr/bin/python3 -B "$(dirname "$0")/translation.py" "$@"
