"""vggtap's decoder and resizers against PIL, the library behind Keras load_img.

1. 40 real photos sampled deterministically from data/clothing-30 (JPEG
   garment photos; greyscale and palette PNGs are the synthetic files of 2):
   decode must equal PIL's convert('RGB') exactly, the nearest resize to
   224x224 must equal Image.resize(NEAREST) exactly, and the antialias resize
   must be within +-1 of Image.resize(BILINEAR) (differences are counted).
2. Synthetic files in a temp dir: PNGs of every colour type and bit depth
   (plain, Adam7, tRNS), written here with zlib, and JPEGs written by PIL
   (4:4:4, progressive, greyscale, Adobe CMYK). All must equal PIL exactly,
   except 16-bit greyscale, where PIL clips the 16-bit value to 0..255 and
   vggtap keeps the high byte (documented in common/image/vt_image.c): checked as
   such.

Uses $TEST_BUILD/tools/vt_imgdump (TEST_BUILD defaults to build)."""
import os
import struct
import subprocess
import sys
import tempfile
import warnings

try:
    import numpy as np
    from PIL import Image
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)

from pngwrite import write_png
import vtlib

TOOL = os.path.join(vtlib.BUILD, "tools", "vt_imgdump")
# PIL's advice on palette + tRNS files, irrelevant to convert('RGB').
warnings.filterwarnings("ignore", "Palette images with Transparency")
N_PHOTOS = 40


def vt_dump(path, *resize):
    """(H, W, 3) uint8 from vt_imgdump, or None with the failure reason printed."""
    p = subprocess.run([TOOL, path, *map(str, resize)], capture_output=True)
    if p.returncode != 0:
        vtlib.check(False, f"vt_imgdump {path} {resize}: {p.stderr.decode().strip()}")
        return None
    magic, size, maxval, data = p.stdout.split(b"\n", 3)
    w, h = map(int, size.split())
    assert magic == b"P6" and maxval == b"255" and len(data) == w * h * 3
    return np.frombuffer(data, np.uint8).reshape(h, w, 3)


def sample_photos():
    """Every k-th file of data/clothing-30's manifest, in manifest order."""
    paths = [p for p, _ in vtlib.manifest_rows(vtlib.CLOTHING)]
    return [os.path.join(vtlib.DATA, vtlib.CLOTHING, p) for p in paths[::len(paths) // N_PHOTOS][:N_PHOTOS]]


def test_real_photos():
    photos = sample_photos()
    aa_pixels = aa_differing = aa_max = 0
    for path in photos:
        im = Image.open(path)
        rgb = im.convert("RGB")
        ours = vt_dump(path)
        if ours is None:
            continue
        vtlib.check(np.array_equal(ours, np.asarray(rgb)), f"decode differs from PIL: {path}")
        near = vt_dump(path, 224, 224, "nearest")
        vtlib.check(near is not None and np.array_equal(near, np.asarray(rgb.resize((224, 224), Image.NEAREST))),
              f"nearest 224x224 differs from PIL: {path}")
        aa = vt_dump(path, 224, 224, "antialias")
        if aa is None:
            continue
        diff = np.abs(aa.astype(int) - np.asarray(rgb.resize((224, 224), Image.BILINEAR)).astype(int))
        aa_pixels += 224 * 224
        aa_differing += int((diff.max(axis=2) > 0).sum())
        aa_max = max(aa_max, int(diff.max()))
        vtlib.check(diff.max() <= 1, f"antialias differs from PIL BILINEAR by {diff.max()}: {path}")
        # at 112x112 most of these 320-pixel photos are shrunk while decoding
        for size in (224, 112):
            check_dct_antialias(path, size)
    modes = sorted({Image.open(p).format + " " + Image.open(p).mode for p in photos})
    print(f"{len(photos)} photos ({', '.join(modes)}): decode and nearest compared exactly; antialias vs "
          f"BILINEAR: max diff {aa_max}, {aa_differing} of {aa_pixels} pixels differ")
    print(f"dct-antialias at 224 and 112: {dct_stats['photos']} decodes ({dct_stats['shrunk']} shrunk) equal to "
          f"PIL draft; resized, max diff {dct_stats['max']} from PIL draft + BILINEAR")
    vtlib.check(dct_stats["shrunk"] > 0, "no sampled photo was large enough to be shrunk while decoding")
    vtlib.check(len(photos) == N_PHOTOS, f"only {len(photos)} photos sampled")


dct_stats = {"photos": 0, "shrunk": 0, "max": 0}


def check_dct_antialias(path, size=224):
    """dct-antialias: the DCT-shrunk decode equals PIL's draft('RGB', size)
    decode exactly; resized, it is within 1 of PIL's BILINEAR of that."""
    im = Image.open(path)
    full = im.size
    im.draft("RGB", (size, size))
    rgb = im.convert("RGB")
    ours = vt_dump(path, size, size, "draft")
    if ours is None:
        return
    vtlib.check(np.array_equal(ours, np.asarray(rgb)), f"DCT-shrunk decode differs from PIL draft: {path}")
    dct_stats["photos"] += 1
    dct_stats["shrunk"] += rgb.size != full
    aa = vt_dump(path, size, size, "dct-antialias")
    if aa is not None:
        diff = np.abs(aa.astype(int) - np.asarray(rgb.resize((size, size), Image.BILINEAR)).astype(int))
        dct_stats["max"] = max(dct_stats["max"], int(diff.max()))
        vtlib.check(diff.max() <= 1, f"dct-antialias differs from PIL draft + BILINEAR by {diff.max()}: {path}")


def test_dct_shrink_factors(tmp):
    """A large JPEG takes every factor: 8x, 4x, 2x and none, by PIL's rule."""
    rng = np.random.default_rng(3)
    img = Image.fromarray(rng.integers(0, 256, (600, 1900, 3), dtype=np.uint8))
    path = os.path.join(tmp, "large.jpg")
    img.save(path, quality=90)
    for fit, want in ((70, (238, 75)), (140, (475, 150)), (224, (950, 300)), (400, (1900, 600))):
        im = Image.open(path)
        im.draft("RGB", (fit, fit))
        vtlib.check(im.size == want, f"PIL draft to {fit}: {im.size}, expected {want}")
        ours = vt_dump(path, fit, fit, "draft")
        vtlib.check(ours is not None and ours.shape[1::-1] == want, f"draft to {fit}: {None if ours is None else ours.shape}")
        vtlib.check(ours is not None and np.array_equal(ours, np.asarray(im.convert("RGB"))), f"draft to {fit} differs from PIL")


# ---- synthetic PNGs (tests/pngwrite.py writes every colour type / depth / interlace) ----


def test_synthetic_png(tmp):
    rng = np.random.RandomState(7)
    formats = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16), (3, 1), (3, 2), (3, 4), (3, 8),
               (4, 8), (4, 16), (6, 8), (6, 16)]
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
    n = 0
    for ct, depth in formats:
        for interlace in (False, True):
            for with_trns in (False, True):
                if with_trns and ct in (4, 6):
                    continue
                levels = min(1 << depth, 200) if ct == 3 else 1 << depth
                px = rng.randint(0, levels, size=(11, 13, channels[ct]))
                palette = rng.randint(0, 256, size=(levels, 3)) if ct == 3 else None
                trns = None
                if with_trns:
                    if ct == 3:
                        trns = bytes(rng.randint(0, 256, size=min(levels, 7)).astype(np.uint8))
                    else:
                        trns = b"".join(struct.pack(">H", int(v)) for v in px[0, 0])
                path = os.path.join(tmp, f"ct{ct}_{depth}_{int(interlace)}_{int(with_trns)}.png")
                write_png(path, px, ct, depth, interlace, palette, trns)
                what = f"PNG colour type {ct} {depth}-bit{' Adam7' if interlace else ''}{' tRNS' if with_trns else ''}"
                ours = vt_dump(path)
                pil = np.asarray(Image.open(path).convert("RGB"))
                if ours is None:
                    continue
                n += 1
                if ct == 0 and depth == 16:
                    high = np.repeat((px >> 8).astype(np.uint8), 3, axis=2)
                    vtlib.check(np.array_equal(ours, high), f"{what}: not the high byte")
                    vtlib.check(np.array_equal(pil, np.repeat(np.clip(px, 0, 255).astype(np.uint8), 3, axis=2)),
                          f"{what}: PIL no longer clips 16-bit grey (revisit vt_image.c)")
                else:
                    vtlib.check(np.array_equal(ours, pil), f"{what}: differs from PIL")
    print(f"{n} synthetic PNGs (all colour types x depths, Adam7, tRNS): equal to PIL "
          f"(16-bit grey: high byte, where PIL clips)")


def test_synthetic_jpeg(tmp):
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.stack([x * 4, y * 5, 128 + 90 * np.sin(0.2 * (x + y))], axis=2).astype(np.uint8)
    im = Image.fromarray(rgb)
    cases = {
        "444.jpg": (im, dict(quality=90, subsampling=0)),
        "420.jpg": (im, dict(quality=90, subsampling=2)),
        "progressive.jpg": (im, dict(quality=85, progressive=True)),
        "grey.jpg": (im.convert("L"), dict(quality=90)),
        "cmyk.jpg": (im.convert("CMYK"), dict(quality=95)),  # PIL writes Adobe-inverted CMYK
    }
    for name, (img, opts) in cases.items():
        path = os.path.join(tmp, name)
        img.save(path, "JPEG", **opts)
        ours = vt_dump(path)
        if ours is not None:
            vtlib.check(np.array_equal(ours, np.asarray(Image.open(path).convert("RGB"))), f"JPEG {name}: differs from PIL")
    print(f"{len(cases)} PIL-written JPEGs (4:4:4, 4:2:0, progressive, grey, Adobe CMYK): equal to PIL")


def test_synthetic_resize(tmp):
    """Sizes whose ratio puts source positions exactly on integers (256 -> 224
    at x = 3 is 4.0), where PIL's running float sum lands below: none of the
    real photos above has such a ratio, so nearest is checked on them here."""
    rng = np.random.RandomState(11)
    cases = [((256, 512), (224, 224)), ((448, 320), (224, 224)), ((64, 96), (224, 224)), ((1000, 30), (7, 300))]
    for (w, h), (W, H) in cases:
        path = os.path.join(tmp, f"noise_{w}x{h}.png")
        im = Image.fromarray(rng.randint(0, 256, size=(h, w, 3)).astype(np.uint8))
        im.save(path)
        near = vt_dump(path, W, H, "nearest")
        vtlib.check(near is not None and np.array_equal(near, np.asarray(im.resize((W, H), Image.NEAREST))),
              f"nearest {w}x{h} -> {W}x{H} differs from PIL")
        aa = vt_dump(path, W, H, "antialias")
        diff = np.abs(aa.astype(int) - np.asarray(im.resize((W, H), Image.BILINEAR)).astype(int)).max()
        vtlib.check(diff <= 1, f"antialias {w}x{h} -> {W}x{H} differs from PIL BILINEAR by {diff}")
    print(f"{len(cases)} noise images at tie-prone ratios: nearest equal to PIL, antialias within 1")


def main():
    if not os.access(TOOL, os.X_OK):
        print(f"FAIL: {TOOL} not built (run make BUILD=... first)")
        return 1
    test_real_photos()
    with tempfile.TemporaryDirectory() as tmp:
        test_synthetic_png(tmp)
        test_synthetic_jpeg(tmp)
        test_synthetic_resize(tmp)
        test_dct_shrink_factors(tmp)
    print("FAILED" if vtlib.failures else "all passed", f"({len(vtlib.failures)} failures)")
    return 1 if vtlib.failures else 0


if __name__ == "__main__":
    sys.exit(main())
