//! The socket bypass of rootless containers: their outbound TCP
//! connections are made in the host's network namespace instead of being
//! relayed by pasta, so they run at the host's speed.
//!
//! The container's process installs, before its own filter, a seccomp
//! filter that sends every connect(2) to a listener, and passes the
//! listener to this module's broker: one process per container, forked in
//! the host's network namespace (and the user's user namespace) before
//! rrun joins the user's network namespace. For a trapped connect the
//! broker reads the address from the caller's memory and decides
//! ([`policy::route`]): an IPv4 address outside the container's network,
//! loopback and link-local leaves through the host — the broker makes a
//! TCP socket there, gives it the options set on the container's socket,
//! connects it to the address *it read* (so no later change of the
//! caller's memory matters), and puts it in place of the container's
//! socket at the same descriptor number (SECCOMP_IOCTL_NOTIF_ADDFD), then
//! answers the call as connect() would have. Anything else — AF_UNIX,
//! UDP, IPv6, the container's own network, a socket that is bound, watched
//! by an epoll set, bound to a device or marked — continues as the
//! container asked, through its own network and pasta.
//!
//! The broker ends when the monitor has closed its end of the socket and
//! no process of the container holds a filter. Should it die, a trapped
//! connect() fails with ENOSYS; `--outbound-bypass=false` turns it off.
//! Processes started by `rrun exec` are not trapped: theirs go through
//! pasta.

pub mod policy;

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use policy::{Kind, Replay, Route};

#[derive(Debug, thiserror::Error)]
pub enum BypassError {
    #[error("socket bypass: creating its socket: {0}")]
    Pair(#[source] io::Error),
    #[error("socket bypass: starting its broker: {0}")]
    Fork(#[source] nix::Error),
}

/// The monitor's end of a broker: the socket the container's process sends
/// its listener on (inherited by the clone, close-on-exec). Closing it
/// tells the broker to end once its containers' processes are gone.
#[derive(Debug)]
pub struct Broker {
    sock: OwnedFd,
}

impl Broker {
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// Whether this kernel can run the bypass.
pub fn available() -> bool {
    nix::sys::utsname::uname()
        .map(|u| policy::kernel_has(&u.release().to_string_lossy()))
        .unwrap_or(false)
}

/// Fork the broker; it stays in this process's network namespace.
/// `keep`: the networks whose traffic stays the container's own;
/// `refresh`: asked before a connect() would leave, gives them anew when
/// they changed (a network made since).
pub fn spawn(
    keep: Vec<Ipv4Net>,
    refresh: impl FnMut() -> Option<Vec<Ipv4Net>>,
) -> Result<Broker, BypassError> {
    let (mine, theirs) = crate::sys::seqpacket_pair().map_err(BypassError::Pair)?;
    // SAFETY: rrun is single-threaded here; the child only makes system
    // calls and allocates (safe after a fork of a single thread), then
    // exits without returning.
    match unsafe { nix::unistd::fork() }.map_err(BypassError::Fork)? {
        nix::unistd::ForkResult::Parent { .. } => {
            drop(theirs);
            Ok(Broker { sock: mine })
        }
        nix::unistd::ForkResult::Child => {
            drop(mine);
            let code = match broker_setup(theirs) {
                Ok(ctl) => {
                    serve(ctl, keep, refresh);
                    0
                }
                Err(_) => 1,
            };
            // SAFETY: ending the forked child without the parent's exit
            // handlers.
            unsafe { libc::_exit(code) }
        }
    }
}

/// The broker's process, set up as a helper; its socket becomes 3.
fn broker_setup(ctl: OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: dup2 onto 3, which become_helper spares.
    crate::sys::cvt(unsafe { libc::dup2(ctl.as_raw_fd(), 3) })?;
    if ctl.as_raw_fd() != 3 {
        drop(ctl);
    } else {
        std::mem::forget(ctl);
    }
    crate::sys::become_helper(c"rrun-bypass", 4);
    // SAFETY: 3 is the control socket, now owned here alone.
    let ctl = unsafe { OwnedFd::from_raw_fd(3) };
    crate::sys::set_cloexec(3, true)?;
    Ok(ctl)
}

/// A connect() being made for a blocking socket: answered when it
/// completes, or at the caller's SO_SNDTIMEO.
struct Pending {
    listener: RawFd,
    id: u64,
    fd: i32,
    sock: OwnedFd,
    cloexec: bool,
    deadline: Option<Instant>,
}

/// How a trapped call is answered.
enum Answer {
    Continue,
    Error(i32),
    Value(i64),
    /// Nothing to answer: the caller is gone.
    None,
    Wait(Pending),
}

/// The broker's loop: take listeners from the control socket, answer
/// their calls, end when the control socket is closed and no listener
/// has a process left.
fn serve(ctl: OwnedFd, mut keep: Vec<Ipv4Net>, mut refresh: impl FnMut() -> Option<Vec<Ipv4Net>>) {
    let fresh = fresh_options();
    let mut ctl = Some(ctl);
    let mut listeners: Vec<OwnedFd> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    loop {
        if ctl.is_none() && listeners.is_empty() {
            return;
        }
        let now = Instant::now();
        let wait = pending
            .iter()
            .filter_map(|p| p.deadline)
            .min()
            .map(|d| d.saturating_duration_since(now));
        let (ctl_ev, l_ev, p_ev) = {
            let mut fds: Vec<PollFd> = Vec::new();
            if let Some(c) = &ctl {
                fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
            }
            for l in &listeners {
                fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
            }
            for p in &pending {
                fds.push(PollFd::new(p.sock.as_fd(), PollFlags::POLLOUT));
            }
            let t = match wait {
                None => PollTimeout::NONE,
                Some(d) => PollTimeout::try_from(d.as_millis().min(60_000) as i32 + 1)
                    .unwrap_or(PollTimeout::MAX),
            };
            match poll(&mut fds, t) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
            let ev: Vec<PollFlags> = fds
                .iter()
                .map(|f| f.revents().unwrap_or(PollFlags::empty()))
                .collect();
            let c = usize::from(ctl.is_some());
            let ctl_ev = if c == 1 { Some(ev[0]) } else { None };
            let l_ev = ev[c..c + listeners.len()].to_vec();
            let p_ev = ev[c + listeners.len()..].to_vec();
            (ctl_ev, l_ev, p_ev)
        };
        if let Some(e) = ctl_ev
            && !e.is_empty()
        {
            match ctl.as_ref().map(|c| recv_listener(c.as_raw_fd())) {
                Some(Ok(Ctl::Listener(l))) => {
                    sync_wake_up(l.as_raw_fd());
                    listeners.push(l);
                }
                Some(Ok(Ctl::Eof)) | Some(Err(_)) => ctl = None,
                Some(Ok(Ctl::Nothing)) | None => {}
            }
        }
        // Calls that completed or timed out.
        let now = Instant::now();
        let mut still = Vec::new();
        for (p, e) in pending.drain(..).zip(
            p_ev.into_iter()
                .chain(std::iter::repeat(PollFlags::empty())),
        ) {
            if !e.is_empty() {
                complete(p);
            } else if p.deadline.is_some_and(|d| d <= now) {
                let (l, id) = (p.listener, p.id);
                match install(&p, false) {
                    Ok(()) => respond(l, id, Answer::Error(libc::EINPROGRESS)),
                    Err(_) => respond(l, id, Answer::Continue),
                }
            } else {
                still.push(p);
            }
        }
        pending = still;
        let mut gone = Vec::new();
        for (i, e) in l_ev.iter().enumerate() {
            let l = listeners[i].as_raw_fd();
            if e.contains(PollFlags::POLLIN) {
                if let Some(n) = receive(l) {
                    match handle(l, &n, &mut keep, &mut refresh, &fresh) {
                        Answer::Wait(p) => pending.push(p),
                        a => respond(l, n.id, a),
                    }
                }
            } else if e.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
                gone.push(l);
            }
        }
        if !gone.is_empty() {
            pending.retain(|p| !gone.contains(&p.listener));
            listeners.retain(|l| !gone.contains(&l.as_raw_fd()));
        }
    }
}

/// Ask the kernel to switch straight between a trapped caller and this
/// process (Linux 6.6): a connect() then costs two context switches
/// instead of two wake-ups through the scheduler. Older kernels refuse
/// the flag; the calls are answered all the same.
fn sync_wake_up(l: RawFd) {
    const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
    let flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
    // SAFETY: NOTIF_SET_FLAGS reads the flags as its argument.
    unsafe { libc::ioctl(l, libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) };
}

/// What one read of the control socket gave.
enum Ctl {
    Listener(OwnedFd),
    /// A message without a descriptor: nothing to add.
    Nothing,
    Eof,
}

/// A listener sent on the control socket (the container's process sends
/// it with the sync socket's `send_fd`).
fn recv_listener(ctl: RawFd) -> io::Result<Ctl> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut byte = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut byte)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(ctl, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(io::Error::from)?;
    let mut fd = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for f in fds {
                // SAFETY: a descriptor just received, owned by nobody else.
                let o = unsafe { OwnedFd::from_raw_fd(f) };
                if fd.is_none() {
                    fd = Some(o);
                }
            }
        }
    }
    Ok(match fd {
        Some(fd) => Ctl::Listener(fd),
        None if msg.bytes == 0 => Ctl::Eof,
        None => Ctl::Nothing,
    })
}

fn receive(l: RawFd) -> Option<libc::seccomp_notif> {
    // SAFETY: seccomp_notif is plain data; the kernel wants it zeroed.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: NOTIF_RECV fills the struct it is given.
        let r = unsafe { libc::ioctl(l, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
        if r == 0 {
            return Some(n);
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // ENOENT: the caller died before we took its call.
            return None;
        }
    }
}

fn respond(l: RawFd, id: u64, a: Answer) {
    let (val, error, flags) = match a {
        Answer::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
        Answer::Error(e) => (0, -e, 0),
        Answer::Value(v) => (v, 0, 0),
        Answer::None | Answer::Wait(_) => return,
    };
    let mut r = libc::seccomp_notif_resp {
        id,
        val,
        error,
        flags,
    };
    // SAFETY: NOTIF_SEND reads the struct; an error (the caller died)
    // leaves nothing to do.
    unsafe { libc::ioctl(l, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut r) };
}

/// Whether the call `id` is still waiting (its task has not died, so its
/// pid still names it).
fn id_valid(l: RawFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: NOTIF_ID_VALID reads a u64.
    unsafe { libc::ioctl(l, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) == 0 }
}

fn handle(
    l: RawFd,
    n: &libc::seccomp_notif,
    keep: &mut Vec<Ipv4Net>,
    refresh: &mut impl FnMut() -> Option<Vec<Ipv4Net>>,
    fresh: &Fresh,
) -> Answer {
    let fd = n.data.args[0] as i32;
    let addr = n.data.args[1];
    let len = n.data.args[2] as u32;
    if !(16..=128).contains(&len) {
        return Answer::Continue;
    }
    let tid = n.pid as libc::pid_t;
    // sockaddr_in6 is 28 bytes; what is past it is not needed.
    let Some(raw) = read_memory(tid, addr, (len as usize).min(28)) else {
        return Answer::Continue;
    };
    let mut route = policy::route(&raw, keep);
    // Leaving: unless a network made since holds the address.
    if route != Route::Stay
        && let Some(k) = refresh()
    {
        *keep = k;
        route = policy::route(&raw, keep);
    }
    let (domain, dest) = match route {
        Route::Host(d) => (libc::AF_INET, d),
        Route::Mapped(d) => (libc::AF_INET6, d),
        Route::Stay => return Answer::Continue,
    };
    let Some(pidfd) = thread_pidfd(tid) else {
        return Answer::Continue;
    };
    // The pid named the caller when the call was taken; the pidfd names
    // it for good only if the call still waits now.
    if !id_valid(l, n.id) {
        return Answer::None;
    }
    match prepare(tid, &pidfd, fd, domain, fresh) {
        Some((sock, nonblock, cloexec)) => {
            let p = Pending {
                listener: l,
                id: n.id,
                fd,
                sock,
                cloexec,
                deadline: None,
            };
            connect(p, nonblock, domain, dest)
        }
        None => Answer::Continue,
    }
}

/// Read `len` bytes at `addr` of process `tid`.
fn read_memory(tid: libc::pid_t, addr: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: the local iovec covers buf; the remote one is only read by
    // the kernel, checked against the other process's mappings.
    let r = unsafe { libc::process_vm_readv(tid, &local, 1, &remote, 1, 0) };
    (r == len as isize).then_some(buf)
}

/// A pidfd for the thread `tid` (PIDFD_THREAD, Linux 6.9), else for its
/// thread group.
fn thread_pidfd(tid: libc::pid_t) -> Option<OwnedFd> {
    const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, tid, PIDFD_THREAD) };
    if r >= 0 {
        // SAFETY: a new fd, ours.
        return Some(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
    }
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    crate::sys::pidfd_open(policy::tgid(&status)?).ok()
}

/// Every option's value on a fresh TCP socket of the host, IPv4 and IPv6.
struct Fresh {
    v4: Vec<Option<Vec<u8>>>,
    v6: Vec<Option<Vec<u8>>>,
}

/// The container's socket `fd`, checked and copied: a TCP socket of
/// `domain` (IPv6: one that takes IPv4-mapped addresses), not bound, not
/// listening, not watched by an epoll set, with no option that ties it to
/// the container's namespace. Returns a new socket in the host's namespace
/// with its options (non-blocking, for now), whether the container's is
/// non-blocking, and whether its descriptor is close-on-exec.
fn prepare(
    tid: libc::pid_t,
    pidfd: &OwnedFd,
    fd: i32,
    domain: i32,
    fresh: &Fresh,
) -> Option<(OwnedFd, bool, bool)> {
    // SAFETY: pidfd_getfd duplicates the other process's descriptor into a
    // new close-on-exec one of ours.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if r < 0 {
        return None;
    }
    // SAFETY: a new fd, ours.
    let theirs = unsafe { OwnedFd::from_raw_fd(r as RawFd) };
    let int = |level, name| {
        get_opt(theirs.as_raw_fd(), level, name, 4)
            .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
            .map(i32::from_ne_bytes)
    };
    if int(libc::SOL_SOCKET, libc::SO_DOMAIN)? != domain
        || int(libc::SOL_SOCKET, libc::SO_TYPE)? != libc::SOCK_STREAM
        || int(libc::SOL_SOCKET, libc::SO_PROTOCOL)? != libc::IPPROTO_TCP
        || int(libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? != 0
    {
        return None;
    }
    let unbound = if domain == libc::AF_INET6 {
        int(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)? == 0
            && matches!(
                nix::sys::socket::getsockname::<nix::sys::socket::SockaddrIn6>(theirs.as_raw_fd()),
                Ok(a) if a.port() == 0 && a.ip().is_unspecified()
            )
    } else {
        matches!(
            nix::sys::socket::getsockname::<nix::sys::socket::SockaddrIn>(theirs.as_raw_fd()),
            Ok(a) if a.port() == 0 && a.ip() == std::net::Ipv4Addr::UNSPECIFIED
        )
    };
    if !unbound {
        return None;
    }
    // SAFETY: F_GETFL on a descriptor we own.
    let fl = unsafe { libc::fcntl(theirs.as_raw_fd(), libc::F_GETFL) };
    if fl < 0 {
        return None;
    }
    let nonblock = fl & libc::O_NONBLOCK != 0;
    // Event loops watch non-blocking sockets; a blocking one in an epoll
    // set before its connect() is not a pattern programs use, and looking
    // costs a read of every descriptor's link.
    if nonblock && watched(tid, fd) {
        return None;
    }
    let cloexec = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}"))
        .ok()
        .and_then(|t| policy::cloexec(&t))?;
    let sock = tcp_socket(domain).ok()?;
    let fresh = if domain == libc::AF_INET6 {
        &fresh.v6
    } else {
        &fresh.v4
    };
    for (o, f) in policy::OPTIONS.iter().zip(fresh) {
        let Some(f) = f else { continue };
        let Some(t) = get_opt(theirs.as_raw_fd(), o.level, o.name, policy::size(o.kind)) else {
            continue;
        };
        match policy::replay(o, &t, f) {
            Replay::Same => {}
            Replay::Refuse => return None,
            Replay::Set(v) => {
                let v = match o.kind {
                    // Up to the NUL.
                    Kind::Text => v.split(|b| *b == 0).next().unwrap_or_default().to_vec(),
                    _ => v,
                };
                if !set_opt(sock.as_raw_fd(), o.level, o.name, &v) {
                    return None;
                }
            }
        }
    }
    Some((sock, nonblock, cloexec))
}

/// Whether an epoll set of the thread's process watches descriptor `fd`.
fn watched(tid: libc::pid_t, fd: i32) -> bool {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{tid}/fd")) else {
        // Unreadable: do not swap what cannot be checked.
        return true;
    };
    for e in dir.flatten() {
        let is_epoll = std::fs::read_link(e.path())
            .map(|t| t.as_os_str() == "anon_inode:[eventpoll]")
            .unwrap_or(false);
        if is_epoll {
            let info = format!("/proc/{tid}/fdinfo/{}", e.file_name().to_string_lossy());
            match std::fs::read_to_string(info) {
                Ok(t) if !policy::watches(&t, fd) => {}
                _ => return true,
            }
        }
    }
    false
}

fn tcp_socket(domain: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket returns a new fd or -1.
    let r = crate::sys::cvt(unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            libc::IPPROTO_TCP,
        )
    })?;
    // SAFETY: a new fd, ours.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

fn get_opt(fd: RawFd, level: i32, name: i32, size: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; size];
    let mut len = size as libc::socklen_t;
    // SAFETY: buf has len bytes; the kernel writes at most len and says
    // how many.
    let r = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            buf.as_mut_ptr() as *mut libc::c_void,
            &mut len,
        )
    };
    if r != 0 {
        return None;
    }
    buf.truncate(len as usize);
    Some(buf)
}

fn set_opt(fd: RawFd, level: i32, name: i32, v: &[u8]) -> bool {
    // SAFETY: v is valid for its length, which is passed.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            v.as_ptr() as *const libc::c_void,
            v.len() as libc::socklen_t,
        ) == 0
    }
}

/// Every option's value on fresh sockets of this namespace.
fn fresh_options() -> Fresh {
    let of = |domain| {
        let s = tcp_socket(domain).ok();
        policy::OPTIONS
            .iter()
            .map(|o| {
                s.as_ref()
                    .and_then(|s| get_opt(s.as_raw_fd(), o.level, o.name, policy::size(o.kind)))
            })
            .collect()
    };
    Fresh {
        v4: of(libc::AF_INET),
        v6: of(libc::AF_INET6),
    }
}

/// Connect the new socket to `dest` and answer as the container's
/// connect() would: at once where it can, else once the connection is made.
fn connect(p: Pending, nonblock: bool, domain: i32, dest: SocketAddrV4) -> Answer {
    let r = if domain == libc::AF_INET6 {
        let to = std::net::SocketAddrV6::new(dest.ip().to_ipv6_mapped(), dest.port(), 0, 0);
        nix::sys::socket::connect(p.sock.as_raw_fd(), &nix::sys::socket::SockaddrIn6::from(to))
    } else {
        nix::sys::socket::connect(
            p.sock.as_raw_fd(),
            &nix::sys::socket::SockaddrIn::from(dest),
        )
    };
    match r {
        Ok(()) => match install(&p, nonblock) {
            Ok(()) => Answer::Value(0),
            Err(_) => Answer::Continue,
        },
        Err(nix::errno::Errno::EINPROGRESS) if nonblock => match install(&p, true) {
            Ok(()) => Answer::Error(libc::EINPROGRESS),
            Err(_) => Answer::Continue,
        },
        Err(nix::errno::Errno::EINPROGRESS) => {
            let timeout = get_opt(p.sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDTIMEO, 16)
                .and_then(|v| timeval(&v));
            Answer::Wait(Pending {
                deadline: timeout.map(|t| Instant::now() + t),
                ..p
            })
        }
        Err(e) => Answer::Error(e as i32),
    }
}

/// A struct timeval's bytes as a duration; None for zero (no timeout).
fn timeval(v: &[u8]) -> Option<Duration> {
    let sec = i64::from_ne_bytes(v.get(0..8)?.try_into().ok()?);
    let usec = i64::from_ne_bytes(v.get(8..16)?.try_into().ok()?);
    let d = Duration::from_secs(sec.max(0) as u64) + Duration::from_micros(usec.max(0) as u64);
    (!d.is_zero()).then_some(d)
}

/// A blocking connect() whose connection completed (or failed).
fn complete(p: Pending) {
    let (l, id) = (p.listener, p.id);
    let err = get_opt(p.sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ERROR, 4)
        .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
        .map(i32::from_ne_bytes)
        .unwrap_or(libc::EIO);
    if err != 0 {
        respond(l, id, Answer::Error(err));
        return;
    }
    match install(&p, false) {
        Ok(()) => respond(l, id, Answer::Value(0)),
        Err(_) => respond(l, id, Answer::Continue),
    }
}

/// Put the socket in place of the caller's descriptor, with the caller's
/// blocking mode and close-on-exec flag.
fn install(p: &Pending, nonblock: bool) -> io::Result<()> {
    let fd = p.sock.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
    unsafe {
        let fl = crate::sys::cvt(libc::fcntl(fd, libc::F_GETFL))?;
        let want = if nonblock {
            fl | libc::O_NONBLOCK
        } else {
            fl & !libc::O_NONBLOCK
        };
        crate::sys::cvt(libc::fcntl(fd, libc::F_SETFL, want))?;
    }
    let add = libc::seccomp_notif_addfd {
        id: p.id,
        flags: libc::SECCOMP_ADDFD_FLAG_SETFD as u32,
        srcfd: fd as u32,
        newfd: p.fd as u32,
        newfd_flags: if p.cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    // SAFETY: NOTIF_ADDFD reads the struct; the kernel duplicates srcfd
    // into the caller at newfd.
    let r = unsafe { libc::ioctl(p.listener, libc::SECCOMP_IOCTL_NOTIF_ADDFD, &add) };
    crate::sys::cvt(r).map(drop)
}
