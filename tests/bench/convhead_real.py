#!/usr/bin/python3
"""The conv head on real photos: does it learn, and how does it compare with
the softmax head on the same tap's pooled vectors?

Extracts block2_pool maps (float16) and pooled vectors of a manifest's
photos with bin/vggtap-extract, and the same of their mirror images (PIL's
ImageOps.mirror, saved as JPEG quality 95, same relative paths, so the two
stores have the same rows), whose maps go into the photos' store as
/mirror/features/block2_pool (the layout of vggtap-extract --augment flip).
Then, on the manifest's split (train rows
train, the others validate):

  - the conv head (build/tools/convhead_bench --split, issue 24's recipe:
    40 epochs, batch 32, AdamW, label smoothing 0.1) without mirrors, with
    the stored mirrors (augmentation and mirror-averaged evaluation) and
    with the maps flipped in memory, for each --seeds;
  - vggtap-train's softmax head on max4 (--split manifest).

  convhead_real.py [--manifest data/clothing-30/manifest.csv] [--seeds 1,2]
                   [--epochs 40] [--tmp DIR] [--keep]
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import h5py
from PIL import Image, ImageOps

ROOT = os.environ.get("VGGTAP_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
BENCH = os.path.join(BUILD, "tools", "convhead_bench")
EXTRACT = os.path.join(ROOT, "bin", "vggtap-extract")
TRAIN = os.path.join(ROOT, "bin", "vggtap-train")
WEIGHTS = os.path.join(ROOT, "data", "weights", "vgg16_keras_prefix.h5")


def mirror_tree(manifest, out_dir):
    """Mirrored copies of the manifest's images under out_dir, and a copy of
    the manifest there (its paths relative, as the original's)."""
    src = os.path.dirname(os.path.abspath(manifest))
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        dst = os.path.join(out_dir, r["path"])
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        ImageOps.mirror(Image.open(os.path.join(src, r["path"])).convert("RGB")).save(dst, quality=95)
    with open(manifest, "rb") as f, open(os.path.join(out_dir, "manifest.csv"), "wb") as g:
        g.write(f.read())
    return os.path.join(out_dir, "manifest.csv")


def extract(manifest, out):
    subprocess.run([EXTRACT, "--weights", WEIGHTS, "--manifest", manifest, "--tap", "block2_pool",
                    "--store", "maps,pooled", "--map-dtype", "float16", "--out", out, "--quiet"], check=True)


def conv_head(store, seed, epochs, extra):
    r = subprocess.run([BENCH, store, "block2_pool", "--split", "--epochs", str(epochs), "--seed", str(seed),
                        "--threads", "2", *extra], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("convhead_bench failed: " + r.stderr)
    f = r.stdout.split()
    return dict(zip(f[0::2], f[1::2]))


def softmax_head(store, tmp):
    r = subprocess.run([TRAIN, "--store", store, "--tap", "block2_pool", "--pool", "max4", "--split", "manifest",
                        "--out", os.path.join(tmp, "softmax.h5"), "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("vggtap-train failed: " + r.stderr)
    for line in r.stdout.splitlines():
        if line.startswith("accuracy"):
            return float(line.split()[1])
    sys.exit("no accuracy in vggtap-train's report")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", default=os.path.join(ROOT, "data", "clothing-30", "manifest.csv"))
    p.add_argument("--seeds", default="1,2")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--tmp", default=None)
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="vt_convhead_real_", dir=a.tmp)
    photos, mirrors = os.path.join(tmp, "photos.h5"), os.path.join(tmp, "mirrors.h5")
    extract(a.manifest, photos)
    extract(mirror_tree(a.manifest, os.path.join(tmp, "mirrored")), mirrors)
    with h5py.File(photos, "a") as p, h5py.File(mirrors, "r") as m:
        p.create_dataset("mirror/features/block2_pool", data=m["features/block2_pool"][()])
    print("%s: block2_pool, validation accuracy on the manifest's split" % a.manifest)
    print("| head | %s |" % " | ".join("seed " + s for s in a.seeds.split(",")))
    print("|---|%s" % "---:|" * len(a.seeds.split(",")))
    modes = [("conv head, no mirrors", []),
             ("conv head, stored mirrors (train + eval)", ["--augment", "stored", "--eval", "stored"]),
             ("conv head, flipped maps (train + eval)", ["--augment", "flip", "--eval", "flip"])]
    for name, extra in modes:
        accs = [float(conv_head(photos, int(s), a.epochs, extra)["val_acc"]) for s in a.seeds.split(",")]
        print("| %s | %s |" % (name, " | ".join("%.3f" % x for x in accs)), flush=True)
    acc = softmax_head(photos, tmp)  # L-BFGS on a convex loss: the same for every seed
    print("| softmax on max4 (vggtap-train) | %s |" % " | ".join("%.3f" % acc for _ in a.seeds.split(",")))
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
