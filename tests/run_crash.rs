//! RRUN_TEST_CRASH_AT=STAGE: rrun SIGKILLs itself at STAGE (the container
//! process reports 125 for the `child-*` stages). Whatever the stage, no
//! container process and no mount is left behind, and the next rrun
//! invocation reclaims the state: with --rm, nothing remains; without it, the
//! crashed container may stay listed as exited (as in Docker), is not
//! running, and `rrun rm -f` removes it. A rootless holder may stay (it is
//! meant to live on); the test's cleanup kills it.

#[macro_use]
mod common;

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
