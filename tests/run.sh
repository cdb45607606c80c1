#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run runs exactly this).
# Installs what the tests need on a fresh Debian machine with only the Rust toolchain
# (Chromium and the npm test tools for the browser test, systemd-analyze for the unit
# check, libfaketime for the clock-jump fault test, testssl.sh for the TLS scan, OpenSSH's
# sshd and the test EPD sekmet-fhir for the publisher's end-to-end test), then runs
# the whole test suite. Run it as root: tests/faults.rs mounts small tmpfs file systems to
# fill and bind-mounts the state directory read-only.
set -euo pipefail
cd "$(dirname "$0")/.."

for installer in tests/browser/install.sh image/install-test-deps.sh tests/publisher/install.sh; do
    if [ -f "$installer" ]; then
        bash "$installer"
    fi
done

# A clean CI build gains nothing from incremental state and it costs disk (one copy of the
# crate's query cache per test target).
if [ "${CI:-}" = true ]; then
    export CARGO_INCREMENTAL=0
fi

exec cargo test --locked "$@"
