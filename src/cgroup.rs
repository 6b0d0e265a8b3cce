//! A container's device cgroup, as root: a cgroup of its own below `rrun/`
//! that denies every device but Docker's default list and the `--device`
//! entries. Where the cgroup v2 hierarchy is mounted (on its own, or as
//! `unified` beside v1 controllers), a BPF_PROG_TYPE_CGROUP_DEVICE program
//! attached to it, and the container is cloned straight into it
//! (CLONE_INTO_CGROUP); otherwise the v1 devices controller's cgroup,
//! which the container process joins itself first thing after Go (see
//! below for why itself). The clone into a v2 cgroup costs nothing more,
//! which is why v2 comes first even on hybrid hosts. The monitor itself never enters
//! it. It is removed at teardown; one a killed monitor left behind is
//! removed by the next run's [`reclaim`]. `rrun exec` puts its command in
//! it too.
//!
//! Its name carries the monitor's pid and start time (devices.rs), so that
//! a reclaim never takes a cgroup a live monitor is still filling.
//!
//! A container with resource limits (limits.rs says what each is given)
//! gets cgroups of the same name for them: one v2 directory where the v2
//! hierarchy has the controllers (which then also holds the device
//! program, and the container is cloned into it), else one directory per
//! v1 controller hierarchy (memory, cpu, pids, and cpuacct to account),
//! which the container process joins itself, writing 0 to their `tasks`
//! first thing after Go: a single-threaded process moving itself takes no
//! global lock, where the monitor moving it (the threadgroup lock) would
//! wait for an RCU grace period, ~8 ms here. Rootless, only a v2 subtree delegated to the user can hold
//! them; anywhere else a limit is refused, never dropped.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::devices::{self, Rule};
use crate::limits::{self, Controller, Limits};
use crate::sys;

/// Where the v1 devices controller is mounted on hybrid and v1 hosts.
const HIERARCHY: &str = "/sys/fs/cgroup/devices";
/// Where the v2 hierarchy is: the whole of /sys/fs/cgroup, or beside the
/// v1 controllers on a hybrid host.
const V2_ROOTS: &[&str] = &["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];
/// rrun's own directory in it (kept, as Docker keeps its `docker/`).
const PARENT: &str = "rrun";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("making the device cgroup {0}: {1}")]
    Create(PathBuf, String),
    #[error("writing {rule:?} to the device cgroup {path}: {reason}")]
    Rule {
        path: PathBuf,
        rule: String,
        reason: String,
    },
    #[error("placing the container in the cgroup {0}: {1}")]
    Place(PathBuf, String),
    #[error("making the cgroup {0}: {1}")]
    LimitCreate(PathBuf, String),
    #[error("writing {value:?} to {path}: {reason}")]
    LimitWrite {
        path: PathBuf,
        value: String,
        reason: String,
    },
    #[error("{flag}: this host has no {controller} cgroup controller mounted")]
    NoController {
        flag: &'static str,
        controller: &'static str,
    },
    #[error("--memory-swap: this host does not account swap in cgroups (boot with swapaccount=1)")]
    NoSwapAccounting,
    #[error(
        "{flag}: rootless limits need cgroup v2 with the {controller} controller delegated to you, and this host's {controller} controller is on cgroup v1, where only root can set limits"
    )]
    RootlessV1 {
        flag: &'static str,
        controller: &'static str,
    },
    #[error(
        "{flag}: rootless limits need a cgroup v2 subtree delegated to you: {why}; run rrun inside one, e.g. `systemd-run --user --scope -p Delegate=yes rrun …`"
    )]
    NotDelegated { flag: &'static str, why: String },
}

/// The v2 hierarchy's root, if it is mounted: looked for once a process
/// (a start asks three times: reclaim, available, create).
fn v2_root() -> Option<&'static Path> {
    static ROOT: std::sync::OnceLock<Option<&'static Path>> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        V2_ROOTS
            .iter()
            .map(Path::new)
            .find(|r| r.join("cgroup.subtree_control").exists())
    })
}

/// Whether rrun can make device cgroups here: the v2 hierarchy, or the v1
/// devices controller where systemd and Docker mount it. As root only (a
/// rootless run, root in its user namespace, could not).
pub fn available() -> bool {
    v2_root().is_some() || Path::new(HIERARCHY).join("devices.allow").exists()
}

/// A container's device cgroup, removed when this drops (by then every
/// process in it has exited: the container's pid namespace is gone).
#[derive(Debug)]
pub struct DeviceCgroup {
    path: PathBuf,
    /// v2: the cgroup's directory, to clone the container into.
    dir: Option<OwnedFd>,
    /// The one cgroup of every container with the default rules: kept.
    shared: bool,
}

fn write_to(path: &Path, file: &str, data: &str) -> io::Result<()> {
    let fd = sys::open(&path.join(file), libc::O_WRONLY)?;
    sys::write_all(fd.as_raw_fd(), data.as_bytes())
}

impl DeviceCgroup {
    /// Make the cgroup named `name` with everything denied but `rules`.
    /// None where the hierarchy cannot be written (a read-only /sys, or
    /// root of a user namespace, as inside another container): nodev
    /// mounts still hold there.
    /// RRUN_TEST_DEVICE_CGROUP=v1 skips v2, so that tests reach the v1
    /// fallback on hosts that have both.
    pub fn create(name: &str, rules: &[Rule]) -> Result<Option<DeviceCgroup>, CgroupError> {
        let v1_only = std::env::var_os("RRUN_TEST_DEVICE_CGROUP").is_some_and(|v| v == "v1");
        if let Some(root) = v2_root().filter(|_| !v1_only) {
            let prog = devices::bpf_program(rules);
            let cg = if rules == devices::DEFAULT_RULES {
                Self::shared_v2(root, &prog)
            } else {
                Self::create_v2(root, name, &prog)
            };
            if cg.is_some() {
                return Ok(cg);
            }
        }
        Self::create_v1(name, rules)
    }

    /// The v2 cgroup every container with the default rules is cloned
    /// into, `rrun/default-<hash of its program>`: made, and its program
    /// loaded and attached, by the first run that finds it missing or
    /// without a program, then kept (a start then costs an open and a
    /// query). No container enters it before a program is attached to it;
    /// two runs attaching at once replace one program with the same.
    fn shared_v2(root: &Path, prog: &[devices::Insn]) -> Option<DeviceCgroup> {
        let path = root
            .join(PARENT)
            .join(format!("default-{:016x}", devices::program_hash(prog)));
        let open = || sys::open(&path, libc::O_RDONLY | libc::O_DIRECTORY);
        let dir = match open() {
            Ok(d) => d,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                for p in [&root.join(PARENT), &path] {
                    match fs::DirBuilder::new().mode(0o755).create(p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(_) => return None,
                    }
                }
                open().ok()?
            }
            Err(_) => return None,
        };
        if attached_programs(&dir).ok()? == 0 {
            let p = load_device_program(prog).ok()?;
            attach_device_program(&dir, &p).ok()?;
        }
        Some(DeviceCgroup {
            path,
            dir: Some(dir),
            shared: true,
        })
    }

    /// A v2 cgroup of the container's own with its program attached; None
    /// where the kernel will not have it (no BPF, an ancestor's program
    /// that allows no other, a hierarchy rrun may not write), leaving
    /// nothing behind.
    fn create_v2(root: &Path, name: &str, prog: &[devices::Insn]) -> Option<DeviceCgroup> {
        let parent = root.join(PARENT);
        match fs::DirBuilder::new().mode(0o755).create(&parent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(_) => return None,
        }
        let path = parent.join(name);
        fs::DirBuilder::new().mode(0o755).create(&path).ok()?;
        let mut cg = DeviceCgroup {
            path,
            dir: None,
            shared: false,
        };
        let dir = sys::open(&cg.path, libc::O_RDONLY | libc::O_DIRECTORY).ok()?;
        let prog = load_device_program(prog).ok()?;
        attach_device_program(&dir, &prog).ok()?;
        cg.dir = Some(dir);
        Some(cg)
    }

    fn create_v1(name: &str, rules: &[Rule]) -> Result<Option<DeviceCgroup>, CgroupError> {
        if !Path::new(HIERARCHY).join("devices.allow").exists() {
            return Ok(None);
        }
        let parent = Path::new(HIERARCHY).join(PARENT);
        let path = parent.join(name);
        let denied = |e: &io::Error| {
            matches!(
                e.raw_os_error(),
                Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM)
            )
        };
        for p in [&parent, &path] {
            match fs::DirBuilder::new().mode(0o755).create(p) {
                Ok(()) => {}
                Err(e) if p == &parent && e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) if denied(&e) => return Ok(None),
                Err(e) => return Err(CgroupError::Create(p.clone(), sys::errno_text(&e))),
            }
        }
        let cg = DeviceCgroup {
            path,
            dir: None,
            shared: false,
        };
        let rule_err = |rule: String, e: io::Error| CgroupError::Rule {
            path: cg.path.clone(),
            rule,
            reason: sys::errno_text(&e),
        };
        write_to(&cg.path, "devices.deny", "a").map_err(|e| rule_err("a".into(), e))?;
        let allow = sys::open(&cg.path.join("devices.allow"), libc::O_WRONLY)
            .map_err(|e| rule_err("devices.allow".into(), e))?;
        for r in rules {
            let text = r.to_string();
            sys::write_all(allow.as_raw_fd(), text.as_bytes()).map_err(|e| rule_err(text, e))?;
        }
        Ok(Some(cg))
    }

    /// v2: the directory to clone the container into (CLONE_INTO_CGROUP).
    pub fn clone_into(&self) -> Option<RawFd> {
        self.dir.as_ref().map(|d| d.as_raw_fd())
    }

    /// v1: its directory, which the container process joins itself (it
    /// is cloned into a v2 one).
    fn v1_dir(&self) -> Option<&Path> {
        self.dir.is_none().then_some(self.path.as_path())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DeviceCgroup {
    fn drop(&mut self) {
        if !self.shared {
            let _ = fs::remove_dir(&self.path);
        }
    }
}

/// Whether the OOM killer killed a process in any of a running container's
/// limit cgroups (made fresh at its start, so counting from 0).
pub fn oom_killed_in(dirs: &[String]) -> bool {
    dirs.iter().any(|d| {
        ["memory.oom_control", "memory.events"].iter().any(|f| {
            fs::read_to_string(Path::new(d).join(f)).is_ok_and(|t| limits::oom_kills(&t) > 0)
        })
    })
}

/// The v1 controllers' mount points, read once a process that sets
/// limits (mountinfo is not read on a start without them).
static V1_MOUNTS: std::sync::OnceLock<Vec<(Controller, String)>> = std::sync::OnceLock::new();

fn v1_mount(c: Controller) -> Option<&'static Path> {
    V1_MOUNTS
        .get_or_init(|| {
            fs::read_to_string("/proc/self/mountinfo")
                .map(|t| limits::v1_mounts(&t))
                .unwrap_or_default()
        })
        .iter()
        .find(|(k, _)| *k == c)
        .map(|(_, m)| Path::new(m.as_str()))
}

/// Where [`reclaim`] looks for v1 limit cgroups: the mounts, if this
/// process read them (it sets limits), else where systemd and Docker
/// mount the controllers. Reading mountinfo on every start cost ~0.17 ms.
fn v1_reclaim_roots() -> Vec<PathBuf> {
    const CONTROLLERS: [Controller; 4] = [
        Controller::Memory,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Pids,
    ];
    match V1_MOUNTS.get() {
        Some(_) => CONTROLLERS
            .into_iter()
            .filter_map(v1_mount)
            .map(Path::to_path_buf)
            .collect(),
        None => CONTROLLERS
            .iter()
            .map(|c| Path::new("/sys/fs/cgroup").join(c.name()))
            .collect(),
    }
}

/// Whether the v2 cgroup `dir` offers every controller in `want` to its
/// children (a hybrid host's v2 hierarchy offers none).
fn v2_offers(dir: &Path, want: &[&str]) -> bool {
    let have = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    limits::missing(&have, want).is_empty()
}

/// `mkdir`, where one already there is as good (a restart's, whose
/// removal raced the last process's exit).
fn make_dir(p: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o755).create(p) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Whether `limits` can be had here, before anything is made (the plan
/// asks): Err says why not; Ok carries Docker's warnings.
pub fn check(limits: &Limits, rootless: bool) -> Result<Vec<String>, CgroupError> {
    if !limits.any() {
        return Ok(Vec::new());
    }
    if rootless {
        return rootless_parent(limits).map(|_| Vec::new());
    }
    let want = limits.v2_controllers();
    if v2_root().is_some_and(|r| v2_offers(r, &want)) {
        return Ok(Vec::new());
    }
    let (need, _) = limits.v1_controllers();
    if let Some(c) = need.iter().find(|c| v1_mount(**c).is_none()) {
        return Err(CgroupError::NoController {
            flag: Limits::flag_of(c.name()),
            controller: c.name(),
        });
    }
    let memsw = v1_mount(Controller::Memory)
        .is_some_and(|m| m.join("memory.memsw.limit_in_bytes").exists());
    match (limits.memory > 0 && !memsw, limits.swap_given) {
        (true, true) => Err(CgroupError::NoSwapAccounting),
        (true, false) => Ok(vec![NO_SWAP_WARNING.into()]),
        _ => Ok(Vec::new()),
    }
}

/// Where a rootless user's containers' limit cgroups go: below the parent
/// of the cgroup rrun runs in, if that is a v2 subtree delegated to them
/// with the controllers the limits need.
fn rootless_parent(limits: &Limits) -> Result<PathBuf, CgroupError> {
    let want = limits.v2_controllers();
    let first = want.first().copied().unwrap_or("memory");
    let Some(root) = v2_root() else {
        return Err(CgroupError::RootlessV1 {
            flag: Limits::flag_of(first),
            controller: first,
        });
    };
    if let Some(c) = want.iter().find(|c| !v2_offers(root, &[c])) {
        return Err(CgroupError::RootlessV1 {
            flag: Limits::flag_of(c),
            controller: c,
        });
    }
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let own = limits::v2_path(&text).unwrap_or("/");
    let at = |rel: &str| root.join(rel.trim_start_matches('/'));
    let me = nix::unistd::geteuid().as_raw();
    let parent = limits::delegated_parent(
        own,
        &want,
        |rel| {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(at(rel)).is_ok_and(|m| m.uid() == me)
        },
        |rel| fs::read_to_string(at(rel).join("cgroup.controllers")).ok(),
    )
    .map_err(|why| CgroupError::NotDelegated {
        flag: Limits::flag_of(first),
        why,
    })?;
    Ok(at(&parent))
}

/// A container's cgroups: its device cgroup and those that hold its
/// resource limits, removed when this drops.
#[derive(Debug, Default)]
pub struct Cgroups {
    devices: Option<DeviceCgroup>,
    limits: Option<LimitCgroups>,
}

/// The cgroups of a container's limits.
#[derive(Debug, Default)]
struct LimitCgroups {
    /// v2: the one directory, opened to clone the container into; true
    /// when the device program is attached to it too.
    v2: Option<(PathBuf, OwnedFd, bool)>,
    /// v1: the hierarchy's name (its mount point's: `memory`,
    /// `cpu,cpuacct`, …) and the directory in it, one per hierarchy.
    v1: Vec<(String, PathBuf)>,
    /// Where the OOM killer's kills are counted, and the count at creation
    /// (a restart may find the last run's directory still there).
    oom: Option<(PathBuf, u64)>,
}

impl Drop for LimitCgroups {
    fn drop(&mut self) {
        if let Some((dir, _, _)) = &self.v2 {
            let _ = fs::remove_dir(dir);
        }
        for (_, d) in &self.v1 {
            let _ = fs::remove_dir(d);
        }
    }
}

fn write_limit(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    write_to(dir, file, value).map_err(|e| CgroupError::LimitWrite {
        path: dir.join(file),
        value: value.to_string(),
        reason: sys::errno_text(&e),
    })
}

/// Docker's words where the kernel does not account swap.
const NO_SWAP_WARNING: &str = "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.";

impl Cgroups {
    /// The cgroups of container `name`: a device cgroup allowing `rules`
    /// (None: no device cgroup — rootless, or --privileged), and, when
    /// `limits` sets any, the cgroups that enforce them, or why they
    /// cannot be had (Docker's warnings come from [`check`], at the plan).
    pub fn create(
        name: &str,
        rules: Option<&[Rule]>,
        limits: &Limits,
        rootless: bool,
    ) -> Result<Cgroups, CgroupError> {
        let devices = |rules: Option<&[Rule]>| match rules {
            Some(r) if available() => DeviceCgroup::create(name, r),
            _ => Ok(None),
        };
        if !limits.any() {
            return Ok(Cgroups {
                devices: devices(rules)?,
                limits: None,
            });
        }
        let want = limits.v2_controllers();
        if rootless {
            let parent = rootless_parent(limits)?;
            let dir = parent.join(format!("rrun-{name}"));
            let lim = LimitCgroups::v2(&[&parent], &dir, limits, None)?;
            return Ok(Cgroups {
                devices: None,
                limits: Some(lim),
            });
        }
        if let Some(root) = v2_root().filter(|r| v2_offers(r, &want)) {
            let parent = root.join(PARENT);
            make_dir(&parent)
                .map_err(|e| CgroupError::LimitCreate(parent.clone(), sys::errno_text(&e)))?;
            let lim = LimitCgroups::v2(&[root, &parent], &parent.join(name), limits, rules)?;
            return Ok(Cgroups {
                devices: None,
                limits: Some(lim),
            });
        }
        let lim = LimitCgroups::v1(name, limits)?;
        Ok(Cgroups {
            devices: devices(rules)?,
            limits: Some(lim),
        })
    }

    /// v2: the directory to clone the container into (CLONE_INTO_CGROUP).
    pub fn clone_into(&self) -> Option<RawFd> {
        match &self.limits {
            Some(LimitCgroups {
                v2: Some((_, fd, _)),
                ..
            }) => Some(fd.as_raw_fd()),
            _ => self.devices.as_ref().and_then(|d| d.clone_into()),
        }
    }

    /// The `tasks` files of its v1 cgroups (its limits', and its device
    /// cgroup where that is v1), for the container process to write "0"
    /// to, first thing after Go, before anything of the container runs. A
    /// thread that moves itself takes no global lock: the monitor writing
    /// its pid to `cgroup.procs` would wait for an RCU grace period (~8 ms
    /// a start here). A v2 cgroup it is cloned into.
    pub fn v1_tasks(&self) -> Result<Vec<OwnedFd>, CgroupError> {
        let devices = self.devices.as_ref().and_then(|d| d.v1_dir());
        let limits = self
            .limits
            .iter()
            .flat_map(|l| l.v1.iter().map(|(_, d)| d.as_path()));
        devices
            .into_iter()
            .chain(limits)
            .map(|dir| {
                sys::open(&dir.join("tasks"), libc::O_WRONLY | libc::O_CLOEXEC)
                    .map_err(|e| CgroupError::Place(dir.to_path_buf(), sys::errno_text(&e)))
            })
            .collect()
    }

    /// The directory enforcing its device rules, if one does.
    pub fn device_path(&self) -> Option<&Path> {
        match &self.limits {
            Some(LimitCgroups {
                v2: Some((dir, _, true)),
                ..
            }) => Some(dir),
            _ => self.devices.as_ref().map(|d| d.path()),
        }
    }

    /// The directories of its limits (the record's `limit_cgroups`).
    pub fn limit_paths(&self) -> Vec<String> {
        let Some(l) = &self.limits else {
            return Vec::new();
        };
        l.v2.iter()
            .map(|(d, _, _)| d)
            .chain(l.v1.iter().map(|(_, d)| d))
            .map(|d| d.display().to_string())
            .collect()
    }

    /// What the container is shown of them in /sys/fs/cgroup: (name,
    /// directory) per v1 hierarchy, or one v2 directory without a name.
    pub fn shown(&self) -> Vec<(String, PathBuf)> {
        let Some(l) = &self.limits else {
            return Vec::new();
        };
        match &l.v2 {
            Some((dir, _, _)) => vec![(String::new(), dir.clone())],
            None => l.v1.clone(),
        }
    }

    /// Whether the OOM killer killed a process in it since it was made.
    pub fn oom_killed(&self) -> bool {
        let Some((file, base)) = self.limits.as_ref().and_then(|l| l.oom.as_ref()) else {
            return false;
        };
        let now = fs::read_to_string(file).map_or(0, |t| limits::oom_kills(&t));
        now > *base
    }
}

impl LimitCgroups {
    /// A v2 directory `dir` with `limits` written; `ancestors` (from the
    /// top) pass the controllers down to it. As root, the device program
    /// of `rules` is attached to it too.
    fn v2(
        ancestors: &[&Path],
        dir: &Path,
        limits: &Limits,
        rules: Option<&[Rule]>,
    ) -> Result<LimitCgroups, CgroupError> {
        let want = limits.v2_controllers();
        for a in ancestors {
            let have = fs::read_to_string(a.join("cgroup.subtree_control")).unwrap_or_default();
            let missing = limits::missing(&have, &want);
            if !missing.is_empty() {
                let text: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
                write_limit(a, "cgroup.subtree_control", &text.join(" "))?;
            }
        }
        make_dir(dir)
            .map_err(|e| CgroupError::LimitCreate(dir.to_path_buf(), sys::errno_text(&e)))?;
        let fd = match sys::open(dir, libc::O_RDONLY | libc::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = fs::remove_dir(dir);
                return Err(CgroupError::LimitCreate(
                    dir.to_path_buf(),
                    sys::errno_text(&e),
                ));
            }
        };
        // From here a failure removes it (the guard's drop).
        let mut lc = LimitCgroups::default();
        lc.v2 = Some((dir.to_path_buf(), fd, false));
        for (file, value) in limits.v2_files() {
            // No swap accounting: refused at the plan if asked for.
            if file == "memory.swap.max" && !dir.join(file).exists() {
                continue;
            }
            write_limit(dir, file, &value)?;
        }
        if limits.memory > 0 {
            let events = dir.join("memory.events");
            let base = fs::read_to_string(&events).map_or(0, |t| limits::oom_kills(&t));
            lc.oom = Some((events, base));
        }
        if let Some(rules) = rules {
            let attached = load_device_program(&devices::bpf_program(rules))
                .and_then(|p| match &lc.v2 {
                    Some((_, fd, _)) => attach_device_program(fd, &p),
                    None => Ok(()),
                })
                .is_ok();
            if let Some((_, _, a)) = lc.v2.as_mut() {
                *a = attached;
            }
        }
        Ok(lc)
    }

    /// One directory per v1 hierarchy: those the limits need (each must
    /// be mounted) and those that only account (where mounted).
    fn v1(name: &str, limits: &Limits) -> Result<LimitCgroups, CgroupError> {
        let (need, extra) = limits.v1_controllers();
        let mut lc = LimitCgroups::default();
        let wanted = need
            .iter()
            .map(|c| (*c, true))
            .chain(extra.iter().map(|c| (*c, false)));
        for (c, required) in wanted {
            let Some(mount) = v1_mount(c) else {
                if required {
                    return Err(CgroupError::NoController {
                        flag: Limits::flag_of(c.name()),
                        controller: c.name(),
                    });
                }
                continue;
            };
            let parent = mount.join(PARENT);
            let dir = parent.join(name);
            // cpu and cpuacct are often one hierarchy: one directory.
            if !lc.v1.iter().any(|(_, d)| *d == dir) {
                let made = make_dir(&parent).and_then(|()| make_dir(&dir));
                match made {
                    Ok(()) => {
                        let name = mount.file_name().map(|n| n.to_string_lossy().into_owned());
                        let name = name.unwrap_or_else(|| c.name().to_string());
                        lc.v1.push((name, dir.clone()));
                    }
                    Err(e) if required => {
                        return Err(CgroupError::LimitCreate(dir, sys::errno_text(&e)));
                    }
                    Err(_) => continue,
                }
            }
            // No swap accounting: refused at the plan if asked for.
            let memsw = dir.join("memory.memsw.limit_in_bytes").exists();
            for (file, value) in limits.v1_files(c, memsw) {
                write_limit(&dir, file, &value)?;
            }
            if c == Controller::Memory {
                let ctl = dir.join("memory.oom_control");
                let base = fs::read_to_string(&ctl).map_or(0, |t| limits::oom_kills(&t));
                lc.oom = Some((ctl, base));
            }
        }
        Ok(lc)
    }
}

/// Remove the device cgroups whose monitor is dead (SIGKILLed before its
/// teardown). Best effort: one still holding a dying process stays for the
/// next run.
pub fn reclaim() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let v1 = v1_reclaim_roots().into_iter().map(|m| m.join(PARENT));
    let mut dirs: Vec<PathBuf> = v2_root()
        .map(|r| r.join(PARENT))
        .into_iter()
        .chain([Path::new(HIERARCHY).join(PARENT)])
        .chain(v1)
        .collect();
    dirs.dedup();
    for dir in dirs {
        let Ok(rd) = fs::read_dir(dir) else { continue };
        for ent in rd.flatten() {
            let name = ent.file_name();
            let Some((_, pid, start)) = name.to_str().and_then(devices::parse_cgroup_name) else {
                continue;
            };
            if !sys::alive(pid, start) {
                let _ = fs::remove_dir(ent.path());
            }
        }
    }
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;

/// bpf(2) with an attribute block of the first fields the command reads
/// (the rest zero, which the kernel requires).
fn bpf(cmd: libc::c_long, attr: &[u8; 64]) -> io::Result<libc::c_long> {
    // SAFETY: attr is a valid, initialised buffer of the size passed; the
    // pointers it holds (for PROG_LOAD) outlive the call.
    sys::cvt_l(unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_ptr(), attr.len()) })
}

fn load_device_program(insns: &[devices::Insn]) -> io::Result<OwnedFd> {
    let license = c"GPL";
    let mut attr = [0u8; 64];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_CGROUP_DEVICE.to_ne_bytes());
    attr[4..8].copy_from_slice(&(insns.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    let fd = bpf(BPF_PROG_LOAD, &attr)?;
    // SAFETY: the kernel returned a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// How many device programs are attached to the cgroup itself.
fn attached_programs(cgroup: &OwnedFd) -> io::Result<u32> {
    let mut attr = [0u8; 64];
    attr[0..4].copy_from_slice(&(cgroup.as_raw_fd() as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&BPF_CGROUP_DEVICE.to_ne_bytes());
    // SAFETY: attr is a valid buffer of the size passed; with no prog_ids
    // buffer the kernel only writes the count into it.
    sys::cvt_l(unsafe {
        libc::syscall(libc::SYS_bpf, BPF_PROG_QUERY, attr.as_mut_ptr(), attr.len())
    })?;
    Ok(u32::from_ne_bytes([attr[24], attr[25], attr[26], attr[27]]))
}

fn attach_device_program(cgroup: &OwnedFd, prog: &OwnedFd) -> io::Result<()> {
    let mut attr = [0u8; 64];
    attr[0..4].copy_from_slice(&(cgroup.as_raw_fd() as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog.as_raw_fd() as u32).to_ne_bytes());
    attr[8..12].copy_from_slice(&BPF_CGROUP_DEVICE.to_ne_bytes());
    bpf(BPF_PROG_ATTACH, &attr).map(|_| ())
}

/// For `rrun exec`: the file through which the command joins the
/// cgroup `path`, opened before the mount namespace is left behind: a v1
/// cgroup's `tasks` (a single-threaded process moving itself there takes
/// no global lock), else `cgroup.procs`.
pub fn open_procs(path: &str) -> io::Result<OwnedFd> {
    match sys::open(&Path::new(path).join("tasks"), libc::O_WRONLY) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            sys::open(&Path::new(path).join("cgroup.procs"), libc::O_WRONLY)
        }
        r => r,
    }
}

/// Join the cgroup whose `cgroup.procs` is `procs` (the calling process;
/// "0" names the writer).
pub fn join(procs: &OwnedFd) -> io::Result<()> {
    sys::write_all(procs.as_raw_fd(), b"0")
}
