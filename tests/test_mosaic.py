"""vggtap-mosaic: from a store row holding float16 maps, every drawn channel
tile equals that channel of the map read with h5py, min..max normalised and
scaled by whole pixels; the input beside it is the image resized as the
network saw it (PIL's antialiased bilinear); drawing from the image and the
weights gives the same tiles (float32 maps); --channels limits the grid;
each tile is labelled with its channel number; failed rows, pooled-only
stores, bad rows and taps are clear errors. A row
whose file name was not UTF-8 (stored as \\xHH) shows its image.
The pixel positions follow the layout comment in extract/vggtap_mosaic.c."""
import math
import os
import sys

import h5py
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vtlib  # noqa: E402

MARGIN, GAP, LINE, LABEL = 16, 2, 20, 10
TOP = MARGIN + 2 * LINE + 8
SIZE = 64

tmp = vtlib.tmpdir()
data = os.path.join(tmp, "data")
src_dir = os.path.join(vtlib.DATA, vtlib.CLOTHING, "shirt")
images = [os.path.join(src_dir, n) for n in sorted(os.listdir(src_dir))[:2]]
os.makedirs(os.path.join(data, "shirt"))
os.makedirs(os.path.join(data, "bad"))
for p in images:
    os.symlink(p, os.path.join(data, "shirt", os.path.basename(p)))
with open(os.path.join(data, "bad", "x.jpg"), "w") as f:
    f.write("not an image\n")

store = os.path.join(tmp, "maps.h5")
vtlib.run([vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS, "--data", data, "--tap",
           "block1_pool,block2_pool", "--size", str(SIZE), "--keep", "maps,pooled", "--map-dtype",
           "float16", "--out", store, "--quiet"])
pooled_only = os.path.join(tmp, "pooled.h5")
vtlib.run([vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS, "--data", data, "--tap",
           "block2_pool", "--size", str(SIZE), "--out", pooled_only, "--quiet"])


def mosaic(args, check_rc=True):
    return vtlib.run([vtlib.tool("vggtap-mosaic")] + args, check=check_rc)


def png(path):
    return np.asarray(Image.open(path).convert("RGB"))


def tiles(img, fmap, n, in_w):
    """The n drawn tiles of a map [h, w, c], and the expected ones."""
    h, w, c = fmap.shape
    scale = 1 if max(h, w) >= 112 else math.ceil(112 / max(h, w))
    cols = 1
    while cols * cols < n:
        cols *= 2
    got, want = [], []
    for ch in range(n):
        x0 = 2 * MARGIN + in_w + (ch % cols) * (w * scale + GAP)
        y0 = TOP + (ch // cols) * (LABEL + h * scale + GAP) + LABEL
        got.append(img[y0:y0 + h * scale, x0:x0 + w * scale].astype(int))
        m = fmap[:, :, ch].astype(np.float32)
        lo, hi = m.min(), m.max()
        if hi > lo:
            g = np.rint(np.float32(255) * (m - lo) / (hi - lo)).astype(int)
            g = np.repeat(np.repeat(g, scale, 0), scale, 1)
            want.append(np.stack([g, g, g], axis=2))
        else:
            t = np.zeros((h * scale, w * scale, 3), int)
            t[:, :, 0] = 0x40
            want.append(t)
    return got, want


with h5py.File(store, "r") as f:
    paths = list(f["images/path"].asstr()[()])
    status = f["images/status"][()]
    ok_row = paths.index("shirt/" + os.path.basename(images[1]))
    bad_row = paths.index("bad/x.jpg")
    maps = {t: f[f"features/{t}"][ok_row].astype(np.float32) for t in ("block1_pool", "block2_pool")}
vtlib.check(status[ok_row] == 1 and status[bad_row] == 2, "store rows")

# Store row: tiles and input.
for tap in ("block1_pool", "block2_pool"):
    out = os.path.join(tmp, f"{tap}.png")
    mosaic(["--store", store, "--row", str(ok_row), "--tap", tap, "--out", out])
    img = png(out)
    fmap = maps[tap]
    got, want = tiles(img, fmap, fmap.shape[2], SIZE)
    worst = max(int(np.abs(g - w).max()) for g, w in zip(got, want))
    vtlib.check(worst <= 1, f"{tap}: a tile differs from its normalised channel by {worst} gray levels")
    ref = np.asarray(Image.open(images[1]).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)).astype(int)
    drawn = img[TOP:TOP + SIZE, MARGIN:MARGIN + SIZE].astype(int)
    diff = np.abs(drawn - ref)
    vtlib.check(diff.max() <= 2 and diff.mean() < 0.5,
          f"{tap}: the input differs from PIL's resize (max {diff.max()}, mean {diff.mean():.3f})")
    if tap == "block2_pool":
        store_img = img
    # every tile carries its channel number in the band above it: dark
    # pixels there, and a different drawing for each number
    h, w, c = fmap.shape
    scale = 1 if max(h, w) >= 112 else math.ceil(112 / max(h, w))
    cols = 1
    while cols * cols < c:
        cols *= 2
    bands = [img[TOP + (ch // cols) * (LABEL + h * scale + GAP):][:LABEL,
                 2 * MARGIN + SIZE + (ch % cols) * (w * scale + GAP):][:, :w * scale] for ch in range(c)]
    vtlib.check(all((b < 128).any() for b in bands) and len({b.tobytes() for b in bands}) == c,
                f"{tap}: each of the {c} tiles is labelled, each differently")

# A file name that is not UTF-8 (Latin-1 caf\xe9.png) is stored as the text
# 'caf\\xe9.png' (docs/STORE.md), which does not exist: the input is found
# with the byte put back (it drew "input not found"). A name holding a
# literal '\xe9' that exists is taken as it is.
latin_data = os.path.join(tmp, "latin-data")
os.makedirs(os.path.join(latin_data, "c"))
sources = {"caf\\xe9.png": images[0], "lit\\xe9.png": images[1]}
Image.open(images[0]).convert("RGB").save(os.path.join(os.fsencode(latin_data), b"c", b"caf\xe9.png"), "PNG")
Image.open(images[1]).convert("RGB").save(os.path.join(latin_data, "c", "lit\\xe9.png"))
latin_store = os.path.join(tmp, "latin.h5")
vtlib.run([vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS, "--data", latin_data, "--tap",
           "block1_pool", "--size", str(SIZE), "--keep", "maps,pooled", "--out", latin_store, "--quiet"])
with h5py.File(latin_store, "r") as f:
    latin_paths = list(f["images/path"].asstr()[()])
vtlib.check(sorted(latin_paths) == ["c/caf\\xe9.png", "c/lit\\xe9.png"], f"stored paths {latin_paths}")
for name, src in sources.items():
    out = os.path.join(tmp, "latin.png")
    p = mosaic(["--store", latin_store, "--row", str(latin_paths.index("c/" + name)), "--tap", "block1_pool",
                "--out", out])
    ref = np.asarray(Image.open(src).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)).astype(int)
    diff = np.abs(png(out)[TOP:TOP + SIZE, MARGIN:MARGIN + SIZE].astype(int) - ref)
    vtlib.check(diff.max() <= 2 and diff.mean() < 0.5,
                f"{name}: the input drawn is not the image's (max {diff.max()}, mean {diff.mean():.3f}) {p.stderr}")

# From the image and the weights: float32 maps, same tiles within float16 rounding.
out = os.path.join(tmp, "from_image.png")
mosaic(["--image", images[1], "--weights", vtlib.WEIGHTS, "--size", str(SIZE), "--tap", "block2_pool", "--out", out])
img = png(out)
vtlib.check(img.shape == store_img.shape, f"image and store mosaics differ in size: {img.shape} {store_img.shape}")
if img.shape == store_img.shape:
    fmap = maps["block2_pool"]
    got_image, _ = tiles(img, fmap, fmap.shape[2], SIZE)
    got_store, _ = tiles(store_img, fmap, fmap.shape[2], SIZE)
    diffs = np.concatenate([np.abs(a - b).ravel() for a, b in zip(got_image, got_store)])
    vtlib.check(diffs.max() <= 3 and diffs.mean() < 0.05,
          f"image-mode tiles differ from store-mode tiles (max {diffs.max()}, mean {diffs.mean():.4f})")

# --channels: a smaller grid (10 channels -> 4 columns) of the same tiles.
out = os.path.join(tmp, "ten.png")
p = mosaic(["--store", store, "--row", str(ok_row), "--tap", "block2_pool", "--channels", "10", "--out", out])
vtlib.check("block2_pool, 10 of 128 channels of" in p.stdout, "--channels 10: the summary line says 10 of 128 drawn: "
            + p.stdout.strip())
img = png(out)
got, want = tiles(img, maps["block2_pool"], 10, SIZE)
vtlib.check(max(int(np.abs(g - w).max()) for g, w in zip(got, want)) <= 1, "--channels 10 tiles")
tile = 16 * 7
right_of_grid = img[TOP:TOP + LABEL + tile, 2 * MARGIN + SIZE + 4 * tile + 3 * GAP + 1:]
vtlib.check(right_of_grid.size == 0 or (right_of_grid == 255).all(), "nothing drawn right of a 4-column grid")

# Errors.
for args, rc, want in (
        (["--store", store, "--row", str(bad_row), "--tap", "block2_pool"], 1, "failed at extraction"),
        (["--store", pooled_only, "--row", str(ok_row), "--tap", "block2_pool"], 1, "--keep maps,pooled"),
        (["--store", store, "--row", "99", "--tap", "block2_pool"], 1, "past the last row"),
        (["--store", store, "--row", str(ok_row), "--tap", "block3_pool"], 1, "no tap block3_pool"),
        (["--store", store, "--row", "0"], 2, "--tap LAYER is required"),
        # a bad value is bad usage (exit 2), as for vggtap-extract
        (["--image", images[0], "--tap", "block1_pool", "--resize", "bicubic"], 2, "dct-antialias"),
        (["--image", images[0], "--tap", "block1_pool", "--preprocess", "tf"], 2, "caffe or torch"),
        (["--image", images[0], "--tap", "block1_pool", "--size", "3"], 2, "--size"),
        (["--image", images[0], "--weights", vtlib.WEIGHTS, "--tap", "block3_pool"], 1, "block3_conv1")):
    out = os.path.join(tmp, "err.png")
    p = mosaic(args + ["--out", out], check_rc=False)
    vtlib.check(p.returncode == rc and want in p.stderr and not os.path.exists(out),
          f"vggtap-mosaic {args}: exit {p.returncode}, {p.stderr.strip()!r}")

# an --out that cannot be written: the path and the OS reason, nothing left behind
out = os.path.join(tmp, "no-such-dir", "m.png")
p = mosaic(["--image", images[0], "--weights", vtlib.WEIGHTS, "--tap", "block1_pool", "--size", "32", "--out", out],
           check_rc=False)
vtlib.check(p.returncode == 1 and f"cannot write {out}: No such file or directory" in p.stderr,
            f"vggtap-mosaic --out {out}: exit {p.returncode}, {p.stderr.strip()!r}")

if vtlib.failures:
    print(f"{len(vtlib.failures)} checks failed")
    sys.exit(1)
print("test_mosaic: all checks passed")
