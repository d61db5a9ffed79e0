"""test_durable: what the programs publish survives a power cut
(docs/RELIABILITY.md). Every closed part of a store in progress, the
finished store, a merged store and a head file are written under a
temporary name, fsynced, renamed to their name, and then the directory
holding the new name is fsynced (so the rename itself is on disk). With
maps written in place (OUT.partial/maps.h5), the map file is synced before
each part that counts its rows as done is renamed.
Read from the system calls the programs make (strace -f -y: fsync shows
the path behind its descriptor); 24 real photos at 32x32, parts of 8 rows.
Skipped (77) when strace is not installed or cannot trace here."""
import os
import re
import shutil
import subprocess

import vtlib

if not shutil.which("strace"):
    vtlib.skip("strace is not installed (apt-get install strace)")
tmp = vtlib.tmpdir()
probe = subprocess.run(["strace", "-f", "-qq", "-e", "trace=fsync", "-o", os.devnull, "true"],
                       capture_output=True, text=True)
if probe.returncode != 0:
    vtlib.skip("strace cannot trace here: " + probe.stderr.strip())


def traced(args, env=None):
    """Runs args under strace; the fsync and rename calls, in order, as
    ("fsync", path) and ("rename", old, new) with absolute paths."""
    log = os.path.join(tmp, "strace.txt")
    env = dict(env or os.environ)
    if "ASAN_OPTIONS" in env:  # LeakSanitizer cannot run under ptrace (the rest of the suite checks leaks)
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
    vtlib.run(["strace", "-f", "-y", "-qq", "-o", log, "-e", "trace=fsync,fdatasync,rename,renameat,renameat2"] + args,
              env=env, cwd=tmp)
    calls = []
    for line in open(log):
        m = re.search(r'(fsync|fdatasync)\(\d+<([^>]*)>\) = 0', line)
        if m:
            calls.append((m.group(1), m.group(2)))
            continue
        m = re.search(r'rename(?:at2?)?\((?:[^,]*, )?"([^"]*)", (?:[^,]*, )?"([^"]*)"', line)
        if m and " = 0" in line:
            calls.append(("rename", os.path.join(tmp, m.group(1)), os.path.join(tmp, m.group(2))))
    return calls


def check_published(calls, final, what):
    """final was renamed into place after its temporary file was fsynced,
    and its directory fsynced after the rename."""
    final = os.path.realpath(final)
    renames = [i for i, c in enumerate(calls) if c[0] == "rename" and os.path.realpath(c[2]) == final]
    vtlib.check(len(renames) == 1, f"{what}: renamed into place once ({len(renames)} renames to {final})")
    if not renames:
        return
    i = renames[0]
    src = os.path.realpath(calls[i][1])
    vtlib.check(("fsync", src) in calls[:i], f"{what}: {os.path.basename(src)} fsynced before the rename",
                show_ok=True)
    vtlib.check(("fsync", os.path.dirname(final)) in calls[i + 1:],
                f"{what}: its directory fsynced after the rename", show_ok=True)


rows = vtlib.sample(vtlib.CLOTHING, 3)[:24]
man = os.path.join(tmp, "m.csv")
vtlib.write_manifest(man, vtlib.CLOTHING, rows)
extract = [vtlib.tool("vggtap-extract"), "--weights", vtlib.WEIGHTS, "--manifest", man, "--tap", "block1_pool",
           "--size", "32", "--threads", "1", "--quiet"]
env = dict(os.environ, VGGTAP_PART_ROWS="8")

# a store: its parts while in progress, then the store itself
store = os.path.join(tmp, "s.h5")
calls = traced(extract + ["--out", store], env)
parts = sorted({c[2] for c in calls if c[0] == "rename" and "/s.h5.partial/" in c[2] and "plan" not in c[2]})
vtlib.check(len(parts) == 3, f"3 parts of 8 rows closed ({len(parts)})", show_ok=True)
for p in parts:
    check_published(calls, p, "part " + os.path.basename(p))
check_published(calls, store, "the finished store")

# maps written in place: maps.h5 synced before each part's rename
maps_store = os.path.join(tmp, "maps.h5")
calls = traced(extract + ["--keep", "pooled,maps", "--out", maps_store], env)
partial = os.path.join(os.path.realpath(tmp), "maps.h5.partial")
check_published(calls, os.path.join(partial, "maps.h5"), "the map file")
renames = [i for i, c in enumerate(calls) if c[0] == "rename" and "/part-" in c[2]]
vtlib.check(len(renames) == 3, f"maps: 3 parts closed ({len(renames)})")
for k, i in enumerate(renames):
    since = calls[renames[k - 1] + 1 if k else 0:i]
    vtlib.check(("fdatasync", os.path.join(partial, "maps.h5")) in since,
                f"maps: maps.h5 synced before {os.path.basename(calls[i][2])} was renamed", show_ok=True)
check_published(calls, maps_store, "the store with maps")

# a merged store, from two shards
shards = [os.path.join(tmp, f"shard{i}.h5") for i in range(2)]
for i, s in enumerate(shards):
    vtlib.run(extract + ["--shard", f"{i}/2", "--out", s], env=env)
merged = os.path.join(tmp, "merged.h5")
check_published(traced([vtlib.tool("vggtap-merge"), "--quiet", "--out", merged] + shards), merged, "the merged store")

# a head
head = os.path.join(tmp, "head.h5")
check_published(traced([vtlib.tool("vggtap-train"), "--store", store, "--out", head, "--quiet"]), head,
                "the head file")

if vtlib.failures:
    raise SystemExit(f"{len(vtlib.failures)} failed: " + "; ".join(vtlib.failures))
print("ok: parts, store, merged store and head are fsynced before their rename, their directory after")
