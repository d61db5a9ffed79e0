#!/usr/bin/env bash
# test_demo_weights: which weights `make demo` uses (Makefile DEMO_WEIGHTS):
# $VGGTAP_WEIGHTS first, then the Keras cache ($KERAS_HOME, else ~/.keras),
# then the project's ../shared/weights/vgg16_keras_prefix.h5 beside the
# checkout; nothing when none exists (the demo then stops with the download
# command). Asked of make itself, without running the demo.
set -uo pipefail
source "$(dirname "$0")/vtlib.sh"
tmp=$(mktemp -d /tmp/test_demo_weights.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# A checkout of just the Makefile, with or without a ../shared beside it.
mkdir -p "$tmp/with/repo" "$tmp/with/shared/weights" "$tmp/without/repo" "$tmp/home" "$tmp/kh/models"
cp "$ROOT/Makefile" "$tmp/with/repo/" && cp "$ROOT/Makefile" "$tmp/without/repo/"
touch "$tmp/with/shared/weights/vgg16_keras_prefix.h5"
demo_weights() { # DIR [VAR=VALUE...]
  local dir=$1
  shift
  (cd "$dir" && env -u VGGTAP_WEIGHTS -u KERAS_HOME HOME="$tmp/home" "$@" \
    make -s --no-print-directory --eval 'show-demo-weights: ; @echo "$(DEMO_WEIGHTS)"' show-demo-weights)
}
want() { [ "$2" = "$3" ] && echo "ok   $1: '$2'" || fail "$1: '$2', expected '$3'"; }

want "only ../shared" "$(demo_weights "$tmp/with/repo")" "$tmp/with/shared/weights/vgg16_keras_prefix.h5"
want "nothing anywhere" "$(demo_weights "$tmp/without/repo")" ""
want "VGGTAP_WEIGHTS first" "$(demo_weights "$tmp/with/repo" VGGTAP_WEIGHTS=/x/w.h5)" "/x/w.h5"
cache=vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
mkdir -p "$tmp/home/.keras/models" && touch "$tmp/home/.keras/models/$cache"
want "the Keras cache before ../shared" "$(demo_weights "$tmp/with/repo")" "$tmp/home/.keras/models/$cache"
touch "$tmp/kh/models/$cache"
want "\$KERAS_HOME's cache" "$(demo_weights "$tmp/without/repo" KERAS_HOME="$tmp/kh")" "$tmp/kh/models/$cache"

[ "$failures" = 0 ] || exit 1
