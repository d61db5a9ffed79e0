#!/usr/bin/env bash
# Submits a sharded vggtap extraction to Slurm (docs/SCALING.md): a job
# array with one vggtap-extract --shard I/N per task, and a merge job that
# starts when every task has succeeded (--dependency=afterok).
#
#   slurm/submit.sh --shards N --out MERGED.h5 [--materialize] [--sbatch "OPTS"] \
#       -- EXTRACT_ARGS...
#
# EXTRACT_ARGS are vggtap-extract's options except --out, --shard and
# --threads (e.g. --manifest photos.csv --tap block2_pool --weights W.h5).
# The shards go to MERGED.shards/ beside MERGED.h5, logs to
# MERGED.shards/slurm-*.out. OPTS are passed to both sbatch calls (e.g.
# "--partition=cpu --time=4:00:00"; --cpus-per-task=K gives each shard K
# threads). Paths must be visible from every node (a shared filesystem).
# Prints "ARRAY_JOB_ID MERGE_JOB_ID" on standard output.
#
# Running it again after a failure resubmits everything: finished shards
# return at once ("nothing to do"), unfinished ones resume.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${VGGTAP_BIN:-$(cd "$here/.." && pwd)/bin}
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
n= out= opts= merge_opts=()
while [ $# -gt 0 ]; do
  case $1 in
    --shards) n=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --materialize) merge_opts+=(--materialize); shift ;;
    --sbatch) opts=$2; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[ -n "$n" ] && [ -n "$out" ] && [ $# -gt 0 ] || usage
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: --shards: '$n' is not a positive whole number" >&2; exit 2; }
[ -x "$bin/vggtap-extract" ] || { echo "submit.sh: $bin/vggtap-extract missing: build vggtap (make) or set VGGTAP_BIN" >&2; exit 1; }
case $out in *.h5) ;; *) echo "submit.sh: --out must end in .h5" >&2; exit 2 ;; esac
dir=${out%.h5}.shards
mkdir -p "$dir"
# shellcheck disable=SC2086 # OPTS is a list of sbatch options
array=$(sbatch --parsable $opts --array=0-$((n - 1)) --output="$dir/slurm-%A_%a.out" \
  "$here/extract-shard.sbatch" "$bin" "$dir" "$n" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable $opts --dependency=afterok:"$array" --kill-on-invalid-dep=yes \
  --output="$dir/slurm-merge-%j.out" "$here/merge.sbatch" "$bin" "$out" "$dir" "$n" "${merge_opts[@]}")
merge=${merge%%;*}
echo "submit.sh: extraction array job $array ($n tasks), merge job $merge into $out" >&2
echo "$array $merge"
