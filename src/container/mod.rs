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
mod monitor;
pub mod network;
pub mod proto;
mod resolver;
mod spawn;
pub mod tty;

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use crate::crash;
use crate::ns::{self, NsError};
use crate::plan::{NetMode, RunPlan};
use crate::state::{
    self, Config, ContainerDir, LinkConf, NewContainer, RunState, State, StateError, Status,
};
use crate::sys;
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
    /// Preparing or plugging in the container's network.
    #[error(transparent)]
    Network(#[from] network::AttachError),
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
        network_aliases: plan.network_aliases.clone(),
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
        limits: plan.limits,
        add_hosts: plan
            .add_hosts
            .iter()
            .map(|(h, a)| format!("{h}:{a}"))
            .collect(),
        restart: plan.restart,
        spec: None,
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
        limit_cgroups: Vec::new(),
        oom_killed: false,
        restart_count: 0,
        boot_id: state::boot_id().to_string(),
    }
}

/// The spec as its container's config.json keeps it: what start and
/// restart execute.
fn spec_json(plan: &RunPlan) -> Result<Box<serde_json::value::RawValue>, RunError> {
    serde_json::value::to_raw_value(plan)
        .map_err(|e| setup("recording the container's spec")(io::Error::other(e)))
}

/// A container's spec, read back from its record.
pub(super) fn read_spec(r: &state::Record) -> Result<RunPlan, RunError> {
    let raw = r.config.spec.as_ref().ok_or_else(|| RunError::Start {
        code: 1,
        msg: format!(
            "container {}: its record holds no spec to start it from (it was made by an older rrun): remove it and run it again",
            r.config.name
        ),
    })?;
    let corrupt = |why: String| RunError::Start {
        code: 1,
        msg: format!("container {}: its spec is corrupt: {why}", r.config.name),
    };
    let plan: RunPlan = serde_json::from_str(raw.get()).map_err(|e| corrupt(e.to_string()))?;
    // The id names the lease, the rules and the record the start acts on:
    // a spec edited to another's (or to a path) must not act on those.
    if plan.id != r.config.id || r.dir.file_name() != Some(std::ffi::OsStr::new(&plan.id)) {
        return Err(corrupt(format!(
            "it is the spec of another container ({:?})",
            plan.id
        )));
    }
    Ok(plan)
}

/// What a start gives back if it fails before its monitor owns it (or
/// the monitor's start fails): the network, and for a new container
/// (run) its record and name. Acts on drop unless disarmed.
struct Undo<'a> {
    st: &'a State,
    id: String,
    /// The container is new (run): its record and name go too.
    new: bool,
    /// The lease was taken (bridge): on this network.
    lease: Option<crate::net::Net>,
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
        if let Some(net) = &self.lease {
            let _ = if self.new {
                crate::net::release_lease(self.st, net, &self.id)
            } else {
                crate::net::keep_lease(self.st, net, &self.id)
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
    crash::t("state-open");
    // The network of dead containers first: the sweep then removes the
    // records of those that were --rm (it keeps any whose network is not
    // given back yet, rootless ones whose rules only a run inside the
    // user's network namespace can remove).
    network::reclaim_dead(&st, crate::net::Where::Host);
    crash::t("reclaimed");
    st.sweep();
    crash::t("swept");
    crate::cgroup::reclaim();
    crash::t("cgroups-reclaimed");
    // A network that does not exist, or an --ip it cannot give, is the
    // user's mistake: said before anything (rootless: the namespaces and
    // pasta) is made for the run.
    network::check_user_network(&st, &plan)?;
    let host = Host::enter(&st, plan.net.bridged())?;
    crash::t("entered");
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
        lease: match &prep {
            network::Prep::Bridge(b) => Some(b.network.clone()),
            _ => None,
        },
        armed: true,
    };
    crash::t("prepared");
    let (dir, files, name) = make_record(&st, &plan, &first, &prep, &prep.links(), &host, true)?;
    crash::t("recorded");
    let ctx = Ctx {
        st: &st,
        plan: &plan,
        prep: &prep,
        files: &files,
        rootless: host.rootless,
        tty_gid,
        new: true,
        name: &name,
        before: None,
    };
    let mode = if plan.detach {
        Mode::Detached
    } else {
        Mode::Foreground
    };
    undo.disarm();
    let code = monitor::launch(&ctx, dir, mode);
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
    links: &[LinkConf],
    host: &Host,
    running: bool,
) -> Result<(ContainerDir, network::Files, String), RunError> {
    let mut rs = fresh_state();
    if !running {
        rs.monitor_pid = 0;
        rs.monitor_start = 0;
    }
    let spec = spec_json(plan)?;
    let mut tries = 0;
    loop {
        let name = match (&plan.name, tries) {
            (Some(n), _) => n.clone(),
            (None, 0) => first_name.to_string(),
            (None, _) => crate::names::generate(random_u32(), random_u32()),
        };
        let files = network::render(plan, &name, prep, host.dns_via);
        let mut config = config_of(plan, name.clone(), host.rootless, &files, links.to_vec());
        config.spec = Some(spec.clone());
        match ContainerDir::create(
            st,
            &NewContainer {
                config: &config,
                state: &rs,
                hosts: &files.hosts,
                hostname: &files.hostname_file,
                resolv: &files.resolv,
            },
        ) {
            Ok(dir) => return Ok((dir, files, name)),
            Err(StateError::NameInUse(..)) if plan.name.is_none() && tries < 20 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The links of a container not started yet, their targets looked up by
/// name: they must exist, as Docker's create checks.
fn created_links(st: &State, plan: &RunPlan) -> Result<Vec<LinkConf>, RunError> {
    plan.links
        .iter()
        .map(|l| {
            let r = st.find(&l.target).map_err(|e| RunError::Start {
                code: 125,
                msg: format!("could not get container for {}: {e}", l.target),
            })?;
            Ok(LinkConf {
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
    let links = created_links(&st, &plan)?;
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
    let (mut dir, _, _) = make_record(&st, &plan, &first, &prep, &links, &host, false)?;
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
    // As Docker's CLI: each failure said as it comes (one line each, not
    // Docker's closing summary), exit 1.
    let mut failed: Vec<String> = Vec::new();
    for n in names {
        match st.find(n) {
            Ok(r) if r.active() => println!("{n}"),
            Ok(r) => match read_spec(&r) {
                Ok(p) => todo.push((n.clone(), r, p)),
                Err(e) => {
                    eprintln!("rrun: {e}");
                    failed.push(n.clone());
                }
            },
            Err(e) => {
                eprintln!("rrun: {e}");
                failed.push(n.clone());
            }
        }
    }
    if !todo.is_empty() {
        let bridge = todo.iter().any(|(_, _, p)| p.net.bridged());
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
                    failed.push(n);
                }
            }
        }
    }
    if !failed.is_empty() {
        return Err(RunError::Reported(1));
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
    // Of starts racing for this container, one starts it; the others find
    // it running (as if they came after).
    let Some(_claim) = claim_start(&r.dir)? else {
        return Ok(0);
    };
    let r = state::Record::read(&r.dir)
        .map_err(|e| RunError::State(state::StateError::Corrupt(r.config.name.clone(), e)))?;
    if r.active() {
        return Ok(0);
    }
    let name = r.config.name.clone();
    let prefer = r.state.net.as_ref().and_then(|n| n.ipv4());
    let prep = network::prepare(st, &plan, &plan.id, &name, prefer, host.user_ns.as_ref())?;
    let undo = Undo {
        st,
        id: plan.id.clone(),
        new: false,
        lease: match &prep {
            network::Prep::Bridge(b) => Some(b.network.clone()),
            _ => None,
        },
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
    record_start(st, &r, &files, &prep)?;
    let ctx = Ctx {
        st,
        plan: &plan,
        prep: &prep,
        files: &files,
        rootless: host.rootless,
        tty_gid,
        new: false,
        name: &name,
        before: Some(&r.state),
    };
    let dir = ContainerDir {
        path: r.dir.clone(),
        keep: true,
    };
    undo.disarm();
    monitor::launch(
        &ctx,
        dir,
        if attach {
            Mode::Foreground
        } else {
            Mode::Detached
        },
    )
}

/// Take the right to start the container in `dir`: a record lock on its
/// `start.lock`, which this process holds until its start has reported
/// (fcntl locks are not inherited by the forked monitor, and go with this
/// process). None: another start holds it and the container now runs.
fn claim_start(dir: &Path) -> Result<Option<OwnedFd>, RunError> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir.join("start.lock"))
        .map_err(setup("locking the container for its start"))?;
    let fd = OwnedFd::from(f);
    loop {
        // SAFETY: an all-zero flock is a valid value; a write lock on the
        // whole file.
        let mut lk: libc::flock = unsafe { std::mem::zeroed() };
        lk.l_type = libc::F_WRLCK as libc::c_short;
        lk.l_whence = libc::SEEK_SET as libc::c_short;
        let e = match nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETLK(&lk)) {
            Ok(_) => return Ok(Some(fd)),
            Err(e) => io::Error::from(e),
        };
        if !matches!(
            e.raw_os_error(),
            Some(libc::EAGAIN | libc::EACCES | libc::EINTR)
        ) {
            return Err(setup("locking the container for its start")(e));
        }
        // Held: by a start under way (then the record soon says running,
        // or the lock frees if it fails) or by `start -a`'s monitor.
        if state::Record::read(dir).is_ok_and(|r| r.active()) {
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// What a start changed of the container's record (its variables, host
/// and domain name, links), written under the state lock — and nothing
/// written when nothing changed, the case of a container off the bridge.
fn record_start(
    st: &State,
    r: &state::Record,
    files: &network::Files,
    prep: &network::Prep,
) -> Result<(), RunError> {
    let env: Vec<OsString> = files.env.iter().map(|e| e.to_os()).collect();
    let links = match prep {
        network::Prep::Bridge(_) => prep.links(),
        _ => r.config.links.clone(),
    };
    let c = &r.config;
    if c.env == env
        && c.hostname == files.hostname
        && c.domainname == files.domainname
        && c.links == links
    {
        return Ok(());
    }
    let _lock = st.lock()?;
    // Read again under the lock: `rename` may have changed it since.
    let mut config = state::Record::read(&r.dir)
        .map(|r| r.config)
        .unwrap_or_else(|_| c.clone());
    config.env = env;
    config.hostname = files.hostname.clone();
    config.domainname = files.domainname.clone();
    config.links = links;
    state::write_json(&r.dir.join("config.json"), &config)
        .map_err(setup("recording the container's configuration"))
}

/// Write `text` to a file the container has bound, in place (a bind
/// mount holds the inode, so a container sharing it sees the change), and
/// only if it changed.
fn rewrite(path: &Path, text: &str) -> io::Result<()> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    // The container may have written the file (made it 1 GiB, sparse): read
    // no more of it than could be equal.
    let mut was = Vec::with_capacity(text.len() + 1);
    let same = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .and_then(|f| f.take(text.len() as u64 + 1).read_to_end(&mut was))
        .is_ok_and(|_| was == text.as_bytes());
    if same {
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
    /// Its name when it was started (`rename` may change it since).
    name: &'a str,
    /// A stopped or created container's state before this start (what a
    /// failed start leaves it as); None for a run's new one.
    before: Option<&'a RunState>,
}

/// Give back what the network preparation took (the address; the host
/// ports close with the monitor) and, once attached, the rules.
fn give_back(c: &Ctx, ns: Option<&crate::netstate::NetState>) {
    if let network::Prep::Bridge(b) = c.prep {
        let keep = !c.new && !c.plan.rm;
        match ns {
            Some(n) => {
                let _ = crate::net::release(c.st, &c.plan.id, n, true, keep);
            }
            None if keep => {
                let _ = crate::net::keep_lease(c.st, &b.network, &c.plan.id);
            }
            None => {
                let _ = crate::net::release_lease(c.st, &b.network, &c.plan.id);
            }
        }
    }
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

pub use monitor::{RESTART_REQUEST, STOP_REQUEST};
