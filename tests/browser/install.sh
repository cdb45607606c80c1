#!/usr/bin/env bash
# Installs what the browser test (tests/browser_chromium.rs) needs on a fresh machine:
# Debian's Chromium, poppler-utils and zbar-tools (when missing) and the npm packages pinned in package-lock.json
# (playwright-core, to drive Chromium; axe-core, the accessibility rules). Neither downloads
# a browser build of its own. Safe to run again; the CI script calls it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    echo "installing Chromium from Debian's packages" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

cd "$here"
if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
else
    npm install --no-audit --no-fund --loglevel=error
fi
# pdfinfo and pdftotext read the printed PDFs page by page.
if ! command -v pdftotext >/dev/null 2>&1 || ! command -v pdfinfo >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    echo "installing poppler-utils from Debian's packages" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null
fi

# zbarimg reads the barcodes of the printed patient labels (tests/labels_barcode.rs).
if ! command -v zbarimg >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    echo "installing zbar-tools from Debian's packages" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends zbar-tools >/dev/null
fi

echo "browser test ready: $(command -v chromium || command -v chromium-browser), $(node --version)" >&2
