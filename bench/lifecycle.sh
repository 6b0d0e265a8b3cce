#!/usr/bin/env bash
# `make bench-lifecycle`: what keeping containers around costs (issue 3).
#
#   1. `rrun ps -a` over 200 stored (exited) containers, BENCH_PS_RUNS times
#      (default 50): median and p90. Goal: median <= 30 ms.
#   2. How soon `rrun -d` returns: `rrun -d --rm ROOTFS /bin/true` (returns
#      once the command has exec'd) against `rrun --rm ROOTFS /bin/true`
#      (returns after it exited and was cleaned up), BENCH_N interleaved
#      rounds each (default 50, after 5 warm-up runs each), with --net=none
#      and with the default network (bridge, as root). Goal: the -d median
#      within 10 ms of the foreground median.
#   3. A start's cost against the number of containers running (issue 14),
#      as root and rootless (as $RRUN_TEST_USER, default rrtest; BENCH_ROOTLESS=0
#      leaves that out): `rrun -d --rm -p 80 --link db:db ROOTFS /bin/true`
#      in a state directory where only `db` runs, and in one where 400 more
#      run (200 on the bridge, 200 --net=none), BENCH_SCALE_N interleaved
#      rounds (default 30, after 3 warm-up runs each); medians and their
#      ratio. Then `rrun rm -f` of 200 of the 400 (100 of each). Goals: ratio
#      <= 1.15, root and rootless; rm -f of 200 <= 1 s. As root the two state
#      directories live in two network namespaces (two networks cannot share
#      one); rootless each has its own user's namespaces anyway.
#
# Runs as root, in a temporary RRUN_ROOT, inside a throwaway network
# namespace (unshare --net, only lo up): rrun's bridge and rules never touch
# the machine's own network, and nothing is sent anywhere. RRUN=... and
# ROOTFS=... override target/release/rrun and target/rootfs (copied, for the
# rootless part, to a directory the test user may read). An "uplink" veth
# pair with both ends inside the namespace (198.18.0.2/24, a default route to
# nowhere) lets rootless pasta start. Every container, holder and temp file is
# removed at the end.
set -euo pipefail

top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
rrun=${RRUN:-$top/target/release/rrun}
rootfs=${ROOTFS:-$top/target/rootfs}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (the benchmark measures rrun as root)"
[ -x "$rrun" ] || die "$rrun not found; run 'make build' first"
[ -x "$rootfs/bin/true" ] || die "no rootfs at $rootfs; run 'make rootfs' first"
command -v unshare >/dev/null || die "unshare(1) not found (util-linux)"
command -v ip >/dev/null || die "ip(8) not found (iproute2)"
py=$(command -v python3) || die "python3 not found"

bench_user=${RRUN_TEST_USER:-rrtest}
rootless=${BENCH_ROOTLESS:-1}
if [ "$rootless" = 1 ] && ! id -u "$bench_user" >/dev/null 2>&1; then
    die "test user '$bench_user' does not exist ('make test' as root creates it; or set RRUN_TEST_USER, or BENCH_ROOTLESS=0)"
fi
# kill_holder STATE_DIR
# shellcheck source=scripts/kill-holder.sh
. "$top/scripts/kill-holder.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/rrun-bench-lc.XXXXXX") || die "mktemp failed"
chmod 0755 "$work"
state=$work/state
mkdir -m 0700 "$state"

# Kill whatever a record under $state still names as alive (monitor or
# container process, start time checked), then remove the temp dir.
cleanup() {
    local f pid start stat d
    local -a fields
    for d in "$work"/scale-*; do
        [ -d "$d" ] && kill_holder "$d"
    done
    for f in "$state"/containers/*/state.json "$work"/scale-*/containers/*/state.json; do
        [ -f "$f" ] || continue
        for key in pid monitor_pid; do
            pid=$(sed -n "s/.*\"$key\"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p" "$f" | head -n 1)
            case $key in
                pid) start=$(sed -n 's/.*"pid_start"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1) ;;
                *) start=$(sed -n 's/.*"monitor_start"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1) ;;
            esac
            [ -n "$pid" ] && [ "$pid" -gt 1 ] || continue
            stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
            read -r -a fields <<<"${stat##*) }" # fields[0] is field 3
            [ "${fields[19]:-}" = "$start" ] && kill -KILL "$pid" 2>/dev/null || true
        done
    done
    rm -rf --one-file-system -- "$work" 2>/dev/null ||
        echo "bench: could not remove $work" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cat >"$work/measure.py" <<'PY'
"""ps -a over stored containers; -d against foreground. argv: RRUN ROOTFS.
stdlib only; RRUN_ROOT comes from the environment."""
import math
import os
import platform
import statistics
import subprocess
import sys
import time

rrun, rootfs = sys.argv[1], sys.argv[2]
root = os.environ["RRUN_ROOT"]
STORED = 200
PS_RUNS = int(os.environ.get("BENCH_PS_RUNS", "50"))
N = int(os.environ.get("BENCH_N", "50"))
WARMUP = 5
GOAL_PS_MS = 30.0
GOAL_DETACH_MS = 10.0
ms = 1e6


def run(argv):
    """(ns, CompletedProcess) of one run, stdout and stderr kept."""
    t0 = time.perf_counter_ns()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return time.perf_counter_ns() - t0, p


def check(p, what):
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip()
        sys.exit(f"bench: {what} failed with exit {p.returncode}: {err}")


def p90(xs):
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def stored():
    d = os.path.join(root, "containers")
    return [n for n in os.listdir(d) if not n.startswith(".")] if os.path.isdir(d) else []


def settle(want, limit=30.0):
    """Wait until the --rm containers of part 2 have removed themselves."""
    end = time.monotonic() + limit
    while len(stored()) != want:
        if time.monotonic() > end:
            sys.exit(f"bench: {len(stored())} containers stored, expected {want}")
        time.sleep(0.01)


print(f"rrun {rrun}, rootfs {rootfs}; as uid {os.getuid()}, {os.cpu_count()} CPUs, "
      f"Linux {platform.release()}; RRUN_ROOT={root} (a private network namespace)")

# 1. ps -a over 200 stored containers.
print(f"\nmaking {STORED} exited containers (rrun --net=none ROOTFS true) ...", flush=True)
for _ in range(STORED):
    _, p = run([rrun, "--net=none", rootfs, "true"])
    check(p, "rrun ROOTFS true")
if len(stored()) != STORED:
    sys.exit(f"bench: {len(stored())} containers stored, expected {STORED}")
_, p = run([rrun, "ps", "-a"])
check(p, "rrun ps -a")
rows = len(p.stdout.decode().splitlines()) - 1
if rows != STORED:
    sys.exit(f"bench: rrun ps -a lists {rows} containers, expected {STORED}")
for _ in range(3):  # warm-up (page cache)
    run([rrun, "ps", "-a"])
ps_ns = []
for _ in range(PS_RUNS):
    dt, p = run([rrun, "ps", "-a"])
    check(p, "rrun ps -a")
    ps_ns.append(dt)
ps_med = statistics.median(ps_ns) / ms
print(f"rrun ps -a, {STORED} containers, {PS_RUNS} runs: median {ps_med:.2f} ms, "
      f"p90 {p90(ps_ns) / ms:.2f} ms, min {min(ps_ns) / ms:.2f} ms")

# 2. -d against foreground, interleaved.
series = {}
for net in (["--net=none"], []):
    label = "--net=none" if net else "default net"
    series[("-d", label)] = [rrun, "-d", "--rm"] + net + [rootfs, "/bin/true"]
    series[("fg", label)] = [rrun, "--rm"] + net + [rootfs, "/bin/true"]
samples = {k: [] for k in series}
for k, argv in series.items():
    for _ in range(WARMUP):
        _, p = run(argv)
        check(p, " ".join(argv[1:]))
    settle(STORED)
print(f"\n{N} interleaved rounds of rrun [-d] --rm [NET] ROOTFS /bin/true ...", flush=True)
keys = list(series)
for i in range(N):
    k0 = i % len(keys)
    for k in keys[k0:] + keys[:k0]:  # rotate the order each round
        dt, p = run(series[k])
        check(p, " ".join(series[k][1:]))
        if k[0] == "-d" and len(p.stdout.split()) != 1:
            sys.exit(f"bench: rrun -d printed {p.stdout!r}, expected one id")
        samples[k].append(dt)
        if k[0] == "-d":
            # Let the monitor finish and remove the container, so that the
            # next run does not share the CPUs with it.
            settle(STORED)
print(f"{'':24} {'median ms':>10} {'p90 ms':>10}")
for k in keys:
    print(f"{k[0] + ' ' + k[1]:<24} {statistics.median(samples[k]) / ms:>10.2f} "
          f"{p90(samples[k]) / ms:>10.2f}")

print("\ngoals:")
print(f"  rrun ps -a over {STORED} containers, median <= {GOAL_PS_MS:g} ms: {ps_med:.2f} ms - "
      f"{'met' if ps_med <= GOAL_PS_MS else 'NOT MET'}")
ok = True
for label in ("--net=none", "default net"):
    d = statistics.median(samples[("-d", label)]) / ms
    f = statistics.median(samples[("fg", label)]) / ms
    diff = d - f
    met = diff <= GOAL_DETACH_MS
    ok = ok and met
    print(f"  rrun -d returns within {GOAL_DETACH_MS:g} ms of exec ({label}): -d median "
          f"{d:.2f} ms, foreground {f:.2f} ms, difference {diff:+.2f} ms - "
          f"{'met' if met else 'NOT MET'}")

# Leave nothing: remove the stored containers.
_, p = run([rrun, "ps", "-aq", "--no-trunc"])
ids = p.stdout.decode().split()
for i in range(0, len(ids), 50):
    run([rrun, "rm", "-f"] + ids[i:i + 50])
settle(0)
PY

cat >"$work/scale.py" <<'PY'
"""A start with 0 and with 400 containers running; rm -f of 200.
argv: RRUN ROOTFS ROOT_EMPTY ROOT_LOADED LABEL. As root each state directory
lives in a network namespace of its own, entered with setns(2) before each
of its commands. stdlib only."""
import ctypes
import os
import statistics
import subprocess
import sys
import time

rrun, rootfs, root_a, root_b, label = sys.argv[1:6]
N = int(os.environ.get("BENCH_SCALE_N", "30"))
RUNNING = 400
WARMUP = 3
GOAL_RATIO = 1.15
GOAL_RM_S = 1.0
ms = 1e6
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
netns = {root_a: None, root_b: None}
if os.getuid() == 0:
    for r in (root_a, root_b):
        if libc.unshare(CLONE_NEWNET) != 0:
            sys.exit(f"bench: unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        netns[r] = os.open("/proc/self/ns/net", os.O_RDONLY)


def enter(root):
    fd = netns[root]
    if fd is not None and libc.setns(fd, CLONE_NEWNET) != 0:
        sys.exit(f"bench: setns: {os.strerror(ctypes.get_errno())}")


def run(root, args, check=True):
    enter(root)
    env = dict(os.environ, RRUN_ROOT=root)
    t0 = time.perf_counter_ns()
    p = subprocess.run([rrun] + args, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter_ns() - t0
    if check and p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip()
        sys.exit(f"bench: rrun {' '.join(args)} ({label}) failed with exit {p.returncode}: {err}")
    return dt, p


def stored(root):
    d = os.path.join(root, "containers")
    return len([n for n in os.listdir(d) if not n.startswith(".")]) if os.path.isdir(d) else 0


def settle(root, want, limit=30.0):
    end = time.monotonic() + limit
    while stored(root) != want:
        if time.monotonic() > end:
            sys.exit(f"bench: {stored(root)} containers stored in {root}, expected {want}")
        time.sleep(0.005)


keep = ["sleep", "1000000"]
print(f"\n[{label}] a start with 0 and with {RUNNING} containers running ...", flush=True)
for root in (root_a, root_b):
    run(root, ["-d", "--name", "db", "--expose", "5432", rootfs] + keep)
t0 = time.monotonic()
bridge_ids, none_ids = [], []
for i in range(RUNNING // 2):
    bridge_ids.append(run(root_b, ["-d", rootfs] + keep)[1].stdout.decode().strip())
    none_ids.append(run(root_b, ["-d", "--net=none", rootfs] + keep)[1].stdout.decode().strip())
print(f"[{label}] {RUNNING} started in {time.monotonic() - t0:.1f} s", flush=True)
base = {root_a: stored(root_a), root_b: stored(root_b)}
start = ["-d", "--rm", "-p", "80", "--link", "db:db", rootfs, "/bin/true"]
names = {root_a: "db only", root_b: f"db + {RUNNING}"}
samples = {root_a: [], root_b: []}
for root in (root_a, root_b):
    for _ in range(WARMUP):
        run(root, start)
        settle(root, base[root])
order = [root_a, root_b]
for i in range(N):
    for root in (order if i % 2 == 0 else order[::-1]):
        dt, _ = run(root, start)
        samples[root].append(dt)
        # Let the monitor finish and remove the container.
        settle(root, base[root])
med = {r: statistics.median(samples[r]) / ms for r in samples}
ratio = med[root_b] / med[root_a]
for r in (root_a, root_b):
    print(f"[{label}] rrun -d --rm -p 80 --link db:db, {names[r]:>9}: median {med[r]:.2f} ms, "
          f"min {min(samples[r]) / ms:.2f} ms ({N} rounds)")
ids = bridge_ids[:100] + none_ids[:100]
dt, p = run(root_b, ["rm", "-f"] + ids)
rm_s = dt / 1e9
print(f"[{label}] rrun rm -f of {len(ids)} running containers (100 bridge, 100 --net=none): {rm_s:.2f} s")
print(f"[{label}] goals: ratio with {RUNNING} running <= {GOAL_RATIO}: {ratio:.2f}x - "
      f"{'met' if ratio <= GOAL_RATIO else 'NOT MET'}; rm -f of 200 <= {GOAL_RM_S:g} s: "
      f"{rm_s:.2f} s - {'met' if rm_s <= GOAL_RM_S else 'NOT MET'}", flush=True)
# Leave nothing running.
for root in (root_a, root_b):
    _, p = run(root, ["ps", "-aq", "--no-trunc"])
    rest = p.stdout.decode().split()
    if rest:
        run(root, ["rm", "-f"] + rest, check=False)
    run(root, ["network", "rm"], check=False)
PY

echo "bench: RRUN_ROOT=$state"
rc=0
# Part 3, rootless: the rrun binary and rootfs where the test user reads them.
u=$work/u
mkdir -m 0700 "$u" "$work/scale-root-a" "$work/scale-root-b"
mkdir -m 0700 "$u/scale-a" "$u/scale-b"
ln -s "$u/scale-a" "$work/scale-ua"
ln -s "$u/scale-b" "$work/scale-ub"
cp -- "$rrun" "$work/rrun"
chmod 0755 "$work/rrun"
cp -a -- "$rootfs" "$work/rootfs"
chown -R "$bench_user:" "$work/rootfs" "$u"
upy=/usr/bin/python3
[ -x "$upy" ] || upy=$py


parts() {
    RRUN_ROOT=$state "$py" "$work/measure.py" "$rrun" "$rootfs" &&
        "$py" "$work/scale.py" "$rrun" "$rootfs" "$work/scale-root-a" "$work/scale-root-b" root &&
        if [ "$rootless" = 1 ]; then
            runuser -u "$bench_user" -- env -i \
                PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                HOME="$u" LANG=C.UTF-8 BENCH_SCALE_N="${BENCH_SCALE_N:-30}" \
                "$upy" "$work/scale.py" "$work/rrun" "$work/rootfs" "$u/scale-a" "$u/scale-b" rootless
        fi
}
export -f parts
export py work rrun rootfs state rootless bench_user u upy
BENCH_N="${BENCH_N:-50}" BENCH_PS_RUNS="${BENCH_PS_RUNS:-50}" BENCH_SCALE_N="${BENCH_SCALE_N:-30}" \
    unshare --net -- bash "$top/bench/uplink.sh" bash -c parts || rc=$?
exit "$rc"
