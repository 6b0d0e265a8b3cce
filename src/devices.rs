//! Which devices a container may use, as values: the `--device` flag
//! parsed, the rules of a container's device cgroup (Docker's default list
//! plus one per `--device`), the name of that cgroup (which says whose it
//! is, so that a later run can tell a dead monitor's from a live one's), and
//! which host nodes `--privileged` shows in /dev.
//!
//! Pure: no syscalls. What the kernel says about a host node (its type and
//! numbers) is looked up in plan.rs; the cgroup itself is cgroup.rs's.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("invalid argument {0:?} for \"--device\" flag: bad format for path: {0}")]
    Format(String),
    #[error("invalid argument {0:?} for \"--device\" flag: bad mode specified: {1}")]
    Mode(String, String),
    #[error("invalid argument {0:?} for \"--device\" flag: {1} is not an absolute path")]
    NotAbsolute(String, String),
    #[error("invalid argument {0:?} for \"--device\" flag: {1}")]
    Container(String, String),
}

/// A device node's type, as the device cgroup names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DevType {
    Char,
    Block,
}

impl DevType {
    fn letter(self) -> char {
        match self {
            DevType::Char => 'c',
            DevType::Block => 'b',
        }
    }
}

/// What a rule allows: read, write, mknod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub mknod: bool,
}

impl Perms {
    pub const ALL: Perms = Perms {
        read: true,
        write: true,
        mknod: true,
    };
    const MKNOD: Perms = Perms {
        read: false,
        write: false,
        mknod: true,
    };

    /// Docker's rule: one or more of r, w, m, each at most once.
    pub fn parse(s: &str) -> Option<Perms> {
        let mut p = Perms::default();
        if s.is_empty() {
            return None;
        }
        for c in s.chars() {
            let slot = match c {
                'r' => &mut p.read,
                'w' => &mut p.write,
                'm' => &mut p.mknod,
                _ => return None,
            };
            if *slot {
                return None;
            }
            *slot = true;
        }
        Some(p)
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, c) in [(self.read, 'r'), (self.write, 'w'), (self.mknod, 'm')] {
            if on {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// `--device HOST[:CONTAINER][:PERMS]`, parsed (the host node not yet
/// looked at).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceSpec {
    pub host: String,
    pub container: String,
    pub perms: Perms,
}

pub fn parse_device(raw: &str) -> Result<DeviceSpec, DeviceError> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (host, container, perms) = match parts.as_slice() {
        [h] => (*h, *h, Perms::ALL),
        // A second field is the permissions when it reads as such
        // (Docker's rule), else the container path.
        [h, x] => match Perms::parse(x) {
            Some(p) => (*h, *h, p),
            None => (*h, *x, Perms::ALL),
        },
        [h, c, m] => {
            let p = Perms::parse(m).ok_or_else(|| DeviceError::Mode(raw.into(), m.to_string()))?;
            (*h, *c, p)
        }
        _ => return Err(DeviceError::Format(raw.into())),
    };
    if host.is_empty() || host.contains('\0') {
        return Err(DeviceError::Format(raw.into()));
    }
    if !host.starts_with('/') {
        return Err(DeviceError::NotAbsolute(raw.into(), host.into()));
    }
    if !container.starts_with('/') {
        return Err(DeviceError::NotAbsolute(raw.into(), container.into()));
    }
    // Valid UTF-8 in, valid UTF-8 out: the flag is a String.
    let container = crate::spec::container_path(container)
        .map_err(|e| DeviceError::Container(raw.into(), e.to_string()))?
        .to_string_lossy()
        .into_owned();
    if container == "/proc" || container.starts_with("/proc/") {
        return Err(DeviceError::Container(
            raw.into(),
            "rrun mounts /proc itself".into(),
        ));
    }
    Ok(DeviceSpec {
        host: host.to_string(),
        container,
        perms,
    })
}

/// A `--device` whose host node was found: its type and numbers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostDevice {
    pub spec: DeviceSpec,
    /// The host node with every symlink resolved (what is bound).
    pub source: String,
    pub kind: DevType,
    pub major: u32,
    pub minor: u32,
}

impl HostDevice {
    pub fn rule(&self) -> Rule {
        Rule {
            kind: Some(self.kind),
            major: Some(self.major),
            minor: Some(self.minor),
            perms: self.spec.perms,
        }
    }
}

/// One line of a v1 device cgroup's `devices.allow`: type (None: all),
/// major and minor (None: any), permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub kind: Option<DevType>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub perms: Perms,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.kind.map_or('a', DevType::letter),
            num(self.major),
            num(self.minor),
            self.perms
        )
    }
}

const fn char_dev(major: u32, minor: Option<u32>) -> Rule {
    Rule {
        kind: Some(DevType::Char),
        major: Some(major),
        minor,
        perms: Perms::ALL,
    }
}

/// Docker's default list: mknod of any node (opening one is what counts),
/// and the nodes every container gets (null, zero, full, random, urandom,
/// tty, console, ptmx, its pts). Not tun or fuse: those take `--device`.
pub const DEFAULT_RULES: &[Rule] = &[
    Rule {
        kind: Some(DevType::Char),
        major: None,
        minor: None,
        perms: Perms::MKNOD,
    },
    Rule {
        kind: Some(DevType::Block),
        major: None,
        minor: None,
        perms: Perms::MKNOD,
    },
    char_dev(1, Some(3)),
    char_dev(1, Some(5)),
    char_dev(1, Some(7)),
    char_dev(1, Some(8)),
    char_dev(1, Some(9)),
    char_dev(5, Some(0)),
    char_dev(5, Some(1)),
    char_dev(5, Some(2)),
    char_dev(136, None),
];

/// What a container's device cgroup allows once everything is denied.
pub fn allow_rules(devices: &[HostDevice]) -> Vec<Rule> {
    let mut v = DEFAULT_RULES.to_vec();
    v.extend(devices.iter().map(HostDevice::rule));
    v
}

/// The directory name of a container's device cgroup: its id and its
/// monitor (pid and start time), so that a later run removes it only once
/// that monitor is dead, never while a live one is still filling it.
pub fn cgroup_name(id: &str, monitor_pid: i32, monitor_start: u64) -> String {
    format!("{id}-{monitor_pid}-{monitor_start}")
}

/// [`cgroup_name`]'s parts (id, monitor pid, monitor start), or None for
/// a name rrun did not make.
pub fn parse_cgroup_name(name: &str) -> Option<(String, i32, u64)> {
    let mut it = name.rsplitn(3, '-');
    let start = it.next()?.parse().ok()?;
    let pid: i32 = it.next()?.parse().ok()?;
    let id = it.next()?;
    let hex = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && pid > 0).then(|| (id.to_string(), pid, start))
}

/// Whether `--privileged` shows the host node at `rel` (a path below the
/// host's /dev): not what the container has of its own (its devpts and
/// ptmx, shm, mqueue, its console), as Docker.
pub fn privileged_node_wanted(rel: &str) -> bool {
    let first = rel.split('/').next().unwrap_or("");
    !matches!(
        first,
        "" | "pts"
            | "shm"
            | "mqueue"
            | "fd"
            | "console"
            | "ptmx"
            | ".lxc"
            | ".lxd-mounts"
            | ".udev"
    ) && !rel
        .split('/')
        .any(|c| c == ".." || c == "." || c.is_empty())
}

/// One eBPF instruction, as the kernel takes it (struct bpf_insn).
pub type Insn = [u8; 8];

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    let o = off.to_le_bytes();
    let i = imm.to_le_bytes();
    [code, dst | (src << 4), o[0], o[1], i[0], i[1], i[2], i[3]]
}

const LDX_MEM_W: u8 = 0x61;
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_X: u8 = 0xbf;
const ALU64_MOV_K: u8 = 0xb7;
const JMP_JNE_K: u8 = 0x55;
const JMP_EXIT: u8 = 0x95;

/// The bits a device program sees (BPF_DEVCG_ACC_* and BPF_DEVCG_DEV_*).
fn access_bits(p: Perms) -> i32 {
    (p.mknod as i32) | ((p.read as i32) << 1) | ((p.write as i32) << 2)
}

fn type_bits(t: DevType) -> i32 {
    match t {
        DevType::Block => 1,
        DevType::Char => 2,
    }
}

/// A BPF_PROG_TYPE_CGROUP_DEVICE program that allows exactly `rules`
/// (returns 1) and denies everything else (0): the cgroup v2 form of a v1
/// device cgroup's deny-all plus allow list. Its context holds
/// `access << 16 | type`, major and minor as three u32.
pub fn bpf_program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU64_MOV_X, 3, 2, 0, 0),
        insn(ALU64_AND_K, 3, 0, 0, 0xffff),
        insn(ALU64_MOV_X, 4, 2, 0, 0),
        insn(ALU64_RSH_K, 4, 0, 0, 16),
        insn(LDX_MEM_W, 5, 1, 4, 0),
        insn(LDX_MEM_W, 6, 1, 8, 0),
    ];
    for r in rules {
        // Each test jumps past the rest of this rule's block on a mismatch.
        let mut checks: Vec<(u8, i32)> = Vec::new();
        if let Some(t) = r.kind {
            checks.push((3, type_bits(t)));
        }
        if let Some(m) = r.major {
            checks.push((5, m as i32));
        }
        if let Some(m) = r.minor {
            checks.push((6, m as i32));
        }
        // Then: no access asked for beyond the rule's.
        let len = checks.len() + 5;
        for (i, (reg, v)) in checks.iter().enumerate() {
            p.push(insn(JMP_JNE_K, *reg, 0, (len - i - 1) as i16, *v));
        }
        p.push(insn(ALU64_MOV_X, 7, 4, 0, 0));
        p.push(insn(ALU64_AND_K, 7, 0, 0, !access_bits(r.perms) & 7));
        p.push(insn(JMP_JNE_K, 7, 0, 2, 0));
        p.push(insn(ALU64_MOV_K, 0, 0, 0, 1));
        p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// FNV-1a (64 bits) of a program's bytes: names the cgroup that holds it,
/// so that another rule set (a later rrun) gets a cgroup of its own.
pub fn program_hash(p: &[Insn]) -> u64 {
    p.iter().flatten().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What [`bpf_program`]'s program answers for a device access: the same
/// walk over the instructions the kernel would make (used to test it).
#[cfg(test)]
fn run_program(p: &[Insn], ctx: [u32; 3]) -> u64 {
    let mut reg = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = p[pc];
        let (code, dst, src) = (i[0], (i[1] & 0xf) as usize, (i[1] >> 4) as usize);
        let off = i16::from_le_bytes([i[2], i[3]]);
        let imm = i32::from_le_bytes([i[4], i[5], i[6], i[7]]) as i64 as u64;
        pc += 1;
        match code {
            LDX_MEM_W => {
                assert_eq!(src, 1, "loads come from the context");
                reg[dst] = u64::from(ctx[(off / 4) as usize]);
            }
            ALU64_MOV_X => reg[dst] = reg[src],
            ALU64_MOV_K => reg[dst] = imm,
            ALU64_AND_K => reg[dst] &= imm,
            ALU64_RSH_K => reg[dst] >>= imm,
            JMP_JNE_K => {
                if reg[dst] != imm {
                    pc += off as usize;
                }
            }
            JMP_EXIT => return reg[0],
            _ => panic!("unknown opcode {code:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(h: &str, c: &str, p: &str) -> DeviceSpec {
        DeviceSpec {
            host: h.into(),
            container: c.into(),
            perms: Perms::parse(p).unwrap(),
        }
    }

    #[test]
    fn perms() {
        for ok in ["r", "w", "m", "rw", "wr", "rwm", "mwr", "rm"] {
            let p = Perms::parse(ok).unwrap_or_else(|| panic!("{ok}"));
            assert_eq!(p.read, ok.contains('r'), "{ok}");
            assert_eq!(p.write, ok.contains('w'), "{ok}");
            assert_eq!(p.mknod, ok.contains('m'), "{ok}");
        }
        for bad in ["", "x", "rr", "rwmr", "R", "rw ", "a"] {
            assert_eq!(Perms::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Perms::parse("mwr").unwrap().to_string(), "rwm");
        assert_eq!(Perms::parse("w").unwrap().to_string(), "w");
        assert_eq!(Perms::parse("mr").unwrap().to_string(), "rm");
        assert_eq!(Perms::default().to_string(), "");
    }

    #[test]
    fn device_forms() {
        let p = |s: &str| parse_device(s).unwrap();
        assert_eq!(p("/dev/loop3"), spec("/dev/loop3", "/dev/loop3", "rwm"));
        assert_eq!(p("/dev/loop3:r"), spec("/dev/loop3", "/dev/loop3", "r"));
        assert_eq!(
            p("/dev/loop3:/dev/xd"),
            spec("/dev/loop3", "/dev/xd", "rwm")
        );
        assert_eq!(
            p("/dev/loop3:/dev/xd:rw"),
            spec("/dev/loop3", "/dev/xd", "rw")
        );
        assert_eq!(p("/dev/sda://x//y/"), spec("/dev/sda", "/x/y", "rwm"));
        // A two-field form whose second field is not a mode is a path,
        // which must then be absolute.
        assert_eq!(
            parse_device("/dev/sda:rx"),
            Err(DeviceError::NotAbsolute("/dev/sda:rx".into(), "rx".into()))
        );
        assert_eq!(
            parse_device("/dev/sda:/x:rx"),
            Err(DeviceError::Mode("/dev/sda:/x:rx".into(), "rx".into()))
        );
        assert_eq!(
            parse_device("/dev/sda:/x:"),
            Err(DeviceError::Mode("/dev/sda:/x:".into(), "".into()))
        );
        for bad in ["", ":/x", "/a:/b:r:w", "/a\0b", "a:b:c:d:e"] {
            assert_eq!(
                parse_device(bad),
                Err(DeviceError::Format(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_device("dev/sda"),
            Err(DeviceError::NotAbsolute("dev/sda".into(), "dev/sda".into()))
        );
        for bad in [
            "/dev/sda:/",
            "/dev/sda:/a/../b",
            "/dev/sda:/proc",
            "/dev/sda:/proc/x",
        ] {
            assert!(
                matches!(parse_device(bad), Err(DeviceError::Container(..))),
                "{bad:?}"
            );
        }
        assert_eq!(p("/dev/sda:/procx").container, "/procx");
        assert_eq!(
            parse_device("/a:/b:q").unwrap_err().to_string(),
            "invalid argument \"/a:/b:q\" for \"--device\" flag: bad mode specified: q"
        );
        assert_eq!(
            parse_device("/a:/b:r:w").unwrap_err().to_string(),
            "invalid argument \"/a:/b:r:w\" for \"--device\" flag: bad format for path: /a:/b:r:w"
        );
        assert_eq!(
            parse_device("/a:b").unwrap_err().to_string(),
            "invalid argument \"/a:b\" for \"--device\" flag: b is not an absolute path"
        );
    }

    #[test]
    fn rules() {
        let text: Vec<String> = DEFAULT_RULES.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            text,
            [
                "c *:* m",
                "b *:* m",
                "c 1:3 rwm",
                "c 1:5 rwm",
                "c 1:7 rwm",
                "c 1:8 rwm",
                "c 1:9 rwm",
                "c 5:0 rwm",
                "c 5:1 rwm",
                "c 5:2 rwm",
                "c 136:* rwm",
            ]
        );
        let all = Rule {
            kind: None,
            major: None,
            minor: Some(4),
            perms: Perms::ALL,
        };
        assert_eq!(all.to_string(), "a *:4 rwm");
        let d = HostDevice {
            spec: spec("/dev/loop3", "/dev/loop3", "rw"),
            source: "/dev/loop3".into(),
            kind: DevType::Block,
            major: 7,
            minor: 3,
        };
        let v = allow_rules(std::slice::from_ref(&d));
        assert_eq!(v.len(), DEFAULT_RULES.len() + 1);
        assert_eq!(&v[..DEFAULT_RULES.len()], DEFAULT_RULES);
        assert_eq!(v.last().unwrap().to_string(), "b 7:3 rw");
        assert_eq!(allow_rules(&[]), DEFAULT_RULES);
    }

    #[test]
    fn cgroup_names() {
        let id = "ab".repeat(32);
        let n = cgroup_name(&id, 4242, 99);
        assert_eq!(n, format!("{id}-4242-99"));
        assert_eq!(parse_cgroup_name(&n), Some((id.clone(), 4242, 99)));
        for bad in [
            "".to_string(),
            "x".to_string(),
            format!("{id}-4242"),
            format!("{id}-x-1"),
            format!("{id}-1-x"),
            format!("{id}-0-1"),
            format!("{id}--1-1"),
            format!("{}-1-1", &id[..63]),
            format!("{}g-1-1", &id[..63]),
            format!("a{id}-1-1"),
        ] {
            assert_eq!(parse_cgroup_name(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn privileged_nodes() {
        for yes in [
            "loop0",
            "net/tun",
            "dri/card0",
            "bus/usb/001/001",
            "tty",
            "ptmx0",
        ] {
            assert!(privileged_node_wanted(yes), "{yes}");
        }
        for no in [
            "",
            "pts/0",
            "shm",
            "mqueue",
            "fd",
            "console",
            "ptmx",
            ".lxc/x",
            ".lxd-mounts/x",
            ".udev/x",
            "a/../b",
            "a/./b",
            "a//b",
            "..",
        ] {
            assert!(!privileged_node_wanted(no), "{no:?}");
        }
    }

    #[test]
    fn program_hashes() {
        assert_eq!(program_hash(&[]), 0xcbf2_9ce4_8422_2325);
        // FNV-1a 64 of the 8 bytes 61 00 00 00 00 00 00 00.
        let one = [[0x61, 0, 0, 0, 0, 0, 0, 0]];
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in one[0] {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        assert_eq!(program_hash(&one), h);
        let two = [[1, 0, 0, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0, 0, 0]];
        assert_ne!(program_hash(&two), program_hash(&[two[1], two[0]]));
        let a = bpf_program(DEFAULT_RULES);
        let b = bpf_program(&DEFAULT_RULES[1..]);
        assert_eq!(program_hash(&a), program_hash(&bpf_program(DEFAULT_RULES)));
        assert_ne!(program_hash(&a), program_hash(&b));
    }

    #[test]
    fn bpf_program_allows_the_rules_alone() {
        let d = HostDevice {
            spec: spec("/dev/loop3", "/dev/loop3", "r"),
            source: "/dev/loop3".into(),
            kind: DevType::Block,
            major: 7,
            minor: 3,
        };
        let p = bpf_program(&allow_rules(std::slice::from_ref(&d)));
        // access << 16 | type; access: 1 mknod, 2 read, 4 write; type: 1
        // block, 2 char.
        let ask = |t: u32, acc: u32, maj: u32, min: u32| run_program(&p, [acc << 16 | t, maj, min]);
        let (blk, chr) = (1, 2);
        let (m, r, w) = (1, 2, 4);
        assert_eq!(ask(chr, r | w, 1, 3), 1, "null");
        assert_eq!(ask(chr, r, 1, 9), 1, "urandom");
        assert_eq!(ask(chr, r | w, 5, 2), 1, "ptmx");
        assert_eq!(ask(chr, r | w, 136, 7), 1, "a pts");
        assert_eq!(ask(chr, r | w, 137, 7), 0);
        assert_eq!(ask(chr, r, 1, 4), 0, "a minor not listed");
        assert_eq!(ask(chr, r, 10, 200), 0, "tun is not in the default list");
        assert_eq!(ask(chr, m, 10, 200), 1, "mknod of any char node");
        assert_eq!(ask(blk, m, 8, 0), 1, "mknod of any block node");
        assert_eq!(ask(blk, r, 8, 0), 0, "a disk");
        assert_eq!(ask(blk, r, 7, 3), 1, "the --device, read");
        assert_eq!(ask(blk, w, 7, 3), 0, "the --device, write (r only)");
        assert_eq!(ask(blk, r | w, 7, 3), 0);
        assert_eq!(ask(chr, r, 7, 3), 0, "the same numbers, char");
        assert_eq!(ask(blk, r, 7, 4), 0);
        assert_eq!(ask(blk, r, 6, 3), 0);
        assert_eq!(run_program(&bpf_program(&[]), [r << 16 | chr, 1, 3]), 0);
        let any = Rule {
            kind: None,
            major: None,
            minor: None,
            perms: Perms::ALL,
        };
        assert_eq!(run_program(&bpf_program(&[any]), [7 << 16 | blk, 8, 0]), 1);
        // The encoding: r2 = *(u32 *)(r1 + 0) first, exit last.
        assert_eq!(p[0], [0x61, 0x12, 0, 0, 0, 0, 0, 0]);
        assert_eq!(p[5], [0x61, 0x15, 4, 0, 0, 0, 0, 0]);
        assert_eq!(p.last(), Some(&[0x95, 0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(
            insn(JMP_JNE_K, 3, 0, -2, -1),
            [0x55, 3, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }
}
