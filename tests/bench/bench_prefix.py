#!/usr/bin/python3
"""The VGG16 conv prefix alone, images/s: vggtap (vt_vgg_forward through
bench_prefix_c, one image per thread on 2 threads, as vggtap-extract runs it)
against PyTorch at its fastest fp32 configuration, on the same preprocessed
input; and the accuracy of the fast forward pass against the naive one at
every tap (tap_accuracy), on real photos.

Layers: block1_pool and block2_pool with the real Keras weights
($VGGTAP_SHARED/weights/vgg16_keras_prefix.h5); block3_pool and block5_pool
with seeded random full weights (tests/tools/make_keras_weights.py, He-normal,
so activations keep their scale).

PyTorch's best configuration is searched per layer, in two stages, each
config timed for --screen seconds after its warm-up:
  1. batch 1, one process with torch.set_num_threads(2): memory format
     (contiguous, channels_last) x executor (eager under inference_mode;
     TorchScript trace + freeze; trace + optimize_for_inference);
  2. the stage-1 winner at batch 8 and 32, then the best of those as two
     processes with one thread each (vggtap's own way of using 2 cores).
The winner is then timed against vggtap in --repeats interleaved rounds
(vggtap, PyTorch, vggtap, ...); reported rates are the medians, the ratio is
median(vggtap) / median(PyTorch).

  bench_prefix.py [--layers block1_pool,...] [--repeats 5] [--seconds 2]
                  [--screen 1.5] [--threads 2] [--accuracy-images 4] [--md OUT.md]
                  [--isa avx2|avx512|portable]

--isa runs both sides on one instruction set: vggtap's kernels capped by
VGGTAP_ISA, PyTorch's oneDNN by ONEDNN_MAX_CPU_ISA (avx2 -> AVX2, avx512 ->
AVX512_CORE, portable -> SSE41), so that a CPU without AVX-512 can be
compared on a machine with it.

Prints Markdown tables on stdout (progress on stderr). Needs `make` first
(bin/ and $BUILD/tools/bench_prefix_c, tap_accuracy; BUILD defaults to build).
"""
import argparse
import json
import multiprocessing as mp
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
import torch_extract_baseline as tb  # noqa: E402  (the PyTorch prefix, shared with the e2e baseline)

ROOT = os.environ.get("VGGTAP_ROOT", os.path.dirname(os.path.dirname(HERE)))
SHARED = os.environ.get("VGGTAP_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", os.environ.get("TEST_BUILD", "build")))
REAL_WEIGHTS = os.path.join(SHARED, "weights", "vgg16_keras_prefix.h5")
DATA = os.path.join(SHARED, "data")
RANDOM_SEED = 7
TARGETS = {"block1_pool": 2.0, "block2_pool": 1.6, "block5_pool": 1.3}
ONEDNN_ISA = {"avx2": "AVX2", "avx512": "AVX512_CORE", "portable": "SSE41"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


TOOLS = {}  # name -> private copy (someone's `make` may relink $BUILD/tools mid-run)


def tool(name):
    return TOOLS[name]


def snapshot_tools(tmp):
    for name in ("bench_prefix_c", "tap_accuracy"):
        p = os.path.join(BUILD, "tools", name)
        if not os.access(p, os.X_OK):
            sys.exit(f"bench_prefix: {p} is missing: run `make` (or make BUILD=... {p})")
        TOOLS[name] = os.path.join(tmp, name)
        shutil.copy2(p, TOOLS[name])


def photos(k):
    """k real photos, a fixed choice: every n-th row of two shared data sets."""
    out = []
    for ds in ("clothing-dataset-small", "clothing-attributes-neckline"):
        with open(os.path.join(DATA, ds, "manifest.csv")) as f:
            rows = [line.split(",")[0] for line in f.read().splitlines()[1:]]
        step = max(1, len(rows) // k)
        out += [os.path.join(DATA, ds, p) for p in rows[::step][:(k + 1) // 2]]
    return out[:k]


# ---------------------------------------------------------------------------
# PyTorch side: worker processes, started once (importing torch takes seconds),
# each set up with one configuration at a time and timed by the parent.

def torch_worker(conn):
    import torch
    fn = x = None
    calls = 0
    while True:
        msg, cfg = conn.recv()
        if msg == "quit":
            return
        if msg == "run":
            with torch.inference_mode():
                for _ in range(calls):
                    fn(x)
            conn.send("done")
            continue
        fn = x = None  # "setup": drop the previous model first
        torch.set_num_threads(cfg["threads"])
        x1 = np.fromfile(cfg["input"], dtype=np.float32).reshape(cfg["size"], cfg["size"], 3)
        x = torch.from_numpy(np.ascontiguousarray(x1.transpose(2, 0, 1)))[None].repeat(cfg["batch"], 1, 1, 1)
        fn, x = tb.prepare(tb.Prefix(cfg["weights"], [cfg["layer"]]), cfg["format"], cfg["executor"], x)
        with torch.inference_mode():
            for _ in range(tb.warmup_calls(cfg["executor"])):
                t0 = time.perf_counter()
                out = fn(x)[0]
                t_call = time.perf_counter() - t0
        calls = max(1, round(cfg["seconds"] / t_call))
        conn.send((calls * cfg["batch"], float(out[0].double().sum())))


class TorchWorkers:
    def __init__(self, n):
        ctx = mp.get_context("spawn")
        self.conns, self.procs = [], []
        for _ in range(n):
            a, b = ctx.Pipe()
            p = ctx.Process(target=torch_worker, args=(b,), daemon=True)
            p.start()
            self.conns.append(a)
            self.procs.append(p)

    def setup(self, cfg, procs):
        """Builds and warms up cfg in `procs` workers; returns the output sum
        of the first."""
        self.active = self.conns[:procs]
        self.images, checksum = 0, None
        for c in self.active:  # concurrently: a 2-process config warms up as it will run
            c.send(("setup", cfg))
        for c in self.active:
            n, s = c.recv()
            self.images += n
            checksum = s if checksum is None else checksum
        return checksum

    def time(self):
        """One timed round: images/s over the active workers."""
        t0 = time.perf_counter()
        for c in self.active:
            c.send(("run", None))
        for c in self.active:
            c.recv()
        return self.images / (time.perf_counter() - t0)

    def close(self):
        for c in self.conns:
            c.send(("quit", None))
        for p in self.procs:
            p.join()


def config_name(c, procs):
    ex = {"eager": "eager", "jit": "jit.freeze", "ofi": "jit.optimize_for_inference"}[c["executor"]]
    par = f"{procs}x{c['threads']}t" if procs > 1 else f"{c['threads']}t"
    return f"{c['format']}, {ex}, batch {c['batch']}, {par}"


def screen(workers, base, threads, seconds):
    """Two-stage search for PyTorch's fastest configuration; returns
    ((cfg, procs) of the best, [(config name, images/s)])."""
    results = []

    def trial(cfg, procs):
        cfg = dict(base, **cfg, seconds=seconds)
        workers.setup(cfg, procs)
        rate = workers.time()
        results.append((config_name(cfg, procs), rate))
        log(f"    torch {config_name(cfg, procs)}: {rate:.2f} images/s")
        return rate

    best = None
    for fmt in ("contiguous", "channels_last"):
        for ex in ("eager", "jit", "ofi"):
            c = dict(format=fmt, executor=ex, batch=1, threads=threads)
            rate = trial(c, 1)
            if best is None or rate > best[0]:
                best = (rate, c, 1)
    for b in (8, 32):
        c = dict(best[1], batch=b)
        rate = trial(c, 1)
        if rate > best[0]:
            best = (rate, c, 1)
    if threads > 1:
        c = dict(best[1], threads=1)
        rate = trial(c, threads)
        if rate > best[0]:
            best = (rate, c, threads)
    return (dict(base, **best[1]), best[2]), results


# ---------------------------------------------------------------------------
# vggtap side.

def vggtap_rate(weights, layer, inp, threads, n, warmup=1):
    out = subprocess.run([tool("bench_prefix_c"), weights, layer, "-i", inp, "-t", str(threads),
                          "-n", str(n), "-r", "1", "-w", str(warmup)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("bench_prefix_c failed: " + out.stderr)
    last = out.stdout.split("\n")[-2].split()
    return float(last[1]), float(last[-1])


def bench_layer(workers, layer, weights, inp, a):
    log(f"  {layer}: calibrating vggtap")
    rate, checksum = vggtap_rate(weights, layer, inp, a.threads, 1)
    n = max(1, round(a.seconds * rate / a.threads))
    base = dict(weights=weights, layer=layer, input=inp, size=224)
    log(f"  {layer}: screening PyTorch configurations")
    (cfg, procs), screened = screen(workers, base, a.threads, a.screen)
    cfg = dict(cfg, seconds=a.seconds)
    torch_sum = workers.setup(cfg, procs)
    rel = abs(torch_sum - checksum) / max(abs(checksum), 1e-30)
    if rel > 1e-3:
        log(f"  WARNING {layer}: output sums differ: vggtap {checksum:.6e} torch {torch_sum:.6e}")
    vt, pt = [], []
    for r in range(a.repeats):
        vt.append(vggtap_rate(weights, layer, inp, a.threads, n)[0])
        pt.append(workers.time())
        log(f"  {layer} round {r}: vggtap {vt[-1]:.2f}, torch {pt[-1]:.2f} images/s")
    best = dict(format=cfg["format"], executor=cfg["executor"], batch=cfg["batch"], threads=cfg["threads"],
                procs=procs)
    return dict(layer=layer, vt=vt, pt=pt, best=config_name(cfg, procs), best_cfg=best, screened=screened,
                n=n, sum_rel=rel)


def accuracy(rand_weights, k):
    imgs = photos(k)
    tables = {}
    for label, weights, last in (("real", REAL_WEIGHTS, "block2_pool"), ("random", rand_weights, "block5_pool")):
        log(f"  accuracy: {label} weights to {last} on {len(imgs)} photos (naive pass is slow)")
        out = subprocess.run([tool("tap_accuracy"), weights, last] + imgs, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit("tap_accuracy failed: " + out.stderr)
        tables[label] = {ln.split()[0]: (float(ln.split()[1]), float(ln.split()[2]))
                         for ln in out.stdout.splitlines()}
    return imgs, tables


def markdown(results, acc, a):
    md = []
    md.append("### Conv prefix alone: vggtap vs PyTorch (images/s, higher is better)\n")
    md.append(f"224x224 input, {a.threads} cores; medians of {a.repeats} interleaved rounds of "
              f"~{a.seconds:g} s each, warm-up excluded"
              + (f"; VGGTAP_ISA={a.isa}, ONEDNN_MAX_CPU_ISA={ONEDNN_ISA[a.isa]}" if a.isa else "") + ".\n")
    md.append("| tap | weights | vggtap | PyTorch best | ratio | target | PyTorch best config | rounds vggtap / PyTorch |")
    md.append("|---|---|---:|---:|---:|---:|---|---|")
    for r in results:
        mv, mp_ = statistics.median(r["vt"]), statistics.median(r["pt"])
        t = TARGETS.get(r["layer"])
        md.append(f"| {r['layer']} | {r['weights']} | {mv:.2f} | {mp_:.2f} | {mv / mp_:.2f}x | "
                  f"{'>= %.1fx' % t if t else '-'} | {r['best']} | "
                  f"{' '.join('%.1f' % v for v in r['vt'])} / {' '.join('%.1f' % v for v in r['pt'])} |")
    md.append("")
    md.append("### PyTorch configurations tried (images/s, one timed run each)\n")
    md.append("| config | " + " | ".join(r["layer"] for r in results) + " |")
    md.append("|---|" + "---:|" * len(results))
    names = []
    for r in results:
        names += [n for n, _ in r["screened"] if n not in names]
    for n in names:
        cells = []
        for r in results:
            d = dict(r["screened"])
            cells.append(f"{d[n]:.2f}" if n in d else "-")
        md.append(f"| {n} | " + " | ".join(cells) + " |")
    md.append("")
    if acc:
        imgs, tables = acc
        md.append("### Accuracy: fast vs naive forward pass, per tap\n")
        md.append(f"max over {len(imgs)} real photos (224x224, antialias, caffe) of max |fast - naive| / "
                  "max |naive|; naive: direct loops accumulating in double through every layer; fast: "
                  "vt_vgg_forward keeping only that layer's output (as vggtap-extract) and keeping all, "
                  "the worse of the two. Bound 1e-3.\n")
        md.append("| layer | real weights | random weights (seed %d) |" % RANDOM_SEED)
        md.append("|---|---:|---:|")
        for name in tb.LAYER_NAMES:
            re = tables["real"].get(name)
            ra = tables["random"].get(name)
            md.append(f"| {name} | {'%.2e' % re[0] if re else '-'} | {'%.2e' % ra[0] if ra else '-'} |")
        md.append("")
        md.append("Photos: " + ", ".join(os.path.relpath(p, DATA) for p in imgs) + "\n")
    return "\n".join(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", default="block1_pool,block2_pool,block3_pool,block5_pool")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0, help="length of one timed round")
    ap.add_argument("--screen", type=float, default=1.5, help="length of one screening run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--accuracy-images", type=int, default=4, help="0 skips the accuracy table")
    ap.add_argument("--md", help="also write the tables here")
    ap.add_argument("--json", help="write PyTorch's best configuration per tap here (for bench_extract.py)")
    ap.add_argument("--isa", choices=sorted(ONEDNN_ISA), help="cap both sides at this instruction set")
    a = ap.parse_args()
    if a.isa:  # inherited by bench_prefix_c, tap_accuracy and the PyTorch workers
        os.environ["VGGTAP_ISA"] = a.isa
        os.environ["ONEDNN_MAX_CPU_ISA"] = ONEDNN_ISA[a.isa]

    tmp = tempfile.mkdtemp(prefix="vggtap-bench-")
    snapshot_tools(tmp)
    rand_weights = os.path.join(tmp, f"vgg16_random_seed{RANDOM_SEED}.h5")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "tools", "make_keras_weights.py"),
                    rand_weights, "--layers", "13", "--seed", str(RANDOM_SEED)], check=True)
    photo = photos(1)[0]
    x, _, _, err = tb.load_image(photo, 224)
    if x is None:
        sys.exit(f"{photo}: {err}")
    inp = os.path.join(tmp, "input.f32")
    np.ascontiguousarray(x, dtype=np.float32).tofile(inp)
    log(f"input: {os.path.relpath(photo, DATA)} (PIL bilinear to 224, caffe)")

    results = []
    workers = TorchWorkers(a.threads)
    for layer in a.layers.split(","):
        real = tb.LAYER_NAMES.index(layer) <= tb.LAYER_NAMES.index("block2_pool")
        r = bench_layer(workers, layer, REAL_WEIGHTS if real else rand_weights, inp, a)
        r["weights"] = "real" if real else f"random (seed {RANDOM_SEED})"
        results.append(r)
    workers.close()
    acc = accuracy(rand_weights, a.accuracy_images) if a.accuracy_images > 0 else None
    md = markdown(results, acc, a)
    print(md)
    if a.md:
        with open(a.md, "w") as f:
            f.write(md + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({r["layer"]: r["best_cfg"] for r in results}, f, indent=1)
    shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
