//! User-defined networks (issue 16), as root and rootless: `network
//! create/ls/inspect/rm/prune` and their refusals, `run --network NAME
//! --network-alias --ip`, the embedded resolver at 127.0.0.11 (names,
//! aliases, short ids, links as aliases, reverse lookups, upstream
//! forwarding, NXDOMAIN at stop and when a monitor is killed, no failed
//! lookup while containers start and stop), isolation between networks
//! and from the default bridge, --internal, and published ports.
//!
//! Every rrun runs in the harness's network namespace (the test's
//! "host"); outside servers live in namespaces made here. Namespaces,
//! servers and probes: tests/common/net.rs.

#[macro_use]
mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::*;
use std::time::{Duration, Instant};

both_modes!(
    create_ls_inspect_rm_prune,
    refusals_change_nothing,
    names_resolve_and_go,
    isolation_internal_and_ports,
    upstream_forwarding,
    lookups_during_starts_and_stops,
    connect_and_disconnect,
    ipv6_dual_stack,
    flushed_firewall_rebuilds_every_network,
    rename_follows_connected_networks,
    connect_to_a_network_made_after_the_start,
);

/// `rrun network create ARGS`: the new id.
#[track_caller]
fn create(cx: &Ctx, args: &[&str]) -> String {
    let mut a = vec!["network", "create"];
    a.extend_from_slice(args);
    let out = cx.rrun(&a);
    out.ok();
    let id = out.stdout.trim_end().to_string();
    assert!(
        is_hex(&id, 64),
        "network create prints the 64-hex id\n{out}"
    );
    id
}

/// `network ls --format {{.Name}}`, sorted.
#[track_caller]
fn network_names(cx: &Ctx) -> Vec<String> {
    let out = cx.rrun(&["network", "ls", "--format", "{{.Name}}"]);
    out.ok();
    out.lines().iter().map(|s| s.to_string()).collect()
}

/// The one object `network inspect NAME` prints.
#[track_caller]
fn inspect_net(cx: &Ctx, name: &str) -> serde_json::Value {
    let out = cx.rrun(&["network", "inspect", name]);
    out.ok();
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("JSON: {e}\n{out}"));
    v.as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| panic!("an array of one network\n{out}"))
}

/// The rrun-dns processes of this test's state directory.
fn resolvers(cx: &Ctx) -> Vec<i32> {
    helpers_named(cx, "rrun-dns")
}

/// Run `script` in `ns` until its output pleases `want` (a server may
/// still be starting), for up to 5 s: whether it did, and the last run.
fn answered(cx: &Ctx, ns: &NetNs, script: &str, want: impl Fn(&str) -> bool) -> (bool, String) {
    let mut last = String::new();
    let ok = poll_until(Duration::from_secs(5), || {
        let out = sh_ns(cx, ns, script);
        last = out.to_string();
        want(&out.stdout)
    });
    (ok, last)
}

/// `nslookup NAME` in running container `from`: the addresses answered
/// (empty: NXDOMAIN or no answer).
fn lookup(cx: &Ctx, from: &str, name: &str) -> Vec<String> {
    let out = cx.rrun(&["exec", from, "nslookup", name]);
    // Busybox prints the server first, then Name:/Address: pairs.
    let mut seen_name = false;
    let mut v = Vec::new();
    for l in out.stdout.lines() {
        if l.starts_with("Name:") {
            seen_name = true;
        } else if seen_name && let Some(a) = l.strip_prefix("Address:") {
            v.push(a.trim().to_string());
        }
    }
    v
}

fn create_ls_inspect_rm_prune(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let id = create(
        &cx,
        &[
            "--subnet",
            "10.123.0.0/24",
            "--gateway",
            "10.123.0.254",
            "--ip-range",
            "10.123.0.64/26",
            "--label",
            "team=a",
            "-o",
            "com.docker.network.driver.mtu=1400",
            "front",
        ],
    );
    create(&cx, &["back"]);
    assert_eq!(
        network_names(&cx),
        ["back", "bridge", "front", "host", "none"]
    );
    // ls: Docker's table, short ids; -q the ids alone.
    let out = cx.rrun(&["network", "ls"]);
    out.ok();
    let first = out.lines()[0].to_string();
    assert_eq!(first, "NETWORK ID     NAME      DRIVER    SCOPE", "{out}");
    assert!(
        out.lines()
            .iter()
            .any(|l| l.starts_with(&id[..12]) && l.contains("front") && l.contains("bridge")),
        "{out}"
    );
    let q = cx.rrun(&["network", "ls", "-q"]);
    q.ok();
    assert!(q.lines().contains(&&id[..12]), "{q}");
    assert_eq!(q.lines().len(), 5, "{q}");
    // inspect: Docker's fields.
    let v = inspect_net(&cx, "front");
    assert_eq!(v["Name"], "front");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Driver"], "bridge");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Internal"], false);
    assert_eq!(v["EnableIPv6"], false);
    assert_eq!(v["IPAM"]["Config"][0]["Subnet"], "10.123.0.0/24");
    assert_eq!(v["IPAM"]["Config"][0]["Gateway"], "10.123.0.254");
    assert_eq!(v["IPAM"]["Config"][0]["IPRange"], "10.123.0.64/26");
    assert_eq!(v["Labels"]["team"], "a");
    assert_eq!(v["Options"]["com.docker.network.driver.mtu"], "1400");
    // Inspect by id prefix, and -f.
    let out = cx.rrun(&[
        "network",
        "inspect",
        "-f",
        "{{.Name}} {{.Internal}}",
        &id[..8],
    ]);
    out.ok();
    assert_eq!(out.stdout, "front false\n");
    let out = cx.rrun(&["network", "inspect", "nosuch"]);
    out.expect_code(1);
    assert!(out.stderr.contains("No such network: nosuch"), "{out}");

    // A container on it: an address of the range, the MTU, the gateway,
    // inspect's Networks entry, the network's Containers.
    let cid = cx.detach(
        &[
            "--network",
            "front",
            "--name",
            "c1",
            "--network-alias",
            "svc",
        ],
        &["sleep", "1000"],
    );
    let ip = cx.inspect_f("{{.NetworkSettings.Networks.front.IPAddress}}", "c1");
    let last: u8 = ip
        .rsplit('.')
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    assert!(
        ip.starts_with("10.123.0.") && (64..128).contains(&last),
        "{ip}"
    );
    assert_eq!(
        cx.inspect_f("{{.NetworkSettings.Networks.front.Gateway}}", "c1"),
        "10.123.0.254"
    );
    assert_eq!(cx.inspect_f("{{.HostConfig.NetworkMode}}", "c1"), "front");
    assert_eq!(
        cx.inspect_f("{{json .NetworkSettings.Networks.front.Aliases}}", "c1"),
        format!("[\"svc\",\"{}\"]", &cid[..12])
    );
    let out = cx.rrun(&[
        "exec",
        "c1",
        "sh",
        "-c",
        "cat /sys/class/net/eth0/mtu; ip route",
    ]);
    out.ok();
    assert!(out.stdout.starts_with("1400\n"), "{out}");
    assert!(out.stdout.contains("default via 10.123.0.254"), "{out}");
    let v = inspect_net(&cx, "front");
    assert_eq!(v["Containers"][&cid]["Name"], "c1", "{v}");
    assert_eq!(
        v["Containers"][&cid]["IPv4Address"],
        format!("{ip}/24").as_str()
    );
    // --ip: that address, or refused.
    cx.detach(
        &["--network", "front", "--name", "c2", "--ip", "10.123.0.10"],
        &["sleep", "1000"],
    );
    assert_eq!(
        cx.inspect_f("{{.NetworkSettings.Networks.front.IPAddress}}", "c2"),
        "10.123.0.10"
    );
    let out = cx.sh(&["--network", "front", "--ip", "10.123.0.10"], "true");
    out.expect_code(125)
        .expect_rrun_error_containing("Address already in use");
    let out = cx.sh(&["--network", "front", "--ip", "10.9.9.9"], "true");
    out.expect_code(125)
        .expect_rrun_error_containing("does not belong to any of this network's subnets");
    let out = cx.sh(&["--network", "front", "--ip", "10.123.0.254"], "true");
    out.expect_code(125)
        .expect_rrun_error_containing("Address already in use");

    // rm while in use: refused; network rm of several goes on past it.
    let out = cx.rrun(&["network", "rm", "front", "back"]);
    out.expect_code(125);
    assert!(out.stderr.contains("has active endpoints"), "{out}");
    assert_eq!(out.stdout, "back\n", "{out}");
    assert_eq!(network_names(&cx), ["bridge", "front", "host", "none"]);
    // Prune keeps what is in use.
    create(&cx, &["spare"]);
    let out = cx.rrun(&["network", "prune", "-f"]);
    out.ok();
    assert_eq!(out.stdout, "Deleted Networks:\nspare\n", "{out}");
    cx.rrun(&["rm", "-f", "c1", "c2"]).ok();
    cx.rrun(&["network", "rm", "front"]).ok();
    assert_eq!(network_names(&cx), ["bridge", "host", "none"]);
    // Its bridge is gone where it was.
    let ifs = bridge_interfaces(&cx);
    assert!(
        !ifs.iter().any(|i| i.starts_with("br-")),
        "no bridge of a removed network is left: {ifs:?}"
    );
    assert!(!cx.state.join("networks/front").exists());
}

fn refusals_change_nothing(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    create(&cx, &["--subnet", "10.124.0.0/16", "one"]);
    let before = tree_snapshot(&cx.state);
    for (args, words) in [
        (&["one"][..], "network with name one already exists"),
        (&["bridge"], "pre-defined network"),
        (&["host"], "pre-defined network"),
        (&["--subnet", "10.124.5.0/24", "two"], "Pool overlaps"),
        (
            &[
                "--subnet",
                "10.125.0.0/24",
                "--gateway",
                "10.126.0.1",
                "two",
            ],
            "no matching subnet for gateway",
        ),
        (
            &[
                "--subnet",
                "10.125.0.0/24",
                "--ip-range",
                "10.125.1.0/25",
                "two",
            ],
            "no matching subnet for range",
        ),
        (&["--subnet", "nonsense", "two"], "invalid CIDR address"),
        (&["--subnet", "10.125.0.1/24", "two"], "host bits"),
        (
            &["--gateway", "10.125.0.1", "two"],
            "must have a corresponding subnet",
        ),
        (&["--subnet", "fd00::/64", "two"], "needs --ipv6"),
        (
            &["--ipv6", "--subnet", "fd00::1/64", "two"],
            "invalid IPv6 subnet",
        ),
        (&["-d", "overlay", "two"], "bridge driver"),
        (&["bad/name"], "invalid network name"),
        (&["-o", "com.docker.network.driver.mtu=9", "two"], "MTU"),
    ] {
        let mut a = vec!["network", "create"];
        a.extend_from_slice(args);
        let out = cx.rrun(&a);
        out.expect_code(125).expect_rrun_error_containing(words);
    }
    // A subnet that overlaps the host's own routes (the harness's uplink).
    let uplink = sh_ns(&cx, host_ns(&cx), "ip -4 -o addr show scope global");
    if let Some(cidr) = uplink
        .stdout
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
    {
        // The uplink's /24 (its host bits cleared).
        let net = match cidr.rsplit_once('.') {
            Some((head, _)) => format!("{head}.0/24"),
            None => cidr.to_string(),
        };
        let out = cx.rrun(&["network", "create", "--subnet", &net, "three"]);
        out.expect_code(125)
            .expect_rrun_error_containing("Pool overlaps");
    }
    for (opts, words) in [
        (&["--network", "nosuch"][..], "network nosuch not found"),
        (&["--network-alias", "x"], "user defined networks"),
        (&["--network", "one", "--ip6", "fd00::5"], "IPv6"),
        (&["--network", "one", "--network-alias", "a b"], "alias"),
    ] {
        let out = cx.sh(opts, "true");
        out.expect_code(125).expect_rrun_error_containing(words);
    }
    assert_eq!(
        tree_snapshot(&cx.state),
        before,
        "refused commands change nothing in the state directory"
    );
    assert_eq!(network_names(&cx), ["bridge", "host", "none", "one"]);
    let out = cx.rrun(&["network", "rm", "nosuch"]);
    out.expect_code(125);
    assert!(out.stderr.contains("network nosuch not found"), "{out}");
    let out = cx.rrun(&["network", "connect", "one", "x"]);
    out.expect_code(125)
        .expect_rrun_error_containing("No such container: x");
}

fn names_resolve_and_go(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    create(&cx, &["app"]);
    let web = cx.detach(
        &[
            "--network",
            "app",
            "--name",
            "web",
            "--network-alias",
            "www",
        ],
        &["sleep", "1000"],
    );
    let web_ip = cx.inspect_f("{{.NetworkSettings.Networks.app.IPAddress}}", "web");
    cx.detach(
        &["--network", "app", "--name", "client", "--link", "web:site"],
        &["sleep", "1000"],
    );
    // The files: the resolver alone, Docker's ndots:0; no line for others.
    let out = cx.rrun(&["exec", "client", "cat", "/etc/resolv.conf", "/etc/hosts"]);
    out.ok();
    assert!(
        out.stdout
            .contains("nameserver 127.0.0.11\noptions ndots:0"),
        "{out}"
    );
    assert_eq!(out.stdout.matches("nameserver").count(), 1, "{out}");
    assert!(!out.stdout.contains(&web_ip), "{out}");
    let env = cx.rrun(&["exec", "client", "env"]);
    assert!(
        !env.stdout.contains("SITE_"),
        "no link variables on a user network\n{env}"
    );
    // Name, alias, short id, NAME.NETWORK, the link's alias, any case.
    for name in ["web", "www", &web[..12], "web.app", "site", "WEB"] {
        assert_eq!(
            lookup(&cx, "client", name),
            std::slice::from_ref(&web_ip),
            "{name}"
        );
    }
    // Reverse.
    let out = cx.rrun(&["exec", "client", "nslookup", &web_ip]);
    assert!(out.stdout.contains("web.app"), "PTR of {web_ip}\n{out}");
    // Unknown single names: NXDOMAIN at once.
    let out = cx.rrun(&["exec", "client", "nslookup", "nosuch"]);
    assert!(
        out.stdout.contains("NXDOMAIN") || out.stderr.contains("NXDOMAIN"),
        "{out}"
    );
    // The link's alias is the linking container's own.
    cx.detach(&["--network", "app", "--name", "other"], &["sleep", "1000"]);
    assert!(lookup(&cx, "other", "site").is_empty());
    assert_eq!(lookup(&cx, "other", "web"), std::slice::from_ref(&web_ip));
    // A resolver per container on the network, none on the default.
    cx.detach(&["--name", "plain"], &["sleep", "1000"]);
    assert_eq!(
        resolvers(&cx).len(),
        3,
        "one rrun-dns per user-network container"
    );
    // Each holds no capability and can gain none (it parses what the
    // container sends).
    for pid in resolvers(&cx) {
        let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        for (k, v) in [
            ("CapEff", "0000000000000000"),
            ("CapPrm", "0000000000000000"),
            ("CapBnd", "0000000000000000"),
            ("NoNewPrivs", "1"),
        ] {
            assert_eq!(status_field(&st, k), Some(v), "rrun-dns {pid}: {k}\n{st}");
        }
    }
    // Stopped: gone from the table at once.
    cx.rrun(&["stop", "-t", "0", "web"]).ok();
    assert!(
        lookup(&cx, "client", "web").is_empty(),
        "a stopped container's name"
    );
    cx.rrun(&["start", "web"]).ok();
    assert_eq!(lookup(&cx, "client", "web"), std::slice::from_ref(&web_ip));
    // Renamed: the new name resolves, the old one no longer.
    cx.rrun(&["rename", "web", "web2"]).ok();
    assert_eq!(lookup(&cx, "client", "web2"), std::slice::from_ref(&web_ip));
    assert!(lookup(&cx, "client", "web").is_empty());
    // Its monitor killed: NXDOMAIN within 1 s (the lease lock is gone).
    let rec = cx.state_json(&web).unwrap_or_default();
    let mon = rec["monitor_pid"].as_i64().unwrap_or(0) as i32;
    assert!(mon > 1, "{rec}");
    // SAFETY: the monitor of this test's container.
    unsafe { libc::kill(mon, libc::SIGKILL) };
    let t0 = Instant::now();
    assert!(
        poll_until(Duration::from_secs(1), || lookup(&cx, "client", "web2")
            .is_empty()),
        "a container whose monitor was killed stops resolving within 1 s"
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    // No resolver is left once nothing runs.
    cx.rrun(&["rm", "-f", "client", "other", "plain", "web2"])
        .ok();
    assert!(
        poll_until(Duration::from_secs(5), || resolvers(&cx).is_empty()),
        "no rrun-dns left: {:?}",
        resolvers(&cx)
    );
}

fn isolation_internal_and_ports(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    create(&cx, &["blue"]);
    create(&cx, &["red"]);
    create(&cx, &["--internal", "vault"]);
    let serve = [
        "socat",
        "-T5",
        "tcp-listen:80,fork,reuseaddr",
        "system:echo hi",
    ];
    cx.detach(
        &["--network", "blue", "--name", "b1", "-p", "18080:80"],
        &serve,
    );
    cx.detach(&["--network", "red", "--name", "r1"], &serve);
    let mut a = vec![
        "-d",
        "--network",
        "vault",
        "--name",
        "v1",
        "-p",
        "18081:80",
        cx.rootfs(),
    ];
    a.extend_from_slice(&serve);
    let out = cx.rrun(&a);
    out.ok();
    assert!(
        out.stderr
            .contains("internal: published ports are not published"),
        "-p on an internal network says it publishes nothing\n{out}"
    );
    cx.detach(&["--name", "d1"], &serve);
    let ip = |net: &str, c: &str| {
        cx.inspect_f(
            &format!("{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}"),
            c,
        )
    };
    let (b1, r1, v1) = (ip("blue", "b1"), ip("red", "r1"), ip("vault", "v1"));
    let d1 = cx.inspect_f("{{.NetworkSettings.IPAddress}}", "d1");
    let probe = |from_opts: &[&str], targets: &[(&str, bool)]| {
        let script: String = targets
            .iter()
            .map(|(t, _)| {
                format!(
                    "if socat -u -T2 tcp:{t}:80,connect-timeout=2 - 2>/dev/null | grep -q hi; then echo {t}=yes; else echo {t}=no; fi; "
                )
            })
            .collect();
        let out = cx.sh(from_opts, &script);
        out.ok();
        for (t, want) in targets {
            let line = format!("{t}={}", if *want { "yes" } else { "no" });
            assert!(
                out.stdout.contains(&line),
                "{from_opts:?} → {t}: want {line}\n{out}"
            );
        }
    };
    // Same network yes; other networks, the default bridge, no.
    probe(
        &["--network", "blue"],
        &[(&b1, true), (&r1, false), (&v1, false), (&d1, false)],
    );
    probe(
        &[],
        &[(&d1, true), (&b1, false), (&r1, false), (&v1, false)],
    );
    probe(&["--network", "vault"], &[(&v1, true), (&b1, false)]);
    // Internal: no default route, no way out.
    let out = cx.sh(&["--network", "vault"], "ip route");
    out.ok();
    assert!(!out.stdout.contains("default"), "{out}");
    let outside = NetNs::new().unwrap_or_else(|e| panic!("outside namespace: {e}"));
    connect(
        &cx,
        host_ns(&cx),
        &outside,
        "rrh0",
        "10.216.0.1/24",
        "rro0",
        "10.216.0.2/24",
        &[],
    );
    let _srv = cx.spawn(
        in_ns(
            &outside,
            "socat",
            &["-T5", "tcp-listen:9000,fork,reuseaddr", "system:echo out"],
        ),
        Input::Null,
    );
    let reach = "if socat -u -T2 tcp:10.216.0.2:9000,connect-timeout=2 - 2>/dev/null | grep -q out; then echo OUT=yes; else echo OUT=no; fi";
    // Give the server its moment: the blue container retries.
    let ok = poll_until(Duration::from_secs(5), || {
        cx.sh(&["--network", "blue"], reach)
            .stdout
            .contains("OUT=yes")
    });
    assert!(ok, "a user network reaches the outside");
    let out = cx.sh(&["--network", "vault"], reach);
    assert!(
        out.stdout.contains("OUT=no"),
        "an internal network does not\n{out}"
    );
    // Published ports: served on a user network, not on an internal one.
    let out = sh_ns(
        &cx,
        host_ns(&cx),
        "socat -u -T2 tcp:127.0.0.1:18080,connect-timeout=2 - ; echo; socat -u -T2 tcp:127.0.0.1:18081,connect-timeout=2 - 2>&1; echo rc=$?",
    );
    assert!(
        out.stdout.starts_with("hi\n"),
        "published port on a user network\n{out}"
    );
    assert!(
        !out.stdout.contains("hi\nhi"),
        "none on an internal one\n{out}"
    );
    assert_eq!(cx.rrun(&["port", "b1"]).stdout, "80/tcp -> 0.0.0.0:18080\n");
}

fn upstream_forwarding(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let Some(np) = netprobe() else { return };
    let outside = NetNs::new().unwrap_or_else(|e| panic!("outside namespace: {e}"));
    connect(
        &cx,
        host_ns(&cx),
        &outside,
        "rrh0",
        "10.217.0.1/24",
        "rro0",
        "10.217.0.2/24",
        &[],
    );
    let mut dns = cx.spawn(
        in_ns(&outside, &np, &["dnsserve", "10.217.0.2:53"]),
        Input::Null,
    );
    dns.wait_text("ready");
    create(&cx, &["fwd"]);
    cx.detach(
        &["--network", "fwd", "--name", "local1"],
        &["sleep", "1000"],
    );
    let out = cx.sh(
        &["--network", "fwd", "--dns", "10.217.0.2"],
        "cat /etc/resolv.conf; nslookup probe.test; nslookup local1",
    );
    out.ok();
    assert!(out.stdout.contains("nameserver 127.0.0.11"), "{out}");
    assert!(!out.stdout.contains("nameserver 10.217.0.2"), "{out}");
    assert!(
        out.stdout.contains("10.1.2.3"),
        "forwarded to the --dns server\n{out}"
    );
    let ip = cx.inspect_f("{{.NetworkSettings.Networks.fwd.IPAddress}}", "local1");
    assert!(out.stdout.contains(&ip), "its own names stay local\n{out}");
    // An --internal network's resolver forwards nothing.
    create(&cx, &["--internal", "sealed"]);
    let out = cx.sh(
        &["--network", "sealed", "--dns", "10.217.0.2"],
        "nslookup probe.test; echo rc=$?",
    );
    assert!(
        !out.stdout.contains("10.1.2.3"),
        "no query leaves an internal network\n{out}"
    );
    // TCP to the resolver too.
    let out = cx.sh(
        &["--network", "fwd"],
        "printf '' | socat -u -T2 - tcp:127.0.0.11:53,connect-timeout=2 && echo TCP=yes",
    );
    assert!(
        out.stdout.contains("TCP=yes"),
        "the resolver listens on TCP\n{out}"
    );
}

/// No lookup of a running container's name fails while 20 others start
/// and stop on the same network.
fn lookups_during_starts_and_stops(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    create(&cx, &["busy"]);
    cx.detach(
        &["--network", "busy", "--name", "stable"],
        &["sleep", "1000"],
    );
    let ip = cx.inspect_f("{{.NetworkSettings.Networks.busy.IPAddress}}", "stable");
    cx.detach(
        &["--network", "busy", "--name", "asker", "--tmpfs", "/run/q"],
        &["sleep", "1000"],
    );
    // The asker looks up `stable` in a loop until told to stop.
    let asker = cx.spawn(
        cx.cmd(&[
            "exec",
            "asker",
            "sh",
            "-c",
            "n=0; f=0; while [ ! -e /run/q/stop ]; do n=$((n+1)); nslookup stable 2>/dev/null | grep -q 'Address: .*[0-9]' || f=$((f+1)); done; echo lookups=$n failed=$f",
        ]),
        Input::Null,
    );
    let mut kids = Vec::new();
    for i in 0..20 {
        kids.push(cx.spawn(
            cx.cmd(&[
                "run",
                "--rm",
                "--network",
                "busy",
                "--name",
                &format!("churn{i}"),
                cx.rootfs(),
                "true",
            ]),
            Input::Null,
        ));
    }
    for k in kids {
        k.wait().ok();
    }
    cx.rrun(&["exec", "asker", "touch", "/run/q/stop"]).ok();
    let out = asker.wait();
    out.ok();
    let n: u32 = out
        .stdout
        .split("lookups=")
        .nth(1)
        .and_then(|x| x.split_whitespace().next())
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    assert!(n > 0, "{out}");
    assert!(
        out.stdout.contains("failed=0"),
        "no lookup failed during 20 starts and stops\n{out}"
    );
    assert_eq!(lookup(&cx, "asker", "stable"), [ip]);
}

/// `network connect` gives a running container another interface, address
/// and names on a second network; `disconnect` takes them away; its end
/// gives them back.
fn connect_and_disconnect(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    create(&cx, &["left"]);
    create(&cx, &["--subnet", "10.126.0.0/24", "right"]);
    let a = cx.detach(&["--network", "left", "--name", "a1"], &["sleep", "1000"]);
    cx.detach(&["--network", "right", "--name", "b1"], &["sleep", "1000"]);
    let b_ip = cx.inspect_f("{{.NetworkSettings.Networks.right.IPAddress}}", "b1");
    assert!(
        lookup(&cx, "a1", "b1").is_empty(),
        "not on the same network yet"
    );
    cx.rrun(&[
        "network",
        "connect",
        "--alias",
        "bee",
        "--ip",
        "10.126.0.50",
        "right",
        "a1",
    ])
    .ok();
    let out = cx.rrun(&[
        "exec",
        "a1",
        "sh",
        "-c",
        "ip -4 -o addr show eth1; ip route",
    ]);
    out.ok();
    assert!(out.stdout.contains("10.126.0.50/24"), "{out}");
    assert!(
        out.stdout.contains("default via") && !out.stdout.contains("default via 10.126.0.1"),
        "the default route stays the first network's\n{out}"
    );
    assert_eq!(lookup(&cx, "a1", "b1"), std::slice::from_ref(&b_ip));
    assert_eq!(lookup(&cx, "b1", "a1"), ["10.126.0.50"]);
    assert_eq!(lookup(&cx, "b1", "bee"), ["10.126.0.50"]);
    let out = cx.sh(
        &["--network", "right"],
        "if socat -u -T2 - tcp:10.126.0.50:1,connect-timeout=2 </dev/null 2>&1 | grep -q refused; then echo REACHED; fi; ping -c1 -W2 10.126.0.50 >/dev/null && echo PING",
    );
    assert!(out.stdout.contains("PING"), "{out}");
    assert_eq!(
        cx.inspect_f("{{.NetworkSettings.Networks.right.IPAddress}}", "a1"),
        "10.126.0.50"
    );
    let ps = cx.rrun(&[
        "ps",
        "--filter",
        "name=a1",
        "--format",
        "{{.Names}} {{.Networks}}",
    ]);
    assert_eq!(
        ps.stdout, "a1 left,right\n",
        "ps's Networks, as Docker's\n{ps}"
    );
    let v = cx.rrun(&["network", "inspect", "-f", "{{json .Containers}}", "right"]);
    assert!(
        v.stdout.contains("10.126.0.50/24") && v.stdout.contains(&a),
        "{v}"
    );
    // Refusals: twice, a stopped container, a predefined network.
    let out = cx.rrun(&["network", "connect", "right", "a1"]);
    out.expect_code(125)
        .expect_rrun_error_containing("already exists in network right");
    let out = cx.rrun(&["network", "connect", "--ip", "10.126.0.50", "left", "b1"]);
    out.expect_code(125);
    let out = cx.rrun(&["network", "connect", "bridge", "b1"]);
    out.expect_code(125);
    let out = cx.rrun(&["network", "disconnect", "left", "b1"]);
    out.expect_code(125)
        .expect_rrun_error_containing("not connected");
    // In use: `network rm right` is refused while a1 is connected.
    let out = cx.rrun(&["network", "rm", "right"]);
    out.expect_code(125);
    // Disconnect: the interface, the names, the address go.
    cx.rrun(&["network", "disconnect", "right", "a1"]).ok();
    let out = cx.rrun(&[
        "exec",
        "a1",
        "sh",
        "-c",
        "ip -o link show eth1 || echo GONE",
    ]);
    assert!(out.stdout.contains("GONE"), "{out}");
    assert!(lookup(&cx, "b1", "a1").is_empty());
    assert!(lookup(&cx, "a1", "b1").is_empty());
    // Connected again, then stopped: its end gives the second address back.
    cx.rrun(&["network", "connect", "right", "a1"]).ok();
    assert_eq!(lookup(&cx, "b1", "a1").len(), 1);
    cx.rrun(&["stop", "-t", "0", "a1"]).ok();
    assert!(lookup(&cx, "b1", "a1").is_empty());
    let v = cx.rrun(&["network", "inspect", "-f", "{{len .Containers}}", "right"]);
    assert_eq!(v.stdout, "1\n", "only b1 is left on right\n{v}");
    cx.rrun(&["rm", "-f", "b1"]).ok();
    cx.rrun(&["network", "rm", "right"]).ok();
}

/// IPv6 beside IPv4: a user network's (given or made-up) IPv6 subnet and
/// the default bridge's --ipv6 --fixed-cidr-v6: addresses, routes, hosts
/// lines, AAAA answers, isolation, the way out (masquerade), and published
/// ports at [::1].
fn ipv6_dual_stack(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let host = host_ns(&cx);
    // An outside server with an IPv6 address; the host routes to it (and,
    // for pasta, has an IPv6 default route through it).
    let outside = NetNs::new().unwrap_or_else(|e| panic!("outside namespace: {e}"));
    connect(
        &cx,
        host,
        &outside,
        "rrh6",
        "10.218.0.1/24",
        "rro6",
        "10.218.0.2/24",
        &[],
    );
    sh_ns(
        &cx,
        host,
        "ip -6 addr add fd99:218::1/64 dev rrh6 nodad && ip -6 route add default via fd99:218::2",
    )
    .ok();
    sh_ns(
        &cx,
        &outside,
        "ip -6 addr add fd99:218::2/64 dev rro6 nodad",
    )
    .ok();
    let _srv = cx.spawn(
        in_ns(
            &outside,
            "socat",
            &["-T5", "tcp6-listen:9000,fork,reuseaddr", "system:echo out6"],
        ),
        Input::Null,
    );
    create(&cx, &["--ipv6", "--subnet", "fd42:1::/64", "six"]);
    let auto = create(&cx, &["--ipv6", "sixauto"]);
    let v = inspect_net(&cx, "sixauto");
    assert_eq!(v["EnableIPv6"], true);
    let sub6 = v["IPAM"]["Config"][1]["Subnet"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(sub6.starts_with("fd") && sub6.ends_with("::/64"), "{v}");
    assert_eq!(
        cx.rrun(&["network", "ls", "--format", "{{.Name}} {{.IPv6}}"])
            .stdout,
        "bridge false\nhost false\nnone false\nsix true\nsixauto true\n"
    );
    let _ = auto;
    cx.detach(
        &["--network", "six", "--name", "w6"],
        &[
            "socat",
            "-T5",
            "tcp6-listen:80,fork,reuseaddr",
            "system:echo hi6",
        ],
    );
    let w6 = cx.inspect_f("{{.NetworkSettings.Networks.six.GlobalIPv6Address}}", "w6");
    assert!(w6.starts_with("fd42:1::"), "{w6}");
    assert_eq!(
        cx.inspect_f("{{.NetworkSettings.Networks.six.IPv6Gateway}}", "w6"),
        "fd42:1::1"
    );
    cx.detach(&["--network", "six", "--name", "c6"], &["sleep", "1000"]);
    let out = cx.rrun(&[
        "exec",
        "c6",
        "sh",
        "-c",
        "ip -6 route | grep default; tail -2 /etc/hosts; socat -u -T2 tcp6:w6:80,connect-timeout=2 -",
    ]);
    out.ok();
    assert!(out.stdout.contains("default via fd42:1::1"), "{out}");
    assert!(out.stdout.contains("fd42:1::"), "an IPv6 hosts line\n{out}");
    assert!(out.stdout.contains("hi6"), "w6 over IPv6 by name\n{out}");
    let addrs = lookup(&cx, "c6", "w6");
    assert!(addrs.contains(&w6), "AAAA of w6: {addrs:?}");
    // Another IPv6 network is out of reach.
    let out = cx.sh(
        &["--network", "sixauto"],
        &format!("socat -u -T2 tcp6:[{w6}]:80,connect-timeout=2 - || echo BLOCKED"),
    );
    assert!(out.stdout.contains("BLOCKED"), "{out}");
    // Out: masqueraded to the outside's IPv6 server.
    let out = cx.sh(
        &["--network", "six"],
        "socat -u -T3 tcp6:[fd99:218::2]:9000,connect-timeout=3 - || echo FAILED",
    );
    // (Rootless: through pasta, started with IPv6 as the host routes it.)
    assert!(
        out.stdout.contains("out6"),
        "IPv6 out of a user network\n{out}"
    );
    // The default bridge with --ipv6 --fixed-cidr-v6.
    let out = cx.sh(
        &["--ipv6", "--fixed-cidr-v6", "fd00:dead:beef::/64"],
        "ip -6 -o addr show eth0 scope global; ip -6 route | grep default",
    );
    out.ok();
    assert!(out.stdout.contains("fd00:dead:beef::"), "{out}");
    assert!(
        out.stdout.contains("default via fd00:dead:beef::1"),
        "{out}"
    );
    let out = cx.sh(&["--fixed-cidr-v6", "fd00:1::/64"], "true");
    out.expect_code(125)
        .expect_rrun_error_containing("--fixed-cidr-v6");
    // Published ports answer at [::1] too (and are listed once).
    cx.detach(
        &["--name", "p6", "-p", "18090:80"],
        &[
            "socat",
            "-T5",
            "tcp-listen:80,fork,reuseaddr",
            "system:echo pub",
        ],
    );
    // (The server may still be starting: asked until it answers.)
    let (ok, last) = answered(
        &cx,
        host,
        "socat -u -T2 tcp:[::1]:18090,connect-timeout=2 -; socat -u -T2 tcp:127.0.0.1:18090,connect-timeout=2 -",
        |o| o == "pub\npub\n",
    );
    assert!(ok, "published port at [::1] and 127.0.0.1\n{last}");
    assert_eq!(cx.rrun(&["port", "p6"]).stdout, "80/tcp -> 0.0.0.0:18090\n");
    // On an IPv6 network, an IPv6 client of a published port reaches the
    // container's IPv6 address; as root by kernel NAT, which keeps the
    // client's address.
    cx.detach(
        &["--network", "six", "--name", "q6", "-p", "18091:80"],
        &[
            "socat",
            "-T5",
            "tcp6-listen:80,fork,reuseaddr",
            "system:echo peer=$SOCAT_PEERADDR",
        ],
    );
    let (ok, last) = answered(
        &cx,
        &outside,
        "socat -u -T2 tcp:[fd99:218::1]:18091,connect-timeout=2 -",
        |o| o.starts_with("peer="),
    );
    assert!(
        ok,
        "an IPv6 client from outside reaches the published port\n{last}"
    );
    if mode == Mode::Root {
        assert!(
            last.contains("peer=[fd99:0218:0000:0000:0000:0000:0000:0002]"),
            "kernel NAT keeps the IPv6 client's address\n{last}"
        );
    }
}

/// `nft flush ruleset` takes every network's rules, the isolation between
/// networks with them: the next start, on whichever network, rebuilds them
/// all.
fn flushed_firewall_rebuilds_every_network(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    create(&cx, &["one"]);
    create(&cx, &["two"]);
    let serve = [
        "socat",
        "-T5",
        "tcp-listen:80,fork,reuseaddr",
        "system:echo hi",
    ];
    cx.detach(&["--network", "one", "--name", "s1"], &serve);
    cx.detach(&["--network", "two", "--name", "s2"], &["sleep", "1000"]);
    let ip = cx.inspect_f("{{.NetworkSettings.Networks.one.IPAddress}}", "s1");
    let probe = format!(
        "if socat -u -T2 tcp:{ip}:80,connect-timeout=2 - 2>/dev/null | grep -q hi; then echo REACHED; else echo BLOCKED; fi"
    );
    let from_two = |cx: &Ctx| cx.rrun(&["exec", "s2", "sh", "-c", &probe]).stdout;
    assert!(from_two(&cx).contains("BLOCKED"));
    sh_bridge_ns(&cx, "nft flush ruleset").ok();
    assert!(
        from_two(&cx).contains("REACHED"),
        "the control: without rrun's rules the networks reach each other"
    );
    // A start on the default bridge notices and rebuilds the others too.
    let out = cx.sh(&[], "true");
    out.ok();
    assert!(out.stderr.contains("rebuilt"), "it says so\n{out}");
    assert!(
        from_two(&cx).contains("BLOCKED"),
        "network two is isolated from one again"
    );
}

/// `rename` of a container connected to a second network: the new name
/// resolves there and the old one stops, as on the network it was started
/// on; else the old name would keep answering, and a later container
/// taking that name would share it with the renamed one.
fn rename_follows_connected_networks(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    create(&cx, &["--subnet", "10.127.1.0/24", "one"]);
    create(&cx, &["--subnet", "10.127.2.0/24", "two"]);
    cx.detach(&["--network", "one", "--name", "old"], &["sleep", "1000"]);
    cx.detach(&["--network", "two", "--name", "peer"], &["sleep", "1000"]);
    cx.rrun(&["network", "connect", "--ip", "10.127.2.50", "two", "old"])
        .ok();
    assert_eq!(lookup(&cx, "peer", "old"), ["10.127.2.50"]);
    cx.rrun(&["rename", "old", "renamed"]).ok();
    assert_eq!(lookup(&cx, "peer", "renamed"), ["10.127.2.50"]);
    assert!(
        lookup(&cx, "peer", "old").is_empty(),
        "the old name no longer resolves on the connected network"
    );
    // The name is free: whoever takes it is the only one answering to it.
    cx.detach(
        &["--network", "two", "--ip", "10.127.2.60", "--name", "old"],
        &["sleep", "1000"],
    );
    assert_eq!(lookup(&cx, "peer", "old"), ["10.127.2.60"]);
}

/// A container connected to a network made after it started reaches that
/// network's containers over TCP (rootless: its socket bypass must not
/// send the connection out through the host, where that subnet is not).
fn connect_to_a_network_made_after_the_start(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    create(&cx, &["--subnet", "10.127.3.0/24", "early"]);
    // The container's own process connects (an exec'd one may be set up
    // otherwise), once eth1 is there; the result goes to its log.
    let script = "until ip link show eth1 >/dev/null 2>&1; do sleep 0.1; done; \
        for i in 1 2 3 4 5; do \
          if socat -u -T2 tcp:10.127.4.10:80,connect-timeout=2 - 2>&1 | grep -q hi; then echo REACHED; break; fi; \
          sleep 0.5; done; echo DONE; sleep 1000";
    cx.detach(
        &["--network", "early", "--name", "first"],
        &["sh", "-c", script],
    );
    create(&cx, &["--subnet", "10.127.4.0/24", "late"]);
    cx.detach(
        &[
            "--network",
            "late",
            "--name",
            "server",
            "--ip",
            "10.127.4.10",
        ],
        &[
            "socat",
            "-T5",
            "tcp-listen:80,fork,reuseaddr",
            "system:echo hi",
        ],
    );
    cx.rrun(&["network", "connect", "late", "first"]).ok();
    let done = poll_until(Duration::from_secs(20), || {
        cx.rrun(&["logs", "first"]).stdout.contains("DONE")
    });
    let out = cx.rrun(&["logs", "first"]);
    assert!(
        done && out.stdout.contains("REACHED"),
        "the connected network's container answers\n{out}"
    );
}
