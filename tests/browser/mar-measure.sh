#!/usr/bin/env bash
# Measures the demo ward's all-patients MAR as Chromium prints it (tests/browser/mar-measure.mjs):
# starts `noodepd demo --patients 24 --seed 14` from the given binary (default target/debug/noodepd),
# logs in as the demo nurse and prints, for /print/mar and /print/mar?previous=1, the sheets the
# server laid out, the PDF page count and each sheet's rendered height against its estimate
# (ROWS=1: also every row). Needs what tests/browser/install.sh installs.
# Usage: tests/browser/mar-measure.sh [BINARY [OUTDIR]]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${1:-$repo/target/debug/noodepd}"
out="${2:-$(mktemp -d)}"
mkdir -p "$out"
log="$(mktemp)"
"$bin" demo --port 0 --patients 24 --seed 14 >"$log" 2>/dev/null &
demo=$!
trap 'kill -INT $demo 2>/dev/null || true; wait $demo 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do grep -q '^URL:' "$log" && break; sleep 0.2; done
url="$(sed -n 's/^URL: \(.*\)\/$/\1/p' "$log")"
nurse="$(awk '$1 == "login:" && $4 == "nurse" { print $2 " " $3; exit }' "$log")"
for _ in $(seq 1 100); do curl -fs "$url/ready" >/dev/null 2>&1 && break; sleep 0.2; done
cd "$here"
BASE_URL="$url" LOGIN_USER="${nurse% *}" LOGIN_CODE="${nurse#* }" OUT="$out" \
    CHROMIUM="$(command -v chromium || command -v chromium-browser)" \
    node mar-measure.mjs /print/mar "/print/mar?previous=1"
