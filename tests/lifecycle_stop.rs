//! The end of a container: stop, kill, wait, rm (several at once), --rm
//! with -d, and "state never lies": a killed monitor, a corrupt state file.

#[macro_use]
mod common;

use common::*;
use std::fs;
use std::time::{Duration, Instant};

both_modes!(
    stop_kills_after_timeout,
    stop_trapped_term_is_quick,
    kill_signals,
    container_signals_not_ignored,
    wait_prints_exit_codes,
    rm_running_needs_force,
    several_at_once,
    monitor_killed,
    corrupt_state_file,
    corrupt_records_every_shape,
    stale_pid_of_another_process,
    detached_rm_leaves_nothing,
    foreground_stays_listed,
    exit_recorded_with_its_logs,
);

/// The process with pid `pid` and start time `start` is gone (or a zombie).
fn gone(pid: i32, start: u64) -> bool {
    start_time(pid) != Some(start) || !pid_alive(pid)
}

const TRAP_TERM: &str = "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done";

fn stop_kills_after_timeout(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // sleep as pid 1 has no handler for TERM: the kernel drops it.
    let id = cx.detach(&["--name", "ss"], &["sleep", "1000"]);
    let pid: i32 = cx.inspect_f("{{.State.Pid}}", "ss").parse().unwrap_or(0);
    let t0 = Instant::now();
    let out = cx.rrun(&["stop", "-t", "1", "ss"]);
    let took = t0.elapsed();
    out.ok();
    assert_eq!(out.stdout, "ss\n", "{out}");
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(8),
        "[{mode}] stop -t 1 of a container that ignores TERM took {took:?}"
    );
    // stop returns once the container has stopped: no polling here.
    assert!(!pid_alive(pid), "the process is gone when stop returns");
    let v = cx.inspect_json(&id);
    assert_eq!(v["State"]["Status"], "exited", "{v:#}");
    assert_eq!(v["State"]["ExitCode"], 137, "{v:#}");
    let st = cx.ps_status("ss");
    assert!(is_exited_status(&st, 137), "ps -a STATUS {st:?}");
    // Stopping a stopped container is fine (Docker prints its name).
    let out = cx.rrun(&["stop", "-t", "1", "ss"]);
    out.ok();
    assert_eq!(out.stdout, "ss\n", "{out}");
}

fn stop_trapped_term_is_quick(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(&["--name", "tt"], &["sh", "-c", TRAP_TERM]);
    cx.wait_logs("tt", "ready");
    let t0 = Instant::now();
    let out = cx.rrun(&["stop", "tt"]);
    let took = t0.elapsed();
    out.ok();
    assert!(
        took < Duration::from_secs(5),
        "[{mode}] stop of a container that exits on TERM took {took:?} (-t is 10)"
    );
    assert_eq!(
        cx.inspect_f("{{.State.Status}} {{.State.ExitCode}}", "tt"),
        "exited 0"
    );
    let st = cx.ps_status("tt");
    assert!(is_exited_status(&st, 0), "ps -a STATUS {st:?}");
}

fn kill_signals(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(
        &["--name", "kk"],
        &[
            "sh",
            "-c",
            "trap 'echo got-hup' HUP; trap 'echo got-usr2' USR2; echo ready; \
             while :; do sleep 0.1; done",
        ],
    );
    cx.wait_logs("kk", "ready");
    // By name, by number, with and without SIG.
    for (sig, marker) in [("USR2", "got-usr2"), ("HUP", "got-hup")] {
        let out = cx.rrun(&["kill", "-s", sig, "kk"]);
        out.ok();
        assert_eq!(out.stdout, "kk\n", "{out}");
        let logs = cx.wait_logs("kk", marker);
        assert_eq!(logs.stdout.matches(marker).count(), 1, "{logs}");
    }
    // One at a time: two equal signals sent before the shell runs its trap
    // are one pending signal (the kernel does not queue standard signals).
    for (n, spelling) in [
        (2, &["kill", "--signal", "SIGHUP", "kk"]),
        (3, &["kill", "-s", "1", "kk"]),
    ] {
        cx.rrun(spelling).ok();
        let mut logs = String::new();
        let seen = poll_until(SETTLE, || {
            logs = cx.rrun(&["logs", "kk"]).stdout;
            logs.matches("got-hup").count() == n
        });
        assert!(seen, "{spelling:?} reaches the container\n{logs}");
    }
    assert_eq!(cx.inspect_f("{{.State.Running}}", "kk"), "true");

    let out = cx.rrun(&["kill", "-s", "NOPE", "kk"]);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(
        out.stderr_lines().len() == 1
            && out.stderr.starts_with("rrun: ")
            && out.stderr.contains("NOPE"),
        "one `rrun: ` line about the signal\n{out}"
    );
    assert_eq!(cx.inspect_f("{{.State.Running}}", "kk"), "true");

    // The default signal is KILL.
    let out = cx.rrun(&["kill", "kk"]);
    out.ok();
    assert_eq!(out.stdout, "kk\n", "{out}");
    cx.wait_exited("kk");
    assert_eq!(cx.inspect_f("{{.State.ExitCode}}", "kk"), "137");
    // A container that is not running cannot be killed.
    let out = cx.rrun(&["kill", "kk"]);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(
        out.stderr_lines().len() == 1
            && out.stderr.starts_with("rrun: ")
            && out.stderr.contains("is not running"),
        "{out}"
    );
}

fn container_signals_not_ignored(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // As in Docker, a container's process starts with the signal
    // dispositions of whoever ran rrun, not with what rrun or its monitor
    // ignore for themselves: Rust's runtime ignores SIGPIPE, and a detached
    // monitor SIGHUP (a shell cannot trap a signal that was ignored when
    // it started). rrun is spawned with std's Command, which puts SIGPIPE
    // back to default; anything else this test process ignores, rrun
    // inherits and may pass on.
    let sig_ign = |status: &str| {
        status_field(status, "SigIgn")
            .and_then(|v| u64::from_str_radix(v, 16).ok())
            .unwrap_or(u64::MAX)
    };
    let bit = |sig: libc::c_int| 1u64 << (sig - 1);
    let own = sig_ign(&fs::read_to_string("/proc/self/status").expect("status"));
    let want = own & !bit(libc::SIGPIPE);
    let out = cx.rrun(&[cx.rootfs(), "cat", "/proc/self/status"]);
    out.ok();
    let fg = sig_ign(&out.stdout);
    let id = cx.detach(&[], &["sleep", "1000"]);
    let pid = cx.inspect_f("{{.State.Pid}}", &id);
    let bg = sig_ign(&fs::read_to_string(format!("/proc/{pid}/status")).expect("status"));
    let name = |mask: u64| {
        (1..=64)
            .filter(|s| mask & (1u64 << (s - 1)) != 0)
            .map(|s| match s {
                1 => "HUP".to_string(),
                13 => "PIPE".to_string(),
                n => n.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        fg == want && bg == want,
        "[{mode}] signals ignored in the container's process (SigIgn): foreground {fg:016x} \
         [{}], -d {bg:016x} [{}]; expected {want:016x} [{}], what rrun was started with",
        name(fg),
        name(bg),
        name(want)
    );
}

fn wait_prints_exit_codes(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(&["--name", "w3"], &["sh", "-c", "sleep 0.5; exit 3"]);
    cx.detach(&["--name", "w4"], &["sh", "-c", "sleep 0.2; exit 4"]);
    let out = cx.rrun(&["wait", "w3"]);
    out.ok();
    assert_eq!(out.stdout, "3\n", "{out}");
    // Several, one of them long gone: in the order given.
    let out = cx.rrun(&["wait", "w4", "w3"]);
    out.ok();
    assert_eq!(out.stdout, "4\n3\n", "{out}");
    // A container killed while waited for.
    cx.detach(&["--name", "w9"], &["sleep", "1000"]);
    let p = cx.spawn(cx.cmd(&["wait", "w9"]), Input::Null);
    cx.rrun(&["kill", "w9"]).ok();
    let out = p.wait();
    out.ok();
    assert_eq!(out.stdout, "137\n", "{out}");
}

fn rm_running_needs_force(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx.detach(&["--name", "rr"], &["sleep", "1000"]);
    let pid: i32 = cx.inspect_f("{{.State.Pid}}", "rr").parse().unwrap_or(0);
    let start = start_time(pid).expect("the container's process");
    let out = cx.rrun(&["rm", "rr"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr_lines().len() == 1
            && out
                .stderr
                .starts_with(&format!("rrun: You cannot remove a running container {id}")),
        "{out}"
    );
    assert_eq!(cx.inspect_f("{{.State.Running}}", "rr"), "true");
    let out = cx.rrun(&["rm", "-f", "rr"]);
    out.ok();
    assert_eq!(out.stdout, "rr\n", "{out}");
    assert!(gone(pid, start), "rm -f ended the container's process");
    assert!(cx.containers().is_empty(), "{:?}", cx.containers());
    assert!(
        fs::read_dir(cx.state.join("names")).is_ok_and(|mut d| d.next().is_none()),
        "the name is released"
    );
    // The name can be used again.
    cx.detach(&["--name", "rr"], &["true"]);
}

fn several_at_once(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    for n in ["aa", "bb", "cc", "dd"] {
        cx.detach(&["--name", n], &["sh", "-c", TRAP_TERM]);
    }
    for n in ["aa", "bb", "cc", "dd"] {
        cx.wait_logs(n, "ready");
    }
    let out = cx.rrun(&["stop", "aa", "bb"]);
    out.ok();
    assert_eq!(out.stdout, "aa\nbb\n", "{out}");
    let out = cx.rrun(&["kill", "cc", "dd"]);
    out.ok();
    assert_eq!(out.stdout, "cc\ndd\n", "{out}");
    let out = cx.rrun(&["wait", "aa", "bb", "cc", "dd"]);
    out.ok();
    assert_eq!(out.stdout, "0\n0\n137\n137\n", "{out}");
    let out = cx.rrun(&["rm", "aa", "bb", "cc"]);
    out.ok();
    assert_eq!(out.stdout, "aa\nbb\ncc\n", "{out}");
    assert_eq!(cx.containers().len(), 1);

    let ids: Vec<String> = (0..3).map(|_| cx.detach(&[], &["sleep", "1000"])).collect();
    let mut args = vec!["rm", "-f", "dd"];
    args.extend(ids.iter().map(String::as_str));
    let out = cx.rrun(&args);
    out.ok();
    assert_eq!(out.lines().len(), 4, "{out}");
    assert!(cx.containers().is_empty(), "{:?}", cx.containers());
}

fn monitor_killed(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx.detach(&["--name", "mm"], &["sleep", "1000"]);
    let st = cx.state_json(&id).expect("state.json");
    let num = |k: &str| st[k].as_i64().unwrap_or(0);
    let (mpid, mstart) = (num("monitor_pid") as i32, num("monitor_start") as u64);
    let (pid, start) = (num("pid") as i32, num("pid_start") as u64);
    assert!(
        mpid > 1 && pid > 1 && start_time(mpid) == Some(mstart) && start_time(pid) == Some(start),
        "state.json names a live monitor and process\n{st:#}"
    );
    // SAFETY: SIGKILL to the monitor this test started (start time checked).
    unsafe { libc::kill(mpid, libc::SIGKILL) };
    let died = poll_until(SETTLE, || gone(pid, start));
    assert!(
        died,
        "[{mode}] the container's process {pid} outlives its SIGKILLed monitor {mpid}"
    );
    let status = cx.ps_status("mm");
    assert!(is_exited_status(&status, 137), "ps -a STATUS {status:?}");
    let out = cx.rrun(&["ps", "-q"]);
    out.ok();
    assert_eq!(out.stdout, "", "ps shows nothing running\n{out}");
    assert_eq!(
        cx.inspect_f("{{.State.Running}} {{.State.Pid}}", "mm"),
        "false 0"
    );
    // The first look after the death stamps FinishedAt (as Docker does for
    // a container it finds dead): after StartedAt, and it stays put.
    let times = cx.inspect_f("{{.State.StartedAt}} {{.State.FinishedAt}}", "mm");
    let (started, finished) = times.split_once(' ').unwrap_or_default();
    assert!(
        !finished.is_empty() && !finished.starts_with("0001") && finished > started,
        "FinishedAt after StartedAt: {times}"
    );
    assert_eq!(
        cx.inspect_f("{{.State.FinishedAt}}", "mm"),
        finished,
        "FinishedAt is recorded once"
    );
    let out = cx.rrun(&["rm", "mm"]);
    out.ok();
    assert!(cx.containers().is_empty(), "{:?}", cx.containers());
}

fn corrupt_state_file(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let mut ids = Vec::new();
    for n in ["good", "garbage", "empty"] {
        cx.rrun(&["--name", n, cx.rootfs(), "true"]).ok();
        ids.push(cx.inspect_f("{{.Id}}", n));
    }
    let running = cx.detach(&["--name", "up"], &["sleep", "1000"]);
    let state = |id: &str| cx.state.join("containers").join(id).join("state.json");
    // Written in place: the files keep their owner.
    fs::write(state(&ids[1]), "{\"status\": \"runn\x00\x01garbage").expect("write");
    fs::write(state(&ids[2]), "").expect("truncate");

    for args in [&["ps", "-a"][..], &["ps"]] {
        let out = cx.rrun(args);
        out.ok();
        let (_, rows) = ps_table(&out.stdout);
        let names: Vec<&str> = rows.iter().map(|r| r["NAMES"].as_str()).collect();
        let want: &[&str] = if args.len() == 2 {
            &["up", "good"]
        } else {
            &["up"]
        };
        assert_eq!(names, want, "{args:?} lists the readable containers\n{out}");
        for id in &ids[1..] {
            assert!(
                out.stderr
                    .lines()
                    .any(|l| l.starts_with("rrun: ") && l.contains(id.as_str())),
                "{args:?} warns about {id}\n{out}"
            );
        }
    }
    let out = cx.rrun(&["ps", "-aq", "--no-trunc"]);
    out.ok();
    assert_eq!(out.stdout, format!("{running}\n{}\n", ids[0]), "{out}");

    // rm -f removes them, by id and by name.
    let out = cx.rrun(&["rm", "-f", &ids[1]]);
    out.ok();
    let out2 = cx.rrun(&["rm", "-f", "empty"]);
    out2.ok();
    let left = cx.containers();
    assert!(
        !left.contains(&ids[1]) && !left.contains(&ids[2]) && left.len() == 2,
        "rm -f removed the corrupt records: {left:?}\n{out}\n{out2}"
    );
    let out = cx.rrun(&["ps", "-a"]);
    out.ok();
    assert_eq!(out.stderr, "", "{out}");
    // Their names are free again.
    cx.rrun(&["--rm", "--name", "garbage", cx.rootfs(), "true"])
        .ok();
    cx.rrun(&["--rm", "--name", "empty", cx.rootfs(), "true"])
        .ok();
}

fn detached_rm_leaves_nothing(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let entries = |d: &str| -> Vec<String> {
        fs::read_dir(cx.state.join(d))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let assert_empty = |what: &str| {
        let mut left = (Vec::new(), Vec::new());
        let empty = poll_until(SETTLE, || {
            left = (entries("containers"), entries("names"));
            left.0.is_empty() && left.1.is_empty()
        });
        assert!(
            empty,
            "[{mode}] after {what}: containers {:?}, names {:?}",
            left.0, left.1
        );
    };
    cx.detach(&["--rm", "--name", "tmp1"], &["sh", "-c", "echo bye"]);
    assert_empty("-d --rm of a command that ends");
    cx.detach(&["--rm", "--name", "tmp2"], &["sleep", "1000"]);
    cx.rrun(&["kill", "tmp2"]).ok();
    assert_empty("-d --rm, killed");
    let unnamed = cx.detach(&["--rm"], &["sleep", "1000"]);
    cx.detach(&["--rm", "--name", "tmp3"], &["sleep", "1000"]);
    let out = cx.rrun(&["stop", "-t", "1", "tmp3", &unnamed[..20]]);
    out.ok();
    assert_eq!(out.stdout, format!("tmp3\n{}\n", &unnamed[..20]), "{out}");
    assert_empty("-d --rm, stopped");
    // --rm in the foreground too.
    cx.rrun(&["--rm", "--name", "fg", cx.rootfs(), "true"]).ok();
    assert_empty("--rm in the foreground");
}

fn foreground_stays_listed(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.rrun(&["--name", "fg", cx.rootfs(), "sh", "-c", "echo hi; exit 4"])
        .expect_code(4);
    let status = cx.ps_status("fg");
    assert!(is_exited_status(&status, 4), "ps -a STATUS {status:?}");
    let out = cx.rrun(&["ps"]);
    out.ok();
    assert_eq!(out.lines().len(), 1, "ps shows only its header\n{out}");
    let v = cx.inspect_json("fg");
    assert_eq!(v["State"]["Status"], "exited", "{v:#}");
    assert_eq!(v["State"]["ExitCode"], 4, "{v:#}");
    assert_eq!(v["State"]["Pid"], 0, "{v:#}");
    let out = cx.rrun(&["wait", "fg"]);
    out.ok();
    assert_eq!(out.stdout, "4\n", "{out}");
    let out = cx.rrun(&["rm", "fg"]);
    out.ok();
    assert!(cx.containers().is_empty());
}

fn exit_recorded_with_its_logs(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // As soon as a container shows as exited, its exit code is its own (not
    // the 137 of a container whose monitor died) and its log is complete;
    // `wait` right after `-d` prints the real code.
    let script = "echo l1; echo l2 >&2; exit 3";
    for i in 0..10 {
        let name = format!("e{i}");
        let id = cx.detach(&["--name", &name], &["sh", "-c", script]);
        let mut state = String::new();
        let ended = poll_until(SETTLE, || {
            state = cx.inspect_f("{{.State.Status}} {{.State.ExitCode}}", &id);
            !state.starts_with("running")
        });
        assert!(ended, "[{mode}] run {i}: still {state:?}");
        let logs = cx.rrun(&["logs", &id]);
        let status = cx.ps_status(&name);
        assert!(
            state == "exited 3"
                && is_exited_status(&status, 3)
                && logs.stdout == "l1\n"
                && logs.stderr == "l2\n",
            "[{mode}] run {i}: as soon as inspect says exited: {state:?}, then ps {status:?}, \
             logs:\n{logs}"
        );

        let id = cx.detach(&[], &["sh", "-c", script]);
        let out = cx.rrun(&["wait", &id]);
        out.ok();
        assert_eq!(
            out.stdout, "3\n",
            "[{mode}] run {i}: wait right after -d\n{out}"
        );
    }
}

/// Records broken in every way a crash, a full disk or a hand edit leaves
/// them: config.json or state.json missing, empty, truncated, of another
/// JSON shape, with fields of the wrong type or out of range, not UTF-8.
/// ps -a lists the readable ones and warns about each broken one (exit 0);
/// every command on a broken one fails with one `rrun:` line naming the
/// file (exit 1), rm says to use -f, rm -f removes it and frees its name;
/// nothing panics.
fn corrupt_records_every_shape(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.rrun(&["--name", "good", cx.rootfs(), "true"]).ok();
    let good_id = cx.inspect_f("{{.Id}}", "good");
    let dir = |id: &str| cx.state.join("containers").join(id);
    let real_state = fs::read(dir(&good_id).join("state.json")).expect("state.json");
    let real_config = fs::read(dir(&good_id).join("config.json")).expect("config.json");
    let half = |b: &[u8]| b[..b.len() / 2].to_vec();
    let shapes: Vec<(&str, Option<Vec<u8>>)> = vec![
        ("state.json", None),
        ("state.json", Some(b"null".to_vec())),
        ("state.json", Some(b"[1,2,3]".to_vec())),
        ("state.json", Some(b"{\"foo\": 1}".to_vec())),
        ("state.json", Some(half(&real_state))),
        (
            "state.json",
            Some(b"{\"status\":\"paused\",\"monitor_pid\":1,\"monitor_start\":1}".to_vec()),
        ),
        (
            "state.json",
            Some(b"{\"status\":\"running\",\"monitor_pid\":\"1\",\"monitor_start\":1}".to_vec()),
        ),
        (
            "state.json",
            Some(
                b"{\"status\":\"running\",\"monitor_pid\":99999999999,\"monitor_start\":1}"
                    .to_vec(),
            ),
        ),
        ("state.json", Some(b"\xff\xfe\x00\x01".to_vec())),
        ("config.json", None),
        ("config.json", Some(Vec::new())),
        ("config.json", Some(half(&real_config))),
        ("config.json", Some(b"[1,2,3]".to_vec())),
        ("config.json", Some(b"{}".to_vec())),
        ("config.json", Some(b"\"a string\"".to_vec())),
        ("config.json", Some(b"\xff\xfe".to_vec())),
    ];
    let mut broken = Vec::new();
    for (i, (file, content)) in shapes.iter().enumerate() {
        let name = format!("c{i}");
        cx.rrun(&["--name", &name, cx.rootfs(), "true"]).ok();
        let id = cx.inspect_f("{{.Id}}", &name);
        let p = dir(&id).join(file);
        match content {
            // Written in place: the file keeps its owner.
            Some(c) => fs::write(&p, c).expect("write"),
            None => fs::remove_file(&p).expect("rm"),
        }
        broken.push((name, id, *file));
    }
    let sane = |o: &Output| {
        assert!(
            !o.stderr.contains("panicked") && o.code().is_some_and(|c| c <= 1 || c == 125),
            "no panic, a sane exit code\n{o}"
        );
    };
    let out = cx.rrun(&["ps", "-a", "--format", "{{.Names}}"]);
    sane(&out);
    out.ok();
    assert_eq!(
        out.stdout, "good\n",
        "ps -a lists the readable record\n{out}"
    );
    for (name, id, file) in &broken {
        assert!(
            out.stderr
                .lines()
                .any(|l| l.starts_with("rrun: ") && l.contains(id.as_str()) && l.contains(file)),
            "ps -a warns about {name} ({file})\n{out}"
        );
    }
    for (name, id, file) in &broken {
        for cmd in [
            &["inspect", name.as_str()][..],
            &["kill", name],
            &["stop", "-t", "1", name],
            &["wait", name],
            &["logs", name],
            &["port", name],
            &["exec", name, "true"],
            &["rm", name],
        ] {
            let o = cx.rrun(cmd);
            sane(&o);
            let lines = o.stderr_lines();
            assert!(
                o.code() == Some(1)
                    && lines.len() == 1
                    && lines[0].starts_with(&format!("rrun: container {name}: "))
                    && lines[0].contains(file),
                "{cmd:?} on a record with a broken {file}: exit 1, one line naming it\n{o}"
            );
            if cmd[0] == "rm" {
                assert!(o.stderr.contains("rm -f"), "rm says how\n{o}");
            }
        }
        cx.rrun(&["rm", "-f", name]).ok();
        assert!(!dir(id).exists(), "rm -f {name} removed {id}");
        // Its name is free again.
        cx.rrun(&["--rm", "--name", name, cx.rootfs(), "true"]).ok();
    }
    let out = cx.rrun(&["ps", "-a", "--format", "{{.Names}}"]);
    out.ok();
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("good\n", ""),
        "{out}"
    );
}

/// A record whose monitor and container pid are now another, live
/// process (pid reuse: the start time differs): the container is Exited
/// (137), not running; kill refuses, stop and wait return at once, rm
/// works, and the other process is never signalled.
fn stale_pid_of_another_process(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.rrun(&["--name", "xx", cx.rootfs(), "true"]).ok();
    let id = cx.inspect_f("{{.Id}}", "xx");
    // Someone else's process, as the same user (so a signal would land).
    let mut other = std::process::Command::new("sleep");
    other.arg("60");
    {
        use std::os::unix::process::CommandExt;
        other.uid(cx.uid).gid(cx.gid);
    }
    let sleeper = cx.spawn(other, Input::Null);
    let pid = sleeper.pid();
    let start = start_time(pid).expect("the other process's start time");
    let st = serde_json::json!({
        "status": "running",
        "monitor_pid": pid,
        "monitor_start": start + 1,
        "pid": pid,
        "pid_start": start + 1,
        "exit_code": 0,
        "started_at": "2020-01-01T00:00:00.000000000Z",
        "finished_at": "",
        "error": "",
    });
    fs::write(
        cx.state.join("containers").join(&id).join("state.json"),
        st.to_string(),
    )
    .expect("write state.json");

    let status = cx.ps_status("xx");
    assert!(is_exited_status(&status, 137), "ps -a STATUS {status:?}");
    let out = cx.rrun(&["ps", "-q"]);
    out.ok();
    assert_eq!(out.stdout, "", "nothing is running\n{out}");
    assert_eq!(
        cx.inspect_f(
            "{{.State.Running}} {{.State.Pid}} {{.State.ExitCode}}",
            "xx"
        ),
        "false 0 137"
    );
    for args in [&["kill", "xx"][..], &["kill", "-s", "TERM", "xx"]] {
        let o = cx.rrun(args);
        assert_eq!(o.code(), Some(1), "{o}");
        assert!(o.stderr.contains("is not running"), "{o}");
    }
    let t0 = Instant::now();
    let o = cx.rrun(&["stop", "xx"]);
    o.ok();
    let o = cx.rrun(&["wait", "xx"]);
    o.ok();
    assert_eq!(o.stdout, "137\n", "{o}");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "stop and wait of a container that is not running return at once"
    );
    cx.rrun(&["rm", "xx"]).ok();
    assert!(cx.containers().is_empty(), "{:?}", cx.containers());
    assert!(
        pid_alive(pid) && start_time(pid) == Some(start),
        "the other process {pid} was never signalled"
    );
    drop(sleeper);
}
