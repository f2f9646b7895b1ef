# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the VM scripts. Sourced, not run.

ATOMFS_CACHE=${ATOMFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/atomfs}
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$VM_DIR/../../.." && pwd)

log() { printf '%s\n' "$*" >&2; }
die() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

# apt look-ups need package lists; a fresh machine may have none.
apt_lists_ready() {
	if ! ls /var/lib/apt/lists/ 2>/dev/null | grep -q "_Packages"; then
		log "vm: no apt package lists yet, running apt-get update"
		apt-get update -q >&2 || die "apt-get update failed: check the network and /etc/apt/sources.list"
	fi
}

# The flavour the VM boots: the linux-image-6.1.*-amd64 that the
# linux-image-amd64 metapackage depends on today. Resolved every time because
# older ABI packages leave the archive.
resolve_stock_kver() {
	local pkg
	apt_lists_ready
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$pkg" ] || die "cannot resolve linux-image-amd64's kernel package with apt-cache; run apt-get update"
	echo "${pkg#linux-image-}"
}
