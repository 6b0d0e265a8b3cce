//! `rrun stats`'s numbers and rows, pure: the texts of /proc and cgroup
//! files read into numbers, which processes belong to a container, the
//! CPU percentage between two samples, go-units' sizes and the row of one
//! container as Docker's `docker stats` shows it. The reading of the files
//! and the repaint loop are in statscmd.rs.
//!
//! A container's usage comes from its limit cgroups when it has some
//! (`RunState::limit_cgroups`), and otherwise from its processes: those
//! that descend from its pid 1 or share its pid namespace. Block I/O is
//! always the sum of the live processes' `/proc/PID/io` (which hold what
//! their reaped children did), not the cgroup's blkio accounting: the I/O
//! of a process whose parent was outside the container (an `rrun exec`)
//! is gone once it exits.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

/// Docker's default `stats` table.
pub const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// What `/proc/PID/stat` says of one process, as far as stats reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcStat {
    pub ppid: i32,
    /// utime + stime + cutime + cstime, in clock ticks: the process's own
    /// CPU time and that of the children it reaped. Summed over the live
    /// processes of a container this counts every process that ran in it
    /// once (a child's times move into its parent's c-fields when reaped).
    pub cpu_ticks: u64,
    /// Threads (tasks): cgroup's pids.current counts these.
    pub threads: u64,
    /// Resident pages (the same number as statm's second field).
    pub rss_pages: u64,
}

/// `/proc/PID/stat`'s fields after the command name (which may hold
/// spaces and parentheses: the fields start after the last ')').
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let num = |i: usize| f.get(i)?.parse::<u64>().ok();
    // cutime and cstime are signed in the kernel.
    let signed = |i: usize| {
        f.get(i)?
            .parse::<i64>()
            .ok()
            .map(|v| u64::try_from(v).unwrap_or(0))
    };
    let cpu = [num(11)?, num(12)?, signed(13)?, signed(14)?]
        .iter()
        .fold(0u64, |a, &b| a.saturating_add(b));
    Some(ProcStat {
        ppid: f.get(1)?.parse().ok()?,
        cpu_ticks: cpu,
        threads: num(17)?,
        rss_pages: num(21)?,
    })
}

/// The container's processes: the roots (its pid 1 and the processes in
/// its pid namespace) and every descendant of them, found through the
/// parent pids of `procs` (pid → parent pid). Only pids in `procs` count.
pub fn descendants(procs: &BTreeMap<i32, i32>, roots: &BTreeSet<i32>) -> BTreeSet<i32> {
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (&pid, &ppid) in procs {
        children.entry(ppid).or_default().push(pid);
    }
    let mut seen: BTreeSet<i32> = BTreeSet::new();
    let mut todo: Vec<i32> = roots
        .iter()
        .copied()
        .filter(|p| procs.contains_key(p))
        .collect();
    while let Some(p) = todo.pop() {
        if seen.insert(p) {
            todo.extend(children.get(&p).into_iter().flatten().copied());
        }
    }
    seen
}

/// The value of `key` in a text of `KEY VALUE` lines (`memory.stat`,
/// `cpu.stat`, `/proc/PID/io` with its colons).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut f = l.split_ascii_whitespace();
        let k = f.next()?;
        let k = k.strip_suffix(':').unwrap_or(k);
        if k != key {
            return None;
        }
        f.next()?.parse().ok()
    })
}

/// A file holding one number (`memory.current`, `pids.current`, …).
pub fn number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// `/proc/PID/io`: (read_bytes, write_bytes).
pub fn parse_io(text: &str) -> Option<(u64, u64)> {
    Some((keyed(text, "read_bytes")?, keyed(text, "write_bytes")?))
}

/// `/proc/meminfo`'s MemTotal, in bytes.
pub fn mem_total(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix("MemTotal:")?;
        let mut f = rest.split_ascii_whitespace();
        let kb: u64 = f.next()?.parse().ok()?;
        kb.checked_mul(1024)
    })
}

/// `/proc/PID/net/dev`: received and sent bytes over every interface but
/// `lo` (Docker counts the container's own interfaces). A line is
/// `NAME: rx_bytes rx_packets … (8 receive fields) tx_bytes …`; the name
/// may run into the first number.
pub fn net_dev(text: &str) -> (u64, u64) {
    let mut rx = 0u64;
    let mut tx = 0u64;
    for l in text.lines() {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_ascii_whitespace()
            .map_while(|x| x.parse().ok())
            .collect();
        if let (Some(r), Some(t)) = (f.first(), f.get(8)) {
            rx = rx.saturating_add(*r);
            tx = tx.saturating_add(*t);
        }
    }
    (rx, tx)
}

/// What a container's limit cgroups say; what is not there is None (and
/// comes from its processes instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CgroupUsage {
    pub cpu_ns: Option<u64>,
    /// Memory used, page cache not counted (Docker's CLI's rule).
    pub mem: Option<u64>,
    /// The limit: Some(None) when the cgroup sets none.
    pub limit: Option<Option<u64>>,
    pub pids: Option<u64>,
}

/// Read the texts of the cgroup files found (file name, content), from
/// one v2 directory or several v1 ones: `cpuacct.usage` (ns) or
/// `cpu.stat`'s usage_usec, `memory.usage_in_bytes` or `memory.current`
/// less `memory.stat`'s inactive file pages, `memory.limit_in_bytes` or
/// `memory.max`, `pids.current`. v1's cpu controller has a `cpu.stat`
/// too, without usage_usec: the first file that has the number wins.
pub fn cgroup_usage(files: &[(String, String)]) -> CgroupUsage {
    let find = |name: &str, f: &dyn Fn(&str) -> Option<u64>| {
        files
            .iter()
            .filter(|(n, _)| n == name)
            .find_map(|(_, t)| f(t))
    };
    let cpu_ns = find("cpuacct.usage", &number).or_else(|| {
        find("cpu.stat", &|t| keyed(t, "usage_usec")).map(|us| us.saturating_mul(1000))
    });
    let usage = find("memory.usage_in_bytes", &number).or_else(|| find("memory.current", &number));
    let stat = files
        .iter()
        .find(|(n, _)| n == "memory.stat")
        .map(|(_, t)| t.as_str())
        .unwrap_or("");
    let limit = find("memory.limit_in_bytes", &number)
        .or_else(|| find("memory.max", &number))
        .map(Some)
        .or_else(|| {
            files
                .iter()
                .any(|(n, t)| n == "memory.max" && t.trim() == "max")
                .then_some(None)
        });
    CgroupUsage {
        cpu_ns,
        mem: usage.map(|u| mem_no_cache(u, stat)),
        limit,
        pids: find("pids.current", &number),
    }
}

/// Docker's CLI's memory use: the usage less the inactive file pages
/// (`total_inactive_file` on v1, `inactive_file` on v2) when they are
/// less than it; else the usage.
pub fn mem_no_cache(usage: u64, stat: &str) -> u64 {
    if let Some(v) = keyed(stat, "total_inactive_file")
        && v < usage
    {
        return usage - v;
    }
    let v = keyed(stat, "inactive_file").unwrap_or(0);
    if v < usage { usage - v } else { usage }
}

/// The limit Docker shows: the host's memory when the cgroup's limit is
/// none or above it (v1's "no limit" is a huge number).
pub fn shown_limit(limit: Option<u64>, host: u64) -> u64 {
    match limit {
        Some(l) if host == 0 || l <= host => l,
        _ => host,
    }
}

/// What a container's processes add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcTotals {
    pub cpu_ticks: u64,
    pub rss_pages: u64,
    pub threads: u64,
}

/// The sums over a container's processes.
pub fn totals<'a>(procs: impl IntoIterator<Item = &'a ProcStat>) -> ProcTotals {
    procs
        .into_iter()
        .fold(ProcTotals::default(), |t, p| ProcTotals {
            cpu_ticks: t.cpu_ticks.saturating_add(p.cpu_ticks),
            rss_pages: t.rss_pages.saturating_add(p.rss_pages),
            threads: t.threads.saturating_add(p.threads),
        })
}

/// How this machine counts: clock ticks a second, bytes a page, and its
/// memory (the limit of a container that has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    pub ticks_per_sec: u64,
    pub page_size: u64,
    pub mem_total: u64,
}

/// A sample from what was read: the processes' sums, overridden by each
/// number the container's cgroups give.
pub fn sample_of(
    at_ns: u64,
    host: &Host,
    procs: ProcTotals,
    cgroup: CgroupUsage,
    net: (u64, u64),
    block: (u64, u64),
) -> Sample {
    let (cpu_ns, cpu_from) = match cgroup.cpu_ns {
        Some(ns) => (ns, CpuSource::Cgroup),
        None => (
            ticks_to_ns(procs.cpu_ticks, host.ticks_per_sec),
            CpuSource::Procs,
        ),
    };
    Sample {
        at_ns,
        cpu_ns,
        cpu_from,
        mem: cgroup
            .mem
            .unwrap_or_else(|| procs.rss_pages.saturating_mul(host.page_size)),
        limit: match cgroup.limit {
            Some(l) => shown_limit(l, host.mem_total),
            None => host.mem_total,
        },
        net,
        block,
        pids: cgroup.pids.unwrap_or(procs.threads),
    }
}

/// Where a CPU time came from: two samples compare only from the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuSource {
    Cgroup,
    Procs,
}

/// One look at a running container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When it was taken, in ns on a monotonic clock.
    pub at_ns: u64,
    pub cpu_ns: u64,
    pub cpu_from: CpuSource,
    pub mem: u64,
    pub limit: u64,
    pub net: (u64, u64),
    pub block: (u64, u64),
    pub pids: u64,
}

/// The CPU used between two samples as a percentage of one CPU (Docker's
/// `cpu delta / system delta × CPUs × 100`, where the system delta is the
/// wall time on every CPU). 0 when the samples cannot be compared.
pub fn cpu_percent(before: &Sample, after: &Sample) -> f64 {
    if before.cpu_from != after.cpu_from || after.at_ns <= before.at_ns {
        return 0.0;
    }
    let cpu = after.cpu_ns.saturating_sub(before.cpu_ns) as f64;
    cpu / (after.at_ns - before.at_ns) as f64 * 100.0
}

/// Clock ticks to ns.
pub fn ticks_to_ns(ticks: u64, per_sec: u64) -> u64 {
    if per_sec == 0 {
        return 0;
    }
    let ns = u128::from(ticks) * 1_000_000_000 / u128::from(per_sec);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// Go's `%.{prec}g` of a finite, non-negative number: `prec` significant
/// digits, trailing zeros dropped, the exponent form (`1e+03`) when the
/// exponent is below -4 or at least `prec`.
pub fn go_g(x: f64, prec: usize) -> String {
    let prec = prec.max(1);
    if x == 0.0 || !x.is_finite() {
        return "0".into();
    }
    // Rust rounds as Go does (exactly, ties to even).
    let e = format!("{:.*e}", prec - 1, x);
    let Some((mant, exp)) = e.split_once('e') else {
        return e;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if exp < -4 || exp >= prec as i32 {
        let (first, rest) = digits.split_at(1);
        let sign = if exp < 0 { '-' } else { '+' };
        let dot = if rest.is_empty() { "" } else { "." };
        return format!("{first}{dot}{rest}e{sign}{:02}", exp.abs());
    }
    // Fixed: the point after exp+1 digits.
    let point = exp + 1;
    if point <= 0 {
        let zeros = "0".repeat(point.unsigned_abs() as usize);
        return format!("0.{zeros}{digits}");
    }
    let point = point as usize;
    if digits.len() <= point {
        format!("{digits}{}", "0".repeat(point - digits.len()))
    } else {
        format!("{}.{}", &digits[..point], &digits[point..])
    }
}

/// go-units' getSizeAndUnit: divided by `base` while it is at least
/// that, up to the last unit.
fn scaled(size: f64, base: f64, units: &'static [&'static str]) -> (f64, &'static str) {
    let mut size = size;
    let mut i = 0;
    while size >= base && i + 1 < units.len() {
        size /= base;
        i += 1;
    }
    (size, units.get(i).copied().unwrap_or("B"))
}

const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// go-units' BytesSize: powers of 1024, four significant digits.
pub fn bytes_size(size: f64) -> String {
    let (s, u) = scaled(size, 1024.0, &BINARY);
    format!("{}{u}", go_g(s, 4))
}

/// go-units' HumanSizeWithPrecision: powers of 1000.
pub fn human_size(size: f64, prec: usize) -> String {
    let (s, u) = scaled(size, 1000.0, &DECIMAL);
    format!("{}{u}", go_g(s, prec))
}

/// Go's `%.2f%%` of a percentage (what is not a number shows as 0).
pub fn percent(p: f64) -> String {
    let p = if p.is_finite() { p } else { 0.0 };
    format!("{p:.2}%")
}

/// One container's row, by the names Docker's template knows: `usage` is
/// None for a container that is not running (Docker's zeros), else the
/// sample and the CPU percentage. `container` is what the user named it
/// by (the short id when they named none).
pub fn row(
    container: &str,
    id: &str,
    name: &str,
    no_trunc: bool,
    usage: Option<(&Sample, f64)>,
) -> Value {
    let id = if no_trunc {
        id
    } else {
        &id[..12.min(id.len())]
    };
    let (cpu, mem, limit, net, block, pids) = match usage {
        None => (0.0, 0, 0, (0, 0), (0, 0), 0),
        Some((s, cpu)) => (cpu, s.mem, s.limit, s.net, s.block, s.pids),
    };
    let mem_pct = if limit == 0 {
        0.0
    } else {
        mem as f64 / limit as f64 * 100.0
    };
    let pair =
        |(a, b): (u64, u64)| format!("{} / {}", human_size(a as f64, 3), human_size(b as f64, 3));
    // Docker's keys, in the order its `{{json .}}` prints them.
    json!({
        "BlockIO": pair(block),
        "CPUPerc": percent(cpu),
        "Container": container,
        "ID": id,
        "MemPerc": percent(mem_pct),
        "MemUsage": format!("{} / {}", bytes_size(mem as f64), bytes_size(limit as f64)),
        "Name": name,
        "NetIO": pair(net),
        "PIDs": pids.to_string(),
    })
}

/// The header row's values: each field's column title.
pub fn header() -> Value {
    json!({
        "BlockIO": "BLOCK I/O",
        "CPUPerc": "CPU %",
        "Container": "CONTAINER",
        "ID": "CONTAINER ID",
        "MemPerc": "MEM %",
        "MemUsage": "MEM USAGE / LIMIT",
        "Name": "NAME",
        "NetIO": "NET I/O",
        "PIDs": "PIDS",
    })
}

/// What streaming mode prints before each table: clear the screen, home.
pub const REPAINT: &str = "\x1b[2J\x1b[H";

#[cfg(test)]
mod tests {
    use super::*;

    /// A real /proc/PID/stat line (a `sh` with a name holding ") (").
    const STAT: &str = "4242 (a) (b c) S 4200 4242 4200 0 -1 4194560 372 1048 0 0 \
                        7 3 11 5 20 0 2 0 123456 2961408 136 18446744073709551615 \
                        1 1 0 0 0 0 0 0 65536 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields() {
        assert_eq!(
            parse_stat(STAT),
            Some(ProcStat {
                ppid: 4200,
                cpu_ticks: 7 + 3 + 11 + 5,
                threads: 2,
                rss_pages: 136,
            })
        );
        // Negative children's times (the kernel's fields are signed) count
        // as none; an overflowing sum saturates.
        let neg = STAT.replace(" 7 3 11 5 ", " 7 3 -11 -5 ");
        assert_eq!(parse_stat(&neg).map(|s| s.cpu_ticks), Some(10));
        let big = STAT.replace(" 7 3 11 5 ", " 18446744073709551615 3 0 0 ");
        assert_eq!(parse_stat(&big).map(|s| s.cpu_ticks), Some(u64::MAX));
        for bad in [
            "",
            "4242 sh S 1",
            "4242 (sh) S",
            "4242 (sh) S x 1",
            &STAT.replace(" 7 3 11 5 ", " 7 x 11 5 "),
            &STAT.replace(" 7 3 11 5 ", " 7 3 11 x "),
            &STAT.replace(" 7 3 11 5 ", " 7 3 x 5 "),
            &STAT.replace(" 7 3 11 5 ", " x 3 11 5 "),
            &STAT.replace(" 0 2 0 123456 2961408 136 ", " 0 x 0 123456 2961408 136 "),
            &STAT.replace(" 2961408 136 ", " 2961408 y "),
            &STAT[..STAT.find(" 136 ").unwrap()],
        ] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
    }

    fn tree(pairs: &[(i32, i32)]) -> BTreeMap<i32, i32> {
        pairs.iter().copied().collect()
    }

    fn set(p: &[i32]) -> BTreeSet<i32> {
        p.iter().copied().collect()
    }

    #[test]
    fn the_containers_processes() {
        // 10 is pid 1; 11, 12 its children; 13 a grandchild; 20 is in its
        // namespace (an exec) with a child 21; 30 and 31 are the host's.
        let procs = tree(&[
            (10, 5),
            (11, 10),
            (12, 10),
            (13, 12),
            (20, 7),
            (21, 20),
            (30, 1),
            (31, 30),
            (5, 1),
        ]);
        assert_eq!(descendants(&procs, &set(&[10])), set(&[10, 11, 12, 13]));
        assert_eq!(
            descendants(&procs, &set(&[10, 20])),
            set(&[10, 11, 12, 13, 20, 21])
        );
        // A root that is gone counts for nothing, nor do its children by
        // a stale parent pid.
        assert_eq!(descendants(&procs, &set(&[99])), set(&[]));
        assert_eq!(descendants(&procs, &set(&[])), set(&[]));
        // A cycle (pid reuse between reads) ends.
        let cyc = tree(&[(1, 2), (2, 1)]);
        assert_eq!(descendants(&cyc, &set(&[1])), set(&[1, 2]));
    }

    #[test]
    fn keyed_and_number_files() {
        let stat = "cache 0\nrss 4096\ntotal_inactive_file 8192\ninactive_file 100\n";
        assert_eq!(keyed(stat, "rss"), Some(4096));
        assert_eq!(keyed(stat, "inactive_file"), Some(100));
        assert_eq!(keyed(stat, "total_inactive_file"), Some(8192));
        assert_eq!(keyed(stat, "file"), None);
        assert_eq!(keyed("rss x\nrss 5\n", "rss"), Some(5));
        assert_eq!(keyed("rss\n", "rss"), None);
        assert_eq!(keyed("", "rss"), None);
        assert_eq!(keyed("rchar: 7\n", "rchar"), Some(7));
        assert_eq!(number("42\n"), Some(42));
        assert_eq!(number(" 42 "), Some(42));
        assert_eq!(number("max\n"), None);
        assert_eq!(number(""), None);
        assert_eq!(number("-1"), None);
    }

    #[test]
    fn io_file() {
        let io = "rchar: 6976\nwchar: 10\nsyscr: 10\nsyscw: 0\nread_bytes: 4096\n\
                  write_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_io(io), Some((4096, 8192)));
        assert_eq!(parse_io("read_bytes: 1\n"), None);
        assert_eq!(parse_io("write_bytes: 1\n"), None);
        assert_eq!(parse_io("garbage"), None);
    }

    #[test]
    fn meminfo() {
        let m = "MemTotal:       24683784 kB\nMemFree:        20004352 kB\n";
        assert_eq!(mem_total(m), Some(24683784 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\nMemTotal: 2 kB\n"), Some(2048));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: x kB\n"), None);
        assert_eq!(mem_total("MemTotal:\n"), None);
        assert_eq!(mem_total("MemTotal: 18446744073709551615 kB\n"), None);
    }

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 19260640076 3316637    0    0    0     0          0         0 19260640076 3316637    0    0    0     0       0          0
  eth0:    1040      12    0    0    0     0          0         0      656       8    0    0    0     0       0          0
eth1:5 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0
";

    #[test]
    fn net_dev_without_lo() {
        assert_eq!(net_dev(NET_DEV), (1045, 663));
        assert_eq!(net_dev(""), (0, 0));
        // Lines too short or not numbers are skipped.
        assert_eq!(net_dev("eth0: 1 2 3\nx: a b\n"), (0, 0));
        assert_eq!(
            net_dev(
                "a: 18446744073709551615 0 0 0 0 0 0 0 1\nb: 1 0 0 0 0 0 0 0 18446744073709551615\n"
            ),
            (u64::MAX, u64::MAX)
        );
    }

    fn files(f: &[(&str, &str)]) -> Vec<(String, String)> {
        f.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn cgroup_v1() {
        let u = cgroup_usage(&files(&[
            (
                "cpu.stat",
                "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
            ),
            ("cpuacct.usage", "123456789\n"),
            ("memory.usage_in_bytes", "1048576\n"),
            (
                "memory.stat",
                "cache 0\ninactive_file 1\ntotal_inactive_file 4096\n",
            ),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("pids.current", "3\n"),
        ]));
        assert_eq!(
            u,
            CgroupUsage {
                cpu_ns: Some(123456789),
                mem: Some(1048576 - 4096),
                limit: Some(Some(9223372036854771712)),
                pids: Some(3),
            }
        );
    }

    #[test]
    fn cgroup_v2() {
        let u = cgroup_usage(&files(&[
            (
                "cpu.stat",
                "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
            ),
            ("memory.current", "10000\n"),
            ("memory.stat", "anon 8000\nfile 2000\ninactive_file 1500\n"),
            ("memory.max", "67108864\n"),
            ("pids.current", "1\n"),
        ]));
        assert_eq!(
            u,
            CgroupUsage {
                cpu_ns: Some(2_500_000),
                mem: Some(8500),
                limit: Some(Some(67108864)),
                pids: Some(1),
            }
        );
        let max = cgroup_usage(&files(&[("memory.max", "max\n")]));
        assert_eq!(max.limit, Some(None));
        // v1's cpu controller's cpu.stat before v2's (no usage_usec there).
        let both = cgroup_usage(&files(&[
            ("cpu.stat", "nr_periods 1\n"),
            ("cpu.stat", "usage_usec 7\n"),
        ]));
        assert_eq!(both.cpu_ns, Some(7000));
    }

    #[test]
    fn cgroup_missing_or_garbage() {
        assert_eq!(cgroup_usage(&[]), CgroupUsage::default());
        let g = cgroup_usage(&files(&[
            ("cpuacct.usage", "x"),
            ("cpu.stat", "usage_usec x\n"),
            ("memory.usage_in_bytes", ""),
            ("memory.current", "y"),
            ("memory.limit_in_bytes", "z"),
            ("memory.max", "maximum"),
            ("pids.current", "max"),
            ("other", "1"),
        ]));
        assert_eq!(g, CgroupUsage::default());
        // Only the named files count, whatever their text.
        let o = cgroup_usage(&files(&[("memory.high", "max"), ("pids.max", "5")]));
        assert_eq!(o, CgroupUsage::default());
        // Usage without memory.stat: all of it.
        let m = cgroup_usage(&files(&[("memory.current", "5\n")]));
        assert_eq!(m.mem, Some(5));
        // The v1 file first.
        let both = cgroup_usage(&files(&[
            ("memory.current", "5\n"),
            ("memory.usage_in_bytes", "6\n"),
            ("memory.max", "8\n"),
            ("memory.limit_in_bytes", "9\n"),
        ]));
        assert_eq!((both.mem, both.limit), (Some(6), Some(Some(9))));
        // A huge usec count saturates.
        let huge = cgroup_usage(&files(&[("cpu.stat", "usage_usec 18446744073709551615\n")]));
        assert_eq!(huge.cpu_ns, Some(u64::MAX));
    }

    #[test]
    fn memory_without_the_page_cache() {
        // Docker's CLI: v1's key first, when less than the usage.
        assert_eq!(
            mem_no_cache(100, "total_inactive_file 30\ninactive_file 10\n"),
            70
        );
        assert_eq!(
            mem_no_cache(100, "total_inactive_file 100\ninactive_file 10\n"),
            90
        );
        assert_eq!(mem_no_cache(100, "total_inactive_file 200\n"), 100);
        assert_eq!(mem_no_cache(100, "inactive_file 99\n"), 1);
        assert_eq!(mem_no_cache(100, "inactive_file 100\n"), 100);
        assert_eq!(mem_no_cache(100, "inactive_file 101\n"), 100);
        assert_eq!(mem_no_cache(100, ""), 100);
        assert_eq!(mem_no_cache(0, ""), 0);
    }

    #[test]
    fn limits_shown() {
        let host = 24683784 * 1024;
        assert_eq!(shown_limit(Some(64 << 20), host), 64 << 20);
        assert_eq!(shown_limit(Some(host), host), host);
        assert_eq!(shown_limit(Some(host + 1), host), host);
        assert_eq!(shown_limit(Some(9223372036854771712), host), host);
        assert_eq!(shown_limit(None, host), host);
        // No host figure: the cgroup's as it is.
        assert_eq!(shown_limit(Some(5), 0), 5);
        assert_eq!(shown_limit(None, 0), 0);
    }

    fn sample(at_ns: u64, cpu_ns: u64, cpu_from: CpuSource) -> Sample {
        Sample {
            at_ns,
            cpu_ns,
            cpu_from,
            mem: 0,
            limit: 0,
            net: (0, 0),
            block: (0, 0),
            pids: 0,
        }
    }

    #[test]
    fn cpu_percentages() {
        let p = CpuSource::Procs;
        let a = sample(1_000_000_000, 5_000_000_000, p);
        let half = sample(2_000_000_000, 5_500_000_000, p);
        assert_eq!(cpu_percent(&a, &half), 50.0);
        // Two CPUs busy for a second: 200%, as Docker shows it.
        let two = sample(1_500_000_000, 6_000_000_000, p);
        assert_eq!(cpu_percent(&a, &two), 200.0);
        // No time between them, time backwards, a CPU count that fell (a
        // process whose time left with it), another source: 0.
        assert_eq!(
            cpu_percent(&a, &sample(1_000_000_000, 6_000_000_000, p)),
            0.0
        );
        assert_eq!(cpu_percent(&half, &a), 0.0);
        assert_eq!(
            cpu_percent(&a, &sample(2_000_000_000, 4_000_000_000, p)),
            0.0
        );
        assert_eq!(
            cpu_percent(&a, &sample(2_000_000_000, 5_500_000_000, CpuSource::Cgroup)),
            0.0
        );
        let c = CpuSource::Cgroup;
        assert_eq!(cpu_percent(&sample(0, 0, c), &sample(4, 1, c)), 25.0);
    }

    #[test]
    fn sums_and_samples() {
        let a = ProcStat {
            ppid: 1,
            cpu_ticks: 10,
            threads: 2,
            rss_pages: 100,
        };
        let b = ProcStat {
            cpu_ticks: 5,
            threads: 1,
            rss_pages: 7,
            ..a
        };
        let t = totals([&a, &b]);
        assert_eq!(
            t,
            ProcTotals {
                cpu_ticks: 15,
                rss_pages: 107,
                threads: 3,
            }
        );
        assert_eq!(totals([]), ProcTotals::default());
        let max = ProcStat {
            cpu_ticks: u64::MAX,
            threads: u64::MAX,
            rss_pages: u64::MAX,
            ..a
        };
        assert_eq!(
            totals([&max, &a]),
            ProcTotals {
                cpu_ticks: u64::MAX,
                rss_pages: u64::MAX,
                threads: u64::MAX,
            }
        );
        let host = Host {
            ticks_per_sec: 100,
            page_size: 4096,
            mem_total: 1 << 30,
        };
        // No cgroup: all of it from the processes.
        let s = sample_of(9, &host, t, CgroupUsage::default(), (1, 2), (3, 4));
        assert_eq!(
            s,
            Sample {
                at_ns: 9,
                cpu_ns: 150_000_000,
                cpu_from: CpuSource::Procs,
                mem: 107 * 4096,
                limit: 1 << 30,
                net: (1, 2),
                block: (3, 4),
                pids: 3,
            }
        );
        // Each number the cgroup has wins.
        let cg = CgroupUsage {
            cpu_ns: Some(42),
            mem: Some(5000),
            limit: Some(Some(64 << 20)),
            pids: Some(9),
        };
        let s = sample_of(9, &host, t, cg, (0, 0), (0, 0));
        assert_eq!(
            (s.cpu_ns, s.cpu_from, s.mem, s.limit, s.pids),
            (42, CpuSource::Cgroup, 5000, 64 << 20, 9)
        );
        // No limit, or one above the host's memory: the host's.
        for limit in [Some(None), Some(Some(u64::MAX))] {
            let cg = CgroupUsage {
                limit,
                ..CgroupUsage::default()
            };
            assert_eq!(sample_of(0, &host, t, cg, (0, 0), (0, 0)).limit, 1 << 30);
        }
        let huge = ProcTotals {
            rss_pages: u64::MAX,
            ..t
        };
        assert_eq!(
            sample_of(0, &host, huge, CgroupUsage::default(), (0, 0), (0, 0)).mem,
            u64::MAX
        );
    }

    #[test]
    fn ticks() {
        assert_eq!(ticks_to_ns(150, 100), 1_500_000_000);
        assert_eq!(ticks_to_ns(3, 1000), 3_000_000);
        assert_eq!(ticks_to_ns(5, 0), 0);
        assert_eq!(ticks_to_ns(u64::MAX, 1), u64::MAX);
        assert_eq!(ticks_to_ns(u64::MAX, 1_000_000_000), u64::MAX);
    }

    #[test]
    fn go_percent_g() {
        for (x, p, want) in [
            (0.0, 3, "0"),
            (1.0, 3, "1"),
            (1.04, 3, "1.04"),
            (1.5, 3, "1.5"),
            (100.0, 3, "100"),
            (150.0, 3, "150"),
            (12.5, 3, "12.5"),
            (999.0, 3, "999"),
            (999.4, 3, "999"),
            (999.5, 3, "1e+03"),
            (1000.0, 3, "1e+03"),
            (1234.0, 3, "1.23e+03"),
            (1.125, 3, "1.12"),
            (1.135, 3, "1.14"),
            (0.0001234, 3, "0.000123"),
            (0.00001234, 3, "1.23e-05"),
            (0.5, 1, "0.5"),
            (1023.99, 4, "1024"),
            (1.0, 0, "1"),
            (23.5399, 4, "23.54"),
            (f64::NAN, 3, "0"),
            (f64::INFINITY, 3, "0"),
            (1e300, 3, "1e+300"),
        ] {
            assert_eq!(go_g(x, p), want, "%.{p}g of {x}");
        }
    }

    /// go-units' own test values.
    #[test]
    fn go_units_sizes() {
        const KIB: f64 = 1024.0;
        let mib = KIB * KIB;
        let gib = mib * KIB;
        let tib = gib * KIB;
        let pib = tib * KIB;
        let eib = pib * KIB;
        for (x, want) in [
            (0.0, "0B"),
            (1.0, "1B"),
            (1023.0, "1023B"),
            (KIB, "1KiB"),
            (mib, "1MiB"),
            (2.0 * mib, "2MiB"),
            (3.42 * gib, "3.42GiB"),
            (5.372 * tib, "5.372TiB"),
            (2.22 * pib, "2.22PiB"),
            (eib, "1EiB"),
            (eib * KIB * KIB, "1YiB"),
            (eib * KIB * KIB * KIB, "1024YiB"),
            (598016.0, "584KiB"),
            (790528.0, "772KiB"),
            (64.0 * mib, "64MiB"),
            (24683784.0 * KIB, "23.54GiB"),
        ] {
            assert_eq!(bytes_size(x), want, "BytesSize({x})");
        }
        const MB: f64 = 1e6;
        for (x, p, want) in [
            (0.0, 3, "0B"),
            (999.0, 3, "999B"),
            (1000.0, 3, "1kB"),
            (1024.0, 3, "1.02kB"),
            (1040.0, 3, "1.04kB"),
            (1110.0, 3, "1.11kB"),
            (MB, 3, "1MB"),
            (1048576.0, 3, "1.05MB"),
            (2.0 * MB, 3, "2MB"),
            (3.42e9, 3, "3.42GB"),
            (5.372e12, 3, "5.37TB"),
            (2.22e15, 3, "2.22PB"),
            (1e21, 3, "1ZB"),
            (1e24, 3, "1YB"),
            (1e27, 3, "1e+03YB"),
            (1024.0, 4, "1.024kB"),
            (1048576.0, 4, "1.049MB"),
            (999_999.0, 3, "1e+03kB"),
        ] {
            assert_eq!(human_size(x, p), want, "HumanSizeWithPrecision({x}, {p})");
        }
    }

    #[test]
    fn percents() {
        assert_eq!(percent(0.0), "0.00%");
        assert_eq!(percent(49.125), "49.12%");
        assert_eq!(percent(49.13), "49.13%");
        assert_eq!(percent(0.8926), "0.89%");
        assert_eq!(percent(250.0), "250.00%");
        assert_eq!(percent(f64::NAN), "0.00%");
        assert_eq!(percent(f64::INFINITY), "0.00%");
    }

    const ID: &str = "d0319bd0dd52aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    /// Docker's st1 (64 MiB limit), as captured, with `rx` bytes received.
    fn st1(rx: u64) -> Sample {
        Sample {
            at_ns: 0,
            cpu_ns: 0,
            cpu_from: CpuSource::Cgroup,
            mem: 598016,
            limit: 64 << 20,
            net: (rx, 0),
            block: (0, 0),
            pids: 1,
        }
    }

    /// Docker's row of st1, captured.
    #[test]
    fn a_running_row() {
        let s = st1(1110);
        let v = row("st1", ID, "st1", false, Some((&s, 49.48)));
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"BlockIO":"0B / 0B","CPUPerc":"49.48%","Container":"st1","ID":"d0319bd0dd52","MemPerc":"0.89%","MemUsage":"584KiB / 64MiB","Name":"st1","NetIO":"1.11kB / 0B","PIDs":"1"}"#
        );
        let full = row("d0319b", ID, "st1", true, Some((&s, 0.0)));
        assert_eq!(full["ID"], ID);
        assert_eq!(full["Container"], "d0319b");
        let s2 = Sample {
            net: (1, 2_000_000),
            block: (4096, 5_000_000_000),
            pids: 12,
            mem: 1,
            limit: 4,
            ..s
        };
        let v = row("x", "abc", "n", false, Some((&s2, 1.0)));
        assert_eq!(v["ID"], "abc");
        assert_eq!(v["NetIO"], "1B / 2MB");
        assert_eq!(v["BlockIO"], "4.1kB / 5GB");
        assert_eq!(v["PIDs"], "12");
        assert_eq!(v["MemPerc"], "25.00%");
        assert_eq!(v["MemUsage"], "1B / 4B");
        assert_eq!(v["CPUPerc"], "1.00%");
        // No limit known: 0%.
        let s3 = Sample { limit: 0, ..s2 };
        assert_eq!(
            row("x", "abc", "n", false, Some((&s3, 1.0)))["MemPerc"],
            "0.00%"
        );
    }

    /// A container that is not running: Docker's zeros.
    #[test]
    fn a_stopped_row() {
        let v = row("st2", ID, "st2", false, None);
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"BlockIO":"0B / 0B","CPUPerc":"0.00%","Container":"st2","ID":"d0319bd0dd52","MemPerc":"0.00%","MemUsage":"0B / 0B","Name":"st2","NetIO":"0B / 0B","PIDs":"0"}"#
        );
    }

    /// The default table renders Docker's header and rows.
    #[test]
    fn default_table() {
        let (is_table, body) = crate::inspect::table_format(None, DEFAULT_FORMAT);
        assert!(is_table);
        let t = crate::template::Template::parse(&body).unwrap();
        let s = st1(1040);
        let lines = vec![
            t.render(&header()).unwrap(),
            t.render(&row("a5cf71ac0c00", "a5cf71ac0c00", "st2", false, None))
                .unwrap(),
            t.render(&row("d0319bd0dd52", ID, "st1", false, Some((&s, 49.13))))
                .unwrap(),
        ];
        assert_eq!(
            crate::inspect::table_or_lines(&lines, true),
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O       BLOCK I/O   PIDS
a5cf71ac0c00   st2       0.00%     0B / 0B             0.00%     0B / 0B       0B / 0B     0
d0319bd0dd52   st1       49.13%    584KiB / 64MiB      0.89%     1.04kB / 0B   0B / 0B     1
"
        );
        let h = header();
        assert_eq!(h["Container"], "CONTAINER");
        assert_eq!(h["PIDs"], "PIDS");
        assert_eq!(REPAINT, "\x1b[2J\x1b[H");
    }
}
