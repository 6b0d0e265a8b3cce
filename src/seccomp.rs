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
//! Building the programs is pure (done before the clone); installing them
//! is the container process's last step before execve, after
//! no_new_privs. `--security-opt seccomp=unconfined` turns it all off.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("building the seccomp filter: {0}")]
    Build(#[source] seccompiler::BackendError),
    #[error("building the seccomp filter: {0}")]
    Compile(#[source] seccompiler::BackendError),
    #[error("installing the seccomp filter: {0}")]
    Install(#[source] seccompiler::Error),
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

fn cond(arg: u8, len: SeccompCmpArgLen, op: SeccompCmpOp, v: u64) -> SeccompCondition {
    // Only constant, valid argument indexes (0..=5) are used here.
    SeccompCondition::new(arg, len, op, v).unwrap_or_else(|_| unreachable!("argument index {arg}"))
}

/// The filter programs for a container with capability set `caps`;
/// `root_container`: rrun runs as root (no new user namespaces inside).
/// Installed in order; the kernel runs them all and the strictest answer
/// wins.
pub fn default_programs(caps: u64, root_container: bool) -> Result<Vec<BpfProgram>, SeccompError> {
    let arch: TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|_| SeccompError::Arch(std::env::consts::ARCH))?;
    let mut eperm: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (nr, allowed_by) in deny_list() {
        if !allowed_by.iter().any(|&c| has(caps, c)) {
            eperm.insert(nr, Vec::new());
        }
    }
    let rule = |c: SeccompCondition| SeccompRule::new(vec![c]).map_err(SeccompError::Build);
    eperm.insert(
        libc::SYS_ioctl,
        vec![
            rule(cond(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, TIOCSTI))?,
            rule(cond(
                1,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                TIOCLINUX,
            ))?,
        ],
    );
    let mut enosys: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    if root_container && !has(caps, CAP_SYS_ADMIN) {
        let newuser = libc::CLONE_NEWUSER as u64;
        let flag = || {
            cond(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(newuser),
                newuser,
            )
        };
        eperm.insert(libc::SYS_unshare, vec![rule(flag())?]);
        eperm.insert(libc::SYS_clone, vec![rule(flag())?]);
        enosys.insert(libc::SYS_clone3, Vec::new());
    }
    let mut progs = Vec::new();
    for (rules, errno) in [(eperm, libc::EPERM), (enosys, libc::ENOSYS)] {
        if rules.is_empty() {
            continue;
        }
        let f = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(errno as u32),
            arch,
        )
        .map_err(SeccompError::Build)?;
        progs.push(f.try_into().map_err(SeccompError::Compile)?);
    }
    if cfg!(target_arch = "x86_64") {
        progs.push(x32_guard());
    }
    Ok(progs)
}

/// x32 system calls share x86-64's audit arch with bit 30 set in their
/// number, so the lists above would not match them: refuse them all.
fn x32_guard() -> BpfProgram {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    let ins = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        // seccomp_data.nr is at offset 0.
        ins(LD_W_ABS, 0, 0, 0),
        ins(JSET_K, 0, 1, X32_SYSCALL_BIT),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Install the programs on the calling thread (no_new_privs must be set).
/// Called last before execve: nothing after it may need a denied call.
pub fn install(progs: &[BpfProgram]) -> Result<(), SeccompError> {
    for p in progs {
        seccompiler::apply_filter(p).map_err(SeccompError::Install)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_CAPS: u64 = 0xa804_25fb;

    #[test]
    fn builds_for_root_and_rootless() {
        let root = default_programs(DEFAULT_CAPS, true).unwrap();
        let rootless = default_programs(DEFAULT_CAPS, false).unwrap();
        // EPERM list, ENOSYS for clone3, the x32 guard.
        assert_eq!(root.len(), 3);
        assert_eq!(rootless.len(), 2);
        assert!(root[0].len() > rootless[0].len());
    }

    #[test]
    fn capabilities_lift_their_calls() {
        let base = default_programs(DEFAULT_CAPS, true).unwrap();
        let admin = default_programs(DEFAULT_CAPS | 1 << CAP_SYS_ADMIN, true).unwrap();
        // Fewer denied calls, and no clone3/ENOSYS program.
        assert!(admin[0].len() < base[0].len());
        assert_eq!(admin.len(), 2);
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
