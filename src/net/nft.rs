//! Kernel NAT and filtering for a root network, in nftables tables owned
//! by rrun (`ip rrun` and `bridge rrun`), so that removing them is one
//! operation. The rules are fixed when the network is made; a container
//! adds and removes only set and map elements (its published ports and its
//! links), each in one atomic transaction, so no rule is ever duplicated
//! or left behind and no rule handle has to be remembered.
//!
//! Script generation is pure; `apply` pipes a script to `nft -f -`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};

use super::nftnl::{self, Elem, Field, concat};
use super::settings::Settings;
use crate::netstate::LinkRuleState;
use crate::ports::{Binding, Proto};

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("running nft: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("nft refused the rules: {0}")]
    Rejected(String),
}

pub const TABLE: &str = "rrun";

/// The prefix of the host ends of rrun's veth pairs, so that bridge-family
/// rules can tell rrun's ports from others on a user's bridge.
pub const VETH_PREFIX: &str = "rrv";

/// The whole ruleset of a network, replacing any earlier one.
#[cfg(test)]
pub fn network_script(s: &Settings) -> String {
    network_script_with(s, s.proxy_transparent)
}

/// The network's rules; `tproxy`: with the chain that marks replies to the
/// forwarder's transparent sockets.
pub fn network_script_with(s: &Settings, tproxy: bool) -> String {
    let table = &s.table;
    let tproxy = if tproxy {
        tproxy_chain(s)
    } else {
        String::new()
    };
    let icc_drop = if s.icc {
        String::new()
    } else if s.subnet6.is_some() {
        format!(
            "\t\tiifname \"{VETH_PREFIX}*\" oifname \"{VETH_PREFIX}*\" ether type {{ ip, ip6 }} drop\n"
        )
    } else {
        format!("\t\tiifname \"{VETH_PREFIX}*\" oifname \"{VETH_PREFIX}*\" ether type ip drop\n")
    };
    // A network with IPv6 has an ip6 table too (the ip table sees no IPv6
    // packet): the same rules, for the containers' IPv6 addresses.
    let six = match s.subnet6 {
        Some(n) => family_table(s, "ip6", "ipv6_addr", &n.to_string(), "::1", ""),
        None => String::new(),
    };
    let four = family_table(
        s,
        "ip",
        "ipv4_addr",
        &s.subnet().to_string(),
        "127.0.0.0/8",
        &tproxy,
    );
    format!(
        "table ip {table} {{}}\n\
delete table ip {table}\n\
table bridge {table} {{}}\n\
delete table bridge {table}\n\
table ip6 {table} {{}}\n\
delete table ip6 {table}\n\
{six}{four}\
table bridge {table} {{\n\
\tset links_tcp {{ type ipv4_addr . ipv4_addr . inet_service; }}\n\
\tset links_udp {{ type ipv4_addr . ipv4_addr . inet_service; }}\n\
\tchain forward {{\n\
\t\ttype filter hook forward priority filter; policy accept;\n\
\t\tip saddr . ip daddr . tcp dport @links_tcp accept\n\
\t\tip daddr . ip saddr . tcp sport @links_tcp accept\n\
\t\tip saddr . ip daddr . udp dport @links_udp accept\n\
\t\tip daddr . ip saddr . udp sport @links_udp accept\n\
{icc_drop}\t}}\n\
}}\n"
    )
}

/// One family's table (`ip` or `ip6`; `addr`: its address type, `subnet`
/// the network's, `lo` the loopback it guards): published ports DNATed by
/// map (for traffic from outside, from the host itself but not to its
/// loopback, which is the forwarder's, and from containers through a host
/// address), masquerade out of the subnet unless --internal, the loopback
/// guard, and the forward chain that lets new flows into the bridge only
/// from itself or when DNATed (--internal: nothing out of it either).
/// `extra`: more chains (the ip table's transparent-forwarding mark).
fn family_table(
    s: &Settings,
    fam: &str,
    addr: &str,
    subnet: &str,
    lo: &str,
    extra: &str,
) -> String {
    let (br, table) = (&s.bridge, &s.table);
    let (masquerade, internal) = if s.internal {
        (
            String::new(),
            format!("\t\tiifname \"{br}\" oifname != \"{br}\" drop\n"),
        )
    } else {
        (
            format!(
                "\t\t{fam} saddr {subnet} oifname != \"{br}\" masquerade\n\
\t\toifname \"{br}\" ct status dnat {fam} saddr {subnet} masquerade\n"
            ),
            String::new(),
        )
    };
    format!(
        "table {fam} {table} {{\n\
\tmap any_tcp {{ type inet_service : {addr} . inet_service; }}\n\
\tmap any_udp {{ type inet_service : {addr} . inet_service; }}\n\
\tmap addr_tcp {{ type {addr} . inet_service : {addr} . inet_service; }}\n\
\tmap addr_udp {{ type {addr} . inet_service : {addr} . inet_service; }}\n\
\tchain published {{\n\
\t\tfib daddr type local dnat {fam} to {fam} daddr . tcp dport map @addr_tcp\n\
\t\tfib daddr type local dnat {fam} to {fam} daddr . udp dport map @addr_udp\n\
\t\tfib daddr type local dnat {fam} to tcp dport map @any_tcp\n\
\t\tfib daddr type local dnat {fam} to udp dport map @any_udp\n\
\t}}\n\
\tchain prerouting {{\n\
\t\ttype nat hook prerouting priority dstnat; policy accept;\n\
\t\tjump published\n\
\t}}\n\
\tchain output {{\n\
\t\ttype nat hook output priority -100; policy accept;\n\
\t\t{fam} daddr {lo} return\n\
\t\tjump published\n\
\t}}\n\
\tchain postrouting {{\n\
\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
{masquerade}\t}}\n\
\tchain guard {{\n\
\t\ttype filter hook prerouting priority raw; policy accept;\n\
\t\tiifname != \"lo\" {fam} daddr {lo} drop\n\
\t}}\n\
\tchain forward {{\n\
\t\ttype filter hook forward priority filter; policy accept;\n\
\t\tiifname \"{br}\" oifname \"{br}\" accept\n\
{internal}\t\toifname \"{br}\" ct state established,related accept\n\
\t\toifname \"{br}\" ct status dnat accept\n\
\t\toifname \"{br}\" drop\n\
\t}}\n\
{extra}}}\n"
    )
}

/// The packet mark and routing table of transparent forwarding: replies
/// from the bridge to a transparent socket of the forwarder (addressed to
/// a client elsewhere) are marked, and the mark's table delivers them
/// locally.
pub const TPROXY_MARK: u32 = 0x7272_0001;
pub const TPROXY_TABLE: u32 = 0x7272;
pub const TPROXY_RULE_PRIORITY: u32 = 1000;

/// The chain that marks them (inside `table ip rrun`).
pub fn tproxy_chain(s: &Settings) -> String {
    format!(
        "\tchain mark_transparent {{\n\
\t\ttype filter hook prerouting priority mangle; policy accept;\n\
\t\tiifname \"{br}\" socket transparent 1 meta mark set {TPROXY_MARK:#x}\n\
\t}}\n",
        br = s.bridge
    )
}

/// The table with only that chain, for a network without kernel NAT.
pub fn tproxy_only_script(s: &Settings) -> String {
    format!(
        "table ip {t} {{}}\ndelete table ip {t}\ntable ip {t} {{\n{}}}\n",
        tproxy_chain(s),
        t = s.table
    )
}

pub fn delete_script(table: &str) -> String {
    format!(
        "table ip {table} {{}}\ndelete table ip {table}\ntable bridge {table} {{}}\ndelete table bridge {table}\ntable ip6 {table} {{}}\ndelete table ip6 {table}\n"
    )
}

/// A link's allowed flows: from the linking container to a port of the
/// target, and the replies (Docker's stateless pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkRule {
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
    pub port: u16,
    pub proto: Proto,
}

impl LinkRule {
    /// The rule of a recorded flow, if it is one of the IPv4 table's (an
    /// IPv6 flow would be another table's).
    pub fn of(l: &LinkRuleState) -> Option<LinkRule> {
        match (l.from, l.to) {
            (std::net::IpAddr::V4(from), std::net::IpAddr::V4(to)) => Some(LinkRule {
                from,
                to,
                port: l.port,
                proto: l.proto,
            }),
            _ => None,
        }
    }
}

/// Whether kernel NAT serves a published port: IPv4 host addresses that
/// are not loopback. nftables cannot DNAT IPv6 to an IPv4 container, and a
/// port on 127.0.0.1 is the forwarder's (its clients are the host's own
/// processes; DNAT from loopback would need route_localnet, which opens the
/// host's loopback to the bridge).
pub fn nat_served(b: &Binding) -> bool {
    matches!(b.host_ip, IpAddr::V4(a) if !a.is_loopback())
}

/// One element of rrun's sets and maps, typed: the netlink and the text
/// forms are both rendered from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub family: u8,
    pub set: String,
    pub key: Vec<Field>,
    pub value: Vec<Field>,
}

/// The elements of a container's kernel-NAT ports and its link flows.
pub fn elements(target: Ipv4Addr, ports: &[Binding], links: &[LinkRule]) -> Vec<Element> {
    let mut out = Vec::new();
    for b in ports.iter().filter(|b| nat_served(b)) {
        let (set, key) = match b.host_ip {
            IpAddr::V4(a) if !a.is_unspecified() => (
                format!("addr_{}", b.proto),
                vec![Field::Addr(a), Field::Port(b.host_port)],
            ),
            _ => (format!("any_{}", b.proto), vec![Field::Port(b.host_port)]),
        };
        out.push(Element {
            family: nftnl::FAMILY_IP,
            set,
            key,
            value: vec![Field::Addr(target), Field::Port(b.container_port)],
        });
    }
    for l in links {
        out.push(Element {
            family: nftnl::FAMILY_BRIDGE,
            set: format!("links_{}", l.proto),
            key: vec![Field::Addr(l.from), Field::Addr(l.to), Field::Port(l.port)],
            value: Vec::new(),
        });
    }
    out
}

fn fields_text(f: &[Field]) -> String {
    f.iter()
        .map(|f| match f {
            Field::Addr(a) => a.to_string(),
            Field::Addr6(a) => a.to_string(),
            Field::Port(p) => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" . ")
}

impl Element {
    fn family_name(&self) -> &'static str {
        match self.family {
            nftnl::FAMILY_BRIDGE => "bridge",
            nftnl::FAMILY_IP6 => "ip6",
            _ => "ip",
        }
    }

    /// `add element ip rrun any_tcp { 8080 : 172.17.0.2 . 80 }`, for `nft -f`.
    pub fn add_line(&self, table: &str) -> String {
        let value = if self.value.is_empty() {
            String::new()
        } else {
            format!(" : {}", fields_text(&self.value))
        };
        format!(
            "add element {} {table} {} {{ {}{value} }}\n",
            self.family_name(),
            self.set,
            fields_text(&self.key)
        )
    }

    /// `delete element ip rrun any_tcp { 8080 }`.
    #[cfg(test)]
    pub fn delete_line(&self, table: &str) -> String {
        format!(
            "delete element {} {table} {} {{ {} }}\n",
            self.family_name(),
            self.set,
            fields_text(&self.key)
        )
    }

    fn netlink(&self) -> Elem {
        Elem {
            family: self.family,
            set: self.set.clone(),
            key: concat(&self.key),
            value: (!self.value.is_empty()).then(|| concat(&self.value)),
        }
    }
}

/// The same elements for netlink (see nftnl.rs).
#[cfg(test)]
pub fn elems(target: Ipv4Addr, ports: &[Binding], links: &[LinkRule]) -> Vec<Elem> {
    elements(target, ports, links)
        .iter()
        .map(Element::netlink)
        .collect()
}

/// Add a container's published ports (IPv4 host addresses only) and link
/// flows, in one transaction (see [`add_elements`]).
#[cfg(test)]
pub fn add(
    table: &str,
    target: Ipv4Addr,
    ports: &[Binding],
    links: &[LinkRule],
) -> Result<(), NftError> {
    add_elements(table, &elements(target, ports, links))
}

/// Add elements in one transaction. An element already there under one
/// of its keys with another value can only be an orphan (the host port is
/// this container's: it holds the port's socket): left by a run killed
/// before it recorded it, or by an older rrun. It is removed, and the add
/// tried once more.
pub fn add_elements(table: &str, all: &[Element]) -> Result<(), NftError> {
    let e: Vec<Elem> = all.iter().map(Element::netlink).collect();
    if e.is_empty() {
        return Ok(());
    }
    let send = || match nftnl::send(table, &e, true) {
        Ok(errs) => Ok(errs),
        Err(err) => Err(NftError::Spawn(err)),
    };
    let mut errs = send()?;
    if errs
        .iter()
        .any(|(_, err)| err.raw_os_error() == Some(libc::EEXIST))
    {
        remove_elements(table, all);
        errs = send()?;
    }
    if errs.is_empty() {
        return Ok(());
    }
    Err(NftError::Rejected(
        errs.iter()
            .map(|(i, err)| {
                format!(
                    "{}: {}",
                    e.get(*i).map_or("?", |e| e.set.as_str()),
                    crate::sys::errno_text(err)
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    ))
}

/// Remove them again (see [`remove_elements`]).
#[cfg(test)]
pub fn remove(table: &str, target: Ipv4Addr, ports: &[Binding], links: &[LinkRule]) -> Vec<String> {
    remove_elements(table, &elements(target, ports, links))
}

/// Remove elements, best effort: all at once, else one by one (an
/// element already gone aborts a whole batch). Returns what failed.
pub fn remove_elements(table: &str, elements: &[Element]) -> Vec<String> {
    let all: Vec<Elem> = elements.iter().map(Element::netlink).collect();
    if all.is_empty() || matches!(nftnl::send(table, &all, false), Ok(e) if e.is_empty()) {
        return Vec::new();
    }
    let mut failed = Vec::new();
    for e in &all {
        match nftnl::send(table, std::slice::from_ref(e), false) {
            Ok(errs) => {
                for (_, err) in errs {
                    // Gone already: what we wanted.
                    if err.raw_os_error() != Some(libc::ENOENT) {
                        failed.push(format!("{}: {}", e.set, crate::sys::errno_text(&err)));
                    }
                }
            }
            Err(err) => failed.push(format!("{}: {}", e.set, crate::sys::errno_text(&err))),
        }
    }
    failed
}

/// Whether kernel NAT serves a published port to a container's IPv6
/// address: the `[::]` twins of default-address ports, and IPv6 host
/// addresses that are not loopback (`[::1]` is the forwarder's, as
/// 127.0.0.1 is).
pub fn nat_served6(b: &Binding) -> bool {
    matches!(b.host_ip, IpAddr::V6(a) if !a.is_loopback())
}

/// The IPv6 table's elements of a container's published ports (its IPv6
/// address `target`).
pub fn elements6(target: std::net::Ipv6Addr, ports: &[Binding]) -> Vec<Element> {
    ports
        .iter()
        .filter(|b| nat_served6(b))
        .map(|b| {
            let (set, key) = match b.host_ip {
                IpAddr::V6(a) if !a.is_unspecified() => (
                    format!("addr_{}", b.proto),
                    vec![Field::Addr6(a), Field::Port(b.host_port)],
                ),
                _ => (format!("any_{}", b.proto), vec![Field::Port(b.host_port)]),
            };
            Element {
                family: nftnl::FAMILY_IP6,
                set,
                key,
                value: vec![Field::Addr6(target), Field::Port(b.container_port)],
            }
        })
        .collect()
}

/// The text form of the elements, for `nft -f` (the tests check the
/// kernel takes them).
#[cfg(test)]
pub fn add_script(target: Ipv4Addr, ports: &[Binding], links: &[LinkRule]) -> String {
    elements(target, ports, links)
        .iter()
        .map(|e| e.add_line(TABLE))
        .collect()
}

#[cfg(test)]
pub fn remove_lines(target: Ipv4Addr, ports: &[Binding], links: &[LinkRule]) -> Vec<String> {
    elements(target, ports, links)
        .iter()
        .map(|e| e.delete_line(TABLE))
        .collect()
}

/// Whether an nft binary is there to run.
pub fn available() -> bool {
    nft_path().is_some()
}

/// The nft program rrun runs, if there is one.
pub fn program() -> Option<std::path::PathBuf> {
    nft_path()
}

/// What to install when there is none.
pub const INSTALL: &str = "install the nftables package: sudo apt-get install nftables";

fn nft_path() -> Option<std::path::PathBuf> {
    ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
}

/// Run `nft -f -` with the script.
pub fn apply(script: &str) -> Result<(), NftError> {
    if script.is_empty() {
        return Ok(());
    }
    let nft = nft_path()
        .ok_or_else(|| NftError::Spawn(std::io::Error::from_raw_os_error(libc::ENOENT)))?;
    let mut child = Command::new(nft)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NftError::Spawn)?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(script.as_bytes()).map_err(NftError::Spawn)?;
    }
    let out = child.wait_with_output().map_err(NftError::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(NftError::Rejected(
            err.lines()
                .next()
                .unwrap_or("unknown error")
                .trim()
                .to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_rules_of_the_ipv4_table() {
        let v4 = |s: &str| std::net::IpAddr::V4(s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED));
        let rec = LinkRuleState {
            from: v4("172.17.0.3"),
            to: v4("172.17.0.2"),
            port: 5432,
            proto: Proto::Tcp,
        };
        assert_eq!(
            LinkRule::of(&rec),
            Some(LinkRule {
                from: Ipv4Addr::new(172, 17, 0, 3),
                to: Ipv4Addr::new(172, 17, 0, 2),
                port: 5432,
                proto: Proto::Tcp,
            })
        );
        let six: std::net::IpAddr = "fd00::2".parse().unwrap_or(v4("0.0.0.0"));
        assert_eq!(LinkRule::of(&LinkRuleState { to: six, ..rec }), None);
        assert_eq!(LinkRule::of(&LinkRuleState { from: six, ..rec }), None);
    }
    use crate::ports::ANY_V4;

    fn settings(icc: bool) -> Settings {
        Settings {
            proxy_transparent: true,
            bridge: "rrun0".into(),
            user_bridge: false,
            gateway: Ipv4Addr::new(172, 17, 0, 1),
            prefix: 16,
            mtu: 1500,
            icc,
            ip: ANY_V4,
            ip_forward: true,
            iptables: true,
            bridge_address_added: false,
            route_localnet_was: None,
            table: TABLE.into(),
            internal: false,
            ip_range: None,
            subnet6: None,
        }
    }

    #[test]
    fn network_rules() {
        let s = network_script(&settings(true));
        assert!(s.contains("ip saddr 172.17.0.0/16 oifname != \"rrun0\" masquerade"));
        assert!(s.contains("iifname != \"lo\" ip daddr 127.0.0.0/8 drop"));
        assert!(!s.contains("ether type ip drop"));
        assert!(
            network_script(&settings(false))
                .contains("iifname \"rrv*\" oifname \"rrv*\" ether type ip drop")
        );
    }

    /// The kernel (through nft, in a network namespace of its own) takes the
    /// ruleset and the elements.
    #[test]
    fn nft_accepts_the_scripts() {
        let root = nix::unistd::geteuid().is_root();
        if !root {
            crate::net::test_skip::needs_root("it runs nft in a network namespace of its own");
            return;
        }
        if !available() {
            crate::net::test_skip::skip("nft is not installed");
            return;
        }
        let c = Ipv4Addr::new(172, 17, 0, 2);
        let ports = [Binding {
            host_ip: ANY_V4,
            host_port: 8080,
            container_port: 80,
            proto: Proto::Tcp,
        }];
        let links = [LinkRule {
            from: Ipv4Addr::new(172, 17, 0, 3),
            to: c,
            port: 5432,
            proto: Proto::Udp,
        }];
        // A user network's, with IPv6 and --internal, and its IPv6
        // elements, go in too.
        let mut six = settings(true);
        six.table = "rrun_0123456789ab".into();
        six.bridge = "br-0123456789ab".into();
        six.subnet6 = "fd42::/64".parse().ok();
        let mut internal = six.clone();
        internal.internal = true;
        let v6: std::net::Ipv6Addr = "fd42::2".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST);
        let twin = Binding {
            host_ip: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            ..ports[0]
        };
        let given = Binding {
            host_ip: "fd99::1".parse().unwrap_or(twin.host_ip),
            host_port: 8081,
            ..ports[0]
        };
        let e6: String = elements6(v6, &[twin, given])
            .iter()
            .map(|e| e.add_line(&six.table))
            .collect();
        assert_eq!(
            e6,
            "add element ip6 rrun_0123456789ab any_tcp { 8080 : fd42::2 . 80 }\n\
add element ip6 rrun_0123456789ab addr_tcp { fd99::1 . 8081 : fd42::2 . 80 }\n"
        );
        let script = format!(
            "{}{}{}{}{e6}{}",
            network_script(&settings(false)),
            add_script(c, &ports, &links),
            remove_lines(c, &ports, &links).concat(),
            network_script(&internal),
            network_script(&six),
        ) + &delete_script(TABLE)
            + &delete_script(&six.table);
        let mut child = Command::new("unshare")
            .args(["--net", "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Elements added and removed over netlink land in the kernel's sets,
    /// checked with nft, in the network namespace of a forked child.
    #[test]
    fn netlink_elements_round_trip() {
        let root = nix::unistd::geteuid().is_root();
        if !root {
            crate::net::test_skip::needs_root("it runs nft in a network namespace of its own");
            return;
        }
        if !available() {
            crate::net::test_skip::skip("nft is not installed");
            return;
        }
        let c = Ipv4Addr::new(172, 17, 0, 2);
        let ports = [
            Binding {
                host_ip: ANY_V4,
                host_port: 8080,
                container_port: 80,
                proto: Proto::Tcp,
            },
            Binding {
                host_ip: "10.0.0.5".parse().unwrap_or(ANY_V4),
                host_port: 5353,
                container_port: 53,
                proto: Proto::Udp,
            },
        ];
        let links = [LinkRule {
            from: Ipv4Addr::new(172, 17, 0, 3),
            to: c,
            port: 5432,
            proto: Proto::Tcp,
        }];
        let list = || {
            Command::new("nft")
                .args(["list", "ruleset"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        crate::net::test_skip::in_new_netns(|| {
            if apply(&network_script(&settings(false))).is_err() {
                return 11;
            }
            if add(TABLE, c, &ports, &links).is_err() {
                return 12;
            }
            let l = list();
            if !l.contains("8080 : 172.17.0.2 . 80")
                || !l.contains("10.0.0.5 . 5353 : 172.17.0.2 . 53")
                || !l.contains("172.17.0.3 . 172.17.0.2 . 5432")
            {
                eprintln!("{l}");
                return 13;
            }
            // Adding what exists is not an error (no NLM_F_EXCL).
            if add(TABLE, c, &ports, &links).is_err() {
                return 14;
            }
            if !remove(TABLE, c, &ports, &links).is_empty() {
                return 15;
            }
            let l = list();
            if l.contains("8080 :") || l.contains("5432") {
                eprintln!("{l}");
                return 16;
            }
            // Removing what is gone is not an error either.
            if !remove(TABLE, c, &ports, &links).is_empty() {
                return 17;
            }
            // The tables' handles: there, then new once made again.
            let names = [
                (nftnl::FAMILY_IP, TABLE),
                (nftnl::FAMILY_BRIDGE, TABLE),
                (nftnl::FAMILY_IP, "no-such-table"),
            ];
            let first = match nftnl::table_handles(&names) {
                Ok(h) => h,
                Err(_) => return 18,
            };
            if first[0].is_none() || first[1].is_none() || first[2].is_some() {
                eprintln!("{first:?}");
                return 19;
            }
            if apply(&network_script(&settings(false))).is_err() {
                return 20;
            }
            match nftnl::table_handles(&names) {
                Ok(h) if h[0] != first[0] && h[0].is_some() => {}
                h => {
                    eprintln!("{first:?} then {h:?}");
                    return 21;
                }
            }
            // An orphan under a key (another value): replaced.
            let orphan = [Binding {
                host_ip: ANY_V4,
                host_port: 8080,
                container_port: 81,
                proto: Proto::Tcp,
            }];
            if add(TABLE, Ipv4Addr::new(172, 17, 0, 9), &orphan, &[]).is_err()
                || add(TABLE, c, &ports, &links).is_err()
            {
                return 22;
            }
            let l = list();
            if !l.contains("8080 : 172.17.0.2 . 80") || l.contains("172.17.0.9") {
                eprintln!("{l}");
                return 23;
            }
            0
        });
    }

    /// The host's loopback and IPv6 host addresses are the forwarder's:
    /// no element.
    #[test]
    fn loopback_and_ipv6_ports_are_no_elements() {
        // IPv6: the table's elements only for IPv6 host addresses that are
        // not loopback (the unspecified one: a default-address twin).
        let v6: std::net::Ipv6Addr = "fd42::2".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST);
        let b6 = |ip: &str| Binding {
            host_ip: ip.parse().unwrap_or(ANY_V4),
            host_port: 8080,
            container_port: 80,
            proto: Proto::Udp,
        };
        assert!(elements6(v6, &[b6("::1"), b6("10.0.0.1"), b6("0.0.0.0")]).is_empty());
        let e = elements6(v6, &[b6("::")]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].set, "any_udp");
        assert_eq!(e[0].family, nftnl::FAMILY_IP6);
        assert_eq!(elements6(v6, &[b6("fd00::9")])[0].set, "addr_udp");
        let c = Ipv4Addr::new(172, 17, 0, 2);
        let port = |ip: &str| Binding {
            host_ip: ip.parse().unwrap_or(ANY_V4),
            host_port: 8080,
            container_port: 80,
            proto: Proto::Tcp,
        };
        for ip in ["127.0.0.1", "127.1.2.3", "::1", "::"] {
            assert!(!nat_served(&port(ip)), "{ip}");
            assert!(elements(c, &[port(ip)], &[]).is_empty(), "{ip}");
        }
        for ip in ["0.0.0.0", "10.0.0.5"] {
            assert!(nat_served(&port(ip)), "{ip}");
            assert_eq!(elems(c, &[port(ip)], &[]).len(), 1, "{ip}");
        }
    }

    /// Loopback clients of published ports are not DNATed (the forwarder
    /// serves them), and no rule needs route_localnet.
    #[test]
    fn no_dnat_or_masquerade_from_loopback() {
        let s = network_script(&settings(true));
        let output = &s[s.find("chain output").expect("an output chain")..];
        let ret = output
            .find("ip daddr 127.0.0.0/8 return")
            .expect("the return");
        let jump = output.find("jump published").expect("the jump");
        assert!(ret < jump, "{output}");
        assert!(!s.contains("ip saddr 127.0.0.0/8 masquerade"), "{s}");
    }

    #[test]
    fn elements_for_ports_and_links() {
        let c = Ipv4Addr::new(172, 17, 0, 2);
        let ports = [
            Binding {
                host_ip: ANY_V4,
                host_port: 8080,
                container_port: 80,
                proto: Proto::Tcp,
            },
            Binding {
                host_ip: "10.0.0.5".parse().unwrap_or(ANY_V4),
                host_port: 5353,
                container_port: 53,
                proto: Proto::Udp,
            },
        ];
        let links = [LinkRule {
            from: Ipv4Addr::new(172, 17, 0, 3),
            to: c,
            port: 5432,
            proto: Proto::Tcp,
        }];
        assert_eq!(
            add_script(c, &ports, &links),
            "add element ip rrun any_tcp { 8080 : 172.17.0.2 . 80 }\n\
add element ip rrun addr_udp { 10.0.0.5 . 5353 : 172.17.0.2 . 53 }\n\
add element bridge rrun links_tcp { 172.17.0.3 . 172.17.0.2 . 5432 }\n"
        );
        assert_eq!(
            remove_lines(c, &ports, &links),
            [
                "delete element ip rrun any_tcp { 8080 }\n",
                "delete element ip rrun addr_udp { 10.0.0.5 . 5353 }\n",
                "delete element bridge rrun links_tcp { 172.17.0.3 . 172.17.0.2 . 5432 }\n"
            ]
        );
    }
}
