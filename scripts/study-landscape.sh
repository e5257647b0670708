#!/usr/bin/env bash
# The landscape study of docs/landscape.md: the I-LoRA paper's mode-connectivity analysis on the
# built-in eight-task suite, for seq, er, ilora (both learners), mtl and one, at the tuned
# settings of docs/results.md and on its test seeds.
#
#   scripts/study-landscape.sh [SEED…]     (default: 3 4 5)
#
# Input: the test-split runs of scripts/study-results.sh (`scripts/study-results.sh test seq er
# ilora mtl one`: lorascape-out/study-runs/test/METHOD/row-K, one row per seed). Per seed:
#   1. merge-runs: the five methods' runs of the seed in one run file (OUT/seed-S/run.h5);
#   2. analyse-run, factors and delta space: every learner's consecutive-stage lines, seq's
#      θ_{t−1} → ilora's θ_t (--cross) and ilora's fast → slow learner at every stage
#      (--same-stage), 11 points each, on the test split;
#   3. Bézier curves (one bend) against the line for stages 1→2 and 7→8 of every method;
#   4. sharpness (top Hessian eigenvalue) at every learner's final adapter, and along seq's
#      7→8 line;
#   5. the plane through the final adapters of seq, er and ilora with every stage projected;
#   6. the report (OUT/seed-S/report.pdf) of the curves, planes and sharpness.
# Then scripts/landscape-tables.py writes the tables over seeds (docs/landscape/*.csv, and
# markdown on stdout) and the figures of docs/landscape.md are drawn from seed 3.
#
# Everything resumes: rerun the same command after a stop; finished scans are kept. Seeds run
# side by side, JOBS at a time (default 2, one thread each). Timings go to OUT/times.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
LORASCAPE=${LORASCAPE:-build/cli/lorascape}
RUNS=${RUNS:-lorascape-out/study-runs/test}
OUT=${OUT:-lorascape-out/landscape}
DOC=${DOC:-docs/landscape}
JOBS=${JOBS:-2}
POINTS=${POINTS:-11}  # points of every line and curve
GRID=${GRID:-11x11}   # the plane's grid
METHODS=${METHODS:-seq er ilora mtl one}  # seq, er and ilora are needed
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(3 4 5)
export LORASCAPE RUNS OUT POINTS GRID METHODS

# The run folder of METHOD at SEED among the test sweep's rows.
run_of() {
  local m=$1 seed=$2 d
  for d in "$RUNS/$m"/row-*; do
    [ -f "$d/run.h5" ] && grep -qx "seed = $seed" "$d/config.toml" && { echo "$d/run.h5"; return; }
  done
  echo "no finished $m run of seed $seed under $RUNS/$m: run 'scripts/study-results.sh test $m'" >&2
  return 1
}
export -f run_of

one_seed() {
  set -euo pipefail
  local seed=$1 L=$LORASCAPE
  local dir=$OUT/seed-$seed R=$OUT/seed-$seed/run.h5
  local S="--set threads=1 --set eval.split=test"
  mkdir -p "$dir"/{curves,sharpness,planes}
  local t0=$SECONDS
  if [ ! -f "$R" ]; then
    local inputs=()
    for m in $METHODS; do inputs+=("$(run_of "$m" "$seed")"); done
    $L merge-runs "${inputs[@]}" --out "$R"
  fi
  local tasks
  tasks=$($L inspect "$R" | sed -n 's/^  tasks ([0-9]*): //p' | tr -d ' ')
  IFS=, read -r -a T <<< "$tasks"
  local learners
  learners=$(echo "$METHODS" | sed 's/ilora/ilora ilora\/fast/; s/ /,/g')
  for space in factors delta; do
    $L -q analyse-run "$R" $S -m "$learners" --cross seq,ilora \
      --same-stage ilora/fast,ilora -n "$POINTS" --space "$space" -o "$dir/analysis/$space" \
      > "$dir/analysis-$space.txt" 2>> "$dir/stderr.txt"
  done
  local t1=$SECONDS
  for m in $METHODS; do
    for pair in 1 7; do
      local to=$((pair + 1))
      local all old
      all=$(IFS=,; echo "${T[*]:0:$to}")
      old=$(IFS=,; echo "${T[*]:0:$pair}")
      $L -q scan curve $S --from "$R:$m/$pair" --to "$R:$m/$to" --bends 1 -n "$POINTS" \
        --tasks "$all" --union "$old" --train-tasks "$all" \
        --out "$dir/curves/curve-$m-$pair-$to.h5" > "$dir/curves/curve-$m-$pair-$to.txt" 2>> "$dir/stderr.txt"
    done
  done
  local t2=$SECONDS
  for l in ${learners//,/ }; do
    local n=${l//\//-}
    local ref="$R:${l%%/*}/${#T[@]}"  # RUN:METHOD/STAGE[/KEY]
    [[ $l == */* ]] && ref+="/${l#*/}"
    $L -q sharpness $S --at "$ref" --top 1 --union "$tasks" \
      --out "$dir/sharpness/final-$n.h5" > "$dir/sharpness/final-$n.txt" 2>> "$dir/stderr.txt"
  done
  $L -q sharpness $S --along "$dir/analysis/factors/seq-7-8.h5" --every 2 --top 1 \
    --out "$dir/sharpness/along-seq-7-8.h5" > "$dir/sharpness/along-seq-7-8.txt" 2>> "$dir/stderr.txt"
  local t3=$SECONDS
  local last=${#T[@]}
  $L -q scan plane $S --through "$R:seq/$last,$R:er/$last,$R:ilora/$last" \
    --project "$R:seq/*,$R:er/*,$R:ilora/*" --grid "$GRID" --union "$tasks" \
    --out "$dir/planes/plane-final.h5" > "$dir/planes/plane-final.txt" 2>> "$dir/stderr.txt"
  local t4=$SECONDS
  $L -q report "$R" "$dir"/curves/*.h5 "$dir/planes/plane-final.h5" "$dir"/sharpness/*.h5 \
    "$dir/analysis/factors/seq-to-ilora-7-8.h5" "$dir/analysis/factors/ilora-fast-vs-ilora-8.h5" \
    --out "$dir/report.pdf" > /dev/null 2>&1
  local t5=$SECONDS
  echo "seed $seed: lines $((t1 - t0)) s, curves $((t2 - t1)) s, sharpness $((t3 - t2)) s," \
    "plane $((t4 - t3)) s, report $((t5 - t4)) s, total $((t5 - t0)) s" | tee -a "$OUT/times.txt"
}
export -f one_seed

mkdir -p "$OUT" "$DOC"
start=$SECONDS
printf '%s\n' "${SEEDS[@]}" | xargs -P "$JOBS" -I{} bash -c 'one_seed {}'
echo "all seeds: $((SECONDS - start)) s of wall time on $JOBS jobs" | tee -a "$OUT/times.txt"
python3 scripts/landscape-tables.py "$OUT" "$DOC" > "$DOC/tables.md"
echo "tables: $DOC/tables.md and $DOC/*.csv"

# The figures of docs/landscape.md, from the first seed.
s=${SEEDS[0]}
F=${FIG:-docs/images}
"$LORASCAPE" -q plot "$OUT/seed-$s/planes/plane-final.h5" --view landscape \
  --out "$F/landscape-study-plane.png" --width 1200 --height 800
"$LORASCAPE" -q plot "$OUT/seed-$s/analysis/factors/seq-7-8.h5" \
  "$OUT/seed-$s/analysis/factors/seq-to-ilora-7-8.h5" "$OUT/seed-$s/analysis/factors/ilora-7-8.h5" \
  --view valley --task union --out "$F/landscape-study-valley.png" --width 1200 --height 800
"$LORASCAPE" -q plot "$OUT/seed-$s/curves/curve-seq-7-8.h5" "$OUT/seed-$s/analysis/factors/seq-7-8.h5" \
  --view valley --task union --out "$F/landscape-study-curve.png" --width 1200 --height 800
echo "figures: $F/landscape-study-*.png"
