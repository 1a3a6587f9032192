#!/bin/sh
# Cross-builds coinfer for aarch64 (Cortex-A72) and runs the 'aarch64' suite, the
# kernel tests and the golden test on NEON and scalar, under qemu-user; then the
# device's `coinfer-agent profile` (one exit, batch 1) under qemu.
set -eu
src=$1
build=$2
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$src" --cross-file "$src/cross/aarch64-linux-gnu.ini" -Dbench=disabled >"$build.log" 2>&1 ||
		{ cat "$build.log"; exit 1; }
fi
ninja -C "$build" >"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
meson test -C "$build" --suite aarch64 --print-errorlogs

# The cross file's exe_wrapper runs the agent; no JSON reader is cross-built, so
# the profile's keys are looked for (tests/integration/test-profile-cmd.c reads
# the native agent's file with the cost model's loader).
wrapper=$(sed -n "s/^exe_wrapper *= *\[\(.*\)\]$/\1/p" "$src/cross/aarch64-linux-gnu.ini" | tr -d "',")
out=$build/agent-profile.json
if ! $wrapper "$build/coinfer-agent" profile --runs 50 --warmup 1 --exit 1 --out "$out" 2>"$out.err"; then
	if grep -q "CIFAR-10" "$out.err"; then
		echo "agent profile: CIFAR-10 not found, skipped"
		exit 0
	fi
	cat "$out.err"
	exit 1
fi
for key in '"device_class":' '"model_checksum":' '"isa":	"neon"' '"batches":	\[1\]' '"mean_ms":' '"p95_ms":'; do
	grep -q "$key" "$out" || { echo "agent profile: no $key in $out"; cat "$out.err"; exit 1; }
done
layers=$(grep -c '"pos":' "$out")
[ "$layers" -ge 1 ] || { echo "agent profile: no layers in $out"; exit 1; }
echo "agent profile under qemu: $layers layers of exit 1 ($(tail -n 1 "$out.err"))"
