#!/usr/bin/python3
"""The conv prefix per kernel path: vggtap's CPU time per image on each path
(VGGTAP_ISA=avx512, avx2, portable) against PyTorch's with oneDNN capped at
the same instruction set (ONEDNN_MAX_CPU_ISA=AVX512_CORE, AVX2, SSE41), one
thread each, on the same input, in alternating rounds.

Thread CPU time, not wall clock, so that a machine shared with other work
still gives fair figures (time other processes take from us does not count;
their cache and memory traffic still does). Both tools run one image per
core on 2 cores (vggtap-extract's workers; PyTorch's fastest 2-core setting
is mostly 2 processes x 1 thread, bench_prefix.py), so the ratio of CPU
times per image is the ratio of throughputs.

vggtap: tests/bench/bench_conv -p WEIGHTS (vt_vgg_forward keeping only the
tap, as vggtap-extract; median of --reps forwards). PyTorch: the prefix of
torch_extract_baseline.py, torch.set_num_threads(1), batch 1, its fastest
of {contiguous, channels_last} x {TorchScript trace+freeze,
optimize_for_inference} by CPU time (searched once per path and tap; batch
8 was never faster per image in CPU time), then timed in every round
(median of --reps calls). Block1/2 use the
real Keras weights, deeper taps seeded random ones (the time does not
depend on the values). --before DIR adds the bench_conv of another build
(e.g. the commit before a change) on the avx512 path, in the same rounds.

  bench_isa.py [--paths avx512,avx2,portable] [--layers block1_pool,block2_pool,block5_pool]
               [--rounds 5] [--reps 5] [--before BUILD_DIR] [--md OUT.md]

Prints a Markdown table (progress on stderr). Needs `make` first.
"""
import argparse
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
import torch_extract_baseline as tb  # noqa: E402

ROOT = os.environ.get("VGGTAP_ROOT", os.path.dirname(os.path.dirname(HERE)))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
WEIGHTS = os.environ.get("VGGTAP_WEIGHTS", os.path.join(ROOT, "data", "weights", "vgg16_keras_prefix.h5"))
ONEDNN_ISA = {"avx512": "AVX512_CORE", "avx2": "AVX2", "portable": "SSE41"}
SIZE = 224


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def bench_input():
    """bench_conv's input: NHWC floats (i * 7919 % 241) - 120, as NCHW."""
    i = np.arange(SIZE * SIZE * 3, dtype=np.int64)
    x = ((i * 7919 % 241) - 120).astype(np.float32).reshape(SIZE, SIZE, 3)
    return np.ascontiguousarray(x.transpose(2, 0, 1))[None]


# ---------------------------------------------------------------------------
# PyTorch: one worker process per path (oneDNN reads ONEDNN_MAX_CPU_ISA once).

def torch_worker(conn, weights_for):
    import torch
    torch.set_num_threads(1)
    x1 = torch.from_numpy(bench_input())
    models = {}
    while True:
        msg, layer, reps = conn.recv()
        if msg == "quit":
            return
        if layer not in models:  # search this tap's fastest configuration
            best = None
            for fmt in ("contiguous", "channels_last"):
                for ex in ("jit", "ofi"):
                    fn, x = tb.prepare(tb.Prefix(weights_for[layer], [layer]), fmt, ex, x1)
                    ms = time_calls(torch, fn, x, 1)
                    if best is None or ms < best[0]:
                        best = (ms, fn, x, f"{fmt}, {ex}")
            models[layer] = best[1:]
        fn, x, name = models[layer]
        conn.send((time_calls(torch, fn, x, reps), name))


def time_calls(torch, fn, x, reps):
    """Median thread CPU ms of one call, after TorchScript's warm-up calls."""
    with torch.inference_mode():
        for _ in range(2):
            fn(x)
        ts = []
        for _ in range(reps):
            t = time.thread_time()
            fn(x)
            ts.append(time.thread_time() - t)
    return 1e3 * statistics.median(ts)


def start_worker(path, weights_for):
    os.environ["ONEDNN_MAX_CPU_ISA"] = ONEDNN_ISA[path]
    a, b = mp.get_context("spawn").Pipe()
    p = mp.get_context("spawn").Process(target=torch_worker, args=(b, weights_for), daemon=True)
    p.start()
    del os.environ["ONEDNN_MAX_CPU_ISA"]
    return a, p


# ---------------------------------------------------------------------------
# vggtap: bench_conv -p prints "up to / keep all / keep tap" ms per pool.

def vggtap_ms(bench_conv, weights, path, reps):
    env = dict(os.environ)
    if path:
        env["VGGTAP_ISA"] = path
    out = subprocess.run([bench_conv, "-p", weights, "-r", str(reps)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{bench_conv} failed: {out.stderr}")
    ms = {}
    for line in out.stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[0].endswith("_pool"):
            ms[f[0]] = float(f[2])
    return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paths", default="avx512,avx2,portable")
    ap.add_argument("--layers", default="block1_pool,block2_pool,block5_pool")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--before", help="build directory of another build: its bench_conv on the avx512 path too")
    ap.add_argument("--md", help="also write the table here")
    a = ap.parse_args()
    paths, layers = a.paths.split(","), a.layers.split(",")
    for p in paths:
        if p not in ONEDNN_ISA:
            sys.exit(f"bench_isa: unknown path '{p}' (one of {', '.join(ONEDNN_ISA)})")

    tmp = tempfile.mkdtemp(prefix="vggtap-bench-isa-")
    rand = os.path.join(tmp, "vgg16_random_seed7.h5")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "tools", "make_keras_weights.py"), rand,
                    "--layers", "13", "--seed", "7"], check=True, stdout=subprocess.DEVNULL)
    deep = [l for l in layers if tb.LAYER_NAMES.index(l) > tb.LAYER_NAMES.index("block2_pool")]
    weights_for = {l: rand if l in deep else WEIGHTS for l in layers}
    # private copies: someone's `make` may relink $BUILD/tools mid-run
    bench_conv = os.path.join(tmp, "bench_conv")
    shutil.copy2(os.path.join(BUILD, "tools", "bench_conv"), bench_conv)
    before = None
    if a.before:
        before = os.path.join(tmp, "bench_conv_before")
        shutil.copy2(os.path.join(a.before, "tools", "bench_conv"), before)

    workers = {p: start_worker(p, weights_for) for p in paths}
    vt = {(p, l): [] for p in paths for l in layers}
    vt_before = {l: [] for l in layers}
    pt = {(p, l): [] for p in paths for l in layers}
    config = {}
    for r in range(a.rounds):
        for p in paths:
            runs = [("now", p)] + ([("before", None)] if before and p == "avx512" else [])
            if r % 2:
                runs.reverse()  # alternate which build goes first
            for which, isa in runs:
                for w in sorted(set(weights_for[l] for l in layers)):
                    ms = vggtap_ms(bench_conv if which == "now" else before, w, isa, a.reps)
                    for l in layers:
                        if weights_for[l] == w:
                            (vt[p, l] if which == "now" else vt_before[l]).append(ms[l])
            conn = workers[p][0]
            for l in layers:
                conn.send(("time", l, a.reps))
                ms, config[p, l] = conn.recv()
                pt[p, l].append(ms)
            log(f"round {r} {p}: " + ", ".join(f"{l} vggtap {vt[p, l][-1]:.1f} / torch {pt[p, l][-1]:.1f} ms"
                                              for l in layers))
    for conn, proc in workers.values():
        conn.send(("quit", None, 0))
        proc.join()

    md = ["| path | tap | vggtap ms | PyTorch ms | ratio | PyTorch config | rounds vggtap / PyTorch |",
          "|---|---|---:|---:|---:|---|---|"]
    for p in paths:
        for l in layers:
            v, t = statistics.median(vt[p, l]), statistics.median(pt[p, l])
            md.append(f"| {p} | {l} | {v:.2f} | {t:.2f} | {t / v:.2f}x | {config[p, l]} | "
                      f"{' '.join('%.1f' % x for x in vt[p, l])} / {' '.join('%.1f' % x for x in pt[p, l])} |")
    if before:
        md += ["", "| avx512 path, tap | before ms | now ms | now / before | median of the rounds' now / before "
               "| rounds before / now |", "|---|---:|---:|---:|---:|---|"]
        for l in layers:
            b, n = statistics.median(vt_before[l]), statistics.median(vt["avx512", l])
            paired = statistics.median(y / x for x, y in zip(vt_before[l], vt["avx512", l]))
            md.append(f"| {l} | {b:.2f} | {n:.2f} | {n / b:.3f} | {paired:.3f} | "
                      f"{' '.join('%.2f' % x for x in vt_before[l])} / {' '.join('%.2f' % x for x in vt['avx512', l])} |")
    shutil.rmtree(tmp)
    out = "\n".join(md)
    print(out)
    if a.md:
        with open(a.md, "w") as f:
            f.write(out + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
