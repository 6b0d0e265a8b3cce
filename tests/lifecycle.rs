//! Containers with names, state and a life of their own (issue 3): -d, ps,
//! ids, prefixes and names, name validation and races, logs and inspect.
//! exec is in lifecycle_exec.rs; stop, kill, wait, rm and "state never
//! lies" in lifecycle_stop.rs.
//!
//! Every test runs as root and rootless, in its own RRUN_ROOT; a
//! [`Cleanup`] guard removes its containers even when an assertion fails.

#[macro_use]
mod common;

use common::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

both_modes!(
    detach_returns_while_running,
    detach_start_errors,
    ps_table_quiet_all_format,
    id_prefix_or_name_everywhere,
    ambiguous_prefix,
    unknown_container,
    name_validation,
    generated_names,
    racing_same_name,
    parallel_distinct_names,
    logs_streams_timestamps_tail,
    logs_follow_ends_with_container,
    logs_follow_right_after_detach,
    logs_of_detached_tty,
    logs_of_foreground_container,
    foreground_output_to_a_closed_pipe,
    inspect_document,
    inspect_templates,
);

/// Shell script that says "ready", then waits for TERM (exit 0) and
/// reports USR1, for containers that commands act on.
const OBEDIENT: &str = "trap 'echo got-usr1' USR1; trap 'exit 0' TERM; echo ready; \
                        while :; do sleep 0.1; done";

fn detach_returns_while_running(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let t0 = Instant::now();
    let id = cx.detach(&["--name", "db"], &["httpd", "-f", "-p", "5432"]);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "[{mode}] rrun -d took {took:?} to return"
    );
    // It returned once the container really started: the recorded process
    // is alive and already runs httpd.
    let v = cx.inspect_json("db");
    assert_eq!(v["State"]["Running"], true, "{v:#}");
    let pid = v["State"]["Pid"].as_i64().unwrap_or(0) as i32;
    assert!(pid > 0 && pid_alive(pid), "State.Pid {pid} is alive\n{v:#}");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&cmdline),
        "httpd\x00-f\x00-p\x005432\x00",
        "[{mode}] when rrun -d returns, the container's process has exec'd its command"
    );
    assert_eq!(v["Id"], id.as_str());
}

fn detach_start_errors(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // A command that is not there: the same exit code and one line as a
    // foreground run (Docker: 127).
    let fg = cx.rrun(&[cx.rootfs(), "/nonexistent"]);
    let bg = cx.rrun(&["-d", cx.rootfs(), "/nonexistent"]);
    assert_eq!(fg.code(), Some(127), "{fg}");
    assert_eq!(
        bg.code(),
        fg.code(),
        "rrun -d reports a start error with the foreground's code\n{bg}"
    );
    assert!(
        bg.stderr_lines().len() == 1 && bg.stderr.starts_with("rrun: "),
        "one `rrun: ` line\n{bg}"
    );
    assert!(
        !bg.stdout.lines().any(|l| is_hex(l, 64)),
        "no id printed for a container that did not start\n{bg}"
    );
    // rrun's own failures: 125.
    cx.rrun(&["-d", "-u", "nosuchuser", cx.rootfs(), "true"])
        .expect_rrun_error();
    let ps = cx.rrun(&["ps", "-q"]);
    ps.ok();
    assert_eq!(ps.stdout, "", "nothing runs after failed starts\n{ps}");
}

fn ps_table_quiet_all_format(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx.detach(&["--name", "db"], &["httpd", "-f", "-p", "5432"]);
    let done = cx.detach(&["--name", "done"], &["sh", "-c", "exit 3"]);
    cx.wait_exited("done");

    let out = cx.rrun(&["ps"]);
    out.ok();
    let (cols, rows) = ps_table(&out.stdout);
    assert_eq!(
        cols,
        [
            "CONTAINER ID",
            "ROOTFS",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ],
        "ps's header\n{out}"
    );
    assert_eq!(rows.len(), 1, "ps shows the running container only\n{out}");
    let r = &rows[0];
    assert_eq!(r["CONTAINER ID"], id[..12], "{out}");
    assert_eq!(r["ROOTFS"], cx.rootfs(), "{out}");
    assert_eq!(r["COMMAND"], "\"httpd -f -p 5432\"", "{out}");
    assert!(
        r["CREATED"]
            .strip_suffix(" ago")
            .is_some_and(is_human_duration),
        "CREATED {:?}\n{out}",
        r["CREATED"]
    );
    assert!(
        is_up_status(&r["STATUS"]),
        "STATUS {:?}\n{out}",
        r["STATUS"]
    );
    assert_eq!(r["PORTS"], "", "{out}");
    assert_eq!(r["NAMES"], "db", "{out}");

    let out = cx.rrun(&["ps", "-q"]);
    out.ok();
    assert_eq!(out.stdout, format!("{}\n", &id[..12]), "ps -q\n{out}");
    let out = cx.rrun(&["ps", "-q", "--no-trunc"]);
    out.ok();
    assert_eq!(out.stdout, format!("{id}\n"), "ps -q --no-trunc\n{out}");

    let out = cx.rrun(&["ps", "-a"]);
    out.ok();
    let (_, rows) = ps_table(&out.stdout);
    assert_eq!(rows.len(), 2, "ps -a shows both\n{out}");
    let ex = rows
        .iter()
        .find(|r| r["NAMES"] == "done")
        .unwrap_or_else(|| panic!("ps -a shows the exited container\n{out}"));
    assert_eq!(ex["CONTAINER ID"], done[..12], "{out}");
    assert!(
        is_exited_status(&ex["STATUS"], 3),
        "STATUS {:?}\n{out}",
        ex["STATUS"]
    );
    let ids: BTreeSet<String> = cx
        .rrun(&["ps", "-aq", "--no-trunc"])
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ids, BTreeSet::from([id.clone(), done.clone()]), "ps -aq");

    let out = cx.rrun(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    out.ok();
    let l = out.lines();
    assert!(
        l.len() == 1 && l[0].strip_prefix("db ").is_some_and(is_up_status),
        "ps --format\n{out}"
    );
    let out = cx.rrun(&["ps", "-a", "--format", "{{.ID}}|{{.Names}}|{{.Command}}"]);
    out.ok();
    let got: BTreeSet<&str> = out.lines().into_iter().collect();
    let want_db = format!("{}|db|\"httpd -f -p 5432\"", &id[..12]);
    // moby quotes an argument holding a space: "sh -c 'exit 3'".
    let want_done = format!("{}|done|\"sh -c 'exit 3'\"", &done[..12]);
    assert_eq!(
        got,
        BTreeSet::from([want_db.as_str(), want_done.as_str()]),
        "ps -a --format with ID, Names and Command\n{out}"
    );

    // Docker's `table` prefix: a header, columns at least 10 wide and 3
    // apart; `\t` written out is a tab.
    let out = cx.rrun(&["ps", "--format", "table {{.Ports}}\\t{{.Names}}"]);
    out.ok();
    assert_eq!(out.stdout, "PORTS     NAMES\n          db\n", "{out}");
    let out = cx.rrun(&["ps", "--format", "{{.Names}}\\t{{.State}}"]);
    out.ok();
    assert_eq!(out.stdout, "db\trunning\n", "{out}");
    let out = cx.rrun(&["ps", "--format", "table"]);
    out.ok();
    assert_eq!(
        ps_table(&out.stdout).1.len(),
        1,
        "`--format table` is the default table\n{out}"
    );
}

/// The shortest prefix of `id` that no other id in `all` shares.
fn unique_prefix(id: &str, all: &[String]) -> String {
    (1..=id.len())
        .map(|n| &id[..n])
        .find(|p| all.iter().filter(|o| o.starts_with(p)).count() == 1)
        .unwrap_or(id)
        .to_string()
}

fn id_prefix_or_name_everywhere(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let ids: Vec<String> = ["c1", "c2", "c3"]
        .iter()
        .map(|n| cx.detach(&["--name", n], &["sh", "-c", OBEDIENT]))
        .collect();
    let keys = [
        ("the full id", ids[0].clone()),
        ("a unique prefix", unique_prefix(&ids[1], &ids)),
        ("the name", "c3".to_string()),
    ];
    for ((how, key), id) in keys.iter().zip(&ids) {
        let ctx = format!("[{mode}] {how} {key:?} for {id}");
        assert_eq!(cx.inspect_f("{{.Id}}", key), *id, "inspect by {ctx}");
        cx.wait_logs(key, "ready");
        let out = cx.rrun(&["exec", key, "echo", "hi"]);
        out.ok();
        assert_eq!(out.stdout, "hi\n", "exec by {ctx}\n{out}");
        let out = cx.rrun(&["kill", "-s", "USR1", key]);
        out.ok();
        assert_eq!(out.stdout, format!("{key}\n"), "kill by {ctx}\n{out}");
        cx.wait_logs(key, "got-usr1");
        let out = cx.rrun(&["stop", key]);
        out.ok();
        assert_eq!(out.stdout, format!("{key}\n"), "stop by {ctx}\n{out}");
        let out = cx.rrun(&["wait", key]);
        out.ok();
        assert_eq!(out.stdout, "0\n", "wait by {ctx}\n{out}");
        let out = cx.rrun(&["rm", key]);
        out.ok();
        assert_eq!(out.stdout, format!("{key}\n"), "rm by {ctx}\n{out}");
        assert!(
            !cx.containers().contains(id),
            "rm by {ctx} removed its directory"
        );
    }
}

fn ambiguous_prefix(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // Make containers until two ids share their first hex digit (at most 17).
    let mut ids: Vec<String> = Vec::new();
    let prefix = loop {
        let out = cx.rrun(&["--net=none", cx.rootfs(), "true"]);
        out.ok();
        let fresh: Vec<String> = cx
            .containers()
            .into_iter()
            .filter(|c| !ids.contains(c))
            .collect();
        assert_eq!(fresh.len(), 1, "one new container directory\n{out}");
        let new = fresh[0].clone();
        let p = new[..1].to_string();
        let shared = ids.iter().any(|o| o.starts_with(&p));
        ids.push(new);
        if shared {
            break p;
        }
        assert!(ids.len() <= 16, "17 ids cannot have distinct first digits");
    };
    let cmds: [&[&str]; 7] = [
        &["logs"],
        &["inspect"],
        &["stop"],
        &["kill"],
        &["wait"],
        &["rm", "-f"],
        &["exec"],
    ];
    for c in cmds {
        let mut args: Vec<&str> = c.to_vec();
        args.push(&prefix);
        if c[0] == "exec" {
            args.push("true");
        }
        let out = cx.rrun(&args);
        assert_eq!(
            out.code(),
            Some(1),
            "{:?} with an ambiguous prefix\n{out}",
            c
        );
        let e = out.stderr.to_lowercase();
        assert!(
            out.stderr_lines().len() == 1
                && out.stderr.starts_with("rrun: ")
                && out.stderr.contains(&prefix)
                && (e.contains("multiple") || e.contains("ambiguous")),
            "one `rrun: ` line that names the prefix and says it matches several\n{out}"
        );
    }
    assert_eq!(
        cx.containers().len(),
        ids.len(),
        "rm -f with an ambiguous prefix removed nothing"
    );
    // A longer, unique prefix of one of them works.
    let unique = unique_prefix(&ids[ids.len() - 1], &ids);
    assert!(unique.len() > 1);
    assert_eq!(cx.inspect_f("{{.Id}}", &unique), ids[ids.len() - 1]);
}

fn unknown_container(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx.detach(&["--name", "db"], &["sleep", "1000"]);
    // A hex prefix that matches nothing, and a full id that is not there.
    let other = if id.starts_with('f') { "e" } else { "f" };
    let absent = format!("{other}{}", &id[1..]);
    for key in ["nosuch", other, absent.as_str()] {
        for c in [
            &["logs"][..],
            &["inspect"],
            &["stop"],
            &["kill"],
            &["rm"],
            &["rm", "-f"],
            &["wait"],
            &["exec"],
        ] {
            let mut args: Vec<&str> = c.to_vec();
            args.push(key);
            if c[0] == "exec" {
                args.push("true");
            }
            let out = cx.rrun(&args);
            // As Docker 20.10: rm -f says so, and is no failure.
            let code = if c == ["rm", "-f"] { 0 } else { 1 };
            assert_eq!(out.code(), Some(code), "{c:?} {key}\n{out}");
            assert_eq!(
                out.stderr,
                format!("rrun: No such container: {key}\n"),
                "{c:?} {key}\n{out}"
            );
        }
    }
    // Several at once: the known one is acted on, the unknown one reported
    // (with -f, no failure).
    let out = cx.rrun(&["rm", "-f", "nosuch", "db"]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "db\n", "{out}");
    assert_eq!(out.stderr, "rrun: No such container: nosuch\n", "{out}");
    assert!(cx.containers().is_empty(), "db was removed\n{out}");
}

fn name_validation(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let out = cx.rrun(&["--name", "bad name", cx.rootfs(), "true"]);
    out.expect_rrun_error();
    assert_eq!(
        out.stderr,
        "rrun: Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n",
        "{out}"
    );
    // One character is not a name either (Docker's `[…]+`).
    for bad in ["_x", ".x", "-x", "a/b", "é", "a b", "a", "/a", "1"] {
        let flag = format!("--name={bad}");
        let out = cx.rrun(&["-d", &flag, cx.rootfs(), "true"]);
        out.expect_rrun_error();
        assert!(
            out.stderr.contains("Invalid container name"),
            "{bad:?} is refused as a name\n{out}"
        );
    }
    let long = "a".repeat(129);
    cx.rrun(&["--name", &long, cx.rootfs(), "true"])
        .expect_rrun_error();
    assert!(cx.containers().is_empty(), "refused names leave nothing");
    // 128 characters and every allowed character are fine.
    let ok128 = "b".repeat(128);
    cx.rrun(&["--name", &ok128, cx.rootfs(), "true"]).ok();
    cx.rrun(&["--name", "A9_.-z", cx.rootfs(), "true"]).ok();

    let id = cx.detach(&["--name", "db"], &["sleep", "1000"]);
    for args in [
        vec!["--name", "db", cx.rootfs(), "true"],
        vec!["-d", "--name", "db", cx.rootfs(), "true"],
    ] {
        let out = cx.rrun(&args);
        out.expect_rrun_error();
        assert!(
            out.stderr
                .contains(&format!("is already in use by container {id}"))
                && out.stderr.contains("rrun rm"),
            "a taken name names its container and says to remove it\n{out}"
        );
    }
    assert_eq!(
        cx.containers().len(),
        3,
        "the refused starts left nothing: {:?}",
        cx.containers()
    );
    // Once removed, the name is free again.
    cx.rrun(&["rm", "-f", "db"]).ok();
    cx.detach(&["--name", "db"], &["true"]);
}

fn generated_names(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    for _ in 0..3 {
        cx.rrun(&[cx.rootfs(), "true"]).ok();
    }
    cx.detach(&[], &["true"]);
    let out = cx.rrun(&["ps", "-a", "--format", "{{.Names}}"]);
    out.ok();
    let names = out.lines();
    assert_eq!(names.len(), 4, "{out}");
    for n in &names {
        let ok = n.split_once('_').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_lowercase())
                && b.bytes().all(|c| c.is_ascii_lowercase())
        });
        assert!(ok, "generated name {n:?} is adjective_surname\n{out}");
        assert_eq!(cx.inspect_f("{{.Name}}", n), format!("/{n}"));
    }
    let distinct: BTreeSet<&&str> = names.iter().collect();
    assert_eq!(distinct.len(), names.len(), "names are distinct\n{out}");
}

/// 50 starts race for one name: exactly one wins; the others fail with
/// "already in use" (never a lock error), leaving nothing behind.
fn racing_same_name(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    const N: usize = 50;
    let procs: Vec<Proc> = (0..N)
        .map(|_| {
            cx.spawn(
                cx.cmd(&["-d", "--name", "same", cx.rootfs(), "sleep", "30"]),
                Input::Null,
            )
        })
        .collect();
    let outs: Vec<Output> = procs.into_iter().map(Proc::wait).collect();
    let won: Vec<&Output> = outs.iter().filter(|o| o.code() == Some(0)).collect();
    let all = outs
        .iter()
        .map(|o| o.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(won.len(), 1, "exactly one of {N} racing starts wins\n{all}");
    for o in outs.iter().filter(|o| o.code() != Some(0)) {
        o.expect_rrun_error();
        assert!(o.stderr.contains("is already in use"), "{o}");
    }
    let id = won[0].stdout.trim();
    assert!(is_hex(id, 64), "{}", won[0]);
    let ps = cx.rrun(&["ps", "-a", "-q", "--no-trunc"]);
    ps.ok();
    assert_eq!(
        ps.stdout,
        format!("{id}\n"),
        "ps -a shows one container\n{ps}"
    );
    assert_eq!(cx.containers(), [id.to_string()], "one container directory");
    assert_eq!(cx.inspect_f("{{.State.Running}}", "same"), "true");
}

/// 50 detached starts at once on the bridge (both modes), each with its
/// own name and published port: all start, each gets an address of its
/// own and its port, and no start reports a lock error.
fn parallel_distinct_names(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    const N: u16 = 50;
    // No network yet: the first starts also race to make the bridge (and,
    // rootless, the holder and pasta).
    let names: Vec<String> = (0..N).map(|i| format!("p{i}")).collect();
    let ports: Vec<String> = (0..N).map(|i| format!("{}:80", 20000 + i)).collect();
    let t0 = Instant::now();
    let procs: Vec<Proc> = names
        .iter()
        .zip(&ports)
        .map(|(n, p)| {
            cx.spawn(
                cx.cmd(&[
                    "-d",
                    "--net=bridge",
                    "--name",
                    n,
                    "-p",
                    p,
                    cx.rootfs(),
                    "sleep",
                    "30",
                ]),
                Input::Null,
            )
        })
        .collect();
    for o in procs.into_iter().map(Proc::wait) {
        assert!(
            o.code() == Some(0) && is_hex(o.stdout.trim(), 64) && o.stderr.is_empty(),
            "every one of {N} parallel starts works, quietly\n{o}"
        );
    }
    let took = t0.elapsed();
    let out = cx.rrun(&["ps", "--format", "{{.Names}}"]);
    out.ok();
    let running: BTreeSet<String> = out.lines().into_iter().map(str::to_string).collect();
    assert_eq!(
        running,
        names.iter().cloned().collect::<BTreeSet<_>>(),
        "all {N} are running ({took:?} to start them)\n{out}"
    );
    let mut addrs = BTreeSet::new();
    for (i, n) in names.iter().enumerate() {
        let ip = cx.inspect_f("{{.NetworkSettings.IPAddress}}", n);
        assert!(
            ip.parse::<std::net::Ipv4Addr>().is_ok(),
            "{n} has an address: {ip:?}"
        );
        assert!(
            addrs.insert(ip.clone()),
            "{n}'s address {ip} is taken twice"
        );
        let port = cx.rrun(&["port", n, "80"]);
        port.ok();
        assert_eq!(port.stdout, format!("0.0.0.0:{}\n", 20000 + i), "{port}");
    }
}

fn logs_streams_timestamps_tail(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(
        &["--name", "ss"],
        &["sh", "-c", "echo out; echo err >&2; sleep 30"],
    );
    // The two streams are written by different pipes: wait for both.
    cx.wait_logs("ss", "out");
    let out = cx.wait_logs("ss", "err");
    out.ok();
    assert_eq!(out.stdout, "out\n", "stdout to stdout\n{out}");
    assert_eq!(out.stderr, "err\n", "stderr to stderr\n{out}");

    let out = cx.rrun(&["logs", "-t", "ss"]);
    out.ok();
    for (text, want) in [(&out.stdout, " out"), (&out.stderr, " err")] {
        let l: Vec<&str> = text.lines().collect();
        assert!(
            l.len() == 1 && strip_rfc3339_nanos(l[0]) == Some(want),
            "-t prefixes an RFC 3339 time with nanoseconds\n{out}"
        );
    }

    let id = cx.detach(
        &[],
        &["sh", "-c", "for i in 1 2 3 4 5; do echo l$i; done; exit 0"],
    );
    cx.wait_exited(&id);
    let logs = |args: &[&str]| cx.logs(args, &id).stdout;
    assert_eq!(logs(&[]), "l1\nl2\nl3\nl4\nl5\n");
    assert_eq!(logs(&["--tail", "2"]), "l4\nl5\n");
    assert_eq!(logs(&["--tail", "0"]), "");
    assert_eq!(logs(&["--tail", "all"]), "l1\nl2\nl3\nl4\nl5\n");
    assert_eq!(logs(&["--tail", "99"]), "l1\nl2\nl3\nl4\nl5\n");
    let two = logs(&["-t", "--tail", "2"]);
    let rest: Vec<Option<&str>> = two.lines().map(strip_rfc3339_nanos).collect();
    assert_eq!(rest, [Some(" l4"), Some(" l5")], "{two}");

    let out = cx.rrun(&["logs", "--tail", "abc", &id]);
    out.expect_rrun_error();
    assert_eq!(out.stdout, "", "{out}");
}

fn logs_follow_ends_with_container(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // The container waits for a file that the test makes on the host once
    // `logs -f` has shown the first lines: what follows can only come from
    // following.
    let dir = cx.host_dir("trigger");
    let vol = format!("{}:/trigger", dir.display());
    let id = cx.detach(
        &["-v", &vol],
        &[
            "sh",
            "-c",
            "echo a1; echo a2; while [ ! -e /trigger/go ]; do sleep 0.05; done; \
             echo b1; echo b2 >&2; echo b3; exit 0",
        ],
    );
    let mut p = cx.spawn(cx.cmd(&["logs", "-f", &id]), Input::Null);
    p.wait_line("a2");
    if p.exited().is_some() {
        p.fail("logs -f ended while the container was still running");
    }
    std::fs::write(dir.join("go"), "").expect("writing the trigger");
    // It ends by itself (the harness's deadline fails the test if not).
    let out = p.wait();
    out.ok();
    assert_eq!(out.stdout, "a1\na2\nb1\nb3\n", "{out}");
    assert_eq!(out.stderr, "b2\n", "{out}");

    // On a container that has exited, -f returns at once. (Which of b2 and
    // b3 came last is up to the kernel: they went through two pipes.)
    let out = cx.rrun(&["logs", "-f", "--tail", "2", &id]);
    out.ok();
    assert_eq!(
        out.stdout.lines().count() + out.stderr.lines().count(),
        2,
        "--tail 2 counts both streams\n{out}"
    );
}

fn logs_follow_right_after_detach(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // `rrun -d … && rrun logs -f …`: the log can be followed as soon as -d
    // returns, before the container has written anything.
    for i in 0..5 {
        let id = cx.detach(&[], &["sleep", "1000"]);
        let mut p = cx.spawn(cx.cmd(&["logs", "-f", &id]), Input::Null);
        cx.rrun(&["exec", &id, "sh", "-c", "echo hello > /proc/1/fd/1"])
            .ok();
        p.wait_line("hello");
        cx.rrun(&["kill", &id]).ok();
        let out = p.wait();
        assert!(
            out.code() == Some(0) && out.stdout == "hello\n" && out.stderr.is_empty(),
            "[{mode}] run {i}: logs -f started right after -d\n{out}"
        );
    }
}

fn logs_of_detached_tty(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx.detach(&["-t"], &["sh", "-c", "tty; echo done"]);
    cx.wait_exited(&id);
    let out = cx.rrun(&["logs", &id]);
    out.ok();
    let l = out.lines();
    assert!(
        l.iter().any(|l| l.starts_with("/dev/pts/")) && l.contains(&"done"),
        "-t with -d: the command has a pty and its output is logged\n{out}"
    );
    assert_eq!(cx.inspect_f("{{.Config.Tty}}", &id), "true");
}

fn inspect_document(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx.detach(
        &["--name", "db", "-e", "PG_VERSION=9.3", "--net=none"],
        &["httpd", "-f", "-p", "5432"],
    );
    let v = cx.inspect_json("db");
    assert_eq!(v["Id"], id.as_str(), "{v:#}");
    assert_eq!(v["Name"], "/db", "{v:#}");
    assert_eq!(v["Path"], "httpd", "{v:#}");
    assert_eq!(v["Args"], serde_json::json!(["-f", "-p", "5432"]), "{v:#}");
    assert!(
        v["Created"].as_str().and_then(strip_rfc3339_nanos) == Some(""),
        "Created is RFC 3339 with nanoseconds\n{v:#}"
    );
    let s = &v["State"];
    assert_eq!(s["Status"], "running", "{v:#}");
    assert_eq!(s["Running"], true, "{v:#}");
    let pid = s["Pid"].as_i64().unwrap_or(0);
    assert!(pid > 0 && pid_alive(pid as i32), "State.Pid\n{v:#}");
    assert_eq!(s["ExitCode"], 0, "{v:#}");
    assert!(
        s["StartedAt"].as_str().and_then(strip_rfc3339_nanos) == Some(""),
        "{v:#}"
    );
    assert_eq!(s["FinishedAt"], "0001-01-01T00:00:00Z", "{v:#}");
    let env: Vec<&str> = v["Config"]["Env"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e.as_str()).collect())
        .unwrap_or_default();
    assert!(env.contains(&"PG_VERSION=9.3"), "Config.Env\n{v:#}");
    // Docker's Config.Env for an image without ENV: what the user set.
    assert!(
        !env.iter().any(|e| e.starts_with("PATH=")),
        "Config.Env has no PATH\n{v:#}"
    );
    assert_eq!(
        v["Config"]["Cmd"],
        serde_json::json!(["httpd", "-f", "-p", "5432"]),
        "{v:#}"
    );
    assert_eq!(v["Config"]["Hostname"], &id[..12], "{v:#}");
    assert_eq!(v["HostConfig"]["NetworkMode"], "none", "{v:#}");
    assert_eq!(v["Rootfs"], cx.rootfs(), "{v:#}");
    assert!(v["NetworkSettings"].is_object(), "{v:#}");

    // A rootfs given relative to the caller's directory (rrun runs in the
    // test directory, which holds `rootfs`): shown as given, like Docker's
    // image name, and Rootfs is where it is.
    let out = cx.rrun(&[
        "-d",
        "--net=none",
        "--name",
        "rel",
        "rootfs",
        "sleep",
        "1000",
    ]);
    out.ok();
    assert_eq!(
        cx.inspect_f("{{.Config.Image}}|{{.Rootfs}}", "rel"),
        format!("rootfs|{}", cx.rootfs())
    );
    let out = cx.rrun(&["ps", "--format", "{{.Names}} {{.Rootfs}}"]);
    assert!(out.lines().contains(&"rel rootfs"), "{out}");

    // The default network mode: bridge, rootless too.
    let other = cx.detach(&[], &["sleep", "1000"]);
    assert_eq!(
        cx.inspect_f("{{.HostConfig.NetworkMode}}", &other),
        "bridge"
    );

    // Several at once: one array, in the order asked.
    let out = cx.rrun(&["inspect", &other, "db"]);
    out.ok();
    let a: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(a[0]["Id"], other.as_str(), "{out}");
    assert_eq!(a[1]["Id"], id.as_str(), "{out}");
    assert_eq!(a.as_array().map(Vec::len), Some(2), "{out}");
    // With an unknown one: the others are printed, the unknown reported.
    let out = cx.rrun(&["inspect", "db", "nosuch"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(out.stderr, "rrun: No such container: nosuch\n", "{out}");
    let a: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(a.as_array().map(Vec::len), Some(1), "{out}");

    // After it stops: not running, no pid, the exit code and a finish time.
    cx.rrun(&["kill", "db"]).ok();
    cx.wait_exited("db");
    let v = cx.inspect_json("db");
    let s = &v["State"];
    assert_eq!(s["Running"], false, "{v:#}");
    assert_eq!(s["Pid"], 0, "{v:#}");
    assert_eq!(s["ExitCode"], 137, "{v:#}");
    assert!(
        s["FinishedAt"].as_str().and_then(strip_rfc3339_nanos) == Some(""),
        "{v:#}"
    );
}

fn inspect_templates(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(&["--name", "db"], &["httpd", "-f", "-p", "5432"]);
    let pid = cx.inspect_json("db")["State"]["Pid"].as_i64().unwrap_or(0);
    assert!(pid > 0);
    let out = cx.rrun(&["inspect", "-f", "{{.State.Pid}} {{.Name}}", "db"]);
    out.ok();
    assert_eq!(out.stdout, format!("{pid} /db\n"), "{out}");
    let out = cx.rrun(&["inspect", "--format", "{{json .Config.Cmd}}", "db"]);
    out.ok();
    assert_eq!(out.stdout, "[\"httpd\",\"-f\",\"-p\",\"5432\"]\n", "{out}");
    let out = cx.rrun(&["inspect", "-f", "{{range .Args}}<{{.}}>{{end}}", "db"]);
    out.ok();
    assert_eq!(out.stdout, "<-f><-p><5432>\n", "{out}");

    let out = cx.rrun(&["inspect", "-f", "{{.Nope}}", "db"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr.starts_with("rrun: ")
            && out.stderr.contains("map has no entry for key \"Nope\""),
        "{out}"
    );
    for bad in ["{{.Name", "x {{if}} y", "{{.Name}}\n{{end}}"] {
        let out = cx.rrun(&["inspect", "-f", bad, "db"]);
        // Docker's CLI: "Template parsing error: …", exit 64.
        assert_eq!(out.code(), Some(64), "a syntax error in {bad:?}\n{out}");
        assert!(
            out.stderr_lines().len() == 1
                && out
                    .stderr
                    .starts_with("rrun: Template parsing error: template: ")
                && has_line_col(&out.stderr),
            "one `rrun: ` line with the position (line:col) of the error in {bad:?}\n{out}"
        );
        assert_eq!(out.stdout, "", "{out}");
    }
    let out = cx.rrun(&["ps", "--format", "{{.Nope"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(has_line_col(&out.stderr), "{out}");
}

/// Whether `s` contains `:N:M` (a template error's line:col).
fn has_line_col(s: &str) -> bool {
    s.split(':').collect::<Vec<_>>().windows(3).any(|w| {
        !w[1].is_empty()
            && !w[2].is_empty()
            && w[1].bytes().all(|b| b.is_ascii_digit())
            && w[2].bytes().all(|b| b.is_ascii_digit())
    })
}

/// A foreground container's output reaches the caller, streams apart, and
/// is logged as Docker logs an attached container's: `logs` shows it while
/// it runs and after it exits. As in Docker, its stdout is a pipe, not the
/// caller's terminal, unless -t.
fn logs_of_foreground_container(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let out = cx.rrun(&cx.sh_args_keep(
        &["--name", "fg", "--net=none"],
        "echo out; echo err >&2; [ -t 1 ] || echo notty",
    ));
    out.ok();
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("out\nnotty\n", "err\n"),
        "{out}"
    );
    let logs = cx.rrun(&["logs", "fg"]);
    logs.ok();
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("out\nnotty\n", "err\n"),
        "logs of an exited foreground container\n{logs}"
    );
    assert!(
        cx.inspect_f("{{.LogPath}}", "fg").ends_with("/log.jsonl"),
        "LogPath"
    );

    // While it runs, from another command.
    let args = cx.sh_args_keep(
        &["--name", "fg2", "--net=none"],
        "echo ready; while :; do sleep 0.1; done",
    );
    let mut p = cx.spawn(cx.cmd(&args), Input::Null);
    p.wait_line("ready");
    let logs = cx.wait_logs("fg2", "ready");
    assert_eq!(logs.stdout, "ready\n", "{logs}");
    cx.rrun(&["rm", "-f", "fg2"]).ok();
    p.wait().expect_code(137);

    // A run that prints nothing writes no log file.
    let quiet = cx.rrun(&cx.sh_args_keep(&["--name", "quiet", "--net=none"], "true"));
    quiet.ok();
    let path = cx.inspect_f("{{.LogPath}}", "quiet");
    assert!(
        !std::path::Path::new(&path).exists(),
        "no output, no {path}"
    );
    let logs = cx.rrun(&["logs", "quiet"]);
    logs.ok();
    assert_eq!(logs.stdout, "", "{logs}");
}

/// When the reader of rrun's stdout goes away (`rrun … yes | head -1`),
/// the container's next write fails as if it wrote there itself: under
/// --init, yes dies of SIGPIPE and rrun reports 141; it does not run on.
/// Kept containers' output passes through rrun (to be logged), --rm ones'
/// does not: both ways.
fn foreground_output_to_a_closed_pipe(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    for opts in [&["--rm"][..], &["--name", "kept"][..]] {
        let mut args = opts.to_vec();
        args.extend(["--net=none", "--init", cx.rootfs(), "yes"]);
        let mut c = cx.cmd(&args);
        c.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let mut child = c.spawn().expect("spawning rrun");
        let mut first = [0u8; 2];
        let mut out = child.stdout.take().expect("rrun's stdout");
        std::io::Read::read_exact(&mut out, &mut first).expect("yes's first line");
        assert_eq!(&first, b"y\n");
        drop(out);
        let mut status = None;
        let ended = poll_until(TIMEOUT, || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        if !ended {
            let _ = child.kill();
            let _ = child.wait();
            panic!("[{mode}] {opts:?}: rrun ran on after its stdout's reader went away");
        }
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(141),
            "{opts:?}: 128 + SIGPIPE"
        );
    }
    cx.rrun(&["rm", "kept"]).ok();
    cx.assert_nothing_left("a closed stdout");
}
