#!/usr/bin/python3
"""End-to-end extraction on real JPEGs (decode, resize, preprocess, conv,
pooled vectors and maps written to HDF5): bin/vggtap-extract against the conv
prefix alone (bench_prefix_c on the same number of images and threads) and
against the PyTorch + PIL + h5py baseline (torch_extract_baseline.py); thread
scaling of vggtap-extract; its peak RSS with full maps stored, 100 vs
2000 images; and where one image's time goes, stage by stage (bench_stages).

Images: N distinct JPEGs, taken in turn from the shared clothing-dataset-small,
clothing-attributes-neckline and shirt-collars sets (266x400 .. 500x682),
listed in a manifest; the memory runs list them again and again (under symlinked names: a manifest lists a path once). vggtap's time
is the whole command (start-up, weights sha256, store assembly included:
~30 ms, so the default 1000 images, not a few hundred, measure the rate a
user extracting thousands of photos sees);
the baseline's excludes its set-up (imports, trace, warm-up), which favours
the baseline. Both write the same store content (checked: features agree to
1e-4 of the tap's max). Every case runs once untimed, then --repeats
interleaved rounds; tables show medians. End to end / conv-only is paired:
each vggtap-extract run has a conv-only run of its own right beside it
(before it or after it, the order alternating), and the table gives the
median of those per-pair ratios, so that the machine's drift from one
quarter hour to the next (~5% on shared 2-core machines) moves both sides
of a ratio, not one.

  bench_extract.py [--images 1000] [--repeats 3] [--threads 2]
                   [--torch-best best.json] [--memory 100,2000] [--md OUT.md]

--torch-best is the JSON bench_prefix.py --json writes (PyTorch's best
configuration per tap); without it the baseline runs channels_last +
TorchScript freeze, batch 1, 2 threads. Prints Markdown on stdout.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("VGGTAP_ROOT", os.path.dirname(os.path.dirname(HERE)))
SHARED = os.environ.get("VGGTAP_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", os.environ.get("TEST_BUILD", "build")))
WEIGHTS = os.path.join(SHARED, "weights", "vgg16_keras_prefix.h5")
DATA = os.path.join(SHARED, "data")
PROGS = {"vggtap-extract": os.path.join(ROOT, "bin", "vggtap-extract"),
         "bench_prefix_c": os.path.join(BUILD, "tools", "bench_prefix_c"),
         "bench_stages": os.path.join(BUILD, "tools", "bench_stages")}
RUN = dict(PROGS)  # what is run: private copies once snapshot_tools ran
BASELINE = os.path.join(HERE, "torch_extract_baseline.py")
TAPS = ("block1_pool", "block2_pool")
# (store, resize policy): the default policy with and without maps, and the
# DCT-scaling policy (JPEGs shrunk while decoding) for pooled vectors
STORES = (("pooled", "antialias"), ("maps,pooled", "antialias"), ("pooled", "dct-antialias"))
DEFAULT_TORCH = dict(format="channels_last", executor="jit", batch=1, threads=2, procs=1)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def snapshot_tools(tmp):
    """Runs private copies of the programs: on a shared tree someone's
    `make` may relink bin/ in the middle of a run."""
    for name, path in list(PROGS.items()):
        RUN[name] = os.path.join(tmp, name)
        shutil.copy2(path, RUN[name])


def jpegs(n):
    """n distinct JPEG paths, round-robin over three shared data sets."""
    lists = []
    for ds in ("clothing-dataset-small", "clothing-attributes-neckline", "shirt-collars"):
        with open(os.path.join(DATA, ds, "manifest.csv")) as f:
            rows = [line.split(",")[:2] for line in f.read().splitlines()[1:]]
        lists.append([(os.path.join(DATA, ds, p), c) for p, c in rows])
    out = [r for group in zip(*lists) for r in group]
    if n > len(out):
        sys.exit(f"bench_extract: only {len(out)} JPEGs available")
    return out[:n]


def write_manifest(path, rows):
    with open(path, "w") as f:
        f.write("path,label\n")
        for p, c in rows:
            f.write(f"{p},{c}\n")


def timed(cmd, rss=False):
    """Runs cmd; returns (wall seconds, stdout, peak RSS in KiB or None)."""
    if rss:
        cmd = ["/usr/bin/time", "-f", "maxrss_kib %M"] + cmd
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench_extract: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    peak = None
    if rss:
        peak = int([ln for ln in p.stderr.splitlines() if ln.startswith("maxrss_kib")][-1].split()[1])
    return dt, p.stdout, peak


def vggtap_cmd(manifest, tap, store, out, threads, resize="antialias"):
    if os.path.exists(out):  # a complete store with the same settings would be a no-op run
        os.remove(out)
    return [RUN["vggtap-extract"], "--weights", WEIGHTS, "--manifest", manifest, "--tap", tap, "--keep", store,
            "--resize", resize, "--out", out, "--threads", str(threads), "--overwrite", "--quiet"]


def torch_cmd(manifest, tap, store, out, cfg, resize="antialias"):
    return [sys.executable, BASELINE, "--weights", WEIGHTS, "--manifest", manifest, "--tap", tap,
            "--keep", store, "--resize", resize, "--out", out, "--format", cfg["format"], "--executor", cfg["executor"],
            "--batch", str(cfg["batch"]), "--threads", str(cfg["threads"]), "--procs", str(cfg["procs"])]


def conv_cmd(tap, threads, n):
    return [RUN["bench_prefix_c"], WEIGHTS, tap, "-t", str(threads),
            "-n", str(max(1, n // threads)), "-r", "1", "-w", "1"]


def stage_times(manifest, tap, resize, repeats):
    """bench_stages' median ms per image, by stage name."""
    _, text, _ = timed([RUN["bench_stages"], WEIGHTS, tap, manifest, "-r", str(repeats), "-p", resize])
    out = {}
    for line in text.splitlines():
        if line.startswith("stage "):
            name, ms = line[6:].rsplit(" ms", 1)[0].rsplit(None, 1)
            out[name.strip()] = float(ms)
    return out


def torch_name(c):
    ex = {"eager": "eager", "jit": "jit.freeze", "ofi": "jit.optimize_for_inference"}[c["executor"]]
    par = f"{c['procs']}x{c['threads']}t" if c["procs"] > 1 else f"{c['threads']}t"
    return f"{c['format']}, {ex}, batch {c['batch']}, {par}"


def same_content(a, b):
    """Worst relative difference over the float datasets both stores hold."""
    import h5py
    import numpy as np
    worst = 0.0
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for name in ("features", "pooled"):
            if name not in fa:
                continue
            keys = []
            fa[name].visit(lambda k: keys.append(k) if isinstance(fa[name][k], h5py.Dataset) else None)
            for k in keys:
                x, y = fa[name][k][()], fb[name][k][()]
                worst = max(worst, float(np.abs(x - y).max() / np.abs(y).max()))
        for k in ("path", "label", "status", "width", "height"):
            if not (fa["images"][k][()] == fb["images"][k][()]).all():
                return float("inf")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--torch-best", help="JSON from bench_prefix.py --json")
    ap.add_argument("--memory", default="100,2000", help="image counts for the RSS runs ('' skips)")
    ap.add_argument("--tmp", default=None, help="scratch directory (the 2000-image store is ~13 GB at peak)")
    ap.add_argument("--md", help="also write the tables here")
    a = ap.parse_args()
    for p in PROGS.values():
        if not os.access(p, os.X_OK):
            sys.exit(f"bench_extract: {p} is missing: run `make`")
    best = {}
    if a.torch_best:
        with open(a.torch_best) as f:
            best = json.load(f)
    tcfg = {tap: best.get(tap, DEFAULT_TORCH) for tap in TAPS}

    tmp = tempfile.mkdtemp(prefix="vggtap-bench-", dir=a.tmp)
    try:
        snapshot_tools(tmp)
        md = run(a, tmp, tcfg)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(md)
    if a.md:
        with open(a.md, "w") as f:
            f.write(md + "\n")
    return 0


def run(a, tmp, tcfg):
    manifest = os.path.join(tmp, "images.csv")
    write_manifest(manifest, jpegs(a.images))
    vs, ts = os.path.join(tmp, "v.h5"), os.path.join(tmp, "t.h5")

    # Every case: a name and a function returning images/s.
    cases, conv = {}, {}
    for tap in TAPS:
        for store, rs in STORES:
            cases["vggtap", tap, store, rs] = lambda tap=tap, store=store, rs=rs: \
                a.images / timed(vggtap_cmd(manifest, tap, store, vs, a.threads, rs))[0]
            cases["torch", tap, store, rs] = lambda tap=tap, store=store, rs=rs: \
                a.images / float(timed(torch_cmd(manifest, tap, store, ts, tcfg[tap], rs))[1].split()[-1])
        conv[tap] = lambda tap=tap: \
            float(timed(conv_cmd(tap, a.threads, a.images))[1].splitlines()[-1].split()[1])
        if a.threads > 1:
            cases["vggtap1", tap] = lambda tap=tap: \
                a.images / timed(vggtap_cmd(manifest, tap, "pooled", vs, 1))[0]

    log(f"warm-up: every case once on {a.images} images")
    diff = {}
    for fn in conv.values():
        fn()
    for key, fn in cases.items():
        fn()
        if key[0] == "torch":  # the case before wrote vggtap's store for the same tap and content
            diff[key[1:]] = same_content(vs, ts)
    rates = {k: [] for k in cases}
    paired = {k: [] for k in cases if k[0] == "vggtap"}  # (vggtap, conv alone) images/s, adjacent runs
    for r in range(a.repeats):
        for i, (key, fn) in enumerate(cases.items()):
            if key not in paired:
                rates[key].append(fn())
            elif (r + i) % 2 == 0:
                v = fn()
                paired[key].append((v, conv[key[1]]()))
            else:
                c = conv[key[1]]()
                paired[key].append((fn(), c))
            if key in paired:
                rates[key].append(paired[key][-1][0])
        log(f"round {r}: " + ", ".join(f"{'/'.join(k)} {v[-1]:.1f}" for k, v in rates.items()))
    med = {k: statistics.median(v) for k, v in rates.items()}
    conv_med = {k: statistics.median(c for _, c in p) for k, p in paired.items()}
    ratio_med = {k: statistics.median(v / c for v, c in p) for k, p in paired.items()}

    stages = {}
    for tap in TAPS:
        for rs in ("antialias", "dct-antialias"):
            log(f"stages: {tap} {rs}")
            stages[tap, rs] = stage_times(manifest, tap, rs, a.repeats)

    mem = []
    for n in [int(x) for x in a.memory.split(",") if x]:
        rows = jpegs(min(n, a.images))
        # the same photos again under other names (a manifest may list a path once)
        links = os.path.join(tmp, f"mem{n}")
        os.makedirs(links, exist_ok=True)
        repeated = []
        for i in range(n):
            path, label = rows[i % len(rows)]
            link = os.path.join(links, f"{i:06d}.jpg")
            os.symlink(path, link)
            repeated.append((link, label))
        write_manifest(manifest, repeated)
        log(f"memory: {n} images at block1_pool with maps")
        dt, _, peak = timed(vggtap_cmd(manifest, "block1_pool", "maps,pooled", vs, a.threads), rss=True)
        mem.append((n, peak, dt, os.path.getsize(vs)))
        os.remove(vs)

    out = []
    out.append("### End to end: vggtap-extract vs conv prefix alone vs PyTorch + PIL + h5py (images/s)\n")
    out.append(f"{a.images} real JPEGs, {a.threads} threads, 224x224, caffe, grids 1,2,4 (vggtap's default); "
               f"medians of {a.repeats} interleaved rounds after one untimed round.\n")
    out.append("| tap | store | resize | vggtap-extract | conv only | e2e / conv [>= 90%] | per pair | "
               "PyTorch baseline | vggtap / PyTorch [>= 3x] | PyTorch config | store diff |")
    out.append("|---|---|---|---:|---:|---:|---|---:|---:|---|---:|")
    for tap in TAPS:
        for store, rs in STORES:
            key = ("vggtap", tap, store, rs)
            v, t = med[key], med["torch", tap, store, rs]
            pairs = ", ".join(f"{100 * pv / pc:.1f}" for pv, pc in paired[key])
            out.append(f"| {tap} | {store} | {rs} | {v:.2f} | {conv_med[key]:.2f} | {100 * ratio_med[key]:.1f}% | "
                       f"{pairs} | {t:.2f} | {v / t:.2f}x | {torch_name(tcfg[tap])} | {diff[tap, store, rs]:.1e} |")
    out.append("")
    out.append("conv only: median of the conv-only runs paired with that row's vggtap-extract runs; "
               "e2e / conv: median of the per-pair ratios (each pair's two runs adjacent, in alternating "
               "order), listed in round order under \"per pair\" (%). store diff: max |vggtap - PyTorch| / "
               "max |PyTorch| over every feature and pooled dataset (paths, labels, status, sizes equal).\n")
    if a.threads > 1:
        out.append("### Thread scaling: vggtap-extract, pooled store (images/s)\n")
        out.append(f"| tap | --threads 1 | --threads {a.threads} | speed-up |")
        out.append("|---|---:|---:|---:|")
        for tap in TAPS:
            one, many = med["vggtap1", tap], med["vggtap", tap, "pooled", "antialias"]
            out.append(f"| {tap} | {one:.2f} | {many:.2f} | {many / one:.2f}x |")
        out.append("")
    out.append("### Where one image's time goes (bench_stages, one thread, CPU ms per image)\n")
    out.append(f"The same {a.images} JPEGs, each taken through the extractor's steps in turn; medians of "
               f"{a.repeats} rounds. \"ceiling\": conv / (all stages), the most end to end / conv-only "
               "can reach when two workers keep both cores busy; \"stop at IDCT\": the same if the decode "
               "stopped after the inverse DCT (libjpeg's raw output from a file in memory: no file read, "
               "chroma upsampling or colour conversion); \"decode only\": the same if decoding were the only work "
               "besides the conv. Entropy decoding (libjpeg's Huffman decoding, measured alone) is part of "
               "every decode, whatever the resize policy. \"in one\": read + decode + resize with the rows "
               "resized as they are decoded, as vggtap-extract does them, and the ceiling with it.\n")
    out.append("| tap | resize | read + decode | of which entropy decoding | of which entropy + IDCT | resize "
               "| read + decode + resize in one | preprocess | grid pooling | conv | ceiling | ceiling in one "
               "| stop at IDCT | decode only |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (tap, rs), st in stages.items():
        c, load, raw = st["conv prefix"], st["read + decode"], st["(entropy decoding + IDCT)"]
        one = st["(read + decode + resize in one)"]
        total = sum(v for k, v in st.items() if not k.startswith("("))
        out.append(f"| {tap} | {rs} | {load:.3f} | {st['(entropy decoding alone)']:.3f} | {raw:.3f} | "
                   f"{st['resize']:.3f} | {one:.3f} | {st['preprocess']:.3f} | {st['grid pooling']:.3f} | {c:.3f} | "
                   f"{100 * c / total:.1f}% | {100 * c / (total - load - st['resize'] + one):.1f}% | "
                   f"{100 * c / (total - load + raw):.1f}% | {100 * c / (c + load):.1f}% |")
    out.append("")
    if mem:
        out.append("### Memory: vggtap-extract peak RSS, block1_pool, maps (float32) + pooled\n")
        out.append("| images | peak RSS | wall time | store size |")
        out.append("|---:|---:|---:|---:|")
        for n, peak, dt, size in mem:
            out.append(f"| {n} | {peak / 1024:.0f} MiB | {dt:.1f} s | {size / 2**30:.2f} GiB |")
        out.append("")
    out.append("Commands (one round; $M = manifest of the images, $S = $VGGTAP_SHARED):\n")
    out.append("```")
    ex = [vggtap_cmd("$M", "block1_pool", "maps,pooled", "v.h5", a.threads),
          conv_cmd("block1_pool", a.threads, a.images),
          torch_cmd("$M", "block1_pool", "maps,pooled", "t.h5", tcfg["block1_pool"])]
    for cmd in ex:
        s = " ".join(cmd)
        for name, path in PROGS.items():
            s = s.replace(RUN[name], path)
        s = s.replace(SHARED, "$S").replace(ROOT + "/", "")
        out.append(s)
    out.append("```")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
