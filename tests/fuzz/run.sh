#!/usr/bin/env bash
# Runs libFuzzer targets: tests/fuzz/run.sh BUILD SECONDS OUT TARGET...
#   BUILD    directory of the fuzz_<target> binaries (make fuzz-build: build-fuzz)
#   SECONDS  how long each target runs (-max_total_time)
#   OUT      where new inputs go (OUT/corpus/<target>/, read again on the next run), crash
#            inputs (OUT/crashes/<target>/) and each run's log (OUT/logs/<target>.log)
# Each target reads its seeds in tests/fuzz/corpus/<target>/ but never writes there, and
# uses tests/fuzz/<target>.dict when it exists. One line per target:
#   fuzz <target>: <N> executions, <N> exec/s, <N> crashes
# followed, after a crash, by the report's first lines and the input to reproduce it with.
# Exits 1 if any target crashed (a sanitizer report, a broken property, a leak or a timeout).
set -uo pipefail
build=$1 seconds=$2 out=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
status=0
for t in "$@"; do
  corpus=$out/corpus/$t crashes=$out/crashes/$t log=$out/logs/$t.log
  mkdir -p "$corpus" "$crashes" "$out/logs"
  dict=() seeds=()
  [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
  [ -d "$here/corpus/$t" ] && seeds=("$here/corpus/$t")
  before=$(find "$crashes" -type f | wc -l)
  "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 -artifact_prefix="$crashes/" \
    "${dict[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  execs=$(awk '/^stat::number_of_executed_units:/ {n = $2} END {print n + 0}' "$log")
  rate=$(awk '/^stat::average_exec_per_sec:/ {n = $2} END {print n + 0}' "$log")
  found=$(($(find "$crashes" -type f | wc -l) - before))
  [ "$rc" -ne 0 ] && [ "$found" -eq 0 ] && found=1 # died without leaving an input: still a failure
  echo "fuzz $t: $execs executions, $rate exec/s, $found crashes"
  if [ "$found" -gt 0 ]; then
    status=1
    grep -m1 -B2 -A25 -E '^==[0-9]+==ERROR|runtime error:|property broken|^==[0-9]+== ERROR' "$log" | head -40 | sed 's/^/    /'
    grep -E 'Test unit written to' "$log" | sed 's/^/    /'
    echo "    log: $log"
  fi
done
exit $status
