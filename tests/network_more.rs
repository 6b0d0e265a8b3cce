//! More bridge networking as root (issue 4): a user's bridge with -b, no
//! kernel NAT (--iptables=false) and IPv6 host addresses in -p, malformed
//! -p/--expose, editing /etc/hosts inside a running container, and reclaiming
//! a container whose monitor was killed.
//!
//! Root mode only. Every rrun of a test runs in the harness's throwaway
//! network namespace (`Ctx.netns`); nothing here sends traffic anywhere.

mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::{host_ns, interfaces, network_inspect, rrun_veths, sh_ns};
use std::fs;
use std::process::Command;

/// A root Ctx, or None (after a loud SKIP) when `ip` or `nft` is missing.
fn root_ctx() -> Option<Ctx> {
    let cx = Ctx::new(Mode::Root)?;
    if let Some(tool) = missing_tool(&["ip", "nft"]) {
        skip(&format!("{tool} is not installed on the host"));
        return None;
    }
    Some(cx)
}

/// `sh -c script` inside the test's namespace, run to completion.
#[track_caller]
fn sh_host(cx: &Ctx, script: &str) -> Output {
    sh_ns(cx, host_ns(cx), script)
}

/// The names of the containers holding a lease (none without a network).
#[track_caller]
fn lease_names(cx: &Ctx) -> Vec<String> {
    network_inspect(cx)
        .iter()
        .flat_map(|n| {
            n["Containers"]
                .as_object()
                .map(|m| {
                    m.values()
                        .map(|c| c["Name"].as_str().unwrap_or("?").to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .collect()
}

/// `rrun ps -aq` prints nothing, and no lease is held.
#[track_caller]
fn assert_no_container(cx: &Ctx, after: &str) {
    let out = cx.rrun(&["ps", "-aq"]);
    out.ok();
    assert!(
        out.stdout.is_empty(),
        "after {after}: ps -aq lists no container\n{out}"
    );
    let leases = lease_names(cx);
    assert!(
        leases.is_empty(),
        "after {after}: no lease is held, but {leases:?}"
    );
    // The kernel drops a veth with its namespace asynchronously.
    let veths = || rrun_veths(cx);
    let gone = poll_until(SETTLE, || veths().is_empty());
    assert!(gone, "after {after}: veths left: {:?}", veths());
}

/// `rrun OPTS... ROOTFS true` must fail with 125, one `rrun:` line that
/// contains every one of `needles`, and leave nothing behind.
#[track_caller]
fn expect_refused(cx: &Ctx, opts: &[&str], needles: &[&str]) -> Output {
    let mut a: Vec<&str> = opts.to_vec();
    a.push(cx.rootfs());
    a.push("true");
    let out = cx.rrun(&a);
    out.expect_rrun_error();
    for n in needles {
        assert!(
            out.stderr.contains(n),
            "the error for {opts:?} mentions {n:?}\n{out}"
        );
    }
    assert_no_container(cx, &format!("{opts:?}"));
    out
}

// ---------------------------------------------------------------------------
// -b: a user's bridge

/// Removes the user's bridge at the end (the namespace goes too, but the
/// bridge is ours to remove, not rrun's).
struct UserLink<'a> {
    cx: &'a Ctx,
    name: &'static str,
}

impl Drop for UserLink<'_> {
    fn drop(&mut self) {
        let mut c = Command::new("ip");
        c.args(["link", "del", self.name])
            .env_clear()
            .env("PATH", HOST_PATH)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(ns) = &self.cx.netns {
            ns.enter(&mut c);
            if let Ok(mut child) = c.spawn() {
                let _ = poll_until(TIMEOUT, || matches!(child.try_wait(), Ok(Some(_))));
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

#[test]
fn root_user_bridge_is_used_and_never_deleted() {
    let Some(cx) = root_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    sh_host(&cx, "ip link add br9 type bridge && ip link set br9 up").ok();
    let _br = UserLink {
        cx: &cx,
        name: "br9",
    };

    // Docker: -b uses the bridge's own address, so --bip cannot go with it.
    let out = cx.rrun(&[
        "-b",
        "br9",
        "--bip",
        "10.77.0.1/24",
        "--rm",
        cx.rootfs(),
        "true",
    ]);
    out.expect_rrun_error();
    assert!(out.stderr.contains("mutually exclusive"), "{out}");
    assert!(
        network_inspect(&cx).is_empty(),
        "no network after -b with --bip"
    );

    let eth0 = |cx: &Ctx| {
        let out = cx.rrun(&[
            "-b",
            "br9",
            "--rm",
            cx.rootfs(),
            "ip",
            "addr",
            "show",
            "eth0",
        ]);
        out.ok();
        out.lines()
            .iter()
            .find_map(|l| l.trim().strip_prefix("inet "))
            .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("eth0 has an IPv4 address\n{out}"))
    };
    let br9 = |cx: &Ctx| {
        let out = sh_host(
            cx,
            "ip -4 -o addr show br9; cat /proc/sys/net/ipv4/conf/br9/route_localnet",
        );
        out.ok();
        out.stdout
    };

    // A bridge without an address gets the network's, and loses it again.
    let inet = eth0(&cx);
    let gw = network_inspect(&cx)[0]["BIP"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        br9(&cx).contains(&format!("inet {gw} ")),
        "br9 carries the network's address {gw} ({inet})\n{}",
        br9(&cx)
    );
    assert!(
        !interfaces(host_ns(&cx)).contains(&"rrun0".to_string()),
        "with -b br9, rrun makes no bridge of its own: {:?}",
        interfaces(host_ns(&cx))
    );
    assert_no_container(&cx, "run --rm on br9");
    cx.rrun(&["network", "rm"]).ok();
    assert_eq!(
        br9(&cx),
        "0\n",
        "network rm gives br9 back as it was: no address, route_localnet 0"
    );

    // A bridge with its own address: the network is its subnet, and the
    // address stays after network rm.
    sh_host(&cx, "ip addr add 10.77.0.1/24 dev br9").ok();
    let inet = eth0(&cx);
    assert!(
        inet.starts_with("10.77.0.") && inet.ends_with("/24"),
        "eth0's address {inet:?} is in br9's 10.77.0.0/24"
    );
    cx.rrun(&["network", "rm"]).ok();
    let after = br9(&cx);
    assert!(
        after.contains("inet 10.77.0.1/24") && after.ends_with("0\n"),
        "br9 keeps its own address after network rm\n{after}"
    );
    assert!(
        interfaces(host_ns(&cx)).contains(&"br9".to_string()),
        "rrun network rm never deletes the user's bridge br9: {:?}",
        interfaces(host_ns(&cx))
    );
    let link = sh_host(&cx, "ip -o link show br9");
    link.ok();
    assert!(
        link.stdout.contains("state UP") || link.stdout.contains(",UP"),
        "br9 stays up after network rm\n{link}"
    );
}

#[test]
fn root_bridge_flag_missing_bridge() {
    let Some(cx) = root_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    expect_refused(&cx, &["-b", "nosuch", "--rm"], &["nosuch"]);
    assert!(
        network_inspect(&cx).is_empty(),
        "no network is recorded after -b nosuch"
    );
}

#[test]
fn root_bridge_flag_not_a_bridge() {
    let Some(cx) = root_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    sh_host(
        &cx,
        "ip link add vx0 type veth peer name vx1 && ip link set vx0 up && ip link set vx1 up",
    )
    .ok();
    let _veth = UserLink {
        cx: &cx,
        name: "vx0",
    };
    expect_refused(&cx, &["-b", "vx0", "--rm"], &["vx0", "not a bridge"]);
    let ifs = interfaces(host_ns(&cx));
    assert!(
        ifs.contains(&"vx0".to_string()) && ifs.contains(&"vx1".to_string()),
        "the user's veth pair is left alone: {ifs:?}"
    );
    assert!(
        network_inspect(&cx).is_empty(),
        "no network is recorded after -b vx0"
    );
}

// ---------------------------------------------------------------------------
// No kernel NAT, IPv6 host addresses

/// A container serving HTTP on 80 (its hostname as the page) and a UDP
/// echo of the peer's address on 53.
/// Servers answering with the container's hostname. The rootfs is shared by
/// every test of the process: the page lives in a tmpfs of the container's
/// own (run with `--tmpfs /w`), or concurrent tests would overwrite it.
const SERVERS: &str = "hostname > /w/index.html; \
    socat UDP-RECVFROM:53,fork SYSTEM:'read -r l; echo udp-$SOCAT_PEERADDR' & \
    exec httpd -f -p 80 -h /w";

fn http_via(cx: &Ctx, socat_addr: &str) -> Output {
    sh_host(
        cx,
        &format!(
            "for i in 1 2 3 4 5 6 7 8 9 10; do \
               out=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 3 socat - {socat_addr} 2>/dev/null | tail -1); \
               [ -n \"$out\" ] && {{ echo \"$out\"; exit 0; }}; sleep 0.2; done; exit 1"
        ),
    )
}

/// Without kernel NAT (--iptables=false) published ports are served by the
/// userspace forwarder: TCP and UDP work, and no nftables table is made.
#[test]
fn root_iptables_false_ports_served_by_the_forwarder() {
    let Some(cx) = root_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    let out = cx.rrun(&[
        "-d",
        "--name",
        "ff",
        "--tmpfs",
        "/w",
        "--iptables=false",
        "-p",
        "8080:80",
        "-p",
        "5353:53/udp",
        cx.rootfs(),
        "sh",
        "-c",
        SERVERS,
    ]);
    out.ok();
    let host = cx.inspect_f("{{.Config.Hostname}}", "ff");
    let got = http_via(&cx, "TCP:127.0.0.1:8080");
    assert_eq!(got.stdout.trim(), host, "TCP through the forwarder\n{got}");
    let udp = sh_host(&cx, "echo hi | timeout 3 socat - UDP:127.0.0.1:5353");
    assert!(
        udp.stdout.starts_with("udp-"),
        "UDP through the forwarder\n{udp}"
    );
    // No kernel NAT: rrun's table holds only the chain that marks replies
    // to the forwarder's transparent sockets (issue 8).
    let rules = sh_host(&cx, "nft list table ip rrun 2>/dev/null; true");
    assert!(
        rules.stdout.contains("mark_transparent")
            && !rules.stdout.contains("dnat")
            && !rules.stdout.contains("masquerade"),
        "no kernel NAT rules\n{rules}"
    );
    cx.rrun(&["rm", "-f", "ff"]).ok();
    let again = http_via(&cx, "TCP:127.0.0.1:8080");
    assert_ne!(
        again.code(),
        Some(0),
        "the port closes with the container\n{again}"
    );
}

/// IPv6 host addresses are served by the forwarder (nftables cannot DNAT
/// IPv6 to an IPv4 container).
#[test]
fn root_ipv6_host_address_forwarded() {
    let Some(cx) = root_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    let out = cx.rrun(&[
        "-d",
        "--name",
        "six",
        "--tmpfs",
        "/w",
        "-p",
        "[::1]:8081:80",
        cx.rootfs(),
        "sh",
        "-c",
        SERVERS,
    ]);
    out.ok();
    let host = cx.inspect_f("{{.Config.Hostname}}", "six");
    let got = http_via(&cx, "TCP6:[::1]:8081");
    assert_eq!(
        got.stdout.trim(),
        host,
        "TCP over IPv6 through the forwarder\n{got}"
    );
    let port = cx.rrun(&["port", "six", "80"]);
    assert_eq!(port.stdout.trim(), "[::1]:8081", "{port}");
    let elems = sh_host(&cx, "nft list map ip rrun any_tcp 2>/dev/null; true");
    assert!(
        !elems.stdout.contains("8081"),
        "no DNAT element for an IPv6 port\n{elems}"
    );
}

// ---------------------------------------------------------------------------
// Malformed -p / --expose

#[test]
fn root_malformed_port_specs() {
    let Some(cx) = root_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    let out = expect_refused(&cx, &["-p", "70000:80"], &["invalid hostPort: 70000"]);
    assert!(out.stdout.is_empty(), "{out}");
    let cases: &[(&str, &str, &[&str])] = &[
        ("-p", "0:80", &["hostPort", "0"]),
        ("-p", "80:0", &["containerPort", "0"]),
        ("-p", "8000-8002:80-81", &["8000-8002", "80-81"]),
        ("-p", "80/sctpx", &["sctpx"]),
        ("-p", "1.2.3:80:80", &["1.2.3"]),
        ("-p", ":", &["no container port"]),
        ("--expose", "0", &["0"]),
        ("--expose", "5/icmp", &["icmp"]),
    ];
    for (flag, spec, needles) in cases {
        expect_refused(&cx, &[flag, spec], needles);
        // Also when it comes after a valid one.
        expect_refused(&cx, &["-p", "8081:81", flag, spec], needles);
    }
}

// ---------------------------------------------------------------------------
// /etc/hosts edited inside a running container

#[test]
fn root_hosts_edit_in_running_container() {
    let Some(cx) = root_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    let host_hosts = cx.env.rootfs.join("etc/hosts");
    let before = fs::read(&host_hosts).ok();
    cx.detach(&["--name", "ee"], &["sleep", "100"]);
    cx.rrun(&[
        "exec",
        "ee",
        "sh",
        "-c",
        "echo 10.9.9.9 added >> /etc/hosts",
    ])
    .ok();
    let out = cx.rrun(&["exec", "ee", "grep", "added", "/etc/hosts"]);
    out.ok();
    assert_eq!(out.stdout, "10.9.9.9 added\n", "{out}");
    // The container's own line is still there.
    let out = cx.rrun(&["exec", "ee", "cat", "/etc/hosts"]);
    out.ok();
    let id = cx.inspect_f("{{.Id}}", "ee");
    assert!(
        out.stdout.contains(&id[..12]),
        "/etc/hosts keeps the container's own line\n{out}"
    );
    assert_eq!(
        fs::read(&host_hosts).ok(),
        before,
        "the rootfs's own /etc/hosts on the host is unchanged"
    );
    // resolv.conf and hostname too: edits stay inside the container.
    let rootfs_files = |cx: &Ctx| {
        ["etc/resolv.conf", "etc/hostname"].map(|f| fs::read(cx.env.rootfs.join(f)).ok())
    };
    let files_before = rootfs_files(&cx);
    let out = cx.rrun(&[
        "exec",
        "ee",
        "sh",
        "-c",
        "echo 'nameserver 10.9.9.9' >> /etc/resolv.conf && echo renamed > /etc/hostname \
         && grep -c 10.9.9.9 /etc/resolv.conf && cat /etc/hostname",
    ]);
    out.ok();
    assert_eq!(out.stdout, "1\nrenamed\n", "{out}");
    let out = cx.rrun(&["exec", "ee", "cat", "/etc/hostname"]);
    assert_eq!(
        out.stdout, "renamed\n",
        "the edit stays while it runs\n{out}"
    );
    assert_eq!(
        rootfs_files(&cx),
        files_before,
        "the rootfs's files are unchanged"
    );
    cx.rrun(&["rm", "-f", "ee"]).ok();
    assert_eq!(
        fs::read(&host_hosts).ok(),
        before,
        "the rootfs's own /etc/hosts is unchanged after rm -f"
    );
    assert_eq!(
        rootfs_files(&cx),
        files_before,
        "the rootfs's files are unchanged"
    );
}

// ---------------------------------------------------------------------------
// A killed monitor: the next run reclaims the port, the rules, the lease

#[track_caller]
fn nft_any_tcp(cx: &Ctx) -> Output {
    sh_host(cx, "nft list map ip rrun any_tcp")
}

#[test]
fn root_reclaim_after_killed_monitor() {
    let Some(cx) = root_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    let id = cx.detach(&["--name", "kk", "-p", "8090:80"], &["sleep", "100"]);
    let before = nft_any_tcp(&cx);
    before.ok();
    assert!(
        before.stdout.contains("8090 :"),
        "the DNAT element for 8090 is installed\n{before}"
    );
    assert_eq!(lease_names(&cx), ["kk"], "k holds a lease");

    let st = cx.state_json(&id).expect("k has a state.json");
    let pid = st["monitor_pid"].as_i64().unwrap_or(0) as i32;
    let start = st["monitor_start"].as_u64();
    assert!(
        pid > 1 && start.is_some() && start_time(pid) == start,
        "state.json names k's live monitor: {st}"
    );
    // SAFETY: SIGKILL to the monitor this test's rrun started (start time
    // checked just above).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);

    let mut last = None;
    let exited = poll_until(SETTLE, || {
        let out = cx.rrun(&["ps", "-a"]);
        let (_, rows) = ps_table(&out.stdout);
        let hit = rows.iter().any(|r| {
            r.get("NAMES").map(String::as_str) == Some("kk")
                && r.get("STATUS").is_some_and(|s| s.starts_with("Exited"))
        });
        last = Some(out);
        hit
    });
    assert!(
        exited,
        "k shows as Exited in ps -a within {SETTLE:?} after its monitor was killed\n{}",
        last.expect("ps ran")
    );

    // The next run reclaims what k held.
    cx.rrun(&["--rm", cx.rootfs(), "true"]).ok();
    let after = nft_any_tcp(&cx);
    after.ok();
    assert!(
        !after.stdout.contains("8090"),
        "no 8090 element is left in any_tcp after the next run\n{after}"
    );
    let leases = lease_names(&cx);
    assert!(
        !leases.contains(&"kk".to_string()),
        "k's lease is released after the next run: {leases:?}"
    );

    // The port is free again, at once.
    let id2 = cx.detach(&["-p", "8090:80"], &["sleep", "100"]);
    let again = nft_any_tcp(&cx);
    again.ok();
    assert_eq!(
        again.stdout.matches("8090 :").count(),
        1,
        "exactly one 8090 element, the new container's\n{again}"
    );
    cx.rrun(&["rm", "-f", &id2]).ok();
}
