#!/usr/bin/python3
"""The conv head on real photos: clothing-dataset-small (1,441 photos in 10
classes, from the shared data folder, ../shared/data beside the checkout or
$VGGTAP_SHARED_DATA), its manifest's split (1,100 train, 341 validation).

Extracts block2_pool maps (float16) and pooled vectors of the photos and
of their mirror images (vggtap-extract --augment flip), then trains
  - softmax regression on max4 (defaults),
  - the conv head with its defaults (issue 24's recipe with a cosine lr
    schedule, stored mirrors) for 20 epochs instead of 40, to fit CI time,
both scored on all 341 validation photos (--test-fraction 0; nothing is
chosen on them: L-BFGS runs to convergence, the conv head runs all its
epochs), and checks issue 24's goal: the conv head beats softmax by at
least 8 points. Softmax scores 0.651 there (deterministic); the conv head
at 20 epochs scored 0.777-0.804 over seeds 0-4 on the Xeon (12.6 to 15.2
points; docs/TRAIN.md, "Which head to choose"), and at seed 0 0.804 on the
avx2 path and 0.798 on the portable one: the margin holds across seeds and
the rounding of other CPUs' kernels. It needs the shared photos:
30 photos (data/clothing-30) are too few to tell heads apart.
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


def extract(manifest, out, *extra):
    return run("vggtap-extract", "--weights", vtlib.WEIGHTS, "--manifest", manifest, "--split-column",
               "original_split", "--tap", "block2_pool", "--keep", "maps,pooled", "--map-dtype", "float16",
               "--out", out, "--quiet", *extra)


def main():
    data = shared_set("clothing-dataset-small")
    if not data:
        vtlib.skip("skip: clothing-dataset-small is not in ../shared/data (nor $VGGTAP_SHARED_DATA): "
                   "the shared photo sets are not on this machine")
    tmp = vtlib.tmpdir()
    store = os.path.join(tmp, "clothing.h5")
    manifest = os.path.join(data, "manifest.csv")
    r, secs = extract(manifest, store, "--augment", "flip")
    if r.returncode != 0:
        check(False, "vggtap-extract exits 0: " + r.stderr[-500:])
        return 1
    print("extracted photos and mirrors in %.0f s" % secs)
    scores = {}
    for name, flags in (("softmax max4", ["--tap", "block2_pool", "--pool", "max4"]),
                        ("conv", ["--head", "conv", "--augment", "flip", "--epochs", "20"])):
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
    return vtlib.status()


if __name__ == "__main__":
    sys.exit(main())
