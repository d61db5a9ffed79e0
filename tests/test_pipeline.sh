#!/usr/bin/env bash
# test_pipeline: pipeline.mk end to end on a small Fashion-MNIST config, run
# twice: the second run must do no work; changing a [train] setting re-trains
# without re-extracting; changing an [extract] setting or an image
# re-extracts; a change elsewhere in the config does nothing; an interrupted
# extraction resumes; the sweep writes one row per combination; without
# weights, the bundled block1-block2 file serves, and a deeper tap stops with
# the instructions; paths with spaces work
# where make allows them and are refused by name where it does not.
set -euo pipefail
source "$(dirname "$0")/vtlib.sh"
BUILD=${TEST_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
FMNIST=/usr/share/datasets/fashion-mnist
for f in "$WEIGHTS" "$FMNIST/train-images-idx3-ubyte.gz" "$BUILD/tools/fmnist_png" "$BIN/vggtap-config"; do
  [ -e "$f" ] || { echo "skip: $f missing"; exit 77; }
done

tmp=$(mktemp -d /tmp/test_pipeline.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$BUILD/tools/fmnist_png" --out data --train-per-class 8 --test-per-class 4 >/dev/null
cat > t.ini <<EOF
[vggtap]
weights = $WEIGHTS
work = run
[extract]
data = data/train
tap = block1_pool,block2_pool
size = 32
threads = 2
[evaluate]
data = data/test
[train]
seed = 0
[sweep]
taps = block1_pool block2_pool block1_pool,block2_pool
pools = gap avg2 avg1,max4
heads = softmax 8
EOF

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pipe() { make --no-print-directory -f "$ROOT/pipeline.mk" BIN="$BIN" CONFIG=t.ini "$@" 2>&1; }
# Time stamps (ns) of every output that a run could remake.
stamps() { stat -c '%n %.9Y' run/store.h5 run/eval.h5 run/block1_pool/head.h5 run/block2_pool/head.h5; }
ran() { grep -c "^$BIN/vggtap-$1 " <<<"$2" || true; }

# 1. First run, in parallel: two stores, two heads, their reports.
out=$(pipe -j2 report) || { echo "$out"; fail "first run failed"; exit 1; }
[ "$(ran extract "$out")" = 2 ] || fail "first run: expected 2 extractions, got $(ran extract "$out")"
[ "$(ran train "$out")" = 2 ] || fail "first run: expected 2 trainings, got $(ran train "$out")"
for t in block1_pool block2_pool; do
  grep -q "^== $t avg1 softmax ==" <<<"$out" || fail "report lacks the $t head"
  [ -s run/$t/head.report/metrics.json ] || fail "no metrics.json for $t"
done
grep -q "scored on: run/eval.h5 (40 rows, 10 classes)" <<<"$out" || fail "heads not evaluated on the 40 held-out images"
[ "$(wc -l < run/report.csv)" = 3 ] || fail "report.csv should have a header and 2 rows"
[ "$(grep -o 'href="[^"]*report.html"' run/report.html | wc -l)" = 2 ] || fail "report.html should link the 2 heads' pages"

# 2. Second run: nothing to do, nothing touched.
before=$(stamps)
out=$(pipe report)
[ "$(ran extract "$out")$(ran train "$out")" = 00 ] || { echo "$out"; fail "second run did work"; }
[ "$(stamps)" = "$before" ] || fail "second run touched outputs: $before -> $(stamps)"

# 3. A comment and a [predict] key change nothing the stores or heads depend on.
printf '; a comment\n[predict]\ntop = 3\n' >> t.ini
out=$(pipe report)
[ "$(ran extract "$out")$(ran train "$out")" = 00 ] || { echo "$out"; fail "an unrelated config change did work"; }

# 4. A training setting: re-train, do not re-extract.
store_before=$(stat -c %.9Y run/store.h5)
head_before=$(stat -c %.9Y run/block1_pool/head.h5)
sed -i 's/^seed = 0/seed = 1/' t.ini
out=$(pipe report)
[ "$(ran extract "$out")" = 0 ] || fail "a [train] change re-extracted"
[ "$(ran train "$out")" = 2 ] || fail "a [train] change did not re-train both heads"
[ "$(stat -c %.9Y run/store.h5)" = "$store_before" ] || fail "a [train] change touched the store"
[ "$(stat -c %.9Y run/block1_pool/head.h5)" != "$head_before" ] || fail "the head was not rewritten"
grep -q '^seed=1$' run/train.settings || fail "train.settings does not hold the new seed"

# 5. An extraction setting: re-extract both stores, then re-train.
sed -i 's/^size = 32/size = 40/' t.ini
out=$(pipe train)
[ "$(ran extract "$out")" = 2 ] || fail "an [extract] change did not re-extract both stores"
[ "$(ran train "$out")" = 2 ] || fail "an [extract] change did not re-train"
h5dump -a input_height run/store.h5 | grep -q "40" || fail "the store was not made at the new size"

# 6. A changed image re-extracts its store only.
touch -d '2001-01-01' data/test/bag/*.png
out=$(pipe train)
[ "$(ran extract "$out")" = 1 ] && grep -q -- "--out run/eval.h5" <<<"$out" || fail "a touched test image did not re-extract eval.h5 alone"

# 7. An interrupted extraction resumes: an interrupt leaves
# store.h5.partial/, and the next run continues it rather than starting over.
# The interrupt comes once the extractor has finished its first part
# (VGGTAP_PART_ROWS=2: 40 parts), whatever the machine's speed; a run that
# still got through before it (the test delayed by a busy machine) is
# removed and run again.
sed -i 's/^size = 40/size = 224/' t.ini
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
interrupted=
for try in 1 2 3 4 5; do
  VGGTAP_PART_ROWS=2 make --no-print-directory -f "$ROOT/pipeline.mk" BIN="$BIN" CONFIG=t.ini run/store.h5 \
    >run/interrupted.log 2>&1 &
  mk=$!
  ext=
  until [ -n "$ext" ] && compgen -G 'run/store.h5.partial/part-*.h5' >/dev/null; do
    kill -0 "$mk" 2>/dev/null || break # make ended: the extraction finished (or failed)
    if [ -z "$ext" ]; then
      for p in $(descendants "$mk"); do [ "$(cat /proc/"$p"/comm 2>/dev/null)" = vggtap-extract ] && ext=$p; done
    fi
    sleep 0.01
  done
  [ -z "$ext" ] || kill -INT "$ext" 2>/dev/null || true
  wait "$mk" && rc=0 || rc=$?
  if [ ! -e run/store.h5 ]; then
    [ "$rc" != 0 ] && grep -q "interrupted; [0-9]* of [0-9]* rows are safe" run/interrupted.log \
      || { cat run/interrupted.log; fail "the interrupted extraction did not stop as interrupted"; }
    interrupted=yes
    break
  fi
  [ "$rc" = 0 ] || { cat run/interrupted.log; fail "the extraction failed"; break; }
  echo "try $try: the extraction finished before the interrupt; again"
  rm -f run/store.h5
done
[ -n "$interrupted" ] || fail "the extraction finished before the interrupt 5 times"
if [ -n "$interrupted" ]; then
  [ -d run/store.h5.partial ] || fail "no partial store after an interrupt"
  out=$(pipe run/store.h5)
  grep -q "resuming run/store.h5" <<<"$out" || { echo "$out"; fail "the interrupted extraction was not resumed"; }
  grep -q "vggtap-extract: resuming: [1-9][0-9]* rows already done" <<<"$out" \
    || { echo "$out"; fail "the resume did not keep the rows done before the interrupt"; }
  [ -e run/store.h5 ] || fail "the resumed extraction did not finish"
  echo "interrupted on try $try after a part; the rerun is $(grep -o 'resuming: [0-9]* rows already done' <<<"$out")"
fi

# 8. The sweep: taps x pools x heads = 3 x 3 x 2 rows (a tap entry joining
# two taps, a pool entry two poolings); a second sweep does nothing.
out=$(pipe -j2 sweep) || { echo "$out"; fail "sweep failed"; }
[ "$(wc -l < run/sweep.csv)" = 19 ] || fail "sweep.csv should have a header and 18 rows"
# one progress line per head, no training command; the table ranked, the
# best marked, narrow; a page linking every head's report
progress() { grep -cE '^ *\[[0-9]+/18\] [^ ]+ +accuracy [0-9.]+ on ' <<<"$1" || true; }
[ "$(progress "$out")" = 18 ] || { echo "$out"; fail "sweep: expected 18 progress lines, got $(progress "$out")"; }
[ "$(ran train "$out")" = 0 ] || fail "sweep: training commands echoed"
grep -qE '^\*  b1\+b2/|^\*  b[12]/' <<<"$out" || fail "sweep: no best row marked"
awk '/^   head /,/^\* the best/' <<<"$out" | awk 'length > 120 { bad = 1 } END { exit bad }' ||
  fail "sweep: the table is wider than 120 columns"
[ "$(grep -o 'href="sweep/[^"]*/head.report/report.html"' run/sweep.html | wc -l)" = 18 ] ||
  fail "sweep.html should link the 18 heads' report pages"
/usr/bin/python3 - run/sweep.csv <<'EOF' || fail "sweep.csv content"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
key = [float(r["val_accuracy"]) for r in rows]
assert key == sorted(key, reverse=True) and [r["best"] for r in rows] == ["1"] + ["0"] * 17, key
combos = {(r["tap"], r["pooling"], r["hidden"]) for r in rows}
want = {(t, p, h) for t in ("block1_pool", "block2_pool", "block1_pool,block2_pool")
        for p in ("avg1", "avg2", "avg1,max4") for h in ("softmax", "8")}
assert combos == want, combos
width = {"block1_pool": 64, "block2_pool": 128, "block1_pool,block2_pool": 192}
for r in rows:
    assert 0 <= float(r["accuracy"]) <= 1 and 0 <= float(r["macro_f1"]) <= 1, r
    assert int(r["params"]) > 0 and float(r["train_seconds"]) >= 0, r
    cells = {"avg1": 1, "avg2": 4, "avg1,max4": 17}[r["pooling"]]
    assert int(r["features"]) == cells * width[r["tap"]], r
EOF
out=$(pipe sweep)
[ "$(progress "$out")" = 0 ] || fail "a second sweep re-trained"
# Without [sweep] taps and pools: each tap and both together x GAP, GMP, the
# 2x2 and 4x4 grids (avg, max) and the pyramid avg1,avg2,avg4.
sed '/^taps = /d; /^pools = /d; s/^heads = .*/heads = softmax/' t.ini > t-default.ini
out=$(make --no-print-directory -n -f "$ROOT/pipeline.mk" BIN="$BIN" CONFIG=t-default.ini sweep 2>&1)
got=$(grep -oE "'\[[0-9]+/21\]' '[^']*'" <<<"$out" | sort -u | wc -l)
[ "$got" = 21 ] || { echo "$out" | head -30; fail "default sweep: expected 3 taps x 7 pools = 21 heads, got $got"; }
for combo in b1/max4 b1+b2/avg1+avg2+avg4 b2/avg1; do
  grep -q "'$combo/softmax'" <<<"$out" || fail "default sweep lacks $combo"
done
# Conv heads in the grid: once per single tap (on its maps, whatever the
# pools), with their --conv widths.
sed 's/^heads = .*/heads = softmax conv conv:1x1:32,64/' t.ini > t-conv.ini
out=$(make --no-print-directory -n -f "$ROOT/pipeline.mk" BIN="$BIN" CONFIG=t-conv.ini sweep 2>&1)
got=$(grep -oE "'\[[0-9]+/13\]' '[^']*'" <<<"$out" | sort -u | wc -l)
[ "$got" = 13 ] || { echo "$out" | head -30; fail "conv sweep: expected 3 x 3 softmax + 2 taps x 2 conv = 13 heads, got $got"; }
grep -q -- "--tap block2_pool --head conv *--conv 1x1:32,64 " <<<"$out" || fail "conv sweep: no --conv 1x1:32,64 head"
grep -q "'b1/maps/conv'" <<<"$out" || fail "conv sweep lacks b1/maps/conv"
! grep -q "b1+b2/maps" <<<"$out" || fail "conv sweep: a conv head on two taps"

# 8b. predict on new images, the weights named only under [extract] and none
# in the environment: it uses the weights the store was extracted with (it
# used to look only in [predict], [vggtap] and the environment, and failed).
sed -e '/^weights = /d' -e "s|^\[extract\]\$|[extract]\nweights = $WEIGHTS|" t.ini > t-xw.ini
out=$(env -u VGGTAP_WEIGHTS HOME="$tmp/home" KERAS_HOME= make --no-print-directory -f "$ROOT/pipeline.mk" \
  BIN="$BIN" CONFIG=t-xw.ini predict TAP=block1_pool IMAGES="data/test/bag data/test/coat" 2>&1) ||
  { echo "$out"; fail "predict with the weights under [extract] failed"; }
[ "$(ran extract "$out")" = 0 ] || { echo "$out"; fail "moving the weights key to [extract] re-extracted"; }
rows=$(grep -cE '^data/test/(bag|coat)/[^,]*\.png,[a-z_-]+,[01]\.[0-9]+,' <<<"$out" || true)
[ "$rows" = 8 ] || { echo "$out"; fail "predict: expected a row with classes for each of the 8 images, got $rows"; }

# 9. No weights key, none in the environment: the bundled block1-block2 file
# (the config's key went, so the stores are made again); for a deeper tap,
# extraction stops with the download instructions.
sed -i '/^weights = /d' t.ini
nokey() { env -u VGGTAP_WEIGHTS HOME="$tmp/home" KERAS_HOME= make --no-print-directory -f "$ROOT/pipeline.mk" BIN="$BIN" "$@" 2>&1; }
out=$(nokey CONFIG=t.ini extract) || { echo "$out"; fail "extract with the bundled weights failed"; }
grep -q -- "--weights $ROOT/data/weights/vgg16_keras_prefix.h5 --out run/store.h5" <<<"$out" ||
  { echo "$out"; fail "the store was not made with the bundled weights"; }
sed 's/^tap = block1_pool,block2_pool$/tap = block1_pool,block2_pool,block3_pool/' t.ini > t-deep.ini
out=$(nokey CONFIG=t-deep.ini extract) && fail "extract at block3_pool without weights succeeded"
grep -q "storage.googleapis.com/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" <<<"$out" ||
  { echo "$out"; fail "no download instructions without weights for block3_pool"; }

# 10. A bad config stops make at once, naming file and line: a typo in a
# program's section too ([train] pol = max4, which `vggtap-config check`
# once passed, so that make extracted every image and only then stopped).
sed -e 's/^work = run$/work = typo-run/' -e 's/^\[train\]$/[train]\npol = max4/' t.ini > typo.ini
out=$(make --no-print-directory -f "$ROOT/pipeline.mk" BIN="$BIN" CONFIG=typo.ini 2>&1) && fail "a [train] typo was accepted"
grep -q "typo.ini:[0-9]*: \[train\] unknown key 'pol' (did you mean 'pool'?)" <<<"$out" || { echo "$out"; fail "[train] typo message"; }
[ "$(ran extract "$out")" = 0 ] && [ ! -e typo-run/store.h5 ] || fail "a [train] typo: extraction ran first"
printf '[sweep]\ntapz = x\n' >> t.ini
out=$(pipe extract) && fail "a bad config was accepted"
grep -q "t.ini:[0-9]*: \[sweep\] unknown key 'tapz' (did you mean 'taps'?)" <<<"$out" || { echo "$out"; fail "bad config message"; }

# 11. Spaces: an [evaluate] folder may have them (and a quote: its flag is
# quoted for the shell; it was split into '--data=sp' and 'dir/...'); the
# config, WORK and the weights file cannot be make targets or
# prerequisites, so each is refused at once by name, and nothing is made.
mkdir -p "sp dir" && cp -r data/test "sp dir/it's test"
cat > sp.ini <<EOF
[vggtap]
weights = $WEIGHTS
work = run-sp
[extract]
data = data/train
tap = block1_pool
size = 32
[evaluate]
data = sp dir/it's test
EOF
out=$(make --no-print-directory -f "$ROOT/pipeline.mk" BIN="$BIN" CONFIG=sp.ini run-sp/eval.h5 2>&1) ||
  { echo "$out"; fail "an [evaluate] folder with a space and a quote"; }
grep -q "wrote run-sp/eval.h5: 40 ok" <<<"$out" || { echo "$out"; fail "the eval store from a folder with a space"; }
mkdir -p "cfg dir" && cp sp.ini "cfg dir/c.ini"
sed 's/^work = run-sp/work = run sp/' sp.ini > work-sp.ini
ln -s "$WEIGHTS" "w sp.h5" && sed 's/^weights = .*/weights = w sp.h5/' sp.ini > weights-sp.ini
for c in "cfg dir/c.ini|CONFIG 'cfg dir/c.ini' contains a space" "work-sp.ini|work-sp.ini: [vggtap] work 'run sp' contains a space" \
         "weights-sp.ini|w sp.h5' contains a space"; do
  out=$(make --no-print-directory -f "$ROOT/pipeline.mk" BIN="$BIN" CONFIG="${c%%|*}" extract 2>&1) && fail "${c%%|*} was accepted"
  [ "$(grep -cF "${c#*|}" <<<"$out")" = 1 ] || { echo "$out"; fail "${c%%|*}: no single clear refusal"; }
done
[ ! -e "run sp" ] && [ ! -e runs ] || fail "a refused config made folders"

[ $failures -eq 0 ] && echo "test_pipeline: all checks passed"
exit $((failures > 0))
