#!/bin/bash
# readme_example.sh - the README's usage example is real code: its first C
# block must equal the marked part of prog_readme_example.c (so it compiles
# with the rest of the tests), and running it must print what the README
# says it records, in both formats and gzip.
#
# Usage: readme_example.sh BUILD_DIR   (the lib's build directory)
set -euo pipefail

build_dir=${1:?usage: readme_example.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The first ```c block of the README, and the marked part of the program.
awk '/^```c$/ && !done { inside = 1; next } inside && /^```$/ { inside = 0; done = 1 }
     inside' "$here/../README.md" > "$out/readme.c"
sed -n '/^\/\* README example begins \*\/$/,/^\/\* README example ends \*\/$/p' \
    "$here/prog_readme_example.c" | sed '1d;$d' > "$out/prog.c"
if ! diff -u "$out/readme.c" "$out/prog.c"; then
    echo "FAIL: README usage example and tests/prog_readme_example.c differ"
    exit 1
fi

prog="$build_dir/tally_prog_readme_example"
"$prog" > "$out/text" 2> "$out/text.headers"
grep -qx 'Content-Type: text/plain; version=0.0.4; charset=utf-8' "$out/text.headers"
grep -qx 'http_requests_total{method="GET",status="200"} 1' "$out/text"
grep -qx 'http_request_duration_seconds_bucket{le="0.05"} 1' "$out/text"
grep -qx 'http_request_duration_seconds_sum 0.042' "$out/text"
grep -q '^process_resident_memory_bytes [1-9]' "$out/text"

"$prog" "application/openmetrics-text; version=1.0.0" "gzip" > "$out/om.gz" 2> "$out/om.headers"
grep -qx 'Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8' \
    "$out/om.headers"
grep -qx 'Content-Encoding: gzip' "$out/om.headers"
gunzip -c "$out/om.gz" > "$out/om"
grep -qx 'http_requests_total{method="GET",status="200"} 1' "$out/om"
grep -qx 'http_request_duration_seconds_bucket{le="0.05"} 1' "$out/om"
[ "$(tail -n 1 "$out/om")" = "# EOF" ]
echo "PASS: README example"
