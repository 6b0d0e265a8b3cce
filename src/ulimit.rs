//! `--ulimit TYPE=SOFT[:HARD]`: Docker's resource-limit names, parsed and
//! checked as Docker's CLI does (with its error words), kept in the
//! record, and turned into the setrlimit(2) calls the container process
//! (and every `rrun exec` process) makes before it execs. Pure: the
//! caller passes the limits rrun holds where a check needs them.

use serde::{Deserialize, Serialize};

use crate::filter::{self, NumError};

/// One --ulimit, as the record keeps it and inspect shows it: -1 is
/// unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// Docker's names and the resources they set.
const NAMES: &[(&str, libc::__rlimit_resource_t)] = &[
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

/// Why a --ulimit value was refused: Docker's words after
/// `invalid argument "…" for "--ulimit" flag: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Why {
    #[error("invalid ulimit argument: {0}")]
    NoEquals(String),
    #[error("invalid ulimit type: {0}")]
    Type(String),
    #[error(transparent)]
    Number(NumError),
    #[error("too many limit value arguments - {0}, can only have up to two, `soft[:hard]`")]
    TooMany(String),
    #[error(
        "ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: {0}"
    )]
    SoftUnlimited(i64),
    #[error("ulimit soft limit must be less than or equal to hard limit: {0} > {1}")]
    SoftAbove(i64, i64),
    /// Docker passes these on to the kernel, which refuses them at start;
    /// rrun says so before anything is made.
    #[error("a limit is -1 (unlimited) or a number from 0: {0}")]
    Negative(i64),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UlimitError {
    #[error("invalid argument {} for \"--ulimit\" flag: {why}", crate::goquote::quote(.arg))]
    Invalid { arg: String, why: Why },
    /// The hard limit asked for is above the one rrun holds, and raising
    /// it needs CAP_SYS_RESOURCE (which no rootless process has).
    #[error(
        "--ulimit {name}={}: the hard limit {} is above rrun's own ({}), and only a process with CAP_SYS_RESOURCE may raise one{}",
        shown(*soft, *hard), limit_text(*hard), limit_text(*held),
        if *rootless { " (rootless: never; lower it, or raise the limit of the shell that runs rrun)" } else { "" }
    )]
    AboveHard {
        name: String,
        soft: i64,
        hard: i64,
        held: i64,
        rootless: bool,
    },
    #[error(
        "--ulimit nofile={}: the kernel allows at most {nr_open} open files (fs.nr_open)",
        shown(*soft, *hard)
    )]
    AboveNrOpen { soft: i64, hard: i64, nr_open: u64 },
}

fn shown(soft: i64, hard: i64) -> String {
    if soft == hard {
        soft.to_string()
    } else {
        format!("{soft}:{hard}")
    }
}

fn limit_text(v: i64) -> String {
    if v < 0 {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

/// Go's strconv.ParseInt(s, 10, 64); rrun also takes `unlimited` for -1.
fn parse_int(s: &str) -> Result<i64, Why> {
    if s == "unlimited" {
        return Ok(-1);
    }
    filter::parse_int(s, 10, "ParseInt").map_err(Why::Number)
}

fn parse_why(val: &str) -> Result<Ulimit, Why> {
    let (name, limits) = val
        .split_once('=')
        .ok_or_else(|| Why::NoEquals(val.to_string()))?;
    if !NAMES.iter().any(|(n, _)| *n == name) {
        return Err(Why::Type(name.to_string()));
    }
    let parts: Vec<&str> = limits.split(':').collect();
    // Docker reads the hard limit first: its error is the one shown.
    let (soft, hard) = match parts.as_slice() {
        [soft, hard] => {
            let hard = parse_int(hard)?;
            (parse_int(soft)?, hard)
        }
        [one] => {
            let v = parse_int(one)?;
            (v, v)
        }
        _ => return Err(Why::TooMany(limits.to_string())),
    };
    if hard != -1 {
        if soft == -1 {
            return Err(Why::SoftUnlimited(hard));
        }
        if soft > hard {
            return Err(Why::SoftAbove(soft, hard));
        }
    }
    if let Some(&bad) = [soft, hard].iter().find(|&&v| v < -1) {
        return Err(Why::Negative(bad));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// One `--ulimit` value.
pub fn parse(val: &str) -> Result<Ulimit, UlimitError> {
    parse_why(val).map_err(|why| UlimitError::Invalid {
        arg: val.to_string(),
        why,
    })
}

/// Every `--ulimit`: a later one for the same name replaces an earlier
/// one; sorted by name, as Docker shows them.
pub fn parse_all(vals: &[String]) -> Result<Vec<Ulimit>, UlimitError> {
    let mut out: Vec<Ulimit> = Vec::new();
    for v in vals {
        let u = parse(v)?;
        out.retain(|o| o.name != u.name);
        out.push(u);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A limit as setrlimit takes it: -1 is RLIM_INFINITY.
fn rlim(v: i64) -> libc::rlim_t {
    u64::try_from(v).unwrap_or(libc::RLIM_INFINITY)
}

/// A limit setrlimit reported, as the record writes it (-1: unlimited).
pub fn from_rlim(v: libc::rlim_t) -> i64 {
    if v == libc::RLIM_INFINITY {
        -1
    } else {
        i64::try_from(v).unwrap_or(-1)
    }
}

/// What the container process calls setrlimit with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: libc::__rlimit_resource_t,
    pub soft: libc::rlim_t,
    pub hard: libc::rlim_t,
}

impl Ulimit {
    /// The setrlimit call for this limit (the name was checked by
    /// `parse`; a record from elsewhere with an unknown one gives None).
    pub fn rlimit(&self) -> Option<Rlimit> {
        let resource = NAMES.iter().find(|(n, _)| *n == self.name)?.1;
        Some(Rlimit {
            resource,
            soft: rlim(self.soft),
            hard: rlim(self.hard),
        })
    }
}

/// Whether rrun can give these limits: none may raise a hard limit above
/// `held(resource)` (what rrun holds) unless `may_raise` (CAP_SYS_RESOURCE
/// in the initial user namespace), and nofile never goes above `nr_open`.
pub fn check(
    limits: &[Ulimit],
    held: impl Fn(libc::__rlimit_resource_t) -> Option<libc::rlim_t>,
    may_raise: bool,
    rootless: bool,
    nr_open: Option<u64>,
) -> Result<(), UlimitError> {
    for u in limits {
        let Some(r) = u.rlimit() else { continue };
        if r.resource == libc::RLIMIT_NOFILE
            && let Some(max) = nr_open
            && r.hard > max
        {
            return Err(UlimitError::AboveNrOpen {
                soft: u.soft,
                hard: u.hard,
                nr_open: max,
            });
        }
        if let Some(have) = held(r.resource)
            && r.hard > have
            && !may_raise
        {
            return Err(UlimitError::AboveHard {
                name: u.name.clone(),
                soft: u.soft,
                hard: u.hard,
                held: from_rlim(have),
                rootless,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: &str) -> String {
        parse(v).map(|u| format!("{u:?}")).unwrap_err().to_string()
    }

    fn ok(v: &str) -> (String, i64, i64) {
        let u = parse(v).unwrap();
        (u.name, u.soft, u.hard)
    }

    /// The texts Docker 20.10's CLI prints for these values.
    #[test]
    fn docker_texts() {
        let pre = |a: &str| format!("invalid argument \"{a}\" for \"--ulimit\" flag: ");
        for (arg, why) in [
            ("nofile", "invalid ulimit argument: nofile"),
            ("bogus=1", "invalid ulimit type: bogus"),
            ("NOFILE=10", "invalid ulimit type: NOFILE"),
            ("=1", "invalid ulimit type: "),
            (
                "nofile=abc",
                "strconv.ParseInt: parsing \"abc\": invalid syntax",
            ),
            ("nofile=", "strconv.ParseInt: parsing \"\": invalid syntax"),
            (
                "nofile=1:2:3",
                "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`",
            ),
            (
                "nofile=200:100",
                "ulimit soft limit must be less than or equal to hard limit: 200 > 100",
            ),
            (
                "nofile=-1:1",
                "ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 1",
            ),
            (
                "nofile=99999999999999999999",
                "strconv.ParseInt: parsing \"99999999999999999999\": value out of range",
            ),
            // The hard limit is read first.
            (
                "nofile=x:y",
                "strconv.ParseInt: parsing \"y\": invalid syntax",
            ),
            (
                "core=1:-",
                "strconv.ParseInt: parsing \"-\": invalid syntax",
            ),
            (
                "core=+:1",
                "strconv.ParseInt: parsing \"+\": invalid syntax",
            ),
            (
                "core=1_0",
                "strconv.ParseInt: parsing \"1_0\": invalid syntax",
            ),
            (
                "core= 1",
                "strconv.ParseInt: parsing \" 1\": invalid syntax",
            ),
            (
                "nofile=-2",
                "a limit is -1 (unlimited) or a number from 0: -2",
            ),
            (
                "nofile=-5:-1",
                "a limit is -1 (unlimited) or a number from 0: -5",
            ),
        ] {
            assert_eq!(err(arg), format!("{}{why}", pre(arg)), "{arg}");
        }
        assert_eq!(
            err("a\"b\n\t\\\u{1}\u{7f}\u{85}é=1"),
            "invalid argument \"a\\\"b\\n\\t\\\\\\x01\\x7f\\u0085é=1\" for \"--ulimit\" flag: invalid ulimit type: a\"b\n\t\\\u{1}\u{7f}\u{85}é"
        );
        assert_eq!(
            err("core=1\r"),
            "invalid argument \"core=1\\r\" for \"--ulimit\" flag: strconv.ParseInt: parsing \"1\\r\": invalid syntax"
        );
    }

    #[test]
    fn values() {
        assert_eq!(ok("nofile=100:200"), ("nofile".into(), 100, 200));
        assert_eq!(ok("nofile=100"), ("nofile".into(), 100, 100));
        assert_eq!(ok("core=-1"), ("core".into(), -1, -1));
        assert_eq!(ok("core=unlimited"), ("core".into(), -1, -1));
        assert_eq!(ok("core=0:unlimited"), ("core".into(), 0, -1));
        assert_eq!(ok("core=5:-1"), ("core".into(), 5, -1));
        assert_eq!(ok("cpu=+7"), ("cpu".into(), 7, 7));
        assert_eq!(ok("cpu=0:0"), ("cpu".into(), 0, 0));
        assert_eq!(ok("cpu=3:3"), ("cpu".into(), 3, 3));
        assert_eq!(
            ok("fsize=9223372036854775807"),
            ("fsize".into(), i64::MAX, i64::MAX)
        );
        assert_eq!(
            err("fsize=-9223372036854775808"),
            "invalid argument \"fsize=-9223372036854775808\" for \"--ulimit\" flag: a limit is -1 (unlimited) or a number from 0: -9223372036854775808"
        );
        for n in [
            "core",
            "cpu",
            "data",
            "fsize",
            "locks",
            "memlock",
            "msgqueue",
            "nice",
            "nofile",
            "nproc",
            "rss",
            "rtprio",
            "rttime",
            "sigpending",
            "stack",
        ] {
            let u = parse(&format!("{n}=1:2")).unwrap();
            let r = u.rlimit().unwrap();
            assert_eq!((r.soft, r.hard), (1, 2), "{n}");
        }
        assert!(parse("as=1").is_err(), "Docker leaves out `as`");
    }

    #[test]
    fn resources_and_infinity() {
        let r = |v: &str| parse(v).unwrap().rlimit().unwrap();
        assert_eq!(r("core=1").resource, libc::RLIMIT_CORE);
        assert_eq!(r("cpu=1").resource, libc::RLIMIT_CPU);
        assert_eq!(r("data=1").resource, libc::RLIMIT_DATA);
        assert_eq!(r("fsize=1").resource, libc::RLIMIT_FSIZE);
        assert_eq!(r("locks=1").resource, libc::RLIMIT_LOCKS);
        assert_eq!(r("memlock=1").resource, libc::RLIMIT_MEMLOCK);
        assert_eq!(r("msgqueue=1").resource, libc::RLIMIT_MSGQUEUE);
        assert_eq!(r("nice=1").resource, libc::RLIMIT_NICE);
        assert_eq!(r("nofile=1").resource, libc::RLIMIT_NOFILE);
        assert_eq!(r("nproc=1").resource, libc::RLIMIT_NPROC);
        assert_eq!(r("rss=1").resource, libc::RLIMIT_RSS);
        assert_eq!(r("rtprio=1").resource, libc::RLIMIT_RTPRIO);
        assert_eq!(r("rttime=1").resource, libc::RLIMIT_RTTIME);
        assert_eq!(r("sigpending=1").resource, libc::RLIMIT_SIGPENDING);
        assert_eq!(r("stack=1").resource, libc::RLIMIT_STACK);
        let inf = r("core=-1");
        assert_eq!(
            (inf.soft, inf.hard),
            (libc::RLIM_INFINITY, libc::RLIM_INFINITY)
        );
        let half = r("core=0:-1");
        assert_eq!((half.soft, half.hard), (0, libc::RLIM_INFINITY));
        assert_eq!(from_rlim(libc::RLIM_INFINITY), -1);
        assert_eq!(from_rlim(20000), 20000);
        assert_eq!(from_rlim(1 << 63), -1);
        let odd = Ulimit {
            name: "as".into(),
            soft: 1,
            hard: 1,
        };
        assert_eq!(odd.rlimit(), None);
    }

    #[test]
    fn repeated_and_sorted() {
        let v = |a: &[&str]| {
            parse_all(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap()
                .into_iter()
                .map(|u| format!("{}={}:{}", u.name, u.soft, u.hard))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            v(&["nproc=50", "nofile=100:200", "core=-1", "nofile=300:400"]),
            ["core=-1:-1", "nofile=300:400", "nproc=50:50"]
        );
        assert!(v(&[]).is_empty());
        assert!(parse_all(&["nofile=1".into(), "x=1".into()]).is_err());
    }

    #[test]
    fn raising_a_hard_limit() {
        let lims =
            |a: &[&str]| parse_all(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let held = |r: libc::__rlimit_resource_t| match r {
            libc::RLIMIT_NOFILE => Some(20000),
            libc::RLIMIT_CORE => Some(libc::RLIM_INFINITY),
            libc::RLIMIT_RTPRIO => Some(0),
            _ => None,
        };
        let nr = Some(1_048_576);
        // At or below what rrun holds: always.
        for l in [
            &["nofile=100:20000"][..],
            &["core=-1"],
            &["rtprio=0"],
            &["cpu=5"],
        ] {
            assert_eq!(check(&lims(l), held, false, true, nr), Ok(()), "{l:?}");
        }
        // Above: only with CAP_SYS_RESOURCE.
        let e = check(&lims(&["nofile=20001"]), held, false, false, nr).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--ulimit nofile=20001: the hard limit 20001 is above rrun's own (20000), and only a process with CAP_SYS_RESOURCE may raise one"
        );
        let e = check(&lims(&["nofile=10:-1"]), held, false, true, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--ulimit nofile=10:-1: the hard limit unlimited is above rrun's own (20000), and only a process with CAP_SYS_RESOURCE may raise one (rootless: never; lower it, or raise the limit of the shell that runs rrun)"
        );
        let e = check(&lims(&["rtprio=5"]), held, false, false, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--ulimit rtprio=5: the hard limit 5 is above rrun's own (0), and only a process with CAP_SYS_RESOURCE may raise one"
        );
        assert_eq!(
            check(&lims(&["rtprio=5", "nofile=30000"]), held, true, false, nr),
            Ok(())
        );
        // nofile's ceiling holds even with the capability.
        let e = check(&lims(&["nofile=2000000"]), held, true, false, nr).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--ulimit nofile=2000000: the kernel allows at most 1048576 open files (fs.nr_open)"
        );
        assert_eq!(
            check(&lims(&["nofile=1048576"]), held, true, false, nr),
            Ok(())
        );
        assert_eq!(
            check(&lims(&["nofile=2000000"]), held, true, false, None),
            Ok(())
        );
        let odd = [Ulimit {
            name: "as".into(),
            soft: 1,
            hard: 1,
        }];
        assert_eq!(check(&odd, held, false, true, nr), Ok(()));
    }
}
