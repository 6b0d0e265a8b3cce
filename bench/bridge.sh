#!/usr/bin/env bash
# `make bench-bridge`: bridge networking as root, in a network namespace of
# its own (nothing on this machine's network is touched).
#
#  1. start: `rrun -d -p 18181:80 --link db:db ROOTFS sleep` until it
#     returns (the command has started) and the whole
#     `rrun --rm -p 18181:80 --link db:db ROOTFS /bin/true` run, beside a
#     run with --net=none, medians of BENCH_N (default 50) interleaved runs;
#  2. throughput: iperf3 to a container's server, direct to the container's
#     address and through a published port (kernel DNAT), from the host
#     itself (127.0.0.1) and from a neighbour namespace veth'd to the host
#     (the host's address), interleaved, BENCH_ROUNDS (default 5) rounds of
#     BENCH_SECS (default 3) seconds, 1 stream; ratios DNAT/direct.
# Goals (issue 4): start median <= 15 ms; DNAT >= 0.95x direct.
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
rrun=${RRUN:-$top/target/release/rrun}
rootfs=${ROOTFS:-$top/target/rootfs}
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (bridge networking is root's for now)" >&2; exit 1; }
[ -x "$rrun" ] || { echo "bench: $rrun not found; make build" >&2; exit 1; }
[ -x "$rootfs/usr/bin/iperf3" ] || { echo "bench: no iperf3 in $rootfs; install iperf3 and make -B rootfs" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "bench: iperf3 missing (apt-get install iperf3)" >&2; exit 1; }

if [ -z "${RRUN_BENCH_NETNS:-}" ]; then
    exec env RRUN_BENCH_NETNS=1 unshare --net -- bash "$0" "$@"
fi
ip link set lo up
tmp=$(mktemp -d /tmp/rrun-bench-bridge.XXXXXX)
export RRUN_ROOT=$tmp/state
mkdir -m 700 "$RRUN_ROOT"
nb_pid=
cleanup() {
    [ -n "$nb_pid" ] && kill "$nb_pid" 2>/dev/null
    "$rrun" rm -f db srv >/dev/null 2>&1 || true
    "$rrun" network rm >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

"$rrun" -d --name db --expose 5432 "$rootfs" sleep 100000 >/dev/null
"$rrun" -d --name srv -p 15201:5201 "$rootfs" iperf3 -s >/dev/null
srv_ip=$("$rrun" inspect -f '{{.NetworkSettings.IPAddress}}' srv)
subnet=$("$rrun" network inspect | sed -n 's/.*"Subnet": "\(.*\)".*/\1/p')
# The neighbour: a namespace of its own on a veth to this one.
unshare --net -- sleep 100000 &
nb_pid=$!
for _ in $(seq 100); do [ "$(readlink /proc/$nb_pid/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.01; done
ip link add nbh type veth peer name nbn
ip link set nbn netns "$nb_pid"
ip addr add 10.203.0.1/24 dev nbh; ip link set nbh up
nsenter -t "$nb_pid" -n sh -c "ip link set lo up; ip addr add 10.203.0.2/24 dev nbn; ip link set nbn up; ip route add $subnet via 10.203.0.1"
# rrun keeps unpublished ports closed to neighbours; the direct baseline
# needs this bench-only opening.
nft insert rule ip rrun forward ip saddr 10.203.0.2 accept

RRUN="$rrun" ROOTFS="$rootfs" SRV_IP="$srv_ip" NB_PID="$nb_pid" python3 - <<'PY'
import os, statistics, subprocess, time, json
rrun, rootfs = os.environ["RRUN"], os.environ["ROOTFS"]
n = int(os.environ.get("BENCH_N", "50"))
def timed(args):
    t = time.perf_counter(); subprocess.run(args, check=True, stdout=subprocess.DEVNULL); return (time.perf_counter() - t) * 1000
runs = {"-d returns (bridge, -p, --link)": [], "--rm full run (bridge, -p, --link)": [], "--rm full run (--net=none)": []}
for i in range(n):
    cid = None
    t = time.perf_counter()
    cid = subprocess.run([rrun, "-d", "--rm", "-p", "18181:80", "--link", "db:db", rootfs, "sleep", "1"], check=True, capture_output=True, text=True).stdout.strip()
    runs["-d returns (bridge, -p, --link)"].append((time.perf_counter() - t) * 1000)
    subprocess.run([rrun, "rm", "-f", cid], check=True, stdout=subprocess.DEVNULL)
    runs["--rm full run (bridge, -p, --link)"].append(timed([rrun, "--rm", "-p", "18181:80", "--link", "db:db", rootfs, "/bin/true"]))
    runs["--rm full run (--net=none)"].append(timed([rrun, "--rm", "--net=none", rootfs, "/bin/true"]))
print(f"start ({n} interleaved runs each)")
for k, v in runs.items():
    print(f"  {k:40s} median {statistics.median(v):6.2f} ms   p90 {sorted(v)[int(len(v)*0.9)-1]:6.2f} ms")
print("  goal: start median <= 15 ms")

rounds, secs = int(os.environ.get("BENCH_ROUNDS", "5")), os.environ.get("BENCH_SECS", "3")
def iperf(host, port, ns=None):
    pre = ["nsenter", "-t", ns, "-n"] if ns else []
    out = subprocess.run(pre + ["iperf3", "-c", host, "-p", str(port), "-t", secs, "-J"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9
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
