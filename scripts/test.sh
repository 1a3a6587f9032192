#!/usr/bin/env bash
# Installs what coinfer needs (as root), builds with warnings as errors and runs
# every test suite: unit, integration, aarch64 (NEON under qemu-user) and fuzz;
# then the unit suite again in an ASan+UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build -Dwerror=true
meson test -C build --print-errorlogs "$@"
[ -f build-sanitize/build.ninja ] ||
	meson setup build-sanitize -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debugoptimized -Dbench=disabled
meson test -C build-sanitize --setup sanitize --suite unit --print-errorlogs
