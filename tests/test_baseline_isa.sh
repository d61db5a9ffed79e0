#!/usr/bin/env bash
# test_baseline_isa: the default build runs on any x86-64-v2 CPU. Outside the
# kernel files compiled for one instruction set (*_avx2.c, *_avx512*.c,
# *_amx.c: chosen at run time, base/vt_cpu.h), no object of the library or
# of the programs holds an instruction above that baseline: none encoded
# with VEX or EVEX (AVX, AVX2, FMA, F16C, AVX-512: their mnemonics start with
# v in objdump's AT&T syntax), none using ymm, zmm or mask registers, no
# BMI1/BMI2, LZCNT or MOVBE (tzcnt is allowed: older CPUs run its encoding as
# bsf, and gcc emits it for that reason). A kernel file's instruction set
# leaking into shared code, e.g. through a header's inline function, would
# make a binary that dies with SIGILL on the CPUs it should serve.
set -uo pipefail
source "$(dirname "$0")/vtlib.sh"
B=$ROOT/${TEST_BUILD:-build}
[ "$(uname -m)" = x86_64 ] || { echo "skip: not an x86-64 machine"; exit 77; }
command -v objdump >/dev/null || { echo "skip: objdump is not installed"; exit 77; }
# The compile flags are recorded in the debug info (-g): a build made for
# this CPU (make NATIVE=1) or with another OPT is not what this checks.
producer=$(readelf --debug-dump=info "$B/common/base/vt_common.o" 2>/dev/null | grep -m1 DW_AT_producer)
[[ "$producer" == *-march=x86-64-v2* ]] || { echo "skip: $B was not built for the x86-64-v2 baseline"; exit 77; }

objects=()
for o in "$B"/common/*/*.o "$B"/extract/*.o "$B"/train/*.o; do
  case "$(basename "$o")" in *_avx2.o|*_avx512*.o|*_amx.o) continue ;; esac
  objects+=("$o")
done
failures=0
for o in "${objects[@]}"; do
  bad=$(objdump -d --no-show-raw-insn "$o" |
        awk -F'\t' 'NF >= 2 { split($2, w, " "); m = w[1]
                              if (m ~ /^v/ || $2 ~ /%[yz]mm|%k[0-7]/ ||
                                  m ~ /^(andn|bextr|blsi|blsmsk|blsr|bzhi|lzcnt|mulx|pdep|pext|rorx|sarx|shlx|shrx|movbe)$/)
                                print "    " $2 }' | sort | uniq -c | sort -rn | head -5)
  if [ -n "$bad" ]; then
    echo "FAIL: ${o#"$B"/} has instructions above x86-64-v2:"
    echo "$bad"
    failures=$((failures + 1))
  fi
done
echo "checked ${#objects[@]} objects outside the kernel files"
[ ${#objects[@]} -gt 50 ] || { echo "FAIL: expected the library's and the programs' objects in $B"; exit 1; }
# and the check sees such instructions where they are
kernel=$(objdump -d --no-show-raw-insn "$B/common/net/vt_gemm_avx512.o" | grep -c 'vfmadd.*%zmm')
[ "$kernel" -gt 0 ] || { echo "FAIL: found no AVX-512 FMA in vt_gemm_avx512.o: the check reads nothing"; exit 1; }
[ "$failures" = 0 ]
