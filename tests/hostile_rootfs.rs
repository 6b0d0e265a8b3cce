//! Hostile root filesystems (runc CVE-2021-30465, CVE-2025-31133 class):
//! a rootfs is its owner's to shape, and rrun resolves every path in it by
//! file descriptor inside the rootfs. Symlinks that point out of it — at
//! files and directories of a host directory the test made and can check —
//! never make rrun read, write, create or mount anything outside: a path
//! that does not resolve inside the rootfs is refused (125, one `rrun:`
//! line naming the symlink); one that does is used inside. A symlink
//! swapped in and out while containers start changes nothing either. A
//! rootfs owned by someone else, on a read-only mount, or missing /proc,
//! /dev, /sys and /etc works, and is left as it was where rrun may not
//! write.

#[macro_use]
mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{lchown, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

both_modes!(
    symlinks_out_of_the_rootfs,
    hosts_swap_race,
    missing_mount_points,
    foreign_owner_and_read_only,
    odd_shapes,
    passwd_and_group_that_are_not_files,
);

/// busybox applets the tests' scripts use.
const TOOLS: &[&str] = &[
    "sh", "true", "cat", "echo", "test", "touch", "id", "env", "pwd", "ls", "grep",
];

/// A minimal rootfs in a fresh host directory owned by whoever runs rrun:
/// bin/busybox and its applets as symlinks; with `full`, also /etc
/// (passwd, group, hosts, hostname, resolv.conf), /proc, /sys, /dev, /tmp
/// and /mnt.
fn mini_rootfs(cx: &Ctx, what: &str, full: bool) -> PathBuf {
    let r = cx.host_dir(what);
    let bin = r.join("bin");
    fs::create_dir(&bin).expect("mkdir bin");
    fs::copy(cx.env.rootfs.join("bin/busybox"), bin.join("busybox")).expect("copy busybox");
    for t in TOOLS {
        symlink("busybox", bin.join(t)).expect("symlink an applet");
    }
    if full {
        for d in ["etc", "proc", "sys", "dev", "tmp", "mnt"] {
            fs::create_dir(r.join(d)).expect("mkdir");
        }
        for (f, text) in [
            ("passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            ("group", "root:x:0:\n"),
            ("hosts", "rootfs hosts\n"),
            ("hostname", "rootfs\n"),
            ("resolv.conf", "nameserver 192.0.2.1\n"),
        ] {
            fs::write(r.join("etc").join(f), text).expect("write etc file");
        }
    }
    chown_tree(&r, cx.uid, cx.gid);
    r
}

fn chown_tree(p: &Path, uid: u32, gid: u32) {
    lchown(p, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
    let md = fs::symlink_metadata(p).expect("lstat");
    if md.is_dir() {
        for e in fs::read_dir(p).expect("readdir").flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}

/// A host directory with the files a hostile rootfs would point at, owned
/// by whoever runs rrun (so that a write through a symlink would succeed
/// and show).
fn outside_dir(cx: &Ctx) -> PathBuf {
    let h = cx.host_dir("outside");
    for (f, text) in [
        ("hosts", "host hosts\n"),
        ("hostname", "host\n"),
        ("resolv.conf", "nameserver 198.51.100.1\n"),
        (
            "passwd",
            "root:x:0:0:root:/hostonlyhome:/bin/sh\nhostonly:x:0:0::/h:/bin/sh\n",
        ),
        ("null", "not a device\n"),
    ] {
        fs::write(h.join(f), text).expect("write outside file");
    }
    fs::create_dir(h.join("d")).expect("mkdir");
    fs::write(h.join("d/f"), "deep\n").expect("write");
    chown_tree(&h, cx.uid, cx.gid);
    h
}

/// `p` (absolute) below `root`.
fn under(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

/// What a run must do.
#[derive(Clone, Copy)]
enum Expect {
    /// 125, one `rrun:` line containing this.
    Refused(&'static str),
    /// Exit 0 with stdout containing this.
    Out(&'static str),
}

struct Case {
    /// The path in the rootfs that becomes a symlink out of it.
    link: &'static str,
    /// What it points at, below the outside directory ("": the directory).
    target: &'static str,
    opts: Vec<String>,
    script: &'static str,
    /// The symlink's target does not exist inside the rootfs.
    dangling: Expect,
    /// It does (the test made the same path inside): rrun uses that.
    contained: Expect,
}

const SYMLINK: &str = "is a symlink, which rrun resolves inside the rootfs";

fn symlinks_out_of_the_rootfs(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let h = outside_dir(&cx);
    let vsrc = cx.host_dir("vsrc");
    fs::write(vsrc.join("f"), "volume\n").expect("write");
    let before = tree_snapshot(&h);
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let vol = |dst: &str| v(&["-v", &format!("{}:{dst}", vsrc.display())]);
    use Expect::*;
    let cases = [
        Case {
            link: "/etc",
            target: "",
            opts: v(&[]),
            script: "cat /etc/hostname /etc/hosts /etc/resolv.conf",
            dangling: Refused(SYMLINK),
            contained: Out("box\n127.0.0.1\tlocalhost\n"),
        },
        Case {
            link: "/etc/hosts",
            target: "hosts",
            opts: v(&[]),
            script: "cat /etc/hosts",
            dangling: Refused(SYMLINK),
            contained: Out("ff02::2\tip6-allrouters\n"),
        },
        Case {
            link: "/etc/resolv.conf",
            target: "resolv.conf",
            opts: v(&["--dns", "10.9.8.7"]),
            script: "cat /etc/resolv.conf",
            dangling: Refused(SYMLINK),
            contained: Out("nameserver 10.9.8.7\n"),
        },
        Case {
            link: "/etc/hostname",
            target: "hostname",
            opts: v(&[]),
            script: "cat /etc/hostname",
            dangling: Refused(SYMLINK),
            contained: Out("box\n"),
        },
        // Read, not mounted: a passwd that does not resolve inside reads
        // as empty, never as the host file it names.
        Case {
            link: "/etc/passwd",
            target: "passwd",
            opts: v(&[]),
            script: "echo home=$HOME",
            dangling: Out("home=/\n"),
            contained: Out("home=/inroot\n"),
        },
        Case {
            link: "/etc/passwd",
            target: "passwd",
            opts: v(&["-u", "hostonly"]),
            script: "true",
            dangling: Refused("unable to find user hostonly"),
            contained: Refused("unable to find user hostonly"),
        },
        Case {
            link: "/proc",
            target: "",
            opts: v(&[]),
            script: "test -r /proc/self/status && echo ok",
            dangling: Refused(SYMLINK),
            contained: Out("ok"),
        },
        Case {
            link: "/dev",
            target: "",
            opts: v(&[]),
            script: "test -c /dev/null && echo ok",
            dangling: Refused(SYMLINK),
            contained: Out("ok"),
        },
        // /dev is a fresh tmpfs: the rootfs's own /dev/null is never used.
        Case {
            link: "/dev/null",
            target: "null",
            opts: v(&[]),
            script: "echo x >/dev/null && test -c /dev/null && echo ok",
            dangling: Out("ok"),
            contained: Out("ok"),
        },
        Case {
            link: "/sys",
            target: "",
            opts: v(&[]),
            script: "test -d /sys/kernel && echo ok",
            dangling: Refused(SYMLINK),
            contained: Out("ok"),
        },
        Case {
            link: "/work",
            target: "",
            opts: v(&["-w", "/work"]),
            script: "touch wmark && echo ok",
            dangling: Refused(SYMLINK),
            contained: Out("ok"),
        },
        Case {
            link: "/work",
            target: "",
            opts: v(&["-w", "/work/new"]),
            script: "touch wmark && echo ok",
            dangling: Refused(SYMLINK),
            contained: Out("ok"),
        },
        Case {
            link: "/mnt/vol",
            target: "",
            opts: vol("/mnt/vol"),
            script: "cat /mnt/vol/f",
            dangling: Refused(SYMLINK),
            contained: Out("volume\n"),
        },
        Case {
            link: "/mnt/vol",
            target: "",
            opts: vol("/mnt/vol/sub"),
            script: "cat /mnt/vol/sub/f",
            dangling: Refused(SYMLINK),
            contained: Out("volume\n"),
        },
        Case {
            link: "/mnt/t",
            target: "",
            opts: v(&["--tmpfs", "/mnt/t"]),
            script: "echo x >/mnt/t/y && cat /mnt/t/y",
            dangling: Refused(SYMLINK),
            contained: Out("x\n"),
        },
        Case {
            link: "/mnt/t",
            target: "",
            opts: v(&["--tmpfs", "/mnt/t/sub"]),
            script: "echo x >/mnt/t/sub/y && cat /mnt/t/sub/y",
            dangling: Refused(SYMLINK),
            contained: Out("x\n"),
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        let target = if c.target.is_empty() {
            h.clone()
        } else {
            h.join(c.target)
        };
        for contained in [false, true] {
            let r = mini_rootfs(&cx, &format!("case{i}-{contained}"), true);
            let link = under(&r, Path::new(c.link));
            if link.is_dir() {
                fs::remove_dir_all(&link).expect("rm -r");
            } else if fs::symlink_metadata(&link).is_ok() {
                fs::remove_file(&link).expect("rm");
            }
            // Absolute, or (every other case) relative with enough ".." to
            // climb out of the rootfs on the host.
            let text = if i % 2 == 0 {
                target.clone()
            } else {
                PathBuf::from(format!(
                    "{}{}",
                    "../".repeat(24),
                    target.display().to_string().trim_start_matches('/')
                ))
            };
            symlink(&text, &link).expect("symlink");
            lchown(&link, Some(cx.uid), Some(cx.gid)).expect("lchown");
            if contained {
                // The same path inside the rootfs.
                let inside = under(&r, &h);
                fs::create_dir_all(&inside).expect("mkdir -p");
                if !c.target.is_empty() {
                    let text = if c.target == "passwd" {
                        "root:x:0:0:root:/inroot:/bin/sh\n"
                    } else {
                        "inside\n"
                    };
                    fs::write(inside.join(c.target), text).expect("write");
                }
                chown_tree(&r.join("tmp"), cx.uid, cx.gid);
            }
            let rootfs_before = tree_snapshot(&r);
            let mut args = vec![
                "--rm".to_string(),
                "--net=none".into(),
                "-h".into(),
                "box".into(),
            ];
            args.extend(c.opts.iter().cloned());
            args.extend([
                r.display().to_string(),
                "sh".into(),
                "-c".into(),
                c.script.into(),
            ]);
            let out = cx.rrun(&args);
            let what = format!(
                "[{mode}] {} -> {} ({}), {:?}",
                c.link,
                text.display(),
                if contained {
                    "exists inside the rootfs"
                } else {
                    "dangling inside the rootfs"
                },
                c.opts
            );
            match if contained { c.contained } else { c.dangling } {
                Expect::Refused(msg) => {
                    out.expect_rrun_error_containing(msg);
                    if msg == SYMLINK {
                        assert!(
                            out.stderr
                                .contains(&format!("{} {SYMLINK}", link.display())),
                            "{what}: the error names the symlink\n{out}"
                        );
                    }
                    // A refused run changed nothing in the rootfs either.
                    assert_eq!(
                        tree_snapshot(&r),
                        rootfs_before,
                        "{what}: the refused run changed the rootfs"
                    );
                }
                Expect::Out(want) => {
                    assert!(
                        out.code() == Some(0) && out.stdout.contains(want),
                        "{what}: runs, printing {want:?}\n{out}"
                    );
                    if !contained {
                        assert_eq!(
                            tree_snapshot(&r),
                            rootfs_before,
                            "{what}: changed the rootfs"
                        );
                    }
                }
            }
            if contained && c.link == "/work" {
                // The working directory was the one inside.
                let sub = if c.opts[1] == "/work/new" { "new/" } else { "" };
                let mark = under(&r, &h).join(format!("{sub}wmark"));
                assert!(mark.exists(), "{what}: {} was not made", mark.display());
            }
            assert_eq!(
                tree_snapshot(&h),
                before,
                "{what}: the directory outside the rootfs changed"
            );
            cx.assert_nothing_left(&what);
        }
    }
}

/// rootfs/etc/hosts flips between a regular file, a symlink out of the
/// rootfs (absolute, dangling inside) and a symlink to a file inside, as
/// fast as renames go, while containers start one after another. Each
/// start either works or is refused with one `rrun:` line; the file
/// outside is never written, no mount shows on the host, nothing is left.
fn hosts_swap_race(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    const STARTS: usize = 500;
    let h = outside_dir(&cx);
    let before = tree_snapshot(&h);
    let r = mini_rootfs(&cx, "race", true);
    let etc = r.join("etc");
    fs::write(etc.join("hosts.in"), "inside\n").expect("write");
    let others = |t: BTreeMap<PathBuf, String>| -> BTreeMap<PathBuf, String> {
        t.into_iter()
            .filter(|(p, _)| !p.starts_with(&etc))
            .collect()
    };
    let rootfs_before = others(tree_snapshot(&r));

    let stop = Arc::new(AtomicBool::new(false));
    let flips = Arc::new(AtomicUsize::new(0));
    let flipper = {
        let (stop, flips, etc, abs) = (stop.clone(), flips.clone(), etc.clone(), h.join("hosts"));
        std::thread::spawn(move || {
            let (tmp, hosts) = (etc.join(".flip"), etc.join("hosts"));
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let _ = fs::remove_file(&tmp);
                let made = match i % 3 {
                    0 => fs::write(&tmp, "file\n"),
                    1 => symlink(&abs, &tmp),
                    _ => symlink("hosts.in", &tmp),
                };
                made.expect("making the next /etc/hosts");
                fs::rename(&tmp, &hosts).expect("rename over /etc/hosts");
                i += 1;
                flips.store(i, Ordering::Relaxed);
                std::thread::yield_now();
            }
        })
    };

    let t0 = Instant::now();
    let (mut ran, mut refused) = (0, 0);
    let rootfs = r.display().to_string();
    for i in 0..STARTS {
        let out = cx.rrun(&["--rm", "--net=none", &rootfs, "true"]);
        match out.code() {
            Some(0) => ran += 1,
            Some(125) if out.stderr_lines().len() == 1 && out.stderr.starts_with("rrun: ") => {
                refused += 1
            }
            _ => {
                stop.store(true, Ordering::Relaxed);
                panic!("start {i} of {STARTS}: neither a run nor a one-line refusal\n{out}");
            }
        }
    }
    let took = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    flipper.join().expect("the flipping thread");
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "[{mode}] {STARTS} starts in {took:?} while /etc/hosts flipped {} times: {ran} ran, {refused} refused\n",
            flips.load(Ordering::Relaxed)
        )
        .as_bytes(),
    );
    assert!(ran > 0, "[{mode}] no start worked in {STARTS}");
    assert_eq!(
        tree_snapshot(&h),
        before,
        "[{mode}] the file outside the rootfs changed"
    );
    assert_eq!(
        others(tree_snapshot(&r)),
        rootfs_before,
        "[{mode}] the rootfs changed outside /etc"
    );
    cx.assert_nothing_left("starts racing a flipping /etc/hosts");
}

/// Checks a container's /proc, /dev, /sys and /etc files, printing its
/// hostname and "ok".
const CHECK: &str = "cat /etc/hostname; test -c /dev/null && test -r /proc/self/status \
    && test -d /sys/kernel && test -s /etc/hosts && test -s /etc/resolv.conf && echo ok";

fn run_check(cx: &Ctx, r: &Path, read_only: bool) -> Output {
    let rootfs = r.display().to_string();
    let args = [
        "--rm",
        "--net=none",
        "-h",
        "box",
        &rootfs,
        "sh",
        "-c",
        CHECK,
    ];
    let cmd = if read_only {
        cx.cmd_read_only(&args, r)
    } else {
        cx.cmd(&args)
    };
    cx.run(cmd, Input::Null)
}

/// A rootfs of bin/ alone, which its user may write: rrun makes the mount
/// points it needs in it (empty: the content is bound over them) and the
/// container gets /proc, /dev, /sys and /etc all the same.
fn missing_mount_points(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let r = mini_rootfs(&cx, "bare", false);
    let out = run_check(&cx, &r, false);
    out.ok();
    assert_eq!(out.stdout, "box\nok\n", "{out}");
    for d in ["proc", "sys", "dev"] {
        assert!(r.join(d).is_dir(), "/{d} was made in the rootfs");
    }
    for f in ["hosts", "hostname", "resolv.conf"] {
        let md = fs::metadata(r.join("etc").join(f)).expect("the mount point was made");
        assert!(
            md.is_file() && md.len() == 0,
            "/etc/{f} is an empty mount point"
        );
    }
    cx.assert_nothing_left("a rootfs without /proc, /dev, /sys, /etc");
}

/// A bin/-only rootfs that rrun may not write: owned by another user
/// (rootless: root, as the harness's own copy is; as root there is no
/// such thing, so it is the test user's and root writes to it as to any
/// other), and on a read-only mount (both modes). It works, and where
/// rrun could not write, the rootfs is exactly as it was.
fn foreign_owner_and_read_only(mode: Mode) {
    let Some(cx) = Ctx::new_needing_root(mode, "a rootfs owned by root, a read-only mount") else {
        return;
    };
    // Owned by someone else.
    let r = mini_rootfs(&cx, "foreign", false);
    let other = match mode {
        Mode::Rootless => (0, 0),
        Mode::Root => {
            let u = test_user().expect("the test user");
            (u.uid, u.gid)
        }
    };
    chown_tree(&r, other.0, other.1);
    let before = tree_snapshot(&r);
    let out = run_check(&cx, &r, false);
    out.ok();
    assert_eq!(out.stdout, "box\nok\n", "{out}");
    match mode {
        Mode::Rootless => assert_eq!(
            tree_snapshot(&r),
            before,
            "rootless: a root-owned rootfs is not changed (overlays, not writes)"
        ),
        Mode::Root => assert!(r.join("proc").is_dir(), "root makes the mount points"),
    }

    // Read-only, missing the mount points: overlays, the rootfs unchanged.
    let r = mini_rootfs(&cx, "ro-bare", false);
    let before = tree_snapshot(&r);
    let out = run_check(&cx, &r, true);
    out.ok();
    assert_eq!(out.stdout, "box\nok\n", "{out}");
    assert_eq!(tree_snapshot(&r), before, "a read-only rootfs is unchanged");

    // Read-only and complete: works; the container cannot write it.
    let r = mini_rootfs(&cx, "ro-full", true);
    let before = tree_snapshot(&r);
    let rootfs = r.display().to_string();
    let args = [
        "--rm",
        "--net=none",
        &rootfs,
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo wrote; cat /etc/hostname >/dev/null && echo ok",
    ];
    let out = cx.run(cx.cmd_read_only(&args, &r), Input::Null);
    out.ok();
    assert_eq!(out.stdout, "ok\n", "{out}");
    assert_eq!(tree_snapshot(&r), before, "a read-only rootfs is unchanged");
    cx.assert_nothing_left("foreign and read-only rootfs");
}

/// Shapes a mount point may not have: a file where a directory must be,
/// a symlink loop. Refused with one line naming the path; nothing changed.
fn odd_shapes(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    type Shape = fn(&Path);
    let cases: [(&str, Shape, &str); 4] = [
        (
            "etc-file",
            |r| {
                fs::remove_dir_all(r.join("etc")).expect("rm");
                fs::write(r.join("etc"), "").expect("write");
            },
            "/etc/hostname in the rootfs: Not a directory",
        ),
        (
            "proc-file",
            |r| {
                fs::remove_dir(r.join("proc")).expect("rm");
                fs::write(r.join("proc"), "").expect("write");
            },
            "mounting /proc: Not a directory",
        ),
        (
            "dev-file",
            |r| {
                fs::remove_dir(r.join("dev")).expect("rm");
                fs::write(r.join("dev"), "").expect("write");
            },
            "/dev: Not a directory",
        ),
        (
            "hosts-loop",
            |r| {
                fs::remove_file(r.join("etc/hosts")).expect("rm");
                symlink("/etc/hosts", r.join("etc/hosts")).expect("symlink");
            },
            "/etc/hosts in the rootfs: Too many levels of symbolic links",
        ),
    ];
    for (what, shape, msg) in cases {
        let r = mini_rootfs(&cx, what, true);
        shape(&r);
        chown_tree(&r, cx.uid, cx.gid);
        let before = tree_snapshot(&r);
        let out = cx.rrun(&["--rm", "--net=none", &r.display().to_string(), "true"]);
        out.expect_rrun_error_containing(msg);
        assert_eq!(
            tree_snapshot(&r),
            before,
            "[{mode}] {what}: the rootfs changed"
        );
        cx.assert_nothing_left(what);
    }
}

/// A rootfs whose `/etc/passwd` and `/etc/group` are named pipes (which a
/// container sharing the rootfs can make at any time) holds neither `run`
/// nor `exec -u` forever: rrun reads only regular files there, as if the
/// others were empty, and never opens a node of the rootfs on the host.
fn passwd_and_group_that_are_not_files(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let r = mini_rootfs(&cx, "fifo-passwd", true);
    for f in ["passwd", "group"] {
        let p = r.join("etc").join(f);
        fs::remove_file(&p).expect("rm");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o666)).expect("mkfifo");
    }
    symlink("busybox", r.join("bin/sleep")).expect("symlink sleep");
    chown_tree(&r, cx.uid, cx.gid);
    let rs = r.display().to_string();
    // (`id` would wait on the pipe itself: the ids are read from /proc.)
    let uid = ["grep", "^Uid", "/proc/self/status"];
    let mut a = vec!["--rm", "--net=none", &rs];
    a.extend(uid);
    let out = cx.rrun(&a);
    out.ok();
    assert_eq!(out.stdout, "Uid:\t0\t0\t0\t0\n", "{out}");
    let mut a = vec!["--rm", "--net=none", "-u", "7:8", &rs];
    a.extend(uid);
    let out = cx.rrun(&a);
    out.ok();
    assert_eq!(out.stdout, "Uid:\t7\t7\t7\t7\n", "{out}");
    cx.rrun(&["-d", "--net=none", "--name", "fifos", &rs, "sleep", "600"])
        .ok();
    let mut a = vec!["exec", "-u", "9", "fifos"];
    a.extend(uid);
    let out = cx.rrun(&a);
    out.ok();
    assert_eq!(out.stdout, "Uid:\t9\t9\t9\t9\n", "{out}");
    // A name needs the file: refused at once, not waited for.
    let out = cx.rrun(&["exec", "-u", "nobody", "fifos", "true"]);
    out.expect_rrun_error_containing("nobody");
    cx.rrun(&["rm", "-f", "fifos"]).ok();
    cx.assert_nothing_left("fifo passwd and group");
}
