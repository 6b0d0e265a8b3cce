//! A container's life: the monitor makes the state directory entry (and
//! takes the name), clones the container process into new namespaces,
//! relays signals and the terminal or the log, records the exit, and tears
//! everything down. In the foreground the monitor is the rrun process the
//! user started; with -d it is a child that leaves the caller's session and
//! reports back once the command has really started (docs/ARCHITECTURE.md
//! follows one run through these processes).

pub mod child;
pub mod exec;
pub mod forwarder;
pub mod init;
pub mod log;
pub mod network;
pub mod proto;
pub mod tty;

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::crash;
use crate::mount::{Bind, DeviceBind, MountPlan};
use crate::ns::{self, NsError};
use crate::plan::{NetMode, RunPlan};
use crate::state::{
    self, Config, ContainerDir, LinkConf, NewContainer, RunState, State, StateError, Status,
};
use crate::sys;
use child::ChildConfig;
use proto::Msg;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Ns(#[from] NsError),
    /// The id, the map, and what to do (ns::id_remedy).
    #[error("user {0} is not mapped in your user namespace (uid map: {1}); {2}")]
    Unmapped(String, String, String),
    #[error("group {0} is not mapped in your user namespace (gid map: {1}); {2}")]
    UnmappedGroup(u32, String, String),
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
    #[error("the container's monitor died while starting it")]
    MonitorDied,
    /// Failures already reported one by one (start of several): only the
    /// exit code is left.
    #[error("")]
    Reported(i32),
}

impl RunError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Start { code, .. } | RunError::Reported(code) => *code,
            RunError::State(e) => e.exit_code(),
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

pub(crate) fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        125
    }
}

/// The signals a foreground run passes on to the container.
pub(crate) const FORWARDED: &[libc::c_int] = &[
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

fn cstrings(v: impl IntoIterator<Item = OsString>) -> Result<Vec<CString>, RunError> {
    v.into_iter()
        .map(|s| {
            CString::new(s.into_vec()).map_err(|_| {
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

/// What runs the container's standard streams.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Foreground,
    Detached,
}

fn random_u32() -> u32 {
    sys::random_hex64()
        .ok()
        .and_then(|h| u32::from_str_radix(&h[..8], 16).ok())
        .unwrap_or_else(std::process::id)
}

fn config_of(
    plan: &RunPlan,
    name: String,
    rootless: bool,
    files: &network::Files,
    links: Vec<LinkConf>,
) -> Config {
    let mut argv = plan.argv.iter().cloned();
    Config {
        id: plan.id.clone(),
        name,
        created: state::now_rfc3339(),
        rootfs: plan.rootfs_arg.clone(),
        rootfs_path: plan.rootfs.clone().into_os_string(),
        path: argv.next().unwrap_or_default(),
        args: argv.collect(),
        env: files.env.iter().map(|e| e.to_os()).collect(),
        hostname: files.hostname.clone(),
        user: plan.user_spec.clone(),
        uid: plan.user.uid,
        gid: plan.user.gid,
        groups: plan.user.groups.clone(),
        caps: plan.caps,
        cap_add: plan.cap_add.clone(),
        cap_drop: plan.cap_drop.clone(),
        workdir: plan.workdir.clone().into_os_string(),
        tty: plan.tty,
        interactive: plan.interactive,
        init: plan.init,
        auto_remove: plan.rm,
        detach: plan.detach,
        net: plan.net.name(),
        binds: plan.volume_specs.clone(),
        tmpfs: plan.tmpfs_specs.clone(),
        read_only: plan.read_only,
        rootless,
        user_env: plan.user_env.iter().map(|e| e.to_os()).collect(),
        exposed: plan.exposed.clone(),
        publish: plan.publish_specs.clone(),
        publish_all: plan.publish_all,
        links,
        dns: plan.dns.clone(),
        dns_search: plan.dns_search.clone(),
        labels: plan.labels.clone(),
        seccomp: plan.seccomp,
        log: plan.log.clone(),
        devices: plan
            .devices
            .iter()
            .map(|d| state::DeviceConf {
                host: d.spec.host.clone(),
                container: d.spec.container.clone(),
                perms: d.spec.perms.to_string(),
            })
            .collect(),
        privileged: plan.privileged,
        domainname: files.domainname.clone(),
        dns_options: plan.dns_options.clone(),
        group_add: plan.group_add.clone(),
        env_given: plan.env_given.clone(),
        ulimits: plan.ulimits.clone(),
        add_hosts: plan
            .add_hosts
            .iter()
            .map(|(h, a)| format!("{h}:{a}"))
            .collect(),
        restart: plan.restart,
    }
}

/// Where this process stands before a container is started: rootless, in
/// the user's user namespace (joined here), with pasta's DNS forwarding
/// address for a bridge network.
struct Host {
    rootless: bool,
    user_ns: Option<ns::UserNamespaces>,
    uid_map: ns::IdMap,
    gid_map: ns::IdMap,
    dns_via: Option<std::net::Ipv4Addr>,
}

impl Host {
    /// `bridge`: some container to start is on the bridge (rootless, pasta
    /// then runs in the host's namespaces, started before this process
    /// leaves them).
    fn enter(st: &State, bridge: bool) -> Result<Host, RunError> {
        // SAFETY: geteuid cannot fail.
        let rootless = unsafe { libc::geteuid() } != 0;
        let mut h = Host {
            rootless,
            user_ns: None,
            uid_map: Vec::new(),
            gid_map: Vec::new(),
            dns_via: None,
        };
        if rootless {
            let nss = ns::user_namespaces(st)?;
            if bridge {
                h.dns_via = crate::net::outbound::ensure(st, nss.holder.pid, nss.holder.net_ino);
            }
            let userns = ns::join_user(&nss)?;
            h.uid_map = userns.uid_map;
            h.gid_map = userns.gid_map;
            h.user_ns = Some(nss);
        }
        Ok(h)
    }

    /// The container's user and groups must be mapped (rootless); whether
    /// the tty group (5) is.
    fn check_mapped(&self, plan: &RunPlan) -> Result<bool, RunError> {
        if !self.rootless {
            return Ok(true);
        }
        let u = &plan.user;
        if !ns::id_mapped(&self.uid_map, u.uid) {
            return Err(RunError::Unmapped(
                u.uid.to_string(),
                map_text(&self.uid_map),
                ns::id_remedy(&self.uid_map, &self.uid_map),
            ));
        }
        if let Some(g) = std::iter::once(&u.gid)
            .chain(&u.groups)
            .find(|g| !ns::id_mapped(&self.gid_map, **g))
        {
            return Err(RunError::UnmappedGroup(
                *g,
                map_text(&self.gid_map),
                ns::id_remedy(&self.uid_map, &self.gid_map),
            ));
        }
        Ok(ns::id_mapped(&self.gid_map, 5))
    }
}

/// A fresh state for a container about to start under this process.
fn fresh_state() -> RunState {
    let me = std::process::id() as libc::pid_t;
    RunState {
        status: Status::Created,
        monitor_pid: me,
        monitor_start: sys::start_time(me).unwrap_or(0),
        pid: 0,
        pid_start: 0,
        exit_code: 0,
        started_at: String::new(),
        finished_at: String::new(),
        error: String::new(),
        net: None,
        device_cgroup: String::new(),
        restart_count: 0,
        boot_id: state::boot_id().to_string(),
    }
}

/// The spec as its container keeps it (`spec.json`): what start and
/// restart execute.
fn spec_bytes(plan: &RunPlan) -> Result<Vec<u8>, RunError> {
    serde_json::to_vec(plan)
        .map_err(|e| setup("recording the container's spec")(io::Error::other(e)))
}

/// Read a container's spec back.
fn read_spec(dir: &Path) -> Result<RunPlan, RunError> {
    let b = std::fs::read(dir.join("spec.json")).map_err(|e| RunError::Start {
        code: 1,
        msg: format!(
            "container {}: no spec to start it from ({}); it was made by an older rrun: remove it and run it again",
            dir.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            sys::errno_text(&e)
        ),
    })?;
    serde_json::from_slice(&b).map_err(|e| RunError::Start {
        code: 1,
        msg: format!("container {}: spec.json is corrupt: {e}", dir.display()),
    })
}

/// What a start gives back if it fails before its monitor owns it (or
/// the monitor's start fails): the network, and for a new container
/// (run) its record and name. Acts on drop unless disarmed.
struct Undo<'a> {
    st: &'a State,
    id: String,
    /// The container is new (run): its record and name go too.
    new: bool,
    /// The lease was taken (bridge).
    lease: bool,
    armed: bool,
}

impl Undo<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.lease {
            let _ = if self.new {
                crate::net::release_lease(self.st, &self.id)
            } else {
                crate::net::keep_lease(self.st, &self.id)
            };
        }
    }
}

/// Run a container (create, then start); returns the exit code for rrun
/// (the command's in the foreground, 0 once a detached container has
/// started).
pub fn run(plan: RunPlan) -> Result<i32, RunError> {
    for w in &plan.warnings {
        eprintln!("{w}");
    }
    let st = State::open()?;
    // The network of dead containers first: the sweep then removes the
    // records of those that were --rm (it keeps any whose network is not
    // given back yet, rootless ones whose rules only a run inside the
    // user's network namespace can remove).
    network::reclaim_dead(&st, crate::net::Where::Host);
    st.sweep();
    crate::cgroup::reclaim();
    let host = Host::enter(&st, plan.net == NetMode::Bridge)?;
    let tty_gid = host.check_mapped(&plan)?;
    // The name comes first: links tell the target's variables under it.
    let first = match &plan.name {
        Some(n) => n.clone(),
        None => crate::names::generate(random_u32(), random_u32()),
    };
    let prep = network::prepare(&st, &plan, &plan.id, &first, None, host.user_ns.as_ref())?;
    let undo = Undo {
        st: &st,
        id: plan.id.clone(),
        new: true,
        lease: matches!(prep, network::Prep::Bridge(_)),
        armed: true,
    };
    let (dir, files) = make_record(&st, &plan, &first, &prep, host.rootless, &host, true)?;
    let ctx = Ctx {
        st: &st,
        plan: &plan,
        prep: &prep,
        files: &files,
        rootless: host.rootless,
        tty_gid,
        new: true,
    };
    let mode = if plan.detach {
        Mode::Detached
    } else {
        Mode::Foreground
    };
    undo.disarm();
    let code = launch(&ctx, dir, mode);
    if mode == Mode::Foreground {
        crash::point("teardown");
    }
    code
}

/// Make the container's directory and take its name: with a generated
/// name, another one if it is taken. `running`: this process starts it at
/// once (a run), so the record names it as the monitor until one takes
/// over; else (create) none.
fn make_record(
    st: &State,
    plan: &RunPlan,
    first_name: &str,
    prep: &network::Prep,
    rootless: bool,
    host: &Host,
    running: bool,
) -> Result<(ContainerDir, network::Files), RunError> {
    let mut rs = fresh_state();
    if !running {
        rs.monitor_pid = 0;
        rs.monitor_start = 0;
    }
    let spec = spec_bytes(plan)?;
    let mut tries = 0;
    loop {
        let name = match (&plan.name, tries) {
            (Some(n), _) => n.clone(),
            (None, 0) => first_name.to_string(),
            (None, _) => crate::names::generate(random_u32(), random_u32()),
        };
        let files = network::render(plan, &name, prep, host.dns_via);
        let links = match prep {
            network::Prep::Bridge(_) => prep.links(),
            _ => created_links(st, plan),
        };
        let config = config_of(plan, name, rootless, &files, links);
        match ContainerDir::create(
            st,
            &NewContainer {
                config: &config,
                state: &rs,
                hosts: &files.hosts,
                hostname: &files.hostname_file,
                resolv: &files.resolv,
                spec: &spec,
            },
        ) {
            Ok(dir) => return Ok((dir, files)),
            Err(StateError::NameInUse(..)) if plan.name.is_none() && tries < 20 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The links of a container not started yet, their targets looked up by
/// name (they must exist, as Docker's create checks).
fn created_links(st: &State, plan: &RunPlan) -> Vec<LinkConf> {
    plan.links
        .iter()
        .filter_map(|l| {
            st.find(&l.target).ok().map(|r| LinkConf {
                target_id: r.config.id,
                target_name: r.config.name,
                alias: l.alias.clone(),
            })
        })
        .collect()
}

/// `rrun create`: the container's record and spec, not started; prints
/// its id.
pub fn create(plan: RunPlan) -> Result<i32, RunError> {
    for w in &plan.warnings {
        eprintln!("{w}");
    }
    let st = State::open()?;
    st.sweep();
    for l in &plan.links {
        st.find(&l.target).map_err(|e| RunError::Start {
            code: 125,
            msg: format!("could not get container for {}: {e}", l.target),
        })?;
    }
    if let NetMode::Container(t) = &plan.net {
        st.find(t).map_err(|e| RunError::Start {
            code: 125,
            msg: format!("could not get container for {t}: {e}"),
        })?;
    }
    // SAFETY: geteuid cannot fail.
    let rootless = unsafe { libc::geteuid() } != 0;
    let host = Host {
        rootless,
        user_ns: None,
        uid_map: Vec::new(),
        gid_map: Vec::new(),
        dns_via: None,
    };
    let first = match &plan.name {
        Some(n) => n.clone(),
        None => crate::names::generate(random_u32(), random_u32()),
    };
    let prep = network::Prep::None(std::net::Ipv4Addr::UNSPECIFIED);
    let (mut dir, _) = make_record(&st, &plan, &first, &prep, rootless, &host, false)?;
    dir.keep = true;
    println!("{}", plan.id);
    Ok(0)
}

/// `rrun start`: start created or stopped containers, detached (or, with
/// `attach`, one in the foreground). Each prints its name as given.
pub fn start_containers(
    names: &[String],
    attach: bool,
    interactive: bool,
) -> Result<i32, RunError> {
    let st = State::open()?;
    network::reclaim_dead(&st, crate::net::Where::Host);
    st.sweep();
    crate::cgroup::reclaim();
    if attach && names.len() > 1 {
        return Err(RunError::Start {
            code: 1,
            msg: "you cannot start and attach multiple containers at once".into(),
        });
    }
    let mut todo = Vec::new();
    let mut failed = 0;
    for n in names {
        match st.find(n) {
            Ok(r) if r.active() => println!("{n}"),
            Ok(r) => match read_spec(&r.dir) {
                Ok(p) => todo.push((n.clone(), r, p)),
                Err(e) => {
                    eprintln!("rrun: {e}");
                    failed = failed.max(e.exit_code());
                }
            },
            Err(e) => {
                eprintln!("rrun: {e}");
                failed = failed.max(e.exit_code());
            }
        }
    }
    if !todo.is_empty() {
        let bridge = todo.iter().any(|(_, _, p)| p.net == NetMode::Bridge);
        let host = Host::enter(&st, bridge)?;
        for (n, r, mut plan) in todo {
            if attach {
                plan.interactive = interactive;
            }
            match start_one(&st, &host, r, plan, attach) {
                Ok(code) if attach => return Ok(code),
                Ok(_) => println!("{n}"),
                Err(e) => {
                    eprintln!("rrun: {e}");
                    failed = failed.max(e.exit_code());
                }
            }
        }
    }
    if failed != 0 {
        return Err(RunError::Reported(failed));
    }
    Ok(0)
}

/// Start one stopped or created container from its spec: its network
/// again (its address kept), its files rewritten where they changed, a
/// monitor for it.
fn start_one(
    st: &State,
    host: &Host,
    r: state::Record,
    plan: RunPlan,
    attach: bool,
) -> Result<i32, RunError> {
    let tty_gid = host.check_mapped(&plan)?;
    let name = r.config.name.clone();
    let prefer = r.state.net.as_ref().and_then(|n| n.ip);
    let prep = network::prepare(st, &plan, &plan.id, &name, prefer, host.user_ns.as_ref())?;
    let undo = Undo {
        st,
        id: plan.id.clone(),
        new: false,
        lease: matches!(prep, network::Prep::Bridge(_)),
        armed: true,
    };
    let files = network::render(&plan, &name, &prep, host.dns_via);
    for (f, text) in [
        ("hosts", &files.hosts),
        ("hostname", &files.hostname_file),
        ("resolv.conf", &files.resolv),
    ] {
        rewrite(&r.dir.join(f), text).map_err(setup("rewriting the container's files"))?;
    }
    {
        let _lock = st.lock()?;
        let mut config = state::Record::read(&r.dir)
            .map(|r| r.config)
            .unwrap_or(r.config);
        config.env = files.env.iter().map(|e| e.to_os()).collect();
        config.hostname = files.hostname.clone();
        config.domainname = files.domainname.clone();
        if let network::Prep::Bridge(_) = prep {
            config.links = prep.links();
        }
        state::write_json(&r.dir.join("config.json"), &config)
            .map_err(setup("recording the container's configuration"))?;
    }
    let ctx = Ctx {
        st,
        plan: &plan,
        prep: &prep,
        files: &files,
        rootless: host.rootless,
        tty_gid,
        new: false,
    };
    let dir = ContainerDir {
        path: r.dir.clone(),
        keep: true,
    };
    undo.disarm();
    launch(
        &ctx,
        dir,
        if attach {
            Mode::Foreground
        } else {
            Mode::Detached
        },
    )
}

/// Write `text` to a file the container has bound, in place (a bind
/// mount holds the inode, so a container sharing it sees the change), and
/// only if it changed.
fn rewrite(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if std::fs::read(path).is_ok_and(|b| b == text.as_bytes()) {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// What every step of a start shares.
struct Ctx<'a> {
    st: &'a State,
    plan: &'a RunPlan,
    prep: &'a network::Prep,
    files: &'a network::Files,
    rootless: bool,
    tty_gid: bool,
    /// A run's new container: a failed start removes it.
    new: bool,
}

/// Give back what the network preparation took (the address; the host
/// ports close with the monitor) and, once attached, the rules.
fn give_back(c: &Ctx, ns: Option<&crate::netstate::NetState>) {
    if let network::Prep::Bridge(_) = c.prep {
        let keep = !c.new && !c.plan.rm;
        match ns {
            Some(n) => {
                let _ = crate::net::release(c.st, &c.plan.id, n, true, keep);
            }
            None if keep => {
                let _ = crate::net::keep_lease(c.st, &c.plan.id);
            }
            None => {
                let _ = crate::net::release_lease(c.st, &c.plan.id);
            }
        }
    }
}

/// Hand the container to its monitor: this process in the foreground;
/// with -d (and `start`) a child that leaves the caller's session and
/// reports back once the command has really started.
fn launch(c: &Ctx, dir: ContainerDir, mode: Mode) -> Result<i32, RunError> {
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
            c.st.release_name(&current_name(&dir.path, ""), &c.plan.id);
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
    let (st, plan) = (c.st, c.plan);
    let name = current_name(&dir.path, "");
    let _ = std::fs::remove_file(dir.file(STOP_REQUEST));
    let _ = std::fs::remove_file(dir.file(RESTART_REQUEST));
    let mut rs = fresh_state();
    if mode == Mode::Detached {
        // This process, not the caller, is the monitor now.
        let _ = dir.write_state(&rs);
    }
    crash::point("state-created");
    let mut started = match start(c, &dir, &mut rs, mode, None) {
        Ok(s) => s,
        Err(e) => {
            give_back(c, rs.net.as_ref());
            if c.new {
                st.release_name(&current_name(&dir.path, &name), &plan.id);
            } else {
                dir.keep = true;
                rs.status = Status::Exited;
                rs.exit_code = e.exit_code();
                rs.error = e.to_string();
                rs.monitor_pid = 0;
                let _ = dir.write_state(&rs);
            }
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
    let netns = started._netns.take();
    let mut last_delay = None;
    let mut restarts = 0u32;
    let mut current = Some(started);
    let code = loop {
        let ran_from = std::time::Instant::now();
        let ended = match current.take() {
            Some(s) => Ended::Exited(relay(c, mode, s, sink, forwarder.as_mut())),
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
        let asked = std::fs::remove_file(dir.file(RESTART_REQUEST)).is_ok();
        let stopped = dir.file(STOP_REQUEST).exists();
        let delay = if asked {
            std::time::Duration::ZERO
        } else if crate::restart::again(plan.restart, code, restarts, stopped) {
            restarts += 1;
            let d = crate::restart::delay(last_delay, ran_from.elapsed());
            last_delay = Some(d);
            d
        } else {
            break code;
        };
        if !asked {
            rs.restart_count = restarts;
            rs.status = Status::Restarting;
            let _ = dir.write_state(&rs);
            if !wait_restart(&dir, delay) {
                break code;
            }
        }
        let join = netns.as_ref().map(|(n, _)| n.as_raw_fd());
        match start(c, &dir, &mut rs, mode, join) {
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
    drop(netns);
    let _ = std::fs::remove_file(dir.file(STOP_REQUEST));
    if plan.rm {
        st.release_name(&current_name(&dir.path, &name), &plan.id);
        dir.keep = false;
    } else {
        let _ = dir.write_state(&rs);
    }
    Ok(code)
}

fn mark_running(dir: &ContainerDir, rs: &mut RunState) {
    rs.status = Status::Running;
    rs.started_at = state::now_rfc3339();
    rs.error.clear();
    let _ = dir.write_state(rs);
}

/// Relay one run of the container's process until it exits; its wait
/// status.
fn relay(
    c: &Ctx,
    mode: Mode,
    mut started: Started,
    sink: &mut dyn tty::Sink,
    forwarder: Option<&mut forwarder::Supervisor>,
) -> i32 {
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
    tty::relay(tty::Relay {
        pid: started.pid,
        pidfd: &started.pidfd,
        sfd: &started.sfd,
        sources,
        master: started.master.as_ref().map(|m| m.as_raw_fd()),
        stdin: mode == Mode::Foreground && plan.interactive,
        sink,
        forwarded: FORWARDED,
        aux: forwarder.map(|f| f as &mut dyn tty::Aux),
    })
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
        let mut p = libc::pollfd {
            fd: sfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r <= 0 {
            continue;
        }
        let mut info = [0u8; 128];
        // SAFETY: reading one signalfd_siginfo into a buffer of its size.
        let n = unsafe { libc::read(sfd.as_raw_fd(), info.as_mut_ptr().cast(), info.len()) };
        if n <= 0 {
            continue;
        }
        let signo = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as libc::c_int;
        if signo == libc::SIGCHLD || signo == libc::SIGWINCH {
            continue;
        }
        if std::fs::remove_file(dir.file(RESTART_REQUEST)).is_ok() {
            return true;
        }
        return false;
    }
}

/// The container's name now: `rrun rename` may have changed it since
/// the start.
fn current_name(dir: &Path, was: &str) -> String {
    crate::state::Record::read(dir)
        .map(|r| r.config.name)
        .unwrap_or_else(|_| was.to_string())
}

fn reap(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    status
}

/// Read the child's reports until its end of the sync socket closes: the
/// pty master if any, then Exec and end-of-file on success. The child is
/// reaped on failure.
pub(crate) fn await_exec(sock: &OwnedFd, pid: libc::pid_t) -> Result<Option<OwnedFd>, RunError> {
    let mut master = None;
    let mut exec_seen = false;
    loop {
        match proto::recv(sock.as_raw_fd()) {
            Ok(Some(Msg::Tty(fd))) => master = Some(fd),
            Ok(Some(Msg::Exec)) => exec_seen = true,
            Ok(Some(Msg::Error { code, msg })) => {
                reap(pid);
                return Err(RunError::Start { code, msg });
            }
            Ok(Some(Msg::Go)) => {}
            Ok(None) => break,
            Err(e) => {
                // SAFETY: killing our own child, which has not been reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                reap(pid);
                return Err(setup("waiting for the container to start")(e));
            }
        }
    }
    if !exec_seen {
        return Err(RunError::Died(describe(reap(pid))));
    }
    Ok(master)
}

/// Block the forwarded signals (and SIGCHLD) and return a signalfd for
/// them; children unblock them before exec.
pub(crate) fn signal_fd() -> Result<OwnedFd, RunError> {
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
    Ok(unsafe { OwnedFd::from_raw_fd(sfd) })
}

/// A container process that has exec'd its command.
struct Started {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    sfd: OwnedFd,
    master: Option<OwnedFd>,
    /// The read ends of the container's stdout and stderr (-d without -t).
    pipes: Option<(OwnedFd, OwnedFd)>,
    /// The write end of a detached -i container's stdin, held open.
    _stdin: Option<OwnedFd>,
    _sock: OwnedFd,
    /// The container's network namespace (bridge mode), held until its
    /// rules are removed.
    _netns: Option<(OwnedFd, Option<OwnedFd>)>,
    /// The device cgroup, removed when this drops (the container reaped).
    _devices: Option<crate::cgroup::DeviceCgroup>,
}

/// Start the container's process. `rejoin`: a restart's network namespace,
/// kept from the first run (already plugged in).
fn start(
    c: &Ctx,
    dir: &ContainerDir,
    rs: &mut RunState,
    mode: Mode,
    rejoin: Option<std::os::fd::RawFd>,
) -> Result<Started, RunError> {
    let (plan, rootless, tty_gid) = (c.plan, c.rootless, c.tty_gid);
    let join_netns = c.prep.join_fd().or(rejoin);
    // Whether the container's network namespace is one it may mount sysfs
    // for (its own, or another container's).
    let own_netns = plan.net != NetMode::Host;
    let init_fd = if plan.init {
        Some(sys::sealed_self().map_err(RunError::InitCopy)?)
    } else {
        None
    };
    let mut out_pipes = None;
    let mut in_pipe = None;
    let stdio = if plan.tty {
        let ws = match mode {
            Mode::Foreground => tty::winsize(),
            Mode::Detached => None,
        };
        child::Stdio::Tty(ws.unwrap_or(libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }))
    } else if mode == Mode::Foreground && plan.rm {
        // Nothing of a --rm container's output is kept: it writes to the
        // caller's own stdout and stderr, at full speed.
        child::Stdio::Inherit {
            interactive: plan.interactive,
        }
    } else {
        // Output through the monitor, which logs it (and, in the
        // foreground, passes it on), as Docker's attached containers do.
        let (or, ow) = sys::pipe_cloexec().map_err(setup("creating the output pipes"))?;
        let (er, ew) = sys::pipe_cloexec().map_err(setup("creating the output pipes"))?;
        let stdin = match (mode, plan.interactive) {
            (Mode::Detached, true) => {
                in_pipe = Some(sys::pipe_cloexec().map_err(setup("creating the input pipe"))?);
                in_pipe.as_ref().map(|(r, _)| r.as_raw_fd())
            }
            // The caller's own stdin.
            (Mode::Foreground, true) => Some(0),
            (_, false) => None,
        };
        let s = child::Stdio::Pipes {
            stdin,
            stdout: ow.as_raw_fd(),
            stderr: ew.as_raw_fd(),
        };
        out_pipes = Some(((or, ow), (er, ew)));
        s
    };
    let path = c
        .files
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
        },
        hostname: c.files.hostname.clone(),
        domainname: c.files.domainname.clone(),
        own_netns: own_netns && join_netns.is_none(),
        join_netns,
        stdio,
        workdir: plan.workdir.clone(),
        uid: plan.user.uid,
        gid: plan.user.gid,
        groups: plan.user.groups.clone(),
        caps: plan.caps,
        argv: cstrings(plan.argv.iter().cloned())?,
        env: cstrings(c.files.env.iter().map(|e| e.to_os()))?,
        path,
        init_fd: init_fd.as_ref().map(|f| f.as_raw_fd()),
        seccomp: if plan.seccomp {
            crate::seccomp::default_programs(plan.caps).map_err(|e| RunError::Start {
                code: 125,
                msg: e.to_string(),
            })?
        } else {
            Vec::new()
        },
        ulimits: plan.ulimits.clone(),
    };

    crate::crash::t("child-config");
    let devices = device_cgroup(plan, rs, rootless)?;
    crate::crash::t("device-cgroup");

    // Signals wait in a signalfd from here on; the child unblocks them.
    let sfd = signal_fd()?;

    let (mine, theirs) = proto::pair().map_err(setup("creating the sync socket"))?;
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if own_netns && join_netns.is_none() {
        flags |= libc::CLONE_NEWNET;
    }
    let pid = match devices.as_ref().and_then(|d| d.clone_into()) {
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
    // Keep only our ends of the stdio pipes.
    let pipes = out_pipes.map(|((or, _ow), (er, _ew))| (or, er));
    let stdin_w = in_pipe.map(|(_r, w)| w);
    let pidfd = sys::pidfd_open(pid);
    crash::point("cloned");
    rs.pid = pid;
    rs.pid_start = sys::start_time(pid).unwrap_or(0);
    if let Some(cg) = &devices {
        // Before Go: nothing of the container has run yet.
        if let Err(e) = cg.add(pid) {
            // SAFETY: killing our own child, which has not been reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            reap(pid);
            return Err(RunError::Start {
                code: 125,
                msg: e.to_string(),
            });
        }
        rs.device_cgroup = cg.path().display().to_string();
    }
    if let Err(e) = dir.write_state(rs) {
        // SAFETY: killing our own child, which has not been reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        reap(pid);
        return Err(setup("recording the container's state")(e));
    }
    let mut netns = None;
    if let (network::Prep::Bridge(b), None) = (c.prep, rejoin) {
        let attached = network::attach(c.st, b, pid, &plan.id, |n| {
            rs.net = Some(n.clone());
            dir.write_state(rs)
        });
        match attached {
            Ok(fd) => {
                // The mount namespace too: its teardown at exit (hundreds
                // of mounts, RCU grace periods) would otherwise delay the
                // removal of the container's rules.
                let mnt = sys::open(
                    std::path::Path::new(&format!("/proc/{pid}/ns/mnt")),
                    libc::O_RDONLY,
                )
                .ok();
                netns = Some((fd, mnt));
            }
            Err(e) => {
                // SAFETY: killing our own child, which has not been reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                reap(pid);
                return Err(e);
            }
        }
        crash::point("attached");
    }
    proto::send(mine.as_raw_fd(), &Msg::Go);

    let master = await_exec(&mine, pid)?;
    let pidfd = pidfd.map_err(setup("watching the container process"))?;
    Ok(Started {
        pid,
        pidfd,
        sfd,
        master,
        pipes,
        _stdin: stdin_w,
        _sock: mine,
        _netns: netns,
        _devices: devices,
    })
}

/// As root, where cgroups can be made: the container's device cgroup
/// (cgroup.rs: a v2 device program, else the v1 controller), allowing
/// Docker's default list and the --device nodes (none with --privileged,
/// which may open every device, as in Docker). Without
/// one, a --tmpfs `dev` would let a root container open what it makes
/// there: refused. Rootless there is none, and none is needed for that: a
/// user namespace's tmpfs is nodev whatever it is asked, and mknod of a
/// device fails there.
fn device_cgroup(
    plan: &RunPlan,
    rs: &RunState,
    rootless: bool,
) -> Result<Option<crate::cgroup::DeviceCgroup>, RunError> {
    if plan.privileged || rootless {
        return Ok(None);
    }
    let cg = if crate::cgroup::available() {
        let name = crate::devices::cgroup_name(&plan.id, rs.monitor_pid, rs.monitor_start);
        crate::cgroup::DeviceCgroup::create(&name, &crate::devices::allow_rules(&plan.devices))
            .map_err(|e| RunError::Start {
                code: 125,
                msg: e.to_string(),
            })?
    } else {
        None
    };
    if cg.is_none()
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
