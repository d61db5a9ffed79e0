#!/usr/bin/env python3
"""Does a head trained on bf16 features score as well as one trained on
fp32 features? Extracts a labelled photo set twice with vggtap-extract
(--precision fp32, --precision bf16; same taps, grids and split), trains
the same softmax head on each (L-BFGS: a convex fit, deterministic, so
the two differ only by their features) for a few tap/pooling recipes, and
prints the held-out accuracy of each as a Markdown table, with the per-tap
max |bf16 - fp32| / max |fp32| of the stored pooled vectors.

Default: ../shared/data/clothing-dataset-small (1441 photos, 10 classes,
its own train (1100) / validation (341) split; scored on all the validation
rows, which choose nothing for an L-BFGS head: --test-fraction 0) with the
real block1-block2 weights.
Needs bf16 kernels (AMX or AVX512_BF16).

    flock /work/bench.lock python3 tests/bench/bf16_head_accuracy.py [--work DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("VGGTAP_BIN", os.path.join(ROOT, "bin"))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
RECIPES = [("block2_pool", "avg4"), ("block2_pool", "avg1"), ("block1_pool", "avg4"),
           ("block1_pool,block2_pool", "avg2")]


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr}")
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", default=os.path.join(SHARED, "data", "clothing-dataset-small", "manifest.csv"))
    ap.add_argument("--label-column", default="class")
    ap.add_argument("--split-column", default="original_split")
    ap.add_argument("--weights", default=os.path.join(ROOT, "data", "weights", "vgg16_keras_prefix.h5"))
    ap.add_argument("--work", help="keep the stores here (default: a temporary folder)")
    a = ap.parse_args()
    if not os.path.exists(a.manifest):
        sys.exit(f"{a.manifest} is absent (the project's ../shared data)")
    work = a.work or tempfile.mkdtemp(prefix="bf16-acc-")
    os.makedirs(work, exist_ok=True)
    stores = {}
    for prec in ("fp32", "bf16"):
        stores[prec] = os.path.join(work, f"{prec}.h5")
        t = time.time()
        run([os.path.join(BIN, "vggtap-extract"), "--manifest", a.manifest, "--label-column", a.label_column,
             "--split-column", a.split_column, "--weights", a.weights, "--tap", "block1_pool,block2_pool",
             "--precision", prec, "--out", stores[prec], "--quiet"])
        print(f"extract {prec}: {time.time() - t:.1f} s", file=sys.stderr)

    print(f"`{' '.join(sys.argv)}`; {a.manifest}; load average {os.getloadavg()[0]:.1f}\n")
    print("| pooled vectors | max \\|bf16 - fp32\\| / max \\|fp32\\| |")
    print("|---|---|")
    with h5py.File(stores["fp32"], "r") as f, h5py.File(stores["bf16"], "r") as g:
        for tap in ("block1_pool", "block2_pool"):
            for name in sorted(f[f"pooled/{tap}"]):
                x, y = f[f"pooled/{tap}/{name}"][:], g[f"pooled/{tap}/{name}"][:]
                ok = np.isfinite(x).all(axis=1)
                print(f"| {tap}/{name} | {np.abs(y[ok] - x[ok]).max() / np.abs(x[ok]).max():.2e} |")
    print()
    print("| taps | pooling | scored rows | fp32 accuracy | bf16 accuracy | bf16 - fp32 (points) |")
    print("|---|---|---|---|---|---|")
    for taps, pool in RECIPES:
        acc = {}
        for prec in ("fp32", "bf16"):
            head = os.path.join(work, f"head-{prec}.h5")
            rep = os.path.join(work, f"report-{prec}")
            run([os.path.join(BIN, "vggtap-train"), "--store", stores[prec], "--tap", taps, "--pool", pool,
                 "--split", "manifest", "--test-fraction", "0", "--optimizer", "lbfgs", "--seed", "1", "--out", head,
                 "--report", rep, "--quiet"])
            with open(os.path.join(rep, "metrics.json")) as f:
                m = json.load(f)
            acc[prec] = (m["accuracy"], m["n"])
        d = 100 * (acc["bf16"][0] - acc["fp32"][0])
        print(f"| {taps} | {pool} | {acc['fp32'][1]} | {100 * acc['fp32'][0]:.1f}% | {100 * acc['bf16'][0]:.1f}% | {d:+.1f} |")


if __name__ == "__main__":
    main()
