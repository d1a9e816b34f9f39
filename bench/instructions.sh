#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: deterministic for
# the same binary and inputs whatever else the machine runs, so it settles
# a few-percent question that wall-clock CPU on a shared machine cannot.
# Each binary serves N1, then N2 plain chat completions (16 completion
# tokens, one keep-alive connection, one worker, JSON access log) in front
# of mock-llm under valgrind; (total(N2) - total(N1)) / (N2 - N1) is the
# cost of one request with start-up and shutdown cancelled out. Every
# thread counts (callgrind --separate-threads=yes, summed); system calls
# and the kernel's work do not.
#
#   bench/instructions.sh BUILD_DIR TOLLGATE_BINARY[::PROVIDER_KEYS[::MODEL_KEYS[::TOP_KEYS]]]...
#   (Release builds)
#
# PROVIDER_KEYS, after `::`, are YAML flow-mapping entries added to the
# provider, e.g. `build/src/tollgate::breaker: {enabled: false}` measures
# the same binary with its circuit breaker off; MODEL_KEYS, after a second
# `::`, are added to the model, e.g. `build/src/tollgate::::strategy:
# weighted`; TOP_KEYS, after a third, to the top level of the config, an
# entry for `server`, `logging` or `auth` replacing the script's own, e.g.
# `build/src/tollgate::::::store: {driver: none}` (a relative store path is
# in the run's temporary directory, emptied before each run; without a
# `store` entry the config's default, SQLite, is in use). ROUTES=2 in the
# environment gives the model a second route (a second provider, with the
# same keys, on the same mock) behind the first, which a strategy can put
# first.
#
# TENANT_KEY=1 in the environment: before each run the binary's CLI makes
# an org and an API key on the variant's store (`orgs create`, `keys
# create`), and every request carries the key as `Authorization: Bearer`.
# A fifth `::` field gives the key's policy flags, e.g. `--rpm 1000000
# --tpm 1000000000` (limits on, never reached).
# A variant without a store (`driver: none`) gets a made-up key of the
# same length, which it ignores, so that both see the same bytes.
# CALLGRIND_KEEP=DIR keeps callgrind's files, one per thread:
# DIR/vI-nN.out-TT for the I-th binary argument, N requests, thread TT.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: bench/instructions.sh BUILD_DIR TOLLGATE_BINARY[::PROVIDER_KEYS[::MODEL_KEYS[::TOP_KEYS]]]..." >&2; exit 2; }
MOCK=$(cd "$1" && pwd)/tools/mock-llm/mock-llm
shift
N1=${N1:-200}
N2=${N2:-1200}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# An argument's fields, split at `::`, into the array `fields` (5 of them).
split_spec() {
    local spec=$1
    fields=()
    while [[ $spec == *::* ]]; do fields+=("${spec%%::*}"); spec=${spec#*::}; done
    fields+=("$spec")
    while [[ ${#fields[@]} -lt 5 ]]; do fields+=(""); done
}

# The config (one YAML flow mapping) of a variant.
write_config() { # file, tollgate port, mock port, provider keys, model keys, top-level keys
    local file=$1 tport=$2 mport=$3 extra=${4:+, $4} mextra=${5:+, $5} top=$6 own="" second="" provider2=""
    local -A defaults=([server]="{listen: \"127.0.0.1:$tport\", workers: 1}" [logging]="{format: json}"
                       [auth]="{allow_anonymous: true}")
    for section in server logging auth; do
        [[ $top =~ (^|[{,[:space:]])$section: ]] || own+="$section: ${defaults[$section]}, "
    done
    if [[ ${ROUTES:-1} == 2 ]]; then
        second=", {provider: mock2, model: gpt-4o-mini}"
        provider2=", {name: mock2, base_url: \"http://127.0.0.1:$mport/v1\", max_retries: 0$extra}"
    fi
    cat >"$file" <<EOC
{${own}
 providers: [{name: mock, base_url: "http://127.0.0.1:$mport/v1", max_retries: 0$extra}$provider2],
 models: [{name: gpt-4o-mini, routes: [{provider: mock, model: gpt-4o-mini}$second],
           pricing: {input: 0.15, output: 0.6}$mextra}]${top:+, $top}}
EOC
}

# TENANT_KEY=1: an org and a key on the variant's store, printed; a
# made-up key of the same shape when it has none.
tenant_key() { # binary, config, key policy flags
    local json
    # shellcheck disable=SC2086 # the flags are words
    if "$1" orgs create bench --config "$2" >/dev/null 2>&1 &&
        json=$("$1" keys create --org bench --name bench $3 --config "$2" --json 2>/dev/null); then
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])' <<<"$json"
    else
        echo "tg-$(printf 'x%.0s' {1..43})"
    fi
}

total() { # index, binary[::keys...], requests -> instructions of the whole run
    local index=$1 n=$3 mport tport key="" run=$work/run
    split_spec "$2"
    local bin=${fields[0]}
    rm -rf "$run" && mkdir "$run"   # a fresh store for every run
    mport=$(port); tport=$(port)
    write_config "$run/cfg.yaml" "$tport" "$mport" "${fields[1]}" "${fields[2]}" "${fields[3]}"
    [[ ${TENANT_KEY:-0} == 1 ]] && key=$(tenant_key "$bin" "$run/cfg.yaml" "${fields[4]}")
    "$MOCK" --listen 127.0.0.1:"$mport" --threads 1 >/dev/null 2>&1 &
    local mpid=$!
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$run/cg.out" \
        "$bin" serve --config "$run/cfg.yaml" >/dev/null 2>"$run/tg.err" &
    local tpid=$!
    for _ in $(seq 1 150); do curl -s -o /dev/null "http://127.0.0.1:$tport/ready" && break; sleep 0.2; done
    /usr/bin/python3 - "$tport" "$n" "$key" <<'EOP'
import http.client, json, sys
port, n, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port)
body = json.dumps({"model": "gpt-4o-mini", "max_tokens": 16,
                   "messages": [{"role": "user", "content": "hello there"}]})
headers = {"Content-Type": "application/json"}
if key:
    headers["Authorization"] = "Bearer " + key
for _ in range(n):
    c.request("POST", "/v1/chat/completions", body=body, headers=headers)
    r = c.getresponse()
    r.read()
    assert r.status == 200, (r.status, r.read())
EOP
    kill -TERM "$tpid"; wait "$tpid" || true
    kill "$mpid"; wait "$mpid" 2>/dev/null || true
    if [[ -n ${CALLGRIND_KEEP:-} ]]; then
        mkdir -p "$CALLGRIND_KEEP"
        for f in "$run"/cg.out-*; do cp "$f" "$CALLGRIND_KEEP/v$index-n$n.out-${f##*-}"; done
    fi
    awk '/^summary:/ {s += $2} END {print s}' "$run"/cg.out-*
}

echo "| binary | instructions per request |"
echo "|---|---|"
i=0
for bin in "$@"; do
    i=$((i + 1))
    a=$(total "$i" "$bin" "$N1"); b=$(total "$i" "$bin" "$N2")
    echo "| \`$bin\` | $(( (b - a) / (N2 - N1) )) |"
done
