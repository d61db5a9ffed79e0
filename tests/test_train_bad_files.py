"""vggtap-train and vggtap-predict given broken files: a store or head that
is truncated, corrupt, not HDF5 or HDF5 of another kind, and heads that do
not match the store, images or weights. Each is a clear message naming the
file, exit 1, no crash, no HDF5 error stack, and nothing written (no head,
log, report or predictions, not even a temporary file). Then seeded random
corruptions (spans of 0xFF or random bytes at random offsets): whatever the
outcome, never a crash or an HDF5 error stack; a refusal writes nothing and
a success writes complete outputs."""
import os
import random
import shutil
import subprocess
import struct
import sys

import h5py

import vtlib

TRAIN = vtlib.tool("vggtap-train")
PREDICT = vtlib.tool("vggtap-predict")
EXTRACT = vtlib.tool("vggtap-extract")
CORRUPTIONS = 40  # random corruptions of the store and of the head, each
# HDF5 1.10 loops forever on some damaged heaps; vggtap stops that after this
# many CPU seconds (60 by default, vt_crash_guard.h)
os.environ["VGGTAP_HDF5_CPU_LIMIT"] = "1"  # the test's files are tiny


def free_space_entry(data):
    """Offset of the free-space entry (object index 0) of the first global
    heap collection that has one (a full collection has none), or None."""
    gcol = data.find(b"GCOL")
    while gcol >= 0:
        end = gcol + struct.unpack("<Q", data[gcol + 8:gcol + 16])[0]
        at = gcol + 16
        while at + 16 <= end:
            index, _, _, size = struct.unpack("<HHIQ", data[at:at + 16])
            if index == 0:
                return at
            at += 16 + (size + 7) // 8 * 8
        gcol = data.find(b"GCOL", gcol + 4)
    return None


def broken_copies(src, tmp, prefix):
    """name -> path of deliberately broken copies of the HDF5 file src."""
    data = open(src, "rb").read()
    out = {}

    def put(name, content):
        path = os.path.join(tmp, f"{prefix}-{name}.h5")
        with open(path, "wb") as f:
            f.write(content)
        out[name] = path

    for cut in (0, 8, 100, 2048, len(data) // 2, len(data) - 1000):
        put(f"truncated-{cut}", data[:cut])
    put("superblock-zeroed", data[:8] + bytes(40) + data[48:])
    # the first object of the global heap (variable-length strings) claims
    # 4 GB: HDF5 1.10 copies past its buffer and crashes (vt_crash_guard.h)
    gcol = data.find(b"GCOL")
    assert gcol > 0, "no global heap in " + src
    put("global-heap-object-size", data[:gcol + 24] + struct.pack("<Q", 0xFFFFFFFF) + data[gcol + 32:])
    # 0xFF over a heap's free-space entry (after its last object): HDF5 1.10
    # loops forever
    at = free_space_entry(data)
    if at is not None:
        put("global-heap-free-space", data[:at] + b"\xff" * 16 + data[at + 16:])
    put("signature-only", data[:8])
    put("text", b"path,label\na.jpg,cat\n")
    return out


def outputs_left(outdir):
    found = []
    for root, dirs, files in os.walk(outdir):
        found += [os.path.join(root, x) for x in dirs + files]
    return found


def clean(outdir):
    shutil.rmtree(outdir, ignore_errors=True)
    os.mkdir(outdir)


def refused(p, path, what):
    """Exit 1 with a message naming the file; no crash, no HDF5 stack."""
    assert p.returncode == 1, (what, p.returncode, p.stderr[-2000:])
    assert path in p.stderr, (what, p.stderr)
    for noise in ("HDF5-DIAG", "#000", "infinite loop", "Traceback"):
        assert noise not in p.stderr, (what, p.stderr)


def guarded(name, p):
    """The two damaged heaps that crash or hang HDF5 itself are caught."""
    if name == "global-heap-object-size":
        assert "crashed the HDF5 library" in p.stderr, p.stderr
    if name == "global-heap-free-space":
        assert "kept the HDF5 library busy" in p.stderr, p.stderr


def main():
    tmp = vtlib.tmpdir()
    outdir = os.path.join(tmp, "out")
    rows = vtlib.sample(vtlib.CLOTHING, 2, seed=7)  # 20 images
    # Stores and heads record image paths and command lines (variable-length
    # strings in their global heaps), so where the damage of broken_copies()
    # falls depended on the checkout's path: programs, photos and weights
    # are reached through links in the temporary folder, whose paths have
    # one length wherever the checkout is.
    links = {}
    for name, target in (("extract", EXTRACT), ("train", TRAIN), ("photos", os.path.join(vtlib.DATA, vtlib.CLOTHING)),
                         ("w.h5", vtlib.WEIGHTS)):
        links[name] = os.path.join(tmp, name)
        os.symlink(target, links[name])
    man = os.path.join(tmp, "m.csv")
    vtlib.write_manifest(man, vtlib.CLOTHING, rows, root="photos")
    ext = [links["extract"], "--weights", links["w.h5"], "--manifest", man, "--size", "112", "--quiet"]
    store = os.path.join(tmp, "store.h5")
    vtlib.run(ext + ["--tap", "block1_pool,block2_pool", "--out", store])
    store_b1 = os.path.join(tmp, "b1.h5")
    vtlib.run(ext + ["--tap", "block1_pool", "--out", store_b1])
    store_torch = os.path.join(tmp, "torch.h5")
    vtlib.run(ext + ["--tap", "block1_pool", "--preprocess", "torch", "--out", store_torch])
    head = os.path.join(tmp, "head.h5")
    head_b2 = os.path.join(tmp, "head_b2.h5")
    vtlib.run([links["train"], "--store", store, "--tap", "block1_pool", "--out", head, "--quiet"])
    vtlib.run([links["train"], "--store", store, "--tap", "block2_pool", "--out", head_b2, "--quiet"])
    other_weights = os.path.join(tmp, "other_weights.h5")
    shutil.copy(vtlib.WEIGHTS, other_weights)
    with h5py.File(other_weights, "r+") as f:
        f.attrs["vggtap_test"] = 1  # same layers, another file: another sha256
    image = os.path.join(vtlib.DATA, vtlib.CLOTHING, rows[0][0])
    h_out = os.path.join(outdir, "h.h5")
    p_out = os.path.join(outdir, "p.csv")

    def train(store_path):
        return vtlib.run([TRAIN, "--store", store_path, "--tap", "block1_pool", "--out", h_out, "--quiet"],
                         check=False, timeout=120)

    def predict_store(head_path, store_path):
        return vtlib.run([PREDICT, "--head", head_path, "--store", store_path, "--out", p_out], check=False,
                         timeout=120)

    def predict_images(head_path, weights=vtlib.WEIGHTS):
        return vtlib.run([PREDICT, "--head", head_path, "--weights", weights, "--out", p_out, image],
                         check=False, timeout=120)

    # --- broken stores and heads: refused, nothing written ---
    bad_stores = broken_copies(store, tmp, "store")
    bad_stores["foreign-keras-weights"] = vtlib.WEIGHTS
    bad_stores["foreign-head"] = head
    bad_stores["a-jpeg"] = image
    bad_stores["missing"] = os.path.join(tmp, "no-such-store.h5")
    bad_heads = broken_copies(head, tmp, "head")
    assert "global-heap-free-space" in bad_heads, "the head's global heap has no free space to damage"
    bad_heads["foreign-store"] = store
    bad_heads["foreign-keras-weights"] = vtlib.WEIGHTS
    bad_heads["a-jpeg"] = image
    bad_heads["missing"] = os.path.join(tmp, "no-such-head.h5")
    # (case, file's name, the bad file, how to run on it): each refused naming the file, nothing written
    cases = []
    for name, path in bad_stores.items():
        cases += [(f"train on store {name}", name, path, lambda path=path: train(path)),
                  (f"predict --store on store {name}", name, path, lambda path=path: predict_store(head, path))]
    for name, path in bad_heads.items():
        cases += [(f"predict --store with head {name}", name, path, lambda path=path: predict_store(path, store)),
                  (f"predict images with head {name}", name, path, lambda path=path: predict_images(path))]
    for case, name, path, run in cases:
        clean(outdir)
        p = run()
        refused(p, path, case)
        guarded(name, p)
        assert not outputs_left(outdir), (case, outputs_left(outdir))
        print(f"{case}: {p.stderr.strip().splitlines()[-1]}")
    n_cases = len(cases)

    # --- heads that do not match ---
    mismatches = [
        ("block2_pool head, store without block2_pool", predict_store(head_b2, store_b1), store_b1,
         "block2_pool"),
        ("caffe head, torch store", predict_store(head, store_torch), store_torch, "preprocessing"),
        ("head of other weights", predict_images(head, other_weights), other_weights,
         "is not the weights file"),
    ]
    for what, p, path, word in mismatches:
        refused(p, path, what)
        assert word in p.stderr and not outputs_left(outdir), (what, p.stderr)
        n_cases += 1
        print(f"{what}: {p.stderr.strip()}")

    # --- strings that are not UTF-8 (damage, or a foreign writer): printed escaped,
    # never as raw bytes (a terminal, metrics.json and the CSVs want UTF-8) ---
    foreign = os.path.join(tmp, "store-latin1-classes.h5")
    shutil.copy(store, foreign)
    with h5py.File(foreign, "r+") as f:
        names = [c.encode() for c in f["classes"].asstr()[()]]
        names[0] = b"caf\xe9-" + names[0]
        del f["classes"]
        f.create_dataset("classes", data=names, dtype=h5py.string_dtype("ascii"))
    clean(outdir)
    p = subprocess.run([TRAIN, "--store", foreign, "--tap", "block1_pool", "--out", h_out],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    shown = (p.stdout + p.stderr).decode("utf-8")  # raises on a raw byte
    assert "caf\\xe9-" in shown, shown[-2000:]
    with h5py.File(h_out, "r") as f:
        assert f["classes"].asstr()[0].startswith("caf\\xe9-"), f["classes"][0]
    n_cases += 1
    print("classes that are not UTF-8: shown and kept escaped as caf\\xe9-...")

    # --- seeded random corruptions: never a crash or an HDF5 stack ---
    # Half land in the first or last 8 KB, where HDF5 keeps most metadata.
    rng = random.Random(6)
    outcomes = {"refused": 0, "ran": 0, "crash caught": 0, "loop caught": 0}
    for target in ("store", "head"):
        src = store if target == "store" else head
        data = open(src, "rb").read()
        bad = os.path.join(tmp, f"corrupt-{target}.h5")
        runs = ([("train", lambda: train(bad)), ("predict", lambda: predict_store(head, bad))]
                if target == "store" else [("predict", lambda: predict_store(bad, store))])
        for i in range(CORRUPTIONS):
            b = bytearray(data)
            edge = min(8192, len(b) // 2)
            at = (rng.randrange(len(b)) if i % 2 else
                  rng.choice((rng.randrange(edge), len(b) - 1 - rng.randrange(edge))))
            n = rng.choice((1, 8, 64, 512))
            fill = bytes([0xFF]) * n if rng.random() < 0.5 else bytes(rng.randrange(256) for _ in range(n))
            b[at:at + n] = fill[:len(b) - at]
            open(bad, "wb").write(bytes(b))
            for prog, run in runs:
                clean(outdir)
                p = run()
                what = f"{prog}: {target} corrupted at {at} ({n} bytes)"
                if p.returncode not in (0, 1):
                    keep = os.path.join(vtlib.BUILD, "test-logs", "crash-" + os.path.basename(bad))
                    shutil.copy(bad, keep)
                    raise AssertionError((what, p.returncode, p.stderr[-2000:], "input kept as " + keep))
                for noise in ("HDF5-DIAG", "#000", "infinite loop"):
                    assert noise not in p.stderr, (what, p.stderr)
                if p.returncode == 1:
                    assert bad in p.stderr, (what, p.stderr)
                    assert not outputs_left(outdir), (what, outputs_left(outdir))
                    outcomes["refused"] += 1
                    outcomes["crash caught"] += "crashed the HDF5 library" in p.stderr
                    outcomes["loop caught"] += "kept the HDF5 library busy" in p.stderr
                    continue
                outcomes["ran"] += 1
                if prog == "train":
                    with h5py.File(h_out, "r") as f:
                        assert f.attrs["format"] == "vggtap-head", what
                else:
                    assert len(open(p_out, "rb").read().splitlines()) == len(rows) + 1, what
    print(f"{n_cases} broken or mismatched inputs refused cleanly. {2 * CORRUPTIONS} random corruptions, "
          f"{outcomes['refused'] + outcomes['ran']} runs: {outcomes['refused']} refused naming the file "
          f"(of which HDF5 crashes caught: {outcomes['crash caught']}, endless loops caught: "
          f"{outcomes['loop caught']}), "
          f"{outcomes['ran']} completed (damage in feature values, which carry no checksum, or in bytes "
          "never read); no crash, no HDF5 stack")
    return 0


if __name__ == "__main__":
    sys.exit(main())
