//! Network probes for the bridge tests (network_root.rs, network_rootless.rs),
//! root and rootless: namespaces joined by veths, socat servers and
//! clients, and where rrun's bridge lives.
//!
//! Every rrun of a test runs in the harness's throwaway network namespace
//! (`Ctx.netns`), which plays the host; neighbours are more namespaces made
//! here ([`NetNs`], killed on drop), joined to it by veth pairs. Traffic goes
//! only to addresses inside those namespaces (or their loopback).
//!
//! As root the bridge, veths and nftables tables are in that host
//! namespace; rootless they are in the user's network namespace, held by
//! the holder (`$RRUN_ROOT/holder.json`), which [`bridge_ns_pid`] names.
//! Clients of published ports keep their address in both modes
//! ([`published_peer`]).
//!
//! Probes are socat clients: TCP servers in the containers answer
//! `tcp-PORT-PEER`, UDP servers `udp-PORT-PEER` (PEER: the address they saw).
//! A probe that must fail waits at most 2 s; TCP probes run at once, UDP
//! ones one after another. TCP clients are unidirectional (`socat -u`): they
//! never half-close before the answer (pasta 2023-03 repeats a reply to a
//! client that did, see [`Probe::socat_args`]).

#![allow(dead_code)]

use crate::common::*;
use std::fs;
use std::process::Command;

// ---------------------------------------------------------------------------
// Contexts, namespaces and host tools

/// The harness's network namespace of a test: the test's "host".
pub fn host_ns(cx: &Ctx) -> &NetNs {
    cx.netns
        .as_ref()
        .expect("a Ctx made as root has a test network namespace")
}

/// A Ctx for `mode`, or None (after a loud SKIP) when a tool the tests
/// need is missing (rootless: pasta too). Every test here plays the host in
/// a network namespace of its own, which only root can make: run by an
/// ordinary user, none is run.
pub fn net_ctx(mode: Mode) -> Option<Ctx> {
    let cx = Ctx::new_needing_root(mode, "the test's own network namespace, its \"host\"")?;
    let mut tools = vec!["ip", "nft", "socat", "nsenter"];
    if mode == Mode::Rootless {
        tools.push("pasta");
    }
    for tool in tools {
        if which(tool).is_none() {
            skip(&format!("{tool} is not installed on the host"));
            return None;
        }
    }
    if !cx.env.rootfs.join("usr/bin/socat").exists() {
        skip("the rootfs has no /usr/bin/socat (scripts/mkrootfs.sh adds it)");
        return None;
    }
    Some(cx)
}

/// `prog args...` inside the namespace `ns` (setns before exec).
pub fn in_ns(ns: &NetNs, prog: &str, args: &[&str]) -> Command {
    let mut c = Command::new(prog);
    c.args(args).env_clear().env("PATH", HOST_PATH);
    ns.enter(&mut c);
    c
}

/// `sh -c script` inside `ns`, run to completion (with the deadline).
#[track_caller]
pub fn sh_ns(cx: &Ctx, ns: &NetNs, script: &str) -> Output {
    cx.run(in_ns(ns, "sh", &["-c", script]), Input::Null)
}

/// A process in the network namespace of rrun's bridge: the test's host
/// namespace as root; rootless, the holder of the user's namespaces.
#[track_caller]
pub fn bridge_ns_pid(cx: &Ctx) -> u32 {
    match cx.mode {
        Mode::Root => host_ns(cx).child.id(),
        Mode::Rootless => {
            cx.holder()
                .expect("a rootless network has a live holder (holder.json)") as u32
        }
    }
}

/// `sh -c script` (as root) in the network namespace of rrun's bridge.
#[track_caller]
pub fn sh_bridge_ns(cx: &Ctx, script: &str) -> Output {
    match cx.mode {
        Mode::Root => sh_ns(cx, host_ns(cx), script),
        Mode::Rootless => {
            let pid = bridge_ns_pid(cx);
            let mut c = Command::new("nsenter");
            c.args([&format!("--net=/proc/{pid}/ns/net"), "sh", "-c", script])
                .env_clear()
                .env("PATH", HOST_PATH);
            cx.run(c, Input::Null)
        }
    }
}

/// Interface names of the network namespace of process `pid`.
pub fn interfaces_of(pid: u32) -> Vec<String> {
    let dev = fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .expect("reading the namespace's net/dev");
    let mut v: Vec<String> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .collect();
    v.sort();
    v
}

/// Interface names of the namespace `ns`.
pub fn interfaces(ns: &NetNs) -> Vec<String> {
    interfaces_of(ns.child.id())
}

/// Interface names where rrun's bridge is.
#[track_caller]
pub fn bridge_interfaces(cx: &Ctx) -> Vec<String> {
    interfaces_of(bridge_ns_pid(cx))
}

/// The bridge side of rrun's veth pairs.
#[track_caller]
pub fn rrun_veths(cx: &Ctx) -> Vec<String> {
    bridge_interfaces(cx)
        .into_iter()
        .filter(|i| i.starts_with("rrv"))
        .collect()
}

/// Interface names in `ip -o link` output.
pub fn ip_link_names(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect();
    v.sort();
    v
}

/// Another address of the namespace: a veth pair `a`–`b` inside it, both
/// ends up, `cidr` on `a`.
#[track_caller]
pub fn add_address(cx: &Ctx, ns: &NetNs, a: &str, b: &str, cidr: &str) {
    sh_ns(
        cx,
        ns,
        &format!(
            "ip link add {a} type veth peer name {b} && ip addr add {cidr} dev {a} && \
             ip link set {a} up && ip link set {b} up"
        ),
    )
    .ok();
}

/// Join `outside` to `host` with a veth pair: `h` (in host, `h_cidr`) and
/// `o` (in outside, `o_cidr`), then `routes` in outside (`ip route add`
/// arguments).
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn connect(
    cx: &Ctx,
    host: &NetNs,
    outside: &NetNs,
    h: &str,
    h_cidr: &str,
    o: &str,
    o_cidr: &str,
    routes: &[&str],
) {
    let pid = outside.child.id();
    sh_ns(
        cx,
        host,
        &format!(
            "ip link add {h} type veth peer name {o} netns {pid} && ip addr add {h_cidr} dev {h} && \
             ip link set {h} up"
        ),
    )
    .ok();
    let mut script = format!("ip addr add {o_cidr} dev {o} && ip link set {o} up");
    for r in routes {
        script.push_str(&format!(" && ip route add {r}"));
    }
    sh_ns(cx, outside, &script).ok();
}

/// A TCP server in `ns` answering `PREFIX-PEERADDR`; killed on drop.
pub fn peer_server(cx: &Ctx, ns: &NetNs, bind: &str, port: u16, prefix: &str) -> Proc {
    let listen = if bind.is_empty() {
        format!("TCP-LISTEN:{port},fork,reuseaddr")
    } else {
        format!("TCP-LISTEN:{port},bind={bind},fork,reuseaddr")
    };
    let system = format!("SYSTEM:echo {prefix}-$SOCAT_PEERADDR");
    cx.spawn(in_ns(ns, "socat", &[&listen, &system]), Input::Null)
}

/// A UDP server in `ns` answering `PREFIX-PEERADDR`; killed on drop.
pub fn peer_server_udp(cx: &Ctx, ns: &NetNs, port: u16, prefix: &str) -> Proc {
    let listen = format!("UDP-RECVFROM:{port},fork");
    let system = format!("SYSTEM:read -r l; echo {prefix}-$SOCAT_PEERADDR");
    cx.spawn(in_ns(ns, "socat", &[&listen, &system]), Input::Null)
}

// ---------------------------------------------------------------------------
// Containers

/// A shell script for `sh -c` that runs TCP servers answering
/// `tcp-PORT-PEER` and UDP servers answering `udp-PORT-PEER`. A UDP
/// server's child reads the datagram before it answers: one that exits
/// with its input unread resets socat's socketpair, and socat may then
/// drop the answer (a flaky test, not an rrun bug).
pub fn servers(tcp: &[u16], udp: &[u16]) -> String {
    let mut s = String::new();
    for p in tcp {
        s.push_str(&format!(
            "socat TCP-LISTEN:{p},fork,reuseaddr SYSTEM:'echo tcp-{p}-$SOCAT_PEERADDR' & "
        ));
    }
    for p in udp {
        s.push_str(&format!(
            "socat UDP-RECVFROM:{p},fork SYSTEM:'read -r l; echo udp-{p}-$SOCAT_PEERADDR' & "
        ));
    }
    s.push_str("wait");
    s
}

#[track_caller]
pub fn container_ip(cx: &Ctx, name: &str) -> String {
    let ip = cx.inspect_f("{{.NetworkSettings.IPAddress}}", name);
    assert!(
        ip.parse::<std::net::Ipv4Addr>().is_ok(),
        "inspect's NetworkSettings.IPAddress of {name} is an IPv4 address, not {ip:?}"
    );
    ip
}

/// `rrun network inspect`, parsed (an array).
#[track_caller]
pub fn network_inspect(cx: &Ctx) -> Vec<serde_json::Value> {
    let out = cx.rrun(&["network", "inspect"]);
    out.ok();
    match serde_json::from_str(&out.stdout) {
        Ok(serde_json::Value::Array(a)) => a,
        _ => panic!("network inspect prints a JSON array\n{out}"),
    }
}

/// The network's gateway (the bridge's address), from `network inspect`.
#[track_caller]
pub fn gateway(cx: &Ctx) -> String {
    network_inspect(cx)[0]["Gateway"]
        .as_str()
        .expect("network inspect has a Gateway")
        .to_string()
}

/// The containers holding a lease, from `network inspect`.
#[track_caller]
pub fn leases(cx: &Ctx) -> serde_json::Map<String, serde_json::Value> {
    let v = network_inspect(cx);
    assert_eq!(v.len(), 1, "network inspect shows one network: {v:?}");
    v[0]["Containers"]
        .as_object()
        .unwrap_or_else(|| panic!("network inspect has a Containers object: {v:?}"))
        .clone()
}

/// The row of `rrun ps` whose NAMES column is `names`.
#[track_caller]
pub fn ps_row(cx: &Ctx, names: &str) -> std::collections::BTreeMap<String, String> {
    let out = cx.rrun(&["ps"]);
    out.ok();
    let (_, rows) = ps_table(&out.stdout);
    rows.into_iter()
        .find(|r| r.get("NAMES").map(String::as_str) == Some(names))
        .unwrap_or_else(|| panic!("ps has a row with NAMES {names:?}\n{out}"))
}

/// The address a container's server sees for a client on the host or a
/// neighbour that reached it through a published port from `client`: its
/// own (root: kernel DNAT keeps it; rootless: the forwarder connects from
/// it, IP_TRANSPARENT), but a client on the host's loopback, which cannot
/// cross the bridge: the gateway (root: masquerade; rootless: the
/// forwarder). See the README's "Client addresses".
#[track_caller]
pub fn published_peer(cx: &Ctx, client: &str) -> String {
    if client.starts_with("127.") {
        gateway(cx)
    } else {
        client.to_string()
    }
}

// ---------------------------------------------------------------------------
// Probes

/// One connection attempt and what it must give: `want` Some(w): a reply
/// that is `w` or starts with `w-`; None: no reply at all.
#[derive(Clone, Debug)]
pub struct Probe {
    pub udp: bool,
    pub addr: String,
    pub port: u16,
    pub want: Option<String>,
}

pub fn tcp_ok(addr: &str, port: u16, want: &str) -> Probe {
    Probe {
        udp: false,
        addr: addr.into(),
        port,
        want: Some(want.into()),
    }
}

pub fn tcp_no(addr: &str, port: u16) -> Probe {
    Probe {
        udp: false,
        addr: addr.into(),
        port,
        want: None,
    }
}

pub fn udp_ok(addr: &str, port: u16, want: &str) -> Probe {
    Probe {
        udp: true,
        addr: addr.into(),
        port,
        want: Some(want.into()),
    }
}

pub fn udp_no(addr: &str, port: u16) -> Probe {
    Probe {
        udp: true,
        addr: addr.into(),
        port,
        want: None,
    }
}

/// The script of a UDP client: one datagram out, the first reply to
/// stderr.
const UDP_SCRIPT: &str = "SYSTEM:echo x; read -r l; echo \"$l\" >&2";

impl Probe {
    pub fn label(&self) -> String {
        let proto = if self.udp { "udp" } else { "tcp" };
        format!("{proto} {}:{}", self.addr, self.port)
    }

    /// socat's arguments. TCP: `-u` (from the connection to stdout only),
    /// so the client sends no FIN before the server's reply: pasta
    /// 0.0~git20230309 answers a client that half-closes at once with the
    /// reply repeated, at ever new sequence numbers. UDP: a script sends
    /// one datagram and writes the first reply to stderr (socat's own
    /// messages go to /dev/null), then ends, and socat with it (`-t 0`):
    /// no waiting once the reply is in; without one, 1.5 s of silence.
    pub fn socat_args(&self) -> Vec<String> {
        if self.udp {
            vec![
                "-lf".into(),
                "/dev/null".into(),
                "-t".into(),
                "0".into(),
                "-T".into(),
                "1.5".into(),
                format!("UDP:{}:{}", self.addr, self.port),
                UDP_SCRIPT.into(),
            ]
        } else {
            vec![
                "-T".into(),
                "3".into(),
                "-u".into(),
                format!("TCP:{}:{},connect-timeout=2", self.addr, self.port),
                "-".into(),
            ]
        }
    }

    /// The reply in a client's output (UDP: on stderr, see [`Self::socat_args`]).
    pub fn reply(&self, out: &Output) -> String {
        let text = if self.udp { &out.stderr } else { &out.stdout };
        text.trim().to_string()
    }

    pub fn matches(&self, got: &str) -> bool {
        match &self.want {
            Some(w) => got == w || got.starts_with(&format!("{w}-")),
            None => got.is_empty(),
        }
    }

    /// A socat client in `ns`; [`Self::reply`] finds the reply in its output.
    pub fn spawn_in(&self, cx: &Ctx, ns: &NetNs) -> Proc {
        let args = self.socat_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cx.spawn(in_ns(ns, "socat", &args), Input::Null)
    }

    /// A line of shell that prints `rI=REPLY` (for a container).
    pub fn shell(&self, i: usize) -> String {
        let mut args = self.socat_args();
        if self.udp {
            let script = args.pop().expect("the UDP script");
            let args = args.join(" ");
            format!("r=$(socat {args} '{script}' 2>&1 </dev/null); echo \"r{i}=$r\"\n")
        } else {
            let args = args.join(" ");
            format!("r=$(socat {args} </dev/null 2>/dev/null); echo \"r{i}=$r\"")
        }
    }
}

#[track_caller]
pub fn report(what: &str, probes: &[Probe], got: &[String], extra: &str) {
    if let Some(table) = mismatches(probes, got) {
        panic!("{what}:\n{table}\n{extra}");
    }
}

/// A table of every probe when one of them got what it should not.
fn mismatches(probes: &[Probe], got: &[String]) -> Option<String> {
    let bad = probes.iter().zip(got).any(|(p, g)| !p.matches(g.trim()));
    bad.then(|| {
        probes
            .iter()
            .zip(got)
            .map(|(p, g)| {
                format!(
                    "{} {:<24} wanted {:<28} got {:?}",
                    if p.matches(g.trim()) { "  " } else { "!!" },
                    p.label(),
                    match &p.want {
                        Some(w) => format!("a reply {w:?}"),
                        None => "no reply".to_string(),
                    },
                    g.trim()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Run the probes at once from the namespace `ns` and check them all.
#[track_caller]
pub fn check_from_ns(cx: &Ctx, ns: &NetNs, what: &str, probes: &[Probe]) {
    // TCP probes all at once; UDP ones one after another meanwhile, so
    // that a fork-per-datagram server never has two at once.
    let mut procs: Vec<Option<Proc>> = probes
        .iter()
        .map(|p| (!p.udp).then(|| p.spawn_in(cx, ns)))
        .collect();
    let mut got = vec![String::new(); probes.len()];
    for (i, p) in probes.iter().enumerate().filter(|(_, p)| p.udp) {
        got[i] = p.reply(&p.spawn_in(cx, ns).wait());
    }
    for (i, (p, proc)) in probes.iter().zip(procs.iter_mut()).enumerate() {
        if let Some(proc) = proc.take() {
            got[i] = p.reply(&proc.wait());
        }
    }
    report(what, probes, &got, "");
}

/// A script printing `rI=REPLY` for each probe: TCP ones at once, UDP ones
/// one after another (see [`check_from_ns`]).
pub fn probe_script(probes: &[Probe]) -> String {
    let mut s = String::new();
    let mut udp = String::new();
    for (i, p) in probes.iter().enumerate() {
        let line = p.shell(i);
        if p.udp {
            udp.push_str(&line);
        } else {
            s.push_str(&format!("({line}) &\n"));
        }
    }
    if !udp.is_empty() {
        s.push_str(&format!("(\n{udp}) &\n"));
    }
    s.push_str("wait\n");
    s
}

/// The replies in a probe script's output, one per probe.
#[track_caller]
fn probe_replies(what: &str, probes: &[Probe], out: &Output) -> Vec<String> {
    out.ok();
    (0..probes.len())
        .map(|i| {
            let prefix = format!("r{i}=");
            out.lines()
                .iter()
                .find_map(|l| l.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("{what}: no result for probe {i}\n{out}"))
                .to_string()
        })
        .collect()
}

#[track_caller]
pub fn parse_probe_output(what: &str, probes: &[Probe], out: &Output) {
    let got = probe_replies(what, probes, out);
    report(what, probes, &got, &out.to_string());
}

/// A probe script ([`probe_script`]) that first prints `me=ADDRESS`, the
/// address of the container's eth0 (nothing without one).
pub fn probe_script_me(probes: &[Probe]) -> String {
    format!(
        "ip -4 -o addr show eth0 2>/dev/null | awk '{{split($4, a, \"/\"); print \"me=\" a[1]}}'\n{}",
        probe_script(probes)
    )
}

/// Check a [`probe_script_me`]'s output; `{me}` in a wanted reply stands
/// for the probing container's own address.
#[track_caller]
pub fn parse_probe_output_me(what: &str, probes: &[Probe], out: &Output) {
    out.ok();
    let me = out
        .lines()
        .iter()
        .find_map(|l| l.strip_prefix("me="))
        .map(str::to_string);
    let probes: Vec<Probe> = probes
        .iter()
        .map(|p| {
            let want = p.want.as_ref().map(|w| match (&me, w.contains("{me}")) {
                (Some(me), true) => w.replace("{me}", me),
                (None, true) => panic!("{what}: the probing container has no eth0 address\n{out}"),
                (_, false) => w.clone(),
            });
            Probe { want, ..p.clone() }
        })
        .collect();
    parse_probe_output(what, &probes, out);
}

/// Run the probes at once from a new container (`rrun --rm OPTS`); `{me}`
/// in a wanted reply stands for that container's address.
#[track_caller]
pub fn check_from_container(cx: &Ctx, what: &str, opts: &[&str], probes: &[Probe]) {
    let out = cx.sh(opts, &probe_script_me(probes));
    parse_probe_output_me(what, probes, &out);
}

/// Run the probes at once inside a running container (`rrun exec`); `{me}`
/// in a wanted reply stands for its address.
#[track_caller]
pub fn check_from_exec(cx: &Ctx, what: &str, container: &str, probes: &[Probe]) {
    let out = cx.rrun(&["exec", container, "sh", "-c", &probe_script_me(probes)]);
    parse_probe_output_me(what, probes, &out);
}

/// Poll until the probe from `ns` gives what it wants (a server starting).
#[track_caller]
pub fn wait_reachable(cx: &Ctx, ns: &NetNs, p: &Probe) {
    let mut last = String::new();
    let ok = poll_until(SETTLE, || {
        last = p.reply(&p.spawn_in(cx, ns).wait());
        p.matches(&last)
    });
    assert!(
        ok,
        "{} did not answer {:?} within {SETTLE:?} (last reply {last:?})",
        p.label(),
        p.want
    );
}

/// Poll until the servers ([`servers`]) of the running `container` answer
/// on its own loopback, from inside it (`rrun exec`): in either mode,
/// before probes that must not race their start.
#[track_caller]
pub fn wait_serving(cx: &Ctx, container: &str, tcp: &[u16], udp: &[u16]) {
    let probes: Vec<Probe> = tcp
        .iter()
        .map(|p| tcp_ok("127.0.0.1", *p, &format!("tcp-{p}-127.0.0.1")))
        .chain(
            udp.iter()
                .map(|p| udp_ok("127.0.0.1", *p, &format!("udp-{p}-127.0.0.1"))),
        )
        .collect();
    let script = probe_script(&probes);
    let mut last = String::new();
    let ok = poll_until(SETTLE, || {
        let out = cx.rrun(&["exec", container, "sh", "-c", &script]);
        if out.code() != Some(0) {
            last = out.to_string();
            return false;
        }
        let got = probe_replies("wait_serving", &probes, &out);
        match mismatches(&probes, &got) {
            Some(t) => {
                last = t;
                false
            }
            None => true,
        }
    });
    assert!(
        ok,
        "[{}] the servers of {container} did not all answer within {SETTLE:?}:\n{last}",
        cx.mode
    );
}

/// The forwarder of container `id` (comm rrun-forward, child of its
/// monitor), if it runs.
pub fn forwarder_pid(cx: &Ctx, id: &str) -> Option<i32> {
    let st = cx.state_json(id)?;
    let monitor = st["monitor_pid"].as_i64()? as i32;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let comm = &stat[stat.find('(')? + 1..stat.rfind(')')?];
        let ppid: i32 = stat[stat.rfind(')')? + 2..]
            .split(' ')
            .nth(1)?
            .parse()
            .ok()?;
        (comm == "rrun-forward" && ppid == monitor).then_some(pid)
    })
}

/// examples/netprobe, built by `cargo test` beside the binary under test
/// (or None, after a loud SKIP).
pub fn netprobe() -> Option<String> {
    let p = std::path::Path::new(env!("CARGO_BIN_EXE_rrun"))
        .parent()
        .map(|d| d.join("examples").join("netprobe"))?;
    if p.is_file() {
        Some(p.display().to_string())
    } else {
        skip(&format!(
            "{} is not built (plain `cargo test` builds the examples; or cargo build --example netprobe)",
            p.display()
        ));
        None
    }
}

/// The pids of rrun's helper processes called `comm` (rrun-bypass,
/// rrun-dns) of this test's containers: their environment names the
/// test's state directory.
pub fn helpers_named(cx: &Ctx, comm: &str) -> Vec<i32> {
    let want = format!("RRUN_ROOT={}", cx.state.display());
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let name = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let env = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if name.trim_end() == comm && env.split(|b| *b == 0).any(|kv| kv == want.as_bytes()) {
            v.push(pid);
        }
    }
    v
}
