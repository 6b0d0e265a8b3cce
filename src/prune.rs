//! `rrun container prune [-f]`: remove every stopped container, after
//! Docker's question unless -f, printing what Docker prints. The answer
//! is one line read from stdin (so `echo y | rrun container prune` works,
//! and no answer at all is "no").

use std::io::{self, Read, Write};

use crate::cli;
use crate::state::{State, StateError, Status};

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(transparent)]
    State(#[from] StateError),
    /// Removals that failed were reported one a line.
    #[error("")]
    Reported,
}

impl PruneError {
    pub fn exit_code(&self) -> i32 {
        match self {
            PruneError::State(e) => e.exit_code(),
            PruneError::Reported => 1,
        }
    }
}

pub const QUESTION: &str =
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ";

/// Whether the answer line says yes, as Docker reads it: trimmed,
/// in any case, exactly "y".
pub fn is_yes(line: &[u8]) -> bool {
    String::from_utf8_lossy(line).trim().to_lowercase() == "y"
}

/// What prune prints once the ids of the removed containers are known.
pub fn report(deleted: &[String]) -> String {
    let mut out = String::new();
    if !deleted.is_empty() {
        out.push_str("Deleted Containers:\n");
        for id in deleted {
            out.push_str(id);
            out.push('\n');
        }
        out.push('\n');
    }
    // rrun keeps no writable layer: the rootfs is used in place.
    out.push_str("Total reclaimed space: 0B\n");
    out
}

/// One line of stdin (without reading past it), at most 4 KiB.
fn read_answer() -> Vec<u8> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    let mut stdin = io::stdin().lock();
    while line.len() < 4096 {
        match stdin.read(&mut b) {
            Ok(1) if b[0] != b'\n' => line.push(b[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    line
}

pub fn prune(a: &cli::PruneArgs) -> Result<i32, PruneError> {
    if !a.force {
        let mut out = io::stdout().lock();
        let _ = out.write_all(QUESTION.as_bytes());
        let _ = out.flush();
        drop(out);
        if !is_yes(&read_answer()) {
            return Ok(0);
        }
    }
    let st = State::open()?;
    // As rm: what a killed monitor still holds of the network first.
    crate::container::network::reclaim_dead(&st, crate::net::Where::Host);
    let (records, _) = st.list();
    let mut deleted = Vec::new();
    let mut failed = false;
    // Stopped ones, and created ones never started (Docker's "stopped").
    let stopped = |r: &&crate::state::Record| {
        r.state.status == Status::Exited
            || (r.state.status == Status::Created && r.state.monitor_pid == 0)
    };
    for r in records.iter().filter(stopped) {
        // A --rm container's monitor, still ending, removes it itself.
        if r.config.auto_remove && crate::sys::alive(r.state.monitor_pid, r.state.monitor_start) {
            continue;
        }
        // A stopped container keeps its address until now.
        crate::net::release_kept_lease(&st, r);
        match st.remove(r) {
            Ok(()) => deleted.push(r.id().to_string()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                eprintln!(
                    "rrun: removing container {}: {}",
                    r.id(),
                    crate::sys::errno_text(&e)
                );
                failed = true;
            }
        }
    }
    let _ = io::stdout().write_all(report(&deleted).as_bytes());
    if failed {
        Err(PruneError::Reported)
    } else {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        for yes in [&b"y"[..], b"Y", b" y", b"y\r", b"\ty \x0b"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in [&b""[..], b"n", b"yes", b"N", b"yy", b"y y", b"\xff"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }

    /// Docker 20.10's output, captured.
    #[test]
    fn reports() {
        assert_eq!(report(&[]), "Total reclaimed space: 0B\n");
        assert_eq!(
            report(&["fc55".into(), "0ec7".into()]),
            "Deleted Containers:\nfc55\n0ec7\n\nTotal reclaimed space: 0B\n"
        );
        assert_eq!(
            QUESTION,
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
        );
        assert_eq!(PruneError::Reported.exit_code(), 1);
        assert_eq!(
            PruneError::State(StateError::NoSuch("x".into())).exit_code(),
            1
        );
        assert_eq!(
            PruneError::State(StateError::NotDir("/x".into(), "RRUN_ROOT")).exit_code(),
            125
        );
    }
}
