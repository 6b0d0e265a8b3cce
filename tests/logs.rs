//! The container log's bounds (issue 12, item 6): `--log-opt
//! max-size/max-file` and rrun's default cap hold while a container writes
//! without pause, `logs -f` follows the log across rotations without
//! losing or repeating a line still on disk, `logs` and `--tail` read
//! across the rotated files, `--log-driver none` keeps nothing, and bad
//! options are refused before anything is made.
//!
//! `--since`, `--until` and `--details` (issue 13, item 5) are checked
//! against entries whose times are read back with `logs -t`, so the bounds
//! fall between known entries, never on a guess about the clock.
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
    since_and_until_between_entries,
    since_and_until_refused_in_dockers_words,
    follow_until_ends_at_the_first_entry_after,
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

/// A log kept in `keep` files of `max_size` bytes: no other file, and none
/// longer by more than an entry.
#[track_caller]
fn assert_capped(files: &[(String, u64)], keep: usize, max_size: u64, mode: Mode) {
    let names: Vec<String> = (0..keep)
        .map(|i| match i {
            0 => "log.jsonl".to_string(),
            i => format!("log.jsonl.{i}"),
        })
        .collect();
    assert!(
        files.len() <= keep && files.iter().all(|(n, _)| names.contains(n)),
        "[{mode}] max-file={keep} keeps {names:?} only: {files:?}"
    );
    for (n, len) in files {
        assert!(
            *len < max_size + ENTRY_OVERHEAD,
            "[{mode}] {n} is {len} bytes: over max-size={max_size} by more than an entry"
        );
    }
}

/// The number on the last line of the container's log.
fn last_number(cx: &Ctx, id: &str) -> Option<u64> {
    numbers(&cx.logs(&["--tail", "1"], id).stdout)
        .last()
        .copied()
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
        samples += 1;
        assert_capped(&log_files(&dir), 2, max_size, mode);
        last = last_number(&cx, &id).unwrap_or(last);
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
        // Its entries are 1 KiB lines.
        assert_capped(&files, 3, max_size + 1024, mode);
        saw_third |= files.iter().any(|(n, _)| n == "log.jsonl.2");
        last = last_number(&cx, &id).unwrap_or(last);
        std::thread::sleep(Duration::from_millis(50));
    }
    cx.rrun(&["rm", "-f", &id]).ok();
}

/// A fifo the container reads at /t/go (mode 0666, for a rootless
/// container's root too), and the `-v` that mounts it there.
fn fifo_in_t(cx: &Ctx) -> (PathBuf, String) {
    let dir = cx.host_dir("fifo");
    let fifo = dir.join("go");
    let c = std::ffi::CString::new(fifo.to_str().expect("UTF-8 path")).expect("no NUL");
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0, "mkfifo");
    fs::set_permissions(&fifo, fs::Permissions::from_mode(0o666)).expect("chmod fifo");
    let vol = format!("{}:/t", dir.display());
    (fifo, vol)
}

/// The writing end of `fifo`, once the container has opened it to read:
/// until then an open to write fails with ENXIO.
fn fifo_writer(fifo: &Path, mode: Mode) -> fs::File {
    let mut w = None;
    let opened = poll_until(SETTLE, || {
        w = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
            .ok();
        w.is_some()
    });
    assert!(opened, "[{mode}] the container did not open its fifo");
    w.expect("fifo open")
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
    let (fifo, vol) = fifo_in_t(&cx);
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
    let mut w = fifo_writer(&fifo, mode);
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
    let logs = |args: &[&str]| cx.logs(args, &id).stdout;
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

/// An RFC 3339 UTC time with nanoseconds, as `logs -t` prints it, in Unix
/// nanoseconds.
fn unix_nanos(t: &str) -> i128 {
    assert!(strip_rfc3339_nanos(t) == Some(""), "not a log time: {t:?}");
    let n = |r: std::ops::Range<usize>| t[r].parse::<i64>().expect("digits");
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let (era, yoe) = (y.div_euclid(400), y.rem_euclid(400));
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    i128::from(secs) * 1_000_000_000 + i128::from(n(20..29))
}

/// Unix nanoseconds as the wall clock `east` seconds east of UTC shows
/// them, in the form Docker reads as local time (`2006-01-02T15:04:05.999999999`).
fn local_form(nanos: i128, east: i64) -> String {
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).expect("secs") + east;
    let frac = nanos.rem_euclid(1_000_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `SECONDS.NANOSECONDS`, a Unix timestamp as Docker reads one.
fn unix_form(nanos: i128) -> String {
    format!(
        "{}.{:09}",
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000)
    )
}

fn since_and_until_between_entries(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx.detach(
        &[],
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6; do echo $i; done; echo err >&2",
        ],
    );
    cx.wait_exited(&id);
    let out = cx.rrun(&["logs", "-t", &id]);
    out.ok();
    // The entries' own times, stdout's six lines in order.
    let stamps: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.split(' ').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(stamps.len(), 6, "[{mode}]\n{out}");
    let t: Vec<i128> = stamps.iter().map(|s| unix_nanos(s)).collect();
    assert!(
        t.windows(2).all(|w| w[0] < w[1]),
        "[{mode}] the entries' times go forward: {stamps:?}"
    );
    let err_t = unix_nanos(out.stderr.split(' ').next().unwrap_or(""));
    let logs = |args: &[&str]| cx.logs(args, &id);
    let lines = |args: &[&str]| logs(args).stdout;
    let from = |i: usize| (i..=6).map(|n| format!("{n}\n")).collect::<String>();
    let upto = |i: usize| (1..=i).map(|n| format!("{n}\n")).collect::<String>();
    // Exactly at an entry: it is shown, by since and by until alike.
    assert_eq!(lines(&["--since", &stamps[2]]), from(3), "[{mode}]");
    assert_eq!(lines(&["--until", &stamps[2]]), upto(3), "[{mode}]");
    // A nanosecond past it: left out.
    let past = unix_form(t[2] + 1);
    assert_eq!(lines(&["--since", &past]), from(4), "[{mode}] {past}");
    let before = unix_form(t[2] - 1);
    assert_eq!(lines(&["--until", &before]), upto(2), "[{mode}] {before}");
    // Between entries, in each form Docker takes.
    // A time between line `n - 1` and line `n`.
    let mid = |n: usize| t[n - 2] + (t[n - 1] - t[n - 2]) / 2;
    let m4 = mid(4);
    let utc = format!("{}Z", local_form(m4, 0));
    let east = format!("{}+02:00", local_form(m4, 2 * 3600));
    let west = format!("{}-05:30", local_form(m4, -5 * 3600 - 1800));
    for v in [utc, east, west, unix_form(m4)] {
        assert_eq!(lines(&["--since", &v]), from(4), "[{mode}] --since {v}");
        assert_eq!(lines(&["--until", &v]), upto(3), "[{mode}] --until {v}");
    }
    // A time without a zone is local time: TZ names the zone file, as
    // for Go (a POSIX rule such as XYZ-3 is UTC there, as Docker's client
    // reads it).
    let zones = ["Asia/Kolkata", "Etc/GMT+7"];
    let missing = zones
        .iter()
        .find(|z| !Path::new("/usr/share/zoneinfo").join(z).is_file());
    if let Some(z) = missing {
        skip(&format!(
            "no zone file /usr/share/zoneinfo/{z} (package tzdata)"
        ));
    }
    let zoned = missing.is_none();
    for (tz, east) in [
        ("UTC", 0),
        ("Asia/Kolkata", 5 * 3600 + 1800),
        (":Etc/GMT+7", -7 * 3600),
        ("XYZ-3", 0),
    ]
    .into_iter()
    .filter(|_| zoned)
    {
        let local = local_form(m4, east);
        let mut c = cx.cmd(&["logs", "--since", &local, &id]);
        c.env("TZ", tz);
        let out = cx.run(c, Input::Null);
        out.ok();
        assert_eq!(out.stdout, from(4), "[{mode}] TZ={tz} --since {local}");
    }
    // Both: between them, and the streams apart as ever.
    let out = logs(&["--since", &unix_form(mid(2)), "--until", &unix_form(mid(5))]);
    assert_eq!(out.stdout, "2\n3\n4\n", "[{mode}]");
    assert_eq!(out.stderr, "", "[{mode}] err came after until");
    let out = logs(&["--since", &unix_form(t[5] + 1)]);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("", "err\n"),
        "[{mode}]"
    );
    assert!(err_t > t[5]);
    // Relative to now: every entry is from the last hour.
    assert_eq!(lines(&["--since", "1h"]), from(1), "[{mode}]");
    assert_eq!(lines(&["--since", "-1h"]), "", "[{mode}] an hour from now");
    assert_eq!(lines(&["--until", "1h"]), "", "[{mode}] an hour ago");
    assert_eq!(lines(&["--until=-1h30m"]), from(1), "[{mode}]");
    assert_eq!(lines(&["--until", "0"]), from(1), "[{mode}] 0 is no bound");
    assert_eq!(lines(&["--since", "0"]), from(1), "[{mode}]");
    assert_eq!(lines(&["--since", "1970-01-01"]), from(1), "[{mode}]");
    // --tail first, then the window, as Docker's reader: the last four
    // entries are 4, 5, 6 and err, of which only 4 is before until (the
    // window first would leave 1 to 4).
    assert_eq!(
        lines(&["--tail", "4", "--until", &unix_form(mid(5))]),
        "4\n",
        "[{mode}]"
    );
    let out = logs(&["--tail", "3", "--since", &unix_form(mid(2))]);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("5\n6\n", "err\n"),
        "[{mode}]"
    );
    assert_eq!(
        lines(&["--tail", "2", "--until", &stamps[2]]),
        "",
        "[{mode}]"
    );
    // --details: the entries' attributes (rrun's have none) and a space.
    let out = logs(&["--details", "--until", &stamps[1]]);
    assert_eq!(out.stdout, " 1\n 2\n", "[{mode}]");
    let out = logs(&["--details"]);
    assert_eq!(out.stderr, " err\n", "[{mode}]");
    let out = logs(&["-t", "--details", "--tail", "2"]);
    assert_eq!(out.stdout, format!("{}  6\n", stamps[5]), "[{mode}]");
    assert_eq!(
        strip_rfc3339_nanos(&out.stderr),
        Some("  err\n"),
        "[{mode}]"
    );
    // --since with -f on an exited container: what is there, then the end.
    assert_eq!(lines(&["-f", "--since", &stamps[4]]), from(5), "[{mode}]");
}

fn since_and_until_refused_in_dockers_words(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = cx.detach(&[], &["true"]);
    cx.wait_exited(&id);
    let none = cx.detach(&["--log-driver", "none"], &["true"]);
    cx.wait_exited(&none);
    let cases: &[(&[&str], &str)] = &[
        (
            &["--since", "yesterday"],
            r#"invalid value for "since": failed to parse value as time or duration: "yesterday""#,
        ),
        (
            &["--until", "10 m"],
            r#"invalid value for "until": failed to parse value as time or duration: "10 m""#,
        ),
        (
            &["--since", "2026-13-01"],
            r#"invalid value for "since": parsing time "2026-13-01": month out of range"#,
        ),
        (
            &["--until", "2026-02-30"],
            r#"invalid value for "until": parsing time "2026-02-30": day out of range"#,
        ),
        (
            &["--since", "2026-12-06T10:00:00z"],
            r#"invalid value for "since": parsing time "2026-12-06T10:00:00z" as "2006-01-02T15:04:05Z07:00": cannot parse "z" as "Z07:00""#,
        ),
        (
            &["--since", "2026-12-6"],
            r#"invalid value for "since": parsing time "2026-12-6" as "2006-01-02": cannot parse "6" as "02""#,
        ),
        (
            &["--since", "-5"],
            r#"invalid value for "since": parsing time "-5" as "2006-01-02": cannot parse "-5" as "2006""#,
        ),
        (
            &["--until", "1700000000."],
            r#"invalid value for "until": failed to parse value as time or duration: "1700000000.""#,
        ),
        // since is read before until.
        (
            &["--until", "x", "--since", "y"],
            r#"invalid value for "since": failed to parse value as time or duration: "y""#,
        ),
    ];
    for (args, msg) in cases {
        for c in [id.as_str(), none.as_str()] {
            let mut a = vec!["logs"];
            a.extend_from_slice(args);
            a.push(c);
            let out = cx.rrun(&a);
            assert!(
                out.code() == Some(1)
                    && out.stderr == format!("rrun: {msg}\n")
                    && out.stdout.is_empty(),
                "[{mode}] {a:?}: exit 1 and `rrun: {msg}`\n{out}"
            );
        }
    }
    // The container is looked up first.
    let out = cx.rrun(&["logs", "--since", "yesterday", "nosuch"]);
    assert!(
        out.code() == Some(1) && out.stderr == "rrun: No such container: nosuch\n",
        "[{mode}]\n{out}"
    );
    // An empty value is no bound, as in Docker.
    let out = cx.rrun(&["logs", "--since", "", "--until", "", &id]);
    out.ok();
}

fn follow_until_ends_at_the_first_entry_after(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    // The container prints the next number each time the test writes a
    // line to a fifo.
    let (fifo, vol) = fifo_in_t(&cx);
    let id = cx.detach(
        &["-v", &vol],
        &[
            "sh",
            "-c",
            "i=1; while read x; do echo $i; i=$((i+1)); done < /t/go",
        ],
    );
    let mut w = fifo_writer(&fifo, mode);
    w.write_all(b"\n").expect("writing to the fifo");
    cx.wait_logs(&id, "1");
    let out = cx.rrun(&["logs", "-t", &id]);
    out.ok();
    let t1 = out.stdout.split(' ').next().unwrap_or("").to_string();
    assert!(strip_rfc3339_nanos(&t1) == Some(""), "[{mode}]\n{out}");
    // Until the first entry: it is shown; the follow goes on (Docker's does)
    // until an entry after until comes, which ends it unshown.
    let mut upto = cx.spawn(cx.cmd(&["logs", "-f", "--until", &t1, &id]), Input::Null);
    // An hour from now: nothing before it is shown, and nothing it skips
    // ends the follow.
    let later = cx.spawn(cx.cmd(&["logs", "-f", "--since", "-1h", &id]), Input::Null);
    // And a follower that prints what comes between.
    let mut all = cx.spawn(cx.cmd(&["logs", "-f", "--since", &t1, &id]), Input::Null);
    upto.wait_line("1");
    all.wait_line("1");
    assert!(
        upto.exited().is_none(),
        "[{mode}] logs -f --until ended before an entry after until came"
    );
    w.write_all(b"\n").expect("writing to the fifo");
    all.wait_line("2");
    let out = upto.wait();
    out.ok();
    assert_eq!(out.stdout, "1\n", "[{mode}] logs -f --until\n{out}");
    w.write_all(b"\n").expect("writing to the fifo");
    all.wait_line("3");
    assert!(
        later.exited().is_none(),
        "[{mode}] logs -f --since (future) ended early"
    );
    // The fifo's end ends the container, and the follows with it.
    drop(w);
    let out = later.wait();
    out.ok();
    assert_eq!(
        out.stdout, "",
        "[{mode}] logs -f --since an hour from now\n{out}"
    );
    let out = all.wait();
    out.ok();
    assert_eq!(out.stdout, "1\n2\n3\n", "[{mode}]\n{out}");
}
