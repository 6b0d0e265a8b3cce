//! The state directory: where it is, its lock, container
//! records and the names that point at them.
//!
//! Layout (under `$RRUN_ROOT`, /run/rrun for root, `$XDG_RUNTIME_DIR/rrun`,
//! or a private /tmp/rrun-UID):
//!   lock                          flock for short critical sections
//!   holder.json                   the rootless user-namespace holder
//!   containers/<id>/config.json   what was asked (written once)
//!   containers/<id>/state.json    monitor and process (pid + start time), status, exit
//!   containers/<id>/{hosts,hostname,resolv.conf,log.jsonl}
//!   names/<name> -> <id>          symlink(2): creating one fails if it exists
//! A container directory is assembled under `containers/.new-<pid>-<start>-<id>`
//! and renamed into place, so a reader never sees one without its files.
//! State files are replaced by rename; a record whose monitor is gone reads
//! as exited ("state never lies"), and `rm` removes it.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state directory {0}: {1}")]
    Dir(PathBuf, #[source] io::Error),
    /// The directory, its owner, yours, and the variable that moves it.
    #[error(
        "state directory {0} belongs to uid {1}, not to you (uid {2}); set {3} to a directory of your own"
    )]
    NotOwner(PathBuf, u32, u32, &'static str),
    #[error("state directory {0} is open to other users (mode {1:o}); make it 0700 or set {2}")]
    Open(PathBuf, u32, &'static str),
    #[error(
        "state directory {0} is not a directory of its own (a symlink or a file); remove it, or set {1}"
    )]
    NotDir(PathBuf, &'static str),
    #[error("locking {0}: {1}")]
    Lock(PathBuf, #[source] io::Error),
    #[error("writing {0}: {1}")]
    Write(PathBuf, #[source] io::Error),
    #[error(
        "the container name \"/{0}\" is already in use by container {1}; remove it first with rrun rm {0}"
    )]
    NameInUse(String, String),
    #[error("No such container: {0}")]
    NoSuch(String),
    #[error("multiple containers match {0:?}: {1}; use more of the id")]
    Ambiguous(String, String),
    #[error("container {0}: {1}")]
    Corrupt(String, String),
}

impl StateError {
    /// Docker's exit code for the command that met this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            StateError::NoSuch(_) | StateError::Ambiguous(..) | StateError::Corrupt(..) => 1,
            _ => 125,
        }
    }
}

/// Where the state directory is: `$RRUN_ROOT`, else /run/rrun for root,
/// else `$XDG_RUNTIME_DIR/rrun`, else a private /tmp/rrun-UID.
pub fn root_path() -> PathBuf {
    if let Some(r) = std::env::var_os("RRUN_ROOT").filter(|r| !r.is_empty()) {
        return PathBuf::from(r);
    }
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/rrun");
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        let x = PathBuf::from(x);
        if x.is_dir() {
            return x.join("rrun");
        }
    }
    PathBuf::from(format!("/tmp/rrun-{uid}"))
}

/// Where containers themselves are kept — their records, specs, logs and
/// names — so that a created or stopped container survives a reboot (as
/// Podman keeps them under the user's data directory); the runtime
/// directory (`root_path`) keeps what lives only while containers run.
/// RRUN_DATA names it; with only RRUN_ROOT given, it is that directory.
pub fn data_path() -> PathBuf {
    if let Some(d) = std::env::var_os("RRUN_DATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if std::env::var_os("RRUN_ROOT").is_some_and(|r| !r.is_empty()) {
        return root_path();
    }
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/rrun");
    }
    let abs = |v: Option<std::ffi::OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(x) = abs(std::env::var_os("XDG_DATA_HOME")) {
        return x.join("rrun");
    }
    if let Some(h) = abs(std::env::var_os("HOME")) {
        return h.join(".local/share/rrun");
    }
    root_path()
}

/// This boot's id: a record from an earlier boot describes processes that
/// are gone, whatever their pids are now.
pub fn boot_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}

/// What was asked for a container: written once, when it is created.
/// Commands, arguments, env values and paths are bytes as given (see
/// bytes.rs for how they are written).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Config {
    pub id: String,
    pub name: String,
    pub created: String,
    /// The rootfs as given (ps's ROOTFS, inspect's Config.Image).
    #[serde(with = "crate::bytes::os")]
    pub rootfs: OsString,
    /// Its absolute, resolved path (inspect's Rootfs).
    #[serde(default, with = "crate::bytes::os")]
    pub rootfs_path: OsString,
    #[serde(with = "crate::bytes::os")]
    pub path: OsString,
    #[serde(with = "crate::bytes::os_vec")]
    pub args: Vec<OsString>,
    /// `K=V`, the value as bytes.
    #[serde(with = "crate::bytes::os_vec")]
    pub env: Vec<OsString>,
    pub hostname: String,
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub caps: u64,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    #[serde(with = "crate::bytes::os")]
    pub workdir: OsString,
    pub tty: bool,
    pub interactive: bool,
    pub init: bool,
    pub auto_remove: bool,
    pub detach: bool,
    pub net: String,
    /// --network-alias (a user-defined network).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_aliases: Vec<String>,
    #[serde(with = "crate::bytes::os_vec")]
    pub binds: Vec<OsString>,
    #[serde(with = "crate::bytes::os_vec")]
    pub tmpfs: Vec<OsString>,
    pub read_only: bool,
    pub rootless: bool,
    /// The user's own -e/--env-file variables, for links' ALIAS_ENV_.
    #[serde(default, with = "crate::bytes::os_vec")]
    pub user_env: Vec<OsString>,
    #[serde(default)]
    pub exposed: Vec<crate::ports::Exposed>,
    #[serde(default)]
    pub publish: Vec<String>,
    #[serde(default)]
    pub publish_all: bool,
    #[serde(default)]
    pub links: Vec<LinkConf>,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub add_hosts: Vec<String>,
    /// The default seccomp filter applies (also to exec'd processes).
    #[serde(default = "yes")]
    pub seccomp: bool,
    /// --log-driver and --log-opt (a record from before them: rrun's
    /// default cap, which only tells readers where to look).
    #[serde(default)]
    pub log: crate::logrot::LogConfig,
    /// --device entries as given (inspect's HostConfig.Devices).
    #[serde(default)]
    pub devices: Vec<DeviceConf>,
    #[serde(default)]
    pub privileged: bool,
    /// --label and --label-file (inspect's Config.Labels, ps's filters).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// --domainname (inspect's Config.Domainname; "" when none).
    #[serde(default)]
    pub domainname: String,
    /// --dns-option (inspect's HostConfig.DnsOptions).
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// --group-add as given (inspect's HostConfig.GroupAdd).
    #[serde(default)]
    pub group_add: Vec<String>,
    /// The variables as the user gave them (inspect's Config.Env): see
    /// `RunPlan::env_given`. Empty in a record from before it, whose
    /// `user_env` stands in (the two are empty together).
    #[serde(default, with = "crate::bytes::os_vec")]
    pub env_given: Vec<OsString>,
    /// --ulimit values, sorted by name (inspect's HostConfig.Ulimits).
    #[serde(default)]
    pub ulimits: Vec<crate::ulimit::Ulimit>,
    /// --memory, --memory-swap, --cpus, --pids-limit (inspect's HostConfig).
    #[serde(default)]
    pub limits: crate::limits::Limits,
    /// --restart (inspect's HostConfig.RestartPolicy).
    #[serde(default)]
    pub restart: crate::restart::Policy,
    /// The container's spec, as `run`/`create` made it from the command
    /// line: what start, restart and exec execute (None: a record from
    /// before it). Kept here, not in a file of its own, so that a start
    /// writes one file fewer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Box<serde_json::value::RawValue>>,
}

/// A --device: host node, path in the container, cgroup permissions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceConf {
    pub host: String,
    pub container: String,
    pub perms: String,
}

fn yes() -> bool {
    true
}

/// A --link as resolved when the container was made.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkConf {
    pub target_id: String,
    pub target_name: String,
    pub alias: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    /// Between two runs of a restart policy, its back-off.
    Restarting,
    Exited,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
        }
    }
}

/// How a container is doing, as its monitor last recorded it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub status: Status,
    pub monitor_pid: libc::pid_t,
    pub monitor_start: u64,
    #[serde(default)]
    pub pid: libc::pid_t,
    #[serde(default)]
    pub pid_start: u64,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub finished_at: String,
    #[serde(default)]
    pub error: String,
    /// What the container holds of the network (bridge mode).
    #[serde(default)]
    pub net: Option<crate::netstate::NetState>,
    /// Its device cgroup's directory, which `rrun exec` joins (empty: none).
    #[serde(default)]
    pub device_cgroup: String,
    /// The cgroup directories that hold its resource limits and account
    /// for it (`stats`): one per v1 controller hierarchy, or one v2
    /// directory; empty when it has none. `rrun exec` joins them too.
    #[serde(default)]
    pub limit_cgroups: Vec<String>,
    /// The kernel's OOM killer killed a process of its last run
    /// (inspect's State.OOMKilled; cleared at each start, as Docker does).
    #[serde(default)]
    pub oom_killed: bool,
    /// How often its restart policy started it again (inspect's
    /// RestartCount).
    #[serde(default)]
    pub restart_count: u32,
    /// The boot its monitor ran in ("": a record from before it).
    #[serde(default)]
    pub boot_id: String,
}

/// Go's zero time, which Docker prints for times that have not happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A container as read from its directory.
#[derive(Debug, Clone)]
pub struct Record {
    pub dir: PathBuf,
    pub config: Config,
    pub state: RunState,
    /// Networks it was connected to since it started (`network connect`).
    pub attachments: Vec<crate::netstate::Attachment>,
}

impl Record {
    pub fn read(dir: &Path) -> Result<Record, String> {
        let rd = |f: &str| -> Result<Vec<u8>, String> {
            fs::read(dir.join(f)).map_err(|e| format!("reading {f}: {}", sys::errno_text(&e)))
        };
        let config: Config = serde_json::from_slice(&rd("config.json")?)
            .map_err(|e| format!("config.json is corrupt: {e}"))?;
        let state: RunState = serde_json::from_slice(&rd("state.json")?)
            .map_err(|e| format!("state.json is corrupt: {e}"))?;
        let attachments = fs::read(dir.join(crate::netstate::ATTACHMENTS))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut r = Record {
            dir: dir.to_path_buf(),
            config,
            state,
            attachments,
        };
        r.settle();
        Ok(r)
    }

    /// Make the record tell the truth: a container whose monitor is gone
    /// has exited, whatever the file says (its process dies with the
    /// monitor). A monitor killed with its container left no
    /// exit code: 137, as for SIGKILL.
    fn settle(&mut self) {
        let s = &mut self.state;
        // Exited, or created and never started (no monitor).
        if s.status == Status::Exited || (s.status == Status::Created && s.monitor_pid == 0) {
            return;
        }
        // A monitor of an earlier boot is gone, and so is everything its
        // container held (the network's state lives in the runtime
        // directory, which the reboot emptied).
        if !s.boot_id.is_empty() && s.boot_id != boot_id() {
            s.status = Status::Exited;
            s.exit_code = 137;
            s.pid = 0;
            if let Some(n) = s.net.as_mut() {
                n.released = true;
            }
            if s.finished_at.is_empty() {
                s.finished_at = now_rfc3339();
            }
            s.boot_id = boot_id().to_string();
            let _ = write_json(&self.dir.join("state.json"), s);
            return;
        }
        // While the monitor lives it records the exit itself (with the real
        // exit code, after the logs are flushed): only its death is ours
        // to notice.
        if !sys::alive(s.monitor_pid, s.monitor_start) {
            // It may have recorded the exit and ended between our read of
            // state.json and this check: read again before judging.
            if let Ok(b) = fs::read(self.dir.join("state.json"))
                && let Ok(fresh) = serde_json::from_slice::<RunState>(&b)
                && fresh.status == Status::Exited
            {
                *s = fresh;
                return;
            }
            s.status = Status::Exited;
            s.exit_code = 137;
            if s.finished_at.is_empty() {
                // When it died is known to no one: Docker, finding a
                // container dead as its daemon comes back, stamps it then.
                // So do we, once: the first to notice records it (best
                // effort; `remove` copes with this write racing it).
                s.finished_at = now_rfc3339();
                let _ = write_json(&self.dir.join("state.json"), s);
            }
        }
    }

    pub fn id(&self) -> &str {
        &self.config.id
    }

    pub fn running(&self) -> bool {
        self.state.status == Status::Running
    }

    /// Running, or waiting to run again under its restart policy: its
    /// monitor lives.
    pub fn active(&self) -> bool {
        matches!(self.state.status, Status::Running | Status::Restarting)
    }
}

/// The opened state directories.
pub struct State {
    /// The runtime directory: the network's records, the rootless holder.
    pub root: PathBuf,
    /// Containers, names and the lock that orders them (see `data_path`).
    pub data: PathBuf,
}

impl State {
    /// Find or make the state directory. A directory under /tmp must be ours
    /// and private: anyone could have made it first.
    pub fn open() -> Result<State, StateError> {
        let root = root_path();
        let data = data_path();
        let private_tmp = root.starts_with("/tmp") && std::env::var_os("RRUN_ROOT").is_none();
        own_dir(&root, private_tmp, "RRUN_ROOT")?;
        if data != root {
            own_dir(&data, false, "RRUN_DATA")?;
        }
        // Each checked as the directory above: a link out of it, or one
        // opened to others, would let them plant records.
        let var = if data == root {
            "RRUN_ROOT"
        } else {
            "RRUN_DATA"
        };
        for sub in ["containers", "names", "autoremove"] {
            own_dir(&data.join(sub), false, var)?;
        }
        Ok(State { root, data })
    }

    /// The directories as they are (None: neither exists), made by
    /// nothing: for commands that change nothing.
    pub fn existing() -> Option<State> {
        let (root, data) = (root_path(), data_path());
        let is_dir = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
        (is_dir(&root) || is_dir(&data)).then_some(State { root, data })
    }

    pub fn containers(&self) -> PathBuf {
        self.data.join("containers")
    }

    pub fn names(&self) -> PathBuf {
        self.data.join("names")
    }

    /// One empty file per record of a --rm container: what `sweep` reads,
    /// so that a start does not read every record kept.
    fn autoremove(&self) -> PathBuf {
        self.data.join("autoremove")
    }

    /// Take the state directory's lock until the guard drops.
    pub fn lock(&self) -> Result<Lock, StateError> {
        let p = self.data.join("lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&p)
            .map_err(|e| StateError::Lock(p.clone(), e))?;
        let fd: OwnedFd = f.into();
        loop {
            // SAFETY: flock on an fd we own.
            let r = unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(StateError::Lock(p, e));
            }
        }
        Ok(Lock { _fd: fd })
    }

    /// Every readable record, newest first, and the directories that could
    /// not be read with why.
    pub fn list(&self) -> (Vec<Record>, Vec<(String, String)>) {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        let Ok(rd) = fs::read_dir(self.containers()) else {
            return (ok, bad);
        };
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            match Record::read(&ent.path()) {
                Ok(r) => ok.push(r),
                Err(e) => bad.push((name, e)),
            }
        }
        ok.sort_by(|a, b| b.config.created.cmp(&a.config.created));
        (ok, bad)
    }

    /// Find a container by full id, name, or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Record, StateError> {
        let none = || StateError::NoSuch(key.to_string());
        if key.is_empty() || key.contains('/') || key.starts_with('.') {
            return Err(none());
        }
        let direct = self.containers().join(key);
        if key.len() == 64 && direct.is_dir() {
            return Record::read(&direct).map_err(|e| StateError::Corrupt(key.into(), e));
        }
        if let Ok(id) = fs::read_link(self.names().join(key)) {
            let dir = self.containers().join(&id);
            if dir.is_dir() {
                return Record::read(&dir).map_err(|e| StateError::Corrupt(key.into(), e));
            }
        }
        let mut hits = Vec::new();
        if key.chars().all(|c| c.is_ascii_hexdigit())
            && let Ok(rd) = fs::read_dir(self.containers())
        {
            for ent in rd.flatten() {
                let n = ent.file_name().to_string_lossy().into_owned();
                if n.starts_with(key) {
                    hits.push(n);
                }
            }
        }
        match hits.len() {
            0 => Err(none()),
            1 => Record::read(&self.containers().join(&hits[0]))
                .map_err(|e| StateError::Corrupt(key.into(), e)),
            _ => Err(StateError::Ambiguous(
                key.to_string(),
                hits.iter()
                    .map(|h| &h[..12.min(h.len())])
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }

    /// Remove a container directory that cannot be read, and the names
    /// that point at it (rm -f of a corrupt record).
    pub fn remove_corrupt(&self, key: &str) -> io::Result<bool> {
        let id = if self.containers().join(key).is_dir() {
            key.to_string()
        } else if let Ok(id) = fs::read_link(self.names().join(key)) {
            id.to_string_lossy().into_owned()
        } else {
            let hits: Vec<String> = fs::read_dir(self.containers())?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') && n.starts_with(key))
                .collect();
            match hits.as_slice() {
                [one] => one.clone(),
                _ => return Ok(false),
            }
        };
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Ok(false);
        }
        remove_record_dir(&self.containers().join(&id))?;
        let _ = fs::remove_file(self.autoremove().join(&id));
        if let Ok(names) = fs::read_dir(self.names()) {
            for n in names.flatten() {
                if fs::read_link(n.path()).is_ok_and(|p| p.as_os_str() == id.as_str()) {
                    let _ = fs::remove_file(n.path());
                }
            }
        }
        Ok(true)
    }

    /// Take `name` for `id`. symlink(2) fails if the name exists, so of
    /// racing starts exactly one wins. A name whose container is gone (its
    /// start crashed before the record was made) is reclaimed under the
    /// lock, after looking again.
    pub fn reserve_name(&self, name: &str, id: &str) -> Result<(), StateError> {
        let link = self.names().join(name);
        match std::os::unix::fs::symlink(id, &link) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(StateError::Write(link, e));
            }
            Err(_) => {}
        }
        let lock = self.lock()?;
        self.reclaim_name(&lock, name, id)
    }

    /// As `reserve_name`, for a caller that holds the lock (`rrun rename`).
    pub fn reserve_name_locked(&self, held: &Lock, name: &str, id: &str) -> Result<(), StateError> {
        let link = self.names().join(name);
        match std::os::unix::fs::symlink(id, &link) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(StateError::Write(link, e)),
            Err(_) => self.reclaim_name(held, name, id),
        }
    }

    /// `name` exists: take it if its container is gone, else say whose it
    /// is. Under the lock, so that no two reclaim one name.
    fn reclaim_name(&self, _held: &Lock, name: &str, id: &str) -> Result<(), StateError> {
        let link = self.names().join(name);
        let try_link = || std::os::unix::fs::symlink(id, &link);
        let owner = fs::read_link(&link)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let owner_dir = self.containers().join(&owner);
        let pending = self.pending_owner_alive(&owner);
        if owner.is_empty() || owner_dir.is_dir() || pending {
            return Err(StateError::NameInUse(name.to_string(), owner));
        }
        let _ = fs::remove_file(&link);
        try_link().map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => StateError::NameInUse(name.to_string(), owner),
            _ => StateError::Write(link.clone(), e),
        })
    }

    /// Whether a live rrun is still assembling the directory of `id`.
    fn pending_owner_alive(&self, id: &str) -> bool {
        let Ok(rd) = fs::read_dir(self.containers()) else {
            return false;
        };
        rd.flatten().any(|ent| {
            let n = ent.file_name().to_string_lossy().into_owned();
            parse_pending(&n)
                .is_some_and(|(pid, start, pid_id)| pid_id == id && sys::alive(pid, start))
        })
    }

    /// Give `name` up, if it still points at `id`.
    pub fn release_name(&self, name: &str, id: &str) {
        let link = self.names().join(name);
        if fs::read_link(&link).is_ok_and(|p| p.as_os_str() == id) {
            let _ = fs::remove_file(&link);
        }
    }

    /// Remove a container's record and name.
    pub fn remove(&self, r: &Record) -> io::Result<()> {
        self.release_name(&r.config.name, r.id());
        remove_record_dir(&r.dir)?;
        let _ = fs::remove_file(self.autoremove().join(r.id()));
        Ok(())
    }

    /// Reclaim what crashed runs left: half-made directories whose maker
    /// is dead, records of --rm containers whose monitor is gone (found
    /// through their markers: a start reads those records alone), and names
    /// pointing at no container. Best effort.
    pub fn sweep(&self) {
        let Ok(rd) = fs::read_dir(self.containers()) else {
            return;
        };
        let mut in_making = std::collections::HashSet::new();
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            let Some((pid, start, id)) = parse_pending(&name) else {
                continue;
            };
            if sys::alive(pid, start) {
                in_making.insert(id);
                continue;
            }
            // Gone already: its maker finished it (renamed it to the id)
            // between the listing and the check, then exited (a detached
            // run does): the name is the finished container's.
            if fs::remove_dir_all(ent.path()).is_err() {
                continue;
            }
            if let Ok(names) = fs::read_dir(self.names()) {
                for n in names.flatten() {
                    if fs::read_link(n.path()).is_ok_and(|p| p.as_os_str() == id.as_str()) {
                        let _ = fs::remove_file(n.path());
                    }
                }
            }
        }
        let Ok(marks) = fs::read_dir(self.autoremove()) else {
            return;
        };
        for m in marks.flatten() {
            let id = m.file_name().to_string_lossy().into_owned();
            // A marker is named by a full id; anything else is not rrun's.
            if !is_id(&id) {
                continue;
            }
            let dir = self.containers().join(&id);
            match Record::read(&dir) {
                Ok(r) => {
                    let net_held = r.state.net.as_ref().is_some_and(|n| !n.released);
                    if r.state.status == Status::Exited
                        && !net_held
                        && !sys::alive(r.state.monitor_pid, r.state.monitor_start)
                    {
                        let _ = self.remove(&r);
                    }
                }
                // A marker outlives its record only if a start died
                // between the two.
                Err(_) if !dir.exists() && !in_making.contains(&id) => {
                    let _ = fs::remove_file(m.path());
                }
                Err(_) => {}
            }
        }
    }
}

/// Find or make a state directory that is ours and closed to others.
fn own_dir(root: &Path, private_tmp: bool, var: &'static str) -> Result<(), StateError> {
    let err = |e| StateError::Dir(root.to_path_buf(), e);
    // Looked at first: it is there on every start but the first.
    let md = match fs::symlink_metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(root)
                .map_err(err)?;
            fs::symlink_metadata(root).map_err(err)?
        }
        r => r.map_err(err)?,
    };
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if !md.is_dir() {
        return Err(StateError::NotDir(root.to_path_buf(), var));
    }
    // Wherever it is (an XDG_RUNTIME_DIR or RRUN_ROOT may name a shared
    // place such as /dev/shm), a directory someone else owns or may write
    // in is not ours: its records would say which processes rrun signals
    // and what it mounts.
    if md.uid() != me {
        return Err(StateError::NotOwner(root.to_path_buf(), md.uid(), me, var));
    }
    let open = if private_tmp { 0o077 } else { 0o022 };
    if md.mode() & open != 0 {
        return Err(StateError::Open(
            root.to_path_buf(),
            md.mode() & 0o7777,
            var,
        ));
    }
    Ok(())
}

/// Whether `name` is a full container id (64 hex digits).
pub fn is_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `.new-<pid>-<start>-<id>` → (pid, start, id).
fn parse_pending(name: &str) -> Option<(libc::pid_t, u64, String)> {
    let rest = name.strip_prefix(".new-")?;
    let mut it = rest.splitn(3, '-');
    let pid = it.next()?.parse().ok()?;
    let start = it.next()?.parse().ok()?;
    Some((pid, start, it.next()?.to_string()))
}

pub struct Lock {
    _fd: OwnedFd,
}

/// Write `data` to `path` through a temp file and a rename: a reader sees
/// the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(mode)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(&tmp)?;
    f.write_all(data)?;
    drop(f);
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Remove a record's directory. A reader that has just found its monitor
/// dead may be writing state.json into it at that moment (see
/// `Record::settle`); the emptied directory then refuses to go once or twice.
fn remove_record_dir(dir: &Path) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match fs::remove_dir_all(dir) {
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty && tries < 5 => tries += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries > 0 => return Ok(()),
            r => return r,
        }
    }
}

/// A new file with exactly `mode` (whatever the umask) holding `data`.
fn write_new(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(mode)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(data)?;
    f.set_permissions(fs::Permissions::from_mode(mode))
}

pub fn write_json<T: Serialize>(path: &Path, v: &T) -> io::Result<()> {
    let data = serde_json::to_vec_pretty(v).map_err(io::Error::other)?;
    write_atomic(path, &data, 0o600)
}

/// A container's directory while its monitor owns it: removed on drop
/// unless the container is to be kept (no --rm).
pub struct ContainerDir {
    pub path: PathBuf,
    pub keep: bool,
}

/// The files a container directory starts with.
pub struct NewContainer<'a> {
    pub config: &'a Config,
    pub state: &'a RunState,
    pub hosts: &'a str,
    pub hostname: &'a str,
    pub resolv: &'a str,
}

impl ContainerDir {
    /// Assemble the directory under a temporary name that says who is making
    /// it, then rename it into place.
    pub fn create(st: &State, c: &NewContainer) -> Result<ContainerDir, StateError> {
        let id = &c.config.id;
        // Named by its maker, this process, so a sweep knows it in making.
        let me = std::process::id() as libc::pid_t;
        // A run's record names this process as the monitor already.
        let start = if c.state.monitor_pid == me {
            c.state.monitor_start
        } else {
            sys::start_time(me).unwrap_or(0)
        };
        let tmp = st.containers().join(format!(".new-{me}-{start}-{id}"));
        let fin = st.containers().join(id);
        let werr = |p: &Path, e| StateError::Write(p.to_path_buf(), e);
        fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(|e| werr(&tmp, e))?;
        let guard = ContainerDir {
            path: tmp.clone(),
            keep: false,
        };
        // The /etc files are bind-mounted into the container and read there
        // by any user the container runs as.
        // The directory is no one's to read until it is renamed into place:
        // its first files need no temp file and rename each.
        let json = |r: serde_json::Result<Vec<u8>>| r.map_err(|e| werr(&tmp, io::Error::other(e)));
        let config = json(serde_json::to_vec_pretty(c.config))?;
        let state = json(serde_json::to_vec_pretty(c.state))?;
        for (name, text, mode) in [
            ("hosts", c.hosts.as_bytes(), 0o644),
            ("hostname", c.hostname.as_bytes(), 0o644),
            ("resolv.conf", c.resolv.as_bytes(), 0o644),
            ("config.json", &config[..], 0o600),
            ("state.json", &state[..], 0o600),
        ] {
            let p = tmp.join(name);
            write_new(&p, text, mode).map_err(|e| werr(&p, e))?;
        }
        // The name is taken only once the directory that claims it exists
        // (under its temporary name), so that a racing start never mistakes
        // a name being taken for a stale one.
        st.reserve_name(&c.config.name, id)?;
        let marker = st.autoremove().join(id);
        if c.config.auto_remove
            && let Err(e) = fs::File::create(&marker)
        {
            st.release_name(&c.config.name, id);
            return Err(werr(&marker, e));
        }
        if let Err(e) = fs::rename(&tmp, &fin) {
            st.release_name(&c.config.name, id);
            let _ = fs::remove_file(&marker);
            return Err(werr(&fin, e));
        }
        std::mem::forget(guard);
        Ok(ContainerDir {
            path: fin,
            keep: false,
        })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn write_state(&self, s: &RunState) -> io::Result<()> {
        write_json(&self.path.join("state.json"), s)
    }
}

impl Drop for ContainerDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
            // Its --rm marker, if it has one (containers/ID → autoremove/ID).
            if let (Some(id), Some(root)) = (
                self.path.file_name(),
                self.path.parent().and_then(Path::parent),
            ) {
                let _ = fs::remove_file(root.join("autoremove").join(id));
            }
        }
    }
}

/// RFC 3339 UTC time with nanoseconds, as Docker prints it.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{nanos:09}Z")
}

/// Seconds since the epoch of an RFC 3339 time as `rfc3339` writes it.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = s
        .get(19..)
        .and_then(|f| f.strip_prefix('.'))
        .map(|f| f.trim_end_matches('Z'))
        .and_then(|f| format!("0.{f}").parse::<f64>().ok())
        .unwrap_or(0.0);
    // Days-from-civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86400 + h * 3600 + mi * 60 + se) as f64 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(
            rfc3339(1_795_927_510, 123),
            "2026-11-29T04:45:10.000000123Z"
        );
        for t in [0i64, 951_782_400, 1_795_927_510, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(t, 0)), Some(t as f64));
        }
        assert_eq!(
            parse_rfc3339("2026-11-29T04:45:10.5Z"),
            Some(1_795_927_510.5)
        );
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    /// A record written before bytes were kept (plain strings) reads as
    /// before; one holding bytes that are not UTF-8 reads back exactly.
    #[test]
    fn config_records_old_and_new() {
        use std::os::unix::ffi::OsStringExt;
        let old = r#"{"id":"a","name":"n","created":"t","rootfs":"./r","path":"sh",
            "args":["-c","x"],"env":["A=1"],"hostname":"h","user":"","uid":0,"gid":0,
            "groups":[],"caps":0,"cap_add":[],"cap_drop":[],"workdir":"/","tty":false,
            "interactive":false,"init":false,"auto_remove":false,"detach":false,
            "net":"none","binds":["/s:/d"],"tmpfs":[],"read_only":false,"rootless":false}"#;
        let c: Config = serde_json::from_str(old).unwrap();
        assert_eq!((c.path.as_os_str(), c.args.len()), ("sh".as_ref(), 2));
        assert_eq!(
            (c.env[0].as_os_str(), c.rootfs_path.as_os_str()),
            ("A=1".as_ref(), "".as_ref())
        );
        let mut c2 = c.clone();
        c2.args = vec![OsString::from_vec(b"caf\xe9".to_vec())];
        c2.workdir = OsString::from_vec(b"/w\xff".to_vec());
        let j = serde_json::to_string(&c2).unwrap();
        assert!(j.contains(r#""args":[{"hex":"636166e9"}]"#), "{j}");
        assert!(j.contains(r#""workdir":{"hex":"2f77ff"}"#), "{j}");
        assert!(j.contains(r#""path":"sh""#), "{j}");
        let back: Config = serde_json::from_str(&j).unwrap();
        assert_eq!((back.args, back.workdir), (c2.args, c2.workdir));
    }

    #[test]
    fn pending_names() {
        assert_eq!(
            parse_pending(".new-12-34-abc"),
            Some((12, 34, "abc".to_string()))
        );
        assert_eq!(parse_pending("abc"), None);
        assert_eq!(parse_pending(".new-x-1-a"), None);
    }
}
