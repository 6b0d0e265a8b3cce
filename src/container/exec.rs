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
use crate::state::State;
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

pub fn exec(a: &ExecArgs) -> Result<i32, RunError> {
    let st = State::open()?;
    let r = st
        .find(&a.container)
        .map_err(|e| failed(e.exit_code(), e.to_string()))?;
    let not_running = || failed(1, format!("Container {} is not running", r.id()));
    if !r.running() {
        return Err(not_running());
    }
    let (pid, pid_start) = (r.state.pid, r.state.pid_start);
    let c = &r.config;

    // Open every namespace first, then check the process is still the
    // container's: an fd pins the namespace whatever happens to the pid.
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
    // Its device cgroup, opened while the host's /sys is still in view.
    let cgroup = if r.state.device_cgroup.is_empty() {
        None
    } else {
        Some(
            crate::cgroup::open_procs(&r.state.device_cgroup).map_err(|e| {
                failed(
                    125,
                    format!(
                        "joining the container's device cgroup {}: {}",
                        r.state.device_cgroup,
                        sys::errno_text(&e)
                    ),
                )
            })?,
        )
    };

    let (uid, gid, groups) = match &a.user {
        Some(u) => {
            let passwd = spec::parse_passwd(&crate::plan::read_in_rootfs(&root, "/etc/passwd"));
            let group = spec::parse_group(&crate::plan::read_in_rootfs(&root, "/etc/group"));
            let mut user =
                spec::resolve_user(u, &passwd, &group).map_err(|e| failed(125, e.to_string()))?;
            // As Docker: the container's --group-add holds for exec -u too.
            spec::add_groups(&mut user, &c.group_add, &group)
                .map_err(|e| failed(125, e.to_string()))?;
            (user.uid, user.gid, user.groups)
        }
        None => (c.uid, c.gid, c.groups.clone()),
    };
    let mut env: Vec<spec::EnvVar> = c
        .env
        .iter()
        .filter_map(|e| spec::EnvVar::from_os(e))
        .collect();
    if a.tty && !env.iter().any(|e| e.key == "TERM") {
        env.push(spec::EnvVar {
            key: "TERM".into(),
            value: "xterm".into(),
        });
    }
    let lookup = |k: &str| std::env::var_os(k);
    for e in &a.env {
        if let Some(v) = spec::parse_env(e, &lookup).map_err(|e| failed(125, e.to_string()))? {
            spec::merge_env(&mut env, [v]);
        }
    }
    let workdir = a.workdir.clone().unwrap_or_else(|| c.workdir.clone());
    let path = env
        .iter()
        .find(|e| e.key == "PATH")
        .map(|e| e.value.clone())
        .unwrap_or_default();
    let to_c = |v: Vec<OsString>| -> Result<Vec<CString>, RunError> {
        v.into_iter()
            .map(|s| {
                CString::new(s.into_vec())
                    .map_err(|_| failed(125, "an argument contains a NUL byte".into()))
            })
            .collect()
    };
    let argv = to_c(a.command.clone())?;
    let envp = to_c(env.iter().map(|e| e.to_os()).collect())?;
    let wd = CString::new(workdir.clone().into_vec())
        .map_err(|_| failed(125, "bad working directory".into()))?;
    let workdir = std::path::PathBuf::from(workdir);
    let workdir = workdir.display();

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
    let stdio = if a.tty {
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
    };
    // The container's filter, built before the fork.
    let seccomp = if c.seccomp {
        crate::seccomp::default_programs(c.caps).map_err(|e| failed(125, e.to_string()))?
    } else {
        Vec::new()
    };
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
        let sock = theirs.as_raw_fd();
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
        // First: the command opens no device the container could not.
        if let Some(procs) = &cgroup
            && let Err(e) = crate::cgroup::join(procs)
        {
            die(
                125,
                format!(
                    "joining the container's device cgroup: {}",
                    sys::errno_text(&e)
                ),
            );
        }
        if let Err(e) = child::setup_stdio(sock, &stdio) {
            die(
                125,
                format!("setting up the standard streams: {}", sys::errno_text(&e)),
            );
        }
        // SAFETY: chdir with a valid C string.
        if unsafe { libc::chdir(wd.as_ptr()) } != 0 {
            let e = std::io::Error::last_os_error();
            die(
                126,
                format!("working directory {workdir}: {}", sys::errno_text(&e)),
            );
        }
        if !sys::cwd_inside_root() {
            die(
                126,
                format!(
                    "working directory {workdir}: it leads out of the container's root filesystem"
                ),
            );
        }
        // The container's --ulimit values, as Docker's exec gets them.
        if let Err(msg) = child::set_rlimits(&c.ulimits) {
            die(125, msg);
        }
        if let Err(e) = child::set_identity(uid, gid, &groups, c.caps) {
            die(
                125,
                format!("setting the user and capabilities: {}", sys::errno_text(&e)),
            );
        }
        // SAFETY: prctl on ourselves.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        crash::point("exec-before-exec");
        sys::cloexec_from(3);
        if let Err(e) = crate::seccomp::install(&seccomp) {
            die(125, e.to_string());
        }
        proto::send(sock, &proto::Msg::Exec);
        child::exec_command(&argv, &envp, &path, sock);
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
