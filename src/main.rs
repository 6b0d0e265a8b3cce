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
mod seccomp;
mod spec;
mod state;
mod sys;
mod template;
mod timespec;

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
}

impl Error {
    fn exit_code(&self) -> i32 {
        match self {
            Error::Run(e) => e.exit_code(),
            Error::Cmd(e) => e.exit_code(),
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
    match cmd {
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
