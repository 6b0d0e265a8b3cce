//! The command line, in Docker's words and flags, so that muscle memory
//! works (docs/ARCHITECTURE.md has the map of the rest). Only the
//! shape lives here; meaning is given by `plan.rs`. Commands, their
//! arguments, env values and paths are taken as bytes (`OsString`); every
//! other value must be UTF-8, and one that is not is refused here, named.

use std::ffi::OsString;

use clap::{ArgAction, Parser};

use crate::flag::FlagError;

pub const USAGE: &str = "Usage: rrun [run] [OPTIONS] ROOTFS [COMMAND [ARG...]]";

#[derive(Parser, Debug, Default)]
#[command(
    name = "rrun",
    disable_help_flag = true,
    disable_version_flag = true,
    override_usage = "rrun [run] [OPTIONS] ROOTFS [COMMAND [ARG...]]",
    about = "Run a command in new Linux namespaces on a root filesystem directory"
)]
pub struct RunArgs {
    /// Set environment variables (K=V, or K to copy it from rrun's environment)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<OsString>,
    /// Read environment variables from a file (K=V a line, # comments)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<OsString>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<OsString>,
    /// User to run as: UID[:GID] or NAME[:GROUP] from the rootfs's /etc/passwd
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// Container host name (default: the first 12 hex digits of its id)
    #[arg(short = 'h', long = "hostname", value_name = "NAME")]
    pub hostname: Option<String>,
    /// Run in the background and print the container ID
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Assign a name to the container
    #[arg(long = "name", value_name = "NAME")]
    pub name: Option<String>,
    /// Keep STDIN open (pass rrun's standard input to the container)
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Run a tiny init as PID 1 that forwards signals and reaps zombies
    #[arg(long = "init")]
    pub init: bool,
    /// Remove the container when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Network mode: bridge, none, host, container:NAME, or a network's name
    #[arg(long = "net", alias = "network", value_name = "MODE")]
    pub net: Option<String>,
    /// A network-scoped alias for the container (user-defined networks)
    #[arg(long = "network-alias", alias = "net-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,
    /// IPv6 address (refused: the IPv6 address follows the IPv4 one)
    #[arg(long = "ip6", value_name = "IP")]
    pub ip6: Option<String>,
    /// Publish a container's port(s) to the host: [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]
    #[arg(short = 'p', long = "publish", value_name = "SPEC")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to free ports of the host
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports: PORT[-PORT][/PROTO]
    #[arg(long = "expose", value_name = "PORT")]
    pub expose: Vec<String>,
    /// Add a link to another container: NAME[:ALIAS]
    #[arg(long = "link", value_name = "NAME[:ALIAS]")]
    pub link: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "IP")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// Set DNS options (resolv.conf's options line)
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "OPT")]
    pub dns_option: Vec<String>,
    /// Container NIS domain name (and the domain of its /etc/hosts line)
    #[arg(long = "domainname", value_name = "DOMAIN")]
    pub domainname: Option<String>,
    /// Add additional groups to join: a name from the rootfs's /etc/group or a GID
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// Add a custom host-to-IP mapping: NAME:IP
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    /// Network setting: use this existing bridge (default: rrun0, made by rrun)
    #[arg(short = 'b', long = "bridge", value_name = "BRIDGE")]
    pub bridge: Option<String>,
    /// Network setting: the bridge's address and subnet, e.g. 192.168.5.1/24
    #[arg(long = "bip", value_name = "CIDR")]
    pub bip: Option<String>,
    /// Network setting: the MTU of the bridge and the containers' interfaces
    #[arg(long = "mtu", value_name = "BYTES")]
    pub mtu: Option<String>,
    /// Network setting: allow traffic between containers (true|false)
    #[arg(long = "icc", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub icc: Option<String>,
    /// The container's address on a user-defined network; on the default
    /// bridge, the network setting: the default host address of published ports
    #[arg(long = "ip", value_name = "IP")]
    pub ip: Option<String>,
    /// Network setting: turn on net.ipv4.ip_forward (true|false)
    #[arg(long = "ip-forward", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub ip_forward: Option<String>,
    /// Network setting: install kernel NAT rules with nftables (true|false)
    #[arg(long = "iptables", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub iptables: Option<String>,
    /// Network setting: the address containers see forwarded clients
    /// come from (transparent: their own; gateway: the bridge's)
    #[arg(long = "userland-proxy-source", value_name = "transparent|gateway")]
    pub userland_proxy_source: Option<String>,
    /// Network setting: IPv6 on the default bridge (true|false; needs --fixed-cidr-v6)
    #[arg(long = "ipv6", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub ipv6: Option<String>,
    /// Network setting: the default bridge's IPv6 subnet, e.g. fd00:dead:beef::/64
    #[arg(long = "fixed-cidr-v6", value_name = "CIDR")]
    pub fixed_cidr_v6: Option<String>,
    /// Rootless: make the container's outbound TCP connections in the
    /// host's network namespace instead of relaying them (true|false; default true)
    #[arg(long = "outbound-bypass", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub outbound_bypass: Option<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Give the container a host device: HOST[:CONTAINER][:PERMS] (PERMS: r, w, m; default rwm)
    #[arg(long = "device", value_name = "HOST[:CONTAINER][:rwm]")]
    pub device: Vec<String>,
    /// Give extended privileges: every capability, no seccomp filter, no
    /// masked /proc paths, a writable /sys, the host's devices
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Security options: seccomp=unconfined (no seccomp filter),
    /// no-new-privileges (always on)
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Bind mount a host directory or file: SRC:DST[:ro]
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro]")]
    pub volume: Vec<OsString>,
    /// Mount the root filesystem read-only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Mount a tmpfs: DST[:size=…,mode=…]
    #[arg(long = "tmpfs", value_name = "DST[:OPTS]")]
    pub tmpfs: Vec<OsString>,
    /// Logging driver: json-file (the default) or none
    #[arg(long = "log-driver", value_name = "DRIVER")]
    pub log_driver: Option<String>,
    /// Log driver options: max-size=SIZE (10m), max-file=N
    #[arg(long = "log-opt", value_name = "OPT")]
    pub log_opt: Vec<String>,
    /// Set meta data on a container: KEY=VALUE, or KEY (an empty value)
    #[arg(short = 'l', long = "label", value_name = "LABEL", value_parser = crate::spec::parse_label_flag)]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels (KEY=VALUE a line, # comments)
    #[arg(long = "label-file", value_name = "FILE")]
    pub label_file: Vec<OsString>,
    /// Restart policy to apply when the container exits: no, on-failure[:N], always, unless-stopped
    #[arg(long = "restart", value_name = "POLICY")]
    pub restart: Option<String>,
    /// Resource limit: TYPE=SOFT[:HARD] (nofile, nproc, core, stack, …; -1: unlimited)
    #[arg(long = "ulimit", value_name = "TYPE=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Memory limit (e.g. 512m, 1g; at least 6m)
    #[arg(short = 'm', long = "memory", value_name = "BYTES", allow_hyphen_values = true, value_parser = crate::limits::parse_memory)]
    pub memory: Option<i64>,
    /// Swap limit equal to memory plus swap: -1 for unlimited swap (default: twice --memory)
    #[arg(long = "memory-swap", value_name = "BYTES", allow_hyphen_values = true, value_parser = crate::limits::parse_memory_swap)]
    pub memory_swap: Option<i64>,
    /// Number of CPUs (e.g. 0.5, 1.5)
    #[arg(long = "cpus", value_name = "DECIMAL", allow_hyphen_values = true, value_parser = crate::limits::parse_cpus)]
    pub cpus: Option<i64>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long = "pids-limit", value_name = "N", allow_hyphen_values = true, value_parser = crate::limits::parse_pids)]
    pub pids_limit: Option<i64>,
    /// Print this help
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// The root filesystem directory
    #[arg(value_name = "ROOTFS")]
    pub rootfs: OsString,
    /// The command and its arguments (default /bin/sh)
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
}

/// List containers
#[derive(Parser, Debug)]
#[command(name = "rrun ps", disable_help_flag = true)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a Go template
    #[arg(long = "format", value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Filter output based on conditions provided (KEY=VALUE)
    #[arg(short = 'f', long = "filter", value_name = "FILTER", value_parser = crate::filter::parse_filter_flag)]
    pub filter: Vec<crate::filter::FilterArg>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", value_name = "N", default_value = "-1", allow_hyphen_values = true, value_parser = crate::filter::parse_last)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// Show a container's output
#[derive(Parser, Debug)]
#[command(name = "rrun logs", disable_help_flag = true)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Number of lines to show from the end of the logs ("all" or a number)
    #[arg(short = 'n', long = "tail", value_name = "N", default_value = "all")]
    pub tail: String,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long = "since", value_name = "TIME", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long = "until", value_name = "TIME", allow_hyphen_values = true)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long = "details")]
    pub details: bool,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    pub container: String,
}

/// Show containers' details as JSON
#[derive(Parser, Debug)]
#[command(name = "rrun inspect", disable_help_flag = true)]
pub struct InspectArgs {
    /// Format output using a Go template
    #[arg(short = 'f', long = "format", value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Return JSON for specified type (rrun has containers only)
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Run a command in a running container
#[derive(Parser, Debug)]
#[command(name = "rrun exec", disable_help_flag = true)]
pub struct ExecArgs {
    /// Keep STDIN open
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<OsString>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<OsString>,
    /// User to run as: UID[:GID] or NAME[:GROUP]
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}

/// Stop running containers (SIGTERM, then SIGKILL)
#[derive(Parser, Debug)]
#[command(name = "rrun stop", disable_help_flag = true)]
pub struct StopArgs {
    /// Seconds to wait for the container to stop before killing it
    #[arg(short = 't', long = "time", value_name = "SECS", default_value_t = 10)]
    pub time: u32,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Restart one or more containers
#[derive(Parser, Debug)]
#[command(name = "rrun restart", disable_help_flag = true)]
pub struct RestartArgs {
    /// Seconds to wait for the container to stop before killing it
    #[arg(short = 't', long = "time", value_name = "SECS", default_value_t = 10)]
    pub time: u32,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Start one or more stopped containers
#[derive(Parser, Debug)]
#[command(name = "rrun start", disable_help_flag = true)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Send a signal to running containers
#[derive(Parser, Debug)]
#[command(name = "rrun kill", disable_help_flag = true)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(
        short = 's',
        long = "signal",
        value_name = "SIGNAL",
        default_value = "KILL"
    )]
    pub signal: String,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Remove containers
#[derive(Parser, Debug)]
#[command(name = "rrun rm", disable_help_flag = true)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Wait for containers to stop and print their exit codes
#[derive(Parser, Debug)]
#[command(name = "rrun wait", disable_help_flag = true)]
pub struct WaitArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// List a container's published ports
#[derive(Parser, Debug)]
#[command(name = "rrun port", disable_help_flag = true)]
pub struct PortArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

/// Manage networks (create, ls, inspect, rm, prune, connect, disconnect, reload)
#[derive(Parser, Debug)]
#[command(name = "rrun network", disable_help_flag = true)]
pub struct NetworkArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// reload: every container (the whole network is rebuilt anyway)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// create, ls, inspect, rm, prune, connect, disconnect or reload
    /// (`rrun network ACTION --help` for each one's flags)
    pub action: String,
    /// Networks by name ("bridge": the default network)
    pub names: Vec<String>,
}

/// Create a network
#[derive(Parser, Debug)]
#[command(name = "rrun network create", disable_help_flag = true)]
pub struct NetworkCreateArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Driver to manage the network (bridge only)
    #[arg(short = 'd', long = "driver", value_name = "DRIVER")]
    pub driver: Option<String>,
    /// Subnet in CIDR format
    #[arg(long = "subnet", value_name = "CIDR")]
    pub subnet: Vec<String>,
    /// IPv4 gateway for the subnet
    #[arg(long = "gateway", value_name = "IP")]
    pub gateway: Vec<String>,
    /// Allocate container addresses from a sub-range
    #[arg(long = "ip-range", value_name = "CIDR")]
    pub ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long = "internal")]
    pub internal: bool,
    /// Enable IPv6 networking (an IPv6 --subnet, else a unique local /64)
    #[arg(long = "ipv6")]
    pub ipv6: bool,
    /// Driver options (com.docker.network.driver.mtu=N, com.docker.network.bridge.name=NAME)
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    pub name: String,
}

/// List networks
#[derive(Parser, Debug)]
#[command(name = "rrun network ls", disable_help_flag = true)]
pub struct NetworkLsArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Only display network IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Pretty-print networks using a Go template
    #[arg(long = "format", value_name = "TEMPLATE")]
    pub format: Option<String>,
}

/// Connect a running container to a network
#[derive(Parser, Debug)]
#[command(name = "rrun network connect", disable_help_flag = true)]
pub struct NetworkConnectArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Add network-scoped alias for the container
    #[arg(long = "alias", value_name = "ALIAS")]
    pub alias: Vec<String>,
    /// IPv4 address
    #[arg(long = "ip", value_name = "IP")]
    pub ip: Option<String>,
    /// IPv6 address (refused: the IPv6 address follows the IPv4 one)
    #[arg(long = "ip6", value_name = "IP")]
    pub ip6: Option<String>,
    pub network: String,
    pub container: String,
}

/// Disconnect a container from a network
#[derive(Parser, Debug)]
#[command(name = "rrun network disconnect", disable_help_flag = true)]
pub struct NetworkDisconnectArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Accepted for Docker's sake (a disconnect is never refused for want of it)
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    pub network: String,
    pub container: String,
}

/// Remove all unused networks
#[derive(Parser, Debug)]
#[command(name = "rrun network prune", disable_help_flag = true)]
pub struct NetworkPruneArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// Display detailed information on one or more networks
#[derive(Parser, Debug)]
#[command(name = "rrun network inspect", disable_help_flag = true)]
pub struct NetworkInspectArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Format the output using the given Go template
    #[arg(short = 'f', long = "format", value_name = "TEMPLATE")]
    pub format: Option<String>,
    pub names: Vec<String>,
}

/// Display the running processes of a container
#[derive(Parser, Debug)]
#[command(name = "rrun top", disable_help_flag = true)]
pub struct TopArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    pub container: String,
    /// ps's options (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// Display a live stream of container(s) resource usage statistics
#[derive(Parser, Debug)]
#[command(name = "rrun stats", disable_help_flag = true)]
pub struct StatsArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Pretty-print stats using a Go template
    #[arg(long = "format", value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// The containers (default: every running one, and those started later)
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Rename a container
#[derive(Parser, Debug)]
#[command(name = "rrun rename", disable_help_flag = true)]
pub struct RenameArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    pub container: String,
    pub new_name: String,
}

/// Remove all stopped containers
#[derive(Parser, Debug)]
#[command(name = "rrun container prune", disable_help_flag = true)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
}

// The commands below are built from tables rather than clap's derive: the
// derive unrolls each argument into code of its own (12–17 KB a command,
// measured with cargo-bloat), which issue 18's binary budget could not
// carry; one builder over a table costs a fraction of that.

/// One argument of a table-built command.
struct TableArg {
    id: &'static str,
    long: Option<&'static str>,
    short: Option<char>,
    alias: Option<&'static str>,
    /// The value's name; None: a flag without a value.
    value: Option<&'static str>,
    many: bool,
    /// Bytes as given (else UTF-8 only).
    os: bool,
    required: bool,
    help: &'static str,
}

const fn opt(
    id: &'static str,
    long: &'static str,
    value: &'static str,
    help: &'static str,
) -> TableArg {
    TableArg {
        id,
        long: Some(long),
        short: None,
        alias: None,
        value: Some(value),
        many: false,
        os: false,
        required: false,
        help,
    }
}

fn table_command(
    name: &'static str,
    about: &'static str,
    usage: Option<&'static str>,
    args: &[TableArg],
) -> clap::Command {
    let mut c = clap::Command::new(name)
        .about(about)
        .disable_help_flag(true)
        .arg(clap::Arg::new("help").long("help").action(ArgAction::Help));
    if let Some(u) = usage {
        c = c.override_usage(u);
    }
    for a in args {
        let mut x = clap::Arg::new(a.id).help(a.help).required(a.required);
        if let Some(l) = a.long {
            x = x.long(l);
        }
        if let Some(s) = a.short {
            x = x.short(s);
        }
        if let Some(al) = a.alias {
            x = x.alias(al);
        }
        x = match a.value {
            None => x.action(ArgAction::SetTrue),
            Some(v) => {
                let x = x.value_name(v).action(if a.many {
                    ArgAction::Append
                } else {
                    ArgAction::Set
                });
                let x = if a.many && a.long.is_none() {
                    x.num_args(1..)
                } else {
                    x
                };
                if a.os {
                    x.value_parser(clap::value_parser!(OsString))
                } else {
                    x.value_parser(clap::value_parser!(String))
                }
            }
        };
        c = c.arg(x);
    }
    c
}

fn one<T: Clone + Send + Sync + 'static>(m: &clap::ArgMatches, id: &str) -> Option<T> {
    m.get_one::<T>(id).cloned()
}

fn many<T: Clone + Send + Sync + 'static>(m: &clap::ArgMatches, id: &str) -> Vec<T> {
    m.get_many::<T>(id)
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

/// clap's traits for a table-built command: `command` builds it, `$body`
/// reads its matches `$m`.
macro_rules! table_parser {
    ($ty:ty, $cmd:expr, |$m:ident| $body:expr) => {
        impl clap::CommandFactory for $ty {
            fn command() -> clap::Command {
                $cmd
            }
            fn command_for_update() -> clap::Command {
                $cmd
            }
        }
        impl clap::FromArgMatches for $ty {
            fn from_arg_matches($m: &clap::ArgMatches) -> Result<Self, clap::Error> {
                Ok($body)
            }
            fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
                *self = Self::from_arg_matches(m)?;
                Ok(())
            }
        }
        impl Parser for $ty {}
    };
}

/// `rrun generate kube`'s arguments.
#[derive(Debug)]
pub struct GenerateArgs {
    pub service: bool,
    /// --type: pod or deployment.
    pub kind: Option<String>,
    /// --image ROOTFS=IMAGE.
    pub image: Vec<OsString>,
    /// -f, --filename.
    pub file: Option<OsString>,
    pub containers: Vec<String>,
}

table_parser!(
    GenerateArgs,
    table_command(
        "rrun generate kube",
        "Generate Kubernetes YAML from containers",
        None,
        &[
            TableArg {
                short: Some('s'),
                value: None,
                ..opt(
                    "service",
                    "service",
                    "",
                    "A Service for each link alias and network alias, so that peers find the container by that name"
                )
            },
            opt(
                "kind",
                "type",
                "TYPE",
                "What each pod is written as: pod or deployment"
            ),
            TableArg {
                many: true,
                os: true,
                ..opt(
                    "image",
                    "image",
                    "ROOTFS=IMAGE",
                    "The image Kubernetes pulls for a rootfs (default: localhost/<its directory's name>:latest)"
                )
            },
            TableArg {
                short: Some('f'),
                os: true,
                ..opt(
                    "file",
                    "filename",
                    "FILE",
                    "Write the YAML to this file instead of standard output"
                )
            },
            TableArg {
                long: None,
                many: true,
                required: true,
                ..opt(
                    "containers",
                    "",
                    "CONTAINER",
                    "The containers, by name or id"
                )
            },
        ],
    ),
    |m| GenerateArgs {
        service: m.get_flag("service"),
        kind: one(m, "kind"),
        image: many(m, "image"),
        file: one(m, "file"),
        containers: many(m, "containers"),
    }
);

/// `rrun kube play`'s arguments.
#[derive(Debug)]
pub struct KubePlayArgs {
    pub network: Option<String>,
    /// --rootfs IMAGE=DIR.
    pub rootfs: Vec<OsString>,
    pub file: OsString,
}

const KUBE_NETWORK: TableArg = TableArg {
    alias: Some("net"),
    ..opt(
        "network",
        "network",
        "NAME",
        "The network the pods share, made if missing (default: rrun-kube); kube down removes it when kube play made it and nothing else uses it",
    )
};

const KUBE_FILE: TableArg = TableArg {
    long: None,
    os: true,
    required: true,
    ..opt("file", "", "FILE", "The manifest (- for standard input)")
};

table_parser!(
    KubePlayArgs,
    table_command(
        "rrun kube play",
        "Run the pods of a Kubernetes manifest",
        None,
        &[
            KUBE_NETWORK,
            TableArg {
                many: true,
                os: true,
                ..opt(
                    "rootfs",
                    "rootfs",
                    "IMAGE=DIR",
                    "The rootfs directory for an image (default: the manifest's io.rrun.rootfs annotation)"
                )
            },
            KUBE_FILE,
        ],
    ),
    |m| KubePlayArgs {
        network: one(m, "network"),
        rootfs: many(m, "rootfs"),
        file: one(m, "file").unwrap_or_default(),
    }
);

/// `rrun kube down`'s arguments.
#[derive(Debug)]
pub struct KubeDownArgs {
    pub network: Option<String>,
    pub file: OsString,
}

table_parser!(
    KubeDownArgs,
    table_command(
        "rrun kube down",
        "Remove the pods kube play started from a manifest",
        None,
        &[KUBE_NETWORK, KUBE_FILE],
    ),
    |m| KubeDownArgs {
        network: one(m, "network"),
        file: one(m, "file").unwrap_or_default(),
    }
);

/// `rrun image save`'s arguments.
#[derive(Debug)]
pub struct ImageSaveArgs {
    /// -o, --output FILE (replaced only once it is complete).
    pub output: OsString,
    /// -t, --tag NAME[:TAG].
    pub tag: Option<String>,
    /// --from CONTAINER.
    pub from: Option<String>,
    pub no_devices: bool,
    pub keep_unmapped: bool,
    /// The root filesystem directory to save.
    pub rootfs: Option<OsString>,
}

table_parser!(
    ImageSaveArgs,
    table_command(
        "rrun image save",
        "Save a root filesystem directory as an image archive (docker load, podman load)",
        Some(
            "rrun image save [OPTIONS] -o FILE ROOTFS\n       rrun image save [OPTIONS] -o FILE --from CONTAINER [ROOTFS]"
        ),
        &[
            TableArg {
                short: Some('o'),
                os: true,
                required: true,
                ..opt(
                    "output",
                    "output",
                    "FILE",
                    "Write the archive to FILE (replaced only once it is complete)"
                )
            },
            TableArg {
                short: Some('t'),
                ..opt(
                    "tag",
                    "tag",
                    "NAME[:TAG]",
                    "Name the image NAME[:TAG] (default: localhost/<rootfs or container name>:latest)"
                )
            },
            opt(
                "from",
                "from",
                "CONTAINER",
                "Take the command, environment, ports, working directory and user from a stopped container (and its rootfs, when no ROOTFS is given)"
            ),
            TableArg {
                value: None,
                ..opt(
                    "no_devices",
                    "no-devices",
                    "",
                    "Leave device nodes out of the image"
                )
            },
            TableArg {
                value: None,
                ..opt(
                    "keep_unmapped",
                    "keep-unmapped",
                    "",
                    "Rootless: store files owned by ids outside rrun's user namespace as 65534 instead of refusing"
                )
            },
            TableArg {
                long: None,
                os: true,
                ..opt(
                    "rootfs",
                    "",
                    "ROOTFS",
                    "The root filesystem directory to save"
                )
            },
        ],
    ),
    |m| ImageSaveArgs {
        output: one(m, "output").unwrap_or_default(),
        tag: one(m, "tag"),
        from: one(m, "from"),
        no_devices: m.get_flag("no_devices"),
        keep_unmapped: m.get_flag("keep_unmapped"),
        rootfs: one(m, "rootfs"),
    }
);

/// Show the commands, or a command's flags
#[derive(Parser, Debug)]
#[command(name = "rrun help", disable_help_flag = true)]
pub struct HelpArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// The command (and subcommand) whose flags to show
    #[arg(value_name = "COMMAND")]
    pub topic: Vec<String>,
}

/// Show rrun's version and what it finds on this machine
#[derive(Parser, Debug)]
#[command(name = "rrun version", disable_help_flag = true)]
pub struct VersionArgs {
    /// Format output using a Go template ('{{json .}}': all of it as JSON)
    #[arg(short = 'f', long = "format", value_name = "TEMPLATE")]
    pub format: Option<String>,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// Show what rrun keeps running for you and where its state is
#[derive(Parser, Debug)]
#[command(name = "rrun info", disable_help_flag = true)]
pub struct InfoArgs {
    /// Format output using a Go template ('{{json .}}': all of it as JSON)
    #[arg(short = 'f', long = "format", value_name = "TEMPLATE")]
    pub format: Option<String>,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// Print a shell completion script (bash, zsh or fish)
#[derive(Parser, Debug)]
#[command(
    name = "rrun completion",
    disable_help_flag = true,
    after_help = "Load it in the running shell:\n  \
                  bash: source <(rrun completion bash)\n  \
                  zsh:  source <(rrun completion zsh)\n  \
                  fish: rrun completion fish | source\n\
                  `make install` installs all three."
)]
pub struct CompletionArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// The shell
    #[arg(value_name = "SHELL", value_parser = ["bash", "zsh", "fish"])]
    pub shell: String,
}

/// Reset rrun: stop what it keeps running for you and remove its state
#[derive(Parser, Debug)]
#[command(
    name = "rrun system",
    disable_help_flag = true,
    disable_help_subcommand = true
)]
pub struct SystemArgs {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    #[command(subcommand)]
    pub command: Option<SystemCommand>,
}

#[derive(clap::Subcommand, Debug)]
pub enum SystemCommand {
    Reset(ResetArgs),
    Info(InfoArgs),
}

/// Stop every container, the network, its pasta and the namespace holder,
/// and remove the state directory
#[derive(Parser, Debug)]
#[command(name = "reset", disable_help_flag = true)]
pub struct ResetArgs {
    /// Do not ask for confirmation; remove running containers too
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// `cmd` with the words its help lacks: every `--help` flag is described.
pub fn polish(mut cmd: clap::Command) -> clap::Command {
    if cmd
        .get_arguments()
        .any(|a| a.get_id() == "help" && a.get_help().is_none())
    {
        cmd = cmd.mut_arg("help", |a| a.help("Print this help"));
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for s in subs {
        cmd = cmd.mut_subcommand(s, polish);
    }
    cmd
}

/// Parse a subcommand's arguments with Docker's error shapes.
pub fn parse_sub<T: Parser>(cmd: &str, args: &[OsString]) -> Result<T, CliError> {
    let name = format!("rrun {cmd}");
    let argv = |args: &[OsString]| std::iter::once(OsString::from(&name)).chain(args.to_vec());
    let parse = |a: &[OsString]| -> Result<T, clap::Error> {
        let mut cmd = polish(T::command());
        let mut m = cmd.try_get_matches_from_mut(argv(a))?;
        T::from_arg_matches_mut(&mut m).map_err(|e| e.format(&mut cmd))
    };
    parse(args).map_err(|e| {
        clap_error(e, &name, args, &|a: &[OsString]| {
            parse(a).err().map(|e| e.kind())
        })
    })
}

/// Which argument clap found not UTF-8 where it must be: the first whose
/// bytes, alone left as they are (every other one made valid), still fail
/// so. `parse` gives the kind of error a command line makes, if any.
fn not_utf8(
    args: &[OsString],
    parse: &dyn Fn(&[OsString]) -> Option<clap::error::ErrorKind>,
) -> Option<OsString> {
    let bad: Vec<usize> = (0..args.len())
        .filter(|&i| args[i].to_str().is_none())
        .collect();
    bad.iter()
        .find(|&&i| {
            let only: Vec<OsString> = (0..args.len())
                .map(|j| {
                    if j != i && bad.contains(&j) {
                        OsString::from(args[j].to_string_lossy().into_owned())
                    } else {
                        args[j].clone()
                    }
                })
                .collect();
            parse(&only) == Some(clap::error::ErrorKind::InvalidUtf8)
        })
        .map(|&i| args[i].clone())
}

fn clap_error(
    e: clap::Error,
    cmd: &str,
    args: &[OsString],
    parse: &dyn Fn(&[OsString]) -> Option<clap::error::ErrorKind>,
) -> CliError {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidUtf8 => CliError::Invalid(match not_utf8(args, parse) {
            Some(a) => format!(
                "argument {} is not valid UTF-8: only a command, its arguments, env values and paths may hold such bytes",
                crate::bytes::show(&a)
            ),
            None => "an argument is not valid UTF-8".into(),
        }),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => CliError::Help(e.to_string()),
        ErrorKind::ValueValidation
            if std::error::Error::source(&e).is_some_and(|s| s.is::<FlagError>()) =>
        {
            let why = std::error::Error::source(&e).map(|s| s.to_string());
            CliError::Usage(why.unwrap_or_default())
        }
        ErrorKind::UnknownArgument => {
            let flag = e
                .get(clap::error::ContextKind::InvalidArg)
                .map(|v| v.to_string())
                .unwrap_or_default();
            CliError::Usage(format!("unknown flag: {flag}"))
        }
        ErrorKind::MissingRequiredArgument => {
            CliError::Usage(format!("\"{cmd}\" requires more arguments"))
        }
        // A flag given without its value: pflag's words.
        ErrorKind::InvalidValue
            if e.get(clap::error::ContextKind::InvalidValue)
                .is_some_and(|v| v.to_string().is_empty())
                && e.get(clap::error::ContextKind::ValidValue)
                    .is_none_or(|v| v.to_string().is_empty()) =>
        {
            let arg = e
                .get(clap::error::ContextKind::InvalidArg)
                .map(|v| v.to_string())
                .unwrap_or_default();
            let flag = arg.split_whitespace().next().unwrap_or_default();
            CliError::Usage(format!("flag needs an argument: {flag}"))
        }
        ErrorKind::InvalidValue
            if e.get(clap::error::ContextKind::ValidValue).is_some()
                && e.get(clap::error::ContextKind::InvalidValue).is_some() =>
        {
            let ctx = |k| e.get(k).map(|v| v.to_string()).unwrap_or_default();
            use clap::error::ContextKind as K;
            CliError::Usage(format!(
                "invalid value '{}' for '{}': use one of {}",
                ctx(K::InvalidValue),
                ctx(K::InvalidArg),
                ctx(K::ValidValue)
            ))
        }
        _ => {
            let msg = e.to_string();
            let first = msg
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_string();
            CliError::Usage(first)
        }
    }
}

/// What went wrong on the command line, already worded for the user.
#[derive(Debug)]
pub enum CliError {
    /// --help: print to stdout, exit 0.
    Help(String),
    /// Anything else: print to stderr with the usage line, exit 125.
    Usage(String),
    /// A value that cannot be taken (not UTF-8): one line, exit 125, as
    /// any other refused value.
    Invalid(String),
}

pub fn parse_run(args: &[OsString]) -> Result<RunArgs, CliError> {
    parse_run_as("run", args)
}

/// `rrun create`: run's flags and arguments, the container not started.
pub fn create_command() -> clap::Command {
    use clap::CommandFactory;
    RunArgs::command()
        .about("Create a new container (run's flags; started with `rrun start`)")
        .override_usage("rrun create [OPTIONS] ROOTFS [COMMAND [ARG...]]")
}

/// `run`'s flags for `cmd` (run, create), named in its errors.
pub fn parse_run_as(cmd: &str, args: &[OsString]) -> Result<RunArgs, CliError> {
    use clap::FromArgMatches;
    let argv = |args: &[OsString]| std::iter::once(OsString::from("rrun")).chain(args.to_vec());
    let name = format!("rrun {cmd}");
    let parse = |a: &[OsString]| -> Result<RunArgs, clap::Error> {
        if cmd == "create" {
            let mut c = create_command();
            let mut m = c.try_get_matches_from_mut(argv(a))?;
            RunArgs::from_arg_matches_mut(&mut m).map_err(|e| e.format(&mut c))
        } else {
            RunArgs::try_parse_from(argv(a))
        }
    };
    parse(args).map_err(|e| match e.kind() {
        clap::error::ErrorKind::MissingRequiredArgument => CliError::Usage(format!(
            "\"{name}\" requires at least 1 argument: the rootfs directory"
        )),
        _ => clap_error(e, &name, args, &|a: &[OsString]| {
            parse(a).err().map(|e| e.kind())
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[&str]) -> Result<RunArgs, CliError> {
        parse_run(&s.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn command_after_rootfs_keeps_its_flags() {
        let a = p(&["-it", "-e", "A=1", "./r", "/bin/sh", "-c", "echo -h --rm"]).unwrap();
        assert!(a.interactive && a.tty && !a.rm);
        assert_eq!(a.rootfs, "./r");
        assert_eq!(a.command, ["/bin/sh", "-c", "echo -h --rm"]);
        let a = p(&["./r", "ls", "-la"]).unwrap();
        assert_eq!(a.command, ["ls", "-la"]);
        let a = p(&["-h", "box", "--net=host", "r"]).unwrap();
        assert_eq!(a.hostname.as_deref(), Some("box"));
        assert_eq!(a.net.as_deref(), Some("host"));
    }

    #[test]
    fn bytes_pass_where_they_may() {
        use std::os::unix::ffi::OsStringExt;
        let b = |s: &[u8]| OsString::from_vec(s.to_vec());
        let a = parse_run(&[
            b(b"-e"),
            b(b"A=\xe9"),
            b(b"-w"),
            b(b"/w\xe9"),
            b(b"-v"),
            b(b"/s\xe9:/d"),
            b(b"--tmpfs"),
            b(b"/t\xe9"),
            b(b"--env-file"),
            b(b"/f\xe9"),
            b(b"./r\xe9"),
            b(b"echo"),
            b(b"caf\xe9"),
        ])
        .unwrap();
        assert_eq!(a.env, [b(b"A=\xe9")]);
        assert_eq!(a.workdir, Some(b(b"/w\xe9")));
        assert_eq!(a.volume, [b(b"/s\xe9:/d")]);
        assert_eq!(a.tmpfs, [b(b"/t\xe9")]);
        assert_eq!(a.env_file, [b(b"/f\xe9")]);
        assert_eq!(a.rootfs, b(b"./r\xe9"));
        assert_eq!(a.command, [b(b"echo"), b(b"caf\xe9")]);
        let e: ExecArgs = parse_sub(
            "exec",
            &[
                b(b"-e"),
                b(b"K=\xe9"),
                b(b"-w"),
                b(b"/\xe9"),
                b(b"c"),
                b(b"\xe9"),
            ],
        )
        .unwrap();
        assert_eq!((e.env, e.command), (vec![b(b"K=\xe9")], vec![b(b"\xe9")]));
    }

    #[test]
    fn identifiers_that_are_not_utf8_are_named() {
        use std::os::unix::ffi::OsStringExt;
        let b = |s: &[u8]| OsString::from_vec(s.to_vec());
        let said = |r: Result<(), CliError>| match r {
            Err(CliError::Invalid(m)) => m,
            other => panic!("{other:?}"),
        };
        let why = ": only a command, its arguments, env values and paths may hold such bytes";
        // The name, not the command's argument before or after it.
        let m = said(
            parse_run(&[
                b(b"-e"),
                b(b"A=\xe9"),
                b(b"--name"),
                b(b"caf\xe9"),
                b(b"r"),
                b(b"\xff"),
            ])
            .map(|_| ()),
        );
        assert_eq!(m, format!(r#"argument "caf\xE9" is not valid UTF-8{why}"#));
        let m = said(parse_run(&[b(b"--add-host=h\xe9\n:1.2.3.4"), b(b"r")]).map(|_| ()));
        assert_eq!(
            m,
            format!(r#"argument "--add-host=h\xE9\n:1.2.3.4" is not valid UTF-8{why}"#)
        );
        let m = said(
            parse_sub::<InspectArgs>("inspect", &[b(b"-f"), b(b"{{\xe9}}"), b(b"c")]).map(|_| ()),
        );
        assert_eq!(
            m,
            format!(r#"argument "{{{{\xE9}}}}" is not valid UTF-8{why}"#)
        );
        let m = said(parse_sub::<PsArgs>("ps", &[b(b"--format"), b(b"\xff")]).map(|_| ()));
        assert!(
            m.starts_with(r#"argument "\xFF" is not valid UTF-8"#),
            "{m}"
        );
        let m = said(parse_sub::<StopArgs>("stop", &[b(b"\xe9")]).map(|_| ()));
        assert!(m.starts_with(r#"argument "\xE9""#), "{m}");
    }

    #[test]
    fn errors() {
        match p(&["--frobnicate", "r"]) {
            Err(CliError::Usage(m)) => assert_eq!(m, "unknown flag: --frobnicate"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(p(&[]), Err(CliError::Usage(_))));
        assert!(matches!(p(&["-e"]), Err(CliError::Usage(_))));
        assert!(matches!(p(&["--help"]), Err(CliError::Help(_))));
    }
}
