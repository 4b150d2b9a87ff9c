#!/usr/bin/env bash
#===- make_seeds.sh - Regenerates the committed fuzz seed corpora ---------===#
#
# usage: tests/fuzz/make_seeds.sh [BUILD]   (default BUILD: build)
#
# Rewrites tests/fuzz/corpus/ from real files of the repository and from
# what the compiler of BUILD produces:
#   spec/         models/*.json, the golden specs, the CLI test specs (valid
#                 and invalid ones) and the safetensors target's model;
#   safetensors/  that model's weights (xfc-fuzz-make-seeds) and the header
#                 of a real checkpoint (tests/e2e/golden/bert_like), cut
#                 before its data;
#   manifest/     manifest.json of `xfc compile` of example-tiny-bert and of
#                 the tiny model;
#   artifact/     manifest + "==== weights ====" + weights file: the tiny
#                 model whole, example-tiny-bert with its weights cut after
#                 the header.
# Compiles for --cpu x86-64 so the seeds do not depend on the machine.
# regressions/ is never touched: those files are findings, kept by hand.
#
#===----------------------------------------------------------------------===#
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
CORPUS=tests/fuzz/corpus
MARKER=$'\n==== weights ====\n'

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The first 8 + N bytes of a safetensors file: length field and header.
header_only() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
open(sys.argv[2], "wb").write(data[:8 + n])
PY
}

rm -rf "$CORPUS"
mkdir -p "$CORPUS"/{spec,safetensors,manifest,artifact}

for f in models/*.json; do
  cp "$f" "$CORPUS/spec/model-$(basename "$f")"
done
for d in tests/e2e/golden/*/; do
  cp "$d/spec.json" "$CORPUS/spec/golden-$(basename "$d").json"
done
for name in tiny bad-syntax heads-not-dividing missing-field unknown-key \
            unknown-top-key; do
  cp "tests/CLI/Inputs/$name.json" "$CORPUS/spec/cli-$name.json"
done

"$BUILD/bin/xfc-fuzz-make-seeds" "$tmp/fuzz-tiny-encoder.json" \
  "$CORPUS/safetensors/fuzz-tiny-encoder.safetensors"
cp "$tmp/fuzz-tiny-encoder.json" "$CORPUS/spec/fuzz-tiny-encoder.json"
header_only tests/e2e/golden/bert_like/weights.safetensors \
  "$CORPUS/safetensors/golden-bert_like-header-only.safetensors"

"$BUILD/bin/xfc" compile models/example-tiny-bert.json -o "$tmp/tiny-bert" \
  --cpu x86-64 >/dev/null
"$BUILD/bin/xfc" compile "$tmp/fuzz-tiny-encoder.json" -o "$tmp/fuzz-tiny" \
  --cpu x86-64 >/dev/null
cp "$tmp/tiny-bert/manifest.json" "$CORPUS/manifest/example-tiny-bert.json"
cp "$tmp/fuzz-tiny/manifest.json" "$CORPUS/manifest/fuzz-tiny-encoder.json"

weights_of() { /usr/bin/python3 -c \
  'import json,sys; print(json.load(open(sys.argv[1]))["weights_file"])' "$1"; }
{
  cat "$tmp/fuzz-tiny/manifest.json"
  printf '%s' "$MARKER"
  cat "$tmp/fuzz-tiny/$(weights_of "$tmp/fuzz-tiny/manifest.json")"
} > "$CORPUS/artifact/fuzz-tiny-encoder.bin"
header_only "$tmp/tiny-bert/$(weights_of "$tmp/tiny-bert/manifest.json")" \
  "$tmp/tiny-bert-weights-header"
{
  cat "$tmp/tiny-bert/manifest.json"
  printf '%s' "$MARKER"
  cat "$tmp/tiny-bert-weights-header"
} > "$CORPUS/artifact/example-tiny-bert-header-only.bin"

du -sh "$CORPUS"/*
