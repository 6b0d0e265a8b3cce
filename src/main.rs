//! rrun: run a command in new Linux namespaces on a root filesystem
//! directory, rootless or as root. This file only dispatches: each error is
//! turned into one `rrun: …` line and an exit code here, and nowhere else.
// inspect's one json! literal of Docker's whole container object nests deeply.
#![recursion_limit = "256"]

mod bypass;
mod bytes;
mod cgroup;
mod cli;
mod commands;
mod container;
mod crash;
mod devices;
pub mod dns;
mod filter;
mod flag;
mod forward;
#[cfg(test)]
mod fuzz;
mod goquote;
mod help;
mod hosts;
mod image;
mod inspect;
mod kube;
mod kubecmd;
mod limits;
mod logrot;
mod mount;
mod names;
mod net;
mod netcmd;
mod netdef;
mod netstate;
mod ns;
mod plan;
mod ports;
mod prune;
mod rename;
mod restart;
mod seccomp;
mod spec;
mod state;
mod stats;
mod statscmd;
mod sys;
mod system;
mod template;
mod timespec;
mod top;
mod ulimit;

use std::ffi::OsString;
use std::process::exit;

/// What went wrong, from any module, with Docker's exit codes.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error(transparent)]
    Run(#[from] container::RunError),
    #[error(transparent)]
    Cmd(#[from] commands::CmdError),
    #[error(transparent)]
    Top(#[from] top::TopError),
    #[error(transparent)]
    Stats(#[from] statscmd::StatsError),
    #[error(transparent)]
    Rename(#[from] rename::RenameError),
    #[error(transparent)]
    Prune(#[from] prune::PruneError),
    /// Docker's "unknown command" and "unknown help topic": exit 1.
    #[error("{0}")]
    Unknown(String),
    #[error(transparent)]
    System(#[from] system::SystemError),
    #[error(transparent)]
    Kube(#[from] kubecmd::KubeCmdError),
    #[error(transparent)]
    Image(#[from] image::ImageError),
}

impl Error {
    fn exit_code(&self) -> i32 {
        match self {
            Error::Run(e) => e.exit_code(),
            Error::Cmd(e) => e.exit_code(),
            Error::Top(e) => e.exit_code(),
            Error::Stats(e) => e.exit_code(),
            Error::Rename(e) => e.exit_code(),
            Error::Prune(e) => e.exit_code(),
            Error::Unknown(_) => 1,
            Error::System(e) => e.exit_code(),
            Error::Kube(e) => e.exit_code(),
            Error::Image(e) => e.exit_code(),
            _ => 125,
        }
    }
}

/// `s` with its control characters (newlines first) escaped as Rust
/// writes them, so that an error naming user input stays on one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn usage(e: cli::CliError, usage: &str) -> Result<i32, Error> {
    match e {
        cli::CliError::Help(h) => {
            print!("{h}");
            Ok(0)
        }
        cli::CliError::Usage(m) => Err(Error::Usage(format!("{}\n{usage}", one_line(&m)))),
        cli::CliError::Invalid(m) => Err(Error::Usage(one_line(&m))),
    }
}

macro_rules! sub {
    ($args:expr, $name:literal, $ty:ty, $f:expr) => {
        match cli::parse_sub::<$ty>($name, $args) {
            Ok(a) => Ok($f(&a)?),
            Err(e) => usage(e, concat!("See 'rrun ", $name, " --help'.")),
        }
    };
}

fn run(args: &[OsString]) -> Result<i32, Error> {
    // A first word that is not UTF-8 is no subcommand: a rootfs path.
    let (cmd, rest) = match args.first() {
        Some(c) => (c.to_str().unwrap_or_default(), &args[1..]),
        None => ("run", args),
    };
    if matches!(
        cmd,
        "ps" | "logs"
            | "inspect"
            | "port"
            | "network"
            | "stop"
            | "kill"
            | "wait"
            | "rm"
            | "create"
            | "start"
            | "restart"
    ) {
        // These only print: like any filter, end quietly when the reader
        // goes away (`rrun ps | head`) rather than report a broken pipe.
        // SAFETY: restoring a default signal disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    if matches!(
        cmd,
        "top"
            | "stats"
            | "rename"
            | "container"
            | "help"
            | "--help"
            | "version"
            | "--version"
            | "info"
            | "completion"
            | "system"
            | "generate"
            | "kube"
    ) {
        // SAFETY: restoring a default signal disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match cmd {
        "top" => return sub!(rest, "top", cli::TopArgs, top::top),
        "stats" => return sub!(rest, "stats", cli::StatsArgs, statscmd::stats),
        "rename" => return sub!(rest, "rename", cli::RenameArgs, rename::rename),
        "container" => return container(rest),
        "ps" => return sub!(rest, "ps", cli::PsArgs, commands::ps),
        "logs" => return sub!(rest, "logs", cli::LogsArgs, commands::logs),
        "inspect" => return sub!(rest, "inspect", cli::InspectArgs, commands::inspect),
        "create" => return create(rest),
        "start" => return sub!(rest, "start", cli::StartArgs, start),
        "restart" => return sub!(rest, "restart", cli::RestartArgs, commands::restart),
        "stop" => return sub!(rest, "stop", cli::StopArgs, commands::stop),
        "kill" => return sub!(rest, "kill", cli::KillArgs, commands::kill),
        "wait" => return sub!(rest, "wait", cli::WaitArgs, commands::wait),
        "rm" => return sub!(rest, "rm", cli::RmArgs, commands::rm),
        "exec" => return sub!(rest, "exec", cli::ExecArgs, container::exec::exec),
        "port" => return sub!(rest, "port", cli::PortArgs, commands::port),
        "network" => return network_command(rest),
        "image" => return image_command(rest),
        "help" => return help(rest),
        "--help" => {
            print!("{}", help::top_help());
            return Ok(0);
        }
        "version" | "--version" => return sub!(rest, "version", cli::VersionArgs, system::version),
        "info" => return sub!(rest, "info", cli::InfoArgs, system::info),
        "completion" => return sub!(rest, "completion", cli::CompletionArgs, completion),
        "system" => return system_command(rest),
        "generate" => return generate_command(rest),
        "kube" => return kube_command(rest),
        "__man" => return man(rest),
        _ => {}
    }
    let args = if cmd == "run" { rest } else { args };
    let parsed = match cli::parse_run(args) {
        Ok(a) => a,
        Err(e) => return usage(e, cli::USAGE),
    };
    crash::point("parsed");
    let plan = plan::build(&parsed)?;
    Ok(container::run(plan)?)
}

/// `rrun create [run's flags] ROOTFS [COMMAND…]`.
fn create(args: &[OsString]) -> Result<i32, Error> {
    let parsed = match cli::parse_run_as("create", args) {
        Ok(a) => a,
        Err(e) => return usage(e, "See 'rrun create --help'."),
    };
    if parsed.help.is_some() {
        return Ok(0);
    }
    let plan = plan::build(&parsed)?;
    Ok(container::create(plan)?)
}

fn start(a: &cli::StartArgs) -> Result<i32, container::RunError> {
    container::start_containers(&a.containers, a.attach, a.interactive)
}

/// What `rrun container` alone prints: Docker's management command, for
/// the subcommands rrun has.
const CONTAINER_USAGE: &str = "Usage: rrun container COMMAND

Manage containers

Commands:
  create      Create a new container
  exec        Execute a command in a running container
  inspect     Display detailed information on one or more containers
  kill        Kill one or more running containers
  logs        Fetch the logs of a container
  ls          List containers
  port        List port mappings or a specific mapping for the container
  prune       Remove all stopped containers
  rename      Rename a container
  restart     Restart one or more containers
  rm          Remove one or more containers
  run         Run a command in a new container
  start       Start one or more stopped containers
  stats       Display a live stream of container(s) resource usage statistics
  stop        Stop one or more running containers
  top         Display the running processes of a container
  wait        Block until one or more containers stop, then print their exit codes

Run 'rrun container COMMAND --help' for more information on a command.
";

/// `rrun container SUBCOMMAND …`, Docker's other spelling of the
/// container commands.
fn container(args: &[OsString]) -> Result<i32, Error> {
    let rest = args.get(1..).unwrap_or_default();
    let to = match args.first().map(|a| a.to_str()) {
        None | Some(Some("--help" | "-h" | "help")) => {
            print!("{CONTAINER_USAGE}");
            return Ok(0);
        }
        Some(Some("prune")) => {
            return sub!(rest, "container prune", cli::PruneArgs, prune::prune);
        }
        Some(Some("ls" | "list" | "ps")) => "ps",
        Some(Some(
            c @ ("create" | "exec" | "inspect" | "kill" | "logs" | "port" | "rename" | "restart"
            | "rm" | "run" | "start" | "stats" | "stop" | "top" | "wait"),
        )) => c,
        Some(other) => {
            let shown = args
                .first()
                .map(|a| a.to_string_lossy())
                .unwrap_or_default();
            let _ = other;
            return Err(Error::Usage(format!(
                "unknown command: rrun container {}\nSee 'rrun container --help'.",
                one_line(&shown)
            )));
        }
    };
    let mut v = vec![OsString::from(to)];
    v.extend_from_slice(rest);
    run(&v)
}

/// `rrun help [COMMAND [SUBCOMMAND]]`: the list of commands, or what
/// `rrun COMMAND [SUBCOMMAND] --help` prints.
fn help(rest: &[OsString]) -> Result<i32, Error> {
    let a: cli::HelpArgs = match cli::parse_sub("help", rest) {
        Ok(a) => a,
        Err(e) => return usage(e, "See 'rrun help --help'."),
    };
    if a.topic.is_empty() {
        print!("{}", help::top_help());
        return Ok(0);
    }
    if let Some(word) = help::unknown_topic(&a.topic) {
        return Err(Error::Unknown(format!(
            "unknown help topic: {}",
            one_line(&word)
        )));
    }
    let mut args: Vec<OsString> = a.topic.iter().map(OsString::from).collect();
    args.push("--help".into());
    run(&args)
}

/// `rrun system reset|info`; alone, its help (as Docker's groups).
/// `rrun network ACTION …`: each action has its own flags (`-f` is a
/// format to inspect, force to prune, as in Docker).
fn network_command(rest: &[OsString]) -> Result<i32, Error> {
    let word = rest.first().map(|w| w.to_string_lossy().to_string());
    let tail = rest.get(1..).unwrap_or_default();
    match word.as_deref() {
        Some("create") => sub!(
            tail,
            "network create",
            cli::NetworkCreateArgs,
            netcmd::create
        ),
        Some("ls") | Some("list") => sub!(tail, "network ls", cli::NetworkLsArgs, netcmd::ls),
        Some("prune") => sub!(tail, "network prune", cli::NetworkPruneArgs, netcmd::prune),
        Some("inspect") => sub!(
            tail,
            "network inspect",
            cli::NetworkInspectArgs,
            netcmd::inspect
        ),
        Some("connect") => sub!(
            tail,
            "network connect",
            cli::NetworkConnectArgs,
            netcmd::connect
        ),
        Some("disconnect") => sub!(
            tail,
            "network disconnect",
            cli::NetworkDisconnectArgs,
            netcmd::disconnect
        ),
        _ => sub!(rest, "network", cli::NetworkArgs, netcmd::network),
    }
}

/// A group's first word (generate, kube, image): None when it printed the
/// group's help (alone, or `--help`); Docker's "unknown command" for a
/// word that is none of `words`.
fn group_word<'a>(
    group: &str,
    rest: &'a [OsString],
    words: &[&str],
) -> Result<Option<&'a str>, Error> {
    match rest.first().and_then(|w| w.to_str()) {
        None | Some("--help" | "-h") => {
            print!("{}", help::group_help(group));
            Ok(None)
        }
        Some(w) if words.contains(&w) => Ok(Some(w)),
        Some(w) => Err(Error::Unknown(format!(
            "unknown command: rrun {group} {}\nSee 'rrun {group} --help'.",
            one_line(w)
        ))),
    }
}

/// `rrun generate kube …`: Podman's spelling; kube is the only kind.
fn generate_command(rest: &[OsString]) -> Result<i32, Error> {
    let tail = rest.get(1..).unwrap_or_default();
    match group_word("generate", rest, &["kube"])? {
        Some(_) => sub!(tail, "generate kube", cli::GenerateArgs, kubecmd::generate),
        None => Ok(0),
    }
}

/// `rrun kube play|down FILE`.
fn kube_command(rest: &[OsString]) -> Result<i32, Error> {
    let tail = rest.get(1..).unwrap_or_default();
    match group_word("kube", rest, &["play", "down"])? {
        Some("play") => sub!(tail, "kube play", cli::KubePlayArgs, kubecmd::play),
        Some(_) => sub!(tail, "kube down", cli::KubeDownArgs, kubecmd::down),
        None => Ok(0),
    }
}

/// `rrun image save …`.
fn image_command(rest: &[OsString]) -> Result<i32, Error> {
    let tail = rest.get(1..).unwrap_or_default();
    match group_word("image", rest, &["save"])? {
        Some(_) => sub!(tail, "image save", cli::ImageSaveArgs, image::save),
        None => Ok(0),
    }
}

fn system_command(rest: &[OsString]) -> Result<i32, Error> {
    use clap::CommandFactory;
    let word = rest
        .iter()
        .map(|w| w.to_string_lossy())
        .find(|w| !w.starts_with('-'));
    if let Some(w) = &word
        && cli::SystemArgs::command().find_subcommand(&**w).is_none()
    {
        return Err(Error::Unknown(format!(
            "unknown command: rrun system {}\nSee 'rrun system --help'.",
            one_line(w)
        )));
    }
    let a: cli::SystemArgs = match cli::parse_sub("system", rest) {
        Ok(a) => a,
        Err(e) => {
            let hint = match &word {
                Some(w) => format!("See 'rrun system {w} --help'."),
                None => "See 'rrun system --help'.".into(),
            };
            return usage(e, &hint);
        }
    };
    match &a.command {
        Some(cli::SystemCommand::Reset(r)) => Ok(system::reset(r)?),
        Some(cli::SystemCommand::Info(i)) => Ok(system::info(i)?),
        None => run(&["system".into(), "--help".into()]),
    }
}

fn completion(a: &cli::CompletionArgs) -> Result<i32, Error> {
    help::completion(&a.shell, &mut std::io::stdout().lock())
        .map_err(|e| Error::Usage(format!("writing the completion script: {e}")))?;
    Ok(0)
}

/// `rrun __man DIR`, for `make man` and `make install`: not a command of
/// the user's, so neither listed nor completed.
fn man(rest: &[OsString]) -> Result<i32, Error> {
    let [dir] = rest else {
        return Err(Error::Usage("usage: rrun __man DIR".into()));
    };
    help::man(std::path::Path::new(dir)).map_err(|e| {
        Error::Usage(format!(
            "writing man pages to {}: {e}",
            one_line(&dir.to_string_lossy())
        ))
    })?;
    Ok(0)
}

fn main() {
    // Bytes, as the caller gave them: commands, arguments and paths need
    // not be UTF-8 (cli.rs says which values must be).
    let args: Vec<OsString> = std::env::args_os().collect();
    match args.first().and_then(|a| a.to_str()) {
        Some("rrun-init") => container::init::main(&args),
        Some("rrun-holder") => ns::holder_main(
            &args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
        ),
        _ => {}
    }
    // No fd of the caller's may reach a container (runc CVE-2024-21626: a
    // leaked directory fd and `-w /proc/self/fd/N` lead out of the
    // rootfs). The container process is cloned, not exec'd, so CLOEXEC
    // would not be enough: close them all before anything else.
    // SAFETY: closing descriptors this process inherited and never uses.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    crash::init();
    crash::t("main");
    match run(args.get(1..).unwrap_or_default()) {
        Ok(code) => exit(code),
        Err(e) => {
            // One line, whatever the user's input held (a name, a path
            // with a newline); only the usage text has a second.
            let msg = match &e {
                Error::Usage(m) | Error::Unknown(m) => m.clone(),
                _ => one_line(&e.to_string()),
            };
            // Commands that act on several containers report each failure
            // as it happens; what is left is only the exit code.
            if !msg.is_empty() {
                eprintln!("rrun: {msg}");
            }
            exit(e.exit_code());
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every word `run` dispatches on is a command that `rrun --help` lists
    /// (and `help` knows), and every command listed is dispatched: read from
    /// this file's own `run`, so a command added to one and not the other
    /// fails here.
    #[test]
    fn every_dispatched_command_is_listed() {
        let src = include_str!("main.rs");
        let body = src
            .split("\nfn run(")
            .nth(1)
            .and_then(|s| s.split("\n}\n").next())
            .expect("fn run");
        let mut dispatched = vec!["run".to_string()];
        for line in body.lines().map(str::trim) {
            if !line.starts_with('"') || !line.contains("=>") {
                continue;
            }
            let pats = line.split("=>").next().unwrap_or_default();
            for p in pats.split('|') {
                let w = p.trim().trim_matches('"');
                if !w.starts_with('-') && !w.starts_with("__") {
                    dispatched.push(w.to_string());
                }
            }
        }
        let mut listed: Vec<String> = super::help::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        listed.sort();
        dispatched.sort();
        assert_eq!(dispatched, listed);
    }
}
