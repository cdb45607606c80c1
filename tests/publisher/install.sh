#!/usr/bin/env bash
# Installs what the publisher's end-to-end test (tests/e2e_publisher.rs) and its benchmark
# (tests/publisher/bench.sh) need on a fresh Debian machine: OpenSSH's server and client
# (Debian packages; the service is not started: the tests run their own sshd on loopback),
# python3 with venv, and the test EPD sekmet-fhir 0.1.1 with its dependencies pinned by
# hash (requirements.txt) in tests/publisher/venv. Safe to run again; tests/run.sh calls it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

need=""
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v sftp >/dev/null 2>&1 || need="$need openssh-client"
command -v ssh-keygen >/dev/null 2>&1 || need="$need openssh-client"
command -v python3 >/dev/null 2>&1 || need="$need python3"
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need="$need python3-venv"
if [ -n "$need" ]; then
    echo "installing$need from Debian's packages" >&2
    # Keep apt from starting sshd on port 22 (only when no policy is in place already).
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    cleanup() { if [ -n "$made_policy" ]; then $sudo rm -f /usr/sbin/policy-rc.d; fi; }
    trap cleanup EXIT
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

venv="$here/venv"
if ! "$venv/bin/sekmet" --version 2>/dev/null | grep -qx 'sekmet-fhir 0.1.1'; then
    echo "installing sekmet-fhir 0.1.1 into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps \
        -r "$here/requirements.txt"
fi
echo "publisher test ready: $("$venv/bin/sekmet" --version), $(/usr/sbin/sshd -V 2>&1 | head -1)" >&2
