#!/usr/bin/env bash
# Runs one fuzz target with its corpus and dictionary, the way fuzz/README.md's "Last run"
# figures were made:   fuzz/run.sh TARGET [SECONDS]   (default 480; run fuzz/seed.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
secs=${2:-480}
case $target in
    snapshot_open) dict=snapshot ;;
    fhir_map) dict=fhir ;;
    config_parse) dict=config ;;
    http_request) dict=http ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac
mkdir -p "fuzz/corpus/$target"
exec cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
    -dict="fuzz/dict/$dict.dict" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 \
    -print_final_stats=1
