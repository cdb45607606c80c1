#!/bin/bash
# smoke.sh: end-to-end smoke test of the appliance image. Builds the image (or reuses
# image/out with --no-build), boots it under qemu-system-x86_64 with software emulation
# (-accel tcg), provisions it with a provisioning stick made by provision.sh, reads the
# box's appliance public key from its console, seals a generated ward snapshot for it on
# the host, uploads it through the SFTP inbox account (NAME.part, then rename), and checks
# that https://.../ready reports the snapshot's sequence; then reboots it with a second stick
# whose ward network excludes the host and checks that the web port is now dropped while
# SFTP from the publisher address still works, and that the box kept its machine id (and
# so its journal's list of boots) across the reboot. Prints PASS or FAIL: <why>.
# qemu is always killed at the end; the run after the build is bounded by --timeout
# (default 1500 s; 2700 s for --variant full); the build has no time limit.
#
#   sudo image/smoke.sh [--variant default|full] [--no-build] [--out DIR] [--timeout SECONDS] [--keep]
#                       [--console-socket]
#
# --variant full builds with --luks-state --with-kiosk --with-printer (default --out
# image/out/full) and also checks those options: the state partition is formatted as LUKS2
# and enrolled to a software TPM (swtpm) on the host, as IT does at installation, and the box
# must unlock it with that TPM at every boot, and a third boot of the same disk without the
# TPM must leave it locked with nothing started (no daemon, no inbox); the kiosk browser must
# show the ward view on the box's screen (a qemu screendump, saved as DIR/smoke/kiosk.png,
# must show the ward view's top bar); CUPS must listen on loopback only.
#
# --variant update (issue 19: the appliance over its life) builds three releases from one root:
# 1.2 whose daemon never reports READY, 1.1 and 1.0 (in that order, --reuse-root), each signed
# for Secure Boot with the snakeoil key that Debian's OVMF_VARS_4M.snakeoil.fd trusts, each with
# a test release key pinned; and a bundle of 1.1 signed by another release key. It boots 1.0
# with Secure Boot on, provisions it and serves a snapshot as the default variant does, then:
# the foreign bundle is delivered through the SFTP inbox and refused (the box stays on 1.0);
# the 1.1 bundle is delivered, installed into slot b, the box reboots into it by itself and
# serves the same data with its audit log intact, and the entry is made permanent; the broken
# 1.2 is delivered, installed into slot a, fails its trial boots and the box falls back to
# 1.1 by itself. Last, the same disk with the UKI's signature removed does not boot with
# Secure Boot on. Needs sbsigntool (sbsign, sbattach) too.
#
# --console-socket (debugging, e.g. an image built with --root-password-hash): the box's
# serial console is a unix socket DIR/smoke/console.sock as well as the log file; qemu waits
# at start until a client connects (`socat - UNIX-CONNECT:DIR/smoke/console.sock`), and the
# client must stay connected, or the console stalls.
#
# Needs (installed when missing): qemu-system-x86, ovmf, openssh-client, curl, openssl,
# dosfstools, mtools; for --variant full also swtpm, the tpm2-tss libraries and
# cryptsetup-bin. The host's noodepd binary (target/release/noodepd, the
# same one the image contains; override with NOODEPD_HOST_BIN) makes the keys and the
# snapshot.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT="" BUILD=1 TIMEOUT="" KEEP=0 VARIANT=default CONSOLE_SOCKET=0
while [ $# -gt 0 ]; do
	case "$1" in
	--no-build) BUILD=0 ;;
	--out) OUT=$2; shift ;;
	--timeout) TIMEOUT=$2; shift ;;
	--keep) KEEP=1 ;;
	--console-socket) CONSOLE_SOCKET=1 ;;
	--variant) VARIANT=$2; shift ;;
	*) echo "smoke.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
case "$VARIANT" in
default) OUT=${OUT:-$HERE/out} TIMEOUT=${TIMEOUT:-1500} BUILD_OPTS="" ;;
full) OUT=${OUT:-$HERE/out/full} TIMEOUT=${TIMEOUT:-2700} BUILD_OPTS="--luks-state --with-kiosk --with-printer" ;;
update) OUT=${OUT:-$HERE/out/update} TIMEOUT=${TIMEOUT:-3600} BUILD_OPTS="" ;;
*) echo "smoke.sh: --variant default, full or update" >&2; exit 2 ;;
esac
case "$TIMEOUT" in "" | *[!0-9]*) echo "smoke.sh: --timeout SECONDS" >&2; exit 2 ;; esac
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || { echo "smoke.sh: cannot use --out $OUT" >&2; exit 2; }

START=$(date +%s)
W="$OUT/smoke"
QEMU_PID="" SWTPM_PID=""
RESULT=""
stop_pid() { # PID: TERM, then KILL
	if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
		kill "$1" 2>/dev/null
		sleep 2
		kill -9 "$1" 2>/dev/null
	fi
	return 0
}
cleanup() {
	stop_pid "$QEMU_PID"
	stop_pid "$SWTPM_PID"
	[ "$KEEP" = 1 ] || rm -f "$W/disk.img"
}
trap cleanup EXIT
trap "exit 1" INT TERM
finish() { # RESULT
	RESULT=$1
	echo "smoke.sh: variant $VARIANT; ${BUILD_TIME:+build $BUILD_TIME s, }test $(($(date +%s) - START)) s; serial log ${SERIAL:-$W/serial.log}" >&2
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
if [ "$VARIANT" = update ]; then
	command -v sbattach >/dev/null || need="$need sbsigntool"
fi
if [ "$VARIANT" = full ]; then
	for pair in swtpm:swtpm cryptsetup:cryptsetup-bin systemd-cryptenroll:systemd; do
		command -v "${pair%%:*}" >/dev/null || need="$need ${pair##*:}"
	done
	# systemd-cryptenroll talks to the TPM through tpm2-tss, here to swtpm over TCP.
	for lib in libtss2-esys-3.0.2-0 libtss2-mu0 libtss2-rc0 libtss2-tcti-swtpm0; do
		dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q 'ok installed' || need="$need $lib"
	done
fi
if [ -n "$need" ]; then
	log "installing:$need"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null ||
		fail "could not install$need"
fi

UPD="$OUT/update-test"
# Debian's test Secure Boot key (ovmf package; its passphrase is "snakeoil", README.Debian),
# the only db entry of OVMF_VARS_4M.snakeoil.fd.
SB_KEY="$UPD/sb/db.key" SB_CERT=/usr/share/ovmf/PkKek-1-snakeoil.pem
if [ "$BUILD" = 1 ] && [ "$VARIANT" = update ]; then
	NOODEPD_BUILD_BIN="${NOODEPD_HOST_BIN:-$REPO/target/release/noodepd}"
	[ -x "$NOODEPD_BUILD_BIN" ] || fail "no host binary $NOODEPD_BUILD_BIN (cargo build --release, or NOODEPD_HOST_BIN)"
	rm -rf "$UPD"
	mkdir -p "$UPD/bundles" "$UPD/sb"
	chmod 0700 "$UPD/sb"
	openssl pkey -in /usr/share/ovmf/PkKek-1-snakeoil.key -passin pass:snakeoil -out "$SB_KEY" 2>/dev/null ||
		fail "cannot read the snakeoil Secure Boot key"
	"$NOODEPD_BUILD_BIN" keygen release --out "$UPD/keys" >/dev/null && "$NOODEPD_BUILD_BIN" keygen release --out "$UPD/foreign" >/dev/null ||
		fail "noodepd keygen release failed"
	# Release 1.2: its daemon fails before it could ever report READY.
	printf '#!/bin/sh\necho "noodepd (smoke: a broken release that never becomes ready)" >&2\nexit 1\n' >"$UPD/broken-noodepd"
	chmod 0755 "$UPD/broken-noodepd"
	REL_OPTS=(--release-pub "$UPD/keys/release.pub" --release-key "$UPD/keys/release.key" --sb-key "$SB_KEY" --sb-cert "$SB_CERT")
	reuse=()
	# A root from an earlier build into this --out is re-used (customize.sh re-applied).
	[ -f "$OUT/work/manifest.txt" ] && reuse=(--reuse-root)
	for v in 1.2 1.1 1.0; do
		bin="$NOODEPD_BUILD_BIN"
		[ "$v" = 1.2 ] && bin="$UPD/broken-noodepd"
		log "building release $v (image/build.sh --out $OUT --image-version $v ${reuse[*]})"
		t0=$(date +%s)
		NOODEPD_HOST_BIN="$NOODEPD_BUILD_BIN" "$HERE/build.sh" --out "$OUT" "${reuse[@]}" --binary "$bin" --image-version "$v" "${REL_OPTS[@]}" >"$OUT.build-$v.log" 2>&1 ||
			{ tail -20 "$OUT.build-$v.log" >&2; fail "image build $v failed (see $OUT.build-$v.log)"; }
		log "release $v built in $(($(date +%s) - t0)) s"
		[ "$v" = 1.0 ] || mv "$OUT/noodepd-$v.nupd" "$UPD/bundles/"
		if [ "$v" = 1.1 ]; then
			"$NOODEPD_BUILD_BIN" update make --key "$UPD/foreign/release.key" --version 1.1 --root "$OUT/root.sqfs" \
				--verity "$OUT/root.verity" --uki "$OUT/noodepd.efi" --out "$UPD/bundles/foreign-1.1.nupd" >/dev/null ||
				fail "could not make the foreign bundle"
		fi
		reuse=(--reuse-root)
	done
	rm -f "$OUT/noodepd-1.0.nupd"
	BUILD_TIME=$(($(date +%s) - START))
	log "three releases built in $BUILD_TIME s; the test's own time limit starts now"
	START=$(date +%s)
elif [ "$BUILD" = 1 ]; then
	log "building the image (image/build.sh --out $OUT $BUILD_OPTS)"
	mkdir -p "$OUT"
	# shellcheck disable=SC2086
	"$HERE/build.sh" --out "$OUT" $BUILD_OPTS >"$OUT.build.log" 2>&1 || { tail -20 "$OUT.build.log" >&2; fail "image build failed (see $OUT.build.log)"; }
	BUILD_TIME=$(($(date +%s) - START))
	log "image built in $BUILD_TIME s; the test's own time limit starts now"
	START=$(date +%s)
fi
if [ "$VARIANT" = update ]; then
	for f in next:1.1 broken:1.2 foreign:foreign-1.1; do
		[ -f "$UPD/bundles/noodepd-${f#*:}.nupd" ] || [ -f "$UPD/bundles/${f#*:}.nupd" ] || fail "no ${f%%:*} bundle in $UPD/bundles (run without --no-build)"
	done
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
# A test CA and a server certificate from it, as a hospital PKI would issue (the kiosk
# browser trusts the CA, given on the stick with --kiosk-ca).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 \
	-subj "/CN=noodepd-smoke test CA" -keyout "$W/ca.key" -out "$W/ca.crt" 2>/dev/null &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=noodepd-smoke" -keyout "$W/tls.key" -out "$W/tls.csr" 2>/dev/null &&
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$W/tls.ext" &&
	openssl x509 -req -in "$W/tls.csr" -CA "$W/ca.crt" -CAkey "$W/ca.key" -CAcreateserial \
		-days 90 -extfile "$W/tls.ext" -out "$W/tls.crt" 2>/dev/null ||
	fail "openssl could not make a test certificate"
STICK_OPTS=()
# Full variant: the second stick also sets up the ward's printer (a PCL laser on the ward
# network; nothing needs to answer there for the queue to be made and saved).
PRINTER_OPTS=()
[ "$VARIANT" = full ] && PRINTER_OPTS=(--printer-uri socket://192.0.2.9:9100 --printer-model drv:///sample.drv/generpcl.ppd)
# Full variant: /metrics is opened to the ward network so the test can see the kiosk's
# page views (the test itself never asks for an HTML page).
[ "$VARIANT" = full ] && STICK_OPTS=(--kiosk-ca "$W/ca.crt" --metrics-public yes)
# IT's provisioning key signs every stick; the box pins it at the first one.
ssh-keygen -q -t ed25519 -N "" -C smoke-it-provisioning -f "$W/it-provisioning" || fail "ssh-keygen failed"
# Under qemu user networking every connection from the host arrives from 10.0.2.2, which
# stands in for both the ward network and the publisher here.
"$HERE/provision.sh" prepare --out "$W/prov" --appliance-id smoke-box-1 --ward A3 \
	--signing-key "$W/it-provisioning" \
	--ward-name "Smoke A3" --publisher-key "$W/keys/publisher.pub" \
	--inbox-key "$W/upload_ed25519.pub" --ward-net 10.0.2.2/32 --publisher-addr 10.0.2.2 \
	--tls-cert "$W/tls.crt" --tls-key "$W/tls.key" "${STICK_OPTS[@]}" --stick-image "$W/prov.img" >&2 ||
	fail "provision.sh prepare failed"

# ---- boot ------------------------------------------------------------------------------
cp --sparse=always "$IMG" "$W/disk.img" || fail "cannot copy the image"
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$W/OVMF_VARS.fd"
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
MACHINE=q35
REBOOT_OPTS=(-no-reboot)
if [ "$VARIANT" = update ]; then
	# Secure Boot on, enforcing, with the snakeoil test key in db (Debian's OVMF package);
	# the box reboots itself here (installer, trial boots), so qemu must let it.
	OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd
	cp /usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd "$W/OVMF_VARS.fd"
	MACHINE=q35,smm=on
	REBOOT_OPTS=(-global driver=cfi.pflash01,property=secure,value=on)
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WEB=$(free_port) SSHP=$(free_port)

# ---- full variant: install the box as docs/OPERATIONS.md 3.3 says, with a software TPM ----
# swtpm plays the box's TPM 2.0; its state directory is the chip, kept across both boots.
# The state partition of the disk copy becomes LUKS2 with a recovery passphrase and a TPM2
# key slot (systemd-cryptenroll, exactly the production step; no PCR binding here because
# the host, not the box's firmware, does the enrolment). The box makes the ext4 inside
# itself at its first unlock.
start_swtpm() { # ARGS...: swtpm socket with the TPM state in $W/tpm
	swtpm socket --tpm2 --tpmstate dir="$W/tpm" --log file="$W/swtpm.log" "$@" &
	SWTPM_PID=$!
}
TPM_OPTS=()
if [ "$VARIANT" = full ]; then
	mkdir -p "$W/tpm"
	part=$(sfdisk -J "$W/disk.img" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p.get("name") == "noodepd-state":
        print(p["start"], p["size"])') || fail "cannot read the partition table of the image"
	set -- $part
	[ $# = 2 ] || fail "no noodepd-state partition in the image"
	st_start=$1 st_size=$2
	log "installing: LUKS2 state partition (${st_size} sectors), TPM2 key slot on swtpm"
	# The recovery passphrase (no newline: --key-file takes the file's bytes as they are).
	printf '%s' "$(head -c 24 /dev/urandom | base64)" >"$W/recovery.pass"
	rm -f "$W/state.luks"
	truncate -s $((st_size * 512)) "$W/state.luks"
	cryptsetup luksFormat -q --type luks2 --key-file "$W/recovery.pass" \
		--pbkdf argon2id --pbkdf-memory 65536 --iter-time 500 "$W/state.luks" >"$W/luks.log" 2>&1 ||
		fail "cryptsetup luksFormat failed: $(tail -1 "$W/luks.log")"
	TPM_PORT=$(free_port)
	start_swtpm --server type=tcp,port="$TPM_PORT" --ctrl type=tcp,port=$((TPM_PORT + 1)) --flags not-need-init,startup-clear
	sleep 1
	PASSWORD=$(cat "$W/recovery.pass") systemd-cryptenroll --tpm2-device="swtpm:host=127.0.0.1,port=$TPM_PORT" \
		--tpm2-pcrs= "$W/state.luks" >>"$W/luks.log" 2>&1 ||
		fail "systemd-cryptenroll (swtpm) failed: $(tail -1 "$W/luks.log")"
	stop_pid "$SWTPM_PID"; wait "$SWTPM_PID" 2>/dev/null; SWTPM_PID=""
	cryptsetup luksDump "$W/state.luks" | grep -q 'systemd-tpm2' || fail "no TPM2 token in the LUKS2 header"
	# Not conv=sparse: the zeros must overwrite the image's ext4 (the LUKS2 header's checksum
	# covers its zero padding).
	dd if="$W/state.luks" of="$W/disk.img" bs=1M oflag=seek_bytes seek=$((st_start * 512)) conv=notrunc status=none ||
		fail "cannot write the LUKS2 state partition into the disk copy"
	rm -f "$W/state.luks"
	TPM_OPTS=(-chardev "socket,id=chrtpm,path=$W/swtpm.sock" -tpmdev emulator,id=tpm0,chardev=chrtpm
		-device tpm-crb,tpmdev=tpm0)
fi
MEM=1024
DISPLAY_OPTS=()
if [ "$VARIANT" = full ]; then
	MEM=2048
	# The kiosk's compositor (cage on wlroots 0.15) needs a DRM driver with PRIME import:
	# qemu's default std VGA (bochs-drm, VRAM helpers) has none ("PRIME import not
	# supported"), virtio-gpu has it, as do the Intel/AMD drivers of real boxes.
	DISPLAY_OPTS=(-vga none -device virtio-vga)
fi
boot() { # STICK SERIAL_LOG
	if [ "${#TPM_OPTS[@]}" -gt 0 ]; then
		stop_pid "$SWTPM_PID"
		rm -f "$W/swtpm.sock"
		start_swtpm --ctrl type=unixio,path="$W/swtpm.sock" --terminate
		for _ in 1 2 3 4 5 6 7 8 9 10; do [ -S "$W/swtpm.sock" ] && break; sleep 0.5; done
	fi
	log "booting under TCG (web 127.0.0.1:$WEB -> 443, sftp 127.0.0.1:$SSHP -> 22)"
	rm -f "$W/monitor.sock" "$W/console.sock"
	local serial=(-serial "file:$2")
	if [ "$CONSOLE_SOCKET" = 1 ]; then
		serial=(-chardev "socket,id=ser0,path=$W/console.sock,server=on,wait=on,logfile=$2" -serial chardev:ser0)
		log "console on $W/console.sock: connect to it (qemu waits)"
	fi
	qemu-system-x86_64 -accel tcg -machine "$MACHINE" -m "$MEM" -smp 2 \
		-drive if=pflash,format=raw,readonly=on,file="$OVMF_CODE" \
		-drive if=pflash,format=raw,file="$W/OVMF_VARS.fd" \
		-drive if=virtio,format=raw,file="$W/disk.img" \
		-drive if=virtio,format=raw,file="$1" \
		-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$WEB-:443,hostfwd=tcp:127.0.0.1:$SSHP-:22" \
		-device virtio-net-pci,netdev=n0 "${TPM_OPTS[@]}" "${DISPLAY_OPTS[@]}" \
		-display none -monitor "unix:$W/monitor.sock,server=on,wait=off" "${serial[@]}" "${REBOOT_OPTS[@]}" \
		>"$W/qemu.log" 2>&1 &
	QEMU_PID=$!
}
# Save the box's screen as PNG and print how many colours it has (1 = blank screen).
screendump() { # PNG
	python3 - "$W/monitor.sock" "$W/screen.ppm" "$1" <<'PY'
import socket, struct, sys, time, zlib
sock_path, ppm, png = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX)
s.connect(sock_path)
s.settimeout(10)
s.recv(4096)
s.sendall(("screendump %s\n" % ppm).encode())
time.sleep(3)
s.close()
with open(ppm, "rb") as f:
    data = f.read()
fields, pos = [], 0
while len(fields) < 4:
    while data[pos:pos + 1].isspace():
        pos += 1
    if data[pos:pos + 1] == b"#":
        pos = data.index(b"\n", pos)
        continue
    end = pos
    while not data[end:end + 1].isspace():
        end += 1
    fields.append(data[pos:end])
    pos = end
pos += 1
assert fields[0] == b"P6" and fields[3] == b"255", "not a PPM from qemu"
w, h = int(fields[1]), int(fields[2])
pix = data[pos:pos + w * h * 3]
rows = b"".join(b"\0" + pix[y * w * 3:(y + 1) * w * 3] for y in range(h))
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
with open(png, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))
print(len({pix[i:i + 3] for i in range(0, len(pix), 3 * 7)}))
PY
}
# Per mille of the last screendump's pixels in the ward view's top bar colour (#12324f,
# src/web/pages/style.css): every noodepd page, the login page too, has that full-width bar;
# Firefox's own start or error screens do not.
topbar_share() {
	python3 - "$W/screen.ppm" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
# qemu writes "P6\n<w> <h>\n255\n" then the pixels.
parts = data.split(b"\n", 3)
w, h = (int(x) for x in parts[1].split())
pix = parts[3][: w * h * 3]
bar = bytes((0x12, 0x32, 0x4F))
n = sum(1 for i in range(0, len(pix), 3) if pix[i:i + 3] == bar)
print(n * 1000 // max(1, w * h))
PY
}
# Switch the box off between boots. The full variant powers it down properly (ACPI power
# button; logind is there for the kiosk) so the TPM sees an orderly shutdown: every
# unorderly one counts as a failed try against the TPM's dictionary-attack protection, and
# swtpm's defaults lock the key out after three, which no real box meets in a test's few
# minutes. The default variant (no TPM, no logind) is simply cut off, like a power cut.
power_off() {
	if [ "$VARIANT" = full ]; then
		python3 - "$W/monitor.sock" <<'PY' || true
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(10)
s.recv(4096)
s.sendall(b"system_powerdown\n")
time.sleep(1)
s.close()
PY
		for _ in $(seq 1 60); do
			kill -0 "$QEMU_PID" 2>/dev/null || break
			sleep 2
		done
		kill -0 "$QEMU_PID" 2>/dev/null && log "the box did not power off within 120 s: cutting it off"
	fi
	kill "$QEMU_PID" 2>/dev/null; wait "$QEMU_PID" 2>/dev/null; QEMU_PID=""
}
# ---- update variant: the scenarios after the box serves its first snapshot -----------------
upload() { # FILE NAME: SFTP into the inbox as NAME.part, then rename
	printf 'put %s %s.part\nrename %s.part %s\n' "$1" "$2" "$2" "$2" >"$W/upload-$2.batch"
	for _ in 1 2 3 4 5 6; do
		sftp -b "$W/upload-$2.batch" -i "$W/upload_ed25519" -P "$SSHP" -o BatchMode=yes \
			-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$W/known_hosts" \
			-o ConnectTimeout=30 inbox@127.0.0.1 >"$W/sftp-$2.log" 2>&1 && return 0
		sleep 10
	done
	fail "SFTP upload of $2 failed: $(tail -2 "$W/sftp-$2.log" | tr '\n' ' ')"
}
image_line() { console_value NOODEPD-IMAGE; }
# Wait until the serial log has PATTERN at least N times.
wait_count() { # PATTERN N WHAT
	while [ "$(grep -ac "$1" "$SERIAL" 2>/dev/null)" -lt "$2" ]; do
		kill -0 "$QEMU_PID" 2>/dev/null || fail "qemu exited while waiting for $3"
		[ "$(left)" -gt 0 ] || fail "timed out waiting for $3"
		sleep 5
	done
}
served_seq() { curl -sk --max-time 20 "https://127.0.0.1:$WEB/ready" 2>/dev/null | grep -Eq "\"sequence\"[[:space:]]*:[[:space:]]*$SEQ([^0-9]|$)"; }
update_scenarios() {
	local t0 line audit0 audit1 boots trials esp stripped
	line=$(image_line)
	case "$line" in "version=1.0 slot=a "*) ;; *) fail "first boot: NOODEPD-IMAGE '$line', not 1.0 from slot a" ;; esac
	log "Secure Boot on: signed release 1.0 booted from slot a ($line)"
	audit0=$(console_value NOODEPD-AUDIT)

	t0=$(date +%s)
	log "delivering a bundle signed by another release key"
	upload "$UPD/bundles/foreign-1.1.nupd" foreign-1.1.nupd
	wait_for 'NOODEPD-UPDATE foreign-1.1.nupd refused' "the installer's verdict on the foreign bundle"
	grep -aq 'NOODEPD-UPDATE foreign-1.1.nupd refused wrong_release_key' "$SERIAL" ||
		fail "the foreign bundle was not refused for its key: $(grep -a 'NOODEPD-UPDATE foreign' "$SERIAL" | tail -1)"
	sleep 5
	served_seq || fail "after the refused bundle the box no longer serves sequence $SEQ"
	# IT sees why without a console: in the status file the publisher fetches over SFTP
	# (its fleet page) and on the box's status page.
	printf 'get /status/status.json %s\n' "$W/status-foreign.json" >"$W/get-status.batch"
	seen=0
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do
		sftp -b "$W/get-status.batch" -i "$W/upload_ed25519" -P "$SSHP" -o BatchMode=yes \
			-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$W/known_hosts" \
			-o ConnectTimeout=30 inbox@127.0.0.1 >"$W/sftp-status.log" 2>&1 &&
			grep -q '"update_wrong_release_key"' "$W/status-foreign.json" && { seen=1; break; }
		sleep 5
	done
	[ "$seen" = 1 ] || fail "the refused bundle is not in the box's status file ($W/status-foreign.json)"
	curl -sk --max-time 30 "https://127.0.0.1:$WEB/status" >"$W/status-foreign.html" 2>/dev/null
	grep -q 'update_wrong_release_key' "$W/status-foreign.html" && grep -q 'another release key' "$W/status-foreign.html" ||
		fail "the box's status page does not show why the bundle was refused ($W/status-foreign.html)"
	log "foreign bundle refused (wrong_release_key), box still on 1.0 and serving; the reason is in its status file and on its status page ($(($(date +%s) - t0)) s)"

	t0=$(date +%s)
	log "delivering release 1.1 through the inbox"
	boots=$(grep -ac 'NOODEPD-IMAGE ' "$SERIAL")
	upload "$UPD/bundles/noodepd-1.1.nupd" noodepd-1.1.nupd
	wait_for 'NOODEPD-UPDATE noodepd-1.1.nupd installed 1.1 slot=b' "release 1.1 to be installed into slot b"
	# The box is in standby: the installer reboots it into 1.1 (on trial, then blessed).
	wait_count 'NOODEPD-IMAGE version=1.1' 1 "the box to come back on 1.1 after installing it"
	[ "$(grep -ac 'NOODEPD-IMAGE ' "$SERIAL")" -gt "$boots" ] || fail "no new boot after installing 1.1"
	line=$(image_line)
	case "$line" in "version=1.1 slot=b "*) ;; *) fail "after the 1.1 update: NOODEPD-IMAGE '$line', not 1.1 from slot b" ;; esac
	while ! served_seq; do
		[ "$(left)" -gt 0 ] || fail "release 1.1 does not serve sequence $SEQ (the data did not survive the update)"
		sleep 5
	done
	audit1=$(console_value NOODEPD-AUDIT)
	case "$audit1" in OK:*) ;; *) fail "after the update the audit log does not verify: '$audit1' (before: '$audit0')" ;; esac
	[ "$(console_value NOODEPD-MACHINE-ID)" = "$MACHINE_ID" ] || fail "the machine id changed with the update"
	log "release 1.1 runs from slot b, serves sequence $SEQ, audit log verifies ($audit1; before: $audit0) ($(($(date +%s) - t0)) s)"
	# (entry= is systemd-boot's id of the entry, without its boot counter; whether it was made
	# permanent is read from the ESP at the end.)

	t0=$(date +%s)
	log "delivering release 1.2, whose daemon never becomes ready"
	upload "$UPD/bundles/noodepd-1.2.nupd" noodepd-1.2.nupd
	wait_for 'NOODEPD-UPDATE noodepd-1.2.nupd installed 1.2 slot=a' "release 1.2 to be installed into slot a"
	boots=$(grep -ac 'NOODEPD-IMAGE ' "$SERIAL")
	# Three trial boots of 1.2 (each reboots when the daemon fails), then 1.1 again.
	while :; do
		line=$(image_line)
		[ "$(grep -ac 'NOODEPD-IMAGE ' "$SERIAL")" -gt "$boots" ] && case "$line" in *version=1.1*) break ;; esac
		kill -0 "$QEMU_PID" 2>/dev/null || fail "qemu exited while release 1.2 was on trial"
		[ "$(left)" -gt 0 ] || fail "the box did not fall back from the broken 1.2 (last: '$line')"
		sleep 10
	done
	trials=$(grep -ac 'version=1.2 slot=a' "$SERIAL")
	case "$line" in "version=1.1 slot=b "*) ;; *) fail "after the broken 1.2: NOODEPD-IMAGE '$line'" ;; esac
	while ! served_seq; do
		[ "$(left)" -gt 0 ] || fail "after falling back, 1.1 does not serve sequence $SEQ"
		sleep 5
	done
	log "broken 1.2 tried $trials time(s), then the box fell back to 1.1 by itself and serves sequence $SEQ ($(($(date +%s) - t0)) s)"

	t0=$(date +%s)
	power_off
	# On the ESP: 1.1 made permanent (no counter) after READY, 1.2's tries used up.
	esp=$(mdir -b -i "$W/disk.img@@1048576" ::/EFI/Linux 2>/dev/null | sed -n 's|.*/\(noodepd-[^/]*\.efi\)$|\1|p' | sort | xargs)
	[ "$esp" = "noodepd-1.1-b.efi noodepd-1.2-a+0-3.efi" ] ||
		fail "boot entries on the ESP are '$esp', not 1.1 blessed and 1.2 with no tries left"
	log "ESP: $esp (1.1 blessed after READY, 1.2 out of tries)"
	log "Secure Boot: the same disk with the UKIs' signatures removed must not boot"
	stripped=0
	for name in $(mdir -b -i "$W/disk.img@@1048576" ::/EFI/Linux 2>/dev/null | sed -n 's|.*/\(noodepd-[^/]*\.efi\)$|\1|p'); do
		mcopy -o -i "$W/disk.img@@1048576" "::/EFI/Linux/$name" "$W/$name" && sbattach --remove "$W/$name" >/dev/null &&
			mcopy -o -i "$W/disk.img@@1048576" "$W/$name" "::/EFI/Linux/$name" || fail "could not strip the signature of $name"
		stripped=$((stripped + 1))
	done
	[ "$stripped" -ge 2 ] || fail "found $stripped UKIs on the ESP to strip, not the two slots'"
	SERIAL="$W/serial-unsigned.log"
	boot "$W/prov.img" "$SERIAL"
	sleep 150
	grep -aq 'Linux version\|NOODEPD-' "$SERIAL" && fail "an unsigned kernel booted with Secure Boot on (serial log: $SERIAL)"
	log "unsigned UKIs: no kernel started in 150 s with Secure Boot on ($(grep -ao 'Security Violation\|Access Denied\|Failed to [^.]*' "$SERIAL" | head -1)) ($(($(date +%s) - t0)) s)"
}

SERIAL="$W/serial.log"
boot "$W/prov.img" "$SERIAL"

wait_for() { # PATTERN WHAT: wait until the serial log has PATTERN
	while ! grep -q "$1" "$SERIAL" 2>/dev/null; do
		kill -0 "$QEMU_PID" 2>/dev/null || fail "qemu exited while waiting for $2 ($(tail -c 300 "$W/qemu.log" "$SERIAL" | tr '\n' ' '))"
		[ "$(left)" -gt 0 ] || fail "timed out waiting for $2"
		if grep -q 'Kernel panic\|dm-verity refused\|no root slot matches\|Gave up waiting for root' "$SERIAL" 2>/dev/null; then
			fail "boot failed: $(grep -m1 'Kernel panic\|dm-verity refused\|no root slot matches\|Gave up waiting' "$SERIAL")"
		fi
		sleep 3
	done
}
wait_for 'NOODEPD-APPLIANCE-PUBKEY ' "the appliance key on the console"
log "appliance key shown"
wait_for 'NOODEPD-PROVISIONED' "provisioning from the stick"
log "provisioned"
# The status lines come one by one (slower with --console-socket): read them once the last is there.
wait_for 'NOODEPD-LISTENING ' "the status lines on the console"
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
	case "$sock" in
	*:22 | *:443) ;;
	127.0.0.1:631 | "[::1]:631") [ "$VARIANT" = full ] || fail "CUPS listens in an image without --with-printer" ;;
	*) fail "unexpected listening socket $sock (listening: $listening)" ;;
	esac
done
log "listening sockets: $listening"
MACHINE_ID=$(console_value NOODEPD-MACHINE-ID)
echo "$MACHINE_ID" | grep -Eq '^[0-9a-f]{32}$' || fail "no machine id on the console ($MACHINE_ID)"
log "machine id $MACHINE_ID"
state=$(console_value NOODEPD-STATE)
log "state partition: $state"
if [ "$VARIANT" = full ]; then
	case "$state" in "LUKS2 /dev/mapper/state ext4") ;; *) fail "state partition is '$state', not LUKS2 unlocked at boot" ;; esac
	case "$listening" in *:631*) ;; *) fail "CUPS does not listen (listening: $listening)" ;; esac
else
	case "$state" in "plain "*" ext4") ;; *) fail "state partition is '$state'" ;; esac
fi

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
# A freshly provisioned box with a valid certificate and current data has no standing
# problem (clock, certificate, store, state partition, audit log): anything here is a fault.
echo "$ready" | grep -Eq '"problem"[[:space:]]*:[[:space:]]*null' ||
	fail "/ready reports a standing problem on a fresh box: $ready"

if [ "$VARIANT" = update ]; then
	update_scenarios
	finish PASS
fi

# ---- full variant: the kiosk browser shows the ward view on the box's own screen ----------
if [ "$VARIANT" = full ]; then
	kiosk=$(console_value NOODEPD-KIOSK)
	[ "$kiosk" = active ] || fail "noodepd-kiosk.service is '$kiosk'"
	# Firefox under TCG takes minutes to draw; wait until the screen has real content.
	colours=0
	while [ "$(left)" -gt 0 ]; do
		colours=$(screendump "$W/kiosk.png" 2>"$W/screendump.log") || colours=0
		[ "${colours:-0}" -ge 16 ] && break
		kill -0 "$QEMU_PID" 2>/dev/null || fail "qemu exited"
		sleep 20
	done
	[ "${colours:-0}" -ge 16 ] || fail "the kiosk screen stayed blank ($colours colours; $W/kiosk.png)"
	log "kiosk screen drawn ($colours colours sampled): $W/kiosk.png"
	# Only the kiosk asks for HTML pages here; it reaches the daemon over TLS on localhost.
	views=0
	while [ "$(left)" -gt 0 ]; do
		views=$(curl -sk --max-time 20 "https://127.0.0.1:$WEB/metrics" 2>/dev/null |
			sed -n 's/^noodepd_page_views_total \([0-9]*\)$/\1/p')
		[ "${views:-0}" -ge 1 ] && break
		sleep 10
	done
	[ "${views:-0}" -ge 1 ] || fail "the kiosk browser never loaded a page from the daemon (page views: ${views:-none})"
	log "the kiosk loaded $views page(s) from https://localhost/"
	# And the screen shows it: the ward view's top bar, not a browser start or error page.
	share=0
	while [ "$(left)" -gt 0 ]; do
		screendump "$W/kiosk.png" >/dev/null 2>&1 && share=$(topbar_share 2>/dev/null) || share=0
		[ "${share:-0}" -ge 10 ] && break
		sleep 15
	done
	[ "${share:-0}" -ge 10 ] || fail "the kiosk screen does not show the ward view (top bar colour on ${share:-0}‰ of the screen; $W/kiosk.png)"
	log "the kiosk screen shows the ward view (top bar on $share‰ of the screen): $W/kiosk.png"
fi

# ---- a stick signed by someone else is refused ----------------------------------------------
# Same box, a stick from someone with hands on it: their own signing key, a ward network
# that would shut the host out. The box must refuse it and keep serving as before.
log "rebooting with a stick signed by another key (it would shut the host out)"
power_off
ssh-keygen -q -t ed25519 -N "" -C smoke-intruder -f "$W/intruder" || fail "ssh-keygen failed"
"$HERE/provision.sh" prepare --out "$W/forged" --appliance-id smoke-box-1 --ward A3 \
	--ward-name "Smoke A3" --publisher-key "$W/keys/publisher.pub" \
	--inbox-key "$W/upload_ed25519.pub" --ward-net 192.0.2.0/24 --publisher-addr 192.0.2.1 \
	--tls-cert "$W/tls.crt" --tls-key "$W/tls.key" --signing-key "$W/intruder" \
	--stick-image "$W/forged.img" >&2 || fail "provision.sh prepare (forged stick) failed"
SERIAL="$W/serial-forged.log"
boot "$W/forged.img" "$SERIAL"
wait_for 'refused: the stick is not signed by this box' "the box to refuse the forged stick"
wait_for 'NOODEPD-LISTENING ' "the status lines after the forged stick"
curl -sk --max-time 30 "https://127.0.0.1:$WEB/health" >/dev/null 2>&1 ||
	fail "after the forged stick the web view no longer answers the ward network (was it applied?)"
pinned=$(console_value NOODEPD-PROVISIONING-KEY)
want=$(ssh-keygen -l -f "$W/it-provisioning.pub" | cut -d' ' -f2)
[ "$pinned" = "$want" ] || fail "the box's provisioning key is '$pinned', not IT's $want"
log "forged stick refused; the box still serves and still pins IT's key ($pinned)"

# ---- the firewall: re-provision with a ward network the host is not in ----------------------
log "re-provisioning with ward network 192.0.2.0/24 (the host, 10.0.2.2, is outside it), a static address and an NTP server"
power_off
"$HERE/provision.sh" prepare --out "$W/prov2" --appliance-id smoke-box-1 --ward A3 \
	--signing-key "$W/it-provisioning" \
	--ward-name "Smoke A3" --publisher-key "$W/keys/publisher.pub" \
	--inbox-key "$W/upload_ed25519.pub" --ward-net 192.0.2.0/24 --publisher-addr 10.0.2.2 \
	--address 10.0.2.15/24 --gateway 10.0.2.2 --ntp 10.0.2.2 "${PRINTER_OPTS[@]}" \
	--tls-cert "$W/tls.crt" --tls-key "$W/tls.key" "${STICK_OPTS[@]}" --stick-image "$W/prov2.img" >&2 ||
	fail "provision.sh prepare (second stick) failed"
SERIAL="$W/serial2.log"
boot "$W/prov2.img" "$SERIAL"
wait_for 'NOODEPD-DAEMON active' "the daemon after re-provisioning"
wait_for 'NOODEPD-LISTENING ' "the status lines after re-provisioning"
mid2=$(console_value NOODEPD-MACHINE-ID)
[ "$mid2" = "$MACHINE_ID" ] || fail "machine id changed across the reboot ($MACHINE_ID -> $mid2)"
journal=$(console_value NOODEPD-JOURNAL)
boots=${journal##*boots=}
case "$boots" in "" | *[!0-9]*) fail "journal status '$journal'" ;; esac
[ "$boots" -ge 2 ] || fail "the journal lists $boots boot(s) after a reboot ($journal)"
log "machine id kept across the reboot; journal: $journal"
# The second stick's --address/--gateway and --ntp are in force (the same address as qemu's
# DHCP would give, so the port forwards still reach the box).
netfile=$(console_value NOODEPD-NETWORK-FILE)
case "$netfile" in */10-noodepd-static.network*) ;; *) fail "re-provisioned boot: the link is not configured by the static file from --address (network file: '$netfile')" ;; esac
timesrc=$(console_value NOODEPD-TIME)
case "$timesrc" in "ntp=10.0.2.2 timesyncd=active") ;; *) fail "re-provisioned boot: time source is '$timesrc', not the --ntp server" ;; esac
log "re-provisioned boot: static address from the stick ($netfile), $timesrc"
if [ "$VARIANT" = full ]; then
	state=$(console_value NOODEPD-STATE)
	[ "$state" = "LUKS2 /dev/mapper/state ext4" ] || fail "re-provisioned boot: state partition is '$state'"
	log "re-provisioned boot: LUKS2 state unlocked by the TPM again"
	printer=$(console_value NOODEPD-PRINTER)
	[ "$printer" = "ward socket://192.0.2.9:9100 saved=yes" ] ||
		fail "re-provisioned boot: the stick's printer is not set up and saved (NOODEPD-PRINTER '$printer')"
	log "re-provisioned boot: printer from the stick: $printer"
fi
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

# ---- full variant: the same disk without its TPM opens nothing ----------------------------
# OPERATIONS 3.3: "no TPM, no data". The disk is booted once more with the TPM left out (as
# if it were put in another PC): the state partition must stay locked (crypttab has
# headless=true, so no passphrase prompt), /var must not be mounted, and neither the
# daemon nor the inbox may come up (nothing may be written unencrypted).
if [ "$VARIANT" = full ]; then
	power_off
	stop_pid "$SWTPM_PID"; wait "$SWTPM_PID" 2>/dev/null; SWTPM_PID=""
	TPM_OPTS=()
	SERIAL="$W/serial3.log"
	log "third boot: the same disk without its TPM"
	boot "$W/prov2.img" "$SERIAL"
	locked='Failed to start.*[Cc]ryptography [Ss]etup for state|Dependency failed for.*/var|emergency mode|root account is locked'
	while ! grep -aEq "$locked" "$SERIAL" 2>/dev/null; do
		kill -0 "$QEMU_PID" 2>/dev/null || fail "qemu exited during the boot without TPM"
		[ "$(left)" -gt 0 ] || fail "boot without TPM: the state partition was not refused (serial log: $SERIAL)"
		grep -aq 'NOODEPD-DAEMON active\|NOODEPD-STATE ' "$SERIAL" 2>/dev/null &&
			fail "boot without TPM: the box came up ($(console_value NOODEPD-STATE))"
		sleep 3
	done
	log "boot without TPM: $(grep -aEm1 "$locked" "$SERIAL" | tr -d '\r' | sed 's/\x1b\[[0-9;]*m//g; s/^.*\] //')"
	# Give the boot time to go on, if it wrongly would: nothing of the box may come up.
	sleep 45
	if grep -aq 'NOODEPD-DAEMON active\|NOODEPD-STATE \|NOODEPD-LISTENING ' "$SERIAL"; then
		fail "boot without TPM: the box came up anyway (serial log: $SERIAL)"
	fi
	if echo "ls" | sftp -b - -i "$W/upload_ed25519" -P "$SSHP" -o BatchMode=yes \
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$W/known_hosts" -o ConnectTimeout=30 \
		inbox@127.0.0.1 >"$W/sftp3.log" 2>&1; then
		fail "boot without TPM: the SFTP inbox accepted a login (state partition locked, so it must not)"
	fi
	log "boot without TPM: state stays locked, no daemon, no inbox (serial log: $SERIAL)"
fi
finish PASS
