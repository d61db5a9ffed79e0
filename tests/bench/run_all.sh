#!/bin/bash
# Reproduces every table of docs/PERFORMANCE.md and prints them as Markdown
# on stdout (progress on stderr). About 10 minutes on an idle 2-core machine;
# run it when nothing else is running: every figure is a wall-clock rate.
#
#   bash tests/bench/run_all.sh [--quick] [> tables.md]
#
# --quick: fewer and shorter rounds (a check that the harness works, not
# numbers to publish). BUILD (default build) is the build directory whose
# tools/ holds bench_prefix_c and tap_accuracy; they and bin/vggtap-extract
# are (re)built first. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export BUILD VGGTAP_ROOT=$PWD VGGTAP_SHARED=${VGGTAP_SHARED:-$(cd .. && pwd)/shared}
PY=/usr/bin/python3

prefix_args=(--repeats 5 --seconds 2 --screen 1 --accuracy-images 4)
extract_args=(--images 200 --repeats 3 --memory 100,2000)
if [[ ${1:-} == --quick ]]; then
  prefix_args=(--repeats 2 --seconds 0.5 --screen 0.3 --accuracy-images 1)
  extract_args=(--images 30 --repeats 1 --memory 30,90)
fi

make BUILD="$BUILD" bin/vggtap-extract "$BUILD/tools/bench_prefix_c" "$BUILD/tools/tap_accuracy" >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Which BLIS kernels the library would pick here (it matters for anything
# still on BLIS: vggtap-train's heads; the conv prefix has its own kernels).
blis_config=$(BLIS_ARCH_DEBUG=1 $PY -c "import ctypes; ctypes.CDLL('libblis.so.4').bli_init()" 2>&1 |
  sed -n "s/.*sub-configuration '\(.*\)'.*/\1/p" | head -1)

echo "## Benchmark run $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- commit: \`$(git rev-parse --short HEAD)\`$(git diff --quiet HEAD -- common extract || echo ' + uncommitted changes in common/ or extract/')"
echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p') model $(lscpu | sed -n 's/^Model: *//p'), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- compiler: $(cc --version | head -1); PyTorch $($PY -c 'import torch; print(torch.__version__)') ($($PY -c 'import torch; print(torch.__config__.show())' | grep -o 'MKL-DNN v[0-9.]*')); BLIS sub-configuration: ${blis_config:-unknown}"
echo "- command: \`bash tests/bench/run_all.sh $*\`"
echo
$PY tests/bench/bench_prefix.py "${prefix_args[@]}" --json "$tmp/best.json"
echo
$PY tests/bench/bench_extract.py "${extract_args[@]}" --torch-best "$tmp/best.json"
echo
echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
