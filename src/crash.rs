//! Named crash points for tests: with RRUN_TEST_CRASH_AT=STAGE, rrun
//! SIGKILLs itself when it reaches STAGE, so tests can prove that a crash
//! at any stage of start-up or tear-down leaves nothing behind.

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
    if let Some(Some(at)) = AT.get()
        && at == stage
    {
        crate::sys::kill_self();
    }
}
