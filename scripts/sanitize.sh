#!/usr/bin/env bash
#===- sanitize.sh - The AddressSanitizer + UBSan build and its tests -------===#
#
# usage: scripts/sanitize.sh BUILD build [NINJA_TARGET...]
#        scripts/sanitize.sh BUILD test|test-all
#
# Configures BUILD (once) with Debian's clang-22, our code instrumented with
# AddressSanitizer, UndefinedBehaviorSanitizer and libFuzzer coverage
# (-DXFC_SANITIZE=ON -DXFC_FUZZ=ON; LLVM/MLIR stay the prebuilt libraries),
# builds it (or only the given targets), and with `test` runs the sanitizer
# stage's tests: every suite of the runtime, the frontend, the reference
# model and the analyses, the fuzz replays, lit (which runs the instrumented
# xfc and xfc-opt), the per-op and profile/threading end-to-end suites, the
# GPU runtime's launch and module loading through the stand-in libcuda, and
# one golden comparison per model kind. Left out are the other 86 whole-
# model compilations of xfc_e2e_cpu_tests (5 to 6 more minutes on 2 cores);
# `test-all` runs every test (docs/reliability.md has the timings).
#
#===------------------------------------------------------------------------===#
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:?usage: scripts/sanitize.sh BUILD build|test|test-all}
ACTION=${2:-test}
shift $(( $# >= 2 ? 2 : 1 ))
JOBS=${JOBS:-$(nproc)}
# The gtest executables run at build time to list their tests, so the
# options matter for the build too.
source tests/sanitizers/env.sh

if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DXFC_SANITIZE=ON -DXFC_FUZZ=ON
fi
cmake --build "$BUILD" -j "$JOBS" ${1:+--target "$@"}
[ "$ACTION" = build ] && exit 0
cd "$BUILD"
if [ "$ACTION" = test-all ]; then
  ctest --output-on-failure -j "$JOBS"
  exit
fi

# ctest labels: gtest suites carry their executable's name.
LABELS='^(xfc_support_tests|xfc_runtime_tests|xfc_frontend_tests'
LABELS+='|xfc_reference_tests|xfc_memory_plan_tests|xfc_analysis_tests'
LABELS+='|fuzz|lit|xfc_e2e_op_tests|xfc_e2e_profile_tests'
LABELS+='|xfc_e2e_threading_tests|xfc_gpu_launch_tests|xfc_gpu_tests)$'
# One golden comparison per model kind: a whole model compiled by the
# instrumented compiler, run through the instrumented runtime, compared
# with PyTorch and the instrumented reference model.
GOLDENS='^Goldens/GoldenTest\.MatchesPyTorchAndReference/'
GOLDENS+='(bert_like_s7|gpt_like_s7|transformer_aiayn_s7_t5)( |$)'
# The same for GPU artifacts (their runtime paths; the device code runs as
# CPU twins, tests/e2e/GpuGoldenTest.cpp), and the GPU refusals.
GOLDENS+='|^Goldens/GpuGoldenTest\.DeviceCodeOnCpuMatchesPyTorch/'
GOLDENS+='(bert_like_s7|transformer_aiayn_s7_t5)( |$)|^GpuArtifact\.'
ctest --output-on-failure -j "$JOBS" -L "$LABELS"
ctest --output-on-failure -j "$JOBS" -R "$GOLDENS"
