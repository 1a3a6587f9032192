#!/usr/bin/env bash
# The main job: installs what coinfer needs (as root), builds, finds CIFAR-10
# (../shared/data/cifar10, else data/cifar10, fetched when absent), then
#  1. evaluates the bundled model's exits with the C runtime (coinfer-eval), and
#  2. runs split inference end to end over loopback: the appliance, and 16 device
#     agents sending 20 CIFAR-10 test images each, split after relu2 of exit 3,
#     8-bit zero-run Huffman frames (coinfer-agent); the agents' summary and the
#     appliance's counters;
#  3. compares the trained SAC-d and DQN policies with Edgent, the clairvoyant
#     oracle, device-only and edge-only over every bandwidth trace of
#     ../shared/data/traces (coinfer-policy eval, the applications of
#     conf/slo/apps.yaml);
#  4. serves with the trained policy: the appliance loads it, 16 agents emulating
#     a Raspberry Pi 4 (pi4-est) ask it for each request's action and keep it to
#     decide alone; the agents' summary and the appliance's counters.
# JSON on stdout, one document per line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >&2
[ -f build/build.ninja ] || meson setup build >&2
ninja -C build coinfer-eval coinfer-appliance coinfer-agent coinfer-policy >&2
if [ -z "${COINFER_CIFAR10:-}" ] && [ ! -f ../shared/data/cifar10/test_batch.bin ]; then
	bash scripts/install-deps.sh --data >&2
	bash scripts/fetch-cifar10.sh >&2
fi
./build/coinfer-eval "$@" | tr -d '\n' | sed 's/[[:space:]]\+/ /g'
echo

out=$(mktemp)
app=
trap 'kill $app 2>/dev/null || true; rm -f "$out"' EXIT
# starts the appliance with the given options; sets app and port
start_appliance() {
	./build/coinfer-appliance --port 0 "$@" >"$out" &
	app=$!
	for _ in $(seq 1 100); do
		grep -q '"listening"' "$out" && break
		sleep 0.1
	done
	port=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' "$out" | head -1)
	head -n 1 "$out"
}
stop_appliance() {
	kill -TERM $app
	wait $app || true
	tail -n 1 "$out"
}

start_appliance
./build/coinfer-agent --edge "127.0.0.1:$port" --fleet 16 --threads 2 --requests 20 \
	--exit 3 --partition 6 --bits 8 --codec huffman-zrun --deadline-ms 1000 --quiet
stop_appliance

./build/coinfer-policy eval --slo conf/slo/apps.yaml | tr -d '\n' | sed 's/[[:space:]]\+/ /g'
echo

policy=models/branchy-alexnet.pi4-est.sacd.policy
start_appliance --policy "$policy"
./build/coinfer-agent --edge "127.0.0.1:$port" --fleet 16 --threads 2 --requests 20 \
	--device-class pi4-est --policy "$policy" --edge-decides --deadline-ms 50 --quiet
stop_appliance
