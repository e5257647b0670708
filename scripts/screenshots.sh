#!/usr/bin/env bash
# Regenerates the README's screenshots of the desktop app from the demo's own output.
#
#   scripts/screenshots.sh [DEMO_DIR] [BUILD_DIR]
#
# DEMO_DIR (default lorascape-out/demo) is the folder `lorascape demo` wrote: run.h5 and the
# scan files in analysis/. The script adds a geometry scan of the final adapters (a few seconds
# of linear algebra, into a temporary folder), starts lorascape-gui under Xvfb with
# --screenshots, which shows each view and writes one PNG of the window per view, and copies
# them to docs/images/. Needs xvfb-run (Debian package xvfb) and a build with the GUI.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO="${1:-lorascape-out/demo}"
BUILD="${2:-build}"
CLI="$BUILD/cli/lorascape"
GUI="$BUILD/gui/lorascape-gui"
OUT="docs/images"

for f in "$DEMO/run.h5" "$CLI" "$GUI"; do
  [ -e "$f" ] || { echo "screenshots: $f is missing; run \`lorascape demo\` and build with the GUI first" >&2; exit 2; }
done
command -v xvfb-run >/dev/null || { echo "screenshots: xvfb-run is missing (apt-get install xvfb xauth)" >&2; exit 2; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
RUN="$DEMO/run.h5"
# The final stage of every method, for the geometry view.
LAST=$(h5dump -H -d /tasks "$RUN" | sed -n 's/.*SIMPLE { ( \([0-9]*\) ).*/\1/p' | head -1)
REFS=()
for m in seq er ilora; do
  h5dump -H -g "/methods/$m" "$RUN" >/dev/null 2>&1 && REFS+=("$RUN:$m/$LAST")
done
h5dump -H -g /methods/ilora "$RUN" >/dev/null 2>&1 && REFS+=("$RUN:ilora/$LAST/fast")
"$CLI" -q geometry "${REFS[@]}" --out "$TMP/geometry-final.h5" >/dev/null

mkdir -p "$OUT"
# A fixed font size and style, so that the pictures do not depend on the desktop they are made on.
QT_QPA_PLATFORM=xcb QT_SCALE_FACTOR=1 XDG_CONFIG_HOME="$TMP/config" \
  xvfb-run -a -s "-screen 0 1400x900x24" \
  "$GUI" --screenshots "$TMP/shots" --size 1280x800 "$RUN" "$TMP/geometry-final.h5"
cp "$TMP"/shots/gui-*.png "$OUT/"
ls -l "$OUT"/gui-*.png
