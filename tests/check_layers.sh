#!/usr/bin/env bash
# The layers' include rules (docs/architecture.md), checked on every source file: a file of a
# layer may include only the layers below it. Prints each forbidden include as FILE:LINE and
# exits 1 when there is one. Run by ctest (LayerCheck) and by hand: tests/check_layers.sh [ROOT]
set -uo pipefail
ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$ROOT" || exit 2

status=0
# forbid DIR PATTERN WHY: no file under DIR may include a header matching PATTERN (an ERE on
# the text inside the include's quotes or angle brackets).
forbid() {
  local dir=$1 pattern=$2 why=$3 hits
  hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" "$dir" \
           --include='*.h' --include='*.cpp' 2>/dev/null)
  if [ -n "$hits" ]; then
    printf '%s\n' "$hits" | sed "s|\$|    <- $why|"
    status=1
  fi
}

torch='torch/|ATen/|c10/'
qt='Q[A-Za-z]*(/|>|")|qcustomplot'
# kernels: the model's operations on ATen tensors; nothing of lorascape's other layers, no Qt.
forbid kernels "store/|core/|analysis/|gui/|cli/" "kernels/ includes ATen only"
forbid kernels "$qt" "kernels/ has no Qt"
# store: the base layer (HDF5, Eigen, JSON): nothing of lorascape above it, no LibTorch, no Qt.
forbid store "kernels/|core/|analysis/|gui/|cli/" "store/ is the lowest layer"
forbid store "$torch" "store/ has no LibTorch"
forbid store "$qt" "store/ has no Qt"
# core: LibTorch, the model, training, evaluation; below analysis, no Qt.
forbid core "analysis/|gui/|cli/" "core/ may include kernels/ and store/ only"
forbid core "$qt" "core/ has no Qt"
# analysis: landscapes and scans on core; no Qt.
forbid analysis "gui/|cli/" "analysis/ may include core/, kernels/ and store/ only"
forbid analysis "$qt" "analysis/ has no Qt"
# gui and plot code never reach into the command line.
forbid gui "cli/" "gui/ does not include cli/"

if [ $status -eq 0 ]; then echo "layers: every include follows the rules"; fi
exit $status
