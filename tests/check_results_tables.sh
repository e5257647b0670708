#!/usr/bin/env bash
# docs/results.md's tables are what scripts/results-tables.py makes of docs/study (the study's
# sweep files): its --check passes on the committed page, fails and names the block on a page
# with one number changed, and --write puts the number back. Run by ctest
# (ResultsTablesMatchStudy) and by hand: tests/check_results_tables.sh [ROOT]
set -uo pipefail
ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$ROOT" || exit 2
S=scripts/results-tables.py
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT

python3 $S docs/study --check docs/results.md || {
  echo "FAIL: docs/results.md's tables are not those of docs/study"; exit 1; }

# Change the first digit of the first data row of the test table.
awk '/<!-- generated: results-tables test -->/ {b=1} b && /^\| `/ && !d {sub(/[0-9]\.[0-9]/, "9.9"); d=1} {print}' \
  docs/results.md > "$tmp/r.md"
cmp -s "$tmp/r.md" docs/results.md && { echo "FAIL: the test could not change a number"; exit 1; }
out=$(python3 $S docs/study --check "$tmp/r.md" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q ": test " <<< "$out" || {
  echo "FAIL: --check on a changed table: rc $rc, '$out'"; exit 1; }

python3 $S docs/study --write "$tmp/r.md" && cmp -s "$tmp/r.md" docs/results.md || {
  echo "FAIL: --write did not restore the page"; exit 1; }

out=$(python3 $S "$tmp/none" 2>&1); rc=$?
[ $rc -eq 2 ] || { echo "FAIL: a missing study folder gave rc $rc ('$out'), not 2"; exit 1; }
echo "ok: docs/results.md matches docs/study"
