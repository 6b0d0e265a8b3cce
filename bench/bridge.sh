#!/usr/bin/env bash
# `make bench-bridge`: bridge networking as root, in a network namespace of
# its own (nothing on this machine's network is touched).
#
#  1. start: `rrun -d -p 18181:80 --link db:db ROOTFS sleep` until it
#     returns (the command has started) and the whole
#     `rrun --rm -p 18181:80 --link db:db ROOTFS /bin/true` run, beside a
#     run with --net=none, medians of BENCH_N (default 50) interleaved runs;
#  2. throughput: iperf3 from the namespace's host side to a container's
#     server, direct to the container's address and through a published
#     port (kernel DNAT), interleaved, BENCH_ROUNDS (default 5) rounds of
#     BENCH_SECS (default 3) seconds, 1 stream; ratio DNAT/direct.
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
cleanup() {
    "$rrun" rm -f db srv >/dev/null 2>&1 || true
    "$rrun" network rm >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

"$rrun" -d --name db --expose 5432 "$rootfs" sleep 100000 >/dev/null
"$rrun" -d --name srv -p 15201:5201 "$rootfs" iperf3 -s >/dev/null
srv_ip=$("$rrun" inspect -f '{{.NetworkSettings.IPAddress}}' srv)

RRUN="$rrun" ROOTFS="$rootfs" SRV_IP="$srv_ip" python3 - <<'PY'
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
def iperf(host, port):
    out = subprocess.run(["iperf3", "-c", host, "-p", str(port), "-t", secs, "-J"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9
direct, dnat = [], []
for r in range(rounds):
    direct.append(iperf(os.environ["SRV_IP"], 5201))
    dnat.append(iperf("127.0.0.1", 15201))
d, p = statistics.median(direct), statistics.median(dnat)
print(f"throughput (iperf3, 1 stream, {rounds} interleaved rounds of {secs} s)")
print(f"  direct to the container      {d:6.2f} Gbit/s")
print(f"  published port (kernel DNAT) {p:6.2f} Gbit/s   ratio {p/d:.3f}   goal >= 0.95")
PY
