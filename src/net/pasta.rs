//! pasta (from the passt package): the one helper process per user network
//! that connects the user's network namespace to the host for outbound
//! traffic. This module owns everything about pasta itself: finding the
//! binary, probing which flags this build knows (`pasta --help`), the
//! command line, starting it as a daemon and knowing when it is ready, and
//! recognising or stopping it later by pid + start time. It touches nothing
//! inside the namespace; the bridge, the nft masquerade to pasta's address
//! and the containers' resolv.conf belong to the callers.
//!
//! What pasta does, measured with Debian 12's build (0.0~git20230309) and
//! checked against upstream's sources for later ones:
//!
//! - `--config-net` makes one tap interface in the namespace named like the
//!   host's default-route interface (or `--ns-ifname`), with the *host's*
//!   address and prefix, the host's default gateway, MTU 65520, and brings
//!   `lo` up. IPv6 only if the host has an IPv6 default route (and no `-4`).
//!   A host without a default route makes it fail: "No external routable
//!   interface for IPv4" … "External interface not usable", status 1.
//! - Readiness: the process we spawn configures the namespace, forks the
//!   daemon, writes the daemon's pid to `--pid FILE` and exits 0; the daemon
//!   points its stdio at /dev/null. So "our child exited 0" means the tap is
//!   up and the pid file is complete; its stderr reaching EOF comes with it.
//!   Start-up takes ~15–70 ms here.
//! - Every failure is status 1 with one line on stderr ("Failed to open tun
//!   socket in namespace" for any /dev/net/tun problem and for a second pasta
//!   on the same namespace, "Couldn't open user namespace …" for a dead
//!   holder, "PID file open: …"). Without a syslog socket each line is
//!   preceded by "Failed to send N bytes to syslog", which we drop.
//! - Port forwarding defaults to `auto` both ways and the gateway address
//!   maps to the host's loopback: `-t/-u/-T/-U none` and `--no-map-gw`
//!   (later builds: `--map-host-loopback none`) turn all of that off.
//! - `--dns-forward ADDR`: port 53 (UDP; TCP untried) sent to ADDR goes to the first
//!   nameserver of the host's /etc/resolv.conf (read once, at start), even a
//!   loopback one such as 127.0.0.53 and even with `--no-map-gw`. Containers'
//!   resolv.conf names ADDR ([`DNS_FORWARD`], as Podman does); it is routed
//!   through the namespace's default route to pasta.
//! - The 2023 build never exits by itself: it keeps the namespace alive
//!   (it holds an fd to it) after the holder dies. Builds from 2024 on poll
//!   /proc/H/ns/net every second and exit when the holder is gone. Either
//!   way the owner of the network stops it ([`Pasta::stop`]).
//! - The daemon is not dumpable (its /proc/PID is root's, fd/ unreadable),
//!   but /proc/PID/stat and cmdline stay readable; its comm is `passt.avx2`
//!   or `passt`, its `argv[0]` what we gave.
//! - Debian 12's AppArmor profile (/etc/apparmor.d/usr.bin.passt) lets pasta
//!   write only under `/tmp/**` and `$HOME/**` (as owner): a pid file
//!   elsewhere should fail with "PID file open: Permission denied" where
//!   AppArmor is on. With [`PastaPlan::pid_file`] unset, [`start`] finds the
//!   daemon by its command line instead.
//! - The 2023 build repeats a server's reply over and over when the client
//!   half-closed first (`nc host port </dev/null`); whole transfers are fine.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{AccessFlags, Pid, access};

/// The address containers use as their nameserver: pasta forwards DNS sent
/// there to the host's resolver (`--dns-forward`). Link-local, so it never
/// collides with a real network; the same address Podman gives pasta.
pub const DNS_FORWARD: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// How long [`start`] waits by default; pasta is ready in well under 0.1 s.
pub const START_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum PastaError {
    #[error("running {} --help: {source}", .path.display())]
    Probe {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} does not look like pasta (its --help printed: {output})", .path.display())]
    NotPasta { path: PathBuf, output: String },
    #[error("this pasta is too old: it lacks {0}; install a newer passt package")]
    Unsupported(&'static str),
    #[error("removing the old pid file {}: {source}", .path.display())]
    RemovePidFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("starting {}: {source}", .path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("waiting for pasta to start: {0}")]
    Wait(#[source] io::Error),
    #[error("pasta failed ({status}): {message}")]
    Exited { status: ExitStatus, message: String },
    #[error("pasta was not ready after {} ms{}", .after.as_millis(), tail(.message))]
    Timeout { after: Duration, message: String },
    #[error("reading pasta's pid file {}: {source}", .path.display())]
    ReadPidFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("pasta's pid file {} holds {content:?}, not a pid", .path.display())]
    BadPidFile { path: PathBuf, content: String },
    #[error("pasta started but its daemon process could not be found{}", tail(.message))]
    NoDaemon { message: String },
    #[error("reading /proc/{pid}/stat of pasta: {source}")]
    Stat {
        pid: i32,
        #[source]
        source: io::Error,
    },
    #[error("pasta (pid {pid}) exited right after starting{}", tail(.message))]
    Died { pid: i32, message: String },
    #[error("signalling pasta (pid {pid}): {source}")]
    Signal {
        pid: i32,
        #[source]
        source: io::Error,
    },
}

fn tail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// The long options one pasta build knows, from its `--help`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    long: BTreeSet<String>,
}

impl Features {
    /// The long options listed in a `pasta --help` text (without the
    /// leading dashes). Only option lines count: a line whose first
    /// non-blank character is `-`, read up to its first word that is not
    /// an option (`-t, --tcp-ports SPEC` gives `tcp-ports`).
    pub fn parse(help: &str) -> Features {
        let mut long = BTreeSet::new();
        for line in help.lines() {
            let line = line.trim_start();
            if !line.starts_with('-') {
                continue;
            }
            for word in line.split([' ', '\t', ',']).filter(|w| !w.is_empty()) {
                if let Some(name) = word.strip_prefix("--") {
                    let name = name.trim_end_matches(':');
                    let plain = name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                    if !name.is_empty() && plain {
                        long.insert(name.to_string());
                    }
                } else if !word.starts_with('-') {
                    break;
                }
            }
        }
        Features { long }
    }

    /// Whether this pasta knows `--name` (give the name without dashes).
    pub fn has(&self, name: &str) -> bool {
        self.long.contains(name)
    }

    /// The first option `plan` needs that this pasta lacks, with dashes.
    pub fn missing(&self, plan: &PastaPlan) -> Option<&'static str> {
        let mut needed = vec![
            "--config-net",
            "--userns",
            "--netns",
            "--tcp-ports",
            "--udp-ports",
            "--tcp-ns",
            "--udp-ns",
        ];
        if plan.pid_file.is_some() {
            needed.push("--pid");
        }
        if plan.dns_forward.is_some() {
            needed.push("--dns-forward");
        }
        if plan.ns_ifname.is_some() {
            needed.push("--ns-ifname");
        }
        if plan.ipv4_only {
            needed.push("--ipv4-only");
        }
        if let Some(opt) = needed.into_iter().find(|o| !self.has(&o[2..])) {
            return Some(opt);
        }
        if !self.has("no-map-gw") && !self.has("map-host-loopback") {
            return Some("--no-map-gw");
        }
        None
    }
}

/// What to ask of pasta for one user network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastaPlan {
    /// The user namespace to join (`/proc/HOLDER/ns/user`).
    pub userns: PathBuf,
    /// The network namespace to connect (`/proc/HOLDER/ns/net`).
    pub netns: PathBuf,
    /// Where pasta writes its daemon's pid. None: found by command line
    /// (for hosts whose AppArmor profile forbids the path; see the top).
    pub pid_file: Option<PathBuf>,
    /// Where containers send DNS; pasta forwards it to the host's resolver.
    pub dns_forward: Option<IpAddr>,
    /// The tap's name in the namespace (default: the host's interface's).
    pub ns_ifname: Option<String>,
    /// IPv4 only (`-4`): containers are IPv4, and this avoids depending on
    /// the host's IPv6 setup.
    pub ipv4_only: bool,
}

impl PastaPlan {
    /// The usual plan for the namespaces held by `holder`.
    pub fn for_holder(holder: i32, pid_file: Option<PathBuf>) -> PastaPlan {
        PastaPlan {
            userns: PathBuf::from(format!("/proc/{holder}/ns/user")),
            netns: PathBuf::from(format!("/proc/{holder}/ns/net")),
            pid_file,
            dns_forward: Some(IpAddr::V4(DNS_FORWARD)),
            ns_ifname: None,
            ipv4_only: true,
        }
    }
}

/// pasta's arguments (after `argv[0]`) for `plan`: configure the namespace,
/// publish nothing either way, no host-loopback mapping, forward DNS,
/// daemonize. Check [`Features::missing`] first; options this pasta lacks
/// are left out here.
pub fn argv(features: &Features, plan: &PastaPlan) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |s: &str| a.push(OsString::from(s));
    push("--config-net");
    for opt in ["--tcp-ports", "--udp-ports", "--tcp-ns", "--udp-ns"] {
        push(opt);
        push("none");
    }
    if features.has("no-map-gw") {
        push("--no-map-gw");
    } else if features.has("map-host-loopback") {
        push("--map-host-loopback");
        push("none");
    }
    if features.has("quiet") {
        push("--quiet");
    }
    if plan.ipv4_only {
        push("--ipv4-only");
    }
    if let Some(name) = &plan.ns_ifname {
        push("--ns-ifname");
        push(name);
    }
    if let Some(addr) = plan.dns_forward {
        push("--dns-forward");
        push(&addr.to_string());
    }
    if let Some(path) = &plan.pid_file {
        a.push("--pid".into());
        a.push(path.into());
    }
    a.push("--userns".into());
    a.push((&plan.userns).into());
    a.push("--netns".into());
    a.push((&plan.netns).into());
    a
}

/// A running pasta daemon: its pid and its start time (field 22 of
/// /proc/PID/stat), which together survive pid reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pasta {
    pub pid: i32,
    pub start_time: u64,
}

impl Pasta {
    /// Whether this very process is still alive (not a zombie).
    pub fn is_running(&self) -> bool {
        matches!(read_stat(self.pid), Ok(Some(s)) if s.start_time == self.start_time && !s.dead())
    }

    /// SIGTERM to the daemon if it is still this one. Ok(false): it was
    /// already gone. It may take a moment to go (and its parent to reap it).
    pub fn stop(&self) -> Result<bool, PastaError> {
        let err = |source| PastaError::Signal {
            pid: self.pid,
            source,
        };
        let esrch = |e: &io::Error| e.raw_os_error() == Some(libc::ESRCH);
        match crate::sys::pidfd_open(self.pid) {
            Ok(fd) => {
                // Held open, the pidfd pins this process: once the start
                // time matches, the signal cannot reach a reused pid.
                if !self.is_running() {
                    return Ok(false);
                }
                match crate::sys::pidfd_send_signal(&fd, libc::SIGTERM) {
                    Ok(()) => Ok(true),
                    Err(e) if esrch(&e) => Ok(false),
                    Err(e) => Err(err(e)),
                }
            }
            Err(e) if esrch(&e) => Ok(false),
            Err(_) => {
                if !self.is_running() {
                    return Ok(false);
                }
                match kill(Pid::from_raw(self.pid), Signal::SIGTERM) {
                    Ok(()) => Ok(true),
                    Err(Errno::ESRCH) => Ok(false),
                    Err(e) => Err(err(e.into())),
                }
            }
        }
    }
}

/// The pasta binary: `pasta` (a name or a path, e.g. from configuration),
/// default "pasta", searched in $PATH unless it holds a slash.
pub fn find(pasta: Option<&Path>) -> Option<PathBuf> {
    let name = pasta.unwrap_or(Path::new("pasta"));
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    find_in(name, &path, &|p| {
        p.is_file() && access(p, AccessFlags::X_OK).is_ok()
    })
}

fn find_in(name: &Path, path: &OsStr, usable: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    if name.as_os_str().is_empty() {
        return None;
    }
    if name.as_os_str().as_bytes().contains(&b'/') {
        return usable(name).then(|| name.to_path_buf());
    }
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| usable(p))
}

/// Runs `pasta --help` and reads which options it knows.
pub fn probe(pasta: &Path) -> Result<Features, PastaError> {
    let out = Command::new(pasta)
        .arg0("pasta")
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| PastaError::Probe {
            path: pasta.to_path_buf(),
            source,
        })?;
    // 2023 builds print it to stderr and exit 1; later ones to stdout, 0.
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if !text.contains("Usage:") || !text.contains("--netns") {
        return Err(PastaError::NotPasta {
            path: pasta.to_path_buf(),
            output: summarize(text.as_bytes()),
        });
    }
    Ok(Features::parse(&text))
}

/// Starts pasta for `plan` and returns once it is ready: the namespace has
/// its tap, address and routes, and the daemon runs. Fails after `timeout`.
pub fn start(
    pasta: &Path,
    features: &Features,
    plan: &PastaPlan,
    timeout: Duration,
) -> Result<Pasta, PastaError> {
    if let Some(opt) = features.missing(plan) {
        return Err(PastaError::Unsupported(opt));
    }
    if let Some(path) = &plan.pid_file {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(PastaError::RemovePidFile {
                    path: path.clone(),
                    source: e,
                });
            }
            _ => {}
        }
    }
    let args = argv(features, plan);
    let deadline = Instant::now() + timeout;
    let mut child = Command::new(pasta)
        .arg0("pasta") // pasta and passt are one binary; argv[0] picks the mode
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| PastaError::Spawn {
            path: pasta.to_path_buf(),
            source,
        })?;
    // Read before the child is reaped: the daemon it forks starts no earlier.
    let spawned = i32::try_from(child.id()).unwrap_or(0);
    let spawned_at = read_stat(spawned)
        .ok()
        .flatten()
        .map_or(0, |s| s.start_time);
    let (status, stderr) = match wait_parent(&mut child, deadline) {
        Ok(done) => done,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PastaError::Wait(e));
        }
    };
    let message = summarize(&stderr);
    let status = match status {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PastaError::Timeout {
                after: timeout,
                message,
            });
        }
    };
    if !status.success() {
        return Err(PastaError::Exited { status, message });
    }
    let pid = match &plan.pid_file {
        Some(path) => read_pid_file(path)?,
        None => find_daemon(&args, spawned, spawned_at).ok_or_else(|| PastaError::NoDaemon {
            message: message.clone(),
        })?,
    };
    match read_stat(pid) {
        Ok(Some(s)) if !s.dead() => Ok(Pasta {
            pid,
            start_time: s.start_time,
        }),
        Ok(_) => Err(PastaError::Died { pid, message }),
        Err(source) => Err(PastaError::Stat { pid, source }),
    }
}

/// Waits until the process we spawned exits, collecting its stderr, or
/// until `deadline` (then the status is None). Wakes on stderr output and,
/// through a pidfd, on the exit itself; without pidfds (Linux < 5.3) it
/// looks at the child every 5 ms.
fn wait_parent(child: &mut Child, deadline: Instant) -> io::Result<(Option<ExitStatus>, Vec<u8>)> {
    let mut stderr = child.stderr.take();
    if let Some(s) = &stderr {
        fcntl(s.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(io::Error::from)?;
    }
    let pidfd = i32::try_from(child.id())
        .ok()
        .and_then(|pid| crate::sys::pidfd_open(pid).ok());
    let mut out = Vec::new();
    loop {
        if let Some(status) = child.try_wait()? {
            if let Some(s) = &mut stderr {
                drain(s, &mut out)?;
            }
            return Ok((Some(status), out));
        }
        let now = Instant::now();
        if now >= deadline {
            if let Some(s) = &mut stderr {
                drain(s, &mut out)?;
            }
            return Ok((None, out));
        }
        let mut wait = deadline - now;
        if pidfd.is_none() {
            wait = wait.min(Duration::from_millis(5));
        }
        let timeout =
            PollTimeout::try_from(wait.max(Duration::from_millis(1))).unwrap_or(PollTimeout::MAX);
        let mut fds = Vec::with_capacity(2);
        if let Some(s) = &stderr {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        if let Some(p) = &pidfd {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        drop(fds);
        if let Some(s) = &mut stderr
            && drain(s, &mut out)?
        {
            stderr = None; // EOF: stop polling it
        }
    }
}

/// Reads what is there without blocking; true at end of file.
fn drain(r: &mut impl Read, out: &mut Vec<u8>) -> io::Result<bool> {
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn read_pid_file(path: &Path) -> Result<i32, PastaError> {
    let content = fs::read_to_string(path).map_err(|source| PastaError::ReadPidFile {
        path: path.to_path_buf(),
        source,
    })?;
    parse_pid(&content).ok_or_else(|| PastaError::BadPidFile {
        path: path.to_path_buf(),
        content,
    })
}

fn parse_pid(s: &str) -> Option<i32> {
    s.trim().parse::<i32>().ok().filter(|p| *p > 0)
}

/// The daemon whose command line is ours, started no earlier than the
/// process we spawned (`spawned`, at `since`), so never an older pasta on
/// the same namespace; the newest if several. For when there is no pid file.
fn find_daemon(args: &[OsString], spawned: i32, since: u64) -> Option<i32> {
    let mut best: Option<(u64, i32)> = None;
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(parse_pid) else {
            continue;
        };
        if pid == spawned {
            continue;
        }
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if !cmdline_matches(&cmdline, args) {
            continue;
        }
        if let Ok(Some(s)) = read_stat(pid)
            && !s.dead()
            && s.start_time >= since
            && best.is_none_or(|(t, _)| s.start_time > t)
        {
            best = Some((s.start_time, pid));
        }
    }
    best.map(|(_, pid)| pid)
}

/// Whether a /proc/PID/cmdline (NUL-separated) has exactly `args` after
/// its argv[0].
fn cmdline_matches(cmdline: &[u8], args: &[OsString]) -> bool {
    let cmdline = cmdline.strip_suffix(b"\0").unwrap_or(cmdline);
    let mut words = cmdline.split(|b| *b == 0);
    if words.next().is_none() {
        return false;
    }
    let rest: Vec<&[u8]> = words.collect();
    rest.len() == args.len() && rest.iter().zip(args).all(|(w, a)| *w == a.as_bytes())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    state: char,
    start_time: u64,
}

impl Stat {
    fn dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// /proc/PID/stat's state (field 3) and start time (field 22), read after
/// the last ')' since the command name may hold anything.
fn parse_stat(stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start_time = fields.get(22 - 3)?.parse().ok()?;
    Some(Stat { state, start_time })
}

/// Ok(None): no such process.
fn read_stat(pid: i32) -> io::Result<Option<Stat>> {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => Ok(parse_stat(&s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// pasta's stderr as one line for a message: the syslog complaints of a
/// host without /dev/log dropped, the usage text after an unknown option
/// dropped, lines joined with "; ", a hint added for the usual failures.
fn summarize(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let mut lines: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim) {
        // Printed whenever the host's resolver is on loopback; harmless
        // with --dns-forward, misleading beside a real error.
        if line.is_empty() || is_syslog_noise(line) || line == NO_NAMESERVER {
            continue;
        }
        if line.starts_with("Usage:") {
            break;
        }
        lines.push(line);
    }
    let mut s = lines.join("; ");
    if s.len() > 600 {
        let mut cut = 600;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    if let Some(hint) = hint(&s) {
        s.push_str(" (");
        s.push_str(hint);
        s.push(')');
    }
    s
}

const NO_NAMESERVER: &str = "Couldn't get any nameserver address";

fn is_syslog_noise(line: &str) -> bool {
    line.strip_prefix("Failed to send ")
        .and_then(|r| r.strip_suffix(" bytes to syslog"))
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

fn hint(message: &str) -> Option<&'static str> {
    if message.contains("External interface not usable")
        || message.contains("No external routable interface for IPv4")
    {
        Some("pasta needs the host to have an IPv4 default route")
    } else if message.contains("Failed to open tun socket") {
        Some("pasta needs a usable /dev/net/tun, and only one pasta may serve a namespace")
    } else if message.contains("PID file open") && message.contains("Permission denied") {
        Some("an AppArmor profile may confine pasta's pid file to /tmp or $HOME")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pasta --help` of Debian 12's passt 0.0~git20230309.7c7625d (stderr,
    /// exit 1), with the syslog complaints removed.
    const HELP_2023: &str = r#"Usage: pasta [OPTION]... [COMMAND] [ARGS]...
       pasta [OPTION]... PID
       pasta [OPTION]... --netns [PATH|NAME]

Without PID or --netns, run the given command or a
default shell in a new network and user namespace, and
connect it via pasta.

  -d, --debug		Be verbose
      --trace		Be extra verbose, implies --debug
  -q, --quiet		Don't print informational messages
  -f, --foreground	Don't run in background
    default: run in background if started from a TTY
  -e, --stderr		Log to stderr too
    default: log to system logger only if started from a TTY
  -l, --log-file PATH	Log (only) to given file
  --log-size BYTES	Maximum size of log file
    default: 1 MiB
  --runas UID|UID:GID 	Run as given UID, GID, which can be
    numeric, or login and group names
    default: drop to user "nobody"
  -h, --help		Display this help message and exit
  --version		Show version and exit
  -I, --ns-ifname NAME	namespace interface name
    default: same interface name as external one
  -F, --fd FD		Use FD as pre-opened connected socket
  -p, --pcap FILE	Log tap-facing traffic to pcap file
  -P, --pid FILE	Write own PID to the given file
  -m, --mtu MTU	Assign MTU via DHCP/NDP
    a zero value disables assignment
    default: 65520: maximum 802.3 MTU minus 802.3 header
                    length, rounded to 32 bits (IPv4 words)
  -a, --address ADDR	Assign IPv4 or IPv6 address ADDR
    can be specified zero to two times (for IPv4 and IPv6)
    default: use addresses from interface with default route
  -n, --netmask MASK	Assign IPv4 MASK, dot-decimal or bits
    default: netmask from matching address on the host
  -M, --mac-addr ADDR	Use source MAC address ADDR
    default: MAC address from interface with default route
  -g, --gateway ADDR	Pass IPv4 or IPv6 address as gateway
    default: gateway from interface with default route
  -i, --interface NAME	Interface for addresses and routes
    default: from --outbound-if4 and --outbound-if6, if any
             otherwise interface with first default route
  -o, --outbound ADDR	Bind to address as outbound source
    can be specified zero to two times (for IPv4 and IPv6)
    default: use source address from routing tables
  --outbound-if4 NAME	Bind to outbound interface for IPv4
    default: use interface from default route
  --outbound-if6 NAME	Bind to outbound interface for IPv6
    default: use interface from default route
  -D, --dns ADDR	Use IPv4 or IPv6 address as DNS
    can be specified multiple times
    a single, empty option disables DNS information
    default: don't use any addresses
  -S, --search LIST	Space-separated list, search domains
    a single, empty option disables the DNS search list
    default: don't use any search list
  --dhcp-dns		Pass DNS list via DHCP/DHCPv6/NDP
  --dhcp-search	Pass list via DHCP/DHCPv6/NDP
  --dns-forward ADDR	Forward DNS queries sent to ADDR
    can be specified zero to two times (for IPv4 and IPv6)
    default: don't forward DNS queries
  --no-tcp		Disable TCP protocol handler
  --no-udp		Disable UDP protocol handler
  --no-icmp		Disable ICMP/ICMPv6 protocol handler
  --no-dhcp		Disable DHCP server
  --no-ndp		Disable NDP responses
  --no-dhcpv6		Disable DHCPv6 server
  --no-ra		Disable router advertisements
  --no-map-gw		Don't map gateway address to host
  -4, --ipv4-only	Enable IPv4 operation only
  -6, --ipv6-only	Enable IPv6 operation only
  -t, --tcp-ports SPEC	TCP port forwarding to namespace
    can be specified multiple times
    SPEC can be:
      'none': don't forward any ports
      'auto': forward all ports currently bound in namespace
      a comma-separated list, optionally ranged with '-'
        and optional target ports after ':', with optional
        address specification suffixed by '/' and optional
        interface prefixed by '%'. Examples:
        -t 22	Forward local port 22 to port 22 in netns
        -t 22:23	Forward local port 22 to port 23
        -t 22,25	Forward ports 22, 25 to ports 22, 25
        -t 22-80	Forward ports 22 to 80
        -t 22-80:32-90	Forward ports 22 to 80 to
			corresponding port numbers plus 10
        -t 192.0.2.1/5	Bind port 5 of 192.0.2.1 to namespace
        -t 5-25,~10-20	Forward ports 5 to 9, and 21 to 25
        -t ~25		Forward all bound ports except for 25
    default: auto
    IPv6 bound ports are also forwarded for IPv4
  -u, --udp-ports SPEC	UDP port forwarding to namespace
    SPEC is as described for TCP above
    default: auto
    IPv6 bound ports are also forwarded for IPv4
    unless specified, with '-t auto', UDP ports with numbers
    corresponding to forwarded TCP port numbers are
    forwarded too
  -T, --tcp-ns SPEC	TCP port forwarding to init namespace
    SPEC is as described above
    default: auto
  -U, --udp-ns SPEC	UDP port forwarding to init namespace
    SPEC is as described above
    default: auto
  --userns NSPATH 	Target user namespace to join
  --netns PATH|NAME	Target network namespace to join
  --netns-only		Don't join existing user namespace
    implied if PATH or NAME are given without --userns
  --no-netns-quit	Don't quit if filesystem-bound target
  			network namespace is deleted
  --config-net		Configure tap interface in namespace
  --ns-mac-addr ADDR	Set MAC address on tap interface
"#;

    /// A 2025 build's `pasta --help` (stdout, exit 0), from upstream's
    /// usage().
    const HELP_2025: &str = r#"Usage: pasta [OPTION]... [COMMAND] [ARGS]...
       pasta [OPTION]... PID
       pasta [OPTION]... --netns [PATH|NAME]

Without PID or --netns, run the given command or a
default shell in a new network and user namespace, and
connect it via pasta.

  -d, --debug		Be verbose
      --trace		Be extra verbose, implies --debug
  --stats DELAY  	Display events statistics
    minimum DELAY seconds between updates
  -q, --quiet		Don't print informational messages
  -f, --foreground	Don't run in background
    default: run in background
  -l, --log-file PATH	Log (only) to given file
  --log-size BYTES	Maximum size of log file
    default: 1 MiB
  --runas UID|UID:GID 	Run as given UID, GID, which can be
    numeric, or login and group names
    default: drop to user "nobody"
  -h, --help		Display this help message and exit
  --version		Show version and exit
  -I, --ns-ifname NAME	namespace interface name
    default: same interface name as external one
  -F, --fd FD		Use FD as pre-opened connected socket
  -p, --pcap FILE	Log tap-facing traffic to pcap file
  -P, --pid FILE	Write own PID to the given file
  -m, --mtu MTU	Assign MTU via DHCP/NDP
    a zero value disables assignment
    default: 65520: maximum 802.3 MTU minus 802.3 header
                    length, rounded to 32 bits (IPv4 words)
  -a, --address ADDR	Assign IPv4 or IPv6 address ADDR[/PREFIXLEN]
    can be specified zero to two times (for IPv4 and IPv6)
    default: use addresses from interface with default route
  -n, --netmask MASK	Assign IPv4 MASK, dot-decimal or bits
    default: netmask from matching address on the host
  -M, --mac-addr ADDR	Use source MAC address ADDR
    default: 9a:55:9a:55:9a:55 (locally administered)
  -g, --gateway ADDR	Pass IPv4 or IPv6 address as gateway
    default: gateway from interface with default route
  -i, --interface NAME	Interface for addresses and routes
    default: from --outbound-if4 and --outbound-if6, if any
             otherwise interface with first default route
  -o, --outbound ADDR	Bind to address as outbound source
    can be specified zero to two times (for IPv4 and IPv6)
    default: use source address from routing tables
  --outbound-if4 NAME	Bind to outbound interface for IPv4
    default: use interface from default route
  --outbound-if6 NAME	Bind to outbound interface for IPv6
    default: use interface from default route
  -D, --dns ADDR	Use IPv4 or IPv6 address as DNS
    can be specified multiple times
    a single, empty option disables DNS information
    default: don't use any addresses
  -S, --search LIST	Space-separated list, search domains
    a single, empty option disables the DNS search list
  -H, --hostname NAME 	Hostname to configure client with
  --fqdn NAME		FQDN to configure client with
    default: don't use any search list
  --dhcp-dns		Pass DNS list via DHCP/DHCPv6/NDP
  --dhcp-search	Pass list via DHCP/DHCPv6/NDP
  --map-host-loopback ADDR	Translate ADDR to refer to host
    can be specified zero to two times (for IPv4 and IPv6)
    default: gateway address
  --map-guest-addr ADDR	Translate ADDR to guest's address
    can be specified zero to two times (for IPv4 and IPv6)
    default: none
  --dns-forward ADDR	Forward DNS queries sent to ADDR
    can be specified zero to two times (for IPv4 and IPv6)
    default: don't forward DNS queries
  --dns-host ADDR	Host nameserver to direct queries to
    can be specified zero to two times (for IPv4 and IPv6)
    default: first nameserver from host's /etc/resolv.conf
  --no-tcp		Disable TCP protocol handler
  --no-udp		Disable UDP protocol handler
  --no-icmp		Disable ICMP/ICMPv6 protocol handler
  --no-dhcp		Disable DHCP server
  --no-ndp		Disable NDP responses
  --no-dhcpv6		Disable DHCPv6 server
  --no-ra		Disable router advertisements
  --freebind		Bind to any address for forwarding
  --no-map-gw		Don't map gateway address to host
  -4, --ipv4-only	Enable IPv4 operation only
  -6, --ipv6-only	Enable IPv6 operation only
  -t, --tcp-ports SPEC	TCP port forwarding to namespace
    can be specified multiple times
    SPEC can be:
      'none': don't forward any ports
      [ADDR[%IFACE]/]PORTS: forward specific ports
        PORTS is either 'all' (forward all unbound, non-ephemeral
        ports), or a comma-separated list of ports, optionally
        ranged with '-' and optional target ports after ':'.
        Ranges can be reduced by excluding ports or ranges
        prefixed by '~'.
        The 'auto' keyword may be given to only forward
        ports which are bound in the target namespace
        Examples:
        -t all		Forward all ports
        -t ::1/all	Forward all ports from local address ::1
        -t 22		Forward local port 22 to 22 on namespace
        -t 22:23	Forward local port 22 to 23 on namespace
        -t 22,25	Forward ports 22, 25 to ports 22, 25
        -t 22-80  	Forward ports 22 to 80
        -t 22-80:32-90	Forward ports 22 to 80 to
			corresponding port numbers plus 10
        -t 192.0.2.1/5	Bind port 5 of 192.0.2.1 to namespace
        -t 5-25,~10-20	Forward ports 5 to 9, and 21 to 25
        -t ~25		Forward all ports except for 25
        -t auto		Forward all ports bound in namespace
        -t ::1/auto	Forward ports from ::1 if they are
        		bound in the namespace
        -t 80-82,auto	Forward ports 80-82 if they are bound
        		in the namespace
    default: auto
  -u, --udp-ports SPEC	UDP port forwarding to namespace
    SPEC is as described for TCP above
    default: auto
  -T, --tcp-ns SPEC	TCP port forwarding to init namespace
    SPEC is as described above
    default: auto
  -U, --udp-ns SPEC	UDP port forwarding to init namespace
    SPEC is as described above
    default: auto
  --host-lo-to-ns-lo	Translate host-loopback forwards to
			namespace loopback
  --userns NSPATH 	Target user namespace to join
  --netns PATH|NAME	Target network namespace to join
  --netns-only		Don't join existing user namespace
    implied if PATH or NAME are given without --userns
  --no-netns-quit	Don't quit if filesystem-bound target
  			network namespace is deleted
  --config-net		Configure tap interface in namespace
  --no-copy-routes	DEPRECATED:
			Don't copy all routes to namespace
  --no-copy-addrs	DEPRECATED:
			Don't copy all addresses to namespace
  --ns-mac-addr ADDR	Set MAC address on tap interface
  --no-splice		Disable inbound socket splicing
  --splice-only	Only enable loopback forwarding
"#;

    fn plan() -> PastaPlan {
        PastaPlan::for_holder(
            4242,
            Some(PathBuf::from("/run/user/1000/rrun/network/pasta.pid")),
        )
    }

    fn strs(v: &[OsString]) -> Vec<&str> {
        v.iter().map(|s| s.to_str().unwrap()).collect()
    }

    #[test]
    fn parses_the_2023_help() {
        let f = Features::parse(HELP_2023);
        for opt in [
            "config-net",
            "userns",
            "netns",
            "netns-only",
            "no-netns-quit",
            "pid",
            "quiet",
            "no-map-gw",
            "dns-forward",
            "ipv4-only",
            "ipv6-only",
            "ns-ifname",
            "tcp-ports",
            "udp-ports",
            "tcp-ns",
            "udp-ns",
            "runas",
            "log-size",
            "dhcp-dns",
            "outbound-if4",
            "debug",
            "trace",
            "help",
            "version",
            "mtu",
        ] {
            assert!(f.has(opt), "{opt}");
        }
        for opt in [
            "map-host-loopback",
            "dns-host",
            "no-splice",
            "stats",
            "t",
            "auto",
            "none",
        ] {
            assert!(!f.has(opt), "{opt}");
        }
        assert_eq!(f.missing(&plan()), None);
    }

    #[test]
    fn parses_a_2025_help() {
        let f = Features::parse(HELP_2025);
        for opt in [
            "config-net",
            "userns",
            "netns",
            "pid",
            "quiet",
            "no-map-gw",
            "map-host-loopback",
            "map-guest-addr",
            "dns-forward",
            "dns-host",
            "ipv4-only",
            "ns-ifname",
            "tcp-ns",
            "udp-ns",
            "no-splice",
            "splice-only",
            "host-lo-to-ns-lo",
            "dhcp-dns",
            "fqdn",
        ] {
            assert!(f.has(opt), "{opt}");
        }
        // Words of examples and descriptions are not options.
        for opt in ["all", "auto", "t", "1/all", "namespace"] {
            assert!(!f.has(opt), "{opt}");
        }
        assert_eq!(f.missing(&plan()), None);
    }

    #[test]
    fn syslog_noise_in_the_help_is_harmless() {
        let noisy = "Failed to send 51 bytes to syslog\n".to_string()
            + &HELP_2023.replace('\n', "\nFailed to send 44 bytes to syslog\n");
        assert_eq!(Features::parse(&noisy), Features::parse(HELP_2023));
    }

    #[test]
    fn argv_for_the_2023_build() {
        let f = Features::parse(HELP_2023);
        assert_eq!(
            strs(&argv(&f, &plan())),
            [
                "--config-net",
                "--tcp-ports",
                "none",
                "--udp-ports",
                "none",
                "--tcp-ns",
                "none",
                "--udp-ns",
                "none",
                "--no-map-gw",
                "--quiet",
                "--ipv4-only",
                "--dns-forward",
                "169.254.1.1",
                "--pid",
                "/run/user/1000/rrun/network/pasta.pid",
                "--userns",
                "/proc/4242/ns/user",
                "--netns",
                "/proc/4242/ns/net",
            ]
        );
    }

    #[test]
    fn argv_without_pid_file_dns_or_v4_only_but_a_name() {
        let f = Features::parse(HELP_2025);
        let p = PastaPlan {
            pid_file: None,
            dns_forward: None,
            ns_ifname: Some("rrtap0".into()),
            ipv4_only: false,
            ..plan()
        };
        assert_eq!(f.missing(&p), None);
        assert_eq!(
            strs(&argv(&f, &p)),
            [
                "--config-net",
                "--tcp-ports",
                "none",
                "--udp-ports",
                "none",
                "--tcp-ns",
                "none",
                "--udp-ns",
                "none",
                "--no-map-gw",
                "--quiet",
                "--ns-ifname",
                "rrtap0",
                "--userns",
                "/proc/4242/ns/user",
                "--netns",
                "/proc/4242/ns/net",
            ]
        );
    }

    #[test]
    fn map_host_loopback_none_when_no_map_gw_is_gone() {
        let f = Features::parse(&HELP_2025.replace("--no-map-gw", "--no-such-thing"));
        assert_eq!(f.missing(&plan()), None);
        let a = argv(&f, &plan());
        let a = strs(&a);
        assert!(!a.contains(&"--no-map-gw"));
        let i = a.iter().position(|s| *s == "--map-host-loopback").unwrap();
        assert_eq!(a[i + 1], "none");
    }

    #[test]
    fn missing_options_are_named() {
        let f = Features::parse(&HELP_2023.replace("--config-net", "--configure"));
        assert_eq!(f.missing(&plan()), Some("--config-net"));
        let f = Features::parse(&HELP_2023.replace("--no-map-gw", "--no-map"));
        assert_eq!(f.missing(&plan()), Some("--no-map-gw"));
        let f = Features::parse(&HELP_2023.replace("--dns-forward", "--dns-fwd"));
        assert_eq!(f.missing(&plan()), Some("--dns-forward"));
        let p = PastaPlan {
            dns_forward: None,
            ..plan()
        };
        assert_eq!(f.missing(&p), None);
        assert_eq!(Features::parse("").missing(&p), Some("--config-net"));
    }

    #[test]
    fn stat_fields() {
        let stat = "5084 (passt.avx2) S 1 5084 5084 0 -1 4194368 390 0 0 0 0 0 0 0 20 0 1 0 \
                    1361916 75862016 5129 18446744073709551615 93872264880128 0 0";
        assert_eq!(
            parse_stat(stat),
            Some(Stat {
                state: 'S',
                start_time: 1361916
            })
        );
        let odd = "77 (a) b) c) Z 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0";
        let s = parse_stat(odd).unwrap();
        assert_eq!((s.state, s.start_time), ('Z', 42));
        assert!(s.dead());
        assert_eq!(parse_stat("12 (x) S 1 2"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn own_process_is_running_and_a_wrong_start_time_is_not() {
        let me = i32::try_from(std::process::id()).unwrap();
        let s = read_stat(me).unwrap().unwrap();
        let p = Pasta {
            pid: me,
            start_time: s.start_time,
        };
        assert!(p.is_running());
        assert!(
            !Pasta {
                start_time: s.start_time + 1,
                ..p
            }
            .is_running()
        );
        assert_eq!(read_stat(i32::MAX).unwrap(), None);
    }

    #[test]
    fn cmdline_matching() {
        let args: Vec<OsString> = vec![
            "--config-net".into(),
            "--netns".into(),
            "/proc/1/ns/net".into(),
        ];
        assert!(cmdline_matches(
            b"pasta\0--config-net\0--netns\0/proc/1/ns/net\0",
            &args
        ));
        assert!(cmdline_matches(
            b"/usr/bin/pasta\0--config-net\0--netns\0/proc/1/ns/net",
            &args
        ));
        assert!(!cmdline_matches(
            b"pasta\0--config-net\0--netns\0/proc/12/ns/net\0",
            &args
        ));
        assert!(!cmdline_matches(b"pasta\0--config-net\0--netns\0", &args));
        assert!(!cmdline_matches(b"", &args));
    }

    #[test]
    fn pid_file_content() {
        assert_eq!(parse_pid("7693\n"), Some(7693));
        assert_eq!(parse_pid(""), None);
        assert_eq!(parse_pid("0\n"), None);
        assert_eq!(parse_pid("-3"), None);
        assert_eq!(parse_pid("12x"), None);
    }

    #[test]
    fn stderr_summaries() {
        let raw = b"Failed to send 40 bytes to syslog\nNo external routable interface for IPv4\n\
                    Failed to send 41 bytes to syslog\nNo external routable interface for IPv6\n\
                    Failed to send 29 bytes to syslog\nExternal interface not usable\n";
        assert_eq!(
            summarize(raw),
            "No external routable interface for IPv4; No external routable interface for IPv6; \
             External interface not usable (pasta needs the host to have an IPv4 default route)"
        );
        let raw = format!("pasta: unrecognized option '--bogus'\n{HELP_2023}");
        assert_eq!(
            summarize(raw.as_bytes()),
            "pasta: unrecognized option '--bogus'"
        );
        assert_eq!(
            summarize(
                b"Couldn't get any nameserver address\nFailed to open tun socket in namespace\n"
            ),
            "Failed to open tun socket in namespace \
             (pasta needs a usable /dev/net/tun, and only one pasta may serve a namespace)"
        );
        assert!(summarize(b"PID file open: Permission denied\n").contains("AppArmor"));
        assert_eq!(summarize(b""), "");
        assert!(summarize("é".repeat(400).as_bytes()).ends_with('…'));
        // Only the exact syslog complaint is noise.
        assert!(is_syslog_noise("Failed to send 7 bytes to syslog"));
        assert!(!is_syslog_noise("Failed to send the digest to syslog"));
    }

    #[test]
    fn finding_the_binary() {
        let have = |p: &Path| p == Path::new("/usr/bin/pasta") || p == Path::new("/opt/p/pasta");
        let path = OsStr::new("/usr/local/bin::relative:/usr/bin:/opt/p");
        assert_eq!(
            find_in(Path::new("pasta"), path, &have),
            Some(PathBuf::from("/usr/bin/pasta"))
        );
        let path = OsStr::new("/opt/p:/usr/bin");
        assert_eq!(
            find_in(Path::new("pasta"), path, &have),
            Some(PathBuf::from("/opt/p/pasta"))
        );
        assert_eq!(
            find_in(Path::new("pasta"), OsStr::new("/nowhere"), &have),
            None
        );
        assert_eq!(
            find_in(Path::new("/opt/p/pasta"), OsStr::new(""), &have),
            Some(PathBuf::from("/opt/p/pasta"))
        );
        assert_eq!(find_in(Path::new("/opt/q/pasta"), path, &have), None);
        assert_eq!(find_in(Path::new(""), path, &have), None);
        // The real search: sh is in any PATH; a missing name is not.
        assert!(find(Some(Path::new("sh"))).is_some());
        assert_eq!(find(Some(Path::new("no-such-pasta-binary"))), None);
    }

    #[test]
    fn probing_something_else_fails() {
        match probe(Path::new("/bin/true")) {
            Err(PastaError::NotPasta { .. }) => {}
            other => panic!("{other:?}"),
        }
        match probe(Path::new("/nonexistent/pasta")) {
            Err(PastaError::Probe { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}
