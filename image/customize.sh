#!/bin/sh
# customize.sh: mmdebstrap customize hook of image/build.sh. Turns a plain Debian root into
# the noodepd appliance root: overlay files, units, accounts, the binary, the initramfs.
#   customize.sh ROOT IMAGE_DIR BINARY KIOSK(0|1) PRINTER(0|1) REPO LUKS(0|1)
#   customize.sh --finish ROOT ROOT_PASSWORD_HASH   (last step: strip what must not ship)
set -eu

if [ "$1" = "--finish" ]; then
	root=$2 pwhash=$3
	if [ -n "$pwhash" ]; then
		case "$pwhash" in '$'*) ;; *) echo "customize: --root-password-hash must be a crypt(3) hash" >&2; exit 1 ;; esac
		chroot "$root" usermod -p "$pwhash" root
	else
		chroot "$root" usermod -L root
	fi
	# Nothing per-machine or per-build may ship: host keys, machine id, logs, caches.
	rm -f "$root"/etc/ssh/ssh_host_* "$root"/etc/*- "$root"/etc/.pwd.lock
	: >"$root/etc/machine-id"
	# /var is the state partition's mount point; the image's own /var is never seen.
	find "$root/var" -mindepth 1 -delete
	rm -rf "$root"/tmp/* "$root"/root/.??* 2>/dev/null || true
	exit 0
fi

root=$1 here=$2 bin=$3 kiosk=$4 printer=$5 repo=$6 luks=${7:-0}

cp -rT --preserve=mode "$here/rootfs" "$root"
if [ "$kiosk" = 1 ]; then cp -rT --preserve=mode "$here/options/kiosk/rootfs" "$root"; fi
if [ "$luks" = 1 ]; then cp -rT --preserve=mode "$here/options/luks-state/rootfs" "$root"; fi
if [ "$printer" = 1 ]; then
	cp -rT --preserve=mode "$here/options/printer/rootfs" "$root"
	# CUPS writes its settings into /etc/cups (read-only here): Debian's defaults move to
	# /usr/share, /etc/cups points to the state partition, where tmpfiles copies them
	# (options/printer/rootfs/usr/lib/tmpfiles.d/noodepd-cups.conf).
	install -d -m 0755 "$root/usr/share/noodepd"
	mv "$root/etc/cups" "$root/usr/share/noodepd/cups-etc"
	# Settings are written at once, not up to 30 s later: a box may lose power any time.
	printf '\n# noodepd: write printers.conf at once (a box may lose power any time)\nDirtyCleanInterval 0\n' \
		>>"$root/usr/share/noodepd/cups-etc/cupsd.conf"
	ln -s /var/lib/noodepd-cups "$root/etc/cups"
fi
# The image's identity and release (os-release IMAGE_ID/IMAGE_VERSION, as systemd defines
# them): the daemon reports it in its status file, and an update bundle must be newer.
case "${NOODEPD_IMAGE_VERSION:-}" in "" | *[!0-9.]*) echo "customize: NOODEPD_IMAGE_VERSION unset or not digits and dots" >&2; exit 1 ;; esac
sed -i '/^IMAGE_ID=/d; /^IMAGE_VERSION=/d' "$root/usr/lib/os-release"
printf 'IMAGE_ID=noodepd\nIMAGE_VERSION=%s\n' "$NOODEPD_IMAGE_VERSION" >>"$root/usr/lib/os-release"
install -m 0644 "$here"/systemd/*.service "$here"/systemd/*.socket "$here"/systemd/*.path "$root/usr/lib/systemd/system/"
# The release key that signs update bundles (build.sh --release-pub): pinned in the verity
# root, so only a new signed image can change it. Without it no bundle is ever installed.
install -d -m 0755 "$root/usr/share/noodepd"
rm -f "$root/usr/share/noodepd/release.pub"
if [ -n "${NOODEPD_RELEASE_PUB:-}" ]; then install -m 0644 "$NOODEPD_RELEASE_PUB" "$root/usr/share/noodepd/release.pub"; fi
# The ESP's mount point (fstab: automounted for the update installer and systemd-bless-boot).
install -d -m 0700 "$root/efi"
install -m 0755 "$bin" "$root/usr/bin/noodepd"
install -m 0755 "$here/provision.sh" "$root/usr/lib/noodepd/provision"
install -d -m 0755 "$root/usr/share/doc/noodepd"
[ -f "$repo/docs/OPERATIONS.md" ] && install -m 0644 "$repo/docs/OPERATIONS.md" "$root/usr/share/doc/noodepd/"

# The SFTP chroot: root-owned all the way down (sshd insists), inbox and status (the box's
# status file for the publisher, read-only) are bind mount points.
install -d -m 0755 -o root -g root "$root/srv/sftp" "$root/srv/sftp/inbox" "$root/srv/sftp/status"

# ssl-cert (pulled in by CUPS) makes a "snakeoil" key pair at installation: a random private
# key that would be the same on every box of this image, and the one thing that made two
# builds of the printer image differ. Nothing here uses it.
rm -f "$root/etc/ssl/certs/ssl-cert-snakeoil.pem" "$root/etc/ssl/private/ssl-cert-snakeoil.key"
if [ -d "$root/etc/ssl/certs" ]; then
	find "$root/etc/ssl/certs" -maxdepth 1 -type l -lname 'ssl-cert-snakeoil.pem' -delete
fi

# Per-box settings live on the state partition; /etc only points there.
rm -rf "$root/etc/noodepd" "$root/etc/systemd/network" "$root/etc/systemd/timesyncd.conf.d"
ln -s /var/lib/noodepd-etc "$root/etc/noodepd"
ln -s /etc/noodepd/network "$root/etc/systemd/network"
ln -s /etc/noodepd/timesyncd.conf.d "$root/etc/systemd/timesyncd.conf.d"

# Accounts are created now: /etc/passwd is read-only on the box.
systemd-sysusers --root="$root"

systemctl --root="$root" enable \
	noodepd.socket noodepd.service noodepd-firstboot.service noodepd-sshkey.service \
	noodepd-showkey.service noodepd-provision.service noodepd-machine-id.service srv-sftp-inbox.mount \
	srv-sftp-status.mount noodepd-update.path noodepd-boot-ok.service \
	nftables.service systemd-networkd.service ssh.service systemd-timesyncd.service
if [ "$kiosk" = 1 ]; then systemctl --root="$root" enable noodepd-kiosk.service; fi
if [ "$printer" = 1 ]; then systemctl --root="$root" enable cups.service; fi
if [ "$luks" = 1 ]; then systemctl --root="$root" enable noodepd-state-mkfs.service; fi
for u in e2scrub_all.timer e2scrub_reap.service systemd-networkd-wait-online.service \
	systemd-pstore.service; do
	systemctl --root="$root" disable "$u" 2>/dev/null || true
done
# Nothing else listens: no sshd socket activation, no remote-fs, no resolver.
systemctl --root="$root" mask ssh.socket systemd-resolved.service remote-fs.target 2>/dev/null || true
# systemd-boot (the package, for systemd-bless-boot) also brings `bootctl update` at boot: it
# would replace the Secure Boot signed systemd-boot on the ESP with the image's unsigned copy
# once a newer release ships a newer one. Only build.sh (and a re-installation) writes it.
systemctl --root="$root" mask systemd-boot-update.service

TMPDIR=/tmp chroot "$root" update-initramfs -u -k all >/dev/null
