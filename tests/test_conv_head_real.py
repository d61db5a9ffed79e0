#!/usr/bin/python3
"""The conv head on real photos: clothing-dataset-small (1,441 photos in 10
classes, from the shared data folder, ../shared/data beside the checkout or
$VGGTAP_SHARED_DATA), its manifest's split (1,100 train, 341 validation).

Extracts block2_pool maps (float16) and pooled vectors once, then trains
with the programs' defaults
  - softmax regression on max4 (the best single pooling of the linear
    heads, docs/TRAIN.md),
  - the conv head (issue 24's recipe; mirrors: the maps mirrored in memory,
    --augment mapflip, as no mirrored photos are extracted here),
both scored on all 341 validation photos (--test-fraction 0; nothing is
chosen on them: L-BFGS runs to convergence, the conv head runs its 40
epochs), and checks that the conv head beats softmax by at least 8 points.
Skipped, saying so, when the shared data is not there."""
import json
import os
import subprocess
import sys
import time

import vtlib

check = vtlib.check


def shared_set(name):
    env = os.environ.get("VGGTAP_SHARED_DATA")
    for d in ([env] if env else []) + [os.path.join(vtlib.ROOT, "..", "shared", "data"),
                                       os.path.join(vtlib.ROOT, "..", "..", "shared", "data")]:
        if os.path.exists(os.path.join(d, name, "manifest.csv")):
            return os.path.join(d, name)
    return None


def run(*args):
    t0 = time.time()
    r = subprocess.run([os.path.join(vtlib.BIN, args[0]), *args[1:]], capture_output=True, text=True)
    return r, time.time() - t0


def main():
    data = shared_set("clothing-dataset-small")
    if not data:
        vtlib.skip("skip: clothing-dataset-small is not in ../shared/data (nor $VGGTAP_SHARED_DATA): "
                   "the shared photo sets are not on this machine")
    tmp = vtlib.tmpdir()
    store = os.path.join(tmp, "clothing.h5")
    r, secs = run("vggtap-extract", "--weights", vtlib.WEIGHTS, "--manifest", os.path.join(data, "manifest.csv"),
                  "--split-column", "original_split", "--tap", "block2_pool", "--keep", "maps,pooled",
                  "--map-dtype", "float16", "--out", store, "--quiet")
    if r.returncode != 0:
        check(False, "vggtap-extract exits 0: " + r.stderr[-500:])
        return 1
    print("extracted in %.0f s" % secs)
    scores = {}
    for name, flags in (("softmax max4", ["--tap", "block2_pool", "--pool", "max4"]),
                        ("conv", ["--head", "conv", "--augment", "mapflip"])):
        head = os.path.join(tmp, name.replace(" ", "-") + ".h5")
        r, secs = run("vggtap-train", "--store", store, "--split", "manifest", "--test-fraction", "0", *flags,
                      "--out", head, "--quiet")
        check(r.returncode == 0, "%s: vggtap-train exits 0 (%s)" % (name, r.stderr[-300:]))
        if r.returncode != 0:
            return 1
        m = json.load(open(head[:-3] + ".report/metrics.json"))
        scores[name] = m["accuracy"]
        print("%s: accuracy %.4f on the %d validation photos (trained in %.0f s)" % (name, m["accuracy"], m["n"], secs))
    gain = scores["conv"] - scores["softmax max4"]
    check(gain >= 0.08, "the conv head beats softmax on max4 by %.1f points (>= 8)" % (100 * gain), show_ok=True)
    if vtlib.failures:
        print("\n%d failed" % len(vtlib.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
