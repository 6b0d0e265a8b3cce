//! What `inspect` and `ps` show of a container record, in Docker's shapes
//! (as Docker 20.10 prints them): the inspect JSON, ps's columns, human
//! durations and tab-aligned tables. Pure: the caller passes the record and
//! the current time. Bytes that are not UTF-8 (in a command, an env value,
//! a path) show in inspect's JSON as U+FFFD, as Go's JSON encoder writes
//! them, and escaped (`\xe9`) in ps's COMMAND, as Go's strconv.Quote.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use serde_json::{Value, json};

use crate::goquote::{self, Unit};
use crate::ports::{self, Binding, Exposed};
use crate::state::{Record, Status, ZERO_TIME, parse_rfc3339};

fn or_zero(t: &str) -> &str {
    if t.is_empty() { ZERO_TIME } else { t }
}

fn list_or_null(v: &[String]) -> Value {
    if v.is_empty() { Value::Null } else { json!(v) }
}

fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

fn lossy_all(v: &[OsString]) -> Vec<String> {
    v.iter().map(|s| lossy(s)).collect()
}

/// Docker's map of port → bindings: {"80/tcp": [{"HostIp": .., "HostPort": ..}]},
/// keys in Docker's (Go's JSON) order: as strings.
fn port_map(bindings: &[Binding], exposed: &[Exposed]) -> Value {
    let mut m = std::collections::BTreeMap::new();
    for e in exposed {
        m.insert(e.to_string(), Value::Null);
    }
    for b in bindings {
        let k = format!("{}/{}", b.container_port, b.proto);
        let entry = json!({"HostIp": b.host_ip.to_string(), "HostPort": b.host_port.to_string()});
        match m.get_mut(&k) {
            Some(Value::Array(a)) => a.push(entry),
            _ => {
                m.insert(k, json!([entry]));
            }
        }
    }
    Value::Object(m.into_iter().collect())
}

/// A container's exposed ports and bindings as Docker lists them: only
/// while it runs on the bridge (a stopped container, or one on the host's
/// network or none, has none).
/// Whether a container of network mode `net` (inspect's NetworkMode) has
/// an interface on one of rrun's bridges: the default or a user-defined
/// network.
pub fn bridged(net: &str) -> bool {
    !matches!(net, "host" | "none") && !net.starts_with("container:")
}

fn live_ports(r: &Record) -> Option<(&[Exposed], Vec<Binding>)> {
    if r.state.status != Status::Running || !bridged(&r.config.net) {
        return None;
    }
    let bound = match &r.state.net {
        Some(n) if !n.released => n.ports.clone(),
        _ => Vec::new(),
    };
    Some((&r.config.exposed, bound))
}

/// HostConfig.PortBindings: the -p specs as written (-P adds none), with
/// "" for a host address or port left out, as Docker keeps them.
fn port_bindings(specs: &[String]) -> Value {
    let mut m = std::collections::BTreeMap::new();
    for r in specs
        .iter()
        .filter_map(|p| ports::parse_requested(p).ok())
        .flatten()
    {
        let entry = json!({
            "HostIp": r.host_ip.map(|i| i.to_string()).unwrap_or_default(),
            "HostPort": r.host_port.map(|p| p.to_string()).unwrap_or_default(),
        });
        match m
            .entry(format!("{}/{}", r.container_port, r.proto))
            .or_insert_with(|| json!([]))
        {
            Value::Array(a) => a.push(entry),
            v => *v = json!([entry]),
        }
    }
    Value::Object(m.into_iter().collect())
}

/// "/db:/web/db": the links of `r`, as Docker's HostConfig.Links.
fn links(r: &Record) -> Value {
    // Docker prints a Go slice: [] when empty, not <nil>.
    json!(
        r.config
            .links
            .iter()
            .map(|l| format!("/{}:/{}/{}", l.target_name, r.config.name, l.alias))
            .collect::<Vec<_>>()
    )
}

/// Go's filepath.Clean of an absolute path, on bytes: no empty or `.`
/// components, `..` taken back lexically, no trailing '/'.
fn clean_abs(p: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in p.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::with_capacity(p.len());
    for c in &parts {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Docker's Mounts of the -v binds (a --tmpfs is in HostConfig.Tmpfs
/// only, as in Docker): paths cleaned, Mode the options as written.
fn mounts(binds: &[OsString]) -> Value {
    let list: Vec<Value> = binds
        .iter()
        .filter_map(|raw| {
            let v = crate::spec::parse_volume(raw).ok()?;
            let mode = raw
                .as_bytes()
                .splitn(3, |&b| b == b':')
                .nth(2)
                .unwrap_or(b"");
            Some(json!({
                "Type": "bind",
                "Source": lossy(OsStr::from_bytes(&clean_abs(v.src.as_os_str().as_bytes()))),
                "Destination": lossy(v.dst.as_os_str()),
                "Mode": lossy(OsStr::from_bytes(mode)),
                "RW": !v.readonly,
                "Propagation": "rprivate",
            }))
        })
        .collect();
    Value::Array(list)
}

/// What `inspect -f` templates see: the inspect object, plus what
/// Docker's CLI finds in its typed structure but its JSON leaves out —
/// `State.Health`, nil without a health check.
pub fn template_view(mut v: Value) -> Value {
    if let Some(Value::Object(state)) = v.get_mut("State") {
        state.entry("Health").or_insert(Value::Null);
    }
    v
}

/// The inspect object of one container, shaped like Docker's.
pub fn inspect(r: &Record) -> Value {
    let c = &r.config;
    let s = &r.state;
    let running = s.status == Status::Running;
    let file = |f: &str| r.dir.join(f).display().to_string();
    let mut cmd = vec![lossy(&c.path)];
    cmd.extend(lossy_all(&c.args));
    let tmpfs: serde_json::Map<String, Value> = lossy_all(&c.tmpfs)
        .iter()
        .map(|t| {
            let (d, o) = t.split_once(':').unwrap_or((t, ""));
            (d.to_string(), json!(o))
        })
        .collect();
    let net = s.net.clone().unwrap_or_default();
    let live_net = running && !net.released;
    // An address while the container's network is live, else "".
    fn shown(a: Option<impl std::fmt::Display>, live: bool) -> String {
        a.filter(|_| live)
            .map(|a| a.to_string())
            .unwrap_or_default()
    }
    let (ip, gw) = (shown(net.ip, live_net), shown(net.gateway, live_net));
    let (ip6, gw6) = (shown(net.ip6, live_net), shown(net.gateway6, live_net));
    let ports =
        live_ports(r).map_or_else(|| json!({}), |(exposed, bound)| port_map(&bound, exposed));
    // Docker's Config.Env: what the user set, null when nothing.
    let env_given = if c.env_given.is_empty() {
        &c.user_env
    } else {
        &c.env_given
    };
    let exposed: Value = if c.exposed.is_empty() {
        Value::Null
    } else {
        let keys: std::collections::BTreeSet<String> =
            c.exposed.iter().map(|e| e.to_string()).collect();
        Value::Object(keys.into_iter().map(|k| (k, json!({}))).collect())
    };
    let mut networks = serde_json::Map::new();
    if c.net == "bridge" {
        networks.insert(
            "bridge".into(),
            json!({
                "Links": links(r),
                "Gateway": gw,
                "IPAddress": ip,
                "IPPrefixLen": if live_net { net.prefix } else { 0 },
                "IPv6Gateway": gw6,
                "GlobalIPv6Address": ip6,
                "GlobalIPv6PrefixLen": if live_net { net.prefix6 } else { 0 },
                "MacAddress": if live_net { net.mac.clone() } else { String::new() },
            }),
        );
    } else if bridged(&c.net) {
        // A user-defined network: its address is under its name only, as
        // in Docker (the top-level fields are the default bridge's).
        let mut aliases = c.network_aliases.clone();
        aliases.push(c.id[..12.min(c.id.len())].to_string());
        networks.insert(
            c.net.clone(),
            json!({
                "Links": links(r),
                "Aliases": aliases,
                "Gateway": gw,
                "IPAddress": ip,
                "IPPrefixLen": if live_net { net.prefix } else { 0 },
                "IPv6Gateway": gw6,
                "GlobalIPv6Address": ip6,
                "GlobalIPv6PrefixLen": if live_net { net.prefix6 } else { 0 },
                "MacAddress": if live_net { net.mac.clone() } else { String::new() },
            }),
        );
    }
    if running {
        for a in &r.attachments {
            let mut aliases = a.aliases.clone();
            aliases.push(c.id[..12.min(c.id.len())].to_string());
            networks.insert(
                a.network.clone(),
                json!({
                    "Links": Value::Null,
                    "Aliases": aliases,
                    "Gateway": a.gateway.to_string(),
                    "IPAddress": a.ip.to_string(),
                    "IPPrefixLen": a.prefix,
                    "IPv6Gateway": a.gateway6.map(|g| g.to_string()).unwrap_or_default(),
                    "GlobalIPv6Address": a.ip6.map(|g| g.to_string()).unwrap_or_default(),
                    "GlobalIPv6PrefixLen": a.prefix6,
                    "MacAddress": a.mac,
                }),
            );
        }
    }
    let (ip, gw, ip6, gw6) = if c.net == "bridge" {
        (ip, gw, ip6, gw6)
    } else {
        (String::new(), String::new(), String::new(), String::new())
    };
    json!({
        "Id": c.id,
        "Created": c.created,
        "Path": lossy(&c.path),
        "Args": lossy_all(&c.args),
        "State": {
            "Status": s.status.name(),
            "Running": running,
            "Paused": false,
            "Restarting": s.status == Status::Restarting,
            "OOMKilled": s.oom_killed,
            "Dead": false,
            "Pid": if running { s.pid } else { 0 },
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": or_zero(&s.started_at),
            "FinishedAt": or_zero(&s.finished_at),
        },
        // No image: the rootfs stands for it, as in Config.Image, resolved.
        "Image": lossy(if c.rootfs_path.is_empty() { &c.rootfs } else { &c.rootfs_path }),
        "ResolvConfPath": file("resolv.conf"),
        "HostnamePath": file("hostname"),
        "HostsPath": file("hosts"),
        // A --rm container in the foreground keeps no log, nor one with
        // --log-driver none.
        "LogPath": if (c.detach || !c.auto_remove) && c.log.driver != crate::logrot::Driver::None {
            file(crate::logrot::LOG_FILE)
        } else {
            String::new()
        },
        "Name": format!("/{}", c.name),
        "RestartCount": s.restart_count,
        "Driver": "",
        "Platform": "linux",
        // Docker lists running execs here; rrun keeps no record of them.
        "ExecIDs": Value::Null,
        "HostConfig": {
            "Binds": list_or_null(&lossy_all(&c.binds)),
            "NetworkMode": c.net,
            "PortBindings": port_bindings(&c.publish),
            "RestartPolicy": {"Name": c.restart.name(), "MaximumRetryCount": c.restart.max_retries()},
            "PublishAllPorts": c.publish_all,
            "AutoRemove": c.auto_remove,
            "CapAdd": list_or_null(&c.cap_add),
            "CapDrop": list_or_null(&c.cap_drop),
            "Dns": c.dns,
            "DnsOptions": c.dns_options,
            "DnsSearch": c.dns_search,
            "ExtraHosts": list_or_null(&c.add_hosts),
            "GroupAdd": list_or_null(&c.group_add),
            "Links": links(r),
            "ReadonlyRootfs": c.read_only,
            "Tmpfs": if tmpfs.is_empty() { Value::Null } else { Value::Object(tmpfs) },
            "Init": c.init,
            "LogConfig": {
                "Type": c.log.driver.name(),
                "Config": c.log.opts,
            },
            "Privileged": c.privileged,
            "Devices": c.devices.iter().map(|d| json!({
                "PathOnHost": d.host,
                "PathInContainer": d.container,
                "CgroupPermissions": d.perms,
            })).collect::<Vec<_>>(),
            "Memory": c.limits.memory,
            "MemorySwap": c.limits.memory_swap,
            "NanoCpus": c.limits.nano_cpus,
            "PidsLimit": c.limits.pids,
            "Ulimits": c.ulimits.iter().map(|u| json!({
                "Name": u.name,
                "Hard": u.hard,
                "Soft": u.soft,
            })).collect::<Vec<_>>(),
        },
        "Mounts": mounts(&c.binds),
        "Config": {
            "Hostname": c.hostname,
            "Domainname": c.domainname,
            "User": c.user,
            "AttachStdin": c.interactive && !c.detach,
            "AttachStdout": !c.detach,
            "AttachStderr": !c.detach,
            "ExposedPorts": exposed,
            "Tty": c.tty,
            "OpenStdin": c.interactive,
            "StdinOnce": c.interactive && !c.detach,
            "Env": list_or_null(&lossy_all(env_given)),
            "Cmd": cmd,
            "Image": lossy(&c.rootfs),
            "WorkingDir": if c.workdir == "/" { String::new() } else { lossy(&c.workdir) },
            "Entrypoint": Value::Null,
            "Labels": c.labels,
        },
        "NetworkSettings": {
            "Bridge": if live_net { net.bridge.clone() } else { String::new() },
            "SandboxID": "",
            "SandboxKey": if running { format!("/proc/{}/ns/net", s.pid) } else { String::new() },
            "Ports": ports,
            "Gateway": gw,
            "IPAddress": ip,
            "IPPrefixLen": if live_net && c.net == "bridge" { net.prefix } else { 0 },
            "GlobalIPv6Address": ip6,
            "GlobalIPv6PrefixLen": if live_net && c.net == "bridge" { net.prefix6 } else { 0 },
            "IPv6Gateway": gw6,
            "MacAddress": if live_net && c.net == "bridge" { net.mac.clone() } else { String::new() },
            "Networks": networks,
        },
        // Where it is, wherever inspect runs from (older records: as given).
        "Rootfs": lossy(if c.rootfs_path.is_empty() { &c.rootfs } else { &c.rootfs_path }),
    })
}

/// Go-units' HumanDuration, as Docker's ps prints ages.
pub fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    // go-units rounds hours to the nearest, minutes and seconds down.
    let (m, h) = (s / 60, ((secs.max(0.0) / 3600.0) + 0.5) as u64);
    if secs < 1.0 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if m == 1 {
        "About a minute".into()
    } else if m < 60 {
        format!("{m} minutes")
    } else if h == 1 {
        "About an hour".into()
    } else if h < 48 {
        format!("{h} hours")
    } else if h < 24 * 7 * 2 {
        format!("{} days", h / 24)
    } else if h < 24 * 30 * 2 {
        format!("{} weeks", h / 24 / 7)
    } else if h < 24 * 365 * 2 {
        format!("{} months", h / 24 / 30)
    } else {
        format!("{} years", s / 3600 / 24 / 365)
    }
}

fn ago(t: &str, now: f64) -> String {
    match parse_rfc3339(t) {
        Some(t) => human_duration(now - t),
        None => "Less than a second".into(),
    }
}

/// ps's STATUS: "Up 5 minutes", "Exited (0) 2 seconds ago", "Created".
pub fn status_text(r: &Record, now: f64) -> String {
    let s = &r.state;
    match s.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", ago(or_zero(&s.started_at), now)),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            ago(or_zero(&s.finished_at), now)
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            ago(or_zero(&s.finished_at), now)
        ),
    }
}

/// Docker's TruncateWithEllipsis (a byte that is not UTF-8 counts as one
/// character, and stays as it is).
fn truncate(mut u: Vec<Unit>, n: usize) -> Vec<Unit> {
    if u.len() > n {
        u.truncate(n - 1);
        u.push(Ok('…'));
    }
    u
}

/// The command as ps shows it: moby's list.go puts an argument holding a
/// space in single quotes, and the CLI cuts it to 20 characters unless
/// asked and quotes it as Go's strconv.Quote does.
pub fn command_text(r: &Record, no_trunc: bool) -> String {
    let mut cmd = r.config.path.as_bytes().to_vec();
    for a in &r.config.args {
        let a = a.as_bytes();
        cmd.push(b' ');
        if a.contains(&b' ') {
            cmd.push(b'\'');
            cmd.extend_from_slice(a);
            cmd.push(b'\'');
        } else {
            cmd.extend_from_slice(a);
        }
    }
    let cmd = goquote::units(&cmd).collect();
    goquote::quote_units(if no_trunc { cmd } else { truncate(cmd, 20) })
}

/// Go's time.Time.String() of a UTC RFC 3339 time, to the second, as
/// ps's `{{.CreatedAt}}` shows it: `2026-11-29 10:28:45 +0000 UTC`.
fn created_at(t: &str) -> String {
    match (t.get(0..10), t.get(11..19)) {
        (Some(d), Some(hms)) => format!("{d} {hms} +0000 UTC"),
        _ => t.to_string(),
    }
}

/// ps's PORTS: published and exposed ports, while running on the bridge.
pub fn ports_text(r: &Record) -> String {
    live_ports(r).map_or_else(String::new, |(exposed, bound)| {
        ports::ps_ports(exposed, &bound)
    })
}

/// ps's `{{.Networks}}`: the network it was created on and those it was
/// connected to since, joined with commas, as Docker's.
fn networks_text(r: &Record) -> String {
    let mut v = vec![r.config.net.clone()];
    if r.running() {
        v.extend(r.attachments.iter().map(|a| a.network.clone()));
    }
    v.join(",")
}

/// ps's `{{.Labels}}`: `k=v` pairs, by key, joined with commas.
fn labels_text(r: &Record) -> String {
    r.config
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// What ps's filters see of a container: `names` is every name it goes
/// by ([`all_names`]).
pub fn filter_view<'a>(r: &'a Record, names: Vec<String>) -> crate::filter::View<'a> {
    let c = &r.config;
    let mut ports = Vec::new();
    if let Some((exposed, bound)) = live_ports(r) {
        for e in exposed {
            let mut bs = bound
                .iter()
                .filter(|b| b.container_port == e.port && b.proto == e.proto)
                .peekable();
            if bs.peek().is_none() {
                ports.push((e.port, 0, e.proto));
            }
            ports.extend(bs.map(|b| (e.port, b.host_port, e.proto)));
        }
    }
    crate::filter::View {
        id: &c.id,
        name: &c.name,
        names,
        state: r.state.status.name(),
        running: r.running(),
        started: !r.state.started_at.is_empty(),
        exit_code: r.state.exit_code,
        labels: Some(&c.labels),
        rootfs: c.rootfs.as_bytes(),
        rootfs_path: c.rootfs_path.as_bytes(),
        network: matches!(c.net.as_str(), "bridge" | "host" | "none").then_some(c.net.as_str()),
        ports: ports
            .into_iter()
            .map(|(private, public, proto)| crate::filter::PortView {
                private,
                public,
                proto: proto.to_string(),
            })
            .collect(),
        mounts: c
            .binds
            .iter()
            .filter_map(|b| crate::spec::parse_volume(b).ok())
            .map(|v| {
                (
                    v.src.as_os_str().as_bytes().to_vec(),
                    v.dst.as_os_str().as_bytes().to_vec(),
                )
            })
            .collect(),
    }
}

/// The values `ps --format` templates see, with Docker's names. `names`
/// is the NAMES column: the name and every "linker/alias" pointing at it.
pub fn ps_fields(r: &Record, now: f64, no_trunc: bool, names: &str) -> Value {
    let id = if no_trunc {
        r.config.id.clone()
    } else {
        r.config.id.chars().take(12).collect()
    };
    json!({
        "ID": id,
        "Image": lossy(&r.config.rootfs),
        "Rootfs": lossy(&r.config.rootfs),
        "Command": command_text(r, no_trunc),
        "CreatedAt": created_at(&r.config.created),
        "RunningFor": format!("{} ago", ago(&r.config.created, now)),
        "Status": status_text(r, now),
        "State": r.state.status.name(),
        "Ports": ports_text(r),
        "Networks": networks_text(r),
        "Names": names,
        "Labels": labels_text(r),
    })
}

/// Docker's default `ps` table; the rootfs stands where Docker's image
/// does.
const PS_DEFAULT: &str = "table {{.ID}}\t{{.Rootfs}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// What `ps --format` means, as Docker's CLI reads it: a leading `table`
/// asks for a header and aligned columns (`table` alone is the default
/// table), and `\t` and `\n` written out stand for tab and newline.
/// Returns (is a table, the template's text).
pub fn ps_format(format: Option<&str>) -> (bool, String) {
    table_format(format, PS_DEFAULT)
}

/// A list command's `--format`, as Docker reads it: `table` (alone: the
/// command's `default`) asks for a header and aligned columns; `\t` and
/// `\n` written out stand for a tab and a newline. Whether it is a table,
/// and the template.
pub fn table_format(format: Option<&str>, default: &str) -> (bool, String) {
    let f = match format {
        None | Some("table") => default,
        Some(f) => f,
    };
    let (is_table, body) = match f.strip_prefix("table") {
        Some(rest) => (true, rest),
        None => (false, f),
    };
    let body = body
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n");
    (is_table, body)
}

/// The header row's values: each field's column title.
pub fn ps_header_fields() -> Value {
    json!({
        "ID": "CONTAINER ID",
        "Image": "IMAGE",
        "Rootfs": "ROOTFS",
        "Command": "COMMAND",
        "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED",
        "Status": "STATUS",
        "State": "STATE",
        "Ports": "PORTS",
        "Networks": "NETWORKS",
        "Names": "NAMES",
        "Labels": "LABELS",
    })
}

/// Every name of each record: its own, and "linker/alias" for each other
/// container that links to it, in Docker's order (its name index: sorted
/// as "/name" strings, so "Bb/db,aa/mydb,db,web/db").
pub fn all_names(all: &[Record]) -> std::collections::HashMap<String, Vec<String>> {
    let mut m: std::collections::HashMap<String, Vec<String>> = all
        .iter()
        .map(|r| (r.config.id.clone(), vec![r.config.name.clone()]))
        .collect();
    for r in all {
        for l in &r.config.links {
            if let Some(v) = m.get_mut(&l.target_id) {
                v.push(format!("{}/{}", r.config.name, l.alias));
            }
        }
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

/// A list command's output from its rendered lines: aligned as Docker's
/// tabwriter aligns cells separated by tabs when a table, else as they are.
pub fn table_or_lines(lines: &[String], is_table: bool) -> String {
    if is_table {
        let rows: Vec<Vec<String>> = lines
            .iter()
            .flat_map(|l| l.split('\n'))
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        return table(&rows);
    }
    let mut out = String::new();
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Align columns as Docker's tabwriter (minimum width 10, padding 3; the
/// last column unpadded).
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                let pad = (width[i] + 3).max(10) - c.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Config, RunState};

    fn rec(status: Status) -> Record {
        Record {
            dir: "/run/rrun/containers/x".into(),
            config: Config {
                id: "532f73b69b54".to_string() + &"0".repeat(52),
                name: "web".into(),
                created: "2026-11-29T05:00:00.000000000Z".into(),
                rootfs: "bb".into(),
                path: "httpd".into(),
                args: vec!["-f".into(), "-p".into(), "5000".into()],
                workdir: "/".into(),
                net: "none".into(),
                ..Default::default()
            },
            state: RunState {
                status,
                monitor_pid: 1,
                monitor_start: 1,
                pid: 11443,
                pid_start: 1,
                exit_code: 3,
                started_at: "2026-11-29T05:00:01.000000000Z".into(),
                finished_at: "2026-11-29T05:00:03.000000000Z".into(),
                error: String::new(),
                net: None,
                device_cgroup: String::new(),
                limit_cgroups: Vec::new(),
                oom_killed: false,
                restart_count: 0,
                boot_id: String::new(),
            },
            attachments: Vec::new(),
        }
    }

    #[test]
    fn docker_keys_users_template_on() {
        // Shapes captured from Docker 20.10 (`docker inspect`, a busybox
        // image, `-v SRC:/data -v SRC2:/ro:ro --tmpfs /scratch:size=1m`).
        let mut r = rec(Status::Running);
        r.config.rootfs_path = "/srv/rootfs".into();
        r.config.binds = vec![
            "/tmp/run13d/vol:/data".into(),
            "/tmp/run13d/vol2:/ro:ro".into(),
            "/tmp//vol/:/data/./x/:rw".into(),
            "/a/../b:/d:ro,rw".into(),
        ];
        r.config.tmpfs = vec!["/scratch:size=1m".into()];
        let v = inspect(&r);
        let keys: Vec<&String> = v.as_object().map(|o| o.keys().collect()).unwrap();
        let pos = |k: &str| keys.iter().position(|x| *x == k).unwrap();
        // Docker's order: ... State, Image, ResolvConfPath ...
        assert_eq!(pos("Image"), pos("State") + 1);
        assert!(pos("ExecIDs") < pos("HostConfig"));
        assert!(pos("HostConfig") < pos("Mounts") && pos("Mounts") < pos("Config"));
        assert_eq!(v["Image"], "/srv/rootfs");
        assert_eq!(v["ExecIDs"], Value::Null);
        assert_eq!(
            v["Mounts"],
            json!([
                {"Type": "bind", "Source": "/tmp/run13d/vol", "Destination": "/data", "Mode": "", "RW": true, "Propagation": "rprivate"},
                {"Type": "bind", "Source": "/tmp/run13d/vol2", "Destination": "/ro", "Mode": "ro", "RW": false, "Propagation": "rprivate"},
                {"Type": "bind", "Source": "/tmp/vol", "Destination": "/data/x", "Mode": "rw", "RW": true, "Propagation": "rprivate"},
                {"Type": "bind", "Source": "/b", "Destination": "/d", "Mode": "ro,rw", "RW": true, "Propagation": "rprivate"},
            ])
        );
        assert_eq!(
            v["HostConfig"]["RestartPolicy"],
            json!({"Name": "no", "MaximumRetryCount": 0})
        );
        assert_eq!(v["HostConfig"]["DnsOptions"], json!([]));
        assert_eq!(v["HostConfig"]["GroupAdd"], Value::Null);
        assert_eq!(v["Config"]["Domainname"], "");
        // No -e: null, as Docker's for an image without ENV.
        assert_eq!(v["Config"]["Env"], Value::Null);
        // Nothing bound: an empty list.
        assert_eq!(inspect(&rec(Status::Exited))["Mounts"], json!([]));
        assert_eq!(clean_abs(b"/"), b"/");
        assert_eq!(clean_abs(b"/.."), b"/");
        assert_eq!(clean_abs(b"//a//b/"), b"/a/b");

        let mut r = rec(Status::Running);
        r.config.env = vec!["PATH=/bin".into(), "HOSTNAME=h".into(), "B=2".into()];
        r.config.user_env = vec!["B=2".into(), "A=1".into()];
        r.config.env_given = vec!["B=2".into(), "A=1".into(), "A=2".into(), "NOPE".into()];
        r.config.domainname = "corp.lan".into();
        r.config.dns_options = vec!["ndots:2".into()];
        r.config.group_add = vec!["staff".into(), "7".into()];
        let v = inspect(&r);
        assert_eq!(v["Config"]["Env"], json!(["B=2", "A=1", "A=2", "NOPE"]));
        assert_eq!(v["Config"]["Domainname"], "corp.lan");
        assert_eq!(v["HostConfig"]["DnsOptions"], json!(["ndots:2"]));
        assert_eq!(v["HostConfig"]["GroupAdd"], json!(["staff", "7"]));
        // A record from before env_given: the user's variables stand in.
        r.config.env_given.clear();
        assert_eq!(inspect(&r)["Config"]["Env"], json!(["B=2", "A=1"]));
    }

    #[test]
    fn health_is_nil_to_templates_only() {
        let v = inspect(&rec(Status::Running));
        assert!(
            v["State"].get("Health").is_none(),
            "Docker's JSON has no Health"
        );
        let t = template_view(v);
        assert_eq!(t["State"]["Health"], Value::Null);
        assert_eq!(t["State"]["Pid"], 11443);
        // Nothing else changes.
        let mut back = t.clone();
        if let Some(Value::Object(s)) = back.get_mut("State") {
            s.remove("Health");
        }
        assert_eq!(back, inspect(&rec(Status::Running)));
        assert_eq!(template_view(json!(1)), json!(1));
    }

    #[test]
    fn ports_discarded_without_a_network_of_its_own() {
        use crate::ports::Proto;
        // Docker, --net=host or none with -p 8080:80 --expose 90: ps PORTS
        // empty, NetworkSettings.Ports {}; the record keeps what was asked.
        let exposed = vec![
            Exposed {
                port: 80,
                proto: Proto::Tcp,
            },
            Exposed {
                port: 90,
                proto: Proto::Tcp,
            },
        ];
        for net in ["none", "host", "container:db"] {
            let mut r = rec(Status::Running);
            r.config.net = net.into();
            r.config.exposed = exposed.clone();
            r.config.publish = vec!["8080:80".into()];
            assert_eq!(ports_text(&r), "", "{net}");
            let v = inspect(&r);
            assert_eq!(v["NetworkSettings"]["Ports"], json!({}), "{net}");
            assert_eq!(
                v["HostConfig"]["PortBindings"],
                json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]})
            );
            assert_eq!(
                v["Config"]["ExposedPorts"],
                json!({"80/tcp": {}, "90/tcp": {}})
            );
        }
        let mut r = rec(Status::Running);
        r.config.net = "bridge".into();
        r.config.exposed = exposed;
        assert_eq!(ports_text(&r), "80/tcp, 90/tcp");
        assert_eq!(
            inspect(&r)["NetworkSettings"]["Ports"],
            json!({"80/tcp": null, "90/tcp": null})
        );
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0.2), "Less than a second");
        assert_eq!(human_duration(1.0), "1 second");
        assert_eq!(human_duration(59.0), "59 seconds");
        assert_eq!(human_duration(60.0), "About a minute");
        assert_eq!(human_duration(300.0), "5 minutes");
        assert_eq!(human_duration(3600.0), "About an hour");
        assert_eq!(human_duration(7200.0), "2 hours");
        // go-units rounds hours: 1h30m is "2 hours", 47h30m "2 days".
        assert_eq!(human_duration(5400.0), "2 hours");
        assert_eq!(human_duration(5399.0), "About an hour");
        assert_eq!(human_duration(47.5 * 3600.0), "2 days");
        assert_eq!(human_duration(3.0 * 86400.0), "3 days");
        assert_eq!(human_duration(20.0 * 86400.0), "2 weeks");
        assert_eq!(human_duration(90.0 * 86400.0), "3 months");
        assert_eq!(human_duration(800.0 * 86400.0), "2 years");
    }

    #[test]
    fn ps_columns() {
        let now = parse_rfc3339("2026-11-29T05:05:01Z").unwrap_or(0.0);
        let r = rec(Status::Running);
        let f = ps_fields(&r, now, false, "web");
        let row: Vec<&str> = [
            "ID",
            "Rootfs",
            "Command",
            "RunningFor",
            "Status",
            "Ports",
            "Names",
        ]
        .iter()
        .map(|k| f[*k].as_str().unwrap_or_default())
        .collect();
        assert_eq!(
            row,
            [
                "532f73b69b54",
                "bb",
                "\"httpd -f -p 5000\"",
                "5 minutes ago",
                "Up 5 minutes",
                "",
                "web"
            ]
        );
        assert_eq!(f["CreatedAt"], "2026-11-29 05:00:00 +0000 UTC");
        let e = rec(Status::Exited);
        assert_eq!(status_text(&e, now), "Exited (3) 4 minutes ago");
        let mut long = rec(Status::Created);
        long.config.args = vec!["a-very-long-argument-list".into()];
        assert_eq!(command_text(&long, false), "\"httpd a-very-long-a…\"");
        assert_eq!(
            command_text(&long, true),
            "\"httpd a-very-long-argument-list\""
        );
        assert_eq!(status_text(&long, now), "Created");
    }

    #[test]
    fn tables() {
        let t = table(&[
            vec!["CONTAINER ID".into(), "NAMES".into()],
            vec!["532f73b69b54".into(), "web".into()],
        ]);
        assert_eq!(t, "CONTAINER ID   NAMES\n532f73b69b54   web\n");
        // Every column is at least 10 wide, as Docker's tabwriter makes it.
        let t = table(&[
            vec!["PORTS".into(), "NAMES".into()],
            vec!["".into(), "web".into()],
        ]);
        assert_eq!(t, "PORTS     NAMES\n          web\n");
    }

    #[test]
    fn ps_formats() {
        assert_eq!(ps_format(None), ps_format(Some("table")));
        assert!(ps_format(None).0);
        assert_eq!(
            ps_format(Some("table {{.ID}}\\t{{.Names}} ")),
            (true, "{{.ID}}\t{{.Names}}".to_string())
        );
        assert_eq!(
            ps_format(Some("{{.ID}}\\n")),
            (false, "{{.ID}}\n".to_string())
        );
        assert_eq!(ps_header_fields()["RunningFor"], "CREATED");
    }

    #[test]
    fn commands_quoted_as_docker() {
        let mut r = rec(Status::Running);
        r.config.path = "sh".into();
        r.config.args = vec!["-c".into(), "exit 3".into()];
        assert_eq!(command_text(&r, true), "\"sh -c 'exit 3'\"");
        // A byte that is not UTF-8 counts as one character and shows as
        // \xNN.
        r.config.path = "caf\u{e9}".into();
        r.config.args = vec![
            OsStr::from_bytes(b"\xff\xe9 x").into(),
            "0123456789abcdef".into(),
        ];
        assert_eq!(command_text(&r, false), "\"café '\\xff\\xe9 x' 0123456…\"");
    }

    #[test]
    fn inspect_shape() {
        let v = inspect(&rec(Status::Running));
        assert_eq!(v["Name"], "/web");
        assert_eq!(v["State"]["Pid"], 11443);
        assert_eq!(v["State"]["Running"], true);
        assert_eq!(v["Config"]["Cmd"], json!(["httpd", "-f", "-p", "5000"]));
        assert_eq!(v["HostConfig"]["NetworkMode"], "none");
        assert_eq!(v["HostConfig"]["Privileged"], false);
        assert_eq!(v["HostConfig"]["Devices"], json!([]));
        assert_eq!(v["HostConfig"]["Ulimits"], json!([]));
        let mut r = rec(Status::Running);
        r.config.privileged = true;
        r.config.devices = vec![crate::state::DeviceConf {
            host: "/dev/loop3".into(),
            container: "/dev/xd".into(),
            perms: "rw".into(),
        }];
        let p = inspect(&r);
        assert_eq!(p["HostConfig"]["Privileged"], true);
        let mut u = rec(Status::Running);
        u.config.ulimits = crate::ulimit::parse_all(&["nofile=300:400".into(), "core=-1".into()])
            .unwrap_or_default();
        assert_eq!(
            serde_json::to_string(&inspect(&u)["HostConfig"]["Ulimits"]).unwrap_or_default(),
            r#"[{"Name":"core","Hard":-1,"Soft":-1},{"Name":"nofile","Hard":400,"Soft":300}]"#
        );
        assert_eq!(
            p["HostConfig"]["Devices"],
            json!([{"PathOnHost": "/dev/loop3", "PathInContainer": "/dev/xd", "CgroupPermissions": "rw"}])
        );
        let keys: Vec<&String> = v
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys[..4], ["Id", "Created", "Path", "Args"]);
        let x = inspect(&rec(Status::Exited));
        assert_eq!(x["State"]["Pid"], 0);
        assert_eq!(x["State"]["Status"], "exited");
        assert_eq!(
            v["HostConfig"]["LogConfig"],
            json!({"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}})
        );
        assert_eq!(v["LogPath"], "/run/rrun/containers/x/log.jsonl");
        let mut r = rec(Status::Running);
        r.config.log = crate::logrot::parse(Some("none"), &[]).unwrap();
        let n = inspect(&r);
        assert_eq!(
            n["HostConfig"]["LogConfig"],
            json!({"Type": "none", "Config": {}})
        );
        assert_eq!(n["LogPath"], "");
    }

    fn ported(status: Status, net: &str) -> Record {
        use crate::ports::Proto;
        let mut r = rec(status);
        r.config.net = net.into();
        let e = |port, proto| Exposed { port, proto };
        // Docker sorts Ports and ExposedPorts as strings: 5000 < 53 < 80.
        r.config.exposed = vec![
            e(53, Proto::Udp),
            e(80, Proto::Tcp),
            e(5000, Proto::Tcp),
            e(9000, Proto::Udp),
        ];
        r.config.publish = vec!["9000:9000/udp".into(), "8080:80".into()];
        let b = |hp, cp, proto| Binding {
            host_ip: crate::ports::ANY_V4,
            host_port: hp,
            container_port: cp,
            proto,
        };
        r.state.net = Some(crate::netstate::NetState {
            ports: vec![b(8080, 80, Proto::Tcp), b(9000, 9000, Proto::Udp)],
            ..Default::default()
        });
        r.config.labels = [("b", "2"), ("a", "1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        r
    }

    #[test]
    fn ports_in_dockers_order_and_only_while_running_on_the_bridge() {
        let v = inspect(&ported(Status::Running, "bridge"));
        let keys = |v: &Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let order = ["5000/tcp", "53/udp", "80/tcp", "9000/udp"];
        assert_eq!(keys(&v["NetworkSettings"]["Ports"]), order);
        assert_eq!(keys(&v["Config"]["ExposedPorts"]), order);
        assert_eq!(
            keys(&v["HostConfig"]["PortBindings"]),
            ["80/tcp", "9000/udp"]
        );
        assert_eq!(v["NetworkSettings"]["Ports"]["53/udp"], Value::Null);
        assert_eq!(
            v["NetworkSettings"]["Ports"]["80/tcp"],
            json!([{"HostIp": "0.0.0.0", "HostPort": "8080"}])
        );
        assert_eq!(v["Config"]["Labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(keys(&v["Config"]["Labels"]), ["a", "b"]);
        let r = ported(Status::Running, "bridge");
        assert_eq!(
            ports_text(&r),
            "53/udp, 5000/tcp, 0.0.0.0:9000->9000/udp, 0.0.0.0:8080->80/tcp"
        );
        assert_eq!(ps_fields(&r, 0.0, false, "web")["Labels"], "a=1,b=2");
        for (status, net) in [
            (Status::Exited, "bridge"),
            (Status::Created, "bridge"),
            (Status::Running, "host"),
            (Status::Running, "none"),
        ] {
            let r = ported(status, net);
            let v = inspect(&r);
            assert_eq!(v["NetworkSettings"]["Ports"], json!({}), "{status:?} {net}");
            assert_eq!(keys(&v["Config"]["ExposedPorts"]), order);
            assert_eq!(ports_text(&r), "", "{status:?} {net}");
            assert!(filter_view(&r, vec![]).ports.is_empty());
        }
        let mut lost = ported(Status::Running, "bridge");
        if let Some(n) = lost.state.net.as_mut() {
            n.released = true;
        }
        assert_eq!(ports_text(&lost), "80/tcp, 53/udp, 9000/udp, 5000/tcp");
        assert_eq!(
            inspect(&rec(Status::Running))["Config"]["Labels"],
            json!({})
        );
        assert_eq!(
            ps_fields(&rec(Status::Running), 0.0, false, "web")["Labels"],
            ""
        );
        assert_eq!(ps_header_fields()["Labels"], "LABELS");
    }

    #[test]
    fn what_filters_see() {
        let r = ported(Status::Running, "bridge");
        let v = filter_view(&r, vec!["web".into()]);
        let got: Vec<(u16, u16, &str)> = v
            .ports
            .iter()
            .map(|p| (p.private, p.public, p.proto.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (53, 0, "udp"),
                (80, 8080, "tcp"),
                (5000, 0, "tcp"),
                (9000, 9000, "udp")
            ]
        );
        assert_eq!((v.id, v.name, v.state), (r.id(), "web", "running"));
        assert!(v.running && v.started && v.exit_code == 3);
        assert_eq!(v.network, Some("bridge"));
        assert_eq!(v.labels.map(|l| l.len()), Some(2));
        assert_eq!((v.rootfs, v.rootfs_path), (&b"bb"[..], &b""[..]));
        let mut c = rec(Status::Created);
        c.state.started_at.clear();
        c.config.net = "container:db".into();
        c.config.binds = vec!["/srv/data:/data:ro".into(), "bad".into()];
        let v = filter_view(&c, vec![]);
        assert!(!v.running && !v.started);
        assert_eq!(v.state, "created");
        assert_eq!(v.network, None);
        assert_eq!(v.mounts, [(b"/srv/data".to_vec(), b"/data".to_vec())]);
        for net in ["host", "none"] {
            c.config.net = net.into();
            assert_eq!(filter_view(&c, vec![]).network, Some(net));
        }
    }

    #[test]
    fn names_in_dockers_order() {
        let mk = |id: &str, name: &str, links: &[(&str, &str)]| {
            let mut r = rec(Status::Running);
            r.config.id = id.into();
            r.config.name = name.into();
            r.config.links = links
                .iter()
                .map(|(t, a)| crate::state::LinkConf {
                    target_id: t.to_string(),
                    target_name: "db".into(),
                    alias: a.to_string(),
                })
                .collect();
            r
        };
        let all = [
            mk("1", "db", &[]),
            mk("2", "web", &[("1", "db")]),
            mk("3", "zz", &[("1", "zdb"), ("1", "adb")]),
            mk("4", "aa", &[("1", "mydb")]),
            mk("5", "Bb", &[("1", "db"), ("9", "gone")]),
            mk("6", "db2", &[("1", "Zed")]),
        ];
        let n = all_names(&all);
        assert_eq!(
            n["1"].join(","),
            "Bb/db,aa/mydb,db,db2/Zed,web/db,zz/adb,zz/zdb"
        );
        assert_eq!(n["2"], ["web"]);
        assert_eq!(n.len(), 6);
    }
}
