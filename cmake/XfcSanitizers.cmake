#===- XfcSanitizers.cmake - Sanitizer and libFuzzer instrumentation -------===#
#
# Included by the top-level CMakeLists.txt before any target is defined, so
# the flags reach every library, tool and test of xfc, and nothing else:
# LLVM, MLIR, GoogleTest and the C++ runtime are prebuilt Debian libraries
# and stay uninstrumented (AddressSanitizer still sees their heap through
# its malloc interposition).
#
#   XFC_SANITIZE  AddressSanitizer + UndefinedBehaviorSanitizer; every UB
#                 report is fatal, so a test that triggers one fails.
#   XFC_FUZZ      clang only: coverage instrumentation for libFuzzer
#                 (-fsanitize=fuzzer-no-link) on our code, and the fuzz_*
#                 targets of tests/fuzz linked with libFuzzer.
#
# `make test-sanitize` and `make fuzz` configure one build folder with both
# (docs/reliability.md).
#
#===----------------------------------------------------------------------===#

if(XFC_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR
    "XFC_FUZZ needs clang (libFuzzer ships with it); configure with "
    "-DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22")
endif()

if(XFC_SANITIZE)
  set(XFC_SANITIZER_FLAGS -fsanitize=address,undefined
      -fno-sanitize-recover=all)
  add_compile_options(${XFC_SANITIZER_FLAGS} -fno-omit-frame-pointer
    # Line tables only: reports get file:line frames at a fraction of the
    # build time and disk of full debug info.
    $<IF:$<CXX_COMPILER_ID:Clang>,-gline-tables-only,-g1>)
  add_link_options(${XFC_SANITIZER_FLAGS})
endif()

if(XFC_FUZZ)
  # Coverage feedback for the fuzzers; without libFuzzer linked in, the
  # sanitizer runtime's no-op hooks satisfy the instrumentation, so the
  # ordinary tests of this build run unchanged.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
