//! What a container holds of the network, as its record (`state.json`)
//! keeps it: plain data, so that the record's module need not know the
//! network's code, and a later rrun can give back what a container whose
//! monitor died still held.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::ports::{Binding, Proto};

/// What a container holds of the network, recorded in its state.json so
/// that a later rrun can give it back if the container's monitor died.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetState {
    pub ip: Option<Ipv4Addr>,
    pub gateway: Option<Ipv4Addr>,
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
}

impl NetState {
    /// Its ports that are kernel NAT map elements.
    pub fn nat_ports(&self) -> &[Binding] {
        if self.ports_forwarded {
            &[]
        } else {
            &self.ports
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkRuleState {
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
    pub port: u16,
    pub proto: Proto,
}
