#!/bin/sh
# Suite `package`: packaging/build-debs.sh builds both Debian packages into
# BUILD/package-debs (kept: a second run rebuilds incrementally); then
#  - `dpkg-deb --contents` of each holds the files a user expects;
#  - lintian leaves no error nor warning (overrides: packaging/deb/lintian-overrides);
#  - the arm64 agent of the package runs under qemu-aarch64: --help, two requests
#    on the device, `profile --exit 1` (50 runs, the fewest it takes);
#  - as root, packaging/check-install.sh: for each package dpkg -i, the service
#    run (the appliance answering an agent and reloading; the arm64 agent under
#    qemu where dpkg has arm64 multiarch), dpkg -P leaving nothing.
# Exit 77 (skip) when the tools are missing and this is not root to install them.
#
#   package.sh SRC BUILD
set -eu
src=$1 build=$2
out=$build/package-debs
for t in dpkg-shlibdeps lintian help2man aarch64-linux-gnu-gcc qemu-aarch64-static; do
	command -v $t >/dev/null && continue
	[ "$(id -u)" -eq 0 ] && break
	echo "no $t (scripts/install-deps.sh --package as root): skipped"
	exit 77
done
"$src/packaging/build-debs.sh" "$out"
debver=$(dpkg-deb -f "$out"/coinfer-appliance_*_amd64.deb Version)
app_deb=$out/coinfer-appliance_${debver}_amd64.deb
agent_deb=$out/coinfer-agent_${debver}_arm64.deb

# contents DEB PATH...: each PATH is in the package
contents() {
	deb=$1
	shift
	dpkg-deb --contents "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$deb.list"
	for p in "$@"; do
		grep -qx "$p" "$deb.list" || { echo "$(basename "$deb") lacks $p"; exit 1; }
	done
	echo "$(basename "$deb"): $(grep -vc '/$' "$deb.list") files, the expected ones among them"
}
contents "$app_deb" /usr/bin/coinfer-appliance /usr/bin/coinfer-keys /usr/bin/coinfer-eval \
	/usr/bin/coinfer-policy /usr/bin/coinfer-fleet /usr/bin/coinfer-report \
	/etc/coinfer/appliance.yaml /etc/coinfer/slo/apps.yaml \
	/etc/coinfer/fleet/example.yaml /usr/lib/systemd/system/coinfer-appliance.service \
	/usr/share/coinfer/models/branchy-alexnet.cfm /usr/share/coinfer/conf/devices/pi4-est.yaml \
	/usr/share/man/man1/coinfer-appliance.1.gz /usr/share/doc/coinfer-appliance/copyright \
	/usr/share/doc/coinfer-appliance/changelog.Debian.gz
contents "$agent_deb" /usr/bin/coinfer-agent /etc/coinfer/agent.env \
	/usr/lib/systemd/system/coinfer-agent.service \
	/usr/share/coinfer/models/branchy-alexnet.cfm \
	/usr/share/man/man1/coinfer-agent.1.gz /usr/share/doc/coinfer-agent/copyright
[ "$(dpkg-deb -f "$agent_deb" Architecture)" = arm64 ] || { echo "agent not arm64"; exit 1; }
dpkg-deb --info "$app_deb" | grep -q 'conffiles' || { echo "no conffiles"; exit 1; }

for deb in "$app_deb" "$agent_deb"; do
	if grep -E '^(E|W):' "$deb.lintian"; then
		echo "lintian: errors or warnings in $(basename "$deb")"
		exit 1
	fi
done
echo "lintian: no error, no warning"

# the package's own agent binary, unpacked
root=$out/agent-root
rm -rf "$root"
dpkg-deb -x "$agent_deb" "$root"
qemu="qemu-aarch64-static -L /usr/aarch64-linux-gnu"
model=$root/usr/share/coinfer/models/branchy-alexnet.cfm
$qemu "$root/usr/bin/coinfer-agent" --help | head -n 1
# where the build tree's programs look (cli/paths.c); the package's looks in /var/lib
data=${COINFER_CIFAR10:-}
for d in "$src/../shared/data/cifar10" "$src/data/cifar10"; do
	[ -z "$data" ] && [ -f "$d/test_batch.bin" ] && data=$d
done
if [ -z "$data" ]; then
	echo "agent under qemu: CIFAR-10 not found, requests and profile skipped"
else
	$qemu "$root/usr/bin/coinfer-agent" --model "$model" --data "$data" --device-only --exit 1 \
		--requests 2 --quiet >"$out/agent-run.json"
	grep -q '"answered": 2' "$out/agent-run.json" || { cat "$out/agent-run.json"; exit 1; }
	echo "agent under qemu: 2 requests on the device answered"
	$qemu "$root/usr/bin/coinfer-agent" profile --model "$model" --data "$data" --exit 1 \
		--runs 50 --warmup 1 --out "$out/agent-profile.json" 2>"$out/agent-profile.err"
	grep -q '"isa":	"neon"' "$out/agent-profile.json" ||
		{ echo "profile not on neon"; exit 1; }
	echo "agent profile under qemu: $(tail -n 1 "$out/agent-profile.err")"
fi

if [ "$(id -u)" -eq 0 ]; then
	COINFER_CIFAR10=$data "$src/packaging/check-install.sh" "$app_deb" "$build/coinfer-agent" \
		"$agent_deb" "$build/coinfer-appliance" || {
		rc=$?
		[ $rc -eq 77 ] && echo "install check skipped" && exit 0
		exit $rc
	}
else
	echo "not root: the install check (packaging/check-install.sh) skipped"
fi
