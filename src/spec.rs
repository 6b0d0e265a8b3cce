//! Pure parsers for what a user types: environment variables, env files,
//! user specs, hostnames, volumes, tmpfs mounts, capabilities.
//!
//! Nothing here makes a syscall: every function takes text (and, where the
//! answer depends on files, their contents) and returns a typed value or a
//! `SpecError` naming the offending input, so that it can be unit-tested and
//! fuzzed on its own.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("invalid environment variable {0:?}: the name is empty")]
    EnvEmptyKey(String),
    #[error(
        "invalid environment variable {0:?}: the name contains whitespace, a control character, '=', '#' or NUL, starts with '-', or is longer than 255 characters"
    )]
    EnvBadKey(String),
    #[error("invalid environment variable {0:?}: the value contains a newline or NUL")]
    EnvBadValue(String),
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
    #[error(
        "invalid hostname {0:?}: use letters, digits, '-', '_' and '.', at most 63 characters a label and 253 in all"
    )]
    BadHostname(String),
    #[error("invalid volume {0:?}: {1}")]
    BadVolume(String, &'static str),
    #[error("invalid tmpfs {0:?}: {1}")]
    BadTmpfs(String, String),
    #[error("unknown capability {0:?}")]
    BadCap(String),
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    BadName(String),
    #[error("Invalid container name ({0}): at most 128 characters are allowed")]
    LongName(String),
    #[error("invalid mount destination {0:?}: {1}")]
    BadDest(String, &'static str),
}

/// An environment variable, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub key: String,
    pub value: String,
}

impl fmt::Display for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

fn check_key(raw: &str, key: &str) -> Result<(), SpecError> {
    if key.is_empty() {
        return Err(SpecError::EnvEmptyKey(raw.to_string()));
    }
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
        return Err(SpecError::EnvBadKey(raw.to_string()));
    }
    Ok(())
}

fn check_value(raw: &str, value: &str) -> Result<(), SpecError> {
    if value.contains('\n') || value.contains('\0') {
        return Err(SpecError::EnvBadValue(raw.to_string()));
    }
    Ok(())
}

/// `-e K=V` or `-e K`. A bare `K` takes its value from `lookup` (the
/// caller's environment); when the caller has none the variable is left
/// out, as Docker does. Returns `None` in that case.
pub fn parse_env(
    raw: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<EnvVar>, SpecError> {
    match raw.split_once('=') {
        Some((key, value)) => {
            check_key(raw, key)?;
            check_value(raw, value)?;
            Ok(Some(EnvVar {
                key: key.to_string(),
                value: value.to_string(),
            }))
        }
        None => {
            check_key(raw, raw)?;
            match lookup(raw) {
                Some(value) => {
                    check_value(raw, &value)?;
                    Ok(Some(EnvVar {
                        key: raw.to_string(),
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
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<EnvVar>, SpecError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        match parse_env(trimmed.trim_end_matches('\r'), lookup) {
            Ok(Some(v)) => out.push(v),
            Ok(None) => {}
            Err(e) => {
                let _ = line;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

/// Resolve `-u USER[:GROUP]` (names or numbers) against the rootfs's passwd
/// and group files. Without `-u` the spec is "0". Docker's rules: a numeric
/// uid need not exist; its gid is then 0 and HOME is "/"; supplementary
/// groups are those listing the user's name.
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
    let mut groups = Vec::new();
    if let Some(e) = &entry {
        for gr in group {
            if gr.members.iter().any(|m| m == &e.name) && gr.gid != gid && !groups.contains(&gr.gid)
            {
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

/// A container name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 characters.
/// A leading '/' is accepted and dropped, as Docker does.
pub fn validate_name(raw: &str) -> Result<String, SpecError> {
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

/// A path inside the container: absolute, normalised, never climbing out
/// with "..". Returns the components.
pub fn container_path(raw: &str) -> Result<String, SpecError> {
    if !raw.starts_with('/') {
        return Err(SpecError::BadDest(
            raw.to_string(),
            "it must be an absolute path",
        ));
    }
    if raw.contains('\0') {
        return Err(SpecError::BadDest(raw.to_string(), "it contains NUL"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(SpecError::BadDest(
                    raw.to_string(),
                    "'..' is not allowed: it could point outside the rootfs",
                ));
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(SpecError::BadDest(raw.to_string(), "it cannot be the root"));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// runc's rule: nothing may be mounted at or under /proc (a bind there
/// could hide or replace what the masks protect) but the files lxcfs
/// serves.
fn proc_dest_allowed(dst: &str) -> bool {
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
    !(dst == "/proc" || dst.starts_with("/proc/")) || LXCFS.contains(&dst)
}

/// `-v SRC:DST[:ro|rw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub src: String,
    pub dst: String,
    pub readonly: bool,
}

pub fn parse_volume(raw: &str) -> Result<Volume, SpecError> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(SpecError::BadVolume(
                raw.to_string(),
                "expected SRC:DST[:ro]",
            ));
        }
    };
    if src.is_empty() || !src.starts_with('/') {
        return Err(SpecError::BadVolume(
            raw.to_string(),
            "the source must be an absolute host path",
        ));
    }
    if src.contains('\0') {
        return Err(SpecError::BadVolume(
            raw.to_string(),
            "the source contains NUL",
        ));
    }
    let dst = container_path(dst).map_err(|_| {
        SpecError::BadVolume(
            raw.to_string(),
            "the destination must be an absolute path inside the rootfs, without '..'",
        )
    })?;
    if !proc_dest_allowed(&dst) {
        return Err(SpecError::BadVolume(
            raw.to_string(),
            "rrun mounts /proc itself; only lxcfs's files (/proc/cpuinfo, /proc/meminfo, …) may be bound over it",
        ));
    }
    let mut readonly = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => readonly = true,
            "rw" => readonly = false,
            _ => {
                return Err(SpecError::BadVolume(
                    raw.to_string(),
                    "options are ro or rw",
                ));
            }
        }
    }
    Ok(Volume {
        src: src.to_string(),
        dst,
        readonly,
    })
}

/// `--tmpfs DST[:OPTIONS]`: mount flags split from the data string the
/// kernel's tmpfs understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    pub dst: String,
    pub readonly: bool,
    pub noexec: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub data: String,
}

pub fn parse_tmpfs(raw: &str) -> Result<Tmpfs, SpecError> {
    let (dst, opts) = raw.split_once(':').unwrap_or((raw, ""));
    let dst =
        container_path(dst).map_err(|e| SpecError::BadTmpfs(raw.to_string(), e.to_string()))?;
    if dst == "/proc" || dst.starts_with("/proc/") {
        return Err(SpecError::BadTmpfs(
            raw.to_string(),
            "rrun mounts /proc itself".into(),
        ));
    }
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
                let (k, v) = o.split_once('=').ok_or_else(|| {
                    SpecError::BadTmpfs(raw.to_string(), format!("unknown option {o:?}"))
                })?;
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
                    return Err(SpecError::BadTmpfs(
                        raw.to_string(),
                        format!(
                            "unknown or invalid option {o:?} (size=, mode=, nr_inodes=, uid=, gid=, ro, exec, suid, dev)"
                        ),
                    ));
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

/// Capability names by number, as the kernel's capability.h numbers them.
pub const CAP_NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Docker's default capability set.
pub const DEFAULT_CAPS: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 10)
    | (1 << 13)
    | (1 << 18)
    | (1 << 27)
    | (1 << 29)
    | (1 << 31);

/// Every capability this build knows.
pub const ALL_CAPS: u64 = (1u64 << CAP_NAMES.len()) - 1;

/// A capability name (`NET_ADMIN`, `cap_net_admin`, or `ALL`) as a mask.
pub fn parse_cap(raw: &str) -> Result<u64, SpecError> {
    let up = raw.to_ascii_uppercase();
    let name = up.strip_prefix("CAP_").unwrap_or(&up);
    if name == "ALL" {
        return Ok(ALL_CAPS);
    }
    CAP_NAMES
        .iter()
        .position(|n| *n == name)
        .map(|i| 1u64 << i)
        .ok_or_else(|| SpecError::BadCap(raw.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn env_forms() {
        let look = |k: &str| (k == "B").then(|| "2".to_string());
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
        // Anything but NUL and newline passes as it is.
        assert_eq!(
            parse_env("A= $x 'q' #;\t", &look).unwrap().unwrap().value,
            " $x 'q' #;\t"
        );
    }

    #[test]
    fn env_file() {
        let look = |k: &str| (k == "H").then(|| "h".to_string());
        let v = parse_env_file("f", "# c\n\nX=1\n  Y=two words\nH\nZ\r\n", &look).unwrap();
        let s: Vec<String> = v.iter().map(|e| e.to_string()).collect();
        assert_eq!(s, ["X=1", "Y=two words", "H=h"]);
        let e = parse_env_file("f", "A=1\n=2\n", &none).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
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
        let s: Vec<String> = env.iter().map(|e| e.to_string()).collect();
        assert_eq!(s, ["PATH=/x", "A=1", "B=2"]);
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
        assert_eq!(app.groups, vec![5, 50]);
        let n = resolve_user("1000:1000", &p, &g).unwrap();
        assert_eq!((n.uid, n.gid), (1000, 1000));
        let unknown = resolve_user("4242", &p, &g).unwrap();
        assert_eq!(
            (unknown.uid, unknown.gid, unknown.home.as_str()),
            (4242, 0, "/")
        );
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
        assert_eq!(validate_name("/web.1_a-b").unwrap(), "web.1_a-b");
        for bad in ["", "bad name", "-x", "_x", ".x", "a/b", "a\nb", "é", "a#"] {
            assert!(
                matches!(validate_name(bad), Err(SpecError::BadName(_))),
                "{bad:?}"
            );
        }
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
            (v.src.as_str(), v.dst.as_str(), v.readonly),
            ("/src", "/app", true)
        );
        assert_eq!(parse_volume("/s://data//x/").unwrap().dst, "/data/x");
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
            "/proc/meminfo"
        );
        assert_eq!(parse_volume("/s:/procx").unwrap().dst, "/procx");
        assert!(parse_tmpfs("/proc/x").is_err());
    }

    #[test]
    fn tmpfs() {
        let t = parse_tmpfs("/tmp").unwrap();
        assert_eq!(t.dst, "/tmp");
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
        let s = effective_caps(&["SYS_ADMIN".into()], &["NET_RAW".into()]).unwrap();
        assert_eq!(s, (DEFAULT_CAPS & !(1 << 13)) | (1 << 21));
        assert_eq!(
            effective_caps(&["KILL".into()], &["ALL".into()]).unwrap(),
            1 << 5
        );
    }
}
