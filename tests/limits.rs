//! Resource limits (issue 17): --memory, --memory-swap, --cpus and
//! --pids-limit, enforced by the kernel through cgroups of the container's
//! own (v1 controllers on hybrid hosts like these, v2 where it has them),
//! shown by inspect, joined by `rrun exec`, gone with the container (also
//! after its monitor was SIGKILLed). Bad values get Docker's words and 125
//! and leave nothing. Rootless, limits need a delegated cgroup v2 subtree:
//! where there is none (cgroup v1 here) a limit is refused, never dropped.

#[macro_use]
mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

both_modes!(
    bad_values_are_refused_and_leave_nothing,
    rootless_limits_need_delegated_v2,
);

mod root_only {
    #[test]
    fn limits_are_set_shown_and_removed() {
        super::limits_are_set_shown_and_removed()
    }
    #[test]
    fn memory_limit_is_enforced_by_the_oom_killer() {
        super::memory_limit_is_enforced_by_the_oom_killer()
    }
    #[test]
    fn an_oom_kill_leaves_the_monitor_and_its_ports() {
        super::an_oom_kill_leaves_the_monitor_and_its_ports()
    }
    #[test]
    fn pids_limit_stops_a_fork_bomb() {
        super::pids_limit_stops_a_fork_bomb()
    }
    #[test]
    fn cpus_hold_a_busy_loop_to_half_a_core() {
        super::cpus_hold_a_busy_loop_to_half_a_core()
    }
    #[test]
    fn a_killed_monitors_cgroups_go_with_rm() {
        super::a_killed_monitors_cgroups_go_with_rm()
    }
    #[test]
    fn crashes_leave_no_cgroup() {
        super::crashes_leave_no_cgroup()
    }
    #[test]
    fn a_killed_monitors_cgroups_are_reclaimed() {
        super::a_killed_monitors_cgroups_are_reclaimed()
    }
}

/// The container's limit cgroups, as its record names them.
fn limit_dirs(cx: &Ctx, id: &str) -> Vec<PathBuf> {
    let st = cx.state_json(id).expect("state.json");
    st["limit_cgroups"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(PathBuf::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The value of the first of `files` found in any of `dirs`.
fn read_any(dirs: &[PathBuf], files: &[&str]) -> Option<String> {
    dirs.iter().find_map(|d| {
        files
            .iter()
            .find_map(|f| fs::read_to_string(d.join(f)).ok())
            .map(|s| s.trim().to_string())
    })
}

/// Every rrun-made cgroup directory on the host (v1 hierarchies and v2).
fn rrun_cgroups() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for base in [
        "/sys/fs/cgroup/memory/rrun",
        "/sys/fs/cgroup/cpu/rrun",
        "/sys/fs/cgroup/cpuacct/rrun",
        "/sys/fs/cgroup/cpu,cpuacct/rrun",
        "/sys/fs/cgroup/pids/rrun",
        "/sys/fs/cgroup/rrun",
        "/sys/fs/cgroup/unified/rrun",
    ] {
        if let Ok(rd) = fs::read_dir(base) {
            out.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
    out
}

/// Those of `id`.
fn cgroups_named(id: &str) -> Vec<PathBuf> {
    rrun_cgroups()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(id))
        })
        .collect()
}

fn procs_of(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn bad_values_are_refused_and_leave_nothing(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _c = Cleanup::new(&cx);
    let cases: &[(&[&str], &str)] = &[
        (
            &["--memory", "1x"],
            "invalid argument \"1x\" for \"-m, --memory\" flag: invalid suffix: 'x'",
        ),
        (
            &["-m", "-1"],
            "invalid argument \"-1\" for \"-m, --memory\" flag: invalid size: '-1'",
        ),
        (&["--memory", "4m"], "Minimum memory limit allowed is 6MB"),
        (
            &["--memory-swap", "64m"],
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ),
        (
            &["--memory", "64m", "--memory-swap", "32m"],
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        (
            &["--memory", "64m", "--memory-swap", "1q"],
            "invalid argument \"1q\" for \"--memory-swap\" flag: invalid suffix: 'q'",
        ),
        (&["--cpus", "-1"], "Range of CPUs is from 0.01 to "),
        (&["--cpus", "1000"], "as there are only "),
        (
            &["--cpus", "abc"],
            "invalid argument \"abc\" for \"--cpus\" flag: failed to parse abc as a rational number",
        ),
        (
            &["--pids-limit", "0"],
            "invalid argument \"0\" for \"--pids-limit\" flag:",
        ),
        (
            &["--pids-limit", "x"],
            "invalid argument \"x\" for \"--pids-limit\" flag: strconv.ParseInt: parsing \"x\": invalid syntax",
        ),
    ];
    for (flags, words) in cases {
        let mut args: Vec<&str> = vec!["run", "--rm", "--net=none"];
        args.extend_from_slice(flags);
        args.extend([cx.rootfs(), "true"]);
        let out = cx.rrun(&args);
        out.expect_code(125);
        let first = out
            .stderr_lines()
            .first()
            .copied()
            .unwrap_or("")
            .to_string();
        assert!(
            first.starts_with("rrun: ") && first.contains(words),
            "{flags:?}: Docker's words {words:?} on rrun's one line\n{out}"
        );
        // `create` checks the same, before anything is made.
        let mut args: Vec<&str> = vec!["create", "--net=none"];
        args.extend_from_slice(flags);
        args.push(cx.rootfs());
        cx.rrun(&args).expect_code(125);
    }
    assert_eq!(cx.containers(), Vec::<String>::new(), "no record is left");
    // No cgroup is made either: the values are refused before anything
    // (the other tests here make cgroups meanwhile, so the host's list is
    // not compared); `crashes_leave_no_cgroup` covers the later failures.
    cx.assert_nothing_left("refused limits");
}

fn rootless_limits_need_delegated_v2(mode: Mode) {
    if mode == Mode::Root {
        // Root sets limits wherever the controllers are: the other tests.
        return;
    }
    let Some(cx) = Ctx::new(mode) else { return };
    let _c = Cleanup::new(&cx);
    let v2_memory = fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
        .is_ok_and(|c| c.split_whitespace().any(|w| w == "memory"));
    for (flag, value, controller) in [
        ("--memory", "64m", "memory"),
        ("--cpus", "0.5", "cpu"),
        ("--pids-limit", "50", "pids"),
    ] {
        let out = cx.rrun(&[
            "run",
            "--rm",
            "--net=none",
            flag,
            value,
            cx.rootfs(),
            "cat",
            "/proc/self/cgroup",
        ]);
        if v2_memory && out.code() == Some(0) {
            // A delegated v2 subtree: the container is in a cgroup of its own.
            assert!(out.stdout.contains("/rrun-"), "{out}");
            continue;
        }
        out.expect_code(125);
        let line = out.stderr_lines().join("\n");
        assert!(
            line.starts_with(&format!("rrun: {flag}: rootless limits need")),
            "a refusal naming the flag\n{out}"
        );
        if !v2_memory {
            assert!(
                line.contains(&format!(
                    "this host's {controller} controller is on cgroup v1"
                )),
                "{out}"
            );
        }
    }
    assert_eq!(cx.containers(), Vec::<String>::new());
    cx.assert_nothing_left("refused rootless limits");
}

fn limits_are_set_shown_and_removed() {
    let Some(cx) = Ctx::new_needing_root(Mode::Root, "cgroups") else {
        return;
    };
    let _c = Cleanup::new(&cx);
    let id = cx.detach(
        &[
            "--net=none",
            "--name",
            "lim",
            "-m",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "100",
        ],
        &["sleep", "1000"],
    );
    let dirs = limit_dirs(&cx, &id);
    assert!(!dirs.is_empty(), "the record names its cgroups");
    let get = |files: &[&str]| read_any(&dirs, files).unwrap_or_default();
    assert_eq!(get(&["memory.limit_in_bytes", "memory.max"]), "67108864");
    let cpu = get(&["cpu.cfs_quota_us", "cpu.max"]);
    assert!(cpu == "50000" || cpu == "50000 100000", "{cpu}");
    assert_eq!(get(&["pids.max"]), "100");
    if let Some(sw) = read_any(&dirs, &["memory.memsw.limit_in_bytes"]) {
        assert_eq!(sw, "134217728", "--memory alone: twice as much memory+swap");
    }
    // Inspect shows Docker's fields.
    let v = cx.inspect_json("lim");
    let hc = &v["HostConfig"];
    assert_eq!(hc["Memory"], 67108864);
    assert_eq!(hc["MemorySwap"], 134217728);
    assert_eq!(hc["NanoCpus"], 500000000);
    assert_eq!(hc["PidsLimit"], 100);
    assert_eq!(v["State"]["OOMKilled"], false);
    // The container alone is in them, not its monitor.
    let st = cx.state_json(&id).expect("state.json");
    let pid = st["pid"].as_i64().expect("pid") as i32;
    let monitor = st["monitor_pid"].as_i64().expect("monitor pid") as i32;
    for d in &dirs {
        let procs = procs_of(d);
        assert_eq!(
            procs,
            vec![pid],
            "{}: the container's process only",
            d.display()
        );
        assert!(!procs.contains(&monitor));
    }
    // An exec'd command counts as the container's.
    let out = cx.rrun(&["exec", "lim", "cat", "/proc/self/cgroup"]);
    out.ok();
    let name = dirs[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        out.stdout.lines().filter(|l| l.ends_with(&name)).count() >= dirs.len(),
        "exec joins every limit cgroup ({name})\n{out}"
    );
    // A restart gets them again.
    cx.rrun(&["restart", "-t", "0", "lim"]).ok();
    let again = limit_dirs(&cx, &id);
    assert!(!again.is_empty());
    assert_eq!(read_any(&again, &["pids.max"]).as_deref(), Some("100"));
    cx.rrun(&["rm", "-f", "lim"]).ok();
    assert!(
        poll_until(SETTLE, || again.iter().chain(&dirs).all(|d| !d.exists())),
        "its cgroups go with it: {:?}",
        cgroups_named(&id)
    );
    // The container sees its own limits in /sys/fs/cgroup, as in Docker
    // (runtimes size heaps and thread pools by them), and cannot change
    // them.
    let out = cx.rrun(&[
        "run",
        "--rm",
        "--net=none",
        "-m",
        "64m",
        "--pids-limit",
        "100",
        cx.rootfs(),
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max \
             /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; \
         for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max; do \
             [ -e $f ] && echo 1 > $f && echo WROTE; done; true",
    ]);
    out.ok();
    assert_eq!(out.lines()[..2], ["67108864", "100"], "{out}");
    assert!(!out.stdout.contains("WROTE"), "read-only\n{out}");
    // --init needs a second process: at a limit of 1, one clear line.
    let out = cx.rrun(&[
        "run",
        "--rm",
        "--net=none",
        "--init",
        "--pids-limit",
        "1",
        cx.rootfs(),
        "true",
    ]);
    out.expect_code(125);
    assert!(out.stderr.contains("--init: starting the command"), "{out}");
    cx.rrun(&[
        "run",
        "--rm",
        "--net=none",
        "--init",
        "--pids-limit",
        "2",
        cx.rootfs(),
        "true",
    ])
    .ok();
    // create + start keeps them, and a container without limits gets none.
    let out = cx.rrun(&[
        "create",
        "--net=none",
        "--pids-limit",
        "7",
        cx.rootfs(),
        "sleep",
        "1000",
    ]);
    out.ok();
    let cid = out.stdout.trim().to_string();
    cx.rrun(&["start", &cid]).ok();
    assert_eq!(
        read_any(&limit_dirs(&cx, &cid), &["pids.max"]).as_deref(),
        Some("7")
    );
    let plain = cx.detach(&["--net=none"], &["sleep", "1000"]);
    assert!(limit_dirs(&cx, &plain).is_empty());
    assert_eq!(
        cx.inspect_f("{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", &plain),
        "0 <nil>"
    );
    cx.rrun(&["rm", "-f", &cid, &plain]).ok();
}

fn memory_limit_is_enforced_by_the_oom_killer() {
    let Some(cx) = Ctx::new_needing_root(Mode::Root, "cgroups") else {
        return;
    };
    let _c = Cleanup::new(&cx);
    let hog = ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"];
    // The container's own process: killed, 137, OOMKilled, ps says so.
    let mut args = vec![
        "run",
        "--name",
        "oom1",
        "--net=none",
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        cx.rootfs(),
    ];
    args.extend(hog);
    cx.rrun(&args).expect_code(137);
    assert_eq!(
        cx.inspect_f("{{.State.OOMKilled}} {{.State.ExitCode}}", "oom1"),
        "true 137"
    );
    assert!(
        cx.ps_status("oom1").starts_with("Exited (137)"),
        "{}",
        cx.ps_status("oom1")
    );
    // A child killed: the container lives on, and is marked as Docker does.
    let script = format!("{}; echo dd=$?", hog.join(" "));
    let out = cx.rrun(&[
        "run",
        "--name",
        "oom2",
        "--net=none",
        "-m",
        "16m",
        cx.rootfs(),
        "sh",
        "-c",
        &script,
    ]);
    out.ok();
    assert!(out.stdout.contains("dd=137"), "{out}");
    assert_eq!(
        cx.inspect_f("{{.State.OOMKilled}} {{.State.ExitCode}}", "oom2"),
        "true 0"
    );
    // Without a limit the same command runs.
    let mut args = vec!["run", "--rm", "--net=none", cx.rootfs()];
    args.extend(hog);
    cx.rrun(&args).ok();
    // The monitor lives outside the cgroup: it survives, restarts the
    // container (which starts with OOMKilled false), and records the end.
    let out = cx.rrun(&[
        "run",
        "-d",
        "--name",
        "oom3",
        "--net=none",
        "--restart",
        "on-failure:1",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        cx.rootfs(),
        "sh",
        "-c",
        "exec dd if=/dev/zero of=/dev/null bs=64M count=1",
    ]);
    out.ok();
    assert!(
        poll_until(SETTLE, || cx
            .inspect_f("{{.State.Status}} {{.RestartCount}}", "oom3")
            == "exited 1"),
        "{}",
        cx.inspect_f("{{.State.Status}} {{.RestartCount}}", "oom3")
    );
    assert_eq!(
        cx.inspect_f("{{.State.OOMKilled}} {{.State.ExitCode}}", "oom3"),
        "true 137"
    );
    cx.rrun(&["rm", "oom1", "oom2", "oom3"]).ok();
}

fn an_oom_kill_leaves_the_monitor_and_its_ports() {
    let Some(cx) = net::net_ctx(Mode::Root) else {
        return;
    };
    let _c = Cleanup::new(&cx);
    let id = cx.detach(
        &[
            "--name",
            "svc",
            "-p",
            "8080:80",
            "-m",
            "32m",
            "--memory-swap",
            "32m",
        ],
        &[
            "sh",
            "-c",
            "socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo hi' & \
             dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1000",
        ],
    );
    // inspect shows the kill while the container runs, as Docker's event.
    assert!(
        poll_until(SETTLE, || cx.inspect_f("{{.State.OOMKilled}}", "svc")
            == "true"),
        "{}",
        cx.inspect_f("{{json .State}}", "svc")
    );
    assert_eq!(cx.inspect_f("{{.State.Status}}", "svc"), "running");
    let st = cx.state_json(&id).expect("state.json");
    let monitor = st["monitor_pid"].as_i64().expect("monitor") as i32;
    assert!(pid_alive(monitor), "the monitor lives on");
    // The published port still answers, through the forwarder (loopback).
    let out = cx.run(
        net::in_ns(
            net::host_ns(&cx),
            "socat",
            &["-T", "5", "-", "TCP:127.0.0.1:8080"],
        ),
        Input::Null,
    );
    assert!(
        out.stdout.contains("hi"),
        "the port answers after the OOM kill\n{out}"
    );
    cx.rrun(&["rm", "-f", "svc"]).ok();
}

fn pids_limit_stops_a_fork_bomb() {
    let Some(cx) = Ctx::new_needing_root(Mode::Root, "cgroups") else {
        return;
    };
    let _c = Cleanup::new(&cx);
    let id = cx.detach(
        &["--net=none", "--name", "bomb", "--pids-limit", "100"],
        &["sh", "-c", "f() { f | f & }; f; sleep 1000"],
    );
    let dirs = limit_dirs(&cx, &id);
    let current = || {
        read_any(&dirs, &["pids.current"])
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // The bomb reaches the limit and the kernel refuses it more.
    let refused = || {
        read_any(&dirs, &["pids.events"])
            .and_then(|s| {
                s.split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    assert!(
        poll_until(SETTLE, || refused() > 0),
        "the fork bomb hits the limit (pids.current {})",
        current()
    );
    for _ in 0..20 {
        assert!(current() <= 100, "never past the limit: {}", current());
    }
    // The caller can still fork and run things, rrun included.
    let t = Instant::now();
    let ok = std::process::Command::new("/bin/true")
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok && t.elapsed() < Duration::from_secs(5), "the host forks");
    cx.rrun(&["ps", "-q"]).ok();
    cx.rrun(&["rm", "-f", "bomb"]).ok();
    assert!(
        poll_until(SETTLE, || dirs.iter().all(|d| !d.exists())),
        "the bomb and its cgroups are gone: {:?}",
        cgroups_named(&id)
    );
}

fn cpus_hold_a_busy_loop_to_half_a_core() {
    let Some(cx) = Ctx::new_needing_root(Mode::Root, "cgroups") else {
        return;
    };
    let _c = Cleanup::new(&cx);
    // Two busy loops: unlimited they would take both cores.
    let id = cx.detach(
        &["--net=none", "--cpus", "0.5"],
        &["sh", "-c", "while :; do :; done & while :; do :; done"],
    );
    let dirs = limit_dirs(&cx, &id);
    // The container's own CPU accounting, in ns.
    let used = || -> u64 {
        if let Some(ns) = read_any(&dirs, &["cpuacct.usage"]) {
            return ns.parse().unwrap_or(0);
        }
        read_any(&dirs, &["cpu.stat"])
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("usage_usec "))
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .map_or(0, |us| us * 1000)
    };
    let (a, t) = (used(), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let cores = (used() - a) as f64 / t.elapsed().as_nanos() as f64;
    cx.rrun(&["rm", "-f", &id]).ok();
    assert!(
        cores <= 0.6,
        "--cpus 0.5 holds two busy loops to half a core: {cores:.3}"
    );
    // A loaded CI machine may give it less; a limit that held it near 0
    // would be wrong too.
    assert!(cores >= 0.2, "the container still ran: {cores:.3} cores");
}

/// A container with limits whose monitor and process were SIGKILLed: its
/// id and its cgroups (still there).
fn killed_monitor(cx: &Ctx) -> (String, Vec<PathBuf>) {
    let id = cx.detach(
        &["--net=none", "--pids-limit", "50", "-m", "32m"],
        &["sleep", "1000"],
    );
    let dirs = limit_dirs(cx, &id);
    assert!(!dirs.is_empty());
    let st = cx.state_json(&id).expect("state.json");
    let (pid, monitor) = (
        st["pid"].as_i64().expect("pid") as i32,
        st["monitor_pid"].as_i64().expect("monitor") as i32,
    );
    // SAFETY: signals to the processes this test's rrun started (their
    // start times are in the record the test just read).
    unsafe {
        libc::kill(monitor, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
    assert!(poll_until(SETTLE, || !pid_alive(pid) && !pid_alive(monitor)));
    (id, dirs)
}

fn a_killed_monitors_cgroups_are_reclaimed() {
    let Some(cx) = Ctx::new_needing_root(Mode::Root, "cgroups") else {
        return;
    };
    let _c = Cleanup::new(&cx);
    let (id, dirs) = killed_monitor(&cx);
    // The next run gives back what the dead monitor left.
    cx.rrun(&["run", "--rm", "--net=none", cx.rootfs(), "true"])
        .ok();
    assert!(
        dirs.iter().all(|d| !d.exists()),
        "a dead monitor's cgroups are removed by the next run: {:?}",
        cgroups_named(&id)
    );
}

/// A container whose monitor was SIGKILLed, removed with `rm` (as
/// `system reset` removes every container), takes its cgroups with it:
/// no later run is needed.
fn a_killed_monitors_cgroups_go_with_rm() {
    let Some(cx) = Ctx::new_needing_root(Mode::Root, "cgroups") else {
        return;
    };
    let _c = Cleanup::new(&cx);
    let (id, dirs) = killed_monitor(&cx);
    cx.rrun(&["rm", &id]).ok();
    assert!(
        dirs.iter().all(|d| !d.exists()),
        "a dead monitor's cgroups go with its container's rm: {:?}",
        cgroups_named(&id)
    );
}

/// Whether the cgroup `dir` (named ID-MONITORPID-START) belongs to a
/// monitor that is gone.
fn dead_monitors(dir: &Path) -> bool {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut it = name.rsplitn(3, '-');
    let (Some(start), Some(pid)) = (it.next(), it.next()) else {
        return false;
    };
    let (Ok(start), Ok(pid)) = (start.parse::<u64>(), pid.parse::<i32>()) else {
        return false;
    };
    start_time(pid) != Some(start)
}

/// RRUN_TEST_CRASH_AT at each stage of a start with limits: after one more
/// run, no cgroup of the crashed container is left.
fn crashes_leave_no_cgroup() {
    let Some(cx) = Ctx::new_needing_root(Mode::Root, "cgroups") else {
        return;
    };
    let _c = Cleanup::new(&cx);
    for stage in [
        "state-created",
        "cloned",
        "child-setup",
        "child-mounted",
        "started",
        "exited",
        "teardown",
    ] {
        let before = rrun_cgroups();
        let cmd: &[&str] = if matches!(stage, "exited" | "teardown") {
            &["true"]
        } else {
            &["sleep", "1000"]
        };
        let mut args = vec![
            "run",
            "--rm",
            "--net=none",
            "-m",
            "32m",
            "--cpus",
            "1",
            "--pids-limit",
            "20",
            cx.rootfs(),
        ];
        args.extend_from_slice(cmd);
        let mut c = cx.cmd(&args);
        c.env("RRUN_TEST_CRASH_AT", stage);
        let out = cx.run(c, Input::Null);
        assert_ne!(out.code(), Some(0), "{stage}: rrun was stopped\n{out}");
        // The container goes with its monitor (PDEATHSIG), asynchronously;
        // the next run reclaims what the dead monitor left.
        let left = || -> Vec<PathBuf> {
            rrun_cgroups()
                .into_iter()
                .filter(|d| !before.contains(d) && dead_monitors(d))
                .collect()
        };
        assert!(
            poll_until(SETTLE, || {
                cx.rrun_quiet(&["run", "--rm", "--net=none", cx.rootfs(), "true"], TIMEOUT);
                left().is_empty()
            }),
            "{stage}: a dead monitor's cgroups are left: {:?}",
            left()
        );
    }
    cx.assert_nothing_left("crashes with limits");
}
