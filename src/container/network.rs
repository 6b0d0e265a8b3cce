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
use crate::net::{self, bridge, nft, root};
use crate::netstate::{LinkRuleState, NetState};
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
    /// The lock that says the lease of `ip` is held (net::LeaseLocks):
    /// kept open by the monitor for the container's life.
    pub _lease_lock: OwnedFd,
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
/// host's file (so that a line may override one of the host's names),
/// and no line for its own name (it has no address of its own).
/// `host-gateway` is the address of rrun's bridge, where it is or would
/// be made (Docker's is docker0's, made or not).
fn prepare_add_hosts(st: &State, plan: &mut RunPlan) -> Result<(), RunError> {
    let gateway = if plan.add_hosts.iter().any(|(_, a)| a == "host-gateway") {
        root::settings(st, &plan.net_request)?.0.gateway
    } else {
        Ipv4Addr::UNSPECIFIED
    };
    let extra = add_host_lines(&plan.add_hosts, gateway);
    plan.hosts_file = hosts::hosts_file(None, &extra);
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
            // Its hosts, resolv.conf, hostname and domain name too, as
            // Docker does (its own --domainname and --dns-option have no
            // effect then).
            plan.shared_etc = Some(r.dir.clone());
            plan.hostname = r.config.hostname.clone();
            plan.domainname = r.config.domainname.clone();
            plan.hostname_file = hosts::hostname_file(&plan.hostname);
            plan.set_env(Vec::new());
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
    let (ip, lease_lock) = net::allocate(st, &settings, &plan.id)?;
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
    let held =
        net::hold_ports(&bindings, |b| port_holder(st, b)).map_err(|e| give_back(e.into()))?;
    crate::crash::t("held");
    if let Some(nss) = user_ns {
        // For good: the host ports stay bound in the host's namespace.
        crate::ns::join_net(nss).map_err(|e| give_back(e.into()))?;
        reclaim_dead(st, net::Where::UserNs);
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
    let own = HostLine {
        ip: IpAddr::V4(ip),
        names: hosts::own_names(&plan.hostname, &plan.domainname),
    };
    plan.hosts_file = hosts::hosts_file(Some(&own), &extra);
    // The user's own variables win over the link variables, as in Docker.
    plan.set_env(
        link_env
            .into_iter()
            .map(|(key, value)| EnvVar { key, value })
            .collect(),
    );
    let transparent = settings.proxy_transparent && net::transparent::record(st).active;
    Ok(BridgePrep {
        settings,
        bridge_index,
        ip,
        _lease_lock: lease_lock,
        held,
        link_rules,
        links,
        udp_idle: plan.udp_idle,
        rootless: user_ns.is_some(),
        transparent,
    })
}

/// Plug the container process `pid` in; on failure nothing of it stays
/// but what `record` recorded (given back by the caller, or, should this
/// process die, by the next rrun). Every kernel change that outlives this
/// process (the map and set elements) is made only once `record` has
/// written what it will be, so no crash can leave one that no record owns;
/// and under the state lock, so a rebuild of the network from the records
/// (reconcile.rs) never runs between the two. Returns the container's
/// network namespace, to keep open until the rules are removed.
pub fn attach(
    st: &State,
    b: &BridgePrep,
    pid: libc::pid_t,
    id: &str,
    record: impl FnOnce(&NetState) -> std::io::Result<()>,
) -> Result<OwnedFd, RunError> {
    let mut nl = net::netlink::Netlink::open().map_err(|e| fail(e.to_string()))?;
    let a = bridge::attach(&mut nl, &b.settings, b.bridge_index, pid, id, b.ip)
        .map_err(|e| fail(e.to_string()))?;
    // The veth pair dies with the container's network namespace, which
    // dies with the container, which dies with this process.
    crate::crash::point("veth-created");
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
    let _lock = st.lock()?;
    record(&ns).map_err(|e| fail(format!("recording the container's network: {e}")))?;
    crate::crash::point("net-recorded");
    if ns.kernel_nat {
        let links: Vec<nft::LinkRule> = ns.link_rules.iter().map(|l| (*l).into()).collect();
        nft::add(b.ip, ns.nat_ports(), &links).map_err(|e| fail(e.to_string()))?;
        crate::crash::point("nft-added");
        // A client that kept sending while no mapping existed has an entry
        // that would keep its datagrams away from this container; one sent
        // to a container that is gone had its entries deleted with that
        // container's mapping, those to this host port are deleted again
        // here, whatever became of that step.
        crate::crash::t("conntrack");
        for p in ns
            .nat_ports()
            .iter()
            .filter(|p| p.proto == crate::ports::Proto::Udp)
        {
            let _ = net::conntrack::delete_udp(&[net::conntrack::Want::ToPort(p.host_port)]);
        }
        crate::crash::t("conntrack-done");
    }
    Ok(a.netns)
}

/// The running container that holds a host port like `b`, if any: named
/// when a run cannot publish it.
fn port_holder(st: &State, b: &Binding) -> Option<String> {
    net::lease_owners(st)
        .iter()
        .filter_map(|id| st.find(id).ok())
        .find(|r| {
            r.running()
                && r.state
                    .net
                    .as_ref()
                    .is_some_and(|n| !n.released && n.ports.iter().any(|p| net::ports_clash(p, b)))
        })
        .map(|r| {
            format!(
                "container {} ({})",
                r.config.name,
                &r.id()[..12.min(r.id().len())]
            )
        })
}

/// Where the container's /etc files come from when it shares another's
/// network (None: its own).
pub fn etc_dir(plan: &RunPlan) -> Option<PathBuf> {
    plan.shared_etc.clone()
}

/// Give back the network of every container whose monitor died without
/// doing it (its process died with it). Best effort, under no lock: each
/// step is idempotent. `at`: where this process is; rules a rootless
/// container holds in the user's network namespace are given back only
/// from there.
pub fn reclaim_dead(st: &State, at: net::Where) {
    // Through the leases no live process holds, not every record: a start
    // then costs the same however many containers are kept or running.
    let owners = net::unheld_lease_owners(st);
    let records: Vec<Record> = owners.iter().filter_map(|id| st.find(id).ok()).collect();
    reclaim_dead_in(st, at, &records);
}

/// [`reclaim_dead`] over records already read (ps lists them once).
pub fn reclaim_dead_in<'a>(
    st: &State,
    at: net::Where,
    records: impl IntoIterator<Item = &'a Record>,
) {
    for r in records {
        let Some(n) = &r.state.net else {
            continue;
        };
        // A rootless container's rules live in the user's network
        // namespace: given back by a run that has joined it.
        if n.kernel_nat && !at.holds_bridge(r.config.rootless) {
            continue;
        }
        if n.released
            || r.state.status != Status::Exited
            || sys::alive(r.state.monitor_pid, r.state.monitor_start)
        {
            continue;
        }
        let _ = net::release(st, r.id(), n, false);
        let mut rs = r.state.clone();
        if let Some(n) = rs.net.as_mut() {
            n.released = true;
        }
        let _ = crate::state::write_json(&r.dir.join("state.json"), &rs);
    }
}
