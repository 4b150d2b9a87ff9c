#!/usr/bin/env bash
#===- bench.sh - `make bench`: install the peers, build, measure ----------===#
#
# Installs what the benchmarks need if it is missing (Debian: OpenBLAS,
# PyTorch, matplotlib; PyPI: onnxruntime, into a virtual environment under
# the build folder that also sees Debian's torch and numpy), builds xfc in
# Release with the benchmark programs, then runs bench/run.py, which writes
# bench/results.json and bench/reports/<date>-cpu.md with its plots.
#
# usage: scripts/bench.sh [BUILD_DIR] [-- run.py options...]
#
#===------------------------------------------------------------------------===#
set -euo pipefail

BUILD="${1:-build}"
shift || true
[ "${1:-}" = "--" ] && shift
JOBS="${JOBS:-$(nproc)}"

bash scripts/setup.sh

PACKAGES=(libopenblas-dev libopenblas0-pthread python3-torch
          python3-matplotlib python3-venv)
missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "bench: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime is not packaged by Debian 12. The venv sees Debian's torch,
# numpy and matplotlib (--system-site-packages), so only onnxruntime and its
# small dependencies come from PyPI. A failed install leaves the onnxruntime
# records out (run.py prints why); it does not stop the run.
VENV="$BUILD/bench-venv"
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
if ! "$VENV/bin/python" -c "import onnxruntime" 2>/dev/null; then
  "$VENV/bin/pip" install -q onnxruntime ||
    echo "bench: could not install onnxruntime from PyPI; its records will be skipped" >&2
fi
# transformers (the version the goldens use) for the decode records: the
# GPT-2 checkpoint and the PyTorch peer's cached decoding.
if ! "$VENV/bin/python" -c "import transformers" 2>/dev/null; then
  "$VENV/bin/pip" install -q transformers==4.36.2 ||
    echo "bench: could not install transformers from PyPI; the decode records will be skipped" >&2
fi

if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXFC_BUILD_BENCH=ON
else
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DXFC_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$BUILD" -j "$JOBS" --target xfc xfc_runtime xfc-attention-bench xfc-attention-run
# Without OpenBLAS's headers CMake defines no xfc-gemm-bench target; run.py
# then skips the GEMM records and says why.
cmake --build "$BUILD" -j "$JOBS" --target xfc-gemm-bench ||
  echo "bench: xfc-gemm-bench could not be built; the GEMM records will be skipped" >&2

echo "bench: load average before measuring: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$VENV/bin/python" bench/run.py --build "$BUILD" "$@"
