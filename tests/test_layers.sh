#!/usr/bin/env bash
# test_layers: common/ is layered (docs/ARCHITECTURE.md): each folder
# includes only its own headers and those of the folders below it,
#   base  <-  image  <-  net        base  <-  store        base  <-  plot
# and nothing in common/ includes a header of extract/ or train/. Read from
# the #include lines, so a new dependency that breaks the order fails here
# instead of growing unseen.
set -uo pipefail
source "$(dirname "$0")/vtlib.sh"
declare -A allowed=(
  [base]="base"
  [image]="base image"
  [net]="base image net"
  [store]="base store"
  [plot]="base plot"
)
failures=0
for dir in "$ROOT"/common/*/; do
  layer=$(basename "$dir")
  if [ -z "${allowed[$layer]+x}" ]; then
    echo "FAIL: common/$layer/ is not a known layer (add it to this test and docs/ARCHITECTURE.md)"
    failures=$((failures + 1))
    continue
  fi
  while IFS=: read -r file line; do
    inc=$(sed -n 's/^#include "\([^"]*\)".*/\1/p' <<<"$line")
    case "$inc" in
      */*) to=${inc%%/*} ;;
      *) [ -e "$dir/$inc" ] && continue   # a header beside it
         echo "FAIL: ${file#"$ROOT"/}: '$inc' is neither in common/$layer/ nor qualified by its layer"
         failures=$((failures + 1)); continue ;;
    esac
    if [[ " ${allowed[$layer]} " != *" $to "* ]]; then
      echo "FAIL: ${file#"$ROOT"/}: includes $inc, but common/$layer/ may use only: ${allowed[$layer]}"
      failures=$((failures + 1))
    fi
  done < <(grep -H '^#include "' "$dir"*.[ch])
done
echo "checked $(ls "$ROOT"/common/*/*.[ch] | wc -l) files in $(ls -d "$ROOT"/common/*/ | wc -l) layers"
[ "$failures" = 0 ]
