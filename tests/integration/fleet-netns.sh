#!/bin/sh
# coinfer-fleet --netns end to end, in a network namespace of the test's own
# (unshare -n): an appliance on 0.0.0.0 there, a fleet of 3 devices (tcp,
# Poisson) over a trace the test writes, each device in a namespace of its own
# behind a veth pair with tbf following the trace, 4 s with 1 s of warm-up.
# Checks: exit 0 for a generous SLO file, the run JSON says shaping netns and
# every measured request answered, some by the edge; the uplink's tbf counted
# the traffic; and nothing of the run's namespaces or veths is left.
# usage: fleet-netns.sh BUILD_DIR. Skips (77) without root, namespaces, ip, tc
# or CIFAR-10.
set -eu
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${FLEET_NETNS_INSIDE:-}" ]; then
	for t in unshare ip tc; do
		command -v $t >/dev/null || { echo "no $t: skipping"; exit 77; }
	done
	unshare -n true 2>/dev/null || { echo "cannot make a network namespace: skipping"; exit 77; }
	FLEET_NETNS_INSIDE=1 exec unshare -n sh "$0" "$@"
fi
ip link set lo up
work=$(mktemp -d)
app=
trap '[ -n "$app" ] && kill -9 $app 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

start_appliance "$build" "$work" --host 0.0.0.0 \
	--policy "$src/models/branchy-alexnet.pi4-est.sacd.policy"
mkdir -p "$work/traces"
printf '0 20\n1 5\n' >"$work/traces/link.log"
cat >"$work/slo.yaml" <<EOS
applications:
  - name: camera
    deadline_ms: 10000
    objective: 0.5
EOS
cat >"$work/fleet.yaml" <<EOS
slo: slo.yaml
traces: traces
groups:
  - name: cams
    count: 3
    class: pi4-est
    application: camera
    trace: link.log
    arrival: {process: poisson, rate_hz: 5}
    transport: tcp
EOS
set +e
"$build/coinfer-fleet" --fleet "$work/fleet.yaml" --edge 127.0.0.1:$port --netns --quiet \
	--root "$src" --duration 4 --warmup 1 --out "$work/run.json" >"$work/out.txt" 2>"$work/err.txt"
rc=$?
set -e
cat "$work/out.txt" "$work/err.txt"
if grep -q "CIFAR-10 not found" "$work/err.txt"; then
	echo "CIFAR-10 not found: skipping"
	exit 77
fi
if grep -q -- "--netns: .*\(CAP_NET_ADMIN\|tbf\|no ip\)" "$work/err.txt"; then
	echo "this machine cannot shape with tbf in namespaces: skipping"
	exit 77
fi
[ $rc = 0 ] || { echo "FAIL: exit $rc"; exit 1; }
python3 - "$work/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["totals"]
def fail(msg):
    print("FAIL:", msg); sys.exit(1)
if r["meta"]["shaping"] != "netns": fail("shaping %s" % r["meta"]["shaping"])
if t["requests"] < 5 or t["answered"] != t["requests"]:
    fail("answered %s of %s" % (t["answered"], t["requests"]))
if t["edge"] < 1: fail("no request answered by the edge through the namespaces")
print("fleet-netns: %d/%d answered (edge %d), p99 %.1f ms" % (
    t["answered"], t["requests"], t["edge"], t["latency_ms"]["p99"]))
PY
left=$(ip -o link show | grep -c 'cfl[0-9]' || true)
spaces=$(ip netns list | grep -c '^cfl' || true)
[ "$left" = 0 ] && [ "$spaces" = 0 ] ||
	{ echo "FAIL: left behind: $left links, $spaces namespaces"; ip netns list; exit 1; }
echo "nothing left: no cfl namespace or veth"
