//! Named stages of start-up and tear-down. With RRUN_TEST_CRASH_AT=STAGE,
//! rrun SIGKILLs itself when it reaches STAGE, so tests can prove that a
//! crash at any stage leaves nothing behind; with RRUN_DEBUG_TIMES, it
//! prints when it got there.

use std::sync::OnceLock;

static AT: OnceLock<Option<String>> = OnceLock::new();

/// Read the variable once, before any fork, so that children inherit the
/// answer without touching the environment again.
pub fn init() {
    AT.get_or_init(|| {
        std::env::var("RRUN_TEST_CRASH_AT")
            .ok()
            .filter(|s| !s.is_empty())
    });
}

pub fn point(stage: &str) {
    t(stage);
    if let Some(Some(at)) = AT.get()
        && at == stage
    {
        crate::sys::kill_self();
    }
}
/// With RRUN_DEBUG_TIMES set, the time since rrun started at each stage
/// goes to stderr: how the start-up figures in the README were taken apart.
static TIMES: OnceLock<Option<std::time::Instant>> = OnceLock::new();

pub fn t(stage: &str) {
    let t0 = TIMES
        .get_or_init(|| std::env::var_os("RRUN_DEBUG_TIMES").map(|_| std::time::Instant::now()));
    if let Some(t0) = t0 {
        eprintln!("[{:>8.3} ms] {stage}", t0.elapsed().as_secs_f64() * 1000.0);
    }
}
