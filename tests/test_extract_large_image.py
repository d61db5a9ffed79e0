"""A large photo is never whole in memory: vggtap-extract resizes its rows
as they are decoded (vt_image_load_resized), so a 9000 x 7000 JPEG and a
6000 x 5000 PNG (a real clothing photo enlarged), whose decoded pixels alone
are 189 MB and 90 MB, are extracted by a process whose peak RSS stays below
the size of the larger one, decoded. Before, each was decoded whole and then
resized (the peak was 199 MiB for the JPEG); the same JPEG cut short fails
as truncated, having taken as little. The features are those of the same
photo resized by PIL, as Keras load_img does: its network input within +-1
of PIL's, and its pooled features equal a run on PIL's 224 x 224 resize
within the rounding that +-1 makes."""
import os
import subprocess
import sys

import h5py
import numpy as np
from PIL import Image

import vtlib

WHOLE_JPEG = 9000 * 7000 * 3  # bytes of the JPEG's decoded pixels


def peak_rss_bytes(cmd, want_rc=0):
    rc, peak = vtlib.peak_rss(cmd)
    assert rc == want_rc, (cmd, rc)
    return peak


def main():
    tmp = vtlib.tmpdir()
    photo = vtlib.sample(vtlib.CLOTHING, 1, seed=7)[0][0]
    src = Image.open(os.path.join(vtlib.DATA, vtlib.CLOTHING, photo)).convert("RGB")
    big_jpeg, big_png = os.path.join(tmp, "big.jpg"), os.path.join(tmp, "big.png")
    src.resize((9000, 7000), Image.BILINEAR).save(big_jpeg, quality=90)
    src.resize((6000, 5000), Image.BILINEAR).save(big_png, compress_level=1)

    for path in (big_jpeg, big_png):
        out = os.path.join(tmp, os.path.basename(path) + ".h5")
        man = os.path.join(tmp, os.path.basename(path) + ".csv")
        with open(man, "w") as f:
            f.write(f"path,label\n{path},big\n")
        cmd = [vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS, "--manifest", man,
               "--tap", "block1_pool", "--out", out, "--quiet"]
        peak = peak_rss_bytes(cmd)
        im = Image.open(path)
        whole = im.width * im.height * 3
        print(f"{os.path.basename(path)} {im.width}x{im.height}: decoded whole {whole / 2**20:.0f} MiB, "
              f"vggtap-extract peak RSS {peak / 2**20:.0f} MiB")
        if not vtlib.SANITIZED:
            assert peak < min(whole, WHOLE_JPEG), (path, peak, whole)

        # the network input equals PIL's resize within +-1 (its rounding)
        dump = subprocess.run([os.path.join(vtlib.BUILD, "tools", "vt_imgdump"), path, "224", "224", "antialias"],
                              capture_output=True, check=True).stdout
        ours = np.frombuffer(dump[dump.index(b"255\n") + 4:], np.uint8).reshape(224, 224, 3)
        pil = np.asarray(im.convert("RGB").resize((224, 224), Image.BILINEAR))
        diff = np.abs(ours.astype(int) - pil.astype(int)).max()
        assert diff <= 1, (path, diff)

        # ... and the stored features are the photo's: the same as extracting PIL's resize
        small = os.path.join(tmp, os.path.basename(path) + ".pil.png")
        Image.fromarray(pil).save(small)
        with open(man, "w") as f:
            f.write(f"path,label\n{small},big\n")
        ref = out + ".ref.h5"
        vtlib.run(cmd[:5] + ["--tap", "block1_pool", "--out", ref, "--quiet"])
        with h5py.File(out, "r") as a, h5py.File(ref, "r") as b:
            assert a["images/status"][0] == 1
            x, y = a["pooled/block1_pool/avg1"][0], b["pooled/block1_pool/avg1"][0]
            rel = np.abs(x - y).max() / np.abs(y).max()
            print(f"  pooled features vs PIL's resize extracted: max relative difference {rel:.1e}, "
                  f"input pixels differ by at most {diff}")
            assert rel < 0.02, rel

    # a header declaring the large image over little data (the JPEG cut at
    # 100 kB): a failed row, truncated, having taken rows of width 224 only
    cut = os.path.join(tmp, "cut.jpg")
    with open(big_jpeg, "rb") as f, open(cut, "wb") as g:
        g.write(f.read(100_000))
    man = os.path.join(tmp, "cut.csv")
    with open(man, "w") as f:
        f.write(f"path,label\n{cut},big\n")
    out = os.path.join(tmp, "cut.h5")
    peak = peak_rss_bytes([vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS, "--manifest", man,
                           "--tap", "block1_pool", "--out", out, "--quiet"], want_rc=3)  # 3: every image failed
    print(f"cut.jpg (9000x7000 declared, 100 kB): peak RSS {peak / 2**20:.0f} MiB")
    with h5py.File(out, "r") as f:
        assert f["images/status"][0] == 2 and f["images/error"][0].decode() == "truncated JPEG data", f["images/error"][0]
    if not os.environ.get("VGGTAP_BIN"):
        assert peak < WHOLE_JPEG, peak
    return 0


if __name__ == "__main__":
    sys.exit(main())
