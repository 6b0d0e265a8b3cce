#!/usr/bin/env bash
# `make bench-dns`: name lookups from a container on a user-defined network,
# answered by rrun's embedded resolver (127.0.0.11) and by dnsmasq serving
# the same names from a hosts file, both asked from the same container the
# same way; then how soon a new container resolves and a stopped one stops,
# the start of a container on a user network against one on the default
# bridge, and the resolver's memory.
#
# Everything runs in a private network namespace of the bench's own (the
# script re-execs itself under `unshare --net`), with its own RRUN_ROOT; no
# query leaves it. BENCH_DNS_CONTAINERS (default 20) containers c1… run
# `sleep` on network `bench` (10.77.0.0/24); a client container has
# examples/dnsbench (a static UDP load client) bound in. dnsmasq (Debian's
# dnsmasq-base; BENCH_INSTALL=1 installs it) listens on the network's
# gateway, 10.77.0.1:5301, with a hosts file of the same names and
# addresses. Each round (BENCH_ROUNDS, default 5) measures both servers,
# the order alternating: BENCH_DNS_N (default 20000) queries one at a time,
# then as many with BENCH_DNS_CONC (default 32) in flight; lookups/s, p50,
# p99, failures. Ratios are rrun / dnsmasq (lookups/s: higher is better;
# latency: lower is).
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (it makes a network namespace of its own)"
for t in python3 unshare ip; do
    command -v $t >/dev/null || die "$t missing (python3, util-linux, iproute2)"
done
triple=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
dnsbench=$top/target/$triple/release/examples/dnsbench
rrun=${RRUN:-$top/target/release/rrun}
rootfs=${ROOTFS:-$top/target/rootfs}

if [ -z "${RRUN_BENCH_NETNS:-}" ]; then
    (cd "$top" && cargo build --release --example dnsbench) || die "building examples/dnsbench failed"
    if ! command -v dnsmasq >/dev/null && [ "${BENCH_INSTALL:-0}" = 1 ]; then
        export DEBIAN_FRONTEND=noninteractive
        timeout 900 apt-get install -y dnsmasq-base >/dev/null ||
            echo "bench: apt-get install -y dnsmasq-base failed" >&2
    fi
    exec env RRUN_BENCH_NETNS=1 unshare --net -- bash "$0"
fi

[ -x "$dnsbench" ] || die "$dnsbench not built"
[ -x "$rrun" ] || die "$rrun not built (make build)"
[ -d "$rootfs" ] || die "$rootfs missing (make rootfs)"
ip link set lo up
work=$(mktemp -d /tmp/rrun-bench-netdns.XXXXXX) || die "mktemp failed"
: >"$work/pids"
# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
    set +e
    local p
    while read -r p; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; done <"$work/pids"
    RRUN_ROOT=$work/state "$rrun" system reset -f >/dev/null 2>&1
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rc=0
WORK=$work DNSBENCH=$dnsbench RRUN=$rrun ROOTFS=$rootfs RRUN_ROOT=$work/state \
    timeout --foreground "${BENCH_TIMEOUT:-3600}" python3 - <<'PY' || rc=$?
"""The figures; stdlib only. Runs as root in the bench's namespace."""
import os
import shutil
import statistics
import subprocess
import sys
import time

E = os.environ
work, dnsbench, rrun, rootfs = E["WORK"], E["DNSBENCH"], E["RRUN"], E["ROOTFS"]
ROUNDS = int(E.get("BENCH_ROUNDS", "5"))
N = int(E.get("BENCH_DNS_N", "20000"))
CONC = int(E.get("BENCH_DNS_CONC", "32"))
M = int(E.get("BENCH_DNS_CONTAINERS", "20"))


def run(*args, check=True):
    r = subprocess.run([rrun, *args], capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        sys.exit(f"bench: rrun {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


run("network", "create", "--subnet", "10.77.0.0/24", "bench")
names = [f"c{i}" for i in range(1, M + 1)]
for n in names:
    run("run", "-d", "--network", "bench", "--name", n, rootfs, "sleep", "1000000")
run("run", "-d", "--network", "bench", "--name", "client", "-v", f"{dnsbench}:/dnsbench:ro",
    rootfs, "sleep", "1000000")
ips = {n: run("inspect", "-f", "{{.NetworkSettings.Networks.bench.IPAddress}}", n).stdout.strip()
       for n in names}
hosts = os.path.join(work, "hosts")
with open(hosts, "w") as f:
    for n, ip in ips.items():
        f.write(f"{ip} {n}\n")
NAME_ARG = ",".join(names)

SERVERS = {"rrun": "127.0.0.11:53"}
absent = {}
dm = shutil.which("dnsmasq")
if dm:
    p = subprocess.Popen([dm, "--no-daemon", "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}",
                          "--port=5301", "--listen-address=10.77.0.1", "--bind-interfaces",
                          "--user=root", "--pid-file=", "--log-facility=-"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    with open(os.path.join(work, "pids"), "a") as f:
        f.write(f"{p.pid}\n")
    SERVERS["dnsmasq"] = "10.77.0.1:5301"
else:
    absent["dnsmasq"] = "not installed (Debian's dnsmasq-base; BENCH_INSTALL=1 installs it)"


def bench(addr, n, conc):
    r = run("exec", "client", "/dnsbench", addr, NAME_ARG, "-n", str(n), "--conc", str(conc),
            check=False)
    w = r.stdout.split()
    if w[:1] != ["dns"] or len(w) < 7:
        raise RuntimeError(f"dnsbench: exit {r.returncode}: {r.stderr.strip() or r.stdout.strip()}")
    return float(w[1]), float(w[2]), float(w[3]), int(w[5])


# Both answer before measuring (dnsmasq may take a moment to listen).
for s, addr in list(SERVERS.items()):
    deadline = time.time() + 10
    while True:
        try:
            if bench(addr, 5, 1)[3] == 0:
                break
        except RuntimeError as e:
            err = str(e)
        if time.time() > deadline:
            absent[s] = "no answer in 10 s"
            del SERVERS[s]
            break
        time.sleep(0.2)

print(f"Name lookups from a container on a user-defined network: {M} containers' names, "
      f"{N} queries per figure, {ROUNDS} rounds (order alternating); {os.cpu_count()} CPUs")
for s, why in absent.items():
    print(f"absent: {s}: {why}")
res = {s: {k: [] for k in ("r1", "p50_1", "p99_1", "rK", "p50_K", "p99_K")} for s in SERVERS}
fails = {s: 0 for s in SERVERS}
live = list(SERVERS)
for r in range(ROUNDS):
    order = live if r % 2 == 0 else live[::-1]
    for s in order:
        for conc, sfx in ((1, "1"), (CONC, "K")):
            rate, p50, p99, f = bench(SERVERS[s], N, conc)
            res[s][f"r{sfx}"].append(rate)
            res[s][f"p50_{sfx}"].append(p50)
            res[s][f"p99_{sfx}"].append(p99)
            fails[s] += f
    print(f"round {r + 1}/{ROUNDS} done", file=sys.stderr)

FIGS = [("r1", "1 in flight: lookups", "/s", True), ("p50_1", "1 in flight: p50", "us", False),
        ("p99_1", "1 in flight: p99", "us", False), ("rK", f"{CONC} in flight: lookups", "/s", True),
        ("p50_K", f"{CONC} in flight: p50", "us", False), ("p99_K", f"{CONC} in flight: p99", "us", False)]
for key, label, unit, higher in FIGS:
    print(f"\n{label} ({unit}{'' if higher else ', lower is better'})")
    base = statistics.median(res["dnsmasq"][key]) if "dnsmasq" in res else None
    for s in live:
        v = res[s][key]
        m = statistics.median(v)
        ratio = f"{m / base:.2f}x dnsmasq" if base else ""
        print(f"  {s:10s} {m:10.0f}  ({min(v):.0f}-{max(v):.0f})  {ratio}")
for s in live:
    print(f"failed queries, {s}: {fails[s]} of {2 * N * ROUNDS}")

# ------------------------------------------------------------ freshness
TRIES = 20
found = 0
gone = 0
gone_killed = []
for i in range(TRIES):
    n = f"fresh{i}"
    run("run", "-d", "--network", "bench", "--name", n, rootfs, "sleep", "100000")
    # The first query after `rrun run -d` returned.
    if run("exec", "client", "/dnsbench", "127.0.0.11:53", n, "-n", "1",
           check=False).stdout.split()[4:6] == ["failures", "0"]:
        found += 1
    run("stop", "-t", "0", n)
    r = run("exec", "client", "nslookup", n, check=False)
    if "NXDOMAIN" in r.stdout + r.stderr:
        gone += 1
    run("rm", "-f", n)
    # A killed monitor: asked until NXDOMAIN.
    run("run", "-d", "--network", "bench", "--name", n, rootfs, "sleep", "100000")
    st = run("inspect", "-f", "{{.State.Pid}}", n).stdout.strip()
    mon = None
    for line in open(f"/proc/{st}/status"):
        if line.startswith("PPid:"):
            mon = int(line.split()[1])
    t0 = time.monotonic()
    if mon:
        os.kill(mon, 9)
    while time.monotonic() - t0 < 5:
        r = run("exec", "client", "nslookup", n, check=False)
        if "NXDOMAIN" in r.stdout + r.stderr:
            gone_killed.append(time.monotonic() - t0)
            break
    run("rm", "-f", n, check=False)
print(f"\nresolvable at the first query after `run -d` returned: {found}/{TRIES}")
print(f"NXDOMAIN at the first query after `stop` returned: {gone}/{TRIES}")
if gone_killed:
    print(f"monitor SIGKILLed: NXDOMAIN after {statistics.median(gone_killed) * 1000:.0f} ms median, "
          f"{max(gone_killed) * 1000:.0f} ms max ({len(gone_killed)}/{TRIES}; "
          "each try is one `rrun exec nslookup`, so this is an upper bound)")

# ------------------------------------------------------------ start
def timed(args):
    t = time.monotonic()
    run(*args)
    return time.monotonic() - t


user, plain = [], []
for i in range(20):
    pair = [(user, ["run", "--rm", "--network", "bench", "--network-alias", "svc", "-p", "80",
                    rootfs, "true"]),
            (plain, ["run", "--rm", "-p", "80", rootfs, "true"])]
    if i % 2:
        pair.reverse()
    for lst, args in pair:
        lst.append(timed(args))
mu, mp = statistics.median(user), statistics.median(plain)
print(f"\nstart, `run --rm -p 80 ROOTFS true`, 20 each, interleaved: --network bench "
      f"--network-alias svc {mu * 1000:.2f} ms, default bridge {mp * 1000:.2f} ms: {mu / mp:.2f}x")

# ------------------------------------------------------------ memory
def pss(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def ours(p):
    try:
        return (open(f"/proc/{p}/comm").read().strip() == "rrun-dns"
                and f"RRUN_ROOT={E['RRUN_ROOT']}".encode() in open(f"/proc/{p}/environ", "rb").read())
    except OSError:
        return False


res_pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and ours(p)]
vals = [v for v in (pss(p) for p in res_pids) if v]
if vals:
    print(f"resolver memory: {len(vals)} rrun-dns processes, PSS median {statistics.median(vals):.0f} KiB, "
          f"max {max(vals)} KiB")
PY
exit "$rc"
