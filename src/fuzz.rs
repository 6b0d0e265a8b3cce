//! Property tests ("fuzzing" in CI, bounded in time) of every parser of
//! user input.
//!
//! For each parser: no input makes it panic (arbitrary strings, and
//! strings built from the pieces of its grammar so that the interesting
//! paths are reached), what it accepts is what the rest of rrun relies on
//! (no newline in a name that goes into /etc/hosts, no '=' in an env key…),
//! and where rrun also writes the thing back out, parse → format → parse
//! gives the same value. Case counts are fixed so that the whole module
//! runs in a few seconds in a debug build (RRUN_FUZZ_SCALE=N runs N times
//! as many); a failing case is printed, not stored (no regression files in
//! the tree).

use std::ffi::{OsStr, OsString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value, json};

use crate::hosts::{self, HostLine, Resolv};
use crate::net::settings;
use crate::ports::{self, Binding, Exposed, Proto};
use crate::spec::{self, EnvVar, GroupEntry, PasswdEntry};
use crate::template::Template;

/// `cases` random inputs (times $RRUN_FUZZ_SCALE, for a longer run by
/// hand), failures not persisted, little shrinking (a shrunk case is nice
/// to have, not worth a slow CI run).
fn cfg(cases: u32) -> Config {
    let scale = std::env::var("RRUN_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    Config {
        cases: cases.saturating_mul(scale),
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// Arbitrary text: any Unicode, short runs with newlines and NULs, and
/// strings of `alphabet`'s pieces (the grammar's own tokens).
fn text_of(pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any::<String>(),
        2 => "(?s).{0,40}",
        1 => "[\\x00-\\x7f]{0,40}",
        5 => proptest::collection::vec(proptest::sample::select(pieces), 0..12)
            .prop_map(|v| v.concat()),
    ]
}

/// Bytes that are not UTF-8: a lone Latin-1 byte, an invalid start, a
/// cut sequence, a continuation byte, an encoded surrogate.
const NOT_UTF8: &[&[u8]] = &[b"\xe9", b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80"];

/// Arbitrary bytes: [`text_of`]'s text, any bytes, and `pieces` with bytes
/// that are not UTF-8 among them (what commands, env values and paths may
/// hold).
fn bytes_of(pieces: &'static [&'static str]) -> impl Strategy<Value = OsString> {
    let piece = prop_oneof![
        4 => proptest::sample::select(pieces).prop_map(|p| p.as_bytes().to_vec()),
        1 => proptest::sample::select(NOT_UTF8).prop_map(<[u8]>::to_vec),
    ];
    prop_oneof![
        2 => text_of(pieces).prop_map(OsString::from),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(OsString::from_vec),
        4 => proptest::collection::vec(piece, 0..12).prop_map(|v| OsString::from_vec(v.concat())),
    ]
}

const PORT_PIECES: &[&str] = &[
    "0",
    "1",
    "80",
    "8080",
    "65535",
    "65536",
    "99999",
    "00080",
    "-",
    ":",
    "::",
    "/",
    "/tcp",
    "/udp",
    "/sctp",
    "tcp",
    "[",
    "]",
    "[::1]",
    "[::]",
    "127.0.0.1",
    "0.0.0.0",
    "::1",
    "1.2.3",
    "fe80::1%eth0",
    " ",
    "+1",
    "a",
    "\n",
    "\0",
    "é",
];

const ENV_PIECES: &[&str] = &[
    "A", "PATH", "_", "1", "=", "==", " ", "\t", "\n", "\r", "\r\n", "\0", "#", "-", "é", "$",
    "\"", "'", "\\", "\u{a0}", "\u{2028}", "x",
];

const NAME_PIECES: &[&str] = &[
    "a", "Z", "0", "9", "_", ".", "-", "/", ":", " ", "\n", "\0", "#", "é", "..", "db", "web",
];

const HOST_PIECES: &[&str] = &[
    "a",
    "b0",
    "-",
    "_",
    ".",
    "..",
    " ",
    "\n",
    "#",
    ":",
    "\0",
    "é",
    "x123456789",
    "host-gateway",
    "1.2.3.4",
    "::1",
    "[",
    "]",
];

const RESOLV_PIECES: &[&str] = &[
    "nameserver",
    "search",
    "domain",
    "options",
    " ",
    "\t",
    "\n",
    "\r\n",
    "#",
    ";",
    "1.1.1.1",
    "127.0.0.53",
    "::1",
    "fe80::1%eth0",
    "example.com",
    ".",
    "ndots:5",
    "edns0",
    "\0",
    "é",
];

const PASSWD_PIECES: &[&str] = &[
    "root",
    "app",
    ":",
    "::",
    "x",
    "0",
    "1000",
    "4294967295",
    "4294967296",
    "-1",
    "/root",
    "/",
    "\n",
    "#",
    " ",
    ",",
    "users",
    "\0",
    "é",
    "",
];

const USER_PIECES: &[&str] = &[
    "root",
    "app",
    "nobody",
    ":",
    "0",
    "1000",
    "4294967295",
    "4294967296",
    "-1",
    "$",
    "-",
    "_",
    ".",
    " ",
    "é",
    "users",
    "",
];

const SETTINGS_PIECES: &[&str] = &[
    "172.17.0.1",
    "10.0.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "127.0.0.1",
    "224.0.0.1",
    "/",
    "/8",
    "/16",
    "/24",
    "/30",
    "/31",
    "/32",
    "/0",
    "1500",
    "68",
    "65535",
    "65536",
    "true",
    "false",
    "1",
    "0",
    "rrun0",
    "br-",
    ":",
    " ",
    "\n",
    "::1",
    "[::1]",
    "x",
];

const TEMPLATE_PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    ".",
    ".State",
    ".Pid",
    ".Name",
    ".Config.Env",
    ".NetworkSettings",
    ".Ports",
    "$",
    "$x",
    "$x :=",
    "$i, $v :=",
    "=",
    " ",
    "|",
    "(",
    ")",
    "range",
    "if",
    "else",
    "else if",
    "with",
    "end",
    "break",
    "continue",
    "define",
    "template",
    "block",
    "json",
    "len",
    "index",
    "slice",
    "printf",
    "print",
    "println",
    "join",
    "split",
    "upper",
    "lower",
    "title",
    "truncate",
    "pad",
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    "nil",
    "true",
    "false",
    "0",
    "1",
    "-1",
    "3",
    "1.5",
    "0x1F",
    "1e3",
    "'a'",
    "\"s\"",
    "\"%v\"",
    "\"%d %s\"",
    "\"%-5.2q\"",
    "`raw`",
    "\"\\n\"",
    "\"\\x",
    ",",
    "/*",
    "*/",
    "\n",
    "é",
    "\0",
];

fn sample_data() -> Value {
    json!({
        "Id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "Name": "/db",
        "State": {"Status": "running", "Running": true, "Pid": 4242, "ExitCode": 0,
                  "StartedAt": "2026-01-02T03:04:05.000000006Z"},
        "Config": {"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh", "-c", "x"], "Tty": false,
                   "ExposedPorts": {"80/tcp": {}}, "Labels": {}},
        "NetworkSettings": {"IPAddress": "172.17.0.2",
                            "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
                                      "53/udp": null}},
        "Numbers": [1, -2, 3.5, 1e300, 18446744073709551615u64],
    })
}

// ------------------------------------------------------------------ ports

fn proto() -> impl Strategy<Value = Proto> {
    prop_oneof![Just(Proto::Tcp), Just(Proto::Udp)]
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        Just(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        Just(ports::ANY_V4),
    ]
}

proptest! {
    #![proptest_config(cfg(2000))]

    #[test]
    fn publish_never_panics(s in text_of(PORT_PIECES), default in ip()) {
        if let Ok(b) = ports::parse_publish(&s, default) {
            prop_assert!(!b.is_empty() && b.len() <= 65535);
            for x in &b {
                prop_assert!(x.container_port >= 1);
            }
            // What ps and port print of it never panics either.
            let exposed: Vec<Exposed> = b
                .iter()
                .map(|x| Exposed { port: x.container_port, proto: x.proto })
                .collect();
            ports::ps_ports(&exposed, &b);
            ports::port_lines(&b, exposed.first().copied());
        }
    }

    #[test]
    fn expose_never_panics(s in text_of(PORT_PIECES)) {
        if let Ok(e) = ports::parse_expose(&s) {
            prop_assert!(!e.is_empty() && e.iter().all(|x| x.port >= 1));
        }
        if let Ok(one) = ports::parse_port_filter(&s) {
            prop_assert_eq!(ports::parse_port_filter(&one.to_string()), Ok(one));
        }
    }
}

proptest! {
    #![proptest_config(cfg(1000))]

    /// An exposed port printed as `port` prints it parses back to itself.
    #[test]
    fn expose_round_trip(port in 1u16.., proto in proto()) {
        let e = Exposed { port, proto };
        prop_assert_eq!(ports::parse_expose(&e.to_string()), Ok(vec![e]));
        prop_assert_eq!(ports::parse_port_filter(&e.to_string()), Ok(e));
    }

    /// A binding written as `IP:HOST_PORT:CONTAINER_PORT/PROTO` (IPv6 in
    /// brackets, as Go's JoinHostPort and `rrun port` print it; no host
    /// port: `IP::CP`), and ranges of it, parse back to the same bindings.
    #[test]
    fn publish_round_trip(
        host_ip in ip(),
        host_port in 0u16..,
        container_port in 1u16..,
        len in 0u16..4,
        proto in proto(),
        default in ip(),
    ) {
        let n = len.min(65535 - container_port).min(65535u16.saturating_sub(host_port));
        let want: Vec<Binding> = (0..=n)
            .map(|i| Binding {
                host_ip,
                host_port: if host_port == 0 { 0 } else { host_port + i },
                container_port: container_port + i,
                proto,
            })
            .collect();
        let range = |a: u16| if n == 0 { a.to_string() } else { format!("{a}-{}", a + n) };
        let hp = if host_port == 0 { String::new() } else { range(host_port) };
        let ip_text = match host_ip {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        let spec = format!("{ip_text}:{hp}:{}/{proto}", range(container_port));
        prop_assert_eq!(ports::parse_publish(&spec, default), Ok(want.clone()), "{}", spec);
        // Without the IP, the default address; without /tcp, tcp.
        if proto == Proto::Tcp && host_port != 0 {
            let short = format!("{hp}:{}", range(container_port));
            let with_default: Vec<Binding> =
                want.iter().map(|b| Binding { host_ip: default, ..*b }).collect();
            prop_assert_eq!(ports::parse_publish(&short, default), Ok(with_default));
        }
    }
}

// ------------------------------------------------------------ env, names

fn no_lookup(_: &str) -> Option<OsString> {
    None
}

/// A key rrun accepts: no '=', '#', whitespace or control character, no
/// leading '-', at most 255 characters.
fn env_key() -> impl Strategy<Value = String> {
    "[^=#\\s\\x00-\\x1f-][^=#\\s\\x00-\\x1f]{0,19}".prop_filter(
        "no Unicode whitespace or control",
        |k| {
            !k.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '=' || c == '#')
        },
    )
}

/// A value rrun accepts: any bytes but NUL and newline.
fn env_value() -> impl Strategy<Value = OsString> {
    prop_oneof![
        "[^\\n\\x00]{0,30}".prop_map(OsString::from),
        bytes_of(ENV_PIECES).prop_map(|v| {
            let mut b = v.into_vec();
            b.retain(|&c| c != b'\n' && c != 0);
            OsString::from_vec(b)
        }),
    ]
}

fn has_nl_or_nul(v: &OsStr) -> bool {
    v.as_bytes().iter().any(|&c| c == b'\n' || c == 0)
}

proptest! {
    #![proptest_config(cfg(2000))]

    /// Whatever `-e` accepts is a well-formed variable: the key has no '=',
    /// NUL or whitespace, the value no NUL or newline.
    #[test]
    fn env_never_panics(s in bytes_of(ENV_PIECES)) {
        // The caller's environment holds bytes too.
        let look = |k: &str| {
            k.len().is_multiple_of(2).then(|| OsString::from_vec([b"v\xe9", k.as_bytes()].concat()))
        };
        if let Ok(Some(v)) = spec::parse_env(&s, &look) {
            prop_assert!(!v.key.is_empty());
            prop_assert!(!v.key.chars().any(|c| c == '=' || c == '\0' || c.is_whitespace()));
            prop_assert!(!has_nl_or_nul(&v.value));
            prop_assert_eq!(spec::EnvVar::from_os(&v.to_os()), Some(v.clone()));
        }
        let key = crate::bytes::split_once(&s, b'=').map_or(s.as_os_str(), |(k, _)| k);
        if key.as_bytes().contains(&0) || key.to_str().is_none() {
            prop_assert!(spec::parse_env(&s, &look).is_err(), "a key with NUL or not UTF-8: {:?}", s);
        }
    }

    /// Whatever --env-file accepts is well-formed too; a NUL on a line that
    /// is not a comment is refused.
    #[test]
    fn env_file_never_panics(s in bytes_of(ENV_PIECES)) {
        match spec::parse_env_file("f", s.as_bytes(), &no_lookup) {
            Ok(vars) => {
                for v in vars {
                    prop_assert!(!v.key.is_empty());
                    prop_assert!(!v.key.chars().any(|c| c == '=' || c == '\0' || c.is_whitespace()));
                    prop_assert!(!has_nl_or_nul(&v.value));
                }
            }
            Err(e) => {
                let m = e.to_string();
                prop_assert!(m.starts_with("env file f, line "));
                prop_assert!(!m.contains('\n'), "one line: {:?}", m);
            }
        }
        let nul_line = s.as_bytes().split(|&c| c == b'\n').any(|l| {
            let l = String::from_utf8_lossy(l);
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('#') && l.contains('\0')
        });
        if nul_line {
            prop_assert!(spec::parse_env_file("f", s.as_bytes(), &no_lookup).is_err());
        }
    }

    /// `K=V` as config.json stores it (EnvVar::to_os) parses back, bytes
    /// and all.
    #[test]
    fn env_round_trip(key in env_key(), value in env_value()) {
        let v = EnvVar { key, value };
        prop_assert_eq!(spec::parse_env(v.to_os(), &no_lookup), Ok(Some(v.clone())));
        prop_assert_eq!(spec::EnvVar::from_os(&v.to_os()), Some(v));
    }

    /// An env file written one `K=V` a line parses back to the same list,
    /// values exactly as written (spaces, quotes, '#', '=' and all) — but
    /// for keys starting with '#' (a comment line) and values ending in
    /// '\r' (a CRLF line end), which a file cannot say.
    #[test]
    fn env_file_round_trip(
        vars in proptest::collection::vec((env_key(), env_value()), 0..8),
        crlf in any::<bool>(),
    ) {
        let vars: Vec<EnvVar> = vars
            .into_iter()
            .filter(|(k, v)| !k.starts_with('#') && !v.as_bytes().ends_with(b"\r"))
            .map(|(key, value)| EnvVar { key, value })
            .collect();
        let nl: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let text: Vec<u8> = vars.iter().flat_map(|v| [v.to_os().as_bytes(), nl].concat()).collect();
        prop_assert_eq!(spec::parse_env_file("f", &text, &no_lookup), Ok(vars));
    }

    /// Names (--name, --link targets and aliases): what is accepted is
    /// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 characters (a container
    /// name 2 at least), and validating it again gives it back.
    #[test]
    fn names_and_links(s in text_of(NAME_PIECES)) {
        if let Ok(n) = spec::validate_name(&s) {
            prop_assert!(n.len() >= 2 && n.len() <= 128);
            prop_assert_eq!(spec::validate_alias(&s), Ok(n.clone()));
            prop_assert!(n.starts_with(|c: char| c.is_ascii_alphanumeric()));
            prop_assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
            prop_assert_eq!(spec::validate_name(&n), Ok(n.clone()));
        }
        // --link NAME[:ALIAS], as plan.rs splits it; the alias names the
        // link variables, which must all be valid variables.
        let (t, al) = s.split_once(':').unwrap_or((&s, &s));
        if let (Ok(_), Ok(alias)) = (spec::validate_alias(t), spec::validate_alias(al)) {
            let env = hosts::link_env(
                &alias,
                "me",
                IpAddr::V4(Ipv4Addr::new(172, 17, 0, 2)),
                &[Exposed { port: 80, proto: Proto::Tcp }, Exposed { port: 81, proto: Proto::Tcp }],
                &[("K".into(), OsString::from_vec(b"v w\xe9".to_vec()))],
            );
            for (k, v) in env {
                let line = crate::bytes::join(OsStr::new(&k), b'=', &v);
                prop_assert!(matches!(spec::parse_env(&line, &no_lookup), Ok(Some(_))), "{:?}", line);
            }
        }
    }

    /// Generated names are valid names.
    #[test]
    fn generated_names_are_valid(a in any::<u32>(), b in any::<u32>()) {
        let n = crate::names::generate(a, b);
        prop_assert_eq!(spec::validate_name(&n), Ok(n.clone()));
    }

    /// Hostnames and --add-host names: what is accepted cannot break a line
    /// of /etc/hosts or /etc/hostname (no whitespace, '#', NUL, ':').
    #[test]
    fn hostnames(s in text_of(HOST_PIECES), extra in text_of(HOST_PIECES), domain in text_of(HOST_PIECES)) {
        if spec::validate_hostname(&s).is_ok() {
            prop_assert!(!s.is_empty() && s.len() <= 64);
            prop_assert!(!s.starts_with('-'));
            prop_assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
            let names: Vec<String> = match spec::validate_hostname(&extra) {
                Ok(()) => vec![extra.clone()],
                Err(_) => vec!["alias".into()],
            };
            // --domainname, as plan.rs takes it ("" when none).
            let domain = if spec::validate_domainname(&domain).is_ok() { domain } else { String::new() };
            let own = HostLine {
                ip: IpAddr::V4(Ipv4Addr::new(172, 17, 0, 2)),
                names: hosts::own_names(&s, &domain),
            };
            let f = hosts::hosts_file(
                Some(&own),
                &[HostLine { ip: IpAddr::V6(Ipv6Addr::LOCALHOST), names }],
            );
            let lines: Vec<&str> = f.lines().collect();
            prop_assert_eq!(lines.len(), 8);
            let short = s.split('.').next().unwrap_or_default();
            let full = if domain.is_empty() { s.clone() } else { format!("{s}.{domain}") };
            let want = if full == short { format!("172.17.0.2\t{full}") } else { format!("172.17.0.2\t{full} {short}") };
            prop_assert_eq!(lines[7], want);
            prop_assert_eq!(hosts::hostname_file(&s), format!("{s}\n"));
            // No address of its own: the default block and the lines only.
            let f = hosts::hosts_file(None, &[]);
            prop_assert_eq!(f.lines().count(), 6);
        }
    }
}

// ------------------------------------------------- passwd, group, users

fn field() -> impl Strategy<Value = String> {
    "[^:\\n\\r]{0,12}"
}

fn passwd_entry() -> impl Strategy<Value = PasswdEntry> {
    (field(), any::<u32>(), any::<u32>(), field()).prop_filter_map(
        "a name that is not empty or a comment",
        |(name, uid, gid, home)| {
            (!name.is_empty() && !name.trim_start().starts_with('#')).then_some(PasswdEntry {
                name,
                uid,
                gid,
                home,
            })
        },
    )
}

fn group_entry() -> impl Strategy<Value = GroupEntry> {
    (
        field(),
        any::<u32>(),
        proptest::collection::vec("[^:,\\n\\r]{1,8}", 0..4),
    )
        .prop_filter_map(
            "a name that is not empty or a comment",
            |(name, gid, members)| {
                (!name.is_empty() && !name.trim_start().starts_with('#')).then_some(GroupEntry {
                    name,
                    gid,
                    members,
                })
            },
        )
}

proptest! {
    #![proptest_config(cfg(1000))]

    /// A rootfs's /etc/passwd and /etc/group are the rootfs owner's text:
    /// anything parses, and -u against them never panics; what -u resolves
    /// to is never uid/gid -1 (the kernel's "no change").
    #[test]
    fn passwd_group_never_panic(
        p in text_of(PASSWD_PIECES),
        g in text_of(PASSWD_PIECES),
        u in text_of(USER_PIECES),
    ) {
        let passwd = spec::parse_passwd(&p);
        let group = spec::parse_group(&g);
        for e in &passwd {
            prop_assert!(!e.name.is_empty() && !e.name.contains([':', '\n']));
        }
        if let Ok(mut user) = spec::resolve_user(&u, &passwd, &group) {
            prop_assert!(user.uid != u32::MAX && user.gid != u32::MAX);
            prop_assert!(!user.home.is_empty());
            // The gid first; an explicit group alone (Docker's rule).
            prop_assert_eq!(user.groups.first(), Some(&user.gid));
            if u.contains(':') {
                prop_assert_eq!(&user.groups, &vec![user.gid]);
            }
            // --group-add, whatever it names: each group once.
            let add: Vec<String> = u.split([':', ',']).map(str::to_string).collect();
            if spec::add_groups(&mut user, &add, &group).is_ok() {
                let mut seen = user.groups.clone();
                seen.sort();
                seen.dedup();
                prop_assert_eq!(seen.len(), user.groups.len());
            }
        }
    }

    /// Entries written in passwd's format parse back; so do group entries.
    #[test]
    fn passwd_group_round_trip(
        users in proptest::collection::vec(passwd_entry(), 0..6),
        groups in proptest::collection::vec(group_entry(), 0..6),
    ) {
        let text: String = users
            .iter()
            .map(|e| format!("{}:x:{}:{}:gecos:{}:/bin/sh\n", e.name, e.uid, e.gid, e.home))
            .collect();
        prop_assert_eq!(spec::parse_passwd(&text), users.clone());
        let text: String = groups
            .iter()
            .map(|e| format!("{}:x:{}:{}\n", e.name, e.gid, e.members.join(",")))
            .collect();
        prop_assert_eq!(spec::parse_group(&text), groups.clone());
        // -u NAME finds the first entry of that name (a numeric name is
        // a uid, as in Docker).
        if let Some(e) = users.iter().find(|e| e.uid != u32::MAX && e.name.parse::<u32>().is_err()) {
            let first = users.iter().find(|x| x.name == e.name).unwrap();
            if let Ok(u) = spec::resolve_user(&e.name, &users, &[]) {
                prop_assert_eq!(u.uid, first.uid);
            }
        }
    }
}

// ------------------------------------------------------------ resolv.conf

proptest! {
    #![proptest_config(cfg(1500))]

    /// The host's resolv.conf: anything parses; the file rrun writes from
    /// it parses back to what was read ("." search domains aside, which
    /// mean "none"); without the host's network it never names a loopback
    /// nameserver and always names one.
    #[test]
    fn resolv_round_trip(text in text_of(RESOLV_PIECES)) {
        let r = hosts::parse_resolv(&text);
        for w in r.nameservers.iter().chain(&r.search).chain(&r.options) {
            prop_assert!(!w.is_empty() && !w.contains(|c: char| c.is_whitespace() || c == '#' || c == ';'));
        }
        let none = hosts::DnsFlags::default();
        let out = hosts::resolv_file(&r, true, &none);
        let want = Resolv {
            search: r.search.iter().filter(|d| d.as_str() != ".").cloned().collect(),
            ..r.clone()
        };
        prop_assert_eq!(hosts::parse_resolv(&out), want);

        let own = hosts::parse_resolv(&hosts::resolv_file(&r, false, &none));
        prop_assert!(!own.nameservers.is_empty());
        for n in &own.nameservers {
            let ip: IpAddr = n.parse().map_err(|_| TestCaseError::fail(format!("{n:?} is no address")))?;
            prop_assert!(!ip.is_loopback());
        }
        prop_assert!(!hosts::is_resolved_stub(&own));
    }

    /// --dns, --dns-search and --dns-option as plan.rs accepts them end
    /// up on their own lines, each once; an option spec::validate_dns_option
    /// refuses is one that could break the file.
    #[test]
    fn resolv_with_flags(
        text in text_of(RESOLV_PIECES),
        dns in proptest::collection::vec(ip(), 0..3),
        search in proptest::collection::vec("[a-z0-9.-]{1,20}", 0..3),
        options in proptest::collection::vec(text_of(RESOLV_PIECES), 0..3),
    ) {
        let r = hosts::parse_resolv(&text);
        let dns: Vec<String> = dns.iter().map(|i| i.to_string()).collect();
        let options: Vec<String> = options
            .into_iter()
            .filter(|o| spec::validate_dns_option(o).is_ok())
            .collect();
        let flags = hosts::DnsFlags { dns: dns.clone(), search: search.clone(), options: options.clone() };
        let out = hosts::parse_resolv(&hosts::resolv_file(&r, false, &flags));
        if !dns.is_empty() {
            prop_assert_eq!(&out.nameservers, &dns);
        }
        if !search.is_empty() {
            let want: Vec<String> = search.iter().filter(|d| d.as_str() != ".").cloned().collect();
            prop_assert_eq!(out.search, want);
        }
        if options.is_empty() {
            prop_assert_eq!(out.options, r.options);
        } else {
            prop_assert_eq!(out.options, options);
        }
    }

    /// --dns-option: what is accepted is one word that cannot end a line,
    /// start a comment or hold a space.
    #[test]
    fn dns_options(o in text_of(RESOLV_PIECES)) {
        if spec::validate_dns_option(&o).is_ok() {
            prop_assert!(!o.is_empty());
            prop_assert!(!o.contains(|c: char| c.is_whitespace() || c.is_control() || c == '#' || c == ';'));
        }
    }
}

// -------------------------------------------------------------- templates

proptest! {
    #![proptest_config(cfg(1500))]

    /// `inspect -f` / `ps --format` templates are untrusted input: parsing
    /// and rendering never panic, whatever the text.
    #[test]
    fn templates_never_panic(src in text_of(TEMPLATE_PIECES)) {
        let data = sample_data();
        if let Ok(t) = Template::parse(&src) {
            let _ = t.render(&data);
            let _ = t.render(&Value::Null);
            let _ = t.render(&json!([1, "a", {"b": null}]));
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Normal numbers only: serde_json's own parser, the oracle here, is
        // not exact for subnormals (it read -1.62924552956373e-309 back as
        // a neighbour of the value {{json}} printed exactly).
        any::<f64>()
            .prop_filter("finite, not subnormal", |f| f.is_normal() || *f == 0.0)
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[<>&\"\\\\\u{2028}\u{7f}\\x00-\\x1f]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(("\\PC{0,6}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(cfg(500))]

    /// `{{json .}}` is the formatter of the template language: what it
    /// writes parses back (as JSON) to the value it was given.
    #[test]
    fn template_json_round_trip(v in json_value()) {
        let t = Template::parse("{{json .}}").unwrap();
        let out = t.render(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Value = serde_json::from_str(&out)
            .map_err(|e| TestCaseError::fail(format!("{e}: {out}")))?;
        prop_assert!(json_eq(&back, &v), "{} -> {}", v, out);
    }
}

/// JSON equality, numbers by value (Go prints 1e300 and 1.0 its own way).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(p), Some(q), _, _) => p == q,
                (_, _, Some(p), Some(q)) => p == q,
                // serde_json's own float parsing may be one ulp off.
                _ => match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) => p == q || (p - q).abs() <= p.abs().max(q.abs()) * 1e-15,
                    _ => false,
                },
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_eq(p, q)))
        }
        _ => a == b,
    }
}

// ------------------------------------------- network settings, run flags

proptest! {
    #![proptest_config(cfg(2000))]

    /// --bip, --mtu, -b, --ip and the booleans: no panic; what is accepted
    /// prints (as network inspect and the stored settings do) to text that
    /// parses back to the same value.
    #[test]
    fn settings_round_trip(s in text_of(SETTINGS_PIECES)) {
        if let Ok(b) = settings::parse_bip(&s) {
            prop_assert!((8..=30).contains(&b.prefix_len()));
            prop_assert_eq!(settings::parse_bip(&b.to_string()), Ok(b));
        }
        if let Ok(m) = settings::parse_mtu(&s) {
            prop_assert!((68..=65535).contains(&m));
            prop_assert_eq!(settings::parse_mtu(&m.to_string()), Ok(m));
        }
        if let Ok(b) = settings::parse_bridge(&s) {
            prop_assert!(!b.is_empty() && b.len() <= 15 && !b.contains(['/', ':']));
            prop_assert_eq!(settings::parse_bridge(&b), Ok(b.clone()));
        }
        if let Ok(ip) = settings::parse_ip(&s) {
            prop_assert_eq!(settings::parse_ip(&ip.to_string()), Ok(ip));
        }
        if let Ok(b) = settings::parse_bool("icc", &s) {
            prop_assert_eq!(settings::parse_bool("icc", &b.to_string()), Ok(b));
        }
    }

    /// Any address and prefix: parse_bip either refuses it or accepts a host
    /// address inside the subnet.
    #[test]
    fn bip_any_address(a in any::<u32>(), p in 0u8..40) {
        let a = Ipv4Addr::from(a);
        if let Ok(got) = settings::parse_bip(&format!("{a}/{p}")) {
            prop_assert_eq!((got.addr(), got.prefix_len()), (a, p));
            prop_assert!(got.trunc().contains(&a) && a != got.network() && a != got.broadcast());
        }
    }

    /// RRUN_PROXY_UDP_TIMEOUT: no panic; accepted values are 1–86400 s and
    /// print back as the same number.
    #[test]
    fn udp_timeout(s in text_of(PORT_PIECES), n in any::<u64>()) {
        for v in [s.clone(), n.to_string()] {
            if let Ok(d) = crate::plan::parse_udp_timeout(Some(&v)) {
                prop_assert!((1..=86400).contains(&d.as_secs()));
                let again = crate::plan::parse_udp_timeout(Some(&d.as_secs().to_string()));
                prop_assert_eq!(again.ok(), Some(d));
            }
        }
    }

    /// --security-opt: no panic; only the known values are accepted.
    #[test]
    fn security_opts(opts in proptest::collection::vec(text_of(&[
        "seccomp", "=", ":", "unconfined", "default", "no-new-privileges", "true", "apparmor", " ",
    ]), 0..4)) {
        if crate::plan::parse_security_opts(&opts).is_ok() {
            for o in &opts {
                let o = o.replacen(':', "=", 1);
                prop_assert!(
                    ["seccomp=unconfined", "seccomp=default", "no-new-privileges", "no-new-privileges=true"]
                        .contains(&o.as_str()),
                    "{:?}", o
                );
            }
        }
    }

    /// -v, --tmpfs, -w style paths, --cap-add/--cap-drop, kill -s: no panic;
    /// accepted volumes print back (SRC:DST[:ro]) to themselves, accepted
    /// destinations are normal absolute paths without "..".
    #[test]
    fn mounts_caps_signals(s in bytes_of(&[
        "/", "/a", "..", ".", "/..", ":", ":ro", ":rw", ":rx", ",", "size=", "64m", "1%", "mode=",
        "1777", "uid=", "0", "nr_inodes=", "exec", "suid", "dev", "noexec", "x", " ", "\0", "\n",
        "NET_ADMIN", "cap_", "ALL", "SIG", "HUP", "9", "64", "65",
    ])) {
        if let Ok(v) = spec::parse_volume(&s) {
            let text = [
                v.src.as_os_str().as_bytes(),
                b":",
                v.dst.as_os_str().as_bytes(),
                if v.readonly { b":ro" } else { b"" },
            ]
            .concat();
            prop_assert_eq!(spec::parse_volume(OsStr::from_bytes(&text)), Ok(v.clone()));
        }
        if let Ok(p) = spec::container_path(&s) {
            let b = p.as_os_str().as_bytes();
            prop_assert!(b.starts_with(b"/") && b.len() > 1 && !b.ends_with(b"/"));
            prop_assert!(!b[1..].split(|&c| c == b'/').any(|c| c == b".." || c == b"." || c.is_empty()));
            prop_assert_eq!(spec::container_path(p.as_os_str()), Ok(p.clone()));
        }
        if let Ok(t) = spec::parse_tmpfs(&s) {
            prop_assert_eq!(spec::container_path(t.dst.as_os_str()), Ok(t.dst.clone()));
            prop_assert!(!t.data.contains(['\n', '\0', ':']));
            // Its flags and data, written out again, give the same mount.
            let mut opts = vec![
                if t.readonly { "ro" } else { "rw" },
                if t.noexec { "noexec" } else { "exec" },
                if t.nosuid { "nosuid" } else { "suid" },
                if t.nodev { "nodev" } else { "dev" },
            ];
            if !t.data.is_empty() {
                opts.push(&t.data);
            }
            let text = [t.dst.as_os_str().as_bytes(), b":", opts.join(",").as_bytes()].concat();
            prop_assert_eq!(spec::parse_tmpfs(OsStr::from_bytes(&text)), Ok(t.clone()));
        }
        let s = s.to_string_lossy().into_owned();
        let _ = spec::effective_caps(std::slice::from_ref(&s), std::slice::from_ref(&s));
        if let Some(sig) = crate::commands::parse_signal(&s) {
            prop_assert!((1..=64).contains(&sig));
        }
    }

    /// The command line itself: clap's parsing never panics on any words,
    /// bytes that are not UTF-8 among them.
    #[test]
    fn command_line_never_panics(words in proptest::collection::vec(bytes_of(&[
        "-", "--", "-e", "--env", "-it", "-d", "--rm", "--name", "-p", "-v", "--net", "=", "x",
        "A=1", "/", "./r", "--help", "-h", "--frobnicate", "run", "", " ", "-f", "--format",
        "{{.Name}}", "-w", "--tmpfs", "--env-file",
    ]), 0..6)) {
        let _ = crate::cli::parse_run(&words);
        let _ = crate::cli::parse_sub::<crate::cli::PsArgs>("ps", &words);
        let _ = crate::cli::parse_sub::<crate::cli::LogsArgs>("logs", &words);
        let _ = crate::cli::parse_sub::<crate::cli::InspectArgs>("inspect", &words);
        let _ = crate::cli::parse_sub::<crate::cli::ExecArgs>("exec", &words);
    }

    /// A recorded command, env value or path comes back from config.json
    /// byte for byte, whatever the bytes; a UTF-8 one is a plain string.
    #[test]
    fn recorded_bytes_round_trip(b in proptest::collection::vec(any::<u8>(), 0..40), s in bytes_of(ENV_PIECES)) {
        let c = crate::state::Config {
            path: OsString::from_vec(b.clone()),
            args: vec![s.clone(), OsString::from_vec(b)],
            ..Default::default()
        };
        let j = serde_json::to_value(&c).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Some(t) = c.path.to_str() {
            prop_assert_eq!(&j["path"], &json!(t));
        }
        let back: crate::state::Config =
            serde_json::from_value(j).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.path, c.path);
        prop_assert_eq!(back.args, c.args);
    }
}

// ------------------------------------------------------ state, time, maps

proptest! {
    #![proptest_config(cfg(2000))]

    /// Times read back from state.json (which a corrupt file may hold as
    /// anything) never panic; times rrun writes parse back to themselves.
    #[test]
    fn rfc3339(s in text_of(&["2026", "-", "01", "T", ":", "00", ".", "5", "Z", "9999", "+", "é"]),
               secs in 0i64..253_402_300_800, nanos in 0u32..1_000_000_000) {
        if let Some(t) = crate::state::parse_rfc3339(&s) {
            let _ = crate::inspect::human_duration(1e9 - t);
        }
        let t = crate::state::parse_rfc3339(&crate::state::rfc3339(secs, nanos)).unwrap();
        prop_assert!((t - (secs as f64 + nanos as f64 / 1e9)).abs() < 1e-3);
    }

    #[test]
    fn human_durations(f in any::<f64>()) {
        prop_assert!(!crate::inspect::human_duration(f).is_empty());
    }

    /// /proc/PID/uid_map and /etc/subuid text: no panic.
    #[test]
    fn id_maps(s in text_of(&["0", "1000", "100000", "65536", "4294967295", " ", "\n", ":", "rrtest", "x"]),
               id in any::<u32>()) {
        let m = crate::ns::parse_id_map(&s);
        let _ = crate::ns::id_mapped(&m, id);
        if let Some((_, count)) = crate::ns::parse_sub_range(&s, id, Some("rrtest")) {
            prop_assert!(count > 0);
        }
    }
}

proptest! {
    #![proptest_config(cfg(2000))]

    /// Not user input but bytes from outside all the same: conntrack's
    /// netlink attributes, as the kernel sends them (a short or lying
    /// length must not make rrun panic).
    #[test]
    fn conntrack_tuples(b in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = crate::net::conntrack::parse_tuple(&b);
    }

    /// A whole ctnetlink or nftables answer, decoded by
    /// netlink-packet-netfilter: a header that fits, any body.
    #[test]
    fn netfilter_answers(
        ty in prop_oneof![Just(0x100u16), Just(0x102), Just(0xa00), Just(0xa0c), Just(2), Just(3), any::<u16>()],
        body in proptest::collection::vec(any::<u8>(), 0..160),
    ) {
        let mut m = ((16 + body.len()) as u32).to_ne_bytes().to_vec();
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&body);
        for (_, r) in crate::net::nftnl::replies(&m) {
            match r {
                crate::net::nftnl::Reply::Conntrack(c) => {
                    let _ = crate::net::conntrack::entry(c);
                }
                crate::net::nftnl::Reply::Table(t) => {
                    let _ = crate::net::nftnl::table_handle(&t);
                }
                _ => {}
            }
        }
    }
}

// ------------------------------------------------- ps filters and labels

const FILTER_PIECES: &[&str] = &[
    "name",
    "id",
    "label",
    "status",
    "exited",
    "before",
    "since",
    "ancestor",
    "network",
    "publish",
    "expose",
    "health",
    "is-task",
    "volume",
    "isolation",
    "Name",
    " ",
    "=",
    "/",
    ":",
    "-",
    "_",
    "0x",
    "0b",
    "+",
    "80",
    "5432",
    "65536",
    "99999999999999999999",
    "db",
    "web",
    "^w",
    "$",
    "[",
    ".*",
    "(?i)DB",
    "tcp",
    "udp",
    "a=b",
    "exited",
    "running",
    "é",
    "\t",
    "true",
    "false",
    "none",
    "bridge",
];

proptest! {
    #![proptest_config(cfg(2000))]

    /// `--filter`, `-n` and the daemon's validation: no panic on any
    /// input; what the CLI accepts is a trimmed, lower-case key; Go's
    /// numbers agree with Rust's where both read plain decimals.
    #[test]
    fn ps_filters_never_panic(
        args in proptest::collection::vec(text_of(FILTER_PIECES), 0..6),
        n in text_of(FILTER_PIECES),
        all in any::<bool>(),
        limit in -2i64..8,
    ) {
        let mut parsed = Vec::new();
        for a in &args {
            match crate::filter::parse_filter_flag(a) {
                Ok(f) => {
                    if let Some((k, v)) = &f.0 {
                        prop_assert_eq!(k.trim(), k.as_str());
                        prop_assert_eq!(v.trim(), v.as_str());
                        prop_assert!(!k.chars().any(|c| c.is_ascii_uppercase()));
                    }
                    parsed.push(f);
                }
                Err(e) => {
                    prop_assert!(!a.contains('='));
                    prop_assert!(e.to_string().starts_with("invalid argument "));
                }
            }
        }
        if let Ok(v) = crate::filter::parse_last(&n)
            && let Ok(r) = n.parse::<i64>()
            && !n.starts_with(['0', '+', '-'])
        {
            prop_assert_eq!(v, r);
        }
        if let Ok(v) = n.parse::<i64>() {
            prop_assert_eq!(crate::filter::atoi(&n), Ok(v));
        }
        let _ = crate::filter::port_range(&n);
        let _ = crate::ports::parse_port_arg(&n);
        let labels: std::collections::BTreeMap<String, String> =
            [("a".to_string(), "b".to_string())].into_iter().collect();
        let views: Vec<crate::filter::View> = ["db", "web", "w3"]
            .iter()
            .enumerate()
            .map(|(i, name)| crate::filter::View {
                id: ["2a15", "d6f3", "17ce"][i],
                name,
                names: vec![name.to_string(), format!("{name}/x")],
                state: ["running", "exited", "created"][i],
                running: i == 0,
                started: i < 2,
                labels: Some(&labels),
                network: Some("bridge"),
                ports: vec![crate::filter::PortView { private: 80, public: 8080, proto: "tcp".into() }],
                ..Default::default()
            })
            .collect();
        let resolve = |s: &str| s.starts_with('/').then(|| s.as_bytes().to_vec());
        if let Ok(f) = crate::filter::Filter::new(&parsed, &views, &resolve) {
            let shown = f.select(&views, all, limit);
            prop_assert!(shown.windows(2).all(|w| w[0] < w[1]));
            if limit > 0 {
                prop_assert!(shown.len() as i64 <= limit);
            }
        }
    }

    /// --label-file: no panic; what it gives are `KEY=VALUE` strings whose
    /// key has no blank; --label accepts what Docker's CLI does.
    #[test]
    fn label_files_never_panic(s in bytes_of(&["a", "=", " ", "\t", "#", "\n", "\r", "\u{feff}", "k", "v=w", "é"])) {
        if let Ok(kvs) = spec::parse_label_file("f", s.as_bytes()) {
            for kv in &kvs {
                let (k, _) = kv.split_once('=').unwrap_or((kv, ""));
                prop_assert!(!k.is_empty() && !k.contains([' ', '\t']));
            }
            let m = spec::labels_map(&kvs);
            prop_assert!(m.len() <= kvs.len());
        }
        if let Some(t) = s.to_str()
            && let Ok(l) = spec::parse_label_flag(t)
        {
            prop_assert_eq!(l, t);
        }
    }

    /// Labels written one `KEY=VALUE` a line read back as the same map.
    #[test]
    fn label_file_round_trip(
        kvs in proptest::collection::vec(("[a-z][a-z0-9.-]{0,8}", "[^\n\r]{0,12}"), 0..6),
    ) {
        let text: String = kvs.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        let want: std::collections::BTreeMap<String, String> = kvs.iter().cloned().collect();
        let got = spec::parse_label_file("f", text.as_bytes()).map(|l| spec::labels_map(&l));
        prop_assert_eq!(got, Ok(want));
    }
}

proptest! {
    #![proptest_config(cfg(2000))]

    /// The socket bypass's reading of a trapped connect()'s address: no
    /// panic on any bytes; what it sends through the host is an IPv4
    /// address it read, outside the kept network, never loopback,
    /// 0.0.0.0/8 or link-local, with a port.
    #[test]
    fn bypass_routes(b in proptest::collection::vec(any::<u8>(), 0..40), inet in 0u8..3, ip in any::<u32>()) {
        use crate::bypass::policy::{Route, route};
        let mut raw = b.clone();
        if inet == 1 && raw.len() >= 8 {
            raw[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            raw[4..8].copy_from_slice(&ip.to_be_bytes());
        }
        if inet == 2 && raw.len() >= 24 {
            raw[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            raw[8..24].copy_from_slice(&std::net::Ipv4Addr::from(ip).to_ipv6_mapped().octets());
        }
        let keep: ipnet::Ipv4Net = "10.88.0.0/16".parse().unwrap();
        let r = route(&raw, &[keep]);
        if let Route::Mapped(a) = r {
            prop_assert!(raw.len() >= 24);
            prop_assert_eq!(&raw[8..24], &a.ip().to_ipv6_mapped().octets()[..]);
            prop_assert!(!keep.contains(a.ip()) && !a.ip().is_loopback() && a.port() != 0);
        }
        if let Route::Host(a) = r {
            prop_assert!(raw.len() >= 16);
            prop_assert_eq!(&raw[4..8], &a.ip().octets()[..]);
            prop_assert_eq!(&raw[2..4], &a.port().to_be_bytes()[..]);
            prop_assert!(a.port() != 0);
            prop_assert!(!keep.contains(a.ip()) && !a.ip().is_loopback() && !a.ip().is_link_local());
            prop_assert!(a.ip().octets()[0] != 0);
        }
    }

    /// The /proc texts the broker reads: no panic on any text.
    #[test]
    fn bypass_proc_texts(s in text_of(&["tfd:", " ", "\t", "\n", "5", "12", "flags:", "0", "2000000", "Tgid:", "x", "-1"]), fd in -2i32..20) {
        use crate::bypass::policy;
        let _ = policy::watches(&s, fd);
        let _ = policy::cloexec(&s);
        let _ = policy::tgid(&s);
        let _ = policy::kernel_has(&s);
    }
}

/// DNS messages: arbitrary bytes, and headers (mostly of queries) followed
/// by label-like runs (lengths mostly 0..=63, sometimes a pointer or a
/// reserved label type), a type and a class, possibly cut short.
fn dns_message() -> impl Strategy<Value = Vec<u8>> {
    let label = prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| {
            let mut l = vec![b.len() as u8];
            l.extend(b);
            l
        }),
        1 => (prop_oneof![Just(0xc0u8), Just(0x40), Just(0x80), Just(0xff)], any::<u8>())
            .prop_map(|(t, b)| vec![t, b]),
    ];
    let built = (
        any::<u16>(),
        proptest::sample::select(vec![0x00u8, 0x01, 0x01, 0x01, 0x80, 0x81, 0x10, 0x28, 0x07]),
        any::<u8>(),
        proptest::sample::select(vec![0u16, 1, 1, 1, 1, 1, 1, 2]),
        proptest::collection::vec(any::<u8>(), 6),
        proptest::collection::vec(label, 0..6),
        proptest::collection::vec(any::<u8>(), 0..20),
        any::<prop::sample::Index>(),
        proptest::bool::weighted(0.75),
    )
        .prop_map(|(id, f2, f3, qd, counts, labels, tail, cut, whole)| {
            let mut m = id.to_be_bytes().to_vec();
            m.extend([f2, f3]);
            m.extend(qd.to_be_bytes());
            m.extend(counts);
            for l in labels {
                m.extend(l);
            }
            m.push(0);
            m.extend(tail);
            if !whole {
                m.truncate(cut.index(m.len() + 1));
            }
            m
        });
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..300),
        4 => built,
    ]
}

/// The labels a parsed DNS name stands for (undoing its escapes).
fn dns_unescape(name: &str) -> Vec<Vec<u8>> {
    if name.is_empty() {
        return vec![];
    }
    let b = name.as_bytes();
    let (mut labels, mut cur, mut i) = (vec![], vec![], 0);
    while i < b.len() {
        match b[i] {
            b'\\' if b[i + 1].is_ascii_digit() => {
                cur.push(name[i + 1..i + 4].parse::<u8>().unwrap());
                i += 4;
            }
            b'\\' => {
                cur.push(b[i + 1]);
                i += 2;
            }
            b'.' => {
                labels.push(std::mem::take(&mut cur));
                i += 1;
            }
            c => {
                cur.push(c);
                i += 1;
            }
        }
    }
    labels.push(cur);
    labels
}

/// Walks a response built by dns::wire: its answer records' types, checking
/// that the counts and lengths add up to the message.
fn dns_records(m: &[u8], question_len: usize) -> Vec<u16> {
    let an = u16::from_be_bytes([m[6], m[7]]);
    let mut pos = 12 + question_len;
    let mut types = vec![];
    for _ in 0..an {
        assert_eq!(&m[pos..pos + 2], &[0xc0, 12]);
        types.push(u16::from_be_bytes([m[pos + 2], m[pos + 3]]));
        pos += 12 + usize::from(u16::from_be_bytes([m[pos + 10], m[pos + 11]]));
    }
    assert_eq!(pos, m.len());
    types
}

proptest! {
    #![proptest_config(cfg(2000))]

    /// The embedded DNS server's reading of what it is sent: no panic on
    /// any bytes; a query it accepts has a name in printable ASCII, no
    /// upper case, the labels it was sent, and its question echoed; every
    /// response built from it reads back as the answer to that query, and
    /// a UDP answer fits 512 bytes.
    #[test]
    fn dns_query_never_panics(msg in dns_message(), addrs in proptest::collection::vec(ip(), 0..40)) {
        use crate::dns::wire;
        let _ = wire::response_id(&msg);
        prop_assert_eq!(wire::with_id(&msg, 7).len(), msg.len());
        prop_assert_eq!(wire::error_header(&msg, wire::FORMERR).is_some(), msg.len() >= 2);
        let _ = wire::parse_reverse(&String::from_utf8_lossy(&msg));
        let Ok(q) = wire::parse_query(&msg) else { return Ok(()) };
        prop_assert!(q.name.bytes().all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase()));
        prop_assert!(q.question.len() <= 259 && msg[12..].starts_with(&q.question));
        let labels = dns_unescape(&q.name);
        prop_assert_eq!(labels.len(), q.labels);
        let mut at = 12;
        for l in &labels {
            prop_assert_eq!(usize::from(msg[at]), l.len());
            prop_assert_eq!(&msg[at + 1..at + 1 + l.len()].to_ascii_lowercase(), l);
            at += 1 + l.len();
        }
        let udp = wire::answer_within(&q, &addrs, 600, wire::UDP_LIMIT);
        prop_assert!(udp.len() <= wire::UDP_LIMIT);
        for r in [
            wire::answer(&q, &addrs, 600),
            udp,
            wire::ptr_answer(&q, "web.mynet", 600),
            wire::error(&q, wire::NXDOMAIN),
        ] {
            prop_assert!(wire::reply_matches(&r, q.id, &q.question));
            let types = dns_records(&r, q.question.len());
            prop_assert!(types.iter().all(|&t| t == q.qtype || q.qtype == wire::TYPE_ANY || t == wire::TYPE_PTR));
        }
    }

    /// A name written as a query reads back as itself, lower-cased.
    #[test]
    fn dns_name_round_trip(
        labels in proptest::collection::vec("[a-zA-Z0-9_-]{1,63}", 0..5),
        id in any::<u16>(),
        qtype in any::<u16>(),
    ) {
        use crate::dns::wire;
        let name = labels.join(".");
        let Some(m) = wire::query(id, &name, qtype) else {
            prop_assert!(name.len() + 2 > 255);
            return Ok(());
        };
        let q = wire::parse_query(&m).unwrap();
        prop_assert_eq!(q.name, name.to_ascii_lowercase());
        prop_assert_eq!((q.id, q.qtype, q.qclass, q.labels), (id, qtype, wire::CLASS_IN, labels.len()));
    }

    /// The reverse-lookup name of any address reads back as that address,
    /// and goes through a query unchanged.
    #[test]
    fn dns_reverse_round_trip(addr in ip()) {
        use crate::dns::wire;
        let name = wire::reverse_name(addr);
        prop_assert_eq!(wire::parse_reverse(&name), Some(addr));
        let q = wire::parse_query(&wire::query(1, &name, wire::TYPE_PTR).unwrap()).unwrap();
        prop_assert_eq!(wire::parse_reverse(&q.name), Some(addr));
    }
}

const NETDEF_PIECES: &[&str] = &[
    "10.5.0.0/24",
    "fd00::/64",
    "172.18.0.0/16",
    "10.5.0.1",
    "/",
    "::",
    "1",
    "0",
    "a",
    "-",
    ".",
    "=",
    ",",
    " ",
    "é",
    "\n",
    "com.docker.network.driver.mtu",
    "com.docker.network.bridge.name",
    "65535",
    "/33",
    "/120",
];

proptest! {
    #![proptest_config(cfg(256))]

    /// `network create`'s checks never panic, and what they accept is a
    /// network whose gateway and range lie in its subnet.
    #[test]
    fn network_create_never_panics(
        name in text_of(NETDEF_PIECES),
        subnets in proptest::collection::vec(text_of(NETDEF_PIECES), 0..3),
        gateways in proptest::collection::vec(text_of(NETDEF_PIECES), 0..2),
        ranges in proptest::collection::vec(text_of(NETDEF_PIECES), 0..2),
        options in proptest::collection::vec(text_of(NETDEF_PIECES), 0..3),
        ipv6 in any::<bool>(),
        id in "[0-9a-f]{0,64}",
    ) {
        use crate::netdef;
        let a = netdef::CreateArgs {
            name, driver: None, subnets, gateways, ip_ranges: ranges,
            internal: false, ipv6, options, labels: Vec::new(),
        };
        let taken: Vec<ipnet::IpNet> = vec!["172.17.0.0/16".parse().unwrap()];
        if let Ok(d) = netdef::settle(&a, &id, "now", &[], &taken) {
            prop_assert!(d.subnet.contains(&d.gateway));
            if let Some(r) = d.ip_range {
                prop_assert!(d.subnet.contains(&r));
            }
            prop_assert!(netdef::valid_name(&d.name));
            prop_assert_eq!(d.subnet6.is_some(), ipv6);
            let _ = netdef::check_ip(&d, &std::net::IpAddr::V4(d.gateway));
        }
    }

    /// Aliases never panic; an accepted one is lower-case.
    #[test]
    fn network_alias_never_panics(a in text_of(NETDEF_PIECES)) {
        if let Ok(x) = crate::netdef::check_alias(&a) {
            prop_assert_eq!(x.clone(), x.to_ascii_lowercase());
        }
    }
}

/// The pieces of `--memory`, `--cpus` and `--pids-limit` values.
const LIMIT_PIECES: &[&str] = &[
    "0",
    "1",
    "9",
    "64",
    ".",
    " ",
    "-",
    "+",
    "/",
    "e",
    "E",
    "k",
    "m",
    "g",
    "t",
    "p",
    "b",
    "i",
    "B",
    "M",
    "iB",
    "x",
    "0x",
    "99999999999999999999",
    "\\040",
    "-1",
];

proptest! {
    #![proptest_config(cfg(2000))]

    /// No value of the limit flags panics; what is accepted is in range.
    #[test]
    fn limits_never_panic(s in text_of(LIMIT_PIECES)) {
        use crate::limits;
        if let Ok(m) = limits::parse_memory(&s) {
            prop_assert!(m >= 0);
        }
        let _ = limits::parse_memory_swap(&s);
        let cpus = limits::parse_cpus(&s).ok();
        let pids = limits::parse_pids(&s).ok();
        prop_assert!(pids != Some(0));
        if let Ok(l) = limits::settle(None, None, cpus, pids, 2) {
            prop_assert!(l.nano_cpus >= 0 && l.nano_cpus <= 2_000_000_000);
            prop_assert!(l.cfs_quota_us() >= 0 && l.cfs_quota_us() <= 200_000);
            let _ = l.v2_files();
        }
        let _ = limits::v1_mounts(&s);
        let _ = limits::oom_kills(&s);
        let _ = limits::v2_path(&s);
    }

    /// A size written with a unit reads back as that many bytes.
    #[test]
    fn memory_sizes_round_trip(n in 0i64..1_000_000, unit in 0usize..5, suffix in 0usize..3) {
        let u = ["k", "m", "g", "t", "p"][unit];
        let s = format!("{n}{u}{}", ["", "b", "iB"][suffix]);
        let want = n.checked_mul(1 << (10 * (unit as i64 + 1)));
        match want {
            Some(w) => prop_assert_eq!(crate::limits::ram_in_bytes(&s), Ok(w)),
            None => prop_assert!(crate::limits::ram_in_bytes(&s).is_err()),
        }
    }
}

proptest! {
    #![proptest_config(cfg(2000))]

    /// `stats` reads /proc and cgroup files whose text the kernel writes
    /// (a command name in /proc/PID/stat is the container's to choose):
    /// no text makes a parser panic.
    #[test]
    fn stats_texts_never_panic(s in text_of(&["4242 ", "(sh) ", ")", "(", " S ", "1 ", "-1 ", "18446744073709551615 ",
                                               "eth0:", "lo:", " ", "\n", "usage_usec ", "inactive_file ", "max", "x", "é"])) {
        let _ = crate::stats::parse_stat(&s);
        let _ = crate::stats::net_dev(&s);
        let _ = crate::stats::parse_io(&s);
        let _ = crate::stats::mem_total(&s);
        let files: Vec<(String, String)> = ["cpuacct.usage", "cpu.stat", "memory.current", "memory.stat", "memory.max", "pids.current"]
            .iter()
            .map(|f| (f.to_string(), s.clone()))
            .collect();
        let _ = crate::stats::cgroup_usage(&files);
    }

    /// Sizes and percentages of any number: a size ends in its unit.
    #[test]
    fn stats_sizes(f in any::<f64>(), p in 0usize..8) {
        prop_assert!(crate::stats::bytes_size(f.abs()).ends_with('B'));
        prop_assert!(crate::stats::human_size(f.abs(), p).ends_with('B'));
        prop_assert!(crate::stats::percent(f).ends_with('%'));
    }
}
