//! Mounts: -v rw/ro, --read-only, --tmpfs, mount propagation, and
//! destinations that try to leave the rootfs through a symlink.

#[macro_use]
mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{chown, symlink};

both_modes!(
    volume_rw,
    volume_ro,
    volume_file,
    read_only_rootfs,
    read_only_with_tmpfs,
    tmpfs_size,
    mounts_inside_stay_inside,
    volume_dst_symlink_cannot_escape,
);

/// A host dir for -v with a file `in` in it, owned by whoever runs rrun.
fn volume_dir(cx: &Ctx, what: &str) -> (std::path::PathBuf, String) {
    let dir = cx.host_dir(what);
    let f = dir.join("in");
    fs::write(&f, "from-host\n").expect("writing the volume's file");
    chown(&f, Some(cx.uid), Some(cx.gid)).expect("chown the volume's file");
    let s = dir.to_str().expect("UTF-8 path").to_string();
    (dir, s)
}

/// /proc/mounts line of the mount at `dst` (the last one).
fn mounts_line<'a>(mounts: &'a str, dst: &str) -> Option<&'a str> {
    mounts.lines().rfind(|l| l.split(' ').nth(1) == Some(dst))
}

fn volume_rw(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let (dir, src) = volume_dir(&cx, "rw");
    let dst = format!("/vol-rw-{mode}");
    let out = cx.sh(
        &["-v", &format!("{src}:{dst}")],
        &format!("cat {dst}/in && echo from-container > {dst}/out && echo written"),
    );
    out.ok();
    assert_eq!(out.lines(), ["from-host", "written"], "{out}");
    let back = fs::read_to_string(dir.join("out")).expect("the host sees the container's file");
    assert_eq!(back, "from-container\n");
    cx.assert_nothing_left("-v rw");
}

fn volume_ro(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let (dir, src) = volume_dir(&cx, "ro");
    let dst = format!("/vol-ro-{mode}");
    let out = cx.sh(
        &["-v", &format!("{src}:{dst}:ro")],
        &format!(
            "cat {dst}/in; if touch {dst}/new 2>/dev/null; then echo wrote; else echo refused; fi; \
             if echo x 2>/dev/null > {dst}/in; then echo overwrote; else echo refused; fi"
        ),
    );
    out.ok();
    assert_eq!(out.lines(), ["from-host", "refused", "refused"], "{out}");
    assert!(
        !dir.join("new").exists(),
        "a file appeared in the :ro volume"
    );
    assert_eq!(
        fs::read_to_string(dir.join("in")).expect("reading back"),
        "from-host\n"
    );
    cx.assert_nothing_left("-v ro");
}

fn volume_file(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let file = cx.host_file("file", b"single file\n");
    let src = file.to_str().expect("UTF-8 path");
    let out = cx.sh(
        &["-v", &format!("{src}:/etc/bound-{mode}.txt:ro")],
        &format!("cat /etc/bound-{mode}.txt"),
    );
    out.ok();
    assert_eq!(out.lines(), ["single file"], "{out}");
}

fn read_only_rootfs(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let marker = unique_marker("ro");
    let out = cx.sh(
        &["--read-only"],
        &format!(
            "if touch /{marker} 2>/dev/null; then echo root=written; else echo root=refused; fi; \
             if touch /tmp/{marker} 2>/dev/null; then echo tmp=written; else echo tmp=refused; fi; \
             grep -E '^[^ ]+ / ' /proc/mounts | tail -n 1"
        ),
    );
    out.ok();
    let l = out.lines();
    assert_eq!(l.len(), 3, "{out}");
    assert_eq!(&l[..2], ["root=refused", "tmp=refused"], "{out}");
    let opts = l[2].split(' ').nth(3).unwrap_or("");
    assert!(
        opts.split(',').any(|o| o == "ro"),
        "/ is mounted read-only: {}\n{out}",
        l[2]
    );
    assert!(!cx.env.rootfs.join(&marker).exists());
    assert!(!cx.env.rootfs.join("tmp").join(&marker).exists());
    cx.assert_nothing_left("--read-only");
}

fn read_only_with_tmpfs(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let marker = unique_marker("rotmp");
    let out = cx.sh(
        &["--read-only", "--tmpfs", "/tmp"],
        &format!(
            "if touch /tmp/{marker} 2>/dev/null; then echo tmp=written; else echo tmp=refused; fi; \
             if touch /{marker} 2>/dev/null; then echo root=written; else echo root=refused; fi; \
             cat /proc/mounts"
        ),
    );
    out.ok();
    let l = out.lines();
    assert_eq!(&l[..2], ["tmp=written", "root=refused"], "{out}");
    let tmp = mounts_line(&out.stdout, "/tmp").unwrap_or_else(|| panic!("no /tmp mount\n{out}"));
    assert_eq!(
        tmp.split(' ').nth(2),
        Some("tmpfs"),
        "/tmp is a tmpfs\n{out}"
    );
    assert!(
        !cx.env.rootfs.join("tmp").join(&marker).exists(),
        "the file went to the rootfs's /tmp, not a tmpfs"
    );
}

fn tmpfs_size(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let out = cx.sh(
        &["--tmpfs", "/tmp:size=1m"],
        "cat /proc/mounts; echo --; \
         if dd if=/dev/zero of=/tmp/big bs=1024 count=2048 2>/dev/null; then echo 2m=fit; else echo 2m=full; fi; \
         if dd if=/dev/zero of=/tmp/small bs=1024 count=256 2>/dev/null; then echo small=fit; else echo small=full; fi",
    );
    out.ok();
    let (mounts, rest) = out
        .stdout
        .split_once("--\n")
        .unwrap_or_else(|| panic!("no separator\n{out}"));
    let tmp = mounts_line(mounts, "/tmp").unwrap_or_else(|| panic!("no /tmp mount\n{out}"));
    assert_eq!(tmp.split(' ').nth(2), Some("tmpfs"), "{out}");
    let opts = tmp.split(' ').nth(3).unwrap_or("");
    assert!(
        opts.split(',').any(|o| o == "size=1024k"),
        "size=1m shows as size=1024k: {tmp}\n{out}"
    );
    let rest: Vec<&str> = rest.lines().collect();
    // After the 2 MiB write filled it up, /tmp/big still holds ~1 MiB: the
    // small write may or may not fit, so only the big one is checked.
    assert_eq!(rest.first().copied(), Some("2m=full"), "{out}");
}

fn mounts_inside_stay_inside(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let marker = unique_marker("mnt");
    let args = cx.sh_args(
        &["--cap-add", "SYS_ADMIN"],
        &format!("mount -t tmpfs {marker} /mnt && echo mounted && sleep 30"),
    );
    let mut p = cx.spawn(cx.cmd(&args), Input::Null);
    p.wait_line("mounted");
    let host = host_mountinfo();
    let seen: Vec<&str> = host.lines().filter(|l| l.contains(&marker)).collect();
    assert!(
        seen.is_empty(),
        "a mount made inside the container shows in the host's mountinfo:\n{}",
        seen.join("\n")
    );
    let leaked = cx.env.leaked_mounts();
    assert!(
        leaked.is_empty(),
        "mounts under the test directory in the host's mountinfo while a container runs:\n{}",
        leaked.join("\n")
    );
    drop(p); // SIGKILL; the container goes with rrun (PDEATHSIG)
}

fn volume_dst_symlink_cannot_escape(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let (_dir, src) = volume_dir(&cx, "esc");
    // Symlinks in the rootfs that point outside it, absolutely and relatively.
    let outside_abs = cx.env.dir.join(format!("outside-abs-{mode}"));
    let outside_rel = cx.env.dir.join(format!("outside-rel-{mode}"));
    let abs_link = format!("escape-abs-{mode}");
    let rel_link = format!("escape-rel-{mode}");
    symlink(&outside_abs, cx.env.rootfs.join(&abs_link)).expect("symlink in the rootfs");
    symlink(
        format!("../outside-rel-{mode}"),
        cx.env.rootfs.join(&rel_link),
    )
    .expect("symlink in the rootfs");
    for link in [&abs_link, &rel_link] {
        let out = cx.sh(&["-v", &format!("{src}:/{link}/sub")], "true");
        assert!(
            out.code() == Some(0) || out.code() == Some(125),
            "a destination through a symlink either stays in the rootfs or is refused\n{out}"
        );
        if out.code() == Some(125) {
            out.expect_rrun_error();
        }
        for outside in [&outside_abs, &outside_rel] {
            assert!(
                !outside.exists(),
                "-v …:/{link}/sub created {} on the host, outside the rootfs\n{out}",
                outside.display()
            );
        }
        cx.assert_nothing_left("a destination through a symlink");
    }
}
