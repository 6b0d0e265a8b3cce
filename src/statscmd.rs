//! `rrun stats [--no-stream] [-a] [--no-trunc] [--format FMT] [CONTAINER...]`:
//! Docker's `docker stats`. This module reads what the numbers come from —
//! /proc (one pass over every process a sample, shared by all containers)
//! and the container's limit cgroups — and runs the loop: two samples a
//! second apart for `--no-stream`, else a repaint every second until
//! interrupted. What the texts mean and how a row reads are in stats.rs.
//!
//! A container's processes are its pid 1 (its recorded pid, checked
//! against its start time so that a reused pid is never read), the
//! processes in its pid namespace (`rrun exec`'s too) and their
//! descendants, found through the parent pids in /proc/PID/stat: the
//! kernel's /proc/PID/task/TID/children needs CONFIG_PROC_CHILDREN, which
//! not every kernel has. Block I/O is the live processes' /proc/PID/io,
//! not the cgroup's blkio accounting (stats.rs says what that misses).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli;
use crate::inspect;
use crate::state::{Record, State, StateError};
use crate::stats::{self, Host, ProcStat, Sample};
use crate::sys;
use crate::template::Template;

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("template parsing error: {0}")]
    Template(String),
    /// Errors already printed, one a container; only the exit code is left.
    #[error("")]
    Reported(i32),
}

impl StatsError {
    pub fn exit_code(&self) -> i32 {
        match self {
            StatsError::State(e) => e.exit_code(),
            StatsError::Template(_) => 1,
            StatsError::Reported(c) => *c,
        }
    }
}

/// Docker samples a container once a second.
const INTERVAL: Duration = Duration::from_secs(1);

/// The cgroup files stats reads, from whichever controllers are there.
const CGROUP_FILES: [&str; 8] = [
    "cpuacct.usage",
    "cpu.stat",
    "memory.usage_in_bytes",
    "memory.current",
    "memory.stat",
    "memory.limit_in_bytes",
    "memory.max",
    "pids.current",
];

/// A pid namespace, as the kernel names it.
type NsId = (u64, u64);

/// Every process on the machine, read once for a sample: its stat and
/// its pid namespace (None: not ours to read).
struct Scan {
    procs: BTreeMap<i32, (ProcStat, Option<NsId>)>,
    /// pid → parent pid.
    parents: BTreeMap<i32, i32>,
    own_ns: Option<NsId>,
}

fn scan() -> Scan {
    let mut procs = BTreeMap::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Some(st) = fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|t| stats::parse_stat(&t))
            else {
                continue;
            };
            procs.insert(pid, (st, sys::pid_ns(pid)));
        }
    }
    let parents = procs.iter().map(|(&p, (s, _))| (p, s.ppid)).collect();
    Scan {
        procs,
        parents,
        own_ns: sys::pid_ns(std::process::id() as i32),
    }
}

fn host() -> Host {
    use nix::unistd::{SysconfVar, sysconf};
    let value = |v: SysconfVar| {
        sysconf(v)
            .ok()
            .flatten()
            .and_then(|n| u64::try_from(n).ok())
    };
    Host {
        ticks_per_sec: value(SysconfVar::CLK_TCK).unwrap_or(100),
        page_size: value(SysconfVar::PAGE_SIZE).unwrap_or(4096),
        mem_total: fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| stats::mem_total(&t))
            .unwrap_or(0),
    }
}

/// The texts of the cgroup files that exist in the container's limit
/// cgroups.
fn cgroup_files(dirs: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for d in dirs {
        for f in CGROUP_FILES {
            if let Ok(t) = fs::read_to_string(Path::new(d).join(f)) {
                out.push((f.to_string(), t));
            }
        }
    }
    out
}

/// One look at a container, or None when it does not run (then Docker
/// shows zeros).
fn sample(r: &Record, scan: &Scan, host: &Host, at_ns: u64) -> Option<Sample> {
    let (pid, start) = (r.state.pid, r.state.pid_start);
    if !r.running() || !sys::alive(pid, start) {
        return None;
    }
    let mut roots = BTreeSet::from([pid]);
    // Processes in its pid namespace (an exec'd command's parent is on the
    // host). Never the host's own namespace, which would take everything.
    if let Some(Some(ns)) = scan.procs.get(&pid).map(|(_, ns)| *ns)
        && Some(ns) != scan.own_ns
    {
        roots.extend(
            scan.procs
                .iter()
                .filter(|(_, (_, n))| *n == Some(ns))
                .map(|(&p, _)| p),
        );
    }
    let pids = stats::descendants(&scan.parents, &roots);
    let totals = stats::totals(
        pids.iter()
            .filter_map(|p| scan.procs.get(p).map(|(s, _)| s)),
    );
    let mut block = (0u64, 0u64);
    for p in &pids {
        if let Some((rd, wr)) = fs::read_to_string(format!("/proc/{p}/io"))
            .ok()
            .and_then(|t| stats::parse_io(&t))
        {
            block = (block.0.saturating_add(rd), block.1.saturating_add(wr));
        }
    }
    // The host's interfaces are not the container's: Docker shows none.
    let net = if r.config.net == "host" {
        (0, 0)
    } else {
        fs::read_to_string(format!("/proc/{pid}/net/dev"))
            .map(|t| stats::net_dev(&t))
            .unwrap_or((0, 0))
    };
    let cgroup = stats::cgroup_usage(&cgroup_files(&r.state.limit_cgroups));
    // Read all of it from the same process: if pid 1 went away meanwhile,
    // its pid may name another process now.
    if !sys::alive(pid, start) {
        return None;
    }
    Some(stats::sample_of(at_ns, host, totals, cgroup, net, block))
}

/// A container's run: samples compare only within one.
type RunKey = (String, i32, u64);

fn run_key(r: &Record) -> RunKey {
    (r.id().to_string(), r.state.pid, r.state.pid_start)
}

/// The containers shown: (what the CONTAINER column says, its record).
type Shown = Vec<(String, Record)>;

/// What to show now: the named containers (by the ids they resolved to
/// at first; one removed since is left out), or every running one (all
/// with -a), newest first, as `ps`.
fn current(st: &State, named: &[(String, String)], all: bool) -> Shown {
    if named.is_empty() {
        let (records, _) = st.list();
        return records
            .into_iter()
            .filter(|r| all || r.running())
            .map(|r| (r.id()[..12.min(r.id().len())].to_string(), r))
            .collect();
    }
    named
        .iter()
        .filter_map(|(typed, id)| st.find(id).ok().map(|r| (typed.clone(), r)))
        .collect()
}

/// A sample of each shown container that runs, keyed by its run.
fn take(shown: &Shown, host: &Host, clock: Instant) -> HashMap<RunKey, Sample> {
    if !shown.iter().any(|(_, r)| r.running()) {
        return HashMap::new();
    }
    let scan = scan();
    let at = u64::try_from(clock.elapsed().as_nanos()).unwrap_or(u64::MAX);
    shown
        .iter()
        .filter_map(|(_, r)| Some((run_key(r), sample(r, &scan, host, at)?)))
        .collect()
}

/// The output for one moment: the header (a table) and a row a container.
fn render(
    tpl: &Template,
    is_table: bool,
    shown: &Shown,
    before: &HashMap<RunKey, Sample>,
    now: &HashMap<RunKey, Sample>,
    no_trunc: bool,
) -> Result<String, StatsError> {
    let render = |v: &Value| {
        tpl.render(v)
            .map_err(|e| StatsError::Template(e.to_string()))
    };
    let mut lines = Vec::new();
    if is_table {
        lines.push(render(&stats::header())?);
    }
    for (typed, r) in shown {
        let key = run_key(r);
        let usage = now.get(&key).map(|s| {
            let cpu = before.get(&key).map_or(0.0, |b| stats::cpu_percent(b, s));
            (s, cpu)
        });
        lines.push(render(&stats::row(
            typed,
            r.id(),
            &r.config.name,
            no_trunc,
            usage,
        ))?);
    }
    Ok(inspect::table_or_lines(&lines, is_table))
}

pub fn stats(a: &cli::StatsArgs) -> Result<i32, StatsError> {
    let (is_table, body) = inspect::table_format(
        a.format.as_deref().filter(|f| !f.is_empty()),
        stats::DEFAULT_FORMAT,
    );
    let tpl = Template::parse(&body).map_err(|e| StatsError::Template(e.to_string()))?;
    let st = State::open()?;
    let mut named = Vec::new();
    let mut errors = Vec::new();
    for n in &a.containers {
        match st.find(n) {
            Ok(r) => named.push((n.clone(), r.id().to_string())),
            Err(e) => errors.push(e),
        }
    }
    let report = |errors: &[StateError]| {
        for e in errors {
            eprintln!("rrun: {e}");
        }
        errors.iter().map(StateError::exit_code).max()
    };
    // Docker prints no row when a named container is not there.
    if !errors.is_empty() {
        return Err(StatsError::Reported(report(&errors).unwrap_or(1)));
    }
    let host = host();
    let clock = Instant::now();
    let mut before = take(&current(&st, &named, a.all), &host, clock);
    let mut out = io::stdout();
    loop {
        if !before.is_empty() {
            std::thread::sleep(INTERVAL);
        }
        let shown = current(&st, &named, a.all);
        let now = take(&shown, &host, clock);
        let text = render(&tpl, is_table, &shown, &before, &now, a.no_trunc)?;
        if a.no_stream {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            return Ok(0);
        }
        let painted = out
            .write_all(stats::REPAINT.as_bytes())
            .and_then(|()| out.write_all(text.as_bytes()))
            .and_then(|()| out.flush());
        if painted.is_err() {
            // The reader went away.
            return Ok(0);
        }
        if now.is_empty() && before.is_empty() {
            // Nothing runs: no sample waited, so wait here.
            std::thread::sleep(INTERVAL);
        }
        before = now;
    }
}
