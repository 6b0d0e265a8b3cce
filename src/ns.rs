//! The user's namespaces for rootless runs: one user namespace and one
//! network namespace inside it per user (per state directory), made on
//! first need and held open by a small holder process whose pid, start time
//! and namespace inodes are kept in `holder.json` (docs/ARCHITECTURE.md). Every
//! rootless container joins the user namespace with setns before making its
//! own namespaces; bridge-mode containers' monitors join the network
//! namespace too, where the user's bridge lives. The uid/gid maps: 0 → the
//! caller, and with newuidmap/newgidmap and ranges in /etc/subuid and
//! /etc/subgid, 1..N → that range.
//!
//! If the holder dies while processes of ours still live in those
//! namespaces (pasta, containers' monitors), a new holder adopts them: it
//! joins the survivors' namespaces instead of making new ones, so running
//! containers and the network they share go on.

use std::ffi::{CStr, CString};
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::{Command, Stdio};

use nix::fcntl::AtFlags;
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::signal::{SigHandler, Signal, kill, signal};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, execveat, fork, getgid, getuid, pause};

use serde::{Deserialize, Serialize};

use crate::crash;
use crate::state::{self, State};
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("{0}")]
    Unavailable(String),
    #[error("making the user namespace holder: {0}")]
    Fork(#[source] io::Error),
    #[error("writing the uid/gid map of the user namespace: {0}")]
    Map(#[source] io::Error),
    #[error("joining the user namespace of holder {0}: {1}")]
    Join(libc::pid_t, #[source] io::Error),
    #[error("joining the network namespace of holder {0}: {1}")]
    JoinNet(libc::pid_t, #[source] io::Error),
    #[error("recording the holder: {0}")]
    Record(#[source] io::Error),
    #[error(transparent)]
    State(#[from] state::StateError),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub pid: libc::pid_t,
    pub start_time: u64,
    /// Inodes of its user and network namespaces, by which a later rrun
    /// recognises processes still living in them once the holder is gone.
    #[serde(default)]
    pub user_ino: u64,
    #[serde(default)]
    pub net_ino: u64,
}

/// The user's namespaces, opened and checked, not yet joined.
pub struct UserNamespaces {
    pub holder: Holder,
    pub user: OwnedFd,
    pub net: OwnedFd,
}

/// A uid or gid map: (inside, outside, count) triples.
pub type IdMap = Vec<(u32, u32, u32)>;

/// Parse /proc/PID/uid_map text.
pub fn parse_id_map(text: &str) -> IdMap {
    text.lines()
        .filter_map(|l| {
            let f: Vec<u32> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.len() == 3).then(|| (f[0], f[1], f[2]))
        })
        .collect()
}

pub fn id_mapped(map: &IdMap, id: u32) -> bool {
    map.iter()
        .any(|&(inside, _, count)| id >= inside && (id - inside) < count)
}

/// The user namespace a rootless container runs in, joined.
pub struct UserNs {
    pub uid_map: IdMap,
    pub gid_map: IdMap,
}

/// Explain why a user namespace could not be made, with the fix.
fn userns_advice(e: &io::Error) -> String {
    let read = |p: &str| fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    userns_refusal(
        read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref(),
        read("/proc/sys/kernel/unprivileged_userns_clone").as_deref(),
        read("/proc/sys/user/max_user_namespaces").as_deref(),
    )
    .map(|why| format!("cannot create a user namespace: {why}"))
    .unwrap_or_else(|| {
        format!(
            "cannot create a user namespace ({}); rootless rrun needs unprivileged user namespaces \
             (check kernel.unprivileged_userns_clone and user.max_user_namespaces)",
            sys::errno_text(e)
        )
    })
}

/// Which setting keeps unprivileged users from making user namespaces,
/// and the command that lifts it, from the values of
/// kernel.apparmor_restrict_unprivileged_userns (Ubuntu),
/// kernel.unprivileged_userns_clone (Debian's older kernels) and
/// user.max_user_namespaces (None: the kernel has no such setting).
pub fn userns_refusal(
    apparmor: Option<&str>,
    clone: Option<&str>,
    max: Option<&str>,
) -> Option<String> {
    if apparmor == Some("1") {
        return Some(
            "AppArmor restricts unprivileged user namespaces on this system; \
             allow them with: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
                .into(),
        );
    }
    if clone == Some("0") {
        return Some(
            "unprivileged user namespaces are disabled; \
             enable them with: sudo sysctl -w kernel.unprivileged_userns_clone=1"
                .into(),
        );
    }
    if max == Some("0") {
        return Some(
            "user.max_user_namespaces is 0; raise it with: sudo sysctl -w user.max_user_namespaces=15000"
                .into(),
        );
    }
    None
}

/// The first id past every subordinate range in these /etc/subuid and
/// /etc/subgid texts (at least 100000): where a new user's range fits.
pub fn free_sub_start(texts: &[&str]) -> u64 {
    texts
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(':').collect();
            match f[..] {
                [_, start, count] => Some(start.parse::<u64>().ok()? + count.parse::<u64>().ok()?),
                _ => None,
            }
        })
        .fold(100_000, u64::max)
}

/// What to do about an id that the user namespace does not map. `max`:
/// the highest id inside when the namespace maps more than one (the user's
/// ranges are in use, and the id lies beyond them); else `tools`:
/// newuidmap and newgidmap are installed, `ranges`: the user has a range in
/// both files, `who`: its login name, if known, `uid`: its uid, `start`: a
/// free range's first id.
pub fn id_remedy_text(
    max: Option<u64>,
    tools: bool,
    ranges: bool,
    who: Option<&str>,
    uid: u32,
    start: u64,
) -> String {
    let then = "then run `rrun system reset` (it removes your containers) so that rrun makes the namespace again";
    if let Some(max) = max {
        let whom = who.map_or_else(|| format!("uid {uid}"), str::to_string);
        return format!(
            "ids 0-{max} exist inside (your ranges in /etc/subuid and /etc/subgid): use one of them, or give {whom} a larger range there, {then}"
        );
    }
    let add = add_range_text(who, uid, start);
    let install = "install the uidmap package (newuidmap, newgidmap): sudo apt-get install uidmap";
    let fix = match (tools, ranges) {
        (true, true) => {
            "your user namespace was made without your ranges (before they were added, or newuidmap failed)"
                .to_string()
        }
        (true, false) => add,
        (false, true) => install.to_string(),
        (false, false) => format!("{add}, and {install}"),
    };
    format!("{fix}; {then}")
}

/// The highest id inside `map`, when it maps more than one.
pub fn map_max(map: &IdMap) -> Option<u64> {
    let total: u64 = map.iter().map(|&(_, _, n)| n as u64).sum();
    (total > 1)
        .then(|| {
            map.iter()
                .map(|&(inside, _, n)| inside as u64 + n as u64 - 1)
                .max()
        })
        .flatten()
}

/// How to give the user `who` (uid `uid`) a range of 65536 ids from `start`.
pub fn add_range_text(who: Option<&str>, uid: u32, start: u64) -> String {
    let end = start + 65535;
    match who {
        Some(name) => format!(
            "add a range for {name} to /etc/subuid and /etc/subgid: sudo usermod --add-subuids {start}-{end} --add-subgids {start}-{end} {name}"
        ),
        None => format!(
            "add a range for uid {uid} to /etc/subuid and /etc/subgid: a line {uid}:{start}:65536 in each"
        ),
    }
}

fn free_start_here() -> u64 {
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    free_sub_start(&[&read("/etc/subuid"), &read("/etc/subgid")])
}

/// [`add_range_text`] for the calling user, on this machine.
pub fn add_range_advice() -> String {
    let uid = nix::unistd::getuid().as_raw();
    add_range_text(host_user_name(uid).as_deref(), uid, free_start_here())
}

/// [`id_remedy_text`] for an id missing from `map` (the uid or gid map) of
/// the user whose namespace has `uid_map` (the caller may be in it already,
/// where it is uid 0), on this machine.
pub fn id_remedy(uid_map: &IdMap, map: &IdMap) -> String {
    let uid = match uid_map.iter().find(|&&(inside, _, _)| inside == 0) {
        Some(&(_, outside, _)) => outside,
        None => nix::unistd::getuid().as_raw(),
    };
    let name = host_user_name(uid);
    let tools = which("newuidmap").is_some() && which("newgidmap").is_some();
    let ranges = sub_range("/etc/subuid", uid, name.as_deref()).is_some()
        && sub_range("/etc/subgid", uid, name.as_deref()).is_some();
    id_remedy_text(
        map_max(map),
        tools,
        ranges,
        name.as_deref(),
        uid,
        free_start_here(),
    )
}

/// A subordinate range: its first id and how many.
pub type SubRange = (u32, u32);

/// The caller's subordinate uid and gid ranges, if it has them.
pub fn own_sub_ranges() -> (Option<SubRange>, Option<SubRange>) {
    let uid = nix::unistd::getuid().as_raw();
    let name = host_user_name(uid);
    (
        sub_range("/etc/subuid", uid, name.as_deref()),
        sub_range("/etc/subgid", uid, name.as_deref()),
    )
}

/// The caller's user name from the host's /etc/passwd (for /etc/subuid,
/// which may name the user instead of the uid).
fn host_user_name(uid: u32) -> Option<String> {
    let text = fs::read_to_string("/etc/passwd").ok()?;
    crate::spec::parse_passwd(&text)
        .into_iter()
        .find(|p| p.uid == uid)
        .map(|p| p.name)
}

/// The caller's first subordinate range in /etc/subuid or /etc/subgid.
pub fn sub_range(file: &str, id: u32, name: Option<&str>) -> Option<(u32, u32)> {
    let text = fs::read_to_string(file).ok()?;
    parse_sub_range(&text, id, name)
}

pub fn parse_sub_range(text: &str, id: u32, name: Option<&str>) -> Option<(u32, u32)> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.trim().split(':').collect();
        if f.len() != 3 {
            return None;
        }
        let who = f[0];
        if who == id.to_string() || Some(who) == name {
            let start = f[1].parse().ok()?;
            let count: u32 = f[2].parse().ok()?;
            (count > 0).then_some((start, count))
        } else {
            None
        }
    })
}

/// `prog` on $PATH (and /usr/bin, /bin).
pub fn which(prog: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin:/usr/sbin:/sbin".into());
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/bin".into()])
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Write the maps of the holder's fresh user namespace.
fn write_maps(pid: libc::pid_t, uid: u32, gid: u32) -> io::Result<()> {
    let name = host_user_name(uid);
    let tool = |tool: &str, file: &str, id: u32| -> bool {
        let (Some(bin), Some((start, count))) = (which(tool), sub_range(file, id, name.as_deref()))
        else {
            return false;
        };
        Command::new(bin)
            .args([
                pid.to_string(),
                "0".into(),
                id.to_string(),
                "1".into(),
                "1".into(),
                start.to_string(),
                count.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !tool("newuidmap", "/etc/subuid", uid) {
        fs::write(format!("/proc/{pid}/uid_map"), format!("0 {uid} 1\n"))?;
    }
    if !tool("newgidmap", "/etc/subgid", gid) {
        // An unprivileged writer must give up setgroups first.
        let _ = fs::write(format!("/proc/{pid}/setgroups"), "deny");
        fs::write(format!("/proc/{pid}/gid_map"), format!("0 {gid} 1\n"))?;
    }
    Ok(())
}

fn read_holder(st: &State) -> Option<Holder> {
    let text = fs::read(st.root.join("holder.json")).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The inode of /proc/PID/ns/KIND, if it can be read.
fn ns_ino(pid: libc::pid_t, kind: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|m| m.ino())
}

/// Open the holder's namespaces, checking that the pid is still the holder
/// after the opens (so a reused pid cannot slip in).
fn open_holder_ns(h: &Holder) -> Option<(OwnedFd, OwnedFd)> {
    if !sys::alive(h.pid, h.start_time) {
        return None;
    }
    let open = |kind: &str| {
        sys::open(
            Path::new(&format!("/proc/{}/ns/{kind}", h.pid)),
            libc::O_RDONLY,
        )
        .ok()
    };
    let (user, net) = (open("user")?, open("net")?);
    sys::alive(h.pid, h.start_time).then_some((user, net))
}

/// A process named by pid and start time.
type Proc = (libc::pid_t, u64);

/// Processes of ours that outlived the holder in its namespaces: one in
/// the user namespace and, if any, one in the network namespace (pasta,
/// containers' monitors and containers, from their records).
fn survivors(st: &State, old: &Holder) -> (Option<Proc>, Option<Proc>) {
    if old.user_ino == 0 {
        return (None, None);
    }
    let mut cands: Vec<Proc> = Vec::new();
    if let Some(p) = crate::net::outbound::live(st) {
        cands.push(p);
    }
    let (records, _) = st.list();
    for r in &records {
        cands.push((r.state.monitor_pid, r.state.monitor_start));
        cands.push((r.state.pid, r.state.pid_start));
    }
    let live = |&(pid, start): &Proc| pid > 0 && sys::alive(pid, start);
    let user = cands
        .iter()
        .filter(|c| live(c))
        .find(|(pid, _)| ns_ino(*pid, "user") == Some(old.user_ino))
        .copied();
    let net = cands
        .iter()
        .filter(|c| live(c))
        .find(|(pid, _)| {
            ns_ino(*pid, "user") == Some(old.user_ino) && ns_ino(*pid, "net") == Some(old.net_ino)
        })
        .copied();
    (user, net)
}

/// Where a new holder's namespaces come from.
#[derive(Clone, Copy)]
enum Source {
    /// Fresh ones.
    New,
    /// A surviving process's user namespace, and network namespace if one
    /// survived there too (else a new one inside that user namespace).
    Adopt(libc::pid_t, Option<libc::pid_t>),
}

/// Fork the holder: a child that leaves rrun's session and stdio, makes (or
/// joins) the user and network namespaces and then only waits. Returns once
/// its maps are written.
fn spawn_holder(st: &State, source: Source) -> Result<Holder, NsError> {
    let (uid, gid) = (getuid().as_raw(), getgid().as_raw());
    let (c_read, c_write) = sys::pipe_cloexec().map_err(NsError::Fork)?;
    let (p_read, p_write) = sys::pipe_cloexec().map_err(NsError::Fork)?;
    // The holder lives on for long; it runs from a sealed copy of rrun so
    // that it never keeps the installed binary busy (ETXTBSY on upgrade).
    let image = sys::sealed_self().map_err(NsError::Fork)?;
    // SAFETY: rrun is single-threaded here; the child only makes syscalls
    // and execs or exits, never returning into the caller's code.
    let pid = match unsafe { fork() }.map_err(|e| NsError::Fork(e.into()))? {
        ForkResult::Parent { child } => child.as_raw(),
        ForkResult::Child => {
            // Our copies of the parent's ends go (so that the holder sees
            // EOF if the parent dies before it is done); the copy is exec'd
            // with the two pipe ends it keeps.
            drop(c_write);
            drop(p_read);
            let _ = sys::set_cloexec(c_read.as_raw_fd(), false);
            let _ = sys::set_cloexec(p_write.as_raw_fd(), false);
            let (u, n) = match source {
                Source::New => (0, 0),
                Source::Adopt(u, n) => (u, n.unwrap_or(0)),
            };
            let arg = |v: String| CString::new(v).unwrap_or_default();
            let argv = [
                c"rrun-holder".to_owned(),
                arg(c_read.as_raw_fd().to_string()),
                arg(p_write.as_raw_fd().to_string()),
                arg(u.to_string()),
                arg(n.to_string()),
            ];
            let envp: [&CStr; 0] = [];
            let _ = execveat(
                Some(image.as_raw_fd()),
                c"",
                &argv,
                &envp,
                AtFlags::AT_EMPTY_PATH,
            );
            // SAFETY: ending the forked child without the parent's exit
            // handlers.
            unsafe { libc::_exit(127) }
        }
    };
    drop(image);
    drop(c_read);
    drop(p_write);
    crash::point("holder-forked");
    let mut p_read = fs::File::from(p_read);
    let mut buf = [0u8; 4];
    let n = p_read.read(&mut buf).unwrap_or(0);
    if n != 4 {
        return Err(NsError::Fork(io::Error::other(
            "the holder died while starting",
        )));
    }
    let status = i32::from_ne_bytes(buf);
    if status != 0 {
        let _ = waitpid(Pid::from_raw(pid), None);
        return Err(NsError::Unavailable(userns_advice(
            &io::Error::from_raw_os_error(status),
        )));
    }
    let fresh = matches!(source, Source::New);
    let mapped = if fresh {
        write_maps(pid, uid, gid)
    } else {
        Ok(())
    };
    if let Err(e) = mapped {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
        return Err(NsError::Map(e));
    }
    crash::point("holder-mapped");
    let died = || NsError::Fork(io::Error::other("the holder died while starting"));
    let start_time = sys::start_time(pid).ok_or_else(died)?;
    // An adopting holder reports only after joining; a new one has made
    // both namespaces in one unshare before its first report.
    let h = Holder {
        pid,
        start_time,
        user_ino: ns_ino(pid, "user").ok_or_else(died)?,
        net_ino: ns_ino(pid, "net").ok_or_else(died)?,
    };
    let data = serde_json::to_vec(&h).map_err(|e| NsError::Record(io::Error::other(e)))?;
    state::write_atomic(&st.root.join("holder.json"), &data, 0o600).map_err(NsError::Record)?;
    // Let it go on: it waits for nothing more from us.
    let _ = sys::write_all(c_write.as_raw_fd(), b"m");
    Ok(h)
}

/// The holder process, exec'd as
/// ["rrun-holder", FROM_PARENT, TO_PARENT, USER_PID, NET_PID]: with both
/// pids 0 it makes a user namespace and a network namespace inside it;
/// else it joins USER_PID's user namespace and NET_PID's network namespace
/// (0: a new one). Never returns.
pub fn holder_main(args: &[String]) -> ! {
    let fd = |i: usize| -> RawFd { args.get(i).and_then(|s| s.parse().ok()).unwrap_or(-1) };
    let (from_parent, to_parent) = (fd(1), fd(2));
    let (user_pid, net_pid) = (fd(3).max(0), fd(4).max(0));
    let bail = || -> ! {
        // SAFETY: ending this process at once, as it stands.
        unsafe { libc::_exit(1) }
    };
    if from_parent < 0 || to_parent < 0 {
        bail();
    }
    // SAFETY: the two pipe ends rrun passed by number, open in this
    // process and used by nothing else.
    let (mut from_parent, mut to_parent) = unsafe {
        (
            fs::File::from_raw_fd(from_parent),
            fs::File::from_raw_fd(to_parent),
        )
    };
    let join = |pid: RawFd, kind: &str, flag: CloneFlags| -> nix::Result<()> {
        let f = fs::File::open(format!("/proc/{pid}/ns/{kind}"))
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        setns(&f, flag)
    };
    let r = if user_pid == 0 {
        unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET)
    } else if let Err(e) = join(user_pid, "user", CloneFlags::CLONE_NEWUSER) {
        Err(e)
    } else if net_pid == 0 {
        unshare(CloneFlags::CLONE_NEWNET)
    } else {
        join(net_pid, "net", CloneFlags::CLONE_NEWNET)
    };
    let status: i32 = match r {
        Ok(()) => 0,
        Err(e) => e as i32,
    };
    let _ = to_parent.write_all(&status.to_ne_bytes());
    if status != 0 {
        bail();
    }
    // Wait for the maps, so nothing joins a namespace without them.
    let mut c = [0u8];
    if !matches!(from_parent.read(&mut c), Ok(1)) {
        // rrun died before recording us: nobody would ever find us.
        bail();
    }
    // None from 3 up is used again (the Files above are never dropped:
    // this function does not return).
    crate::sys::become_helper(c"rrun-holder", 3);
    for sig in [Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT] {
        // SAFETY: SIG_IGN installs no handler.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    loop {
        pause();
    }
}

/// The calling user's namespaces, made (or adopted from survivors) if no
/// holder is alive. Say so on stderr when a dead holder's namespaces are
/// adopted or rebuilt.
pub fn user_namespaces(st: &State) -> Result<UserNamespaces, NsError> {
    let lock = st.lock()?;
    let old = read_holder(st);
    if let Some(h) = &old
        && let Some((user, net)) = open_holder_ns(h)
    {
        return Ok(UserNamespaces {
            holder: h.clone(),
            user,
            net,
        });
    }
    let (source, note) = match old.as_ref().map(|h| (h, survivors(st, h))) {
        Some((h, (Some((u, _)), net))) => (
            Source::Adopt(u, net.map(|(n, _)| n)),
            Some(format!(
                "rrun: the namespace holder (pid {}) was gone; a new one adopted the user namespace{} of the running containers",
                h.pid,
                if net.is_some() {
                    " and network namespace"
                } else {
                    " (the network namespace is made anew)"
                }
            )),
        ),
        _ => (Source::New, None),
    };
    let h = spawn_holder(st, source)?;
    let (user, net) = open_holder_ns(&h)
        .ok_or_else(|| NsError::Join(h.pid, io::Error::other("the holder died while starting")))?;
    drop(lock);
    if let Some(n) = note {
        eprintln!("{n}");
    }
    Ok(UserNamespaces {
        holder: h,
        user,
        net,
    })
}

/// The recorded holder, if it is alive.
pub fn live_holder(st: &State) -> Option<Holder> {
    read_holder(st).filter(|h| h.pid > 0 && sys::alive(h.pid, h.start_time))
}

/// The holder's namespaces if it is alive; None otherwise (nothing made).
pub fn existing_namespaces(st: &State) -> Option<UserNamespaces> {
    let h = read_holder(st)?;
    let (user, net) = open_holder_ns(&h)?;
    Some(UserNamespaces {
        holder: h,
        user,
        net,
    })
}

/// Join the user namespace. Must be called while single-threaded.
pub fn join_user(ns: &UserNamespaces) -> Result<UserNs, NsError> {
    // We are single-threaded, as the kernel requires for joining a user
    // namespace.
    setns(&ns.user, CloneFlags::CLONE_NEWUSER)
        .map_err(|e| NsError::Join(ns.holder.pid, e.into()))?;
    let uid_map = parse_id_map(&fs::read_to_string("/proc/self/uid_map").unwrap_or_default());
    let gid_map = parse_id_map(&fs::read_to_string("/proc/self/gid_map").unwrap_or_default());
    Ok(UserNs { uid_map, gid_map })
}

/// Join the user's network namespace (after the user namespace).
pub fn join_net(ns: &UserNamespaces) -> Result<(), NsError> {
    // A network namespace owned by the user namespace we are in.
    setns(&ns.net, CloneFlags::CLONE_NEWNET)
        .map_err(|e| NsError::JoinNet(ns.holder.pid, e.into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps() {
        let m =
            parse_id_map("         0       1001          1\n         1     100000      65536\n");
        assert_eq!(m, vec![(0, 1001, 1), (1, 100000, 65536)]);
        assert!(id_mapped(&m, 0));
        assert!(id_mapped(&m, 1000));
        assert!(id_mapped(&m, 65536));
        assert!(!id_mapped(&m, 65537));
        let single = parse_id_map("0 1001 1");
        assert!(!id_mapped(&single, 1));
    }

    #[test]
    fn userns_refusals_name_the_setting() {
        let a = userns_refusal(Some("1"), Some("0"), Some("0")).unwrap();
        assert!(
            a.ends_with("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"),
            "{a}"
        );
        let c = userns_refusal(Some("0"), Some("0"), Some("0")).unwrap();
        assert!(
            c.ends_with("sudo sysctl -w kernel.unprivileged_userns_clone=1"),
            "{c}"
        );
        let m = userns_refusal(None, Some("1"), Some("0")).unwrap();
        assert_eq!(
            m,
            "user.max_user_namespaces is 0; raise it with: sudo sysctl -w user.max_user_namespaces=15000"
        );
        assert_eq!(userns_refusal(None, None, Some("15000")), None);
        assert_eq!(userns_refusal(Some("0"), Some("1"), Some("1")), None);
        assert_eq!(userns_refusal(Some("2"), Some("2"), Some("2")), None);
        assert_eq!(userns_refusal(None, None, None), None);
        for r in [a, c, m] {
            assert!(!r.contains('\n'), "one line: {r}");
        }
    }

    #[test]
    fn a_free_range_is_past_every_range() {
        assert_eq!(free_sub_start(&[]), 100_000);
        assert_eq!(free_sub_start(&["", "garbage\nx:y:z\n"]), 100_000);
        assert_eq!(
            free_sub_start(&["a:100000:65536\nb:165536:65536\n", "a:100000:1\n"]),
            231_072
        );
        assert_eq!(free_sub_start(&["a:1:2\n", "b:500000:10\n"]), 500_010);
        assert_eq!(free_sub_start(&["a:50:10"]), 100_000);
    }

    #[test]
    fn id_remedies() {
        let t = |tools, ranges, who| id_remedy_text(None, tools, ranges, who, 1001, 300_000);
        let add = "add a range for bob to /etc/subuid and /etc/subgid: \
                   sudo usermod --add-subuids 300000-365535 --add-subgids 300000-365535 bob";
        let install =
            "install the uidmap package (newuidmap, newgidmap): sudo apt-get install uidmap";
        let then = "; then run `rrun system reset` (it removes your containers) so that rrun makes the namespace again";
        assert_eq!(t(true, false, Some("bob")), format!("{add}{then}"));
        assert_eq!(t(false, true, Some("bob")), format!("{install}{then}"));
        assert_eq!(
            t(false, false, Some("bob")),
            format!("{add}, and {install}{then}")
        );
        assert!(t(true, true, Some("bob")).starts_with("your user namespace was made without"));
        let beyond = "ids 0-65536 exist inside (your ranges in /etc/subuid and /etc/subgid): \
                      use one of them, or give bob a larger range there, then run `rrun system reset` \
                      (it removes your containers) so that rrun makes the namespace again";
        assert_eq!(
            id_remedy_text(Some(65536), true, true, Some("bob"), 1, 1),
            beyond
        );
        assert_eq!(
            id_remedy_text(Some(65536), false, false, None, 7, 1),
            beyond.replace("give bob", "give uid 7")
        );
        assert_eq!(map_max(&vec![(0, 1001, 1)]), None);
        assert_eq!(map_max(&vec![]), None);
        assert_eq!(
            map_max(&vec![(0, 1001, 1), (1, 100000, 65536)]),
            Some(65536)
        );
        assert_eq!(map_max(&vec![(0, 5, 2)]), Some(1));
        assert_eq!(map_max(&vec![(10, 5, 1), (0, 7, 1)]), Some(10));
        assert_eq!(
            t(true, false, None),
            format!(
                "add a range for uid 1001 to /etc/subuid and /etc/subgid: a line 1001:300000:65536 in each{then}"
            )
        );
    }

    #[test]
    fn subuid() {
        let t = "alice:100000:65536\n1001:200000:1000\nbob:1:0\n";
        assert_eq!(parse_sub_range(t, 5, Some("alice")), Some((100000, 65536)));
        assert_eq!(parse_sub_range(t, 1001, None), Some((200000, 1000)));
        assert_eq!(parse_sub_range(t, 7, Some("bob")), None);
        assert_eq!(parse_sub_range(t, 7, Some("carol")), None);
    }
}
