#!/bin/sh
# Soak: coinfer-appliance on loopback under the hostile mix of test-hostile
# (512 idle connections, garbage, truncated and lying messages, 4 GB lengths,
# slow senders, resets, non-readers, HELLO floods) while rounds of 64 agents
# send CIFAR-10 requests, a new fleet each round (devices connect, leave,
# reconnect), with one appliance restart on the same port halfway.
# A line per round (sent, edge, fallback, lost) and every 10 s a sample (RSS,
# fds, jemalloc bytes); at the end the idle, fd, heap and SIGTERM checks.
# Exits non-zero when a request is lost or wrong, or a check fails.
# usage: scripts/soak.sh [--build DIR] [--minutes N]   (build, 10)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
minutes=10
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--minutes) minutes=$2; shift 2 ;;
	-h | --help) sed -n '2,10p' "$0"; exit 0 ;;
	*) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
prog=$build/tests/integration/test-hostile
app=$build/coinfer-appliance
if [ ! -x "$prog" ] || [ ! -x "$app" ]; then
	echo "soak.sh: build first: meson setup $build && ninja -C $build" >&2
	exit 2
fi
# the CIFAR-10 and model lookups are relative to the working directory too
cd "$build"
exec "$prog" "$app" --soak --minutes "$minutes"
