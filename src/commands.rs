//! The commands that look at or act on existing containers: ps, logs,
//! inspect, stop, kill, wait, rm. Each resolves its arguments through the
//! state directory (full id, unique prefix or name) and reports per
//! container, as Docker does: one failing argument does not stop the rest,
//! and the exit code says whether any failed.

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::cli;
use crate::container::log;
use crate::filter;
use crate::inspect;
use crate::logrot::Driver;
use crate::state::{Record, State, StateError, Status};
use crate::sys;
use crate::template::Template;
use crate::timespec;

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("template parsing error: {0}")]
    Template(String),
    /// `inspect -f` that does not parse: Docker's CLI says so with a
    /// capital T and exits 64 (EX_USAGE).
    #[error("Template parsing error: {0}")]
    InspectSyntax(String),
    #[error("{msg}")]
    Failed { code: i32, msg: String },
    /// Errors already printed, one a container; only the exit code is left.
    #[error("")]
    Reported(i32),
}

impl CmdError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CmdError::State(e) => e.exit_code(),
            CmdError::Template(_) => 1,
            CmdError::InspectSyntax(_) => 64,
            CmdError::Failed { code, .. } | CmdError::Reported(code) => *code,
        }
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(crate) fn template(src: &str) -> Result<Template, CmdError> {
    Template::parse(src).map_err(|e| CmdError::Template(e.to_string()))
}

/// Run `f` on each named container; print errors as they come.
fn each(
    st: &State,
    names: &[String],
    mut f: impl FnMut(&State, &str, Record) -> Result<(), CmdError>,
) -> Result<(), CmdError> {
    let mut failed = 0;
    for n in names {
        let r = st.find(n).map_err(CmdError::from).and_then(|r| f(st, n, r));
        if let Err(e) = r {
            failed = failed.max(e.exit_code());
            eprintln!("rrun: {e}");
        }
    }
    if failed != 0 {
        Err(CmdError::Reported(failed))
    } else {
        Ok(())
    }
}

pub fn ps(a: &cli::PsArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    let (records, bad) = st.list();
    crate::container::network::reclaim_dead_in(&st, crate::net::Where::Host, &records);
    for (id, why) in &bad {
        eprintln!("rrun: skipping container {id}: {why}");
    }
    let t = now();
    let names = inspect::all_names(&records);
    let names_of = |r: &Record| {
        names
            .get(r.id())
            .cloned()
            .unwrap_or_else(|| vec![r.config.name.clone()])
    };
    let name_of = |r: &Record| names_of(r).join(",");
    let views: Vec<filter::View> = records
        .iter()
        .map(|r| inspect::filter_view(r, names_of(r)))
        .collect();
    // ancestor=: where the path leads from here, if anywhere.
    let resolve = |p: &str| {
        std::fs::canonicalize(p)
            .ok()
            .map(|p| p.into_os_string().into_vec())
    };
    let f = filter::Filter::new(&a.filter, &views, &resolve).map_err(|e| CmdError::Failed {
        code: 1,
        msg: e.to_string(),
    })?;
    let shown: Vec<&Record> = f
        .select(&views, a.all, filter::limit(a.last, a.latest))
        .into_iter()
        .map(|i| &records[i])
        .collect();
    let mut out = String::new();
    if a.quiet {
        for r in shown {
            let id = r.id();
            out.push_str(if a.no_trunc {
                id
            } else {
                &id[..12.min(id.len())]
            });
            out.push('\n');
        }
    } else {
        let (is_table, body) = inspect::ps_format(a.format.as_deref());
        let tpl = template(&body)?;
        let render =
            |v: &serde_json::Value| tpl.render(v).map_err(|e| CmdError::Template(e.to_string()));
        let mut lines = Vec::new();
        if is_table {
            lines.push(render(&inspect::ps_header_fields())?);
        }
        let lost = crate::net::reconcile::lost_all(&st);
        for r in shown {
            let mut v = inspect::ps_fields(r, t, a.no_trunc, &name_of(r));
            if r.running() && lost.contains_key(r.id()) {
                mark_lost(&mut v, "Status", |s| format!("{s} (network lost)"));
            }
            lines.push(render(&v)?);
        }
        // Docker runs the whole output through a tabwriter: cells are what
        // the template separated with tabs.
        out = inspect::table_or_lines(&lines, is_table);
    }
    let _ = io::stdout().write_all(out.as_bytes());
    Ok(0)
}

/// Rewrite the string field `key` of an object (a container that lost its
/// network says so where ps and inspect show its state).
fn mark_lost(v: &mut serde_json::Value, key: &str, f: impl FnOnce(&str) -> String) {
    if let Some(field) = v.get_mut(key) {
        let old = field.as_str().unwrap_or_default().to_string();
        *field = serde_json::Value::String(f(&old));
    }
}

/// Docker's `inspect --type` values: rrun has objects of the first only.
const INSPECT_TYPES: [&str; 9] = [
    "container",
    "image",
    "node",
    "network",
    "service",
    "volume",
    "task",
    "plugin",
    "secret",
];

pub fn inspect(a: &cli::InspectArgs) -> Result<i32, CmdError> {
    match a.kind.as_deref() {
        None | Some("") | Some("container") => {}
        Some(t) if INSPECT_TYPES.contains(&t) => {
            if a.format.is_none() {
                println!("[]");
            }
            for c in &a.containers {
                eprintln!("rrun: No such {t}: {c}");
            }
            return Err(CmdError::Reported(1));
        }
        Some(t) => {
            return Err(CmdError::Failed {
                code: 1,
                msg: format!(
                    "{} is not a valid value for --type",
                    crate::goquote::quote(t)
                ),
            });
        }
    }
    let st = State::open()?;
    let tpl = a
        .format
        .as_deref()
        .map(|f| Template::parse(f).map_err(|e| CmdError::InspectSyntax(e.to_string())))
        .transpose()?;
    let mut objects = Vec::new();
    let mut out = String::new();
    let lost = crate::net::reconcile::lost_all(&st);
    let r = each(&st, &a.containers, |_, _, mut r| {
        // While it runs, the OOM killer's kills show at once, as Docker's
        // OOM event shows them (its monitor records them at the end).
        if r.running() {
            r.state.oom_killed |= crate::cgroup::oom_killed_in(&r.state.limit_cgroups);
        }
        let mut v = inspect::inspect(&r);
        if let (true, Some(veth)) = (r.running(), lost.get(r.id()))
            && let Some(state) = v.get_mut("State")
        {
            mark_lost(state, "Error", |_| {
                format!("network lost: its interface {veth} on the bridge was deleted")
            });
        }
        match &tpl {
            Some(t) => {
                let s = t
                    .render(&inspect::template_view(v))
                    .map_err(|e| CmdError::Template(e.to_string()))?;
                out.push_str(&s);
                out.push('\n');
            }
            None => objects.push(v),
        }
        Ok(())
    });
    if tpl.is_none() {
        out = docker_json(&objects)?;
    }
    let _ = io::stdout().write_all(out.as_bytes());
    r.map(|_| 0)
}

/// JSON as Docker's inspect prints it: indented by four spaces, with a
/// final newline.
pub(crate) fn docker_json(v: &impl serde::Serialize) -> Result<String, CmdError> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser).map_err(|e| CmdError::Failed {
        code: 1,
        msg: e.to_string(),
    })?;
    let mut out = String::from_utf8_lossy(&buf).into_owned();
    out.push('\n');
    Ok(out)
}

/// Follow a process by pidfd, if it is still the one that started at
/// `start`.
pub(crate) fn watch(pid: libc::pid_t, start: u64) -> Option<OwnedFd> {
    let fd = sys::pidfd_open(pid).ok()?;
    sys::alive(pid, start).then_some(fd)
}

/// Wait until the pidfd's process exits, or the deadline passes.
pub(crate) fn wait_exit(fd: &OwnedFd, deadline: Option<Instant>) -> bool {
    loop {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                let ms = left.as_millis().min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut p = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut p, timeout) {
            Ok(n) => return n > 0,
            // Only a signal is worth another poll; any other error would spin.
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}

/// Wait for the monitor to record the exit (it exits right after).
fn wait_monitor(r: &Record, limit: Duration) {
    if let Some(m) = watch(r.state.monitor_pid, r.state.monitor_start) {
        wait_exit(&m, Some(Instant::now() + limit));
    }
}

pub fn stop(a: &cli::StopArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    each(&st, &a.containers, |_, arg, r| {
        end_policy(&r);
        halt(&r, a.time, false);
        println!("{arg}");
        Ok(())
    })
    .map(|_| 0)
}

/// The user stopped the container: its restart policy ends (the monitor
/// reads this when the process exits). A monitor waiting out a restart's
/// back-off is woken to end.
fn end_policy(r: &Record) {
    if r.active() {
        let _ = std::fs::write(r.dir.join(crate::container::STOP_REQUEST), b"");
    }
    if r.state.status == Status::Restarting
        && let Some(m) = watch(r.state.monitor_pid, r.state.monitor_start)
    {
        let _ = sys::pidfd_send_signal(&m, libc::SIGTERM);
    }
}

/// Stop the container's process as `stop` does (SIGTERM, `secs` later
/// SIGKILL) and wait for its monitor to record the exit — or, if a
/// restart is asked, only for the process to end.
fn halt(r: &Record, secs: u32, restarting: bool) {
    if r.running()
        && let Some(p) = watch(r.state.pid, r.state.pid_start)
    {
        let _ = sys::pidfd_send_signal(&p, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(secs as u64);
        if !wait_exit(&p, Some(deadline)) {
            let _ = sys::pidfd_send_signal(&p, libc::SIGKILL);
            wait_exit(&p, Some(Instant::now() + Duration::from_secs(10)));
        }
    }
    if !restarting {
        wait_monitor(r, Duration::from_secs(10));
    }
}

/// `rrun restart`: a running container is stopped and started again by
/// its own monitor, which keeps its network namespace, address, ports and
/// rules; a stopped or created one is started.
pub fn restart(a: &cli::RestartArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    let mut stopped = Vec::new();
    let r = each(&st, &a.containers, |_, arg, r| {
        if !r.active() || !sys::alive(r.state.monitor_pid, r.state.monitor_start) {
            stopped.push(arg.to_string());
            return Ok(());
        }
        restart_live(&r, a.time)?;
        println!("{arg}");
        Ok(())
    });
    let mut failed = match r {
        Err(CmdError::Reported(c)) => c,
        _ => 0,
    };
    if !stopped.is_empty()
        && let Err(e) = crate::container::start_containers(&stopped, false, false)
    {
        if !matches!(e, crate::container::RunError::Reported(_)) {
            eprintln!("rrun: {e}");
        }
        failed = failed.max(e.exit_code());
    }
    if failed != 0 {
        return Err(CmdError::Reported(failed));
    }
    Ok(0)
}

/// Ask a live container's monitor for a restart and wait until the new
/// process runs (or the monitor gives up).
fn restart_live(r: &Record, secs: u32) -> Result<(), CmdError> {
    let fail = |e: io::Error| CmdError::Failed {
        code: 1,
        msg: format!(
            "Cannot restart container {}: {}",
            r.config.name,
            sys::errno_text(&e)
        ),
    };
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .map_err(|e| fail(e.into()))?;
    ino.add_watch(&r.dir, AddWatchFlags::IN_MOVED_TO)
        .map_err(|e| fail(e.into()))?;
    std::fs::write(r.dir.join(crate::container::RESTART_REQUEST), b"").map_err(fail)?;
    let old_start = r.state.started_at.clone();
    if r.state.status == Status::Restarting {
        // Waiting out a back-off: wake it to start now.
        if let Some(m) = watch(r.state.monitor_pid, r.state.monitor_start) {
            let _ = sys::pidfd_send_signal(&m, libc::SIGTERM);
        }
    } else {
        halt(r, secs, true);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let monitor = watch(r.state.monitor_pid, r.state.monitor_start);
    loop {
        if let Ok(now) = Record::read(&r.dir) {
            let s = &now.state;
            // The new run's start time is written once its command has
            // exec'd (its pid already at the clone).
            if s.status == Status::Running && s.started_at != old_start {
                return Ok(());
            }
            if s.status == Status::Exited {
                let _ = std::fs::remove_file(r.dir.join(crate::container::RESTART_REQUEST));
                return Err(CmdError::Failed {
                    code: 1,
                    msg: format!(
                        "Cannot restart container {}: {}",
                        r.config.name,
                        if s.error.is_empty() {
                            format!("it exited ({})", s.exit_code)
                        } else {
                            s.error.clone()
                        }
                    ),
                });
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(fail(io::Error::from_raw_os_error(libc::ETIMEDOUT)));
        }
        let mut fds = vec![PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = &monitor {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        let ms = left.as_millis().clamp(1, 1000) as u16;
        let _ = poll(&mut fds, ms);
        let _ = ino.read_events();
    }
}

/// A signal by name (HUP, SIGHUP, hup) or number.
pub fn parse_signal(s: &str) -> Option<libc::c_int> {
    if let Ok(n) = s.parse::<libc::c_int>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let table: &[(&str, libc::c_int)] = &[
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("ILL", libc::SIGILL),
        ("TRAP", libc::SIGTRAP),
        ("ABRT", libc::SIGABRT),
        ("IOT", libc::SIGIOT),
        ("BUS", libc::SIGBUS),
        ("FPE", libc::SIGFPE),
        ("KILL", libc::SIGKILL),
        ("USR1", libc::SIGUSR1),
        ("SEGV", libc::SIGSEGV),
        ("USR2", libc::SIGUSR2),
        ("PIPE", libc::SIGPIPE),
        ("ALRM", libc::SIGALRM),
        ("TERM", libc::SIGTERM),
        ("STKFLT", libc::SIGSTKFLT),
        ("CHLD", libc::SIGCHLD),
        ("CONT", libc::SIGCONT),
        ("STOP", libc::SIGSTOP),
        ("TSTP", libc::SIGTSTP),
        ("TTIN", libc::SIGTTIN),
        ("TTOU", libc::SIGTTOU),
        ("URG", libc::SIGURG),
        ("XCPU", libc::SIGXCPU),
        ("XFSZ", libc::SIGXFSZ),
        ("VTALRM", libc::SIGVTALRM),
        ("PROF", libc::SIGPROF),
        ("WINCH", libc::SIGWINCH),
        ("IO", libc::SIGIO),
        ("PWR", libc::SIGPWR),
        ("SYS", libc::SIGSYS),
    ];
    table.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

pub fn kill(a: &cli::KillArgs) -> Result<i32, CmdError> {
    let sig = parse_signal(&a.signal).ok_or_else(|| CmdError::Failed {
        code: 1,
        msg: format!("invalid signal: {}", a.signal),
    })?;
    let st = State::open()?;
    each(&st, &a.containers, |_, arg, r| {
        let not_running = || CmdError::Failed {
            code: 1,
            msg: format!(
                "Cannot kill container: {arg}: Container {} is not running",
                r.id()
            ),
        };
        if !r.running() {
            return Err(not_running());
        }
        let p = watch(r.state.pid, r.state.pid_start).ok_or_else(not_running)?;
        // As Docker: a killed container is not restarted by its policy.
        end_policy(&r);
        sys::pidfd_send_signal(&p, sig).map_err(|e| CmdError::Failed {
            code: 1,
            msg: format!("cannot kill container {arg}: {}", sys::errno_text(&e)),
        })?;
        println!("{arg}");
        Ok(())
    })
    .map(|_| 0)
}

pub fn wait(a: &cli::WaitArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    each(&st, &a.containers, |st, arg, r| {
        if r.state.status != Status::Exited
            && let Some(m) = watch(r.state.monitor_pid, r.state.monitor_start)
        {
            wait_exit(&m, None);
        }
        // Re-read: the monitor recorded the exit (or --rm removed it, in
        // which case the last known code stands).
        let code = st
            .find(r.id())
            .map(|r| r.state.exit_code)
            .unwrap_or(r.state.exit_code);
        let _ = arg;
        println!("{code}");
        Ok(())
    })
    .map(|_| 0)
}

pub fn rm(a: &cli::RmArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    // A container whose monitor was killed still holds rules and an
    // address: give them back before its record goes.
    crate::container::network::reclaim_dead(&st, crate::net::Where::Host);
    if a.force {
        kill_first(&st, &a.containers);
    }
    let mut failed = 0;
    for n in &a.containers {
        let r = match st.find(n) {
            Ok(r) => r,
            // A record that cannot be read is still removed with -f.
            Err(StateError::Corrupt(_, why)) => {
                if a.force && st.remove_corrupt(n).unwrap_or(false) {
                    println!("{n}");
                } else {
                    eprintln!("rrun: container {n}: {why}; remove it with rrun rm -f {n}");
                    failed = 1;
                }
                continue;
            }
            // As Docker (20.10 and later): with -f, a container that is
            // not there is said, and not a failure (`rm -f web; run --name
            // web` under `set -e`).
            Err(e @ StateError::NoSuch(_)) if a.force => {
                eprintln!("rrun: {e}");
                continue;
            }
            Err(e) => {
                let e = CmdError::from(e);
                failed = failed.max(e.exit_code());
                eprintln!("rrun: {e}");
                continue;
            }
        };
        if let Err(e) = remove(&st, a.force, n, r) {
            failed = failed.max(e.exit_code());
            eprintln!("rrun: {e}");
        }
    }
    // The cgroups a killed monitor left (`system reset` removes through
    // here too): without this they would wait for the next run.
    crate::cgroup::reclaim();
    if failed != 0 {
        Err(CmdError::Reported(failed))
    } else {
        Ok(0)
    }
}

/// Remove one container (killing it first with -f), and say its name.
fn remove(st: &State, force: bool, arg: &str, r: Record) -> Result<(), CmdError> {
    if r.active() {
        if !force {
            return Err(CmdError::Failed {
                code: 1,
                msg: format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    r.id()
                ),
            });
        }
        end_policy(&r);
        if let Some(p) = watch(r.state.pid, r.state.pid_start) {
            let _ = sys::pidfd_send_signal(&p, libc::SIGKILL);
            wait_exit(&p, Some(Instant::now() + Duration::from_secs(10)));
        }
        wait_monitor(&r, Duration::from_secs(10));
    }
    // A stopped container keeps its address until now.
    crate::net::release_kept_lease(st, &r);
    match st.remove(&r) {
        Ok(()) => {}
        // --rm got there first.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(CmdError::Failed {
                code: 1,
                msg: format!("removing container {arg}: {}", sys::errno_text(&e)),
            });
        }
    }
    println!("{arg}");
    Ok(())
}

/// rm -f of many: SIGKILL every running one first, so that they and their
/// monitors end together rather than one after another.
fn kill_first(st: &State, names: &[String]) {
    for n in names {
        if let Ok(r) = st.find(n)
            && r.active()
        {
            end_policy(&r);
            if let Some(p) = watch(r.state.pid, r.state.pid_start) {
                let _ = sys::pidfd_send_signal(&p, libc::SIGKILL);
            }
        }
    }
}

pub fn port(a: &cli::PortArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    let r = st.find(&a.container)?;
    let filter = a
        .port
        .as_deref()
        .map(crate::ports::parse_port_arg)
        .transpose()
        .map_err(|e| CmdError::Failed {
            code: 1,
            msg: e.to_string(),
        })?;
    let bindings = match &r.state.net {
        Some(n) if r.running() && !n.released => n.ports.clone(),
        _ => Vec::new(),
    };
    let lines = match &filter {
        None => crate::ports::port_lines(&bindings, None),
        Some((_, Some(one))) => crate::ports::port_lines(&bindings, Some(*one)),
        Some((_, None)) => Vec::new(),
    };
    if lines.is_empty()
        && let Some((shown, _)) = filter
    {
        return Err(CmdError::Failed {
            code: 1,
            msg: format!("No public port '{shown}' published for {}", a.container),
        });
    }
    for l in lines {
        println!("{l}");
    }
    Ok(0)
}

/// Rootless: join the user's namespaces, where the bridge and rules live,
/// if their holder lives (else they went with it, and only the record is
/// left): where this process is then. As root: the host's, where they are.
pub(crate) fn join_user_network(st: &State) -> Result<crate::net::Where, CmdError> {
    use crate::net::Where;
    if nix::unistd::geteuid().is_root() {
        return Ok(Where::Host);
    }
    let Some(nss) = crate::ns::existing_namespaces(st) else {
        return Ok(Where::Host);
    };
    crate::ns::join_user(&nss)
        .and_then(|_| crate::ns::join_net(&nss))
        .map_err(|e| CmdError::Failed {
            code: 1,
            msg: e.to_string(),
        })?;
    Ok(Where::UserNs)
}

/// --tail: "all" or a count.
fn parse_tail(s: &str) -> Result<Option<usize>, CmdError> {
    if s == "all" {
        return Ok(None);
    }
    s.parse::<usize>().map(Some).map_err(|_| CmdError::Failed {
        code: 125,
        msg: format!("invalid value for --tail: {s:?}: use a number or \"all\""),
    })
}

/// What `logs` prints: entries gathered and written a stream at a time,
/// so that a large log is not one write per line and the two streams
/// keep their order.
struct Out {
    buf: Vec<u8>,
    stderr: bool,
    timestamps: bool,
    /// `--details`: an entry's attributes and a space before its text, as
    /// Docker prints them (`k=v,k2=v2 `); rrun's entries have none, so
    /// only the space.
    details: bool,
    window: timespec::Window,
}

impl Out {
    fn entry(&mut self, e: &log::Entry) -> io::Result<()> {
        if !self.window.admit(&e.t) {
            return Ok(());
        }
        let to_stderr = e.stream == "stderr";
        if to_stderr != self.stderr {
            self.flush()?;
            self.stderr = to_stderr;
        }
        if self.timestamps {
            self.buf.extend_from_slice(e.t.as_bytes());
            self.buf.push(b' ');
        }
        if self.details {
            self.buf.push(b' ');
        }
        self.buf.extend_from_slice(e.line.as_bytes());
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = if self.stderr {
            io::stderr().lock().write_all(&self.buf)
        } else {
            let mut o = io::stdout().lock();
            o.write_all(&self.buf).and_then(|_| o.flush())
        };
        self.buf.clear();
        r
    }
}

/// Now, and the local zone's offset from UTC now, for `--since`/`--until`.
fn clock() -> timespec::Clock {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let sec = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let t: libc::time_t = sec;
    // SAFETY: an all-zero tm is a valid value to be overwritten.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let tz = std::env::var_os("TZ").map(|v| v.to_string_lossy().into_owned());
    let zone = timespec::local_zone(tz.as_deref(), |p| std::path::Path::new(p).is_file());
    // SAFETY: localtime_r (which reads TZ and the zone files the first
    // time) writes only the tm it is given; null when it cannot convert.
    let converted =
        zone == timespec::LocalZone::System && !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
    let offset = if converted {
        i32::try_from(tm.tm_gmtoff).unwrap_or(0)
    } else {
        0
    };
    timespec::Clock {
        sec,
        nsec: d.subsec_nanos(),
        offset,
    }
}

pub fn logs(a: &cli::LogsArgs) -> Result<i32, CmdError> {
    let tail = parse_tail(&a.tail)?;
    let st = State::open()?;
    let r = st.find(&a.container)?;
    // After the container, before the driver: Docker's client reads the
    // times once it has found the container, its daemon the driver.
    let now = clock();
    let bad = |e: timespec::TimeSpecError| CmdError::Failed {
        code: 1,
        msg: e.to_string(),
    };
    let since = timespec::since(a.since.as_deref().unwrap_or(""), &now).map_err(bad)?;
    let until = timespec::until(a.until.as_deref().unwrap_or(""), &now).map_err(bad)?;
    if r.config.log.driver == Driver::None {
        return Err(CmdError::Failed {
            code: 1,
            msg: "configured logging driver does not support reading".into(),
        });
    }
    let mut out = Out {
        buf: Vec::new(),
        stderr: false,
        timestamps: a.timestamps,
        details: a.details,
        window: timespec::Window::new(since, until),
    };
    let mut reader = log::LogReader::new(&r.dir, &r.config.log);
    let res = (|| -> Result<(), log::LogError> {
        let mut give = |e: log::Entry| out.entry(&e);
        match tail {
            None => reader.all(&mut give)?,
            Some(n) => reader.tail(n, &mut give)?,
        }
        out.flush().map_err(log::LogError::Output)?;
        if !a.follow || !r.running() {
            return Ok(());
        }
        // As Docker's: a reading that stopped at --until still follows,
        // and the first new entry after it ends the follow.
        out.window.restart();
        let Some(monitor) = watch(r.state.monitor_pid, r.state.monitor_start) else {
            return Ok(());
        };
        // Follow: wake on the monitor's exit or every 100 ms to read what
        // was appended; the monitor's exit is the truth about the end.
        loop {
            let done = wait_exit(&monitor, Some(Instant::now() + Duration::from_millis(100)));
            reader.poll(&mut |e| out.entry(&e))?;
            out.flush().map_err(log::LogError::Output)?;
            if done || out.window.ended() {
                return Ok(());
            }
        }
    })();
    match res {
        Ok(()) => Ok(0),
        // Nobody reads any more (`logs | head`): stop, as quietly.
        Err(log::LogError::Output(_)) => Ok(0),
        Err(e) => Err(CmdError::Failed {
            code: 1,
            msg: format!("reading the log of {}: {e}", a.container),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("HUP"), Some(libc::SIGHUP));
        assert_eq!(parse_signal("sigterm"), Some(libc::SIGTERM));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("NOPE"), None);
    }

    #[test]
    fn tails() {
        assert_eq!(parse_tail("all").ok(), Some(None));
        assert_eq!(parse_tail("20").ok(), Some(Some(20)));
        assert!(parse_tail("x").is_err());
        assert!(parse_tail("-1").is_err());
    }
}
