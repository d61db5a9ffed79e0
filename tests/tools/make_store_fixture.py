#!/usr/bin/python3
"""Writes a synthetic vggtap feature store (docs/STORE.md) with h5py, for tests
and benchmarks of vggtap-train / vggtap-predict, plus broken variants.

Features are Gaussian class blobs: class k has a centre drawn from
--class-seed (so two stores with the same --class-seed and different --seed
are the same problem: one to train on, one to evaluate on), rows add noise of
standard deviation --noise. With --maps the rows are full NHWC activation maps
(non-negative, as after a ReLU/max-pool) whose pooled vectors are computed here
with numpy, following the store's adaptive-grid rule.

  make_store_fixture.py OUT.h5 [--rows N] [--classes K] [--dim D | --map H,W,C]
      [--maps] [--pooled] [--dtype float32|float16] [--grids 1,2] [--failed F]
      [--unlabelled U] [--imbalance R] [--split] [--bad VARIANT] ...

--bad variants (each must be refused by vggtap-train with a clear message):
  not-hdf5, truncated, foreign, wrong-format, future-version, no-labels,
  single-class, empty-class, nan-feature, inf-feature, bad-label, pending-row,
  short-labels
"""
import argparse
import os
import sys

import h5py
import numpy as np

BAD = ["not-hdf5", "truncated", "foreign", "wrong-format", "future-version", "no-labels",
       "single-class", "empty-class", "nan-feature", "inf-feature", "bad-label", "pending-row",
       "short-labels"]


def grid_pool(maps, g, op):
    """maps [N,h,w,c] -> [N, g*g*c], cells laid out [gy][gx][c] (PyTorch adaptive rule)."""
    n, h, w, c = maps.shape
    out = np.empty((n, g, g, c), dtype=np.float64)
    for i in range(g):
        y0, y1 = (i * h) // g, -((-(i + 1) * h) // g)
        for j in range(g):
            x0, x1 = (j * w) // g, -((-(j + 1) * w) // g)
            cell = maps[:, y0:y1, x0:x1, :].astype(np.float64)
            out[:, i, j, :] = cell.mean(axis=(1, 2)) if op == "avg" else cell.max(axis=(1, 2))
    return out.reshape(n, g * g * c).astype(np.float32)


def labels_for(args, rng):
    k = args.classes
    if args.imbalance != 1.0:  # class j gets a share proportional to imbalance^j
        share = args.imbalance ** np.arange(k)
        counts = np.maximum(1, np.round(args.rows * share / share.sum()).astype(int))
        counts[0] += args.rows - counts.sum()
        labels = np.repeat(np.arange(k), counts)
    else:
        labels = np.arange(args.rows) % k  # every class gets rows
    rng.shuffle(labels)
    labels = labels.astype(np.int32)
    if args.bad == "single-class":
        labels[:] = 0
    if args.bad == "empty-class":
        labels[labels == k - 1] = 0  # class k-1 stays listed but has no rows
    if args.unlabelled:
        labels[rng.choice(args.rows, args.unlabelled, replace=False)] = -1
    if args.bad == "no-labels":
        labels[:] = -1
    return labels


def make_maps(args, labels, rng):
    h, w, c = args.map
    crng = np.random.default_rng(args.class_seed)
    # a per-class channel profile plus a per-class coarse layout (so a 2x2 grid helps)
    centre = crng.normal(0.0, 1.0, (args.classes, c))
    layout = crng.normal(0.0, 1.0, (args.classes, 2, 2, c))
    ys = (np.arange(h) * 2) // h
    xs = (np.arange(w) * 2) // w
    maps = np.empty((args.rows, h, w, c), dtype=np.float32)
    for i, k in enumerate(labels):
        kk = max(int(k), 0)
        base = centre[kk][None, None, :] + 0.7 * layout[kk][ys][:, xs]
        maps[i] = np.maximum(base + args.noise * rng.normal(0.0, 1.0, (h, w, c)), 0.0)
    return maps


def make_pooled_only(args, labels, rng):
    crng = np.random.default_rng(args.class_seed)
    centre = crng.normal(0.0, 1.0, (args.classes, args.dim))
    kk = np.maximum(labels, 0)
    avg = centre[kk] + args.noise * rng.normal(0.0, 1.0, (args.rows, args.dim))
    mx = avg + np.abs(rng.normal(0.0, 1.0, (args.rows, args.dim)))
    # an arbitrary offset and scale per feature, so standardisation matters
    offset = crng.uniform(-3, 3, args.dim)
    scale = crng.uniform(0.1, 10, args.dim)
    return {"avg1": (avg * scale + offset).astype(np.float32),
            "max1": (mx * scale + offset).astype(np.float32)}


def write(args):
    rng = np.random.default_rng(args.seed)
    k = args.classes
    labels = labels_for(args, rng)
    n = args.rows
    status = np.ones(n, dtype=np.uint8)
    failed = rng.choice(n, args.failed, replace=False) if args.failed else np.array([], int)
    status[failed] = 2
    if args.bad == "pending-row":
        status[n // 2] = 0

    maps = None
    if args.dim:
        pooled = make_pooled_only(args, labels, rng)
    else:
        maps = make_maps(args, labels, rng)
        pooled = {}
        for g in args.grids:
            pooled["avg%d" % g] = grid_pool(maps, g, "avg")
            pooled["max%d" % g] = grid_pool(maps, g, "max")
    for v in pooled.values():
        v[failed] = np.nan
    if maps is not None:
        maps[failed] = np.nan
    ok_rows = np.flatnonzero(status == 1)
    bad_row = int(ok_rows[0]) if len(ok_rows) else None  # (--failed may fail every row)
    if args.bad in ("nan-feature", "inf-feature"):
        bad = np.nan if args.bad == "nan-feature" else np.inf
        for v in pooled.values():
            v[bad_row, 0] = bad
        if maps is not None:
            maps[bad_row, 0, 0, 0] = bad
    if args.bad == "bad-label":
        labels[bad_row] = k + 3

    tap = args.tap
    with h5py.File(args.out, "w") as f:
        a = f.attrs
        if args.bad != "foreign":
            a["format"] = "something-else" if args.bad == "wrong-format" else "vggtap-store"
            a["format_version"] = np.int32(2 if args.bad == "future-version" else 1)
        else:
            a["layer_names"] = np.array([b"input_1", b"block1_conv1"])
            a["backend"] = "tensorflow"
        a["tool_version"] = "fixture"
        a["weights_sha256"] = args.sha
        a["weights_file"] = "fixture-weights.h5"
        a["taps"] = tap
        a["preprocessing"] = args.preprocessing
        a["resize"] = args.resize
        height, _, width = args.input_size.partition("x")
        a["input_height"] = np.int32(height)
        a["input_width"] = np.int32(width or height)
        a["map_dtype"] = args.dtype if maps is not None and args.maps else "none"
        a["compression"] = "none"
        a["grids"] = ",".join(str(g) for g in args.grids) if not args.dim else "1"
        a["source"] = "manifest" if args.split else "folders"
        a["data_root"] = "fixture"
        a["command"] = " ".join(sys.argv)
        s = h5py.string_dtype()
        names = ["class_%02d" % i for i in range(k)]
        if args.bad == "no-labels":
            names = []
        if args.bad == "single-class":
            names = names[:1]
        f.create_dataset("classes", data=np.array(names, dtype=object), dtype=s)
        paths = ["%s/img_%05d.jpg" % (names[l] if 0 <= l < len(names) else "unlabelled", i)
                 for i, l in enumerate(labels)]
        f.create_dataset("images/path", data=np.array(paths, dtype=object), dtype=s)
        nl = n - 1 if args.bad == "short-labels" else n
        f.create_dataset("images/label", data=labels[:nl])
        if args.split:
            sp = np.where(rng.random(n) < 0.25, "val", "train").astype(object)
        else:
            sp = np.array([""] * n, dtype=object)
        f.create_dataset("images/split", data=sp, dtype=s)
        f.create_dataset("images/status", data=status)
        err = np.array(["fixture: decode failed" if st == 2 else "" for st in status], dtype=object)
        f.create_dataset("images/error", data=err, dtype=s)
        wh = np.where(status == 1, 640, 0).astype(np.int32)
        f.create_dataset("images/width", data=wh)
        f.create_dataset("images/height", data=wh)
        if args.pooled:
            for name, v in pooled.items():
                d = f.create_dataset("pooled/%s/%s" % (tap, name), data=v)
                d.attrs["op"] = name[:3]
                d.attrs["grid"] = np.int32(int(name[3:]))
        if maps is not None and args.maps:
            h, w, c = args.map
            d = f.create_dataset("features/" + tap, data=maps.astype(args.dtype),
                                 chunks=(1, h, w, c))
            d.attrs["layer"] = tap

    if args.bad == "truncated":
        size = os.path.getsize(args.out)
        with open(args.out, "r+b") as fh:
            fh.truncate(size // 2)
    if args.bad == "not-hdf5":
        with open(args.out, "wb") as fh:
            fh.write(b"path,label\nnot/a/store.jpg,0\n" * 20)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("out")
    p.add_argument("--rows", type=int, default=120)
    p.add_argument("--classes", type=int, default=3)
    p.add_argument("--tap", default="block1_pool")
    p.add_argument("--dim", type=int, default=0, help="pooled-only store of this width (no maps)")
    p.add_argument("--map", default="8,8,16", help="map shape H,W,C")
    p.add_argument("--maps", action="store_true", help="store the full maps")
    p.add_argument("--pooled", action="store_true", help="store the pooled vectors")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    p.add_argument("--grids", default="1,2")
    p.add_argument("--noise", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--class-seed", type=int, default=1000)
    p.add_argument("--failed", type=int, default=0, help="rows marked failed")
    p.add_argument("--unlabelled", type=int, default=0)
    p.add_argument("--imbalance", type=float, default=1.0, help="class j gets a share ~ imbalance^j")
    p.add_argument("--split", action="store_true", help="fill /images/split (train/val)")
    p.add_argument("--preprocessing", default="caffe")
    p.add_argument("--resize", default="antialias")
    p.add_argument("--input-size", default="224", help="N or HxW")
    p.add_argument("--sha", default="f" * 64)
    p.add_argument("--bad", choices=BAD)
    args = p.parse_args()
    args.map = tuple(int(x) for x in args.map.split(","))
    args.grids = [int(x) for x in args.grids.split(",")]
    if not args.maps and not args.pooled:
        args.pooled = True
    if args.dim:
        args.maps = False
        args.pooled = True
    write(args)


if __name__ == "__main__":
    main()
