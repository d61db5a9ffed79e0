"""vt_report_write read back by independent parsers: metrics.json with the
json module (values equal scikit-learn's, NaN written as null, extra members
present), the CSVs with the csv module, the PNGs with PIL (size, not blank,
diagonal darker than off-diagonal cells in a diagonal-heavy matrix).
The report is written by tests/tools/vt_metrics_cli."""
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np

import vtlib
from PIL import Image
from sklearn import metrics as skm

root = os.environ.get("VGGTAP_ROOT", os.path.join(os.path.dirname(__file__), ".."))
cli = os.path.join(root, os.environ.get("TEST_BUILD", "build"), "tools", "vt_metrics_cli")
if not os.path.exists(cli):
    sys.exit(f"missing {cli}: build it with make")


def run(k, yt, yp, epochs, names, out):
    lines = [f"{k} {len(yt)} {len(epochs)}"] + [f"{a} {b}" for a, b in zip(yt, yp)]
    lines += [" ".join(str(v) for v in e) for e in epochs]
    args = [cli, "--report", out] + (["--names", ",".join(names)] if names else [])
    subprocess.run(args, input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)


rng = np.random.default_rng(11)
with tempfile.TemporaryDirectory() as tmp:
    # 9 classes, ~75% right, one class never true, unicode and quotes in names
    k = 9
    names = ["v-neck", "col en V \u00e9t\u00e9", 'say "hi"', "tab\\slash", "crew", "boat", "scoop", "halter", "none"]
    yt = rng.integers(0, k - 1, 900)
    yp = np.where(rng.random(900) < 0.75, yt, rng.integers(0, k, 900))
    epochs = [(e, 0.01, 2 / e, 0.5 + 0.03 * e, "nan" if e == 3 else 2.1 / e, 0.45 + 0.03 * e) for e in range(1, 9)]
    out = os.path.join(tmp, "r1")
    run(k, yt, yp, epochs, names, out)
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        j = json.load(f)
    present = np.unique(yt)
    vtlib.check(math.isclose(j["accuracy"], skm.accuracy_score(yt, yp), abs_tol=1e-9), "accuracy")
    vtlib.check(math.isclose(j["macro_f1"], skm.f1_score(yt, yp, labels=present, average="macro", zero_division=0),
                       abs_tol=1e-9), "macro-F1")
    vtlib.check(j["n"] == 900 and j["eval"] == "stdin" and j["tool"] == "vt_metrics_cli", "n, eval, extra member")
    vtlib.check([c["name"] for c in j["per_class"]] == names, "class names round trip through JSON")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        bal = skm.balanced_accuracy_score(yt, yp)
    p, r, f1, s = skm.precision_recall_fscore_support(yt, yp, labels=range(k), zero_division=0)
    vtlib.check(np.allclose([c["precision"] for c in j["per_class"]], p, atol=1e-9) and
          np.allclose([c["recall"] for c in j["per_class"]], r, atol=1e-9) and
          np.allclose([c["f1"] for c in j["per_class"]], f1, atol=1e-9) and
          [c["support"] for c in j["per_class"]] == list(s), "per-class values")
    vtlib.check(math.isclose(j["balanced_accuracy"], bal, abs_tol=1e-9), "balanced accuracy")
    cm = skm.confusion_matrix(yt, yp, labels=range(k))
    vtlib.check(np.array_equal(np.array(j["confusion"]), cm), "confusion in JSON")
    vtlib.check(j["epochs"][2]["val_loss"] is None and j["epochs"][3]["val_loss"] == 2.1 / 4, "epochs with null")
    for key in ("head_params", "dense_params", "dense_params_with_convs", "train_seconds"):
        vtlib.check(isinstance(j[key], (int, float)) and j[key] > 0, key)

    with open(os.path.join(out, "per_class.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    vtlib.check([row["name"] for row in rows] == names, "per_class.csv names")
    vtlib.check(all(math.isclose(float(row["f1"]), f1[i], abs_tol=1e-9) and int(row["support"]) == s[i]
              for i, row in enumerate(rows)), "per_class.csv values")
    with open(os.path.join(out, "confusion.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    vtlib.check(rows[0][1:] == names and [row[0] for row in rows[1:]] == names, "confusion.csv labels")
    vtlib.check(np.array_equal(np.array([[int(v) for v in row[1:]] for row in rows[1:]]), cm), "confusion.csv counts")

    im = np.asarray(Image.open(os.path.join(out, "curves.png")).convert("RGB")).astype(int)
    vtlib.check(im.shape == (480, 1000, 3), f"curves.png size {im.shape}")
    vtlib.check((im.sum(axis=2) < 600).mean() > 0.02, "curves.png is not blank")
    hm = Image.open(os.path.join(out, "confusion.png")).convert("RGB")
    vtlib.check(400 <= hm.width <= 1400 and 400 <= hm.height <= 1400, f"confusion.png size {hm.size}")

    # a strongly diagonal matrix: the darkest cells lie on the diagonal of the
    # matrix area, found as the bounding box of saturated blue pixels
    k = 6
    yt = np.repeat(np.arange(k), 50)
    yp = np.where(np.arange(300) % 10 == 0, (yt + 1) % k, yt)
    out = os.path.join(tmp, "r2")
    run(k, yt, yp, [(1, 0.1, 1.2, 0.4, "nan", "nan")], None, out)
    a = np.asarray(Image.open(os.path.join(out, "confusion.png")).convert("RGB")).astype(int)
    dark = (a[:, :, 2] - a[:, :, 0] > 60) & (a.sum(axis=2) < 350)
    # dark columns form two runs, the matrix and the colour bar at the right
    cols = np.nonzero(dark.any(axis=0))[0]
    split = np.nonzero(np.diff(cols) > 10)[0]
    vtlib.check(len(split) == 1, f"matrix and colour bar apart ({len(split)} gaps)")
    ys, xs = np.nonzero(dark[:, : cols[split[0]] + 1])
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    cell_w, cell_h = (x1 - x0) / k, (y1 - y0) / k
    vtlib.check(abs(cell_w - cell_h) <= 2, f"square cells ({cell_w:.1f} x {cell_h:.1f})")
    lum = np.zeros((k, k))
    for i in range(k):
        for jj in range(k):
            y, x = int(y0 + (i + 0.15) * cell_h), int(x0 + (jj + 0.15) * cell_w)
            lum[i, jj] = a[y, x].sum()
    off = lum[~np.eye(k, dtype=bool)]
    vtlib.check(np.diag(lum).max() < off.min(), f"diagonal darker than off-diagonal\n{lum}")
    im = np.asarray(Image.open(os.path.join(out, "curves.png")).convert("RGB")).astype(int)
    orange = ((im[:, :, 0] == 0xE8) & (im[:, :, 1] == 0x71) & (im[:, :, 2] == 0x0A)).sum()
    blue = ((im[:, :, 0] == 0x1F) & (im[:, :, 1] == 0x77) & (im[:, :, 2] == 0xB4)).sum()
    vtlib.check(blue > 10 and orange == 0, f"one epoch without validation: {blue} train pixels, {orange} validation")

print(f"{len(vtlib.failures)} failed checks")
sys.exit(1 if vtlib.failures else 0)
