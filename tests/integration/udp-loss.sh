#!/bin/sh
# Agents and the appliance over UDP with datagrams dropped, duplicated and
# reordered in both directions (seeded --faults on each side: this kernel has
# no netem). usage: udp-loss.sh BUILD_DIR LOSS_PERCENT [dpdk]
# The appliance in a network namespace, on one end of a veth pair, the agents'
# kernel UDP sockets behind the other end in another (both namespaces made
# here and removed on exit). Without dpdk: the io_uring UDP transport on the
# kernel's address of its end (on loopback where namespaces cannot be made).
# With it: the DPDK transport over net_af_packet on that end (77 without
# namespaces), whose mempool must have every mbuf back when it stops.
# Every request ends exactly once (by the edge or, after its tries, on the
# device) and none is lost; the appliance ran each at most once: it ran no more
# requests than the agents sent, answered no more than it ran, and the agents
# took no more edge answers than it gave (copies of a request are answered from
# its answers cache, never run). Every step waits on what the programs print,
# none on elapsed time. Skips (77) without CIFAR-10.
set -eu
build=$1 loss=$2 mode=${3:-uring}
work=$(mktemp -d)
app= ns=
cleanup() {
	[ -z "$app" ] || kill -9 "$app" 2>/dev/null || true
	[ -z "$ns" ] || { ip netns del "$ns-a"; ip netns del "$ns-b"; } 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
p=$(awk "BEGIN { print $loss / 100 }")
faults="drop=$p,dup=0.02,reorder=0.05"

. "$(dirname "$0")/lib.sh"
ns=cf-loss-$$
edge=10.211.0.2 run="ip netns exec $ns-b"
app_wrap="ip netns exec $ns-a"
if [ "$mode" = dpdk ]; then
	veth_netns "$ns" || { ns=; exit 77; }
	start_appliance "$build" "$work" --transport dpdk --faults "$faults,seed=7" \
		--host $edge --port 7878 --workers 1 --dpdk-port net_af_packet0 \
		--dpdk-eal "--no-huge --no-pci -m 256 --file-prefix=$ns --vdev=net_af_packet0,iface=$ns-a"
else
	# the io_uring transport behind the kernel's address on its veth end; on
	# loopback where namespaces cannot be made (the protocol is the same)
	if veth_netns "$ns" && ip -n "$ns-a" addr add $edge/24 dev "$ns-a"; then
		start_appliance "$build" "$work" --transport udp --faults "$faults,seed=7" \
			--host $edge
	else
		echo "udp-loss: on loopback instead"
		ns= edge=127.0.0.1 run= app_wrap=
		start_appliance "$build" "$work" --transport udp --faults "$faults,seed=7"
	fi
fi

agents=16 requests=25
set +e
$run "$build/coinfer-agent" --edge "$edge:$port" --transport udp --faults "$faults,seed=11" \
	--fleet $agents --threads 2 --exit 3 --partition 6 --bits 8 --codec huffman-zrun \
	--requests $requests --deadline-ms 5000 --connect-wait-ms 20000 \
	>"$work/agents.out" 2>"$work/agents.err"
rc=$?
set -e
if grep -q "CIFAR-10 not found" "$work/agents.err"; then
	echo "CIFAR-10 not found: skipping"
	exit 77
fi
kill -TERM $app
wait $app || true
tail -n 1 "$work/agents.out"
grep '"stopped"' "$work/app.out" | tail -n 1
python3 - "$loss" "$rc" "$work/agents.out" "$work/app.out" $((agents * requests)) <<'PY'
import json, sys
loss, rc, path, app_path, n = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
lines = [json.loads(l) for l in open(path) if l.strip()]
s = lines[-1]["summary"]
answers = [l for l in lines[:-1] if "summary" not in l]
stop = [json.loads(l) for l in open(app_path) if '"stopped"' in l][-1]
def fail(msg):
    print("FAIL:", msg); print(json.dumps(s, indent=1)); print(json.dumps(stop, indent=1)); sys.exit(1)
if rc != 0: fail(f"agents exited {rc}")
if s["requests"] != n or s["answered"] != n or s["lost"] != 0:
    fail(f"requests {s['requests']} answered {s['answered']} lost {s['lost']}")
ids = [(a["agent"], a["id"]) for a in answers]
if len(ids) != n or len(set(ids)) != n: fail(f"{len(ids)} answer lines, {len(set(ids))} distinct")
edge = sum(1 for a in answers if a["where"] == "edge")
if stop["requests"] > n: fail(f"the appliance ran {stop['requests']} requests of {n} sent")
if "dpdk" in stop and stop["dpdk"]["mbufs_in_use_at_stop"] != 0:
    fail(f"{stop['dpdk']['mbufs_in_use_at_stop']} mbufs still in use at stop")
if stop["results"] > stop["requests"]: fail(f"{stop['results']} results of {stop['requests']} run")
if edge > stop["results"]: fail(f"{edge} edge answers, {stop['results']} given")
if loss == 0 and edge != n: fail(f"no loss, yet {n - edge} answered on the device")
u = s.get("udp", {})
print(f"udp-loss {stop['transport']} {loss:g}%: {n}/{n} answered once, {edge} by the edge, "
      f"{n - edge} on the device; appliance ran {stop['requests']}, answered {stop['results']}; "
      f"agent retransmissions {u.get('retransmissions')}, fallbacks after tries "
      f"{u.get('fallbacks_after_retries')}; appliance copies answered "
      f"{stop['datagrams'].get('copies_answered')}")
PY
