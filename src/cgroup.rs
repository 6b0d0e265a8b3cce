//! A container's device cgroup, as root: a cgroup of its own below `rrun/`
//! that denies every device but Docker's default list and the `--device`
//! entries. Where the cgroup v2 hierarchy is mounted (on its own, or as
//! `unified` beside v1 controllers), a BPF_PROG_TYPE_CGROUP_DEVICE program
//! attached to it, and the container is cloned straight into it
//! (CLONE_INTO_CGROUP); otherwise the v1 devices controller's cgroup, into
//! which the container process is moved before Go. Moving a process
//! between cgroups waits for an RCU grace period (the kernel's threadgroup
//! lock, ~10 ms here): the clone into a v2 cgroup does not, which is why
//! v2 comes first even on hybrid hosts. The monitor itself never enters
//! it. It is removed at teardown; one a killed monitor left behind is
//! removed by the next run's [`reclaim`]. `rrun exec` puts its command in
//! it too.
//!
//! Its name carries the monitor's pid and start time (devices.rs), so that
//! a reclaim never takes a cgroup a live monitor is still filling.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::devices::{self, Rule};
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
    #[error("placing the container in the device cgroup {0}: {1}")]
    Place(PathBuf, String),
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

    /// Put process `pid` (the container's, not yet told to go) in it,
    /// unless it was cloned into it.
    pub fn add(&self, pid: libc::pid_t) -> Result<(), CgroupError> {
        if self.dir.is_some() {
            return Ok(());
        }
        write_to(&self.path, "cgroup.procs", &pid.to_string())
            .map_err(|e| CgroupError::Place(self.path.clone(), sys::errno_text(&e)))
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

/// Remove the device cgroups whose monitor is dead (SIGKILLed before its
/// teardown). Best effort: one still holding a dying process stays for the
/// next run.
pub fn reclaim() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let dirs = v2_root()
        .map(|r| r.join(PARENT))
        .into_iter()
        .chain([Path::new(HIERARCHY).join(PARENT)]);
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
