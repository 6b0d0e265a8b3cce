//! `logs --since` and `--until`, without I/O: a value read as Docker 20.10
//! reads it — a Go duration back from now (`10m`, `1.5h`), an RFC 3339
//! time or one of Docker's shorter forms (`2026-12-06`, `…T10`, `…T10:00`,
//! in the local zone when they name none), or a Unix timestamp
//! (`1700000000.5`) — into an instant, with Go's error texts; and the
//! window those instants make over the log's entries.
//!
//! Docker's client turns the value into a timestamp string and its daemon
//! parses that string again; both steps are kept here, quirks included
//! (durations count in whole seconds; `--until 0` is no bound; a time
//! whose seconds overflow Go's clock wraps), so that a value means here
//! what it means there.

/// Seconds from 0001-01-01 to 1970-01-01, Go's `unixToInternal`.
const UNIX_TO_INTERNAL: i64 = 62_135_596_800;

/// An instant as Go's `time.Time` orders it: seconds since 0001-01-01 UTC
/// (wrapping as Go's int64 arithmetic does) and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Moment {
    sec: i64,
    nsec: u32,
}

impl Moment {
    /// Go's `time.Unix(sec, nsec)`: nanoseconds out of range carried into
    /// the seconds.
    pub fn unix(mut sec: i64, mut nsec: i64) -> Moment {
        if !(0..NANOS).contains(&nsec) {
            let carry = nsec / NANOS;
            sec = sec.wrapping_add(carry);
            nsec -= carry * NANOS;
            if nsec < 0 {
                nsec += NANOS;
                sec = sec.wrapping_sub(1);
            }
        }
        Moment {
            sec: sec.wrapping_add(UNIX_TO_INTERNAL),
            nsec: nsec as u32,
        }
    }

    /// Go's zero time (0001-01-01T00:00:00Z), which Docker takes for "no
    /// bound".
    fn is_zero(self) -> bool {
        self.sec == 0 && self.nsec == 0
    }
}

const NANOS: i64 = 1_000_000_000;

/// The time now and the local zone's offset from UTC now (seconds east):
/// Docker reads a time without a zone in that offset, whatever the date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub sec: i64,
    pub nsec: u32,
    pub offset: i32,
}

/// Where Go's `time.Local`, which Docker reads a time without a zone in,
/// comes from: the system's zone (`/etc/localtime`, or the zone file TZ
/// names), or UTC. Go reads TZ only as a file's name, so a POSIX rule
/// such as `TZ=XYZ-3`, which the C library follows, is UTC there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalZone {
    System,
    Utc,
}

/// Where Go looks for a zone TZ names.
const ZONE_DIRS: [&str; 3] = [
    "/usr/share/zoneinfo/",
    "/usr/share/lib/zoneinfo/",
    "/usr/lib/locale/TZ/",
];

/// Go's choice for the value of TZ (None: unset); `is_file` says whether
/// a path names a file.
pub fn local_zone(tz: Option<&str>, is_file: impl Fn(&str) -> bool) -> LocalZone {
    let Some(tz) = tz else {
        return LocalZone::System;
    };
    let tz = tz.strip_prefix(':').unwrap_or(tz);
    let found = if tz.starts_with('/') {
        is_file(tz)
    } else {
        !tz.is_empty() && tz != "UTC" && ZONE_DIRS.iter().any(|d| is_file(&format!("{d}{tz}")))
    };
    if found {
        LocalZone::System
    } else {
        LocalZone::Utc
    }
}

/// A bad `--since`/`--until` value, in Docker's words (its client says
/// them and exits 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeSpecError {
    /// It has a `-`, so it was meant as a date, and did not parse as one.
    #[error("invalid value for \"{flag}\": {source}")]
    Time {
        flag: &'static str,
        #[source]
        source: TimeParseError,
    },
    /// Neither a duration, a date nor a Unix timestamp.
    #[error(
        "invalid value for \"{flag}\": failed to parse value as time or duration: {}",
        crate::goquote::quote(value)
    )]
    Neither { flag: &'static str, value: String },
}

/// Go's `time.Parse` errors, with its texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeParseError {
    /// The text from byte `at` of `value` is not what layout element
    /// `elem` wants.
    #[error(
        "parsing time {} as {}: cannot parse {} as {}",
        time_quote(value.as_bytes()),
        time_quote(layout.as_bytes()),
        time_quote(&value.as_bytes()[*at..]),
        time_quote(elem.as_bytes())
    )]
    Element {
        value: String,
        layout: &'static str,
        at: usize,
        elem: &'static str,
    },
    /// A field past its range (`month`, `day`, `hour`, …).
    #[error("parsing time {}: {what} out of range", time_quote(value.as_bytes()))]
    Range { value: String, what: &'static str },
    /// Text left after the layout's end.
    #[error(
        "parsing time {}: extra text: {}",
        time_quote(value.as_bytes()),
        time_quote(&value.as_bytes()[*at..])
    )]
    Extra { value: String, at: usize },
}

/// The `time` package's own quoting in Go's parse errors (not
/// `strconv.Quote`): every byte outside printable ASCII as `\xNN`, DEL
/// as it is.
fn time_quote(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in s {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7f => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// One element of a Go time layout, as the layouts here use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    Lit(&'static str),
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Frac,
    Zone,
}

impl Elem {
    fn text(self) -> &'static str {
        match self {
            Elem::Lit(s) => s,
            Elem::Year => "2006",
            Elem::Month => "01",
            Elem::Day => "02",
            Elem::Hour => "15",
            Elem::Minute => "04",
            Elem::Second => "05",
            Elem::Frac => ".999999999",
            Elem::Zone => "Z07:00",
        }
    }
}

/// A layout's elements, left to right.
fn elems(layout: &'static str) -> Vec<Elem> {
    const ALL: [Elem; 8] = [
        Elem::Year,
        Elem::Month,
        Elem::Day,
        Elem::Hour,
        Elem::Minute,
        Elem::Second,
        Elem::Frac,
        Elem::Zone,
    ];
    let mut v = Vec::new();
    let mut i = 0;
    while i < layout.len() {
        let rest = &layout[i..];
        let e = ALL
            .into_iter()
            .find(|e| rest.starts_with(e.text()))
            .unwrap_or(Elem::Lit(&layout[i..i + 1]));
        i += e.text().len();
        v.push(e);
    }
    v
}

const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";
const RFC3339: &str = "2006-01-02T15:04:05Z07:00";

fn digit(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

/// Go's `getnum`: one or two digits (two when `fixed`), and how many.
fn getnum(s: &[u8], fixed: bool) -> Option<(i64, usize)> {
    if !digit(s, 0) {
        return None;
    }
    let d = |i: usize| i64::from(s[i] - b'0');
    if !digit(s, 1) {
        return (!fixed).then(|| (d(0), 1));
    }
    Some((d(0) * 10 + d(1), 2))
}

/// Go's `atoi` as the time package has it: an optional sign, then digits.
fn atoi(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut x: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        x = x.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(if neg { -x } else { x })
}

/// Go's `parseNanoseconds`: `s` starts with the separator, then `n - 1`
/// digits, of which the first nine count.
fn nanoseconds(s: &[u8], n: usize) -> i64 {
    let n = n.min(10);
    let mut ns = atoi(&s[1..n]).unwrap_or(0);
    for _ in n..10 {
        ns *= 10;
    }
    ns
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Go's `time.Parse(layout, value)` for the layouts Docker uses, or
/// `ParseInLocation` in a fixed zone `local` (seconds east) when given.
fn go_parse(
    layout: &'static str,
    value: &str,
    local: Option<i32>,
) -> Result<Moment, TimeParseError> {
    let v = value.as_bytes();
    let elems = elems(layout);
    let element = |at: usize, e: Elem| TimeParseError::Element {
        value: value.to_string(),
        layout,
        at,
        elem: e.text(),
    };
    let range = |what| TimeParseError::Range {
        value: value.to_string(),
        what,
    };
    let (mut year, mut month, mut day, mut hour, mut min, mut sec, mut nsec) =
        (0, 1, 1, 0, 0, 0, 0);
    let mut offset: Option<i64> = None;
    let mut i = 0;
    for (k, &e) in elems.iter().enumerate() {
        let rest = &v[i..];
        match e {
            Elem::Lit(l) => {
                if !rest.starts_with(l.as_bytes()) {
                    return Err(element(i, e));
                }
                i += l.len();
            }
            Elem::Year => {
                if rest.len() < 4 || !digit(rest, 0) {
                    return Err(element(i, e));
                }
                i += 4;
                year = atoi(&rest[..4]).ok_or_else(|| element(i, e))?;
            }
            Elem::Month => {
                let (m, n) = getnum(rest, true).ok_or_else(|| element(i, e))?;
                if !(1..=12).contains(&m) {
                    return Err(range("month"));
                }
                (month, i) = (m, i + n);
            }
            Elem::Day => {
                let (d, n) = getnum(rest, true).ok_or_else(|| element(i, e))?;
                (day, i) = (d, i + n);
            }
            Elem::Hour => {
                let (h, n) = getnum(rest, false).ok_or_else(|| element(i, e))?;
                if h >= 24 {
                    return Err(range("hour"));
                }
                (hour, i) = (h, i + n);
            }
            Elem::Minute => {
                let (m, n) = getnum(rest, true).ok_or_else(|| element(i, e))?;
                if m >= 60 {
                    return Err(range("minute"));
                }
                (min, i) = (m, i + n);
            }
            Elem::Second => {
                let (s, n) = getnum(rest, true).ok_or_else(|| element(i, e))?;
                if s >= 60 {
                    return Err(range("second"));
                }
                (sec, i) = (s, i + n);
                // A fraction the layout does not name is read all the same.
                let rest = &v[i..];
                let fraction = rest.len() >= 2 && matches!(rest[0], b'.' | b',') && digit(rest, 1);
                if fraction && elems.get(k + 1) != Some(&Elem::Frac) {
                    let n = 1 + rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
                    nsec = nanoseconds(rest, n);
                    i += n;
                }
            }
            Elem::Frac => {
                if rest.len() >= 2 && matches!(rest[0], b'.' | b',') && digit(rest, 1) {
                    let n = 1 + rest[1..]
                        .iter()
                        .take(9)
                        .take_while(|b| b.is_ascii_digit())
                        .count();
                    nsec = nanoseconds(rest, n);
                    i += n;
                }
            }
            Elem::Zone => {
                if rest.first() == Some(&b'Z') {
                    offset = Some(0);
                    i += 1;
                    continue;
                }
                if rest.len() < 6 || rest[3] != b':' {
                    return Err(element(i, e));
                }
                i += 6;
                let hh = atoi(&rest[1..3]).ok_or_else(|| element(i, e))?;
                let mm = atoi(&rest[4..6]).ok_or_else(|| element(i, e))?;
                let o = (hh * 60 + mm) * 60;
                offset = Some(match rest[0] {
                    b'+' => o,
                    b'-' => -o,
                    _ => return Err(element(i, e)),
                });
            }
        }
    }
    if i < v.len() {
        return Err(TimeParseError::Extra {
            value: value.to_string(),
            at: i,
        });
    }
    if day < 1 || day > days_in(month, year) {
        return Err(range("day"));
    }
    let offset = offset.unwrap_or_else(|| i64::from(local.unwrap_or(0)));
    let unix = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset;
    Ok(Moment::unix(unix, nsec))
}

/// Go's `time.ParseDuration`, in nanoseconds; None where it fails.
fn go_duration(s: &str) -> Option<i64> {
    let mut s = s.as_bytes();
    let neg = s.first() == Some(&b'-');
    if matches!(s.first(), Some(b'-' | b'+')) {
        s = &s[1..];
    }
    if s == b"0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    const TOP: u64 = 1 << 63;
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return None;
        }
        // The whole part; past 2^63 it is an error.
        let mut v: u64 = 0;
        let pre = s.iter().take_while(|b| b.is_ascii_digit()).count();
        for &c in &s[..pre] {
            if v > TOP / 10 {
                return None;
            }
            v = v * 10 + u64::from(c - b'0');
            if v > TOP {
                return None;
            }
        }
        s = &s[pre..];
        // The fraction; digits past what fits are ignored, as Go does
        // (the 19th digit its guards keep or drop is below what the
        // float64 below holds).
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
            let mut overflow = false;
            for &c in &s[..n] {
                if overflow || f > (TOP - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(c - b'0');
                if y > TOP {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            s = &s[n..];
            post = n > 0;
        }
        if pre == 0 && !post {
            return None;
        }
        let n = s
            .iter()
            .take_while(|&&b| !(b == b'.' || b.is_ascii_digit()))
            .count();
        let unit: u64 = match &s[..n] {
            b"ns" => 1,
            // "us", "µs" (U+00B5) and "μs" (U+03BC).
            b"us" | [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => return None,
        };
        s = &s[n..];
        if v > TOP / unit {
            return None;
        }
        v *= unit;
        // Go adds the fraction only when it is not 0: adding 0 is the same.
        v += (f as f64 * (unit as f64 / scale)) as u64;
        if v > TOP {
            return None;
        }
        // Go's uint64 wraps: two halves of 2^64 make 0.
        d = d.wrapping_add(v);
        if d > TOP {
            return None;
        }
    }
    if neg {
        return Some((d as i64).wrapping_neg());
    }
    i64::try_from(d).ok()
}

/// The daemon's `parseTimestamp`: `SECONDS[.FRACTION]`, the fraction
/// scaled to nanoseconds as Go's floating point scales it.
fn unix_timestamp(s: &str) -> Option<(i64, i64)> {
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (s, None),
    };
    let sec: i64 = whole.parse().ok()?;
    let Some(frac) = frac else {
        return Some((sec, 0));
    };
    let n: i64 = frac.parse().ok()?;
    let len = frac.len();
    let nsec = if len <= 9 {
        n * 10i64.pow(9 - len as u32)
    } else {
        // Go multiplies by 10^-(len-9) in floating point; exact powers up
        // to 10^22, and past that the product is below a ten-thousandth
        // of a nanosecond, 0 however it rounds.
        let mut p = 1f64;
        for _ in 9..len {
            p *= 10.0;
        }
        (n as f64 * (1.0 / p)) as i64
    };
    Some((sec, nsec))
}

/// What Docker's client sends for a value (`GetTimestamp`), as the daemon
/// reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    /// A duration back from now, in whole seconds.
    Secs(i64),
    /// A date and time.
    Time(Moment),
    /// A Unix timestamp, passed on as written.
    Unix(String),
}

fn get_timestamp(flag: &'static str, value: &str, now: &Clock) -> Result<Sent, TimeSpecError> {
    if value != "0"
        && let Some(d) = go_duration(value)
    {
        let at = i128::from(now.sec) * i128::from(NANOS)
            + i128::from(now.nsec)
            + i128::from(d.wrapping_neg());
        let secs = at.div_euclid(i128::from(NANOS));
        return Ok(Sent::Secs(
            secs.clamp(i64::MIN.into(), i64::MAX.into()) as i64
        ));
    }
    let zoned = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    let layout = if value.contains('.') {
        if zoned {
            RFC3339_NANO
        } else {
            "2006-01-02T15:04:05.999999999"
        }
    } else if value.contains('T') {
        let mut colons = value.matches(':').count();
        if zoned && !value.contains(['z', 'Z']) && colons > 0 {
            colons -= 1;
        }
        match (zoned, colons) {
            (false, 0) => "2006-01-02T15",
            (false, 1) => "2006-01-02T15:04",
            (false, _) => "2006-01-02T15:04:05",
            (true, 0) => "2006-01-02T15Z07:00",
            (true, 1) => "2006-01-02T15:04Z07:00",
            (true, _) => RFC3339,
        }
    } else if zoned {
        "2006-01-02Z07:00"
    } else {
        "2006-01-02"
    };
    match go_parse(layout, value, (!zoned).then_some(now.offset)) {
        Ok(m) => Ok(Sent::Time(m)),
        Err(source) if value.contains('-') => Err(TimeSpecError::Time { flag, source }),
        Err(_) if unix_timestamp(value).is_some() => Ok(Sent::Unix(value.to_string())),
        Err(_) => Err(TimeSpecError::Neither {
            flag,
            value: value.to_string(),
        }),
    }
}

fn moment(sent: &Sent) -> Moment {
    match sent {
        Sent::Secs(s) => Moment::unix(*s, 0),
        Sent::Time(m) => *m,
        Sent::Unix(s) => {
            let (sec, nsec) = unix_timestamp(s).unwrap_or((0, 0));
            Moment::unix(sec, nsec)
        }
    }
}

/// `--since VALUE`: entries before it are left out. None: no bound.
pub fn since(value: &str, now: &Clock) -> Result<Option<Moment>, TimeSpecError> {
    if value.is_empty() {
        return Ok(None);
    }
    let m = moment(&get_timestamp("since", value, now)?);
    Ok((!m.is_zero()).then_some(m))
}

/// `--until VALUE`: reading stops at the first entry after it. None: no
/// bound (`0` is none, as in Docker).
pub fn until(value: &str, now: &Clock) -> Result<Option<Moment>, TimeSpecError> {
    if value.is_empty() {
        return Ok(None);
    }
    let sent = get_timestamp("until", value, now)?;
    if matches!(&sent, Sent::Secs(0)) || matches!(&sent, Sent::Unix(s) if s == "0") {
        return Ok(None);
    }
    let m = moment(&sent);
    Ok((!m.is_zero()).then_some(m))
}

/// The time of a log entry (RFC 3339 with nanoseconds, as the log writes
/// it); None if it is not one.
pub fn entry_time(t: &str) -> Option<Moment> {
    go_parse(RFC3339_NANO, t, None).ok()
}

/// Which entries `logs` shows, as Docker's reader decides: one before
/// `since` is skipped; the first one after `until` (and not before
/// `since`) ends the reading, and with it a follow.
#[derive(Debug, Clone, Default)]
pub struct Window {
    since: Option<Moment>,
    until: Option<Moment>,
    ended: bool,
}

impl Window {
    pub fn new(since: Option<Moment>, until: Option<Moment>) -> Window {
        Window {
            since,
            until,
            ended: false,
        }
    }

    /// Whether the entry stamped `t` is shown. An entry whose time does
    /// not parse is shown only when there is no bound.
    pub fn admit(&mut self, t: &str) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        if self.ended {
            return false;
        }
        let Some(m) = entry_time(t) else {
            return false;
        };
        if self.since.is_some_and(|s| m < s) {
            return false;
        }
        if self.until.is_some_and(|u| m > u) {
            self.ended = true;
            return false;
        }
        true
    }

    /// Whether an entry after `until` was seen.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Docker follows after reading what is there even when that reading
    /// ended at `until`: the follow's own first entry after it ends that.
    pub fn restart(&mut self) {
        self.ended = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2026-12-02T04:53:20.123456789Z, in a zone 3 h 30 min east.
    const NOW: Clock = Clock {
        sec: 1_796_000_000,
        nsec: 123_456_789,
        offset: 3 * 3600 + 1800,
    };

    /// What Docker's daemon compares entries with: Unix seconds and
    /// nanoseconds.
    fn at(value: &str, now: &Clock) -> (i64, u32) {
        let m =
            moment(&get_timestamp("since", value, now).unwrap_or_else(|e| panic!("{value}: {e}")));
        (m.sec.wrapping_sub(UNIX_TO_INTERNAL), m.nsec)
    }

    fn unix(m: Moment) -> (i64, u32) {
        (m.sec.wrapping_sub(UNIX_TO_INTERNAL), m.nsec)
    }

    /// Docker 20.10's client and daemon (Go 1.19.8) on each value, with the
    /// clock above: where the instant lands.
    #[test]
    fn values_land_where_dockers_do() {
        for (value, sec, nsec) in [
            ("10m", 1795999400, 0),
            ("1h30m", 1795994600, 0),
            ("90s", 1795999910, 0),
            ("1.5h", 1795994600, 0),
            ("0", 0, 0),
            ("+0", 1796000000, 0),
            ("-0", 1796000000, 0),
            ("0s", 1796000000, 0),
            ("-10m", 1796000600, 0),
            ("2026-12-06", 1796502600, 0),
            ("2026-12-06T10", 1796538600, 0),
            ("2026-12-06T10:00", 1796538600, 0),
            ("2026-12-06T10:00:00", 1796538600, 0),
            ("2026-12-06T10:00:00Z", 1796551200, 0),
            ("2026-12-06T10:00:00.5Z", 1796551200, 500000000),
            ("2026-12-06T10:00:00.123456789+01:00", 1796547600, 123456789),
            ("2026-12-06T10:00:00,5", 1796538600, 500000000),
            ("2026-12-06T10:00:00,5Z", 1796551200, 500000000),
            ("2026-12-06T10:00:00.5", 1796538600, 500000000),
            ("2026-12-06Z", 1796515200, 0),
            ("2026-12-06+01:00", 1796511600, 0),
            ("2026-12-06T10Z", 1796551200, 0),
            ("2026-12-06T10+01:00", 1796547600, 0),
            ("2026-12-06T10:00+01:00", 1796547600, 0),
            ("2026-12-06T10:00:00-05:30", 1796571000, 0),
            ("1700000000", 1700000000, 0),
            ("1700000000.123456789", 1700000000, 123456789),
            ("1700000000.5", 1700000000, 500000000),
            ("+5", 5, 0),
            ("5.+1", 5, 10000000),
            ("1.1234567891", 1, 123456789),
            ("1.0000000000000000000000000001", 1, 0),
            ("1.9223372036854775807", 1, 922337203),
            ("9223372036854775807", 9223372036854775807, 0),
            ("0001-01-01", -62135609400, 0),
            ("0001-01-01T00:00:00Z", -62135596800, 0),
            ("0001-01-01T00:00:01Z", -62135596799, 0),
            ("0000-01-01", -62167231800, 0),
            ("9999-12-31T23:59:59.999999999Z", 253402300799, 999999999),
            ("2024-02-29", 1709152200, 0),
            ("2026-12-06T1:00", 1796506200, 0),
            ("2026-12-06T10:00:00+-1:30", 1796553000, 0),
            ("2026-12-06T10:00:00++1:30", 1796545800, 0),
            ("2026-12-06T10:00:00+99:99", 1796188860, 0),
            ("9223372036854775808ns9223372036854775808ns", 1796000000, 0),
            ("-9223372036854775808ns", -7427372037, 0),
            ("9223372036854775807ns", -7427372037, 0),
            ("2562047h47m16.854775807s", -7427372037, 0),
            (".5s", 1795999999, 0),
            ("5.s", 1795999995, 0),
            ("0.000000000000000000001h", 1796000000, 0),
            ("1.00000000000000000000000000000000001s", 1795999999, 0),
            ("3m2s1ms", 1795999818, 0),
            ("1µs", 1796000000, 0),
            ("1μs", 1796000000, 0),
            ("1us", 1796000000, 0),
            ("1ns", 1796000000, 0),
            ("1796000000s", 0, 0),
            ("1796000000123456789ns", 0, 0),
            ("1796000000123456790ns", -1, 0),
            ("-1796000000s", 3592000000, 0),
        ] {
            assert_eq!(at(value, &NOW), (sec, nsec), "{value:?}");
        }
    }

    /// Docker 20.10's error texts for the same clock.
    #[test]
    fn bad_values_in_dockers_words() {
        for (value, msg) in [
            (
                "5.-1",
                "parsing time \"5.-1\" as \"2006-01-02T15:04:05.999999999\": cannot parse \"\" as \"2006\"",
            ),
            (
                "-1.9223372036854775807",
                "parsing time \"-1.9223372036854775807\" as \"2006-01-02T15:04:05.999999999\": cannot parse \"-1.9223372036854775807\" as \"2006\"",
            ),
            (
                "-9223372036854775808",
                "parsing time \"-9223372036854775808\" as \"2006-01-02\": cannot parse \"-9223372036854775808\" as \"2006\"",
            ),
            (
                "2026-13-01",
                "parsing time \"2026-13-01\": month out of range",
            ),
            (
                "2026-02-30",
                "parsing time \"2026-02-30\": day out of range",
            ),
            (
                "2023-02-29",
                "parsing time \"2023-02-29\": day out of range",
            ),
            (
                "2026-12-06T24:00",
                "parsing time \"2026-12-06T24:00\": hour out of range",
            ),
            (
                "2026-12-06T10:60",
                "parsing time \"2026-12-06T10:60\": minute out of range",
            ),
            (
                "2026-12-06T10:00:60",
                "parsing time \"2026-12-06T10:00:60\": second out of range",
            ),
            (
                "2026-12-6",
                "parsing time \"2026-12-6\" as \"2006-01-02\": cannot parse \"6\" as \"02\"",
            ),
            (
                "2026-12-06T10:00:00z",
                "parsing time \"2026-12-06T10:00:00z\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"z\" as \"Z07:00\"",
            ),
            (
                "2026-12-06T10:00:00+0100",
                "parsing time \"2026-12-06T10:00:00+0100\" as \"2006-01-02T15:04Z07:00\": cannot parse \":00+0100\" as \"Z07:00\"",
            ),
            (
                "2026-12-06T10:00:00.1234567891Z",
                "parsing time \"2026-12-06T10:00:00.1234567891Z\" as \"2006-01-02T15:04:05.999999999Z07:00\": cannot parse \"1Z\" as \"Z07:00\"",
            ),
            (
                "2026-12-06T10:00:00.Z",
                "parsing time \"2026-12-06T10:00:00.Z\" as \"2006-01-02T15:04:05.999999999Z07:00\": cannot parse \".Z\" as \"Z07:00\"",
            ),
            (
                "2026-12-06T10:00:00Zjunk",
                "parsing time \"2026-12-06T10:00:00Zjunk\": extra text: \"junk\"",
            ),
            (
                "2026-12-06Tx",
                "parsing time \"2026-12-06Tx\" as \"2006-01-02T15\": cannot parse \"x\" as \"15\"",
            ),
            (
                "2026-12-06T10:0",
                "parsing time \"2026-12-06T10:0\" as \"2006-01-02T15:04\": cannot parse \"0\" as \"04\"",
            ),
            (
                "2026-12-0",
                "parsing time \"2026-12-0\" as \"2006-01-02\": cannot parse \"0\" as \"02\"",
            ),
            (
                "2026-12-06T10:00:00+01:0é",
                "parsing time \"2026-12-06T10:00:00+01:0\\xc3\\xa9\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"\\xa9\" as \"Z07:00\"",
            ),
            (
                "-5",
                "parsing time \"-5\" as \"2006-01-02\": cannot parse \"-5\" as \"2006\"",
            ),
            (
                "-",
                "parsing time \"-\" as \"2006-01-02\": cannot parse \"-\" as \"2006\"",
            ),
            (
                "20a6-01-01",
                "parsing time \"20a6-01-01\" as \"2006-01-02\": cannot parse \"-01-01\" as \"2006\"",
            ),
            (
                "2026-12-06T10:00:00+x1:00",
                "parsing time \"2026-12-06T10:00:00+x1:00\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"\" as \"Z07:00\"",
            ),
            (
                "2026-12-06T10:00:00+01:x0",
                "parsing time \"2026-12-06T10:00:00+01:x0\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"\" as \"Z07:00\"",
            ),
            (
                "2026-12-06T10:00:00*01:00",
                "parsing time \"2026-12-06T10:00:00*01:00\": extra text: \"*01:00\"",
            ),
            (
                "2026-12-06 10:00",
                "parsing time \"2026-12-06 10:00\": extra text: \" 10:00\"",
            ),
            (
                "00-12-06",
                "parsing time \"00-12-06\" as \"2006-01-02\": cannot parse \"2-06\" as \"2006\"",
            ),
            (
                "2026-00-06",
                "parsing time \"2026-00-06\": month out of range",
            ),
            (
                "2026-12-00",
                "parsing time \"2026-12-00\": day out of range",
            ),
            (
                "yesterday",
                "failed to parse value as time or duration: \"yesterday\"",
            ),
            (
                "10 m",
                "failed to parse value as time or duration: \"10 m\"",
            ),
            (
                "1700000000.",
                "failed to parse value as time or duration: \"1700000000.\"",
            ),
            (
                "1.5.5",
                "failed to parse value as time or duration: \"1.5.5\"",
            ),
            ("é", "failed to parse value as time or duration: \"é\""),
            (
                "a\"b",
                "failed to parse value as time or duration: \"a\\\"b\"",
            ),
            (
                "\u{a0}",
                "failed to parse value as time or duration: \"\\u00a0\"",
            ),
            (
                "\u{200b}",
                "failed to parse value as time or duration: \"\\u200b\"",
            ),
            (
                "\u{7f}",
                "failed to parse value as time or duration: \"\\x7f\"",
            ),
            (
                "\u{0001}x",
                "failed to parse value as time or duration: \"\\x01x\"",
            ),
            ("\t", "failed to parse value as time or duration: \"\\t\""),
            ("1e5", "failed to parse value as time or duration: \"1e5\""),
            (
                "9223372036854775808",
                "failed to parse value as time or duration: \"9223372036854775808\"",
            ),
            (
                "9223372036854775808ns",
                "failed to parse value as time or duration: \"9223372036854775808ns\"",
            ),
            (
                "2562047h47m16.854775808s",
                "failed to parse value as time or duration: \"2562047h47m16.854775808s\"",
            ),
            (".s", "failed to parse value as time or duration: \".s\""),
            (
                "1h.m",
                "failed to parse value as time or duration: \"1h.m\"",
            ),
        ] {
            let e = since(value, &NOW).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("invalid value for \"since\": {msg}"),
                "{value:?}"
            );
            let e = until(value, &NOW).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("invalid value for \"until\": {msg}"),
                "{value:?}"
            );
        }
    }

    /// Go 1.19's `time.ParseDuration`, to the nanosecond.
    #[test]
    fn durations_as_go_reads_them() {
        for (value, want) in [
            ("-9223372036.854775808s", Some(-9223372036854775808)),
            ("9223372036.854775808s", None),
            ("-9223372036.854775809s", None),
            ("9223372036.854775807s", Some(9223372036854775807)),
            ("0.9223372036854775808h", Some(3320413933267)),
            ("0.92233720368547758089h", Some(3320413933267)),
            ("10m", Some(600000000000)),
            ("1h30m", Some(5400000000000)),
            ("1.5h", Some(5400000000000)),
            ("0", Some(0)),
            ("+0", Some(0)),
            ("-0", Some(0)),
            ("0s", Some(0)),
            ("-10m", Some(-600000000000)),
            (".5s", Some(500000000)),
            ("5.s", Some(5000000000)),
            (".s", None),
            ("1e5", None),
            ("1h.m", None),
            ("3m2s1ms", Some(182001000000)),
            ("1µs", Some(1000)),
            ("1μs", Some(1000)),
            ("1us", Some(1000)),
            ("1ns", Some(1)),
            ("1ms", Some(1000000)),
            ("1s", Some(1000000000)),
            ("1m", Some(60000000000)),
            ("1h", Some(3600000000000)),
            ("1.000000001s", Some(1000000001)),
            ("0.1ns", Some(0)),
            ("1.5ns", Some(1)),
            ("2.5us", Some(2500)),
            ("0.0000001h", Some(360000)),
            ("1.23456789012345678901234567890h", Some(4444444404444)),
            ("0.333333333333333333333333h", Some(1200000000000)),
            ("9223372036854775807ns", Some(9223372036854775807)),
            ("9223372036854775808ns", None),
            ("-9223372036854775808ns", Some(-9223372036854775808)),
            ("-9223372036854775809ns", None),
            ("2562047h47m16.854775807s", Some(9223372036854775807)),
            ("2562047h47m16.854775808s", None),
            ("2562048h", None),
            ("922337203685477580.8ns", Some(922337203685477580)),
            ("92233720368547758070ns", None),
            ("9223372036854775808ns9223372036854775808ns", Some(0)),
            ("1x", None),
            ("1", None),
            ("1.s.s", None),
            ("1hm", None),
            ("1h1", None),
            ("h", None),
            ("-", None),
            ("+", None),
            ("", None),
            ("1..5s", None),
            ("1.5.5s", None),
            ("00001s", Some(1000000000)),
            (
                "0.00000000000000000000000000000000000000000000001s",
                Some(0),
            ),
            ("1.99999999999999999999999999999s", Some(2000000000)),
            ("922337203685477580h", None),
            ("1.0000000000000000001h", Some(3600000000000)),
            ("0.9223372036854775807h", Some(3320413933267)),
            ("0.9223372036854775808h", Some(3320413933267)),
            ("5.9s", Some(5900000000)),
            ("1m59.999999999s", Some(119999999999)),
            ("2h3ms", Some(7200003000000)),
            ("1H", None),
            ("1S", None),
            ("+1h", Some(3600000000000)),
            ("-1h30m", Some(-5400000000000)),
            ("1 s", None),
            ("1s1", None),
            ("1.5", None),
        ] {
            assert_eq!(go_duration(value), want, "{value:?}");
        }
    }

    /// A time without a zone is in the local zone's offset now; one with a
    /// zone is not.
    #[test]
    fn local_forms_take_the_offset_of_now() {
        for offset in [0, 3600, -5 * 3600 - 1800, 14 * 3600] {
            let now = Clock { offset, ..NOW };
            let o = i64::from(offset);
            assert_eq!(at("2026-12-06", &now), (1_796_515_200 - o, 0));
            assert_eq!(at("2026-12-06T10", &now), (1_796_551_200 - o, 0));
            assert_eq!(at("2026-12-06T10:30", &now), (1_796_553_000 - o, 0));
            assert_eq!(at("2026-12-06T10:30:05", &now), (1_796_553_005 - o, 0));
            assert_eq!(
                at("2026-12-06T10:30:05.25", &now),
                (1_796_553_005 - o, 250_000_000)
            );
            assert_eq!(at("2026-12-06T10:30:05Z", &now), (1_796_553_005, 0));
            assert_eq!(at("2026-12-06T10:30:05+00:00", &now), (1_796_553_005, 0));
            assert_eq!(at("2026-12-06T10:30:05-01:00", &now), (1_796_556_605, 0));
            assert_eq!(at("2026-12-06Z", &now), (1_796_515_200, 0));
            // Three dashes name a zone too.
            assert_eq!(at("2026-12-06-01:00", &now), (1_796_518_800, 0));
            // Durations and Unix times know no zone.
            assert_eq!(at("1m", &now), (1_795_999_940, 0));
            assert_eq!(at("1700000000", &now), (1_700_000_000, 0));
        }
        // Durations count from now to the whole second below.
        let now = Clock {
            sec: 100,
            nsec: 999_999_999,
            offset: 0,
        };
        assert_eq!(at("1ns", &now), (100, 0));
        assert_eq!(at("1s", &now), (99, 0));
        assert_eq!(at("-1ns", &now), (101, 0));
        let now = Clock {
            sec: -100,
            nsec: 1,
            offset: 0,
        };
        assert_eq!(at("2ns", &now), (-101, 0));
        // Far away in both directions, without overflow.
        let now = Clock {
            sec: i64::MAX,
            nsec: 999_999_999,
            offset: 0,
        };
        assert_eq!(at("-1h", &now), (i64::MAX, 0));
        let now = Clock {
            sec: i64::MIN,
            nsec: 0,
            offset: 0,
        };
        assert_eq!(at("1h", &now), (i64::MIN, 0));
    }

    #[test]
    fn local_zone_as_go_finds_it() {
        let files = |p: &str| {
            [
                "/usr/share/zoneinfo/Asia/Kolkata",
                "/usr/lib/locale/TZ/Old",
                "/z",
            ]
            .contains(&p)
        };
        for (tz, zone) in [
            (None, LocalZone::System),
            (Some(""), LocalZone::Utc),
            (Some(":"), LocalZone::Utc),
            (Some("UTC"), LocalZone::Utc),
            (Some(":UTC"), LocalZone::Utc),
            (Some("Asia/Kolkata"), LocalZone::System),
            (Some(":Asia/Kolkata"), LocalZone::System),
            (Some("Old"), LocalZone::System),
            (Some("XYZ-3"), LocalZone::Utc),
            (Some("/z"), LocalZone::System),
            (Some(":/z"), LocalZone::System),
            (Some("/y"), LocalZone::Utc),
            (Some("z"), LocalZone::Utc),
        ] {
            assert_eq!(local_zone(tz, files), zone, "{tz:?}");
        }
    }

    #[test]
    fn calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        assert_eq!(days_from_civil(0, 1, 1), -719_528);
        assert_eq!(days_from_civil(0, 3, 1), -719_468);
        assert_eq!(days_from_civil(2026, 12, 31), 20_818);
        for (m, y, n) in [
            (1, 2026, 31),
            (2, 2026, 28),
            (2, 2024, 29),
            (2, 2000, 29),
            (2, 1900, 28),
            (2, 0, 29),
            (3, 2026, 31),
            (4, 2026, 30),
            (5, 2026, 31),
            (6, 2026, 30),
            (7, 2026, 31),
            (8, 2026, 31),
            (9, 2026, 30),
            (10, 2026, 31),
            (11, 2026, 30),
            (12, 2026, 31),
        ] {
            assert_eq!(days_in(m, y), n, "{y}-{m}");
        }
        for (y, leap) in [
            (2024, true),
            (2026, false),
            (1900, false),
            (2000, true),
            (0, true),
            (4, true),
        ] {
            assert_eq!(is_leap(y), leap, "{y}");
        }
    }

    #[test]
    fn go_unix_carries_and_wraps() {
        assert_eq!(unix(Moment::unix(5, 0)), (5, 0));
        assert_eq!(unix(Moment::unix(5, 999_999_999)), (5, 999_999_999));
        assert_eq!(unix(Moment::unix(5, 1_000_000_000)), (6, 0));
        assert_eq!(unix(Moment::unix(5, 2_500_000_000)), (7, 500_000_000));
        assert_eq!(unix(Moment::unix(5, -1)), (4, 999_999_999));
        assert_eq!(unix(Moment::unix(5, -1_000_000_000)), (4, 0));
        assert_eq!(unix(Moment::unix(5, -2_500_000_000)), (2, 500_000_000));
        assert!(Moment::unix(-UNIX_TO_INTERNAL, 0).is_zero());
        assert!(!Moment::unix(-UNIX_TO_INTERNAL, 1).is_zero());
        assert!(!Moment::unix(1 - UNIX_TO_INTERNAL, 0).is_zero());
        // Go's seconds since year 1 wrap: the largest Unix time is before
        // 1970 there.
        assert!(Moment::unix(i64::MAX, 0) < Moment::unix(0, 0));
        assert!(Moment::unix(i64::MAX, 1_000_000_000) < Moment::unix(0, 0));
        assert!(Moment::unix(1, 0) > Moment::unix(0, 999_999_999));
    }

    #[test]
    fn bounds() {
        let some = |v: &str| since(v, &NOW).unwrap().map(unix);
        let upto = |v: &str| until(v, &NOW).unwrap().map(unix);
        assert_eq!(some(""), None);
        assert_eq!(upto(""), None);
        assert_eq!(some("0"), Some((0, 0)));
        // Docker's daemon takes "0" for no --until; "00" is 1970.
        assert_eq!(upto("0"), None);
        assert_eq!(upto("00"), Some((0, 0)));
        assert_eq!(upto("+0"), Some((1_796_000_000, 0)));
        // A duration that lands on 0 sends "0" too.
        assert_eq!(upto("1796000000s"), None);
        assert_eq!(upto("1796000001s"), Some((-1, 0)));
        assert_eq!(some("1796000000s"), Some((0, 0)));
        // Go's zero time is no bound either way.
        assert_eq!(some("0001-01-01T00:00:00Z"), None);
        assert_eq!(upto("0001-01-01T00:00:00Z"), None);
        assert_eq!(
            upto("0001-01-01T00:00:00.000000001Z"),
            Some((-UNIX_TO_INTERNAL, 1))
        );
        assert_eq!(some("10m"), Some((1_795_999_400, 0)));
        assert_eq!(upto("1700000000.5"), Some((1_700_000_000, 500_000_000)));
    }

    #[test]
    fn quoting() {
        assert_eq!(
            time_quote(b"a\"b\\c\x7f\x1f\x80\xff ~"),
            "\"a\\\"b\\\\c\x7f\\x1f\\x80\\xff ~\""
        );
    }

    #[test]
    fn go_pieces() {
        assert_eq!(getnum(b"7", false), Some((7, 1)));
        assert_eq!(getnum(b"7", true), None);
        assert_eq!(getnum(b"75x", true), Some((75, 2)));
        assert_eq!(getnum(b"x", false), None);
        assert_eq!(getnum(b"", false), None);
        assert_eq!(atoi(b"-12"), Some(-12));
        assert_eq!(atoi(b"+12"), Some(12));
        assert_eq!(atoi(b"+"), Some(0));
        assert_eq!(atoi(b"1-2"), None);
        assert_eq!(atoi(b"99999999999999999999"), None);
        assert_eq!(nanoseconds(b".5", 2), 500_000_000);
        assert_eq!(nanoseconds(b",123456789", 10), 123_456_789);
        assert_eq!(nanoseconds(b".1234567891", 11), 123_456_789);
        assert_eq!(unix_timestamp("12"), Some((12, 0)));
        assert_eq!(unix_timestamp("12.5"), Some((12, 500_000_000)));
        assert_eq!(unix_timestamp("12.000000001"), Some((12, 1)));
        assert_eq!(unix_timestamp("12.-5"), Some((12, -50_000_000)));
        assert_eq!(unix_timestamp("1.1234567891"), Some((1, 123_456_789)));
        assert_eq!(
            unix_timestamp("1.0000000000000000000000000000009"),
            Some((1, 0))
        );
        assert_eq!(unix_timestamp("1.0000000000000000000000009"), Some((1, 0)));
        assert_eq!(
            unix_timestamp("1.00000000000009223372036854775807"),
            Some((1, 0))
        );
        assert_eq!(
            unix_timestamp("1.9223372036854775807"),
            Some((1, 922_337_203))
        );
        assert_eq!(
            unix_timestamp("1.99999999999999999"),
            Some((1, 1_000_000_000))
        );
        assert_eq!(unix_timestamp("1."), None);
        assert_eq!(unix_timestamp(".5"), None);
        assert_eq!(unix_timestamp("x"), None);
        assert_eq!(
            elems("2006-01-02T15:04:05.999999999Z07:00"),
            [
                Elem::Year,
                Elem::Lit("-"),
                Elem::Month,
                Elem::Lit("-"),
                Elem::Day,
                Elem::Lit("T"),
                Elem::Hour,
                Elem::Lit(":"),
                Elem::Minute,
                Elem::Lit(":"),
                Elem::Second,
                Elem::Frac,
                Elem::Zone,
            ]
        );
        assert_eq!(
            entry_time("2026-12-06T10:30:05.000000007Z").map(unix),
            Some((1_796_553_005, 7))
        );
        assert_eq!(
            entry_time("2026-12-06T10:30:05Z").map(unix),
            Some((1_796_553_005, 0))
        );
        assert_eq!(entry_time("2026-12-06T10:30:05"), None);
        assert_eq!(entry_time(""), None);
    }

    fn stamp(sec: i64, nsec: u32) -> String {
        crate::state::rfc3339(sec, nsec)
    }

    #[test]
    fn window_keeps_dockers_order() {
        let t = |n: i64| stamp(1_000 + n, 500);
        let m = |n: i64| Some(Moment::unix(1_000 + n, 500));
        // No bound: everything, even an entry without a time.
        let mut w = Window::new(None, None);
        assert!(w.admit(&t(0)) && w.admit("garbage") && !w.ended());
        // since: entries before it are skipped, the one at it is shown.
        let mut w = Window::new(m(2), None);
        let shown: Vec<bool> = (0..5).map(|n| w.admit(&t(n))).collect();
        assert_eq!(shown, [false, false, true, true, true]);
        assert!(!w.admit("garbage") && !w.ended());
        // until: the one at it is shown; the first after it ends the
        // reading, even if an earlier one comes after.
        let mut w = Window::new(None, m(2));
        let shown: Vec<bool> = [0, 1, 2, 3, 1]
            .into_iter()
            .map(|n| w.admit(&t(n)))
            .collect();
        assert_eq!(shown, [true, true, true, false, false]);
        assert!(w.ended());
        // A follow starts afresh, and ends at its own first entry after.
        w.restart();
        assert!(!w.ended());
        assert!(w.admit(&t(1)));
        assert!(!w.admit(&t(5)) && w.ended());
        // Before since is skipped before until is looked at: it ends
        // nothing.
        let mut w = Window::new(m(5), m(2));
        assert!(!w.admit(&t(4)) && !w.ended());
        assert!(!w.admit(&t(6)) && w.ended());
        // Both: between them.
        let mut w = Window::new(m(1), m(3));
        let shown: Vec<bool> = (0..5).map(|n| w.admit(&t(n))).collect();
        assert_eq!(shown, [false, true, true, true, false]);
        // To the nanosecond.
        let mut w = Window::new(Some(Moment::unix(10, 5)), Some(Moment::unix(10, 6)));
        assert!(!w.admit(&stamp(10, 4)));
        assert!(w.admit(&stamp(10, 5)));
        assert!(w.admit(&stamp(10, 6)));
        assert!(!w.admit(&stamp(10, 7)));
        assert!(Window::default().admit("x"));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_value_is_an_instant_or_an_error(
            v in "[-+0-9:.,TZz hmsµnu]{0,24}|\\PC{0,12}",
            sec in any::<i64>(), nsec in 0u32..1_000_000_000, offset in -86_400i32..86_400,
        ) {
            let now = Clock { sec, nsec, offset };
            let _ = since(&v, &now).map_err(|e| e.to_string());
            let _ = until(&v, &now).map_err(|e| e.to_string());
            let _ = entry_time(&v);
        }

        #[test]
        fn rfc3339_round_trips(sec in -62_135_596_800i64..253_402_300_800, nsec in 0u32..1_000_000_000) {
            let t = stamp(sec, nsec);
            prop_assert_eq!(entry_time(&t).map(unix), Some((sec, nsec)));
            prop_assert_eq!(at(&t, &NOW), (sec, nsec));
        }
    }
}
