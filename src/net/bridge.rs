//! The bridge network of a root rrun, in the host's network namespace:
//! the bridge itself (made once, with a fixed MAC, its address and the
//! nftables tables; route_localnet kept off), and per container a veth pair whose far end
//! is created directly in the container's namespace as eth0, its address,
//! and its default route.
//!
//! What lies above "where is the bridge" (settings, leases, files, link
//! variables) is shared with the rootless network; this file is the part
//! that is root's alone.

use std::fs;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use super::netlink::{Netlink, NetlinkError};
use super::settings::Settings;
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("{0}")]
    Netlink(#[from] NetlinkError),
    #[error("{0} exists but is not a bridge; name a bridge with -b, or remove it")]
    NotBridge(String),
    #[error("bridge {0} does not exist; -b names a bridge you made (ip link add {0} type bridge)")]
    NoUserBridge(String),
    #[error("setting {0}: {1}")]
    Sysctl(String, #[source] std::io::Error),
    #[error("opening the container's network namespace: {0}")]
    Netns(#[source] std::io::Error),
}

/// The fixed MAC of rrun's bridge: locally administered and derived from
/// its address, so it never changes as ports come and go (a Linux bridge
/// otherwise takes the lowest MAC of its ports).
pub fn bridge_mac(gw: Ipv4Addr) -> [u8; 6] {
    let o = gw.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// A container's MAC, derived from its address as Docker does (02:42:IP).
pub fn container_mac(ip: Ipv4Addr) -> [u8; 6] {
    bridge_mac(ip)
}

pub fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn sysctl(path: &str, value: &str) -> Result<(), BridgeError> {
    fs::write(path, value).map_err(|e| {
        BridgeError::Sysctl(path.trim_start_matches("/proc/sys/").replace('/', "."), e)
    })
}

/// Turn on IPv6 forwarding. An interface that takes router advertisements
/// (accept_ra=1) stops taking them once forwarding is on, and the host
/// would lose the IPv6 default route they give: those are set to 2 (take
/// them even when forwarding) first, as Docker does.
fn ipv6_forwarding() -> Result<(), BridgeError> {
    let all = "/proc/sys/net/ipv6/conf/all/forwarding";
    if fs::read_to_string(all).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    if let Ok(rd) = fs::read_dir("/proc/sys/net/ipv6/conf") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == "all" || name == "default" || name == "lo" {
                continue;
            }
            let p = e.path().join("accept_ra");
            if fs::read_to_string(&p).is_ok_and(|v| v.trim() == "1") {
                let _ = fs::write(&p, "2");
            }
        }
    }
    sysctl(all, "1")
}

/// The MTU of the interface of the host's default route, else 1500.
pub fn default_mtu(nl: &mut Netlink) -> u32 {
    let Some(oif) = nl
        .ipv4_routes()
        .ok()
        .and_then(|r| r.iter().find(|r| r.prefix == 0).map(|r| r.oif))
    else {
        return 1500;
    };
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: if_indextoname writes at most IF_NAMESIZE bytes into name.
    let p = unsafe { libc::if_indextoname(oif, name.as_mut_ptr()) };
    if p.is_null() {
        return 1500;
    }
    // SAFETY: on success name holds a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    nl.link_info(&name)
        .ok()
        .flatten()
        .map(|i| i.mtu)
        .filter(|m| *m >= 68)
        .unwrap_or(1500)
}

/// The host's routes and addresses, as subnets a new bridge must avoid.
pub fn taken_subnets(nl: &mut Netlink) -> Result<Vec<ipnet::IpNet>, BridgeError> {
    use super::ipam::subnet_of;
    let mut out: Vec<ipnet::IpNet> = nl
        .ipv4_routes()?
        .iter()
        .filter_map(|r| subnet_of(r.dst, r.prefix))
        .map(Into::into)
        .collect();
    out.extend(
        nl.ipv4_addresses()?
            .iter()
            .filter(|(_, a, _)| !a.is_loopback())
            .filter_map(|(_, a, p)| subnet_of(*a, *p))
            .map(ipnet::IpNet::from),
    );
    Ok(out)
}

/// Make the bridge (or check the user's) and give it its address; turn on
/// what routing through it needs. Idempotent. Returns its index and
/// whether it was made now.
pub fn ensure_bridge(nl: &mut Netlink, s: &Settings) -> Result<(u32, bool), BridgeError> {
    let (index, created) = match nl.link_info(&s.bridge)? {
        Some(info) if info.kind.as_deref() == Some("bridge") => (info.index, false),
        Some(_) => return Err(BridgeError::NotBridge(s.bridge.clone())),
        None if s.user_bridge => return Err(BridgeError::NoUserBridge(s.bridge.clone())),
        None => {
            let i = nl.create_bridge(&s.bridge, bridge_mac(s.gateway), s.mtu)?;
            nl.set_mtu(i, s.mtu)?;
            (i, true)
        }
    };
    nl.add_address(index, s.gateway, s.prefix)?;
    if let (Some(n), Some(gw)) = (s.subnet6, s.gateway6()) {
        let _ = sysctl(
            &format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", s.bridge),
            "0",
        );
        nl.add_address6(index, gw, n.prefix_len())?;
        if s.ip_forward {
            ipv6_forwarding()?;
        }
    }
    nl.set_up(index)?;
    if s.ip_forward {
        sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    }
    // route_localnet lets the kernel route 127/8 to and from an interface:
    // packets a container or a neighbour sends to 127.0.0.1 through the
    // bridge would reach the host's loopback services (CVE-2020-8558). rrun
    // never needs it (the forwarder serves the host's loopback clients), and
    // clears what an earlier rrun set on its own bridge; a user's -b bridge
    // gets back the value it had before.
    let restore = if s.user_bridge {
        s.route_localnet_was.as_deref()
    } else {
        Some("0")
    };
    if let Some(v) = restore {
        sysctl(
            &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", s.bridge),
            v,
        )?;
    }
    Ok((index, created))
}

/// What a user's -b bridge brings before rrun touches it.
pub struct UserBridge {
    /// Its first IPv4 address, which becomes the network's.
    pub address: Option<(Ipv4Addr, u8)>,
    pub route_localnet: String,
}

/// Look at the user's bridge `name`: None when there is no such link (the
/// run then fails in `ensure_bridge`, saying how to make one).
pub fn user_bridge_state(nl: &mut Netlink, name: &str) -> Result<Option<UserBridge>, BridgeError> {
    let Some(info) = nl.link_info(name)? else {
        return Ok(None);
    };
    if info.kind.as_deref() != Some("bridge") {
        return Err(BridgeError::NotBridge(name.to_string()));
    }
    let address = nl
        .ipv4_addresses()?
        .into_iter()
        .find(|(i, _, _)| *i == info.index)
        .map(|(_, a, p)| (a, p));
    let p = format!("/proc/sys/net/ipv4/conf/{name}/route_localnet");
    let route_localnet = fs::read_to_string(&p)
        .map(|v| v.trim().to_string())
        .map_err(|e| BridgeError::Sysctl(p, e))?;
    Ok(Some(UserBridge {
        address,
        route_localnet,
    }))
}

/// Remove rrun's own bridge. A user's -b bridge stays, given back as it
/// was: without the address rrun gave it, with its own route_localnet.
pub fn remove_bridge(nl: &mut Netlink, s: &Settings) -> Result<(), BridgeError> {
    if s.user_bridge {
        let Some(i) = nl.link_index(&s.bridge)? else {
            return Ok(());
        };
        if s.bridge_address_added {
            nl.delete_address(i, s.gateway, s.prefix)?;
        }
        if let Some(v) = &s.route_localnet_was {
            sysctl(
                &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", s.bridge),
                v,
            )?;
        }
        return Ok(());
    }
    if let Some(i) = nl.link_index(&s.bridge)? {
        nl.delete_link(i)?;
    }
    Ok(())
}

/// A container's end of the network, as attached.
pub struct Attached {
    pub veth: String,
    pub mac: [u8; 6],
    /// The container's network namespace, held by the monitor until its
    /// rules are gone: the kernel then tears the namespace down after
    /// rrun is done, not while it removes them (both wait on RCU).
    pub netns: OwnedFd,
}

/// The host end's name: rrun's prefix and part of the container id, so a
/// stale one can be traced to its container.
pub fn veth_name(id: &str) -> String {
    format!("{}{}", super::nft::VETH_PREFIX, &id[..12.min(id.len())])
}

/// Plug the container (whose process is `pid`) into the bridge.
pub fn attach(
    nl: &mut Netlink,
    s: &Settings,
    bridge_index: u32,
    pid: libc::pid_t,
    id: &str,
    ip: Ipv4Addr,
) -> Result<Attached, BridgeError> {
    let ns: OwnedFd = sys::open(Path::new(&format!("/proc/{pid}/ns/net")), libc::O_RDONLY)
        .map_err(BridgeError::Netns)?;
    plug(nl, s, bridge_index, ns, &veth_name(id), "eth0", ip, true)
}

/// The host end's name of a container's pair on a network it was
/// connected to: another prefix, part of the id, and a number of the
/// network's name (15 characters at most, as every interface name).
pub fn extra_veth_name(id: &str, network: &str) -> String {
    let h = network
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("rrx{}{:03x}", &id[..9.min(id.len())], h & 0xfff)
}

/// Plug the network namespace `ns` into the bridge: a veth pair (`veth`
/// here, `ifname` there) with `ip`; `default_route`: through the network's
/// gateway (the first network's, unless --internal).
#[allow(clippy::too_many_arguments)]
pub fn plug(
    nl: &mut Netlink,
    s: &Settings,
    bridge_index: u32,
    ns: OwnedFd,
    veth: &str,
    ifname: &str,
    ip: Ipv4Addr,
    default_route: bool,
) -> Result<Attached, BridgeError> {
    let veth = veth.to_string();
    let mac = container_mac(ip);
    let host = match nl.create_veth(&veth, ifname, ns.as_fd(), mac, s.mtu) {
        // The same container's veth from its last run, whose network
        // namespace the kernel is still taking down (a start right after
        // a stop): named by this container's id, it is nobody else's.
        Err(e) if e.errno() == Some(libc::EEXIST) => {
            if let Some(old) = nl.link_index(&veth)? {
                let _ = nl.delete_link(old);
            }
            nl.create_veth(&veth, ifname, ns.as_fd(), mac, s.mtu)?
        }
        r => r?,
    };
    let r = (|| -> Result<(), BridgeError> {
        nl.set_master(host, bridge_index)?;
        // Hairpin: a container may reach its own published port through
        // the host's address, which sends the packet back out its port.
        nl.set_hairpin(host, true)?;
        nl.set_up(host)?;
        let mut inner = Netlink::open_in(ns.as_fd())?;
        let eth0 = inner
            .link_index(ifname)?
            .ok_or_else(|| NetlinkError::Missing(ifname.into()))?;
        inner.add_address(eth0, ip, s.prefix)?;
        inner.set_up(eth0)?;
        // --internal: no way out, so no default route (as in Docker).
        if default_route && !s.internal {
            inner.add_default_route(s.gateway)?;
        }
        if let (Some(n), Some(ip6), Some(gw6)) = (s.subnet6, s.ip6_of(ip), s.gateway6()) {
            inner.add_address6(eth0, ip6, n.prefix_len())?;
            if default_route && !s.internal {
                inner.add_default_route6(gw6)?;
            }
        }
        // Bringing a pair up completes asynchronously (the port starts
        // forwarding, the bridge gets its carrier): traffic sent before
        // that is lost, and a first connection would wait a second for
        // a retried ARP. The container starts only once all three are
        // ready.
        let ready = std::time::Duration::from_secs(2);
        inner.wait_ready(eth0, ready)?;
        nl.wait_ready(host, ready)?;
        nl.wait_ready(bridge_index, ready)?;
        Ok(())
    })();
    if let Err(e) = r {
        let _ = nl.delete_link(host);
        return Err(e);
    }
    Ok(Attached {
        veth,
        mac,
        netns: ns,
    })
}
