"""Resume: kill -9 at random moments (and Ctrl-C once), re-run the same
command until it finishes; the final store must hold exactly what an
uninterrupted run writes. A store or partial run made with other settings is
refused with a message naming what differs; --overwrite replaces it."""
import os
import random
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

import vtlib

EXTRACT = vtlib.tool("vggtap-extract")


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[:]) if isinstance(obj, h5py.Dataset) else None)
    return out


def same_nan(a, b):
    if a.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


def main():
    tmp = vtlib.tmpdir()
    rows = vtlib.sample("clothing-dataset-small", 6, seed=2)  # 60 images
    man = os.path.join(tmp, "m.csv")
    vtlib.write_manifest(man, "clothing-dataset-small", rows)
    with open(man, "a") as fh:  # one failed row must survive resumes too
        fh.write(os.path.join(tmp, "missing.jpg") + ",dress\n")
    base = [EXTRACT, "--weights", vtlib.WEIGHTS, "--manifest", man, "--tap", "block1_pool,block2_conv1",
            "--store", "maps,pooled", "--map-dtype", "float16", "--compress", "1"]
    env = dict(os.environ, VGGTAP_PART_ROWS="3")

    ref = os.path.join(tmp, "ref.h5")
    vtlib.run(base + ["--out", ref, "--quiet"], env=env)

    out = os.path.join(tmp, "out.h5")
    cmd = base + ["--out", out]
    rng = random.Random(1)
    partial = out + ".partial"

    def n_parts():
        try:
            return sum(n.startswith("part-") and n.endswith(".h5") for n in os.listdir(partial))
        except FileNotFoundError:
            return 0

    # Kill after the run has made progress (1-3 more parts), plus a random
    # few milliseconds, so the kills land at varied moments of a part's life
    # however fast the machine is.
    kills = 0
    interrupted = False
    for attempt in range(40):
        target = n_parts() + rng.randint(1, 3)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while proc.poll() is None and n_parts() < target and time.time() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.03))
        if proc.poll() is not None:
            break
        if not interrupted and attempt == 3:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=120)
            if proc.returncode == 130:
                assert "Run the same command again" in err, err
                interrupted = True
            continue
        proc.kill()  # SIGKILL: no chance to clean up
        proc.communicate()
        kills += 1
        print(f"kill {kills}: {n_parts()} parts")
    final = vtlib.run(cmd)  # finishes whatever is left (or reports nothing to do)
    print(final.stderr.strip().splitlines()[-1])
    assert kills >= 3 and interrupted, (kills, interrupted)
    assert os.path.exists(out) and not os.path.exists(out + ".partial")
    print(f"{kills} kill -9, Ctrl-C honoured: {interrupted}")

    a, b = datasets(ref), datasets(out)
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))
    for k in a:
        assert same_nan(a[k], b[k]), k
    with h5py.File(out, "r") as f:
        assert list(f["images/status"][:]).count(2) == 1
    print("resumed store identical to the uninterrupted one:", len(a), "datasets")

    # other settings against a complete store: refused, naming the differences
    p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--manifest", man, "--tap", "block1_pool",
                   "--preprocess", "torch", "--store", "maps,pooled", "--map-dtype", "float16",
                   "--compress", "1", "--out", out], check=False)
    assert p.returncode == 1, p.returncode
    for word in ("taps", "preprocessing", "--overwrite"):
        assert word in p.stderr, (word, p.stderr)
    print(p.stderr.strip())
    # ... and against a partial one (a different input size)
    part_out = os.path.join(tmp, "p.h5")
    proc = subprocess.Popen(base + ["--out", part_out, "--quiet"], env=env)
    for _ in range(200):
        time.sleep(0.1)
        d = part_out + ".partial"
        if os.path.isdir(d) and any(n.startswith("part-") and n.endswith(".h5") for n in os.listdir(d)):
            break
    proc.kill()
    proc.wait()
    p = vtlib.run(base + ["--out", part_out, "--size", "160"], check=False)
    assert p.returncode == 1 and "input_height" in p.stderr and "cannot resume" in p.stderr, p.stderr
    # the image list changed: refused too
    with open(man, "a") as fh:
        fh.write(os.path.join(tmp, "another.jpg") + ",dress\n")
    p = vtlib.run(base + ["--out", part_out], check=False)
    assert p.returncode == 1 and "rows_digest" in p.stderr, p.stderr
    # --overwrite starts over and completes
    vtlib.run(base + ["--out", part_out, "--overwrite", "--quiet"])
    with h5py.File(part_out, "r") as f:
        assert len(f["images/path"]) == len(rows) + 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
