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
cd "$top" || exit 1
rrun_bin=${RRUN:-$top/target/release/rrun}
ROOTFS=${ROOTFS:-target/rootfs}

die() { echo "demo: $*" >&2; exit 1; }
[ -x "$rrun_bin" ] || die "$rrun_bin not found; run 'make build' first"
[ -x "$ROOTFS/bin/sh" ] || die "no rootfs at $ROOTFS; run 'make rootfs' first"

demo_tmp=$(mktemp -d "${TMPDIR:-/tmp}/rrun-demo.XXXXXX") || die "mktemp failed"
export RRUN_ROOT=$demo_tmp/state
mkdir -m 0700 "$RRUN_ROOT" || die "cannot create $RRUN_ROOT"

# Kill the rootless holder recorded in $1/holder.json ({"pid":N,"start_time":T},
# T = field 22 of /proc/N/stat), if it is still that process.
kill_holder() {
    local f=$1/holder.json pid want stat
    local -a fields
    [ -f "$f" ] || return 0
    pid=$(sed -n 's/.*"pid"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1)
    want=$(sed -n 's/.*"start_time"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1)
    [ -n "$pid" ] || return 0
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 0
    read -r -a fields <<<"${stat##*) }"   # fields[0] is field 3
    if [ -z "$want" ] || [ "${fields[19]:-}" = "$want" ]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
}
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

say "The source document's db container: named, in the background (-d)," \
    "with its environment. rrun prints its id once it has started."
step "rrun -d --name db -e PG_VERSION=9.3 $R httpd -f -p 5432"
step "rrun -d --name web $R sh -c 'echo \"* Running on http://0.0.0.0:5000/\"; exec httpd -f -p 5000'"

say "ps lists them; inspect -f takes a Go template, as docker inspect does."
step "rrun ps"
step "rrun inspect -f '{{.Name}} {{.State.Status}} {{.Config.Hostname}}' web db"

say "logs shows what a detached container printed."
step "rrun logs web"

say "exec runs another command inside a running container."
step "rrun exec db sh -c 'echo \$PG_VERSION; ps'"

say "rm -f stops and removes them; the runs above used --rm, so ps -a lists nothing."
step "rrun rm -f web db"
step "rrun ps -a"

# ---------------------------------------------------------------------------
# LATER ISSUES EXTEND THIS DEMO (DESIGN.md §9) once networking lands:
# the source document's linked web+db scenario —
#   rrun --name db -d -e PG_VERSION=9.3 --expose 5432 ROOTFS <server on 5432>
#   rrun --name web -d -P --link db:db ROOTFS <page on 5000>
#   rrun ps ; rrun port web 5000
#   rrun --rm --link db:db ROOTFS sh -c 'env | grep ^DB_; cat /etc/hosts'
#   a request from the host to the published port of web
# ---------------------------------------------------------------------------

echo
if [ "$failed" -ne 0 ]; then
    echo "demo: $failed step(s) failed"
    exit 1
fi
echo "demo: all steps succeeded"
