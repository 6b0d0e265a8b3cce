//! The user-defined networks' records (`networks/NAME/network.json`):
//! made by `network create` after netdef's checks against the host's
//! routes and the other networks, listed, and removed when no container
//! is on them. The bridge and rules of one are made at its first
//! container's start, as the default network's are (rootless, its
//! namespace may not exist before), and go with it.

use std::fs;
use std::os::unix::fs::DirBuilderExt;

use ipnet::IpNet;

use super::{Net, NetError, bridge, lease_owners, load_settings, netlink, read_json, write_json};
use crate::netdef::{CreateArgs, NetworkDef};
use crate::state::{self, State};

fn def_path(st: &State, name: &str) -> std::path::PathBuf {
    super::defs_dir(st).join(name).join("network.json")
}

/// The definition of network `name`: "network NAME not found" if none.
pub fn load_def(st: &State, name: &str) -> Result<NetworkDef, NetError> {
    if !crate::netdef::valid_name(name) {
        return Err(NetError::NotFound(name.to_string()));
    }
    read_json(&def_path(st, name))?.ok_or_else(|| NetError::NotFound(name.to_string()))
}

/// Every user-defined network, by name.
pub fn all(st: &State) -> Vec<NetworkDef> {
    super::user_names(st)
        .iter()
        .filter_map(|n| load_def(st, n).ok())
        .collect()
}

/// Find a network by name, full id or id prefix (as Docker does).
pub fn find(st: &State, key: &str) -> Result<NetworkDef, NetError> {
    if let Ok(d) = load_def(st, key) {
        return Ok(d);
    }
    let hex = !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit());
    let mut hits: Vec<NetworkDef> = all(st)
        .into_iter()
        .filter(|d| hex && d.id.starts_with(key))
        .collect();
    match (hits.pop(), hits.is_empty()) {
        (Some(d), true) => Ok(d),
        _ => Err(NetError::NotFound(key.to_string())),
    }
}

/// What the socket bypass of a running container keeps inside the user's
/// namespace: every subnet rrun's networks hold (recorded, made or not),
/// with its own, read again when a network's record or the
/// default network's settings change, so that a network made after the
/// container started (and connected to it, or not) stays inside too.
pub struct SubnetWatch {
    defs: std::path::PathBuf,
    settings: std::path::PathBuf,
    own: ipnet::Ipv4Net,
    seen: Stamp,
    /// A network directory without its record yet (made, not yet written
    /// by `network create`): read again at the next call.
    unsettled: bool,
}

/// (inode, mtime) of the definitions' directory — a network made or
/// removed changes it; a definition is never rewritten — and of the
/// default network's settings (replaced whole when written).
type Stamp = [Option<(u64, i64)>; 2];

impl SubnetWatch {
    /// The subnets now, and a watch that tells when they change.
    pub fn new(st: &State, own: ipnet::Ipv4Net) -> (Vec<ipnet::Ipv4Net>, SubnetWatch) {
        let mut w = SubnetWatch {
            defs: super::defs_dir(st),
            settings: Net::bridge(st).dir.join("settings.json"),
            own,
            seen: [None, None],
            unsettled: true,
        };
        let v = w.changed().unwrap_or_else(|| vec![own]);
        (v, w)
    }

    /// Two stats: what a connection about to leave pays.
    fn stamp(&self) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let st = |p: &std::path::Path| {
            fs::metadata(p)
                .ok()
                .map(|m| (m.ino(), m.mtime() * 1_000_000_000 + m.mtime_nsec()))
        };
        [st(&self.defs), st(&self.settings)]
    }

    /// The subnets, when they may have changed since the last call.
    pub fn changed(&mut self) -> Option<Vec<ipnet::Ipv4Net>> {
        let now = self.stamp();
        if now == self.seen && !self.unsettled {
            return None;
        }
        self.seen = now;
        self.unsettled = false;
        let mut v = vec![self.own];
        if let Ok(Some(s)) = read_json::<super::Settings>(&self.settings) {
            v.push(s.subnet());
        }
        for e in fs::read_dir(&self.defs).into_iter().flatten().flatten() {
            match read_json::<NetworkDef>(&e.path().join("network.json")) {
                Ok(Some(d)) => v.push(d.subnet),
                _ => self.unsettled = true,
            }
        }
        v.sort();
        v.dedup();
        Some(v)
    }
}

/// `network create`: check, then record. As root the bridge is made at
/// once (Docker's `ip link` shows it); rootless at the first start.
pub fn create(st: &State, a: &CreateArgs) -> Result<NetworkDef, NetError> {
    let _lock = st.lock()?;
    let names = super::user_names(st);
    let mut taken: Vec<IpNet> = Vec::new();
    // The host's routes and addresses (rootless too: the user's network
    // namespace routes to the host's, and must not shadow them).
    let mut nl = netlink::Netlink::open()?;
    taken.extend(bridge::taken_subnets(&mut nl).map_err(|e| NetError::Root(e.to_string()))?);
    if let Ok(Some(s)) = load_settings(st) {
        taken.push(IpNet::V4(s.subnet()));
    } else {
        // The default network's subnet-to-be: Docker's first pick, kept
        // free for it.
        taken.push(IpNet::V4(
            crate::net::settings::pick_subnet(&taken)
                .map(|n| n.trunc())
                .unwrap_or_default(),
        ));
    }
    for d in all(st) {
        taken.push(IpNet::V4(d.subnet));
        taken.extend(d.subnet6.map(IpNet::V6));
    }
    if let Ok(Some(s)) = load_settings(st) {
        taken.extend(s.subnet6.map(IpNet::V6));
    }
    let id = crate::sys::random_hex64().map_err(|e| NetError::Root(e.to_string()))?;
    let d = crate::netdef::settle(a, &id, &state::now_rfc3339(), &names, &taken)?;
    let net = Net::user(st, &d.name);
    let defs = super::defs_dir(st).join(&d.name);
    for dir in [&defs, &net.dir] {
        fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(dir)
            .map_err(|e| NetError::Record(dir.to_path_buf(), e))?;
    }
    write_json(&def_path(st, &d.name), &d)?;
    Ok(d)
}

/// The containers on `net` now (not stopped ones keeping an address).
pub fn users(st: &State, net: &Net) -> Vec<String> {
    let kept: std::collections::BTreeSet<String> =
        read_json::<super::ipam::Leases>(&net.dir.join("leases.json"))
            .ok()
            .flatten()
            .map(|l| l.kept)
            .unwrap_or_default();
    lease_owners(net)
        .into_iter()
        .filter(|id| !kept.contains(id))
        .filter(|id| {
            st.find(id)
                .is_ok_and(|r| r.state.status != state::Status::Exited)
        })
        .collect()
}

/// `network rm NAME`: refused while a container is on it (a stopped one
/// keeping its address is not: its address is given up). `here`: this
/// process is where the network's bridge is (as root, the host's
/// namespace; rootless, the user's).
pub fn remove(st: &State, d: &NetworkDef, here: bool) -> Result<(), NetError> {
    let _lock = st.lock()?;
    let net = Net::user(st, &d.name);
    if !users(st, &net).is_empty() {
        return Err(NetError::Active(d.name.clone(), d.id.clone()));
    }
    super::root::unmake_user_network(&net, here)?;
    let _ = fs::remove_file(def_path(st, &d.name));
    let _ = fs::remove_dir_all(super::defs_dir(st).join(&d.name));
    let _ = fs::remove_dir_all(&net.dir);
    Ok(())
}

fn write_attachments(
    r: &state::Record,
    list: &[crate::netstate::Attachment],
) -> Result<(), NetError> {
    let p = r.dir.join(crate::netstate::ATTACHMENTS);
    if list.is_empty() {
        return match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(NetError::Record(p, e)),
            _ => Ok(()),
        };
    }
    write_json(&p, &list)
}

/// `network connect`: plug running container `r` into `d` as another
/// interface (eth1, eth2, …), with an address (`ip`, else the next free
/// one) and names on it. `host`: this process is in the host's network
/// namespace (root); rootless it has joined the user's.
pub fn connect(
    st: &State,
    d: &NetworkDef,
    r: &state::Record,
    ip: Option<std::net::IpAddr>,
    aliases: Vec<String>,
    host: bool,
) -> Result<(), NetError> {
    if !r.running() {
        return Err(NetError::Root(format!(
            "container {} is not running: rrun connects running containers only",
            r.config.name
        )));
    }
    if !crate::inspect::bridged(&r.config.net) {
        return Err(NetError::Root(format!(
            "container cannot be connected to a network in network mode {}",
            r.config.net
        )));
    }
    if r.config.net == d.name || r.attachments.iter().any(|a| a.network == d.name) {
        return Err(NetError::Root(format!(
            "endpoint with name {} already exists in network {}",
            r.config.name, d.name
        )));
    }
    let want = match ip {
        Some(ip) => super::Want::Exact(crate::netdef::check_ip(d, &ip)?),
        None => super::Want::Any,
    };
    let net = Net::user(st, &d.name);
    let (s, fresh) = super::root::user_settings(&net, d, !host)?;
    let index = super::root::ensure_network(st, &net, &s, fresh, host)?;
    let id = r.id().to_string();
    // No process holds this lease's lock: the container's record keeps it
    // (a running container's leases are its own), and its end gives it back.
    let (ip, _lock) = super::allocate(st, &net, &s, &id, want)?;
    let undo = |e: NetError| {
        let _ = super::release_lease(st, &net, &id);
        e
    };
    let ifname = (1..)
        .map(|n| format!("eth{n}"))
        .find(|n| !r.attachments.iter().any(|a| a.ifname == *n))
        .unwrap_or_else(|| "eth1".into());
    let ns = crate::sys::open(
        std::path::Path::new(&format!("/proc/{}/ns/net", r.state.pid)),
        libc::O_RDONLY,
    )
    .map_err(|e| {
        undo(NetError::Root(format!(
            "the container's network namespace: {}",
            crate::sys::errno_text(&e)
        )))
    })?;
    if !crate::sys::alive(r.state.pid, r.state.pid_start) {
        return Err(undo(NetError::Root(format!(
            "container {} is not running",
            r.config.name
        ))));
    }
    let veth = bridge::extra_veth_name(&id, &d.name);
    let mut nl = netlink::Netlink::open().map_err(|e| undo(e.into()))?;
    let a = bridge::plug(&mut nl, &s, index, ns, &veth, &ifname, ip, false)
        .map_err(|e| undo(e.into()))?;
    let att = crate::netstate::Attachment {
        network: d.name.clone(),
        ip,
        prefix: s.prefix,
        gateway: s.gateway,
        mac: bridge::mac_text(a.mac),
        veth: a.veth.clone(),
        ifname,
        aliases: aliases.clone(),
        ip6: s.ip6_of(ip),
        gateway6: s.gateway6(),
        prefix6: s.subnet6.map_or(0, |n| n.prefix_len()),
    };
    let mut names = vec![
        r.config.name.to_ascii_lowercase(),
        id[..12.min(id.len())].to_string(),
    ];
    for al in aliases {
        if !names.contains(&al) {
            names.push(al);
        }
    }
    let recorded = (|| {
        let _lock = st.lock()?;
        // Read again under the lock: another connect may have written it.
        let mut list = state::Record::read(&r.dir)
            .map(|x| x.attachments)
            .unwrap_or_default();
        list.push(att);
        write_attachments(r, &list)?;
        super::dnsnames::add(
            &net,
            super::dnsnames::Entry {
                id: id.clone(),
                names,
                ip,
                ip6: s.ip6_of(ip),
                monitor: Some((r.state.monitor_pid, r.state.monitor_start)),
            },
        )
    })();
    if let Err(e) = recorded {
        if let Ok(Some(i)) = nl.link_index(&a.veth) {
            let _ = nl.delete_link(i);
        }
        return Err(undo(e));
    }
    Ok(())
}

/// `network disconnect`: take the interface of `d` out of container `r`
/// and give its address back. The network a container was started on
/// stays (its default route and published ports are there).
pub fn disconnect(
    st: &State,
    d: &NetworkDef,
    r: &state::Record,
    here: bool,
) -> Result<(), NetError> {
    if r.config.net == d.name && r.running() {
        return Err(NetError::Root(format!(
            "container {} was started on network {}: rrun disconnects only networks connected since (stop it, or remove it and run it on another)",
            r.config.name, d.name
        )));
    }
    let Some(att) = r.attachments.iter().find(|a| a.network == d.name).cloned() else {
        return Err(NetError::Root(format!(
            "container {} is not connected to network {}",
            r.config.name, d.name
        )));
    };
    if here {
        let mut nl = netlink::Netlink::open()?;
        if let Some(i) = nl.link_index(&att.veth)? {
            nl.delete_link(i)?;
        }
    }
    let net = Net::user(st, &d.name);
    {
        let _lock = st.lock()?;
        let list: Vec<_> = state::Record::read(&r.dir)
            .map(|x| x.attachments)
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a.network != d.name)
            .collect();
        write_attachments(r, &list)?;
        super::dnsnames::remove(&net, r.id());
    }
    super::release_lease(st, &net, r.id())
}
