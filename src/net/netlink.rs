//! Synchronous rtnetlink, just enough for Docker's classic bridge network:
//! a NETLINK_ROUTE socket per network namespace and typed requests for the
//! bridge, veth pairs (peer made directly in the container's namespace),
//! bridge-port hairpin mode, IPv4 addresses and routes, and moving links
//! between namespaces. Also `in_netns`, the one place that steps a thread
//! into another network namespace and back.
//!
//! No async runtime and no `ip` subprocess: each call sends one request and
//! reads its replies to the end (the ACK, or NLMSG_DONE for a dump), so a
//! socket never holds stale replies of a finished call.

use std::fmt;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{
    DefaultNla, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR,
    NLM_F_EXCL, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    NlasIterator,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    BridgePortState, InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo as NlLinkInfo, LinkMessage, LinkProtoInfoBridge,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::sched::{CloneFlags, setns};

/// IFLA_BRPORT_MODE inside IFLA_PROTINFO: the bridge port's hairpin flag.
const IFLA_BRPORT_MODE: u16 = 4;
/// NLMSGERR_ATTR_MSG: the kernel's text in an extended ACK.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// A dump datagram is at most 32 KiB on current kernels; twice that leaves
/// room, and a bigger one is reported rather than silently cut.
const RECV_BUF: usize = 64 * 1024;
/// A dump the kernel flags as interrupted (the table changed while it was
/// read) is taken again, this many times at most.
const DUMP_TRIES: usize = 5;

/// What went wrong inside one request.
#[derive(Debug)]
pub enum Cause {
    /// The kernel refused it: its errno, and the text of its extended ACK
    /// when it gave one ("Unknown device type", …).
    Kernel {
        errno: io::Error,
        detail: Option<String>,
    },
    /// Sending or receiving on the socket failed.
    Socket(io::Error),
    /// The kernel's reply could not be read.
    Decode(String),
}

impl Cause {
    fn kernel(code: i32, detail: Option<String>) -> Cause {
        Cause::Kernel {
            errno: io::Error::from_raw_os_error(code.saturating_abs()),
            detail,
        }
    }

    pub fn errno(&self) -> Option<i32> {
        match self {
            Cause::Kernel { errno, .. } | Cause::Socket(errno) => errno.raw_os_error(),
            Cause::Decode(_) => None,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Kernel {
                errno,
                detail: None,
            } => write!(f, "{}", crate::sys::errno_text(errno)),
            Cause::Kernel {
                errno,
                detail: Some(d),
            } => write!(f, "{} ({d})", crate::sys::errno_text(errno)),
            Cause::Socket(e) => write!(f, "netlink socket: {}", crate::sys::errno_text(e)),
            Cause::Decode(m) => write!(f, "malformed netlink reply: {m}"),
        }
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Cause::Kernel { errno, .. } | Cause::Socket(errno) => Some(errno),
            Cause::Decode(_) => None,
        }
    }
}

/// One variant per step that can fail; `errno()` gives the kernel's errno.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("opening a netlink socket: {}", crate::sys::errno_text(.0))]
    Open(#[source] io::Error),
    #[error("opening this thread's network namespace: {}", crate::sys::errno_text(.0))]
    OwnNetns(#[source] io::Error),
    #[error("entering a network namespace: {}", crate::sys::errno_text(.0))]
    EnterNetns(#[source] io::Error),
    #[error(
        "returning to the original network namespace failed, this thread is left in another one: {}",
        crate::sys::errno_text(.0)
    )]
    LeaveNetns(#[source] io::Error),
    #[error("{0:?} is not a valid interface name")]
    BadName(String),
    #[error("interface {0} not found")]
    Missing(String),
    #[error("interface #{index} is not ready to carry traffic after {waited:?}: {missing}")]
    #[allow(dead_code, reason = "until bridge::attach waits with it")]
    NotReady {
        index: u32,
        waited: Duration,
        missing: &'static str,
    },
    #[error("looking up interface {name}: {source}")]
    GetLink { name: String, source: Cause },
    #[error("creating bridge {name}: {source}")]
    CreateBridge { name: String, source: Cause },
    #[error("creating veth pair {host} / {peer}: {source}")]
    CreateVeth {
        host: String,
        peer: String,
        source: Cause,
    },
    #[error("attaching interface #{index} to #{master}: {source}")]
    SetMaster {
        index: u32,
        master: u32,
        source: Cause,
    },
    #[error("bringing interface #{index} up: {source}")]
    SetUp { index: u32, source: Cause },
    #[error("setting hairpin mode on bridge port #{index}: {source}")]
    SetHairpin { index: u32, source: Cause },
    #[error("adding address {addr}/{prefix} to interface #{index}: {source}")]
    AddAddress {
        index: u32,
        addr: Ipv4Addr,
        prefix: u8,
        source: Cause,
    },
    #[error("removing address {addr}/{prefix} from interface #{index}: {source}")]
    DeleteAddress {
        index: u32,
        addr: Ipv4Addr,
        prefix: u8,
        source: Cause,
    },
    #[error("adding the default route via {gateway}: {source}")]
    AddDefaultRoute { gateway: Ipv4Addr, source: Cause },
    #[error("adding address {addr}/{prefix} to interface #{index}: {source}")]
    AddAddress6 {
        index: u32,
        addr: std::net::Ipv6Addr,
        prefix: u8,
        source: Cause,
    },
    #[error("adding the IPv6 default route via {gateway}: {source}")]
    AddDefaultRoute6 {
        gateway: std::net::Ipv6Addr,
        source: Cause,
    },
    #[allow(dead_code, reason = "for the point-to-point recipe and rootless")]
    #[error("adding route {dst}/{prefix} on interface #{index}: {source}")]
    AddRoute {
        dst: Ipv4Addr,
        prefix: u8,
        index: u32,
        source: Cause,
    },
    #[error("deleting interface #{index}: {source}")]
    DeleteLink { index: u32, source: Cause },
    #[allow(dead_code, reason = "for the point-to-point recipe and rootless")]
    #[error("moving interface #{index} to another network namespace: {source}")]
    MoveLink { index: u32, source: Cause },
    #[error("adding the policy routing rule for fwmark {mark:#x}: {source}")]
    AddRule { mark: u32, source: Cause },
    #[error("deleting the policy routing rule for fwmark {mark:#x}: {source}")]
    DeleteRule { mark: u32, source: Cause },
    #[error("adding `local default dev lo` to routing table {table}: {source}")]
    AddLocalRoute { table: u32, source: Cause },
    #[error("deleting `local default dev lo` from routing table {table}: {source}")]
    DeleteLocalRoute { table: u32, source: Cause },
    #[error("setting the MTU of interface #{index}: {source}")]
    SetMtu { index: u32, source: Cause },
    #[error("listing IPv4 addresses: {source}")]
    ListAddresses { source: Cause },
    #[error("listing IPv4 routes: {source}")]
    ListRoutes { source: Cause },
}

impl NetlinkError {
    /// The errno behind the error, when there is one.
    #[allow(dead_code, reason = "the tests use it; callers may")]
    pub fn errno(&self) -> Option<i32> {
        use NetlinkError::*;
        match self {
            Open(e) | OwnNetns(e) | EnterNetns(e) | LeaveNetns(e) => e.raw_os_error(),
            BadName(_) | Missing(_) | NotReady { .. } => None,
            GetLink { source, .. }
            | CreateBridge { source, .. }
            | CreateVeth { source, .. }
            | SetMaster { source, .. }
            | SetUp { source, .. }
            | SetHairpin { source, .. }
            | AddAddress { source, .. }
            | DeleteAddress { source, .. }
            | AddDefaultRoute { source, .. }
            | AddAddress6 { source, .. }
            | AddDefaultRoute6 { source, .. }
            | AddRoute { source, .. }
            | DeleteLink { source, .. }
            | MoveLink { source, .. }
            | AddRule { source, .. }
            | DeleteRule { source, .. }
            | AddLocalRoute { source, .. }
            | DeleteLocalRoute { source, .. }
            | SetMtu { source, .. }
            | ListAddresses { source }
            | ListRoutes { source } => source.errno(),
        }
    }
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// IFLA_INFO_KIND ("bridge", "veth", …); None for physical devices and lo.
    pub kind: Option<String>,
    pub mtu: u32,
    pub mac: Option<[u8; 6]>,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// The bridge (or other master) it is attached to.
    pub master: Option<u32>,
    /// Hairpin mode, when it is a bridge port.
    pub hairpin: Option<bool>,
}

/// An IPv4 route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Addr,
    pub prefix: u8,
    /// Outgoing interface (the first next hop's, for a multipath route);
    /// 0 when the route has none (blackhole, unreachable).
    pub oif: u32,
    pub gateway: Option<Ipv4Addr>,
}

/// A NETLINK_ROUTE socket. It acts in the network namespace it was opened
/// in, whatever namespace the thread is in later.
pub struct Netlink {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink, NetlinkError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Open)?;
        sock.bind_auto().map_err(NetlinkError::Open)?;
        // Both are only for better errors (the kernel's text, without the
        // echoed request); a kernel without them still works.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        Ok(Netlink {
            sock,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// A socket inside the network namespace `ns` (an fd of
    /// /proc/PID/ns/net): the thread steps into `ns` only for socket(2) and
    /// back at once (see `in_netns`); the socket keeps working in `ns`.
    pub fn open_in(ns: BorrowedFd<'_>) -> Result<Netlink, NetlinkError> {
        in_netns(ns, Netlink::open)?
    }

    /// The index of the link `name`, or None when there is no such link.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>, NetlinkError> {
        Ok(self.link_info(name)?.map(|l| l.index))
    }

    pub fn link_info(&mut self, name: &str) -> Result<Option<LinkInfo>, NetlinkError> {
        check_name(name)?;
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.get_link(m)
            .map(|l| l.map(link_info_of))
            .map_err(|source| NetlinkError::GetLink {
                name: name.to_string(),
                source,
            })
    }

    /// Wait until the link can carry traffic, polling up to `timeout`: up,
    /// carrier on, its queue attached and, for a bridge port, forwarding.
    /// When a veth's carrier comes on the kernel finishes the rest
    /// asynchronously (linkwatch: the port starts forwarding, the bridge
    /// gets its carrier, queues replace noop_qdisc), and what is sent before
    /// is dropped: measured here, about half of the connections made right
    /// after eth0 came up lost their first SYN's ARP and took a second. Call
    /// it for the container's eth0, the host end and the bridge after
    /// bringing the pair up; the bridge's wait was the one that mattered.
    pub fn wait_ready(&mut self, index: u32, timeout: Duration) -> Result<(), NetlinkError> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(50);
        loop {
            let l = self
                .get_link(link_message(index))
                .map_err(|source| NetlinkError::GetLink {
                    name: format!("#{index}"),
                    source,
                })?
                .ok_or_else(|| NetlinkError::Missing(format!("#{index}")))?;
            let missing = match unready(&l) {
                None => return Ok(()),
                Some(m) => m,
            };
            if start.elapsed() >= timeout {
                return Err(NetlinkError::NotReady {
                    index,
                    waited: start.elapsed(),
                    missing,
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// RTM_GETLINK by index or IFLA_IFNAME; None when there is no such link.
    fn get_link(&mut self, m: LinkMessage) -> Result<Option<LinkMessage>, Cause> {
        match self.request(RouteNetlinkMessage::GetLink(m), 0) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Make a bridge with a fixed MAC: a bridge given its address at
    /// creation keeps it, instead of taking the lowest MAC of its ports,
    /// which would change the gateway's MAC as containers come and go.
    pub fn create_bridge(
        &mut self,
        name: &str,
        mac: [u8; 6],
        mtu: u32,
    ) -> Result<u32, NetlinkError> {
        check_name(name)?;
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        m.attributes.push(LinkAttribute::Mtu(mtu));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![NlLinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
            .map_err(|source| NetlinkError::CreateBridge {
                name: name.to_string(),
                source,
            })?;
        self.link_index(name)?
            .ok_or_else(|| NetlinkError::Missing(name.to_string()))
    }

    /// A veth pair: `host` here, its peer created directly in `peer_ns`
    /// as `peer_name` with `peer_mac` (so it never appears, even for a
    /// moment, in this namespace, where its name could clash); both ends
    /// with `mtu`. Returns the host end's index.
    pub fn create_veth(
        &mut self,
        host: &str,
        peer_name: &str,
        peer_ns: BorrowedFd<'_>,
        peer_mac: [u8; 6],
        mtu: u32,
    ) -> Result<u32, NetlinkError> {
        check_name(host)?;
        check_name(peer_name)?;
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(peer_name.to_string()));
        peer.attributes
            .push(LinkAttribute::Address(peer_mac.to_vec()));
        peer.attributes.push(LinkAttribute::Mtu(mtu));
        peer.attributes
            .push(LinkAttribute::NetNsFd(peer_ns.as_raw_fd()));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(host.to_string()));
        m.attributes.push(LinkAttribute::Mtu(mtu));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            NlLinkInfo::Kind(InfoKind::Veth),
            NlLinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
            .map_err(|source| NetlinkError::CreateVeth {
                host: host.to_string(),
                peer: peer_name.to_string(),
                source,
            })?;
        self.link_index(host)?
            .ok_or_else(|| NetlinkError::Missing(host.to_string()))
    }

    pub fn set_master(&mut self, index: u32, master: u32) -> Result<(), NetlinkError> {
        let mut m = link_message(index);
        m.attributes.push(LinkAttribute::Controller(master));
        self.request(RouteNetlinkMessage::SetLink(m), 0)
            .map(drop)
            .map_err(|source| NetlinkError::SetMaster {
                index,
                master,
                source,
            })
    }

    /// Set an interface's MTU. A bridge's MTU given at creation is not
    /// "set by the user" to the kernel, which resets it to 1500 when its
    /// last port leaves; one set afterwards stays.
    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<(), NetlinkError> {
        let mut m = link_message(index);
        m.attributes.push(LinkAttribute::Mtu(mtu));
        self.request(RouteNetlinkMessage::SetLink(m), 0)
            .map(drop)
            .map_err(|source| NetlinkError::SetMtu { index, source })
    }

    pub fn set_up(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut m = link_message(index);
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(m), 0)
            .map(drop)
            .map_err(|source| NetlinkError::SetUp { index, source })
    }

    /// Hairpin mode lets a bridge send a frame back out of the port it came
    /// in by, which a container reaching its own published port through a
    /// host address needs. The link must already be a bridge port (the
    /// kernel answers EOPNOTSUPP otherwise): AF_BRIDGE requests go to the
    /// port's master.
    pub fn set_hairpin(&mut self, index: u32, on: bool) -> Result<(), NetlinkError> {
        let mut m = link_message(index);
        m.header.interface_family = AddressFamily::Bridge;
        // Sent nested (the crate sets NLA_F_NESTED): a flat IFLA_PROTINFO
        // is read by the kernel as the old single-byte port state.
        m.attributes.push(LinkAttribute::ProtoInfoBridge(vec![
            LinkProtoInfoBridge::Other(DefaultNla::new(IFLA_BRPORT_MODE, vec![u8::from(on)])),
        ]));
        self.request(RouteNetlinkMessage::SetLink(m), 0)
            .map(drop)
            .map_err(|source| NetlinkError::SetHairpin { index, source })
    }

    /// Add `addr/prefix` (with its broadcast address, as Docker does). An
    /// address that is already there is fine, so that this is idempotent.
    pub fn add_address(
        &mut self,
        index: u32,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let mut m = address_message(index, addr, prefix);
        m.attributes
            .push(AddressAttribute::Address(IpAddr::V4(addr)));
        if prefix <= 30 {
            let host_bits = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
            m.attributes
                .push(AddressAttribute::Broadcast(Ipv4Addr::from(
                    u32::from(addr) | host_bits,
                )));
        }
        self.request_idempotent(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &[libc::EEXIST],
        )
        .map_err(|source| NetlinkError::AddAddress {
            index,
            addr,
            prefix,
            source,
        })
    }

    /// Remove `addr/prefix` from link `index`; one already gone is fine.
    pub fn delete_address(
        &mut self,
        index: u32,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let m = address_message(index, addr, prefix);
        self.request_idempotent(
            RouteNetlinkMessage::DelAddress(m),
            0,
            &[libc::EADDRNOTAVAIL],
        )
        .map_err(|source| NetlinkError::DeleteAddress {
            index,
            addr,
            prefix,
            source,
        })
    }

    /// Add `addr/prefix` (IPv6) to link `index`, usable at once: without
    /// duplicate address detection (IFA_F_NODAD), which would hold it
    /// tentative, unusable, for a second or more. An address already there
    /// is fine.
    pub fn add_address6(
        &mut self,
        index: u32,
        addr: std::net::Ipv6Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes
            .push(AddressAttribute::Address(IpAddr::V6(addr)));
        m.attributes.push(AddressAttribute::Flags(
            netlink_packet_route::address::AddressFlags::Nodad,
        ));
        self.request_idempotent(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &[libc::EEXIST],
        )
        .map_err(|source| NetlinkError::AddAddress6 {
            index,
            addr,
            prefix,
            source,
        })
    }

    /// The IPv6 default route via `gateway`.
    pub fn add_default_route6(&mut self, gateway: std::net::Ipv6Addr) -> Result<(), NetlinkError> {
        let mut m = route_message(0, RouteScope::Universe);
        m.header.address_family = AddressFamily::Inet6;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet6(gateway)));
        self.request(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(|source| NetlinkError::AddDefaultRoute6 { gateway, source })
    }

    /// The default route via `gateway`. An existing default route is an
    /// error (EEXIST), since it may point elsewhere.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), NetlinkError> {
        let mut m = route_message(0, RouteScope::Universe);
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(|source| NetlinkError::AddDefaultRoute { gateway, source })
    }

    /// `dst/prefix dev index scope link`: a directly reachable destination,
    /// as in the point-to-point recipe's /32 routes. `dst` must have no bits
    /// set past `prefix` (the kernel answers EINVAL).
    #[allow(dead_code, reason = "for the point-to-point recipe and rootless")]
    pub fn add_route(&mut self, dst: Ipv4Addr, prefix: u8, index: u32) -> Result<(), NetlinkError> {
        let mut m = route_message(prefix, RouteScope::Link);
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        m.attributes.push(RouteAttribute::Oif(index));
        self.request(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(|source| NetlinkError::AddRoute {
                dst,
                prefix,
                index,
                source,
            })
    }

    /// `ip rule add fwmark MARK lookup TABLE pref PRIORITY` (IPv4); an
    /// existing identical rule is fine.
    pub fn add_fwmark_rule(
        &mut self,
        mark: u32,
        table: u32,
        priority: u32,
    ) -> Result<(), NetlinkError> {
        let m = fwmark_rule(mark, table, priority);
        self.request_idempotent(
            RouteNetlinkMessage::NewRule(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &[libc::EEXIST],
        )
        .map_err(|source| NetlinkError::AddRule { mark, source })
    }

    /// Remove that rule; one already gone is fine.
    pub fn delete_fwmark_rule(
        &mut self,
        mark: u32,
        table: u32,
        priority: u32,
    ) -> Result<(), NetlinkError> {
        let m = fwmark_rule(mark, table, priority);
        self.request_idempotent(RouteNetlinkMessage::DelRule(m), 0, &[libc::ENOENT])
            .map_err(|source| NetlinkError::DeleteRule { mark, source })
    }

    /// `ip route add local default dev lo table TABLE`: everything looked
    /// up in TABLE is delivered to this host's own sockets.
    pub fn add_local_default(&mut self, table: u32) -> Result<(), NetlinkError> {
        let m = self.local_default_route(table)?;
        self.request_idempotent(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &[libc::EEXIST],
        )
        .map_err(|source| NetlinkError::AddLocalRoute { table, source })
    }

    /// Remove what [`Self::add_local_default`] added; gone already is fine.
    pub fn delete_local_default(&mut self, table: u32) -> Result<(), NetlinkError> {
        let m = self.local_default_route(table)?;
        self.request_idempotent(
            RouteNetlinkMessage::DelRoute(m),
            0,
            &[libc::ESRCH, libc::ENOENT],
        )
        .map_err(|source| NetlinkError::DeleteLocalRoute { table, source })
    }

    /// The `local default dev lo table TABLE` route.
    fn local_default_route(&mut self, table: u32) -> Result<RouteMessage, NetlinkError> {
        let lo = self
            .link_index("lo")?
            .ok_or_else(|| NetlinkError::Missing("lo".into()))?;
        let mut m = route_message(0, RouteScope::Host);
        m.header.kind = RouteType::Local;
        m.header.table = RouteHeader::RT_TABLE_UNSPEC;
        m.attributes.push(RouteAttribute::Table(table));
        m.attributes.push(RouteAttribute::Oif(lo));
        Ok(m)
    }

    /// Delete a link (a veth takes its peer along). A link that is already
    /// gone is fine.
    pub fn delete_link(&mut self, index: u32) -> Result<(), NetlinkError> {
        self.request_idempotent(
            RouteNetlinkMessage::DelLink(link_message(index)),
            0,
            &[libc::ENODEV],
        )
        .map_err(|source| NetlinkError::DeleteLink { index, source })
    }

    /// Every IPv4 address of this namespace: (link index, address, prefix).
    pub fn ipv4_addresses(&mut self) -> Result<Vec<(u32, Ipv4Addr, u8)>, NetlinkError> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        let replies = self
            .dump(RouteNetlinkMessage::GetAddress(m))
            .map_err(|source| NetlinkError::ListAddresses { source })?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewAddress(a) if a.header.family == AddressFamily::Inet => {
                    address_of(&a).map(|ip| (a.header.index, ip, a.header.prefix_len))
                }
                _ => None,
            })
            .collect())
    }

    /// The main table's IPv4 routes (not the local table's host routes).
    pub fn ipv4_routes(&mut self) -> Result<Vec<Route>, NetlinkError> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        let replies = self
            .dump(RouteNetlinkMessage::GetRoute(m))
            .map_err(|source| NetlinkError::ListRoutes { source })?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewRoute(r) => main_route_of(&r),
                _ => None,
            })
            .collect())
    }

    /// Move a link into the network namespace `ns`, renamed to `new_name`
    /// if given (the rename happens as it arrives, so it cannot clash with
    /// a name taken there). Its addresses and routes stay behind.
    #[allow(dead_code, reason = "for the point-to-point recipe and rootless")]
    pub fn move_link_to_ns(
        &mut self,
        index: u32,
        ns: BorrowedFd<'_>,
        new_name: Option<&str>,
    ) -> Result<(), NetlinkError> {
        let mut m = link_message(index);
        m.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        if let Some(n) = new_name {
            check_name(n)?;
            m.attributes.push(LinkAttribute::IfName(n.to_string()));
        }
        self.request(RouteNetlinkMessage::SetLink(m), 0)
            .map(drop)
            .map_err(|source| NetlinkError::MoveLink { index, source })
    }

    /// A dump, taken again while the kernel flags it inconsistent.
    fn dump(&mut self, msg: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>, Cause> {
        for _ in 0..DUMP_TRIES {
            let seq = self.send(msg.clone(), NLM_F_DUMP)?;
            let (replies, interrupted) = self.replies(seq)?;
            if !interrupted {
                return Ok(replies);
            }
        }
        Err(Cause::Kernel {
            errno: io::Error::from_raw_os_error(libc::EINTR),
            detail: Some("the table kept changing while it was read".into()),
        })
    }

    /// [`Self::request`] for a change where the errnos `already` mean it
    /// is made (or undone) already, which is as good.
    fn request_idempotent(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        already: &[i32],
    ) -> Result<(), Cause> {
        match self.request(msg, flags) {
            Err(e) if !e.errno().is_some_and(|n| already.contains(&n)) => Err(e),
            _ => Ok(()),
        }
    }

    /// A request that the kernel acknowledges; returns what it sent before
    /// the ACK (a GET's answer).
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, Cause> {
        let seq = self.send(msg, flags | NLM_F_ACK)?;
        self.replies(seq).map(|(r, _)| r)
    }

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<u32, Cause> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        m.finalize();
        let mut out = vec![0; m.buffer_len()];
        m.serialize(&mut out);
        let kernel = SocketAddr::new(0, 0);
        loop {
            // A netlink datagram goes whole or not at all.
            match self.sock.send_to(&out, &kernel, 0) {
                Ok(_) => return Ok(self.seq),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Cause::Socket(e)),
            }
        }
    }

    /// Read the replies to request `seq` up to its end: the ACK or error,
    /// or for a dump NLMSG_DONE. Messages of other sequence numbers (left
    /// by a call that failed halfway) and from anyone but the kernel are
    /// skipped. Also says whether a dump was flagged inconsistent.
    fn replies(&mut self, seq: u32) -> Result<(Vec<RouteNetlinkMessage>, bool), Cause> {
        let mut out = Vec::new();
        let mut interrupted = false;
        loop {
            self.buf.clear();
            let (n, from) = loop {
                // MSG_TRUNC makes recv report the datagram's real length,
                // so one too big for the buffer is caught.
                match self.sock.recv_from(&mut self.buf, libc::MSG_TRUNC) {
                    Ok(r) => break r,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Cause::Socket(e)),
                }
            };
            if n > self.buf.len() {
                return Err(Cause::Decode(format!(
                    "a {n}-byte datagram does not fit the {}-byte buffer",
                    self.buf.len()
                )));
            }
            if from.port_number() != 0 {
                continue;
            }
            let mut off = 0;
            while off < n {
                let rest = &self.buf[off..n];
                let nb =
                    NetlinkBuffer::new_checked(rest).map_err(|e| Cause::Decode(e.to_string()))?;
                let len = nb.length() as usize;
                let next = off + len.next_multiple_of(4);
                if nb.sequence_number() != seq {
                    off = next;
                    continue;
                }
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..len])
                    .map_err(|e| Cause::Decode(e.to_string()))?;
                let flags = msg.header.flags;
                if flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match msg.payload {
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok((out, interrupted)),
                            Some(code) => {
                                Err(Cause::kernel(code.get(), error_detail(flags, &e.header)))
                            }
                        };
                    }
                    NetlinkPayload::Done(d) => {
                        return if d.code == 0 {
                            Ok((out, interrupted))
                        } else {
                            let detail = (flags & NLM_F_ACK_TLVS != 0)
                                .then(|| ack_text(&d.extended_ack))
                                .flatten();
                            Err(Cause::kernel(d.code, detail))
                        };
                    }
                    NetlinkPayload::Overrun(_) => {
                        return Err(Cause::Decode("the kernel reported an overrun".into()));
                    }
                    _ => {}
                }
                off = next;
            }
        }
    }
}

/// An IPv4 address message for link `index`: `addr/prefix` as its local
/// address (what adding and deleting both name).
fn address_message(index: u32, addr: Ipv4Addr, prefix: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.prefix_len = prefix;
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(IpAddr::V4(addr)));
    m
}

/// Switch the calling thread into the network namespace `ns`, run `f`, and
/// switch back (to the namespace remembered from /proc/thread-self before
/// leaving, so it works from any namespace). Sockets `f` makes stay in
/// `ns` for good.
///
/// Use it only while the process is single-threaded (or on a thread that
/// nothing else relies on): setns moves just this thread, so work `f` hands
/// to another thread happens in the old namespace, and if the way back fails
/// (`LeaveNetns`) the thread stays in `ns`, which a multi-threaded process
/// cannot repair by ending the thread.
pub fn in_netns<T>(ns: BorrowedFd<'_>, f: impl FnOnce() -> T) -> Result<T, NetlinkError> {
    let home = File::open("/proc/thread-self/ns/net").map_err(NetlinkError::OwnNetns)?;
    setns(ns, CloneFlags::CLONE_NEWNET).map_err(|e| NetlinkError::EnterNetns(e.into()))?;
    let back = GoBack(Some(home));
    let out = f();
    back.now()?;
    Ok(out)
}

/// Returns the thread to its namespace also when `f` unwinds, so a panic
/// in a test does not leave the thread behind.
struct GoBack(Option<File>);

impl GoBack {
    fn now(mut self) -> Result<(), NetlinkError> {
        match self.0.take() {
            Some(home) => setns(home.as_fd(), CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetlinkError::LeaveNetns(e.into())),
            None => Ok(()),
        }
    }
}

impl Drop for GoBack {
    fn drop(&mut self) {
        if let Some(home) = self.0.take() {
            let _ = setns(home.as_fd(), CloneFlags::CLONE_NEWNET);
        }
    }
}

/// The kernel's rules (dev_valid_name), checked here so that a bad name is
/// reported as such rather than as the kernel's EINVAL.
fn check_name(name: &str) -> Result<(), NetlinkError> {
    let ok = !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace());
    if ok {
        Ok(())
    } else {
        Err(NetlinkError::BadName(name.to_string()))
    }
}

fn link_message(index: u32) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m
}

fn fwmark_rule(mark: u32, table: u32, priority: u32) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.action = RuleAction::ToTable;
    // The table number goes in FRA_TABLE (the header's is 8 bits).
    m.attributes.push(RuleAttribute::Table(table));
    m.attributes.push(RuleAttribute::FwMark(mark));
    m.attributes.push(RuleAttribute::FwMask(u32::MAX));
    m.attributes.push(RuleAttribute::Priority(priority));
    m
}

fn route_message(prefix: u8, scope: RouteScope) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet;
    m.header.destination_prefix_length = prefix;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    // RTPROT_BOOT, as `ip route add` marks routes an administrator made.
    m.header.protocol = RouteProtocol::Boot;
    m.header.scope = scope;
    m.header.kind = RouteType::Unicast;
    m
}

fn link_info_of(l: LinkMessage) -> LinkInfo {
    let mut info = LinkInfo {
        index: l.header.index,
        name: String::new(),
        kind: None,
        mtu: 0,
        mac: None,
        up: l.header.flags.contains(LinkFlags::Up),
        master: None,
        hairpin: None,
    };
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => info.name = n,
            LinkAttribute::Mtu(m) => info.mtu = m,
            LinkAttribute::Address(a) => info.mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
            LinkAttribute::Controller(m) => info.master = Some(m),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        NlLinkInfo::Kind(k) => info.kind = Some(k.to_string()),
                        NlLinkInfo::PortData(InfoPortData::BridgePort(p)) => {
                            info.hairpin = p.iter().find_map(|x| match x {
                                InfoBridgePort::HairpinMode(h) => Some(*h),
                                _ => None,
                            });
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    info
}

/// What keeps the link from carrying traffic yet, if anything.
#[allow(dead_code, reason = "until bridge::attach waits with it")]
fn unready(l: &LinkMessage) -> Option<&'static str> {
    if !l.header.flags.contains(LinkFlags::Up) {
        return Some("it is down");
    }
    let mut carrier = false;
    let mut queue = true;
    let mut forwarding = true;
    for a in &l.attributes {
        match a {
            LinkAttribute::Carrier(c) => carrier = *c != 0,
            // noop_qdisc is what a device has until linkwatch attaches its
            // real queue ("noqueue" for veth and bridge); it drops everything.
            LinkAttribute::Qdisc(q) => queue = q != "noop",
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let NlLinkInfo::PortData(InfoPortData::BridgePort(p)) = i {
                        forwarding = !p.iter().any(|x| {
                            matches!(x, InfoBridgePort::State(s) if *s != BridgePortState::Forwarding)
                        });
                    }
                }
            }
            _ => {}
        }
    }
    if !carrier {
        Some("no carrier")
    } else if !queue {
        Some("its queue is not attached yet")
    } else if !forwarding {
        Some("the bridge port is not forwarding yet")
    } else {
        None
    }
}

fn address_of(a: &AddressMessage) -> Option<Ipv4Addr> {
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS differs from it
    // only on point-to-point links (where it is the peer's).
    let pick = |local: bool| {
        a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Local(IpAddr::V4(ip)) if local => Some(*ip),
            AddressAttribute::Address(IpAddr::V4(ip)) if !local => Some(*ip),
            _ => None,
        })
    };
    pick(true).or_else(|| pick(false))
}

fn main_route_of(r: &RouteMessage) -> Option<Route> {
    if r.header.address_family != AddressFamily::Inet {
        return None;
    }
    // Table ids past 255 only fit in RTA_TABLE; the header then says 252.
    let table = r
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(r.header.table));
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return None;
    }
    let mut route = Route {
        dst: Ipv4Addr::UNSPECIFIED,
        prefix: r.header.destination_prefix_length,
        oif: 0,
        gateway: None,
    };
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => route.dst = *d,
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => route.gateway = Some(*g),
            RouteAttribute::Oif(i) => route.oif = *i,
            RouteAttribute::MultiPath(hops) if route.oif == 0 => {
                if let Some(h) = hops.first() {
                    route.oif = h.interface_index;
                    route.gateway = route.gateway.or_else(|| {
                        h.attributes.iter().find_map(|a| match a {
                            RouteAttribute::Gateway(RouteAddress::Inet(g)) => Some(*g),
                            _ => None,
                        })
                    });
                }
            }
            _ => {}
        }
    }
    Some(route)
}

/// The kernel's text in an NLMSG_ERROR's extended ACK. The TLVs follow the
/// echoed request: its header alone when the kernel capped the echo
/// (NETLINK_CAP_ACK), else the whole request, whose length its header gives.
fn error_detail(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    const NLMSG_HDRLEN: usize = 16;
    let echoed = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        let len = payload.get(..4)?;
        u32::from_ne_bytes(len.try_into().ok()?) as usize
    };
    ack_text(payload.get(echoed.next_multiple_of(4)..)?)
}

fn ack_text(tlvs: &[u8]) -> Option<String> {
    NlasIterator::new(tlvs)
        .map_while(Result::ok)
        .find_map(|nla| {
            (nla.kind() == NLMSGERR_ATTR_MSG).then(|| {
                let v = nla.value();
                let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
                String::from_utf8_lossy(&v[..end]).trim().to_string()
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{SocketAddr as InetAddr, TcpListener, TcpStream};
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::MetadataExt;
    use std::process::Command;
    use std::time::Duration;

    const CHILD_VAR: &str = "RRUN_NETLINK_TEST_CHILD";

    /// Runs `body` in a child process (this test binary again, filtered to
    /// the one test) that first unshares a network namespace of its own:
    /// the test runner's own namespaces are never touched, and whatever the
    /// body makes dies with the child's namespaces.
    fn in_child(name: &str, body: fn()) {
        if std::env::var(CHILD_VAR).as_deref() == Ok(name) {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            body();
            return;
        }
        if !nix::unistd::geteuid().is_root() {
            crate::net::test_skip::needs_root("it makes network namespaces");
            return;
        }
        let module = module_path!();
        let module = module.split_once("::").map_or(module, |(_, rest)| rest);
        let out = Command::new(std::env::current_exe().expect("test binary path"))
            .args([
                &format!("{module}::{name}"),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_VAR, name)
            .output()
            .expect("running the test binary again");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child for {name} failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
    }

    fn thread_ns() -> File {
        File::open("/proc/thread-self/ns/net").expect("own netns")
    }

    /// A new network namespace, held by the fd alone; the thread stays where
    /// it was.
    fn new_netns() -> OwnedFd {
        let home = thread_ns();
        nix::sched::unshare(CloneFlags::CLONE_NEWNET).expect("unshare");
        let ns = thread_ns();
        setns(home.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns back");
        ns.into()
    }

    fn ino(f: &File) -> u64 {
        f.metadata().expect("stat netns").ino()
    }

    const BR_MAC: [u8; 6] = [0x02, 0x42, 10, 99, 0, 1];
    const PEER_MAC: [u8; 6] = [0x02, 0x42, 10, 99, 0, 2];
    const GW: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
    const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

    /// Connect from the namespace `from` to `listener` (in this thread's
    /// namespace) and pass a few bytes each way; returns the client address
    /// the listener saw.
    fn talk(from: BorrowedFd<'_>, listener: &TcpListener) -> InetAddr {
        let to = listener.local_addr().expect("listener address");
        let start = std::time::Instant::now();
        let mut client = in_netns(from, || {
            TcpStream::connect_timeout(&to, Duration::from_secs(3))
        })
        .expect("in_netns")
        .expect("connect across the namespaces");
        // A lost SYN is sent again only after a second.
        assert!(
            start.elapsed() < Duration::from_millis(900),
            "connecting took {:?}: the first SYN was lost",
            start.elapsed()
        );
        let (mut server, seen) = listener.accept().expect("accept");
        client.write_all(b"ping").expect("client write");
        let mut got = [0; 4];
        server.read_exact(&mut got).expect("server read");
        assert_eq!(&got, b"ping");
        server.write_all(b"pong").expect("server write");
        client.read_exact(&mut got).expect("client read");
        assert_eq!(&got, b"pong");
        seen
    }

    #[test]
    fn bridge_veth_and_connectivity() {
        in_child("bridge_veth_and_connectivity", || {
            let mut nl = Netlink::open().expect("open");

            let br = nl
                .create_bridge("rrtest0", BR_MAC, 1400)
                .expect("create bridge");
            let info = nl
                .link_info("rrtest0")
                .expect("link_info")
                .expect("bridge exists");
            assert_eq!(info.index, br);
            assert_eq!(info.kind.as_deref(), Some("bridge"));
            assert_eq!(info.mac, Some(BR_MAC));
            assert_eq!(info.mtu, 1400);
            assert!(!info.up);
            let again = nl
                .create_bridge("rrtest0", BR_MAC, 1400)
                .expect_err("made twice");
            assert_eq!(again.errno(), Some(libc::EEXIST), "{again}");

            nl.add_address(br, GW, 24).expect("add address");
            nl.add_address(br, GW, 24).expect("adding it again is fine");
            nl.set_up(br).expect("bridge up");
            assert!(nl.link_info("rrtest0").unwrap().unwrap().up);
            assert!(
                nl.ipv4_addresses()
                    .expect("addresses")
                    .contains(&(br, GW, 24))
            );

            let peer_ns = new_netns();
            let host = nl
                .create_veth("rrtestv0", "eth0", peer_ns.as_fd(), PEER_MAC, 1400)
                .expect("create veth");
            let hinfo = nl.link_info("rrtestv0").unwrap().expect("host end");
            assert_eq!(
                (hinfo.index, hinfo.kind.as_deref(), hinfo.mtu),
                (host, Some("veth"), 1400)
            );
            assert_eq!(
                nl.link_index("eth0").unwrap(),
                None,
                "the peer must not land here"
            );

            nl.set_master(host, br).expect("set master");
            nl.set_hairpin(host, true).expect("hairpin on");
            nl.set_up(host).expect("veth up");
            let hinfo = nl.link_info("rrtestv0").unwrap().unwrap();
            assert_eq!(
                (hinfo.master, hinfo.hairpin, hinfo.up),
                (Some(br), Some(true), true)
            );
            nl.set_hairpin(host, false).expect("hairpin off");
            assert_eq!(
                nl.link_info("rrtestv0").unwrap().unwrap().hairpin,
                Some(false)
            );
            nl.set_hairpin(host, true).expect("hairpin on again");

            let mut inner = Netlink::open_in(peer_ns.as_fd()).expect("open_in");
            let eth0 = inner
                .link_info("eth0")
                .unwrap()
                .expect("eth0 in the peer netns");
            assert_eq!(
                (eth0.mac, eth0.mtu, eth0.kind.as_deref()),
                (Some(PEER_MAC), 1400, Some("veth"))
            );
            inner
                .add_address(eth0.index, PEER_IP, 24)
                .expect("peer address");
            inner.set_up(eth0.index).expect("eth0 up");
            inner.add_default_route(GW).expect("default route");
            let dup = inner
                .add_default_route(GW)
                .expect_err("a second default route");
            assert_eq!(dup.errno(), Some(libc::EEXIST), "{dup}");
            inner
                .add_route(Ipv4Addr::new(10, 98, 0, 0), 16, eth0.index)
                .expect("link route");
            let routes = inner.ipv4_routes().expect("routes");
            let want = |dst, prefix, gateway| Route {
                dst,
                prefix,
                oif: eth0.index,
                gateway,
            };
            assert!(
                routes.contains(&want(Ipv4Addr::UNSPECIFIED, 0, Some(GW))),
                "{routes:?}"
            );
            assert!(
                routes.contains(&want(Ipv4Addr::new(10, 99, 0, 0), 24, None)),
                "{routes:?}"
            );
            assert!(
                routes.contains(&want(Ipv4Addr::new(10, 98, 0, 0), 16, None)),
                "{routes:?}"
            );
            assert!(
                inner
                    .ipv4_addresses()
                    .unwrap()
                    .contains(&(eth0.index, PEER_IP, 24))
            );
            // The socket opened in the peer namespace does not see this one.
            assert_eq!(inner.link_index("rrtest0").unwrap(), None);

            // Without these waits the first SYN is lost about half the time
            // and the connect takes a second (see wait_ready).
            let ready = Duration::from_secs(2);
            inner.wait_ready(eth0.index, ready).expect("eth0 ready");
            nl.wait_ready(host, ready).expect("host end ready");
            nl.wait_ready(br, ready).expect("bridge ready");
            let listener = TcpListener::bind((GW, 0)).expect("listen on the bridge address");
            let seen = talk(peer_ns.as_fd(), &listener);
            assert_eq!(seen.ip(), IpAddr::V4(PEER_IP));

            nl.delete_link(host).expect("delete veth");
            assert_eq!(nl.link_index("rrtestv0").unwrap(), None);
            assert_eq!(
                inner.link_index("eth0").unwrap(),
                None,
                "the peer goes with it"
            );
            nl.delete_link(host).expect("deleting it again is fine");
            nl.delete_link(br).expect("delete bridge");
            assert_eq!(nl.link_index("rrtest0").unwrap(), None);
        });
    }

    /// The README's point-to-point recipe: two namespaces joined by a veth
    /// pair, with /32 routes; one end made here and moved over.
    #[test]
    fn point_to_point_and_move() {
        in_child("point_to_point_and_move", || {
            let (a_ip, b_ip) = (Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(10, 1, 1, 2));
            let a = new_netns();
            let b = new_netns();
            let mut nl = Netlink::open().expect("open");
            let local = nl
                .create_veth("ptp-a", "ptp-b", b.as_fd(), [2, 0, 0, 0, 0, 2], 1500)
                .expect("create veth");
            nl.move_link_to_ns(local, a.as_fd(), Some("eth1"))
                .expect("move to netns a");
            assert_eq!(nl.link_index("ptp-a").unwrap(), None);

            let mut na = Netlink::open_in(a.as_fd()).unwrap();
            let mut nb = Netlink::open_in(b.as_fd()).unwrap();
            let ia = na.link_index("eth1").unwrap().expect("moved and renamed");
            let ib = nb.link_index("ptp-b").unwrap().expect("peer in b");
            for (n, i, ip, other) in [(&mut na, ia, a_ip, b_ip), (&mut nb, ib, b_ip, a_ip)] {
                n.add_address(i, ip, 32).expect("address");
                n.set_up(i).expect("up");
                n.add_route(other, 32, i).expect("/32 route");
            }
            na.wait_ready(ia, Duration::from_secs(2)).expect("a ready");
            nb.wait_ready(ib, Duration::from_secs(2)).expect("b ready");
            let listener = in_netns(a.as_fd(), || TcpListener::bind((a_ip, 0)))
                .unwrap()
                .expect("listen in a");
            let seen = talk(b.as_fd(), &listener);
            assert_eq!(seen.ip(), IpAddr::V4(b_ip));
        });
    }

    #[test]
    fn errors_and_namespace_switching() {
        in_child("errors_and_namespace_switching", || {
            let mut nl = Netlink::open().expect("open");
            assert_eq!(nl.link_index("nosuchlink").unwrap(), None);
            assert_eq!(nl.link_info("lo").unwrap().map(|l| l.index), Some(1));
            for bad in ["", "a/b", "a b", "x:1", "0123456789abcdef", ".."] {
                assert!(
                    matches!(nl.link_index(bad), Err(NetlinkError::BadName(_))),
                    "{bad:?}"
                );
            }

            // A peer namespace fd that is no namespace: refused, and no
            // half-made host end is left behind.
            let not_ns = File::open("/dev/null").unwrap();
            let e = nl
                .create_veth("rrbad0", "eth0", not_ns.as_fd(), PEER_MAC, 1500)
                .expect_err("not a netns");
            assert!(matches!(e, NetlinkError::CreateVeth { .. }), "{e}");
            eprintln!("invalid peer netns fd: {e} (errno {:?})", e.errno());
            assert_eq!(nl.link_index("rrbad0").unwrap(), None);

            // Hairpin on a link that is no bridge port.
            let other = new_netns();
            let v = nl
                .create_veth("rrlone0", "eth0", other.as_fd(), PEER_MAC, 1500)
                .unwrap();
            // A peer name taken in the peer namespace: refused as a whole.
            let e = nl
                .create_veth("rrdup0", "eth0", other.as_fd(), PEER_MAC, 1500)
                .expect_err("eth0 is taken there");
            assert_eq!(e.errno(), Some(libc::EEXIST), "{e}");
            assert_eq!(nl.link_index("rrdup0").unwrap(), None);

            let e = nl.set_hairpin(v, true).expect_err("not a bridge port");
            eprintln!("hairpin on a non-port: {e}");
            assert!(matches!(e, NetlinkError::SetHairpin { .. }), "{e}");
            // An address on a link that does not exist.
            let e = nl.add_address(9999, GW, 24).expect_err("no such link");
            assert_eq!(e.errno(), Some(libc::ENODEV), "{e}");
            let e = nl
                .add_route(Ipv4Addr::new(10, 1, 2, 3), 16, v)
                .expect_err("host bits set");
            eprintln!("route with host bits: {e}");
            assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
            nl.delete_link(v).unwrap();

            // wait_ready sees what keeps a link from carrying traffic.
            let lonely = nl.create_bridge("rrlonely", BR_MAC, 1500).unwrap();
            let short = Duration::from_millis(20);
            let e = nl.wait_ready(lonely, short).expect_err("down");
            assert!(
                matches!(
                    e,
                    NetlinkError::NotReady {
                        missing: "it is down",
                        ..
                    }
                ),
                "{e}"
            );
            nl.set_up(lonely).unwrap();
            let e = nl
                .wait_ready(lonely, short)
                .expect_err("a bridge without ports");
            assert!(
                matches!(
                    e,
                    NetlinkError::NotReady {
                        missing: "no carrier",
                        ..
                    }
                ),
                "{e}"
            );
            nl.delete_link(lonely).unwrap();
            let e = nl.wait_ready(lonely, short).expect_err("gone");
            assert!(matches!(e, NetlinkError::Missing(_)), "{e}");

            // in_netns returns to where it started, also after a failed entry.
            let home = ino(&thread_ns());
            let inside = in_netns(other.as_fd(), || ino(&thread_ns())).unwrap();
            assert_ne!(inside, home);
            assert_eq!(ino(&thread_ns()), home);
            let e = in_netns(not_ns.as_fd(), || ()).expect_err("not a netns");
            assert!(matches!(e, NetlinkError::EnterNetns(_)), "{e}");
            assert_eq!(ino(&thread_ns()), home);
            assert!(Netlink::open_in(not_ns.as_fd()).is_err());
            assert_eq!(ino(&thread_ns()), home);
        });
    }

    #[test]
    fn extended_ack_text() {
        // "Unknown device type" as NLMSGERR_ATTR_MSG after a capped echo.
        let text = b"Unknown device type\0";
        let mut payload = vec![0u8; 16];
        let len = (4 + text.len()) as u16;
        payload.extend_from_slice(&len.to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        payload.resize(payload.len().next_multiple_of(4), 0);
        assert_eq!(
            error_detail(NLM_F_CAPPED | NLM_F_ACK_TLVS, &payload).as_deref(),
            Some("Unknown device type")
        );
        assert_eq!(error_detail(NLM_F_CAPPED, &payload), None);
        // Uncapped: the echoed request's own length says where TLVs start.
        let mut full = vec![0u8; 24];
        full[..4].copy_from_slice(&24u32.to_ne_bytes());
        full.extend_from_slice(&payload[16..]);
        assert_eq!(
            error_detail(NLM_F_ACK_TLVS, &full).as_deref(),
            Some("Unknown device type")
        );
        assert_eq!(error_detail(NLM_F_ACK_TLVS, &[1, 2]), None);
    }

    #[test]
    fn interface_names() {
        for good in ["eth0", "rrun0", "veth0123456789a", "a-b_c.d"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a:b", "a\tb", "0123456789abcdef"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
