#!/usr/bin/env bash
# Remakes the screenshots and PDFs in this directory from `noodepd demo` (a generated ward
# of 24 fictitious patients in drill mode) with headless Chromium: the overview, a search,
# a patient page (also scrolled), the ward list, the patient labels sheet, the MAR of one
# patient with the doses the EPD recorded (with the previous day), the all-patients MAR (with the previous day), the
# blank MAR, the drill report and the status page, at 1280 px and 800 px (overview and
# patient also at 360 px); PDFs of the ward list, the labels, the three MARs and the drill
# report; mar-sheet-1.png and mar-sheet-2.png: the first two printed MAR sheets as images.
# Needs what tests/browser/install.sh installs. Usage: docs/screenshots/make.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"
cargo build --quiet
log="$(mktemp)"
target/debug/noodepd demo --port 0 --patients 24 --seed 14 >"$log" 2>/dev/null &
demo=$!
trap 'kill -INT $demo 2>/dev/null || true; wait $demo 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do grep -q '^URL:' "$log" && break; sleep 0.2; done
url="$(sed -n 's/^URL: \(.*\)\/$/\1/p' "$log")"
nurse="$(awk '$1 == "login:" && $4 == "nurse" { print $2 " " $3; exit }' "$log")"
coord="$(awk '$1 == "login:" && $4 == "coordinator" { print $2 " " $3; exit }' "$log")"
# Wait until the demo ward is served.
for _ in $(seq 1 100); do curl -fs "$url/ready" >/dev/null 2>&1 && break; sleep 0.2; done
chromium="$(command -v chromium || command -v chromium-browser)"
BASE_URL="$url" NURSE="$nurse" COORDINATOR="$coord" CHROMIUM="$chromium" OUT="${OUT:-$here}" \
    node tests/browser/screenshots.mjs
# The printed MAR as paper: its first two sheets rendered from the PDF.
if command -v pdftoppm >/dev/null 2>&1; then
    pdftoppm -r 110 -f 1 -l 2 -png "${OUT:-$here}/mar.pdf" "${OUT:-$here}/mar-sheet"
fi
