#!/usr/bin/python3
"""vggtap-train and vggtap-predict end to end on synthetic stores
(tests/tools/make_store_fixture.py): outputs readable with h5py and matching
each other, seeded runs bitwise identical, pooled-vs-maps features equal,
--eval and --split manifest, every kind of bad input refused with a clear
message and nothing written, docs/HEAD.md listing exactly a head's
attributes and datasets, and an interrupt at any moment leaving the old
outputs or the new ones, and no temporary file."""
import csv
import functools
import io
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

import vtlib

# passes are logged too: their messages carry the measured figures
check = functools.partial(vtlib.check, show_ok=True)

TRAIN = vtlib.tool("vggtap-train")
PREDICT = vtlib.tool("vggtap-predict")
FIXTURE = os.path.join(vtlib.ROOT, "tests", "tools", "make_store_fixture.py")


def documented_head(n_layers):
    """docs/HEAD.md's root attributes and datasets (<l> = 0 .. n_layers-1)."""
    text = open(os.path.join(vtlib.ROOT, "docs", "HEAD.md")).read()
    def first_table(section):
        rows = []
        for line in text.split("\n## " + section + "\n", 1)[1].splitlines():
            if line.startswith("| `"):
                rows.append(line.strip("|").split("|")[0])
            elif rows and not line.startswith("|"):
                break
        return rows
    attrs = {a for cell in first_table("Root attributes") for a in re.findall(r"`([a-z_0-9]+)`", cell)}
    datasets = {p.lstrip("/").replace("<l>", str(l))
                for cell in first_table("Datasets") for p in re.findall(r"`(/[^`]+)`", cell)
                for l in (range(n_layers) if "<l>" in p else [0])}
    return attrs, datasets


def fixture(path, *args):
    subprocess.run([sys.executable, FIXTURE, path, *args], check=True)
    return path


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def train(store, out, *args):
    return run([TRAIN, "--store", store, "--out", out, "--quiet", *args])


def head_arrays(path):
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return out


def outputs_of(head):
    stem = head[:-3]
    return [head, stem + ".log.csv", stem + ".report"]


def files_under(d):
    """{relative path: bytes} of every file below d."""
    out = {}
    for root, _, names in os.walk(d):
        for n in names:
            with open(os.path.join(root, n), "rb") as f:
                out[os.path.relpath(os.path.join(root, n), d)] = f.read()
    return out


def output_state(d, old, new, new_head):
    """'old' or 'new' when every output in d is the old run's or the new
    run's (complete), else what is wrong. A file equal in both runs fits
    either; metrics.json holds the run time, so the new one is told by its seed."""
    now = files_under(d)
    if set(now) != set(old):
        return "files %s" % sorted(set(now) ^ set(old))
    fits = set()
    for name, data in now.items():
        these = set()
        if data == old[name]:
            these.add("old")
        if name.endswith("metrics.json"):
            try:
                if json.loads(data)["seed"] == 2:
                    these.add("new")
            except ValueError:
                pass
        elif name.endswith("report.html"):
            if "seed=2\n" in data.decode("utf-8", "replace"):
                these.add("new")
        elif name == "h.h5":
            try:
                got = head_arrays(os.path.join(d, name))
                if sorted(got) == sorted(new_head) and all(np.array_equal(got[k], new_head[k]) for k in got):
                    these.add("new")
            except OSError:
                pass
        elif data == new[name]:
            these.add("new")
        if not these:
            return "%s is neither the old nor the new one" % name
        if these != {"old", "new"}:
            fits.add(these.pop())
    return fits.pop() if len(fits) == 1 else "a mix of old and new outputs"


def interrupt_once(cmd, rng, writing, run_time, when):
    """Starts cmd and sends it SIGINT, SIGTERM or SIGHUP: when "held", while
    its outputs are being written for certain (the run is held with SIGSTOP
    as soon as writing(pid) says so and gets the signal there); when
    "aimed", up to 20 ms after writing(pid) says so; else at a random
    moment of a run_time-long run. Returns the signal, exit status, stderr
    and False if a "held" run ended before the test saw it writing (the
    signal then comes after the run), else True."""
    import signal
    import time
    sig = rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    caught = True
    if when == "held":
        caught = vtlib.hold(proc, lambda: writing(proc.pid), timeout=60)
        proc.send_signal(sig)
        if caught:
            proc.send_signal(signal.SIGCONT)
    elif when == "aimed":
        deadline = time.time() + 60
        while proc.poll() is None and not writing(proc.pid) and time.time() < deadline:
            time.sleep(0.0002)
        time.sleep(rng.uniform(0, 0.02))
        proc.send_signal(sig)
    else:
        time.sleep(rng.uniform(0, run_time))
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return sig, proc.returncode, err.decode(errors="replace").strip(), caught


def restore(d, files):
    """Puts back d's files as files_under gave them."""
    subprocess.run(["rm", "-rf", d], check=True)
    for name, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def interrupt_series(what, n, cmd, rng, run_time, staged, state, leftovers, put_back_old):
    """n interrupts of cmd (interrupt_once): every fourth held at the moment
    staged(pid), the temporary output, has data, the one after it aimed up
    to 20 ms after that moment, the others at random moments. After each, state()
    must be "old" or "new", leftovers() empty and the exit 0 or death by the
    signal; put_back_old() resets "new" outputs for the next one. A held
    interrupt whose run ended before the test saw it writing (a busy
    machine) is checked the same way and tried again (up to 10 times in all),
    so some do land while writing. Returns how many landed before, while and
    after the writing."""
    import signal

    def writing(pid):
        try:
            return os.path.getsize(staged(pid)) > 0
        except OSError:  # not there yet, or renamed already
            return False
    counts = {}
    runs = [("held", "aimed", "random", "random")[i % 4] for i in range(n)]
    missed = 0
    i = 0
    while i < len(runs):
        sig, rc, err, caught = interrupt_once(cmd, rng, writing, run_time, runs[i])
        now, left = state(), leftovers()
        when = "after the run" if rc == 0 else "before writing" if now == "old" and not left else "while writing"
        counts[when] = counts.get(when, 0) + 1
        ok = now in ("old", "new") and not left and rc in (0, -sig)
        check(ok, "%s interrupt %d (%s, %s): outputs %s, left %s, exit %d %s" % (
            what, i, signal.Signals(sig).name, when, now, left, rc, err), show_ok=False)
        if not ok:
            break
        if now == "new":
            put_back_old()
        if not caught and missed < 10:
            print("note: %s interrupt %d ended before the test saw it writing; again" % (what, i))
            missed += 1
            continue
        i += 1
    return counts


def interrupts(p):
    """SIGINT / SIGTERM / SIGHUP at random moments of vggtap-train and
    vggtap-predict runs replacing existing outputs: afterwards the outputs
    are all the old ones or all the new ones, complete, and no temporary or
    probe file is left (there was no signal handling: an interrupt while
    writing left h.h5.tmpPID and report .tmp files, and a half-replaced set).
    A quarter of the interrupts come while the first temporary output has
    data (held there), a quarter 0-20 ms after it has, half at any moment
    of the run."""
    import random
    import time
    rng = random.Random(3)
    store = fixture(p("int.h5"), "--rows", "300", "--classes", "5", "--dim", "1024", "--noise", "3")
    d = p("int")
    ref_dir = p("int-ref")
    os.makedirs(d)
    os.makedirs(ref_dir)
    args = ["--tap", "block1_pool", "--hidden", "256", "--epochs", "5", "--patience", "0"]
    t0 = time.time()
    r = train(store, os.path.join(ref_dir, "h.h5"), *args, "--seed", "2")
    run_time = time.time() - t0
    check(r.returncode == 0, "interrupts: the reference run (%.2f s): %r" % (run_time, r.stderr.strip()))
    r = train(store, os.path.join(d, "h.h5"), *args, "--seed", "1")
    check(r.returncode == 0, "interrupts: the old outputs")
    old, new = files_under(d), files_under(ref_dir)
    new_head = head_arrays(os.path.join(ref_dir, "h.h5"))
    cmd = [TRAIN, "--store", store, "--out", os.path.join(d, "h.h5"), "--quiet", *args, "--seed", "2"]

    counts = interrupt_series(
        "train", 24, cmd, rng, run_time,
        staged=lambda pid: os.path.join(d, "h.h5.tmp%d" % pid),  # the probe of the same name stays empty
        state=lambda: output_state(d, old, new, new_head),
        leftovers=lambda: [n for n in os.listdir(d) + os.listdir(os.path.join(d, "h.report"))
                           if ".tmp" in n or "probe" in n],
        put_back_old=lambda: restore(d, old))
    check(counts.get("while writing", 0) > 0,
          "train interrupts: %s; each left the old outputs or the new ones complete, no temporary file" % counts)

    # vggtap-predict: predictions.csv (20000 rows: tens of ms of writing)
    big = fixture(p("int-big.h5"), "--rows", "20000", "--classes", "5", "--dim", "8", "--noise", "3")
    r = train(big, p("int-big-head.h5"), "--tap", "block1_pool")
    check(r.returncode == 0, "interrupts: a head for predict")
    out = os.path.join(d, "pred.csv")
    cmd = [PREDICT, "--head", p("int-big-head.h5"), "--store", big, "--out", out]
    t0 = time.time()
    r = run(cmd)
    run_time = time.time() - t0
    check(r.returncode == 0, "interrupts: predict's reference run (%.2f s)" % run_time)
    new = open(out, "rb").read()

    def put_back_old():
        with open(out, "wb") as f:
            f.write(b"old predictions\n")
    put_back_old()

    def state():
        now = open(out, "rb").read()
        return "old" if now == b"old predictions\n" else "new" if now == new else "neither"
    counts = interrupt_series(
        "predict", 16, cmd, rng, run_time,
        staged=lambda pid: out + ".tmp%d" % pid,  # the probe of the same name stays empty
        state=state, leftovers=lambda: [n for n in os.listdir(d) if n.startswith("pred.csv.")],
        put_back_old=put_back_old)
    check(counts.get("while writing", 0) > 0,
          "predict interrupts: %s; each left the old output or the new one complete, no temporary file" % counts)


def main():
    for b in (TRAIN, PREDICT):
        if not os.access(b, os.X_OK):
            print("missing %s: run make first" % b)
            return 1
    tmp = tempfile.mkdtemp(prefix="vt_train_cli_")
    p = lambda name: os.path.join(tmp, name)

    # --- a good run: files, schema, agreement between train report and predict ---
    s = fixture(p("s.h5"), "--rows", "300", "--classes", "4", "--maps", "--pooled", "--failed", "5",
                "--unlabelled", "3", "--noise", "1.5")
    r = train(s, p("h.h5"), "--tap", "block1_pool", "--pool", "gap+gmp", "--seed", "3")
    check(r.returncode == 0, "train on a good store exits 0 (%s)" % r.stderr.strip()[-200:])
    check(all(os.path.exists(x) for x in outputs_of(p("h.h5"))), "head, log and report written")
    rep = p("h.report")
    for name in ("metrics.json", "per_class.csv", "confusion.csv", "confusion.txt",
                 "confusion.png", "curves.png"):
        check(os.path.exists(os.path.join(rep, name)), "report has " + name)
    m = json.load(open(os.path.join(rep, "metrics.json")))
    check(m["skipped_failed"] == 5 and m["skipped_unlabelled"] == 3,
          "failed and unlabelled rows skipped and counted (%d, %d)" % (m["skipped_failed"], m["skipped_unlabelled"]))
    # --quiet (pipeline.mk's) still says that rows were skipped, and converged
    # L-BFGS says nothing about its limit
    check("vggtap-train: %s: 5 rows whose extraction failed skipped" % s in r.stderr and
          "iteration limit" not in r.stderr, "--quiet names the failed rows skipped: %r" % r.stderr.strip())
    r = train(s, p("hlim.h5"), "--tap", "block1_pool", "--epochs", "2")
    check(r.returncode == 0 and "vggtap-train: L-BFGS stopped at its iteration limit (2) without converging; "
          "raise it with --epochs N" in r.stderr, "--quiet says L-BFGS did not converge: %r" % r.stderr.strip())
    # the head records only the settings that applied: no learning rate for
    # L-BFGS, one pooling key
    with h5py.File(p("hlim.h5"), "r") as f:
        conf = dict(line.split("=", 1) for line in f.attrs["config"].splitlines())
    r = train(s, p("hsgd.h5"), "--tap", "block1_pool", "--optimizer", "sgd", "--epochs", "2")
    with h5py.File(p("hsgd.h5"), "r") as f:
        sgd = dict(line.split("=", 1) for line in f.attrs["config"].splitlines())
    check(conf["optimizer"] == "lbfgs" and conf["pooling"] == "avg1" and conf["epochs"] == "2" and
          not {"lr", "momentum", "lr_schedule", "batch_size", "dropout", "pool"} & set(conf) and
          sgd["optimizer"] == "sgd" and sgd["lr"] == "0.01" and sgd["momentum"] == "0.9" and "pool" not in sgd,
          "head config: lbfgs %s; sgd %s" % (sorted(conf), sorted(sgd)))
    with h5py.File(p("h.h5"), "r") as f:
        a = f.attrs
        check(a["format"] == "vggtap-head" and a["format_version"] == 2 and a["tap"] == "block1_pool" and
              a["pooling"] == "avg1,max1" and a["features"] == "block1_pool/avg1,block1_pool/max1",
              "head attrs: format, version, tap, pooling ('+' read as ','), features")
        check(a["n_features"] == 32 and f["layers/0/kernel"].shape == (32, 4), "head shapes: 32 features -> 4 classes")
        check(list(f["classes"].asstr()[()]) == ["class_%02d" % i for i in range(4)], "head classes")
        attrs, datasets = documented_head(int(a["n_layers"]))
        found = []
        f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
        check(attrs == set(a) and datasets == set(found),
              "docs/HEAD.md lists exactly the head's attributes and datasets (differ: %s)"
              % sorted((attrs ^ set(a)) | (datasets ^ set(found))))
        mean, std = f["standardize/mean"][()], f["standardize/std"][()]
        train_rows, val_rows = f["training/train_rows"][()], f["training/val_rows"][()]
        test_rows = f["training/test_rows"][()]
        W, b = f["layers/0/kernel"][()], f["layers/0/bias"][()]
    with h5py.File(s, "r") as f:
        x = np.concatenate([f["pooled/block1_pool/avg1"][()], f["pooled/block1_pool/max1"][()]], axis=1)
        y = f["images/label"][()]
    check(len(set(train_rows) | set(val_rows) | set(test_rows)) == len(train_rows) + len(val_rows) + len(test_rows)
          == 300 - 8, "train, val and test rows disjoint and cover the usable rows")
    xt = x[train_rows].astype(np.float64)
    check(np.allclose(mean, xt.mean(0), rtol=1e-5, atol=1e-6) and np.allclose(std, xt.std(0), rtol=1e-4),
          "standardisation stats are the training rows' mean and std")
    # applying the head with numpy reproduces the report's accuracy, on the
    # test rows (held out by default: 20% of each class), and the validation
    # rows' own
    check(len(test_rows) == m["n"] == m["n_test"] and m["eval"] == "test split" and m["held_out"] is True and
          m["test_rows"].startswith("20% of each class"), "scored on the default test split (%d rows: %s)"
          % (len(test_rows), m["test_rows"]))
    acc = float(np.mean(np.argmax(((x[test_rows] - mean) / std) @ W + b, 1) == y[test_rows]))
    check(abs(acc - m["accuracy"]) < 1e-9, "numpy on head.h5 gives the reported accuracy (%.4f vs %.4f)" % (acc, m["accuracy"]))
    logits = ((x[val_rows] - mean) / std) @ W + b
    acc = float(np.mean(np.argmax(logits, 1) == y[val_rows]))
    check(abs(acc - m["val_accuracy"]) < 1e-9 and m["n_val"] == len(val_rows),
          "numpy on head.h5 gives the validation accuracy (%.4f vs %.4f)" % (acc, m["val_accuracy"]))
    r = run([PREDICT, "--head", p("h.h5"), "--store", s, "--top", "2", "--format", "json"])
    check(r.returncode == 0, "predict --store exits 0 (%s)" % r.stderr.strip()[-200:])
    preds = json.loads(r.stdout)["predictions"]
    top1 = {q["path"]: q["top"][0]["class"] for q in preds if "top" in q}
    with h5py.File(s, "r") as f:
        paths = f["images/path"].asstr()[()]
    agree = np.mean([top1[paths[i]] == "class_%02d" % np.argmax(logits[j]) for j, i in enumerate(val_rows)])
    check(agree == 1.0, "predict --store agrees with the head on every validation row")
    check(sum("error" in q for q in preds) == 5 and len(preds) == 300, "predict --store lists failed rows with their error")
    # failed store rows count as images that could not be read: a note, and
    # exit 3 with --strict (which --store used to ignore) or when all failed
    note = "5 of 300 rows of %s failed extraction" % s
    named = [q["path"] + ": " + q["error"] for q in preds if "error" in q]
    check(r.stderr.count(note) == 1 and all(r.stderr.count(x) == 1 for x in named),
          "predict --store notes the failed rows once, each by name and reason: %r" % r.stderr.strip())
    # another input size is refused, height x width as --size takes them
    w = fixture(p("pw.h5"), "--rows", "20", "--classes", "4", "--pooled", "--input-size", "256x128")
    r = run([PREDICT, "--head", p("h.h5"), "--store", w])
    check(r.returncode == 1 and "pw.h5 was extracted at 256x128, the head was trained at 224x224" in r.stderr,
          "predict --store of another input size: exit %d, %r" % (r.returncode, r.stderr.strip()))
    r = run([PREDICT, "--head", p("h.h5"), "--store", s, "--strict"])
    check(r.returncode == 3 and r.stderr.count(note) == 1 and r.stdout.count("\n") == 301,
          "predict --store --strict with failed rows: exit %d, every row still written" % r.returncode)
    every = fixture(p("allfailed-p.h5"), "--rows", "12", "--failed", "12", "--pooled", "--maps")
    r = run([PREDICT, "--head", p("h.h5"), "--store", every])
    check(r.returncode == 3 and "12 of 12 rows of %s failed extraction" % every in r.stderr,
          "predict --store on a store whose every row failed: exit %d (%r)" % (r.returncode, r.stderr.strip()))
    log = open(p("h.log.csv")).read().splitlines()
    check(log[0] == "epoch,lr,train_loss,train_acc,val_loss,val_acc" and len(log) == m["epochs_run"] + 1,
          "per-epoch log CSV has a header and one line per epoch")

    # --- a head of format_version 1 (one tap, '+'-joined pooling, no features
    # attribute) still loads and predicts the same ---
    old_head = p("h-v1.h5")
    subprocess.run(["cp", p("h.h5"), old_head], check=True)
    with h5py.File(old_head, "r+") as f:
        f.attrs["format_version"] = np.int32(1)
        f.attrs["pooling"] = "avg1+max1"
        del f.attrs["features"]
    r_old = run([PREDICT, "--head", old_head, "--store", s, "--top", "2", "--format", "json"])
    check(r_old.returncode == 0 and json.loads(r_old.stdout)["predictions"] == preds,
          "a format_version 1 head predicts as before (%s)" % r_old.stderr.strip()[-200:])

    # --- several taps and a comma pooling: columns tap-major, in the order
    # given; one tap from its maps and one from stored vectors ---
    mt = fixture(p("mt.h5"), "--rows", "240", "--classes", "3", "--maps", "--noise", "1.5")
    other = fixture(p("mt-other.h5"), "--rows", "240", "--classes", "3", "--map", "4,4,8", "--pooled",
                    "--grids", "1,2,4", "--seed", "2", "--noise", "1.5")
    with h5py.File(mt, "r+") as f, h5py.File(other, "r") as g:
        f.copy(g["pooled/block1_pool"], "pooled/block2_pool")
        f.attrs["taps"] = "block1_pool,block2_pool"
    r = train(mt, p("hmt.h5"), "--tap", "block2_pool,block1_pool", "--pool", "max4,avg1", "--seed", "4")
    with h5py.File(mt, "r") as f:
        maps = f["features/block1_pool"][()].astype(np.float64)
        b2 = {k: f["pooled/block2_pool/" + k][()] for k in ("max4", "avg1")}
    cells = [maps[:, i * 2:(i + 1) * 2, j * 2:(j + 1) * 2, :].max((1, 2)) for i in range(4) for j in range(4)]
    want_x = np.concatenate([b2["max4"], b2["avg1"], np.concatenate(cells, 1), maps.mean((1, 2))], 1)
    with h5py.File(p("hmt.h5"), "r") as f:
        a = dict(f.attrs)
        tr = f["training/train_rows"][()]
        mean = f["standardize/mean"][()]
    check(r.returncode == 0 and a["tap"] == "block2_pool,block1_pool" and a["pooling"] == "max4,avg1" and
          a["features"] == "block2_pool/max4,block2_pool/avg1,block1_pool/max4,block1_pool/avg1" and
          a["feature_source"] == "pooled+maps",
          "--tap block2_pool,block1_pool --pool max4,avg1: recipe and source recorded (%s %s)"
          % (r.stderr.strip()[-200:], a.get("features")))
    check(a.get("n_features") == 8 * 16 + 8 + 16 * 16 + 16 and mean.shape == (408,) and
          np.allclose(mean, want_x[tr].mean(0), rtol=1e-4, atol=1e-5),
          "multi-tap features are the parts concatenated in order (mean of %s columns)" % mean.shape)
    mm = json.load(open(p("hmt.report/metrics.json")))
    # the dense baseline flattens both taps' maps (at 224: 112x112x64 and 56x56x128) side by side
    flat = 112 * 112 * 64 + 56 * 56 * 128
    check(mm["head_params"] == 409 * 3 and mm["features"] == 408 and
          mm["dense_params"] == flat * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 3 + 3,
          "parameter counts follow the feature width (head %s for %s features, dense baseline %s)"
          % (mm["head_params"], mm["features"], mm["dense_params"]))
    r = run([PREDICT, "--head", p("hmt.h5"), "--store", mt, "--top", "1", "--format", "json"])
    pm = json.loads(r.stdout)["predictions"] if r.returncode == 0 else []
    with h5py.File(p("hmt.h5"), "r") as f:
        W, b = f["layers/0/kernel"][()], f["layers/0/bias"][()]
        std = f["standardize/std"][()]
        classes = f["classes"].asstr()[()]
    want_top = classes[np.argmax(((want_x - mean) / std) @ W + b, 1)]
    check(len(pm) == 240 and all(q["top"][0]["class"] == c for q, c in zip(pm, want_top)),
          "predict --store on the multi-tap head applies the same recipe (%s)" % r.stderr.strip()[-200:])

    # --- seeded runs are bitwise identical (MLP with dropout, cosine, balanced weights) ---
    args = ["--tap", "block1_pool", "--hidden", "16,8", "--dropout", "0.2", "--lr-schedule", "cosine",
            "--class-weight", "balanced", "--label-smoothing", "0.1", "--seed", "11", "--epochs", "30"]
    r1, r2 = train(s, p("m1.h5"), *args), train(s, p("m2.h5"), *args)
    r3 = train(s, p("m3.h5"), *args[:-3], "12", "--epochs", "30")
    check(r1.returncode == r2.returncode == r3.returncode == 0, "MLP runs exit 0")
    h1, h2, h3 = head_arrays(p("m1.h5")), head_arrays(p("m2.h5")), head_arrays(p("m3.h5"))
    same = h1.keys() == h2.keys() and all(np.array_equal(h1[k], h2[k]) for k in h1)
    check(same, "same seed: bitwise identical head.h5 datasets")
    check(not np.array_equal(h1["layers/0/kernel"], h3["layers/0/kernel"]), "another seed: a different head")
    check(open(p("m1.log.csv")).read() == open(p("m2.log.csv")).read(), "same seed: identical logs")
    check(h1["layers/0/kernel"].shape == (16, 16) and h1["layers/2/kernel"].shape == (8, 4), "MLP 16,8 layer shapes")

    # --- pooling the maps streaming gives the stored pooled features ---
    for pool in ("gap", "avg2+max2"):
        ra = train(s, p("pa.h5"), "--tap", "block1_pool", "--pool", pool, "--features", "pooled", "--epochs", "3")
        rb = train(s, p("pb.h5"), "--tap", "block1_pool", "--pool", pool, "--features", "maps", "--epochs", "3")
        ha, hb = head_arrays(p("pa.h5")), head_arrays(p("pb.h5"))
        check(ra.returncode == rb.returncode == 0 and
              np.allclose(ha["standardize/mean"], hb["standardize/mean"], rtol=1e-5, atol=1e-6) and
              np.allclose(ha["standardize/std"], hb["standardize/std"], rtol=1e-4, atol=1e-6),
              "%s: features pooled from the maps equal the stored pooled vectors" % pool)
    s16 = fixture(p("s16.h5"), "--rows", "60", "--maps", "--dtype", "float16", "--grids", "1")
    with h5py.File(s16, "r") as f:
        check("pooled" not in f and f["features/block1_pool"].dtype == np.float16, "fixture: float16 maps only")
    r = train(s16, p("h16.h5"), "--tap", "block1_pool", "--pool", "gap+gmp", "--epochs", "3")
    with h5py.File(s16, "r") as f:
        maps = f["features/block1_pool"][()].astype(np.float64)
        tr = h5py.File(p("h16.h5"), "r")["training/train_rows"][()]
        want = np.concatenate([maps.mean((1, 2)), maps.max((1, 2))], 1)[tr].mean(0)
    check(r.returncode == 0 and np.allclose(head_arrays(p("h16.h5"))["standardize/mean"], want, rtol=1e-4, atol=1e-5),
          "float16 maps without pooled vectors: pooled while streaming (%s)" % r.stderr.strip()[-200:])

    # --- the numpy recipe in docs/HEAD.md computes what vggtap-predict does (MLP, two poolings) ---
    r = train(s, p("hdoc.h5"), "--tap", "block1_pool", "--pool", "avg2+max1", "--hidden", "12,6", "--epochs", "20")
    doc = open(os.path.join(vtlib.ROOT, "docs", "HEAD.md")).read()
    code = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    code = code.replace('"head.h5"', repr(p("hdoc.h5"))).replace('"store.h5"', repr(s))
    code = code.replace("print(classes[p[ok].argmax(1)])", "pred = classes[p[ok].argmax(1)]")
    g = {}
    exec(code, g)
    rp = run([PREDICT, "--head", p("hdoc.h5"), "--store", s, "--top", "1"])
    rows = [row for row in csv.DictReader(io.StringIO(rp.stdout)) if not row["error"]]
    check(r.returncode == 0 and rp.returncode == 0 and [row["class_1"] for row in rows] == list(g["pred"]) and
          np.allclose([float(row["probability_1"]) for row in rows], g["p"][g["ok"]].max(1), atol=2e-6),
          "docs/HEAD.md's numpy recipe agrees with vggtap-predict --store")

    # --- class weights: on imbalanced classes, balanced weights raise balanced accuracy ---
    imb = fixture(p("imb.h5"), "--rows", "2000", "--classes", "3", "--dim", "8", "--noise", "2", "--imbalance", "0.15")
    scores = {}
    for cw in ("none", "balanced"):
        for opt in ("lbfgs", "adam"):
            r = train(imb, p("hi-%s-%s.h5" % (cw, opt)), "--class-weight", cw, "--optimizer", opt)
            scores[cw, opt] = json.load(open(p("hi-%s-%s.report/metrics.json" % (cw, opt))))["balanced_accuracy"]
    for opt in ("lbfgs", "adam"):
        check(scores["balanced", opt] > scores["none", opt] + 0.05,
              "%s: balanced class weights raise balanced accuracy (%.3f -> %.3f)"
              % (opt, scores["none", opt], scores["balanced", opt]))

    # --- --weight-decay auto: picks from the grid the penalty with the lowest validation loss ---
    wd_base = fixture(p("wd.h5"), "--rows", "600", "--classes", "5", "--dim", "40", "--noise", "4")
    ra = train(wd_base, p("hwa.h5"), "--weight-decay", "auto")
    rd = train(wd_base, p("hwd.h5"))
    last_val_loss = lambda log: float(open(log).read().splitlines()[-1].split(",")[4])
    with h5py.File(p("hwa.h5"), "r") as f:
        conf = dict(line.split("=", 1) for line in f.attrs["config"].splitlines())
    n_train = len(h5py.File(p("hwd.h5"), "r")["training/train_rows"])
    grid = [k / n_train for k in (0.01, 0.1, 1, 10, 100)]
    check(ra.returncode == 0 and rd.returncode == 0 and conf["weight_decay_auto"] == "1" and
          min(abs(float(conf["weight_decay"]) / g - 1) for g in grid) < 1e-3 and
          last_val_loss(p("hwa.log.csv")) <= last_val_loss(p("hwd.log.csv")),
          "--weight-decay auto: %s from the grid, val loss %.4f <= default's %.4f"
          % (conf.get("weight_decay"), last_val_loss(p("hwa.log.csv")), last_val_loss(p("hwd.log.csv"))))
    r = train(wd_base, p("hb.h5"), "--weight-decay", "auto", "--val-fraction", "0")
    check(r.returncode == 1 and "needs validation rows" in r.stderr and not os.path.exists(p("hb.h5")),
          "--weight-decay auto without validation rows: refused")

    # --- the head it replaces: Flatten + Dense(4096) + Dense(4096) + Dense(16) on block1_pool ---
    s16c = fixture(p("s16c.h5"), "--rows", "64", "--classes", "16", "--dim", "8")
    r = train(s16c, p("hp.h5"), "--tap", "block1_pool")
    mp = json.load(open(p("hp.report/metrics.json")))
    check(r.returncode == 0 and mp["dense_params"] == 3305185296 and mp["dense_params_with_convs"] == 3305224016
          and mp["head_params"] == 8 * 16 + 16,
          "parameter comparison at block1_pool, 16 classes: %s / %s (head %s)"
          % (mp.get("dense_params"), mp.get("dense_params_with_convs"), mp.get("head_params")))
    check("3,305,185,296" in r.stdout and "3,305,224,016" in r.stdout, "the comparison is printed")

    # --- streaming the maps keeps memory bounded: peak RSS far below the maps' size ---
    big = fixture(p("big.h5"), "--rows", "200", "--classes", "2", "--map", "56,56,64", "--maps", "--noise", "1")
    maps_bytes = 200 * 56 * 56 * 64 * 4
    rc, peak = vtlib.peak_rss([TRAIN, "--store", big, "--out", p("hbig.h5"), "--quiet", "--tap",
                               "block1_pool", "--pool", "gap+gmp", "--features", "maps"])
    check(rc == 0 and (vtlib.SANITIZED or peak < maps_bytes / 3),
          "pooling %d MB of maps streaming: peak RSS %d MB%s" % (maps_bytes >> 20, peak >> 20,
                                                                 " (not bounded under a sanitizer)" if vtlib.SANITIZED else ""))
    os.remove(big)

    # --- --eval on another store, --split manifest ---
    e = fixture(p("e.h5"), "--rows", "200", "--classes", "4", "--seed", "2", "--noise", "1.5", "--failed", "2")
    r = train(s, p("he.h5"), "--tap", "block1_pool", "--eval", e)
    me = json.load(open(p("he.report/metrics.json")))
    check(r.returncode == 0 and me["n"] == 198 and me["eval"] == e and me["eval_skipped_failed"] == 2,
          "--eval: report on the other store's 198 usable rows")
    check(me["held_out"] is True and me["n_test"] == 0 and me["n_train"] + me["n_val"] == 300 - 8 and
          me["test_rows"] == "none: --eval scores the head on another store",
          "--eval: no test rows drawn from the training store (%s)" % me["test_rows"])
    check(me["accuracy"] > 0.5, "--eval: accuracy on the other store well above chance (%.3f)" % me["accuracy"])
    sm = fixture(p("sm.h5"), "--rows", "200", "--split")
    r = train(sm, p("hm.h5"), "--tap", "block1_pool", "--split", "manifest")
    with h5py.File(sm, "r") as f:
        split = f["images/split"].asstr()[()]
    with h5py.File(p("hm.h5"), "r") as f:
        tr, va, te = f["training/train_rows"][()], f["training/val_rows"][()], f["training/test_rows"][()]
    mm = json.load(open(p("hm.report/metrics.json")))
    check(r.returncode == 0 and all(split[tr] == "train") and all(split[va] == "val") and all(split[te] == "val") and
          len(tr) + len(va) + len(te) == 200 and abs(len(te) - len(va)) <= 4 and mm["n"] == len(te) and
          mm["test_rows"] == "50% of each class's validation rows, drawn at random with seed 0: the manifest has "
          "no test rows",
          "--split manifest follows the store's split column; without test rows, half of its validation rows "
          "are the test split (%d train, %d val, %d test)" % (len(tr), len(va), len(te)))
    r = train(sm, p("hm0.h5"), "--tap", "block1_pool", "--split", "manifest", "--test-fraction", "0")
    mm = json.load(open(p("hm0.report/metrics.json")))
    check(r.returncode == 0 and mm["eval"] == "validation split" and mm["n"] == len(va) + len(te) and
          mm["held_out"] is True and "chose nothing" in mm["score_note"] and "optimistic" in mm["score_note"],
          "--split manifest --test-fraction 0: scored on all validation rows, which chose nothing with lbfgs, "
          "and the note warns of a sweep (%s)" % mm["score_note"])
    r = train(sm, p("hm1.h5"), "--tap", "block1_pool", "--split", "manifest", "--test-fraction", "0",
              "--optimizer", "adam", "--patience", "3", "--epochs", "30")
    mm = json.load(open(p("hm1.report/metrics.json")))
    check(r.returncode == 0 and mm["held_out"] is False and mm["val_chose"] == "the kept epoch" and
          "the same rows that chose the kept epoch: an optimistic score" in mm["score_note"] and
          "optimistic score" in r.stdout,
          "early stopping on the scored rows: the report says the score is optimistic (%s)" % mm["score_note"])
    r = train(s, p("hx.h5"), "--tap", "block1_pool", "--split", "manifest")
    check(r.returncode == 1 and "no split" in r.stderr, "--split manifest on a store without splits: refused")

    # --- bad input: a clear message, exit 1, nothing written ---
    bad = {
        "not-hdf5": "not an HDF5 file", "truncated": "HDF5", "foreign": "not a vggtap store",
        "wrong-format": "not a vggtap store", "future-version": "newer than this vggtap",
        "no-labels": "no labelled rows", "single-class": "single class",
        "empty-class": "class 'class_02' has no usable rows", "nan-feature": "NaN",
        "inf-feature": "inf", "bad-label": "outside the 3 classes", "pending-row": "pending",
        "short-labels": "/images/label has 119 rows",
    }
    for variant, message in bad.items():
        for src in ("pooled", "maps"):
            if src == "maps" and variant not in ("nan-feature", "inf-feature"):
                continue
            subprocess.run("rm -rf %s/hb*" % tmp, shell=True)
            b = fixture(p("bad.h5"), "--bad", variant, "--maps", "--pooled")
            r = train(b, p("hb.h5"), "--tap", "block1_pool", "--features", src)
            left = [x for x in os.listdir(tmp) if x.startswith("hb")]
            check(r.returncode == 1 and message in r.stderr and not left,
                  "%s (%s): exit %d, %r, nothing written %s" % (variant, src, r.returncode, r.stderr.strip(), left))
    cases = [
        (["--tap", "block5_pool"], "tap block5_pool is not in the store"),
        (["--tap", "block1_pool", "--pool", "avg16"], "grid 16 does not fit"),
        (["--tap", "block1_pool", "--eval", fixture(p("et.h5"), "--preprocessing", "torch")], "preprocessing torch"),
        (["--tap", "block1_pool", "--eval", fixture(p("ez.h5"), "--input-size", "256")], "256x256"),
        # sizes read height x width, as --size takes them
        (["--tap", "block1_pool", "--eval", fixture(p("ew.h5"), "--input-size", "256x128")],
         "ew.h5 was extracted at 256x128, %s at 224x224" % s),
        (["--tap", "block1_pool", "--eval", fixture(p("ec.h5"), "--classes", "5")], "class 'class_04'"),
    ]
    for args, message in cases:
        subprocess.run("rm -rf %s/hb*" % tmp, shell=True)
        r = train(s, p("hb.h5"), *args)
        left = [x for x in os.listdir(tmp) if x.startswith("hb")]
        check(r.returncode == 1 and message in r.stderr and not left,
              "%s: exit %d, %r, nothing written" % (" ".join(args[2:]), r.returncode, r.stderr.strip()))
    # a head far wider than memory: refused with the figures before any
    # allocation (the kernel would hand out the memory lazily and then kill
    # the process mid-training)
    subprocess.run("rm -rf %s/hb*" % tmp, shell=True)
    r = run([TRAIN, "--store", s, "--out", p("hb.h5"), "--quiet", "--tap", "block1_pool", "--hidden",
             ",".join(["65536"] * 7)])
    check(r.returncode == 1 and r.stderr.count("needs at least") == 1 and "GB of memory to train with adam" in r.stderr
          and not [x for x in os.listdir(tmp) if x.startswith("hb")],
          "a head of 26 billion parameters: exit %d, %r, nothing written" % (r.returncode, r.stderr.strip()))
    # every row failed: said so, not "train on a store ... with labels"
    subprocess.run("rm -rf %s/hb*" % tmp, shell=True)
    r = train(fixture(p("allfailed.h5"), "--rows", "12", "--failed", "12"), p("hb.h5"), "--tap", "block1_pool")
    want = "has no usable rows: 12 of its 12 rows failed extraction"
    check(r.returncode == 1 and r.stderr.count(want) == 1 and "with labels" not in r.stderr and
          not [x for x in os.listdir(tmp) if x.startswith("hb")],
          "a store whose every row failed: exit %d, %r, nothing written" % (r.returncode, r.stderr.strip()))
    pooled_only = fixture(p("po.h5"), "--dim", "24")
    r = train(pooled_only, p("hb.h5"), "--pool", "avg2")
    check(r.returncode == 1 and "no maps of block1_pool to pool it from" in r.stderr,
          "a pooling neither stored nor computable: refused (%s)" % r.stderr.strip())
    for args in (["--epochs", "0"], ["--pool", "median"], ["--hidden", "12,x"], ["--bogus"], ["--lr", "-1"]):
        subprocess.run("rm -rf %s/hb*" % tmp, shell=True)
        r = run([TRAIN, "--store", s, "--out", p("hb.h5"), *args])
        check(r.returncode == 2 and not os.path.exists(p("hb.h5")), "usage error %s: exit 2" % " ".join(args))
    # a value out of range is told the range (1e-12 is positive, 2^40 >= 0:
    # "wants a positive number" and "an integer >= 0" said otherwise)
    for args, want in ((["--lr", "1e-12"], "--lr wants a number in 1e-9..100, not '1e-12'"),
                       (["--lr", "nan"], "--lr wants a number in 1e-9..100, not 'nan'"),
                       (["--seed", "1099511627776"], "--seed wants a whole number in 0..2147483647"),
                       (["--batch-size", "2000000"], "--batch-size wants a whole number in 1..1048576"),
                       (["--momentum", "1"], "--momentum wants a number in 0..0.9999, not '1'"),
                       (["--dropout", "1e-400"], "--dropout wants a number in 0..0.95, not '1e-400'"),
                       (["--weight-decay", "x"], "--weight-decay wants auto or a number in 0..10, not 'x'"),
                       (["--hidden", "0"], "--hidden wants positive widths like 256,128")):
        r = run([TRAIN, "--store", s, "--out", p("hb.h5"), *args])
        check(r.returncode == 2 and want in r.stderr, "%s: exit %d, %r" % (" ".join(args), r.returncode, r.stderr.strip()))
    # --- an output that cannot be written, found only after training, leaves
    # an existing head, log and report as they were (the head used to be
    # replaced before the report directory failed) ---
    subprocess.run("rm -rf %s/hk*" % tmp, shell=True)
    r = train(s, p("hk.h5"), "--tap", "block1_pool")
    kept = {x: open(p(x), "rb").read() for x in ("hk.h5", "hk.log.csv", "hk.report/metrics.json")}
    open(p("hk-file"), "w").close()
    for report in (p("hk-file"), p("hk-file/sub")):
        r = train(s, p("hk.h5"), "--tap", "block1_pool", "--pool", "max1", "--report", report)
        same = all(open(p(x), "rb").read() == v for x, v in kept.items())
        left = sorted(x for x in os.listdir(tmp) if x.startswith("hk") and ".tmp" in x)
        check(r.returncode == 1 and r.stderr.count(p("hk-file") + " is not a directory") == 1 and same and not left,
              "--report %s not creatable: exit %d, %r once, head, log and report unchanged %s, no temporary file %s"
              % (report, r.returncode, r.stderr.strip(), same, left))

    # two outputs, or an output and an input, on one path (under another
    # spelling too): refused as usage, every file unchanged (a --log naming
    # the head replaced the head with the log; predict --out naming the store
    # or head replaced it with the predictions)
    hk_dir, hk_base = os.path.split(p("hk.h5"))
    dotted = os.path.join(hk_dir, ".", hk_base)
    store_before = open(s, "rb").read()
    for cmd, want in (
            ([TRAIN, "--store", s, "--tap", "block1_pool", "--out", p("hk.h5"), "--log", dotted, "--quiet"],
             "--log %s is the head file (--out)" % dotted),
            ([TRAIN, "--store", s, "--tap", "block1_pool", "--out", p("hk.h5"), "--report", dotted, "--quiet"],
             "--report %s is the head file (--out)" % dotted),
            ([PREDICT, "--head", p("hk.h5"), "--store", s, "--out", os.path.join(os.path.dirname(s), ".", "s.h5")],
             "is the --store file"),
            ([PREDICT, "--head", p("hk.h5"), "--store", s, "--out", dotted], "--out %s is the --head file" % dotted)):
        r = run(cmd)
        same = all(open(p(x), "rb").read() == v for x, v in kept.items()) and open(s, "rb").read() == store_before
        check(r.returncode == 2 and r.stderr.count(want) == 1 and same,
              "%s: exit %d, %r, head, log, report and store unchanged %s"
              % (" ".join(cmd[-4:]), r.returncode, r.stderr.strip().splitlines()[0], same))

    # an output path that is a directory, or in a missing folder, is refused
    # before any work, naming the path given (not its temporary file)
    os.makedirs(p("odir.h5"), exist_ok=True)
    for cmd, path, reason in (
            ([TRAIN, "--store", s, "--tap", "block1_pool", "--out", p("odir.h5"), "--quiet"], p("odir.h5"), "it is a directory"),
            ([TRAIN, "--store", s, "--tap", "block1_pool", "--out", p("hk.h5"), "--log", p("odir.h5"), "--quiet"],
             p("odir.h5"), "it is a directory"),
            ([PREDICT, "--head", p("hk.h5"), "--store", s, "--out", p("odir.h5")], p("odir.h5"), "it is a directory"),
            ([PREDICT, "--head", p("hk.h5"), "--store", s, "--out", p("no/p.csv")], p("no/p.csv"),
             "No such file or directory")):
        r = run(cmd)
        msg = "cannot write %s: %s" % (path, reason)
        left = sorted(x for x in os.listdir(tmp) if x.startswith("odir") and x != "odir.h5")
        same = all(open(p(x), "rb").read() == v for x, v in kept.items())
        check(r.returncode == 1 and r.stderr.count(msg) == 1 and r.stderr.count("\n") == 1 and not left and same,
              "%s --out/--log %s: exit %d, %r, nothing written %s" % (os.path.basename(cmd[0]), path, r.returncode,
                                                                    r.stderr.strip(), left))

    # a relative --report in a working directory the user may not search is
    # refused, naming it (the search for its deepest existing folder looped
    # forever); run as 'nobody' (vtlib.as_user) on copies that user can reach
    prefix = vtlib.as_user()
    box = p("nosearch")
    cwd, outdir = os.path.join(box, "cwd"), os.path.join(box, "out")
    os.makedirs(cwd)
    os.makedirs(outdir)
    train_copy, store_copy = shutil.copy(TRAIN, box), shutil.copy(s, box)
    for x in (tmp, box, store_copy):
        os.chmod(x, 0o755)
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody").pw_uid
        os.chown(cwd, nobody, -1)
        os.chown(outdir, nobody, -1)
    if prefix is None or subprocess.run(prefix + [train_copy, "--version"], capture_output=True).returncode:
        print("note: cannot run as a non-root user here; a working directory without search permission is not tested")
    else:
        script = 'cd "$1" && chmod 600 . && exec "$2" --store "$3" --out "$4" --report rep --tap block1_pool --quiet'
        try:
            r = subprocess.run(prefix + ["sh", "-c", script, "sh", cwd, train_copy, store_copy,
                                         os.path.join(outdir, "h.h5")], capture_output=True, text=True, timeout=60)
            check(r.returncode == 1 and r.stderr.count("cannot write the report into rep: .: Permission denied") == 1
                  and not os.listdir(outdir),
                  "--report in an unsearchable working directory: exit %d, %r, nothing written %s"
                  % (r.returncode, r.stderr.strip(), os.listdir(outdir)))
        except subprocess.TimeoutExpired:
            check(False, "--report in an unsearchable working directory: still running after 60 s")
        os.chmod(cwd, 0o755)

    r = run([TRAIN, "--help"])
    check(r.returncode == 0 and all(o in r.stdout for o in (
        "--store", "--tap", "--pool", "--out", "--eval", "--report", "--hidden", "--dropout", "--optimizer",
        "--momentum", "--lr", "--lr-schedule", "--weight-decay", "--batch-size", "--epochs", "--patience",
        "--class-weight", "--label-smoothing", "--val-fraction", "--split", "--seed", "--log", "--quiet",
        "Exit status")), "--help documents every option and the exit status")

    # --- predict refuses mismatches ---
    open(p("x.h5"), "wb").close()  # never read: the mismatch is caught first
    checks = [
        ([PREDICT, "--head", p("h.h5"), "--store", p("et.h5")], "preprocessing"),
        ([PREDICT, "--head", p("h.h5"), "--store", p("ez.h5")], "256x256"),
        ([PREDICT, "--head", p("h.h5"), "--store", pooled_only], "48 wide, the head expects 32"),
        ([PREDICT, "--head", s, "--store", s], "not a vggtap head file"),
        ([PREDICT, "--head", p("h.h5"), "--weights", p("x.h5"), "--preprocess", "torch", "img.jpg"], "preprocess caffe"),
        ([PREDICT, "--head", p("h.h5"), "--weights", p("x.h5"), "--size", "256", "img.jpg"], "224x224"),
        # with --store too: a given setting that is not the head's is refused
        ([PREDICT, "--head", p("h.h5"), "--store", s, "--preprocess", "torch"], "preprocess caffe"),
        ([PREDICT, "--head", p("h.h5"), "--store", s, "--size", "256"], "224x224"),
        ([PREDICT, "--head", p("h.h5"), "--store", s, "--resize", "nearest"], "resize antialias"),
    ]
    for cmd, message in checks:
        r = run(cmd)
        check(r.returncode == 1 and message in r.stderr, "predict refuses: %r" % r.stderr.strip())
    # weights that are not there: an error of the setup (exit 1, as vggtap-extract), not of usage
    r = run([PREDICT, "--head", p("h.h5"), "--weights", p("missing.h5"), "img.jpg"])
    check(r.returncode == 1 and "missing.h5" in r.stderr and "does not exist" in r.stderr,
          "predict with a missing weights file: exit 1 (got %d: %r)" % (r.returncode, r.stderr.strip()[:120]))

    interrupts(p)

    if vtlib.failures:
        print("\n%d failed" % len(vtlib.failures))
        return 1
    subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
