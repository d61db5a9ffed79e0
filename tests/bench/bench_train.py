#!/usr/bin/python3
"""Time to train a softmax head on the same pooled features: vggtap-train vs
scikit-learn's LogisticRegression (lbfgs) vs liblinear (-s 0, Debian's
liblinear-tools), with the validation accuracies side by side.

Cases: the pooled features of a real store (--store, e.g. clothing-dataset-small
at block2_pool), and synthetic 25k x 64 and 25k x 512 stores with 14 classes
(the size of the data set that motivated vggtap). Every method gets the same
training/validation rows (vggtap's seeded split, read back from head.h5) and the
same standardised features; vggtap's time is the whole command (read store,
train, evaluate, write head and report), its training loop alone is also shown.

  bench_train.py [--store STORE.h5 --tap block2_pool --pool gap ...] [--md OUT.md]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

ROOT = os.environ.get("VGGTAP_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TRAIN = os.path.join(ROOT, "bin", "vggtap-train")
FIXTURE = os.path.join(ROOT, "tests", "tools", "make_store_fixture.py")


def features(store, tap, pooling):
    with h5py.File(store, "r") as f:
        # head.h5 records the pooling as a comma list (older heads: '+')
        parts = pooling.replace("+", ",").split(",")
        x = np.concatenate([f["pooled/%s/%s" % (tap, p)][()] for p in parts], axis=1)
        y = f["images/label"][()]
    return x, y


def write_libsvm(path, x, y):
    with open(path, "w") as f:
        for xi, yi in zip(x, y):
            f.write("%d %s\n" % (yi, " ".join("%d:%.7g" % (j + 1, v) for j, v in enumerate(xi))))


def bench_case(name, store, tap, pool, tmp, extra):
    head = os.path.join(tmp, "head.h5")
    t0 = time.perf_counter()
    r = subprocess.run([TRAIN, "--store", store, "--tap", tap, "--pool", pool, "--out", head, "--quiet",
                        *extra], capture_output=True, text=True)
    t_vt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit("vggtap-train failed: " + r.stderr)
    m = json.load(open(os.path.join(tmp, "head.report", "metrics.json")))
    with h5py.File(head, "r") as h:
        tr, va = h["training/train_rows"][()], h["training/val_rows"][()]
        pooling = h.attrs["pooling"]
        mean, std = h["standardize/mean"][()], h["standardize/std"][()]
    x, y = features(store, tap, pooling)
    xs = (x - mean) / std
    rows = [{"method": "vggtap-train (softmax, defaults)", "seconds": t_vt, "inner": m["train_seconds"],
             "acc": m["accuracy"], "note": "%d epochs" % m["epochs_run"]}]

    from sklearn.linear_model import LogisticRegression
    clf = LogisticRegression(max_iter=2000)
    t0 = time.perf_counter()
    clf.fit(xs[tr], y[tr])
    t_sk = time.perf_counter() - t0
    rows.append({"method": "scikit-learn LogisticRegression (lbfgs)", "seconds": t_sk, "inner": None,
                 "acc": float(np.mean(clf.predict(xs[va]) == y[va])), "note": "%d iterations" % int(np.max(clf.n_iter_))})

    if shutil.which("liblinear-train"):
        ftr, fva, model, pred = (os.path.join(tmp, n) for n in ("tr.svm", "va.svm", "model", "pred"))
        write_libsvm(ftr, xs[tr], y[tr])
        write_libsvm(fva, xs[va], y[va])
        t0 = time.perf_counter()
        subprocess.run(["liblinear-train", "-s", "0", "-q", ftr, model], check=True)
        t_ll = time.perf_counter() - t0
        subprocess.run(["liblinear-predict", fva, model, pred], check=True, capture_output=True)
        p = np.loadtxt(pred, dtype=int)
        rows.append({"method": "liblinear-train -s 0", "seconds": t_ll, "inner": None,
                     "acc": float(np.mean(p == y[va])), "note": "one-vs-rest"})
    return {"name": name, "n_train": len(tr), "n_val": len(va), "dim": x.shape[1],
            "classes": int(y.max()) + 1, "rows": rows}


def table(results):
    out = ["| case | rows (train/val) x features, classes | method | time (s) | val accuracy |",
           "|---|---|---|---:|---:|"]
    for c in results:
        shape = "%d/%d x %d, %d" % (c["n_train"], c["n_val"], c["dim"], c["classes"])
        for i, r in enumerate(c["rows"]):
            t = "%.2f" % r["seconds"] + (" (loop %.2f)" % r["inner"] if r["inner"] is not None else "")
            out.append("| %s | %s | %s (%s) | %s | %.4f |" % (
                c["name"] if i == 0 else "", shape if i == 0 else "", r["method"], r["note"], t, r["acc"]))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--store", help="a real store with pooled vectors")
    ap.add_argument("--tap", default="block2_pool")
    ap.add_argument("--pool", action="append", help="pooling(s) for the real store (default gap)")
    ap.add_argument("--rows", type=int, default=25000)
    ap.add_argument("--md", help="also write the table here")
    ap.add_argument("extra", nargs="*", help="extra vggtap-train options (after --)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="vt_bench_train_")
    results = []
    if a.store:
        for pool in a.pool or ["gap"]:
            results.append(bench_case("%s %s %s" % (os.path.basename(a.store), a.tap, pool), a.store, a.tap,
                                      pool, tmp, a.extra))
            print(table(results[-1:]), flush=True)
    for dim in (64, 512):
        store = os.path.join(tmp, "synth%d.h5" % dim)
        subprocess.run([sys.executable, FIXTURE, store, "--rows", str(a.rows), "--classes", "14", "--dim",
                        str(dim), "--noise", "%.3f" % (0.35 * dim ** 0.5), "--seed", "5"], check=True)
        results.append(bench_case("synthetic %dk x %d" % (a.rows // 1000, dim), store, "block1_pool", "gap",
                                  tmp, a.extra))
        print(table(results[-1:]), flush=True)
    t = table(results)
    print("\n" + t)
    if a.md:
        open(a.md, "w").write(t + "\n")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
