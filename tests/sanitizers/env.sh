# Sanitizer run-time options of the sanitizer build (docs/reliability.md),
# sourced by scripts/sanitize.sh and scripts/fuzz.sh. Options already set
# in the environment win, so a developer can add to them.
_xfc_supp="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# detect_leaks: leaks are errors (the default on x86-64 Linux; stated so
# nobody wonders).
# allow_user_poisoning=0: LLVM's BumpPtrAllocator (inline, in
# llvm/Support/Allocator.h) poisons each new slab and unpoisons what it
# hands out, but only in instrumented code. When our code opens a slab of an
# MLIR uniquer and the uninstrumented libMLIR.so then carves the rest of it,
# libMLIR's memmove into unpoisoned-never memory is reported as
# use-after-poison (seen in xfc-opt parsing a file with a long path). Only
# LLVM's headers poison manually, so this turns off exactly that.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allow_user_poisoning=0:check_initialization_order=1:strict_init_order=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$_xfc_supp/lsan.supp:print_suppressions=0}
# Our code is built with -fno-sanitize-recover=all, so the first UB report
# ends the process; the stack trace says where.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
unset _xfc_supp
