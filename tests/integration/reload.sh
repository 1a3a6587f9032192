#!/bin/sh
# SIGHUP reloads the appliance's settings (docs/appliance.md, "Reload") over
# loopback: started with --config FILE (max_batch 8), it serves an agent; then
#  - FILE with a typo'd key (and a new max_delay_us): the reload line says ok
#    false, naming FILE:LINE and the key; the agent is still answered;
#  - FILE with max_batch 4: ok true, changed is exactly max_batch (so nothing
#    of the bad file was applied), needs_restart is empty; still answered;
#  - FILE changing port and max_conns too: needs_restart lists max_conns alone
#    (the command line's --port 0 still overrides the file's port).
# Every wait is on a printed line, none on the clock.
# usage: reload.sh BUILD_DIR
set -eu
build=$1
work=$(mktemp -d)
app=
trap '[ -n "$app" ] && kill -9 $app 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

conf=$work/appliance.yaml
printf '# reload test\nmax_batch: 8\nmax_delay_us: 2000\n' >"$conf"
start_appliance "$build" "$work" --config "$conf"

served() { # NAME: an agent's 4 requests; fails unless the edge answered all
	"$build/coinfer-agent" --edge 127.0.0.1:$port --requests 4 --connect-wait-ms 300 \
		>"$work/$1.json" 2>"$work/$1.err"
	_n=$(sed -n 's/.*"summary": {[^}]*"edge": \([0-9]*\).*/\1/p' "$work/$1.json" | tail -1)
	[ "$_n" = 4 ] || { echo "$1: the edge answered ${_n:-none} of 4"; cat "$work/$1.err"; \
		exit 1; }
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

printf '# reload test\nmax_batch: 8\nmax_delay_us: 500\nmax_bacth: 4\n' >"$conf"
line=$(hup 1)
echo "bad: $line"
echo "$line" | grep -q '"ok": false' && echo "$line" | grep -q "$conf:4" &&
	echo "$line" | grep -q 'max_bacth' || { echo "not the bad file's error"; exit 1; }
grep -q 'reload: .*still serving' "$work/app.err" || { cat "$work/app.err"; exit 1; }
served after_bad

# good N NAME BODY CHANGED NEEDS_RESTART: the file's settings, SIGHUP, the lists
good() {
	printf '# reload test\n%b' "$3" >"$conf"
	_line=$(hup $1)
	echo "$2: $_line"
	echo "$_line" | grep -qF "\"ok\": true, \"changed\": [$4], \"needs_restart\": [$5]" ||
		{ echo "$2: not changed [$4], needs_restart [$5]"; exit 1; }
	served "after_$2"
}
good 2 max_batch 'max_batch: 4\nmax_delay_us: 2000\n' '"max_batch"' ''
good 3 restart 'max_batch: 4\nmax_delay_us: 2000\nport: 1\nmax_conns: 512\n' '' '"max_conns"'

kill -TERM $app
wait $app || true
app=
echo "1 passed, 0 failed"
