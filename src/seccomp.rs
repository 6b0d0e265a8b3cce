//! The container's default seccomp filter: a deny-list in the spirit of
//! Docker's default profile. System calls that reach kernel attack surface
//! a container has no business with (keyrings, bpf, perf, module loading,
//! kexec, reboot, userfaultfd, the mount API, clock setting…) fail with
//! EPERM unless the capability that would make them legitimate was added
//! with --cap-add, as Docker's profile does. A root container may not make
//! new user namespaces (unshare/clone with CLONE_NEWUSER; clone3, whose
//! flags a filter cannot see, fails with ENOSYS so that libc falls back to
//! clone). TIOCSTI and TIOCLINUX ioctls, which type into or steer the
//! caller's terminal, always fail. x32 system calls fail with ENOSYS and
//! other architectures' (i386) kill the process, since their numbers are
//! not the ones this list names.
//!
//! One classic BPF program, built here (pure, before the clone) as a
//! binary search over the listed call numbers: the kernel runs the filter
//! for every call number when it installs it (to cache the always-allowed
//! ones), so a linear chain of comparisons made installing it the dearest
//! single step of a start. Installing it is the container process's last
//! step before execve, after no_new_privs. `--security-opt
//! seccomp=unconfined` turns it all off.

use std::collections::BTreeMap;

/// A classic BPF program.
pub type BpfProgram = Vec<libc::sock_filter>;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("installing the seccomp filter: {0}")]
    Install(#[source] std::io::Error),
    #[error("no seccomp filter for the {0} architecture; use --security-opt seccomp=unconfined")]
    Arch(&'static str),
}

// Capability numbers (linux/capability.h).
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_MODULE: u32 = 16;
const CAP_SYS_RAWIO: u32 = 17;
const CAP_SYS_PACCT: u32 = 20;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_BOOT: u32 = 22;
const CAP_SYS_NICE: u32 = 23;
const CAP_SYS_TIME: u32 = 25;
const CAP_SYSLOG: u32 = 34;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// System calls denied unless one of the capabilities is held (an empty
/// list: always denied).
fn deny_list() -> Vec<(i64, &'static [u32])> {
    use libc::*;
    vec![
        (SYS_acct, &[CAP_SYS_PACCT]),
        (SYS_add_key, &[]),
        (SYS_keyctl, &[]),
        (SYS_request_key, &[]),
        (SYS_bpf, &[CAP_SYS_ADMIN, CAP_BPF]),
        (SYS_perf_event_open, &[CAP_SYS_ADMIN, CAP_PERFMON]),
        (SYS_userfaultfd, &[]),
        (SYS_kexec_load, &[CAP_SYS_BOOT]),
        (SYS_kexec_file_load, &[CAP_SYS_BOOT]),
        (SYS_reboot, &[CAP_SYS_BOOT]),
        (SYS_init_module, &[CAP_SYS_MODULE]),
        (SYS_finit_module, &[CAP_SYS_MODULE]),
        (SYS_delete_module, &[CAP_SYS_MODULE]),
        (SYS_iopl, &[CAP_SYS_RAWIO]),
        (SYS_ioperm, &[CAP_SYS_RAWIO]),
        (SYS_clock_settime, &[CAP_SYS_TIME]),
        (SYS_clock_adjtime, &[CAP_SYS_TIME]),
        (SYS_settimeofday, &[CAP_SYS_TIME]),
        (SYS_mbind, &[CAP_SYS_NICE]),
        (SYS_set_mempolicy, &[CAP_SYS_NICE]),
        (SYS_move_pages, &[CAP_SYS_NICE]),
        (SYS_syslog, &[CAP_SYSLOG]),
        (SYS_lookup_dcookie, &[CAP_SYS_ADMIN]),
        (SYS_mount, &[CAP_SYS_ADMIN]),
        (SYS_umount2, &[CAP_SYS_ADMIN]),
        (SYS_pivot_root, &[CAP_SYS_ADMIN]),
        (SYS_swapon, &[CAP_SYS_ADMIN]),
        (SYS_swapoff, &[CAP_SYS_ADMIN]),
        (SYS_quotactl, &[CAP_SYS_ADMIN]),
        (SYS_fsopen, &[CAP_SYS_ADMIN]),
        (SYS_fsconfig, &[CAP_SYS_ADMIN]),
        (SYS_fsmount, &[CAP_SYS_ADMIN]),
        (SYS_fspick, &[CAP_SYS_ADMIN]),
        (SYS_open_tree, &[CAP_SYS_ADMIN]),
        (SYS_move_mount, &[CAP_SYS_ADMIN]),
        (SYS_mount_setattr, &[CAP_SYS_ADMIN]),
        (SYS_name_to_handle_at, &[CAP_DAC_READ_SEARCH]),
        (SYS_open_by_handle_at, &[CAP_DAC_READ_SEARCH]),
        (SYS_nfsservctl, &[]),
        (SYS_sysfs, &[]),
        (SYS__sysctl, &[]),
        (SYS_uselib, &[]),
        (SYS_ustat, &[]),
        (SYS_vserver, &[]),
    ]
}

fn has(caps: u64, cap: u32) -> bool {
    caps & (1u64 << cap) != 0
}

/// What the filter does with one call number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Fail with this errno.
    Errno(u32),
    /// ioctl: fail with EPERM for TIOCSTI and TIOCLINUX (the command's
    /// low 32 bits, as the kernel compares them).
    DenyTerminalIoctls,
    /// clone/unshare: fail with EPERM when the flags (argument 0) ask for
    /// a new user namespace.
    DenyNewUser,
}

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;

// struct seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8i (the low
// 32 bits first on these little-endian machines).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg_low(i: u32) -> u32 {
    16 + 8 * i
}

// Classic BPF opcodes.
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (e as u32 & libc::SECCOMP_RET_DATA)
}

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The actions of a container with capability set `caps`, by call number;
/// `root_container`: rrun runs as root (no new user namespaces inside).
fn actions(caps: u64, root_container: bool) -> Vec<(u32, Action)> {
    let mut m: BTreeMap<u32, Action> = BTreeMap::new();
    for (nr, allowed_by) in deny_list() {
        if !allowed_by.iter().any(|&c| has(caps, c)) {
            m.insert(nr as u32, Action::Errno(libc::EPERM as u32));
        }
    }
    m.insert(libc::SYS_ioctl as u32, Action::DenyTerminalIoctls);
    if root_container && !has(caps, CAP_SYS_ADMIN) {
        m.insert(libc::SYS_unshare as u32, Action::DenyNewUser);
        m.insert(libc::SYS_clone as u32, Action::DenyNewUser);
        // clone3's flags sit in memory a filter cannot read: ENOSYS makes
        // libc fall back to clone, which the filter can see.
        m.insert(libc::SYS_clone3 as u32, Action::Errno(libc::ENOSYS as u32));
    }
    m.into_iter().collect()
}

/// Code for one matched call; A holds the call number on entry. Always
/// returns (it may load arguments into A).
fn handler(a: Action) -> BpfProgram {
    match a {
        Action::Errno(e) => vec![ins(RET_K, 0, 0, errno(e as i32))],
        Action::DenyTerminalIoctls => vec![
            ins(LD_W_ABS, 0, 0, off_arg_low(1)),
            ins(JEQ_K, 2, 0, TIOCSTI as u32),
            ins(JEQ_K, 1, 0, TIOCLINUX as u32),
            ins(RET_K, 0, 0, ALLOW),
            ins(RET_K, 0, 0, errno(libc::EPERM)),
        ],
        Action::DenyNewUser => vec![
            ins(LD_W_ABS, 0, 0, off_arg_low(0)),
            ins(JSET_K, 0, 1, libc::CLONE_NEWUSER as u32),
            ins(RET_K, 0, 0, errno(libc::EPERM)),
            ins(RET_K, 0, 0, ALLOW),
        ],
    }
}

/// A binary search over `list` (sorted by number) for the call number in
/// A: a few comparisons for any call instead of one per listed call.
/// Every path ends in a return; calls not listed are allowed.
fn search(list: &[(u32, Action)]) -> BpfProgram {
    if list.len() <= 3 {
        let mut out = Vec::new();
        for &(nr, a) in list {
            let h = handler(a);
            out.push(ins(JEQ_K, 0, h.len() as u8, nr));
            out.extend(h);
        }
        out.push(ins(RET_K, 0, 0, ALLOW));
        return out;
    }
    let (low, high) = list.split_at(list.len() / 2);
    let left = search(low);
    let right = search(high);
    // Forward jumps only, of at most 255: the list is a few dozen calls.
    let mut out = vec![ins(JGE_K, left.len() as u8, 0, high[0].0)];
    out.extend(left);
    out.extend(right);
    out
}

/// The filter of a container with capability set `caps` (one program;
/// a Vec so that "unconfined" is the empty one).
pub fn default_programs(caps: u64, root_container: bool) -> Result<Vec<BpfProgram>, SeccompError> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => AUDIT_ARCH_X86_64,
        "aarch64" => AUDIT_ARCH_AARCH64,
        other => return Err(SeccompError::Arch(other)),
    };
    let mut p = vec![
        // Another architecture's numbers (i386 on x86-64) are not the ones
        // listed here: kill.
        ins(LD_W_ABS, 0, 0, OFF_ARCH),
        ins(JEQ_K, 1, 0, arch),
        ins(RET_K, 0, 0, KILL),
        ins(LD_W_ABS, 0, 0, OFF_NR),
    ];
    if arch == AUDIT_ARCH_X86_64 {
        // x32 calls share x86-64's audit arch with bit 30 set in their
        // number, so the numbers below would not match them: refuse them.
        p.push(ins(JSET_K, 0, 1, X32_SYSCALL_BIT));
        p.push(ins(RET_K, 0, 0, errno(libc::ENOSYS)));
    }
    p.extend(search(&actions(caps, root_container)));
    Ok(vec![p])
}

/// Install the programs on the calling thread (no_new_privs must be set).
/// Called last before execve: nothing after it may need a denied call.
pub fn install(progs: &[BpfProgram]) -> Result<(), SeccompError> {
    for p in progs {
        let prog = libc::sock_fprog {
            len: p.len() as u16,
            filter: p.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: prog points at p's instructions, alive for the call; the
        // kernel copies the program.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(SeccompError::Install(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_CAPS: u64 = 0xa804_25fb;

    /// A classic BPF interpreter for the instructions used here, run on a
    /// seccomp_data of (nr, arch, args).
    fn run(p: &BpfProgram, nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        let load = |off: u32| -> u32 {
            match off {
                OFF_NR => nr,
                OFF_ARCH => arch,
                o if o >= 16 && (o - 16) % 8 == 0 => args[((o - 16) / 8) as usize] as u32,
                o => panic!("load at {o}"),
            }
        };
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let i = p[pc];
            pc += 1;
            let jump = |cond: bool| if cond { i.jt as usize } else { i.jf as usize };
            match i.code {
                LD_W_ABS => a = load(i.k),
                JEQ_K => pc += jump(a == i.k),
                JGE_K => pc += jump(a >= i.k),
                JSET_K => pc += jump(a & i.k != 0),
                RET_K => return i.k,
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    /// What the filter must answer, written plainly.
    fn expected(caps: u64, root: bool, nr: u32, args: [u64; 6]) -> u32 {
        let nr_i = i64::from(nr);
        if nr & X32_SYSCALL_BIT != 0 {
            return errno(libc::ENOSYS);
        }
        if let Some((_, by)) = deny_list().into_iter().find(|(n, _)| *n == nr_i)
            && !by.iter().any(|&c| has(caps, c))
        {
            return errno(libc::EPERM);
        }
        let admin = has(caps, CAP_SYS_ADMIN);
        if nr_i == libc::SYS_ioctl && [TIOCSTI, TIOCLINUX].contains(&(args[1] & 0xffff_ffff)) {
            return errno(libc::EPERM);
        }
        if root && !admin {
            if (nr_i == libc::SYS_clone || nr_i == libc::SYS_unshare)
                && args[0] & libc::CLONE_NEWUSER as u64 != 0
            {
                return errno(libc::EPERM);
            }
            if nr_i == libc::SYS_clone3 {
                return errno(libc::ENOSYS);
            }
        }
        ALLOW
    }

    #[test]
    fn answers_every_call_as_the_list_says() {
        let arch = AUDIT_ARCH_X86_64;
        let admin = DEFAULT_CAPS | 1 << CAP_SYS_ADMIN;
        let all_caps = u64::MAX >> 23;
        for (caps, root) in [
            (DEFAULT_CAPS, true),
            (DEFAULT_CAPS, false),
            (admin, true),
            (all_caps, true),
            (0, false),
        ] {
            let p = &default_programs(caps, root).unwrap()[0];
            assert!(p.len() < 256, "{} instructions", p.len());
            for nr in (0..600).chain([X32_SYSCALL_BIT, X32_SYSCALL_BIT | 1, u32::MAX]) {
                for args in [
                    [0; 6],
                    [libc::CLONE_NEWUSER as u64, TIOCSTI, 0, 0, 0, 0],
                    [
                        libc::CLONE_NEWUSER as u64 | 0x11,
                        TIOCLINUX | 1 << 32,
                        0,
                        0,
                        0,
                        0,
                    ],
                    [0x11, 0x5413, 0, 0, 0, 0],
                ] {
                    assert_eq!(
                        run(p, nr, arch, args),
                        expected(caps, root, nr, args),
                        "call {nr} args {args:x?} caps {caps:x} root {root}"
                    );
                }
            }
            // i386 numbers mean other calls: the process is killed.
            assert_eq!(run(p, 1, 0x4000_0003, [0; 6]), KILL);
        }
    }

    #[test]
    fn binary_search_stays_short() {
        let p = &default_programs(DEFAULT_CAPS, true).unwrap()[0];
        // Comparisons on the way to an allowed call: a handful, not one per
        // listed call.
        let mut steps = 0;
        let (mut pc, a) = (6usize, libc::SYS_read as u32);
        while p[pc].code != RET_K {
            let i = p[pc];
            steps += 1;
            pc += 1 + match i.code {
                JEQ_K => usize::from(if a == i.k { i.jt } else { i.jf }),
                JGE_K => usize::from(if a >= i.k { i.jt } else { i.jf }),
                _ => 0,
            };
        }
        assert!(steps <= 10, "{steps} steps to allow read");
    }

    #[test]
    fn deny_list_has_no_duplicates() {
        let mut nrs: Vec<i64> = deny_list().iter().map(|(n, _)| *n).collect();
        let n = nrs.len();
        nrs.sort();
        nrs.dedup();
        assert_eq!(nrs.len(), n);
    }
}
