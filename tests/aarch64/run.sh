#!/bin/sh
# Cross-builds coinfer for aarch64 (Cortex-A72) and runs the 'aarch64' suite, the
# kernel tests and the golden test on NEON and scalar, under qemu-user.
set -eu
src=$1
build=$2
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$src" --cross-file "$src/cross/aarch64-linux-gnu.ini" -Dbench=disabled >"$build.log" 2>&1 ||
		{ cat "$build.log"; exit 1; }
fi
ninja -C "$build" >"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
exec meson test -C "$build" --suite aarch64 --print-errorlogs
