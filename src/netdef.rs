//! User-defined networks (`rrun network create`): what one is (its
//! definition, `networks/NAME/network.json`), the checks of a create
//! request against the host's routes and the other networks, the choice
//! of its subnet, and the checks of a container's `--ip` on it. Pure: the
//! caller reads the routes and the records and writes the result.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::net::ipam::overlaps;
use crate::net::settings::pick_subnet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetDefError {
    #[error(
        "invalid network name {0:?}: a name starts with a letter or digit and has only letters, digits, '_', '.' and '-' (at most 64)"
    )]
    Name(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error("{0} is a pre-defined network and cannot be created or removed")]
    Predefined(String),
    #[error("invalid CIDR address: {0}")]
    Cidr(String),
    #[error("invalid subnet {0}: its host bits are set (the network is {1})")]
    HostBits(String, Ipv4Net),
    #[error(
        "invalid subnet {0}: a network needs room for a gateway and one container (at most /30)"
    )]
    Small(Ipv4Net),
    #[error(
        "invalid subnet {0}: loopback, multicast and reserved addresses (0/8, 127/8, 224/3) cannot be a network's"
    )]
    Special(Ipv4Net),
    #[error("Pool overlaps with other one on this address space")]
    Overlap,
    #[error(
        "no free address space left for a new network (all of 172.17-31/16, 192.168/16 and 10/8 overlap a route or a network)"
    )]
    NoSpace,
    #[error("invalid gateway address: {0}")]
    Gateway(String),
    #[error("no matching subnet for gateway {0}")]
    GatewayOutside(Ipv4Addr),
    #[error("no matching subnet for range {0}")]
    RangeOutside(Ipv4Net),
    #[error("every ip-range or gateway must have a corresponding subnet")]
    NoSubnet,
    #[error("invalid option {0:?}: {1}")]
    Opt(String, String),
    #[error("invalid label {0:?}: a label is KEY=VALUE or KEY")]
    Label(String),
    #[error("only the bridge driver is supported: {0}")]
    Driver(String),
    #[error("an IPv6 subnet needs --ipv6")]
    Ipv6,
    #[error("invalid IPv6 subnet {0}: use a /48 to /120 with its host bits clear")]
    Subnet6(String),
    #[error(
        "--ip6 is not supported: a container's IPv6 address is its IPv4 address's host number on the network's IPv6 subnet"
    )]
    Ip6,
    #[error("Invalid address {0}: It does not belong to any of this network's subnets")]
    IpOutside(Ipv4Addr),
    #[error("invalid IPv4 address: {0}")]
    Ip(String),
    #[error("Address already in use: {0} is the network's gateway, network or broadcast address")]
    IpReserved(Ipv4Addr),
    #[error("invalid network alias {0:?}")]
    Alias(String),
}

/// The names a user network cannot take: Docker's predefined ones, and
/// words `--net` reads as modes.
pub const PREDEFINED: [&str; 4] = ["bridge", "host", "none", "default"];

/// The option that sets a network's MTU (Docker's driver option).
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
/// The option that names its bridge.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";

/// A user-defined network as `network create` made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDef {
    pub name: String,
    /// 64 hex digits, as Docker's.
    pub id: String,
    pub created: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    #[serde(default)]
    pub ip_range: Option<Ipv4Net>,
    pub internal: bool,
    /// The bridge's name: `br-` and the id's first 12 digits, as Docker's.
    pub bridge: String,
    /// The MTU asked for with `-o com.docker.network.driver.mtu`.
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The subnet was given (`--subnet`), not picked: inspect says so.
    #[serde(default)]
    pub subnet_given: bool,
    /// --ipv6: the IPv6 subnet (given with --subnet, else a unique local
    /// /64 made from the id).
    #[serde(default)]
    pub subnet6: Option<ipnet::Ipv6Net>,
}

impl NetworkDef {
    /// Its nftables tables' name.
    pub fn table(&self) -> String {
        format!("rrun_{}", &self.id[..12.min(self.id.len())])
    }
}

/// `network create`'s flags, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateArgs {
    pub name: String,
    pub driver: Option<String>,
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
    pub ip_ranges: Vec<String>,
    pub internal: bool,
    pub ipv6: bool,
    pub options: Vec<String>,
    pub labels: Vec<String>,
}

/// Docker's rule for network names, with a length cap that keeps the
/// directory name short.
pub fn valid_name(n: &str) -> bool {
    let mut b = n.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphanumeric())
        && n.len() <= 64
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn parse_net(v: &str) -> Result<Ipv4Net, NetDefError> {
    if v.contains(':') {
        return Err(NetDefError::Ipv6);
    }
    let n: Ipv4Net = v.parse().map_err(|_| NetDefError::Cidr(v.to_string()))?;
    if n.trunc() != n {
        return Err(NetDefError::HostBits(v.to_string(), n.trunc()));
    }
    Ok(n)
}

fn kv(v: &str) -> (String, String) {
    match v.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (v.to_string(), String::new()),
    }
}

/// Check a create request against the networks and routes there are
/// (`taken`: the host's routes and addresses, and every other network's
/// subnet) and the names in use; the network it makes (`id` and `created`
/// chosen by the caller).
pub fn settle(
    a: &CreateArgs,
    id: &str,
    created: &str,
    names: &[String],
    taken: &[IpNet],
) -> Result<NetworkDef, NetDefError> {
    if PREDEFINED.contains(&a.name.as_str()) {
        return Err(NetDefError::Predefined(a.name.clone()));
    }
    if !valid_name(&a.name) {
        return Err(NetDefError::Name(a.name.clone()));
    }
    if let Some(d) = &a.driver
        && d != "bridge"
    {
        return Err(NetDefError::Driver(d.clone()));
    }
    if names.contains(&a.name) {
        return Err(NetDefError::Exists(a.name.clone()));
    }
    let (v6, v4): (Vec<&String>, Vec<&String>) = a.subnets.iter().partition(|s| s.contains(':'));
    if v4.len() > 1 || v6.len() > 1 {
        return Err(NetDefError::Opt(
            "--subnet".into(),
            "one IPv4 and one IPv6 subnet per network".into(),
        ));
    }
    if !v6.is_empty() && !a.ipv6 {
        return Err(NetDefError::Ipv6);
    }
    let gateways: Vec<&String> = a.gateways.iter().filter(|g| !g.contains(':')).collect();
    if v4.is_empty() && (!gateways.is_empty() || !a.ip_ranges.is_empty()) {
        return Err(NetDefError::NoSubnet);
    }
    let subnet6 = match v6.first() {
        Some(s) => {
            let n: ipnet::Ipv6Net = s.parse().map_err(|_| NetDefError::Cidr(s.to_string()))?;
            if n.trunc() != n || !(48..=120).contains(&n.prefix_len()) {
                return Err(NetDefError::Subnet6(s.to_string()));
            }
            Some(n)
        }
        None if a.ipv6 => Some(ula_of(id)),
        None => None,
    };
    if let Some(n6) = subnet6
        && taken.iter().any(|t| overlaps(t, &IpNet::V6(n6)))
    {
        return Err(NetDefError::Overlap);
    }
    let mut options = BTreeMap::new();
    let mut mtu = None;
    let mut bridge = None;
    for o in &a.options {
        let (k, v) = kv(o);
        match k.as_str() {
            OPT_MTU => {
                let m: u32 = v
                    .parse()
                    .ok()
                    .filter(|m| (68..=65535).contains(m))
                    .ok_or_else(|| NetDefError::Opt(o.clone(), "an MTU is 68 to 65535".into()))?;
                mtu = Some(m);
            }
            OPT_BRIDGE_NAME => {
                if v.is_empty() || v.len() > 15 || v.contains(['/', ' ', ':']) {
                    return Err(NetDefError::Opt(
                        o.clone(),
                        "a bridge name is 1 to 15 characters, without '/', ':' or spaces".into(),
                    ));
                }
                bridge = Some(v.clone());
            }
            _ => {}
        }
        options.insert(k, v);
    }
    let mut labels = BTreeMap::new();
    for l in &a.labels {
        if l.is_empty() || l.starts_with('=') {
            return Err(NetDefError::Label(l.clone()));
        }
        let (k, v) = kv(l);
        labels.insert(k, v);
    }
    let (subnet, given) = match v4.first() {
        Some(s) => {
            let n = parse_net(s)?;
            if n.prefix_len() > 30 {
                return Err(NetDefError::Small(n));
            }
            // Such a network would shadow the host's and the containers'
            // loopback (127.0.0.11 included) or route multicast to a bridge.
            let special = ["0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/3"]
                .iter()
                .filter_map(|x| x.parse::<Ipv4Net>().ok())
                .any(|x| x.contains(&n.network()) || n.contains(&x.network()));
            if special {
                return Err(NetDefError::Special(n));
            }
            let n6 = IpNet::V4(n);
            if taken.iter().any(|t| t.prefix_len() > 0 && overlaps(t, &n6)) {
                return Err(NetDefError::Overlap);
            }
            (n, true)
        }
        None => {
            let g = pick_subnet(taken).map_err(|_| NetDefError::NoSpace)?;
            (g.trunc(), false)
        }
    };
    let gateway = match gateways.first() {
        Some(g) => {
            let ip: Ipv4Addr = g.parse().map_err(|_| NetDefError::Gateway(g.to_string()))?;
            if !subnet.contains(&ip) {
                return Err(NetDefError::GatewayOutside(ip));
            }
            if ip == subnet.network() || ip == subnet.broadcast() {
                return Err(NetDefError::Gateway(g.to_string()));
            }
            ip
        }
        None => first_host(subnet),
    };
    let ip_range = match a.ip_ranges.first() {
        Some(r) => {
            let n = parse_net(r)?;
            if !subnet.contains(&n) {
                return Err(NetDefError::RangeOutside(n));
            }
            Some(n)
        }
        None => None,
    };
    Ok(NetworkDef {
        name: a.name.clone(),
        id: id.to_string(),
        created: created.to_string(),
        subnet,
        gateway,
        ip_range,
        internal: a.internal,
        bridge: bridge.unwrap_or_else(|| format!("br-{}", &id[..12.min(id.len())])),
        mtu,
        options,
        labels,
        subnet_given: given,
        subnet6,
    })
}

/// A unique local /64 (fd00::/8, RFC 4193) whose global and subnet ids
/// come from the network's id: the same network keeps it, two networks
/// almost never share it.
pub fn ula_of(id: &str) -> ipnet::Ipv6Net {
    let hex: Vec<u8> = id
        .bytes()
        .filter_map(|b| (b as char).to_digit(16).map(|d| d as u8))
        .take(14)
        .collect();
    let mut v: u128 = 0xfd;
    for d in &hex {
        v = (v << 4) | u128::from(*d);
    }
    v <<= 4 * (14 - hex.len()) as u32;
    // fd + 56 bits: the /64's first 64 bits.
    let a = std::net::Ipv6Addr::from(v << 64);
    ipnet::Ipv6Net::new(a, 64).unwrap_or_default()
}

fn first_host(n: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(n.network()).saturating_add(1))
}

/// A container's `--ip` on network `d`: an IPv4 address of its subnet that
/// is neither the gateway nor the subnet's network or broadcast address.
pub fn check_ip(d: &NetworkDef, v: &IpAddr) -> Result<Ipv4Addr, NetDefError> {
    let ip = match v {
        IpAddr::V4(a) => *a,
        IpAddr::V6(_) => return Err(NetDefError::Ip6),
    };
    if !d.subnet.contains(&ip) {
        return Err(NetDefError::IpOutside(ip));
    }
    if ip == d.gateway || ip == d.subnet.network() || ip == d.subnet.broadcast() {
        return Err(NetDefError::IpReserved(ip));
    }
    Ok(ip)
}

/// A `--network-alias`: a DNS name (letters, digits, '-', '_', '.'; no
/// empty label).
pub fn check_alias(a: &str) -> Result<String, NetDefError> {
    let ok = !a.is_empty()
        && a.len() <= 253
        && a.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        });
    if ok {
        Ok(a.to_ascii_lowercase())
    } else {
        Err(NetDefError::Alias(a.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn args(name: &str) -> CreateArgs {
        CreateArgs {
            name: name.into(),
            ..Default::default()
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ok(a: &CreateArgs, taken: &[IpNet]) -> NetworkDef {
        settle(a, ID, "now", &[], taken).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(a: &CreateArgs, names: &[String], taken: &[IpNet]) -> NetDefError {
        match settle(a, ID, "now", names, taken) {
            Ok(d) => panic!("accepted: {d:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn names() {
        for n in ["a", "web", "A-1_b.c", "9net", &"x".repeat(64)] {
            assert!(valid_name(n), "{n}");
        }
        for n in [
            "",
            "-a",
            "_a",
            ".a",
            "a b",
            "a/b",
            "é",
            "a:b",
            &"x".repeat(65),
        ] {
            assert!(!valid_name(n), "{n}");
        }
        for p in PREDEFINED {
            assert_eq!(err(&args(p), &[], &[]), NetDefError::Predefined(p.into()));
        }
        assert_eq!(err(&args("a b"), &[], &[]), NetDefError::Name("a b".into()));
        assert_eq!(
            err(&args("web"), &["web".into()], &[]),
            NetDefError::Exists("web".into())
        );
    }

    #[test]
    fn picked_subnet_and_defaults() {
        let d = ok(&args("n1"), &[net("172.17.0.0/16"), net("0.0.0.0/0")]);
        assert_eq!(d.subnet, "172.18.0.0/16".parse().unwrap_or_default());
        assert_eq!(d.gateway, Ipv4Addr::new(172, 18, 0, 1));
        assert_eq!(d.bridge, "br-0123456789ab");
        assert_eq!(d.table(), "rrun_0123456789ab");
        assert_eq!(d.ip_range, None);
        assert!(!d.subnet_given && !d.internal);
        assert_eq!(d.subnet6, None, "no IPv6 without --ipv6");
        assert_eq!(d.mtu, None);
        let d = ok(&args("n1"), &[net("172.16.0.0/12")]);
        assert_eq!(d.subnet, "192.168.0.0/20".parse().unwrap_or_default());
    }

    #[test]
    fn given_subnet_gateway_range() {
        let mut a = args("n");
        a.subnets = vec!["10.5.0.0/24".into()];
        a.gateways = vec!["10.5.0.254".into()];
        a.ip_ranges = vec!["10.5.0.128/25".into()];
        a.internal = true;
        let d = ok(&a, &[net("172.17.0.0/16")]);
        assert_eq!(d.gateway, Ipv4Addr::new(10, 5, 0, 254));
        assert_eq!(d.ip_range, "10.5.0.128/25".parse().ok());
        assert!(d.subnet_given && d.internal);
        assert_eq!(err(&a, &[], &[net("10.5.0.0/16")]), NetDefError::Overlap);
        assert_eq!(err(&a, &[], &[net("10.5.0.7/32")]), NetDefError::Overlap);
        // A default route overlaps nothing.
        ok(&a, &[net("0.0.0.0/0")]);
        a.gateways = vec!["10.6.0.1".into()];
        assert_eq!(
            err(&a, &[], &[]),
            NetDefError::GatewayOutside(Ipv4Addr::new(10, 6, 0, 1))
        );
        for g in ["10.5.0.0", "10.5.0.255", "nope"] {
            a.gateways = vec![g.into()];
            assert_eq!(err(&a, &[], &[]), NetDefError::Gateway(g.into()));
        }
        a.gateways.clear();
        a.ip_ranges = vec!["10.5.1.0/25".into()];
        assert_eq!(
            err(&a, &[], &[]),
            NetDefError::RangeOutside("10.5.1.0/25".parse().unwrap_or_default())
        );
        a.ip_ranges = vec!["10.5.0.0/23".into()];
        assert!(matches!(err(&a, &[], &[]), NetDefError::RangeOutside(_)));
        a.ip_ranges.clear();
        let d = ok(&a, &[]);
        assert_eq!(d.gateway, Ipv4Addr::new(10, 5, 0, 1));
    }

    #[test]
    fn bad_subnets() {
        let mut a = args("n");
        a.subnets = vec!["10.5.0.1/24".into()];
        assert_eq!(
            err(&a, &[], &[]),
            NetDefError::HostBits(
                "10.5.0.1/24".into(),
                "10.5.0.0/24".parse().unwrap_or_default()
            )
        );
        a.subnets = vec!["nope".into()];
        assert_eq!(err(&a, &[], &[]), NetDefError::Cidr("nope".into()));
        a.subnets = vec!["10.5.0.0/31".into()];
        assert!(matches!(err(&a, &[], &[]), NetDefError::Small(_)));
        a.subnets = vec!["10.5.0.0/30".into()];
        ok(&a, &[]);
        for special in [
            "127.0.0.0/8",
            "127.3.0.0/16",
            "0.0.0.0/8",
            "224.0.0.0/24",
            "240.0.0.0/4",
            "96.0.0.0/3",
        ] {
            a.subnets = vec![special.into()];
            assert!(
                matches!(err(&a, &[], &[]), NetDefError::Special(_)),
                "{special}"
            );
        }
        a.subnets = vec!["223.255.255.0/24".into()];
        ok(&a, &[]);
        a.subnets = vec!["fd00::/64".into()];
        assert_eq!(err(&a, &[], &[]), NetDefError::Ipv6);
        a.ipv6 = true;
        let d = ok(&a, &[]);
        assert_eq!(d.subnet6, "fd00::/64".parse().ok());
        for bad in ["fd00::1/64", "fd00::/32", "fd00::/127", "fd00::zz/64"] {
            a.subnets = vec![bad.into()];
            assert!(settle(&a, ID, "now", &[], &[]).is_err(), "{bad}");
        }
        a.subnets = vec!["fd00::/64".into(), "fd01::/64".into()];
        assert!(matches!(err(&a, &[], &[]), NetDefError::Opt(..)));
        a.ipv6 = false;
        a.subnets = vec!["10.5.0.0/24".into(), "10.6.0.0/24".into()];
        assert!(matches!(err(&a, &[], &[]), NetDefError::Opt(..)));
        let mut a = args("n");
        a.gateways = vec!["10.0.0.1".into()];
        assert_eq!(err(&a, &[], &[]), NetDefError::NoSubnet);
        let mut a = args("n");
        a.ip_ranges = vec!["10.0.0.0/24".into()];
        assert_eq!(err(&a, &[], &[]), NetDefError::NoSubnet);
        let mut a = args("n");
        a.ipv6 = true;
        let d = ok(&a, &[]);
        assert_eq!(d.subnet6, Some(ula_of(ID)));
        assert_eq!(ula_of(ID).to_string(), "fd01:2345:6789:abcd::/64");
        assert_eq!(ula_of("").to_string(), "fd00::/64");
        let mut a = args("n");
        a.driver = Some("overlay".into());
        assert_eq!(err(&a, &[], &[]), NetDefError::Driver("overlay".into()));
        a.driver = Some("bridge".into());
        ok(&a, &[]);
        // Nothing left.
        let all: Vec<IpNet> = vec![
            net("172.16.0.0/12"),
            net("192.168.0.0/16"),
            net("10.0.0.0/8"),
        ];
        assert_eq!(err(&args("n"), &[], &all), NetDefError::NoSpace);
    }

    #[test]
    fn options_and_labels() {
        let mut a = args("n");
        a.options = vec![
            format!("{OPT_MTU}=1400"),
            format!("{OPT_BRIDGE_NAME}=mybr"),
            "other".into(),
        ];
        a.labels = vec!["a=b".into(), "c".into(), "d=e=f".into()];
        let d = ok(&a, &[]);
        assert_eq!(d.mtu, Some(1400));
        assert_eq!(d.bridge, "mybr");
        assert_eq!(d.options.get("other").map(String::as_str), Some(""));
        assert_eq!(d.options.get(OPT_MTU).map(String::as_str), Some("1400"));
        assert_eq!(d.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(d.labels.get("c").map(String::as_str), Some(""));
        assert_eq!(d.labels.get("d").map(String::as_str), Some("e=f"));
        for m in ["0", "67", "65536", "x", ""] {
            a.options = vec![format!("{OPT_MTU}={m}")];
            assert!(matches!(err(&a, &[], &[]), NetDefError::Opt(..)), "{m}");
        }
        a.options = vec![format!("{OPT_MTU}=68")];
        assert_eq!(ok(&a, &[]).mtu, Some(68));
        a.options = vec![format!("{OPT_MTU}=65535")];
        assert_eq!(ok(&a, &[]).mtu, Some(65535));
        for b in ["", "a/b", "a b", "a:b", "0123456789abcdef"] {
            a.options = vec![format!("{OPT_BRIDGE_NAME}={b}")];
            assert!(matches!(err(&a, &[], &[]), NetDefError::Opt(..)), "{b}");
        }
        a.options = vec![format!("{OPT_BRIDGE_NAME}=0123456789abcde")];
        ok(&a, &[]);
        a.options.clear();
        for l in ["", "=x"] {
            a.labels = vec![l.into()];
            assert_eq!(err(&a, &[], &[]), NetDefError::Label(l.into()));
        }
    }

    #[test]
    fn container_ips_and_aliases() {
        let mut a = args("n");
        a.subnets = vec!["10.5.0.0/24".into()];
        let d = ok(&a, &[]);
        let ip = |s: &str| -> IpAddr { s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)) };
        assert_eq!(
            check_ip(&d, &ip("10.5.0.9")),
            Ok(Ipv4Addr::new(10, 5, 0, 9))
        );
        assert_eq!(
            check_ip(&d, &ip("10.5.0.254")),
            Ok(Ipv4Addr::new(10, 5, 0, 254))
        );
        assert_eq!(
            check_ip(&d, &ip("10.5.1.9")),
            Err(NetDefError::IpOutside(Ipv4Addr::new(10, 5, 1, 9)))
        );
        for r in ["10.5.0.1", "10.5.0.0", "10.5.0.255"] {
            assert!(
                matches!(check_ip(&d, &ip(r)), Err(NetDefError::IpReserved(_))),
                "{r}"
            );
        }
        assert_eq!(check_ip(&d, &ip("fd00::1")), Err(NetDefError::Ip6));
        assert_eq!(check_alias("Web-1.db_x"), Ok("web-1.db_x".into()));
        for bad in [
            "",
            "a..b",
            ".a",
            "a b",
            "a/b",
            &"x".repeat(64),
            &["a"; 130].join("."),
        ] {
            assert!(check_alias(bad).is_err(), "{bad}");
        }
        assert!(check_alias(&"x".repeat(63)).is_ok());
    }
}
