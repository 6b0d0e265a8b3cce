//! A TCP client of the socket-bypass tests (tests/network_rootless.rs),
//! static like rrun so it runs inside a container. Each mode connects to
//! ADDR (IP:PORT) the way some kind of program does and prints one line,
//! `local IP:PORT ...`, its connection's own address — the host's when the
//! connection left through the host's stack, the container's when it
//! stayed — followed by what the mode checks.
//!
//!   netprobe opts ADDR      TCP_NODELAY, SO_KEEPALIVE, TCP_KEEPIDLE=77 and
//!                           SO_RCVBUF=65536 set before a blocking connect;
//!                           prints them as read back after it
//!   netprobe nonblock ADDR  a non-blocking connect: EINPROGRESS, then poll
//!   netprobe epoll ADDR     the socket added to an epoll set before a
//!                           non-blocking connect; waits for EPOLLOUT (5 s)
//!   netprobe mapped ADDR    a blocking connect of an IPv6 socket to the
//!                           IPv4-mapped ::ffff:IP (dual-stack programs)
//!   netprobe keepfd ADDR    no close-on-exec before connect: prints `cloexec 0`
//!                           (and 1 for a SOCK_CLOEXEC socket)
//!   netprobe many ADDR N    N threads connect at once; prints `ok K` (K connected)
//!   netprobe timeout ADDR   SO_SNDTIMEO 300 ms, blocking connect to an
//!                           address that never answers: prints the error
//!                           and the time taken (`err EINPROGRESS ms 3xx`)
//!   netprobe refused ADDR   blocking and non-blocking connects to a closed
//!                           port: `blocking ECONNREFUSED nonblocking ECONNREFUSED`
//!   netprobe dnsserve ADDR  (not a client) a UDP DNS server answering every
//!                           A query with 10.1.2.3 and others with no answer;
//!                           prints `ready` once it listens
//!
//! After connecting, modes but timeout/refused print the first line the
//! server sends (`reply ...`; the tests' servers speak first). Exit status 1
//! on failure.

use std::io::{self, Read};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::exit;
use std::time::{Duration, Instant};

fn die(msg: impl std::fmt::Display) -> ! {
    println!("error {msg}");
    exit(1)
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn socket(flags: libc::c_int) -> OwnedFd {
    // SAFETY: socket returns a new fd or -1.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | flags, 0) })
        .unwrap_or_else(|e| die(format!("socket: {e}")));
    // SAFETY: a new fd, ours.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn connect(fd: RawFd, a: SocketAddrV4) -> io::Result<()> {
    let sa = sockaddr(a);
    // SAFETY: sa is a sockaddr_in of the size passed.
    cvt(unsafe {
        libc::connect(
            fd,
            &sa as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn set_int(fd: RawFd, level: i32, name: i32, v: i32) {
    // SAFETY: v is an int of the size passed.
    let r =
        unsafe { libc::setsockopt(fd, level, name, &v as *const i32 as *const libc::c_void, 4) };
    if r != 0 {
        die(format!(
            "setsockopt {level}/{name}: {}",
            io::Error::last_os_error()
        ));
    }
}

fn get_int(fd: RawFd, level: i32, name: i32) -> i32 {
    let mut v = 0i32;
    let mut len = 4 as libc::socklen_t;
    // SAFETY: v is an int of the size passed.
    unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            &mut v as *mut i32 as *mut libc::c_void,
            &mut len,
        )
    };
    v
}

fn local(fd: RawFd) -> String {
    // SAFETY: a borrowed view of fd, not closed here.
    let s = std::mem::ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
    s.local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|e| format!("?{e}"))
}

fn errname(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EINPROGRESS) => "EINPROGRESS".into(),
        Some(libc::ECONNREFUSED) => "ECONNREFUSED".into(),
        Some(libc::ETIMEDOUT) => "ETIMEDOUT".into(),
        Some(libc::EHOSTUNREACH) => "EHOSTUNREACH".into(),
        Some(libc::ENETUNREACH) => "ENETUNREACH".into(),
        Some(libc::ENOSYS) => "ENOSYS".into(),
        _ => e.to_string(),
    }
}

/// Wait for `fd` to be writable, then its SO_ERROR.
fn wait_out(fd: RawFd) -> i32 {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd.
    if unsafe { libc::poll(&mut p, 1, 10_000) } != 1 {
        die("connection not writable in 10 s");
    }
    get_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)
}

fn ask(fd: OwnedFd) -> String {
    // SAFETY: taking over the fd.
    let mut s = unsafe { TcpStream::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(fd)) };
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut b = [0u8; 256];
    while !buf.contains(&b'\n') {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&b[..n]),
            Err(e) => die(format!("read: {e}")),
        }
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        die("usage: netprobe MODE ADDR [N]");
    }
    let addr: SocketAddrV4 = match args[2].parse::<SocketAddr>() {
        Ok(SocketAddr::V4(a)) => a,
        _ => die(format!("not an IPv4 IP:PORT: {}", args[2])),
    };
    match args[1].as_str() {
        "opts" => {
            let s = socket(libc::SOCK_CLOEXEC);
            let fd = s.as_raw_fd();
            set_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
            set_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
            set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 77);
            set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 65536);
            connect(fd, addr).unwrap_or_else(|e| die(format!("connect: {}", errname(&e))));
            println!(
                "local {} nodelay {} keepalive {} keepidle {} rcvbuf {} reply {}",
                local(fd),
                get_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY),
                get_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE),
                get_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
                get_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF),
                ask(s)
            );
        }
        "nonblock" => {
            let s = socket(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK);
            let fd = s.as_raw_fd();
            let first = match connect(fd, addr) {
                Ok(()) => "connected".to_string(),
                Err(e) => errname(&e),
            };
            let err = wait_out(fd);
            // SAFETY: F_GETFL on our fd.
            let nb = unsafe { libc::fcntl(fd, libc::F_GETFL) } & libc::O_NONBLOCK != 0;
            println!(
                "local {} first {first} so_error {err} nonblock {} reply {}",
                local(fd),
                u8::from(nb),
                ask(s)
            );
        }
        "epoll" => {
            let s = socket(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK);
            let fd = s.as_raw_fd();
            // SAFETY: epoll_create1 returns a new fd or -1.
            let ep = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
                .unwrap_or_else(|e| die(format!("epoll_create1: {e}")));
            let mut ev = libc::epoll_event {
                events: libc::EPOLLOUT as u32,
                u64: 7,
            };
            // SAFETY: ev is an epoll_event.
            cvt(unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) })
                .unwrap_or_else(|e| die(format!("epoll_ctl: {e}")));
            let first = match connect(fd, addr) {
                Ok(()) => "connected".to_string(),
                Err(e) => errname(&e),
            };
            let mut out = [libc::epoll_event { events: 0, u64: 0 }; 1];
            // SAFETY: out has room for one event.
            let n = unsafe { libc::epoll_wait(ep, out.as_mut_ptr(), 1, 5000) };
            if n != 1 {
                die("no EPOLLOUT in 5 s");
            }
            println!("local {} first {first} reply {}", local(fd), ask(s));
        }
        "mapped" => {
            // SAFETY: socket returns a new fd or -1.
            let fd = cvt(unsafe {
                libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)
            })
            .unwrap_or_else(|e| die(format!("socket: {e}")));
            // SAFETY: a new fd, ours.
            let s = unsafe { OwnedFd::from_raw_fd(fd) };
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = addr.port().to_be();
            sa.sin6_addr.s6_addr = addr.ip().to_ipv6_mapped().octets();
            // SAFETY: sa is a sockaddr_in6 of the size passed.
            cvt(unsafe {
                libc::connect(
                    fd,
                    &sa as *const libc::sockaddr_in6 as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            })
            .unwrap_or_else(|e| die(format!("connect: {}", errname(&e))));
            println!("local {} reply {}", local(fd), ask(s));
        }
        "keepfd" => {
            let s = socket(0);
            let fd = s.as_raw_fd();
            connect(fd, addr).unwrap_or_else(|e| die(format!("connect: {}", errname(&e))));
            // SAFETY: F_GETFD on our fd.
            let ce = unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC;
            let s2 = socket(libc::SOCK_CLOEXEC);
            connect(s2.as_raw_fd(), addr)
                .unwrap_or_else(|e| die(format!("connect: {}", errname(&e))));
            // SAFETY: F_GETFD on our fd.
            let ce2 = unsafe { libc::fcntl(s2.as_raw_fd(), libc::F_GETFD) } & libc::FD_CLOEXEC;
            println!("local {} cloexec {ce} {ce2} reply {}", local(fd), ask(s));
        }
        "many" => {
            let n: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(20);
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    std::thread::spawn(move || {
                        let s = socket(libc::SOCK_CLOEXEC);
                        connect(s.as_raw_fd(), addr).ok().map(|()| ask(s))
                    })
                })
                .collect();
            let ok = hs
                .into_iter()
                .map(|h| h.join().ok().flatten())
                .filter(|r| r.as_deref().is_some_and(|r| !r.is_empty()))
                .count();
            println!("local - ok {ok}");
        }
        "timeout" => {
            let s = socket(libc::SOCK_CLOEXEC);
            let fd = s.as_raw_fd();
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 300_000,
            };
            // SAFETY: tv is a timeval of the size passed.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_SNDTIMEO,
                    &tv as *const libc::timeval as *const libc::c_void,
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                )
            };
            let t = Instant::now();
            let r = connect(fd, addr);
            let ms = t.elapsed().as_millis();
            match r {
                Ok(()) => println!("local {} connected ms {ms}", local(fd)),
                Err(e) => println!("local - err {} ms {ms}", errname(&e)),
            }
        }
        "refused" => {
            let s = socket(libc::SOCK_CLOEXEC);
            let b = match connect(s.as_raw_fd(), addr) {
                Ok(()) => "connected".to_string(),
                Err(e) => errname(&e),
            };
            let s = socket(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK);
            let nb = match connect(s.as_raw_fd(), addr) {
                Ok(()) => "connected".to_string(),
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                    match wait_out(s.as_raw_fd()) {
                        0 => "connected".to_string(),
                        e => errname(&io::Error::from_raw_os_error(e)),
                    }
                }
                Err(e) => errname(&e),
            };
            println!("local - blocking {b} nonblocking {nb}");
        }
        "dnsserve" => dns_serve(addr),
        m => die(format!("unknown mode {m}")),
    }
}

/// A DNS server of one answer: every A query gets 10.1.2.3 (TTL 60).
fn dns_serve(addr: SocketAddrV4) -> ! {
    let sock = std::net::UdpSocket::bind(addr).unwrap_or_else(|e| die(format!("bind: {e}")));
    println!("ready");
    let mut buf = [0u8; 512];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let q = &buf[..n];
        if n < 12 {
            continue;
        }
        // The question: labels up to the root, then type and class.
        let mut end = 12;
        while end < n && q[end] != 0 {
            end += 1 + q[end] as usize;
        }
        if end + 5 > n {
            continue;
        }
        let qtype = u16::from_be_bytes([q[end + 1], q[end + 2]]);
        let question = &q[12..end + 5];
        let a = qtype == 1;
        let mut r = Vec::with_capacity(64);
        r.extend_from_slice(&q[0..2]);
        r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, u8::from(a), 0, 0, 0, 0]);
        r.extend_from_slice(question);
        if a {
            r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]);
        }
        let _ = sock.send_to(&r, from);
    }
}
