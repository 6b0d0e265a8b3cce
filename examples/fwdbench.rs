//! Load and echo tool of `make bench-forward` (bench/forward.sh). Static like
//! rrun, so it can be copied into a container's rootfs.
//!
//!   fwdbench serve ADDR                      epoll echo server (10k+ connections);
//!                                             a read ending in `q` is echoed, then closed;
//!                                             a read of exactly `?` is answered with the
//!                                             peer's address (`IP:PORT\n`), then closed
//!   fwdbench rate ADDR [--conc N] [--secs S]  a new TCP connection per 1-byte
//!                                             request (`q`; the server closes first);
//!                                             prints `rate CONNS_PER_S errors N`
//!   fwdbench latency ADDR [--secs S]         1-byte ping-pong on one connection;
//!                                             prints `latency P50_US P99_US n N`
//!   fwdbench idle ADDR [-n N]                opens N connections (until one fails), each
//!                                             echoes a token of its own; prints `held K of N opened M`,
//!                                             waits for a line (or EOF) on stdin, checks every
//!                                             one again, prints `still K of N`, closes them
//!   fwdbench peer ADDR                       asks the server (`?`) which address it sees;
//!                                             prints `peer SEEN local OWN` (OWN: this
//!                                             connection's local address)
//!
//! Every failure is printed; the exit status is 1 when a check failed.

use std::collections::HashMap;
use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::exit;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("fwdbench: {msg}");
    exit(1)
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit on a live rlimit struct.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

struct Args {
    addr: SocketAddr,
    conc: usize,
    secs: f64,
    n: usize,
}

fn parse(mut it: impl Iterator<Item = String>) -> Args {
    let addr = it
        .next()
        .unwrap_or_else(|| die("missing ADDR"))
        .parse()
        .unwrap_or_else(|e| die(format!("ADDR: {e}")));
    let mut a = Args {
        addr,
        conc: 8,
        secs: 3.0,
        n: 10_000,
    };
    while let Some(k) = it.next() {
        let v = it
            .next()
            .unwrap_or_else(|| die(format!("{k} needs a value")));
        let bad = |e: &dyn std::fmt::Display| -> ! { die(format!("{k} {v}: {e}")) };
        match k.as_str() {
            "--conc" => a.conc = v.parse().unwrap_or_else(|e| bad(&e)),
            "--secs" => a.secs = v.parse().unwrap_or_else(|e| bad(&e)),
            "-n" => a.n = v.parse().unwrap_or_else(|e| bad(&e)),
            _ => die(format!("unknown option {k}")),
        }
    }
    a
}

fn main() {
    raise_nofile();
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_default();
    let a = parse(args);
    match cmd.as_str() {
        "serve" => serve(a.addr).unwrap_or_else(|e| die(format!("serve {}: {e}", a.addr))),
        "rate" => rate(&a),
        "latency" => latency(&a),
        "idle" => idle(&a),
        "peer" => peer(&a),
        _ => die("usage: fwdbench serve|rate|latency|idle|peer ADDR [--conc N] [--secs S] [-n N]"),
    }
}

// ---------------------------------------------------------------- serve

fn sockaddr_in(a: &SocketAddr) -> libc::sockaddr_in {
    let SocketAddr::V4(v4) = a else {
        die("serve: IPv4 addresses only")
    };
    // SAFETY: sockaddr_in is plain old data.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = v4.port().to_be();
    sa.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
    sa
}

fn listener(addr: &SocketAddr) -> io::Result<OwnedFd> {
    // SAFETY: socket() takes no pointers; the fd is ours alone.
    let fd = unsafe {
        OwnedFd::from_raw_fd(cvt(libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        ))?)
    };
    let one: libc::c_int = 1;
    let sa = sockaddr_in(addr);
    // SAFETY: pointers to live values of the stated sizes.
    unsafe {
        cvt(libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            &one as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        ))?;
        cvt(libc::bind(
            fd.as_raw_fd(),
            &sa as *const _ as *const libc::sockaddr,
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ))?;
        cvt(libc::listen(fd.as_raw_fd(), 65535))?;
    }
    Ok(fd)
}

/// The IPv4 peer address of a connected socket.
fn peer_addr(fd: RawFd) -> io::Result<SocketAddr> {
    // SAFETY: sockaddr_in is plain old data.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: sa is writable for len bytes.
    cvt(unsafe { libc::getpeername(fd, &mut sa as *mut _ as *mut libc::sockaddr, &mut len) })?;
    if sa.sin_family != libc::AF_INET as libc::sa_family_t {
        return Err(io::Error::other("not IPv4"));
    }
    let ip = std::net::Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr));
    Ok(SocketAddr::from((ip, u16::from_be(sa.sin_port))))
}

fn ep_ctl(ep: RawFd, op: libc::c_int, fd: RawFd, events: u32) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events,
        u64: fd as u64,
    };
    // SAFETY: ev is a live epoll_event.
    cvt(unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) }).map(|_| ())
}

/// Single-threaded, level-triggered echo: what a connection sends comes
/// back; bytes the peer cannot take yet are kept and reading pauses.
fn serve(addr: SocketAddr) -> io::Result<()> {
    let l = listener(&addr)?;
    // SAFETY: no pointers; the fd is ours alone.
    let ep = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
    let (ep, lfd) = (ep.as_raw_fd(), l.as_raw_fd());
    ep_ctl(ep, libc::EPOLL_CTL_ADD, lfd, libc::EPOLLIN as u32)?;
    let (rd, wr) = (libc::EPOLLIN as u32, libc::EPOLLOUT as u32);
    // Connection fd -> (the socket, bytes not yet written back).
    let mut conns: HashMap<RawFd, (OwnedFd, Vec<u8>)> = HashMap::new();
    let mut buf = vec![0u8; 64 * 1024];
    // SAFETY: epoll_event is plain old data.
    let mut evs = vec![unsafe { std::mem::zeroed::<libc::epoll_event>() }; 512];
    loop {
        // SAFETY: evs is writable for its length.
        let n = unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), evs.len() as libc::c_int, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &evs[..n as usize] {
            let fd = ev.u64 as RawFd;
            if fd == lfd {
                loop {
                    // SAFETY: null address pointers are allowed.
                    let c = unsafe {
                        libc::accept4(
                            lfd,
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                        )
                    };
                    if c < 0 {
                        let e = io::Error::last_os_error();
                        match e.raw_os_error() {
                            Some(libc::EAGAIN) => break,
                            Some(libc::EMFILE) | Some(libc::ENFILE) => {
                                eprintln!("fwdbench serve: accept: {e}");
                                std::thread::sleep(Duration::from_millis(10));
                                break;
                            }
                            _ => continue,
                        }
                    }
                    // SAFETY: c was just returned by accept4.
                    let s = unsafe { OwnedFd::from_raw_fd(c) };
                    let one: libc::c_int = 1;
                    // SAFETY: pointer to a live c_int of the stated size.
                    unsafe {
                        libc::setsockopt(
                            c,
                            libc::IPPROTO_TCP,
                            libc::TCP_NODELAY,
                            &one as *const _ as *const libc::c_void,
                            size_of::<libc::c_int>() as libc::socklen_t,
                        )
                    };
                    if ep_ctl(ep, libc::EPOLL_CTL_ADD, c, rd).is_ok() {
                        conns.insert(c, (s, Vec::new()));
                    }
                }
                continue;
            }
            let Some((s, pending)) = conns.get_mut(&fd) else {
                continue;
            };
            let mut close = false;
            if !pending.is_empty() {
                // SAFETY: pending is readable for its length.
                let w = unsafe { libc::write(fd, pending.as_ptr().cast(), pending.len()) };
                if w > 0 {
                    pending.drain(..w as usize);
                } else if w < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
                    close = true;
                }
                if !close && pending.is_empty() {
                    close = ep_ctl(ep, libc::EPOLL_CTL_MOD, fd, rd).is_err();
                }
            } else {
                // SAFETY: buf is writable for its length.
                let r = unsafe { libc::read(s.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if r == 0 {
                    close = true;
                } else if r < 0 {
                    close = io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN);
                } else if r == 1 && buf[0] == b'?' {
                    // `peer`'s request: the address this side sees, then
                    // the server closes.
                    let a = match peer_addr(fd) {
                        Ok(p) => format!("{p}\n"),
                        Err(e) => format!("error {e}\n"),
                    };
                    // SAFETY: a is readable for its length.
                    unsafe { libc::write(fd, a.as_ptr().cast(), a.len()) };
                    close = true;
                } else {
                    let r = r as usize;
                    // SAFETY: buf holds r bytes just read.
                    let w = unsafe { libc::write(fd, buf.as_ptr().cast(), r) };
                    let w = if w < 0 {
                        if io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
                            close = true;
                        }
                        0
                    } else {
                        w as usize
                    };
                    if !close && w < r {
                        pending.extend_from_slice(&buf[w..r]);
                        close = ep_ctl(ep, libc::EPOLL_CTL_MOD, fd, wr).is_err();
                    } else if buf[r - 1] == b'q' {
                        // `rate`'s request: answered, the server closes
                        // first (its TIME_WAIT costs the clients no port).
                        close = true;
                    }
                }
            }
            if close {
                conns.remove(&fd);
            }
        }
    }
}

// ---------------------------------------------------------------- clients

fn connect(addr: &SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(addr, Duration::from_secs(10))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    Ok(s)
}

/// One request on a new connection: `q` comes back, then the server's FIN.
fn one_request(addr: &SocketAddr) -> io::Result<()> {
    let mut s = connect(addr)?;
    s.write_all(b"q")?;
    let mut b = [0u8; 2];
    s.read_exact(&mut b[..1])?;
    if b[0] != b'q' {
        return Err(io::Error::other("wrong echo"));
    }
    if s.read(&mut b)? != 0 {
        return Err(io::Error::other("no close after the answer"));
    }
    Ok(())
}

fn rate(a: &Args) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_err = Arc::new(std::sync::Mutex::new(None::<String>));
    let start = Instant::now();
    let threads: Vec<_> = (0..a.conc)
        .map(|_| {
            let (stop, done, errors, first_err) = (
                stop.clone(),
                done.clone(),
                errors.clone(),
                first_err.clone(),
            );
            let addr = a.addr;
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match one_request(&addr) {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            first_err.lock().unwrap().get_or_insert(e.to_string());
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(a.secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let secs = start.elapsed().as_secs_f64();
    let (n, e) = (done.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    if let Some(msg) = first_err.lock().unwrap().as_ref() {
        eprintln!(
            "fwdbench rate {}: {e} failed requests, the first: {msg}",
            a.addr
        );
    }
    println!("rate {:.1} errors {e}", n as f64 / secs);
}

fn latency(a: &Args) {
    let mut s = connect(&a.addr).unwrap_or_else(|e| die(format!("connect {}: {e}", a.addr)));
    let mut b = [0u8; 1];
    let mut ping = || -> io::Result<()> {
        s.write_all(b"p")?;
        s.read_exact(&mut b)?;
        if &b != b"p" {
            return Err(io::Error::other("wrong echo"));
        }
        Ok(())
    };
    for _ in 0..200 {
        ping().unwrap_or_else(|e| die(format!("latency {}: {e}", a.addr)));
    }
    let mut ns: Vec<u64> = Vec::with_capacity(1 << 18);
    let end = Instant::now() + Duration::from_secs_f64(a.secs);
    loop {
        let t = Instant::now();
        if t >= end {
            break;
        }
        ping().unwrap_or_else(|e| die(format!("latency {}: {e}", a.addr)));
        ns.push(t.elapsed().as_nanos() as u64);
    }
    ns.sort_unstable();
    let pct = |p: f64| ns[((ns.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
    println!("latency {:.1} {:.1} n {}", pct(0.50), pct(0.99), ns.len());
}

fn check(s: &mut TcpStream, i: usize) -> io::Result<()> {
    let tok = format!("tok{i:09}\n");
    s.write_all(tok.as_bytes())?;
    let mut b = [0u8; 13];
    s.read_exact(&mut b)?;
    if b != tok.as_bytes() {
        return Err(io::Error::other(format!(
            "echoed {:?}, sent {tok:?}",
            String::from_utf8_lossy(&b)
        )));
    }
    Ok(())
}

/// Check every connection; returns how many echoed their token, printing
/// the first few failures.
fn check_all(conns: &mut [TcpStream], what: &str) -> usize {
    let mut ok = 0;
    let mut shown = 0;
    for (i, s) in conns.iter_mut().enumerate() {
        match check(s, i) {
            Ok(()) => ok += 1,
            Err(e) if shown < 5 => {
                shown += 1;
                eprintln!("fwdbench idle: {what}: connection {i}: {e}");
            }
            Err(_) => {}
        }
    }
    ok
}

fn idle(a: &Args) {
    // Open until the first failure; what opened is held and checked all
    // the same, so a relay that stops short is still measured.
    let mut conns = Vec::with_capacity(a.n);
    for i in 0..a.n {
        match connect(&a.addr).and_then(|mut s| check(&mut s, i).map(|()| s)) {
            Ok(s) => conns.push(s),
            Err(e) => {
                eprintln!("fwdbench idle: {}: connection {i}: {e}", a.addr);
                break;
            }
        }
    }
    let held = check_all(&mut conns, "all open");
    println!("held {held} of {} opened {}", a.n, conns.len());
    io::stdout().flush().ok();
    let mut line = String::new();
    let _ = io::stdin().lock().read_line(&mut line);
    let still = check_all(&mut conns, "after the wait");
    println!("still {still} of {}", a.n);
    if held != a.n || still != a.n {
        exit(1);
    }
}

fn peer(a: &Args) {
    let mut s = connect(&a.addr).unwrap_or_else(|e| die(format!("connect {}: {e}", a.addr)));
    let own = s
        .local_addr()
        .unwrap_or_else(|e| die(format!("peer {}: {e}", a.addr)));
    let mut seen = String::new();
    s.write_all(b"?")
        .and_then(|()| s.read_to_string(&mut seen))
        .unwrap_or_else(|e| die(format!("peer {}: {e}", a.addr)));
    let seen = seen.trim();
    if seen.is_empty() || seen.starts_with("error") {
        die(format!("peer {}: the server answered {seen:?}", a.addr));
    }
    println!("peer {seen} local {own}");
}
