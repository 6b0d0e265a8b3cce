#!/usr/bin/env bash
# `make bench-dns`: lookups of container names, answered by a DNS server
# from a hosts file, beside dnsmasq answering the same names.
#
# Everything runs in a private network namespace of the bench's own (the
# script re-execs itself under `unshare --net`) on its loopback only; no
# query leaves it. The names: BENCH_DNS_NAMES (default 200) single-label
# names c1, c2, ... in a hosts file (one "IP NAME" line each, 172.18.x.y),
# asked for in turn (type A) by examples/dnsbench.rs, a UDP client built
# here with cargo: each query from a socket connected to the server, timed
# from send to reply; a lookup is a NOERROR reply with an answer.
#
# Servers (the "servers" section below: a label, a command run with HOSTS,
# ADDR and PORT in its environment, and the address it is asked at; each is
# started once, in the background, and killed by its pid at the end):
#   dnsmasq   dnsmasq --no-daemon --no-resolv --no-hosts --addn-hosts=$HOSTS
#             --port=$PORT --listen-address=$ADDR --bind-interfaces
#             (Debian's dnsmasq-base; BENCH_INSTALL=1 installs it), at
#             127.0.0.1:5301;
#   second    DNS_BENCH_SECOND='LABEL=COMMAND' (or the script's first
#             argument in that form): any server that answers the hosts
#             file's names, at 127.0.0.2:5302, e.g.
#             DNS_BENCH_SECOND='rrun=exec "$RRUN" __dns ...' once rrun can
#             start its server alone. Without one, dnsmasq alone is measured.
# A server is used once it answers a probe (a few queries, retried for up to
# 10 s); one that does not is reported absent with the reason.
#
# Figures, BENCH_ROUNDS rounds (default 5), each server measured in every
# round, the order rotated from round to round; medians:
#   1 in flight     BENCH_DNS_N (default 20000) queries one after another:
#                   lookups/s, p50 and p99 latency (us);
#   32 in flight    the same number with BENCH_DNS_CONC (default 32) queries
#                   in flight: lookups/s, p50, p99.
# Each with the second server's ratio to dnsmasq (lookups/s: higher is
# better; latency: lower is), and the failed queries (non-NOERROR, no
# answer, truncated, or no reply in 1 s) of every round.
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (it makes a network namespace of its own)"
for t in python3 unshare ip; do
    command -v $t >/dev/null || die "$t missing (python3, util-linux, iproute2)"
done
triple=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
dnsbench=$top/target/$triple/release/examples/dnsbench
second=${DNS_BENCH_SECOND:-${1:-}}

if [ -z "${RRUN_BENCH_NETNS:-}" ]; then
    # What needs the machine's network happens before the private namespace.
    (cd "$top" && cargo build --release --example dnsbench) || die "building examples/dnsbench failed"
    if ! command -v dnsmasq >/dev/null && [ "${BENCH_INSTALL:-0}" = 1 ]; then
        echo "bench: BENCH_INSTALL=1: apt-get install -y dnsmasq-base" >&2
        export DEBIAN_FRONTEND=noninteractive
        timeout 900 apt-get install -y dnsmasq-base >/dev/null ||
            { timeout 300 apt-get update >/dev/null && timeout 900 apt-get install -y dnsmasq-base >/dev/null; } ||
            echo "bench: apt-get install -y dnsmasq-base failed" >&2
    fi
    exec env RRUN_BENCH_NETNS=1 DNS_BENCH_SECOND="$second" unshare --net -- bash "$0"
fi

# Inside the private network namespace, as root.
[ -x "$dnsbench" ] || die "$dnsbench not built"
ip link set lo up
work=$(mktemp -d /tmp/rrun-bench-dns.XXXXXX) || die "mktemp failed"
: >"$work/pids"

# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
    set +e
    local p
    while read -r p; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; done <"$work/pids"
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rc=0
WORK=$work DNSBENCH=$dnsbench RRUN="${RRUN:-$top/target/release/rrun}" \
    timeout --foreground "${BENCH_TIMEOUT:-3600}" python3 - <<'PY' || rc=$?
"""Lookup rate and latency per server; stdlib only. Runs as root in the namespace."""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

E = os.environ
work, dnsbench = E["WORK"], E["DNSBENCH"]
ROUNDS = int(E.get("BENCH_ROUNDS", "5"))
N = int(E.get("BENCH_DNS_N", "20000"))
CONC = int(E.get("BENCH_DNS_CONC", "32"))
NAMES = int(E.get("BENCH_DNS_NAMES", "200"))

# ------------------------------------------------------------ names
hosts = os.path.join(work, "hosts")
names = [f"c{i}" for i in range(1, NAMES + 1)]
with open(hosts, "w") as f:
    for i, n in enumerate(names):
        f.write(f"172.18.{(i + 2) // 256}.{(i + 2) % 256} {n}\n")
NAME_ARG = ",".join(names)

# ------------------------------------------------------------ servers
# label -> (argv, address asked); argv runs with HOSTS, ADDR, PORT set.
SERVERS = {}
absent = {}
BASE = "dnsmasq"
dnsmasq = shutil.which("dnsmasq")
if dnsmasq:
    SERVERS[BASE] = ([dnsmasq, "--no-daemon", "--no-resolv", "--no-hosts",
                      f"--addn-hosts={hosts}", "--port=5301", "--listen-address=127.0.0.1",
                      "--bind-interfaces", "--user=root", "--pid-file=", "--log-facility=-"],
                     ("127.0.0.1", 5301))
else:
    absent[BASE] = "not installed (Debian's dnsmasq-base; BENCH_INSTALL=1 installs it)"
second = E.get("DNS_BENCH_SECOND", "")
if second:
    label, _, cmd = second.partition("=")
    if not label or not cmd:
        sys.exit(f"bench: DNS_BENCH_SECOND={second!r}: want LABEL=COMMAND")
    SERVERS[label] = (["sh", "-c", cmd], ("127.0.0.2", 5302))

procs = {}


def start(label):
    argv, (addr, port) = SERVERS[label]
    env = dict(E, HOSTS=hosts, ADDR=addr, PORT=str(port))
    log = open(os.path.join(work, f"{label}.log"), "w")
    p = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    with open(os.path.join(work, "pids"), "a") as f:
        f.write(f"{p.pid}\n")
    procs[label] = p
    deadline = time.time() + 10
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"exited with {p.returncode}: {tail(label)}")
        r = subprocess.run([dnsbench, f"{addr}:{port}", NAME_ARG, "-n", "5", "--timeout-ms", "200"],
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.split()[4:6] == ["failures", "0"]:
            return
    raise RuntimeError(f"no answer to a probe in 10 s: {tail(label)}")


def tail(label):
    try:
        with open(os.path.join(work, f"{label}.log")) as f:
            lines = f.read().strip().splitlines()
        return lines[-1] if lines else "(no output)"
    except OSError:
        return "(no log)"


def stop_all():
    for p in procs.values():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


# ------------------------------------------------------------ measurement
FIGS = [  # key, label, unit, higher is better
    ("r1", "1 in flight: lookups", "/s", True),
    ("p50_1", "1 in flight: latency p50", "us", False),
    ("p99_1", "1 in flight: latency p99", "us", False),
    ("rK", f"{CONC} in flight: lookups", "/s", True),
    ("p50_K", f"{CONC} in flight: latency p50", "us", False),
    ("p99_K", f"{CONC} in flight: latency p99", "us", False),
]


def measure(label, conc, sfx):
    _, (addr, port) = SERVERS[label]
    r = subprocess.run([dnsbench, f"{addr}:{port}", NAME_ARG, "-n", str(N), "--conc", str(conc)],
                       capture_output=True, text=True, timeout=600)
    w = r.stdout.split()
    if w[:1] != ["dns"] or len(w) < 7:
        raise RuntimeError(f"dnsbench: exit {r.returncode}: {r.stderr.strip() or r.stdout.strip()}")
    return {f"r{sfx}": float(w[1]), f"p50_{sfx}": float(w[2]), f"p99_{sfx}": float(w[3])}, int(w[5])


try:
    for label in list(SERVERS):
        try:
            start(label)
        except RuntimeError as e:
            absent[label] = str(e)
    live = [s for s in SERVERS if s not in absent]
    print(f"DNS lookups of {NAMES} names from a hosts file, {N} queries per figure, "
          f"{ROUNDS} rounds, servers rotated each round; {os.cpu_count()} CPUs")
    for s in live:
        print(f"server {s}: {' '.join(SERVERS[s][0])}")
    for s, why in absent.items():
        print(f"absent: {s}: {why}")
    sys.stdout.flush()
    res = {k: {s: [] for s in live} for k, *_ in FIGS}
    fails = {s: 0 for s in live}
    errors = []
    for r in range(ROUNDS):
        k = r % len(live) if live else 0
        for s in live[k:] + live[:k]:
            for conc, sfx in ((1, "1"), (CONC, "K")):
                try:
                    v, f = measure(s, conc, sfx)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    errors.append(f"round {r + 1}: {s}, {conc} in flight: {e}")
                    print(f"bench: {errors[-1]}", file=sys.stderr)
                    continue
                fails[s] += f
                for key, x in v.items():
                    res[key][s].append(x)
        print(f"round {r + 1}/{ROUNDS} done", file=sys.stderr)
finally:
    stop_all()

# ------------------------------------------------------------ report
W = 20
for key, label, unit, higher in FIGS:
    print()
    print(f"{label} ({unit}{'' if higher else ', lower is better'})")
    print(f"  {'server':{W}s} {'median':>10s} {'min-max':>17s} {'x dnsmasq':>10s}  n")
    base = statistics.median(res[key][BASE]) if res[key].get(BASE) else None
    for s in live:
        v = res[key][s]
        if not v:
            print(f"  {s:{W}s} {'failed':>10s}")
            continue
        m = statistics.median(v)
        ratio = f"{m / base:.2f}x" if base else "-"
        print(f"  {s:{W}s} {m:10.0f} {f'{min(v):.0f}-{max(v):.0f}':>17s} {ratio:>10s}  {len(v)}")
print()
for s in live:
    print(f"failed queries, {s}: {fails[s]} of {2 * N * ROUNDS}")
for e in errors:
    print(f"failed: {e}")
sys.exit(0 if live and not errors else 1)
PY
exit "$rc"
