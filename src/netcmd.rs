//! `rrun network …`: Docker's network commands. User-defined networks are
//! created, listed, inspected, removed and pruned here (their records are
//! net::networks'); the default network keeps its own inspect, rm and
//! reload, by the name "bridge" or with no name at all.

use std::hash::{Hash, Hasher};
use std::io::Write;

use serde_json::{Value, json};

use crate::cli;
use crate::commands::{CmdError, docker_json, join_user_network, template};
use crate::net::{self, Net, NetError, networks};
use crate::netdef::{CreateArgs, NetworkDef};
use crate::state::State;

fn failed(code: i32) -> impl Fn(NetError) -> CmdError {
    move |e| CmdError::Failed {
        code,
        msg: e.to_string(),
    }
}

/// `network create`: the new network's id.
pub fn create(a: &cli::NetworkCreateArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    let req = CreateArgs {
        name: a.name.clone(),
        driver: a.driver.clone(),
        subnets: a.subnet.clone(),
        gateways: a.gateway.clone(),
        ip_ranges: a.ip_range.clone(),
        internal: a.internal,
        ipv6: a.ipv6,
        options: a.opt.clone(),
        labels: a.label.clone(),
    };
    let d = networks::create(&st, &req).map_err(failed(125))?;
    println!("{}", d.id);
    Ok(0)
}

/// A stable id for a predefined network of this state directory (Docker's
/// are random, made once by its daemon; rrun has none to keep them).
fn predefined_id(st: &State, name: &str) -> String {
    let mut out = String::new();
    for round in 0u8..4 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (st.root.as_os_str(), name, round).hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// Go's time.Time text (`2026-12-06 13:45:00.123456789 +0000 UTC`) of an
/// RFC 3339 time.
fn go_time(rfc: &str) -> String {
    match rfc.strip_suffix('Z').and_then(|t| t.split_once('T')) {
        Some((d, t)) => format!("{d} {t} +0000 UTC"),
        None => rfc.to_string(),
    }
}

fn labels_text(l: &std::collections::BTreeMap<String, String>) -> String {
    l.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One row of `network ls`, as its template sees it.
fn ls_row(id: &str, name: &str, driver: &str, d: Option<&NetworkDef>, trunc: bool) -> Value {
    let id = if trunc { &id[..12.min(id.len())] } else { id };
    json!({
        "ID": id,
        "Name": name,
        "Driver": driver,
        "Scope": "local",
        "IPv6": d.is_some_and(|d| d.subnet6.is_some()).to_string(),
        "Internal": d.is_some_and(|d| d.internal).to_string(),
        "Labels": d.map(|d| labels_text(&d.labels)).unwrap_or_default(),
        "CreatedAt": d.map(|d| go_time(&d.created)).unwrap_or_default(),
    })
}

const LS_DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

pub fn ls(a: &cli::NetworkLsArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    let mut rows: Vec<(String, Value)> = ["bridge", "host", "none"]
        .iter()
        .map(|n| {
            let driver = if *n == "none" { "null" } else { n };
            (
                n.to_string(),
                ls_row(&predefined_id(&st, n), n, driver, None, !a.no_trunc),
            )
        })
        .collect();
    for d in networks::all(&st) {
        rows.push((
            d.name.clone(),
            ls_row(&d.id, &d.name, "bridge", Some(&d), !a.no_trunc),
        ));
    }
    rows.sort_by(|x, y| x.0.cmp(&y.0));
    let mut out = String::new();
    if a.quiet {
        for (_, v) in &rows {
            out.push_str(v["ID"].as_str().unwrap_or_default());
            out.push('\n');
        }
    } else {
        let (is_table, body) =
            crate::inspect::table_format(a.format.as_deref().filter(|f| !f.is_empty()), LS_DEFAULT);
        let tpl = template(&body)?;
        let render = |v: &Value| tpl.render(v).map_err(|e| CmdError::Template(e.to_string()));
        let mut lines = Vec::new();
        if is_table {
            lines.push(render(&json!({
                "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
                "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
                "CreatedAt": "CREATED AT",
            }))?);
        }
        for (_, v) in &rows {
            lines.push(render(v)?);
        }
        out = crate::inspect::table_or_lines(&lines, is_table);
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(0)
}

/// Docker's inspect object of a user-defined network.
fn user_inspect(st: &State, d: &NetworkDef) -> Value {
    let net = Net::user(st, &d.name);
    let mut containers = serde_json::Map::new();
    for id in networks::users(st, &net) {
        let Ok(r) = st.find(&id) else { continue };
        // Its address here: the network it started on, or one it was
        // connected to since.
        let v6 = |ip: Option<std::net::Ipv6Addr>, p: u8| {
            ip.map(|a| format!("{a}/{p}")).unwrap_or_default()
        };
        let (mac, addr, addr6) = match r.attachments.iter().find(|a| a.network == d.name) {
            Some(a) => (
                a.mac.clone(),
                format!("{}/{}", a.ip, a.prefix),
                v6(a.ip6, a.prefix6),
            ),
            None => match r.state.net.as_ref().filter(|n| !n.released) {
                Some(n) => (
                    n.mac.clone(),
                    n.ip.map(|ip| format!("{ip}/{}", n.prefix))
                        .unwrap_or_default(),
                    v6(n.ip6, n.prefix6),
                ),
                None => continue,
            },
        };
        containers.insert(
            id.clone(),
            json!({
                "Name": r.config.name,
                "EndpointID": "",
                "MacAddress": mac,
                "IPv4Address": addr,
                "IPv6Address": addr6,
            }),
        );
    }
    let mut cfg = serde_json::Map::new();
    cfg.insert("Subnet".into(), json!(d.subnet.to_string()));
    if let Some(r) = d.ip_range {
        cfg.insert("IPRange".into(), json!(r.to_string()));
    }
    cfg.insert("Gateway".into(), json!(d.gateway.to_string()));
    let mut configs = vec![Value::Object(cfg)];
    if let Some(n6) = d.subnet6 {
        configs.push(json!({
            "Subnet": n6.to_string(),
            "Gateway": crate::net::settings::nth6(n6, 1).to_string(),
        }));
    }
    json!({
        "Name": d.name,
        "Id": d.id,
        "Created": d.created,
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": d.subnet6.is_some(),
        "IPAM": {"Driver": "default", "Options": {}, "Config": configs},
        "Internal": d.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": d.options,
        "Labels": d.labels,
    })
}

pub fn inspect(a: &cli::NetworkInspectArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    let names: Vec<String> = if a.names.is_empty() {
        vec!["bridge".into()]
    } else {
        a.names.clone()
    };
    let mut found = Vec::new();
    let mut code = 0;
    for n in &names {
        if n == "bridge" {
            let v = net::inspect(&st).map_err(failed(1))?;
            if !v.is_null() {
                found.push(v);
            } else if !a.names.is_empty() {
                // The default network before its first container: its
                // name is known, nothing else.
                found.push(json!({"Name": "bridge", "Driver": "bridge", "Containers": {}}));
            }
            continue;
        }
        match networks::find(&st, n) {
            Ok(d) => found.push(user_inspect(&st, &d)),
            Err(_) => {
                eprintln!("rrun: Error: No such network: {n}");
                code = 1;
            }
        }
    }
    match &a.format {
        Some(f) => {
            let tpl = template(f)?;
            for v in &found {
                println!(
                    "{}",
                    tpl.render(v)
                        .map_err(|e| CmdError::Template(e.to_string()))?
                );
            }
        }
        None => print!("{}", docker_json(&found)?),
    }
    Ok(code)
}

/// The network named on a connect/disconnect: a user-defined one (the
/// predefined ones have nothing to connect to here).
fn user_network(st: &State, name: &str) -> Result<NetworkDef, CmdError> {
    if crate::netdef::PREDEFINED.contains(&name) {
        return Err(CmdError::Failed {
            code: 125,
            msg: format!(
                "Error response from daemon: rrun connects and disconnects user-defined networks only, not {name}"
            ),
        });
    }
    networks::find(st, name).map_err(|e| CmdError::Failed {
        code: 125,
        msg: format!("Error response from daemon: {e}"),
    })
}

fn daemon_error(e: NetError) -> CmdError {
    CmdError::Failed {
        code: 125,
        msg: format!("Error response from daemon: {e}"),
    }
}

pub fn connect(a: &cli::NetworkConnectArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    if a.ip6.is_some() {
        return Err(daemon_error(crate::netdef::NetDefError::Ip6.into()));
    }
    let ip =
        a.ip.as_deref()
            .map(|v| {
                v.parse::<std::net::IpAddr>()
                    .map_err(|_| daemon_error(crate::netdef::NetDefError::Ip(v.into()).into()))
            })
            .transpose()?;
    let aliases = a
        .alias
        .iter()
        .map(|x| crate::netdef::check_alias(x).map_err(|e| daemon_error(e.into())))
        .collect::<Result<Vec<_>, _>>()?;
    let d = user_network(&st, &a.network)?;
    let r = st.find(&a.container).map_err(|e| CmdError::Failed {
        code: 125,
        msg: format!("Error response from daemon: {e}"),
    })?;
    let root = nix::unistd::geteuid().is_root();
    let at = join_user_network(&st)?;
    if !root && at == net::Where::Host {
        // No namespaces: nothing of the user's runs.
        return Err(CmdError::Failed {
            code: 125,
            msg: format!(
                "Error response from daemon: container {} is not running",
                r.config.name
            ),
        });
    }
    networks::connect(&st, &d, &r, ip, aliases, root).map_err(daemon_error)?;
    Ok(0)
}

pub fn disconnect(a: &cli::NetworkDisconnectArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    let d = user_network(&st, &a.network)?;
    let r = st.find(&a.container).map_err(|e| CmdError::Failed {
        code: 125,
        msg: format!("Error response from daemon: {e}"),
    })?;
    let at = join_user_network(&st)?;
    let here = at.holds_bridge(!nix::unistd::geteuid().is_root());
    networks::disconnect(&st, &d, &r, here).map_err(daemon_error)?;
    Ok(0)
}

/// Whether the caller said yes to `question` on stdin.
fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes")
}

pub fn prune(a: &cli::NetworkPruneArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    if !a.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?",
        )
    {
        return Ok(0);
    }
    let at = join_user_network(&st)?;
    crate::container::network::reclaim_dead(&st, at);
    let here = at.holds_bridge(!nix::unistd::geteuid().is_root());
    let mut deleted = Vec::new();
    for d in networks::all(&st) {
        if networks::remove(&st, &d, here).is_ok() {
            deleted.push(d.name);
        }
    }
    if !deleted.is_empty() {
        println!("Deleted Networks:");
        for n in deleted {
            println!("{n}");
        }
    }
    Ok(0)
}

/// `network rm`, `network reload`, and the default network's forms.
pub fn network(a: &cli::NetworkArgs) -> Result<i32, CmdError> {
    let st = State::open()?;
    match a.action.as_str() {
        "rm" | "remove" => {
            let at = join_user_network(&st)?;
            crate::container::network::reclaim_dead(&st, at);
            let here = at.holds_bridge(!nix::unistd::geteuid().is_root());
            let names: Vec<String> = if a.names.is_empty() {
                vec!["bridge".into()]
            } else {
                a.names.clone()
            };
            let mut code = 0;
            for n in &names {
                if n == "bridge" {
                    // The default network: removed when made, silently
                    // when not; in use is exit 1, as it always was.
                    if net::root::remove_network(&st, at).map_err(failed(1))? {
                        println!("bridge");
                    }
                    continue;
                }
                match networks::find(&st, n).and_then(|d| networks::remove(&st, &d, here)) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("rrun: Error response from daemon: {e}");
                        code = 125;
                    }
                }
            }
            Ok(code)
        }
        "reload" => {
            let at = join_user_network(&st)?;
            if !at.holds_bridge(!nix::unistd::geteuid().is_root()) {
                return Err(CmdError::Failed {
                    code: 125,
                    msg: "no network to reload: no container of yours has used one since the last reboot (its namespace is gone)".into(),
                });
            }
            crate::container::network::reclaim_dead(&st, at);
            let Some(report) = net::root::reload(&st).map_err(failed(1))? else {
                return Err(CmdError::Failed {
                    code: 125,
                    msg: "no network to reload: none has been made (a run with --net=bridge makes it)"
                        .into(),
                });
            };
            for id in &report.restored {
                println!("{id}");
            }
            for id in &report.lost {
                eprintln!(
                    "rrun: container {}: its network is lost (its veth was deleted); remove it and run it again",
                    &id[..12.min(id.len())]
                );
            }
            Ok(if report.lost.is_empty() { 0 } else { 1 })
        }
        other => Err(CmdError::Failed {
            code: 125,
            msg: format!(
                "unknown network command {other:?}: use create, ls, inspect, rm, prune, connect, disconnect or reload"
            ),
        }),
    }
}
