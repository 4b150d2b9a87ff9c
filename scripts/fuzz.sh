#!/usr/bin/env bash
#===- fuzz.sh - Runs every fuzz target for a fixed time --------------------===#
#
# usage: scripts/fuzz.sh BUILD [SECONDS] [TARGET...]
#
# Runs BUILD/bin/fuzz_TARGET (default: every target) for SECONDS each
# (default 60), one after the other, starting from the committed seeds and
# regression inputs. New coverage-increasing inputs go to BUILD/fuzz/TARGET
# (kept between runs, never committed); a crash, sanitizer report, timeout or
# contract violation leaves its input in BUILD/fuzz/TARGET-findings/ and
# fails the script. docs/reliability.md says how to turn a finding into a
# regression input.
#
#===------------------------------------------------------------------------===#
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:?usage: scripts/fuzz.sh BUILD [SECONDS] [TARGET...]}
SECONDS_EACH=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(spec safetensors manifest artifact npy fusion_plan)

# Leak checking on; the suppressions cover LLVM/MLIR statics only.
source tests/sanitizers/env.sh

failed=()
for name in "${TARGETS[@]}"; do
  bin="$BUILD/bin/fuzz_$name"
  if [ ! -x "$bin" ]; then
    echo "fuzz: $bin not built (configure with -DXFC_FUZZ=ON; make fuzz does)" >&2
    exit 2
  fi
  work="$BUILD/fuzz/$name"
  findings="$BUILD/fuzz/$name-findings"
  mkdir -p "$work" "$findings"
  dirs=("$work" "tests/fuzz/corpus/$name")
  [ -d "tests/fuzz/regressions/$name" ] && dirs+=("tests/fuzz/regressions/$name")
  # A target's own dictionary, else the manifest/safetensors one (the
  # fusion plan is JSON too; spec keys only for the spec).
  dict=tests/fuzz/dict/$name.dict
  [ -f "$dict" ] || dict=tests/fuzz/dict/artifact.dict
  log="$BUILD/fuzz/$name.log"
  start=$(date +%s)
  set +e
  # -timeout: one input taking a minute is a finding (a hang); -max_len
  # lets mutations grow past the seeds, which the default would cap at the
  # largest seed.
  "$bin" -max_total_time="$SECONDS_EACH" -timeout=60 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -dict="$dict" \
    -artifact_prefix="$findings/" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  echo "fuzz_$name: ${runs:-?} inputs in ${elapsed} s, ${cov:-no coverage line}, exit $rc"
  if [ $rc -ne 0 ]; then
    failed+=("$name")
    tail -n 60 "$log"
    echo "fuzz_$name: finding(s) in $findings/:" && ls -l "$findings"
    echo "fuzz_$name: reproduce with $bin FILE; full log $log"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]}" >&2
  exit 1
fi
