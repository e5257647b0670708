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
rm -f "$STAGE"/test/gem-shard* # the rerun's GEM test replaces the old one (merged below)
cp -r study-rerun/study/. "$STAGE/"
if ls "$STAGE"/test/gem-shard*.h5 > /dev/null 2>&1; then
  "$LORASCAPE" sweep-merge "$STAGE"/test/gem-shard{1,2,3}.h5 --out "$STAGE/test/gem.h5" \
    --csv "$STAGE/test/gem.csv" > /dev/null ||
    echo "GEM's test shards do not merge yet: the old test/gem stays in the stage" >&2
fi
STUDY=$STAGE RUNS=${RUNS:-lorascape-out/study-runs} scripts/study-results.sh compare > /dev/null
scripts/results-tables.py "$STAGE" --write study-rerun/results.md
