"""Hostile input: the corpus of tests/tools/make_hostile_corpus.py (unusual but
valid encodings, broken files, special files, a non-UTF-8 name, manifests with
missing files, bad labels and duplicate paths) through vggtap-extract.

Asserts, for class folders and for a manifest over the same files:
- folders without image files are not classes, and an image beside the
  class folders is not a row (both are counted in notes), nor is a dangling
  link beside them (a note names it and the reason);
- the run completes (exit 0) and lists every file exactly once, in spite of a
  FIFO (no hang), a symlink loop and a symbolic link back to a parent folder;
- each valid file is an ok row with finite features, and its pixels equal
  PIL's convert('RGB') (vt_imgdump is the decoder extract uses);
- each broken file is a failed row (NaN features) whose reason contains the
  expected text and was printed with the file's name;
- every string in the store is valid UTF-8; the non-UTF-8 name and label are
  stored as Python's decode('utf-8', 'backslashreplace') spells them;
- an empty label is an unlabelled row; a missing file and a directory are
  failed rows;
- a manifest in Excel's CSV UTF-8 dialect (a byte-order mark before a quoted
  header, CRLF, a blank line and one of blanks, quoted fields) gives the rows, labels and
  splits it holds, also through a pipe, and so does one with CR-only line ends; a manifest with
  columns but none named label or class is unlabelled, with a note;
- a manifest listing a path twice, a line with a field too many, or a NUL
  byte, is refused (exit 1) with a message naming the lines; so is a file given twice.

The unreadable (chmod 000) file only fails for a non-root user: as root the
extraction runs as 'nobody' through setpriv (on copies of the program and the
weights: a clone under /root is out of its reach); if that is impossible the
unreadable case is dropped with a note."""
import json
import os
import pwd
import shutil
import subprocess
import sys
import threading
import warnings

import h5py
import numpy as np
from PIL import Image

warnings.filterwarnings("ignore", "Palette images with Transparency")  # irrelevant to convert("RGB")

import vtlib

EXTRACT = vtlib.tool("vggtap-extract")
IMGDUMP = os.path.join(vtlib.BUILD, "tools", "vt_imgdump")


def imgdump(path):
    p = subprocess.run([IMGDUMP, path], capture_output=True, timeout=60)
    assert p.returncode == 0, (path, p.stderr)
    _, size, _, data = p.stdout.split(b"\n", 3)
    w, h = map(int, size.split())
    return np.frombuffer(data, np.uint8).reshape(h, w, 3)


def read_store(path):
    with h5py.File(path, "r") as f:
        # strict decoding: raises if any stored string is not UTF-8
        strs = {k: [s.decode("utf-8") for s in f[k][:]] for k in ("images/path", "images/error", "classes")}
        for k, v in f.attrs.items():
            if isinstance(v, bytes):
                v.decode("utf-8")
        return dict(paths=strs["images/path"], errors=strs["images/error"], classes=strs["classes"],
                    status=f["images/status"][:], label=f["images/label"][:],
                    gap=f["pooled/block1_pool/avg1"][:])


def check_rows(st, expect, stderr, root, classes=None):
    assert sorted(st["paths"]) == sorted(expect), (sorted(set(st["paths"]) ^ set(expect)))
    n_pil = 0
    for i, path in enumerate(st["paths"]):
        e = expect[path]
        if e["ok"]:
            assert st["status"][i] == 1, (path, st["errors"][i])
            assert st["errors"][i] == "" and np.isfinite(st["gap"][i]).all(), path
            if e["pil"]:
                disk = os.path.join(root, path.replace("\\xe9", "\udce9"))
                ours, pil = imgdump(disk), np.asarray(Image.open(disk).convert("RGB"))
                assert ours.shape == pil.shape and np.array_equal(ours, pil), (path, np.abs(
                    ours.astype(int) - pil).max() if ours.shape == pil.shape else ours.shape)
                n_pil += 1
        else:
            assert st["status"][i] == 2, (path, "decoded but should fail")
            assert e["reason"] in st["errors"][i], (path, st["errors"][i], e["reason"])
            assert np.isnan(st["gap"][i]).all(), path
            assert os.path.basename(path) + ": " + st["errors"][i] in stderr, (path, "failure not printed")
        if classes is not None:
            want = e["label"]
            got = classes[st["label"][i]] if st["label"][i] >= 0 else ""
            assert got == want, (path, got, want)
    return n_pil


def main():
    tmp = vtlib.tmpdir()
    corpus = os.path.join(tmp, "corpus")
    vtlib.run(["/usr/bin/python3", os.path.join(vtlib.ROOT, "tests", "tools", "make_hostile_corpus.py"),
               corpus, os.path.join(vtlib.BUILD, "tools", "jpeg_variants")])
    expect = json.load(open(os.path.join(corpus, "expect.json")))
    prefix, extract_bin, weights = vtlib.as_user(), EXTRACT, vtlib.WEIGHTS
    if prefix:
        # the user must reach the program and the weights: a clone under
        # /root is out of its reach, so it gets copies in the temp dir
        run_dir = os.path.join(tmp, "run")
        os.makedirs(run_dir)
        extract_bin = shutil.copy(EXTRACT, run_dir)
        weights = shutil.copy(vtlib.WEIGHTS, run_dir)
        nobody = pwd.getpwnam("nobody")
        os.chmod(tmp, 0o755)
        for d, dirs, files in os.walk(tmp):
            for n in [d] + [os.path.join(d, x) for x in dirs + files]:
                os.lchown(n, nobody.pw_uid, nobody.pw_gid)
        if subprocess.run(prefix + [extract_bin, "--version"], capture_output=True).returncode != 0:
            prefix = None
    if prefix is None:
        print("note: cannot run as a non-root user here; the unreadable-file case is dropped")
        os.chmod(os.path.join(corpus, "data", "bad", "unreadable.jpg"), 0o644)
        prefix = []
        for table in expect.values():
            for k in [k for k in table if k.endswith("unreadable.jpg")]:
                del table[k]

    def extract(*args, timeout=120):  # a FIFO opened blocking would hang: fail instead
        return subprocess.run(prefix + [extract_bin, "--weights", weights, "--tap", "block1_pool",
                                        "--size", "32", "--threads", "2"] + list(args),
                              capture_output=True, text=True, errors="backslashreplace", timeout=timeout)

    # class folders
    p = extract("--data", os.path.join(corpus, "data"), "--out", os.path.join(tmp, "folders.h5"))
    print(p.stderr)
    assert p.returncode == 0, p.returncode
    n_ok = sum(e["ok"] for e in expect["folders"].values())
    n_bad = len(expect["folders"]) - n_ok
    assert f"{n_ok} ok, {n_bad} failed of {n_ok + n_bad} images" in p.stderr, p.stderr
    assert "note: 1 symbolic link back to a folder being listed not followed" in p.stderr, p.stderr
    # folders without image files are not classes (a class without rows
    # would make vggtap-train refuse the store); the stray image is counted
    assert "note: 2 folders without image files are not classes (empty, ...)" in p.stderr, p.stderr
    assert "note: 1 image file directly in " in p.stderr, p.stderr
    assert "note: 1 entry of " + os.path.join(corpus, "data") + " cannot be read, so is not a class " \
        "(unmounted: No such file or directory)" in p.stderr, p.stderr
    st = read_store(os.path.join(tmp, "folders.h5"))
    assert st["classes"] == ["bad", "good"], st["classes"]
    n_pil = check_rows(st, expect["folders"], p.stderr, os.path.join(corpus, "data"))
    for path, e in sorted(expect["folders"].items()):
        i = st["paths"].index(path)
        print(f"  {path:34s} {'ok' if e['ok'] else st['errors'][i]}")
    print(f"folders: {n_ok} ok ({n_pil} equal to PIL), {n_bad} failed with the expected reasons")

    # the same files through a manifest, plus a missing file, a directory, an
    # empty label and a non-UTF-8 label
    p = extract("--manifest", os.path.join(corpus, "manifest.csv"), "--out", os.path.join(tmp, "manifest.h5"))
    assert p.returncode == 0, p.stderr
    st = read_store(os.path.join(tmp, "manifest.h5"))
    assert st["classes"] == ["bad", "good", "t\\xe9"], st["classes"]
    check_rows(st, expect["manifest"], p.stderr, corpus, st["classes"])
    n = len(expect["manifest"])
    print(f"manifest: {n} rows as expected (labels included)")

    # a byte-order mark before a quoted header (before: "no 'path' column")
    p = extract("--manifest", os.path.join(corpus, "manifest_excel.csv"), "--out", os.path.join(tmp, "excel.h5"))
    assert p.returncode == 0, p.stderr
    with h5py.File(os.path.join(tmp, "excel.h5"), "r") as f:
        got = ([s.decode() for s in f["classes"][:]], [s.decode() for s in f["images/path"][:]],
               list(f["images/label"][:]), [s.decode() for s in f["images/split"][:]])
    assert got == (['a "quoted", label', "good"], ["data/good/baseline.jpg", "data/good/grey.jpg"], [1, 0],
                   ["train", "val"]), got
    print("manifest_excel.csv: BOM, quoted header, CRLF, blank lines: 2 rows as expected")
    # manifests through a pipe, as --manifest <(...) gives them, with and
    # without a BOM: the reader must not seek back (an early fix of the BOM
    # did: without one, the header lost its 'pat')
    fifo = os.path.join(corpus, "manifest_pipe.csv")
    os.mkfifo(fifo, 0o644)
    for text in [open(os.path.join(corpus, "manifest_excel.csv"), "rb").read(),
                 b"path,label\ndata/good/baseline.jpg,good\ndata/good/grey.jpg,a\n"]:
        threading.Thread(target=lambda: open(fifo, "wb").write(text), daemon=True).start()
        p = extract("--manifest", fifo, "--out", os.path.join(tmp, "pipe.h5"), "--overwrite")
        assert p.returncode == 0, p.stderr
        with h5py.File(os.path.join(tmp, "pipe.h5"), "r") as f:
            assert [s.decode() for s in f["images/path"][:]] == got[1], f["images/path"][:]
    # CR-only line ends (before: read as one line, "the manifest lists no images")
    p = extract("--manifest", os.path.join(corpus, "manifest_cr.csv"), "--out", os.path.join(tmp, "cr.h5"))
    assert p.returncode == 0, p.stderr
    with h5py.File(os.path.join(tmp, "cr.h5"), "r") as f:
        got = ([s.decode() for s in f["classes"][:]], [s.decode() for s in f["images/path"][:]], list(f["images/label"][:]))
    assert got == (["bad", "good"], ["data/good/baseline.jpg", "data/good/grey.jpg"], [1, 0]), got
    # no column named label or class, but others: unlabelled, and said so
    p = extract("--manifest", os.path.join(corpus, "manifest_spaced.csv"), "--out", os.path.join(tmp, "sp.h5"))
    assert p.returncode == 0 and "manifest_spaced.csv has no 'label' or 'class' column: every row is unlabelled" \
        in p.stderr, p.stderr
    p = extract("--manifest", os.path.join(corpus, "manifest_excel.csv"), "--out", os.path.join(tmp, "excel.h5"))
    assert "no 'label' or 'class' column" not in p.stderr, p.stderr

    # refused lists: exit 1, nothing written, the message names the lines
    for csv, words in [("manifest_dup.csv", "line 5: path 'data/good/baseline.jpg' is already listed on line 3"),
                       ("manifest_fields.csv", "line 3: 3 fields, the header has 2"),
                       ("manifest_nul.csv", "manifest_nul.csv: line 2: a NUL byte (not a text CSV?)")]:
        out = os.path.join(tmp, csv + ".h5")
        p = extract("--manifest", os.path.join(corpus, csv), "--out", out)
        assert p.returncode == 1 and words in p.stderr and not os.path.exists(out), (csv, p.returncode, p.stderr)
        print(p.stderr.strip())
    good = os.path.join(corpus, "data", "good")
    p = extract("--out", os.path.join(tmp, "twice.h5"), os.path.join(good, "ycck.jpg"), good)
    assert p.returncode == 1 and f"{good}/ycck.jpg is given twice" in p.stderr, p.stderr
    print(p.stderr.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
