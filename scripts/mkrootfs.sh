#!/usr/bin/env bash
# Assemble the busybox-static root filesystem that rrun's tests and demo use
# (layout: notes/CONTRACT.md, "Rootfs").
#
#   scripts/mkrootfs.sh DIR
#   scripts/mkrootfs.sh --check    exit 0 if a static busybox is present
#
# The tree is built from scratch in a temporary sibling of DIR and then renamed
# into place, so an interrupted run never leaves half a rootfs at DIR. Running
# it again rebuilds DIR. Everything is world-readable (directories 0755, files
# 0644, /tmp 1777) so a root-owned rootfs also works for rootless rrun.
# BUSYBOX=/path/to/busybox overrides /bin/busybox (it must be static).
set -euo pipefail

die() { echo "mkrootfs: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: $0 DIR | --check"
busybox=${BUSYBOX:-/bin/busybox}

static_busybox() {
    [ -f "$busybox" ] && [ -x "$busybox" ] || return 1
    local what
    if command -v file >/dev/null 2>&1; then
        what=$(LC_ALL=C file -L -- "$busybox") || return 1
    else
        what=$(LC_ALL=C ldd "$busybox" 2>&1) || true   # exits 1 on static binaries
    fi
    grep -qE 'statically linked|static-pie linked|not a dynamic executable' <<<"$what"
}
if ! static_busybox; then
    [ "$1" = --check ] && exit 1
    die "no static busybox at $busybox; install Debian's busybox-static package (apt-get install busybox-static)"
fi
[ "$1" = --check ] && exit 0

dest=${1%/}
[ -n "$dest" ] || die "refusing to replace /"

umask 022
parent=$(dirname -- "$dest")
mkdir -p -- "$parent"
tmp=$(mktemp -d -- "$parent/.$(basename -- "$dest").tmp.XXXXXX")
old=
cleanup() {
    rm -rf --one-file-system -- "$tmp"
    if [ -n "$old" ]; then rm -rf --one-file-system -- "$old"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 0755 "$tmp"

# Directories (0755 thanks to the umask; /tmp gets 1777 below).
for d in bin sbin usr/bin usr/sbin usr/local/bin etc proc sys dev tmp mnt root home/app; do
    mkdir -p -- "$tmp/$d"
done
chmod 1777 "$tmp/tmp"

cp -- "$busybox" "$tmp/bin/busybox"
chmod 0755 "$tmp/bin/busybox"

# One relative symlink per applet, where busybox itself would install it.
n=0
while IFS= read -r applet; do
    case "$applet" in
        bin/*|sbin/*|usr/bin/*|usr/sbin/*) ;;
        *) continue ;;          # e.g. "linuxrc" at the top level
    esac
    [ "$applet" = bin/busybox ] && continue
    case "$applet" in
        bin/*) target=busybox ;;
        sbin/*) target=../bin/busybox ;;
        usr/*) target=../../bin/busybox ;;
    esac
    ln -sfn -- "$target" "$tmp/$applet"
    n=$((n + 1))
done < <("$busybox" --list-full)
[ "$n" -gt 0 ] || die "$busybox --list-full listed no applets"
[ -L "$tmp/bin/sh" ] || die "$busybox has no sh applet"

cat >"$tmp/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$tmp/etc/group" <<'EOF'
root:x:0:
tty:x:5:
app:x:1000:
nogroup:x:65534:
EOF
# Empty: rrun bind-mounts its generated files over them.
: >"$tmp/etc/hosts"
: >"$tmp/etc/hostname"
: >"$tmp/etc/resolv.conf"
chmod 0644 "$tmp"/etc/*

# socat and iperf3, with the shared libraries they need, where the host has
# them: the networking tests need a UDP peer and the client's address
# (SOCAT_PEERADDR) inside containers, which busybox's nc cannot give, and
# the benchmarks an iperf3 server.
for prog in ${ROOTFS_EXTRA:-socat iperf3}; do
    src=$(command -v "$prog" 2>/dev/null) || { echo "mkrootfs: $prog not found on the host; not added"; continue; }
    mkdir -p -- "$tmp/usr/bin"
    cp -L -- "$src" "$tmp/usr/bin/$prog"
    while read -r lib; do
        [ -n "$lib" ] || continue
        mkdir -p -- "$tmp$(dirname -- "$lib")"
        cp -L -- "$lib" "$tmp$lib"
    done < <(ldd "$src" 2>/dev/null | grep -o '/[^ ]*' | sort -u)
done

if [ "$(id -u)" -eq 0 ]; then
    chown -R 0:0 -- "$tmp"
    chown 1000:1000 -- "$tmp/home/app"
fi

# Swap into place. Between the two renames DIR is briefly absent, never half
# built.
if [ -e "$dest" ] || [ -L "$dest" ]; then
    old=$(mktemp -u -- "$parent/.$(basename -- "$dest").old.XXXXXX")
    mv -T -- "$dest" "$old"
fi
mv -T -- "$tmp" "$dest"
echo "mkrootfs: $dest ready ($n busybox applets)"
