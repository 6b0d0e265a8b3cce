//! `--memory`, `--memory-swap`, `--cpus` and `--pids-limit`: parsed as
//! Docker's CLI parses them (go-units sizes, big.Rat CPUs, ParseInt pids,
//! with its words), checked as Docker's daemon checks them, and turned
//! into the files a cgroup v1 or v2 directory is given. Also the choice of
//! where a rootless user's cgroups can go (a v2 subtree delegated to them)
//! and the OOM counters read back. Pure: the caller reads and writes the
//! files (cgroup.rs).

use serde::{Deserialize, Serialize};

use crate::flag::FlagError;

/// A container's resource limits, as the record keeps them and inspect
/// shows them (Docker's HostConfig fields). 0 (and None) is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes of memory (HostConfig.Memory).
    #[serde(default)]
    pub memory: i64,
    /// Memory plus swap, bytes; -1 unlimited swap (HostConfig.MemorySwap).
    /// `--memory` alone gives twice the memory, as Docker's daemon does.
    #[serde(default)]
    pub memory_swap: i64,
    /// Whether --memory-swap was given (a host without swap accounting
    /// refuses it then, and only warns for the implicit one).
    #[serde(default)]
    pub swap_given: bool,
    /// CPUs × 10⁹ (HostConfig.NanoCpus).
    #[serde(default)]
    pub nano_cpus: i64,
    /// Tasks (HostConfig.PidsLimit); None: unlimited.
    #[serde(default)]
    pub pids: Option<i64>,
}

/// The least memory Docker's daemon allows a container (6 MiB).
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The CFS period rrun sets with --cpus, as runc does (100 ms).
pub const CFS_PERIOD_US: i64 = 100_000;

/// A combination Docker's daemon refuses, in its words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("Minimum memory limit allowed is 6MB")]
    MemoryTooSmall,
    #[error("You should always set the Memory limit when using Memoryswap limit, see usage")]
    SwapWithoutMemory,
    #[error("Minimum memoryswap limit should be larger than memory limit, see usage")]
    SwapBelowMemory,
    /// Docker's check is `< 0 || > ncpu`; below 0.01 its runtime fails
    /// later writing the quota, so rrun says the range then too.
    #[error("Range of CPUs is from 0.01 to {0}.00, as there are only {0} CPUs available")]
    CpuRange(u32),
}

/// Controllers, as their v1 hierarchies are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Controller {
    Memory,
    Cpu,
    Cpuacct,
    Pids,
}

impl Controller {
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Pids => "pids",
        }
    }
}

/// go-units' RAMInBytes (Docker's `--memory`, `--memory-swap` values): a
/// decimal number, an optional space, an optional k/m/g/t/p (powers of
/// 1024, any case) with an optional `b` or `ib`, or a lone `b`.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{s}'");
    let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(invalid());
    };
    let (num, sfx) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..sep + 1], &s[sep + 1..])
    };
    let size = go_parse_float(num)?;
    // NaN (Go's ParseFloat takes "nan" too) would cast to 0: no limit.
    if size < 0.0 || size.is_nan() {
        return Err(invalid());
    }
    let bad = |sfx: &str| Err(format!("invalid suffix: '{sfx}'"));
    let mul = if sfx.is_empty() {
        1.0
    } else {
        if sfx.len() > 3 {
            return bad(sfx);
        }
        let lower = sfx.to_ascii_lowercase();
        let b = lower.as_bytes();
        if b[0] == b'b' {
            if b.len() > 1 {
                return bad(&lower);
            }
            1.0
        } else {
            let Some(exp) = b"kmgtp".iter().position(|&u| u == b[0]) else {
                return bad(&lower);
            };
            if (b.len() == 2 && b[1] != b'b') || (b.len() == 3 && &b[1..] != b"ib") {
                return bad(&lower);
            }
            1024f64.powi(exp as i32 + 1)
        }
    };
    let bytes = size * mul;
    // Go would wrap past int64; rrun calls it what it is.
    if bytes >= 9.223_372_036_854_776e18 {
        return Err(invalid());
    }
    Ok(bytes as i64)
}

/// Go's strconv.ParseFloat for the decimal forms go-units passes it.
fn go_parse_float(num: &str) -> Result<f64, String> {
    let syntax = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            crate::goquote::quote(num)
        )
    };
    // Rust's parse reads what Go's does, "inf" and "nan" included (they
    // reach here before a space, as in "nan m"): infinity is out of range
    // here, and the caller refuses NaN.
    match num.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            crate::goquote::quote(num)
        )),
        Ok(v) => Ok(v),
        Err(_) => Err(syntax()),
    }
}

/// `-m, --memory` (0: none).
pub fn parse_memory(s: &str) -> Result<i64, FlagError> {
    ram_in_bytes(s).map_err(|why| FlagError {
        flag: "-m, --memory",
        value: s.to_string(),
        why,
    })
}

/// `--memory-swap`: -1 (unlimited swap) or a size.
pub fn parse_memory_swap(s: &str) -> Result<i64, FlagError> {
    if s == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(s).map_err(|why| FlagError {
        flag: "--memory-swap",
        value: s.to_string(),
        why,
    })
}

/// `--cpus`: a rational number of CPUs (big.Rat's forms: `1.5`, `3/2`,
/// `15e-1`), as nano-CPUs.
pub fn parse_cpus(s: &str) -> Result<i64, FlagError> {
    let err = |why: String| FlagError {
        flag: "--cpus",
        value: s.to_string(),
        why,
    };
    let nano = rational_nanos(s).map_err(|e| {
        err(match e {
            RatError::Syntax => format!("failed to parse {s} as a rational number"),
            RatError::Precise => "value is too precise".into(),
        })
    })?;
    Ok(nano)
}

enum RatError {
    Syntax,
    Precise,
}

/// `s` × 10⁹, exactly, or why not. Values past what i64 holds are kept
/// at its ends (the range check refuses them).
fn rational_nanos(s: &str) -> Result<i64, RatError> {
    let clamp = |v: i128| v.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    if let Some((a, b)) = s.split_once('/') {
        let a = int_part(a, true).ok_or(RatError::Syntax)?;
        let b = int_part(b, false).ok_or(RatError::Syntax)?;
        if b == 0 {
            return Err(RatError::Syntax);
        }
        let n = a.checked_mul(1_000_000_000).ok_or(RatError::Syntax)?;
        if n % b != 0 {
            return Err(RatError::Precise);
        }
        return Ok(clamp(n / b));
    }
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (
            &s[..i],
            s[i + 1..].parse::<i32>().map_err(|_| RatError::Syntax)?,
        ),
        None => (s, 0),
    };
    let (neg, digits) = match mantissa.as_bytes().first() {
        Some(b'-') => (true, &mantissa[1..]),
        Some(b'+') => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !all(whole) || !all(frac) {
        return Err(RatError::Syntax);
    }
    // Leading zeros and trailing fraction zeros change nothing.
    let whole = whole.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let joined = format!("{whole}{frac}");
    let joined = joined.trim_start_matches('0');
    if joined.is_empty() {
        return Ok(0);
    }
    let scale = 9i64 + exp as i64 - frac.len() as i64;
    if scale < 0 {
        // Exact only if the digits end in enough zeros.
        let cut = (-scale) as usize;
        let zeros = joined.len() - joined.trim_end_matches('0').len();
        if zeros < cut {
            return Err(RatError::Precise);
        }
        let kept = &joined[..joined.len() - cut];
        let v: i128 = kept.parse().unwrap_or(i128::MAX);
        return Ok(clamp(if neg { -v } else { v }));
    }
    if joined.len() as i64 + scale > 30 {
        return Ok(if neg { i64::MIN } else { i64::MAX });
    }
    let v: i128 = joined.parse::<i128>().unwrap_or(i128::MAX) * 10i128.pow(scale as u32);
    Ok(clamp(if neg { -v } else { v }))
}

/// An integer part of a fraction: digits with a sign where allowed.
fn int_part(s: &str, signed: bool) -> Option<i128> {
    let digits = match s.as_bytes().first() {
        Some(b'-' | b'+') if signed => &s[1..],
        _ => s,
    };
    // Rust's parse does the rest (empty, too long), but would take a sign
    // where big.Rat does not.
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `--pids-limit`: pflag's int64 (strconv.ParseInt with base prefixes).
/// A negative number is unlimited, as in Docker; 0 is refused (Docker
/// takes it as unlimited too, which a script meaning "no processes"
/// would not expect: -1 says unlimited).
pub fn parse_pids(s: &str) -> Result<i64, FlagError> {
    let n = crate::filter::parse_int(s, 0, "ParseInt").map_err(|e| FlagError {
        flag: "--pids-limit",
        value: s.to_string(),
        why: e.to_string(),
    })?;
    if n == 0 {
        return Err(FlagError {
            flag: "--pids-limit",
            value: s.to_string(),
            why: "a container needs at least one process (-1: unlimited)".into(),
        });
    }
    Ok(n)
}

/// The flags' values (each already parsed) into limits, checked as
/// Docker's daemon checks them; `ncpu`: the CPUs online.
pub fn settle(
    memory: Option<i64>,
    swap: Option<i64>,
    nano_cpus: Option<i64>,
    pids: Option<i64>,
    ncpu: u32,
) -> Result<Limits, LimitError> {
    let memory = memory.unwrap_or(0);
    let swap = swap.unwrap_or(0);
    if memory > 0 && memory < MIN_MEMORY {
        return Err(LimitError::MemoryTooSmall);
    }
    if swap != 0 && memory == 0 {
        return Err(LimitError::SwapWithoutMemory);
    }
    if swap > 0 && swap < memory {
        return Err(LimitError::SwapBelowMemory);
    }
    let nano_cpus = nano_cpus.unwrap_or(0);
    if nano_cpus < 0
        || (nano_cpus > 0 && nano_cpus < 10_000_000)
        || nano_cpus > ncpu as i64 * 1_000_000_000
    {
        return Err(LimitError::CpuRange(ncpu));
    }
    Ok(Limits {
        memory,
        // No --memory: 0 either way.
        memory_swap: if swap == 0 {
            memory.saturating_mul(2)
        } else {
            swap
        },
        swap_given: swap != 0,
        nano_cpus,
        pids: pids.filter(|&p| p > 0),
    })
}

impl Limits {
    /// Whether any limit is set (then the container gets cgroups).
    pub fn any(&self) -> bool {
        self.memory > 0 || self.nano_cpus > 0 || self.pids.is_some()
    }

    /// The quota per CFS period that --cpus makes, in µs.
    pub fn cfs_quota_us(&self) -> i64 {
        self.nano_cpus.saturating_mul(CFS_PERIOD_US) / 1_000_000_000
    }

    /// The v1 controllers a container with these limits needs (each must
    /// be there), and those that only account for it (`stats`, taken
    /// where mounted).
    pub fn v1_controllers(&self) -> (Vec<Controller>, Vec<Controller>) {
        let mut need = Vec::new();
        if self.memory > 0 {
            need.push(Controller::Memory);
        }
        if self.nano_cpus > 0 {
            need.push(Controller::Cpu);
        }
        if self.pids.is_some() {
            need.push(Controller::Pids);
        }
        let extra = [Controller::Memory, Controller::Cpuacct, Controller::Pids]
            .into_iter()
            .filter(|c| !need.contains(c))
            .collect();
        (need, extra)
    }

    /// What a v1 controller's directory is given, in order (the memory
    /// limit before memory+swap, which may not be below it). `memsw`:
    /// whether the host accounts swap (memory.memsw.* exist).
    pub fn v1_files(&self, c: Controller, memsw: bool) -> Vec<(&'static str, String)> {
        match c {
            Controller::Memory if self.memory > 0 => {
                let mut v = vec![("memory.limit_in_bytes", self.memory.to_string())];
                if memsw && self.memory_swap != 0 {
                    v.push(("memory.memsw.limit_in_bytes", self.memory_swap.to_string()));
                }
                v
            }
            Controller::Cpu if self.nano_cpus > 0 => vec![
                ("cpu.cfs_period_us", CFS_PERIOD_US.to_string()),
                ("cpu.cfs_quota_us", self.cfs_quota_us().to_string()),
            ],
            Controller::Pids => match self.pids {
                Some(p) => vec![("pids.max", p.to_string())],
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// What a v2 directory is given. v2's swap limit excludes memory.
    pub fn v2_files(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if self.memory > 0 {
            v.push(("memory.max", self.memory.to_string()));
            match self.memory_swap {
                -1 => v.push(("memory.swap.max", "max".into())),
                s if s > 0 => v.push(("memory.swap.max", (s - self.memory).to_string())),
                _ => {}
            }
        }
        if self.nano_cpus > 0 {
            v.push((
                "cpu.max",
                format!("{} {CFS_PERIOD_US}", self.cfs_quota_us()),
            ));
        }
        if let Some(p) = self.pids {
            v.push(("pids.max", p.to_string()));
        }
        v
    }

    /// The v2 controllers these limits need enabled in the parent's
    /// cgroup.subtree_control.
    pub fn v2_controllers(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.memory > 0 {
            v.push("memory");
        }
        if self.nano_cpus > 0 {
            v.push("cpu");
        }
        if self.pids.is_some() {
            v.push("pids");
        }
        v
    }

    /// The flag a controller stands for, for messages.
    pub fn flag_of(c: &str) -> &'static str {
        match c {
            "memory" => "--memory",
            "cpu" => "--cpus",
            _ => "--pids-limit",
        }
    }
}

/// The v1 hierarchies' mount points, from /proc/self/mountinfo: each
/// controller and where it is mounted (the first mount of each, as
/// systemd and Docker mount them; `cpu,cpuacct` co-mounted gives both).
pub fn v1_mounts(mountinfo: &str) -> Vec<(Controller, String)> {
    let mut out: Vec<(Controller, String)> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        if r.next() != Some("cgroup") {
            continue;
        }
        let _source = r.next();
        let Some(opts) = r.next() else { continue };
        let Some(point) = left.split(' ').nth(4) else {
            continue;
        };
        for c in [
            Controller::Memory,
            Controller::Cpu,
            Controller::Cpuacct,
            Controller::Pids,
        ] {
            if opts.split(',').any(|o| o == c.name()) && !out.iter().any(|(k, _)| *k == c) {
                out.push((c, unescape_mount(point)));
            }
        }
    }
    out
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|d| (b'0'..=b'7').contains(d)))
            .map(|d| d.iter().fold(0u32, |n, d| n * 8 + u32::from(d - b'0')))
            .and_then(|n| u8::try_from(n).ok());
        if let Some(c) = code {
            out.push(c);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The process's v2 cgroup, from /proc/self/cgroup's `0::/path` line.
pub fn v2_path(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .filter(|p| p.starts_with('/'))
}

/// Where a rootless user's containers' cgroups go: the parent of the
/// cgroup rrun runs in, if that parent is the user's (delegated: owned by
/// them) and offers every controller `want`s. rrun's own cgroup cannot
/// be it: a v2 cgroup with processes in it cannot pass controllers down.
/// `owned(rel)` and `controllers(rel)` look at the directory `rel` below
/// the v2 mount. Err: why not, for the user.
pub fn delegated_parent(
    own: &str,
    want: &[&str],
    owned: impl Fn(&str) -> bool,
    controllers: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let parent = match own.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &own[..i],
    };
    if parent == "/" || !owned(parent) {
        return Err(format!(
            "the cgroup rrun runs in ({own}) is not in a subtree delegated to you"
        ));
    }
    let missing = missing(&controllers(parent).unwrap_or_default(), want);
    if !missing.is_empty() {
        return Err(format!(
            "the cgroup {parent} delegated to you lacks the {} controller",
            missing.join(" and ")
        ));
    }
    Ok(parent.to_string())
}

/// Which of `want` a controller list (`cgroup.controllers`,
/// `cgroup.subtree_control`: names separated by spaces) lacks.
pub fn missing<'a>(have: &str, want: &[&'a str]) -> Vec<&'a str> {
    want.iter()
        .copied()
        .filter(|w| !have.split_whitespace().any(|h| h == *w))
        .collect()
}

/// The OOM kills a cgroup counted: v1's memory.oom_control and v2's
/// memory.events both carry an `oom_kill N` line.
pub fn oom_kills(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_go_units_reads_them() {
        let ok = |s: &str| ram_in_bytes(s).unwrap();
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("10"), 10);
        assert_eq!(ok("10b"), 10);
        assert_eq!(ok("10B"), 10);
        assert_eq!(ok("1k"), 1024);
        assert_eq!(ok("1kb"), 1024);
        assert_eq!(ok("1KiB"), 1024);
        assert_eq!(ok("10m"), 10 << 20);
        assert_eq!(ok("10M"), 10 << 20);
        assert_eq!(ok("10mb"), 10 << 20);
        assert_eq!(ok("10MiB"), 10 << 20);
        assert_eq!(ok("10 m"), 10 << 20);
        assert_eq!(ok("1.5g"), 3 << 29);
        assert_eq!(ok("2t"), 2 << 40);
        assert_eq!(ok("1p"), 1 << 50);
        assert_eq!(ok("1.5"), 1);
        assert_eq!(ok(".5k"), 512);
        assert_eq!(ok("1e3"), 1000);
        let err = |s: &str| ram_in_bytes(s).unwrap_err();
        assert_eq!(err("1x"), "invalid suffix: 'x'");
        assert_eq!(err("1X"), "invalid suffix: 'x'");
        assert_eq!(err("1kx"), "invalid suffix: 'kx'");
        assert_eq!(
            err("1kib2"),
            "strconv.ParseFloat: parsing \"1kib2\": invalid syntax"
        );
        assert_eq!(err("1mbb"), "invalid suffix: 'mbb'");
        assert_eq!(err("1MIBB"), "invalid suffix: 'MIBB'");
        assert_eq!(err("1bb"), "invalid suffix: 'bb'");
        assert_eq!(err("1mx"), "invalid suffix: 'mx'");
        assert_eq!(err("1mix"), "invalid suffix: 'mix'");
        assert_eq!(err("-1"), "invalid size: '-1'");
        // Not a number is no size (as a cast it would be 0: no limit).
        assert_eq!(err("nan m"), "invalid size: 'nan m'");
        assert_eq!(err("NaN "), "invalid size: 'NaN '");
        assert_eq!(err("abc"), "invalid size: 'abc'");
        assert_eq!(err(""), "invalid size: ''");
        assert_eq!(err("m"), "invalid size: 'm'");
        assert_eq!(
            err("1..5m"),
            "strconv.ParseFloat: parsing \"1..5\": invalid syntax"
        );
        assert_eq!(
            err("inf5"),
            "strconv.ParseFloat: parsing \"inf5\": invalid syntax"
        );
        assert_eq!(
            err("1e400"),
            "strconv.ParseFloat: parsing \"1e400\": value out of range"
        );
        assert_eq!(err("9000000p"), "invalid size: '9000000p'");
        assert_eq!(ok("8191p"), 8191 << 50);
    }

    #[test]
    fn flags_in_dockers_words() {
        assert_eq!(
            parse_memory("1x").unwrap_err().to_string(),
            "invalid argument \"1x\" for \"-m, --memory\" flag: invalid suffix: 'x'"
        );
        assert_eq!(
            parse_memory("-1").unwrap_err().to_string(),
            "invalid argument \"-1\" for \"-m, --memory\" flag: invalid size: '-1'"
        );
        assert_eq!(parse_memory_swap("-1").unwrap(), -1);
        assert_eq!(parse_memory_swap("1g").unwrap(), 1 << 30);
        assert_eq!(
            parse_memory_swap("-2").unwrap_err().to_string(),
            "invalid argument \"-2\" for \"--memory-swap\" flag: invalid size: '-2'"
        );
        assert_eq!(
            parse_cpus("abc").unwrap_err().to_string(),
            "invalid argument \"abc\" for \"--cpus\" flag: failed to parse abc as a rational number"
        );
        assert_eq!(
            parse_cpus("0.0000000001").unwrap_err().to_string(),
            "invalid argument \"0.0000000001\" for \"--cpus\" flag: value is too precise"
        );
        assert_eq!(
            parse_pids("x").unwrap_err().to_string(),
            "invalid argument \"x\" for \"--pids-limit\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert!(
            parse_pids("0")
                .unwrap_err()
                .to_string()
                .contains("-1: unlimited")
        );
        assert_eq!(parse_pids("100").unwrap(), 100);
        assert_eq!(parse_pids("0x10").unwrap(), 16);
        assert_eq!(parse_pids("-1").unwrap(), -1);
    }

    #[test]
    fn cpus_as_big_rat_reads_them() {
        let ok = |s: &str| rational_nanos(s).ok();
        assert_eq!(ok("1"), Some(1_000_000_000));
        assert_eq!(ok("0.5"), Some(500_000_000));
        assert_eq!(ok(".5"), Some(500_000_000));
        assert_eq!(ok("5."), Some(5_000_000_000));
        assert_eq!(ok("+1.25"), Some(1_250_000_000));
        assert_eq!(ok("-1"), Some(-1_000_000_000));
        assert_eq!(ok("3/2"), Some(1_500_000_000));
        assert_eq!(ok("-1/4"), Some(-250_000_000));
        assert_eq!(ok("15e-1"), Some(1_500_000_000));
        assert_eq!(ok("1E2"), Some(100_000_000_000));
        assert_eq!(ok("0"), Some(0));
        assert_eq!(ok("000.000"), Some(0));
        assert_eq!(ok("0.000000001"), Some(1));
        assert_eq!(ok("1000000000e-9"), Some(1_000_000_000));
        assert_eq!(ok("10e-10"), Some(1));
        assert_eq!(ok("1e30"), Some(i64::MAX));
        assert_eq!(ok("12e7"), Some(120_000_000_000_000_000));
        assert_eq!(ok("-10e-10"), Some(-1));
        assert_eq!(ok("-1e30"), Some(i64::MIN));
        assert_eq!(ok("99999999999999999999"), Some(i64::MAX));
        for bad in [
            "", ".", "abc", "1/0", "1/", "/2", "1/-2", "1/+2", "-/2", "1e", "1.2.3", "--1", "1 ",
            "0x10", "1/2/3", "e5",
        ] {
            assert!(
                matches!(rational_nanos(bad), Err(RatError::Syntax)),
                "{bad}"
            );
        }
        for precise in ["0.0000000001", "1/3", "1e-10", "12345e-14"] {
            assert!(
                matches!(rational_nanos(precise), Err(RatError::Precise)),
                "{precise}"
            );
        }
    }

    #[test]
    fn daemon_checks() {
        let m = 64 << 20;
        assert_eq!(
            settle(Some(1), None, None, None, 2),
            Err(LimitError::MemoryTooSmall)
        );
        assert_eq!(
            settle(Some(6_291_455), None, None, None, 2),
            Err(LimitError::MemoryTooSmall)
        );
        assert!(settle(Some(6_291_456), None, None, None, 2).is_ok());
        assert!(settle(Some(MIN_MEMORY), None, None, None, 2).is_ok());
        assert_eq!(
            settle(None, Some(m), None, None, 2),
            Err(LimitError::SwapWithoutMemory)
        );
        assert_eq!(
            settle(None, Some(-1), None, None, 2),
            Err(LimitError::SwapWithoutMemory)
        );
        assert_eq!(
            settle(Some(m), Some(m - 1), None, None, 2),
            Err(LimitError::SwapBelowMemory)
        );
        let l = settle(Some(m), None, None, None, 2).unwrap();
        assert_eq!((l.memory, l.memory_swap, l.swap_given), (m, 2 * m, false));
        let l = settle(Some(m), Some(m), None, None, 2).unwrap();
        assert_eq!((l.memory_swap, l.swap_given), (m, true));
        let l = settle(Some(m), Some(-1), None, None, 2).unwrap();
        assert_eq!(l.memory_swap, -1);
        let l = settle(Some(0), Some(0), Some(0), None, 2).unwrap();
        assert_eq!(l, Limits::default());
        assert!(!l.any());
        assert_eq!(
            settle(None, None, Some(-1), None, 2),
            Err(LimitError::CpuRange(2))
        );
        assert_eq!(
            settle(None, None, Some(9_999_999), None, 2),
            Err(LimitError::CpuRange(2))
        );
        assert_eq!(
            settle(None, None, Some(2_000_000_001), None, 2),
            Err(LimitError::CpuRange(2))
        );
        assert!(settle(None, None, Some(2_000_000_000), None, 2).is_ok());
        assert!(settle(None, None, Some(10_000_000), None, 2).is_ok());
        assert_eq!(
            LimitError::CpuRange(2).to_string(),
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        assert_eq!(settle(None, None, None, Some(-1), 2).unwrap().pids, None);
        let l = settle(None, None, None, Some(100), 2).unwrap();
        assert_eq!(l.pids, Some(100));
        assert!(l.any());
        assert!(
            settle(None, None, Some(500_000_000), None, 2)
                .unwrap()
                .any()
        );
        assert!(settle(Some(m), None, None, None, 2).unwrap().any());
    }

    #[test]
    fn files_written() {
        let l = Limits {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            swap_given: false,
            nano_cpus: 500_000_000,
            pids: Some(100),
        };
        assert_eq!(l.cfs_quota_us(), 50_000);
        assert_eq!(
            l.v1_files(Controller::Memory, true),
            vec![
                ("memory.limit_in_bytes", "67108864".to_string()),
                ("memory.memsw.limit_in_bytes", "134217728".to_string())
            ]
        );
        assert_eq!(
            l.v1_files(Controller::Memory, false),
            vec![("memory.limit_in_bytes", "67108864".to_string())]
        );
        assert_eq!(
            l.v1_files(Controller::Cpu, true),
            vec![
                ("cpu.cfs_period_us", "100000".to_string()),
                ("cpu.cfs_quota_us", "50000".to_string())
            ]
        );
        assert_eq!(
            l.v1_files(Controller::Pids, true),
            vec![("pids.max", "100".to_string())]
        );
        assert!(l.v1_files(Controller::Cpuacct, true).is_empty());
        assert_eq!(
            l.v2_files(),
            vec![
                ("memory.max", "67108864".to_string()),
                ("memory.swap.max", "67108864".to_string()),
                ("cpu.max", "50000 100000".to_string()),
                ("pids.max", "100".to_string()),
            ]
        );
        assert_eq!(l.v2_controllers(), vec!["memory", "cpu", "pids"]);
        let (need, extra) = l.v1_controllers();
        assert_eq!(
            need,
            vec![Controller::Memory, Controller::Cpu, Controller::Pids]
        );
        assert_eq!(extra, vec![Controller::Cpuacct]);

        let none = Limits::default();
        assert!(none.v2_files().is_empty());
        assert!(none.v2_controllers().is_empty());
        for c in [Controller::Memory, Controller::Cpu, Controller::Pids] {
            assert!(none.v1_files(c, true).is_empty());
        }
        let unl = Limits {
            memory: 64 << 20,
            memory_swap: -1,
            ..Limits::default()
        };
        assert_eq!(unl.v2_files()[1], ("memory.swap.max", "max".to_string()));
        assert_eq!(unl.v1_files(Controller::Memory, true)[1].1, "-1");
        let noswap = Limits {
            memory: 64 << 20,
            memory_swap: 64 << 20,
            ..Limits::default()
        };
        assert_eq!(noswap.v2_files()[1], ("memory.swap.max", "0".to_string()));
        let cpus = Limits {
            nano_cpus: 1_500_000_000,
            ..Limits::default()
        };
        assert_eq!(
            cpus.v2_files(),
            vec![("cpu.max", "150000 100000".to_string())]
        );
        assert_eq!(unl.v1_controllers().0, vec![Controller::Memory]);
        // A record without memory+swap (0): memory alone, no swap line.
        let no_swap_field = Limits {
            memory: 64 << 20,
            ..Limits::default()
        };
        assert_eq!(
            no_swap_field.v2_files(),
            vec![("memory.max", "67108864".to_string())]
        );
        let pids = Limits {
            pids: Some(5),
            ..Limits::default()
        };
        assert_eq!(pids.v1_controllers().0, vec![Controller::Pids]);
        assert_eq!(
            settle(None, None, None, Some(0), 2).map(|l| l.pids),
            Ok(None),
            "0 (which the flag refuses) is no limit, as in Docker"
        );
        let (need, extra) = cpus.v1_controllers();
        assert_eq!(need, vec![Controller::Cpu]);
        assert_eq!(
            extra,
            vec![Controller::Memory, Controller::Cpuacct, Controller::Pids]
        );
        assert_eq!(Limits::flag_of("memory"), "--memory");
        assert_eq!(Limits::flag_of("cpu"), "--cpus");
        assert_eq!(Limits::flag_of("pids"), "--pids-limit");
        assert_eq!(Controller::Cpuacct.name(), "cpuacct");
    }

    #[test]
    fn mounts_from_mountinfo() {
        let text = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
36 30 0:32 / /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,name=systemd
37 30 0:33 / /other/memory rw - cgroup cgroup rw,memory
bad line
";
        let m = v1_mounts(text);
        assert_eq!(
            m,
            vec![
                (Controller::Cpu, "/sys/fs/cgroup/cpu,cpuacct".into()),
                (Controller::Cpuacct, "/sys/fs/cgroup/cpu,cpuacct".into()),
                (Controller::Memory, "/sys/fs/cgroup/memory".into()),
                (Controller::Pids, "/sys/fs/cgroup/pids".into()),
            ]
        );
        assert_eq!(unescape_mount("/a\\040b"), "/a b");
        assert_eq!(unescape_mount("/a\\04"), "/a\\04");
        assert_eq!(unescape_mount("/a\\098"), "/a\\098");
        assert_eq!(unescape_mount("/a\\777"), "/a\\777");
        assert_eq!(unescape_mount("\\134x"), "\\x");
        assert!(v1_mounts("").is_empty());
    }

    #[test]
    fn rootless_parent() {
        assert_eq!(
            v2_path("1:cpu:/\n0::/user.slice/a.scope\n"),
            Some("/user.slice/a.scope")
        );
        assert_eq!(v2_path("1:cpu:/x\n"), None);
        assert_eq!(v2_path("0::rel\n"), None);
        let own = "/user.slice/user-1000.slice/user@1000.service/app.slice/run-1.scope";
        let parent = "/user.slice/user-1000.slice/user@1000.service/app.slice";
        let mine = |p: &str| p.contains("user@1000.service");
        let ctl = |_: &str| Some("cpu memory pids".to_string());
        assert_eq!(
            delegated_parent(own, &["memory", "pids"], mine, ctl),
            Ok(parent.to_string())
        );
        let e = delegated_parent(
            "/user.slice/user-1000.slice/session-3.scope",
            &["memory"],
            mine,
            ctl,
        )
        .unwrap_err();
        assert!(
            e.contains("session-3.scope") && e.contains("not in a subtree delegated"),
            "{e}"
        );
        assert!(delegated_parent("/a", &["memory"], |_| true, ctl).is_err());
        assert!(delegated_parent("", &["memory"], |_| true, ctl).is_err());
        let e = delegated_parent(own, &["memory", "cpu"], mine, |_| {
            Some("memory pids".into())
        })
        .unwrap_err();
        assert!(e.ends_with("lacks the cpu controller"), "{e}");
        let e = delegated_parent(own, &["memory", "cpu"], mine, |_| None).unwrap_err();
        assert!(e.ends_with("lacks the memory and cpu controller"), "{e}");
    }

    #[test]
    fn missing_controllers() {
        assert_eq!(
            missing("cpu memory pids", &["memory", "pids"]),
            Vec::<&str>::new()
        );
        assert_eq!(
            missing("cpu memory\n", &["pids", "memory", "io"]),
            vec!["pids", "io"]
        );
        assert_eq!(missing("", &["memory"]), vec!["memory"]);
        assert_eq!(missing("memoryx", &["memory"]), vec!["memory"]);
    }

    #[test]
    fn oom_counters() {
        assert_eq!(
            oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"),
            3
        );
        assert_eq!(
            oom_kills("low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\noom_group_kill 0\n"),
            1
        );
        assert_eq!(oom_kills("oom_kill_disable 0\n"), 0);
        assert_eq!(oom_kills("oom_kill x\n"), 0);
        assert_eq!(oom_kills(""), 0);
    }
}
