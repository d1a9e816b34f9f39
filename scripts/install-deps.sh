#!/usr/bin/env bash
# Installs every Debian and npm package that building, running and testing
# tollgate needs, on a fresh Debian 12 machine. Idempotent: packages already
# present are skipped, so `make test` can call it on every run.
#   (no argument)  what building and `make run` need (and the status page's
#                  browser test: chromium, big, and python3-websocket)
#   --test         and Node.js with the npm packages the tests use
#   --bench        and nginx, wrk and valgrind (bench/instructions.sh)
set -euo pipefail

DEBS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libh2o-evloop-dev libjansson-dev libyaml-dev libsqlite3-dev zlib1g-dev
  libssl-dev libevent-dev libcmocka-dev
  prometheus prometheus-alertmanager python3 python3-prometheus-client python3-yaml
  curl openssl nghttp2-client chromium python3-websocket
)
BENCH_DEBS=(nginx-light wrk valgrind)

want=("${DEBS[@]}")
[ "${1:-}" = "--bench" ] && want+=("${BENCH_DEBS[@]}")
with_npm=false
[ "${1:-}" = "--test" ] && with_npm=true

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm: machines of this kind ship them (npm from npm itself, not
# Debian's package, which would conflict); install Debian's only when absent.
if $with_npm; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The official OpenAI and Anthropic SDKs, used by tests/e2e and mock-llm's
# tests as real clients: `make test` only (--test); building and `make run`
# need no network.
here="$(cd "$(dirname "$0")/.." && pwd)"
if $with_npm && { [ ! -d "$here/tests/node/node_modules/openai" ] ||
                  [ ! -d "$here/tests/node/node_modules/@anthropic-ai/sdk" ]; }; then
  echo "install-deps: npm install (tests/node)"
  (cd "$here/tests/node" && npm install --no-audit --no-fund --silent)
fi
