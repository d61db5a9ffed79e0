#!/usr/bin/python3
"""Which head to choose: softmax, MLP and conv heads, with and without
mirror images, trained and scored by vggtap itself on the shared photo
sets (docs/TRAIN.md, "Which head to choose").

For each set, vggtap-extract runs once (block2_pool of the real weights,
--keep maps,pooled, float16 maps reduced 2x2 with --map-pool avg2, which
is the conv head's own input pool, and --augment flip), then vggtap-train
trains every head of HEADS on the same rows and scores it on the same
held-out test rows:

  - softmax on max4, softmax on the pyramid avg2,max2,max4 and an MLP
    (256 hidden, dropout 0.5) on max4, each with --augment none and flip;
  - the conv head with --augment none, flip and mapflip, and the lighter
    --conv 1x1:32,64 with flip.

The split is drawn here, seeded and stratified, and written into the
manifest the store is extracted from (split column train / validation /
test; vggtap-train --split manifest): vggtap-train's own --seed also
moves the test rows it draws, and the heads of every seed must be scored
on the same photos. clothing-dataset-small keeps its own train rows and
gives half of each class's validation rows to the test split (as
vggtap-train does for a manifest without test rows); sets without a split
hold out --test-fraction of each class for the test, and --val-fraction
of the rest for validation.

Softmax heads (L-BFGS from zeros) do not depend on the seed and run once;
MLP and conv heads run for each of --seeds. Each table gives the test
accuracy with one standard error sqrt(p(1-p)/n) of the test rows (the
seed mean, and each seed's), macro-F1, the accuracy on validation + test
rows together where the validation rows chose nothing (no early
stopping: softmax and conv heads; the MLP early-stops on them), the
head's parameters and the wall-clock seconds of the vggtap-train command.
Markdown on stdout, progress on stderr. Not part of `make test`.

    flock /work/bench.lock python3 tests/bench/head_table.py [--seeds 0,1,2] > heads.md
    head_table.py --quick     # data/clothing-30, 3 conv epochs: the harness works

The shared sets are found in $VGGTAP_SHARED/data (default ../shared beside
the checkout).
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.environ.get("VGGTAP_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(ROOT, "bin")
SHARED = os.environ.get("VGGTAP_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
TAP = "block2_pool"

# name, pooled features (or maps), vggtap-train flags, --augment values, seeded
HEADS = [("softmax", "max4", ["--pool", "max4"], ["none", "flip"], False),
         ("softmax", "avg2,max2,max4", ["--pool", "avg2,max2,max4"], ["none", "flip"], False),
         ("MLP 256, dropout 0.5", "max4", ["--pool", "max4", "--hidden", "256", "--dropout", "0.5"],
          ["none", "flip"], True),
         ("conv 64,64", "maps", ["--head", "conv"], ["none", "flip", "mapflip"], True),
         ("conv 1x1:32,64", "maps", ["--head", "conv", "--conv", "1x1:32,64"], ["flip"], True)]


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def run(cmd):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("%s\nexit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return time.time() - t0


def read_manifest(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    base = os.path.dirname(os.path.abspath(path))
    for r in rows:
        r["path"] = os.path.join(base, r["path"])
    return rows


def draw(idx, fraction, rng):
    """A seeded share of idx (rounded, at least one when fraction > 0 and
    idx has two or more), the rest."""
    idx = list(idx)
    rng.shuffle(idx)
    k = int(round(fraction * len(idx)))
    if fraction > 0 and len(idx) >= 2:
        k = min(max(k, 1), len(idx) - 1)
    return idx[:k], idx[k:]


def split_rows(rows, split_col, test_fraction, val_fraction, seed):
    """Writes r["split"]: train / validation / test, stratified by class."""
    rng = np.random.RandomState(seed)
    for c in sorted({r["class"] for r in rows}):
        members = [i for i, r in enumerate(rows) if r["class"] == c]
        if split_col:  # the manifest's own train rows; half its validation rows test
            val = [i for i in members if rows[i][split_col] != "train"]
            for i in members:
                rows[i]["split"] = "train" if rows[i][split_col] == "train" else "validation"
            test, _ = draw(val, 0.5, rng)
        else:
            test, rest = draw(members, test_fraction, rng)
            val, train = draw(rest, val_fraction, rng)
            for i in train:
                rows[i]["split"] = "train"
            for i in val:
                rows[i]["split"] = "validation"
        for i in test:
            rows[i]["split"] = "test"


def write_manifest(rows, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "class", "split"])
        for r in rows:
            w.writerow([r["path"], r["class"], r["split"]])


def se(p, n):
    return math.sqrt(p * (1 - p) / n) if n else float("nan")


def train(store, out_dir, name, flags, augment, seed, threads):
    head = os.path.join(out_dir, "%s-%s-%d.h5" % (name, augment, seed))
    cmd = [os.path.join(BIN, "vggtap-train"), "--store", store, "--tap", TAP, "--split", "manifest",
           "--augment", augment, "--seed", str(seed), "--quiet", "--out", head, *flags]
    if "--head" in flags:
        cmd += ["--threads", str(threads)]
    secs = run(cmd)
    with open(head[:-3] + ".report/metrics.json") as f:
        m = json.load(f)
    if m["eval"] != "test split":
        sys.exit("%s: scored on '%s', not the test split" % (head, m["eval"]))
    m["wall"] = secs
    return m


def fmt_acc(ms):
    accs = [m["accuracy"] for m in ms]
    p, n = sum(accs) / len(accs), ms[0]["n"]
    s = "%.3f ± %.3f" % (p, se(p, n))
    return s + (" (%s)" % ", ".join("%.3f" % a for a in accs) if len(accs) > 1 else "")


def fmt_valtest(ms):
    """Accuracy on validation + test rows, when the validation rows chose nothing."""
    if any(m["val_chose"] or m["val_accuracy"] is None for m in ms):
        return "—"
    accs = [(m["val_accuracy"] * m["n_val"] + m["accuracy"] * m["n"]) / (m["n_val"] + m["n"]) for m in ms]
    p = sum(accs) / len(accs)
    return "%.3f ± %.3f" % (p, se(p, ms[0]["n_val"] + ms[0]["n"]))


def one_set(name, manifest, split_col, a, work):
    rows = read_manifest(manifest)
    split_rows(rows, split_col, a.test_fraction, a.val_fraction, a.split_seed)
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    m = os.path.join(d, "manifest.csv")
    write_manifest(rows, m)
    store = os.path.join(d, "store.h5")
    load0 = loadavg()
    print("%s: extracting %d photos and their mirror images" % (name, len(rows)), file=sys.stderr)
    ext_s = run([os.path.join(BIN, "vggtap-extract"), "--weights", a.weights, "--manifest", m, "--split-column",
                 "split", "--tap", TAP, "--keep", "maps,pooled", "--map-dtype", "float16", "--map-pool",
                 a.map_pool, "--augment", "flip", "--threads", str(a.threads), "--quiet", "--out", store])
    results = []
    for k, (head, feats, flags, augments, seeded) in enumerate(HEADS):
        for aug in augments:
            extra = ["--epochs", str(a.conv_epochs)] if "--head" in flags and a.conv_epochs else []
            ms = []
            for s in (a.seeds if seeded else [0]):
                ms.append(train(store, d, "head%d" % k, flags + extra, aug, s, a.threads))
                print("%s: %s %s --augment %s seed %d: accuracy %.4f (%d test rows), %.1f s" %
                      (name, head, feats, aug, s, ms[-1]["accuracy"], ms[-1]["n"], ms[-1]["wall"]),
                      file=sys.stderr)
            results.append((head, feats, aug, ms))
    counts = {s: sum(r["split"] == s for r in rows) for s in ("train", "validation", "test")}
    test_classes = [r["class"] for r in rows if r["split"] == "test"]
    majority = max(test_classes.count(c) for c in set(test_classes)) / len(test_classes)
    classes = len({r["class"] for r in rows})
    how = ("its manifest's %d train photos; its validation photos halved per class at random (seed %d): "
           "%d validation, %d test" % (counts["train"], a.split_seed, counts["validation"], counts["test"])
           if split_col else
           "%d train, %d validation, %d test, stratified at random (seed %d; test %g of each class, "
           "validation %g of the rest)" % (counts["train"], counts["validation"], counts["test"], a.split_seed,
                                           a.test_fraction, a.val_fraction))
    n_test, n_vt = counts["test"], counts["test"] + counts["validation"]
    print("### %s: %d photos, %d classes\n" % (name, len(rows), classes))
    print("Split: %s. Majority class: %.3f of the test rows. Extraction (photos and mirror images, "
          "%d threads): %.0f s. Load average %s at the start, %s at the end. Conv heads %s epochs; "
          "seeds %s.\n" % (how, majority, a.threads, ext_s, load0, loadavg(), a.conv_epochs or "40 (default)",
                           ",".join(map(str, a.seeds))))
    print("| head | features | `--augment` | parameters | test accuracy ± SE (%d photos) | macro-F1 "
          "| val + test accuracy (%d) | train s |" % (n_test, n_vt))
    print("|---|---|---|---:|---|---:|---|---:|")
    for head, feats, aug, ms in results:
        print("| %s | %s | %s | %s | %s | %.3f | %s | %.1f |" %
              (head, feats, aug, format(ms[0]["head_params"], ","), fmt_acc(ms),
               sum(m["macro_f1"] for m in ms) / len(ms), fmt_valtest(ms), sum(m["wall"] for m in ms) / len(ms)))
    print()
    sys.stdout.flush()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="clothing-dataset-small,shirt-collars,clothing-attributes-neckline",
                    help="shared sets (folders of $VGGTAP_SHARED/data) to run, in order")
    ap.add_argument("--seeds", default="0,1,2", help="seeds of the MLP and conv heads")
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--test-fraction", type=float, default=0.2, help="for sets without a split column")
    ap.add_argument("--val-fraction", type=float, default=0.2, help="of the rows left after the test split")
    ap.add_argument("--conv-epochs", type=int, default=0, help="conv heads' epochs (0: vggtap-train's default)")
    ap.add_argument("--map-pool", default="avg2", choices=["avg2", "none"],
                    help="maps stored reduced 2x2 (the conv head's own input pool) or whole")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weights", default=os.path.join(SHARED, "weights", "vgg16_keras_prefix.h5"))
    ap.add_argument("--work", help="keep the stores and heads here (default: a temporary folder, removed)")
    ap.add_argument("--quick", action="store_true", help="data/clothing-30, seed 0, 3 conv epochs")
    a = ap.parse_args()
    a.seeds = [int(s) for s in a.seeds.split(",")]
    if a.quick:
        a.seeds, a.conv_epochs = [0], 3
        sets = [("clothing-30", os.path.join(ROOT, "data", "clothing-30", "manifest.csv"), "split")]
        a.weights = os.path.join(ROOT, "data", "weights", "vgg16_keras_prefix.h5")
    else:
        sets = []
        for s in a.sets.split(","):
            m = os.path.join(SHARED, "data", s, "manifest.csv")
            if not os.path.exists(m):
                sys.exit("%s: no such manifest (set VGGTAP_SHARED)" % m)
            with open(m, newline="") as f:
                header = next(csv.reader(f))
            sets.append((s, m, "original_split" if "original_split" in header else None))
    work = a.work or tempfile.mkdtemp(prefix="vt_head_table_")
    t0 = time.time()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print("Machine: %s, %d CPUs; commit %s; load average %s at the start.\n" % (cpu, os.cpu_count(), commit or "?",
                                                                                 loadavg()))
    for name, manifest, split_col in sets:
        one_set(name, manifest, split_col, a, work)
    print("Whole run: %.0f s; `%s`; load average at the end %s." %
          (time.time() - t0, " ".join(["head_table.py"] + sys.argv[1:]), loadavg()))
    if not a.work:
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
