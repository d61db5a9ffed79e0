"""vggtap-extract --augment flip and --map-pool on real photos (clothing-30).

1. --augment flip stores, under /mirror/, what extracting a left-right
   mirrored copy of each file gives: the copies are made here with PIL
   (decoded, mirrored, saved as lossless PNG), extracted without --augment,
   and compared dataset by dataset (maps and pooled vectors, every tap);
   extracting the copies with --augment flip mirrors them back, so their
   /mirror/ equals the originals' photo datasets. A failed row is NaN in the
   mirror datasets too. Shapes, types and attributes equal the photo's.
2. --map-pool avg2: /features/<tap> holds the 2x2 averages of the full maps
   (float16 through the in-place map file; float32 and --compress through
   the parts), /mirror/features too; pooled vectors are those of the full
   maps, bit for bit; the reduction is recorded (dataset attribute
   `reduction`, root `map_pool`).
3. A run killed after its first part and resumed equals one run; a rerun
   with another --augment or --map-pool is refused naming the setting; a
   store from before these settings (no attributes) is still "complete".
4. Shards extracted with --augment flip merge (virtual and --materialize)
   into the single run's store, mirrors included; shards with different
   --augment are refused.
5. vggtap-info shows both settings; vggtap-train --features maps refuses
   reduced maps with the reason; vggtap-mosaic draws a reduced map."""
import os
import shutil
import subprocess

import h5py
import numpy as np
from PIL import Image

import vtlib

EXTRACT, MERGE = vtlib.tool("vggtap-extract"), vtlib.tool("vggtap-merge")
INFO, TRAIN, MOSAIC = vtlib.tool("vggtap-info"), vtlib.tool("vggtap-train"), vtlib.tool("vggtap-mosaic")
TAPS = ("block1_pool", "block2_pool")


def avg2(maps):
    """nn.AvgPool2d(2) on NHWC maps, in float64."""
    n, h, w, c = maps.shape
    m = maps[:, : h // 2 * 2, : w // 2 * 2].astype(np.float64)
    return m.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def read(path, name):
    with h5py.File(path, "r") as f:
        return f[name][()]


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def close(a, b, rtol):
    """Within rtol of the largest magnitude (NaN where b has NaN)."""
    if a.shape != b.shape:
        return False
    scale = np.nanmax(np.abs(b)) or 1.0
    return bool(np.array_equal(np.isnan(a), np.isnan(b)) and np.nanmax(np.abs(a - b)) <= rtol * scale)


def mirror_copies(tmp, rows):
    """PNG copies of the photos, mirrored left to right, and a manifest of them."""
    out = []
    for i, (p, c) in enumerate(rows):
        dst = os.path.join(tmp, f"mirror-{i:02d}.png")
        Image.open(os.path.join(vtlib.DATA, vtlib.CLOTHING, p)).convert("RGB").transpose(
            Image.FLIP_LEFT_RIGHT).save(dst)
        out.append(dst)
    return out


def write_list(path, files, classes):
    with open(path, "w") as f:
        f.write("path,label\n")
        for p, c in zip(files, classes):
            f.write(f"{p},{c}\n")


def main():
    tmp = vtlib.tmpdir()
    rows = vtlib.sample(vtlib.CLOTHING, 1, seed=5)  # 10 real photos, one per class
    classes = [c for _, c in rows]
    # the JPEGs themselves: vggtap decodes them to PIL's pixels (test_image_pil.py)
    plain = [os.path.join(vtlib.DATA, vtlib.CLOTHING, p) for p, _ in rows]
    bad = os.path.join(tmp, "truncated.jpg")
    with open(os.path.join(vtlib.DATA, vtlib.CLOTHING, rows[0][0]), "rb") as src, open(bad, "wb") as dst:
        dst.write(src.read(600))
    man, man_m = os.path.join(tmp, "photos.csv"), os.path.join(tmp, "mirrors.csv")
    write_list(man, plain + [bad], classes + [classes[0]])
    write_list(man_m, mirror_copies(tmp, rows) + [bad], classes + [classes[0]])
    base = [EXTRACT, "--weights", vtlib.WEIGHTS, "--tap", ",".join(TAPS), "--size", "112",
            "--keep", "maps,pooled", "--quiet", "--threads", "2"]

    # 1. the mirror datasets are the mirrored copies' features
    a, b = os.path.join(tmp, "a.h5"), os.path.join(tmp, "b.h5")
    vtlib.run(base + ["--manifest", man, "--augment", "flip", "--out", a])
    vtlib.run(base + ["--manifest", man_m, "--augment", "flip", "--out", b])
    fa, fb = vtlib.datasets(a), vtlib.datasets(b)
    feature_names = [k for k in fa if k.startswith(("features/", "pooled/"))]
    vtlib.check(len(feature_names) == 2 + 2 * 6, f"photo feature datasets: {sorted(feature_names)}")
    for name in feature_names:
        m = "mirror/" + name
        vtlib.check(m in fa and fa[m].shape == fa[name].shape and fa[m].dtype == fa[name].dtype,
                    f"/{m} has the shape and type of /{name}")
        # bit for bit: the same decoded pixels, mirrored before the same resize
        vtlib.check(m in fa and same(fa[m], fb[name]), f"/{m} of the photos = /{name} of mirrored copies")
        vtlib.check(m in fb and same(fb[m], fa[name]), f"/{m} of the mirrored copies = /{name} of the photos")
        vtlib.check(np.isnan(fa[m][-1]).all(), f"/{m}: the failed row is NaN")
        vtlib.check(not np.isnan(fa[m][:-1]).any(), f"/{m}: the ok rows are numbers")
        vtlib.check(not np.allclose(fa[m][:-1], fa[name][:-1]), f"/{m} is not the photo's own /{name}")
    with h5py.File(a, "r") as f:
        vtlib.check(f.attrs["augment"] == "flip" and f.attrs["map_pool"] == "none", "root attributes augment, map_pool")
        vtlib.check(dict(f["mirror/features/block2_pool"].attrs) == dict(f["features/block2_pool"].attrs),
                    "mirror maps carry the photo maps' attributes")
    for resize in ("nearest", "dct-antialias"):  # nearest picks other pixels in a mirror image
        na, nb = os.path.join(tmp, f"{resize}-a.h5"), os.path.join(tmp, f"{resize}-b.h5")
        vtlib.run(base + ["--keep", "pooled", "--resize", resize, "--manifest", man, "--augment", "flip", "--out", na])
        vtlib.run(base + ["--keep", "pooled", "--resize", resize, "--manifest", man_m, "--out", nb])
        va, vb = vtlib.datasets(na), vtlib.datasets(nb)
        # dct-antialias shrinks JPEGs while decoding, the PNG copies are not: close only
        ok = all((same if resize == "nearest" else lambda x, y: close(x, y, 0.1))(va["mirror/" + k], vb[k])
                 for k in vb if k.startswith("pooled/"))
        vtlib.check(ok, f"--resize {resize}: /mirror/pooled = the mirrored copies' /pooled")
    plain_store = os.path.join(tmp, "plain.h5")
    vtlib.run(base + ["--manifest", man, "--out", plain_store])
    fp = vtlib.datasets(plain_store)
    vtlib.check(not any(k.startswith("mirror/") for k in fp), "no /mirror/ without --augment")
    vtlib.check(all(same(fp[k], fa[k]) for k in feature_names), "--augment flip leaves the photo datasets as they were")
    with h5py.File(plain_store, "r") as f:
        vtlib.check(f.attrs["augment"] == "none", "augment = none by default")

    # 2. reduced maps
    red16 = os.path.join(tmp, "red16.h5")
    vtlib.run(base + ["--manifest", man, "--augment", "flip", "--map-pool", "avg2", "--map-dtype", "float16",
                      "--out", red16])
    red32 = os.path.join(tmp, "red32.h5")
    vtlib.run(base + ["--manifest", man, "--augment", "flip", "--map-pool", "avg2", "--compress", "1",
                      "--out", red32], env=dict(os.environ, VGGTAP_PART_ROWS="3"))
    for path, dtype, rtol in ((red16, np.float16, 1e-3), (red32, np.float32, 1e-6)):
        fr = vtlib.datasets(path)
        for group in ("", "mirror/"):
            for tap in TAPS:
                name = f"{group}features/{tap}"
                want = avg2(fa[name])
                got = fr[name]
                vtlib.check(got.dtype == dtype and got.shape == want.shape,
                            f"{os.path.basename(path)} /{name}: {got.dtype}{got.shape}")
                vtlib.check(close(got.astype(np.float64), want, rtol),
                            f"{os.path.basename(path)} /{name} = 2x2 averages of the full maps")
        vtlib.check(all(same(fr[k], fa[k]) for k in fa if "pooled/" in k),
                    f"{os.path.basename(path)}: pooled vectors are the full maps' (bit for bit)")
        with h5py.File(path, "r") as f:
            vtlib.check(f.attrs["map_pool"] == "avg2", "root attribute map_pool = avg2")
            vtlib.check(f["features/block2_pool"].attrs.get("reduction") == "avg2"
                        and f["mirror/features/block2_pool"].attrs.get("reduction") == "avg2",
                        "maps record their reduction")
    p = vtlib.run(base + ["--manifest", man, "--map-pool", "avg2", "--keep", "pooled", "--out",
                          os.path.join(tmp, "x.h5")], check=False)
    vtlib.check(p.returncode == 2 and "--keep maps" in p.stderr, f"--map-pool without maps refused: {p.stderr.strip()}")

    # 3. resume, other settings refused, old stores
    killed = os.path.join(tmp, "killed.h5")
    cmd = base[:-1] + ["1", "--manifest", man, "--augment", "flip", "--out", killed]
    partial = killed + ".partial"
    proc = vtlib.start_held(
        lambda: subprocess.Popen(cmd, env=dict(os.environ, VGGTAP_PART_ROWS="2"), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL),
        lambda: vtlib.has_part(partial), lambda: os.remove(killed))
    proc.kill()
    proc.wait()
    p = vtlib.run(cmd[:-4] + ["--manifest", man, "--out", killed], check=False)
    vtlib.check(p.returncode == 1 and "augment: store has 'flip', this run asks for 'none'" in p.stderr,
                f"resuming with another --augment refused: {p.stderr.strip()}")
    vtlib.run(cmd)
    try:
        vtlib.assert_same_store(a, killed, "killed and resumed")
        vtlib.check(True, "a run killed and resumed equals one run")
    except AssertionError as e:
        vtlib.check(False, str(e))
    for extra, setting in ((["--augment", "none"], "augment"), (["--map-pool", "avg2"], "map_pool")):
        p = vtlib.run(base + ["--manifest", man, "--out", a] + extra, check=False)
        vtlib.check(p.returncode == 1 and f"{setting}: store has" in p.stderr,
                    f"another {setting} on a complete store refused: {p.stderr.strip()}")
    old = os.path.join(tmp, "old.h5")
    shutil.copy(plain_store, old)
    with h5py.File(old, "a") as f:
        del f.attrs["augment"], f.attrs["map_pool"]
    p = vtlib.run(base[:-3] + ["--manifest", man, "--out", old], check=False)
    vtlib.check(p.returncode == 0 and "nothing to do" in p.stderr,
                f"a store without augment/map_pool attributes is complete: {p.stderr.strip()}")
    p = vtlib.run(base + ["--manifest", man, "--augment", "flip", "--out", old], check=False)
    vtlib.check(p.returncode == 1 and "augment: store has 'none' (not recorded)" in p.stderr,
                f"... and refused with --augment flip: {p.stderr.strip()}")

    # 4. shards
    shards = [os.path.join(tmp, f"s{i}.h5") for i in range(2)]
    for i, s in enumerate(shards):
        vtlib.run(base + ["--manifest", man, "--augment", "flip", "--shard", f"{i}/2", "--out", s])
    for flag in ([], ["--materialize"]):
        merged = os.path.join(tmp, f"merged{len(flag)}.h5")
        vtlib.run([MERGE, "--quiet", "--out", merged] + flag + shards)
        try:
            vtlib.assert_same_store(a, merged, "merged " + " ".join(flag))
            vtlib.check(True, f"merged shards {' '.join(flag)} = one run, mirrors included")
        except AssertionError as e:
            vtlib.check(False, str(e))
    other = os.path.join(tmp, "other1.h5")
    vtlib.run(base + ["--manifest", man, "--shard", "1/2", "--out", other])
    p = vtlib.run([MERGE, "--quiet", "--out", os.path.join(tmp, "bad.h5"), shards[0], other], check=False)
    vtlib.check(p.returncode != 0 and "augment" in p.stderr, f"shards with other --augment refused: {p.stderr.strip()}")

    # 5. the readers
    p = vtlib.run([INFO, red16])
    vtlib.check("avg2" in p.stdout and "augment        flip" in p.stdout, "vggtap-info shows map_pool and augment")
    p = vtlib.run([TRAIN, "--store", red16, "--tap", "block2_pool", "--features", "maps", "--pool", "max2", "--out",
                   os.path.join(tmp, "h.h5")], check=False)
    vtlib.check(p.returncode != 0 and "stored reduced (avg2" in p.stderr,
                f"vggtap-train --features maps refuses reduced maps: {p.stderr.strip()}")
    png = os.path.join(tmp, "mosaic.png")
    p = vtlib.run([MOSAIC, "--store", red16, "--tap", "block2_pool", "--row", "1", "--out", png], check=False)
    vtlib.check(p.returncode == 0 and os.path.getsize(png) > 0, f"vggtap-mosaic draws a reduced map: {p.stderr.strip()}")

    if vtlib.failures:
        raise SystemExit(f"{len(vtlib.failures)} checks failed")
    print("ok")


if __name__ == "__main__":
    main()
