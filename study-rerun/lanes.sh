#!/usr/bin/env bash
# Work in progress (issue 17): the replay methods' part of the study rerun at the smaller
# replay memory (study-rerun/config.toml: replay.buffer 500, gem.memory 62). Two lanes, one
# core each, both resumable: rerun after a stop and finished rows are kept.
#
#   study-rerun/lanes.sh 1    er, ilora (tune, test), the four lambda runs, GEM's test shard 1/3
#   study-rerun/lanes.sh 2    agem (tune, test), gem (tune), GEM's test shards 2/3 and 3/3
#   study-rerun/lanes.sh inputs1|inputs2   the test runs (seeds 3-5) of seq, er, ilora, mtl and
#                                          one that scripts/study-landscape.sh reads, in two lanes
#
# Sweep files go to study-rerun/study (committed as they finish), run folders to RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
export LORASCAPE=${LORASCAPE:-build/cli/lorascape}
export CONFIG=study-rerun/config.toml STUDY=study-rerun/study
export RUNS=${RUNS:-lorascape-out/study-runs} JOBS=1
S=scripts/study-results.sh

gem_test_shard() { # K: GEM's test sweep, shard K of 3 (rows with row mod 3 = K-1; ~15 min a row)
  local f=$STUDY/test/gem-shard$1 sets
  mkdir -p "$STUDY/test"
  until [ -f "$STUDY/tune/gem.done" ]; do sleep 60; done # lane 2's GEM tuning
  sets=$($S best gem)
  # shellcheck disable=SC2086
  "$LORASCAPE" -q sweep -c "$CONFIG" --set threads=1 --method gem $sets --split test \
    --seeds 3,4,5,6,7 --shard "$1/3" --out "$f.h5" --runs "$RUNS/test/gem" > "$f.log" 2>&1
  echo "done: test/gem-shard$1 ($(date -u +%H:%M:%S))"
}

landscape_inputs() { # METHOD…: test runs of seeds 3-5 at each method's tuned point
  local m study
  mkdir -p lorascape-out/landscape-inputs
  for m in "$@"; do
    case $m in er | ilora) study=$STUDY ;; *) study=docs/study ;; esac
    # shellcheck disable=SC2046
    "$LORASCAPE" -q sweep -c "$CONFIG" --set threads=1 --method "$m" \
      $(STUDY=$study $S best "$m") --split test --seeds 3,4,5 \
      --out "lorascape-out/landscape-inputs/$m.h5" --runs "$RUNS/test/$m" \
      > "lorascape-out/landscape-inputs/$m.log" 2>&1
    echo "done: landscape input $m ($(date -u +%H:%M:%S))"
  done
}

case "${1:-}" in
  1)
    $S tune er && $S test er && $S tune ilora && $S test ilora && $S lambda && $S learners > /dev/null
    gem_test_shard 1 ;;
  2)
    $S tune agem && $S test agem && $S tune gem && touch "$STUDY/tune/gem.done"
    gem_test_shard 2 && gem_test_shard 3 ;;
  inputs1) landscape_inputs ilora mtl ;;
  inputs2) landscape_inputs er seq one ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
