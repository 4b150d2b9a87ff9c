#!/usr/bin/env bash
#===- setup.sh - Install what xfc needs, if missing ------------------------===#
#
# Idempotent: checks each Debian package and installs only the missing ones,
# so `make demo` and `make test` can call it every time at no cost.
# `setup.sh --with-oracle` adds PyTorch, for regenerating the goldens.
#
#===------------------------------------------------------------------------===#
set -euo pipefail

PACKAGES=(
  # Build.
  cmake ninja-build g++ make ccache pkg-config
  # LLVM/MLIR 22: libraries, tablegen, lit/FileCheck, and ld.lld which links
  # the artifact's shared library.
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools clang-22 lld-22
  # LLVM's OpenMP runtime: parallel kernels of the artifacts run on it.
  libomp-22-dev
  # clang-22's sanitizer and libFuzzer runtimes, for `make test-sanitize`
  # and `make fuzz` (docs/reliability.md).
  libclang-rt-22-dev
  # Libraries and tests.
  nlohmann-json3-dev libgtest-dev
  # NumPy checks the .npy reader and writer against the real thing; pytest
  # runs the Python package's tests (python/tests).
  python3 python3-numpy python3-pytest
)
# The PyTorch oracle is needed only to regenerate the committed golden files
# (`make goldens`), so the test command does not pay for installing it.
if [ "${1:-}" = "--with-oracle" ]; then
  PACKAGES+=(python3-torch)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
