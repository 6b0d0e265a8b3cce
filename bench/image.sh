#!/usr/bin/env bash
# `make bench-image`: what `rrun image save` costs on a ~100 MB rootfs
# (issue 18).
#
#   A copy of /usr/lib/python3* (about 100 MB, thousands of files; BENCH_TREE
#   names another directory) is saved BENCH_N times (default 5) with
#   `rrun image save`, interleaved with `tar -c | gzip -6 >FILE` of the same
#   tree in the same run: the median of each and their ratio. Goal: <= 1.2x.
#   Peak RSS of rrun (GNU time's %M, wait4's ru_maxrss). Goal: <= 32 MB.
#
# The tree is in the page cache (it was just copied; a first untimed round
# of each warms it further). As root or not (rootless, the walk runs in rrun's
# user namespace, made on first use). RRUN=... overrides
# target/release/rrun. The copies and outputs live in a temporary directory
# under $TMPDIR, removed at the end.
set -euo pipefail

top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
rrun=${RRUN:-$top/target/release/rrun}

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$rrun" ] || die "$rrun not found; run 'make build' first"
py=$(command -v python3) || die "python3 not found"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (Debian's time package)"
command -v gzip >/dev/null || die "gzip not found"

src=${BENCH_TREE:-}
if [ -z "$src" ]; then
    for d in /usr/lib/python3*; do
        [ -d "$d" ] && src="$src $d"
    done
fi
[ -n "$src" ] || die "no /usr/lib/python3*; set BENCH_TREE to a directory of about 100 MB"

work=$(mktemp -d "${TMPDIR:-/var/tmp}/rrun-bench-image.XXXXXX") || die "mktemp failed"
export RRUN_ROOT=$work/state
mkdir -m 0700 "$RRUN_ROOT"

cleanup() {
    "$rrun" system reset -f >/dev/null 2>&1 || true
    rm -rf --one-file-system -- "$work" 2>/dev/null ||
        echo "bench: could not remove $work" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir "$work/tree"
for d in $src; do
    cp -a "$d" "$work/tree/"
done
echo "tree: $(du -sh "$work/tree" | cut -f1) in $(find "$work/tree" | wc -l) entries (copies of$src)"

cat >"$work/measure.py" <<'PY'
"""Interleaved rounds of rrun image save and tar | gzip. argv: RRUN WORK. stdlib only."""
import os
import statistics
import subprocess
import sys
import time

rrun, work = sys.argv[1], sys.argv[2]
tree = os.path.join(work, "tree")
N = int(os.environ.get("BENCH_N", "5"))
GOAL_RATIO, GOAL_RSS_MB = 1.2, 32.0


def timed(argv, **kw):
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench: {argv} failed ({p.returncode}): {p.stderr!r}")
    return dt


save = [rrun, "image", "save", "-t", "bench:1", "-o", os.path.join(work, "img.tar"), tree]
targz = ["sh", "-c", f"tar -C {tree} -c . | gzip -6 > {work}/ref.tar.gz"]

timed(save)
timed(targz)
rs, ts = [], []
for i in range(N):
    # Alternate which goes first, so neither always runs on a warmer cache.
    order = [(save, rs), (targz, ts)] if i % 2 == 0 else [(targz, ts), (save, rs)]
    for argv, into in order:
        into.append(timed(argv))
r, t = statistics.median(rs), statistics.median(ts)
print(f"rrun image save   median {r:6.2f} s  (min {min(rs):.2f}, max {max(rs):.2f})"
      f"  {os.path.getsize(os.path.join(work, 'img.tar')) / 1e6:.1f} MB")
print(f"tar -c | gzip -6  median {t:6.2f} s  (min {min(ts):.2f}, max {max(ts):.2f})"
      f"  {os.path.getsize(os.path.join(work, 'ref.tar.gz')) / 1e6:.1f} MB")
ratio = r / t
print(f"ratio {ratio:.2f}x (goal <= {GOAL_RATIO}x): {'ok' if ratio <= GOAL_RATIO else 'OVER'}")

# wait4's ru_maxrss covers rrun and the children it waited for (rootless,
# the walk runs in one).
p = subprocess.run(["/usr/bin/time", "-f", "%M", *save], stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, text=True, check=True)
kib = int(p.stderr.strip().splitlines()[-1])
rss = kib / 1024
print(f"peak RSS of rrun image save: {rss:.1f} MB (goal <= {GOAL_RSS_MB:.0f} MB): "
      f"{'ok' if rss <= GOAL_RSS_MB else 'OVER'}")
PY

"$py" "$work/measure.py" "$rrun" "$work"
