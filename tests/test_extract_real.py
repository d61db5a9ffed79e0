"""Real data: extracting all of data/clothing-30 as class folders (300
photos, 10 classes) ends with every row ok, each row's label is the class
its manifest gives for that path, and no two rows hold the same features."""
import os
import sys

import h5py
import numpy as np

import vtlib


def main():
    tmp = vtlib.tmpdir()
    store = os.path.join(tmp, "clothing.h5")
    truth = dict(vtlib.manifest_rows(vtlib.CLOTHING))
    n = len(truth)
    p = vtlib.run([vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS,
                   "--data", os.path.join(vtlib.DATA, vtlib.CLOTHING), "--tap", "block1_pool",
                   "--out", store])
    print(p.stderr.strip().splitlines()[-1])
    assert f"{n} ok, 0 failed of {n} images" in p.stderr, p.stderr
    with h5py.File(store, "r") as f:
        classes = [c.decode() for c in f["classes"][:]]
        assert classes == sorted(set(truth.values())) and len(classes) == 10, classes
        paths = [s.decode() for s in f["images/path"][:]]
        assert sorted(paths) == sorted(truth) and paths == sorted(paths)
        labels = f["images/label"][:]
        assert all(classes[l] == truth[p] for p, l in zip(paths, labels))
        assert (f["images/status"][:] == 1).all()
        gap = f["pooled/block1_pool/avg1"][:]
        assert gap.shape == (n, 64) and np.isfinite(gap).all() and (gap >= 0).all()
        # features differ between images (no row copied into another)
        assert len({g.tobytes() for g in gap}) == n
    return 0


if __name__ == "__main__":
    sys.exit(main())
