#!/bin/sh
# Builds the libFuzzer targets in a clang build with ASan+UBSan (a build dir of
# its own under WORK) and runs one over its committed corpus for SECONDS.
# usage: run.sh SRC_ROOT WORK TARGET SECONDS  (TARGET: tests/fuzz/fuzz-TARGET.c)
set -eu
src=$1 work=$2 target=$3 secs=$4
command -v clang >/dev/null || { echo "clang not installed: skipping"; exit 77; }
mkdir -p "$work"
build="$work/clang-build"
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$src" -Dfuzzer=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbench=disabled -Dbuildtype=debugoptimized -Dc_args=-fsanitize=fuzzer-no-link >"$work/setup.log" 2>&1 ||
		{ cat "$work/setup.log"; exit 1; }
fi
ninja -C "$build" "tests/fuzz/fuzz-$target" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
corpus="$work/corpus-$target"
mkdir -p "$corpus"
cp "$src/tests/fuzz/corpus/$target/"* "$corpus/"
cd "$work"
# libFuzzer leaves any crash input in WORK and exits non-zero: that fails the test.
# -timeout is per input and only catches a hang (an input that loops): a loaded
# host running the sanitized build must not turn a slow input into a failure.
exec "$build/tests/fuzz/fuzz-$target" -max_total_time="$secs" -max_len=65536 -timeout=60 \
	-rss_limit_mb=2048 -print_final_stats=1 "$corpus"
