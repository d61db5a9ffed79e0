#!/usr/bin/python3
"""Conformance of the softmax head with scikit-learn's LogisticRegression on
the same pooled features and the same train/validation rows (read back from
head.h5): vggtap-train with its defaults must be within 1 accuracy point of
scikit-learn, or better. Synthetic, non-separable stores of two shapes (the
real-data comparison is in test_train_real.py)."""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from sklearn.linear_model import LogisticRegression

ROOT = os.environ.get("VGGTAP_ROOT", os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("VGGTAP_BIN", os.path.join(ROOT, "bin"))  # VGGTAP_BIN: see vtlib.py
TRAIN = os.path.join(BIN, "vggtap-train")
FIXTURE = os.path.join(ROOT, "tests", "tools", "make_store_fixture.py")


def compare(tmp, name, fixture_args, train_args=()):
    store = os.path.join(tmp, name + ".h5")
    head = os.path.join(tmp, name + "-head.h5")
    subprocess.run([sys.executable, FIXTURE, store, *fixture_args], check=True)
    r = subprocess.run([TRAIN, "--store", store, "--out", head, "--quiet", *train_args],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        return False
    m = json.load(open(os.path.join(tmp, name + "-head.report", "metrics.json")))
    with h5py.File(head, "r") as h, h5py.File(store, "r") as s:
        tr, va = h["training/train_rows"][()], h["training/val_rows"][()]
        x = np.concatenate([s["pooled/%s/%s" % (h.attrs["tap"], p)][()]
                            for p in h.attrs["pooling"].split("+")], axis=1)
        y = s["images/label"][()]
    mu, sd = x[tr].mean(0), x[tr].std(0)
    xs = (x - mu) / sd
    clf = LogisticRegression(max_iter=5000).fit(xs[tr], y[tr])
    sk = float(np.mean(clf.predict(xs[va]) == y[va]))
    ok = m["accuracy"] >= sk - 0.01
    print("%-28s %5d train / %4d val rows x %3d: vggtap %.4f, scikit-learn %.4f  %s"
          % (name, len(tr), len(va), x.shape[1], m["accuracy"], sk, "ok" if ok else "FAIL"))
    return ok


def main():
    tmp = tempfile.mkdtemp(prefix="vt_conformance_")
    ok = True
    ok &= compare(tmp, "10 classes x 64", ["--rows", "4000", "--classes", "10", "--dim", "64", "--noise", "2.8"])
    ok &= compare(tmp, "14 classes x 256", ["--rows", "5000", "--classes", "14", "--dim", "256", "--noise", "5.6"])
    ok &= compare(tmp, "3 classes x 32 maps avg2", ["--rows", "900", "--classes", "3", "--map", "6,6,8",
                                                    "--maps", "--pooled", "--noise", "3"], ["--pool", "avg2"])
    subprocess.run(["rm", "-rf", tmp])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
