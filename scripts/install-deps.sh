#!/usr/bin/env bash
# Installs every Debian 12 package coinfer needs for building, testing and
# benchmarking; --train and --data add offline training and the CIFAR-10 fetcher,
# --peers the benchmarks' peers, --package what packaging/build-debs.sh needs,
# --report the browser that screenshots coinfer-report's page. Idempotent; run
# as root. Packages already present are skipped so a warm machine pays nothing.
set -euo pipefail

# libyaml-dev: libcyaml.pc links -lyaml, yet libcyaml-dev does not depend on it
build=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev
       liburing-dev libjemalloc-dev libcriterion-dev dpdk-dev libdpdk-dev
       libxxhash-dev libcjson-dev libcyaml-dev libyaml-dev libmicrohttpd-dev
       libsodium-dev libmnl-dev)
# ethtool: the DPDK tests turn a veth's checksum offload off (af_packet sees partial sums);
# nftables: bench/loss-latency.sh drops packets with nft in network namespaces
net=(iproute2 ethtool nftables)
cross=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
# gnuplot draws the figures (tests/integration: figures)
bench=(gnuplot-nox)
# the benchmarks' peers, installed when a benchmark needs one (it prints this
# script's command): oneDNN (coinfer-bench-kernels), zstd (coinfer-bench-codec,
# built only with it), PyTorch (coinfer-bench-model)
peers=(libdnnl-dev libzstd-dev python3-torch)
# packaging/build-debs.sh: dpkg-shlibdeps and dpkg-buildflags, man pages, lintian
package=(dpkg-dev help2man lintian)
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
	--peers) want+=("${peers[@]}") ;;
	--package)
		want+=("${package[@]}")
		arm64_sodium=1 ;;
	--report) want+=("${report[@]}") ;;
	--data)
		want+=("${data[@]}")
		command -v npm >/dev/null || want+=(npm) ;;
	*) echo "install-deps: unknown option $arg (use --train, --data, --peers, --package," \
		"--report)" >&2
		exit 2 ;;
	esac
done

# --package: libsodium for the arm64 agent (its device keys), through multiarch,
# only when installing it upgrades or removes no package of this machine (a
# fresh image whose libc6 is behind the archive's would have it upgraded: then
# the agent is cross-built without keys, and the package says so).
arm64_sodium() {
	local st
	st=$(dpkg-query -W -f='${Status}' libsodium-dev:arm64 2>/dev/null) || true
	[ "$st" != "install ok installed" ] || return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: need root to look at libsodium-dev:arm64" >&2
		return 0
	fi
	local added=
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		dpkg --add-architecture arm64
		added=1
	fi
	apt-get update -qq
	local plan
	plan=$(apt-get -s install --no-install-recommends libsodium-dev:arm64 2>&1) || true
	# an upgrade shows the installed version in brackets after the name
	if grep -qE '^(Remv |Inst [^ ]+ \[)' <<<"$plan" ||
		! grep -q '^Inst libsodium-dev:arm64' <<<"$plan"; then
		echo "install-deps: libsodium-dev:arm64 not installed: it would change" \
			"this machine's packages:"
		grep -E '^(Remv|Inst)' <<<"$plan" | sed 's/^/  /'
		[ -z "$added" ] || { dpkg --remove-architecture arm64; apt-get update -qq; }
		return 0
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends libsodium-dev:arm64
	echo "install-deps: installed libsodium-dev:arm64 (multiarch; no package of this" \
		"machine changed)"
}

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#want[@]} packages present"
	[ -z "${arm64_sodium:-}" ] || arm64_sodium
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
[ -z "${arm64_sodium:-}" ] || arm64_sodium
