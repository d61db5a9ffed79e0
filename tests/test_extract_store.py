"""Store round trip: what vggtap-extract writes reads back with h5py, h5ls
and h5dump; rows carry path, label, split and status; pooled vectors agree
with the stored maps; float16 and compressed maps are the float32 maps within
half precision; manifest and plain-file inputs keep their order; docs/STORE.md
lists exactly the root attributes and datasets (with shapes) of a store."""
import os
import re
import subprocess
import sys

import h5py
import numpy as np

import vtlib

EXTRACT = vtlib.tool("vggtap-extract")


def strings(ds):
    return [s.decode() if isinstance(s, bytes) else s for s in ds[:]]


def documented_store(md, taps, grids):
    """docs/STORE.md's root attributes (its first table: a single run's; the
    next is a shard's) and its datasets with their shapes, expanded for these
    taps and grids."""
    text = open(md).read()
    def first_table(section):
        body = text.split("\n## " + section + "\n", 1)[1]
        rows = []
        for line in body.splitlines():
            if line.startswith("|"):
                rows.append([c.strip() for c in line.strip("|").split("|")])
            elif rows:
                break
        return [r for r in rows if r[0].startswith("`")]
    attrs = set()
    for row in first_table("Root attributes"):
        attrs |= set(re.findall(r"`([a-z_0-9]+)`", row[0]))
    datasets = {}
    for row in first_table("Datasets"):
        for path in re.findall(r"`(/[^`]+)`", row[0]):
            for tap in (taps if "<tap>" in path else [None]):
                for g in (grids if "<g>" in path else [None]):
                    p = path.replace("<tap>", tap or "").replace("<g>", str(g))
                    dims = re.findall(r"[^\[\],]+", row[1].replace(" ", ""))
                    datasets[p.lstrip("/")] = (tap, g, dims)
    return attrs, datasets


def main():
    tmp = vtlib.tmpdir()
    rows = vtlib.sample(vtlib.CLOTHING, 3, seed=1)[:12]  # 12 images, 4 classes
    data = os.path.join(tmp, "data")
    for p, c in rows:  # a class-folder tree of symlinks to the real photos
        os.makedirs(os.path.join(data, c), exist_ok=True)
        os.symlink(os.path.join(vtlib.DATA, vtlib.CLOTHING, p), os.path.join(data, p))
    open(os.path.join(data, "README.txt"), "w").write("not an image, ignored\n")

    # 1. class folders, maps + pooled, float32
    s32 = os.path.join(tmp, "f32.h5")
    vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--data", data, "--tap", "block1_pool,block2_conv1",
               "--keep", "maps,pooled", "--grids", "1,2,3", "--out", s32, "--quiet"])
    with h5py.File(s32, "r") as f:
        assert f.attrs["format"] == "vggtap-store" and f.attrs["format_version"] == 1
        assert f.attrs["taps"] == "block1_pool,block2_conv1", f.attrs["taps"]
        assert f.attrs["preprocessing"] == "caffe" and f.attrs["resize"] == "antialias"
        assert f.attrs["input_height"] == 224 and f.attrs["input_width"] == 224
        assert f.attrs["weights_sha256"] == \
            "0125efb5c0d76fdb66f5d1d09c5f1f95e82262000f736f3190b6532ca28f07be"
        classes = strings(f["classes"])
        assert classes == sorted({c for _, c in rows}), classes
        paths = strings(f["images/path"])
        assert paths == sorted(p for p, _ in rows), paths
        labels = f["images/label"][:]
        for p, l in zip(paths, labels):  # the label is the folder of that very path
            assert classes[l] == p.split("/")[0], (p, l)
        assert (f["images/status"][:] == 1).all()
        assert strings(f["images/error"]) == [""] * len(rows)
        assert (f["images/width"][:] > 0).all()
        m1 = f["features/block1_pool"]
        assert m1.shape == (12, 112, 112, 64) and m1.dtype == np.float32
        assert m1.chunks == (1, 112, 112, 64)
        m2 = f["features/block2_conv1"][:]
        assert m2.shape == (12, 112, 112, 128)
        for name, m in (("block1_pool", m1[:].astype(np.float64)), ("block2_conv1", m2.astype(np.float64))):
            scale = np.abs(m).max()
            gap = f[f"pooled/{name}/avg1"][:]
            gmp = f[f"pooled/{name}/max1"][:]
            assert np.abs(gap - m.mean(axis=(1, 2))).max() <= 1e-5 * scale
            assert np.abs(gmp - m.max(axis=(1, 2))).max() == 0
            # 3x3 grid, adaptive cells on 112: [0,38) [37,75) [74,112)
            a3 = f[f"pooled/{name}/avg3"][:].reshape(12, 3, 3, -1)
            b = [(i * 112 // 3, -(-(i + 1) * 112 // 3)) for i in range(3)]
            for gy in range(3):
                for gx in range(3):
                    ref = m[:, b[gy][0]:b[gy][1], b[gx][0]:b[gx][1]].mean(axis=(1, 2))
                    assert np.abs(a3[:, gy, gx] - ref).max() <= 1e-5 * scale
        maps32 = m1[:]

        # docs/STORE.md lists exactly this store's attributes and datasets, with their shapes
        attrs, documented = documented_store(os.path.join(vtlib.ROOT, "docs", "STORE.md"),
                                             ["block1_pool", "block2_conv1"], [1, 2, 3])
        assert attrs == set(f.attrs), ("STORE.md root attributes", attrs ^ set(f.attrs))
        found = []
        f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
        assert set(documented) == set(found), ("STORE.md datasets", set(documented) ^ set(found))
        for name, (tap, g, dims) in documented.items():
            h, w, c = f[f"features/{tap}"].shape[1:] if tap else (0, 0, 0)
            want = tuple(eval(d, {"N": 12, "K": len(classes), "h": h, "w": w, "c": c, "g": g}) for d in dims)
            assert f[name].shape == want, (name, f[name].shape, want)

    # h5ls / h5dump read it without vggtap code
    ls = vtlib.run(["h5ls", "-r", s32]).stdout
    assert "/pooled/block1_pool/avg1 Dataset {12, 64}" in ls, ls
    dump = vtlib.run(["h5dump", "-d", "/images/path", s32]).stdout
    assert rows[0][0] in dump

    # 2. float16 maps, deflate: same rows, values within half precision
    s16 = os.path.join(tmp, "f16.h5")
    vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--data", data, "--tap", "block1_pool",
               "--keep", "maps", "--map-dtype", "float16", "--compress", "4", "--out", s16, "--quiet"])
    with h5py.File(s16, "r") as f:
        m = f["features/block1_pool"]
        assert m.dtype == np.float16, m.dtype
        assert m.compression == "gzip" and m.shuffle
        assert "pooled" not in f
        d = np.abs(m[:].astype(np.float32) - maps32)
        assert (d <= np.abs(maps32) * 2.0 ** -11 + 2.0 ** -24).all(), d.max()
    assert os.path.getsize(s16) < os.path.getsize(s32) / 3, (os.path.getsize(s16), os.path.getsize(s32))

    # 3. manifest with a split column and an empty label: manifest order kept
    man = os.path.join(tmp, "m.csv")
    mrows = list(reversed(rows))
    with open(man, "w") as fh:
        fh.write("path,label,split\n")
        for i, (p, c) in enumerate(mrows):
            fh.write(f"data/{p},{'' if i == 0 else c},{'train' if i % 3 else 'val'}\n")
    sm = os.path.join(tmp, "man.h5")
    vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--manifest", man, "--tap", "block1_pool",
               "--out", sm, "--quiet"])
    with h5py.File(sm, "r") as f:
        assert strings(f["images/path"]) == [f"data/{p}" for p, _ in mrows]
        assert f["images/label"][0] == -1
        classes = strings(f["classes"])
        assert [classes[l] for l in f["images/label"][1:]] == [c for _, c in mrows[1:]]
        assert strings(f["images/split"]) == ["train" if i % 3 else "val" for i in range(12)]
        assert f.attrs["source"] == "manifest"
        # the same images give the same pooled vectors whatever the input form
        with h5py.File(s32, "r") as g:
            order = [strings(g["images/path"]).index(p) for p, _ in mrows]
            assert np.array_equal(f["pooled/block1_pool/avg1"][:], g["pooled/block1_pool/avg1"][:][order])

    # 4. plain files: unlabelled, order as given
    sf = os.path.join(tmp, "files.h5")
    files = [os.path.join(data, p) for p, _ in rows[:3]][::-1]
    vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--tap", "block1_pool", "--out", sf, "--quiet",
               "--files"] + files)
    with h5py.File(sf, "r") as f:
        assert strings(f["images/path"]) == files
        assert (f["images/label"][:] == -1).all() and len(f["classes"]) == 0

    # 4b. a folder given with a trailing slash: its images, named without "//"
    sd = os.path.join(tmp, "dir.h5")
    vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--tap", "block1_pool", "--out", sd, "--quiet",
               "--files", data + "/"])
    with h5py.File(sd, "r") as f:
        paths = strings(f["images/path"])
    assert sorted(paths) == sorted(os.path.join(data, p) for p, _ in rows), paths[:3]

    # 5. re-running the same command does nothing and says so
    p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--tap", "block1_pool", "--out", sf, "--files"] + files)
    assert "nothing to do" in p.stderr, p.stderr
    print("store round trip ok:", s32)
    return 0


if __name__ == "__main__":
    sys.exit(main())
