# Sanitizer run-time options of the sanitizer build (docs/reliability.md),
# sourced by scripts/sanitize.sh and scripts/fuzz.sh. Options already set
# in the environment win, so a developer can add to them.
_xfc_supp="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Leaks are errors (detect_leaks is the default on x86-64 Linux; stated so
# nobody wonders).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$_xfc_supp/lsan.supp:print_suppressions=0}
# Our code is built with -fno-sanitize-recover=all, so the first UB report
# ends the process; the stack trace says where.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
unset _xfc_supp
