"""Resume: kill -9 at 20 random moments of a real-data run (during start-up,
while parts are written and closed, and during assembly), plus one SIGINT
and one SIGTERM, re-running the same command each time; the final store must
hold exactly what an uninterrupted run writes, with no repair step. That is
done for float32 maps, which are written in place into OUT.partial/maps.h5
(extract/map_file.h), and again with fewer kills for compressed float16 maps,
which go through the parts. A store
or partial run made with other settings is refused with a message naming
what differs; --overwrite replaces it."""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

import vtlib

EXTRACT = vtlib.tool("vggtap-extract")
KILLS = 20          # kill -9s that land while the extractor runs
ASSEMBLY_KILLS = 3  # of them, during assembly
# Worker threads, fixed: by default one per core, and the rows a run still
# writes after a stop request (every slot of extract/pipeline.c filled and
# every worker holding a row) grow with them: on a many-core machine all 41
# would be in flight at once, and a SIGINT could not show a stopped run.
THREADS = 2
IN_FLIGHT = 3 * THREADS + 2


def same_nan(a, b):
    if a.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


class Run:
    """The resumed run: OUT.partial/ as the tests see it."""

    def __init__(self, cmd, env, out, n_rows):
        self.cmd, self.env, self.out, self.n_rows = cmd, env, out, n_rows
        self.partial = out + ".partial"

    def names(self):
        try:
            return os.listdir(self.partial)
        except FileNotFoundError:
            return []

    def n_parts(self):
        return sum(n.startswith("part-") and n.endswith(".h5") for n in self.names())

    def rows_in_parts(self):
        rows = []
        for n in self.names():
            if n.startswith("part-") and n.endswith(".h5"):
                with h5py.File(os.path.join(self.partial, n), "r") as f:
                    rows += list(f["rows"][:])
        assert len(rows) == len(set(rows)), "a row is in two parts"
        return len(rows)

    def assembling(self):
        names = self.names()
        return "assemble.h5.tmp" in names or "assembling" in names

    def start(self):
        return subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_until(self, proc, cond, timeout=120):
        deadline = time.time() + timeout
        while proc.poll() is None and not cond() and time.time() < deadline:
            time.sleep(0.0005)


def kill_during_extraction(run, rng, rows_per_part, max_delay):
    """Starts the run and kills it after 0-2 more parts close plus up to
    max_delay seconds (about one part's time)
    (so some land in start-up, some mid-part, some while a part closes),
    leaving the last two parts for later. Returns True if the kill landed
    (on a busy machine the run can get through the last two parts and the
    assembly before the test's kill: then it returns False, and the caller
    checks the store the run completed and starts again; completed)."""
    parts_left = -(-(run.n_rows - run.rows_in_parts()) // rows_per_part)
    more = min(rng.randint(0, 2), max(0, parts_left - 2))
    target = run.n_parts() + more
    proc = run.start()
    run.wait_until(proc, lambda: run.n_parts() >= target or run.assembling())
    time.sleep(rng.uniform(0, max_delay))
    return finish_kill(proc)


def finish_kill(proc):
    if proc.poll() is not None:
        _, err = proc.communicate()
        assert proc.returncode == 0, "the run failed instead of resuming (a stale lock?): " + err
        return False
    proc.kill()  # SIGKILL: no chance to clean up
    proc.communicate()
    return True


def stop_with(run, sig):
    """SIGINT/SIGTERM once a part has closed: exit 130, and every row the run
    says is safe is in a finished part (none lost, no part left open). The
    run is held (SIGSTOP) when the part appears and gets the signal there.
    Returns False when this run cannot show it: it completed before the
    hold, or the test saw the part so late (a busy machine) that the rows
    left may all be in flight already, and the run would rightly finish
    (then it is killed); the caller starts over from nothing."""
    target = run.n_parts() + 1
    proc = run.start()
    if not vtlib.hold(proc, lambda: run.n_parts() >= target):
        _, err = proc.communicate()
        assert proc.returncode == 0, err
        return False
    if run.n_rows - run.rows_in_parts() <= IN_FLIGHT:
        proc.kill()
        proc.communicate()
        return False
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (sig, proc.returncode, err)
    m = re.search(r"interrupted; (\d+) of (\d+) rows are safe", err)
    assert m and "Run the same command again" in err, err
    safe = int(m.group(1))
    assert safe == run.rows_in_parts(), (safe, run.rows_in_parts())
    assert not any(n.endswith(".tmp") for n in run.names()), run.names()
    print(f"{signal.Signals(sig).name}: exit 130, {safe} rows safe, all in finished parts")
    return True


def completed(run, ref):
    """The run completed before a kill could land (or the kill came after
    the store's rename): the store must equal the uninterrupted one. A kill
    just after the rename leaves OUT.partial/, which the same command
    removes. Then the store is removed, for the kills to go on."""
    vtlib.run(run.cmd)
    assert not os.path.exists(run.partial), run.names()
    a, b = vtlib.datasets(ref), vtlib.datasets(run.out)
    assert sorted(a) == sorted(b) and all(same_nan(a[k], b[k]) for k in a), "the completed store differs"
    os.remove(run.out)
    print("the run completed before the kill: its store equals the uninterrupted one")


def kill_and_resume(tmp, name, base, env, n_rows, rows_per_part, n_kills, assembly_kills):
    """Kills a run n_kills times (SIGINT and SIGTERM once each among them),
    assembly_kills of them during assembly, then lets it finish, and checks
    the store equals an uninterrupted run's."""
    ref = os.path.join(tmp, name + "-ref.h5")
    t0 = time.time()
    vtlib.run(base + ["--out", ref, "--quiet"], env=env)
    elapsed = time.time() - t0
    print(f"{name}: uninterrupted run: {elapsed:.1f} s")
    # within about one part's time, so a kill lands before the run ends
    max_delay = min(0.04, elapsed / n_rows * rows_per_part)

    out = os.path.join(tmp, name + ".h5")
    run = Run(base + ["--out", out], env, out, n_rows)
    rng = random.Random(1)
    t0 = time.time()
    kills = 0
    starts = 1
    stale_lock_seen = False
    stops = [(1, signal.SIGINT), (2, signal.SIGTERM)]  # once each: (after how many kills, signal)
    while kills < n_kills - assembly_kills:
        assert starts <= 20, "the test could not act in time in 20 runs"
        if stops and kills >= stops[0][0]:
            if stop_with(run, stops[0][1]):
                stops.pop(0)
            elif not os.path.exists(out):
                shutil.rmtree(run.partial)  # too far along to show a stop: again from nothing
                print("the stop came too late in the run; starting over from nothing")
                starts += 1
                continue
        landed = not os.path.exists(out) and kill_during_extraction(run, rng, rows_per_part, max_delay)
        if os.path.exists(out):  # it completed first, or the kill came after the store's rename
            completed(run, ref)
            print("starting over from nothing")
            starts += 1  # each start over is a complete, checked run; the bound
            # above only stops a machine where the test can never act in time
        elif landed:
            kills += 1
            stale_lock_seen |= "lock" in run.names()
            print(f"kill {kills}: {run.n_parts()} parts, {run.rows_in_parts()} of {n_rows} rows safe")

    assert not stops, stops

    # During assembly: the window is short, so a kill may come too late (the
    # run completes); then put back the parts as they were and try again.
    # (OUT.partial/ is missing if the last kill came in start-up, before it
    # was made.)
    late = 0
    while kills < n_kills:
        snapshot = os.path.join(tmp, "snapshot")
        shutil.rmtree(snapshot, ignore_errors=True)
        if os.path.exists(run.partial):
            shutil.copytree(run.partial, snapshot)
        proc = run.start()
        run.wait_until(proc, run.assembling)
        time.sleep(rng.uniform(0, 0.01))
        if finish_kill(proc) and not os.path.exists(out):
            kills += 1
            print(f"kill {kills}: during assembly")
            continue
        late += 1
        assert late < 20, "could not kill during assembly in 20 tries"
        completed(run, ref)
        print("putting back the parts for another try")
        if os.path.exists(snapshot):
            shutil.copytree(snapshot, run.partial)
    final = vtlib.run(run.cmd)  # finishes whatever is left
    print(final.stderr.strip().splitlines()[-1])
    assert stale_lock_seen, "no kill left a lock file behind: the stale-lock case was not exercised"
    assert os.path.exists(out) and not os.path.exists(run.partial)
    print(f"{name}: {kills} kill -9 ({assembly_kills} during assembly, {late} too late and retried), "
          f"SIGINT and SIGTERM, {starts} start(s) from nothing: {time.time() - t0:.1f} s")

    a, b = vtlib.datasets(ref), vtlib.datasets(out)
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))
    for k in a:
        assert same_nan(a[k], b[k]), k
    with h5py.File(out, "r") as f:
        assert list(f["images/status"][:]).count(2) == 1
    print(f"{name}: resumed store identical to the uninterrupted one:", len(a), "datasets")
    return out


def killed_after_part(cmd, env):
    """Runs cmd (... --out OUT) and kills it -9 while held (SIGSTOP) just
    after its first finished part: OUT.partial/ holds a part and more to do."""
    out = cmd[cmd.index("--out") + 1]
    proc = vtlib.start_held(lambda: subprocess.Popen(cmd, env=env), lambda: vtlib.has_part(out + ".partial"),
                            lambda: os.remove(out))
    proc.kill()
    proc.wait()
    assert vtlib.has_part(out + ".partial") and not os.path.exists(out)


def main():
    tmp = vtlib.tmpdir()
    rows = vtlib.sample(vtlib.CLOTHING, 4, seed=2)  # 40 images
    man = os.path.join(tmp, "m.csv")
    vtlib.write_manifest(man, vtlib.CLOTHING, rows)
    with open(man, "a") as fh:  # one failed row must survive resumes too
        fh.write(os.path.join(tmp, "missing.jpg") + ",dress\n")
    n_rows = len(rows) + 1
    # 112x112 inputs and 2-row parts: many parts from a short run
    common = [EXTRACT, "--weights", vtlib.WEIGHTS, "--manifest", man, "--threads", str(THREADS),
              "--tap", "block1_pool,block2_conv1",
              "--keep", "maps,pooled", "--size", "112"]
    rows_per_part = 2
    env = dict(os.environ, VGGTAP_PART_ROWS=str(rows_per_part))
    kill_and_resume(tmp, "in-place", common, dict(env, VGGTAP_PART_ROWS="1"), n_rows, 1, KILLS, ASSEMBLY_KILLS)
    base = common + ["--map-dtype", "float16", "--compress", "1"]
    out = kill_and_resume(tmp, "compressed", base, env, n_rows, rows_per_part, 6, 2)

    # other settings against a complete store: refused, naming the differences
    p = vtlib.run([EXTRACT, "--weights", vtlib.WEIGHTS, "--manifest", man, "--tap", "block1_pool",
                   "--preprocess", "torch", "--keep", "maps,pooled", "--map-dtype", "float16",
                   "--compress", "1", "--out", out], check=False)
    assert p.returncode == 1, p.returncode
    for word in ("taps", "preprocessing", "--overwrite"):
        assert word in p.stderr, (word, p.stderr)
    print(p.stderr.strip())
    # ... and against a partial one (a different input size)
    part_out = os.path.join(tmp, "p.h5")
    killed_after_part(base + ["--out", part_out, "--quiet"], env)
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

    # a damaged part is discarded and its rows redone: assembly trusts a
    # part's shapes and row indexes. Not 1-D rows (they were read whole into a
    # buffer sized by the first dimension), a row index out of range, a short
    # per-row table, pooled vectors of another width (each written past its
    # buffer or the store's tables before)
    damaged = os.path.join(tmp, "d.h5")
    killed_after_part(base + ["--out", damaged, "--quiet"], env)
    part = min(n for n in os.listdir(damaged + ".partial") if n.startswith("part-") and n.endswith(".h5"))

    def rows_2d(f):
        n = len(f["rows"])
        del f["rows"]
        f["rows"] = np.zeros((n, 64), np.int64)

    def row_out_of_range(f):
        r = f["rows"][()]
        r[-1] = 10**9
        f["rows"][...] = r

    def short_status(f):
        s = f["status"][()]
        del f["status"]
        f["status"] = s[:-1]

    def narrow_pooled(f):
        name = "pooled/" + sorted(f["pooled"].keys())[0]
        v = f[name][()]
        del f[name]
        f[name] = v[:, :-1]

    for damage, words in [(rows_2d, "discarding unreadable"),
                          (row_out_of_range, "discarding damaged {}: a row index out of range"),
                          (short_status, "discarding damaged {}: a per-row table of another length"),
                          (narrow_pooled, "discarding damaged {}: pooled vectors of another shape")]:
        out = os.path.join(tmp, damage.__name__ + ".h5")
        shutil.copytree(damaged + ".partial", out + ".partial")
        path = os.path.join(out + ".partial", part)
        with h5py.File(path, "r+") as f:
            damage(f)
        p = vtlib.run(base + ["--out", out], env=env, check=False)
        assert p.returncode == 0 and words.format(path) in p.stderr, (damage.__name__, p.stderr)
        with h5py.File(out, "r") as f, h5py.File(part_out, "r") as g:
            assert np.array_equal(f["images/status"][()], g["images/status"][()]), damage.__name__
        print(f"{damage.__name__}: part discarded, rows redone, statuses as a clean run's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
