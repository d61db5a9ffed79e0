#!/usr/bin/env bash
# A small end-to-end run is valgrind-clean: extract (2 threads, a broken file
# among the images, so the failed-row path runs too), train (L-BFGS softmax),
# predict from images and from the store, each under valgrind memcheck with
# --error-exitcode: any invalid read/write, use of uninitialised memory or
# definitely lost block fails the test.
#
# valgrind does not know AVX-512: the CPU it shows the programs has AVX2 at
# most, so they run the avx2 kernels (base/vt_cpu.h chooses from cpuid).
set -euo pipefail
source "$(dirname "$0")/vtlib.sh"
command -v valgrind >/dev/null || { echo "skip: valgrind is not installed"; exit 77; }
# make check-asan reruns the suite on sanitized programs: valgrind cannot run
# those (the test ran in make test)
[ -z "${VGGTAP_BIN:-}" ] || { echo "skip: not with VGGTAP_BIN (valgrind cannot run sanitized programs)"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 2 classes x 5 small images, plus a truncated one
/usr/bin/python3 - "$tmp/data" <<'EOF'
import os, sys
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
for c, name in enumerate(["dark", "light"]):
    os.makedirs(os.path.join(sys.argv[1], name))
    for i in range(5):
        px = rng.integers(0, 128, (20, 24, 3)) + 127 * c
        Image.fromarray(px.astype(np.uint8)).save(os.path.join(sys.argv[1], name, f"{i}.png"))
data = open(os.path.join(sys.argv[1], "dark", "0.png"), "rb").read()
open(os.path.join(sys.argv[1], "dark", "truncated.png"), "wb").write(data[:100])
EOF

vg() {
  valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite "$@"
}
step() {
  local name=$1
  shift
  if ! vg "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
    echo "FAIL: $name under valgrind (exit $?):"
    cat "$tmp/$name.err"
    exit 1
  fi
  echo "ok: $name is valgrind-clean"
}
# extract exits 0 (one failed row is listed in the store, not an error)
step extract "$BIN/vggtap-extract" --weights "$WEIGHTS" --data "$tmp/data" --tap block1_pool --size 32 \
  --threads 2 --out "$tmp/s.h5"
grep -q "10 ok, 1 failed of 11 images" "$tmp/extract.err" || { cat "$tmp/extract.err"; exit 1; }
step train "$BIN/vggtap-train" --store "$tmp/s.h5" --tap block1_pool --val-fraction 0 --out "$tmp/head.h5"
step predict "$BIN/vggtap-predict" --weights "$WEIGHTS" --head "$tmp/head.h5" "$tmp/data/light/0.png" \
  "$tmp/data/dark/1.png"
step predict_store "$BIN/vggtap-predict" --head "$tmp/head.h5" --store "$tmp/s.h5"
# the predictions are real: the two classes differ in brightness only
grep -q "light" "$tmp/predict.out" && grep -q "dark" "$tmp/predict.out" || { cat "$tmp/predict.out"; exit 1; }
head -3 "$tmp/predict.out"
