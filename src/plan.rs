//! From parsed flags to a validated, typed run plan: everything that can be
//! checked before anything is made is checked here, so that bad input fails
//! with nothing to clean up. Reads only: the rootfs's /etc/passwd and
//! /etc/group (resolved inside the rootfs), the host's resolv.conf and
//! hostname, and the sources of volumes.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Read;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cli::RunArgs;
use crate::devices::{self, DevType, DeviceError, HostDevice};
use crate::hosts;
use crate::mount::{HostNode, Kind};
use crate::spec::{self, EnvVar, SpecError, Tmpfs, User, Volume};
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("rootfs {0}: {1}")]
    Rootfs(String, String),
    #[error("{0}")]
    Spec(#[from] SpecError),
    #[error("env file {0}: {1}")]
    EnvFile(String, String),
    #[error("env file {0}: larger than {ENV_FILE_MAX} bytes (1 MiB), the most rrun reads")]
    EnvFileTooBig(String),
    /// Opening or reading a --label-file, in Docker's CLI's words.
    #[error("{0}")]
    LabelFile(String),
    #[error("label file {0}: larger than {ENV_FILE_MAX} bytes (1 MiB), the most rrun reads")]
    LabelFileTooBig(String),
    #[error("invalid volume {0:?}: source {1}: {2}")]
    VolumeSource(OsString, String, String),
    #[error("invalid network mode {0:?}: {1}")]
    Net(String, &'static str),
    #[error("invalid working directory {0:?}: it must be an absolute path")]
    Workdir(OsString),
    #[error("{0}")]
    Random(String),
    #[error(transparent)]
    Port(#[from] crate::ports::PortError),
    #[error(transparent)]
    Settings(#[from] crate::net::settings::SettingsError),
    #[error("invalid --link {0:?}: {1}")]
    Link(String, String),
    #[error("invalid --dns {0:?}: use an IP address")]
    Dns(String),
    #[error(
        "invalid --dns-search {0:?}: use a domain name, without spaces, '#' or control characters"
    )]
    DnsSearch(String),
    #[error("invalid --add-host {0:?}: use NAME:IP")]
    AddHost(String),
    #[error("conflicting options: {0}")]
    Conflict(String),
    #[error("invalid RRUN_PROXY_UDP_TIMEOUT {0:?}: use whole seconds from 1 to 86400")]
    UdpTimeout(String),
    #[error(
        "invalid --security-opt {0:?}: rrun knows seccomp=unconfined, seccomp=default and no-new-privileges"
    )]
    SecurityOpt(String),
    #[error(transparent)]
    Log(#[from] crate::logrot::LogOptError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("error gathering device information while adding custom device {0:?}: {1}")]
    DeviceHost(String, String),
    #[error(transparent)]
    Ulimit(#[from] crate::ulimit::UlimitError),
    #[error(transparent)]
    Limit(#[from] crate::limits::LimitError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::CgroupError),
    #[error("{0}")]
    Restart(#[from] crate::restart::RestartError),
    #[error("{0}")]
    NetDef(#[from] crate::netdef::NetDefError),
    #[error("{0}")]
    UserNetOnly(&'static str),
}

/// --security-opt values: whether the default seccomp filter applies.
pub fn parse_security_opts(opts: &[String]) -> Result<bool, PlanError> {
    let mut seccomp = true;
    for o in opts {
        // Docker accepts both '=' and ':' as the separator.
        match o.replacen(':', "=", 1).as_str() {
            "seccomp=unconfined" => seccomp = false,
            "seccomp=default" => seccomp = true,
            "no-new-privileges" | "no-new-privileges=true" => {}
            _ => return Err(PlanError::SecurityOpt(o.clone())),
        }
    }
    Ok(seccomp)
}

/// RRUN_PROXY_UDP_TIMEOUT: seconds a forwarded UDP flow may stay idle.
pub fn parse_udp_timeout(v: Option<&str>) -> Result<std::time::Duration, PlanError> {
    match v {
        None | Some("") => Ok(std::time::Duration::from_secs(90)),
        Some(s) => match s.parse::<u64>() {
            Ok(n @ 1..=86400) => Ok(std::time::Duration::from_secs(n)),
            _ => Err(PlanError::UdpTimeout(s.to_string())),
        },
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NetMode {
    Bridge,
    None,
    Host,
    /// Share the network namespace (and hosts, resolv.conf, hostname) of
    /// the named container.
    Container(String),
    /// A user-defined network (`rrun network create`), by name.
    User(String),
}

impl NetMode {
    pub fn name(&self) -> String {
        match self {
            NetMode::Bridge => "bridge".into(),
            NetMode::None => "none".into(),
            NetMode::Host => "host".into(),
            NetMode::Container(c) => format!("container:{c}"),
            NetMode::User(n) => n.clone(),
        }
    }

    /// Whether the container gets an interface on a bridge of rrun's.
    pub fn bridged(&self) -> bool {
        matches!(self, NetMode::Bridge | NetMode::User(_))
    }

    /// The user-defined network's name.
    pub fn user(&self) -> Option<&str> {
        match self {
            NetMode::User(n) => Some(n),
            _ => None,
        }
    }
}

/// A --link, parsed: the target container and the alias it goes by.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    pub target: String,
    pub alias: String,
}

/// A validated `rrun run`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[allow(dead_code)] // the network fields are used as bridge networking lands
pub struct RunPlan {
    pub id: String,
    /// --name, validated; None: a generated one is picked at creation.
    pub name: Option<String>,
    pub detach: bool,
    pub rm: bool,
    /// The rootfs as the user wrote it (for ps), and resolved.
    #[serde(with = "crate::bytes::os")]
    pub rootfs_arg: OsString,
    #[serde(with = "crate::bytes::path")]
    pub rootfs: PathBuf,
    /// The command, bytes as given (so are env values and paths).
    #[serde(with = "crate::bytes::os_vec")]
    pub argv: Vec<OsString>,
    pub env: Vec<EnvVar>,
    #[serde(with = "crate::bytes::path")]
    pub workdir: PathBuf,
    pub user: User,
    pub hostname: String,
    pub interactive: bool,
    pub tty: bool,
    pub init: bool,
    pub net: NetMode,
    /// -p as written: a missing address becomes the network's --ip (known
    /// once its settings are), a missing host port any free one.
    pub publish: Vec<crate::ports::Requested>,
    /// --expose and the container ports of -p, sorted, no duplicates.
    pub exposed: Vec<crate::ports::Exposed>,
    pub publish_all: bool,
    pub links: Vec<Link>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    /// --dns-option: resolv.conf's options, replacing the host's.
    pub dns_options: Vec<String>,
    /// --domainname: the UTS domain name ("" leaves the inherited one).
    pub domainname: String,
    /// --group-add as given (inspect's HostConfig.GroupAdd); resolved into
    /// `user.groups`.
    pub group_add: Vec<String>,
    /// The variables as Docker's Config.Env holds them: --env-file's lines
    /// in order, duplicates kept, then -e's, each key once (a later value
    /// in the first one's place); a `-e K` that rrun's environment lacks
    /// stays a bare `K`.
    #[serde(with = "crate::bytes::os_vec")]
    pub env_given: Vec<OsString>,
    /// Lines for stderr before the container starts, as Docker's
    /// "WARNING: …".
    pub warnings: Vec<String>,
    /// --add-host: name and address ("host-gateway" kept as is until the
    /// network's gateway is known).
    pub add_hosts: Vec<(String, String)>,
    pub net_request: crate::net::settings::Requested,
    /// --network-alias: more names on a user-defined network (lowercase).
    #[serde(default)]
    pub network_aliases: Vec<String>,
    /// --ip on a user-defined network: the container's address.
    #[serde(default)]
    pub static_ip: Option<IpAddr>,
    /// The user's own -e/--env-file variables (for links' ALIAS_ENV_).
    pub user_env: Vec<EnvVar>,
    pub publish_specs: Vec<String>,
    pub caps: u64,
    pub user_spec: String,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    #[serde(with = "crate::bytes::os_vec")]
    pub volume_specs: Vec<OsString>,
    #[serde(with = "crate::bytes::os_vec")]
    pub tmpfs_specs: Vec<OsString>,
    pub volumes: Vec<(Volume, Kind)>,
    pub read_only: bool,
    pub tmpfs: Vec<Tmpfs>,
    pub hosts_file: String,
    pub hostname_file: String,
    pub resolv_file: String,
    /// The host's resolver configuration, read once (resolv_file's source).
    pub host_resolv: hosts::Resolv,
    /// The default seccomp filter (off with --security-opt
    /// seccomp=unconfined or --privileged).
    pub seccomp: bool,
    /// --device entries, their host nodes looked up.
    pub devices: Vec<HostDevice>,
    pub privileged: bool,
    /// --privileged: the host's device nodes, shown in the container's /dev.
    pub host_nodes: Vec<HostNode>,
    /// The userspace forwarder's UDP flow idle timeout
    /// (RRUN_PROXY_UDP_TIMEOUT, seconds).
    pub udp_idle: std::time::Duration,
    /// --log-driver and --log-opt: how the output is kept.
    pub log: crate::logrot::LogConfig,
    /// --label-file and --label, merged (inspect's Config.Labels).
    pub labels: std::collections::BTreeMap<String, String>,
    /// --ulimit, checked against what rrun may give.
    pub ulimits: Vec<crate::ulimit::Ulimit>,
    /// --memory, --memory-swap, --cpus, --pids-limit, checked.
    #[serde(default)]
    pub limits: crate::limits::Limits,
    /// --restart.
    pub restart: crate::restart::Policy,
    /// --outbound-bypass (RRUN_OUTBOUND_BYPASS): rootless outbound TCP
    /// through the host's own stack (bypass.rs) where the kernel allows.
    #[serde(default = "yes")]
    pub outbound_bypass: bool,
}

fn yes() -> bool {
    true
}

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The most an --env-file may hold: far more than execve takes (all
/// arguments and environment strings together get a quarter of the stack
/// limit, 2 MiB by default), and what keeps an endless file (/dev/zero)
/// from being read forever.
pub const ENV_FILE_MAX: u64 = 1 << 20;

/// Open a file to read without waiting for a writer: a named pipe that
/// nobody has open for writing reads as empty instead of holding rrun
/// forever in open(2). Reads then block as usual (a pipe with a writer is
/// read as it writes).
fn open_no_wait(f: &OsStr) -> std::io::Result<fs::File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(f)?;
    nix::fcntl::fcntl(
        file.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )?;
    Ok(file)
}

/// Why a list file (--env-file, --label-file) could not be had.
enum ListFileError {
    Open(std::io::Error),
    Read(std::io::Error),
    TooBig,
}

/// A list file's bytes, at most [`ENV_FILE_MAX`] of them.
fn read_list_file(f: &OsStr) -> Result<Vec<u8>, ListFileError> {
    let mut buf = Vec::new();
    open_no_wait(f)
        .map_err(ListFileError::Open)?
        .take(ENV_FILE_MAX + 1)
        .read_to_end(&mut buf)
        .map_err(ListFileError::Read)?;
    if buf.len() as u64 > ENV_FILE_MAX {
        return Err(ListFileError::TooBig);
    }
    Ok(buf)
}

/// An --env-file's bytes.
fn read_env_file(f: &OsStr) -> Result<Vec<u8>, PlanError> {
    let name = || Path::new(f).display().to_string();
    read_list_file(f).map_err(|e| match e {
        ListFileError::Open(e) | ListFileError::Read(e) => {
            PlanError::EnvFile(name(), sys::errno_text(&e))
        }
        ListFileError::TooBig => PlanError::EnvFileTooBig(name()),
    })
}

/// A --label-file's bytes, bounded as an --env-file is.
fn read_label_file(f: &OsStr) -> Result<Vec<u8>, PlanError> {
    let name = || Path::new(f).display().to_string();
    read_list_file(f).map_err(|e| match e {
        ListFileError::Open(e) => {
            PlanError::LabelFile(format!("open {}: {}", name(), sys::errno_text(&e)))
        }
        ListFileError::Read(e) => {
            PlanError::LabelFile(format!("read {}: {}", name(), sys::errno_text(&e)))
        }
        ListFileError::TooBig => PlanError::LabelFileTooBig(name()),
    })
}

/// Labels as Docker's CLI gathers them: the files' in order, then the
/// flags'; a later one for a key wins.
fn labels(a: &RunArgs) -> Result<std::collections::BTreeMap<String, String>, PlanError> {
    let mut all = Vec::new();
    for f in &a.label_file {
        let text = read_label_file(f)?;
        all.extend(spec::parse_label_file(
            &Path::new(f).display().to_string(),
            &text,
        )?);
    }
    all.extend(a.label.iter().cloned());
    Ok(spec::labels_map(&all))
}

/// The network settings a run asks for: flags, else RRUN_* variables.
fn requested_settings(a: &RunArgs) -> Result<crate::net::settings::Requested, PlanError> {
    use crate::net::settings as ns;
    let get = |flag: &Option<String>, var: &str| -> Option<String> {
        flag.clone()
            .or_else(|| std::env::var(var).ok().filter(|v| !v.is_empty()))
    };
    Ok(ns::Requested {
        bridge: get(&a.bridge, "RRUN_BRIDGE")
            .map(|b| ns::parse_bridge(&b))
            .transpose()?,
        bip: get(&a.bip, "RRUN_BIP")
            .map(|b| ns::parse_bip(&b))
            .transpose()?,
        mtu: get(&a.mtu, "RRUN_MTU")
            .map(|m| ns::parse_mtu(&m))
            .transpose()?,
        icc: get(&a.icc, "RRUN_ICC")
            .map(|v| ns::parse_bool("icc", &v))
            .transpose()?,
        ip: get(&a.ip, "RRUN_IP")
            .map(|v| ns::parse_ip(&v))
            .transpose()?,
        ip_forward: get(&a.ip_forward, "RRUN_IP_FORWARD")
            .map(|v| ns::parse_bool("ip-forward", &v))
            .transpose()?,
        iptables: get(&a.iptables, "RRUN_IPTABLES")
            .map(|v| ns::parse_bool("iptables", &v))
            .transpose()?,
        proxy_transparent: get(&a.userland_proxy_source, "RRUN_USERLAND_PROXY_SOURCE")
            .map(|v| ns::parse_proxy_source(&v))
            .transpose()?,
        ipv6: get(&a.ipv6, "RRUN_IPV6")
            .map(|v| ns::parse_bool("ipv6", &v))
            .transpose()?,
        fixed_cidr_v6: get(&a.fixed_cidr_v6, "RRUN_FIXED_CIDR_V6")
            .map(|v| ns::parse_cidr_v6(&v))
            .transpose()?,
    })
}

/// Read a file inside the rootfs without following any symlink out of it.
/// A missing or unreadable file reads as empty, and so does anything but a
/// regular file: a named pipe would hold rrun forever, and a device node
/// (which a container can make in its rootfs) must not be opened by rrun
/// on the host. The name is held with O_PATH, which opens nothing, and
/// only a regular file is opened for reading, through that very fd.
pub fn read_in_rootfs(root: &impl AsRawFd, path: &str) -> String {
    let Ok(fd) = sys::openat2(
        root.as_raw_fd(),
        path,
        libc::O_PATH | libc::O_CLOEXEC,
        sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS,
    ) else {
        return String::new();
    };
    let regular = nix::sys::stat::fstat(fd.as_raw_fd())
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG);
    if !regular {
        return String::new();
    }
    let Ok(file) = fs::File::open(sys::fd_path(&fd)) else {
        return String::new();
    };
    let mut s = String::new();
    // A passwd file is small; cap what a hostile rootfs can make us read.
    let _ = file.take(4 << 20).read_to_string(&mut s);
    s
}

impl RunPlan {
    pub fn dns_flags(&self) -> hosts::DnsFlags {
        hosts::DnsFlags {
            dns: self.dns.clone(),
            search: self.dns_search.clone(),
            options: self.dns_options.clone(),
        }
    }
}

/// The container's environment, in Docker's order: PATH, HOSTNAME (TERM
/// with -t), the link variables, then the user's own (-e, --env-file),
/// which replace any of those in place; HOME from passwd last, unless the
/// user set it.
pub fn container_env(
    hostname: &str,
    tty: bool,
    links: Vec<EnvVar>,
    user: &[EnvVar],
    home: &str,
) -> Vec<EnvVar> {
    let var = |k: &str, v: &str| EnvVar {
        key: k.into(),
        value: v.into(),
    };
    let mut env = vec![var("PATH", DEFAULT_PATH), var("HOSTNAME", hostname)];
    if tty {
        env.push(var("TERM", "xterm"));
    }
    spec::merge_env(&mut env, links);
    spec::merge_env(&mut env, user.iter().cloned());
    if !env.iter().any(|e| e.key == "HOME") {
        env.push(var("HOME", home));
    }
    env
}

/// The capabilities rrun itself may still hold (its bounding set): all
/// that --privileged can give.
fn bounding_set() -> u64 {
    caps::read(None, caps::CapSet::Bounding)
        .map(|set| set.iter().fold(0, |m, c| m | c.bitmask()))
        .unwrap_or(0)
}

/// Look up the host node of a --device: a character or block device
/// (symlinks followed, as Docker does for /dev/disk/by-id and the like).
fn host_device(spec: devices::DeviceSpec) -> Result<HostDevice, PlanError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let err = |why: String| PlanError::DeviceHost(spec.host.clone(), why);
    let md = fs::metadata(&spec.host).map_err(|e| err(sys::errno_text(&e)))?;
    let kind = if md.file_type().is_char_device() {
        DevType::Char
    } else if md.file_type().is_block_device() {
        DevType::Block
    } else {
        return Err(err("not a device node".into()));
    };
    let source = fs::canonicalize(&spec.host).map_err(|e| err(sys::errno_text(&e)))?;
    let source = source
        .to_str()
        .ok_or_else(|| err("the path is not UTF-8".into()))?
        .to_string();
    let rdev = md.rdev();
    Ok(HostDevice {
        spec,
        source,
        kind,
        major: libc::major(rdev),
        minor: libc::minor(rdev),
    })
}

/// The host's device nodes below /dev (not following symlinks), for
/// --privileged, as Docker shows them. Unreadable directories are skipped.
fn host_nodes() -> Vec<HostNode> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    fn walk(dir: &std::path::Path, rel: &str, depth: usize, out: &mut Vec<HostNode>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for ent in rd.flatten() {
            let Some(name) = ent.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if !devices::privileged_node_wanted(&r) {
                continue;
            }
            let Ok(md) = ent.metadata() else { continue };
            let ft = md.file_type();
            if ft.is_dir() && depth < 8 {
                walk(&ent.path(), &r, depth + 1, out);
            } else if ft.is_char_device() || ft.is_block_device() {
                out.push(HostNode {
                    rel: r,
                    mode: md.mode(),
                    rdev: md.rdev(),
                    uid: md.uid(),
                    gid: md.gid(),
                });
            }
        }
    }
    let mut out = Vec::new();
    walk(std::path::Path::new("/dev"), "", 0, &mut out);
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}

pub fn host_resolv() -> hosts::Resolv {
    hosts::host_resolv_from(
        &fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        || fs::read_to_string("/run/systemd/resolve/resolv.conf").ok(),
    )
}

/// --ulimit values, parsed; refused here if rrun could not set them.
fn ulimits(vals: &[String]) -> Result<Vec<crate::ulimit::Ulimit>, PlanError> {
    let limits = crate::ulimit::parse_all(vals)?;
    if limits.is_empty() {
        return Ok(limits);
    }
    let held = |r: libc::__rlimit_resource_t| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit into a valid rlimit.
        (unsafe { libc::getrlimit(r, &mut lim) } == 0).then_some(lim.rlim_max)
    };
    // CAP_SYS_RESOURCE in effect, in the initial user namespace: what
    // raising a hard limit takes.
    let may_raise = caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .unwrap_or(false);
    let nr_open = fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    // SAFETY: geteuid cannot fail.
    let rootless = unsafe { libc::geteuid() } != 0;
    crate::ulimit::check(&limits, held, may_raise, rootless, nr_open)?;
    Ok(limits)
}

pub fn build(a: &RunArgs) -> Result<RunPlan, PlanError> {
    // Flag values first, as Docker's CLI checks them before anything.
    let ulimits = ulimits(&a.ulimit)?;
    let limits = crate::limits::settle(
        a.memory,
        a.memory_swap,
        a.cpus,
        a.pids_limit,
        std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
    )?;
    let restart = crate::restart::parse(a.restart.as_deref().unwrap_or("no"), a.rm)?;
    let (rootfs, root) = open_rootfs(&a.rootfs)?;
    // As Docker: an empty --name asks for a generated one.
    let name = a
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .map(spec::validate_name)
        .transpose()?;
    let id =
        sys::random_hex64().map_err(|e| PlanError::Random(format!("reading random bytes: {e}")))?;
    let net = net_mode(a.net.as_deref())?;
    let mut net_request = requested_settings(a)?;
    // On a user-defined network --ip is the container's address, as in
    // Docker; on the default bridge it stays the network setting.
    let static_ip = match (&net, &a.ip) {
        (NetMode::User(_), Some(v)) => {
            net_request.ip = None;
            Some(
                v.parse::<IpAddr>()
                    .map_err(|_| crate::netdef::NetDefError::Ip(v.clone()))?,
            )
        }
        _ => None,
    };
    if a.ip6.is_some() {
        return Err(crate::netdef::NetDefError::Ip6.into());
    }
    let network_aliases = a
        .network_alias
        .iter()
        .map(|x| crate::netdef::check_alias(x))
        .collect::<Result<Vec<_>, _>>()?;
    if !network_aliases.is_empty() && net.user().is_none() {
        return Err(PlanError::UserNetOnly(
            "network-scoped alias is supported only for containers in user defined networks",
        ));
    }
    let (publish, exposed) = ports(a)?;
    let links = links(&a.link)?;
    check_dns(a)?;
    let domainname = match &a.domainname {
        Some(d) if !d.is_empty() => {
            spec::validate_domainname(d)?;
            d.clone()
        }
        _ => String::new(),
    };
    let add_hosts = add_hosts(&a.add_host)?;
    let mut warnings = network_conflicts(a, &net, !publish.is_empty(), !links.is_empty())?;
    let rootless = !nix::unistd::geteuid().is_root();
    warnings.extend(crate::cgroup::check(&limits, rootless)?);
    let hostname = hostname(a.hostname.as_deref(), &net, &id)?;
    let (user_env, env_given) = environment(a)?;
    // The user, from the rootfs's own files.
    let user_spec = a.user.clone().unwrap_or_else(|| "0".into());
    let passwd = spec::parse_passwd(&read_in_rootfs(&root, "/etc/passwd"));
    let group = spec::parse_group(&read_in_rootfs(&root, "/etc/group"));
    let mut user = spec::resolve_user(&user_spec, &passwd, &group)?;
    spec::add_groups(&mut user, &a.group_add, &group)?;
    let env = container_env(&hostname, a.tty, Vec::new(), &user_env, &user.home);
    let workdir = workdir(a.workdir.as_ref())?;
    let volumes = volumes(&a.volume)?;
    let tmpfs = a
        .tmpfs
        .iter()
        .map(spec::parse_tmpfs)
        .collect::<Result<Vec<_>, _>>()?;
    // As Docker: --privileged gets every capability, whatever
    // --cap-add/--cap-drop say (they are still checked).
    let caps = spec::effective_caps(&a.cap_add, &a.cap_drop)?;
    let caps = if a.privileged {
        spec::all_caps() & bounding_set()
    } else {
        caps
    };
    let devices = a
        .device
        .iter()
        .map(|d| host_device(devices::parse_device(d)?))
        .collect::<Result<Vec<_>, _>>()?;
    let host_nodes = if a.privileged {
        host_nodes()
    } else {
        Vec::new()
    };
    let argv = if a.command.is_empty() {
        vec![OsString::from("/bin/sh")]
    } else {
        a.command.clone()
    };
    let (hosts_file, host_resolv, resolv_file) = etc_files(a, net == NetMode::Host);
    let labels = labels(a)?;
    Ok(RunPlan {
        labels,
        id,
        name,
        detach: a.detach,
        rm: a.rm,
        rootfs_arg: a.rootfs.clone(),
        rootfs,
        user_spec: a.user.clone().unwrap_or_default(),
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        volume_specs: a.volume.clone(),
        tmpfs_specs: a.tmpfs.clone(),
        argv,
        env,
        workdir,
        user,
        hostname_file: hosts::hostname_file(&hostname),
        hostname,
        interactive: a.interactive,
        tty: a.tty,
        init: a.init,
        net,
        publish,
        exposed,
        publish_all: a.publish_all,
        links,
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        dns_options: a.dns_option.clone(),
        domainname,
        group_add: a.group_add.clone(),
        env_given,
        warnings,
        add_hosts,
        net_request,
        user_env,
        publish_specs: a.publish.clone(),
        caps,
        volumes,
        read_only: a.read_only,
        tmpfs,
        hosts_file,
        resolv_file,
        host_resolv,
        seccomp: parse_security_opts(&a.security_opt)? && !a.privileged,
        devices,
        privileged: a.privileged,
        host_nodes,
        udp_idle: parse_udp_timeout(std::env::var("RRUN_PROXY_UDP_TIMEOUT").ok().as_deref())?,
        log: crate::logrot::parse(a.log_driver.as_deref(), &a.log_opt)?,
        ulimits,
        limits,
        restart,
        network_aliases,
        static_ip,
        outbound_bypass: a
            .outbound_bypass
            .clone()
            .or_else(|| {
                std::env::var("RRUN_OUTBOUND_BYPASS")
                    .ok()
                    .filter(|v| !v.is_empty())
            })
            .map(|v| crate::net::settings::parse_bool("outbound-bypass", &v))
            .transpose()?
            .unwrap_or(true),
    })
}

/// The rootfs, resolved, and an open handle on it (a directory).
fn open_rootfs(given: &OsStr) -> Result<(PathBuf, fs::File), PlanError> {
    let shown = || Path::new(given).display().to_string();
    let rootfs =
        fs::canonicalize(given).map_err(|e| PlanError::Rootfs(shown(), sys::errno_text(&e)))?;
    let root =
        fs::File::open(&rootfs).map_err(|e| PlanError::Rootfs(shown(), sys::errno_text(&e)))?;
    if !root.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(PlanError::Rootfs(shown(), "not a directory".into()));
    }
    Ok((rootfs, root))
}

/// `--net MODE`.
fn net_mode(given: Option<&str>) -> Result<NetMode, PlanError> {
    Ok(match given {
        None | Some("bridge") | Some("default") => NetMode::Bridge,
        Some("none") => NetMode::None,
        Some("host") => NetMode::Host,
        Some(n) if n.starts_with("container:") => {
            let c = &n["container:".len()..];
            if c.is_empty() {
                return Err(PlanError::Net(
                    n.to_string(),
                    "name the container: container:NAME",
                ));
            }
            NetMode::Container(c.to_string())
        }
        Some(n) if crate::netdef::valid_name(n) => NetMode::User(n.to_string()),
        Some(n) => {
            return Err(PlanError::Net(
                n.to_string(),
                "use bridge, none, host, container:NAME or the name of a network",
            ));
        }
    })
}

/// -p as written, and the exposed ports: --expose's and -p's container
/// ports, sorted, once each.
#[allow(clippy::type_complexity)]
fn ports(
    a: &RunArgs,
) -> Result<(Vec<crate::ports::Requested>, Vec<crate::ports::Exposed>), PlanError> {
    let mut publish = Vec::new();
    for p in &a.publish {
        publish.extend(crate::ports::parse_requested(p)?);
    }
    let mut exposed = Vec::new();
    for e in &a.expose {
        exposed.extend(crate::ports::parse_expose(e)?);
    }
    exposed.extend(publish.iter().map(|b| crate::ports::Exposed {
        port: b.container_port,
        proto: b.proto,
    }));
    exposed.sort();
    exposed.dedup();
    Ok((publish, exposed))
}

/// `--link NAME[:ALIAS]`.
fn links(given: &[String]) -> Result<Vec<Link>, PlanError> {
    let mut links = Vec::new();
    for l in given {
        let (t, al) = l.split_once(':').unwrap_or((l, l));
        let target = spec::validate_alias(t)
            .map_err(|_| PlanError::Link(l.clone(), "the container name is not valid".into()))?;
        let alias = spec::validate_alias(al).map_err(|_| {
            PlanError::Link(
                l.clone(),
                "the alias is not valid: use [a-zA-Z0-9][a-zA-Z0-9_.-]*".into(),
            )
        })?;
        links.push(Link { target, alias });
    }
    Ok(links)
}

/// --dns, --dns-search and --dns-option values.
fn check_dns(a: &RunArgs) -> Result<(), PlanError> {
    for d in &a.dns {
        d.parse::<std::net::IpAddr>()
            .map_err(|_| PlanError::Dns(d.clone()))?;
    }
    for d in &a.dns_search {
        if d.is_empty()
            || d.len() > 253
            || d.starts_with('-')
            || d.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == ';')
        {
            return Err(PlanError::DnsSearch(d.clone()));
        }
    }
    for o in &a.dns_option {
        spec::validate_dns_option(o)?;
    }
    Ok(())
}

/// `--add-host NAME:IP` (`host-gateway` kept until the gateway is known).
fn add_hosts(given: &[String]) -> Result<Vec<(String, String)>, PlanError> {
    let mut add_hosts = Vec::new();
    for h in given {
        let (name, ip) = h
            .split_once(':')
            .ok_or_else(|| PlanError::AddHost(h.clone()))?;
        spec::validate_hostname(name).map_err(|_| PlanError::AddHost(h.clone()))?;
        if ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err() {
            return Err(PlanError::AddHost(h.clone()));
        }
        add_hosts.push((name.to_string(), ip.to_string()));
    }
    Ok(add_hosts)
}

/// What the network mode refuses (Docker's conflicts), and its warnings.
fn network_conflicts(
    a: &RunArgs,
    net: &NetMode,
    publish: bool,
    links: bool,
) -> Result<Vec<String>, PlanError> {
    let publishes = publish || a.publish_all;
    let mut warnings = Vec::new();
    match net {
        NetMode::Container(_) => {
            let mut what = Vec::new();
            if publishes {
                what.push("port publishing");
            }
            if !a.expose.is_empty() {
                what.push("port exposing");
            }
            if links {
                what.push("links");
            }
            if a.hostname.is_some() {
                what.push("hostname");
            }
            if !a.dns.is_empty() || !a.dns_search.is_empty() {
                what.push("dns");
            }
            if !a.add_host.is_empty() {
                what.push("add-host");
            }
            if !what.is_empty() {
                return Err(PlanError::Conflict(format!(
                    "{} and the container type network mode",
                    what.join(", ")
                )));
            }
        }
        NetMode::Host | NetMode::None => {
            // As Docker: published ports are kept in the record and
            // discarded; with the host's network it says so.
            if *net == NetMode::Host && publish {
                warnings.push(
                    "WARNING: Published ports are discarded when using host network mode".into(),
                );
            }
            if links {
                return Err(PlanError::Conflict(format!(
                    "links and the {} network mode",
                    net.name()
                )));
            }
        }
        NetMode::Bridge | NetMode::User(_) => {}
    }
    Ok(warnings)
}

/// `-h`, else the host's name with its network, else the id's first 12.
fn hostname(given: Option<&str>, net: &NetMode, id: &str) -> Result<String, PlanError> {
    Ok(match given {
        Some(h) => {
            spec::validate_hostname(h)?;
            h.to_string()
        }
        // As Docker: with the host's network, the host's name.
        None if *net == NetMode::Host => fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        None => id[..12].to_string(),
    })
}

/// The user's variables (--env-file and -e in order, a copied variable
/// keeping its bytes) and the variables as Docker's record keeps them.
fn environment(a: &RunArgs) -> Result<(Vec<EnvVar>, Vec<OsString>), PlanError> {
    let lookup = |k: &str| std::env::var_os(k);
    let mut user_env = Vec::new();
    let mut env_given = Vec::new();
    for f in &a.env_file {
        let text = read_env_file(f)?;
        let vars = spec::parse_env_file(&Path::new(f).display().to_string(), &text, &lookup)?;
        env_given.extend(vars.iter().map(EnvVar::to_os));
        spec::merge_env(&mut user_env, vars);
    }
    // Docker's record keeps --env-file's lines as they are, and each -e
    // key once: a later value takes the first one's place.
    let mut given_e: Vec<(String, OsString)> = Vec::new();
    for e in &a.env {
        let (key, given) = match spec::parse_env(e, &lookup)? {
            Some(v) => {
                let given = (v.key.clone(), v.to_os());
                spec::merge_env(&mut user_env, [v]);
                given
            }
            // Validated: a bare key, which Docker's record keeps.
            None => (e.to_string_lossy().into_owned(), e.clone()),
        };
        match given_e.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = given,
            None => given_e.push((key, given)),
        }
    }
    env_given.extend(given_e.into_iter().map(|(_, g)| g));
    Ok((user_env, env_given))
}

/// `-w DIR`: absolute; "/" when not given.
fn workdir(given: Option<&OsString>) -> Result<PathBuf, PlanError> {
    Ok(match given {
        Some(w) if !w.as_bytes().starts_with(b"/") => {
            return Err(PlanError::Workdir(w.clone()));
        }
        Some(w) => spec::container_path(w).or_else(|_| {
            if w.as_bytes()
                .split(|&b| b == b'/')
                .all(|c| c.is_empty() || c == b".")
            {
                Ok(PathBuf::from("/"))
            } else {
                Err(PlanError::Workdir(w.clone()))
            }
        })?,
        None => "/".into(),
    })
}

/// `-v SRC:DST[:ro]`, each source looked at (a directory or a file).
fn volumes(given: &[OsString]) -> Result<Vec<(Volume, Kind)>, PlanError> {
    let mut volumes = Vec::new();
    for raw in given {
        let v = spec::parse_volume(raw)?;
        let md = fs::metadata(&v.src).map_err(|e| {
            PlanError::VolumeSource(
                raw.clone(),
                v.src.display().to_string(),
                sys::errno_text(&e),
            )
        })?;
        let kind = if md.is_dir() { Kind::Dir } else { Kind::File };
        volumes.push((v, kind));
    }
    Ok(volumes)
}

/// The hosts file before the network is known (the bridge's own line is
/// added once its address is; with the host's network, the host's file),
/// the host's resolver configuration, and the container's resolv.conf.
fn etc_files(a: &RunArgs, host_net: bool) -> (String, hosts::Resolv, String) {
    let hosts_file = if host_net {
        fs::read_to_string("/etc/hosts").unwrap_or_else(|_| hosts::hosts_file(None, &[]))
    } else {
        hosts::hosts_file(None, &[])
    };
    let host_resolv = host_resolv();
    let resolv_file = hosts::resolv_file(
        &host_resolv,
        host_net,
        &hosts::DnsFlags {
            dns: a.dns.clone(),
            search: a.dns_search.clone(),
            options: a.dns_option.clone(),
        },
    );
    (hosts_file, host_resolv, resolv_file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn security_opts() {
        let v =
            |a: &[&str]| parse_security_opts(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(v(&[]).unwrap());
        assert!(!v(&["seccomp=unconfined"]).unwrap());
        assert!(!v(&["seccomp:unconfined"]).unwrap());
        assert!(v(&["seccomp=unconfined", "seccomp=default"]).unwrap());
        assert!(v(&["no-new-privileges"]).unwrap());
        for bad in [
            "seccomp=/etc/profile.json",
            "apparmor=unconfined",
            "",
            "label=disable",
        ] {
            assert!(v(&[bad]).is_err(), "{bad}");
        }
    }

    fn vars(kv: &[&str]) -> Vec<EnvVar> {
        kv.iter()
            .map(|s| EnvVar::from_os(std::ffi::OsStr::new(s)).unwrap())
            .collect()
    }

    fn texts(env: &[EnvVar]) -> Vec<String> {
        env.iter()
            .map(|e| e.to_os().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn environment_in_dockers_order() {
        // Captured from Docker 20.10: `-e B=2 -e A=1 -e DB_PORT=5432
        // --link db:db`, env as the container sees it.
        let links = vars(&[
            "DB_PORT=tcp://172.17.0.2:5432",
            "DB_PORT_5432_TCP=tcp://172.17.0.2:5432",
            "DB_NAME=/e1/db",
        ]);
        let user = vars(&["B=2", "A=1", "DB_PORT=5432"]);
        let env = container_env("33eeb4e4cd58", false, links, &user, "/root");
        assert_eq!(
            texts(&env),
            [
                &format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=33eeb4e4cd58",
                "DB_PORT=5432",
                "DB_PORT_5432_TCP=tcp://172.17.0.2:5432",
                "DB_NAME=/e1/db",
                "B=2",
                "A=1",
                "HOME=/root",
            ]
        );
        // -t adds TERM after HOSTNAME; the user's HOSTNAME, PATH and HOME
        // replace Docker's in place.
        let env = container_env(
            "h",
            true,
            Vec::new(),
            &vars(&["HOSTNAME=hx", "PATH=/bin", "HOME=/h"]),
            "/root",
        );
        assert_eq!(
            texts(&env),
            ["PATH=/bin", "HOSTNAME=hx", "TERM=xterm", "HOME=/h"]
        );
        let env = container_env("h", false, Vec::new(), &[], "/home/app");
        assert_eq!(texts(&env)[2], "HOME=/home/app");
        assert_eq!(env.len(), 3);
    }

    #[test]
    fn udp_timeout() {
        assert_eq!(parse_udp_timeout(None).unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_udp_timeout(Some("")).unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_udp_timeout(Some("2")).unwrap(),
            Duration::from_secs(2)
        );
        for bad in ["0", "-1", "1.5", "90s", "86401", "x"] {
            assert!(parse_udp_timeout(Some(bad)).is_err(), "{bad}");
        }
    }
}
