#!/usr/bin/env bash
# Builds the seed corpora fuzz/corpus/<target>/ (not in git) from the repository's fixtures,
# the demo generator and the noodepd CLI, plus the hand-picked seeds in fuzz/seeds/<target>/
# (in git, also replayed by tests/fuzz_regressions.rs). Safe to re-run: it only adds files.
#
#   fuzz/seed.sh            # then: cargo +nightly fuzz run TARGET fuzz/corpus/TARGET ...
#
# Needs: jq, base64, and a stable toolchain for the noodepd binary (cargo build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
corpus=$root/fuzz/corpus
targets=(snapshot_open fhir_map config_parse http_request)
for t in "${targets[@]}"; do
    mkdir -p "$corpus/$t"
    if [ -d "fuzz/seeds/$t" ]; then cp -- fuzz/seeds/"$t"/* "$corpus/$t/"; fi
done

cargo build --quiet --bin noodepd
noodepd=$root/target/debug/noodepd
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

# ------------------------------------------------------------------ fhir_map
# Every fixture and a generated 3-patient ward: the whole document as one compact line
# (when at most 64 KiB), and a Bundle's entries as NDJSON in pieces of 40 resources, so the
# fuzzer gets small, varied inputs.
"$noodepd" generate --patients 3 --seed 5 --now 2026-11-22T06:00:00Z --roster \
    --out "$work/gen" > /dev/null
n=0
while IFS= read -r -d '' f; do
    n=$((n + 1))
    base=$(basename "$f" .json)
    jq -c . "$f" > "$work/line"
    if [ "$(stat -c %s "$work/line")" -le 65536 ]; then
        cp "$work/line" "$corpus/fhir_map/doc-$n-$base.ndjson"
    fi
    if jq -e '.resourceType == "Bundle"' "$f" > /dev/null; then
        jq -c '.entry[]?.resource | select(. != null)' "$f" > "$work/entries"
        split -l 40 -d -a 3 "$work/entries" "$corpus/fhir_map/entries-$n-$base-"
    fi
done < <({ find tests/fixtures -name '*.json' -print0 | sort -z; printf '%s\0' "$work/gen/A3.json"; })

# ------------------------------------------------------------------ snapshot_open
# The harness's fixed keys (fuzz/harness.rs PUBLISHER_SEED = 0x5e * 32, APPLIANCE_SEED =
# 0xa7 * 32), as key files for `noodepd seal`.
keys=$work/keys
mkdir -m 0700 "$keys"
seed_b64=$(printf '\x5e%.0s' $(seq 32) | base64 -w0)
(umask 077 && printf 'noodepd-publisher-secret-v1 %s\n' "$seed_b64" > "$keys/publisher.key")
printf 'noodepd-appliance-v1 %s\n' 'oJX6e1RsrrdpwEMUfJ62kp9jkfN84OoVFhEeAPtGFTA=' > "$keys/appliance.pub"
printf '{"mode": "drill", "reason": "fuzz seed"}\n' > "$work/mode.json"
seq_no=1
seal() { # seal NAME KIND CHUNK INPUT...
    local name=$1 kind=$2 chunk=$3
    shift 3
    "$noodepd" seal --key "$keys/publisher.key" --to "$keys/appliance.pub" --ward A3 \
        --sequence "$seq_no" --data-as-of 2026-11-22T05:58:00Z --kind "$kind" \
        --chunk-size "$chunk" --out "$work/$name.snap" "$@" > /dev/null
    seq_no=$((seq_no + 1))
    # Mode 0: the file as is; mode 1: without its signature (the harness signs it).
    { printf '\x00'; cat "$work/$name.snap"; } > "$corpus/snapshot_open/raw-$name"
    { printf '\x01'; head -c -64 "$work/$name.snap"; } > "$corpus/snapshot_open/signed-$name"
}
seal mode mode-command 256 "$work/mode.json"
seal roster roster 256 "$work/gen/roster-A3.json"
seal minimal clinical 256 tests/fixtures/ips-2.0.0/Bundle-bundle-minimal.json
seal ward clinical 65536 "$work/gen/A3.json"
# Mode 2 (seal and open again): small payloads, chunk sizes 256 and 512.
head -c 700 tests/fixtures/ips-2.0.0/Bundle-bundle-minimal.json > "$work/piece"
{ printf '\x02'; cat "$work/piece"; } > "$corpus/snapshot_open/roundtrip-256"
{ printf '\x05'; cat "$work/piece"; } > "$corpus/snapshot_open/roundtrip-512"

# ------------------------------------------------------------------ config_parse
cp config/noodepd.toml "$corpus/config_parse/example.toml"
find . -path ./target -prune -o -path ./fuzz -prune -o -name '*.toml' -print \
    | grep -v -e '^./Cargo.toml$' -e 'rust-toolchain' | while read -r f; do
        cp -- "$f" "$corpus/config_parse/$(echo "${f#./}" | tr '/' '_')"
    done

# ------------------------------------------------------------------ http_request
# One request per route and method, anonymous and with each session placeholder.
req() { # req NAME BYTES (printf format)
    printf "$2" > "$corpus/http_request/$1"
}
for p in / /health /ready /metrics /static/style.css /status /login /coordinator \
    /drill-report /print/mar /print/ward /print/blank-mar '/patient/@P1@' \
    '/print/mar/@P2@' '/patient/@P1@/mar' '/?q=a&lang=en' '/print/mar/@P1@?days=3'; do
    name=$(echo "$p" | tr -c 'a-zA-Z0-9\n' '_')
    req "get-anon$name" "GET $p HTTP/1.1\r\nHost: box\r\n\r\n"
    req "get-nurse$name" "GET $p HTTP/1.1\r\nHost: box\r\nCookie: noodepd_session=@SN@; lang=en\r\n\r\n"
    req "get-coord$name" "GET $p HTTP/1.1\r\nHost: box\r\nCookie: noodepd_session=@SC@\r\n\r\n"
    req "get-it$name" "GET $p HTTP/1.1\r\nHost: box\r\nCookie: noodepd_session=@SI@\r\n\r\n"
done
form() { # form NAME PATH COOKIE BODY
    printf 'POST %s HTTP/1.1\r\nHost: box\r\nCookie: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s' \
        "$2" "$3" "${#4}" "$4" > "$corpus/http_request/$1"
}
form post-login '/login' 'noodepd_pre=@PRE@' 'user=nurse1&code=31415926&csrf=@PCSRF@'
form post-login-bad '/login' 'noodepd_pre=@PRE@' 'user=nurse1&code=00000000&csrf=@PCSRF@'
form post-logout '/logout' 'noodepd_session=@SN@' 'csrf=@CN@'
form post-mode '/mode' 'noodepd_session=@SC@' 'mode=drill&reason=oefening&csrf=@CC@'
form post-mode-it '/mode' 'noodepd_session=@SI@' 'mode=standby&reason=x&csrf=@CI@'
form post-event-code '/event-code' 'noodepd_session=@SC@' 'name=Gast&role=nurse&csrf=@CC@'
printf 'GET / HTTP/1.1\r\nHost: box\r\nCookie: noodepd_session=@SN@\r\n\r\nGET /patient/@P1@ HTTP/1.1\r\nHost: box\r\nCookie: noodepd_session=@SN@\r\n\r\nGET /print/ward HTTP/1.1\r\nHost: box\r\nCookie: noodepd_session=@SN@\r\nConnection: close\r\n\r\n' \
    > "$corpus/http_request/keepalive-three"

for t in "${targets[@]}"; do
    echo "$t: $(find "$corpus/$t" -type f | wc -l) files, $(du -sh "$corpus/$t" | cut -f1)"
done
