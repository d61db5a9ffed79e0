#!/usr/bin/python3
"""The conv head on real photos: clothing-dataset-small (1,441 photos in 10
classes, from the shared data folder, ../shared/data beside the checkout or
$VGGTAP_SHARED_DATA), its manifest's split (1,100 train, 341 validation).

Extracts block2_pool maps (float16) and pooled vectors of the photos and
of their mirror images (vggtap-extract --augment flip where it has it,
else a second store of PIL-mirrored JPEG copies, same rows, whose maps go
into /mirror/features/block2_pool), then trains
  - softmax regression on max4 (defaults),
  - the conv head (issue 24's recipe, stored mirrors: --augment flip) for
    20 epochs instead of 40, to fit CI time,
both scored on all 341 validation photos (--test-fraction 0; nothing is
chosen on them: L-BFGS runs to convergence, the conv head runs all its
epochs), and checks that the conv head beats softmax by at least 5 points.
The goal is 8 points; measured on the Xeon at seed 0 with the extractor's
mirrors: 0.739 after 20 epochs and 0.730 after 40, against softmax's 0.651
(8.8 and 7.9 points; with mirrors from PIL-mirrored JPEG copies 0.760 and
0.780). Seeds alone move the conv head by several points, and another CPU's
kernels round differently, so the test asserts a margin it keeps everywhere
and docs/TRAIN.md reports the measured gains.
(Without mirrors, or with the maps mirrored in memory, the gain was 5-6
points at seed 0: docs/TRAIN.md, "Which head to choose".)
Skipped, saying so, when the shared data is not there."""
import csv
import json
import os
import subprocess
import sys
import time

import h5py
from PIL import Image, ImageOps

import vtlib

check = vtlib.check


def shared_set(name):
    env = os.environ.get("VGGTAP_SHARED_DATA")
    for d in ([env] if env else []) + [os.path.join(vtlib.ROOT, "..", "shared", "data"),
                                       os.path.join(vtlib.ROOT, "..", "..", "shared", "data")]:
        if os.path.exists(os.path.join(d, name, "manifest.csv")):
            return os.path.join(d, name)
    return None


def run(*args):
    t0 = time.time()
    r = subprocess.run([os.path.join(vtlib.BIN, args[0]), *args[1:]], capture_output=True, text=True)
    return r, time.time() - t0


def extract(manifest, out, *extra):
    return run("vggtap-extract", "--weights", vtlib.WEIGHTS, "--manifest", manifest, "--split-column",
               "original_split", "--tap", "block2_pool", "--keep", "maps,pooled", "--map-dtype", "float16",
               "--out", out, "--quiet", *extra)


def mirrored_copies(data, tmp):
    """PIL-mirrored JPEG copies of the manifest's photos, same rows."""
    with open(os.path.join(data, "manifest.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    out = os.path.join(tmp, "mirrored")
    for r in rows:
        dst = os.path.join(out, r["path"])
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        ImageOps.mirror(Image.open(os.path.join(data, r["path"])).convert("RGB")).save(dst, quality=95)
    with open(os.path.join(out, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    return os.path.join(out, "manifest.csv")


def main():
    data = shared_set("clothing-dataset-small")
    if not data:
        vtlib.skip("skip: clothing-dataset-small is not in ../shared/data (nor $VGGTAP_SHARED_DATA): "
                   "the shared photo sets are not on this machine")
    tmp = vtlib.tmpdir()
    store = os.path.join(tmp, "clothing.h5")
    manifest = os.path.join(data, "manifest.csv")
    has_augment = "--augment" in run("vggtap-extract", "--help")[0].stdout
    r, secs = extract(manifest, store, *(["--augment", "flip"] if has_augment else []))
    if r.returncode == 0 and not has_augment:
        mirrors = os.path.join(tmp, "mirrors.h5")
        r, more = extract(mirrored_copies(data, tmp), mirrors)
        secs += more
        if r.returncode == 0:
            with h5py.File(store, "a") as s, h5py.File(mirrors, "r") as m:
                s.create_dataset("mirror/features/block2_pool", data=m["features/block2_pool"][()])
    if r.returncode != 0:
        check(False, "vggtap-extract exits 0: " + r.stderr[-500:])
        return 1
    print("extracted photos and mirrors (%s) in %.0f s" % ("--augment flip" if has_augment else "PIL copies", secs))
    scores = {}
    for name, flags in (("softmax max4", ["--tap", "block2_pool", "--pool", "max4"]),
                        ("conv", ["--head", "conv", "--augment", "flip", "--epochs", "20"])):
        head = os.path.join(tmp, name.replace(" ", "-") + ".h5")
        r, secs = run("vggtap-train", "--store", store, "--split", "manifest", "--test-fraction", "0", *flags,
                      "--out", head, "--quiet")
        check(r.returncode == 0, "%s: vggtap-train exits 0 (%s)" % (name, r.stderr[-300:]))
        if r.returncode != 0:
            return 1
        m = json.load(open(head[:-3] + ".report/metrics.json"))
        scores[name] = m["accuracy"]
        print("%s: accuracy %.4f on the %d validation photos (trained in %.0f s)" % (name, m["accuracy"], m["n"], secs))
    gain = scores["conv"] - scores["softmax max4"]
    check(gain >= 0.05, "the conv head beats softmax on max4 by %.1f points (>= 5)" % (100 * gain), show_ok=True)
    return vtlib.status()


if __name__ == "__main__":
    sys.exit(main())
