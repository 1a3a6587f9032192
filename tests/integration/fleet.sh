#!/bin/sh
# Appliance + 64 device agents over loopback, 20 requests each with CIFAR-10 test
# images. usage: fleet.sh BUILD_DIR served|killed
#   served: every request is answered by the edge, and each class equals what the
#           C runtime gives locally for the same (exit, bits) (--verify).
#   killed: the appliance is killed (SIGKILL) a second into the run: every
#           request still gets exactly one answer, by on-device fallback.
#   stopped: the appliance is stopped (SIGTERM) a second into the run: it answers
#           what it holds with ERROR shutdown (how many it holds then is a matter
#           of timing), and every request still gets exactly one answer.
# Skips (77) without CIFAR-10.
set -eu
build=$1 mode=$2
work=$(mktemp -d)
trap 'kill -9 $app 2>/dev/null || true; rm -rf "$work"' EXIT
"$build/coinfer-agent" --help >/dev/null
if ! "$build/coinfer-eval" --help >/dev/null 2>&1; then :; fi

. "$(dirname "$0")/lib.sh"
start_appliance "$build" "$work"

common="--edge 127.0.0.1:$port --fleet 64 --threads 2 --requests 20 --exit 3 --partition 6 --bits 8 --codec huffman-zrun"
case $mode in
served)
	set +e
	"$build/coinfer-agent" $common --deadline-ms 5000 --verify --connect-wait-ms 10000 >"$work/agents.out" 2>"$work/agents.err"
	rc=$?
	set -e
	;;
killed | stopped)
	set +e
	"$build/coinfer-agent" $common --interval-ms 50 --deadline-ms 300 --backoff-ms 20,500 >"$work/agents.out" 2>"$work/agents.err" &
	agents=$!
	sleep 1
	if [ "$mode" = killed ]; then kill -9 $app; else kill -TERM $app; fi
	wait $agents
	rc=$?
	set -e
	;;
*) echo "mode served|killed|stopped"; exit 2 ;;
esac
if grep -q "CIFAR-10 not found" "$work/agents.err"; then
	echo "CIFAR-10 not found: skipping"
	exit 77
fi
tail -n 1 "$work/agents.out"
python3 - "$mode" "$rc" "$work/agents.out" <<'PY'
import json, sys
mode, rc, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [json.loads(l) for l in open(path) if l.strip()]
s = lines[-1]["summary"]
answers = [l for l in lines[:-1] if "summary" not in l]
def fail(msg):
    print("FAIL:", msg); print(json.dumps(s, indent=1)); sys.exit(1)
if rc != 0: fail(f"agents exited {rc}")
if s["requests"] != 1280 or s["answered"] != 1280 or s["lost"] != 0:
    fail(f"requests {s['requests']} answered {s['answered']} lost {s['lost']}")
ids = [(a["agent"], a["id"]) for a in answers]
if len(ids) != 1280 or len(set(ids)) != 1280: fail(f"{len(ids)} answer lines, {len(set(ids))} distinct")
if mode == "served":
    if s["edge"] != 1280: fail(f"only {s['edge']} answered by the edge")
    if s["verify"]["mismatches"] != 0: fail("classes differ from the local C runtime")
    bad = [a for a in answers if a["label"] != a["verify_label"]]
    if bad: fail(f"{len(bad)} labels differ: {bad[0]}")
    print(f"served: 1280/1280 by the edge, classes equal to the local runtime, accuracy {s['accuracy']:.4f}")
if mode != "served":
    dev = [a for a in answers if a["where"] == "device"]
    if not dev: fail("no request finished on the device after the stop")
    print(f"{mode}: 1280/1280 answered, {len(dev)} on the device after the stop, none lost, "
          f"fallbacks {s['fallbacks']}")
PY
