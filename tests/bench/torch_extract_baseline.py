#!/usr/bin/python3
"""The job vggtap-extract does, written the way a PyTorch user would write it:
the baseline of the end-to-end benchmark (tests/bench/bench_extract.py).

PIL decodes and resizes (BILINEAR, which PIL antialiases when shrinking: the
same filter as vggtap's default `antialias` policy; with --resize
dct-antialias, PIL's draft() first lets libjpeg shrink large JPEGs while
decoding, as vggtap's policy of that name does), numpy does the Keras
"caffe" preprocessing, PyTorch runs the VGG16 prefix built from the Keras .h5
weights at its fastest fp32 settings (see bench_prefix.py), and h5py writes a
store with the same content as vggtap-extract's (docs/STORE.md): per-row path,
label, status, error, width, height; /features/<tap> maps [N,h,w,c] float32
chunked one image per chunk; /pooled/<tap>/avg<g> and max<g> for each grid.
Failed images are recorded rows holding NaN, as in vggtap.

  torch_extract_baseline.py --weights W.h5 (--manifest CSV | --files IMG...)
      --tap block1_pool[,block2_pool] --out STORE.h5 [--keep pooled|maps,pooled]
      [--grids 1,2,4] [--resize antialias|dct-antialias] [--threads 2] [--batch 1] [--format channels_last|contiguous]
      [--executor eager|jit|ofi] [--loader-workers 0]

The model code (Prefix, load_prefix, prepare) is also what bench_prefix.py
times, so the conv-only and the end-to-end baselines are the same network.
"""
import argparse
import csv
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)

# (name, cin, cout); cin == 0 marks a 2x2 max-pool.
VGG16 = [
    ("block1_conv1", 3, 64), ("block1_conv2", 64, 64), ("block1_pool", 0, 0),
    ("block2_conv1", 64, 128), ("block2_conv2", 128, 128), ("block2_pool", 0, 0),
    ("block3_conv1", 128, 256), ("block3_conv2", 256, 256), ("block3_conv3", 256, 256), ("block3_pool", 0, 0),
    ("block4_conv1", 256, 512), ("block4_conv2", 512, 512), ("block4_conv3", 512, 512), ("block4_pool", 0, 0),
    ("block5_conv1", 512, 512), ("block5_conv2", 512, 512), ("block5_conv3", 512, 512), ("block5_pool", 0, 0),
]
LAYER_NAMES = [n for n, _, _ in VGG16]


class Prefix(nn.Module):
    """VGG16 layers up to the deepest tap; returns the tap outputs (NCHW)."""

    def __init__(self, weights_h5, taps):
        super().__init__()
        last = max(LAYER_NAMES.index(t) for t in taps)
        self.tap_at = [LAYER_NAMES.index(t) for t in sorted(taps, key=LAYER_NAMES.index)]
        layers = []
        with h5py.File(weights_h5, "r") as f:
            for name, cin, cout in VGG16[:last + 1]:
                if cin == 0:
                    layers.append(nn.MaxPool2d(2))
                    continue
                conv = nn.Conv2d(cin, cout, 3, padding=1)
                # Keras HWIO cross-correlation kernel -> PyTorch OIHW (no flip).
                conv.weight.data = torch.from_numpy(f[name][name]["kernel:0"][()].transpose(3, 2, 0, 1).copy())
                conv.bias.data = torch.from_numpy(f[name][name]["bias:0"][()].copy())
                layers.append(nn.Sequential(conv, nn.ReLU(inplace=True)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.tap_at:
                outs.append(x)
        return tuple(outs)


def prepare(model, fmt, executor, example):
    """The runnable form of the model for a memory format and an executor:
    eager (called under inference_mode), jit (torch.jit.trace + freeze) or
    ofi (trace + torch.jit.optimize_for_inference, which also freezes and
    moves convs to oneDNN's blocked layout). Returns (fn, example input in
    the chosen format)."""
    model = model.eval()
    if fmt == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        example = example.contiguous(memory_format=torch.channels_last)
    if executor == "eager":
        return model, example
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
        if executor == "jit":
            return torch.jit.freeze(traced), example
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced)), example


def warmup_calls(executor):
    """Untimed calls before timing: TorchScript's profiling executor
    profiles the first call and runs its optimised graph from the second."""
    return 1 if executor == "eager" else 2


def vgg_shape(layer, size):
    """(h, w, c) of a layer's output for a size x size input."""
    h, c = size, 3
    for name, cin, cout in VGG16[:LAYER_NAMES.index(layer) + 1]:
        h, c = (h // 2, c) if cin == 0 else (h, cout)
    return h, h, c


def caffe(img):
    """PIL RGB image -> float32 [H][W][3] BGR minus the caffe mean."""
    return np.asarray(img, dtype=np.float32)[:, :, ::-1] - CAFFE_MEAN_BGR


def load_image(path, size, resize="antialias"):
    """-> (NHWC caffe input, width, height, error)."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            w, h = im.size
            if resize == "dct-antialias":
                im.draft("RGB", (size, size))
            x = caffe(im.convert("RGB").resize((size, size), Image.BILINEAR))
        return x, w, h, ""
    except Exception as e:  # a bad image is a recorded row, as in vggtap
        return None, 0, 0, str(e) or type(e).__name__


def read_manifest(path):
    root = os.path.dirname(os.path.abspath(path))
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    col = "label" if rows and "label" in rows[0] else "class"
    paths = [r["path"] for r in rows]
    labels = [r.get(col, "") or "" for r in rows]
    splits = [r.get("split", "") or "" for r in rows]
    return root, paths, labels, splits


def grid_pools(t, grids):
    """t: NCHW tap output -> {name: [N, g*g*c]} laid out [gy][gx][c] (adaptive
    pooling cells, as vggtap's)."""
    out = {}
    for g in grids:
        for op, fn in (("avg", F.adaptive_avg_pool2d), ("max", F.adaptive_max_pool2d)):
            p = fn(t, g)  # [N, C, g, g]
            out[f"{op}{g}"] = p.permute(0, 2, 3, 1).reshape(t.shape[0], -1).numpy()
    return out


class Extractor:
    """The prefix at the chosen settings, warmed up: a batch of decoded
    images -> tap maps (NHWC numpy) and pooled vectors."""

    def __init__(self, a, taps):
        torch.set_num_threads(a.threads)
        self.a, self.taps = a, taps
        self.grids = sorted(int(g) for g in a.grids.split(","))
        example = torch.zeros(a.batch, 3, a.size, a.size)
        self.fn, example = prepare(Prefix(a.weights, taps), a.format, a.executor, example)
        with torch.inference_mode():
            for _ in range(warmup_calls(a.executor)):
                outs = self.fn(example)
        self.shapes = [tuple(o.shape[1:]) for o in outs]  # (c, h, w) per tap

    def run(self, xs):
        """xs: [NHWC float32 array or None (failed image)] -> {name: array}
        with "features/<tap>" and "pooled/<tap>/<op><g>", NaN in failed rows."""
        a = self.a
        ok = np.array([x is not None for x in xs])
        batch = np.stack([x if x is not None else np.zeros((a.size, a.size, 3), np.float32) for x in xs])
        x = torch.from_numpy(batch).permute(0, 3, 1, 2)  # NCHW view of NHWC memory
        x = x.contiguous(memory_format=torch.channels_last if a.format == "channels_last"
                         else torch.contiguous_format)
        with torch.inference_mode():
            outs = self.fn(x)
        res = {}
        for t, o in zip(self.taps, outs):
            if "maps" in a.keep:
                res[f"features/{t}"] = o.permute(0, 2, 3, 1).numpy().copy()
            if "pooled" in a.keep:
                for k, v in grid_pools(o, self.grids).items():
                    res[f"pooled/{t}/{k}"] = v
        for v in res.values():
            v[~ok] = np.nan
        return res


def load_batch(paths, size, resize):
    """-> ([input or None], [(width, height, error)])"""
    got = [load_image(p, size, resize) for p in paths]
    return [g[0] for g in got], [g[1:] for g in got]


def worker(a, taps, full, shard, q, go):
    """One of --procs processes: batches shard, shard + procs, ..."""
    ex = Extractor(a, taps)
    q.put(("ready", None))
    go.wait()
    for start in range(shard * a.batch, len(full), a.procs * a.batch):
        xs, meta = load_batch(full[start:start + a.batch], a.size, a.resize)
        q.put(("batch", (start, meta, ex.run(xs))))
    q.put(("end", None))


def batches(a, taps, full):
    """Yields (first row, [(width, height, error)], results) in any order;
    the first item is None once setup is done (the clock starts there)."""
    if a.procs == 1:
        ex = Extractor(a, taps)
        yield None
        # Decoding overlaps the network only through DataLoader processes.
        loader = torch.utils.data.DataLoader(range(0, len(full), a.batch), batch_size=None,
                                             num_workers=a.loader_workers,
                                             collate_fn=lambda s: (s, load_batch(full[s:s + a.batch], a.size, a.resize)))
        for start, (xs, meta) in loader:
            yield start, meta, ex.run(xs)
        return
    ctx = torch.multiprocessing.get_context("spawn")
    q, go = ctx.Queue(maxsize=2 * a.procs), ctx.Event()
    procs = [ctx.Process(target=worker, args=(a, taps, full, k, q, go), daemon=True) for k in range(a.procs)]
    for p in procs:
        p.start()
    for _ in procs:
        assert q.get()[0] == "ready"
    yield None
    go.set()
    ended = 0
    while ended < a.procs:
        kind, item = q.get()
        if kind == "end":
            ended += 1
        else:
            yield item
    for p in procs:
        p.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest")
    src.add_argument("--files", nargs="+")
    ap.add_argument("--tap", default="block1_pool")
    ap.add_argument("--out", required=True)
    ap.add_argument("--keep", default="pooled", choices=["pooled", "maps", "maps,pooled"])
    ap.add_argument("--grids", default="1,2,4")
    ap.add_argument("--resize", default="antialias", choices=["antialias", "dct-antialias"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2, help="torch threads per process")
    ap.add_argument("--procs", type=int, default=1,
                    help="processes each running the model on every procs-th batch")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--format", default="channels_last", choices=["channels_last", "contiguous"])
    ap.add_argument("--executor", default="jit", choices=["eager", "jit", "ofi"])
    ap.add_argument("--loader-workers", type=int, default=0,
                    help="with --procs 1: DataLoader processes decoding ahead (0: decode in line)")
    a = ap.parse_args()

    taps = sorted(a.tap.split(","), key=LAYER_NAMES.index)
    grids = sorted(int(g) for g in a.grids.split(","))
    if a.manifest:
        root, rel, labels, splits = read_manifest(a.manifest)
        full = [os.path.join(root, p) for p in rel]
    else:
        rel = full = a.files
        labels, splits = [""] * len(rel), [""] * len(rel)
    classes = sorted({lab for lab in labels if lab})
    n = len(full)
    shapes = [vgg_shape(t, a.size) for t in taps]

    vlen = h5py.string_dtype("utf-8")
    tmp = a.out + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "torch-baseline"
        f.attrs["taps"] = ",".join(taps)
        f.attrs["preprocessing"] = "caffe"
        f.attrs["resize"] = a.resize
        f.create_dataset("classes", data=np.array(classes, dtype=object), dtype=vlen)
        img = f.create_group("images")
        img.create_dataset("path", data=np.array(rel, dtype=object), dtype=vlen)
        img.create_dataset("label", data=np.array([classes.index(x) if x else -1 for x in labels], np.int32))
        img.create_dataset("split", data=np.array(splits, dtype=object), dtype=vlen)
        status = np.zeros(n, np.uint8)
        errors = [""] * n
        width, height = np.zeros(n, np.int32), np.zeros(n, np.int32)
        for t, (h, w, c) in zip(taps, shapes):
            if "maps" in a.keep:
                f.create_dataset(f"features/{t}", (n, h, w, c), np.float32, chunks=(1, h, w, c))
            if "pooled" in a.keep:
                for g in grids:
                    for op in ("avg", "max"):
                        f.create_dataset(f"pooled/{t}/{op}{g}", (n, g * g * c), np.float32)

        it = batches(a, taps, full)
        next(it)
        t0 = time.perf_counter()  # setup (imports, trace, warm-up) is not counted
        for start, meta, res in it:
            for i, (w, h, err) in enumerate(meta):
                status[start + i] = 2 if err else 1
                width[start + i], height[start + i], errors[start + i] = w, h, err
            for name, v in res.items():
                f[name][start:start + len(meta)] = v
        img.create_dataset("status", data=status)
        img.create_dataset("error", data=np.array(errors, dtype=object), dtype=vlen)
        img.create_dataset("width", data=width)
        img.create_dataset("height", data=height)
    os.replace(tmp, a.out)
    dt = time.perf_counter() - t0
    print(f"{n} images in {dt:.2f} s after setup: {n / dt:.2f} images/s ({int((status == 2).sum())} failed)")
    print(f"run_seconds {dt:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
