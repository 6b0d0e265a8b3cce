//! The userspace port forwarder: one single-threaded epoll loop serving every
//! published port of one container (TCP and UDP, IPv4 and IPv6 listeners)
//! toward the container's IPv4 address. It owns the host sockets handed to
//! it, every relayed connection, a small pool of splice(2) pipes and the UDP
//! flow table; it returns when `stop` becomes readable or hangs up, closing
//! all of them. It never parses payloads and never spawns threads.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{self, FcntlArg, OFlag, SpliceFFlags, fcntl};
use nix::poll::PollTimeout;
use nix::sys::epoll::{self, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::socket::{
    self, AddressFamily, Backlog, MsgFlags, Shutdown, SockFlag, SockType, SockaddrIn,
    SockaddrStorage, getsockopt, setsockopt, socket, sockopt,
};
use nix::unistd::pipe2;

use crate::sys::{from_sockaddr, local_addr, to_sockaddr};

/// The container's address:port (IPv4).
#[allow(dead_code)]
pub struct Target {
    pub addr: SocketAddr,
}

/// The protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

/// One published port: an already-bound host socket (TCP: bound, not yet
/// listening; UDP: bound), its protocol, and where to forward.
pub struct Port {
    pub fd: OwnedFd,
    pub proto: Proto,
    pub target: SocketAddr,
    /// Its clients are containers on the target's own bridge (rootless
    /// hairpin): always connect from the gateway's address, since a reply
    /// to a client's own address would go to it directly, past this relay.
    pub hairpin: bool,
}

/// Tunables of the forwarder.
#[derive(Debug, Clone)]
pub struct Options {
    /// A UDP flow with no datagram either way for this long is dropped.
    pub udp_idle: Duration,
    /// At most this many UDP flows (over all ports); the least recently
    /// used one is evicted to make room.
    pub udp_max_flows: usize,
    /// Idle splice pipes kept for reuse.
    pub pipe_pool: usize,
    /// Connect to the container from the client's own address
    /// (IP_TRANSPARENT; the network routes the replies back to us). IPv6
    /// and loopback clients still come from the forwarder's address.
    pub transparent: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            udp_idle: Duration::from_secs(90),
            udp_max_flows: 4096,
            pipe_pool: 16,
            transparent: false,
        }
    }
}

/// Failures that stop the forwarder. Per-connection and per-datagram
/// failures never do: they close that connection or drop that datagram.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("forwarder: epoll_create1: {0}")]
    EpollCreate(#[source] io::Error),
    #[error("forwarder: epoll_ctl: {0}")]
    EpollCtl(#[source] io::Error),
    #[error("forwarder: epoll_wait: {0}")]
    EpollWait(#[source] io::Error),
    #[error("forwarder: getsockname on a published port: {0}")]
    LocalAddr(#[source] io::Error),
    #[error("forwarder: listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("forwarder: making {addr} nonblocking: {source}")]
    Nonblock {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("forwarder: enabling packet info on {addr}: {source}")]
    PktInfo {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("forwarder: target {0} is not an IPv4 address")]
    Target(SocketAddr),
}

/// Total splice pipes (pooled or in flight) never exceed this; a direction
/// that finds none waits (its reader unpolled) until one is returned.
const MAX_PIPES: usize = 1024;
/// Requested capacity of a new pipe (best effort).
const PIPE_SIZE: libc::c_int = 256 * 1024;
/// Bytes moved per splice call.
const SPLICE_LEN: usize = 1 << 20;
/// Rounds of read+write per direction per wakeup (fairness between conns).
const PUMP_ROUNDS: usize = 16;
/// accept()s / datagrams per listener per wakeup.
const BURST: usize = 64;
/// How long a listener is left unpolled when accept() keeps failing.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// UDP receive buffer: any IPv4 datagram (65,507 bytes of payload) fits.
const UDP_BUF: usize = 64 * 1024;

const K_STOP: u64 = 0;
const K_PORT: u64 = 1;
const K_TCP: u64 = 2;
const K_FLOW: u64 = 3;

fn token(kind: u64, id: u64) -> u64 {
    (id << 2) | kind
}

fn errno() -> io::Error {
    io::Error::last_os_error()
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 { Err(errno()) } else { Ok(r) }
}

fn cvt_size(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 { Err(errno()) } else { Ok(r as usize) }
}

fn is_again(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR))
}

// ---------------------------------------------------------------- sockaddr

fn so_error(fd: &impl AsFd) -> i32 {
    getsockopt(fd, sockopt::SocketError).unwrap_or_else(|e| e as i32)
}

/// Probe an idle connection after 15 s, then every 15 s (docker-proxy's
/// setting, Go's default), so that a client or container that vanished
/// without a word does not pin a relayed connection and its fds forever.
/// Best effort: a connection without it is still relayed.
pub const KEEPALIVE_SECS: u32 = 15;

fn keepalive(fd: &impl AsFd) {
    let _ = setsockopt(fd, sockopt::KeepAlive, &true);
    let _ = setsockopt(fd, sockopt::TcpKeepIdle, &KEEPALIVE_SECS);
    let _ = setsockopt(fd, sockopt::TcpKeepInterval, &KEEPALIVE_SECS);
}

fn set_nonblock(fd: RawFd) -> io::Result<()> {
    let fl = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Close with SO_LINGER {1, 0}: the peer gets a RST, not a FIN.
fn reset(fd: OwnedFd) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // A failure only means a FIN instead of a RST.
    let _ = setsockopt(&fd, sockopt::Linger, &l);
    drop(fd);
}

fn new_socket(family: AddressFamily, ty: SockType) -> io::Result<OwnedFd> {
    Ok(socket(
        family,
        ty,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?)
}

/// Bind `fd` to `client`'s address (its port, else any) with
/// IP_TRANSPARENT, so that the container sees the client. Ok(false): the
/// client cannot be used as a source (IPv6, loopback).
fn bind_transparent(fd: &impl AsFd, client: &SocketAddr) -> io::Result<bool> {
    let SocketAddr::V4(c) = client else {
        return Ok(false);
    };
    if c.ip().is_loopback() || c.ip().is_unspecified() {
        return Ok(false);
    }
    setsockopt(fd, sockopt::IpTransparent, &true)?;
    for port in [c.port(), 0] {
        let addr = SockaddrIn::from(SocketAddrV4::new(*c.ip(), port));
        match socket::bind(fd.as_fd().as_raw_fd(), &addr) {
            Ok(()) => return Ok(true),
            // The client's own port may be in use here (a quick reconnect
            // from the same port, a client on this host): any port will do.
            Err(Errno::EADDRINUSE) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(Errno::EADDRINUSE.into())
}

/// Nonblocking connect. Ok(true): connected now; Ok(false): in progress.
fn connect(fd: &impl AsFd, to: &SocketAddr) -> io::Result<bool> {
    match socket::connect(fd.as_fd().as_raw_fd(), &SockaddrStorage::from(*to)) {
        Ok(()) => Ok(true),
        Err(Errno::EINPROGRESS) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn open_spare() -> Option<OwnedFd> {
    std::fs::File::open("/dev/null").ok().map(OwnedFd::from)
}

// ---------------------------------------------------------------- epoll

struct Epoll(epoll::Epoll);

impl Epoll {
    fn new() -> Result<Self, ForwardError> {
        epoll::Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map(Epoll)
            .map_err(|e| ForwardError::EpollCreate(e.into()))
    }

    fn add(&self, fd: impl AsFd, events: u32, tok: u64) -> io::Result<()> {
        let ev = EpollEvent::new(EpollFlags::from_bits_retain(events as i32), tok);
        Ok(self.0.add(fd, ev)?)
    }

    /// Make `fd`'s registration match `want` (0 = not registered, so a
    /// hung-up socket nobody waits on cannot wake the loop over and over).
    fn set(&self, fd: BorrowedFd<'_>, have: &mut u32, want: u32, tok: u64) -> io::Result<()> {
        if *have == want {
            return Ok(());
        }
        let r = if want == 0 {
            self.0.delete(fd)
        } else if *have == 0 {
            return self.add(fd, want, tok).map(|()| *have = want);
        } else {
            let mut ev = EpollEvent::new(EpollFlags::from_bits_retain(want as i32), tok);
            self.0.modify(fd, &mut ev)
        };
        if r.is_ok() {
            *have = want;
        }
        Ok(r?)
    }
}

const IN: u32 = EpollFlags::EPOLLIN.bits() as u32;
const OUT: u32 = EpollFlags::EPOLLOUT.bits() as u32;
const ERR: u32 = EpollFlags::EPOLLERR.bits() as u32;
const HUP: u32 = EpollFlags::EPOLLHUP.bits() as u32;

// ---------------------------------------------------------------- pipes

struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
}

struct Pipes {
    pool: Vec<Pipe>,
    keep: usize,
    total: usize,
}

impl Pipes {
    /// Ok(None): the cap is reached; wait for a release.
    fn get(&mut self) -> io::Result<Option<Pipe>> {
        if let Some(p) = self.pool.pop() {
            return Ok(Some(p));
        }
        if self.total >= MAX_PIPES {
            return Ok(None);
        }
        let (r, w) = pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        // Failure (e.g. over pipe-max-size) is harmless.
        let _ = fcntl(w.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
        let p = Pipe { r, w };
        self.total += 1;
        Ok(Some(p))
    }

    /// Return a pipe that is empty.
    fn put(&mut self, p: Pipe) {
        if self.pool.len() < self.keep {
            self.pool.push(p);
        } else {
            self.total -= 1;
        }
    }

    /// Drop a pipe that may still hold bytes.
    fn discard(&mut self, p: Pipe) {
        drop(p);
        self.total -= 1;
    }
}

fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    Ok(fcntl::splice(
        from,
        None,
        to,
        None,
        len,
        SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK,
    )?)
}

// ---------------------------------------------------------------- state

struct Listener {
    fd: OwnedFd,
    proto: Proto,
    target: SocketAddr,
    /// See [`Port::hairpin`].
    hairpin: bool,
    local: SocketAddr,
    /// UDP on a wildcard address: replies carry the client's destination.
    pktinfo: bool,
    events: u32,
    paused_until: Option<Instant>,
    last_log: Option<Instant>,
}

#[derive(Default)]
struct Dir {
    pipe: Option<Pipe>,
    /// Bytes in the pipe not yet written to the destination.
    inflight: usize,
    /// The source sent FIN.
    eof: bool,
    /// FIN passed on (shutdown(SHUT_WR) on the destination).
    done: bool,
    /// Waiting for a pipe (cap reached).
    starved: bool,
}

struct Conn {
    /// 0 = client (accepted), 1 = server (toward the target).
    fds: [OwnedFd; 2],
    events: [u32; 2],
    connecting: bool,
    /// dirs[i] reads fds[i] and writes fds[1 - i].
    dirs: [Dir; 2],
    port: usize,
}

enum Pumped {
    Ok,
    Reset,
}

/// Where a UDP reply must come from.
#[derive(Clone, Copy)]
enum Spec {
    None,
    V4(libc::in_addr),
    V6(libc::in6_addr, u32),
}

struct Flow {
    fd: OwnedFd,
    port: usize,
    client: SocketAddr,
    spec: Spec,
    last: Instant,
    seq: u64,
}

struct Fwd<'a> {
    ep: Epoll,
    opts: &'a Options,
    ports: Vec<Listener>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    pipes: Pipes,
    starved: VecDeque<(u64, usize)>,
    flows: HashMap<u64, Flow>,
    flow_by_client: HashMap<(usize, SocketAddr), u64>,
    lru: BTreeMap<u64, u64>,
    next_flow: u64,
    next_seq: u64,
    spare: Option<OwnedFd>,
    buf: Vec<u8>,
}

/// Serve until `stop` becomes readable or hangs up (e.g. a pidfd of the
/// container, or a pipe whose writer closes). Returns Ok on stop; every
/// listener and connection is closed on return.
pub fn serve(ports: Vec<Port>, stop: BorrowedFd<'_>, opts: &Options) -> Result<(), ForwardError> {
    let ep = Epoll::new()?;
    ep.add(stop, IN, token(K_STOP, 0))
        .map_err(ForwardError::EpollCtl)?;
    let mut fwd = Fwd {
        ep,
        opts,
        ports: Vec::with_capacity(ports.len()),
        conns: HashMap::new(),
        next_conn: 0,
        pipes: Pipes {
            pool: Vec::new(),
            keep: opts.pipe_pool,
            total: 0,
        },
        starved: VecDeque::new(),
        flows: HashMap::new(),
        flow_by_client: HashMap::new(),
        lru: BTreeMap::new(),
        next_flow: 0,
        next_seq: 0,
        spare: open_spare(),
        buf: vec![0u8; UDP_BUF],
    };
    for (i, p) in ports.into_iter().enumerate() {
        fwd.add_port(i, p)?;
    }
    fwd.run()
}

impl Fwd<'_> {
    fn add_port(&mut self, i: usize, p: Port) -> Result<(), ForwardError> {
        if !p.target.is_ipv4() {
            return Err(ForwardError::Target(p.target));
        }
        let fd = p.fd.as_raw_fd();
        let local = local_addr(fd).map_err(ForwardError::LocalAddr)?;
        set_nonblock(fd).map_err(|source| ForwardError::Nonblock {
            addr: local.to_string(),
            source,
        })?;
        let mut pktinfo = false;
        match p.proto {
            Proto::Tcp => {
                socket::listen(&p.fd, Backlog::MAXCONN).map_err(|e| ForwardError::Listen {
                    addr: local.to_string(),
                    source: e.into(),
                })?;
            }
            Proto::Udp if local.ip().is_unspecified() => {
                let r = match local {
                    SocketAddr::V4(_) => setsockopt(&p.fd, sockopt::Ipv4PacketInfo, &true),
                    SocketAddr::V6(_) => setsockopt(&p.fd, sockopt::Ipv6RecvPacketInfo, &true),
                };
                r.map_err(|e| ForwardError::PktInfo {
                    addr: local.to_string(),
                    source: e.into(),
                })?;
                pktinfo = true;
            }
            Proto::Udp => {}
        }
        let mut l = Listener {
            fd: p.fd,
            proto: p.proto,
            target: p.target,
            hairpin: p.hairpin,
            local,
            pktinfo,
            events: 0,
            paused_until: None,
            last_log: None,
        };
        self.ep
            .set(l.fd.as_fd(), &mut l.events, IN, token(K_PORT, i as u64))
            .map_err(ForwardError::EpollCtl)?;
        self.ports.push(l);
        Ok(())
    }

    fn run(&mut self) -> Result<(), ForwardError> {
        let mut events = vec![EpollEvent::empty(); 256];
        loop {
            let timeout = self.timeout();
            let n = match self.ep.0.wait(&mut events, timeout) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(ForwardError::EpollWait(e.into())),
            };
            for ev in &events[..n] {
                let (tok, flags) = (ev.data(), ev.events().bits() as u32);
                let id = tok >> 2;
                match tok & 3 {
                    K_STOP => return Ok(()),
                    K_PORT => match self.ports[id as usize].proto {
                        Proto::Tcp => self.accept(id as usize)?,
                        Proto::Udp => self.udp_in(id as usize),
                    },
                    K_TCP => self.tcp_event(id >> 1, (id & 1) as usize, flags)?,
                    _ => self.flow_in(id),
                }
            }
            self.wake_starved()?;
            self.housekeeping()?;
        }
    }

    fn timeout(&self) -> PollTimeout {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for l in &self.ports {
            if let Some(t) = l.paused_until {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        if let Some((_, id)) = self.lru.iter().next()
            && let Some(f) = self.flows.get(id)
        {
            let t = f.last + self.opts.udp_idle;
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        match next {
            None => PollTimeout::NONE,
            Some(t) => {
                let d = t.saturating_duration_since(now);
                // Round up so we never wake a hair early and spin.
                PollTimeout::try_from(d.as_micros().div_ceil(1000)).unwrap_or(PollTimeout::MAX)
            }
        }
    }

    fn housekeeping(&mut self) -> Result<(), ForwardError> {
        let now = Instant::now();
        for i in 0..self.ports.len() {
            let l = &mut self.ports[i];
            if l.paused_until.is_some_and(|t| t <= now) {
                l.paused_until = None;
                self.ep
                    .set(l.fd.as_fd(), &mut l.events, IN, token(K_PORT, i as u64))
                    .map_err(ForwardError::EpollCtl)?;
            }
        }
        while let Some((_, &id)) = self.lru.iter().next() {
            match self.flows.get(&id) {
                Some(f) if f.last + self.opts.udp_idle <= now => self.drop_flow(id),
                Some(_) => break,
                None => {
                    self.lru.pop_first();
                }
            }
        }
        Ok(())
    }

    /// Make `fd`, the connection to `port`'s target, come from `client`'s
    /// own address where the forwarder may (transparent mode, not hairpin);
    /// where that fails it comes from the gateway's, and the log says so.
    fn bind_source(&mut self, port: usize, fd: BorrowedFd<'_>, client: &SocketAddr) {
        if self.opts.transparent
            && !self.ports[port].hairpin
            && let Err(e) = bind_transparent(&fd, client)
        {
            self.log(
                port,
                format_args!("{client} as the source: {e}; using the gateway's address"),
            );
        }
    }

    fn log(&mut self, port: usize, msg: std::fmt::Arguments<'_>) {
        let l = &mut self.ports[port];
        let now = Instant::now();
        if l.last_log
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        l.last_log = Some(now);
        eprintln!("rrun: forwarder: {} -> {}: {}", l.local, l.target, msg);
    }

    // ------------------------------------------------------------ TCP

    /// Accept one connection, with the client's address (None if the
    /// kernel gave one rrun cannot read; it is only needed as a source).
    fn accept_one(fd: RawFd) -> io::Result<(OwnedFd, Option<SocketAddr>)> {
        // SAFETY: all-zero sockaddr_storage is valid.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: ss/len describe a writable buffer of the stated size.
        let c = cvt(unsafe {
            libc::accept4(
                fd,
                &mut ss as *mut _ as *mut libc::sockaddr,
                &mut len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        })?;
        // SAFETY: c was just returned by accept4 and is ours alone.
        Ok((unsafe { OwnedFd::from_raw_fd(c) }, from_sockaddr(&ss)))
    }

    fn pause(&mut self, port: usize) -> Result<(), ForwardError> {
        let l = &mut self.ports[port];
        l.paused_until = Some(Instant::now() + ACCEPT_PAUSE);
        self.ep
            .set(l.fd.as_fd(), &mut l.events, 0, token(K_PORT, port as u64))
            .map_err(ForwardError::EpollCtl)
    }

    fn accept(&mut self, port: usize) -> Result<(), ForwardError> {
        let lfd = self.ports[port].fd.as_raw_fd();
        for _ in 0..BURST {
            let client = match Self::accept_one(lfd) {
                Ok(c) => c,
                Err(e) if is_again(&e) => return Ok(()),
                Err(e) => match e.raw_os_error() {
                    Some(libc::ECONNABORTED) | Some(libc::EPROTO) => continue,
                    Some(libc::EMFILE) | Some(libc::ENFILE) if self.spare.is_some() => {
                        // Free one fd, take the pending connection, refuse
                        // it, and take the fd back.
                        self.spare = None;
                        let shed = Self::accept_one(lfd);
                        self.spare = open_spare();
                        self.log(port, format_args!("{e}: shedding new connections"));
                        match shed {
                            Ok((c, _)) => {
                                reset(c);
                                continue;
                            }
                            Err(e2) if is_again(&e2) => return Ok(()),
                            Err(_) => return self.pause(port),
                        }
                    }
                    _ => {
                        self.log(port, format_args!("accept: {e}"));
                        return self.pause(port);
                    }
                },
            };
            self.start_conn(port, client)?;
        }
        Ok(())
    }

    fn start_conn(
        &mut self,
        port: usize,
        (client, peer): (OwnedFd, Option<SocketAddr>),
    ) -> Result<(), ForwardError> {
        let target = self.ports[port].target;
        let server = match new_socket(AddressFamily::Inet, SockType::Stream) {
            Ok(s) => s,
            Err(e) => {
                self.log(port, format_args!("socket: {e}: shedding connection"));
                reset(client);
                return Ok(());
            }
        };
        for fd in [&client, &server] {
            let _ = setsockopt(fd, sockopt::TcpNoDelay, &true);
            keepalive(fd);
        }
        if let Some(peer) = peer {
            self.bind_source(port, server.as_fd(), &peer);
        }
        let connected = match connect(&server, &target) {
            Ok(c) => c,
            Err(e) => {
                self.log(port, format_args!("connect: {e}"));
                reset(client);
                return Ok(());
            }
        };
        let id = self.next_conn;
        self.next_conn += 1;
        let mut c = Conn {
            fds: [client, server],
            events: [0, 0],
            connecting: !connected,
            dirs: Default::default(),
            port,
        };
        if let Err(e) = self.update(id, &mut c) {
            return self.fail_ctl(c, e);
        }
        self.conns.insert(id, c);
        Ok(())
    }

    /// epoll_ctl failing on a connection: ENOMEM/ENOSPC shed the
    /// connection; anything else is a bug worth stopping for.
    fn fail_ctl(&mut self, c: Conn, e: io::Error) -> Result<(), ForwardError> {
        let port = c.port;
        self.close_conn(c, true);
        match e.raw_os_error() {
            Some(libc::ENOMEM) | Some(libc::ENOSPC) => {
                self.log(port, format_args!("epoll_ctl: {e}: shedding connection"));
                Ok(())
            }
            _ => Err(ForwardError::EpollCtl(e)),
        }
    }

    /// Register interest matching the connection's state.
    fn update(&self, id: u64, c: &mut Conn) -> io::Result<()> {
        let want = if c.connecting {
            [0, OUT]
        } else {
            let mut w = [0u32; 2];
            for (i, d) in c.dirs.iter().enumerate() {
                if !d.eof && d.inflight == 0 && !d.starved {
                    w[i] |= IN;
                }
                if d.inflight > 0 {
                    w[1 - i] |= OUT;
                }
            }
            w
        };
        for (side, (fd, have)) in c.fds.iter().zip(c.events.iter_mut()).enumerate() {
            self.ep.set(
                fd.as_fd(),
                have,
                want[side],
                token(K_TCP, id * 2 + side as u64),
            )?;
        }
        Ok(())
    }

    fn close_conn(&mut self, mut c: Conn, rst: bool) {
        for d in &mut c.dirs {
            if let Some(p) = d.pipe.take() {
                self.pipes.discard(p);
            }
        }
        let [a, b] = c.fds;
        if rst {
            reset(a);
            reset(b);
        }
        // Otherwise dropped here: closed normally.
    }

    fn tcp_event(&mut self, id: u64, _side: usize, flags: u32) -> Result<(), ForwardError> {
        let Some(mut c) = self.conns.remove(&id) else {
            return Ok(());
        };
        if c.connecting {
            let err = so_error(&c.fds[1]);
            if err != 0 {
                let e = io::Error::from_raw_os_error(err);
                self.log(c.port, format_args!("connect: {e}"));
                self.close_conn(c, true);
                return Ok(());
            }
            if flags & (OUT | ERR | HUP) == 0 {
                self.conns.insert(id, c);
                return Ok(());
            }
            c.connecting = false;
        } else if flags & ERR != 0 {
            // A reset (or a fatal error) on one side: reset the other.
            self.close_conn(c, true);
            return Ok(());
        }
        for d in 0..2 {
            if let Pumped::Reset = self.pump(&mut c, d) {
                self.close_conn(c, true);
                return Ok(());
            }
        }
        if c.dirs[0].done && c.dirs[1].done {
            self.close_conn(c, false);
            return Ok(());
        }
        for d in 0..2 {
            if c.dirs[d].starved {
                self.starved.push_back((id, d));
            }
        }
        if let Err(e) = self.update(id, &mut c) {
            return self.fail_ctl(c, e);
        }
        self.conns.insert(id, c);
        Ok(())
    }

    /// Move bytes src -> pipe -> dst until either side would block.
    fn pump(&mut self, c: &mut Conn, d: usize) -> Pumped {
        let src = c.fds[d].as_fd();
        let dst = c.fds[1 - d].as_fd();
        let dir = &mut c.dirs[d];
        if dir.done {
            return Pumped::Ok;
        }
        for _ in 0..PUMP_ROUNDS {
            if dir.inflight > 0 {
                let p = match &dir.pipe {
                    Some(p) => p,
                    None => return Pumped::Reset,
                };
                match splice(p.r.as_fd(), dst, dir.inflight) {
                    Ok(n) => {
                        dir.inflight -= n.min(dir.inflight);
                        if dir.inflight > 0 {
                            continue;
                        }
                    }
                    Err(e) if is_again(&e) => return Pumped::Ok,
                    Err(_) => return Pumped::Reset,
                }
            }
            // The pipe is empty here.
            if dir.eof {
                if let Some(p) = dir.pipe.take() {
                    self.pipes.put(p);
                }
                if socket::shutdown(dst.as_raw_fd(), Shutdown::Write).is_err() {
                    return Pumped::Reset;
                }
                dir.done = true;
                return Pumped::Ok;
            }
            if dir.pipe.is_none() {
                match self.pipes.get() {
                    Ok(Some(p)) => {
                        dir.pipe = Some(p);
                        dir.starved = false;
                    }
                    Ok(None) => {
                        dir.starved = true;
                        return Pumped::Ok;
                    }
                    // No fds for a pipe: shed this connection.
                    Err(_) => return Pumped::Reset,
                }
            }
            let p = match &dir.pipe {
                Some(p) => p,
                None => return Pumped::Reset,
            };
            match splice(src, p.w.as_fd(), SPLICE_LEN) {
                Ok(0) => dir.eof = true,
                Ok(n) => dir.inflight = n,
                Err(e) if is_again(&e) => {
                    if let Some(p) = dir.pipe.take() {
                        self.pipes.put(p);
                    }
                    return Pumped::Ok;
                }
                Err(_) => return Pumped::Reset,
            }
        }
        // Out of rounds with the pipe empty: give it back; level-triggered
        // epoll will call again.
        if dir.inflight == 0
            && !dir.eof
            && let Some(p) = dir.pipe.take()
        {
            self.pipes.put(p);
        }
        Pumped::Ok
    }

    fn wake_starved(&mut self) -> Result<(), ForwardError> {
        if self.starved.is_empty() || (self.pipes.pool.is_empty() && self.pipes.total >= MAX_PIPES)
        {
            return Ok(());
        }
        while let Some((id, d)) = self.starved.pop_front() {
            let Some(mut c) = self.conns.remove(&id) else {
                continue;
            };
            c.dirs[d].starved = false;
            if let Err(e) = self.update(id, &mut c) {
                self.fail_ctl(c, e)?;
                continue;
            }
            self.conns.insert(id, c);
        }
        Ok(())
    }

    // ------------------------------------------------------------ UDP

    fn udp_in(&mut self, port: usize) {
        let lfd = self.ports[port].fd.as_raw_fd();
        for _ in 0..BURST {
            let (n, client, spec) = match self.recv_client(lfd) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) if is_again(&e) => return,
                Err(e) => {
                    if e.raw_os_error() != Some(libc::ECONNREFUSED) {
                        self.log(port, format_args!("recvmsg: {e}"));
                    }
                    return;
                }
            };
            let id = match self.flow_by_client.get(&(port, client)) {
                Some(&id) => id,
                None => match self.new_flow(port, client) {
                    Some(id) => id,
                    None => continue,
                },
            };
            self.touch(id);
            let Some(f) = self.flows.get_mut(&id) else {
                continue;
            };
            if !matches!(spec, Spec::None) {
                f.spec = spec;
            }
            if let Err(e) = socket::send(f.fd.as_raw_fd(), &self.buf[..n], MsgFlags::empty()) {
                let e = io::Error::from(e);
                // Full buffer or an earlier ICMP refusal: drop the datagram.
                if !is_again(&e) && e.raw_os_error() != Some(libc::ECONNREFUSED) {
                    self.log(port, format_args!("send: {e}"));
                }
            }
        }
    }

    /// recvmsg on a listener: (length, client, destination the client used).
    fn recv_client(&mut self, fd: RawFd) -> io::Result<Option<(usize, SocketAddr, Spec)>> {
        // SAFETY: all-zero sockaddr_storage is valid.
        let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
        let mut iov = libc::iovec {
            iov_base: self.buf.as_mut_ptr().cast(),
            iov_len: self.buf.len(),
        };
        let mut cbuf = [0u64; 16];
        // SAFETY: msghdr is plain old data.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut ss as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 16]>();
        // SAFETY: msg points at live buffers of the stated sizes.
        let n = cvt_size(unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) })?;
        let Some(client) = from_sockaddr(&ss) else {
            return Ok(None);
        };
        let mut spec = Spec::None;
        // SAFETY: msg was filled in by recvmsg; the CMSG macros walk the
        // control buffer within msg_controllen.
        unsafe {
            let mut cm = libc::CMSG_FIRSTHDR(&msg);
            while !cm.is_null() {
                let (lvl, ty) = ((*cm).cmsg_level, (*cm).cmsg_type);
                if lvl == libc::IPPROTO_IP && ty == libc::IP_PKTINFO {
                    let pi: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(cm).cast());
                    // ipi_spec_dst is the kernel's answer (right for
                    // broadcasts) but is 0 for packets looped back through
                    // lo; then the header's destination is the address.
                    spec = Spec::V4(if pi.ipi_spec_dst.s_addr != 0 {
                        pi.ipi_spec_dst
                    } else {
                        pi.ipi_addr
                    });
                } else if lvl == libc::IPPROTO_IPV6 && ty == libc::IPV6_PKTINFO {
                    let pi: libc::in6_pktinfo =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cm).cast());
                    spec = Spec::V6(pi.ipi6_addr, pi.ipi6_ifindex);
                }
                cm = libc::CMSG_NXTHDR(&msg, cm);
            }
        }
        Ok(Some((n, client, spec)))
    }

    fn new_flow(&mut self, port: usize, client: SocketAddr) -> Option<u64> {
        if self.flows.len() >= self.opts.udp_max_flows.max(1)
            && let Some((_, &old)) = self.lru.iter().next()
        {
            self.drop_flow(old);
        }
        let target = self.ports[port].target;
        let fd = match new_socket(AddressFamily::Inet, SockType::Datagram) {
            Ok(fd) => fd,
            Err(e) => {
                self.log(port, format_args!("socket: {e}: dropping datagram"));
                return None;
            }
        };
        self.bind_source(port, fd.as_fd(), &client);
        if let Err(e) = connect(&fd, &target) {
            self.log(port, format_args!("connect: {e}: dropping datagram"));
            return None;
        }
        let id = self.next_flow;
        self.next_flow += 1;
        if let Err(e) = self.ep.add(&fd, IN, token(K_FLOW, id)) {
            self.log(port, format_args!("epoll_ctl: {e}: dropping datagram"));
            return None;
        }
        self.flows.insert(
            id,
            Flow {
                fd,
                port,
                client,
                spec: Spec::None,
                last: Instant::now(),
                seq: 0,
            },
        );
        self.flow_by_client.insert((port, client), id);
        Some(id)
    }

    fn touch(&mut self, id: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(f) = self.flows.get_mut(&id) {
            self.lru.remove(&f.seq);
            f.seq = seq;
            f.last = Instant::now();
            self.lru.insert(seq, id);
        }
    }

    fn drop_flow(&mut self, id: u64) {
        if let Some(f) = self.flows.remove(&id) {
            self.lru.remove(&f.seq);
            self.flow_by_client.remove(&(f.port, f.client));
            // Closing the fd removes it from the epoll set.
        }
    }

    fn flow_in(&mut self, id: u64) {
        for _ in 0..BURST {
            let Some(f) = self.flows.get(&id) else {
                return;
            };
            // SAFETY: buf is writable for its whole length.
            let r = unsafe {
                libc::recv(
                    f.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            let n = match cvt_size(r) {
                Ok(n) => n,
                Err(e) if is_again(&e) => return,
                // ICMP port unreachable from the container: nothing to relay.
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => continue,
                Err(e) => {
                    let port = f.port;
                    self.log(port, format_args!("recv: {e}"));
                    self.drop_flow(id);
                    return;
                }
            };
            let (port, client, spec) = (f.port, f.client, f.spec);
            self.touch(id);
            if let Err(e) = self.send_client(port, client, spec, n)
                && !is_again(&e)
            {
                self.log(port, format_args!("sendmsg to {client}: {e}"));
            }
        }
    }

    fn send_client(
        &mut self,
        port: usize,
        client: SocketAddr,
        spec: Spec,
        n: usize,
    ) -> io::Result<()> {
        let fd = self.ports[port].fd.as_raw_fd();
        let (ss, sslen) = to_sockaddr(&client);
        let mut iov = libc::iovec {
            iov_base: self.buf.as_mut_ptr().cast(),
            iov_len: n,
        };
        let mut cbuf = [0u64; 8];
        // SAFETY: msghdr is plain old data.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&ss as *const libc::sockaddr_storage).cast_mut().cast();
        msg.msg_namelen = sslen;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if self.ports[port].pktinfo {
            // SAFETY: cbuf is 64 bytes, 8-aligned, larger than one cmsg
            // carrying an in_pktinfo or in6_pktinfo; CMSG_* compute offsets
            // within it.
            unsafe {
                let (lvl, ty, len) = match spec {
                    Spec::None => (0, 0, 0),
                    Spec::V4(_) => (
                        libc::IPPROTO_IP,
                        libc::IP_PKTINFO,
                        size_of::<libc::in_pktinfo>(),
                    ),
                    Spec::V6(..) => (
                        libc::IPPROTO_IPV6,
                        libc::IPV6_PKTINFO,
                        size_of::<libc::in6_pktinfo>(),
                    ),
                };
                if len > 0 {
                    msg.msg_control = cbuf.as_mut_ptr().cast();
                    msg.msg_controllen = libc::CMSG_SPACE(len as u32) as usize;
                    let cm = libc::CMSG_FIRSTHDR(&msg);
                    (*cm).cmsg_level = lvl;
                    (*cm).cmsg_type = ty;
                    (*cm).cmsg_len = libc::CMSG_LEN(len as u32) as usize;
                    match spec {
                        Spec::V4(a) => std::ptr::write_unaligned(
                            libc::CMSG_DATA(cm).cast(),
                            libc::in_pktinfo {
                                ipi_ifindex: 0,
                                ipi_spec_dst: a,
                                ipi_addr: libc::in_addr { s_addr: 0 },
                            },
                        ),
                        Spec::V6(a, ifindex) => std::ptr::write_unaligned(
                            libc::CMSG_DATA(cm).cast(),
                            libc::in6_pktinfo {
                                ipi6_addr: a,
                                ipi6_ifindex: ifindex,
                            },
                        ),
                        Spec::None => {}
                    }
                }
            }
        }
        // SAFETY: msg points at live buffers of the stated sizes.
        cvt_size(unsafe { libc::sendmsg(fd, &msg, 0) }).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
    use std::sync::mpsc;
    use std::thread;

    const T: Duration = Duration::from_secs(5);

    fn opts() -> Options {
        Options::default()
    }

    /// A bound, not listening TCP socket, as the caller hands them over.
    fn bind_tcp(addr: &str) -> io::Result<OwnedFd> {
        let a: SocketAddr = addr.parse().expect("test address");
        let fam = if a.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        let fd = new_socket(fam, SockType::Stream)?;
        let (ss, len) = to_sockaddr(&a);
        // SAFETY: ss/len are a valid sockaddr of the stated length.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &ss as *const _ as *const libc::sockaddr,
                len,
            )
        })?;
        Ok(fd)
    }

    fn bind_udp(addr: &str) -> io::Result<OwnedFd> {
        Ok(OwnedFd::from(UdpSocket::bind(addr)?))
    }

    struct Running {
        stop_w: Option<OwnedFd>,
        done: mpsc::Receiver<Result<(), String>>,
        addrs: Vec<SocketAddr>,
        tid: libc::pid_t,
    }

    impl Running {
        fn stop(mut self) {
            self.stop_w = None;
            let r = self.done.recv_timeout(T).expect("serve() did not return");
            r.expect("serve() failed");
        }
    }

    impl Running {
        /// CPU time (clock ticks) the serve thread has used so far.
        fn cpu_ticks(&self) -> u64 {
            let stat = std::fs::read_to_string(format!("/proc/self/task/{}/stat", self.tid))
                .expect("thread stat");
            let after = &stat[stat.rfind(')').expect("comm") + 2..];
            let f: Vec<&str> = after.split(' ').collect();
            // utime and stime are fields 14 and 15; `after` starts at field 3.
            f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.stop_w = None;
        }
    }

    fn start(ports: Vec<(OwnedFd, Proto, SocketAddr)>, opts: Options) -> Running {
        let mut fds = [0; 2];
        // SAFETY: fds is a writable array of two c_ints.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both fds were just returned by pipe2.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let addrs = ports
            .iter()
            .map(|p| local_addr(p.0.as_raw_fd()).expect("getsockname"))
            .collect();
        let tcp_fds: Vec<RawFd> = ports
            .iter()
            .filter(|p| p.1 == Proto::Tcp)
            .map(|p| p.0.as_raw_fd())
            .collect();
        let ports = ports
            .into_iter()
            .map(|(fd, proto, target)| Port {
                fd,
                proto,
                target,
                hairpin: false,
            })
            .collect();
        let (tx, rx) = mpsc::channel();
        let (tid_tx, tid_rx) = mpsc::channel();
        thread::spawn(move || {
            // SAFETY: gettid takes no arguments and cannot fail.
            let _ = tid_tx.send(unsafe { libc::gettid() });
            let res = serve(ports, r.as_fd_ref(), &opts).map_err(|e| e.to_string());
            let _ = tx.send(res);
        });
        // serve() calls listen(); wait for it so clients are not refused.
        let t0 = Instant::now();
        for fd in tcp_fds {
            while !listening(fd) {
                assert!(t0.elapsed() < T, "serve() never listened");
                thread::sleep(Duration::from_millis(1));
            }
        }
        Running {
            stop_w: Some(w),
            done: rx,
            addrs,
            tid: tid_rx.recv_timeout(T).expect("serve thread started"),
        }
    }

    fn listening(fd: RawFd) -> bool {
        // SAFETY: fd stays open while serve() runs (it owns it).
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        getsockopt(&fd, sockopt::AcceptConn).unwrap_or(false)
    }

    trait AsFdRef {
        fn as_fd_ref(&self) -> BorrowedFd<'_>;
    }
    impl AsFdRef for OwnedFd {
        fn as_fd_ref(&self) -> BorrowedFd<'_> {
            std::os::fd::AsFd::as_fd(self)
        }
    }

    fn tcp_echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind echo");
        let a = l.local_addr().expect("addr");
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                thread::spawn(move || {
                    let Ok(mut r) = s.try_clone() else { return };
                    let _ = io::copy(&mut r, &mut s);
                    let _ = s.shutdown(Shutdown::Write);
                });
            }
        });
        a
    }

    /// Reads to EOF, then sends `reply` bytes and closes.
    fn tcp_sink_then_reply(reply: usize) -> (SocketAddr, mpsc::Receiver<(usize, u64)>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let a = l.local_addr().expect("addr");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            let _ = tx.send((got.len(), fnv(&got)));
            let _ = s.write_all(&pattern(reply, 7));
        });
        (a, rx)
    }

    fn udp_echo_server() -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind udp echo");
        let a = s.local_addr().expect("addr");
        thread::spawn(move || {
            let mut buf = vec![0u8; 70000];
            loop {
                let Ok((n, peer)) = s.recv_from(&mut buf) else {
                    return;
                };
                if &buf[..n] == b"who" {
                    let _ = s.send_to(peer.to_string().as_bytes(), peer);
                } else {
                    let _ = s.send_to(&buf[..n], peer);
                }
            }
        });
        a
    }

    fn fnv(b: &[u8]) -> u64 {
        let mut h: u64 = 0xcbf29ce484222325;
        for &x in b {
            h ^= x as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h
    }

    fn pattern(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn client(a: SocketAddr) -> TcpStream {
        let s = TcpStream::connect_timeout(&a, T).expect("connect to forwarder");
        s.set_read_timeout(Some(T)).expect("timeout");
        s.set_write_timeout(Some(T)).expect("timeout");
        s
    }

    fn udp_client(bind: &str) -> UdpSocket {
        let s = UdpSocket::bind(bind).expect("bind udp client");
        s.set_read_timeout(Some(T)).expect("timeout");
        s
    }

    #[test]
    fn tcp_echo() {
        let echo = tcp_echo_server();
        let f = start(
            vec![(bind_tcp("127.0.0.1:0").unwrap(), Proto::Tcp, echo)],
            opts(),
        );
        let mut c = client(f.addrs[0]);
        c.write_all(b"hello forwarder").unwrap();
        let mut buf = [0u8; 15];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello forwarder");
        c.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        f.stop();
    }

    #[test]
    fn tcp_8mib_each_way() {
        let echo = tcp_echo_server();
        let f = start(
            vec![(bind_tcp("127.0.0.1:0").unwrap(), Proto::Tcp, echo)],
            opts(),
        );
        let c = client(f.addrs[0]);
        let data = pattern(8 << 20, 42);
        let want = fnv(&data);
        let mut w = c.try_clone().unwrap();
        let writer = thread::spawn(move || {
            w.write_all(&data).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        });
        let mut got = Vec::with_capacity(8 << 20);
        (&c).read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        assert_eq!(got.len(), 8 << 20);
        assert_eq!(fnv(&got), want);
        f.stop();
    }

    #[test]
    fn tcp_half_close() {
        let (sink, rx) = tcp_sink_then_reply(2 << 20);
        let f = start(
            vec![(bind_tcp("127.0.0.1:0").unwrap(), Proto::Tcp, sink)],
            opts(),
        );
        let mut c = client(f.addrs[0]);
        let data = pattern(300_000, 3);
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert_eq!(rx.recv_timeout(T).unwrap(), (data.len(), fnv(&data)));
        assert_eq!(got.len(), 2 << 20);
        assert_eq!(fnv(&got), fnv(&pattern(2 << 20, 7)));
        f.stop();
    }

    #[test]
    fn tcp_200_concurrent() {
        let echo = tcp_echo_server();
        let f = start(
            vec![(bind_tcp("127.0.0.1:0").unwrap(), Proto::Tcp, echo)],
            opts(),
        );
        let mut cs: Vec<TcpStream> = (0..200).map(|_| client(f.addrs[0])).collect();
        for (i, c) in cs.iter_mut().enumerate() {
            c.write_all(format!("conn {i:04}").as_bytes()).unwrap();
        }
        for (i, c) in cs.iter_mut().enumerate() {
            let mut buf = [0u8; 9];
            c.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, format!("conn {i:04}").as_bytes());
        }
        f.stop();
    }

    #[test]
    fn tcp_connect_refused_closes_client() {
        let dead = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let f = start(
            vec![(bind_tcp("127.0.0.1:0").unwrap(), Proto::Tcp, dead)],
            opts(),
        );
        for _ in 0..3 {
            let t0 = Instant::now();
            // The reset may come before connect() has returned.
            let mut c = match TcpStream::connect_timeout(&f.addrs[0], T) {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => continue,
                Err(e) => panic!("connect: {e}"),
            };
            c.set_read_timeout(Some(T)).unwrap();
            let mut buf = [0u8; 16];
            match c.read(&mut buf) {
                Ok(0) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                other => panic!("expected EOF or reset, got {other:?}"),
            }
            assert!(t0.elapsed() < Duration::from_secs(1));
        }
        f.stop();
    }

    #[test]
    fn tcp_reset_propagates_both_ways() {
        for client_resets in [true, false] {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let f = start(
                vec![(
                    bind_tcp("127.0.0.1:0").unwrap(),
                    Proto::Tcp,
                    l.local_addr().unwrap(),
                )],
                opts(),
            );
            let mut c = client(f.addrs[0]);
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(T)).unwrap();
            c.write_all(b"hi").unwrap();
            let mut buf = [0u8; 2];
            s.read_exact(&mut buf).unwrap();
            let (gone, mut other) = if client_resets { (c, s) } else { (s, c) };
            reset(OwnedFd::from(gone));
            let t0 = Instant::now();
            let mut rest = [0u8; 16];
            match other.read(&mut rest) {
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                r => panic!("expected a reset, got {r:?}"),
            }
            assert!(t0.elapsed() < Duration::from_secs(1));
            f.stop();
        }
    }

    #[test]
    fn idle_loop_does_not_spin() {
        let (sink, _rx) = tcp_sink_then_reply(10);
        let echo = tcp_echo_server();
        let f = start(
            vec![
                (bind_tcp("127.0.0.1:0").unwrap(), Proto::Tcp, sink),
                (bind_tcp("127.0.0.1:0").unwrap(), Proto::Tcp, echo),
                (
                    bind_udp("127.0.0.1:0").unwrap(),
                    Proto::Udp,
                    udp_echo_server(),
                ),
            ],
            opts(),
        );
        // A half-closed connection waiting for its reply, an idle one, a
        // client whose peer finished both ways but which has not read yet,
        // and a live UDP flow.
        let half = client(f.addrs[0]);
        half.shutdown(Shutdown::Write).unwrap();
        let mut idle = client(f.addrs[1]);
        idle.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        idle.read_exact(&mut b).unwrap();
        let done = client(f.addrs[1]);
        done.shutdown(Shutdown::Write).unwrap();
        let u = udp_client("127.0.0.1:0");
        u.send_to(b"u", f.addrs[2]).unwrap();
        u.recv_from(&mut b).unwrap();
        thread::sleep(Duration::from_millis(100));
        let t0 = f.cpu_ticks();
        thread::sleep(Duration::from_millis(500));
        let used = f.cpu_ticks() - t0;
        assert!(used <= 5, "forwarder used {used} ticks while idle");
        drop((half, done));
        f.stop();
    }

    /// Child side of `emfile_sheds_and_recovers`: a forwarder with 64 fds,
    /// stdin as its stop fd, its port on stdout.
    fn emfile_child(target: &str) {
        let lim = libc::rlimit {
            rlim_cur: 64,
            rlim_max: 64,
        };
        // SAFETY: lim is a live rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
        let fd = bind_tcp("127.0.0.1:0").unwrap();
        // Straight to fd 1: the test harness may capture println!.
        let line = format!("PORT {}\n", local_addr(fd.as_raw_fd()).unwrap().port());
        // SAFETY: writes from a live buffer of the stated length to fd 1.
        let n = unsafe { libc::write(1, line.as_ptr().cast(), line.len()) };
        assert_eq!(n, line.len() as isize);
        let port = Port {
            fd,
            proto: Proto::Tcp,
            target: target.parse().unwrap(),
            hairpin: false,
        };
        // SAFETY: fd 0 stays open for the whole call.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        serve(vec![port], stdin, &opts()).unwrap();
    }

    #[test]
    fn emfile_sheds_and_recovers() {
        if let Ok(t) = std::env::var("RRUN_FWD_EMFILE_TARGET") {
            return emfile_child(&t);
        }
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let echo = tcp_echo_server();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "forward::tests::emfile_sheds_and_recovers",
                "--exact",
                "--nocapture",
            ])
            .args(["--test-threads=1"])
            .env("RRUN_FWD_EMFILE_TARGET", echo.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = io::BufReader::new(child.stdout.take().unwrap());
        let mut port = None;
        let mut line = String::new();
        while port.is_none() && out.read_line(&mut line).unwrap() > 0 {
            // The harness may have printed "test … ... " on the same line.
            port = line
                .split("PORT ")
                .nth(1)
                .map(|p| p.trim().parse::<u16>().unwrap());
            line.clear();
        }
        let a: SocketAddr = format!("127.0.0.1:{}", port.expect("child port"))
            .parse()
            .unwrap();
        // Wait until the child's serve() listens.
        let t0 = Instant::now();
        let probe = loop {
            match TcpStream::connect(a) {
                Ok(s) => break s,
                Err(_) if t0.elapsed() < T => thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("child never listened: {e}"),
            }
        };
        drop(probe);
        // A shed connection is accepted and closed at once, so even the
        // connect itself may report the reset: that counts as not served.
        let echo_ok = |c: &mut Option<TcpStream>| {
            let Some(c) = c else { return false };
            c.set_read_timeout(Some(Duration::from_secs(2))).is_ok()
                && c.write_all(b"y").is_ok()
                && {
                    let mut b = [0u8; 1];
                    matches!(c.read(&mut b), Ok(1))
                }
        };
        // Far more connections than the child has fds for.
        let mut many: Vec<Option<TcpStream>> = (0..100)
            .map(|_| TcpStream::connect_timeout(&a, T).ok())
            .collect();
        let served = many.iter_mut().map(echo_ok).filter(|&ok| ok).count();
        assert!(served > 0 && served < 100, "served {served} of 100");
        // No spin while overloaded.
        let ticks = || -> u64 {
            let st = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
            let f: Vec<&str> = st[st.rfind(')').unwrap() + 2..].split(' ').collect();
            f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
        };
        let t = ticks();
        thread::sleep(Duration::from_millis(300));
        assert!(ticks() - t <= 5, "forwarder spins when out of fds");
        drop(many);
        // The forwarder sees the closes in its own time: wait until one
        // new client is served, then demand that all are.
        let t0 = Instant::now();
        while !echo_ok(&mut TcpStream::connect_timeout(&a, T).ok()) {
            assert!(t0.elapsed() < T, "not recovered after the clients left");
        }
        // Recovered: new clients are served normally, one after another
        // (20 at once would not fit in 64 fds beside a full pipe pool).
        for _ in 0..20 {
            assert!(echo_ok(&mut Some(client(a))), "not recovered");
        }
        drop(child.stdin.take());
        let t0 = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            assert!(t0.elapsed() < T, "child did not stop");
            thread::sleep(Duration::from_millis(10));
        };
        assert!(status.success());
    }

    #[test]
    fn udp_clients_get_own_replies() {
        let echo = udp_echo_server();
        let f = start(
            vec![(bind_udp("127.0.0.1:0").unwrap(), Proto::Udp, echo)],
            opts(),
        );
        let a = udp_client("127.0.0.1:0");
        let b = udp_client("127.0.0.1:0");
        for i in 0..20 {
            a.send_to(format!("A{i}").as_bytes(), f.addrs[0]).unwrap();
            b.send_to(format!("B{i}").as_bytes(), f.addrs[0]).unwrap();
        }
        for (s, p) in [(&a, b'A'), (&b, b'B')] {
            let mut seen = 0;
            let mut buf = [0u8; 64];
            while seen < 20 {
                let (n, from) = s.recv_from(&mut buf).unwrap();
                assert_eq!(from, f.addrs[0]);
                assert!(n > 1 && buf[0] == p, "foreign reply {:?}", &buf[..n]);
                seen += 1;
            }
        }
        f.stop();
    }

    #[test]
    fn udp_max_datagram_intact() {
        let echo = udp_echo_server();
        let f = start(
            vec![(bind_udp("127.0.0.1:0").unwrap(), Proto::Udp, echo)],
            opts(),
        );
        let c = udp_client("127.0.0.1:0");
        let data = pattern(65_507, 9);
        c.send_to(&data, f.addrs[0]).unwrap();
        let mut buf = vec![0u8; 70_000];
        let (n, _) = c.recv_from(&mut buf).unwrap();
        assert_eq!(n, 65_507);
        assert_eq!(&buf[..n], &data[..]);
        f.stop();
    }

    fn who(c: &UdpSocket, to: SocketAddr) -> String {
        c.send_to(b"who", to).unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = c.recv_from(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn udp_flows_expire_and_table_bounded() {
        let echo = udp_echo_server();
        let o = Options {
            udp_idle: Duration::from_millis(150),
            udp_max_flows: 2,
            pipe_pool: 4,
            transparent: false,
        };
        let f = start(
            vec![(bind_udp("127.0.0.1:0").unwrap(), Proto::Udp, echo)],
            o,
        );
        let to = f.addrs[0];
        let (a, b, c) = (
            udp_client("127.0.0.1:0"),
            udp_client("127.0.0.1:0"),
            udp_client("127.0.0.1:0"),
        );
        let a1 = who(&a, to);
        assert_eq!(who(&a, to), a1, "a flow is reused");
        let _b1 = who(&b, to);
        let c1 = who(&c, to); // evicts a (least recently used)
        let a2 = who(&a, to); // evicts b
        assert_ne!(a1, a2, "a's flow should have been evicted");
        assert_eq!(who(&c, to), c1, "c's flow should still be there");
        thread::sleep(Duration::from_millis(400));
        assert_ne!(who(&c, to), c1, "c's flow should have expired");
        f.stop();
    }

    #[test]
    fn udp_wildcard_replies_from_used_address() {
        let echo = udp_echo_server();
        let f = start(
            vec![(bind_udp("0.0.0.0:0").unwrap(), Proto::Udp, echo)],
            opts(),
        );
        let port = f.addrs[0].port();
        let c = udp_client("127.0.0.1:0");
        for ip in ["127.0.0.2", "127.0.0.1"] {
            let to: SocketAddr = format!("{ip}:{port}").parse().unwrap();
            c.send_to(b"ping", to).unwrap();
            let mut buf = [0u8; 16];
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"ping");
            assert_eq!(from, to, "reply must come from the address the client used");
        }
        f.stop();
    }

    #[test]
    fn ipv6_listener_to_ipv4_target() {
        let (Ok(t6), Ok(u6)) = (bind_tcp("[::1]:0"), bind_udp("[::1]:0")) else {
            eprintln!("no ::1 here; skipping");
            return;
        };
        let w6 = bind_udp("[::]:0").unwrap();
        let f = start(
            vec![
                (t6, Proto::Tcp, tcp_echo_server()),
                (u6, Proto::Udp, udp_echo_server()),
                (w6, Proto::Udp, udp_echo_server()),
            ],
            opts(),
        );
        let mut c = client(f.addrs[0]);
        c.write_all(b"v6 to v4").unwrap();
        let mut buf = [0u8; 8];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"v6 to v4");
        let u = udp_client("[::1]:0");
        u.send_to(b"dgram6", f.addrs[1]).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = u.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"dgram6");
        assert_eq!(from, f.addrs[1]);
        // A wildcard IPv6 listener (IPV6_PKTINFO path).
        let to: SocketAddr = format!("[::1]:{}", f.addrs[2].port()).parse().unwrap();
        u.send_to(b"wild6", to).unwrap();
        let (n, from) = u.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"wild6");
        assert_eq!(from, to);
        f.stop();
    }

    #[test]
    fn stop_closes_listeners_and_connections() {
        let echo = tcp_echo_server();
        let f = start(
            vec![(bind_tcp("127.0.0.1:0").unwrap(), Proto::Tcp, echo)],
            opts(),
        );
        let a = f.addrs[0];
        let mut c = client(a);
        c.write_all(b"x").unwrap();
        let mut buf = [0u8; 1];
        c.read_exact(&mut buf).unwrap();
        f.stop();
        match c.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            other => panic!("connection survived stop: {other:?}"),
        }
        let e = TcpStream::connect_timeout(&a, T).expect_err("listener survived stop");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }
}
