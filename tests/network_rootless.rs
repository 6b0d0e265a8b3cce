//! What only rootless networking has (issue 6): the host's loopback out of
//! reach, a killed namespace holder replaced by one that adopts the
//! survivors' namespaces, two users side by side, privileged host ports
//! refused, running without pasta, and the source document's db + web
//! scenario. Everything both modes share (published ports, links, --icc,
//! outbound, settings, `network rm` stopping pasta) is in network_root.rs,
//! run there once as root and once rootless.
//!
//! Every rrun runs as the unprivileged test user in the harness's network
//! namespace (the test's "host", with an uplink: UPLINK_ADDR, a default
//! route via 198.18.0.1 that leads nowhere). Namespaces, servers and
//! probes: tests/common/net.rs.

mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::*;

fn rootless_ctx() -> Option<Ctx> {
    net_ctx(Mode::Rootless)
}

/// `-d OPTS ROOTFS sh -c SCRIPT` through [`Ctx::detach`].
#[track_caller]
fn detach_sh(cx: &Ctx, opts: &[&str], script: &str) -> String {
    cx.detach(opts, &["sh", "-c", script])
}

/// The namespace inodes recorded in holder.json: (pid, user, net).
#[track_caller]
fn holder_record(cx: &Ctx) -> (i32, u64, u64) {
    let p = cx.state.join("holder.json");
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())),
    )
    .unwrap_or_else(|e| panic!("{} is JSON: {e}", p.display()));
    let n = |k: &str| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("holder.json has a number {k}: {v}"))
    };
    (n("pid") as i32, n("user_ino"), n("net_ino"))
}

/// The inode of /proc/PID/ns/KIND.
fn ns_ino(pid: i32, kind: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|m| m.ino())
}

/// The NAMES column of every row of `rrun ps` (sorted).
#[track_caller]
fn ps_names(cx: &Ctx) -> Vec<String> {
    let out = cx.rrun(&["ps"]);
    out.ok();
    let (_, rows) = ps_table(&out.stdout);
    let mut v: Vec<String> = rows.into_iter().map(|r| r["NAMES"].clone()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// The host's loopback

/// Services on the host's 127.0.0.1 stay out of reach: not through the
/// gateway (the bridge is in the user's namespace), not through the
/// uplink's gateway (pasta runs with --no-map-gw), not through 127.0.0.1
/// (the container's own), not through the uplink's address (pasta's copy
/// in the user's namespace). A service on all of the host's addresses is
/// reached through an address pasta did not copy (the control); with the
/// socket bypass, also through the uplink's address, as from the host.
#[test]
fn host_loopback_not_reachable() {
    let Some(cx) = rootless_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    add_address(&cx, ns, "rrt0", "rrt1", "10.207.0.1/24");
    let other = "10.207.0.1";
    let _loop = peer_server(&cx, ns, "127.0.0.1", 7777, "loop");
    let _any = peer_server(&cx, ns, "", 7778, "any");
    let _uloop = cx.spawn(
        in_ns(
            ns,
            "socat",
            &[
                "UDP-RECVFROM:7779,bind=127.0.0.1,fork",
                "SYSTEM:read -r l; echo uloop",
            ],
        ),
        Input::Null,
    );
    wait_reachable(&cx, ns, &tcp_ok("127.0.0.1", 7777, "loop-127.0.0.1"));
    wait_reachable(&cx, ns, &tcp_ok("127.0.0.1", 7778, "any-127.0.0.1"));
    wait_reachable(&cx, ns, &udp_ok("127.0.0.1", 7779, "uloop"));
    // Make the network, then read its gateway.
    cx.sh(&[], "true").ok();
    let gw = gateway(&cx);
    check_from_container(
        &cx,
        "a container (socket bypass on) and the host's services",
        &[],
        &[
            tcp_ok(other, 7778, &format!("any-{other}")),
            tcp_no(other, 7777),
            tcp_no(&gw, 7777),
            tcp_no(&gw, 7778),
            tcp_no("127.0.0.1", 7777),
            tcp_no("0.0.0.0", 7777),
            tcp_no(UPLINK_ADDR, 7777),
            // As from the host: a service on all of its addresses.
            tcp_ok(UPLINK_ADDR, 7778, &format!("any-{UPLINK_ADDR}")),
            udp_no(&gw, 7779),
        ],
    );
    check_from_container(
        &cx,
        "a container (socket bypass off) and the host's services",
        &["--outbound-bypass=false"],
        &[
            tcp_ok(other, 7778, &format!("any-{other}")),
            tcp_no(other, 7777),
            tcp_no(&gw, 7777),
            tcp_no(&gw, 7778),
            tcp_no("198.18.0.1", 7777),
            tcp_no("198.18.0.1", 7778),
            tcp_no("127.0.0.1", 7777),
            tcp_no(UPLINK_ADDR, 7777),
            tcp_no(UPLINK_ADDR, 7778),
            udp_no("198.18.0.1", 7779),
            udp_no(&gw, 7779),
        ],
    );
}

// ---------------------------------------------------------------------------
// The holder killed

/// SIGKILL to the holder while a container runs: the container, its
/// published port and pasta go on; the next run starts a new holder that
/// adopts the same namespaces and says so once; a new container reaches
/// the old one by its link.
#[test]
fn holder_killed_namespaces_adopted() {
    let Some(cx) = rootless_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    detach_sh(
        &cx,
        &["--name", "db", "--expose", "5432", "-p", "15432:5432"],
        &servers(&[5432], &[]),
    );
    wait_serving(&cx, "db", &[5432], &[]);
    let db_ip = container_ip(&cx, "db");
    let gw = gateway(&cx);
    let db_pid: i32 = cx
        .inspect_f("{{.State.Pid}}", "db")
        .parse()
        .expect("State.Pid is a number");
    let pasta = cx.pasta().expect("the network has a live pasta");
    let (old, user_ino, net_ino) = holder_record(&cx);
    assert_eq!(cx.holder(), Some(old), "holder.json names a live holder");
    assert_eq!(
        ns_ino(db_pid, "user"),
        Some(user_ino),
        "db is in the user namespace"
    );

    // SAFETY: SIGKILL to the holder this test's rrun made (cx.holder()
    // checked its start time just above).
    assert_eq!(unsafe { libc::kill(old, libc::SIGKILL) }, 0);
    assert!(
        poll_until(SETTLE, || !pid_alive(old)),
        "the holder {old} died"
    );
    assert!(pid_alive(db_pid), "db's process outlives the holder");
    assert_eq!(cx.pasta(), Some(pasta), "pasta outlives the holder");
    check_from_ns(
        &cx,
        ns,
        "db's published port with the holder gone",
        &[tcp_ok("127.0.0.1", 15432, &format!("tcp-5432-{gw}"))],
    );

    // The next run adopts the namespaces and says so, on one line.
    let out = cx.rrun(&[
        "-d",
        "--name",
        "web",
        "--link",
        "db:db",
        cx.rootfs(),
        "sleep",
        "1000",
    ]);
    out.ok();
    assert!(
        is_hex(out.stdout.trim_end(), 64) && out.lines().len() == 1,
        "-d prints the id\n{out}"
    );
    let err = out.stderr_lines();
    assert!(
        err.len() == 1
            && err[0].starts_with("rrun: ")
            && err[0].contains(&format!("holder (pid {old})"))
            && err[0].contains("adopted the user namespace and network namespace"),
        "one stderr line says the dead holder's namespaces were adopted\n{out}"
    );
    let (new, new_user, new_net) = holder_record(&cx);
    assert_ne!(new, old, "a new holder");
    assert_eq!(cx.holder(), Some(new), "the new holder lives");
    assert_eq!(
        (new_user, new_net),
        (user_ino, net_ino),
        "the new holder holds the same namespaces"
    );
    assert_eq!(
        (ns_ino(new, "user"), ns_ino(new, "net")),
        (Some(user_ino), Some(net_ino)),
        "the new holder is in them"
    );

    // The old and the new container share the network.
    let out = cx.rrun(&["exec", "web", "ping", "-c1", "-W2", "db"]);
    out.ok();
    assert!(
        out.stdout.contains(&format!("from {db_ip}")),
        "web pings db ({db_ip})\n{out}"
    );
    check_from_exec(
        &cx,
        "web reaching db by its link after the adoption",
        "web",
        &[tcp_ok("db", 5432, "tcp-5432-{me}")],
    );
    assert_eq!(ps_names(&cx), ["db,web/db", "web"], "ps shows both");
    assert_eq!(cx.pasta(), Some(pasta), "the same pasta serves the network");

    // Said once: later runs are quiet.
    let out = cx.sh(
        &["--link", "db:db"],
        "ping -c1 -W2 db >/dev/null && echo ok",
    );
    out.ok();
    assert!(
        out.stdout == "ok\n" && out.stderr.is_empty(),
        "the next run neither adopts nor says anything\n{out}"
    );
    assert_eq!(holder_record(&cx).0, new, "the same holder");
}

// ---------------------------------------------------------------------------
// Two users

/// Two users on one host, each with their own RRUN_ROOT: the same name
/// for a container, each `ps` showing only its own, separate namespaces
/// and networks (the same subnet in each, but no way across), host ports
/// shared as on any host; one user's state directory refused to the other.
#[test]
fn two_users_isolated() {
    let Some(a) = rootless_ctx() else { return };
    let _ca = Cleanup::new(&a);
    let Some(b) = Ctx::new_second_user(&a) else {
        return;
    };
    let _cb = Cleanup::new(&b);
    assert_ne!(a.uid, b.uid, "two different users");
    let ns = host_ns(&a);
    let serve = |tag: &str| {
        format!("socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo {tag}-$SOCAT_PEERADDR'")
    };
    let ida = detach_sh(&a, &["--name", "db", "-p", "18080:80"], &serve("a"));
    let idb = detach_sh(&b, &["--name", "db", "-p", "18081:80"], &serve("b"));
    assert_ne!(ida, idb);
    for (cx, id) in [(&a, &ida), (&b, &idb)] {
        let out = cx.rrun(&["ps", "-a", "-q", "--no-trunc"]);
        out.ok();
        assert_eq!(
            out.stdout,
            format!("{id}\n"),
            "[uid {}] ps -a lists its own only\n{out}",
            cx.uid
        );
        assert_eq!(ps_names(cx), ["db"]);
        let leases = leases(cx);
        assert_eq!(leases.len(), 1, "{leases:?}");
        assert!(
            leases.contains_key(id.as_str()),
            "[uid {}] its own lease: {leases:?}",
            cx.uid
        );
    }

    // Separate holders, user and network namespaces.
    let (ha, ua, na) = holder_record(&a);
    let (hb, ub, nb) = holder_record(&b);
    assert!(
        ha != hb && ua != ub && na != nb,
        "separate namespaces: a {ha} {ua} {na}, b {hb} {ub} {nb}"
    );

    // Each user's containers reach only their own: the same address in
    // both networks leads to one's own db.
    let ip_a = container_ip(&a, "db");
    let ip_b = container_ip(&b, "db");
    assert_eq!(
        ip_a, ip_b,
        "both networks take the same first subnet, each in its own namespace"
    );
    for (cx, tag) in [(&a, "a"), (&b, "b")] {
        check_from_container(
            cx,
            &format!("user {tag}'s container"),
            &[],
            &[tcp_ok(&ip_a, 80, &format!("{tag}-{{me}}"))],
        );
    }
    // The host's ports are one space: each user's published port serves
    // its own container, and a port one holds is refused to the other.
    check_from_ns(
        &a,
        ns,
        "each user's published port",
        &[
            tcp_ok("127.0.0.1", 18080, &format!("a-{}", gateway(&a))),
            tcp_ok("127.0.0.1", 18081, &format!("b-{}", gateway(&b))),
        ],
    );
    let out = b.rrun(&["-d", "-p", "18080:80", b.rootfs(), "sleep", "1000"]);
    out.expect_rrun_error();
    assert!(
        out.stderr.contains("18080"),
        "the error names the port\n{out}"
    );

    // User b pointed at a's state directory: a clear error, nothing of a's
    // touched.
    for args in [
        &["ps", "-a"][..],
        &["--rm", b.rootfs(), "true"][..],
        &["rm", "-f", "db"][..],
        &["network", "rm"][..],
    ] {
        let mut c = b.cmd(args);
        c.env("RRUN_ROOT", &a.state);
        let out = b.run(c, Input::Null);
        out.expect_rrun_error();
        assert!(
            out.stderr.contains(&a.state.display().to_string())
                && out.stderr.contains(&format!(
                    "belongs to uid {}, not to you (uid {})",
                    a.uid, b.uid
                )),
            "{args:?}: the error names a's state directory and why\n{out}"
        );
    }
    let out = a.rrun(&["ps", "-a", "-q", "--no-trunc"]);
    out.ok();
    assert_eq!(
        out.stdout,
        format!("{ida}\n"),
        "a's container is still there\n{out}"
    );
    assert_eq!(a.holder(), Some(ha), "a's holder is untouched");
    assert_eq!(
        a.inspect_f("{{.State.Status}}", "db"),
        "running",
        "a's db still runs"
    );
}

// ---------------------------------------------------------------------------
// Privileged host ports

#[test]
fn privileged_host_port_refused() {
    let Some(cx) = rootless_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    for (spec, shown) in [
        ("80:80", "0.0.0.0:80/tcp"),
        ("127.0.0.1:1023:53/udp", "127.0.0.1:1023/udp"),
    ] {
        let out = cx.rrun(&["-d", "-p", spec, cx.rootfs(), "sleep", "1000"]);
        out.expect_rrun_error();
        assert!(
            out.stderr.contains(shown)
                && out.stderr.contains("net.ipv4.ip_unprivileged_port_start")
                && !out.stderr.contains("setcap"),
            "-p {spec}: the error names the port and the sysctl\n{out}"
        );
        cx.assert_nothing_left(&format!("-p {spec}"));
    }
    if !network_inspect(&cx).is_empty() {
        assert!(leases(&cx).is_empty(), "no lease is left");
        assert!(rrun_veths(&cx).is_empty(), "no veth is left");
    }
    // The first unprivileged port is fine.
    let out = cx.sh(&["-p", "1024:80"], "true");
    out.ok();
    assert!(out.stderr.is_empty(), "{out}");
}

// ---------------------------------------------------------------------------
// Without pasta

/// pasta missing (RRUN_PASTA names nothing): one warning when the network
/// is made, none after; containers still reach each other and their
/// published ports work; nothing goes out.
#[test]
fn pasta_missing_warns_once() {
    let Some(cx) = rootless_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    add_address(&cx, ns, "rrt0", "rrt1", "10.208.0.1/24");
    let _any = peer_server(&cx, ns, "", 7778, "any");
    wait_reachable(&cx, ns, &tcp_ok("10.208.0.1", 7778, "any-10.208.0.1"));
    let run = |args: &[&str]| {
        let mut c = cx.cmd(args);
        c.env("RRUN_PASTA", "/nonexistent");
        cx.run(c, Input::Null)
    };
    let script = servers(&[80], &[]);
    let out = run(&[
        "-d",
        "--name",
        "aa",
        "--expose",
        "80",
        "-p",
        "18082:80",
        cx.rootfs(),
        "sh",
        "-c",
        &script,
    ]);
    out.ok();
    assert!(is_hex(out.stdout.trim_end(), 64), "-d prints the id\n{out}");
    let err = out.stderr_lines();
    assert!(
        err.len() == 1
            && err[0].starts_with("rrun: warning: ")
            && err[0].contains("outbound")
            && err[0].contains("RRUN_PASTA=/nonexistent"),
        "exactly one warning line, naming the cause, when the network is made\n{out}"
    );
    assert_eq!(cx.pasta(), None, "no pasta runs");
    wait_serving(&cx, "aa", &[80], &[]);
    let gw = gateway(&cx);

    let probes = [
        tcp_ok("aa", 80, "tcp-80-{me}"),
        tcp_ok(&gw, 18082, &format!("tcp-80-{gw}")),
        tcp_no("10.208.0.1", 7778),
    ];
    let out = run(&[
        "--rm",
        "--outbound-bypass=false",
        "--link",
        "aa:aa",
        cx.rootfs(),
        "sh",
        "-c",
        &probe_script_me(&probes),
    ]);
    assert!(out.stderr.is_empty(), "no warning on the next run\n{out}");
    parse_probe_output_me(
        "without pasta: to the linked container, to a published port through the gateway, \
         and (not) out to the host",
        &probes,
        &out,
    );
    // The socket bypass does not need pasta: TCP still leaves.
    let bypassed = [tcp_ok("10.208.0.1", 7778, "any-10.208.0.1")];
    let out = run(&["--rm", cx.rootfs(), "sh", "-c", &probe_script_me(&bypassed)]);
    assert!(out.stderr.is_empty(), "no warning\n{out}");
    parse_probe_output_me(
        "without pasta, TCP through the socket bypass",
        &bypassed,
        &out,
    );
    check_from_ns(
        &cx,
        ns,
        "without pasta: the published port from the host",
        &[
            tcp_ok("127.0.0.1", 18082, &format!("tcp-80-{gw}")),
            tcp_ok(UPLINK_ADDR, 18082, &format!("tcp-80-{UPLINK_ADDR}")),
        ],
    );
    let outbound = network_inspect(&cx)[0]["Outbound"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        outbound.starts_with("none"),
        "network inspect's Outbound says there is none: {outbound:?}"
    );
}

// ---------------------------------------------------------------------------
// The source document's scenario

/// db and web as in the source document, without root: web reaches db by
/// its alias and by the link's variables, pings it, and its -P port is
/// reachable from the host on 127.0.0.1 and on the uplink's address.
#[test]
fn source_document_db_web() {
    let Some(cx) = rootless_ctx() else { return };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    detach_sh(
        &cx,
        &["--name", "db", "-e", "PG_VERSION=9.3", "--expose", "5432"],
        &servers(&[5432], &[]),
    );
    detach_sh(
        &cx,
        &["-P", "--expose", "5000", "--name", "web", "--link", "db:db"],
        &servers(&[5000], &[]),
    );
    wait_serving(&cx, "db", &[5432], &[]);
    wait_serving(&cx, "web", &[5000], &[]);
    let db_ip = container_ip(&cx, "db");
    let out = cx.rrun(&["port", "web", "5000"]);
    out.ok();
    let p: u16 = out
        .stdout
        .trim_end()
        .strip_prefix("0.0.0.0:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port web 5000 prints 0.0.0.0:PORT\n{out}"));

    let out = cx.rrun(&[
        "exec",
        "web",
        "sh",
        "-c",
        "echo $DB_PORT_5432_TCP_ADDR $DB_ENV_PG_VERSION; \
         ping -c1 -W2 db >/dev/null && echo pinged; \
         socat -T3 -u TCP:$DB_PORT_5432_TCP_ADDR:$DB_PORT_5432_TCP_PORT,connect-timeout=2 -",
    ]);
    out.ok();
    let web_ip = container_ip(&cx, "web");
    assert_eq!(
        out.stdout,
        format!("{db_ip} 9.3\npinged\ntcp-5432-{web_ip}\n"),
        "web's link variables, ping db, db through the variables\n{out}"
    );
    check_from_exec(
        &cx,
        "web reaching db by its alias",
        "web",
        &[tcp_ok("db", 5432, "tcp-5432-{me}")],
    );
    let gw = gateway(&cx);
    check_from_ns(
        &cx,
        ns,
        "web's -P port from the host",
        &[
            tcp_ok("127.0.0.1", p, &format!("tcp-5000-{gw}")),
            tcp_ok(UPLINK_ADDR, p, &format!("tcp-5000-{UPLINK_ADDR}")),
            tcp_no("127.0.0.1", 5000),
        ],
    );
}

// ---------------------------------------------------------------------------
// The socket bypass

/// A namespace "outside" the host, a veth away: the host's end is
/// 10.N.0.1/24, the outside's 10.N.0.2/24.
fn outside_ns(cx: &Ctx, n: u8) -> NetNs {
    let outside = NetNs::new().unwrap_or_else(|e| panic!("making the outside namespace: {e}"));
    connect(
        cx,
        host_ns(cx),
        &outside,
        "rrh0",
        &format!("10.{n}.0.1/24"),
        "rro0",
        &format!("10.{n}.0.2/24"),
        &[],
    );
    outside
}

/// The pids of the socket bypass's brokers of this test's containers.
fn brokers(cx: &Ctx) -> Vec<i32> {
    helpers_named(cx, "rrun-bypass")
}

/// The line of `netprobe MODE` output that starts with `local`.
#[track_caller]
fn probe_line<'a>(out: &'a Output, mode: &str) -> &'a str {
    let tag = format!("{mode}: ");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&tag))
        .unwrap_or_else(|| panic!("netprobe {mode} printed a line\n{out}"))
}

/// With the socket bypass (the default where the kernel has it), TCP
/// connections to the outside are made in the host's namespace: their own
/// address is the host's, their options are those set before connect(),
/// blocking and non-blocking connects, errors and SO_SNDTIMEO behave as
/// without it, and many at once all connect. The host's services on its
/// own addresses and its published ports are reached as from the host;
/// its loopback, the linked container and UDP are not bypassed. A socket
/// an epoll set watched before connect(), and every connection of `rrun
/// exec`, stay on the container's network. With --outbound-bypass=false
/// everything stays. The broker ends with the container.
#[test]
fn outbound_bypass() {
    let Some(cx) = rootless_ctx() else { return };
    let Some(np) = netprobe() else { return };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    let outside = outside_ns(&cx, 209);
    let _srv = peer_server(&cx, &outside, "", 9000, "peer");
    let _usrv = peer_server_udp(&cx, &outside, 9001, "upeer");
    // socat's default backlog (5) would drop the handshakes of many at once.
    let _many = cx.spawn(
        in_ns(
            &outside,
            "socat",
            &[
                "TCP-LISTEN:9002,fork,reuseaddr,backlog=64",
                "SYSTEM:echo many-$SOCAT_PEERADDR",
            ],
        ),
        Input::Null,
    );
    let _any = peer_server(&cx, ns, "", 7778, "any");
    let _loop = peer_server(&cx, ns, "127.0.0.1", 7777, "loop");
    wait_reachable(&cx, ns, &tcp_ok("10.209.0.2", 9000, "peer-10.209.0.1"));
    wait_reachable(&cx, ns, &tcp_ok("127.0.0.1", 7777, "loop-127.0.0.1"));
    wait_reachable(&cx, ns, &tcp_ok("10.209.0.2", 9002, "many-10.209.0.1"));
    let vol = format!("{np}:/np:ro");
    let aa = cx.detach(
        &[
            "--name", "aa", "--expose", "80", "-p", "18084:80", "-v", &vol,
        ],
        &["sh", "-c", &servers(&[80], &[])],
    );
    wait_serving(&cx, "aa", &[80], &[]);
    let b = brokers(&cx);
    assert_eq!(b.len(), 1, "aa's broker runs");
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/cwd", b[0])).ok(),
        Some(std::path::PathBuf::from("/")),
        "the broker keeps no directory of the caller's busy"
    );
    let gw = gateway(&cx);
    let script = format!(
        "for m in opts nonblock epoll keepfd mapped; do echo \"$m: $(/np $m 10.209.0.2:9000)\"; done; \
         echo \"many: $(/np many 10.209.0.2:9002 16)\"; \
         echo \"refused: $(/np refused 10.209.0.2:9999)\"; \
         echo \"timeout: $(/np timeout 10.209.0.77:80)\"; \
         echo \"any: $(/np opts {UPLINK_ADDR}:7778)\"; \
         echo \"published: $(/np opts {UPLINK_ADDR}:18084)\"; \
         echo \"loop: $(/np opts 127.0.0.1:7777)\"; \
         echo \"link: $(/np opts $(grep -w aa /etc/hosts | cut -f1 | head -n1):80)\";"
    );
    let out = cx.sh(&["--link", "aa:aa", "-v", &vol], &script);
    out.ok();
    let host = "local 10.209.0.1:";
    let l = probe_line(&out, "opts");
    assert!(
        l.starts_with(host)
            && l.contains(" nodelay 1 keepalive 1 keepidle 77 rcvbuf 131072 reply peer-10.209.0.1"),
        "a blocking connect leaves from the host, with its options\n{out}"
    );
    let l = probe_line(&out, "nonblock");
    assert!(
        l.starts_with(host)
            && l.contains(" first EINPROGRESS so_error 0 nonblock 1 reply peer-10.209.0.1"),
        "a non-blocking connect\n{out}"
    );
    let l = probe_line(&out, "epoll");
    assert!(
        !l.starts_with(host) && l.contains("reply peer-10.209.0.1"),
        "a socket watched by epoll stays (and reaches the outside through pasta)\n{out}"
    );
    let l = probe_line(&out, "keepfd");
    assert!(
        l.starts_with(host) && l.contains(" cloexec 0 1 "),
        "close-on-exec is kept as it was\n{out}"
    );
    let l = probe_line(&out, "mapped");
    assert!(
        l.starts_with("local [::ffff:10.209.0.1]:") && l.ends_with("reply peer-10.209.0.1"),
        "an IPv6 socket connecting to an IPv4-mapped address leaves from the host too\n{out}"
    );
    assert_eq!(
        probe_line(&out, "many"),
        "local - ok 16",
        "16 at once\n{out}"
    );
    assert_eq!(
        probe_line(&out, "refused"),
        "local - blocking ECONNREFUSED nonblocking ECONNREFUSED",
        "a closed port\n{out}"
    );
    let l = probe_line(&out, "timeout");
    let ms: u64 = l
        .strip_prefix("local - err EINPROGRESS ms ")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("SO_SNDTIMEO ends a blocking connect with EINPROGRESS\n{out}"));
    assert!(
        (250..3000).contains(&ms),
        "after about 300 ms, not {ms}\n{out}"
    );
    let l = probe_line(&out, "any");
    assert!(
        l.starts_with(&format!("local {UPLINK_ADDR}:"))
            && l.ends_with(&format!("reply any-{UPLINK_ADDR}")),
        "the host's service on all addresses, through the host's own address\n{out}"
    );
    assert!(
        probe_line(&out, "published").contains("reply tcp-80-"),
        "aa's published port through the host's address\n{out}"
    );
    assert!(
        probe_line(&out, "loop").starts_with("error connect: ECONNREFUSED"),
        "127.0.0.1 is the container's own loopback, not the host's\n{out}"
    );
    let l = probe_line(&out, "link");
    assert!(
        !l.starts_with(host) && l.contains("reply tcp-80-") && !l.contains(&gw),
        "the linked container over the bridge\n{out}"
    );
    check_from_container(
        &cx,
        "UDP with the bypass on: through pasta",
        &[],
        &[udp_ok("10.209.0.2", 9001, "upeer-10.209.0.1")],
    );

    let out = cx.rrun(&["exec", &aa, "/np", "opts", "10.209.0.2:9000"]);
    out.ok();
    assert!(
        !out.stdout.starts_with(host) && out.stdout.contains("reply peer-10.209.0.1"),
        "rrun exec's connections are not trapped: they go through pasta\n{out}"
    );

    // Off.
    let script = format!(
        "echo \"opts: $(/np opts 10.209.0.2:9000)\"; \
         echo \"any: $(/np opts {UPLINK_ADDR}:7778)\""
    );
    let out = cx.sh(&["--outbound-bypass=false", "-v", &vol], &script);
    out.ok();
    let l = probe_line(&out, "opts");
    assert!(
        !l.starts_with(host)
            && l.contains(" nodelay 1 keepalive 1 keepidle 77 rcvbuf 131072 reply peer-10.209.0.1"),
        "off: the connection is the container's, relayed by pasta\n{out}"
    );
    assert!(
        probe_line(&out, "any").starts_with("error connect:"),
        "off: the host's own address is pasta's copy in the user's namespace\n{out}"
    );

    cx.rrun(&["rm", "-f", "aa"]).ok();
    assert!(
        poll_until(SETTLE, || brokers(&cx).is_empty()),
        "the broker ends with its container: {:?}",
        brokers(&cx)
    );
}

/// The bypass across a container's life: each start of a restarting
/// container gets its filter and the same broker; a killed monitor leaves
/// neither the container nor its broker behind; a connect() waiting in
/// the broker (SYNs dropped) does not hold up `rrun stop` (the wait is
/// killable); each broker ends with its container.
#[test]
fn outbound_bypass_lifecycle() {
    let Some(cx) = rootless_ctx() else { return };
    let Some(np) = netprobe() else { return };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    let outside = outside_ns(&cx, 210);
    let _srv = peer_server(&cx, &outside, "", 9000, "peer");
    sh_ns(
        &cx,
        &outside,
        "nft add table inet t && \
         nft add chain inet t c '{ type filter hook input priority 0; }' && \
         nft add rule inet t c tcp dport 9999 drop",
    )
    .ok();
    wait_reachable(&cx, ns, &tcp_ok("10.210.0.2", 9000, "peer-10.210.0.1"));
    let vol = format!("{np}:/np:ro");
    let host = "local 10.210.0.1:";

    // Restarts.
    cx.detach(
        &["--name", "rs", "--restart", "on-failure:2", "-v", &vol],
        &["sh", "-c", "/np opts 10.210.0.2:9000; exit 3"],
    );
    cx.wait_exited("rs");
    let out = cx.logs(&[], "rs");
    assert_eq!(
        out.stdout.lines().filter(|l| l.starts_with(host)).count(),
        3,
        "the first start and both restarts leave through the host\n{out}"
    );

    // The monitor killed: the container goes with it (its parent-death
    // signal), and so does the broker.
    let id = cx.detach(
        &["--name", "mk", "-v", &vol],
        &[
            "sh",
            "-c",
            "while :; do /np opts 10.210.0.2:9000; sleep 0.1; done",
        ],
    );
    cx.wait_logs("mk", host);
    assert_eq!(brokers(&cx).len(), 1, "mk's broker runs");
    let st = cx.state_json(&id).expect("its state");
    let monitor = st["monitor_pid"].as_i64().expect("a monitor pid") as i32;
    // SAFETY: killing a container's monitor, a process of this test.
    unsafe { libc::kill(monitor, libc::SIGKILL) };
    assert!(
        poll_until(SETTLE, || brokers(&cx).is_empty()),
        "the broker ends with a container whose monitor was killed: {:?}",
        brokers(&cx)
    );

    // A connect() waiting in the broker, then stop.
    cx.detach(
        &["--name", "bl", "-v", &vol],
        &["/np", "opts", "10.210.0.2:9999"],
    );
    assert_eq!(cx.ps_status("bl").split(' ').next(), Some("Up"));
    let t = std::time::Instant::now();
    cx.rrun(&["stop", "-t", "1", "bl"]).ok();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "stop is not held up by the waiting connect ({:?})",
        t.elapsed()
    );

    cx.rrun(&["rm", "-f", "mk", "bl", "rs"]).ok();
    assert!(
        poll_until(SETTLE, || brokers(&cx).is_empty()),
        "every broker ends with its container: {:?}",
        brokers(&cx)
    );
}

/// DNS keeps working with and without the socket bypass (its UDP goes
/// through pasta either way), and --dns is honoured: a resolver outside,
/// named by --dns, answers the container's lookups.
#[test]
fn dns_through_either_path() {
    let Some(cx) = rootless_ctx() else { return };
    let Some(np) = netprobe() else { return };
    let _cleanup = Cleanup::new(&cx);
    let outside = outside_ns(&cx, 211);
    let mut dns = cx.spawn(
        in_ns(&outside, &np, &["dnsserve", "10.211.0.2:53"]),
        Input::Null,
    );
    dns.wait_text("ready");
    let script = "grep nameserver /etc/resolv.conf; nslookup probe.test";
    for opts in [
        &["--dns", "10.211.0.2"][..],
        &["--dns", "10.211.0.2", "--outbound-bypass=false"],
    ] {
        let out = cx.sh(opts, script);
        out.ok();
        assert!(
            out.stdout.contains("nameserver 10.211.0.2") && out.stdout.contains("10.1.2.3"),
            "{opts:?}: the --dns resolver answers\n{out}"
        );
    }
}
