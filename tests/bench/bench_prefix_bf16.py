#!/usr/bin/python3
"""The VGG16 conv prefix alone in bf16, images/s: vggtap's bf16 forward pass
(vt_vgg_forward_bf16 through bench_prefix_c -p bf16, on the AMX path and on
the AVX512_BF16 path, VGGTAP_ISA=avx512bf16) against vggtap fp32
(bench_prefix_c) and PyTorch bf16 at its best configuration, on the same
preprocessed photo; then the bf16 pass's accuracy against the naive fp32
pass at every tap on real photos (tap_accuracy -p bf16).

Layers as bench_prefix.py: block1_pool, block2_pool with the real Keras
weights (data/weights/vgg16_keras_prefix.h5), block3_pool, block5_pool with
seeded random full weights; the input and the accuracy photos come from
data/clothing-30.

PyTorch bf16 = the model and input converted with .to(torch.bfloat16) (oneDNN
then runs its AMX/AVX512_BF16 kernels; torch.autocast does not trace in 1.13).
Its best configuration is searched per layer, each timed for --screen
seconds: batch 1 in one process with 2 threads, memory format (contiguous,
channels_last) x executor (eager under inference_mode, TorchScript trace +
freeze); the winner at batch 8; the best of those as 2 processes x 1 thread.

Then --repeats rounds, each running in turn vggtap bf16 (AMX), vggtap bf16
(AVX512_BF16), vggtap fp32 and PyTorch, ~--seconds each; the tables give
medians of wall-clock images/s and of CPU time per image (vggtap: its
threads' CPU time; PyTorch: its processes' CPU time, which includes its
OpenMP threads' spinning), and the ratios of the medians.

Then, per layer, one thread at a time, the CPU time per image, which a
shared machine's load distorts least: vggtap (bench_prefix_c -t 1, each
path) and PyTorch bf16 with torch.set_num_threads(1), time.thread_time(),
median of 7 calls (3 at batch 8) after 3 warm-ups, the best of
channels_last/contiguous x eager/TorchScript freeze x batch 1/8.

  bench_prefix_bf16.py [--layers ...] [--repeats 5] [--seconds 2] [--screen 1.5]
                       [--accuracy-images 4] [--md OUT.md]

Needs `make` (build/tools/bench_prefix_c, tap_accuracy) and a CPU with
AVX512_BF16 (AMX rows are skipped on CPUs without it).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_prefix as bp  # noqa: E402  (tools, PyTorch workers, input photo)
import torch_extract_baseline as tb  # noqa: E402

ROOT = bp.ROOT
CLOTHING = os.path.join(ROOT, "data", "clothing-30")
REAL_WEIGHTS = os.path.join(ROOT, "data", "weights", "vgg16_keras_prefix.h5")
TARGET_TORCH = {"block1_pool": 1.3, "block2_pool": 1.3, "block5_pool": 1.3}
TARGET_FP32 = {"block2_pool": 1.6, "block5_pool": 1.6}
log = bp.log


def vggtap(weights, layer, inp, n, precision, isa=None, warmup=1, threads=2, repeats=1):
    """A run of bench_prefix_c: (images/s, CPU ms per image, checksum),
    medians over repeats."""
    env = dict(os.environ)
    env.pop("VGGTAP_ISA", None)
    if isa:
        env["VGGTAP_ISA"] = isa
    out = subprocess.run([bp.tool("bench_prefix_c"), weights, layer, "-i", inp, "-t", str(threads), "-n", str(n),
                          "-r", str(repeats), "-w", str(warmup), "-p", precision], capture_output=True, text=True,
                         env=env)
    if out.returncode != 0:
        sys.exit("bench_prefix_c failed: " + out.stderr)
    f = out.stdout.split("\n")[-2].split()
    return float(f[1]), float(f[f.index("cpu_ms") + 1]), float(f[-1])


def screen(workers, base, seconds):
    """PyTorch bf16's fastest configuration: ((cfg, procs), [(name, images/s)])."""
    results, best = [], None

    def trial(c, procs):
        cfg = dict(base, **c, seconds=seconds)
        workers.setup(cfg, procs)
        rate = workers.time()
        results.append((bp.config_name(cfg, procs), rate))
        log(f"    torch bf16 {bp.config_name(cfg, procs)}: {rate:.2f} images/s")
        return rate

    for fmt in ("contiguous", "channels_last"):
        for ex in ("eager", "jit"):
            c = dict(format=fmt, executor=ex, batch=1, threads=2)
            r = trial(c, 1)
            if best is None or r > best[0]:
                best = (r, c, 1)
    c = dict(best[1], batch=8)
    r = trial(c, 1)
    if r > best[0]:
        best = (r, c, 1)
    c = dict(best[1], threads=1)
    r = trial(c, 2)
    if r > best[0]:
        best = (r, c, 2)
    return (dict(base, **best[1]), best[2]), results


def bench_layer(workers, layer, weights, inp, paths, a):
    log(f"  {layer}: calibrating")
    checksum = vggtap(weights, layer, inp, 1, "bf16")[2]
    n = {name: max(1, round(a.seconds * vggtap(weights, layer, inp, 1, "bf16", isa)[0] / 2))
         for name, isa in paths.items()}
    n32 = max(1, round(a.seconds * vggtap(weights, layer, inp, 1, "fp32")[0] / 2))
    base = dict(weights=weights, layer=layer, input=inp, size=224, dtype="bf16")
    (cfg, procs), screened = screen(workers, base, a.screen)
    torch_sum = workers.setup(dict(cfg, seconds=a.seconds), procs)
    runs = {k: [] for k in list(paths) + ["fp32", "torch"]}
    for r in range(a.repeats):
        for name, isa in paths.items():
            runs[name].append(vggtap(weights, layer, inp, n[name], "bf16", isa)[:2])
        runs["fp32"].append(vggtap(weights, layer, inp, n32, "fp32")[:2])
        rate = workers.time()
        runs["torch"].append((rate, workers.cpu_ms))
        log(f"  {layer} round {r}: " + ", ".join(f"{k} {v[-1][0]:.1f}" for k, v in runs.items()) + " images/s")
    return dict(layer=layer, runs=runs, best=bp.config_name(cfg, procs), screened=screened,
                sum_rel=abs(torch_sum - checksum) / max(abs(checksum), 1e-30))


def torch_cpu_ms(weights, layer, inp):
    """PyTorch bf16 on one thread: (best CPU ms per image, its config)."""
    import torch
    torch.set_num_threads(1)
    x1 = np.fromfile(inp, dtype=np.float32).reshape(224, 224, 3)
    best = None
    for fmt in ("channels_last", "contiguous"):
        for ex in ("eager", "jit"):
            for batch in (1, 8):
                x = torch.from_numpy(np.ascontiguousarray(x1.transpose(2, 0, 1)))[None].repeat(batch, 1, 1, 1)
                model = tb.Prefix(weights, [layer]).to(torch.bfloat16)
                fn, x = tb.prepare(model, fmt, ex, x.to(torch.bfloat16))
                with torch.inference_mode():
                    for _ in range(3):
                        fn(x)
                    ts = []
                    for _ in range(7 if batch == 1 else 3):
                        t = time.thread_time()
                        fn(x)
                        ts.append((time.thread_time() - t) / batch)
                ms = 1e3 * statistics.median(ts)
                log(f"    torch bf16 1 thread {fmt}, {ex}, batch {batch}: {ms:.2f} ms per image")
                if best is None or ms < best[0]:
                    best = (ms, f"{fmt}, {'jit.freeze' if ex == 'jit' else ex}, batch {batch}")
    return best


def cpu_rows(layers, weights_of, inp, paths):
    """One thread at a time: per layer the CPU ms per image of every column."""
    rows = []
    for layer in layers:
        log(f"  {layer}: one thread at a time")
        w = weights_of(layer)
        r = {name: vggtap(w, layer, inp, 5, "bf16", isa, threads=1, repeats=5)[1] for name, isa in paths.items()}
        r["fp32"] = vggtap(w, layer, inp, 5, "fp32", threads=1, repeats=5)[1]
        r["torch"], r["torch_cfg"] = torch_cpu_ms(w, layer, inp)
        rows.append((layer, r))
    return rows


def clothing_photos(k):
    """k photos of data/clothing-30, spread over its classes."""
    with open(os.path.join(CLOTHING, "manifest.csv")) as f:
        rows = [line.split(",")[0] for line in f.read().splitlines()[1:]]
    step = max(1, len(rows) // k)
    return [os.path.join(CLOTHING, p) for p in rows[::step][:k]]


def accuracy(rand_weights, k):
    imgs = clothing_photos(k)
    tables = {}
    for label, weights, last in (("real", REAL_WEIGHTS, "block2_pool"), ("random", rand_weights, "block5_pool")):
        log(f"  accuracy: {label} weights to {last} on {len(imgs)} photos (the naive pass is slow)")
        out = subprocess.run([bp.tool("tap_accuracy"), weights, last, "-p", "bf16"] + imgs, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit("tap_accuracy failed: " + out.stderr)
        tables[label] = {ln.split()[0]: float(ln.split()[1]) for ln in out.stdout.splitlines()}
    return imgs, tables


def med(v, i):
    return statistics.median(x[i] for x in v)


def markdown(results, cpu, acc, paths, a):
    md = ["### Conv prefix in bf16: vggtap vs vggtap fp32 vs PyTorch bf16 (images/s, higher is better)\n",
          f"224x224 input, 2 threads; medians of {a.repeats} rounds of ~{a.seconds:g} s, each round running "
          "every column in turn; CPU ms = CPU time per image (all threads).\n"]
    cols = list(paths) + ["fp32", "torch"]
    names = {"amx": "vggtap bf16 AMX", "avx512bf16": "vggtap bf16 AVX512_BF16", "fp32": "vggtap fp32",
             "torch": "PyTorch bf16 best"}
    md.append("| tap | " + " | ".join(names[c] for c in cols) + " | best bf16 / PyTorch (target) | best bf16 / fp32 (target) | PyTorch config |")
    md.append("|---|" + "---:|" * (len(cols) + 2) + "---|")
    for r in results:
        runs = r["runs"]
        best = max(paths, key=lambda p: med(runs[p], 0))
        b, t, f = med(runs[best], 0), med(runs["torch"], 0), med(runs["fp32"], 0)
        tt, tf = TARGET_TORCH.get(r["layer"]), TARGET_FP32.get(r["layer"])
        md.append(f"| {r['layer']} | " + " | ".join(f"{med(runs[c], 0):.1f}" for c in cols) +
                  f" | {b / t:.2f}x ({'>= %.1fx' % tt if tt else '-'}) | {b / f:.2f}x ({'>= %.1fx' % tf if tf else '-'}) | {r['best']} |")
    md.append("\nCPU ms per image (medians of the same rounds):\n")
    md.append("| tap | " + " | ".join(names[c] for c in cols) + " |")
    md.append("|---|" + "---:|" * len(cols))
    for r in results:
        md.append(f"| {r['layer']} | " + " | ".join(f"{med(r['runs'][c], 1):.2f}" for c in cols) + " |")
    md.append("\nEvery round (images/s):\n")
    for r in results:
        md.append(f"- {r['layer']}: " + "; ".join(f"{names[c]} " + " ".join("%.1f" % x[0] for x in r["runs"][c])
                                                   for c in cols) + f" (output sums differ by {r['sum_rel']:.1e})")
    if cpu:
        cols1 = list(paths) + ["fp32"]
        md.append("\n### One thread at a time: CPU ms per image\n")
        md.append("vggtap: bench_prefix_c -t 1 -n 5 -r 5 (median); PyTorch bf16: the best of its one-thread "
                  "configurations (thread_time, median of 7 calls at batch 1, 3 at batch 8).\n")
        md.append("| tap | " + " | ".join(names[c] for c in cols1) + " | PyTorch bf16 best | PyTorch / "
                  + names[cols1[0]] + " | fp32 / " + names[cols1[0]] + " |")
        md.append("|---|" + "---:|" * (len(cols1) + 3))
        for layer, r in cpu:
            b = r[cols1[0]]
            md.append(f"| {layer} | " + " | ".join(f"{r[c]:.2f}" for c in cols1) +
                      f" | {r['torch']:.2f} ({r['torch_cfg']}) | {r['torch'] / b:.2f}x | {r['fp32'] / b:.2f}x |")
    md.append("\n### PyTorch bf16 configurations tried (images/s, one run each)\n")
    md += bp.screened_table(results)
    if acc:
        imgs, tables = acc
        md.append("\n### Accuracy: bf16 pass vs naive fp32 pass, per tap\n")
        md.append(f"max over {len(imgs)} photos of data/clothing-30 (224x224, antialias, caffe) of "
                  "max |bf16 - naive fp32| / max |naive fp32|; the bf16 pass run keeping only that layer "
                  "and keeping all, the worse counts.\n")
        md.append("| layer | real weights | random weights (seed %d) |" % bp.RANDOM_SEED)
        md.append("|---|---:|---:|")
        for name in tb.LAYER_NAMES:
            re, ra = tables["real"].get(name), tables["random"].get(name)
            md.append(f"| {name} | {'%.2e' % re if re is not None else '-'} | {'%.2e' % ra if ra is not None else '-'} |")
        md.append("\nPhotos: " + ", ".join(os.path.relpath(p, CLOTHING) for p in imgs))
    return "\n".join(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", default="block1_pool,block2_pool,block3_pool,block5_pool")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--screen", type=float, default=1.5)
    ap.add_argument("--accuracy-images", type=int, default=4, help="0 skips the accuracy table")
    ap.add_argument("--no-cpu-time", dest="cpu_time", action="store_false", help="skip the one-thread CPU-time table")
    ap.add_argument("--md", help="also write the tables here")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="vggtap-bench-bf16-")
    bp.snapshot_tools(tmp)
    probe = subprocess.run([bp.tool("bench_prefix_c"), REAL_WEIGHTS, "block1_pool", "-n", "1", "-r", "1",
                            "-p", "bf16", "-t", "1"], capture_output=True, text=True)
    if probe.returncode != 0:
        sys.exit("bench_prefix_bf16: " + probe.stderr.strip())
    flags = open("/proc/cpuinfo").read()
    paths = {"amx": None, "avx512bf16": "avx512bf16"} if " amx_bf16 " in flags else {"avx512bf16": None}
    photo = clothing_photos(1)[0]
    rand_weights, inp = bp.bench_inputs(tmp, photo)
    log(f"input: {photo}; load average {os.getloadavg()[0]:.2f}")

    workers = bp.TorchWorkers(2)
    results = []
    for layer in a.layers.split(","):
        real = tb.LAYER_NAMES.index(layer) <= tb.LAYER_NAMES.index("block2_pool")
        results.append(bench_layer(workers, layer, REAL_WEIGHTS if real else rand_weights, inp, paths, a))
    workers.close()
    layers = a.layers.split(",")
    cpu = cpu_rows(layers, lambda l: REAL_WEIGHTS if tb.LAYER_NAMES.index(l) <= tb.LAYER_NAMES.index("block2_pool")
                   else rand_weights, inp, paths) if a.cpu_time else None
    acc = accuracy(rand_weights, a.accuracy_images) if a.accuracy_images > 0 else None
    md = markdown(results, cpu, acc, paths, a)
    md += f"\n\nLoad average at the end: {' '.join('%.2f' % v for v in os.getloadavg())}\n"
    print(md)
    if a.md:
        with open(a.md, "w") as f:
            f.write(md)
    shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
