//! RRUN_TEST_CRASH_AT=STAGE: rrun SIGKILLs itself at STAGE (the container
//! process reports 125 for the `child-*` stages). Whatever the stage, no
//! container process and no mount is left behind, and the next rrun
//! invocation reclaims the state: with --rm, nothing remains; without it, the
//! crashed container may stay listed as exited (as in Docker), is not
//! running, and `rrun rm -f` removes it. A rootless holder may stay (it is
//! meant to live on); the test's cleanup kills it.

#[macro_use]
mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use std::time::Duration;

/// One module per stage, with a test per mode: `STAGE::root`,
/// `STAGE::rootless` (with --rm), `STAGE::root_kept`, `STAGE::rootless_kept`
/// (without).
macro_rules! crash_stages {
    ($($id:ident => $stage:literal),* $(,)?) => {$(
        mod $id {
            #[test]
            fn root() {
                super::crash_at($stage, $crate::common::Mode::Root)
            }
            #[test]
            fn rootless() {
                super::crash_at($stage, $crate::common::Mode::Rootless)
            }
            #[test]
            fn root_kept() {
                super::crash_at_kept($stage, $crate::common::Mode::Root)
            }
            #[test]
            fn rootless_kept() {
                super::crash_at_kept($stage, $crate::common::Mode::Rootless)
            }
        }
    )*};
}

// In the order of notes/CONTRACT.md.
crash_stages!(
    parsed => "parsed",
    state_created => "state-created",
    holder_forked => "holder-forked",
    holder_mapped => "holder-mapped",
    cloned => "cloned",
    child_setup => "child-setup",
    child_mounted => "child-mounted",
    child_before_exec => "child-before-exec",
    started => "started",
    exited => "exited",
    teardown => "teardown",
);

fn crash_at(stage: &str, mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    if !crash(&cx, stage, true) {
        return;
    }
    cx.assert_nothing_left(&format!("a crash at {stage} (--rm) and one more run"));
}

fn crash_at_kept(stage: &str, mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    if !crash(&cx, stage, false) {
        return;
    }
    // What is left is a record of a container that is not running.
    let ps = cx.rrun(&["ps", "-q", "--no-trunc"]);
    ps.ok();
    assert_eq!(
        ps.stdout, "",
        "after a crash at {stage}, ps lists a running container\n{ps}"
    );
    for id in cx.containers() {
        cx.rrun(&["rm", "-f", &id]).ok();
    }
    cx.assert_nothing_left(&format!("a crash at {stage}, one more run and rm -f"));
}

/// Crash at `stage`, check that no process and no mount is left, and run
/// once more. False when the stage does not apply (holder stages as root).
fn crash(cx: &Ctx, stage: &str, rm: bool) -> bool {
    let mode = cx.mode;
    let rm_opt: &[&str] = if rm { &["--rm"] } else { &[] };
    if stage.starts_with("holder-") && mode == Mode::Root {
        // Root makes no holder: the stage is never reached.
        let mut args = rm_opt.to_vec();
        args.extend([cx.rootfs(), "/bin/true"]);
        let mut cmd = cx.cmd(&args);
        cmd.env("RRUN_TEST_CRASH_AT", stage);
        cx.run(cmd, Input::Null).ok();
        if rm {
            cx.assert_nothing_left(&format!("RRUN_TEST_CRASH_AT={stage} as root"));
        }
        return false;
    }
    let marker = unique_marker(stage);
    // The stages after the command ran need a command that ends by itself;
    // before that, one that would outlive the test if nothing killed it.
    let script = if matches!(stage, "exited" | "teardown") {
        format!(": {marker}")
    } else {
        format!("sleep 1000; : {marker}")
    };
    let mut cmd = cx.cmd(&cx.sh_args_keep(rm_opt, &script));
    cmd.env("RRUN_TEST_CRASH_AT", stage);
    let out = cx.run(cmd, Input::Null);
    if stage.starts_with("child-") {
        assert!(
            out.code() == Some(125) && out.stderr.starts_with("rrun: "),
            "a crash in the container process before exec: rrun reports 125\n{out}"
        );
    } else {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGKILL),
            "rrun killed itself at {stage}\n{out}"
        );
    }

    // The container goes with rrun (PDEATHSIG), asynchronously.
    let mut left = Vec::new();
    let gone = poll_until(Duration::from_secs(5), || {
        left = procs_with_cmdline(&marker);
        left.is_empty()
    });
    assert!(
        gone,
        "after a crash at {stage}, processes of the container are still alive 5 s later: {left:?}\n{out}"
    );
    let mounts = cx.env.leaked_mounts();
    assert!(
        mounts.is_empty(),
        "after a crash at {stage}, host mountinfo lines under {}:\n{}",
        cx.env.dir.display(),
        mounts.join("\n")
    );

    // The next run works (and sweeps what the crashed one left).
    let next = cx.rrun(&["--rm", cx.rootfs(), "/bin/true"]);
    assert_eq!(
        next.code(),
        Some(0),
        "the run after a crash at {stage} must work\n{next}\n(the crashed run:)\n{out}"
    );
    true
}

// ---------------------------------------------------------------------------
// Crashes of a bridge-mode run with a published port, in both modes (the
// rootless bridge lives in the user's network namespace, held by the
// holder): the next rrun gives back the veth, the DNAT element, the lease
// and the host port; a crashed container stays listed as Exited until rm;
// the same -p works again at once, with exactly one element for its port.

/// One module per stage: `STAGE::root`, `STAGE::rootless`.
macro_rules! net_crash_stages {
    ($($id:ident => $stage:literal),* $(,)?) => {$(
        mod $id {
            #[test]
            fn root() {
                super::net_crash_at($stage, $crate::common::Mode::Root)
            }
            #[test]
            fn rootless() {
                super::net_crash_at($stage, $crate::common::Mode::Rootless)
            }
        }
    )*};
}

net_crash_stages!(
    net_parsed => "parsed",
    net_state_created => "state-created",
    net_cloned => "cloned",
    net_veth_created => "veth-created",
    net_net_recorded => "net-recorded",
    net_nft_added => "nft-added",
    net_attached => "attached",
    net_child_mounted => "child-mounted",
    net_started => "started",
    net_exited => "exited",
    net_release_start => "release-start",
    net_nft_removed => "nft-removed",
    net_lease_released => "lease-released",
    net_teardown => "teardown",
);

/// Stages a run reaches only where a container's ports are kernel NAT's
/// map elements: as root (rootless, the forwarder serves every port).
fn reached(stage: &str, mode: Mode) -> bool {
    mode == Mode::Root || !matches!(stage, "nft-added" | "release-start" | "nft-removed")
}

/// Stages after the container's command ended.
fn after_exit(stage: &str) -> bool {
    matches!(
        stage,
        "exited" | "teardown" | "release-start" | "nft-removed" | "lease-released"
    )
}

/// The published port of these tests (each test has a network namespace
/// of its own, so they never collide).
const PORT: u16 = 18080;

/// What the network holds: the veths (rrv…) where the bridge is, the
/// text of rrun's nftables table there, and the leases' owners.
struct NetView {
    veths: Vec<String>,
    table: String,
    leases: Vec<String>,
    /// Live and kept (stopped containers keep theirs until rm).
    all_leases: Vec<String>,
}

impl NetView {
    fn elements(&self, port: u16) -> usize {
        self.table.matches(&format!("{port} : ")).count()
    }
}

fn net_view(cx: &Ctx) -> NetView {
    let table = net::sh_bridge_ns(cx, "nft list table ip rrun 2>/dev/null; true");
    table.ok();
    let table = table.stdout;
    let veths = net::rrun_veths(cx);
    let file = std::fs::read(cx.state.join("network/leases.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .unwrap_or_default();
    let all_leases: Vec<String> = file["leases"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|o| o.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    // Stopped containers keep their address until rm: not a live lease.
    let kept: Vec<String> = file["kept"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let leases = all_leases
        .iter()
        .filter(|o| !kept.contains(o))
        .cloned()
        .collect();
    NetView {
        veths,
        table,
        leases,
        all_leases,
    }
}

/// Crash at `stage` twice — a foreground run (rrun is the monitor) and a
/// detached one (the forked monitor dies, the CLI reports) — both with
/// --net=bridge -p PORT:80 and no --rm; then check what the next runs find.
fn net_crash_at(stage: &str, mode: Mode) {
    let Some(cx) = Ctx::new_needing_root(mode, "the test's own network namespace, its \"host\"")
    else {
        return;
    };
    if !reached(stage, mode) {
        // Nothing to crash at: the run works, and leaves nothing.
        let mut cmd = cx.cmd(&["--rm", "-p", "18080:80", cx.rootfs(), "true"]);
        cmd.env("RRUN_TEST_CRASH_AT", stage);
        cx.run(cmd, Input::Null).ok();
        return;
    }
    let _clean = Cleanup::new(&cx);
    let publish = format!("{PORT}:80");
    let opts = ["--net=bridge", "-p", publish.as_str()];
    let ends = after_exit(stage);
    let child = stage.starts_with("child-");
    for detach in [false, true] {
        let marker = unique_marker(stage);
        let script = if ends {
            format!(": {marker}")
        } else {
            format!("sleep 1000; : {marker}")
        };
        let mut o: Vec<&str> = opts.to_vec();
        if detach {
            o.push("-d");
        }
        let mut cmd = cx.cmd(&cx.sh_args_keep(&o, &script));
        cmd.env("RRUN_TEST_CRASH_AT", stage);
        let out = cx.run(cmd, Input::Null);
        let how = if detach { "detached" } else { "foreground" };
        use std::os::unix::process::ExitStatusExt;
        if child {
            // The container process dies before exec; its monitor reports.
            assert!(
                out.code() == Some(125) && out.stderr.starts_with("rrun: "),
                "[{mode}] {how}, crash at {stage}: rrun reports 125\n{out}"
            );
        } else if stage == "parsed" || !detach {
            assert_eq!(
                out.status.signal(),
                Some(libc::SIGKILL),
                "[{mode}] {how}: rrun killed itself at {stage}\n{out}"
            );
        } else if stage == "started" || after_exit(stage) {
            // The CLI was told the id before its monitor died.
            assert!(
                out.code() == Some(0) && is_hex(out.stdout.trim(), 64),
                "[{mode}] {how}, crash at {stage}: the CLI prints the id\n{out}"
            );
            // The monitor reaches the stage after the CLI returned: wait
            // for its death (the record then says Exited).
            cx.wait_exited(out.stdout.trim());
        } else {
            out.expect_rrun_error();
            assert!(
                out.stderr.contains("monitor died"),
                "[{mode}] {how}, crash at {stage}: the CLI says its monitor died\n{out}"
            );
        }
        let mut left = Vec::new();
        let gone = poll_until(Duration::from_secs(5), || {
            left = procs_with_cmdline(&marker);
            left.is_empty()
        });
        assert!(
            gone,
            "[{mode}] {how}, crash at {stage}: the container outlives it: {left:?}\n{out}"
        );
        let mounts = cx.env.leaked_mounts();
        assert!(mounts.is_empty(), "[{mode}] mounts left: {mounts:?}");
    }

    // The same -p, at once: the next run reclaims what the crashed ones
    // held (a port still held would fail it with "already in use").
    let id = cx.detach(
        &[opts[0], opts[1], opts[2], "--name", "after"],
        &["sleep", "1000"],
    );
    // A crashed container's veth goes with its network namespace, which
    // the kernel tears down in the background: wait for that.
    let mine = format!("rrv{}", &id[..12]);
    let mut v = net_view(&cx);
    let settled = poll_until(SETTLE, || {
        v = net_view(&cx);
        v.veths == [mine.clone()]
    });
    assert!(
        settled,
        "[{mode}] after crashes at {stage}: only the new container's veth {mine} is left \
         within {SETTLE:?}: {:?}",
        v.veths
    );
    // Rootless, the forwarder serves published ports: no element at all.
    let want = usize::from(mode == Mode::Root);
    assert_eq!(
        v.elements(PORT),
        want,
        "[{mode}] after crashes at {stage}: {want} element(s) for {PORT}\n{}",
        v.table
    );
    assert_eq!(
        v.leases,
        std::slice::from_ref(&id),
        "[{mode}] after crashes at {stage}: one lease, the new container's"
    );
    let port = cx.rrun(&["port", "after", "80"]);
    port.ok();
    assert_eq!(port.stdout, format!("0.0.0.0:{PORT}\n"), "{port}");

    // The crashed containers (those that had a record) are listed, Exited.
    let ps = cx.rrun(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    ps.ok();
    let crashed: Vec<&str> = ps
        .lines()
        .into_iter()
        .filter(|l| !l.starts_with("after "))
        .collect();
    let want = if stage == "parsed" || child { 0 } else { 2 };
    assert_eq!(
        crashed.len(),
        want,
        "[{mode}] after crashes at {stage}: {want} crashed containers listed\n{ps}"
    );
    for l in &crashed {
        assert!(
            l.split_once(' ')
                .is_some_and(|(_, s)| s.starts_with("Exited (")),
            "[{mode}] a crashed container is listed as Exited: {l:?}\n{ps}"
        );
    }

    // rm gives everything back.
    let mut all = vec!["rm".to_string(), "-f".to_string()];
    all.extend(cx.containers());
    cx.rrun(&all).ok();
    let v = net_view(&cx);
    assert!(
        v.elements(PORT) == 0 && v.all_leases.is_empty(),
        "[{mode}] after rm -f of everything: no element or lease: {:?}\n{}",
        v.all_leases,
        v.table
    );
    let mut v = v;
    let settled = poll_until(SETTLE, || {
        v = net_view(&cx);
        v.veths.is_empty()
    });
    assert!(
        settled,
        "[{mode}] after rm -f of everything: no veth within {SETTLE:?}: {:?}",
        v.veths
    );
    cx.assert_nothing_left(&format!("crashes at {stage} with -p, and rm -f"));
}
