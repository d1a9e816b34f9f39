#!/bin/bash
# stress_tsan.sh - builds tally and tests/prog_stress.c with ThreadSanitizer
# (its own compile: the test build uses ASan, which cannot be combined with
# TSan) and runs the threaded stress and histogram consistency test.
# $1 = build directory (the binary goes in a subdirectory of it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp}/stress_tsan
mkdir -p "$out"
cc -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=thread -fno-omit-frame-pointer \
   -I"$here/include" -I"$here/src" "$here"/src/*.c "$here/tests/prog_stress.c" \
   -lz -lm -lpthread -o "$out/prog_stress"
TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" \
    timeout 300 "$out/prog_stress"
