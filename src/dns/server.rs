//! The embedded DNS server's loop: one thread polls the UDP socket, the TCP
//! listener and every forward in flight; it answers the network's own
//! names (asking `Names`) and relays every other query to the upstream
//! servers. It owns the sockets handed to it, one connected UDP socket per
//! forward in flight, and a thread per TCP connection (a few at most); it
//! returns when `stop` becomes readable or hangs up, closing them all.
//!
//! Choices, and where they differ from Docker's resolver:
//! - Names of ours are answered with TTL 600, addresses rotated from one
//!   answer to the next (round robin over a name's containers). A UDP
//!   answer that would exceed 512 bytes is truncated with TC set (no EDNS
//!   here: see wire.rs) and the client retries over TCP.
//! - A single-label name (no dot) that is not ours is answered NXDOMAIN
//!   here, never forwarded: with ndots:0 such a name is almost always a
//!   container's, and sending it out would only leak it and be slow.
//!   (Docker forwards those too.)
//! - With no upstream server, other names get SERVFAIL.
//! - A UDP forward goes from a socket of its own, connected to the
//!   server (so only that server's replies reach it, from a fresh
//!   ephemeral port), with a fresh random id; the reply is relayed byte
//!   for byte but for the id. A server that does not answer within
//!   `Upstream::timeout` (or refuses: ICMP port unreachable) is followed by
//!   the next; after the last, SERVFAIL. At most `Limits::max_forwards`
//!   forwards are in flight: beyond that the oldest is answered SERVFAIL.
//!   The upstream sockets are made in the network namespace this runs in.
//! - TCP: each connection is served by a thread of its own (at most
//!   `Limits::max_tcp`; more are closed at once), with read and write
//!   timeouts, any number of queries per connection. `Names` is only ever
//!   used by the loop's thread: a connection's thread hands the parsed
//!   query to the loop (a channel and a pipe to wake it) and gets back the
//!   answer or "forward". It forwards over TCP, on a connection of its own
//!   to each upstream server in turn (the id is kept: nobody else is on
//!   that connection).
//! - A message that is a response is dropped (never reflected); a message
//!   with a whole header that is not a readable standard query gets
//!   FORMERR (NOTIMP for another opcode); anything shorter is dropped.

use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket,
};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::pipe2;

use super::wire::{self, Query, WireError};

/// The TTL of the answers about our names (Docker's).
pub const TTL: u32 = 600;

/// What `Names::lookup` knows of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The name is ours (a container on the network): its addresses.
    Found(Vec<IpAddr>),
    /// Not ours: forward it.
    NotOurs,
}

/// The names the server answers for itself.
pub trait Names {
    /// `name`: lowercased, no trailing dot. Called once per query; must be
    /// cheap (the implementer caches).
    fn lookup(&mut self, name: &str) -> Lookup;
    /// A reverse lookup of a container's address: its name (first name),
    /// or None (then forward).
    fn reverse(&mut self, ip: IpAddr) -> Option<String>;
}

/// Where other names go.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Tried in this order; empty: no forwarding (SERVFAIL).
    pub servers: Vec<SocketAddr>,
    /// How long each server is given to answer.
    pub timeout: Duration,
}

/// Bounds on what the server holds at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// UDP forwards in flight (one socket each).
    pub max_forwards: usize,
    /// TCP connections (one thread each).
    pub max_tcp: usize,
    /// Read and write timeout of a TCP client's connection.
    pub tcp_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_forwards: 256,
            max_tcp: 16,
            tcp_timeout: Duration::from_secs(5),
        }
    }
}

/// Failures that stop the server. A failure of one query, connection or
/// forward never does.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("dns: making the UDP socket nonblocking: {0}")]
    UdpNonblocking(#[source] io::Error),
    #[error("dns: making the TCP listener nonblocking: {0}")]
    TcpNonblocking(#[source] io::Error),
    #[error("dns: creating a pipe: {0}")]
    Pipe(#[source] Errno),
    #[error("dns: poll: {0}")]
    Poll(#[source] Errno),
}

/// Datagrams read, or connections accepted, per wake-up.
const BURST: usize = 64;
/// How long the listener is left unpolled when accept() keeps failing
/// (out of descriptors).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Serves until `stop` is readable or hung up, with the default `Limits`.
pub fn serve(
    udp: UdpSocket,
    tcp: TcpListener,
    names: &mut impl Names,
    up: &Upstream,
    stop: Option<BorrowedFd<'_>>,
) -> Result<(), ServeError> {
    serve_with(udp, tcp, names, up, stop, Limits::default())
}

/// `serve` with other limits.
pub fn serve_with(
    udp: UdpSocket,
    tcp: TcpListener,
    names: &mut impl Names,
    up: &Upstream,
    stop: Option<BorrowedFd<'_>>,
    limits: Limits,
) -> Result<(), ServeError> {
    udp.set_nonblocking(true)
        .map_err(ServeError::UdpNonblocking)?;
    tcp.set_nonblocking(true)
        .map_err(ServeError::TcpNonblocking)?;
    let (wake_r, wake_w) = pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).map_err(ServeError::Pipe)?;
    let (tx, rx) = mpsc::channel();
    let mut s = Server {
        names,
        up: Arc::new(up.clone()),
        limits,
        udp,
        tcp,
        wake_r,
        wake_w: Arc::new(wake_w),
        tx,
        rx,
        forwards: VecDeque::new(),
        conns: HashMap::new(),
        next_conn: 0,
        ids: Ids::new(),
        rotate: 0,
        buf: vec![0; wire::MAX_MESSAGE + 1],
        accept_paused: None,
    };
    let r = s.run(stop);
    // Wakes the connections' threads (blocked in a read) so they end now.
    for c in s.conns.values() {
        let _ = c.shutdown(Shutdown::Both);
    }
    r
}

/// The loop's answer to a query.
enum Decision {
    Reply(Vec<u8>),
    Forward,
}

/// From a TCP connection's thread to the loop.
enum ToLoop {
    Query(Query, Sender<Decision>),
    Closed(u64),
}

/// A UDP query forwarded to `up.servers[server]`, waiting for its reply.
struct Forward {
    sock: UdpSocket,
    client: SocketAddr,
    query: Query,
    /// The client's message, as it came.
    msg: Vec<u8>,
    /// The id the server was sent.
    id: u16,
    server: usize,
    deadline: Instant,
}

struct Server<'a, N> {
    names: &'a mut N,
    up: Arc<Upstream>,
    limits: Limits,
    udp: UdpSocket,
    tcp: TcpListener,
    wake_r: OwnedFd,
    wake_w: Arc<OwnedFd>,
    tx: Sender<ToLoop>,
    rx: Receiver<ToLoop>,
    /// Oldest first.
    forwards: VecDeque<Forward>,
    /// The live TCP connections (a clone of each, to shut it down).
    conns: HashMap<u64, TcpStream>,
    next_conn: u64,
    ids: Ids,
    rotate: usize,
    buf: Vec<u8>,
    accept_paused: Option<Instant>,
}

fn any_event(r: PollFlags) -> bool {
    !r.is_empty()
}

impl<N: Names> Server<'_, N> {
    fn run(&mut self, stop: Option<BorrowedFd<'_>>) -> Result<(), ServeError> {
        loop {
            let now = Instant::now();
            if self.accept_paused.is_some_and(|t| t <= now) {
                self.accept_paused = None;
            }
            let deadline = self
                .forwards
                .iter()
                .map(|f| f.deadline)
                .chain(self.accept_paused)
                .min();
            let timeout = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let ms = d.saturating_duration_since(now).as_micros().div_ceil(1000);
                    PollTimeout::try_from(ms.min(i32::MAX as u128) as i32)
                        .unwrap_or(PollTimeout::MAX)
                }
            };
            let revents = {
                let mut fds = Vec::with_capacity(4 + self.forwards.len());
                let inp = PollFlags::POLLIN;
                fds.push(PollFd::new(self.udp.as_fd(), inp));
                fds.push(PollFd::new(self.wake_r.as_fd(), inp));
                let accepting = self.accept_paused.is_none();
                let tcp_events = if accepting { inp } else { PollFlags::empty() };
                fds.push(PollFd::new(self.tcp.as_fd(), tcp_events));
                for f in &self.forwards {
                    fds.push(PollFd::new(f.sock.as_fd(), inp));
                }
                if let Some(stop) = stop {
                    fds.push(PollFd::new(stop, inp));
                }
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(ServeError::Poll(e)),
                }
                fds.iter()
                    .map(|f| f.revents().unwrap_or(PollFlags::POLLIN))
                    .collect::<Vec<_>>()
            };
            if stop.is_some() && revents.last().copied().is_some_and(any_event) {
                return Ok(());
            }
            // The forwards' replies, highest index first: handling one
            // removes it, or replaces it in place.
            for i in (0..self.forwards.len()).rev() {
                if any_event(revents[3 + i]) {
                    self.forward_readable(i);
                }
            }
            let now = Instant::now();
            for i in (0..self.forwards.len()).rev() {
                if self.forwards[i].deadline <= now {
                    self.next_server(i);
                }
            }
            if any_event(revents[0]) {
                self.udp_readable();
            }
            if revents[0].contains(PollFlags::POLLERR) {
                drain_error_queue(&self.udp);
            }
            if any_event(revents[1]) {
                self.connections_ready();
            }
            if any_event(revents[2]) && self.accept_paused.is_none() {
                self.accept();
            }
        }
    }

    /// What to do with a query: the answer when the name is ours (or
    /// settled here), else Forward.
    fn decide(&mut self, q: &Query, limit: usize) -> Decision {
        let class_in = q.qclass == wire::CLASS_IN || q.qclass == wire::CLASS_ANY;
        if class_in && q.labels > 0 {
            if let Some(ip) = wire::parse_reverse(&q.name) {
                if let Some(target) = self.names.reverse(ip) {
                    return Decision::Reply(
                        if matches!(q.qtype, wire::TYPE_PTR | wire::TYPE_ANY) {
                            wire::ptr_answer(q, &target, TTL)
                        } else {
                            wire::answer(q, &[], TTL)
                        },
                    );
                }
            } else if let Lookup::Found(mut addrs) = self.names.lookup(&q.name) {
                if !addrs.is_empty() {
                    let n = self.rotate % addrs.len();
                    addrs.rotate_left(n);
                    self.rotate = self.rotate.wrapping_add(1);
                }
                return Decision::Reply(wire::answer_within(q, &addrs, TTL, limit));
            }
        }
        if q.labels == 1 {
            return Decision::Reply(wire::error(q, wire::NXDOMAIN));
        }
        if self.up.servers.is_empty() {
            return Decision::Reply(wire::error(q, wire::SERVFAIL));
        }
        Decision::Forward
    }

    fn udp_readable(&mut self) {
        for _ in 0..BURST {
            let (n, client) = match self.udp.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // ECONNREFUSED and the like, left by an earlier send: not
                // about the next datagram.
                Err(_) => continue,
            };
            let msg = self.buf[..n].to_vec();
            let q = match wire::parse_query(&msg) {
                Ok(q) => q,
                Err(e) => {
                    if let Some(r) = malformed(&msg, &e) {
                        let _ = self.udp.send_to(&r, client);
                    }
                    continue;
                }
            };
            match self.decide(&q, wire::UDP_LIMIT) {
                Decision::Reply(r) => {
                    let _ = self.udp.send_to(&r, client);
                }
                Decision::Forward => {
                    if self.forwards.len() >= self.limits.max_forwards.max(1)
                        && let Some(old) = self.forwards.pop_front()
                    {
                        self.fail(&old);
                    }
                    if let Some(f) = self.send_forward(client, q, msg, 0) {
                        self.forwards.push_back(f);
                    }
                }
            }
        }
    }

    /// Sends the query to the first server from `from` on that takes it;
    /// None (the client told SERVFAIL) when none does.
    fn send_forward(
        &mut self,
        client: SocketAddr,
        query: Query,
        msg: Vec<u8>,
        from: usize,
    ) -> Option<Forward> {
        for server in from..self.up.servers.len() {
            let id = self.ids.next();
            if let Ok(sock) = forward_socket(self.up.servers[server], &wire::with_id(&msg, id)) {
                return Some(Forward {
                    sock,
                    client,
                    query,
                    msg,
                    id,
                    server,
                    deadline: Instant::now() + self.up.timeout,
                });
            }
        }
        let _ = self
            .udp
            .send_to(&wire::error(&query, wire::SERVFAIL), client);
        None
    }

    fn fail(&self, f: &Forward) {
        let _ = self
            .udp
            .send_to(&wire::error(&f.query, wire::SERVFAIL), f.client);
    }

    /// Forward `i`'s server failed: on to the next, in its place.
    fn next_server(&mut self, i: usize) {
        let Some(f) = self.forwards.remove(i) else {
            return;
        };
        if let Some(next) = self.send_forward(f.client, f.query, f.msg, f.server + 1) {
            self.forwards.insert(i, next);
        }
    }

    fn forward_readable(&mut self, i: usize) {
        for _ in 0..BURST {
            let f = &self.forwards[i];
            match f.sock.recv(&mut self.buf) {
                Ok(n) => {
                    let reply = &mut self.buf[..n];
                    if wire::reply_matches(reply, f.id, &f.query.question) {
                        wire::set_id(reply, f.query.id);
                        let _ = self.udp.send_to(reply, f.client);
                        self.forwards.remove(i);
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.next_server(i);
                    return;
                }
            }
        }
    }

    fn connections_ready(&mut self) {
        let mut sink = [0u8; 64];
        while nix::unistd::read(self.wake_r.as_raw_fd(), &mut sink).is_ok_and(|n| n > 0) {}
        while let Ok(m) = self.rx.try_recv() {
            match m {
                ToLoop::Query(q, reply) => {
                    let d = self.decide(&q, wire::MAX_MESSAGE);
                    let _ = reply.send(d);
                }
                ToLoop::Closed(id) => {
                    self.conns.remove(&id);
                }
            }
        }
    }

    fn accept(&mut self) {
        for _ in 0..BURST {
            let stream = match self.tcp.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue;
                }
                Err(_) => {
                    self.accept_paused = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            };
            if self.conns.len() >= self.limits.max_tcp {
                continue; // closed as it is dropped
            }
            let Ok(keep) = stream.try_clone() else {
                continue;
            };
            let ready = stream.set_nonblocking(false).is_ok()
                && stream
                    .set_read_timeout(Some(self.limits.tcp_timeout))
                    .is_ok()
                && stream
                    .set_write_timeout(Some(self.limits.tcp_timeout))
                    .is_ok();
            if !ready {
                continue;
            }
            let id = self.next_conn;
            self.next_conn += 1;
            let (tx, wake, up) = (self.tx.clone(), self.wake_w.clone(), self.up.clone());
            let spawned = std::thread::Builder::new()
                .name("dns-tcp".into())
                .spawn(move || connection(stream, id, &tx, &wake, &up));
            if spawned.is_ok() {
                self.conns.insert(id, keep);
            }
        }
    }
}

/// The answer to a message that is not a readable query, if any.
fn malformed(msg: &[u8], e: &WireError) -> Option<Vec<u8>> {
    match e {
        WireError::Short(_) | WireError::Response => None,
        WireError::Opcode(_) => wire::error_header(msg, wire::NOTIMP),
        _ => wire::error_header(msg, wire::FORMERR),
    }
}

/// Empties the socket's error queue. Only a socket with IP_RECVERR (set by
/// whoever made it) queues ICMP errors there, and poll reports POLLERR
/// until they are read: the loop would spin.
fn drain_error_queue(sock: &UdpSocket) {
    let mut buf = [0u8; 512];
    let mut control = [0u8; 512];
    for _ in 0..BURST {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain old data; all-zero is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len();
        // SAFETY: msg points at iov, buf and control, which outlive the
        // call and are writable for the lengths given.
        let n = unsafe {
            libc::recvmsg(
                sock.as_raw_fd(),
                &mut msg,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return;
        }
    }
}

/// A nonblocking UDP socket connected to `server`, `msg` sent on it.
fn forward_socket(server: SocketAddr, msg: &[u8]) -> io::Result<UdpSocket> {
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(any)?;
    sock.connect(server)?;
    sock.set_nonblocking(true)?;
    sock.send(msg)?;
    Ok(sock)
}

/// Wakes the loop (a full pipe already does).
fn poke(wake: &OwnedFd) {
    let _ = nix::unistd::write(wake, &[1]);
}

/// Serves one TCP client until it closes, times out or sends something
/// that is not a query.
fn connection(mut s: TcpStream, id: u64, tx: &Sender<ToLoop>, wake: &OwnedFd, up: &Upstream) {
    while let Some(msg) = read_frame(&mut s) {
        let reply = match wire::parse_query(&msg) {
            Ok(q) => {
                let (dtx, drx) = mpsc::channel();
                if tx.send(ToLoop::Query(q.clone(), dtx)).is_err() {
                    break;
                }
                poke(wake);
                match drx.recv() {
                    Ok(Decision::Reply(r)) => r,
                    Ok(Decision::Forward) => forward_tcp(&msg, &q, up),
                    Err(_) => break,
                }
            }
            Err(e) => match malformed(&msg, &e) {
                Some(r) => r,
                None => break,
            },
        };
        if write_frame(&mut s, &reply).is_err() {
            break;
        }
    }
    let _ = tx.send(ToLoop::Closed(id));
    poke(wake);
}

/// Asks each upstream server in turn over TCP; SERVFAIL when none answers.
fn forward_tcp(msg: &[u8], q: &Query, up: &Upstream) -> Vec<u8> {
    for &server in &up.servers {
        if let Some(r) = ask_tcp(server, msg, q, up.timeout) {
            return r;
        }
    }
    wire::error(q, wire::SERVFAIL)
}

fn ask_tcp(server: SocketAddr, msg: &[u8], q: &Query, timeout: Duration) -> Option<Vec<u8>> {
    let mut c = TcpStream::connect_timeout(&server, timeout).ok()?;
    c.set_read_timeout(Some(timeout)).ok()?;
    c.set_write_timeout(Some(timeout)).ok()?;
    write_frame(&mut c, msg).ok()?;
    let reply = read_frame(&mut c)?;
    wire::reply_matches(&reply, q.id, &q.question).then_some(reply)
}

/// One length-prefixed message; None at EOF, on an error or timeout, or
/// for an empty message.
fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let len = usize::from(u16::from_be_bytes(len));
    if len == 0 {
        return None;
    }
    let mut msg = vec![0u8; len];
    s.read_exact(&mut msg).ok()?;
    Some(msg)
}

fn write_frame(s: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(|_| io::Error::from(ErrorKind::InvalidInput))?;
    let mut frame = Vec::with_capacity(2 + msg.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(msg);
    s.write_all(&frame)
}

/// Ids for forwarded queries: xorshift64*, seeded from getrandom(2) (the
/// clock and pid if that fails). Not a cryptographic generator; with a
/// fresh source port per forward it is what stub resolvers offer.
struct Ids(u64);

impl Ids {
    fn new() -> Ids {
        let mut seed = [0u8; 8];
        // SAFETY: getrandom writes at most `seed.len()` bytes into `seed`,
        // which lives across the call.
        let n =
            unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), libc::GRND_NONBLOCK) };
        let mut s = u64::from_ne_bytes(seed);
        if n != 8 {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            s ^= t ^ u64::from(std::process::id()).rotate_left(32);
        }
        Ids(s | 1)
    }

    fn next(&mut self) -> u16 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 48) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::sync::mpsc::RecvTimeoutError;
    use std::thread;

    const WAIT: Duration = Duration::from_secs(5);
    /// The fake upstream's TTL, to tell its answers from ours.
    const UP_TTL: u32 = 42;
    const UP_ADDR: &str = "192.0.2.1";

    struct TestNames;

    impl Names for TestNames {
        fn lookup(&mut self, name: &str) -> Lookup {
            let ips: &[&str] = match name {
                "web" | "web.mynet" => &["172.18.0.2"],
                "dual" => &["172.18.0.3", "fd00::3"],
                "many" => &[],
                "empty" => return Lookup::Found(vec![]),
                _ => return Lookup::NotOurs,
            };
            if name == "many" {
                return Lookup::Found(
                    (1..=40u8)
                        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 1, 0, i)))
                        .collect(),
                );
            }
            Lookup::Found(ips.iter().map(|s| s.parse().unwrap()).collect())
        }
        fn reverse(&mut self, ip: IpAddr) -> Option<String> {
            (ip == IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2))).then(|| "web.mynet".to_string())
        }
    }

    struct Running {
        udp: SocketAddr,
        tcp: SocketAddr,
        stop: Option<OwnedFd>,
        done: Receiver<Result<(), ServeError>>,
    }

    fn start(servers: Vec<SocketAddr>, timeout: Duration, limits: Limits) -> Running {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let (udp_addr, tcp_addr) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
        let (r, w) = pipe2(OFlag::O_CLOEXEC).unwrap();
        let (tx, done) = mpsc::channel();
        thread::spawn(move || {
            let up = Upstream { servers, timeout };
            let _ = tx.send(serve_with(
                udp,
                tcp,
                &mut TestNames,
                &up,
                Some(r.as_fd()),
                limits,
            ));
        });
        Running {
            udp: udp_addr,
            tcp: tcp_addr,
            stop: Some(w),
            done,
        }
    }

    impl Running {
        fn stop(mut self) {
            nix::unistd::write(self.stop.take().unwrap(), b"x").unwrap();
            self.done
                .recv_timeout(WAIT)
                .expect("serve returns when told")
                .unwrap();
        }
    }

    fn client() -> UdpSocket {
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        c
    }

    fn recv(c: &UdpSocket) -> Vec<u8> {
        let mut buf = [0u8; 65536];
        let n = c.recv(&mut buf).expect("an answer in time");
        buf[..n].to_vec()
    }

    fn ask(to: SocketAddr, msg: &[u8]) -> Vec<u8> {
        let c = client();
        c.send_to(msg, to).unwrap();
        recv(&c)
    }

    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        wire::query(id, name, qtype).unwrap()
    }

    fn rcode(m: &[u8]) -> u8 {
        m[3] & 0x0f
    }

    fn count(m: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([m[at], m[at + 1]])
    }

    /// The first answer record's TTL and data (the records start after
    /// the question, which here is always the query's).
    fn first_record(m: &[u8], qlen: usize) -> (u32, Vec<u8>) {
        let p = wire::HEADER_LEN + qlen;
        let ttl = u32::from_be_bytes(m[p + 6..p + 10].try_into().unwrap());
        let len = usize::from(count(m, p + 10));
        (ttl, m[p + 12..p + 12 + len].to_vec())
    }

    fn qlen(msg: &[u8]) -> usize {
        wire::parse_query(msg).unwrap().question.len()
    }

    /// A fake upstream on one port, UDP and TCP: answers every query with
    /// UP_ADDR (TTL UP_TTL) and reports what it was sent.
    struct Fake {
        addr: SocketAddr,
        seen: Receiver<Vec<u8>>,
    }

    fn fake() -> Fake {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        let udp = UdpSocket::bind(addr).unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let (tx, seen) = mpsc::channel();
        let tx2 = tx.clone();
        let up = |m: &[u8]| {
            let q = wire::parse_query(m).unwrap();
            wire::answer(&q, &[UP_ADDR.parse().unwrap()], UP_TTL)
        };
        thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok((n, from)) = udp.recv_from(&mut buf) {
                let _ = tx.send(buf[..n].to_vec());
                let _ = udp.send_to(&up(&buf[..n]), from);
            }
        });
        thread::spawn(move || {
            while let Ok((mut c, _)) = tcp.accept() {
                c.set_read_timeout(Some(WAIT)).unwrap();
                while let Some(m) = read_frame(&mut c) {
                    let _ = tx2.send(m.clone());
                    write_frame(&mut c, &up(&m)).unwrap();
                }
            }
        });
        Fake { addr, seen }
    }

    /// A port where nothing listens (ICMP port unreachable; TCP RST).
    fn closed_port() -> SocketAddr {
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    #[test]
    fn answers_our_names() {
        let s = start(vec![], WAIT, Limits::default());
        let q = query(0x4242, "Web", wire::TYPE_A);
        let a = ask(s.udp, &q);
        assert_eq!(
            &a[..4],
            &[0x42, 0x42, 0x85, 0x80],
            "id, QR AA RD, RA NOERROR"
        );
        assert_eq!(count(&a, 6), 1);
        assert_eq!(first_record(&a, qlen(&q)), (TTL, vec![172, 18, 0, 2]));
        // With the network's name too (what Names says).
        let a = ask(s.udp, &query(1, "web.mynet", wire::TYPE_A));
        assert_eq!((rcode(&a), count(&a, 6)), (wire::NOERROR, 1));
        // AAAA of a name with only IPv4: NODATA; of one with both: the one.
        let a = ask(s.udp, &query(2, "web", wire::TYPE_AAAA));
        assert_eq!(
            (rcode(&a), count(&a, 6), a[2] & 0x04),
            (wire::NOERROR, 0, 0x04)
        );
        let q = query(3, "dual", wire::TYPE_AAAA);
        let a = ask(s.udp, &q);
        assert_eq!(count(&a, 6), 1);
        assert_eq!(
            first_record(&a, qlen(&q)).1,
            "fd00::3".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(count(&ask(s.udp, &query(4, "dual", wire::TYPE_ANY)), 6), 2);
        // MX of ours, and a name of ours with no address: NODATA.
        let a = ask(s.udp, &query(5, "web", 15));
        assert_eq!((rcode(&a), count(&a, 6)), (wire::NOERROR, 0));
        let a = ask(s.udp, &query(6, "empty", wire::TYPE_A));
        assert_eq!((rcode(&a), count(&a, 6)), (wire::NOERROR, 0));
        s.stop();
    }

    #[test]
    fn round_robin_over_a_names_addresses() {
        let s = start(vec![], WAIT, Limits::default());
        let q = query(1, "dual", wire::TYPE_ANY);
        let firsts: Vec<_> = (0..2)
            .map(|_| first_record(&ask(s.udp, &q), qlen(&q)).1.len())
            .collect();
        assert_eq!(firsts, [4, 16], "rotated from one answer to the next");
        s.stop();
    }

    #[test]
    fn single_labels_are_nxdomain_and_never_forwarded() {
        let up = fake();
        let s = start(vec![up.addr], WAIT, Limits::default());
        let a = ask(s.udp, &query(9, "nope", wire::TYPE_A));
        assert_eq!(&a[..4], &[0, 9, 0x85, 0x83], "AA, NXDOMAIN");
        assert_eq!(count(&a, 4), 1);
        // The next query is forwarded: the first the upstream sees.
        ask(s.udp, &query(10, "example.com", wire::TYPE_A));
        assert_eq!(
            wire::parse_query(&up.seen.recv_timeout(WAIT).unwrap())
                .unwrap()
                .name,
            "example.com"
        );
        s.stop();
    }

    #[test]
    fn without_upstream_other_names_get_servfail() {
        let s = start(vec![], WAIT, Limits::default());
        let a = ask(s.udp, &query(7, "example.com", wire::TYPE_A));
        assert_eq!((rcode(&a), count(&a, 6)), (wire::SERVFAIL, 0));
        // Over TCP too.
        let mut c = TcpStream::connect(s.tcp).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        write_frame(&mut c, &query(8, "example.com", wire::TYPE_A)).unwrap();
        assert_eq!(rcode(&read_frame(&mut c).unwrap()), wire::SERVFAIL);
        s.stop();
    }

    #[test]
    fn forwards_other_names() {
        let up = fake();
        let s = start(vec![up.addr], WAIT, Limits::default());
        let c = client();
        let mut ids = vec![];
        for id in [0x1111u16, 0x2222, 0x3333] {
            let q = query(id, "Example.COM", wire::TYPE_A);
            c.send_to(&q, s.udp).unwrap();
            let a = recv(&c);
            let sent = up.seen.recv_timeout(WAIT).unwrap();
            // Relayed both ways unchanged but for the id.
            assert_eq!(&sent[2..], &q[2..]);
            ids.push(count(&sent, 0));
            let want = wire::with_id(
                &wire::answer(
                    &wire::parse_query(&sent).unwrap(),
                    &[UP_ADDR.parse().unwrap()],
                    UP_TTL,
                ),
                id,
            );
            assert_eq!(a, want);
            assert_eq!(first_record(&a, qlen(&q)), (UP_TTL, vec![192, 0, 2, 1]));
        }
        assert_ne!(ids, [0x1111, 0x2222, 0x3333], "fresh ids upstream");
        // Reverse lookups of addresses not ours go out too.
        let a = ask(s.udp, &query(5, "9.9.9.10.in-addr.arpa", wire::TYPE_PTR));
        assert_eq!(count(&a, 0), 5);
        assert_eq!(
            wire::parse_query(&up.seen.recv_timeout(WAIT).unwrap())
                .unwrap()
                .name,
            "9.9.9.10.in-addr.arpa"
        );
        // As do other classes (CH here).
        let mut ch = query(6, "version.bind", 16);
        let n = ch.len();
        ch[n - 1] = 3;
        ask(s.udp, &ch);
        assert_eq!(up.seen.recv_timeout(WAIT).unwrap()[2..], ch[2..]);
        s.stop();
    }

    #[test]
    fn reverse_lookups_of_ours() {
        let up = fake();
        let s = start(vec![up.addr], WAIT, Limits::default());
        let q = query(3, "2.0.18.172.in-addr.arpa", wire::TYPE_PTR);
        let a = ask(s.udp, &q);
        assert_eq!(
            (rcode(&a), count(&a, 6), a[2] & 0x04),
            (wire::NOERROR, 1, 0x04)
        );
        assert_eq!(
            first_record(&a, qlen(&q)),
            (TTL, b"\x03web\x05mynet\x00".to_vec())
        );
        // Another type of that name: NODATA.
        let a = ask(s.udp, &query(4, "2.0.18.172.in-addr.arpa", wire::TYPE_A));
        assert_eq!((rcode(&a), count(&a, 6)), (wire::NOERROR, 0));
        assert_eq!(
            up.seen.recv_timeout(Duration::from_millis(100)),
            Err(RecvTimeoutError::Timeout)
        );
        s.stop();
    }

    #[test]
    fn falls_back_to_the_next_server_on_timeout() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        silent.set_read_timeout(Some(WAIT)).unwrap();
        let up = fake();
        let s = start(
            vec![silent.local_addr().unwrap(), up.addr],
            Duration::from_millis(200),
            Limits::default(),
        );
        let t = Instant::now();
        let a = ask(s.udp, &query(77, "example.com", wire::TYPE_A));
        assert!(t.elapsed() >= Duration::from_millis(200));
        assert_eq!((count(&a, 0), rcode(&a)), (77, wire::NOERROR));
        assert_eq!(
            first_record(&a, qlen(&query(77, "example.com", 1))).0,
            UP_TTL
        );
        // The first server was asked first.
        let mut buf = [0u8; 512];
        let n = silent.recv(&mut buf).unwrap();
        assert_eq!(&buf[2..n], &query(77, "example.com", wire::TYPE_A)[2..]);
        s.stop();
    }

    #[test]
    fn falls_back_at_once_when_refused() {
        let up = fake();
        // A timeout longer than the client waits: only the ICMP error can
        // move on in time.
        let s = start(
            vec![closed_port(), up.addr],
            Duration::from_secs(60),
            Limits::default(),
        );
        let a = ask(s.udp, &query(78, "example.com", wire::TYPE_A));
        assert_eq!((count(&a, 0), rcode(&a)), (78, wire::NOERROR));
        s.stop();
    }

    #[test]
    fn servfail_when_every_server_fails() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let s = start(
            vec![closed_port(), silent.local_addr().unwrap()],
            Duration::from_millis(100),
            Limits::default(),
        );
        let q = query(79, "example.com", wire::TYPE_A);
        let a = ask(s.udp, &q);
        assert_eq!(&a[..4], &[0, 79, 0x81, 0x82], "QR RD, RA SERVFAIL");
        assert_eq!(&a[12..], &q[12..], "the question echoed");
        s.stop();
    }

    #[test]
    fn ignores_replies_that_do_not_match() {
        // An upstream that first answers with a wrong id, then another
        // question, then rightly.
        let up = UdpSocket::bind("127.0.0.1:0").unwrap();
        up.set_read_timeout(Some(WAIT)).unwrap();
        let s = start(vec![up.local_addr().unwrap()], WAIT, Limits::default());
        let c = client();
        c.send_to(&query(5, "example.com", wire::TYPE_A), s.udp)
            .unwrap();
        let mut buf = [0u8; 512];
        let (n, from) = up.recv_from(&mut buf).unwrap();
        let q = wire::parse_query(&buf[..n]).unwrap();
        let good = wire::answer(&q, &["192.0.2.9".parse().unwrap()], 1);
        up.send_to(&wire::with_id(&good, q.id ^ 1), from).unwrap();
        let other =
            wire::parse_query(&wire::query(q.id, "example.org", wire::TYPE_A).unwrap()).unwrap();
        up.send_to(&wire::answer(&other, &[], 1), from).unwrap();
        up.send_to(&good, from).unwrap();
        assert_eq!(recv(&c), wire::with_id(&good, 5));
        s.stop();
    }

    #[test]
    fn malformed_queries() {
        let s = start(vec![], WAIT, Limits::default());
        let c = client();
        // A header with no question: FORMERR, header only.
        c.send_to(&[0xab, 0xcd, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0], s.udp)
            .unwrap();
        assert_eq!(recv(&c), [0xab, 0xcd, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0]);
        // A compression pointer in the question.
        let mut p = query(0x0102, "", 1)[..12].to_vec();
        p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        c.send_to(&p, s.udp).unwrap();
        assert_eq!(&recv(&c)[..4], &[1, 2, 0x81, 0x81]);
        // Another opcode (STATUS): NOTIMP.
        let mut st = query(0x0304, "a.b", 1);
        st[2] = 2 << 3;
        c.send_to(&st, s.udp).unwrap();
        assert_eq!(&recv(&c)[..4], &[3, 4, 0x90, 0x84]);
        // Short messages and responses: dropped; the next answer is the
        // next valid query's.
        c.send_to(&[1, 2, 3, 4, 5], s.udp).unwrap();
        c.send_to(&[], s.udp).unwrap();
        let resp = wire::answer(
            &wire::parse_query(&query(0x0505, "web", 1)).unwrap(),
            &[],
            1,
        );
        c.send_to(&resp, s.udp).unwrap();
        c.send_to(&query(0x0606, "web", 1), s.udp).unwrap();
        assert_eq!(count(&recv(&c), 0), 0x0606);
        s.stop();
    }

    #[test]
    fn udp_answers_fit_512_bytes() {
        let s = start(vec![], WAIT, Limits::default());
        let a = ask(s.udp, &query(1, "many", wire::TYPE_A));
        assert!(a.len() <= 512);
        assert_eq!(a[2] & 0x02, 0x02, "TC");
        assert!(count(&a, 6) > 0 && count(&a, 6) < 40);
        // All of them over TCP.
        let mut c = TcpStream::connect(s.tcp).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        write_frame(&mut c, &query(2, "many", wire::TYPE_A)).unwrap();
        let a = read_frame(&mut c).unwrap();
        assert_eq!((a[2] & 0x02, count(&a, 6)), (0, 40));
        s.stop();
    }

    #[test]
    fn tcp_queries() {
        let up = fake();
        let s = start(
            vec![closed_port(), up.addr],
            Duration::from_secs(2),
            Limits::default(),
        );
        let mut c = TcpStream::connect(s.tcp).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        // Several queries on one connection: ours, NXDOMAIN, forwarded
        // (over TCP, past a refusing server), FORMERR.
        let q = query(1, "web", wire::TYPE_A);
        write_frame(&mut c, &q).unwrap();
        let a = read_frame(&mut c).unwrap();
        assert_eq!((count(&a, 0), rcode(&a)), (1, wire::NOERROR));
        assert_eq!(first_record(&a, qlen(&q)), (TTL, vec![172, 18, 0, 2]));
        write_frame(&mut c, &query(2, "nope", wire::TYPE_A)).unwrap();
        assert_eq!(rcode(&read_frame(&mut c).unwrap()), wire::NXDOMAIN);
        let q = query(3, "example.com", wire::TYPE_A);
        write_frame(&mut c, &q).unwrap();
        let a = read_frame(&mut c).unwrap();
        assert_eq!(count(&a, 0), 3);
        assert_eq!(first_record(&a, qlen(&q)), (UP_TTL, vec![192, 0, 2, 1]));
        assert_eq!(up.seen.recv_timeout(WAIT).unwrap(), q, "over TCP, as sent");
        write_frame(&mut c, &[7, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(
            read_frame(&mut c).unwrap(),
            [7, 7, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        // A response: the connection is closed.
        let resp = wire::answer(&wire::parse_query(&q).unwrap(), &[], 1);
        write_frame(&mut c, &resp).unwrap();
        assert_eq!(c.read(&mut [0u8; 16]).unwrap_or(0), 0);
        s.stop();
    }

    #[test]
    fn tcp_servfail_when_every_server_fails() {
        let s = start(
            vec![closed_port()],
            Duration::from_secs(1),
            Limits::default(),
        );
        let mut c = TcpStream::connect(s.tcp).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        write_frame(&mut c, &query(4, "example.com", wire::TYPE_A)).unwrap();
        let a = read_frame(&mut c).unwrap();
        assert_eq!((count(&a, 0), rcode(&a)), (4, wire::SERVFAIL));
        s.stop();
    }

    #[test]
    fn tcp_connections_are_capped() {
        let limits = Limits {
            max_tcp: 2,
            ..Limits::default()
        };
        let s = start(vec![], WAIT, limits);
        let open = || {
            let c = TcpStream::connect(s.tcp).unwrap();
            c.set_read_timeout(Some(WAIT)).unwrap();
            c
        };
        let works = |c: &mut TcpStream| {
            write_frame(c, &query(1, "web", wire::TYPE_A)).is_ok() && read_frame(c).is_some()
        };
        let mut a = open();
        let mut b = open();
        assert!(works(&mut a) && works(&mut b));
        let mut third = open();
        assert!(!works(&mut third), "closed at once");
        // When one goes, there is room again (its thread tells the loop).
        drop(a);
        let deadline = Instant::now() + WAIT;
        loop {
            let mut c = open();
            if works(&mut c) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no room after a connection closed"
            );
        }
        assert!(works(&mut b));
        s.stop();
    }

    #[test]
    fn stop_closes_tcp_connections() {
        let s = start(vec![], Duration::from_secs(60), Limits::default());
        let mut c = TcpStream::connect(s.tcp).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        write_frame(&mut c, &query(1, "web", wire::TYPE_A)).unwrap();
        read_frame(&mut c).unwrap();
        s.stop();
        let t = Instant::now();
        assert_eq!(c.read(&mut [0u8; 4]).unwrap_or(0), 0);
        assert!(t.elapsed() < WAIT);
    }

    #[test]
    fn flood_of_forwards_is_capped() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let limits = Limits {
            max_forwards: 3,
            ..Limits::default()
        };
        let s = start(
            vec![silent.local_addr().unwrap()],
            Duration::from_secs(60),
            limits,
        );
        let c = client();
        for id in 1..=5u16 {
            c.send_to(&query(id, "example.com", wire::TYPE_A), s.udp)
                .unwrap();
        }
        // The 4th and 5th push out the two oldest.
        for id in 1..=2u16 {
            let a = recv(&c);
            assert_eq!((count(&a, 0), rcode(&a)), (id, wire::SERVFAIL));
        }
        c.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        assert!(
            c.recv(&mut [0u8; 512]).is_err(),
            "the other three still wait"
        );
        s.stop();
    }

    #[test]
    fn icmp_errors_do_not_stop_the_loop() {
        // IP_RECVERR makes the kernel report the port unreachable that
        // follows an answer to a client gone, on the server's socket.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        silent.set_read_timeout(Some(WAIT)).unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        nix::sys::socket::setsockopt(&udp, nix::sys::socket::sockopt::Ipv4RecvErr, &true).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        let probe = udp.try_clone().unwrap();
        let (r, w) = pipe2(OFlag::O_CLOEXEC).unwrap();
        let (tx, done) = mpsc::channel();
        let up = Upstream {
            servers: vec![silent.local_addr().unwrap()],
            timeout: Duration::from_millis(100),
        };
        thread::spawn(move || {
            let _ = tx.send(serve(udp, tcp, &mut TestNames, &up, Some(r.as_fd())));
        });
        // A client that asks, then goes before its SERVFAIL comes (the
        // query is forwarded: the silent server saw it).
        let gone = client();
        gone.send_to(&query(1, "example.com", wire::TYPE_A), addr)
            .unwrap();
        silent.recv(&mut [0u8; 512]).unwrap();
        drop(gone);
        // A second forward fails after the first: by its SERVFAIL, the
        // first's has been sent and refused.
        let c = client();
        c.send_to(&query(2, "example.com", wire::TYPE_A), addr)
            .unwrap();
        let a = recv(&c);
        assert_eq!((count(&a, 0), rcode(&a)), (2, wire::SERVFAIL));
        // Still answering, and not spinning on the error.
        c.send_to(&query(3, "web", wire::TYPE_A), addr).unwrap();
        assert_eq!(count(&recv(&c), 0), 3);
        // The error was queued before query 3 came, so the loop turn that
        // answered 3 saw it, maybe reading it after the answer: one more
        // answer, from a later turn, comes after it was read.
        c.send_to(&query(4, "web", wire::TYPE_A), addr).unwrap();
        assert_eq!(count(&recv(&c), 0), 4);
        // The error queue was read (else poll would report POLLERR for
        // ever, and the loop spin).
        let mut fds = [PollFd::new(probe.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).unwrap();
        assert!(!fds[0].revents().unwrap().contains(PollFlags::POLLERR));
        nix::unistd::write(w, b"x").unwrap();
        done.recv_timeout(WAIT).unwrap().unwrap();
    }

    #[test]
    fn stops_on_hang_up() {
        let mut s = start(vec![], WAIT, Limits::default());
        drop(s.stop.take());
        s.done
            .recv_timeout(WAIT)
            .expect("serve returns on POLLHUP")
            .unwrap();
    }

    #[test]
    fn ids_vary() {
        let mut ids = Ids::new();
        let v: Vec<u16> = (0..64).map(|_| ids.next()).collect();
        let distinct: std::collections::HashSet<_> = v.iter().collect();
        assert!(distinct.len() > 60);
    }
}
