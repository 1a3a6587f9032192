# Sourced by the integration scripts. start_appliance BUILD WORK [options...]
# starts coinfer-appliance on a free loopback port (2 workers, one calibration
# run) with its output in WORK/app.out and WORK/app.err, waits until it listens,
# and sets app (its pid) and port; exits 1 with its stderr when it fails.
# $app_wrap, when set, goes in front of the command (ip netns exec NS).
# The wait ends as soon as it listens; its bound (2 minutes) only guards against
# a hung start: calibration on a loaded host can take many seconds.
start_appliance() {
	_build=$1 _work=$2
	shift 2
	${app_wrap:-} "$_build/coinfer-appliance" --port 0 --workers 2 --calibrate-runs 1 "$@" \
		>"$_work/app.out" 2>"$_work/app.err" &
	app=$!
	for _ in $(seq 1 1200); do
		grep -q '"listening"' "$_work/app.out" 2>/dev/null && break
		kill -0 $app 2>/dev/null || { cat "$_work/app.err"; exit 1; }
		sleep 0.1
	done
	port=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' "$_work/app.out" | head -1)
	[ -n "$port" ] || { echo "appliance did not start"; cat "$_work/app.err"; exit 1; }
}

# veth_netns NAME: namespaces NAME-a (the appliance's: a veth end NAME-a, up,
# with no address: DPDK's net_af_packet reads it and answers ARP for
# 10.211.0.2 itself; the io_uring transport's caller adds that address) and
# NAME-b (the agents': NAME-b with 10.211.0.1/24). The agents' end sends full
# checksums (ethtool tx off): an AF_PACKET reader is not told that a checksum
# was left to an offload. Returns 1, saying why and leaving nothing behind,
# when this machine cannot make them.
veth_netns() {
	for _t in ip ethtool; do
		command -v $_t >/dev/null || { echo "no $_t"; return 1; }
	done
	ip netns add "$1-a" 2>/dev/null || { echo "cannot make a network namespace"; return 1; }
	if ! { ip netns add "$1-b" &&
		ip link add "$1-a" type veth peer name "$1-b" &&
		ip link set "$1-a" netns "$1-a" && ip link set "$1-b" netns "$1-b" &&
		ip -n "$1-a" link set lo up && ip -n "$1-a" link set "$1-a" up &&
		ip -n "$1-b" link set lo up && ip -n "$1-b" addr add 10.211.0.1/24 dev "$1-b" &&
		ip -n "$1-b" link set "$1-b" up &&
		ip netns exec "$1-b" ethtool -K "$1-b" tx off >/dev/null; }; then
		echo "cannot set up the veth pair"
		ip netns del "$1-a" 2>/dev/null
		ip netns del "$1-b" 2>/dev/null
		ip link del "$1-a" 2>/dev/null
		return 1
	fi
}
