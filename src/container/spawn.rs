//! Making the container's process: its standard streams, the
//! configuration the child executes, its device cgroup, the clone, and
//! plugging it into its network before it is told to go. What is made is
//! returned (`Started`); until then a guard kills and reaps the child if a
//! step fails.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use super::child::{self, ChildConfig};
use super::proto::{self, Msg};
use super::{Ctx, Mode, RunError, await_exec, cstrings, network, reap, setup, signal_fd, tty};
use crate::crash;
use crate::mount::{Bind, DeviceBind, MountPlan};
use crate::plan::{NetMode, RunPlan};
use crate::state::{ContainerDir, RunState};
use crate::sys;

/// A container process that has exec'd its command.
pub(super) struct Started {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
    pub sfd: OwnedFd,
    pub master: Option<OwnedFd>,
    /// The read ends of the container's stdout and stderr (-d without -t).
    pub pipes: Option<(OwnedFd, OwnedFd)>,
    /// The write end of a detached -i container's stdin, held open.
    _stdin: Option<OwnedFd>,
    _sock: OwnedFd,
    /// The container's network namespace (bridge mode) and its mount
    /// namespace, held until its rules are removed; a restart joins the
    /// first.
    pub netns: Option<(OwnedFd, Option<OwnedFd>)>,
    /// A user-defined network's resolver sockets, made at plug-in.
    pub dns: Option<super::resolver::Sockets>,
    /// Its cgroups, removed when this drops (the container reaped); the
    /// OOM killer's count is read before.
    pub cgroups: crate::cgroup::Cgroups,
}

/// The container's stdio as the child gets it, and the monitor's ends.
struct Streams {
    child: child::Stdio,
    /// Output pipes: (read, write) of stdout and stderr.
    out: Option<((OwnedFd, OwnedFd), (OwnedFd, OwnedFd))>,
    /// A detached -i container's stdin pipe.
    input: Option<(OwnedFd, OwnedFd)>,
}

fn streams(plan: &RunPlan, mode: Mode) -> Result<Streams, RunError> {
    if plan.tty {
        let ws = match mode {
            Mode::Foreground => tty::winsize(),
            Mode::Detached => None,
        };
        let ws = ws.unwrap_or(libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        return Ok(Streams {
            child: child::Stdio::Tty(ws),
            out: None,
            input: None,
        });
    }
    if mode == Mode::Foreground && plan.rm {
        // Nothing of a --rm container's output is kept: it writes to the
        // caller's own stdout and stderr, at full speed.
        return Ok(Streams {
            child: child::Stdio::Inherit {
                interactive: plan.interactive,
            },
            out: None,
            input: None,
        });
    }
    // Output through the monitor, which logs it (and, in the foreground,
    // passes it on), as Docker's attached containers do.
    let (or, ow) = sys::pipe_cloexec().map_err(setup("creating the output pipes"))?;
    let (er, ew) = sys::pipe_cloexec().map_err(setup("creating the output pipes"))?;
    let input = match (mode, plan.interactive) {
        (Mode::Detached, true) => {
            Some(sys::pipe_cloexec().map_err(setup("creating the input pipe"))?)
        }
        _ => None,
    };
    let stdin = match (mode, plan.interactive) {
        (Mode::Detached, true) => input.as_ref().map(|(r, _)| r.as_raw_fd()),
        // The caller's own stdin.
        (Mode::Foreground, true) => Some(0),
        (_, false) => None,
    };
    Ok(Streams {
        child: child::Stdio::Pipes {
            stdin,
            stdout: ow.as_raw_fd(),
            stderr: ew.as_raw_fd(),
        },
        out: Some(((or, ow), (er, ew))),
        input,
    })
}

/// The filesystem the child sets up.
fn mounts(c: &Ctx, dir: &ContainerDir) -> MountPlan {
    let plan = c.plan;
    MountPlan {
        rootfs: plan.rootfs.clone(),
        readonly: plan.read_only,
        rootless: c.rootless,
        // Whether the container's network namespace is one it may mount
        // sysfs for (its own, or another container's).
        own_netns: plan.net != NetMode::Host,
        tty_gid: c.tty_gid,
        etc: ["hostname", "hosts", "resolv.conf"]
            .iter()
            .map(|f| {
                let from = match &c.files.shared_etc {
                    // --net=container: shares the other's files.
                    Some(d) if *f != "hostname" => d.join(f),
                    _ => dir.file(f),
                };
                (format!("/etc/{f}"), from)
            })
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
        workdir: (plan.workdir != Path::new("/")).then(|| plan.workdir.clone()),
        devices: plan
            .devices
            .iter()
            .map(|d| DeviceBind {
                src: PathBuf::from(&d.source),
                dst: d.spec.container.clone(),
            })
            .collect(),
        privileged: plan.privileged,
        host_nodes: plan.host_nodes.clone(),
        cgroups: Vec::new(),
    }
}

/// What the child executes, all of it prepared before the clone.
fn child_config(
    c: &Ctx,
    dir: &ContainerDir,
    stdio: child::Stdio,
    join_netns: Option<RawFd>,
    init_fd: Option<RawFd>,
) -> Result<ChildConfig, RunError> {
    let plan = c.plan;
    let env = &c.files.env;
    let path = env
        .iter()
        .find(|e| e.key == "PATH")
        .map(|e| e.value.clone())
        .unwrap_or_default();
    Ok(ChildConfig {
        mounts: mounts(c, dir),
        hostname: c.files.hostname.clone(),
        domainname: c.files.domainname.clone(),
        own_netns: plan.net != NetMode::Host && join_netns.is_none(),
        join_netns,
        stdio,
        workdir: plan.workdir.clone(),
        uid: plan.user.uid,
        gid: plan.user.gid,
        groups: plan.user.groups.clone(),
        caps: plan.caps,
        argv: cstrings(plan.argv.iter().cloned())?,
        env: cstrings(env.iter().map(|e| e.to_os()))?,
        path,
        init_fd,
        seccomp: if plan.seccomp {
            crate::seccomp::default_programs(plan.caps).map_err(|e| RunError::Start {
                code: 125,
                msg: e.to_string(),
            })?
        } else {
            Vec::new()
        },
        ulimits: plan.ulimits.clone(),
        cgroup_tasks: Vec::new(),
        bypass: match c.prep {
            network::Prep::Bridge(b) => match (&b.bypass, crate::seccomp::connect_notify_program())
            {
                (Some(br), Ok(prog)) => Some((br.fd(), prog)),
                _ => None,
            },
            _ => None,
        },
    })
}

/// A cloned child that has not exec'd yet: killed and reaped on drop
/// unless `release`d.
struct ChildGuard(Option<libc::pid_t>);

impl ChildGuard {
    fn release(mut self) -> libc::pid_t {
        self.0.take().unwrap_or(0)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            // SAFETY: killing our own child, which has not been reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            reap(pid);
        }
    }
}

/// Clone the container's process with `flags`, into the cgroup `cgroup`
/// (an open directory) where given; the child runs `child::main` and never
/// returns here.
fn clone_child(
    flags: libc::c_int,
    cgroup: Option<RawFd>,
    cfg: &ChildConfig,
    mine: OwnedFd,
    theirs: &OwnedFd,
) -> Result<(libc::pid_t, OwnedFd), RunError> {
    let pid = match cgroup {
        // Born in its device cgroup: no move, which would wait for an RCU
        // grace period.
        Some(cgroup) => {
            #[repr(C)]
            struct CloneArgs {
                flags: u64,
                pidfd: u64,
                child_tid: u64,
                parent_tid: u64,
                exit_signal: u64,
                stack: u64,
                stack_size: u64,
                tls: u64,
                set_tid: u64,
                set_tid_size: u64,
                cgroup: u64,
            }
            const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
            let args = CloneArgs {
                flags: flags as u64 | CLONE_INTO_CGROUP,
                pidfd: 0,
                child_tid: 0,
                parent_tid: 0,
                exit_signal: libc::SIGCHLD as u64,
                stack: 0,
                stack_size: 0,
                tls: 0,
                set_tid: 0,
                set_tid_size: 0,
                cgroup: cgroup as u64,
            };
            // SAFETY: as the clone below; clone3 reads `args`, of the size
            // passed, and with no stack given forks like it.
            unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &args as *const CloneArgs,
                    std::mem::size_of::<CloneArgs>(),
                )
            }
        }
        // SAFETY: a fork-like clone (no new stack, SIGCHLD on exit) in a
        // single-threaded process; the child runs `child::main`, which only
        // makes syscalls on data prepared above and never returns.
        None => unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        },
    };
    if pid < 0 {
        return Err(setup("creating the container's namespaces")(
            io::Error::last_os_error(),
        ));
    }
    if pid == 0 {
        drop(mine);
        child::main(cfg, theirs.as_raw_fd());
    }
    Ok((pid as libc::pid_t, mine))
}

/// Start the container's process. `rejoin`: a restart's network namespace,
/// kept from the first run (already plugged in).
pub(super) fn start(
    c: &Ctx,
    dir: &ContainerDir,
    rs: &mut RunState,
    mode: Mode,
    rejoin: Option<RawFd>,
) -> Result<Started, RunError> {
    let plan = c.plan;
    let join_netns = c.prep.join_fd().or(rejoin);
    let init_fd = if plan.init {
        Some(sys::sealed_self().map_err(RunError::InitCopy)?)
    } else {
        None
    };
    let Streams { child, out, input } = streams(plan, mode)?;
    let mut cfg = child_config(
        c,
        dir,
        child,
        join_netns,
        init_fd.as_ref().map(|f| f.as_raw_fd()),
    )?;
    crate::crash::t("child-config");
    let cgroups = cgroups(plan, rs, c.rootless)?;
    let tasks = cgroups.v1_tasks().map_err(|e| RunError::Start {
        code: 125,
        msg: e.to_string(),
    })?;
    cfg.cgroup_tasks = tasks.iter().map(|f| f.as_raw_fd()).collect();
    cfg.mounts.cgroups = cgroups.shown();
    crate::crash::t("device-cgroup");
    // Signals wait in a signalfd from here on; the child unblocks them.
    let sfd = signal_fd()?;
    let (mine, theirs) = proto::pair().map_err(setup("creating the sync socket"))?;
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if cfg.own_netns {
        flags |= libc::CLONE_NEWNET;
    }
    let cgroup = cgroups.clone_into();
    let (pid, mine) = clone_child(flags, cgroup, &cfg, mine, &theirs)?;
    let guard = ChildGuard(Some(pid));
    drop((theirs, init_fd, tasks));
    let pidfd = sys::pidfd_open(pid);
    crash::point("cloned");
    rs.pid = pid;
    rs.pid_start = sys::start_time(pid).unwrap_or(0);
    rs.device_cgroup = cgroups
        .device_path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    rs.limit_cgroups = cgroups.limit_paths();
    dir.write_state(rs)
        .map_err(setup("recording the container's state"))?;
    let (netns, dns) = match (c.prep, rejoin) {
        (network::Prep::Bridge(b), None) => {
            let (ns, dns) = plug_in(c, dir, rs, b, pid)?;
            (Some(ns), dns)
        }
        _ => (None, None),
    };
    proto::send(mine.as_raw_fd(), &Msg::Go);
    // await_exec reaps the child itself if it fails.
    let master = await_exec(&mine, guard.release())?;
    let pidfd = pidfd.map_err(setup("watching the container process"))?;
    Ok(Started {
        pid,
        pidfd,
        sfd,
        master,
        // Only our ends of the stdio pipes.
        pipes: out.map(|((or, _ow), (er, _ew))| (or, er)),
        _stdin: input.map(|(_r, w)| w),
        _sock: mine,
        netns,
        dns,
        cgroups,
    })
}

/// What plugging a container in leaves the monitor: its network and mount
/// namespaces, and a user-defined network's resolver sockets.
type Plugged = ((OwnedFd, Option<OwnedFd>), Option<super::resolver::Sockets>);

/// Plug the new process into the bridge; returns its network namespace
/// and its mount namespace (whose teardown at exit — hundreds of mounts,
/// RCU grace periods — would otherwise delay the removal of its rules).
fn plug_in(
    c: &Ctx,
    dir: &ContainerDir,
    rs: &mut RunState,
    b: &network::BridgePrep,
    pid: libc::pid_t,
) -> Result<Plugged, RunError> {
    let (fd, dns) = network::attach(c.st, b, pid, &c.plan.id, |n| {
        rs.net = Some(n.clone());
        dir.write_state(rs)
    })?;
    let mnt = sys::open(Path::new(&format!("/proc/{pid}/ns/mnt")), libc::O_RDONLY).ok();
    crash::point("attached");
    Ok(((fd, mnt), dns))
}

/// The container's cgroups (cgroup.rs). As root, where cgroups can be
/// made: its device cgroup (a v2 device program, else the v1 controller),
/// allowing Docker's default list and the --device nodes (none with
/// --privileged, which may open every device, as in Docker). Without one,
/// a --tmpfs `dev` would let a root container open what it makes there:
/// refused. Rootless there is none, and none is needed for that: a user
/// namespace's tmpfs is nodev whatever it is asked, and mknod of a device
/// fails there. With --memory, --cpus or --pids-limit, the cgroups that
/// enforce them, root or rootless, or the start fails (125): a limit is
/// never dropped.
fn cgroups(
    plan: &RunPlan,
    rs: &RunState,
    rootless: bool,
) -> Result<crate::cgroup::Cgroups, RunError> {
    let start_err = |e: crate::cgroup::CgroupError| RunError::Start {
        code: 125,
        msg: e.to_string(),
    };
    let name = crate::devices::cgroup_name(&plan.id, rs.monitor_pid, rs.monitor_start);
    let rules = (!plan.privileged && !rootless).then(|| crate::devices::allow_rules(&plan.devices));
    let cg = crate::cgroup::Cgroups::create(&name, rules.as_deref(), &plan.limits, rootless)
        .map_err(start_err)?;
    if rules.is_some()
        && cg.device_path().is_none()
        && let Some(t) = plan.tmpfs.iter().find(|t| !t.nodev)
    {
        return Err(RunError::Start {
            code: 125,
            msg: format!(
                "--tmpfs {}:dev: without a device cgroup (rrun could make none here) a root container could open the devices it makes there; use --privileged to allow that",
                t.dst.display()
            ),
        });
    }
    Ok(cg)
}
