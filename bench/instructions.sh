#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: deterministic for
# the same binary and inputs whatever else the machine runs, so it settles
# a few-percent question that wall-clock CPU on a shared machine cannot.
# Each binary serves N1, then N2 plain chat completions (16 completion
# tokens, one keep-alive connection, one worker, JSON access log) in front
# of mock-llm under valgrind; (total(N2) - total(N1)) / (N2 - N1) is the
# cost of one request with start-up and shutdown cancelled out.
#
#   bench/instructions.sh BUILD_DIR TOLLGATE_BINARY[::PROVIDER_KEYS[::MODEL_KEYS]]...    (Release builds)
#
# PROVIDER_KEYS, after `::`, are YAML flow-mapping entries added to the
# provider, e.g. `build/src/tollgate::breaker: {enabled: false}` measures
# the same binary with its circuit breaker off; MODEL_KEYS, after a second
# `::`, are added to the model, e.g. `build/src/tollgate::::strategy:
# weighted`. ROUTES=2 in the environment gives the model a second route
# (a second provider, with the same keys, on the same mock) behind the
# first, which a strategy can put first.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: bench/instructions.sh BUILD_DIR TOLLGATE_BINARY[::PROVIDER_KEYS]..." >&2; exit 2; }
MOCK=$(cd "$1" && pwd)/tools/mock-llm/mock-llm
shift
N1=${N1:-200}
N2=${N2:-1200}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

total() { # binary[::provider keys], requests -> instructions of the whole run
    local bin=${1%%::*} extra="" mextra="" rest n=$2 mport tport second=""
    if [[ $1 == *::* ]]; then
        rest=${1#*::}
        [[ -n ${rest%%::*} ]] && extra=", ${rest%%::*}"
        [[ $rest == *::* && -n ${rest#*::} ]] && mextra=", ${rest#*::}"
    fi
    mport=$(port); tport=$(port)
    "$MOCK" --listen 127.0.0.1:"$mport" --threads 1 >/dev/null 2>&1 &
    local mpid=$!
    local provider2=""
    if [[ ${ROUTES:-1} == 2 ]]; then
        second=", {provider: mock2, model: gpt-4o-mini}"
        provider2="  - {name: mock2, base_url: \"http://127.0.0.1:$mport/v1\", max_retries: 0$extra}"
    fi
    cat >"$work/cfg.yaml" <<EOC
server: {listen: "127.0.0.1:$tport", workers: 1}
logging: {format: json}
auth: {allow_anonymous: true}
providers:
  - {name: mock, base_url: "http://127.0.0.1:$mport/v1", max_retries: 0$extra}
$provider2
models:
  - {name: gpt-4o-mini, routes: [{provider: mock, model: gpt-4o-mini}$second], pricing: {input: 0.15, output: 0.6}$mextra}
EOC
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" serve --config "$work/cfg.yaml" \
        >/dev/null 2>"$work/tg.err" &
    local tpid=$!
    for _ in $(seq 1 150); do curl -s -o /dev/null "http://127.0.0.1:$tport/ready" && break; sleep 0.2; done
    /usr/bin/python3 - "$tport" "$n" <<'EOP'
import http.client, json, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
body = json.dumps({"model": "gpt-4o-mini", "max_tokens": 16,
                   "messages": [{"role": "user", "content": "hello there"}]})
for _ in range(n):
    c.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
EOP
    kill -TERM "$tpid"; wait "$tpid" || true
    kill "$mpid"; wait "$mpid" 2>/dev/null || true
    awk '/^summary:/ {print $2}' "$work/cg.out"
}

echo "| binary | instructions per request |"
echo "|---|---|"
for bin in "$@"; do
    a=$(total "$bin" "$N1"); b=$(total "$bin" "$N2")
    echo "| \`$bin\` | $(( (b - a) / (N2 - N1) )) |"
done
