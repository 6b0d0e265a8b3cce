#!/usr/bin/env bash
# `make demo`: a short tutorial of what rrun does, on the busybox rootfs from
# `make rootfs`. Each step prints the command it runs, prefixed with "$ ".
# Works as root and as an ordinary user. Uses its own throwaway RRUN_ROOT, so
# it touches no other rrun state.
#
# RRUN=/path/to/rrun and ROOTFS=dir override target/release/rrun and
# target/rootfs. Exit status: 0 when every step succeeded.
set -uo pipefail

top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)

# As root, rrun's bridge, nftables rules and sysctls belong to a network
# namespace; the demo makes its own so that it never touches this
# machine's network (nor a real rrun0 of yours), and everything it made
# goes with it.
if [ "$(id -u)" -eq 0 ] && [ -z "${RRUN_DEMO_NETNS:-}" ] && command -v unshare >/dev/null; then
    exec env RRUN_DEMO_NETNS=1 unshare --net -- sh -c 'ip link set lo up 2>/dev/null; exec bash "$0" "$@"' "${BASH_SOURCE[0]}" "$@"
fi
cd "$top" || exit 1
rrun_bin=${RRUN:-$top/target/release/rrun}
ROOTFS=${ROOTFS:-target/rootfs}

die() { echo "demo: $*" >&2; exit 1; }
[ -x "$rrun_bin" ] || die "$rrun_bin not found; run 'make build' first"
[ -x "$ROOTFS/bin/sh" ] || die "no rootfs at $ROOTFS; run 'make rootfs' first"

demo_tmp=$(mktemp -d "${TMPDIR:-/tmp}/rrun-demo.XXXXXX") || die "mktemp failed"
export RRUN_ROOT=$demo_tmp/state
mkdir -m 0700 "$RRUN_ROOT" || die "cannot create $RRUN_ROOT"

# shellcheck source=scripts/kill-holder.sh
. "$top/scripts/kill-holder.sh"
cleanup() {
    kill_holder "$RRUN_ROOT"
    rm -rf --one-file-system -- "$demo_tmp" 2>/dev/null ||
        echo "demo: could not remove $demo_tmp" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rrun() { "$rrun_bin" "$@"; }

failed=0
say() { printf '\n'; printf '# %s\n' "$@"; }
# step 'COMMAND': print it as typed, then run it.
step() {
    local rc
    printf '$ %s\n' "$1"
    eval "$1"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "(exit status $rc)"
        failed=$((failed + 1))
    fi
}

R=$(printf %q "$ROOTFS")
if [ "$(id -u)" -eq 0 ]; then mode=rootful; else mode=rootless; fi
echo "rrun demo ($mode, as $(id -un 2>/dev/null || id -u)); rootfs: $ROOTFS"
echo "state for this demo only: RRUN_ROOT=$RRUN_ROOT"

say "The same commands work as root and as an ordinary user (rootless: the" \
    "bridge lives in a network namespace of your own, pasta takes traffic out)."
say "A process in fresh namespaces: pid 1 of its own pid namespace," \
    "root inside, with a hostname of its own."
step "rrun --rm $R /bin/sh -c 'echo pid=\$\$; id; hostname'"

say "-i keeps stdin open, so the container can read from a pipe."
step "echo hi | rrun --rm -i $R cat"

say "-e sets environment variables, -h the hostname (as docker run does)."
step "rrun --rm -e PG_VERSION=9.3 -h db $R env"

say "--read-only mounts the rootfs read-only; --tmpfs gives a writable /tmp."
step "rrun --rm --read-only --tmpfs /tmp $R sh -c 'touch /x || echo read-only; touch /tmp/y && echo tmpfs ok'"

say "-v HOST:CONTAINER[:ro] bind-mounts a host directory."
step "rrun --rm -v \"\$PWD/scripts:/app:ro\" $R ls /app"

say "The source document's scenario. db: a named container in the background" \
    "(-d), with PG_VERSION=9.3 and port 5432 exposed (busybox httpd stands in" \
    "for PostgreSQL). rrun prints its id once it has started."
step "rrun -d --name db -e PG_VERSION=9.3 --expose 5432 $R httpd -f -p 5432 -h /tmp"

say "web: linked to db, every exposed port published (-P) to a free host port."
step "rrun -d -P --expose 5000 --name web --link db:db $R sh -c 'mkdir -p /www; echo \"Hello from web, linked to \$DB_PORT\" > /www/index.html; echo \"* Running on http://0.0.0.0:5000/\"; exec httpd -f -p 5000 -h /www'"

say "ps shows the mapping and the link (db is also web/db); port looks it up."
step "rrun ps"
step "rrun port web 5000"

say "A linked container sees db through environment variables and /etc/hosts."
step "rrun --rm --name web2 --link db:db $R sh -c 'env | grep ^DB_ | sort; tail -2 /etc/hosts'"
step "rrun --rm --link db:db $R ping -c 1 db"

say "A request from the host to web's published port (plain bash, no client needed)."
step "port=\$(rrun port web 5000 | cut -d: -f2); exec 3<>/dev/tcp/127.0.0.1/\$port && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && tail -1 <&3; exec 3<&-"

say "inspect -f takes a Go template, as docker inspect does; logs shows output."
step "rrun inspect -f '{{.Name}} {{.NetworkSettings.IPAddress}} {{.HostConfig.Links}}' web db"
step "rrun logs web"

say "exec runs another command inside a running container."
step "rrun exec db sh -c 'echo \$PG_VERSION; hostname'"

say "rm -f stops and removes them; network rm removes the bridge and its rules" \
    "(without root: in your own network namespace, and stops its pasta)."
step "rrun rm -f web db"
step "rrun network rm"
step "rrun ps -a"

echo
if [ "$failed" -ne 0 ]; then
    echo "demo: $failed step(s) failed"
    exit 1
fi
echo "demo: all steps succeeded"
