#!/bin/sh
# The same fleet shaped two ways, in process and by the kernel (coinfer-fleet
# --netns: tbf on veth pairs), against one appliance (docs/fleet.md, "In process
# or in the kernel"). Runs in a network namespace of its own (unshare -n), the
# appliance on 0.0.0.0 there over UDP with the trained SAC-d policy of pi4-est;
# the fleet file (conf/fleet/fcc.yaml by default: 32 Pi 4 devices on the FCC
# traces, one 100 ms application) first in process, then with --netns.
# usage: fleet-shaping.sh BUILD_DIR [--duration S] [--fleet FILE] [--out DIR]
# Prints one JSON object: per shaping, the run's totals and per application its
# attainment, p99 and accuracy, and the difference of attainment in percentage
# points. The run JSONs stay in --out (default: a temporary folder, removed).
# Exits 77 with the reason without root, namespaces, ip, tc or CIFAR-10.
set -eu
build=${1:?usage: fleet-shaping.sh BUILD_DIR [--duration S] [--fleet FILE] [--out DIR]}
build=$(cd "$build" && pwd)
shift
src=$(cd "$(dirname "$0")/.." && pwd)
duration=60 fleet=$src/conf/fleet/fcc.yaml out=
while [ $# -gt 0 ]; do
	case $1 in
	--duration) duration=$2; shift ;;
	--fleet) fleet=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift ;;
	--out) mkdir -p "$2"; out=$(cd "$2" && pwd); shift ;;
	*) echo "fleet-shaping: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
skip() {
	echo "fleet-shaping: $*: skipping" >&2
	exit 77
}
if [ -z "${FLEET_SHAPING_INSIDE:-}" ]; then
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, veth, tc)"
	for t in unshare ip tc python3; do
		command -v $t >/dev/null || skip "$t not found"
	done
	unshare -n true 2>/dev/null || skip "cannot make a network namespace"
	FLEET_SHAPING_INSIDE=1 exec unshare -n sh "$0" "$build" --duration "$duration" \
		--fleet "$fleet" ${out:+--out "$out"}
fi
ip link set lo up
work=$(mktemp -d)
[ -n "$out" ] || out=$work
app=
trap '[ -n "$app" ] && kill -9 $app 2>/dev/null; rm -rf "$work"' EXIT
. "$src/tests/integration/lib.sh"
start_appliance "$build" "$work" --host 0.0.0.0 --transport udp \
	--policy "$src/models/branchy-alexnet.pi4-est.sacd.policy"
for shaping in process netns; do
	echo "fleet-shaping: $shaping, $duration s..." >&2
	set +e
	"$build/coinfer-fleet" --fleet "$fleet" --edge 127.0.0.1:$port --root "$src" --quiet \
		--duration "$duration" --warmup 5 --out "$out/$shaping.json" \
		$([ $shaping = netns ] && echo --netns) >"$work/$shaping.txt" 2>"$work/$shaping.err"
	rc=$?
	set -e
	cat "$work/$shaping.txt" >&2
	grep -q "CIFAR-10 not found" "$work/$shaping.err" && skip "CIFAR-10 not found"
	[ $rc -le 1 ] || { cat "$work/$shaping.err" >&2; exit 1; }
done
python3 - "$out/process.json" "$out/netns.json" <<'PY'
import json, sys
runs = {}
for name, path in zip(("process", "netns"), sys.argv[1:]):
    r = json.load(open(path))
    t = r["totals"]
    runs[name] = {
        "requests": t["requests"], "answered": t["answered"], "edge": t["edge"],
        "device": t["device"], "throughput_rps": t["throughput_rps"],
        "late_starts": t["schedule"]["late_starts"],
        "fallbacks": r["fallbacks"],
        "applications": {a["name"]: {"deadline_ms": a["deadline_ms"],
                                     "objective": a["objective"],
                                     "attainment": a["attainment"],
                                     "p99_ms": a["latency_ms"]["p99"],
                                     "accuracy": a["accuracy"],
                                     "split_ms": a["split_ms"]}
                         for a in r["applications"]}}
diff = {app: round(100 * (runs["netns"]["applications"][app]["attainment"] -
                          runs["process"]["applications"][app]["attainment"]), 3)
        for app in runs["process"]["applications"]}
print(json.dumps({"fleet_shaping": runs, "attainment_netns_minus_process_pp": diff}))
PY
