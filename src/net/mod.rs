//! Networking: the network's settings, IP leases, nftables rules, and
//! (rootful) the bridge and veth plumbing. This file is the part every
//! mode shares: the network's record in the state directory
//! (`network/settings.json`, `network/leases.json` and the holders' locks
//! in `network/leases.lock`), host ports held for
//! published bindings, and reclaiming what dead containers left.

pub mod bridge;
pub mod conntrack;
pub mod dnsnames;
pub mod ipam;
pub mod netlink;
pub mod networks;
pub mod nft;
pub mod nftnl;
pub mod outbound;
pub mod pasta;
pub mod reconcile;
pub mod root;
pub mod settings;
#[cfg(test)]
pub mod test_skip;
pub mod transparent;

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::netstate::NetState;
use crate::ports::{Binding, Proto};
use crate::state::{self, State, StateError};
use crate::sys;
use ipam::Leases;
pub use networks::{SubnetWatch, load_def};
use settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(
        "the network exists with other settings: {0}; remove it first with `rrun network rm` (once no container uses it)"
    )]
    Conflict(String),
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    #[error("{0}")]
    Root(String),
    #[error("{0}")]
    Nft(#[from] nft::NftError),
    #[error(
        "the network's record {0} is corrupt ({1}); once no container uses the network, move it away and rrun makes the network anew"
    )]
    Corrupt(PathBuf, String),
    #[error("reading or writing the network's record {0}: {1}")]
    Record(PathBuf, #[source] io::Error),
    #[error("no free address left in {0}")]
    Full(String),
    #[error("cannot publish {0}: {1}")]
    Port(String, String),
    #[error("the network is in use by {0} container(s): {1}; remove them first")]
    InUse(usize, String),
    #[error("Address already in use: {0}")]
    AddressInUse(String),
    #[error("network {0} not found")]
    NotFound(String),
    #[error("error while removing network: network {0} id {1} has active endpoints")]
    Active(String, String),
    #[error(transparent)]
    Def(#[from] crate::netdef::NetDefError),
}

/// The default network's directory (also where what the user's network
/// namespace has once — pasta, transparent forwarding — is recorded).
pub(crate) fn dir(st: &State) -> PathBuf {
    st.root.join("network")
}

/// The runtime directory of the user-defined networks, one subdirectory
/// each: their leases, locks, tables and name tables.
pub fn user_dir(st: &State) -> PathBuf {
    st.root.join("networks")
}

/// Where their definitions are (`network create`'s): the data directory,
/// which survives a reboot, as Docker's networks do.
pub fn defs_dir(st: &State) -> PathBuf {
    st.data.join("networks")
}

/// Which network's records: the default bridge's (`network/`) or a
/// user-defined one's (`networks/NAME/`). Each has its own settings,
/// leases, lease locks and recorded tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Net {
    /// "bridge", or the user-defined network's name.
    pub name: String,
    pub dir: PathBuf,
}

impl Net {
    pub fn bridge(st: &State) -> Net {
        Net {
            name: "bridge".into(),
            dir: dir(st),
        }
    }

    pub fn user(st: &State, name: &str) -> Net {
        Net {
            name: name.into(),
            dir: user_dir(st).join(name),
        }
    }

    /// The network a container's record says it is on.
    pub fn of(st: &State, n: &NetState) -> Net {
        match &n.network {
            Some(name) => Net::user(st, name),
            None => Net::bridge(st),
        }
    }

    /// `name` (None: the default bridge).
    pub fn named(st: &State, name: Option<&str>) -> Net {
        match name {
            Some(n) => Net::user(st, n),
            None => Net::bridge(st),
        }
    }

    /// Another user-defined network of the same state directory.
    pub fn sibling(&self, name: &str) -> Net {
        let base = if self.is_default() {
            self.dir.with_file_name("networks")
        } else {
            self.dir
                .parent()
                .map(|p| p.to_path_buf())
                .unwrap_or_default()
        };
        Net {
            name: name.into(),
            dir: base.join(name),
        }
    }

    pub fn is_default(&self) -> bool {
        self.name == "bridge"
    }

    /// Every network with records: the default, then the user-defined
    /// ones by name.
    pub fn all(st: &State) -> Vec<Net> {
        let mut out = vec![Net::bridge(st)];
        out.extend(user_names(st).iter().map(|n| Net::user(st, n)));
        out
    }

    fn leases(&self) -> PathBuf {
        self.dir.join("leases.json")
    }
}

/// The user-defined networks' names, sorted.
pub fn user_names(st: &State) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(defs_dir(st))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| crate::netdef::valid_name(n))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The files rrun keeps in [`dir`]: all that `network rm` and `system
/// reset` remove of it (the directory may be a user's own, under RRUN_ROOT).
pub const FILES: [&str; 7] = [
    "settings.json",
    "leases.json",
    "leases.lock",
    "pasta.json",
    "tables.json",
    "lost.json",
    "transparent.json",
];

/// Whether `name` is one of [`FILES`] or a temporary file of
/// state::write_atomic for one (`leases.tmpPID`).
pub fn own_file(name: &str) -> bool {
    FILES.contains(&name)
        || FILES.iter().any(|f| {
            let stem = f.trim_end_matches(".json");
            name.strip_prefix(stem)
                .and_then(|r| r.strip_prefix(".tmp"))
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// Remove rrun's files from [`dir`], then the directory if that empties it.
pub fn remove_dir(st: &State) {
    let d = dir(st);
    if let Ok(rd) = fs::read_dir(&d) {
        for ent in rd.flatten() {
            let own = own_file(&ent.file_name().to_string_lossy());
            if own && ent.file_type().is_ok_and(|t| !t.is_dir()) {
                let _ = fs::remove_file(ent.path());
            }
        }
    }
    let _ = fs::remove_dir(&d);
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(
    p: &std::path::Path,
) -> Result<Option<T>, NetError> {
    match fs::read(p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| NetError::Corrupt(p.to_path_buf(), e.to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetError::Record(p.to_path_buf(), e)),
    }
}

pub(crate) fn write_json<T: Serialize>(p: &std::path::Path, v: &T) -> Result<(), NetError> {
    state::write_json(p, v).map_err(|e| NetError::Record(p.to_path_buf(), e))
}

pub fn load_settings(st: &State) -> Result<Option<Settings>, NetError> {
    load_settings_of(&Net::bridge(st))
}

pub fn load_settings_of(net: &Net) -> Result<Option<Settings>, NetError> {
    read_json(&net.dir.join("settings.json"))
}

/// Whether kernel NAT serves this network's published ports.
pub fn kernel_nat(s: &Settings) -> bool {
    s.iptables && nft::available()
}

/// While a lease's holder lives — the run that took it, then (sharing the
/// open file description across the fork) its monitor — it write-locks the
/// byte at its address's number in `network/leases.lock` with an open file
/// description lock, which the kernel drops when the last process holding
/// it dies, SIGKILL included. So a start learns which leases may belong to
/// dead containers with one fcntl per lease, and reads only their records,
/// however many containers run (a lease without the lock, such as one taken
/// by an older rrun, is judged by its record as before).
pub struct LeaseLocks {
    fd: OwnedFd,
}

impl LeaseLocks {
    fn path(net: &Net) -> PathBuf {
        net.dir.join("leases.lock")
    }

    /// The lock file, made if missing (`create`), else None when absent.
    pub fn open(net: &Net, create: bool) -> io::Result<LeaseLocks> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(Self::path(net))?;
        Ok(LeaseLocks { fd: f.into() })
    }

    fn flock(ip: Ipv4Addr, kind: libc::c_int) -> libc::flock {
        // SAFETY: flock is plain data; zero is a valid value of every field.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = kind as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = u32::from(ip) as libc::off_t;
        fl.l_len = 1;
        fl
    }

    /// Whether a live process holds the lease of `ip` (an error: as held,
    /// so that nothing is taken back on a doubt).
    pub fn held(&self, ip: Ipv4Addr) -> bool {
        let mut fl = Self::flock(ip, libc::F_WRLCK);
        match nix::fcntl::fcntl(
            self.fd.as_raw_fd(),
            nix::fcntl::FcntlArg::F_OFD_GETLK(&mut fl),
        ) {
            Ok(_) => fl.l_type != libc::F_UNLCK as libc::c_short,
            Err(_) => true,
        }
    }

    /// Hold the lease of `ip` until the returned description's last fd
    /// closes. EAGAIN: a live process still holds it.
    fn hold(self, ip: Ipv4Addr) -> io::Result<OwnedFd> {
        let fl = Self::flock(ip, libc::F_WRLCK);
        nix::fcntl::fcntl(self.fd.as_raw_fd(), nix::fcntl::FcntlArg::F_OFD_SETLK(&fl))
            .map_err(io::Error::from)?;
        Ok(self.fd)
    }
}

/// Which address a container asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Any,
    /// The one it had, if free.
    Prefer(Ipv4Addr),
    /// --ip: this one or none.
    Exact(Ipv4Addr),
}

/// Lease an address for `id`; leases of containers that are gone are
/// taken back first. Returns the address and the lock that holds it (see
/// [`LeaseLocks`]), to keep open while the container lives.
pub fn allocate(
    st: &State,
    net: &Net,
    s: &Settings,
    id: &str,
    want: Want,
) -> Result<(Ipv4Addr, OwnedFd), NetError> {
    let (prefer, exact) = match want {
        Want::Any => (None, false),
        Want::Prefer(ip) => (Some(ip), false),
        Want::Exact(ip) => (Some(ip), true),
    };
    let _lock = st.lock()?;
    let p = net.leases();
    let lp = LeaseLocks::path(net);
    let locks = LeaseLocks::open(net, true).map_err(|e| NetError::Record(lp.clone(), e))?;
    let mut l: Leases = read_json(&p)?.unwrap_or_default();
    let held: std::collections::HashSet<String> = l
        .leases
        .iter()
        .filter(|(ip, _)| locks.held(**ip))
        .map(|(_, owner)| owner.clone())
        .collect();
    // A dead container whose network was not given back yet keeps its
    // lease: reclaim_dead finds what it holds through the lease.
    // A stopped container keeps its address while its record exists.
    let kept = l.kept.clone();
    let live = |owner: &str| {
        owner == id
            || held.contains(owner)
            || (kept.contains(owner) && st.containers().join(owner).is_dir())
            || st.find(owner).is_ok_and(|r| {
                r.state.status != state::Status::Exited
                    || r.state.net.as_ref().is_some_and(|n| !n.released)
            })
    };
    let mut tries = 0;
    let mut spare = Some(locks);
    if exact {
        // The address a container asked for: free, or already its own.
        l.release_owner(id, now());
        if let Some(ip) = prefer
            && l.leases.get(&ip).is_some_and(|o| !live(o))
        {
            l.release(ip, now());
        }
    }
    let mut again = l.reuse(s.subnet(), s.gateway, id, prefer);
    if exact && again != prefer {
        return Err(NetError::AddressInUse(
            prefer.map(|p| p.to_string()).unwrap_or_default(),
        ));
    }
    let pool = s.pool();
    let (ip, fd) = loop {
        let ip = match again.take() {
            Some(ip) => ip,
            None => l
                .allocate(pool, s.gateway, id, now(), live)
                .ok_or_else(|| NetError::Full(pool.to_string()))?,
        };
        // The description that answered the checks holds the first try's
        // lock; a retry needs one of its own.
        let attempt = match spare.take() {
            Some(f) => f.hold(ip),
            None => LeaseLocks::open(net, true).and_then(|f| f.hold(ip)),
        };
        match attempt {
            Ok(fd) => break (ip, fd),
            // Still held by a monitor finishing its teardown after giving
            // the address back: let it sit out the quarantine.
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && exact => {
                return Err(NetError::AddressInUse(ip.to_string()));
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && tries < 8 => {
                tries += 1;
                l.release_owner(id, now());
            }
            Err(e) => return Err(NetError::Record(lp, e)),
        }
    };
    write_json(&p, &l)?;
    Ok((ip, fd))
}

/// The containers holding a lease: the only ones that may hold network
/// resources, since a lease is taken first and given back last.
pub fn lease_owners(net: &Net) -> Vec<String> {
    read_json::<Leases>(&net.leases())
        .ok()
        .flatten()
        .map(|l| l.leases.into_values().collect())
        .unwrap_or_default()
}

/// The lease owners no live process holds the lease of (see
/// [`LeaseLocks`]): the only ones that may have died holding network
/// resources.
pub fn unheld_lease_owners(net: &Net) -> Vec<String> {
    let Some(l) = read_json::<Leases>(&net.leases()).ok().flatten() else {
        return Vec::new();
    };
    let locks = LeaseLocks::open(net, false).ok();
    l.leases
        .into_iter()
        .filter(|(ip, owner)| {
            !l.kept.contains(owner) && !locks.as_ref().is_some_and(|k| k.held(*ip))
        })
        .map(|(_, owner)| owner)
        .collect()
}

/// Keep `id`'s address for its next start (it stopped and was not --rm):
/// the lease stays, no longer held by a live process, and marked kept so
/// that no start reads its record to judge it.
pub fn keep_lease(st: &State, net: &Net, id: &str) -> Result<(), NetError> {
    let _lock = st.lock()?;
    let p = net.leases();
    if !net.is_default() {
        // A stopped container's name stops resolving at once.
        dnsnames::remove(net, id);
    }
    let mut l: Leases = read_json(&p)?.unwrap_or_default();
    if l.leases.values().any(|o| o == id) {
        l.kept.insert(id.to_string());
        write_json(&p, &l)?;
    }
    Ok(())
}

pub fn release_lease(st: &State, net: &Net, id: &str) -> Result<(), NetError> {
    let _lock = st.lock()?;
    let p = net.leases();
    let mut l: Leases = match read_json(&p)? {
        Some(l) => l,
        // The network was never made, or was removed: nothing to give back.
        None => return Ok(()),
    };
    l.release_owner(id, now());
    write_json(&p, &l)?;
    reconcile::forget_lost(net, id);
    if !net.is_default() {
        dnsnames::remove(net, id);
    }
    Ok(())
}

/// Give back the lease a container being removed keeps: on the network
/// its record names (the one it last started on, else the one it was
/// created for).
pub fn release_kept_lease(st: &State, r: &state::Record) {
    let net = match &r.state.net {
        Some(n) => Net::of(st, n),
        None if r.config.net == "bridge" => Net::bridge(st),
        None if crate::netdef::valid_name(&r.config.net)
            && !crate::netdef::PREDEFINED.contains(&r.config.net.as_str()) =>
        {
            Net::user(st, &r.config.net)
        }
        None => return,
    };
    let _ = release_lease(st, &net, r.id());
}

/// Host sockets that hold published ports for the container's lifetime,
/// so no other program or container can take the port. TCP ones listen at
/// once: clients that kernel NAT does not take first (the host's own
/// loopback clients, IPv6, networks without kernel NAT, rootless) wait in
/// the backlog for the forwarder. They carry SO_REUSEADDR, so that the
/// TIME_WAIT connections of a container just removed do not keep the port
/// from being published again; a listening socket still excludes every
/// other bind of the port. UDP sockets have no TIME_WAIT and no
/// SO_REUSEADDR (which would let a second UDP socket share the port).
pub struct HeldPorts {
    pub bindings: Vec<Binding>,
    /// The sockets, in the order of `bindings`.
    pub fds: Vec<OwnedFd>,
    /// IPv6 twins of the bindings on the default address (0.0.0.0): the
    /// same port on [::], so that clients that resolve localhost to ::1
    /// reach it too. Served by the forwarder; not listed (Docker's port
    /// and ps show the IPv4 binding).
    pub shadows: Vec<(Binding, OwnedFd)>,
}

/// Hold [::]:PORT beside each of `held`'s bindings that `defaulted` (the
/// address was not given) on 0.0.0.0. Best effort: a host without IPv6,
/// or a port another program holds on [::] only, has no twin.
pub fn hold_shadows(held: &mut HeldPorts, defaulted: &[bool]) {
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    for (b, d) in held.bindings.iter().zip(defaulted) {
        if !*d || b.host_ip != unspecified {
            continue;
        }
        let twin = Binding {
            host_ip: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            ..*b
        };
        if let Ok((fd, _)) = hold(&twin) {
            held.shadows.push((twin, fd));
        }
    }
}

fn hold(b: &Binding) -> io::Result<(OwnedFd, u16)> {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, listen, setsockopt,
        socket, sockopt,
    };
    let sa = SocketAddr::new(b.host_ip, b.host_port);
    let domain = match b.host_ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    let ty = match b.proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let fd = socket(domain, ty, SockFlag::SOCK_CLOEXEC, None)?;
    if domain == AddressFamily::Inet6 {
        // [::]:PORT is the IPv6 wildcard only; 0.0.0.0:PORT is its own -p.
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    if b.proto == Proto::Tcp {
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    bind(fd.as_raw_fd(), &SockaddrStorage::from(sa))?;
    if b.proto == Proto::Tcp {
        // Listening, the port checks again against every other socket
        // bound to it, SO_REUSEADDR or not: EADDRINUSE here if any.
        listen(&fd, Backlog::MAXCONN)?;
    }
    let port = sys::local_addr(fd.as_raw_fd())?.port();
    Ok((fd, port))
}

/// Which network namespace the process acting on the network is in: it
/// decides whether the bridge and its rules are within reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
    /// The host's network namespace: the bridge's and its rules' as root;
    /// rootless they are not here (they live in the user's network
    /// namespace, and a bridge of the same name here would be root's).
    Host,
    /// The user's network namespace, which this (rootless) process has
    /// joined: its bridge and rules are here.
    UserNs,
}

impl Where {
    /// Whether the network's bridge and rules of a `rootless` network are
    /// in this namespace.
    pub fn holds_bridge(self, rootless: bool) -> bool {
        match self {
            Where::UserNs => true,
            Where::Host => !rootless,
        }
    }
}

/// Rootless: host ports below net.ipv4.ip_unprivileged_port_start cannot
/// be bound; say which sysctl lets them be.
pub fn check_unprivileged_ports(bindings: &[Binding]) -> Result<(), NetError> {
    let start: u16 = fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    match bindings
        .iter()
        .find(|b| b.host_port != 0 && b.host_port < start)
    {
        Some(b) => Err(NetError::Port(
            format!(
                "{}/{}",
                crate::ports::host_port(&b.host_ip, b.host_port),
                b.proto
            ),
            format!(
                "ports below {start} are privileged on this host; without root, publish a port of {start} or above, or have root lower the limit: sysctl -w net.ipv4.ip_unprivileged_port_start={}",
                b.host_port
            ),
        )),
        None => Ok(()),
    }
}

/// Bind every binding's host port (port 0: any free one, which the kernel
/// picks from its ephemeral range). A taken port fails with its name;
/// `holder` names who holds it, when rrun knows.
pub fn hold_ports(
    bindings: &[Binding],
    holder: impl Fn(&Binding) -> Option<String>,
) -> Result<HeldPorts, NetError> {
    let mut out = Vec::new();
    let mut fds = Vec::new();
    for b in bindings {
        let (fd, port) = hold(b).map_err(|e| {
            let what = format!(
                "{}/{}",
                crate::ports::host_port(&b.host_ip, b.host_port),
                b.proto
            );
            let why = if e.raw_os_error() == Some(libc::EADDRINUSE) {
                match holder(b) {
                    Some(h) => format!("the port is already in use by {h}"),
                    None => "the port is already in use by another program".to_string(),
                }
            } else {
                sys::errno_text(&e)
            };
            NetError::Port(what, why)
        })?;
        fds.push(fd);
        out.push(Binding {
            host_port: port,
            ..*b
        });
    }
    Ok(HeldPorts {
        bindings: out,
        fds,
        shadows: Vec::new(),
    })
}

/// Whether two published ports compete for the same host socket: same
/// protocol and port, and the same address, or a wildcard of the same
/// family on either side.
pub fn ports_clash(a: &Binding, b: &Binding) -> bool {
    a.proto == b.proto
        && a.host_port == b.host_port
        && a.host_ip.is_ipv4() == b.host_ip.is_ipv4()
        && (a.host_ip == b.host_ip || a.host_ip.is_unspecified() || b.host_ip.is_unspecified())
}

/// Give back what a container holds: its map elements, its lease, and
/// its UDP conntrack entries (else a client that keeps sending stays
/// pinned to the old address, moby#8795). Best effort; returns the errors.
/// `own`: the caller is the container's monitor (whose crash at each step
/// the tests inject), not a later run reclaiming what it left.
/// `keep_lease`: the container stays (not --rm, not removed), and its
/// address with it.
pub fn release(st: &State, id: &str, n: &NetState, own: bool, keep_lease: bool) -> Vec<String> {
    let point = |stage: &str| {
        if own {
            crate::crash::point(stage)
        } else {
            crate::crash::t(stage)
        }
    };
    let mut errs = Vec::new();
    if n.released {
        return errs;
    }
    if n.kernel_nat
        && let Some(ip) = n.ipv4()
    {
        let nat_ports = n.nat_ports();
        point("release-start");
        // Recorded at attach; a record without it is the default network's.
        let table = if n.table.is_empty() {
            nft::TABLE
        } else {
            &n.table
        };
        errs.extend(nft::remove_elements(table, &container_elements(n)));
        point("nft-removed");
        for b in nat_ports.iter().filter(|b| b.proto == Proto::Udp) {
            if let Err(e) = conntrack::delete_udp(&[
                conntrack::Want::ToPort(b.host_port),
                conntrack::Want::From(ip, b.container_port),
            ]) {
                errs.push(format!(
                    "deleting conntrack entries of UDP port {}: {e}",
                    b.host_port
                ));
            }
        }
    }
    // Networks it was connected to: given back whether it stays or not.
    let dir = st.containers().join(id);
    let attached: Vec<crate::netstate::Attachment> =
        read_json(&dir.join(crate::netstate::ATTACHMENTS))
            .ok()
            .flatten()
            .unwrap_or_default();
    for a in &attached {
        if let Err(e) = release_lease(st, &Net::user(st, &a.network), id) {
            errs.push(e.to_string());
        }
    }
    if !attached.is_empty() {
        let _ = fs::remove_file(dir.join(crate::netstate::ATTACHMENTS));
    }
    let net = Net::of(st, n);
    let r = if keep_lease {
        self::keep_lease(st, &net, id)
    } else {
        release_lease(st, &net, id)
    };
    if let Err(e) = r {
        errs.push(e.to_string());
    }
    point("lease-released");
    errs
}

/// The set and map elements a container's record says it holds: its
/// IPv4 ports and link flows, and the IPv6 twins of its ports.
pub fn container_elements(n: &NetState) -> Vec<nft::Element> {
    let Some(ip) = n.ipv4() else {
        return Vec::new();
    };
    let links: Vec<nft::LinkRule> = n.link_rules.iter().filter_map(nft::LinkRule::of).collect();
    let mut v = nft::elements(ip, n.nat_ports(), &links);
    if let (Some(ip6), false) = (n.ip6, n.ports_forwarded) {
        let six: Vec<Binding> = n
            .ports6
            .iter()
            .chain(n.ports.iter().filter(|b| b.host_ip.is_ipv6()))
            .copied()
            .collect();
        v.extend(nft::elements6(ip6, &six));
    }
    v
}

/// When Docker runs on the same host its FORWARD policy DROP would win
/// over rrun's accepts: open rrun's bridge in Docker's DOCKER-USER chain,
/// with the iptables Docker uses, and close it again with the network.
pub fn docker_user(bridge: &str, add: bool) {
    let Some(ipt) = ["/usr/sbin/iptables", "/sbin/iptables"]
        .iter()
        .find(|p| std::path::Path::new(p).is_file())
    else {
        return;
    };
    let run = |args: &[&str]| {
        std::process::Command::new(ipt)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !run(&["-w", "-n", "-L", "DOCKER-USER"]) {
        return;
    }
    for dir in ["-i", "-o"] {
        let rule = [
            "DOCKER-USER",
            dir,
            bridge,
            "-m",
            "comment",
            "--comment",
            "rrun",
            "-j",
            "ACCEPT",
        ];
        let present = {
            let mut a = vec!["-w", "-C"];
            a.extend(rule);
            run(&a)
        };
        let mut a = vec!["-w", if add { "-I" } else { "-D" }];
        a.extend(rule);
        if add != present {
            run(&a);
        }
    }
}

/// `rrun network inspect`: the settings and the leases.
pub fn inspect(st: &State) -> Result<serde_json::Value, NetError> {
    let Some(s) = load_settings(st)? else {
        return Ok(serde_json::Value::Null);
    };
    let l: Leases = read_json(&Net::bridge(st).leases())?.unwrap_or_default();
    // As Docker's, the containers on the network now: a stopped one keeps
    // its address (for its next start) but is not on it.
    let containers: serde_json::Map<String, serde_json::Value> = l
        .leases
        .iter()
        .filter(|(_, id)| !l.kept.contains(*id))
        .map(|(ip, id)| {
            let name = st.find(id).map(|r| r.config.name).unwrap_or_default();
            (
                id.clone(),
                serde_json::json!({"Name": name, "IPv4Address": format!("{ip}/{}", s.prefix)}),
            )
        })
        .collect();
    let tr = transparent::record(st);
    let root = nix::unistd::geteuid().is_root();
    // Rootless: how containers reach the outside (pasta, or why not).
    let outbound = if root {
        "host".to_string()
    } else {
        match (outbound::record(st), outbound::live(st)) {
            (_, Some((pid, _))) => format!("pasta (pid {pid})"),
            (Some(r), None) if !r.unavailable.is_empty() => format!("none: {}", r.unavailable),
            _ => "none".to_string(),
        }
    };
    Ok(serde_json::json!({
        "Name": "bridge",
        "Driver": "bridge",
        "Bridge": s.bridge,
        "UserBridge": s.user_bridge,
        "Subnet": s.subnet().to_string(),
        "Gateway": s.gateway.to_string(),
        "BIP": s.bip(),
        "MTU": s.mtu,
        "ICC": s.icc,
        "IP": s.ip.to_string(),
        "IPForward": s.ip_forward,
        "IPTables": s.iptables,
        "KernelNAT": kernel_nat(&s),
        "UserlandProxySource": settings::proxy_source_name(s.proxy_transparent && tr.active),
        "UserlandProxySourceNote": tr.why,
        "Rootless": !root,
        "Outbound": outbound,
        "Containers": containers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_the_bridge_is() {
        assert!(Where::Host.holds_bridge(false));
        assert!(!Where::Host.holds_bridge(true));
        assert!(Where::UserNs.holds_bridge(true));
        assert!(Where::UserNs.holds_bridge(false));
    }

    #[test]
    fn ports_clash_as_sockets_do() {
        let b = |ip: &str, port: u16, proto: Proto| Binding {
            host_ip: ip.parse().unwrap_or(crate::ports::ANY_V4),
            host_port: port,
            container_port: 80,
            proto,
        };
        let t = Proto::Tcp;
        assert!(ports_clash(&b("0.0.0.0", 80, t), &b("0.0.0.0", 80, t)));
        assert!(ports_clash(&b("0.0.0.0", 80, t), &b("10.0.0.1", 80, t)));
        assert!(ports_clash(&b("10.0.0.1", 80, t), &b("0.0.0.0", 80, t)));
        assert!(ports_clash(&b("10.0.0.1", 80, t), &b("10.0.0.1", 80, t)));
        assert!(!ports_clash(&b("10.0.0.1", 80, t), &b("10.0.0.2", 80, t)));
        assert!(!ports_clash(&b("0.0.0.0", 80, t), &b("0.0.0.0", 81, t)));
        assert!(!ports_clash(
            &b("0.0.0.0", 80, t),
            &b("0.0.0.0", 80, Proto::Udp)
        ));
        assert!(!ports_clash(&b("0.0.0.0", 80, t), &b("::", 80, t)));
        assert!(!ports_clash(&b("::1", 80, t), &b("0.0.0.0", 80, t)));
        assert!(ports_clash(&b("::", 80, t), &b("::1", 80, t)));
    }
}
