#!/usr/bin/env bash
# The comparison study of docs/results.md, by the protocol of docs/methods.md#tuning-protocol:
# every method's knobs tuned with the same budget of runs on the `eval` split (seed 1), then
# each method at its best point on `test` with five fresh seeds (3–7), paired by seed.
#
#   scripts/study-results.sh tune  [METHOD…]   the tuning sweeps (default: every method)
#   scripts/study-results.sh test  [METHOD…]   the reporting sweeps at each method's best point
#   scripts/study-results.sh lambda            I-LoRA's slow and fast learner across lambda
#   scripts/study-results.sh revisit [METHOD…] the test sweeps on the revisit sequence
#                                              (data/configs/revisit.toml: FWT on exact match)
#   scripts/study-results.sh compare           the tables of docs/results.md from the files
#   scripts/study-results.sh learners          only I-LoRA's two learners across lambda (CSV)
#   scripts/study-results.sh transfer          only the metrics on token accuracy and loss (CSV)
#   scripts/study-results.sh best METHOD       METHOD's best tuned point, as --set options
#
# Every step is a `lorascape sweep`: resumable (rerun the same command after a stop or a kill;
# finished rows are kept) and independent of the others. JOBS sweeps run side by side (default
# 2, each with one thread: bit-reproducible). The sweep files (small: one row of metrics per
# run) go to STUDY (default docs/study) and are committed; the run folders (adapters) to RUNS
# (default lorascape-out/study-runs), which only the learner and transfer tables read.
set -euo pipefail
cd "$(dirname "$0")/.."
LORASCAPE=${LORASCAPE:-build/cli/lorascape}
CONFIG=${CONFIG:-data/configs/default.toml}
STUDY=${STUDY:-docs/study}
RUNS=${RUNS:-lorascape-out/study-runs}
JOBS=${JOBS:-2}
TUNE_SEEDS=1
TEST_SEEDS=3,4,5,6,7
METHODS=(seq er ilora pp l2p mtl one ewc agem gem olora)
REVISIT_METHODS=(ilora er ewc olora agem seq) # the revisit sequence: replay, regularisers, A-GEM, the baseline
LAMBDAS=(0.9 0.99 0.999 0.9999) # I-LoRA's slow learner: about a 10-, 100-, 1000-, 10000-step average

# Four grid points per method: the same tuning budget for every method.
grid() {
  case "$1" in
    seq | mtl | one) echo "--grid train.lr=0.001,0.002,0.003,0.005" ;;
    er) echo "--grid train.lr=0.001,0.002,0.003,0.005" ;;
    ewc) echo "--grid ewc.lambda=1,100,10000,1000000" ;;
    olora) echo "--grid olora.lambda1=0.05,0.5,5,50" ;;
    agem) echo "--grid train.optimizer,train.lr=adamw:0.003,sgd:0.03,sgd:0.1,sgd:0.3" ;;
    gem) echo "--grid gem.margin=0,0.5 --grid train.optimizer,train.lr=adamw:0.003,sgd:0.1" ;;
    ilora) echo "--grid ilora.lambda=0.9,0.99 --grid ilora.gamma=0.1,1" ;;
    pp | l2p) echo "--grid train.lr=0.003,0.01,0.03,0.1" ;;
    *) echo "unknown method $1" >&2; exit 2 ;;
  esac
}

# The best point of a tuning sweep as --set options (the CSV's best row: highest mean OP).
best_sets() {
  local csv="$STUDY/tune/$1.csv"
  [ -f "$csv" ] || { echo "no tuning table $csv: run '$0 tune $1' first" >&2; exit 2; }
  python3 - "$csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
best = [r for r in rows if r.get("best", "").strip() in ("1", "yes", "true", "*")]
if not best:
    sys.exit(f"{sys.argv[1]}: no best row")
r = best[0]
skip = {"method", "best", "n", "runs"}
keys = [k for k in r if "." in k and k not in skip]
print(" ".join(f"--set {k}={r[k]}" for k in keys))
PY
}

one_sweep() {  # NAME SPLIT SEEDS OPTIONS…
  local name=$1 split=$2 seeds=$3
  shift 3
  mkdir -p "$(dirname "$STUDY/$name")"
  # shellcheck disable=SC2068
  "$LORASCAPE" -q sweep -c "$CONFIG" --set threads=1 $@ --split "$split" --seeds "$seeds" \
    --out "$STUDY/$name.h5" --csv "$STUDY/$name.csv" --runs "$RUNS/$name" \
    > "$STUDY/$name.log" 2>&1 || { echo "sweep $name failed: $STUDY/$name.log" >&2; return 1; }
  echo "done: $name ($(date -u +%H:%M:%S))"
}
export -f one_sweep
export LORASCAPE CONFIG STUDY RUNS

# I-LoRA's two learners across lambda (the sweep rows hold the reported slow one only).
learners() {
  local l f
  for l in "${LAMBDAS[@]}"; do
    f=$(ls "$RUNS"/lambda/ilora-$l/*/run.h5 2> /dev/null | head -1 || true)
    [ -n "$f" ] && "$LORASCAPE" compare "$f" --csv "$STUDY/lambda/ilora-$l-learners.csv"
  done
  return 0
}

# FWT (and every metric) on token accuracy and on loss, which the sweep files (exact match only)
# do not hold: `compare` over the test sweeps' run folders, paired by seed against seq, one CSV
# per score.
transfer() {
  local m f s files=()
  for m in "${METHODS[@]}"; do
    for f in "$RUNS"/test/"$m"/*/run.h5; do [ -f "$f" ] && files+=("$f"); done
  done
  [ ${#files[@]} -gt 0 ] || { echo "transfer: no run folders in $RUNS/test (run the test phase)" >&2; return 1; }
  for s in token_acc loss; do
    "$LORASCAPE" compare "${files[@]}" --score "$s" --baseline seq --csv "$STUDY/test-transfer-$s.csv"
  done
}

# The sweep files of a phase (DIR METHOD…) that exist, one per line.
sweep_files() {
  local dir=$1 m
  shift
  for m in "$@"; do [ -f "$STUDY/$dir/$m.h5" ] && echo "$STUDY/$dir/$m.h5"; done
  return 0
}

# The revisit runs' zero-shot scores task by task (R[i-1][i], exact match), which the sweep files
# (metrics only) do not hold: one CSV row per method, seed and task, from the run folders.
revisit_tasks() {
  python3 - "$RUNS/revisit" "$STUDY/revisit-zero-shot.csv" << 'PY'
import csv, glob, json, sys
out = []
for f in sorted(glob.glob(f"{sys.argv[1]}/*/row-*/results.json")):
    d = json.load(open(f))
    r, R = d["result"], d["result"]["R"]
    for i in range(1, len(r["tasks"])):
        out.append([d["config"]["train"]["method"], d["config"]["seed"], r["tasks"][i],
                    R[i - 1][i]["exact_match"], r["base"][i]["exact_match"], R[i][i]["exact_match"]])
if not out:
    sys.exit(f"revisit: no run folders in {sys.argv[1]} (run the revisit phase)")
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["method", "seed", "task", "zero_shot", "base", "trained"])
    w.writerows(sorted(out, key=lambda row: (row[0], row[1])))
PY
}

phase=${1:-}
shift || true
[ $# -gt 0 ] && METHODS=("$@") && REVISIT_METHODS=("$@")
jobs=()
case "$phase" in
  tune)
    for m in "${METHODS[@]}"; do
      jobs+=("tune/$m eval $TUNE_SEEDS --method $m $(grid "$m")")
    done ;;
  test)
    for m in "${METHODS[@]}"; do
      jobs+=("test/$m test $TEST_SEEDS --method $m $(best_sets "$m")")
    done ;;
  revisit) # each method at its best point (tuned on the default sequence), the same seeds
    CONFIG=data/configs/revisit.toml
    for m in "${REVISIT_METHODS[@]}"; do
      jobs+=("revisit/$m test $TEST_SEEDS --method $m $(best_sets "$m")")
    done ;;
  lambda)
    for l in "${LAMBDAS[@]}"; do
      jobs+=("lambda/ilora-$l eval $TUNE_SEEDS --method ilora --set ilora.lambda=$l")
    done ;;
  best)
    [ ${#METHODS[@]} -eq 1 ] || { echo "best: name one method" >&2; exit 2; }
    best_sets "${METHODS[0]}"
    exit 0 ;;
  compare)
    mapfile -t files < <(sweep_files test "${METHODS[@]}")
    "$LORASCAPE" compare "${files[@]}" --baseline er --csv "$STUDY/test-vs-er.csv"
    "$LORASCAPE" compare "${files[@]}" --baseline seq --csv "$STUDY/test-vs-seq.csv"
    mapfile -t files < <(sweep_files revisit "${REVISIT_METHODS[@]}")
    [ ${#files[@]} -eq 0 ] || {
      "$LORASCAPE" compare "${files[@]}" --baseline seq --csv "$STUDY/revisit-vs-seq.csv"
      revisit_tasks || echo "compare: the revisit task table needs the revisit phase's run folders" >&2
    }
    learners
    transfer || echo "compare: the transfer tables need the test phase's run folders" >&2
    exit 0 ;;
  learners) learners; exit 0 ;;
  transfer) transfer; exit 0 ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
printf '%s\n' "${jobs[@]}" | xargs -P "$JOBS" -I{} bash -c 'one_sweep {}'
