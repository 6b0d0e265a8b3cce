//! The container's filesystem: a private bind of the rootfs with /proc,
//! /sys, a minimal /dev, the generated /etc files, volumes and tmpfs mounts,
//! runc's masked and read-only paths, then pivot_root with the old root
//! detached. Runs in the container process, in its new mount namespace,
//! before exec.
//!
//! Every path inside the rootfs is resolved by file descriptor with
//! openat2(RESOLVE_IN_ROOT), and mounts go through /proc/self/fd/N, so a
//! symlink in the rootfs can never send a mount or a new file outside it.
//! The rootfs is used in place: rrun creates a missing mount point only
//! where the caller may write, and otherwise lays a tmpfs-backed overlay
//! over the nearest existing directory (the kernel allows it in a user
//! namespace with `userxattr`) so that the rootfs itself is never touched.
//!
//! No device node the container makes or finds can be opened: every mount
//! it can write or make nodes in is `nodev` (the rootfs and the overlays
//! laid on it, /dev, /dev/shm, -v binds, --tmpfs unless `dev`). The nodes
//! it is given (/dev/null and the like, `--device`) are read-only binds of
//! the host's, which keep the host's /dev mount flags, so they open while
//! their owner and mode stay out of the container's reach. `--privileged`
//! lifts all of that, as in Docker.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, fstat, mkdirat, mknodat};
use nix::unistd::{Gid, Uid, chdir, close, fchdir, fchownat, symlinkat};

use crate::spec::Tmpfs;
use crate::sys::{self, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, fd_path};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("{what}: {source}")]
    Step {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} does not exist in the rootfs and cannot be created there ({reason}); {fix}")]
    Missing {
        path: String,
        reason: String,
        fix: String,
    },
}

fn step(what: impl Into<String>) -> impl FnOnce(io::Error) -> MountError {
    let what = what.into();
    move |source| MountError::Step { what, source }
}

/// What kind of object a mount point must be.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    Dir,
    File,
}

/// A host device node given with `--device`: bound onto `dst`.
#[derive(Debug, Clone)]
pub struct DeviceBind {
    pub src: PathBuf,
    pub dst: String,
}

/// A host device node for `--privileged`'s /dev: made with mknod as root,
/// bound from the host's /dev rootless.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostNode {
    /// The path below /dev.
    pub rel: String,
    /// st_mode: type and permissions.
    pub mode: u32,
    pub rdev: u64,
    pub uid: u32,
    pub gid: u32,
}

/// A bind mount from the host.
#[derive(Debug, Clone)]
pub struct Bind {
    pub src: PathBuf,
    pub dst: PathBuf,
    pub readonly: bool,
    pub kind: Kind,
}

/// Everything the filesystem setup needs, decided before the clone.
#[derive(Debug, Clone)]
pub struct MountPlan {
    pub rootfs: PathBuf,
    pub readonly: bool,
    /// Running in a user namespace: overlays need `userxattr`.
    pub rootless: bool,
    /// The container has a network namespace of its own, so sysfs can be
    /// mounted; otherwise (rootless --net=host) the host's /sys is bound.
    pub own_netns: bool,
    /// Whether gid 5 (tty) exists in the user namespace, for devpts.
    pub tty_gid: bool,
    /// The generated /etc files: (path in the container, file in the state dir).
    pub etc: Vec<(String, PathBuf)>,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<Tmpfs>,
    /// The working directory, made if missing (as Docker does).
    pub workdir: Option<PathBuf>,
    /// --device nodes.
    pub devices: Vec<DeviceBind>,
    /// --privileged: no nodev, no masked or read-only paths, a writable
    /// /sys, and these host nodes in /dev.
    pub privileged: bool,
    pub host_nodes: Vec<HostNode>,
    /// The container's limit cgroups, shown read-only in /sys/fs/cgroup as
    /// Docker shows them (runtimes size their heaps and threads by them):
    /// (the hierarchy's name, its directory on the host); a lone v2
    /// directory has no name and is /sys/fs/cgroup itself.
    pub cgroups: Vec<(String, PathBuf)>,
}

const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// runc's default masked paths (with /proc/interrupts, which newer runc
/// masks too): files get /dev/null over them, directories an empty
/// read-only tmpfs.
const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// runc's default read-only paths.
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The device nodes bound from the host (rootless cannot mknod).
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

fn resolve(root: &OwnedFd, path: impl AsRef<OsStr>) -> io::Result<OwnedFd> {
    sys::openat2(
        root.as_raw_fd(),
        path,
        libc::O_PATH,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
}

fn is_dir(fd: &OwnedFd) -> bool {
    fstat(fd.as_raw_fd()).is_ok_and(|st| (st.st_mode & libc::S_IFMT) == libc::S_IFDIR)
}

fn perm_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM)
    )
}

/// Create the one component `name` below `parent` (never following a
/// symlink in its place: mkdirat and O_EXCL do not).
fn create_in(parent: &OwnedFd, name: impl AsRef<OsStr>, kind: Kind) -> io::Result<()> {
    let name = name.as_ref();
    let dir = Some(parent.as_raw_fd());
    let r = match kind {
        Kind::Dir => mkdirat(dir, name, Mode::from_bits_truncate(0o755)),
        Kind::File => openat(
            dir,
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .and_then(close),
    };
    match r {
        Err(e) if e != Errno::EEXIST => Err(e.into()),
        _ => Ok(()),
    }
}

/// Mark a mount point rrun made in the rootfs (`image save` leaves it out
/// while it stays empty). Best effort: a filesystem without user xattrs
/// keeps it unmarked.
fn mark_placed(parent: &OwnedFd, name: &OsStr) {
    // One component, no symlink: the entry just made in `parent`.
    if name.as_bytes().contains(&b'/') || name == ".." || name == "." {
        return;
    }
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
    let Ok(fd) = sys::openat2(parent.as_raw_fd(), name, flags, sys::RESOLVE_NO_SYMLINKS) else {
        return;
    };
    let key = crate::image::PLACED_XATTR;
    // SAFETY: a NUL-terminated name and a one-byte value on an open fd.
    unsafe { libc::fsetxattr(fd.as_raw_fd(), key.as_ptr(), b"1".as_ptr().cast(), 1, 0) };
}

fn components(path: &Path) -> Vec<&OsStr> {
    path.as_os_str()
        .as_bytes()
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(OsStr::from_bytes)
        .collect()
}

/// "/" and the first `n` of `parts`.
fn prefix(parts: &[&OsStr], n: usize) -> PathBuf {
    let mut p = PathBuf::from("/");
    p.extend(&parts[..n]);
    p
}

struct Fs<'a> {
    plan: &'a MountPlan,
    root: OwnedFd,
    /// Overlays laid over read-only directories, to be made read-only too
    /// with --read-only.
    overlays: Vec<PathBuf>,
}

impl Fs<'_> {
    /// Make sure every target exists in the rootfs, creating what is
    /// missing. Where the rootfs cannot be written, lay overlays over the
    /// nearest existing directories and create the targets there. The
    /// overlays are chosen all at once, none below another: an overlay hides
    /// whatever is mounted below its directory, an earlier overlay too.
    fn ensure_all(&mut self, targets: &[(&Path, Kind)]) -> Result<(), MountError> {
        let missing = |path: &Path, reason: String| MountError::Missing {
            path: path.display().to_string(),
            reason,
            fix: fix_for(&self.plan.rootfs, path),
        };
        let mut failed: Vec<(&Path, Kind, PathBuf, io::Error)> = Vec::new();
        for &(path, kind) in targets {
            match resolve(&self.root, path) {
                Ok(_) => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => {
                    return Err(step(format!("resolving {} in the rootfs", path.display()))(
                        e,
                    ));
                }
            }
            let parts = components(path);
            match self.create_path(&parts, kind) {
                Ok(()) => {}
                Err((at, e)) if perm_error(&e) => failed.push((path, kind, prefix(&parts, at), e)),
                Err((_, e)) => return Err(missing(path, sys::errno_text(&e))),
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        // Ancestors first: a deeper overlay then stacks on the merged view
        // of a shallower one instead of being hidden by it. Each lies
        // directly on the directory where an entry must be added, so that
        // adding it never copies up a directory owned by an id outside the
        // user namespace (which the kernel refuses).
        let mut tops: Vec<PathBuf> = failed.iter().map(|f| f.2.clone()).collect();
        tops.sort_by(|a, b| (components(a).len(), a).cmp(&(components(b).len(), b)));
        tops.dedup();
        // Both are normalised ("/a/b"): a component-wise prefix.
        let under = |dir: &Path, top: &Path| dir.starts_with(top);
        for top in &tops {
            if let Err(oe) = self.overlay(top) {
                let (path, _, _, e) = failed
                    .iter()
                    .find(|(_, _, d, _)| under(d, top))
                    .unwrap_or(&failed[0]);
                return Err(missing(
                    path,
                    format!(
                        "{}; an overlay over {} failed too: {}",
                        sys::errno_text(e),
                        top.display(),
                        sys::errno_text(&oe)
                    ),
                ));
            }
        }
        for (path, kind, _, _) in &failed {
            self.create_path(&components(path), *kind)
                .map_err(|(_, e)| missing(path, sys::errno_text(&e)))?;
        }
        Ok(())
    }

    /// Create each missing component of `parts`; on failure return the
    /// index of the component that could not be made.
    fn create_path(&self, parts: &[&OsStr], kind: Kind) -> Result<(), (usize, io::Error)> {
        for i in 0..parts.len() {
            let prefix = prefix(parts, i + 1);
            match resolve(&self.root, &prefix) {
                Ok(_) => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err((i, e)),
            }
            let parent = resolve(&self.root, self::prefix(parts, i)).map_err(|e| (i, e))?;
            let k = if i + 1 == parts.len() {
                kind
            } else {
                Kind::Dir
            };
            create_in(&parent, parts[i], k).map_err(|e| (i, e))?;
            mark_placed(&parent, parts[i]);
            // A dangling symlink in its place (create_in sees EEXIST and
            // makes nothing): the path still does not resolve, and saying
            // so here names the symlink, not a later mount's ENOENT.
            resolve(&self.root, &prefix).map_err(|e| (i, e))?;
        }
        Ok(())
    }

    /// Lay an overlay with a tmpfs upper layer over `dir`, so that entries
    /// can be added to it without writing the rootfs.
    fn overlay(&mut self, dir: &Path) -> io::Result<()> {
        let lower = resolve(&self.root, dir)?;
        let scratch = detached_tmpfs()?;
        for d in ["upper", "work"] {
            create_in(&scratch, d, Kind::Dir)?;
        }
        let upper = sys::openat2(scratch.as_raw_fd(), "upper", libc::O_PATH, 0)?;
        let work = sys::openat2(scratch.as_raw_fd(), "work", libc::O_PATH, 0)?;
        let mut data = format!(
            "lowerdir={},upperdir={},workdir={}",
            fd_path(&lower),
            fd_path(&upper),
            fd_path(&work)
        );
        if self.plan.rootless {
            data.push_str(",userxattr");
        }
        sys::mount(
            Some("overlay"),
            &fd_path(&lower),
            Some("overlay"),
            if self.plan.privileged {
                0
            } else {
                libc::MS_NODEV
            },
            Some(&data),
        )?;
        if components(dir).is_empty() {
            // Our fd names the mount below the overlay; resolving from it
            // would not see the overlay at all.
            self.root = sys::open(&self.plan.rootfs, libc::O_PATH | libc::O_DIRECTORY)?;
        }
        self.overlays.push(dir.to_path_buf());
        Ok(())
    }
}

/// The command that makes a missing mount point, unless the path passes
/// through a symlink in the rootfs: on the host, mkdir would follow it
/// (perhaps out of the rootfs), where rrun resolves it inside.
fn fix_for(rootfs: &Path, path: &Path) -> String {
    let mut p = rootfs.to_path_buf();
    for c in components(path) {
        p.push(c);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return format!(
                "{} is a symlink, which rrun resolves inside the rootfs; make the path there without it",
                p.display()
            );
        }
    }
    format!(
        "create it with: mkdir -p {} (or touch it, for a file)",
        rootfs
            .join(path.strip_prefix("/").unwrap_or(path))
            .display()
    )
}

/// A tmpfs that is mounted nowhere (fsopen/fsmount): scratch space for an
/// overlay's upper layer, gone when the overlay goes.
fn detached_tmpfs() -> io::Result<OwnedFd> {
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: fsopen takes a C string and flags and returns a new fd.
    let fs = sys::cvt_l(unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 1u32) })?;
    // SAFETY: fs is the fd just returned; we own it.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value.
    sys::cvt_l(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    // SAFETY: fsmount on a created fs context returns a new mount fd.
    let m = sys::cvt_l(unsafe {
        libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0u32)
    })?;
    // SAFETY: m is a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(m as i32) })
}

/// Set up the container's filesystem and pivot into it. On return the
/// process's root and cwd are the container's "/".
pub fn setup(plan: &MountPlan) -> Result<(), MountError> {
    // Nothing done here may propagate back to the host.
    sys::mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None)
        .map_err(step("making the mount namespace private"))?;
    // Through its fd: the path is bytes, and need not be UTF-8.
    let shown = plan.rootfs.display();
    let under = sys::open(&plan.rootfs, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(step(format!("opening the rootfs {shown}")))?;
    sys::mount(
        Some(&fd_path(&under)),
        &fd_path(&under),
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(step(format!("binding the rootfs {shown}")))?;
    drop(under);
    let root = sys::open(&plan.rootfs, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(step(format!("opening the rootfs {shown}")))?;
    if !plan.privileged {
        // With whatever is mounted below it on the host.
        sys::mount_setattr_rec(&root, MOUNT_ATTR_NODEV)
            .map_err(step(format!("making the rootfs {shown} nodev")))?;
    }
    let mut fs = Fs {
        plan,
        root,
        overlays: Vec::new(),
    };
    // The host's /dev/null, for masking, before anything is mounted over.
    let devnull =
        sys::open(Path::new("/dev/null"), libc::O_PATH).map_err(step("opening /dev/null"))?;

    // First every mount point, then the mounts: an overlay laid to make a
    // mount point would hide mounts made below it earlier.
    let mut targets: Vec<(&Path, Kind)> = vec![
        (Path::new("/proc"), Kind::Dir),
        (Path::new("/sys"), Kind::Dir),
        (Path::new("/dev"), Kind::Dir),
    ];
    targets.extend(plan.etc.iter().map(|(dst, _)| (Path::new(dst), Kind::File)));
    targets.extend(plan.binds.iter().map(|b| (b.dst.as_path(), b.kind)));
    targets.extend(plan.tmpfs.iter().map(|t| (t.dst.as_path(), Kind::Dir)));
    if let Some(w) = &plan.workdir {
        targets.push((w.as_path(), Kind::Dir));
    }
    // Nodes under /dev go on rrun's tmpfs, made there after it is mounted.
    targets.extend(
        plan.devices
            .iter()
            .filter(|d| !under_dev(&d.dst))
            .map(|d| (Path::new(&d.dst), Kind::File)),
    );
    fs.ensure_all(&targets)?;

    if plan.readonly {
        // Before anything is mounted on it, so that only the rootfs and the
        // overlays laid on it become read-only.
        set_readonly(&fs.root, false).map_err(step("making the rootfs read-only"))?;
        for o in &fs.overlays {
            let (fd, o) = (resolve(&fs.root, o), o.display());
            let fd = fd.map_err(step(format!("resolving {o}")))?;
            set_readonly(&fd, false).map_err(step(format!("making {o} read-only")))?;
        }
    }

    mount_proc(&fs)?;
    mount_sys(&fs)?;
    mount_cgroups(&fs)?;
    mount_dev(&fs)?;

    for (dst, src) in &plan.etc {
        bind(&fs, src, Path::new(dst), false, 0)?;
    }
    // Docker's binds are not nodev (its device cgroup guards them); here
    // nodev is what guards them rootless, where there is no device cgroup.
    let nodev = if plan.privileged { 0 } else { MOUNT_ATTR_NODEV };
    for b in &plan.binds {
        let ro = if b.readonly {
            sys::MOUNT_ATTR_RDONLY
        } else {
            0
        };
        bind(&fs, &b.src, &b.dst, true, ro | nodev)?;
    }
    for t in &plan.tmpfs {
        let shown = t.dst.display();
        let target = resolve(&fs.root, &t.dst).map_err(step(format!("resolving {shown}")))?;
        let mut flags = 0;
        if t.readonly {
            flags |= libc::MS_RDONLY;
        }
        if t.noexec {
            flags |= libc::MS_NOEXEC;
        }
        if t.nosuid {
            flags |= libc::MS_NOSUID;
        }
        if t.nodev {
            flags |= libc::MS_NODEV;
        }
        let data = if t.data.is_empty() {
            None
        } else {
            Some(t.data.as_str())
        };
        sys::mount(Some("tmpfs"), &fd_path(&target), Some("tmpfs"), flags, data)
            .map_err(step(format!("mounting a tmpfs on {shown}")))?;
    }
    // Last, so that a node's place inside a volume or a tmpfs is there.
    // Read-only: the node opens for writing all the same, but its owner
    // and mode on the host stay as they are.
    for d in &plan.devices {
        fs.create_path(&components(Path::new(&d.dst)), Kind::File)
            .map_err(|(_, e)| step(format!("creating {} for the device", d.dst))(e))?;
        bind(
            &fs,
            &d.src,
            Path::new(&d.dst),
            false,
            sys::MOUNT_ATTR_RDONLY,
        )?;
    }

    if !plan.privileged {
        mask_paths(&fs, &devnull)?;
    }
    pivot(&fs)
}

fn set_readonly(fd: &OwnedFd, recursive: bool) -> io::Result<()> {
    set_attrs(fd, sys::MOUNT_ATTR_RDONLY, recursive)
}

/// Set MOUNT_ATTR_* flags on the mount `fd` names (and, recursive, on
/// every mount below it).
fn set_attrs(fd: &OwnedFd, attrs: u64, recursive: bool) -> io::Result<()> {
    sys::mount_setattr(fd, attrs, recursive)
}

fn mount_proc(fs: &Fs) -> Result<(), MountError> {
    let t = resolve(&fs.root, "/proc").map_err(step("resolving /proc"))?;
    sys::mount(
        Some("proc"),
        &fd_path(&t),
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    )
    .map_err(step("mounting /proc"))
}

fn mount_sys(fs: &Fs) -> Result<(), MountError> {
    let t = resolve(&fs.root, "/sys").map_err(step("resolving /sys"))?;
    let ro = if fs.plan.privileged {
        0
    } else {
        libc::MS_RDONLY
    };
    if fs.plan.own_netns || !fs.plan.rootless {
        sys::mount(
            Some("sysfs"),
            &fd_path(&t),
            Some("sysfs"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | ro,
            None,
        )
        .map_err(step("mounting /sys"))
    } else {
        // A user namespace may mount sysfs only for a network namespace it
        // owns; with the host's network, bind the host's /sys read-only.
        sys::mount(
            Some("/sys"),
            &fd_path(&t),
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .map_err(step("binding the host's /sys"))?;
        if fs.plan.privileged {
            return Ok(());
        }
        let t = resolve(&fs.root, "/sys").map_err(step("resolving /sys"))?;
        set_readonly(&t, true).map_err(step("making /sys read-only"))
    }
}

fn mount_cgroups(fs: &Fs) -> Result<(), MountError> {
    const AT: &str = "/sys/fs/cgroup";
    if fs.plan.cgroups.is_empty() {
        return Ok(());
    }
    let t = match resolve(&fs.root, AT) {
        Ok(t) => t,
        // A kernel without it has nowhere to show them.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(step(format!("resolving {AT}"))(e)),
    };
    // Read-only: a container does not change its own limits.
    let attrs = sys::MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    if let [(name, dir)] = fs.plan.cgroups.as_slice()
        && name.is_empty()
    {
        return bind(fs, dir, Path::new(AT), false, attrs);
    }
    sys::mount(
        Some("tmpfs"),
        &fd_path(&t),
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some("mode=755,size=64k"),
    )
    .map_err(step(format!("mounting a tmpfs on {AT}")))?;
    let t = resolve(&fs.root, AT).map_err(step(format!("resolving {AT}")))?;
    for (name, dir) in &fs.plan.cgroups {
        nix::sys::stat::mkdirat(
            Some(t.as_raw_fd()),
            name.as_str(),
            nix::sys::stat::Mode::from_bits_truncate(0o755),
        )
        .map_err(|e| step(format!("creating {AT}/{name}"))(io::Error::from(e)))?;
        bind(fs, dir, &Path::new(AT).join(name), false, attrs)?;
    }
    set_readonly(&t, false).map_err(step(format!("making {AT} read-only")))
}

fn mount_dev(fs: &Fs) -> Result<(), MountError> {
    let t = resolve(&fs.root, "/dev").map_err(step("resolving /dev"))?;
    // A node made here with mknod does not open (nodev); the nodes bound
    // below keep the flags of the host's /dev mount.
    let nodev = if fs.plan.privileged {
        0
    } else {
        libc::MS_NODEV
    };
    sys::mount(
        Some("tmpfs"),
        &fd_path(&t),
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_STRICTATIME | nodev,
        Some("mode=755,size=65536k"),
    )
    .map_err(step("mounting a tmpfs on /dev"))?;
    let dev = resolve(&fs.root, "/dev").map_err(step("resolving /dev"))?;
    for name in DEVICES {
        create_in(&dev, name, Kind::File).map_err(step(format!("creating /dev/{name}")))?;
        bind_host_node(&dev, OsStr::new(name), Path::new(&format!("/dev/{name}")))?;
    }
    for d in ["pts", "shm", "mqueue"] {
        create_in(&dev, d, Kind::Dir).map_err(step(format!("creating /dev/{d}")))?;
    }
    let pts = sys::openat2(
        dev.as_raw_fd(),
        "pts",
        libc::O_PATH,
        sys::RESOLVE_NO_SYMLINKS,
    )
    .map_err(step("opening /dev/pts"))?;
    let mut opts = String::from("newinstance,ptmxmode=0666,mode=0620");
    if fs.plan.tty_gid {
        opts.push_str(",gid=5");
    }
    sys::mount(
        Some("devpts"),
        &fd_path(&pts),
        Some("devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some(&opts),
    )
    .map_err(step("mounting /dev/pts"))?;
    let shm = sys::openat2(
        dev.as_raw_fd(),
        "shm",
        libc::O_PATH,
        sys::RESOLVE_NO_SYMLINKS,
    )
    .map_err(step("opening /dev/shm"))?;
    sys::mount(
        Some("shm"),
        &fd_path(&shm),
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )
    .map_err(step("mounting /dev/shm"))?;
    let mq = sys::openat2(
        dev.as_raw_fd(),
        "mqueue",
        libc::O_PATH,
        sys::RESOLVE_NO_SYMLINKS,
    )
    .map_err(step("opening /dev/mqueue"))?;
    // POSIX message queues are a nicety; a kernel without them still runs.
    let _ = sys::mount(
        Some("mqueue"),
        &fd_path(&mq),
        Some("mqueue"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    );
    for (name, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        symlinkat(target, Some(dev.as_raw_fd()), name)
            .map_err(|e| step(format!("creating /dev/{name}"))(e.into()))?;
    }
    for n in &fs.plan.host_nodes {
        host_node(fs, n)?;
    }
    Ok(())
}

/// Bind the host's node `src` onto the file `name` below `dir`, read-only:
/// it opens for reading and writing as on the host, but chmod and chown
/// inside cannot change the host's node.
fn bind_host_node(dir: &OwnedFd, name: &OsStr, src: &Path) -> Result<(), MountError> {
    let what = || src.display().to_string();
    let open = || {
        sys::openat2(
            dir.as_raw_fd(),
            name,
            libc::O_PATH,
            sys::RESOLVE_NO_SYMLINKS,
        )
    };
    let name_shown = name.to_string_lossy();
    let target = open().map_err(step(format!("opening {name_shown} for {}", what())))?;
    let s = src.to_str().ok_or_else(|| {
        step(format!("binding {}", what()))(io::Error::from_raw_os_error(libc::EINVAL))
    })?;
    sys::mount(Some(s), &fd_path(&target), None, libc::MS_BIND, None)
        .map_err(step(format!("binding {}", what())))?;
    let top = open().map_err(step(format!("opening {name_shown} for {}", what())))?;
    set_readonly(&top, false).map_err(step(format!("making {} read-only", what())))
}

/// One host node of --privileged's /dev: root makes it (the /dev tmpfs is
/// not nodev then), rootless binds the host's. One that exists already
/// (rrun's own null, tty, …) is left as it is.
fn host_node(fs: &Fs, n: &HostNode) -> Result<(), MountError> {
    let path = format!("/dev/{}", n.rel);
    let parts = components(Path::new(&path));
    let Some((name, dirs)) = parts.split_last() else {
        return Ok(());
    };
    fs.create_path(dirs, Kind::Dir)
        .map_err(|(_, e)| step(format!("creating the directory of {path}"))(e))?;
    let parent =
        resolve(&fs.root, prefix(dirs, dirs.len())).map_err(step(format!("resolving {path}")))?;
    if !fs.plan.rootless {
        let dir = Some(parent.as_raw_fd());
        // The mode and device number are the host node's.
        let kind = SFlag::from_bits_truncate(n.mode & libc::S_IFMT);
        match mknodat(
            dir,
            *name,
            kind,
            Mode::from_bits_truncate(n.mode & 0o777),
            n.rdev,
        ) {
            Err(Errno::EEXIST) => return Ok(()),
            Err(e) => return Err(step(format!("creating {path}"))(e.into())),
            Ok(()) => {}
        }
        // mknod applied the umask: the host's mode wins.
        let mode = Mode::from_bits_truncate(n.mode & 0o7777);
        let _ = fchmodat(dir, *name, mode, FchmodatFlags::FollowSymlink);
        let _ = fchownat(
            dir,
            *name,
            Some(Uid::from_raw(n.uid)),
            Some(Gid::from_raw(n.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        );
        return Ok(());
    }
    if resolve(&parent, name).is_ok() {
        return Ok(());
    }
    create_in(&parent, name, Kind::File).map_err(step(format!("creating {path}")))?;
    bind_host_node(&parent, name, Path::new(&path))
}

/// Whether a container path lies on rrun's /dev tmpfs.
fn under_dev(path: &str) -> bool {
    path.starts_with("/dev/")
}

/// Bind `src` onto `dst` in the rootfs, then set `attrs` (MOUNT_ATTR_*)
/// on the new mount (recursive: on every mount it brought along).
fn bind(fs: &Fs, src: &Path, dst: &Path, recursive: bool, attrs: u64) -> Result<(), MountError> {
    let dst_path = dst;
    let dst = dst.display();
    let s = sys::open(src, libc::O_PATH).map_err(step(format!("opening {}", src.display())))?;
    let t = resolve(&fs.root, dst_path).map_err(step(format!("resolving {dst}")))?;
    if is_dir(&s) != is_dir(&t) {
        return Err(step(format!("binding {} on {dst}", src.display()))(
            io::Error::from_raw_os_error(if is_dir(&s) {
                libc::ENOTDIR
            } else {
                libc::EISDIR
            }),
        ));
    }
    let mut flags = libc::MS_BIND;
    if recursive {
        flags |= libc::MS_REC;
    }
    sys::mount(Some(&fd_path(&s)), &fd_path(&t), None, flags, None)
        .map_err(step(format!("binding {} on {dst}", src.display())))?;
    if attrs != 0 {
        let t = resolve(&fs.root, dst_path).map_err(step(format!("resolving {dst}")))?;
        set_attrs(&t, attrs, recursive).map_err(step(format!("setting the flags of {dst}")))?;
    }
    Ok(())
}

fn mask_paths(fs: &Fs, devnull: &OwnedFd) -> Result<(), MountError> {
    for p in MASKED {
        let t = match resolve(&fs.root, p) {
            Ok(t) => t,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(step(format!("resolving {p}"))(e)),
        };
        let r = if is_dir(&t) {
            sys::mount(
                Some("tmpfs"),
                &fd_path(&t),
                Some("tmpfs"),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                Some("size=0"),
            )
        } else {
            // Read-only, as the nodes of /dev: the host's /dev/null's mode
            // and owner are not the container's to change.
            sys::mount(
                Some(&fd_path(devnull)),
                &fd_path(&t),
                None,
                libc::MS_BIND,
                None,
            )
            .and_then(|()| set_readonly(&resolve(&fs.root, p)?, false))
        };
        r.map_err(step(format!("masking {p}")))?;
    }
    for p in READONLY {
        let t = match resolve(&fs.root, p) {
            Ok(t) => t,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(step(format!("resolving {p}"))(e)),
        };
        sys::mount(
            Some(&fd_path(&t)),
            &fd_path(&t),
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .map_err(step(format!("binding {p}")))?;
        let t = resolve(&fs.root, p).map_err(step(format!("resolving {p}")))?;
        set_readonly(&t, true).map_err(step(format!("making {p} read-only")))?;
    }
    Ok(())
}

fn pivot(fs: &Fs) -> Result<(), MountError> {
    // An O_PATH directory is allowed.
    fchdir(fs.root.as_raw_fd()).map_err(|e| step("entering the rootfs")(e.into()))?;
    // pivot_root(".", ".") stacks the old root under the new one; detaching
    // it then leaves only the container's tree.
    sys::pivot_root(".", ".").map_err(step("pivot_root"))?;
    sys::umount2(".", libc::MNT_DETACH).map_err(step("detaching the old root"))?;
    chdir("/").map_err(|e| step("chdir /")(e.into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_names_the_command_or_the_symlink() {
        let dir = std::env::temp_dir().join(format!("rrun-fix-for-{}", std::process::id()));
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::os::unix::fs::symlink("/elsewhere", rootfs.join("lnk")).unwrap();
        assert_eq!(
            fix_for(&rootfs, Path::new("/etc/hosts")),
            format!(
                "create it with: mkdir -p {}/etc/hosts (or touch it, for a file)",
                rootfs.display()
            )
        );
        // mkdir on the host would follow the symlink out of the rootfs.
        assert_eq!(
            fix_for(&rootfs, Path::new("/lnk/x")),
            format!(
                "{}/lnk is a symlink, which rrun resolves inside the rootfs; make the path there without it",
                rootfs.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
