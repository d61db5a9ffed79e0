#!/usr/bin/env bash
# test_configs: every shipped config parses, for every program that reads it
# (vggtap-config check for the sections no program owns; each program's own
# option table and value checks via --config FILE --help); docs/CONFIG.md
# documents every key; every program's --help lists exactly the options its
# parser takes; a wrong key or value in each section is an error that
# names the file and the line; flags win over the file.
set -uo pipefail
source "$(dirname "$0")/vtlib.sh"
for p in config extract train predict info mosaic merge; do
  [ -x "$BIN/vggtap-$p" ] || { echo "skip: $BIN/vggtap-$p missing"; exit 77; }
done
tmp=$(mktemp -d /tmp/test_configs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

shipped=("$ROOT"/configs/*.ini)
[ ${#shipped[@]} -ge 4 ] || fail "expected at least 4 configs, found ${#shipped[@]}"
for c in "${shipped[@]}"; do
  out=$("$BIN/vggtap-config" check "$c" 2>&1) || fail "$c: $out"
  for p in extract train predict; do
    out=$("$BIN/vggtap-$p" --config "$c" --help 2>&1 >/dev/null) || fail "vggtap-$p rejects $c: $out"
  done
  # The data a shipped config names exists: the demo's folders once `make
  # demo` made them; a benchmark config's sets in ../shared beside the
  # checkout, which a config that uses them must say it needs (a bare clone
  # has no ../shared).
  data=$("$BIN/vggtap-config" get "$c" extract data '' 2>&1)
  manifest=$("$BIN/vggtap-config" get "$c" extract manifest '' 2>&1)
  benchmark=$(grep -c "^; Benchmark config: it needs the project's larger photo sets" "$c")
  case "$data$manifest" in
    */demo/*) ;;
    "") fail "$c: [extract] names no data or manifest" ;;
    */shared/*) [ "$benchmark" = 1 ] || fail "$c uses ../shared but its header does not say it is a benchmark config"
      [ -e "$data$manifest" ] || [ ! -e "$ROOT/../shared" ] || fail "$c: $data$manifest does not exist" ;;
    *) [ -e "$data$manifest" ] || fail "$c: $data$manifest does not exist" ;;
  esac
done

# docs/CONFIG.md documents every key of every program's section: each long
# flag in the program's --help (but help, version, config) is a `key` there.
doc=$ROOT/docs/CONFIG.md
for p in extract train predict; do
  section=$(awk -v h="### [$p]" '$0 == h { on = 1; next } /^### / { on = 0 } on' "$doc")
  [ -n "$section" ] || fail "docs/CONFIG.md has no '### [$p]' section"
  for key in $("$BIN/vggtap-$p" --help | grep -oE '^  --[a-z0-9-]+|, --[a-z0-9-]+' | sed 's/.*--//' | sort -u); do
    case $key in help | version | config) continue ;; esac
    grep -q "\`$key\`" <<<"$section" || fail "docs/CONFIG.md [$p] does not document '$key'"
  done
done

# Every program's --help lists exactly the options its parser takes: the
# names in the source's option table (the file that defines the program's
# vt_program), with the shared groups it holds spelled out from their
# headers (VT_NET_OPTIONS, VT_NET_OPTION_THREADS, VT_NET_OPTION_PRECISION,
# VT_OPTIONS_HELP_VERSION),
# plus --config where the program reads configs (a config section in its
# vt_program), but an old name kept only to say what it is now (*_RENAMED),
# are the --flags that start a line of the option list (or follow ", " on it).
macro() { awk -v m="#define $1 " 'index($0, m) == 1 { on = 1 } on { print } on && !/\\$/ { exit }' "$2" |
          grep -oE '\{"[a-z0-9-]+"' | tr -d '{"'; }
for p in extract train predict info mosaic merge; do
  src=$(grep -l "\"vggtap-$p\", usage" "$ROOT"/extract/*.c "$ROOT"/train/*.c | head -1)
  table=$(awk '/options(_table)?\[\] = \{/, /\};/' "$src")
  parsed=$( { grep -v _RENAMED <<<"$table" | grep -oE '\{"[a-z0-9-]+"' | tr -d '{"'
              grep -q VT_NET_OPTIONS <<<"$table" && macro VT_NET_OPTIONS "$ROOT/common/net/vt_net_options.h"
              grep -q VT_NET_OPTION_THREADS <<<"$table" && macro VT_NET_OPTION_THREADS "$ROOT/common/net/vt_net_options.h"
              grep -q VT_NET_OPTION_PRECISION <<<"$table" && macro VT_NET_OPTION_PRECISION "$ROOT/common/net/vt_net_options.h"
              grep -q VT_OPTIONS_HELP_VERSION <<<"$table" && macro VT_OPTIONS_HELP_VERSION "$ROOT/common/base/vt_args.h"
              grep -qE "\"vggtap-$p\", usage, [a-z_]+, \"$p\"" "$src" && echo config; } | sort -u)
  listed=$("$BIN/vggtap-$p" --help | grep -oE '^  --[a-z0-9-]+|, --[a-z0-9-]+' | sed 's/.*--//' | sort -u)
  [ "$(wc -l <<<"$parsed")" -ge 3 ] || fail "vggtap-$p: found no option table in $src"
  [ "$parsed" = "$listed" ] || fail "vggtap-$p --help and its parser differ: only parsed: $(comm -23 \
    <(echo "$parsed") <(echo "$listed") | tr '\n' ' ')only listed: $(comm -13 <(echo "$parsed") <(echo "$listed") | tr '\n' ' ')"
done

# expect CONFIG_TEXT PROGRAM LINE PATTERN: PROGRAM --config fails (exit 2,
# or 1 for vggtap-config) with "FILE:LINE: ..." matching PATTERN.
expect() {
  local text=$1 prog=$2 line=$3 pattern=$4 f="$tmp/bad.ini" out rc
  printf '%b' "$text" > "$f"
  if [ "$prog" = config ]; then
    out=$("$BIN/vggtap-config" check "$f" 2>&1); rc=$?
  else
    out=$("$BIN/vggtap-$prog" --config "$f" --help 2>&1); rc=$?
  fi
  if [ $rc -eq 0 ]; then
    fail "vggtap-$prog accepted: $text"
  elif ! grep -q "$f:$line: .*$pattern" <<<"$out"; then
    fail "vggtap-$prog on '$text': wanted '$f:$line: ...$pattern', got: $out"
  fi
}
expect '[extract]\ntap = block1_pool\ncompres = 3\n' extract 3 "unknown key 'compres' (did you mean 'compress'?)"
expect '[extract]\n\ncompress = 12\n' extract 3 "compress"
expect '[extract]\nquiet = perhaps\n' extract 2 "switch"
expect '[vggtap]\nweights = w.h5\n[train]\nepochs = 10\nepoch = 3\n' train 5 "unknown key 'epoch'"
expect '[train]\nlr = fast\n' train 2 "lr"
expect '[train]\noptimizer = rmsprop\n' train 2 "optimizer"
expect '[predict]\ntop = many\n' predict 2 "top"
expect '[predict]\nhead = h.h5\nweight = w.h5\n' predict 3 "unknown key 'weight'"
expect '[train]\nepochs = 3\n[tarin]\nseed = 1\n' train 4 "unknown section \[tarin\]"
expect '[sweep]\ntaps = block1_pool\npool = gap\n' config 3 "\[sweep\] unknown key 'pool' (did you mean 'pools'?)"
expect '[sweep]\nheads = softmax 256,,128\n' config 2 "heads"
expect '[sweep]\nheads = softmax conv:1x1:,64\n' config 2 "conv: and conv widths"
# [sweep] taps and pools are checked before anything runs, as vggtap-train
# would check them after the extraction
expect '[sweep]\ntaps = block1pool\n' config 2 "\[sweep\] taps: unknown tap 'block1pool'"
expect '[extract]\ntap = block1_pool\n[sweep]\ntaps = block1_pool,block2_pool\n' config 4 \
  "\[sweep\] taps: block2_pool is not among the taps \[extract\] stores (block1_pool)"
expect '[sweep]\npools = gap gapp\n' config 2 "\[sweep\] pools: unknown pooling 'gapp'"
expect '[sweep]\npools = avg1 a/b\n' config 2 "\[sweep\] pools: '/' cannot be part of a value"
printf '[extract]\ntap = block1_pool,block2_pool\n[sweep]\ntaps = block2_pool block1_pool,block2_pool\npools = gap avg1,max4\nheads = softmax 64,32 conv conv:1x1:32,64\n' > "$tmp/sweep.ini"
"$BIN/vggtap-config" check "$tmp/sweep.ini" >/dev/null || fail "a valid [sweep] was refused"
expect '[vggtap]\nwork = a\nwork = b\n' config 3 "given twice"
expect '[extract]\ndata = d\n[evaluate]\nmanifest = m.csv\n' config 4 "give both the same way"
expect 'weights = w.h5\nno equals sign here\n' config 2 "syntax error"

# Flags win over the file: --epochs on the command line replaces [train] epochs.
printf '[train]\nepochs = abc\n' > "$tmp/win.ini"
"$BIN/vggtap-train" --config "$tmp/win.ini" --epochs 5 --help >/dev/null 2>&1 ||
  fail "a command-line --epochs did not replace the config's bad value"

# vggtap-config weights (what pipeline.mk hands vggtap-extract) is the file
# vggtap-extract would use: [extract]'s weights key before [vggtap]'s.
touch "$tmp/mine.h5" "$tmp/shared.h5"
printf '[vggtap]\nweights = shared.h5\n[extract]\nweights = mine.h5\n' > "$tmp/w.ini"
got=$(env -u VGGTAP_WEIGHTS "$BIN/vggtap-config" weights "$tmp/w.ini" 2>&1)
[ "$got" = "$tmp/mine.h5" ] || fail "vggtap-config weights: wanted [extract]'s $tmp/mine.h5, got: $got"
printf '[vggtap]\nweights = shared.h5\n' > "$tmp/w.ini"
got=$(env -u VGGTAP_WEIGHTS "$BIN/vggtap-config" weights "$tmp/w.ini" 2>&1)
[ "$got" = "$tmp/shared.h5" ] || fail "vggtap-config weights: wanted [vggtap]'s $tmp/shared.h5, got: $got"

# vggtap-config --out that cannot be written names the path given and the OS
# reason, as the programs do (it named FILE.tmp, and a failed close no reason).
out=$("$BIN/vggtap-config" settings "$tmp/w.ini" vggtap --out "$tmp/no-such-dir/s.txt" 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"cannot write $tmp/no-such-dir/s.txt: No such file or directory"* ]] ||
  fail "vggtap-config --out into a missing folder: exit $rc, $out"

[ $failures -eq 0 ] && echo "test_configs: all checks passed"
exit $((failures > 0))
