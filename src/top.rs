//! `rrun top CONTAINER [ps OPTIONS]`: the host's `ps` (default `-ef`),
//! keeping the rows of the container's processes — those in its pid
//! namespace — as Docker's daemon does with the processes of its cgroup.
//! The reading of ps's output, the check of its options and the table
//! are pure; `top` runs ps and looks at /proc.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;

use crate::cli;
use crate::filter::{self, NumError};
use crate::state::{State, StateError};

#[derive(Debug, thiserror::Error)]
pub enum TopError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("specifying \"{0}={1}\" is not allowed")]
    PsArgs(String, String),
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error("ps: {0}")]
    Ps(String),
    #[error("Couldn't find PID field in ps output")]
    NoPid,
    /// Go's strconv.Atoi error for the field, as Docker shows it.
    #[error("Unexpected pid '{0}': {1}")]
    BadPid(String, NumError),
}

impl TopError {
    pub fn exit_code(&self) -> i32 {
        match self {
            TopError::State(e) => e.exit_code(),
            _ => 1,
        }
    }
}

/// Go's `\s`: ASCII whitespace only (so does Docker split ps's output).
fn ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// Docker's check of ps's options: no column but pid may be renamed to a
/// header starting with PID (`-o user=PID` would pass a user id off as a
/// process id). It looks, after any whitespace, for `K=` followed (after
/// optional whitespace) by `PID…`, the longest K first, and refuses any K
/// but `pid`.
pub fn check_ps_args(args: &str) -> Result<(), TopError> {
    let b = args.as_bytes();
    let skip = |mut i: usize, space: bool| {
        while i < b.len() && ws(b[i]) == space {
            i += 1;
        }
        i
    };
    let mut i = 0;
    while i < b.len() {
        if !ws(b[i]) {
            i += 1;
            continue;
        }
        let word = skip(i, true);
        let end = skip(word, false);
        let hit = (word..end).rev().find_map(|eq| {
            let v = skip(eq + 1, true);
            (b[eq] == b'=' && b[v..].starts_with(b"PID")).then(|| (eq, v, skip(v, false)))
        });
        match hit {
            Some((eq, v, e)) => {
                let k = &args[word..eq];
                if k != "pid" {
                    return Err(TopError::PsArgs(k.to_string(), args[v..e].to_string()));
                }
                i = e;
            }
            None => i = end,
        }
    }
    Ok(())
}

/// Fields of a line split at ASCII whitespace.
fn fields(line: &str) -> Vec<&str> {
    line.split(|c: char| c.is_ascii() && ws(c as u8))
        .filter(|f| !f.is_empty())
        .collect()
}

/// Go's strconv.Atoi of a pid field.
fn atoi(s: &str) -> Result<i64, TopError> {
    filter::atoi(s).map_err(|e| TopError::BadPid(s.to_string(), e))
}

/// ps's titles and the rows of the processes in `pids`, as Docker reads
/// them: the PID column found by its title; a row's fields beyond the
/// titles' count joined with one space into the last; a thread row
/// (PID `-`, as `-L`/`m` print) kept when its process's row was.
pub fn parse_ps(
    output: &str,
    pids: &BTreeSet<i64>,
) -> Result<(Vec<String>, Vec<Vec<String>>), TopError> {
    let mut lines = output.split('\n');
    let titles: Vec<String> = fields(lines.next().unwrap_or_default())
        .into_iter()
        .map(str::to_string)
        .collect();
    let col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or(TopError::NoPid)?;
    let mut rows = Vec::new();
    let mut last_kept = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let f = fields(line);
        // A row too short to have a PID (Docker would crash on it).
        let Some(&pid) = f.get(col) else { continue };
        let keep = if pid == "-" {
            last_kept
        } else {
            let k = pids.contains(&atoi(pid)?);
            last_kept = k;
            k
        };
        if keep {
            let cut = (titles.len() - 1).min(f.len());
            let mut row: Vec<String> = f[..cut].iter().map(|s| s.to_string()).collect();
            row.push(f[cut..].join(" "));
            rows.push(row);
        }
    }
    Ok((titles, rows))
}

/// Docker's `top` table: Go's tabwriter with cells at least 20 wide and 3
/// spaces of padding; the last cell of a line as it is.
pub fn table(titles: &[String], rows: &[Vec<String>]) -> String {
    let lines: Vec<&[String]> = std::iter::once(titles)
        .chain(rows.iter().map(Vec::as_slice))
        .collect();
    let cols = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    let mut width = vec![20usize; cols];
    for l in &lines {
        for (i, c) in l.iter().enumerate().take(l.len().saturating_sub(1)) {
            width[i] = width[i].max(c.chars().count() + 3);
        }
    }
    let mut out = String::new();
    for l in lines {
        for (i, c) in l.iter().enumerate() {
            out.push_str(c);
            if i + 1 < l.len() {
                out.extend(std::iter::repeat_n(' ', width[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// The pids on the host of every process in the pid namespace of `init`
/// (its processes and those `rrun exec` started). Processes whose
/// namespace cannot be read (another user's) are not the container's.
fn namespace_pids(init: libc::pid_t) -> Option<BTreeSet<i64>> {
    let theirs = crate::sys::pid_ns(init)?;
    let pids = fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().into_string().ok()?.parse::<i32>().ok()?;
            (crate::sys::pid_ns(pid) == Some(theirs)).then_some(i64::from(pid))
        })
        .collect();
    Some(pids)
}

/// The first line of a failed ps's stderr, or what Go's exec says.
fn ps_failure(r: &std::io::Result<std::process::Output>) -> String {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            "exec: \"ps\": executable file not found in $PATH".into()
        }
        Err(e) => format!("exec: \"ps\": {}", crate::sys::errno_text(e)),
        Ok(o) => {
            let first = o.stderr.split(|&b| b == b'\n').next().unwrap_or_default();
            if first.is_empty() {
                match o.status.code() {
                    Some(c) => format!("exit status {c}"),
                    None => "signal: killed".into(),
                }
            } else {
                String::from_utf8_lossy(first).into_owned()
            }
        }
    }
}

/// Run ps with the options as Docker passes them (split at single
/// spaces), first narrowed to the container's pids with `-q` (which some
/// options refuse), then without.
fn run_ps(args: &[&str], pids: &BTreeSet<i64>) -> Result<Vec<u8>, TopError> {
    let ps = |extra: Option<String>| {
        std::process::Command::new("ps")
            .args(args)
            .args(extra)
            .stdin(std::process::Stdio::null())
            .output()
    };
    let quick = format!(
        "-q{}",
        pids.iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let first = ps(Some(quick));
    if let Ok(o) = &first
        && o.status.success()
    {
        return Ok(o.stdout.clone());
    }
    let second = ps(None);
    match &second {
        Ok(o) if o.status.success() => Ok(o.stdout.clone()),
        _ => Err(TopError::Ps(ps_failure(&second))),
    }
}

pub fn top(a: &cli::TopArgs) -> Result<i32, TopError> {
    let joined = a.ps_args.join(" ");
    let joined = if joined.is_empty() {
        "-ef".to_string()
    } else {
        joined
    };
    check_ps_args(&joined)?;
    let st = State::open()?;
    let r = st.find(&a.container)?;
    let not_running = || TopError::NotRunning(r.id().to_string());
    if !r.running() {
        return Err(not_running());
    }
    let pids = namespace_pids(r.state.pid).ok_or_else(not_running)?;
    if !crate::sys::alive(r.state.pid, r.state.pid_start) {
        return Err(not_running());
    }
    let args: Vec<&str> = joined.split(' ').collect();
    let out = run_ps(&args, &pids)?;
    let (titles, rows) = parse_ps(&String::from_utf8_lossy(&out), &pids)?;
    let _ = std::io::stdout().write_all(table(&titles, &rows).as_bytes());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(args: &str) -> Option<String> {
        check_ps_args(args).err().map(|e| e.to_string())
    }

    /// Docker 20.10's answers (captured) and its pattern's corners.
    #[test]
    fn ps_options_that_rename_a_column_to_pid() {
        assert_eq!(
            bad("-o user=PID").as_deref(),
            Some("specifying \"user=PID\" is not allowed")
        );
        assert_eq!(bad("-o pid=PID,comm"), None);
        assert_eq!(
            bad("-o user= PID").as_deref(),
            Some("specifying \"user=PID\" is not allowed")
        );
        assert_eq!(
            bad("-o a=b=PIDX").as_deref(),
            Some("specifying \"a=b=PIDX\" is not allowed")
        );
        assert_eq!(
            bad("-o pid,args -o x=PID").as_deref(),
            Some("specifying \"x=PID\" is not allowed")
        );
        assert_eq!(
            bad("-o pid=PID -o x=PIDS,y").as_deref(),
            Some("specifying \"x=PIDS,y\" is not allowed")
        );
        assert_eq!(
            bad("-o \t =PID").as_deref(),
            Some("specifying \"=PID\" is not allowed")
        );
        assert_eq!(
            bad("-o x=  \nPIDé").as_deref(),
            Some("specifying \"x=PIDé\" is not allowed")
        );
        // The longest K whose `=` is followed by PID.
        assert_eq!(
            bad("-o x=PID=y").as_deref(),
            Some("specifying \"x=PID=y\" is not allowed")
        );
        assert_eq!(bad("-o pid=PID=y"), None);
        assert_eq!(
            bad("-o a=b= PID").as_deref(),
            Some("specifying \"a=b=PID\" is not allowed")
        );
        // Not preceded by whitespace, or not PID.
        for ok in [
            "user=PID",
            "-ef",
            "",
            " ",
            "-o user=pid",
            "-o user=XPID",
            "-o user= x PID",
            "-o user=",
            "-o =",
            "aux",
            "-o pid= PID",
        ] {
            assert_eq!(bad(ok), None, "{ok:?}");
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(TopError::NoPid.exit_code(), 1);
        assert_eq!(TopError::NotRunning("x".into()).exit_code(), 1);
        assert_eq!(
            TopError::State(StateError::NoSuch("x".into())).exit_code(),
            1
        );
        assert_eq!(
            TopError::State(StateError::NotDir("/x".into(), "RRUN_ROOT")).exit_code(),
            125
        );
    }

    fn pids(p: &[i64]) -> BTreeSet<i64> {
        p.iter().copied().collect()
    }

    const EF: &str = "UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 03:00 ?        00:00:01 /sbin/init
root        3652    3627 16 03:47 ?        00:00:00 sleep  1002
root        3675    3652  0 03:47 ?        00:00:00 sleep 1000
";

    #[test]
    fn rows_of_the_container() {
        let (t, rows) = parse_ps(EF, &pids(&[3652, 3675])).unwrap();
        assert_eq!(
            t,
            ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        );
        assert_eq!(
            rows,
            [
                [
                    "root",
                    "3652",
                    "3627",
                    "16",
                    "03:47",
                    "?",
                    "00:00:00",
                    "sleep 1002"
                ],
                [
                    "root",
                    "3675",
                    "3652",
                    "0",
                    "03:47",
                    "?",
                    "00:00:00",
                    "sleep 1000"
                ]
            ]
        );
        assert_eq!(
            table(&t, &rows),
            "UID                 PID                 PPID                C                   STIME               TTY                 TIME                CMD
root                3652                3627                16                  03:47               ?                   00:00:00            sleep 1002
root                3675                3652                0                   03:47               ?                   00:00:00            sleep 1000
"
        );
        let (_, none) = parse_ps(EF, &pids(&[])).unwrap();
        assert!(none.is_empty());
        assert_eq!(
            table(&["PID".into(), "TTY".into()], &[]),
            "PID                 TTY\n"
        );
    }

    #[test]
    fn wide_cells_and_threads() {
        let out = "  PID   LWP CMD\n  10    - a\n    -    11 thr\n   12    - b\n    -    13 thr2\n";
        let (t, rows) = parse_ps(out, &pids(&[10])).unwrap();
        assert_eq!(t, ["PID", "LWP", "CMD"]);
        assert_eq!(rows, [["10", "-", "a"], ["-", "11", "thr"]]);
        let long = "x".repeat(25);
        let s = table(
            &["A".into(), "B".into()],
            &[vec![long.clone(), "é".into()], vec!["ü".into(), "z".into()]],
        );
        assert_eq!(
            s,
            format!("A{}B\n{long}   é\nü{}z\n", " ".repeat(27), " ".repeat(27))
        );
        // A row with fewer fields than titles, and one too short for PID.
        let (_, rows) = parse_ps("A PID B C\nx 10\ny\n", &pids(&[10])).unwrap();
        assert_eq!(rows, [["x", "10", ""]]);
    }

    #[test]
    fn ps_output_docker_refuses() {
        let e = |out: &str| parse_ps(out, &pids(&[1])).unwrap_err().to_string();
        assert_eq!(
            e("COMMAND\nsleep\n"),
            "Couldn't find PID field in ps output"
        );
        assert_eq!(e(""), "Couldn't find PID field in ps output");
        assert_eq!(
            e("PID\nsleep\n"),
            "Unexpected pid 'sleep': strconv.Atoi: parsing \"sleep\": invalid syntax"
        );
        assert_eq!(
            e("PID\n99999999999999999999\n"),
            "Unexpected pid '99999999999999999999': strconv.Atoi: parsing \"99999999999999999999\": value out of range"
        );
        assert_eq!(
            e("PID\n+\n"),
            "Unexpected pid '+': strconv.Atoi: parsing \"+\": invalid syntax"
        );
        // The field as it is, then quoted as Go's NumError quotes it.
        assert_eq!(
            e("PID\na\"\\\u{a0}\n"),
            "Unexpected pid 'a\"\\\u{a0}': strconv.Atoi: parsing \"a\\\"\\\\\\u00a0\": invalid syntax"
        );
        let (_, rows) = parse_ps("PID\n+1\n-1\n", &pids(&[1])).unwrap();
        assert_eq!(rows, [["+1"]]);
        // PID is the first column titled so, found anywhere.
        let (_, rows) = parse_ps("X PID PID\na 1 2\n", &pids(&[1])).unwrap();
        assert_eq!(rows, [["a", "1", "2"]]);
        // Only ASCII whitespace separates fields.
        assert!(matches!(
            parse_ps("PID\u{a0}X CMD\n1\u{a0}y z\n", &pids(&[1])),
            Err(TopError::NoPid)
        ));
        let (t, rows) = parse_ps("X\tPID\r\n a\x0c1 z\r\n", &pids(&[1])).unwrap();
        assert_eq!(
            (t, rows),
            (
                vec!["X".into(), "PID".into()],
                vec![vec!["a".to_string(), "1 z".into()]]
            )
        );
    }
}
