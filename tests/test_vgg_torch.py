#!/usr/bin/env python3
"""Conformance of vggtap's VGG16 prefix against an independent implementation:
PyTorch conv2d / max_pool2d (NCHW, kernels transposed from Keras HWIO,
padding 1, ReLU, 2x2 stride-2 floor pooling), computed in float64.

(a) the real ImageNet prefix weights (block1..block2) on a real photo,
    decoded with PIL, resized to 224x224 NEAREST (Keras load_img's default)
    and caffe-preprocessed in numpy (RGB->BGR, minus [103.939, 116.779, 123.68]);
    every layer up to block2_pool.
(b) seeded random weights for all 13 convs (tests/tools/make_keras_weights.py)
    on the same photo at an odd size (99x133), every layer up to block5_pool.

Per layer, max|vggtap - torch| / max|torch| must be <= 1e-4. Our side runs
through $TEST_BUILD/tools/vt_forward_dump. Skips (77) only if torch is missing.
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from PIL import Image

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("SKIP: torch is not installed")
    sys.exit(77)

import vtlib  # noqa: E402

ROOT = vtlib.ROOT
DUMP = os.path.join(vtlib.BUILD, "tools", "vt_forward_dump")
MAKE_WEIGHTS = os.path.join(ROOT, "tests", "tools", "make_keras_weights.py")
REAL_WEIGHTS = vtlib.WEIGHTS
TOLERANCE = 1e-4

LAYERS = [
    "block1_conv1", "block1_conv2", "block1_pool",
    "block2_conv1", "block2_conv2", "block2_pool",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_pool",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_pool",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_pool",
]


def caffe_input(path, height, width):
    """[H][W][3] float32: BGR, mean subtracted, no scaling (Keras 'caffe')."""
    rgb = Image.open(path).convert("RGB").resize((width, height), Image.NEAREST)
    x = np.asarray(rgb, dtype=np.float32)[:, :, ::-1]
    return np.ascontiguousarray(x - np.array([103.939, 116.779, 123.68], dtype=np.float32))


def torch_forward(weights_path, x, last):
    """Every layer's output up to `last`, as float64 [h][w][c] arrays."""
    outs = {}
    t = torch.from_numpy(x.astype(np.float64)).permute(2, 0, 1)[None]
    with h5py.File(weights_path, "r") as f, torch.no_grad():
        for name in LAYERS[: LAYERS.index(last) + 1]:
            if name.endswith("pool"):
                t = F.max_pool2d(t, kernel_size=2, stride=2)
            else:
                kernel = torch.from_numpy(f[name][name]["kernel:0"][()].astype(np.float64))
                bias = torch.from_numpy(f[name][name]["bias:0"][()].astype(np.float64))
                # HWIO -> OIHW; conv2d is a cross-correlation like tf.nn.conv2d.
                t = F.relu(F.conv2d(t, kernel.permute(3, 2, 0, 1), bias, padding=1))
            outs[name] = t[0].permute(1, 2, 0).numpy()
    return outs


def vggtap_forward(weights_path, x, layer, tmp):
    inp, out = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.f32")
    x.astype("<f4").tofile(inp)
    h, w = x.shape[:2]
    r = subprocess.run([DUMP, weights_path, inp, str(h), str(w), layer, out], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"FAIL: vt_forward_dump {layer}: {r.stderr.strip()}")
    oh, ow, oc = map(int, r.stdout.split())
    return np.fromfile(out, dtype="<f4").reshape(oh, ow, oc)


def compare(title, weights_path, x, last, tmp):
    print(f"{title}: input {x.shape[0]}x{x.shape[1]}, max|vggtap - torch| / max|torch| per layer")
    ref = torch_forward(weights_path, x, last)
    bad = 0
    for name in LAYERS[: LAYERS.index(last) + 1]:
        got, want = vggtap_forward(weights_path, x, name, tmp), ref[name]
        if got.shape != want.shape:
            print(f"  FAIL {name}: shape {got.shape}, torch {want.shape}")
            bad += 1
            continue
        scale = np.abs(want).max()
        rel = np.abs(got - want).max() / scale if scale > 0 else np.inf
        # An all-zero layer would make the comparison vacuous.
        ok = rel <= TOLERANCE and scale > 0 and (want > 0).mean() > 0.05
        bad += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {name:13s} {str(want.shape):16s} max {scale:10.4g}"
              f"  active {100 * (want > 0).mean():5.1f}%  rel {rel:.2e}")
    return bad


def main():
    if not os.access(DUMP, os.X_OK):
        raise SystemExit(f"FAIL: {DUMP} is not built (make {os.path.relpath(DUMP, ROOT)})")
    torch.set_num_threads(1)
    photo = os.path.join(vtlib.DATA, vtlib.CLOTHING, vtlib.manifest_rows(vtlib.CLOTHING)[0][0])
    print(f"photo: {os.path.relpath(photo, ROOT)}")
    bad = 0
    with tempfile.TemporaryDirectory(prefix="vt_torch_") as tmp:
        bad += compare("(a) real prefix weights", REAL_WEIGHTS, caffe_input(photo, 224, 224), "block2_pool", tmp)
        random_weights = os.path.join(tmp, "random_vgg16.h5")
        subprocess.run([sys.executable, MAKE_WEIGHTS, random_weights, "--seed", "7"], check=True)
        bad += compare("(b) random full weights", random_weights, caffe_input(photo, 99, 133), "block5_pool", tmp)
    print("FAILED" if bad else "all passed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
