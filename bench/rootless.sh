#!/usr/bin/env bash
# `make bench-rootless`: rootless networking (issue 6), measured as the
# unprivileged $RRUN_TEST_USER (default rrtest) inside a network namespace of
# the bench's own: an "uplink" veth pair with both ends inside (198.18.0.2/24,
# a default route via 198.18.0.1 that leads nowhere) lets pasta start. Traffic
# only crosses that namespace's loopback and the namespaces rrun, podman and
# the bench make; nothing is sent anywhere else.
#
#  1. start, with the user's network up (a `db` container with --expose 5432):
#     `rrun --rm -p 18181:80 --link db:db ROOTFS /bin/true`, beside
#     `rrun --rm --net=none ROOTFS /bin/true` and, when it works, Debian's
#     rootless `podman run --rm -p 18182:80 --rootfs ROOTFS /bin/true`
#     (runc, cgroupfs, file events; HOME and XDG_RUNTIME_DIR private to the
#     bench), BENCH_WARMUP (default 5) warm-up runs each, then BENCH_N
#     (default 50) interleaved rounds, medians;
#  2. the first run, which makes the user namespace, the network namespace,
#     the bridge and pasta: `rrun --rm -p 18181:80 ROOTFS /bin/true` in a
#     fresh RRUN_ROOT, the holder and pasta killed (by their recorded pids)
#     after each, BENCH_FIRST (default 5) samples, median;
#  3. throughput, iperf3 TCP, 1 stream, to `iperf3 -s` in a container
#     published with -p 127.0.0.1:15201:5201: from the bench's "host"
#     namespace through rrun's forwarder (127.0.0.1:15201), and direct to the
#     container's address from inside the user's network namespace
#     (`nsenter -t HOLDER -U -n --preserve-credentials`), BENCH_ROUNDS
#     (default 5) interleaved rounds of BENCH_SECS (default 3) seconds.
#
# Goals (issue 6): start with the network up <= 20 ms; first run <= 500 ms;
# rrun <= 0.05x podman's median; forwarder >= 0.90x direct.
#
# podman is used when installed (with runc: crun fails on this kernel's
# cgroup setup); BENCH_INSTALL=1 installs it first (apt-get install -y podman
# runc). Otherwise, or when it fails, it is reported absent with the reason.
# RRUN=... and ROOTFS=... override target/release/rrun and target/rootfs;
# both are copied to a temp dir (the rootfs owned by the bench user, which
# rootless podman needs), removed at the end with every container, network,
# holder, pasta and podman process the bench made.
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
rrun_src=${RRUN:-$top/target/release/rrun}
rootfs_src=${ROOTFS:-$top/target/rootfs}
bench_user=${RRUN_TEST_USER:-rrtest}
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (it measures as the unprivileged '$bench_user', in a network namespace of its own)"
id -u "$bench_user" >/dev/null 2>&1 ||
    die "test user '$bench_user' does not exist ('make test' as root creates it with scripts/test-setup.sh; or set RRUN_TEST_USER)"
[ -x "$rrun_src" ] || die "$rrun_src not found; run 'make build' first"
[ -x "$rootfs_src/bin/true" ] || die "no rootfs at $rootfs_src; run 'make rootfs' first"
[ -x "$rootfs_src/usr/bin/iperf3" ] || die "no iperf3 in $rootfs_src; install iperf3 and make -B rootfs"
for t in iperf3 python3 unshare nsenter runuser ip; do
    command -v $t >/dev/null || die "$t missing (iperf3, python3, util-linux, iproute2)"
done
command -v pasta >/dev/null || echo "bench: warning: pasta (package passt) is missing; rrun's first run will not start it" >&2

if [ -z "${RRUN_BENCH_NETNS:-}" ]; then
    # What needs the machine's network happens before the private namespace.
    podman_absent=
    if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
        if [ "${BENCH_INSTALL:-0}" = 1 ]; then
            echo "bench: BENCH_INSTALL=1: apt-get install -y podman runc" >&2
            log=$(mktemp /tmp/rrun-bench-rootless-apt.XXXXXX)
            export DEBIAN_FRONTEND=noninteractive
            if ! { apt-get install -y podman runc || { apt-get update && apt-get install -y podman runc; }; } >"$log" 2>&1; then
                podman_absent="apt-get install -y podman runc failed: $(grep -E '^(E|W):' "$log" | tail -n 1)"
            fi
            rm -f "$log"
        elif ! command -v podman >/dev/null; then
            podman_absent="not installed (BENCH_INSTALL=1 installs Debian's podman and runc)"
        else
            podman_absent="runc not installed (crun fails on this kernel's cgroup setup; BENCH_INSTALL=1 installs runc)"
        fi
    fi
    exec env RRUN_BENCH_NETNS=1 PODMAN_ABSENT="$podman_absent" unshare --net -- bash "$0" "$@"
fi

# Inside the private network namespace, as root.
. "$top/bench/uplink.sh"
netns=$(readlink /proc/self/ns/net)

work=$(mktemp -d /tmp/rrun-bench-rootless.XXXXXX) || die "mktemp failed"
chmod 0755 "$work"
u=$work/u                  # everything the bench user writes
state=$u/state             # RRUN_ROOT of the figures with the network up
first=$u/first             # a fresh RRUN_ROOT per first-run sample
xdg=$u/xdg                 # podman's XDG_RUNTIME_DIR
home=$u/home               # podman's HOME (storage, config)
rrun=$work/rrun
rootfs=$work/rootfs
run_as=(runuser -u "$bench_user" -- env -i
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOME="$home" XDG_RUNTIME_DIR="$xdg" LANG=C.UTF-8 USER="$bench_user" LOGNAME="$bench_user")

# kill_recorded FILE / kill_holder STATE_DIR
# shellcheck source=scripts/kill-holder.sh
. "$top/scripts/kill-holder.sh"

cleanup() {
    set +e
    if [ -d "$state" ]; then
        timeout 20 "${run_as[@]}" RRUN_ROOT="$state" "$rrun" rm -f db srv >/dev/null 2>&1
        timeout 20 "${run_as[@]}" RRUN_ROOT="$state" "$rrun" network rm >/dev/null 2>&1
    fi
    local d
    for d in "$state" "$first"/*; do
        [ -d "$d" ] || continue
        kill_holder "$d"
    done
    if [ -f "$xdg/libpod/tmp/pause.pid" ] && command -v podman >/dev/null; then
        timeout 30 "${run_as[@]}" podman --runtime runc --cgroup-manager=cgroupfs --events-backend=file \
            rm -af -t 0 >/dev/null 2>&1
        local pp
        pp=$(cat "$xdg/libpod/tmp/pause.pid" 2>/dev/null)
        [ -n "$pp" ] && [ "$(cat "/proc/$pp/comm" 2>/dev/null)" = catatonit ] && kill -KILL "$pp" 2>/dev/null
    fi
    # Anything else still in this namespace was started by the bench
    # (podman's conmon, slirp4netns, rootlessport; a leaked pasta).
    local p left=()
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] && continue
        [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$netns" ] || continue
        [ "$(cut -d' ' -f4 "/proc/$p/stat" 2>/dev/null)" = $$ ] && continue # this loop's own
        left+=("$p")
    done
    for p in "${left[@]}"; do
        [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$netns" ] || continue
        echo "bench: cleanup: killing leftover $p ($(cat "/proc/$p/comm" 2>/dev/null))" >&2
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf --one-file-system -- "$work" 2>/dev/null || echo "bench: could not remove $work" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cp -- "$rrun_src" "$rrun"
chmod 0755 "$rrun"
cp -a -- "$rootfs_src" "$rootfs"
mkdir -m 0700 "$u" "$state" "$first" "$xdg" "$home"
chown -R "$bench_user:" "$rootfs" "$u"
# root's python3 may live where the test user cannot reach it (pyenv).
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)

cat >"$work/measure.py" <<'PY'
"""Rootless networking benchmark, run as the bench user. stdlib only."""
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

rrun, rootfs, state, first_dir = sys.argv[1:5]
N = int(os.environ.get("BENCH_N", "50"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "5"))
FIRST = int(os.environ.get("BENCH_FIRST", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SECS = os.environ.get("BENCH_SECS", "3")
podman_absent = os.environ.get("PODMAN_ABSENT", "")
GOAL_START_MS, GOAL_FIRST_MS, GOAL_PODMAN, GOAL_FWD = 20.0, 500.0, 0.05, 0.90


def env_with(root):
    e = dict(os.environ)
    e["RRUN_ROOT"] = root
    return e


def run(argv, root=state, check=False):
    """(ms, CompletedProcess)."""
    t0 = time.perf_counter_ns()
    p = subprocess.run(argv, env=env_with(root), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = (time.perf_counter_ns() - t0) / 1e6
    if check and p.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return dt, p


def first_line(p):
    lines = [l for l in p.stderr.strip().splitlines() if "level=warning" not in l]
    return f"exit {p.returncode}: {(lines[-1] if lines else '').strip()}"


def p90(xs):
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def stat_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return s[s.rindex(")") + 2:].split()  # [0] is field 3 (state)


def kill_recorded(path):
    """Kill the process a record names (pid, start_time) and wait for it."""
    rec = read_json(path)
    if not rec or not rec.get("pid"):
        return
    pid, want = rec["pid"], rec.get("start_time")
    st = stat_of(pid)
    if st is None or (want is not None and st[19] != str(want)):
        return
    try:
        os.kill(pid, 9)
    except OSError:
        return
    for _ in range(200):  # gone, or a zombie nobody reaps
        st = stat_of(pid)
        if st is None or st[0] in "ZX" or (want is not None and st[19] != str(want)):
            return
        time.sleep(0.01)


print(f"rootless networking, as {os.environ.get('USER')} (uid {os.getuid()}), "
      f"{os.cpu_count()} CPUs, Linux {platform.release()}")
pasta = shutil.which("pasta")
print(f"pasta: {pasta or 'absent'}; rootfs {rootfs}")

# --- 2. the first run, which makes the network --------------------------------
first_cmd = [rrun, "--rm", "-p", "18181:80", rootfs, "/bin/true"]
first_ms, first_err, pasta_note = [], None, None
for i in range(FIRST):
    root = os.path.join(first_dir, str(i))
    os.mkdir(root, 0o700)
    dt, p = run(first_cmd, root=root)
    if p.returncode == 0:
        first_ms.append(dt)
    else:
        first_err = first_err or first_line(p)
    rec = read_json(os.path.join(root, "network", "pasta.json")) or {}
    if rec.get("unavailable") and not pasta_note:
        pasta_note = rec["unavailable"]
    if not rec and p.returncode == 0 and not pasta_note:
        pasta_note = "no network/pasta.json after the first run"
    kill_recorded(os.path.join(root, "network", "pasta.json"))
    kill_recorded(os.path.join(root, "holder.json"))

# --- 1. start with the network up, beside podman -------------------------------
run([rrun, "-d", "--name", "db", "--expose", "5432", rootfs, "sleep", "1000000"], check=True)
tools = {
    "rrun --rm -p 18181:80 --link db:db (network up)": [rrun, "--rm", "-p", "18181:80", "--link", "db:db",
                                         rootfs, "/bin/true"],
    "rrun --rm --net=none": [rrun, "--rm", "--net=none", rootfs, "/bin/true"],
}
PODMAN = "podman run --rm -p 18182:80 --rootfs"
podman_version = ""
if not podman_absent:
    podman = shutil.which("podman")
    tools[PODMAN] = [podman, "--runtime", "runc", "--cgroup-manager=cgroupfs",
                     "--events-backend=file", "run", "--rm", "-p", "18182:80",
                     "--rootfs", rootfs, "/bin/true"]
    v = subprocess.run([podman, "--version"], capture_output=True, text=True)
    podman_version = v.stdout.strip()
status = {name: "ok" for name in tools}
samples = {name: [] for name in tools}
failures = {name: 0 for name in tools}
errors = {}
for name, argv in tools.items():
    for _ in range(max(WARMUP, 1)):
        dt, p = run(argv)
        if p.returncode != 0:
            errors.setdefault(name, first_line(p))
            failures[name] += 1
    if failures[name]:
        status[name] = "failed"
        print(f"  {name}: fails in warm-up ({errors[name]}); left out")
if status.get(PODMAN) == "failed":
    podman_absent = f"fails: {errors[PODMAN]}"
active = [n for n in tools if status[n] == "ok"]
for i in range(N):
    k = i % len(active) if active else 0
    for name in active[k:] + active[:k]:  # rotate the order each round
        dt, p = run(tools[name])
        if p.returncode == 0:
            samples[name].append(dt)
        else:
            failures[name] += 1
            errors.setdefault(name, first_line(p))

# --- 3. throughput: the forwarder vs. the direct path ---------------------------
run([rrun, "-d", "--name", "srv", "-p", "127.0.0.1:15201:5201", rootfs, "iperf3", "-s"], check=True)
_, p = run([rrun, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "srv"], check=True)
srv_ip = p.stdout.strip()
holder = (read_json(os.path.join(state, "holder.json")) or {}).get("pid")
if not holder:
    sys.exit("bench: no holder pid in holder.json")
iperf3 = shutil.which("iperf3")
paths = {
    "forwarder: 127.0.0.1:15201 from the host": [iperf3, "-c", "127.0.0.1", "-p", "15201"],
    "direct: container from the user's netns": ["nsenter", "-t", str(holder), "-U", "-n",
                                                "--preserve-credentials", iperf3, "-c", srv_ip,
                                                "-p", "5201"],
}


def iperf(argv, secs):
    p = subprocess.run(argv + ["-t", str(secs), "-J"], capture_output=True, text=True)
    try:
        j = json.loads(p.stdout)
    except ValueError:
        j = {}
    try:  # iperf3 -J may exit 0 with only an "error" (server not up yet)
        return j["end"]["sum_received"]["bits_per_second"] / 1e9, None
    except (KeyError, TypeError):
        why = j.get("error") or (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
        return None, [why]


for name, argv in paths.items():  # wait for the server; warm both paths up
    for _ in range(50):
        gbps, err = iperf(argv, 1)
        if gbps is not None:
            break
        time.sleep(0.1)
    else:
        sys.exit(f"bench: iperf3 {name}: {err[0]}")
tput = {k: [] for k in paths}
for r in range(ROUNDS):
    order = list(paths) if r % 2 == 0 else list(reversed(paths))
    for name in order:
        gbps, err = iperf(paths[name], SECS)
        if gbps is None:
            sys.exit(f"bench: iperf3 {name}: {err[0]}")
        tput[name].append(gbps)

# --- the table ------------------------------------------------------------------
print()
W = 50
print(f"{'start (ratio: to podman)':<{W}} {'median':>10} {'p90':>10} {'ratio':>8}  runs")
med = {n: statistics.median(v) for n, v in samples.items() if v}
rr = "rrun --rm -p 18181:80 --link db:db (network up)"
pm = med.get(PODMAN)
for name in tools:
    if name not in med:
        print(f"{name:<{W}} {'failed':>10}  {errors.get(name, '')}")
        continue
    ratio = f"{med[name] / pm:.3f}x" if pm else ""
    extra = f"  ({failures[name]} failed: {errors[name]})" if failures[name] else ""
    print(f"{name:<{W}} {med[name]:>7.2f} ms {p90(samples[name]):>7.2f} ms "
          f"{ratio:>8}  {len(samples[name])}{extra}")
if PODMAN not in tools or status.get(PODMAN) != "ok":
    print(f"{PODMAN:<{W}} {'absent':>10}  {podman_absent}")
first = "rrun --rm -p, first run (makes the network)"
if first_ms:
    extra = f"  ({FIRST - len(first_ms)} failed: {first_err})" if first_err else ""
    print(f"{first:<{W}} {statistics.median(first_ms):>7.2f} ms {p90(first_ms):>7.2f} ms "
          f"{'':>8}  {len(first_ms)}{extra}")
else:
    print(f"{first:<{W}} {'failed':>10}  {first_err}")
direct = "direct: container from the user's netns"
tmed = {k: statistics.median(v) for k, v in tput.items()}
print(f"{f'iperf3, 1 stream (ratio: to direct)':<{W}} {'median':>10} {'min':>10} {'ratio':>8}  rounds")
for name in paths:
    print(f"{name:<{W}} {tmed[name]:>5.2f} Gb/s {min(tput[name]):>5.2f} Gb/s "
          f"{tmed[name] / tmed[direct]:>7.3f}x  {len(tput[name])} x {SECS} s")
if pasta_note:
    print(f"note: pasta did not run in the first runs: {pasta_note}")
if podman_version:
    print(f"podman: {podman_version}, --runtime runc --cgroup-manager=cgroupfs --events-backend=file")

print()
print("goals:")


def goal(text, ok, detail):
    print(f"  {'PASS' if ok else 'MISS'}  {text}: {detail}")


if rr in med:
    goal(f"start with the network up <= {GOAL_START_MS:g} ms", med[rr] <= GOAL_START_MS,
         f"{med[rr]:.2f} ms")
else:
    print(f"  MISS  start with the network up <= {GOAL_START_MS:g} ms: failed ({errors.get(rr)})")
if first_ms:
    m = statistics.median(first_ms)
    goal(f"first run <= {GOAL_FIRST_MS:g} ms", m <= GOAL_FIRST_MS and not pasta_note,
         f"{m:.2f} ms" + (" (but pasta did not run)" if pasta_note else ""))
else:
    print(f"  MISS  first run <= {GOAL_FIRST_MS:g} ms: failed ({first_err})")
if pm and rr in med:
    r = med[rr] / pm
    goal(f"rrun <= {GOAL_PODMAN:g}x podman", r <= GOAL_PODMAN,
         f"{r:.3f}x ({med[rr]:.2f} ms vs {pm:.2f} ms)")
else:
    print(f"  n/a   rrun <= {GOAL_PODMAN:g}x podman: podman absent: {podman_absent}")
f = tmed["forwarder: 127.0.0.1:15201 from the host"] / tmed[direct]
goal(f"forwarder >= {GOAL_FWD:.2f}x direct", f >= GOAL_FWD,
     f"{f:.3f}x ({tmed['forwarder: 127.0.0.1:15201 from the host']:.2f} vs {tmed[direct]:.2f} Gbit/s)")
sys.exit(0 if rr in med and first_ms else 1)
PY
chmod 0644 "$work/measure.py"

echo "bench: measuring as $bench_user in a private network namespace (work dir $work)"
rc=0
"${run_as[@]}" BENCH_N="${BENCH_N:-50}" BENCH_WARMUP="${BENCH_WARMUP:-5}" \
    BENCH_FIRST="${BENCH_FIRST:-5}" BENCH_ROUNDS="${BENCH_ROUNDS:-5}" BENCH_SECS="${BENCH_SECS:-3}" \
    PODMAN_ABSENT="${PODMAN_ABSENT:-}" \
    "$py" "$work/measure.py" "$rrun" "$rootfs" "$state" "$first" || rc=$?
exit "$rc"
