#!/usr/bin/env bash
# `make bench-outbound`: how fast containers reach "the outside" (issue 15),
# rootless and as root, beside podman's slirp4netns and pasta alone.
#
# Topology, all of it the bench's own: the script re-execs itself in a
# private network namespace, the "host" H; a second namespace S (held by a
# sleeping process) is "the outside": a veth pair joins them, H's end
# 198.18.0.2/24 with the default route via 198.18.0.1, S's end 198.18.0.1/24.
# S runs `iperf3 -s` (port 5201) and `fwdbench serve 198.18.0.1:7000` (the
# echo server of examples/fwdbench.rs, built here with cargo). Every client
# below talks to 198.18.0.1 and nothing else; nothing is sent anywhere else.
#
# Paths, each a client in its own place, run one after another:
#   host              the client directly in H, as root;
#   root bridge       `rrun run --rm ROOTFS CLIENT` as root: rrun's default
#                     bridge with kernel NAT (an RRUN_ROOT of the bench's own);
#   rootless ...      as the unprivileged $RRUN_TEST_USER (default rrtest),
#                     each in an RRUN_ROOT of its own (own holder, user
#                     namespace, network and pasta): default settings; with
#                     `--mtu 1400` (the MTU rootless networks had before, with
#                     --outbound-bypass=false where rrun has it: the old
#                     default, to show what the MTU buys on pasta's path);
#                     and, when `rrun run --help` lists --outbound-bypass,
#                     with =false and with =true;
#   podman slirp4netns  as the same user, `podman run --rm --network
#                     slirp4netns --rootfs ROOTFS CLIENT` (runc, cgroupfs,
#                     file events; HOME and XDG_RUNTIME_DIR private to the
#                     bench);
#   pasta alone       as the same user, `pasta --config-net ... -- CLIENT`
#                     (Debian's passt, MTU 65520), with the options rrun gives
#                     its own pasta: -t/-u/-T/-U none, --no-map-gw (without it
#                     pasta would take 198.18.0.1, the gateway, for H's
#                     loopback), IPv4 only.
#
# Figures per path, BENCH_ROUNDS rounds (default 5) of BENCH_SECS seconds
# (default 3) per measurement; in each round every figure is measured on
# every path, the paths in an order rotated from round to round; medians:
#   upload      iperf3 -c 198.18.0.1 -t SECS -J, 1 stream: the receiver's rate
#               (and, beside it, the sender's retransmits);
#   download    the same with -R;
#   upload x8   the same with -P 8;
#   RR rate     1-byte request/response on one connection
#               (`fwdbench latency 198.18.0.1:7000 --secs SECS`: n / SECS),
#               with its p50 latency;
#   connect rate  a new connection per 1-byte request, 8 at once
#               (`fwdbench rate 198.18.0.1:7000 --conc 8 --secs SECS`).
# A container path runs one container per measurement; the figures are the
# tools' own (iperf3's and fwdbench's timed intervals), so a container's
# start-up is never in them. Each figure is printed with its ratio to the root
# bridge path, then the goals of issue 15, met or NOT met in this run:
# rootless (default) upload and download >= 0.5x root bridge (>= 0.9x with
# --outbound-bypass=true, when it exists); rootless default >= 2x the better
# of podman-slirp4netns and pasta alone, upload and download; its RR rate and
# connect rate >= pasta alone's. Once, before the rounds, each path's
# interfaces and their MTU (from /sys/class/net inside) and rrun's version.
#
# A peer that is missing or fails its warm-up is reported absent with the
# reason; a measurement that fails in a round is printed and the round goes
# on. podman is used when installed with runc and slirp4netns (crun fails on
# this kernel's cgroup setup); BENCH_INSTALL=1 installs them first
# (apt-get install -y podman runc slirp4netns). RRUN=... and ROOTFS=...
# override target/release/rrun and target/rootfs; both are copied to a temp
# dir (the rootfs, with fwdbench added as /usr/bin/fwdbench, owned by the
# bench user, which rootless podman needs). Every container, network, holder,
# pasta, podman process, server, namespace and temp file the bench made is
# removed at the end, by recorded pid (and a sweep of the two namespaces).
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
rrun_src=${RRUN:-$top/target/release/rrun}
rootfs_src=${ROOTFS:-$top/target/rootfs}
bench_user=${RRUN_TEST_USER:-rrtest}
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (it measures root and, as the unprivileged '$bench_user', rootless paths, in network namespaces of its own)"
id -u "$bench_user" >/dev/null 2>&1 ||
    die "test user '$bench_user' does not exist ('make test' as root creates it with scripts/test-setup.sh; or set RRUN_TEST_USER)"
[ -x "$rrun_src" ] || die "$rrun_src not found; run 'make build' first"
[ -x "$rootfs_src/bin/true" ] || die "no rootfs at $rootfs_src; run 'make rootfs' first"
[ -x "$rootfs_src/usr/bin/iperf3" ] || die "no iperf3 in $rootfs_src; install iperf3 and make -B rootfs"
for t in iperf3 python3 unshare nsenter runuser ip timeout; do
    command -v $t >/dev/null || die "$t missing (iperf3, python3, util-linux, iproute2, coreutils)"
done
triple=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
fwdbench=$top/target/$triple/release/examples/fwdbench

if [ -z "${RRUN_BENCH_NETNS:-}" ]; then
    # What needs the machine's network happens before the private namespace.
    (cd "$top" && cargo build --release --example fwdbench) || die "building examples/fwdbench failed"
    podman_absent=
    pkgs="podman runc slirp4netns"
    if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v slirp4netns >/dev/null; then
        if [ "${BENCH_INSTALL:-0}" = 1 ]; then
            echo "bench: BENCH_INSTALL=1: apt-get install -y $pkgs" >&2
            log=$(mktemp /tmp/rrun-bench-outbound-apt.XXXXXX)
            export DEBIAN_FRONTEND=noninteractive
            # shellcheck disable=SC2086 # the package list splits on purpose
            if ! { timeout 900 apt-get install -y $pkgs ||
                { timeout 300 apt-get update && timeout 900 apt-get install -y $pkgs; }; } >"$log" 2>&1; then
                podman_absent="apt-get install -y $pkgs failed: $(grep -E '^(E|W):' "$log" | tail -n 1)"
            fi
            rm -f "$log"
        else
            missing=
            for t in $pkgs; do command -v "$t" >/dev/null || missing="$missing $t"; done
            podman_absent="not installed:$missing (BENCH_INSTALL=1 installs Debian's $pkgs; crun fails on this kernel's cgroup setup, hence runc)"
        fi
    fi
    exec env RRUN_BENCH_NETNS=1 PODMAN_ABSENT="$podman_absent" unshare --net -- bash "$0" "$@"
fi

# Inside the private network namespace H, as root.
[ -x "$fwdbench" ] || die "$fwdbench not built"
ip link set lo up
# Many short connections leave here (connect rate): reuse TIME_WAIT ports.
sysctl -qw net.ipv4.tcp_tw_reuse=1
netns_h=$(readlink /proc/self/ns/net)
netns_s=

work=$(mktemp -d /tmp/rrun-bench-outbound.XXXXXX) || die "mktemp failed"
chmod 0755 "$work"
u=$work/u                  # everything the bench user writes
xdg=$u/xdg                 # podman's XDG_RUNTIME_DIR
home=$u/home               # podman's HOME (storage, config)
rootstate=$work/rootstate  # RRUN_ROOT of the root bridge path
rrun=$work/rrun
rootfs=$work/rootfs
fwd=$work/fwdbench         # the host's copy, for the host and pasta paths
: >"$work/pids"            # processes the driver started (servers, clients)
srv_holder=
run_as=(runuser -u "$bench_user" -- env -i
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOME="$home" XDG_RUNTIME_DIR="$xdg" LANG=C.UTF-8 USER="$bench_user" LOGNAME="$bench_user")
podman_base=(podman --runtime runc --cgroup-manager=cgroupfs --events-backend=file)

# kill_recorded FILE / kill_holder STATE_DIR
# shellcheck source=scripts/kill-holder.sh
. "$top/scripts/kill-holder.sh"

# Kills every process whose network namespace is $1 (but this shell).
# shellcheck disable=SC2317 # called from the EXIT trap
sweep_netns() {
    local ns=$1 p left=()
    [ -n "$ns" ] || return 0
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] && continue
        [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$ns" ] || continue
        [ "$(cut -d' ' -f4 "/proc/$p/stat" 2>/dev/null)" = $$ ] && continue # this loop's own
        left+=("$p")
    done
    for p in "${left[@]}"; do
        [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$ns" ] || continue
        echo "bench: cleanup: killing leftover $p ($(cat "/proc/$p/comm" 2>/dev/null))" >&2
        kill -KILL "$p" 2>/dev/null
    done
}

# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
    set +e
    local p d ids
    # What the driver started and did not stop (it keeps the list), by pid.
    while read -r p; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; done <"$work/pids"
    if [ -d "$rootstate" ]; then
        ids=$(RRUN_ROOT=$rootstate timeout 20 "$rrun" ps -aq 2>/dev/null)
        # shellcheck disable=SC2086 # one id a word
        [ -n "$ids" ] && RRUN_ROOT=$rootstate timeout 30 "$rrun" rm -f $ids >/dev/null 2>&1
        RRUN_ROOT=$rootstate timeout 20 "$rrun" network rm >/dev/null 2>&1
    fi
    for d in "$u"/rr-*; do
        [ -d "$d" ] || continue
        ids=$(timeout 20 "${run_as[@]}" RRUN_ROOT="$d" "$rrun" ps -aq 2>/dev/null)
        # shellcheck disable=SC2086 # one id a word
        [ -n "$ids" ] && timeout 30 "${run_as[@]}" RRUN_ROOT="$d" "$rrun" rm -f $ids >/dev/null 2>&1
        timeout 20 "${run_as[@]}" RRUN_ROOT="$d" "$rrun" network rm >/dev/null 2>&1
        kill_holder "$d"
    done
    if [ -f "$xdg/libpod/tmp/pause.pid" ] && command -v podman >/dev/null; then
        timeout 30 "${run_as[@]}" "${podman_base[@]}" rm -af -t 0 >/dev/null 2>&1
        local pp
        pp=$(cat "$xdg/libpod/tmp/pause.pid" 2>/dev/null)
        [ -n "$pp" ] && case $(cat "/proc/$pp/comm" 2>/dev/null) in
            catatonit | "podman pause") kill -KILL "$pp" 2>/dev/null ;;
        esac
    fi
    # Anything else still in H or S was started by the bench (conmon,
    # slirp4netns, a pasta, a client killed half-way, the servers).
    sweep_netns "$netns_h"
    sweep_netns "$netns_s"
    [ -n "$srv_holder" ] && kill -KILL "$srv_holder" 2>/dev/null && wait "$srv_holder" 2>/dev/null
    rm -rf --one-file-system -- "$work" 2>/dev/null || echo "bench: could not remove $work" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# S, "the outside": a namespace held by a sleeping process, a veth away.
unshare --net -- sleep 1000000 &
srv_holder=$!
for i in $(seq 200); do
    netns_s=$(readlink "/proc/$srv_holder/ns/net" 2>/dev/null) || die "the holder of S exited"
    [ "$netns_s" != "$netns_h" ] && break
    [ "$i" -eq 200 ] && die "no new network namespace for pid $srv_holder"
    sleep 0.01
done
in_s=(nsenter --net="/proc/$srv_holder/ns/net")
ip link add up0 type veth peer name up1
ip link set up1 netns "$srv_holder"
ip addr add 198.18.0.2/24 dev up0
ip link set up0 up
ip route add default via 198.18.0.1
"${in_s[@]}" sh -ec 'ip link set lo up; ip addr add 198.18.0.1/24 dev up1; ip link set up1 up
    sysctl -qw net.ipv4.tcp_tw_reuse=1'

cp -- "$rrun_src" "$rrun"
chmod 0755 "$rrun"
cp -a -- "$rootfs_src" "$rootfs"
cp -- "$fwdbench" "$rootfs/usr/bin/fwdbench"
cp -- "$fwdbench" "$fwd"
chmod 0755 "$rootfs/usr/bin/fwdbench" "$fwd"
mkdir -m 0700 "$u" "$xdg" "$home" "$rootstate"
chown -R "$bench_user:" "$rootfs" "$u"
# root's python3 may live where the test user cannot reach it (pyenv).
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)

echo "bench: outbound paths to 198.18.0.1 in a namespace of the bench's own (work dir $work)" >&2
rc=0
WORK=$work U=$u RRUN_BIN=$rrun ROOTFS_COPY=$rootfs FWD=$fwd ROOTSTATE=$rootstate \
    SRV_HOLDER=$srv_holder BENCH_USER=$bench_user XDG_DIR=$xdg HOME_DIR=$home \
    PODMAN_ABSENT="${PODMAN_ABSENT:-}" \
    timeout --foreground "${BENCH_TIMEOUT:-7200}" "$py" - <<'PY' || rc=$?
"""Outbound throughput and rates per path; stdlib only. Runs as root in H."""
import json
import os
import platform
import pwd
import shutil
import signal
import statistics
import subprocess
import sys
import time

E = os.environ
work, udir, rrun, rootfs, fwd = E["WORK"], E["U"], E["RRUN_BIN"], E["ROOTFS_COPY"], E["FWD"]
rootstate, holder, user = E["ROOTSTATE"], E["SRV_HOLDER"], E["BENCH_USER"]
ROUNDS = int(E.get("BENCH_ROUNDS", "5"))
SECS = int(E.get("BENCH_SECS", "3"))
SERVER = "198.18.0.1"
IPERF_PORT, ECHO_PORT = 5201, 7000
IN_S = ["nsenter", f"--net=/proc/{holder}/ns/net"]
AS_USER = ["runuser", "-u", user, "--", "env", "-i",
           "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           f"HOME={E['HOME_DIR']}", f"XDG_RUNTIME_DIR={E['XDG_DIR']}", "LANG=C.UTF-8",
           f"USER={user}", f"LOGNAME={user}"]
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs", "--events-backend=file"]
PASTA_OPTS = ["--config-net", "--quiet", "-t", "none", "-u", "none", "-T", "none", "-U", "none",
              "--no-map-gw", "--ipv4-only"]

# ------------------------------------------------------------ processes
# Interrupted: exit quietly (run() takes the running client down first).
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
live_pids = set()


def save_pids():
    with open(f"{work}/pids.new", "w") as f:
        f.write("".join(f"{p}\n" for p in live_pids))
    os.replace(f"{work}/pids.new", f"{work}/pids")


class Fail(Exception):
    pass


def last_line(text):
    lines = [l.strip() for l in text.strip().splitlines()
             if l.strip() and "level=warning" not in l and "syslog" not in l]
    return lines[-1] if lines else ""


def run(argv, timeout):
    """(returncode, stdout, stderr); the whole process group killed on timeout."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    live_pids.add(p.pid)
    save_pids()
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        p.communicate()
        raise Fail(f"timed out after {timeout} s: {' '.join(argv[-6:])}")
    except BaseException:  # interrupted: take the client down with us
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        raise
    finally:
        live_pids.discard(p.pid)
        save_pids()
    return p.returncode, out, err


# ------------------------------------------------------------ the servers, in S
servers = {}


def start_server(name):
    argv = {"iperf3": IN_S + ["iperf3", "-s", "-p", str(IPERF_PORT)],
            "echo": IN_S + [fwd, "serve", f"{SERVER}:{ECHO_PORT}"]}[name]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(f"{work}/{name}.log", "ab"))
    live_pids.add(p.pid)
    save_pids()
    servers[name] = p
    port = IPERF_PORT if name == "iperf3" else ECHO_PORT
    for _ in range(500):
        if p.poll() is not None:
            sys.exit(f"bench: the {name} server in S exited ({p.returncode}): "
                     f"{last_line(open(f'{work}/{name}.log').read())}")
        r = subprocess.run(IN_S + ["grep", "-qE", f":{port:04X} 0+:0000 0A", "/proc/net/tcp",
                                   "/proc/net/tcp6"], stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return
        time.sleep(0.02)
    sys.exit(f"bench: the {name} server in S is not listening after 10 s")


def restart_server(name):
    p = servers.get(name)
    if p is not None:
        p.kill()
        p.wait()
        live_pids.discard(p.pid)
    start_server(name)


start_server("iperf3")
start_server("echo")

# ------------------------------------------------------------ paths
def rrun_help():
    try:
        rc, out, err = run([rrun, "run", "--help"], 20)
        return out + err
    except Fail:
        return ""


bypass = "--outbound-bypass" in rrun_help()
PATHS = {}   # label -> (kind, prefix argv that runs a command, or None)
absent = {}  # label -> why
ROOT = "root bridge (rrun, NAT)"
HOST = "host (no container)"
DEF = "rootless rrun, default"
BYP_F = "rootless rrun, --outbound-bypass=false"
BYP_T = "rootless rrun, --outbound-bypass=true"
MTU1400 = "rootless rrun, --mtu 1400 (old default)"
PODMAN_P = "podman rootless, slirp4netns"
PASTA_P = "pasta alone"
PATHS[HOST] = ("host", [])
PATHS[ROOT] = ("container", ["env", f"RRUN_ROOT={rootstate}", rrun, "run", "--rm", rootfs])
pw = pwd.getpwnam(user)
rootless = [(DEF, "rr-default", [])]
if bypass:
    rootless += [(BYP_F, "rr-bypass-false", ["--outbound-bypass=false"]),
                 (BYP_T, "rr-bypass-true", ["--outbound-bypass=true"])]
# The old default: the host's MTU (1400 on these machines) and every
# connection through pasta; beside --outbound-bypass=false it shows what the
# MTU buys on pasta's path.
rootless.append((MTU1400, "rr-mtu1400",
                 ["--mtu", "1400"] + (["--outbound-bypass=false"] if bypass else [])))
for label, d, opts in rootless:
    root = os.path.join(udir, d)
    os.mkdir(root, 0o700)
    os.chown(root, pw.pw_uid, pw.pw_gid)
    PATHS[label] = ("container", AS_USER + [f"RRUN_ROOT={root}", rrun, "run", "--rm", *opts, rootfs])
PATHS[PODMAN_P] = ("container", AS_USER + PODMAN + ["run", "--rm", "--network", "slirp4netns",
                                                     "--rootfs", rootfs])
if E.get("PODMAN_ABSENT"):
    absent[PODMAN_P] = E["PODMAN_ABSENT"]
PATHS[PASTA_P] = ("pasta", AS_USER + ["pasta", *PASTA_OPTS, "--"])
if not shutil.which("pasta"):
    absent[PASTA_P] = "not installed (Debian's passt package)"


def command(path, argv):
    """argv of a client (iperf3 / fwdbench ...) on a path."""
    kind, prefix = PATHS[path]
    tool, rest = argv[0], argv[1:]
    if kind == "container":
        exe = {"iperf3": "/usr/bin/iperf3", "fwdbench": "/usr/bin/fwdbench", "ip": "/sbin/ip"}[tool]
    else:
        exe = {"iperf3": shutil.which("iperf3"), "fwdbench": fwd, "ip": shutil.which("ip")}[tool]
    return prefix + [exe, *rest]


def iperf(path, extra, secs=SECS):
    args = ["iperf3", "-c", SERVER, "-p", str(IPERF_PORT), "-t", str(secs), "-J",
            "--connect-timeout", "3000", *extra]
    for attempt in range(4):
        try:
            rc, out, err = run(command(path, args), secs + 60)
        except Fail:
            restart_server("iperf3")  # a client killed half-way can leave it stuck
            raise
        try:
            d = json.loads(out[out.index("{"):])
        except ValueError:
            raise Fail(f"iperf3: exit {rc}, no JSON: {last_line(err) or last_line(out)}")
        # The server may still be closing the previous test.
        if "busy" not in d.get("error", "") or attempt == 3:
            break
        time.sleep(1)
    if "error" in d:
        raise Fail(f"iperf3: {d['error']}")
    try:
        return d["end"]["sum_received"]["bits_per_second"] / 1e9, d["end"]["sum_sent"].get("retransmits")
    except (KeyError, TypeError, AttributeError):
        raise Fail("iperf3: no end.sum_received in its JSON")


def fwdbench(path, args):
    rc, out, err = run(command(path, ["fwdbench", *args]), SECS + 60)
    if rc != 0:
        raise Fail(f"fwdbench {args[0]}: exit {rc}: {last_line(err)}")
    return out.split()


notes = []


def m_rr(path):
    out = fwdbench(path, ["latency", f"{SERVER}:{ECHO_PORT}", "--secs", str(SECS)])
    if out[:1] != ["latency"] or len(out) < 5:
        raise Fail(f"fwdbench latency printed {' '.join(out)!r}")
    return {"rr": int(out[4]) / SECS, "p50": float(out[1])}


def m_conn(path):
    out = fwdbench(path, ["rate", f"{SERVER}:{ECHO_PORT}", "--conc", "8", "--secs", str(SECS)])
    if out[:1] != ["rate"] or len(out) < 4:
        raise Fail(f"fwdbench rate printed {' '.join(out)!r}")
    if out[3] != "0":
        notes.append(f"connect rate via {path}: {out[3]} failed requests in a round")
    return float(out[1])


FIGS = [  # key, label, unit, format, higher is better
    ("up", "TCP upload, 1 stream", "Gbit/s", "{:.2f}", True),
    ("retr", "TCP upload, 1 stream: the sender's retransmits per test", "segments", "{:.0f}", False),
    ("down", "TCP download, 1 stream (-R)", "Gbit/s", "{:.2f}", True),
    ("up8", "TCP upload, 8 streams (-P 8)", "Gbit/s", "{:.2f}", True),
    ("rr", "request/response, 1 byte, 1 connection", "req/s", "{:.0f}", True),
    ("p50", "request/response latency p50", "us", "{:.1f}", False),
    ("conn", "connect rate, a connection per request, 8 at once", "conn/s", "{:.0f}", True),
]
def m_up(path):
    g, retr = iperf(path, [])
    return {"up": g, "retr": retr} if retr is not None else g


STEPS = [("up", m_up), ("down", lambda p: iperf(p, ["-R"])[0]),
         ("up8", lambda p: iperf(p, ["-P", "8"])[0]), ("rr", m_rr), ("conn", m_conn)]
STEP_OF = {"p50": "rr", "retr": "up"}  # figures measured by another's step

# ------------------------------------------------------------ versions, warm-up, MTUs
def first_line(argv):
    try:
        rc, out, err = run(argv, 20)
        return (out.strip() or err.strip()).splitlines()[0] if (out.strip() or err.strip()) else "?"
    except (Fail, OSError):
        return "?"


rc, out, _ = run([rrun, "version"], 20)
commit = next((l.split(":", 1)[1].strip() for l in out.splitlines() if "Git commit" in l), "?")
print(f"outbound paths, {os.cpu_count()} CPUs, Linux {platform.release()}; "
      f"{ROUNDS} rounds of {SECS} s per figure, paths rotated each round")
print(f"rrun: {out.splitlines()[0] if out else '?'} (commit {commit})"
      f"; --outbound-bypass {'listed by rrun run --help' if bypass else 'not listed by rrun run --help: those paths left out'}")
print(f"peers: {first_line(['podman', '--version']) if shutil.which('podman') else 'podman absent'}; "
      f"{first_line(['slirp4netns', '--version']) if shutil.which('slirp4netns') else 'slirp4netns absent'}; "
      f"pasta {shutil.which('pasta') or 'absent'}; {first_line(['iperf3', '--version'])}")
mtus = {}
for path in PATHS:
    if path in absent:
        continue
    try:
        rc, out, err = run(command(path, ["ip", "link"]), 120)
        if rc != 0:
            raise Fail(f"exit {rc}: {last_line(err) or last_line(out)}")
        mtus[path] = " ".join(f"{w[1].split('@')[0].rstrip(':')}={w[w.index('mtu') + 1]}"
                              for w in (l.split() for l in out.splitlines())
                              if len(w) > 4 and w[0].endswith(":") and "mtu" in w[:-1]
                              and not w[1].startswith("lo:"))
        iperf(path, [], 1)  # warm-up: first runs, caches, the server
    except Fail as e:
        absent[path] = f"fails in warm-up: {e}"
# (not /sys/class/net: it shows the namespace sysfs was mounted in, the
# machine's on the host and pasta paths)
print("interfaces (name=MTU, from ip link) seen on each path:")
for path in PATHS:
    print(f"  {path:42s} {mtus.get(path, '-')}")
live = [p for p in PATHS if p not in absent]
for p, why in absent.items():
    print(f"absent: {p}: {why}")
sys.stdout.flush()

# ------------------------------------------------------------ rounds
res = {k: {p: [] for p in PATHS} for k, *_ in FIGS}
fails = {}
t0 = time.time()
for r in range(ROUNDS):
    k = r % len(live) if live else 0
    order = live[k:] + live[:k]
    for key, f in STEPS:
        for path in order:
            try:
                v = f(path)
            except Fail as e:
                fails.setdefault((key, path), []).append(str(e))
                print(f"bench: round {r + 1}: {key} via {path}: {e}", file=sys.stderr)
                continue
            for k2, x in (v if isinstance(v, dict) else {key: v}).items():
                res[k2][path].append(x)
    print(f"round {r + 1}/{ROUNDS} done ({time.time() - t0:.0f} s)", file=sys.stderr)

# ------------------------------------------------------------ report
med = {k: {p: statistics.median(v) for p, v in d.items() if v} for k, d in res.items()}
W = 42
for key, label, unit, fmt, higher in FIGS:
    print()
    print(f"{label} ({unit}{'' if higher else ', lower is better'})")
    print(f"  {'path':{W}s} {'median':>10s} {'min-max':>21s} {'x root bridge':>14s}  n")
    base = med[key].get(ROOT)
    for path in PATHS:
        if path in absent:
            print(f"  {path:{W}s} {'absent':>10s}")
            continue
        v = res[key][path]
        if not v:
            why = fails.get((STEP_OF.get(key, key), path), ["not measured"])[0]
            print(f"  {path:{W}s} {'failed':>10s}  {why}")
            continue
        m = med[key][path]
        span = f"{fmt.format(min(v))}-{fmt.format(max(v))}"
        ratio = f"{m / base:.2f}x" if base else "-"
        if key == "retr":
            ratio = ""
        nf = len(fails.get((STEP_OF.get(key, key), path), []))
        extra = f"  ({nf} failed)" if nf else ""
        print(f"  {path:{W}s} {fmt.format(m):>10s} {span:>21s} {ratio:>14s}  {len(v)}{extra}")
for (k, p), errs in fails.items():
    print(f"failed: {k} via {p} ({len(errs)}x): {errs[0]}")
for n in dict.fromkeys(notes):
    print(f"note: {n}")

print()
print("goals (issue 15), from this run's medians:")


def goal(text, a, b, factor, what_b):
    x, y = med_of(a), med_of(b)
    if x is None or y is None:
        print(f"  NOT met  {text}: not measured ({what_b if x is not None else a[0]} has no figure)")
        return
    ok = x >= factor * y
    print(f"  {'met    ' if ok else 'NOT met'}  {text}: {x / y:.2f}x ({num(x)} vs {num(y)} {what_b})")


def num(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


def med_of(spec):
    key, path = spec[1], spec[0]
    if isinstance(path, tuple):  # the better of several
        vs = [med[key][p] for p in path if p in med[key]]
        return max(vs) if vs else None
    return med[key].get(path)


for key, name in (("up", "upload"), ("down", "download")):
    goal(f"rootless default {name} >= 0.5x root bridge", (DEF, key), (ROOT, key), 0.5, "root bridge")
for key, name in (("up", "upload"), ("down", "download")):
    if bypass:
        goal(f"rootless bypass=true {name} >= 0.9x root bridge", (BYP_T, key), (ROOT, key), 0.9,
             "root bridge")
    else:
        print(f"  n/a      rootless bypass {name} >= 0.9x root bridge: rrun has no --outbound-bypass")
peers = tuple(p for p in (PODMAN_P, PASTA_P) if p in live)


def better(paths, key):
    got = [p for p in paths if p in med[key]]
    return max(got, key=lambda p: med[key][p]) if got else "neither peer"

for key, name in (("up", "upload"), ("down", "download")):
    if peers:
        goal(f"rootless default {name} >= 2x the better of podman-slirp4netns and pasta alone",
             (DEF, key), (peers, key), 2.0, better(peers, key))
    else:
        print(f"  NOT met  rootless default {name} >= 2x podman/pasta: neither peer ran")
for key, name in (("rr", "RR rate"), ("conn", "connect rate")):
    if PASTA_P in live:
        goal(f"rootless default {name} >= pasta alone's", (DEF, key), (PASTA_P, key), 1.0,
             "pasta alone")
    else:
        print(f"  NOT met  rootless default {name} >= pasta alone's: pasta absent ({absent.get(PASTA_P)})")
sys.exit(0 if med["up"].get(ROOT) and med["up"].get(DEF) else 1)
PY
exit "$rc"
