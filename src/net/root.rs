//! The network's life: made on first need (bridge, rules, record) and
//! removed by `rrun network rm`. As root it lives in the host's network
//! namespace; rootless, in the user's network namespace (ns.rs), where
//! this runs after joining it — its settings are chosen before, in the
//! host's namespace, whose routes and MTU they must fit.

use std::fs;
use std::os::unix::fs::DirBuilderExt;

use super::ipam::Leases;
use super::settings::{Requested, Settings};
use super::{
    Net, NetError, bridge, dir, docker_user, kernel_nat, load_settings, load_settings_of, netlink,
    nft, read_json, reconcile, write_json,
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

/// The MTU of a new rootless network (`--mtu` sets another).
pub const ROOTLESS_MTU: u32 = 65520;

/// The root network, made if needed; its settings and the bridge index.
/// Runs under the state lock.
pub fn ensure_root(st: &State, req: &Requested) -> Result<(Settings, u32), NetError> {
    let (s, fresh) = settings(st, req, false)?;
    let index = ensure_network(st, &Net::bridge(st), &s, fresh, true)?;
    Ok((s, index))
}

/// The network's settings: as recorded (checked against what this run
/// asks for), or chosen now from the routes and MTU of the current network
/// namespace (then `true`: the network is new, recorded by
/// [`ensure_network`]). `rootless`: the network is a rootless user's (this
/// process may be in the user's namespace already, where it is root).
pub fn settings(st: &State, req: &Requested, rootless: bool) -> Result<(Settings, bool), NetError> {
    req.check()?;
    let _lock = st.lock()?;
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
        return Ok((s, false));
    }
    let mut nl = netlink::Netlink::open()?;
    let taken = bridge::taken_subnets(&mut nl)?;
    let root = !rootless;
    // A rootless network leaves through pasta (or the socket bypass), which
    // ends TCP in the host's own stack: the host's MTU means nothing on that
    // path, and a small one only caps pasta's tap (1400: 2.7 Gbit/s up
    // against 15 on a root bridge). 65520 is the largest frame pasta's tap
    // takes, the figure Podman and RootlessKit use.
    let mtu = if root {
        bridge::default_mtu(&mut nl)
    } else {
        ROOTLESS_MTU
    };
    // A user's bridge (root's: a rootless network's namespace is rrun's
    // own) brings its address; its route_localnet is kept as it was.
    let user_bridge = match &req.bridge {
        Some(b) if root => bridge::user_bridge_state(&mut nl, b)?,
        _ => None,
    };
    let mut s = req.settle(&taken, mtu, user_bridge.as_ref().and_then(|u| u.address))?;
    s.route_localnet_was = user_bridge.map(|u| u.route_localnet);
    // Recorded by ensure_network once the bridge is there: a run that
    // fails (-b naming no bridge) leaves no network behind.
    Ok((s, true))
}

/// The bridge and rules of the network in the current network namespace,
/// made if missing (a new namespace, or a reboot with a kept state
/// directory, or `fresh` settings, which a user's -b bridge may predate);
/// the bridge's index. `host`: this is the host's namespace (Docker's
/// DOCKER-USER chain is opened there only).
pub fn ensure_network(
    st: &State,
    net: &Net,
    s: &Settings,
    fresh: bool,
    host: bool,
) -> Result<u32, NetError> {
    let _lock = st.lock()?;
    // Another run may have made the network since our settings were read
    // (recorded settings were read for good).
    let fresh = fresh
        && match load_settings_of(net)? {
            Some(rec) if rec != *s => {
                return Err(NetError::Conflict(
                    "another run made it at the same time".into(),
                ));
            }
            Some(_) => false,
            None => true,
        };
    let mut nl = netlink::Netlink::open()?;
    let (index, created) = bridge::ensure_bridge(&mut nl, s)?;
    if !host && created {
        // A new namespace's loopback starts down.
        if let Some(lo) = nl.link_index("lo")? {
            nl.set_up(lo)?;
        }
    }
    let remade = fresh || created || !reconcile::tables_intact(net);
    if fresh {
        if s.iptables && !nft::available() {
            eprintln!(
                "rrun: warning: nftables (the nft program) is not installed, so the network has no NAT rules (as with --iptables=false): published ports are served by the userspace forwarder, which shows clients as the gateway; {}",
                nft::INSTALL
            );
        }
        let mut marked = false;
        if kernel_nat(s) {
            // The mark chain needs the kernel's nft_socket; without it the
            // network still works, with gateway-sourced forwarding.
            marked = s.proxy_transparent && nft::apply(&nft::network_script_with(s, true)).is_ok();
            if !marked {
                nft::apply(&nft::network_script_with(s, false))?;
            }
            if host {
                docker_user(&s.bridge, true);
            }
        } else if s.proxy_transparent && nft::available() {
            marked = nft::apply(&nft::tproxy_only_script(s)).is_ok();
        }
        super::transparent::install(st, &mut nl, s, marked);
        reconcile::record_tables(net, s, marked)?;
        write_json(&net.dir.join("settings.json"), s)?;
    } else if remade {
        // The bridge or rrun's rules were removed under the network (a
        // flushed firewall, a deleted bridge, a reboot): all of it again,
        // with every running container's ports and links.
        let what = if created {
            "the network's bridge was gone"
        } else {
            "rrun's firewall rules were gone or replaced"
        };
        let report = reconcile::rebuild(st, net, s, &mut nl, index, host)?;
        if !report.restored.is_empty() || !report.lost.is_empty() {
            reconcile::warn(what, &report);
        }
    }
    // A flushed firewall took every network's rules, the isolation between
    // networks with them: when this network's had to be made again, the
    // others' are checked too and rebuilt where their bridge is (one
    // netlink round trip each; a start that finds its own intact pays
    // nothing for them).
    let others = if remade { Net::all(st) } else { Vec::new() };
    for other in others.into_iter().filter(|o| o != net) {
        let Ok(Some(os)) = load_settings_of(&other) else {
            continue;
        };
        if !kernel_nat(&os) || reconcile::tables_intact(&other) {
            continue;
        }
        if let Ok(Some(oi)) = nl.link_index(&os.bridge) {
            let report = reconcile::rebuild(st, &other, &os, &mut nl, oi, host)?;
            if !report.restored.is_empty() || !report.lost.is_empty() {
                reconcile::warn(
                    &format!("rrun's firewall rules of network {} were gone", other.name),
                    &report,
                );
            }
        }
    }
    Ok(index)
}

/// `rrun network reload`: rebuild the network in the current namespace
/// from the records, whatever state it is in. The containers whose
/// network was restored and those whose veth is gone.
pub fn reload(st: &State) -> Result<Option<reconcile::Report>, NetError> {
    let _lock = st.lock()?;
    let mut all: Option<reconcile::Report> = None;
    for net in Net::all(st) {
        let Some(s) = load_settings_of(&net)? else {
            continue;
        };
        let mut nl = netlink::Netlink::open()?;
        let (index, created) = bridge::ensure_bridge(&mut nl, &s)?;
        let host = nix::unistd::geteuid().is_root();
        if !host
            && created
            && let Some(lo) = nl.link_index("lo")?
        {
            nl.set_up(lo)?;
        }
        let r = reconcile::rebuild(st, &net, &s, &mut nl, index, host)?;
        let a = all.get_or_insert_with(Default::default);
        a.restored.extend(r.restored);
        a.lost.extend(r.lost);
    }
    Ok(all)
}

/// `rrun network rm`: remove the bridge, the rules and the record, when no
/// container holds an address. `at`: where this process is.
pub fn remove_network(st: &State, at: super::Where) -> Result<bool, NetError> {
    let _lock = st.lock()?;
    let Some(s) = load_settings(st)? else {
        let _ = super::outbound::stop(st);
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
    let rootless = !nix::unistd::geteuid().is_root();
    // Rootless outside the user's network namespace: the bridge and rules
    // went with it (and a bridge of this name here would be root's).
    if at.holds_bridge(rootless) {
        let mut nl = netlink::Netlink::open()?;
        super::transparent::remove(&mut nl);
        if nft::available() {
            nft::apply(&nft::delete_script(&s.table))?;
            if kernel_nat(&s) && !rootless {
                docker_user(&s.bridge, false);
            }
        }
        bridge::remove_bridge(&mut nl, &s)?;
    }
    super::outbound::stop(st).map_err(|e| NetError::Record(dir(st).join("pasta.json"), e))?;
    super::remove_dir(st);
    Ok(true)
}

/// A user-defined network's settings: as recorded once its bridge was
/// first made, or made now from its definition (then `true`: recorded by
/// [`ensure_network`]). `rootless`: its bridge is in the user's network
/// namespace, where the host's MTU means nothing (see [`settings`]).
pub fn user_settings(
    net: &Net,
    d: &crate::netdef::NetworkDef,
    rootless: bool,
) -> Result<(Settings, bool), NetError> {
    if let Some(s) = load_settings_of(net)? {
        return Ok((s, false));
    }
    // The runtime directory is gone after a reboot; the definition stays.
    fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&net.dir)
        .map_err(|e| NetError::Record(net.dir.clone(), e))?;
    let mtu = match d.mtu {
        Some(m) => m,
        None if rootless => ROOTLESS_MTU,
        None => bridge::default_mtu(&mut netlink::Netlink::open()?),
    };
    Ok((
        Settings {
            bridge: d.bridge.clone(),
            user_bridge: false,
            gateway: d.gateway,
            prefix: d.subnet.prefix_len(),
            mtu,
            icc: true,
            ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            ip_forward: true,
            iptables: true,
            proxy_transparent: true,
            bridge_address_added: false,
            route_localnet_was: None,
            table: d.table(),
            internal: d.internal,
            ip_range: d.ip_range,
            subnet6: d.subnet6,
        },
        true,
    ))
}

/// Take a user-defined network's bridge and rules out of the current
/// namespace (where they are: see `remove_network`), and its record of
/// them. Its definition stays.
pub fn unmake_user_network(net: &Net, here: bool) -> Result<(), NetError> {
    let Some(s) = load_settings_of(net)? else {
        return Ok(());
    };
    if here {
        let mut nl = netlink::Netlink::open()?;
        if nft::available() {
            nft::apply(&nft::delete_script(&s.table))?;
            if kernel_nat(&s) && nix::unistd::geteuid().is_root() {
                docker_user(&s.bridge, false);
            }
        }
        bridge::remove_bridge(&mut nl, &s)?;
    }
    for f in super::FILES {
        if f != "pasta.json" && f != "transparent.json" {
            let _ = fs::remove_file(net.dir.join(f));
        }
    }
    let _ = fs::remove_file(net.dir.join("names.json"));
    Ok(())
}
