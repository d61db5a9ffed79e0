#!/usr/bin/env bash
# test_weights_lookup: where the programs find the VGG16 weights (README,
# "Weights"): --weights or the config's key, then $VGGTAP_WEIGHTS, then the
# Keras cache ($KERAS_HOME, else ~/.keras), then the bundled block1-block2
# file data/weights/vgg16_keras_prefix.h5 of this checkout, but only for
# taps it holds (up to block2_pool): a deeper tap
# gets the download command and hears that the bundled file stops at
# block2. Asked of vggtap-config weights (what pipeline.mk and `make demo`
# use), then of vggtap-extract, -predict and -mosaic without --weights.
set -uo pipefail
source "$(dirname "$0")/vtlib.sh"
tmp=$(mktemp -d /tmp/test_weights_lookup.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
want() { [ "$2" = "$3" ] && echo "ok   $1: '$2'" || fail "$1: '$2', expected '$3'"; }
has() { [[ "$2" == *"$3"* ]] && echo "ok   $1" || fail "$1: no '$3' in: $2"; }

bundled=$ROOT/data/weights/vgg16_keras_prefix.h5
cache=vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
mkdir -p "$tmp/home" "$tmp/kh/models"
# Nothing from the caller's environment: no VGGTAP_WEIGHTS, no Keras cache.
clean() { env -u VGGTAP_WEIGHTS -u KERAS_HOME HOME="$tmp/home" "$@"; }
lookup() { clean "${@:2}" "$BIN/vggtap-config" weights "$tmp/$1.ini" 2>&1; }

printf '[extract]\ntap = block1_pool,block2_pool\n' > "$tmp/shallow.ini"
printf '[extract]\ntap = block2_pool,block3_pool\n[sweep]\ntaps = block2_pool\n' > "$tmp/deep.ini"
printf '[extract]\n' > "$tmp/default.ini"
printf '[vggtap]\nweights = mine.h5\n[extract]\ntap = block3_pool\n' > "$tmp/key.ini"
touch "$tmp/mine.h5" "$tmp/env.h5"

# 1. Nothing else: the bundled file, for taps it holds.
want "bundled, block2_pool" "$(lookup shallow)" "$bundled"
want "bundled, default tap" "$(lookup default)" "$bundled"
want "bundled, the demo's config" "$(clean "$BIN/vggtap-config" weights "$ROOT/configs/demo.ini" 2>&1)" "$bundled"
# ... and not for a deeper tap ([sweep] uses only block2_pool, but [extract]
# stores block3_pool too): the download command.
out=$(lookup deep)
want "deep: exit status" "$?" 1
has "deep: the bundled file holds only block1-block2" "$out" "$bundled holds only block1-block2"
has "deep: the download command" "$out" "curl -fL -o $tmp/home/.keras/models/$cache"
has "deep: names the deepest layer needed" "$out" "up to block3_conv3"
# 2. The Keras cache before the bundled file, for every tap.
mkdir -p "$tmp/home/.keras/models" && touch "$tmp/home/.keras/models/$cache"
want "cache before bundled" "$(lookup shallow)" "$tmp/home/.keras/models/$cache"
want "cache, deep tap" "$(lookup deep)" "$tmp/home/.keras/models/$cache"
touch "$tmp/kh/models/$cache"
want "\$KERAS_HOME's cache" "$(lookup shallow KERAS_HOME="$tmp/kh")" "$tmp/kh/models/$cache"
# 3. $VGGTAP_WEIGHTS before the cache; 4. the config's key (or --weights) first.
want "VGGTAP_WEIGHTS before the cache" "$(lookup shallow VGGTAP_WEIGHTS="$tmp/env.h5")" "$tmp/env.h5"
want "the config's key first" "$(lookup key VGGTAP_WEIGHTS="$tmp/env.h5")" "$tmp/mine.h5"
rm -r "$tmp/home/.keras"

# The programs, without --weights: real photos of data/clothing-30.
mkdir -p "$tmp/data/hat" "$tmp/data/shoes"
for c in hat shoes; do
  for f in $(ls "$CLOTHING/$c" | head -3); do cp "$CLOTHING/$c/$f" "$tmp/data/$c/"; done
done
photo=$(ls "$tmp"/data/hat/* | head -1)
out=$(clean "$BIN/vggtap-extract" --data "$tmp/data" --tap block2_pool --size 32 --quiet --out "$tmp/s.h5" 2>&1) ||
  fail "vggtap-extract at block2_pool without weights: $out"
sha=$(sha256sum "$bundled" | cut -d' ' -f1)
has "the store was made with the bundled file" "$("$BIN/vggtap-info" "$tmp/s.h5" 2>&1)" "$sha"
out=$(clean "$BIN/vggtap-extract" --data "$tmp/data" --tap block3_pool --size 32 --quiet --out "$tmp/d.h5" 2>&1)
want "vggtap-extract at block3_pool: exit status" "$?" 1
has "vggtap-extract at block3_pool: the download command" "$out" "holds only block1-block2"
"$BIN/vggtap-train" --store "$tmp/s.h5" --tap block2_pool --val-fraction 0 --quiet --out "$tmp/head.h5" >/dev/null 2>&1 ||
  fail "vggtap-train on the store failed"
out=$(clean "$BIN/vggtap-predict" --head "$tmp/head.h5" "$photo" 2>&1) || fail "vggtap-predict without weights: $out"
has "vggtap-predict from images, bundled weights" "$out" "$(basename "$photo")"
# --store needs no weights at all: a bad $VGGTAP_WEIGHTS is never looked at.
out=$(clean VGGTAP_WEIGHTS=/nonexistent/w.h5 "$BIN/vggtap-predict" --head "$tmp/head.h5" --store "$tmp/s.h5" 2>&1) ||
  fail "vggtap-predict --store looked for weights: $out"
out=$(clean "$BIN/vggtap-mosaic" --image "$photo" --tap block2_pool --size 32 --out "$tmp/m.png" 2>&1) ||
  fail "vggtap-mosaic at block2_pool without weights: $out"
[ -s "$tmp/m.png" ] && echo "ok   vggtap-mosaic at block2_pool, bundled weights" || fail "no mosaic written"
out=$(clean "$BIN/vggtap-mosaic" --image "$photo" --tap block4_conv1 --out "$tmp/m4.png" 2>&1)
want "vggtap-mosaic at block4_conv1: exit status" "$?" 1
has "vggtap-mosaic at block4_conv1: the download command" "$out" "up to block4_conv1"

[ "$failures" = 0 ] || exit 1
