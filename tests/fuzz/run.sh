#!/usr/bin/env bash
# Runs every libFuzzer harness built by `make fuzz-build` (build-fuzz/fuzz/)
# for FUZZ_SECONDS (default 60) from its committed seed corpus
# tests/fuzz/corpus/<name>/, which is read, never written: new inputs go to a
# temporary directory. Fails if any harness crashes, leaks, hits a sanitizer
# report or a timeout; the input that did it is saved as
# build-fuzz/artifacts/<name>-crash-* (add it to the corpus as regress-*
# once fixed). Prints one line per harness with the executions and coverage,
# and the totals.
set -u
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-60}
art=build-fuzz/artifacts
mkdir -p "$art"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TMPDIR=$tmp  # harnesses that need a file write theirs here
fail=0 total=0
for bin in build-fuzz/fuzz/fuzz_*; do
  name=${bin##*/fuzz_}
  seeds=tests/fuzz/corpus/$name
  mkdir -p "$tmp/new-$name"
  log=$art/$name.log
  # -rss_limit_mb: the harnesses bound their own allocations; more is a bug.
  # -timeout: one input taking 10 s is a hang.
  "$bin" "$tmp/new-$name" "$seeds" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$art/$name-" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    echo "fuzz $name: ok, ${execs:-?} executions in ${secs}s, $cov, $(ls "$seeds" | wc -l) seeds"
    total=$((total + ${execs:-0}))
  else
    fail=1
    echo "fuzz $name: FAILED (exit $rc); $log:"
    grep -E 'ERROR|SUMMARY|#[0-9]+ 0x|Test unit written' "$log" | head -30 | sed 's/^/    /'
  fi
done
echo "fuzz: $total executions in all"
exit $fail
