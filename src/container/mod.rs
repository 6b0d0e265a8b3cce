//! A container's life in the foreground: the monitor (this process) makes
//! the state directory entry, joins the user's namespace when rootless,
//! clones the container process into new namespaces, relays signals and
//! the terminal, and tears everything down when the command exits.

pub mod child;
pub mod init;
pub mod proto;
mod tty;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use crate::crash;
use crate::mount::{Bind, MountPlan};
use crate::ns::{self, NsError};
use crate::plan::{NetMode, RunPlan};
use crate::state::{self, ContainerDir, ContainerState, NewContainer, State, StateError};
use crate::sys;
use child::ChildConfig;
use proto::Msg;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Ns(#[from] NsError),
    #[error(
        "user {0} is not mapped in your user namespace (uid map: {1}); add a range for your user to /etc/subuid and /etc/subgid (and install newuidmap from the uidmap package), then stop the holder (rrun's holder.json) so that it is made again"
    )]
    Unmapped(String, String),
    #[error("copying rrun for --init: {0}")]
    InitCopy(#[source] io::Error),
    #[error("{what}: {source}")]
    Setup {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// The container process reported a failure before or at exec.
    #[error("{msg}")]
    Start { code: i32, msg: String },
    #[error("the container process died while starting ({0})")]
    Died(String),
}

impl RunError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Start { code, .. } => *code,
            _ => 125,
        }
    }
}

fn setup(what: &'static str) -> impl FnOnce(io::Error) -> RunError {
    move |source| RunError::Setup { what, source }
}

fn describe(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit status {}", libc::WEXITSTATUS(status))
    }
}

fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        125
    }
}

/// The signals a foreground run passes on to the container.
const FORWARDED: &[libc::c_int] = &[
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

fn signal_set(sigs: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: building a signal set in a zeroed, then emptied, value.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn cstrings(v: impl IntoIterator<Item = String>) -> Result<Vec<CString>, RunError> {
    v.into_iter()
        .map(|s| {
            CString::new(s).map_err(|_| {
                setup("argument with a NUL byte")(io::Error::from_raw_os_error(libc::EINVAL))
            })
        })
        .collect()
}

fn map_text(m: &ns::IdMap) -> String {
    m.iter()
        .map(|(a, b, c)| format!("{a} {b} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Run a container in the foreground and return its exit code.
pub fn run(plan: RunPlan) -> Result<i32, RunError> {
    let st = State::open()?;
    st.sweep();
    // SAFETY: geteuid cannot fail.
    let rootless = unsafe { libc::geteuid() } != 0;

    let mut tty_gid = true;
    if rootless {
        let userns = ns::join_user_ns(&st)?;
        let u = &plan.user;
        if !ns::id_mapped(&userns.uid_map, u.uid) {
            return Err(RunError::Unmapped(
                u.uid.to_string(),
                map_text(&userns.uid_map),
            ));
        }
        if let Some(g) = std::iter::once(&u.gid)
            .chain(&u.groups)
            .find(|g| !ns::id_mapped(&userns.gid_map, **g))
        {
            return Err(RunError::Unmapped(
                format!("group {g}"),
                map_text(&userns.gid_map),
            ));
        }
        tty_gid = ns::id_mapped(&userns.gid_map, 5);
    }

    let me = std::process::id() as libc::pid_t;
    let cstate = ContainerState {
        id: plan.id.clone(),
        monitor_pid: me,
        monitor_start: sys::start_time(me).unwrap_or(0),
        pid: 0,
        rootfs: plan.rootfs.display().to_string(),
        created: state::now_rfc3339(),
    };
    let dir = ContainerDir::create(
        &st,
        &NewContainer {
            id: &plan.id,
            state: &cstate,
            hosts: &plan.hosts_file,
            hostname: &plan.hostname_file,
            resolv: &plan.resolv_file,
        },
    )?;
    crash::point("state-created");
    let code = run_in(&plan, &dir, cstate, rootless, tty_gid);
    crash::point("teardown");
    drop(dir);
    code
}

fn run_in(
    plan: &RunPlan,
    dir: &ContainerDir,
    mut cstate: ContainerState,
    rootless: bool,
    tty_gid: bool,
) -> Result<i32, RunError> {
    let own_netns = plan.net != NetMode::Host;
    let init_fd = if plan.init {
        Some(init::sealed_self().map_err(RunError::InitCopy)?)
    } else {
        None
    };
    let stdin_tty = tty::is_tty(0);
    let winsize = if plan.tty {
        Some(tty::winsize().unwrap_or(libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }))
    } else {
        None
    };
    let path = plan
        .env
        .iter()
        .find(|e| e.key == "PATH")
        .map(|e| e.value.clone())
        .unwrap_or_default();
    let cfg = ChildConfig {
        mounts: MountPlan {
            rootfs: plan.rootfs.clone(),
            readonly: plan.read_only,
            rootless,
            own_netns,
            tty_gid,
            etc: ["hostname", "hosts", "resolv.conf"]
                .iter()
                .map(|f| (format!("/etc/{f}"), dir.file(f)))
                .collect(),
            binds: plan
                .volumes
                .iter()
                .map(|(v, kind)| Bind {
                    src: PathBuf::from(&v.src),
                    dst: v.dst.clone(),
                    readonly: v.readonly,
                    kind: *kind,
                })
                .collect(),
            tmpfs: plan.tmpfs.clone(),
            workdir: (plan.workdir != "/").then(|| plan.workdir.clone()),
        },
        hostname: plan.hostname.clone(),
        own_netns,
        tty: winsize,
        interactive: plan.interactive,
        workdir: plan.workdir.clone(),
        uid: plan.user.uid,
        gid: plan.user.gid,
        groups: plan.user.groups.clone(),
        caps: plan.caps,
        argv: cstrings(plan.argv.iter().cloned())?,
        env: cstrings(plan.env.iter().map(|e| e.to_string()))?,
        path,
        init_fd: init_fd.as_ref().map(|f| f.as_raw_fd()),
    };

    // Signals wait in a signalfd from here on; the child unblocks them.
    let mut fwd = FORWARDED.to_vec();
    fwd.push(libc::SIGCHLD);
    let mask = signal_set(&fwd);
    // SAFETY: blocking signals for this single-threaded process.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &mask, std::ptr::null_mut()) };
    // SAFETY: a new signalfd for the blocked set.
    let sfd =
        sys::cvt(unsafe { libc::signalfd(-1, &mask, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })
            .map_err(setup("creating a signalfd"))?;
    // SAFETY: sfd is new and ours.
    let sfd = unsafe { OwnedFd::from_raw_fd(sfd) };

    let (mine, theirs) = proto::pair().map_err(setup("creating the sync socket"))?;
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if own_netns {
        flags |= libc::CLONE_NEWNET;
    }
    // SAFETY: a fork-like clone (no new stack, SIGCHLD on exit) in a
    // single-threaded process; the child runs `child::main`, which only
    // makes syscalls on data prepared above and never returns.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        let e = io::Error::last_os_error();
        return Err(RunError::Setup {
            what: "creating the container's namespaces",
            source: e,
        });
    }
    if pid == 0 {
        drop(mine);
        child::main(&cfg, theirs.as_raw_fd());
    }
    let pid = pid as libc::pid_t;
    drop(theirs);
    drop(init_fd);
    let pidfd = sys::pidfd_open(pid);
    crash::point("cloned");
    cstate.pid = pid;
    let reap = |pid| {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        status
    };
    let kill_reap = |pid| {
        // SAFETY: killing our own child, which has not been reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        reap(pid)
    };
    if let Err(e) = dir.write_state(&cstate) {
        kill_reap(pid);
        return Err(setup("recording the container's state")(e));
    }
    proto::send(mine.as_raw_fd(), &Msg::Go);

    let mut master = None;
    let mut exec_seen = false;
    loop {
        match proto::recv(mine.as_raw_fd()) {
            Ok(Some(Msg::Tty(fd))) => master = Some(fd),
            Ok(Some(Msg::Exec)) => exec_seen = true,
            Ok(Some(Msg::Error { code, msg })) => {
                reap(pid);
                return Err(RunError::Start { code, msg });
            }
            Ok(Some(Msg::Go)) => {}
            Ok(None) => break,
            Err(e) => {
                kill_reap(pid);
                return Err(setup("waiting for the container to start")(e));
            }
        }
    }
    if !exec_seen {
        let status = reap(pid);
        return Err(RunError::Died(describe(status)));
    }
    crash::point("started");

    let pidfd = pidfd.map_err(setup("watching the container process"))?;
    let _raw = match (&master, plan.interactive && stdin_tty) {
        (Some(_), true) => tty::RawMode::enter(0),
        _ => None,
    };
    let status = tty::relay(tty::Relay {
        pid,
        pidfd: &pidfd,
        sfd: &sfd,
        master: master.as_ref(),
        stdin: plan.interactive,
        forwarded: FORWARDED,
    });
    drop(_raw);
    drop(mine);
    crash::point("exited");
    Ok(exit_code(status))
}
