//! A container's network, from the monitor's side: before the clone,
//! everything that can fail for a reason the user can fix (the network's
//! settings, link targets, an address, host ports) is prepared; after the
//! clone, the container is plugged in before it is told to go; at exit
//! (or, if its monitor died, at the next rrun call) all of it is given back.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::RunError;
use crate::hosts::{self, HostLine};
use crate::net::{self, LinkRuleState, NetState, bridge, nft, root};
use crate::plan::{NetMode, RunPlan};
use crate::ports::Binding;
use crate::spec::EnvVar;
use crate::state::{LinkConf, Record, State, Status};
use crate::sys;

fn fail(msg: String) -> RunError {
    RunError::Start { code: 125, msg }
}

impl From<net::NetError> for RunError {
    fn from(e: net::NetError) -> Self {
        fail(e.to_string())
    }
}

/// What the bridge mode prepared for one container.
pub struct BridgePrep {
    pub settings: net::settings::Settings,
    pub bridge_index: u32,
    pub ip: Ipv4Addr,
    pub held: net::HeldPorts,
    pub link_rules: Vec<LinkRuleState>,
    pub links: Vec<LinkConf>,
    pub udp_idle: std::time::Duration,
    /// Rootless: every host port is the forwarder's (kernel NAT in the
    /// user's namespace serves only hairpin traffic from containers).
    pub rootless: bool,
    /// The forwarder connects from clients' own addresses.
    pub transparent: bool,
}

/// What the monitor holds of the network for a container.
pub enum Prep {
    None,
    Bridge(Box<BridgePrep>),
    /// --net=container:NAME: the target's network namespace, to join.
    Join(OwnedFd),
}

/// A running link target, resolved.
struct Target {
    record: Record,
    ip: Ipv4Addr,
}

fn resolve_target(st: &State, name: &str, linker: &str, alias: &str) -> Result<Target, RunError> {
    let r = st
        .find(name)
        .map_err(|e| fail(format!("could not get container for {name}: {e}")))?;
    if !r.running() {
        return Err(fail(format!(
            "Cannot link to a non running container: /{} AS /{linker}/{alias}",
            r.config.name
        )));
    }
    let ip = r.state.net.as_ref().and_then(|n| n.ip).ok_or_else(|| {
        fail(format!(
            "cannot link to container {}: it is not on the bridge network (--net={})",
            r.config.name, r.config.net
        ))
    })?;
    Ok(Target { record: r, ip })
}

fn env_pairs(env: &[OsString]) -> Vec<(String, OsString)> {
    env.iter()
        .filter_map(|e| EnvVar::from_os(e))
        .map(|e| (e.key, e.value))
        .collect()
}

/// --add-host lines; `host-gateway` is `gateway`.
fn add_host_lines(add_hosts: &[(String, String)], gateway: Ipv4Addr) -> Vec<HostLine> {
    add_hosts
        .iter()
        .map(|(h, addr)| HostLine {
            ip: if addr == "host-gateway" {
                IpAddr::V4(gateway)
            } else {
                addr.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
            },
            names: vec![h.clone()],
        })
        .collect()
}

/// --net=none or host with --add-host: as Docker, the container gets a
/// hosts file of its own — the default block and the lines, not the
/// host's file (so that a line may override one of the host's names).
/// `host-gateway` is the address of rrun's bridge, where it is or would
/// be made (Docker's is docker0's, made or not).
fn prepare_add_hosts(st: &State, plan: &mut RunPlan) -> Result<(), RunError> {
    let gateway = if plan.add_hosts.iter().any(|(_, a)| a == "host-gateway") {
        root::settings(st, &plan.net_request)?.0.gateway
    } else {
        Ipv4Addr::UNSPECIFIED
    };
    let extra = add_host_lines(&plan.add_hosts, gateway);
    plan.hosts_file = hosts::hosts_file(&plan.hostname, None, &extra);
    Ok(())
}

/// Prepare the container's network and fill in what depends on it: the
/// hosts file, link variables, the name the container will have for links.
/// `user_ns`: rootless, the user's namespaces (the user namespace already
/// joined); a bridge-mode run joins the network namespace here, once its
/// host ports are bound.
pub fn prepare(
    st: &State,
    plan: &mut RunPlan,
    name: &str,
    user_ns: Option<&crate::ns::UserNamespaces>,
) -> Result<Prep, RunError> {
    match plan.net.clone() {
        NetMode::Bridge => {
            prepare_bridge(st, plan, name, user_ns).map(|b| Prep::Bridge(Box::new(b)))
        }
        NetMode::Container(target) => {
            let r = st
                .find(&target)
                .map_err(|e| fail(format!("could not get container for {target}: {e}")))?;
            if !r.running() {
                return Err(fail(format!(
                    "cannot join network of a non running container: {}",
                    r.id()
                )));
            }
            let ns = sys::open(
                Path::new(&format!("/proc/{}/ns/net", r.state.pid)),
                libc::O_RDONLY,
            )
            .map_err(|e| {
                fail(format!(
                    "joining the network of {target}: {}",
                    sys::errno_text(&e)
                ))
            })?;
            if !sys::alive(r.state.pid, r.state.pid_start) {
                return Err(fail(format!(
                    "cannot join network of a non running container: {}",
                    r.id()
                )));
            }
            // Its hosts, resolv.conf and hostname too, as Docker does.
            plan.shared_etc = Some(r.dir.clone());
            plan.hostname = r.config.hostname.clone();
            plan.hostname_file = hosts::hostname_file(&plan.hostname);
            for e in plan.env.iter_mut().filter(|e| e.key == "HOSTNAME") {
                e.value = plan.hostname.clone().into();
            }
            Ok(Prep::Join(ns))
        }
        NetMode::None | NetMode::Host => {
            if !plan.add_hosts.is_empty() {
                prepare_add_hosts(st, plan)?;
            }
            Ok(Prep::None)
        }
    }
}

fn prepare_bridge(
    st: &State,
    plan: &mut RunPlan,
    name: &str,
    user_ns: Option<&crate::ns::UserNamespaces>,
) -> Result<BridgePrep, RunError> {
    crate::crash::t("prep-start");
    // Rootless: the settings are chosen in the host's namespace; the
    // bridge is made once this process is in the user's.
    let (settings, mut bridge_index, fresh) = match user_ns {
        None => {
            let (s, i) = root::ensure_root(st, &plan.net_request)?;
            (s, i, false)
        }
        Some(_) => {
            if plan.net_request.bridge.is_some() {
                return Err(fail(
                    "-b/--bridge needs root: a rootless network's bridge is rrun's own, in the user's network namespace".into(),
                ));
            }
            let (s, fresh) = root::settings(st, &plan.net_request)?;
            (s, 0, fresh)
        }
    };
    crate::crash::t("ensured");
    // Link targets first: an unknown one is the user's mistake, found
    // before anything is taken.
    let mut targets = Vec::new();
    for l in &plan.links {
        targets.push((
            l.alias.clone(),
            resolve_target(st, &l.target, name, &l.alias)?,
        ));
    }
    let ip = net::allocate(st, &settings, &plan.id)?;
    let give_back = |e: RunError| {
        let _ = net::release_lease(st, &plan.id);
        e
    };
    let mut bindings: Vec<Binding> = plan
        .publish
        .iter()
        .map(|r| r.resolve(settings.ip))
        .collect();
    if plan.publish_all {
        for e in &plan.exposed {
            if !bindings
                .iter()
                .any(|b| b.container_port == e.port && b.proto == e.proto)
            {
                bindings.push(Binding {
                    host_ip: settings.ip,
                    host_port: 0,
                    container_port: e.port,
                    proto: e.proto,
                });
            }
        }
    }
    crate::crash::t("allocated");
    if user_ns.is_some() {
        net::check_unprivileged_ports(&bindings).map_err(|e| give_back(e.into()))?;
    }
    let held = net::hold_ports(&bindings).map_err(|e| give_back(e.into()))?;
    crate::crash::t("held");
    if let Some(nss) = user_ns {
        // For good: the host ports stay bound in the host's namespace.
        crate::ns::join_net(nss).map_err(|e| give_back(e.into()))?;
        reclaim_dead(st);
        bridge_index =
            root::ensure_network(st, &settings, fresh, false).map_err(|e| give_back(e.into()))?;
    }

    // Docker's order: --add-host lines, then one line per link.
    let mut extra = add_host_lines(&plan.add_hosts, settings.gateway);
    let mut link_env = Vec::new();
    let mut link_rules = Vec::new();
    let mut links = Vec::new();
    for (alias, t) in &targets {
        let c = &t.record.config;
        let mut names = vec![alias.clone(), c.hostname.clone()];
        if c.name != *alias {
            names.push(c.name.clone());
        }
        names.dedup();
        extra.push(HostLine {
            ip: IpAddr::V4(t.ip),
            names,
        });
        link_env.extend(hosts::link_env(
            alias,
            name,
            IpAddr::V4(t.ip),
            &c.exposed,
            &env_pairs(&c.user_env),
        ));
        for e in &c.exposed {
            link_rules.push(LinkRuleState {
                from: ip,
                to: t.ip,
                port: e.port,
                proto: e.proto,
            });
        }
        links.push(LinkConf {
            target_id: c.id.clone(),
            target_name: c.name.clone(),
            alias: alias.clone(),
        });
    }
    plan.hosts_file = hosts::hosts_file(&plan.hostname, Some(IpAddr::V4(ip)), &extra);
    crate::spec::merge_env(
        &mut plan.env,
        link_env
            .into_iter()
            .map(|(key, value)| EnvVar { key, value }),
    );
    let transparent = settings.proxy_transparent && net::transparent::record(st).active;
    Ok(BridgePrep {
        settings,
        bridge_index,
        ip,
        held,
        link_rules,
        links,
        udp_idle: plan.udp_idle,
        rootless: user_ns.is_some(),
        transparent,
    })
}

/// Plug the container process `pid` in; on failure nothing of it stays.
/// Returns what it holds and its network namespace, to keep open until
/// the rules are removed.
pub fn attach(b: &BridgePrep, pid: libc::pid_t, id: &str) -> Result<(NetState, OwnedFd), RunError> {
    let mut nl = net::netlink::Netlink::open().map_err(|e| fail(e.to_string()))?;
    let a = bridge::attach(&mut nl, &b.settings, b.bridge_index, pid, id, b.ip)
        .map_err(|e| fail(e.to_string()))?;
    crate::crash::t("veth");
    let kernel = net::kernel_nat(&b.settings);
    // Link rules are set elements (--icc=false only, with kernel NAT).
    let link_rules = if b.settings.icc || !kernel {
        Vec::new()
    } else {
        b.link_rules.clone()
    };
    let ns = NetState {
        ip: Some(b.ip),
        gateway: Some(b.settings.gateway),
        prefix: b.settings.prefix,
        mac: bridge::mac_text(a.mac),
        bridge: b.settings.bridge.clone(),
        veth: a.veth,
        ports: b.held.bindings.clone(),
        // Rootless with nothing in nft: given back without joining the
        // user's network namespace.
        kernel_nat: kernel && !(b.rootless && link_rules.is_empty()),
        link_rules,
        // Rootless, the forwarder serves hairpin traffic too: no map
        // element to add now or (what costs: nf_tables frees deleted
        // elements after an RCU grace period, which closing the netlink
        // socket waits for) to delete at exit.
        ports_forwarded: b.rootless,
        released: false,
    };
    if ns.kernel_nat {
        let links: Vec<nft::LinkRule> = ns.link_rules.iter().map(|l| (*l).into()).collect();
        nft::add(b.ip, ns.nat_ports(), &links).map_err(|e| fail(e.to_string()))?;
        // A client that kept sending while no mapping existed has an entry
        // that would keep its datagrams away from this container.
        for p in ns
            .nat_ports()
            .iter()
            .filter(|p| p.proto == crate::ports::Proto::Udp)
        {
            let _ = net::conntrack::delete_udp(p.host_port, b.ip, p.container_port);
        }
    }
    Ok((ns, a.netns))
}

/// The userspace forwarder of a container: a child of its monitor that
/// serves the published ports kernel NAT does not (IPv6 host addresses,
/// or a network without kernel NAT), with one epoll loop for all of them.
/// It stops when the monitor closes its end of the stop pipe (or dies).
pub struct Forwarder {
    pid: libc::pid_t,
    _stop: OwnedFd,
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        // The stop pipe closes with `_stop` after this body; kill instead
        // of waiting for the loop to notice, then reap.
        // SAFETY: signalling and reaping our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// Start the forwarder for the bindings kernel NAT leaves to it, if any.
pub fn spawn_forwarder(b: &BridgePrep) -> Result<Option<Forwarder>, RunError> {
    use std::os::fd::{AsFd, AsRawFd, FromRawFd};
    let kernel = net::kernel_nat(&b.settings);
    let mut served: Vec<RawFdPort> = b
        .held
        .bindings
        .iter()
        .zip(&b.held.fds)
        .filter(|(bind, _)| b.rootless || !(kernel && bind.host_ip.is_ipv4()))
        .map(|(bind, fd)| RawFdPort {
            fd: fd.as_raw_fd(),
            proto: bind.proto,
            target: std::net::SocketAddr::new(IpAddr::V4(b.ip), bind.container_port),
            hairpin: false,
        })
        .collect();
    // Rootless hairpin: a container reaching a published port through the
    // host's address reaches the user's namespace, where pasta put that
    // address. The same port bound there (this process is in that
    // namespace) serves it. Best effort: an address not copied there, or
    // 127.0.0.1 (a container's loopback is its own), has no hairpin.
    let mut hairpin_fds = Vec::new();
    if b.rootless {
        for bind in &b.held.bindings {
            let IpAddr::V4(a) = bind.host_ip else {
                continue;
            };
            if a.is_loopback() {
                continue;
            }
            if let Ok(h) = net::hold_ports(std::slice::from_ref(bind)) {
                for fd in h.fds {
                    served.push(RawFdPort {
                        fd: fd.as_raw_fd(),
                        proto: bind.proto,
                        target: std::net::SocketAddr::new(IpAddr::V4(b.ip), bind.container_port),
                        hairpin: true,
                    });
                    hairpin_fds.push(fd);
                }
            }
        }
    }
    if served.is_empty() {
        return Ok(None);
    }
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills fds with two new descriptors.
    sys::cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })
        .map_err(|e| fail(format!("starting the port forwarder: {e}")))?;
    // SAFETY: both fds are new and ours.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the monitor is single-threaded; the child serves and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(fail(format!(
            "starting the port forwarder: {}",
            std::io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        drop(w);
        // SAFETY: process attributes of this child only.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            libc::prctl(libc::PR_SET_NAME, c"rrun-forward".as_ptr());
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null >= 0 {
                libc::dup2(null, 0);
                libc::dup2(null, 1);
                libc::close(null);
            }
            // Connections are fds: as many as the hard limit allows.
            let mut rl: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
                rl.rlim_cur = rl.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            }
        }
        // Hold nothing of the monitor's but the ports and the stop pipe: a
        // copy of the report pipe of -d would keep the caller waiting.
        let keep: Vec<i32> = served.iter().map(|p| p.fd).chain([r.as_raw_fd()]).collect();
        if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
            let open: Vec<i32> = rd
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                .collect();
            for fd in open {
                if fd > 2 && !keep.contains(&fd) {
                    // SAFETY: closing a descriptor this child inherited and
                    // does not use.
                    unsafe { libc::close(fd) };
                }
            }
        }
        let ports: Vec<crate::forward::Port> = served
            .iter()
            .filter_map(|p| {
                // SAFETY: dup of a socket we hold; the copy is owned here.
                let fd = unsafe { libc::fcntl(p.fd, libc::F_DUPFD_CLOEXEC, 3) };
                (fd >= 0).then(|| crate::forward::Port {
                    // SAFETY: fd was just made by F_DUPFD_CLOEXEC.
                    fd: unsafe { OwnedFd::from_raw_fd(fd) },
                    proto: match p.proto {
                        crate::ports::Proto::Tcp => crate::forward::Proto::Tcp,
                        crate::ports::Proto::Udp => crate::forward::Proto::Udp,
                    },
                    target: p.target,
                    hairpin: p.hairpin,
                })
            })
            .collect();
        let opts = crate::forward::Options {
            udp_idle: b.udp_idle,
            transparent: b.transparent,
            ..Default::default()
        };
        let code = match crate::forward::serve(ports, r.as_fd(), &opts) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("rrun: port forwarder: {e}");
                1
            }
        };
        // SAFETY: ending the forwarder without the monitor's handlers.
        unsafe { libc::_exit(code) }
    }
    // The forwarder has its copies.
    drop(hairpin_fds);
    Ok(Some(Forwarder { pid, _stop: w }))
}

struct RawFdPort {
    fd: std::os::fd::RawFd,
    proto: crate::ports::Proto,
    target: std::net::SocketAddr,
    hairpin: bool,
}

/// Where the container's /etc files come from when it shares another's
/// network (None: its own).
pub fn etc_dir(plan: &RunPlan) -> Option<PathBuf> {
    plan.shared_etc.clone()
}

/// Give back the network of every container whose monitor died without
/// doing it (its process died with it). Best effort, under no lock: each
/// step is idempotent.
pub fn reclaim_dead(st: &State) {
    // Through the leases, not every record: a start then costs the same
    // however many exited containers are kept.
    let owners = net::lease_owners(st);
    let records: Vec<Record> = owners.iter().filter_map(|id| st.find(id).ok()).collect();
    reclaim_dead_in(st, &records);
}

/// [`reclaim_dead`] over records already read (ps lists them once).
pub fn reclaim_dead_in<'a>(st: &State, records: impl IntoIterator<Item = &'a Record>) {
    for r in records {
        let Some(n) = &r.state.net else {
            continue;
        };
        // A rootless container's rules live in the user's network
        // namespace: given back by a run that has joined it.
        if r.config.rootless && n.kernel_nat && !net::in_network_ns() {
            continue;
        }
        if n.released
            || r.state.status != Status::Exited
            || sys::alive(r.state.monitor_pid, r.state.monitor_start)
        {
            continue;
        }
        let _ = net::release(st, r.id(), n);
        let mut rs = r.state.clone();
        if let Some(n) = rs.net.as_mut() {
            n.released = true;
        }
        let _ = crate::state::write_json(&r.dir.join("state.json"), &rs);
    }
}
