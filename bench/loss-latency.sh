#!/bin/sh
# End-to-end latency of real requests under packet loss, TCP against UDP
# (docs/bench-appliance.md, "Latency under loss: TCP against UDP").
# usage: loss-latency.sh BUILD_DIR [--quick]
# For each loss (0, 1, 5 %) and transport (tcp, udp): coinfer-appliance in one
# network namespace, a closed-loop fleet of coinfer-agent in another, a veth
# pair between them. The kernel drops the packets, the same way for both
# transports and in both directions: an nft rule in each namespace drops
# `numgen random mod 1000 < P*10` of the IPv4 packets arriving on its veth (this
# kernel has no netem, and TCP cannot use the programs' own --faults). They are
# dropped on arrival, not as they leave: a packet dropped in the sender's output
# hook fails its send (EPERM): TCP keeps the segment, unsent, and sends it
# later, never seeing a loss on the link. The veths send no GSO super-packets
# (gso_max_segs 1), so each packet seen is one on the wire: a TCP segment or a
# datagram of at most 1500 bytes.
# Prints one JSON object on stdout; the progress goes to stderr. Every step
# waits on what the programs print, none on elapsed time. Exits 77 with the
# reason on stderr without root, network namespaces, nft or CIFAR-10.
set -eu
build=${1:?usage: loss-latency.sh BUILD_DIR [--quick]}
build=$(cd "$build" && pwd)
quick=${2:-}
skip() {
	echo "loss-latency: $*: skipping" >&2
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, veth, nft)"
for p in ip nft python3; do
	command -v $p >/dev/null || skip "$p not found (Debian: iproute2, nftables, python3)"
done

# The same load for both transports: a fixed fleet in closed loop, one request
# outstanding per agent, the same images (agent k, request j: image k*N + j)
# and one fixed action. The deadline is long enough for TCP's stalls (RTO >=
# 200 ms, doubled per lost retransmission) to be measured rather than cut; a
# request still unanswered then runs on the device and is counted. No PING
# (its padded probes would add traffic of their own) and no breaker (a tripped
# breaker would answer the next requests on the device at once).
agents=8 per_agent=1000
[ "$quick" = --quick ] && per_agent=50
deadline_ms=5000
action="--exit 3 --partition 6 --bits 8 --codec huffman-zrun"
losses="0 1 5"

work=$(mktemp -d)
ns_a=llat$$a ns_b=llat$$b
addr_a=10.214.14.1 addr_b=10.214.14.2
app='' agents_pid=''
cleanup() {
	[ -z "$app" ] || kill -9 "$app" 2>/dev/null || true
	[ -z "$agents_pid" ] || kill -9 "$agents_pid" 2>/dev/null || true
	ip netns del "$ns_a" 2>/dev/null || true
	ip netns del "$ns_b" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Skips (77) before any row when the agent cannot find CIFAR-10.
if ! "$build/coinfer-agent" --device-only --requests 1 --calib-runs 1 --quiet \
	--no-summary >/dev/null 2>"$work/probe.err"; then
	grep -q "CIFAR-10" "$work/probe.err" && skip "$(cat "$work/probe.err")"
	cat "$work/probe.err" >&2
	exit 1
fi

# net_up: fresh namespaces (so that every counter starts at zero), the veth
# pair, and in each namespace the table `loss` counting what arrives on its
# veth and dropping $permille of every 1000 such packets.
net_up() {
	ip netns add "$ns_a" || skip "cannot create network namespaces"
	ip netns add "$ns_b"
	ip link add "${ns_a}v" type veth peer name "${ns_b}v" || skip "cannot create a veth pair"
	net_end "$ns_a" "$addr_a"
	net_end "$ns_b" "$addr_b"
}

net_end() {
	ip link set "${1}v" netns "$1"
	ip -n "$1" link set lo up
	ip -n "$1" link set "${1}v" gso_max_segs 1 up
	ip -n "$1" addr add "$2/24" dev "${1}v"
	ip netns exec "$1" nft -f - <<-EOF || skip "nft cannot load a numgen rule here"
	table ip loss {
		chain in {
			type filter hook prerouting priority 0; policy accept;
			iifname "${1}v" counter
			iifname "${1}v" numgen random mod 1000 < $permille counter drop
		}
	}
	EOF
}

net_down() {
	ip netns del "$ns_a"
	ip netns del "$ns_b"
}

# run_row TRANSPORT LOSS: one row's raw outputs in $work/TRANSPORT-LOSS/.
run_row() {
	t=$1 loss=$2 dir=$work/$1-$2
	mkdir "$dir"
	net_up
	echo "loss-latency: $t at $loss% loss, $agents agents x $per_agent requests" >&2
	start_appliance "$build" "$dir" --transport "$t" --host "$addr_a"
	cut -d' ' -f1 /proc/loadavg >"$dir/load"
	# in the background, so that a signal to the script ends them too
	# shellcheck disable=SC2086 # $action is a list of options
	ip netns exec "$ns_b" "$build/coinfer-agent" --edge "$addr_a:$port" --transport "$t" \
		--fleet $agents --threads 2 --requests $per_agent $action \
		--deadline-ms $deadline_ms --connect-wait-ms 20000 --connect-timeout-ms 5000 \
		--ping-ms 0 --breaker-threshold 0 >"$dir/agents.out" 2>"$dir/agents.err" &
	agents_pid=$!
	rc=0
	wait "$agents_pid" || rc=$?
	agents_pid=
	kill -TERM "$app"
	wait "$app" || true
	app=
	if [ $rc -ne 0 ]; then
		echo "loss-latency: the agents exited $rc" >&2
		cat "$dir/agents.err" >&2
		exit 1
	fi
	for ns in "$ns_a" "$ns_b"; do
		ip netns exec "$ns" nft -j list table ip loss >"$dir/nft-$ns.json"
		ip netns exec "$ns" cat /proc/net/snmp /proc/net/netstat >"$dir/snmp-$ns.txt"
	done
	net_down
}

# shellcheck source=SCRIPTDIR/../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
app_wrap="ip netns exec $ns_a" # start_appliance starts it in A
for loss in $losses; do
	permille=$((loss * 10))
	for t in tcp udp; do
		run_row "$t" "$loss"
	done
done

python3 - "$work" "$ns_a" "$ns_b" "$agents" "$per_agent" "$deadline_ms" "$action" \
	"$losses" <<'PY'
import json, math, sys
work, ns_a, ns_b = sys.argv[1:4]
agents, per_agent, deadline_ms = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
action, losses = sys.argv[7].split(), [int(x) for x in sys.argv[8].split()]

def rank(v, q):
    """Nearest rank, as the agent's own summary computes its quantiles."""
    return v[max(math.ceil(q * len(v)), 1) - 1]

def nft_counts(path):
    """(packets in, packets dropped) on the veth, from the rules' counters."""
    rules = [o["rule"] for o in json.load(open(path))["nftables"] if "rule" in o]
    counts = [next(e["counter"]["packets"] for e in r["expr"] if "counter" in e)
              for r in rules]
    return counts[0], counts[1]

def snmp(path, proto, key):
    rows = [l.split() for l in open(path) if l.startswith(proto + ":")]
    return int(rows[1][rows[0].index(key)])

def row(t, loss):
    d = f"{work}/{t}-{loss}"
    lines = [json.loads(l) for l in open(f"{d}/agents.out") if l.strip()]
    s = lines[-1]["summary"]
    answers = [l for l in lines[:-1] if "summary" not in l]
    lat = sorted(a["latency_ms"] for a in answers)
    stop = [json.loads(l) for l in open(f"{d}/app.out") if '"stopped"' in l][-1]
    arrived = {ns: nft_counts(f"{d}/nft-{ns}.json") for ns in (ns_a, ns_b)}
    sent = sum(c[0] for c in arrived.values())
    dropped = sum(c[1] for c in arrived.values())
    r = {"transport": t, "loss_percent": loss, "requests": s["requests"],
         "answered": s["answered"], "p50_ms": rank(lat, 0.5), "p99_ms": rank(lat, 0.99),
         "p999_ms": rank(lat, 0.999), "max_ms": lat[-1],
         "mean_ms": round(sum(lat) / len(lat), 3),
         "edge_answers": sum(1 for a in answers if a["where"] == "edge"),
         "device_fallbacks": sum(1 for a in answers if a["where"] == "device"),
         "fallbacks": {k: v for k, v in s["fallbacks"].items() if v and k != "total"},
         "wall_s": s["wall_s"], "requests_per_s": round(s["requests"] / s["wall_s"], 1),
         "reconnects": s["reconnects"], "load_avg_1m": float(open(f"{d}/load").read()),
         "packets": {"to_appliance": arrived[ns_a][0],
                     "to_appliance_dropped": arrived[ns_a][1],
                     "to_agents": arrived[ns_b][0], "to_agents_dropped": arrived[ns_b][1],
                     "dropped_percent": round(100 * dropped / sent, 2) if sent else None},
         "appliance": {"requests": stop["requests"], "results": stop["results"],
                       "mean_batch": stop["mean_batch"], "cpu_s": stop["cpu_s"]}}
    if t == "tcp":
        tcp = lambda p, k: sum(snmp(f"{d}/snmp-{ns}.txt", p, k) for ns in (ns_a, ns_b))
        r["tcp"] = {"retransmitted_segments": tcp("Tcp", "RetransSegs"),
                    "rto_timeouts": tcp("TcpExt", "TCPTimeouts"),
                    "loss_probes": tcp("TcpExt", "TCPLossProbes"),
                    "fast_retransmits": tcp("TcpExt", "TCPFastRetrans")}
    else:
        u = s["udp"]
        r["udp_retransmissions"] = u["retransmissions"]
        r["udp_fallbacks_after_retries"] = u["fallbacks_after_retries"]
        r["udp_send_errors"] = u["send_errors"] + stop["datagrams"]["tx_failed"]
        r["appliance"]["copies_answered"] = stop["datagrams"]["copies_answered"]
    return r

rows = [row(t, loss) for loss in losses for t in ("tcp", "udp")]
p99 = {(r["transport"], r["loss_percent"]): r["p99_ms"] for r in rows}
opt = dict(zip(action[0::2], action[1::2]))
print(json.dumps({"loss_latency": {
    "load": {"agents": agents, "requests_per_agent": per_agent,
             "requests": agents * per_agent, "inflight_per_agent": 1, "closed_loop": True,
             "deadline_ms": deadline_ms,
             "action": {"exit": int(opt["--exit"]), "partition": int(opt["--partition"]),
                        "bits": int(opt["--bits"]), "codec": opt["--codec"]},
             "appliance_workers": 2, "agent_threads": 2},
    "network": {"link": "veth, MTU 1500, gso_max_segs 1",
                "loss": "nft in each namespace: numgen random mod 1000 < 10*P, "
                        "IPv4 arriving on its veth"},
    "rows": rows,
    "udp_p99_below_tcp_at_5": p99.get(("udp", 5), math.inf) < p99.get(("tcp", 5), -math.inf)},
}, indent=1))
PY
