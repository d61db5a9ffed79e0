#!/bin/bash
# Reproduces the measured tables of docs/PERFORMANCE.md and prints them as
# Markdown on stdout (progress on stderr). Every figure is a wall-clock rate
# or a CPU time: run it when nothing else runs, and read the load average
# printed at the start and the end.
#
#   bash tests/bench/run_all.sh [--quick] [--only extract|kernels|isa|train|bf16|heads] > tables.md
#
#   extract  conv prefix vs PyTorch, per-tap accuracy, end to end, threads,
#            memory (bench_prefix.py, bench_extract.py)       ~25 min
#   kernels  per-layer conv paths and whole-prefix CPU times (bench_conv)  ~1 min
#   isa      each kernel path (avx512, avx2, portable) against PyTorch with
#            oneDNN capped at the same instruction set (bench_isa.py)  ~4 min
#   train    head training vs scikit-learn/liblinear (bench_train.py on
#            clothing-dataset-small at block2_pool + synthetic 25k rows)  ~3 min
#   bf16     the bf16 prefix (AMX, AVX512_BF16) vs vggtap fp32 vs PyTorch bf16,
#            per-tap accuracy, per-layer kernels, vggtap-extract --precision
#            bf16 whole, a head on bf16 features (bench_prefix_bf16.py,
#            bench_conv_bf16, bench_extract_bf16.py, bf16_head_accuracy.py);
#            only on CPUs with AVX512_BF16                          ~20 min
#   heads    accuracy, not speed, so only with --only heads: softmax, MLP and
#            conv heads with and without mirrors on the shared sets, the
#            tables of docs/TRAIN.md "Which head to choose" (head_table.py)  ~45 min
#
# --quick: fewer and shorter rounds, a check that the harness works, not
# numbers to publish. BUILD (default build) is the build directory for the
# benchmark tools; they and bin/ are (re)built first. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export BUILD VGGTAP_ROOT=$PWD VGGTAP_SHARED=${VGGTAP_SHARED:-$(cd .. && pwd)/shared}
PY=/usr/bin/python3
WEIGHTS=$VGGTAP_SHARED/weights/vgg16_keras_prefix.h5

quick=0 only=all
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) quick=1 ;;
    --only) only=$2; shift ;;
    *) echo "usage: run_all.sh [--quick] [--only extract|kernels|isa|train|bf16|heads]" >&2; exit 2 ;;
  esac
  shift
done
want() { [[ $only == all || $only == "$1" ]]; }
heads_args=()

prefix_args=(--repeats 5 --seconds 2 --screen 1 --accuracy-images 4)
bf16_args=(--repeats 5 --seconds 2 --screen 1.5 --accuracy-images 4)
bf16_extract_args=(--repeats 3)
extract_args=(--images 1000 --repeats 3 --memory 100,2000)
conv_reps=7 train_rows=25000 isa_rounds=5
if ((quick)); then
  prefix_args=(--repeats 2 --seconds 0.5 --screen 0.3 --accuracy-images 1)
  bf16_args=(--repeats 1 --seconds 0.5 --screen 0.3 --accuracy-images 1)
  bf16_extract_args=(--repeats 1 --seconds 0.5 --screen 0.3 --images 0.1)
  extract_args=(--images 30 --repeats 1 --memory 30,90)
  conv_reps=1 train_rows=2000 isa_rounds=1 heads_args=(--quick)
fi

make BUILD="$BUILD" bin/vggtap-extract bin/vggtap-train "$BUILD/tools/bench_prefix_c" \
  "$BUILD/tools/tap_accuracy" "$BUILD/tools/bench_conv" "$BUILD/tools/bench_stages" "$BUILD/tools/bench_conv_bf16" >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Which BLIS kernels the library picks on this CPU (vggtap-train's heads are
# on BLIS; the conv prefix has its own kernels).
blis_config=$(BLIS_ARCH_DEBUG=1 $PY -c "import ctypes; ctypes.CDLL('libblis.so.4').bli_init()" 2>&1 |
  sed -n "s/.*sub-configuration '\(.*\)'.*/\1/p" | head -1)
dirty=$(git diff --quiet HEAD -- common extract train tests/bench || echo " + uncommitted changes")

echo "## Benchmark run $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- commit: \`$(git rev-parse --short HEAD)\`$dirty"
echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p') model $(lscpu | sed -n 's/^Model: *//p'), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- $(cc --version | head -1); PyTorch $($PY -c 'import torch; print(torch.__version__)') ($($PY -c 'import torch; print(torch.__config__.show())' | grep -o 'MKL-DNN v[0-9.]*')); BLIS sub-configuration: ${blis_config:-unknown}"
echo "- command: \`bash tests/bench/run_all.sh$( ((quick)) && echo ' --quick')$([[ $only != all ]] && echo " --only $only")\`"
echo

if want extract; then
  $PY tests/bench/bench_prefix.py "${prefix_args[@]}" --json "$tmp/best.json"
  echo
  $PY tests/bench/bench_extract.py "${extract_args[@]}" --torch-best "$tmp/best.json"
  echo
fi

if want kernels; then
  $PY tests/tools/make_keras_weights.py "$tmp/full.h5" --layers 13 --seed 7
  echo "### Kernels: conv paths per layer, one thread (bench_conv -r $conv_reps)"
  echo
  echo '```'
  "$BUILD/tools/bench_conv" -r $conv_reps
  echo '```'
  echo
  for t in 1 2; do
    echo "### Kernels: whole forward pass, CPU ms per image, $t thread(s) at once (bench_conv -p -t $t)"
    echo
    echo "Seeded random full weights (seed 7): the time does not depend on the values."
    echo
    echo '```'
    "$BUILD/tools/bench_conv" -p "$tmp/full.h5" -r $conv_reps -t $t
    echo '```'
    echo
  done
fi

if want isa; then
  echo "### Kernel paths: CPU ms per image, one thread, vggtap vs PyTorch capped at the same ISA (bench_isa.py)"
  echo
  $PY tests/bench/bench_isa.py --rounds $isa_rounds
  echo
fi

if want bf16; then
  if ! grep -qw avx512_bf16 /proc/cpuinfo; then
    echo "(bf16 section skipped: this CPU has no AVX512_BF16)"
  else
    $PY tests/bench/bench_prefix_bf16.py "${bf16_args[@]}"
    echo
    echo "### vggtap-extract --precision bf16 vs fp32 vs PyTorch bf16 (conv alone)"
    echo
    $PY tests/bench/bench_extract_bf16.py "${bf16_extract_args[@]}"
    echo
    if [ -f "$VGGTAP_SHARED/data/clothing-dataset-small/manifest.csv" ]; then
      echo "### A softmax head on bf16 vs fp32 features"
      echo
      $PY tests/bench/bf16_head_accuracy.py --manifest "$VGGTAP_SHARED/data/clothing-dataset-small/manifest.csv"
      echo
    fi
    for isa in amx avx512bf16; do
      echo "### Kernels: bf16 conv per layer vs the fp32 packed conv, one thread, VGGTAP_ISA=$isa (bench_conv_bf16 -r $conv_reps)"
      echo
      VGGTAP_ISA=$isa "$BUILD/tools/bench_conv_bf16" -r $conv_reps 2>&1 || echo "(not run: the CPU lacks it)"
      echo
    done
  fi
fi

if want train; then
  echo "extracting clothing-dataset-small at block2_pool for the head benchmark" >&2
  bin/vggtap-extract --weights "$WEIGHTS" --manifest "$VGGTAP_SHARED/data/clothing-dataset-small/manifest.csv" \
    --tap block2_pool --grids 1,2,4 --out "$tmp/clothing-b2.h5" --quiet >&2
  echo "### Head training: vggtap-train vs scikit-learn and liblinear"
  echo
  $PY tests/bench/bench_train.py --store "$tmp/clothing-b2.h5" --tap block2_pool --pool gap --pool avg1,max1 \
    --pool avg2 --pool avg2,max2 --pool avg4 --pool max4 --rows $train_rows --md "$tmp/train.md" >&2
  cat "$tmp/train.md"
  echo
fi

if [[ $only == heads ]]; then
  echo "## Which head to choose (head_table.py)"
  echo
  $PY tests/bench/head_table.py "${heads_args[@]}"
  echo
fi

echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
