//! Pure parsers for what a user types: environment variables, env files,
//! user specs, hostnames, volumes, tmpfs mounts, capabilities.
//!
//! Nothing here makes a syscall: every function takes text (and, where the
//! answer depends on files, their contents) and returns a typed value or a
//! `SpecError` naming the offending input, so that it can be unit-tested and
//! fuzzed on its own. Commands, env values and paths are bytes
//! (`OsStr`, `Path`): only what rrun itself must read (keys, options)
//! has to be UTF-8.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use caps::{Capability, CapsHashSet};

use crate::bytes;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("invalid environment variable {0:?}: the name is empty")]
    EnvEmptyKey(OsString),
    #[error(
        "invalid environment variable {0:?}: the name contains whitespace, a control character, '=', '#' or NUL, starts with '-', or is longer than 255 characters"
    )]
    EnvBadKey(OsString),
    #[error("invalid environment variable {0:?}: the name is not valid UTF-8")]
    EnvKeyNotUtf8(OsString),
    #[error("invalid environment variable {0:?}: the value contains a newline or NUL")]
    EnvBadValue(OsString),
    #[error("env file {file}, line {line}: {err}")]
    EnvFile {
        file: String,
        line: usize,
        err: Box<SpecError>,
    },
    #[error("invalid user {0:?}: unable to find user {1} in the rootfs's /etc/passwd")]
    UnknownUser(String, String),
    #[error("invalid user {0:?}: unable to find group {1} in the rootfs's /etc/group")]
    UnknownGroup(String, String),
    #[error("invalid user {0:?}")]
    BadUser(String),
    #[error("Unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    #[error("uids and gids must be in range 0-2147483647")]
    GroupRange(String),
    #[error(
        "invalid --dns-option {0:?}: use a resolver option (ndots:2, edns0, …), without spaces, '#', ';' or control characters"
    )]
    BadDnsOption(String),
    #[error(
        "invalid hostname {0:?}: use letters, digits, '-', '_' and '.', at most 63 characters a label and 253 in all"
    )]
    BadHostname(String),
    #[error(
        "invalid domainname {0:?}: use letters, digits, '-', '_' and '.', at most 63 characters a label and 64 in all"
    )]
    BadDomainname(String),
    #[error("invalid volume {0:?}: {1}")]
    BadVolume(OsString, &'static str),
    #[error("invalid tmpfs {0:?}: {1}")]
    BadTmpfs(OsString, String),
    #[error("unknown capability {0:?}")]
    BadCap(String),
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    BadName(String),
    #[error("Invalid container name ({0}): at most 128 characters are allowed")]
    LongName(String),
    #[error("invalid mount destination {0:?}: {1}")]
    BadDest(OsString, &'static str),
    #[error("poorly formatted environment: variable '{0}' contains whitespaces")]
    LabelFileKey(String),
    #[error("poorly formatted environment: no variable name on line '{0}'")]
    LabelFileNoKey(String),
    #[error("env file {file} contains invalid utf8 bytes at line {line}: [{}]", bytes.iter().map(u8::to_string).collect::<Vec<_>>().join(" "))]
    LabelFileUtf8 {
        file: String,
        line: usize,
        bytes: Vec<u8>,
    },
    #[error("bufio.Scanner: token too long")]
    LabelFileLongLine,
}

/// An environment variable, validated. The value is bytes, passed as
/// given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnvVar {
    pub key: String,
    #[serde(with = "crate::bytes::os")]
    pub value: OsString,
}

impl EnvVar {
    /// `K=V`, as execve and config.json take it.
    pub fn to_os(&self) -> OsString {
        bytes::join(OsStr::new(&self.key), b'=', &self.value)
    }

    /// A `K=V` that rrun wrote itself (config.json), split back.
    pub fn from_os(kv: &OsStr) -> Option<EnvVar> {
        let (k, v) = bytes::split_once(kv, b'=')?;
        Some(EnvVar {
            key: k.to_str()?.to_string(),
            value: v.to_os_string(),
        })
    }
}

fn check_key<'a>(raw: &OsStr, key: &'a OsStr) -> Result<&'a str, SpecError> {
    if key.is_empty() {
        return Err(SpecError::EnvEmptyKey(raw.to_os_string()));
    }
    let key = key
        .to_str()
        .ok_or_else(|| SpecError::EnvKeyNotUtf8(raw.to_os_string()))?;
    // Besides what cannot be an environment key at all ('=', NUL), what
    // no program expects in one and a shell script could misread (issue 7:
    // whitespace and control characters, '#', a leading '-', and over 255
    // characters).
    if key
        .chars()
        .any(|c| c == '=' || c == '#' || c.is_whitespace() || c.is_control())
        || key.starts_with('-')
        || key.len() > 255
    {
        return Err(SpecError::EnvBadKey(raw.to_os_string()));
    }
    Ok(key)
}

fn check_value(raw: &OsStr, value: &OsStr) -> Result<(), SpecError> {
    if value.as_bytes().iter().any(|&b| b == b'\n' || b == 0) {
        return Err(SpecError::EnvBadValue(raw.to_os_string()));
    }
    Ok(())
}

/// `-e K=V` or `-e K`. A bare `K` takes its value from `lookup` (the
/// caller's environment, bytes and all); when the caller has none the
/// variable is left out, as Docker does. Returns `None` in that case.
pub fn parse_env(
    raw: impl AsRef<OsStr>,
    lookup: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Option<EnvVar>, SpecError> {
    let raw = raw.as_ref();
    match bytes::split_once(raw, b'=') {
        Some((key, value)) => {
            let key = check_key(raw, key)?;
            check_value(raw, value)?;
            Ok(Some(EnvVar {
                key: key.to_string(),
                value: value.to_os_string(),
            }))
        }
        None => {
            let key = check_key(raw, raw)?;
            match lookup(key) {
                Some(value) => {
                    check_value(raw, &value)?;
                    Ok(Some(EnvVar {
                        key: key.to_string(),
                        value,
                    }))
                }
                None => Ok(None),
            }
        }
    }
}

/// The contents of an `--env-file`: one `K=V` or `K` a line; blank lines and
/// lines starting with `#` are skipped; values are taken as they are (no
/// quote removal, as Docker).
pub fn parse_env_file(
    name: &str,
    text: &[u8],
    lookup: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Vec<EnvVar>, SpecError> {
    let mut out = Vec::new();
    // Lines as str::lines cuts them: at '\n', one '\r' before it dropped.
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for (i, mut line) in lines.into_iter().enumerate() {
        while let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        let trimmed = trim_start_whitespace(line);
        if trimmed.is_empty() || trimmed.starts_with(b"#") {
            continue;
        }
        match parse_env(OsStr::from_bytes(trimmed), lookup) {
            Ok(Some(v)) => out.push(v),
            Ok(None) => {}
            Err(e) => {
                return Err(SpecError::EnvFile {
                    file: name.to_string(),
                    line: i + 1,
                    err: Box::new(e),
                });
            }
        }
    }
    Ok(out)
}

/// `b` without its leading Unicode whitespace (as far as it is UTF-8).
fn trim_start_whitespace(b: &[u8]) -> &[u8] {
    let valid = match std::str::from_utf8(b) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or_default(),
    };
    &b[valid.len() - valid.trim_start().len()..]
}

/// Merge `vars` into `env`: a later value for the same key replaces the
/// earlier one in place, so defaults keep their position.
pub fn merge_env(env: &mut Vec<EnvVar>, vars: impl IntoIterator<Item = EnvVar>) {
    for v in vars {
        if let Some(slot) = env.iter_mut().find(|e| e.key == v.key) {
            slot.value = v.value;
        } else {
            env.push(v);
        }
    }
}

/// One entry of an /etc/passwd file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// One entry of an /etc/group file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parse /etc/passwd text; malformed lines are skipped, as libc does.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

/// Parse /etc/group text; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 || f[0].is_empty() {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// The identity a container process runs as.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

/// Resolve `-u USER[:GROUP]` (names or numbers) against the rootfs's passwd
/// and group files. Without `-u` the spec is "0". Docker's rules: a numeric
/// uid need not exist; its gid is then 0 and HOME is "/". The groups the
/// process holds start with its gid; without an explicit GROUP, those
/// listing the user's name (found by name or by uid) follow.
pub fn resolve_user(
    spec: &str,
    passwd: &[PasswdEntry],
    group: &[GroupEntry],
) -> Result<User, SpecError> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if u.is_empty() || g == Some("") {
        return Err(SpecError::BadUser(spec.to_string()));
    }
    let entry = match u.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|p| p.uid == uid).cloned(),
        Err(_) => {
            if !valid_user_name(u) {
                return Err(SpecError::BadUser(spec.to_string()));
            }
            Some(
                passwd
                    .iter()
                    .find(|p| p.name == u)
                    .cloned()
                    .ok_or_else(|| SpecError::UnknownUser(spec.to_string(), u.to_string()))?,
            )
        }
    };
    let uid = match &entry {
        Some(e) => e.uid,
        None => u
            .parse::<u32>()
            .map_err(|_| SpecError::BadUser(spec.to_string()))?,
    };
    if uid == u32::MAX {
        return Err(SpecError::BadUser(spec.to_string()));
    }
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) if gid != u32::MAX => gid,
            Ok(_) => return Err(SpecError::BadUser(spec.to_string())),
            Err(_) => {
                if !valid_user_name(g) {
                    return Err(SpecError::BadUser(spec.to_string()));
                }
                group
                    .iter()
                    .find(|e| e.name == g)
                    .map(|e| e.gid)
                    .ok_or_else(|| SpecError::UnknownGroup(spec.to_string(), g.to_string()))?
            }
        },
        None => entry.as_ref().map(|e| e.gid).unwrap_or(0),
    };
    let mut groups = vec![gid];
    if let (Some(e), None) = (&entry, g) {
        for gr in group {
            if gr.members.iter().any(|m| m == &e.name) && !groups.contains(&gr.gid) {
                groups.push(gr.gid);
            }
        }
    }
    let home = entry
        .as_ref()
        .map(|e| e.home.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string());
    Ok(User {
        uid,
        gid,
        groups,
        home,
    })
}

/// The largest id `--group-add` takes, as Docker's.
pub const MAX_GROUP_ADD: u32 = 2_147_483_647;

/// `--group-add` values: group names from the rootfs's /etc/group, or
/// numbers (a name is looked up first), added to `user`'s groups once each.
pub fn add_groups(user: &mut User, add: &[String], group: &[GroupEntry]) -> Result<(), SpecError> {
    for a in add {
        let gid = match group.iter().find(|e| e.name == *a) {
            Some(e) => e.gid,
            None => match a.parse::<u64>() {
                Ok(n) if n <= MAX_GROUP_ADD as u64 => n as u32,
                Ok(_) => return Err(SpecError::GroupRange(a.clone())),
                Err(_) => return Err(SpecError::NoGroup(a.clone())),
            },
        };
        if !user.groups.contains(&gid) {
            user.groups.push(gid);
        }
    }
    Ok(())
}

fn valid_user_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'))
}

/// A hostname: labels of letters, digits, '-' and '_' separated by dots,
/// none empty, none starting or ending with '-', at most 63 characters a
/// label and 253 in all (the kernel's limit is 64; we hold to DNS's 63 for
/// the first label, and the whole must fit in 64 bytes).
pub fn validate_hostname(s: &str) -> Result<(), SpecError> {
    let bad = || SpecError::BadHostname(s.to_string());
    if s.is_empty() || s.len() > 64 {
        return Err(bad());
    }
    for label in s.split('.') {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad());
        }
    }
    Ok(())
}

/// A --domainname: a hostname's rules (the kernel keeps 64 bytes).
pub fn validate_domainname(s: &str) -> Result<(), SpecError> {
    validate_hostname(s).map_err(|_| SpecError::BadDomainname(s.to_string()))
}

/// A container name, as Docker's `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`: two
/// characters at least, at most 128. A leading '/' is accepted and
/// dropped, as Docker does.
pub fn validate_name(raw: &str) -> Result<String, SpecError> {
    let n = validate_alias(raw)?;
    if n.len() < 2 {
        return Err(SpecError::BadName(raw.to_string()));
    }
    Ok(n)
}

/// `s` in the characters of a DNS label (and of a default image name):
/// lower-case letters and digits, every other run of characters one `-`,
/// none leading. The caller cuts it to its length and trims a trailing `-`.
pub fn label_chars(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out
}

/// A --link target or alias: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128
/// characters, one character too (Docker takes `--link db:x`). A leading
/// '/' is accepted and dropped.
pub fn validate_alias(raw: &str) -> Result<String, SpecError> {
    let n = raw.strip_prefix('/').unwrap_or(raw);
    let mut chars = n.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(SpecError::BadName(raw.to_string()));
    }
    if n.len() > 128 {
        return Err(SpecError::LongName(raw.to_string()));
    }
    Ok(n.to_string())
}

/// A `--dns-option` (`--dns-opt`): one word of resolv.conf's `options`
/// line. Docker writes whatever it is given; rrun takes what cannot break
/// the file: no whitespace, control characters, '#' or ';'.
pub fn validate_dns_option(raw: &str) -> Result<(), SpecError> {
    if raw.is_empty()
        || raw.len() > 255
        || raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == ';')
    {
        return Err(SpecError::BadDnsOption(raw.to_string()));
    }
    Ok(())
}

/// A path inside the container: absolute, normalised, never climbing out
/// with "..". Any byte but NUL may be in it.
pub fn container_path(raw: impl AsRef<OsStr>) -> Result<PathBuf, SpecError> {
    let raw = raw.as_ref();
    let bad = |why| SpecError::BadDest(raw.to_os_string(), why);
    let b = raw.as_bytes();
    if !b.starts_with(b"/") {
        return Err(bad("it must be an absolute path"));
    }
    if b.contains(&0) {
        return Err(bad("it contains NUL"));
    }
    let mut out = Vec::with_capacity(b.len());
    for c in b.split(|&c| c == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(bad(
                    "'..' is not allowed: it could point outside the rootfs",
                ));
            }
            c => {
                out.push(b'/');
                out.extend_from_slice(c);
            }
        }
    }
    if out.is_empty() {
        return Err(bad("it cannot be the root"));
    }
    Ok(PathBuf::from(OsString::from_vec(out)))
}

/// runc's rule: nothing may be mounted at or under /proc (a bind there
/// could hide or replace what the masks protect) but the files lxcfs
/// serves.
fn proc_dest_allowed(dst: &Path) -> bool {
    const LXCFS: &[&str] = &[
        "/proc/cpuinfo",
        "/proc/diskstats",
        "/proc/meminfo",
        "/proc/stat",
        "/proc/swaps",
        "/proc/uptime",
        "/proc/loadavg",
        "/proc/slabinfo",
    ];
    let dst = dst.as_os_str().as_bytes();
    !(dst == b"/proc" || dst.starts_with(b"/proc/")) || LXCFS.iter().any(|l| l.as_bytes() == dst)
}

/// `-v SRC:DST[:ro|rw]`. Both paths are bytes, as given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Volume {
    #[serde(with = "crate::bytes::path")]
    pub src: PathBuf,
    #[serde(with = "crate::bytes::path")]
    pub dst: PathBuf,
    pub readonly: bool,
}

pub fn parse_volume(raw: impl AsRef<OsStr>) -> Result<Volume, SpecError> {
    let raw = raw.as_ref();
    let bad = |why| SpecError::BadVolume(raw.to_os_string(), why);
    let parts: Vec<&[u8]> = raw.as_bytes().split(|&c| c == b':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, &b""[..]),
        [s, d, o] => (*s, *d, *o),
        _ => return Err(bad("expected SRC:DST[:ro]")),
    };
    if src.is_empty() || !src.starts_with(b"/") {
        return Err(bad("the source must be an absolute host path"));
    }
    if src.contains(&0) {
        return Err(bad("the source contains NUL"));
    }
    let dst = container_path(OsStr::from_bytes(dst)).map_err(|_| {
        bad("the destination must be an absolute path inside the rootfs, without '..'")
    })?;
    if !proc_dest_allowed(&dst) {
        return Err(bad(
            "rrun mounts /proc itself; only lxcfs's files (/proc/cpuinfo, /proc/meminfo, …) may be bound over it",
        ));
    }
    let mut readonly = false;
    for o in opts.split(|&c| c == b',').filter(|o| !o.is_empty()) {
        match o {
            b"ro" => readonly = true,
            b"rw" => readonly = false,
            _ => return Err(bad("options are ro or rw")),
        }
    }
    Ok(Volume {
        src: PathBuf::from(OsStr::from_bytes(src)),
        dst,
        readonly,
    })
}

/// `--tmpfs DST[:OPTIONS]`: mount flags split from the data string the
/// kernel's tmpfs understands. The destination is bytes; the options are
/// rrun's to read, so UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tmpfs {
    #[serde(with = "crate::bytes::path")]
    pub dst: PathBuf,
    pub readonly: bool,
    pub noexec: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub data: String,
}

pub fn parse_tmpfs(raw_os: impl AsRef<OsStr>) -> Result<Tmpfs, SpecError> {
    let raw_os = raw_os.as_ref();
    let bad = |why: String| SpecError::BadTmpfs(raw_os.to_os_string(), why);
    let (dst, opts) = bytes::split_once(raw_os, b':').unwrap_or((raw_os, OsStr::new("")));
    let dst = container_path(dst).map_err(|e| bad(e.to_string()))?;
    if dst.starts_with("/proc") {
        return Err(bad("rrun mounts /proc itself".into()));
    }
    let opts = opts
        .to_str()
        .ok_or_else(|| bad("the options are not valid UTF-8".into()))?;
    // Docker's defaults for --tmpfs.
    let mut t = Tmpfs {
        dst,
        readonly: false,
        noexec: true,
        nosuid: true,
        nodev: true,
        data: String::new(),
    };
    let mut data = Vec::new();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => t.readonly = true,
            "rw" => t.readonly = false,
            "exec" => t.noexec = false,
            "noexec" => t.noexec = true,
            "suid" => t.nosuid = false,
            "nosuid" => t.nosuid = true,
            "dev" => t.nodev = false,
            "nodev" => t.nodev = true,
            _ => {
                let (k, v) = o
                    .split_once('=')
                    .ok_or_else(|| bad(format!("unknown option {o:?}")))?;
                let ok = match k {
                    "size" => valid_size(v),
                    "mode" => {
                        v.len() <= 4 && !v.is_empty() && v.chars().all(|c| ('0'..='7').contains(&c))
                    }
                    "nr_inodes" => valid_size(v),
                    "uid" | "gid" => v.parse::<u32>().is_ok(),
                    _ => false,
                };
                if !ok {
                    return Err(bad(format!(
                        "unknown or invalid option {o:?} (size=, mode=, nr_inodes=, uid=, gid=, ro, exec, suid, dev)"
                    )));
                }
                data.push(o.to_string());
            }
        }
    }
    t.data = data.join(",");
    Ok(t)
}

/// A size as tmpfs takes it: digits with an optional k, m, g or % suffix.
fn valid_size(v: &str) -> bool {
    let digits = v.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G', '%']);
    !digits.is_empty() && digits.len() + 1 >= v.len() && digits.chars().all(|c| c.is_ascii_digit())
}

/// A set of capabilities as a bit mask by kernel number, the form a
/// container's record keeps: `1 << Capability::index()` for each.
pub const fn cap_mask(caps: &[Capability]) -> u64 {
    let mut mask = 0;
    let mut i = 0;
    while i < caps.len() {
        mask |= 1u64 << caps[i] as u8;
        i += 1;
    }
    mask
}

/// Docker's default capability set.
pub const DEFAULT_CAPS: u64 = cap_mask(&[
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FOWNER,
    Capability::CAP_FSETID,
    Capability::CAP_KILL,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_NET_RAW,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_MKNOD,
    Capability::CAP_AUDIT_WRITE,
    Capability::CAP_SETFCAP,
]);

/// Every capability this build knows (the `caps` crate's list), as a mask.
pub fn all_caps() -> u64 {
    caps::all().iter().fold(0, |m, c| m | c.bitmask())
}

/// The capabilities of a mask that this build knows, as `caps` takes them.
pub fn cap_set(mask: u64) -> CapsHashSet {
    caps::all()
        .into_iter()
        .filter(|c| mask & c.bitmask() != 0)
        .collect()
}

/// A capability name (`NET_ADMIN`, `cap_net_admin`, or `ALL`) as a mask.
pub fn parse_cap(raw: &str) -> Result<u64, SpecError> {
    let up = raw.to_ascii_uppercase();
    let bare = up.strip_prefix("CAP_").unwrap_or(&up);
    if bare == "ALL" {
        return Ok(all_caps());
    }
    format!("CAP_{bare}")
        .parse::<Capability>()
        .map(|c| c.bitmask())
        .map_err(|_| SpecError::BadCap(raw.to_string()))
}

/// The default set with `--cap-add` and `--cap-drop` applied; as Docker,
/// drops are applied first, so `--cap-drop ALL --cap-add X` leaves X.
pub fn effective_caps(add: &[String], drop: &[String]) -> Result<u64, SpecError> {
    let mut set = DEFAULT_CAPS;
    for d in drop {
        set &= !parse_cap(d)?;
    }
    for a in add {
        set |= parse_cap(a)?;
    }
    Ok(set)
}

/// `-l, --label KEY[=VALUE]` as Docker's CLI checks it: a key, without
/// blanks, once leading ones are dropped (the value is kept as given,
/// leading blanks of the key too).
pub fn parse_label_flag(raw: &str) -> Result<String, crate::flag::FlagError> {
    let key = raw.split('=').next().unwrap_or_default();
    let key = key.trim_start_matches([' ', '\t']);
    let why = if key.is_empty() {
        format!("invalid label '{raw}': empty name")
    } else if key.contains([' ', '\t']) {
        format!("label '{key}' contains whitespaces")
    } else {
        return Ok(raw.to_string());
    };
    Err(crate::flag::FlagError {
        flag: "-l, --label",
        value: raw.to_string(),
        why,
    })
}

/// The longest line Go's bufio.Scanner reads (Docker's CLI reads label
/// files with it).
const SCANNER_MAX: usize = 64 * 1024;

/// A `--label-file`'s `KEY=VALUE` lines, as Docker's CLI reads them: a
/// UTF-8 BOM and leading whitespace dropped, blank lines, `#` comments and
/// lines without `=` skipped, the value kept as it is (but for the `\r`
/// of a CRLF line end).
pub fn parse_label_file(name: &str, text: &[u8]) -> Result<Vec<String>, SpecError> {
    let mut out = Vec::new();
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for (i, line) in lines.into_iter().enumerate() {
        if line.len() >= SCANNER_MAX {
            return Err(SpecError::LabelFileLongLine);
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut s = std::str::from_utf8(line).map_err(|_| SpecError::LabelFileUtf8 {
            file: name.to_string(),
            line: i + 1,
            bytes: line.to_vec(),
        })?;
        if i == 0 {
            s = s.strip_prefix('\u{feff}').unwrap_or(s);
        }
        let s = s.trim_start();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        let (key, value) = match s.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (s, None),
        };
        if key.contains([' ', '\t']) {
            return Err(SpecError::LabelFileKey(key.to_string()));
        }
        if key.is_empty() {
            return Err(SpecError::LabelFileNoKey(s.to_string()));
        }
        // A key alone is dropped (Docker's CLI looks it up nowhere).
        if let Some(value) = value {
            out.push(format!("{key}={value}"));
        }
    }
    Ok(out)
}

/// Labels from `KEY[=VALUE]` strings, a later one replacing an earlier
/// one (files first, then flags, as Docker's CLI orders them).
pub fn labels_map<'a>(
    kvs: impl IntoIterator<Item = &'a String>,
) -> std::collections::BTreeMap<String, String> {
    kvs.into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<OsString> {
        None
    }

    fn os(b: &[u8]) -> OsString {
        OsString::from_vec(b.to_vec())
    }

    fn kv(v: &[EnvVar]) -> Vec<String> {
        v.iter()
            .map(|e| e.to_os().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn env_forms() {
        let look = |k: &str| match k {
            "B" => Some(OsString::from("2")),
            "L" => Some(os(b"caf\xe9")),
            _ => None,
        };
        assert_eq!(
            parse_env("A=1", &look).unwrap(),
            Some(EnvVar {
                key: "A".into(),
                value: "1".into()
            })
        );
        assert_eq!(parse_env("A==x", &look).unwrap().unwrap().value, "=x");
        assert_eq!(parse_env("A=", &look).unwrap().unwrap().value, "");
        assert_eq!(parse_env("B", &look).unwrap().unwrap().value, "2");
        assert_eq!(parse_env("C", &look).unwrap(), None);
        assert!(matches!(
            parse_env("=x", &look),
            Err(SpecError::EnvEmptyKey(_))
        ));
        assert!(matches!(
            parse_env("", &look),
            Err(SpecError::EnvEmptyKey(_))
        ));
        assert!(matches!(
            parse_env("A B=1", &look),
            Err(SpecError::EnvBadKey(_))
        ));
        assert!(matches!(
            parse_env("A\0=1", &look),
            Err(SpecError::EnvBadKey(_))
        ));
        assert!(matches!(
            parse_env("A=x\ny", &look),
            Err(SpecError::EnvBadValue(_))
        ));
        // Anything but NUL and newline passes as it is, bytes too.
        assert_eq!(
            parse_env("A= $x 'q' #;\t", &look).unwrap().unwrap().value,
            " $x 'q' #;\t"
        );
        assert_eq!(
            parse_env(os(b"A=caf\xe9\xff"), &look)
                .unwrap()
                .unwrap()
                .value,
            os(b"caf\xe9\xff")
        );
        assert_eq!(
            parse_env("L", &look).unwrap().unwrap().value,
            os(b"caf\xe9")
        );
        assert!(matches!(
            parse_env(os(b"A=\xe9\n"), &look),
            Err(SpecError::EnvBadValue(_))
        ));
        // A key is rrun's to read: UTF-8 only, said with the byte escaped.
        let e = parse_env(os(b"caf\xe9=1"), &look).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid environment variable "caf\xE9=1": the name is not valid UTF-8"#
        );
        assert!(matches!(
            parse_env(os(b"\xe9"), &look),
            Err(SpecError::EnvKeyNotUtf8(_))
        ));
        let v = EnvVar {
            key: "K".into(),
            value: os(b"=\xe9="),
        };
        assert_eq!(v.to_os(), os(b"K==\xe9="));
        assert_eq!(EnvVar::from_os(&v.to_os()), Some(v));
        assert_eq!(EnvVar::from_os(OsStr::new("K")), None);
        assert_eq!(EnvVar::from_os(&os(b"\xe9=1")), None);
    }

    #[test]
    fn env_file() {
        let look = |k: &str| (k == "H").then(|| OsString::from("h"));
        let v = parse_env_file(
            "f",
            b"# c\n\nX=1\n  Y=two words\nH\nZ\r\n\t\xc2\xa0W=\xe9\r\r\n#\xff\n",
            &look,
        )
        .unwrap();
        assert_eq!(kv(&v), ["X=1", "Y=two words", "H=h", "W=\u{fffd}"]);
        assert_eq!(v[3].value, os(b"\xe9"));
        let e = parse_env_file("f", b"A=1\n=2\n", &none).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse_env_file("f", b"A=1\n\n\xff=2", &none).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"env file f, line 3: invalid environment variable "\xFF=2": the name is not valid UTF-8"#
        );
        assert_eq!(parse_env_file("f", b"", &none).unwrap(), []);
        assert_eq!(trim_start_whitespace(b" \t\xe9 x"), b"\xe9 x");
        assert_eq!(trim_start_whitespace("\u{2028}x".as_bytes()), b"x");
        assert_eq!(trim_start_whitespace(b"  "), b"");
    }

    #[test]
    fn merge_keeps_position() {
        let mut env = vec![
            EnvVar {
                key: "PATH".into(),
                value: "/bin".into(),
            },
            EnvVar {
                key: "A".into(),
                value: "1".into(),
            },
        ];
        merge_env(
            &mut env,
            [
                EnvVar {
                    key: "PATH".into(),
                    value: "/x".into(),
                },
                EnvVar {
                    key: "B".into(),
                    value: "2".into(),
                },
            ],
        );
        assert_eq!(kv(&env), ["PATH=/x", "A=1", "B=2"]);
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nbroken\nnohome:x:7:8:::/bin/sh\n";
    const GROUP: &str = "root:x:0:\ntty:x:5:app\napp:x:1000:\nstaff:x:50:app,other\n";

    #[test]
    fn users() {
        let p = parse_passwd(PASSWD);
        let g = parse_group(GROUP);
        assert_eq!(p.len(), 3);
        let root = resolve_user("0", &p, &g).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        let app = resolve_user("app", &p, &g).unwrap();
        assert_eq!(
            (app.uid, app.gid, app.home.as_str()),
            (1000, 1000, "/home/app")
        );
        assert_eq!(app.groups, vec![1000, 5, 50]);
        // Found by uid: the same groups.
        assert_eq!(
            resolve_user("1000", &p, &g).unwrap().groups,
            vec![1000, 5, 50]
        );
        // An explicit group: that group alone, as Docker (runc) does.
        let n = resolve_user("1000:1000", &p, &g).unwrap();
        assert_eq!((n.uid, n.gid), (1000, 1000));
        assert_eq!(n.groups, vec![1000]);
        assert_eq!(resolve_user("app:5", &p, &g).unwrap().groups, vec![5]);
        assert_eq!(root.groups, vec![0]);
        let unknown = resolve_user("4242", &p, &g).unwrap();
        assert_eq!(
            (unknown.uid, unknown.gid, unknown.home.as_str()),
            (4242, 0, "/")
        );
        assert_eq!(unknown.groups, vec![0]);
        let ng = resolve_user("app:staff", &p, &g).unwrap();
        assert_eq!(ng.gid, 50);
        assert_eq!(resolve_user("nohome", &p, &g).unwrap().home, "/");
        assert!(matches!(
            resolve_user("nosuch", &p, &g),
            Err(SpecError::UnknownUser(..))
        ));
        assert!(matches!(
            resolve_user("app:nosuch", &p, &g),
            Err(SpecError::UnknownGroup(..))
        ));
        assert!(matches!(
            resolve_user("", &p, &g),
            Err(SpecError::BadUser(..))
        ));
        assert!(matches!(
            resolve_user("1:", &p, &g),
            Err(SpecError::BadUser(..))
        ));
        assert!(matches!(
            resolve_user("4294967295", &p, &g),
            Err(SpecError::BadUser(..))
        ));
        assert!(matches!(
            resolve_user("a b", &p, &g),
            Err(SpecError::BadUser(..))
        ));
    }

    #[test]
    fn group_add() {
        let p = parse_passwd(PASSWD);
        let g = parse_group(GROUP);
        let add = |spec: &str, a: &[&str]| {
            let mut u = resolve_user(spec, &p, &g).unwrap();
            let a: Vec<String> = a.iter().map(|s| s.to_string()).collect();
            add_groups(&mut u, &a, &g).map(|()| u.groups)
        };
        // Names from /etc/group, numbers as they are, each group once.
        assert_eq!(add("app", &["staff", "7"]), Ok(vec![1000, 5, 50, 7]));
        assert_eq!(add("1000:1000", &["tty"]), Ok(vec![1000, 5]));
        assert_eq!(add("0", &["1000", "0", "99999"]), Ok(vec![0, 1000, 99999]));
        assert_eq!(add("0", &["5", "5"]), Ok(vec![0, 5]));
        assert_eq!(add("0", &["2147483647"]), Ok(vec![0, 2147483647]));
        assert_eq!(add("0", &[]), Ok(vec![0]));
        // A name is looked up before a number.
        let g2 = parse_group("seven:x:77:\n7:x:70:\n");
        let mut u = resolve_user("0", &p, &g2).unwrap();
        add_groups(&mut u, &["7".into()], &g2).unwrap();
        assert_eq!(u.groups, vec![0, 70]);
        // Docker's errors, word for word.
        assert_eq!(
            add("0", &["nosuch"]).unwrap_err().to_string(),
            "Unable to find group nosuch: no matching entries in group file"
        );
        assert_eq!(
            add("0", &["4294967295"]).unwrap_err().to_string(),
            "uids and gids must be in range 0-2147483647"
        );
        assert!(matches!(
            add("0", &["2147483648"]),
            Err(SpecError::GroupRange(_))
        ));
        assert!(matches!(add("0", &[""]), Err(SpecError::NoGroup(_))));
        assert!(matches!(add("0", &["-1"]), Err(SpecError::NoGroup(_))));
    }

    #[test]
    fn dns_options_and_domainnames() {
        for ok in ["ndots:2", "edns0", "timeout:1", "attempts:5", "x"] {
            validate_dns_option(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "a b",
            "a\nb",
            "a#b",
            "a;b",
            "a\tb",
            "\u{7f}",
            &"a".repeat(256),
        ] {
            assert!(
                matches!(validate_dns_option(bad), Err(SpecError::BadDnsOption(_))),
                "{bad:?}"
            );
        }
        assert!(validate_dns_option(&"a".repeat(255)).is_ok());
        validate_domainname("corp.lan").unwrap();
        assert_eq!(
            validate_domainname("a b").unwrap_err(),
            SpecError::BadDomainname("a b".into())
        );
    }

    #[test]
    fn hostnames() {
        for ok in ["box", "a.b-c", "x_y", "abcdef012345", &"a".repeat(63)] {
            validate_hostname(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "bad host",
            "a#b",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a\nb",
            &"a".repeat(64),
            &"a.".repeat(40),
        ] {
            assert!(validate_hostname(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names() {
        assert_eq!(validate_name("db").unwrap(), "db");
        assert_eq!(validate_name("/ab").unwrap(), "ab");
        assert_eq!(validate_name("/web.1_a-b").unwrap(), "web.1_a-b");
        // Docker's ^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$: one character is not a
        // name (captured: "a", "1", "/a" refused).
        for bad in [
            "", "a", "1", "/a", "/", "bad name", "-x", "_x", ".x", "a/b", "a\nb", "é", "a#",
        ] {
            assert!(
                matches!(validate_name(bad), Err(SpecError::BadName(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            validate_name("a").unwrap_err().to_string(),
            "Invalid container name (a), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
        // A link alias may be one character (Docker takes --link db:x).
        assert_eq!(validate_alias("x").unwrap(), "x");
        assert_eq!(validate_alias("/x").unwrap(), "x");
        for bad in ["", "/", "-x", "a b"] {
            assert!(validate_alias(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            validate_alias(&"a".repeat(129)),
            Err(SpecError::LongName(_))
        ));
        assert!(matches!(
            validate_name(&"a".repeat(129)),
            Err(SpecError::LongName(_))
        ));
        assert!(validate_name(&"a".repeat(128)).is_ok());
        assert_eq!(
            validate_name("bad name").unwrap_err().to_string(),
            "Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
    }

    #[test]
    fn volumes() {
        let v = parse_volume("/src:/app:ro").unwrap();
        assert_eq!(
            (v.src.as_os_str(), v.dst.as_os_str(), v.readonly),
            (OsStr::new("/src"), OsStr::new("/app"), true)
        );
        assert_eq!(
            parse_volume("/s://data//x/").unwrap().dst,
            Path::new("/data/x")
        );
        assert!(!parse_volume("/s:/d:rw").unwrap().readonly);
        for bad in [
            "rel:/x",
            ":/x",
            "/s",
            "/s:rel",
            "/s:/",
            "/s:/../x",
            "/s:/a/../../x",
            "/s:/d:zz",
            "/s:/d:ro:x",
            "/s:/proc",
            "/s:/proc/sys",
            "/s://proc/./self",
        ] {
            assert!(parse_volume(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_volume("/s:/proc/meminfo").unwrap().dst,
            Path::new("/proc/meminfo")
        );
        assert_eq!(parse_volume("/s:/procx").unwrap().dst, Path::new("/procx"));
        // Paths are bytes, kept as given; options are not.
        let v = parse_volume(os(b"/s\xe9://d\xff/./x:ro")).unwrap();
        assert_eq!(v.src.as_os_str(), os(b"/s\xe9"));
        assert_eq!(v.dst.as_os_str(), os(b"/d\xff/x"));
        assert!(v.readonly);
        assert!(parse_volume(os(b"/s:/d:r\xe9")).is_err());
        let e = parse_volume(os(b"/s\xe9:rel")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(r#"invalid volume "/s\xE9:rel": "#),
            "{e}"
        );
        assert!(parse_tmpfs("/proc/x").is_err());
    }

    #[test]
    fn tmpfs() {
        let t = parse_tmpfs("/tmp").unwrap();
        assert_eq!(t.dst, Path::new("/tmp"));
        let t = parse_tmpfs(os(b"/t\xe9//x:size=1m")).unwrap();
        assert_eq!(t.dst.as_os_str(), os(b"/t\xe9/x"));
        assert_eq!(t.data, "size=1m");
        let e = parse_tmpfs(os(b"/t:size=1\xe9")).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid tmpfs "/t:size=1\xE9": the options are not valid UTF-8"#
        );
        assert!(parse_tmpfs("/proc").is_err() && parse_tmpfs("/procx").is_ok());
        assert_eq!(
            container_path(os(b"/a/\xe9/./")).unwrap().as_os_str(),
            os(b"/a/\xe9")
        );
        assert!(t.noexec && t.nosuid && t.nodev && !t.readonly);
        let t = parse_tmpfs("/run:size=1m,mode=1777,exec").unwrap();
        assert_eq!(t.data, "size=1m,mode=1777");
        assert!(!t.noexec);
        for bad in [
            "tmp",
            "/",
            "/x:size=",
            "/x:size=1q",
            "/x:mode=999",
            "/x:foo",
            "/x:foo=1",
            "/../x",
        ] {
            assert!(parse_tmpfs(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn caps() {
        assert_eq!(DEFAULT_CAPS, 0xa80425fb);
        assert_eq!(parse_cap("net_admin").unwrap(), 1 << 12);
        assert_eq!(parse_cap("CAP_SYS_ADMIN").unwrap(), 1 << 21);
        assert!(parse_cap("NOPE").is_err());
        assert_eq!(parse_cap("all").unwrap(), (1 << 41) - 1);
        assert_eq!(parse_cap("Cap_All").unwrap(), all_caps());
        assert_eq!(parse_cap("checkpoint_restore").unwrap(), 1 << 40);
        for bad in ["", "CAP_", "CAP_CAP_KILL", "KILL ", "kill,chown"] {
            assert_eq!(parse_cap(bad), Err(SpecError::BadCap(bad.into())));
        }
        let set = cap_set(DEFAULT_CAPS | 1 << 63);
        assert_eq!(set.len(), 14);
        assert!(set.contains(&Capability::CAP_SETFCAP));
        assert_eq!(cap_mask(&set.into_iter().collect::<Vec<_>>()), DEFAULT_CAPS);
        let s = effective_caps(&["SYS_ADMIN".into()], &["NET_RAW".into()]).unwrap();
        assert_eq!(s, (DEFAULT_CAPS & !(1 << 13)) | (1 << 21));
        assert_eq!(
            effective_caps(&["KILL".into()], &["ALL".into()]).unwrap(),
            1 << 5
        );
    }

    #[test]
    fn label_flags_as_docker() {
        assert_eq!(parse_label_flag("a=1").unwrap(), "a=1");
        assert_eq!(parse_label_flag("tier").unwrap(), "tier");
        assert_eq!(parse_label_flag(" f=1").unwrap(), " f=1");
        assert_eq!(parse_label_flag("a=x y=z").unwrap(), "a=x y=z");
        assert_eq!(
            parse_label_flag("=x").unwrap_err().to_string(),
            r#"invalid argument "=x" for "-l, --label" flag: invalid label '=x': empty name"#
        );
        assert_eq!(
            parse_label_flag(" \t=x").unwrap_err().why,
            "invalid label ' \t=x': empty name"
        );
        assert_eq!(
            parse_label_flag("a b=x").unwrap_err().to_string(),
            r#"invalid argument "a b=x" for "-l, --label" flag: label 'a b' contains whitespaces"#
        );
        assert_eq!(
            parse_label_flag("a\tb").unwrap_err().why,
            "label 'a\tb' contains whitespaces"
        );
        // Only blanks are refused: other whitespace is part of the key.
        assert!(parse_label_flag("a\u{a0}b=1").is_ok());
    }

    #[test]
    fn label_files_as_docker() {
        // Docker 20.10's reading of this file and these flags:
        // {" f":"1","a":"3","b":" spaced value ","c":"x=y","d":"4","e":"","z":""}
        let f1 = b"\xef\xbb\xbf a=1\n# c\n\nlone\nb= spaced value \nc=x=y\n  d=4\r\n";
        let f2 = b"a=2\nz=";
        let mut all = parse_label_file("lf1", f1).unwrap();
        assert_eq!(all, ["a=1", "b= spaced value ", "c=x=y", "d=4"]);
        all.extend(parse_label_file("lf2", f2).unwrap());
        all.extend(["a=3", "e", " f=1"].map(String::from));
        let m = labels_map(&all);
        let got: Vec<(&str, &str)> = m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                (" f", "1"),
                ("a", "3"),
                ("b", " spaced value "),
                ("c", "x=y"),
                ("d", "4"),
                ("e", ""),
                ("z", "")
            ]
        );
        let e = |t: &[u8]| parse_label_file("lf", t).unwrap_err().to_string();
        assert_eq!(
            e(b"x y=1\n"),
            "poorly formatted environment: variable 'x y' contains whitespaces"
        );
        assert_eq!(
            e(b"  d\t=4"),
            "poorly formatted environment: variable 'd\t' contains whitespaces"
        );
        assert_eq!(
            e(b"ok=1\n =v\n"),
            "poorly formatted environment: no variable name on line '=v'"
        );
        assert_eq!(
            e(b"ok=1\na=\xe9\r\n"),
            "env file lf contains invalid utf8 bytes at line 2: [97 61 233]"
        );
        // The BOM only opens the file.
        assert_eq!(
            parse_label_file("lf", b"a=1\n\xef\xbb\xbfb=2").unwrap(),
            ["a=1", "\u{feff}b=2"]
        );
        assert!(parse_label_file("lf", b"").unwrap().is_empty());
        assert_eq!(
            parse_label_file("lf", "\r\n\u{3000}k=v\r\r".as_bytes()).unwrap(),
            ["k=v\r"]
        );
        assert_eq!(
            e(b"lone word\n"),
            "poorly formatted environment: variable 'lone word' contains whitespaces"
        );
        // Go's scanner reads lines of up to 64 KiB.
        let long = |n: usize| {
            let mut t = b"k=".to_vec();
            t.resize(n, b'v');
            t.extend_from_slice(b"\nx=1\n");
            t
        };
        assert_eq!(
            parse_label_file("lf", &long(SCANNER_MAX - 1))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(e(&long(SCANNER_MAX)), "bufio.Scanner: token too long");
        assert_eq!(
            e(&long(SCANNER_MAX)[..SCANNER_MAX]),
            "bufio.Scanner: token too long"
        );
    }
}
