//! rrun: run a command in new Linux namespaces on a root filesystem
//! directory, rootless or as root. This file only dispatches: each error is
//! turned into one `rrun: …` line and an exit code here, and nowhere else.

mod cli;
mod container;
mod crash;
mod hosts;
mod mount;
mod ns;
mod plan;
mod spec;
mod state;
mod sys;

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
}

impl Error {
    fn exit_code(&self) -> i32 {
        match self {
            Error::Run(e) => e.exit_code(),
            _ => 125,
        }
    }
}

fn run(args: &[String]) -> Result<i32, Error> {
    let args = match args.first().map(String::as_str) {
        Some("run") => &args[1..],
        _ => args,
    };
    let parsed = match cli::parse_run(args) {
        Ok(a) => a,
        Err(cli::CliError::Help(h)) => {
            print!("{h}");
            return Ok(0);
        }
        Err(cli::CliError::Usage(m)) => return Err(Error::Usage(format!("{m}\n{}", cli::USAGE))),
    };
    crash::point("parsed");
    let plan = plan::build(&parsed)?;
    Ok(container::run(plan)?)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.first().map(String::as_str) {
        Some("rrun-init") => container::init::main(&args),
        Some("rrun-holder") => ns::holder_main(&args),
        _ => {}
    }
    crash::init();
    match run(&args[1..]) {
        Ok(code) => exit(code),
        Err(e) => {
            eprintln!("rrun: {e}");
            exit(e.exit_code());
        }
    }
}
