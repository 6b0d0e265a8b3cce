//! DNS load client of `make bench-dns` (bench/dns.sh).
//!
//!   dnsbench ADDR:PORT NAME[,NAME...] [-n N] [--conc K] [--timeout-ms T] [--type A|AAAA]
//!
//! Sends N queries over UDP (default 20000) for the names in turn, K in
//! flight at once (default 1), each from a socket of its own connected to
//! the server, and times each from send to reply. A reply counts as a
//! lookup when it has the query's id, RCODE NOERROR and at least one answer
//! record; anything else (another rcode, no answer, truncated, no reply
//! within T ms, default 1000) is a failure. Prints one line:
//!
//!   dns LOOKUPS_PER_S P50_US P99_US failures F n N
//!
//! (the rate counts lookups only, over the whole run; the percentiles are
//! of the lookups' latencies). Exit status 1 when nothing succeeded.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::process::exit;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("dnsbench: {msg}");
    exit(1)
}

struct Args {
    addr: SocketAddr,
    names: Vec<String>,
    n: usize,
    conc: usize,
    timeout: Duration,
    qtype: u16,
}

fn parse(mut it: impl Iterator<Item = String>) -> Args {
    let usage = "usage: dnsbench ADDR:PORT NAME[,NAME...] [-n N] [--conc K] [--timeout-ms T] [--type A|AAAA]";
    let addr = it
        .next()
        .unwrap_or_else(|| die(usage))
        .parse()
        .unwrap_or_else(|e| die(format!("ADDR:PORT: {e}")));
    let names: Vec<String> = it
        .next()
        .unwrap_or_else(|| die(usage))
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        die("no names");
    }
    let mut a = Args {
        addr,
        names,
        n: 20_000,
        conc: 1,
        timeout: Duration::from_millis(1000),
        qtype: 1,
    };
    while let Some(k) = it.next() {
        let v = it
            .next()
            .unwrap_or_else(|| die(format!("{k} needs a value")));
        let bad = |e: &dyn std::fmt::Display| -> ! { die(format!("{k} {v}: {e}")) };
        match k.as_str() {
            "-n" => a.n = v.parse().unwrap_or_else(|e| bad(&e)),
            "--conc" => a.conc = v.parse().unwrap_or_else(|e| bad(&e)),
            "--timeout-ms" => {
                a.timeout = Duration::from_millis(v.parse().unwrap_or_else(|e| bad(&e)))
            }
            "--type" => {
                a.qtype = match v.as_str() {
                    "A" => 1,
                    "AAAA" => 28,
                    _ => bad(&"A or AAAA"),
                }
            }
            _ => die(format!("unknown option {k}")),
        }
    }
    if a.conc == 0 || a.n == 0 {
        die("-n and --conc must be at least 1");
    }
    a
}

/// A standard query, RD set, class IN.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            die(format!("name {name:?}: empty or long label"));
        }
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// A lookup: the query's id, QR, not truncated, NOERROR, an answer.
fn good_reply(r: &[u8], id: u16) -> bool {
    r.len() >= 12
        && r[..2] == id.to_be_bytes()
        && r[2] & 0x80 != 0
        && r[2] & 0x02 == 0
        && r[3] & 0x0f == 0
        && u16::from_be_bytes([r[6], r[7]]) > 0
}

struct Slot {
    sock: UdpSocket,
    /// The query in flight: its id and when it was sent.
    busy: Option<(u16, Instant)>,
}

fn main() {
    let a = parse(std::env::args().skip(1));
    let bind: SocketAddr = if a.addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .unwrap_or_else(|e| die(e));
    let mut slots: Vec<Slot> = (0..a.conc.min(a.n))
        .map(|_| {
            let s = UdpSocket::bind(bind).unwrap_or_else(|e| die(format!("bind: {e}")));
            s.connect(a.addr)
                .unwrap_or_else(|e| die(format!("connect {}: {e}", a.addr)));
            s.set_nonblocking(true)
                .unwrap_or_else(|e| die(format!("nonblocking: {e}")));
            Slot {
                sock: s,
                busy: None,
            }
        })
        .collect();
    let (mut sent, mut done, mut failures) = (0usize, 0usize, 0usize);
    let mut lat_us: Vec<u64> = Vec::with_capacity(a.n);
    let mut next_id: u16 = 1;
    let mut buf = [0u8; 4096];
    let t0 = Instant::now();
    let mut send = |slot: &mut Slot, sent: &mut usize| {
        let id = next_id;
        next_id = next_id.wrapping_add(1).max(1);
        let q = query(id, &a.names[*sent % a.names.len()], a.qtype);
        *sent += 1;
        slot.busy = Some((id, Instant::now()));
        // A failed send is a query that times out.
        let _ = slot.sock.send(&q);
    };
    for s in slots.iter_mut() {
        send(s, &mut sent);
    }
    while done < a.n {
        let now = Instant::now();
        let wait = slots
            .iter()
            .filter_map(|s| {
                s.busy
                    .map(|(_, t)| (t + a.timeout).saturating_duration_since(now))
            })
            .min()
            .unwrap_or(Duration::ZERO);
        let revents: Vec<bool> = {
            let mut fds: Vec<PollFd> = slots
                .iter()
                .map(|s| PollFd::new(s.sock.as_fd(), PollFlags::POLLIN))
                .collect();
            let ms = wait.as_millis().min(60_000) as u16;
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => die(format!("poll: {e}")),
            }
            fds.iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        let now = Instant::now();
        for (slot, ready) in slots.iter_mut().zip(revents) {
            let Some((id, t)) = slot.busy else { continue };
            let mut finished = None;
            if ready {
                loop {
                    match slot.sock.recv(&mut buf) {
                        // A stale reply (an earlier, timed-out query's): not this one.
                        Ok(n) if n >= 2 && buf[..2] != id.to_be_bytes() => continue,
                        Ok(n) => {
                            finished = Some(good_reply(&buf[..n], id));
                            break;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            finished = Some(false);
                            break;
                        }
                    }
                }
            }
            if finished.is_none() && now >= t + a.timeout {
                finished = Some(false);
            }
            let Some(ok) = finished else { continue };
            if ok {
                lat_us.push(now.duration_since(t).as_micros() as u64);
            } else {
                failures += 1;
            }
            done += 1;
            slot.busy = None;
            if sent < a.n {
                send(slot, &mut sent);
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    lat_us.sort_unstable();
    let pct = |p: f64| -> u64 {
        if lat_us.is_empty() {
            return 0;
        }
        lat_us[((lat_us.len() - 1) as f64 * p).round() as usize]
    };
    println!(
        "dns {:.0} {} {} failures {} n {}",
        lat_us.len() as f64 / secs,
        pct(0.50),
        pct(0.99),
        failures,
        a.n
    );
    if lat_us.is_empty() {
        exit(1);
    }
}
