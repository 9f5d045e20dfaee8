#!/bin/sh
# Runs every fuzz target for SECONDS seconds each (make fuzz / make fuzz-smoke)
# and prints the executions and executions per second of each.
#   fuzz/run.sh SECONDS [TARGET...]
# Corpora grow in target/fuzz-corpus/<target>/ (git-ignored), seeded from the
# committed fuzz/seeds/<target>/; crashes land in target/fuzz-artifacts/<target>/.
# Builds with optimizations plus debug assertions and overflow checks (-O -a),
# AddressSanitizer (cargo-fuzz's default), on stable through RUSTC_BOOTSTRAP.
set -eu
seconds=${1:?seconds}
shift
targets=${*:-"c_api_model config_bytes estimator_results"}
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz@0.13.2
export RUSTC_BOOTSTRAP=1
flags="-O -a --target-dir ../target/fuzz"
cargo fuzz build $flags
summary=""
for t in $targets; do
  corpus=../target/fuzz-corpus/$t
  artifacts=../target/fuzz-artifacts/$t/
  mkdir -p "$corpus" "$artifacts"
  log=../target/fuzz-$t.log
  echo "fuzz $t for ${seconds}s (log: target/fuzz-$t.log)"
  if ! cargo fuzz run $flags "$t" "$corpus" "seeds/$t" -- \
      -max_total_time="$seconds" -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1; then
    tail -60 "$log"
    echo "fuzz $t: FAILED (reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $flags $t <artifact>)"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  line="fuzz $t: ${runs:-?} executions in ${secs:-?} s (${rate:-?}/s), no failure"
  echo "$line"
  summary="$summary$line
"
done
printf '\n%s' "$summary"
