//! Commands and flags Docker users reach for (issue 13, item 9): `rename`,
//! `top`, `container prune` and the `container` spelling of the other
//! commands, `rm` of many, and `--ulimit` (run and exec). Outputs and
//! errors are Docker 20.10's, captured (README's "Docker's words").
//!
//! Every test runs as root and rootless, in its own RRUN_ROOT; a
//! [`Cleanup`] guard removes its containers even when an assertion fails.

#[macro_use]
mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::Instant;

both_modes!(
    rename_running_and_stopped,
    rename_errors_change_nothing,
    rename_with_links,
    rename_races_leave_one_name,
    rename_of_an_rm_container_gives_its_name_back,
    top_lists_the_container_processes,
    top_errors,
    container_prune,
    container_spelling,
    rm_of_many,
    ulimit_applied_to_run_and_exec,
    ulimit_every_type,
    ulimit_refused,
);

/// names/<name> -> id, as the state directory holds them.
fn names(cx: &Ctx) -> BTreeMap<String, String> {
    fs::read_dir(cx.state.join("names"))
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let target = fs::read_link(e.path())
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    (e.file_name().to_string_lossy().into_owned(), target)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Exit code and the whole stderr of a failed command: Docker's daemon
/// errors come back as one `rrun: …` line and exit 1.
#[track_caller]
fn expect_fail(out: &Output, code: i32, line: &str) {
    out.expect_code(code);
    assert_eq!(out.stderr, format!("rrun: {line}\n"), "{out}");
    assert_eq!(out.stdout, "", "{out}");
}

/// `--net none` containers: these tests need no network.
fn detach(cx: &Ctx, name: &str, cmd: &[&str]) -> String {
    cx.detach(&["--name", name, "--net", "none"], cmd)
}

fn rename_running_and_stopped(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = detach(&cx, "aa", &["sleep", "1000"]);
    let out = cx.rrun(&["rename", "aa", "bb"]);
    out.ok();
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("", ""),
        "{out}"
    );
    assert_eq!(cx.inspect_f("{{.Name}} {{.Id}}", "bb"), format!("/bb {id}"));
    // The running container is untouched: same process, same host name.
    assert_eq!(cx.inspect_f("{{.State.Running}}", "bb"), "true");
    assert_eq!(cx.inspect_f("{{.Config.Hostname}}", "bb"), &id[..12]);
    let ps = cx.rrun(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(ps.stdout, "bb\n", "{ps}");
    expect_fail(
        &cx.rrun(&["rename", "aa", "zz"]),
        1,
        "No such container: aa",
    );
    assert_eq!(names(&cx), BTreeMap::from([("bb".into(), id.clone())]));
    // The old name is free again.
    let other = detach(&cx, "aa", &["sleep", "1000"]);

    // By id prefix, to a name written with Docker's leading slash, stopped.
    cx.rrun(&["stop", "-t", "0", "bb"]).ok();
    cx.rrun(&["rename", &id[..8], "/cc"]).ok();
    assert_eq!(
        cx.inspect_f("{{.Name}} {{.State.Status}}", "cc"),
        "/cc exited"
    );
    assert_eq!(
        names(&cx),
        BTreeMap::from([("aa".into(), other), ("cc".into(), id.clone())])
    );
    cx.rrun(&["rm", "cc"]).ok();
    assert!(!names(&cx).contains_key("cc"), "{:?}", names(&cx));
}

fn rename_errors_change_nothing(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = detach(&cx, "ren1", &["sleep", "1000"]);
    let other = detach(&cx, "bb1", &["sleep", "1000"]);
    let config = |id: &str| fs::read(cx.state.join("containers").join(id).join("config.json"));
    let before = (names(&cx), config(&id).ok(), config(&other).ok());
    let conflict = format!(
        "Error when allocating new name: Conflict. The container name \"/bb1\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
    );
    let invalid = |n: &str| {
        format!(
            "Error when allocating new name: Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    };
    let same = "Renaming a container with the same name as its current name";
    for (args, line) in [
        (["ren1", "bb1"], conflict.clone()),
        (["ren1", "/bb1"], conflict.clone()),
        (["ren1", "ren1"], same.to_string()),
        (["ren1", "/ren1"], same.to_string()),
        (["nosuch", "xx"], "No such container: nosuch".into()),
        // Docker looks the container up before the new name.
        (["nosuch", "bad name"], "No such container: nosuch".into()),
        (["ren1", "bad name"], invalid("/bad name")),
        (["ren1", "a/b"], invalid("/a/b")),
        (["ren1", "_x"], invalid("/_x")),
        (["ren1", ".x"], invalid("/.x")),
        (["ren1", "//x2"], invalid("//x2")),
        (["ren1", "a:b"], invalid("/a:b")),
        (["ren1", "caf\u{e9}"], invalid("/caf\u{e9}")),
        (
            ["ren1", ""],
            "Neither old nor new names may be empty".into(),
        ),
        (["", "xx"], "Neither old nor new names may be empty".into()),
    ] {
        let out = cx.rrun(&["rename", args[0], args[1]]);
        expect_fail(&out, 1, &line);
    }
    let long = "x".repeat(129);
    expect_fail(
        &cx.rrun(&["rename", "ren1", &long]),
        1,
        &format!(
            "Error when allocating new name: Invalid container name (/{long}): at most 128 characters are allowed"
        ),
    );
    // Wrong number of arguments: a usage error.
    for args in [&["rename", "ren1"][..], &["rename", "ren1", "a", "b"]] {
        let out = cx.rrun(args);
        out.expect_code(125);
        assert!(out.stderr.starts_with("rrun: "), "{out}");
    }
    assert_eq!(
        (names(&cx), config(&id).ok(), config(&other).ok()),
        before,
        "[{mode}] a refused rename changes no name and no record"
    );
}

fn rename_with_links(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(&["--name", "db", "--expose", "5432"], &["sleep", "1000"]);
    cx.detach(&["--name", "web", "--link", "db:db"], &["sleep", "1000"]);
    let names_of = |key: &str| cx.inspect_f("{{.Id}}", key);
    let row = |key: &str| {
        let id = names_of(key);
        let out = cx.rrun(&["ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]);
        out.ok();
        out.lines()
            .into_iter()
            .find_map(|l| l.strip_prefix(&format!("{id} ")).map(str::to_string))
            .unwrap_or_else(|| panic!("no ps row for {key}\n{out}"))
    };
    let hosts = |key: &str| {
        let out = cx.rrun(&["exec", key, "cat", "/etc/hosts"]);
        out.ok();
        out.stdout
    };
    let hosts_before = hosts("web");
    assert_eq!(row("db"), "db,web/db");

    // The target renamed: the linker shows its new name; its /etc/hosts
    // and environment stay as they were (Docker rewrites neither).
    cx.rrun(&["rename", "db", "db2"]).ok();
    assert_eq!(row("db2"), "db2,web/db");
    assert_eq!(
        cx.inspect_f("{{.HostConfig.Links}}", "web"),
        "[/db2:/web/db]"
    );
    assert_eq!(hosts("web"), hosts_before);

    // The linker renamed: its links carry its new name, and so do the
    // link variables of what exec starts there (the running command's own
    // environment is as it was started).
    cx.rrun(&["rename", "web", "web2"]).ok();
    assert_eq!(row("db2"), "db2,web2/db");
    assert_eq!(
        cx.inspect_f("{{.HostConfig.Links}}", "web2"),
        "[/db2:/web2/db]"
    );
    let env = cx.rrun(&["exec", "web2", "env"]);
    env.ok();
    assert!(env.lines().contains(&"DB_NAME=/web2/db"), "{env}");
    let init_env = cx.rrun(&["exec", "web2", "cat", "/proc/1/environ"]);
    init_env.ok();
    assert!(
        init_env.stdout.split('\0').any(|v| v == "DB_NAME=/web/db"),
        "{init_env}"
    );
    assert_eq!(hosts("web2"), hosts_before);
    // A new link to the renamed target, by its new name only.
    let out = cx.sh(&["--link", "db2:db"], "grep -c db /etc/hosts");
    out.ok();
    // ("db" is also hex: an id that starts with it is found by prefix,
    // about one run in a hundred with these three containers.)
    let ids = cx.rrun(&["ps", "-aq", "--no-trunc"]);
    if !ids.lines().iter().any(|id| id.starts_with("db")) {
        let out = cx.sh(&["--link", "db"], "true");
        out.expect_rrun_error_containing("No such container: db");
    }
}

fn rename_races_leave_one_name(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let ids: Vec<String> = (0..4)
        .map(|i| detach(&cx, &format!("c{i}"), &["sleep", "1000"]))
        .collect();
    let current = |i: usize| cx.inspect_f("{{.Name}}", &ids[i]);
    for round in 0..3 {
        let target = format!("t{round}");
        let procs: Vec<Proc> = (0..4)
            .map(|i| {
                let n = current(i);
                cx.spawn(
                    cx.cmd(&["rename", n.trim_start_matches('/'), &target]),
                    Input::Null,
                )
            })
            .collect();
        let outs: Vec<Output> = procs.into_iter().map(Proc::wait).collect();
        let won: Vec<&Output> = outs.iter().filter(|o| o.code() == Some(0)).collect();
        assert_eq!(
            won.len(),
            1,
            "[{mode}] exactly one rename to {target} wins\n{outs:#?}"
        );
        for o in outs.iter().filter(|o| o.code() != Some(0)) {
            o.expect_code(1);
            assert!(
                o.stderr.contains("Conflict. The container name \"/") && o.stderr.contains(&target),
                "{o}"
            );
        }
        // One name a container, the one its record says.
        let n = names(&cx);
        assert_eq!(n.len(), 4, "{n:?}");
        for (i, id) in ids.iter().enumerate() {
            let name = current(i);
            assert_eq!(n.get(name.trim_start_matches('/')), Some(id), "{n:?}");
        }
    }
    // A rename racing a start for one name: one of them has it.
    for round in 0..3 {
        let target = format!("r{round}");
        let n = current(0);
        let ren = cx.spawn(
            cx.cmd(&["rename", n.trim_start_matches('/'), &target]),
            Input::Null,
        );
        let run = cx.spawn(
            cx.cmd(&[
                "-d",
                "--net",
                "none",
                "--name",
                &target,
                cx.rootfs(),
                "sleep",
                "1000",
            ]),
            Input::Null,
        );
        let (ren, run) = (ren.wait(), run.wait());
        assert!(
            (ren.code() == Some(0)) != (run.code() == Some(0)),
            "[{mode}] one of rename and run takes {target}\n{ren}\n{run}"
        );
        let ps = cx.rrun(&["ps", "-a", "--format", "{{.Names}}"]);
        assert_eq!(
            ps.lines().iter().filter(|l| **l == target).count(),
            1,
            "{ps}"
        );
        let owner = names(&cx).get(&target).cloned().unwrap_or_default();
        assert_eq!(cx.inspect_f("{{.Name}}", &owner), format!("/{target}"));
    }
}

fn rename_of_an_rm_container_gives_its_name_back(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(
        &["--rm", "--name", "r1", "--net", "none"],
        &["sleep", "1000"],
    );
    cx.rrun(&["rename", "r1", "r2"]).ok();
    cx.rrun(&["stop", "-t", "0", "r2"]).ok();
    assert!(
        poll_until(SETTLE, || cx.containers().is_empty()),
        "[{mode}] the --rm container went"
    );
    assert_eq!(
        names(&cx),
        BTreeMap::new(),
        "[{mode}] its new name went too"
    );
    cx.assert_nothing_left("a renamed --rm container's exit");
}

/// The host pids of every process in the pid namespace of `pid`.
fn pid_namespace(pid: i32) -> BTreeSet<i64> {
    let ns = |p: &str| {
        fs::metadata(format!("/proc/{p}/ns/pid"))
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    let want = ns(&pid.to_string());
    assert!(want.is_some(), "the namespace of {pid}");
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let p = n.parse::<i64>().ok()?;
            (ns(&n) == want).then_some(p)
        })
        .collect()
}

fn cmdline(pid: i64) -> String {
    let b = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&b)
        .trim_end_matches('\0')
        .replace('\0', " ")
}

/// A `top` table's rows, cut as Docker's tabwriter lays them out: every
/// cell but the last 20 characters wide (these cells are all shorter).
#[track_caller]
fn top_rows(out: &Output, cols: usize) -> Vec<Vec<String>> {
    out.ok();
    out.lines()
        .iter()
        .map(|l| {
            let c: Vec<char> = l.chars().collect();
            assert!(
                c.len() > 20 * (cols - 1),
                "a row of {cols} cells: {l:?}\n{out}"
            );
            let mut cells: Vec<String> = (0..cols - 1)
                .map(|i| {
                    let cell: String = c[20 * i..20 * (i + 1)].iter().collect();
                    assert!(cell.ends_with(' '), "cell {i} padded: {l:?}");
                    cell.trim_end().to_string()
                })
                .collect();
            cells.push(c[20 * (cols - 1)..].iter().collect());
            cells
        })
        .collect()
}

fn top_lists_the_container_processes(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    if let Some(t) = missing_tool(&["ps"]) {
        return skip(&format!("no {t} on the host"));
    }
    detach(
        &cx,
        "t1",
        &["sh", "-c", "sleep 1000 & sleep 1001 & exec sleep 1002"],
    );
    detach(&cx, "other", &["sleep", "2000"]);
    let init = cx
        .inspect_f("{{.State.Pid}}", "t1")
        .parse::<i32>()
        .unwrap_or(0);
    let mut exec = cx.spawn(cx.cmd(&["exec", "t1", "sleep", "1003"]), Input::Null);
    let want = ["sleep 1000", "sleep 1001", "sleep 1002", "sleep 1003"];
    let mut pids = BTreeSet::new();
    assert!(
        poll_until(SETTLE, || {
            pids = pid_namespace(init);
            let mut cmds: Vec<String> = pids.iter().map(|&p| cmdline(p)).collect();
            cmds.sort();
            cmds == want
        }),
        "[{mode}] the container's four processes run: {:?}",
        pids.iter().map(|&p| cmdline(p)).collect::<Vec<_>>()
    );

    let out = cx.rrun(&["top", "t1"]);
    let rows = top_rows(&out, 8);
    assert_eq!(
        rows[0],
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "{out}"
    );
    let user = match &cx.user {
        None => "root".to_string(),
        Some(u) => u.name.clone(),
    };
    let shown: BTreeSet<i64> = rows[1..]
        .iter()
        .map(|r| r[1].parse().unwrap_or(-1))
        .collect();
    assert_eq!(
        shown, pids,
        "[{mode}] top shows the container's processes, exec's too, and no other\n{out}"
    );
    for r in &rows[1..] {
        let pid: i64 = r[1].parse().unwrap_or(-1);
        assert_eq!(r[0], user, "{out}");
        assert_eq!(r[7], cmdline(pid), "{out}");
        assert_eq!(r[5], "?", "{out}");
        if pid != init as i64 && r[7] != "sleep 1003" {
            assert_eq!(r[2], init.to_string(), "PPID of {pid}\n{out}");
        }
    }

    // ps's own options, its own columns.
    let out = cx.rrun(&["top", "t1", "-o", "pid,comm"]);
    let rows = top_rows(&out, 2);
    assert_eq!(rows[0], ["PID", "COMMAND"], "{out}");
    assert_eq!(rows.len(), 5, "{out}");
    assert!(rows[1..].iter().all(|r| r[1] == "sleep"), "{out}");
    let out = cx.rrun(&["container", "top", "t1", "aux"]);
    let rows = top_rows(&out, 11);
    assert_eq!(
        rows[0],
        [
            "USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TTY", "STAT", "START", "TIME", "COMMAND"
        ],
        "{out}"
    );
    assert_eq!(rows.len(), 5, "{out}");
    // A pid of the host, not of the container: the header alone.
    let out = cx.rrun(&["top", "t1", "-p", "1"]);
    assert_eq!(top_rows(&out, 4), [["PID", "TTY", "TIME", "CMD"]], "{out}");
    exec.signal(libc::SIGKILL);
}

fn top_errors(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    if let Some(t) = missing_tool(&["ps"]) {
        return skip(&format!("no {t} on the host"));
    }
    detach(&cx, "t1", &["sleep", "1000"]);
    let stopped = detach(&cx, "st", &["true"]);
    cx.wait_exited("st");
    for (args, line) in [
        (
            &["top", "st"][..],
            format!("Container {stopped} is not running"),
        ),
        (&["top", "nosuch"], "No such container: nosuch".into()),
        (
            &["top", "t1", "-o", "comm"],
            "Couldn't find PID field in ps output".into(),
        ),
        (
            &["top", "t1", "-o", "pid="],
            "Couldn't find PID field in ps output".into(),
        ),
        (
            &["top", "t1", "-o", "user=PID"],
            "specifying \"user=PID\" is not allowed".into(),
        ),
        (
            &["top", "nosuch", "-o", "user=PID"],
            "specifying \"user=PID\" is not allowed".into(),
        ),
        (
            &["top", "t1", "-o", "comm=", "-o", "pid"],
            "Unexpected pid 'sleep': strconv.Atoi: parsing \"sleep\": invalid syntax".into(),
        ),
        (
            &["top", "t1", "--bogus"],
            "ps: error: unknown gnu long option".into(),
        ),
    ] {
        expect_fail(&cx.rrun(args), 1, &line);
    }
}

fn container_prune(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let question = "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ";
    cx.rrun(&["--name", "ex1", "--net", "none", cx.rootfs(), "true"])
        .ok();
    cx.rrun(&[
        "--name",
        "ex2",
        "--net",
        "none",
        cx.rootfs(),
        "sh",
        "-c",
        "exit 3",
    ])
    .expect_code(3);
    let up = detach(&cx, "up", &["sleep", "1000"]);
    let (ex1, ex2) = (
        cx.inspect_f("{{.Id}}", "ex1"),
        cx.inspect_f("{{.Id}}", "ex2"),
    );
    // No, an empty answer, no answer at all: nothing removed.
    for answer in [&b"n\n"[..], b"\n", b"yes\n", b""] {
        let out = cx.rrun_stdin(&["container", "prune"], answer);
        out.ok();
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            (question, ""),
            "{out}"
        );
        assert_eq!(cx.containers().len(), 3, "{out}");
    }
    let out = cx.rrun(&["container", "prune"]);
    assert_eq!(out.stdout, question, "{out}");
    assert_eq!(cx.containers().len(), 3, "stdin at /dev/null: no\n{out}");

    let out = cx.rrun_stdin(&["container", "prune"], b" Y\n");
    out.ok();
    assert_eq!(
        out.stdout,
        format!("{question}Deleted Containers:\n{ex2}\n{ex1}\n\nTotal reclaimed space: 0B\n"),
        "[{mode}] newest first, as Docker lists them\n{out}"
    );
    assert_eq!(cx.containers(), std::slice::from_ref(&up), "{out}");
    assert_eq!(names(&cx), BTreeMap::from([("up".into(), up.clone())]));
    // Their names are free; -f asks nothing.
    cx.rrun(&["--name", "ex1", "--net", "none", cx.rootfs(), "true"])
        .ok();
    let again = cx.inspect_f("{{.Id}}", "ex1");
    let out = cx.rrun(&["container", "prune", "-f"]);
    out.ok();
    assert_eq!(
        out.stdout,
        format!("Deleted Containers:\n{again}\n\nTotal reclaimed space: 0B\n"),
        "{out}"
    );
    let out = cx.rrun(&["container", "prune", "--force"]);
    out.ok();
    assert_eq!(out.stdout, "Total reclaimed space: 0B\n", "{out}");
    assert_eq!(cx.inspect_f("{{.State.Running}}", "up"), "true");
}

fn container_spelling(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = detach(&cx, "aa", &["sleep", "1000"]);
    let ids = |args: &[&str]| {
        let out = cx.rrun(args);
        out.ok();
        out.stdout
    };
    assert_eq!(
        ids(&["container", "ls", "-q", "--no-trunc"]),
        format!("{id}\n")
    );
    assert_eq!(
        ids(&["container", "ps", "-aq", "--no-trunc"]),
        format!("{id}\n")
    );
    assert_eq!(
        ids(&["container", "list", "-q", "--no-trunc"]),
        format!("{id}\n")
    );
    assert_eq!(
        ids(&["container", "inspect", "-f", "{{.Name}}", "aa"]),
        "/aa\n"
    );
    cx.rrun(&["container", "rename", "aa", "bb"]).ok();
    assert_eq!(ids(&["container", "exec", "bb", "echo", "hi"]), "hi\n");
    assert_eq!(ids(&["container", "rm", "-f", "bb"]), "bb\n");
    let out = cx.rrun(&[
        "container",
        "run",
        "--rm",
        "--net",
        "none",
        cx.rootfs(),
        "echo",
        "ran",
    ]);
    assert_eq!(out.stdout, "ran\n", "{out}");
    let usage = cx.rrun(&["container"]);
    usage.ok();
    assert!(
        usage.stdout.starts_with("Usage: rrun container COMMAND\n"),
        "{usage}"
    );
    for c in ["prune", "rename", "top", "ls", "rm"] {
        assert!(
            usage
                .lines()
                .iter()
                .any(|l| l.starts_with(&format!("  {c} "))),
            "{c}\n{usage}"
        );
    }
    let out = cx.rrun(&["container", "nope"]);
    out.expect_code(125);
    assert!(
        out.stderr
            .starts_with("rrun: unknown command: rrun container nope\n"),
        "{out}"
    );
    let out = cx.rrun(&["container", "prune", "extra"]);
    out.expect_code(125);
}

fn rm_of_many(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    const N: usize = 30;
    for _ in 0..N {
        cx.rrun(&["--net", "none", cx.rootfs(), "true"]).ok();
    }
    // Docker users' `rm $(ps -aq)`: short ids, each printed as given.
    let ps = cx.rrun(&["ps", "-aq"]);
    ps.ok();
    let short: Vec<&str> = ps.lines();
    assert_eq!(short.len(), N, "{ps}");
    let mut args = vec!["rm"];
    args.extend(&short);
    args.insert(2, "nosuch");
    let t = Instant::now();
    let out = cx.rrun(&args);
    let took = t.elapsed();
    out.expect_code(1);
    assert_eq!(out.lines(), short, "{out}");
    assert_eq!(out.stderr, "rrun: No such container: nosuch\n", "{out}");
    assert!(cx.containers().is_empty() && names(&cx).is_empty(), "{out}");
    eprintln!("[{mode}] rm of {N} exited containers: {took:?}");

    // rm -f of many running ones: they end together.
    let ids: Vec<String> = (0..N)
        .map(|_| cx.detach(&["--net", "none"], &["sleep", "1000"]))
        .collect();
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    let t = Instant::now();
    let out = cx.rrun(&args);
    let took = t.elapsed();
    out.ok();
    assert_eq!(out.lines(), ids, "{out}");
    eprintln!("[{mode}] rm -f of {N} running containers: {took:?}");
    cx.assert_nothing_left("rm -f of many");
}

/// This process's hard limit of `res` (rrun inherits it).
fn held_hard(res: libc::__rlimit_resource_t) -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a valid rlimit.
    assert_eq!(unsafe { libc::getrlimit(res, &mut l) }, 0);
    l.rlim_max
}

fn ulimit_applied_to_run_and_exec(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let out = cx.sh(
        &[
            "--net",
            "none",
            "--ulimit",
            "nofile=100:200",
            "--ulimit",
            "nofile=50",
        ],
        "ulimit -n; ulimit -Hn",
    );
    out.ok();
    assert_eq!(
        out.stdout, "50\n50\n",
        "[{mode}] the last --ulimit of a type wins\n{out}"
    );
    cx.detach(
        &[
            "--name",
            "ul1",
            "--net",
            "none",
            "--ulimit",
            "nproc=4000",
            "--ulimit",
            "nofile=300:400",
            "--ulimit",
            "core=0",
        ],
        &["sleep", "1000"],
    );
    assert_eq!(
        cx.inspect_f("{{json .HostConfig.Ulimits}}", "ul1"),
        r#"[{"Name":"core","Hard":0,"Soft":0},{"Name":"nofile","Hard":400,"Soft":300},{"Name":"nproc","Hard":4000,"Soft":4000}]"#
    );
    let v = cx.inspect_json("ul1");
    assert_eq!(v["HostConfig"]["Ulimits"][1]["Soft"], 300, "{v:#}");
    // exec gets the container's limits, as Docker's does.
    let out = cx.rrun(&[
        "exec",
        "ul1",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; ulimit -c; ulimit -u",
    ]);
    out.ok();
    assert_eq!(out.stdout, "300\n400\n0\n4000\n", "{out}");
    let pid = cx.inspect_f("{{.State.Pid}}", "ul1");
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    assert!(
        limits.lines().any(|l| l.starts_with("Max open files")
            && l.split_whitespace().skip(3).take(2).eq(["300", "400"])),
        "{limits}"
    );
    // None given: Docker's empty list.
    cx.detach(&["--name", "plain", "--net", "none"], &["sleep", "1000"]);
    assert_eq!(cx.inspect_f("{{json .HostConfig.Ulimits}}", "plain"), "[]");
}

fn ulimit_every_type(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // Docker's names, /proc/PID/limits's rows, and a value each that no
    // more than rrun holds, so that any user may set it.
    let types: [(&str, libc::__rlimit_resource_t, &str, u64); 15] = [
        ("core", libc::RLIMIT_CORE, "Max core file size", 4096),
        ("cpu", libc::RLIMIT_CPU, "Max cpu time", 1000),
        ("data", libc::RLIMIT_DATA, "Max data size", 1 << 30),
        ("fsize", libc::RLIMIT_FSIZE, "Max file size", 1 << 30),
        ("locks", libc::RLIMIT_LOCKS, "Max file locks", 100),
        ("memlock", libc::RLIMIT_MEMLOCK, "Max locked memory", 65536),
        ("msgqueue", libc::RLIMIT_MSGQUEUE, "Max msgqueue size", 1000),
        ("nice", libc::RLIMIT_NICE, "Max nice priority", 0),
        ("nofile", libc::RLIMIT_NOFILE, "Max open files", 1000),
        ("nproc", libc::RLIMIT_NPROC, "Max processes", 5000),
        ("rss", libc::RLIMIT_RSS, "Max resident set", 1 << 30),
        ("rtprio", libc::RLIMIT_RTPRIO, "Max realtime priority", 0),
        (
            "rttime",
            libc::RLIMIT_RTTIME,
            "Max realtime timeout",
            1_000_000,
        ),
        (
            "sigpending",
            libc::RLIMIT_SIGPENDING,
            "Max pending signals",
            100,
        ),
        ("stack", libc::RLIMIT_STACK, "Max stack size", 8 << 20),
    ];
    let mut opts = vec!["--net".to_string(), "none".to_string()];
    let mut want = BTreeMap::new();
    for (name, res, row, v) in types {
        let v = v.min(held_hard(res));
        opts.push("--ulimit".into());
        opts.push(format!("{name}={}:{v}", v / 2));
        want.insert(row, ((v / 2).to_string(), v.to_string()));
    }
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    let out = cx.sh(&opts, "cat /proc/self/limits");
    out.ok();
    for (row, (soft, hard)) in &want {
        let line = out
            .lines()
            .into_iter()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no {row} row\n{out}"));
        let vals: Vec<&str> = line[row.len()..].split_whitespace().take(2).collect();
        assert_eq!(vals, [soft.as_str(), hard.as_str()], "{row}\n{out}");
    }
    // -1 is unlimited (where rrun holds no limit of its own).
    if held_hard(libc::RLIMIT_FSIZE) == libc::RLIM_INFINITY {
        let out = cx.sh(
            &["--net", "none", "--ulimit", "fsize=-1"],
            "ulimit -f; ulimit -Hf",
        );
        assert_eq!(out.stdout, "unlimited\nunlimited\n", "{out}");
    }
}

fn ulimit_refused(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let docker =
        |arg: &str, why: &str| format!("invalid argument \"{arg}\" for \"--ulimit\" flag: {why}");
    for (arg, why) in [
        ("nofile", "invalid ulimit argument: nofile"),
        ("bogus=1", "invalid ulimit type: bogus"),
        ("NOFILE=10", "invalid ulimit type: NOFILE"),
        (
            "nofile=abc",
            "strconv.ParseInt: parsing \"abc\": invalid syntax",
        ),
        ("nofile=", "strconv.ParseInt: parsing \"\": invalid syntax"),
        (
            "nofile=1:2:3",
            "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`",
        ),
        (
            "nofile=200:100",
            "ulimit soft limit must be less than or equal to hard limit: 200 > 100",
        ),
        (
            "nofile=-1:1",
            "ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 1",
        ),
        (
            "nofile=-2",
            "a limit is -1 (unlimited) or a number from 0: -2",
        ),
    ] {
        let out = cx.rrun(&["--ulimit", arg, "--net", "none", cx.rootfs(), "true"]);
        out.expect_rrun_error();
        assert_eq!(out.stderr, format!("rrun: {}\n", docker(arg, why)), "{out}");
    }
    // A hard limit above rrun's own: only with CAP_SYS_RESOURCE (never
    // rootless).
    let have = held_hard(libc::RLIMIT_NOFILE);
    let nr_open: u64 = fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20);
    let may_raise = mode == Mode::Root
        && fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
            .is_some_and(|c| c & (1 << 24) != 0);
    if have < nr_open {
        let v = have + 1;
        let arg = format!("nofile={v}");
        let out = cx.sh(&["--net", "none", "--ulimit", &arg], "ulimit -Hn");
        if may_raise {
            out.ok();
            assert_eq!(out.stdout, format!("{v}\n"), "{out}");
        } else {
            out.expect_rrun_error();
            let rootless = if mode == Mode::Rootless {
                " (rootless: never; lower it, or raise the limit of the shell that runs rrun)"
            } else {
                ""
            };
            assert_eq!(
                out.stderr,
                format!(
                    "rrun: --ulimit nofile={v}: the hard limit {v} is above rrun's own ({have}), and only a process with CAP_SYS_RESOURCE may raise one{rootless}\n"
                ),
                "{out}"
            );
        }
    }
    let big = nr_open + 1;
    let out = cx.sh(
        &["--net", "none", "--ulimit", &format!("nofile={big}")],
        "true",
    );
    out.expect_rrun_error();
    assert!(
        out.stderr.contains("(fs.nr_open)") || out.stderr.contains("CAP_SYS_RESOURCE"),
        "{out}"
    );
    cx.assert_nothing_left("refused --ulimit values");
}
