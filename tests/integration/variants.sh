#!/bin/sh
# Seed 003's variant exits served end to end over loopback: an appliance with the
# ResNet-9 (exits 4 pruned, 5 codec, 6 pruned+codec) and an agent per variant at its
# split point, 4 bits, 60 requests each: every request answered by the edge, none
# lost, the answers as accurate as the codec table's entry says give or take the
# sample (at least 0.75 over the first 60 test images), and each frame the size the
# table says (within 25%: the table's mean over 10,000 images). A partition that is
# not the variant's split is refused by the agent, naming it, before any request.
# usage: variants.sh BUILD_DIR. Skips (77) without CIFAR-10.
set -eu
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
app=
trap '[ -n "$app" ] && kill -9 $app 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
model=$src/models/branchy-resnet9.cfm
cd "$src"
start_appliance "$build" "$work" --model "$model"
for v in "4 18" "5 16" "6 21"; do
	set -- $v
	set +e
	"$build/coinfer-agent" --model "$model" --edge 127.0.0.1:$port --requests 60 \
		--exit $1 --partition $2 --bits 4 --deadline-ms 60000 --connect-wait-ms 60000 \
		>"$work/e$1.out" 2>"$work/e$1.err"
	rc=$?
	set -e
	if grep -q "CIFAR-10" "$work/e$1.err"; then
		echo "CIFAR-10 not found: skipping"
		exit 77
	fi
	python3 - "$rc" "$1" "$2" "$work/e$1.out" models/branchy-resnet9.codec.json <<'PY'
import json, sys
rc, e, p, path, table = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:6]
s = [json.loads(l) for l in open(path) if l.strip()][-1]["summary"]
entry = [x for x in json.load(open(table))["entries"]
         if x["exit"] == e and x["partition"] == p and x["bits"] == 4][0]
per = s["bytes_sent"] / s["requests"]
print(f"exit {e} at {p}: {s['answered']}/{s['requests']} by the edge {s['edge']}, "
      f"accuracy {s['accuracy']:.3f} (table {entry['accuracy']:.4f}), {per:.0f} B/request "
      f"(table {entry['bytes']:.0f} B/frame)")
ok = (rc == 0 and s["answered"] == s["requests"] == s["edge"] == 60 and s["lost"] == 0
      and s["accuracy"] >= 0.75 and entry["bytes"] <= per <= 1.25 * entry["bytes"] + 64)
sys.exit(0 if ok else 1)
PY
done
if "$build/coinfer-agent" --model "$model" --edge 127.0.0.1:$port --requests 1 --exit 5 \
	--partition 5 --bits 4 >/dev/null 2>"$work/bad.err"; then
	echo "exit 5 at partition 5 (not its split) accepted"
	exit 1
fi
grep -q "partition 5 of exit 5 is not this variant exit's split point" "$work/bad.err" ||
	{ cat "$work/bad.err"; exit 1; }
kill -TERM $app
wait $app || true
app=
echo "variants: served at their splits; another partition refused"
