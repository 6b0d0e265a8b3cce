#!/usr/bin/env bash
# `make bench-limits`: what setting resource limits costs a start. Pairs of
# `rrun run --rm --net=none ROOTFS true`, one plain and one with
# `-m 64m --cpus 0.5 --pids-limit 100`, interleaved (the order alternating
# pair by pair) so that both see the same machine; BENCH_N pairs (default
# 200) after BENCH_WARM (default 20) unmeasured ones. Prints the medians,
# the median of the per-pair differences (the goal: at most 1 ms) and the
# ratio of the medians. Runs as root (limits need cgroups; rootless they
# need a delegated cgroup v2 subtree) with an RRUN_ROOT of its own.
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (limits need cgroups)"
command -v python3 >/dev/null || die "python3 missing"
rrun=${RRUN:-$top/target/release/rrun}
rootfs=${ROOTFS:-$top/target/rootfs}
[ -x "$rrun" ] || die "$rrun not built (make build)"
[ -d "$rootfs" ] || die "$rootfs missing (make rootfs)"
work=$(mktemp -d /tmp/rrun-bench-limits.XXXXXX) || die "mktemp failed"
# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
    set +e
    RRUN_ROOT=$work/state "$rrun" system reset -f >/dev/null 2>&1
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

RRUN=$rrun ROOTFS=$rootfs RRUN_ROOT=$work/state \
    timeout --foreground "${BENCH_TIMEOUT:-1800}" python3 - <<'PY'
"""Interleaved A/B starts; stdlib only."""
import os
import statistics
import subprocess
import time

E = os.environ
rrun, rootfs = E["RRUN"], E["ROOTFS"]
N = int(E.get("BENCH_N", "200"))
WARM = int(E.get("BENCH_WARM", "20"))
PLAIN = [rrun, "run", "--rm", "--net=none", rootfs, "true"]
LIMITS = [rrun, "run", "--rm", "--net=none", "-m", "64m", "--cpus", "0.5",
          "--pids-limit", "100", rootfs, "true"]


def start(argv):
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    return (time.perf_counter() - t) * 1000


plain, limits, diffs = [], [], []
for i in range(WARM + N):
    if i % 2:
        b, a = start(LIMITS), start(PLAIN)
    else:
        a, b = start(PLAIN), start(LIMITS)
    if i >= WARM:
        plain.append(a)
        limits.append(b)
        diffs.append(b - a)


def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


mp, ml = statistics.median(plain), statistics.median(limits)
print(f"start, {N} interleaved pairs, --net=none, `true`")
print(f"  plain                          median {mp:7.2f} ms  p90 {q(plain, .9):7.2f} ms")
print(f"  -m 64m --cpus 0.5 --pids-limit median {ml:7.2f} ms  p90 {q(limits, .9):7.2f} ms")
print(f"  cost of the limits: median of pair differences {statistics.median(diffs):+.2f} ms "
      f"(goal <= 1 ms); ratio of medians {ml / mp:.3f}x")
PY
