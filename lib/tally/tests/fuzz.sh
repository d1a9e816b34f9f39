#!/bin/bash
# fuzz.sh - builds the libFuzzer target (lib/tally/fuzz/fuzz_tally.c) from
# tally's sources with clang-14 and ASan/UBSan, and runs it for about 20 s
# from the seed corpus. Any crash, leak or checker failure fails the test.
#
# Usage: fuzz.sh BUILD_DIR   (the fuzzer binary and its scratch corpus go
# under BUILD_DIR/fuzz; the seed corpus in the source tree is not modified)
# FUZZ_SECONDS overrides the run time.
set -euo pipefail

build_dir=${1:?usage: fuzz.sh BUILD_DIR}
tally=$(cd "$(dirname "$0")/.." && pwd)
work="$build_dir/fuzz"
mkdir -p "$work/corpus"

clang=$(command -v clang-14 || command -v clang || true)
if [ -z "$clang" ]; then
    echo "FAIL: clang-14 not found (Debian package clang-14)"
    exit 1
fi

"$clang" -g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined \
    -I"$tally/include" -I"$tally/src" \
    "$tally"/src/*.c "$tally/fuzz/fuzz_tally.c" \
    -lz -lm -lpthread -o "$work/fuzz_tally"

# Scratch corpus first (libFuzzer writes new inputs there), seeds second.
# With pipefail the condition is the fuzzer's status, not tail's.
if ! "$work/fuzz_tally" -max_total_time="${FUZZ_SECONDS:-20}" -max_len=4096 -timeout=10 \
        -rss_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$work/" "$work/corpus" "$tally/fuzz/corpus" 2>&1 | tail -n 20; then
    echo "FAIL: the fuzzer found a problem; reproducer in $work/"
    exit 1
fi
echo "fuzz: no crash, leak or malformed output"
