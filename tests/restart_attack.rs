//! `create`, `start`, `restart` and restart policies under attack: a
//! hostile container editing what it can reach, a user editing (or
//! breaking) what rrun keeps, commands racing each other, monitors killed
//! at the wrong moment, a container restarting in a loop, and a data
//! directory that is full or not the user's own — root and rootless.

#[macro_use]
mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

both_modes!(
    concurrent_starts_make_one_process,
    hostile_etc_files_do_not_steer_start,
    edited_spec_is_refused_in_one_line,
    corrupt_state_is_refused_in_one_line,
    failed_start_keeps_the_status,
    vanished_command_backs_off_cheaply,
    restart_loop_leaks_nothing,
    monitor_killed_while_restarting,
    restart_with_a_dead_monitor_starts_it,
    rm_during_backoff_and_restart_racing_stop,
    start_with_its_link_target_down,
    rename_then_restart,
    net_container_of_a_restarted_target,
    created_rm_container_goes_after_its_run,
    prune_and_reset_with_created_and_restarting,
    data_dir_not_ours_is_refused,
    full_data_dir,
);

/// The container's directory.
fn cdir(cx: &Ctx, id: &str) -> PathBuf {
    cx.state.join("containers").join(id)
}

/// state.json's `key` as an integer (0 when absent).
fn state_int(cx: &Ctx, id: &str, key: &str) -> i64 {
    cx.state_json(id).and_then(|v| v[key].as_i64()).unwrap_or(0)
}

/// The container's monitor, if it lives (start time checked).
fn monitor(cx: &Ctx, id: &str) -> Option<i32> {
    let v = cx.state_json(id)?;
    let pid = v["monitor_pid"].as_i64()? as i32;
    let start = v["monitor_start"].as_u64()?;
    (pid > 0 && start_time(pid) == Some(start) && pid_alive(pid)).then_some(pid)
}

/// Live processes whose command line holds `marker` (the containers'
/// shells: a monitor's command line is rrun's).
fn marked(marker: &str) -> Vec<i32> {
    procs_with_cmdline(marker)
        .into_iter()
        .filter(|(pid, cmd)| pid_alive(*pid) && cmd.starts_with("sh -c "))
        .map(|(pid, _)| pid)
        .collect()
}

/// Exactly one line on stderr, `rrun: ` and `want` in it, and exit `code`.
#[track_caller]
fn one_line(out: &Output, code: i32, want: &str) {
    out.expect_code(code);
    let lines = out.stderr_lines();
    assert!(
        lines.len() == 1 && lines[0].starts_with("rrun: ") && lines[0].contains(want),
        "expected one line `rrun: …{want}…`\n{out}"
    );
    assert!(!out.stderr.contains("panicked"), "{out}");
}

/// Run `cmd` to its end (killed past TIMEOUT) and give its peak resident
/// size in KiB, as the kernel counted it (wait4).
// The child is reaped by wait4, which std's Child does not know about.
#[allow(clippy::zombie_processes)]
fn run_measured(mut cmd: std::process::Command) -> (i32, i64) {
    use std::process::Stdio;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn().expect("spawning rrun");
    let pid = child.id() as i32;
    let end = Instant::now() + TIMEOUT;
    loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value to be overwritten.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waiting (without blocking) for our own child.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            return (libc::WEXITSTATUS(status), ru.ru_maxrss);
        }
        if Instant::now() > end {
            // SAFETY: our own child, not reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{cmd:?} did not end within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------

/// Of several `start`s of one container at once, one starts it and the
/// others find it running: one monitor, one process.
fn concurrent_starts_make_one_process(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let marker = unique_marker("twostarts");
    cx.rrun(&[
        "create",
        "--name",
        "twice",
        "--net=none",
        cx.rootfs(),
        "sh",
        "-c",
        &format!("sleep 1000; : {marker}"),
    ])
    .ok();
    for round in 0..3 {
        let procs: Vec<Proc> = (0..4)
            .map(|_| cx.spawn(cx.cmd(&["start", "twice"]), Input::Null))
            .collect();
        for p in procs {
            let out = p.wait();
            out.ok();
            assert_eq!(out.stdout, "twice\n", "{out}");
        }
        let id = cx.inspect_f("{{.Id}}", "twice");
        // The shell forks its sleep: for a moment the child bears its
        // command line too.
        let mut seen = Vec::new();
        poll_until(SETTLE, || {
            seen = marked(&marker);
            seen.len() == 1
        });
        assert_eq!(
            seen.len(),
            1,
            "[{mode}] round {round}: four starts at once made {} processes: {seen:?}",
            seen.len()
        );
        assert_eq!(
            cx.inspect_f("{{.State.Pid}}", "twice"),
            seen[0].to_string(),
            "the record names the one process"
        );
        assert!(monitor(&cx, &id).is_some());
        cx.rrun(&["stop", "-t", "0", "twice"]).ok();
        cx.wait_exited("twice");
        let gone = poll_until(SETTLE, || marked(&marker).is_empty());
        assert!(gone, "[{mode}] stop left {:?}", marked(&marker));
    }
    cx.rrun(&["rm", "twice"]).ok();
    cx.assert_nothing_left("concurrent starts");
}

/// The container's /etc/hosts, hostname and resolv.conf are its record's
/// files bound in: it may write them, but what it writes must not steer
/// the next `start` — a hosts file made 1 GiB (sparse, costing nothing)
/// is not read whole, every file is rewritten in place, none followed.
fn hostile_etc_files_do_not_steer_start(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // The first run spoils the files, the next ones only say so and wait.
    let flag = cx.host_dir("flag");
    let v = format!("{}:/flag", flag.display());
    let out = cx.rrun(&[
        "run",
        "--name",
        "hostile",
        "--net=none",
        "-v",
        &v,
        cx.rootfs(),
        "sh",
        "-c",
        "if [ -e /flag/done ]; then echo again; exec sleep 1000; fi; \
         truncate -s 1G /etc/hosts && echo evil > /etc/hostname && \
         head -c 100000 /dev/zero > /etc/resolv.conf && touch /flag/done && echo done",
    ]);
    out.ok();
    assert_eq!(out.stdout, "done\n", "{out}");
    let id = cx.inspect_f("{{.Id}}", "hostile");
    let hosts = cdir(&cx, &id).join("hosts");
    let size = fs::metadata(&hosts).expect("hosts").len();
    assert_eq!(size, 1 << 30, "the container made its hosts file 1 GiB");

    // The start compares what is there with what should be: a 1 GiB
    // file must not become 1 GiB of memory in rrun.
    let (code, rss_kib) = run_measured(cx.cmd(&["start", "hostile"]));
    assert_eq!(code, 0, "[{mode}] start of the container");
    cx.wait_logs("hostile", "again");
    assert!(
        rss_kib < 100 * 1024,
        "[{mode}] start read the container's 1 GiB hosts file into memory: peak RSS {rss_kib} KiB"
    );
    let size = fs::metadata(&hosts).expect("hosts").len();
    assert!(size < 4096, "[{mode}] hosts rewritten: {size} bytes");
    let text = fs::read_to_string(&hosts).expect("hosts");
    assert!(text.contains("localhost"), "{text}");
    let hn = fs::read_to_string(cdir(&cx, &id).join("hostname")).expect("hostname");
    assert_eq!(hn, format!("{}\n", &id[..12]));
    let rc = fs::metadata(cdir(&cx, &id).join("resolv.conf"))
        .expect("resolv.conf")
        .len();
    assert!(rc < 4096, "[{mode}] resolv.conf rewritten: {rc} bytes");
    cx.rrun(&["rm", "-f", "hostile"]).ok();
    cx.assert_nothing_left("a hostile container's files");
}

/// A spec (the `spec` of config.json) the user broke or edited: `start`
/// says so in one line (exit 1, as for a record it cannot read), starts
/// nothing, panics never; the container stays as it was.
fn edited_spec_is_refused_in_one_line(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx
        .rrun(&["create", "--name", "sp", "--net=none", cx.rootfs(), "true"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let other = cx
        .rrun(&["create", "--name", "sp2", "--net=none", cx.rootfs(), "true"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let config = cdir(&cx, &id).join("config.json");
    let good = fs::read(&config).expect("config.json");
    let v: serde_json::Value = serde_json::from_slice(&good).expect("config json");
    assert!(v["spec"].is_object(), "the record holds the spec: {v}");
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut w = v.clone();
        f(&mut w);
        serde_json::to_vec(&w).expect("json")
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_vec(), "config.json"),
        ("empty", Vec::new(), "config.json"),
        ("not json", b"\xff\xfe garbage".to_vec(), "config.json"),
        (
            "a spec that is a string",
            edit(&|w| w["spec"] = "x".into()),
            "spec",
        ),
        (
            "a spec that is an array",
            edit(&|w| w["spec"] = serde_json::json!([])),
            "spec",
        ),
        (
            "another container's id",
            edit(&|w| w["spec"]["id"] = other.clone().into()),
            "spec",
        ),
        (
            "an id that is a path",
            edit(&|w| w["spec"]["id"] = "../../../../tmp/rrun-attack".into()),
            "spec",
        ),
        (
            "no spec",
            edit(&|w| {
                w.as_object_mut().map(|o| o.remove("spec"));
            }),
            "no spec",
        ),
    ];
    for (what, bytes, want) in cases {
        fs::write(&config, &bytes).expect("writing config.json");
        let out = cx.rrun(&["start", "sp"]);
        one_line(&out, 1, want);
        fs::write(&config, &good).expect("restoring config.json");
        assert_eq!(
            cx.inspect_f("{{.State.Status}}", "sp"),
            "created",
            "[{mode}] {what}: the container stays created"
        );
        assert_eq!(state_int(&cx, &id, "monitor_pid"), 0, "{what}");
    }
    assert!(!Path::new("/tmp/rrun-attack").exists());
    // A spec with no command: rrun's own refusal, nothing runs.
    fs::write(
        &config,
        edit(&|w| w["spec"]["argv"] = serde_json::json!([])),
    )
    .expect("config");
    let out = cx.rrun(&["start", "sp"]);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    // Put right, it starts.
    fs::write(&config, &good).expect("config");
    cx.rrun(&["start", "sp"]).ok();
    cx.wait_exited("sp");
    assert_eq!(cx.inspect_f("{{.State.ExitCode}}", "sp"), "0");
    cx.rrun(&["rm", "sp", "sp2"]).ok();
    cx.assert_nothing_left("edited specs");
}

/// A state.json the user broke: start, restart, stop, ps say so (ps
/// skips it with a line) and nothing panics; rm -f removes it.
fn corrupt_state_is_refused_in_one_line(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx
        .rrun(&["create", "--name", "cs", "--net=none", cx.rootfs(), "true"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let state = cdir(&cx, &id).join("state.json");
    for (what, bytes) in [
        ("half", &b"{\"status\": \"cre"[..]),
        ("another status", b"{\"status\": \"paused\"}"),
        (
            "a negative pid",
            b"{\"status\": \"running\", \"monitor_pid\": -1}",
        ),
    ] {
        fs::write(&state, bytes).expect("state.json");
        for cmd in ["start", "restart", "stop"] {
            let out = cx.rrun(&[cmd, "cs"]);
            assert!(
                !out.stderr.contains("panicked") && out.code() != Some(0),
                "[{mode}] {what}: {cmd}\n{out}"
            );
            assert_eq!(out.stderr_lines().len(), 1, "[{mode}] {what}: {cmd}\n{out}");
        }
        let ps = cx.rrun(&["ps", "-a"]);
        ps.ok();
        assert!(ps.stderr.contains("skipping container"), "{ps}");
    }
    cx.rrun(&["rm", "-f", "cs"]).ok();
    cx.assert_nothing_left("a corrupt state.json");
}

/// A start that fails (the command is not there) is Docker's: the
/// container stays `Created` if it never ran (ExitCode 127, the error
/// kept), and a stopped one keeps its earlier end; never "Exited (127)
/// 2027 years ago" (a zero FinishedAt).
fn failed_start_keeps_the_status(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.rrun(&[
        "create",
        "--name",
        "nx",
        "--net=none",
        cx.rootfs(),
        "nosuchcmd",
    ])
    .ok();
    let out = cx.rrun(&["start", "nx"]);
    // Docker's start exits 1 whatever failed; the code is in the record.
    out.expect_code(1);
    assert!(out.stderr.contains("nosuchcmd"), "{out}");
    assert_eq!(
        cx.inspect_f("{{.State.Status}} {{.State.ExitCode}}", "nx"),
        "created 127"
    );
    assert_eq!(cx.ps_status("nx"), "Created");
    assert!(
        cx.inspect_f("{{.State.Error}}", "nx").contains("nosuchcmd"),
        "the error is kept"
    );

    // A container that ran, whose command is then gone.
    let vol = cx.host_dir("cmd");
    let script = vol.join("run.sh");
    fs::write(&script, "#!/bin/sh\nexit 3\n").expect("script");
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let v = format!("{}:/x", vol.display());
    cx.rrun(&[
        "run",
        "--name",
        "gone",
        "--net=none",
        "-v",
        &v,
        cx.rootfs(),
        "/x/run.sh",
    ])
    .expect_code(3);
    let ended = cx.inspect_f("{{.State.FinishedAt}}", "gone");
    fs::remove_file(&script).expect("rm script");
    let out = cx.rrun(&["start", "gone"]);
    out.expect_code(1);
    let status = cx.ps_status("gone");
    assert!(
        status.starts_with("Exited (") && !status.contains("years"),
        "[{mode}] {status}"
    );
    assert_eq!(cx.inspect_f("{{.State.Status}}", "gone"), "exited");
    assert_eq!(
        cx.inspect_f("{{.State.FinishedAt}}", "gone"),
        ended,
        "the earlier end stands"
    );
    cx.rrun(&["rm", "nx", "gone"]).ok();
    cx.assert_nothing_left("failed starts");
}

/// `--restart always` whose command is gone from the rootfs after the
/// first run: each restart fails (127), the back-off grows as Docker's
/// (100 ms doubling), the monitor sleeps meanwhile, and `stop` ends it at
/// once.
fn vanished_command_backs_off_cheaply(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let vol = cx.host_dir("cmd");
    let script = vol.join("run.sh");
    fs::write(&script, "#!/bin/sh\necho ran\nexit 1\n").expect("script");
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let v = format!("{}:/x", vol.display());
    let id = cx.detach(
        &[
            "--name",
            "vv",
            "--net=none",
            "--restart",
            "always",
            "-v",
            &v,
        ],
        &["/x/run.sh"],
    );
    cx.wait_logs("vv", "ran");
    fs::remove_file(&script).expect("rm script");
    let t0 = Instant::now();
    let mut seen = String::new();
    let failing = poll_until(SETTLE, || {
        seen = cx.inspect_f("{{.State.ExitCode}} {{.State.Error}}", "vv");
        seen.starts_with("127 ")
    });
    assert!(failing, "[{mode}] restarts fail with 127: {seen}");
    let mon = monitor(&cx, &id).expect("the monitor lives");
    let cpu0 = cpu_ticks(mon);
    let c0: u32 = cx
        .inspect_f("{{.RestartCount}}", "vv")
        .parse()
        .expect("count");
    // Long enough for the back-off to pass a second.
    let grown = poll_until(Duration::from_secs(15), || {
        cx.inspect_f("{{.RestartCount}}", "vv")
            .parse::<u32>()
            .is_ok_and(|c| c >= c0 + 3)
    });
    assert!(grown, "[{mode}] the policy goes on after failed restarts");
    let took = t0.elapsed();
    let c1: u32 = cx
        .inspect_f("{{.RestartCount}}", "vv")
        .parse()
        .expect("count");
    // 100 ms doubling: n restarts take at least 0.1 * (2^n - 1) s; a
    // back-off that does not grow would restart every 100 ms.
    assert!(
        c1 <= 12 && (c1 as f64) < 2.0 + took.as_secs_f64().log2() * 2.0 + 6.0,
        "[{mode}] {c1} restarts in {took:?}: the back-off does not grow"
    );
    let ticks = cpu_ticks(mon) - cpu0;
    assert!(
        ticks < 100,
        "[{mode}] the monitor used {ticks} ticks of CPU over {took:?} of back-off"
    );
    assert!(cx.ps_status("vv").starts_with("Restarting (127) "));
    let t = Instant::now();
    cx.rrun(&["stop", "vv"]).ok();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "[{mode}] stop during a back-off took {:?}",
        t.elapsed()
    );
    cx.wait_exited("vv");
    assert!(cx.ps_status("vv").starts_with("Exited (127)"));
    cx.rrun(&["rm", "vv"]).ok();
    cx.assert_nothing_left("a vanished command");
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: i32) -> i64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(i) = stat.rfind(')') else { return 0 };
    let f: Vec<&str> = stat[i + 2..].split(' ').collect();
    f.get(11).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0)
}

/// Open fds of `pid`.
fn fd_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The children of `pid` (all its threads'), live or zombie.
fn children(pid: i32) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir(format!("/proc/{pid}/task")) {
        for t in rd.flatten() {
            if let Ok(s) = fs::read_to_string(t.path().join("children")) {
                v.extend(s.split_whitespace().map(str::to_string));
            }
        }
    }
    v
}

/// Restarted ten times — by `rrun restart` and by its policy — a
/// container on the bridge with a published port keeps one veth, one
/// lease, its monitor's fds and children as after its first restart, and
/// no mount is left on the host.
fn restart_loop_leaks_nothing(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // The test's own network namespace: no veth before the first run.
    let veths0: Vec<String> = Vec::new();
    let id = cx.detach(
        &[
            "--name",
            "loop",
            "-p",
            "18190:80",
            "--restart",
            "on-failure",
        ],
        &["sh", "-c", &servers(&[80], &[])],
    );
    let mon = monitor(&cx, &id).expect("monitor");
    cx.rrun(&["restart", "-t", "0", "loop"]).ok();
    let fds = fd_count(mon);
    let veths = rrun_veths(&cx);
    assert_eq!(veths.len(), veths0.len() + 1, "{veths:?}");
    for i in 0..10 {
        if i % 2 == 0 {
            cx.rrun(&["restart", "-t", "0", "loop"]).ok();
        } else {
            // The process dies: the policy restarts it.
            let pid = cx.inspect_f("{{.State.Pid}}", "loop");
            let p: i32 = pid.parse().expect("pid");
            // SAFETY: SIGKILL to this test's container process.
            unsafe { libc::kill(p, libc::SIGKILL) };
            let again = poll_until(SETTLE, || {
                let now = cx.inspect_f("{{.State.Status}} {{.State.Pid}}", "loop");
                now.starts_with("running ") && !now.ends_with(&format!(" {pid}"))
            });
            assert!(again, "[{mode}] the policy restarted it ({i})");
        }
    }
    assert_eq!(
        cx.inspect_f("{{.State.Status}}", "loop"),
        "running",
        "[{mode}]"
    );
    assert_eq!(monitor(&cx, &id), Some(mon), "one monitor all along");
    // The forwarder's connections come and go: a leak is one or more a
    // restart, ten here.
    let now = fd_count(mon);
    assert!(
        now <= fds + 2,
        "[{mode}] the monitor's fds: {fds} after one restart, {now} after 11"
    );
    let kids = children(mon);
    assert!(
        kids.len() <= 2,
        "[{mode}] the monitor's children after 10 restarts: {kids:?}"
    );
    assert_eq!(rrun_veths(&cx), veths, "[{mode}] veths after 10 restarts");
    assert_eq!(leases(&cx).len(), 1, "{:?}", leases(&cx));
    let lo = published_peer(&cx, "127.0.0.1");
    let p = tcp_ok("127.0.0.1", 18190, &format!("tcp-80-{lo}"));
    let ok = poll_until(SETTLE, || {
        p.matches(&p.reply(&p.spawn_in(&cx, host_ns(&cx)).wait()))
    });
    assert!(ok, "[{mode}] the port answers after 10 restarts");
    cx.rrun(&["rm", "-f", "loop"]).ok();
    // The veth goes with the container's network namespace, which the
    // kernel dismantles just after the monitor's end.
    let back = poll_until(SETTLE, || rrun_veths(&cx) == veths0);
    assert!(
        back,
        "[{mode}] rm -f gives the veth back: {:?}",
        rrun_veths(&cx)
    );
    cx.assert_nothing_left("a restart loop");
}

/// kill -9 of the monitor while it waits out a back-off: the container
/// is `Exited (137)`, nothing of it runs, and it can be started again.
fn monitor_killed_while_restarting(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let marker = unique_marker("killedmon");
    let id = cx.detach(
        &["--name", "km", "--net=none", "--restart", "always"],
        &[
            "sh",
            "-c",
            &format!("echo ran; sleep 0.2; exit 2; : {marker}"),
        ],
    );
    let restarting = poll_until(SETTLE, || {
        cx.inspect_f("{{.State.Status}} {{.RestartCount}}", "km")
            .split_once(' ')
            .is_some_and(|(s, n)| s == "restarting" && n.parse::<u32>().unwrap_or(0) >= 2)
    });
    assert!(restarting, "[{mode}] it restarts");
    let mon = monitor(&cx, &id).expect("monitor");
    // SAFETY: SIGKILL to this test's container's monitor.
    unsafe { libc::kill(mon, libc::SIGKILL) };
    let dead = poll_until(SETTLE, || !pid_alive(mon));
    assert!(dead);
    let status = cx.ps_status("km");
    assert!(status.starts_with("Exited (137)"), "[{mode}] {status}");
    // Nothing restarts it now, nothing of it runs.
    let count = cx.inspect_f("{{.RestartCount}}", "km");
    let quiet = !poll_until(Duration::from_secs(1), || !marked(&marker).is_empty());
    assert!(quiet, "[{mode}] a process runs after its monitor's death");
    assert_eq!(cx.inspect_f("{{.RestartCount}}", "km"), count);
    cx.rrun(&["start", "km"]).ok();
    cx.rrun(&["rm", "-f", "km"]).ok();
    cx.assert_nothing_left("a killed monitor");
}

/// `restart` of a container whose monitor was killed (its record still
/// says running, with a live-looking pid) starts it again: one process,
/// on its address.
fn restart_with_a_dead_monitor_starts_it(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let marker = unique_marker("deadmon");
    let id = cx.detach(
        &["--name", "dm", "-p", "18191:80"],
        &["sh", "-c", &format!("{}; : {marker}", servers(&[80], &[]))],
    );
    let ip = container_ip(&cx, "dm");
    let mon = monitor(&cx, &id).expect("monitor");
    // SAFETY: SIGKILL to this test's container's monitor.
    unsafe { libc::kill(mon, libc::SIGKILL) };
    assert!(poll_until(SETTLE, || !pid_alive(mon)));
    let out = cx.rrun(&["restart", "-t", "0", "dm"]);
    out.ok();
    assert_eq!(out.stdout, "dm\n", "{out}");
    assert_eq!(cx.inspect_f("{{.State.Status}}", "dm"), "running");
    assert_eq!(container_ip(&cx, "dm"), ip, "[{mode}] its address again");
    let one = poll_until(SETTLE, || marked(&marker).len() == 1);
    assert!(one, "[{mode}] processes: {:?}", marked(&marker));
    assert_ne!(monitor(&cx, &id), None);
    let lo = published_peer(&cx, "127.0.0.1");
    let p = tcp_ok("127.0.0.1", 18191, &format!("tcp-80-{lo}"));
    let ok = poll_until(SETTLE, || {
        p.matches(&p.reply(&p.spawn_in(&cx, host_ns(&cx)).wait()))
    });
    assert!(ok, "[{mode}] the port answers after the restart");
    cx.rrun(&["rm", "-f", "dm"]).ok();
    assert!(leases(&cx).is_empty(), "{:?}", leases(&cx));
}

/// `rm -f` while the monitor waits out a back-off removes it at once
/// (nothing restarts it after); `restart` and `stop` racing end with the
/// container in one clear state and one process at most.
fn rm_during_backoff_and_restart_racing_stop(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let marker = unique_marker("backoff");
    let id = cx.detach(
        &["--name", "bo", "--net=none", "--restart", "always"],
        &["sh", "-c", &format!("sleep 0.3; exit 1; : {marker}")],
    );
    let waiting = poll_until(SETTLE, || {
        cx.inspect_f("{{.State.Status}} {{.RestartCount}}", "bo") == "restarting 3"
    });
    assert!(waiting, "[{mode}] in its third back-off (400 ms)");
    let mon = monitor(&cx, &id).expect("monitor");
    let t = Instant::now();
    cx.rrun(&["rm", "-f", "bo"]).ok();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(!cdir(&cx, &id).exists());
    assert!(poll_until(SETTLE, || !pid_alive(mon)), "the monitor ends");
    assert!(marked(&marker).is_empty());
    assert!(!cdir(&cx, &id).exists(), "[{mode}] nothing made it again");

    let marker = unique_marker("race");
    cx.detach(
        &["--name", "rs", "--net=none", "--restart", "always"],
        &[
            "sh",
            "-c",
            &format!("trap 'exit 0' TERM; while :; do sleep 0.05; done; : {marker}"),
        ],
    );
    for round in 0..5 {
        let r = cx.spawn(cx.cmd(&["restart", "-t", "1", "rs"]), Input::Null);
        let s = cx.spawn(cx.cmd(&["stop", "-t", "1", "rs"]), Input::Null);
        let (r, s) = (r.wait(), s.wait());
        assert!(!r.stderr.contains("panicked") && !s.stderr.contains("panicked"));
        s.ok();
        // Settled: running (the restart came last) or exited.
        let mut st = String::new();
        let settled = poll_until(SETTLE, || {
            st = cx.inspect_f("{{.State.Status}}", "rs");
            st == "running" || st == "exited"
        });
        assert!(settled, "[{mode}] round {round}: {st}\n{r}\n{s}");
        let n = marked(&marker).len();
        let want = usize::from(st == "running");
        let agree = poll_until(SETTLE, || marked(&marker).len() == want);
        assert!(
            agree,
            "[{mode}] round {round}: {st} with {n} processes\n{r}\n{s}"
        );
        if st == "exited" {
            cx.rrun(&["start", "rs"]).ok();
        }
    }
    cx.rrun(&["rm", "-f", "rs"]).ok();
    cx.assert_nothing_left("rm -f in a back-off, restart racing stop");
}

/// `start` of a linker whose target is stopped, or gone: Docker's error,
/// and nothing of the attempt left (veth, lease, rules).
fn start_with_its_link_target_down(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(&["--name", "db"], &["sleep", "1000"]);
    cx.rrun(&[
        "create",
        "--name",
        "web",
        "--link",
        "db:db",
        "-p",
        "18192:80",
        cx.rootfs(),
        "sleep",
        "1000",
    ])
    .ok();
    cx.rrun(&["stop", "-t", "0", "db"]).ok();
    cx.wait_exited("db");
    // A veth goes with its network namespace, which the kernel dismantles
    // a moment after the monitor's end: none is left for good.
    let no_veth = || poll_until(SETTLE, || rrun_veths(&cx).is_empty());
    assert!(no_veth(), "[{mode}] db's veth: {:?}", rrun_veths(&cx));
    let leases0 = leases(&cx);
    let out = cx.rrun(&["start", "web"]);
    // Docker's text and Docker's start's exit code.
    one_line(
        &out,
        1,
        "Cannot link to a non running container: /db AS /web/db",
    );
    assert_eq!(cx.inspect_f("{{.State.Status}}", "web"), "created");
    assert!(no_veth(), "[{mode}] veth left: {:?}", rrun_veths(&cx));
    assert_eq!(leases(&cx), leases0, "[{mode}] no lease left");
    cx.rrun(&["rm", "db"]).ok();
    let out = cx.rrun(&["start", "web"]);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(
        out.stderr_lines().len() == 1 && out.stderr.contains("db"),
        "[{mode}] one line naming the gone target\n{out}"
    );
    assert!(no_veth(), "[{mode}] veth left: {:?}", rrun_veths(&cx));
    assert_eq!(cx.inspect_f("{{.State.Status}}", "web"), "created");
    // The port is free for another.
    cx.detach(&["--name", "other", "-p", "18192:80"], &["sleep", "1000"]);
    cx.rrun(&["rm", "-f", "web", "other"]).ok();
    assert!(leases(&cx).is_empty(), "{:?}", leases(&cx));
}

/// A renamed container restarts (and starts) under its new name: its
/// record, its name link and its hostname as Docker keeps them.
fn rename_then_restart(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx.detach(
        &["--name", "before", "--net=none", "--restart", "on-failure"],
        &["sleep", "1000"],
    );
    cx.rrun(&["rename", "before", "after"]).ok();
    let out = cx.rrun(&["restart", "-t", "0", "after"]);
    out.ok();
    assert_eq!(out.stdout, "after\n");
    assert_eq!(
        cx.inspect_f("{{.Name}} {{.State.Status}}", id.as_str()),
        "/after running"
    );
    cx.rrun(&["stop", "-t", "0", "after"]).ok();
    cx.wait_exited("after");
    cx.rrun(&["rename", "after", "again"]).ok();
    cx.rrun(&["start", "again"]).ok();
    assert_eq!(
        cx.inspect_f("{{.Name}} {{.State.Status}}", &id),
        "/again running"
    );
    // The old names are free.
    for n in ["before", "after"] {
        let out = cx.rrun(&["inspect", n]);
        out.expect_code(1);
        cx.rrun(&["create", "--name", n, "--net=none", cx.rootfs(), "true"])
            .ok();
    }
    // A --rm container renamed while it runs goes under its new name.
    cx.detach(
        &["--name", "tmp1", "--rm", "--net=none"],
        &["sleep", "1000"],
    );
    cx.rrun(&["rename", "tmp1", "tmp2"]).ok();
    cx.rrun(&["stop", "-t", "0", "tmp2"]).ok();
    let gone = poll_until(SETTLE, || cx.rrun(&["inspect", "tmp2"]).code() == Some(1));
    assert!(gone, "[{mode}] the renamed --rm container is removed");
    assert!(!cx.state.join("names").join("tmp2").exists());
    assert!(!cx.state.join("names").join("tmp1").exists());
    cx.rrun(&["rm", "-f", "again", "before", "after"]).ok();
    cx.assert_nothing_left("renames and restarts");
}

/// `--net=container:X` after X was restarted (its monitor kept its
/// network namespace) starts into X's network; after X was stopped and
/// started (a new namespace) too; while X is stopped it is refused.
fn net_container_of_a_restarted_target(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(&["--name", "xx"], &["sleep", "1000"]);
    cx.rrun(&["restart", "-t", "0", "xx"]).ok();
    let ip = container_ip(&cx, "xx");
    let out = cx.rrun(&[
        "run",
        "--rm",
        "--net=container:xx",
        cx.rootfs(),
        "sh",
        "-c",
        "ip -4 -o addr show eth0",
    ]);
    out.ok();
    assert!(out.stdout.contains(&format!("{ip}/")), "[{mode}] {out}");
    cx.rrun(&[
        "create",
        "--name",
        "side",
        "--net=container:xx",
        cx.rootfs(),
        "sh",
        "-c",
        "ip -4 -o addr show eth0; sleep 1000",
    ])
    .ok();
    cx.rrun(&["start", "side"]).ok();
    cx.wait_logs("side", &format!("{ip}/"));
    // X restarted: the side container's process keeps its namespace, which
    // is X's still (kept by X's monitor); `restart side` joins it again.
    cx.rrun(&["restart", "-t", "0", "xx"]).ok();
    cx.rrun(&["restart", "-t", "0", "side"]).ok();
    let logs = poll_until(SETTLE, || {
        cx.rrun(&["logs", "side"])
            .stdout
            .matches(&format!("{ip}/"))
            .count()
            == 2
    });
    assert!(logs, "[{mode}] side sees x's address after both restarted");
    cx.rrun(&["stop", "-t", "0", "xx"]).ok();
    cx.wait_exited("xx");
    cx.rrun(&["stop", "-t", "0", "side"]).ok();
    cx.wait_exited("side");
    let out = cx.rrun(&["start", "side"]);
    assert!(
        out.code() != Some(0)
            && out.stderr_lines().len() == 1
            && out.stderr.contains("non running container"),
        "[{mode}] {out}"
    );
    assert_eq!(cx.inspect_f("{{.State.Status}}", "side"), "exited");
    cx.rrun(&["start", "xx"]).ok();
    cx.rrun(&["start", "side"]).ok();
    let logs = poll_until(SETTLE, || {
        cx.rrun(&["logs", "side"])
            .stdout
            .matches(&format!("{ip}/"))
            .count()
            == 3
    });
    assert!(
        logs,
        "[{mode}] side sees x's address after x's stop and start"
    );
    cx.rrun(&["rm", "-f", "side", "xx"]).ok();
    assert!(leases(&cx).is_empty(), "{:?}", leases(&cx));
}

/// `create --rm` then `start`: the container is removed when its run ends
/// (detached, and with -a); not before it starts.
fn created_rm_container_goes_after_its_run(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.rrun(&[
        "create",
        "--rm",
        "--name",
        "once",
        "--net=none",
        cx.rootfs(),
        "sh",
        "-c",
        "sleep 0.2; exit 4",
    ])
    .ok();
    // A start by another command (ps, a sweep) must not take it for a
    // dead --rm container.
    cx.rrun(&["ps", "-a"]).ok();
    cx.rrun(&[
        "create",
        "--name",
        "sweeper",
        "--net=none",
        cx.rootfs(),
        "true",
    ])
    .ok();
    assert_eq!(cx.ps_status("once"), "Created");
    cx.rrun(&["start", "once"]).ok();
    let gone = poll_until(SETTLE, || cx.rrun(&["inspect", "once"]).code() == Some(1));
    assert!(gone, "[{mode}] the --rm container is removed after its run");
    cx.rrun(&[
        "create",
        "--rm",
        "--name",
        "fg",
        "--net=none",
        cx.rootfs(),
        "sh",
        "-c",
        "echo hi; exit 5",
    ])
    .ok();
    let out = cx.rrun(&["start", "-a", "fg"]);
    out.expect_code(5);
    assert_eq!(out.stdout, "hi\n", "{out}");
    cx.rrun(&["inspect", "fg"]).expect_code(1);
    cx.rrun(&["rm", "sweeper"]).ok();
    cx.assert_nothing_left("create --rm, start");
}

/// `container prune` removes created and stopped containers and leaves a
/// restarting one (its monitor lives); `system reset` without -f counts
/// a restarting container as running and refuses; with -f it ends it.
fn prune_and_reset_with_created_and_restarting(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let created = cx
        .rrun(&["create", "--name", "cr", "--net=none", cx.rootfs(), "true"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let marker = unique_marker("prune");
    let rid = cx.detach(
        &["--name", "rr", "--net=none", "--restart", "always"],
        &["sh", "-c", &format!("sleep 0.2; exit 1; : {marker}")],
    );
    let restarting = poll_until(SETTLE, || {
        cx.inspect_f("{{.State.Status}}", "rr") == "restarting"
    });
    assert!(restarting);
    let out = cx.rrun(&["container", "prune", "-f"]);
    out.ok();
    assert!(out.stdout.contains(&created), "{out}");
    assert!(
        !out.stdout.contains(&rid),
        "[{mode}] prune removed a restarting container\n{out}"
    );
    assert!(cdir(&cx, &rid).exists());
    assert!(monitor(&cx, &rid).is_some());
    let out = cx.rrun(&["system", "reset"]);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(
        out.stderr.contains(&format!("rr ({})", &rid[..12])),
        "[{mode}] reset names the restarting container as running\n{out}"
    );
    assert!(cdir(&cx, &rid).exists());
    let mon = monitor(&cx, &rid).expect("monitor");
    cx.rrun(&["system", "reset", "-f"]).ok();
    assert!(
        poll_until(SETTLE, || !pid_alive(mon)),
        "[{mode}] reset -f ends the monitor"
    );
    assert!(marked(&marker).is_empty());
    assert!(cx.containers().is_empty(), "{:?}", cx.containers());
}

/// A data directory (RRUN_DATA) that is someone else's, open to others,
/// or has a subdirectory that is (a link elsewhere, world-writable) is
/// refused: its records say what rrun signals and mounts.
fn data_dir_not_ours_is_refused(mode: Mode) {
    let Some(cx) = Ctx::new_needing_root(mode, "chown of a directory to another user") else {
        return;
    };
    let _clean = Cleanup::new(&cx);
    let data = cx.host_dir("data");
    let run = |args: &[&str]| {
        let mut c = cx.cmd(args);
        c.env("RRUN_DATA", &data);
        cx.run(c, Input::Null)
    };
    run(&["create", "--name", "dd", "--net=none", cx.rootfs(), "true"]).ok();
    let set = |p: &Path, m: u32| {
        fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).expect("chmod")
    };
    set(&data, 0o777);
    one_line(&run(&["start", "dd"]), 125, "open to other users");
    set(&data, 0o700);
    std::os::unix::fs::chown(&data, Some(65534), None).expect("chown");
    one_line(&run(&["ps", "-a"]), 125, "belongs to uid 65534");
    std::os::unix::fs::chown(&data, Some(cx.uid), None).expect("chown");
    for sub in ["containers", "names"] {
        let p = data.join(sub);
        set(&p, 0o777);
        let out = run(&["start", "dd"]);
        one_line(&out, 125, "open to other users");
        set(&p, 0o700);
    }
    // containers/ a link to a directory anyone may write in.
    let elsewhere = cx.host_dir("elsewhere");
    set(&elsewhere, 0o1777);
    let c = data.join("containers");
    fs::rename(&c, data.join("containers.real")).expect("mv");
    std::os::unix::fs::symlink(&elsewhere, &c).expect("symlink");
    let out = run(&["ps", "-a"]);
    one_line(&out, 125, "containers");
    fs::remove_file(&c).expect("rm link");
    fs::rename(data.join("containers.real"), &c).expect("mv back");
    run(&["rm", "dd"]).ok();
}

/// A tmpfs of its own outside the test directory (whose mounts the other
/// tests watch), unmounted on drop.
struct SmallTmpfs(PathBuf);

impl SmallTmpfs {
    fn new(cx: &Ctx, size: &str) -> SmallTmpfs {
        let p = PathBuf::from(format!(
            "/tmp/rrun-attack-full-{}-{}",
            std::process::id(),
            cx.mode
        ));
        fs::create_dir(&p).expect("mkdir");
        let opts = std::ffi::CString::new(format!(
            "size={size},mode=0700,uid={},gid={}",
            cx.uid, cx.gid
        ))
        .expect("opts");
        let dst = std::ffi::CString::new(p.to_str().expect("utf-8")).expect("path");
        // SAFETY: mounting a new tmpfs on our own fresh directory.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                dst.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                opts.as_ptr().cast(),
            )
        };
        assert_eq!(r, 0, "mount tmpfs: {}", std::io::Error::last_os_error());
        SmallTmpfs(p)
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let p = std::ffi::CString::new(self.0.to_str().unwrap_or_default()).unwrap_or_default();
        // SAFETY: unmounting the tmpfs this test mounted.
        unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
        let _ = fs::remove_dir(&self.0);
    }
}

/// A full data directory (RRUN_DATA on a small tmpfs, filled up):
/// `create` and `start` fail in one line (125), leave nothing (no
/// half-made record, no name, no process), and the container stays as
/// it was; with room again, it starts.
fn full_data_dir(mode: Mode) {
    let Some(cx) = Ctx::new_needing_root(mode, "mounting a tmpfs") else {
        return;
    };
    let _clean = Cleanup::new(&cx);
    let fs_ = SmallTmpfs::new(&cx, "1m");
    let data = fs_.0.join("data");
    let run = |args: &[&str]| {
        let mut c = cx.cmd(args);
        c.env("RRUN_DATA", &data);
        cx.run(c, Input::Null)
    };
    let marker = unique_marker("full");
    let script = format!("sleep 1000; : {marker}");
    run(&[
        "create",
        "--name",
        "ff",
        "--net=none",
        cx.rootfs(),
        "sh",
        "-c",
        &script,
    ])
    .ok();
    // Fill what is left.
    let filler = fs_.0.join("filler");
    {
        use std::io::Write;
        let mut f = fs::File::create(&filler).expect("filler");
        let block = vec![b'x'; 4096];
        while f.write_all(&block).is_ok() {}
    }
    let out = run(&["start", "ff"]);
    // Docker's start exits 1 whatever failed.
    out.expect_code(1);
    assert!(out.stderr.contains("No space left"), "{out}");
    assert!(marked(&marker).is_empty(), "[{mode}] a process runs");
    assert_eq!(
        run(&["inspect", "-f", "{{.State.Status}}", "ff"]).stdout,
        "created\n"
    );
    let out = run(&["create", "--name", "gg", "--net=none", cx.rootfs(), "true"]);
    out.expect_rrun_error();
    let names: Vec<String> = fs::read_dir(data.join("names"))
        .expect("names")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["ff".to_string()], "[{mode}] no name left");
    let dirs = fs::read_dir(data.join("containers"))
        .expect("containers")
        .count();
    assert_eq!(dirs, 1, "[{mode}] no half-made record left");
    fs::remove_file(&filler).expect("rm filler");
    run(&["start", "ff"]).ok();
    let one = poll_until(SETTLE, || marked(&marker).len() == 1);
    assert!(one, "[{mode}] processes: {:?}", marked(&marker));
    run(&["rm", "-f", "ff"]).ok();
    assert!(poll_until(SETTLE, || marked(&marker).is_empty()));
}
