#!/usr/bin/python3
"""Training time of the conv head (train/vt_convnet.h) against PyTorch on the
same architecture, batch, data and machine, and the head's memory on a large
store read row by row.

1. Speed: a store of --rows maps (float16, as vggtap-extract stores them) of
   block2_pool's shape reduced for a head (28x28x128; --map 56,56,128 for the
   full map with the head's 2x2 input pool), 10 classes. vggtap's side is
   build/tools/convhead_bench (vt_convnet_train, maps cached in memory);
   PyTorch's is the same net in torch.nn (conv without bias, BatchNorm2d,
   ReLU, MaxPool2d, AdaptiveMaxPool2d, Dropout, Linear; AdamW lr 1e-3 weight
   decay 1e-2; label smoothing 0.1; batch 32, shuffled), on the same maps
   held in memory as one float32 tensor (NCHW, its fastest layout here; the
   data loading is not timed on either side). Seconds per epoch as the mean
   of --epochs epochs, each side's timing excluding start-up and loading.
   Rounds alternate which side runs first; the table gives every round and
   the medians. PyTorch runs with 2 threads and with 1 (on a machine shared
   with other work its OpenMP threads can lose more than they gain); the
   ratio is against the faster of the two. --before BIN adds another
   convhead_bench (e.g. built from an earlier commit) on 2 threads to each
   round: the change's own gain, measured beside the rest.
2. --stream ROWS: a synthetic store of ROWS rows of 28x28x128 float16 maps
   (25000: 5 GB) trained for one epoch with the maps read from the file row
   by row (--cache-mb 0) and, if they fit in --cache-mb-big, cached in memory:
   seconds per epoch and peak RSS of each.

  bench_convhead.py [--rows 1441] [--map 28,28,128] [--epochs 3] [--rounds 3]
                    [--stream 25000] [--before BIN] [--tmp DIR] [--md OUT.md]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

ROOT = os.environ.get("VGGTAP_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
BENCH = os.path.join(BUILD, "tools", "convhead_bench")
FIXTURE = os.path.join(ROOT, "tests", "tools", "make_store_fixture.py")
TAP = "block2_pool"


def machine():
    model = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return "%s, %d CPUs, load average %s" % (model, os.cpu_count(), " ".join(open("/proc/loadavg").read().split()[:3]))


def vggtap_epoch(store, epochs, threads, extra=(), bench=BENCH):
    r = subprocess.run([bench, store, TAP, "--epochs", str(epochs), "--threads", str(threads), *extra],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("convhead_bench failed: " + r.stderr)
    f = r.stdout.split()
    return dict(zip(f[0::2], f[1::2]))


TORCH_CHILD = r'''
import sys, time, h5py, numpy as np, torch
store, tap, epochs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
with h5py.File(store, "r") as f:
    x = torch.from_numpy(f["features/" + tap][()].astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(f["images/label"][()].astype(np.int64))
n, c, h, w = x.shape
k = int(y.max()) + 1
torch.manual_seed(1)
layers = [torch.nn.AvgPool2d(2)] if h >= 56 else []
s = h // 2 if h >= 56 else h
layers += [torch.nn.Conv2d(c, 64, 3, padding=1, bias=False), torch.nn.BatchNorm2d(64), torch.nn.ReLU(),
           torch.nn.MaxPool2d(2), torch.nn.Conv2d(64, 64, 3, padding=1, bias=False), torch.nn.BatchNorm2d(64),
           torch.nn.ReLU(), torch.nn.AdaptiveMaxPool2d(min(4, s // 2)), torch.nn.Flatten(), torch.nn.Dropout(0.5),
           torch.nn.Linear(64 * min(4, s // 2) ** 2, k)]
m = torch.nn.Sequential(*layers)
opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=1e-2)
lossf = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
m.train()
t0 = time.perf_counter()
for e in range(epochs):
    perm = torch.randperm(n)
    for i in range(0, n, 32):
        idx = perm[i:i + 32]
        opt.zero_grad()
        lossf(m(x[idx]), y[idx]).backward()
        opt.step()
print((time.perf_counter() - t0) / epochs)
'''


def torch_epoch(store, epochs, threads):
    r = subprocess.run([sys.executable, "-c", TORCH_CHILD, store, TAP, str(epochs), str(threads)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("the PyTorch run failed: " + r.stderr)
    return float(r.stdout.strip())


def write_big_store(path, rows, classes=10, block=500):
    """A valid store of rows x 28x28x128 float16 maps written block by block
    (the fixture script holds everything in memory): the fixture's index and
    attributes for the rows, then /features/<tap> filled here."""
    subprocess.run([sys.executable, FIXTURE, path, "--tap", TAP, "--rows", str(rows), "--classes",
                    str(classes), "--dim", "4"], check=True)
    rng = np.random.default_rng(5)
    with h5py.File(path, "r+") as f:
        d = f.create_dataset("features/" + TAP, (rows, 28, 28, 128), dtype="<f2", chunks=(1, 28, 28, 128))
        for r0 in range(0, rows, block):
            nb = min(block, rows - r0)
            d[r0:r0 + nb] = rng.random((nb, 28, 28, 128), dtype=np.float32).astype(np.float16)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1441)
    p.add_argument("--map", default="28,28,128")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--stream", type=int, default=0, help="rows of the large store (0: skip)")
    p.add_argument("--cache-mb-big", type=float, default=8192)
    p.add_argument("--before", default=None, help="another convhead_bench to time on 2 threads")
    p.add_argument("--tmp", default=None)
    p.add_argument("--md", default=None)
    a = p.parse_args()
    if not os.path.exists(BENCH):
        sys.exit("%s is missing: run make" % BENCH)
    if a.before and not os.access(a.before, os.X_OK):
        sys.exit("--before %s: not an executable" % a.before)
    tmp = tempfile.mkdtemp(prefix="vt_bench_convhead_", dir=a.tmp)
    out = []
    out.append("machine: " + machine())
    store = os.path.join(tmp, "maps.h5")
    subprocess.run([sys.executable, FIXTURE, store, "--tap", TAP, "--maps", "--dtype", "float16", "--map", a.map,
                    "--rows", str(a.rows), "--classes", "10"], check=True)
    out.append("")
    out.append("### Conv head training, %d maps of %s (float16), batch 32, %d epochs per run" % (a.rows, a.map, a.epochs))
    out.append("")
    before = " | before, 2 threads" if a.before else ""
    out.append("| round | vggtap 2 threads | vggtap 1 thread%s | PyTorch 2 threads | PyTorch 1 thread | "
               "best PyTorch / vggtap 2 threads |" % before)
    out.append("|---|---:|---:|---:|---:|---:|" + ("---:|" if a.before else ""))
    names = ["vt2", "vt1"] + (["before"] if a.before else []) + ["pt2", "pt1"]
    times = {name: [] for name in names}
    ratios = []
    for r in range(a.rounds):
        runs = {"vt2": lambda: float(vggtap_epoch(store, a.epochs, 2)["seconds_per_epoch"]),
                "vt1": lambda: float(vggtap_epoch(store, a.epochs, 1)["seconds_per_epoch"]),
                "before": lambda: float(vggtap_epoch(store, a.epochs, 2, bench=a.before)["seconds_per_epoch"]),
                "pt2": lambda: torch_epoch(store, a.epochs, 2),
                "pt1": lambda: torch_epoch(store, a.epochs, 1)}
        order = names[::-1] if r % 2 else names
        got = {name: runs[name]() for name in order}
        for name in names:
            times[name].append(got[name])
        ratios.append(min(got["pt2"], got["pt1"]) / got["vt2"])
        out.append("| %d | %s | %.2fx |" % (r + 1, " | ".join("%.2f s" % got[name] for name in names), ratios[-1]))
        print(out[-1], flush=True)
    med = {name: statistics.median(t) for name, t in times.items()}
    out.append("| median | %.2f s (%.2f ms/image) | %s | **%.2fx** |"
               % (med["vt2"], 1e3 * med["vt2"] / a.rows, " | ".join("%.2f s" % med[name] for name in names[1:]),
                  statistics.median(ratios)))
    out.append("")
    out.append("load average after: " + " ".join(open("/proc/loadavg").read().split()[:3]))
    if a.stream:
        big = os.path.join(tmp, "big.h5")
        t = time.time()
        write_big_store(big, a.stream)
        out.append("")
        out.append("### %d rows of 28x28x128 float16 (%.1f GB file, written in %.0f s), 1 epoch, 2 threads"
                   % (a.stream, os.path.getsize(big) / 1e9, time.time() - t))
        out.append("")
        out.append("| maps | seconds per epoch | ms per image | peak RSS |")
        out.append("|---|---:|---:|---:|")
        for label, mb in [("read from the file row by row (--cache-mb 0)", 0),
                          ("cached in memory as float16", a.cache_mb_big)]:
            r = vggtap_epoch(big, 1, 2, ["--cache-mb", str(mb)])
            if mb and r["cached"] != "1":
                out.append("| cached: do not fit %g MB | | | |" % mb)
                continue
            out.append("| %s | %.1f | %.2f | %.0f MB |" % (label, float(r["seconds_per_epoch"]),
                                                       1e3 * float(r["seconds_per_epoch"]) / a.stream,
                                                       float(r["peak_rss_mb"])))
            print(out[-1], flush=True)
    subprocess.run(["rm", "-rf", tmp])
    text = "\n".join(out) + "\n"
    print(text)
    if a.md:
        open(a.md, "w").write(text)


if __name__ == "__main__":
    main()
