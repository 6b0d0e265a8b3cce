//! rrun: run a command in new Linux namespaces on a root filesystem
//! directory, rootless or as root. This file only dispatches: each error is
//! turned into one `rrun: …` line and an exit code here, and nowhere else.

mod bytes;
mod cgroup;
mod cli;
mod commands;
mod container;
mod crash;
mod devices;
mod filter;
mod forward;
#[cfg(test)]
mod fuzz;
mod hosts;
mod inspect;
mod logrot;
mod mount;
mod names;
mod net;
mod ns;
mod plan;
mod ports;
mod prune;
mod rename;
mod seccomp;
mod spec;
mod state;
mod sys;
mod template;
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
    Rename(#[from] rename::RenameError),
    #[error(transparent)]
    Prune(#[from] prune::PruneError),
}

impl Error {
    fn exit_code(&self) -> i32 {
        match self {
            Error::Run(e) => e.exit_code(),
            Error::Cmd(e) => e.exit_code(),
            Error::Top(e) => e.exit_code(),
            Error::Rename(e) => e.exit_code(),
            Error::Prune(e) => e.exit_code(),
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
        "ps" | "logs" | "inspect" | "port" | "network" | "stop" | "kill" | "wait" | "rm"
    ) {
        // These only print: like any filter, end quietly when the reader
        // goes away (`rrun ps | head`) rather than report a broken pipe.
        // SAFETY: restoring a default signal disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    if matches!(cmd, "top" | "rename" | "container") {
        // SAFETY: restoring a default signal disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match cmd {
        "top" => return sub!(rest, "top", cli::TopArgs, top::top),
        "rename" => return sub!(rest, "rename", cli::RenameArgs, rename::rename),
        "container" => return container(rest),
        "ps" => return sub!(rest, "ps", cli::PsArgs, commands::ps),
        "logs" => return sub!(rest, "logs", cli::LogsArgs, commands::logs),
        "inspect" => return sub!(rest, "inspect", cli::InspectArgs, commands::inspect),
        "stop" => return sub!(rest, "stop", cli::StopArgs, commands::stop),
        "kill" => return sub!(rest, "kill", cli::KillArgs, commands::kill),
        "wait" => return sub!(rest, "wait", cli::WaitArgs, commands::wait),
        "rm" => return sub!(rest, "rm", cli::RmArgs, commands::rm),
        "exec" => return sub!(rest, "exec", cli::ExecArgs, container::exec::exec),
        "port" => return sub!(rest, "port", cli::PortArgs, commands::port),
        "network" => return sub!(rest, "network", cli::NetworkArgs, commands::network),
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

/// What `rrun container` alone prints: Docker's management command, for
/// the subcommands rrun has.
const CONTAINER_USAGE: &str = "Usage:  rrun container COMMAND

Manage containers

Commands:
  exec        Execute a command in a running container
  inspect     Display detailed information on one or more containers
  kill        Kill one or more running containers
  logs        Fetch the logs of a container
  ls          List containers
  port        List port mappings or a specific mapping for the container
  prune       Remove all stopped containers
  rename      Rename a container
  rm          Remove one or more containers
  run         Run a command in a new container
  stop        Stop one or more running containers
  top         Display the running processes of a container
  wait        Block until one or more containers stop, then print their exit codes
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
            c @ ("exec" | "inspect" | "kill" | "logs" | "port" | "rename" | "rm" | "run" | "stop"
            | "top" | "wait"),
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
                Error::Usage(m) => m.clone(),
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
