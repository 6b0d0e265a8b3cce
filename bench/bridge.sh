#!/usr/bin/env bash
# `make bench-bridge`: bridge networking as root, in a network namespace of
# its own (nothing on this machine's network is touched).
#
#  1. start: `rrun -d -p 18181:80 --link db:db ROOTFS sleep` until it
#     returns (the command has started) and the whole
#     `rrun --rm -p 18181:80 --link db:db ROOTFS /bin/true` run, beside a
#     run with --net=none, medians of BENCH_N (default 50) interleaved rounds
#     after BENCH_WARMUP (default 3) uncounted ones, beside a db container
#     and the iperf3 server of section 2;
#  2. throughput: iperf3 to a container's server, direct to the container's
#     address and through a published port (kernel DNAT), from the host
#     itself (127.0.0.1) and from a neighbour namespace veth'd to the host
#     (the host's address), interleaved, BENCH_ROUNDS (default 5) rounds of
#     BENCH_SECS (default 3) seconds, 1 stream; ratios DNAT/direct. The
#     neighbour and its bench-only nftables rule come after section 1.
# Goals (issue 4): start median <= 15 ms; DNAT >= 0.95x direct.
#
# BASELINE=/path/to/other/rrun (scripts/build-rev.sh REV builds one) measures
# the three starts of section 1 for both binaries, interleaved in the same
# rounds (who goes first alternates), and prints rrun/base ratios of medians
# and p90s; goal (issue 12): <= 1.05x. Two rrun networks cannot share a
# network namespace (the same bridge rrun0, the same nftables tables), so the
# baseline has a second namespace of its own, its own RRUN_ROOT and its own
# db and iperf3 containers; the measuring process setns()es into a binary's
# namespace before starting it, so neither pays for an nsenter. Throughput
# (section 2) is the new binary's only.
#
# Warnings either binary prints during the start runs (such as rrun's
# "rebuilt the network") are listed; the bench then still runs section 2
# and exits 3.
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
rrun=${RRUN:-$top/target/release/rrun}
rootfs=${ROOTFS:-$top/target/rootfs}
base=${BASELINE:-}
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (bridge networking is root's for now)" >&2; exit 1; }
[ -x "$rrun" ] || { echo "bench: $rrun not found; make build" >&2; exit 1; }
[ -x "$rootfs/usr/bin/iperf3" ] || { echo "bench: no iperf3 in $rootfs; install iperf3 and make -B rootfs" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "bench: iperf3 missing (apt-get install iperf3)" >&2; exit 1; }
if [ -n "$base" ]; then
    if [ ! -f "$base" ] || [ ! -x "$base" ]; then
        echo "bench: BASELINE=$base is not an executable file (scripts/build-rev.sh REV builds one)" >&2
        exit 1
    fi
fi

if [ -z "${RRUN_BENCH_NETNS:-}" ]; then
    exec env RRUN_BENCH_NETNS=1 unshare --net -- bash "$0" "$@"
fi
ip link set lo up
tmp=$(mktemp -d /tmp/rrun-bench-bridge.XXXXXX)
export RRUN_ROOT=$tmp/state
base_root=$tmp/state-base
mkdir -m 700 "$RRUN_ROOT"
nb_pid=
bns_pid=
# A command in the baseline's namespace, with the baseline's state.
in_base() { RRUN_ROOT=$base_root nsenter --net="/proc/$bns_pid/ns/net" -- "$@"; }
# Remove every container of one binary's state, then its network.
# shellcheck disable=SC2317 # run by cleanup
rrun_clear() {
    local bin=$1 ids
    shift
    ids=$("$@" "$bin" ps -aq 2>/dev/null) || true
    # shellcheck disable=SC2086 # one id a word
    [ -z "$ids" ] || "$@" "$bin" rm -f $ids >/dev/null 2>&1 || true
    "$@" "$bin" network rm >/dev/null 2>&1 || true
}
# A namespace holder (see netns_holder), reaped so bash does not report it.
# shellcheck disable=SC2317 # run by cleanup
kill_holder() { { kill -KILL "$1" && wait "$1"; } 2>/dev/null || true; }
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    trap '' INT TERM
    rrun_clear "$rrun" env
    if [ -n "$bns_pid" ]; then
        rrun_clear "$base" in_base
        kill_holder "$bns_pid"
    fi
    [ -z "$nb_pid" ] || kill_holder "$nb_pid"
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A network namespace of its own, held by a sleep (unshare execs sleep in
# it); its pid goes into the variable named $1 at once, so cleanup finds it.
# The sleep ignores Ctrl-C and TERM sent to the whole process group: its
# namespace must outlive them until cleanup has removed the containers of the
# network in it; cleanup then kills it.
netns_holder() {
    local -n holder_pid=$1
    local _
    (trap '' INT TERM HUP; exec unshare --net -- sleep 100000 </dev/null >/dev/null) &
    holder_pid=$!
    for _ in $(seq 200); do
        [ "$(readlink "/proc/$holder_pid/ns/net")" != "$(readlink /proc/self/ns/net)" ] && return 0
        sleep 0.01
    done
    echo "bench: no network namespace for a holder" >&2
    return 1
}

# Both networks get the same containers (db for --link, srv for section 2),
# so neither binary starts beside more of them than the other.
for bin in "$rrun" ${base:+"$base"}; do
    run=(env)
    if [ "$bin" != "$rrun" ]; then
        netns_holder bns_pid
        mkdir -m 700 "$base_root"
        in_base ip link set lo up
        run=(in_base)
    fi
    "${run[@]}" "$bin" -d --name db --expose 5432 "$rootfs" sleep 100000 >/dev/null
    "${run[@]}" "$bin" -d --name srv -p 15201:5201 "$rootfs" iperf3 -s >/dev/null
done

start_rc=0
RRUN="$rrun" ROOTFS="$rootfs" BASE="$base" BASE_ROOT="$base_root" BNS_PID="$bns_pid" \
    python3 - <<'PY' || start_rc=$?
import ctypes, math, os, signal, statistics, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: die quietly, the shell cleans up
rrun, rootfs = os.environ["RRUN"], os.environ["ROOTFS"]
base = os.environ.get("BASE") or None
n = int(os.environ.get("BENCH_N", "50"))
warmup = int(os.environ.get("BENCH_WARMUP", "3"))
GOAL_BASE = 1.05
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
own_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
# binary name -> (path, its environment, an fd of its network namespace)
bins = {"rrun": (rrun, dict(os.environ), own_ns)}
if base:
    bins["base"] = (base, dict(os.environ, RRUN_ROOT=os.environ["BASE_ROOT"]),
                    os.open(f"/proc/{os.environ['BNS_PID']}/ns/net", os.O_RDONLY))
current_ns = own_ns
def enter(fd):
    global current_ns
    if fd != current_ns:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            sys.exit(f"bench: setns: {os.strerror(e)}")
        current_ns = fd
warnings = {b: {} for b in bins}
def run(b, args, capture_stdout=False):
    """Run binary b with args in its namespace; (ms, stdout)."""
    path, env, ns = bins[b]
    enter(ns)
    t = time.perf_counter()
    p = subprocess.run([path] + args, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    dt = (time.perf_counter() - t) * 1000
    for line in p.stderr.splitlines():
        if "warning" in line:
            warnings[b][line] = warnings[b].get(line, 0) + 1
    if p.returncode != 0:
        sys.exit(f"bench: {b}: {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return dt, p.stdout
def detached(b):
    dt, out = run(b, ["-d", "--rm", "-p", "18181:80", "--link", "db:db", rootfs, "sleep", "1"], True)
    run(b, ["rm", "-f", out.strip()])
    return dt
kinds = {
    "-d returns (bridge, -p, --link)": detached,
    "--rm full run (bridge, -p, --link)":
        lambda b: run(b, ["--rm", "-p", "18181:80", "--link", "db:db", rootfs, "/bin/true"])[0],
    "--rm full run (--net=none)": lambda b: run(b, ["--rm", "--net=none", rootfs, "/bin/true"])[0],
}
runs = {k: {b: [] for b in bins} for k in kinds}
names = list(bins)
for i in range(warmup + n):
    order = names[i % len(names):] + names[:i % len(names)]  # who goes first alternates
    for k, f in kinds.items():
        for b in order:
            dt = f(b)
            if i >= warmup:
                runs[k][b].append(dt)
enter(own_ns)
def p90(v):
    s = sorted(v)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]
print(f"start ({n} interleaved rounds after {warmup} warm-up rounds; rrun = {rrun}"
      + (f", base = {base}, each in a network namespace of its own)" if base else ")"))
for k, per in runs.items():
    for b, v in per.items():
        print(f"  {b:4s} {k:36s} median {statistics.median(v):6.2f} ms   p90 {p90(v):6.2f} ms")
print("  goal: start median <= 15 ms")
status = 0
if base:
    print(f"rrun/base (goal <= {GOAL_BASE}x)")
    for k, per in runs.items():
        r = statistics.median(per["rrun"]) / statistics.median(per["base"])
        r90 = p90(per["rrun"]) / p90(per["base"])
        print(f"  {k:36s} median {r:.3f}x   p90 {r90:.3f}x   - {'met' if r <= GOAL_BASE else 'NOT MET'}")
for b, w in warnings.items():
    if not w:
        print(f"  {b}: no warnings during the start runs")
    for line, count in w.items():
        print(f"  {b}: WARNING during the start runs ({count}x): {line}")
        status = 1
sys.exit(3 if status else 0)  # 3: warnings seen; the throughput still runs
PY
[ "$start_rc" -eq 0 ] || [ "$start_rc" -eq 3 ] || exit "$start_rc"

srv_ip=$("$rrun" inspect -f '{{.NetworkSettings.IPAddress}}' srv)
subnet=$("$rrun" network inspect | sed -n 's/.*"Subnet": "\(.*\)".*/\1/p')
# The neighbour: a namespace of its own on a veth to this one.
netns_holder nb_pid
ip link add nbh type veth peer name nbn
ip link set nbn netns "$nb_pid"
ip addr add 10.203.0.1/24 dev nbh; ip link set nbh up
nsenter -t "$nb_pid" -n sh -c "ip link set lo up; ip addr add 10.203.0.2/24 dev nbn; ip link set nbn up; ip route add $subnet via 10.203.0.1"
# rrun keeps unpublished ports closed to neighbours; the direct baseline
# needs this bench-only opening.
nft insert rule ip rrun forward ip saddr 10.203.0.2 accept

SRV_IP="$srv_ip" NB_PID="$nb_pid" python3 - <<'PY'
import json, os, signal, statistics, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: die quietly, the shell cleans up
rounds, secs = int(os.environ.get("BENCH_ROUNDS", "5")), os.environ.get("BENCH_SECS", "3")
def iperf(host, port, ns=None):
    pre = ["nsenter", "-t", ns, "-n"] if ns else []
    # On a loaded machine the server may still be closing the previous test
    # when the next client comes: it says "busy", and a later try gets it.
    for attempt in range(20):
        p = subprocess.run(pre + ["iperf3", "-c", host, "-p", str(port), "-t", secs, "-J"],
                           capture_output=True, text=True)
        try:
            out = json.loads(p.stdout)
        except ValueError:
            out = {"error": f"exit {p.returncode}: {p.stderr.strip()}"}
        if "busy" not in out.get("error", ""):
            break
        time.sleep(0.25)
    if "error" in out or "sum_received" not in out.get("end", {}):
        sys.exit(f"bench: iperf3 to {host}:{port}: {out.get('error', 'no result')}")
    return out["end"]["sum_received"]["bits_per_second"] / 1e9
nb = os.environ["NB_PID"]
paths = {
    "host: direct to the container": (os.environ["SRV_IP"], 5201, None),
    "host: 127.0.0.1 published port": ("127.0.0.1", 15201, None),
    "neighbour: direct to the container": (os.environ["SRV_IP"], 5201, nb),
    "neighbour: host address published port": ("10.203.0.1", 15201, nb),
}
res = {k: [] for k in paths}
for r in range(rounds):
    for k, (h, p, ns) in paths.items():
        res[k].append(iperf(h, p, ns))
med = {k: statistics.median(v) for k, v in res.items()}
print(f"throughput (iperf3, 1 stream, {rounds} interleaved rounds of {secs} s)")
for k, v in med.items():
    print(f"  {k:42s} {v:6.2f} Gbit/s")
print(f"  ratio from the host      {med['host: 127.0.0.1 published port']/med['host: direct to the container']:.3f}   goal >= 0.95")
print(f"  ratio from a neighbour   {med['neighbour: host address published port']/med['neighbour: direct to the container']:.3f}   goal >= 0.95")
PY
exit "$start_rc"
