"""vggtap-info on a store with failed rows, float16 compressed maps and
pooled vectors, and on heads (alone and as a --table/--csv): every number it
prints is checked against the file read with h5py, hashlib, os and json."""
import collections
import csv
import hashlib
import json
import os
import re
import shutil
import sys
import unicodedata

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vtlib  # noqa: E402

tmp = vtlib.tmpdir()
data = os.path.join(tmp, "data")
photos = os.path.join(vtlib.DATA, vtlib.CLOTHING)
# Classes with 3, 2 and 2 good images; b and c hold broken files too.
layout = {"a": ("hat", 3), "b": ("shoes", 2), "c": ("skirt", 2)}
for cls, (src, n) in layout.items():
    os.makedirs(os.path.join(data, cls))
    for name in sorted(os.listdir(os.path.join(photos, src)))[:n]:
        os.symlink(os.path.join(photos, src, name), os.path.join(data, cls, name))
first = os.path.join(photos, "hat", sorted(os.listdir(os.path.join(photos, "hat")))[0])
with open(first, "rb") as f:
    jpeg = f.read()
with open(os.path.join(data, "b", "truncated.jpg"), "wb") as f:
    f.write(jpeg[:300])
with open(os.path.join(data, "b", "text.jpg"), "w") as f:
    f.write("not an image\n")
with open(os.path.join(data, "c", "empty.png"), "wb") as f:
    pass
with open(os.path.join(data, "c", "text2.jpg"), "w") as f:
    f.write("also not an image\n")

store = os.path.join(tmp, "s.h5")
p = vtlib.run([vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS, "--data", data,
               "--tap", "block1_pool,block2_pool", "--size", "64", "--keep", "maps,pooled",
               "--map-dtype", "float16", "--compress", "3", "--grids", "1,2", "--out", store,
               "--quiet"])
out = vtlib.run([vtlib.tool("vggtap-info"), store]).stdout
print(out)


def has_line(pattern, what):
    vtlib.check(re.search(pattern, out, re.M) is not None, f"{what}: no line matching {pattern!r}")


f = h5py.File(store, "r")
status = f["images/status"][()]
labels = f["images/label"][()]
errors = f["images/error"].asstr()[()]
paths = f["images/path"].asstr()[()]
classes = list(f["classes"].asstr()[()])
n, n_ok = len(status), int((status == 1).sum())
has_line(rf"^  rows\s+{n}: {n_ok} ok, {n - n_ok} failed$", "row counts")
for k, name in enumerate(classes):
    ok = int(((labels == k) & (status == 1)).sum())
    bad = int(((labels == k) & (status == 2)).sum())
    has_line(rf"^    {re.escape(name)}\s+{ok}\s+{bad}$", f"class {name} counts")

# Failure reasons, grouped: one line per distinct reason with its count and
# an example row that has it.
reasons = collections.Counter(e for e, s in zip(errors, status) if s == 2)
vtlib.check(len(reasons) >= 2, f"the broken files should give several reasons: {reasons}")
has_line(rf"^  failures\s+{n - n_ok} rows, {len(reasons)} distinct reasons?:$", "failure summary")
for reason, count in reasons.items():
    m = re.search(rf"^\s+{count}  {re.escape(reason)}  \(e\.g\. (.*)\)$", out, re.M)
    vtlib.check(m is not None, f"reason {reason!r} x{count} not listed")
    if m:
        row = list(paths).index(m.group(1))
        vtlib.check(errors[row] == reason, f"example {m.group(1)} does not have reason {reason!r}")

# Taps: maps with shape, type and filters; every pooled dataset with its shape.
for tap in ("block1_pool", "block2_pool"):
    d = f[f"features/{tap}"]
    shape = "[" + ",".join(str(x) for x in d.shape) + "]"
    vtlib.check(d.dtype.str == "<f2" and d.compression == "gzip" and d.compression_opts == 3 and d.shuffle,
          f"{tap} maps are not the float16 shuffle+deflate-3 asked for")
    has_line(rf"^      maps\s+{re.escape(shape)}\s+float16, shuffle\+deflate-3$", f"{tap} maps line")
    for name, ds in f[f"pooled/{tap}"].items():
        shape = "[" + ",".join(str(x) for x in ds.shape) + "]"
        has_line(rf"^      {name}\s+{re.escape(shape)}\s+float32$", f"{tap} pooled {name}")

with open(vtlib.WEIGHTS, "rb") as w:
    sha = hashlib.sha256(w.read()).hexdigest()
has_line(rf"^    weights\s+sha256 {sha}$", "weights sha256")
has_line(rf"^    preprocessing\s+{f.attrs['preprocessing']}$", "preprocessing")
has_line(rf"^    resize\s+{f.attrs['resize']}$", "resize")
has_line(rf"^    input size\s+{f.attrs['input_height']}x{f.attrs['input_width']} ", "input size")
has_line(rf"\({os.path.getsize(store)} bytes\)$", "size on disk")
f.close()

# Heads: one described alone, two compared in a table and a CSV.
heads = []
for tap, pool, hidden in (("block2_pool", "avg2", None), ("block1_pool", "gap", "8")):
    h = os.path.join(tmp, f"{tap}-{pool}.h5")
    args = [vtlib.tool("vggtap-train"), "--store", store, "--tap", tap, "--pool", pool,
            "--out", h, "--quiet", "--val-fraction", "0"]
    if hidden:
        args += ["--hidden", hidden, "--epochs", "5"]
    vtlib.run(args)
    heads.append(h)

out = vtlib.run([vtlib.tool("vggtap-info"), heads[0]]).stdout
print(out)
with h5py.File(heads[0], "r") as hf:
    n_params = int(hf.attrs["n_params"])
    d_in, k = int(hf.attrs["n_features"]), int(hf.attrs["n_classes"])
    head_classes = list(hf["classes"].asstr()[()])
vtlib.check(d_in == 4 * 128 and k == 3, f"avg2 at block2_pool should be 512 features, 3 classes: {d_in}, {k}")
vtlib.check(n_params == d_in * k + k, "a softmax head has D*K + K parameters")
has_line(rf"^  head\s+softmax: {d_in} features -> {k} classes, 1 dense layer, {n_params} parameters$", "head line")
has_line(r"^  features\s+tap block2_pool, pooling avg2 \(pooled\)$", "tap and pooling")
has_line(rf"^  trained on\s+{re.escape(store)}: {n_ok} training rows, 0 validation rows, best epoch \d+$",
         "training rows (all ok rows: --val-fraction 0)")
has_line(rf"^  classes\s+{re.escape(', '.join(head_classes))}$", "classes")
# the training configuration shows what applied: one pooling key, no
# learning rate or momentum for an L-BFGS head (the adam head has its lr)
has_line(r"^    optimizer=lbfgs$", "the softmax head's optimizer")
has_line(r"^    pooling=avg2$", "one pooling key")
for key in ("pool", "lr", "momentum", "lr_schedule", "batch_size", "dropout"):
    vtlib.check(not re.search(rf"^    {key}=", out, re.M), f"an L-BFGS head's configuration lists no {key}=")
mlp = vtlib.run([vtlib.tool("vggtap-info"), heads[1]]).stdout
vtlib.check(re.search(r"^    lr=0.001$", mlp, re.M) and not re.search(r"^    momentum=", mlp, re.M),
            "an adam head's configuration has its lr, no momentum")
metrics = json.load(open(heads[0][:-3] + ".report/metrics.json"))
has_line(rf"on {re.escape(metrics['eval'])}: accuracy {metrics['accuracy']:.4f}, balanced accuracy {metrics['balanced_accuracy']:.4f}, "
         rf"macro-F1 {metrics['macro_f1']:.4f}", "report scores")

table_csv = os.path.join(tmp, "t.csv")
out = vtlib.run([vtlib.tool("vggtap-info"), "--table", "--csv", table_csv] + heads).stdout
print(out)
rows = list(csv.DictReader(open(table_csv)))
vtlib.check(len(rows) == 2, "one CSV row per head")
for h, r in zip(heads, rows):
    m = json.load(open(h[:-3] + ".report/metrics.json"))
    with h5py.File(h, "r") as hf:
        vtlib.check(r["tap"] == hf.attrs["tap"] and r["pooling"] == hf.attrs["pooling"], f"{h}: tap/pooling")
        vtlib.check(int(r["params"]) == int(hf.attrs["n_params"]), f"{h}: params")
        vtlib.check(int(r["features"]) == int(hf.attrs["n_features"]), f"{h}: features")
        vtlib.check(r["hidden"] == (hf.attrs["hidden"] or "softmax"), f"{h}: hidden")
    vtlib.check(abs(float(r["accuracy"]) - m["accuracy"]) < 1e-6, f"{h}: accuracy")
    vtlib.check(abs(float(r["macro_f1"]) - m["macro_f1"]) < 1e-6, f"{h}: macro-F1")
    vtlib.check(abs(float(r["train_seconds"]) - m["train_seconds"]) < 1e-3, f"{h}: train seconds")
    # the name: the path less the folder both share and .h5, blockN_pool as bN
    name = os.path.basename(h)[:-3].replace("block1_pool", "b1").replace("block2_pool", "b2")
    vtlib.check(r["name"] == name and r["head"] == h and r["scored_on"] == m["eval"] and int(r["n_scored"]) == m["n"],
                f"{h}: CSV name {r['name']}, path, scored rows")
    vtlib.check(re.search(rf"^[* ]  {re.escape(name)}\s+{r['features']}\s+{r['params']}\s+-\s+"
                          rf"{float(r['accuracy']):.4f}\s+{float(r['balanced_accuracy']):.4f}\s+{float(r['macro_f1']):.4f}"
                          rf"\s+[0-9.]+\s+train {m['n']}$", out, re.M) is not None, f"{h}: table line")
# no validation rows (--val-fraction 0): ranked by the scores themselves, on
# the training rows, and the table says so; the better one first, marked
acc = [float(r["accuracy"]) for r in rows]
vtlib.check(acc == sorted(acc, reverse=True) and [r["best"] for r in rows] == ["1", "0"] and
            out.splitlines()[1].startswith("*  ") and
            "* the best by its accuracy on the training rows it was fit to" in out, "ranking and its note")

# Errors: not HDF5, HDF5 but not vggtap, missing, a store in --table.
foreign = os.path.join(tmp, "foreign.h5")
with h5py.File(foreign, "w") as hf:
    hf["x"] = [1, 2, 3]
partial = os.path.join(tmp, "unfinished.h5")
os.mkdir(partial + ".partial")  # what an interrupted vggtap-extract leaves
for args, want in (([store + ".nope"], f"{store}.nope: cannot open: No such file or directory"),
                   ([store + "/x"], f"{store}/x: cannot open: Not a directory"),
                   ([tmp], f"{tmp}: is a directory"),
                   ([partial], f"{partial} is not finished: its extraction is still running or was interrupted"), ([os.path.join(data, "b", "text.jpg")], "not an HDF5 file"),
                   ([foreign], "not a vggtap store or head"), (["--table", store], "compares heads")):
    p = vtlib.run([vtlib.tool("vggtap-info")] + args, check=False)
    vtlib.check(p.returncode == 1 and want in p.stderr, f"vggtap-info {args}: exit {p.returncode}, {p.stderr!r}")

# A dataset of rank 10 under /pooled (a foreign or damaged store) is shown
# whole; its dimensions were written into an 8-entry array, past its end.
ranked = os.path.join(tmp, "rank10.h5")
shutil.copy(store, ranked)
with h5py.File(ranked, "r+") as hf:
    hf["pooled/block1_pool/rank10"] = np.zeros((1,) * 10, np.float32)
p = vtlib.run([vtlib.tool("vggtap-info"), ranked], check=False)
vtlib.check(p.returncode == 0 and re.search(r"^      rank10\s+\[1(,1){9}\]\s+float32$", p.stdout, re.M),
            f"vggtap-info on a rank-10 pooled dataset: exit {p.returncode}, {p.stdout!r} {p.stderr!r}")


def columns(text):
    """Terminal columns: wide (CJK) characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


# The class table's columns line up with UTF-8 class names (accented, a
# combining accent, wide CJK) and an unlabelled row (before: padded by bytes,
# then by code points, and '(unlabelled)' overflowed short names), whatever
# the user's locale
photos = [os.path.join(data, classes[0], n) for n in sorted(os.listdir(os.path.join(data, classes[0])))[:3]]
man = os.path.join(tmp, "utf8.csv")
names = ["ünï €", "襟ぐり", "cafe\u0301"]
with open(man, "w", encoding="utf-8") as mf:
    mf.write("path,label\n" + "".join(f"{p},{n}\n" for p, n in zip(photos, names)) +
             f"{os.path.join(data, 'b', 'text.jpg')},a\n{os.path.join(data, 'c', 'text2.jpg')},\n")
utf8_store = os.path.join(tmp, "utf8.h5")
vtlib.run([vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS, "--manifest", man, "--size", "32",
           "--out", utf8_store, "--quiet"], check=False)
for lang in ("C", "C.UTF-8"):
    table = vtlib.run([vtlib.tool("vggtap-info"), utf8_store], env=dict(os.environ, LC_ALL=lang, LANG=lang)).stdout
    first = r"^    (class|" + "|".join(map(re.escape, names)) + r"|a|\(unlabelled\)) "
    rows = [line for line in table.splitlines() if re.match(first, line)]
    vtlib.check(len(rows) == 6 and len({columns(line) for line in rows}) == 1,
                f"LC_ALL={lang}: class table columns do not line up:\n" + "\n".join(rows))

# ... and so do --table's, with a head named in CJK
wide_head = os.path.join(tmp, "頭部.h5")
shutil.copy(heads[0], wide_head)
out = vtlib.run([vtlib.tool("vggtap-info"), "--table", wide_head, heads[1]]).stdout
ends = {columns(line[:line.index(f" {w}  ")]) + len(w) for line in out.splitlines()[:3]
        for w in ("features", "512", "64") if f" {w}  " in line}
vtlib.check(len(out.splitlines()) == 4 and len(ends) == 1,
            f"--table: the features column does not line up ({ends}):\n{out}")

# a bad --failures is usage (exit 2), named with the range it takes
for bad in ("x", "-1", "1e9"):
    p = vtlib.run([vtlib.tool("vggtap-info"), "--failures", bad, store], check=False)
    vtlib.check(p.returncode == 2 and f"--failures wants a whole number in 0..1000000, not '{bad}'" in p.stderr,
                f"vggtap-info --failures {bad}: exit {p.returncode}, {p.stderr!r}")

# --csv where it cannot be written: the path and the OS reason
bad_csv = os.path.join(tmp, "no-such-dir", "t.csv")
p = vtlib.run([vtlib.tool("vggtap-info"), "--table", "--csv", bad_csv] + heads, check=False)
vtlib.check(p.returncode == 1 and f"cannot write {bad_csv}: No such file or directory" in p.stderr,
            f"vggtap-info --csv {bad_csv}: exit {p.returncode}, {p.stderr!r}")

# One reader of a head's attributes (common/store/vt_head_attrs.h), two
# policies: vggtap-info describes a damaged head with "?" where an attribute
# is missing or of the wrong type; vggtap-predict refuses it, naming the
# first such attribute and why.
broken = os.path.join(tmp, "broken-head.h5")
shutil.copy(heads[0], broken)
with h5py.File(broken, "r+") as hf:
    del hf.attrs["tap"]
    hf.attrs["tap"] = np.int64(7)  # not a string
    del hf.attrs["resize"]
p = vtlib.run([vtlib.tool("vggtap-info"), broken], check=False)
vtlib.check(p.returncode == 0 and re.search(r"^  features\s+tap \?, pooling avg2 ", p.stdout, re.M)
            and re.search(r"^    resize\s+\?$", p.stdout, re.M),
            f"vggtap-info on a head with a bad tap and no resize: exit {p.returncode}\n{p.stdout}{p.stderr}")
p = vtlib.run([vtlib.tool("vggtap-predict"), "--head", broken, "--store", store], check=False)
vtlib.check(p.returncode == 1 and "attribute 'tap' is not a string" in p.stderr,
            f"vggtap-predict on a head whose tap is a number: exit {p.returncode}, {p.stderr!r}")
with h5py.File(broken, "r+") as hf:
    del hf.attrs["tap"]
    hf.attrs["tap"] = "block2_pool"
p = vtlib.run([vtlib.tool("vggtap-predict"), "--head", broken, "--store", store], check=False)
vtlib.check(p.returncode == 1 and "attribute 'resize' is missing" in p.stderr,
            f"vggtap-predict on a head without resize: exit {p.returncode}, {p.stderr!r}")

if vtlib.failures:
    print(f"{len(vtlib.failures)} checks failed")
    sys.exit(1)
print("test_info: all checks passed")
