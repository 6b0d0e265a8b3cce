//! A container's lifecycle beyond one run: `create`, `start`, `restart`,
//! restart policies (`--restart`), and what a restart keeps — its name,
//! address, published ports, links — root and rootless.

#[macro_use]
mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::*;

both_modes!(
    create_then_start,
    create_refusals,
    on_failure_counts_and_stops,
    always_restarts_until_stopped,
    restart_keeps_the_network,
    start_of_a_taken_port_fails_cleanly,
    earlier_boot_is_exited,
    survives_a_reboot,
);

/// Poll the published port from the test's host until it answers as
/// `want` says (a restarted server needs a moment to listen again).
#[track_caller]
fn answers(cx: &Ctx, what: &str, p: Probe) {
    let mut got = String::new();
    let ok = poll_until(SETTLE, || {
        got = p.reply(&p.spawn_in(cx, host_ns(cx)).wait());
        p.matches(&got)
    });
    assert!(ok, "[{}] {what}: {} answers {got:?}", cx.mode, p.label());
}

fn create_then_start(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let out = cx.rrun(&[
        "create",
        "--name",
        "cc",
        "-e",
        "X=1",
        "--net=none",
        cx.rootfs(),
        "sh",
        "-c",
        "echo out-$X-$(cat /etc/hostname); exec sleep 1000",
    ]);
    out.ok();
    let id = out.stdout.trim().to_string();
    assert!(is_hex(&id, 64), "create prints the id\n{out}");
    assert_eq!(cx.ps_status("cc"), "Created");
    assert_eq!(
        cx.inspect_f("{{.State.Status}} {{.State.Pid}} {{.State.Running}}", "cc"),
        "created 0 false"
    );
    // Not running: plain ps leaves it out.
    let ps = cx.rrun(&["ps", "-q"]);
    ps.ok();
    assert_eq!(ps.stdout, "", "{ps}");

    let out = cx.rrun(&["start", "cc"]);
    out.ok();
    assert_eq!(
        out.stdout, "cc\n",
        "start prints the name it was given\n{out}"
    );
    cx.wait_logs("cc", &format!("out-1-{}", &id[..12]));
    assert_eq!(cx.inspect_f("{{.State.Status}}", "cc"), "running");
    let pid = cx.inspect_f("{{.State.Pid}}", "cc");

    // Starting a running container changes nothing.
    let out = cx.rrun(&["start", &id[..12]]);
    out.ok();
    assert_eq!(out.stdout, format!("{}\n", &id[..12]), "{out}");
    assert_eq!(cx.inspect_f("{{.State.Pid}}", "cc"), pid);

    // Stopped, it starts again from its spec, with its log kept.
    cx.rrun(&["stop", "-t", "0", "cc"]).ok();
    cx.wait_exited("cc");
    assert!(cx.ps_status("cc").starts_with("Exited (137)"));
    cx.rrun(&["start", "cc"]).ok();
    let logs = poll_until(SETTLE, || {
        cx.rrun(&["logs", "cc"]).stdout.matches("out-1-").count() == 2
    });
    assert!(logs, "[{mode}] the second run's output follows the first's");
    assert_ne!(cx.inspect_f("{{.State.Pid}}", "cc"), pid, "a new process");
    assert_eq!(
        cx.inspect_f("{{.Name}} {{.Config.Hostname}}", "cc"),
        format!("/cc {}", &id[..12])
    );

    // `start -a` runs it in the foreground and gives its exit code.
    let out = cx.rrun(&[
        "create",
        "--name",
        "fg",
        "--net=none",
        cx.rootfs(),
        "sh",
        "-c",
        "echo fg-out; exit 7",
    ]);
    out.ok();
    let out = cx.rrun(&["start", "-a", "fg"]);
    assert_eq!(out.code(), Some(7), "{out}");
    assert_eq!(out.stdout, "fg-out\n", "{out}");
    cx.rrun(&["rm", "-f", "cc", "fg"]).ok();
    cx.assert_nothing_left("create, start, stop, start and rm -f");
}

fn create_refusals(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    for (flags, said) in [
        (
            vec!["--restart", "always", "--rm"],
            "rrun: Conflicting options: --restart and --rm\n",
        ),
        (
            vec!["--restart", "sometimes"],
            "rrun: invalid restart policy sometimes\n",
        ),
        (
            vec!["--restart", "on-failure:-1"],
            "rrun: maximum retry count cannot be negative\n",
        ),
        (
            vec!["--restart", "always:3"],
            "rrun: maximum retry count cannot be used with restart policy 'always'\n",
        ),
        (
            vec!["--link", "nosuch:db"],
            "rrun: could not get container for nosuch: No such container: nosuch\n",
        ),
    ] {
        for cmd in ["create", "run"] {
            let mut a = vec![cmd];
            a.extend(&flags);
            a.extend([cx.rootfs(), "true"]);
            let out = cx.rrun(&a);
            out.expect_code(125);
            assert_eq!(out.stderr, said, "{cmd} {flags:?}\n{out}");
        }
    }
    let out = cx.rrun(&["start", "nosuch"]);
    out.expect_code(1);
    assert!(out.stderr.contains("No such container: nosuch"), "{out}");
    let out = cx.rrun(&["restart", "nosuch"]);
    out.expect_code(1);
    assert!(out.stderr.contains("nosuch"), "{out}");
    assert!(cx.containers().is_empty(), "nothing was made");
    cx.assert_nothing_left("refused creates");
}

fn on_failure_counts_and_stops(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(
        &["--name", "ff", "--net=none", "--restart", "on-failure:2"],
        &["sh", "-c", "echo run; exit 3"],
    );
    cx.wait_exited("ff");
    assert_eq!(
        cx.inspect_f(
            "{{.RestartCount}} {{.State.ExitCode}} {{json .HostConfig.RestartPolicy}}",
            "ff"
        ),
        r#"2 3 {"Name":"on-failure","MaximumRetryCount":2}"#
    );
    assert!(cx.ps_status("ff").starts_with("Exited (3)"));
    assert_eq!(
        cx.rrun(&["logs", "ff"]).stdout,
        "run\nrun\nrun\n",
        "one first run and two restarts"
    );
    // A successful exit is not a failure: no restart.
    cx.detach(
        &["--name", "okk", "--net=none", "--restart", "on-failure"],
        &["true"],
    );
    cx.wait_exited("okk");
    assert_eq!(cx.inspect_f("{{.RestartCount}}", "okk"), "0");
}

fn always_restarts_until_stopped(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(
        &["--name", "aa", "--net=none", "--restart", "always"],
        &["sh", "-c", "echo run; exit 1"],
    );
    let mut seen = String::new();
    let counting = poll_until(SETTLE, || {
        seen = cx.inspect_f("{{.RestartCount}} {{.State.Status}}", "aa");
        seen.split(' ').next().and_then(|n| n.parse::<u32>().ok()) >= Some(3)
    });
    assert!(counting, "[{mode}] always keeps restarting: {seen}");
    // Between runs (100 ms, doubling) it shows Docker's Restarting.
    let mut status = String::new();
    let restarting = poll_until(SETTLE, || {
        status = cx.ps_status("aa");
        status.starts_with("Restarting (1) ")
    });
    assert!(restarting, "[{mode}] ps shows Restarting (1) …: {status}");
    let out = cx.rrun(&["stop", "-t", "1", "aa"]);
    out.ok();
    cx.wait_exited("aa");
    let count = cx.inspect_f("{{.RestartCount}}", "aa");
    // Its monitor is gone (wait_exited): nothing restarts it now.
    assert_eq!(cx.inspect_f("{{.State.Status}}", "aa"), "exited");
    assert_eq!(cx.inspect_f("{{.RestartCount}}", "aa"), count);
    // rm -f ends a policy too, whatever the state.
    cx.detach(
        &["--name", "bb", "--net=none", "--restart", "always"],
        &["sh", "-c", "exit 1"],
    );
    cx.rrun(&["rm", "-f", "bb"]).ok();
    cx.rrun(&["rm", "-f", "aa"]).ok();
    cx.assert_nothing_left("stopped and removed restarting containers");
}

fn restart_keeps_the_network(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(
        &["--name", "db", "--expose", "5432"],
        &["sh", "-c", &servers(&[5432], &[])],
    );
    cx.detach(
        &["--name", "web", "--link", "db:db", "-p", "18090:80"],
        &["sh", "-c", &servers(&[80], &[])],
    );
    let (web_ip, db_ip) = (container_ip(&cx, "web"), container_ip(&cx, "db"));
    let pid = cx.inspect_f("{{.State.Pid}}", "web");
    let ports = cx.rrun(&["port", "web"]).stdout;
    let lo = published_peer(&cx, "127.0.0.1");
    answers(
        &cx,
        "before the restart",
        tcp_ok("127.0.0.1", 18090, &format!("tcp-80-{lo}")),
    );

    let out = cx.rrun(&["restart", "-t", "0", "web"]);
    out.ok();
    assert_eq!(out.stdout, "web\n", "{out}");
    assert_eq!(cx.inspect_f("{{.State.Status}}", "web"), "running");
    assert_ne!(cx.inspect_f("{{.State.Pid}}", "web"), pid, "a new process");
    assert_eq!(container_ip(&cx, "web"), web_ip, "its address is kept");
    assert_eq!(
        cx.rrun(&["port", "web"]).stdout,
        ports,
        "its ports are kept"
    );
    answers(
        &cx,
        "after the restart",
        tcp_ok("127.0.0.1", 18090, &format!("tcp-80-{lo}")),
    );
    // Its link still holds: the target's line and a connection to it.
    let out = cx.rrun(&[
        "exec",
        "web",
        "sh",
        "-c",
        "grep -w db /etc/hosts; echo $DB_NAME",
    ]);
    out.ok();
    assert!(
        out.stdout.starts_with(&format!("{db_ip}\tdb ")) && out.stdout.ends_with("/web/db\n"),
        "{out}"
    );

    // The target restarted keeps its address: the linker's files stay true.
    cx.rrun(&["restart", "-t", "0", "db"]).ok();
    assert_eq!(container_ip(&cx, "db"), db_ip);
    let mut out = None;
    let reached = poll_until(SETTLE, || {
        let o = cx.rrun(&["exec", "web", "socat", "-T", "2", "-", "TCP:db:5432"]);
        let hit = o.stdout.starts_with("tcp-5432-");
        out = Some(o);
        hit
    });
    assert!(
        reached,
        "[{mode}] web reaches the restarted db\n{}",
        out.expect("ran")
    );

    // Stopped and started, it gets its address back.
    cx.rrun(&["stop", "-t", "0", "web"]).ok();
    cx.wait_exited("web");
    // Not on the network while stopped, as in Docker.
    assert!(
        !leases(&cx).values().any(|c| c["Name"] == "web"),
        "{:?}",
        leases(&cx)
    );
    cx.rrun(&["start", "web"]).ok();
    assert_eq!(
        container_ip(&cx, "web"),
        web_ip,
        "its address after stop + start"
    );
    answers(
        &cx,
        "after stop and start",
        tcp_ok("127.0.0.1", 18090, &format!("tcp-80-{lo}")),
    );
    cx.rrun(&["rm", "-f", "web", "db"]).ok();
    assert!(leases(&cx).is_empty(), "rm gives the addresses back");
}

fn start_of_a_taken_port_fails_cleanly(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let out = cx.rrun(&[
        "create",
        "--name",
        "late",
        "-p",
        "18091:80",
        cx.rootfs(),
        "sleep",
        "1000",
    ]);
    out.ok();
    cx.detach(&["--name", "first", "-p", "18091:80"], &["sleep", "1000"]);
    let veths = rrun_veths(&cx);
    let out = cx.rrun(&["start", "late"]);
    // Docker's start exits 1 whatever failed, in one line here.
    out.expect_code(1);
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert!(
        out.stderr.contains("18091") && out.stderr.contains("first"),
        "the error names the port and who holds it\n{out}"
    );
    assert_eq!(cx.inspect_f("{{.State.Status}}", "late"), "created");
    assert_eq!(rrun_veths(&cx), veths, "no veth was left");
    assert_eq!(leases(&cx).len(), 1, "no lease was left: {:?}", leases(&cx));
    // Once the port is free, it starts.
    cx.rrun(&["rm", "-f", "first"]).ok();
    cx.rrun(&["start", "late"]).ok();
    assert_eq!(cx.inspect_f("{{.State.Status}}", "late"), "running");
    cx.rrun(&["rm", "-f", "late"]).ok();
}

/// A record from an earlier boot (its monitor's boot id is another's) is of
/// a container that is not running, whatever its pids are now; it starts.
fn earlier_boot_is_exited(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx.detach(&["--name", "old", "--net=none"], &["sleep", "1000"]);
    cx.rrun(&["stop", "-t", "0", "old"]).ok();
    cx.wait_exited("old");
    let p = cx.state.join("containers").join(&id).join("state.json");
    let mut st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&p).expect("state.json")).expect("json");
    // As it was when the machine went down: running, under a live pid.
    st["status"] = "running".into();
    st["monitor_pid"] = (std::process::id() as i64).into();
    st["monitor_start"] = start_time(std::process::id() as i32).into();
    st["boot_id"] = "00000000-0000-0000-0000-000000000000".into();
    std::fs::write(&p, serde_json::to_vec(&st).expect("json")).expect("writing state.json");
    assert!(cx.ps_status("old").starts_with("Exited (137)"));
    cx.rrun(&["start", "old"]).ok();
    assert_eq!(cx.inspect_f("{{.State.Status}}", "old"), "running");
    cx.rrun(&["rm", "-f", "old"]).ok();
}

/// rrun with its containers kept in `data` (RRUN_DATA) apart from the
/// runtime directory (RRUN_ROOT).
fn rrun_data(cx: &Ctx, data: &std::path::Path, args: &[&str]) -> Output {
    let mut c = cx.cmd(args);
    c.env("RRUN_DATA", data);
    cx.run(c, Input::Null)
}

/// A reboot empties the runtime directory (a tmpfs) and takes the
/// network, the holder and every process with it: a stopped container,
/// kept in the data directory, is listed and starts again, on its address.
fn survives_a_reboot(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let data = cx.state.join("kept");
    let script = servers(&[80], &[]);
    let out = rrun_data(
        &cx,
        &data,
        &[
            "run",
            "-d",
            "--name",
            "keep",
            "-p",
            "18092:80",
            cx.rootfs(),
            "sh",
            "-c",
            &script,
        ],
    );
    out.ok();
    let ip = rrun_data(
        &cx,
        &data,
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "keep"],
    );
    ip.ok();
    rrun_data(&cx, &data, &["stop", "-t", "0", "keep"]).ok();
    assert!(
        data.join("containers").join(out.stdout.trim()).is_dir(),
        "the record is in the data directory"
    );
    assert!(!cx.state.join("containers").join(out.stdout.trim()).exists());

    // The "reboot": the network and the rootless namespaces go, and the
    // runtime directory is emptied.
    for pid in [cx.holder(), cx.pasta()].into_iter().flatten() {
        // SAFETY: SIGKILL to the holder or pasta of this test's rrun.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    if mode == Mode::Root {
        sh_bridge_ns(
            &cx,
            "ip link del rrun0; nft delete table ip rrun; nft delete table bridge rrun; true",
        )
        .ok();
    }
    for ent in std::fs::read_dir(&cx.state)
        .expect("the runtime directory")
        .flatten()
    {
        if ent.path() != data {
            remove_tree(&ent.path());
        }
    }

    let ps = rrun_data(
        &cx,
        &data,
        &["ps", "-a", "--format", "{{.Names}} {{.Status}}"],
    );
    ps.ok();
    assert!(ps.stdout.starts_with("keep Exited (137)"), "{ps}");
    rrun_data(&cx, &data, &["start", "keep"]).ok();
    let again = rrun_data(
        &cx,
        &data,
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "keep"],
    );
    assert_eq!(again.stdout, ip.stdout, "its address again");
    let lo = published_peer(&cx, "127.0.0.1");
    answers(
        &cx,
        "after the reboot",
        tcp_ok("127.0.0.1", 18092, &format!("tcp-80-{lo}")),
    );
    rrun_data(&cx, &data, &["rm", "-f", "keep"]).ok();
}
