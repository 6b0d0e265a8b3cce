//! `rrun stats`: Docker's `docker stats` over real containers, as root and
//! rootless. None of these containers has limit cgroups, so the numbers
//! come from their processes in /proc (the cgroup files' texts are the
//! unit tests' in src/stats.rs). Outputs are Docker 20.10's, captured.
//!
//! Every test has its own RRUN_ROOT and a [`Cleanup`] guard that removes
//! its containers even when an assertion fails. Waiting is polling `rrun
//! stats` itself (each `--no-stream` takes its one-second sample).

#[macro_use]
mod common;

use common::*;

both_modes!(
    stats_cpu_of_busy_idle_and_stopped,
    stats_json_and_no_trunc,
    stats_unknown_container,
    stats_counts_children_and_exec,
    stats_memory_of_a_process,
    stats_streams_and_picks_up_new_containers,
);

mod root_only {
    #[test]
    fn stats_from_limit_cgroups() {
        super::stats_from_limit_cgroups()
    }
}

/// Docker's header of the default table.
const HEADER: &str =
    "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS";

fn detach(cx: &Ctx, name: &str, cmd: &[&str]) -> String {
    cx.detach(&["--name", name, "--net", "none"], cmd)
}

/// `rrun stats --no-stream --format FMT ARGS…`: its lines, which must be
/// printed with exit 0.
#[track_caller]
fn stats_lines(cx: &Ctx, format: &str, args: &[&str]) -> Vec<String> {
    let mut a = vec!["stats", "--no-stream", "--format", format];
    a.extend_from_slice(args);
    let out = cx.rrun(&a);
    out.ok();
    assert_eq!(out.stderr, "", "{out}");
    out.lines().iter().map(|l| l.to_string()).collect()
}

/// One container's field as the template `{{.FIELD}}` prints it.
#[track_caller]
fn field(cx: &Ctx, name: &str, f: &str) -> String {
    let lines = stats_lines(cx, &format!("{{{{.{f}}}}}"), &[name]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].clone()
}

/// "49.13%" → 49.13.
#[track_caller]
fn percent(s: &str) -> f64 {
    s.strip_suffix('%')
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not a percentage: {s:?}"))
}

/// go-units' BytesSize back to bytes: "53.57MiB" → 56172216.
#[track_caller]
fn bytes(s: &str) -> f64 {
    let units = [
        ("KiB", 1024.0),
        ("MiB", 1024.0 * 1024.0),
        ("GiB", 1024.0 * 1024.0 * 1024.0),
        ("TiB", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("B", 1.0),
    ];
    units
        .iter()
        .find_map(|(u, m)| Some(s.strip_suffix(u)?.parse::<f64>().ok()? * m))
        .unwrap_or_else(|| panic!("not a size: {s:?}"))
}

/// The fields of one table line: cells are separated by 3 spaces or more.
fn cells(line: &str) -> Vec<String> {
    line.split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

fn stats_cpu_of_busy_idle_and_stopped(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let busy = detach(&cx, "busy", &["sh", "-c", "while :; do :; done"]);
    let idle = detach(&cx, "idle", &["sleep", "1000"]);
    // A container that ran and exited, and one never started.
    cx.rrun(&[
        "run",
        "--name",
        "gone",
        "--net",
        "none",
        cx.rootfs(),
        "true",
    ])
    .ok();
    cx.rrun(&[
        "create",
        "--name",
        "new",
        "--net",
        "none",
        cx.rootfs(),
        "true",
    ])
    .ok();
    let out = cx.rrun(&["stats", "--no-stream", "busy", "idle", "gone", "new"]);
    out.ok();
    assert_eq!(out.stderr, "", "{out}");
    let lines = out.lines();
    assert_eq!(lines.len(), 5, "{out}");
    // The header's columns as Docker aligns them (the widths follow the
    // cells; the titles are Docker's).
    assert_eq!(
        cells(lines[0]),
        cells(HEADER),
        "Docker's column titles\n{out}"
    );
    assert!(
        lines[0].starts_with("CONTAINER ID   NAME      CPU %"),
        "{out}"
    );
    let rows: Vec<Vec<String>> = lines[1..].iter().map(|l| cells(l)).collect();
    // In the order named.
    let names: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(names, ["busy", "idle", "gone", "new"], "{out}");
    assert_eq!(rows[0][0], busy[..12], "{out}");
    assert_eq!(rows[1][0], idle[..12], "{out}");
    // A busy loop takes most of a CPU (the machine is shared: not all).
    let cpu = percent(&rows[0][2]);
    assert!(cpu >= 20.0, "[{mode}] a busy loop shows {cpu}% CPU\n{out}");
    assert!(rows[0][7].parse::<u32>().unwrap_or(0) >= 1, "{out}");
    let cpu = percent(&rows[1][2]);
    assert!(cpu < 5.0, "[{mode}] sleep shows {cpu}% CPU\n{out}");
    assert_eq!(rows[1][7], "1", "{out}");
    for r in &rows[..2] {
        // Its processes' memory, out of the host's (no limit).
        let (used, limit) = r[3].split_once(" / ").expect("USAGE / LIMIT");
        assert!(bytes(used) > 0.0 && bytes(limit) > bytes(used), "{out}");
        // --net none: only lo, which does not count.
        assert_eq!(r[5], "0B / 0B", "{out}");
    }
    // Docker's row of a container that does not run.
    for r in &rows[2..] {
        assert_eq!(
            r[2..],
            ["0.00%", "0B / 0B", "0.00%", "0B / 0B", "0B / 0B", "0"],
            "{out}"
        );
    }
    // Without names: only the running ones, newest first; -a: all.
    let ids = stats_lines(&cx, "{{.Name}}", &[]);
    assert_eq!(ids, ["idle", "busy"]);
    let all = stats_lines(&cx, "{{.Name}}", &["-a"]);
    assert_eq!(all, ["new", "gone", "idle", "busy"]);
    // Stopped, it shows zeros too.
    cx.rrun(&["stop", "-t", "0", "busy"]).ok();
    assert_eq!(
        stats_lines(&cx, "{{.CPUPerc}} {{.MemUsage}} {{.PIDs}}", &["busy"]),
        ["0.00% 0B / 0B 0"]
    );
}

fn stats_json_and_no_trunc(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let id = detach(&cx, "st1", &["sleep", "1000"]);
    let lines = stats_lines(&cx, "{{json .}}", &["st1"]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let v: serde_json::Value = serde_json::from_str(&lines[0]).expect("JSON");
    let keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "BlockIO",
            "CPUPerc",
            "Container",
            "ID",
            "MemPerc",
            "MemUsage",
            "Name",
            "NetIO",
            "PIDs"
        ],
        "Docker's keys, in its order: {}",
        lines[0]
    );
    assert_eq!(v["Container"], "st1");
    assert_eq!(v["Name"], "st1");
    assert_eq!(v["ID"], id[..12]);
    assert_eq!(v["PIDs"], "1");
    // .Container is what was typed: an id prefix stays a prefix; with no
    // names it is the short id.
    let by_prefix = stats_lines(&cx, "{{.Container}} {{.Name}}", &[&id[..7]]);
    assert_eq!(by_prefix, [format!("{} st1", &id[..7])]);
    let listed = stats_lines(&cx, "{{.Container}} {{.ID}}", &[]);
    assert_eq!(listed, [format!("{} {}", &id[..12], &id[..12])]);
    // --no-trunc: the whole id in the first column.
    let out = cx.rrun(&["stats", "--no-stream", "--no-trunc", "st1"]);
    out.ok();
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[1].starts_with(&format!("{id}   st1   ")), "{out}");
    assert_eq!(
        stats_lines(&cx, "{{.ID}}", &["--no-trunc", "st1"]),
        std::slice::from_ref(&id)
    );
    // A table of chosen columns, with Docker's titles.
    let t = stats_lines(
        &cx,
        "table {{.Name}}\\t{{.PIDs}}\\t{{.Container}}\\t{{.ID}}",
        &["st1"],
    );
    assert_eq!(
        t,
        [
            "NAME      PIDS      CONTAINER   CONTAINER ID".to_string(),
            format!("st1       1         st1         {}", &id[..12]),
        ]
    );
    // A template that does not parse: nothing sampled, exit 1.
    let out = cx.rrun(&["stats", "--no-stream", "--format", "{{.Name", "st1"]);
    out.expect_code(1);
    assert!(
        out.stderr.starts_with("rrun: template parsing error: "),
        "{out}"
    );
    assert_eq!(out.stdout, "", "{out}");
}

fn stats_unknown_container(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    detach(&cx, "here", &["sleep", "1000"]);
    let out = cx.rrun(&["stats", "--no-stream", "here", "nosuch"]);
    out.expect_code(1);
    assert_eq!(out.stderr, "rrun: No such container: nosuch\n", "{out}");
    assert_eq!(
        out.stdout, "",
        "as Docker, no row when a name is unknown\n{out}"
    );
    // Streaming ends at once, as Docker's does.
    let out = cx.rrun(&["stats", "nosuch"]);
    out.expect_code(1);
    assert_eq!(out.stderr, "rrun: No such container: nosuch\n", "{out}");
    assert_eq!(out.stdout, "", "{out}");
}

fn stats_counts_children_and_exec(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    detach(
        &cx,
        "kids",
        &["sh", "-c", "for i in 1 2 3 4 5; do sleep 1000 & done; wait"],
    );
    let mut last = String::new();
    assert!(
        poll_until(SETTLE, || {
            last = field(&cx, "kids", "PIDs");
            last.parse::<u32>().unwrap_or(0) >= 6
        }),
        "[{mode}] sh and its five sleeps: PIDS {last}"
    );
    // An exec'd command is the container's too (its parent is on the host).
    let _exec = cx.spawn(cx.cmd(&["exec", "kids", "sleep", "1003"]), Input::Null);
    assert!(
        poll_until(SETTLE, || {
            last = field(&cx, "kids", "PIDs");
            last.parse::<u32>().unwrap_or(0) >= 7
        }),
        "[{mode}] with an exec: PIDS {last}"
    );
}

fn stats_memory_of_a_process(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    detach(&cx, "small", &["sleep", "1000"]);
    let before = field(&cx, "small", "MemUsage");
    // dd fills a 50 MiB buffer from /dev/zero and blocks writing it to a
    // pipe nobody reads: 50 MiB resident for as long as it waits.
    detach(
        &cx,
        "big",
        &["sh", "-c", "dd if=/dev/zero bs=50M count=1 | sleep 1000"],
    );
    let mut last = String::new();
    assert!(
        poll_until(SETTLE, || {
            last = field(&cx, "big", "MemUsage");
            last.split_once(" / ")
                .is_some_and(|(u, _)| bytes(u) >= 40.0 * 1024.0 * 1024.0)
        }),
        "[{mode}] a process holding 50 MiB: MEM USAGE {last} (a sleep: {before})"
    );
    let pct = percent(&field(&cx, "big", "MemPerc"));
    assert!(pct > 0.0, "{pct}");
}

fn stats_streams_and_picks_up_new_containers(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    detach(&cx, "first", &["sleep", "1000"]);
    let mut p = cx.spawn(cx.cmd(&["stats"]), Input::Null);
    let paint = p.wait_line("\x1b[2J\x1b[H");
    assert!(
        paint.starts_with("\x1b[2J\x1b[HCONTAINER ID   NAME      CPU %"),
        "the screen cleared, then the table: {paint:?}"
    );
    p.wait_line("first");
    p.wait_line("\x1b[2J\x1b[H");
    // One started now appears in a later repaint.
    detach(&cx, "later", &["sleep", "1000"]);
    p.wait_line("later");
    assert!(p.exited().is_none(), "stats runs until interrupted");
    p.signal(libc::SIGINT);
    let st = p.wait_exit();
    assert!(!st.success(), "{st:?}");
}

/// With limits (cgroups of its own, as root here), the numbers come from
/// the cgroups: the memory limit is the container's, and --cpus holds a
/// busy loop's CPU % near 50.
fn stats_from_limit_cgroups() {
    let Some(cx) = Ctx::new_needing_root(Mode::Root, "cgroups") else {
        return;
    };
    let _clean = Cleanup::new(&cx);
    cx.detach(
        &[
            "--name",
            "capped",
            "--net",
            "none",
            "-m",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
        ],
        &["sh", "-c", "while :; do :; done & while :; do :; done"],
    );
    let usage = field(&cx, "capped", "MemUsage");
    assert!(
        usage.ends_with(" / 64MiB"),
        "the limit is the container's: {usage}"
    );
    let cpu = percent(&field(&cx, "capped", "CPUPerc"));
    assert!(cpu <= 65.0, "--cpus 0.5: {cpu}%");
    assert!(cpu >= 15.0, "it runs: {cpu}%");
    assert!(field(&cx, "capped", "PIDs").parse::<u32>().unwrap_or(0) >= 2);
    let mem = percent(&field(&cx, "capped", "MemPerc"));
    assert!(mem < 50.0, "{mem}");
}
