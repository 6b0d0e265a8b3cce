//! Host devices out of a container's reach (issue 12, item 1): a node the
//! container makes with mknod (in the rootfs, /dev, a --tmpfs, a -v
//! directory) or finds there (made by root in the rootfs or a volume)
//! does not open, for reading or writing, with default flags and with
//! --read-only; the backing file of the loop device the test makes keeps
//! its sha256. `--device` and `--privileged` are the ways out, and work.
//! As root the container also sits in a device cgroup of its own, removed
//! when it ends (also after its monitor was killed).
//!
//! Each test makes its own loop device over a small file (`losetup -f
//! --show`) and detaches it when it ends, failing or not.

#[macro_use]
mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Command;

both_modes!(
    made_and_found_nodes_do_not_open,
    device_flag_gives_the_node,
    privileged_gets_the_host_devices,
    bad_device_flags_are_refused,
);

mod root_only {
    #[test]
    fn device_cgroup_lifecycle() {
        super::device_cgroup_lifecycle()
    }
    #[test]
    fn device_cgroup_v1_fallback() {
        super::device_cgroup_v1_fallback()
    }
}

const CGROUP: &str = "/sys/fs/cgroup/devices";
/// What the backing file starts with (and, but for --device writes, keeps).
const CONTENT_LEN: usize = 1 << 20;

/// A loop device over a file of the test's, detached on drop.
struct Loop {
    dev: String,
    minor: u32,
    file: PathBuf,
    sha: Vec<u8>,
}

impl Loop {
    /// None after a loud skip when losetup is missing or makes nothing.
    fn new(cx: &Ctx) -> Option<Loop> {
        if !is_root() {
            skip_needs_root("it makes a loop device (losetup), which needs root");
            return None;
        }
        if let Some(t) = missing_tool(&["losetup", "blockdev"]) {
            skip(&format!("{t} is not installed (util-linux)"));
            return None;
        }
        let file = cx.host_dir("loop").join("backing");
        let data: Vec<u8> = (0..CONTENT_LEN).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(&file, &data).expect("writing the backing file");
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&file)
            .env("PATH", HOST_PATH)
            .output()
            .expect("running losetup");
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let Some(minor) = dev
            .strip_prefix("/dev/loop")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            skip(&format!(
                "losetup -f --show made no loop device: {} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
            return None;
        };
        let mut l = Loop {
            dev,
            minor,
            file,
            sha: Vec::new(),
        };
        l.sha = l.sha256();
        Some(l)
    }

    /// The backing file's sha256, once the loop device's buffers are
    /// written back to it.
    fn sha256(&self) -> Vec<u8> {
        use sha2::Digest;
        let st = Command::new("blockdev")
            .args(["--flushbufs", &self.dev])
            .env("PATH", HOST_PATH)
            .status()
            .expect("running blockdev");
        assert!(st.success(), "blockdev --flushbufs {}", self.dev);
        sha2::Sha256::digest(fs::read(&self.file).expect("reading the backing file")).to_vec()
    }

    #[track_caller]
    fn assert_unchanged(&self, after: &str) {
        assert!(
            self.sha256() == self.sha,
            "the backing file of {} changed after {after}",
            self.dev
        );
    }

    /// A node of this loop device at `path`, mode 0666 (as root would leave
    /// one for anyone), owned by root.
    fn node_at(&self, path: &Path, mode: u32) {
        let st = Command::new("mknod")
            .arg(path)
            .args(["b", "7", &self.minor.to_string()])
            .env("PATH", HOST_PATH)
            .status()
            .expect("running mknod");
        assert!(st.success(), "mknod {}", path.display());
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod the node");
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup")
            .args(["-d", &self.dev])
            .env("PATH", HOST_PATH)
            .status();
    }
}

/// A copy of the test rootfs for this test alone (nodes are placed in it).
fn own_rootfs(cx: &Ctx) -> PathBuf {
    let dir = cx.host_dir("rootfs");
    let root = dir.join("rootfs");
    let st = Command::new("cp")
        .arg("-a")
        .arg(&cx.env.rootfs)
        .arg(&root)
        .status()
        .expect("running cp");
    assert!(st.success(), "cp -a the rootfs");
    root
}

/// Shell functions for the container: `probe NAME PATH` prints `NAME
/// read=WHY write=WHY`, WHY the error of opening the block device at PATH
/// for reading (then writing; nothing is read or written), or OPENED, or
/// `NAME no-node` when there is none; `mk NAME PATH MINOR` makes a node of
/// loop MINOR and prints `NAME mknod=ok` or the error.
const PROBE: &str = r#"
probe() {
  if [ ! -b "$2" ]; then echo "$1 no-node"; return; fi
  r=$( (: < "$2") 2>&1 ) && r=OPENED
  w=$( (: >> "$2") 2>&1 ) && w=OPENED
  echo "$1 read=${r##*: } write=${w##*: }"
}
mk() {
  if e=$(mknod "$2" b 7 "$3" 2>&1); then echo "$1 mknod=ok"; else echo "$1 mknod=${e##*: }"; fi
}
"#;

/// What `probe` prints when neither open works, with `why`.
fn refused(name: &str, why: &str) -> String {
    format!("{name} read={why} write={why}")
}

/// For a node the container tried to make at NAME: `NAME mknod=ok` and
/// both opens refused with `why`, or (where it may not make one) an error
/// from mknod and no node.
#[track_caller]
fn assert_made_refused(out: &Output, name: &str, may_make: bool, why: &str) {
    let lines = out.lines();
    let mk = lines
        .iter()
        .find(|l| l.starts_with(&format!("{name} mknod=")))
        .unwrap_or_else(|| panic!("no mknod line for {name}\n{out}"));
    let probe = lines
        .iter()
        .find(|l| l.starts_with(&format!("{name} ")) && !l.contains("mknod="))
        .unwrap_or_else(|| panic!("no probe line for {name}\n{out}"));
    if may_make {
        assert_eq!(*mk, format!("{name} mknod=ok"), "{out}");
        assert_eq!(*probe, refused(name, why), "{out}");
    } else {
        assert_ne!(*mk, format!("{name} mknod=ok"), "{out}");
        assert_eq!(*probe, format!("{name} no-node"), "{out}");
    }
}

fn made_and_found_nodes_do_not_open(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let Some(lp) = Loop::new(&cx) else { return };
    let n = lp.minor;
    let rootfs = own_rootfs(&cx);
    let rootfs_arg = rootfs.to_str().expect("UTF-8 path").to_string();
    // The volume's mount point exists, so that rootless too sees the
    // rootfs through rrun's plain bind (a missing one would be made on an
    // overlay, and a user namespace's overlay is nodev by itself).
    fs::create_dir(rootfs.join("vol")).expect("mkdir /vol in the rootfs");
    let vol = cx.host_dir("vol");
    // Left by root, open to anyone: in the rootfs and in a volume.
    lp.node_at(&rootfs.join("pre-placed"), 0o666);
    lp.node_at(&vol.join("pre-placed"), 0o666);
    let vol_arg = format!("{}:/vol", vol.display());
    let root = mode == Mode::Root;
    // nodev: opening a node on such a mount fails with EACCES.
    let eacces = "Permission denied";
    let script = format!(
        "{PROBE}
         mk rootfs /made {n}; probe rootfs /made
         mk dev /dev/made {n}; probe dev /dev/made
         mk tmp /tmp/made {n}; probe tmp /tmp/made
         mk vol /vol/made {n}; probe vol /vol/made
         probe pre-rootfs /pre-placed
         probe pre-vol /vol/pre-placed
         echo done"
    );
    for ro in [false, true] {
        let _ = fs::remove_file(rootfs.join("made"));
        let _ = fs::remove_file(vol.join("made"));
        let mut args: Vec<&str> = vec!["--rm", "--net=none", "--tmpfs", "/tmp", "-v", &vol_arg];
        if ro {
            args.push("--read-only");
        }
        args.extend([rootfs_arg.as_str(), "sh", "-c", &script]);
        let out = cx.rrun(&args);
        out.ok();
        // Root may mknod (as in Docker) where it can write; opening is
        // what fails. Rootless, mknod of a device fails already.
        assert_made_refused(&out, "rootfs", root && !ro, eacces);
        for name in ["dev", "tmp", "vol"] {
            assert_made_refused(&out, name, root, eacces);
        }
        let lines = out.lines();
        for name in ["pre-rootfs", "pre-vol"] {
            assert!(
                lines.contains(&refused(name, eacces).as_str()),
                "{name}\n{out}"
            );
        }
        assert_eq!(lines.last(), Some(&"done"), "{out}");
        lp.assert_unchanged(&format!("the nodes were tried (--read-only: {ro})"));
    }
    cx.assert_nothing_left("the nodes were tried");

    // --tmpfs DST:dev asks for a tmpfs without nodev, as Docker allows: as
    // root the device cgroup is what refuses the node then (EPERM), or,
    // without a devices controller, rrun refuses the flag; rootless the
    // kernel keeps a user namespace's tmpfs nodev and mknod fails.
    let script = format!("{PROBE} mk devtmp /t/made {n}; probe devtmp /t/made");
    let out = cx.sh(&["--net=none", "--tmpfs", "/t:dev"], &script);
    if !root {
        out.ok();
        assert_made_refused(&out, "devtmp", false, "");
    } else if cgroup_parent().is_some() {
        out.ok();
        assert_made_refused(&out, "devtmp", true, "Operation not permitted");
    } else {
        out.expect_rrun_error_containing("--tmpfs /t:dev");
    }
    lp.assert_unchanged("a node was tried on a dev tmpfs");

    // `rrun exec` is held the same way.
    let _c = Cleanup::new(&cx);
    let out = cx.rrun(&[
        "-d",
        "--net=none",
        "-v",
        &vol_arg,
        &rootfs_arg,
        "sleep",
        "1000",
    ]);
    out.ok();
    let id = out.stdout.trim().to_string();
    let out = cx.rrun(&[
        "exec",
        &id,
        "sh",
        "-c",
        &format!(
            "{PROBE} mk exec /dev/made {n}; probe exec /dev/made; probe exec-vol /vol/pre-placed"
        ),
    ]);
    out.ok();
    assert_made_refused(&out, "exec", root, eacces);
    assert!(
        out.lines().contains(&refused("exec-vol", eacces).as_str()),
        "{out}"
    );
    lp.assert_unchanged("a node was tried from rrun exec");
}

/// The mode bits and owner of a host path.
fn mode_owner(p: &Path) -> (u32, u32, u32) {
    let md = fs::metadata(p).expect("stat");
    (md.mode(), md.uid(), md.gid())
}

fn device_flag_gives_the_node(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let Some(lp) = Loop::new(&cx) else { return };
    // Root gets the host's own node; rootless, a node of the test user's
    // (it may not open the host's /dev/loopN, owned by root), bound the
    // same way.
    let host_node = match mode {
        Mode::Root => PathBuf::from(&lp.dev),
        Mode::Rootless => {
            let p = cx.host_dir("node").join("loop");
            lp.node_at(&p, 0o600);
            chown(&p, Some(cx.uid), Some(cx.gid)).expect("chown the node");
            p
        }
    };
    let host = host_node.to_str().expect("UTF-8 path");
    let before = mode_owner(&host_node);
    let script = format!(
        "{PROBE} probe xd /dev/xd; echo bytes=$(head -c 4 /dev/xd | od -An -tu1); \
         printf rrun-device-write | dd of=/dev/xd bs=1 seek=4096 conv=notrunc 2>/dev/null && echo wrote; \
         e=$(chmod 0777 /dev/xd 2>&1) || echo \"chmod=${{e##*: }}\""
    );
    let out = cx.sh(
        &["--net=none", "--device", &format!("{host}:/dev/xd:rw")],
        &script,
    );
    out.ok();
    assert_eq!(
        out.lines(),
        [
            "xd read=OPENED write=OPENED",
            "bytes= 0 7 14 21",
            "wrote",
            "chmod=Read-only file system"
        ],
        "{out}"
    );
    assert_eq!(
        mode_owner(&host_node),
        before,
        "the host's node is as it was"
    );
    let _ = lp.sha256();
    let data = fs::read(&lp.file).expect("reading the backing file");
    assert_eq!(
        &data[4096..4096 + 17],
        b"rrun-device-write",
        "the write reached the backing file"
    );

    // The default container path is the host's; PERMS alone.
    let out = cx.sh(
        &["--net=none", "--device", &format!("{host}:r")],
        &format!("{PROBE} probe same {host}"),
    );
    out.ok();
    let why = match mode {
        // The device cgroup allows reading only.
        Mode::Root => "xd read=OPENED write=Operation not permitted",
        // No device cgroup: the node's own permissions decide.
        Mode::Rootless => "xd read=OPENED write=OPENED",
    };
    assert_eq!(out.lines(), [why.replace("xd", "same")], "{out}");

    // A path outside /dev, in a read-only rootfs (of this test's: root
    // makes the missing mount point in it).
    let rootfs = own_rootfs(&cx);
    let dev_arg = format!("{host}:/opt/disk");
    let script = format!("{PROBE} probe opt /opt/disk");
    let out = cx.rrun(&[
        "--rm",
        "--net=none",
        "--read-only",
        "--device",
        &dev_arg,
        rootfs.to_str().expect("UTF-8 path"),
        "sh",
        "-c",
        &script,
    ]);
    out.ok();
    assert_eq!(out.lines(), ["opt read=OPENED write=OPENED"], "{out}");

    // inspect shows it as Docker does.
    let _c = Cleanup::new(&cx);
    let id = cx.detach(
        &["--net=none", "--device", &format!("{host}:/dev/xd:rw")],
        &["sleep", "1000"],
    );
    let v = cx.inspect_json(&id);
    assert_eq!(
        v["HostConfig"]["Devices"],
        serde_json::json!([{
            "PathOnHost": host,
            "PathInContainer": "/dev/xd",
            "CgroupPermissions": "rw",
        }]),
        "{v:#}"
    );
    assert_eq!(v["HostConfig"]["Privileged"], false, "{v:#}");
    // rrun exec reaches it too.
    let out = cx.rrun(&[
        "exec",
        &id,
        "sh",
        "-c",
        &format!("{PROBE} probe exec /dev/xd"),
    ]);
    out.ok();
    assert_eq!(out.lines(), ["exec read=OPENED write=OPENED"], "{out}");
}

/// This process's bounding set: every capability --privileged can give.
fn own_bounding_set() -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("reading status");
    let v = status_field(&status, "CapBnd").expect("CapBnd");
    u64::from_str_radix(v, 16).expect("hex CapBnd")
}

fn privileged_gets_the_host_devices(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let Some(lp) = Loop::new(&cx) else { return };
    // No masked or read-only /proc paths: nothing mounted on them.
    let mut script = format!(
        "{PROBE} grep -E '^(CapEff|Seccomp):' /proc/self/status; \
         test -b {dev} && echo node={dev}; \
         echo proc_mounts=$(grep -cE ' /proc/(timer_list|keys|sys|bus|kcore) ' /proc/mounts); \
         grep -q ' /sys sysfs rw' /proc/mounts && echo sys=rw",
        dev = lp.dev
    );
    if mode == Mode::Root {
        script.push_str(&format!(
            "; echo rrun > /proc/sys/kernel/domainname && echo procsys=written; probe loop {}",
            lp.dev
        ));
    }
    let out = cx.sh(&["--net=none", "--privileged"], &script);
    out.ok();
    let caps = own_bounding_set();
    let mut expect = vec![
        format!("CapEff:\t{caps:016x}"),
        "Seccomp:\t0".to_string(),
        format!("node={}", lp.dev),
        "proc_mounts=0".to_string(),
        "sys=rw".to_string(),
    ];
    if mode == Mode::Root {
        // As root: /proc/sys writable, the host's loop device opens.
        expect.extend(["procsys=written", "loop read=OPENED write=OPENED"].map(String::from));
    }
    assert_eq!(out.lines(), expect, "{out}");
    // Without --privileged the same paths are masked or read-only.
    let out = cx.sh(
        &["--net=none"],
        "echo proc_mounts=$(grep -cE ' /proc/(timer_list|keys|sys|bus|kcore) ' /proc/mounts)",
    );
    out.ok();
    assert_ne!(out.lines(), ["proc_mounts=0"], "{out}");
    lp.assert_unchanged("--privileged opened the loop device");

    let _c = Cleanup::new(&cx);
    let id = cx.detach(&["--net=none", "--privileged"], &["sleep", "1000"]);
    let v = cx.inspect_json(&id);
    assert_eq!(v["HostConfig"]["Privileged"], true, "{v:#}");
    assert_eq!(v["HostConfig"]["Devices"], serde_json::json!([]), "{v:#}");
}

fn bad_device_flags_are_refused(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let file = cx.host_file("plain", b"not a device\n");
    let file = file.to_str().expect("UTF-8 path");
    for (flag, msg) in [
        (
            "/dev/null:/x:rwx".to_string(),
            "invalid argument \"/dev/null:/x:rwx\" for \"--device\" flag: bad mode specified: rwx",
        ),
        (
            "/dev/null:/x:r:w".to_string(),
            "bad format for path: /dev/null:/x:r:w",
        ),
        ("dev/null".to_string(), "dev/null is not an absolute path"),
        ("/dev/null:x".to_string(), "x is not an absolute path"),
        ("/dev/null:/proc/x".to_string(), "rrun mounts /proc itself"),
        (
            "/dev/rrun-no-such-node".to_string(),
            "error gathering device information while adding custom device \"/dev/rrun-no-such-node\": no such file or directory",
        ),
        (file.to_string(), "not a device node"),
    ] {
        let out = cx.rrun(&["--rm", "--device", &flag, cx.rootfs(), "true"]);
        out.expect_rrun_error_containing(msg);
    }
    cx.assert_nothing_left("bad --device flags");
}

/// Where rrun makes device cgroups: the v2 hierarchy's `rrun/` (a device
/// program attached), else the v1 devices controller's.
fn cgroup_parent() -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(Path::new)
        .find(|r| r.join("cgroup.subtree_control").exists())
        .map(|r| r.join("rrun"))
        .or_else(|| {
            Path::new(CGROUP)
                .join("devices.allow")
                .exists()
                .then(|| Path::new(CGROUP).join("rrun"))
        })
}

/// The device cgroups of container `id` (rrun names them ID-PID-START).
fn cgroups_of(parent: &Path, id: &str) -> Vec<PathBuf> {
    fs::read_dir(parent)
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("{id}-"))
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

fn device_cgroup_lifecycle() {
    let Some(cx) = Ctx::new(Mode::Root) else {
        return;
    };
    let Some(parent) = cgroup_parent() else {
        skip("no cgroup v2 hierarchy and no v1 devices controller");
        return;
    };
    let v2 = !parent.starts_with(CGROUP);
    let _c = Cleanup::new(&cx);
    // On v2 every container with the default rules shares one cgroup,
    // `rrun/default-HASH`, kept; one with a --device has its own.
    let id = cx.detach(&["--net=none"], &["sleep", "1000"]);
    let st = cx.state_json(&id).expect("state.json");
    let own = fs::read_to_string(format!("/proc/{}/cgroup", st["pid"])).expect("its cgroup");
    if v2 {
        assert!(own.contains("0::/rrun/default-"), "{own}");
        assert!(cgroups_of(&parent, &id).is_empty());
    } else {
        assert!(own.contains(&format!(":devices:/rrun/{id}-")), "{own}");
    }
    cx.rrun(&["rm", "-f", &id]).ok();

    let dev = ["--net=none", "--device", "/dev/zero:/dev/zero2"];
    let id = cx.detach(&dev, &["sleep", "1000"]);
    let cgs = cgroups_of(&parent, &id);
    assert_eq!(cgs.len(), 1, "one device cgroup for {id}: {cgs:?}");
    let cg = &cgs[0];
    let st = cx.state_json(&id).expect("state.json");
    let procs = fs::read_to_string(cg.join("cgroup.procs")).expect("cgroup.procs");
    let pids: Vec<&str> = procs.split_whitespace().collect();
    assert_eq!(
        pids,
        [st["pid"].to_string()],
        "the container process alone is in it (not its monitor)"
    );
    if !v2 {
        let list = fs::read_to_string(cg.join("devices.list")).expect("devices.list");
        let mut got: Vec<&str> = list.lines().collect();
        got.sort();
        let mut want = vec![
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
        ];
        want.sort();
        assert_eq!(got, want, "Docker's default list, nothing else");
    }
    // rrun exec's command joins it.
    let out = cx.rrun(&["exec", &id, "cat", "/proc/self/cgroup"]);
    out.ok();
    let name = cg.file_name().unwrap().to_string_lossy().into_owned();
    let line = if v2 {
        format!("0::/rrun/{name}\n")
    } else {
        format!(":devices:/rrun/{name}\n")
    };
    assert!(out.stdout.contains(&line), "{line:?}\n{out}");
    cx.rrun(&["rm", "-f", &id]).ok();
    assert!(
        poll_until(SETTLE, || !cg.exists()),
        "{} is removed with the container",
        cg.display()
    );

    // A foreground run leaves none.
    let out = cx.sh(&dev, "cat /proc/self/cgroup");
    out.ok();
    assert!(out.stdout.contains("/rrun/"), "{out}");
    let left: Vec<String> = fs::read_dir(&parent)
        .expect("rrun's cgroup directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| out.stdout.contains(n.as_str()))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // A monitor SIGKILLed once the container runs leaves its cgroup; the
    // next run removes it.
    let mut args = vec!["-d"];
    args.extend(dev);
    args.extend([cx.rootfs(), "sleep", "1000"]);
    let mut c = cx.cmd(&args);
    c.env("RRUN_TEST_CRASH_AT", "started");
    let out = cx.run(c, Input::Null);
    let id = out.stdout.trim().to_string();
    assert!(is_hex(&id, 64), "{out}");
    cx.wait_exited(&id);
    let gone = poll_until(SETTLE, || {
        cx.sh(&["--net=none"], "true").ok();
        cgroups_of(&parent, &id).is_empty()
    });
    assert!(
        gone,
        "the killed monitor's cgroup is reclaimed: {:?}",
        cgroups_of(&parent, &id)
    );
}

/// The v1 devices controller, where there is no v2 hierarchy (forced here
/// with RRUN_TEST_DEVICE_CGROUP=v1): a cgroup of the container's own with
/// Docker's list (and the --device entry), the container moved into it
/// before it starts, removed with it.
fn device_cgroup_v1_fallback() {
    let Some(cx) = Ctx::new(Mode::Root) else {
        return;
    };
    if !Path::new(CGROUP).join("devices.allow").exists() {
        skip("no cgroup v1 devices controller at /sys/fs/cgroup/devices");
        return;
    }
    let Some(lp) = Loop::new(&cx) else { return };
    // Another minor than the --device's: the rule allows that one alone.
    let n = lp.minor + 1;
    let script = format!(
        "{PROBE} cat /proc/self/cgroup; mk devtmp /t/made {n}; probe devtmp /t/made; probe xd /dev/xd"
    );
    let args = cx.sh_args(
        &[
            "--net=none",
            "--tmpfs",
            "/t:dev",
            "--device",
            &format!("{}:/dev/xd:r", lp.dev),
        ],
        &script,
    );
    let mut c = cx.cmd(&args);
    c.env("RRUN_TEST_DEVICE_CGROUP", "v1");
    let out = cx.run(c, Input::Null);
    out.ok();
    let lines = out.lines();
    let cg = lines
        .iter()
        .find_map(|l| l.split_once(":devices:/rrun/").map(|(_, n)| n.to_string()))
        .unwrap_or_else(|| panic!("not in a v1 device cgroup of rrun's\n{out}"));
    assert!(
        parse_name_id(&cg).is_some(),
        "named ID-PID-START: {cg}\n{out}"
    );
    assert!(lines.contains(&"devtmp mknod=ok"), "{out}");
    assert!(
        lines.contains(&refused("devtmp", "Operation not permitted").as_str()),
        "{out}"
    );
    assert!(
        lines.contains(&"xd read=OPENED write=Operation not permitted"),
        "{out}"
    );
    assert!(
        !Path::new(CGROUP).join("rrun").join(&cg).exists(),
        "{cg} is removed with the container"
    );
    lp.assert_unchanged("the v1 device cgroup refused the write");
}

/// The id of a cgroup name ID-PID-START.
fn parse_name_id(name: &str) -> Option<&str> {
    let mut it = name.rsplitn(3, '-');
    it.next()?.parse::<u64>().ok()?;
    it.next()?.parse::<i32>().ok()?;
    it.next().filter(|id| is_hex(id, 64))
}
