//! What the socket bypass decides, without a system call: which connect()
//! destinations leave through the host's stack, which socket options a
//! replacement socket must be given, and what /proc's text says about a
//! trapped socket (is it watched by an epoll set, is it close-on-exec).
//! The broker (mod.rs) does the calls and asks here.

use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;

/// Where a connect() goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Through the host's stack, from an IPv4 socket made there.
    Host(SocketAddrV4),
    /// The same, for an IPv6 socket given an IPv4-mapped address
    /// (`::ffff:a.b.c.d`, what dual-stack programs such as Java's use).
    Mapped(SocketAddrV4),
    /// The container's own socket, as it asked (its network, loopback,
    /// pasta's addresses, anything else).
    Stay,
}

/// The bytes of a `struct sockaddr` a connect() was given (at most 28
/// read). An IPv4 address — plain, or mapped into IPv6 — outside `keep`
/// (the container's networks) and outside the addresses that mean "this
/// host" or "this link" leaves through the host. IPv6 proper stays (the
/// container's network has none). A short or odd address stays: the kernel
/// gives the container its usual answer.
pub fn route(raw: &[u8], keep: &[Ipv4Net]) -> Route {
    if raw.len() < 16 {
        return Route::Stay;
    }
    let family = i32::from(u16::from_ne_bytes([raw[0], raw[1]]));
    let port = u16::from_be_bytes([raw[2], raw[3]]);
    let (ip, mapped) = if family == libc::AF_INET {
        (Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]), false)
    } else if family == libc::AF_INET6 && raw.len() >= 24 {
        let a = &raw[8..24];
        if a[..10].iter().any(|b| *b != 0) || a[10..12] != [0xff, 0xff] {
            return Route::Stay;
        }
        (Ipv4Addr::new(a[12], a[13], a[14], a[15]), true)
    } else {
        return Route::Stay;
    };
    if port == 0 || stays(ip, keep) {
        return Route::Stay;
    }
    let to = SocketAddrV4::new(ip, port);
    if mapped {
        Route::Mapped(to)
    } else {
        Route::Host(to)
    }
}

/// Addresses that must not be reached from the host's stack: 0.0.0.0/8
/// (connect() to 0.0.0.0 means this host), loopback (the host's would be
/// reached, not the container's), link-local (pasta's DNS address, and
/// what a link means differs on each side), multicast and the reserved
/// block with broadcast, and the container's own networks.
pub fn stays(ip: Ipv4Addr, keep: &[Ipv4Net]) -> bool {
    let o = ip.octets();
    o[0] == 0
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || o[0] >= 240
        || keep.iter().any(|n| n.contains(&ip))
}

/// How an option's value is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    /// struct linger
    Linger,
    /// struct timeval
    Timeval,
    /// A NUL-terminated name (TCP_CONGESTION, SO_BINDTODEVICE).
    Text,
}

/// What a value that differs from a fresh socket's means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Set it on the replacement.
    Copy,
    /// SO_SNDBUF/SO_RCVBUF: the kernel doubles what is set, so set half.
    Half,
    /// The socket cannot leave through the host (bound to one of the
    /// container's devices, a mark or transparency only its namespace
    /// knows): keep it.
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt {
    pub level: i32,
    pub name: i32,
    pub kind: Kind,
    pub rule: Rule,
}

const fn opt(level: i32, name: i32, kind: Kind, rule: Rule) -> Opt {
    Opt {
        level,
        name,
        kind,
        rule,
    }
}

// Not every constant is in libc for every target; these are the kernel's
// (include/uapi/linux/in.h, tcp.h), the same on every architecture.
const IP_FREEBIND: i32 = 15;
const IP_TRANSPARENT: i32 = 19;
const IP_BIND_ADDRESS_NO_PORT: i32 = 24;
const TCP_NOTSENT_LOWAT: i32 = 25;
const TCP_FASTOPEN_CONNECT: i32 = 30;
const TCP_ULP: i32 = 31;

/// The options a socket may have been given before connect() that change
/// how its connection behaves, read from the container's socket and a
/// fresh one: those that differ are copied (or refuse the bypass).
pub const OPTIONS: &[Opt] = &[
    opt(libc::SOL_SOCKET, libc::SO_REUSEADDR, Kind::Int, Rule::Copy),
    opt(libc::SOL_SOCKET, libc::SO_REUSEPORT, Kind::Int, Rule::Copy),
    opt(libc::SOL_SOCKET, libc::SO_KEEPALIVE, Kind::Int, Rule::Copy),
    opt(libc::SOL_SOCKET, libc::SO_OOBINLINE, Kind::Int, Rule::Copy),
    opt(libc::SOL_SOCKET, libc::SO_PRIORITY, Kind::Int, Rule::Copy),
    opt(libc::SOL_SOCKET, libc::SO_RCVLOWAT, Kind::Int, Rule::Copy),
    opt(libc::SOL_SOCKET, libc::SO_SNDBUF, Kind::Int, Rule::Half),
    opt(libc::SOL_SOCKET, libc::SO_RCVBUF, Kind::Int, Rule::Half),
    opt(libc::SOL_SOCKET, libc::SO_LINGER, Kind::Linger, Rule::Copy),
    opt(
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        Kind::Timeval,
        Rule::Copy,
    ),
    opt(
        libc::SOL_SOCKET,
        libc::SO_SNDTIMEO,
        Kind::Timeval,
        Rule::Copy,
    ),
    opt(libc::SOL_SOCKET, libc::SO_MARK, Kind::Int, Rule::Refuse),
    opt(
        libc::SOL_SOCKET,
        libc::SO_BINDTODEVICE,
        Kind::Text,
        Rule::Refuse,
    ),
    opt(libc::IPPROTO_IP, libc::IP_TOS, Kind::Int, Rule::Copy),
    opt(libc::IPPROTO_IP, libc::IP_TTL, Kind::Int, Rule::Copy),
    opt(
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        Kind::Int,
        Rule::Copy,
    ),
    opt(libc::IPPROTO_IP, libc::IP_RECVERR, Kind::Int, Rule::Copy),
    opt(
        libc::IPPROTO_IP,
        IP_BIND_ADDRESS_NO_PORT,
        Kind::Int,
        Rule::Copy,
    ),
    opt(libc::IPPROTO_IP, IP_FREEBIND, Kind::Int, Rule::Refuse),
    opt(libc::IPPROTO_IP, IP_TRANSPARENT, Kind::Int, Rule::Refuse),
    opt(libc::IPPROTO_TCP, libc::TCP_NODELAY, Kind::Int, Rule::Copy),
    opt(libc::IPPROTO_TCP, libc::TCP_MAXSEG, Kind::Int, Rule::Copy),
    opt(libc::IPPROTO_TCP, libc::TCP_CORK, Kind::Int, Rule::Copy),
    opt(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, Kind::Int, Rule::Copy),
    opt(
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        Kind::Int,
        Rule::Copy,
    ),
    opt(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, Kind::Int, Rule::Copy),
    opt(libc::IPPROTO_TCP, libc::TCP_SYNCNT, Kind::Int, Rule::Copy),
    opt(libc::IPPROTO_TCP, libc::TCP_LINGER2, Kind::Int, Rule::Copy),
    opt(
        libc::IPPROTO_TCP,
        libc::TCP_WINDOW_CLAMP,
        Kind::Int,
        Rule::Copy,
    ),
    opt(libc::IPPROTO_TCP, libc::TCP_QUICKACK, Kind::Int, Rule::Copy),
    opt(
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
        Kind::Int,
        Rule::Copy,
    ),
    opt(libc::IPPROTO_TCP, TCP_NOTSENT_LOWAT, Kind::Int, Rule::Copy),
    opt(
        libc::IPPROTO_TCP,
        TCP_FASTOPEN_CONNECT,
        Kind::Int,
        Rule::Copy,
    ),
    opt(
        libc::IPPROTO_TCP,
        libc::TCP_CONGESTION,
        Kind::Text,
        Rule::Copy,
    ),
    opt(libc::IPPROTO_TCP, TCP_ULP, Kind::Text, Rule::Refuse),
];

/// What to do with one option, given the bytes read from the container's
/// socket (`theirs`) and from a fresh socket of the host (`fresh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    Same,
    Set(Vec<u8>),
    Refuse,
}

pub fn replay(o: &Opt, theirs: &[u8], fresh: &[u8]) -> Replay {
    if theirs == fresh {
        return Replay::Same;
    }
    match o.rule {
        Rule::Refuse => Replay::Refuse,
        Rule::Copy => Replay::Set(theirs.to_vec()),
        Rule::Half => match <[u8; 4]>::try_from(theirs) {
            Ok(b) => Replay::Set((i32::from_ne_bytes(b) / 2).to_ne_bytes().to_vec()),
            Err(_) => Replay::Refuse,
        },
    }
}

/// The size of an option's value.
pub fn size(k: Kind) -> usize {
    match k {
        Kind::Int => 4,
        Kind::Linger => std::mem::size_of::<libc::linger>(),
        Kind::Timeval => std::mem::size_of::<libc::timeval>(),
        Kind::Text => 64,
    }
}

/// Whether an epoll set's /proc/PID/fdinfo text watches descriptor `fd`
/// (a `tfd:` line). A socket an epoll set watches cannot be swapped: the
/// set would keep watching the old one, and the program would wait for
/// events that never come.
pub fn watches(fdinfo: &str, fd: i32) -> bool {
    fdinfo.lines().any(|l| {
        l.strip_prefix("tfd:")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse::<i32>().ok())
            == Some(fd)
    })
}

/// The descriptor flags of a /proc/PID/fdinfo/FD text: whether it is
/// close-on-exec (O_CLOEXEC in the octal `flags:` line).
pub fn cloexec(fdinfo: &str) -> Option<bool> {
    let f = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .map(str::trim)?;
    let v = u32::from_str_radix(f, 8).ok()?;
    Some(v & libc::O_CLOEXEC as u32 != 0)
}

/// The thread group of a /proc/TID/status text.
pub fn tgid(status: &str) -> Option<i32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether the kernel (its release, as uname gives it) has what the bypass
/// needs: user notification, ADDFD and killable waits (5.19).
pub fn kernel_has(release: &str) -> bool {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (it.next().flatten(), it.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (5, 19),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut v = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&port.to_be_bytes());
        v.extend_from_slice(&ip);
        v.extend_from_slice(&[0; 8]);
        v
    }

    fn keep() -> Vec<Ipv4Net> {
        vec!["10.88.0.0/16".parse().unwrap()]
    }

    #[test]
    fn outside_addresses_leave_through_the_host() {
        assert_eq!(
            route(&sa([198, 18, 0, 1], 5201), &keep()),
            Route::Host("198.18.0.1:5201".parse().unwrap())
        );
        assert_eq!(
            route(&sa([192, 0, 2, 2], 80), &keep()),
            Route::Host("192.0.2.2:80".parse().unwrap())
        );
        // The edges of the kept network.
        assert_eq!(
            route(&sa([10, 87, 255, 255], 1), &keep()),
            Route::Host("10.87.255.255:1".parse().unwrap())
        );
        assert_eq!(
            route(&sa([10, 89, 0, 0], 1), &keep()),
            Route::Host("10.89.0.0:1".parse().unwrap())
        );
        assert_eq!(
            route(&sa([239, 255, 255, 255], 1), &[]),
            Route::Stay,
            "multicast"
        );
        assert_eq!(
            route(&sa([223, 255, 255, 255], 1), &[]),
            Route::Host("223.255.255.255:1".parse().unwrap())
        );
        assert_eq!(
            route(&sa([1, 0, 0, 0], 1), &[]),
            Route::Host("1.0.0.0:1".parse().unwrap())
        );
    }

    #[test]
    fn own_and_special_addresses_stay() {
        for ip in [
            [10, 88, 0, 1],
            [10, 88, 255, 255],
            [127, 0, 0, 1],
            [127, 255, 0, 9],
            [0, 0, 0, 0],
            [0, 1, 2, 3],
            [169, 254, 1, 1],
            [224, 0, 0, 1],
            [240, 0, 0, 1],
            [255, 255, 255, 255],
        ] {
            assert_eq!(route(&sa(ip, 80), &keep()), Route::Stay, "{ip:?}");
        }
        assert_eq!(
            route(&sa([198, 18, 0, 1], 0), &keep()),
            Route::Stay,
            "port 0"
        );
    }

    #[test]
    fn odd_addresses_stay() {
        let mut v = sa([198, 18, 0, 1], 80);
        assert_eq!(route(&v[..15], &[]), Route::Stay, "short");
        assert_eq!(route(&[], &[]), Route::Stay);
        v[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        assert_eq!(
            route(&v, &[]),
            Route::Stay,
            "an IPv6 family with IPv4's layout"
        );
        v[0..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        assert_eq!(route(&v, &[]), Route::Stay, "unix");
        // A longer buffer (sockaddr_storage) is fine.
        let mut long = sa([198, 18, 0, 1], 80);
        long.resize(128, 7);
        assert_eq!(
            route(&long, &[]),
            Route::Host("198.18.0.1:80".parse().unwrap())
        );
    }

    fn sa6(ip: [u8; 16], port: u16) -> Vec<u8> {
        let mut v = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&port.to_be_bytes());
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(&ip);
        v.extend_from_slice(&[0; 4]);
        v
    }

    fn mapped(ip: [u8; 4]) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[10] = 0xff;
        a[11] = 0xff;
        a[12..].copy_from_slice(&ip);
        a
    }

    #[test]
    fn mapped_ipv4_leaves_ipv6_stays() {
        assert_eq!(
            route(&sa6(mapped([198, 18, 0, 1]), 5201), &keep()),
            Route::Mapped("198.18.0.1:5201".parse().unwrap())
        );
        // Read as far as the address: the scope id is not needed.
        assert_eq!(
            route(&sa6(mapped([198, 18, 0, 1]), 5201)[..24], &keep()),
            Route::Mapped("198.18.0.1:5201".parse().unwrap())
        );
        assert_eq!(
            route(&sa6(mapped([198, 18, 0, 1]), 5201)[..23], &keep()),
            Route::Stay
        );
        for ip in [
            [127, 0, 0, 1],
            [10, 88, 1, 1],
            [0, 0, 0, 0],
            [169, 254, 1, 1],
        ] {
            assert_eq!(route(&sa6(mapped(ip), 80), &keep()), Route::Stay, "{ip:?}");
        }
        assert_eq!(
            route(&sa6(mapped([198, 18, 0, 1]), 0), &keep()),
            Route::Stay
        );
        let mut v6 = [0u8; 16];
        v6[0] = 0x20;
        v6[1] = 0x01;
        v6[15] = 1;
        assert_eq!(route(&sa6(v6, 80), &keep()), Route::Stay, "IPv6 proper");
        let mut loop6 = [0u8; 16];
        loop6[15] = 1;
        assert_eq!(route(&sa6(loop6, 80), &keep()), Route::Stay, "::1");
        // ::a.b.c.d (compatible, not mapped) and ::fffe:… stay.
        let mut compat = mapped([198, 18, 0, 1]);
        compat[10] = 0;
        compat[11] = 0;
        assert_eq!(route(&sa6(compat, 80), &keep()), Route::Stay);
        let mut other = mapped([198, 18, 0, 1]);
        other[11] = 0xfe;
        assert_eq!(route(&sa6(other, 80), &keep()), Route::Stay);
        let mut hi = mapped([198, 18, 0, 1]);
        hi[9] = 1;
        assert_eq!(route(&sa6(hi, 80), &keep()), Route::Stay);
    }

    #[test]
    fn options_replayed_only_when_set() {
        let int = |v: i32| v.to_ne_bytes().to_vec();
        let copy = OPTIONS
            .iter()
            .find(|o| o.name == libc::TCP_NODELAY && o.level == libc::IPPROTO_TCP)
            .unwrap();
        assert_eq!(replay(copy, &int(0), &int(0)), Replay::Same);
        assert_eq!(replay(copy, &int(1), &int(0)), Replay::Set(int(1)));
        let half = OPTIONS
            .iter()
            .find(|o| o.name == libc::SO_RCVBUF && o.level == libc::SOL_SOCKET)
            .unwrap();
        assert_eq!(replay(half, &int(131072), &int(131072)), Replay::Same);
        assert_eq!(
            replay(half, &int(8192), &int(131072)),
            Replay::Set(int(4096))
        );
        assert_eq!(replay(half, &[1, 2], &int(131072)), Replay::Refuse);
        let refuse = OPTIONS
            .iter()
            .find(|o| o.name == libc::SO_BINDTODEVICE)
            .unwrap();
        assert_eq!(replay(refuse, b"", b""), Replay::Same);
        assert_eq!(replay(refuse, b"eth0\0", b""), Replay::Refuse);
        assert_eq!(size(Kind::Int), 4);
        assert_eq!(size(Kind::Linger), 8);
        assert_eq!(size(Kind::Timeval), 16);
        assert_eq!(size(Kind::Text), 64);
        // Every option once.
        for (i, a) in OPTIONS.iter().enumerate() {
            assert!(
                !OPTIONS[i + 1..]
                    .iter()
                    .any(|b| a.level == b.level && a.name == b.name),
                "{a:?} twice"
            );
        }
    }

    #[test]
    fn proc_texts() {
        let ep = "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\n\
                  tfd:        5 events:       19 data:                5  pos:0 ino:2b5d sdev:8\n\
                  tfd:       12 events:       19 data:                c  pos:0 ino:2b5e sdev:8\n";
        assert!(watches(ep, 5));
        assert!(watches(ep, 12));
        assert!(!watches(ep, 1));
        assert!(!watches(ep, 19), "events is not a descriptor");
        assert!(!watches("pos:\t0\nflags:\t02\n", 0));
        assert_eq!(
            cloexec("pos:\t0\nflags:\t02000002\nmnt_id:\t9\n"),
            Some(true)
        );
        assert_eq!(cloexec("pos:\t0\nflags:\t00000002\n"), Some(false));
        assert_eq!(cloexec("pos:\t0\nflags:\t02\n"), Some(false));
        assert_eq!(cloexec("pos:\t0\n"), None);
        assert_eq!(cloexec("flags:\tzz\n"), None);
        assert_eq!(
            tgid("Name:\tsh\nUmask:\t0022\nState:\tS\nTgid:\t4242\nNgid:\t0\nPid:\t4243\n"),
            Some(4242)
        );
        assert_eq!(tgid("Name:\tsh\n"), None);
    }

    #[test]
    fn kernels() {
        assert!(kernel_has("6.18.44-fc-v1272"));
        assert!(kernel_has("5.19.0"));
        assert!(kernel_has("5.20"));
        assert!(kernel_has("10.0.0"));
        assert!(!kernel_has("5.18.19"));
        assert!(!kernel_has("4.19.0-25-amd64"));
        assert!(!kernel_has("5"));
        assert!(!kernel_has(""));
        assert!(!kernel_has("x.y"));
    }
}
