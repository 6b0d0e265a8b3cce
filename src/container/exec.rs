//! `rrun exec`: run another command in a running container. Joins every
//! namespace of the container's process (its user namespace too when
//! rootless), then forks so that the command is inside its pid namespace,
//! and gives it the container's identity and capability limits. The forked
//! child is not dumpable until it execs, like every rrun process that
//! enters a container's pid namespace.

use std::ffi::{CString, OsString};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;

use super::child::{self, Stdio};
use super::{RunError, proto, tty};
use crate::cli::ExecArgs;
use crate::crash;
use crate::spec;
use crate::state::{Record, State};
use crate::sys;

/// The namespaces to join, in runc's order: the user namespace first, so
/// that the others can be joined with its capabilities; mount last.
const NAMESPACES: &[(&str, libc::c_int)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("mnt", libc::CLONE_NEWNS),
];

fn failed(code: i32, msg: String) -> RunError {
    RunError::Start { code, msg }
}

/// What the command runs as and with: the container's spec (its user,
/// groups, capabilities, filter, limits, working directory), the
/// environment it started with, and exec's own flags over them.
struct Identity {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    caps: u64,
    seccomp: bool,
    ulimits: Vec<crate::ulimit::Ulimit>,
    env: Vec<spec::EnvVar>,
    workdir: OsString,
}

/// The container's part of [`Identity`]: from its spec, or (a record made
/// before specs were kept) its config.json.
fn container_identity(r: &Record) -> (Identity, Vec<String>) {
    let c = &r.config;
    let env = c
        .env
        .iter()
        .filter_map(|e| spec::EnvVar::from_os(e))
        .collect();
    match super::read_spec(r) {
        Ok(p) => (
            Identity {
                uid: p.user.uid,
                gid: p.user.gid,
                groups: p.user.groups,
                caps: p.caps,
                seccomp: p.seccomp,
                ulimits: p.ulimits,
                env,
                workdir: p.workdir.into_os_string(),
            },
            p.group_add,
        ),
        Err(_) => (
            Identity {
                uid: c.uid,
                gid: c.gid,
                groups: c.groups.clone(),
                caps: c.caps,
                seccomp: c.seccomp,
                ulimits: c.ulimits.clone(),
                env,
                workdir: c.workdir.clone(),
            },
            c.group_add.clone(),
        ),
    }
}

/// The identity the command gets: the container's, with exec's `-u`
/// (resolved in the container's own /etc/passwd and /etc/group), `-e`,
/// `-w` and `-t` over it.
fn identity(a: &ExecArgs, r: &Record, root: &OwnedFd) -> Result<Identity, RunError> {
    let (mut id, group_add) = container_identity(r);
    if let Some(u) = &a.user {
        let passwd = spec::parse_passwd(&crate::plan::read_in_rootfs(root, "/etc/passwd"));
        let group = spec::parse_group(&crate::plan::read_in_rootfs(root, "/etc/group"));
        let mut user =
            spec::resolve_user(u, &passwd, &group).map_err(|e| failed(125, e.to_string()))?;
        // As Docker: the container's --group-add holds for exec -u too.
        spec::add_groups(&mut user, &group_add, &group).map_err(|e| failed(125, e.to_string()))?;
        (id.uid, id.gid, id.groups) = (user.uid, user.gid, user.groups);
    }
    if a.tty && !id.env.iter().any(|e| e.key == "TERM") {
        id.env.push(spec::EnvVar {
            key: "TERM".into(),
            value: "xterm".into(),
        });
    }
    let lookup = |k: &str| std::env::var_os(k);
    for e in &a.env {
        if let Some(v) = spec::parse_env(e, &lookup).map_err(|e| failed(125, e.to_string()))? {
            spec::merge_env(&mut id.env, [v]);
        }
    }
    if let Some(w) = &a.workdir {
        id.workdir = w.clone();
    }
    Ok(id)
}

/// The container process's namespaces (those that differ from ours) and
/// its root, opened first and then checked to be still the container's:
/// an fd pins a namespace whatever happens to the pid.
fn open_namespaces(r: &Record) -> Result<(Vec<(libc::c_int, OwnedFd)>, OwnedFd), RunError> {
    let not_running = || failed(1, format!("Container {} is not running", r.id()));
    let (pid, pid_start) = (r.state.pid, r.state.pid_start);
    let mut fds: Vec<(libc::c_int, OwnedFd)> = Vec::new();
    for (name, flag) in NAMESPACES {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let same = match (
            fs::metadata(&theirs),
            fs::metadata(format!("/proc/self/ns/{name}")),
        ) {
            (Ok(t), Ok(m)) => t.ino() == m.ino() && t.dev() == m.dev(),
            _ => false,
        };
        if same {
            continue;
        }
        let fd =
            sys::open(std::path::Path::new(&theirs), libc::O_RDONLY).map_err(|_| not_running())?;
        fds.push((*flag, fd));
    }
    let root = sys::open(
        std::path::Path::new(&format!("/proc/{pid}/root")),
        libc::O_PATH | libc::O_DIRECTORY,
    )
    .map_err(|_| not_running())?;
    if !sys::alive(pid, pid_start) {
        return Err(not_running());
    }
    Ok((fds, root))
}

/// The container's cgroups (its device cgroup and those of its limits),
/// opened while the host's /sys is still in view: the command joins them
/// all, so that its devices, memory, CPU time and processes count as the
/// container's.
fn cgroups(r: &Record) -> Result<Vec<OwnedFd>, RunError> {
    let mut paths: Vec<&str> = Vec::new();
    for p in std::iter::once(&r.state.device_cgroup).chain(&r.state.limit_cgroups) {
        if !p.is_empty() && !paths.contains(&p.as_str()) {
            paths.push(p);
        }
    }
    paths
        .into_iter()
        .map(|p| {
            crate::cgroup::open_procs(p).map_err(|e| {
                failed(
                    125,
                    format!(
                        "joining the container's cgroup {p}: {}",
                        sys::errno_text(&e)
                    ),
                )
            })
        })
        .collect()
}

fn cstrings(v: Vec<OsString>) -> Result<Vec<CString>, RunError> {
    v.into_iter()
        .map(|s| {
            CString::new(s.into_vec())
                .map_err(|_| failed(125, "an argument contains a NUL byte".into()))
        })
        .collect()
}

/// What the forked child needs, all of it made before the fork.
struct Command {
    id: Identity,
    argv: Vec<CString>,
    envp: Vec<CString>,
    path: OsString,
    wd: CString,
    stdio: Stdio,
    seccomp: Vec<crate::seccomp::BpfProgram>,
    cgroups: Vec<OwnedFd>,
}

pub fn exec(a: &ExecArgs) -> Result<i32, RunError> {
    let st = State::open()?;
    let r = st
        .find(&a.container)
        .map_err(|e| failed(e.exit_code(), e.to_string()))?;
    if !r.running() {
        return Err(failed(1, format!("Container {} is not running", r.id())));
    }
    let (fds, root) = open_namespaces(&r)?;
    let cgroups = cgroups(&r)?;
    let id = identity(a, &r, &root)?;
    let path = id
        .env
        .iter()
        .find(|e| e.key == "PATH")
        .map(|e| e.value.clone())
        .unwrap_or_default();
    let cmd = Command {
        argv: cstrings(a.command.clone())?,
        envp: cstrings(id.env.iter().map(|e| e.to_os()).collect())?,
        wd: CString::new(id.workdir.clone().into_vec())
            .map_err(|_| failed(125, "bad working directory".into()))?,
        path,
        stdio: if a.tty {
            Stdio::Tty(tty::winsize().unwrap_or(libc::winsize {
                ws_row: 24,
                ws_col: 80,
                ws_xpixel: 0,
                ws_ypixel: 0,
            }))
        } else {
            Stdio::Inherit {
                interactive: a.interactive,
            }
        },
        // The container's filter, built before the fork.
        seccomp: if id.seccomp {
            crate::seccomp::default_programs(id.caps).map_err(|e| failed(125, e.to_string()))?
        } else {
            Vec::new()
        },
        cgroups,
        id,
    };
    for (flag, fd) in &fds {
        // SAFETY: setns with a namespace fd we opened; single-threaded.
        if unsafe { libc::setns(fd.as_raw_fd(), *flag) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(failed(
                125,
                format!(
                    "joining the container's namespaces: {}",
                    sys::errno_text(&e)
                ),
            ));
        }
    }
    drop(fds);
    let sfd = super::signal_fd()?;
    let (mine, theirs) =
        proto::pair().map_err(|e| failed(125, format!("creating the sync socket: {e}")))?;
    // SAFETY: single-threaded; the child only makes syscalls and execs or
    // exits.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(failed(125, "fork failed".into()));
    }
    if child == 0 {
        drop(mine);
        command(&cmd, theirs.as_raw_fd());
    }
    drop(theirs);
    let pidfd =
        sys::pidfd_open(child).map_err(|e| failed(125, format!("watching the command: {e}")))?;
    let master = super::await_exec(&mine, child)?;
    let stdin_tty = tty::is_tty(0);
    let _raw = match (&master, a.interactive && stdin_tty) {
        (Some(_), true) => tty::RawMode::enter(0),
        _ => None,
    };
    let mut sink = tty::Terminal;
    let status = tty::relay(tty::Relay {
        pid: child,
        pidfd: &pidfd,
        sfd: &sfd,
        sources: master
            .iter()
            .map(|m| (tty::Source::Borrowed(m.as_raw_fd()), tty::Stream::Stdout))
            .collect(),
        master: master.as_ref().map(|m| m.as_raw_fd()),
        stdin: a.interactive,
        sink: &mut sink,
        forwarded: super::FORWARDED,
        aux: None,
    });
    Ok(super::exit_code(status))
}

/// The forked child, inside the container's namespaces: its device
/// cgroup, stdio, working directory, limits, identity and filter, then the
/// command. Reports a failure on `sock` and exits.
fn command(cmd: &Command, sock: std::os::fd::RawFd) -> ! {
    // SAFETY: process-attribute calls on ourselves.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        child::reset_signals();
    }
    let die = |code: i32, msg: String| -> ! {
        proto::send(sock, &proto::Msg::Error { code, msg });
        // SAFETY: ending the child.
        unsafe { libc::_exit(code) }
    };
    let workdir = std::path::PathBuf::from(&cmd.id.workdir);
    let workdir = workdir.display();
    // First: the command opens no device the container could not.
    for procs in &cmd.cgroups {
        if let Err(e) = crate::cgroup::join(procs) {
            die(
                125,
                format!("joining the container's cgroups: {}", sys::errno_text(&e)),
            );
        }
    }
    if let Err(e) = child::setup_stdio(sock, &cmd.stdio) {
        die(
            125,
            format!("setting up the standard streams: {}", sys::errno_text(&e)),
        );
    }
    // SAFETY: chdir with a valid C string.
    if unsafe { libc::chdir(cmd.wd.as_ptr()) } != 0 {
        let e = std::io::Error::last_os_error();
        die(
            126,
            format!("working directory {workdir}: {}", sys::errno_text(&e)),
        );
    }
    if !sys::cwd_inside_root() {
        die(
            126,
            format!("working directory {workdir}: it leads out of the container's root filesystem"),
        );
    }
    // The container's --ulimit values, as Docker's exec gets them.
    if let Err(msg) = child::set_rlimits(&cmd.id.ulimits) {
        die(125, msg);
    }
    let id = &cmd.id;
    if let Err(e) = child::set_identity(id.uid, id.gid, &id.groups, id.caps) {
        die(
            125,
            format!("setting the user and capabilities: {}", sys::errno_text(&e)),
        );
    }
    // SAFETY: prctl on ourselves.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    crash::point("exec-before-exec");
    sys::cloexec_from(3);
    if let Err(e) = crate::seccomp::install(&cmd.seccomp) {
        die(125, e.to_string());
    }
    proto::send(sock, &proto::Msg::Exec);
    child::exec_command(&cmd.argv, &cmd.envp, &cmd.path, sock);
}
