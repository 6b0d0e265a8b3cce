//! Transparent forwarding's routing: replies of a container to a client
//! address (not one of this namespace's) that belong to a transparent
//! socket of the forwarder are marked by the nft chain (nft.rs) and
//! delivered locally by one policy routing rule and its table
//! (`fwmark M lookup T`, `local default dev lo table T`). Installed with
//! the network in the namespace of its bridge, removed with it; whether it
//! is in force is recorded in `network/transparent.json`, which the
//! forwarder's users read. Where the kernel refuses a piece, forwarding
//! falls back to the gateway's address with one warning.

use serde::{Deserialize, Serialize};

use super::nft::{TPROXY_MARK, TPROXY_RULE_PRIORITY, TPROXY_TABLE};
use super::settings::Settings;
use super::{dir, netlink::Netlink, read_json, write_json};
use crate::state::State;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// Containers see forwarded clients' own addresses.
    pub active: bool,
    /// Why not, when asked for and not active.
    #[serde(default)]
    pub why: String,
}

fn path(st: &State) -> std::path::PathBuf {
    dir(st).join("transparent.json")
}

pub fn record(st: &State) -> Record {
    read_json(&path(st)).ok().flatten().unwrap_or_default()
}

/// Install the rule and route if `s` asks for transparency and the mark
/// chain is in place (`marked`); record the outcome.
pub fn install(st: &State, nl: &mut Netlink, s: &Settings, marked: bool) {
    let rec = if !s.proxy_transparent {
        Record::default()
    } else if !marked {
        Record {
            active: false,
            why: if super::nft::available() {
                "the kernel refused nftables' socket expression".into()
            } else {
                format!(
                    "nftables (the nft program) is not installed; {}",
                    super::nft::INSTALL
                )
            },
        }
    } else {
        match nl
            .add_local_default(TPROXY_TABLE)
            .and_then(|()| nl.add_fwmark_rule(TPROXY_MARK, TPROXY_TABLE, TPROXY_RULE_PRIORITY))
        {
            Ok(()) => Record {
                active: true,
                why: String::new(),
            },
            Err(e) => Record {
                active: false,
                why: e.to_string(),
            },
        }
    };
    // Without nft a network that asked for NAT rules has said so already
    // (root.rs), this included.
    let said = s.iptables && !super::nft::available();
    if s.proxy_transparent && !rec.active && !said {
        eprintln!(
            "rrun: warning: containers will see forwarded clients as coming from the gateway ({}): {}",
            s.gateway, rec.why
        );
    }
    let _ = write_json(&path(st), &rec);
}

/// Remove the rule and its table's route.
pub fn remove(nl: &mut Netlink) {
    let _ = nl.delete_fwmark_rule(TPROXY_MARK, TPROXY_TABLE, TPROXY_RULE_PRIORITY);
    let _ = nl.delete_local_default(TPROXY_TABLE);
}
