#!/usr/bin/env bash
# Installs every build, test and demo dependency of vggtap from Debian's archive.
# Safe to re-run: apt-get skips what is already installed. Needs root (or sudo).
# --arm64 adds what `make check-arm64` needs: Debian's aarch64 cross compiler
# and the arm64 libraries (HDF5's runtime library only: libhdf5-dev:arm64
# cannot be installed beside the native one; the headers serve both).
set -euo pipefail

PKGS=(
  build-essential pkg-config make
  libhdf5-dev hdf5-tools          # feature store + h5ls/h5dump
  libpng-dev                      # PNG decode (and PNG reports)
  libjpeg62-turbo-dev             # JPEG decode (libjpeg API of libjpeg-turbo)
  libblis-dev                     # matrix products
  libinih-dev                     # INI config parser
  libjansson-dev                  # JSON: metrics.json, vggtap-predict --format json, vggtap-info
  python3 python3-numpy python3-h5py python3-torch python3-sklearn python3-pil  # conformance tests, baselines
  liblinear-tools                 # head-training baseline
  dataset-fashion-mnist           # the demo data set
  valgrind                        # a small end-to-end run is checked valgrind-clean
  slurm-wlm munge                 # tests/test_slurm.sh: a real one-node cluster for slurm/*.sbatch
  clang libclang-rt-14-dev llvm   # libFuzzer harnesses (make fuzz); llvm-symbolizer for sanitizer reports
  qemu-user                       # tests/test_qemu_cpus.sh: the programs on CPUs without AVX-512 / AVX
  chromium                        # tests/test_report_page.py: the report pages in a headless browser
)
if [ "${1:-}" = --arm64 ]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || { [ "$(id -u)" -eq 0 ] && dpkg --add-architecture arm64 || sudo dpkg --add-architecture arm64; }
  PKGS+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross libc6:arm64 libhdf5-103-1:arm64 libpng-dev:arm64
         libjpeg62-turbo-dev:arm64 libblis-dev:arm64 libinih-dev:arm64 libjansson-dev:arm64)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
