//! Outbound traffic of the rootless network: one pasta per user network,
//! attached to the user's network namespace (ns.rs) and recorded in
//! `network/pasta.json` (pid and start time), so that later runs reuse it,
//! `network rm` stops it, and a new holder can adopt the namespaces it
//! keeps alive. Without pasta the network still works inside (containers
//! reach each other and their published ports): that is said once, when
//! the network is made, and recorded so later runs stay quiet.

use std::io;

use serde::{Deserialize, Serialize};

use super::{dir, pasta, read_json, write_json};
use crate::state::State;
use crate::sys;

/// What `network/pasta.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    pub pid: libc::pid_t,
    pub start_time: u64,
    /// The user network namespace it serves (inode).
    pub net_ino: u64,
    /// Why there is no pasta (the warning given), if there is none.
    #[serde(default)]
    pub unavailable: String,
    /// The address containers send DNS queries to (pasta forwards them to
    /// the host's resolver), if pasta runs.
    #[serde(default)]
    pub dns: Option<std::net::Ipv4Addr>,
}

fn record_path(st: &State) -> std::path::PathBuf {
    dir(st).join("pasta.json")
}

pub fn record(st: &State) -> Option<Record> {
    read_json(&record_path(st)).ok().flatten()
}

/// pasta's pid and start time, if it is recorded and alive.
pub fn live(st: &State) -> Option<(libc::pid_t, u64)> {
    let r = record(st)?;
    (r.pid > 0 && sys::alive(r.pid, r.start_time)).then_some((r.pid, r.start_time))
}

/// Make sure the user's network namespace has its pasta, unless pasta is
/// known to be unavailable for it. Never fails the run: a problem is one
/// warning on stderr, once per network namespace. Returns the DNS
/// forwarding address of the pasta in force, if any. `holder` is the pid of
/// the process holding the user's namespaces, `net_ino` the inode of its
/// network namespace.
pub fn ensure(st: &State, holder: libc::pid_t, net_ino: u64) -> Option<std::net::Ipv4Addr> {
    let Ok(_lock) = st.lock() else {
        return record(st).and_then(|r| r.dns);
    };
    let old = record(st);
    if let Some(r) = &old
        && r.net_ino == net_ino
        && (!r.unavailable.is_empty() || sys::alive(r.pid, r.start_time))
    {
        return r.dns;
    }
    // A pasta of an older namespace (the holder was rebuilt) serves no one.
    if let Some(r) = &old {
        stop_record(r);
    }
    let rec = match start(holder) {
        Ok((p, dns)) => Record {
            pid: p.pid,
            start_time: p.start_time,
            net_ino,
            unavailable: String::new(),
            dns: Some(dns),
        },
        Err(why) => {
            let tcp = if crate::bypass::available() {
                "; their TCP connections still leave through the socket bypass (unless --outbound-bypass=false)"
            } else {
                ""
            };
            eprintln!(
                "rrun: warning: containers have no outbound network: {why}; they still reach each other and their published ports{tcp}"
            );
            Record {
                net_ino,
                unavailable: why,
                ..Record::default()
            }
        }
    };
    let d = dir(st);
    let _ = std::fs::create_dir_all(&d);
    let _ = write_json(&record_path(st), &rec);
    rec.dns
}

/// RRUN_PASTA: the pasta program to use (a name looked up in PATH, or a
/// path), for pasta installed elsewhere; default "pasta".
fn start(holder: libc::pid_t) -> Result<(pasta::Pasta, std::net::Ipv4Addr), String> {
    let want = std::env::var_os("RRUN_PASTA").filter(|v| !v.is_empty());
    let bin =
        pasta::find(want.as_deref().map(std::path::Path::new)).ok_or_else(|| match &want {
            Some(w) => format!(
                "RRUN_PASTA={} is not an executable program",
                w.to_string_lossy()
            ),
            None => "pasta is not installed (install the passt package: apt-get install passt)"
                .to_string(),
        })?;
    let features = pasta::probe(&bin).map_err(|e| e.to_string())?;
    // No pid file: pasta's AppArmor profile lets it write only under /tmp
    // and $HOME; start() finds the daemon by its command line instead.
    let mut plan = pasta::PastaPlan::for_holder(holder, None);
    // IPv6 too where the host routes it (containers on IPv6 networks
    // reach out through it); if pasta will not, IPv4 alone as before.
    if host_has_ipv6_default_route() {
        plan.ipv4_only = false;
        if let Ok(p) = pasta::start(&bin, &features, &plan, pasta::START_TIMEOUT) {
            return Ok((p, pasta::DNS_FORWARD));
        }
        plan.ipv4_only = true;
    }
    let p =
        pasta::start(&bin, &features, &plan, pasta::START_TIMEOUT).map_err(|e| e.to_string())?;
    Ok((p, pasta::DNS_FORWARD))
}

/// Whether the current network namespace has an IPv6 default route (not
/// through loopback): /proc/net/ipv6_route's all-zero destination of
/// length 0.
fn host_has_ipv6_default_route() -> bool {
    std::fs::read_to_string("/proc/net/ipv6_route").is_ok_and(|t| {
        t.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 10 && f[0].bytes().all(|b| b == b'0') && f[1] == "00" && f[9] != "lo"
        })
    })
}

fn stop_record(r: &Record) {
    if r.pid > 0 {
        let _ = pasta::Pasta {
            pid: r.pid,
            start_time: r.start_time,
        }
        .stop();
    }
}

/// Stop the network's pasta and forget it (`network rm`).
pub fn stop(st: &State) -> io::Result<()> {
    if let Some(r) = record(st) {
        stop_record(&r);
    }
    match std::fs::remove_file(record_path(st)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
