#!/usr/bin/python3
"""vggtap-extract --precision bf16 through the real program, images/s:
against vggtap-extract --precision fp32 on the same photos, and against
PyTorch bf16's conv prefix alone at its best configuration (the search of
bench_prefix_bf16.py: contiguous/channels_last x eager/TorchScript freeze,
batch 1/8, 1 or 2 processes), which decodes and resizes nothing.

vggtap-extract runs whole, as a user runs it: start-up, weights loading
and bf16 packing, JPEG decoding, resizing, the prefix, the pooled vectors
(default grids) and the store written, over --images photos of
data/clothing-30 given with --files, 2 threads; its rate is photos / wall
time of the whole process. So the comparison with PyTorch is conservative
for vggtap. Layers: block1_pool, block2_pool with the real Keras weights,
block5_pool with seeded random full weights (speed does not depend on the
values). --repeats rounds, each running the three in turn; medians.

    flock /work/bench.lock python3 tests/bench/bench_extract_bf16.py [--repeats 3]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_prefix as bp  # noqa: E402
import bench_prefix_bf16 as bb  # noqa: E402
import torch_extract_baseline as tb  # noqa: E402

ROOT = bp.ROOT
BIN = os.environ.get("VGGTAP_BIN", os.path.join(ROOT, "bin"))
# photos per run: enough that start-up (reading, hashing and packing the
# weights: ~0.3 s of CPU at block5_pool) is a small part of it
IMAGES = {"block1_pool": 150, "block2_pool": 100, "block5_pool": 120}


def extract(weights, layer, photos, precision, out):
    """Wall seconds of one whole vggtap-extract run."""
    t = time.perf_counter()
    p = subprocess.run([os.path.join(BIN, "vggtap-extract"), "--files", *photos, "--weights", weights, "--tap", layer,
                        "--precision", precision, "--threads", "2", "--out", out, "--overwrite", "--quiet"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"vggtap-extract --precision {precision}: {p.stderr.strip()}")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", default="block1_pool,block2_pool,block5_pool")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0, help="PyTorch's timed run per round")
    ap.add_argument("--screen", type=float, default=1.5)
    ap.add_argument("--images", type=float, default=1.0, help="scale the photos per layer (%s)" % IMAGES)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="vggtap-bench-extract-bf16-")
    rand_weights, inp = bp.bench_inputs(tmp, bb.clothing_photos(1)[0])
    load = [os.getloadavg()[0]]
    workers = bp.TorchWorkers(2)
    rows = []
    for layer in a.layers.split(","):
        real = tb.LAYER_NAMES.index(layer) <= tb.LAYER_NAMES.index("block2_pool")
        weights = bb.REAL_WEIGHTS if real else rand_weights
        photos = bb.clothing_photos(max(2, round(IMAGES.get(layer, 40) * a.images)))
        base = dict(weights=weights, layer=layer, input=inp, size=224, dtype="bf16")
        (cfg, procs), _ = bb.screen(workers, base, a.screen)
        workers.setup(dict(cfg, seconds=a.seconds), procs)
        r = {"bf16": [], "fp32": [], "torch": []}
        for k in range(a.repeats):
            for prec in ("bf16", "fp32"):
                r[prec].append(len(photos) / extract(weights, layer, photos, prec, os.path.join(tmp, "s.h5")))
            r["torch"].append(workers.time())
            load.append(os.getloadavg()[0])
            bp.log(f"  {layer} round {k}: " + ", ".join(f"{n} {v[-1]:.1f}" for n, v in r.items()) + " images/s")
        rows.append((layer, len(photos), {n: statistics.median(v) for n, v in r.items()}, r,
                     bp.config_name(cfg, procs)))
    workers.close()
    shutil.rmtree(tmp)
    print(f"`python3 tests/bench/bench_extract_bf16.py {' '.join(sys.argv[1:])}`: vggtap-extract (whole runs, "
          f"--files, 2 threads) vs PyTorch bf16's conv prefix alone; medians of {a.repeats} rounds; "
          f"load average {min(load):.1f}-{max(load):.1f}\n")
    print("| tap | photos per run | vggtap-extract bf16 | vggtap-extract fp32 | PyTorch bf16 best, conv alone | "
          "bf16 / PyTorch (target) | bf16 / fp32 (target) | PyTorch config |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for layer, n, m, _, cfg in rows:
        tt, tf = bb.TARGET_TORCH.get(layer), bb.TARGET_FP32.get(layer)
        print(f"| {layer} | {n} | {m['bf16']:.1f} | {m['fp32']:.1f} | {m['torch']:.1f} | "
              f"{m['bf16'] / m['torch']:.2f}x ({'>= %.1fx' % tt if tt else '-'}) | "
              f"{m['bf16'] / m['fp32']:.2f}x ({'>= %.1fx' % tf if tf else '-'}) | {cfg} |")
    print("\nEvery round (images/s): " + "; ".join(
        f"{layer}: " + ", ".join(f"{k} " + " ".join("%.1f" % x for x in v) for k, v in r.items())
        for layer, _, _, r, _ in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
