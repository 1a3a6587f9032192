#!/bin/sh
# The packages' install check on this machine (root; it installs and purges
# them). For each: dpkg -i, the files, user and enabled unit it leaves, its
# service run (systemctl when systemd is PID 1; else, as in a container, the
# unit's ExecStart by hand as its user), then dpkg -P and nothing of it left.
#  - coinfer-appliance: on free ports, from /, answering all of 8 requests of
#    AGENT (a native coinfer-agent) and a reload (the unit's ExecReload, SIGHUP);
#  - coinfer-agent (arm64, with AGENT_DEB): only where dpkg has arm64 multiarch
#    with the agent's libraries (else skipped, saying why); ExecStart with
#    /etc/coinfer/agent.env, under qemu-aarch64-static, against APPLIANCE (a
#    native coinfer-appliance) with CIFAR-10 linked at /var/lib/coinfer/cifar10
#    from $COINFER_CIFAR10. After the appliance's purge: both packages hold
#    /usr/share/coinfer/models.
#
#   packaging/check-install.sh APPLIANCE_DEB AGENT [AGENT_DEB APPLIANCE]
set -eu
app_deb=$(realpath "$1") agent=$(realpath "$2")
agent_deb=${3:+$(realpath "$3")} appliance=${4:+$(realpath "$4")}
# systemd's working directory: a models/ folder here would hide the installed one
cd /
work=$(mktemp -d)
say() { echo "check-install: $*"; }
fail() { echo "check-install: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || { echo "check-install: needs root (it installs packages)"; exit 77; }
for p in coinfer-appliance coinfer-agent; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		echo "check-install: $p is installed already; not touching it"
		exit 77
	fi
done
cleanup() {
	if [ -n "${app:-}" ]; then kill "$app" 2>/dev/null || true; fi
	rm -f /var/lib/coinfer/cifar10
	dpkg -P coinfer-appliance coinfer-agent >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# install PKG DEB BIN: dpkg -i and what it must leave; 1 when dpkg -i fails
install_pkg() {
	unit=/usr/lib/systemd/system/$1.service
	wants=/etc/systemd/system/multi-user.target.wants/$1.service
	dpkg -i "$2" >"$work/dpkg.out" 2>&1 || return 1
	dpkg -L "$1" >"$work/$1.files"
	for f in "$3" "$unit" /usr/share/coinfer/models/branchy-alexnet.cfm; do
		[ -e "$f" ] || fail "$f missing"
	done
	getent passwd coinfer >/dev/null || fail "no user coinfer"
	[ -L "$wants" ] || fail "the unit is not enabled ($wants)"
	say "$1 installed: $(wc -l <"$work/$1.files") paths, user coinfer, unit enabled"
	if systemd-analyze verify "$unit" >"$work/verify" 2>&1; then
		say "systemd-analyze verify: ok"
	else
		say "systemd-analyze verify said:"
		sed 's/^/  /' "$work/verify"
	fi
	exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
}

# purge PKG: dpkg -P, and nothing of it left behind
purge_pkg() {
	dpkg -P "$1" >"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; fail "dpkg -P $1"; }
	left=0
	while read -r f; do
		[ -d "$f" ] && continue # /usr, /etc: shared folders
		[ -e "$f" ] && { echo "left: $f"; left=$((left + 1)); }
	done <"$work/$1.files"
	for d in /etc/coinfer /usr/share/coinfer /var/lib/coinfer \
		"/etc/systemd/system/multi-user.target.wants/$1.service"; do
		[ -e "$d" ] && { echo "left: $d"; left=$((left + 1)); }
	done
	[ $left -eq 0 ] || fail "$left paths left after dpkg -P $1"
	say "dpkg -P $1: nothing left (user coinfer stays, as Debian keeps system users)"
}

# wait_listening OUT ERR: the appliance's start-up line; sets port
wait_listening() {
	for _ in $(seq 1 600); do
		grep -q '"listening"' "$1" 2>/dev/null && break
		kill -0 "$app" 2>/dev/null || { cat "$2"; fail "the appliance exited"; }
		sleep 0.1
	done
	port=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' "$1" | head -1)
	[ -n "$port" ] || { cat "$2"; fail "no start-up line"; }
}

# $as_unit CMD...: as the unit's User= with NoNewPrivileges= (and LimitMEMLOCK=
# where this machine lets root raise it); a command prefix, so that $! is the
# program's pid
as_unit="prlimit --memlock=unlimited -- setpriv --reuid=coinfer --regid=coinfer --init-groups \
--no-new-privs"
memlock="prlimit --memlock=unlimited --"
$memlock true 2>/dev/null || as_unit=${as_unit#"$memlock "}

check_appliance() {
	install_pkg coinfer-appliance "$app_deb" /usr/bin/coinfer-appliance ||
		{ cat "$work/dpkg.out"; fail "dpkg -i coinfer-appliance"; }
	if [ -d /run/systemd/system ]; then
		systemctl start coinfer-appliance || fail "systemctl start"
		say "systemctl start: $(systemctl is-active coinfer-appliance)"
		port=7878
	else
		limit=$(prlimit --memlock --output=SOFT --noheadings)
		limit="not raised (no CAP_SYS_RESOURCE), $limit bytes"
		$memlock true 2>/dev/null && limit=unlimited
		say "systemd is not PID 1 ($(ps -o comm= -p 1)): ExecStart by hand as coinfer," \
			"on free ports; LimitMEMLOCK: $limit"
		# shellcheck disable=SC2086 # the prefix's and the unit's words
		$as_unit $exec_start --port 0 --metrics-port 0 --calibrate-runs 1 \
			>"$work/app.out" 2>"$work/app.err" &
		app=$!
		wait_listening "$work/app.out" "$work/app.err"
		say "start-up line: $(head -n 1 "$work/app.out")"
	fi
	"$agent" --edge "127.0.0.1:$port" --requests 8 --exit 3 --partition 8 --bits 8 --quiet \
		>"$work/agent.out" 2>"$work/agent.err" ||
		{ cat "$work/agent.err"; fail "agent run"; }
	say "agent summary: $(tail -n 1 "$work/agent.out" | cut -c 1-120)..."
	grep -q '"edge": 8' "$work/agent.out" || fail "not every request answered by the appliance"
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
	purge_pkg coinfer-appliance
}

check_agent() {
	data=${COINFER_CIFAR10:-}
	if [ ! -f "$data/test_batch.bin" ]; then
		say "coinfer-agent: no \$COINFER_CIFAR10, skipped"
		return
	fi
	if ! install_pkg coinfer-agent "$agent_deb" /usr/bin/coinfer-agent; then
		say "coinfer-agent: dpkg -i refused (arm64 multiarch and its libraries needed)," \
			"skipped:"
		grep -i 'depend\|architecture' "$work/dpkg.out" | sed 's/^/  /'
		dpkg -P coinfer-agent >/dev/null 2>&1 || true
		return
	fi
	"$appliance" --port 0 --workers 1 --calibrate-runs 1 >"$work/edge.out" 2>"$work/edge.err" &
	app=$!
	wait_listening "$work/edge.out" "$work/edge.err"
	ln -s "$data" /var/lib/coinfer/cifar10
	# the unit's environment, then ExecStart as systemd expands it: ${EDGE} one
	# word, $AGENT_ARGS split; a short run with a patient deadline (qemu is slow)
	set -a
	# shellcheck source=/dev/null
	. /etc/coinfer/agent.env
	set +a
	# shellcheck disable=SC2034 # read by the eval below
	EDGE=127.0.0.1:$port AGENT_ARGS="--requests 4 --partition 0 --deadline-ms 10000 --quiet"
	eval "set -- $exec_start"
	cmd=$1
	shift
	$as_unit qemu-aarch64-static -L /usr/aarch64-linux-gnu "$cmd" "$@" >"$work/dev.out" \
		2>"$work/dev.err" || { cat "$work/dev.err"; fail "the arm64 agent's ExecStart"; }
	say "arm64 agent (ExecStart under qemu, as coinfer): $(cut -c 1-100 "$work/dev.out")..."
	grep -q '"answered": 4' "$work/dev.out" || fail "the arm64 agent's requests not answered"
	rm /var/lib/coinfer/cifar10
	kill "$app"
	wait "$app" || true
	app=
	purge_pkg coinfer-agent
}

check_appliance
[ -z "$agent_deb" ] || check_agent
