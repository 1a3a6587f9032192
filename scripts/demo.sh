#!/usr/bin/env bash
# The main job, the fleet demo: installs what coinfer needs (as root), builds,
# finds CIFAR-10 (../shared/data/cifar10, else data/cifar10, fetched when
# absent), then
#  1. creates a key for each of the 32 devices (coinfer-keys);
#  2. starts the appliance with the bundled model, conf/appliance.yaml, the
#     trained SAC-d policy of the Raspberry Pi 4 class, the SLO file
#     conf/slo/apps.yaml and those keys (auth: keys), over UDP on loopback;
#  3. runs conf/fleet/example.yaml against it for 60 s (5 s of warm-up): 32
#     emulated Raspberry Pi 4 devices (pi4-est) in three applications, each
#     paced by its own bundled bandwidth trace (FCC, Oboe), each request's action
#     decided by the appliance's policy (coinfer-fleet);
#  4. stops the appliance and writes the report (coinfer-report): HTML and
#     Markdown with plots.
# Prints a short summary (answered, SLO attainment per application, p99,
# accuracy, where the report is). Everything goes to build/demo/.
#   --json        the run's JSON on stdout instead of the summary
#   --duration S  seconds of the fleet (60)
set -euo pipefail
cd "$(dirname "$0")/.."
json=0
duration=60
while [ $# -gt 0 ]; do
	case $1 in
	--json) json=1 ;;
	--duration) duration=$2; shift ;;
	*) echo "usage: scripts/demo.sh [--json] [--duration S]" >&2; exit 2 ;;
	esac
	shift
done
root=$PWD
dir=$root/build/demo
mkdir -p "$dir"
log=$dir/setup.log
: >"$log"
step() { # step WHAT command...: runs it into the log; on failure shows the log's end
	local what=$1
	shift
	"$@" >>"$log" 2>&1 || { echo "demo: $what failed; the end of $log:" >&2; tail -n 30 "$log" >&2;
		exit 1; }
}
echo "demo: setting up (packages, build, data; log: $log)" >&2
step "installing packages" bash scripts/install-deps.sh
[ -f build/build.ninja ] || step "meson setup" meson setup build
step "building" ninja -C build coinfer-appliance coinfer-fleet coinfer-keys coinfer-report
if [ -z "${COINFER_CIFAR10:-}" ] && [ ! -f ../shared/data/cifar10/test_batch.bin ] &&
	[ ! -f data/cifar10/test_batch.bin ]; then
	step "installing the fetcher's packages" bash scripts/install-deps.sh --data
	step "fetching CIFAR-10" bash scripts/fetch-cifar10.sh
fi

# 1. device keys: ids 1..32, as coinfer-fleet numbers the fleet file's devices
keys=$dir/devices.keys
rm -f "$keys"
for id in $(seq 1 32); do
	step "creating device keys" ./build/coinfer-keys create --keys "$keys" --device "$id"
done

# 2. the appliance
app=
trap '[ -n "$app" ] && kill -9 $app 2>/dev/null || true' EXIT
./build/coinfer-appliance --config conf/appliance.yaml --port 0 --transport udp \
	--policy models/branchy-alexnet.pi4-est.sacd.policy --slo conf/slo/apps.yaml \
	--auth keys --keys "$keys" --metrics-port 0 >"$dir/appliance.out" 2>"$dir/appliance.err" &
app=$!
for _ in $(seq 1 600); do
	grep -q '"listening"' "$dir/appliance.out" 2>/dev/null && break
	kill -0 $app 2>/dev/null || { echo "demo: the appliance did not start:" >&2;
		cat "$dir/appliance.err" >&2; exit 1; }
	sleep 0.1
done
port=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' "$dir/appliance.out" | head -1)
[ -n "$port" ] || { echo "demo: the appliance did not start" >&2; exit 1; }
echo "demo: appliance on 127.0.0.1:$port (udp, auth: keys, SAC-d for pi4-est); $duration s" \
	"of 32 devices..." >&2

# 3. the fleet: exit 1 is an objective missed, which the summary says
set +e
./build/coinfer-fleet --fleet conf/fleet/example.yaml --edge "127.0.0.1:$port" \
	--duration "$duration" --warmup 5 --key-file "$keys" --out "$dir/run.json" \
	--csv "$dir/requests.csv" --quiet >"$dir/summary.txt" 2>"$dir/fleet.err"
rc=$?
set -e
url=$(sed -n 's/.*"metrics": "\([^"]*\)".*/\1/p' "$dir/appliance.out" | head -1)
[ -z "$url" ] || python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$url" >"$dir/metrics.txt" 2>/dev/null || true
kill -TERM $app
wait $app || true
app=
if [ $rc -gt 1 ]; then
	echo "demo: coinfer-fleet failed (exit $rc):" >&2
	cat "$dir/fleet.err" >&2
	exit 1
fi

# 4. the report
./build/coinfer-report "$dir/run.json" --out "$dir/report" >"$dir/report.log" 2>&1 ||
	{ echo "demo: coinfer-report failed:" >&2; cat "$dir/report.log" >&2; exit 1; }
if [ $json = 1 ]; then
	cat "$dir/run.json"
else
	cat "$dir/summary.txt"
	echo "report: $dir/report/report.html (Markdown: $dir/report/report.md)"
fi
