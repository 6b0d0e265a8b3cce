//! The container log's bounds (issue 12, item 6): `--log-opt
//! max-size/max-file` and rrun's default cap hold while a container writes
//! without pause, `logs -f` follows the log across rotations without
//! losing or repeating a line still on disk, `logs` and `--tail` read
//! across the rotated files, `--log-driver none` keeps nothing, and bad
//! options are refused before anything is made.
//!
//! Every test runs as root and rootless, in its own RRUN_ROOT.

#[macro_use]
mod common;

use common::*;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

both_modes!(
    bad_log_opts_refused,
    log_opt_cap_holds_while_writing,
    default_log_cap_holds,
    follow_across_rotations,
    tail_and_all_across_rotated_files,
    log_driver_none,
);

/// A JSON entry of the log is at most this much longer than its text.
const ENTRY_OVERHEAD: u64 = 100;

fn container_dir(cx: &Ctx, id: &str) -> PathBuf {
    cx.state.join("containers").join(id)
}

/// The log's files now in a container's directory, with their sizes
/// (a file moved between the listing and its stat is left out).
fn log_files(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if !n.starts_with("log.jsonl") {
                        return None;
                    }
                    let len = fs::metadata(e.path()).ok()?.len();
                    Some((n, len))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Lines of numbers, as the containers here print them.
fn numbers(text: &str) -> Vec<u64> {
    text.lines()
        .map(|l| {
            l.split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a numbered line: {l:?}"))
        })
        .collect()
}

fn bad_log_opts_refused(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let cases: &[(&[&str], &str)] = &[
        (
            &["--log-opt", "max-size=0"],
            "failed to initialize logging driver: max-size must be a positive number",
        ),
        (
            &["--log-opt", "max-size=-1"],
            "failed to initialize logging driver: invalid size: '-1'",
        ),
        (
            &["--log-opt", "max-size=10q"],
            "failed to initialize logging driver: invalid size: '10q'",
        ),
        (
            &["--log-opt", "max-size"],
            "failed to initialize logging driver: invalid size: ''",
        ),
        (
            &["--log-opt", "max-file=0"],
            "failed to initialize logging driver: max-file cannot be less than 1",
        ),
        (
            &["--log-opt", "max-file=two"],
            "failed to initialize logging driver: invalid max-file 'two': use a whole number",
        ),
        (
            &["--log-opt", "max-size=1m", "--log-opt", "bogus=1"],
            "unknown log opt 'bogus' for json-file log driver",
        ),
        (
            &["--log-opt", "compress=true"],
            "log opt 'compress' is not supported by rrun: it knows max-size and max-file",
        ),
        (
            &["--log-driver", "syslog"],
            "no log driver named 'syslog' in rrun: use json-file or none",
        ),
        (
            &["--log-driver", "none", "--log-opt", "max-size=1m"],
            "invalid logging opts for driver none",
        ),
    ];
    for (opts, msg) in cases {
        for detach in [false, true] {
            let mut args: Vec<&str> = Vec::new();
            if detach {
                args.push("-d");
            }
            args.extend_from_slice(&["--name", "logged"]);
            args.extend_from_slice(opts);
            args.extend_from_slice(&[cx.rootfs(), "/bin/true"]);
            let out = cx.rrun(&args);
            assert!(
                out.code() == Some(125)
                    && out.stderr == format!("rrun: {msg}\n")
                    && out.stdout.is_empty(),
                "[{mode}] {args:?}: exit 125 and `rrun: {msg}`\n{out}"
            );
            cx.assert_nothing_left(&format!("{args:?}"));
        }
    }
    // The name was never taken.
    let names: Vec<String> = fs::read_dir(cx.state.join("names"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(names.is_empty(), "[{mode}] names left: {names:?}");
    cx.detach(&["--name", "logged"], &["true"]);
}

fn log_opt_cap_holds_while_writing(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let max_size = 64 * 1000;
    let id = cx.detach(
        &["--log-opt", "max-size=64k", "--log-opt", "max-file=2"],
        &["sh", "-c", "i=0; while :; do echo $i; i=$((i+1)); done"],
    );
    let v = cx.inspect_json(&id);
    assert_eq!(
        v["HostConfig"]["LogConfig"],
        serde_json::json!({"Type": "json-file", "Config": {"max-file": "2", "max-size": "64k"}}),
        "{v:#}"
    );
    // A follower from the start: it may fall behind (lines rotated out
    // before it reads them are gone), but never repeats or reorders one.
    let follower = cx.spawn(cx.cmd(&["logs", "-f", &id]), Input::Null);
    let dir = container_dir(&cx, &id);
    // Entries are at least 60 bytes: written is at least 60 × the last
    // number. Go on until that is 10 times the cap of both files.
    let goal = 10 * 2 * max_size / 60;
    let mut last = 0;
    let mut samples = 0;
    let t0 = Instant::now();
    while last < goal {
        assert!(
            t0.elapsed() < SETTLE * 3,
            "[{mode}] the container wrote only {last} lines in {:?}",
            t0.elapsed()
        );
        let files = log_files(&dir);
        samples += 1;
        assert!(
            files.len() <= 2
                && files
                    .iter()
                    .all(|(n, _)| n == "log.jsonl" || n == "log.jsonl.1"),
            "[{mode}] max-file=2 keeps log.jsonl and log.jsonl.1 only: {files:?}"
        );
        for (n, len) in &files {
            assert!(
                *len < max_size + ENTRY_OVERHEAD,
                "[{mode}] {n} is {len} bytes: over max-size=64k by more than an entry"
            );
        }
        let out = cx.rrun(&["logs", "--tail", "1", &id]);
        out.ok();
        if let Some(n) = numbers(&out.stdout).last() {
            last = *n;
        }
    }
    cx.rrun(&["kill", &id]).ok();
    let seen = follower.wait();
    seen.ok();
    let seen = numbers(&seen.stdout);
    assert!(
        seen.windows(2).all(|w| w[1] > w[0]),
        "[{mode}] logs -f printed a line twice or out of order"
    );
    cx.wait_exited(&id);
    let on_disk = cx.rrun(&["logs", &id]);
    on_disk.ok();
    let on_disk = numbers(&on_disk.stdout);
    assert!(
        !on_disk.is_empty() && seen.ends_with(&on_disk),
        "[{mode}] logs -f printed every line still on disk ({} lines, {}..{}); it printed {} lines ending {:?}",
        on_disk.len(),
        on_disk.first().unwrap_or(&0),
        on_disk.last().unwrap_or(&0),
        seen.len(),
        seen.last()
    );
    assert!(samples > 1 && last >= goal);
}

fn default_log_cap_holds(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // 1 KiB lines, numbered, as fast as the shell goes.
    let id = cx.detach(
        &[],
        &[
            "sh",
            "-c",
            "s=x; for k in 1 2 3 4 5 6 7 8 9 10; do s=$s$s; done; \
             i=0; while :; do echo \"$i $s\"; i=$((i+1)); done",
        ],
    );
    let v = cx.inspect_json(&id);
    assert_eq!(
        v["HostConfig"]["LogConfig"],
        serde_json::json!({"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}),
        "rrun's default cap, 10m × 3\n{v:#}"
    );
    let dir = container_dir(&cx, &id);
    let max_size = 10_000_000;
    // Until four files' worth was written: the oldest of three has been
    // dropped at least once.
    let goal = 4 * max_size / 1024;
    let mut last = 0;
    let mut saw_third = false;
    let t0 = Instant::now();
    while last < goal || !saw_third {
        assert!(
            t0.elapsed() < SETTLE * 6,
            "[{mode}] the container wrote only {last} lines of 1 KiB in {:?}",
            t0.elapsed()
        );
        let files = log_files(&dir);
        assert!(
            files.len() <= 3
                && files
                    .iter()
                    .all(|(n, _)| ["log.jsonl", "log.jsonl.1", "log.jsonl.2"].contains(&n.as_str())),
            "[{mode}] the default keeps three files: {files:?}"
        );
        saw_third |= files.iter().any(|(n, _)| n == "log.jsonl.2");
        for (n, len) in &files {
            assert!(
                *len < max_size + 1024 + ENTRY_OVERHEAD,
                "[{mode}] {n} is {len} bytes: over 10m by more than an entry"
            );
        }
        let out = cx.rrun(&["logs", "--tail", "1", &id]);
        out.ok();
        if let Some(n) = numbers(&out.stdout).last() {
            last = *n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cx.rrun(&["rm", "-f", &id]).ok();
}

fn follow_across_rotations(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // The container prints a batch of 40 numbered lines (about 3 KB of
    // log, so two or three rotations of 1 KB files) each time the test
    // writes a line to a fifo; the test writes the next once `logs -f`
    // has shown the batch. Five files hold more than a batch, so every
    // line is still on disk when the follower comes to it: it must print
    // them all, once each, in order.
    let dir = cx.host_dir("fifo");
    let fifo = dir.join("go");
    let c = std::ffi::CString::new(fifo.to_str().expect("UTF-8 path")).expect("no NUL");
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0, "mkfifo");
    fs::set_permissions(&fifo, fs::Permissions::from_mode(0o666)).expect("chmod fifo");
    let vol = format!("{}:/t", dir.display());
    let id = cx.detach(
        &[
            "-v",
            &vol,
            "--log-opt",
            "max-size=1k",
            "--log-opt",
            "max-file=5",
        ],
        &[
            "sh",
            "-c",
            "i=0; while read x; do j=0; while [ $j -lt 40 ]; do echo $i; \
             i=$((i+1)); j=$((j+1)); done; done < /t/go",
        ],
    );
    let mut p = cx.spawn(cx.cmd(&["logs", "-f", &id]), Input::Null);
    // The container opens the fifo to read: until then an open to write
    // fails with ENXIO.
    let mut w = None;
    let opened = poll_until(SETTLE, || {
        w = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .ok();
        w.is_some()
    });
    assert!(opened, "[{mode}] the container did not open its fifo");
    let mut w = w.expect("fifo open");
    let batches = 25;
    for b in 0..batches {
        w.write_all(b"\n").expect("writing to the fifo");
        let last = (b + 1) * 40 - 1;
        p.wait_line(&last.to_string());
    }
    let files = log_files(&container_dir(&cx, &id));
    assert!(
        files.iter().any(|(n, _)| n == "log.jsonl.4"),
        "[{mode}] the log rotated: {files:?}"
    );
    // The fifo's end: the container's loop ends, and so does logs -f.
    drop(w);
    let out = p.wait();
    out.ok();
    let want: String = (0..batches * 40).map(|i| format!("{i}\n")).collect();
    assert!(
        out.stdout == want,
        "[{mode}] logs -f across rotations printed every line once, in order\n{out}"
    );
}

fn tail_and_all_across_rotated_files(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // One entry a file (a 1-byte cap is reached by every entry): the last
    // five entries are in five files.
    let id = cx.detach(
        &["--log-opt", "max-size=1b", "--log-opt", "max-file=5"],
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; done",
        ],
    );
    cx.wait_exited(&id);
    let files: Vec<String> = log_files(&container_dir(&cx, &id))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        files,
        [
            "log.jsonl",
            "log.jsonl.1",
            "log.jsonl.2",
            "log.jsonl.3",
            "log.jsonl.4"
        ],
        "[{mode}]"
    );
    let logs = |args: &[&str]| {
        let mut a = vec!["logs"];
        a.extend_from_slice(args);
        a.push(&id);
        let out = cx.rrun(&a);
        out.ok();
        out.stdout
    };
    assert_eq!(logs(&[]), "6\n7\n8\n9\n10\n", "[{mode}] oldest file first");
    assert_eq!(logs(&["--tail", "3"]), "8\n9\n10\n", "[{mode}]");
    assert_eq!(logs(&["--tail", "5"]), "6\n7\n8\n9\n10\n", "[{mode}]");
    assert_eq!(logs(&["--tail", "50"]), "6\n7\n8\n9\n10\n", "[{mode}]");
    assert_eq!(logs(&["--tail", "0"]), "", "[{mode}]");
    assert_eq!(logs(&["-f", "--tail", "2"]), "9\n10\n", "[{mode}]");
    let t = logs(&["-t", "--tail", "2"]);
    let rest: Vec<Option<&str>> = t.lines().map(strip_rfc3339_nanos).collect();
    assert_eq!(rest, [Some(" 9"), Some(" 10")], "[{mode}] {t}");
}

fn log_driver_none(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx.detach(&["--log-driver", "none"], &["sh", "-c", "echo hidden"]);
    cx.wait_exited(&id);
    let files = log_files(&container_dir(&cx, &id));
    assert!(files.is_empty(), "[{mode}] no log file: {files:?}");
    let out = cx.rrun(&["logs", &id]);
    assert!(
        out.code() == Some(1)
            && out.stderr == "rrun: configured logging driver does not support reading\n"
            && out.stdout.is_empty(),
        "[{mode}] logs of a container without a log\n{out}"
    );
    let v = cx.inspect_json(&id);
    assert_eq!(
        v["HostConfig"]["LogConfig"],
        serde_json::json!({"Type": "none", "Config": {}}),
        "{v:#}"
    );
    assert_eq!(v["LogPath"], "", "{v:#}");
    // In the foreground the output still reaches the caller.
    let out = cx.rrun(&[
        "--log-driver",
        "none",
        "--name",
        "fg",
        cx.rootfs(),
        "sh",
        "-c",
        "echo shown; echo also >&2",
    ]);
    out.ok();
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("shown\n", "also\n"),
        "{out}"
    );
    let fg = cx.inspect_f("{{.Id}}", "fg");
    assert!(log_files(&container_dir(&cx, &fg)).is_empty());
}
