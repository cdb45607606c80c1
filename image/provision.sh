#!/bin/sh
# provision.sh: per-box settings of a noodepd appliance (ward, publisher key, TLS
# certificate, firewall addresses, SFTP upload key, optional static network, NTP and
# printer).
#
#   On the IT workstation, make a provisioning folder and (optionally) a stick image:
#     image/provision.sh prepare --out DIR --appliance-id ID --ward WARD \
#         --ward-name NAME --publisher-key publisher.pub --inbox-key upload_ed25519.pub \
#         --ward-net 10.20.30.0/24 --publisher-addr 10.1.2.3 \
#         --tls-cert cert.pem --tls-key key.pem --signing-key it-provisioning \
#         [--language nl|en] [--timezone Europe/Amsterdam] [--ntp 10.1.2.3] \
#         [--address 10.20.30.40/24 --gateway 10.20.30.1] [--metrics-public yes]
#         [--kiosk-ca ca.pem] [--printer-uri URI --printer-model MODEL]
#         [--stick-image FILE.img]
#     Copy DIR/noodepd-provision/ onto a FAT stick labelled NOODEPDPROV (or write
#     FILE.img to a stick with dd) and plug it into the box: noodepd-provision.service
#     applies it. See docs/OPERATIONS.md.
#
#   Signed sticks: --signing-key is IT's provisioning key (an OpenSSH ed25519 private key,
#   `ssh-keygen -t ed25519 -f it-provisioning`). The stick carries a manifest (SHA-256 of
#   every file on it) signed with it (`ssh-keygen -Y sign`, namespace noodepd-provision) and
#   the key's public half. A box pins the public key of the first stick it applies; from
#   then on it applies only sticks signed by the pinned key. To rotate the key, sign one
#   stick with the old key and give the new public key with --next-signing-key NEW.pub: the
#   box pins that one. Anything else is refused before a file is written.
#
#   On the box (done by noodepd-provision.service, or by root on the console):
#     /usr/lib/noodepd/provision apply DIR/noodepd-provision [--root /]
set -eu

die() { echo "provision: $*" >&2; exit 1; }

# ---- validation helpers (everything read here is untrusted input) ----------------------
check_id() { # NAME VALUE: same rule as the daemon's config (1-64 of [A-Za-z0-9._-], no leading '.')
	case "$2" in "" | .* | *[!A-Za-z0-9._-]*) die "$1: '$2' may contain only letters, digits, '-', '_' and '.' (not first)" ;; esac
	[ "${#2}" -le 64 ] || die "$1: longer than 64 characters"
}
check_text() { # NAME VALUE: printable, no quotes or backslashes, <= 100 characters
	case "$2" in *[\"\\]* | *[[:cntrl:]]*) die "$1: must not contain quotes, backslashes or control characters" ;; esac
	[ -n "$2" ] && [ "${#2}" -le 100 ] || die "$1: 1 to 100 characters"
}
check_addr() { # NAME VALUE: IPv4/IPv6 address or CIDR (comma-separated list allowed)
	for a in $(echo "$2" | tr ',' ' '); do
		case "$a" in
		*[!0-9a-fA-F:./]* | "") die "$1: '$a' is not an IP address or network" ;;
		esac
	done
	[ -n "$2" ] || die "$1: empty"
}
check_printer() { # URI MODEL: a CUPS device URI of a local or ward printer, and a driver
	# name as `lpinfo -m` lists it (e.g. drv:///sample.drv/generpcl.ppd for a PCL laser, or
	# everywhere for an IPP Everywhere network printer).
	case "$1" in usb://?* | ipp://?* | ipps://?* | socket://?* | lpd://?*) ;;
	*) die "--printer-uri: '$1' is not a usb://, ipp://, ipps://, socket:// or lpd:// URI" ;; esac
	case "$1" in *[!A-Za-z0-9:/._~%?=\&+@,-]*) die "--printer-uri: unexpected characters in '$1'" ;; esac
	[ "${#1}" -le 512 ] || die "--printer-uri: longer than 512 characters"
	case "$2" in "" | -* | *[!A-Za-z0-9:/._+=-]*) die "--printer-model: '$2' is not a driver name from lpinfo -m" ;; esac
	[ "${#2}" -le 256 ] || die "--printer-model: longer than 256 characters"
}
check_file() { # NAME PATH MAXBYTES
	[ -f "$2" ] || die "$1: file $2 not found"
	size=$(wc -c <"$2")
	[ "$size" -gt 0 ] && [ "$size" -le "$3" ] || die "$1: $2 is empty or larger than $3 bytes"
}

# ---- prepare (workstation) ------------------------------------------------------------
prepare() {
	out="" id="" ward="" ward_name="" pubkey="" inboxkey="" wardnet="" pubaddr=""
	cert="" key="" lang="nl" tz="Europe/Amsterdam" ntp="" address="" gateway="" stick="" metrics=no
	kioskca="" printer_uri="" printer_model="" signkey="" nextkey=""
	while [ $# -gt 0 ]; do
		[ $# -ge 2 ] || die "$1 needs a value"
		case "$1" in
		--out) out=$2 ;; --appliance-id) id=$2 ;; --ward) ward=$2 ;;
		--ward-name) ward_name=$2 ;; --publisher-key) pubkey=$2 ;; --inbox-key) inboxkey=$2 ;;
		--ward-net) wardnet=$2 ;; --publisher-addr) pubaddr=$2 ;; --tls-cert) cert=$2 ;;
		--tls-key) key=$2 ;; --language) lang=$2 ;; --timezone) tz=$2 ;; --ntp) ntp=$2 ;;
		--address) address=$2 ;; --gateway) gateway=$2 ;; --stick-image) stick=$2 ;;
		--metrics-public) metrics=$2 ;; --kiosk-ca) kioskca=$2 ;;
		--printer-uri) printer_uri=$2 ;; --printer-model) printer_model=$2 ;;
		--signing-key) signkey=$2 ;; --next-signing-key) nextkey=$2 ;;
		*) die "unknown option $1 (see the top of this script)" ;;
		esac
		shift 2
	done
	[ -n "$out" ] || die "--out DIR is required"
	check_id --appliance-id "$id"
	check_id --ward "$ward"
	check_text --ward-name "${ward_name:-$ward}"
	case "$lang" in nl | en) ;; *) die "--language: nl or en" ;; esac
	case "$tz" in "" | *[!A-Za-z0-9/_+-]*) die "--timezone: not a time zone name" ;; esac
	case "$metrics" in yes | no) ;; *) die "--metrics-public: yes or no" ;; esac
	check_file --publisher-key "$pubkey" 4096
	check_file --inbox-key "$inboxkey" 8192
	check_file --tls-cert "$cert" 65536
	check_file --tls-key "$key" 16384
	check_addr --ward-net "$wardnet"
	check_addr --publisher-addr "$pubaddr"
	[ -z "$ntp" ] || check_addr --ntp "$ntp"
	[ -z "$address" ] || { check_addr --address "$address"; check_addr --gateway "$gateway"; }
	grep -q '^ssh-ed25519 \|^ecdsa-sha2-\|^ssh-rsa ' "$inboxkey" || die "--inbox-key: not an OpenSSH public key"
	grep -q 'BEGIN CERTIFICATE' "$cert" || die "--tls-cert: not a PEM certificate"
	grep -q 'PRIVATE KEY' "$key" || die "--tls-key: not a PEM private key"
	if [ -n "$printer_uri$printer_model" ]; then
		[ -n "$printer_uri" ] && [ -n "$printer_model" ] || die "--printer-uri and --printer-model go together"
		check_printer "$printer_uri" "$printer_model"
	fi
	if [ -n "$kioskca" ]; then
		check_file --kiosk-ca "$kioskca" 65536
		grep -q 'BEGIN CERTIFICATE' "$kioskca" || die "--kiosk-ca: not a PEM certificate"
	fi
	check_file --signing-key "$signkey" 16384
	case "$signkey" in /*) ;; *) signkey="$PWD/$signkey" ;; esac
	command -v ssh-keygen >/dev/null || die "--signing-key needs ssh-keygen (openssh-client)"
	# The public half (asks for the key's passphrase, if it has one).
	signpub=$(ssh-keygen -y -f "$signkey") || die "--signing-key: cannot read $signkey"
	case "$signpub" in "ssh-ed25519 "*) ;; *) die "--signing-key: not an ed25519 key (ssh-keygen -t ed25519)" ;; esac

	dir="$out/noodepd-provision"
	mkdir -p "$dir"
	umask 077
	cp "$pubkey" "$dir/publisher.pub"
	cp "$inboxkey" "$dir/inbox_authorized_keys"
	cp "$cert" "$dir/tls.crt"
	cp "$key" "$dir/tls.key"
	rm -f "$dir/kiosk-ca.crt"
	[ -z "$kioskca" ] || cp "$kioskca" "$dir/kiosk-ca.crt"
	cat >"$dir/provision.env" <<ENV
APPLIANCE_ID=$id
WARD=$ward
WARD_NAME=${ward_name:-$ward}
LANGUAGE=$lang
TIMEZONE=$tz
WARD_NET=$wardnet
PUBLISHER_ADDR=$pubaddr
NTP=$ntp
ADDRESS=$address
GATEWAY=$gateway
METRICS_PUBLIC=$metrics
PRINTER_URI=$printer_uri
PRINTER_MODEL=$printer_model
ENV
	rm -f "$dir/provisioning.pub" "$dir/manifest" "$dir/manifest.sig"
	if [ -n "$nextkey" ]; then
		check_file --next-signing-key "$nextkey" 4096
		grep -q '^ssh-ed25519 ' "$nextkey" || die "--next-signing-key: not an ssh-ed25519 public key"
		head -n 1 "$nextkey" | cut -d' ' -f1,2 >"$dir/provisioning.pub"
	else
		echo "$signpub" | cut -d' ' -f1,2 >"$dir/provisioning.pub"
	fi
	(
		cd "$dir"
		for f in $STICK_FILES; do [ -f "$f" ] && sha256sum "$f"; done >manifest
		ssh-keygen -q -Y sign -f "$signkey" -n noodepd-provision manifest
	) || die "could not sign the stick with $signkey"
	echo "provision: wrote $dir (signed by $(echo "$signpub" | ssh-keygen -l -f - | cut -d' ' -f2); the box will then trust $(ssh-keygen -l -f "$dir/provisioning.pub" | cut -d' ' -f2))"
	if [ -n "$stick" ]; then
		command -v mkfs.fat >/dev/null && command -v mcopy >/dev/null ||
			die "--stick-image needs dosfstools and mtools (apt-get install dosfstools mtools)"
		rm -f "$stick"
		mkfs.fat -C -n NOODEPDPROV "$stick" 8192 >/dev/null
		mcopy -i "$stick" -s "$dir" ::/
		echo "provision: wrote stick image $stick (label NOODEPDPROV)"
	fi
}

# ---- apply (on the box, as root) ------------------------------------------------------
# The only files a stick may carry (besides manifest and manifest.sig), with their size
# limits. Everything read from a stick is first copied off it into a private directory,
# then the copy is checked against the signed manifest, then applied.
STICK_FILES="provision.env publisher.pub inbox_authorized_keys tls.crt tls.key kiosk-ca.crt provisioning.pub"
stick_limit() {
	case "$1" in
	provision.env | publisher.pub | provisioning.pub) echo 4096 ;;
	inbox_authorized_keys) echo 8192 ;; tls.key) echo 16384 ;; *) echo 65536 ;;
	esac
}
# verify_stick COPY PINNED: COPY's manifest is signed by the pinned key (or, on a box never
# provisioned, by the key the stick carries), and every file matches it.
verify_stick() {
	copy=$1 pinned=$2
	for f in manifest manifest.sig provisioning.pub; do
		[ -f "$copy/$f" ] || die "the stick is not signed (no $f): make it with provision.sh prepare --signing-key"
	done
	# The key the stick carries becomes the next pin: one ssh-ed25519 line, nothing else.
	for k in "$copy/provisioning.pub" "$pinned"; do
		[ -f "$k" ] || continue
		[ "$(wc -l <"$k")" -le 1 ] && grep -q '^ssh-ed25519 [A-Za-z0-9+/=]*$' "$k" ||
			die "refused: $(basename "$k") is not one ssh-ed25519 public key"
	done
	if [ -f "$pinned" ]; then trusted=$pinned; else trusted="$copy/provisioning.pub"; fi
	echo "noodepd-it $(cat "$trusted")" >"$copy/.allowed"
	ssh-keygen -Y verify -f "$copy/.allowed" -I noodepd-it -n noodepd-provision \
		-s "$copy/manifest.sig" <"$copy/manifest" >/dev/null 2>&1 ||
		die "refused: the stick is not signed by this box's provisioning key ($(ssh-keygen -l -f "$trusted" | cut -d' ' -f2)); nothing applied"
	# The manifest names only known files, each once; every file on the stick is in it.
	while IFS= read -r line; do
		case "$line" in
		[0-9a-f][0-9a-f]*"  "*) ;;
		*) die "refused: malformed manifest line" ;;
		esac
		name=${line#*  } hash=${line%%  *}
		[ "${#hash}" = 64 ] || die "refused: malformed manifest line"
		case " $STICK_FILES " in *" $name "*) ;; *) die "refused: the manifest names an unknown file" ;; esac
		[ "$(sha256sum <"$copy/$name" | cut -d' ' -f1)" = "$hash" ] ||
			die "refused: $name does not match the signed manifest"
		echo "$name" >>"$copy/.listed"
	done <"$copy/manifest"
	for f in $STICK_FILES; do
		if [ -f "$copy/$f" ]; then
			[ "$(grep -cx "$f" "$copy/.listed" 2>/dev/null)" = 1 ] ||
				die "refused: $f is on the stick but not (once) in its signed manifest"
		fi
	done
}

env_get() { # KEY FILE: value of KEY=... (the file is never sourced)
	sed -n "s/^$1=//p" "$2" | head -n 1
}

apply() {
	src=${1:-}
	[ -n "$src" ] || die "usage: provision apply DIR [--root ROOT]"
	shift
	root=/
	if [ "${1:-}" = "--root" ]; then root=${2:?}; fi
	[ "$(id -u)" -eq 0 ] || die "apply must run as root"
	etc="$root/var/lib/noodepd-etc"
	# Copy what the stick may carry off it (bounded), check the copy, apply the copy.
	copy=$(mktemp -d)
	trap 'rm -rf "$copy"' EXIT
	for f in $STICK_FILES manifest manifest.sig; do
		[ -e "$src/$f" ] || continue
		[ -f "$src/$f" ] && [ ! -L "$src/$f" ] || die "refused: $f on the stick is not a regular file"
		case "$f" in manifest) lim=4096 ;; manifest.sig) lim=4096 ;; *) lim=$(stick_limit "$f") ;; esac
		check_file "$f" "$src/$f" "$lim"
		cp "$src/$f" "$copy/$f"
	done
	verify_stick "$copy" "$etc/provisioning.pub"
	src=$copy
	env="$src/provision.env"
	check_file provision.env "$env" 4096
	id=$(env_get APPLIANCE_ID "$env"); ward=$(env_get WARD "$env")
	ward_name=$(env_get WARD_NAME "$env"); lang=$(env_get LANGUAGE "$env")
	tz=$(env_get TIMEZONE "$env"); wardnet=$(env_get WARD_NET "$env")
	pubaddr=$(env_get PUBLISHER_ADDR "$env"); ntp=$(env_get NTP "$env")
	address=$(env_get ADDRESS "$env"); gateway=$(env_get GATEWAY "$env")
	metrics=$(env_get METRICS_PUBLIC "$env")
	printer_uri=$(env_get PRINTER_URI "$env"); printer_model=$(env_get PRINTER_MODEL "$env")
	case "${metrics:-no}" in yes) metrics=true ;; no) metrics=false ;; *) die "METRICS_PUBLIC: yes or no" ;; esac
	check_id APPLIANCE_ID "$id"; check_id WARD "$ward"; check_text WARD_NAME "$ward_name"
	case "$lang" in nl | en) ;; *) die "LANGUAGE: nl or en" ;; esac
	case "$tz" in "" | *[!A-Za-z0-9/_+-]*) die "TIMEZONE: not a time zone name" ;; esac
	check_addr WARD_NET "$wardnet"; check_addr PUBLISHER_ADDR "$pubaddr"
	[ -z "$ntp" ] || check_addr NTP "$ntp"
	[ -z "$address" ] || { check_addr ADDRESS "$address"; check_addr GATEWAY "$gateway"; }
	if [ -n "$printer_uri$printer_model" ]; then
		check_printer "$printer_uri" "$printer_model"
		# Refuse before anything is written: a printer on a box built without one.
		[ "$root" != / ] || command -v lpadmin >/dev/null ||
			die "PRINTER_URI: this image has no printer support (build it with --with-printer)"
	fi
	for f in publisher.pub:4096 inbox_authorized_keys:8192 tls.crt:65536 tls.key:16384; do
		check_file "${f%%:*}" "$src/${f%%:*}" "${f##*:}"
	done

	mkdir -p "$etc/network" "$etc/timesyncd.conf.d"
	chmod 0755 "$etc" "$etc/network" "$etc/timesyncd.conf.d"
	umask 022
	# Write everything next to its final name, then rename: a half-applied stick never
	# leaves a half-written file.
	# NAME may be in a subdirectory (network/..., timesyncd.conf.d/...): the temporary file
	# goes into that same directory, as a dotfile, so the rename stays within it.
	put() { # SRC NAME MODE
		local dir base
		dir=$(dirname "$etc/$2") base=$(basename "$2")
		cp "$1" "$dir/.$base.new" && chown root:root "$dir/.$base.new" && chmod "$3" "$dir/.$base.new" &&
			mv -f "$dir/.$base.new" "$dir/$base"
	}
	# The provisioning key this stick was signed with (or a new one it carries): the pin for
	# the next stick.
	put "$src/provisioning.pub" provisioning.pub 0644
	put "$src/publisher.pub" publisher.pub 0644
	put "$src/inbox_authorized_keys" inbox_authorized_keys 0644
	put "$src/tls.crt" tls.crt 0644
	put "$src/tls.key" tls.key 0600
	# The CA that issued tls.crt, for the kiosk browser (image option --with-kiosk) to trust
	# https://localhost/. Optional; a stick without it removes an old one.
	if [ -f "$src/kiosk-ca.crt" ]; then
		check_file kiosk-ca.crt "$src/kiosk-ca.crt" 65536
		grep -q 'BEGIN CERTIFICATE' "$src/kiosk-ca.crt" || die "kiosk-ca.crt: not a PEM certificate"
		put "$src/kiosk-ca.crt" kiosk-ca.crt 0644
	else
		rm -f "$etc/kiosk-ca.crt"
	fi

	tmp=$(mktemp)
	cat >"$tmp" <<TOML
# noodepd.toml written by provisioning ($(date -u +%Y-%m-%dT%H:%M:%SZ)). Do not edit on the
# box: re-provision instead (docs/OPERATIONS.md). Key and certificate names are relative to
# \$CREDENTIALS_DIRECTORY (systemd LoadCredential= in noodepd.service).
[appliance]
id = "$id"
ward = "$ward"
ward_name = "$ward_name"
language = "$lang"
timezone = "$tz"

[paths]
state = "/var/lib/noodepd"
inbox = "/var/lib/noodepd/inbox"
quarantine = "/var/lib/noodepd/quarantine"
runtime = "/run/noodepd"
control_socket = "/run/noodepd/control.sock"
# Read by the publisher over SFTP as /status/status.json (srv-sftp-status.mount).
status_file = "/var/lib/noodepd/status/status.json"

[keys]
appliance_key = "appliance.key"
publisher_pub = "publisher.pub"

[web]
# The socket itself comes from noodepd.socket (port 443); this is only the fallback.
listen = "[::]:443"
tls_cert = "tls.crt"
tls_key = "tls.key"
# /metrics for the monitoring server (it must be in the ward network, see the firewall).
metrics_public = $metrics
TOML
	put "$tmp" noodepd.toml 0644

	{
		echo "# firewall.nft written by provisioning: who may reach the web view and SFTP."
		for a in $(echo "$wardnet" | tr ',' ' '); do
			case "$a" in *:*) s=ward_net6 ;; *) s=ward_net4 ;; esac
			echo "add element inet noodepd $s { $a }"
		done
		for a in $(echo "$pubaddr" | tr ',' ' '); do
			case "$a" in *:*) s=publisher6 ;; *) s=publisher4 ;; esac
			echo "add element inet noodepd $s { $a }"
		done
	} >"$tmp"
	put "$tmp" firewall.nft 0644

	rm -f "$etc/network/10-noodepd-static.network"
	if [ -n "$address" ]; then
		printf '[Match]\nType=ether\n\n[Network]\nAddress=%s\nGateway=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' \
			"$address" "$gateway" >"$tmp"
		put "$tmp" network/10-noodepd-static.network 0644
	fi
	rm -f "$etc/timesyncd.conf.d/ntp.conf"
	if [ -n "$ntp" ]; then
		printf '[Time]\nNTP=%s\nFallbackNTP=\n' "$(echo "$ntp" | tr ',' ' ')" >"$tmp"
		put "$tmp" timesyncd.conf.d/ntp.conf 0644
	fi
	rm -f "$tmp"
	echo "provision: box $id provisioned for ward $ward (web from $wardnet, SFTP from $pubaddr)"

	if [ "$root" = / ] && [ -d /run/systemd/system ]; then
		systemctl restart nftables.service
		systemctl try-restart systemd-networkd.service
		# timesyncd runs only with an NTP server from the stick (its ConditionPathExists):
		# a stick without --ntp stops it now, not at the next reboot.
		if [ -n "$ntp" ]; then
			systemctl restart systemd-timesyncd.service
		else
			systemctl stop systemd-timesyncd.service || echo "provision: could not stop systemd-timesyncd" >&2
		fi
		# The socket's settings never change with provisioning: only start it (first
		# provisioning: its condition was false at boot). Restarting it while the daemon
		# holds port 443 fails to bind (seen on re-provisioning).
		systemctl start noodepd.socket
		# Type=notify: this waits until the daemon reports READY (or fails).
		systemctl restart noodepd.service ||
			echo "provision: noodepd.service did not start; see journalctl -u noodepd" >&2
		# Kiosk boxes: reload the browser, which may have started before there was anything
		# to show (or with the old certificate). No kiosk: nothing to do.
		if systemctl -q is-active noodepd-kiosk.service 2>/dev/null; then
			systemctl --no-block restart noodepd-kiosk.service
		fi
		# The printer (image option --with-printer): the stick is the whole truth, so the
		# ward's queue is set up as the stick says, or removed when the stick has none.
		if command -v lpadmin >/dev/null; then
			systemctl start cups.service || echo "provision: cups.service did not start" >&2
			if [ -n "$printer_uri" ]; then
				lpadmin -p ward -E -v "$printer_uri" -m "$printer_model" && lpadmin -d ward ||
					echo "provision: the printer could not be set up (lpadmin failed); see journalctl -u cups" >&2
			elif lpstat -v ward >/dev/null 2>&1; then
				lpadmin -x ward || echo "provision: the old printer could not be removed (lpadmin -x ward failed)" >&2
			fi
		fi
		# --no-block: showkey is ordered after this provisioning job itself.
		systemctl --no-block restart noodepd-showkey.service
	fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
prepare) prepare "$@" ;;
apply) apply "$@" ;;
*) die "usage: provision.sh prepare --out DIR ... | apply DIR [--root ROOT]" ;;
esac
