//! The container process, from clone to execve: waits for the monitor's
//! go, sets up the namespaces it was cloned into (loopback, hostname,
//! filesystem), its stdio, identity and capabilities, then execs the
//! command (or the init). Every failure is sent to the monitor over the
//! sync socket as one message and ends the process; nothing here returns.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, stat};
use nix::unistd::{
    Gid, Uid, chdir, close, dup2, setgroups, sethostname, setresgid, setresuid, setsid,
};

use super::proto::{self, Msg};
use crate::crash;
use crate::mount::{self, MountPlan};
use crate::sys;

/// The container's standard streams.
pub enum Stdio {
    /// The caller's stdout and stderr; stdin too with -i, else /dev/null.
    Inherit { interactive: bool },
    /// A pty from the container's own devpts, of this size; the master goes
    /// to the monitor.
    Tty(libc::winsize),
    /// Pipes to the monitor (-d); stdin is /dev/null unless given.
    Pipes {
        stdin: Option<RawFd>,
        stdout: RawFd,
        stderr: RawFd,
    },
}

/// What the container process needs, prepared by the monitor before the
/// clone (no allocation-heavy work or file reads happen after it that the
/// monitor could have done).
pub struct ChildConfig {
    pub mounts: MountPlan,
    pub hostname: String,
    /// --domainname: set when not empty (else the inherited one stays).
    pub domainname: String,
    /// A new network namespace of its own: bring its loopback up.
    pub own_netns: bool,
    /// --net=container:NAME: the network namespace to join first.
    pub join_netns: Option<RawFd>,
    pub stdio: Stdio,
    pub workdir: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub caps: u64,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    /// Where PATH lookups happen (the container's PATH).
    pub path: OsString,
    /// A sealed memfd copy of rrun to run as the init, with --init.
    pub init_fd: Option<RawFd>,
    /// The seccomp programs to install last (none: unconfined).
    pub seccomp: Vec<crate::seccomp::BpfProgram>,
    /// The socket bypass: the broker's socket and the filter whose
    /// listener goes to it.
    pub bypass: Option<(RawFd, crate::seccomp::BpfProgram)>,
    /// --ulimit: set before the identity change, while rrun may still
    /// raise a hard limit (as root, with CAP_SYS_RESOURCE).
    pub ulimits: Vec<crate::ulimit::Ulimit>,
    /// The `tasks` files of its v1 cgroups (limits, and devices where v1),
    /// which it joins first, before anything of the container runs.
    pub cgroup_tasks: Vec<RawFd>,
}

fn fail(sock: RawFd, code: i32, msg: String) -> ! {
    proto::send(sock, &Msg::Error { code, msg });
    // SAFETY: ending the child without running any of the parent's exit
    // handlers or destructors.
    unsafe { libc::_exit(code) }
}

fn io_fail(sock: RawFd, what: &str, e: io::Error) -> ! {
    fail(sock, 125, format!("{what}: {}", sys::errno_text(&e)))
}

/// Bring the loopback interface of a new network namespace up.
fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain socket and SIOC[GS]IFFLAGS ioctls on a zeroed ifreq
    // whose name we fill with "lo".
    unsafe {
        let s = sys::cvt(libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        let r = (|| {
            sys::cvt(libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr))?;
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            sys::cvt(libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr))
        })();
        libc::close(s);
        r.map(|_| ())
    }
}

/// Open a pty pair on the container's own devpts, make it our controlling
/// terminal and stdio, and hand the master to the monitor.
fn setup_tty(sock: RawFd, ws: &libc::winsize) -> io::Result<()> {
    // SAFETY: standard pty calls on fds we own; TIOCGPTPEER opens the peer
    // of the master by fd, never by a path in the container.
    unsafe {
        let master = sys::cvt(libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        ))?;
        let unlock: libc::c_int = 0;
        sys::cvt(libc::ioctl(master, libc::TIOCSPTLCK, &unlock))?;
        const TIOCGPTPEER: libc::c_ulong = 0x5441;
        let slave = sys::cvt(libc::ioctl(
            master,
            TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY,
        ))?;
        sys::cvt(libc::ioctl(slave, libc::TIOCSWINSZ, ws))?;
        sys::cvt(libc::setsid())?;
        sys::cvt(libc::ioctl(slave, libc::TIOCSCTTY, 0))?;
        for fd in 0..3 {
            sys::cvt(libc::dup2(slave, fd))?;
        }
        if slave > 2 {
            libc::close(slave);
        }
        proto::send_fd(sock, master)?;
        libc::close(master);
    }
    Ok(())
}

pub fn setup_stdio(sock: RawFd, stdio: &Stdio) -> io::Result<()> {
    match stdio {
        Stdio::Tty(ws) => setup_tty(sock, ws),
        other => {
            // A session of its own: the container cannot reach the caller's
            // terminal as its controlling one (TIOCSTI).
            let _ = setsid();
            let null = || open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty());
            match other {
                Stdio::Inherit { interactive: false } => {
                    let n = null()?;
                    dup2(n, 0)?;
                    let _ = close(n);
                }
                Stdio::Pipes {
                    stdin,
                    stdout,
                    stderr,
                } => {
                    let input = match stdin {
                        Some(fd) => *fd,
                        None => null()?,
                    };
                    dup2(input, 0)?;
                    dup2(*stdout, 1)?;
                    dup2(*stderr, 2)?;
                }
                _ => {}
            }
            Ok(())
        }
    }
}

/// Set the container's --ulimit values (shared with exec). On failure:
/// which one, and why.
pub fn set_rlimits(limits: &[crate::ulimit::Ulimit]) -> Result<(), String> {
    for u in limits {
        let Some(r) = u.rlimit() else { continue };
        let lim = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        // SAFETY: setrlimit on ourselves with a valid rlimit.
        if unsafe { libc::setrlimit(r.resource, &lim) } != 0 {
            let e = io::Error::last_os_error();
            let why = match e.raw_os_error() {
                Some(libc::EPERM) => format!(
                    "{}: raising a hard limit needs CAP_SYS_RESOURCE (never held rootless)",
                    sys::errno_text(&e)
                ),
                _ => sys::errno_text(&e),
            };
            return Err(format!(
                "setting --ulimit {}={}:{}: {why}",
                u.name, u.soft, u.hard
            ));
        }
    }
    Ok(())
}

/// Drop to the container's user and capabilities: bounding set, groups,
/// ids, then the effective set; no_new_privs last. Shared with exec. The
/// sets are `caps`' hash sets: this runs in a child forked from a
/// single-threaded rrun, where allocating is safe.
pub fn set_identity(uid: u32, gid: u32, groups: &[u32], caps: u64) -> io::Result<()> {
    use caps::CapSet;
    let caps_err = |e: caps::errors::CapsError| io::Error::other(e.to_string());
    let kept = crate::spec::cap_set(caps);
    // Bounding set first: dropping needs CAP_SETPCAP, which setuid may take.
    // A capability this kernel does not know is simply absent.
    let last = sys::cap_last_cap();
    for cap in caps::all().difference(&kept) {
        if u32::from(cap.index()) <= last {
            caps::drop(None, CapSet::Bounding, *cap).map_err(caps_err)?;
        }
    }
    // One the kernel knows and the caps crate does not (yet): it cannot be
    // in `kept`, so it goes too, by number.
    let known = caps::all().iter().map(|c| u32::from(c.index())).max();
    for cap in known.map_or(0, |k| k + 1)..=last {
        // SAFETY: PR_CAPBSET_DROP with a capability number.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
        }
    }
    // Ignored as before: kernels without ambient sets refuse the call,
    // and then there is nothing to clear.
    let _ = caps::clear(None, CapSet::Ambient);
    let gids: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
    match setgroups(&gids) {
        // A single-id user namespace denies setgroups; there are no other
        // groups to set then anyway.
        Ok(()) | Err(Errno::EPERM) => {}
        Err(e) => return Err(e.into()),
    }
    let (gid, uid) = (Gid::from_raw(gid), Uid::from_raw(uid));
    setresgid(gid, gid, gid)?;
    setresuid(uid, uid, uid)?;
    // Root keeps the set; any other user starts with none in effect, as in
    // Docker. Inheritable empty (CVE-2022-24769), then effective before
    // permitted: the kernel wants effective within permitted at each step.
    let set = if uid.is_root() {
        kept
    } else {
        Default::default()
    };
    caps::clear(None, CapSet::Inheritable).map_err(caps_err)?;
    caps::set(None, CapSet::Effective, &set).map_err(caps_err)?;
    caps::set(None, CapSet::Permitted, &set).map_err(caps_err)?;
    prctl::set_no_new_privs()?;
    Ok(())
}

/// Every signal to its default disposition and unblocked: exec keeps
/// ignored signals ignored, and rrun ignores SIGPIPE (Rust's runtime) and,
/// as a monitor, SIGHUP — a container's shell could not trap them.
///
/// # Safety
/// Only signal-state syscalls on the calling process.
pub unsafe fn reset_signals() {
    // SAFETY: sigaction/sigprocmask with valid arguments; failures for
    // SIGKILL/SIGSTOP and unused numbers are harmless.
    unsafe {
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// The container process. `sock` is its end of the sync socket.
pub fn main(cfg: &ChildConfig, sock: RawFd) -> ! {
    let _ = prctl::set_pdeathsig(Signal::SIGKILL);
    // SAFETY: signal-state calls on ourselves only.
    unsafe { reset_signals() };
    // Until Go the monitor may open our /proc/PID/ns/net; rootless, it can
    // only while we are dumpable. Nothing else runs in our pid namespace
    // before Go.
    match proto::recv(sock) {
        Ok(Some(Msg::Go)) => {}
        // The monitor is gone or confused: nothing to report to.
        _ => {
            // SAFETY: ending the child at once.
            unsafe { libc::_exit(125) }
        }
    }
    // Until exec this process is rrun's image inside the container's pid
    // namespace: keep /proc/1/exe and ptrace out of reach from now on.
    let _ = prctl::set_dumpable(false);
    for fd in &cfg.cgroup_tasks {
        if let Err(e) = sys::write_all(*fd, b"0") {
            io_fail(sock, "joining the container's cgroups", e);
        }
    }
    crash::point("child-setup");
    if let Some(ns) = cfg.join_netns {
        // SAFETY: setns on a network-namespace fd the monitor opened.
        if unsafe { libc::setns(ns, libc::CLONE_NEWNET) } != 0 {
            io_fail(
                sock,
                "joining the other container's network",
                io::Error::last_os_error(),
            );
        }
    }
    if cfg.own_netns
        && let Err(e) = loopback_up()
    {
        io_fail(sock, "bringing up the loopback interface", e);
    }
    if let Err(e) = sethostname(&cfg.hostname) {
        io_fail(sock, "setting the hostname", e.into());
    }
    // SAFETY: setdomainname with a valid buffer and its length.
    if !cfg.domainname.is_empty()
        && unsafe {
            libc::setdomainname(
                cfg.domainname.as_ptr() as *const libc::c_char,
                cfg.domainname.len(),
            )
        } != 0
    {
        io_fail(sock, "setting the domain name", io::Error::last_os_error());
    }
    if let Err(e) = mount::setup(&cfg.mounts) {
        fail(sock, 125, e.to_string());
    }
    crash::point("child-mounted");

    if let Err(e) = setup_stdio(sock, &cfg.stdio) {
        io_fail(sock, "setting up the standard streams", e);
    }

    let wd = match sys::cstr(&cfg.workdir) {
        Ok(w) => w,
        Err(e) => io_fail(sock, "working directory", e),
    };
    if let Err(e) = chdir(wd.as_c_str()) {
        let e = io::Error::from(e);
        fail(
            sock,
            125,
            format!(
                "working directory {}: {}",
                cfg.workdir.display(),
                sys::errno_text(&e)
            ),
        );
    }
    if !sys::cwd_inside_root() {
        fail(
            sock,
            125,
            format!(
                "working directory {}: it leads out of the container's root filesystem",
                cfg.workdir.display()
            ),
        );
    }
    if let Err(msg) = set_rlimits(&cfg.ulimits) {
        fail(sock, 125, msg);
    }
    if let Err(e) = set_identity(cfg.uid, cfg.gid, &cfg.groups, cfg.caps) {
        io_fail(sock, "setting the user and capabilities", e);
    }
    // The credential change cleared the parent-death signal; set it again
    // and make sure the monitor did not die before it took effect.
    let _ = prctl::set_pdeathsig(Signal::SIGKILL);
    if proto::peer_gone(sock) {
        // SAFETY: ending the child at once.
        unsafe { libc::_exit(125) }
    }
    crash::point("child-before-exec");

    // Only 0-2 reach the command: everything else closes on exec.
    sys::cloexec_from(3);
    // Without it (an old kernel, the broker gone), connections go through
    // the container's network as they would have.
    if let Some((sock, prog)) = &cfg.bypass
        && let Ok(l) = crate::seccomp::install_listener(prog)
    {
        let _ = proto::send_fd(*sock, std::os::fd::AsRawFd::as_raw_fd(&l));
    }
    // Last: nothing after this may need a call the filter denies.
    if let Err(e) = crate::seccomp::install(&cfg.seccomp) {
        fail(sock, 125, e.to_string());
    }
    match cfg.init_fd {
        Some(init) => exec_init(cfg, sock, init),
        None => {
            proto::send(sock, &Msg::Exec);
            exec_command(&cfg.argv, &cfg.env, &cfg.path, sock)
        }
    }
}

fn exec_init(cfg: &ChildConfig, sock: RawFd, init: RawFd) -> ! {
    // The init inherits the socket to report the command's exec errors.
    if let Err(e) = sys::set_cloexec(sock, false) {
        io_fail(sock, "passing the sync socket to the init", e);
    }
    // Neither a number nor the container's PATH (validated: no NUL) can
    // hold a NUL byte.
    let mut argv: Vec<CString> = vec![
        c"rrun-init".into(),
        CString::new(sock.to_string()).unwrap_or_default(),
        CString::new(cfg.path.as_bytes()).unwrap_or_default(),
    ];
    argv.extend(cfg.argv.iter().cloned());
    let argvp = ptrs(&argv);
    let envp = ptrs(&cfg.env);
    proto::send(sock, &Msg::Exec);
    // SAFETY: argv/envp are NULL-terminated arrays of valid C strings that
    // outlive the call; AT_EMPTY_PATH execs the memfd itself.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            init,
            c"".as_ptr(),
            argvp.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    io_fail(sock, "starting the init", io::Error::last_os_error())
}

fn ptrs(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Find the program as Go's exec.LookPath does and exec it; report the
/// failure with Docker's words and exit codes (127 not found, 126 not
/// executable). Shared by the plain container process and the init's child.
pub fn exec_command(argv: &[CString], env: &[CString], path: &OsStr, sock: RawFd) -> ! {
    let Some(prog) = argv.first() else {
        fail(sock, 125, "no command given".into())
    };
    // Bytes, not text: a name that is not UTF-8 is looked up as it is.
    let name = OsStr::from_bytes(prog.as_bytes());
    let argvp = ptrs(argv);
    let envp = ptrs(env);
    let try_exec = |p: &CString| -> io::Error {
        // SAFETY: valid NULL-terminated arrays of C strings.
        unsafe { libc::execve(p.as_ptr(), argvp.as_ptr(), envp.as_ptr()) };
        io::Error::last_os_error()
    };
    if name.as_bytes().contains(&b'/') {
        let e = try_exec(prog);
        let (code, why) = match e.raw_os_error() {
            Some(libc::ENOENT) => (
                127,
                format!("stat {}: no such file or directory", name.display()),
            ),
            Some(libc::ENOTDIR) => (127, format!("stat {}: not a directory", name.display())),
            _ => (126, sys::errno_text(&e)),
        };
        fail(sock, code, format!("exec: {name:?}: {why}"));
    }
    let mut denied = None;
    for dir in path.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let full = crate::bytes::join(OsStr::from_bytes(dir), b'/', name);
        let Ok(full) = CString::new(full.into_vec()) else {
            continue;
        };
        let e = try_exec(&full);
        match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {}
            Some(libc::EACCES) | Some(libc::EPERM) => {
                let is_file = stat(full.as_c_str())
                    .is_ok_and(|st| (st.st_mode & libc::S_IFMT) == libc::S_IFREG);
                if is_file && denied.is_none() {
                    denied = Some(e);
                }
            }
            _ => fail(
                sock,
                126,
                format!("exec: {name:?}: {}", sys::errno_text(&e)),
            ),
        }
    }
    match denied {
        Some(e) => fail(
            sock,
            126,
            format!("exec: {name:?}: {}", sys::errno_text(&e)),
        ),
        None => fail(
            sock,
            127,
            format!("exec: {name:?}: executable file not found in $PATH"),
        ),
    }
}
