//! A container's device cgroup: as root, where the cgroup v1 devices
//! controller is mounted, a cgroup of its own below `rrun/` in that
//! hierarchy that denies every device but Docker's default list and the
//! `--device` entries. The monitor makes it before the clone, places the
//! container process in it before Go (the monitor itself never enters it)
//! and removes it at teardown; one a killed monitor left behind is removed
//! by the next run's [`reclaim`]. `rrun exec` puts its command in it too.
//!
//! Its name carries the monitor's pid and start time (devices.rs), so that
//! a reclaim never takes a cgroup a live monitor is still filling.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::devices::{self, Rule};
use crate::sys;

/// Where the v1 devices controller is mounted on hybrid and v1 hosts.
const HIERARCHY: &str = "/sys/fs/cgroup/devices";
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
    #[error("placing the container in the device cgroup {0}: {1}")]
    Place(PathBuf, String),
}

/// Whether the v1 devices controller is mounted where systemd and Docker
/// expect it. rrun makes device cgroups there as root only (a rootless
/// run, root in its user namespace, could not).
pub fn available() -> bool {
    Path::new(HIERARCHY).join("devices.allow").exists()
}

/// A container's device cgroup, removed when this drops (by then every
/// process in it has exited: the container's pid namespace is gone).
#[derive(Debug)]
pub struct DeviceCgroup {
    path: PathBuf,
}

fn write_to(path: &Path, file: &str, data: &str) -> io::Result<()> {
    let fd = sys::open(&path.join(file), libc::O_WRONLY)?;
    sys::write_all(fd.as_raw_fd(), data.as_bytes())
}

impl DeviceCgroup {
    /// Make the cgroup named `name` with everything denied but `rules`.
    /// None where the hierarchy cannot be written (a read-only /sys, as
    /// inside another container): nodev mounts still hold there.
    pub fn create(name: &str, rules: &[Rule]) -> Result<Option<DeviceCgroup>, CgroupError> {
        let parent = Path::new(HIERARCHY).join(PARENT);
        let mk = |p: &Path| fs::DirBuilder::new().mode(0o755).create(p);
        match mk(&parent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) if e.raw_os_error() == Some(libc::EROFS) => return Ok(None),
            Err(e) => return Err(CgroupError::Create(parent, sys::errno_text(&e))),
        }
        let path = parent.join(name);
        mk(&path).map_err(|e| CgroupError::Create(path.clone(), sys::errno_text(&e)))?;
        let cg = DeviceCgroup { path };
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

    /// Put process `pid` (the container's, not yet told to go) in it.
    pub fn add(&self, pid: libc::pid_t) -> Result<(), CgroupError> {
        write_to(&self.path, "cgroup.procs", &pid.to_string())
            .map_err(|e| CgroupError::Place(self.path.clone(), sys::errno_text(&e)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DeviceCgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.path);
    }
}

/// Remove the device cgroups whose monitor is dead (SIGKILLed before its
/// teardown). Best effort: one still holding a dying process stays for the
/// next run.
pub fn reclaim() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 || !available() {
        return;
    }
    let Ok(rd) = fs::read_dir(Path::new(HIERARCHY).join(PARENT)) else {
        return;
    };
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

/// For `rrun exec`: the container's `cgroup.procs`, opened before the
/// mount namespace is left behind, so that the command can join it.
pub fn open_procs(path: &str) -> io::Result<OwnedFd> {
    sys::open(&Path::new(path).join("cgroup.procs"), libc::O_WRONLY)
}

/// Join the cgroup whose `cgroup.procs` is `procs` (the calling process;
/// "0" names the writer).
pub fn join(procs: &OwnedFd) -> io::Result<()> {
    sys::write_all(procs.as_raw_fd(), b"0")
}
