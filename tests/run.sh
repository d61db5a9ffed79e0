#!/usr/bin/env bash
# Runs every test and prints one line per test, then "N passed, M failed".
#   build/tests/test_*   C unit tests (exit 0 = pass)
#   tests/test_*.py      conformance/integration tests in the system python
#   tests/test_*.sh      integration tests of the bin/ programs
# --c-only runs only the C unit tests.
# A test may exit 77 to report itself skipped (with the reason on stdout).
# TEST_EMULATOR=qemu-aarch64 runs the C tests through it (make check-arm64).
# TEST_FILTER=substring runs only matching tests; TEST_ONLY="a b.py" only
# those named (make check-tsan); TEST_EXCLUDE="a.py b.py" leaves those out
# (make check-asan: see the Makefile).
# Logs go to $TEST_BUILD/test-logs/.
set -u
cd "$(dirname "$0")/.."
TEST_BUILD=${TEST_BUILD:-build}
export VGGTAP_ROOT=$PWD TEST_BUILD
logs=$TEST_BUILD/test-logs
mkdir -p "$logs"

tests=("$TEST_BUILD"/tests/test_*)
if [ "${1:-}" != "--c-only" ]; then
  tests+=(tests/test_*.py tests/test_*.sh)
fi
filter=${TEST_FILTER:-}

pass=0 fail=0 skip=0 failed=()
for t in "${tests[@]}"; do
  [ -e "$t" ] || continue
  case "$t" in *.o|*.d) continue ;; esac
  name=$(basename "$t")
  [ -n "$filter" ] && [[ "$name" != *$filter* ]] && continue
  [ -n "${TEST_ONLY:-}" ] && [[ " $TEST_ONLY " != *" $name "* ]] && continue
  [[ " ${TEST_EXCLUDE:-} " == *" $name "* ]] && continue
  start=$(date +%s.%N)
  case "$t" in
    *.py) /usr/bin/python3 "$t" >"$logs/$name.log" 2>&1 ;;
    *.sh) bash "$t" >"$logs/$name.log" 2>&1 ;;
    *) ${TEST_EMULATOR:-} "$t" >"$logs/$name.log" 2>&1 ;;
  esac
  rc=$?
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [ $rc -eq 0 ]; then
    pass=$((pass + 1)); echo "PASS $name (${secs}s)"
  elif [ $rc -eq 77 ]; then
    skip=$((skip + 1)); echo "SKIP $name: $(tail -n 1 "$logs/$name.log")"
  else
    fail=$((fail + 1)); failed+=("$name"); echo "FAIL $name (exit $rc, ${secs}s); last lines of $logs/$name.log:"
    tail -n 20 "$logs/$name.log" | sed 's/^/    /'
  fi
done
echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
