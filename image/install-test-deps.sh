#!/bin/sh
# install-test-deps.sh: install what `cargo test` needs beyond the Rust toolchain on a
# Debian machine: systemd-analyze (package `systemd`) for tests/systemd_unit.rs, and
# libfaketime (package `faketime`) for the clock-jump test in tests/faults.rs, and
# testssl.sh (package `testssl.sh`, command `testssl`) for tests/tls_scan.rs, and
# ssh-keygen and openssl for tests/provision_stick.rs, and strace for the file-creation
# trace in tests/audit_keyed.rs.
# Idempotent and quiet; run as root (or with sudo available).
set -eu
need=""
command -v systemd-analyze >/dev/null 2>&1 || need="$need systemd"
ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 || need="$need faketime"
command -v testssl >/dev/null 2>&1 || need="$need testssl.sh"
command -v ssh-keygen >/dev/null 2>&1 || need="$need openssh-client"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
command -v strace >/dev/null 2>&1 || need="$need strace"
[ -z "$need" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
command -v systemd-analyze >/dev/null
ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null
command -v testssl >/dev/null
command -v ssh-keygen >/dev/null
command -v openssl >/dev/null
command -v strace >/dev/null
