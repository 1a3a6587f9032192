#!/usr/bin/env bash
# scripts/report-screenshot.sh DIR [WIDTHxHEIGHT]: DIR/report.html as a real
# browser draws it, into DIR/report.png (headless Chromium from Debian,
# installed on demand: install-deps.sh --report). Looking at it is the check
# that the page, not just its numbers, is readable (docs/report.md).
set -euo pipefail
dir=${1:?usage: report-screenshot.sh DIR [WIDTHxHEIGHT]}
size=${2:-1280x4000}
here=$(cd "$(dirname "$0")" && pwd)
page=$(cd "$dir" && pwd)/report.html
if [ ! -f "$page" ]; then
	echo "report-screenshot: no $page (run coinfer-report --out $dir)" >&2
	exit 2
fi
command -v chromium >/dev/null || "$here/install-deps.sh" --report
# --no-sandbox: Chromium's sandbox refuses to run as root, as CI does; the page
# is our own file. A throwaway profile so that no state of a user's is touched.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
	--user-data-dir="$profile" --window-size="${size/x/,}" \
	--screenshot="$(cd "$dir" && pwd)/report.png" "file://$page" 2>"$profile/log" || {
	cat "$profile/log" >&2
	exit 1
}
echo "report-screenshot: $dir/report.png"
