#!/usr/bin/env bash
# ThreadSanitizer stage: builds the runtime and the concurrency stress
# program (tests/stress/ConcurrencyStress.cpp) with clang-22 and
# -fsanitize=thread in a build of their own (no compiler, no MLIR: nothing
# else is instrumented), compiles the example model with the ordinary
# build's xfc, and runs 8 threads x 200 runs on it under TSan. Any report
# fails the stage (halt_on_error).
#
# The generated model code is not instrumented, and its parallel loops run
# on LLVM's OpenMP runtime (libomp.so.5 from libomp-22-dev, the artifact's
# own dependency), which is not instrumented either: TSan cannot see the
# synchronization inside it: once libomp starts worker threads, TSan
# reports races between libomp's own pthread_mutex_init and
# pthread_mutex_lock calls (false positives; LLVM's Archer tool,
# OMP_TOOL_LIBRARIES=libarcher.so, does not remove them). The stress
# therefore runs with one intra-op thread per run and without
# xfc_model_run (whose temporary context uses one thread per core), so no
# OpenMP worker thread exists; the lit test runs the same program with two
# intra-op threads and xfc_model_run, without TSan, and compares outputs bit
# for bit. No suppressions are needed.
#
# Usage: scripts/test-tsan.sh [BUILD]   (BUILD: the ordinary build, default
# build; its xfc is built if missing). Environment: TSAN_BUILD (default
# build-tsan), TSAN_THREADS (8), TSAN_RUNS (200), JOBS (nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-build}
TSAN_BUILD=${TSAN_BUILD:-build-tsan}
THREADS=${TSAN_THREADS:-8}
RUNS=${TSAN_RUNS:-200}
JOBS=${JOBS:-$(nproc)}
LLVM=/usr/lib/llvm-22

if [[ ! -x $LLVM/bin/clang++ ]]; then
  echo "test-tsan: $LLVM/bin/clang++ not found (apt-get install clang-22)" >&2
  exit 1
fi
if ! ls $LLVM/lib/clang/*/lib/linux/libclang_rt.tsan-x86_64.a >/dev/null 2>&1; then
  echo "test-tsan: the ThreadSanitizer runtime is missing" \
       "(apt-get install libclang-rt-22-dev)" >&2
  exit 1
fi

# The instrumented build: runtime + stress program only.
flags="-fsanitize=thread -g -O1 -fno-omit-frame-pointer"
if [[ ! -f $TSAN_BUILD/build.ninja ]]; then
  cmake -S . -B "$TSAN_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DXFC_BUILD_COMPILER=OFF \
    -DCMAKE_C_COMPILER=$LLVM/bin/clang -DCMAKE_CXX_COMPILER=$LLVM/bin/clang++ \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
    -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null
fi
cmake --build "$TSAN_BUILD" --target xfc-concurrency-stress -j "$JOBS"

# The artifact, compiled by the ordinary (uninstrumented) compiler.
if [[ ! -x $BUILD/bin/xfc ]]; then
  [[ -f $BUILD/build.ninja ]] ||
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" --target xfc -j "$JOBS"
fi
artifact=$TSAN_BUILD/stress-artifact
"$BUILD/bin/xfc" compile models/example-tiny-bert.json -o "$artifact" \
  --batch 2 --seq-len 77 --force >/dev/null

TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
  "$TSAN_BUILD/bin/xfc-concurrency-stress" "$artifact" \
  --threads "$THREADS" --runs "$RUNS" --intra-op 1 --no-model-run
