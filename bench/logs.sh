#!/usr/bin/env bash
# `make bench-logs`: what `logs --tail` costs on a large log (issue 12).
#
#   1. A detached `yes` container with --log-opt max-size=2g max-file=1
#      writes until its log.jsonl holds BENCH_LOG_MIB MiB (default 1024),
#      then is killed: how fast the monitor wrote it is printed.
#   2. `rrun logs --tail 1` on it, BENCH_N times (default 20): wall time
#      (median, max), and peak RSS (GNU time's %M, i.e. wait4's ru_maxrss).
#      Goal: <= 50 ms and <= 10 MB.
#   3. `--tail 1000` the same way, and one whole `logs` to /dev/null
#      (streamed: its RSS does not grow with the log).
#
# The log is in the page cache (it was just written). Runs in a temporary
# RRUN_ROOT under $TMPDIR (a disk, not tmpfs: the log is 1 GiB), with
# --net=none; as root or not. RRUN=... and ROOTFS=... override
# target/release/rrun and target/rootfs. The container and the temp dir are
# removed at the end.
set -euo pipefail

top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
rrun=${RRUN:-$top/target/release/rrun}
rootfs=${ROOTFS:-$top/target/rootfs}

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$rrun" ] || die "$rrun not found; run 'make build' first"
[ -x "$rootfs/usr/bin/yes" ] || die "no rootfs with yes at $rootfs; run 'make rootfs' first"
py=$(command -v python3) || die "python3 not found"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (Debian's time package)"

work=$(mktemp -d "${TMPDIR:-/var/tmp}/rrun-bench-logs.XXXXXX") || die "mktemp failed"
export RRUN_ROOT=$work/state
mkdir -m 0700 "$RRUN_ROOT"

cleanup() {
    # rm -f ends the container (SIGKILL, start time checked by rrun).
    for d in "$RRUN_ROOT"/containers/*/; do
        [ -d "$d" ] && "$rrun" rm -f "$(basename "$d")" >/dev/null 2>&1 || true
    done
    rm -rf --one-file-system -- "$work" 2>/dev/null ||
        echo "bench: could not remove $work" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cat >"$work/measure.py" <<'PY'
"""Build a large log, then time `logs --tail`. argv: RRUN ROOTFS. stdlib only."""
import os
import statistics
import subprocess
import sys
import time

rrun, rootfs = sys.argv[1], sys.argv[2]
root = os.environ["RRUN_ROOT"]
MIB = int(os.environ.get("BENCH_LOG_MIB", "1024"))
N = int(os.environ.get("BENCH_N", "20"))
GOAL_MS, GOAL_RSS_MB = 50.0, 10.0


def rrun_out(*args):
    return subprocess.run([rrun, *args], check=True, capture_output=True, text=True).stdout


def measure_time(args):
    """Wall time (s) of one rrun, stdout to /dev/null."""
    with open(os.devnull, "wb") as null:
        t0 = time.perf_counter()
        p = subprocess.run([rrun, *args], stdout=null, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench: rrun {' '.join(args)} failed ({p.returncode}): {p.stderr!r}")
    return dt


# Peak RSS: GNU time's %M (ru_maxrss of its child, KiB). A child of this
# python would carry python's high-water mark through exec; one of time(1)
# carries time's own (about 2 MB, printed as the floor below).
def measure_rss_kib(argv):
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed: {p.stderr}")
    return int(p.stderr.strip().splitlines()[-1])


cid = rrun_out("-d", "--net=none", "--log-opt", "max-size=2g", "--log-opt",
               "max-file=1", rootfs, "yes").strip()
log = os.path.join(root, "containers", cid, "log.jsonl")
want = MIB << 20
t0 = time.perf_counter()
while os.path.getsize(log) < want:
    if time.perf_counter() - t0 > 600:
        sys.exit("bench: the log did not grow to size within 600 s")
    time.sleep(0.05)
took = time.perf_counter() - t0
rrun_out("kill", cid)
rrun_out("wait", cid)
size = os.path.getsize(log)
print(f"log: {size / (1 << 20):.0f} MiB of `yes` written by the monitor in {took:.1f} s "
      f"({size / (1 << 20) / took:.0f} MiB/s)")

last = rrun_out("logs", "--tail", "1", cid)
assert last == "y\n", repr(last)

floor = max(measure_rss_kib([os.path.join(rootfs, "bin/true")]) for _ in range(3)) * 1024 / 1e6
print(f"(floor: peak RSS of a static busybox true under time(1): {floor:.1f} MB)")
for what, args, runs in [
    ("logs --tail 1", ["logs", "--tail", "1", cid], N),
    ("logs --tail 1000", ["logs", "--tail", "1000", cid], N),
    ("logs (all, to /dev/null)", ["logs", cid], 1),
]:
    measure_time(args)  # warm-up
    times = [measure_time(args) * 1000 for _ in range(runs)]
    rss = max(measure_rss_kib([rrun, *args]) for _ in range(min(runs, 5))) * 1024 / 1e6
    med = statistics.median(times)
    line = f"{what}: median {med:.1f} ms, max {max(times):.1f} ms, peak RSS {rss:.1f} MB ({runs} runs)"
    if args[1:3] == ["--tail", "1"]:
        ok = med <= GOAL_MS and rss <= GOAL_RSS_MB
        line += f"  [goal <= {GOAL_MS:.0f} ms, <= {GOAL_RSS_MB:.0f} MB: {'met' if ok else 'MISSED'}]"
    print(line)
PY

"$py" "$work/measure.py" "$rrun" "$rootfs"
