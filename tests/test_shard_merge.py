"""Sharded extraction and vggtap-merge on real photos (clothing-30, plus a
failed row): 3 shards (one interrupted with kill -9 and resumed) hold the
partition's blocks of rows; the merged store, virtual or materialised, holds
every dataset and attribute of a single-process run, row for row, read from
another working directory and after moving the folder; it copies no feature
data; vggtap-train and vggtap-predict give the same head and predictions on
it as on the single store; missing, unfinished, duplicated and mismatched
shards are refused with each problem named; a merged store whose shard file
is gone, or was replaced or re-extracted with other settings since the merge,
is refused by its readers instead of reading fill values or other features;
--out naming a shard (under any spelling) is refused. Uncompressed float32
maps merge the same way."""
import os
import shutil
import subprocess

import h5py
import numpy as np

import vtlib

EXTRACT, MERGE = vtlib.tool("vggtap-extract"), vtlib.tool("vggtap-merge")
TRAIN, PREDICT, INFO = vtlib.tool("vggtap-train"), vtlib.tool("vggtap-predict"), vtlib.tool("vggtap-info")
N_SHARDS = 3


def main():
    tmp = vtlib.tmpdir()
    rows = vtlib.sample(vtlib.CLOTHING, 4, seed=3)  # 40 real photos, 10 classes
    man = os.path.join(tmp, "m.csv")
    vtlib.write_manifest(man, vtlib.CLOTHING, rows)
    bad = os.path.join(tmp, "truncated.jpg")
    with open(os.path.join(vtlib.DATA, vtlib.CLOTHING, rows[0][0]), "rb") as src, open(bad, "wb") as dst:
        dst.write(src.read(600))
    with open(man, "a") as fh:  # a failed row: NaN features, no map chunk
        fh.write(f"{bad},dress\n")
    n_rows = len(rows) + 1
    base = [EXTRACT, "--weights", vtlib.WEIGHTS, "--manifest", man, "--tap", "block1_pool",
            "--keep", "maps,pooled", "--map-dtype", "float16", "--compress", "1", "--quiet"]

    single = os.path.join(tmp, "single.h5")
    vtlib.run(base + ["--out", single, "--threads", "2"])

    work = os.path.join(tmp, "run")
    os.makedirs(os.path.join(work, "shards"))
    shard = [os.path.join(work, "shards", f"s{i}.h5") for i in range(N_SHARDS)]
    for i in (0, 2):
        vtlib.run(base + ["--out", shard[i], "--shard", f"{i}/{N_SHARDS}", "--threads", "1"])

    # Shard 1 killed after its first part, then merged too early, then resumed.
    cmd1 = base + ["--out", shard[1], "--shard", f"1/{N_SHARDS}", "--threads", "1"]
    env = dict(os.environ, VGGTAP_PART_ROWS="2")
    # Killed while held (SIGSTOP) after its first part, so it cannot finish
    # first however busy the machine (one that did is started again).
    partial = shard[1] + ".partial"
    p = vtlib.start_held(lambda: subprocess.Popen(cmd1, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                         lambda: vtlib.has_part(partial), lambda: os.remove(shard[1]))
    p.kill()
    p.wait()
    merged = os.path.join(work, "merged.h5")
    r = vtlib.run([MERGE, "--out", merged] + shard, check=False)
    assert r.returncode == 1, r.returncode
    assert f"{shard[1]} is not finished: {partial}/ holds the rows done so far" in r.stderr, r.stderr
    assert not os.path.exists(merged) and not os.path.exists(merged + ".tmp")
    r = vtlib.run([c for c in cmd1 if c != "--quiet"], env=env)  # the same command resumes
    assert "resuming:" in r.stderr and os.path.exists(shard[1]), r.stderr

    # The partition: contiguous blocks floor(i*N/n) .. floor((i+1)*N/n).
    with h5py.File(single, "r") as f:
        all_paths = [p.decode() for p in f["images/path"][:]]
    for i, s in enumerate(shard):
        with h5py.File(s, "r") as f:
            first, end = i * n_rows // N_SHARDS, (i + 1) * n_rows // N_SHARDS
            assert f.attrs["shard_index"] == i and f.attrs["shard_count"] == N_SHARDS
            assert f.attrs["shard_first_row"] == first and f.attrs["n_rows"] == end - first
            assert f.attrs["global_n_rows"] == n_rows
            with h5py.File(single, "r") as g:
                assert f.attrs["global_rows_digest"] == g.attrs["rows_digest"]
            assert [p.decode() for p in f["images/path"][:]] == all_paths[first:end], f"shard {i} rows"

    # Virtual merge: everything equal to the single run, no feature copied.
    r = vtlib.run([MERGE, "--out", merged] + shard)
    assert "wrote" in r.stderr and f"{n_rows} rows from {N_SHARDS} shards" in r.stderr, r.stderr
    got = vtlib.assert_same_store(single, merged, "virtual merge")
    virtual = sorted(n for n, v in got.items() if v[2])
    assert virtual == ["features/block1_pool"] + [f"pooled/block1_pool/{k}" for k in ("avg1", "avg2", "avg4", "max1", "max2", "max4")], virtual
    assert not any(v[2] for n, v in got.items() if n.startswith("images/") or n == "classes")
    with h5py.File(merged, "r") as f:
        assert f.attrs["merged_shards"] == N_SHARDS and f.attrs["merged_features"] == "virtual"
        assert f["features/block1_pool"].virtual_sources()[0].file_name == "shards/s0.h5"
    assert os.path.getsize(merged) < os.path.getsize(single) / 20, (os.path.getsize(merged), os.path.getsize(single))
    assert os.path.getsize(merged) < os.path.getsize(shard[0]) / 5

    info = vtlib.run([INFO, merged]).stdout
    assert f"merged         from {N_SHARDS} shards; features are virtual" in info, info
    lo, hi = n_rows // N_SHARDS, 2 * n_rows // N_SHARDS - 1
    info = vtlib.run([INFO, shard[1]]).stdout
    assert f"shard          1/{N_SHARDS}: rows {lo}..{hi} of {n_rows}" in info, info

    # Another working directory; then the folder moved as a whole.
    elsewhere = os.path.join(tmp, "elsewhere")
    os.makedirs(elsewhere)
    cwd = os.getcwd()
    os.chdir(elsewhere)
    vtlib.assert_same_store(single, os.path.relpath(merged), "merged store read from another directory")
    os.chdir(cwd)
    moved = os.path.join(tmp, "moved")
    shutil.move(work, moved)
    vtlib.assert_same_store(single, os.path.join(moved, "merged.h5"), "merged store after moving its folder")
    shutil.move(moved, work)

    # A merged store in a sibling folder names the shards through "..".
    sibling = os.path.join(tmp, "sibling", "m.h5")
    os.makedirs(os.path.dirname(sibling))
    vtlib.run([MERGE, "--out", sibling] + shard)
    with h5py.File(sibling, "r") as f:
        assert f["features/block1_pool"].virtual_sources()[0].file_name == "../run/shards/s0.h5"
    os.chdir(elsewhere)
    vtlib.assert_same_store(single, "../sibling/m.h5", "merged store in a sibling folder")
    os.chdir(cwd)

    # train and predict: the merged store gives what the single store gives.
    heads = {}
    for name, store in (("single", single), ("merged", merged)):
        head = os.path.join(tmp, f"head-{name}.h5")
        vtlib.run([TRAIN, "--store", store, "--tap", "block1_pool", "--pool", "avg2+max2", "--out", head, "--quiet"],
                  cwd=elsewhere)
        pred = vtlib.run([PREDICT, "--head", head, "--store", store, "--format", "csv"], cwd=elsewhere).stdout
        with h5py.File(head, "r") as f:
            params = {}
            f.visititems(lambda n, o: params.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) and o.dtype.kind == "f" else None)
        heads[name] = (params, pred)
    (pa, preda), (pb, predb) = heads["single"], heads["merged"]
    assert sorted(pa) == sorted(pb) and all(np.array_equal(pa[k], pb[k], equal_nan=True) for k in pa), "heads differ"
    assert preda == predb and preda.count("\n") == n_rows + 1, "predictions differ"

    # Materialised: a real, self-contained copy, equal to the single run.
    copy = os.path.join(tmp, "copy.h5")
    r = vtlib.run([MERGE, "--materialize", "--out", copy] + shard)
    got = vtlib.assert_same_store(single, copy, "materialised merge")
    assert not any(v[2] for v in got.values()), "materialised store has virtual datasets"
    with h5py.File(copy, "r") as f, h5py.File(single, "r") as g:
        assert f["features/block1_pool"].chunks == g["features/block1_pool"].chunks
        assert f["features/block1_pool"].compression == "gzip"

    # Uncompressed float32 maps (stored differently by the writer): the same.
    plain = [c for c in base if c not in ("--compress", "1")]
    plain = [c if c != "float16" else "float32" for c in plain] + ["--size", "64"]
    pdir = os.path.join(tmp, "plain")
    os.makedirs(pdir)
    vtlib.run(plain + ["--out", os.path.join(pdir, "single.h5")])
    pshards = [os.path.join(pdir, f"s{i}.h5") for i in range(2)]
    for i, s in enumerate(pshards):
        vtlib.run(plain + ["--out", s, "--shard", f"{i}/2", "--threads", "1"])
    for flags, m in (([], "virtual.h5"), (["--materialize"], "copy.h5")):
        vtlib.run([MERGE] + flags + ["--out", os.path.join(pdir, m)] + pshards)
        vtlib.assert_same_store(os.path.join(pdir, "single.h5"), os.path.join(pdir, m), f"uncompressed maps, {m}")

    # A shard file gone: readers refuse the merged store (HDF5 would read NaN).
    os.rename(shard[2], shard[2] + ".away")
    r = vtlib.run([INFO, merged], check=False)
    assert r.returncode != 0 and "shards/s2.h5, which is missing" in r.stderr, r.stderr
    r = vtlib.run([TRAIN, "--store", merged, "--out", os.path.join(tmp, "h.h5"), "--quiet"], check=False)
    assert r.returncode != 0 and "s2.h5, which is missing" in r.stderr, r.stderr
    vtlib.run([INFO, copy])  # the materialised copy needs no shard
    shutil.copy(shard[0], shard[2])  # another shard in its place
    r = vtlib.run([PREDICT, "--head", os.path.join(tmp, "head-merged.h5"), "--store", merged], check=False)
    first2 = 2 * n_rows // N_SHARDS
    assert r.returncode != 0 and f"shards/s2.h5, which is the shard starting at row 0, not {first2}: it has changed since the merge" in r.stderr, r.stderr
    with h5py.File(shard[2], "r+") as f:  # it printed an uninitialised row number
        del f.attrs["shard_first_row"]
    r = vtlib.run([INFO, merged], check=False)
    assert r.returncode == 1 and "shards/s2.h5, which has no integer shard_first_row attribute" in r.stderr, r.stderr
    # shard 2 re-extracted since the merge with another preprocessing: the
    # same rows and shapes, other features (they used to be read silently)
    vtlib.run(base + ["--out", shard[2], "--shard", f"2/{N_SHARDS}", "--threads", "1", "--preprocess", "torch", "--overwrite"])
    for tool in ([TRAIN, "--store", merged, "--out", os.path.join(tmp, "h.h5"), "--quiet"], [INFO, merged]):
        r = vtlib.run(tool, check=False)
        assert r.returncode == 1 and r.stderr.count("s2.h5, which has preprocessing 'torch', the merged store 'caffe'") == 1, r.stderr
        assert not os.path.exists(os.path.join(tmp, "h.h5"))
    os.rename(shard[2] + ".away", shard[2])
    vtlib.run([INFO, merged])

    # --out naming a shard under another spelling is refused, the shard untouched
    # (with --overwrite it was replaced by a store reading itself)
    before = open(shard[0], "rb").read()
    for alias in (os.path.join(work, "shards", ".", "s0.h5"), os.path.relpath(shard[0])):
        r = vtlib.run([MERGE, "--overwrite", "--out", alias] + shard, check=False)
        assert r.returncode == 2 and f"--out {alias} is the shard {shard[0]}" in r.stderr, r.stderr
    assert open(shard[0], "rb").read() == before, "vggtap-merge --out ./shard overwrote the shard"

    # Refusals, each problem named.
    out = os.path.join(tmp, "x.h5")
    r = vtlib.run([MERGE, "--out", out, shard[0], shard[0], single], check=False)
    assert r.returncode == 1
    lo, hi = n_rows // N_SHARDS, 2 * n_rows // N_SHARDS - 1
    for msg in (f"{shard[0]} and {shard[0]} are both shard 0/{N_SHARDS}",
                f"shard 1/{N_SHARDS} (rows {lo}..{hi}) is missing: extract it with --shard 1/{N_SHARDS}",
                f"{single} is a whole store, not a shard"):
        assert msg in r.stderr, (msg, r.stderr)
    other = os.path.join(tmp, "other.h5")
    vtlib.run([c if c != "float16" else "float32" for c in base] + ["--out", other, "--shard", f"1/{N_SHARDS}"])
    r = vtlib.run([MERGE, "--out", out, shard[0], other, shard[2]], check=False)
    assert r.returncode == 1 and f"map_dtype: {shard[0]} has 'float16', {other} has 'float32'" in r.stderr, r.stderr
    r = vtlib.run([MERGE, "--out", merged] + shard, check=False)
    assert r.returncode == 1 and "exists; pass --overwrite" in r.stderr, r.stderr
    assert not os.path.exists(out), "a refused merge left its output"
    r = vtlib.run([EXTRACT] + base[1:] + ["--out", out, "--shard", f"{N_SHARDS}/{N_SHARDS}"], check=False)
    assert r.returncode == 2 and "--shard" in r.stderr, r.stderr
    r = vtlib.run([EXTRACT] + base[1:] + ["--out", out, "--shard", f"0/{n_rows + 1}"], check=False)
    assert r.returncode == 1 and f"{n_rows} images cannot fill {n_rows + 1} shards" in r.stderr, r.stderr
    print("ok")


if __name__ == "__main__":
    main()
