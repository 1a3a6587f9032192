#!/usr/bin/env bash
# Installs every Debian 12 package coinfer needs for building, testing and
# benchmarking; --train and --data add offline training and the CIFAR-10 fetcher,
# --report the browser that screenshots coinfer-report's page. Idempotent; run as
# root. Packages already present are skipped so a warm machine pays nothing.
set -euo pipefail

# libyaml-dev: libcyaml.pc links -lyaml, yet libcyaml-dev does not depend on it
build=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev
       liburing-dev libjemalloc-dev libcriterion-dev dpdk-dev libdpdk-dev
       libxxhash-dev libzstd-dev libcjson-dev libcyaml-dev libyaml-dev libmicrohttpd-dev
       libsodium-dev libmnl-dev)
# ethtool: the DPDK tests turn a veth's checksum offload off (af_packet sees partial sums);
# nftables: bench/loss-latency.sh drops packets with nft in network namespaces
net=(iproute2 ethtool nftables)
cross=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
bench=(libdnnl-dev gnuplot-nox)
# promtool checks the appliance's GET /metrics (tests/integration/promtool-metrics.sh);
# it comes with the whole Prometheus server: 19 MB to fetch, 96 MB installed
testing=(prometheus)
train=(python3-torch python3-numpy python3-xxhash)
data=(python3-numpy)
# scripts/report-screenshot.sh: headless Chromium, about 100 MB, so only on demand
report=(chromium)

# --train adds offline training (PyTorch); --data what fetching CIFAR-10 needs;
# --report the screenshot's browser.
want=("${build[@]}" "${net[@]}" "${cross[@]}" "${bench[@]}" "${testing[@]}")
for arg in "$@"; do
	case $arg in
	--train) want+=("${train[@]}") ;;
	--report) want+=("${report[@]}") ;;
	--data)
		want+=("${data[@]}")
		command -v npm >/dev/null || want+=(npm) ;;
	*) echo "install-deps: unknown option $arg (use --train, --data, --report)" >&2; exit 2 ;;
	esac
done

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#want[@]} packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install: ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
