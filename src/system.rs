//! rrun about itself, in the spirit of `docker version`, `docker info` and
//! `podman system reset`: `version` (the build, and which optional programs
//! and kernel features this machine offers, each missing one with what to
//! install or set), `info` (what rrun keeps running for the caller and
//! where its state is) and `system reset` (stop all of that and remove the
//! state). Facts are gathered into a JSON value first; the text shown is a
//! pure function of it, and `--format` renders it with a Go template.

use std::ffi::OsString;
use std::fs;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli;
use crate::net;
use crate::ns::{self, NsError};
use crate::state::{self, State, StateError};
use crate::sys;
use crate::template::Template;

#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Ns(#[from] NsError),
    #[error("removing the network: {0}")]
    Net(#[from] net::NetError),
    #[error("template parsing error: {0}")]
    Template(String),
    #[error("{0} running: {1}; stop {2} first, or reset with --force (-f), which removes {2} too")]
    Running(String, String, &'static str),
    #[error(
        "system reset asks for a confirmation and standard input is not a terminal: run it on one, or with --force (-f)"
    )]
    NotTerminal,
    #[error("reading the answer: {0}")]
    Answer(#[source] io::Error),
    /// `rm -f` has said which container failed.
    #[error("system reset stopped: a container could not be removed; nothing else was reset")]
    Containers,
    #[error("removing {0}: {1}")]
    Remove(PathBuf, #[source] io::Error),
    #[error("kept the state directory {0}: it holds files rrun did not make ({1})")]
    Foreign(PathBuf, String),
}

impl SystemError {
    pub fn exit_code(&self) -> i32 {
        match self {
            SystemError::Template(_) => 1,
            _ => 125,
        }
    }
}

fn rootless() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// Print `v` as `text` shows it, or through the template `format`.
fn print(v: &Value, format: Option<&str>, text: fn(&Value) -> String) -> Result<i32, SystemError> {
    let out = match format {
        Some(f) => {
            let t = Template::parse(f).map_err(|e| SystemError::Template(e.to_string()))?;
            let mut s = t
                .render(v)
                .map_err(|e| SystemError::Template(e.to_string()))?;
            s.push('\n');
            s
        }
        None => text(v),
    };
    let _ = io::stdout().write_all(out.as_bytes());
    Ok(0)
}

// ---------------------------------------------------------------------------
// version

/// What is missing, what it costs and how to get it.
const NO_NFT: &str =
    "not found: the network has no NAT rules, the userspace forwarder serves published ports";
const NO_BYPASS: &str = "no: Linux 5.19 or newer needed; rootless outbound TCP goes through pasta";
const NO_PASTA: &str = "not found: rootless containers have no outbound traffic; install the passt package: sudo apt-get install passt";
const NO_UIDMAP: &str = "not found: rootless containers have your own id only; install the uidmap package: sudo apt-get install uidmap";
const OLD_KERNEL: &str = "no: Linux 5.12 or later is needed";

pub fn version(a: &cli::VersionArgs) -> Result<i32, SystemError> {
    print(&version_value(), a.format.as_deref(), version_text)
}

fn path_or(p: Option<PathBuf>, missing: &str) -> String {
    p.map(|p| p.display().to_string())
        .unwrap_or_else(|| missing.to_string())
}

/// "yes", or "no: why" from a probe that made the call.
fn feature(r: io::Result<()>) -> String {
    match r {
        Ok(()) => "yes".into(),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => OLD_KERNEL.into(),
        Err(e) => format!("no: {}", sys::errno_text(&e)),
    }
}

/// Whether this user may make a user namespace, and if not which setting
/// says no. Root needs none of its own: what it reports is the setting's
/// verdict for unprivileged users.
fn userns_feature() -> String {
    let read = |p: &str| fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    let refusal = ns::userns_refusal(
        read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref(),
        read("/proc/sys/kernel/unprivileged_userns_clone").as_deref(),
        read("/proc/sys/user/max_user_namespaces").as_deref(),
    );
    if !rootless() {
        return match refusal {
            Some(why) => format!("no for unprivileged users: {why}"),
            None => "yes".into(),
        };
    }
    match try_userns() {
        Ok(()) => "yes".into(),
        Err(e) => format!(
            "no: {}",
            refusal.unwrap_or_else(|| format!(
                "{}: check kernel.unprivileged_userns_clone and user.max_user_namespaces",
                sys::errno_text(&e)
            ))
        ),
    }
}

/// Make a user namespace in a child that exits at once.
fn try_userns() -> io::Result<()> {
    use nix::sched::{CloneFlags, unshare};
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};
    // SAFETY: rrun is single-threaded; the child makes two syscalls and
    // exits without returning into Rust code.
    let child = match unsafe { fork() }? {
        ForkResult::Child => {
            let code = match unshare(CloneFlags::CLONE_NEWUSER) {
                Ok(()) => 0,
                Err(e) => e as i32 & 0xff,
            };
            // SAFETY: ending the forked child without the parent's exit
            // handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => return Ok(()),
            Ok(WaitStatus::Exited(_, n)) => return Err(io::Error::from_raw_os_error(n)),
            Ok(_) => return Err(io::Error::other("the probe died")),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn openat2_probe() -> io::Result<()> {
    sys::openat2(libc::AT_FDCWD, "/", libc::O_PATH, sys::RESOLVE_IN_ROOT).map(drop)
}

fn pidfd_probe() -> io::Result<()> {
    sys::pidfd_open(std::process::id() as libc::pid_t).map(drop)
}

/// mount_setattr on no file descriptor: where the call exists it fails
/// with EBADF (or EPERM, for a caller who may not mount), else ENOSYS.
fn mount_setattr_probe() -> io::Result<()> {
    match sys::mount_setattr_rec(&-1, 0) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => Err(e),
        _ => Ok(()),
    }
}

fn cgroup_version() -> String {
    use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, TMPFS_MAGIC, statfs};
    match statfs("/sys/fs/cgroup").map(|s| s.filesystem_type()) {
        Ok(t) if t == CGROUP2_SUPER_MAGIC => "v2".into(),
        Ok(t) if t == TMPFS_MAGIC => "v1".into(),
        _ => "none".into(),
    }
}

fn range_text(r: Option<(u32, u32)>) -> String {
    match r {
        Some((start, count)) => format!("{start}-{}", start as u64 + count as u64 - 1),
        None => String::new(),
    }
}

fn version_value() -> Value {
    let pasta = match std::env::var_os("RRUN_PASTA").filter(|v| !v.is_empty()) {
        Some(w) => path_or(
            net::pasta::find(Some(Path::new(&w))),
            &format!(
                "not found: RRUN_PASTA={} is not an executable program",
                w.to_string_lossy()
            ),
        ),
        None => path_or(net::pasta::find(None), NO_PASTA),
    };
    let (uids, gids) = ns::own_sub_ranges();
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "GitCommit": env!("RRUN_COMMIT"),
        "Target": env!("RRUN_TARGET"),
        "Kernel": fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        "Rootless": rootless(),
        "Programs": {
            "nft": path_or(net::nft::program(), &format!("{NO_NFT}; {}", net::nft::INSTALL)),
            "pasta": pasta,
            "newuidmap": path_or(ns::which("newuidmap"), NO_UIDMAP),
            "newgidmap": path_or(ns::which("newgidmap"), NO_UIDMAP),
        },
        "Features": {
            "UserNamespaces": userns_feature(),
            "Openat2": feature(openat2_probe()),
            "MountSetattr": feature(mount_setattr_probe()),
            "Pidfd": feature(pidfd_probe()),
            "Cgroup": cgroup_version(),
            "SocketBypass": if crate::bypass::available() {
                "yes"
            } else {
                NO_BYPASS
            },
        },
        "SubordinateIds": {
            "Uids": range_text(uids),
            "Gids": range_text(gids),
            "Advice": if uids.is_none() || gids.is_none() {
                ns::add_range_advice()
            } else {
                String::new()
            },
        },
    })
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// One " key:   value" line of `version`'s text.
fn kv(o: &mut String, key: &str, val: &str) {
    o.push_str(&format!(" {:<18}{val}\n", format!("{key}:")));
}

/// `rrun version`'s text: Docker's `--version` line, then the details.
pub fn version_text(v: &Value) -> String {
    let mut o = format!(
        "rrun version {}, build {}\n",
        s(v, &["Version"]),
        s(v, &["GitCommit"])
    );
    kv(&mut o, "Version", s(v, &["Version"]));
    kv(&mut o, "Git commit", s(v, &["GitCommit"]));
    kv(&mut o, "Target", s(v, &["Target"]));
    kv(&mut o, "Kernel", s(v, &["Kernel"]));
    o.push_str("Optional programs:\n");
    for p in ["nft", "pasta", "newuidmap", "newgidmap"] {
        kv(&mut o, p, s(v, &["Programs", p]));
    }
    o.push_str("Kernel features:\n");
    for (k, name) in [
        ("UserNamespaces", "user namespaces"),
        ("Openat2", "openat2"),
        ("MountSetattr", "mount_setattr"),
        ("Pidfd", "pidfd"),
        ("Cgroup", "cgroup"),
        ("SocketBypass", "socket bypass"),
    ] {
        kv(&mut o, name, s(v, &["Features", k]));
    }
    if v["Rootless"] == Value::Bool(true) {
        o.push_str("Subordinate ids (rootless):\n");
        let advice = s(v, &["SubordinateIds", "Advice"]);
        for (k, name) in [("Uids", "uids"), ("Gids", "gids")] {
            let r = s(v, &["SubordinateIds", k]);
            let shown = if r.is_empty() {
                format!("none: rootless containers have your own id only; {advice}")
            } else {
                r.to_string()
            };
            kv(&mut o, name, &shown);
        }
    }
    o
}

// ---------------------------------------------------------------------------
// info

pub fn info(a: &cli::InfoArgs) -> Result<i32, SystemError> {
    print(&info_value(), a.format.as_deref(), info_text)
}

/// The state directory as it is, never made: `info` changes nothing.
fn existing_state() -> Option<State> {
    State::existing()
}

fn info_value() -> Value {
    let root = state::root_path();
    let st = existing_state();
    let (records, _) = st.as_ref().map(State::list).unwrap_or_default();
    let running: Vec<&state::Record> = records.iter().filter(|r| r.running()).collect();
    let holder = st
        .as_ref()
        .filter(|_| rootless())
        .and_then(ns::live_holder)
        .map(|h| json!({"Pid": h.pid}));
    let pasta = st
        .as_ref()
        .and_then(net::outbound::live)
        .map(|(pid, _)| json!({"Pid": pid}));
    let network = st
        .as_ref()
        .and_then(|st| net::load_settings(st).ok().flatten())
        .map(|s| {
            json!({
                "Bridge": s.bridge,
                "Subnet": s.subnet().to_string(),
                "Gateway": s.gateway.to_string(),
            })
        });
    // st is Some when the state directory exists.
    let networks: Vec<Value> = st
        .as_ref()
        .map(net::networks::all)
        .unwrap_or_default()
        .iter()
        .map(|d| {
            json!({
                "Name": d.name,
                "Subnet": d.subnet.to_string(),
                "Subnet6": d.subnet6.map(|n| n.to_string()).unwrap_or_default(),
                "Internal": d.internal,
            })
        })
        .collect();
    let monitors: Vec<Value> = running
        .iter()
        .map(|r| {
            json!({
                "Id": r.id(),
                "Name": r.config.name,
                "Pid": r.state.monitor_pid,
            })
        })
        .collect();
    let uid = nix::unistd::getuid().as_raw();
    json!({
        "StateDir": root.display().to_string(),
        "StateDirExists": st.is_some(),
        "DataDir": state::data_path().display().to_string(),
        "Rootless": rootless(),
        "Uid": uid,
        "Containers": records.len(),
        "ContainersRunning": running.len(),
        "ContainersStopped": records.len() - running.len(),
        "Network": network,
        "Networks": networks,
        "Holder": holder,
        "Pasta": pasta,
        "Monitors": monitors,
    })
}

/// `rrun info`'s text.
pub fn info_text(v: &Value) -> String {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let mut o = String::new();
    let dir = s(v, &["StateDir"]);
    if v["StateDirExists"] == Value::Bool(true) {
        o.push_str(&format!("State directory:  {dir}\n"));
    } else {
        o.push_str(&format!("State directory:  {dir} (not made yet)\n"));
    }
    let data = s(v, &["DataDir"]);
    if !data.is_empty() && data != dir {
        o.push_str(&format!("Containers kept:  {data}\n"));
    }
    if v["Rootless"] == Value::Bool(true) {
        o.push_str(&format!("Mode:             rootless (uid {})\n", n("Uid")));
    } else {
        o.push_str("Mode:             root\n");
    }
    o.push_str(&format!("Containers:       {}\n", n("Containers")));
    o.push_str(&format!(" Running:         {}\n", n("ContainersRunning")));
    o.push_str(&format!(" Stopped:         {}\n", n("ContainersStopped")));
    match v.get("Network").filter(|n| n.is_object()) {
        Some(net) => o.push_str(&format!(
            "Network:          bridge {}, {}, gateway {}\n",
            s(net, &["Bridge"]),
            s(net, &["Subnet"]),
            s(net, &["Gateway"])
        )),
        None => o.push_str("Network:          none\n"),
    }
    for net in v["Networks"].as_array().into_iter().flatten() {
        let six = s(net, &["Subnet6"]);
        o.push_str(&format!(
            "Network:          {} {}{}{}\n",
            s(net, &["Name"]),
            s(net, &["Subnet"]),
            if six.is_empty() {
                String::new()
            } else {
                format!(", {six}")
            },
            if net["Internal"] == Value::Bool(true) {
                ", internal"
            } else {
                ""
            }
        ));
    }
    let pid = |k: &str| v[k]["Pid"].as_i64();
    let mut procs = Vec::new();
    if let Some(p) = pid("Holder") {
        procs.push((
            "namespace holder".to_string(),
            p,
            "your user and network namespaces".to_string(),
        ));
    }
    if let Some(p) = pid("Pasta") {
        procs.push((
            "pasta".to_string(),
            p,
            "the network's outbound traffic".to_string(),
        ));
    }
    for m in v["Monitors"].as_array().into_iter().flatten() {
        let id = s(m, &["Id"]);
        procs.push((
            format!("monitor of {}", s(m, &["Name"])),
            m["Pid"].as_i64().unwrap_or(0),
            format!("container {}", &id[..12.min(id.len())]),
        ));
    }
    if procs.is_empty() {
        o.push_str("Processes:        none\n");
    } else {
        o.push_str("Processes:\n");
        let w = procs.iter().map(|p| p.0.len()).max().unwrap_or(0);
        for (what, pid, why) in &procs {
            o.push_str(&format!(" {what:<w$}  pid {pid:<8} {why}\n"));
        }
    }
    let network = v.get("Network").is_some_and(Value::is_object);
    if !procs.is_empty() || n("Containers") > 0 || network {
        o.push_str("To stop all of it and remove the state: rrun system reset\n");
    }
    o
}

// ---------------------------------------------------------------------------
// system reset

/// The entries rrun makes at the top of its state directory (state.rs,
/// ns.rs, net/): what `reset` removes. Anything else is kept, with the
/// directory: RRUN_ROOT may name a directory that holds more than rrun's.
const OURS: [&str; 7] = [
    "lock",
    "holder.json",
    "containers",
    "names",
    "autoremove",
    "network",
    "networks",
];

/// Whether `name` is an entry rrun made: one of [`OURS`] or a temporary
/// file of state::write_atomic (`holder.tmpPID`) left by a killed run.
pub fn ours(name: &str) -> bool {
    OURS.contains(&name)
        || name
            .strip_prefix("holder.tmp")
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// "2 containers are" / "1 container is", the running ones named, and
/// how to say them again.
pub fn running_list(running: &[(String, String)]) -> (String, String, &'static str) {
    let (count, them) = match running.len() {
        1 => ("1 container is".to_string(), "it"),
        n => (format!("{n} containers are"), "them"),
    };
    let names = running
        .iter()
        .map(|(name, id)| format!("{name} ({})", &id[..12.min(id.len())]))
        .collect::<Vec<_>>()
        .join(", ");
    (count, names, them)
}

fn ask(what: &[String]) -> Result<bool, SystemError> {
    let mut o = io::stdout();
    let mut text = String::from("WARNING! This will remove:\n");
    for w in what {
        text.push_str(&format!("  - {w}\n"));
    }
    text.push_str("Are you sure you want to continue? [y/N] ");
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(SystemError::Answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Wait up to `limit` for the process behind `fd` to end; SIGKILL it if it
/// does not.
fn end(fd: &std::os::fd::OwnedFd, sig: libc::c_int, limit: Duration) {
    let _ = sys::pidfd_send_signal(fd, sig);
    if !crate::commands::wait_exit(fd, Some(Instant::now() + limit)) {
        let _ = sys::pidfd_send_signal(fd, libc::SIGKILL);
        crate::commands::wait_exit(fd, Some(Instant::now() + limit));
    }
}

pub fn reset(a: &cli::ResetArgs) -> Result<i32, SystemError> {
    if existing_state().is_none() {
        return Ok(0);
    }
    let st = State::open()?;
    let (records, bad) = st.list();
    let running: Vec<(String, String)> = records
        .iter()
        .filter(|r| r.active())
        .map(|r| (r.config.name.clone(), r.id().to_string()))
        .collect();
    let holder = if rootless() {
        ns::live_holder(&st)
    } else {
        None
    };
    let pasta = net::outbound::live(&st);
    if !a.force {
        if !running.is_empty() {
            let (count, names, them) = running_list(&running);
            return Err(SystemError::Running(count, names, them));
        }
        if !io::stdin().is_terminal() {
            return Err(SystemError::NotTerminal);
        }
        let mut what = vec![format!("all containers ({})", records.len() + bad.len())];
        if let Ok(Some(s)) = net::load_settings(&st) {
            what.push(format!("the network (bridge {}, {})", s.bridge, s.subnet()));
        }
        if let Some((pid, _)) = pasta {
            what.push(format!("the network's pasta (pid {pid})"));
        }
        if let Some(h) = &holder {
            what.push(format!("the namespace holder (pid {})", h.pid));
        }
        what.push(format!("the state directory {}", st.root.display()));
        if st.data != st.root {
            what.push(format!("the containers' directory {}", st.data.display()));
        }
        if !ask(&what)? {
            return Ok(0);
        }
    }

    // Every container, as `rm -f` removes it (which also gives back what
    // it holds of the network).
    let mut ids: Vec<String> = records.iter().map(|r| r.id().to_string()).collect();
    ids.extend(
        bad.into_iter()
            .map(|(id, _)| id)
            .filter(|id| state::is_id(id)),
    );
    if !ids.is_empty() {
        let mut args: Vec<OsString> = vec!["-f".into(), "--".into()];
        args.extend(ids.iter().map(OsString::from));
        let rm = cli::parse_sub::<cli::RmArgs>("rm", &args).map_err(|_| SystemError::Containers)?;
        if let Err(e) = crate::commands::rm(&rm) {
            let m = e.to_string();
            if !m.is_empty() {
                eprintln!("rrun: {m}");
            }
            return Err(SystemError::Containers);
        }
    }

    // The network: rootless it lives in the holder's namespaces, which
    // this process joins (it is done with the host's after this).
    let pasta_fd = pasta.and_then(|(pid, start)| crate::commands::watch(pid, start));
    let holder_fd = holder
        .as_ref()
        .and_then(|h| crate::commands::watch(h.pid, h.start_time));
    let mut at = net::Where::Host;
    if rootless()
        && let Some(nss) = ns::existing_namespaces(&st)
    {
        ns::join_user(&nss)?;
        ns::join_net(&nss)?;
        at = net::Where::UserNs;
    }
    crate::container::network::reclaim_dead(&st, at);
    let here = at.holds_bridge(rootless());
    for d in net::networks::all(&st) {
        net::networks::remove(&st, &d, here)?;
    }
    net::root::remove_network(&st, at)?;
    if let Some(fd) = &pasta_fd {
        // remove_network has sent it SIGTERM.
        end(fd, libc::SIGTERM, Duration::from_secs(5));
    }
    if let Some(fd) = &holder_fd {
        end(fd, libc::SIGKILL, Duration::from_secs(5));
    }
    if st.data != st.root {
        remove_state(&st.data)?;
    }
    remove_state(&st.root)
}

/// Whether `name`, of type `t`, inside rrun's subdirectory `sub` is an
/// entry rrun made there: a record's directory (or one being assembled),
/// a name's symlink, a --rm marker, a network file. Anything else — the
/// directory may be a user's own `containers` or `network` under a
/// RRUN_ROOT that is `$HOME` or `/etc` — is kept.
pub fn ours_inside(sub: &str, name: &str, t: fs::FileType) -> bool {
    match sub {
        "containers" => t.is_dir() && (state::is_id(name) || name.starts_with(".new-")),
        "names" => t.is_symlink(),
        "autoremove" => t.is_file() && state::is_id(name),
        "network" => t.is_file() && net::own_file(name),
        "networks" => t.is_dir() && crate::netdef::valid_name(name),
        _ => false,
    }
}

/// Remove the entry `p` at the top of the state directory as far as it is
/// rrun's, adding what is not to `foreign`.
fn remove_entry(p: &Path, name: &str, foreign: &mut Vec<String>) -> Result<(), SystemError> {
    let gone = |r: io::Result<()>| match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(SystemError::Remove(p.to_path_buf(), e))
        }
        _ => Ok(()),
    };
    let Ok(md) = fs::symlink_metadata(p) else {
        return Ok(());
    };
    let t = md.file_type();
    if !t.is_dir() {
        // rrun's lock is an empty file; holder.json a small record.
        if t.is_file() && (name != "lock" || md.len() == 0) {
            return gone(fs::remove_file(p));
        }
        foreign.push(name.to_string());
        return Ok(());
    }
    let rd = fs::read_dir(p).map_err(|e| SystemError::Remove(p.to_path_buf(), e))?;
    let mut kept = false;
    for ent in rd.flatten() {
        let n = ent.file_name().to_string_lossy().into_owned();
        let Ok(et) = ent.file_type() else { continue };
        if !ours_inside(name, &n, et) {
            foreign.push(format!("{name}/{n}"));
            kept = true;
            continue;
        }
        gone(if et.is_dir() {
            fs::remove_dir_all(ent.path())
        } else {
            fs::remove_file(ent.path())
        })?;
    }
    if kept {
        return Ok(());
    }
    gone(fs::remove_dir(p))
}

/// Remove what rrun made in the state directory, then the directory, unless
/// something else is in it.
fn remove_state(root: &Path) -> Result<i32, SystemError> {
    let rd = fs::read_dir(root).map_err(|e| SystemError::Remove(root.to_path_buf(), e))?;
    let mut foreign = Vec::new();
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if !ours(&name) {
            foreign.push(name);
            continue;
        }
        remove_entry(&ent.path(), &name, &mut foreign)?;
    }
    if !foreign.is_empty() {
        foreign.sort();
        return Err(SystemError::Foreign(root.to_path_buf(), foreign.join(", ")));
    }
    // An empty directory the caller may not remove (RRUN_ROOT in a
    // directory of someone else's, or a mount point) holds no state: it
    // stays.
    match fs::remove_dir(root) {
        Err(e)
            if !matches!(
                e.raw_os_error(),
                Some(libc::EACCES | libc::EPERM | libc::EBUSY | libc::ENOENT)
            ) =>
        {
            Err(SystemError::Remove(root.to_path_buf(), e))
        }
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_entries_reset_removes() {
        for n in OURS {
            assert!(ours(n), "{n}");
        }
        assert!(ours("holder.tmp123"));
        for n in [
            "holder.tmp",
            "holder.tmpx",
            "holder.tmp1a",
            "notes",
            "lock2",
            ".x",
            "",
        ] {
            assert!(!ours(n), "{n}");
        }
    }

    #[test]
    fn the_entries_reset_removes_inside() {
        let d = std::env::temp_dir().join(format!("rrun-ours-inside-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("dir")).unwrap();
        fs::write(d.join("file"), "").unwrap();
        std::os::unix::fs::symlink("x", d.join("link")).unwrap();
        let t = |n: &str| fs::symlink_metadata(d.join(n)).unwrap().file_type();
        let (dir, file, link) = (t("dir"), t("file"), t("link"));
        let id = "ab".repeat(32);
        assert!(ours_inside("containers", &id, dir));
        assert!(ours_inside("containers", ".new-1-2-x", dir));
        assert!(!ours_inside("containers", &id, file));
        assert!(!ours_inside("containers", "photos", dir));
        assert!(!ours_inside("containers", &id[1..], dir));
        assert!(ours_inside("names", "web", link));
        assert!(!ours_inside("names", "web", file));
        assert!(ours_inside("autoremove", &id, file));
        assert!(!ours_inside("autoremove", "list", file));
        assert!(!ours_inside("autoremove", &id, dir));
        assert!(ours_inside("network", "leases.json", file));
        assert!(ours_inside("network", "leases.tmp42", file));
        assert!(!ours_inside("network", "leases.tmp", file));
        assert!(!ours_inside("network", "leases.tmp4x", file));
        assert!(!ours_inside("network", "interfaces", file));
        assert!(!ours_inside("network", "leases.json", dir));
        assert!(!ours_inside("lock", "x", file));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn running_containers_are_named() {
        let one = [("web".to_string(), "0123456789abcdef".repeat(4))];
        assert_eq!(
            running_list(&one),
            ("1 container is".into(), "web (0123456789ab)".into(), "it")
        );
        let two = [
            ("a".to_string(), "f".repeat(64)),
            ("b".to_string(), "short".to_string()),
        ];
        assert_eq!(
            running_list(&two),
            (
                "2 containers are".into(),
                "a (ffffffffffff), b (short)".into(),
                "them"
            )
        );
        let (c, n, t) = running_list(&one);
        let e = SystemError::Running(c, n, t);
        assert_eq!(
            e.to_string(),
            "1 container is running: web (0123456789ab); stop it first, or reset with --force (-f), which removes it too"
        );
        assert_eq!(e.exit_code(), 125);
    }

    fn sample_version() -> Value {
        json!({
            "Version": "0.1.0", "GitCommit": "abc", "Target": "x86_64-unknown-linux-gnu",
            "Kernel": "6.1.0", "Rootless": true,
            "Programs": {"nft": "/usr/sbin/nft", "pasta": NO_PASTA, "newuidmap": "/usr/bin/newuidmap", "newgidmap": "/usr/bin/newgidmap"},
            "Features": {"UserNamespaces": "yes", "Openat2": "yes", "MountSetattr": OLD_KERNEL, "Pidfd": "yes", "Cgroup": "v2", "SocketBypass": NO_BYPASS},
            "SubordinateIds": {"Uids": "100000-165535", "Gids": "", "Advice": "add one"},
        })
    }

    #[test]
    fn version_text_shows_every_fact() {
        let t = version_text(&sample_version());
        let want = format!(
            "rrun version 0.1.0, build abc
 Version:          0.1.0
 Git commit:       abc
 Target:           x86_64-unknown-linux-gnu
 Kernel:           6.1.0
Optional programs:
 nft:              /usr/sbin/nft
 pasta:            {NO_PASTA}
 newuidmap:        /usr/bin/newuidmap
 newgidmap:        /usr/bin/newgidmap
Kernel features:
 user namespaces:  yes
 openat2:          yes
 mount_setattr:    {OLD_KERNEL}
 pidfd:            yes
 cgroup:           v2
 socket bypass:    {NO_BYPASS}
Subordinate ids (rootless):
 uids:             100000-165535
 gids:             none: rootless containers have your own id only; add one
"
        );
        assert_eq!(t, want);
        let mut root = sample_version();
        root["Rootless"] = json!(false);
        assert!(!version_text(&root).contains("Subordinate"));
    }

    #[test]
    fn info_text_lists_what_runs() {
        let v = json!({
            "StateDir": "/run/user/1001/rrun", "StateDirExists": true, "Rootless": true, "Uid": 1001,
            "Containers": 3, "ContainersRunning": 1, "ContainersStopped": 2,
            "Network": {"Bridge": "rrun0", "Subnet": "10.88.0.0/16", "Gateway": "10.88.0.1"},
            "Holder": {"Pid": 10}, "Pasta": {"Pid": 11},
            "Monitors": [{"Id": "ab".repeat(32), "Name": "web", "Pid": 12}],
        });
        assert_eq!(
            info_text(&v),
            "State directory:  /run/user/1001/rrun
Mode:             rootless (uid 1001)
Containers:       3
 Running:         1
 Stopped:         2
Network:          bridge rrun0, 10.88.0.0/16, gateway 10.88.0.1
Processes:
 namespace holder  pid 10       your user and network namespaces
 pasta             pid 11       the network's outbound traffic
 monitor of web    pid 12       container abababababab
To stop all of it and remove the state: rrun system reset
"
        );
        let none = json!({
            "StateDir": "/run/rrun", "StateDirExists": false, "Rootless": false, "Uid": 0,
            "Containers": 0, "ContainersRunning": 0, "ContainersStopped": 0,
            "Network": null, "Holder": null, "Pasta": null, "Monitors": [],
        });
        assert_eq!(
            info_text(&none),
            "State directory:  /run/rrun (not made yet)
Mode:             root
Containers:       0
 Running:         0
 Stopped:         0
Network:          none
Processes:        none
"
        );
        // Stopped containers, or a network, with nothing running: still
        // something to reset; an empty state directory is not.
        let hint =
            "Processes:        none\nTo stop all of it and remove the state: rrun system reset\n";
        let mut idle = none.clone();
        idle["StateDirExists"] = json!(true);
        assert!(info_text(&idle).ends_with("Processes:        none\n"));
        idle["Containers"] = json!(1);
        assert!(info_text(&idle).ends_with(hint), "{}", info_text(&idle));
        idle["Containers"] = json!(0);
        idle["Network"] = json!({"Bridge": "b", "Subnet": "s", "Gateway": "g"});
        assert!(info_text(&idle).ends_with(hint), "{}", info_text(&idle));
    }
}
