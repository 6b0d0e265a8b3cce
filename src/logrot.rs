//! The container log's rules, without I/O: `--log-driver` and `--log-opt`
//! (Docker's json-file options) parsed into a cap, the names of rotated
//! files and the renames of one rotation, which file a follower reads after
//! one that was rotated away, and a file's lines read backwards from its
//! end, so that `logs --tail N` costs N lines, not the file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The current file; rotated ones are `log.jsonl.1` (the newest) up to
/// `log.jsonl.<max-file − 1>`, as with Docker's json-file driver.
pub const LOG_FILE: &str = "log.jsonl";

/// rrun's cap when no `--log-opt` is given: 10 MB a file (Docker's "10m",
/// decimal), three files. Docker has none; rrun's state directory is
/// usually on a tmpfs, i.e. in memory.
pub const DEFAULT_MAX_SIZE: u64 = 10_000_000;
pub const DEFAULT_MAX_SIZE_TEXT: &str = "10m";
pub const DEFAULT_MAX_FILE: u32 = 3;

/// The longest line a reader keeps: an entry is at most a 16 KiB piece of
/// output, JSON-escaped (6 bytes for a control byte) plus its fields, so
/// anything longer is not an entry (a file damaged by hand) and is skipped
/// rather than held in memory.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Driver {
    #[default]
    #[serde(rename = "json-file")]
    JsonFile,
    #[serde(rename = "none")]
    None,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::JsonFile => "json-file",
            Driver::None => "none",
        }
    }
}

/// How a container's output is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    pub driver: Driver,
    /// Rotate once the current file holds this many bytes.
    pub max_size: u64,
    /// Files kept, the current one included (1: the file is started
    /// afresh at the cap).
    pub max_file: u32,
    /// The options in force, as inspect's `HostConfig.LogConfig.Config`
    /// shows them.
    pub opts: BTreeMap<String, String>,
}

impl Default for LogConfig {
    /// rrun's default cap (also what a record from before caps reads as).
    fn default() -> LogConfig {
        LogConfig {
            driver: Driver::JsonFile,
            max_size: DEFAULT_MAX_SIZE,
            max_file: DEFAULT_MAX_FILE,
            opts: shown(DEFAULT_MAX_SIZE_TEXT, DEFAULT_MAX_FILE),
        }
    }
}

fn shown(size: &str, files: u32) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("max-file".to_string(), files.to_string()),
        ("max-size".to_string(), size.to_string()),
    ])
}

/// Docker's words where Docker has them (its daemon says "failed to
/// initialize logging driver: …" for a bad value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogOptError {
    #[error("no log driver named '{0}' in rrun: use json-file or none")]
    Driver(String),
    #[error("invalid logging opts for driver none")]
    OptsWithNone,
    #[error("unknown log opt '{0}' for json-file log driver")]
    Unknown(String),
    #[error("log opt '{0}' is not supported by rrun: it knows max-size and max-file")]
    Unsupported(String),
    #[error("failed to initialize logging driver: invalid size: '{0}'")]
    Size(String),
    #[error("failed to initialize logging driver: max-size must be a positive number")]
    SizeNotPositive,
    #[error("failed to initialize logging driver: invalid max-file '{0}': use a whole number")]
    FileCount(String),
    #[error("failed to initialize logging driver: max-file cannot be less than 1")]
    FileCountLow,
}

/// Options Docker's json-file driver knows that rrun does not implement.
const DOCKER_ONLY: &[&str] = &[
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
    "mode",
    "max-buffer-size",
];

/// Docker's `FromHumanSize`: a decimal number, an optional space, an
/// optional k/m/g/t/p (powers of 1000, any case), an optional `i` and an
/// optional `b`. None for anything else, and for sizes past i64.
pub fn parse_size(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = digits(0);
    if i == 0 {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        let frac = digits(i + 1);
        if frac == 0 {
            return None;
        }
        i += 1 + frac;
    }
    let number: f64 = s[..i].parse().ok()?;
    let mut rest = &s[i..];
    rest = rest.strip_prefix(' ').unwrap_or(rest);
    let lower = rest.to_ascii_lowercase();
    let mut unit = lower.as_str();
    let mul = match unit.as_bytes().first() {
        Some(b'k') => 1e3,
        Some(b'm') => 1e6,
        Some(b'g') => 1e9,
        Some(b't') => 1e12,
        Some(b'p') => 1e15,
        _ => 1.0,
    };
    if mul != 1.0 {
        unit = &unit[1..];
    }
    unit = unit.strip_prefix('i').unwrap_or(unit);
    unit = unit.strip_prefix('b').unwrap_or(unit);
    if !unit.is_empty() {
        return None;
    }
    let bytes = number * mul;
    // Go converts the float to int64, dropping the fraction.
    (bytes < i64::MAX as f64).then_some(bytes as u64)
}

/// `--log-driver` and `--log-opt K=V…` into the log's configuration.
/// Keys are checked before values, as Docker checks them at create and the
/// values only at start. Without max-size rrun caps at 10m (Docker: no
/// cap); without max-file it keeps one file as Docker does, unless no
/// option was given at all (rrun's default, 10m × 3).
pub fn parse(driver: Option<&str>, opts: &[String]) -> Result<LogConfig, LogOptError> {
    let driver = match driver {
        None | Some("json-file") => Driver::JsonFile,
        Some("none") => Driver::None,
        Some(d) => return Err(LogOptError::Driver(d.to_string())),
    };
    if driver == Driver::None {
        if !opts.is_empty() {
            return Err(LogOptError::OptsWithNone);
        }
        return Ok(LogConfig {
            driver,
            max_size: 0,
            max_file: 0,
            opts: BTreeMap::new(),
        });
    }
    if opts.is_empty() {
        return Ok(LogConfig::default());
    }
    // The last of a repeated key wins (Docker makes a map of them).
    let mut given: BTreeMap<&str, &str> = BTreeMap::new();
    for o in opts {
        let (k, v) = o.split_once('=').unwrap_or((o, ""));
        match k {
            "max-size" | "max-file" => {}
            _ if DOCKER_ONLY.contains(&k) => return Err(LogOptError::Unsupported(k.into())),
            _ => return Err(LogOptError::Unknown(k.into())),
        }
        given.insert(k, v);
    }
    let (max_size, size_text) = match given.get("max-size") {
        Some(s) => match parse_size(s) {
            None => return Err(LogOptError::Size(s.to_string())),
            Some(0) => return Err(LogOptError::SizeNotPositive),
            Some(n) => (n, s.to_string()),
        },
        None => (DEFAULT_MAX_SIZE, DEFAULT_MAX_SIZE_TEXT.to_string()),
    };
    let max_file = match given.get("max-file") {
        Some(s) => match s.parse::<i64>() {
            Err(_) => return Err(LogOptError::FileCount(s.to_string())),
            Ok(n) if n < 1 => return Err(LogOptError::FileCountLow),
            Ok(n) => u32::try_from(n).map_err(|_| LogOptError::FileCount(s.to_string()))?,
        },
        None => 1,
    };
    Ok(LogConfig {
        driver,
        max_size,
        max_file,
        opts: shown(&size_text, max_file),
    })
}

/// The name of file `i` of the log: 0 the current one, then the rotated
/// ones, newest first.
pub fn file_name(i: u32) -> String {
    if i == 0 {
        LOG_FILE.to_string()
    } else {
        format!("{LOG_FILE}.{i}")
    }
}

/// Which file of a log of `max_file` files `name` is (see [`file_name`]);
/// None for any other name.
pub fn file_index(name: &str, max_file: u32) -> Option<u32> {
    if name == LOG_FILE {
        return Some(0);
    }
    let n = name.strip_prefix(LOG_FILE)?.strip_prefix('.')?;
    if n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let i: u32 = n.parse().ok()?;
    (i < max_file).then_some(i)
}

/// The renames of one rotation when `present` rotated files exist, in
/// order: each one a place further (the one past `max_file` replaced, so
/// dropped), then the current file to `.1`; and how many rotated files
/// exist after. Nothing with one file: the current file is removed
/// instead.
pub fn rotation(max_file: u32, present: u32) -> (Vec<(String, String)>, u32) {
    let after = present.saturating_add(1).min(max_file.saturating_sub(1));
    let renames = (1..=after)
        .rev()
        .map(|i| (file_name(i - 1), file_name(i)))
        .collect();
    (renames, after)
}

/// Which of `files` (the log's files as found, oldest first, each by its
/// identity) a follower reads once it has read `old` to its end and seen
/// it rotated away: the one made after it, or — when `old` is gone (it
/// rotated out) or there was none — the oldest left, every one of which
/// is newer. None: no newer file yet.
pub fn next_file<T: PartialEq>(files: &[T], old: Option<&T>) -> Option<usize> {
    let Some(old) = old else {
        return (!files.is_empty()).then_some(0);
    };
    match files.iter().position(|f| f == old) {
        Some(i) if i + 1 < files.len() => Some(i + 1),
        Some(_) => None,
        None => (!files.is_empty()).then_some(0),
    }
}

/// Positioned reads: a file, or bytes in memory in tests.
pub trait ReadAt {
    fn read_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<usize>;
}

impl ReadAt for [u8] {
    fn read_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
        let start = usize::try_from(off).unwrap_or(usize::MAX).min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

const BLOCK: usize = 64 * 1024;

/// Fill `buf` from `off` (a short read is retried; a file that shrank
/// leaves the rest zero, and is then a damaged entry at worst).
fn read_exact_at<R: ReadAt + ?Sized>(src: &R, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match src.read_at(&mut buf[done..], off + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Where the complete lines of `[0, end)` end: just after its last
/// newline, 0 if it has none. What follows is a write in progress.
pub fn complete_end<R: ReadAt + ?Sized>(src: &R, end: u64) -> std::io::Result<u64> {
    let mut pos = end;
    let mut buf = vec![0u8; BLOCK];
    while pos > 0 {
        let n = BLOCK.min(pos as usize);
        let from = pos - n as u64;
        read_exact_at(src, &mut buf[..n], from)?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(from + i as u64 + 1);
        }
        pos = from;
    }
    Ok(0)
}

/// The lines of `[0, end)` of a file, last first, without their newlines
/// (one final newline ends the last line; it does not start an empty
/// one), read in blocks from the end: memory is a block and a line. A
/// line longer than `MAX_ENTRY_BYTES` is skipped.
pub struct RevLines<'a, R: ReadAt + ?Sized> {
    src: &'a R,
    /// Bytes before `pos` are not read yet.
    pos: u64,
    /// Bytes from `pos` to the end of the line being assembled.
    buf: Vec<u8>,
    started: bool,
    done: bool,
    /// The line being assembled is too long: drop its bytes.
    overlong: bool,
}

impl<'a, R: ReadAt + ?Sized> RevLines<'a, R> {
    pub fn new(src: &'a R, end: u64) -> RevLines<'a, R> {
        RevLines {
            src,
            pos: end,
            buf: Vec::new(),
            started: false,
            done: end == 0,
            overlong: false,
        }
    }

    /// Read the block before `pos` in front of `buf`.
    fn fill(&mut self) -> std::io::Result<()> {
        let n = BLOCK.min(usize::try_from(self.pos).unwrap_or(BLOCK));
        let from = self.pos - n as u64;
        let mut block = vec![0u8; n];
        read_exact_at(self.src, &mut block, from)?;
        if !self.started {
            self.started = true;
            if block.last() == Some(&b'\n') {
                block.pop();
            }
        }
        if !self.overlong {
            block.extend_from_slice(&self.buf);
        }
        self.buf = block;
        self.pos = from;
        Ok(())
    }
}

impl<R: ReadAt + ?Sized> Iterator for RevLines<'_, R> {
    type Item = std::io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if let Some(i) = self.buf.iter().rposition(|&b| b == b'\n') {
                let line = self.buf.split_off(i + 1);
                self.buf.pop();
                if std::mem::take(&mut self.overlong) {
                    continue;
                }
                return Some(Ok(line));
            }
            if self.pos == 0 {
                self.done = true;
                let line = std::mem::take(&mut self.buf);
                if self.overlong {
                    return None;
                }
                return Some(Ok(line));
            }
            if self.buf.len() > MAX_ENTRY_BYTES {
                self.overlong = true;
                self.buf.clear();
            }
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opts(o: &[&str]) -> Result<LogConfig, LogOptError> {
        parse(None, &o.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn sizes_in_dockers_units() {
        for (s, n) in [
            ("1", 1),
            ("10b", 10),
            ("10B", 10),
            ("1k", 1000),
            ("1K", 1000),
            ("1kb", 1000),
            ("1kib", 1000),
            ("2KiB", 2000),
            ("10m", 10_000_000),
            ("10 m", 10_000_000),
            ("10MB", 10_000_000),
            ("1.5m", 1_500_000),
            ("1g", 1_000_000_000),
            ("2t", 2_000_000_000_000),
            ("3p", 3_000_000_000_000_000),
            ("0", 0),
            ("1ib", 1),
            ("1 ", 1),
            ("1 kB", 1000),
            ("0.0001k", 0),
            ("1.9", 1),
            ("9000p", 9_000_000_000_000_000_000),
            // The largest double below 2^63, which Go's int64 still holds.
            ("9223372036854774784", 9_223_372_036_854_774_784),
        ] {
            assert_eq!(parse_size(s), Some(n), "{s}");
        }
        for s in [
            "",
            "m",
            "-1",
            "+1",
            "1x",
            "1mm",
            "1bb",
            "bb",
            " 1",
            "1  m",
            "1.",
            ".5",
            "1.2.3",
            "1e3",
            "1,5m",
            "9300p",
            "1kbx",
            "１",
            "9223372036854775808",
        ] {
            assert_eq!(parse_size(s), None, "{s}");
        }
    }

    #[test]
    fn defaults_and_docker_defaults() {
        let d = opts(&[]).unwrap();
        assert_eq!(d, LogConfig::default());
        assert_eq!((d.max_size, d.max_file), (10_000_000, 3));
        assert_eq!(d.driver, Driver::JsonFile);
        assert_eq!(d.opts["max-size"], "10m");
        assert_eq!(d.opts["max-file"], "3");
        assert_eq!(parse(Some("json-file"), &[]).unwrap(), d);
        // max-size alone: Docker's one file.
        let c = opts(&["max-size=1k"]).unwrap();
        assert_eq!((c.max_size, c.max_file), (1000, 1));
        assert_eq!(c.opts["max-size"], "1k");
        assert_eq!(c.opts["max-file"], "1");
        // max-file alone: never uncapped.
        let c = opts(&["max-file=1"]).unwrap();
        assert_eq!((c.max_size, c.max_file), (10_000_000, 1));
        let c = opts(&["max-file=5"]).unwrap();
        assert_eq!((c.max_size, c.max_file), (10_000_000, 5));
        assert_eq!(c.opts["max-size"], "10m");
        let c = opts(&["max-file=2", "max-size=3m", "max-size=4m"]).unwrap();
        assert_eq!((c.max_size, c.max_file), (4_000_000, 2));
        assert_eq!(c.opts.len(), 2);
        let c = opts(&["max-file=4294967295", "max-size=1"]).unwrap();
        assert_eq!((c.max_size, c.max_file), (1, u32::MAX));
        let n = parse(Some("none"), &[]).unwrap();
        assert_eq!(n.driver, Driver::None);
        assert!(n.opts.is_empty());
        assert_eq!(Driver::None.name(), "none");
        assert_eq!(Driver::JsonFile.name(), "json-file");
    }

    #[test]
    fn bad_options_in_dockers_words() {
        let e = |o: &[&str]| opts(o).unwrap_err().to_string();
        assert_eq!(
            e(&["foo=1"]),
            "unknown log opt 'foo' for json-file log driver"
        );
        assert_eq!(
            e(&["max-size"]),
            "failed to initialize logging driver: invalid size: ''"
        );
        assert_eq!(
            e(&["max-size=10x"]),
            "failed to initialize logging driver: invalid size: '10x'"
        );
        assert_eq!(
            e(&["max-size=0"]),
            "failed to initialize logging driver: max-size must be a positive number"
        );
        assert_eq!(
            e(&["max-file=0"]),
            "failed to initialize logging driver: max-file cannot be less than 1"
        );
        assert_eq!(
            e(&["max-file=-3"]),
            "failed to initialize logging driver: max-file cannot be less than 1"
        );
        assert_eq!(
            opts(&["max-file=x"]).unwrap_err(),
            LogOptError::FileCount("x".into())
        );
        assert_eq!(
            opts(&["max-file=4294967296"]).unwrap_err(),
            LogOptError::FileCount("4294967296".into())
        );
        assert_eq!(
            opts(&["compress=true"]).unwrap_err(),
            LogOptError::Unsupported("compress".into())
        );
        assert_eq!(
            opts(&["tag"]).unwrap_err(),
            LogOptError::Unsupported("tag".into())
        );
        // Keys before values, as Docker.
        assert_eq!(
            opts(&["max-size=x", "bogus=1"]).unwrap_err(),
            LogOptError::Unknown("bogus".into())
        );
        // max-size before max-file.
        assert_eq!(
            opts(&["max-file=0", "max-size=0"]).unwrap_err(),
            LogOptError::SizeNotPositive
        );
        assert_eq!(
            parse(Some("syslog"), &[]).unwrap_err(),
            LogOptError::Driver("syslog".into())
        );
        assert_eq!(
            parse(Some("none"), &["max-size=1m".into()])
                .unwrap_err()
                .to_string(),
            "invalid logging opts for driver none"
        );
    }

    #[test]
    fn rotation_names() {
        assert_eq!(file_name(0), "log.jsonl");
        assert_eq!(file_name(1), "log.jsonl.1");
        assert_eq!(file_name(12), "log.jsonl.12");
        assert_eq!(file_index("log.jsonl", 1), Some(0));
        assert_eq!(file_index("log.jsonl.1", 3), Some(1));
        assert_eq!(file_index("log.jsonl.2", 3), Some(2));
        assert_eq!(file_index("log.jsonl.3", 3), None);
        assert_eq!(file_index("log.jsonl.1", 1), None);
        for bad in [
            "log.jsonl.0",
            "log.jsonl.01",
            "log.jsonl.",
            "log.jsonl.+1",
            "log.jsonl.-1",
            "log.jsonl1",
            "log.jsonl.1x",
            "log.jsonl.99999999999",
            "xlog.jsonl",
            "log.json",
            "state.json",
        ] {
            assert_eq!(file_index(bad, u32::MAX), None, "{bad}");
        }
        let pairs = |v: &[(String, String)]| -> Vec<(String, String)> { v.to_vec() };
        let p = |a: &str, b: &str| (a.to_string(), b.to_string());
        // One file: no renames, nothing rotated ever.
        assert_eq!(rotation(1, 0), (vec![], 0));
        assert_eq!(rotation(0, 0), (vec![], 0));
        // Two files: the current one to .1, replacing it.
        assert_eq!(rotation(2, 0), (vec![p("log.jsonl", "log.jsonl.1")], 1));
        assert_eq!(rotation(2, 1), (vec![p("log.jsonl", "log.jsonl.1")], 1));
        // Four files: only those that exist move.
        assert_eq!(rotation(4, 0), (vec![p("log.jsonl", "log.jsonl.1")], 1));
        let (r, n) = rotation(4, 1);
        assert_eq!(n, 2);
        assert_eq!(
            pairs(&r),
            [
                p("log.jsonl.1", "log.jsonl.2"),
                p("log.jsonl", "log.jsonl.1")
            ]
        );
        let full = vec![
            p("log.jsonl.2", "log.jsonl.3"),
            p("log.jsonl.1", "log.jsonl.2"),
            p("log.jsonl", "log.jsonl.1"),
        ];
        assert_eq!(rotation(4, 2), (full.clone(), 3));
        assert_eq!(rotation(4, 3), (full.clone(), 3));
        assert_eq!(rotation(4, u32::MAX), (full, 3));
        // A huge max-file costs what exists.
        assert_eq!(rotation(u32::MAX, 0).0.len(), 1);
    }

    #[test]
    fn which_file_follows() {
        let files = [10, 20, 30];
        assert_eq!(next_file(&files, Some(&10)), Some(1));
        assert_eq!(next_file(&files, Some(&20)), Some(2));
        // The newest: nothing after it yet.
        assert_eq!(next_file(&files, Some(&30)), None);
        // Rotated out: everything left is newer.
        assert_eq!(next_file(&files, Some(&5)), Some(0));
        assert_eq!(next_file(&files, None), Some(0));
        assert_eq!(next_file::<i32>(&[], Some(&5)), None);
        assert_eq!(next_file::<i32>(&[], None), None);
    }

    /// The model: a region's lines are what splitting it at newlines gives,
    /// one final newline ending the last line.
    fn model(region: &[u8]) -> Vec<Vec<u8>> {
        if region.is_empty() {
            return Vec::new();
        }
        let r = region.strip_suffix(b"\n").unwrap_or(region);
        let mut v: Vec<Vec<u8>> = r.split(|&b| b == b'\n').map(|l| l.to_vec()).collect();
        v.reverse();
        v
    }

    fn rev(src: &[u8], end: u64) -> Vec<Vec<u8>> {
        RevLines::new(src, end).map(|l| l.unwrap()).collect()
    }

    #[test]
    fn backwards_small() {
        let s = b"a\nbb\n\nccc\n";
        assert_eq!(rev(s, s.len() as u64), model(s));
        assert_eq!(rev(s, s.len() as u64)[0], b"ccc");
        assert_eq!(rev(s, 4), [b"bb".to_vec(), b"a".to_vec()]);
        assert_eq!(rev(s, 3), [b"b".to_vec(), b"a".to_vec()]);
        assert_eq!(rev(b"x", 1), [b"x".to_vec()]);
        assert_eq!(rev(b"\n", 1), [b"".to_vec()]);
        assert_eq!(rev(b"\n\n", 2), [b"".to_vec(), b"".to_vec()]);
        assert!(rev(b"abc", 0).is_empty());
        assert_eq!(complete_end(&s[..], 10).unwrap(), 10);
        assert_eq!(complete_end(&s[..], 9).unwrap(), 6);
        assert_eq!(complete_end(&s[..], 1).unwrap(), 0);
        assert_eq!(complete_end(&s[..], 0).unwrap(), 0);
        assert_eq!(complete_end(&b"abc"[..], 3).unwrap(), 0);
    }

    #[test]
    fn backwards_across_blocks() {
        // Lines of every length around the block size, so that newlines
        // fall on, before and after block boundaries.
        let mut s = Vec::new();
        let mut want = Vec::new();
        for (i, len) in [1, BLOCK - 1, BLOCK, BLOCK + 1, 3, 2 * BLOCK + 5, 0, 7]
            .into_iter()
            .enumerate()
        {
            let line = vec![b'a' + i as u8; len];
            s.extend_from_slice(&line);
            s.push(b'\n');
            want.push(line);
        }
        want.reverse();
        let got = rev(&s, s.len() as u64);
        assert_eq!(got.len(), want.len());
        assert!(got == want);
        // The last newline exactly at a block boundary from the end.
        let mut s = vec![b'x'; BLOCK - 1];
        s.push(b'\n');
        s.extend_from_slice(&vec![b'y'; BLOCK - 1]);
        s.push(b'\n');
        assert_eq!(rev(&s, s.len() as u64), model(&s));
        assert_eq!(
            complete_end(&s[..BLOCK + 3], (BLOCK + 3) as u64).unwrap(),
            BLOCK as u64
        );
        let mut far = vec![b'\n'];
        far.extend_from_slice(&vec![b'z'; 3 * BLOCK]);
        assert_eq!(complete_end(&far[..], far.len() as u64).unwrap(), 1);
    }

    #[test]
    fn overlong_lines_are_skipped() {
        let mut s = b"first\n".to_vec();
        s.extend_from_slice(&vec![b'x'; MAX_ENTRY_BYTES + 2 * BLOCK]);
        s.extend_from_slice(b"\nlast\n");
        assert_eq!(
            rev(&s, s.len() as u64),
            [b"last".to_vec(), b"first".to_vec()]
        );
        // At the very start of the file too.
        let mut s = vec![b'x'; MAX_ENTRY_BYTES + BLOCK + 1];
        s.extend_from_slice(b"\nlast\n");
        assert_eq!(rev(&s, s.len() as u64), [b"last".to_vec()]);
        // A line of exactly the limit, on block boundaries, is kept.
        let mut s = b"\n".to_vec();
        s.extend_from_slice(&vec![b'w'; MAX_ENTRY_BYTES]);
        let got = rev(&s, s.len() as u64);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_ENTRY_BYTES);
        assert!(got[1].is_empty());
        // Just short of the limit is kept.
        let mut s = vec![b'y'; MAX_ENTRY_BYTES];
        s.extend_from_slice(b"\nz");
        let got = rev(&s, s.len() as u64);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].len(), MAX_ENTRY_BYTES);
    }

    struct Failing;
    impl ReadAt for Failing {
        fn read_at(&self, _: &mut [u8], _: u64) -> std::io::Result<usize> {
            Err(std::io::Error::other("boom"))
        }
    }

    struct Interrupted(std::cell::Cell<u32>, &'static [u8]);
    impl ReadAt for Interrupted {
        fn read_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
            let n = self.0.get();
            self.0.set(n + 1);
            if n.is_multiple_of(2) {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            // One byte at a time: short reads are completed.
            let one = buf.len().min(1);
            self.1[..].read_at(&mut buf[..one], off)
        }
    }

    #[test]
    fn read_errors_end_the_lines() {
        let mut it = RevLines::new(&Failing, 10);
        assert!(matches!(it.next(), Some(Err(_))));
        assert!(it.next().is_none());
        assert!(complete_end(&Failing, 10).is_err());
        let src = Interrupted(std::cell::Cell::new(0), b"ab\ncd\n");
        let got: Vec<Vec<u8>> = RevLines::new(&src, 6).map(|l| l.unwrap()).collect();
        assert_eq!(got, [b"cd".to_vec(), b"ab".to_vec()]);
        assert_eq!(complete_end(&src, 5).unwrap(), 3);
        // Past the end of a slice: nothing, no panic.
        let mut b = [0u8; 4];
        assert_eq!(b"ab"[..].read_at(&mut b, 7).unwrap(), 0);
        assert_eq!(b"ab"[..].read_at(&mut b, 1).unwrap(), 1);
        assert_eq!(b[0], b'b');
    }

    /// Records the length of every read it answers.
    struct Counting<'a>(&'a [u8], std::cell::RefCell<Vec<usize>>);
    impl ReadAt for Counting<'_> {
        fn read_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
            self.1.borrow_mut().push(buf.len());
            self.0.read_at(buf, off)
        }
    }

    #[test]
    fn the_last_line_costs_one_block() {
        let s: Vec<u8> = (0..50_000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let src = Counting(&s, Default::default());
        let end = complete_end(&src, s.len() as u64).unwrap();
        assert_eq!(end, s.len() as u64);
        let mut it = RevLines::new(&src, end);
        assert_eq!(it.next().unwrap().unwrap(), b"49999");
        assert_eq!(it.next().unwrap().unwrap(), b"49998");
        assert_eq!(*src.1.borrow(), [BLOCK, BLOCK]);
        assert_eq!(BLOCK, 65536);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn backwards_is_forwards_reversed(
            lines in proptest::collection::vec(
                prop_oneof![Just(0usize), 1usize..20, (BLOCK - 3)..(BLOCK + 3)], 0..6),
            end_newline in any::<bool>(),
            cut in any::<proptest::sample::Index>(),
        ) {
            let mut s = Vec::new();
            for (i, n) in lines.iter().enumerate() {
                if i > 0 { s.push(b'\n'); }
                s.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, *n));
            }
            if end_newline { s.push(b'\n'); }
            prop_assert!(rev(&s, s.len() as u64) == model(&s));
            let end = cut.index(s.len() + 1);
            prop_assert!(rev(&s, end as u64) == model(&s[..end]));
            let ce = complete_end(&s[..], end as u64).unwrap() as usize;
            let want = s[..end].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            prop_assert_eq!(ce, want);
        }

        #[test]
        fn options_never_panic(o in proptest::collection::vec("(max-size|max-file|x)?=?[0-9kmgKiBb. -]{0,8}", 0..4)) {
            if let Ok(c) = parse(None, &o) {
                prop_assert!(c.max_size > 0 && c.max_file >= 1);
            }
        }
    }
}
