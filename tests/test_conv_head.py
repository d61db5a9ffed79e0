#!/usr/bin/python3
"""The conv head through the programs, on data/clothing-30 (300 real
photos, 10 classes, the manifest's split):

  - vggtap-extract --keep maps (float16 block2_pool maps), and a copy of the
    store with the mirrored photos' maps in /mirror/features/block2_pool
    (the layout of vggtap-extract --augment flip: here from a second store
    of PIL-mirrored photos, same rows);
  - vggtap-train --head conv --augment flip: exits 0, says where the maps
    and mirrors come from, writes head.h5, the log and the report
    (report.html, metrics.json with head conv), learns (well above chance);
    the same seed gives bitwise the same head on 1 or 2 threads and with
    the maps streamed from the file instead of cached;
  - head.h5 read by h5py into torch.nn (same architecture): its logits on
    the stored maps, averaged with the mirrors' as the head says, equal
    vggtap-predict --store's probabilities (1e-4);
  - vggtap-predict on the image files agrees with --store (same top class
    for nearly all; the maps of the store are float16 and its mirrors were
    mirrored before resizing);
  - vggtap-info shows the conv head; --augment mapflip trains; clear errors
    for a store without maps and --augment flip without mirrors."""
import csv
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import torch
from PIL import Image, ImageOps

import vtlib
from test_convnet_torch import Head

check = vtlib.check
BIN = vtlib.BIN
DATA = os.path.join(vtlib.DATA, vtlib.CLOTHING)
TAP = "block2_pool"


def run(*args):
    return subprocess.run([os.path.join(BIN, args[0]), *args[1:]], capture_output=True, text=True)


def extract(manifest, out):
    r = run("vggtap-extract", "--weights", vtlib.WEIGHTS, "--manifest", manifest, "--tap", TAP, "--keep", "maps",
            "--map-dtype", "float16", "--out", out, "--quiet")
    if r.returncode != 0:
        sys.exit("vggtap-extract failed: " + r.stderr)


def mirrored_manifest(tmp):
    """The clothing photos mirrored (PNG: lossless) under tmp, same rows."""
    src = os.path.join(DATA, "manifest.csv")
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    out_dir = os.path.join(tmp, "mirrored")
    for r in rows:
        dst = os.path.join(out_dir, r["path"])
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        ImageOps.mirror(Image.open(os.path.join(DATA, r["path"])).convert("RGB")).save(dst, format="PNG")
    with open(os.path.join(out_dir, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    return os.path.join(out_dir, "manifest.csv")


def head_datasets(path):
    with h5py.File(path, "r") as f:
        out = {}
        f["convnet"].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return out


def same_head(a, b):
    da, db = head_datasets(a), head_datasets(b)
    return da.keys() == db.keys() and all(np.array_equal(da[k], db[k]) for k in da)


def read_probs(csv_text, classes):
    """path -> probabilities over classes (from --top K = all classes)."""
    out = {}
    for r in csv.DictReader(csv_text.splitlines()):
        p = np.zeros(len(classes))
        for j in range(1, len(classes) + 1):
            p[classes.index(r["class_%d" % j])] = float(r["probability_%d" % j])
        out[r["path"]] = p
    return out


def main():
    tmp = vtlib.tmpdir()
    photos, mirrors, store = (os.path.join(tmp, n) for n in ("photos.h5", "mirrors.h5", "store.h5"))
    extract(os.path.join(DATA, "manifest.csv"), photos)
    extract(mirrored_manifest(tmp), mirrors)
    shutil.copy(photos, store)
    with h5py.File(store, "a") as s, h5py.File(mirrors, "r") as m:
        s.create_dataset("mirror/features/" + TAP, data=m["features/" + TAP][()])
        s.attrs["augment"] = "flip"

    # train: 10 epochs of issue 24's recipe, mirrors from the store
    head = os.path.join(tmp, "conv.h5")
    base = ["--store", store, "--head", "conv", "--split", "manifest", "--test-fraction", "0"]
    common = base + ["--epochs", "10", "--seed", "3"]
    r = run("vggtap-train", *common, "--augment", "flip", "--threads", "2", "--out", head)
    check(r.returncode == 0, "train --head conv exits 0: %s" % r.stderr[-500:])
    if r.returncode != 0:
        return 1
    print(r.stderr.splitlines()[0])
    check("cached in memory" in r.stderr, "says the maps are cached")
    check("mirrors: the mirrored photos' stored maps" in r.stderr, "says the mirrors are the stored ones")
    rep = os.path.join(tmp, "conv.report")
    m = json.load(open(os.path.join(rep, "metrics.json")))
    check(m.get("head") == "conv" and m.get("hidden") == "64,64", "metrics.json: head conv 64,64 (%s %s)"
          % (m.get("head"), m.get("hidden")))
    check(os.path.exists(os.path.join(rep, "report.html")) and os.path.exists(os.path.join(rep, "curves.png")),
          "report.html and curves.png written")
    log = list(csv.DictReader(open(os.path.join(tmp, "conv.log.csv"))))
    check(len(log) == 10 and all(r["val_acc"] for r in log), "10 epochs logged with validation")
    # the default schedule: cosine from 1e-3, lr_e = 5e-4 (1 + cos(pi e / 10))
    lrs = [float(row["lr"]) for row in log]
    want = [5e-4 * (1 + np.cos(np.pi * e / 10)) for e in range(10)]
    check(len(lrs) == 10 and np.allclose(lrs, want, rtol=1e-5, atol=0),
          "the lr decays on a cosine by default (%s)" % ", ".join("%.3g" % x for x in lrs))
    with h5py.File(head, "r") as f:
        check("lr_schedule=cosine" in f.attrs["config"].splitlines(), "head.h5 records lr_schedule=cosine")
    const = os.path.join(tmp, "conv-const.h5")
    r = run("vggtap-train", *base, "--epochs", "2", "--lr-schedule", "constant", "--out", const, "--quiet")
    lrs = [float(row["lr"]) for row in csv.DictReader(open(os.path.join(tmp, "conv-const.log.csv")))] \
        if r.returncode == 0 else []
    check(len(lrs) == 2 and np.allclose(lrs, [1e-3, 1e-3], rtol=1e-6, atol=0),
          "--lr-schedule constant keeps the recipe's constant lr (%s)" % lrs)
    print("accuracy on the 100 validation photos after 10 epochs: %.3f" % m["accuracy"])
    check(m["accuracy"] >= 0.3, "learns: accuracy %.3f well above chance 0.10 (>= 0.30)" % m["accuracy"])

    # determinism: threads and streaming change nothing
    one = os.path.join(tmp, "conv1.h5")
    r = run("vggtap-train", *common, "--augment", "flip", "--threads", "1", "--out", one, "--quiet")
    check(r.returncode == 0 and same_head(head, one), "1 thread: bitwise the same head")
    streamed = os.path.join(tmp, "conv-streamed.h5")
    r = run("vggtap-train", *common, "--augment", "flip", "--cache-mb", "0", "--out", streamed)
    check(r.returncode == 0 and "read from the file row by row" in r.stderr, "--cache-mb 0 streams the maps")
    check(r.returncode == 0 and same_head(head, streamed), "streamed: bitwise the same head")

    # head.h5 into torch: logits on the stored maps, mirror-averaged
    with h5py.File(head, "r") as f, h5py.File(store, "r") as s:
        check(f.attrs["head"] == "conv" and f.attrs["mirror"] == "stored" and f.attrs["map_reduce"] == "none",
              "head.h5: head conv, mirror stored, map_reduce none")
        net = Head(f["convnet"])
        net.load(f["convnet"])
        net.eval()
        classes = [c.decode() if isinstance(c, bytes) else c for c in f["classes"][()]]
        x = torch.from_numpy(s["features/" + TAP][()].astype(np.float32))
        xm = torch.from_numpy(s["mirror/features/" + TAP][()].astype(np.float32))
        paths = [p.decode() if isinstance(p, bytes) else p for p in s["images/path"][()]]
    with torch.no_grad():
        ref = 0.5 * (torch.softmax(net(x), 1) + torch.softmax(net(xm), 1)).numpy()
    r = run("vggtap-predict", "--head", head, "--store", store, "--top", str(len(classes)))
    check(r.returncode == 0, "predict --store exits 0: %s" % r.stderr[-300:])
    got = read_probs(r.stdout, classes)
    diff = max(np.max(np.abs(got[p] - ref[i])) for i, p in enumerate(paths))
    check(diff < 1e-4, "predict --store = torch's mirror-averaged probabilities (max diff %.2g)" % diff)

    # predict on the images: the prefix, then the head (and the mirror image)
    val = [i for i, r in enumerate(csv.DictReader(open(os.path.join(DATA, "manifest.csv")))) if r["split"] != "train"]
    images = [os.path.join(DATA, paths[i]) for i in val]
    r = run("vggtap-predict", "--weights", vtlib.WEIGHTS, "--head", head, "--top", str(len(classes)), *images)
    check(r.returncode == 0, "predict on images exits 0: %s" % r.stderr[-300:])
    img = read_probs(r.stdout, classes)
    same = sum(np.argmax(img[os.path.join(DATA, paths[i])]) == np.argmax(ref[i]) for i in val)
    diff = max(np.max(np.abs(img[os.path.join(DATA, paths[i])] - ref[i])) for i in val)
    print("images vs store: same top class for %d of %d, max probability difference %.3f" % (same, len(val), diff))
    check(same >= 0.95 * len(val) and diff < 0.1, "predict on images agrees with the store (%d of %d, %.3f)"
          % (same, len(val), diff))

    r = run("vggtap-info", head)
    check(r.returncode == 0 and "conv 64,64: 56x56x128 maps -> 10 classes" in r.stdout
          and "mirror average at evaluation: stored" in r.stdout, "vggtap-info shows the conv head:\n" + r.stdout[:600])

    # the cheaper mirroring, and the errors
    r = run("vggtap-train", *common, "--epochs", "2", "--augment", "mapflip", "--out", os.path.join(tmp, "mf.h5"))
    check(r.returncode == 0 and "maps mirrored in memory" in r.stderr, "--augment mapflip trains")
    r = run("vggtap-train", "--store", photos, "--head", "conv", "--augment", "flip", "--out", os.path.join(tmp, "x.h5"))
    check(r.returncode == 1 and "no maps of the mirrored photos" in r.stderr and "--augment flip" in r.stderr,
          "--augment flip without mirrors refused: %s" % r.stderr.strip())
    pooled = os.path.join(tmp, "pooled.h5")
    subprocess.run([sys.executable, os.path.join(vtlib.ROOT, "tests", "tools", "make_store_fixture.py"), pooled,
                    "--tap", TAP, "--dim", "16"], check=True)
    r = run("vggtap-train", "--store", pooled, "--head", "conv", "--out", os.path.join(tmp, "x.h5"))
    check(r.returncode == 1 and "holds no maps of block2_pool" in r.stderr and "--keep maps" in r.stderr,
          "a store without maps refused, saying to extract with --keep maps: %s" % r.stderr.strip())
    r = run("vggtap-predict", "--head", head, "--store", photos)
    check(r.returncode == 1 and "mirror" in r.stderr, "predict --store without mirrors refused: %s" % r.stderr.strip())
    r = run("vggtap-train", "--store", store, "--head", "conv", "--hidden", "64", "--out", os.path.join(tmp, "x.h5"))
    check(r.returncode == 2 and "--hidden" in r.stderr, "--hidden with --head conv is a usage error")

    return vtlib.status()


if __name__ == "__main__":
    sys.exit(main())
