#!/bin/sh
# Builds the Debian packages: coinfer-appliance for amd64 (the appliance and the
# operator's tools, from this machine's build) and coinfer-agent for arm64 (the
# device agent, cross-built with cross/aarch64-linux-gnu.ini), each from a tree
# staged by `meson install --destdir` and packed by `dpkg-deb --build`; then
# runs lintian on both and prints its remaining tags (packaging/README.md
# explains them). The arm64 agent is run under qemu-user before it is packed.
#
#   packaging/build-debs.sh [OUT]     (default OUT: build-deb in the source tree)
#
# OUT receives the .deb files, the build trees (amd64/, arm64/), the staged
# installs (stage-amd64/, stage-arm64/) and the packages' trees (debian/PKG/).
# Needs dpkg-dev, lintian, help2man and the cross compiler: as root it installs
# what is missing (scripts/install-deps.sh --package, which adds libsodium-dev:arm64
# when that changes no package of this machine), otherwise it names them.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
version=$(sed -n "s/^ *version : '\([^']*\)',\$/\1/p" "$src/meson.build")
debver=$version-1
maint=${DEB_MAINTAINER:-$(git -C "$src" log -1 --format='%an <%ae>' 2>/dev/null || true)}
[ -n "$maint" ] || maint="coinfer maintainers <coinfer@users.noreply.github.com>"
qemu="qemu-aarch64-static -L /usr/aarch64-linux-gnu"
log=$out/build.log
: >"$log"

say() { echo "build-debs: $*"; }
die() { echo "build-debs: $*" >&2; exit 1; }

tools_present()
{
	for t in dpkg-shlibdeps lintian help2man aarch64-linux-gnu-gcc qemu-aarch64-static meson; do
		command -v "$t" >/dev/null || return 1
	done
}

# libsodium for the arm64 agent (multiarch) is looked at once per OUT: where
# installing it would change this machine's packages, install-deps says so
# and the agent is built without device keys.
sodium_checked=$out/.arm64-sodium-checked
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
if [ "$(id -u)" -ne 0 ]; then
	tools_present || die "missing tools: run scripts/install-deps.sh --package as root"
elif ! tools_present || { [ ! -e "$sodium_checked" ] && ! installed libsodium-dev:arm64; }; then
	"$src/scripts/install-deps.sh" --package
	: >"$sodium_checked"
fi

# Debian's hardening flags (PIE, stack protector, fortify, relro, bindnow), as
# a package built by debhelper gets them; -O2 goes, the project's -O3 stays.
flags()
{
	DEB_BUILD_MAINT_OPTIONS=hardening=+all DEB_CFLAGS_MAINT_STRIP=-O2 \
		dpkg-architecture -a"$1" -c dpkg-buildflags --get "$2" 2>/dev/null
}

# The programs an operator runs are installed; only they are built (no tests).
build()
{
	arch=$1 dir=$out/$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$src" --prefix=/usr --buildtype=release -Dbench=disabled \
			-Db_pie=true "$@" >>"$log" 2>&1 ||
			{ cat "$log"; die "meson setup $arch failed"; }
	fi
	# regenerated first when meson.build changed, so the list below is current
	nice ninja -C "$dir" build.ninja >>"$log" 2>&1 ||
		{ tail -n 40 "$log"; die "meson regenerate $arch failed"; }
	targets=$(meson introspect "$dir" --targets |
		python3 -c 'import json, sys
print(" ".join(t["name"] for t in json.load(sys.stdin) if t["installed"]))')
	# shellcheck disable=SC2086 # one word per target
	nice ninja -C "$dir" $targets >>"$log" 2>&1 ||
		{ tail -n 40 "$log"; die "build $arch failed"; }
	rm -rf "$out/stage-$arch"
	meson install -C "$dir" --no-rebuild --destdir "$out/stage-$arch" >>"$log" 2>&1 ||
		{ tail -n 40 "$log"; die "meson install $arch failed"; }
}

cross_cflags=$(sed -n "s/^c_args *= *\[\(.*\)\]\$/\1/p" "$src/cross/aarch64-linux-gnu.ini" |
	tr -d "',")
say "amd64: meson build and install (log: $log)"
build amd64 -Dc_args="$(flags amd64 CPPFLAGS) $(flags amd64 CFLAGS)" \
	-Dc_link_args="$(flags amd64 LDFLAGS)"
say "arm64: cross build and install"
build arm64 --cross-file "$src/cross/aarch64-linux-gnu.ini" \
	-Dc_args="$cross_cflags $(flags arm64 CPPFLAGS) $(flags arm64 CFLAGS)" \
	-Dc_link_args="$(flags arm64 LDFLAGS)"

# ---- the packages' trees -------------------------------------------------------------

commit_time=$(git -C "$src" log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$commit_time}"
commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)

# binaries PKG STRIP STAGE PROG...: the programs, stripped as dh_strip does
binaries()
{
	t=$out/debian/$1 strip=$2 stage=$3
	shift 3
	mkdir -p "$t/usr/bin"
	for p in "$@"; do
		install -m 755 "$stage/usr/bin/$p" "$t/usr/bin/$p"
		$strip --remove-section=.comment --remove-section=.note --strip-unneeded \
			"$t/usr/bin/$p"
	done
}

# manpage PKG PROG SUMMARY [RUNNER]: help2man from the program's --help (through
# RUNNER, qemu for arm64: a wrapper of the program's name, which the page takes)
manpage()
{
	t=$out/debian/$1 prog=$2 summary=$3 runner=${4:-}
	exe=$t/usr/bin/$prog
	if [ -n "$runner" ]; then
		mkdir -p "$out/run-$1"
		printf '#!/bin/sh\nexec %s %s "$@"\n' "$runner" "$exe" >"$out/run-$1/$prog"
		chmod 755 "$out/run-$1/$prog"
		exe=$out/run-$1/$prog
	fi
	mkdir -p "$t/usr/share/man/man1"
	help2man -N --no-discard-stderr --version-string="$version" -n "$summary" \
		-o "$t/usr/share/man/man1/$prog.1" "$exe" >>"$log" 2>&1
	gzip -9nf "$t/usr/share/man/man1/$prog.1"
}

# docs PKG README: copyright, changelog, README.Debian, lintian's overrides
docs()
{
	d=$out/debian/$1/usr/share/doc/$1
	mkdir -p "$d"
	install -m 644 "$src/packaging/deb/copyright" "$d/copyright"
	install -m 644 "$src/packaging/deb/$2" "$d/README.Debian"
	{
		printf 'coinfer (%s) unstable; urgency=medium\n\n' "$debver"
		printf '  * Built by packaging/build-debs.sh from commit %s.\n\n' "$commit"
		printf ' -- %s  %s\n' "$maint" "$(date -R -u -d "@$SOURCE_DATE_EPOCH")"
	} >"$d/changelog.Debian"
	gzip -9nf "$d/changelog.Debian"
	mkdir -p "$out/debian/$1/usr/share/lintian/overrides"
	sed "s/#PKG#/$1/" "$src/packaging/deb/lintian-overrides" \
		>"$out/debian/$1/usr/share/lintian/overrides/$1"
}

# control PKG ARCH UNIT CONF SUMMARY DESCRIPTION: DEBIAN/ (control with the shared
# libraries' packages from dpkg-shlibdeps, conffiles, md5sums, maintainer
# scripts for UNIT), the modes Debian expects, then the .deb
pack()
{
	pkg=$1 arch=$2 unit=$3 conf=$4 summary=$5 descr=$6
	t=$out/debian/$pkg
	find "$t" -type d -exec chmod 755 {} +
	find "$t" -type f ! -path "$t/usr/bin/*" -exec chmod 644 {} +
	shlibs=$(cd "$out" && dpkg-architecture -a"$arch" -c \
		dpkg-shlibdeps -O "debian/$pkg"/usr/bin/* 2>>"$log" |
		sed -n 's/^shlibs:Depends=//p')
	[ -n "$shlibs" ] || die "dpkg-shlibdeps found no libraries for $pkg (see $log)"
	mkdir -p "$t/DEBIAN"
	for f in postinst prerm postrm; do
		sed -e "s|#UNIT#|$unit|g" -e "s|#CONF#|$conf|g" "$src/packaging/deb/$f" \
			>"$t/DEBIAN/$f"
		chmod 755 "$t/DEBIAN/$f"
	done
	(cd "$t" && find etc -type f | sort | sed 's|^|/|') >"$t/DEBIAN/conffiles"
	(cd "$t" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
		xargs -0 md5sum) >"$t/DEBIAN/md5sums"
	cat >"$t/DEBIAN/control" <<CTRL
Package: $pkg
Version: $debver
Architecture: $arch
Maintainer: $maint
Installed-Size: $(du -sk --exclude=DEBIAN "$t" | cut -f1)
Depends: adduser, $shlibs
${recommends:+Recommends: $recommends
}Section: net
Priority: optional
Description: $summary
$descr
CTRL
	chmod 644 "$t/DEBIAN/control" "$t/DEBIAN/conffiles" "$t/DEBIAN/md5sums"
	dpkg-deb --root-owner-group -Zxz --build "$t" "$out/${pkg}_${debver}_${arch}.deb" >>"$log"
}

# data STAGE PKG PATH...: files of the staged install, as they are
data()
{
	stage=$1 t=$out/debian/$2
	shift 2
	for p in "$@"; do
		mkdir -p "$t/$(dirname "$p")"
		cp -R "$stage/$p" "$t/$p"
	done
}

pkg_appliance()
{
	s=$out/stage-amd64 pkg=coinfer-appliance
	binaries $pkg strip "$s" coinfer-appliance coinfer-keys coinfer-eval coinfer-policy \
		coinfer-fleet coinfer-report
	data "$s" $pkg usr/share/coinfer etc/coinfer/appliance.yaml etc/coinfer/slo \
		etc/coinfer/fleet \
		usr/lib/systemd/system/coinfer-appliance.service
	manpage $pkg coinfer-appliance "edge appliance of device-edge co-inference"
	manpage $pkg coinfer-keys "device keys of a coinfer fleet"
	manpage $pkg coinfer-eval "accuracy, FLOPs and latency of a coinfer model on CIFAR-10"
	manpage $pkg coinfer-policy "profiles, cost model and learned policies of coinfer"
	manpage $pkg coinfer-fleet "a fleet of emulated devices against a coinfer appliance"
	manpage $pkg coinfer-report "HTML and Markdown report of coinfer fleet runs and benchmarks"
	docs $pkg README.Debian.appliance
	# coinfer-report draws with gnuplot, coinfer-fleet --netns shapes with tc
	recommends="gnuplot-nox, iproute2"
	pack $pkg amd64 coinfer-appliance.service /etc/coinfer/appliance.yaml \
		"edge appliance for device-edge co-inference of DNNs" \
" coinfer splits a multi-exit CNN between devices and an edge server: the
 devices (coinfer-agent) run the head layers of each request and send the
 quantized, entropy-coded tensor; this appliance batches the tail layers of
 many devices on io_uring (TCP or UDP) or DPDK, within each request's deadline.
 .
 The package holds coinfer-appliance and its systemd unit (reload on SIGHUP),
 coinfer-keys (device identity), coinfer-fleet (load from emulated devices),
 coinfer-report, coinfer-policy and coinfer-eval, the bundled
 branchy AlexNet for CIFAR-10 with its codec tables, profiles and trained
 policies, the device classes, and example settings in /etc/coinfer."
}

pkg_agent()
{
	s=$out/stage-arm64 pkg=coinfer-agent
	binaries $pkg aarch64-linux-gnu-strip "$s" coinfer-agent
	data "$s" $pkg usr/share/coinfer/models etc/coinfer/agent.env \
		usr/lib/systemd/system/coinfer-agent.service
	manpage $pkg coinfer-agent "device agent of device-edge co-inference" "$qemu"
	docs $pkg README.Debian.agent
	keys=" With libsodium: device keys (--device-id, --key-file) answer the
 appliance's challenge."
	aarch64-linux-gnu-readelf -d "$out/debian/$pkg/usr/bin/coinfer-agent" | grep -q libsodium ||
		keys=" Built without libsodium (libsodium-dev:arm64 was not installed): device
 keys (--key-file) are refused, so the appliance must run with auth: none."
	recommends=
	pack $pkg arm64 coinfer-agent.service /etc/coinfer/agent.env \
		"device agent for device-edge co-inference of DNNs" \
" coinfer splits a multi-exit CNN between devices and an edge server: this
 agent runs the head layers of each request on the device (NEON kernels for
 the Raspberry Pi 4's Cortex-A72), sends the quantized, entropy-coded tensor
 to a coinfer appliance over TCP or UDP, and finishes the request on the device
 when the edge is slow, unreachable or refuses.
 .
 The package holds coinfer-agent, a systemd unit running it as a standing
 workload against the appliance of /etc/coinfer/agent.env, and the bundled
 model with its trained policies. CIFAR-10's test batch, its input, is not
 shipped.
$keys"
}

rm -rf "$out/debian"
mkdir -p "$out/debian"
# dpkg-shlibdeps reads debian/control
printf 'Source: coinfer\n\nPackage: %s\nArchitecture: %s\n\nPackage: %s\nArchitecture: %s\n' \
	coinfer-appliance amd64 coinfer-agent arm64 >"$out/debian/control"

say "coinfer-appliance (amd64)"
pkg_appliance
say "coinfer-agent (arm64): under qemu first"
$qemu "$out/stage-arm64/usr/bin/coinfer-agent" --help | head -n 1
pkg_agent

say "lintian"
for deb in "$out/coinfer-appliance_${debver}_amd64.deb" "$out/coinfer-agent_${debver}_arm64.deb"; do
	lintian -I "$deb" >"$deb.lintian" 2>&1 || true
	tags=$(grep -c '^[EWIP]:' "$deb.lintian" || true)
	say "$(basename "$deb"): $tags lintian tags"
	grep '^[EWIP]:' "$deb.lintian" | sed 's/^/  /' || true
done
ls -l "$out"/*.deb
