#!/bin/bash
# smoke.sh: end-to-end smoke test of the appliance image. Builds the image (or reuses
# image/out with --no-build), boots it under qemu-system-x86_64 with software emulation
# (-accel tcg), provisions it with a provisioning stick made by provision.sh, reads the
# box's appliance public key from its console, seals a generated ward snapshot for it on
# the host, uploads it through the SFTP inbox account (NAME.part, then rename), and checks
# that https://.../ready reports the snapshot's sequence; then reboots it with a second stick
# whose ward network excludes the host and checks that the web port is now dropped while
# SFTP from the publisher address still works. Prints PASS or FAIL: <why>.
# qemu is always killed at the end; the whole run is bounded by --timeout (default 1500 s).
#
#   sudo image/smoke.sh [--no-build] [--out DIR] [--timeout SECONDS] [--keep]
#
# Needs (installed when missing): qemu-system-x86, ovmf, openssh-client, curl, openssl,
# dosfstools, mtools. The host's noodepd binary (target/release/noodepd, the
# same one the image contains; override with NOODEPD_HOST_BIN) makes the keys and the
# snapshot.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT="$HERE/out" BUILD=1 TIMEOUT=1500 KEEP=0
while [ $# -gt 0 ]; do
	case "$1" in
	--no-build) BUILD=0 ;;
	--out) OUT=$2; shift ;;
	--timeout) TIMEOUT=$2; shift ;;
	--keep) KEEP=1 ;;
	*) echo "smoke.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

START=$(date +%s)
W="$OUT/smoke"
QEMU_PID=""
RESULT=""
cleanup() {
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill "$QEMU_PID" 2>/dev/null
		sleep 2
		kill -9 "$QEMU_PID" 2>/dev/null
	fi
	[ "$KEEP" = 1 ] || rm -f "$W/disk.img"
}
trap cleanup EXIT
trap "exit 1" INT TERM
finish() { # RESULT
	RESULT=$1
	echo "smoke.sh: duration $(($(date +%s) - START)) s; serial log ${SERIAL:-$W/serial.log}" >&2
	echo "$RESULT"
	case "$RESULT" in PASS) exit 0 ;; *) exit 1 ;; esac
}
fail() { finish "FAIL: $*"; }
log() { echo "smoke.sh [$(($(date +%s) - START))s]: $*" >&2; }
left() { echo $((TIMEOUT - ($(date +%s) - START))); }

[ "$(id -u)" -eq 0 ] || fail "run as root (the image build needs it)"
need=""
for pair in qemu-system-x86_64:qemu-system-x86 sftp:openssh-client \
	ssh-keygen:openssh-client curl:curl openssl:openssl mkfs.fat:dosfstools mcopy:mtools; do
	command -v "${pair%%:*}" >/dev/null || need="$need ${pair##*:}"
done
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || need="$need ovmf"
if [ -n "$need" ]; then
	log "installing:$need"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null ||
		fail "could not install$need"
fi

if [ "$BUILD" = 1 ]; then
	log "building the image (image/build.sh)"
	"$HERE/build.sh" --out "$OUT" >"$OUT.build.log" 2>&1 || { tail -20 "$OUT.build.log" >&2; fail "image build failed (see $OUT.build.log)"; }
fi
IMG="$OUT/noodepd.img"
[ -f "$IMG" ] || fail "no image at $IMG (run without --no-build)"
NOODEPD="${NOODEPD_HOST_BIN:-$REPO/target/release/noodepd}"
[ -x "$NOODEPD" ] || fail "no host binary $NOODEPD"

rm -rf "$W"
mkdir -p "$W"
chmod 0700 "$W"

# ---- publisher side: keys, TLS certificate, provisioning stick ----------------------------
log "making publisher keys, SFTP key, TLS certificate and the provisioning stick"
"$NOODEPD" keygen publisher --out "$W/keys" >"$W/keygen.log" 2>&1 || fail "noodepd keygen publisher failed: $(tail -1 "$W/keygen.log")"
ssh-keygen -q -t ed25519 -N "" -C smoke-publisher -f "$W/upload_ed25519" || fail "ssh-keygen failed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
	-subj "/CN=noodepd-smoke" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$W/tls.key" -out "$W/tls.crt" 2>/dev/null || fail "openssl could not make a test certificate"
# Under qemu user networking every connection from the host arrives from 10.0.2.2, which
# stands in for both the ward network and the publisher here.
"$HERE/provision.sh" prepare --out "$W/prov" --appliance-id smoke-box-1 --ward A3 \
	--ward-name "Smoke A3" --publisher-key "$W/keys/publisher.pub" \
	--inbox-key "$W/upload_ed25519.pub" --ward-net 10.0.2.2/32 --publisher-addr 10.0.2.2 \
	--tls-cert "$W/tls.crt" --tls-key "$W/tls.key" --stick-image "$W/prov.img" >&2 ||
	fail "provision.sh prepare failed"

# ---- boot ------------------------------------------------------------------------------
cp --sparse=always "$IMG" "$W/disk.img" || fail "cannot copy the image"
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$W/OVMF_VARS.fd"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WEB=$(free_port) SSHP=$(free_port)
boot() { # STICK SERIAL_LOG
	log "booting under TCG (web 127.0.0.1:$WEB -> 443, sftp 127.0.0.1:$SSHP -> 22)"
	qemu-system-x86_64 -accel tcg -machine q35 -m 1024 -smp 2 \
		-drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
		-drive if=pflash,format=raw,file="$W/OVMF_VARS.fd" \
		-drive if=virtio,format=raw,file="$W/disk.img" \
		-drive if=virtio,format=raw,file="$1" \
		-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$WEB-:443,hostfwd=tcp:127.0.0.1:$SSHP-:22" \
		-device virtio-net-pci,netdev=n0 \
		-display none -monitor none -serial "file:$2" -no-reboot \
		>"$W/qemu.log" 2>&1 &
	QEMU_PID=$!
}
SERIAL="$W/serial.log"
boot "$W/prov.img" "$SERIAL"

wait_for() { # PATTERN WHAT: wait until the serial log has PATTERN
	while ! grep -q "$1" "$SERIAL" 2>/dev/null; do
		kill -0 "$QEMU_PID" 2>/dev/null || fail "qemu exited while waiting for $2 ($(tail -c 300 "$W/qemu.log" "$SERIAL" | tr '\n' ' '))"
		[ "$(left)" -gt 0 ] || fail "timed out waiting for $2"
		if grep -q 'Kernel panic\|dm-verity refused\|Gave up waiting for root' "$SERIAL" 2>/dev/null; then
			fail "boot failed: $(grep -m1 'Kernel panic\|dm-verity refused\|Gave up waiting' "$SERIAL")"
		fi
		sleep 3
	done
}
wait_for 'NOODEPD-APPLIANCE-PUBKEY ' "the appliance key on the console"
log "appliance key shown"
wait_for 'NOODEPD-PROVISIONED' "provisioning from the stick"
log "provisioned"
grep -q 'NOODEPD-JOURNAL persistent' "$SERIAL" || fail "journal is not persistent"

# The last value of a console status line (lines may carry a "[ time] showkey[pid]: " prefix).
console_value() { grep -a "$1 " "$SERIAL" | tail -n 1 | tr -d '\r' | sed "s/.*$1 //"; }
publine=$(console_value NOODEPD-APPLIANCE-PUBKEY-BASE64)
echo "$publine" | base64 -d >"$W/appliance.pub" 2>/dev/null && [ -s "$W/appliance.pub" ] ||
	fail "could not read the appliance public key from the console"
hostkey=$(console_value NOODEPD-SSH-HOSTKEY-LINE)
[ -n "$hostkey" ] || fail "no SSH host key on the console"
echo "[127.0.0.1]:$SSHP $hostkey" >"$W/known_hosts"

listening=$(console_value NOODEPD-LISTENING)
for sock in $listening; do
	case "$sock" in *:22 | *:443) ;; *) fail "unexpected listening socket $sock (listening: $listening)" ;; esac
done
log "listening sockets: $listening"

# ---- publisher: seal and upload ---------------------------------------------------------
SEQ=42
"$NOODEPD" generate --patients 8 --seed 7 --ward A3 --out "$W/fhir" >"$W/generate.log" 2>&1 ||
	fail "noodepd generate failed: $(tail -1 "$W/generate.log")"
"$NOODEPD" seal --key "$W/keys/publisher.key" --to "$W/appliance.pub" --ward A3 --sequence "$SEQ" \
	--out "$W/A3-$SEQ.snap" "$W/fhir" >"$W/seal.log" 2>&1 || fail "noodepd seal failed: $(tail -1 "$W/seal.log")"
cat >"$W/upload.batch" <<EOF
put $W/A3-$SEQ.snap A3-$SEQ.snap.part
rename A3-$SEQ.snap.part A3-$SEQ.snap
EOF
log "uploading A3-$SEQ.snap through SFTP"
uploaded=0
while [ "$(left)" -gt 0 ]; do
	if sftp -b "$W/upload.batch" -i "$W/upload_ed25519" -P "$SSHP" -o BatchMode=yes \
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$W/known_hosts" \
		-o ConnectTimeout=30 inbox@127.0.0.1 >"$W/sftp.log" 2>&1; then
		uploaded=1
		break
	fi
	kill -0 "$QEMU_PID" 2>/dev/null || fail "qemu exited"
	sleep 5
done
[ "$uploaded" = 1 ] || fail "SFTP upload failed: $(tail -2 "$W/sftp.log" | tr '\n' ' ')"

# The SFTP account must not see or write anything outside its inbox.
if echo "put $W/A3-$SEQ.snap /etc-escape.snap" | sftp -b - -i "$W/upload_ed25519" -P "$SSHP" \
	-o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$W/known_hosts" \
	inbox@127.0.0.1 >/dev/null 2>&1; then
	fail "the SFTP account could write outside its inbox (chroot root is writable)"
fi
if ssh -i "$W/upload_ed25519" -p "$SSHP" -o BatchMode=yes -o StrictHostKeyChecking=yes \
	-o UserKnownHostsFile="$W/known_hosts" inbox@127.0.0.1 id 2>/dev/null | grep -q uid=; then
	fail "the SFTP account could run a shell command"
fi

# ---- the box serves it --------------------------------------------------------------------
daemon=$(console_value NOODEPD-DAEMON)
[ "$daemon" = active ] || fail "noodepd.service is '$daemon' after provisioning (serial log: $W/serial.log)"
log "waiting for /ready to report sequence $SEQ"
while [ "$(left)" -gt 0 ]; do
	ready=$(curl -sk --max-time 20 "https://127.0.0.1:$WEB/ready" 2>/dev/null || true)
	if echo "$ready" | grep -Eq "\"sequence\"[[:space:]]*:[[:space:]]*$SEQ([^0-9]|$)"; then
		log "/ready: $ready"
		served=1
		break
	fi
	kill -0 "$QEMU_PID" 2>/dev/null || fail "qemu exited"
	sleep 5
done
[ "${served:-0}" = 1 ] || fail "/ready never reported sequence $SEQ (last answer: ${ready:-none})"

# ---- the firewall: re-provision with a ward network the host is not in ----------------------
log "re-provisioning with ward network 192.0.2.0/24 (the host, 10.0.2.2, is outside it)"
kill "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null; QEMU_PID=""
"$HERE/provision.sh" prepare --out "$W/prov2" --appliance-id smoke-box-1 --ward A3 \
	--ward-name "Smoke A3" --publisher-key "$W/keys/publisher.pub" \
	--inbox-key "$W/upload_ed25519.pub" --ward-net 192.0.2.0/24 --publisher-addr 10.0.2.2 \
	--tls-cert "$W/tls.crt" --tls-key "$W/tls.key" --stick-image "$W/prov2.img" >&2 ||
	fail "provision.sh prepare (second stick) failed"
SERIAL="$W/serial2.log"
boot "$W/prov2.img" "$SERIAL"
wait_for 'NOODEPD-DAEMON active' "the daemon after the second boot"
if echo "ls" | sftp -b - -i "$W/upload_ed25519" -P "$SSHP" -o BatchMode=yes \
	-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$W/known_hosts" -o ConnectTimeout=60 \
	inbox@127.0.0.1 >"$W/sftp2.log" 2>&1; then
	log "SFTP from the publisher address still works"
else
	fail "SFTP from the publisher address refused after re-provisioning: $(tail -1 "$W/sftp2.log")"
fi
if curl -sk --max-time 20 "https://127.0.0.1:$WEB/health" >/dev/null 2>&1; then
	fail "the web view answered a client outside the ward network (firewall not applied)"
fi
log "web view unreachable from outside the ward network, as it should be"
finish PASS
