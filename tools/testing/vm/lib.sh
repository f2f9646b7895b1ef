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
	if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
		log "vm: no apt package lists yet, running apt-get update"
		apt-get update -q >&2 || die "apt-get update failed: check the network and /etc/apt/sources.list"
	fi
}

# apt_cached NAME COMMAND...: print COMMAND's output, kept in the cache for
# as long as the apt package lists stay the same (apt-get update changes
# them, and then it runs again). An apt-cache look-up costs ~1.5 s, and
# each boot of the VM made two (make check boots about ten). An empty
# output is not kept.
apt_cached() { # NAME COMMAND...
	local f="$ATOMFS_CACHE/apt/$1" stamp out kept=
	shift
	apt_lists_ready
	stamp=$(LC_ALL=C; stat -c '%n %Y %s' /var/lib/apt/lists/*_Packages* | md5sum | cut -d' ' -f1)
	[ ! -f "$f" ] || kept=$(cat "$f")
	if [ "${kept%%$'\n'*}" = "$stamp" ]; then
		printf '%s\n' "${kept#*$'\n'}"
		return 0
	fi
	# an answer is kept only from a command that succeeded and said something
	if out=$("$@") && [ -n "$out" ]; then
		mkdir -p "${f%/*}"
		printf '%s\n%s\n' "$stamp" "$out" >"$f.$$" && mv -f "$f.$$" "$f"
	fi
	printf '%s\n' "$out"
}

# The flavour the VM boots. Without LINE: the linux-image-6.1.*-amd64 that
# the linux-image-amd64 metapackage depends on today. With LINE (6.12): the
# one that Debian's linux-image-LINE-amd64 metapackage depends on (bookworm
# ships 6.12 from bookworm-security, a pocket every bookworm machine has).
# Resolved again whenever the package lists change: older ABI packages
# leave the archive.
kernel_of_meta() { # METAPACKAGE
	apt-cache depends "$1" 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ && !f { print $2; f = 1 }'
}
resolve_stock_kver() { # [LINE]
	local meta=linux-image-amd64 pkg
	[ -z "${1:-}" ] || meta=linux-image-$1-amd64
	pkg=$(apt_cached "kernel-of-$meta" kernel_of_meta "$meta")
	[ -n "$pkg" ] || die "cannot resolve $meta's kernel package with apt-cache: run apt-get update, and check that bookworm-security is in the apt sources"
	echo "${pkg#linux-image-}"
}

# The kernels the VM boots, as --kernel names: "stock" is the default
# bookworm line, "stock-LINE" each further line (see STOCK_LINES in the
# top-level Makefile). Prints the KVER for a name.
stock_kver_of() { # NAME
	case "$1" in
	stock) resolve_stock_kver ;;
	stock-*) resolve_stock_kver "${1#stock-}" ;;
	*) die "not a stock kernel name: $1" ;;
	esac
}
