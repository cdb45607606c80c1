#!/bin/bash
# build.sh: build the noodepd appliance disk image, reproducibly, from Debian bookworm
# packages and this repository. One command on a Debian 12 machine with the Rust toolchain:
#
#     sudo image/build.sh            # -> image/out/noodepd.img (raw GPT disk, UEFI)
#
# Layout of the disk (GPT), two root slots A and B for updates (src/update):
#   1 ESP              FAT32: systemd-boot (EFI/BOOT/BOOTX64.EFI) and one unified kernel
#                      image per slot (EFI/Linux/noodepd-VERSION-a.efi: kernel, initramfs, os-release
#                      and the command line with the dm-verity root hash noodepd.verity=...,
#                      one PE file that Secure Boot signs as a whole)
#   2 noodepd-root-a   squashfs root file system (read-only), checked by dm-verity
#   3 noodepd-verity-a the dm-verity hash tree of partition 2
#   4 noodepd-root-b   slot B: empty until the first update writes it
#   5 noodepd-verity-b
#   6 noodepd-state    ext4, mounted at /var: keys, sealed snapshots, audit log, journal.
#                      Plain ext4 in this image; production encrypts it (LUKS2 + TPM2),
#                      see docs/OPERATIONS.md.
#
# Options:
#   --out DIR                 output directory (default image/out)
#   --no-deps                 do not apt-get install the build tools
#   --no-cargo                use the existing target/release/noodepd (must exist)
#   --binary PATH             put this noodepd binary in the image (implies --no-cargo)
#   --snapshot YYYYMMDDTHHMMSSZ  take packages from snapshot.debian.org at that time
#                             (fully pinned package set); default deb.debian.org
#   --locked                  release rebuild: reproduce the lock file's package set exactly
#                             (from snapshot.debian.org at the lock's recorded `# snapshot`,
#                             every package pinned to its locked version); any difference
#                             is fatal
#   --reuse-root              development aid: keep image/out/work/root from the last run
#   --update-lock             record this build's package set as the lock (with --snapshot:
#                             and the snapshot time, so that --locked can reproduce it)
#   --image-version VERSION   the release's version (digits and dots, e.g. 2026.12.1),
#                             written as IMAGE_VERSION into os-release; default 0.<epoch>
#   --with-kiosk              add the local full-screen browser (image/options/kiosk)
#   --with-printer            add CUPS for a local printer (image/options/printer)
#   --luks-state              production: state partition is LUKS2 unlocked by the TPM2
#                             (image/options/luks-state; formatted at installation)
#   --root-password-hash HASH allow root login on the local console with this crypt(3)
#                             hash (e.g. from `openssl passwd -6`); default: root locked
#   --state-size SIZE         size of the state partition in the image (default 512M;
#                             on a real disk it is grown/recreated at installation)
#   --slot-size MIB           size of each root slot partition (default 1024; every later
#                             update's root must fit it) and --verity-size MIB (default 32)
#   --release-pub FILE        the release public key (noodepd keygen release) built into the
#                             image: only bundles it verifies are installed. Without it the
#                             box installs no update bundle.
#   --release-key FILE        also write OUT/noodepd-VERSION.nupd, the signed update bundle
#                             of this build (noodepd update make; run from $NOODEPD_HOST_BIN
#                             if set, else the image's binary)
#   --sb-key KEY --sb-cert CERT  sign systemd-boot and the UKI for Secure Boot (sbsign; the
#                             hospital's db key, docs/OPERATIONS.md "Secure Boot")
#
# Package set: a plain build takes the current Debian packages (with today's security
# updates), writes the set it used beside the image (OUT/packages.txt, also manifest.txt) and
# prints how it differs from the lock file; the difference is information, not an error.
# A release is built with --snapshot (and recorded with --update-lock) and rebuilt bit for
# bit with --locked.
#
# Reproducibility: SOURCE_DATE_EPOCH is the time of the last git commit; all file times,
# UUIDs, salts and file system ids are fixed, so the same inputs (same repository commit,
# same package versions) give the same image bytes. See docs/OPERATIONS.md, "Updating".
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT="$HERE/out"
LUKS=0 REUSE=0 BIN_OVERRIDE="" DEPS=1 CARGO=1 SNAPSHOT="" UPDATE_LOCK=0 LOCKED=0 IMAGE_VERSION="" KIOSK=0 PRINTER=0 ROOTHASH_PW="" STATE_SIZE=512M
SLOT_MB=1024 VERITY_MB=32 RELEASE_PUB="" RELEASE_KEY="" SB_KEY="" SB_CERT=""
while [ $# -gt 0 ]; do
	case "$1" in
	--out) OUT=$2; shift ;;
	--no-deps) DEPS=0 ;;
	--no-cargo) CARGO=0 ;;
	--binary) BIN_OVERRIDE=$2; CARGO=0; shift ;;
	--snapshot) SNAPSHOT=$2; shift ;;
	--update-lock) UPDATE_LOCK=1 ;;
	--locked) LOCKED=1 ;;
	--image-version) IMAGE_VERSION=$2; shift ;;
	--reuse-root) REUSE=1 ;;
	--with-kiosk) KIOSK=1 ;;
	--with-printer) PRINTER=1 ;;
	--luks-state) LUKS=1 ;;
	--root-password-hash) ROOTHASH_PW=$2; shift ;;
	--state-size) STATE_SIZE=$2; shift ;;
	--slot-size) SLOT_MB=$2; shift ;;
	--verity-size) VERITY_MB=$2; shift ;;
	--release-pub) RELEASE_PUB=$2; shift ;;
	--release-key) RELEASE_KEY=$2; shift ;;
	--sb-key) SB_KEY=$2; shift ;;
	--sb-cert) SB_CERT=$2; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
	*) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" -eq 0 ] || { echo "build.sh: run as root (mmdebstrap and chroot need it)" >&2; exit 1; }
# Absolute: later steps cd into the work directory (a relative --out broke the ESP step).
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

log() { echo "build.sh: $*" >&2; }
case "$SLOT_MB$VERITY_MB" in *[!0-9]*) log "--slot-size/--verity-size: MiB as a number"; exit 2 ;; esac
if [ -n "$SB_KEY$SB_CERT" ] && { [ -z "$SB_KEY" ] || [ -z "$SB_CERT" ]; }; then log "--sb-key and --sb-cert go together"; exit 2; fi
for f in "$RELEASE_PUB" "$RELEASE_KEY" "$SB_KEY" "$SB_CERT"; do
	[ -z "$f" ] || [ -f "$f" ] || { log "no file $f"; exit 2; }
done
if [ -n "$RELEASE_PUB" ]; then
	grep -q '^noodepd-release-v1 ' "$RELEASE_PUB" || { log "--release-pub: not a release public key (noodepd keygen release)"; exit 2; }
	RELEASE_PUB=$(realpath "$RELEASE_PUB")
fi
export NOODEPD_RELEASE_PUB="$RELEASE_PUB"

# ---- build tools ---------------------------------------------------------------------
TOOLS="mmdebstrap squashfs-tools cryptsetup-bin dosfstools mtools fdisk e2fsprogs binutils"
[ -z "$SB_KEY" ] || TOOLS="$TOOLS sbsigntool"
if [ "$DEPS" = 1 ]; then
	missing=""
	for p in $TOOLS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"; done
	if [ -n "$missing" ]; then
		log "installing build tools:$missing"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
	fi
fi

# ---- inputs ------------------------------------------------------------------------
SOURCE_DATE_EPOCH=$(git -C "$REPO" log -1 --format=%ct)
export SOURCE_DATE_EPOCH
export LC_ALL=C.UTF-8 TZ=UTC
umask 022
log "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH ($(date -u -d "@$SOURCE_DATE_EPOCH" +%FT%TZ))"

BIN="${BIN_OVERRIDE:-$REPO/target/release/noodepd}"
if [ "$CARGO" = 1 ]; then
	log "cargo build --release --locked --no-default-features (the appliance: no publisher, no dev tools)"
	# The appliance binary only: without the default features `publisher` and `dev-tools`
	# it carries no publisher, generator, attack payloads, demo or bench.
	# Reproducible binary: no absolute build paths in panics/debug info.
	RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$REPO=/build/noodepd --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" \
		cargo build --release --locked --no-default-features --manifest-path "$REPO/Cargo.toml" --bin noodepd
fi
[ -x "$BIN" ] || { log "no $BIN (build it, or drop --no-cargo)"; exit 1; }

PKGS=$(grep -v '^#' "$HERE/packages.txt" | xargs)
[ "$KIOSK" = 1 ] && PKGS="$PKGS $(grep -v '^#' "$HERE/options/kiosk/packages.txt" | xargs)"
[ "$PRINTER" = 1 ] && PKGS="$PKGS $(grep -v '^#' "$HERE/options/printer/packages.txt" | xargs)"
[ "$LUKS" = 1 ] && PKGS="$PKGS $(grep -v '^#' "$HERE/options/luks-state/packages.txt" | xargs)"

# The lock file this build is compared with (or reproduces, --locked).
LOCK="$HERE/packages.lock"
[ "$KIOSK$PRINTER$LUKS" = 000 ] || LOCK="$OUT/packages-with-options.lock"
# lock_set FILE: the package lines of a lock file (its '#' lines are comments).
lock_set() { grep -v '^#' "$1" | sed '/^$/d'; }
if [ "$LOCKED" = 1 ]; then
	[ "$UPDATE_LOCK" = 0 ] || { log "--locked reproduces the lock; --update-lock rewrites it: give one"; exit 2; }
	[ -f "$LOCK" ] || { log "--locked: no lock file $LOCK"; exit 1; }
	LOCK_SNAPSHOT=$(sed -n 's/^# snapshot: *//p' "$LOCK" | head -n 1)
	[ -n "$LOCK_SNAPSHOT" ] || {
		log "--locked: $LOCK records no snapshot time, so its package versions cannot be fetched"
		log "any more. Record a release lock with: build.sh --snapshot YYYYMMDDTHHMMSSZ --update-lock"
		exit 1
	}
	if [ -n "$SNAPSHOT" ] && [ "$SNAPSHOT" != "$LOCK_SNAPSHOT" ]; then
		log "--locked: --snapshot $SNAPSHOT differs from the lock's snapshot $LOCK_SNAPSHOT"
		exit 2
	fi
	SNAPSHOT=$LOCK_SNAPSHOT
	# Every package at its locked version: apt fails loudly if one cannot be had.
	PKGS=$(lock_set "$LOCK" | xargs)
	log "--locked: reproducing $LOCK (snapshot $SNAPSHOT, $(lock_set "$LOCK" | wc -l) packages)"
fi

# The release's version, in os-release (IMAGE_VERSION) and so in the box's status file; an
# update bundle must carry a higher one (src/update/version.rs has the same rule).
[ -n "$IMAGE_VERSION" ] || IMAGE_VERSION="0.$SOURCE_DATE_EPOCH"
case "$IMAGE_VERSION" in
"" | .* | *. | *..* | *[!0-9.]*) log "--image-version: digits separated by single dots (e.g. 2026.12.1)"; exit 2 ;;
esac
[ "${#IMAGE_VERSION}" -le 64 ] || { log "--image-version: at most 64 characters"; exit 2; }
export NOODEPD_IMAGE_VERSION="$IMAGE_VERSION"
log "image version $IMAGE_VERSION"

if [ -n "$SNAPSHOT" ]; then
	case "$SNAPSHOT" in *[!0-9TZ]*) log "--snapshot: YYYYMMDDTHHMMSSZ"; exit 2 ;; esac
	MIRRORS=("deb [check-valid-until=no] http://snapshot.debian.org/archive/debian/$SNAPSHOT bookworm main"
		"deb [check-valid-until=no] http://snapshot.debian.org/archive/debian/$SNAPSHOT bookworm-updates main"
		"deb [check-valid-until=no] http://snapshot.debian.org/archive/debian-security/$SNAPSHOT bookworm-security main")
else
	MIRRORS=("deb http://deb.debian.org/debian bookworm main"
		"deb http://deb.debian.org/debian bookworm-updates main"
		"deb http://deb.debian.org/debian-security bookworm-security main")
fi

WORK="$OUT/work"
ROOT="$WORK/root"
CACHE="$OUT/cache"
mkdir -p "$CACHE"
if [ "$REUSE" = 1 ] && [ -f "$WORK/manifest.txt" ]; then
	log "reusing $ROOT (re-applying customize.sh)"
	mount -t proc proc "$ROOT/proc" && mount --rbind /dev "$ROOT/dev" && mount -t sysfs sys "$ROOT/sys"
	"$HERE/customize.sh" "$ROOT" "$HERE" "$BIN" "$KIOSK" "$PRINTER" "$REPO" "$LUKS" || rc=$?
	umount -R "$ROOT/dev"; umount "$ROOT/proc" "$ROOT/sys"
	[ "${rc:-0}" = 0 ] || exit 1
	"$HERE/customize.sh" --finish "$ROOT" "$ROOTHASH_PW"
else
rm -rf "$WORK"
mkdir -p "$WORK"

# ---- root file system ------------------------------------------------------------------
log "mmdebstrap bookworm: $PKGS"
mmdebstrap --mode=root --variant=essential --format=directory \
	--aptopt='APT::Install-Recommends "false"' \
	--dpkgopt=force-unsafe-io \
	--skip=download/empty \
	--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
	--setup-hook="sync-in \"$CACHE\" /var/cache/apt/archives/" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--include="$(echo "$PKGS" | tr ' ' ',')" \
	--customize-hook="\"$HERE/customize.sh\" \"\$1\" \"$HERE\" \"$BIN\" \"$KIOSK\" \"$PRINTER\" \"$REPO\" \"$LUKS\"" \
	--customize-hook="chroot \"\$1\" dpkg-query -W -f='\${Package}=\${Version}\n' > \"$WORK/manifest.txt\"" \
	--customize-hook="sync-out /var/cache/apt/archives \"$CACHE\"" \
	--customize-hook="\"$HERE/customize.sh\" --finish \"\$1\" \"$ROOTHASH_PW\"" \
	bookworm "$ROOT" "${MIRRORS[@]}"
fi

# ---- package set and lock ----------------------------------------------------------------
# The set this image was built from goes beside it; the lock is only compared with. A new
# Debian security update makes them differ: that is printed (review it: it is what changed
# in the image), not fatal, except for --locked, whose promise is the locked set exactly.
cp "$WORK/manifest.txt" "$OUT/packages.txt"
if [ -f "$LOCK" ]; then
	if diff -u --label "$LOCK" --label "this build" <(lock_set "$LOCK") "$WORK/manifest.txt" >"$WORK/lock.diff"; then
		log "package set: the same as $LOCK"
	else
		cp "$WORK/lock.diff" "$OUT/packages.diff"
		cat "$WORK/lock.diff" >&2
		log "package set: $(grep -c '^+[^+]' "$WORK/lock.diff") lines differ from $LOCK (above; also $OUT/packages.diff)"
		if [ "$LOCKED" = 1 ]; then
			log "--locked: the locked package set was not reproduced; no image written"
			exit 1
		fi
		[ "$UPDATE_LOCK" = 1 ] || log "not an error: this image has today's packages. A release records its set with --snapshot T --update-lock."
	fi
fi
if [ "$UPDATE_LOCK" = 1 ] || [ ! -f "$LOCK" ]; then
	{
		echo "# Debian package set of the noodepd image, written by image/build.sh --update-lock."
		if [ -n "$SNAPSHOT" ]; then
			echo "# snapshot: $SNAPSHOT"
		else
			echo "# No snapshot time: built from the live mirror, so --locked cannot reproduce this set."
		fi
		cat "$WORK/manifest.txt"
	} >"$LOCK.new"
	mv "$LOCK.new" "$LOCK"
	log "wrote $LOCK"
fi

# ---- boot files out of the root, then the squashfs ---------------------------------------
KVER=$(basename "$(ls -d "$ROOT"/lib/modules/* | head -n 1)")
rm -rf "$WORK/esp"
mkdir -p "$WORK/esp/EFI/BOOT" "$WORK/esp/EFI/Linux" "$WORK/esp/loader"
cp "$ROOT/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$WORK/initrd.img"
cp "$ROOT/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$WORK/systemd-boot.efi"
cp "$ROOT/usr/lib/systemd/boot/efi/linuxx64.efi.stub" "$WORK/linuxx64.efi.stub"
cp "$ROOT/usr/lib/os-release" "$WORK/os-release"

log "mksquashfs root (without /boot: kernel and initramfs live on the ESP)"
env -u SOURCE_DATE_EPOCH mksquashfs "$ROOT" "$WORK/root.sqfs" -noappend -comp zstd -Xcompression-level 15 \
	-b 131072 -mkfs-time "$SOURCE_DATE_EPOCH" -all-time "$SOURCE_DATE_EPOCH" \
	-xattrs -wildcards -e 'boot/*' -quiet -no-progress >/dev/null

# dm-verity over the squashfs, with a fixed salt and UUID (derived from the epoch).
SALT=$(printf 'noodepd-verity-salt-%s' "$SOURCE_DATE_EPOCH" | sha256sum | cut -c1-64)
VUUID=$(printf 'noodepd-verity-uuid-%s' "$SOURCE_DATE_EPOCH" | sha256sum |
	sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*/\1-\2-4\3-8\4-\5/')
truncate -s %4096 "$WORK/root.sqfs"
veritysetup format "$WORK/root.sqfs" "$WORK/root.verity" --salt="$SALT" --uuid="$VUUID" \
	--hash=sha256 --data-block-size=4096 --hash-block-size=4096 >"$WORK/verity.txt"
ROOTHASH=$(sed -n 's/^Root hash:[[:space:]]*//p' "$WORK/verity.txt")
[ ${#ROOTHASH} -eq 64 ] || { log "could not read the dm-verity root hash"; exit 1; }
log "dm-verity root hash $ROOTHASH"

# ---- unified kernel image --------------------------------------------------------------
# systemd 252 (bookworm) has no ukify (it came with 253): the UKI is made the documented way,
# with objcopy and systemd's own stub, sections at fixed addresses (the kernel below 16 MiB at
# 0x2000000, the initramfs above it). The command line is inside the signed file, so Secure
# Boot covers the root hash; systemd-stub ignores a command line given at boot while Secure
# Boot is on. The same UKI boots either slot: the initramfs finds the slot by the root hash.
printf 'root=/dev/mapper/root rootfstype=squashfs ro noodepd.verity=%s systemd.gpt_auto=0 console=tty0 console=ttyS0,115200n8 panic=30 quiet' \
	"$ROOTHASH" >"$WORK/cmdline.txt"
KSIZE=$(stat -c %s "$WORK/vmlinuz")
[ "$KSIZE" -lt $((16 * 1024 * 1024)) ] || { log "kernel larger than 16 MiB: move .initrd in the UKI layout"; exit 1; }
rm -f "$WORK/noodepd.efi"
objcopy \
	--add-section .osrel="$WORK/os-release" --change-section-vma .osrel=0x20000 \
	--add-section .cmdline="$WORK/cmdline.txt" --change-section-vma .cmdline=0x30000 \
	--add-section .linux="$WORK/vmlinuz" --change-section-vma .linux=0x2000000 \
	--add-section .initrd="$WORK/initrd.img" --change-section-vma .initrd=0x3000000 \
	"$WORK/linuxx64.efi.stub" "$WORK/noodepd.efi"
if [ -n "$SB_KEY" ]; then
	log "signing systemd-boot and the UKI for Secure Boot with $SB_CERT"
	for f in noodepd.efi systemd-boot.efi; do
		sbsign --key "$SB_KEY" --cert "$SB_CERT" --output "$WORK/$f.signed" "$WORK/$f" 2>"$WORK/sbsign.log" ||
			{ cat "$WORK/sbsign.log" >&2; log "sbsign $f failed"; exit 1; }
		mv "$WORK/$f.signed" "$WORK/$f"
	done
else
	log "Secure Boot: not signed (no --sb-key); a box with Secure Boot on will not boot this image"
fi

# ---- ESP -------------------------------------------------------------------------------
# No `default`: systemd-boot sorts the UKIs by IMAGE_ID and then IMAGE_VERSION (from their
# .osrel), newest first (their names sort the same way), and an entry whose boot counter ran
# out (noodepd-1.2-b+0-3.efi) last; so
# a new slot is tried while it has tries left, and otherwise the last good one boots.
printf 'timeout 0\neditor no\nconsole-mode keep\n' >"$WORK/esp/loader/loader.conf"
cp "$WORK/systemd-boot.efi" "$WORK/esp/EFI/BOOT/BOOTX64.EFI"
# The first slot's entry is good from the start (no boot counter).
cp "$WORK/noodepd.efi" "$WORK/esp/EFI/Linux/noodepd-$IMAGE_VERSION-a.efi"
find "$WORK/esp" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
# Room for both slots' UKIs and a margin.
ESP_MB=$(($(du -sm "$WORK/noodepd.efi" | cut -f1) * 2 + $(du -sm "$WORK/systemd-boot.efi" | cut -f1) + 64))
[ "$ESP_MB" -ge 256 ] || ESP_MB=256
rm -f "$WORK/esp.img"
mkfs.fat -C -F 32 -n NOODEPD-ESP -i 4e4f4f44 --invariant "$WORK/esp.img" $((ESP_MB * 1024)) >/dev/null
(cd "$WORK/esp" && mcopy -i "$WORK/esp.img" -s -m -Q EFI loader ::/)

# ---- state partition (empty ext4; created fresh, filled at first boot) -------------------
rm -f "$WORK/state.img"
truncate -s "$STATE_SIZE" "$WORK/state.img"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mkfs.ext4 -q -F -L noodepd-state \
	-U 6e6f6f64-6570-4400-8000-000000000004 -E hash_seed=6e6f6f64-6570-4400-8000-0000000000aa,lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0 \
	-O ^metadata_csum_seed -T default "$WORK/state.img"

# ---- GPT disk --------------------------------------------------------------------------
mib() { echo $((($(stat -c %s "$1") + 1048575) / 1048576)); }
ESP_S=$(mib "$WORK/esp.img") ROOT_S=$(mib "$WORK/root.sqfs") VER_S=$(mib "$WORK/root.verity") ST_S=$(mib "$WORK/state.img")
[ "$ROOT_S" -le "$SLOT_MB" ] || { log "the root ($ROOT_S MiB) does not fit a slot of $SLOT_MB MiB (--slot-size)"; exit 1; }
[ "$VER_S" -le "$VERITY_MB" ] || { log "the hash tree ($VER_S MiB) does not fit $VERITY_MB MiB (--verity-size)"; exit 1; }
TOTAL=$((1 + ESP_S + 2 * (SLOT_MB + VERITY_MB) + ST_S + 1))
IMG="$OUT/noodepd.img"
rm -f "$IMG"
truncate -s "${TOTAL}M" "$IMG"
# Partition type GUIDs: ESP; root x86-64; root-verity x86-64 (Discoverable Partitions
# Specification, for tools that look); state: generic Linux data (so that nothing
# auto-mounts it). Fixed partition UUIDs keep the image reproducible.
printf '%s\n' 'label: gpt' 'label-id: 6E6F6F64-6570-4400-8000-000000000000' 'first-lba: 2048' \
	"start=1MiB, size=${ESP_S}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=6E6F6F64-6570-4400-8000-000000000001, name=ESP" \
	"size=${SLOT_MB}MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=6E6F6F64-6570-4400-8000-000000000002, name=noodepd-root-a" \
	"size=${VERITY_MB}MiB, type=2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5, uuid=6E6F6F64-6570-4400-8000-000000000003, name=noodepd-verity-a" \
	"size=${SLOT_MB}MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=6E6F6F64-6570-4400-8000-000000000005, name=noodepd-root-b" \
	"size=${VERITY_MB}MiB, type=2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5, uuid=6E6F6F64-6570-4400-8000-000000000006, name=noodepd-verity-b" \
	"size=${ST_S}MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=6E6F6F64-6570-4400-8000-000000000004, name=noodepd-state" |
	sfdisk -q --no-reread --no-tell-kernel "$IMG"
# Slot B stays zeros (sparse): no verity superblock, so it can never be opened.
dd if="$WORK/esp.img" of="$IMG" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$WORK/root.sqfs" of="$IMG" bs=1M seek=$((1 + ESP_S)) conv=notrunc,sparse status=none
dd if="$WORK/root.verity" of="$IMG" bs=1M seek=$((1 + ESP_S + SLOT_MB)) conv=notrunc,sparse status=none
dd if="$WORK/state.img" of="$IMG" bs=1M seek=$((1 + ESP_S + 2 * (SLOT_MB + VERITY_MB))) conv=notrunc,sparse status=none

# ---- the parts of an update bundle, and this build's bundle ---------------------------------
cp "$WORK/root.sqfs" "$OUT/root.sqfs"
cp "$WORK/root.verity" "$OUT/root.verity"
cp "$WORK/noodepd.efi" "$OUT/noodepd.efi"
rm -f "$OUT"/noodepd-*.nupd
if [ -n "$RELEASE_KEY" ]; then
	"${NOODEPD_HOST_BIN:-$BIN}" update make --key "$RELEASE_KEY" --version "$IMAGE_VERSION" --root "$OUT/root.sqfs" \
		--verity "$OUT/root.verity" --uki "$OUT/noodepd.efi" --out "$OUT/noodepd-$IMAGE_VERSION.nupd" >&2 ||
		{ log "could not make the update bundle"; exit 1; }
fi

cp "$WORK/manifest.txt" "$OUT/manifest.txt"
echo "$IMAGE_VERSION" >"$OUT/image-version.txt"
echo "$ROOTHASH" >"$OUT/roothash.txt"
(cd "$OUT" && sha256sum noodepd.img >noodepd.img.sha256)
touch -d "@$SOURCE_DATE_EPOCH" "$IMG"
log "done: $IMG ($(du -h --apparent-size "$IMG" | cut -f1)), sha256 $(cut -d' ' -f1 "$OUT/noodepd.img.sha256")"
log "esp ${ESP_S}M root ${ROOT_S}M (slot ${SLOT_MB}M) verity ${VER_S}M (slot ${VERITY_MB}M) state ${ST_S}M"
