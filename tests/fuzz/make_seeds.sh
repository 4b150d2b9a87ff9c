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
#                 the header;
#   npy/          files written by NumPy (every dtype xfc reads, format
#                 versions 1.0 to 3.0, a scalar, an empty array);
#   fusion_plan/  the plans --explain-dir writes for the fusion_plan
#                 target's model, with every fusion and with none.
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
mkdir -p "$CORPUS"/{spec,safetensors,manifest,artifact,npy,fusion_plan}

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

/usr/bin/python3 - "$CORPUS/npy" <<'PY'
import sys
import numpy as np
from numpy.lib import format as fmt
out = sys.argv[1]
np.save(out + "/f32-2x3.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
np.save(out + "/i32-ids.npy", np.array([[101, 7592, 102]], dtype=np.int32))
np.save(out + "/i64-lengths.npy", np.array([3, 1], dtype=np.int64))
np.save(out + "/f32-scalar.npy", np.float32(2.5))
np.save(out + "/f32-empty.npy", np.zeros((0, 4), dtype=np.float32))
for major in (2, 3):
    with open(out + "/i32-v%d.npy" % major, "wb") as f:
        fmt.write_array(f, np.array([9, 8, 7], dtype=np.int32),
                        version=(major, 0))
PY

# The plans of the fusion_plan target's model (the safetensors target's, in
# FuzzSafetensorsSpec.h), as --explain-dir writes them, once with every
# fusion and once with none.
for fusion in all none; do
  "$BUILD/bin/xfc" compile "$tmp/fuzz-tiny-encoder.json" -o "$tmp/fp-$fusion" \
    --cpu x86-64 --fusion "$fusion" --explain-dir "$tmp/fp-$fusion-explain" \
    >/dev/null
  cp "$tmp/fp-$fusion-explain/fusion-plan.json" \
    "$CORPUS/fusion_plan/fusion-$fusion.json"
done

du -sh "$CORPUS"/*
