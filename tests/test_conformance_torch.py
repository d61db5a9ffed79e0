"""Conformance: features from bin/vggtap-extract on real photos with the
real Keras weights match an independent implementation (PIL decode + Keras
nearest resize + caffe preprocessing + PyTorch conv2d/max_pool2d) to 1e-4
relative to each tap's max activation, at block1_pool and block2_pool, for
both the stored maps and the pooled vectors, on 8 photos of data/clothing-30.
The same at block1_pool with --resize dct-antialias against PIL's draft
(DCT-scaled decode) + BILINEAR, at 112x112 so that the photos (320 px on
the longer side) are shrunk while decoding."""
import os
import sys

import h5py
import numpy as np
from PIL import Image

import vtlib

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    vtlib.skip("python3-torch is not installed")

LAYERS = [("block1_conv1", "conv"), ("block1_conv2", "conv"), ("block1_pool", "pool"),
          ("block2_conv1", "conv"), ("block2_conv2", "conv"), ("block2_pool", "pool")]


def torch_taps(x_nhwc, wf):
    """Runs the prefix in PyTorch; returns {layer: NHWC numpy map}."""
    x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(2, 0, 1)))[None]
    out = {}
    with torch.no_grad():
        for name, kind in LAYERS:
            if kind == "conv":
                k = torch.from_numpy(wf[name][name]["kernel:0"][:].transpose(3, 2, 0, 1).copy())
                b = torch.from_numpy(wf[name][name]["bias:0"][:])
                x = F.relu(F.conv2d(x.double(), k.double(), b.double(), padding=1))
            else:
                x = F.max_pool2d(x, 2)
            out[name] = x[0].numpy().transpose(1, 2, 0)
    return out


def main():
    paths = [os.path.join(vtlib.DATA, vtlib.CLOTHING, p) for p, _ in vtlib.sample(vtlib.CLOTHING, 1, seed=3)[:8]]
    tmp = vtlib.tmpdir()
    store = os.path.join(tmp, "s.h5")
    vtlib.run([vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS, "--resize", "nearest",
               "--tap", "block1_pool,block2_pool", "--keep", "maps,pooled", "--quiet",
               "--out", store, "--files"] + paths)
    worst = {}
    with h5py.File(store, "r") as f, h5py.File(vtlib.WEIGHTS, "r") as wf:
        assert list(f["images/status"][:]) == [1] * len(paths)
        assert [p.decode() if isinstance(p, bytes) else p for p in f["images/path"][:]] == paths
        for i, path in enumerate(paths):
            ref = torch_taps(vtlib.caffe_input(path).astype(np.float64), wf)
            for tap in ("block1_pool", "block2_pool"):
                r = ref[tap]
                scale = np.abs(r).max()
                got = f["features/" + tap][i]
                e_map = np.abs(got - r).max() / scale
                e_gap = np.abs(f[f"pooled/{tap}/avg1"][i] - r.mean(axis=(0, 1))).max() / scale
                e_gmp = np.abs(f[f"pooled/{tap}/max1"][i] - r.max(axis=(0, 1))).max() / scale
                # 2x2 grid: cells are halves (the maps are even-sized here)
                h, w = r.shape[:2]
                cells = [r[a * h // 2:(a + 1) * h // 2, b * w // 2:(b + 1) * w // 2].mean(axis=(0, 1))
                         for a in range(2) for b in range(2)]
                e_avg2 = np.abs(f[f"pooled/{tap}/avg2"][i] - np.concatenate(cells)).max() / scale
                for k, e in (("map", e_map), ("avg1", e_gap), ("max1", e_gmp), ("avg2", e_avg2)):
                    worst[(tap, k)] = max(worst.get((tap, k), 0.0), e)
    # photos at least 2x the input size on both sides are shrunk while
    # decoding (most here); one narrower photo too, which is not
    dct_size = 112
    every = [os.path.join(vtlib.DATA, vtlib.CLOTHING, p) for p, _ in vtlib.manifest_rows(vtlib.CLOTHING)]
    narrow = next(q for q in every if min(Image.open(q).size) < 2 * dct_size)
    dct_paths = paths[:3] + [narrow]
    dct_store = os.path.join(tmp, "dct.h5")
    vtlib.run([vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS, "--resize", "dct-antialias",
               "--size", str(dct_size), "--tap", "block1_pool", "--keep", "maps", "--quiet", "--out", dct_store,
               "--files"] + dct_paths)
    with h5py.File(dct_store, "r") as f, h5py.File(vtlib.WEIGHTS, "r") as wf:
        assert f.attrs["resize"] in ("dct-antialias", b"dct-antialias"), f.attrs["resize"]
        shrunk = 0
        for i, path in enumerate(dct_paths):
            with Image.open(path) as im:
                # the file's own size is recorded, not the DCT-shrunk one
                assert (f["images/width"][i], f["images/height"][i]) == im.size, path
                shrunk += min(im.size[0] // dct_size, im.size[1] // dct_size) >= 2
            r = torch_taps(vtlib.caffe_input(path, dct_size, resize="dct-antialias").astype(np.float64),
                           wf)["block1_pool"]
            e = np.abs(f["features/block1_pool"][i] - r).max() / np.abs(r).max()
            worst[("block1_pool", "dct-antialias map")] = max(worst.get(("block1_pool", "dct-antialias map"), 0.0), e)
        print(f"dct-antialias: {shrunk} of {len(dct_paths)} photos shrunk while decoding")
        assert 0 < shrunk < len(dct_paths), "want photos both shrunk and not shrunk while decoding"
    ok = True
    for (tap, k), e in sorted(worst.items()):
        print(f"{tap:12s} {k:5s} max |vggtap - torch| / max|torch| = {e:.2e}")
        ok &= e <= 1e-4
    print("images:", len(paths))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
