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
        strconv_quote(value)
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

/// Go's `time` package quoting: bytes outside printable ASCII as `\xNN`.
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

/// Go's `%q` (`strconv.Quote`) of a UTF-8 string. Go asks Unicode's tables
/// whether a character prints; here control, space, format and
/// private-use characters are escaped and every other one kept (Go also
/// escapes unassigned code points).
fn strconv_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            ' ' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if prints(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Whether Go's `unicode.IsPrint` holds, but for unassigned code points.
fn prints(c: char) -> bool {
    let u = c as u32;
    let format = matches!(
        u,
        0xad | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x8e2
            | 0x180e
            | 0x200b..=0x200f
            | 0x202a..=0x202e
            | 0x2060..=0x2064
            | 0x2066..=0x206f
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0x110bd
            | 0x110cd
            | 0x1d173..=0x1d17a
            | 0xe0001
            | 0xe0020..=0xe007f
    );
    let private = matches!(u, 0xe000..=0xf8ff | 0xf0000..=0xffffd | 0x100000..=0x10fffd);
    !(c.is_control() || c.is_whitespace() || format || private)
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
                    let n = 1 + rest[1..].iter().take(9).take_while(|b| b.is_ascii_digit()).count();
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
        // The fraction; digits past what fits are ignored.
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
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > TOP {
                return None;
            }
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
    } else if len - 9 <= 22 {
        let mut p = 1f64;
        for _ in 9..len {
            p *= 10.0;
        }
        (n as f64 * (1.0 / p)) as i64
    } else {
        // Below a ten-thousandth of a nanosecond: Go's product truncates
        // to 0 however it rounds.
        0
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
    if value != "0" {
        if let Some(d) = go_duration(value) {
            let at = i128::from(now.sec) * i128::from(NANOS) + i128::from(now.nsec)
                + i128::from(d.wrapping_neg());
            let secs = at.div_euclid(i128::from(NANOS));
            return Ok(Sent::Secs(secs.clamp(i64::MIN.into(), i64::MAX.into()) as i64));
        }
    }
    let zoned = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    let layout = if value.contains('.') {
        if zoned { RFC3339_NANO } else { "2006-01-02T15:04:05.999999999" }
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
