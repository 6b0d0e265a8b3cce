#!/usr/bin/env bash
# `make bench-forward`: published ports served in userspace (issue 5), as root
# in a network namespace of its own: traffic only crosses its loopback, rrun's
# bridge and namespaces made here; nothing is sent anywhere else.
#
# One container runs `fwdbench serve` (echo, port 7000; examples/fwdbench.rs,
# copied into a copy of the rootfs) and `iperf3 -s` (5201), reached by:
#   (a) direct      its address, from this namespace;
#   (b) rrun        rrun's forwarder (network made with --iptables=false),
#                   127.0.0.1:17000 and :15201 tcp+udp;
#   (c) docker-proxy  from Debian's docker.io package (apt-get download, never
#                   installed; kept in target/peers), run standalone, one
#                   process per port: 27000, 25201 tcp, 25201 udp;
#   (d) pasta       `pasta -t/-u` into the container's namespace, 7000 and
#                   5201 on both sides (Debian 12's pasta relays no UDP reply
#                   when the two port numbers differ);
#   (e) socat       TCP-LISTEN:P,fork,reuseaddr (and UDP-LISTEN), 11000, 11201.
#   (f) source kept  (issue 8) from a client namespace, the "neighbour", a
#                   veth away from two private host namespaces of their own,
#                   each with an rrun network (--iptables=false, state dir of
#                   its own) and a container like srv published on its veth
#                   address, 10.203.N.1:17000 and :15201 tcp:
#                     kept     default settings: the forwarder connects from
#                              the client's own address (10.203.0.2);
#                     gateway  --userland-proxy-source=gateway: from the
#                              gateway's (the behaviour before issue 8).
#                   Loopback clients, as in (b), always take the gateway path.
# Every listening port is below the ephemeral range (32768-), where the
# clients' many TIME_WAIT sockets would be in the way.
# A peer that is missing or fails to start is reported absent, with the reason.
#
# Figures, paths interleaved in BENCH_ROUNDS rounds (default 5) of BENCH_SECS
# (default 3) seconds each, medians: iperf3 TCP with 1 and 8 streams; new
# connections/s (a connection per 1-byte request, 8 concurrent); 1-byte
# ping-pong latency p50/p99 on one connection; iperf3 UDP (1400-byte
# datagrams) unlimited (received rate, loss) and at BENCH_UDP_RATE (default
# 1G, loss). Then, once, the relay's memory with 1 and with 100 published ports
# (idle) and with BENCH_IDLE (default 10000) idle connections, each checked to
# echo a token of its own when opened, once all are open, and again after the
# reading. Memory is VmRSS of the relay's process, or the sum of PSS where the
# relay is many processes (docker-proxy per port, socat per connection).
# Every figure is printed with its ratio to (a). (f), in the same rounds: TCP
# with 1 stream, new connections/s and p50 latency, kept and gateway
# alternating first, each with the ratio kept/gateway; and once, the address
# each container's server sees (`fwdbench peer`): kept must see the
# neighbour's address and port, gateway the gateway's address.
#
# Goals (issue 5), for rrun: bulk >= 0.90x direct and >= 1.1x docker-proxy;
# new connections/s >= 0.90x direct and >= 1.2x docker-proxy; p50 latency
# added <= 50 us; RSS <= 4 MiB with 100 published ports; 10,000 concurrent
# connections held and echoing with RSS <= 64 MiB. Issue 8: source kept >=
# 0.95x gateway source, bulk 1 stream and new connections/s.
# BENCH_SOURCE_ONLY=1 measures (f) alone (no other path, no memory figures).
#
# A relay holds two descriptors per connection: 10,000 need a RLIMIT_NOFILE
# above 20,000. The bench raises it to BENCH_NOFILE (default 1048576) where it
# may (CAP_SYS_RESOURCE); where it may not, it measures as many connections as
# the hard limit allows and says so. RRUN=..., ROOTFS=... override
# target/release/rrun and target/rootfs.
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
rrun=${RRUN:-$top/target/release/rrun}
rootfs=${ROOTFS:-$top/target/rootfs}
peers=$top/target/peers
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (bridge networking is root's for now)"
[ -x "$rrun" ] || die "$rrun not found; make build"
[ -x "$rootfs/bin/busybox" ] || die "no rootfs at $rootfs; make rootfs"
[ -x "$rootfs/usr/bin/iperf3" ] || die "no iperf3 in $rootfs; install iperf3 and make -B rootfs"
command -v iperf3 >/dev/null || die "iperf3 missing (apt-get install iperf3)"
command -v python3 >/dev/null || die "python3 missing"
for t in unshare nsenter setpriv ip; do command -v $t >/dev/null || die "$t missing (util-linux, iproute2)"; done
triple=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
fwdbench=$top/target/$triple/release/examples/fwdbench

if [ -z "${RRUN_BENCH_NETNS:-}" ]; then
    # What needs the machine's network happens before the private namespace.
    (cd "$top" && cargo build --release --example fwdbench) || die "building examples/fwdbench failed"
    dp_absent=
    if [ ! -x "$peers/docker.io/usr/sbin/docker-proxy" ]; then
        mkdir -p "$peers/dl"
        if (cd "$peers/dl" && rm -f docker.io_*.deb &&
            { apt-get download docker.io || { apt-get update && apt-get download docker.io; }; } &&
            rm -rf ../docker.io.tmp && dpkg-deb -x docker.io_*.deb ../docker.io.tmp) >"$peers/download.log" 2>&1 &&
            [ -x "$peers/docker.io.tmp/usr/sbin/docker-proxy" ]; then
            rm -rf "$peers/docker.io" && mv "$peers/docker.io.tmp" "$peers/docker.io"
            rm -rf "$peers/dl"
        else
            dp_absent="apt-get download docker.io failed or has no usr/sbin/docker-proxy: $(grep -E '^(E|W):' "$peers/download.log" | tail -1)"
        fi
    fi
    exec env RRUN_BENCH_NETNS=1 DP_ABSENT="$dp_absent" unshare --net -- bash "$0" "$@"
fi

[ -x "$fwdbench" ] || die "$fwdbench not built"
ip link set lo up
# Many short connections from here: reuse TIME_WAIT ports (this namespace only).
sysctl -qw net.ipv4.tcp_tw_reuse=1
nofile=${BENCH_NOFILE:-1048576}
ulimit -Hn "$nofile" 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)"
tmp=$(mktemp -d /tmp/rrun-bench-forward.XXXXXX)
export RRUN_ROOT=$tmp/state
mkdir -m 700 "$RRUN_ROOT"
: >"$tmp/pids"
holders=()     # pids of the sleeping processes that hold namespaces made here
src_hosts=()   # (f)'s host namespaces: NAME,HOLDER_PID,HOST_ADDRESS
# rrun in (f)'s host namespace NAME (holder pid H), with its own state.
rrun_in() { local name=$1 h=$2; shift 2; nsenter --net="/proc/$h/ns/net" env RRUN_ROOT="$tmp/state-$name" "$rrun" "$@"; }
cleanup() {
    # Whatever the measuring script started and did not stop (it keeps the
    # list), by pid.
    local p x name h
    while read -r p; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done <"$tmp/pids" || true
    "$rrun" rm -f srv p1 p100 >/dev/null 2>&1 || true
    "$rrun" network rm >/dev/null 2>&1 || true
    for x in "${src_hosts[@]}"; do
        IFS=, read -r name h _ <<<"$x"
        if kill -0 "$h" 2>/dev/null; then
            rrun_in "$name" "$h" rm -f nbsrv >/dev/null 2>&1 || true
            rrun_in "$name" "$h" network rm >/dev/null 2>&1 || true
        fi
    done
    for p in "${holders[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
# A sleeping process in a new network namespace (its loopback up): ns_pid.
new_ns() {
    unshare --net -- sleep 1000000 &
    ns_pid=$!
    holders+=("$ns_pid")
    local i
    for i in $(seq 200); do
        [ "$(readlink "/proc/$ns_pid/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
        [ "$i" -eq 200 ] && die "no new network namespace for pid $ns_pid"
        sleep 0.01
    done
    nsenter --net="/proc/$ns_pid/ns/net" ip link set lo up
}

# pasta wants a routable interface here: a veth whose far end sits in a
# namespace of its own that forwards nothing, with a default route over it.
new_ns
sink_pid=$ns_pid
ip link add fwup0 type veth peer name fwup1
ip link set fwup1 netns "$sink_pid"
ip addr add 10.254.0.2/24 dev fwup0
ip link set fwup0 up
ip route add default via 10.254.0.1
nsenter -t "$sink_pid" -n ip link set fwup1 up

cp -a "$rootfs" "$tmp/rootfs"
cp "$fwdbench" "$tmp/rootfs/usr/bin/fwdbench"
run() { "$rrun" --iptables=false -d "$@" >/dev/null; }
run --name srv -p 127.0.0.1:17000:7000 -p 127.0.0.1:15201:5201 -p 127.0.0.1:15201:5201/udp \
    "$tmp/rootfs" sh -c 'fwdbench serve 0.0.0.0:7000 & exec iperf3 -s -p 5201'
run --name p1 -p 127.0.0.1:18000:80 "$tmp/rootfs" sleep 1000000
run --name p100 -p 127.0.0.1:18100-18199:1000-1099 "$tmp/rootfs" sleep 1000000
info() { "$rrun" inspect -f '{{.NetworkSettings.IPAddress}} {{.State.Pid}}' "$1"; }
read -r srv_ip srv_pid < <(info srv)
read -r p1_ip p1_pid < <(info p1)
read -r p100_ip p100_pid < <(info p100)

# (f): the neighbour, and a host namespace per setting, veth 10.203.N.1 (host)
# <-> 10.203.N.2 (neighbour), tcp_tw_reuse like here, where clients and
# relays alike leave many TIME_WAIT sockets.
new_ns
nb_pid=$ns_pid
nsenter --net="/proc/$nb_pid/ns/net" sysctl -qw net.ipv4.tcp_tw_reuse=1
src_host() {  # NAME N [rrun network options...]
    local name=$1 n=$2 h
    shift 2
    new_ns
    h=$ns_pid
    ip link add "h$name" type veth peer name "n$name"
    ip link set "h$name" netns "$h"
    ip link set "n$name" netns "$nb_pid"
    nsenter --net="/proc/$h/ns/net" sh -ec "ip addr add 10.203.$n.1/24 dev h$name; ip link set h$name up
        sysctl -qw net.ipv4.tcp_tw_reuse=1"
    nsenter --net="/proc/$nb_pid/ns/net" sh -ec "ip addr add 10.203.$n.2/24 dev n$name; ip link set n$name up"
    mkdir -m 700 "$tmp/state-$name"
    src_hosts+=("$name,$h,10.203.$n.1")
    rrun_in "$name" "$h" --iptables=false "$@" -d --name nbsrv \
        -p "10.203.$n.1:17000:7000" -p "10.203.$n.1:15201:5201" \
        "$tmp/rootfs" sh -c 'fwdbench serve 0.0.0.0:7000 & exec iperf3 -s -p 5201' >/dev/null
}
src_host kept 0
src_host gateway 1 --userland-proxy-source=gateway

TMP=$tmp FWDBENCH=$fwdbench DP=$peers/docker.io/usr/sbin/docker-proxy RRUN_BIN=$rrun \
SRV=$srv_ip,$srv_pid P1=$p1_ip,$p1_pid P100=$p100_ip,$p100_pid \
NB_PID=$nb_pid SRC_HOSTS="${src_hosts[*]}" python3 - <<'PY'
import json, os, signal, socket, statistics, subprocess, sys, threading, time

E = os.environ
tmp, fwdbench = E["TMP"], E["FWDBENCH"]
rounds, secs = int(E.get("BENCH_ROUNDS", "5")), int(E.get("BENCH_SECS", "3"))
udp_rate, idle_want = E.get("BENCH_UDP_RATE", "1G"), int(E.get("BENCH_IDLE", "10000"))
def pair(k):
    ip, pid = E[k].split(","); return ip, int(pid)
(srv_ip, srv_pid), (p1_ip, p1_pid), (p100_ip, p100_pid) = pair("SRV"), pair("P1"), pair("P100")
DEVNULL = subprocess.DEVNULL
PATHS = ["direct", "rrun", "docker-proxy", "pasta", "socat"]
# (f), issue 8: path -> (holder of its host namespace, the host's address)
source_only = E.get("BENCH_SOURCE_ONLY", "") not in ("", "0")
SRC = {}
for x in E["SRC_HOSTS"].split():
    name, h, ip = x.split(",")
    SRC[name] = (h, ip)
SRC_PATHS = list(SRC)  # kept, gateway
IN_NB = ["nsenter", f"--net=/proc/{E['NB_PID']}/ns/net"]  # run a client in the neighbour
absent = {}   # path -> why
notes = []    # footnotes

# ------------------------------------------------------------ processes
procs = {}
def save_pids():
    with open(f"{tmp}/pids.new", "w") as f:
        f.write("".join(f"{p}\n" for p in procs))
    os.replace(f"{tmp}/pids.new", f"{tmp}/pids")
def start(args, log=None, **kw):
    out = open(log, "ab") if log else DEVNULL
    p = subprocess.Popen(args, stdin=DEVNULL, stdout=out, stderr=out, **kw)
    procs[p.pid] = p
    save_pids()
    return p
def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    comm = s[s.index("(") + 1:s.rindex(")")]
    return comm, int(s[s.rindex(")") + 2:].split()[1])
def kids():
    """Parent pid -> its children, from one pass over /proc."""
    m = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                m.setdefault(stat(d)[1], []).append(int(d))
            except (OSError, ValueError):
                pass
    return m
def children(pid):
    return kids().get(pid, [])
def descendants(pid):
    m, out, todo = kids(), [], [pid]
    while todo:
        c = m.get(todo.pop(), [])
        out += c; todo += c
    return out
def stop(p):
    if p is None or p.pid not in procs:
        return
    for d in descendants(p.pid):
        try: os.kill(d, signal.SIGKILL)
        except OSError: pass
    p.terminate()
    try: p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()
    del procs[p.pid]
    save_pids()
def stop_all():
    for p in list(procs.values()):
        stop(p)

def listening(proto, port):
    want = f"0100007F:{port:04X}"
    with open(f"/proc/net/{proto}") as f:
        for line in f.readlines()[1:]:
            x = line.split()
            if x[1] == want and (proto == "udp" or x[3] == "0A"):
                return True
    return False
def wait_until(cond, p, what, secs=10):
    end = time.time() + secs
    while time.time() < end:
        if cond():
            return
        if p is not None and p.poll() is not None:
            raise RuntimeError(f"{what} exited ({p.returncode})")
        time.sleep(0.02)
    raise RuntimeError(f"{what} not ready after {secs} s")
logs = 0
def next_log(name):
    global logs
    logs += 1
    return f"{tmp}/{name}.{logs}.log"
def log_tail(log):
    try:
        lines = [l for l in open(log, errors="replace").read().splitlines()
                 if l.strip() and "syslog" not in l]
        return lines[-1] if lines else "no message"
    except OSError:
        return "no log"

def connectable(addr):
    try:
        socket.create_connection(addr, timeout=1).close(); return True
    except OSError:
        return False
wait_until(lambda: connectable((srv_ip, 7000)) and connectable((srv_ip, 5201)), None,
           "the container's servers", 20)

# ------------------------------------------------------------ relays
def rrun_forwarder(container_pid, port):
    """The forwarder of the container, started at the first client of any of
    its ports: one connection to 127.0.0.1:port (closed at once) wakes it."""
    mon = stat(container_pid)[1]
    def forwarders():
        return [c for c in children(mon) if stat(c)[0] == "rrun-forward"]
    if not forwarders():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError as e:
            raise RuntimeError(f"connecting to 127.0.0.1:{port} to start the forwarder: {e}")
        try:
            wait_until(lambda: forwarders(), None, "rrun's forwarder")
        except RuntimeError:
            pass
    f = forwarders()
    if len(f) != 1:
        raise RuntimeError(f"no single rrun-forward child of the monitor {mon}: {f}")
    return f[0]

DP = E["DP"]
def docker_proxy(proto, hport, cip, cport):
    ready, log = f"{tmp}/dp.{proto}.{hport}", f"{tmp}/docker-proxy.log"
    p = start(["sh", "-c", 'exec "$0" "$@" 3>"$READY"', DP, "-proto", proto,
               "-host-ip", "127.0.0.1", "-host-port", str(hport),
               "-container-ip", cip, "-container-port", str(cport)],
              log=log, env={**E, "READY": ready})
    def ok():
        try: s = open(ready).read()
        except OSError: return False
        if s.startswith("1"):
            raise RuntimeError(f"docker-proxy: {s[2:].strip()}")
        return s.startswith("0")
    wait_until(ok, p, "docker-proxy")
    return p

def pasta(ns_pid, tcp, udp):
    """pasta -t/-u from here into ns_pid's network namespace. pasta opens the
    namespace after dropping capabilities, which ptrace's access check refuses
    for a container's process: it goes through a helper without any."""
    helper = start(["nsenter", f"--net=/proc/{ns_pid}/ns/net", "setpriv", "--bounding-set=-all",
                    "--inh-caps=-all", "sleep", "1000000"])
    want = os.readlink(f"/proc/{ns_pid}/ns/net")
    def entered():
        try: return (os.readlink(f"/proc/{helper.pid}/ns/net") == want
                     and stat(helper.pid)[0] == "sleep")
        except OSError: return False
    wait_until(entered, helper, "the namespace helper")
    log = next_log("pasta")
    args = ["pasta", "-f", "-q", "--runas", "0", "-4", "--netns", f"/proc/{helper.pid}/ns/net",
            "-T", "none", "-U", "none"]
    for s in tcp: args += ["-t", s]
    for s in udp or ["none"]: args += ["-u", s]
    p = start(args, log=log)
    p.helper = helper
    port = int(tcp[0].split("/")[1].split("-")[0].split(":")[0])
    try:
        wait_until(lambda: listening("tcp", port), p, "pasta")
    except RuntimeError as e:
        stop(p); stop(helper)
        raise RuntimeError(f"{e}: {log_tail(log)}")
    return p
def stop_pasta(p):
    stop(p); stop(p.helper)

def socat(proto, hport, cip, cport):
    L, C = ("TCP-LISTEN", "TCP") if proto == "tcp" else ("UDP-LISTEN", "UDP")
    log = next_log("socat")
    p = start(["socat", f"{L}:{hport},bind=127.0.0.1,fork,reuseaddr", f"{C}:{cip}:{cport}"], log=log)
    try:
        wait_until(lambda: listening(proto, hport), p, "socat")
    except RuntimeError as e:
        stop(p)
        raise RuntimeError(f"{e}: {log_tail(log)}")
    return p

# The relays of the container's ports, for the whole run.
addr = {"direct": (srv_ip, 7000, 5201), "rrun": ("127.0.0.1", 17000, 15201),
        "docker-proxy": ("127.0.0.1", 27000, 25201), "pasta": ("127.0.0.1", 7000, 5201),
        "socat": ("127.0.0.1", 11000, 11201)}
relay = {}  # path -> pids of the echo port's relay
relay_proc = {}  # path -> its Popen, where it is one process we started
for name, (h, ip) in SRC.items():
    addr[name] = (ip, 17000, 15201)
if source_only:
    for p in PATHS:
        absent[p] = "BENCH_SOURCE_ONLY"
try:
    if source_only:
        raise RuntimeError(absent["rrun"])
    relay["rrun"] = lambda: [rrun_forwarder(srv_pid, 17000)]
    relay["rrun"]()
except RuntimeError as e:
    absent["rrun"] = str(e)
if source_only:
    pass
elif E.get("DP_ABSENT"):
    absent["docker-proxy"] = E["DP_ABSENT"]
elif not os.access(DP, os.X_OK):
    absent["docker-proxy"] = f"{DP} missing"
else:
    try:
        dp_echo = docker_proxy("tcp", 27000, srv_ip, 7000)
        docker_proxy("tcp", 25201, srv_ip, 5201); docker_proxy("udp", 25201, srv_ip, 5201)
        relay["docker-proxy"] = lambda: [dp_echo.pid]
        relay_proc["docker-proxy"] = dp_echo
    except RuntimeError as e:
        absent["docker-proxy"] = str(e)
if source_only:
    pass
elif not os.access("/usr/bin/pasta", os.X_OK):
    absent["pasta"] = "not installed (/usr/bin/pasta; Debian's passt package)"
else:
    try:
        pa = pasta(srv_pid, ["127.0.0.1/7000", "127.0.0.1/5201"], ["127.0.0.1/5201"])
        relay["pasta"] = lambda: [pa.pid]
        relay_proc["pasta"] = pa
    except RuntimeError as e:
        absent["pasta"] = str(e)
if source_only:
    pass
elif subprocess.run(["sh", "-c", "command -v socat"], stdout=DEVNULL).returncode:
    absent["socat"] = "not installed (Debian's socat package)"
else:
    try:
        so_echo = socat("tcp", 11000, srv_ip, 7000)
        socat("tcp", 11201, srv_ip, 5201); socat("udp", 11201, srv_ip, 5201)
        relay["socat"] = lambda: [so_echo.pid] + descendants(so_echo.pid)
        relay_proc["socat"] = so_echo
    except RuntimeError as e:
        absent["socat"] = str(e)
live = [p for p in PATHS if p not in absent]

# (f): each container's server answers once; kept is to see the neighbour's
# own address and port, gateway its network's gateway. The first answer also
# says the server is up.
def peer(pre, host, port):
    r = subprocess.run([*pre, fwdbench, "peer", f"{host}:{port}"], capture_output=True,
                       text=True, timeout=30)
    out = r.stdout.split()
    if r.returncode or len(out) != 4:
        raise RuntimeError((r.stderr.strip().splitlines() or ["no answer"])[-1])
    return out[1], out[3]  # seen, own
def net_inspect(name=None):
    args = ["network", "inspect"]
    if name is None:
        r = subprocess.run([E["RRUN_BIN"], *args], capture_output=True, text=True)
    else:
        r = subprocess.run(["nsenter", f"--net=/proc/{SRC[name][0]}/ns/net", "env",
                            f"RRUN_ROOT={tmp}/state-{name}", E["RRUN_BIN"], *args],
                           capture_output=True, text=True)
    try:
        return json.loads(r.stdout)[0]
    except (ValueError, IndexError):
        return {}
seen = {}  # path -> (what the server saw, the client's own address, the gateway)
for name in SRC_PATHS:
    end, err = time.time() + 20, ""
    while time.time() < end:
        try:
            seen[name] = (*peer(IN_NB, addr[name][0], 17000), net_inspect(name))
            break
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            err = str(e)
            time.sleep(0.1)
    else:
        absent[name] = f"its server did not answer from the neighbour: {err}"
try:
    seen["loopback"] = (*peer([], "127.0.0.1", 17000), net_inspect())
except (RuntimeError, subprocess.TimeoutExpired) as e:
    notes.append(f"peer via 127.0.0.1:17000: {e}")
src_live = [p for p in SRC_PATHS if p not in absent]

# ------------------------------------------------------------ measuring
class Fail(Exception):
    pass
def iperf(host, port, streams=1, udp=None, pre=()):
    args = [*pre, "iperf3", "-c", host, "-p", str(port), "-t", str(secs), "-J", "--connect-timeout", "3000"]
    if streams > 1: args += ["-P", str(streams)]
    if udp is not None: args += ["-u", "-b", udp, "-l", "1400"]
    for attempt in range(4):
        try:
            r = subprocess.run(args, capture_output=True, text=True, timeout=secs + 30)
            d = json.loads(r.stdout)
        except (subprocess.TimeoutExpired, ValueError) as e:
            raise Fail(f"iperf3: {e}")
        # The server may still be closing the previous test.
        if "busy" not in d.get("error", "") or attempt == 3:
            break
        time.sleep(1)
    if "error" in d: raise Fail(f"iperf3: {d['error']}")
    s = d["end"]["sum_received"]
    return (s["bits_per_second"] / 1e9, s["lost_percent"]) if udp else s["bits_per_second"] / 1e9
def tool(*args, pre=()):
    try:
        r = subprocess.run([*pre, fwdbench, *map(str, args)], capture_output=True, text=True, timeout=secs + 60)
    except subprocess.TimeoutExpired:
        raise Fail(f"fwdbench {args[0]}: timed out")
    if r.returncode:
        raise Fail(f"fwdbench {args[0]}: {r.stderr.strip().splitlines()[-1:]}")
    if r.stderr.strip():
        notes.append(r.stderr.strip().splitlines()[0])
    return r.stdout.split()

FIGS = [  # key, label, unit, ratio?
    ("tcp1", "TCP bulk, 1 stream", "Gbit/s", True),
    ("tcp8", "TCP bulk, 8 streams", "Gbit/s", True),
    ("rate", "new connections, 8 conc.", "conn/s", True),
    ("p50", "latency p50", "us", True),
    ("p99", "latency p99", "us", True),
    ("p50add", "latency p50 added", "us", False),
    ("udp", "UDP -b 0, received", "Gbit/s", True),
    ("udploss", "UDP -b 0, loss", "%", False),
    ("udprloss", f"UDP -b {udp_rate}, loss", "%", False),
]
res = {k: {p: [] for p in PATHS + SRC_PATHS} for k, *_ in FIGS}
fails = {}
def record(key, path, f):
    try:
        v = f()
    except Fail as e:
        fails.setdefault((key, path), []).append(str(e))
        return
    for k, x in (v if isinstance(v, dict) else {key: v}).items():
        res[k][path].append(x)
def m_tcp(n):
    return lambda h, e, i, pre=(): iperf(h, i, n, pre=pre)
def m_rate(h, e, i, pre=()):
    out = tool("rate", f"{h}:{e}", "--conc", 8, "--secs", secs, pre=pre)
    if out[3] != "0":
        notes.append(f"rate via {h}:{e}: {out[3]} failed requests")
    return float(out[1])
def m_lat(h, e, i, pre=()):
    out = tool("latency", f"{h}:{e}", "--secs", secs, pre=pre)
    return {"p50": float(out[1]), "p99": float(out[2])}
def m_udp(h, e, i):
    g, loss = iperf(h, i, udp="0")
    return {"udp": g, "udploss": loss}
def m_udpr(h, e, i):
    return {"udprloss": iperf(h, i, udp=udp_rate)[1]}
steps = [("tcp1", m_tcp(1)), ("tcp8", m_tcp(8)), ("rate", m_rate), ("p50", m_lat),
         ("udp", m_udp), ("udprloss", m_udpr)]
SRC_STEPS = ("tcp1", "rate", "p50")  # (f)'s figures, from the neighbour
src_pair = {k: [] for k in SRC_STEPS}  # kept/gateway of each round, measured back to back
if source_only:
    steps = [s for s in steps if s[0] in SRC_STEPS]
t0 = time.time()
for r in range(rounds):
    order = live[r % len(live):] + live[:r % len(live)] if live else []
    src_order = src_live[::-1] if r % 2 else src_live
    for key, f in steps:
        for p in order:
            h, e, i = addr[p]
            record(key, p, lambda: f(h, e, i))
        if key in SRC_STEPS:
            got = {}
            for p in src_order:
                h, e, i = addr[p]
                n0 = len(res[key][p])
                record(key, p, lambda: f(h, e, i, IN_NB))
                if len(res[key][p]) > n0:
                    got[p] = res[key][p][-1]
            if got.get("gateway") and "kept" in got:
                src_pair[key].append(got["kept"] / got["gateway"])
    print(f"round {r + 1}/{rounds} done ({time.time() - t0:.0f} s)", file=sys.stderr)
med = {k: {p: statistics.median(v) for p, v in d.items() if v} for k, d in res.items()}
if "direct" in med["p50"]:
    med["p50add"] = {p: v - med["p50"]["direct"] for p, v in med["p50"].items()}

# ------------------------------------------------------------ memory
def rss_kb(pid):
    try:
        for l in open(f"/proc/{pid}/status"):
            if l.startswith("VmRSS:"): return int(l.split()[1])
    except OSError:
        pass
    raise RuntimeError(f"the relay (pid {pid}) has exited")
def pss_kb(pid):
    for l in open(f"/proc/{pid}/smaps_rollup"):
        if l.startswith("Pss:"): return int(l.split()[1])
    return 0
def mem(pids):
    """MiB: VmRSS of one process, the sum of PSS over several."""
    time.sleep(0.5)
    if len(pids) == 1:
        return rss_kb(pids[0]) / 1024, ""
    tot = 0
    for p in pids:
        try: tot += pss_kb(p)
        except OSError: pass
    return tot / 1024, f" Σ{len(pids)}"
memrow = {"mem1": {}, "mem100": {}, "idle": {}, "held": {}}
def try_mem(row, path, f):
    try:
        memrow[row][path] = f()
    except (RuntimeError, OSError) as e:
        fails.setdefault((row, path), []).append(str(e))
for row, n, cip, cpid, base, hport in (("mem1", 1, p1_ip, p1_pid, 80, 18000),
                                       ("mem100", 100, p100_ip, p100_pid, 1000, 18100)):
    if "rrun" in live:
        try_mem(row, "rrun", lambda: mem([rrun_forwarder(cpid, hport)]))
    if "docker-proxy" in live:
        def dp():
            ps = [docker_proxy("tcp", 28000 + (n > 1) * 100 + j, cip, base + j) for j in range(n)]
            try: return mem([p.pid for p in ps])
            finally:
                for p in ps: stop(p)
        try_mem(row, "docker-proxy", dp)
    if "pasta" in live:
        def pa_mem():
            hp = 30000 + (n > 1) * 100
            spec = f"127.0.0.1/{hp}:{base}" if n == 1 else f"127.0.0.1/{hp}-{hp + n - 1}:{base}-{base + n - 1}"
            p = pasta(cpid, [spec], None)
            try: return mem([p.pid])
            finally: stop_pasta(p)
        try_mem(row, "pasta", pa_mem)
    if "socat" in live:
        def so():
            ps = [socat("tcp", 12000 + (n > 1) * 100 + j, cip, base + j) for j in range(n)]
            try: return mem([p.pid for p in ps])
            finally:
                for p in ps: stop(p)
        try_mem(row, "socat", so)

hard = subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True).stdout.strip()
hard = 1 << 30 if hard == "unlimited" else int(hard)
idle_n = idle_want
if 2 * idle_n + 100 > hard and not source_only:
    idle_n = (hard - 100) // 2 // 100 * 100
    notes.append(f"idle connections: {idle_n}, not {idle_want}: a relay holds two descriptors "
                 f"per connection and RLIMIT_NOFILE's hard limit here is {hard} "
                 "(raising it needs CAP_SYS_RESOURCE, which this root lacks); a relay that "
                 "also keeps a pipe per direction (six descriptors) stops near a third of that")
def idle(path):
    h, e, _ = addr[path]
    p = subprocess.Popen([fwdbench, "idle", f"{h}:{e}", "-n", str(idle_n)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(600, p.kill); watchdog.start()
    try:
        first = p.stdout.readline().split()
        held, opened = (int(first[1]), int(first[5])) if first[:1] == ["held"] else (0, 0)
        m = None
        if held and path in relay:
            try:
                m = mem(relay[path]())
            except RuntimeError as e:
                fails.setdefault(("idle", path), []).append(str(e))
        try:
            p.stdin.write("\n"); p.stdin.flush(); p.stdin.close()
        except BrokenPipeError:
            pass
        second = p.stdout.readline().split()
        still = int(second[1]) if second[:1] == ["still"] else 0
        err = p.stderr.read().strip()
        p.wait()
    finally:
        watchdog.cancel()
    memrow["held"][path] = (held, still)
    if m is not None:
        memrow["idle"][path] = (m[0], m[1] + (f" @{held}" if held < idle_n else ""))
    if err or still < idle_n:
        fails.setdefault(("held", path), []).append(
            f"{opened} of {idle_n} opened, {held} echoing once all were open, {still} after the "
            f"reading; {err.splitlines()[0] if err else 'no error printed'}")
    rp = relay_proc.get(path)
    if rp is not None and rp.poll() is not None:
        notes.append(f"{path} exited ({rp.returncode}) during the idle connections")
for p in live:
    idle(p)

stop_all()

# ------------------------------------------------------------ report
W = 16
def cell(key, path, v, ratio, unit):
    if path in absent: return "absent"
    if v is None:
        step = {"p99": "p50", "p50add": "p50", "udploss": "udp"}.get(key, key)
        return "fail" if (step, path) in fails else "-"
    s = f"{v:.0f}" if unit == "conn/s" else f"{v:.1f}" if unit == "us" else f"{v:.2f}"
    d = med.get(key, {}).get("direct") if ratio else None
    if ratio and path != "direct" and d:
        s += f" {v / d:.2f}×"
    return s
def goal(label, v, ok, fmt, target):
    if v is None:
        print(f"  {label:40s} {'-':>10s}  {target:14s} MISS (not measured)"); return
    print(f"  {label:40s} {fmt.format(v):>10s}  {target:14s} {'PASS' if ok(v) else 'MISS'}")
def ratio(key, a, b):
    x, y = med[key].get(a), med[key].get(b)
    return x / y if x is not None and y else None
if not source_only:
    print(f"\nrrun's forwarder beside other relays: {rounds} interleaved rounds of {secs} s, medians; "
          "ratio to direct after the value")
    print(f"{'figure':34s}" + "".join(f"{p:>{W}s}" for p in PATHS))
    for key, label, unit, rel in FIGS:
        print(f"{label + ' (' + unit + ')':34s}" + "".join(
            f"{cell(key, p, med[key].get(p), rel, unit):>{W}s}" for p in PATHS))
    def mcell(row, p):
        if p in absent: return "absent"
        if p == "direct": return "-"
        v = memrow[row].get(p)
        return f"{v[0]:.1f}{v[1]}" if v else "fail"
    for row, label in (("mem1", "memory, 1 port idle (MiB)"), ("mem100", "memory, 100 ports idle (MiB)"),
                       ("idle", f"memory, {idle_n} idle conns (MiB)")):
        print(f"{label:34s}" + "".join(f"{mcell(row, p):>{W}s}" for p in PATHS))
    def hcell(p):
        if p in absent: return "absent"
        h = memrow["held"].get(p)
        return f"{min(h)}/{idle_n}" if h else "fail"
    print(f"{'idle conns held, echoing':34s}" + "".join(f"{hcell(p):>{W}s}" for p in PATHS))
    print("memory: VmRSS of the relay's one process; ΣN: sum of PSS over its N processes; @K: with K connections held")

# (f), issue 8
def scell(key, p, unit):
    if p in absent: return "absent"
    v = med[key].get(p)
    if v is None: return "fail" if (key, p) in fails else "-"
    return f"{v:.0f}" if unit == "conn/s" else f"{v:.1f}" if unit == "us" else f"{v:.2f}"
print(f"\nsource kept (issue 8): clients in a neighbour namespace, a veth away, through rrun's forwarder "
      f"(--iptables=false), each setting in a host namespace of its own; the same {rounds} rounds, medians")
print(f"{'figure':34s}{'source kept':>{W}s}{'gateway source':>{W}s}{'kept/gateway':>{W}s}"
      f"{'each round':>{W}s}")
for key, label, unit, _ in FIGS:
    if key in SRC_STEPS:
        q, pr = ratio(key, "kept", "gateway"), src_pair[key]
        span = f"{min(pr):.2f}-{max(pr):.2f}" if pr else "-"
        print(f"{label + ' (' + unit + ')':34s}{scell(key, 'kept', unit):>{W}s}"
              f"{scell(key, 'gateway', unit):>{W}s}{f'{q:.3f}×' if q else '-':>{W}s}{span:>{W}s}")
print("kept/gateway: ratio of the medians; each round: the lowest and highest ratio of a round's pair")
def saw_ok(path):
    """Whether the container's server saw what it should: kept the client's
    own address and port, the others the network's gateway."""
    got, own, net = seen[path]
    return got == own if path == "kept" else got.split(":")[0] == net.get("Gateway")
print("the container's server saw (fwdbench peer, once):")
for p, label in (("kept", "source kept, from the neighbour"), ("gateway", "gateway source, from the neighbour"),
                 ("loopback", "(b) rrun, from 127.0.0.1")):
    if p not in seen:
        print(f"  {label:36s} not asked"); continue
    got, own, net = seen[p]
    want = f"client {own}" if p == "kept" else f"gateway {net.get('Gateway', '?')}"
    print(f"  {label:36s} {got:>21s}  ({want}; {net.get('UserlandProxySource', '?')}) "
          f"{'OK' if saw_ok(p) else 'WRONG'}")
src_ok = {p: p in seen and saw_ok(p) for p in SRC_PATHS}
for p, why in absent.items():
    if why != "BENCH_SOURCE_ONLY":
        print(f"absent: {p}: {why}")
for (k, p), errs in fails.items():
    print(f"failed: {k} via {p} ({len(errs)}x): {errs[0]}")
for n in dict.fromkeys(notes):
    print(f"note: {n}")

if not source_only:
    print("\ngoals (issue 5), rrun:")
    for key, name in (("tcp1", "bulk 1 stream"), ("tcp8", "bulk 8 streams")):
        goal(f"{name} / direct", ratio(key, "rrun", "direct"), lambda v: v >= 0.90, "{:.3f}", ">= 0.90")
        if "docker-proxy" in absent:
            print(f"  {name + ' / docker-proxy':40s} docker-proxy absent")
        else:
            goal(f"{name} / docker-proxy", ratio(key, "rrun", "docker-proxy"), lambda v: v >= 1.1, "{:.3f}", ">= 1.1")
    goal("new connections/s / direct", ratio("rate", "rrun", "direct"), lambda v: v >= 0.90, "{:.3f}", ">= 0.90")
    if "docker-proxy" in absent:
        print(f"  {'new connections/s / docker-proxy':40s} docker-proxy absent")
    else:
        goal("new connections/s / docker-proxy", ratio("rate", "rrun", "docker-proxy"), lambda v: v >= 1.2, "{:.3f}", ">= 1.2")
    goal("p50 latency added (us)", med.get("p50add", {}).get("rrun"), lambda v: v <= 50, "{:.1f}", "<= 50")
    goal("RSS, 100 published ports (MiB)", (memrow["mem100"].get("rrun") or (None,))[0], lambda v: v <= 4, "{:.2f}", "<= 4")
    h = memrow["held"].get("rrun")
    goal(f"{idle_n} conns held and echoing", min(h) if h else None, lambda v: v == idle_n, "{}", f"== {idle_n}")
    goal(f"RSS with {idle_n} conns (MiB)", (memrow["idle"].get("rrun") or (None,))[0], lambda v: v <= 64, "{:.1f}", "<= 64")
    if idle_n < idle_want:
        print(f"  ({idle_want} connections: not measurable here, see the note; measured at {idle_n})")
print("\ngoals (issue 8), source kept / gateway source, from the neighbour:")
goal("bulk 1 stream", ratio("tcp1", "kept", "gateway"), lambda v: v >= 0.95, "{:.3f}", ">= 0.95")
goal("new connections/s", ratio("rate", "kept", "gateway"), lambda v: v >= 0.95, "{:.3f}", ">= 0.95")
goal("addresses seen (kept: own, gateway: gw)", all(src_ok.values()) and len(src_ok) == 2,
     lambda v: v, "{}", "== True")

PY
