//! Exit codes (the command's, 125, 126, 127, 128+N) and bad input: one
//! stderr line starting `rrun: `, exit 125, nothing left behind.

#[macro_use]
mod common;

use common::*;
use std::fs;

both_modes!(
    command_exit_codes,
    killed_by_signal,
    command_not_found_or_not_executable,
    missing_rootfs,
    unknown_flag_prints_usage,
    bad_input_is_refused,
    bad_env_file_is_refused,
    user_outside_the_map,
);

fn command_exit_codes(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    cx.rrun(&["--rm", cx.rootfs(), "/bin/true"]).ok();
    cx.rrun(&["--rm", cx.rootfs(), "/bin/false"]).expect_code(1);
    cx.sh(&[], "exit 7").expect_code(7);
    cx.sh(&[], "exit 255").expect_code(255);
    // run is implied, but may be written.
    cx.rrun(&["run", "--rm", cx.rootfs(), "/bin/true"]).ok();
    cx.assert_nothing_left("plain exits");
}

fn killed_by_signal(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    // pid 1 cannot be killed by SIGKILL from inside its own pid namespace, so
    // the command kills itself under --init ...
    cx.sh(&["--init"], "kill -9 $$").expect_code(137);
    cx.sh(&["--init"], "kill -USR1 $$")
        .expect_code(128 + libc::SIGUSR1);
    // ... and a plain pid 1 is killed from the host.
    let marker = unique_marker("kill9");
    let args = cx.sh_args(&[], &format!("echo ready; sleep 30; : {marker}"));
    let mut p = cx.spawn(cx.cmd(&args), Input::Null);
    p.wait_line("ready");
    let rrun_pid = p.pid();
    // The container's pid 1 (a child that sh forked for sleep may briefly
    // carry the same command line).
    let found: Vec<i32> = procs_with_cmdline(&marker)
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|&pid| pid != rrun_pid && ns_pid(pid) == Some(1))
        .collect();
    if found.len() != 1 {
        p.fail(&format!(
            "expected exactly one process with {marker} in its command line that is pid 1 in \
             its namespace, found {found:?}"
        ));
    }
    // SAFETY: SIGKILL to the container's main process, found just now.
    unsafe { libc::kill(found[0], libc::SIGKILL) };
    p.wait().expect_code(137);
    cx.assert_nothing_left("a command killed by a signal");
}

/// The pid of `pid` in its own (innermost) pid namespace.
fn ns_pid(pid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_field(&status, "NSpid")?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

fn command_not_found_or_not_executable(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let not_found = |out: &Output| {
        out.expect_code(127);
        let e = out.stderr.to_lowercase();
        assert!(
            e.contains("executable file not found") || e.contains("no such file"),
            "127 says why\n{out}"
        );
        assert!(out.stderr.starts_with("rrun: "), "{out}");
    };
    not_found(&cx.rrun(&["--rm", cx.rootfs(), "/nonexistent"]));
    not_found(&cx.rrun(&["--rm", cx.rootfs(), "nosuchcommand"]));
    let out = cx.rrun(&["--rm", cx.rootfs(), "/etc/passwd"]);
    out.expect_code(126);
    assert!(
        out.stderr.to_lowercase().contains("permission denied"),
        "126 says why\n{out}"
    );
    assert!(out.stderr.starts_with("rrun: "), "{out}");
    cx.assert_nothing_left("a command that cannot run");
}

fn missing_rootfs(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let missing = cx.env.dir.join("no-such-rootfs");
    let missing = missing.to_str().expect("UTF-8 path");
    let out = cx.rrun(&[missing, "/bin/true"]);
    out.expect_rrun_error();
    assert!(out.stderr.contains(missing), "names the path\n{out}");
    // A file is no rootfs either.
    let file = cx.host_file("notadir", b"x");
    let file = file.to_str().expect("UTF-8 path");
    let out = cx.rrun(&[file, "/bin/true"]);
    out.expect_rrun_error();
    assert!(out.stderr.contains(file), "names the path\n{out}");
    cx.assert_nothing_left("a missing rootfs");
}

fn unknown_flag_prints_usage(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let out = cx.rrun(&["--frobnicate", cx.rootfs(), "/bin/true"]);
    out.expect_code(125);
    let lines = out.stderr_lines();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("rrun: ") && l.contains("--frobnicate")),
        "first line names the flag\n{out}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("Usage:")),
        "a usage line\n{out}"
    );
    assert_eq!(out.stdout, "", "{out}");
    // No arguments at all.
    let out = cx.rrun::<&str>(&[]);
    out.expect_code(125);
    assert!(out.stderr.starts_with("rrun: "), "{out}");
    assert!(out.stderr.contains("Usage:"), "{out}");
    cx.assert_nothing_left("an unknown flag");
}

fn bad_input_is_refused(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let src = cx.host_dir("vsrc");
    let src = src.to_str().expect("UTF-8 path");
    let long_host = "a".repeat(64);
    let cases: Vec<Vec<String>> = [
        vec!["-e", "=x"],
        vec!["-e", "A=line1\nline2"],
        vec!["-e", "A B=1"],
        vec!["-u", "nosuchuser"],
        vec!["-u", "app:nosuchgroup"],
        vec!["-u", ""],
        vec!["-h", "bad host"],
        vec!["-h", "bad_host!"],
        vec!["-h", &long_host],
        vec!["-w", "relative/dir"],
        vec!["-v", "relative:/x"],
        vec!["-v", "/nonexistent-rrun-test-src:/x"],
        vec!["-v", &format!("{src}:/../outside")],
        vec!["-v", &format!("{src}:/a/../../outside")],
        vec!["-v", &format!("{src}:relative-dst")],
        vec!["-v", &format!("{src}:/x:rx")],
        vec!["--tmpfs", "relative"],
        vec!["--tmpfs", "/../x"],
        vec!["--tmpfs", "/tmp:size=lots"],
        vec!["--cap-add", "NO_SUCH_CAP"],
        vec!["--cap-drop", "NO_SUCH_CAP"],
        vec!["--env-file", "/nonexistent-rrun-test-env-file"],
        vec!["--net", "no-such-network-mode"],
    ]
    .iter()
    .map(|v| v.iter().map(|s| s.to_string()).collect())
    .collect();
    for opts in cases {
        let mut args = opts.clone();
        args.extend([cx.rootfs().to_string(), "/bin/true".to_string()]);
        let out = cx.rrun(&args);
        assert!(
            out.code() == Some(125)
                && out.stderr_lines().len() == 1
                && out.stderr.starts_with("rrun: "),
            "bad input {opts:?}: expected exit 125 and one stderr line `rrun: …`\n{out}"
        );
        cx.assert_nothing_left(&format!("bad input {opts:?}"));
    }
    // Nothing was created in the rootfs for the refused destinations.
    for p in ["outside", "x", "relative-dst"] {
        assert!(
            !cx.env.rootfs.join(p).exists(),
            "/{p} was created in the rootfs for a refused mount"
        );
    }
    assert!(
        !cx.env.dir.join("outside").exists(),
        "/../outside was created beside the rootfs"
    );
}

fn bad_env_file_is_refused(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    for (what, content) in [("emptykey", "=x\n"), ("space", "A B=1\n")] {
        let f = cx.host_file(what, content.as_bytes());
        let f = f.to_str().expect("UTF-8 path");
        let out = cx.rrun(&["--env-file", f, cx.rootfs(), "/bin/true"]);
        assert!(
            out.code() == Some(125)
                && out.stderr_lines().len() == 1
                && out.stderr.starts_with("rrun: "),
            "--env-file with {content:?}: expected exit 125 and one stderr line `rrun: …`\n{out}"
        );
        cx.assert_nothing_left("a bad env file");
    }
    // An unreadable env file (the test user cannot read root's 0600 file).
    if mode == Mode::Rootless {
        let f = cx.host_file("unreadable", b"X=1\n");
        fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        std::os::unix::fs::chown(&f, Some(0), Some(0)).expect("chown");
        let out = cx.rrun(&[
            "--env-file",
            f.to_str().expect("UTF-8"),
            cx.rootfs(),
            "/bin/true",
        ]);
        out.expect_rrun_error();
    }
}

fn user_outside_the_map(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let out = cx.sh(&["-u", "70000:70000"], "id -u; id -g");
    match mode {
        Mode::Root => {
            out.ok();
            assert_eq!(out.lines(), ["70000", "70000"], "{out}");
        }
        Mode::Rootless => {
            out.expect_rrun_error();
            assert!(
                out.stderr.contains("/etc/subuid"),
                "the error names /etc/subuid\n{out}"
            );
            cx.assert_nothing_left("-u outside the map");
        }
    }
}
