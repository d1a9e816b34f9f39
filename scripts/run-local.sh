#!/usr/bin/env bash
# What `make run` calls: starts mock-llm on a free port and tollgate on
# config/tollgate.example.yaml in front of it, prints the URLs and a curl
# example, and stops both cleanly on Ctrl-C.
#
#   scripts/run-local.sh BUILD_DIR        (PORT=8080 by default)
set -euo pipefail

build_dir=${1:?usage: scripts/run-local.sh BUILD_DIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$(cd "$build_dir" && pwd)
tollgate="$build_dir/src/tollgate"
mock="$build_dir/tools/mock-llm/mock-llm"
config="$repo/config/tollgate.example.yaml"
export PORT=${PORT:-8080}

for bin in "$tollgate" "$mock"; do
    [[ -x $bin ]] || { echo "run-local: $bin is missing; build first (make build)" >&2; exit 1; }
done

cd "$repo"
mkdir -p data          # the store: ./data/tollgate.db (orgs, keys, ledger, audit)
rundir=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-run.XXXXXX")
mock_pid= tollgate_pid=

stop() {
    trap - INT TERM EXIT
    # tollgate first: it finishes its in-flight requests against the mock.
    for pid in $tollgate_pid $mock_pid; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$rundir"
    echo "stopped"
}
trap stop INT TERM EXIT

"$mock" --listen 127.0.0.1:0 --port-file "$rundir/mock.port" >"$rundir/mock.log" 2>&1 &
mock_pid=$!
for _ in $(seq 100); do
    [[ -s $rundir/mock.port ]] && break
    kill -0 "$mock_pid" 2>/dev/null || { cat "$rundir/mock.log" >&2; exit 1; }
    sleep 0.05
done
[[ -s $rundir/mock.port ]] || { echo "run-local: mock-llm did not start" >&2; exit 1; }
export MOCK_PORT=$(cat "$rundir/mock.port")

# tollgate's own log goes to this terminal.
"$tollgate" serve --config "$config" &
tollgate_pid=$!
base="http://127.0.0.1:$PORT"
for _ in $(seq 200); do
    curl -fs -o /dev/null "$base/ready" 2>/dev/null && break
    kill -0 "$tollgate_pid" 2>/dev/null || { echo "run-local: tollgate exited" >&2; exit 1; }
    sleep 0.05
done

cat <<EOF

  tollgate   $base   (config $config)
  mock-llm   http://127.0.0.1:$MOCK_PORT   (fake provider)
  metrics    $base/metrics
  health     $base/health

  curl -s $base/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}'

  Anonymous requests are allowed (demo). A first org and API key, from another terminal:
    $tollgate orgs create demo --plan trial --config $config
    $tollgate keys create --org demo --name first --config $config
  then add  -H 'Authorization: Bearer tg-...'  to the curl above, and see its usage:
    $tollgate usage --org demo --group-by model --config $config
  The admin API (/admin/v1/) is on when TOLLGATE_ADMIN_KEY is set (16+ characters).

  Ctrl-C stops both.

EOF

# Whichever exits first (or Ctrl-C) ends the session.
wait -n "$tollgate_pid" "$mock_pid" || true
