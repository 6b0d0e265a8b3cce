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
#
# Runs as root, in a temporary RRUN_ROOT, inside a throwaway network
# namespace (unshare --net, only lo up): rrun's bridge and rules never touch
# the machine's own network, and nothing is sent anywhere. RRUN=... and
# ROOTFS=... override target/release/rrun and target/rootfs. Every container
# and temp file is removed at the end.
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

work=$(mktemp -d "${TMPDIR:-/tmp}/rrun-bench-lc.XXXXXX") || die "mktemp failed"
state=$work/state
mkdir -m 0700 "$state"

# Kill whatever a record under $state still names as alive (monitor or
# container process, start time checked), then remove the temp dir.
cleanup() {
    local f pid start stat
    local -a fields
    for f in "$state"/containers/*/state.json; do
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

echo "bench: RRUN_ROOT=$state"
rc=0
RRUN_ROOT=$state BENCH_N="${BENCH_N:-50}" BENCH_PS_RUNS="${BENCH_PS_RUNS:-50}" \
    unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh \
    "$py" "$work/measure.py" "$rrun" "$rootfs" || rc=$?
exit "$rc"
