"""The repository stays small and holds no build outputs, feature stores or
heads: the tracked files (git ls-files) total under 20 MB; none lies under
the build folders, bin/, demo/ or runs/, or is an object file, a library or
a program (ELF); the only HDF5 file (found by its signature, whatever its
name: stores and heads are HDF5 too) is the bundled
data/weights/vgg16_keras_prefix.h5. Skipped outside a git checkout (an
exported tarball has no list of tracked files)."""
import os
import subprocess
import sys

import vtlib

LIMIT = 20 * 1000 * 1000
ALLOWED_HDF5 = {"data/weights/vgg16_keras_prefix.h5"}
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # at 0, 512, 1024, 2048... (HDF5 file format, "Format Signature")
OUTPUT_DIRS = ("build/", "build-", "bin/", "demo/", "runs/")


def is_hdf5(head):
    return any(head[at:at + 8] == HDF5_SIGNATURE for at in (0, 512, 1024, 2048))


def main():
    p = subprocess.run(["git", "-C", vtlib.ROOT, "ls-files", "-z"], capture_output=True)
    if p.returncode != 0:
        vtlib.skip(f"skip: {vtlib.ROOT} is not a git checkout ({p.stderr.decode().strip()})")
    files = [f for f in p.stdout.decode().split("\0") if f]
    sizes = {}
    for f in files:
        path = os.path.join(vtlib.ROOT, f)
        if not os.path.isfile(path):  # tracked, but deleted in the working tree
            continue
        sizes[f] = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(2056)
        vtlib.check(not f.startswith(OUTPUT_DIRS), f"a build output or run is tracked: {f}")
        vtlib.check(not f.endswith((".o", ".a", ".so")), f"an object file or library is tracked: {f}")
        vtlib.check(not head.startswith(b"\x7fELF"), f"a program (ELF) is tracked: {f}")
        vtlib.check(not is_hdf5(head) or f in ALLOWED_HDF5, f"an HDF5 file (a store, head or weights?) is tracked: {f}")
    total = sum(sizes.values())
    largest = sorted(sizes, key=sizes.get, reverse=True)[:3]
    print(f"{len(sizes)} tracked files, {total / 1e6:.1f} MB; largest: "
          + ", ".join(f"{f} ({sizes[f] / 1e6:.2f} MB)" for f in largest))
    vtlib.check(total < LIMIT, f"the tracked files total {total / 1e6:.1f} MB, over {LIMIT / 1e6:.0f} MB")
    vtlib.check(all(f in sizes for f in ALLOWED_HDF5), "the bundled weights are not tracked")
    return 1 if vtlib.failures else 0


if __name__ == "__main__":
    sys.exit(main())
