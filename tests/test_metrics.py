"""vt_metrics_compute (through tests/tools/vt_metrics_cli) against
scikit-learn on random labels: accuracy, balanced accuracy, macro-F1 over the
classes present in y_true, per-class precision/recall/F1/support with
zero_division=0, and the confusion matrix."""
import os
import subprocess
import sys
import warnings

import numpy as np
import sklearn
from sklearn import metrics as skm

root = os.environ.get("VGGTAP_ROOT", os.path.join(os.path.dirname(__file__), ".."))
cli = os.path.join(root, os.environ.get("TEST_BUILD", "build"), "tools", "vt_metrics_cli")
if not os.path.exists(cli):
    sys.exit(f"missing {cli}: build it with make")


def run_cli(k, yt, yp):
    text = f"{k} {len(yt)} 0\n" + "".join(f"{a} {b}\n" for a, b in zip(yt, yp))
    out = subprocess.run([cli], input=text, capture_output=True, text=True, check=True).stdout
    got = {"class": [], "confusion": []}
    for line in out.splitlines():
        key, *vals = line.split()
        if key in got:
            got[key].append([float(v) for v in vals[1:]])
        else:
            got[key] = float(vals[0])
    return got


rng = np.random.default_rng(2024)
bad = 0
cases = 0
for trial in range(120):
    k = int(rng.integers(1, 25))
    n = int(rng.integers(1, 400))
    # skewed class frequencies so some classes are missing from y_true, and
    # predictions that are right about half the time
    freq = rng.dirichlet(np.full(k, 0.3))
    yt = rng.choice(k, size=n, p=freq)
    yp = np.where(rng.random(n) < 0.5, yt, rng.integers(0, k, n))
    if trial == 0:  # one class never predicted, one never true
        k, yt, yp = 4, np.array([0, 0, 1, 1, 1, 3]), np.array([0, 1, 1, 0, 3, 3])
    got = run_cli(k, yt, yp)
    present = np.unique(yt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        want = {
            "accuracy": skm.accuracy_score(yt, yp),
            "balanced_accuracy": skm.balanced_accuracy_score(yt, yp),
            "macro_f1": skm.f1_score(yt, yp, labels=present, average="macro", zero_division=0),
        }
        p, r, f, s = skm.precision_recall_fscore_support(yt, yp, labels=range(k), zero_division=0)
    cm = skm.confusion_matrix(yt, yp, labels=range(k))
    cases += 1
    for key, v in want.items():
        if abs(got[key] - v) > 1e-12:
            print(f"trial {trial}: {key} {got[key]} != sklearn {v}")
            bad += 1
    per = np.array(got["class"])
    if not (np.allclose(per[:, 0], p, atol=1e-12, rtol=0) and np.allclose(per[:, 1], r, atol=1e-12, rtol=0)
            and np.allclose(per[:, 2], f, atol=1e-12, rtol=0) and np.array_equal(per[:, 3], s)):
        print(f"trial {trial}: per-class mismatch\n{per}\n{p}\n{r}\n{f}\n{s}")
        bad += 1
    if not np.array_equal(np.array(got["confusion"]), cm):
        print(f"trial {trial}: confusion mismatch")
        bad += 1

print(f"{cases} random cases compared with scikit-learn {sklearn.__version__}, {bad} mismatches")
sys.exit(1 if bad else 0)
