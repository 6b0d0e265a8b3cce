#!/usr/bin/env bash
# Prepare this machine for rrun's tests, as root: the packages the tests
# use, /dev/net/tun, the two unprivileged test users ($RRUN_TEST_USER,
# default rrtest, and $RRUN_TEST_USER2, default rrtest2: the second shows
# that users never see each other's containers or networks) with ranges of
# subordinate ids and an open-file limit, and unprivileged user namespaces.
#
# `make test` runs it first when it runs as root (and .ci/run runs make
# test). It changes only what is missing, says each change on a line of its
# own, and ends with one line saying the machine is ready; with everything
# in place it changes nothing and takes well under a second.
set -euo pipefail

die() { echo "test-setup: $*" >&2; exit 1; }
changed=0
say() { echo "test-setup: $*"; changed=$((changed + 1)); }

[ "$(id -u)" -eq 0 ] || die "must run as root (make test runs it only then)"
export DEBIAN_FRONTEND=noninteractive

test_user=${RRUN_TEST_USER:-rrtest}
second_user=${RRUN_TEST_USER2:-rrtest2}
[ "$test_user" != "$second_user" ] || die "RRUN_TEST_USER and RRUN_TEST_USER2 are both $test_user"

# --- packages ----------------------------------------------------------------
# busybox-static: the test rootfs; uidmap: newuidmap/newgidmap (rootless);
# passt: pasta (rootless networking); zsh, fish: the completion scripts are
# loaded by those shells; tzdata: zone files (logs --since in local time);
# dnsmasq-base: the DNS server make bench-dns compares with; podman, runc,
# fuse-overlayfs, slirp4netns: tests/image.rs loads a saved image with podman
# (rootless, runc); the rest: tools the tests drive.
packages=(busybox-static uidmap passt nftables iptables iproute2 iputils-ping iperf3 socat
    bubblewrap util-linux procps file zsh fish tzdata dnsmasq-base
    podman runc fuse-overlayfs slirp4netns)
if command -v dpkg-query >/dev/null 2>&1; then
    missing=()
    for p in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing packages: ${missing[*]}"
        # The package lists may be current; if not (a fresh machine), update them.
        if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
            apt-get update
            apt-get install -y --no-install-recommends "${missing[@]}"
        fi
    fi
else
    echo "test-setup: not a Debian system: install the equivalents of these yourself" \
        "(a test whose tool is missing says SKIP): ${packages[*]}" >&2
fi

# --- /dev/net/tun (pasta) ------------------------------------------------------
if [ ! -c /dev/net/tun ]; then
    mkdir -p /dev/net
    rm -f /dev/net/tun
    mknod /dev/net/tun c 10 200
    say "created /dev/net/tun"
fi
if [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    chmod 0666 /dev/net/tun
    say "chmod 0666 /dev/net/tun"
fi

# --- the test users --------------------------------------------------------------
# A free range of subordinate ids: past every range in either file (never
# below 100000, where distributions start them).
free_sub_start() {
    awk -F: 'NF == 3 && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ { e = $2 + $3; if (e > m) m = e }
        END { print (m < 100000 ? 100000 : m) }' /etc/subuid /etc/subgid
}
touch /etc/subuid /etc/subgid
for u in "$test_user" "$second_user"; do
    if ! id -u "$u" >/dev/null 2>&1; then
        useradd -m -s /bin/bash "$u"
        say "created user $u ($(id -u "$u"))"
    fi
    uid=$(id -u "$u")
    # useradd may have added ranges already; the same range in both files.
    start=$(free_sub_start)
    for f in /etc/subuid /etc/subgid; do
        if ! grep -qE "^($u|$uid):" "$f"; then
            echo "$u:$start:65536" >>"$f"
            say "added $u:$start:65536 to $f"
        fi
    done
done
limits=/etc/security/limits.d/rrun-test.conf
want_limits="$test_user soft nofile 65536
$test_user hard nofile 65536"
if [ -d /etc/security/limits.d ] && [ "$(cat "$limits" 2>/dev/null)" != "$want_limits" ]; then
    printf '%s\n' "$want_limits" >"$limits"
    say "wrote $limits (nofile 65536 for $test_user)"
fi

# --- unprivileged user namespaces ------------------------------------------------
# A kernel that refuses is not fatal: the rootless tests then say SKIP
# with the reason.
set_sysctl() {
    local key=$1 want=$2
    if sysctl -qw "$key=$want"; then
        say "sysctl $key=$want"
    else
        echo "test-setup: warning: could not set $key=$want; rootless tests will be skipped" >&2
    fi
}
if [ -e /proc/sys/kernel/unprivileged_userns_clone ] &&
    [ "$(cat /proc/sys/kernel/unprivileged_userns_clone)" != 1 ]; then
    set_sysctl kernel.unprivileged_userns_clone 1
fi
# Ubuntu's AppArmor gate on unprivileged user namespaces.
if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ] &&
    [ "$(cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns)" != 0 ]; then
    set_sysctl kernel.apparmor_restrict_unprivileged_userns 0
fi
if [ "$(cat /proc/sys/user/max_user_namespaces)" -le 0 ]; then
    set_sysctl user.max_user_namespaces 15000
fi

if [ "$changed" -eq 0 ]; then
    echo "test-setup: nothing to change: packages, /dev/net/tun, users $test_user and" \
        "$second_user with subordinate ids, user namespaces all in place"
else
    echo "test-setup: $changed change(s) made; the machine is ready"
fi
