//! The basics of `rrun run`: pid 1, ids and maps, hostname, isolation from
//! the host, environment, user, capabilities, fds, the generated /etc files,
//! stdin, two containers at once and the rootless holder.

#[macro_use]
mod common;

use common::*;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;

both_modes!(
    pid_one_uid_hostname,
    default_command_gets_no_stdin,
    uid_and_gid_maps,
    host_processes_invisible,
    host_mounts_invisible,
    env_workdir_user_hostname,
    user_by_name,
    env_file,
    capabilities,
    proc_kcore_and_sysrq_unusable,
    proc_and_sys_masked_and_read_only,
    dev_is_minimal,
    network_none_and_host,
    only_std_fds_at_exec,
    etc_files,
    stdin_piped,
    two_containers_on_one_rootfs,
    init_is_pid_one_and_reaps,
    rootless_holder,
);

fn is_hex12(s: &str) -> bool {
    s.len() == 12
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn pid_one_uid_hostname(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    // Field 6 of /proc/1/stat: the session. rrun's setsid makes pid 1 a
    // session leader, so the container cannot reach the caller's terminal.
    let out = cx.sh(&[], "echo $$; id -u; hostname; cut -d' ' -f6 /proc/1/stat");
    out.ok();
    let l = out.lines();
    assert_eq!(l.len(), 4, "four lines expected\n{out}");
    assert_eq!(l[3], "1", "pid 1 leads its own session (setsid)\n{out}");
    assert_eq!(l[0], "1", "the command is pid 1\n{out}");
    assert_eq!(l[1], "0", "uid 0 inside\n{out}");
    assert!(is_hex12(l[2]), "hostname is 12 lowercase hex digits\n{out}");
    cx.assert_nothing_left("a plain run");
}

fn default_command_gets_no_stdin(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    // Without -i the container's stdin is /dev/null, even though rrun's
    // own stdin is a pipe that stays open: /bin/sh (the default command)
    // and cat end at once.
    let out = cx.run(cx.cmd(&["--rm", cx.rootfs()]), Input::Open);
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
    let out = cx.run(cx.cmd(&["--rm", cx.rootfs(), "cat"]), Input::Open);
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
    cx.assert_nothing_left("the default command");
}

fn map_lines(text: &str) -> Vec<Vec<u64>> {
    text.lines()
        .map(|l| {
            l.split_whitespace()
                .map(|f| f.parse().unwrap_or(u64::MAX))
                .collect()
        })
        .collect()
}

fn uid_and_gid_maps(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let out = cx.sh(
        &[],
        "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map",
    );
    out.ok();
    let (uid_map, gid_map) = out
        .stdout
        .split_once("--\n")
        .unwrap_or_else(|| panic!("no separator\n{out}"));
    let (uid_map, gid_map) = (map_lines(uid_map), map_lines(gid_map));
    match mode {
        Mode::Root => {
            assert_eq!(uid_map, vec![vec![0, 0, 4294967295]], "uid_map\n{out}");
            assert_eq!(gid_map, vec![vec![0, 0, 4294967295]], "gid_map\n{out}");
        }
        Mode::Rootless => {
            let user = cx.user.as_ref().expect("rootless has a user");
            let expect = |file: &str, tool: &str, id: u32| {
                let mut m = vec![vec![0, u64::from(id), 1]];
                if std::path::Path::new(tool).exists()
                    && let Some((start, count)) = sub_range(file, user)
                {
                    m.push(vec![1, start, count]);
                }
                m
            };
            assert_eq!(
                uid_map,
                expect("/etc/subuid", "/usr/bin/newuidmap", cx.uid),
                "uid_map\n{out}"
            );
            assert_eq!(
                gid_map,
                expect("/etc/subgid", "/usr/bin/newgidmap", cx.gid),
                "gid_map\n{out}"
            );
        }
    }
}

fn host_processes_invisible(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let out = cx.sh(&[], "ls /proc; echo --; ps");
    out.ok();
    let (procs, ps) = out
        .stdout
        .split_once("--\n")
        .unwrap_or_else(|| panic!("no separator\n{out}"));
    let pids: Vec<u32> = procs
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    assert!(pids.contains(&1), "pid 1 is listed\n{out}");
    assert!(
        pids.len() <= 3,
        "only the container's own processes (sh, ls) are visible, got {pids:?}\n{out}"
    );
    assert!(
        !pids.contains(&std::process::id()),
        "the test process is visible\n{out}"
    );
    // ps: a header and at most sh and ps.
    assert!(ps.lines().count() <= 3, "ps lists host processes\n{out}");
}

fn host_mounts_invisible(mode: Mode) {
    let Some(cx) = Ctx::new_needing_root(mode, "a mount on the host") else {
        return;
    };
    let own = match host_only_mount() {
        Ok(p) => p.to_string_lossy().into_owned(),
        Err(e) => panic!("the harness could not mount on the host: {e}"),
    };
    // The host's own mount points, but for the pseudo file systems that a
    // container has too.
    let host: Vec<String> = mount_points(&host_mountinfo())
        .into_iter()
        .filter(|m| {
            m != "/"
                && !["/proc", "/sys", "/dev"]
                    .iter()
                    .any(|p| m == p || m.starts_with(&format!("{p}/")))
        })
        .collect();
    assert!(host.contains(&own), "{own} is not in the host's mountinfo");
    let out = cx.sh(&[], "cat /proc/self/mountinfo");
    out.ok();
    let inside = mount_points(&out.stdout);
    assert!(
        inside.contains(&"/".to_string()),
        "no / mount inside\n{out}"
    );
    let dir = cx.env.dir.to_string_lossy().into_owned();
    for m in &inside {
        assert!(
            !host.contains(m),
            "the host's mount point {m} is visible inside\n{out}"
        );
        assert!(
            !m.starts_with(&dir),
            "a mount point under the host's {dir} is visible inside (old root not detached?)\n{out}"
        );
    }
}

fn env_workdir_user_hostname(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let args = cx.sh_args(
        &[
            "-e",
            "A=1",
            "--env",
            "B",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "-h",
            "box",
        ],
        "echo $A $B; pwd; id -u; id -g; hostname; echo $HOME; echo $PATH; echo $HOSTNAME; \
         echo term=${TERM:-unset}",
    );
    let mut cmd = cx.cmd(&args);
    cmd.env("B", "2");
    let out = cx.run(cmd, Input::Null);
    out.ok();
    assert_eq!(
        out.lines(),
        [
            "1 2",
            "/tmp",
            "1000",
            "1000",
            "box",
            "/home/app",
            CONTAINER_PATH,
            "box",
            "term=unset"
        ],
        "{out}"
    );
    // uid 0: HOME from the rootfs's passwd too.
    let out = cx.sh(&[], "echo $HOME; pwd");
    out.ok();
    assert_eq!(out.lines(), ["/root", "/"], "{out}");
    // --env K of an unset variable sets nothing; -e overrides the defaults.
    let out = cx.sh(
        &[
            "--env",
            "RRUN_TEST_UNSET",
            "-e",
            "HOME=/custom",
            "-e",
            "HOSTNAME=other",
        ],
        "echo ${RRUN_TEST_UNSET-unset} $HOME $HOSTNAME",
    );
    out.ok();
    assert_eq!(out.lines(), ["unset /custom other"], "{out}");
}

fn user_by_name(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let out = cx.sh(&["-u", "app"], "id -u; id -g; echo $HOME");
    out.ok();
    assert_eq!(out.lines(), ["1000", "1000", "/home/app"], "{out}");
    // A uid without a passwd entry: HOME falls back to /.
    let out = cx.sh(&["-u", "4242:4243"], "id -u; id -g; echo $HOME");
    out.ok();
    assert_eq!(out.lines(), ["4242", "4243", "/"], "{out}");
}

fn env_file(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let file = cx.host_file(
        "envfile",
        b"# a comment\n\nX=1\nY=hello world\n  # indented comment\nZ=\n",
    );
    let file = file.to_str().expect("UTF-8 path");
    let out = cx.sh(
        &["--env-file", file, "-e", "W=w"],
        "echo \"$X|$Y|${Z-unset}|$W\"",
    );
    out.ok();
    assert_eq!(out.lines(), ["1|hello world||w"], "{out}");
    // -e wins over --env-file, whatever the order.
    let out = cx.sh(&["-e", "X=2", "--env-file", file], "echo $X");
    out.ok();
    assert_eq!(out.lines(), ["2"], "{out}");
}

fn caps_of(cx: &Ctx, opts: &[&str]) -> (u64, u64, String, Output) {
    let out = cx.sh(opts, "cat /proc/self/status");
    out.ok();
    let hex = |k: &str| {
        let v = status_field(&out.stdout, k).unwrap_or_else(|| panic!("no {k}\n{out}"));
        u64::from_str_radix(v, 16).unwrap_or_else(|_| panic!("bad {k}: {v}\n{out}"))
    };
    let (eff, bnd) = (hex("CapEff"), hex("CapBnd"));
    let nnp = status_field(&out.stdout, "NoNewPrivs")
        .unwrap_or("missing")
        .to_string();
    (eff, bnd, nnp, out)
}

fn capabilities(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let (eff, bnd, nnp, out) = caps_of(&cx, &[]);
    assert_eq!(eff, DEFAULT_CAPS, "CapEff {eff:016x}\n{out}");
    assert_eq!(bnd, DEFAULT_CAPS, "CapBnd {bnd:016x}\n{out}");
    assert_eq!(nnp, "1", "NoNewPrivs\n{out}");

    let (eff, bnd, nnp, out) = caps_of(&cx, &["-u", "1000"]);
    assert_eq!(eff, 0, "CapEff as uid 1000: {eff:016x}\n{out}");
    assert_eq!(bnd, DEFAULT_CAPS, "CapBnd as uid 1000: {bnd:016x}\n{out}");
    assert_eq!(nnp, "1", "NoNewPrivs\n{out}");

    let net_raw = 1u64 << 13;
    let (eff, bnd, _, out) = caps_of(&cx, &["--cap-drop", "NET_RAW"]);
    assert_eq!(
        eff,
        DEFAULT_CAPS & !net_raw,
        "--cap-drop NET_RAW: CapEff {eff:016x}\n{out}"
    );
    assert_eq!(
        bnd,
        DEFAULT_CAPS & !net_raw,
        "--cap-drop NET_RAW: CapBnd {bnd:016x}\n{out}"
    );

    let sys_admin = 1u64 << 21;
    let (eff, bnd, _, out) = caps_of(&cx, &["--cap-add", "SYS_ADMIN"]);
    assert_eq!(
        eff,
        DEFAULT_CAPS | sys_admin,
        "--cap-add SYS_ADMIN: CapEff {eff:016x}\n{out}"
    );
    assert_eq!(
        bnd,
        DEFAULT_CAPS | sys_admin,
        "--cap-add SYS_ADMIN: CapBnd {bnd:016x}\n{out}"
    );
}

fn proc_kcore_and_sysrq_unusable(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    for p in ["/proc/kcore", "/proc/sysrq-trigger"] {
        if !std::path::Path::new(p).exists() {
            // Not a skip: the container cannot use what the kernel lacks,
            // and proc_and_sys_masked_and_read_only proves the masking on
            // the paths this kernel has.
            eprintln!("NOTE: this kernel has no {p}; its check below holds trivially");
        }
    }
    let out = cx.sh(
        &[],
        "echo kcore=$(head -c 64 /proc/kcore 2>/dev/null | wc -c); \
         if echo h 2>/dev/null > /proc/sysrq-trigger; then echo sysrq=written; else echo sysrq=refused; fi",
    );
    out.ok();
    assert_eq!(out.lines(), ["kcore=0", "sysrq=refused"], "{out}");
}

fn proc_and_sys_masked_and_read_only(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    // runc's masked paths (those that exist here) read as empty.
    let masked: Vec<&str> = [
        "/proc/keys",
        "/proc/timer_list",
        "/proc/latency_stats",
        "/proc/sched_debug",
        "/proc/kcore",
        "/proc/interrupts",
    ]
    .into_iter()
    .filter(|p| std::path::Path::new(p).exists())
    .collect();
    let mut script = String::new();
    for p in &masked {
        script.push_str(&format!("echo {p}=$(head -c 64 {p} 2>/dev/null | wc -c); "));
    }
    script.push_str(
        "echo firmware=$(ls /sys/firmware 2>/dev/null | wc -l); \
         if echo x 2>/dev/null > /proc/sys/kernel/domainname; then echo procsys=written; \
         else echo procsys=refused; fi; \
         if touch /sys/rrun-test 2>/dev/null; then echo sys=written; else echo sys=refused; fi",
    );
    let out = cx.sh(&[], &script);
    out.ok();
    let mut expect: Vec<String> = masked.iter().map(|p| format!("{p}=0")).collect();
    expect.extend(["firmware=0", "procsys=refused", "sys=refused"].map(String::from));
    assert_eq!(out.lines(), expect, "{out}");
}

fn dev_is_minimal(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let out = cx.sh(
        &["-u", "1000"],
        "ls -a /dev; echo --; \
         echo x > /dev/null && echo null=ok; \
         echo zero=$(head -c 4 /dev/zero | wc -c); \
         echo urandom=$(head -c 8 /dev/urandom | wc -c); \
         if echo x 2>/dev/null > /dev/full; then echo full=written; else echo full=refused; fi; \
         touch /dev/shm/x && echo shm=ok; \
         test -e /dev/pts/ptmx && echo pts=ok",
    );
    out.ok();
    let (ls, rest) = out
        .stdout
        .split_once("--\n")
        .unwrap_or_else(|| panic!("no separator\n{out}"));
    let names: Vec<&str> = ls
        .split_whitespace()
        .filter(|n| *n != "." && *n != "..")
        .collect();
    let required = [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd", "stdin",
        "stdout", "stderr",
    ];
    let allowed_extra = ["core", "mqueue", "console"];
    for r in required {
        assert!(names.contains(&r), "/dev/{r} is missing\n{out}");
    }
    for n in &names {
        assert!(
            required.contains(n) || allowed_extra.contains(n),
            "/dev/{n} is not part of a minimal /dev\n{out}"
        );
    }
    assert_eq!(
        rest.lines().collect::<Vec<_>>(),
        [
            "null=ok",
            "zero=4",
            "urandom=8",
            "full=refused",
            "shm=ok",
            "pts=ok"
        ],
        "{out}"
    );
}

/// Interface names in a /proc/net/dev text.
fn interfaces(dev: &str) -> Vec<String> {
    let mut v: Vec<String> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .collect();
    v.sort();
    v
}

fn network_none_and_host(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let script = "cat /proc/net/dev; echo --; cat /sys/class/net/lo/flags";
    // The default network is the bridge (eth0 besides lo), rootless too.
    for opts in [&[][..], &["--net=none"][..], &["--net", "none"][..]] {
        let out = cx.sh(opts, script);
        out.ok();
        let (dev, flags) = out
            .stdout
            .split_once("--\n")
            .unwrap_or_else(|| panic!("no separator\n{out}"));
        let want: &[&str] = if opts.is_empty() {
            &["eth0", "lo"]
        } else {
            &["lo"]
        };
        assert_eq!(interfaces(dev), want, "interfaces with {opts:?}\n{out}");
        let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16)
            .unwrap_or_else(|_| panic!("bad flags\n{out}"));
        assert_eq!(flags & 1, 1, "lo is up with {opts:?}\n{out}");
    }
    // The "host" of a root test is the harness's network namespace.
    let dev = match &cx.netns {
        Some(ns) => format!("/proc/{}/net/dev", ns.child.id()),
        None => "/proc/self/net/dev".to_string(),
    };
    // The veths of the bridge runs above go with their namespaces, which
    // the kernel removes in its own time: leave them out of the comparison.
    let settled = |v: Vec<String>| -> Vec<String> {
        v.into_iter().filter(|i| !i.starts_with("rrv")).collect()
    };
    let host = settled(interfaces(
        &fs::read_to_string(&dev).expect("reading the host's net/dev"),
    ));
    let out = cx.sh(
        &["--net=host"],
        "cat /proc/net/dev; ls /sys/class/net; \
         grep -c ' /sys .* ro[, ]' /proc/self/mountinfo; \
         if touch /sys/rrun-test 2>/dev/null; then echo sys=written; else echo sys=refused; fi",
    );
    out.ok();
    // /sys is read-only either way (rootless: a read-only recursive bind
    // of the host's, since sysfs cannot be mounted there).
    assert!(
        out.lines().last() == Some(&"sys=refused"),
        "--net=host: /sys is read-only\n{out}"
    );
    assert_eq!(
        settled(interfaces(&out.stdout)),
        host,
        "--net=host sees the host's interfaces\n{out}"
    );
    // Rootless, /sys is the caller's own (a user namespace may not mount
    // sysfs for a network namespace it does not own), and the harness's
    // "host" namespace is not the one the test process's /sys shows.
    if mode == Mode::Root {
        for i in &host {
            assert!(
                out.lines().contains(&i.as_str()),
                "--net=host: /sys/class/net lists {i}\n{out}"
            );
        }
    }
}

fn only_std_fds_at_exec(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    for opts in [&[][..], &["--init"][..], &["-i"][..]] {
        // rrun itself gets an extra inherited (not close-on-exec) fd 7.
        let extra = fs::File::open("/etc/passwd").expect("opening a file to inherit");
        let extra_fd = extra.as_raw_fd();
        let mut cmd = cx.cmd(&cx.sh_args(opts, "ls /proc/self/fd"));
        // SAFETY: dup2 is async-signal-safe; the new fd 7 has no FD_CLOEXEC.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(extra_fd, 7) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = cx.run(cmd, Input::Null);
        drop(extra);
        out.ok();
        let fds: Vec<u32> = out
            .lines()
            .iter()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        assert_eq!(
            out.lines().len(),
            fds.len(),
            "unexpected lines from ls\n{out}"
        );
        // 0, 1, 2 and the one that ls opened for /proc/self/fd itself.
        assert!(
            fds.len() == 4 && fds[..3] == [0, 1, 2] && !fds.contains(&7),
            "only fds 0-2 may be open at exec (ls adds one of its own), with {opts:?}\n{out}"
        );
    }
}

fn etc_files(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let hosts = cx.env.rootfs.join("etc/hosts");
    let before = fs::read(&hosts).expect("reading the rootfs's /etc/hosts");
    let before_meta = fs::metadata(&hosts).expect("stat the rootfs's /etc/hosts");
    let out = cx.sh(
        &[],
        "hostname; echo --; cat /etc/hostname; echo --; cat /etc/hosts; echo --; \
         test -f /etc/resolv.conf && echo resolv=yes; cat /etc/resolv.conf",
    );
    out.ok();
    let parts: Vec<&str> = out.stdout.split("--\n").collect();
    assert_eq!(parts.len(), 4, "{out}");
    let name = parts[0].trim();
    assert!(is_hex12(name), "{out}");
    assert_eq!(
        parts[1].trim(),
        name,
        "/etc/hostname is the hostname\n{out}"
    );
    let host_lines: Vec<&str> = parts[2].lines().collect();
    assert!(
        host_lines.contains(&"127.0.0.1\tlocalhost"),
        "/etc/hosts has `127.0.0.1<TAB>localhost`\n{out}"
    );
    assert!(
        host_lines
            .iter()
            .any(|l| !l.starts_with('#') && l.split_whitespace().skip(1).any(|w| w == name)),
        "/etc/hosts names the container\n{out}"
    );
    assert!(
        parts[3].starts_with("resolv=yes"),
        "/etc/resolv.conf exists\n{out}"
    );
    for l in parts[3].lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert!(
            !(f.len() >= 2 && f[0] == "nameserver" && f[1].starts_with("127.")),
            "loopback nameserver in /etc/resolv.conf: {l}\n{out}"
        );
    }
    // -h shows in all three.
    let out = cx.sh(&["-h", "box"], "cat /etc/hostname /etc/hosts");
    out.ok();
    assert_eq!(out.lines().first().copied(), Some("box"), "{out}");
    assert!(
        out.lines()
            .iter()
            .skip(1)
            .any(|l| l.split_whitespace().skip(1).any(|w| w == "box")),
        "/etc/hosts names box\n{out}"
    );
    // The rootfs's own file is untouched.
    let after = fs::read(&hosts).expect("reading the rootfs's /etc/hosts");
    let after_meta = fs::metadata(&hosts).expect("stat the rootfs's /etc/hosts");
    assert_eq!(before, after, "the rootfs's /etc/hosts was modified");
    assert_eq!(
        (
            before_meta.ino(),
            before_meta.mtime(),
            before_meta.mtime_nsec()
        ),
        (
            after_meta.ino(),
            after_meta.mtime(),
            after_meta.mtime_nsec()
        ),
        "the rootfs's /etc/hosts was replaced or written"
    );
}

fn stdin_piped(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let out = cx.rrun_stdin(&["--rm", "-i", cx.rootfs(), "cat"], b"hi\n");
    out.ok();
    assert_eq!(out.stdout, "hi\n", "{out}");
    // More than a pipe buffer, both ways.
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let out = cx.rrun_stdin(&["--rm", "-i", cx.rootfs(), "cat"], &big);
    out.ok();
    assert!(
        out.stdout.as_bytes() == big.as_slice(),
        "200000 bytes through cat: got {} bytes",
        out.stdout.len()
    );
}

fn two_containers_on_one_rootfs(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let args = cx.sh_args(&["-i"], "hostname; read x; echo bye-$x");
    let mut a = cx.spawn(cx.cmd(&args), Input::Open);
    let mut b = cx.spawn(cx.cmd(&args), Input::Open);
    let ha = a.wait_line("");
    let hb = b.wait_line("");
    // Both printed, and neither can end before its stdin gets a line: they
    // run at the same time.
    assert!(
        a.exited().is_none() && b.exited().is_none(),
        "both are running"
    );
    assert!(is_hex12(&ha) && is_hex12(&hb), "hostnames {ha:?} {hb:?}");
    assert_ne!(ha, hb, "two containers, two hostnames");
    let live = cx.containers();
    assert_eq!(
        live.len(),
        2,
        "two container directories while both run: {live:?}"
    );
    for id in &live {
        assert!(
            id.len() == 64 && id.bytes().all(|c| c.is_ascii_hexdigit()),
            "container dir name {id:?} is a 64-hex id"
        );
        assert!(
            id.starts_with(&ha) || id.starts_with(&hb),
            "the hostname is the id's first 12 digits: {id} vs {ha}, {hb}"
        );
    }
    a.write_stdin(b"a\n");
    a.close_stdin();
    b.write_stdin(b"b\n");
    b.close_stdin();
    let (oa, ob) = (a.wait(), b.wait());
    oa.ok();
    ob.ok();
    assert!(oa.stdout.ends_with("bye-a\n"), "{oa}");
    assert!(ob.stdout.ends_with("bye-b\n"), "{ob}");
    cx.assert_nothing_left("two containers");
}

fn init_is_pid_one_and_reaps(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let bin = cx.env.bin.to_string_lossy().into_owned();
    let out = cx.sh(
        &["--init"],
        "echo $$; (sleep 0 &); i=0; \
         while [ $i -lt 100 ]; do \
           z=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == \"Z\"' | wc -l); \
           [ $z -eq 0 ] && break; sleep 0.05; i=$((i+1)); \
         done; echo zombies=$z; echo exe=$(readlink /proc/1/exe 2>/dev/null || echo unreadable)",
    );
    out.ok();
    let l = out.lines();
    assert_eq!(l.len(), 3, "{out}");
    assert_ne!(l[0], "1", "with --init the command is not pid 1\n{out}");
    assert_eq!(l[1], "zombies=0", "the init reaps orphans\n{out}");
    assert!(
        !l[2].contains(&bin) && !l[2].ends_with("/rrun"),
        "pid 1's exe leads back to the host binary\n{out}"
    );
    // The init passes the exit status on.
    cx.sh(&["--init"], "exit 7").expect_code(7);
}

fn rootless_holder(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    cx.rrun(&["--rm", cx.rootfs(), "/bin/true"]).ok();
    if mode == Mode::Root {
        assert!(
            !cx.state.join("holder.json").exists(),
            "root needs no holder, but {}/holder.json exists",
            cx.state.display()
        );
        return;
    }
    let first = cx
        .holder()
        .expect("after a rootless run, holder.json names a live holder");
    // The next run joins the same holder.
    cx.rrun(&["--rm", cx.rootfs(), "/bin/true"]).ok();
    assert_eq!(cx.holder(), Some(first), "a live holder is reused");
    // A dead holder is replaced.
    // SAFETY: SIGKILL to the holder pid just read (start time checked).
    unsafe { libc::kill(first, libc::SIGKILL) };
    // Wait until it is reaped (by the host's init, which may take a moment):
    // a zombie still holds the user namespace, and rrun may keep using it.
    assert!(
        poll_until(Duration::from_secs(10), || !std::path::Path::new(&format!(
            "/proc/{first}"
        ))
        .exists()),
        "the holder {first} was not reaped within 10 s"
    );
    let out = cx.sh(&[], "id -u");
    out.ok();
    assert_eq!(out.lines(), ["0"], "{out}");
    let second = cx.holder().expect("a new holder after the old one died");
    assert_ne!(second, first, "a new holder");
}
