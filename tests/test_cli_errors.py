"""The programs' messages for bad lists, bad flags and unusable stores and
heads that no other test reached (a coverage run of the suite found them
unexercised): each case must exit with the documented status, say what is
wrong naming the file (or flag) at fault, print nothing on standard output
and leave nothing behind (no --out, no OUT.partial/).

Stores are extracted from real photos (data/clothing-30: hats and shoes) at
32x32, which is enough for messages about lists, splits and labels."""
import os
import sys

import h5py

import vtlib

EXTRACT, TRAIN, PREDICT, CONFIG, MERGE, INFO, MOSAIC = (
    vtlib.tool("vggtap-" + n) for n in ("extract", "train", "predict", "config", "merge", "info", "mosaic"))
CLOTHING = os.path.join(vtlib.DATA, vtlib.CLOTHING)

failures = []


def expect(name, args, status, *needles, out=None):
    """Runs args; wants exit `status`, every needle in stderr, an empty
    stdout, and no `out` (nor out.partial/) afterwards."""
    p = vtlib.run(args, check=False)
    problems = []
    if p.returncode != status:
        problems.append(f"exit {p.returncode}, wanted {status}")
    problems += [f"stderr lacks {n!r}" for n in needles if n not in p.stderr]
    if p.stdout:
        problems.append(f"stdout not empty: {p.stdout[:200]!r}")
    if out and (os.path.exists(out) or os.path.exists(out + ".partial")):
        problems.append(f"{out} or its .partial/ was left behind")
    if problems:
        failures.append(name)
        print(f"FAIL {name}: {'; '.join(problems)}\n    stderr: {p.stderr.strip()}")
    else:
        print(f"ok   {name}: {p.stderr.strip().splitlines()[0]}")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def split_manifest(path, split_of):
    """12 photos, 6 per class (hat, shoes), with a split column given by
    split_of(class, index within class)."""
    lines = ["path,label,split"]
    for c in ("hat", "shoes"):
        for i, f in enumerate(sorted(os.listdir(os.path.join(CLOTHING, c)))[:6]):
            lines.append(f"{os.path.join(CLOTHING, c, f)},{c},{split_of(c, i)}")
    return write(path, "\n".join(lines) + "\n")


def extract(manifest, out, *flags):
    vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--manifest", manifest, "--size", "32", "--quiet",
               "--out", out] + list(flags))
    return out


def main():
    tmp = vtlib.tmpdir()
    photo = os.path.join(CLOTHING, "hat", sorted(os.listdir(os.path.join(CLOTHING, "hat")))[0])
    out = os.path.join(tmp, "out.h5")
    x = [EXTRACT, "--weights", vtlib.WEIGHTS, "--tap", "block1_pool", "--size", "32", "--quiet", "--out", out]

    # --- vggtap-extract: image lists that hold no usable images (exit 1) ---
    flat = os.path.join(tmp, "flat")
    os.makedirs(flat)
    os.symlink(photo, os.path.join(flat, "a.jpg"))
    expect("a folder of images without class folders", x + ["--data", flat], 1,
           f"{flat}: no class folders, only 1 image file", f"--files {flat}", out=out)
    os.makedirs(os.path.join(tmp, "hollow", "a"))
    os.makedirs(os.path.join(tmp, "hollow", "b"))
    expect("class folders without images", x + ["--data", os.path.join(tmp, "hollow")], 1,
           f"{tmp}/hollow: no image files in any class folder", out=out)
    expect("a data folder that does not exist", x + ["--data", os.path.join(tmp, "nowhere")], 1,
           f"{tmp}/nowhere: cannot read data directory: No such file or directory", out=out)
    empty = os.path.join(tmp, "empty")
    os.makedirs(os.path.join(empty, "sub"))
    expect("--files with a folder holding no images", x + ["--files", empty], 1,
           f"{empty}: no image files in this folder or below", out=out)
    expect("--files with two such folders", x + ["--files", empty, os.path.join(empty, "sub")], 1,
           f"no image files in any of the 2 folders given ({empty}, ...)", out=out)
    manifests = {
        "an empty manifest": ("", "empty manifest (expected a header line with a 'path' column)"),
        "a manifest without a path column": ("file,label\nx.jpg,a\n", "line 1: no 'path' column in the header"),
        "a manifest of a header only": ("path,label\n", "the manifest lists no images"),
        "a manifest row with an empty path": (f"path,label\n{photo},a\n,b\n", "line 3: empty path"),
        "a manifest with an unterminated quote": (f'path,label\n"{photo},a\n', "line 2: unterminated quoted field"),
    }
    for name, (text, reason) in manifests.items():
        m = write(os.path.join(tmp, "m.csv"), text)
        expect(name, x + ["--manifest", m], 1, f"{m}: {reason}", out=out)
    m = write(os.path.join(tmp, "ok.csv"), f"path,label\n{photo},hat\n")
    expect("--label-col naming no column", x + ["--manifest", m, "--label-col", "kind"], 1,
           f"{m}: line 1: no 'kind' column in the header", out=out)
    expect("--split-col naming no column", x + ["--manifest", m, "--split-col", "part"], 1,
           f"{m}: line 1: no 'part' column in the header", out=out)

    # --- vggtap-extract: what listing passed over, in the singular where there is one ---
    odd = os.path.join(tmp, "odd")
    for d in ("a", "b", "empty"):
        os.makedirs(os.path.join(odd, d))
    for d in ("a", "b"):
        os.symlink(photo, os.path.join(odd, d, "p.jpg"))
    os.symlink(photo, os.path.join(odd, "stray.jpg"))
    write(os.path.join(odd, "a", "notes.txt"), "not an image\n")
    p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--size", "32", "--data", odd, "--out",
                   os.path.join(tmp, "odd.h5")], check=False)
    notes = ["note: 1 non-image file ignored", "note: 1 folder without image files is not a class (empty)",
             f"note: 1 image file directly in {odd} ignored"]
    missing = [n for n in notes if n not in p.stderr]
    if p.returncode != 0 or missing:
        failures.append("singular notes")
        print(f"FAIL singular notes: exit {p.returncode}, lacks {missing}\n    stderr: {p.stderr.strip()}")
    else:
        print("ok   singular notes: " + "; ".join(notes))

    # --- vggtap-extract: bad flag values (exit 2) ---
    for flag, value, reason in [("--size", "32x", "--size: '32x' is not N or HxW"),
                                ("--preprocess", "bogus", "--preprocess: unknown mode 'bogus' (caffe or torch)"),
                                ("--map-dtype", "f8", "--map-dtype is float32 or float16, not 'f8'"),
                                ("--keep", "all", "--keep: 'all' is not pooled, maps or maps,pooled"),
                                ("--keep", "maps,all", "--keep: 'maps,all' is not pooled, maps or maps,pooled")]:
        expect(f"extract {flag} {value}", x + ["--manifest", m, flag, value], 2, reason, out=out)

    # --- vggtap-train: stores it cannot train or evaluate on ---
    two = extract(split_manifest(os.path.join(tmp, "split.csv"), lambda c, i: "val" if i == 4 else "train"),
                  os.path.join(tmp, "two.h5"), "--split-col", "split", "--tap", "block1_pool,block2_pool")
    head = os.path.join(tmp, "head.h5")
    t = [TRAIN, "--store", two, "--quiet", "--out", head]
    expect("a store of two taps without --tap", t, 1,
           f"{two} holds taps block1_pool,block2_pool: say which with --tap", out=head)
    for flag, value, choices in [("--lr-schedule", "linear", "constant, cosine or step"),
                                 ("--class-weight", "equal", "none or balanced"),
                                 ("--split", "halves", "random or manifest"),
                                 ("--features", "all", "auto, pooled or maps")]:
        expect(f"train {flag} {value}", t + ["--tap", "block1_pool", flag, value], 2,
               f"{flag} is {choices}, not '{value}'", out=head)
    dev = extract(split_manifest(os.path.join(tmp, "dev.csv"), lambda c, i: "dev" if i == 4 else "train"),
                  os.path.join(tmp, "dev.h5"), "--split-col", "split")
    expect("--split manifest with a split named dev", [TRAIN, "--store", dev, "--split", "manifest", "--quiet",
                                                       "--out", head], 1,
           f"{dev}: row 4 (", "): split 'dev' is not train, val or test", out=head)
    lopsided = extract(split_manifest(os.path.join(tmp, "lop.csv"),
                                      lambda c, i: "val" if c == "shoes" or i == 5 else "train"),
                       os.path.join(tmp, "lop.h5"), "--split-col", "split")
    expect("--split manifest leaving a class no training rows",
           [TRAIN, "--store", lopsided, "--split", "manifest", "--quiet", "--out", head], 1,
           f"{lopsided}: class 'shoes' has no training rows after the split", out=head)
    unlabelled = os.path.join(tmp, "unlabelled.csv")
    write(unlabelled, "path\n" + "".join(f"{os.path.join(CLOTHING, 'hat', f)}\n"
                                         for f in sorted(os.listdir(os.path.join(CLOTHING, "hat")))[:3]))
    blind = extract(unlabelled, os.path.join(tmp, "blind.h5"))
    expect("--eval on a store without labels", t + ["--tap", "block1_pool", "--eval", blind], 1,
           f"{blind} has no labelled rows to evaluate on (3 rows: 3 unlabelled, 0 failed)", out=head)

    # --- vggtap-predict: bad flags and a head from a newer vggtap ---
    vtlib.run(t + ["--tap", "block1_pool"])
    expect("predict with an unknown option", [PREDICT, "--head", head, "--bogus", "x"], 2,
           "vggtap-predict: unknown option '--bogus'\n(see vggtap-predict --help)")
    future = os.path.join(tmp, "future.h5")
    with open(head, "rb") as src, open(future, "wb") as dst:
        dst.write(src.read())
    with h5py.File(future, "a") as f:
        version = int(f.attrs["format_version"])
        f.attrs["format_version"] = version + 1
    expect("predict with a head of a newer format", [PREDICT, "--head", future, "--store", two], 1,
           f"{future}: format_version {version + 1} is newer than this vggtap reads ({version})")

    # --- a merged store whose shard was replaced after the merge ---
    shards = [extract(os.path.join(tmp, "split.csv"), os.path.join(tmp, f"s{i}.h5"), "--shard", f"{i}/2")
              for i in (0, 1)]
    merged, head2 = os.path.join(tmp, "merged.h5"), os.path.join(tmp, "head2.h5")
    vtlib.run([MERGE, "--out", merged] + shards)
    write(shards[1], "not a store any more\n")
    expect("train on a merged store whose shard is now junk", [TRAIN, "--store", merged, "--quiet", "--out", head2],
           1, f"{merged}: /pooled/block1_pool/avg1: rows 6..11 are in {shards[1]}, which is not a readable HDF5 file",
           out=head2)
    os.remove(shards[1])
    extract(os.path.join(tmp, "dev.csv"), shards[1], "--shard", "1/2")
    expect("train on a merged store whose shard is of another list",
           [TRAIN, "--store", merged, "--quiet", "--out", head2], 1,
           f"rows 6..11 are in {shards[1]}, which is a shard of another image list", "or merge again", out=head2)

    # --- usage errors of the other programs (exit 2) ---
    png = os.path.join(tmp, "m.png")
    expect("mosaic of a stored map with --size", [MOSAIC, "--store", two, "--row", "0", "--tap", "block1_pool",
                                                  "--size", "64", "--out", png], 2,
           "--store draws stored maps: --weights, --size, --resize, --preprocess do not apply", out=png)
    expect("info --csv without --table", [INFO, "--csv", os.path.join(tmp, "t.csv"), two], 2,
           "--csv goes with --table", out=os.path.join(tmp, "t.csv"))
    expect("merge without --out", [MERGE] + shards[:1], 2, "give --out MERGED.h5 and the shard files")

    # --- vggtap-config get: a key the config does not have, and no default ---
    ini = write(os.path.join(tmp, "c.ini"), "[vggtap]\nwork = runs\n[extract]\ndata = d\n")
    expect("config get of a missing key", [CONFIG, "get", ini, "extract", "tap"], 1,
           f"{ini}: no key 'tap' in [extract]")

    # --- every program says the same of an unknown option, with "did you mean" ---
    for prog, args, typo, near in [
            (EXTRACT, x + ["--manifest", m], "--dta", "--data"),
            (TRAIN, t, "--pol", "--pool"),
            (PREDICT, [PREDICT, "--head", head, photo], "--hed", "--head"),
            (INFO, [INFO, two], "--tabel", "--table"),
            (MOSAIC, [MOSAIC, "--image", photo, "--tap", "block1_pool", "--out", png], "--chanels", "--channels"),
            (MERGE, [MERGE, "--out", merged] + shards, "--materialise", "--materialize"),
            (CONFIG, [CONFIG, "check", ini], "--ot", "--out")]:
        name = os.path.basename(prog)
        expect(f"{name} {typo}", args + [typo], 2,
               f"{name}: unknown option '{typo}' (did you mean {near}?)\n(see {name} --help)", out=out)
    expect("a single-dash option", x + ["--manifest", m, "-tap", "block1_pool"], 2,
           "unknown option '-tap' (did you mean --tap?)", out=out)
    expect("an option without its value", t + ["--tap"], 2, "vggtap-train: --tap needs a value", out=head2)
    expect("a value given to a switch", x + ["--manifest", m, "--quiet=yes"], 2,
           "--quiet takes no value (given '--quiet=yes')", out=out)
    expect("an ambiguous abbreviation", x + ["--manifest", m, "--st", "x"], 2,
           "option '--st' is ambiguous: --store, --strict", out=out)

    # --- vggtap-extract's --store pooled|maps is --keep now: the old name says so ---
    expect("extract --store maps (the old name of --keep)", x + ["--manifest", m, "--store", "maps"], 2,
           "--store is now --keep (what the store keeps: pooled, maps or maps,pooled); --out names the "
           "store file", out=out)
    old_key = write(os.path.join(tmp, "old.ini"), "[extract]\ndata = d\nstore = maps,pooled\n")
    expect("config [extract] store = ... (the old name of keep)", [CONFIG, "check", old_key], 1,
           f"{old_key}:3: --store is now --keep")
    expect("extract --config with [extract] store", [EXTRACT, "--config", old_key, "--out", out], 2,
           f"{old_key}:3: --store is now --keep", out=out)

    # --- vggtap-config check reads every section as its program does, before any work ---
    typo = write(os.path.join(tmp, "typo.ini"), "[extract]\ndata = d\ntap = block1_pool\n[train]\nseed = 1\npol = max4\n")
    expect("config check of a [train] typo", [CONFIG, "check", typo], 1,
           f"vggtap-config: {typo}:6: [train] unknown key 'pol' (did you mean 'pool'?)")
    bad_pool = write(os.path.join(tmp, "pool.ini"), "[train]\npool = max4,avgx\n")
    expect("config check of a [train] value", [CONFIG, "check", bad_pool], 1, f"{bad_pool}:2: --pool: ")
    too_small = write(os.path.join(tmp, "small.ini"), "[extract]\ntap = block5_pool\nsize = 16\n")
    expect("config check of [extract] taps that do not fit", [CONFIG, "check", too_small], 1,
           f"{too_small}: [extract] a 16x16 input is too small for block5_pool")
    top0 = write(os.path.join(tmp, "top.ini"), "[predict]\ntop = 0\n")
    expect("config check of a [predict] value", [CONFIG, "check", top0], 1,
           f"{top0}:2: --top wants a whole number in 1..100000, not '0'")

    print(f"{len(failures)} of the cases failed" if failures else "all cases passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
