#!/bin/sh
# coinfer-fleet end to end: two appliances on loopback (an appliance serves one
# transport: tcp for one group, udp for the other, both with the trained SAC-d
# policy), a fleet file of 2 groups (3 devices tcp poisson, 2 devices udp closed)
# over a trace the test writes, 4 s with 1 s of warm-up. Checks the run JSON
# (parses, answered == requests, every record's where is edge|device, both
# applications listed), the CSV (a row per record), exit 0 for a generous SLO
# file, 1 for an impossible one (deadline 0.01 ms), 2 with FILE:LINE: KEY for a
# typo in the fleet file, 3 when no device reaches the edge.
# usage: fleet-tool.sh BUILD_DIR. Skips (77) without CIFAR-10.
set -eu
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
apps=""
trap 'for p in $apps; do kill -9 $p 2>/dev/null || true; done; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
policy="--policy $src/models/branchy-alexnet.pi4-est.sacd.policy"

mkdir -p "$work/tcp" "$work/udp" "$work/traces"
start_appliance "$build" "$work/tcp" --transport tcp $policy
apps="$apps $app" tcp_port=$port
start_appliance "$build" "$work/udp" --transport udp $policy
apps="$apps $app" udp_port=$port

# a link of 20 Mbit/s and 5 Mbit/s in turn, a second each
printf '0 20\n1 5\n' >"$work/traces/link.log"
slo() { # slo FILE DEADLINE_MS
	cat >"$1" <<EOS
applications:
  - name: camera
    deadline_ms: $2
    objective: 0.5
  - name: tagging
    deadline_ms: $2
    objective: 0.5
EOS
}
slo "$work/generous.yaml" 10000
slo "$work/impossible.yaml" 0.01
fleet() { # fleet FILE SLO [COUNT_KEY]
	cat >"$1" <<EOS
slo: $2
traces: traces
groups:
  - name: cams
    ${3:-count}: 3
    class: pi4-est
    application: camera
    trace: link.log
    arrival: {process: poisson, rate_hz: 5}
    transport: tcp
  - name: taggers
    count: 2
    class: pi4-est
    application: tagging
    trace: link.log
    arrival: {process: closed, think_ms: 50}
    transport: udp
EOS
}
fleet "$work/fleet.yaml" generous.yaml
fleet "$work/hard.yaml" impossible.yaml
fleet "$work/typo.yaml" generous.yaml cout

run() { # run FLEET [options]: the exit status into rc
	_f=$1
	shift
	set +e
	"$build/coinfer-fleet" --fleet "$_f" --edge 127.0.0.1:$tcp_port \
		--edge-udp 127.0.0.1:$udp_port --quiet --root "$src" "$@" \
		>"$work/out.txt" 2>"$work/err.txt"
	rc=$?
	set -e
	if grep -q "CIFAR-10 not found" "$work/err.txt"; then
		echo "CIFAR-10 not found: skipping"
		exit 77
	fi
}

run "$work/fleet.yaml" --duration 4 --warmup 1 --out "$work/run.json" --csv "$work/req.csv"
cat "$work/out.txt" "$work/err.txt"
[ $rc = 0 ] || { echo "FAIL: a generous SLO file exited $rc"; exit 1; }
python3 - "$work/run.json" "$work/req.csv" <<'PY'
import csv, json, sys
r = json.load(open(sys.argv[1]))
rows = list(csv.reader(open(sys.argv[2])))
def fail(msg):
    print("FAIL:", msg); print(json.dumps({k: r[k] for k in ("totals", "applications")}, indent=1))
    sys.exit(1)
t, rec = r["totals"], r["records"]
if r["kind"] != "coinfer-fleet" or r["version"] != 1: fail("kind/version")
if t["requests"] < 10: fail(f"only {t['requests']} requests measured")
if t["answered"] != t["requests"]: fail(f"answered {t['answered']} of {t['requests']}")
col = rec["columns"]
where = {row[col.index("where")] for row in rec["rows"]}
if not where <= {"edge", "device"}: fail(f"where {where}")
if len(rec["rows"]) != t["answered"] or rec["truncated"]: fail("records != answered")
if len(rows) - 1 != len(rec["rows"]) or rows[0] != col: fail(f"CSV has {len(rows) - 1} rows")
names = sorted(a["name"] for a in r["applications"])
if names != ["camera", "tagging"]: fail(f"applications {names}")
if not r["verdict"]["passed"]: fail("verdict")
for k in ("fleet_xxh64", "slo_xxh64"):
    if len(r["meta"][k]) != 16: fail(f"meta.{k}")
if not r["timeline"]: fail("no timeline")
print(f"fleet-tool: {t['answered']}/{t['requests']} answered (edge {t['edge']}), "
      f"p99 {t['latency_ms']['p99']} ms, {len(rows) - 1} CSV rows, where {sorted(where)}")
PY

run "$work/hard.yaml" --duration 2 --warmup 0.5 --out "$work/hard.json"
[ $rc = 1 ] || { echo "FAIL: an impossible SLO exited $rc"; cat "$work/err.txt"; exit 1; }
python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["verdict"]; assert not v["passed"] and sorted(v["missed"])==["camera","tagging"], v; print("impossible SLO: exit 1, missed", v["missed"])' "$work/hard.json"

run "$work/typo.yaml" --duration 2 --warmup 0.5
[ $rc = 2 ] || { echo "FAIL: a typo exited $rc"; exit 1; }
grep -Eq 'typo\.yaml:[0-9]+: .*cout' "$work/err.txt" || { echo "FAIL: no FILE:LINE: KEY"; cat "$work/err.txt"; exit 1; }
echo "typo: exit 2, $(cat "$work/err.txt")"

# each group sent to the other transport's appliance: no HELLO is ever answered
run "$work/fleet.yaml" --duration 1 --warmup 0.5 --edge 127.0.0.1:$udp_port \
	--edge-udp 127.0.0.1:$tcp_port
[ $rc = 3 ] || { echo "FAIL: an unreachable edge exited $rc"; cat "$work/out.txt"; exit 1; }
echo "unreachable edge: exit 3"
