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

/// What plugging a container in can meet, each kept with its source up to
/// the one place that prints it (125, as every failure of rrun's own).
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Net(#[from] net::NetError),
    #[error(transparent)]
    Netlink(#[from] net::netlink::NetlinkError),
    #[error(transparent)]
    Bridge(#[from] bridge::BridgeError),
    #[error(transparent)]
    Nft(#[from] nft::NftError),
    #[error("recording the container's network: {0}")]
    Record(#[source] std::io::Error),
    #[error("binding the network's resolver at 127.0.0.11:53 in the container: {0}")]
    Dns(#[source] std::io::Error),
}

impl From<net::NetError> for RunError {
    fn from(e: net::NetError) -> Self {
        RunError::Network(e.into())
    }
}

/// What the bridge mode prepared for one container.
pub struct BridgePrep {
    /// The container's name (its first name in the network's resolver).
    pub container_name: String,
    /// The default bridge, or the user-defined network.
    pub network: net::Net,
    /// --network-alias: its names on a user-defined network besides its
    /// name and short id.
    pub aliases: Vec<String>,
    pub settings: net::settings::Settings,
    pub bridge_index: u32,
    pub ip: Ipv4Addr,
    /// The lock that says the lease of `ip` is held (net::LeaseLocks):
    /// kept open by the monitor for the container's life.
    pub _lease_lock: OwnedFd,
    pub held: net::HeldPorts,
    pub link_rules: Vec<LinkRuleState>,
    pub links: Vec<LinkConf>,
    /// The running link targets, as the container's files and variables
    /// tell them.
    targets: Vec<(String, Target)>,
    pub udp_idle: std::time::Duration,
    /// Rootless: every host port is the forwarder's (kernel NAT in the
    /// user's namespace serves only hairpin traffic from containers).
    pub rootless: bool,
    /// The forwarder connects from clients' own addresses.
    pub transparent: bool,
    /// Rootless: the socket bypass's broker, in the host's network
    /// namespace (none where it is off or the kernel lacks it).
    pub bypass: Option<crate::bypass::Broker>,
}

/// --net=container:NAME: the target's network namespace and what of it the
/// container shares.
pub struct JoinPrep {
    pub netns: OwnedFd,
    /// The state directory whose hosts and resolv.conf the container shares.
    pub etc: PathBuf,
    pub hostname: String,
    pub domainname: String,
}

/// What the monitor holds of the network for a container.
pub enum Prep {
    /// No network of its own to plug in; the address --add-host's
    /// `host-gateway` stands for.
    None(Ipv4Addr),
    Bridge(Box<BridgePrep>),
    Join(JoinPrep),
}

impl Prep {
    /// The namespace to join instead of making one.
    pub fn join_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        match self {
            Prep::Join(j) => Some(j.netns.as_raw_fd()),
            _ => None,
        }
    }

    /// The resolved links (bridge mode), for the container's record.
    pub fn links(&self) -> Vec<LinkConf> {
        match self {
            Prep::Bridge(b) => b.links.clone(),
            _ => Vec::new(),
        }
    }
}

/// A running link target, as the linking container sees it.
struct Target {
    id: String,
    name: String,
    hostname: String,
    ip: Ipv4Addr,
    ip6: Option<std::net::Ipv6Addr>,
    exposed: Vec<crate::ports::Exposed>,
    user_env: Vec<OsString>,
}

fn resolve_target(
    st: &State,
    name: &str,
    linker: &str,
    alias: &str,
    network: Option<&str>,
) -> Result<Target, RunError> {
    let r = st
        .find(name)
        .map_err(|e| fail(format!("could not get container for {name}: {e}")))?;
    if !r.running() {
        return Err(fail(format!(
            "Cannot link to a non running container: /{} AS /{linker}/{alias}",
            r.config.name
        )));
    }
    let ip = r
        .state
        .net
        .as_ref()
        .filter(|n| n.network.as_deref() == network)
        .and_then(|n| n.ipv4())
        .ok_or_else(|| {
            fail(format!(
                "Cannot link to /{}, as it does not belong to the {} network",
                r.config.name,
                network.map_or("default".to_string(), |n| format!("{n:?}"))
            ))
        })?;
    let ip6 = r.state.net.as_ref().and_then(|n| n.ip6);
    let c = r.config;
    Ok(Target {
        id: c.id,
        name: c.name,
        hostname: c.hostname,
        ip,
        ip6,
        exposed: c.exposed,
        user_env: c.user_env,
    })
}

fn env_pairs(env: &[OsString]) -> Vec<(String, OsString)> {
    env.iter()
        .filter_map(|e| EnvVar::from_os(e))
        .map(|e| (e.key, e.value))
        .collect()
}

/// The container's own `/etc/hosts` line for its IPv6 address, after the
/// IPv4 one, where its network has IPv6.
fn own_ip6_line(hosts: &mut String, b: &BridgePrep, own: &HostLine) {
    if let Some(ip6) = b.settings.ip6_of(b.ip) {
        hosts.push_str(&format!("{ip6}\t{}\n", own.names.join(" ")));
    }
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

/// The files and variables a container starts with, once its network is
/// prepared and its name is known: what `render` makes of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub env: Vec<EnvVar>,
    pub hostname: String,
    pub domainname: String,
    pub hosts: String,
    pub hostname_file: String,
    pub resolv: String,
    /// --net=container: the directory whose hosts and resolv.conf it shares.
    pub shared_etc: Option<PathBuf>,
    /// A user-defined network: the servers its embedded resolver forwards
    /// other names to.
    pub dns_upstream: Vec<String>,
}

/// The container's files and variables from its spec, its name (links tell
/// the target's variables under it) and what the network prepared. `dns_via`:
/// rootless bridge, pasta's DNS forwarding address, through which a host
/// resolver on loopback is reached. Pure.
pub fn render(plan: &RunPlan, name: &str, prep: &Prep, dns_via: Option<Ipv4Addr>) -> Files {
    let resolv = match dns_via {
        Some(dns) => hosts::resolv_file_via(
            &plan.host_resolv,
            false,
            &plan.dns_flags(),
            Some(&dns.to_string()),
        ),
        None => plan.resolv_file.clone(),
    };
    let mut f = Files {
        env: plan.env.clone(),
        hostname: plan.hostname.clone(),
        domainname: plan.domainname.clone(),
        hosts: plan.hosts_file.clone(),
        hostname_file: plan.hostname_file.clone(),
        resolv,
        shared_etc: None,
        dns_upstream: Vec::new(),
    };
    match prep {
        Prep::None(gateway) => {
            // --net=none or host with --add-host: as Docker, the container
            // gets a hosts file of its own — the default block and the
            // lines, not the host's file (so that a line may override one
            // of the host's names), and no line for its own name (it has no
            // address of its own). `host-gateway` is the address of rrun's
            // bridge, where it is or would be made.
            if !plan.add_hosts.is_empty() {
                f.hosts = hosts::hosts_file(None, &add_host_lines(&plan.add_hosts, *gateway));
            }
        }
        Prep::Join(j) => {
            // Its hosts, resolv.conf, hostname and domain name too, as
            // Docker does (its own --domainname and --dns-option have no
            // effect then).
            f.shared_etc = Some(j.etc.clone());
            f.hostname = j.hostname.clone();
            f.domainname = j.domainname.clone();
            f.hostname_file = hosts::hostname_file(&f.hostname);
            f.env = crate::plan::container_env(
                &f.hostname,
                plan.tty,
                Vec::new(),
                &plan.user_env,
                &plan.user.home,
            );
        }
        Prep::Bridge(b) if !b.network.is_default() => {
            // A user-defined network: names are the embedded resolver's
            // (links too, as aliases), not the hosts file's or variables.
            // As root the resolver asks the host's servers from the host's
            // namespace (its loopback ones too); rootless, from the user's,
            // through pasta, as the container would have.
            let plain = if b.rootless {
                f.resolv.clone()
            } else {
                hosts::resolv_file_via(&plan.host_resolv, true, &plan.dns_flags(), None)
            };
            let (text, upstream) = hosts::embedded_resolv(&plain);
            f.resolv = text;
            // --internal: no query leaves the network either (DNS would be
            // a way out), as Docker does since 26.0.
            f.dns_upstream = if b.settings.internal {
                Vec::new()
            } else {
                upstream
            };
            let own = HostLine {
                ip: IpAddr::V4(b.ip),
                names: hosts::own_names(&plan.hostname, &plan.domainname),
            };
            let extra = add_host_lines(&plan.add_hosts, b.settings.gateway);
            f.hosts = hosts::hosts_file(Some(&own), &extra);
            own_ip6_line(&mut f.hosts, b, &own);
        }
        Prep::Bridge(b) => {
            // Docker's order: --add-host lines, then one line per link.
            let mut extra = add_host_lines(&plan.add_hosts, b.settings.gateway);
            let mut link_env = Vec::new();
            for (alias, t) in &b.targets {
                let mut names = vec![alias.clone(), t.hostname.clone()];
                if t.name != *alias {
                    names.push(t.name.clone());
                }
                names.dedup();
                extra.push(HostLine {
                    ip: IpAddr::V4(t.ip),
                    names: names.clone(),
                });
                if let Some(ip6) = t.ip6 {
                    extra.push(HostLine {
                        ip: IpAddr::V6(ip6),
                        names,
                    });
                }
                link_env.extend(hosts::link_env(
                    alias,
                    name,
                    IpAddr::V4(t.ip),
                    &t.exposed,
                    &env_pairs(&t.user_env),
                ));
            }
            let own = HostLine {
                ip: IpAddr::V4(b.ip),
                names: hosts::own_names(&plan.hostname, &plan.domainname),
            };
            f.hosts = hosts::hosts_file(Some(&own), &extra);
            own_ip6_line(&mut f.hosts, b, &own);
            // The user's own variables win over the link variables, as in
            // Docker.
            f.env = crate::plan::container_env(
                &plan.hostname,
                plan.tty,
                link_env
                    .into_iter()
                    .map(|(key, value)| EnvVar { key, value })
                    .collect(),
                &plan.user_env,
                &plan.user.home,
            );
        }
    }
    f
}

/// Prepare the container's network: everything that can fail for a reason
/// the user can fix, before anything of the container is made. `user_ns`:
/// rootless, the user's namespaces (the user namespace already joined); a
/// bridge-mode run joins the network namespace here, once its host ports
/// are bound. `id` and `name`: the container's; `prefer`: the address it
/// had (kept when free).
pub fn prepare(
    st: &State,
    plan: &RunPlan,
    id: &str,
    name: &str,
    prefer: Option<Ipv4Addr>,
    user_ns: Option<&crate::ns::UserNamespaces>,
) -> Result<Prep, RunError> {
    match &plan.net {
        NetMode::Bridge | NetMode::User(_) => {
            prepare_bridge(st, plan, id, name, prefer, user_ns).map(|b| Prep::Bridge(Box::new(b)))
        }
        NetMode::Container(target) => {
            let r = st
                .find(target)
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
            Ok(Prep::Join(JoinPrep {
                netns: ns,
                etc: r.dir.clone(),
                hostname: r.config.hostname.clone(),
                domainname: r.config.domainname.clone(),
            }))
        }
        NetMode::None | NetMode::Host => {
            let gateway = if plan.add_hosts.iter().any(|(_, a)| a == "host-gateway") {
                root::settings(st, &plan.net_request, user_ns.is_some())?
                    .0
                    .gateway
            } else {
                Ipv4Addr::UNSPECIFIED
            };
            Ok(Prep::None(gateway))
        }
    }
}

/// A user-defined network's existence and the run's --ip on it.
pub fn check_user_network(st: &State, plan: &RunPlan) -> Result<(), RunError> {
    if let Some(n) = plan.net.user() {
        let d = net::load_def(st, n)?;
        if let Some(ip) = plan.static_ip {
            crate::netdef::check_ip(&d, &ip).map_err(net::NetError::from)?;
        }
    }
    Ok(())
}

fn prepare_bridge(
    st: &State,
    plan: &RunPlan,
    id: &str,
    name: &str,
    prefer: Option<Ipv4Addr>,
    user_ns: Option<&crate::ns::UserNamespaces>,
) -> Result<BridgePrep, RunError> {
    crate::crash::t("prep-start");
    let def = match plan.net.user() {
        Some(n) => Some(net::load_def(st, n)?),
        None => None,
    };
    let network = net::Net::named(st, plan.net.user());
    // Rootless: the settings are chosen in the host's namespace; the
    // bridge is made once this process is in the user's.
    let (settings, mut bridge_index, fresh) = match (user_ns, &def) {
        (None, None) => {
            let (s, i) = root::ensure_root(st, &plan.net_request)?;
            (s, i, false)
        }
        (Some(_), None) => {
            if plan.net_request.bridge.is_some() {
                return Err(fail(
                    "-b/--bridge needs root: a rootless network's bridge is rrun's own, in the user's network namespace".into(),
                ));
            }
            let (s, fresh) = root::settings(st, &plan.net_request, true)?;
            (s, 0, fresh)
        }
        (None, Some(d)) => {
            let (s, fresh) = root::user_settings(&network, d, false)?;
            let i = root::ensure_network(st, &network, &s, fresh, true)?;
            (s, i, false)
        }
        (Some(_), Some(d)) => {
            let (s, fresh) = root::user_settings(&network, d, true)?;
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
            resolve_target(st, &l.target, name, &l.alias, plan.net.user())?,
        ));
    }
    let want = match (&def, plan.static_ip) {
        (Some(d), Some(ip)) => net::Want::Exact(
            crate::netdef::check_ip(d, &ip).map_err(|e| RunError::from(net::NetError::from(e)))?,
        ),
        _ => prefer.map_or(net::Want::Any, net::Want::Prefer),
    };
    let (ip, lease_lock) = net::allocate(st, &network, &settings, id, want)?;
    let give_back = |e: RunError| {
        let _ = net::release_lease(st, &network, id);
        e
    };
    if settings.internal && (!plan.publish.is_empty() || plan.publish_all) {
        eprintln!(
            "rrun: warning: network {} is internal: published ports are not published",
            network.name
        );
    }
    let requested: Vec<&crate::ports::Requested> =
        plan.publish.iter().filter(|_| !settings.internal).collect();
    let mut bindings: Vec<Binding> = requested.iter().map(|r| r.resolve(settings.ip)).collect();
    // Which have the default address: those get an IPv6 twin.
    let mut defaulted: Vec<bool> = requested.iter().map(|r| r.host_ip.is_none()).collect();
    if plan.publish_all && !settings.internal {
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
                defaulted.push(true);
            }
        }
    }
    crate::crash::t("allocated");
    if user_ns.is_some() {
        net::check_unprivileged_ports(&bindings).map_err(|e| give_back(e.into()))?;
    }
    let mut held =
        net::hold_ports(&bindings, |b| port_holder(st, b)).map_err(|e| give_back(e.into()))?;
    net::hold_shadows(&mut held, &defaulted);
    crate::crash::t("held");
    // The broker must be made while this process is still in the host's
    // network namespace: its sockets are made there.
    let bypass = match user_ns {
        // An --internal network has no way out: no bypass either.
        Some(_) if plan.outbound_bypass && !settings.internal && crate::bypass::available() => {
            let (keep, mut watch) = net::SubnetWatch::new(st, settings.subnet());
            match crate::bypass::spawn(keep, move || watch.changed()) {
                Ok(b) => Some(b),
                Err(e) => {
                    eprintln!("rrun: warning: {e}; outbound connections go through pasta");
                    None
                }
            }
        }
        _ => None,
    };
    if let Some(nss) = user_ns {
        // For good: the host ports stay bound in the host's namespace.
        crate::ns::join_net(nss).map_err(|e| give_back(e.into()))?;
        reclaim_dead(st, net::Where::UserNs);
        bridge_index = root::ensure_network(st, &network, &settings, fresh, false)
            .map_err(|e| give_back(e.into()))?;
    }
    let mut link_rules = Vec::new();
    let mut links = Vec::new();
    for (alias, t) in &targets {
        for e in &t.exposed {
            link_rules.push(LinkRuleState {
                from: ip.into(),
                to: t.ip.into(),
                port: e.port,
                proto: e.proto,
            });
        }
        links.push(LinkConf {
            target_id: t.id.clone(),
            target_name: t.name.clone(),
            alias: alias.clone(),
        });
    }
    let transparent = settings.proxy_transparent && net::transparent::record(st).active;
    Ok(BridgePrep {
        container_name: name.to_string(),
        network,
        aliases: plan.network_aliases.clone(),
        settings,
        bridge_index,
        ip,
        _lease_lock: lease_lock,
        held,
        link_rules,
        links,
        targets,
        udp_idle: plan.udp_idle,
        rootless: user_ns.is_some(),
        transparent,
        bypass,
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
) -> Result<(OwnedFd, Option<super::resolver::Sockets>), RunError> {
    let mut nl = net::netlink::Netlink::open().map_err(AttachError::from)?;
    let a = bridge::attach(&mut nl, &b.settings, b.bridge_index, pid, id, b.ip)
        .map_err(AttachError::from)?;
    // The veth pair dies with the container's network namespace, which
    // dies with the container, which dies with this process.
    crate::crash::point("veth-created");
    let kernel = net::kernel_nat(&b.settings);
    // On a user-defined network, the resolver's sockets at 127.0.0.11:53,
    // made in the container's namespace before its process can ask.
    let dns = match b.network.is_default() {
        true => None,
        false => Some(
            net::netlink::in_netns(
                std::os::fd::AsFd::as_fd(&a.netns),
                super::resolver::bind_embedded,
            )
            .map_err(AttachError::from)?
            .map_err(AttachError::Dns)?,
        ),
    };
    // Link rules are set elements (--icc=false only, with kernel NAT).
    let link_rules = if b.settings.icc || !kernel {
        Vec::new()
    } else {
        b.link_rules.clone()
    };
    let ns = NetState {
        ip: Some(b.ip.into()),
        gateway: Some(b.settings.gateway.into()),
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
        network: (!b.network.is_default()).then(|| b.network.name.clone()),
        table: if b.network.is_default() {
            String::new()
        } else {
            b.settings.table.clone()
        },
        ip6: b.settings.ip6_of(b.ip),
        gateway6: b.settings.gateway6(),
        prefix6: b.settings.subnet6.map_or(0, |n| n.prefix_len()),
        ports6: if kernel && !b.rootless && b.settings.subnet6.is_some() {
            b.held.shadows.iter().map(|(bind, _)| *bind).collect()
        } else {
            Vec::new()
        },
    };
    let _lock = st.lock()?;
    record(&ns).map_err(AttachError::Record)?;
    crate::crash::point("net-recorded");
    if !b.network.is_default() {
        let mut names = vec![
            b.container_name.to_ascii_lowercase(),
            id[..12.min(id.len())].to_string(),
        ];
        for a in &b.aliases {
            if !names.contains(a) {
                names.push(a.clone());
            }
        }
        net::dnsnames::add(
            &b.network,
            net::dnsnames::Entry {
                id: id.to_string(),
                names,
                ip: b.ip,
                ip6: b.settings.ip6_of(b.ip),
                monitor: None,
            },
        )
        .map_err(AttachError::from)?;
    }
    if ns.kernel_nat {
        nft::add_elements(&b.settings.table, &net::container_elements(&ns))
            .map_err(AttachError::from)?;
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
    Ok((a.netns, dns))
}

/// The running container that holds a host port like `b`, if any: named
/// when a run cannot publish it.
fn port_holder(st: &State, b: &Binding) -> Option<String> {
    net::Net::all(st)
        .iter()
        .flat_map(net::lease_owners)
        .collect::<Vec<_>>()
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

/// Give back the network of every container whose monitor died without
/// doing it (its process died with it). Best effort, under no lock: each
/// step is idempotent. `at`: where this process is; rules a rootless
/// container holds in the user's network namespace are given back only
/// from there.
pub fn reclaim_dead(st: &State, at: net::Where) {
    // Through the leases no live process holds, not every record: a start
    // then costs the same however many containers are kept or running.
    let owners: Vec<String> = net::Net::all(st)
        .iter()
        .flat_map(net::unheld_lease_owners)
        .collect();
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
        let _ = net::release(st, r.id(), n, false, !r.config.auto_remove);
        let mut rs = r.state.clone();
        if let Some(n) = rs.net.as_mut() {
            n.released = true;
        }
        let _ = crate::state::write_json(&r.dir.join("state.json"), &rs);
    }
}
