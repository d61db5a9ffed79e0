#!/usr/bin/env bash
# test_pipeline_shards: pipeline.mk with SHARDS=2 under make -j2 runs two
# shard extractions (--shard 0/2, 1/2) and merges them; the merged store
# equals the store of an unsharded run of the same config row for row, and
# the heads trained on both are identical; a second run does nothing; a bad
# SHARDS value is refused.
set -euo pipefail
source "$(dirname "$0")/vtlib.sh"
DATA=$CLOTHING

tmp=$(mktemp -d /tmp/test_pipeline_shards.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# 60 real photos: every 5th row of data/clothing-30's manifest (all ten classes)
awk -F, -v d="$DATA" 'NR == 1 { print "path,label"; next } NR % 5 == 2 { print d "/" $1 "," $2 }' \
  "$DATA/manifest.csv" > m.csv
for w in one two; do
  cat > $w.ini <<EOI
[vggtap]
weights = $WEIGHTS
work = $w
[extract]
manifest = m.csv
tap = block1_pool
size = 112
[train]
seed = 0
EOI
done

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pipe() { make --no-print-directory -f "$ROOT/pipeline.mk" BIN="$BIN" "$@" 2>&1; }

pipe CONFIG=one.ini train >/dev/null || fail "unsharded run failed"
out=$(pipe -j2 CONFIG=two.ini SHARDS=2 train) || { echo "$out"; fail "sharded run failed"; }
for i in 0 1; do
  grep -q "^$BIN/vggtap-extract .*--shard $i/2 --threads 1" <<<"$out" || fail "no extraction of shard $i/2"
  [ -s two/shards/store-$i-of-2.h5 ] || fail "two/shards/store-$i-of-2.h5 missing"
done
[ "$(grep -c "^$BIN/vggtap-extract " <<<"$out")" = 2 ] || fail "expected exactly 2 extractions"
grep -q "^$BIN/vggtap-merge --overwrite --out two/store.h5 two/shards/store-0-of-2.h5 two/shards/store-1-of-2.h5" <<<"$out" \
  || { echo "$out"; fail "shards not merged into two/store.h5"; }
PYTHONPATH=$ROOT/tests /usr/bin/python3 - <<EOP || fail "merged store differs from the unsharded one"
import h5py, numpy as np, vtlib
vtlib.assert_same_store("one/store.h5", "two/store.h5", "SHARDS=2 vs SHARDS=1")
with h5py.File("two/store.h5") as f:
    assert f.attrs["merged_shards"] == 2 and f["pooled/block1_pool/avg1"].is_virtual
a, b = h5py.File("one/block1_pool/head.h5"), h5py.File("two/block1_pool/head.h5")
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.dtype.kind == "f" else None)
assert names and all(np.array_equal(a[n][()], b[n][()]) for n in names), "heads differ"
EOP

again=$(pipe -j2 CONFIG=two.ini SHARDS=2 train)
grep -q "vggtap-\(extract\|merge\|train\) " <<<"$again" && { echo "$again"; fail "second run did work"; }

bad=$(pipe CONFIG=two.ini SHARDS=x train) && fail "SHARDS=x accepted"
grep -q "SHARDS=x: give a whole number of shards" <<<"$bad" || { echo "$bad"; fail "no message for SHARDS=x"; }

[ $failures = 0 ] && echo "ok"
exit $failures
