//! A command line that explains itself (issue 13): `--help`/`help` list
//! every command and `help CMD` is `CMD --help`; `version` tells the build
//! and what the machine offers; `completion` scripts load in their shells;
//! `make install` puts the binary, man pages and completions in place;
//! `info` shows what rrun keeps running; `system reset` ends it all and
//! leaves nothing behind; a missing prerequisite is one line saying what
//! to install or set.

#[macro_use]
mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::*;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every command rrun dispatches on (src/main.rs), in `--help`'s order.
const COMMANDS: [&str; 26] = [
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

/// rrun (the test copy) run as the caller with a clean environment and no state
/// of its own: for commands that print and touch nothing.
fn rrun_plain<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let env = env().unwrap_or_else(|e| panic!("setting up the test environment: {e}"));
    let mut c = Command::new(&env.bin);
    c.args(args)
        .env_clear()
        .env("PATH", HOST_PATH)
        .env("RRUN_ROOT", env.dir.join("no-such-state"))
        .current_dir(&env.dir);
    let what = format!("rrun {:?}", c.get_args().collect::<Vec<_>>());
    Proc::spawn(c, Input::Null, what.clone())
        .unwrap_or_else(|e| panic!("spawning {what}: {e}"))
        .wait()
}

/// The names and descriptions of the "Commands:" section of a help text.
fn commands_section(help: &str) -> Vec<(String, String)> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let l = l.trim();
            let (name, about) = l.split_once(' ').unwrap_or((l, ""));
            (name.to_string(), about.trim().to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------
// help

/// `rrun --help` and `rrun help` print the same list: every command rrun
/// dispatches on, each with a one-line description, Docker's layout (usage,
/// description, commands, options, a pointer to `COMMAND --help`).
#[test]
fn help_lists_every_command() {
    let long = rrun_plain(&["--help"]);
    long.ok();
    assert!(long.stderr.is_empty(), "{long}");
    let word = rrun_plain(&["help"]);
    word.ok();
    assert_eq!(long.stdout, word.stdout, "--help and help print the same");
    let text = &long.stdout;
    assert!(
        text.starts_with("Usage: rrun [run] [OPTIONS] ROOTFS [COMMAND [ARG...]]\n"),
        "{long}"
    );
    let listed = commands_section(text);
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, COMMANDS, "every command, in order\n{long}");
    for (name, about) in &listed {
        assert!(
            about.split_whitespace().count() >= 2,
            "{name} has a one-line description\n{long}"
        );
    }
    for want in [
        "\nOptions:\n",
        "--help",
        "--version",
        "rrun ./ps",
        "Run 'rrun COMMAND --help' for more information on a command",
    ] {
        assert!(text.contains(want), "the help says {want:?}\n{long}");
    }
    assert!(text.ends_with('\n'), "{long}");
}

/// Each listed command is dispatched: `rrun CMD --help` prints its own
/// usage (not a run of a rootfs named CMD), and `rrun help CMD` prints
/// exactly that; so do `help system reset` and `system reset --help`.
#[test]
fn help_command_is_command_help() {
    for name in COMMANDS {
        let own = rrun_plain(&[name, "--help"]);
        own.ok();
        assert!(own.stderr.is_empty(), "{own}");
        let usage = if name == "run" {
            "Usage: rrun [run] [OPTIONS] ROOTFS".to_string()
        } else {
            format!("Usage: rrun {name}")
        };
        assert!(own.stdout.contains(&usage), "{name} --help: {usage}\n{own}");
        assert!(own.stdout.contains("--help"), "{own}");
        let via = rrun_plain(&["help", name]);
        via.ok();
        assert_eq!(via.stdout, own.stdout, "help {name} == {name} --help");
    }
    let own = rrun_plain(&["system", "reset", "--help"]);
    own.ok();
    assert!(own.stdout.contains("Usage: rrun system reset"), "{own}");
    assert!(own.stdout.contains("-f, --force"), "{own}");
    let via = rrun_plain(&["help", "system", "reset"]);
    via.ok();
    assert_eq!(via.stdout, own.stdout);
    // A group alone prints its help, as Docker's do.
    let group = rrun_plain(&["system"]);
    group.ok();
    assert_eq!(group.stdout, rrun_plain(&["system", "--help"]).stdout);
    assert!(group.stdout.contains("reset"), "{group}");
}

/// Unknown topics and subcommands fail as Docker's do: one line on stderr,
/// exit 1, nothing on stdout (`docker help nosuch`: "unknown help topic:
/// nosuch"; `docker system nosuch`: "unknown command: docker system
/// nosuch").
#[test]
fn unknown_topics_fail_like_docker() {
    for (args, err) in [
        (vec!["help", "nosuch"], "rrun: unknown help topic: nosuch\n"),
        (
            vec!["help", "ps", "extra"],
            "rrun: unknown help topic: extra\n",
        ),
        (
            vec!["help", "system", "nosuch"],
            "rrun: unknown help topic: nosuch\n",
        ),
        (
            vec!["system", "nosuch"],
            "rrun: unknown command: rrun system nosuch\nSee 'rrun system --help'.\n",
        ),
    ] {
        let out = rrun_plain(&args);
        out.expect_code(1);
        assert!(out.stdout.is_empty(), "{out}");
        assert_eq!(out.stderr, err, "{out}");
    }
    for (args, hint) in [
        (vec!["help", "--bogus"], "rrun help"),
        (vec!["system", "reset", "--bogus"], "rrun system reset"),
        (vec!["version", "--bogus"], "rrun version"),
    ] {
        let out = rrun_plain(&args);
        out.expect_code(125);
        assert_eq!(
            out.stderr,
            format!("rrun: unknown flag: --bogus\nSee '{hint} --help'.\n")
        );
    }
}

/// A rootfs named like a new command is still reachable, written with a
/// slash.
#[test]
fn a_rootfs_named_like_a_command() {
    let Some(cx) = Ctx::new(Mode::Root) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let dir = cx.host_dir("named");
    for name in ["help", "version", "info", "system", "completion"] {
        std::os::unix::fs::symlink(cx.rootfs(), dir.join(name)).expect("symlink");
        let mut c = cx.cmd(&["--rm", "--net=none", &format!("./{name}"), "echo", name]);
        c.current_dir(&dir);
        let out = cx.run(c, Input::Null);
        out.ok();
        assert_eq!(out.stdout, format!("{name}\n"), "{out}");
    }
    cx.assert_nothing_left("runs of ./help and friends");
}

// ---------------------------------------------------------------------------
// version

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The commit the checkout is at, as build.rs reads it, if this is one.
fn checkout_commit() -> Option<String> {
    if !manifest().join(".git").exists() {
        return None;
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(manifest())
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A " key:   value" line of `rrun version`'s text.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!(" {key}:")))
        .map(str::trim)
}

/// `version` and `--version`: Docker's one-line first line, then the
/// version, the commit it was built from, the target, the kernel, where
/// each optional program is, and the kernel features rrun uses; `-f`
/// renders the same facts with a template.
#[test]
fn version_tells_the_build_and_the_machine() {
    let Some(cx) = Ctx::new(Mode::Root) else {
        return;
    };
    let out = cx.rrun(&["version"]);
    out.ok();
    assert!(out.stderr.is_empty(), "{out}");
    assert_eq!(out.stdout, cx.rrun(&["--version"]).stdout);
    let t = &out.stdout;
    let version = env!("CARGO_PKG_VERSION");
    let commit = field(t, "Git commit").unwrap_or_default().to_string();
    assert_eq!(
        t.lines().next(),
        Some(format!("rrun version {version}, build {commit}").as_str()),
        "{out}"
    );
    assert_eq!(field(t, "Version"), Some(version), "{out}");
    match checkout_commit() {
        Some(c) => assert!(
            commit == c || commit == format!("{c}-dirty"),
            "the commit of the checkout ({c})\n{out}"
        ),
        None => assert_eq!(commit, "unknown", "{out}"),
    }
    let target = field(t, "Target").unwrap_or_default();
    assert!(
        target.starts_with(std::env::consts::ARCH) && target.contains("-linux"),
        "the target triple\n{out}"
    );
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    assert_eq!(field(t, "Kernel"), Some(release.trim()), "{out}");
    for p in ["nft", "pasta", "newuidmap", "newgidmap"] {
        let want = which(p).unwrap_or_else(|| panic!("{p} is installed on the test host"));
        let got = field(t, p).unwrap_or_default();
        // nft is looked up at its fixed paths, /usr/sbin first.
        assert!(
            Path::new(got).is_file() && fs::canonicalize(got).ok() == fs::canonicalize(&want).ok(),
            "{p}: {want}\n{out}"
        );
    }
    for f in ["user namespaces", "openat2", "mount_setattr", "pidfd"] {
        assert_eq!(field(t, f), Some("yes"), "{f}\n{out}");
    }
    assert!(
        matches!(field(t, "cgroup"), Some("v1" | "v2" | "none")),
        "{out}"
    );
    let f = cx.rrun(&[
        "version",
        "--format",
        "{{.Version}} {{.GitCommit}} {{.Programs.nft}}",
    ]);
    f.ok();
    assert_eq!(
        f.stdout,
        format!(
            "{version} {commit} {}\n",
            field(t, "nft").unwrap_or_default()
        )
    );
    let j = cx.rrun(&["version", "-f", "{{json .}}"]);
    j.ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("JSON");
    assert_eq!(v["Features"]["Pidfd"], "yes", "{j}");
    // These machines run Linux 6.x.
    assert_eq!(v["Features"]["SocketBypass"], "yes", "{j}");
    assert_eq!(v["Target"], target, "{j}");
    let bad = cx.rrun(&["version", "--format", "{{"]);
    bad.expect_code(1);
    assert!(
        bad.stderr.starts_with("rrun: template parsing error"),
        "{bad}"
    );
}

/// Rootless, `version` shows the caller's subordinate ids, or what to run
/// to get some.
#[test]
fn version_shows_subordinate_ids() {
    let Some(cx) = Ctx::new(Mode::Rootless) else {
        return;
    };
    let out = cx.rrun(&["version"]);
    out.ok();
    let user = cx.user.as_ref().expect("a rootless Ctx has a user");
    let (start, count) = sub_range("/etc/subuid", user).expect("the test user has subuids");
    assert_eq!(
        field(&out.stdout, "uids"),
        Some(format!("{start}-{}", start + count - 1).as_str()),
        "{out}"
    );
    assert_eq!(field(&out.stdout, "user namespaces"), Some("yes"), "{out}");

    let Some(nobody) = Ctx::new_user_without_subids() else {
        return;
    };
    let out = nobody.rrun(&["version"]);
    out.ok();
    let uids = field(&out.stdout, "uids").unwrap_or_default();
    assert!(
        uids.starts_with("none: ")
            && uids.contains("sudo usermod --add-subuids ")
            && uids.ends_with(" nobody"),
        "what to run for ids\n{out}"
    );
}

/// On a host without nft, pasta and newuidmap, `version` says so and what
/// to install for each.
#[test]
fn version_names_what_is_missing() {
    let Some(cx) = Ctx::new_needing_root(Mode::Rootless, "a mount namespace that hides programs")
    else {
        return;
    };
    let c = cx.cmd_without_programs(&["version"], &["nft", "pasta", "newuidmap", "newgidmap"]);
    let out = cx.run(c, Input::Null);
    out.ok();
    for (p, pkg) in [
        ("nft", "install the nftables package"),
        ("pasta", "install the passt package"),
        ("newuidmap", "install the uidmap package"),
        ("newgidmap", "install the uidmap package"),
    ] {
        let v = field(&out.stdout, p).unwrap_or_default();
        assert!(
            v.starts_with("not found: ") && v.contains(pkg),
            "{p}: {pkg}\n{out}"
        );
    }
}

// ---------------------------------------------------------------------------
// completion, man pages, make install

/// `completion bash|zsh|fish` load in their shells and complete commands;
/// any other shell is refused. The shells run as the test user with a home
/// of the test's own: what they write (zsh's dump, fish's data) stays there.
#[test]
fn completion_scripts_load() {
    let Some(cx) = Ctx::new(Mode::Rootless) else {
        return;
    };
    if let Some(sh) = missing_tool(&["bash", "zsh", "fish"]) {
        skip(&format!("{sh} is not installed (.ci/run installs it)"));
        return;
    }
    let bin = cx.env.bin.to_str().expect("UTF-8 path");
    let home = cx.host_dir("home");
    let host = |prog: &str, script: &str| {
        use std::os::unix::process::CommandExt;
        let mut c = Command::new(prog);
        c.args(["-c", script])
            .env_clear()
            .env("PATH", format!("{}:{HOST_PATH}", cx.env.dir.display()))
            .env("HOME", &home)
            .current_dir(&home)
            .uid(cx.uid)
            .gid(cx.gid);
        cx.run(c, Input::Null)
    };
    let out = host(
        "bash",
        &format!(
            "source <({bin} completion bash) && complete -p rrun && \
             COMP_WORDS=(rrun p); COMP_CWORD=1; _rrun rrun p rrun; echo \"${{COMPREPLY[*]}}\"; \
             COMP_WORDS=(rrun system ''); COMP_CWORD=2; _rrun rrun '' system; echo \"${{COMPREPLY[*]}}\""
        ),
    );
    out.ok();
    let lines = out.lines();
    assert!(
        lines[0].starts_with("complete ") && lines[0].ends_with(" -F _rrun rrun"),
        "{out}"
    );
    assert_eq!(lines[1], "ps port", "{out}");
    assert!(lines[2].contains("reset"), "{out}");

    let out = host(
        "zsh",
        &format!(
            "autoload -Uz compinit && compinit -u -d \"$HOME/zcompdump\" && source <({bin} completion zsh) && print -r -- $_comps[rrun]"
        ),
    );
    out.ok();
    assert_eq!(out.stdout, "_rrun\n", "{out}");

    let out = host(
        "fish",
        &format!("{bin} completion fish | source; complete -C 'rrun p'"),
    );
    out.ok();
    let names: Vec<&str> = out
        .lines()
        .iter()
        .map(|l| l.split('\t').next().unwrap_or(""))
        .collect();
    assert_eq!(names, ["port", "ps"], "{out}");

    let out = cx.rrun(&["completion", "tcsh"]);
    out.expect_code(125);
    assert!(out.stdout.is_empty(), "{out}");
    assert_eq!(
        out.stderr,
        "rrun: invalid value 'tcsh' for '<SHELL>': use one of bash, zsh, fish\nSee 'rrun completion --help'.\n"
    );
}

/// `make install PREFIX=… RRUN_BIN=…` (no build) puts the binary, a man
/// page per command and the three completions where their tools look;
/// DESTDIR goes before the prefix; `make uninstall` takes them away.
#[test]
fn make_install_puts_everything_in_place() {
    let Some(cx) = Ctx::new(Mode::Root) else {
        return;
    };
    if let Some(t) = missing_tool(&["make", "install"]) {
        skip(&format!("{t} is not installed"));
        return;
    }
    let tmp = cx.host_dir("install");
    let prefix = tmp.join("usr");
    let make = |args: &[String]| {
        let mut c = Command::new("make");
        c.arg("-s")
            .arg("-C")
            .arg(manifest())
            .args(args)
            .env_clear()
            .env("PATH", HOST_PATH);
        cx.run(c, Input::Null)
    };
    let bin = format!("RRUN_BIN={}", cx.env.bin.display());
    make(&[
        "install".into(),
        format!("PREFIX={}", prefix.display()),
        bin.clone(),
    ])
    .ok();
    let files = |root: &Path| -> Vec<PathBuf> {
        let mut v = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    v.push(p.strip_prefix(root).expect("under root").to_path_buf());
                }
            }
        }
        v.sort();
        v
    };
    let mut want: Vec<PathBuf> = vec![
        "bin/rrun".into(),
        "share/bash-completion/completions/rrun".into(),
        "share/fish/vendor_completions.d/rrun.fish".into(),
        "share/zsh/site-functions/_rrun".into(),
        "share/man/man1/rrun.1".into(),
        "share/man/man1/rrun-system-reset.1".into(),
        "share/man/man1/rrun-system-info.1".into(),
        "share/man/man1/rrun-image-save.1".into(),
    ];
    for c in COMMANDS {
        want.push(format!("share/man/man1/rrun-{c}.1").into());
    }
    // Docker's other spelling has its pages too, as docker-container-ls(1).
    for c in [
        "create", "exec", "inspect", "kill", "logs", "ls", "port", "prune", "rename", "restart",
        "rm", "run", "start", "stats", "stop", "top", "wait",
    ] {
        want.push(format!("share/man/man1/rrun-container-{c}.1").into());
    }
    // And network's actions, as docker-network-create(1).
    for c in [
        "connect",
        "create",
        "disconnect",
        "inspect",
        "ls",
        "prune",
        "reload",
        "rm",
    ] {
        want.push(format!("share/man/man1/rrun-network-{c}.1").into());
    }
    for c in ["generate-kube", "kube-play", "kube-down"] {
        want.push(format!("share/man/man1/rrun-{c}.1").into());
    }
    want.sort();
    assert_eq!(files(&prefix), want);
    assert_eq!(
        fs::read(prefix.join("bin/rrun")).expect("installed binary"),
        fs::read(&cx.env.bin).expect("binary"),
        "the binary named by RRUN_BIN"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(prefix.join("bin/rrun"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }
    let page = fs::read_to_string(prefix.join("share/man/man1/rrun-ps.1")).expect("man page");
    assert!(
        page.starts_with(".ie") || page.contains(".TH rrun-ps 1"),
        "{page}"
    );
    assert!(
        page.contains("no\\-trunc"),
        "the page lists ps's flags:\n{page}"
    );
    let top = fs::read_to_string(prefix.join("share/man/man1/rrun.1")).expect("man page");
    for c in COMMANDS {
        assert!(
            top.contains(&format!("rrun\\-{c}(1)")),
            "rrun(1) names rrun-{c}(1)"
        );
    }
    let completion =
        fs::read(prefix.join("share/bash-completion/completions/rrun")).expect("bash completion");
    let fresh = cx.rrun(&["completion", "bash"]);
    assert_eq!(completion, fresh.stdout.as_bytes());
    if which("man").is_some() {
        let mut c = Command::new("man");
        c.arg("-l")
            .arg(prefix.join("share/man/man1/rrun-system-reset.1"))
            .env_clear()
            .env("PATH", HOST_PATH)
            .env("MANPAGER", "cat")
            .env("COLUMNS", "200");
        let out = cx.run(c, Input::Null);
        out.ok();
        assert!(
            out.stdout.contains("--force"),
            "man renders the page\n{out}"
        );
    }

    make(&["uninstall".into(), format!("PREFIX={}", prefix.display())]).ok();
    assert_eq!(
        files(&prefix),
        Vec::<PathBuf>::new(),
        "uninstall removes them"
    );

    let dest = tmp.join("dest");
    make(&[
        "install".into(),
        format!("DESTDIR={}", dest.display()),
        "PREFIX=/opt/rr".into(),
        bin,
    ])
    .ok();
    assert_eq!(files(&dest.join("opt/rr")), want, "DESTDIR then PREFIX");
}

// ---------------------------------------------------------------------------
// info and system reset

/// `rrun info` after a rootless run on the bridge network: the holder and
/// pasta (the pids their records name), the monitor of the running
/// container, the network and the state directory; `-f` gives the same as
/// JSON. As root there is no holder or pasta.
fn info_shows_what_runs(mode: Mode) {
    let Some(cx) = net_ctx(mode) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let id = cx.detach(&["--name", "web", "-p", "18090:80"], &["sleep", "1000"]);
    let out = cx.rrun(&["info"]);
    out.ok();
    assert!(out.stderr.is_empty(), "{out}");
    let t = &out.stdout;
    let line = |prefix: &str| {
        t.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("a line {prefix:?}\n{out}"))
            .to_string()
    };
    assert_eq!(
        line("State directory:"),
        format!("State directory:  {}", cx.state.display())
    );
    assert!(line(" Running:").ends_with(" 1"), "{out}");
    let gw = gateway(&cx);
    assert!(
        line("Network:").starts_with("Network:          bridge ")
            && line("Network:").ends_with(&format!("gateway {gw}")),
        "{out}"
    );
    let state = cx.state_json(&id).expect("state.json");
    let monitor = state["monitor_pid"].as_i64().expect("monitor pid");
    assert!(
        line(" monitor of web").contains(&format!("pid {monitor} "))
            && line(" monitor of web").ends_with(&format!("container {}", &id[..12])),
        "{out}"
    );
    let j = cx.rrun(&["info", "--format", "{{json .}}"]);
    j.ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("JSON");
    assert_eq!(v["Monitors"][0]["Pid"], monitor, "{j}");
    assert_eq!(v["ContainersRunning"], 1, "{j}");
    match mode {
        Mode::Rootless => {
            let holder = cx.holder().expect("a live holder");
            let pasta = cx.pasta().expect("a live pasta");
            assert!(
                line(" namespace holder").contains(&format!("pid {holder} ")),
                "{out}"
            );
            assert!(line(" pasta").contains(&format!("pid {pasta} ")), "{out}");
            assert_eq!(v["Holder"]["Pid"], holder, "{j}");
            assert_eq!(v["Pasta"]["Pid"], pasta, "{j}");
            assert_eq!(
                line("Mode:"),
                format!("Mode:             rootless (uid {})", cx.uid)
            );
        }
        Mode::Root => {
            assert!(!t.contains("holder") && !t.contains(" pasta "), "{out}");
            assert!(v["Holder"].is_null() && v["Pasta"].is_null(), "{j}");
        }
    }
    assert!(t.contains("rrun system reset"), "{out}");
    // The same through Docker's alias.
    assert_eq!(
        cx.rrun(&["system", "info"]).stdout,
        cx.rrun(&["info"]).stdout
    );
}

/// `info` with nothing made changes nothing: no state directory appears.
#[test]
fn info_makes_nothing() {
    let Some(cx) = Ctx::new(Mode::Rootless) else {
        return;
    };
    let state = cx.state.join("fresh");
    let mut c = cx.cmd(&["info"]);
    c.env("RRUN_ROOT", &state);
    let out = cx.run(c, Input::Null);
    out.ok();
    assert!(
        out.stdout.starts_with(&format!(
            "State directory:  {} (not made yet)\n",
            state.display()
        )) && out.stdout.contains("Processes:        none"),
        "{out}"
    );
    assert!(!state.exists(), "info made {}", state.display());
}

/// Without --force, `system reset` refuses (125, one line naming them)
/// while containers run, and refuses rather than waits for an answer when
/// stdin is no terminal; either way nothing changes.
fn reset_refuses(mode: Mode) {
    let Some(cx) = net_ctx(mode) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let id = cx.detach(&["--name", "web"], &["sleep", "1000"]);
    let holder = cx.holder();
    let out = cx.rrun(&["system", "reset"]);
    out.expect_rrun_error_containing(&format!(
        "rrun: 1 container is running: web ({}); stop it first, or reset with --force (-f), which removes it too",
        &id[..12]
    ));
    assert!(out.stdout.is_empty(), "{out}");
    assert_eq!(cx.inspect_f("{{.State.Status}}", "web"), "running");
    assert_eq!(cx.holder(), holder);

    cx.rrun(&["stop", "-t", "0", "web"]).ok();
    // stdin is /dev/null: no one to answer.
    let out = cx.rrun(&["system", "reset"]);
    out.expect_rrun_error_containing("standard input is not a terminal");
    assert!(out.stdout.is_empty(), "{out}");
    assert_eq!(cx.containers(), std::slice::from_ref(&id));
    assert_eq!(cx.holder(), holder);
    assert!(cx.state.join("network/settings.json").exists());
}

/// The state directory is gone; rootless, its parent (the harness's, root's)
/// lets the user empty it only.
fn state_gone(cx: &Ctx) -> bool {
    match cx.mode {
        Mode::Root => !cx.state.exists(),
        Mode::Rootless => fs::read_dir(&cx.state).is_ok_and(|mut d| d.next().is_none()),
    }
}

/// On a terminal, `system reset` says what it will remove and asks; "n"
/// keeps everything, "y" removes it.
fn reset_asks(mode: Mode) {
    let Some(cx) = net_ctx(mode) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    cx.sh(&[], "true").ok();
    let id = cx.detach(&["--name", "done"], &["true"]);
    cx.wait_exited("done");
    for (answer, removed) in [("n\n", false), ("y\n", true)] {
        let mut p = cx.spawn_pty(cx.cmd(&["system", "reset"]), 24, 200);
        p.wait_text("Are you sure you want to continue? [y/N] ");
        p.write_stdin(answer.as_bytes());
        let status = p.wait_exit();
        let out = p.wait();
        assert_eq!(status.code(), Some(0), "{out}");
        for want in [
            "WARNING! This will remove:",
            "  - all containers (1)",
            "  - the network (bridge ",
            &format!("  - the state directory {}", cx.state.display()),
        ] {
            assert!(
                out.stdout.contains(want),
                "the prompt lists {want:?}\n{out}"
            );
        }
        if mode == Mode::Rootless && !removed {
            assert!(
                out.stdout.contains("  - the namespace holder (pid "),
                "{out}"
            );
            assert!(
                out.stdout.contains("  - the network's pasta (pid "),
                "{out}"
            );
        }
        assert_eq!(state_gone(&cx), removed, "answer {answer:?}\n{out}");
        if !removed {
            assert_eq!(cx.containers(), std::slice::from_ref(&id), "{out}");
        }
    }
}

/// `system reset -f` with a running container publishing a port: it is
/// removed as `rm -f` removes it, then the network (as root: the bridge and
/// rrun's nft tables), pasta and the holder end, and the state directory
/// goes. Nothing is left: no process, no record, no bridge or table, the
/// port free; the next run starts from scratch.
fn reset_force_leaves_nothing(mode: Mode) {
    let Some(cx) = net_ctx(mode) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let id = cx.detach(&["--name", "web", "-p", "18091:80"], &["sleep", "1000"]);
    // A user-defined network with a container on it, and one unused.
    cx.rrun(&["network", "create", "--ipv6", "apps"]).ok();
    cx.rrun(&["network", "create", "idle"]).ok();
    let id2 = cx.detach(&["--name", "api", "--network", "apps"], &["sleep", "1000"]);
    let state = cx.state_json(&id).expect("state.json");
    let monitor = state["monitor_pid"].as_i64().expect("monitor") as i32;
    let pid = state["pid"].as_i64().expect("pid") as i32;
    let holder = cx.holder();
    let pasta = cx.pasta();
    if mode == Mode::Rootless {
        assert!(
            holder.is_some() && pasta.is_some(),
            "a holder and a pasta run"
        );
    }
    let out = cx.rrun(&["system", "reset", "--force"]);
    out.ok();
    assert!(out.stderr.is_empty(), "{out}");
    let mut removed: Vec<&str> = out.stdout.lines().collect();
    removed.sort();
    let mut want = vec![id.as_str(), id2.as_str()];
    want.sort();
    assert_eq!(
        removed, want,
        "the removed containers, as rm -f says\n{out}"
    );
    assert!(state_gone(&cx), "the state directory is gone\n{out}");
    for (what, p) in [
        ("the container", Some(pid)),
        ("its monitor", Some(monitor)),
        ("the holder", holder),
        ("pasta", pasta),
    ] {
        if let Some(p) = p {
            assert!(
                poll_until(SETTLE, || !pid_alive(p)),
                "{what} (pid {p}) still runs after system reset"
            );
        }
    }
    let host = host_ns(&cx);
    // A veth's host end goes with the container's network namespace, which
    // the kernel tears down after the process is gone, in its own time.
    let mut links = Vec::new();
    poll_until(SETTLE, || {
        links = interfaces(host);
        !links
            .iter()
            .any(|l| l == "rrun0" || l.starts_with("rrv") || l.starts_with("br-"))
    });
    assert!(
        !links
            .iter()
            .any(|l| l == "rrun0" || l.starts_with("rrv") || l.starts_with("br-")),
        "no bridge or veth left in the host's namespace: {links:?}"
    );
    if mode == Mode::Root {
        let t = sh_ns(&cx, host, "nft list tables");
        t.ok();
        assert!(
            !t.stdout.contains("rrun"),
            "no nft table of rrun's left\n{t}"
        );
    }
    cx.assert_nothing_left("system reset -f");
    // A reset with nothing to reset is quiet.
    let again = cx.rrun(&["system", "reset", "-f"]);
    again.ok();
    assert!(
        again.stdout.is_empty() && again.stderr.is_empty(),
        "{again}"
    );
    // Everything is made anew, and the host port is free again.
    if !cx.state.exists() {
        fs::create_dir(&cx.state).expect("mkdir state");
        std::os::unix::fs::chown(&cx.state, Some(cx.uid), Some(cx.gid)).expect("chown");
    }
    let out = cx.sh(&["-p", "18091:80"], "echo again");
    out.ok();
    assert_eq!(out.stdout, "again\n", "{out}");
    if mode == Mode::Rootless {
        let h = cx.holder().expect("a new holder");
        assert_ne!(Some(h), holder, "a new holder");
    }
}

/// `system reset` removes only what rrun made: a state directory (a
/// RRUN_ROOT) that also holds other files keeps them, and itself, and says
/// so in one line.
#[test]
fn reset_keeps_what_is_not_rrun_s() {
    let Some(cx) = Ctx::new(Mode::Root) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    cx.sh(&["--net=none"], "true").ok();
    let id = cx.detach(&["--net=none", "--name", "kept"], &["true"]);
    cx.wait_exited("kept");
    fs::write(cx.state.join("notes.txt"), "mine\n").expect("write");
    fs::create_dir(cx.state.join("photos")).expect("mkdir");
    let out = cx.rrun(&["system", "reset", "-f"]);
    out.expect_rrun_error_containing(&format!(
        "rrun: kept the state directory {}: it holds files rrun did not make (notes.txt, photos)",
        cx.state.display()
    ));
    assert_eq!(out.stdout, format!("{id}\n"), "{out}");
    let mut left: Vec<String> = fs::read_dir(&cx.state)
        .expect("the directory stays")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["notes.txt", "photos"]);
    assert_eq!(
        fs::read_to_string(cx.state.join("notes.txt"))
            .ok()
            .as_deref(),
        Some("mine\n")
    );
}

/// A RRUN_ROOT pointed at a directory of the user's own (`$HOME`, `/etc`)
/// whose entries happen to bear the names rrun uses (`network/`,
/// `containers/`, `names/`, `autoremove/`, `lock`): `system reset -f` and
/// `network rm` remove rrun's own entries in them and nothing else.
#[test]
fn reset_keeps_users_files_under_rrun_s_names() {
    let Some(cx) = Ctx::new(Mode::Root) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let s = &cx.state;
    for d in ["network", "containers", "names", "autoremove"] {
        fs::create_dir_all(s.join(d)).expect("mkdir");
    }
    fs::write(s.join("network/interfaces"), "auto lo\n").expect("write");
    fs::write(s.join("containers/notes.txt"), "mine\n").expect("write");
    fs::create_dir(s.join("containers/album")).expect("mkdir");
    fs::write(s.join("containers/album/photo"), "x").expect("write");
    fs::write(s.join("names/todo"), "call\n").expect("write");
    fs::write(s.join("autoremove/list"), "a\n").expect("write");
    fs::write(s.join("lock"), "the user's own lock file\n").expect("write");
    // rrun's own entries among them: a container and its network.
    let id = cx.detach(&["--name", "kept"], &["true"]);
    cx.wait_exited("kept");
    let out = cx.rrun(&["system", "reset", "-f"]);
    out.expect_rrun_error_containing(&format!(
        "rrun: kept the state directory {}: it holds files rrun did not make (autoremove/list, containers/album, containers/notes.txt, lock, names/todo, network/interfaces)",
        s.display()
    ));
    assert_eq!(out.stdout, format!("{id}\n"), "{out}");
    for (f, want) in [
        ("network/interfaces", "auto lo\n"),
        ("containers/notes.txt", "mine\n"),
        ("containers/album/photo", "x"),
        ("names/todo", "call\n"),
        ("autoremove/list", "a\n"),
        ("lock", "the user's own lock file\n"),
    ] {
        assert_eq!(
            fs::read_to_string(s.join(f)).ok().as_deref(),
            Some(want),
            "{f} after system reset -f"
        );
    }
    let mut left: Vec<String> = ["network", "containers", "names", "autoremove"]
        .iter()
        .flat_map(|d| {
            fs::read_dir(s.join(d))
                .expect("kept")
                .flatten()
                .map(move |e| format!("{d}/{}", e.file_name().to_string_lossy()))
        })
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "autoremove/list",
            "containers/album",
            "containers/notes.txt",
            "names/todo",
            "network/interfaces"
        ]
    );
    // `network rm` alone, the network made again: the same.
    cx.sh(&[], "true").ok();
    cx.rrun(&["network", "rm"]).ok();
    assert_eq!(
        fs::read_to_string(s.join("network/interfaces"))
            .ok()
            .as_deref(),
        Some("auto lo\n"),
        "network/interfaces after network rm"
    );
}

both_modes!(
    info_shows_what_runs,
    reset_refuses,
    reset_asks,
    reset_force_leaves_nothing
);

// ---------------------------------------------------------------------------
// Prerequisites: one line saying what to install or set

/// A user without subordinate ids who asks for another id is told the
/// command that gives it a free range, and how to make the namespace anew.
#[test]
fn no_subordinate_ids_says_what_to_run() {
    let Some(cx) = Ctx::new_user_without_subids() else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let out = cx.sh(&["--net=none", "-u", "1000"], "true");
    out.expect_rrun_error_containing("sudo usermod --add-subuids ");
    let line = out.stderr_lines()[0];
    assert!(
        line.contains(" nobody; then run `rrun system reset`"),
        "{out}"
    );
    // The range it suggests is free: past every range in either file.
    let free = ["/etc/subuid", "/etc/subgid"]
        .iter()
        .flat_map(|f| {
            fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(f.get(1)?.parse::<u64>().ok()? + f.get(2)?.parse::<u64>().ok()?)
        })
        .fold(100_000, u64::max);
    assert!(
        line.contains(&format!("--add-subuids {free}-{} ", free + 65535)),
        "{out}"
    );
}

/// A user whose ranges are in use, asking for an id beyond them, is told
/// which ids exist and where to give it more.
#[test]
fn id_beyond_the_ranges_says_which_exist() {
    let Some(cx) = Ctx::new(Mode::Rootless) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let user = cx.user.as_ref().expect("a rootless Ctx has a user");
    let (_, count) = sub_range("/etc/subuid", user).expect("the test user has subuids");
    let out = cx.sh(&["--net=none", "-u", "4000000"], "true");
    out.expect_rrun_error_containing(&format!(
        "ids 0-{count} exist inside (your ranges in /etc/subuid and /etc/subgid): use one of them, or give {} a larger range there, then run `rrun system reset`",
        user.name
    ));
}

/// Without newuidmap (package uidmap) a user with ranges gets only its own
/// id; asking for another says to install uidmap.
#[test]
fn no_uidmap_says_what_to_install() {
    let Some(cx) = Ctx::new_needing_root(Mode::Rootless, "a mount namespace that hides programs")
    else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let args = cx.sh_args(&["--net=none", "-u", "1000"], "true");
    let c = cx.cmd_without_programs(&args, &["newuidmap", "newgidmap"]);
    let out = cx.run(c, Input::Null);
    out.expect_rrun_error_containing(
        "install the uidmap package (newuidmap, newgidmap): sudo apt-get install uidmap; then run `rrun system reset`",
    );
    assert!(
        !out.stderr.contains("/etc/subuid:"),
        "the ranges are there\n{out}"
    );
}

/// Without pasta on PATH, the first rootless run on the network says, in
/// one line, that containers have no outbound traffic and to install
/// passt.
#[test]
fn no_pasta_says_what_to_install() {
    let Some(cx) = net_ctx(Mode::Rootless) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let args = cx.sh_args(&[], "true");
    let c = cx.cmd_without_programs(&args, &["pasta"]);
    let out = cx.run(c, Input::Null);
    out.ok();
    let err = out.stderr_lines();
    assert!(
        err.len() == 1
            && err[0].starts_with("rrun: warning: containers have no outbound network: ")
            && err[0].contains("install the passt package"),
        "one line naming passt\n{out}"
    );
    assert_eq!(cx.pasta(), None);
}

/// Without nft, the run that makes the network says in one line that it
/// has no NAT rules and to install nftables (root and rootless).
fn no_nft_says_what_to_install(mode: Mode) {
    let Some(cx) = net_ctx(mode) else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let args = cx.sh_args(&["-p", "18092:80"], "true");
    let out = cx.run(cx.cmd_without_programs(&args, &["nft"]), Input::Null);
    out.ok();
    let err = out.stderr_lines();
    assert!(
        err.len() == 1
            && err[0].starts_with("rrun: warning: nftables (the nft program) is not installed")
            && err[0].ends_with("install the nftables package: sudo apt-get install nftables"),
        "exactly one line naming nftables\n{out}"
    );
    // Said once, when the network is made.
    let out = cx.run(cx.cmd_without_programs(&args, &["nft"]), Input::Null);
    out.ok();
    assert!(out.stderr.is_empty(), "{out}");
}

both_modes!(no_nft_says_what_to_install);

/// A kernel that refuses the user namespace: simulated without touching
/// the machine's settings. rrun runs as the test user in a user namespace
/// of root's (identity-mapped) whose own user.max_user_namespaces is 0
/// (the limit is per user namespace), so the holder's unshare fails there
/// with ENOSPC; rrun names the setting and the command that raises it, and
/// `version` says the same.
#[test]
fn refused_user_namespaces_name_the_setting() {
    let Some(cx) =
        Ctx::new_needing_root(Mode::Rootless, "it writes a user namespace's maps as root")
    else {
        return;
    };
    if missing_tool(&["unshare", "setpriv"]).is_some() {
        skip("unshare and setpriv (util-linux) are needed");
        return;
    }
    let dir = cx.host_dir("userns");
    let fifo = dir.join("go");
    // The namespace's maps are written from outside (only root there may
    // map every id), then its first process execs again to hold the
    // capabilities of uid 0 inside, sets the limit, and becomes the user.
    let script = r#"set -e
fifo=$1; shift
mkfifo "$fifo"
unshare --user sh -c '
    read _ < "$0"
    exec sh -c '"'"'u=$0 g=$1; shift; echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --reuid="$u" --regid="$g" --clear-groups -- "$@"'"'"' "$@"
' "$fifo" "$@" &
pid=$!
# Should a map not be written, the waiting child must not outlive the test.
trap 'kill $pid 2>/dev/null' EXIT
while [ "$(readlink /proc/$pid/ns/user)" = "$(readlink /proc/self/ns/user)" ]; do :; done
echo "0 0 4294967295" > /proc/$pid/uid_map
echo "0 0 4294967295" > /proc/$pid/gid_map
echo go > "$fifo"
trap - EXIT
wait $pid
"#;
    let run = |args: &[&str]| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&fifo)
            .arg(cx.uid.to_string())
            .arg(cx.gid.to_string())
            .arg(&cx.env.bin)
            .args(args)
            .env_clear()
            .env("PATH", HOST_PATH)
            .env("HOME", &cx.home)
            .env("RRUN_ROOT", &cx.state)
            .current_dir(&cx.env.dir);
        if let Some(ns) = &cx.netns {
            ns.enter(&mut c);
        }
        let out = cx.run(c, Input::Null);
        let _ = fs::remove_file(&fifo);
        out
    };
    let before = fs::read_to_string("/proc/sys/user/max_user_namespaces").expect("sysctl");
    let out = run(&["--rm", "--net=none", cx.rootfs(), "true"]);
    assert_eq!(
        out.stderr,
        "rrun: cannot create a user namespace: user.max_user_namespaces is 0; raise it with: sudo sysctl -w user.max_user_namespaces=15000\n",
        "{out}"
    );
    out.expect_code(125);
    let out = run(&["version"]);
    out.ok();
    assert_eq!(
        field(&out.stdout, "user namespaces"),
        Some(
            "no: user.max_user_namespaces is 0; raise it with: sudo sysctl -w user.max_user_namespaces=15000"
        ),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/user/max_user_namespaces").expect("sysctl"),
        before,
        "the machine's own setting is untouched"
    );
    assert_eq!(cx.holder(), None);
}

/// `rrun generate` and `rrun kube`, alone or with --help or as a help
/// topic, list their commands (exit 0); an unknown one is Docker's
/// "unknown command" (exit 1).
#[test]
fn generate_and_kube_groups() {
    for (args, subs) in [
        (vec!["generate"], vec!["kube"]),
        (vec!["generate", "--help"], vec!["kube"]),
        (vec!["help", "generate"], vec!["kube"]),
        (vec!["kube"], vec!["play", "down"]),
        (vec!["kube", "-h"], vec!["play", "down"]),
        (vec!["help", "kube"], vec!["play", "down"]),
    ] {
        let out = rrun_plain(&args);
        out.ok();
        let names: Vec<String> = commands_section(&out.stdout)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, subs, "{out}");
    }
    for (args, word) in [
        (vec!["generate", "systemd"], "rrun generate systemd"),
        (vec!["kube", "apply"], "rrun kube apply"),
    ] {
        let out = rrun_plain(&args);
        out.expect_code(1);
        assert!(
            out.stderr
                .starts_with(&format!("rrun: unknown command: {word}\n")),
            "{out}"
        );
    }
    let out = rrun_plain(&["kube", "play", "--help"]);
    out.ok();
    assert!(
        out.stdout
            .contains("Usage: rrun kube play [OPTIONS] <FILE>"),
        "{out}"
    );
}

/// A flag given without its value is pflag's "flag needs an argument"
/// (it said `invalid value '' … use one of` with nothing after).
#[test]
fn flag_without_its_value() {
    for (args, flag, cmd) in [
        (vec!["stats", "--format"], "--format", "stats"),
        (vec!["kube", "play", "--network"], "--network", "kube play"),
        (
            vec!["network", "create", "--subnet"],
            "--subnet",
            "network create",
        ),
    ] {
        let out = rrun_plain(&args);
        out.expect_code(125);
        assert_eq!(
            out.stderr,
            format!("rrun: flag needs an argument: {flag}\nSee 'rrun {cmd} --help'.\n"),
            "{out}"
        );
    }
}
