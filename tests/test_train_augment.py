"""vggtap-train --augment and vggtap-predict with a mirror-trained head, on
real photos (data/clothing-30, extracted with --augment flip).

1. --augment flip trains on every training row and its mirror image: the
   head's standardisation statistics are those of exactly the training rows
   and their mirror images (numpy, from the store), head.h5 records
   augment = flip and the config (and vggtap-info) says so.
2. Mirror images stay on their photo's side of the split: on a copy of the
   store whose features are random noise (labels then carry no signal) and
   whose mirror features are the photo's own plus a little noise, a head that
   fits its training rows perfectly stays near chance on the test rows. Had
   a test row's mirror image been trained on, the head would know that row.
3. vggtap-predict with the head averages the probabilities of photo and
   mirror, on a store (against numpy) and on the image files (running the
   prefix on each image and its mirror: the same as on the store); the
   averages differ from the photo's own probabilities.
4. Refusals: --augment flip on a store without mirror images (and with an
   --eval store without them), vggtap-predict --store of such a store with a
   flip head, --augment mapflip for softmax and MLP heads; auto = none for
   them.
5. pipeline.mk's sweep takes augment as a dimension ([sweep] augment =
   none flip): each head trained both ways, one folder deeper; vggtap-config
   refuses an unknown mode."""
import csv
import glob
import io
import os
import shutil
import subprocess

import h5py
import numpy as np

import vtlib

EXTRACT, TRAIN, PREDICT = vtlib.tool("vggtap-extract"), vtlib.tool("vggtap-train"), vtlib.tool("vggtap-predict")
TAP, POOL = "block2_pool", "max4"


def probs_numpy(head, store, group=""):
    """The head's probabilities on every row of the store (docs/HEAD.md)."""
    with h5py.File(head, "r") as h, h5py.File(store, "r") as s:
        x = np.concatenate([s[f"{group}pooled/{p}"][()] for p in h.attrs["features"].split(",")], axis=1)
        z = (x.astype(np.float64) - h["standardize/mean"][()]) / h["standardize/std"][()]
        n_layers = int(h.attrs["n_layers"])
        for layer in range(n_layers):
            z = z @ h[f"layers/{layer}/kernel"][()] + h[f"layers/{layer}/bias"][()]
            if layer < n_layers - 1:
                z = np.maximum(z, 0)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


def predicted(text, classes):
    """{path: probability vector (the top-k given, k = all classes)} from vggtap-predict's CSV."""
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        p = np.zeros(len(classes))
        for j in range(1, len(classes) + 1):
            p[classes.index(row[f"class_{j}"])] = float(row[f"probability_{j}"])
        out[row["path"]] = p
    return out


def main():
    tmp = vtlib.tmpdir()
    man = os.path.join(vtlib.DATA, vtlib.CLOTHING, "manifest.csv")
    store, plain = os.path.join(tmp, "flip.h5"), os.path.join(tmp, "plain.h5")
    base = [EXTRACT, "--weights", vtlib.WEIGHTS, "--manifest", man, "--tap", TAP, "--size", "112",
            "--quiet", "--threads", "2"]
    vtlib.run(base + ["--augment", "flip", "--out", store])
    few = os.path.join(tmp, "few.csv")  # 2 photos a class, for the refusals
    vtlib.write_manifest(few, vtlib.CLOTHING, vtlib.sample(vtlib.CLOTHING, 2, seed=1))
    vtlib.run(base[:3] + ["--manifest", few] + base[5:] + ["--out", plain])
    with h5py.File(store, "r") as f:
        classes = [c.decode() if isinstance(c, bytes) else c for c in f["classes"][()]]
        photo, mirror = f[f"pooled/{TAP}/{POOL}"][()], f[f"mirror/pooled/{TAP}/{POOL}"][()]
        paths = [p.decode() if isinstance(p, bytes) else p for p in f["images/path"][()]]
    train = [TRAIN, "--store", store, "--tap", TAP, "--pool", POOL, "--quiet"]

    # 1. training rows and their mirror images
    head = os.path.join(tmp, "flip-head.h5")
    vtlib.run(train + ["--split", "manifest", "--augment", "flip", "--out", head])
    with h5py.File(head, "r") as h:
        rows = h["training/train_rows"][()]
        both = np.concatenate([photo[rows], mirror[rows]]).astype(np.float64)
        vtlib.check(np.allclose(h["standardize/mean"][()], both.mean(0), rtol=1e-4, atol=1e-4 * np.abs(both).max()),
                    "the standardisation mean is that of the training rows and their mirror images")
        only = photo[rows].astype(np.float64).mean(0)
        vtlib.check(not np.allclose(h["standardize/mean"][()], only, rtol=1e-4, atol=1e-4 * np.abs(both).max()),
                    "... and not that of the photos alone")
        vtlib.check(h.attrs["augment"] == "flip", f"head.h5 augment = {h.attrs['augment']}")
        vtlib.check("augment=flip" in h.attrs["config"], "the config records augment=flip")
    info = vtlib.run([vtlib.tool("vggtap-info"), head]).stdout
    vtlib.check("augment        flip" in info, "vggtap-info shows the head's augment")

    # 2. mirrors stay on their photo's side of the split
    noise = os.path.join(tmp, "noise.h5")
    shutil.copy(store, noise)
    rng = np.random.default_rng(7)
    with h5py.File(noise, "a") as f:
        x = rng.standard_normal(f[f"pooled/{TAP}/max1"].shape).astype(np.float32)
        f[f"pooled/{TAP}/max1"][...] = x
        f[f"mirror/pooled/{TAP}/max1"][...] = x + 0.05 * rng.standard_normal(x.shape).astype(np.float32)
    memo = os.path.join(tmp, "memo.h5")
    vtlib.run([TRAIN, "--store", noise, "--tap", TAP, "--pool", "max1", "--quiet", "--split", "random",
               "--test-fraction", "0.3", "--val-fraction", "0", "--weight-decay", "1e-6", "--epochs", "2000",
               "--augment", "flip", "--out", memo])
    p = probs_numpy(memo, noise)
    with h5py.File(noise, "r") as f, h5py.File(memo, "r") as h:
        y = f["images/label"][()]
        tr, te = h["training/train_rows"][()], h["training/test_rows"][()]
    vtlib.check(len(set(tr) & set(te)) == 0 and len(te) >= 60, f"{len(tr)} training rows, {len(te)} test rows")
    train_acc = float(np.mean(p[tr].argmax(1) == y[tr]))
    test_acc = float(np.mean(p[te].argmax(1) == y[te]))
    print(f"noise features: training accuracy {train_acc:.3f}, test accuracy {test_acc:.3f} (chance 0.1)")
    vtlib.check(train_acc == 1.0, f"the head fits its noise training rows ({train_acc:.3f})")
    vtlib.check(test_acc < 0.35, f"... and knows nothing of the test rows ({test_acc:.3f}): no mirror crossed the split")

    # 3. predictions average photo and mirror
    out = vtlib.run([PREDICT, "--head", head, "--store", store, "--top", str(len(classes))]).stdout
    got = predicted(out, classes)
    want = 0.5 * (probs_numpy(head, store) + probs_numpy(head, store, "mirror/"))
    own = probs_numpy(head, store)
    err = max(np.abs(got[pth] - want[i]).max() for i, pth in enumerate(paths))
    vtlib.check(err < 2e-5, f"vggtap-predict --store = mean of photo and mirror probabilities (max diff {err:.2e})")
    gap = max(np.abs(own[i] - want[i]).max() for i in range(len(paths)))
    vtlib.check(gap > 1e-2, f"... which differs from the photo's own probabilities (by up to {gap:.3f})")
    files = [os.path.join(vtlib.DATA, vtlib.CLOTHING, p) for p in paths[::30]]
    out = vtlib.run([PREDICT, "--head", head, "--weights", vtlib.WEIGHTS, "--top", str(len(classes)), "--threads", "2"]
                    + files).stdout
    on_images = predicted(out, classes)
    err = max(np.abs(on_images[f] - got[p]).max() for f, p in zip(files, paths[::30]))
    vtlib.check(err < 2e-5, f"vggtap-predict on the images = on the store, mirrors included (max diff {err:.2e})")

    # 4. refusals, and auto
    r = vtlib.run(train + ["--store", plain, "--augment", "flip", "--out", os.path.join(tmp, "x.h5")], check=False)
    vtlib.check(r.returncode == 1 and "no mirror images" in r.stderr and "--augment flip" in r.stderr,
                f"flip on a store without mirrors: {r.stderr.strip()}")
    r = vtlib.run(train + ["--augment", "flip", "--eval", plain, "--out", os.path.join(tmp, "x.h5")], check=False)
    vtlib.check(r.returncode == 1 and "no mirror images" in r.stderr, f"... or an --eval store without: {r.stderr.strip()}")
    r = vtlib.run([PREDICT, "--head", head, "--store", plain], check=False)
    vtlib.check(r.returncode == 1 and "no mirror images" in r.stderr, f"vggtap-predict --store without mirrors: {r.stderr.strip()}")
    for hidden in ([], ["--hidden", "32"]):
        r = vtlib.run(train + ["--augment", "mapflip", "--out", os.path.join(tmp, "x.h5")] + hidden, check=False)
        vtlib.check(r.returncode == 2 and "conv head" in r.stderr, f"mapflip refused: {r.stderr.strip()}")
    auto = os.path.join(tmp, "auto.h5")
    vtlib.run(train + ["--split", "manifest", "--out", auto])
    with h5py.File(auto, "r") as h:
        vtlib.check(h.attrs["augment"] == "none" and "augment=none" in h.attrs["config"], "auto = none for softmax")

    # 5. the sweep's augment dimension
    sweep = os.path.join(tmp, "sweep")
    os.makedirs(sweep)
    config = os.path.join(sweep, "t.ini")
    sweep_man = os.path.join(sweep, "m.csv")  # 6 train and 4 validation photos a class
    with open(man) as src, open(sweep_man, "w") as dst:
        lines = src.read().splitlines()
        taken = {}
        dst.write("path,class,split\n")
        for line in lines[1:]:
            path, cls, split = line.split(",")[:3]
            key = (cls, split)
            taken[key] = taken.get(key, 0) + 1
            if taken[key] <= (6 if split == "train" else 4):
                dst.write(f"{os.path.join(vtlib.DATA, vtlib.CLOTHING, path)},{cls},{split}\n")
    with open(config, "w") as f:
        f.write(f"[vggtap]\nwork = run\nweights = {vtlib.WEIGHTS}\n[extract]\nmanifest = {sweep_man}\n"
                "label-column = class\nsplit-column = split\ntap = block2_pool\nsize = 112\naugment = flip\n"
                "threads = 2\n[train]\nsplit = manifest\n[sweep]\npools = max4 avg1\nheads = softmax\n"
                "augment = none flip\n")
    r = subprocess.run(["make", "--no-print-directory", "-f", os.path.join(vtlib.ROOT, "pipeline.mk"),
                        f"BIN={vtlib.BIN}", "CONFIG=t.ini", "-j2", "sweep"], cwd=sweep, capture_output=True, text=True)
    heads = sorted(os.path.relpath(h, os.path.join(sweep, "run", "sweep")) for h in
                   glob.glob(os.path.join(sweep, "run", "sweep", "**", "head.h5"), recursive=True))
    vtlib.check(r.returncode == 0 and len(heads) == 4, f"sweep: {heads} {r.stdout[-400:]} {r.stderr[-400:]}")
    for h in heads:
        with h5py.File(os.path.join(sweep, "run", "sweep", h), "r") as f:
            vtlib.check(f.attrs["augment"] == h.split("/")[-2], f"sweep head {h}: augment {f.attrs['augment']}")
    vtlib.check("b2/avg1/softmax/flip" in r.stdout and "b2/max4/softmax/none" in r.stdout,
                "the sweep's lines name the augment")
    with open(config) as f:
        text = f.read().replace("augment = none flip", "augment = none flop")
    with open(config, "w") as f:
        f.write(text)
    r = vtlib.run([vtlib.tool("vggtap-config"), "check", config], check=False)
    vtlib.check(r.returncode != 0 and "flop" in r.stderr, f"vggtap-config refuses augment = flop: {r.stderr.strip()}")

    if vtlib.failures:
        raise SystemExit(f"{len(vtlib.failures)} checks failed")
    print("ok")


if __name__ == "__main__":
    main()
