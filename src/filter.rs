//! `ps --filter`, `-n` and `-l` as Docker 20.10 has them: the CLI's
//! `key=value` reading, the daemon's accepted keys and validation (with
//! its error texts), and its rules for which containers are listed, in
//! which order, applied to a plain view of each container. Pure: the
//! caller reads the records (and resolves ancestor paths) and hands them
//! in; nothing here makes a syscall.
//!
//! Docker's rules kept here, because scripts depend on them: `name` and
//! `id` are unanchored regular expressions (a name matches with or without
//! its leading '/'), but only containers whose id has an `id` value as a
//! unique prefix, or one of whose names (link names too) matches a `name`
//! value, are looked at; `label` values must all match; values of one key
//! are alternatives, keys must all match; `status` lists stopped
//! containers too; `-n N` lists the N last created in any state.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

use crate::flag::FlagError;

/// The keys Docker's daemon takes for containers.
const ACCEPTED: [&str; 15] = [
    "ancestor",
    "before",
    "exited",
    "id",
    "isolation",
    "label",
    "name",
    "status",
    "health",
    "since",
    "volume",
    "network",
    "is-task",
    "publish",
    "expose",
];

const STATES: [&str; 7] = [
    "paused",
    "restarting",
    "removing",
    "running",
    "dead",
    "created",
    "exited",
];

const HEALTH: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];

/// Go's *strconv.NumError.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumError {
    pub func: &'static str,
    pub num: String,
    /// Out of range, rather than not a number.
    pub range: bool,
}

impl fmt::Display for NumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = if self.range {
            "value out of range"
        } else {
            "invalid syntax"
        };
        write!(
            f,
            "strconv.{}: parsing {}: {why}",
            self.func,
            crate::goquote::quote(&self.num)
        )
    }
}

impl std::error::Error for NumError {}

/// The value of a digit in base 36, as Go's parsers read it.
fn digit(c: u8) -> Option<u64> {
    match c {
        b'0'..=b'9' => Some(u64::from(c - b'0')),
        b'a'..=b'z' | b'A'..=b'Z' => Some(u64::from((c | 0x20) - b'a') + 10),
        _ => None,
    }
}

/// Go's strconv.underscoreOK: underscores only between digits, or between
/// a base prefix and a digit.
fn underscore_ok(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let b = s.as_bytes();
    // '^' start, '0' a digit or base prefix, '_' an underscore, '!' other.
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1] | 0x20 == b'x';
    }
    for &c in &b[i..] {
        if c.is_ascii_digit() || (hex && matches!(c | 0x20, b'a'..=b'f')) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Go's strconv.ParseUint(s, base, bits), base 0 reading a `0x`, `0o`,
/// `0b` or `0` prefix and underscores. Errors name `func` and `whole`
/// (what the caller was given).
fn parse_uint(
    s: &str,
    base: u64,
    max: u64,
    func: &'static str,
    whole: &str,
) -> Result<u64, NumError> {
    let err = |range| NumError {
        func,
        num: whole.to_string(),
        range,
    };
    if s.is_empty() {
        return Err(err(false));
    }
    let base0 = base == 0;
    let b = s.as_bytes();
    let (base, digits) = if !base0 {
        (base, b)
    } else if b[0] != b'0' {
        (10, b)
    } else if b.len() >= 3 && b[1] | 0x20 == b'b' {
        (2, &b[2..])
    } else if b.len() >= 3 && b[1] | 0x20 == b'o' {
        (8, &b[2..])
    } else if b.len() >= 3 && b[1] | 0x20 == b'x' {
        (16, &b[2..])
    } else {
        (8, &b[1..])
    };
    let mut n: u64 = 0;
    let mut underscores = false;
    for &c in digits {
        if c == b'_' && base0 {
            underscores = true;
            continue;
        }
        let d = digit(c).filter(|&d| d < base).ok_or_else(|| err(false))?;
        n = n
            .checked_mul(base)
            .and_then(|n| n.checked_add(d))
            .filter(|&n| n <= max)
            .ok_or_else(|| err(true))?;
    }
    if underscores && !underscore_ok(s) {
        return Err(err(false));
    }
    Ok(n)
}

/// Go's strconv.ParseInt(s, base, 64), errors naming `func`.
pub fn parse_int(s: &str, base: u64, func: &'static str) -> Result<i64, NumError> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    // A number past u64 is out of range as one past i64 is.
    let n = parse_uint(rest, base, u64::MAX, func, s)?;
    let cut = 1u64 << 63;
    if n > cut || (n == cut && !neg) {
        return Err(NumError {
            func,
            num: s.to_string(),
            range: true,
        });
    }
    // Two's complement: -(1 << 63) is i64::MIN.
    Ok(if neg {
        (n as i64).wrapping_neg()
    } else {
        n as i64
    })
}

/// Go's strconv.Atoi (`exited=`).
pub fn atoi(s: &str) -> Result<i64, NumError> {
    parse_int(s, 10, "Atoi")
}

/// `-n, --last`: pflag's int, Go's strconv.ParseInt(s, 0, 64).
pub fn parse_last(s: &str) -> Result<i64, FlagError> {
    parse_int(s, 0, "ParseInt").map_err(|e| FlagError {
        flag: "-n, --last",
        value: s.to_string(),
        why: e.to_string(),
    })
}

/// Why a port or range of a `publish=`/`expose=` filter (or of `port`'s
/// argument) is no port: go-connections' nat.ParsePortRange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortRangeError {
    #[error("Empty string specified for ports.")]
    Empty,
    #[error("{0}")]
    Num(NumError),
    #[error("Invalid range specified for the Port: {0}")]
    Backwards(String),
}

fn parse_u16(s: &str) -> Result<u16, PortRangeError> {
    parse_uint(s, 10, u64::from(u16::MAX), "ParseUint", s)
        .map(|n| n as u16)
        .map_err(PortRangeError::Num)
}

/// nat.ParsePortRange: "80" or "8000-8010" (a third part is ignored).
pub fn port_range(ports: &str) -> Result<(u16, u16), PortRangeError> {
    if ports.is_empty() {
        return Err(PortRangeError::Empty);
    }
    let mut parts = ports.split('-');
    let start = parse_u16(parts.next().unwrap_or_default())?;
    let Some(end) = parts.next() else {
        return Ok((start, start));
    };
    let end = parse_u16(end)?;
    if end < start {
        return Err(PortRangeError::Backwards(ports.to_string()));
    }
    Ok((start, end))
}

/// nat.SplitProtoPort: (proto, port); "tcp" when none is given.
pub fn split_proto_port(raw: &str) -> (&str, &str) {
    let mut parts = raw.split('/');
    let port = parts.next().unwrap_or_default();
    if port.is_empty() {
        return ("", "");
    }
    match parts.next() {
        None | Some("") => ("tcp", port),
        Some(proto) => (proto, port),
    }
}

/// One `--filter` as the CLI read it: None for an empty value (ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterArg(pub Option<(String, String)>);

/// Go's strings.ToLower, a character at a time (`İ` is `i`, Σ is σ).
fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'İ' => 'i',
            c => c.to_lowercase().next().unwrap_or(c),
        })
        .collect()
}

/// `-f, --filter KEY=VALUE`: Docker's CLI trims both, and lower-cases the
/// key.
pub fn parse_filter_flag(value: &str) -> Result<FilterArg, FlagError> {
    if value.is_empty() {
        return Ok(FilterArg(None));
    }
    let (k, v) = value.split_once('=').ok_or_else(|| FlagError {
        flag: "-f, --filter",
        value: value.to_string(),
        why: "bad format of filter (expected name=value)".into(),
    })?;
    Ok(FilterArg(Some((go_lower(k.trim()), v.trim().to_string()))))
}

/// What the daemon refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("Invalid filter '{0}'")]
    Key(String),
    #[error("Invalid filter 'status={0}'")]
    Status(String),
    #[error("{0}")]
    Exited(NumError),
    #[error("Unrecognised filter value for health: {0}")]
    Health(String),
    #[error("Invalid filter 'is-task=[{}]'", .0.join(" "))]
    IsTask(Vec<String>),
    #[error("filter for '{0}' should not contain ':': {1}")]
    PortColon(&'static str, String),
    #[error("error while looking up for {0} {1}: {2}")]
    Port(&'static str, String, PortRangeError),
    #[error("no such container {0}")]
    NoSuchContainer(String),
}

/// A published or exposed port as Docker lists a running container's
/// (`public` 0: exposed, not published).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortView {
    pub private: u16,
    pub public: u16,
    pub proto: String,
}

/// What the filters look at of one container.
#[derive(Debug, Clone, Default)]
pub struct View<'a> {
    pub id: &'a str,
    /// Its own name, without the leading '/'.
    pub name: &'a str,
    /// Every name it goes by (its own, and "linker/alias" for each
    /// container linking to it), without the leading '/'.
    pub names: Vec<String>,
    /// created, running or exited.
    pub state: &'a str,
    pub running: bool,
    /// It has been started (an exit code of its own).
    pub started: bool,
    pub exit_code: i32,
    pub labels: Option<&'a BTreeMap<String, String>>,
    /// The rootfs as given, and resolved.
    pub rootfs: &'a [u8],
    pub rootfs_path: &'a [u8],
    /// Its network (bridge, host, none); None when it has none of its own.
    pub network: Option<&'a str>,
    /// Its ports, while it runs on a network of its own.
    pub ports: Vec<PortView>,
    /// Its bind mounts, (source, destination).
    pub mounts: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A value to match by Docker's `Match`: the text itself, or an
/// unanchored regular expression (one that does not compile matches only
/// itself).
#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    re: Option<Regex>,
}

impl Pattern {
    fn new(text: &str) -> Pattern {
        Pattern {
            text: text.to_string(),
            re: Regex::new(text).ok(),
        }
    }

    fn matches(&self, s: &str) -> bool {
        self.text == s || self.re.as_ref().is_some_and(|r| r.is_match(s))
    }
}

/// Any of `pats` matches `s`, or there are none.
fn any_match(pats: &[Pattern], s: &str) -> bool {
    pats.is_empty() || pats.iter().any(|p| p.matches(s))
}

/// The filters, validated and ready to match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    names: Vec<Pattern>,
    ids: Vec<Pattern>,
    id_prefixes: Vec<String>,
    labels: Vec<String>,
    exited: Vec<i64>,
    statuses: Vec<String>,
    /// Some(wanted) with is-task: rrun's containers are never tasks.
    is_task: Option<bool>,
    health: Vec<String>,
    volumes: Option<Vec<String>>,
    /// Each value, and what it resolves to (a path), if it does.
    ancestors: Option<Vec<(String, Option<Vec<u8>>)>>,
    networks: Option<Vec<String>>,
    publish: Vec<String>,
    expose: Vec<String>,
    before: Option<String>,
    since: Option<String>,
}

/// `--filter` values by key, in the order given, each value once.
fn group(args: &[FilterArg]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in args.iter().filter_map(|a| a.0.as_ref()) {
        match out.iter_mut().find(|(key, _)| key == k) {
            Some((_, vals)) => {
                if !vals.contains(v) {
                    vals.push(v.clone());
                }
            }
            None => out.push((k.clone(), vec![v.clone()])),
        }
    }
    out
}

/// publish= and expose=: every port of the value, as "port/proto".
fn port_op(key: &'static str, value: &str, set: &mut Vec<String>) -> Result<(), FilterError> {
    if value.contains(':') {
        return Err(FilterError::PortColon(key, value.to_string()));
    }
    let (proto, port) = split_proto_port(value);
    let (start, end) =
        port_range(port).map_err(|e| FilterError::Port(key, value.to_string(), e))?;
    set.extend((start..=end).map(|p| format!("{p}/{proto}")));
    Ok(())
}

/// before= and since=: a full id, or a name (with or without its '/'),
/// link names too.
fn id_or_name(views: &[View], value: &str) -> Result<String, FilterError> {
    let name = value.strip_prefix('/').unwrap_or(value);
    views
        .iter()
        .find(|v| v.id == value)
        .or_else(|| views.iter().find(|v| v.names.iter().any(|n| n == name)))
        .map(|v| v.id.to_string())
        .ok_or_else(|| FilterError::NoSuchContainer(value.to_string()))
}

impl Filter {
    /// Validate `args` as Docker's daemon does, in its order; `views` are
    /// every container (for before= and since=), `resolve` says where an
    /// ancestor= path leads, if anywhere.
    pub fn new(
        args: &[FilterArg],
        views: &[View],
        resolve: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<Filter, FilterError> {
        let g = group(args);
        if let Some((k, _)) = g.iter().find(|(k, _)| !ACCEPTED.contains(&k.as_str())) {
            return Err(FilterError::Key(k.clone()));
        }
        let get = |key: &str| -> Option<&Vec<String>> {
            g.iter().find(|(k, _)| k == key).map(|(_, v)| v)
        };
        let vals = |key: &str| get(key).cloned().unwrap_or_default();
        let mut f = Filter {
            names: vals("name").iter().map(|v| Pattern::new(v)).collect(),
            ids: vals("id").iter().map(|v| Pattern::new(v)).collect(),
            id_prefixes: vals("id"),
            labels: vals("label"),
            ..Filter::default()
        };
        for v in vals("exited") {
            f.exited.push(atoi(&v).map_err(FilterError::Exited)?);
        }
        for v in vals("status") {
            if !STATES.contains(&v.as_str()) {
                return Err(FilterError::Status(v));
            }
            f.statuses.push(v);
        }
        if let Some(v) = get("is-task") {
            f.is_task = Some(if v.iter().any(|x| x == "true") {
                true
            } else if v.iter().any(|x| x == "false") {
                false
            } else {
                return Err(FilterError::IsTask(v.clone()));
            });
        }
        for v in vals("health") {
            if !HEALTH.contains(&v.as_str()) {
                return Err(FilterError::Health(v));
            }
            f.health.push(v);
        }
        for v in vals("before") {
            f.before = Some(id_or_name(views, &v)?);
        }
        for v in vals("since") {
            f.since = Some(id_or_name(views, &v)?);
        }
        f.ancestors = get("ancestor").map(|v| v.iter().map(|a| (a.clone(), resolve(a))).collect());
        for v in vals("publish") {
            port_op("publish", &v, &mut f.publish)?;
        }
        for v in vals("expose") {
            port_op("expose", &v, &mut f.expose)?;
        }
        f.volumes = get("volume").cloned();
        f.networks = get("network").cloned();
        Ok(f)
    }

    /// Whether the status filter lists stopped containers (as -a does).
    pub fn wants_all(&self) -> bool {
        !self.statuses.is_empty()
    }

    /// The containers name= and id= let through to the rest: those whose
    /// id has an id= value as a unique prefix, and those with a name (of
    /// any kind) that matches a name= value (among the former, if id= is
    /// given). All when neither is given.
    fn candidates(&self, views: &[View]) -> Vec<usize> {
        if self.names.is_empty() && self.id_prefixes.is_empty() {
            return (0..views.len()).collect();
        }
        let mut hit = vec![false; views.len()];
        for p in self.id_prefixes.iter().filter(|p| !p.is_empty()) {
            let mut found = views
                .iter()
                .enumerate()
                .filter(|(_, v)| v.id.starts_with(p.as_str()));
            if let (Some((i, _)), None) = (found.next(), found.next()) {
                hit[i] = true;
            }
        }
        if !self.names.is_empty() {
            let by_id = !self.id_prefixes.is_empty();
            for (i, v) in views.iter().enumerate() {
                if by_id && !hit[i] {
                    continue;
                }
                if v.names.iter().any(|n| self.name_matches(n)) {
                    hit[i] = true;
                }
            }
        }
        (0..views.len()).filter(|&i| hit[i]).collect()
    }

    /// A name, with or without its leading '/', matches a name= value.
    fn name_matches(&self, name: &str) -> bool {
        any_match(&self.names, &format!("/{name}")) || any_match(&self.names, name)
    }

    fn labels_match(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        if self.labels.is_empty() {
            return true;
        }
        let Some(have) = labels.filter(|l| !l.is_empty()) else {
            return false;
        };
        self.labels.iter().all(|want| match want.split_once('=') {
            Some((k, v)) => have.get(k).is_some_and(|h| h == v),
            None => have.contains_key(want),
        })
    }

    fn exited_match(&self, v: &View) -> bool {
        self.exited.is_empty()
            || (!v.running && v.started && self.exited.contains(&i64::from(v.exit_code)))
    }

    fn ancestor_match(&self, v: &View) -> bool {
        let Some(anc) = &self.ancestors else {
            return true;
        };
        anc.iter().any(|(given, resolved)| match resolved {
            // Where the value leads from here is the truth; a path that
            // leads nowhere (any more) is compared as written.
            Some(p) => {
                p.as_slice() == v.rootfs_path
                    || (v.rootfs_path.is_empty() && p.as_slice() == v.rootfs)
            }
            None => given.as_bytes() == v.rootfs || given.as_bytes() == v.rootfs_path,
        })
    }

    fn volume_match(&self, v: &View) -> bool {
        self.volumes.as_ref().is_none_or(|vols| {
            vols.iter().any(|x| {
                v.mounts.iter().any(|(src, dst)| {
                    x.as_bytes() == dst.as_slice() || x.as_bytes() == src.as_slice()
                })
            })
        })
    }

    fn network_match(&self, v: &View) -> bool {
        self.networks
            .as_ref()
            .is_none_or(|nets| v.network.is_some_and(|n| nets.iter().any(|x| x == n)))
    }

    fn ports_match(&self, v: &View) -> bool {
        if self.publish.is_empty() && self.expose.is_empty() {
            return true;
        }
        v.ports.iter().any(|p| {
            self.publish.contains(&format!("{}/{}", p.public, p.proto))
                || self.expose.contains(&format!("{}/{}", p.private, p.proto))
        })
    }

    /// The rest of Docker's checks, after the limit (exit code, status,
    /// health, volume, ancestor, network, ports).
    fn late_match(&self, v: &View) -> bool {
        self.exited_match(v)
            && (self.statuses.is_empty() || self.statuses.iter().any(|s| s == v.state))
            && (self.health.is_empty() || self.health.iter().any(|h| h == "none"))
            && self.volume_match(v)
            && self.ancestor_match(v)
            && self.network_match(v)
            && self.ports_match(v)
    }

    /// Indices of `views` (newest first) to list, in Docker's order of
    /// checks: before= and since= walk the candidates, a stopped container
    /// is listed only with -a, a status= filter or a limit, and a limit
    /// (-n, or 1 for -l) counts the containers listed.
    pub fn select(&self, views: &[View], all: bool, limit: i64) -> Vec<usize> {
        let all = all || self.wants_all();
        let mut before = self.before.as_deref();
        let mut out = Vec::new();
        for i in self.candidates(views) {
            let v = &views[i];
            if let Some(b) = before {
                if v.id == b {
                    before = None;
                }
                continue;
            }
            if self.since.as_deref() == Some(v.id) {
                break;
            }
            if !v.running && !all && limit <= 0 {
                continue;
            }
            if !(any_match(&self.names, &format!("/{}", v.name)) || any_match(&self.names, v.name))
                || !any_match(&self.ids, v.id)
                || self.is_task == Some(true)
                || !self.labels_match(v.labels)
            {
                continue;
            }
            if limit > 0 && out.len() as i64 == limit {
                break;
            }
            if self.late_match(v) {
                out.push(i);
            }
        }
        out
    }
}

/// -n and -l as Docker's CLI combines them: -l is -n 1 unless -n is given.
pub fn limit(last: i64, latest: bool) -> i64 {
    if latest && last == -1 { 1 } else { last }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(s: &str) -> FilterArg {
        parse_filter_flag(s).unwrap()
    }

    fn filt(args: &[&str], views: &[View]) -> Result<Filter, FilterError> {
        let a: Vec<FilterArg> = args.iter().map(|s| arg(s)).collect();
        Filter::new(&a, views, &|_| None)
    }

    fn num(func: &'static str, s: &str, range: bool) -> NumError {
        NumError {
            func,
            num: s.into(),
            range,
        }
    }

    #[test]
    fn num_errors_read_as_go() {
        assert_eq!(
            num("Atoi", "x", false).to_string(),
            r#"strconv.Atoi: parsing "x": invalid syntax"#
        );
        assert_eq!(
            num("ParseInt", "9", true).to_string(),
            r#"strconv.ParseInt: parsing "9": value out of range"#
        );
    }

    #[test]
    fn atoi_as_go() {
        assert_eq!(atoi("3"), Ok(3));
        assert_eq!(atoi("+3"), Ok(3));
        assert_eq!(atoi("-3"), Ok(-3));
        assert_eq!(atoi("007"), Ok(7));
        for bad in ["", "+", "-", "x", "3x", " 3", "0x1", "1_0", "٣"] {
            assert_eq!(atoi(bad), Err(num("Atoi", bad, false)), "{bad:?}");
        }
        assert_eq!(atoi("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(atoi("-9223372036854775808"), Ok(i64::MIN));
        for big in [
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999x",
        ] {
            assert_eq!(atoi(big), Err(num("Atoi", big, true)), "{big:?}");
        }
        // An invalid character before the overflow wins.
        assert_eq!(
            atoi("9x9999999999999999999"),
            Err(num("Atoi", "9x9999999999999999999", false))
        );
    }

    #[test]
    fn last_as_pflag() {
        assert_eq!(parse_last("2"), Ok(2));
        assert_eq!(parse_last("-1"), Ok(-1));
        assert_eq!(parse_last("0x2"), Ok(2));
        assert_eq!(parse_last("0X1f"), Ok(31));
        assert_eq!(parse_last("010"), Ok(8));
        assert_eq!(parse_last("0o17"), Ok(15));
        assert_eq!(parse_last("0b1_0"), Ok(2));
        assert_eq!(parse_last("1_000"), Ok(1000));
        assert_eq!(parse_last("0"), Ok(0));
        assert_eq!(parse_last("0_7"), Ok(7));
        assert_eq!(parse_last("-0x_10"), Ok(-16));
        let e = parse_last("x").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid argument "x" for "-n, --last" flag: strconv.ParseInt: parsing "x": invalid syntax"#
        );
        assert_eq!(
            parse_last("99999999999999999999").unwrap_err().why,
            r#"strconv.ParseInt: parsing "99999999999999999999": value out of range"#
        );
        for bad in [
            "", "0x", "08", "0b2", "1__0", "_1", "1_", "0x_", "1a", "0xg", "+", "0o8", "1_x", "0_",
            "x_1",
        ] {
            assert_eq!(
                parse_int(bad, 0, "ParseInt"),
                Err(num("ParseInt", bad, false)),
                "{bad:?}"
            );
        }
        assert_eq!(parse_int("0x7fffffffffffffff", 0, "P"), Ok(i64::MAX));
        assert_eq!(
            parse_int("0x8000000000000000", 0, "P"),
            Err(num("P", "0x8000000000000000", true))
        );
        assert_eq!(parse_int("-0x8000000000000000", 0, "P"), Ok(i64::MIN));
        assert_eq!(
            parse_int("-0x8000000000000001", 0, "P"),
            Err(num("P", "-0x8000000000000001", true))
        );
        assert_eq!(
            parse_int("0xffffffffffffffff1", 0, "P"),
            Err(num("P", "0xffffffffffffffff1", true))
        );
        // Underscores are judged after the digits: an overflow comes first.
        assert_eq!(
            parse_int("_99999999999999999999", 0, "P"),
            Err(num("P", "_99999999999999999999", true))
        );
        assert_eq!(parse_int("_1x", 0, "P"), Err(num("P", "_1x", false)));
        assert_eq!(
            parse_int("99999999999999999999_", 0, "P"),
            Err(num("P", "99999999999999999999_", true))
        );
    }

    #[test]
    fn underscores() {
        for ok in [
            "1_0", "0x_1", "0b1_1", "-1_0", "+0o_7", "12", "0_1", "0x_a_B",
        ] {
            assert!(underscore_ok(ok), "{ok:?}");
        }
        for bad in ["_1", "1_", "1__0", "0x1_", "1_x", "x_1", "0_"] {
            assert!(!underscore_ok(bad), "{bad:?}");
        }
        // A hex digit counts only after 0x.
        assert!(!underscore_ok("1a_1"));
        assert!(underscore_ok("0x1a_1"));
        assert!(underscore_ok("0xA_F"));
        // As Go's lower(): a control byte is no hex digit.
        assert!(!underscore_ok("0x\x10_1"));
        assert!(underscore_ok("0"));
        assert!(underscore_ok(""));
    }

    #[test]
    fn digits() {
        assert_eq!(digit(b'0'), Some(0));
        assert_eq!(digit(b'9'), Some(9));
        assert_eq!(digit(b'a'), Some(10));
        assert_eq!(digit(b'Z'), Some(35));
        assert_eq!(digit(b'z'), Some(35));
        for c in [b'@', b'[', b'`', b'{', b'/', b':', b'_', 0xc1] {
            assert_eq!(digit(c), None, "{c}");
        }
    }

    #[test]
    fn ports_as_nat() {
        assert_eq!(port_range("80"), Ok((80, 80)));
        assert_eq!(port_range("0"), Ok((0, 0)));
        assert_eq!(port_range("5000-5001"), Ok((5000, 5001)));
        assert_eq!(port_range("7-7"), Ok((7, 7)));
        assert_eq!(port_range("1-2-3"), Ok((1, 2)));
        assert_eq!(port_range("65535"), Ok((65535, 65535)));
        assert_eq!(port_range(""), Err(PortRangeError::Empty));
        assert_eq!(
            port_range("5001-5000").unwrap_err().to_string(),
            "Invalid range specified for the Port: 5001-5000"
        );
        assert_eq!(
            port_range("65536").unwrap_err().to_string(),
            r#"strconv.ParseUint: parsing "65536": value out of range"#
        );
        assert_eq!(
            port_range("abc").unwrap_err().to_string(),
            r#"strconv.ParseUint: parsing "abc": invalid syntax"#
        );
        assert_eq!(
            port_range("5-").unwrap_err().to_string(),
            r#"strconv.ParseUint: parsing "": invalid syntax"#
        );
        assert_eq!(
            port_range("x-5"),
            Err(PortRangeError::Num(num("ParseUint", "x", false)))
        );
        assert_eq!(
            port_range("+5"),
            Err(PortRangeError::Num(num("ParseUint", "+5", false)))
        );
        assert_eq!(
            port_range("1_0"),
            Err(PortRangeError::Num(num("ParseUint", "1_0", false)))
        );
        assert_eq!(
            port_range("70000x"),
            Err(PortRangeError::Num(num("ParseUint", "70000x", true)))
        );
        assert_eq!(split_proto_port("80"), ("tcp", "80"));
        assert_eq!(split_proto_port("80/"), ("tcp", "80"));
        assert_eq!(split_proto_port("80/udp"), ("udp", "80"));
        assert_eq!(split_proto_port("80/udp/x"), ("udp", "80"));
        assert_eq!(split_proto_port("/tcp"), ("", ""));
        assert_eq!(split_proto_port(""), ("", ""));
    }

    #[test]
    fn flags_as_docker_cli() {
        assert_eq!(arg(""), FilterArg(None));
        assert_eq!(
            arg(" Name = db "),
            FilterArg(Some(("name".into(), "db".into())))
        );
        assert_eq!(
            arg("label=a=b"),
            FilterArg(Some(("label".into(), "a=b".into())))
        );
        assert_eq!(arg("=x"), FilterArg(Some(("".into(), "x".into()))));
        assert_eq!(arg("İD=1"), FilterArg(Some(("id".into(), "1".into()))));
        assert_eq!(arg("ΣΑ=1"), FilterArg(Some(("σα".into(), "1".into()))));
        assert_eq!(
            parse_filter_flag("foo").unwrap_err().to_string(),
            r#"invalid argument "foo" for "-f, --filter" flag: bad format of filter (expected name=value)"#
        );
        assert_eq!(limit(-1, false), -1);
        assert_eq!(limit(-1, true), 1);
        assert_eq!(limit(3, true), 3);
        assert_eq!(limit(0, true), 0);
        assert_eq!(limit(2, false), 2);
    }

    const DB: &str = "2a159f7807e2836ca7b5700a011cae0aec0d93ba3c926f196ea0444785fbabfc";
    const WEB: &str = "d6f388542748cd21c0bbcaaea6ce336085c7331db6852ce461f8c199d82e5f1a";
    const EX3: &str = "8126bf94d2b795b8d8161486cff391971f1db7fda9249ea57233687a51c163ad";
    const EX0: &str = "cd748fb1bd3aef27c709aa8cac8636f42f51c3b37fe5081337781b7275bf1e4d";
    const CR: &str = "c7adfc581b41c536bd53625c31fc943a7cf199ec961540b769bdade42b57c0e0";
    const W3: &str = "17ce25dcc327ab2559d1990a2e5be06d553676741698f0d48984d950e09f970a";

    fn port(private: u16, public: u16, proto: &str) -> PortView {
        PortView {
            private,
            public,
            proto: proto.into(),
        }
    }

    /// The containers of the Docker 20.10 session these tests replay,
    /// newest first: w3, cr (created, --net host), ex0 (exit 0, --net
    /// none), ex3 (exit 3), web (links db), db.
    fn world(labels: &[BTreeMap<String, String>]) -> Vec<View<'_>> {
        let mut w = vec![
            View {
                id: W3,
                name: "w3",
                names: vec!["w3".into()],
                state: "running",
                running: true,
                started: true,
                network: Some("bridge"),
                ports: vec![
                    port(5001, 5001, "udp"),
                    port(80, 3000, "tcp"),
                    port(5000, 32769, "tcp"),
                ],
                ..View::default()
            },
            View {
                id: CR,
                name: "cr",
                names: vec!["cr".into()],
                state: "created",
                network: Some("host"),
                ..View::default()
            },
            View {
                id: EX0,
                name: "ex0",
                names: vec!["ex0".into()],
                state: "exited",
                started: true,
                network: Some("none"),
                ..View::default()
            },
            View {
                id: EX3,
                name: "ex3",
                names: vec!["ex3".into()],
                state: "exited",
                started: true,
                exit_code: 3,
                network: Some("bridge"),
                ..View::default()
            },
            View {
                id: WEB,
                name: "web",
                names: vec!["web".into()],
                state: "running",
                running: true,
                started: true,
                labels: Some(&labels[1]),
                network: Some("bridge"),
                ports: vec![port(80, 8080, "tcp"), port(5000, 32768, "tcp")],
                mounts: vec![(b"/srv/data".to_vec(), b"/data".to_vec())],
                ..View::default()
            },
            View {
                id: DB,
                name: "db",
                names: vec!["db".into(), "web/db".into()],
                state: "running",
                running: true,
                started: true,
                labels: Some(&labels[0]),
                network: Some("bridge"),
                ports: vec![port(5432, 0, "tcp"), port(5433, 0, "udp")],
                ..View::default()
            },
        ];
        for v in &mut w {
            v.rootfs = b"bb";
            v.rootfs_path = b"/srv/bb";
        }
        w[1].rootfs = b"./other";
        w[1].rootfs_path = b"/srv/other";
        w
    }

    fn labels() -> Vec<BTreeMap<String, String>> {
        let m = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        vec![m(&[("app", "db"), ("tier", "")]), m(&[("app", "web")])]
    }

    /// Names listed by `ps -a --filter ARGS...` (all: -a).
    fn names(args: &[&str], all: bool, limit: i64) -> Result<Vec<&'static str>, String> {
        let l = labels();
        let w = world(&l);
        let f = filt(args, &w).map_err(|e| e.to_string())?;
        Ok(f.select(&w, all, limit)
            .into_iter()
            .map(|i| match i {
                0 => "w3",
                1 => "cr",
                2 => "ex0",
                3 => "ex3",
                4 => "web",
                _ => "db",
            })
            .collect())
    }

    fn ok(args: &[&str]) -> Vec<&'static str> {
        names(args, true, -1).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn err(args: &[&str]) -> String {
        names(args, true, -1).expect_err("refused")
    }

    #[test]
    fn docker_session_replayed() {
        // What Docker 20.10 listed for each filter, with `ps -a`.
        let all = ["w3", "cr", "ex0", "ex3", "web", "db"];
        assert_eq!(ok(&[]), all);
        assert_eq!(ok(&[""]), all);
        assert_eq!(ok(&["exited=3"]), ["ex3"]);
        assert_eq!(ok(&["exited=+3"]), ["ex3"]);
        assert_eq!(ok(&["exited=0"]), ["ex0"]);
        assert_eq!(ok(&["exited=-1"]), Vec::<&str>::new());
        assert_eq!(ok(&["exited=3", "exited=0"]), ["ex0", "ex3"]);
        assert_eq!(ok(&["status=exited"]), ["ex0", "ex3"]);
        assert_eq!(ok(&["status=created"]), ["cr"]);
        assert_eq!(ok(&["status=running"]), ["w3", "web", "db"]);
        assert_eq!(ok(&["status=paused"]), Vec::<&str>::new());
        assert_eq!(ok(&["name=d"]), ["db"]);
        assert_eq!(ok(&["name=^/w"]), ["w3", "web"]);
        assert_eq!(ok(&["name=^w"]), ["w3", "web"]);
        assert_eq!(ok(&["name=db$"]), ["db"]);
        assert_eq!(ok(&["name=["]), Vec::<&str>::new());
        assert_eq!(ok(&["name="]), all);
        assert_eq!(ok(&["Name=db"]), ["db"]);
        // A link name brings db in as a candidate, its own name decides.
        assert_eq!(ok(&["name=web/db"]), Vec::<&str>::new());
        assert_eq!(ok(&["name=db", "name=web"]), ["web", "db"]);
        assert_eq!(ok(&["name=db", "label=app=web"]), Vec::<&str>::new());
        assert_eq!(ok(&["id=zz"]), Vec::<&str>::new());
        assert_eq!(ok(&["id=2a15"]), ["db"]);
        assert_eq!(ok(&["id=2"]), ["db"]);
        assert_eq!(ok(&[&format!("id={DB}")]), ["db"]);
        assert_eq!(ok(&["id=f7807e"]), Vec::<&str>::new());
        assert_eq!(ok(&["id="]), Vec::<&str>::new());
        // Ambiguous: cr and ex0 both start with c.
        assert_eq!(ok(&["id=c"]), Vec::<&str>::new());
        assert_eq!(ok(&["id=c7", "id=cd"]), ["cr", "ex0"]);
        assert_eq!(ok(&["id=c7", "name=cr"]), ["cr"]);
        assert_eq!(ok(&["id=c7", "name=ex0"]), Vec::<&str>::new());
        assert_eq!(ok(&["id=c7", "name=c"]), ["cr"]);
        assert_eq!(ok(&["label=app"]), ["web", "db"]);
        assert_eq!(ok(&["label=app=db"]), ["db"]);
        assert_eq!(ok(&["label=tier"]), ["db"]);
        assert_eq!(ok(&["label=tier="]), ["db"]);
        assert_eq!(ok(&["label=app=db", "label=app=web"]), Vec::<&str>::new());
        assert_eq!(ok(&["label=app=db", "label=tier"]), ["db"]);
        assert_eq!(ok(&["label=nope"]), Vec::<&str>::new());
        assert_eq!(ok(&["before=w3"]), ["cr", "ex0", "ex3", "web", "db"]);
        assert_eq!(ok(&["since=db"]), ["w3", "cr", "ex0", "ex3", "web"]);
        assert_eq!(ok(&["since=/db"]), ["w3", "cr", "ex0", "ex3", "web"]);
        assert_eq!(ok(&["before=db"]), Vec::<&str>::new());
        assert_eq!(ok(&[&format!("before={DB}")]), Vec::<&str>::new());
        assert_eq!(ok(&["before=web/db"]), Vec::<&str>::new());
        assert_eq!(ok(&["before=cr", "since=web"]), ["ex0", "ex3"]);
        // before= and since= walk the name= and id= candidates only: one
        // that is not among them is never met (Docker's quirk, kept).
        assert_eq!(ok(&["name=^ex", "before=cr"]), Vec::<&str>::new());
        assert_eq!(ok(&["name=^ex", "before=w3"]), Vec::<&str>::new());
        assert_eq!(ok(&["name=^ex", "since=db"]), ["ex0", "ex3"]);
        assert_eq!(ok(&["name=web", "before=db"]), Vec::<&str>::new());
        assert_eq!(ok(&["network=bridge"]), ["w3", "ex3", "web", "db"]);
        assert_eq!(ok(&["network=host"]), ["cr"]);
        assert_eq!(ok(&["network=none"]), ["ex0"]);
        assert_eq!(ok(&["network=none", "network=host"]), ["cr", "ex0"]);
        assert_eq!(ok(&["network=container:db"]), Vec::<&str>::new());
        assert_eq!(ok(&["publish=8080"]), ["web"]);
        assert_eq!(ok(&["publish=80"]), Vec::<&str>::new());
        assert_eq!(ok(&["expose=80"]), ["w3", "web"]);
        assert_eq!(ok(&["expose=5432"]), ["db"]);
        assert_eq!(ok(&["expose=5433"]), Vec::<&str>::new());
        assert_eq!(ok(&["expose=5433/udp"]), ["db"]);
        assert_eq!(ok(&["expose=80/"]), ["w3", "web"]);
        assert_eq!(ok(&["publish=5000-5001/udp"]), ["w3"]);
        assert_eq!(ok(&["expose=5000-5001"]), ["w3", "web"]);
        assert_eq!(ok(&["publish=0"]), ["db"]);
        assert_eq!(ok(&["publish=0/udp"]), ["db"]);
        assert_eq!(ok(&["publish=80/sctp"]), Vec::<&str>::new());
        assert_eq!(ok(&["publish=8080", "expose=5432"]), ["web", "db"]);
        assert_eq!(ok(&["ancestor=bb"]), ["w3", "ex0", "ex3", "web", "db"]);
        assert_eq!(ok(&["ancestor=./other"]), ["cr"]);
        assert_eq!(ok(&["ancestor=/srv/other"]), ["cr"]);
        assert_eq!(ok(&["ancestor=nosuch"]), Vec::<&str>::new());
        assert_eq!(ok(&["ancestor=nosuch", "ancestor=bb"]).len(), 5);
        assert_eq!(ok(&["health=none"]), all);
        assert_eq!(ok(&["health=healthy"]), Vec::<&str>::new());
        assert_eq!(ok(&["health=healthy", "health=none"]), all);
        assert_eq!(ok(&["is-task=false"]), all);
        assert_eq!(ok(&["is-task=true"]), Vec::<&str>::new());
        assert_eq!(ok(&["is-task=true", "is-task=false"]), Vec::<&str>::new());
        assert_eq!(ok(&["isolation=whatever"]), all);
        assert_eq!(ok(&["volume=/data"]), ["web"]);
        assert_eq!(ok(&["volume=/srv/data"]), ["web"]);
        assert_eq!(ok(&["volume=/srv"]), Vec::<&str>::new());
    }

    #[test]
    fn docker_errors_replayed() {
        assert_eq!(err(&["foo=bar"]), "Invalid filter 'foo'");
        assert_eq!(err(&["=x"]), "Invalid filter ''");
        assert_eq!(err(&["status=bogus"]), "Invalid filter 'status=bogus'");
        assert_eq!(err(&["status=run"]), "Invalid filter 'status=run'");
        assert_eq!(
            err(&["exited=x"]),
            r#"strconv.Atoi: parsing "x": invalid syntax"#
        );
        assert_eq!(err(&["before=nosuch"]), "no such container nosuch");
        assert_eq!(err(&["since=nosuch"]), "no such container nosuch");
        assert_eq!(
            err(&["before=2a159f7807e2"]),
            "no such container 2a159f7807e2"
        );
        assert_eq!(
            err(&["publish=8080:80"]),
            "filter for 'publish' should not contain ':': 8080:80"
        );
        assert_eq!(
            err(&["publish=abc"]),
            r#"error while looking up for publish abc: strconv.ParseUint: parsing "abc": invalid syntax"#
        );
        assert_eq!(
            err(&["expose=5001-5000"]),
            "error while looking up for expose 5001-5000: Invalid range specified for the Port: 5001-5000"
        );
        assert_eq!(
            err(&["publish=65536"]),
            r#"error while looking up for publish 65536: strconv.ParseUint: parsing "65536": value out of range"#
        );
        assert_eq!(
            err(&["publish=/tcp"]),
            "error while looking up for publish /tcp: Empty string specified for ports."
        );
        assert_eq!(
            err(&["publish="]),
            "error while looking up for publish : Empty string specified for ports."
        );
        assert_eq!(
            err(&["health=sick"]),
            "Unrecognised filter value for health: sick"
        );
        assert_eq!(
            err(&["is-task=x", "is-task=y"]),
            "Invalid filter 'is-task=[x y]'"
        );
        // The daemon's order: keys, exited, status, is-task, health,
        // before, since, publish, expose.
        assert_eq!(err(&["status=x", "nope=1"]), "Invalid filter 'nope'");
        assert_eq!(
            err(&["status=x", "exited=y"]),
            r#"strconv.Atoi: parsing "y": invalid syntax"#
        );
        assert_eq!(err(&["is-task=x", "status=x"]), "Invalid filter 'status=x'");
        assert_eq!(
            err(&["health=x", "is-task=x"]),
            "Invalid filter 'is-task=[x]'"
        );
        assert_eq!(
            err(&["before=x", "health=x"]),
            "Unrecognised filter value for health: x"
        );
        assert_eq!(err(&["since=y", "before=x"]), "no such container x");
        assert_eq!(err(&["publish=x", "since=y"]), "no such container y");
        assert_eq!(
            err(&["expose=x", "publish=y"]),
            r#"error while looking up for publish y: strconv.ParseUint: parsing "y": invalid syntax"#
        );
        // A value given twice counts once.
        assert_eq!(
            err(&["is-task=x", "is-task=x"]),
            "Invalid filter 'is-task=[x]'"
        );
    }

    #[test]
    fn last_and_latest() {
        let run = |args: &[&str], all, n| names(args, all, n).unwrap_or_default();
        // -n shows the N last created, whatever their state.
        assert_eq!(run(&[], false, 2), ["w3", "cr"]);
        assert_eq!(run(&[], false, limit(-1, true)), ["w3"]);
        assert_eq!(run(&[], false, 0), ["w3", "web", "db"]);
        assert_eq!(run(&[], false, -3), ["w3", "web", "db"]);
        assert_eq!(run(&[], false, 100).len(), 6);
        assert_eq!(run(&["status=exited"], false, 1), ["ex0"]);
        assert_eq!(run(&["status=running"], false, 2), ["w3", "web"]);
        assert_eq!(run(&["name=nosuch"], false, 1), Vec::<&str>::new());
        assert_eq!(run(&["since=ex3"], false, 2), ["w3", "cr"]);
        assert_eq!(run(&["before=cr"], false, 2), ["ex0", "ex3"]);
        // Without -a, a limit or status=, only running containers.
        assert_eq!(run(&[], false, -1), ["w3", "web", "db"]);
        assert_eq!(run(&["network=bridge"], false, -1), ["w3", "web", "db"]);
        assert_eq!(run(&["exited=3"], false, -1), Vec::<&str>::new());
    }

    #[test]
    fn exit_codes_only_of_started_stopped_containers() {
        let v = |running, started, exit_code| View {
            running,
            started,
            exit_code,
            ..View::default()
        };
        let f = filt(&["exited=0"], &[]).unwrap();
        assert!(f.exited_match(&v(false, true, 0)));
        assert!(!f.exited_match(&v(false, false, 0)));
        assert!(!f.exited_match(&v(true, true, 0)));
        assert!(!f.exited_match(&v(false, true, 1)));
        assert!(Filter::default().exited_match(&v(true, false, 9)));
        assert!(!Filter::default().wants_all());
        assert!(filt(&["status=exited"], &[]).unwrap().wants_all());
    }

    #[test]
    fn labels_all_must_match() {
        let l = labels();
        let f = |a: &[&str]| filt(a, &[]).unwrap();
        let empty = BTreeMap::new();
        assert!(f(&[]).labels_match(None));
        assert!(!f(&["label=a"]).labels_match(None));
        assert!(!f(&["label=a"]).labels_match(Some(&empty)));
        assert!(f(&["label=app=db", "label=tier"]).labels_match(Some(&l[0])));
        assert!(!f(&["label=app=db", "label=x"]).labels_match(Some(&l[0])));
        assert!(!f(&["label=app=dbx"]).labels_match(Some(&l[0])));
        assert!(f(&["label=tier="]).labels_match(Some(&l[0])));
    }

    #[test]
    fn ancestors_by_path_or_as_written() {
        let l = labels();
        let w = world(&l);
        let resolve = |s: &str| (s == "here").then(|| b"/srv/bb".to_vec());
        let f = Filter::new(&[arg("ancestor=here")], &w, &resolve).unwrap();
        assert_eq!(f.select(&w, true, -1).len(), 5);
        // "bb" resolving elsewhere from here: not the containers' bb.
        let resolve = |s: &str| (s == "bb").then(|| b"/elsewhere/bb".to_vec());
        let f = Filter::new(&[arg("ancestor=bb")], &w, &resolve).unwrap();
        assert!(f.select(&w, true, -1).is_empty());
        // An old record without the resolved path: the path as given.
        let mut old = world(&l);
        old[0].rootfs = b"/srv/bb";
        old[0].rootfs_path = b"";
        let resolve = |_: &str| Some(b"/srv/bb".to_vec());
        let f = Filter::new(&[arg("ancestor=x")], &old, &resolve).unwrap();
        assert_eq!(f.select(&old, true, -1).len(), 5);
        old[1].rootfs_path = b"";
        assert!(!f.ancestor_match(&old[1]));
    }

    #[test]
    fn patterns() {
        let p = Pattern::new("a.c");
        assert!(p.matches("xabcx") && p.matches("a.c") && !p.matches("ac"));
        let bad = Pattern::new("[");
        assert!(bad.matches("[") && !bad.matches("x"));
        assert!(any_match(&[], "x"));
        assert!(!any_match(&[Pattern::new("^y")], "x"));
    }
}
