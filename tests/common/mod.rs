//! Harness for rrun's integration tests.
//!
//! Every test runs the real binary (`CARGO_BIN_EXE_rrun`) on the busybox
//! rootfs that `scripts/mkrootfs.sh` assembles in target/rootfs, once as root
//! and once rootless. Run as root, the harness runs the rootless half as the
//! unprivileged test user (`$RRUN_TEST_USER`, default `rrtest`), each test
//! in a throwaway network namespace of its own. Run by an ordinary user, the
//! rootless half runs as that user, in the machine's own network namespace,
//! and whatever needs root — every root-mode test, and the rootless tests
//! that also do something only root may on the host (a network namespace of
//! their own, a mount, a second user) — is not run: it says so and is
//! listed by `make test` (see [`skip_needs_root`]). The checkout may live
//! where the test user cannot read it (/root is 0700), so each test process
//! copies the binary and the rootfs once into a world-readable directory
//! `/tmp/rrun-it-<pid>` and removes it at exit (leftovers of a test process
//! that died are removed by the next one).
//!
//! Each test gets its own `RRUN_ROOT` (mode 0700, owned by whoever runs rrun)
//! through [`Ctx`]; dropping the `Ctx` kills the rootless holder recorded in
//! `$RRUN_ROOT/holder.json` and removes the directory. Every child process
//! has a deadline ([`TIMEOUT`]): past it the process is SIGKILLed and the
//! test fails with everything it printed so far. Nothing sleeps to
//! synchronise: output is read from pipes with poll(2), process exit is
//! watched through a pidfd.
//!
//! A test that cannot run says `SKIP: reason` on the real stderr (past the
//! test harness's output capture) and returns; with `CI=true` it fails
//! instead, so a green CI run means that every test ran — every test the
//! caller's privileges allow: one that needs root, run by an ordinary user,
//! is not run and never fails. Both kinds are also appended to the file
//! `$RRUN_TEST_SKIP_LOG` names, if any, for `make test`'s summary.

#![allow(dead_code)]

use std::ffi::{CString, OsStr};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long any one child process may run before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);
/// After a process exited, how long its stdout/stderr may stay open (held by
/// something it left behind) before that counts as a failure.
const PIPE_GRACE: Duration = Duration::from_secs(3);
/// PATH given to rrun (it needs newuidmap/newgidmap from /usr/bin).
pub const HOST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `tool`'s path on the host's PATH (HOST_PATH), if it is installed.
pub fn which(tool: &str) -> Option<String> {
    HOST_PATH
        .split(':')
        .map(|d| format!("{d}/{tool}"))
        .find(|p| Path::new(p).is_file())
}

/// The first of `tools` not installed on the host, if any.
pub fn missing_tool<'a>(tools: &[&'a str]) -> Option<&'a str> {
    tools.iter().copied().find(|t| which(t).is_none())
}
/// Docker's default PATH, which rrun sets inside the container.
pub const CONTAINER_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Docker's default capability set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL
/// SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD
/// AUDIT_WRITE SETFCAP.
pub const DEFAULT_CAPS: u64 = 0xa804_25fb;

/// Run a test function once per mode, as `NAME::root` and `NAME::rootless`,
/// so that a failure names the mode.
#[allow(unused_macros)] // run_crash.rs has its own
macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn root() {
                super::$name($crate::common::Mode::Root)
            }
            #[test]
            fn rootless() {
                super::$name($crate::common::Mode::Rootless)
            }
        }
    )*};
}

// ---------------------------------------------------------------------------
// Modes, skipping

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// rrun runs as root.
    Root,
    /// rrun runs as `$RRUN_TEST_USER` (the tests run as root) or as the
    /// ordinary user who runs the tests.
    Rootless,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Root => "root",
            Mode::Rootless => "rootless",
        })
    }
}

/// The name libtest gave the current test (its thread's name).
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed-test")
        .to_string()
}

/// Whether the tests run as root (then the rootless half runs as
/// `$RRUN_TEST_USER`); otherwise as an ordinary user, who is also the
/// rootless half's user.
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A test that cannot run: loud on the real stderr; a failure under CI=true.
pub fn skip(reason: &str) {
    let msg = format!("SKIP: {}: {reason}", test_name());
    log_skip("skip", reason);
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (a skip is a failure under CI=true)");
    }
    // io::stderr() directly, not eprintln!: libtest captures the macros only.
    let _ = writeln!(io::stderr(), "\n*** {msg} ***\n");
}

/// A test that needs root, run by an ordinary user: not run, said on the
/// real stderr and logged for `make test`'s list; never a failure, not even
/// under CI=true (only root can run it; `make test` as root does).
pub fn skip_needs_root(reason: &str) {
    log_skip("needs-root", reason);
    let _ = writeln!(
        io::stderr(),
        "\n*** NOT RUN (needs root): {}: {reason} ***\n",
        test_name()
    );
}

/// Append `class<TAB>binary<TAB>test<TAB>reason` to `$RRUN_TEST_SKIP_LOG`
/// (one write with O_APPEND, so lines of parallel tests do not mix).
fn log_skip(class: &str, reason: &str) {
    let Some(path) = std::env::var_os("RRUN_TEST_SKIP_LOG").filter(|p| !p.is_empty()) else {
        return;
    };
    // The test binary's name without cargo's hash: `run_basic-0123abcd`.
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map(|n| match n.rsplit_once('-') {
            Some((stem, hash)) if hash.bytes().all(|b| b.is_ascii_hexdigit()) => stem.to_string(),
            _ => n,
        })
        .unwrap_or_else(|| "?".into());
    let one_line = |s: &str| s.replace(['\t', '\n'], " ");
    let line = format!(
        "{class}\t{binary}\t{}\t{}\n",
        one_line(&test_name()),
        one_line(reason)
    );
    let written = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        let _ = writeln!(
            io::stderr(),
            "warning: appending to RRUN_TEST_SKIP_LOG={}: {e}",
            Path::new(&path).display()
        );
    }
}

// ---------------------------------------------------------------------------
// The per-process environment: binary and rootfs copied to /tmp

pub struct Env {
    /// /tmp/rrun-it-<pid>, 0755.
    pub dir: PathBuf,
    /// The copy of rrun.
    pub bin: PathBuf,
    /// The copy of the rootfs (cp -a).
    pub rootfs: PathBuf,
}

static ENV: OnceLock<Result<Env, String>> = OnceLock::new();
static HOST_MOUNT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
/// Not $TMPDIR: the test user must reach the copies.
const TMP: &str = "/tmp";
const DIR_PREFIX: &str = "rrun-it-";

/// The shared environment of this test process, set up on first use.
pub fn env() -> Result<&'static Env, String> {
    ENV.get_or_init(setup).as_ref().map_err(Clone::clone)
}

fn setup() -> Result<Env, String> {
    // cargo-mutants builds each mutant in a scratch copy of the tree. A
    // mutant of the mount or device code, run as root by these tests, acts
    // on the host itself (a container's `rm /dev/null` reaching the host's
    // when the pivot is mutated away): mutants get the unit tests only.
    if env!("CARGO_MANIFEST_DIR").contains("cargo-mutants-") {
        return Err(
            "the integration tests do not run a mutated rrun (it would run as root on \
                    this host): run cargo mutants with `-- --bins`"
                .into(),
        );
    }
    let src_rootfs = source_rootfs()?;
    remove_stale_dirs();
    let dir = Path::new(TMP).join(format!("{DIR_PREFIX}{}", std::process::id()));
    if fs::symlink_metadata(&dir).is_ok() {
        remove_tree(&dir);
    }
    fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    set_mode(&dir, 0o755)?;
    // From here on the directory is ours: remove it when the process exits.
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(cleanup_at_exit) };

    let bin = dir.join("rrun");
    fs::copy(env!("CARGO_BIN_EXE_rrun"), &bin).map_err(|e| {
        format!(
            "copying {} to {}: {e}",
            env!("CARGO_BIN_EXE_rrun"),
            bin.display()
        )
    })?;
    set_mode(&bin, 0o755)?;
    let rootfs = dir.join("rootfs");
    let out = run_host(Command::new("cp").arg("-a").arg(&src_rootfs).arg(&rootfs))?;
    if !out.status.success() {
        return Err(format!(
            "cp -a {} {}: {out}",
            src_rootfs.display(),
            rootfs.display()
        ));
    }
    set_mode(&rootfs, 0o755)?;
    Ok(Env { dir, bin, rootfs })
}

/// target/rootfs, made by scripts/mkrootfs.sh when it is missing.
fn source_rootfs() -> Result<PathBuf, String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rootfs = manifest.join("target/rootfs");
    if fs::symlink_metadata(rootfs.join("bin/sh")).is_ok() {
        return Ok(rootfs);
    }
    let script = manifest.join("scripts/mkrootfs.sh");
    if !script.exists() {
        return Err(format!(
            "no rootfs at {} and no {} to make it (run `make rootfs`)",
            rootfs.display(),
            script.display()
        ));
    }
    let mut cmd = Command::new("bash");
    cmd.arg(&script).arg(&rootfs).current_dir(manifest);
    let out = run_host(&mut cmd)?;
    if !out.status.success() || fs::symlink_metadata(rootfs.join("bin/sh")).is_err() {
        return Err(format!(
            "{} {} failed: {out}",
            script.display(),
            rootfs.display()
        ));
    }
    Ok(rootfs)
}

/// Remove /tmp/rrun-it-<pid> directories whose test process is gone (an
/// ordinary user: only their own).
fn remove_stale_dirs() {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(TMP) else {
        return;
    };
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    for e in entries.flatten() {
        if me != 0 && e.metadata().map_or(true, |m| m.uid() != me) {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(DIR_PREFIX) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            remove_tree(&e.path());
        }
    }
}

extern "C" fn cleanup_at_exit() {
    if let Some(p) = HOST_MOUNT.get().and_then(|r| r.as_ref().ok())
        && let Ok(c) = CString::new(p.as_os_str().as_encoded_bytes())
    {
        // SAFETY: unmounting the tmpfs this process mounted.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    if let Some(Ok(env)) = ENV.get() {
        remove_tree(&env.dir);
    }
}

/// Detach every mount at or below `dir` (deepest first), then remove it —
/// unless a mount is still there: never delete through a mount into files
/// that are not the test's own.
pub fn remove_tree(dir: &Path) {
    let prefix = dir.to_string_lossy().into_owned();
    let under = || -> Vec<String> {
        let mut v: Vec<String> = mount_points(&host_mountinfo())
            .into_iter()
            .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
            .collect();
        v.sort_by_key(|m| std::cmp::Reverse(m.len()));
        v
    };
    for m in under() {
        if let Ok(c) = CString::new(m) {
            // SAFETY: umount2 on a path; failure only leaves the mount.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let left = under();
    if !left.is_empty() {
        let _ = writeln!(
            io::stderr(),
            "warning: not removing {}: mounts remain under it: {left:?}",
            dir.display()
        );
        return;
    }
    if let Err(e) = fs::remove_dir_all(dir)
        && e.kind() != io::ErrorKind::NotFound
    {
        let _ = writeln!(io::stderr(), "warning: removing {}: {e}", dir.display());
    }
}

fn set_mode(p: &Path, mode: u32) -> Result<(), String> {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {mode:o} {}: {e}", p.display()))
}

/// Run a host tool (cp, bash) for the harness, with the usual deadline.
fn run_host(cmd: &mut Command) -> Result<Output, String> {
    let what = format!("{cmd:?}");
    let mut c = Command::new(cmd.get_program());
    c.args(cmd.get_args());
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    let p = Proc::spawn(c, Input::Null, what.clone()).map_err(|e| format!("{what}: {e}"))?;
    Ok(p.wait())
}

/// A mount in the host's mount namespace, outside the rootfs, made by the
/// harness (root only): no container may see it.
pub fn host_only_mount() -> Result<&'static Path, String> {
    if !is_root() {
        return Err(needs_root_step("mounting a tmpfs on the host"));
    }
    let env = env()?;
    HOST_MOUNT
        .get_or_init(|| {
            let p = env.dir.join("host-only-mount");
            fs::create_dir_all(&p).map_err(|e| format!("mkdir {}: {e}", p.display()))?;
            let target =
                CString::new(p.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
            // SAFETY: mounting a small tmpfs on a directory we just made.
            let r = unsafe {
                libc::mount(
                    c"rrun-it-host-only".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    c"size=64k".as_ptr().cast(),
                )
            };
            if r != 0 {
                return Err(format!(
                    "mount tmpfs on {}: {}",
                    p.display(),
                    io::Error::last_os_error()
                ));
            }
            Ok(p)
        })
        .as_ref()
        .map(|p| p.as_path())
        .map_err(Clone::clone)
}

// ---------------------------------------------------------------------------
// The test user

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

pub fn test_user() -> Result<User, String> {
    user_from_env("RRUN_TEST_USER", "rrtest")
}

/// The user who runs the tests (for an ordinary user: the rootless half's
/// user).
pub fn current_user() -> Result<User, String> {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    passwd_entry(PasswdKey::Uid(uid))
}

enum PasswdKey<'a> {
    Name(&'a std::ffi::CStr),
    Uid(u32),
}

/// A user from the system's user database (getpwnam_r/getpwuid_r: NSS too).
fn passwd_entry(key: PasswdKey) -> Result<User, String> {
    let what = match &key {
        PasswdKey::Name(n) => format!("user {}", n.to_string_lossy()),
        PasswdKey::Uid(u) => format!("uid {u}"),
    };
    // SAFETY: getpwnam_r/getpwuid_r fill `pw` with pointers into `buf`,
    // which outlives every use of them below.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let mut buf = vec![0 as libc::c_char; 16384];
        let r = match key {
            PasswdKey::Name(n) => {
                libc::getpwnam_r(n.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut found)
            }
            PasswdKey::Uid(u) => {
                libc::getpwuid_r(u, &mut pw, buf.as_mut_ptr(), buf.len(), &mut found)
            }
        };
        if r != 0 || found.is_null() {
            return Err(format!(
                "no {what} in the user database ({})",
                if r != 0 {
                    io::Error::from_raw_os_error(r).to_string()
                } else {
                    "not found".into()
                }
            ));
        }
        let text =
            |p: *const libc::c_char| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned();
        Ok(User {
            name: text(pw.pw_name),
            uid: pw.pw_uid,
            gid: pw.pw_gid,
            home: text(pw.pw_dir),
        })
    }
}

/// Why `user` cannot be the rootless half's user, if it cannot: it needs a
/// range of subordinate ids (the tests map more than one id).
fn sub_ranges_missing(user: &User) -> Option<String> {
    ["/etc/subuid", "/etc/subgid"]
        .into_iter()
        .find(|f| sub_range(f, user).is_none())
        .map(|f| {
            format!(
                "the user {} has no range in {f}: rootless containers with more than one id \
                 need one (root adds it: usermod --add-subuids/--add-subgids; \
                 scripts/test-setup.sh does for the test users)",
                user.name
            )
        })
}

/// The message of a harness step that needs root, reached by a test run
/// by an ordinary user: the test should have been made root-only.
pub fn needs_root_step(what: &str) -> String {
    format!(
        "{what} needs root, and the tests run as an ordinary user: a test that does it must \
         make its Ctx with Ctx::new_needing_root (it is then not run without root)"
    )
}

/// The second unprivileged test user (`$RRUN_TEST_USER2`, default
/// `rrtest2`), for tests of two users side by side.
pub fn second_test_user() -> Result<User, String> {
    user_from_env("RRUN_TEST_USER2", "rrtest2")
}

fn user_from_env(var: &str, default: &str) -> Result<User, String> {
    let name = std::env::var(var)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default.into());
    let passwd =
        fs::read_to_string("/etc/passwd").map_err(|e| format!("reading /etc/passwd: {e}"))?;
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 6 && f[0] == name {
            let uid = f[2]
                .parse()
                .map_err(|_| format!("bad uid in /etc/passwd: {line}"))?;
            let gid = f[3]
                .parse()
                .map_err(|_| format!("bad gid in /etc/passwd: {line}"))?;
            if uid == 0 {
                return Err(format!("test user {name} is uid 0"));
            }
            return Ok(User {
                name,
                uid,
                gid,
                home: f[5].to_string(),
            });
        }
    }
    Err(format!(
        "test user {name} does not exist (`make test` as root creates it with \
         scripts/test-setup.sh, with ranges in /etc/subuid and /etc/subgid; or set {var})"
    ))
}

/// The user's range in /etc/subuid or /etc/subgid, as (start, count).
pub fn sub_range(file: &str, user: &User) -> Option<(u64, u64)> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.trim().split(':').collect();
        if f.len() == 3 && (f[0] == user.name || f[0] == user.uid.to_string()) {
            Some((f[1].parse().ok()?, f[2].parse().ok()?))
        } else {
            None
        }
    })
}

/// Why unprivileged user namespaces cannot be used here, if they cannot.
fn userns_unavailable() -> Option<String> {
    let read = |p: &str| fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Some("user namespaces are disabled (user.max_user_namespaces = 0)".into());
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Some(
            "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)"
                .into(),
        );
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return Some(
            "AppArmor restricts unprivileged user namespaces \
             (kernel.apparmor_restrict_unprivileged_userns = 1)"
                .into(),
        );
    }
    None
}

// ---------------------------------------------------------------------------
// Per-test context

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// One test in one mode: who runs rrun, with which RRUN_ROOT.
pub struct Ctx {
    pub mode: Mode,
    pub env: &'static Env,
    /// RRUN_ROOT for this test.
    pub state: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// For rootless mode.
    pub user: Option<User>,
    name: String,
    /// The throwaway network namespace every rrun of this test runs in
    /// (held by a child the harness made), so that rrun's bridge, rules and
    /// sysctls never touch the machine's own network: the test's "host".
    /// Rootless, it has an uplink (UPLINK_ADDR). Shared with the Ctx of a
    /// second user ([`Ctx::new_second_user`]).
    pub netns: Option<std::sync::Arc<NetNs>>,
}

/// A network namespace made by the harness: a child of `unshare --net`
/// that brings `lo` up and then sleeps; killed when the test ends.
pub struct NetNs {
    pub child: std::process::Child,
    pub fd: std::os::fd::OwnedFd,
}

/// The uplink of a rootless test's namespace: a veth pair with both ends
/// inside, so that the namespace has an address and a default route (pasta
/// needs one to start) that lead nowhere.
pub const UPLINK_ADDR: &str = "198.18.0.2";
const UPLINK: &str = "ip link add up0 type veth peer name up1 && \
     ip addr add 198.18.0.2/24 dev up0 && ip link set up0 up && ip link set up1 up && \
     ip route add default via 198.18.0.1 && ";

impl NetNs {
    pub fn new() -> Result<NetNs, String> {
        Self::make(false)
    }

    /// A namespace with an uplink (UPLINK_ADDR, a default route).
    pub fn with_uplink() -> Result<NetNs, String> {
        Self::make(true)
    }

    fn make(uplink: bool) -> Result<NetNs, String> {
        use std::io::BufRead;
        if !is_root() {
            return Err(needs_root_step("making a network namespace"));
        }
        let script = format!(
            "ip link set lo up && {}echo ready && exec sleep 3600",
            if uplink { UPLINK } else { "" }
        );
        let mut child = Command::new("unshare")
            .args(["--net", "--", "sh", "-c", &script])
            .env("PATH", HOST_PATH)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .map_err(|e| format!("unshare --net: {e}"))?;
        let out = child.stdout.take().ok_or("no stdout from unshare")?;
        let mut line = String::new();
        // The child answers at once or dies (then read_line sees EOF).
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| format!("waiting for the test network namespace: {e}"))?;
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the test network namespace did not come up".into());
        }
        let fd = fs::File::open(format!("/proc/{}/ns/net", child.id()))
            .map_err(|e| format!("opening the test network namespace: {e}"))?;
        Ok(NetNs {
            child,
            fd: fd.into(),
        })
    }

    /// Make `c` run inside this namespace.
    pub fn enter(&self, c: &mut Command) {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let fd = self.fd.as_raw_fd();
        // SAFETY: setns is async-signal-safe and touches only the child.
        unsafe {
            c.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why a test cannot run.
enum Unavailable {
    /// It needs root and the tests run as an ordinary user.
    NeedsRoot(String),
    /// Something is missing: a skip (a failure under CI=true).
    Skip(String),
}

impl Ctx {
    /// Set up, or say SKIP (or, for a root-mode test run by an ordinary
    /// user, NOT RUN) and return None.
    pub fn new(mode: Mode) -> Option<Ctx> {
        match Self::try_new(mode) {
            Ok(c) => Some(c),
            Err(Unavailable::NeedsRoot(reason)) => {
                skip_needs_root(&reason);
                None
            }
            Err(Unavailable::Skip(reason)) => {
                skip(&reason);
                None
            }
        }
    }

    /// As [`Ctx::new`], for a test that, whatever its mode, also does on the
    /// host something only root may (`what`: a mount namespace, a network
    /// namespace of its own, files of another user): run by an ordinary
    /// user, it is not run.
    pub fn new_needing_root(mode: Mode, what: &str) -> Option<Ctx> {
        if !is_root() && mode == Mode::Rootless {
            skip_needs_root(&format!("it needs root on the host: {what}"));
            return None;
        }
        Self::new(mode)
    }

    fn try_new(mode: Mode) -> Result<Ctx, Unavailable> {
        let root = is_root();
        if mode == Mode::Root && !root {
            return Err(Unavailable::NeedsRoot("it runs rrun as root".into()));
        }
        let user = match mode {
            Mode::Root => None,
            Mode::Rootless => {
                if let Some(why) = userns_unavailable() {
                    return Err(Unavailable::Skip(why));
                }
                // As root, the test user; else the caller, who runs rrun
                // without switching.
                let u =
                    if root { test_user() } else { current_user() }.map_err(Unavailable::Skip)?;
                if let Some(why) = sub_ranges_missing(&u) {
                    return Err(Unavailable::Skip(why));
                }
                // Without them rrun runs, but otherwise (one id mapped, no
                // outbound network and a warning on every run).
                if let Some(tool) = missing_tool(&["newuidmap", "newgidmap", "pasta"]) {
                    return Err(Unavailable::Skip(format!(
                        "{tool} is not installed (Debian: uidmap, passt); rootless runs need it"
                    )));
                }
                Some(u)
            }
        };
        // Only root can make the test's own "host" namespace; an ordinary
        // user's rootless rrun runs in the machine's (the ports it publishes
        // listen there while the test runs).
        let netns = if root {
            let ns = match mode {
                Mode::Root => NetNs::new(),
                Mode::Rootless => NetNs::with_uplink(),
            }
            .map_err(Unavailable::Skip)?;
            Some(std::sync::Arc::new(ns))
        } else {
            None
        };
        Self::with_user(mode, user, netns).map_err(Unavailable::Skip)
    }

    /// A rootless Ctx for the second test user (`$RRUN_TEST_USER2`), with
    /// its own RRUN_ROOT, whose rruns run in `first`'s network namespace
    /// (the same "host"); or None after a loud SKIP (NOT RUN for an
    /// ordinary user, who cannot switch to another).
    pub fn new_second_user(first: &Ctx) -> Option<Ctx> {
        if !is_root() {
            skip_needs_root("it runs rrun as a second user ($RRUN_TEST_USER2), which needs root");
            return None;
        }
        let made = userns_unavailable()
            .map_or_else(second_test_user, Err)
            .and_then(|u| Self::with_user(Mode::Rootless, Some(u), first.netns.clone()));
        match made {
            Ok(c) => Some(c),
            Err(reason) => {
                skip(&reason);
                None
            }
        }
    }

    /// A rootless Ctx for `nobody` (looked up with getpwnam), a user with no
    /// range in /etc/subuid or /etc/subgid, so that its user namespace has
    /// a single-id map (`0 UID 1`); with its own RRUN_ROOT and its own test
    /// network namespace with an uplink (as a rootless [`Ctx::new`]). None
    /// after a loud SKIP when `nobody` does not exist or has a range.
    pub fn new_user_without_subids() -> Option<Ctx> {
        if !is_root() {
            skip_needs_root("it runs rrun as the user nobody, which needs root");
            return None;
        }
        let made = (|| -> Result<Ctx, String> {
            if let Some(why) = userns_unavailable() {
                return Err(why);
            }
            let user = passwd_entry(PasswdKey::Name(c"nobody"))?;
            if user.uid == 0 {
                return Err("the user nobody is uid 0".into());
            }
            for file in ["/etc/subuid", "/etc/subgid"] {
                if let Some((start, count)) = sub_range(file, &user) {
                    return Err(format!(
                        "the user nobody has a range in {file} ({start}:{count}); these tests \
                         need a user without one"
                    ));
                }
            }
            let netns = NetNs::with_uplink()?;
            Self::with_user(Mode::Rootless, Some(user), Some(std::sync::Arc::new(netns)))
        })();
        match made {
            Ok(c) => Some(c),
            Err(reason) => {
                skip(&reason);
                None
            }
        }
    }

    fn with_user(
        mode: Mode,
        user: Option<User>,
        netns: Option<std::sync::Arc<NetNs>>,
    ) -> Result<Ctx, String> {
        // Not a skip: a test environment that cannot be set up is a failure.
        let env = env().unwrap_or_else(|e| panic!("setting up the test environment: {e}"));
        let (uid, gid, home) = match &user {
            None => (0, 0, "/root".to_string()),
            Some(u) => (u.uid, u.gid, u.home.clone()),
        };
        let name: String = test_name()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let state = env.dir.join(format!("state-{n}-{name}"));
        fs::create_dir(&state).unwrap_or_else(|e| panic!("mkdir {}: {e}", state.display()));
        set_mode(&state, 0o700).unwrap_or_else(|e| panic!("{e}"));
        chown(&state, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", state.display()));
        Ok(Ctx {
            mode,
            env,
            state,
            uid,
            gid,
            home,
            user,
            name: format!("{n}-{name}"),
            netns,
        })
    }

    pub fn rootfs(&self) -> &str {
        self.env.rootfs.to_str().expect("the rootfs path is UTF-8")
    }

    /// `rrun ARGS...` as this mode's user, with a clean environment (PATH,
    /// HOME, RRUN_ROOT) and the world-readable test directory as cwd.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = self.base_cmd(args);
        self.finish_cmd(&mut c);
        c
    }

    /// rrun with `args`, its clean environment and working directory.
    fn base_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(&self.env.bin);
        c.args(args)
            .env_clear()
            .env("PATH", HOST_PATH)
            .env("HOME", &self.home)
            .env("RRUN_ROOT", &self.state)
            .current_dir(&self.env.dir);
        c
    }

    /// Into the test's network namespace, then (rootless) down to the
    /// test user: pre_exec hooks run in order, after any added before.
    fn finish_cmd(&self, c: &mut Command) {
        if let Some(ns) = &self.netns {
            ns.enter(c);
        }
        // An ordinary user is the rootless user already.
        if self.mode == Mode::Rootless && is_root() {
            // After setns (which needs root), so not Command::uid/gid: those
            // switch before pre_exec hooks run.
            let (uid, gid) = (self.uid, self.gid);
            // SAFETY: setgroups/setresgid/setresuid are async-signal-safe
            // and change only the child.
            unsafe {
                c.pre_exec(move || {
                    if libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setresgid(gid, gid, gid) != 0
                        || libc::setresuid(uid, uid, uid) != 0
                    {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
    }

    /// Run rrun to completion with stdin from /dev/null.
    #[track_caller]
    pub fn rrun<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.run(self.cmd(args), Input::Null)
    }

    /// Run rrun to completion with `data` on a pipe as stdin.
    #[track_caller]
    pub fn rrun_stdin<S: AsRef<OsStr>>(&self, args: &[S], data: &[u8]) -> Output {
        self.run(self.cmd(args), Input::Bytes(data.to_vec()))
    }

    /// `rrun --rm OPTS... ROOTFS sh -c SCRIPT`, run to completion.
    #[track_caller]
    pub fn sh(&self, opts: &[&str], script: &str) -> Output {
        self.rrun(&self.sh_args(opts, script))
    }

    /// The arguments of `rrun --rm OPTS... ROOTFS sh -c SCRIPT`. --rm: a
    /// container without it stays listed (Exited) until `rrun rm`, as in
    /// Docker, and the tests check that nothing is left behind.
    pub fn sh_args(&self, opts: &[&str], script: &str) -> Vec<String> {
        let mut a = vec!["--rm"];
        a.extend_from_slice(opts);
        self.sh_args_keep(&a, script)
    }

    /// The arguments of `rrun OPTS... ROOTFS sh -c SCRIPT` (no --rm).
    pub fn sh_args_keep(&self, opts: &[&str], script: &str) -> Vec<String> {
        let mut a: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
        a.push(self.rootfs().to_string());
        a.extend(["/bin/sh".to_string(), "-c".to_string(), script.to_string()]);
        a
    }

    #[track_caller]
    pub fn run(&self, cmd: Command, input: Input) -> Output {
        self.spawn(cmd, input).wait()
    }

    #[track_caller]
    pub fn spawn(&self, cmd: Command, input: Input) -> Proc {
        let what = format!("[{}] {}", self.mode, describe(&cmd));
        Proc::spawn(cmd, input, what.clone()).unwrap_or_else(|e| panic!("spawning {what}: {e}"))
    }

    /// Spawn `cmd` on a new pty of `rows`x`cols` (as its controlling
    /// terminal, in a new session).
    #[track_caller]
    pub fn spawn_pty(&self, cmd: Command, rows: u16, cols: u16) -> Proc {
        let what = format!("[{}] (on a pty) {}", self.mode, describe(&cmd));
        Proc::spawn_pty(cmd, rows, cols, self.uid, self.gid, what.clone())
            .unwrap_or_else(|e| panic!("spawning {what}: {e}"))
    }

    /// A fresh host directory, accessible to whoever runs rrun (owned by
    /// them, 0755).
    pub fn host_dir(&self, what: &str) -> PathBuf {
        let p = self.env.dir.join(format!("dir-{}-{what}", self.name));
        fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        set_mode(&p, 0o755).expect("chmod host dir");
        chown(&p, Some(self.uid), Some(self.gid)).expect("chown host dir");
        p
    }

    /// A file in a fresh host directory, readable by whoever runs rrun.
    pub fn host_file(&self, what: &str, content: &[u8]) -> PathBuf {
        let p = self.host_dir(what).join("file");
        fs::write(&p, content).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
        chown(&p, Some(self.uid), Some(self.gid)).expect("chown host file");
        p
    }

    /// Entries of $RRUN_ROOT/containers (none when it is absent).
    pub fn containers(&self) -> Vec<String> {
        match fs::read_dir(self.state.join("containers")) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("reading {}/containers: {e}", self.state.display()),
        }
    }

    /// Nothing left behind: no container directory, no host mount under the
    /// test directory (but the harness's own).
    pub fn assert_nothing_left(&self, after: &str) {
        let left = self.containers();
        assert!(
            left.is_empty(),
            "[{}] after {after}: {}/containers still holds {left:?}",
            self.mode,
            self.state.display()
        );
        let marks: Vec<String> = fs::read_dir(self.state.join("autoremove"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            marks.is_empty(),
            "[{}] after {after}: --rm markers left in {}/autoremove: {marks:?}",
            self.mode,
            self.state.display()
        );
        let mounts = self.env.leaked_mounts();
        assert!(
            mounts.is_empty(),
            "[{}] after {after}: host mountinfo has lines under {}:\n{}",
            self.mode,
            self.env.dir.display(),
            mounts.join("\n")
        );
    }

    /// The rootless holder recorded in $RRUN_ROOT/holder.json, if it is alive
    /// (pid, start time checked).
    pub fn holder(&self) -> Option<i32> {
        self.live_record("holder.json")
    }

    /// The pasta recorded in $RRUN_ROOT/network/pasta.json, if it is alive.
    pub fn pasta(&self) -> Option<i32> {
        self.live_record("network/pasta.json")
    }

    /// The process a record under $RRUN_ROOT names ({"pid", "start_time"}),
    /// if it is still that process and alive.
    fn live_record(&self, rel: &str) -> Option<i32> {
        let text = fs::read_to_string(self.state.join(rel)).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        let pid = i32::try_from(v.get("pid")?.as_i64()?).ok()?;
        let start = v.get("start_time")?.as_u64()?;
        (pid > 0 && start_time(pid) == Some(start) && pid_alive(pid)).then_some(pid)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for pid in [self.holder(), self.pasta()].into_iter().flatten() {
            // SAFETY: SIGKILL to the holder or pasta this test's rrun made
            // (start time checked, so not a recycled pid).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        remove_tree(&self.state);
    }
}

impl Env {
    /// Host mountinfo lines that mention the test directory, except the
    /// harness's own mount.
    pub fn leaked_mounts(&self) -> Vec<String> {
        let dir = self.dir.to_string_lossy().into_owned();
        let own = HOST_MOUNT
            .get()
            .and_then(|r| r.as_ref().ok())
            .map(|p| p.to_string_lossy().into_owned());
        host_mountinfo()
            .lines()
            .filter(|l| l.contains(&dir))
            .filter(|l| {
                own.as_ref()
                    .is_none_or(|o| mount_point(l).as_deref() != Some(o))
            })
            .map(str::to_string)
            .collect()
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$;&|<>()\\*?".contains(c))
        {
            s.push_str(&format!("{a:?}"));
        } else {
            s.push_str(&a);
        }
    }
    for (k, v) in cmd.get_envs() {
        if let (Some(v), k) = (v, k.to_string_lossy())
            && !matches!(&*k, "PATH" | "HOME" | "RRUN_ROOT")
        {
            s = format!("{k}={v:?} {s}", v = v.to_string_lossy());
        }
    }
    s
}

// ---------------------------------------------------------------------------
// Host inspection

pub fn host_mountinfo() -> String {
    // A mount point need not be UTF-8.
    String::from_utf8_lossy(
        &fs::read("/proc/self/mountinfo").expect("reading /proc/self/mountinfo"),
    )
    .into_owned()
}

/// Field 5 (the mount point) of a mountinfo line, unescaped.
pub fn mount_point(line: &str) -> Option<String> {
    line.split(' ').nth(4).map(unescape_octal)
}

pub fn mount_points(mountinfo: &str) -> Vec<String> {
    mountinfo.lines().filter_map(mount_point).collect()
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Field 22 of /proc/PID/stat.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    after_comm.split(' ').nth(19)?.parse().ok()
}

/// Whether `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 2..i + 3))
        .unwrap_or("?");
    state != "Z" && state != "X"
}

/// Live processes (not zombies) whose command line contains `needle`.
pub fn procs_with_cmdline(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return found;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) {
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push((pid, cmdline));
            }
        }
    }
    found
}

/// Poll `cond` (every 20 ms) until it holds or `timeout` passes.
pub fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A marker unique to this process and call, for finding processes by
/// command line.
pub fn unique_marker(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "rrunit{}x{}x{what}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// /proc/self/status-style lines of `text` as (key, value).
pub fn status_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

// ---------------------------------------------------------------------------
// Processes with deadlines

/// What a finished process did.
pub struct Output {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Assert the exit code, showing everything on failure.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "unexpected exit status\n{self}");
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }

    /// stdout lines (a pty's \r removed).
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .collect()
    }

    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// A failure of rrun itself: 125 and exactly one stderr line `rrun: …`.
    #[track_caller]
    pub fn expect_rrun_error(&self) -> &Self {
        self.expect_code(125);
        let lines = self.stderr_lines();
        assert!(
            lines.len() == 1 && lines[0].starts_with("rrun: "),
            "expected exactly one stderr line starting with `rrun: `\n{self}"
        );
        self
    }

    /// [`Self::expect_rrun_error`], the line containing `msg`.
    #[track_caller]
    pub fn expect_rrun_error_containing(&self, msg: &str) -> &Self {
        self.expect_rrun_error();
        assert!(
            self.stderr.contains(msg),
            "expected the error to say {msg:?}\n{self}"
        );
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command: {}\nstatus: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.what, self.status, self.stdout, self.stderr
        )
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// stdin of a spawned process.
pub enum Input {
    /// /dev/null.
    Null,
    /// A pipe that gets these bytes, then is closed.
    Bytes(Vec<u8>),
    /// A pipe that stays open until [`Proc::close_stdin`].
    Open,
}

/// A running child with a deadline; its output is collected as it comes.
pub struct Proc {
    pub what: String,
    child: Child,
    pidfd: OwnedFd,
    deadline: Instant,
    stdin: Option<OwnedFd>,
    pending: Vec<u8>,
    close_stdin_when_done: bool,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    /// For a pty: the master, for resizing.
    master: Option<OwnedFd>,
    pts_path: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    read_pos: usize,
    status: Option<ExitStatus>,
    exited_at: Option<Instant>,
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd owned here alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a valid fd.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl < 0 || libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Read what is there; Ok(false) at EOF (or EIO, a pty whose slave closed).
fn read_available(fd: RawFd, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 8192];
    loop {
        // SAFETY: reading into a local buffer of the given size.
        let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        if n > 0 {
            buf.extend_from_slice(&chunk[..n as usize]);
            continue;
        }
        if n == 0 {
            return Ok(false);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(true),
            Some(libc::EINTR) => continue,
            Some(libc::EIO) => return Ok(false),
            _ => return Err(e),
        }
    }
}

fn into_owned<T: Into<OwnedFd>>(x: Option<T>) -> Option<OwnedFd> {
    x.map(Into::into)
}

impl Proc {
    /// Spawn `cmd` with stdout and stderr on pipes.
    pub fn spawn(mut cmd: Command, input: Input, what: String) -> io::Result<Proc> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let (pending, close) = match input {
            Input::Null => {
                cmd.stdin(Stdio::null());
                (Vec::new(), false)
            }
            Input::Bytes(b) => {
                cmd.stdin(Stdio::piped());
                (b, true)
            }
            Input::Open => {
                cmd.stdin(Stdio::piped());
                (Vec::new(), false)
            }
        };
        let mut child = cmd.spawn()?;
        drop(cmd);
        let pidfd = pidfd_open(child.id())?;
        let stdin = into_owned(child.stdin.take());
        let out = into_owned(child.stdout.take());
        let err = into_owned(child.stderr.take());
        for fd in [&stdin, &out, &err].into_iter().flatten() {
            set_nonblocking(fd.as_raw_fd())?;
        }
        let mut p = Proc {
            what,
            child,
            pidfd,
            deadline: Instant::now() + TIMEOUT,
            stdin,
            pending,
            close_stdin_when_done: close,
            out,
            err,
            master: None,
            pts_path: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            read_pos: 0,
            status: None,
            exited_at: None,
        };
        if p.close_stdin_when_done && p.pending.is_empty() {
            p.stdin = None;
        }
        Ok(p)
    }

    /// Spawn `cmd` in a new session with a new pty (rows x cols) as its
    /// controlling terminal and stdin/stdout/stderr. The slave belongs to
    /// uid:gid, as after a login.
    pub fn spawn_pty(
        mut cmd: Command,
        rows: u16,
        cols: u16,
        uid: u32,
        gid: u32,
        what: String,
    ) -> io::Result<Proc> {
        let cvt = |r: libc::c_int| {
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(r)
            }
        };
        // posix_openpt + open(O_CLOEXEC) rather than openpty(3): other tests
        // spawn children concurrently, and must not inherit these fds.
        // SAFETY: plain libc calls; every fd is wrapped as soon as it exists.
        let master = unsafe {
            OwnedFd::from_raw_fd(cvt(libc::posix_openpt(
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            ))?)
        };
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: as above; ptsname_r writes a NUL-terminated name into `name`.
        let slave_path = unsafe {
            cvt(libc::grantpt(master.as_raw_fd()))?;
            cvt(libc::unlockpt(master.as_raw_fd()))?;
            let r = libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len());
            if r != 0 {
                return Err(io::Error::from_raw_os_error(r));
            }
            std::ffi::CStr::from_ptr(name.as_ptr()).to_owned()
        };
        // SAFETY: open returns a new fd, wrapped at once.
        let slave = unsafe {
            OwnedFd::from_raw_fd(cvt(libc::open(
                slave_path.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            ))?)
        };
        // SAFETY: fchown on our own fd.
        cvt(unsafe { libc::fchown(slave.as_raw_fd(), uid, gid) })?;
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ with a valid winsize.
        cvt(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) })?;
        cmd.stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        // The Command holds the slave fds: drop them, so that the master
        // reads EIO once the child side is closed.
        drop(cmd);
        let pidfd = pidfd_open(child.id())?;
        let out = master.try_clone()?;
        let inp = master.try_clone()?;
        set_nonblocking(out.as_raw_fd())?;
        Ok(Proc {
            what,
            child,
            pidfd,
            deadline: Instant::now() + TIMEOUT,
            stdin: Some(inp),
            pending: Vec::new(),
            close_stdin_when_done: false,
            out: Some(out),
            err: None,
            master: Some(master),
            pts_path: Some(slave_path.to_string_lossy().into_owned()),
            stdout: Vec::new(),
            stderr: Vec::new(),
            read_pos: 0,
            status: None,
            exited_at: None,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn exited(&self) -> Option<ExitStatus> {
        self.status
    }

    /// The pty's master (spawn_pty only).
    pub fn master(&self) -> Option<&OwnedFd> {
        self.master.as_ref()
    }

    /// The pty's slave path (spawn_pty only).
    pub fn pts_path(&self) -> Option<&str> {
        self.pts_path.as_deref()
    }

    /// One poll round, until something happens or `until`.
    fn pump(&mut self, until: Instant) {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(4);
        let mut kinds: Vec<u8> = Vec::with_capacity(4);
        let mut add = |fd: RawFd, events: libc::c_short, kind: u8| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            kinds.push(kind);
        };
        if self.status.is_none() {
            add(self.pidfd.as_raw_fd(), libc::POLLIN, b'p');
        }
        if let Some(fd) = &self.out {
            add(fd.as_raw_fd(), libc::POLLIN, b'o');
        }
        if let Some(fd) = &self.err {
            add(fd.as_raw_fd(), libc::POLLIN, b'e');
        }
        if let Some(fd) = &self.stdin
            && !self.pending.is_empty()
        {
            add(fd.as_raw_fd(), libc::POLLOUT, b'i');
        }
        let now = Instant::now();
        let ms = until.saturating_duration_since(now).as_millis().min(1000) as libc::c_int;
        if fds.is_empty() {
            return;
        }
        // SAFETY: poll on our own array.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::EINTR), "poll: {e}");
            return;
        }
        for (pfd, kind) in fds.iter().zip(kinds) {
            if pfd.revents == 0 {
                continue;
            }
            match kind {
                b'p' => {
                    if let Ok(Some(st)) = self.child.try_wait() {
                        self.status = Some(st);
                        self.exited_at = Some(Instant::now());
                    }
                }
                b'o' => {
                    let fd = pfd.fd;
                    if !read_available(fd, &mut self.stdout).unwrap_or(false) {
                        self.out = None;
                    }
                }
                b'e' => {
                    let fd = pfd.fd;
                    if !read_available(fd, &mut self.stderr).unwrap_or(false) {
                        self.err = None;
                    }
                }
                _ => self.write_pending(),
            }
        }
        if self.pending.is_empty() && self.close_stdin_when_done {
            self.stdin = None;
        }
    }

    fn write_pending(&mut self) {
        let Some(fd) = &self.stdin else {
            self.pending.clear();
            return;
        };
        while !self.pending.is_empty() {
            // SAFETY: writing from our own buffer.
            let n = unsafe {
                libc::write(
                    fd.as_raw_fd(),
                    self.pending.as_ptr().cast(),
                    self.pending.len(),
                )
            };
            if n > 0 {
                self.pending.drain(..n as usize);
                continue;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => return,
                Some(libc::EINTR) => continue,
                _ => {
                    // EPIPE (the reader is gone) or EIO: nothing more goes in.
                    self.pending.clear();
                    self.stdin = None;
                    return;
                }
            }
        }
    }

    /// Kill (SIGKILL), reap, and fail the test with everything seen so far.
    #[track_caller]
    pub fn fail(&mut self, why: &str) -> ! {
        self.kill_and_reap();
        panic!("{why}\n{}", self.snapshot());
    }

    fn snapshot(&self) -> Output {
        Output {
            what: self.what.clone(),
            status: self.status.unwrap_or_else(|| ExitStatus::from_raw(-1)),
            stdout: String::from_utf8_lossy(&self.stdout).replace('\r', ""),
            stderr: String::from_utf8_lossy(&self.stderr).into_owned(),
        }
    }

    fn kill_and_reap(&mut self) {
        if self.status.is_none() {
            // SAFETY: the child is not reaped yet, so the pid is still ours.
            unsafe { libc::kill(self.pid(), libc::SIGKILL) };
            if let Ok(st) = self.child.wait() {
                self.status = Some(st);
            }
        }
    }

    /// Send `sig` to the process (not to anything else: it is not reaped
    /// before we know it exited).
    pub fn signal(&mut self, sig: libc::c_int) {
        if self.status.is_none() {
            // SAFETY: as in kill_and_reap.
            unsafe { libc::kill(self.pid(), sig) };
        }
    }

    /// Queue bytes for stdin.
    pub fn write_stdin(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
        self.write_pending();
    }

    /// Close stdin once everything queued is written.
    pub fn close_stdin(&mut self) {
        self.close_stdin_when_done = true;
        self.write_pending();
        if self.pending.is_empty() {
            self.stdin = None;
        }
    }

    /// Resize the pty (spawn_pty only); the kernel sends SIGWINCH to the
    /// foreground process group.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let fd = self
            .master
            .as_ref()
            .expect("resize needs a pty")
            .as_raw_fd();
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ with a valid winsize.
        let r = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
        assert_eq!(r, 0, "TIOCSWINSZ: {}", io::Error::last_os_error());
    }

    /// Wait for a stdout line containing `needle` (lines after the last one
    /// returned); returns it without its line end.
    #[track_caller]
    pub fn wait_line(&mut self, needle: &str) -> String {
        loop {
            while let Some(nl) = self.stdout[self.read_pos..]
                .iter()
                .position(|&b| b == b'\n')
            {
                let line = String::from_utf8_lossy(&self.stdout[self.read_pos..self.read_pos + nl])
                    .trim_end_matches('\r')
                    .to_string();
                self.read_pos += nl + 1;
                if line.contains(needle) {
                    return line;
                }
            }
            if self.status.is_some() && self.out.is_none() {
                self.fail(&format!(
                    "the process ended without printing a line containing {needle:?}"
                ));
            }
            if Instant::now() >= self.deadline {
                self.fail(&format!(
                    "timed out after {TIMEOUT:?} waiting for a line containing {needle:?}"
                ));
            }
            self.pump(self.deadline);
        }
    }

    /// Wait for the process to exit and its output to end.
    #[track_caller]
    pub fn wait(mut self) -> Output {
        loop {
            if let (Some(_), None, None) = (self.status, &self.out, &self.err) {
                break;
            }
            let now = Instant::now();
            if now >= self.deadline {
                self.fail(&format!("timed out after {TIMEOUT:?}"));
            }
            let mut until = self.deadline;
            if let Some(t) = self.exited_at {
                let grace_end = t + PIPE_GRACE;
                if now >= grace_end {
                    if self.master.is_some() {
                        // A pty's master may see no EIO while the slave is
                        // held elsewhere; what matters here is the output.
                        break;
                    }
                    self.fail(&format!(
                        "the process exited but its stdout/stderr stayed open for {PIPE_GRACE:?} \
                         (something it started still holds them)"
                    ));
                }
                until = until.min(grace_end);
            }
            self.pump(until);
        }
        self.snapshot()
    }

    /// Wait (with the deadline) until the process exits; output read so far
    /// is kept.
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        loop {
            if let Some(st) = self.status {
                return st;
            }
            if Instant::now() >= self.deadline {
                self.fail(&format!("timed out after {TIMEOUT:?} waiting for exit"));
            }
            self.pump(self.deadline);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

// ---------------------------------------------------------------------------
// Containers that outlive one rrun invocation (tests/lifecycle*.rs): -d,
// state, cleanup that runs even when a test fails.

/// Whether `s` is exactly `n` lowercase hex digits.
pub fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `s` starts with an RFC 3339 UTC time with nanoseconds
/// (`2006-01-02T15:04:05.999999999Z`); returns the rest.
pub fn strip_rfc3339_nanos(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.len() < 30 {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..29)
        && b[29] == b'Z';
    ok.then(|| &s[30..])
}

/// Removes every container of a test's `RRUN_ROOT` when dropped, also while
/// the test is panicking: `rrun rm -f` on all of them (with a deadline, never
/// panicking), then SIGKILL to any monitor or container process a record
/// still names (start time checked). Make it right after the [`Ctx`]: it
/// borrows it, so it is dropped first.
pub struct Cleanup<'a> {
    cx: &'a Ctx,
}

impl<'a> Cleanup<'a> {
    pub fn new(cx: &'a Ctx) -> Cleanup<'a> {
        Cleanup { cx }
    }
}

impl Ctx {
    /// Entries of $RRUN_ROOT/containers, without panicking.
    fn container_entries(&self) -> Vec<String> {
        fs::read_dir(self.state.join("containers"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Run rrun with no input and no output kept, SIGKILLed past `limit`;
    /// its exit status, or None if it could not run or was killed. Never
    /// panics (for cleanup in Drop).
    pub fn rrun_quiet<S: AsRef<OsStr>>(&self, args: &[S], limit: Duration) -> Option<ExitStatus> {
        let mut c = self.cmd(args);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = c.spawn().ok()?;
        let end = Instant::now() + limit;
        loop {
            match child.try_wait() {
                Ok(Some(st)) => return Some(st),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }

    /// $RRUN_ROOT/containers/<id>/state.json, parsed.
    pub fn state_json(&self, id: &str) -> Option<serde_json::Value> {
        let p = self.state.join("containers").join(id).join("state.json");
        serde_json::from_slice(&fs::read(p).ok()?).ok()
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let cx = self.cx;
        let ids: Vec<String> = cx
            .container_entries()
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm".to_string(), "-f".to_string()];
            args.extend(ids);
            cx.rrun_quiet(&args, TIMEOUT);
        }
        // Whatever rm -f could not end.
        for n in cx.container_entries() {
            let p = cx.state.join("containers").join(&n).join("state.json");
            let Some(v) = fs::read(p)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            else {
                continue;
            };
            for (pk, sk) in [("pid", "pid_start"), ("monitor_pid", "monitor_start")] {
                let pid = v.get(pk).and_then(|x| x.as_i64()).unwrap_or(0) as i32;
                let start = v.get(sk).and_then(|x| x.as_u64());
                if pid > 1 && start.is_some() && start_time(pid) == start {
                    // SAFETY: SIGKILL to a process this test's rrun started
                    // (start time checked, so not a recycled pid).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

/// How long a state change (exit, removal, a log line) may take to show.
pub const SETTLE: Duration = Duration::from_secs(10);

impl Ctx {
    /// `rrun -d OPTS... ROOTFS CMD...`: exit 0, nothing on stderr, exactly
    /// one line on stdout, a 64-hex id. Returns the id.
    #[track_caller]
    pub fn detach(&self, opts: &[&str], cmd: &[&str]) -> String {
        let mut a: Vec<&str> = vec!["-d"];
        a.extend_from_slice(opts);
        a.push(self.rootfs());
        a.extend_from_slice(cmd);
        let out = self.rrun(&a);
        out.ok();
        let id = out.stdout.strip_suffix('\n').unwrap_or("");
        assert!(
            is_hex(id, 64) && out.stderr.is_empty(),
            "rrun -d prints exactly one line, a 64-hex id, and nothing on stderr\n{out}"
        );
        id.to_string()
    }

    /// `rrun inspect KEY`: the one object of the array it prints.
    #[track_caller]
    pub fn inspect_json(&self, key: &str) -> serde_json::Value {
        let out = self.rrun(&["inspect", key]);
        out.ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("inspect prints JSON: {e}\n{out}"));
        match v {
            serde_json::Value::Array(mut a) if a.len() == 1 => a.remove(0),
            _ => panic!("inspect of one container prints an array of one object\n{out}"),
        }
    }

    /// `rrun inspect -f FORMAT KEY`'s stdout without its line end.
    #[track_caller]
    pub fn inspect_f(&self, format: &str, key: &str) -> String {
        let out = self.rrun(&["inspect", "-f", format, key]);
        out.ok();
        out.stdout
            .strip_suffix('\n')
            .unwrap_or(&out.stdout)
            .to_string()
    }

    /// ps -a's STATUS of the container named `name`.
    #[track_caller]
    pub fn ps_status(&self, name: &str) -> String {
        let out = self.rrun(&["ps", "-a", "--format", "{{.Names}}|{{.Status}}"]);
        out.ok();
        out.lines()
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{name}|")))
            .unwrap_or_else(|| panic!("ps -a does not show {name}\n{out}"))
            .to_string()
    }

    /// Poll `rrun logs KEY` until its stdout or stderr contains `needle`.
    #[track_caller]
    pub fn wait_logs(&self, key: &str, needle: &str) -> Output {
        let mut last = None;
        let found = poll_until(SETTLE, || {
            let out = self.rrun(&["logs", key]);
            let hit = out.stdout.contains(needle) || out.stderr.contains(needle);
            last = Some(out);
            hit
        });
        let last = last.expect("logs ran at least once");
        assert!(
            found,
            "[{}] the logs of {key} did not show {needle:?} within {SETTLE:?}\n{last}",
            self.mode
        );
        last
    }

    /// `rrun logs ARGS KEY`, which must succeed.
    #[track_caller]
    pub fn logs(&self, args: &[&str], key: &str) -> Output {
        let mut a = vec!["logs"];
        a.extend_from_slice(args);
        a.push(key);
        let out = self.rrun(&a);
        out.ok();
        out
    }

    /// Poll until KEY's State.Status is "exited" (`rrun inspect`) and the
    /// monitor named in its state.json is gone: only then are its exit code
    /// and its log final (the container's process may be gone a moment
    /// before its monitor has recorded the exit).
    #[track_caller]
    pub fn wait_exited(&self, key: &str) {
        let mut last = String::new();
        let done = poll_until(SETTLE, || {
            last = self.inspect_f("{{.State.Status}}", key);
            if last != "exited" {
                return false;
            }
            let id = self.inspect_f("{{.Id}}", key);
            let Some(st) = self.state_json(&id) else {
                return true;
            };
            let pid = st["monitor_pid"].as_i64().unwrap_or(0) as i32;
            let start = st["monitor_start"].as_u64();
            pid <= 0 || start_time(pid) != start || !pid_alive(pid)
        });
        assert!(
            done,
            "[{}] {key} did not exit within {SETTLE:?} (State.Status {last:?})",
            self.mode
        );
    }
}

/// The block that opens every container's /etc/hosts, as Docker 20.10
/// writes it.
pub const DEFAULT_HOSTS: [&str; 6] = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
];

/// The rows of a `ps` table as (column, value) maps, cut at the header's
/// column offsets (the table is aligned, so a value starts where its
/// heading does). Returns the header's column names and the rows.
#[track_caller]
pub fn ps_table(stdout: &str) -> (Vec<String>, Vec<std::collections::BTreeMap<String, String>>) {
    let mut lines = stdout.lines();
    let header: Vec<char> = lines.next().unwrap_or("").chars().collect();
    // Column starts: a non-space after two or more spaces (or at 0).
    let mut starts = Vec::new();
    for i in 0..header.len() {
        if header[i] != ' ' && (i == 0 || (i >= 2 && header[i - 1] == ' ' && header[i - 2] == ' '))
        {
            starts.push(i);
        }
    }
    let cut = |chars: &[char], k: usize| -> String {
        let from = starts[k].min(chars.len());
        let to = starts
            .get(k + 1)
            .copied()
            .unwrap_or(chars.len())
            .min(chars.len());
        chars[from..to]
            .iter()
            .collect::<String>()
            .trim()
            .to_string()
    };
    let names: Vec<String> = (0..starts.len()).map(|k| cut(&header, k)).collect();
    let rows = lines
        .map(|l| {
            let chars: Vec<char> = l.chars().collect();
            (0..starts.len())
                .map(|k| (names[k].clone(), cut(&chars, k)))
                .collect()
        })
        .collect();
    (names, rows)
}

/// "Less than a second", "N seconds", "About a minute", … as ps prints ages.
pub fn is_human_duration(s: &str) -> bool {
    if matches!(
        s,
        "Less than a second" | "1 second" | "About a minute" | "About an hour"
    ) {
        return true;
    }
    let Some((n, unit)) = s.split_once(' ') else {
        return false;
    };
    !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "seconds" | "minutes" | "hours")
}

/// ps's STATUS of a running container: "Up <duration>".
pub fn is_up_status(s: &str) -> bool {
    s.strip_prefix("Up ").is_some_and(is_human_duration)
}

/// ps's STATUS of an exited container: "Exited (CODE) <duration> ago".
pub fn is_exited_status(s: &str, code: i32) -> bool {
    s.strip_prefix(&format!("Exited ({code}) "))
        .and_then(|r| r.strip_suffix(" ago"))
        .is_some_and(is_human_duration)
}

// ---------------------------------------------------------------------------
// Added for tests/hostile_rootfs.rs

impl Ctx {
    /// As [`Ctx::cmd`], but rrun runs in a private mount namespace of its
    /// own in which `dir` is bind-mounted read-only (set up as root, before
    /// the rootless uid switch): a read-only rootfs that never shows in the
    /// host's mount table, and is gone when rrun exits.
    pub fn cmd_read_only<S: AsRef<OsStr>>(&self, args: &[S], dir: &Path) -> Command {
        assert!(is_root(), "{}", needs_root_step("a read-only bind mount"));
        let target = CString::new(dir.as_os_str().as_encoded_bytes()).expect("no NUL in the path");
        let mut c = self.base_cmd(args);
        // SAFETY: unshare and mount are async-signal-safe and change only
        // the child; `target` is a valid C string owned by the closure.
        unsafe {
            c.pre_exec(move || {
                let t = target.as_ptr();
                let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                    && libc::mount(
                        std::ptr::null(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ) == 0
                    && libc::mount(t, t, std::ptr::null(), libc::MS_BIND, std::ptr::null()) == 0
                    && libc::mount(
                        std::ptr::null(),
                        t,
                        std::ptr::null(),
                        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
                        std::ptr::null(),
                    ) == 0;
                if ok {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
        self.finish_cmd(&mut c);
        c
    }
}

/// Every entry under `dir` (not following symlinks) with what it is: a
/// directory's mode and owner, a file's mode, owner and sha256, a
/// symlink's target. Two equal snapshots: nothing was written, created,
/// removed or re-owned there.
pub fn tree_snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::MetadataExt;
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()));
        let ft = md.file_type();
        let what = if ft.is_symlink() {
            format!(
                "link {}",
                fs::read_link(&p)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default()
            )
        } else if ft.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(&p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
                .flatten()
                .map(|e| e.path())
                .collect();
            entries.sort();
            stack.extend(entries);
            format!("dir {:o} {}:{}", md.mode(), md.uid(), md.gid())
        } else if ft.is_file() {
            let data = fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            format!(
                "file {:o} {}:{} {:x}",
                md.mode(),
                md.uid(),
                md.gid(),
                Sha256::digest(&data)
            )
        } else {
            format!("other {:o}", md.mode())
        };
        out.insert(p, what);
    }
    out
}

/// This test binary, copied once per process into the shared test
/// directory, where the test user can read it (tests bind-mount it into
/// containers to make system calls or serve from inside).
pub fn self_copy() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let env = env().expect("test environment");
        let dst = env.dir.join("test-binary");
        let tmp = env.dir.join(format!("test-binary.{}", std::process::id()));
        fs::copy(std::env::current_exe().expect("current_exe"), &tmp)
            .expect("copying the test binary");
        fs::rename(&tmp, &dst).expect("renaming the test binary copy");
        dst
    })
}

// ---------------------------------------------------------------------------
// Added for tests/escapes.rs

/// Where rrun looks for the nft program.
pub const NFT_PATHS: [&str; 4] = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft"];

impl Ctx {
    /// As [`Ctx::cmd`], but rrun runs in a private mount namespace of its
    /// own in which every `nft` it would find is hidden (/dev/null bound
    /// over it): a host without the nft program, and only for this rrun.
    pub fn cmd_without_nft<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        assert!(
            is_root(),
            "{}",
            needs_root_step("hiding nft with a bind mount")
        );
        let hide: Vec<CString> = NFT_PATHS
            .iter()
            .filter(|p| Path::new(p).is_file())
            .map(|p| CString::new(*p).expect("no NUL"))
            .collect();
        self.cmd_hiding(args, hide)
    }

    /// rrun in a private mount namespace of its own, /dev/null bound over
    /// each of `hide`.
    fn cmd_hiding<S: AsRef<OsStr>>(&self, args: &[S], hide: Vec<CString>) -> Command {
        let mut c = self.base_cmd(args);
        // SAFETY: unshare and mount are async-signal-safe and change only
        // the child; the C strings are owned by the closure.
        unsafe {
            c.pre_exec(move || {
                if libc::unshare(libc::CLONE_NEWNS) != 0
                    || libc::mount(
                        std::ptr::null(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                for p in &hide {
                    if libc::mount(
                        c"/dev/null".as_ptr(),
                        p.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND,
                        std::ptr::null(),
                    ) != 0
                    {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        self.finish_cmd(&mut c);
        c
    }
}

// ---------------------------------------------------------------------------
// Added for tests/cli.rs

/// Where rrun would find each of `programs` on this host: nft at its fixed
/// paths, anything else on HOST_PATH (and /usr/bin, /bin, as ns.rs looks).
pub fn program_paths(programs: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for p in programs {
        let mut cands: Vec<String> = if *p == "nft" {
            NFT_PATHS.iter().map(|s| s.to_string()).collect()
        } else {
            HOST_PATH
                .split(':')
                .chain(["/usr/bin", "/bin"])
                .map(|d| format!("{d}/{p}"))
                .collect()
        };
        cands.retain(|c| Path::new(c).is_file());
        for c in cands {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

impl Ctx {
    /// As [`Ctx::cmd`], but rrun runs in a private mount namespace of its
    /// own in which each of `programs` is hidden wherever rrun would find
    /// it (/dev/null bound over it): a host without them, for this rrun
    /// only (and what it starts).
    pub fn cmd_without_programs<S: AsRef<OsStr>>(&self, args: &[S], programs: &[&str]) -> Command {
        let hide: Vec<CString> = program_paths(programs)
            .into_iter()
            .map(|p| CString::new(p).expect("no NUL"))
            .collect();
        self.cmd_hiding(args, hide)
    }
}

impl Proc {
    /// Wait until stdout holds `needle` anywhere, a line end or not (a
    /// prompt waits for its answer on the same line).
    #[track_caller]
    pub fn wait_text(&mut self, needle: &str) {
        loop {
            if String::from_utf8_lossy(&self.stdout).contains(needle) {
                return;
            }
            if self.status.is_some() && self.out.is_none() {
                self.fail(&format!("the process ended without printing {needle:?}"));
            }
            if Instant::now() >= self.deadline {
                self.fail(&format!(
                    "timed out after {TIMEOUT:?} waiting for {needle:?}"
                ));
            }
            self.pump(self.deadline);
        }
    }
}
