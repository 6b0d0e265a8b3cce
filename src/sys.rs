//! Thin, typed wrappers over the raw syscalls the rest of rrun uses and that
//! `nix` does not cover the way we need (openat2, mount_setattr,
//! close_range, pidfd, getrandom, glibc's errno texts), and the few calls
//! through `nix` that many modules share. Each returns io::Result with the
//! kernel's errno; callers attach what they were doing.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, SealFlag, fcntl};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::memfd::{MemFdCreateFlag, memfd_create};
use nix::sys::socket::SockaddrStorage;
use nix::sys::stat::Mode;

pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub fn cvt_l(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub fn cstr(p: impl AsRef<OsStr>) -> io::Result<CString> {
    CString::new(p.as_ref().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The path that names an open fd, usable wherever the kernel takes a path
/// (mount sources and targets): the magic link resolves to exactly the
/// object we opened, whatever happened to its name since.
pub fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2): resolve `path` below `dir` under the `resolve` rules.
pub fn openat2(
    dir: RawFd,
    path: impl AsRef<OsStr>,
    flags: libc::c_int,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    loop {
        // SAFETY: `c` is a valid NUL-terminated string and `how` a valid
        // open_how of the size we pass; the kernel only reads them.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if r >= 0 {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
        }
        let e = io::Error::last_os_error();
        // EAGAIN: a concurrent rename raced RESOLVE_IN_ROOT's checks.
        if e.raw_os_error() != Some(libc::EAGAIN) {
            return Err(e);
        }
    }
}

pub fn open(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(path, flags, Mode::from_bits_truncate(0o666))?;
    // SAFETY: fd was just returned by open and is ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn mount(
    src: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    nix::mount::mount(src, target, fstype, MsFlags::from_bits_retain(flags), data)?;
    Ok(())
}

pub fn umount2(target: &str, flags: libc::c_int) -> io::Result<()> {
    nix::mount::umount2(target, MntFlags::from_bits_retain(flags))?;
    Ok(())
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// mount_setattr(2) on the mount at `fd`, recursively: how a whole tree of
/// binds is made read-only at once.
pub fn mount_setattr_rec(fd: &impl AsRawFd, set: u64) -> io::Result<()> {
    mount_setattr(fd, set, true)
}

/// mount_setattr(2): set MOUNT_ATTR_* flags on the mount at `fd` (and,
/// `recursive`, on every mount below it).
pub fn mount_setattr(fd: &impl AsRawFd, set: u64, recursive: bool) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive {
        libc::AT_EMPTY_PATH | libc::AT_RECURSIVE
    } else {
        libc::AT_EMPTY_PATH
    };
    let empty = c"";
    // SAFETY: attr is a valid mount_attr of the size passed; the empty path
    // with AT_EMPTY_PATH names `fd` itself.
    cvt_l(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(())
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe_cloexec() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

pub fn pivot_root(new: &str, old: &str) -> io::Result<()> {
    nix::unistd::pivot_root(new, old)?;
    Ok(())
}

/// Whether the working directory is reachable from the root: the kernel's
/// getcwd says "(unreachable)" for one outside it (a directory reached
/// through an fd or a magic link from beyond a pivot_root).
pub fn cwd_inside_root() -> bool {
    let mut buf = [0u8; 4096];
    // SAFETY: getcwd writes at most buf.len() bytes into buf.
    let r = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    // A path too long for the buffer is still a path: only an answer that
    // does not start with '/' means "unreachable".
    r < 0 || buf[0] == b'/'
}

/// Mark every fd from `first` up close-on-exec (close_range with
/// CLOSE_RANGE_CLOEXEC), falling back to walking /proc/self/fd.
pub fn cloexec_from(first: RawFd) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes fd flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return;
    }
    for fd in first..4096 {
        // A number that is not an open fd just fails.
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}

pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    fcntl(fd, FcntlArg::F_SETFD(flags))?;
    Ok(())
}

/// A background helper's setup (the rootless holder, the bypass broker),
/// best effort: a session of its own (a terminal's ^C is not for it), `/`
/// as its directory (it keeps no filesystem of the caller's busy), stdio
/// on /dev/null and no descriptor from `first_closed` up (a pipe kept open
/// would keep a shell script waiting for rrun's output), an empty signal
/// mask, and `name` for ps.
pub fn become_helper(name: &std::ffi::CStr, first_closed: u32) {
    let _ = nix::unistd::setsid();
    if let Ok(null) = open(std::path::Path::new("/dev/null"), libc::O_RDWR) {
        for fd in 0..3 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
    // SAFETY: close_range closes fds; the caller uses none from
    // `first_closed` up again.
    unsafe { libc::syscall(libc::SYS_close_range, first_closed, u32::MAX, 0u32) };
    let _ = nix::unistd::chdir("/");
    let _ = nix::sys::prctl::set_name(name);
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
}

/// A close-on-exec SOCK_SEQPACKET pair (each message arrives whole).
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: socketpair fills fds with two new descriptors.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both fds are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let r = cvt_l(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: r is a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Send `sig` to the process `pidfd` names (which cannot be a reused pid).
pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: a pidfd, a signal number, a null siginfo (the kernel fills it
    // as kill(2) would) and no flags.
    cvt_l(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// The start time of a process (field 22 of /proc/PID/stat, in clock ticks
/// since boot): with the pid, it names one process for good, where a pid
/// alone may be reused.
pub fn start_time(pid: libc::pid_t) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The pid namespace process `pid` is in, as the kernel names it (device
/// and inode of /proc/PID/ns/pid); None when it cannot be read (gone, or
/// another user's).
pub fn pid_ns(pid: libc::pid_t) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Whether `pid` is still the process that started at `start`, and not a
/// zombie (a killed process keeps its /proc entry until it is reaped).
pub fn alive(pid: libc::pid_t, start: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(rest) = s.rfind(')').map(|i| &s[i + 1..]) else {
        return false;
    };
    let mut f = rest.split_whitespace();
    let state = f.next().unwrap_or("X");
    state != "Z" && state != "X" && f.nth(18).and_then(|t| t.parse().ok()) == Some(start)
}

/// 64 random hex digits, from the kernel's CSPRNG.
pub fn random_hex64() -> io::Result<String> {
    let mut buf = [0u8; 32];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: writes at most buf.len()-got bytes into buf[got..].
        let r = unsafe {
            libc::getrandom(
                buf[got..].as_mut_ptr() as *mut libc::c_void,
                buf.len() - got,
                0,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        got += r as usize;
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Write all of `buf` to a raw fd, retrying on EINTR.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is valid for buf.len() bytes.
        let r = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[r as usize..];
    }
    Ok(())
}

/// SIGKILL ourselves, the way a crash would: used by RRUN_TEST_CRASH_AT.
pub fn kill_self() -> ! {
    let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::SIGKILL);
    // SAFETY: not reached (SIGKILL cannot be caught); _exit runs no handler.
    unsafe { libc::_exit(137) }
}

/// The kernel's errno name and text for messages, e.g. "permission denied".
pub fn errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        // SAFETY: strerror returns a pointer to a static or thread-local
        // NUL-terminated string.
        Some(n) => unsafe { CStr::from_ptr(libc::strerror(n)) }
            .to_string_lossy()
            .to_lowercase(),
        None => e.to_string(),
    }
}

/// The highest capability number the running kernel knows.
pub fn cap_last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

// Socket addresses between std and the kernel, shared by the port
// holder and the forwarder.

pub fn to_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in; we write one whole value.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in, sin) };
            (
                ss,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (
                ss,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

pub fn from_sockaddr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

pub fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    let ss: SockaddrStorage = nix::sys::socket::getsockname(fd)?;
    if let Some(a) = ss.as_sockaddr_in() {
        Ok(SocketAddr::V4(SocketAddrV4::from(*a)))
    } else if let Some(a) = ss.as_sockaddr_in6() {
        Ok(SocketAddr::V6(SocketAddrV6::from(*a)))
    } else {
        Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT))
    }
}

// ---------------------------------------------------------------- socket helpers

/// A sealed, close-on-exec memfd holding a copy of the running binary:
/// what --init and the rootless holder run from, so that neither keeps the
/// installed binary busy nor leads back to it through /proc/PID/exe.
pub fn sealed_self() -> io::Result<OwnedFd> {
    let memfd = memfd_create(
        c"rrun-init",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )?;
    let mut src = std::fs::File::open("/proc/self/exe")?;
    let mut dst = std::fs::File::from(memfd.try_clone()?);
    io::copy(&mut src, &mut dst)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(memfd.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    Ok(memfd)
}
