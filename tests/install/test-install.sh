#!/usr/bin/env bash
#===- test-install.sh - The installed package, used as an application would -===#
#
# Installs the build into a temporary prefix (what `make install PREFIX=...`
# does), builds examples/embed against it with find_package(xfc), compiles
# the bundled example model with the installed `xfc`, and checks that the
# example's sentence embedding equals the one computed from `xfc run`'s
# hidden states (masked mean, then L2 normalization, in NumPy), and that the
# installed Python package runs the artifact to the same hidden states.
#
# usage: test-install.sh BUILD_DIR SOURCE_DIR
#
#===------------------------------------------------------------------------===#
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SOURCE=$(cd "$2" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xfc-install-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PREFIX="$WORK/prefix"

cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
for file in lib/libxfc_runtime.so include/xfc/runtime.h include/xfc/runtime.hpp \
            bin/xfc lib/cmake/xfc/xfcConfig.cmake lib/cmake/xfc/xfcConfigVersion.cmake; do
  [ -e "$PREFIX/$file" ] || { echo "FAIL: $file was not installed"; exit 1; }
done
# The runtime is meant to be small: no LLVM or MLIR behind it.
if ldd "$PREFIX/lib/libxfc_runtime.so" | grep -Eq 'libLLVM|libMLIR'; then
  echo "FAIL: the installed runtime links LLVM or MLIR"; exit 1
fi

GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
cmake -S "$SOURCE/examples/embed" -B "$WORK/embed" "${GENERATOR[@]}" \
  -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$WORK/embed" >/dev/null

# The installed compiler, run from outside the build tree.
"$PREFIX/bin/xfc" compile "$SOURCE/models/example-tiny-bert.json" \
  -o "$WORK/artifact" --batch 2 --seq-len 16 >/dev/null

IDS=(5 17 301 42 999 7 0 123 64)
"$WORK/embed/xfc-embed" "$WORK/artifact" "${IDS[@]}" > "$WORK/embedding.txt"

# The same inputs for `xfc run`, and the pooling done by NumPy.
/usr/bin/python3 - "$WORK" "${IDS[@]}" <<'PY'
import sys
import numpy as np
work, ids = sys.argv[1], [int(x) for x in sys.argv[2:]]
input_ids = np.zeros((2, 16), np.int32)
input_ids[:, :len(ids)] = ids
np.save(work + "/input_ids.npy", input_ids)
np.save(work + "/token_type_ids.npy", np.zeros((2, 16), np.int32))
np.save(work + "/lengths.npy", np.full((2,), len(ids), np.int32))
PY
"$PREFIX/bin/xfc" run "$WORK/artifact" \
  --input input_ids="$WORK/input_ids.npy" \
  --input token_type_ids="$WORK/token_type_ids.npy" \
  --input lengths="$WORK/lengths.npy" \
  --output "$WORK/hidden.npy" >/dev/null
/usr/bin/python3 - "$WORK" "${#IDS[@]}" <<'PY'
import sys
import numpy as np
work, n = sys.argv[1], int(sys.argv[2])
hidden = np.load(work + "/hidden.npy").astype(np.float64)
pooled = hidden[0, :n].mean(axis=0)
expected = pooled / np.linalg.norm(pooled)
found = np.loadtxt(work + "/embedding.txt")
if found.shape != expected.shape:
    sys.exit("FAIL: embedding of shape %s, expected %s" % (found.shape, expected.shape))
error = np.abs(found - expected).max()
print("embedding of %d values, max abs difference %.3g" % (found.size, error))
if not error <= 1e-6:
    sys.exit("FAIL: the example's embedding differs from xfc run's")
PY
# The installed Python package finds the installed runtime and compiler by
# itself, and gives the same hidden states.
env -u XFC_RUNTIME_LIBRARY -u XFC_EXECUTABLE \
  PYTHONPATH="$PREFIX/lib/python3/dist-packages" /usr/bin/python3 - "$WORK" "$PREFIX" <<'PY'
import sys
import numpy as np
import xfc
work, prefix = sys.argv[1], sys.argv[2]
if not xfc._capi.__file__.startswith(prefix):
    sys.exit("FAIL: imported xfc from %s, not the installed package" % xfc._capi.__file__)
model = xfc.Model(work + "/artifact")
inputs = {name: np.load("%s/%s.npy" % (work, name)) for name in ("input_ids", "token_type_ids", "lengths")}
hidden = model.run(**inputs)["hidden_states"]
if not np.array_equal(hidden, np.load(work + "/hidden.npy")):
    sys.exit("FAIL: the installed Python package's hidden states differ from xfc run's")
PY
echo "PASS: installed package, example application, Python package and xfc agree"
