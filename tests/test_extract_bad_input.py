"""Bad input: a run over a folder mixing good images, unusual but valid
encodings and broken files completes; each broken file is a failed row whose
reason names the problem, every valid one is ok, and the summary and exit
status say so."""
import io
import os
import shutil
import struct
import sys
import zlib

import h5py
import numpy as np
from PIL import Image

import vtlib

EXTRACT = vtlib.tool("vggtap-extract")


def png_header_only(w, h):
    """A PNG whose IHDR declares w x h (a decompression-bomb shape)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def main():
    tmp = vtlib.tmpdir()
    good_dir = os.path.join(tmp, "data", "good")
    bad_dir = os.path.join(tmp, "data", "bad")
    os.makedirs(good_dir)
    os.makedirs(bad_dir)
    photo_path = os.path.join(vtlib.DATA, vtlib.CLOTHING, vtlib.manifest_rows(vtlib.CLOTHING)[0][0])
    photo = Image.open(photo_path).convert("RGB")
    jpeg_bytes = open(photo_path, "rb").read()
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)

    valid = {
        "photo.jpg": lambda p: open(p, "wb").write(jpeg_bytes),
        "grey.jpg": lambda p: photo.convert("L").save(p, quality=90),
        "progressive.jpg": lambda p: photo.save(p, progressive=True, quality=90),
        "cmyk.jpg": lambda p: photo.convert("CMYK").save(p, quality=95),
        "grey16.png": lambda p: Image.fromarray((arr[:, :, 0].astype(np.uint16) * 257)).save(p),
        "rgba.png": lambda p: Image.fromarray(np.dstack([arr, arr[:, :, :1]]), "RGBA").save(p),
        "palette.png": lambda p: Image.fromarray(arr).convert("P").save(p),
        "grey_alpha.png": lambda p: Image.fromarray(np.dstack([arr[:, :, 0], arr[:, :, 1]]), "LA").save(p),
        "tiny_1x1.png": lambda p: Image.new("RGB", (1, 1), (200, 10, 10)).save(p),
        "png_named.jpg": lambda p: Image.fromarray(arr).save(p, format="PNG"),  # mislabelled extension
    }
    broken = {  # name -> (writer, words one of which the reason must contain)
        "empty.jpg": (lambda p: open(p, "wb").close(), ["empty"]),
        "text.jpg": (lambda p: open(p, "w").write("hello, not an image\n"), ["not a jpeg or png"]),
        "truncated.jpg": (lambda p: open(p, "wb").write(jpeg_bytes[: len(jpeg_bytes) // 2]),
                          ["truncated", "premature"]),
        "truncated.png": (lambda p: open(p, "wb").write(_png_bytes(arr)[:300]), ["truncated", "png"]),
        "huge.png": (lambda p: open(p, "wb").write(png_header_only(100000, 100000)), ["limit"]),
        "image.bmp": (lambda p: Image.fromarray(arr).save(p, format="BMP"), ["a bmp file: only jpeg and png"]),
        "garbage.png": (lambda p: open(p, "wb").write(b"\x89PNG\r\n\x1a\n" + os.urandom(200)), ["png"]),
    }
    for name, w in valid.items():
        w(os.path.join(good_dir, name))
    for name, (w, _) in broken.items():
        w(os.path.join(bad_dir, name))

    store = os.path.join(tmp, "s.h5")
    p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--data", os.path.join(tmp, "data"),
                   "--tap", "block1_pool", "--out", store], check=False)
    print(p.stderr)
    assert p.returncode == 0, p.returncode
    n = len(valid) + len(broken)
    assert f"{len(valid)} ok, {len(broken)} failed of {n} images" in p.stderr, p.stderr
    with h5py.File(store, "r") as f:
        paths = [s.decode() for s in f["images/path"][:]]
        status = f["images/status"][:]
        errors = [s.decode() for s in f["images/error"][:]]
        gap = f["pooled/block1_pool/avg1"][:]
        for i, path in enumerate(paths):
            name = os.path.basename(path)
            if name in valid:
                assert status[i] == 1, (path, errors[i])
                assert np.isfinite(gap[i]).all() and errors[i] == ""
            else:
                words = broken[name][1]
                assert status[i] == 2, path
                assert any(w in errors[i].lower() for w in words), (path, errors[i])
                assert np.isnan(gap[i]).all(), path
                # the failure was also reported as it happened, with the file's path
                assert name in p.stderr, name
                print(f"{name:16s} -> {errors[i]}")
    # CMYK decodes to (about) the same picture as the RGB original
    vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--tap", "block1_pool", "--quiet",
               "--out", os.path.join(tmp, "c.h5"), "--files", os.path.join(good_dir, "cmyk.jpg"),
               os.path.join(good_dir, "photo.jpg")])
    with h5py.File(os.path.join(tmp, "c.h5"), "r") as f:
        a, b = f["pooled/block1_pool/avg1"][:]
        assert np.abs(a - b).max() < 0.05 * np.abs(b).max(), np.abs(a - b).max() / np.abs(b).max()

    # --strict turns failed rows into exit status 3; all-failed is 3 even without it
    p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--data", os.path.join(tmp, "data"),
                   "--tap", "block1_pool", "--out", os.path.join(tmp, "strict.h5"), "--strict",
                   "--quiet"], check=False)
    assert p.returncode == 3, p.returncode
    p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--files", bad_dir, "--tap", "block1_pool",
                   "--out", os.path.join(tmp, "allbad.h5"), "--quiet"], check=False)
    assert p.returncode == 3 and os.path.exists(os.path.join(tmp, "allbad.h5")), p.returncode

    # usage errors: clear message, exit 2, nothing written
    for args, words in [(["--tap", "block9_pool"], "unknown tap"), (["--size", "0"], "--size"),
                        (["--resize", "cubic"], "--resize"), (["--grids", "1,200"], "grid"),
                        (["--tap", "block5_pool", "--size", "16"], "block5_pool")]:
        out = os.path.join(tmp, "u.h5")
        p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--data", os.path.join(tmp, "data"),
                       "--out", out] + args, check=False)
        assert p.returncode == 2 and words in p.stderr and not os.path.exists(out), (args, p.stderr)
    # an --out that is no file name: exit 2 before any work (before: the whole
    # extraction ran, then failed to rename onto '' and left '.partial/' behind)
    for out in ["", os.path.join(tmp, "newdir") + "/"]:
        p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--data", os.path.join(tmp, "data"),
                       "--out", out], check=False, cwd=tmp)
        assert p.returncode == 2 and f"--out '{out}': give the store's file name" in p.stderr, (out, p.stderr)
        assert not os.path.exists(os.path.join(tmp, ".partial")) and not os.path.exists(out or "/nonexistent")
    # an --out that exists and is not a store of these settings is refused,
    # exit 1, naming it, and left exactly as it was, with no OUT.partial/ beside
    # it (before: the lock folder was left behind)
    not_store = os.path.join(tmp, "notes.txt")
    with open(not_store, "w") as f:
        f.write("not a store\n")
    a_dir = os.path.join(tmp, "a_dir")
    os.mkdir(a_dir)
    foreign = shutil.copy(vtlib.WEIGHTS, os.path.join(tmp, "weights_copy.h5"))  # HDF5, not a store
    for out, extra, words in [(not_store, [], "exists and is not an HDF5 file"),
                              (a_dir, [], "is a directory"),
                              (foreign, [], "is not a vggtap store"),
                              (store, ["--size", "64"], "was made with other settings")]:
        before = open(out, "rb").read() if os.path.isfile(out) else None
        p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--data", os.path.join(tmp, "data"),
                       "--tap", "block1_pool", "--out", out] + extra, check=False)
        assert p.returncode == 1 and f"{out} " in p.stderr and words in p.stderr, (out, p.returncode, p.stderr)
        assert p.stderr.count(out) == 1, p.stderr
        assert before is None or open(out, "rb").read() == before, out
        assert not os.path.exists(out + ".partial"), (out, os.listdir(out + ".partial"))
    # an --out in a directory that does not exist: exit 1, the path and the reason
    out = os.path.join(tmp, "no-such-dir", "s.h5")
    p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--data", os.path.join(tmp, "data"), "--out", out],
                  check=False)
    assert p.returncode == 1 and f"cannot create {out}.partial: No such file or directory" in p.stderr, p.stderr
    assert not os.path.exists(os.path.dirname(out))
    # a tap beyond what the weights file holds: exit 1 naming the missing layer
    p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--data", os.path.join(tmp, "data"),
                   "--tap", "block3_pool", "--out", os.path.join(tmp, "deep.h5")], check=False)
    assert p.returncode == 1 and "block3_conv1" in p.stderr, p.stderr
    print(p.stderr.strip())
    # a directory given as the manifest (before: "empty manifest")
    p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--manifest", os.path.join(tmp, "data"),
                   "--out", os.path.join(tmp, "x.h5")], check=False)
    assert p.returncode == 1 and f"{tmp}/data: is a directory, not a manifest CSV" in p.stderr, p.stderr
    # a missing data dir and a missing weights file
    p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--data", os.path.join(tmp, "nope"),
                   "--out", os.path.join(tmp, "x.h5")], check=False)
    assert p.returncode == 1 and "nope" in p.stderr, p.stderr
    p = vtlib.run([EXTRACT, "--weights", os.path.join(tmp, "nope.h5"), "--data",
                   os.path.join(tmp, "data"), "--out", os.path.join(tmp, "x.h5")], check=False)
    assert p.returncode == 1 and "nope.h5" in p.stderr, p.stderr
    return 0


def _png_bytes(arr):
    b = io.BytesIO()
    Image.fromarray(arr).save(b, format="PNG")
    return b.getvalue()


if __name__ == "__main__":
    sys.exit(main())
