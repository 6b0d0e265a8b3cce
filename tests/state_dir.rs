//! Where the state directory is when RRUN_ROOT is not set
//! (src/state.rs `root_path` and `State::open`), for the unprivileged user:
//! `$XDG_RUNTIME_DIR/rrun` when XDG_RUNTIME_DIR is a directory, else
//! /tmp/rrun-UID, made 0700 and refused (125, one `rrun: ` line) when it
//! belongs to someone else, is open to others or is not a directory.
//!
//! Every case runs in a private mount namespace whose /tmp is a fresh tmpfs
//! (the test directory bind-mounted back at its own path, so the binary and
//! the rootfs stay where they are): the machine's own /tmp/rrun-UID is never
//! touched. The script that sets the case up runs as root, runs rrun as the
//! test user without RRUN_ROOT, reports what it finds and kills the rootless
//! holder the run left (scripts/kill-holder.sh's functions) before the namespace ends.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

/// Where the script's report ends and rrun's own stderr begins.
const STDERR_MARK: &str = "--- rrun stderr ---";

/// The script, run as root by `unshare --mount --propagation private` with
/// DIR BIN ROOTFS U G H HOST_PATH KILL_HOLDER SETUP [XDG] in its
/// environment. It prints `key<TAB>value` lines, then STDERR_MARK and
/// rrun's stderr. Exit codes 90-95: the setup failed.
const SCRIPT: &str = r#"
set -u
# A fresh /tmp, with the test directory (binary, rootfs) back in place.
exec 3<"$DIR" || exit 90
mount -t tmpfs -o mode=1777,size=16m rrun-it-state-dir /tmp || exit 91
mkdir -p "$DIR" || exit 92
# --no-canonicalize: mount would resolve the fd's link to $DIR, now empty.
mount --no-canonicalize --bind /proc/self/fd/3 "$DIR" || exit 92
exec 3<&-
cd "$DIR" || exit 93
eval "$KILL_HOLDER" || exit 94
TMPSTATE=/tmp/rrun-$U
XDGSTATE=${XDG:-/nonexistent}/rrun
# No process of this run may outlive it, whatever happens below.
trap 'kill_holder "$TMPSTATE"; kill_holder "$XDGSTATE"' EXIT

eval "$SETUP" || exit 95

# A home in the fresh /tmp: the containers' data directory,
# ~/.local/share/rrun, is made there and goes with it.
H=/tmp/home-$U
mkdir -p "$H" && chown "$U:$G" "$H" || exit 96
DATASTATE=$H/.local/share/rrun

set -- "PATH=$HOST_PATH" "HOME=$H"
if [ -n "${XDG+set}" ]; then set -- "$@" "XDG_RUNTIME_DIR=$XDG"; fi
timeout -s KILL 10 setpriv --reuid="$U" --regid="$G" --clear-groups \
    env -i "$@" "$BIN" --net=none --rm "$ROOTFS" true >/tmp/.rrun-out 2>/tmp/.rrun-err
printf 'code\t%s\n' "$?"

for p in "$TMPSTATE" "$XDGSTATE" "$DATASTATE" /tmp/target; do
    printf 'stat %s\t%s\n' "$p" "$(stat -c '%a %u %F' "$p" 2>/dev/null || echo none)"
    printf 'ls %s\t%s\n' "$p" "$(ls -A "$p" 2>/dev/null | tr '\n' ' ')"
    printf 'containers %s\t%s\n' "$p" "$(ls -A "$p/containers" 2>/dev/null | tr '\n' ' ')"
    if [ -f "$p/holder.json" ]; then
        printf 'holder %s\t%s\n' "$p" "$(tr -d '\n' <"$p/holder.json")"
    fi
done
printf 'stdout\t%s\n' "$(tr '\n' ' ' </tmp/.rrun-out)"
echo "$STDERR_MARK"
cat /tmp/.rrun-err
"#;

/// What one case's script reported.
struct Seen {
    /// The whole run, for failure messages.
    out: Output,
    facts: BTreeMap<String, String>,
    /// rrun's own stderr.
    stderr: String,
}

impl Seen {
    #[track_caller]
    fn fact(&self, key: &str) -> &str {
        self.facts
            .get(key)
            .unwrap_or_else(|| panic!("the script did not report {key:?}\n{}", self.out))
    }

    #[track_caller]
    fn code(&self) -> i32 {
        self.fact("code")
            .parse()
            .unwrap_or_else(|_| panic!("bad exit code\n{}", self.out))
    }

    /// `stat -c '%a %u %F'` of `path` (inside the namespace), or "none".
    #[track_caller]
    fn stat(&self, path: &str) -> &str {
        self.fact(&format!("stat {path}"))
    }

    /// The entries of `path`, sorted.
    #[track_caller]
    fn ls(&self, path: &str) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .fact(&format!("ls {path}"))
            .split_whitespace()
            .collect();
        v.sort_unstable();
        v
    }

    #[track_caller]
    fn containers(&self, path: &str) -> Vec<&str> {
        self.fact(&format!("containers {path}"))
            .split_whitespace()
            .collect()
    }

    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// rrun exited 0 and said nothing.
    #[track_caller]
    fn ran(&self) {
        assert_eq!(self.code(), 0, "rrun should have run\n{}", self.out);
        assert_eq!(self.stderr, "", "rrun said something\n{}", self.out);
    }

    /// rrun refused: 125 and exactly one stderr line starting `rrun: `.
    /// Returns that line.
    #[track_caller]
    fn refused(&self) -> &str {
        assert_eq!(self.code(), 125, "rrun should have refused\n{}", self.out);
        let l = self.stderr_lines();
        assert!(
            l.len() == 1 && l[0].starts_with("rrun: "),
            "expected exactly one stderr line starting with `rrun: `\n{}",
            self.out
        );
        l[0]
    }
}

/// The tools the script needs, or a reason to skip.
fn tools_missing() -> Option<String> {
    missing_tool(&["unshare", "setpriv", "timeout", "mount", "stat", "bash"]).map(|tool| {
        format!(
            "`{tool}` is not installed (util-linux/coreutils): the state directory tests \
             need it"
        )
    })
}

/// A rootless Ctx and the tools, or None after a loud SKIP.
fn setup() -> Option<Ctx> {
    if let Some(why) = tools_missing() {
        skip(&why);
        return None;
    }
    Ctx::new_needing_root(Mode::Rootless, "a mount namespace with a /tmp of its own")
}

/// The machine's own /tmp/rrun-UID as (inode, ctime), None when absent:
/// the cases must leave it as it was.
fn host_tmp_state(cx: &Ctx) -> Option<(u64, i64, i64)> {
    fs::symlink_metadata(format!("/tmp/rrun-{}", cx.uid))
        .ok()
        .map(|m| (m.ino(), m.ctime(), m.ctime_nsec()))
}

/// Run rrun as the test user in a private /tmp prepared by `setup` (a root
/// shell snippet; `$U` `$G` are the user's uid and gid), with
/// XDG_RUNTIME_DIR set to `xdg` if given and no RRUN_ROOT.
#[track_caller]
fn run_case(cx: &Ctx, what: &str, setup: &str, xdg: Option<&str>) -> Seen {
    let host_before = host_tmp_state(cx);
    // The script's text, not its path: the checkout may be under /tmp,
    // which the fresh tmpfs hides.
    let kill_holder = include_str!("../scripts/kill-holder.sh");
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "bash", "-c"])
        .arg(SCRIPT)
        .env_clear()
        .env("PATH", HOST_PATH)
        .env("DIR", &cx.env.dir)
        .env("BIN", &cx.env.bin)
        .env("ROOTFS", &cx.env.rootfs)
        .env("U", cx.uid.to_string())
        .env("G", cx.gid.to_string())
        .env("H", &cx.home)
        .env("HOST_PATH", HOST_PATH)
        .env("KILL_HOLDER", kill_holder)
        .env("STDERR_MARK", STDERR_MARK)
        .env("SETUP", setup);
    if let Some(x) = xdg {
        cmd.env("XDG", x);
    }
    // Off the machine's network too, like every rrun of the harness.
    if let Some(ns) = &cx.netns {
        ns.enter(&mut cmd);
    }
    let out = cx.run(cmd, Input::Null);
    assert_eq!(
        out.code(),
        Some(0),
        "[{what}] the case's script failed\n{out}"
    );
    let (report, stderr) = out
        .stdout
        .split_once(&format!("{STDERR_MARK}\n"))
        .unwrap_or_else(|| panic!("[{what}] no {STDERR_MARK:?} in the report\n{out}"));
    let facts: BTreeMap<String, String> = report
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    let stderr = stderr.to_string();
    let seen = Seen { out, facts, stderr };

    // The holder the run left was killed by the script (its pid and start
    // time as recorded): nothing of the case lives on.
    for (k, v) in &seen.facts {
        if !k.starts_with("holder ") {
            continue;
        }
        let h: serde_json::Value = serde_json::from_str(v)
            .unwrap_or_else(|e| panic!("[{what}] {k}: bad JSON ({e})\n{}", seen.out));
        let pid = h["pid"].as_i64().unwrap_or(0) as i32;
        let start = h["start_time"].as_u64();
        assert!(pid > 0, "[{what}] {k} has no pid\n{}", seen.out);
        let gone = poll_until(Duration::from_secs(5), || {
            start_time(pid) != start || !pid_alive(pid)
        });
        if !gone && start_time(pid) == start {
            // Fail, but leave nothing behind.
            // SAFETY: SIGKILL to the holder this case's rrun made (start
            // time checked: not a reused pid).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        assert!(
            gone,
            "[{what}] the holder (pid {pid}) outlived the case\n{}",
            seen.out
        );
    }
    assert_eq!(
        host_tmp_state(cx),
        host_before,
        "[{what}] the machine's own /tmp/rrun-{} changed",
        cx.uid
    );
    // Shown with --nocapture or on a failure.
    eprintln!(
        "[{what}] rrun exit {}, stderr: {:?}",
        seen.code(),
        seen.stderr
    );
    seen
}

/// No usable XDG_RUNTIME_DIR: /tmp/rrun-UID, made 0700 and the user's.
#[test]
fn tmp_fallback() {
    let Some(cx) = setup() else { return };
    let tmp = format!("/tmp/rrun-{}", cx.uid);
    for (what, setup, xdg) in [
        ("no XDG_RUNTIME_DIR", "", None),
        ("XDG_RUNTIME_DIR missing", "", Some("/tmp/no-such-dir")),
        (
            "XDG_RUNTIME_DIR a file",
            "echo > /tmp/xdg-file && chown $U:$G /tmp/xdg-file",
            Some("/tmp/xdg-file"),
        ),
        ("XDG_RUNTIME_DIR empty", "", Some("")),
    ] {
        let s = run_case(&cx, what, setup, xdg);
        s.ran();
        assert_eq!(
            s.stat(&tmp),
            format!("700 {} directory", cx.uid),
            "[{what}] {tmp}: mode 0700, owned by the user\n{}",
            s.out
        );
        let ls = s.ls(&tmp);
        assert!(
            ls.contains(&"holder.json"),
            "[{what}] {tmp} should hold holder.json: {ls:?}\n{}",
            s.out
        );
        let data = format!("/tmp/home-{}/.local/share/rrun", cx.uid);
        let ls = s.ls(&data);
        for want in ["containers", "names"] {
            assert!(
                ls.contains(&want),
                "[{what}] {data} should hold {want}: {ls:?}\n{}",
                s.out
            );
        }
        assert_eq!(
            s.containers(&data),
            Vec::<&str>::new(),
            "[{what}] --rm left a container\n{}",
            s.out
        );
    }
}

/// XDG_RUNTIME_DIR a directory of the user's: the state is there, and
/// /tmp/rrun-UID is not made.
#[test]
fn xdg_runtime_dir() {
    let Some(cx) = setup() else { return };
    let tmp = format!("/tmp/rrun-{}", cx.uid);
    let s = run_case(
        &cx,
        "XDG_RUNTIME_DIR a directory",
        "mkdir -m 700 /tmp/xdg && chown $U:$G /tmp/xdg",
        Some("/tmp/xdg"),
    );
    s.ran();
    let state = "/tmp/xdg/rrun";
    assert_eq!(
        s.stat(state),
        format!("700 {} directory", cx.uid),
        "{state}: mode 0700, owned by the user\n{}",
        s.out
    );
    let ls = s.ls(state);
    assert!(
        ls.contains(&"holder.json"),
        "{state} should hold holder.json: {ls:?}\n{}",
        s.out
    );
    // The containers themselves are kept in the data directory.
    let data = format!("/tmp/home-{}/.local/share/rrun", cx.uid);
    let ls = s.ls(&data);
    for want in ["containers", "names"] {
        assert!(
            ls.contains(&want),
            "{data} should hold {want}: {ls:?}\n{}",
            s.out
        );
    }
    assert_eq!(
        s.containers(&data),
        Vec::<&str>::new(),
        "--rm left a container\n{}",
        s.out
    );
    assert_eq!(s.stat(&tmp), "none", "{tmp} was made\n{}", s.out);
}

/// A /tmp/rrun-UID that someone else could have made or can reach is
/// refused, and nothing is written into it.
#[test]
fn unsafe_tmp_dir_refused() {
    let Some(cx) = setup() else { return };
    let tmp = format!("/tmp/rrun-{}", cx.uid);

    // Made by root first.
    let s = run_case(&cx, "owned by root", "mkdir -m 700 /tmp/rrun-$U", None);
    let line = s.refused();
    assert!(
        line.contains(&tmp) && line.contains("belongs to uid 0, not to you"),
        "the error should name {tmp} and say it belongs to someone else\n{}",
        s.out
    );
    assert_eq!(s.stat(&tmp), "700 0 directory", "{}", s.out);
    assert_eq!(s.ls(&tmp), Vec::<&str>::new(), "{}", s.out);

    // The user's, but open to others.
    let s = run_case(
        &cx,
        "mode 755",
        "mkdir -m 755 /tmp/rrun-$U && chown $U:$G /tmp/rrun-$U",
        None,
    );
    let line = s.refused();
    assert!(
        line.contains(&tmp) && line.contains("open to other users") && line.contains("755"),
        "the error should name {tmp} and say it is open to other users (mode 755)\n{}",
        s.out
    );
    assert_eq!(
        s.stat(&tmp),
        format!("755 {} directory", cx.uid),
        "{}",
        s.out
    );
    assert_eq!(s.ls(&tmp), Vec::<&str>::new(), "{}", s.out);

    // A symlink to a directory of the user's: not the directory itself.
    let s = run_case(
        &cx,
        "a symlink",
        "mkdir -m 700 /tmp/target && chown $U:$G /tmp/target && ln -s /tmp/target /tmp/rrun-$U",
        None,
    );
    let line = s.refused();
    assert!(
        line.contains(&tmp),
        "the error should name {tmp}\n{}",
        s.out
    );
    assert!(
        s.stat(&tmp).ends_with("symbolic link"),
        "{tmp} is still the symlink\n{}",
        s.out
    );
    assert_eq!(
        s.ls("/tmp/target"),
        Vec::<&str>::new(),
        "nothing is written through the symlink\n{}",
        s.out
    );
}

/// An XDG_RUNTIME_DIR outside /tmp that others can write to (a careless
/// `XDG_RUNTIME_DIR=/dev/shm`): an `rrun` directory another user made
/// there first, or one open to others, is refused as /tmp/rrun-UID would
/// be, and nothing is written into it.
#[test]
fn unsafe_xdg_dir_refused() {
    let Some(cx) = setup() else { return };
    let shared = "mount -t tmpfs -o mode=1777,size=1m rrun-it-xdg /mnt";
    let state = "/mnt/rrun";
    let s = run_case(
        &cx,
        "XDG rrun made by another user",
        &format!("{shared} && mkdir -m 777 {state} && chown 65534:65534 {state}"),
        Some("/mnt"),
    );
    let line = s.refused();
    assert!(
        line.contains(state) && line.contains("belongs to uid 65534, not to you"),
        "the error should name {state} and say it belongs to someone else\n{}",
        s.out
    );
    assert_eq!(s.ls(state), Vec::<&str>::new(), "{}", s.out);

    let s = run_case(
        &cx,
        "XDG rrun open to others",
        &format!("{shared} && mkdir -m 777 {state} && chown $U:$G {state}"),
        Some("/mnt"),
    );
    let line = s.refused();
    assert!(
        line.contains(state) && line.contains("open to other users") && line.contains("777"),
        "the error should name {state} and say it is open to other users\n{}",
        s.out
    );
    assert_eq!(s.ls(state), Vec::<&str>::new(), "{}", s.out);
}
