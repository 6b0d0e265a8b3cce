//! The container log, `log.jsonl`: one JSON object a line,
//! `{"t":RFC3339-nanoseconds,"stream":"stdout"|"stderr","line":TEXT}`, where
//! TEXT keeps its newline (a last partial line has none), so `logs`
//! reproduces the output byte for byte when it is valid UTF-8. Very long
//! lines are cut into 16 KiB pieces, as Docker's json-file driver does.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::tty::{Sink, Stream};
use crate::state;

const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub t: String,
    pub stream: String,
    pub line: String,
}

pub struct LogSink {
    /// None until the first output of a lazily opened log.
    file: Option<fs::File>,
    path: std::path::PathBuf,
    partial: [Vec<u8>; 2],
}

fn open_log(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

impl LogSink {
    /// The log of a detached container, there at once (so that `logs -f`
    /// right after `-d` finds it).
    pub fn open(path: &Path) -> std::io::Result<LogSink> {
        Ok(LogSink {
            file: Some(open_log(path)?),
            path: path.to_path_buf(),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// The log of a foreground container, made at its first output: a run
    /// that prints nothing writes no file (`logs` then prints nothing).
    pub fn lazy(path: &Path) -> LogSink {
        LogSink {
            file: None,
            path: path.to_path_buf(),
            partial: [Vec::new(), Vec::new()],
        }
    }

    fn emit(&mut self, stream: Stream, bytes: &[u8]) {
        let e = Entry {
            t: state::now_rfc3339(),
            stream: stream.name().into(),
            line: String::from_utf8_lossy(bytes).into_owned(),
        };
        if self.file.is_none() {
            self.file = open_log(&self.path).ok();
        }
        if let (Ok(mut j), Some(f)) = (serde_json::to_vec(&e), self.file.as_mut()) {
            j.push(b'\n');
            // One write per entry: O_APPEND keeps entries whole for readers.
            let _ = f.write_all(&j);
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
pub fn parse(line: &str) -> Option<Entry> {
    serde_json::from_str(line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_partials() {
        let dir = std::env::temp_dir().join(format!("rrun-log-test-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let p = dir.join("log.jsonl");
        let _ = fs::remove_file(&p);
        let mut s = LogSink::open(&p).expect("open");
        let mut lazy = LogSink::lazy(&dir.join("never.jsonl"));
        lazy.close(Stream::Stdout);
        assert!(!dir.join("never.jsonl").exists(), "no output, no file");
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
            .map(|l| parse(l).expect("entry"))
            .map(|e| (e.stream, e.line))
            .collect();
        assert_eq!(got[0], ("stdout".into(), "a\n".into()));
        assert_eq!(got[1], ("stderr".into(), "err\n".into()));
        assert_eq!(got[2], ("stdout".into(), "bc\n".into()));
        assert_eq!(got[3], ("stdout".into(), "\"q\"\n".into()));
        assert_eq!(got[4], ("stdout".into(), "tail".into()));
        assert_eq!(got[5].1.len(), MAX_LINE);
        assert_eq!(got[6].1, "xxx");
        assert!(parse("{not json").is_none());
        let _ = fs::remove_dir_all(&dir);
    }
}
