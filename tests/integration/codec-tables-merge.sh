#!/bin/sh
# coinfer-codec-tables --merge: the tables of --exit runs (what scripts/model-tables.sh
# runs a core each) merged, in any order, are the bytes one run over every exit
# prints; the TSVs likewise. An exit in two tables, another model's table, a table
# over another number of images and a file that is no table are refused by name.
# On the AlexNet over the first 20 test images. usage: codec-tables-merge.sh BUILD_DIR.
# Skips (77) without CIFAR-10.
set -eu
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ct="$build/coinfer-codec-tables --model $src/models/branchy-alexnet.cfm"
cd "$src"
if ! $ct --limit 20 --tsv "$work/all.tsv" >"$work/all.json" 2>"$work/err.txt"; then
	grep -q "CIFAR-10" "$work/err.txt" && { echo "CIFAR-10 not found: skipping"; exit 77; }
	cat "$work/err.txt"
	exit 1
fi
for e in 1 2 3; do
	$ct --limit 20 --exit $e --tsv "$work/e$e.tsv" >"$work/e$e.json" 2>/dev/null
done
$ct --merge "$work/e3.json,$work/e1.json,$work/e2.json" >"$work/merged.json"
cmp "$work/all.json" "$work/merged.json"
{ cat "$work/e1.tsv"; tail -n +2 "$work/e2.tsv"; tail -n +2 "$work/e3.tsv"; } >"$work/merged.tsv"
cmp "$work/all.tsv" "$work/merged.tsv"

refused() { # WHY ARGS...: the merge fails, its error saying WHY
	why=$1
	shift
	if $ct --merge "$@" >/dev/null 2>"$work/err.txt"; then
		echo "--merge $*: accepted"
		exit 1
	fi
	grep -q "$why" "$work/err.txt" || { echo "--merge $*:"; cat "$work/err.txt"; exit 1; }
}
refused "exit 1 is in two tables" "$work/e1.json,$work/e2.json,$work/e1.json"
sed 's/"branchy-alexnet"/"other"/' "$work/e2.json" >"$work/other.json"
refused "another model's table" "$work/e1.json,$work/other.json"
$ct --limit 10 --exit 2 >"$work/ten.json" 2>/dev/null
refused "another number of images" "$work/e1.json,$work/ten.json"
echo '{"model": "branchy-alexnet"}' >"$work/bad.json"
refused "not a codec table" "$work/e1.json,$work/bad.json"
refused "No such file" "$work/e1.json,$work/missing.json"
echo "merge: bytes equal to one run; 5 refusals named"
