#!/usr/bin/env python3
"""Writes seeded random VGG16 conv weights in exactly the Keras HDF5 layout of
data/weights/vgg16_keras_prefix.h5 (see its README.md):

  root attrs   backend = "tensorflow", layer_names = [input_1, block1_conv1, ...]
  /<layer>     attr weight_names = [b"<layer>/kernel:0", b"<layer>/bias:0"]
               (empty for input_1 and the pools)
  /<layer>/<layer>/kernel:0   float32 HWIO (3, 3, cin, cout)
  /<layer>/<layer>/bias:0     float32 (cout,)

Kernels are He-normal (std sqrt(2 / (9 cin))), biases uniform in [0, 0.1), so
ReLU activations keep roughly the same scale through all 13 layers. Used by
tests of taps deeper than the real prefix file, and by benchmarks.

usage: make_keras_weights.py OUT.h5 [--layers N] [--seed S]
"""
import argparse

import h5py
import numpy as np

# (name, cin, cout); cin == cout == 0 marks a pool.
VGG16 = [
    ("block1_conv1", 3, 64), ("block1_conv2", 64, 64), ("block1_pool", 0, 0),
    ("block2_conv1", 64, 128), ("block2_conv2", 128, 128), ("block2_pool", 0, 0),
    ("block3_conv1", 128, 256), ("block3_conv2", 256, 256), ("block3_conv3", 256, 256), ("block3_pool", 0, 0),
    ("block4_conv1", 256, 512), ("block4_conv2", 512, 512), ("block4_conv3", 512, 512), ("block4_pool", 0, 0),
    ("block5_conv1", 512, 512), ("block5_conv2", 512, 512), ("block5_conv3", 512, 512), ("block5_pool", 0, 0),
]


def layers_for(n_conv):
    """The layers of a file holding the first n_conv convs: everything up to
    the last of them, plus the pool right after it (as in the bundled file,
    which holds 4 convs and ends at block2_pool)."""
    out, convs = [], 0
    for name, cin, cout in VGG16:
        if cin != 0 and convs == n_conv:
            break
        out.append((name, cin, cout))
        convs += cin != 0
    return out


def write(path, n_conv, seed):
    rng = np.random.default_rng(seed)
    layers = layers_for(n_conv)
    with h5py.File(path, "w") as f:
        f.attrs.create("backend", "tensorflow", dtype=h5py.string_dtype("ascii"))
        f.attrs["layer_names"] = np.array([b"input_1"] + [n.encode() for n, _, _ in layers])
        f.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        for name, cin, cout in layers:
            g = f.create_group(name)
            if cin == 0:
                g.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            g.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
            kernel = rng.normal(0.0, np.sqrt(2.0 / (9 * cin)), size=(3, 3, cin, cout)).astype("<f4")
            bias = rng.uniform(0.0, 0.1, size=cout).astype("<f4")
            g.create_dataset(f"{name}/kernel:0", data=kernel)
            g.create_dataset(f"{name}/bias:0", data=bias)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=13, help="leading conv layers to write (1..13)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if not 1 <= a.layers <= 13:
        ap.error("--layers must be in 1..13")
    write(a.out, a.layers, a.seed)


if __name__ == "__main__":
    main()
