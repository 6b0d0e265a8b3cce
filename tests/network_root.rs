//! Bridge networking as root and without root (issues 4 and 6): published
//! ports in every form, -P and `port`, links, --icc=false, outbound
//! traffic, unpublished ports closed to the neighbours, the files (hosts,
//! resolv.conf, hostname), every --net mode, network settings (--bip,
//! --mtu, --icc, --ip), `network inspect`/`network rm` — each once as root
//! and once rootless (`NAME::root`, `NAME::rootless`). Root only: the guard
//! against a container routing 127.0.0.0/8 to the host (CVE-2020-8558), a
//! UDP mapping handed to the next container (moby#8795), a FORWARD policy
//! of DROP with Docker's DOCKER-USER chain, bridge-nf-call-iptables=1, and
//! the point-to-point recipe of the README. What only rootless networking
//! has is in network_rootless.rs.
//!
//! Where the modes differ, each is asserted: rootless, the userspace
//! forwarder serves every published port (connecting from the client's own
//! address, as kernel DNAT keeps it as root: [`published_peer`]); the
//! bridge, veths and rules are in the user's network namespace
//! ([`bridge_ns_pid`]); outbound traffic goes through pasta, which copies
//! the host's uplink address (UPLINK_ADDR) into that namespace, where kernel
//! NAT turns it back to the containers (hairpin).
//!
//! Namespaces, servers and probes: tests/common/net.rs.

#[macro_use]
mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::*;
use std::collections::BTreeSet;
use std::process::Command;

/// `nft ARGS` where rrun's bridge is; its output (exit status not
/// checked: a missing table is a result).
fn nft(cx: &Ctx, args: &[&str]) -> Output {
    sh_bridge_ns(cx, &format!("nft {}", args.join(" ")))
}

both_modes!(
    publish_all_and_port,
    publish_every_form_tcp_udp_hairpin,
    unpublished_ports_closed_to_neighbour,
    outbound_tcp_udp,
    links_env_hosts_ps_inspect_errors,
    icc_false,
    ip_setting_is_the_default_host_address,
    network_settings_inspect_rm_and_cleanup,
    bip_and_mtu,
    hostname_and_dns_files,
    net_modes,
    inspect_network_fields,
    link_port_runs_hostname_and_add_host,
);

// ---------------------------------------------------------------------------
// -P, port, ps

fn publish_all_and_port(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    let id = cx.detach(
        &["-P", "--expose", "5000", "--name", "web"],
        &["httpd", "-f", "-p", "5000", "-h", "/etc"],
    );
    let out = cx.rrun(&["port", "web", "5000"]);
    out.ok();
    let n: u16 = out
        .stdout
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix("0.0.0.0:"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port web 5000 prints 0.0.0.0:PORT\n{out}"));
    // -P takes a free port of the host's ephemeral range (rootless too:
    // the host port is bound in the host's namespace).
    let range = sh_ns(&cx, ns, "cat /proc/sys/net/ipv4/ip_local_port_range");
    range.ok();
    let r: Vec<u16> = range
        .stdout
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    assert!(
        r.len() == 2 && (r[0]..=r[1]).contains(&n),
        "-P's port {n} is in the ephemeral range {:?}",
        range.stdout.trim()
    );

    let out = cx.rrun(&["port", "web"]);
    out.ok();
    assert_eq!(out.stdout, format!("5000/tcp -> 0.0.0.0:{n}\n"), "{out}");
    let row = ps_row(&cx, "web");
    assert_eq!(row["PORTS"], format!("0.0.0.0:{n}->5000/tcp"), "{row:?}");

    let out = cx.rrun(&["port", "web", "5432"]);
    out.expect_code(1);
    assert!(
        out.stdout.is_empty()
            && out
                .stderr
                .contains("No public port '5432/tcp' published for web"),
        "{out}"
    );

    // The published port serves httpd (its /hostname is the container's),
    // on the host's loopback and, rootless, on the uplink's address too.
    let short = &id[..12];
    let mut addrs = vec!["127.0.0.1"];
    if mode == Mode::Rootless {
        addrs.push(UPLINK_ADDR);
    }
    for addr in addrs {
        let mut last = String::new();
        let ok = poll_until(SETTLE, || {
            let c = in_ns(
                ns,
                "socat",
                &[
                    "-T",
                    "3",
                    "-t",
                    "2",
                    "-",
                    &format!("TCP:{addr}:{n},connect-timeout=2"),
                ],
            );
            last = cx
                .run(c, Input::Bytes(b"GET /hostname HTTP/1.0\r\n\r\n".to_vec()))
                .stdout;
            last.contains(short)
        });
        assert!(
            ok,
            "GET /hostname through {addr}:{n} answers the container's hostname {short}; \
             last reply:\n{last}"
        );
    }
}

// ---------------------------------------------------------------------------
// -p in every form

fn publish_every_form_tcp_udp_hairpin(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    // Another address of the host besides 127.0.0.1.
    add_address(&cx, ns, "rrt0", "rrt1", "10.200.0.1/24");
    let other = "10.200.0.1";
    let _id = cx.detach(
        &[
            "--name",
            "w3",
            "-p",
            "3000:80",
            "-p",
            "127.0.0.1:5000:5000",
            "-p",
            "127.0.0.1::5001",
            "-p",
            "5353:53/udp",
            "-p",
            "8000-8002:80-82",
        ],
        &["sh", "-c", &servers(&[80, 81, 82, 5000, 5001], &[53])],
    );
    wait_serving(&cx, "w3", &[80, 81, 82, 5000, 5001], &[53]);

    let out = cx.rrun(&["port", "w3", "5001"]);
    out.ok();
    let m: u16 = out
        .stdout
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix("127.0.0.1:"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port w3 5001 prints 127.0.0.1:PORT\n{out}"));
    let out = cx.rrun(&["port", "w3", "53/udp"]);
    out.ok();
    assert_eq!(out.stdout, "0.0.0.0:5353\n", "{out}");
    let out = cx.rrun(&["port", "w3"]);
    out.ok();
    let got: BTreeSet<&str> = out.lines().into_iter().collect();
    let m_line = format!("5001/tcp -> 127.0.0.1:{m}");
    let want: BTreeSet<&str> = [
        "80/tcp -> 0.0.0.0:3000",
        "80/tcp -> 0.0.0.0:8000",
        "81/tcp -> 0.0.0.0:8001",
        "82/tcp -> 0.0.0.0:8002",
        "5000/tcp -> 127.0.0.1:5000",
        &m_line,
        "53/udp -> 0.0.0.0:5353",
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "port w3 lists every binding\n{out}");

    // From the host: what the container's servers see as the client is
    // the client's address as root (the gateway for the host's loopback),
    // the gateway rootless (the forwarder connects from there).
    let lo = published_peer(&cx, "127.0.0.1");
    let ot = published_peer(&cx, other);
    let mut probes = vec![
        tcp_ok("127.0.0.1", 3000, &format!("tcp-80-{lo}")),
        tcp_ok(other, 3000, &format!("tcp-80-{ot}")),
        tcp_ok("127.0.0.1", 5000, &format!("tcp-5000-{lo}")),
        tcp_no(other, 5000),
        tcp_ok("127.0.0.1", m, &format!("tcp-5001-{lo}")),
        tcp_no(other, m),
        udp_ok("127.0.0.1", 5353, &format!("udp-53-{lo}")),
        udp_ok(other, 5353, &format!("udp-53-{ot}")),
        tcp_ok("127.0.0.1", 8000, &format!("tcp-80-{lo}")),
        tcp_ok("127.0.0.1", 8001, &format!("tcp-81-{lo}")),
        tcp_ok("127.0.0.1", 8002, &format!("tcp-82-{lo}")),
        tcp_ok(other, 8000, &format!("tcp-80-{ot}")),
        tcp_ok(other, 8001, &format!("tcp-81-{ot}")),
        tcp_ok(other, 8002, &format!("tcp-82-{ot}")),
    ];
    if mode == Mode::Rootless {
        // The uplink's address, which pasta copies into the user's
        // namespace, is an address of the host like any other.
        let up = published_peer(&cx, UPLINK_ADDR);
        probes.extend([
            tcp_ok(UPLINK_ADDR, 3000, &format!("tcp-80-{up}")),
            tcp_no(UPLINK_ADDR, 5000),
            udp_ok(UPLINK_ADDR, 5353, &format!("udp-53-{up}")),
        ]);
    }
    check_from_ns(
        &cx,
        ns,
        "published ports from the host (127.0.0.1 and its other addresses)",
        &probes,
    );

    // A second container cannot take a published port: 125, naming it,
    // and nothing of it stays.
    for (spec, port) in [("3000:80", "3000"), ("5353:53/udp", "5353")] {
        let out = cx.rrun(&["-d", "-p", spec, cx.rootfs(), "sleep", "1000"]);
        out.expect_rrun_error();
        assert!(
            out.stderr.contains(port),
            "the error names the port {port}\n{out}"
        );
    }
    let out = cx.rrun(&["ps", "-a", "-q"]);
    out.ok();
    assert_eq!(
        out.lines().len(),
        1,
        "failed starts leave no container\n{out}"
    );
    assert_eq!(rrun_veths(&cx).len(), 1, "failed starts leave no veth");
    assert_eq!(leases(&cx).len(), 1, "failed starts leave no lease");

    // Hairpin: containers reach the published ports through the host's
    // address, also the publishing container itself. As root, kernel NAT
    // masquerades them: the server sees the gateway. Rootless, the host's
    // address in the user's namespace is the uplink's (pasta's copy):
    // kernel NAT there, the gateway again; another address of the host is
    // reached through pasta, whose socket on the host connects from that
    // address to the forwarder, which connects from it in turn. With the
    // socket bypass (rootless, the default) a TCP connection is made on
    // the host itself: to the uplink's address too, from that address,
    // as the host's own clients are seen.
    let gw = gateway(&cx);
    let via_other = match mode {
        Mode::Root => gw.clone(),
        Mode::Rootless => other.to_string(),
    };
    let mut hairpin = vec![
        tcp_ok(other, 3000, &format!("tcp-80-{via_other}")),
        tcp_ok(other, 8001, &format!("tcp-81-{via_other}")),
        udp_ok(other, 5353, &format!("udp-53-{via_other}")),
    ];
    if mode == Mode::Rootless {
        let up = published_peer(&cx, UPLINK_ADDR);
        hairpin.extend([
            tcp_ok(UPLINK_ADDR, 3000, &format!("tcp-80-{up}")),
            tcp_ok(UPLINK_ADDR, 8001, &format!("tcp-81-{up}")),
            udp_ok(UPLINK_ADDR, 5353, &format!("udp-53-{gw}")),
        ]);
    }
    check_from_container(
        &cx,
        "published ports from another container through the host's address",
        &[],
        &hairpin,
    );
    if mode == Mode::Rootless {
        check_from_container(
            &cx,
            "published ports from another container, socket bypass off",
            &["--outbound-bypass=false"],
            &[
                tcp_ok(other, 3000, &format!("tcp-80-{other}")),
                tcp_ok(UPLINK_ADDR, 3000, &format!("tcp-80-{gw}")),
                tcp_ok(UPLINK_ADDR, 8001, &format!("tcp-81-{gw}")),
            ],
        );
    }
    let host_addr = match mode {
        Mode::Root => other,
        Mode::Rootless => UPLINK_ADDR,
    };
    check_from_exec(
        &cx,
        "published ports from the publishing container itself",
        "w3",
        &[
            tcp_ok(host_addr, 3000, &format!("tcp-80-{gw}")),
            udp_ok(host_addr, 5353, &format!("udp-53-{gw}")),
        ],
    );
}

// ---------------------------------------------------------------------------
// What must stay closed

fn unpublished_ports_closed_to_neighbour(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    let outside = NetNs::new().unwrap_or_else(|e| panic!("making the outside namespace: {e}"));
    connect(
        &cx,
        ns,
        &outside,
        "rrh0",
        "10.201.0.1/24",
        "rro0",
        "10.201.0.2/24",
        &[],
    );
    let _id = cx.detach(
        &["--name", "cc", "-p", "3000:80"],
        &["sh", "-c", &servers(&[80, 81], &[54])],
    );
    let ip = container_ip(&cx, "cc");
    let subnet = network_inspect(&cx)[0]["Subnet"]
        .as_str()
        .expect("network inspect has a Subnet")
        .to_string();
    // The neighbour routes the container subnet through the host.
    sh_ns(
        &cx,
        &outside,
        &format!("ip route add {subnet} via 10.201.0.1"),
    )
    .ok();
    // The route works: a service of the host answers on the bridge's
    // address as root; rootless the bridge is not on the host (the
    // neighbour reaches the host's own address).
    let _host_srv = peer_server(&cx, ns, "", 7000, "host");
    let host_side = match mode {
        Mode::Root => gateway(&cx),
        Mode::Rootless => "10.201.0.1".to_string(),
    };
    wait_reachable(&cx, &outside, &tcp_ok(&host_side, 7000, "host-10.201.0.2"));
    wait_serving(&cx, "cc", &[80, 81], &[54]);
    let peer = published_peer(&cx, "10.201.0.2");
    check_from_ns(
        &cx,
        &outside,
        "from a neighbour namespace routing the container subnet through the host",
        &[
            tcp_ok("10.201.0.1", 3000, &format!("tcp-80-{peer}")),
            tcp_no(&ip, 80),
            tcp_no(&ip, 81),
            udp_no(&ip, 54),
        ],
    );
}

#[test]
fn root_container_cannot_reach_host_loopback() {
    let Some(cx) = net_ctx(Mode::Root) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    let _loop = peer_server(&cx, ns, "127.0.0.1", 7777, "loop");
    let _any = peer_server(&cx, ns, "", 7778, "any");
    wait_reachable(&cx, ns, &tcp_ok("127.0.0.1", 7777, "loop"));
    wait_reachable(&cx, ns, &tcp_ok("127.0.0.1", 7778, "any"));
    // Make the network, then read its gateway.
    cx.sh(&[], "true").ok();
    let gw = gateway(&cx);
    check_from_container(
        &cx,
        "a container and the host's services",
        &[],
        &[
            // A service on all addresses is reachable (control)...
            tcp_ok(&gw, 7778, "any"),
            // ...one on the host's 127.0.0.1 is not, by any address.
            tcp_no(&gw, 7777),
            tcp_no("127.0.0.1", 7777),
        ],
    );

    // CVE-2020-8558: a container that routes 127.0.0.0/8 to the host (done
    // here from outside, as root, in its namespace: it needs NET_ADMIN)
    // sends packets for 127.0.0.1 to the bridge, whose route_localnet
    // would accept them but for rrun's guard.
    cx.detach(&["--name", "cc"], &["sleep", "1000"]);
    let pid = cx.inspect_f("{{.State.Pid}}", "cc");
    let mut c = Command::new("nsenter");
    c.args([
        &format!("--net=/proc/{pid}/ns/net"),
        "sh",
        "-c",
        &format!(
            "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet && \
             echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet && \
             ip addr del 127.0.0.1/8 dev lo && ip route add 127.0.0.0/8 via {gw} dev eth0"
        ),
    ])
    .env_clear()
    .env("PATH", HOST_PATH);
    cx.run(c, Input::Null).ok();
    check_from_exec(
        &cx,
        "a container routing 127.0.0.0/8 to the host",
        "cc",
        &[tcp_no("127.0.0.1", 7777), tcp_ok(&gw, 7778, "any")],
    );
}

// ---------------------------------------------------------------------------
// Outbound

/// A server in a namespace outside the host sees the host's address on
/// the link to it: as root by masquerade, rootless because pasta connects
/// from the host. Not the uplink's address: pasta copies that one into the
/// user's namespace, so it is no "outside".
fn outbound_tcp_udp(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    let outside = NetNs::new().unwrap_or_else(|e| panic!("making the outside namespace: {e}"));
    // The outside could even route the private ranges back: only
    // masquerade (or pasta) makes it see the host's address.
    connect(
        &cx,
        ns,
        &outside,
        "rrh0",
        "10.202.0.1/24",
        "rro0",
        "10.202.0.2/24",
        &[
            "172.16.0.0/12 via 10.202.0.1",
            "192.168.0.0/16 via 10.202.0.1",
        ],
    );
    let _srv = peer_server(&cx, &outside, "", 9000, "peer");
    let _usrv = peer_server_udp(&cx, &outside, 9001, "upeer");
    wait_reachable(&cx, ns, &tcp_ok("10.202.0.2", 9000, "peer-10.202.0.1"));
    wait_reachable(&cx, ns, &udp_ok("10.202.0.2", 9001, "upeer-10.202.0.1"));
    check_from_container(
        &cx,
        "a container connecting to a server outside",
        &[],
        &[
            tcp_ok("10.202.0.2", 9000, "peer-10.202.0.1"),
            udp_ok("10.202.0.2", 9001, "upeer-10.202.0.1"),
        ],
    );
    let outbound = network_inspect(&cx)[0]["Outbound"].clone();
    match mode {
        Mode::Root => assert_eq!(outbound, "host", "network inspect's Outbound"),
        Mode::Rootless => {
            let pasta = cx.pasta().expect("pasta.json names a live pasta");
            assert_eq!(
                outbound,
                format!("pasta (pid {pasta})"),
                "network inspect's Outbound"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Links

fn links_env_hosts_ps_inspect_errors(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let db = cx.detach(
        &[
            "--name",
            "db",
            "-e",
            "PG_VERSION=9.3",
            "--expose",
            "5432",
            "--expose",
            "5433/udp",
        ],
        &["httpd", "-f", "-p", "5432", "-h", "/tmp"],
    );
    let ip = container_ip(&cx, "db");
    let short = &db[..12];

    // The environment, exactly the set Docker's links give.
    let out = cx.rrun(&[
        "--rm",
        "--name",
        "web2",
        "--link",
        "db:db",
        cx.rootfs(),
        "env",
    ]);
    out.ok();
    let got: BTreeSet<String> = out
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("DB_"))
        .map(str::to_string)
        .collect();
    let want: BTreeSet<String> = [
        "DB_NAME=/web2/db".to_string(),
        format!("DB_PORT=tcp://{ip}:5432"),
        format!("DB_PORT_5432_TCP=tcp://{ip}:5432"),
        format!("DB_PORT_5432_TCP_ADDR={ip}"),
        "DB_PORT_5432_TCP_PORT=5432".to_string(),
        "DB_PORT_5432_TCP_PROTO=tcp".to_string(),
        format!("DB_PORT_5433_UDP=udp://{ip}:5433"),
        format!("DB_PORT_5433_UDP_ADDR={ip}"),
        "DB_PORT_5433_UDP_PORT=5433".to_string(),
        "DB_PORT_5433_UDP_PROTO=udp".to_string(),
        "DB_ENV_PG_VERSION=9.3".to_string(),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "the link's variables\n{out}");

    // /etc/hosts: `IP<TAB>alias target-hostname [target-name]`; the alias
    // resolves (ping).
    let out = cx.sh(
        &["--link", "db:db"],
        "cat /etc/hosts && ping -c1 -W2 db >/dev/null && echo pinged",
    );
    out.ok();
    let line = format!("{ip}\tdb {short}");
    assert!(
        out.lines().contains(&line.as_str()),
        "/etc/hosts has {line:?}\n{out}"
    );
    assert!(out.lines().contains(&"pinged"), "ping -c1 db works\n{out}");
    let out = cx.sh(&["--link", "db:mydb"], "cat /etc/hosts; env");
    out.ok();
    let line = format!("{ip}\tmydb {short} db");
    assert!(
        out.lines().contains(&line.as_str()),
        "/etc/hosts has {line:?}\n{out}"
    );
    let var = format!("MYDB_PORT=tcp://{ip}:5432");
    assert!(out.lines().contains(&var.as_str()), "env has {var}\n{out}");

    // ps and inspect of a running link.
    let _web = cx.detach(&["--name", "web", "--link", "db:db"], &["sleep", "1000"]);
    let row = ps_row(&cx, "db,web/db");
    assert!(row["PORTS"].contains("5432/tcp"), "{row:?}");
    ps_row(&cx, "web");
    assert_eq!(
        cx.inspect_f("{{.HostConfig.Links}}", "web"),
        "[/db:/web/db]"
    );

    // Bad links: 125 and nothing made.
    let before = cx.containers().len();
    let out = cx.sh(&["--link", "nosuch:x"], "true");
    out.expect_rrun_error();
    assert!(
        out.stderr
            .contains("could not get container for nosuch: No such container: nosuch"),
        "{out}"
    );
    cx.detach(&["--name", "stopped"], &["true"]);
    cx.wait_exited("stopped");
    let out = cx.sh(&["--link", "stopped:s"], "true");
    out.expect_rrun_error();
    assert!(
        out.stderr.contains("stopped"),
        "the error names the target\n{out}"
    );
    for bad in ["db:bad alias", "db:-x", "db:a/b"] {
        let out = cx.sh(&["--link", bad], "true");
        out.expect_rrun_error();
    }
    assert_eq!(
        cx.containers().len(),
        before + 1,
        "only the stopped container was added"
    );
    assert_eq!(leases(&cx).len(), 2, "db and web hold leases, nothing else");
}

// ---------------------------------------------------------------------------
// --icc=false

/// `nf_call`: as root, the value bridge-nf-call-iptables is set to first
/// (br_netfilter must not change the result). `via_env`: --icc=false
/// comes from RRUN_ICC instead of the flag.
fn icc_false_with(cx: &Ctx, nf_call: Option<&str>, via_env: bool) {
    let _cleanup = Cleanup::new(cx);
    if let Some(nf_call) = nf_call {
        let ns = host_ns(cx);
        let knob = "/proc/sys/net/bridge/bridge-nf-call-iptables";
        let has_knob = sh_ns(cx, ns, &format!("test -e {knob}")).code() == Some(0);
        if has_knob {
            let out = sh_ns(cx, ns, &format!("echo {nf_call} > {knob} && cat {knob}"));
            out.ok();
            assert_eq!(out.stdout.trim(), nf_call, "{out}");
        } else if nf_call == "1" {
            skip(
                "no /proc/sys/net/bridge in the test's network namespace \
                 (br_netfilter is not loaded)",
            );
            return;
        }
    }
    // The setting comes with the first run: a flag here, the variable there.
    let mut args = vec!["-d", "--name", "db", "--expose", "5432"];
    if !via_env {
        args.push("--icc=false");
    }
    let script = servers(&[5432, 6000], &[]);
    let args: Vec<&str> = args
        .into_iter()
        .chain([cx.rootfs(), "sh", "-c", &script])
        .collect();
    let mut c = cx.cmd(&args);
    if via_env {
        c.env("RRUN_ICC", "false");
    }
    cx.run(c, Input::Null).ok();
    let v = network_inspect(cx);
    assert_eq!(v[0]["ICC"], serde_json::json!(false), "{v:?}");
    let ip = container_ip(cx, "db");
    wait_serving(cx, "db", &[5432, 6000], &[]);
    check_from_container(
        cx,
        "an unlinked container with --icc=false",
        &[],
        &[tcp_no(&ip, 5432), tcp_no(&ip, 6000)],
    );
    check_from_container(
        cx,
        "a container linked to db with --icc=false",
        &["--link", "db:db"],
        // db sees the linked container's own address: no NAT between
        // containers, in either mode.
        &[tcp_ok(&ip, 5432, "tcp-5432-{me}"), tcp_no(&ip, 6000)],
    );
}

fn icc_false(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    match mode {
        Mode::Root => icc_false_with(&cx, Some("0"), false),
        Mode::Rootless => icc_false_with(&cx, None, false),
    }
}

#[test]
fn root_icc_false_bridge_nf_call_iptables_1() {
    let Some(cx) = net_ctx(Mode::Root) else {
        return;
    };
    icc_false_with(&cx, Some("1"), true);
}

/// --ip (a network setting): the host address of -p and -P without one.
fn ip_setting_is_the_default_host_address(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    add_address(&cx, ns, "rrt0", "rrt1", "10.205.0.1/24");
    cx.detach(
        &[
            "--ip",
            "127.0.0.1",
            "--name",
            "ww",
            "-p",
            "3000:80",
            "-P",
            "--expose",
            "81",
        ],
        &["sh", "-c", &servers(&[80, 81], &[])],
    );
    let out = cx.rrun(&["port", "ww", "81"]);
    out.ok();
    let n: u16 = out
        .stdout
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix("127.0.0.1:"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("-P with --ip 127.0.0.1 binds 127.0.0.1\n{out}"));
    let out = cx.rrun(&["port", "ww", "80"]);
    out.ok();
    assert_eq!(out.stdout, "127.0.0.1:3000\n", "{out}");
    wait_serving(&cx, "ww", &[80, 81], &[]);
    let lo = published_peer(&cx, "127.0.0.1");
    check_from_ns(
        &cx,
        ns,
        "ports published with --ip 127.0.0.1",
        &[
            tcp_ok("127.0.0.1", 3000, &format!("tcp-80-{lo}")),
            tcp_ok("127.0.0.1", n, &format!("tcp-81-{lo}")),
            tcp_no("10.205.0.1", 3000),
            tcp_no("10.205.0.1", n),
        ],
    );
}

// ---------------------------------------------------------------------------
// A UDP mapping handed to another container (moby#8795)

#[test]
fn root_udp_mapping_moves_to_the_next_container() {
    let Some(cx) = net_ctx(Mode::Root) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    // A client that keeps its source port: its datagrams share one
    // conntrack entry for as long as it lives (30 s without replies).
    let send = |want: &str| {
        let c = in_ns(
            ns,
            "socat",
            &[
                "-T",
                "3",
                "-t",
                "1.5",
                "-",
                "UDP:127.0.0.1:5353,sourceport=40123,reuseaddr",
            ],
        );
        let out = cx.run(c, Input::Bytes(b"x\n".to_vec()));
        out.stdout.trim().starts_with(want)
    };
    let server = |tag: &str| {
        format!("exec socat UDP-RECVFROM:53,fork SYSTEM:'read -r l; echo {tag}-$SOCAT_PEERADDR'")
    };
    cx.detach(
        &["--name", "ua", "-p", "5353:53/udp"],
        &["sh", "-c", &server("a")],
    );
    assert!(
        poll_until(SETTLE, || send("a-")),
        "the first container answers on 127.0.0.1:5353"
    );
    cx.rrun(&["rm", "-f", "ua"]).ok();
    cx.detach(
        &["--name", "ub", "-p", "5353:53/udp"],
        &["sh", "-c", &server("b")],
    );
    let b_ip = container_ip(&cx, "ub");
    wait_reachable(&cx, ns, &udp_ok(&b_ip, 53, "b"));
    assert!(
        send("b-"),
        "the same client (same source port) reaches the next container on 5353/udp: \
         the old container's conntrack entries were deleted with its mapping"
    );
}

// ---------------------------------------------------------------------------
// Network settings, inspect, rm, and what containers leave

fn network_settings_inspect_rm_and_cleanup(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    cx.detach(
        &[
            "--icc=false",
            "--name",
            "db",
            "--expose",
            "5432",
            "-p",
            "3000:5432",
            "-p",
            "5353:53/udp",
            "-p",
            "127.0.0.1:4000:4000",
        ],
        &["sleep", "1000"],
    );
    cx.detach(&["--name", "web", "--link", "db:db"], &["sleep", "1000"]);
    let db_ip = container_ip(&cx, "db");
    let web_ip = container_ip(&cx, "web");
    assert_eq!(rrun_veths(&cx).len(), 2, "one veth per container");
    if mode == Mode::Rootless {
        // Nothing of the network is on the host itself.
        let host = interfaces(host_ns(&cx));
        assert!(
            !host.iter().any(|i| i == "rrun0" || i.starts_with("rrv")),
            "rootless, the bridge and veths are in the user's network namespace, \
             not the host's: {host:?}"
        );
    }

    // A different setting later: 125, saying how to recreate the network.
    let out = cx.sh(&["--bip", "10.99.0.1/16"], "true");
    out.expect_rrun_error();
    assert!(out.stderr.contains("rrun network rm"), "{out}");

    let v = network_inspect(&cx);
    assert_eq!(v.len(), 1, "{v:?}");
    let n = &v[0];
    assert_eq!(n["Subnet"], "172.17.0.0/16", "{n:#}");
    assert_eq!(n["Gateway"], "172.17.0.1", "{n:#}");
    // Root: the host's default route's interface's. Rootless: 65520, the
    // largest pasta's tap takes (the host's MTU means nothing on a path
    // that ends TCP in the host's stack).
    let mtu = match mode {
        Mode::Root => 1500,
        Mode::Rootless => 65520,
    };
    assert_eq!(n["MTU"], mtu, "{n:#}");
    assert_eq!(n["ICC"], false, "{n:#}");
    assert_eq!(n["Rootless"], mode == Mode::Rootless, "{n:#}");
    assert_eq!(n["UserlandProxySource"], "transparent", "{n:#}");
    let mut got: Vec<String> = n["Containers"]
        .as_object()
        .map(|m| {
            m.values()
                .map(|c| {
                    format!(
                        "{} {}",
                        c["Name"].as_str().unwrap_or("?"),
                        c["IPv4Address"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    got.sort();
    assert_eq!(
        got,
        [format!("db {db_ip}/16"), format!("web {web_ip}/16")],
        "{n:#}"
    );

    // As root, the published ports are map elements; rootless, the
    // forwarder serves them (hairpin too), so the user's namespace has
    // none. A port on 127.0.0.1 is the forwarder's in both modes (DNAT
    // from loopback would need route_localnet). Link rules are set
    // elements either way.
    let ip_table = nft(&cx, &["list", "table", "ip", "rrun"]);
    ip_table.ok();
    for want in [
        format!("3000 : {db_ip} . 5432"),
        format!("5353 : {db_ip} . 53"),
    ] {
        assert_eq!(
            ip_table.stdout.contains(&want),
            mode == Mode::Root,
            "[{mode}] table ip rrun has {want} as root only\n{ip_table}"
        );
    }
    assert!(
        !ip_table.stdout.contains("127.0.0.1 . 4000"),
        "[{mode}] a port on 127.0.0.1 is no map element\n{ip_table}"
    );
    let br_table = nft(&cx, &["list", "table", "bridge", "rrun"]);
    br_table.ok();
    let want = format!("{web_ip} . {db_ip} . 5432");
    assert!(
        br_table.stdout.contains(&want),
        "table bridge rrun has {want}\n{br_table}"
    );
    let pasta = match mode {
        Mode::Root => None,
        Mode::Rootless => Some(cx.pasta().expect("the rootless network has a live pasta")),
    };

    // network rm while containers use it: refused, nothing removed.
    let out = cx.rrun(&["network", "rm"]);
    assert_ne!(
        out.code(),
        Some(0),
        "network rm with running containers is refused\n{out}"
    );
    assert!(
        bridge_interfaces(&cx).contains(&"rrun0".to_string()),
        "the bridge stays"
    );
    assert_eq!(cx.pasta(), pasta, "pasta stays");

    // rm -f of everything: no veth, no element, no lease.
    cx.rrun(&["rm", "-f", "db", "web"]).ok();
    let gone = poll_until(SETTLE, || rrun_veths(&cx).is_empty());
    assert!(gone, "veths left after rm -f: {:?}", rrun_veths(&cx));
    for table in [
        ["list", "table", "ip", "rrun"],
        ["list", "table", "bridge", "rrun"],
    ] {
        let out = nft(&cx, &table);
        out.ok();
        assert!(
            !out.stdout.contains("elements"),
            "no element is left after rm -f\n{out}"
        );
    }
    assert!(leases(&cx).is_empty(), "no lease is left after rm -f");

    // network rm: no bridge, no table, no leases; rootless, no pasta.
    let out = cx.rrun(&["network", "rm"]);
    out.ok();
    assert_eq!(out.stdout, "bridge\n", "{out}");
    assert!(
        !bridge_interfaces(&cx).contains(&"rrun0".to_string()),
        "no rrun0 after network rm: {:?}",
        bridge_interfaces(&cx)
    );
    let tables = nft(&cx, &["list", "tables"]);
    tables.ok();
    assert!(
        !tables.lines().iter().any(|l| l.ends_with(" rrun")),
        "no rrun table after network rm\n{tables}"
    );
    assert!(
        network_inspect(&cx).is_empty(),
        "network inspect shows no network"
    );
    assert!(
        !cx.state.join("network/leases.json").exists(),
        "the leases are gone with the network"
    );
    if let Some(pid) = pasta {
        assert!(
            poll_until(SETTLE, || !pid_alive(pid)),
            "network rm stops pasta (pid {pid})"
        );
        assert!(
            !cx.state.join("network/pasta.json").exists(),
            "pasta's record is gone with the network"
        );
    }

    // A new network may now have other settings (rootless: a new pasta).
    let out = cx.sh(&["--bip", "10.99.0.1/16"], "ip -4 -o addr show eth0");
    out.ok();
    assert!(out.stdout.contains("inet 10.99."), "{out}");
    if let Some(old) = pasta {
        let new = cx.pasta();
        assert!(
            new.is_some() && new != Some(old),
            "the new network has a pasta of its own: {new:?} (the old one was {old})"
        );
    }
}

fn bip_and_mtu(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let out = cx.sh(
        &["--bip", "192.168.5.1/24", "--mtu", "1400"],
        "ip -4 -o addr show eth0; echo --; cat /sys/class/net/eth0/mtu; echo --; ip route",
    );
    out.ok();
    let parts: Vec<&str> = out.stdout.split("--\n").collect();
    assert_eq!(parts.len(), 3, "{out}");
    let addr = parts[0]
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or("");
    let host: Option<u8> = addr
        .strip_prefix("192.168.5.")
        .and_then(|r| r.strip_suffix("/24"))
        .and_then(|h| h.parse().ok());
    assert!(
        host.is_some_and(|h| (2..=254).contains(&h)),
        "eth0 has 192.168.5.x/24, not {addr:?}\n{out}"
    );
    assert_eq!(parts[1].trim(), "1400", "eth0's MTU\n{out}");
    assert!(
        parts[2].lines().any(
            |l| l.split_whitespace().collect::<Vec<_>>()[..].starts_with(&[
                "default",
                "via",
                "192.168.5.1"
            ])
        ),
        "the default route goes via 192.168.5.1\n{out}"
    );
    // (/sys here is the machine's namespace's: ask ip, where the bridge is.)
    // With a container on it: the kernel sets an empty bridge's MTU back to
    // 1500 (rrun gives the MTU when it makes the bridge, which the kernel
    // does not count as set by the user), and the --rm container's veth
    // goes away with its namespace, asynchronously.
    cx.detach(&["--name", "mm"], &["sleep", "1000"]);
    let br = sh_bridge_ns(&cx, "ip -o -4 addr show rrun0; ip -o link show rrun0");
    br.ok();
    assert!(br.stdout.contains("inet 192.168.5.1/24"), "{br}");
    assert!(br.stdout.contains(" mtu 1400 "), "the bridge's MTU\n{br}");
    let v = network_inspect(&cx);
    assert_eq!(v[0]["Subnet"], "192.168.5.0/24", "{v:?}");
    assert_eq!(v[0]["MTU"], 1400, "{v:?}");
    // Later runs without settings use the network's; other ones are refused.
    cx.sh(&[], "true").ok();
    let out = cx.sh(&["--mtu", "1500"], "true");
    out.expect_rrun_error();
    assert!(out.stderr.contains("rrun network rm"), "{out}");
}

// ---------------------------------------------------------------------------
// Hostname and DNS files

fn hostname_and_dns_files(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let out = cx.sh(
        &[
            "-h",
            "myhost",
            "--dns",
            "10.1.2.3",
            "--dns-search",
            "example.com",
        ],
        "cat /etc/resolv.conf; echo --; cat /etc/hostname; echo --; hostname",
    );
    out.ok();
    assert_eq!(
        out.stdout, "search example.com\nnameserver 10.1.2.3\n--\nmyhost\n--\nmyhost\n",
        "{out}"
    );
    for (flag, value) in [
        ("--dns", "not-an-ip"),
        ("--dns-search", "a b"),
        ("--dns-search", "a#b"),
        ("-h", "a b"),
    ] {
        let out = cx.sh(&[flag, value], "true");
        out.expect_rrun_error();
        assert!(
            out.stderr.contains(value),
            "the error names {value:?}\n{out}"
        );
    }
    cx.assert_nothing_left("bad --dns/--dns-search/-h");
}

// ---------------------------------------------------------------------------
// --net modes

fn net_modes(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    add_address(&cx, ns, "rrhost0", "rrhost1", "10.204.0.1/24");

    let out = cx.sh(&["--net=none"], "ip -o link");
    out.ok();
    assert_eq!(
        ip_link_names(&out.stdout),
        ["lo"],
        "--net=none: lo only\n{out}"
    );

    let out = cx.sh(&["--net=host"], "ip -o link; ip -4 -o addr");
    out.ok();
    assert_eq!(
        ip_link_names(
            &out.lines()
                .into_iter()
                .filter(|l| !l.contains(" inet "))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        interfaces(ns),
        "--net=host sees the host's interfaces\n{out}"
    );
    assert!(out.stdout.contains("inet 10.204.0.1/24"), "{out}");

    cx.detach(&["--name", "db"], &["sleep", "1000"]);
    let ip = container_ip(&cx, "db");
    let out = cx.sh(&["--net=container:db"], "ip -4 -o addr show eth0");
    out.ok();
    assert!(
        out.stdout.contains(&format!("inet {ip}/")),
        "--net=container:db has db's address {ip}\n{out}"
    );
    for opts in [
        &["-p", "5000:5000"][..],
        &["-P", "--expose", "80"][..],
        &["--link", "db:x"][..],
        &["-h", "foo"][..],
        &["--dns", "10.1.2.3"][..],
        &["--expose", "80"][..],
        &["--add-host", "a:10.0.0.1"][..],
    ] {
        let mut o = vec!["--net=container:db"];
        o.extend_from_slice(opts);
        let out = cx.sh(&o, "true");
        out.expect_rrun_error();
        assert!(
            out.stderr.contains("conflicting options"),
            "{opts:?}\n{out}"
        );
    }
    let out = cx.sh(&["--net=container:nosuch"], "true");
    out.expect_rrun_error();
    assert!(out.stderr.contains("nosuch"), "{out}");
    let done = cx.detach(&["--name", "done"], &["true"]);
    cx.wait_exited("done");
    let out = cx.sh(&["--net=container:done"], "true");
    out.expect_rrun_error();
    assert_eq!(
        out.stderr,
        format!("rrun: cannot join network of a non running container: {done}\n"),
        "Docker's words\n{out}"
    );
    assert_eq!(leases(&cx).len(), 1, "only db holds a lease");
}

// ---------------------------------------------------------------------------
// Docker on the same host

#[test]
fn root_forward_drop_with_docker_user() {
    let Some(cx) = net_ctx(Mode::Root) else {
        return;
    };
    if which("iptables").is_none() {
        skip("the iptables binary is not installed");
        return;
    }
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    // What Docker leaves on a host: a FORWARD policy of DROP, DOCKER-USER.
    sh_ns(
        &cx,
        ns,
        "iptables -w -N DOCKER-USER && iptables -w -P FORWARD DROP && \
         iptables -w -A FORWARD -j DOCKER-USER",
    )
    .ok();
    let outside = NetNs::new().unwrap_or_else(|e| panic!("making the outside namespace: {e}"));
    connect(
        &cx,
        ns,
        &outside,
        "rrh0",
        "10.203.0.1/24",
        "rro0",
        "10.203.0.2/24",
        &[],
    );
    let _srv = peer_server(&cx, &outside, "", 9000, "peer");
    wait_reachable(&cx, ns, &tcp_ok("10.203.0.2", 9000, "peer-10.203.0.1"));

    cx.detach(
        &["--name", "db", "-p", "3000:80"],
        &["sh", "-c", &servers(&[80], &[])],
    );
    let ip = container_ip(&cx, "db");
    let rules = sh_ns(&cx, ns, "iptables -w -S DOCKER-USER");
    rules.ok();
    for dir in ["-i", "-o"] {
        assert!(
            rules
                .lines()
                .iter()
                .any(|l| l.contains(&format!("{dir} rrun0")) && l.contains("-j ACCEPT")),
            "DOCKER-USER accepts {dir} rrun0\n{rules}"
        );
    }
    wait_reachable(&cx, ns, &tcp_ok(&ip, 80, "tcp-80"));
    check_from_container(
        &cx,
        "with FORWARD policy DROP: container to container and outbound",
        &[],
        &[
            tcp_ok(&ip, 80, "tcp-80"),
            tcp_ok("10.203.0.2", 9000, "peer-10.203.0.1"),
        ],
    );
    check_from_ns(
        &cx,
        &outside,
        "with FORWARD policy DROP: a published port from outside",
        &[tcp_ok("10.203.0.1", 3000, "tcp-80")],
    );

    cx.rrun(&["rm", "-f", "db"]).ok();
    cx.rrun(&["network", "rm"]).ok();
    let rules = sh_ns(
        &cx,
        ns,
        "iptables -w -S DOCKER-USER; iptables -w -S FORWARD",
    );
    rules.ok();
    assert!(
        !rules.stdout.contains("rrun0"),
        "network rm removes rrun's DOCKER-USER rules\n{rules}"
    );
    assert!(
        rules.lines().contains(&"-P FORWARD DROP"),
        "rrun leaves the FORWARD policy alone\n{rules}"
    );
}

// ---------------------------------------------------------------------------
// The README's point-to-point recipe

#[test]
fn root_point_to_point_recipe() {
    let Some(cx) = net_ctx(Mode::Root) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    cx.detach(&["--net=none", "--name", "p1"], &["sleep", "1000"]);
    cx.detach(&["--net=none", "--name", "p2"], &["sleep", "1000"]);
    let pid1 = cx.inspect_f("{{.State.Pid}}", "p1");
    let pid2 = cx.inspect_f("{{.State.Pid}}", "p2");
    for p in [&pid1, &pid2] {
        assert!(p.parse::<u32>().is_ok_and(|n| n > 1), "State.Pid {p:?}");
    }
    // The pair is made in the (test's) host namespace and its ends moved.
    sh_ns(
        &cx,
        ns,
        &format!("ip link add A type veth peer name B && ip link set A netns {pid1} && ip link set B netns {pid2}"),
    )
    .ok();
    for (pid, dev, me, peer) in [
        (&pid1, "A", "10.1.1.1", "10.1.1.2"),
        (&pid2, "B", "10.1.1.2", "10.1.1.1"),
    ] {
        let c = {
            let mut c = Command::new("nsenter");
            c.args([
                &format!("--net=/proc/{pid}/ns/net"),
                "sh",
                "-c",
                &format!(
                    "ip addr add {me}/32 dev {dev} && ip link set {dev} up && ip route add {peer}/32 dev {dev}"
                ),
            ])
            .env_clear()
            .env("PATH", HOST_PATH);
            c
        };
        cx.run(c, Input::Null).ok();
    }
    for (from, to) in [("p1", "10.1.1.2"), ("p2", "10.1.1.1")] {
        let mut last = None;
        let ok = poll_until(SETTLE, || {
            let out = cx.rrun(&["exec", from, "ping", "-c1", "-W1", to]);
            let ok = out.code() == Some(0);
            last = Some(out);
            ok
        });
        assert!(ok, "{from} pings {to}\n{}", last.expect("ran"));
    }
}

// ---------------------------------------------------------------------------
// inspect's network fields, link details, settings from the environment

fn inspect_network_fields(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    cx.detach(
        &[
            "--name",
            "ww",
            "-p",
            "127.0.0.1::5001",
            "-p",
            "3000:80",
            "-P",
            "--expose",
            "7000",
            "--dns",
            "10.1.2.3",
            "--dns-search",
            "example.com",
        ],
        &["sleep", "1000"],
    );
    let inspect = |cx: &Ctx| -> serde_json::Value {
        let out = cx.rrun(&["inspect", "ww"]);
        out.ok();
        serde_json::from_str::<serde_json::Value>(&out.stdout)
            .map(|v| v[0].clone())
            .unwrap_or_else(|e| panic!("inspect prints JSON: {e}\n{out}"))
    };
    let v = inspect(&cx);
    let hc = &v["HostConfig"];
    // As written: "" where the -p left the address or port out; -P adds none.
    assert_eq!(
        hc["PortBindings"],
        serde_json::json!({
            "5001/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
            "80/tcp": [{"HostIp": "", "HostPort": "3000"}],
        }),
        "{hc:#}"
    );
    assert_eq!(hc["PublishAllPorts"], true, "{hc:#}");
    assert_eq!(hc["Dns"], serde_json::json!(["10.1.2.3"]), "{hc:#}");
    assert_eq!(
        hc["DnsSearch"],
        serde_json::json!(["example.com"]),
        "{hc:#}"
    );

    let ns = &v["NetworkSettings"];
    let ip = ns["IPAddress"].as_str().unwrap_or("").to_string();
    let octets: Vec<u8> = ip.split('.').filter_map(|o| o.parse().ok()).collect();
    assert_eq!(octets.len(), 4, "an IPv4 address: {ns:#}");
    let net = &network_inspect(&cx)[0];
    let prefix: u64 = net["Subnet"]
        .as_str()
        .and_then(|s| s.split_once('/'))
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0);
    assert_eq!(ns["IPPrefixLen"], prefix, "{ns:#}");
    assert_eq!(ns["Gateway"], net["Gateway"], "{ns:#}");
    let mac = format!(
        "02:42:{:02x}:{:02x}:{:02x}:{:02x}",
        octets[0], octets[1], octets[2], octets[3]
    );
    assert_eq!(ns["MacAddress"], mac.as_str(), "{ns:#}");
    let pid = v["State"]["Pid"].as_i64().unwrap_or(0);
    assert_eq!(
        ns["SandboxKey"],
        format!("/proc/{pid}/ns/net").as_str(),
        "{ns:#}"
    );
    let link = cx.rrun(&["exec", "ww", "ip", "-o", "link", "show", "eth0"]);
    link.ok();
    assert!(
        link.stdout.contains(&format!("link/ether {mac} ")),
        "eth0's MAC is {mac}\n{link}"
    );
    let port_of = |k: &str| -> (String, u16) {
        let b = &ns["Ports"][k];
        assert_eq!(
            b.as_array().map(Vec::len),
            Some(1),
            "one binding of {k}: {ns:#}"
        );
        (
            b[0]["HostIp"].as_str().unwrap_or("").to_string(),
            b[0]["HostPort"]
                .as_str()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
        )
    };
    assert_eq!(port_of("80/tcp"), ("0.0.0.0".to_string(), 3000));
    let (a, p) = port_of("5001/tcp");
    assert!(
        a == "127.0.0.1" && p > 0,
        "5001/tcp on 127.0.0.1, a free port: {ns:#}"
    );
    let (a, p) = port_of("7000/tcp");
    assert!(
        a == "0.0.0.0" && p > 0,
        "-P publishes the exposed 7000: {ns:#}"
    );

    // Stopped: the network is gone from NetworkSettings, the request stays.
    cx.rrun(&["stop", "-t", "0", "ww"]).ok();
    let v = inspect(&cx);
    assert_eq!(v["NetworkSettings"]["IPAddress"], "", "{v:#}");
    assert_eq!(v["NetworkSettings"]["SandboxKey"], "", "{v:#}");
    assert_eq!(v["HostConfig"]["PortBindings"], hc["PortBindings"], "{v:#}");
}

/// A linked run of ports (_START/_END), ALIAS_PORT naming the lowest port,
/// the target's -h in the hosts line, and --add-host lines before link
/// lines and the container's own, as Docker writes them.
fn link_port_runs_hostname_and_add_host(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    cx.detach(
        &[
            "--name",
            "tt",
            "-h",
            "thost",
            "--expose",
            "6000-6002",
            "--expose",
            "53/udp",
        ],
        &["sleep", "1000"],
    );
    let tip = container_ip(&cx, "tt");
    let out = cx.sh(
        &[
            "-h",
            "webhost",
            "--link",
            "tt:t",
            "--add-host",
            "foo:10.0.0.9",
        ],
        "cat /etc/hosts; echo --; env",
    );
    out.ok();
    let (hosts, env) = out.stdout.split_once("--\n").unwrap_or_default();
    let lines: Vec<&str> = hosts.lines().collect();
    // The target's name follows when it is not the alias.
    let link_line = format!("{tip}\tt thost tt");
    assert!(
        lines.len() == 9
            && lines[..6] == DEFAULT_HOSTS
            && lines[6] == "10.0.0.9\tfoo"
            && lines[7] == link_line
            && lines[8].ends_with("\twebhost"),
        "/etc/hosts: the default block, --add-host, the link, then its own line\n{out}"
    );
    let env: BTreeSet<&str> = env.lines().collect();
    for want in [
        format!("T_PORT=udp://{tip}:53"),
        format!("T_PORT_6000_TCP_START=tcp://{tip}:6000"),
        "T_PORT_6000_TCP_PORT_START=6000".to_string(),
        format!("T_PORT_6000_TCP_END=tcp://{tip}:6002"),
        "T_PORT_6000_TCP_PORT_END=6002".to_string(),
        format!("T_PORT_6001_TCP_ADDR={tip}"),
        format!("T_PORT_53_UDP=udp://{tip}:53"),
    ] {
        assert!(env.contains(want.as_str()), "env has {want}\n{out}");
    }
}

/// The settings as RRUN_* variables, and --ip-forward.
#[test]
fn root_settings_from_variables_and_ip_forward() {
    let Some(cx) = net_ctx(Mode::Root) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    let forward = |cx: &Ctx| {
        let out = sh_ns(cx, ns, "cat /proc/sys/net/ipv4/ip_forward");
        out.ok();
        out.stdout.trim().to_string()
    };
    sh_ns(&cx, ns, "echo 0 > /proc/sys/net/ipv4/ip_forward").ok();
    let mut c = cx.cmd(&cx.sh_args(&["-p", "18080:80"], "ip -o link show eth0"));
    c.env("RRUN_BIP", "10.66.0.1/24")
        .env("RRUN_MTU", "1400")
        .env("RRUN_IP", "127.0.0.1");
    let out = cx.run(c, Input::Null);
    out.ok();
    assert!(out.stdout.contains(" mtu 1400 "), "RRUN_MTU\n{out}");
    let v = network_inspect(&cx);
    assert_eq!(v[0]["BIP"], "10.66.0.1/24", "RRUN_BIP: {v:?}");
    assert_eq!(v[0]["MTU"], 1400, "RRUN_MTU: {v:?}");
    assert_eq!(v[0]["IP"], "127.0.0.1", "RRUN_IP: {v:?}");
    assert_eq!(v[0]["IPForward"], true, "{v:?}");
    assert_eq!(forward(&cx), "1", "the network turns ip_forward on");
    cx.detach(&["--name", "pp", "-p", "18081:80"], &["sleep", "1000"]);
    let out = cx.rrun(&["port", "pp"]);
    assert_eq!(
        out.stdout, "80/tcp -> 127.0.0.1:18081\n",
        "RRUN_IP is -p's address\n{out}"
    );
    cx.rrun(&["rm", "-f", "pp"]).ok();
    cx.rrun(&["network", "rm"]).ok();

    sh_ns(&cx, ns, "echo 0 > /proc/sys/net/ipv4/ip_forward").ok();
    cx.sh(&["--ip-forward=false"], "true").ok();
    assert_eq!(network_inspect(&cx)[0]["IPForward"], false);
    assert_eq!(
        forward(&cx),
        "0",
        "--ip-forward=false leaves ip_forward alone"
    );
}

/// The default subnet avoids the host's routes and addresses, the default
/// MTU is the default route's interface's, and settings that cannot work
/// are refused with nothing made.
#[test]
fn root_defaults_follow_the_host_and_bad_settings() {
    let Some(cx) = net_ctx(Mode::Root) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let ns = host_ns(&cx);
    add_address(&cx, ns, "up0", "up1", "172.17.0.5/16");
    sh_ns(
        &cx,
        ns,
        "ip link set up0 mtu 9000 && ip route add default via 172.17.0.9 dev up0",
    )
    .ok();
    for (opts, says) in [
        (&["--bip", "172.17.5.1/24"][..], "172.17.0.0/16"),
        (&["--bip", "10.0.0.1"][..], "--bip"),
        (&["--bip", "nonsense"][..], "--bip"),
        (&["--mtu", "67"][..], "--mtu"),
        (&["--mtu", "65536"][..], "--mtu"),
    ] {
        let out = cx.sh(opts, "true");
        out.expect_rrun_error();
        assert!(out.stderr.contains(says), "{opts:?} names {says}\n{out}");
        assert!(network_inspect(&cx).is_empty(), "no network after {opts:?}");
        assert!(
            !interfaces(ns).contains(&"rrun0".to_string()),
            "no bridge after {opts:?}"
        );
    }
    cx.sh(&[], "true").ok();
    let v = network_inspect(&cx);
    assert_eq!(
        v[0]["Subnet"], "172.18.0.0/16",
        "172.17/16 is the host's: {v:?}"
    );
    assert_eq!(
        v[0]["MTU"], 9000,
        "the default route's interface's MTU: {v:?}"
    );
}
