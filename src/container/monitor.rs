//! The container's monitor: the process that starts the container's
//! process (`spawn`), relays its streams and signals until it exits,
//! starts it again as its restart policy or `rrun restart` asks — keeping
//! its network namespace, address, ports and rules — and at the end
//! records the exit and gives back what it held. In the foreground it is
//! the rrun process the user started; with -d (and `start`) a child that
//! leaves the caller's session and reports once the command has started.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use super::{
    Ctx, FORWARDED, Mode, RunError, exit_code, forwarder, give_back, log, network, reap, setup,
    signal_fd, spawn, tty,
};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::crash;
use crate::state::{self, ContainerDir, RunState, Status};
use crate::sys;

/// Hand the container to its monitor: this process in the foreground;
/// with -d (and `start`) a child that leaves the caller's session and
/// reports back once the command has really started.
pub(super) fn launch(c: &Ctx, dir: ContainerDir, mode: Mode) -> Result<i32, RunError> {
    match mode {
        Mode::Foreground => supervise(c, dir, mode, None),
        Mode::Detached => detach(c, dir),
    }
}

/// -d: fork the monitor, which leaves our session and stdio, and wait for
/// its word that the command started (or why it did not).
fn detach(c: &Ctx, mut dir: ContainerDir) -> Result<i32, RunError> {
    let (r, w) = sys::pipe_cloexec().map_err(setup("creating the report pipe"))?;
    // SAFETY: single-threaded; the child runs the monitor and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = io::Error::last_os_error();
        give_back(c, None);
        if c.new {
            c.st.release_name(&current_name(&dir.path, c.name), &c.plan.id);
        } else {
            dir.keep = true;
        }
        return Err(setup("starting the monitor")(e));
    }
    if pid == 0 {
        drop(r);
        // SAFETY: leaving the caller's session; stdio to /dev/null so that
        // nothing of the caller's (a pipe a script waits on) is kept open.
        unsafe {
            libc::setsid();
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null >= 0 {
                libc::dup2(null, 0);
                libc::dup2(null, 1);
                libc::dup2(null, 2);
                if null > 2 {
                    libc::close(null);
                }
            }
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::prctl(libc::PR_SET_NAME, c"rrun-monitor".as_ptr());
        }
        let code = match supervise(c, dir, Mode::Detached, Some(&w)) {
            Ok(c) => c,
            Err(e) => {
                let _ = sys::write_all(w.as_raw_fd(), format!("E{}:{e}", e.exit_code()).as_bytes());
                e.exit_code()
            }
        };
        crash::point("teardown");
        // SAFETY: ending the monitor without running the caller's handlers.
        unsafe { libc::_exit(code) }
    }
    // The monitor owns the directory now.
    dir.keep = true;
    drop(dir);
    drop(w);
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::fs::File::from(r), &mut buf);
    let text = String::from_utf8_lossy(&buf);
    if let Some(id) = text.strip_prefix('S') {
        if c.new {
            println!("{id}");
        }
        return Ok(0);
    }
    // The start failed: the monitor is exiting (or was killed). Reap it,
    // so that once we report, nothing of this run is left alive — the
    // next rrun then takes back its lease and ports at once.
    reap(pid);
    if let Some(rest) = text.strip_prefix('E')
        && let Some((code, msg)) = rest.split_once(':')
    {
        return Err(RunError::Start {
            code: code.parse().unwrap_or(125),
            msg: msg.to_string(),
        });
    }
    Err(RunError::MonitorDied)
}

/// Files in a container's directory by which commands steer its monitor:
/// the user stopped it (no restart policy applies), or `rrun restart`
/// wants it started again at once.
pub const STOP_REQUEST: &str = "stop-request";
pub const RESTART_REQUEST: &str = "restart-request";

/// How a run of the container's process ended, for the restart decision.
enum Ended {
    /// It ran and exited (wait status).
    Exited(i32),
    /// A restart failed to start it (its exit code).
    Failed(i32),
}

/// The monitor: start the container, relay its streams and signals until
/// it exits, start it again as its restart policy (or `rrun restart`)
/// says, then record the exit and give back what it held.
fn supervise(
    c: &Ctx,
    mut dir: ContainerDir,
    mode: Mode,
    report: Option<&OwnedFd>,
) -> Result<i32, RunError> {
    let plan = c.plan;
    let name = c.name;
    if !c.new {
        // Requests left from the container's last run are not for this one.
        let _ = std::fs::remove_file(dir.file(STOP_REQUEST));
        let _ = std::fs::remove_file(dir.file(RESTART_REQUEST));
    }
    // What a failed start leaves the container as (Docker's: as it was).
    let before = c.before.cloned();
    let mut rs = super::fresh_state();
    if mode == Mode::Detached {
        // This process, not the caller, is the monitor now.
        let _ = dir.write_state(&rs);
    }
    crash::point("state-created");
    let mut started = match spawn::start(c, &dir, &mut rs, mode, None) {
        Ok(s) => s,
        Err(e) => {
            never_started(c, &mut dir, &mut rs, before, &e, name);
            return Err(e);
        }
    };
    // From here the container exists for good (until rm, or --rm).
    dir.keep = true;
    let mut logsink = match mode {
        Mode::Foreground => log::LogSink::lazy(&dir.path, &plan.log),
        Mode::Detached => log::LogSink::open(&dir.path, &plan.log).map_err(|e| {
            // SAFETY: killing our own child, which has not been reaped.
            unsafe { libc::kill(started.pid, libc::SIGKILL) };
            reap(started.pid);
            setup("opening the container's log")(e)
        })?,
    };
    mark_running(&dir, &mut rs);
    // The log exists before anyone is told the container runs, so that
    // `logs -f` right after `-d` finds it.
    if let Some(w) = report {
        let _ = sys::write_all(w.as_raw_fd(), format!("S{}", plan.id).as_bytes());
        // SAFETY: closing the report pipe so the waiting CLI returns now.
        unsafe { libc::close(w.as_raw_fd()) };
    }
    crash::point("started");

    // The userspace forwarder of the published ports: started at their
    // first client, again if it dies; stopped and reaped when this drops.
    let mut forwarder = match c.prep {
        network::Prep::Bridge(b) => forwarder::Supervisor::new(b),
        _ => None,
    };
    let mut terminal = tty::Terminal;
    let mut tee;
    let sink: &mut dyn tty::Sink = match mode {
        Mode::Detached => &mut logsink,
        // A --rm container's log would go with it: its output goes
        // straight to the caller (or, with -t, through here unlogged).
        Mode::Foreground if plan.rm => &mut terminal,
        Mode::Foreground => {
            tee = tty::Tee {
                terminal: tty::Terminal,
                log: &mut logsink,
            };
            &mut tee
        }
    };
    // The network namespace outlives each run of the process: a restart
    // joins it, with its veth, address and rules as they were.
    let netns = started.netns.take();
    // A user-defined network's resolver, for as long as this monitor.
    let _resolver = match (started.dns.take(), c.prep) {
        (Some(sockets), network::Prep::Bridge(b)) => {
            let links = plan
                .links
                .iter()
                .map(|l| (l.alias.to_ascii_lowercase(), l.target.to_ascii_lowercase()))
                .collect();
            match super::resolver::start(
                sockets,
                b.network.clone(),
                &dir.path,
                links,
                &c.files.dns_upstream,
            ) {
                Ok(r) => Some(r),
                Err(e) => {
                    eprintln!("rrun: warning: starting the network's resolver: {e}");
                    None
                }
            }
        }
        _ => None,
    };
    let mut policy = Restarts {
        policy: plan.restart,
        restarts: 0,
        last_delay: None,
    };
    let mut current = Some(started);
    let code = loop {
        let ran_from = std::time::Instant::now();
        let ended = match current.take() {
            Some(s) => {
                let (status, oom) = relay(c, mode, s, sink, forwarder.as_mut());
                rs.oom_killed = oom;
                Ended::Exited(status)
            }
            None => Ended::Failed(rs.exit_code),
        };
        crash::point("exited");
        let code = match &ended {
            Ended::Exited(status) => exit_code(*status),
            Ended::Failed(code) => *code,
        };
        rs.exit_code = code;
        rs.finished_at = state::now_rfc3339();
        rs.pid = 0;
        rs.pid_start = 0;
        match policy.next(&dir, code, ran_from.elapsed()) {
            Next::Now => {}
            Next::After(delay) => {
                rs.restart_count = policy.restarts;
                rs.status = Status::Restarting;
                let _ = dir.write_state(&rs);
                if !wait_restart(&dir, delay) {
                    break code;
                }
            }
            Next::End => break code,
        }
        let join = netns.as_ref().map(|(n, _)| n.as_raw_fd());
        match spawn::start(c, &dir, &mut rs, mode, join) {
            Ok(s) => {
                current = Some(s);
                mark_running(&dir, &mut rs);
            }
            Err(e) => {
                rs.exit_code = e.exit_code();
                rs.error = e.to_string();
            }
        }
    };
    drop(forwarder);
    finish(c, &mut dir, &mut rs, code, name);
    drop(netns);
    Ok(code)
}

/// The first start failed: a run's new container goes (its name too); a
/// started one stays as it was — created, or exited when it last ran —
/// with the error and its code recorded. The network is given back either
/// way.
fn never_started(
    c: &Ctx,
    dir: &mut ContainerDir,
    rs: &mut RunState,
    before: Option<RunState>,
    e: &RunError,
    name: &str,
) {
    give_back(c, rs.net.as_ref());
    if let Some(n) = rs.net.as_mut() {
        n.released = true;
    }
    if c.new {
        c.st.release_name(&current_name(&dir.path, name), &c.plan.id);
        return;
    }
    dir.keep = true;
    match before {
        Some(b) if b.status == Status::Created => rs.status = Status::Created,
        Some(b) => {
            rs.status = Status::Exited;
            rs.started_at = b.started_at;
            rs.finished_at = b.finished_at;
            rs.restart_count = b.restart_count;
        }
        None => {
            rs.status = Status::Exited;
            rs.finished_at = state::now_rfc3339();
        }
    }
    rs.exit_code = e.exit_code();
    rs.error = e.to_string();
    rs.monitor_pid = 0;
    let _ = dir.write_state(rs);
}

/// The container is done: the exit recorded, the network given back
/// (its address kept unless --rm), a --rm container's record removed.
fn finish(c: &Ctx, dir: &mut ContainerDir, rs: &mut RunState, code: i32, name: &str) {
    let (st, plan) = (c.st, c.plan);
    rs.status = Status::Exited;
    rs.exit_code = code;
    if let Some(n) = rs.net.as_mut() {
        for e in crate::net::release(st, &plan.id, n, true, !plan.rm) {
            eprintln!(
                "rrun: warning: releasing the network of {}: {e}",
                &plan.id[..12]
            );
        }
        n.released = true;
    }
    if plan.rm {
        st.release_name(&current_name(&dir.path, name), &plan.id);
        dir.keep = false;
    } else {
        let _ = std::fs::remove_file(dir.file(STOP_REQUEST));
        let _ = dir.write_state(rs);
    }
}

/// What the monitor does when the process has exited.
enum Next {
    /// `rrun restart` asked: start it again at once.
    Now,
    /// The policy says so, after this back-off.
    After(std::time::Duration),
    End,
}

/// A restart policy as the monitor runs it.
struct Restarts {
    policy: crate::restart::Policy,
    /// How often the policy restarted the process.
    restarts: u32,
    last_delay: Option<std::time::Duration>,
}

impl Restarts {
    /// After a run of `ran` that ended with `code`.
    fn next(&mut self, dir: &ContainerDir, code: i32, ran: std::time::Duration) -> Next {
        if std::fs::remove_file(dir.file(RESTART_REQUEST)).is_ok() {
            return Next::Now;
        }
        let stopped = dir.file(STOP_REQUEST).exists();
        if !crate::restart::again(self.policy, code, self.restarts, stopped) {
            return Next::End;
        }
        self.restarts += 1;
        let d = crate::restart::delay(self.last_delay, ran);
        self.last_delay = Some(d);
        Next::After(d)
    }
}

fn mark_running(dir: &ContainerDir, rs: &mut RunState) {
    rs.status = Status::Running;
    rs.oom_killed = false;
    rs.started_at = state::now_rfc3339();
    rs.error.clear();
    let _ = dir.write_state(rs);
}

/// Relay one run of the container's process until it exits; its wait
/// status, and whether the OOM killer struck in its cgroup.
fn relay(
    c: &Ctx,
    mode: Mode,
    mut started: spawn::Started,
    sink: &mut dyn tty::Sink,
    forwarder: Option<&mut forwarder::Supervisor>,
) -> (i32, bool) {
    let plan = c.plan;
    let stdin_tty = tty::is_tty(0);
    let _raw = match (
        &started.master,
        mode == Mode::Foreground && plan.interactive && stdin_tty,
    ) {
        (Some(_), true) => tty::RawMode::enter(0),
        _ => None,
    };
    let mut sources = Vec::new();
    if let Some(m) = &started.master {
        sources.push((tty::Source::Borrowed(m.as_raw_fd()), tty::Stream::Stdout));
    }
    if let Some((o, e)) = started.pipes.take() {
        sources.push((tty::Source::Owned(o), tty::Stream::Stdout));
        sources.push((tty::Source::Owned(e), tty::Stream::Stderr));
    }
    let status = tty::relay(tty::Relay {
        pid: started.pid,
        pidfd: &started.pidfd,
        sfd: &started.sfd,
        sources,
        master: started.master.as_ref().map(|m| m.as_raw_fd()),
        stdin: mode == Mode::Foreground && plan.interactive,
        sink,
        forwarded: FORWARDED,
        aux: forwarder.map(|f| f as &mut dyn tty::Aux),
    });
    (status, started.cgroups.oom_killed())
}

/// Sit out a restart's back-off. A signal ends it early: `rrun restart`
/// (its request file) starts the container at once, anything else — `rrun
/// stop` and `rm -f` signal the monitor — ends the policy. True: start
/// it again.
fn wait_restart(dir: &ContainerDir, delay: std::time::Duration) -> bool {
    let Ok(sfd) = signal_fd() else {
        std::thread::sleep(delay);
        return !dir.file(STOP_REQUEST).exists();
    };
    let deadline = std::time::Instant::now() + delay;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return !dir.file(STOP_REQUEST).exists();
        }
        let mut p = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let wait = PollTimeout::try_from(left.max(std::time::Duration::from_millis(1)))
            .unwrap_or(PollTimeout::MAX);
        if !matches!(poll(&mut p, wait), Ok(n) if n > 0) {
            continue;
        }
        match tty::next_signal(&sfd) {
            None | Some(libc::SIGCHLD | libc::SIGWINCH) => continue,
            Some(_) => {}
        }
        return std::fs::remove_file(dir.file(RESTART_REQUEST)).is_ok();
    }
}

/// The container's name now: `rrun rename` may have changed it since
/// the start.
pub(super) fn current_name(dir: &Path, was: &str) -> String {
    crate::state::Record::read(dir)
        .map(|r| r.config.name)
        .unwrap_or_else(|_| was.to_string())
}
