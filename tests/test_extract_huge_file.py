"""A huge file costs what the decoder reads of it, not its size: vggtap-extract
reads an image's compressed bytes a chunk at a time (common/image/vt_image.c), so
2 GiB sparse files (no disk used) that start like images are handled with a
peak RSS far below their size:
  - a small JPEG whose header declares 30000 x 30000 and a PNG whose IHDR
    declares 100000 x 100000, each followed by zeros to 2 GiB: failed rows,
    refused as over the --max-pixels limit (the default, 178,956,970);
  - a real JPEG and a real photo as PNG, each followed by 2 GiB of zeros: ok rows
    whose stored features (maps and pooled) equal, bit for bit, those of the
    same image without the zeros, extracted in the same run.
Before, each file was read whole into memory first: 2 GiB of RSS each.
ASan inflates RSS (shadow memory), so under it only the rows are checked."""
import os
import struct
import sys
import zlib

import h5py
import numpy as np
from PIL import Image

import vtlib

TAIL = 2 << 30  # bytes of zeros after each image
MAX_RSS = 256 << 20  # an eighth of a file


def jpeg_declaring(path, w, h):
    """A small valid JPEG whose SOF0 is patched to declare w x h."""
    Image.new("RGB", (64, 48), (120, 30, 200)).save(path, quality=90)
    data = bytearray(open(path, "rb").read())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", h, w)
    open(path, "wb").write(data)


def png_declaring(path, w, h):
    """A PNG signature and an IHDR (8-bit RGB) declaring w x h."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr)))


def grow_sparse(path):
    """Appends TAIL bytes of zeros without writing them (skips the test where
    the file system cannot)."""
    size = os.path.getsize(path)
    try:
        os.truncate(path, size + TAIL)
    except OSError as e:
        vtlib.skip(f"SKIP: no 2 GiB sparse file here ({e})")
    if os.stat(path).st_blocks * 512 > size + (1 << 20):
        vtlib.skip("SKIP: the file system does not keep files sparse")


def extract(tmp, name, paths, want_rc):
    """Runs vggtap-extract over paths (maps and pooled, block1_pool): the
    store's path and its peak RSS."""
    man, out = os.path.join(tmp, name + ".csv"), os.path.join(tmp, name + ".h5")
    with open(man, "w") as f:
        f.write("path,label\n" + "".join(f"{p},x\n" for p in paths))
    cmd = [vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS, "--manifest", man, "--tap", "block1_pool",
           "--keep", "maps,pooled", "--out", out, "--quiet"]
    rc, peak = vtlib.peak_rss(cmd)
    assert rc == want_rc, (name, rc, want_rc)
    print(f"{name}: {len(paths)} files, peak RSS {peak / 2**20:.0f} MiB")
    if not vtlib.SANITIZED:
        vtlib.check(peak < MAX_RSS, f"{name}: peak RSS {peak / 2**20:.0f} MiB < {MAX_RSS >> 20} MiB", True)
    return out


def main():
    tmp = vtlib.tmpdir()

    # 1. headers over the limit, 2 GiB long: refused as too large
    huge_jpg, huge_png = os.path.join(tmp, "huge.jpg"), os.path.join(tmp, "huge.png")
    jpeg_declaring(huge_jpg, 30000, 30000)
    png_declaring(huge_png, 100000, 100000)
    for p in (huge_jpg, huge_png):
        grow_sparse(p)
    out = extract(tmp, "over-the-limit", [huge_jpg, huge_png], 3)  # 3: every image failed
    with h5py.File(out, "r") as f:
        status, errors = f["images/status"][:], [e.decode() for e in f["images/error"][:]]
    want = ["image is 30000 x 30000 = 900,000,000 pixels, over the limit of 178,956,970",
            "image is 100000 x 100000 = 10,000,000,000 pixels, over the limit of 178,956,970"]
    for i, p in enumerate((huge_jpg, huge_png)):
        vtlib.check(status[i] == 2 and errors[i] == want[i], f"{os.path.basename(p)}, 2 GiB: '{errors[i]}'", True)

    # 2. real images followed by 2 GiB of zeros: the features of the images alone
    photo = os.path.join(vtlib.DATA, vtlib.CLOTHING, vtlib.sample(vtlib.CLOTHING, 1, seed=3)[0][0])
    png = os.path.join(tmp, "photo.png")  # the repository's photos are JPEGs: one as PNG
    Image.open(os.path.join(vtlib.DATA, vtlib.CLOTHING, vtlib.sample(vtlib.CLOTHING, 1, seed=4)[1][0])).save(png)
    tailed = []
    for src in (photo, png):
        dst = os.path.join(tmp, "tailed" + os.path.splitext(src)[1])
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
        grow_sparse(dst)
        tailed.append(dst)
    out = extract(tmp, "tailed", [photo, tailed[0], png, tailed[1]], 0)
    with h5py.File(out, "r") as f:
        vtlib.check(list(f["images/status"][:]) == [1, 1, 1, 1], f"status {list(f['images/status'][:])}", True)
        feats = []
        f.visititems(lambda name, obj: feats.append(name)
                     if isinstance(obj, h5py.Dataset) and name.split("/")[0] in ("features", "pooled") else None)
        vtlib.check(len(feats) >= 2, f"feature datasets: {feats}")
        for name in feats:
            x = f[name][:]
            for plain, padded, what in ((0, 1, "JPEG"), (2, 3, "PNG")):
                vtlib.check(np.array_equal(x[plain], x[padded]),
                            f"{what} + 2 GiB of zeros: /{name} equal to the {what} alone's, bit for bit", True)
    return 1 if vtlib.failures else 0


if __name__ == "__main__":
    sys.exit(main())
