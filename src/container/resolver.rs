//! The embedded resolver of a container on a user-defined network
//! (Docker's 127.0.0.11): its sockets, bound in the container's network
//! namespace when the container is plugged in (before its process runs, so
//! its first query waits in the socket rather than failing), and the
//! `rrun-dns` process its monitor forks to answer them from the network's
//! name table (net::dnsnames), forwarding other names to the servers the
//! container would have used. One small process per container, living
//! exactly as long as its monitor: no resident process when no container
//! runs, nothing shared that one container's restart or crash could
//! interrupt for another, and no NAT (the sockets are the container's
//! own). A separate process rather than a thread of the monitor: the
//! monitor clones the container's process again on a restart, which must
//! not happen while another thread may hold the allocator's lock.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, listen, setsockopt, socket,
    sockopt,
};

use crate::dns::server::{Lookup, Names, Upstream};
use crate::net::{Net, dnsnames};
use crate::sys;

/// The resolver's address in every container on a user-defined network.
pub const ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// The resolver's sockets, made in the container's network namespace.
pub struct Sockets {
    udp: OwnedFd,
    tcp: OwnedFd,
}

/// Bind 127.0.0.11:53, UDP and TCP, in the current network namespace
/// (the caller has entered the container's). IP_FREEBIND: the container's
/// loopback may not be up yet (its process brings it up).
pub fn bind_embedded() -> io::Result<Sockets> {
    let addr = SockaddrIn::from(SocketAddrV4::new(ADDR, 53));
    let udp = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    setsockopt(&udp, sockopt::IpFreebind, &true)?;
    bind(udp.as_raw_fd(), &addr)?;
    let tcp = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    setsockopt(&tcp, sockopt::IpFreebind, &true)?;
    setsockopt(&tcp, sockopt::ReuseAddr, &true)?;
    bind(tcp.as_raw_fd(), &addr)?;
    listen(&tcp, Backlog::new(64).unwrap_or(Backlog::MAXCONN))?;
    Ok(Sockets { udp, tcp })
}

/// What the resolver answers from: the network's table, and the
/// container's own link aliases (`--link db:mydb` makes `mydb` resolve to
/// `db` for this container only, as in Docker).
struct Table {
    cache: dnsnames::Cache,
    links: Vec<(String, String)>,
    /// The network it started on, and the container's attachments.json,
    /// which `network connect`/`disconnect` change while it runs: the
    /// networks it answers for follow it.
    primary: Net,
    attachments: std::path::PathBuf,
    seen: Option<(u64, i64, u64)>,
}

impl Table {
    fn follow(&mut self) {
        use std::os::unix::fs::MetadataExt;
        let now = std::fs::metadata(&self.attachments).ok().map(|m| {
            (
                m.ino(),
                m.mtime() * 1_000_000_000 + m.mtime_nsec(),
                m.size(),
            )
        });
        if now == self.seen {
            return;
        }
        self.seen = now;
        let list: Vec<crate::netstate::Attachment> = std::fs::read(&self.attachments)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut nets = vec![self.primary.clone()];
        nets.extend(list.iter().map(|a| self.primary.sibling(&a.network)));
        self.cache.set_nets(nets);
    }
}

impl Names for Table {
    fn lookup(&mut self, name: &str) -> Lookup {
        self.follow();
        let target = self
            .links
            .iter()
            .find(|(alias, _)| alias == name)
            .map_or(name, |(_, t)| t.as_str());
        let ips = self.cache.lookup(target);
        if ips.is_empty() {
            Lookup::NotOurs
        } else {
            Lookup::Found(ips)
        }
    }

    fn reverse(&mut self, ip: IpAddr) -> Option<String> {
        self.follow();
        self.cache.reverse(ip)
    }
}

/// The running `rrun-dns` process; stopped and reaped when this drops.
pub struct Resolver {
    pid: libc::pid_t,
    /// Closing it tells the resolver to stop.
    _stop: OwnedFd,
}

impl Drop for Resolver {
    fn drop(&mut self) {
        // SAFETY: our own child, not yet reaped (the pid cannot be reused).
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        super::reap(self.pid);
    }
}

/// The servers other names go to, as socket addresses (port 53).
fn upstream_of(servers: &[String]) -> Vec<SocketAddr> {
    servers
        .iter()
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The resolver parses what a container sends: it keeps no capability
/// (as root it would otherwise hold them all in the host's namespace) and
/// can gain none. What it needs — its sockets, reading the name tables
/// (its own user's files), asking upstream servers from ephemeral ports —
/// takes none.
fn drop_privileges() {
    use caps::CapSet;
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    // The bounding set first: dropping from it needs CAP_SETPCAP.
    if let Ok(b) = caps::read(None, CapSet::Bounding) {
        for c in b {
            let _ = caps::drop(None, CapSet::Bounding, c);
        }
    }
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        let _ = caps::clear(None, set);
    }
}

/// Fork the resolver of a container (directory `dir`) started on `net`,
/// with its sockets.
/// `links`: (alias, target name) of its --link flags; `servers`: where
/// other names go (none: SERVFAIL, as on an --internal network).
pub fn start(
    s: Sockets,
    net: Net,
    dir: &std::path::Path,
    links: Vec<(String, String)>,
    servers: &[String],
) -> io::Result<Resolver> {
    let (r, w) = sys::pipe_cloexec()?;
    let monitor = std::process::id() as libc::pid_t;
    let up = Upstream {
        servers: upstream_of(servers),
        timeout: std::time::Duration::from_secs(2),
    };
    // SAFETY: the monitor is single-threaded here; the child only runs the
    // resolver and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        return Ok(Resolver { pid, _stop: w });
    }
    drop(w);
    // Above every fd we may hold, then onto 3, 4, 5: the rest is closed.
    use nix::fcntl::{FcntlArg, fcntl};
    // (All three are moved up before any lands on 3–5, where one of them
    // may be now.)
    let placed = [s.udp.as_raw_fd(), s.tcp.as_raw_fd(), r.as_raw_fd()]
        .map(|fd| fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(100)))
        .into_iter()
        .zip(3..)
        .all(|(high, to)| high.is_ok_and(|h| nix::unistd::dup2(h, to).is_ok()));
    if !placed {
        // SAFETY: ending the forked child.
        unsafe { libc::_exit(1) };
    }
    std::mem::forget((s, r));
    sys::become_helper(c"rrun-dns", 6);
    // SAFETY: asking to be killed with the monitor, then checking it did
    // not die before we asked.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != monitor {
            libc::_exit(0);
        }
    }
    drop_privileges();
    // SAFETY: 3, 4 and 5 were placed above and are owned by nothing else.
    let (udp, tcp, stop) = unsafe {
        (
            std::net::UdpSocket::from_raw_fd(3),
            std::net::TcpListener::from_raw_fd(4),
            OwnedFd::from_raw_fd(5),
        )
    };
    let mut names = Table {
        cache: dnsnames::Cache::new(vec![net.clone()]),
        links,
        primary: net,
        attachments: dir.join(crate::netstate::ATTACHMENTS),
        seen: None,
    };
    use std::os::fd::AsFd;
    let code = match crate::dns::server::serve(udp, tcp, &mut names, &up, Some(stop.as_fd())) {
        Ok(()) => 0,
        Err(_) => 1,
    };
    // SAFETY: ending the resolver process.
    unsafe { libc::_exit(code) }
}
