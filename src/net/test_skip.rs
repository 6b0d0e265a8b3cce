//! How a unit test of the network code that cannot run here says so, as
//! the integration tests' harness does: loud on the real stderr (libtest
//! captures only the print macros) and appended to `$RRUN_TEST_SKIP_LOG`
//! for `make test`'s summary. A test that needs root, run by an ordinary
//! user, is not run and never fails; any other skip fails under CI=true.
//! Also how such a test gets a network namespace of its own.

use std::io::Write;

/// Not run: the test needs root (`why`) and runs as an ordinary user.
pub fn needs_root(why: &str) {
    log("needs-root", why);
    let _ = writeln!(
        std::io::stderr(),
        "\n*** NOT RUN (needs root): {}: {why} ***\n",
        name()
    );
}

/// Not run for want of something (`why`): a failure under CI=true.
pub fn skip(why: &str) {
    log("skip", why);
    let msg = format!("SKIP: {}: {why}", name());
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "{msg} (a skip is a failure under CI=true)"
    );
    let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
}

fn name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed-test")
        .to_string()
}

/// `class<TAB>rrun<TAB>test<TAB>reason`, in one write with O_APPEND.
fn log(class: &str, why: &str) {
    let Some(path) = std::env::var_os("RRUN_TEST_SKIP_LOG").filter(|p| !p.is_empty()) else {
        return;
    };
    let line = format!("{class}\trrun\t{}\t{why}\n", name());
    let _ = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
}

/// Run `f` in a forked child, in a new network namespace, and fail the
/// test unless it returns 0 (the number of the step that failed; the
/// child says why on stderr).
pub fn in_new_netns(f: impl FnOnce() -> i32) {
    use nix::sched::{CloneFlags, unshare};
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};
    // SAFETY: the child only runs `f` and _exits.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = match unshare(CloneFlags::CLONE_NEWNET) {
                Ok(()) => f(),
                Err(_) => 10,
            };
            // SAFETY: ending the forked child without the parent's exit
            // handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => {
                assert_eq!(code, 0, "the step that failed (see above)")
            }
            other => panic!("child: {other:?}"),
        },
    }
}
