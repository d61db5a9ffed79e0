# vtlib.sh: what the shell tests share, sourced after `set -euo pipefail`
# (the shell side of tests/vtlib.py): where the repository, the programs
# (VGGTAP_BIN, see vtlib.py), the shared data and the real weights are.
ROOT=${VGGTAP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${VGGTAP_BIN:-$ROOT/bin}
SHARED=${VGGTAP_SHARED:-$ROOT/../shared}
WEIGHTS=$SHARED/weights/vgg16_keras_prefix.h5
# Tests that run pipeline.mk read what make echoes; flags of a `make -s test`
# around them would reach that make through the environment and silence it.
unset MAKEFLAGS MFLAGS MAKELEVEL
