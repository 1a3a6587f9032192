#!/bin/sh
# SIGHUP reloads the appliance's settings (docs/appliance.md, "Reload") over
# loopback: started with --config FILE (max_batch 8), it serves an agent; then
#  - FILE with a typo'd key (and a new max_delay_us): the reload line says ok
#    false, naming FILE:LINE and the key; the agent is still answered;
#  - FILE with max_batch 4: ok true, changed is exactly max_batch (so nothing
#    of the bad file was applied), needs_restart is empty; still answered;
#  - FILE changing port and max_conns too: needs_restart lists max_conns alone
#    (the command line's --port 0 still overrides the file's port);
#  - policies: started serving a policy for class pi4-est only, a device of
#    class rpi3-edgent has its DECIDEs refused; FILE naming a truncated policy
#    file is refused whole (pi4-est still decided); FILE adding a policy for
#    rpi3-edgent: its DECIDEs are answered, with no restart.
# Every wait is on a printed line, none on the clock.
# usage: reload.sh BUILD_DIR MAKE_POLICY
set -eu
build=$1 make_policy=$2
work=$(mktemp -d)
app=
trap '[ -n "$app" ] && kill -9 $app 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

conf=$work/appliance.yaml
"$make_policy" "$work/pi4.policy" pi4-est 3 250 >/dev/null
"$make_policy" "$work/rpi3.policy" rpi3-edgent 3 250 >/dev/null
head -c 100 "$work/rpi3.policy" >"$work/cut.policy"
pol="policies: [$work/pi4.policy]"
printf '# reload test\nmax_batch: 8\nmax_delay_us: 2000\n%s\n' "$pol" >"$conf"
start_appliance "$build" "$work" --config "$conf"

served() { # NAME: an agent's 4 requests; fails unless the edge answered all
	"$build/coinfer-agent" --edge 127.0.0.1:$port --requests 4 --connect-wait-ms 300 \
		>"$work/$1.json" 2>"$work/$1.err"
	_n=$(sed -n 's/.*"summary": {[^}]*"edge": \([0-9]*\).*/\1/p' "$work/$1.json" | tail -1)
	[ "$_n" = 4 ] || { echo "$1: the edge answered ${_n:-none} of 4"; cat "$work/$1.err"; \
		exit 1; }
}

# decided NAME CLASS: an agent of CLASS asks the edge's policy for 4 requests;
# prints how many DECIDEs the edge answered
decided() {
	"$build/coinfer-agent" --edge 127.0.0.1:$port --requests 4 --connect-wait-ms 300 \
		--class "$2" --edge-decides --codec huffman-zrun --deadline-ms 250 \
		>"$work/$1.json" 2>"$work/$1.err" || { cat "$work/$1.err"; exit 1; }
	sed -n 's/.*"decide": {"answered": \([0-9]*\).*/\1/p' "$work/$1.json" | tail -1
}

# hup N: SIGHUP, then the N-th reload line, once printed
hup() {
	kill -HUP $app
	while [ "$(grep -c '"event": "reload"' "$work/app.out")" -lt "$1" ]; do
		kill -0 $app 2>/dev/null || { echo "the appliance died"; cat "$work/app.err"; \
			exit 1; }
		sleep 0.05
	done
	grep '"event": "reload"' "$work/app.out" | sed -n "$1p"
}

served before

printf '# reload test\nmax_batch: 8\nmax_delay_us: 500\nmax_bacth: 4\n%s\n' "$pol" >"$conf"
line=$(hup 1)
echo "bad: $line"
echo "$line" | grep -q '"ok": false' && echo "$line" | grep -q "$conf:4" &&
	echo "$line" | grep -q 'max_bacth' || { echo "not the bad file's error"; exit 1; }
grep -q 'reload: .*still serving' "$work/app.err" || { cat "$work/app.err"; exit 1; }
served after_bad

# good N NAME BODY CHANGED NEEDS_RESTART: the file's settings, SIGHUP, the lists
good() {
	printf '# reload test\n%b%s\n' "$3" "$pol" >"$conf"
	_line=$(hup $1)
	echo "$2: $_line"
	echo "$_line" | grep -qF "\"ok\": true, \"changed\": [$4], \"needs_restart\": [$5], \"policies\": [$6]" ||
		{ echo "$2: not changed [$4], needs_restart [$5]"; exit 1; }
	served "after_$2"
}
good 2 max_batch 'max_batch: 4\nmax_delay_us: 2000\n' '"max_batch"' '' '"pi4-est"'
good 3 restart 'max_batch: 4\nmax_delay_us: 2000\nport: 1\nmax_conns: 512\n' '' '"max_conns"' \
	'"pi4-est"'

# policies, read again at each reload; CIFAR-10 is needed for requests
if grep -q CIFAR-10 "$work/after_restart.err" 2>/dev/null; then
	echo "no CIFAR-10: the policy part skipped"
else
	n=$(decided rpi3_before rpi3-edgent)
	[ "$n" = 0 ] || { echo "rpi3-edgent decided by the edge ($n) with no policy for it"; exit 1; }
	pol="policies: [$work/pi4.policy, $work/cut.policy]"
	printf '# reload test\nmax_batch: 4\n%s\n' "$pol" >"$conf"
	line=$(hup 4)
	echo "truncated policy: $line"
	echo "$line" | grep -q '"ok": false' && echo "$line" | grep -q 'cut.policy' ||
		{ echo "the truncated policy file was not refused by name"; exit 1; }
	n=$(decided pi4_after_cut pi4-est)
	[ "$n" -ge 1 ] || { echo "pi4-est no longer decided after a refused reload"; exit 1; }
	pol="policies: [$work/pi4.policy, $work/rpi3.policy]"
	good 5 policies 'max_batch: 4\n' '' '' '"pi4-est", "rpi3-edgent"'
	n=$(decided rpi3_after rpi3-edgent)
	[ "$n" -ge 1 ] || { echo "rpi3-edgent not decided by the edge after the reload"; exit 1; }
	echo "rpi3-edgent: $n of 4 DECIDEs answered after the reload, none before"
fi

kill -TERM $app
wait $app || true
app=
echo "1 passed, 0 failed"
