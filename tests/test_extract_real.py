"""Real data: extracting all of ../shared/data/shirt-collars (600 shop
photos, 4 classes) ends with every row ok, and each row's label is the class
its manifest gives for that path."""
import os
import sys

import h5py
import numpy as np

import vtlib


def main():
    tmp = vtlib.tmpdir()
    store = os.path.join(tmp, "collars.h5")
    p = vtlib.run([vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS,
                   "--data", os.path.join(vtlib.DATA, "shirt-collars"), "--tap", "block1_pool",
                   "--out", store])
    print(p.stderr.strip().splitlines()[-1])
    assert "600 ok, 0 failed of 600 images" in p.stderr, p.stderr
    truth = dict(vtlib.manifest_rows("shirt-collars"))
    with h5py.File(store, "r") as f:
        classes = [c.decode() for c in f["classes"][:]]
        assert classes == ["band", "button_down", "notched", "regular"], classes
        paths = [s.decode() for s in f["images/path"][:]]
        assert sorted(paths) == sorted(truth) and paths == sorted(paths)
        labels = f["images/label"][:]
        assert all(classes[l] == truth[p] for p, l in zip(paths, labels))
        assert (f["images/status"][:] == 1).all()
        gap = f["pooled/block1_pool/avg1"][:]
        assert gap.shape == (600, 64) and np.isfinite(gap).all() and (gap >= 0).all()
        # features differ between images (no row copied into another)
        assert len({g.tobytes() for g in gap}) == 600
    return 0


if __name__ == "__main__":
    sys.exit(main())
