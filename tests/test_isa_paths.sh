#!/usr/bin/env bash
# test_isa_paths: every kernel path this CPU can run is selected with
# VGGTAP_ISA (base/vt_cpu.h) and named by the programs' --version, and each
# path below the CPU's best (which the rest of the suite runs) passes the
# kernel tests against the naive references: test_conv (every conv, pool
# and GEMM kernel on odd shapes), test_vgg (the whole forward pass),
# test_image (resize and preprocessing against their scalar passes),
# test_convnet_grad and test_convnet_train (the conv head's layers against
# finite differences, and its training, bitwise the same across thread
# counts on that path: train/vt_convnet_simd.h); and,
# except under make check-asan, the conformance tests against PyTorch
# (test_vgg_torch.py, test_conformance_torch.py, and the conv head's
# test_convnet_torch.py: its Winograd products run on the path's GEMM) and
# the extraction test (test_extract_store.py).
# And the avx2 and avx512 paths give the same bits: their GEMMs sum in the
# same order with the same fused multiply-adds and every other kernel is
# lane by lane the same (net/vt_gemm.h), so a store does not depend on
# which of the two wrote it: vt_forward_dump through block5_pool on seeded
# random weights, compared byte for byte.
set -uo pipefail
source "$(dirname "$0")/vtlib.sh"
B=$ROOT/${TEST_BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# the paths up to the CPU's best float32 one, lowest first
best=$(env -u VGGTAP_ISA "$B/tests/test_cpu" --print | cut -d'|' -f1)
paths=()
for p in portable avx2 avx512; do
  paths+=("$p")
  [ "$p" = "$best" ] && break
done
[[ " avx512bf16 amx " == *" $best "* ]] && paths=(portable avx2 avx512)
default=${paths[-1]}
echo "CPU's best path: $best; float32 paths run here: ${paths[*]}"

run() { # name, command...: runs it, keeps its output on failure
  local name=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then
    echo "ok: $name"
  else
    echo "FAIL: $name (exit $?):"
    tail -n 20 "$tmp/out" | sed 's/^/    /'
    failures=$((failures + 1))
  fi
}

for p in "${paths[@]}"; do
  # the programs say which path runs
  for prog in vggtap-extract vggtap-predict vggtap-info; do
    if VGGTAP_ISA=$p "$BIN/$prog" --version | grep -q "^kernels: $p "; then
      echo "ok: VGGTAP_ISA=$p $prog --version names it"
    else
      echo "FAIL: VGGTAP_ISA=$p $prog --version: $(VGGTAP_ISA=$p "$BIN/$prog" --version 2>&1 | tr '\n' ' ')"
      failures=$((failures + 1))
    fi
  done
  [ "$p" = "$default" ] && continue # the suite itself runs the tests on it
  for t in test_conv test_vgg test_image test_convnet_grad test_convnet_train; do
    run "VGGTAP_ISA=$p $t" env VGGTAP_ISA=$p "$B/tests/$t"
  done
  # Under make check-asan (VGGTAP_BIN: sanitized programs) the kernel tests
  # above are what the sanitizers add; the conformance reruns are numerics
  # the plain suite checks, and take most of this test's time.
  [ -n "${VGGTAP_BIN:-}" ] && continue
  for t in test_vgg_torch.py test_conformance_torch.py test_convnet_torch.py test_extract_store.py; do
    run "VGGTAP_ISA=$p $t" env VGGTAP_ISA=$p /usr/bin/python3 "$ROOT/tests/$t"
  done
done

if [[ " ${paths[*]} " == *" avx512 "* ]]; then
  /usr/bin/python3 "$ROOT/tests/tools/make_keras_weights.py" "$tmp/w.h5" --layers 13 --seed 3 >/dev/null
  /usr/bin/python3 -c "
import numpy as np
np.random.default_rng(5).normal(0, 60, (37, 45, 3)).astype(np.float32).tofile('$tmp/in.f32')"
  for p in avx2 avx512; do
    for layer in block2_pool block5_pool; do
      VGGTAP_ISA=$p "$B/tools/vt_forward_dump" "$tmp/w.h5" "$tmp/in.f32" 37 45 $layer "$tmp/$p.$layer.f32" >/dev/null
    done
  done
  for layer in block2_pool block5_pool; do
    if [ -s "$tmp/avx2.$layer.f32" ] && cmp -s "$tmp/avx2.$layer.f32" "$tmp/avx512.$layer.f32"; then
      echo "ok: $layer from avx2 and avx512 is the same to the bit"
    else
      echo "FAIL: $layer differs between avx2 and avx512 (or was not written)"
      failures=$((failures + 1))
    fi
  done
else
  echo "not run: the avx2 / avx512 bitwise comparison (this CPU has no AVX-512)"
fi
[ "$failures" = 0 ]
