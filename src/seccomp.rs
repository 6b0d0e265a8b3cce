//! The container's seccomp filter: an allow-list with the semantics of
//! Docker's default profile, for x86-64 and aarch64.
//!
//! [`table::CALLS`] names every system call of those architectures up to
//! the newest one Docker's profile decides on (removexattrat, 466), with
//! its number on each and Docker's rule for it: allowed; allowed when the
//! container's bounding set holds a capability (CAP_SYS_ADMIN for the
//! mount API, setns, unshare, sethostname…; CAP_SYS_PTRACE for kcmp and
//! pidfd_getfd; CAP_SYS_BOOT for reboot…); allowed for some arguments
//! (clone without namespace flags unless CAP_SYS_ADMIN, socket but for
//! AF_ALG and AF_VSOCK, five personalities); or refused. Docker's profile
//! has no rule for io_uring, keyrings, kexec, swap, pivot_root or
//! userfaultfd, so they are refused whatever the capabilities; it allows
//! ptrace and process_vm_readv/writev from Linux 4.8 on, older than any
//! kernel rrun runs on. The same filter holds root and rootless: a nested
//! user namespace needs CAP_SYS_ADMIN (`--cap-add SYS_ADMIN`), as in
//! Docker.
//!
//! The answers: a refused call fails with EPERM; clone3, whose flags sit
//! in memory a filter cannot read, fails with ENOSYS without
//! CAP_SYS_ADMIN so that libc falls back to clone. A number the table does
//! not name — above its last call, or a gap in the numbering — is either
//! no system call at all or one newer than the table: ENOSYS, so that a
//! new libc falls back to an older call (runc answers calls newer than
//! the profile the same way). x32 calls (bit 30 of the number) lie above
//! the table and get ENOSYS too; another architecture's calls (i386 on
//! x86-64, arm on aarch64) kill the process, since their numbers are not
//! this table's. On top of Docker's profile, the TIOCSTI and TIOCLINUX
//! ioctls, which type into or steer a terminal, fail with EPERM.
//!
//! Arguments are compared in their low 32 bits, as the kernel reads the
//! int (socket, personality), unsigned int (ioctl) and clone flags it
//! checks, so high bits cannot smuggle a refused value past the filter.
//!
//! One classic BPF program, built here (pure, before the clone): a binary
//! search over the ranges of numbers that get the same answer. The kernel
//! runs the filter for every call number when it installs it (to cache the
//! always-allowed ones), so a short search keeps installing it cheap.
//! Installing it is the container process's last step before execve,
//! after no_new_privs. `--security-opt seccomp=unconfined` turns it off.

use caps::Capability;

/// A classic BPF program.
pub type BpfProgram = Vec<libc::sock_filter>;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("installing the seccomp filter: {0}")]
    Install(#[source] std::io::Error),
    #[error("no seccomp filter for the {0} architecture; use --security-opt seccomp=unconfined")]
    Arch(&'static str),
}

/// The architectures with a call table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The AUDIT_ARCH value the kernel puts in seccomp_data.
    const fn audit(self) -> u32 {
        match self {
            Arch::X86_64 => 0xC000_003E,
            Arch::Aarch64 => 0xC000_00B7,
        }
    }

    /// The call's number here, if the call exists here.
    fn nr(self, c: &table::Call) -> Option<u32> {
        let n = match self {
            Arch::X86_64 => c.x86_64,
            Arch::Aarch64 => c.aarch64,
        };
        (n != table::NO).then_some(u32::from(n))
    }

    fn native() -> Result<Arch, SeccompError> {
        if cfg!(target_arch = "x86_64") {
            Ok(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Ok(Arch::Aarch64)
        } else {
            Err(SeccompError::Arch(std::env::consts::ARCH))
        }
    }
}

// Capabilities as bits of a set, as a container's record keeps them.
const fn cap(c: Capability) -> u64 {
    crate::spec::cap_mask(&[c])
}
const DAC_READ_SEARCH: u64 = cap(Capability::CAP_DAC_READ_SEARCH);
const SYS_MODULE: u64 = cap(Capability::CAP_SYS_MODULE);
const SYS_RAWIO: u64 = cap(Capability::CAP_SYS_RAWIO);
const SYS_CHROOT: u64 = cap(Capability::CAP_SYS_CHROOT);
const SYS_PTRACE: u64 = cap(Capability::CAP_SYS_PTRACE);
const SYS_PACCT: u64 = cap(Capability::CAP_SYS_PACCT);
const SYS_ADMIN: u64 = cap(Capability::CAP_SYS_ADMIN);
const SYS_BOOT: u64 = cap(Capability::CAP_SYS_BOOT);
const SYS_NICE: u64 = cap(Capability::CAP_SYS_NICE);
const SYS_TIME: u64 = cap(Capability::CAP_SYS_TIME);
const SYS_TTY_CONFIG: u64 = cap(Capability::CAP_SYS_TTY_CONFIG);
const SYSLOG: u64 = cap(Capability::CAP_SYSLOG);
const PERFMON: u64 = cap(Capability::CAP_PERFMON);
const BPF: u64 = cap(Capability::CAP_BPF);

/// What Docker's profile says about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Allow,
    /// Not on the list: EPERM.
    Deny,
    /// Allowed when the bounding set holds one of these capabilities.
    Cap(&'static [u64]),
    /// clone: the namespace flags need CAP_SYS_ADMIN.
    Clone,
    /// clone3: ENOSYS without CAP_SYS_ADMIN.
    Clone3,
    /// socket: every family but AF_ALG and AF_VSOCK.
    Socket,
    /// personality: Linux, 32-bit Linux, either with UNAME26, or a query.
    Personality,
    /// ioctl: all but TIOCSTI and TIOCLINUX (rrun's own addition).
    Ioctl,
}

/// The clone flags that make a namespace: CLONE_NEWNS, CLONE_NEWCGROUP,
/// CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET
/// (CLONE_NEWTIME has no clone flag of its own: its bit is in clone's
/// exit-signal byte).
const NAMESPACE_FLAGS: u32 = 0x7E02_0000;

/// The personalities a container may set: PER_LINUX, PER_LINUX32, each
/// with UNAME26, and 0xffffffff (which only reads the current one).
const PERSONALITIES: [u32; 5] = [0, 8, 0x0002_0000, 0x0002_0008, 0xffff_ffff];

const TIOCSTI: u32 = 0x5412;
const TIOCLINUX: u32 = 0x541C;

/// The system calls of x86-64 and aarch64 and Docker's rule for each.
mod table {
    use super::Rule::*;
    use super::*;

    pub struct Call {
        pub name: &'static str,
        pub x86_64: u16,
        pub aarch64: u16,
        pub rule: Rule,
    }

    /// No such call on that architecture.
    pub const NO: u16 = u16::MAX;

    const fn call(name: &'static str, x86_64: u16, aarch64: u16, rule: Rule) -> Call {
        Call {
            name,
            x86_64,
            aarch64,
            rule,
        }
    }

    /// Sorted by name. Linux 6.17's open_tree_attr, file_getattr and
    /// file_setattr (467-469) are newer than Docker's profile: not here,
    /// hence ENOSYS.
    pub const CALLS: &[Call] = &[
        call("_sysctl", 156, NO, Deny),
        call("accept", 43, 202, Allow),
        call("accept4", 288, 242, Allow),
        call("access", 21, NO, Allow),
        call("acct", 163, 89, Cap(&[SYS_PACCT])),
        call("add_key", 248, 217, Deny),
        call("adjtimex", 159, 171, Allow),
        call("afs_syscall", 183, NO, Deny),
        call("alarm", 37, NO, Allow),
        call("arch_prctl", 158, NO, Allow),
        call("bind", 49, 200, Allow),
        call("bpf", 321, 280, Cap(&[SYS_ADMIN, BPF])),
        call("brk", 12, 214, Allow),
        call("cachestat", 451, 451, Allow),
        call("capget", 125, 90, Allow),
        call("capset", 126, 91, Allow),
        call("chdir", 80, 49, Allow),
        call("chmod", 90, NO, Allow),
        call("chown", 92, NO, Allow),
        call("chroot", 161, 51, Cap(&[SYS_CHROOT])),
        call("clock_adjtime", 305, 266, Allow),
        call("clock_getres", 229, 114, Allow),
        call("clock_gettime", 228, 113, Allow),
        call("clock_nanosleep", 230, 115, Allow),
        call("clock_settime", 227, 112, Cap(&[SYS_TIME])),
        call("clone", 56, 220, Clone),
        call("clone3", 435, 435, Clone3),
        call("close", 3, 57, Allow),
        call("close_range", 436, 436, Allow),
        call("connect", 42, 203, Allow),
        call("copy_file_range", 326, 285, Allow),
        call("creat", 85, NO, Allow),
        call("create_module", 174, NO, Deny),
        call("delete_module", 176, 106, Cap(&[SYS_MODULE])),
        call("dup", 32, 23, Allow),
        call("dup2", 33, NO, Allow),
        call("dup3", 292, 24, Allow),
        call("epoll_create", 213, NO, Allow),
        call("epoll_create1", 291, 20, Allow),
        call("epoll_ctl", 233, 21, Allow),
        call("epoll_ctl_old", 214, NO, Allow),
        call("epoll_pwait", 281, 22, Allow),
        call("epoll_pwait2", 441, 441, Allow),
        call("epoll_wait", 232, NO, Allow),
        call("epoll_wait_old", 215, NO, Allow),
        call("eventfd", 284, NO, Allow),
        call("eventfd2", 290, 19, Allow),
        call("execve", 59, 221, Allow),
        call("execveat", 322, 281, Allow),
        call("exit", 60, 93, Allow),
        call("exit_group", 231, 94, Allow),
        call("faccessat", 269, 48, Allow),
        call("faccessat2", 439, 439, Allow),
        call("fadvise64", 221, 223, Allow),
        call("fallocate", 285, 47, Allow),
        call("fanotify_init", 300, 262, Cap(&[SYS_ADMIN])),
        call("fanotify_mark", 301, 263, Allow),
        call("fchdir", 81, 50, Allow),
        call("fchmod", 91, 52, Allow),
        call("fchmodat", 268, 53, Allow),
        call("fchmodat2", 452, 452, Allow),
        call("fchown", 93, 55, Allow),
        call("fchownat", 260, 54, Allow),
        call("fcntl", 72, 25, Allow),
        call("fdatasync", 75, 83, Allow),
        call("fgetxattr", 193, 10, Allow),
        call("finit_module", 313, 273, Cap(&[SYS_MODULE])),
        call("flistxattr", 196, 13, Allow),
        call("flock", 73, 32, Allow),
        call("fork", 57, NO, Allow),
        call("fremovexattr", 199, 16, Allow),
        call("fsconfig", 431, 431, Cap(&[SYS_ADMIN])),
        call("fsetxattr", 190, 7, Allow),
        call("fsmount", 432, 432, Cap(&[SYS_ADMIN])),
        call("fsopen", 430, 430, Cap(&[SYS_ADMIN])),
        call("fspick", 433, 433, Cap(&[SYS_ADMIN])),
        call("fstat", 5, 80, Allow),
        call("fstatfs", 138, 44, Allow),
        call("fsync", 74, 82, Allow),
        call("ftruncate", 77, 46, Allow),
        call("futex", 202, 98, Allow),
        call("futex_requeue", 456, 456, Allow),
        call("futex_wait", 455, 455, Allow),
        call("futex_waitv", 449, 449, Allow),
        call("futex_wake", 454, 454, Allow),
        call("futimesat", 261, NO, Allow),
        call("get_kernel_syms", 177, NO, Deny),
        call("get_mempolicy", 239, 236, Cap(&[SYS_NICE])),
        call("get_robust_list", 274, 100, Allow),
        call("get_thread_area", 211, NO, Allow),
        call("getcpu", 309, 168, Allow),
        call("getcwd", 79, 17, Allow),
        call("getdents", 78, NO, Allow),
        call("getdents64", 217, 61, Allow),
        call("getegid", 108, 177, Allow),
        call("geteuid", 107, 175, Allow),
        call("getgid", 104, 176, Allow),
        call("getgroups", 115, 158, Allow),
        call("getitimer", 36, 102, Allow),
        call("getpeername", 52, 205, Allow),
        call("getpgid", 121, 155, Allow),
        call("getpgrp", 111, NO, Allow),
        call("getpid", 39, 172, Allow),
        call("getpmsg", 181, NO, Deny),
        call("getppid", 110, 173, Allow),
        call("getpriority", 140, 141, Allow),
        call("getrandom", 318, 278, Allow),
        call("getresgid", 120, 150, Allow),
        call("getresuid", 118, 148, Allow),
        call("getrlimit", 97, 163, Allow),
        call("getrusage", 98, 165, Allow),
        call("getsid", 124, 156, Allow),
        call("getsockname", 51, 204, Allow),
        call("getsockopt", 55, 209, Allow),
        call("gettid", 186, 178, Allow),
        call("gettimeofday", 96, 169, Allow),
        call("getuid", 102, 174, Allow),
        call("getxattr", 191, 8, Allow),
        call("getxattrat", 464, 464, Allow),
        call("init_module", 175, 105, Cap(&[SYS_MODULE])),
        call("inotify_add_watch", 254, 27, Allow),
        call("inotify_init", 253, NO, Allow),
        call("inotify_init1", 294, 26, Allow),
        call("inotify_rm_watch", 255, 28, Allow),
        call("io_cancel", 210, 3, Allow),
        call("io_destroy", 207, 1, Allow),
        call("io_getevents", 208, 4, Allow),
        call("io_pgetevents", 333, 292, Allow),
        call("io_setup", 206, 0, Allow),
        call("io_submit", 209, 2, Allow),
        call("io_uring_enter", 426, 426, Deny),
        call("io_uring_register", 427, 427, Deny),
        call("io_uring_setup", 425, 425, Deny),
        call("ioctl", 16, 29, Ioctl),
        call("ioperm", 173, NO, Cap(&[SYS_RAWIO])),
        call("iopl", 172, NO, Cap(&[SYS_RAWIO])),
        call("ioprio_get", 252, 31, Allow),
        call("ioprio_set", 251, 30, Allow),
        call("kcmp", 312, 272, Cap(&[SYS_PTRACE])),
        call("kexec_file_load", 320, 294, Deny),
        call("kexec_load", 246, 104, Deny),
        call("keyctl", 250, 219, Deny),
        call("kill", 62, 129, Allow),
        call("landlock_add_rule", 445, 445, Allow),
        call("landlock_create_ruleset", 444, 444, Allow),
        call("landlock_restrict_self", 446, 446, Allow),
        call("lchown", 94, NO, Allow),
        call("lgetxattr", 192, 9, Allow),
        call("link", 86, NO, Allow),
        call("linkat", 265, 37, Allow),
        call("listen", 50, 201, Allow),
        call("listmount", 458, 458, Allow),
        call("listxattr", 194, 11, Allow),
        call("listxattrat", 465, 465, Allow),
        call("llistxattr", 195, 12, Allow),
        call("lookup_dcookie", 212, 18, Cap(&[SYS_ADMIN])),
        call("lremovexattr", 198, 15, Allow),
        call("lseek", 8, 62, Allow),
        call("lsetxattr", 189, 6, Allow),
        call("lsm_get_self_attr", 459, 459, Cap(&[SYS_ADMIN])),
        call("lsm_list_modules", 461, 461, Cap(&[SYS_ADMIN])),
        call("lsm_set_self_attr", 460, 460, Cap(&[SYS_ADMIN])),
        call("lstat", 6, NO, Allow),
        call("madvise", 28, 233, Allow),
        call("map_shadow_stack", 453, 453, Allow),
        call("mbind", 237, 235, Cap(&[SYS_NICE])),
        call("membarrier", 324, 283, Allow),
        call("memfd_create", 319, 279, Allow),
        call("memfd_secret", 447, 447, Allow),
        call("migrate_pages", 256, 238, Deny),
        call("mincore", 27, 232, Allow),
        call("mkdir", 83, NO, Allow),
        call("mkdirat", 258, 34, Allow),
        call("mknod", 133, NO, Allow),
        call("mknodat", 259, 33, Allow),
        call("mlock", 149, 228, Allow),
        call("mlock2", 325, 284, Allow),
        call("mlockall", 151, 230, Allow),
        call("mmap", 9, 222, Allow),
        call("modify_ldt", 154, NO, Allow),
        call("mount", 165, 40, Cap(&[SYS_ADMIN])),
        call("mount_setattr", 442, 442, Cap(&[SYS_ADMIN])),
        call("move_mount", 429, 429, Cap(&[SYS_ADMIN])),
        call("move_pages", 279, 239, Deny),
        call("mprotect", 10, 226, Allow),
        call("mq_getsetattr", 245, 185, Allow),
        call("mq_notify", 244, 184, Allow),
        call("mq_open", 240, 180, Allow),
        call("mq_timedreceive", 243, 183, Allow),
        call("mq_timedsend", 242, 182, Allow),
        call("mq_unlink", 241, 181, Allow),
        call("mremap", 25, 216, Allow),
        call("mseal", 462, 462, Allow),
        call("msgctl", 71, 187, Allow),
        call("msgget", 68, 186, Allow),
        call("msgrcv", 70, 188, Allow),
        call("msgsnd", 69, 189, Allow),
        call("msync", 26, 227, Allow),
        call("munlock", 150, 229, Allow),
        call("munlockall", 152, 231, Allow),
        call("munmap", 11, 215, Allow),
        call("name_to_handle_at", 303, 264, Allow),
        call("nanosleep", 35, 101, Allow),
        call("newfstatat", 262, 79, Allow),
        call("nfsservctl", 180, 42, Deny),
        call("open", 2, NO, Allow),
        call("open_by_handle_at", 304, 265, Cap(&[DAC_READ_SEARCH])),
        call("open_tree", 428, 428, Cap(&[SYS_ADMIN])),
        call("openat", 257, 56, Allow),
        call("openat2", 437, 437, Allow),
        call("pause", 34, NO, Allow),
        call("perf_event_open", 298, 241, Cap(&[SYS_ADMIN, PERFMON])),
        call("personality", 135, 92, Personality),
        call("pidfd_getfd", 438, 438, Cap(&[SYS_PTRACE])),
        call("pidfd_open", 434, 434, Allow),
        call("pidfd_send_signal", 424, 424, Allow),
        call("pipe", 22, NO, Allow),
        call("pipe2", 293, 59, Allow),
        call("pivot_root", 155, 41, Deny),
        call("pkey_alloc", 330, 289, Allow),
        call("pkey_free", 331, 290, Allow),
        call("pkey_mprotect", 329, 288, Allow),
        call("poll", 7, NO, Allow),
        call("ppoll", 271, 73, Allow),
        call("prctl", 157, 167, Allow),
        call("pread64", 17, 67, Allow),
        call("preadv", 295, 69, Allow),
        call("preadv2", 327, 286, Allow),
        call("prlimit64", 302, 261, Allow),
        call("process_madvise", 440, 440, Cap(&[SYS_PTRACE])),
        call("process_mrelease", 448, 448, Allow),
        call("process_vm_readv", 310, 270, Allow),
        call("process_vm_writev", 311, 271, Allow),
        call("pselect6", 270, 72, Allow),
        call("ptrace", 101, 117, Allow),
        call("putpmsg", 182, NO, Deny),
        call("pwrite64", 18, 68, Allow),
        call("pwritev", 296, 70, Allow),
        call("pwritev2", 328, 287, Allow),
        call("query_module", 178, NO, Deny),
        call("quotactl", 179, 60, Cap(&[SYS_ADMIN])),
        call("quotactl_fd", 443, 443, Cap(&[SYS_ADMIN])),
        call("read", 0, 63, Allow),
        call("readahead", 187, 213, Allow),
        call("readlink", 89, NO, Allow),
        call("readlinkat", 267, 78, Allow),
        call("readv", 19, 65, Allow),
        call("reboot", 169, 142, Cap(&[SYS_BOOT])),
        call("recvfrom", 45, 207, Allow),
        call("recvmmsg", 299, 243, Allow),
        call("recvmsg", 47, 212, Allow),
        call("remap_file_pages", 216, 234, Allow),
        call("removexattr", 197, 14, Allow),
        call("removexattrat", 466, 466, Allow),
        call("rename", 82, NO, Allow),
        call("renameat", 264, 38, Allow),
        call("renameat2", 316, 276, Allow),
        call("request_key", 249, 218, Deny),
        call("restart_syscall", 219, 128, Allow),
        call("rmdir", 84, NO, Allow),
        call("rseq", 334, 293, Allow),
        call("rt_sigaction", 13, 134, Allow),
        call("rt_sigpending", 127, 136, Allow),
        call("rt_sigprocmask", 14, 135, Allow),
        call("rt_sigqueueinfo", 129, 138, Allow),
        call("rt_sigreturn", 15, 139, Allow),
        call("rt_sigsuspend", 130, 133, Allow),
        call("rt_sigtimedwait", 128, 137, Allow),
        call("rt_tgsigqueueinfo", 297, 240, Allow),
        call("sched_get_priority_max", 146, 125, Allow),
        call("sched_get_priority_min", 147, 126, Allow),
        call("sched_getaffinity", 204, 123, Allow),
        call("sched_getattr", 315, 275, Allow),
        call("sched_getparam", 143, 121, Allow),
        call("sched_getscheduler", 145, 120, Allow),
        call("sched_rr_get_interval", 148, 127, Allow),
        call("sched_setaffinity", 203, 122, Allow),
        call("sched_setattr", 314, 274, Allow),
        call("sched_setparam", 142, 118, Allow),
        call("sched_setscheduler", 144, 119, Allow),
        call("sched_yield", 24, 124, Allow),
        call("seccomp", 317, 277, Allow),
        call("security", 185, NO, Deny),
        call("select", 23, NO, Allow),
        call("semctl", 66, 191, Allow),
        call("semget", 64, 190, Allow),
        call("semop", 65, 193, Allow),
        call("semtimedop", 220, 192, Allow),
        call("sendfile", 40, 71, Allow),
        call("sendmmsg", 307, 269, Allow),
        call("sendmsg", 46, 211, Allow),
        call("sendto", 44, 206, Allow),
        call("set_mempolicy", 238, 237, Cap(&[SYS_NICE])),
        call("set_mempolicy_home_node", 450, 450, Cap(&[SYS_NICE])),
        call("set_robust_list", 273, 99, Allow),
        call("set_thread_area", 205, NO, Allow),
        call("set_tid_address", 218, 96, Allow),
        call("setdomainname", 171, 162, Cap(&[SYS_ADMIN])),
        call("setfsgid", 123, 152, Allow),
        call("setfsuid", 122, 151, Allow),
        call("setgid", 106, 144, Allow),
        call("setgroups", 116, 159, Allow),
        call("sethostname", 170, 161, Cap(&[SYS_ADMIN])),
        call("setitimer", 38, 103, Allow),
        call("setns", 308, 268, Cap(&[SYS_ADMIN])),
        call("setpgid", 109, 154, Allow),
        call("setpriority", 141, 140, Allow),
        call("setregid", 114, 143, Allow),
        call("setresgid", 119, 149, Allow),
        call("setresuid", 117, 147, Allow),
        call("setreuid", 113, 145, Allow),
        call("setrlimit", 160, 164, Allow),
        call("setsid", 112, 157, Allow),
        call("setsockopt", 54, 208, Allow),
        call("settimeofday", 164, 170, Cap(&[SYS_TIME])),
        call("setuid", 105, 146, Allow),
        call("setxattr", 188, 5, Allow),
        call("setxattrat", 463, 463, Allow),
        call("shmat", 30, 196, Allow),
        call("shmctl", 31, 195, Allow),
        call("shmdt", 67, 197, Allow),
        call("shmget", 29, 194, Allow),
        call("shutdown", 48, 210, Allow),
        call("sigaltstack", 131, 132, Allow),
        call("signalfd", 282, NO, Allow),
        call("signalfd4", 289, 74, Allow),
        call("socket", 41, 198, Socket),
        call("socketpair", 53, 199, Allow),
        call("splice", 275, 76, Allow),
        call("stat", 4, NO, Allow),
        call("statfs", 137, 43, Allow),
        call("statmount", 457, 457, Allow),
        call("statx", 332, 291, Allow),
        call("swapoff", 168, 225, Deny),
        call("swapon", 167, 224, Deny),
        call("symlink", 88, NO, Allow),
        call("symlinkat", 266, 36, Allow),
        call("sync", 162, 81, Allow),
        call("sync_file_range", 277, 84, Allow),
        call("syncfs", 306, 267, Allow),
        call("sysfs", 139, NO, Deny),
        call("sysinfo", 99, 179, Allow),
        call("syslog", 103, 116, Cap(&[SYS_ADMIN, SYSLOG])),
        call("tee", 276, 77, Allow),
        call("tgkill", 234, 131, Allow),
        call("time", 201, NO, Allow),
        call("timer_create", 222, 107, Allow),
        call("timer_delete", 226, 111, Allow),
        call("timer_getoverrun", 225, 109, Allow),
        call("timer_gettime", 224, 108, Allow),
        call("timer_settime", 223, 110, Allow),
        call("timerfd_create", 283, 85, Allow),
        call("timerfd_gettime", 287, 87, Allow),
        call("timerfd_settime", 286, 86, Allow),
        call("times", 100, 153, Allow),
        call("tkill", 200, 130, Allow),
        call("truncate", 76, 45, Allow),
        call("tuxcall", 184, NO, Deny),
        call("umask", 95, 166, Allow),
        call("umount2", 166, 39, Cap(&[SYS_ADMIN])),
        call("uname", 63, 160, Allow),
        call("unlink", 87, NO, Allow),
        call("unlinkat", 263, 35, Allow),
        call("unshare", 272, 97, Cap(&[SYS_ADMIN])),
        call("uprobe", 336, NO, Deny),
        call("uretprobe", 335, NO, Allow),
        call("uselib", 134, NO, Deny),
        call("userfaultfd", 323, 282, Deny),
        call("ustat", 136, NO, Deny),
        call("utime", 132, NO, Allow),
        call("utimensat", 280, 88, Allow),
        call("utimes", 235, NO, Allow),
        call("vfork", 58, NO, Allow),
        call("vhangup", 153, 58, Cap(&[SYS_TTY_CONFIG])),
        call("vmsplice", 278, 75, Allow),
        call("vserver", 236, NO, Deny),
        call("wait4", 61, 260, Allow),
        call("waitid", 247, 95, Allow),
        call("write", 1, 64, Allow),
        call("writev", 20, 66, Allow),
    ];
}

/// What the filter does with one call number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Allow,
    /// Fail with this errno.
    Errno(i32),
    /// clone: EPERM when the flags (argument 0) ask for a namespace.
    NoNamespaces,
    /// socket: EPERM for AF_ALG and AF_VSOCK (argument 0).
    Socket,
    /// personality: EPERM but for [`PERSONALITIES`] (argument 0).
    Personality,
    /// ioctl: EPERM for TIOCSTI and TIOCLINUX (argument 1).
    Ioctl,
}

/// A rule's action for a container whose bounding set is `caps`.
fn action(rule: Rule, caps: u64) -> Action {
    let admin = caps & SYS_ADMIN != 0;
    match rule {
        Rule::Allow => Action::Allow,
        Rule::Deny => Action::Errno(libc::EPERM),
        Rule::Cap(any) if any.iter().any(|&c| caps & c != 0) => Action::Allow,
        Rule::Cap(_) => Action::Errno(libc::EPERM),
        Rule::Clone if admin => Action::Allow,
        Rule::Clone => Action::NoNamespaces,
        Rule::Clone3 if admin => Action::Allow,
        Rule::Clone3 => Action::Errno(libc::ENOSYS),
        Rule::Socket => Action::Socket,
        Rule::Personality => Action::Personality,
        Rule::Ioctl => Action::Ioctl,
    }
}

/// Every call number's action as ranges: (first number, action), sorted,
/// the first at 0, each running up to the next (the last to u32::MAX).
/// Numbers the table does not name get ENOSYS.
fn ranges(arch: Arch, caps: u64) -> Vec<(u32, Action)> {
    const NOSYS: Action = Action::Errno(libc::ENOSYS);
    let mut known: Vec<(u32, Action)> = table::CALLS
        .iter()
        .filter_map(|c| Some((arch.nr(c)?, action(c.rule, caps))))
        .collect();
    known.sort_unstable_by_key(|&(nr, _)| nr);
    let mut out: Vec<(u32, Action)> = Vec::with_capacity(known.len());
    let mut push = |start: u32, a: Action| {
        if out.last().map(|&(_, last)| last) != Some(a) {
            out.push((start, a));
        }
    };
    // The first number not covered yet.
    let mut next = 0;
    for (nr, a) in known {
        if nr > next {
            push(next, NOSYS);
        }
        push(nr, a);
        next = nr + 1;
    }
    push(next, NOSYS);
    out
}

// struct seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8i (the low
// 32 bits first on these little-endian machines).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg_low(i: u32) -> u32 {
    16 + 8 * i
}

// Classic BPF opcodes.
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (e as u32 & libc::SECCOMP_RET_DATA)
}
const EPERM: u32 = errno(libc::EPERM);

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The code for one action; A holds the call number on entry. Every path
/// returns.
fn handler(a: Action) -> BpfProgram {
    match a {
        Action::Allow => vec![ins(RET_K, 0, 0, ALLOW)],
        Action::Errno(e) => vec![ins(RET_K, 0, 0, errno(e))],
        Action::NoNamespaces => vec![
            ins(LD_W_ABS, 0, 0, off_arg_low(0)),
            ins(JSET_K, 0, 1, NAMESPACE_FLAGS),
            ins(RET_K, 0, 0, EPERM),
            ins(RET_K, 0, 0, ALLOW),
        ],
        Action::Socket => vec![
            ins(LD_W_ABS, 0, 0, off_arg_low(0)),
            ins(JEQ_K, 2, 0, libc::AF_ALG as u32),
            ins(JEQ_K, 1, 0, libc::AF_VSOCK as u32),
            ins(RET_K, 0, 0, ALLOW),
            ins(RET_K, 0, 0, EPERM),
        ],
        Action::Personality => {
            let mut p = vec![ins(LD_W_ABS, 0, 0, off_arg_low(0))];
            // Each match jumps over the remaining comparisons and the EPERM.
            for (i, &persona) in PERSONALITIES.iter().enumerate() {
                p.push(ins(JEQ_K, (PERSONALITIES.len() - i) as u8, 0, persona));
            }
            p.push(ins(RET_K, 0, 0, EPERM));
            p.push(ins(RET_K, 0, 0, ALLOW));
            p
        }
        Action::Ioctl => vec![
            ins(LD_W_ABS, 0, 0, off_arg_low(1)),
            ins(JEQ_K, 2, 0, TIOCSTI),
            ins(JEQ_K, 1, 0, TIOCLINUX),
            ins(RET_K, 0, 0, ALLOW),
            ins(RET_K, 0, 0, EPERM),
        ],
    }
}

/// A binary search over `ranges` (sorted, not empty) for the call number
/// in A: a few comparisons for any call instead of one per listed call.
fn search(ranges: &[(u32, Action)]) -> BpfProgram {
    let mid = ranges.len() / 2;
    if mid == 0 {
        return ranges.iter().flat_map(|&(_, a)| handler(a)).collect();
    }
    let (low, high) = ranges.split_at(mid);
    let left = search(low);
    let right = search(high);
    let mut out = Vec::new();
    // A conditional jump reaches 255 instructions; past the left half,
    // an unconditional one (32-bit offset) does.
    match u8::try_from(left.len()) {
        Ok(skip) => out.push(ins(JGE_K, skip, 0, high[0].0)),
        Err(_) => {
            out.push(ins(JGE_K, 0, 1, high[0].0));
            out.push(ins(JA, 0, 0, left.len() as u32));
        }
    }
    out.extend(left);
    out.extend(right);
    out
}

/// The filter for `arch` of a container whose bounding set is `caps`.
fn program(arch: Arch, caps: u64) -> BpfProgram {
    let mut p = vec![
        // Another architecture's numbers (i386 on x86-64) are not this
        // table's: kill.
        ins(LD_W_ABS, 0, 0, OFF_ARCH),
        ins(JEQ_K, 1, 0, arch.audit()),
        ins(RET_K, 0, 0, KILL),
        ins(LD_W_ABS, 0, 0, OFF_NR),
    ];
    p.extend(search(&ranges(arch, caps)));
    p
}

/// The filter of a container whose bounding set is `caps` (one program;
/// a Vec so that "unconfined" is the empty one).
pub fn default_programs(caps: u64) -> Result<Vec<BpfProgram>, SeccompError> {
    Ok(vec![program(Arch::native()?, caps)])
}

/// Install the programs on the calling thread (no_new_privs must be set).
/// Called last before execve: nothing after it may need a refused call.
pub fn install(progs: &[BpfProgram]) -> Result<(), SeccompError> {
    for p in progs {
        load(p, 0)?;
    }
    Ok(())
}

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): what the call returns
/// (a listener's fd with NEW_LISTENER).
fn load(p: &BpfProgram, flags: libc::c_ulong) -> Result<libc::c_long, SeccompError> {
    let len = u16::try_from(p.len())
        .map_err(|_| SeccompError::Install(std::io::Error::from_raw_os_error(libc::EINVAL)))?;
    let prog = libc::sock_fprog {
        len,
        filter: p.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at p's instructions, alive for the call; the
    // kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(SeccompError::Install(std::io::Error::last_os_error()));
    }
    Ok(r)
}

/// The socket bypass's filter (bypass.rs): connect(2) of this
/// architecture goes to the listener; everything else, and every call of
/// another architecture or ABI (x32 sets bit 30 of the number), is allowed
/// here and left to the container's own filter.
pub fn connect_notify_program() -> Result<BpfProgram, SeccompError> {
    let arch = Arch::native()?;
    let nr = table::CALLS
        .iter()
        .find(|c| c.name == "connect")
        .and_then(|c| arch.nr(c))
        .ok_or(SeccompError::Arch(std::env::consts::ARCH))?;
    Ok(vec![
        ins(LD_W_ABS, 0, 0, OFF_ARCH),
        ins(JEQ_K, 0, 3, arch.audit()),
        ins(LD_W_ABS, 0, 0, OFF_NR),
        ins(JEQ_K, 0, 1, nr),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_USER_NOTIF),
        ins(RET_K, 0, 0, ALLOW),
    ])
}

/// Install `prog` with a user-notification listener; the listener's fd.
/// The waiting of a trapped call is killable only (a signal would restart
/// it after the supervisor took it in hand). Needs Linux 5.19; an older
/// kernel answers EINVAL.
pub fn install_listener(prog: &BpfProgram) -> Result<std::os::fd::OwnedFd, SeccompError> {
    use std::os::fd::FromRawFd;
    let r = load(
        prog,
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    )?;
    // SAFETY: r is the new listener fd, owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(r as std::os::fd::RawFd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use table::{CALLS, Call};

    /// Docker's default capability set.
    const DEFAULT_CAPS: u64 = 0xa804_25fb;
    const ARCHES: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];
    const NOSYS: u32 = errno(libc::ENOSYS);
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

    /// A classic BPF interpreter for the instructions used here, run on a
    /// seccomp_data of (nr, arch, args). Also counts the instructions run.
    fn run_counted(p: &BpfProgram, nr: u32, arch: u32, args: [u64; 6]) -> (u32, usize) {
        let load = |off: u32| -> u32 {
            match off {
                OFF_NR => nr,
                OFF_ARCH => arch,
                o if o >= 16 && (o - 16) % 8 == 0 && o < 64 => args[((o - 16) / 8) as usize] as u32,
                o => panic!("load at {o}"),
            }
        };
        let (mut pc, mut a, mut steps) = (0usize, 0u32, 0usize);
        loop {
            let i = p[pc];
            pc += 1;
            steps += 1;
            let jump = |cond: bool| usize::from(if cond { i.jt } else { i.jf });
            match i.code {
                LD_W_ABS => a = load(i.k),
                JA => pc += i.k as usize,
                JEQ_K => pc += jump(a == i.k),
                JGE_K => pc += jump(a >= i.k),
                JSET_K => pc += jump(a & i.k != 0),
                RET_K => return (i.k, steps),
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    fn run(p: &BpfProgram, nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        run_counted(p, nr, arch, args).0
    }

    fn find(arch: Arch, nr: u32) -> Option<&'static Call> {
        CALLS.iter().find(|c| arch.nr(c) == Some(nr))
    }

    fn named(name: &str) -> &'static Call {
        CALLS.iter().find(|c| c.name == name).expect(name)
    }

    /// What the filter must answer, written plainly from the table and
    /// Docker's conditions.
    fn expected(c: Option<&Call>, caps: u64, args: [u64; 6]) -> u32 {
        let Some(c) = c else { return NOSYS };
        let low = |i: usize| args[i] as u32;
        let held = |set: u64| caps & set != 0;
        let allow_if = |ok: bool| if ok { ALLOW } else { EPERM };
        match c.rule {
            Rule::Allow => ALLOW,
            Rule::Deny => EPERM,
            Rule::Cap(set) => allow_if(set.iter().any(|&c| held(c))),
            Rule::Clone => allow_if(held(SYS_ADMIN) || low(0) & 0x7E02_0000 == 0),
            Rule::Clone3 if held(SYS_ADMIN) => ALLOW,
            Rule::Clone3 => NOSYS,
            Rule::Socket => allow_if(low(0) < 38 || low(0) == 39 || low(0) > 40),
            Rule::Personality => allow_if([0, 8, 0x20000, 0x20008, 0xffff_ffff].contains(&low(0))),
            Rule::Ioctl => allow_if(low(1) != 0x5412 && low(1) != 0x541C),
        }
    }

    /// The capability sets tried: none, Docker's, each capability a rule
    /// names added to Docker's set (and alone), all.
    fn cap_sets() -> Vec<u64> {
        let mut sets = vec![0, DEFAULT_CAPS, u64::MAX >> 23];
        for c in CALLS {
            if let Rule::Cap(set) = c.rule {
                for &bit in set {
                    sets.extend([bit, DEFAULT_CAPS | bit]);
                }
            }
        }
        sets.extend([
            SYS_ADMIN,
            DEFAULT_CAPS | SYS_ADMIN,
            DEFAULT_CAPS & !SYS_CHROOT,
        ]);
        sets.sort_unstable();
        sets.dedup();
        sets
    }

    /// Argument vectors that reach every branch of the argument checks.
    fn arg_sets() -> Vec<[u64; 6]> {
        let first: [u64; 22] = [
            0,
            1,
            8,
            0x20000,
            0x20008,
            0xffff_ffff,
            0x0040_0000, // ADDR_NO_RANDOMIZE
            0x1_0000_0000,
            2,
            37,
            38,
            39,
            40,
            41,
            40 | 1 << 32,
            0x11,               // SIGCHLD
            0x0100_0f00 | 0x11, // a thread
            libc::CLONE_NEWUSER as u64 | 0x11,
            0x80, // CLONE_NEWTIME for unshare
            0x7E02_0000,
            0xffff_ffff_8000_0000,
            u64::MAX,
        ];
        let mut v: Vec<[u64; 6]> = first.iter().map(|&a| [a, 0, 0, 0, 0, 0]).collect();
        for ns in [
            libc::CLONE_NEWNS,
            libc::CLONE_NEWCGROUP,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
        ] {
            v.push([ns as u64 | 0x11, 0, 0, 0, 0, 0]);
        }
        for cmd in [
            0x5412,
            0x541C,
            0x5412 | 1 << 32,
            0x541C | 7 << 40,
            0x5413,
            0x5401,
        ] {
            v.push([1, cmd, 0, 0, 0, 0]);
        }
        v
    }

    fn highest(arch: Arch) -> u32 {
        CALLS.iter().filter_map(|c| arch.nr(c)).max().unwrap()
    }

    #[test]
    fn every_call_number_answered_per_table() {
        let args = arg_sets();
        for arch in ARCHES {
            let max = highest(arch);
            let numbers: Vec<u32> = (0..=max + 100)
                .chain([
                    X32_SYSCALL_BIT,
                    X32_SYSCALL_BIT | 39,
                    X32_SYSCALL_BIT | 512,
                    0x7fff_ffff,
                    0x8000_0000,
                    u32::MAX,
                ])
                .collect();
            for caps in cap_sets() {
                let p = &program(arch, caps);
                for &nr in &numbers {
                    let c = find(arch, nr);
                    for &a in &args {
                        assert_eq!(
                            run(p, nr, arch.audit(), a),
                            expected(c, caps, a),
                            "{arch:?} call {nr} ({:?}) args {a:x?} caps {caps:x}",
                            c.map(|c| c.name)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn other_architectures_are_killed() {
        for (arch, foreign) in [
            (Arch::X86_64, AUDIT_ARCH_I386),
            (Arch::X86_64, Arch::Aarch64.audit()),
            (Arch::Aarch64, AUDIT_ARCH_ARM),
            (Arch::Aarch64, Arch::X86_64.audit()),
        ] {
            for caps in [0, DEFAULT_CAPS, u64::MAX] {
                let p = &program(arch, caps);
                for nr in [0, 1, 20, 39, 172, 1000] {
                    assert_eq!(
                        run(p, nr, foreign, [0; 6]),
                        KILL,
                        "{arch:?} {foreign:x} {nr}"
                    );
                }
            }
        }
    }

    /// Docker's semantics, spelled out call by call for Docker's default
    /// capability set and with capabilities added.
    #[test]
    fn docker_semantics() {
        let ns = |f: i32| [f as u64 | 0x11, 0, 0, 0, 0, 0];
        let a0 = |v: u64| [v, 0, 0, 0, 0, 0];
        let ioctl = |cmd: u64| [0, cmd, 0, 0, 0, 0];
        #[rustfmt::skip]
        let cases: &[(&str, u64, [u64; 6], u32)] = &[
            ("read", DEFAULT_CAPS, [0; 6], ALLOW),
            ("execve", 0, [0; 6], ALLOW),
            ("ptrace", DEFAULT_CAPS, [0; 6], ALLOW),
            ("process_vm_readv", 0, [0; 6], ALLOW),
            ("name_to_handle_at", 0, [0; 6], ALLOW),
            ("clock_adjtime", 0, [0; 6], ALLOW),
            ("seccomp", DEFAULT_CAPS, [0; 6], ALLOW),
            ("landlock_create_ruleset", DEFAULT_CAPS, [0; 6], ALLOW),
            ("removexattrat", DEFAULT_CAPS, [0; 6], ALLOW),
            // Refused whatever the capabilities.
            ("io_uring_setup", u64::MAX, [0; 6], EPERM),
            ("io_uring_enter", u64::MAX, [0; 6], EPERM),
            ("io_uring_register", u64::MAX, [0; 6], EPERM),
            ("keyctl", u64::MAX, [0; 6], EPERM),
            ("add_key", u64::MAX, [0; 6], EPERM),
            ("request_key", u64::MAX, [0; 6], EPERM),
            ("kexec_load", u64::MAX, [0; 6], EPERM),
            ("kexec_file_load", u64::MAX, [0; 6], EPERM),
            ("userfaultfd", u64::MAX, [0; 6], EPERM),
            ("pivot_root", u64::MAX, [0; 6], EPERM),
            ("swapon", u64::MAX, [0; 6], EPERM),
            ("move_pages", u64::MAX, [0; 6], EPERM),
            // CAP_SYS_ADMIN.
            ("mount", DEFAULT_CAPS, [0; 6], EPERM),
            ("mount", DEFAULT_CAPS | SYS_ADMIN, [0; 6], ALLOW),
            ("umount2", DEFAULT_CAPS, [0; 6], EPERM),
            ("fsopen", DEFAULT_CAPS, [0; 6], EPERM),
            ("open_tree", SYS_ADMIN, [0; 6], ALLOW),
            ("setns", DEFAULT_CAPS, [0; 6], EPERM),
            ("setns", SYS_ADMIN, [0; 6], ALLOW),
            ("unshare", DEFAULT_CAPS, a0(0), EPERM),
            ("unshare", DEFAULT_CAPS, a0(libc::CLONE_NEWUSER as u64), EPERM),
            ("unshare", DEFAULT_CAPS | SYS_ADMIN, a0(libc::CLONE_NEWUSER as u64), ALLOW),
            ("sethostname", DEFAULT_CAPS, [0; 6], EPERM),
            ("lsm_list_modules", DEFAULT_CAPS, [0; 6], EPERM),
            ("lsm_list_modules", SYS_ADMIN, [0; 6], ALLOW),
            ("clone", DEFAULT_CAPS, ns(0), ALLOW),
            ("clone", DEFAULT_CAPS, a0(0x003d_0f00), ALLOW), // pthread_create
            ("clone", DEFAULT_CAPS, ns(libc::CLONE_NEWUSER), EPERM),
            ("clone", DEFAULT_CAPS, ns(libc::CLONE_NEWNS), EPERM),
            ("clone", DEFAULT_CAPS, ns(libc::CLONE_NEWCGROUP), EPERM),
            ("clone", DEFAULT_CAPS, ns(libc::CLONE_NEWUTS), EPERM),
            ("clone", DEFAULT_CAPS, ns(libc::CLONE_NEWIPC), EPERM),
            ("clone", DEFAULT_CAPS, ns(libc::CLONE_NEWPID), EPERM),
            ("clone", DEFAULT_CAPS, ns(libc::CLONE_NEWNET), EPERM),
            ("clone", DEFAULT_CAPS | SYS_ADMIN, ns(libc::CLONE_NEWUSER), ALLOW),
            ("clone3", DEFAULT_CAPS, [0; 6], NOSYS),
            ("clone3", DEFAULT_CAPS | SYS_ADMIN, [0; 6], ALLOW),
            // Either capability.
            ("bpf", DEFAULT_CAPS, [0; 6], EPERM),
            ("bpf", BPF, [0; 6], ALLOW),
            ("bpf", SYS_ADMIN, [0; 6], ALLOW),
            ("perf_event_open", PERFMON, [0; 6], ALLOW),
            ("perf_event_open", SYS_ADMIN, [0; 6], ALLOW),
            ("perf_event_open", DEFAULT_CAPS, [0; 6], EPERM),
            ("syslog", SYSLOG, [0; 6], ALLOW),
            ("syslog", SYS_ADMIN, [0; 6], ALLOW),
            ("syslog", DEFAULT_CAPS, [0; 6], EPERM),
            // One capability each.
            ("chroot", DEFAULT_CAPS, [0; 6], ALLOW),
            ("chroot", DEFAULT_CAPS & !SYS_CHROOT, [0; 6], EPERM),
            ("kcmp", DEFAULT_CAPS, [0; 6], EPERM),
            ("kcmp", SYS_PTRACE, [0; 6], ALLOW),
            ("pidfd_getfd", SYS_PTRACE, [0; 6], ALLOW),
            ("process_madvise", DEFAULT_CAPS, [0; 6], EPERM),
            ("reboot", DEFAULT_CAPS, [0; 6], EPERM),
            ("reboot", SYS_BOOT, [0; 6], ALLOW),
            ("init_module", SYS_MODULE, [0; 6], ALLOW),
            ("finit_module", DEFAULT_CAPS, [0; 6], EPERM),
            ("acct", SYS_PACCT, [0; 6], ALLOW),
            ("acct", DEFAULT_CAPS, [0; 6], EPERM),
            ("settimeofday", SYS_TIME, [0; 6], ALLOW),
            ("clock_settime", DEFAULT_CAPS, [0; 6], EPERM),
            ("vhangup", SYS_TTY_CONFIG, [0; 6], ALLOW),
            ("vhangup", DEFAULT_CAPS, [0; 6], EPERM),
            ("mbind", SYS_NICE, [0; 6], ALLOW),
            ("set_mempolicy_home_node", DEFAULT_CAPS, [0; 6], EPERM),
            ("open_by_handle_at", DAC_READ_SEARCH, [0; 6], ALLOW),
            ("open_by_handle_at", DEFAULT_CAPS, [0; 6], EPERM),
            // Arguments: socket families, personalities, terminal ioctls.
            ("socket", DEFAULT_CAPS, a0(libc::AF_INET as u64), ALLOW),
            ("socket", DEFAULT_CAPS, a0(libc::AF_NETLINK as u64), ALLOW),
            ("socket", u64::MAX, a0(libc::AF_ALG as u64), EPERM),
            ("socket", DEFAULT_CAPS, a0(39), ALLOW),
            ("socket", u64::MAX, a0(libc::AF_VSOCK as u64), EPERM),
            ("socket", DEFAULT_CAPS, a0(libc::AF_VSOCK as u64 | 1 << 32), EPERM),
            ("socket", DEFAULT_CAPS, a0(41), ALLOW),
            ("personality", DEFAULT_CAPS, a0(0xffff_ffff), ALLOW),
            ("personality", DEFAULT_CAPS, a0(8), ALLOW),
            ("personality", DEFAULT_CAPS, a0(0x0004_0000), EPERM),
            ("personality", u64::MAX, a0(0x0040_0000), EPERM),
            ("ioctl", DEFAULT_CAPS, ioctl(0x5401), ALLOW),
            ("ioctl", u64::MAX, ioctl(0x5412), EPERM),
            ("ioctl", u64::MAX, ioctl(0x541C), EPERM),
            ("ioctl", DEFAULT_CAPS, ioctl(0x5412 | 1 << 32), EPERM),
        ];
        for arch in ARCHES {
            for &(name, caps, args, want) in cases {
                let p = &program(arch, caps);
                let nr = arch.nr(named(name)).expect(name);
                assert_eq!(
                    run(p, nr, arch.audit(), args),
                    want,
                    "{arch:?} {name} caps {caps:x} {args:x?}"
                );
            }
        }
    }

    /// Numbers checked against the kernel's tables, and the answers to
    /// what lies beyond or between them.
    #[test]
    fn numbers_per_architecture() {
        #[rustfmt::skip]
        let known: &[(&str, u16, u16)] = &[
            ("read", 0, 63), ("write", 1, 64), ("open", 2, table::NO),
            ("stat", 4, table::NO), ("fork", 57, table::NO), ("ioctl", 16, 29),
            ("socket", 41, 198), ("clone", 56, 220), ("execve", 59, 221),
            ("personality", 135, 92), ("arch_prctl", 158, table::NO),
            ("mount", 165, 40), ("umount2", 166, 39), ("renameat", 264, 38),
            ("newfstatat", 262, 79), ("getrlimit", 97, 163), ("unshare", 272, 97),
            ("keyctl", 250, 219), ("uretprobe", 335, table::NO), ("uprobe", 336, table::NO),
            ("io_uring_setup", 425, 425), ("clone3", 435, 435), ("memfd_secret", 447, 447),
            ("map_shadow_stack", 453, 453), ("mseal", 462, 462), ("removexattrat", 466, 466),
        ];
        assert_eq!(Arch::X86_64.audit(), 0xC000_003E);
        assert_eq!(Arch::Aarch64.audit(), 0xC000_00B7);
        for &(name, x86_64, aarch64) in known {
            let c = named(name);
            assert_eq!((c.x86_64, c.aarch64), (x86_64, aarch64), "{name}");
        }
        let caps = u64::MAX;
        for (arch, nosys) in [
            // x86-64: the gap before the numbers shared with other
            // architectures, x32's own range, Linux 6.17's calls.
            (Arch::X86_64, &[337, 386, 423, 467, 469, 512, 547, 1000][..]),
            // aarch64: the architecture-specific gap, the 32-bit time calls.
            (
                Arch::Aarch64,
                &[244, 259, 295, 403, 423, 467, 469, 1000][..],
            ),
        ] {
            assert_eq!(highest(arch), 466, "{arch:?}");
            let p = &program(arch, caps);
            for &nr in nosys {
                assert_eq!(run(p, nr, arch.audit(), [0; 6]), NOSYS, "{arch:?} {nr}");
            }
            // x32 calls share x86-64's audit arch with bit 30 set.
            assert_eq!(run(p, X32_SYSCALL_BIT | 39, arch.audit(), [0; 6]), NOSYS);
        }
    }

    #[test]
    fn table_is_consistent() {
        for w in CALLS.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        for arch in ARCHES {
            let mut nrs: Vec<u32> = CALLS.iter().filter_map(|c| arch.nr(c)).collect();
            let n = nrs.len();
            nrs.sort_unstable();
            nrs.dedup();
            assert_eq!(nrs.len(), n, "{arch:?}: a number twice");
        }
        assert!(
            CALLS
                .iter()
                .all(|c| c.x86_64 != table::NO || c.aarch64 != table::NO)
        );
        let flags = libc::CLONE_NEWNS
            | libc::CLONE_NEWCGROUP
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUSER
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWNET;
        assert_eq!(NAMESPACE_FLAGS, flags as u32);
        // Allowed for Docker's default set: the same count on both, minus
        // each one's own calls.
        let allowed = |arch: Arch| {
            CALLS
                .iter()
                .filter(|c| arch.nr(c).is_some() && action(c.rule, DEFAULT_CAPS) == Action::Allow)
                .count()
        };
        assert_eq!((allowed(Arch::X86_64), allowed(Arch::Aarch64)), (305, 263));
    }

    #[test]
    fn ranges_cover_every_number_once() {
        for arch in ARCHES {
            for caps in [0, DEFAULT_CAPS, u64::MAX] {
                let r = ranges(arch, caps);
                assert_eq!(r[0].0, 0);
                for w in r.windows(2) {
                    assert!(w[0].0 < w[1].0, "{w:?}");
                    assert_ne!(w[0].1, w[1].1, "{w:?}: neighbours merge");
                }
                assert_eq!(
                    r.last().map(|&(n, a)| (n, a)),
                    Some((467, Action::Errno(libc::ENOSYS)))
                );
            }
        }
    }

    #[test]
    fn binary_search_stays_short() {
        for arch in ARCHES {
            for caps in [0, DEFAULT_CAPS, u64::MAX] {
                let p = &program(arch, caps);
                assert!(p.len() <= 200, "{arch:?}: {} instructions", p.len());
                // The instructions run for any call: a handful, not one
                // per listed call.
                let worst = (0..600)
                    .map(|nr| run_counted(p, nr, arch.audit(), [0; 6]).1)
                    .max()
                    .unwrap();
                assert!(worst <= 16, "{arch:?}: {worst} instructions for one call");
            }
        }
    }

    #[test]
    fn long_jumps_past_a_large_left_half() {
        // More ranges than one conditional jump can skip: the search
        // still answers every number.
        let many: Vec<(u32, Action)> = (0..400)
            .map(|i| {
                let a = match i % 3 {
                    0 => Action::Allow,
                    1 => Action::Errno(libc::EPERM),
                    _ => Action::Ioctl,
                };
                (i * 2, a)
            })
            .collect();
        let mut p = vec![ins(LD_W_ABS, 0, 0, OFF_NR)];
        p.extend(search(&many));
        assert!(p.iter().any(|i| i.code == JA));
        for nr in 0..800 {
            let want = match many[nr as usize / 2].1 {
                Action::Allow => ALLOW,
                Action::Errno(_) => EPERM,
                _ => EPERM,
            };
            assert_eq!(run(&p, nr, 0, [0, 0x5412, 0, 0, 0, 0]), want, "{nr}");
        }
    }

    #[test]
    fn native_architecture_has_a_filter() {
        let progs = default_programs(DEFAULT_CAPS).unwrap();
        assert_eq!(progs.len(), 1);
        assert_eq!(progs[0], program(Arch::native().unwrap(), DEFAULT_CAPS));
    }
}
