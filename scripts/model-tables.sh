#!/usr/bin/env bash
# Measures what the cost model needs of a model file, into models/: the edge's
# profile (edge-x86: this machine's best kernels, batches 1..32), the AVX2 profile
# the estimated device classes scale (x86-avx2) and the codec table over the
# CIFAR-10 test set (docs/cost-model.md). Thread CPU time, so a busy machine
# does not inflate the profiles; the codec table takes tens of minutes.
#   usage: scripts/model-tables.sh MODEL [BUILD_DIR] [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 build=${2:-build} data=${3:-../shared/data/cifar10}
name=$(basename "$model" .cfm)
"$build/coinfer-appliance" profile --class edge-x86 --clock cpu --model "$model" \
	--data "$data" --out "models/$name.profile.edge-x86.json"
"$build/coinfer-policy" profile --class x86-avx2 --isa avx2 --clock cpu --model "$model" \
	--data "$data" --out "models/$name.profile.x86-avx2.json"
"$build/coinfer-codec-tables" --model "$model" --data "$data" \
	--tsv "models/$name.codec.tsv" > "models/$name.codec.json.tmp"
mv "models/$name.codec.json.tmp" "models/$name.codec.json"
