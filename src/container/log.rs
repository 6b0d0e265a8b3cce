//! The container log, `log.jsonl`: one JSON object a line,
//! `{"t":RFC3339-nanoseconds,"stream":"stdout"|"stderr","line":TEXT}`, where
//! TEXT keeps its newline (a last partial line has none), so `logs`
//! reproduces the output byte for byte when it is valid UTF-8. Very long
//! lines are cut into 16 KiB pieces, as Docker's json-file driver does.
//!
//! Written by the monitor (`LogSink`), which rotates it at the cap of
//! `--log-opt max-size/max-file` (`log.jsonl.1` is the newest rotated
//! file); read by `logs` (`LogReader`): all of it oldest first, or the last
//! lines read from the end, then followed across rotations. The rules are
//! in `logrot.rs`; this is their I/O.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::tty::{Sink, Stream};
use crate::logrot::{self, Driver, LOG_FILE, LogConfig, ReadAt};
use crate::state;
use crate::sys;

const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub t: String,
    pub stream: String,
    pub line: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("listing the log's files: {}", sys::errno_text(.0))]
    List(#[source] io::Error),
    #[error("opening {0}: {why}", why = sys::errno_text(.1))]
    Open(String, #[source] io::Error),
    #[error("reading the log: {}", sys::errno_text(.0))]
    Read(#[source] io::Error),
    /// Whoever reads `logs` went away (a closed pipe): nothing to say.
    #[error("writing the log out: {}", sys::errno_text(.0))]
    Output(#[source] io::Error),
}

impl ReadAt for fs::File {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, off)
    }
}

pub struct LogSink {
    /// None until the first output of a lazily opened log, and between a
    /// rotation and the next entry.
    file: Option<fs::File>,
    /// The container's directory, where the log's files are.
    dir: PathBuf,
    cfg: LogConfig,
    /// Bytes in the current file, counted here rather than asked for.
    size: u64,
    /// Rotated files there are (`log.jsonl.1` … `.N`).
    rotated: u32,
    partial: [Vec<u8>; 2],
}

fn open_log(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

impl LogSink {
    /// The log of a detached container in directory `dir`, there at once
    /// (so that `logs -f` right after `-d` finds it); none with
    /// `--log-driver none`.
    pub fn open(dir: &Path, cfg: &LogConfig) -> io::Result<LogSink> {
        let mut s = LogSink::lazy(dir, cfg);
        if cfg.driver != Driver::None {
            s.reopen()?;
        }
        Ok(s)
    }

    /// The log of a foreground container, made at its first output: a run
    /// that prints nothing writes no file (`logs` then prints nothing).
    pub fn lazy(dir: &Path, cfg: &LogConfig) -> LogSink {
        LogSink {
            file: None,
            dir: dir.to_path_buf(),
            cfg: cfg.clone(),
            size: 0,
            rotated: 0,
            partial: [Vec::new(), Vec::new()],
        }
    }

    fn reopen(&mut self) -> io::Result<()> {
        let f = open_log(&self.dir.join(LOG_FILE))?;
        // Once a file, not per write: a new container's log is empty.
        self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
        self.file = Some(f);
        Ok(())
    }

    /// Move the full file aside (or away, with one file); the next entry
    /// starts a new one. If the current file cannot be moved it is
    /// emptied: the cap holds whatever happens.
    fn rotate(&mut self) {
        let Some(f) = self.file.take() else { return };
        let (renames, after) = logrot::rotation(self.cfg.max_file, self.rotated);
        let mut moved = renames.is_empty() && fs::remove_file(self.dir.join(LOG_FILE)).is_ok();
        for (from, to) in &renames {
            match fs::rename(self.dir.join(from), self.dir.join(to)) {
                Ok(()) => moved = from == LOG_FILE,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(_) => {}
            }
        }
        if moved {
            self.rotated = after;
        } else {
            let _ = f.set_len(0);
        }
        self.size = 0;
    }

    fn emit(&mut self, stream: Stream, bytes: &[u8]) {
        if self.cfg.driver == Driver::None {
            return;
        }
        let e = Entry {
            t: state::now_rfc3339(),
            stream: stream.name().into(),
            line: String::from_utf8_lossy(bytes).into_owned(),
        };
        let Ok(mut j) = serde_json::to_vec(&e) else {
            return;
        };
        j.push(b'\n');
        // As Docker: the file that reached the cap is rotated before the
        // next entry, so a file holds at most the cap plus one entry.
        if self.size > 0 && self.size >= self.cfg.max_size {
            self.rotate();
        }
        if self.file.is_none() && self.reopen().is_err() {
            return;
        }
        if let Some(f) = self.file.as_mut() {
            // One write per entry: O_APPEND keeps entries whole for
            // readers. Counted even if it failed part way.
            let _ = f.write_all(&j);
            self.size += j.len() as u64;
        }
    }
}

fn idx(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl Sink for LogSink {
    fn write(&mut self, stream: Stream, data: &[u8]) -> bool {
        let mut buf = std::mem::take(&mut self.partial[idx(stream)]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl + 1;
            self.emit(stream, &buf[start..end]);
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.emit(stream, &buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[idx(stream)] = buf;
        true
    }

    fn close(&mut self, stream: Stream) {
        let buf = std::mem::take(&mut self.partial[idx(stream)]);
        if !buf.is_empty() {
            self.emit(stream, &buf);
        }
    }

    fn note(&mut self, text: &str) {
        self.emit(Stream::Stderr, format!("{text}\n").as_bytes());
    }
}

/// Parse one line of the log; None for a line that is not an entry (a
/// torn write is skipped rather than failing the whole read).
pub fn parse(line: &[u8]) -> Option<Entry> {
    serde_json::from_slice(line).ok()
}

/// A file by identity: it keeps it across renames.
type Id = (u64, u64);

fn id_of(m: &fs::Metadata) -> Id {
    (m.dev(), m.ino())
}

/// The names of the log's files now in `dir`, oldest first (none once
/// the container is removed).
fn list(dir: &Path, max_file: u32) -> Result<Vec<String>, LogError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LogError::List(e)),
    };
    let mut v: Vec<(u32, String)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((logrot::file_index(&name, max_file)?, name))
        })
        .collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.0));
    Ok(v.into_iter().map(|(_, n)| n).collect())
}

/// The log's files, oldest first, opened as one consistent set: listed
/// and opened, then listed and looked at again, until a rotation did not
/// move any of them in between (every rotation ends by moving the
/// current file, which is looked at last).
fn open_all(dir: &Path, max_file: u32) -> Result<Vec<(fs::File, Id)>, LogError> {
    let mut set = Vec::new();
    for _ in 0..100 {
        set.clear();
        let names = list(dir, max_file)?;
        for n in &names {
            match fs::File::open(dir.join(n)) {
                Ok(f) => {
                    let id = id_of(&f.metadata().map_err(LogError::Read)?);
                    set.push((n.clone(), f, id));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::Open(n.clone(), e)),
            }
        }
        let again = list(dir, max_file)?;
        let same = again.len() == set.len()
            && again.iter().zip(&set).all(|(n, (m, _, id))| {
                n == m && fs::metadata(dir.join(n)).map(|md| id_of(&md)).ok() == Some(*id)
            });
        if same {
            break;
        }
    }
    Ok(set.into_iter().map(|(_, f, id)| (f, id)).collect())
}

/// The file a reader is in, and how far.
struct Open {
    file: fs::File,
    id: Id,
    off: u64,
}

/// Reads a container's log for `logs`: what is there, then what comes,
/// across rotations, no line twice and none missed that is still on disk.
pub struct LogReader {
    dir: PathBuf,
    max_file: u32,
    cur: Option<Open>,
    /// The start of a line whose end is not written yet.
    pending: Vec<u8>,
    /// The line being read is too long to be an entry: drop it.
    skipping: bool,
}

type OnEntry<'a> = &'a mut dyn FnMut(Entry) -> io::Result<()>;

fn give(line: &[u8], f: OnEntry) -> Result<(), LogError> {
    match parse(line) {
        Some(e) => f(e).map_err(LogError::Output),
        None => Ok(()),
    }
}

impl LogReader {
    pub fn new(dir: &Path, cfg: &LogConfig) -> LogReader {
        LogReader {
            dir: dir.to_path_buf(),
            max_file: cfg.max_file.max(1),
            cur: None,
            pending: Vec::new(),
            skipping: false,
        }
    }

    /// Every entry on disk, oldest first; the reader then stands at the
    /// end of the newest file.
    pub fn all(&mut self, f: OnEntry) -> Result<(), LogError> {
        let files = open_all(&self.dir, self.max_file)?;
        let n = files.len();
        for (i, (file, id)) in files.into_iter().enumerate() {
            self.cur = Some(Open { file, id, off: 0 });
            self.drain(f)?;
            if i + 1 < n {
                self.finish(f)?;
            }
        }
        Ok(())
    }

    /// The last `n` entries, oldest first, read from the end of the
    /// newest file back into older ones; the reader then stands after the
    /// last complete line.
    pub fn tail(&mut self, n: usize, f: OnEntry) -> Result<(), LogError> {
        let files = open_all(&self.dir, self.max_file)?;
        let mut got = Vec::new();
        for (i, (file, id)) in files.into_iter().rev().enumerate() {
            let size = file.metadata().map_err(LogError::Read)?.len();
            let end = if i == 0 {
                let end = logrot::complete_end(&file, size).map_err(LogError::Read)?;
                self.cur = Some(Open {
                    file: file.try_clone().map_err(LogError::Read)?,
                    id,
                    off: end,
                });
                end
            } else {
                size
            };
            if got.len() >= n {
                break;
            }
            for line in logrot::RevLines::new(&file, end) {
                if let Some(e) = parse(&line.map_err(LogError::Read)?) {
                    got.push(e);
                    if got.len() >= n {
                        break;
                    }
                }
            }
        }
        for e in got.into_iter().rev() {
            f(e).map_err(LogError::Output)?;
        }
        Ok(())
    }

    /// Read what was written since, following the log across rotations:
    /// the file read so far is read to its end once it has been moved, then
    /// the one made after it (or, if it is gone, the oldest left).
    pub fn poll(&mut self, f: OnEntry) -> Result<(), LogError> {
        loop {
            self.drain(f)?;
            let now = fs::metadata(self.dir.join(LOG_FILE))
                .ok()
                .map(|m| id_of(&m));
            let cur = self.cur.as_ref().map(|c| c.id);
            if now == cur || (now.is_none() && cur.is_none()) {
                return Ok(());
            }
            // Ours was moved: nothing more goes to it, and what went to it
            // before the move is read now.
            self.drain(f)?;
            self.finish(f)?;
            let files = open_all(&self.dir, self.max_file)?;
            let ids: Vec<Id> = files.iter().map(|(_, id)| *id).collect();
            let Some(next) = logrot::next_file(&ids, cur.as_ref()) else {
                return Ok(());
            };
            let (file, id) = files
                .into_iter()
                .nth(next)
                .ok_or_else(|| LogError::Read(io::Error::from(io::ErrorKind::NotFound)))?;
            self.cur = Some(Open { file, id, off: 0 });
        }
    }

    /// Read the current file from where we are to its end, giving each
    /// complete line.
    fn drain(&mut self, f: OnEntry) -> Result<(), LogError> {
        let Some(c) = self.cur.as_mut() else {
            return Ok(());
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match FileExt::read_at(&c.file, &mut buf, c.off) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LogError::Read(e)),
            };
            c.off += n as u64;
            let mut rest = &buf[..n];
            while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                let (line, after) = (&rest[..nl], &rest[nl + 1..]);
                rest = after;
                if std::mem::take(&mut self.skipping) {
                    continue;
                }
                if self.pending.is_empty() {
                    give(line, f)?;
                } else {
                    self.pending.extend_from_slice(line);
                    let whole = std::mem::take(&mut self.pending);
                    give(&whole, f)?;
                }
            }
            if !self.skipping {
                self.pending.extend_from_slice(rest);
                if self.pending.len() > logrot::MAX_ENTRY_BYTES {
                    self.pending.clear();
                    self.skipping = true;
                }
            }
        }
    }

    /// Done with the current file (it was rotated): a line without its
    /// end is all there will be of it.
    fn finish(&mut self, f: OnEntry) -> Result<(), LogError> {
        self.skipping = false;
        let rest = std::mem::take(&mut self.pending);
        if rest.is_empty() {
            Ok(())
        } else {
            give(&rest, f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rrun-log-{what}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn lines_of(r: &mut LogReader, how: &str) -> Vec<String> {
        let mut v = Vec::new();
        let mut f = |e: Entry| {
            v.push(e.line);
            Ok(())
        };
        match how {
            "all" => r.all(&mut f),
            "poll" => r.poll(&mut f),
            t => r.tail(t.parse().expect("count"), &mut f),
        }
        .expect("read");
        v
    }

    #[test]
    fn lines_and_partials() {
        let dir = temp_dir("lines");
        let p = dir.join(LOG_FILE);
        let cfg = LogConfig::default();
        let mut s = LogSink::open(&dir, &cfg).expect("open");
        let lazy_dir = dir.join("lazy");
        fs::create_dir_all(&lazy_dir).expect("dir");
        let mut lazy = LogSink::lazy(&lazy_dir, &cfg);
        lazy.close(Stream::Stdout);
        assert!(!lazy_dir.join(LOG_FILE).exists(), "no output, no file");
        s.write(Stream::Stdout, b"a\nb");
        s.write(Stream::Stderr, b"err\n");
        s.write(Stream::Stdout, b"c\n\"q\"\n");
        s.write(Stream::Stdout, b"tail");
        s.close(Stream::Stdout);
        s.write(Stream::Stdout, &vec![b'x'; MAX_LINE + 3]);
        s.close(Stream::Stdout);
        let text = fs::read_to_string(&p).expect("read");
        let got: Vec<(String, String)> = text
            .lines()
            .map(|l| parse(l.as_bytes()).expect("entry"))
            .map(|e| (e.stream, e.line))
            .collect();
        assert_eq!(got[0], ("stdout".into(), "a\n".into()));
        assert_eq!(got[1], ("stderr".into(), "err\n".into()));
        assert_eq!(got[2], ("stdout".into(), "bc\n".into()));
        assert_eq!(got[3], ("stdout".into(), "\"q\"\n".into()));
        assert_eq!(got[4], ("stdout".into(), "tail".into()));
        assert_eq!(got[5].1.len(), MAX_LINE);
        assert_eq!(got[6].1, "xxx");
        assert!(parse(b"{not json").is_none());
        let _ = fs::remove_dir_all(&dir);
    }

    fn cfg(size: &str, files: &str) -> LogConfig {
        logrot::parse(
            None,
            &[format!("max-size={size}"), format!("max-file={files}")],
        )
        .expect("options")
    }

    fn numbered(s: &mut LogSink, from: u32, to: u32) {
        for i in from..to {
            s.write(Stream::Stdout, format!("{i}\n").as_bytes());
        }
    }

    fn nums(v: &[String]) -> Vec<u32> {
        v.iter()
            .map(|l| l.trim().parse().expect("number"))
            .collect()
    }

    #[test]
    fn rotation_keeps_the_cap_and_the_newest_lines() {
        let dir = temp_dir("rotate");
        // One entry a file: the file at the cap is rotated before the next.
        let mut s = LogSink::open(&dir, &cfg("1b", "3")).expect("open");
        numbered(&mut s, 0, 10);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        assert_eq!(names, ["log.jsonl", "log.jsonl.1", "log.jsonl.2"]);
        let mut r = LogReader::new(&dir, &s.cfg);
        assert_eq!(nums(&lines_of(&mut r, "all")), [7, 8, 9]);
        let mut r = LogReader::new(&dir, &s.cfg);
        assert_eq!(nums(&lines_of(&mut r, "2")), [8, 9]);
        let mut r = LogReader::new(&dir, &s.cfg);
        assert_eq!(nums(&lines_of(&mut r, "99")), [7, 8, 9]);
        let mut r = LogReader::new(&dir, &s.cfg);
        assert!(lines_of(&mut r, "0").is_empty());
        let _ = fs::remove_dir_all(&dir);

        // A byte cap: every file ends within one entry of it.
        let dir = temp_dir("cap");
        let mut s = LogSink::open(&dir, &cfg("1k", "2")).expect("open");
        numbered(&mut s, 0, 1000);
        let mut total = 0;
        for n in ["log.jsonl", "log.jsonl.1"] {
            let len = fs::metadata(dir.join(n)).expect("file").len();
            assert!(len < 1000 + 100, "{n}: {len} bytes");
            total += len;
        }
        assert!(!dir.join("log.jsonl.2").exists());
        assert!(total > 1000);
        let mut r = LogReader::new(&dir, &s.cfg);
        let got = nums(&lines_of(&mut r, "all"));
        assert_eq!(*got.last().expect("lines"), 999);
        assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{got:?}");
        let _ = fs::remove_dir_all(&dir);

        // One file: started afresh at the cap.
        let dir = temp_dir("one");
        let mut s = LogSink::open(&dir, &cfg("100", "1")).expect("open");
        numbered(&mut s, 0, 20);
        let mut r = LogReader::new(&dir, &s.cfg);
        let got = nums(&lines_of(&mut r, "all"));
        assert!(!got.is_empty() && got.len() < 5, "{got:?}");
        assert_eq!(*got.last().expect("lines"), 19);
        assert!(!dir.join("log.jsonl.1").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn follow_across_rotations() {
        let dir = temp_dir("follow");
        let c = cfg("200", "4");
        let mut r = LogReader::new(&dir, &c);
        // Nothing yet: nothing, and no error.
        assert!(lines_of(&mut r, "all").is_empty());
        assert!(lines_of(&mut r, "poll").is_empty());
        let mut s = LogSink::lazy(&dir, &c);
        let mut seen = Vec::new();
        let mut next = 0;
        // Batches of 0 to 7 entries (about 70 bytes each, so up to two
        // rotations between polls): every line once, in order.
        for round in 0..60 {
            let k = round % 8;
            numbered(&mut s, next, next + k);
            next += k;
            seen.extend(nums(&lines_of(&mut r, "poll")));
        }
        assert_eq!(seen, (0..next).collect::<Vec<_>>());
        // A partial line is given once it is whole.
        s.write(Stream::Stdout, b"12");
        assert!(lines_of(&mut r, "poll").is_empty());
        s.write(Stream::Stdout, b"34\n");
        assert_eq!(lines_of(&mut r, "poll"), ["1234\n"]);
        // Falling far behind: lines rotated out are gone (what is left of
        // the file being read is still read), the rest come in order, none
        // twice.
        numbered(&mut s, 5000, 5100);
        let late = nums(&lines_of(&mut r, "poll"));
        assert!(late.windows(2).all(|w| w[1] > w[0]), "{late:?}");
        assert_eq!(late[0], 5000);
        assert_eq!(*late.last().expect("lines"), 5099);
        let mut all = LogReader::new(&dir, &c);
        let on_disk = nums(&lines_of(&mut all, "all"));
        assert!(late.ends_with(&on_disk), "{late:?}\n{on_disk:?}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn tail_then_follow() {
        let dir = temp_dir("tailfollow");
        let c = cfg("150", "3");
        let mut s = LogSink::open(&dir, &c).expect("open");
        numbered(&mut s, 0, 10);
        // A write in progress at the end is not a line yet.
        fs::OpenOptions::new()
            .append(true)
            .open(dir.join(LOG_FILE))
            .and_then(|mut f| f.write_all(b"{\"t\":\"x\",\"str"))
            .expect("partial");
        let mut r = LogReader::new(&dir, &c);
        assert_eq!(nums(&lines_of(&mut r, "3")), [7, 8, 9]);
        fs::OpenOptions::new()
            .append(true)
            .open(dir.join(LOG_FILE))
            .and_then(|mut f| f.write_all(b"eam\":\"stdout\",\"line\":\"10\\n\"}\n"))
            .expect("rest");
        s.size += 60;
        numbered(&mut s, 11, 14);
        assert_eq!(nums(&lines_of(&mut r, "poll")), [10, 11, 12, 13]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_removed_container_reads_as_empty() {
        let dir = temp_dir("removed");
        let c = LogConfig::default();
        let mut s = LogSink::open(&dir, &c).expect("open");
        numbered(&mut s, 0, 2);
        let mut r = LogReader::new(&dir, &c);
        assert_eq!(nums(&lines_of(&mut r, "all")), [0, 1]);
        fs::remove_dir_all(&dir).expect("rm");
        assert!(lines_of(&mut r, "poll").is_empty());
        let mut r = LogReader::new(&dir, &c);
        assert!(lines_of(&mut r, "all").is_empty());
        assert!(lines_of(&mut r, "1").is_empty());
    }

    #[test]
    fn none_driver_writes_nothing() {
        let dir = temp_dir("none");
        let c = logrot::parse(Some("none"), &[]).expect("none");
        let mut s = LogSink::open(&dir, &c).expect("open");
        numbered(&mut s, 0, 3);
        assert_eq!(fs::read_dir(&dir).expect("dir").count(), 0);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn damaged_lines_are_skipped() {
        let dir = temp_dir("damaged");
        let mut text =
            b"{\"t\":\"1\",\"stream\":\"stdout\",\"line\":\"a\\n\"}\nnot json\n".to_vec();
        text.extend_from_slice(&vec![b'x'; logrot::MAX_ENTRY_BYTES + 70_000]);
        text.extend_from_slice(b"\n{\"t\":\"2\",\"stream\":\"stderr\",\"line\":\"b\\n\"}\n");
        fs::write(dir.join(LOG_FILE), &text).expect("write");
        let c = LogConfig::default();
        let mut r = LogReader::new(&dir, &c);
        assert_eq!(lines_of(&mut r, "all"), ["a\n", "b\n"]);
        let mut r = LogReader::new(&dir, &c);
        assert_eq!(lines_of(&mut r, "5"), ["a\n", "b\n"]);
        let _ = fs::remove_dir_all(&dir);
    }
}
