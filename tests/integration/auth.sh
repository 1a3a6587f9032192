#!/bin/sh
# Device identity end to end over loopback (docs/protocol.md, "Device identity"):
# coinfer-keys makes a fleet file (device 100 good, 101 revoked), the appliance
# runs with auth: keys, then coinfer-agent over TRANSPORT (tcp, or udp on both
# sides: CHALLENGE and AUTH as session-0 datagrams) as the good device, the
# revoked one, device 100 with another key, and a device without a key. Only the
# good device is answered by the edge (its summary's "edge" count; the others'
# is 0, their requests run on the device); the appliance counts each refusal;
# no key's hex appears in any output, log or metrics scrape.
# usage: auth.sh BUILD_DIR [TRANSPORT]
set -eu
build=$1
transport=${2:-tcp}
work=$(mktemp -d)
app=
trap '[ -n "$app" ] && kill -9 $app 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

keys="$build/coinfer-keys"
"$keys" create --keys "$work/fleet.keys" --device 100 --out "$work/d100.key" >"$work/k.out"
"$keys" create --keys "$work/fleet.keys" --device 101 --out "$work/d101.key" >>"$work/k.out"
"$keys" revoke --keys "$work/fleet.keys" --device 101 >>"$work/k.out"
"$keys" list --keys "$work/fleet.keys" >"$work/list.out"
grep -qx '100 active' "$work/list.out" && grep -qx '101 revoked' "$work/list.out" ||
	{ echo "list: $(cat "$work/list.out")"; exit 1; }
sed 's/^101 /100 /' "$work/d101.key" >"$work/wrong.key"
chmod 600 "$work/wrong.key"

metrics=
if "$build/coinfer-appliance" --help | grep -q -- --metrics-port; then metrics=1; fi
# no per-device rate limit here (tests/appliance/test-auth.c counts it): the
# agents retry with backoff, and three of them share device id 100
start_appliance "$build" "$work" --transport "$transport" --auth keys --keys "$work/fleet.keys" \
	--auth-rate-device 0 \
	${metrics:+--metrics-port 0}

agent() { # NAME options...: one agent, 4 requests, its edge-answered count
	_n=$1
	shift
	"$build/coinfer-agent" --edge 127.0.0.1:$port --requests 4 --connect-wait-ms 300 \
		--transport "$transport" "$@" \
		>"$work/$_n.json" 2>"$work/$_n.err"
	sed -n 's/.*"summary": {[^}]*"edge": \([0-9]*\).*/\1/p' "$work/$_n.json" | tail -1
}
good=$(agent good --device-id 100 --key-file "$work/d100.key")
revoked=$(agent revoked --device-id 101 --key-file "$work/d101.key")
wrong=$(agent wrong --device-id 100 --key-file "$work/wrong.key")
nokey=$(agent nokey --device-id 100)
echo "edge answers: good $good revoked $revoked wrong $wrong nokey $nokey"
[ "$good" = 4 ] && [ "$revoked" = 0 ] && [ "$wrong" = 0 ] && [ "$nokey" = 0 ] || exit 1
grep -q 'edge says revoked' "$work/revoked.err" && grep -q 'edge says auth-failed' \
	"$work/wrong.err" && grep -q 'edge says auth-failed' "$work/nokey.err" ||
	{ cat "$work"/*.err; exit 1; }

if [ -n "$metrics" ]; then
	url=$(sed -n 's/.*"metrics": "\([^"]*\)".*/\1/p' "$work/app.out" | head -1)
	[ -n "$url" ] || { echo "no metrics URL in the start-up line"; exit 1; }
	if command -v curl >/dev/null; then
		curl -sf "$url" >"$work/metrics.txt"
		grep -Eq 'auth_ok_total [1-9]' "$work/metrics.txt" &&
			grep -Eq 'auth_revoked_total [1-9]' "$work/metrics.txt" &&
			grep -Eq 'auth_failed_total [1-9]' "$work/metrics.txt" &&
			grep -Eq 'refused_devices_total\{reason="revoked"\} [1-9]' "$work/metrics.txt" &&
			grep -Eq 'refused_devices_total\{reason="auth_failed"\} [1-9]' "$work/metrics.txt" ||
			{ grep -E 'auth_|refused_' "$work/metrics.txt"; exit 1; }
	fi
fi
kill -TERM $app
wait $app || true
app=

# no key in anything the programs printed or served
for k in $(awk '{print $2}' "$work/fleet.keys"); do
	if grep -l "$k" "$work"/*.out "$work"/*.err "$work"/*.json "$work"/metrics.txt \
		2>/dev/null; then
		echo "a device key appears in the file(s) above"
		exit 1
	fi
done
echo "1 passed, 0 failed"
