//! What a container cannot touch (issue 7): the default seccomp filter
//! (Docker's allow-list: refused calls fail with EPERM, clone3 with ENOSYS,
//! `--security-opt seccomp=unconfined` lifts it, `rrun exec` gets it too,
//! `--cap-add SYS_ADMIN` allows nested user namespaces, ordinary programs
//! work under it), TIOCSTI and TIOCLINUX on the caller's terminal, no rrun
//! process reachable through /proc/PID/exe (the host binary's hash
//! unchanged), and no fd of the caller's reaching the container (an
//! inherited non-CLOEXEC fd to a host directory, `-w /proc/self/fd/N`).
//!
//! The system calls are made by this test binary itself: it is static, so
//! it is bind-mounted into the container and run there with
//! `RRUN_SEC_ROLE=syscalls`, entering through the `role` test.

#[macro_use]
mod common;

use common::*;
use std::os::unix::process::CommandExt;

const IN_CONTAINER: &str = "/security-probe";

/// The entry of the in-container role; a plain test run passes through.
#[test]
fn role() {
    if std::env::var("RRUN_SEC_ROLE").as_deref() != Ok("syscalls") {
        return;
    }
    for (name, r) in probe_calls() {
        println!("{name}={r}");
    }
}

/// Each probed call and its errno (0: it succeeded).
fn probe_calls() -> Vec<(&'static str, i32)> {
    const TIOCSTI: libc::c_ulong = 0x5412;
    const TIOCLINUX: libc::c_ulong = 0x541C;
    const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
    const ADDR_NO_RANDOMIZE: libc::c_ulong = 0x0040_0000;
    // struct io_uring_params: 120 bytes, zero asks for the defaults.
    let mut uring_params = [0u64; 15];
    let errno = |r: libc::c_long| -> i32 {
        if r < 0 {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
        } else {
            0
        }
    };
    let c = |s: &'static std::ffi::CStr| s.as_ptr();
    // SAFETY: each call gets valid pointers or NULL and harmless values
    // (a reboot without its magic numbers, a mount the container may not
    // make, module and kexec calls with no image); this process ends
    // right after.
    unsafe {
        let tty_byte = b"x".as_ptr();
        vec![
            ("getpid", errno(libc::syscall(libc::SYS_getpid))),
            (
                "keyctl",
                errno(libc::syscall(
                    libc::SYS_keyctl,
                    0,
                    KEY_SPEC_SESSION_KEYRING,
                    0,
                )),
            ),
            (
                "add_key",
                errno(libc::syscall(
                    libc::SYS_add_key,
                    c(c"user"),
                    c(c"k"),
                    c(c"v"),
                    1,
                    KEY_SPEC_SESSION_KEYRING,
                )),
            ),
            (
                "request_key",
                errno(libc::syscall(
                    libc::SYS_request_key,
                    c(c"user"),
                    c(c"k"),
                    0,
                    0,
                )),
            ),
            ("bpf", errno(libc::syscall(libc::SYS_bpf, 0, 0, 0))),
            (
                "perf_event_open",
                errno(libc::syscall(libc::SYS_perf_event_open, 0, 0, -1, -1, 0)),
            ),
            (
                "userfaultfd",
                errno(libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC)),
            ),
            (
                "kexec_load",
                errno(libc::syscall(libc::SYS_kexec_load, 0, 0, 0, 0)),
            ),
            ("reboot", errno(libc::syscall(libc::SYS_reboot, 0, 0, 0, 0))),
            (
                "init_module",
                errno(libc::syscall(libc::SYS_init_module, 0, 0, c(c""))),
            ),
            (
                "mount",
                errno(libc::syscall(
                    libc::SYS_mount,
                    c(c"none"),
                    c(c"/tmp"),
                    c(c"tmpfs"),
                    0,
                    0,
                )),
            ),
            (
                "fsopen",
                errno(libc::syscall(libc::SYS_fsopen, c(c"tmpfs"), 0)),
            ),
            (
                "ioctl_tiocsti",
                errno(libc::syscall(libc::SYS_ioctl, 0, TIOCSTI, tty_byte)),
            ),
            (
                "ioctl_tioclinux",
                errno(libc::syscall(libc::SYS_ioctl, 0, TIOCLINUX, tty_byte)),
            ),
            (
                "x32_getpid",
                errno(libc::syscall(0x4000_0000 | libc::SYS_getpid)),
            ),
            ("clone3", errno(libc::syscall(libc::SYS_clone3, 0, 0))),
            ("unshare_user", unshare_user_in_child()),
            ("clone_newuser", clone_newuser()),
            (
                "unshare_nothing",
                errno(libc::syscall(libc::SYS_unshare, 0)),
            ),
            ("setns", errno(libc::syscall(libc::SYS_setns, -1, 0))),
            (
                "io_uring_setup",
                errno(libc::syscall(
                    libc::SYS_io_uring_setup,
                    1,
                    uring_params.as_mut_ptr(),
                )),
            ),
            ("socket_inet", socket(libc::AF_INET, libc::SOCK_STREAM)),
            ("socket_unix", socket(libc::AF_UNIX, libc::SOCK_STREAM)),
            ("socket_alg", socket(libc::AF_ALG, libc::SOCK_SEQPACKET)),
            ("socket_vsock", socket(libc::AF_VSOCK, libc::SOCK_STREAM)),
            (
                "personality_query",
                errno(libc::syscall(libc::SYS_personality, 0xffff_ffff_u32)),
            ),
            (
                "personality_no_randomize",
                errno(libc::syscall(libc::SYS_personality, ADDR_NO_RANDOMIZE)),
            ),
        ]
    }
}

/// socket(family, kind) and its errno (the socket is closed again).
fn socket(family: libc::c_int, kind: libc::c_int) -> i32 {
    // SAFETY: socket and close on a descriptor of our own.
    unsafe {
        let fd = libc::socket(family, kind | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return std::io::Error::last_os_error().raw_os_error().unwrap_or(-1);
        }
        libc::close(fd);
        0
    }
}

/// A raw clone(CLONE_NEWUSER | SIGCHLD), as a program that sets its
/// flags itself would make it; the child _exits at once.
fn clone_newuser() -> i32 {
    // SAFETY: like fork: the child (returned 0) only calls _exit; no stack
    // or thread pointer is passed, so it runs on a copy of ours.
    unsafe {
        let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
        let pid = libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0);
        if pid == 0 {
            libc::_exit(0);
        }
        if pid < 0 {
            return *libc::__errno_location();
        }
        let mut st = 0;
        libc::waitpid(pid as libc::pid_t, &mut st, 0);
        0
    }
}

/// unshare(CLONE_NEWUSER) wants a single-threaded caller, which a test
/// binary is not: try it in a forked child and return its errno.
fn unshare_user_in_child() -> i32 {
    // SAFETY: the child makes one system call and _exits.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            let r = libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER);
            let e = if r < 0 { *libc::__errno_location() } else { 0 };
            libc::_exit(e);
        }
        let mut st = 0;
        if pid < 0 || libc::waitpid(pid, &mut st, 0) != pid || !libc::WIFEXITED(st) {
            return -1;
        }
        libc::WEXITSTATUS(st)
    }
}

/// This test binary, where the test user can read it.
fn probe_bin() -> String {
    self_copy().to_str().expect("UTF-8 path").to_string()
}

/// The probe's command line inside the container.
const PROBE_CMD: [&str; 6] = [
    IN_CONTAINER,
    "role",
    "--exact",
    "--nocapture",
    "--test-threads=1",
    "-q",
];

/// `rrun run` with `opts` of the probe: this binary, mounted at
/// IN_CONTAINER, in its syscalls role.
fn probe_args(cx: &Ctx, opts: &[&str]) -> Vec<String> {
    let vol = format!("{}:{IN_CONTAINER}:ro", probe_bin());
    let mut a: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
    a.extend(["-v", &vol, "-e", "RRUN_SEC_ROLE=syscalls", cx.rootfs()].map(String::from));
    a.extend(PROBE_CMD.map(String::from));
    a
}

/// name → errno, from the probe's output.
fn parse(out: &Output) -> std::collections::BTreeMap<String, i32> {
    out.stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse().ok()?)))
        .collect()
}

/// The calls the default filter must refuse with EPERM in every
/// container, root or rootless: calls Docker's profile does not list
/// (keyrings, io_uring, kexec, userfaultfd), calls that need a capability
/// the container lacks (CAP_SYS_ADMIN: mount, fsopen, setns, unshare, clone
/// with namespace flags; CAP_BPF, CAP_PERFMON, CAP_SYS_BOOT,
/// CAP_SYS_MODULE), refused arguments (AF_ALG and AF_VSOCK sockets, a
/// personality other than Linux's) and rrun's terminal ioctls.
const DENIED: [&str; 21] = [
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "reboot",
    "init_module",
    "mount",
    "fsopen",
    "ioctl_tiocsti",
    "ioctl_tioclinux",
    "io_uring_setup",
    "unshare_user",
    "unshare_nothing",
    "clone_newuser",
    "setns",
    "socket_alg",
    "socket_vsock",
    "personality_no_randomize",
];

/// The calls an ordinary program makes, allowed in every container.
const ALLOWED: [&str; 4] = ["getpid", "socket_inet", "socket_unix", "personality_query"];

#[track_caller]
fn assert_filtered(got: &std::collections::BTreeMap<String, i32>, out: &Output) {
    for name in ALLOWED {
        assert_eq!(got.get(name), Some(&0), "{name} works\n{out}");
    }
    for name in DENIED {
        assert_eq!(
            got.get(name),
            Some(&libc::EPERM),
            "{name} fails with EPERM under the default filter\n{out}"
        );
    }
    // Calls the table does not know (x32's) and clone3, whose flags a
    // filter cannot read (libc falls back to clone): ENOSYS.
    for name in ["x32_getpid", "clone3"] {
        assert_eq!(got.get(name), Some(&libc::ENOSYS), "{name}\n{out}");
    }
}

fn seccomp_default_filter(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _c = Cleanup::new(&cx);
    let a = probe_args(&cx, &["--rm", "--net=none"]);
    let out = cx.rrun(&a);
    out.ok();
    assert_filtered(&parse(&out), &out);

    // Unconfined: the same calls reach the kernel, which answers otherwise
    // (a session keyring exists; fd 0 is /dev/null, not a terminal).
    let a = probe_args(
        &cx,
        &["--rm", "--net=none", "--security-opt", "seccomp=unconfined"],
    );
    let out = cx.rrun(&a);
    out.ok();
    let got = parse(&out);
    assert_ne!(got.get("keyctl"), Some(&libc::EPERM), "unconfined\n{out}");
    assert_eq!(
        got.get("ioctl_tiocsti"),
        Some(&libc::ENOTTY),
        "unconfined\n{out}"
    );
    assert_eq!(got.get("unshare_user"), Some(&0), "unconfined\n{out}");
    assert_eq!(got.get("unshare_nothing"), Some(&0), "unconfined\n{out}");
    assert_eq!(got.get("setns"), Some(&libc::EBADF), "unconfined\n{out}");
    assert_eq!(
        got.get("personality_no_randomize"),
        Some(&0),
        "unconfined\n{out}"
    );

    // An unknown profile is refused before anything starts.
    let out = cx.rrun(&[
        "--security-opt",
        "seccomp=/tmp/profile.json",
        cx.rootfs(),
        "true",
    ]);
    out.expect_code(125);
    assert!(out.stderr.contains("--security-opt"), "{out}");
    cx.assert_nothing_left("a refused --security-opt");
}

fn seccomp_applies_to_exec(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _c = Cleanup::new(&cx);
    let vol = format!("{}:{IN_CONTAINER}:ro", probe_bin());
    let id = cx.detach(&["--net=none", "-v", &vol], &["sleep", "1000"]);
    let mut a = vec!["exec", "-e", "RRUN_SEC_ROLE=syscalls", &id];
    a.extend(PROBE_CMD);
    let out = cx.rrun(&a);
    out.ok();
    assert_filtered(&parse(&out), &out);
    // An unconfined container's exec is unconfined too.
    let id2 = cx.detach(
        &[
            "--net=none",
            "--security-opt",
            "seccomp=unconfined",
            "-v",
            &vol,
        ],
        &["sleep", "1000"],
    );
    let mut a = vec!["exec", "-e", "RRUN_SEC_ROLE=syscalls", &id2];
    a.extend(PROBE_CMD);
    let out = cx.rrun(&a);
    out.ok();
    assert_eq!(parse(&out).get("unshare_user"), Some(&0), "{out}");
}

/// Nested user namespaces (for a sandbox or a container engine inside
/// the container) need `--cap-add SYS_ADMIN`, as in Docker; rootless, that
/// capability reaches only the user's own namespaces. The rest of the
/// filter stays.
fn seccomp_nested_user_namespaces(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _c = Cleanup::new(&cx);
    let script = "unshare -U true && echo nested";
    let out = cx.sh(&["--net=none"], script);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(
        out.stderr.contains("Operation not permitted"),
        "unshare -U without SYS_ADMIN: EPERM\n{out}"
    );
    let out = cx.sh(&["--net=none", "--cap-add", "SYS_ADMIN"], script);
    out.ok();
    assert_eq!(out.stdout.trim(), "nested", "{out}");

    let a = probe_args(&cx, &["--rm", "--net=none", "--cap-add", "SYS_ADMIN"]);
    let out = cx.rrun(&a);
    out.ok();
    let got = parse(&out);
    for name in ["unshare_user", "clone_newuser", "unshare_nothing"] {
        assert_eq!(got.get(name), Some(&0), "{name} with SYS_ADMIN\n{out}");
    }
    // clone3 reaches the kernel, which refuses its empty arguments.
    assert_eq!(got.get("clone3"), Some(&libc::EINVAL), "{out}");
    for name in ["keyctl", "io_uring_setup", "socket_vsock", "kexec_load"] {
        assert_eq!(got.get(name), Some(&libc::EPERM), "{name}\n{out}");
    }
}

/// Ordinary programs run under the filter: a shell with pipes, subshells
/// and jobs, file tools, a web server and client on the loopback, a
/// 32-bit personality.
fn seccomp_ordinary_programs_work(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _c = Cleanup::new(&cx);
    let script = "set -e
        mkdir -p /tmp/www
        echo hello > /tmp/www/index.html
        # httpd listens before it goes to the background.
        httpd -p 127.0.0.1:8080 -h /tmp/www
        wget -q -O - http://127.0.0.1:8080/index.html
        ls / | grep -c etc
        (echo sub; false) || echo subshell
        sleep 0 & wait $!
        tar cf /tmp/t.tar -C /tmp www && tar tf /tmp/t.tar | head -n 1
        echo abc | sed s/b/B/ | tr a-z A-Z
        linux32 uname -m
        ps -o pid,comm | grep -c httpd
        date +%Y >/dev/null && id -u >/dev/null
        echo end";
    // A tmpfs: the rootfs is shared by the tests of this process.
    let out = cx.sh(&["--net=none", "--tmpfs", "/tmp"], script);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "hello", "1", "sub", "subshell", "www/", "ABC", "i686", "1", "end"
        ],
        "{out}"
    );
}

fn tiocsti_on_the_callers_terminal(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    // -i without -t: the container's stdin is the caller's terminal.
    let a = probe_args(&cx, &["--rm", "-i", "--net=none"]);
    let mut p = cx.spawn_pty(cx.cmd(&a), 24, 80);
    let line = p.wait_line("ioctl_tioclinux=");
    let out = p.wait();
    let text = format!("{line}\n{out}");
    for call in ["ioctl_tiocsti", "ioctl_tioclinux"] {
        assert!(
            text.contains(&format!("{call}={}", libc::EPERM)),
            "{call} on the caller's terminal fails with EPERM\n{text}"
        );
    }
}

fn sha256_of(path: &std::path::Path) -> Vec<u8> {
    use sha2::Digest;
    let data = std::fs::read(path).expect("reading the binary");
    sha2::Sha256::digest(&data).to_vec()
}

fn rrun_processes_unreachable_through_proc(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _c = Cleanup::new(&cx);
    let before = sha256_of(&cx.env.bin);
    // Every process the container can see: its /proc/PID/exe cannot be
    // opened for writing, and none leads to the host's rrun.
    let script = format!(
        "for p in /proc/[0-9]*; do \
           if ( : >> $p/exe ) 2>/dev/null; then echo WRITABLE $p; fi; \
           l=$(readlink $p/exe 2>/dev/null); case \"$l\" in *{bin}*) echo HOSTBIN $p $l;; esac; \
         done; echo done",
        bin = cx.env.bin.display()
    );
    for opts in [&["--init"][..], &[][..]] {
        let mut a: Vec<&str> = vec!["--net=none"];
        a.extend_from_slice(opts);
        let out = cx.sh(&a, &script);
        out.ok();
        assert_eq!(out.stdout.trim(), "done", "with {opts:?}\n{out}");
    }
    // From an exec'd shell too, beside a running --init container.
    let id = cx.detach(&["--init", "--net=none"], &["sleep", "1000"]);
    let out = cx.rrun(&["exec", &id, "sh", "-c", &script]);
    out.ok();
    assert_eq!(out.stdout.trim(), "done", "rrun exec\n{out}");
    assert_eq!(
        sha256_of(&cx.env.bin),
        before,
        "the host binary is unchanged"
    );
}

fn callers_fds_do_not_reach_the_container(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let dir = cx.host_dir("secret");
    std::fs::write(dir.join("secret"), b"host secret").expect("writing");
    let dirfd = std::fs::File::open(&dir).expect("opening the host dir");
    let raw = std::os::fd::AsRawFd::as_raw_fd(&dirfd);
    // The caller leaks a directory fd (no CLOEXEC) as fd 7.
    let leak = |c: &mut std::process::Command| {
        // SAFETY: dup2 is async-signal-safe; it only touches the child.
        unsafe {
            c.pre_exec(move || {
                if libc::dup2(raw, 7) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    };
    let args = cx.sh_args(
        &["--net=none"],
        "ls /proc/self/fd; cat /proc/self/fd/7/secret 2>&1; echo end",
    );
    let mut c = cx.cmd(&args);
    leak(&mut c);
    let out = cx.run(c, Input::Null);
    out.ok();
    assert!(!out.stdout.contains("host secret"), "{out}");
    let fds: Vec<&str> = out
        .stdout
        .lines()
        .take_while(|l| l.chars().all(|ch| ch.is_ascii_digit()))
        .collect();
    // ls's own directory fd is 3.
    assert_eq!(
        fds,
        ["0", "1", "2", "3"],
        "only 0-2 reach the command\n{out}"
    );
    // -w through the leaked fd: refused, or inside the container's own
    // /proc (where fd 7 does not exist); never the host directory.
    let args = cx.sh_args(&["--net=none", "-w", "/proc/self/fd/7"], "pwd; ls");
    let mut c = cx.cmd(&args);
    leak(&mut c);
    let out = cx.run(c, Input::Null);
    assert!(!out.stdout.contains("secret"), "{out}");
    assert_ne!(out.code(), Some(0), "-w /proc/self/fd/7 cannot work\n{out}");
    cx.assert_nothing_left("-w /proc/self/fd/7");
    drop(dirfd);
}

both_modes!(
    seccomp_default_filter,
    seccomp_applies_to_exec,
    seccomp_nested_user_namespaces,
    seccomp_ordinary_programs_work,
    tiocsti_on_the_callers_terminal,
    rrun_processes_unreachable_through_proc,
    callers_fds_do_not_reach_the_container,
);

/// `sh -c script` as root in the test's "host" network namespace.
fn host_sh(cx: &Ctx, script: &str) -> std::process::Command {
    let mut c = std::process::Command::new("sh");
    c.args(["-c", script]).env_clear().env("PATH", HOST_PATH);
    if let Some(ns) = &cx.netns {
        ns.enter(&mut c);
    }
    c
}

fn abstract_sockets_of_the_host_out_of_reach(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let name = unique_marker("rrun-abstract");
    let mut server = cx.spawn(
        host_sh(
            &cx,
            &format!("exec socat ABSTRACT-LISTEN:{name},fork SYSTEM:'echo host-secret'"),
        ),
        Input::Null,
    );
    let connect = format!("socat -T1 - ABSTRACT-CONNECT:{name} </dev/null 2>/dev/null");
    // The server answers on the host before anything is asked of rrun.
    assert!(
        poll_until(SETTLE, || {
            cx.run(host_sh(&cx, &connect), Input::Null)
                .stdout
                .contains("host-secret")
        }),
        "the host's abstract server answers on the host"
    );
    // --net=host shares the host's abstract namespace.
    let out = cx.sh(&["--net=host"], &format!("r=$({connect}); echo \"got=$r\""));
    out.ok();
    assert!(
        out.stdout.contains("got=host-secret"),
        "--net=host reaches it\n{out}"
    );
    for net in ["--net=none", "--net=bridge"] {
        let out = cx.sh(
            &[net],
            &format!(
                "r=$(socat -T1 - ABSTRACT-CONNECT:{name} </dev/null 2>/dev/null); echo \"got=$r\""
            ),
        );
        out.ok();
        assert!(
            out.stdout.contains("got=\n") || out.stdout.trim_end().ends_with("got="),
            "{net}: out of reach\n{out}"
        );
    }
    server.signal(libc::SIGKILL);
}

fn loopback_published_port_only_on_loopback(mode: Mode) {
    let Some(cx) = Ctx::new_needing_root(mode, "an address of its own on the test's \"host\"")
    else {
        return;
    };
    let _c = Cleanup::new(&cx);
    // The host gets an address of its own besides loopback.
    let out = cx.run(
        host_sh(
            &cx,
            "ip link add sx0 type veth peer name sx1 && ip addr add 10.231.0.1/24 dev sx0 && ip link set sx0 up && ip link set sx1 up",
        ),
        Input::Null,
    );
    out.ok();
    let id = cx.detach(
        &["-p", "127.0.0.1:18090:80"],
        &[
            "socat",
            "TCP-LISTEN:80,fork,reuseaddr",
            "SYSTEM:echo published",
        ],
    );
    let gw = cx.inspect_f("{{.NetworkSettings.Gateway}}", &id);
    let try_at = |addr: &str| -> String {
        let out = cx.run(
            host_sh(
                &cx,
                &format!(
                    "socat -T2 - TCP:{addr}:18090,connect-timeout=2 </dev/null 2>/dev/null; true"
                ),
            ),
            Input::Null,
        );
        out.stdout.trim().to_string()
    };
    // Reachable on 127.0.0.1 (wait for the server to listen).
    assert!(
        poll_until(SETTLE, || try_at("127.0.0.1") == "published"),
        "127.0.0.1:18090 answers"
    );
    for addr in ["10.231.0.1", gw.as_str()] {
        assert_eq!(try_at(addr), "", "{addr}:18090 must not answer");
    }
    // Nor from another container through the host's addresses.
    let out = cx.sh(
        &[],
        &format!(
            "for a in 10.231.0.1 {gw}; do r=$(socat -T2 - TCP:$a:18090,connect-timeout=2 </dev/null 2>/dev/null); echo \"$a=$r\"; done"
        ),
    );
    out.ok();
    assert!(!out.stdout.contains("published"), "{out}");
}

both_modes!(
    abstract_sockets_of_the_host_out_of_reach,
    loopback_published_port_only_on_loopback,
);
