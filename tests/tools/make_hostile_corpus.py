"""Writes the hostile-input corpus: every kind of image file vggtap-extract must
either decode correctly or turn into a failed row naming the problem, generated
from synthetic pixels (no photos are copied).

    /usr/bin/python3 tests/tools/make_hostile_corpus.py DIR [JPEG_VARIANTS_TOOL]

DIR/data/          class folders for --data: good/ (valid, unusual encodings)
                   and bad/ (broken files, special files, a non-UTF-8 name);
                   empty/ and notes/ (no image files: not classes) and
                   stray.jpg (beside the class folders: not a row),
                   unmounted (a dangling link: noted)
DIR/manifest.csv   a manifest over data/ adding a missing file, a directory,
                   an empty label and a non-UTF-8 label
DIR/manifest_excel.csv  two rows in Excel's CSV UTF-8 dialect (BOM, quoted header, CRLF)
DIR/manifest_cr.csv     two rows with CR-only line ends
DIR/manifest_spaced.csv a row under the header 'path, label' (no 'label' column)
DIR/manifest_dup.csv, manifest_fields.csv, manifest_nul.csv   manifests that must be refused
DIR/expect.json    for each row path as stored (see docs/STORE.md on
                   non-UTF-8 bytes): {"ok": bool, "reason": text the failure
                   reason must contain, "pil": compare pixels with PIL}

JPEG_VARIANTS_TOOL (default build/tools/jpeg_variants) writes the arithmetic-
coded, restart-marker and YCCK JPEGs, which PIL cannot write. The file made
unreadable (chmod 000) is only unreadable to a non-root user: the test runs
the extraction as one."""
import io
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pngwrite import png_chunk, write_png  # noqa: E402

W, H = 64, 48


def pixels():
    """Smooth gradients plus a little noise: exercises the DCT and the filters."""
    y, x = np.mgrid[0:H, 0:W]
    rng = np.random.default_rng(1)
    base = np.stack([x * 4, y * 5, 128 + 90 * np.sin(0.2 * (x + y))], axis=2)
    return np.clip(base + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8)


def jpeg_bytes(img, **opts):
    b = io.BytesIO()
    img.save(b, "JPEG", **opts)
    return b.getvalue()


def with_sof_size(jpeg, w, h):
    """The same JPEG with its SOF header declaring w x h."""
    i = 2
    while i + 4 <= len(jpeg):
        marker, length = jpeg[i + 1], struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            return jpeg[:i + 5] + struct.pack(">HH", h, w) + jpeg[i + 9:]
        i += 2 + length
    raise ValueError("no SOF marker")


def with_sof_precision(jpeg, bits):
    """The same JPEG with its SOF header declaring `bits` bits per sample."""
    i = 2
    while i + 4 <= len(jpeg):
        marker, length = jpeg[i + 1], struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            return jpeg[:i + 4] + bytes([bits]) + jpeg[i + 5:]
        i += 2 + length
    raise ValueError("no SOF marker")


def png_declaring(w, h):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        png_chunk(b"IEND", b"")


def main():
    out = sys.argv[1]
    tool = sys.argv[2] if len(sys.argv) > 2 else os.path.join("build", "tools", "jpeg_variants")
    good, bad = os.path.join(out, "data", "good"), os.path.join(out, "data", "bad")
    os.makedirs(good)
    os.makedirs(bad)
    rgb = pixels()
    im = Image.fromarray(rgb)
    cmyk_inverted = 255 - np.asarray(im.convert("CMYK"))  # what Adobe CMYK/YCCK files hold
    cmyk_inverted[:, :, 3] = 255 - rgb[:, :, 0] // 3      # and a real black channel
    baseline = jpeg_bytes(im, quality=90)
    expect = {}     # row path as stored -> expectation
    raw_names = {}  # row path as stored -> its bytes on disk (relative to data/)

    def put(dirname, name, data, ok, reason="", pil=None):
        path = os.path.join(out, "data", dirname, name) if isinstance(name, str) else \
            os.fsencode(os.path.join(out, "data", dirname)) + b"/" + name
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
        stored = dirname + "/" + (name if isinstance(name, str) else name.decode("utf-8", "backslashreplace"))
        raw_names[stored] = dirname.encode() + b"/" + (name.encode() if isinstance(name, str) else name)
        expect[stored] = {"ok": ok, "reason": reason, "pil": ok if pil is None else pil}
        return path

    def tool_jpeg(kind, px):
        path = os.path.join(out, "tmp.jpg")
        subprocess.run([tool, kind, str(W), str(H), path], input=px.tobytes(), check=True)
        data = open(path, "rb").read()
        os.remove(path)
        return data

    # ---- valid: decoded, and equal to PIL's convert('RGB') ----
    put("good", "baseline.jpg", baseline, True)
    put("good", "grey.jpg", jpeg_bytes(im.convert("L"), quality=90), True)
    put("good", "progressive.jpg", jpeg_bytes(im, quality=90, progressive=True), True)
    put("good", "arithmetic.jpg", tool_jpeg("arith", rgb), True)
    put("good", "arithmetic_progressive.jpg", tool_jpeg("arith-progressive", rgb), True)
    put("good", "cmyk_adobe.jpg", jpeg_bytes(Image.frombytes("CMYK", (W, H), (255 - cmyk_inverted).tobytes()),
                                             quality=95), True)
    put("good", "ycck.jpg", tool_jpeg("ycck", cmyk_inverted), True)
    put("good", "restart_markers.jpg", tool_jpeg("restart", rgb), True)
    # EXIF orientation 6 (rotate 90 degrees to display) is ignored, as PIL's
    # open + convert (Keras load_img) ignore it: the pixels as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    put("good", "exif_rotate90.jpg", jpeg_bytes(im, quality=90, exif=exif.tobytes()), True)
    put("good", "trailing_bytes.jpg", baseline + b"\0" * 100 + b"appended by some tool\n", True)
    put("good", "one_pixel.jpg", jpeg_bytes(Image.new("RGB", (1, 1), (200, 30, 10)), quality=95), True)
    for name, args in {
        "rgb16.png": (rgb.astype(np.uint16) * 257 + 3, 2, 16),
        "palette_trns.png": (rgb[:, :, :1] % 16, 3, 8),
        "grey_alpha.png": (np.dstack([rgb[:, :, 0], rgb[:, :, 1]]), 4, 8),
        "interlaced.png": (rgb, 2, 8, True),
        "interlaced_grey4.png": (rgb[:, :, :1] >> 4, 0, 4, True),
        "one_pixel.png": (rgb[:1, :1], 2, 8),
    }.items():
        path = os.path.join(good, name)
        pal = trns = None
        if name == "palette_trns.png":
            pal = np.arange(48).reshape(16, 3) * 5
            trns = bytes(range(0, 256, 16))
        write_png(path, np.asarray(args[0], dtype=np.int64), args[1], args[2], len(args) > 3, pal, trns)
        put("good", name, None, True)
    # over libpng's default 1,000,000-pixel limit on a side (refused as
    # "Invalid IHDR data" before vggtap lifted it), far under --max-pixels
    strip = (np.arange(1000001) % 251).astype(np.uint8)
    Image.fromarray(strip.reshape(1, -1), "L").save(put("good", "wide_1000001x1.png", None, True))
    Image.fromarray(np.dstack([strip] * 3).reshape(-1, 1, 3)).save(put("good", "tall_1x1000001.png", None, True))
    # a 16-bit grey PNG: PIL clips where vggtap keeps the high byte (vt_image.c), so no PIL check
    write_png(put("good", "grey16.png", None, True, pil=False), rgb[:, :, :1].astype(np.int64) * 257, 0, 16)
    # wrong extensions: the format comes from the bytes
    b = io.BytesIO()
    im.save(b, "PNG")
    png = b.getvalue()
    put("good", "png_named.jpg", png, True)
    put("good", "jpeg_named.png", baseline, True)
    # a file name that is not UTF-8 (Latin-1 e-acute): decoded; stored escaped
    put("good", b"caf\xe9.png", png, True)
    # spaces, a comma, quotes and UTF-8 in a name (quoted in the manifest)
    put("good", 'a "quoted", spaced \u65e5\u672c name.jpg', baseline, True)

    # ---- broken: failed rows whose reason names the problem ----
    put("bad", "zero_bytes.jpg", b"", False, "empty file")
    put("bad", "truncated.jpg", baseline[:len(baseline) // 2], False, "truncated JPEG data")
    put("bad", "truncated.png", png[:len(png) // 2], False, "truncated PNG data")
    put("bad", "truncated_header.png", png[:5], False, "truncated PNG data")
    put("bad", "garbage.jpg", bytes(np.random.default_rng(2).integers(0, 256, 3000, dtype=np.uint8)), False,
        "not a JPEG or PNG file")
    put("bad", "garbage_after_soi.jpg", b"\xff\xd8\xff" + bytes(np.random.default_rng(3).integers(0, 256, 1000, dtype=np.uint8)),
        False, "JPEG")  # libjpeg names what it met first: a bad marker, or the end of the data
    put("bad", "text.png", b"hello, not an image\n", False, "not a JPEG or PNG file")
    # 12-bit samples: libjpeg-turbo 2.1 is built for 8 bits (PIL fails too)
    put("bad", "precision12.jpg", with_sof_precision(baseline, 12), False, "JPEG: Unsupported JPEG data precision 12")
    put("bad", "gif_named.jpg", b"GIF89a" + bytes(40), False, "a GIF file: only JPEG and PNG are supported")
    put("bad", "huge_30000.jpg", with_sof_size(baseline, 30000, 30000), False,
        "image is 30000 x 30000 = 900,000,000 pixels, over the limit of 178,956,970")
    put("bad", "huge_30000.png", png_declaring(30000, 30000), False,
        "image is 30000 x 30000 = 900,000,000 pixels, over the limit of 178,956,970")
    os.chmod(put("bad", "unreadable.jpg", baseline, False, "cannot open: Permission denied"), 0)
    os.mkfifo(put("bad", "fifo.jpg", None, False, "not a regular file (a FIFO)"))
    os.symlink("loop.jpg", put("bad", "loop.jpg", None, False, "cannot open: Too many levels of symbolic links"))
    os.symlink("nowhere.jpg", put("bad", "dangling.jpg", None, False, "cannot open: No such file or directory"))
    # a directory named like an image is a folder: walked, its image included
    os.makedirs(os.path.join(bad, "folder.jpg"))
    put("bad", "folder.jpg/inside.png", png, True)
    # a symlink back to its own class folder: walked once, not 40 times
    os.symlink("..", os.path.join(bad, "folder.jpg", "up"))

    # not classes: a folder without files, one without image files; not rows:
    # an image beside the class folders
    os.makedirs(os.path.join(out, "data", "empty"))
    os.makedirs(os.path.join(out, "data", "notes"))
    with open(os.path.join(out, "data", "notes", "readme.txt"), "w") as f:
        f.write("not an image\n")
    with open(os.path.join(out, "data", "stray.jpg"), "wb") as f:
        f.write(baseline)
    # a class folder linked from a disk that is not mounted: noted, not silently dropped
    os.symlink("/nonexistent/usb/unmounted", os.path.join(out, "data", "unmounted"))

    # ---- manifests (paths relative to DIR) ----
    # manifest.csv: every file above with its folder's label, except grey.jpg
    # (empty label: unlabelled) and baseline.jpg (a non-UTF-8 label), plus a
    # missing file and a directory
    manifest, lines = {}, [b"path,label"]
    for stored, e in expect.items():
        label = stored.split("/")[0].encode()
        if stored == "good/grey.jpg":
            label = b""
        elif stored == "good/baseline.jpg":
            label = b"t\xe9"
        lines.append(b'"data/' + raw_names[stored].replace(b'"', b'""') + b'",' + label)
        manifest["data/" + stored] = dict(e, label=label.decode("utf-8", "backslashreplace"))
    lines += [b"data/missing.jpg,bad", b"data/bad/folder.jpg,bad"]
    manifest["data/missing.jpg"] = {"ok": False, "reason": "cannot open: No such file or directory",
                                    "pil": False, "label": "bad"}
    manifest["data/bad/folder.jpg"] = {"ok": False, "reason": "is a directory, not an image file",
                                       "pil": False, "label": "bad"}
    with open(os.path.join(out, "manifest.csv"), "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    # as Excel's "CSV UTF-8" and pandas' QUOTE_ALL write it: a byte-order
    # mark before a quoted header, CRLF, a blank line and one of blanks, quotes
    # and a comma in a label
    with open(os.path.join(out, "manifest_excel.csv"), "wb") as f:
        f.write(b'\xef\xbb\xbf"path","label","split"\r\n"data/good/baseline.jpg","good","train"\r\n\r\n \t \r\n'
                b'"data/good/grey.jpg","a ""quoted"", label","val"\r\n')
    # CR-only line ends (old Mac spreadsheets), and a header whose label
    # column is misspelt (" label"): read, and noted as unlabelled
    with open(os.path.join(out, "manifest_cr.csv"), "wb") as f:
        f.write(b"path,label\rdata/good/baseline.jpg,good\rdata/good/grey.jpg,bad\r")
    with open(os.path.join(out, "manifest_spaced.csv"), "wb") as f:
        f.write(b"path, label\ndata/good/baseline.jpg, good\n")
    # refused as a whole: a path listed twice (lines 3 and 5), a line with a
    # field too many (line 3), a NUL byte in a path (line 2; it used to cut the path short)
    with open(os.path.join(out, "manifest_dup.csv"), "w") as f:
        f.write("path,label\ndata/good/grey.jpg,good\ndata/good/baseline.jpg,good\n"
                "data/good/ycck.jpg,good\ndata/good/baseline.jpg,bad\n")
    with open(os.path.join(out, "manifest_fields.csv"), "w") as f:
        f.write("path,label\ndata/good/grey.jpg,good\ndata/good/baseline.jpg,good,extra\n")
    with open(os.path.join(out, "manifest_nul.csv"), "wb") as f:
        f.write(b"path,label\ndata/good/grey.jpg\0.bak,good\ndata/good/baseline.jpg,good\n")
    json.dump({"folders": expect, "manifest": manifest}, open(os.path.join(out, "expect.json"), "w"), indent=1)

if __name__ == "__main__":
    main()
