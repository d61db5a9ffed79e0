#!/usr/bin/env bash
# test_qemu_cpus: the programs as built run on CPUs without AVX-512 and
# without AVX at all, and choose their kernels from what the CPU reports.
# vggtap-extract runs under qemu's user-mode emulation of an x86-64-v2 CPU
# (Nehalem-v2: SSE4.2, no AVX; any instruction above that outside the
# dispatched kernels would stop it with SIGILL) and of an AVX2 CPU
# (Haswell-v4: AVX2 + FMA, no AVX-512): --version must name the path cpuid
# gives (portable, avx2), and a small extraction of real photos through
# block2_pool must write exactly the features the same program writes
# natively with VGGTAP_ISA capped at that path. (The C kernel tests pass
# under the emulated Nehalem too, in minutes: too slow for the suite.)
set -uo pipefail
source "$(dirname "$0")/vtlib.sh"
[ "$(uname -m)" = x86_64 ] || { echo "skip: not an x86-64 machine"; exit 77; }
command -v qemu-x86_64 >/dev/null || { echo "skip: qemu-x86_64 is not installed (Debian's qemu-user)"; exit 77; }
[ -z "${VGGTAP_BIN:-}" ] || { echo "skip: sanitized programs do not run under qemu"; exit 77; }
weights=$ROOT/data/weights/vgg16_keras_prefix.h5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
photos=$(ls "$ROOT"/data/clothing-30/dress/*.jpg | head -n 2)
failures=0
for pair in Nehalem-v2:portable Haswell-v4:avx2; do
  cpu=${pair%%:*} path=${pair#*:}
  q=(qemu-x86_64 -cpu "$cpu")
  version=$("${q[@]}" "$BIN/vggtap-extract" --version 2>/dev/null | tail -n 1)
  if [[ "$version" == "kernels: $path (CPU: $path)" ]]; then
    echo "ok: on $cpu: $version"
  else
    echo "FAIL: on $cpu, --version says '$version', expected 'kernels: $path (CPU: $path)'"
    failures=$((failures + 1))
  fi
  # shellcheck disable=SC2086
  if ! "${q[@]}" "$BIN/vggtap-extract" --weights "$weights" --tap block2_pool --size 32 --threads 1 \
      --out "$tmp/$cpu.h5" --files $photos >"$tmp/out" 2>&1; then
    echo "FAIL: vggtap-extract on $cpu:"
    tail -n 5 "$tmp/out"
    failures=$((failures + 1))
    continue
  fi
  # shellcheck disable=SC2086
  VGGTAP_ISA=$path "$BIN/vggtap-extract" --weights "$weights" --tap block2_pool --size 32 --threads 1 \
    --out "$tmp/native-$path.h5" --files $photos >/dev/null 2>&1
  if /usr/bin/python3 - "$tmp/$cpu.h5" "$tmp/native-$path.h5" <<'EOF'; then
import sys
import h5py
import numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a["pooled"].visit(lambda n: names.append(n) if isinstance(a["pooled"][n], h5py.Dataset) else None)
assert names, "no pooled features"
for n in names:
    x, y = a["pooled"][n][()], b["pooled"][n][()]
    assert x.shape == y.shape and x.tobytes() == y.tobytes(), n
    assert np.isfinite(x).all() and np.abs(x).max() > 0, n
print(len(names), "pooled datasets equal")
EOF
    echo "ok: on $cpu the features are bitwise those of VGGTAP_ISA=$path"
  else
    echo "FAIL: on $cpu the features differ from VGGTAP_ISA=$path natively"
    failures=$((failures + 1))
  fi
done
[ "$failures" = 0 ]
