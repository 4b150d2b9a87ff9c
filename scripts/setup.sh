#!/usr/bin/env bash
#===- setup.sh - Install what xfc needs, if missing ------------------------===#
#
# Idempotent: checks each Debian package and installs only the missing ones,
# so `make demo` and `make test` can call it every time at no cost.
#
#===------------------------------------------------------------------------===#
set -euo pipefail

PACKAGES=(
  # Build.
  cmake ninja-build g++ make ccache pkg-config
  # LLVM/MLIR 22: libraries, tablegen, lit/FileCheck, and ld.lld which links
  # the artifact's shared library.
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools clang-22 lld-22
  # Libraries and tests.
  nlohmann-json3-dev libgtest-dev
  # The PyTorch oracle that made the golden files (tests/e2e/golden).
  python3 python3-numpy python3-torch
)

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
