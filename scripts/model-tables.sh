#!/usr/bin/env bash
# Measures what the cost model needs of a model file, into models/: the edge's
# profile (edge-x86: this machine's best kernels, batches 1..32), the AVX2 profile
# the estimated device classes scale (x86-avx2) and the codec table over the
# CIFAR-10 test set (docs/cost-model.md). Thread CPU time, so a busy machine
# does not inflate the profiles; the codec table takes tens of minutes: its exits run in
# parallel, one per core (JOBS, default nproc), and coinfer-codec-tables --merge joins them.
#   usage: scripts/model-tables.sh MODEL [BUILD_DIR] [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 build=${2:-build} data=${3:-../shared/data/cifar10}
name=$(basename "$model" .cfm)
"$build/coinfer-appliance" profile --class edge-x86 --clock cpu --model "$model" \
	--data "$data" --out "models/$name.profile.edge-x86.json"
"$build/coinfer-policy" profile --class x86-avx2 --isa avx2 --clock cpu --model "$model" \
	--data "$data" --out "models/$name.profile.x86-avx2.json"
ct="$build/coinfer-codec-tables"
n=$("$ct" --model "$model" --exit 999999 2>&1 | sed -n 's/.*the model has \([0-9]*\) exits/\1/p')
[ -n "$n" ] || { echo "model-tables: cannot read the exits of $model" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seq 1 "$n" | xargs -P "${JOBS:-$(nproc)}" -I{} sh -c \
	'"$1" --model "$2" --data "$3" --exit {} --tsv "$4/{}.tsv" > "$4/{}.json"' \
	sh "$ct" "$model" "$data" "$tmp"
"$ct" --merge "$(seq -f "$tmp/%g.json" -s, 1 "$n")" > "$tmp/all.json"
{ cat "$tmp/1.tsv"; for e in $(seq 2 "$n"); do tail -n +2 "$tmp/$e.tsv"; done; } \
	> "models/$name.codec.tsv"
mv "$tmp/all.json" "models/$name.codec.json"
