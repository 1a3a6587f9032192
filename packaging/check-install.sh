#!/bin/sh
# The manual check of the amd64 package on this machine (root; it installs and
# purges a package): dpkg -i, the files, user and enabled unit it leaves, the
# service started (systemctl when systemd runs; else the unit's ExecStart run
# by hand as its user, on free ports, since a container has no systemd), an
# agent answered by it, a reload (the unit's ExecReload: SIGHUP), then dpkg -P
# and nothing of the package left behind.
#
#   packaging/check-install.sh DEB AGENT     (AGENT: a coinfer-agent to run against it)
set -eu
deb=$(realpath "$1") agent=$(realpath "$2")
# systemd's working directory: a models/ folder here would hide the installed one
cd /
unit=/usr/lib/systemd/system/coinfer-appliance.service
wants=/etc/systemd/system/multi-user.target.wants/coinfer-appliance.service
work=$(mktemp -d)
say() { echo "check-install: $*"; }
fail() { echo "check-install: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || { echo "check-install: needs root (it installs a package)"; exit 77; }
if dpkg-query -W -f='${Status}' coinfer-appliance 2>/dev/null | grep -q 'ok installed'; then
	echo "check-install: coinfer-appliance is installed already; not touching it"
	exit 77
fi
cleanup() {
	if [ -n "${app:-}" ]; then kill "$app" 2>/dev/null || true; fi
	dpkg -P coinfer-appliance >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

dpkg -i "$deb" >"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; fail "dpkg -i"; }
dpkg -L coinfer-appliance >"$work/files"
say "installed: $(wc -l <"$work/files") paths"
for f in /usr/bin/coinfer-appliance /etc/coinfer/appliance.yaml "$unit" \
	/usr/share/coinfer/models/branchy-alexnet.cfm; do
	[ -e "$f" ] || fail "$f missing"
done
getent passwd coinfer >/dev/null || fail "no user coinfer"
[ -L "$wants" ] || fail "the unit is not enabled ($wants)"
say "user coinfer, unit enabled: $(readlink "$wants")"
systemd-analyze verify "$unit" >"$work/verify" 2>&1 && say "systemd-analyze verify: ok" ||
	{ say "systemd-analyze verify said:"; sed 's/^/  /' "$work/verify"; }

exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
if [ -d /run/systemd/system ]; then
	systemctl start coinfer-appliance || fail "systemctl start"
	say "systemctl start: $(systemctl is-active coinfer-appliance)"
	port=7878
else
	# no systemd here: ExecStart by hand, as User= with NoNewPrivileges= and
	# LimitMEMLOCK=, on free ports (this machine's tests may hold 7878)
	say "systemd is not PID 1 ($(ps -o comm= -p 1)): running ExecStart as coinfer by hand"
	# shellcheck disable=SC2086 # the unit's words
	memlock="prlimit --memlock=unlimited --"
	$memlock true 2>/dev/null || {
		memlock=
		say "LimitMEMLOCK=infinity not reproduced (no CAP_SYS_RESOURCE here): $(ulimit -l) KiB"
	}
	$memlock setpriv --reuid=coinfer --regid=coinfer --init-groups \
		--no-new-privs $exec_start --port 0 --metrics-port 0 --calibrate-runs 1 \
		>"$work/app.out" 2>"$work/app.err" &
	app=$!
	for _ in $(seq 1 600); do
		grep -q '"listening"' "$work/app.out" 2>/dev/null && break
		kill -0 $app 2>/dev/null || { cat "$work/app.err"; fail "the appliance exited"; }
		sleep 0.1
	done
	port=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' "$work/app.out" | head -1)
	[ -n "$port" ] || { cat "$work/app.err"; fail "no start-up line"; }
	say "start-up line: $(head -n 1 "$work/app.out")"
fi

"$agent" --edge "127.0.0.1:$port" --requests 8 --exit 3 --partition 8 --bits 8 --quiet \
	>"$work/agent.out" 2>"$work/agent.err" || { cat "$work/agent.err"; fail "agent run"; }
say "agent summary: $(tail -n 1 "$work/agent.out")"
grep -q '"edge": 8' "$work/agent.out" || fail "not every request was answered by the appliance"

if [ -n "${app:-}" ]; then
	kill -HUP "$app"
	for _ in $(seq 1 100); do
		grep -q '"event": "reload"' "$work/app.out" && break
		sleep 0.1
	done
	say "reload (SIGHUP): $(grep '"event": "reload"' "$work/app.out" | head -n 1)"
	grep '"event": "reload"' "$work/app.out" | grep -q '"ok": true' || fail "reload"
	kill "$app"
	wait "$app" || true
	app=
else
	systemctl reload coinfer-appliance
	systemctl stop coinfer-appliance
fi

dpkg -P coinfer-appliance >"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; fail "dpkg -P"; }
left=0
while read -r f; do
	[ -d "$f" ] && continue  # /usr, /etc: shared folders
	[ -e "$f" ] && { echo "left: $f"; left=$((left + 1)); }
done <"$work/files"
for d in /etc/coinfer /usr/share/coinfer /var/lib/coinfer "$wants"; do
	[ -e "$d" ] && { echo "left: $d"; left=$((left + 1)); }
done
[ $left -eq 0 ] || fail "$left paths left after dpkg -P"
say "dpkg -P: nothing left (user coinfer stays, as Debian keeps system users)"
