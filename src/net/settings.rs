//! The network's settings — Docker's daemon flags -b/--bridge, --bip,
//! --mtu, --icc, --ip, --ip-forward, --iptables, here run flags or RRUN_*
//! variables. They take effect when the network is created and are stored
//! with it; a later run that asks for something else is refused with the
//! way to recreate the network. Pure: parsing, defaults given the host's
//! routes, and the comparison.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use ipnet::{IpNet, Ipv4Net};

use super::ipam::{overlaps, subnet_of};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid --bip {0:?}: use an address and prefix length, like 192.168.5.1/24")]
    Bip(String),
    #[error("invalid --mtu {0:?}: use a number from 68 to 65535")]
    Mtu(String),
    #[error("invalid --{0} {1:?}: use true or false")]
    Bool(&'static str, String),
    #[error("invalid --userland-proxy-source {0:?}: use transparent or gateway")]
    ProxySource(String),
    #[error("invalid --ip {0:?}: use an IP address")]
    Ip(String),
    #[error("invalid bridge name {0:?}: at most 15 characters, no '/', whitespace or ':'")]
    Bridge(String),
    #[error(
        "no free private subnet for the bridge: every candidate overlaps a route or address of this host; choose one with --bip"
    )]
    NoSubnet,
    #[error("--bip {0} overlaps the host's route or address {1}; choose another with --bip")]
    Overlap(String, String),
    #[error(
        "You specified -b & --bip, mutually exclusive options. Please specify only one (-b uses the bridge's own address)"
    )]
    BridgeAndBip,
    #[error(
        "invalid --fixed-cidr-v6 {0:?}: use an IPv6 subnet of /48 to /120 with its host bits clear, like fd00:dead:beef::/64"
    )]
    CidrV6(String),
    #[error("--ipv6 needs --fixed-cidr-v6 (the IPv6 subnet of the default bridge)")]
    Ipv6NoCidr,
}

/// What a run asked for; None: not given (the stored or default value).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Requested {
    pub bridge: Option<String>,
    /// --bip: the bridge's address with the network's prefix length.
    pub bip: Option<Ipv4Net>,
    pub mtu: Option<u32>,
    pub icc: Option<bool>,
    pub ip: Option<IpAddr>,
    pub ip_forward: Option<bool>,
    pub iptables: Option<bool>,
    /// --userland-proxy-source: true "transparent", false "gateway".
    pub proxy_transparent: Option<bool>,
    /// --ipv6 and --fixed-cidr-v6.
    #[serde(default)]
    pub ipv6: Option<bool>,
    #[serde(default)]
    pub fixed_cidr_v6: Option<ipnet::Ipv6Net>,
}

/// The settings a network was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub bridge: String,
    /// -b: a bridge the user made; rrun never deletes it.
    pub user_bridge: bool,
    pub gateway: Ipv4Addr,
    pub prefix: u8,
    pub mtu: u32,
    pub icc: bool,
    pub ip: IpAddr,
    pub ip_forward: bool,
    pub iptables: bool,
    /// The userspace forwarder connects to containers from the client's
    /// own address (IP_TRANSPARENT and policy routing), not the gateway's.
    #[serde(default = "yes")]
    pub proxy_transparent: bool,
    /// -b naming a bridge without an IPv4 address: rrun gave it one,
    /// which `network rm` takes away again.
    #[serde(default)]
    pub bridge_address_added: bool,
    /// -b: the bridge's route_localnet when the network was made (older
    /// rrun versions turned it on): put back at every start and by
    /// `network rm`.
    #[serde(default)]
    pub route_localnet_was: Option<String>,
    /// rrun's nftables tables of this network (ip and bridge families):
    /// "rrun" for the default network, "rrun_<id>" for a user-defined one.
    #[serde(default = "default_table")]
    pub table: String,
    /// A user-defined network's --internal: no route out, no NAT.
    #[serde(default)]
    pub internal: bool,
    /// A user-defined network's --ip-range: where addresses are given.
    #[serde(default)]
    pub ip_range: Option<Ipv4Net>,
    /// IPv6 (--ipv6 with --fixed-cidr-v6, or a user network's IPv6
    /// subnet): containers get the address of this subnet with their IPv4
    /// address's host number, the bridge the subnet's first.
    #[serde(default)]
    pub subnet6: Option<ipnet::Ipv6Net>,
}

fn default_table() -> String {
    super::nft::TABLE.to_string()
}

fn yes() -> bool {
    true
}

/// --userland-proxy-source: "transparent" (the client's own address) or
/// "gateway" (the bridge's address, as docker-proxy).
pub fn parse_proxy_source(v: &str) -> Result<bool, SettingsError> {
    match v {
        "transparent" => Ok(true),
        "gateway" => Ok(false),
        _ => Err(SettingsError::ProxySource(v.to_string())),
    }
}

pub fn proxy_source_name(transparent: bool) -> &'static str {
    if transparent {
        "transparent"
    } else {
        "gateway"
    }
}

impl Settings {
    /// The network (host bits cleared).
    pub fn subnet(&self) -> Ipv4Net {
        subnet_of(self.gateway, self.prefix.min(32)).unwrap_or_default()
    }

    /// The IPv6 gateway: the bridge's address on the IPv6 subnet.
    pub fn gateway6(&self) -> Option<std::net::Ipv6Addr> {
        self.subnet6.map(|n| nth6(n, 1))
    }

    /// A container's IPv6 address: its IPv4 address's host number on the
    /// IPv6 subnet (one lease serves both families).
    pub fn ip6_of(&self, ip: Ipv4Addr) -> Option<std::net::Ipv6Addr> {
        let n = self.subnet6?;
        let host = u32::from(ip) & !u32::from(self.subnet().netmask());
        Some(nth6(n, u128::from(host)))
    }

    /// Where addresses are given: the --ip-range, else the subnet.
    pub fn pool(&self) -> Ipv4Net {
        self.ip_range.unwrap_or_else(|| self.subnet())
    }

    pub fn bip(&self) -> String {
        format!("{}/{}", self.gateway, self.prefix)
    }
}

pub const DEFAULT_BRIDGE: &str = "rrun0";

/// The `k`th address of `n`.
pub fn nth6(n: ipnet::Ipv6Net, k: u128) -> std::net::Ipv6Addr {
    std::net::Ipv6Addr::from(u128::from(n.network()).wrapping_add(k))
}

/// --fixed-cidr-v6: an IPv6 subnet of /64 to /120 with its host bits clear
/// (a container's host number is its IPv4 one).
pub fn parse_cidr_v6(v: &str) -> Result<ipnet::Ipv6Net, SettingsError> {
    let n: ipnet::Ipv6Net = v
        .parse()
        .map_err(|_| SettingsError::CidrV6(v.to_string()))?;
    if n.trunc() != n || !(48..=120).contains(&n.prefix_len()) {
        return Err(SettingsError::CidrV6(v.to_string()));
    }
    Ok(n)
}

pub fn parse_bool(flag: &'static str, v: &str) -> Result<bool, SettingsError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(SettingsError::Bool(flag, v.to_string())),
    }
}

pub fn parse_bip(v: &str) -> Result<Ipv4Net, SettingsError> {
    let bad = || SettingsError::Bip(v.to_string());
    let (a, p) = v.split_once('/').ok_or_else(bad)?;
    let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
    let p: u8 = p.parse().map_err(|_| bad())?;
    if !(8..=30).contains(&p) || a.is_unspecified() || a.is_loopback() || a.is_multicast() {
        return Err(bad());
    }
    let net = Ipv4Net::new(a, p).map_err(|_| bad())?;
    if a == net.network() || a == net.broadcast() {
        return Err(bad());
    }
    Ok(net)
}

pub fn parse_mtu(v: &str) -> Result<u32, SettingsError> {
    match v.parse::<u32>() {
        Ok(m) if (68..=65535).contains(&m) => Ok(m),
        _ => Err(SettingsError::Mtu(v.to_string())),
    }
}

pub fn parse_bridge(v: &str) -> Result<String, SettingsError> {
    if v.is_empty()
        || v.len() > 15
        || v == "."
        || v == ".."
        || v.chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(SettingsError::Bridge(v.to_string()));
    }
    Ok(v.to_string())
}

pub fn parse_ip(v: &str) -> Result<IpAddr, SettingsError> {
    v.parse().map_err(|_| SettingsError::Ip(v.to_string()))
}

/// The candidates for the default subnet, in Docker's order of preference:
/// 172.17–172.31 /16, then the /20s of 192.168/16, then 10.N.0.0/16.
fn candidates() -> impl Iterator<Item = Ipv4Net> {
    let net = |a, p| Ipv4Net::new(a, p).unwrap_or_default();
    (17u8..=31)
        .map(move |b| net(Ipv4Addr::new(172, b, 0, 1), 16))
        .chain((0u8..16).map(move |i| net(Ipv4Addr::new(192, 168, i * 16, 1), 20)))
        .chain((0u8..=255).map(move |b| net(Ipv4Addr::new(10, b, 0, 1), 16)))
}

/// The first of `taken` (a default route, /0, aside) that overlaps `net`.
fn overlap(net: Ipv4Net, taken: &[IpNet]) -> Option<&IpNet> {
    let net = IpNet::V4(net.trunc());
    taken
        .iter()
        .filter(|t| t.prefix_len() > 0)
        .find(|t| overlaps(t, &net))
}

/// The first candidate subnet that overlaps none of the host's routes and
/// addresses (`taken`), as the gateway's address and prefix. A default
/// route (0.0.0.0/0) overlaps nothing for this purpose.
pub fn pick_subnet(taken: &[IpNet]) -> Result<Ipv4Net, SettingsError> {
    candidates()
        .find(|c| overlap(*c, taken).is_none())
        .ok_or(SettingsError::NoSubnet)
}

/// Check a --bip against the host's routes and addresses.
pub fn check_bip(bip: Ipv4Net, taken: &[IpNet]) -> Result<(), SettingsError> {
    match overlap(bip, taken) {
        Some(t) => Err(SettingsError::Overlap(bip.to_string(), t.to_string())),
        None => Ok(()),
    }
}

impl Requested {
    /// The settings of a new network: what was asked, else the defaults.
    /// (`iptables` records what was asked; whether kernel NAT is used also
    /// depends on nft being there.)
    /// `bridge_addr`: with -b, the address the user's bridge already has,
    /// which is the network's, as in Docker (so -b and --bip exclude each
    /// other).
    pub fn settle(
        &self,
        taken: &[IpNet],
        default_mtu: u32,
        bridge_addr: Option<(Ipv4Addr, u8)>,
    ) -> Result<Settings, SettingsError> {
        self.check()?;
        let (gateway, prefix) = match (self.bip, bridge_addr) {
            (_, Some(b)) => b,
            (Some(b), None) => {
                check_bip(b, taken)?;
                (b.addr(), b.prefix_len())
            }
            (None, None) => {
                let n = pick_subnet(taken)?;
                (n.addr(), n.prefix_len())
            }
        };
        Ok(Settings {
            bridge: self.bridge.clone().unwrap_or_else(|| DEFAULT_BRIDGE.into()),
            user_bridge: self.bridge.is_some(),
            gateway,
            prefix,
            mtu: self.mtu.unwrap_or(default_mtu),
            icc: self.icc.unwrap_or(true),
            ip: self.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            ip_forward: self.ip_forward.unwrap_or(true),
            iptables: self.iptables.unwrap_or(true),
            proxy_transparent: self.proxy_transparent.unwrap_or(true),
            bridge_address_added: self.bridge.is_some() && bridge_addr.is_none(),
            route_localnet_was: None,
            table: default_table(),
            internal: false,
            ip_range: None,
            subnet6: match (self.ipv6, self.fixed_cidr_v6) {
                (Some(true), Some(n)) => Some(n),
                _ => None,
            },
        })
    }

    /// What no network can be made with, whatever exists.
    pub fn check(&self) -> Result<(), SettingsError> {
        if self.bridge.is_some() && self.bip.is_some() {
            return Err(SettingsError::BridgeAndBip);
        }
        if self.ipv6 == Some(true) && self.fixed_cidr_v6.is_none() {
            return Err(SettingsError::Ipv6NoCidr);
        }
        Ok(())
    }

    /// What differs between this request and an existing network, worded
    /// as flags ("--bip 10.1.0.1/16 (the network has 172.17.0.1/16)").
    pub fn conflicts(&self, s: &Settings) -> Vec<String> {
        let mut out = Vec::new();
        let mut diff = |flag: &str, want: String, have: String| {
            if want != have {
                out.push(format!("{flag} {want} (the network has {have})"));
            }
        };
        if let Some(b) = &self.bridge {
            diff("--bridge", b.clone(), s.bridge.clone());
        }
        if let Some(b) = self.bip {
            diff("--bip", b.to_string(), s.bip());
        }
        if let Some(m) = self.mtu {
            diff("--mtu", m.to_string(), s.mtu.to_string());
        }
        if let Some(i) = self.icc {
            diff("--icc", i.to_string(), s.icc.to_string());
        }
        if let Some(i) = self.ip {
            diff("--ip", i.to_string(), s.ip.to_string());
        }
        if let Some(f) = self.ip_forward {
            diff("--ip-forward", f.to_string(), s.ip_forward.to_string());
        }
        if let Some(t) = self.iptables {
            diff("--iptables", t.to_string(), s.iptables.to_string());
        }
        if let Some(v) = self.ipv6 {
            diff("--ipv6", v.to_string(), s.subnet6.is_some().to_string());
        }
        if let Some(n) = self.fixed_cidr_v6 {
            diff(
                "--fixed-cidr-v6",
                n.to_string(),
                s.subnet6
                    .map_or_else(|| "none".to_string(), |x| x.to_string()),
            );
        }
        if let Some(t) = self.proxy_transparent {
            diff(
                "--userland-proxy-source",
                proxy_source_name(t).into(),
                proxy_source_name(s.proxy_transparent).into(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_bip("192.168.5.1/24"), Ok(net("192.168.5.1/24")));
        for bad in [
            "192.168.5.0/24",
            "192.168.5.255/24",
            "10.0.0.1",
            "x/24",
            "10.0.0.1/33",
            "10.0.0.1/31",
            "127.0.0.1/8",
            "0.0.0.0/8",
        ] {
            assert!(parse_bip(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_mtu("1400"), Ok(1400));
        assert!(parse_mtu("67").is_err() && parse_mtu("65536").is_err() && parse_mtu("x").is_err());
        assert_eq!(parse_bool("icc", "false"), Ok(false));
        assert!(parse_bool("icc", "no").is_err());
        assert!(parse_bridge("bridge0").is_ok());
        for bad in ["", "a/b", "a b", "0123456789abcdef", "a:b"] {
            assert!(parse_bridge(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_subnet_avoids_the_host() {
        let host = [
            sub("0.0.0.0/0"),
            sub("10.0.2.0/24"),
            sub("172.17.0.0/16"),
            sub("172.18.3.0/24"),
        ];
        assert_eq!(pick_subnet(&host), Ok(net("172.19.0.1/16")));
        assert_eq!(
            pick_subnet(&[sub("172.16.0.0/12")]),
            Ok(net("192.168.0.1/20"))
        );
        assert_eq!(
            check_bip(net("10.0.2.9/16"), &host),
            Err(SettingsError::Overlap(
                "10.0.2.9/16".into(),
                "10.0.2.0/24".into()
            ))
        );
        assert!(check_bip(net("192.168.5.1/24"), &host).is_ok());
        // An IPv6 route overlaps no IPv4 network.
        assert!(check_bip(net("192.168.5.1/24"), &[sub("::/1"), sub("8000::/1")]).is_ok());
    }

    #[test]
    fn conflicts() {
        let r = Requested {
            bip: Some(net("192.168.5.1/24")),
            ..Default::default()
        };
        let s = Requested::default()
            .settle(&[], 1500, None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.bip(), "172.17.0.1/16");
        assert_eq!(
            r.conflicts(&s),
            ["--bip 192.168.5.1/24 (the network has 172.17.0.1/16)"]
        );
        assert!(Requested::default().conflicts(&s).is_empty());
        let same = Requested {
            mtu: Some(1500),
            ..Default::default()
        };
        assert!(same.conflicts(&s).is_empty());
    }

    #[test]
    fn user_bridge_brings_its_address() {
        let b = Requested {
            bridge: Some("br9".into()),
            ..Default::default()
        };
        let own = (Ipv4Addr::new(10, 88, 0, 1), 24);
        // Its own address is taken by its own route: not an overlap.
        let s = b
            .settle(&[sub("10.88.0.0/24")], 1500, Some(own))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (s.bip(), s.bridge_address_added),
            ("10.88.0.1/24".into(), false)
        );
        let bare = b.settle(&[], 1500, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (bare.bip(), bare.bridge_address_added),
            ("172.17.0.1/16".into(), true)
        );
        let both = Requested {
            bip: Some(net("10.88.0.1/24")),
            ..b
        };
        assert_eq!(
            both.settle(&[], 1500, None),
            Err(SettingsError::BridgeAndBip)
        );
    }
}
