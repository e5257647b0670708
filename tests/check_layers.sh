#!/usr/bin/env bash
# The layers' include rules (docs/architecture.md), checked on every source file: a file of a
# layer may include only the layers below it, no LibTorch in store/ and plot/, Qt only in plot/
# and gui/. Prints each forbidden include as FILE:LINE and exits 1 when there is one. Run by ctest (LayerCheck) and by hand: tests/check_layers.sh [ROOT]
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
forbid kernels "store/|core/|analysis/|plot/|gui/|cli/" "kernels/ includes ATen only"
forbid kernels "$qt" "kernels/ has no Qt"
# store: the base layer (HDF5, Eigen, JSON): nothing of lorascape above it, no LibTorch, no Qt.
forbid store "kernels/|core/|analysis/|plot/|gui/|cli/" "store/ is the lowest layer"
forbid store "$torch" "store/ has no LibTorch"
forbid store "$qt" "store/ has no Qt"
# core: LibTorch, the model, training, evaluation; below analysis, no Qt.
forbid core "analysis/|plot/|gui/|cli/" "core/ may include kernels/ and store/ only"
forbid core "$qt" "core/ has no Qt"
# analysis: landscapes and scans on core; no Qt.
forbid analysis "plot/|gui/|cli/" "analysis/ may include core/, kernels/ and store/ only"
forbid analysis "$qt" "analysis/ has no Qt"
# plot: the figures (Qt, QCustomPlot) on the files read through store/; nothing that needs
# LibTorch, so that the app's views and `lorascape plot` draw without it.
forbid plot "kernels/|core/|analysis/|gui/|cli/" "plot/ may include store/ only"
forbid plot "$torch" "plot/ has no LibTorch"
# gui: widgets on plot/; its scan worker runs analysis/ and reads core/'s LibTorch-free settings
# (config.h, model_config.h, process.h, progress.h); no LibTorch header of its own, nothing of
# the command line.
forbid gui "kernels/|cli/" "gui/ may include plot/, analysis/, core/ and store/"
forbid gui "$torch|core/device.h|core/model.h|core/lora_linear.h" "gui/ includes no LibTorch header itself"
forbid core/config.h "$torch|core/model.h|core/lora_linear.h" "core/config.h is LibTorch-free (core/model_config.h)"
forbid core/model_config.h "$torch" "core/model_config.h is LibTorch-free"
forbid core/process.h "$torch" "core/process.h is LibTorch-free"
# cli: the command line draws figures through plot/ (plot/plot_command.h, Qt-free), never
# through the app's widgets; no Qt of its own.
forbid cli "gui/" "cli/ draws figures through plot/, not gui/"
forbid cli "$qt" "cli/ has no Qt (plot/plot_command.h is Qt-free)"

if [ $status -eq 0 ]; then echo "layers: every include follows the rules"; fi
exit $status
