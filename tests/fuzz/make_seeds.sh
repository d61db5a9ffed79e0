#!/usr/bin/env bash
# Regenerates the committed seed corpora tests/fuzz/corpus/<harness>/ (small
# generated files, no photos). Run from the repository root after `make`:
#   bash tests/fuzz/make_seeds.sh
# Regression inputs for bugs the fuzzers found are kept in the same
# directories under names starting with "regress-"; this script leaves them.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p $out/image $out/weights $out/store $out/config
find $out -type f ! -name 'regress-*' -delete

# image: the hostile corpus's small files, valid and broken
/usr/bin/python3 tests/tools/make_hostile_corpus.py "$tmp/c" build/tools/jpeg_variants
for f in "$tmp"/c/data/good/* "$tmp"/c/data/bad/*; do
  [ -f "$f" ] && [ ! -L "$f" ] && [ -r "$f" ] && [ "$(stat -c %s "$f")" -le 5000 ] || continue
  install -m 644 "$f" "$out/image/$(basename "$f" | LC_ALL=C tr -c 'A-Za-z0-9._\n-' _)"
done

# weights and store: recipes (tests/fuzz/h5_recipe.h) of valid files and of
# near misses
/usr/bin/python3 - "$out" <<'PY'
import sys
sys.path.insert(0, "tests/fuzz")
from h5_recipe import Recipe
out = sys.argv[1]
CONVS = [("block1_conv1", 3, 64), ("block1_conv2", 64, 64), ("block2_conv1", 64, 128), ("block2_conv2", 128, 128)]

def weights(n, kernel="kernel:0", bias="bias:0", cout_last=None):
    r = Recipe()
    r.attr("input_1", "layer_names", [c[0] for c in CONVS[:n]])
    for i, (name, cin, cout) in enumerate(CONVS[:n]):
        if i == n - 1 and cout_last:
            cout = cout_last
        r.dataset(f"{name}/{name}/{kernel}", "f32", [3, 3, cin, cout], "index")
        r.dataset(f"{name}/{name}/{bias}", "f32", [cout], "ones")
    return r

weights(1).write(f"{out}/weights/block1.recipe")
weights(4).write(f"{out}/weights/block1_block2.recipe")
weights(2, "kernel", "bias").write(f"{out}/weights/old_names.recipe")
weights(2, cout_last=8).write(f"{out}/weights/wrong_shape.recipe")

def store(rows, grids=(1, 2), maps=None, dtype="f32", labels="mod3", status="ones"):
    r = Recipe()
    for k, v in [("format", "vggtap-store"), ("format_version", 1), ("taps", "block1_pool"),
                 ("preprocessing", "caffe"), ("resize", "antialias"), ("weights_sha256", "f"),
                 ("input_height", 32), ("input_width", 32), ("grids", ",".join(map(str, grids)) or "none"),
                 ("map_dtype", "float16" if dtype == "f16" else "float32" if maps else "none")]:
        r.attr("input_1", k, v)
    r.dataset("classes", "vstr", [3], "bytes", ["cat", "dog", "block1_pool"])
    r.dataset("images/path", "vstr", [rows], "index")
    r.dataset("images/label", "i32", [rows], labels)
    r.dataset("images/status", "u8", [rows], status)
    r.dataset("images/split", "vstr", [rows], "zeros")
    r.dataset("images/error", "vstr", [rows], "bytes", [""] * rows)
    for g in grids:
        for op in ("avg", "max"):
            r.dataset(f"pooled/block1_pool/{op}{g}", "f32", [rows, g * g * 64], "index")
    if maps:
        r.dataset("features/block1_pool", dtype, [rows] + maps, "index")
    return r

store(4).write(f"{out}/store/pooled.recipe")
store(3, grids=(1,), maps=[8, 8, 64], dtype="f16").write(f"{out}/store/maps_f16.recipe")
store(2, grids=(), maps=[16, 16, 64]).write(f"{out}/store/maps_f32.recipe")
store(4, status="mod3").write(f"{out}/store/pending_row.recipe")
PY

# config: the example configs and a file using every syntax libinih accepts
cp configs/*.ini $out/config/
printf '; comment\n# comment\nweights = w.h5\n[extract]\ndata = d\ntap = block1_pool\n  threads=2\nquiet = yes\n[train]\nepochs: 3\n[extract]\nout = "x.h5" ; inline\n' \
  >$out/config/syntax.ini
ls -l $out/*
