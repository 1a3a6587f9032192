#!/usr/bin/env bash
# The main job: installs what coinfer needs (as root), builds, finds CIFAR-10
# (../shared/data/cifar10, else data/cifar10, fetched when absent) and evaluates
# the bundled model's exits with the C runtime; JSON on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >&2
[ -f build/build.ninja ] || meson setup build >&2
ninja -C build coinfer-eval >&2
if [ -z "${COINFER_CIFAR10:-}" ] && [ ! -f ../shared/data/cifar10/test_batch.bin ]; then
	bash scripts/install-deps.sh --data >&2
	bash scripts/fetch-cifar10.sh >&2
fi
exec ./build/coinfer-eval "$@"
