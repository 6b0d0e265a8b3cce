#!/usr/bin/env bash
# `make bench-start`: start-up cost of rrun against bubblewrap and unshare(1),
# each running /bin/true on the busybox rootfs in fresh namespaces, as an
# unprivileged user (rootless mode for all three).
#
#   rrun  --rm --net=none ROOTFS /bin/true
#   bwrap --unshare-all --die-with-parent --bind ROOTFS / --proc /proc --dev /dev /bin/true
#   unshare --user --map-root-user --mount --pid --fork --uts --ipc --net chroot ROOTFS /bin/true
#
# One interleaved round-robin run (BENCH_N rounds, default 200, after
# BENCH_WARMUP warm-up runs of each, default 10), then rrun's peak RSS over 20
# runs (ru_maxrss from wait4). Goals: rrun median <= 1.5x bwrap's, peak RSS
# <= 5 MB.
#
# BASELINE=/path/to/other/rrun adds a peer `base`: the same rrun command line
# with that binary (scripts/build-rev.sh REV builds one), in the same
# interleaved rounds, with a state directory of its own; it prints the
# rrun/base ratio of medians and of p90s. Goal (issue 12): <= 1.05x.
#
# Run as root, it copies the binary and the rootfs to a world-readable temp
# dir and measures as $RRUN_TEST_USER (default rrtest); run as anyone else, it
# measures as that user. RRUN=... and ROOTFS=... override target/release/rrun
# and target/rootfs. All temp files and the rootless holder are removed at the
# end.
set -euo pipefail

top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
rrun_src=${RRUN:-$top/target/release/rrun}
rootfs_src=${ROOTFS:-$top/target/rootfs}
base_src=${BASELINE:-}
bench_user=${RRUN_TEST_USER:-rrtest}

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$rrun_src" ] || die "$rrun_src not found; run 'make build' first"
[ -x "$rootfs_src/bin/true" ] || die "no rootfs at $rootfs_src; run 'make rootfs' first"
if [ -n "$base_src" ]; then
    if [ ! -f "$base_src" ] || [ ! -x "$base_src" ]; then
        die "BASELINE=$base_src is not an executable file (scripts/build-rev.sh REV builds one)"
    fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rrun-bench.XXXXXX") || die "mktemp failed"
state=$work/state
base_state=$work/state-base

# shellcheck source=scripts/kill-holder.sh
. "$top/scripts/kill-holder.sh"
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    kill_holder "$state"
    kill_holder "$base_state"
    rm -rf --one-file-system -- "$work" 2>/dev/null ||
        echo "bench: could not remove $work" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" -eq 0 ]; then
    id -u "$bench_user" >/dev/null 2>&1 ||
        die "test user '$bench_user' does not exist ('make test' as root creates it with scripts/test-setup.sh; or set RRUN_TEST_USER)"
    chmod 0755 "$work"
    cp -- "$rrun_src" "$work/rrun"
    chmod 0755 "$work/rrun"
    cp -a -- "$rootfs_src" "$work/rootfs"
    rrun=$work/rrun
    rootfs=$work/rootfs
    mkdir -m 0700 "$state" "$base_state"
    chown "$bench_user:" "$state" "$base_state"
    base=
    if [ -n "$base_src" ]; then
        cp -- "$base_src" "$work/base-rrun"
        chmod 0755 "$work/base-rrun"
        base=$work/base-rrun
    fi
    home=$(getent passwd "$bench_user" | cut -d: -f6)
    # root's python3 may live where the test user cannot reach it (pyenv).
    py=/usr/bin/python3
    [ -x "$py" ] || py=$(command -v python3)
    run_as=(runuser -u "$bench_user" -- env -i
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        HOME="${home:-/}" LANG=C.UTF-8 USER="$bench_user" LOGNAME="$bench_user")
else
    bench_user=$(id -un 2>/dev/null || id -u)
    rrun=$rrun_src
    rootfs=$rootfs_src
    base=$base_src
    mkdir -m 0700 "$state" "$base_state"
    py=$(command -v python3) || die "python3 not found"
    run_as=(env)
fi

cat >"$work/measure.py" <<'PY'
"""Interleaved start-up benchmark; argv: RRUN ROOTFS [BASE BASE_ROOT]. stdlib only."""
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time

signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: die quietly, the shell cleans up
rrun, rootfs = sys.argv[1], sys.argv[2]
baseline, base_root = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else (None, None)
N = int(os.environ.get("BENCH_N", "200"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "10"))
RSS_RUNS = 20
GOAL_RATIO = 1.5
GOAL_RSS_MB = 5.0
GOAL_BASE = 1.05


def which(name):
    return shutil.which(name, path=os.environ.get("PATH", os.defpath))


tools = {}  # name -> argv, or None when absent
tools["rrun"] = ([rrun, "--rm", "--net=none", rootfs, "/bin/true"]
                 if os.access(rrun, os.X_OK) else None)
if baseline:
    tools["base"] = [baseline, "--rm", "--net=none", rootfs, "/bin/true"]
# The baseline keeps its own state (and so its own rootless holder).
envs = {"base": dict(os.environ, RRUN_ROOT=base_root)} if baseline else {}
bwrap = which("bwrap")
tools["bwrap"] = ([bwrap, "--unshare-all", "--die-with-parent", "--bind", rootfs, "/",
                   "--proc", "/proc", "--dev", "/dev", "/bin/true"] if bwrap else None)
unshare, chroot = which("unshare"), which("chroot")
tools["unshare"] = ([unshare, "--user", "--map-root-user", "--mount", "--pid", "--fork",
                     "--uts", "--ipc", "--net", chroot, rootfs, "/bin/true"]
                    if unshare and chroot else None)

status = {name: ("ok" if argv else "absent") for name, argv in tools.items()}
samples = {name: [] for name in tools}
failures = {name: 0 for name in tools}
first_error = {}


def run(name):
    """One timed run; returns ns or None on failure."""
    t0 = time.perf_counter_ns()
    p = subprocess.run(tools[name], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=envs.get(name))
    dt = time.perf_counter_ns() - t0
    if p.returncode != 0:
        failures[name] += 1
        err = p.stderr.decode(errors="replace").strip().splitlines()
        first_error.setdefault(name, f"exit {p.returncode}: {err[0] if err else ''}")
        return None
    return dt


print(f"start-up of /bin/true, as {os.environ.get('USER') or os.getuid()} "
      f"(uid {os.getuid()}), {os.cpu_count()} CPUs, Linux {platform.release()}")
print(f"rootfs {rootfs}; {WARMUP} warm-up runs each, then {N} interleaved rounds")
if baseline:
    print(f"rrun {rrun} (RRUN_ROOT={os.environ.get('RRUN_ROOT')})")
    print(f"base {baseline} (RRUN_ROOT={base_root})")

# Warm-up (also creates rrun's rootless holder, which later runs reuse).
for name in tools:
    if status[name] != "ok":
        continue
    for _ in range(max(WARMUP, 1)):
        run(name)
    if failures[name]:
        status[name] = "failed"
        print(f"  {name}: fails in warm-up ({first_error[name]}); left out")

active = [name for name in tools if status[name] == "ok"]
for i in range(N):
    k = i % len(active) if active else 0
    for name in active[k:] + active[:k]:  # rotate the order each round
        dt = run(name)
        if dt is not None:
            samples[name].append(dt)


def p90(xs):
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


ms = 1e6
medians = {n: statistics.median(samples[n]) / ms for n in active if samples[n]}
base = medians.get("bwrap")
print()
print(f"{'tool':<8} {'median ms':>10} {'p90 ms':>10} {'vs bwrap':>9}  runs")
for name in tools:
    if name not in medians:
        print(f"{name:<8} {status[name] if status[name] != 'ok' else 'no data':>10}")
        continue
    ratio = f"{medians[name] / base:.2f}x" if base else "-"
    extra = f"  ({failures[name]} failed: {first_error[name]})" if failures[name] else ""
    print(f"{name:<8} {medians[name]:>10.2f} {p90(samples[name]) / ms:>10.2f} {ratio:>9}  "
          f"{len(samples[name])}{extra}")

# Peak RSS of rrun and the children it waits for: wait4's ru_maxrss (KiB).
# A direct child of this python would inherit python's ~10 MB high-water mark
# (exec records the old mm's), so a static busybox sh starts rrun in the
# background and exits; as a child subreaper we then reap rrun with wait4.
def spawn_rss_kib(argv):
    launcher = os.path.join(rootfs, "bin/busybox")
    sh = [launcher, "sh"] if os.access(launcher, os.X_OK) else ["/bin/sh"]
    r, w = os.pipe()
    pid = os.posix_spawn(sh[0], sh + ["-c", '"$@" </dev/null >/dev/null 2>&1 & echo $!', "sh"]
                         + argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, w, 1)])
    os.close(w)
    with os.fdopen(r) as f:
        child = int(f.read().strip())
    os.waitpid(pid, 0)
    try:
        _, wstatus, ru = os.wait4(child, 0)
    except ChildProcessError:  # sh reaped a command that ended before sh did
        return None
    return ru.ru_maxrss if os.waitstatus_to_exitcode(wstatus) == 0 else None


rss_kib, floor_kib = [], []
if status["rrun"] == "ok":
    import ctypes
    PR_SET_CHILD_SUBREAPER = 36
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
    for _ in range(RSS_RUNS):
        kib = spawn_rss_kib(tools["rrun"])
        if kib is not None:
            rss_kib.append(kib)
    floor_kib = [k for k in (spawn_rss_kib([os.path.join(rootfs, "bin/true")]) for _ in range(3))
                 if k is not None]

print()
print("goals:")
if "rrun" in medians and base:
    r = medians["rrun"] / base
    print(f"  rrun median <= {GOAL_RATIO}x bwrap median: {r:.2f}x "
          f"({medians['rrun']:.2f} ms vs {base:.2f} ms) - {'met' if r <= GOAL_RATIO else 'NOT MET'}")
else:
    print(f"  rrun median <= {GOAL_RATIO}x bwrap median: cannot tell "
          f"(rrun {status['rrun']}, bwrap {status['bwrap']})")
if rss_kib:
    mb = max(rss_kib) / 1024
    print(f"  rrun peak RSS <= {GOAL_RSS_MB:g} MB: {mb:.2f} MB (max ru_maxrss of {len(rss_kib)} runs, "
          f"median {statistics.median(rss_kib) / 1024:.2f} MB) - "
          f"{'met' if mb <= GOAL_RSS_MB else 'NOT MET'}")
    if floor_kib:
        print(f"  (measurement floor: the rootfs's static /bin/true shows {max(floor_kib) / 1024:.2f} MB)")
else:
    print(f"  rrun peak RSS <= {GOAL_RSS_MB:g} MB: cannot tell (rrun {status['rrun']})")
if baseline:
    if "rrun" in medians and "base" in medians:
        r = medians["rrun"] / medians["base"]
        r90 = p90(samples["rrun"]) / p90(samples["base"])
        print(f"  rrun/base median <= {GOAL_BASE}x: {r:.3f}x ({medians['rrun']:.2f} ms vs "
              f"{medians['base']:.2f} ms; p90 {r90:.3f}x) - {'met' if r <= GOAL_BASE else 'NOT MET'}")
    else:
        print(f"  rrun/base median <= {GOAL_BASE}x: cannot tell "
              f"(rrun {status['rrun']}, base {status['base']})")

ok = status["rrun"] == "ok" and (not baseline or status["base"] == "ok")
sys.exit(0 if ok else 1)
PY
chmod 0644 "$work/measure.py"

echo "bench: measuring as $bench_user (RRUN_ROOT=$state)"
[ -z "$base" ] || echo "bench: rrun = $rrun_src, base = $base_src"
base_args=()
[ -z "$base" ] || base_args=("$base" "$base_state")
rc=0
"${run_as[@]}" RRUN_ROOT="$state" BENCH_N="${BENCH_N:-200}" BENCH_WARMUP="${BENCH_WARMUP:-10}" \
    "$py" "$work/measure.py" "$rrun" "$rootfs" "${base_args[@]}" || rc=$?
exit "$rc"
