//! Pure generators of the files rrun bind-mounts over the rootfs's own:
//! /etc/hosts, /etc/hostname and /etc/resolv.conf, in Docker's formats
//! (byte for byte what Docker 20.10 writes). The caller reads the host's files and passes
//! their text in; nothing here touches the filesystem.

use std::ffi::OsString;
use std::net::IpAddr;

/// Docker's fixed block at the top of every container's /etc/hosts.
pub const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// A line the container's /etc/hosts carries besides the default block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLine {
    pub ip: IpAddr,
    pub names: Vec<String>,
}

/// The names of a container's own /etc/hosts line, as Docker writes
/// them: with a --domainname, `HOST.DOMAIN` and the hostname's first
/// label; without, the hostname and, when it has dots, its first label.
pub fn own_names(hostname: &str, domainname: &str) -> Vec<String> {
    let full = if domainname.is_empty() {
        hostname.to_string()
    } else {
        format!("{hostname}.{domainname}")
    };
    let short = hostname.split('.').next().unwrap_or(hostname).to_string();
    if full == short {
        vec![full]
    } else {
        vec![full, short]
    }
}

/// The container's /etc/hosts: the default block, then `extra` lines (links,
/// --add-host), then the container's own line, when it has an address of
/// its own (as Docker: with no network, no line names it).
pub fn hosts_file(own: Option<&HostLine>, extra: &[HostLine]) -> String {
    let mut s = String::from(DEFAULT_HOSTS);
    for l in extra.iter().chain(own) {
        s.push_str(&format!("{}\t{}\n", l.ip, l.names.join(" ")));
    }
    s
}

pub fn hostname_file(hostname: &str) -> String {
    format!("{hostname}\n")
}

/// What a resolv.conf says, in the parts rrun looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resolv {
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

pub fn parse_resolv(text: &str) -> Resolv {
    let mut r = Resolv::default();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ns) = words.next() {
                    r.nameservers.push(ns.to_string());
                }
            }
            // As libc: the last search or domain line wins.
            Some("search") | Some("domain") => r.search = words.map(str::to_string).collect(),
            Some("options") => r.options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    r
}

/// True when `ns` names a loopback address (or is not an address at all,
/// which the container could not use either).
fn is_loopback_ns(ns: &str) -> bool {
    // A scoped IPv6 address (fe80::1%eth0) names an interface of the host.
    let bare = ns.split('%').next().unwrap_or(ns);
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || ns.contains('%'),
        Err(_) => true,
    }
}

/// Docker's fallback when the host leaves the container no nameserver.
pub const DEFAULT_DNS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// What --dns, --dns-search and --dns-option ask of a resolv.conf: each
/// replaces the host's values when given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsFlags {
    pub dns: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// The container's resolv.conf. `host` is the host's file; when the caller
/// shares the host's network it is used as it is; otherwise loopback
/// nameservers (a 127.0.0.53 stub is not reachable from another network
/// namespace) are dropped, and if none is left Docker's defaults are used.
/// `flags` (--dns, --dns-search, --dns-option) replace the host's values.
pub fn resolv_file(host: &Resolv, host_net: bool, flags: &DnsFlags) -> String {
    resolv_file_via(host, host_net, flags, None)
}

/// As [`resolv_file`]; `loopback_via`: an address that forwards DNS to
/// the host's resolver (rootless: pasta's), which then stands in for the
/// host's loopback nameservers instead of dropping them.
pub fn resolv_file_via(
    host: &Resolv,
    host_net: bool,
    flags: &DnsFlags,
    loopback_via: Option<&str>,
) -> String {
    let (dns, dns_search) = (&flags.dns, &flags.search);
    let nameservers: Vec<String> = if !dns.is_empty() {
        dns.to_vec()
    } else if host_net {
        host.nameservers.clone()
    } else {
        let mut kept: Vec<String> = Vec::new();
        for n in &host.nameservers {
            let n = match (is_loopback_ns(n), loopback_via) {
                (false, _) => n.clone(),
                (true, Some(via)) => via.to_string(),
                (true, None) => continue,
            };
            if !kept.contains(&n) {
                kept.push(n);
            }
        }
        if kept.is_empty() {
            DEFAULT_DNS.iter().map(|s| s.to_string()).collect()
        } else {
            kept
        }
    };
    let search = if dns_search.is_empty() {
        &host.search
    } else {
        dns_search
    };
    let mut s = String::new();
    // "--dns-search ." means: no search domains at all.
    let search: Vec<&String> = search.iter().filter(|d| d.as_str() != ".").collect();
    if !search.is_empty() {
        s.push_str("search ");
        s.push_str(
            &search
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
        s.push('\n');
    }
    for ns in &nameservers {
        s.push_str(&format!("nameserver {ns}\n"));
    }
    let options = if flags.options.is_empty() {
        &host.options
    } else {
        &flags.options
    };
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

/// Docker's embedded resolver, for containers on user-defined networks.
pub const EMBEDDED_DNS: &str = "127.0.0.11";

/// A resolv.conf for a container on a user-defined network, made from the
/// one it would have had (`plain`): its nameservers become the embedded
/// resolver's upstream servers (returned) and the file names the resolver
/// alone, with Docker's `ndots:0` unless the options set ndots.
pub fn embedded_resolv(plain: &str) -> (String, Vec<String>) {
    let mut upstream = Vec::new();
    let mut out = String::new();
    let mut options: Vec<&str> = Vec::new();
    for line in plain.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("nameserver") => upstream.extend(w.next().map(str::to_string)),
            Some("options") => options.extend(w),
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str(&format!("nameserver {EMBEDDED_DNS}\n"));
    if !options.iter().any(|o| o.starts_with("ndots:")) {
        options.insert(0, "ndots:0");
    }
    out.push_str(&format!("options {}\n", options.join(" ")));
    (out, upstream)
}

/// Whether the host's resolv.conf only points at systemd-resolved's stub, in
/// which case its upstream file is the one to read.
pub fn is_resolved_stub(host: &Resolv) -> bool {
    !host.nameservers.is_empty() && host.nameservers.iter().all(|n| n == "127.0.0.53")
}

/// The host's resolver configuration from /etc/resolv.conf's text; when it
/// points only at systemd-resolved's stub (127.0.0.53, unreachable from a
/// container), resolved's upstream file, read by `upstream`, if there.
pub fn host_resolv_from(etc: &str, upstream: impl FnOnce() -> Option<String>) -> Resolv {
    let main = parse_resolv(etc);
    if is_resolved_stub(&main)
        && let Some(up) = upstream()
    {
        return parse_resolv(&up);
    }
    main
}

/// The environment `--link TARGET:ALIAS` gives the linking container, as
/// Docker's links code writes it (scripts read these names): `ALIAS_NAME`, `ALIAS_PORT`
/// for the first port, four variables a port, `_START`/`_END` for runs of
/// consecutive ports, and `ALIAS_ENV_K` for the target's own -e variables
/// except HOME and PATH.
pub fn link_env(
    alias: &str,
    linker: &str,
    target_ip: IpAddr,
    exposed: &[crate::ports::Exposed],
    target_env: &[(String, OsString)],
) -> Vec<(String, OsString)> {
    let prefix = alias.to_uppercase().replace('-', "_");
    let mut out = vec![(format!("{prefix}_NAME"), format!("/{linker}/{alias}"))];
    let mut ports = exposed.to_vec();
    ports.sort_by_key(|e| (e.port, e.proto));
    ports.dedup();
    let url = |e: &crate::ports::Exposed| format!("{}://{}:{}", e.proto, target_ip, e.port);
    if let Some(first) = ports.first() {
        out.push((format!("{prefix}_PORT"), url(first)));
    }
    let mut i = 0;
    while i < ports.len() {
        // A run: consecutive numbers of one protocol.
        let mut j = i;
        while j + 1 < ports.len()
            && ports[j + 1].proto == ports[i].proto
            && ports[j + 1].port == ports[j].port + 1
        {
            j += 1;
        }
        if j > i {
            let (f, l) = (&ports[i], &ports[j]);
            let p = format!(
                "{prefix}_PORT_{}_{}",
                f.port,
                f.proto.to_string().to_uppercase()
            );
            out.push((format!("{p}_START"), url(f)));
            out.push((format!("{p}_PORT_START"), f.port.to_string()));
            out.push((format!("{p}_END"), url(l)));
            out.push((format!("{p}_PORT_END"), l.port.to_string()));
        }
        for e in &ports[i..=j] {
            let p = format!(
                "{prefix}_PORT_{}_{}",
                e.port,
                e.proto.to_string().to_uppercase()
            );
            out.push((p.clone(), url(e)));
            out.push((format!("{p}_ADDR"), target_ip.to_string()));
            out.push((format!("{p}_PORT"), e.port.to_string()));
            out.push((format!("{p}_PROTO"), e.proto.to_string()));
        }
        i = j + 1;
    }
    // The target's values are bytes, passed on as they are.
    let mut out: Vec<(String, OsString)> = out.into_iter().map(|(k, v)| (k, v.into())).collect();
    for (k, v) in target_env {
        if k != "HOME" && k != "PATH" {
            out.push((format!("{prefix}_ENV_{k}"), v.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{Exposed, Proto};

    #[test]
    fn link_env_reference() {
        let ip: IpAddr = "172.17.0.2".parse().unwrap();
        let exp = [
            Exposed {
                port: 5433,
                proto: Proto::Udp,
            },
            Exposed {
                port: 5432,
                proto: Proto::Tcp,
            },
        ];
        let mut got: Vec<String> = link_env(
            "db",
            "web2",
            ip,
            &exp,
            &[
                ("PG_VERSION".into(), "9.3".into()),
                ("PATH".into(), "/x".into()),
            ],
        )
        .into_iter()
        .map(|(k, v)| format!("{k}={}", v.to_string_lossy()))
        .collect();
        got.sort();
        let mut want = vec![
            "DB_NAME=/web2/db",
            "DB_PORT=tcp://172.17.0.2:5432",
            "DB_PORT_5432_TCP=tcp://172.17.0.2:5432",
            "DB_PORT_5432_TCP_ADDR=172.17.0.2",
            "DB_PORT_5432_TCP_PORT=5432",
            "DB_PORT_5432_TCP_PROTO=tcp",
            "DB_PORT_5433_UDP=udp://172.17.0.2:5433",
            "DB_PORT_5433_UDP_ADDR=172.17.0.2",
            "DB_PORT_5433_UDP_PORT=5433",
            "DB_PORT_5433_UDP_PROTO=udp",
            "DB_ENV_PG_VERSION=9.3",
        ];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn link_env_runs_and_first_port() {
        let ip: IpAddr = "172.17.0.2".parse().unwrap();
        let run: Vec<Exposed> = (6000..=6002)
            .map(|port| Exposed {
                port,
                proto: Proto::Tcp,
            })
            .collect();
        let env = link_env("my-t", "w", ip, &run, &[]);
        let has = |k: &str, v: &str| env.iter().any(|(a, b)| a == k && b == v);
        assert!(has("MY_T_PORT_6000_TCP_START", "tcp://172.17.0.2:6000"));
        assert!(has("MY_T_PORT_6000_TCP_PORT_START", "6000"));
        assert!(has("MY_T_PORT_6000_TCP_END", "tcp://172.17.0.2:6002"));
        assert!(has("MY_T_PORT_6000_TCP_PORT_END", "6002"));
        assert!(has("MY_T_PORT_6001_TCP_ADDR", "172.17.0.2"));
        assert!(!env.iter().any(|(k, _)| k == "MY_T_PORT_6001_TCP_START"));
        let mixed = [
            Exposed {
                port: 80,
                proto: Proto::Tcp,
            },
            Exposed {
                port: 53,
                proto: Proto::Udp,
            },
        ];
        let env = link_env("x", "w", ip, &mixed, &[]);
        assert!(
            env.iter()
                .any(|(k, v)| k == "X_PORT" && v == "udp://172.17.0.2:53")
        );
    }

    const BLOCK: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

    fn flags(dns: &[&str], search: &[&str], options: &[&str]) -> DnsFlags {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        DnsFlags {
            dns: v(dns),
            search: v(search),
            options: v(options),
        }
    }

    #[test]
    fn hosts_default() {
        // No address of its own (--net=none): no line names the container,
        // as in Docker.
        assert_eq!(hosts_file(None, &[]), BLOCK);
        let foo = HostLine {
            ip: "1.2.3.4".parse().unwrap(),
            names: vec!["foo".into()],
        };
        assert_eq!(hosts_file(None, &[foo]), format!("{BLOCK}1.2.3.4\tfoo\n"));
    }

    #[test]
    fn hosts_reference() {
        let db = HostLine {
            ip: "172.17.0.2".parse().unwrap(),
            names: vec!["db".into(), "82a3cb6f3db1".into()],
        };
        let own = HostLine {
            ip: "172.17.0.4".parse().unwrap(),
            names: own_names("myhost", ""),
        };
        let h = hosts_file(Some(&own), &[db]);
        let want = format!("{BLOCK}172.17.0.2\tdb 82a3cb6f3db1\n172.17.0.4\tmyhost\n");
        assert_eq!(h, want);
    }

    #[test]
    fn own_names_as_docker() {
        // Captured from Docker 20.10: `-h H [--domainname D]` → the line's
        // names.
        for (h, d, want) in [
            ("myhost", "", &["myhost"][..]),
            ("web.example.com", "", &["web.example.com", "web"]),
            ("a.b.c.d", "", &["a.b.c.d", "a"]),
            ("web", "corp.lan", &["web.corp.lan", "web"]),
            (
                "web.example.com",
                "corp.lan",
                &["web.example.com.corp.lan", "web"],
            ),
            (
                "b44241ca15f1",
                "corp.lan",
                &["b44241ca15f1.corp.lan", "b44241ca15f1"],
            ),
        ] {
            assert_eq!(own_names(h, d), want, "-h {h} --domainname {d:?}");
        }
    }

    #[test]
    fn resolv_parse_and_filter() {
        let host = parse_resolv(
            "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2 # x\nnameserver ::1\nnameserver fe80::1%eth0\nsearch a.example b.example\noptions edns0 trust-ad\n",
        );
        assert_eq!(host.nameservers.len(), 4);
        let none = DnsFlags::default();
        let r = resolv_file(&host, false, &none);
        assert_eq!(
            r,
            "search a.example b.example\nnameserver 10.0.0.2\noptions edns0 trust-ad\n"
        );
        let hostnet = resolv_file(&host, true, &none);
        assert!(hostnet.contains("nameserver 127.0.0.53\n"));
    }

    #[test]
    fn resolved_stub_reads_the_upstream_file() {
        let stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n";
        let up = "nameserver 192.0.2.7\nnameserver 127.0.0.1\nsearch corp\n";
        let r = host_resolv_from(stub, || Some(up.to_string()));
        assert_eq!(r, parse_resolv(up));
        // Loopback servers of the upstream file are still dropped.
        assert_eq!(
            resolv_file(&r, false, &DnsFlags::default()),
            "search corp\nnameserver 192.0.2.7\n"
        );
        // No upstream file: the stub's file (whose loopback is dropped).
        assert_eq!(host_resolv_from(stub, || None), parse_resolv(stub));
        // Not a stub: the upstream file is never read.
        let plain = "nameserver 10.0.0.1\n";
        let r = host_resolv_from(plain, || panic!("read the upstream file"));
        assert_eq!(r, parse_resolv(plain));
    }

    #[test]
    fn resolv_defaults_and_flags() {
        let host = parse_resolv("nameserver 127.0.0.53\n");
        assert!(is_resolved_stub(&host));
        assert_eq!(
            resolv_file(&host, false, &DnsFlags::default()),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let stub =
            parse_resolv("nameserver 127.0.0.53\nnameserver 127.0.0.1\nnameserver 10.0.0.2\n");
        let r = resolv_file_via(&stub, false, &DnsFlags::default(), Some("169.254.1.1"));
        assert_eq!(r, "nameserver 169.254.1.1\nnameserver 10.0.0.2\n");
        let r = resolv_file_via(
            &stub,
            false,
            &flags(&["10.9.9.9"], &[], &[]),
            Some("169.254.1.1"),
        );
        assert_eq!(r, "nameserver 10.9.9.9\n");
        let r = resolv_file(&host, false, &flags(&["10.1.2.3"], &["example.com"], &[]));
        assert_eq!(r, "search example.com\nnameserver 10.1.2.3\n");
        let r = resolv_file(
            &parse_resolv("search x\nnameserver 1.1.1.1"),
            false,
            &flags(&[], &["."], &[]),
        );
        assert_eq!(r, "nameserver 1.1.1.1\n");
    }

    #[test]
    fn resolv_dns_options() {
        // Captured from Docker 20.10 (host file: one nameserver, no options).
        let host = parse_resolv("nameserver 10.255.255.53\n");
        let r = resolv_file(&host, false, &flags(&[], &[], &["ndots:2", "timeout:1"]));
        assert_eq!(r, "nameserver 10.255.255.53\noptions ndots:2 timeout:1\n");
        let r = resolv_file(
            &host,
            false,
            &flags(&["10.1.2.3"], &["ex.com"], &["ndots:2"]),
        );
        assert_eq!(r, "search ex.com\nnameserver 10.1.2.3\noptions ndots:2\n");
        // Given twice, written twice.
        let r = resolv_file(&host, true, &flags(&[], &[], &["ndots:2", "ndots:2"]));
        assert_eq!(r, "nameserver 10.255.255.53\noptions ndots:2 ndots:2\n");
        // They replace the host's options; without them the host's stay.
        let host = parse_resolv("nameserver 10.0.0.1\noptions edns0 trust-ad\n");
        let r = resolv_file(&host, false, &flags(&[], &[], &["ndots:3"]));
        assert_eq!(r, "nameserver 10.0.0.1\noptions ndots:3\n");
        let r = resolv_file(&host, true, &flags(&[], &[], &["ndots:3"]));
        assert_eq!(r, "nameserver 10.0.0.1\noptions ndots:3\n");
        let r = resolv_file(&host, false, &DnsFlags::default());
        assert_eq!(r, "nameserver 10.0.0.1\noptions edns0 trust-ad\n");
    }

    #[test]
    fn embedded_resolv_conf() {
        let (t, up) = embedded_resolv(
            "search a.example b\nnameserver 10.0.0.1\nnameserver 127.0.0.53\noptions edns0 timeout:2\n",
        );
        assert_eq!(
            t,
            "search a.example b\nnameserver 127.0.0.11\noptions ndots:0 edns0 timeout:2\n"
        );
        assert_eq!(up, ["10.0.0.1", "127.0.0.53"]);
        let (t, up) = embedded_resolv("nameserver 8.8.8.8\noptions ndots:3\n");
        assert_eq!(t, "nameserver 127.0.0.11\noptions ndots:3\n");
        assert_eq!(up, ["8.8.8.8"]);
        let (t, up) = embedded_resolv("");
        assert_eq!(t, "nameserver 127.0.0.11\noptions ndots:0\n");
        assert!(up.is_empty());
    }
}
