//! The state directory (DESIGN.md §4): where it is, its lock, and the
//! per-container directories with their generated /etc files.
//!
//! Layout (under `$RRUN_ROOT`, /run/rrun for root, `$XDG_RUNTIME_DIR/rrun`,
//! or a private /tmp/rrun-UID):
//!   lock                          flock for short critical sections
//!   holder.json                   the rootless user-namespace holder
//!   containers/<id>/state.json    who runs it (monitor pid + start time)
//!   containers/<id>/{hosts,hostname,resolv.conf}
//! A container directory is assembled under `containers/.new-<id>` and
//! renamed into place, so a reader never sees one without its state.json.

use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state directory {0}: {1}")]
    Dir(PathBuf, #[source] io::Error),
    #[error(
        "state directory {0} belongs to uid {1}, not to you (uid {2}); set RRUN_ROOT to a directory of your own"
    )]
    NotOwner(PathBuf, u32, u32),
    #[error(
        "state directory {0} is open to other users (mode {1:o}); make it 0700 or set RRUN_ROOT"
    )]
    Open(PathBuf, u32),
    #[error("locking {0}: {1}")]
    Lock(PathBuf, #[source] io::Error),
    #[error("writing {0}: {1}")]
    Write(PathBuf, #[source] io::Error),
}

/// Where the state directory is, by DESIGN.md §4's rules.
pub fn root_path() -> PathBuf {
    if let Some(r) = std::env::var_os("RRUN_ROOT").filter(|r| !r.is_empty()) {
        return PathBuf::from(r);
    }
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/rrun");
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        let x = PathBuf::from(x);
        if x.is_dir() {
            return x.join("rrun");
        }
    }
    PathBuf::from(format!("/tmp/rrun-{uid}"))
}

/// The opened state directory.
pub struct State {
    pub root: PathBuf,
}

impl State {
    /// Find or make the state directory. A directory under /tmp must be ours
    /// and private: anyone could have made it first.
    pub fn open() -> Result<State, StateError> {
        let root = root_path();
        let err = |e| StateError::Dir(root.clone(), e);
        let private_tmp = root.starts_with("/tmp") && std::env::var_os("RRUN_ROOT").is_none();
        match fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&root)
        {
            Ok(()) => {}
            Err(e) => return Err(err(e)),
        }
        let md = fs::symlink_metadata(&root).map_err(err)?;
        // SAFETY: geteuid cannot fail.
        let me = unsafe { libc::geteuid() };
        if !md.is_dir() {
            return Err(err(io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
        if private_tmp {
            if md.uid() != me {
                return Err(StateError::NotOwner(root, md.uid(), me));
            }
            if md.mode() & 0o077 != 0 {
                return Err(StateError::Open(root, md.mode() & 0o7777));
            }
        }
        let c = root.join("containers");
        fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&c)
            .map_err(|e| StateError::Dir(c.clone(), e))?;
        Ok(State { root })
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// Take the state directory's lock until the guard drops.
    pub fn lock(&self) -> Result<Lock, StateError> {
        let p = self.root.join("lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&p)
            .map_err(|e| StateError::Lock(p.clone(), e))?;
        let fd: OwnedFd = f.into();
        loop {
            // SAFETY: flock on an fd we own.
            let r = unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(StateError::Lock(p, e));
            }
        }
        Ok(Lock { _fd: fd })
    }

    /// Remove the directories of containers whose monitor died without
    /// cleaning up (killed, crashed). Best effort: a directory we cannot
    /// read or remove is left for the next call.
    pub fn sweep(&self) {
        let Ok(rd) = fs::read_dir(self.containers()) else {
            return;
        };
        for ent in rd.flatten() {
            let path = ent.path();
            let name = ent.file_name();
            let name = name.to_string_lossy();
            let owner = if let Some(rest) = name.strip_prefix(".new-") {
                // .new-<pid>-<start>-<id>
                let mut it = rest.splitn(3, '-');
                match (
                    it.next().and_then(|p| p.parse().ok()),
                    it.next().and_then(|s| s.parse().ok()),
                ) {
                    (Some(pid), Some(start)) => Some((pid, start)),
                    _ => None,
                }
            } else {
                ContainerState::read(&path)
                    .ok()
                    .map(|s| (s.monitor_pid, s.monitor_start))
            };
            let dead = match owner {
                Some((pid, start)) => !sys::alive(pid, start),
                // Unreadable state: only reclaim it once it is clearly old,
                // so that a directory being written is never taken away.
                None => ent
                    .metadata()
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > 60),
            };
            if dead {
                let _ = fs::remove_dir_all(&path);
            }
        }
    }
}

pub struct Lock {
    _fd: OwnedFd,
}

/// What state.json records of a running container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    pub id: String,
    pub monitor_pid: libc::pid_t,
    pub monitor_start: u64,
    #[serde(default)]
    pub pid: libc::pid_t,
    pub rootfs: String,
    pub created: String,
}

impl ContainerState {
    pub fn read(dir: &Path) -> io::Result<ContainerState> {
        let text = fs::read(dir.join("state.json"))?;
        serde_json::from_slice(&text).map_err(io::Error::other)
    }
}

/// Write `data` to `path` through a temp file and a rename: a reader sees
/// the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(mode)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(&tmp)?;
    f.write_all(data)?;
    drop(f);
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// A container's directory, removed when dropped unless kept.
pub struct ContainerDir {
    pub path: PathBuf,
    keep: bool,
}

/// The files a container directory starts with.
pub struct NewContainer<'a> {
    pub id: &'a str,
    pub state: &'a ContainerState,
    pub hosts: &'a str,
    pub hostname: &'a str,
    pub resolv: &'a str,
}

impl ContainerDir {
    /// Assemble the directory under a temporary name that says who is making
    /// it, then rename it into place.
    pub fn create(st: &State, c: &NewContainer) -> Result<ContainerDir, StateError> {
        let tmp = st.containers().join(format!(
            ".new-{}-{}-{}",
            c.state.monitor_pid, c.state.monitor_start, c.id
        ));
        let fin = st.containers().join(c.id);
        let werr = |p: &Path, e| StateError::Write(p.to_path_buf(), e);
        fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(|e| werr(&tmp, e))?;
        let guard = ContainerDir {
            path: tmp.clone(),
            keep: false,
        };
        // The /etc files are bind-mounted into the container and read there
        // by any user the container runs as.
        for (name, text) in [
            ("hosts", c.hosts),
            ("hostname", c.hostname),
            ("resolv.conf", c.resolv),
        ] {
            let p = tmp.join(name);
            fs::write(&p, text).map_err(|e| werr(&p, e))?;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).map_err(|e| werr(&p, e))?;
        }
        let state =
            serde_json::to_vec_pretty(c.state).map_err(|e| werr(&tmp, io::Error::other(e)))?;
        let sp = tmp.join("state.json");
        write_atomic(&sp, &state, 0o600).map_err(|e| werr(&sp, e))?;
        fs::rename(&tmp, &fin).map_err(|e| werr(&fin, e))?;
        std::mem::forget(guard);
        Ok(ContainerDir {
            path: fin,
            keep: false,
        })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Update state.json in place (atomically).
    pub fn write_state(&self, s: &ContainerState) -> io::Result<()> {
        let data = serde_json::to_vec_pretty(s).map_err(io::Error::other)?;
        write_atomic(&self.path.join("state.json"), &data, 0o600)
    }
}

impl Drop for ContainerDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// RFC 3339 UTC time with nanoseconds, as Docker prints it.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{nanos:09}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(
            rfc3339(1_795_927_510, 123),
            "2026-11-29T04:45:10.000000123Z"
        );
    }
}
