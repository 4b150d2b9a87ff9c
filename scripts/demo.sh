#!/usr/bin/env bash
#===- demo.sh - Compile and run the bundled example ------------------------===#
#
# Called by `make demo` after the build: compiles models/example-tiny-bert.json
# into an artifact under BUILD/demo, shows its interface, and runs it on the
# bundled inputs (models/example-inputs), printing an output summary and the
# timing.
#
#===------------------------------------------------------------------------===#
set -euo pipefail
BUILD=${1:-build}
XFC="$BUILD/bin/xfc"
OUT="$BUILD/demo/example-tiny-bert"
INPUTS=models/example-inputs

mkdir -p "$BUILD/demo"
echo "== xfc compile"
"$XFC" compile models/example-tiny-bert.json -o "$OUT" --batch 2 --seq-len 16 --force
echo
echo "== xfc inspect"
"$XFC" inspect "$OUT"
echo
echo "== xfc run"
"$XFC" run "$OUT" \
  --input input_ids="$INPUTS/input_ids.npy" \
  --input token_type_ids="$INPUTS/token_type_ids.npy" \
  --input lengths="$INPUTS/lengths.npy" \
  --output "$BUILD/demo/hidden_states.npy" \
  --warmup 3 --repeat 50 --force
