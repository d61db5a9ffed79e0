#!/bin/bash
# What making stores durable costs (docs/PERFORMANCE.md, "What does fsync
# cost an extraction?"): vggtap-extract on data/clothing-30's 300 photos at
# 64x64, block1_pool, 2 threads, as it is (fsync of every closed part, the
# store and their directories) and with fsync turned into a no-op (an
# LD_PRELOAD shim), alternating run by run; `sync` before each run so that
# neither inherits the other's dirty pages. Prints a Markdown table of median
# wall times over ROUNDS (default 5) and the load average before and after.
#
#   bash tests/bench/bench_durable.sh [ROUNDS] [OUT_DIR]
#
# OUT_DIR (default a new directory under /tmp) is where the stores are
# written: the file system measured. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
out=${2:-$(mktemp -d /tmp/bench_durable.XXXXXX)}
shim=$(mktemp -d /tmp/nofsync.XXXXXX)
trap 'rm -rf "$shim" "$out"/bench_durable_*.h5 "$out"/bench_durable_*.h5.partial' EXIT
printf 'int fsync(int fd) { (void)fd; return 0; }\nint fdatasync(int fd) { (void)fd; return 0; }\n' >"$shim/nofsync.c"
cc -shared -fPIC -O2 -o "$shim/nofsync.so" "$shim/nofsync.c"

base=(bin/vggtap-extract --weights data/weights/vgg16_keras_prefix.h5 --manifest data/clothing-30/manifest.csv
      --tap block1_pool --size 64 --threads 2 --quiet)
# name | extra arguments | VGGTAP_PART_ROWS (empty: the default, one part here)
configs=("pooled, 1 part||" "pooled, 19 parts of 16 rows||16" "pooled + maps (79 MB)|--keep pooled,maps|")

one_run() { # preload part_rows extra... -> wall seconds
  local preload=$1 rows=$2
  shift 2
  rm -rf "$out"/bench_durable_*
  sync
  local t0 t1
  t0=$(date +%s.%N)
  LD_PRELOAD=$preload VGGTAP_PART_ROWS=$rows "${base[@]}" "$@" --out "$out/bench_durable_$$.h5"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); file system: $(df -T "$out" | awk 'NR == 2 { print $2 }')"
echo
echo "| store | fsync (s) | no fsync (s) | cost |"
echo "|---|---|---|---|"
for c in "${configs[@]}"; do
  IFS='|' read -r name extra rows <<<"$c"
  with=() without=()
  one_run "" "$rows" $extra >/dev/null # warm-up (page cache of the photos)
  for ((r = 0; r < rounds; r++)); do
    if ((r % 2)); then
      without+=("$(one_run "$shim/nofsync.so" "$rows" $extra)")
      with+=("$(one_run "" "$rows" $extra)")
    else
      with+=("$(one_run "" "$rows" $extra)")
      without+=("$(one_run "$shim/nofsync.so" "$rows" $extra)")
    fi
  done
  a=$(printf '%s\n' "${with[@]}" | median) b=$(printf '%s\n' "${without[@]}" | median)
  awk -v n="$name" -v a="$a" -v b="$b" 'BEGIN { printf "| %s | %.2f | %.2f | %+.2f s (%+.0f%%) |\n", n, a, b, a - b, 100 * (a - b) / b }'
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
