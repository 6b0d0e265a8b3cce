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
#   4. Restart latency, root and rootless: `db` (sleep 1000) and `web` (-p
#      8080:80 --link db:db, sleep 1000, which ignores SIGTERM as pid 1)
#      running; BENCH_RESTART_N rounds (default 30, after 3 warm-ups) of
#      `rrun restart -t 0 web`: (a) from the old process's exit to the new
#      one's start, inspect's State.StartedAt - State.FinishedAt, and (b) the
#      wall time of the whole restart command, with the part of it until
#      FinishedAt and how often it returned before StartedAt; medians and
#      p90s. Each round checks that web kept its address and ports. Goal:
#      (a) median <= 10 ms.
#   5. `rrun create --rm ... ROOTFS /bin/true` + `rrun start ID` against
#      `rrun run -d --rm ... ROOTFS /bin/true`, root and rootless,
#      BENCH_CREATE_N interleaved rounds (default 30, after 3 warm-ups each),
#      with --net=none and on the bridge with -p 80; outside the timed part
#      each round waits for the container to remove itself (rm -f if it has
#      not within 5 s). Medians (and create's share) and their ratio; goal:
#      ratio <= 1.1.
#
# BENCH_PARTS (default "1 2 3 4 5") picks the parts to run, e.g.
# BENCH_PARTS="4 5"; 1 and 2 share the 200 stored containers, made when
# either runs.
#
# Runs as root, in a temporary RRUN_ROOT, inside a throwaway network
# namespace (unshare --net, only lo up): rrun's bridge and rules never touch
# the machine's own network, and nothing is sent anywhere. RRUN=... and
# ROOTFS=... override target/release/rrun and target/rootfs (copied, for the
# rootless parts, to a directory the test user may read). An "uplink" veth
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

bench_parts=${BENCH_PARTS:-1 2 3 4 5}
for p in $bench_parts; do
    case $p in
        [1-5]) ;;
        *) die "BENCH_PARTS='$bench_parts': parts are 1 to 5" ;;
    esac
done
[ -n "${bench_parts// /}" ] || die "BENCH_PARTS is empty"

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
    for d in "$work"/scale-* "$work"/part-*; do
        [ -d "$d" ] && kill_holder "$d"
    done
    for f in "$state"/containers/*/state.json "$work"/scale-*/containers/*/state.json \
        "$work"/part-*/containers/*/state.json; do
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
"""Parts 1 and 2: ps -a over stored containers; -d against foreground.
argv: RRUN ROOTFS. stdlib only; RRUN_ROOT and BENCH_PARTS come from the
environment."""
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
PARTS = os.environ.get("BENCH_PARTS", "1 2").split()
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
if "1" in PARTS:
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
def part2():
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
    return samples


samples = part2() if "2" in PARTS else None

print("\ngoals:")
if "1" in PARTS:
    print(f"  rrun ps -a over {STORED} containers, median <= {GOAL_PS_MS:g} ms: {ps_med:.2f} ms - "
          f"{'met' if ps_med <= GOAL_PS_MS else 'NOT MET'}")
for label in ("--net=none", "default net") if samples else ():
    d = statistics.median(samples[("-d", label)]) / ms
    f = statistics.median(samples[("fg", label)]) / ms
    diff = d - f
    met = diff <= GOAL_DETACH_MS
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

cat >"$work/benchlib.py" <<'PY'
"""What parts 3, 4 and 5 share: running rrun timed, and a p90. stdlib only."""
import math
import subprocess
import sys
import time


def runner(rrun, env, label):
    """run(args, check=True) -> (nanoseconds, CompletedProcess); a failure
    ends the bench, named."""
    def run(args, check=True):
        t0 = time.perf_counter_ns()
        p = subprocess.run([rrun] + args, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        dt = time.perf_counter_ns() - t0
        if check and p.returncode != 0:
            err = p.stderr.decode(errors="replace").strip()
            sys.exit(f"bench: rrun {' '.join(args)} ({label}) failed with exit {p.returncode}: {err}")
        return dt, p
    return run


def p90(xs):
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]
PY

cat >"$work/scale.py" <<'PY'
"""A start with 0 and with 400 containers running; rm -f of 200.
argv: RRUN ROOTFS ROOT_EMPTY ROOT_LOADED LABEL. As root each state directory
lives in a network namespace of its own, entered with setns(2) before each
of its commands. stdlib only."""
import benchlib
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
    return benchlib.runner(rrun, env, label)(args, check)


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

cat >"$work/restart.py" <<'PY'
"""Part 4: restart latency of a running container with a published port and
a link. argv: RRUN ROOTFS ROOT LABEL. stdlib only."""
import benchlib
import calendar
import json
import math
import os
import statistics
import subprocess
import sys
import time

rrun, rootfs, root, label = sys.argv[1:5]
N = int(os.environ.get("BENCH_RESTART_N", "30"))
WARMUP = 3
GOAL_MS = 10.0
ms = 1e6
env = dict(os.environ, RRUN_ROOT=root)

run = benchlib.runner(rrun, env, label)
p90 = benchlib.p90


def rfc3339_ns(s):
    """Nanoseconds since the epoch of an RFC 3339 time with up to nine
    fractional digits (datetime keeps only six)."""
    date, sep, rest = s.partition("T")
    if not sep:
        raise ValueError(s)
    if rest.endswith(("Z", "z")):
        clock, off = rest[:-1], 0
    else:
        i = max(rest.rfind("+"), rest.rfind("-"))
        if i < 0:
            raise ValueError(s)
        hh, mm = rest[i + 1:].split(":")
        off = (1 if rest[i] == "+" else -1) * (int(hh) * 3600 + int(mm) * 60)
        clock = rest[:i]
    hms, _, frac = clock.partition(".")
    if len(frac) > 9 or (frac and not frac.isdigit()):
        raise ValueError(s)
    secs = calendar.timegm(time.strptime(f"{date}T{hms}", "%Y-%m-%dT%H:%M:%S")) - off
    return secs * 10**9 + int(frac.ljust(9, "0"))


def web():
    """(State, the address and ports that a restart must keep) of web."""
    _, p = run(["inspect", "web"])
    c = json.loads(p.stdout)[0]
    n = c["NetworkSettings"]
    return c["State"], (n["IPAddress"], json.dumps(n["Ports"], sort_keys=True))


def restart(before, kept):
    """One `rrun restart -t 0 web`: (its wall time, StartedAt - FinishedAt,
    FinishedAt - the command's start), in ns, whether it returned before
    the new run's StartedAt, and web's new State."""
    began = time.time_ns()
    dt, _ = run(["restart", "-t", "0", "web"])
    returned = time.time_ns()
    end = time.monotonic() + 10.0
    while True:  # until inspect shows the new run
        s, net = web()
        if s["Running"] and s["StartedAt"] != before["StartedAt"]:
            break
        if time.monotonic() > end:
            sys.exit(f"bench: web ({label}) did not come back within 10 s of its restart: {s}")
        time.sleep(0.001)
    try:
        started, finished = rfc3339_ns(s["StartedAt"]), rfc3339_ns(s["FinishedAt"])
        prev = rfc3339_ns(before["StartedAt"])
    except ValueError as e:
        sys.exit(f"bench: inspect ({label}) gave a time that is not RFC 3339: {e}")
    if not prev <= finished <= started or s["Pid"] == before["Pid"]:
        sys.exit(f"bench: web ({label}) restarted oddly: before {before}, after {s}")
    if net != kept:
        sys.exit(f"bench: web ({label}) did not keep its network across a restart: {kept} -> {net}")
    return dt, started - finished, finished - began, returned < started, s


print(f"\n[{label}] restart latency: rrun restart -t 0 web (-p 8080:80 --link db:db, "
      f"sleep 1000) ...", flush=True)
run(["-d", "--name", "db", rootfs, "sleep", "1000"])
run(["-d", "--name", "web", "-p", "8080:80", "--link", "db:db", rootfs, "sleep", "1000"])
state, kept = web()
if not kept[0]:
    sys.exit(f"bench: web ({label}) has no address on the bridge")
for _ in range(WARMUP):
    *_, state = restart(state, kept)
wall, gap, stop, early = [], [], [], 0
for _ in range(N):
    dt, g, st, e, state = restart(state, kept)
    wall.append(dt)
    gap.append(g)
    stop.append(st)
    early += e
med = statistics.median(gap) / ms
print(f"[{label}] from the process's exit to the new start (StartedAt - FinishedAt), {N} rounds: "
      f"median {med:.2f} ms, p90 {p90(gap) / ms:.2f} ms, min {min(gap) / ms:.2f} ms")
print(f"[{label}] the whole rrun restart -t 0 web command: median "
      f"{statistics.median(wall) / ms:.2f} ms, p90 {p90(wall) / ms:.2f} ms, "
      f"min {min(wall) / ms:.2f} ms; it returned before the new run's StartedAt in {early} "
      f"of {N} rounds")
print(f"[{label}] of which from the command's start to the old process's exit (FinishedAt): "
      f"median {statistics.median(stop) / ms:.2f} ms, p90 {p90(stop) / ms:.2f} ms")
print(f"[{label}] goal: a restart's median from exit to start <= {GOAL_MS:g} ms: "
      f"{med:.2f} ms - {'met' if med <= GOAL_MS else 'NOT MET'} "
      f"(address {kept[0]} and ports kept in every round)", flush=True)
run(["rm", "-f", "web", "db"])
run(["network", "rm"], check=False)
PY

cat >"$work/create.py" <<'PY'
"""Part 5: create + start against run -d. argv: RRUN ROOTFS ROOT LABEL.
stdlib only."""
import benchlib
import math
import os
import statistics
import subprocess
import sys
import time

rrun, rootfs, root, label = sys.argv[1:5]
N = int(os.environ.get("BENCH_CREATE_N", "30"))
WARMUP = 3
GOAL_RATIO = 1.1
ms = 1e6
env = dict(os.environ, RRUN_ROOT=root)
forced = 0

run = benchlib.runner(rrun, env, label)
p90 = benchlib.p90


def one_id(p, what):
    out = p.stdout.split()
    if len(out) != 1:
        sys.exit(f"bench: rrun {what} ({label}) printed {p.stdout!r}, expected one id")
    return out[0].decode()


def stored():
    d = os.path.join(root, "containers")
    return [n for n in os.listdir(d) if not n.startswith(".")] if os.path.isdir(d) else []


def gone(cid):
    """Outside the timed part: wait for the --rm container to remove itself,
    so that the next command does not share the CPUs with its teardown; rm
    -f it if it has not within 5 s."""
    global forced
    end = time.monotonic() + 5.0
    while stored():
        if time.monotonic() > end:
            forced += 1
            run(["rm", "-f", cid], check=False)
            end2 = time.monotonic() + 10.0
            while stored():
                if time.monotonic() > end2:
                    sys.exit(f"bench: {stored()} still stored in {root} ({label})")
                time.sleep(0.005)
            return
        time.sleep(0.002)


def create_start(net):
    """(ns of both, the id, ns of the create alone)."""
    t0 = time.perf_counter_ns()
    dc, p = run(["create", "--rm"] + net + [rootfs, "/bin/true"])
    cid = one_id(p, "create")
    run(["start", cid])
    return time.perf_counter_ns() - t0, cid, dc


def run_d(net):
    dt, p = run(["run", "-d", "--rm"] + net + [rootfs, "/bin/true"])
    return dt, one_id(p, "run -d"), None


if stored():
    sys.exit(f"bench: {root} ({label}) holds containers already")
nets = {"--net=none": ["--net=none"], "bridge -p 80": ["-p", "80"]}
series = {}
for nl, net in nets.items():
    series[("create+start", nl)] = (create_start, net)
    series[("run -d", nl)] = (run_d, net)
print(f"\n[{label}] rrun create --rm [NET] ROOTFS /bin/true + rrun start ID against "
      f"rrun run -d --rm [NET] ROOTFS /bin/true, {N} interleaved rounds ...", flush=True)
for f, net in series.values():
    for _ in range(WARMUP):
        gone(f(net)[1])
samples = {k: [] for k in series}
creates = {k: [] for k in series}
keys = list(series)
for i in range(N):
    k0 = i % len(keys)
    for k in keys[k0:] + keys[:k0]:  # rotate the order each round
        f, net = series[k]
        dt, cid, dc = f(net)
        samples[k].append(dt)
        if dc is not None:
            creates[k].append(dc)
        gone(cid)
print(f"[{label}] {'':26} {'median ms':>10} {'p90 ms':>10}  {'of which create, median':>23}")
for k in keys:
    c = f"{statistics.median(creates[k]) / ms:>23.2f}" if creates[k] else ""
    print(f"[{label}] {k[0] + ' ' + k[1]:<26} {statistics.median(samples[k]) / ms:>10.2f} "
          f"{p90(samples[k]) / ms:>10.2f}  {c}".rstrip())
if forced:
    print(f"[{label}] {forced} --rm container(s) had not removed themselves within 5 s (rm -f)")
goals = []
for nl in nets:
    r = statistics.median(samples[("create+start", nl)]) / statistics.median(samples[("run -d", nl)])
    goals.append(f"{nl} {r:.2f}x - {'met' if r <= GOAL_RATIO else 'NOT MET'}")
print(f"[{label}] goal: create + start / run -d, medians, <= {GOAL_RATIO}: " + "; ".join(goals),
      flush=True)
run(["network", "rm"], check=False)
PY

echo "bench: RRUN_ROOT=$state; parts $bench_parts"
rc=0
# Parts 3 to 5, rootless: the rrun binary and rootfs where the test user
# reads them, state directories of the user's own (part-u: 4 and 5).
u=$work/u
mkdir -m 0700 "$u" "$work/scale-root-a" "$work/scale-root-b"
mkdir -m 0700 "$u/scale-a" "$u/scale-b" "$u/lc"
ln -s "$u/scale-a" "$work/scale-ua"
ln -s "$u/scale-b" "$work/scale-ub"
ln -s "$u/lc" "$work/part-u"
cp -- "$rrun" "$work/rrun"
chmod 0755 "$work/rrun"
cp -a -- "$rootfs" "$work/rootfs"
chown -R "$bench_user:" "$work/rootfs" "$u"
upy=/usr/bin/python3
[ -x "$upy" ] || upy=$py

has_part() { case " $bench_parts " in *" $1 "*) return 0 ;; esac; return 1; }
# as_user SCRIPT ARGS...: a part's script as the test user.
as_user() {
    runuser -u "$bench_user" -- env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME="$u" LANG=C.UTF-8 BENCH_SCALE_N="$BENCH_SCALE_N" \
        BENCH_RESTART_N="$BENCH_RESTART_N" BENCH_CREATE_N="$BENCH_CREATE_N" "$upy" "$@"
}
# Root's parts 1, 2, 4 and 5 share $state, on the namespace's own network
# (each part removes its containers); part 3 makes two namespaces of its own.
parts() {
    if has_part 1 || has_part 2; then
        RRUN_ROOT=$state BENCH_PARTS=$bench_parts "$py" "$work/measure.py" "$rrun" "$rootfs" ||
            return
    fi
    if has_part 3; then
        "$py" "$work/scale.py" "$rrun" "$rootfs" "$work/scale-root-a" "$work/scale-root-b" root ||
            return
        if [ "$rootless" = 1 ]; then
            as_user "$work/scale.py" "$work/rrun" "$work/rootfs" "$u/scale-a" "$u/scale-b" rootless ||
                return
        fi
    fi
    local part script
    for part in 4 5; do
        has_part "$part" || continue
        script=$work/restart.py
        [ "$part" = 5 ] && script=$work/create.py
        "$py" "$script" "$rrun" "$rootfs" "$state" root || return
        if [ "$rootless" = 1 ]; then
            as_user "$script" "$work/rrun" "$work/rootfs" "$u/lc" rootless || return
        fi
    done
}
export -f parts has_part as_user
export py work rrun rootfs state rootless bench_user u upy bench_parts
BENCH_N="${BENCH_N:-50}" BENCH_PS_RUNS="${BENCH_PS_RUNS:-50}" BENCH_SCALE_N="${BENCH_SCALE_N:-30}" \
    BENCH_RESTART_N="${BENCH_RESTART_N:-30}" BENCH_CREATE_N="${BENCH_CREATE_N:-30}" \
    unshare --net -- bash "$top/bench/uplink.sh" bash -c parts || rc=$?
exit "$rc"
