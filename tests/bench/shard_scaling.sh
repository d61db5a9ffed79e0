#!/bin/bash
# The local figures of docs/SCALING.md: one process with 2 threads against 2
# one-thread shards run in parallel (what `make -j2 -f pipeline.mk SHARDS=2`
# does) on the same images, then vggtap-merge (virtual and --materialize)
# and the store sizes; checks that each merged store equals the single run.
# Wall times are the best of ROUNDS rounds (alternating single and sharded,
# so both see the same background load); CPU is user + system of that round.
# Prints a Markdown table and the load average before and after.
#
#   bash tests/bench/shard_scaling.sh [DATA_DIR] > table.md
#
# DATA_DIR (class folders) defaults to ../shared/data/shirt-collars; TAP
# (default block2_pool), ROUNDS (default 2). Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SHARED=${VGGTAP_SHARED:-$(cd .. && pwd)/shared}
DATA=${1:-$SHARED/data/shirt-collars}
TAP=${TAP:-block2_pool}
ROUNDS=${ROUNDS:-2}
export VGGTAP_WEIGHTS=${VGGTAP_WEIGHTS:-$SHARED/weights/vgg16_keras_prefix.h5}
make -s -j2 bin/vggtap-extract bin/vggtap-merge >&2
tmp=$(mktemp -d /tmp/shard_scaling.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# private copies: a make in this tree must not relink them mid-run
cp bin/vggtap-extract bin/vggtap-merge "$tmp/"
args=(--data "$DATA" --tap "$TAP" --keep maps,pooled --map-dtype float16 --quiet)
load() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }
cpu() { awk '{ print $14 + $15 + $16 + $17 }' /proc/$$/stat; } # self + waited-for children, ticks
tick=$(getconf CLK_TCK)
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }

load0=$(load)
single_wall= single_cpu= shard_wall= shard_cpu=
for ((r = 0; r < ROUNDS; r++)); do
  rm -f "$tmp"/single.h5 "$tmp"/s*-of-2.h5
  c0=$(cpu) t0=$(now)
  "$tmp/vggtap-extract" "${args[@]}" --threads 2 --out "$tmp/single.h5"
  t1=$(now) c1=$(cpu)
  w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  [ "$(best "$single_wall" "$w")" = "$w" ] && single_cpu=$(((c1 - c0)))
  single_wall=$(best "$single_wall" "$w")
  c0=$(cpu) t0=$(now)
  for i in 0 1; do "$tmp/vggtap-extract" "${args[@]}" --threads 1 --shard $i/2 --out "$tmp/s$i-of-2.h5" & done
  wait
  t1=$(now) c1=$(cpu)
  w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  [ "$(best "$shard_wall" "$w")" = "$w" ] && shard_cpu=$(((c1 - c0)))
  shard_wall=$(best "$shard_wall" "$w")
done
t0=$(now); "$tmp/vggtap-merge" --quiet --out "$tmp/merged.h5" "$tmp"/s0-of-2.h5 "$tmp"/s1-of-2.h5; t1=$(now)
merge_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
t0=$(now); "$tmp/vggtap-merge" --quiet --materialize --out "$tmp/copy.h5" "$tmp"/s0-of-2.h5 "$tmp"/s1-of-2.h5; t1=$(now)
copy_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
PYTHONPATH=$ROOT/tests /usr/bin/python3 -c "
import vtlib
for m in ('merged', 'copy'):
    vtlib.assert_same_store('$tmp/single.h5', '$tmp/' + m + '.h5', m)
" || { echo "a merged store differs from the single run" >&2; exit 1; }
n=$(find "$DATA" -mindepth 2 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | wc -l)
size() { stat -c %s "$1" | awk '{ printf "%.1f MB", $1 / 1e6 }'; }
secs() { awk -v s="$1" -v n="$n" 'BEGIN { printf "%.2f s (%.1f img/s)", s, n / s }'; }
cpus() { awk -v c="$1" -v t="$tick" 'BEGIN { printf "%.2f s", c / t }'; }
echo "$n images ($DATA), $TAP, maps float16 + pooled vectors, best of $ROUNDS rounds; load average before: $load0, after: $(load)"
echo
echo "| run | wall | CPU (user+sys) | store on disk |"
echo "|---|---:|---:|---:|"
echo "| 1 process, --threads 2 | $(secs "$single_wall") | $(cpus "$single_cpu") | $(size "$tmp/single.h5") |"
echo "| 2 shards x --threads 1, in parallel | $(secs "$shard_wall") | $(cpus "$shard_cpu") | $(size "$tmp/s0-of-2.h5") + $(size "$tmp/s1-of-2.h5") |"
echo "| vggtap-merge (virtual) | $(awk -v s="$merge_wall" 'BEGIN { printf "%.3f s", s }') | | $(size "$tmp/merged.h5") |"
echo "| vggtap-merge --materialize | $(awk -v s="$copy_wall" 'BEGIN { printf "%.3f s", s }') | | $(size "$tmp/copy.h5") |"
