# vtlib.sh: what the shell tests share, sourced after `set -euo pipefail`
# (the shell side of tests/vtlib.py): where the repository, the programs
# (VGGTAP_BIN, see vtlib.py) and the real data are.
ROOT=${VGGTAP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${VGGTAP_BIN:-$ROOT/bin}
# What the repository ships (data/): the real block1-block2 weights and 300
# real photos in 10 classes (manifest.csv: path,class,split,original_wxh).
WEIGHTS=$ROOT/data/weights/vgg16_keras_prefix.h5
CLOTHING=$ROOT/data/clothing-30
# Tests that run pipeline.mk read what make echoes; flags of a `make -s test`
# around them would reach that make through the environment and silence it.
unset MAKEFLAGS MFLAGS MAKELEVEL
