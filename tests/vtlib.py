"""Shared helpers for the Python tests: paths, running the programs, the
real data the repository ships, and a Keras-caffe reference preprocessing."""
import os
import subprocess
import sys
import tempfile

ROOT = os.environ.get("VGGTAP_ROOT", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("TEST_BUILD", "build"))
# VGGTAP_BIN: where the programs are (make check-asan points it at a
# sanitizer build); the default is the tree's bin/.
BIN = os.environ.get("VGGTAP_BIN", os.path.join(ROOT, "bin"))
# Under a sanitizer build, peak RSS measures the sanitizer (ASan's shadow
# memory and its quarantine of freed blocks, which grows with the bytes a
# program streams through malloc), not the program: memory bounds are
# asserted only on the plain build.
SANITIZED = "VGGTAP_BIN" in os.environ
# What the repository ships (data/): the real block1-block2 weights, and
# CLOTHING, 300 real photos in 10 classes (20 train + 10 validation each;
# manifest.csv: path,class,split,original_wxh), a data set name for
# manifest_rows(), sample() and write_manifest().
DATA = os.path.join(ROOT, "data")
WEIGHTS = os.path.join(DATA, "weights", "vgg16_keras_prefix.h5")
CLOTHING = "clothing-30"


def tool(name):
    return os.path.join(BIN, name)


def run(args, check=True, **kw):
    """Runs a command, returns CompletedProcess with text stdout/stderr."""
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise AssertionError(f"{args[0]} exited {p.returncode}")
    return p


def peak_rss(cmd):
    """Runs cmd (its output discarded) in a child of a fresh python, so that
    the peak RSS the kernel reports for that python's children is cmd's own:
    (exit status, peak RSS in bytes)."""
    probe = ("import resource, subprocess, sys; "
             "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode; "
             "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe] + list(cmd), capture_output=True, text=True, check=True)
    rc, kib = out.stdout.split()
    return int(rc), int(kib) * 1024


def tmpdir():
    """A temporary directory removed when the test exits."""
    import atexit
    import shutil
    d = tempfile.mkdtemp(prefix="vggtap-test-")
    atexit.register(shutil.rmtree, d, True)
    return d


def manifest_rows(dataset):
    """(path, class) rows of the manifest.csv of data set DATA/dataset."""
    import csv
    with open(os.path.join(DATA, dataset, "manifest.csv"), newline="") as f:
        return [(r["path"], r["class"]) for r in csv.DictReader(f)]


def sample(dataset, per_class, seed=0):
    """A deterministic per-class sample of data set DATA/dataset: [(path, class)]."""
    import random
    rows = manifest_rows(dataset)
    by = {}
    for p, c in rows:
        by.setdefault(c, []).append(p)
    rng = random.Random(seed)
    out = []
    for c in sorted(by):
        ps = sorted(by[c])
        rng.shuffle(ps)
        out += [(p, c) for p in sorted(ps[:per_class])]
    return out


def write_manifest(path, dataset, rows, extra=None, root=None):
    """Writes a manifest (paths absolute into data set DATA/dataset, or
    under root: relative to the manifest's folder when root is)."""
    root = root or os.path.join(DATA, dataset)
    with open(path, "w") as f:
        f.write("path,label" + (",split" if extra else "") + "\n")
        for i, (p, c) in enumerate(rows):
            line = f"{os.path.join(root, p)},{c}"
            if extra:
                line += "," + extra(i)
            f.write(line + "\n")


def caffe_input(path, size=224, resize="nearest"):
    """Keras load_img(target_size, nearest) + caffe preprocessing, in
    PIL/numpy: the independent reference for the network input. NHWC.
    resize="dct-antialias": PIL's draft (libjpeg DCT scaling) + BILINEAR."""
    import numpy as np
    from PIL import Image
    img = Image.open(path)
    if resize == "dct-antialias":
        img.draft("RGB", (size, size))
        img = img.convert("RGB").resize((size, size), Image.BILINEAR)
    else:
        img = img.convert("RGB").resize((size, size), Image.NEAREST)
    x = np.asarray(img, dtype=np.float32)[:, :, ::-1]
    return x - np.array([103.939, 116.779, 123.68], dtype=np.float32)


def datasets(path):
    """{name: array} of every dataset in an HDF5 file, for comparing stores."""
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[:]) if isinstance(obj, h5py.Dataset) else None)
    return out


failures = []


def check(cond, what, show_ok=False):
    """A check that records its failure (printed at once) and lets the test
    go on, so one run shows every failure; show_ok also logs passes."""
    if show_ok or not cond:
        print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def status():
    """A test's exit status: 1 (saying how many checks failed) or 0."""
    if failures:
        print("\n%d failed" % len(failures))
        return 1
    return 0


def skip(reason):
    print(reason)
    sys.exit(77)


# attributes that describe how a store was made, not what it holds
STORE_HOW_MADE = {"command", "merged_shards", "merged_features"}


def store_contents(path):
    """{dataset: (values, attrs, is_virtual)} and the root attributes of a
    store, without the attributes in STORE_HOW_MADE."""
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj[()], dict(obj.attrs), obj.is_virtual)
        f.visititems(visit)
        root = {k: v for k, v in f.attrs.items() if k not in STORE_HOW_MADE}
    return out, root


def assert_same_store(ref, got, what):
    """Every dataset (values, NaN included, type, shape, attributes) and root
    attribute of store `got` equals those of `ref`; returns got's contents."""
    import numpy as np
    a, ra = store_contents(ref)
    b, rb = store_contents(got)
    assert sorted(a) == sorted(b), f"{what}: datasets {sorted(a)} != {sorted(b)}"
    for name, (x, xattrs, _) in a.items():
        y, yattrs, _ = b[name]
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: /{name} {x.dtype}{x.shape} != {y.dtype}{y.shape}"
        same = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
        assert same, f"{what}: /{name} differs"
        assert xattrs == yattrs, f"{what}: /{name} attributes {xattrs} != {yattrs}"
    assert ra == rb, f"{what}: root attributes differ: {set(ra.items()) ^ set(rb.items())}"
    return b


def as_user():
    """The command prefix that runs a program as a user without root's
    override of file permissions ('nobody' through setpriv when running as
    root; [] when not root), or None if that is impossible. The user must
    reach the program and its inputs: a clone under /root is out of its
    reach, so tests run copies from their temp dir."""
    import pwd
    import shutil
    if os.geteuid() != 0:
        return []
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        return None
    if not shutil.which("setpriv"):
        return None
    return ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]


# Holding a running program at a known point. Tests that interrupt a run
# must not depend on how fast the machine is: a busy or slow machine lets
# a short run go further (or finish) between two looks of the test, and a
# signal is delivered asynchronously.

def stopped(pid):
    """True once every thread of pid is stopped (SIGSTOP is delivered to
    each thread on its own; a thread still running can write a file
    after the signal was sent)."""
    task = f"/proc/{pid}/task"
    try:
        states = []
        for tid in os.listdir(task):
            with open(os.path.join(task, tid, "stat")) as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return False
    return bool(states) and all(s in ("T", "t") for s in states)


def hold(proc, ready, timeout=600):
    """Waits until ready() while proc runs, then stops proc (SIGSTOP) and
    waits until it really is stopped. Returns True with proc held (send it
    SIGCONT or SIGKILL), False if proc ended first: a run a fast or busy
    machine let through is not a failure, the caller starts it again."""
    import signal
    import time
    deadline = time.time() + timeout
    while not ready():
        if proc.poll() is not None:
            return False
        if time.time() > deadline:
            raise AssertionError(f"{proc.args[0]} neither got there nor ended in {timeout} s")
        time.sleep(0.001)
    proc.send_signal(signal.SIGSTOP)
    while not stopped(proc.pid):
        if proc.poll() is not None:  # it ended before the signal arrived
            return False
        if time.time() > deadline:
            raise AssertionError(f"{proc.args[0]} did not stop")
        time.sleep(0.001)
    return True


def start_held(start, ready, undo, tries=10):
    """start() a process and hold() it once ready(); when it ends first,
    undo() removes what the finished run made and it starts again. Returns
    the held Popen; fails only if every one of `tries` runs ended first."""
    for _ in range(tries):
        proc = start()
        if hold(proc, ready):
            return proc
        proc.communicate()
        assert proc.returncode == 0, f"{proc.args[0]} exited {proc.returncode} before it could be held"
        print(f"note: {os.path.basename(proc.args[0])} finished before it could be held; starting it again")
        undo()
    raise AssertionError(f"{tries} runs of {proc.args[0]} all ended before they could be held")


def has_part(partial):
    """True when OUT.partial/ holds a finished part (part-N.h5)."""
    try:
        return any(n.startswith("part-") and n.endswith(".h5") for n in os.listdir(partial))
    except FileNotFoundError:
        return False
