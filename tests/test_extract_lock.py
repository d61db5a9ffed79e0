"""One extractor per store: while vggtap-extract writes OUT, a second one on
the same OUT (same settings, --overwrite, or other settings) is refused with
a message naming the holder, touches nothing, and the first finishes
unharmed with the store an uninterrupted run writes. The lock file a kill -9
leaves behind does not block the resume.

A complete store in a directory the user cannot write (a read-only share):
rerunning the same command says there is nothing to do, exit 0, with the
words a writable directory gets, creating nothing (it was 'cannot create
OUT.partial: Permission denied': the lock was taken before the store was
checked); other settings there are refused naming the differences. As root
this runs as 'nobody' (vtlib.as_user); if that is impossible it is skipped
with a note."""
import os
import shutil
import signal
import subprocess
import sys

import numpy as np

import vtlib

EXTRACT = vtlib.tool("vggtap-extract")


def snapshot(d):
    """Names and sizes of what OUT.partial/ holds."""
    return {n: os.path.getsize(os.path.join(d, n)) for n in sorted(os.listdir(d))}


def read_only_rerun(tmp, man):
    """The rerun on a complete store in a directory the user cannot write."""
    prefix = vtlib.as_user()
    run_dir = os.path.join(tmp, "ro-run")
    os.makedirs(run_dir)
    # copies the user can reach; the store is written by root (or the user)
    # into share/, which is then made unwritable for the user
    extract = shutil.copy(EXTRACT, run_dir)
    weights = shutil.copy(vtlib.WEIGHTS, run_dir)
    os.chmod(tmp, 0o755)
    if prefix and subprocess.run(prefix + [extract, "--version"], capture_output=True).returncode != 0:
        prefix = None
    if prefix is None:
        print("note: cannot run as a non-root user here; the read-only share case is not tested")
        return
    share = os.path.join(tmp, "share")
    os.makedirs(share)
    out = os.path.join(share, "s.h5")
    cmd = [extract, "--weights", weights, "--manifest", man, "--tap", "block1_pool", "--size", "64",
           "--out", out]
    vtlib.run(cmd)
    writable = vtlib.run(cmd)  # the rerun where it could write: its words are the reference
    assert writable.returncode == 0 and "nothing to do" in writable.stderr, writable.stderr
    os.chmod(share, 0o555)
    try:
        before = sorted(os.listdir(share)), os.path.getmtime(out)
        p = vtlib.run(prefix + cmd, check=False)
        assert p.returncode == 0, (p.returncode, p.stderr)
        assert p.stderr == writable.stderr, (p.stderr, writable.stderr)
        assert (sorted(os.listdir(share)), os.path.getmtime(out)) == before, os.listdir(share)
        print(f"read-only share, same settings: exit 0, {p.stderr.strip()}")
        p = vtlib.run(prefix + cmd[:-2] + ["--size", "80", "--out", out], check=False)
        assert p.returncode == 1 and "was made with other settings" in p.stderr, (p.returncode, p.stderr)
        assert "Permission denied" not in p.stderr, p.stderr
        assert (sorted(os.listdir(share)), os.path.getmtime(out)) == before, os.listdir(share)
        print("read-only share, other settings: refused naming the differences, nothing created")
    finally:
        os.chmod(share, 0o755)


def main():
    tmp = vtlib.tmpdir()
    rows = vtlib.sample(vtlib.CLOTHING, 3, seed=4)  # 30 images
    man = os.path.join(tmp, "m.csv")
    vtlib.write_manifest(man, vtlib.CLOTHING, rows)
    base = [EXTRACT, "--weights", vtlib.WEIGHTS, "--manifest", man, "--tap", "block1_pool",
            "--keep", "maps,pooled", "--size", "112", "--quiet"]
    env = dict(os.environ, VGGTAP_PART_ROWS="2")
    ref = os.path.join(tmp, "ref.h5")
    vtlib.run(base + ["--out", ref], env=env)

    out = os.path.join(tmp, "out.h5")
    partial = out + ".partial"
    # held mid-run, once it has a finished part, while the others try (a run
    # the machine let finish first is removed and started again)
    first = vtlib.start_held(
        lambda: subprocess.Popen(base + ["--out", out], env=env, stderr=subprocess.PIPE, text=True),
        lambda: vtlib.has_part(partial), lambda: os.remove(out))
    try:
        before = snapshot(partial)
        for extra, what in (([], "same command"), (["--overwrite"], "--overwrite"),
                            (["--size", "160"], "other settings")):
            p = vtlib.run(base + ["--out", out] + extra, env=env, check=False)
            assert p.returncode == 1, (what, p.returncode, p.stderr)
            want = f"{out} is being written by another vggtap-extract (pid {first.pid}), which holds {partial}/lock"
            assert want in p.stderr, (what, p.stderr)
            assert snapshot(partial) == before, (what, before, snapshot(partial))
            assert not os.path.exists(out), what
            print(f"{what}: refused, nothing touched: {p.stderr.strip()}")
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, (first.returncode, err)
    a, b = vtlib.datasets(ref), vtlib.datasets(out)
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a)
    print("the first extractor finished unharmed: its store equals an uninterrupted run's")
    assert not os.path.exists(partial), os.listdir(partial)

    # once it is done, the lock is gone: the same command has nothing to do
    p = vtlib.run(base[:-1] + ["--out", out], env=env)
    assert "nothing to do" in p.stderr and not os.path.exists(partial), p.stderr

    # kill -9 leaves the lock file; the resume is not blocked by it
    out2 = os.path.join(tmp, "out2.h5")
    proc = vtlib.start_held(lambda: subprocess.Popen(base + ["--out", out2], env=env),
                            lambda: vtlib.has_part(out2 + ".partial"), lambda: os.remove(out2))
    proc.kill()
    proc.wait()
    assert "lock" in os.listdir(out2 + ".partial")
    p = vtlib.run(base[:-1] + ["--out", out2], env=env)
    assert "resuming" in p.stderr, p.stderr
    b = vtlib.datasets(out2)
    assert all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a)
    print("a lock file left by kill -9 does not block the resume")

    read_only_rerun(tmp, man)
    return 0


if __name__ == "__main__":
    sys.exit(main())
