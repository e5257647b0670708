#!/usr/bin/env bash
# The study as it will be after the switch: docs/study with the rerun's sweep files laid over
# it, in lorascape-out/stage; then the `compare` phase there and the draft results page's
# tables regenerated from it (study-rerun/results.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export LORASCAPE=${LORASCAPE:-build/cli/lorascape}
STAGE=lorascape-out/stage
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -r docs/study/. "$STAGE/"
rm -f "$STAGE"/test/gem-shard* # the rerun's GEM test (merged gem.h5) replaces the old one
cp -r study-rerun/study/. "$STAGE/"
STUDY=$STAGE RUNS=${RUNS:-lorascape-out/study-runs} scripts/study-results.sh compare > /dev/null
scripts/results-tables.py "$STAGE" --write study-rerun/results.md
