//! The whole command line as one clap `Command`, assembled from each
//! subcommand's own definition in cli.rs: what `rrun --help` lists, what
//! `rrun completion SHELL` completes and what the man pages describe. Built
//! only when one of those is asked for, never on the way to a run.

use std::io::{self, Write};
use std::path::Path;

use clap::{Arg, ArgAction, Command, CommandFactory};

use crate::cli;

/// The top-level description (`rrun --help`, rrun(1)).
const ABOUT: &str = "Run commands in fresh Linux namespaces on root filesystem directories, \
                     rootless or as root, with no daemon";

const TEMPLATE: &str = "\
{usage-heading} {usage}

{about}

Commands:
{subcommands}

Options:
      --help     Print this help
      --version  Print the version, the build and what rrun finds on this machine{after-help}";

const AFTER: &str = "\
`run` may be left out; a root filesystem named like a command is written
with a slash: rrun ./ps

Run 'rrun COMMAND --help' for more information on a command
('rrun run --help': the flags of a run).";

/// Every command, in the order `rrun --help` lists them.
pub fn command() -> Command {
    let sub = |c: Command, name: &'static str| c.name(name);
    let subs = [
        sub(cli::RunArgs::command(), "run"),
        sub(cli::create_command(), "create"),
        sub(cli::StartArgs::command(), "start"),
        sub(cli::RestartArgs::command(), "restart"),
        sub(cli::ExecArgs::command(), "exec"),
        sub(cli::PsArgs::command(), "ps"),
        sub(cli::LogsArgs::command(), "logs"),
        sub(cli::InspectArgs::command(), "inspect"),
        sub(cli::PortArgs::command(), "port"),
        sub(cli::TopArgs::command(), "top"),
        sub(cli::StatsArgs::command(), "stats"),
        sub(cli::RenameArgs::command(), "rename"),
        sub(cli::StopArgs::command(), "stop"),
        sub(cli::KillArgs::command(), "kill"),
        sub(cli::WaitArgs::command(), "wait"),
        sub(cli::RmArgs::command(), "rm"),
        container(),
        network(),
        group(
            "generate",
            "Generate Kubernetes YAML from containers (generate kube)",
            vec![("kube", cli::GenerateArgs::command())],
        ),
        group(
            "kube",
            "Run a Kubernetes manifest's pods, or remove them (play, down)",
            vec![
                ("play", cli::KubePlayArgs::command()),
                ("down", cli::KubeDownArgs::command()),
            ],
        ),
        group(
            "image",
            "Manage images (save)",
            vec![("save", cli::ImageSaveArgs::command())],
        ),
        sub(cli::InfoArgs::command(), "info"),
        sub(cli::SystemArgs::command(), "system"),
        sub(cli::VersionArgs::command(), "version"),
        sub(cli::CompletionArgs::command(), "completion"),
        sub(cli::HelpArgs::command(), "help").mut_arg("topic", |a| {
            a.value_parser(clap::builder::PossibleValuesParser::new(NAMES))
        }),
    ];
    // The top level takes run's flags and arguments too: `rrun [run] ...`.
    let top = cli::RunArgs::command()
        .name("rrun")
        .bin_name("rrun")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .override_usage(
            "rrun [run] [OPTIONS] ROOTFS [COMMAND [ARG...]]\n       rrun COMMAND [ARG...]",
        )
        .help_template(TEMPLATE)
        .after_help(AFTER)
        .arg(
            Arg::new("version")
                .long("version")
                .action(ArgAction::Version)
                .help("Print the version, the build and what rrun finds on this machine"),
        )
        .args_conflicts_with_subcommands(true)
        .subcommand_negates_reqs(true)
        .disable_help_subcommand(true)
        .subcommands(subs);
    cli::polish(top)
}

/// A group of subcommands (generate, kube, image), each with the bin
/// name `rrun GROUP SUB`.
fn group(name: &'static str, about: &'static str, subs: Vec<(&'static str, Command)>) -> Command {
    Command::new(name)
        .about(about)
        .disable_help_subcommand(true)
        .subcommands(
            subs.into_iter()
                .map(|(n, c)| c.name(n).bin_name(format!("rrun {name} {n}"))),
        )
}

/// `rrun network`'s actions, each with its own flags (the parser reads
/// the action word first: main's network_command).
fn network() -> Command {
    let actions = [
        ("create", cli::NetworkCreateArgs::command()),
        ("ls", cli::NetworkLsArgs::command()),
        ("inspect", cli::NetworkInspectArgs::command()),
        ("connect", cli::NetworkConnectArgs::command()),
        ("disconnect", cli::NetworkDisconnectArgs::command()),
        ("prune", cli::NetworkPruneArgs::command()),
    ];
    let plain = |name: &'static str, about: &'static str| {
        Command::new(name)
            .about(about)
            .arg(Arg::new("names").num_args(0..).value_name("NETWORK"))
    };
    Command::new("network")
        .about("Manage networks (create, ls, inspect, rm, prune, connect, disconnect, reload)")
        .disable_help_subcommand(true)
        .subcommands(actions.into_iter().map(|(n, c)| {
            let bin = format!("rrun network {n}");
            c.name(n).bin_name(bin)
        }))
        .subcommand(plain(
            "rm",
            "Remove networks (no name, or bridge: the default network)",
        ))
        .subcommand(plain(
            "reload",
            "Rebuild every network's bridge and rules from the records",
        ))
}

/// `rrun container SUBCOMMAND`: Docker's other spelling of the container
/// commands, and `prune`, which has no other.
fn container() -> Command {
    let same = [
        ("create", cli::create_command()),
        ("exec", cli::ExecArgs::command()),
        ("inspect", cli::InspectArgs::command()),
        ("kill", cli::KillArgs::command()),
        ("logs", cli::LogsArgs::command()),
        ("ls", cli::PsArgs::command()),
        ("port", cli::PortArgs::command()),
        ("prune", cli::PruneArgs::command()),
        ("rename", cli::RenameArgs::command()),
        ("restart", cli::RestartArgs::command()),
        ("rm", cli::RmArgs::command()),
        ("run", cli::RunArgs::command()),
        ("start", cli::StartArgs::command()),
        ("stats", cli::StatsArgs::command()),
        ("stop", cli::StopArgs::command()),
        ("top", cli::TopArgs::command()),
        ("wait", cli::WaitArgs::command()),
    ];
    Command::new("container")
        .about("Manage containers (ls, prune, and the commands above)")
        .disable_help_subcommand(true)
        .subcommands(same.into_iter().map(|(n, c)| {
            let bin = format!("rrun container {n}");
            c.name(n).bin_name(bin)
        }))
}

/// The names `help` knows, as `command()` lists them.
const NAMES: [&str; 26] = [
    "run",
    "create",
    "start",
    "restart",
    "exec",
    "ps",
    "logs",
    "inspect",
    "port",
    "top",
    "stats",
    "rename",
    "stop",
    "kill",
    "wait",
    "rm",
    "container",
    "network",
    "generate",
    "kube",
    "image",
    "info",
    "system",
    "version",
    "completion",
    "help",
];

/// `rrun GROUP --help` for a group of subcommands (generate, kube).
pub fn group_help(name: &str) -> String {
    let mut cmd = command();
    match cmd.find_subcommand_mut(name) {
        Some(c) => {
            let mut c = c.clone().bin_name(format!("rrun {name}"));
            format!("{}\n", c.render_help())
        }
        None => String::new(),
    }
}

/// `rrun --help`, `rrun help`.
pub fn top_help() -> String {
    format!("{}\n", command().render_help())
}

/// Why `rrun help TOPIC...` names no command: the first word that is none
/// (Docker's "unknown help topic").
pub fn unknown_topic(topic: &[String]) -> Option<String> {
    let mut cmd = command();
    for word in topic {
        match cmd.find_subcommand(word) {
            Some(c) => cmd = c.clone(),
            None => return Some(word.clone()),
        }
    }
    None
}

/// `rrun completion SHELL`: clap_complete's script for the whole command
/// line.
pub fn completion(shell: &str, out: &mut dyn Write) -> io::Result<()> {
    use clap_complete::Shell;
    let shell = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no completion for {other:?}: use bash, zsh or fish"),
            ));
        }
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut command(), "rrun", &mut buf);
    out.write_all(&buf)
}

/// `rrun __man DIR` (make man, make install): rrun.1 and one page per
/// command (rrun-ps.1, rrun-system-reset.1, …) in DIR, made if missing.
pub fn man(dir: &Path) -> io::Result<()> {
    fn page(cmd: Command, dir: &Path) -> io::Result<()> {
        for sub in cmd.get_subcommands().cloned() {
            page(sub, dir)?;
        }
        clap_mangen::Man::new(cmd)
            .source(concat!("rrun ", env!("CARGO_PKG_VERSION")))
            .generate_to(dir)
            .map(drop)
    }
    std::fs::create_dir_all(dir)?;
    let mut cmd = command();
    // Names each page as its command line reads: rrun-system-reset.
    cmd.build();
    page(cmd, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn help_knows_every_command() {
        let listed: Vec<String> = command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert_eq!(listed, NAMES);
        assert_eq!(unknown_topic(&["ps".into()]), None);
        assert_eq!(unknown_topic(&["system".into(), "reset".into()]), None);
        assert_eq!(
            unknown_topic(&["system".into(), "nosuch".into()]),
            Some("nosuch".into())
        );
        assert_eq!(unknown_topic(&["nosuch".into()]), Some("nosuch".into()));
        assert_eq!(unknown_topic(&["ps".into(), "x".into()]), Some("x".into()));
    }

    #[test]
    fn every_command_has_a_line() {
        let help = top_help();
        for name in NAMES {
            let line = help
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("{name} is not listed:\n{help}"));
            assert!(line.split_whitespace().count() > 2, "{line}");
        }
    }

    #[test]
    fn completion_scripts() {
        for sh in ["bash", "zsh", "fish"] {
            let mut out = Vec::new();
            completion(sh, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("rrun"), "{sh}");
            assert!(text.contains("completion"), "{sh}");
        }
        assert!(completion("tcsh", &mut Vec::new()).is_err());
    }
}
