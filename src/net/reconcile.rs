//! Keeping the kernel's network state true to the records. Anyone may
//! flush the firewall (`nft flush ruleset`, a restart of the nftables
//! service) or delete the bridge under running containers; rrun notices at
//! its next start, cheaply — the bridge is looked up by every start anyway,
//! and rrun's tables answer one netlink round trip with the handles they
//! were made with — and rebuilds everything from the records: the bridge,
//! the surviving containers' veths on it, the tables with every running
//! container's published ports and link flows (in one nft transaction, so
//! nothing is half there), and the routing of transparent forwarding.
//! `rrun network reload` does the same on demand. A container whose veth
//! is gone cannot be plugged back in: it is recorded as having lost its
//! network (`network/lost.json`), which ps and inspect show.

use std::collections::BTreeMap;

use super::settings::Settings;
use super::{
    Net, NetError, docker_user, kernel_nat, lease_owners, netlink, nft, nftnl, read_json,
    write_json,
};
use crate::netstate::NetState;
use crate::state::{Record, State};
use crate::sys;

/// A table rrun made, as the kernel numbered it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableRecord {
    pub family: u8,
    pub name: String,
    pub handle: u64,
}

fn tables_path(net: &Net) -> std::path::PathBuf {
    net.dir.join("tables.json")
}

fn lost_path(net: &Net) -> std::path::PathBuf {
    net.dir.join("lost.json")
}

/// The tables a network of these settings has: both with kernel NAT; the
/// ip table alone (the mark chain) for transparent forwarding without it.
fn expected_tables(s: &Settings, marked: bool) -> Vec<(u8, &str)> {
    if kernel_nat(s) {
        let mut v = vec![
            (nftnl::FAMILY_IP, s.table.as_str()),
            (nftnl::FAMILY_BRIDGE, s.table.as_str()),
        ];
        if s.subnet6.is_some() {
            v.push((nftnl::FAMILY_IP6, s.table.as_str()));
        }
        v
    } else if marked {
        vec![(nftnl::FAMILY_IP, s.table.as_str())]
    } else {
        Vec::new()
    }
}

/// Record the handles of the tables just made.
pub fn record_tables(net: &Net, s: &Settings, marked: bool) -> Result<(), NetError> {
    let names = expected_tables(s, marked);
    let handles = nftnl::table_handles(&names)
        .map_err(|e| NetError::Root(format!("reading rrun's nftables tables: {e}")))?;
    let rec: Vec<TableRecord> = names
        .iter()
        .zip(handles)
        .filter_map(|((family, name), h)| {
            h.map(|handle| TableRecord {
                family: *family,
                name: name.to_string(),
                handle,
            })
        })
        .collect();
    write_json(&tables_path(net), &rec)
}

/// Whether every table rrun recorded is there with the handle it had: one
/// netlink round trip. A table deleted (a flushed ruleset) is gone; one
/// made again by someone else has another handle.
pub fn tables_intact(net: &Net) -> bool {
    let rec: Vec<TableRecord> = match read_json(&tables_path(net)) {
        Ok(Some(r)) => r,
        // Nothing recorded: a network made before rrun recorded them, or
        // one without tables. Rebuilding costs one nft run and records them.
        Ok(None) => return false,
        Err(_) => return false,
    };
    if rec.is_empty() {
        return true;
    }
    let names: Vec<(u8, &str)> = rec.iter().map(|t| (t.family, t.name.as_str())).collect();
    match nftnl::table_handles(&names) {
        Ok(h) => h
            .iter()
            .zip(&rec)
            .all(|(got, want)| *got == Some(want.handle)),
        Err(_) => false,
    }
}

/// The containers whose network is live: a lease, a record with a network
/// not given back, and a monitor alive (a dead one's is given back by
/// `reclaim_dead`, which runs first).
pub fn live(st: &State, net: &Net) -> Vec<(Record, NetState)> {
    lease_owners(net)
        .iter()
        .filter_map(|id| st.find(id).ok())
        .filter(|r| sys::alive(r.state.monitor_pid, r.state.monitor_start))
        .filter_map(|r| {
            let n = r.state.net.clone()?;
            (!n.released).then_some((r, n))
        })
        .collect()
}

/// What a rebuild did.
#[derive(Debug, Default)]
pub struct Report {
    /// Containers whose network was restored (ids).
    pub restored: Vec<String>,
    /// Containers whose veth was gone (ids).
    pub lost: Vec<String>,
}

/// Rebuild the network in the current namespace from the records: the
/// bridge `index` (just checked or made), the live containers' veths on
/// it, the tables and their elements, transparent forwarding. Runs under
/// the state lock, so no start adds elements meanwhile. `host`: the host's
/// namespace (Docker's DOCKER-USER chain is opened there only).
pub fn rebuild(
    st: &State,
    net: &Net,
    s: &Settings,
    nl: &mut netlink::Netlink,
    index: u32,
    host: bool,
) -> Result<Report, NetError> {
    let mut report = Report::default();
    let mut lost: BTreeMap<String, String> = BTreeMap::new();
    let live = live(st, net);
    for (r, n) in &live {
        let plugged = match nl.link_index(&n.veth)? {
            Some(v) => nl
                .set_master(v, index)
                .and_then(|()| nl.set_hairpin(v, true))
                .and_then(|()| nl.set_up(v))
                .is_ok(),
            None => false,
        };
        if plugged {
            report.restored.push(r.id().to_string());
        } else {
            report.lost.push(r.id().to_string());
            lost.insert(r.id().to_string(), n.veth.clone());
        }
    }
    let mut marked = false;
    if kernel_nat(s) {
        let mut elements = String::new();
        for (_, n) in &live {
            if n.kernel_nat {
                for e in super::container_elements(n) {
                    elements.push_str(&e.add_line(&s.table));
                }
            }
        }
        if s.proxy_transparent {
            marked = nft::apply(&(nft::network_script_with(s, true) + &elements)).is_ok();
        }
        if !marked {
            nft::apply(&(nft::network_script_with(s, false) + &elements))?;
        }
        if host {
            docker_user(&s.bridge, true);
        }
    } else if s.proxy_transparent && nft::available() {
        marked = nft::apply(&nft::tproxy_only_script(s)).is_ok();
    }
    super::transparent::install(st, nl, s, marked);
    record_tables(net, s, marked)?;
    write_json(&lost_path(net), &lost)?;
    Ok(report)
}

/// Containers recorded as having lost their network: id → its veth.
pub fn lost(net: &Net) -> BTreeMap<String, String> {
    read_json(&lost_path(net))
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Those of every network.
pub fn lost_all(st: &State) -> BTreeMap<String, String> {
    Net::all(st).iter().flat_map(lost).collect()
}

/// Forget a container in the lost list (its network is given back).
pub fn forget_lost(net: &Net, id: &str) {
    let mut l = lost(net);
    if l.remove(id).is_some() {
        let _ = write_json(&lost_path(net), &l);
    }
}

/// Say what a rebuild found, once, on stderr.
pub fn warn(what: &str, r: &Report) {
    let mut msg = format!(
        "rrun: warning: {what}; rebuilt the network with {} running container(s)",
        r.restored.len()
    );
    if !r.lost.is_empty() {
        let ids: Vec<&str> = r.lost.iter().map(|i| &i[..12.min(i.len())]).collect();
        msg.push_str(&format!(
            "; lost for good by {} (its veth is gone): {}",
            r.lost.len(),
            ids.join(", ")
        ));
    }
    eprintln!("{msg}");
}
