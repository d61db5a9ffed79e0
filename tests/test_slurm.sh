#!/usr/bin/env bash
# test_slurm: slurm/submit.sh on a real single-node Slurm cluster started
# here on localhost (munged, slurmctld, slurmd as root, private config,
# sockets, ports and state under a temporary directory; stopped at the end).
# The job array extracts 150 real photos (data/clothing-30, block1_pool, maps and
# pooled vectors) as 2 shards, one per array task; the dependent merge job
# (afterok on the array) starts after both and writes a
# virtual merged store that must equal a single-process run row for row.
# Skipped (exit 77) when not root or when Slurm/munge are not installed
# (scripts/install-deps.sh installs them, so CI runs it).
set -euo pipefail
source "$(dirname "$0")/vtlib.sh"
DATA=$CLOTHING
[ "$(id -u)" = 0 ] || { echo "skip: starting slurmctld/slurmd/munged needs root"; exit 77; }
for c in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
  command -v $c >/dev/null || { echo "skip: $c not installed (apt-get install slurm-wlm munge)"; exit 77; }
done

tmp=$(mktemp -d /tmp/test_slurm.XXXXXX)
chmod 700 "$tmp" # munged refuses key and socket directories others can write
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap stop EXIT
show_logs() {
  for f in "$tmp"/log/*.log "$tmp"/run/store.shards/slurm-*.out; do
    [ -e "$f" ] && { echo "---- $f"; tail -n 15 "$f"; }
  done
}
die() { echo "FAIL: $*"; show_logs; exit 1; }
wait_for() { # seconds, description, command...
  local t=$1 what=$2
  shift 2
  for ((i = 0; i < t * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "timed out after ${t}s waiting for $what"
}

# ---- munge: a private key and socket
mkdir -m 700 "$tmp/munge" "$tmp/log" "$tmp/state" "$tmp/spool"
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
sock=$tmp/munge/munge.socket
munged --foreground --force --socket="$sock" --key-file="$tmp/munge/munge.key" \
  --pid-file="$tmp/munge/munged.pid" --seed-file="$tmp/munge/seed" \
  --log-file="$tmp/log/munged.log" >"$tmp/log/munged.out" 2>&1 &
pids+=($!)
wait_for 20 "munged's socket" test -S "$sock"

# ---- slurm.conf for this machine: its real CPUs and memory (slurmd -C)
node=$(slurmd -C | sed -n 's/^NodeName=\([^ ]*\).*/\1/p')
hw=$(slurmd -C | head -n 1 | cut -d' ' -f2-)
cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
# Two ports the kernel says are free (a random choice could be taken by a
# service, an outgoing connection or another run of this test).
read -r port dport < <(/usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
cat > "$tmp/slurm.conf" <<EOF
ClusterName=vggtaptest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=600
MailProg=/bin/true
NodeName=$node NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$tmp/slurm.conf
slurmctld -D -f "$SLURM_CONF" >"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$node" >"$tmp/log/slurmd.out" 2>&1 &
pids+=($!)
node_idle() { [ "$(sinfo -h -N -n "$node" -o %t)" = idle ]; }
wait_for 60 "node $node to be idle" node_idle
echo "slurm up: node $node, $cpus CPUs, port $port"

# ---- the data: 150 real photos, every 2nd row of the manifest
cd "$tmp"
awk -F, -v d="$DATA" 'NR == 1 { print "path,label"; next } NR % 2 == 0 { print d "/" $1 "," $2 }' \
  "$DATA/manifest.csv" > m.csv
n_rows=$(($(wc -l < m.csv) - 1))
[ "$n_rows" = 150 ] || die "expected 150 rows in the manifest subset, got $n_rows"
args=(--weights "$WEIGHTS" --manifest "$tmp/m.csv" --tap block1_pool --keep maps,pooled --map-dtype float16)

# ---- submit: 2 shards, one per array task, then the dependent merge
mkdir run
ids=$(bash "$ROOT/slurm/submit.sh" --shards 2 --out "$tmp/run/store.h5" -- "${args[@]}") \
  || die "submit.sh failed"
read -r array merge <<<"$ids"
[[ $array =~ ^[0-9]+$ && $merge =~ ^[0-9]+$ ]] || die "submit.sh printed '$ids', not two job ids"
dep=$(scontrol show job "$merge" | grep -o 'Dependency=[^ ]*')
[[ $dep == "Dependency=afterok:${array}_*"* ]] || die "merge job $merge: '$dep', expected afterok on array $array"
# squeue failing (slurmctld slow to answer on a busy machine) is not "gone"
jobs_gone() { local q; q=$(squeue -h -j "$array,$merge" -o %i) && [ -z "$q" ]; }
wait_for 300 "jobs $array and $merge to finish" jobs_gone
for t in 0 1; do
  state=$(scontrol show job "${array}_$t" | grep -o 'JobState=[A-Z_]*')
  [ "$state" = JobState=COMPLETED ] || die "array task ${array}_$t: $state"
  grep -q "vggtap shard $t/2 on " run/store.shards/slurm-${array}_$t.out || die "task $t log has no shard line"
  grep -q "wrote .*shard-$t-of-2.h5: 75 ok, 0 failed of 75 images" run/store.shards/slurm-${array}_$t.out \
    || die "task $t did not write its 75 rows"
done
state=$(scontrol show job "$merge" | grep -o 'JobState=[A-Z_]*')
[ "$state" = JobState=COMPLETED ] || die "merge job $merge: $state"
grep -q "wrote $tmp/run/store.h5: 150 rows from 2 shards" run/store.shards/slurm-merge-$merge.out \
  || die "merge log: $(cat run/store.shards/slurm-merge-$merge.out)"

# ---- the merged store equals a single-process run, row for row
"$BIN/vggtap-extract" "${args[@]}" --out single.h5 --threads 2 --quiet
mkdir elsewhere
cd elsewhere # read it from another working directory
PYTHONPATH=$ROOT/tests /usr/bin/python3 - "$tmp/single.h5" ../run/store.h5 <<'EOP' || die "merged store differs"
import sys, h5py, vtlib
got = vtlib.assert_same_store(sys.argv[1], sys.argv[2], "Slurm merge vs single run")
with h5py.File(sys.argv[2]) as f:
    assert f.attrs["merged_shards"] == 2 and f.attrs["n_rows"] == 150
    src = sorted(s.file_name for s in f["features/block1_pool"].virtual_sources())
    assert src == ["store.shards/shard-0-of-2.h5", "store.shards/shard-1-of-2.h5"], src
print("merged store == single run:", len(got), "datasets")
EOP
"$BIN/vggtap-train" --store ../run/store.h5 --out head.h5 --quiet >/dev/null || die "vggtap-train on the merged store"
echo ok
