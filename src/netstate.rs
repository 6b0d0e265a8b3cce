//! What a container holds of the network, as its record (`state.json`)
//! keeps it: plain data, so that the record's module need not know the
//! network's code, and a later rrun can give back what a container whose
//! monitor died still held.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::ports::{Binding, Proto};

/// What a container holds of the network, recorded in its state.json so
/// that a later rrun can give it back if the container's monitor died.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetState {
    /// Its address and the network's gateway (either family; the record
    /// writes them as text, as it always has).
    pub ip: Option<IpAddr>,
    pub gateway: Option<IpAddr>,
    pub prefix: u8,
    pub mac: String,
    pub bridge: String,
    pub veth: String,
    /// Published ports with their host ports resolved.
    pub ports: Vec<Binding>,
    /// Flows its links opened (icc=false).
    #[serde(default)]
    pub link_rules: Vec<LinkRuleState>,
    /// Whether its ports (unless `ports_forwarded`) and link rules are
    /// kernel NAT map elements.
    pub kernel_nat: bool,
    /// Rootless: its ports are none of nft's: the forwarder serves them,
    /// hairpin traffic from containers too.
    #[serde(default)]
    pub ports_forwarded: bool,
    /// Everything above has been given back.
    #[serde(default)]
    pub released: bool,
    /// Its IPv6 address and gateway, where the network has IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<std::net::Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<std::net::Ipv6Addr>,
    #[serde(default)]
    pub prefix6: u8,
    /// The `[::]` twins of its default-address ports that kernel NAT
    /// sends to its IPv6 address (as root, where it has one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports6: Vec<Binding>,
    /// The nftables tables its elements are in ("": the default
    /// network's, `rrun`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub table: String,
    /// The user-defined network it is on; None: the default bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

impl NetState {
    /// Its IPv4 address: what the bridge network (IPv4 today) plugs in.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        match self.ip? {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }

    /// Its ports that are kernel NAT map elements.
    pub fn nat_ports(&self) -> &[Binding] {
        if self.ports_forwarded {
            &[]
        } else {
            &self.ports
        }
    }
}

/// A user-defined network a running container was connected to with
/// `network connect`, beside the one it started on. Kept in
/// [`ATTACHMENTS`] in the container's directory, which only `network
/// connect` and `disconnect` write and the container's end gives back (the
/// monitor rewrites state.json whole; it knows nothing of these).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attachment {
    pub network: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    /// The host end of its veth pair, and the interface in the container.
    pub veth: String,
    pub ifname: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<std::net::Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<std::net::Ipv6Addr>,
    #[serde(default)]
    pub prefix6: u8,
}

pub const ATTACHMENTS: &str = "attachments.json";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkRuleState {
    pub from: IpAddr,
    pub to: IpAddr,
    pub port: u16,
    pub proto: Proto,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record written when the addresses were IPv4 types reads the same,
    /// and is written the same.
    #[test]
    fn records_keep_their_shape() {
        let old = r#"{"ip":"172.17.0.2","gateway":"172.17.0.1","prefix":16,"mac":"m","bridge":"rrun0","veth":"rrv1","ports":[],"link_rules":[{"from":"172.17.0.3","to":"172.17.0.2","port":5432,"proto":"tcp"}],"kernel_nat":true}"#;
        let n: NetState = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.ipv4(), Some(Ipv4Addr::new(172, 17, 0, 2)));
        assert_eq!(n.gateway, Some(IpAddr::V4(Ipv4Addr::new(172, 17, 0, 1))));
        assert_eq!(n.link_rules[0].to, IpAddr::V4(Ipv4Addr::new(172, 17, 0, 2)));
        let again = serde_json::to_value(&n).unwrap_or_default();
        assert_eq!(again["ip"], "172.17.0.2");
        assert_eq!(again["link_rules"][0]["from"], "172.17.0.3");
        // An IPv6 address is kept, and is no IPv4 one.
        let v6 = NetState {
            ip: Some(
                "fd00::2"
                    .parse()
                    .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            ),
            ..NetState::default()
        };
        assert_eq!(v6.ipv4(), None);
        assert_eq!(NetState::default().ipv4(), None);
    }
}
