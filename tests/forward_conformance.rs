//! The forwarding conformance suite (issue 5): every path that carries a
//! published port passes the same tests — TCP and UDP, IPv4 and IPv6
//! listeners, 256 MiB each way with its sha256 kept, half-close, 1,000
//! concurrent connections, a port range, refused connections, a container
//! that dies mid-transfer, and stop closing everything.
//!
//! Issue 8's client addresses too: a neighbour's connections and flows
//! reach the container from its own address and port on every path.
//!
//! Paths: kernel DNAT (root, the default network), rrun's userspace
//! forwarder (root, a network made with --iptables=false), and rootless
//! (the forwarder connecting from the user's network namespace). Tests of
//! the forwarder alone (fd exhaustion, UDP flow expiry) skip kernel DNAT.
//!
//! This test binary plays both ends. It is static, so it is bind-mounted
//! into the container as the server (`RRUN_CONF_ROLE=server`), and run in
//! the test's network namespace as the client (`RRUN_CONF_ROLE=client`);
//! both enter through the `role` test, which does nothing otherwise.

mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::{forwarder_pid, host_ns};
use sha2::{Digest, Sha256};
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

const ROLE: &str = "RRUN_CONF_ROLE";
const ARGS: &str = "RRUN_CONF_ARGS";
/// Where the server binary is mounted in the container.
const IN_CONTAINER: &str = "/conformance";
const BIG: usize = 256 << 20;
const BLOCK: usize = 64 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// Root, kernel NAT (nftables DNAT).
    Dnat,
    /// Root, --iptables=false: the userspace forwarder.
    Forwarder,
    /// Without root: the forwarder, connecting from the user's network
    /// namespace.
    Rootless,
}

impl Path {
    fn ctx(self) -> Option<Ctx> {
        let cx = Ctx::new_needing_root(
            match self {
                Path::Rootless => Mode::Rootless,
                _ => Mode::Root,
            },
            "network namespaces of its own for the clients",
        )?;
        if let Some(tool) = missing_tool(&["ip", "nft"]) {
            skip(&format!("{tool} is not installed on the host"));
            return None;
        }
        Some(cx)
    }

    /// Options that pick this path (the network is made by the first run).
    fn opts(self) -> &'static [&'static str] {
        match self {
            Path::Dnat | Path::Rootless => &[],
            Path::Forwarder => &["--iptables=false"],
        }
    }
}

/// Run a test once per path, as `NAME::dnat`, `NAME::forwarder` and
/// `NAME::rootless`.
macro_rules! each_path {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn dnat() {
                super::$name(super::Path::Dnat)
            }
            #[test]
            fn forwarder() {
                super::$name(super::Path::Forwarder)
            }
            #[test]
            fn rootless() {
                super::$name(super::Path::Rootless)
            }
        }
    )*};
}

// ---------------------------------------------------------------------------
// The two roles of this binary

/// The entry of both roles; a plain test run passes through.
#[test]
fn role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<String> = std::env::var(ARGS)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    raise_nofile();
    match role.as_str() {
        "server" => server(&args),
        "client" => client(&args),
        other => panic!("unknown role {other}"),
    }
}

fn raise_nofile() {
    // SAFETY: plain getrlimit/setrlimit on this process.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

/// 64 KiB blocks of one pseudo-random block, each stamped with its index
/// and the stream's seed, so that a lost, repeated or reordered block
/// changes the hash.
struct Pattern {
    base: Vec<u8>,
    seed: u64,
}

impl Pattern {
    fn new(seed: u64) -> Pattern {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let base = (0..BLOCK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        Pattern { base, seed }
    }

    fn block(&mut self, i: u64) -> &[u8] {
        self.base[..8].copy_from_slice(&i.to_le_bytes());
        self.base[8..16].copy_from_slice(&self.seed.to_le_bytes());
        &self.base
    }

    /// Write `n` bytes (a multiple of BLOCK) to `w`, returning their sha256.
    fn send(&mut self, w: &mut impl Write, n: usize) -> io::Result<String> {
        let mut h = Sha256::new();
        for i in 0..(n / BLOCK) as u64 {
            let b = self.block(i);
            h.update(b);
            w.write_all(b)?;
        }
        Ok(hex(&h.finalize()))
    }

    fn sha256(&mut self, n: usize) -> String {
        let mut h = Sha256::new();
        for i in 0..(n / BLOCK) as u64 {
            h.update(self.block(i));
        }
        hex(&h.finalize())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Read and hash everything up to EOF: (bytes, sha256).
fn hash_to_eof(r: &mut impl Read) -> io::Result<(usize, String)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok((n, hex(&h.finalize()))),
            Ok(k) => {
                h.update(&buf[..k]);
                n += k;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The server: on every port of `args` (a port, or FROM-TO), TCP and UDP on
/// 0.0.0.0. Each TCP connection starts with a command line:
/// `echo` (echo to EOF, then shut down writing), `sink N` (hash to EOF,
/// answer `HASH hex`, then send N pattern bytes), `stream` (pattern bytes
/// until the peer goes), `who` (the peer's address). UDP: `who` answers
/// the peer's address; anything else is echoed as it is.
fn server(args: &[String]) {
    let mut ports = Vec::new();
    for a in args {
        match a.split_once('-') {
            Some((f, t)) => ports.extend(f.parse::<u16>().unwrap()..=t.parse::<u16>().unwrap()),
            None => ports.push(a.parse::<u16>().unwrap()),
        }
    }
    for port in ports {
        let l = TcpListener::bind(("0.0.0.0", port)).expect("server: bind tcp");
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = serve_tcp(s);
                });
            }
        });
        let u = UdpSocket::bind(("0.0.0.0", port)).expect("server: bind udp");
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, peer)) = u.recv_from(&mut buf) {
                if &buf[..n] == b"who" {
                    let _ = u.send_to(peer.to_string().as_bytes(), peer);
                } else if &buf[..n] == b"tag" {
                    let tag = std::env::var("RRUN_CONF_TAG").unwrap_or_default();
                    let _ = u.send_to(tag.as_bytes(), peer);
                } else {
                    let _ = u.send_to(&buf[..n], peer);
                }
            }
        });
    }
    println!("LISTENING");
    let _ = io::stdout().flush();
    loop {
        std::thread::park();
    }
}

fn serve_tcp(s: TcpStream) -> io::Result<()> {
    let peer = s.peer_addr()?;
    let mut r = io::BufReader::new(s.try_clone()?);
    let mut w = s;
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    match words.next() {
        Some("echo") => {
            let pending = r.buffer().to_vec();
            w.write_all(&pending)?;
            r.consume(pending.len());
            io::copy(r.get_mut(), &mut w)?;
            w.shutdown(Shutdown::Write)
        }
        Some("sink") => {
            let n: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let (got, sum) = hash_to_eof(&mut r)?;
            writeln!(w, "HASH {got} {sum}")?;
            Pattern::new(2).send(&mut w, n)?;
            w.shutdown(Shutdown::Write)
        }
        Some("stream") => {
            let mut p = Pattern::new(3);
            for i in 0.. {
                w.write_all(p.block(i))?;
            }
            Ok(())
        }
        Some("who") => {
            writeln!(w, "{peer}")?;
            w.shutdown(Shutdown::Write)
        }
        _ => Ok(()),
    }
}

/// A client's socket timeouts: below the harness's 20 s per process, above
/// what a loaded 2-core machine needs to hash 256 MiB.
const CLIENT_T: Duration = Duration::from_secs(16);

fn connect(a: &SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(a, CLIENT_T)?;
    s.set_read_timeout(Some(CLIENT_T))?;
    s.set_write_timeout(Some(CLIENT_T))?;
    Ok(s)
}

/// One echo exchange on a fresh connection: true if `token` comes back.
fn echo_once(s: &mut TcpStream, token: &str) -> bool {
    let msg = format!("echo\n{token}\n");
    if s.write_all(msg.as_bytes()).is_err() {
        return false;
    }
    let mut buf = vec![0u8; token.len() + 1];
    s.read_exact(&mut buf).is_ok() && buf[..token.len()] == *token.as_bytes()
}

fn result(k: &str, v: impl std::fmt::Display) {
    println!("RESULT {k}={v}");
    let _ = io::stdout().flush();
}

/// The client: `args[0]` says what to do, `args[1]` is the address.
fn client(args: &[String]) {
    let a: SocketAddr = args[1].parse().expect("client: address");
    let num = |i: usize| -> usize { args[i].parse().expect("client: number") };
    match args[0].as_str() {
        // N connections open at once, each echoing its own token.
        "echo" => {
            let n = num(2);
            let mut conns: Vec<TcpStream> = (0..n)
                .map(|i| connect(&a).unwrap_or_else(|e| panic!("connection {i}: {e}")))
                .collect();
            for (i, c) in conns.iter_mut().enumerate() {
                let msg = format!("echo\ntoken-{i}\n");
                c.write_all(msg.as_bytes()).expect("write");
            }
            let mut ok = 0;
            for (i, c) in conns.iter_mut().enumerate() {
                let want = format!("token-{i}\n");
                let mut buf = vec![0u8; want.len()];
                if c.read_exact(&mut buf).is_ok() && buf == want.as_bytes() {
                    ok += 1;
                }
            }
            // Half-close: the server ends its echo, then EOF arrives.
            let mut eof = 0;
            for c in &mut conns {
                c.shutdown(Shutdown::Write).expect("shutdown");
            }
            for c in &mut conns {
                let mut rest = Vec::new();
                if c.read_to_end(&mut rest).is_ok() && rest.is_empty() {
                    eof += 1;
                }
            }
            result("echoed", ok);
            result("eof", eof);
        }
        // N bytes each way: send, shut down writing, then read the
        // server's hash of what it got and its N bytes.
        "transfer" => {
            let n = num(2);
            // The size of the reply: N unless given.
            let back = if args.len() > 3 { num(3) } else { n };
            let s = connect(&a).expect("connect");
            let mut w = s.try_clone().expect("clone");
            let writer = std::thread::spawn(move || -> io::Result<String> {
                w.write_all(format!("sink {back}\n").as_bytes())?;
                let sum = Pattern::new(1).send(&mut w, n)?;
                w.shutdown(Shutdown::Write)?;
                Ok(sum)
            });
            let mut r = io::BufReader::with_capacity(1 << 16, s);
            let mut line = String::new();
            r.read_line(&mut line).expect("reading the server's hash");
            let sent = writer.join().expect("writer").expect("sending");
            let (got, sum) = hash_to_eof(&mut r).expect("receiving");
            let want = format!("HASH {n} {sent}");
            result("upload", line.trim() == want);
            result(
                "download",
                got == back && sum == Pattern::new(2).sha256(back),
            );
        }
        // A container port where nothing listens: how the client learns.
        "refused" => {
            let t0 = Instant::now();
            let how = match connect(&a) {
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => "refused".to_string(),
                // Accepted and closed before connect() returned.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => "reset".to_string(),
                Err(e) => format!("error:{e}"),
                Ok(mut s) => {
                    let mut b = [0u8; 1];
                    match s.read(&mut b) {
                        Ok(0) => "eof".to_string(),
                        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => "reset".into(),
                        other => format!("other:{other:?}"),
                    }
                }
            };
            result("how", how);
            result("ms", t0.elapsed().as_millis());
        }
        // Echo once, say HELD, then wait for the forwarder to close it.
        "hold" => {
            let mut s = connect(&a).expect("connect");
            s.write_all(b"echo\nheld\n").expect("write");
            let mut b = [0u8; 5];
            s.read_exact(&mut b).expect("echo");
            result("held", 1);
            s.set_read_timeout(Some(Duration::from_secs(15)))
                .expect("timeout");
            let mut rest = Vec::new();
            let end = match s.read_to_end(&mut rest) {
                Ok(_) => "eof".to_string(),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => "reset".into(),
                Err(e) => format!("error:{e}"),
            };
            result("end", end);
        }
        // Reading an endless stream until the container dies.
        "stream" => {
            let mut s = connect(&a).expect("connect");
            s.write_all(b"stream\n").expect("write");
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0usize;
            s.set_read_timeout(Some(Duration::from_secs(15)))
                .expect("timeout");
            let end = loop {
                match s.read(&mut buf) {
                    Ok(0) => break "eof".to_string(),
                    Ok(k) => {
                        total += k;
                        if total >= 1 << 20 && total - k < 1 << 20 {
                            result("streaming", 1);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break "reset".into(),
                    Err(e) => break format!("error:{e}"),
                }
            };
            result("end", end);
        }
        // The ports FROM..=TO of the address's IP all echo.
        "range" => {
            let (from, to) = (num(2) as u16, num(3) as u16);
            let ok = (from..=to)
                .filter(|&p| {
                    let pa = SocketAddr::new(a.ip(), p);
                    connect(&pa).is_ok_and(|mut s| echo_once(&mut s, &format!("port-{p}")))
                })
                .count();
            result("echoed", ok);
        }
        // Far more clients than the forwarder has fds, then recovery.
        "flood" => {
            let n = num(2);
            let mut many: Vec<Option<TcpStream>> = (0..n).map(|_| connect(&a).ok()).collect();
            for (i, c) in many.iter_mut().enumerate() {
                if let Some(s) = c {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    if s.write_all(format!("echo\nf{i:05}\n").as_bytes()).is_err() {
                        *c = None;
                    }
                }
            }
            let mut served = 0;
            for (i, c) in many.iter_mut().enumerate() {
                let Some(s) = c else { continue };
                let mut b = [0u8; 7];
                if s.read_exact(&mut b).is_ok() && b == *format!("f{i:05}\n").as_bytes() {
                    served += 1;
                }
            }
            result("served", served);
            drop(many);
        }
        // UDP: three clients interleaved get only their own replies; the
        // largest datagram and arbitrary bytes come back intact.
        "udp" => {
            let bind = if a.is_ipv4() {
                "127.0.0.1:0"
            } else {
                "[::1]:0"
            };
            let socks: Vec<UdpSocket> = (0..3)
                .map(|_| {
                    let s = UdpSocket::bind(bind).expect("bind");
                    s.set_read_timeout(Some(Duration::from_secs(3)))
                        .expect("timeout");
                    s
                })
                .collect();
            let mut own = 0;
            for round in 0..20 {
                for (i, s) in socks.iter().enumerate() {
                    s.send_to(format!("c{i}r{round}").as_bytes(), a)
                        .expect("send");
                }
                for (i, s) in socks.iter().enumerate() {
                    let mut b = [0u8; 64];
                    if let Ok(n) = s.recv(&mut b)
                        && b[..n] == *format!("c{i}r{round}").as_bytes()
                    {
                        own += 1;
                    }
                }
            }
            result("own", own);
            let mut big = Pattern::new(4).block(0).to_vec();
            big.resize(65507, 0xa5);
            socks[0].send_to(&big, a).expect("send big");
            let mut b = vec![0u8; 70000];
            let n = socks[0].recv(&mut b).unwrap_or(0);
            result("big", n == big.len() && b[..n] == big[..]);
            let garbage: Vec<u8> = (0..=255u8).rev().chain([0, 0, 0xff]).collect();
            socks[1].send_to(&garbage, a).expect("send garbage");
            let n = socks[1].recv(&mut b).unwrap_or(0);
            result("garbage", b[..n] == garbage[..]);
        }
        // One UDP socket asking "tag" every 100 ms: says SAW-<tag> for
        // each new tag that answers, until it saw `args[2]`.
        "udp-follow" => {
            let u = UdpSocket::bind("127.0.0.1:0").expect("bind");
            u.set_read_timeout(Some(Duration::from_millis(100)))
                .expect("timeout");
            let mut last = String::new();
            let t0 = Instant::now();
            let mut b = [0u8; 64];
            while last != args[2] {
                assert!(
                    t0.elapsed() < Duration::from_secs(15),
                    "never saw {}",
                    args[2]
                );
                let _ = u.send_to(b"tag", a);
                if let Ok(n) = u.recv(&mut b) {
                    let tag = String::from_utf8_lossy(&b[..n]).into_owned();
                    if tag != last {
                        result("saw", &tag);
                        last = tag;
                    }
                }
            }
        }
        // The address the server sees for a TCP connection and a UDP
        // flow, beside the client's own.
        "who" => {
            let mut s = connect(&a).expect("connect");
            result("me_tcp", s.local_addr().expect("local addr"));
            s.write_all(b"who\n").expect("write");
            let mut line = String::new();
            io::BufReader::new(s)
                .read_line(&mut line)
                .expect("who reply");
            result("seen_tcp", line.trim());
            let bind = if a.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let u = UdpSocket::bind(bind).expect("bind");
            u.set_read_timeout(Some(Duration::from_secs(3)))
                .expect("timeout");
            u.connect(a).expect("udp connect");
            result("me_udp", u.local_addr().expect("local addr"));
            u.send(b"who").expect("send");
            let mut b = [0u8; 128];
            let n = u.recv(&mut b).expect("who reply");
            result("seen_udp", String::from_utf8_lossy(&b[..n]));
        }
        // UDP `who` from one socket: the source the server sees, now and
        // again after `args[2]` ms of silence.
        "udp-who" => {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.set_read_timeout(Some(Duration::from_secs(3)))
                .expect("timeout");
            let mut b = [0u8; 128];
            let mut ask = || -> String {
                s.send_to(b"who", a).expect("send");
                let n = s.recv(&mut b).expect("who reply");
                String::from_utf8_lossy(&b[..n]).into_owned()
            };
            let first = ask();
            let second = ask();
            std::thread::sleep(Duration::from_millis(num(2) as u64));
            let third = ask();
            result("first", first);
            result("second", second);
            result("third", third);
        }
        other => panic!("unknown client command {other}"),
    }
}

// ---------------------------------------------------------------------------
// The test side

/// The role command line: libtest runs only the `role` test, quietly.
fn role_cmd(role: &str, args: &[&str]) -> Command {
    let mut c = Command::new(self_copy());
    c.args(["role", "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env_clear()
        .env(ROLE, role)
        .env(ARGS, args.join(" "));
    c
}

/// The rrun options and command of a server container: this path's
/// options, `opts`, the binary mounted and the role set.
fn server_args(path: Path, opts: &[&str], ports: &[&str]) -> (Vec<String>, Vec<String>) {
    let bin = self_copy().to_str().expect("UTF-8 path");
    let mut a: Vec<String> = path.opts().iter().map(|s| s.to_string()).collect();
    a.extend(opts.iter().map(|s| s.to_string()));
    a.extend([
        "-v".into(),
        format!("{bin}:{IN_CONTAINER}:ro"),
        "-e".into(),
        "RRUN_CONF_ROLE=server".into(),
        "-e".into(),
        format!("RRUN_CONF_ARGS={}", ports.join(" ")),
    ]);
    let cmd = [
        IN_CONTAINER,
        "role",
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]
    .map(str::to_string)
    .to_vec();
    (a, cmd)
}

/// `rrun -d` of a server container, with `tweak` applied to the command
/// (limits, environment); its id once it listens.
#[track_caller]
fn start_server_with(
    cx: &Ctx,
    path: Path,
    opts: &[&str],
    ports: &[&str],
    tweak: impl FnOnce(&mut Command),
) -> String {
    let (o, cmd) = server_args(path, opts, ports);
    let mut a = vec!["-d".to_string()];
    a.extend(o);
    a.push(cx.rootfs().to_string());
    a.extend(cmd);
    let mut c = cx.cmd(&a);
    tweak(&mut c);
    let out = cx.run(c, Input::Null);
    out.ok();
    let id = out.stdout.trim().to_string();
    cx.wait_logs(&id, "LISTENING");
    id
}

/// Start the server container with `opts` and publish specs, wait until
/// it listens; its id.
#[track_caller]
fn start_server(cx: &Ctx, path: Path, opts: &[&str], ports: &[&str]) -> String {
    let (o, cmd) = server_args(path, opts, ports);
    let o: Vec<&str> = o.iter().map(String::as_str).collect();
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let id = cx.detach(&o, &cmd);
    cx.wait_logs(&id, "LISTENING");
    id
}

/// The client's command, to run in `ns`.
fn client_cmd(ns: &NetNs, args: &[&str]) -> Command {
    let mut c = role_cmd("client", args);
    ns.enter(&mut c);
    c
}

/// Run the client in the test's network namespace; its RESULT lines.
#[track_caller]
fn client_run(cx: &Ctx, args: &[&str]) -> Results {
    client_in(cx, host_ns(cx), args)
}

struct Results {
    kv: Vec<(String, String)>,
    all: String,
}

impl Results {
    /// The RESULT lines of the client's run.
    fn of(out: &Output) -> Results {
        let kv = out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("RESULT "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Results {
            kv,
            all: out.to_string(),
        }
    }

    #[track_caller]
    fn get(&self, k: &str) -> &str {
        self.kv
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("the client printed no {k}\n{}", self.all))
    }

    #[track_caller]
    fn num(&self, k: &str) -> u64 {
        self.get(k)
            .parse()
            .unwrap_or_else(|_| panic!("{k} is not a number\n{}", self.all))
    }
}

/// A neighbour: a namespace of its own on a veth to the test's host
/// namespace (10.77.0.2 there, the host 10.77.0.1).
fn neighbour(cx: &Ctx) -> NetNs {
    let nb = NetNs::new().expect("a neighbour namespace");
    net::connect(
        cx,
        host_ns(cx),
        &nb,
        "nb0",
        "10.77.0.1/24",
        "nb1",
        "10.77.0.2/24",
        &[],
    );
    nb
}

/// The client, run in `ns`.
#[track_caller]
fn client_in(cx: &Ctx, ns: &NetNs, args: &[&str]) -> Results {
    let out = cx.run(client_cmd(ns, args), Input::Null);
    out.ok();
    Results::of(&out)
}

/// (sockets, pipes) open in process `pid`.
fn fd_kinds(pid: i32) -> (usize, usize) {
    let mut n = (0, 0);
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in rd.flatten() {
            let t = std::fs::read_link(e.path()).unwrap_or_default();
            let t = t.to_string_lossy();
            if t.starts_with("socket:") {
                n.0 += 1;
            } else if t.starts_with("pipe:") {
                n.1 += 1;
            }
        }
    }
    n
}

// ---------------------------------------------------------------------------
// The suite

each_path!(
    tcp_ipv4_and_ipv6_listeners,
    transfer_256mib_each_way,
    thousand_concurrent_connections,
    udp_ipv4_and_ipv6_listeners,
    port_range,
    refused_by_container,
    container_dies_mid_transfer,
    stop_closes_listeners_and_connections,
);

fn tcp_ipv4_and_ipv6_listeners(path: Path) {
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    start_server(
        &cx,
        path,
        &["-p", "127.0.0.1:18080:80", "-p", "[::1]:18080:80"],
        &["80"],
    );
    for addr in ["127.0.0.1:18080", "[::1]:18080"] {
        let r = client_run(&cx, &["echo", addr, "10"]);
        assert_eq!(
            r.num("echoed"),
            10,
            "{addr}: every connection echoes\n{}",
            r.all
        );
        assert_eq!(
            r.num("eof"),
            10,
            "{addr}: half-close reaches the server\n{}",
            r.all
        );
    }
}

fn transfer_256mib_each_way(path: Path) {
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    start_server(&cx, path, &["-p", "127.0.0.1:18080:80"], &["80"]);
    let big = BIG.to_string();
    let r = client_run(&cx, &["transfer", "127.0.0.1:18080", &big]);
    assert_eq!(
        r.get("upload"),
        "true",
        "256 MiB up keeps its sha256\n{}",
        r.all
    );
    assert_eq!(
        r.get("download"),
        "true",
        "256 MiB down, after the client shut down writing, keeps its sha256\n{}",
        r.all
    );
}

fn thousand_concurrent_connections(path: Path) {
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    start_server(&cx, path, &["-p", "127.0.0.1:18080:80"], &["80"]);
    let r = client_run(&cx, &["echo", "127.0.0.1:18080", "1000"]);
    assert_eq!(r.num("echoed"), 1000, "all 1,000 echo\n{}", r.all);
    assert_eq!(r.num("eof"), 1000, "all 1,000 end cleanly\n{}", r.all);
}

fn udp_ipv4_and_ipv6_listeners(path: Path) {
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    start_server(
        &cx,
        path,
        &["-p", "127.0.0.1:18053:53/udp", "-p", "[::1]:18053:53/udp"],
        &["53"],
    );
    for addr in ["127.0.0.1:18053", "[::1]:18053"] {
        let r = client_run(&cx, &["udp", addr]);
        assert_eq!(r.num("own"), 60, "{addr}: only own replies\n{}", r.all);
        assert_eq!(
            r.get("big"),
            "true",
            "{addr}: 65,507 bytes intact\n{}",
            r.all
        );
        assert_eq!(
            r.get("garbage"),
            "true",
            "{addr}: bytes as they are\n{}",
            r.all
        );
    }
}

fn port_range(path: Path) {
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    let id = start_server(
        &cx,
        path,
        &["-p", "127.0.0.1:20000-20099:20000-20099"],
        &["20000-20099"],
    );
    let r = client_run(&cx, &["range", "127.0.0.1:1", "20000", "20099"]);
    assert_eq!(r.num("echoed"), 100, "every port of the range\n{}", r.all);
    let out = cx.rrun(&["port", &id]);
    out.ok();
    assert_eq!(out.lines().len(), 100, "rrun port lists the range\n{out}");
}

fn refused_by_container(path: Path) {
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    // The server listens on 80; 81 is published but closed.
    start_server(&cx, path, &["-p", "127.0.0.1:18081:81"], &["80"]);
    for _ in 0..20 {
        let r = client_run(&cx, &["refused", "127.0.0.1:18081"]);
        let how = r.get("how");
        assert!(
            ["refused", "eof", "reset"].contains(&how),
            "a refused connection is refused or closed, not left open\n{}",
            r.all
        );
        assert!(r.num("ms") < 2000, "promptly\n{}", r.all);
    }
}

fn container_dies_mid_transfer(path: Path) {
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    let id = start_server(&cx, path, &["-p", "127.0.0.1:18080:80"], &["80"]);
    assert_eq!(
        forwarder_pid(&cx, &id),
        None,
        "the forwarder starts at the first client, not before"
    );
    let mut p = cx.spawn(
        client_cmd(host_ns(&cx), &["stream", "127.0.0.1:18080"]),
        Input::Null,
    );
    p.wait_line("RESULT streaming=1");
    // Every mode: the host's loopback clients are the forwarder's (kernel
    // NAT from 127.0.0.1 would need route_localnet).
    let fwd = forwarder_pid(&cx, &id);
    assert!(fwd.is_some(), "a forwarder serves the loopback client");
    cx.rrun(&["kill", &id]).ok();
    let out = p.wait();
    out.ok();
    let r = Results::of(&out);
    assert!(
        ["eof", "reset"].contains(&r.get("end")),
        "the client sees EOF or a reset\n{}",
        r.all
    );
    cx.wait_exited(&id);
    if let Some(pid) = fwd {
        assert!(
            poll_until(SETTLE, || !pid_alive(pid)),
            "the forwarder ends with its container"
        );
    }
}

fn stop_closes_listeners_and_connections(path: Path) {
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    let id = start_server(
        &cx,
        path,
        &["-p", "127.0.0.1:18080:80", "-p", "[::1]:18080:80"],
        &["80"],
    );
    let mut held = Vec::new();
    for addr in ["127.0.0.1:18080", "[::1]:18080"] {
        let mut p = cx.spawn(client_cmd(host_ns(&cx), &["hold", addr]), Input::Null);
        p.wait_line("RESULT held=1");
        held.push(p);
    }
    cx.rrun(&["stop", "-t", "1", &id]).ok();
    for p in held {
        let out = p.wait();
        out.ok();
        let r = Results::of(&out);
        assert!(
            ["eof", "reset"].contains(&r.get("end")),
            "stop closes the connection\n{}",
            r.all
        );
    }
    for addr in ["127.0.0.1:18080", "[::1]:18080"] {
        let r = client_run(&cx, &["refused", addr]);
        assert_eq!(
            r.get("how"),
            "refused",
            "{addr}: no listener after stop\n{}",
            r.all
        );
    }
}

/// Issue 8: containers see a forwarded client's own address and port, TCP
/// and UDP, on every path; a client on the host's loopback appears as the
/// gateway.
fn client_address_kept(path: Path) {
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    let id = start_server(
        &cx,
        path,
        &["-p", "18080:80", "-p", "18080:80/udp"],
        &["80"],
    );
    let nb = neighbour(&cx);
    let r = client_in(&cx, &nb, &["who", "10.77.0.1:18080"]);
    assert_eq!(
        r.get("seen_tcp"),
        r.get("me_tcp"),
        "TCP: the client's own address and port\n{}",
        r.all
    );
    assert_eq!(
        r.get("seen_udp").split(':').next(),
        Some("10.77.0.2"),
        "UDP: the client's own address\n{}",
        r.all
    );
    assert_eq!(
        r.get("seen_udp"),
        r.get("me_udp").replace("0.0.0.0", "10.77.0.2"),
        "UDP: and its port\n{}",
        r.all
    );
    // From the host's loopback: the gateway.
    let gw = cx.inspect_f("{{.NetworkSettings.Gateway}}", &id);
    let r = client_run(&cx, &["who", "127.0.0.1:18080"]);
    assert!(
        r.get("seen_tcp").starts_with(&format!("{gw}:")),
        "a loopback client appears as the gateway {gw}\n{}",
        r.all
    );
    let out = cx.rrun(&["network", "inspect"]);
    assert!(
        out.stdout
            .contains("\"UserlandProxySource\": \"transparent\""),
        "{out}"
    );
    // Many clients at once, each seen as itself.
    let many: Vec<Proc> = (0..10)
        .map(|_| {
            let mut c = role_cmd("client", &["who", "10.77.0.1:18080"]);
            nb.enter(&mut c);
            cx.spawn(c, Input::Null)
        })
        .collect();
    for p in many {
        let out = p.wait();
        out.ok();
        let r = Results::of(&out);
        assert_eq!(r.get("seen_tcp"), r.get("me_tcp"), "{}", r.all);
    }
    // The network's rule, route and chain go with it. Rootless they live
    // in the user's network namespace: look there (as root) before rm.
    let where_ns = match path {
        Path::Rootless => {
            let h = cx.holder().expect("a holder");
            format!("nsenter -t {h} -n ")
        }
        _ => String::new(),
    };
    let look = format!(
        "{where_ns}ip rule; {where_ns}ip route show table 29298; {where_ns}nft list ruleset | grep -c mark_transparent"
    );
    let sh_in_host = |script: &str| net::sh_ns(&cx, host_ns(&cx), script);
    let before = sh_in_host(&look);
    assert!(
        before.stdout.contains("0x72720001"),
        "the rule is there\n{before}"
    );
    cx.rrun(&["rm", "-f", &id]).ok();
    cx.rrun(&["network", "rm"]).ok();
    // (Rootless, the user's namespace itself outlives the network.)
    let after = sh_in_host(&look);
    assert!(
        !after.stdout.contains("0x72720001"),
        "no rule left\n{after}"
    );
    assert!(
        !after.stdout.contains("local default"),
        "no route left\n{after}"
    );
    assert!(
        after.stdout.trim_end().ends_with('0'),
        "no nft chain left\n{after}"
    );
}

/// --userland-proxy-source=gateway: the forwarder's clients appear as the
/// gateway (kernel DNAT keeps them, as Docker's does).
fn client_address_gateway_setting(path: Path) {
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    let id = start_server(
        &cx,
        path,
        &[
            "--userland-proxy-source=gateway",
            "-p",
            "18080:80",
            "-p",
            "18080:80/udp",
        ],
        &["80"],
    );
    let nb = neighbour(&cx);
    let gw = cx.inspect_f("{{.NetworkSettings.Gateway}}", &id);
    let r = client_in(&cx, &nb, &["who", "10.77.0.1:18080"]);
    let want = if path == Path::Dnat {
        "10.77.0.2"
    } else {
        gw.as_str()
    };
    for k in ["seen_tcp", "seen_udp"] {
        assert_eq!(r.get(k).split(':').next(), Some(want), "{k}\n{}", r.all);
    }
    let out = cx.rrun(&["network", "inspect"]);
    assert!(
        out.stdout.contains("\"UserlandProxySource\": \"gateway\""),
        "{out}"
    );
}

each_path!(
    client_address_kept,
    client_address_gateway_setting,
    udp_client_follows_a_replaced_container
);

/// A UDP client that keeps sending from one socket while its container is
/// replaced (rm -f, then a new one with the same -p) reaches the new one:
/// kernel NAT deletes the stale conntrack entry, the forwarder's listener
/// goes with the old container.
fn udp_client_follows_a_replaced_container(path: Path) {
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    let a = start_server(
        &cx,
        path,
        &["-e", "RRUN_CONF_TAG=first", "-p", "127.0.0.1:18053:53/udp"],
        &["53"],
    );
    let mut p = cx.spawn(
        client_cmd(host_ns(&cx), &["udp-follow", "127.0.0.1:18053", "second"]),
        Input::Null,
    );
    p.wait_line("RESULT saw=first");
    cx.rrun(&["rm", "-f", &a]).ok();
    start_server(
        &cx,
        path,
        &["-e", "RRUN_CONF_TAG=second", "-p", "127.0.0.1:18053:53/udp"],
        &["53"],
    );
    let out = p.wait();
    out.ok();
    assert!(out.stdout.contains("RESULT saw=second"), "{out}");
}

// --- the forwarder alone

/// Issue 7: 1 GiB through the forwarder (one way; the 256 MiB test above
/// covers both ways) keeps its sha256.
#[test]
fn forwarder_1gib_transfer() {
    let path = Path::Forwarder;
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    start_server(&cx, path, &["-p", "127.0.0.1:18080:80"], &["80"]);
    let gib = (1usize << 30).to_string();
    let r = client_run(&cx, &["transfer", "127.0.0.1:18080", &gib, "65536"]);
    assert_eq!(r.get("upload"), "true", "1 GiB keeps its sha256\n{}", r.all);
    assert_eq!(r.get("download"), "true", "{}", r.all);
}

mod forwarder_out_of_fds_recovers {
    #[test]
    fn forwarder() {
        super::forwarder_out_of_fds_recovers(super::Path::Forwarder)
    }
    #[test]
    fn rootless() {
        super::forwarder_out_of_fds_recovers(super::Path::Rootless)
    }
}

mod forwarder_udp_flows_expire {
    #[test]
    fn forwarder() {
        super::forwarder_udp_flows_expire(super::Path::Forwarder)
    }
    #[test]
    fn rootless() {
        super::forwarder_udp_flows_expire(super::Path::Rootless)
    }
}

fn forwarder_out_of_fds_recovers(path: Path) {
    use std::os::unix::process::CommandExt;
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    // rrun (and so its monitor, forwarder and container) with 256 fds.
    let id = start_server_with(&cx, path, &["-p", "127.0.0.1:18080:80"], &["80"], |c| {
        // SAFETY: setrlimit is async-signal-safe and touches only the child.
        unsafe {
            c.pre_exec(|| {
                let rl = libc::rlimit {
                    rlim_cur: 256,
                    rlim_max: 256,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    // The forwarder starts at the first client.
    let r = client_run(&cx, &["echo", "127.0.0.1:18080", "1"]);
    assert_eq!(r.num("echoed"), 1, "{}", r.all);
    let fwd = forwarder_pid(&cx, &id).expect("a forwarder runs");
    // Warm up (the pipe pool fills), then the baseline. The sockets'
    // baseline is the listeners: counted before and after the warm-up, the
    // lower (the warm-up's connections may still be closing, or the
    // forwarder still dropping what it inherited, at either count).
    let (before, _) = fd_kinds(fwd);
    let r = client_run(&cx, &["echo", "127.0.0.1:18080", "20"]);
    assert_eq!(r.num("echoed"), 20, "{}", r.all);
    let (after, pipes) = fd_kinds(fwd);
    let sockets = before.min(after);
    let r = client_run(&cx, &["flood", "127.0.0.1:18080", "1000"]);
    let served = r.num("served");
    assert!(
        served > 0 && served < 1000,
        "with 256 fds some of 1,000 are served and the rest refused, served {served}\n{}",
        r.all
    );
    // The old connections close in their own time (each side's EOF has to
    // travel): wait for the forwarder's sockets to go back to baseline,
    // then new clients are served normally.
    let mut now = (0, 0);
    let back = poll_until(SETTLE, || {
        now = fd_kinds(fwd);
        now.0 <= sockets && now.1 <= pipes.max(2 * 16)
    });
    assert!(
        back,
        "the forwarder's fds go back to baseline: sockets {sockets}→{}, pipes {pipes}→{}",
        now.0, now.1
    );
    let r = client_run(&cx, &["echo", "127.0.0.1:18080", "20"]);
    assert_eq!(
        r.num("echoed"),
        20,
        "new clients are served normally\n{}",
        r.all
    );
    assert!(pid_alive(fwd), "the forwarder survived");
}

fn forwarder_udp_flows_expire(path: Path) {
    let Some(cx) = path.ctx() else { return };
    let _c = Cleanup::new(&cx);
    start_server_with(&cx, path, &["-p", "127.0.0.1:18053:53/udp"], &["53"], |c| {
        c.env("RRUN_PROXY_UDP_TIMEOUT", "1");
    });
    // Silence of 2.5 s against a 1 s timeout: the flow is gone, the next
    // datagram opens a new one (a new source port toward the container).
    let r = client_run(&cx, &["udp-who", "127.0.0.1:18053", "2500"]);
    assert_eq!(
        r.get("first"),
        r.get("second"),
        "one flow while active\n{}",
        r.all
    );
    assert_ne!(
        r.get("first"),
        r.get("third"),
        "the idle flow expired\n{}",
        r.all
    );
    // A bad value is refused before anything starts.
    let mut c = cx.cmd(&["--rm", cx.rootfs(), "true"]);
    c.env("RRUN_PROXY_UDP_TIMEOUT", "soon");
    let out = cx.run(c, Input::Null);
    out.expect_code(125);
    assert!(out.stderr.contains("RRUN_PROXY_UDP_TIMEOUT"), "{out}");
}
