//! Issue 12's network escapes and faults, tried as a hostile container, a
//! neighbour on the bridge's link and a careless user would:
//!
//! - the host's loopback services stay out of reach in every network mode
//!   (kernel NAT, `--iptables=false`, no nft program): a container (whose
//!   default capabilities include NET_RAW) and a neighbour namespace on the
//!   bridge send raw TCP SYNs for 127.0.0.1 to the bridge's MAC address
//!   (CVE-2020-8558), and get no answer; route_localnet stays off; ports
//!   published on 127.0.0.1 still answer the host (through the forwarder);
//! - a flushed firewall or a deleted bridge is rebuilt from the records at
//!   the next run or by `rrun network reload`, running containers' ports
//!   and links included; a container whose veth is gone says so;
//! - an element that no record owns (a crash before rrun recorded it, an
//!   older rrun) does not block its port; a killed forwarder comes back;
//!   forwarded connections have TCP keepalive;
//! - a port can be published again at once after the container that held
//!   it is removed (its TIME_WAIT connections notwithstanding), and a port
//!   really held is refused, naming who holds it.
//!
//! The raw packets are sent by this test binary itself (static), bind-
//! mounted into the container or run in the neighbour's namespace with
//! `RRUN_ESC_ROLE=syn`, entering through the `role` test.

#[macro_use]
mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::*;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

const IN_CONTAINER: &str = "/escape-probe";

/// The entry of the probe role; a plain test run passes through.
#[test]
fn role() {
    if std::env::var("RRUN_ESC_ROLE").as_deref() != Ok("syn") {
        return;
    }
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is set"));
    let mac: Vec<u8> = var("DST_MAC")
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("a MAC address"))
        .collect();
    let r = syn_probe(
        &var("IFACE"),
        mac.try_into().expect("6 bytes"),
        var("DST_IP").parse().expect("an IPv4 address"),
        var("DPORT").parse().expect("a port"),
    );
    println!("reply={r}");
}

fn csum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Our interface's MAC and IPv4 address.
fn iface_addrs(name: &str) -> ([u8; 6], Ipv4Addr) {
    // SAFETY: ioctls on a plain socket with a zeroed ifreq whose name is
    // filled in (shorter than IFNAMSIZ).
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        assert!(s >= 0, "socket");
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in name.bytes().enumerate() {
            ifr.ifr_name[i] = b as libc::c_char;
        }
        assert_eq!(
            libc::ioctl(s, libc::SIOCGIFHWADDR, &mut ifr),
            0,
            "SIOCGIFHWADDR"
        );
        let mut mac = [0u8; 6];
        for (i, m) in mac.iter_mut().enumerate() {
            *m = ifr.ifr_ifru.ifru_hwaddr.sa_data[i] as u8;
        }
        assert_eq!(
            libc::ioctl(s, libc::SIOCGIFADDR, &mut ifr),
            0,
            "SIOCGIFADDR"
        );
        let sin = &*(&ifr.ifr_ifru.ifru_addr as *const libc::sockaddr as *const libc::sockaddr_in);
        libc::close(s);
        (mac, Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
    }
}

/// Send a TCP SYN for `dst:dport` in an Ethernet frame to `dst_mac` out of
/// `iface` (AF_PACKET: what CAP_NET_RAW allows), three times over 1.5 s,
/// and say what came back from `dst:dport`: "synack", "rst" or "none".
fn syn_probe(iface: &str, dst_mac: [u8; 6], dst: Ipv4Addr, dport: u16) -> String {
    let (src_mac, src) = iface_addrs(iface);
    let sport: u16 = 40000 + (std::process::id() % 20000) as u16;
    let mut ip = vec![
        0x45, 0, 0, 40, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, // csum at 10
    ];
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&dport.to_be_bytes());
    tcp.extend_from_slice(&0x1000_0000u32.to_be_bytes());
    tcp.extend_from_slice(&0u32.to_be_bytes());
    tcp.extend_from_slice(&[0x50, 0x02, 0xfa, 0xf0, 0, 0, 0, 0]);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 6, 0, 20]);
    pseudo.extend_from_slice(&tcp);
    let c = csum(&pseudo);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let mut frame = Vec::new();
    frame.extend_from_slice(&dst_mac);
    frame.extend_from_slice(&src_mac);
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&tcp);
    let cname = std::ffi::CString::new(iface).expect("no NUL");
    // SAFETY: a raw packet socket, bound and used with valid sockaddr_ll
    // values and buffers of the lengths passed.
    unsafe {
        let idx = libc::if_nametoindex(cname.as_ptr());
        assert!(idx > 0, "no interface {iface}");
        let proto = (libc::ETH_P_IP as u16).to_be();
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto));
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = idx as i32;
        assert_eq!(
            libc::bind(
                fd,
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32
            ),
            0,
            "bind"
        );
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&dst_mac);
        let mut buf = [0u8; 2048];
        for _ in 0..3 {
            let n = libc::sendto(
                fd,
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            assert_eq!(
                n,
                frame.len() as isize,
                "sendto: {}",
                std::io::Error::last_os_error()
            );
            let until = Instant::now() + Duration::from_millis(500);
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                if libc::poll(&mut p, 1, left.as_millis() as i32) <= 0 {
                    continue;
                }
                let n = libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0);
                if n < 54 {
                    continue;
                }
                let b = &buf[..n as usize];
                let ihl = usize::from(b[14] & 0xf) * 4;
                if b[12..14] != [0x08, 0x00] || b[23] != 6 || b[26..30] != dst.octets() {
                    continue;
                }
                let t = &b[14 + ihl..];
                if t.len() < 14
                    || u16::from_be_bytes([t[0], t[1]]) != dport
                    || u16::from_be_bytes([t[2], t[3]]) != sport
                {
                    continue;
                }
                libc::close(fd);
                return match t[13] & 0x16 {
                    0x12 => "synack".into(),
                    f if f & 0x04 != 0 => "rst".into(),
                    f => format!("flags-{f:#x}"),
                };
            }
        }
        libc::close(fd);
    }
    "none".into()
}

/// The probe's command line and environment.
fn probe_args() -> Vec<&'static str> {
    vec!["role", "--exact", "--nocapture", "--test-threads=1", "-q"]
}

fn probe_reply(out: &Output) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("reply="))
        .unwrap_or_else(|| panic!("the probe prints reply=…\n{out}"))
        .to_string()
}

// ---------------------------------------------------------------------------
// 2. The host's loopback, in every network mode (root: rootless networks
// live in the user's namespace, with pasta kept off the host's loopback;
// see network_rootless.rs).

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum NetKind {
    /// Kernel NAT (nftables rules).
    Nat,
    /// A network made with --iptables=false: the forwarder alone.
    IptablesFalse,
    /// No nft program on the host: the forwarder alone.
    NoNft,
}

/// rrun for `kind`: with --iptables=false, or with nft hidden.
fn rrun_cmd(cx: &Ctx, kind: NetKind, args: &[&str]) -> Command {
    match kind {
        NetKind::Nat => cx.cmd(args),
        NetKind::IptablesFalse => {
            // Network settings go before the rootfs; every run names it.
            let mut a = vec![args[0]];
            if !matches!(
                args[0],
                "ps" | "inspect" | "rm" | "network" | "exec" | "logs"
            ) {
                a = vec!["--iptables=false", args[0]];
            }
            a.extend_from_slice(&args[1..]);
            cx.cmd(&a)
        }
        NetKind::NoNft => cx.cmd_without_nft(args),
    }
}

fn rrun_kind(cx: &Ctx, kind: NetKind, args: &[&str]) -> Output {
    cx.run(rrun_cmd(cx, kind, args), Input::Null)
}

mod host_loopback_unreachable {
    use super::*;
    #[test]
    fn kernel_nat() {
        host_loopback_unreachable(NetKind::Nat)
    }
    #[test]
    fn iptables_false() {
        host_loopback_unreachable(NetKind::IptablesFalse)
    }
    #[test]
    fn no_nft() {
        host_loopback_unreachable(NetKind::NoNft)
    }
}

fn host_loopback_unreachable(kind: NetKind) {
    let Some(cx) = net_ctx(Mode::Root) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let host = host_ns(&cx);
    let _loop = peer_server(&cx, host, "127.0.0.1", 7777, "loop");
    let _any = peer_server(&cx, host, "", 7778, "any");
    wait_reachable(&cx, host, &tcp_ok("127.0.0.1", 7777, "loop"));
    wait_reachable(&cx, host, &tcp_ok("127.0.0.1", 7778, "any"));

    // A server container with ports on the host's loopback and on every
    // address, and an attacker container with default capabilities.
    let probe = self_copy().to_str().expect("UTF-8 path").to_string();
    let vol = format!("{probe}:{IN_CONTAINER}:ro");
    let srv = rrun_kind(
        &cx,
        kind,
        &[
            "-d",
            "--name",
            "srv",
            "-p",
            "127.0.0.1:18081:80",
            "-p",
            "18082:80",
            cx.rootfs(),
            "sh",
            "-c",
            &servers(&[80], &[]),
        ],
    );
    srv.ok();
    wait_serving(&cx, "srv", &[80], &[]);
    // As that kind of host sees it (without nft, kernel NAT is off).
    let ni = rrun_kind(&cx, kind, &["network", "inspect"]);
    ni.ok();
    let inspect: Vec<serde_json::Value> =
        serde_json::from_str(&ni.stdout).expect("network inspect prints JSON");
    let gw = inspect[0]["Gateway"]
        .as_str()
        .expect("a gateway")
        .to_string();
    assert_eq!(
        inspect[0]["KernelNAT"],
        serde_json::json!(kind == NetKind::Nat),
        "[{kind:?}] the network's mode\n{inspect:?}"
    );
    let bridge = inspect[0]["Bridge"].as_str().unwrap_or("rrun0").to_string();
    let rl = sh_ns(
        &cx,
        host,
        &format!(
            "cat /proc/sys/net/ipv4/conf/{bridge}/route_localnet && \
             ip -o link show {bridge} | sed 's/.*link\\/ether \\([^ ]*\\).*/\\1/'"
        ),
    );
    rl.ok();
    let lines = rl.lines();
    assert_eq!(
        lines[0], "0",
        "[{kind:?}] route_localnet stays off on the bridge\n{rl}"
    );
    let gw_mac = lines[1].to_string();

    // The host's own clients reach the published ports on its loopback.
    check_from_ns(
        &cx,
        host,
        &format!("[{kind:?}] the host's loopback clients of published ports"),
        &[
            tcp_ok("127.0.0.1", 18081, &format!("tcp-80-{gw}")),
            tcp_ok("127.0.0.1", 18082, &format!("tcp-80-{gw}")),
        ],
    );

    // A container: raw SYNs to the gateway's MAC, for the gateway's
    // address (the control: the host answers) and for 127.0.0.1.
    let attack = |dst: &str, port: u16| -> String {
        let (mac, ip, dport) = (
            format!("DST_MAC={gw_mac}"),
            format!("DST_IP={dst}"),
            format!("DPORT={port}"),
        );
        let mut args = vec![
            "--rm",
            "-v",
            &vol,
            "-e",
            "RRUN_ESC_ROLE=syn",
            "-e",
            "IFACE=eth0",
            "-e",
            &mac,
            "-e",
            &ip,
            "-e",
            &dport,
            cx.rootfs(),
            IN_CONTAINER,
        ];
        args.extend(probe_args());
        let out = rrun_kind(&cx, kind, &args);
        out.ok();
        probe_reply(&out)
    };
    assert_eq!(
        attack(&gw, 7778),
        "synack",
        "[{kind:?}] control: a raw SYN to the gateway's open port is answered"
    );
    assert_eq!(
        attack("127.0.0.1", 7777),
        "none",
        "[{kind:?}] a container's raw SYN for the host's 127.0.0.1 is not answered"
    );

    // A neighbour on the bridge's link: a namespace with a veth on the
    // bridge and an address in its subnet, doing the same.
    let nbr = NetNs::new().expect("a neighbour namespace");
    let pid = nbr.child.id();
    sh_ns(
        &cx,
        host,
        &format!(
            "ip link add nb0 type veth peer name nb1 netns {pid} && \
             ip link set nb0 master {bridge} && ip link set nb0 up"
        ),
    )
    .ok();
    let subnet_prefix: Vec<&str> = gw.split('.').collect();
    let nbr_ip = format!(
        "{}.{}.{}.250",
        subnet_prefix[0], subnet_prefix[1], subnet_prefix[2]
    );
    sh_ns(
        &cx,
        &nbr,
        &format!("ip addr add {nbr_ip}/24 dev nb1 && ip link set nb1 up"),
    )
    .ok();
    let from_nbr = |dst: &str, port: u16| -> String {
        let mut c = in_ns(&nbr, &probe, &probe_args());
        c.env("RRUN_ESC_ROLE", "syn")
            .env("IFACE", "nb1")
            .env("DST_MAC", &gw_mac)
            .env("DST_IP", dst)
            .env("DPORT", port.to_string());
        let out = cx.run(c, Input::Null);
        out.ok();
        probe_reply(&out)
    };
    assert_eq!(
        from_nbr(&gw, 7778),
        "synack",
        "[{kind:?}] control: the neighbour's raw SYN to the gateway's open port is answered"
    );
    assert_eq!(
        from_nbr("127.0.0.1", 7777),
        "none",
        "[{kind:?}] a neighbour's raw SYN for the host's 127.0.0.1 is not answered (CVE-2020-8558)"
    );
    rrun_kind(&cx, kind, &["rm", "-f", "srv"]).ok();
}

// ---------------------------------------------------------------------------
// 3. Firewall drift

/// The text of rrun's nftables tables where the bridge is.
fn ruleset(cx: &Ctx) -> String {
    let out = sh_bridge_ns(cx, "nft list ruleset");
    out.ok();
    out.stdout
}

both_modes!(flushed_firewall_and_deleted_bridge_are_rebuilt);

fn flushed_firewall_and_deleted_bridge_are_rebuilt(mode: Mode) {
    let Some(cx) = net_ctx(mode) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    // --icc=false: the link is a set element, which must come back too.
    let db = cx.detach(
        &["--icc=false", "--name", "db", "--expose", "5432"],
        &["sh", "-c", &servers(&[5432], &[])],
    );
    let web = cx.detach(
        &["--name", "web", "--link", "db:db", "-p", "18080:80"],
        &["sh", "-c", &servers(&[80], &[])],
    );
    wait_serving(&cx, "db", &[5432], &[]);
    wait_serving(&cx, "web", &[80], &[]);
    let db_ip = container_ip(&cx, "db");
    let link_elem = format!("{} . {db_ip} . 5432", container_ip(&cx, "web"));
    let before = ruleset(&cx);
    assert!(before.contains(&link_elem), "[{mode}] {before}");

    // Debian's `systemctl restart nftables` flushes the whole ruleset.
    sh_bridge_ns(&cx, "nft flush ruleset").ok();
    assert!(!ruleset(&cx).contains("rrun"), "[{mode}] flushed");
    // The next run notices and rebuilds everything, then adds its own.
    let out = cx.rrun(&[
        "-d",
        "--name",
        "third",
        "-p",
        "18083:80",
        cx.rootfs(),
        "sleep",
        "1000",
    ]);
    out.ok();
    assert!(
        out.stderr
            .contains("rebuilt the network with 2 running container(s)"),
        "[{mode}] the run says it rebuilt the network\n{out}"
    );
    let after = ruleset(&cx);
    let mut wanted = vec![
        link_elem.clone(),
        "iifname != \"lo\" ip daddr 127.0.0.0/8 drop".to_string(),
        "masquerade".to_string(),
    ];
    if mode == Mode::Root {
        wanted.push(format!("18080 : {} . 80", container_ip(&cx, "web")));
        wanted.push(format!("18083 : {} . 80", container_ip(&cx, "third")));
    }
    for w in &wanted {
        assert!(
            after.contains(w.as_str()),
            "[{mode}] after a flush and a run, the ruleset has {w:?} again\n{after}"
        );
    }
    // The link works (with --icc=false only through its element).
    check_from_exec(
        &cx,
        &format!("[{mode}] web reaches db through its link after the rebuild"),
        "web",
        &[tcp_ok(&db_ip, 5432, "tcp-5432-{me}")],
    );

    // `network reload` on demand: it prints the containers it restored.
    sh_bridge_ns(&cx, "nft flush ruleset").ok();
    let reload = cx.rrun(&["network", "reload"]);
    reload.ok();
    let mut got: Vec<&str> = reload.lines();
    got.sort();
    let third = cx.inspect_f("{{.Id}}", "third");
    let mut want = vec![db.as_str(), web.as_str(), third.as_str()];
    want.sort();
    assert_eq!(got, want, "[{mode}] reload names the containers\n{reload}");
    assert!(ruleset(&cx).contains(&link_elem), "[{mode}] after reload");

    // The bridge deleted under the running containers: reattached.
    let bridge = network_inspect(&cx)[0]["Bridge"]
        .as_str()
        .unwrap_or("rrun0")
        .to_string();
    sh_bridge_ns(&cx, &format!("ip link del {bridge}")).ok();
    cx.rrun(&["network", "reload"]).ok();
    let ports = sh_bridge_ns(&cx, &format!("ip -o link show master {bridge}"));
    ports.ok();
    for id in [&db, &web, &third] {
        assert!(
            ports.stdout.contains(&format!("rrv{}", &id[..12])),
            "[{mode}] {id}'s veth is on the new bridge\n{ports}"
        );
    }
    check_from_exec(
        &cx,
        &format!("[{mode}] web reaches db over the new bridge"),
        "web",
        &[tcp_ok(&db_ip, 5432, "tcp-5432-{me}")],
    );

    // A container whose veth is gone cannot be plugged back: it says so.
    sh_bridge_ns(&cx, &format!("ip link del rrv{}", &third[..12])).ok();
    let reload = cx.rrun(&["network", "reload"]);
    reload.expect_code(1);
    assert!(
        reload.stderr.contains(&third[..12]) && reload.stderr.contains("network is lost"),
        "[{mode}] reload names the container that lost its network\n{reload}"
    );
    let row = ps_row(&cx, "third");
    assert!(
        row["STATUS"].ends_with("(network lost)"),
        "[{mode}] ps shows it: {row:?}"
    );
    assert!(
        cx.inspect_f("{{.State.Error}}", "third")
            .contains("network lost"),
        "[{mode}] inspect shows it"
    );
    assert!(
        is_up_status(&ps_row(&cx, "web")["STATUS"]),
        "[{mode}] web is healthy"
    );
    // Removing it forgets it.
    cx.rrun(&["rm", "-f", "third"]).ok();
    cx.rrun(&["network", "reload"]).ok();
}

// ---------------------------------------------------------------------------
// 4. Orphans and the forwarder

/// An element under a port's key that no record owns (an older rrun, a
/// crash before the record was written): the same -p works at once and
/// leaves exactly one element, pointing at the new container.
#[test]
fn orphan_element_does_not_block_its_port() {
    let Some(cx) = net_ctx(Mode::Root) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    cx.rrun(&["--rm", cx.rootfs(), "true"]).ok();
    add_address(&cx, host_ns(&cx), "o0", "o1", "10.1.2.3/24");
    sh_bridge_ns(
        &cx,
        "nft add element ip rrun any_tcp '{ 18084 : 172.17.255.250 . 80 }' && \
         nft add element ip rrun addr_udp '{ 10.1.2.3 . 18085 : 172.17.255.250 . 53 }'",
    )
    .ok();
    cx.detach(
        &[
            "--name",
            "cc",
            "-p",
            "18084:80",
            "-p",
            "10.1.2.3:18085:53/udp",
        ],
        &["sleep", "1000"],
    );
    let ip = container_ip(&cx, "cc");
    let t = ruleset(&cx);
    assert_eq!(t.matches("18084 : ").count(), 1, "{t}");
    assert!(t.contains(&format!("18084 : {ip} . 80")), "{t}");
    assert_eq!(t.matches(". 18085 : ").count(), 1, "{t}");
}

/// A --rm container whose monitor was killed: the next run gives back its
/// network before it removes its record.
#[test]
fn swept_rm_container_gives_back_its_network() {
    let Some(cx) = net_ctx(Mode::Root) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let id = cx.detach(&["--rm", "-p", "18086:80"], &["sleep", "1000"]);
    let st = cx.state_json(&id).expect("its state");
    let monitor = st["monitor_pid"].as_i64().expect("a monitor pid") as i32;
    // SAFETY: killing the container's monitor, a process of this test.
    unsafe { libc::kill(monitor, libc::SIGKILL) };
    assert!(
        poll_until(SETTLE, || !pid_alive(monitor)),
        "the monitor died"
    );
    cx.rrun(&["--rm", cx.rootfs(), "true"]).ok();
    assert!(
        cx.containers().is_empty(),
        "the --rm record is swept: {:?}",
        cx.containers()
    );
    let t = ruleset(&cx);
    assert!(!t.contains("18086 :"), "its element is gone\n{t}");
    assert!(leases(&cx).is_empty(), "its lease is gone");
}

/// A start tells a dead lease holder from a live one by the lock the
/// holder keeps, not by reading every running container's record: the
/// lease of a container whose monitor was killed is taken back with its
/// element, and the lease of a running one stays even when its record
/// cannot be read (a start that judged leases by their records would take
/// it back).
#[test]
fn lease_holders_are_told_by_their_lock() {
    let Some(cx) = net_ctx(Mode::Root) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let dead = cx.detach(&["-p", "18088:80"], &["sleep", "1000"]);
    let live = cx.detach(&["-p", "18089:80"], &["sleep", "1000"]);
    let st = cx.state_json(&dead).expect("its state");
    let monitor = st["monitor_pid"].as_i64().expect("a monitor pid") as i32;
    // SAFETY: killing a container's monitor, a process of this test.
    unsafe { libc::kill(monitor, libc::SIGKILL) };
    assert!(
        poll_until(SETTLE, || !pid_alive(monitor)),
        "the monitor died"
    );
    let config = cx.state.join("containers").join(&live).join("config.json");
    let kept = std::fs::read(&config).expect("its config");
    std::fs::write(&config, b"not json").expect("spoiling its config");
    cx.rrun(&["--rm", cx.rootfs(), "true"]).ok();
    let l = leases(&cx);
    std::fs::write(&config, kept).expect("restoring its config");
    assert!(
        !l.contains_key(&dead),
        "the dead one's lease is gone: {l:?}"
    );
    assert!(l.contains_key(&live), "the live one's lease stays: {l:?}");
    let t = ruleset(&cx);
    assert!(
        !t.contains("18088 :"),
        "the dead one's element is gone\n{t}"
    );
    assert!(t.contains("18089 :"), "the live one's element stays\n{t}");
}

both_modes!(killed_forwarder_comes_back);

fn killed_forwarder_comes_back(mode: Mode) {
    let Some(cx) = net_ctx(mode) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let id = cx.detach(
        &["--name", "web", "-p", "127.0.0.1:18087:80"],
        &["sh", "-c", &servers(&[80], &[])],
    );
    wait_serving(&cx, "web", &[80], &[]);
    let host = host_ns(&cx);
    let probe = tcp_ok("127.0.0.1", 18087, "tcp-80");
    wait_reachable(&cx, host, &probe);
    let first = forwarder_pid(&cx, &id).expect("a forwarder serves the port");
    // SAFETY: killing the forwarder, a process of this test.
    unsafe { libc::kill(first, libc::SIGKILL) };
    let t0 = Instant::now();
    // Clients wait in the backlog of the monitor's sockets meanwhile.
    wait_reachable(&cx, host, &probe);
    let took = t0.elapsed();
    let second = forwarder_pid(&cx, &id).expect("a new forwarder");
    assert_ne!(first, second, "[{mode}] a new forwarder process");
    eprintln!("[{mode}] the port answered again {took:?} after the forwarder was killed");
    cx.wait_logs("web", "port forwarder");
    let logs = cx.rrun(&["logs", "web"]);
    assert!(
        logs.stderr.contains(&format!(
            "the port forwarder (pid {first}) ended (killed by signal 9)"
        )),
        "[{mode}] the log says so\n{logs}"
    );
    assert!(is_up_status(&ps_row(&cx, "web")["STATUS"]));
}

both_modes!(forwarded_connections_have_keepalive);

/// A connection through the forwarder holds keepalive probes every 15 s on
/// both of its sockets (seen with ss in the host's namespace: the client's
/// side of the forwarder).
fn forwarded_connections_have_keepalive(mode: Mode) {
    let Some(cx) = net_ctx(mode) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let script = format!(
        "socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo held; sleep 100' & {}",
        servers(&[81], &[])
    );
    cx.detach(
        &["--name", "hold", "-p", "127.0.0.1:18088:80"],
        &["sh", "-c", &script],
    );
    wait_serving(&cx, "hold", &[81], &[]);
    let host = host_ns(&cx);
    let mut client = cx.spawn(
        in_ns(
            host,
            "socat",
            &["-u", "TCP:127.0.0.1:18088,retry=50,interval=0.1", "-"],
        ),
        Input::Null,
    );
    client.wait_line("held");
    let ss = sh_ns(&cx, host, "ss -tno state established '( sport = :18088 )'");
    ss.ok();
    assert!(
        ss.stdout.contains("timer:(keepalive,"),
        "[{mode}] the forwarder's accepted socket has a keepalive timer\n{ss}"
    );
    // Its connection to the container, where the bridge is.
    let ss = sh_bridge_ns(&cx, "ss -tno state established '( dport = :80 )'");
    ss.ok();
    assert!(
        ss.stdout.contains("timer:(keepalive,"),
        "[{mode}] the forwarder's socket toward the container has one too\n{ss}"
    );
    drop(client);
}

// ---------------------------------------------------------------------------
// 5. Publishing a port again

mod republish_at_once {
    use super::*;
    #[test]
    fn kernel_nat() {
        republish_at_once(Mode::Root, NetKind::Nat)
    }
    #[test]
    fn iptables_false() {
        republish_at_once(Mode::Root, NetKind::IptablesFalse)
    }
    #[test]
    fn rootless() {
        republish_at_once(Mode::Rootless, NetKind::Nat)
    }
}

fn republish_at_once(mode: Mode, kind: NetKind) {
    let Some(cx) = net_ctx(mode) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let host = host_ns(&cx);
    let run = |args: &[&str]| rrun_kind(&cx, kind, args);
    let serve = servers(&[80], &[]);
    let start = |name: &str, publish: &[&str]| {
        let mut a = vec!["-d", "--name", name];
        for p in publish {
            a.extend(["-p", p]);
        }
        a.extend([cx.rootfs(), "sh", "-c", serve.as_str()]);
        run(&a)
    };
    start("aa", &["18090:80", "[::1]:18091:80"]).ok();
    wait_serving(&cx, "aa", &[80], &[]);
    // Clients through the forwarder (the host's loopback, in every mode):
    // the container answers and closes first, so the host's end of each
    // connection lingers in TIME_WAIT on the published port.
    for _ in 0..3 {
        check_from_ns(
            &cx,
            host,
            "clients of a",
            &[
                tcp_ok("127.0.0.1", 18090, "tcp-80"),
                tcp_ok("[::1]", 18091, "tcp-80"),
            ],
        );
    }
    let tw = sh_ns(
        &cx,
        host,
        "ss -tan state time-wait '( sport = :18090 or sport = :18091 )'",
    );
    tw.ok();
    assert!(
        tw.stdout.contains(":18090") && tw.stdout.contains(":18091"),
        "[{mode} {kind:?}] the published ports have TIME_WAIT connections\n{tw}"
    );
    run(&["rm", "-f", "aa"]).ok();
    // Docker's most common habit: the same -p, at once.
    start("aa", &["18090:80", "[::1]:18091:80"]).ok();
    wait_serving(&cx, "aa", &[80], &[]);
    check_from_ns(
        &cx,
        host,
        "clients of the new a",
        &[
            tcp_ok("127.0.0.1", 18090, "tcp-80"),
            tcp_ok("[::1]", 18091, "tcp-80"),
        ],
    );

    // A port really held is still refused, naming who holds it.
    let b = start("bb", &["18090:80"]);
    b.expect_rrun_error_containing("already in use by container aa (");
    let _other = cx.spawn(
        in_ns(
            host,
            "socat",
            &["TCP-LISTEN:18092,reuseaddr,fork", "SYSTEM:true"],
        ),
        Input::Null,
    );
    let listening = poll_until(SETTLE, || {
        sh_ns(&cx, host, "ss -tlnH '( sport = :18092 )'")
            .stdout
            .contains(":18092")
    });
    assert!(listening, "socat listens on 18092");
    start("bb", &["18092:80"]).expect_rrun_error_containing("already in use by another program");
    let ps = run(&["ps", "-a", "--format", "{{.Names}}"]);
    ps.ok();
    assert_eq!(
        ps.lines(),
        ["aa"],
        "[{mode} {kind:?}] nothing left of b\n{ps}"
    );
    assert_eq!(leases(&cx).len(), 1, "[{mode} {kind:?}] one lease, a's");
}
