//! The root network's life: made on first need (bridge, rules, record)
//! and removed by `rrun network rm`. Runs in the host's network namespace.

use std::fs;
use std::os::unix::fs::DirBuilderExt;

use super::ipam::Leases;
use super::settings::{Requested, Settings};
use super::{
    NetError, bridge, dir, docker_user, kernel_nat, load_settings, netlink, nft, read_json,
    write_json,
};
use crate::state::{self, State};

impl From<bridge::BridgeError> for NetError {
    fn from(e: bridge::BridgeError) -> Self {
        NetError::Root(e.to_string())
    }
}

impl From<netlink::NetlinkError> for NetError {
    fn from(e: netlink::NetlinkError) -> Self {
        NetError::Root(e.to_string())
    }
}

/// The root network, made if needed; its settings and the bridge index.
/// Runs under the state lock.
pub fn ensure_root(st: &State, req: &Requested) -> Result<(Settings, u32), NetError> {
    let _lock = st.lock()?;
    let mut nl = netlink::Netlink::open()?;
    let d = dir(st);
    fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&d)
        .map_err(|e| NetError::Record(d.clone(), e))?;
    if let Some(s) = load_settings(st)? {
        let c = req.conflicts(&s);
        if !c.is_empty() {
            return Err(NetError::Conflict(c.join(", ")));
        }
        let existed = nl.link_index(&s.bridge)?.is_some();
        let index = bridge::ensure_bridge(&mut nl, &s)?;
        if !existed && kernel_nat(&s) {
            // The kernel's state went away (a reboot with a kept state
            // directory): lay the rules again.
            nft::apply(&nft::network_script(&s))?;
        }
        return Ok((s, index));
    }
    let taken = bridge::taken_subnets(&mut nl)?;
    let mtu = bridge::default_mtu(&mut nl);
    let s = req.settle(&taken, mtu)?;
    let index = bridge::ensure_bridge(&mut nl, &s)?;
    if kernel_nat(&s) {
        nft::apply(&nft::network_script(&s))?;
        docker_user(&s.bridge, true);
    }
    write_json(&d.join("settings.json"), &s)?;
    Ok((s, index))
}

/// `rrun network rm`: remove the bridge, the rules and the record, when no
/// container holds an address.
pub fn remove_network(st: &State) -> Result<bool, NetError> {
    let _lock = st.lock()?;
    let Some(s) = load_settings(st)? else {
        return Ok(false);
    };
    let p = dir(st).join("leases.json");
    let l: Leases = read_json(&p)?.unwrap_or_default();
    let users: Vec<String> = l
        .leases
        .values()
        .filter(|owner| {
            st.find(owner)
                .is_ok_and(|r| r.state.status != state::Status::Exited)
        })
        .map(|o| o[..12.min(o.len())].to_string())
        .collect();
    if !users.is_empty() {
        return Err(NetError::InUse(users.len(), users.join(", ")));
    }
    if kernel_nat(&s) {
        nft::apply(&nft::delete_script())?;
        docker_user(&s.bridge, false);
    }
    let mut nl = netlink::Netlink::open()?;
    bridge::remove_bridge(&mut nl, &s)?;
    let _ = fs::remove_dir_all(dir(st));
    Ok(true)
}
