//! `rrun exec`: a command inside a running container — its namespaces, root
//! and capability limits — with -e, -w, -u, -i, -t and the command's exit
//! code; refused for a stopped container.

#[macro_use]
mod common;

use common::*;
use std::fs;

both_modes!(
    exec_runs_inside,
    exec_exit_env_workdir_user,
    exec_stdin,
    exec_tty,
    exec_joins_namespaces,
    exec_capabilities,
    exec_stopped_container,
);

/// A container named db that runs `sleep 1000`; its pid on the host.
fn start_db(cx: &Ctx, opts: &[&str]) -> (String, i32) {
    let mut o = vec!["--name", "db", "-e", "FROM_RUN=yes"];
    o.extend_from_slice(opts);
    let id = cx.detach(&o, &["sleep", "1000"]);
    let pid = cx.inspect_f("{{.State.Pid}}", "db").parse().unwrap_or(0);
    assert!(pid > 0 && pid_alive(pid), "State.Pid {pid}");
    (id, pid)
}

fn exec_runs_inside(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let (id, pid) = start_db(&cx, &[]);
    let out = cx.rrun(&[
        "exec",
        "db",
        "sh",
        "-c",
        "echo $$; hostname; echo $FROM_RUN",
    ]);
    out.ok();
    let l = out.lines();
    assert_eq!(l.len(), 3, "{out}");
    let inner: i32 = l[0].parse().unwrap_or(0);
    assert!(
        inner > 1,
        "exec's command is in the container's pid namespace, not pid 1\n{out}"
    );
    assert_eq!(l[1], &id[..12], "the container's hostname\n{out}");
    assert_eq!(l[2], "yes", "the container's environment\n{out}");
    // The container's pid 1 is the one seen from inside.
    let out = cx.rrun(&["exec", "db", "cat", "/proc/1/cmdline"]);
    out.ok();
    assert_eq!(out.stdout, "sleep\x001000\x00", "{out}");
    // The same root: a file made by exec is in the container's root. (The
    // tests share one rootfs, whose /tmp is 1777: a name of this test's own.)
    let file = format!("/tmp/{}", unique_marker("exec"));
    cx.rrun(&["exec", "db", "sh", "-c", &format!("echo hello > {file}")])
        .ok();
    let seen = fs::read_to_string(format!("/proc/{pid}/root{file}"));
    cx.rrun(&["exec", "db", "rm", &file]).ok();
    assert_eq!(
        seen.unwrap_or_else(|e| e.to_string()),
        "hello\n",
        "[{mode}] the file exec wrote is in the container's root"
    );
    // Nothing of exec's is left in the container.
    let ns = fs::read_link(format!("/proc/{pid}/ns/pid")).expect("pid ns");
    let mut inside = Vec::new();
    let gone = poll_until(SETTLE, || {
        inside = procs_in_pid_ns(&ns);
        inside == [pid]
    });
    assert!(
        gone,
        "[{mode}] after exec, only the container's process is in its pid namespace: {inside:?}"
    );
}

/// Processes (not zombies) in the pid namespace `ns` (a readlink of
/// /proc/PID/ns/pid).
fn procs_in_pid_ns(ns: &std::path::Path) -> Vec<i32> {
    let mut v: Vec<i32> = fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|l| l == ns) && pid_alive(*p)
        })
        .collect();
    v.sort();
    v
}

fn exec_exit_env_workdir_user(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    start_db(&cx, &[]);
    cx.rrun(&["exec", "db", "sh", "-c", "exit 5"])
        .expect_code(5);
    cx.rrun(&["exec", "db", "false"]).expect_code(1);
    let out = cx.rrun(&[
        "exec",
        "-e",
        "X=1",
        "--env",
        "FROM_RUN=over",
        "db",
        "sh",
        "-c",
        "echo $X $FROM_RUN",
    ]);
    out.ok();
    assert_eq!(out.stdout, "1 over\n", "{out}");
    let out = cx.rrun(&["exec", "-w", "/tmp", "db", "pwd"]);
    out.ok();
    assert_eq!(out.stdout, "/tmp\n", "{out}");
    let out = cx.rrun(&["exec", "db", "pwd"]);
    out.ok();
    assert_eq!(out.stdout, "/\n", "{out}");
    let out = cx.rrun(&["exec", "-u", "1000", "db", "sh", "-c", "id -u; id -g"]);
    out.ok();
    assert_eq!(out.lines()[..1], ["1000"], "{out}");
    let out = cx.rrun(&["exec", "-u", "1000:1000", "db", "sh", "-c", "id -u; id -g"]);
    out.ok();
    assert_eq!(out.lines(), ["1000", "1000"], "{out}");
    let out = cx.rrun(&["exec", "db", "id", "-u"]);
    out.ok();
    assert_eq!(out.stdout, "0\n", "the container's user by default\n{out}");
    // A command that is not there.
    let out = cx.rrun(&["exec", "db", "/nonexistent"]);
    assert!(
        matches!(out.code(), Some(126 | 127)),
        "exec of a missing command: 126 or 127\n{out}"
    );
    assert!(out.stderr.starts_with("rrun: "), "{out}");
}

fn exec_stdin(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    start_db(&cx, &[]);
    let out = cx.rrun_stdin(&["exec", "-i", "db", "cat"], b"hello\nworld\n");
    out.ok();
    assert_eq!(out.stdout, "hello\nworld\n", "-i passes stdin\n{out}");
    let out = cx.rrun_stdin(&["exec", "-i", "db", "wc", "-c"], &[b'x'; 100_000]);
    out.ok();
    assert_eq!(out.stdout.trim(), "100000", "{out}");
    // Without -i the command gets no stdin, even though rrun's stays open.
    let out = cx.run(cx.cmd(&["exec", "db", "cat"]), Input::Open);
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
}

fn exec_tty(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    start_db(&cx, &[]);
    let mut p = cx.spawn_pty(
        cx.cmd(&[
            "exec",
            "-t",
            "db",
            "sh",
            "-c",
            "tty; stty size; echo TERM=$TERM; exit 3",
        ]),
        40,
        100,
    );
    let status = p.wait_exit();
    let out = p.wait();
    assert_eq!(status.code(), Some(3), "exit code through -t\n{out}");
    let l = out.lines();
    assert!(l.iter().any(|l| l.starts_with("/dev/pts/")), "{out}");
    assert!(
        l.contains(&"40 100"),
        "the pty has the caller's size\n{out}"
    );
    assert!(l.contains(&"TERM=xterm"), "{out}");

    // -it: what is typed reaches the command.
    let mut p = cx.spawn_pty(
        cx.cmd(&[
            "exec",
            "-it",
            "db",
            "sh",
            "-c",
            "echo ready; read l; echo got-$l",
        ]),
        24,
        80,
    );
    p.wait_line("ready");
    p.write_stdin(b"abc\r");
    p.wait_line("got-abc");
    let status = p.wait_exit();
    let out = p.wait();
    assert_eq!(status.code(), Some(0), "{out}");
}

fn ns_links(pid: &str) -> Vec<String> {
    ["mnt", "pid", "net", "uts", "ipc", "user"]
        .iter()
        .map(|n| {
            fs::read_link(format!("/proc/{pid}/ns/{n}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|e| format!("({n}: {e})"))
        })
        .collect()
}

const NS_SCRIPT: &str = "for n in mnt pid net uts ipc user; do readlink /proc/$0/ns/$n; done";

fn exec_joins_namespaces(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let (_, pid) = start_db(&cx, &[]);
    let host = ns_links(&pid.to_string());
    let me = ns_links("self");
    let out = cx.rrun(&["exec", "db", "sh", "-c", NS_SCRIPT, "self"]);
    out.ok();
    assert_eq!(
        out.lines(),
        host,
        "exec's namespaces (mnt pid net uts ipc user) are those of the container's process\n{out}"
    );
    let out = cx.rrun(&["exec", "db", "sh", "-c", NS_SCRIPT, "1"]);
    out.ok();
    assert_eq!(out.lines(), host, "seen from inside, pid 1's\n{out}");
    // And they are not the host's (the user namespace is the host's as root).
    for (i, n) in ["mnt", "pid", "net", "uts", "ipc"].iter().enumerate() {
        assert_ne!(host[i], me[i], "the container has its own {n} namespace");
    }
    if mode == Mode::Rootless {
        assert_ne!(host[5], me[5], "rootless: its own user namespace");
    }
}

fn hex_field(status: &str, key: &str) -> u64 {
    status_field(status, key)
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .unwrap_or_else(|| panic!("no {key} in\n{status}"))
}

fn exec_capabilities(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let net_raw = 1u64 << 13;
    let (_, pid) = start_db(&cx, &["--cap-drop", "NET_RAW"]);
    let theirs = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let bnd = hex_field(&theirs, "CapBnd");
    assert_eq!(bnd, DEFAULT_CAPS & !net_raw, "the container's CapBnd");
    let out = cx.rrun(&["exec", "db", "cat", "/proc/self/status"]);
    out.ok();
    assert_eq!(
        hex_field(&out.stdout, "CapBnd"),
        bnd,
        "CapBnd in exec\n{out}"
    );
    assert_eq!(
        hex_field(&out.stdout, "CapEff"),
        hex_field(&theirs, "CapEff"),
        "CapEff in exec\n{out}"
    );
    assert_eq!(status_field(&out.stdout, "NoNewPrivs"), Some("1"), "{out}");
    let out = cx.rrun(&["exec", "-u", "1000", "db", "cat", "/proc/self/status"]);
    out.ok();
    assert_eq!(hex_field(&out.stdout, "CapBnd"), bnd, "{out}");
    assert_eq!(hex_field(&out.stdout, "CapEff"), 0, "{out}");
}

fn exec_stopped_container(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx.detach(&["--name", "gone"], &["true"]);
    cx.wait_exited("gone");
    for key in ["gone", id.as_str()] {
        let out = cx.rrun(&["exec", key, "echo", "hi"]);
        assert_eq!(out.code(), Some(1), "Docker's exit code\n{out}");
        assert_eq!(out.stdout, "", "{out}");
        assert!(
            out.stderr_lines().len() == 1
                && out.stderr == format!("rrun: Container {id} is not running\n"),
            "one `rrun: ` line saying the container is not running\n{out}"
        );
    }
}
