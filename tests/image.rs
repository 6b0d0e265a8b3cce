//! `rrun image save`: the archive's layout and digests, determinism, what
//! the layer holds (hard links, symlinks, long paths, xattrs, devices,
//! subordinate owners rootless, mount points rrun placed left out), the
//! refusals that leave nothing behind, and `podman load` running the image
//! with the same output as `rrun run`.

#[macro_use]
mod common;

use common::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

both_modes!(
    archive_layout_and_digests,
    same_rootfs_same_bytes,
    layer_entries,
    config_from_a_container,
    refusals_leave_nothing,
    killed_save_leaves_nothing,
);

// ---------------------------------------------------------------------------
// A small tar reader (USTAR + PAX), independent of rrun's writer.

#[derive(Debug, Clone, Default)]
struct Entry {
    path: String,
    typeflag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: String,
    data: Vec<u8>,
    xattrs: BTreeMap<String, Vec<u8>>,
    dev: (u32, u32),
}

fn octal(f: &[u8]) -> u64 {
    let s: String = f
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    u64::from_str_radix(s.trim(), 8).unwrap_or(0)
}

fn cstr(f: &[u8]) -> String {
    let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
    String::from_utf8_lossy(&f[..end]).into_owned()
}

fn read_tar(b: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut pax: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut zeros = 0;
    while at + 512 <= b.len() {
        let h = &b[at..at + 512];
        at += 512;
        if h.iter().all(|&x| x == 0) {
            zeros += 1;
            if zeros == 2 {
                break;
            }
            continue;
        }
        assert_eq!(
            &h[257..263],
            b"ustar\0",
            "not a ustar header at {}",
            at - 512
        );
        let mut sum = h.to_vec();
        sum[148..156].fill(b' ');
        assert_eq!(
            octal(&h[148..156]),
            sum.iter().map(|&x| u64::from(x)).sum::<u64>(),
            "checksum"
        );
        let mut size = octal(&h[124..136]);
        if let Some(s) = pax.get("size") {
            size = String::from_utf8_lossy(s).parse().unwrap();
        }
        let data = b[at..at + size as usize].to_vec();
        at += (size as usize).div_ceil(512) * 512;
        if h[156] == b'x' {
            let mut rec = &data[..];
            while !rec.is_empty() {
                let sp = rec.iter().position(|&c| c == b' ').unwrap();
                let len: usize = std::str::from_utf8(&rec[..sp]).unwrap().parse().unwrap();
                let body = &rec[sp + 1..len - 1];
                let eq = body.iter().position(|&c| c == b'=').unwrap();
                pax.insert(
                    String::from_utf8_lossy(&body[..eq]).into_owned(),
                    body[eq + 1..].to_vec(),
                );
                rec = &rec[len..];
            }
            continue;
        }
        let prefix = cstr(&h[345..500]);
        let name = cstr(&h[0..100]);
        let mut e = Entry {
            path: if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            },
            typeflag: h[156],
            mode: octal(&h[100..108]) as u32,
            uid: octal(&h[108..116]),
            gid: octal(&h[116..124]),
            mtime: octal(&h[136..148]),
            link: cstr(&h[157..257]),
            data,
            xattrs: BTreeMap::new(),
            dev: (octal(&h[329..337]) as u32, octal(&h[337..345]) as u32),
        };
        let num = |v: &Vec<u8>| String::from_utf8_lossy(v).parse::<u64>().unwrap();
        for (k, v) in std::mem::take(&mut pax) {
            match k.as_str() {
                "path" => e.path = String::from_utf8_lossy(&v).into_owned(),
                "linkpath" => e.link = String::from_utf8_lossy(&v).into_owned(),
                "uid" => e.uid = num(&v),
                "gid" => e.gid = num(&v),
                "mtime" => e.mtime = num(&v),
                "size" => {}
                other => {
                    let x = other
                        .strip_prefix("SCHILY.xattr.")
                        .unwrap_or_else(|| panic!("unexpected PAX key {other}"));
                    e.xattrs.insert(x.to_string(), v);
                }
            }
        }
        out.push(e);
    }
    out
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("the layer is gzip");
    out
}

/// A saved archive, read and checked: every blob named by its digest,
/// manifest.json and index.json pointing at them, the layer's diff_id.
struct Image {
    outer: Vec<Entry>,
    config: serde_json::Value,
    index: serde_json::Value,
    docker: serde_json::Value,
    layer: Vec<Entry>,
    id: String,
}

fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).expect("JSON")
}

fn open_image(path: &Path) -> Image {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let outer = read_tar(&bytes);
    let file = |name: &str| -> &Entry {
        outer
            .iter()
            .find(|e| e.path == name)
            .unwrap_or_else(|| panic!("no {name} in the archive"))
    };
    for e in &outer {
        if let Some(hex) = e
            .path
            .strip_prefix("blobs/sha256/")
            .filter(|h| !h.is_empty())
        {
            assert_eq!(
                sha256(&e.data),
                hex,
                "blob {hex} is not named by its digest"
            );
        }
    }
    let docker = json(&file("manifest.json").data);
    let index = json(&file("index.json").data);
    let desc = &index["manifests"][0];
    let mhex = desc["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    let manifest_e = file(&format!("blobs/sha256/{mhex}"));
    assert_eq!(desc["size"], manifest_e.data.len());
    let manifest = json(&manifest_e.data);
    let chex = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap()
        .to_string();
    let lhex = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap()
        .to_string();
    assert_eq!(docker[0]["Config"], format!("blobs/sha256/{chex}"));
    assert_eq!(docker[0]["Layers"][0], format!("blobs/sha256/{lhex}"));
    let config_e = file(&format!("blobs/sha256/{chex}"));
    assert_eq!(manifest["config"]["size"], config_e.data.len());
    let config = json(&config_e.data);
    let layer_e = file(&format!("blobs/sha256/{lhex}"));
    assert_eq!(manifest["layers"][0]["size"], layer_e.data.len());
    let raw = gunzip(&layer_e.data);
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        format!("sha256:{}", sha256(&raw)),
        "diff_id"
    );
    Image {
        layer: read_tar(&raw),
        config,
        index,
        docker,
        id: format!("sha256:{chex}"),
        outer,
    }
}

impl Image {
    fn entry(&self, path: &str) -> Option<&Entry> {
        self.layer.iter().find(|e| e.path == path)
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// A private copy of the test rootfs, owned by whoever runs rrun.
fn own_rootfs(cx: &Ctx, what: &str) -> PathBuf {
    let dir = cx.host_dir(what);
    let root = dir.join("rootfs");
    let out = Command::new("cp")
        .arg("-a")
        .arg(&cx.env.rootfs)
        .arg(&root)
        .output()
        .expect("cp");
    assert!(out.status.success(), "cp -a: {out:?}");
    let out = Command::new("chown")
        .arg("-hR")
        .arg(format!("{}:{}", cx.uid, cx.gid))
        .arg(&root)
        .output()
        .expect("chown");
    assert!(out.status.success(), "chown -R: {out:?}");
    root
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `rrun image save ARGS…`, expected to succeed: the image id it printed.
#[track_caller]
fn save(cx: &Ctx, args: &[&str]) -> String {
    let mut a = vec!["image", "save"];
    a.extend_from_slice(args);
    let out = cx.rrun(&a);
    out.ok();
    let lines = out.lines();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("sha256:") && lines[0].len() == 71,
        "{out}"
    );
    lines[0].to_string()
}

/// The names in `dir`.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// Tests

fn archive_layout_and_digests(mode: Mode) {
    let Some(cx) = Ctx::new_needing_root(mode, "a copy of the rootfs of the test user's") else {
        return;
    };
    let root = own_rootfs(&cx, "rootfs");
    let out_dir = cx.host_dir("out");
    let out = out_dir.join("img.tar");
    let id = save(&cx, &["-t", "web:1.0", "-o", s(&out), s(&root)]);
    let img = open_image(&out);
    assert_eq!(img.id, id);
    let mut paths: Vec<&str> = img.outer.iter().map(|e| e.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths.len(), 8, "{paths:?}");
    assert_eq!(
        paths[..2],
        ["blobs/", "blobs/sha256/"],
        "directories first: {paths:?}"
    );
    assert_eq!(paths[5..], ["index.json", "manifest.json", "oci-layout"]);
    for e in &img.outer {
        assert!(
            matches!(e.typeflag, b'0' | b'5'),
            "{}: only files and dirs",
            e.path
        );
        assert_eq!((e.uid, e.gid, e.mtime), (0, 0, 0), "{}", e.path);
    }
    assert_eq!(
        img.outer
            .iter()
            .find(|e| e.path == "oci-layout")
            .unwrap()
            .data,
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let ann = &img.index["manifests"][0]["annotations"];
    assert_eq!(ann["io.containerd.image.name"], "docker.io/library/web:1.0");
    assert_eq!(ann["org.opencontainers.image.ref.name"], "1.0");
    assert_eq!(img.docker[0]["RepoTags"], serde_json::json!(["web:1.0"]));
    assert_eq!(img.config["os"], "linux");
    assert_eq!(img.config["created"], "1970-01-01T00:00:00Z");
    assert_eq!(img.config["config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    // The layer: the rootfs, sorted, times fixed, owners as the container
    // sees them (the copy is the runner's own: 0 inside).
    let busybox = img.entry("bin/busybox").expect("bin/busybox in the layer");
    assert_eq!(busybox.typeflag, b'0');
    assert_eq!(
        busybox.data,
        fs::read(cx.env.rootfs.join("bin/busybox")).unwrap()
    );
    let sh = img.entry("bin/sh").expect("bin/sh");
    assert_eq!(sh.typeflag, b'2');
    assert!(
        img.layer
            .iter()
            .all(|e| e.mtime == 0 && !e.path.starts_with('/'))
    );
    let order: Vec<&[u8]> = img.layer.iter().map(|e| e.path.as_bytes()).collect();
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| {
        // Depth-first with children after their directory, by bytes: the
        // same as comparing paths with '/' sorting lowest.
        let key =
            |p: &[u8]| -> Vec<u8> { p.iter().map(|&c| if c == b'/' { 0 } else { c }).collect() };
        key(a).cmp(&key(b))
    });
    assert_eq!(order, sorted, "entries sorted by their bytes, depth-first");
    if mode == Mode::Rootless {
        assert!(
            img.layer.iter().all(|e| e.uid == 0 && e.gid == 0),
            "the runner's own files are root's inside"
        );
    }
    // Without -t: named after the directory, said on stderr.
    let out2 = out_dir.join("default.tar");
    let o = cx.rrun(&["image", "save", "-o", s(&out2), s(&root)]);
    o.ok();
    assert!(
        o.stderr.contains("named the image localhost/rootfs:latest"),
        "{o}"
    );
    let img2 = open_image(&out2);
    assert_eq!(
        img2.index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "localhost/rootfs:latest"
    );
    assert_eq!(
        names(&out_dir),
        ["default.tar", "img.tar"],
        "no temporary files left"
    );
}

fn same_rootfs_same_bytes(mode: Mode) {
    let Some(cx) = Ctx::new_needing_root(mode, "a copy of the rootfs of the test user's") else {
        return;
    };
    let root = own_rootfs(&cx, "rootfs");
    let r = s(&root);
    let dir = cx.host_dir("out");
    let (a, b) = (dir.join("a.tar"), dir.join("b.tar"));
    let ida = save(&cx, &["-t", "x:1", "-o", s(&a), r]);
    let idb = save(&cx, &["-t", "x:1", "-o", s(&b), r]);
    assert_eq!(ida, idb);
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "two saves differ"
    );
    // Overwriting an existing file gives the same bytes again.
    save(&cx, &["-t", "x:1", "-o", s(&b), r]);
    assert!(fs::read(&a).unwrap() == fs::read(&b).unwrap());
    // SOURCE_DATE_EPOCH sets every time.
    let c = dir.join("c.tar");
    let mut cmd = cx.cmd(&["image", "save", "-t", "x:1", "-o", s(&c), r]);
    cmd.env("SOURCE_DATE_EPOCH", "1700000000");
    cx.run(cmd, Input::Null).ok();
    let img = open_image(&c);
    assert_eq!(img.config["created"], "2023-11-14T22:13:20Z");
    assert!(img.layer.iter().all(|e| e.mtime == 1_700_000_000));
    assert!(img.outer.iter().all(|e| e.mtime == 1_700_000_000));
}

fn layer_entries(mode: Mode) {
    let Some(cx) = Ctx::new_needing_root(mode, "files of subordinate ids, devices") else {
        return;
    };
    let root = own_rootfs(&cx, "tree");
    let w = |p: &str, data: &[u8]| {
        let f = root.join(p);
        fs::create_dir_all(f.parent().unwrap()).unwrap();
        fs::write(&f, data).unwrap();
        std::os::unix::fs::chown(&f, Some(cx.uid), Some(cx.gid)).unwrap();
    };
    w("srv/a", b"linked\n");
    fs::hard_link(root.join("srv/a"), root.join("srv/b")).unwrap();
    symlink("../etc/passwd", root.join("srv/link")).unwrap();
    let long_dir = format!("srv/{}/{}", "d".repeat(120), "e".repeat(120));
    let long = format!("{long_dir}/{}", "f".repeat(90));
    w(&long, b"deep\n");
    let long_target = format!("/{}", "t".repeat(150));
    symlink(&long_target, root.join("srv/longlink")).unwrap();
    w("srv/x", b"x");
    xattr_set(&root.join("srv/x"), "user.color", b"blue");
    xattr_set(&root.join("srv/x"), "user.rrun.placed", b"1");
    w("srv/suid", b"s");
    // A mount point rrun placed, still empty, and one that was used since.
    run_ok(Command::new("mkfifo").arg(root.join("srv/fifo")));
    let sock = std::os::unix::net::UnixListener::bind(root.join("srv/sock")).unwrap();
    drop(sock);
    run_ok(
        Command::new("chown")
            .arg("-hR")
            .arg(format!("{}:{}", cx.uid, cx.gid))
            .arg(root.join("srv")),
    );
    // After the chown, which clears it.
    fs::set_permissions(root.join("srv/suid"), fs::Permissions::from_mode(0o4711)).unwrap();
    // Through a run: rrun places /proc, /sys, /data (-v) and /work (-w)
    // where the copy lacks them, and the container writes a file of a
    // subordinate id, 0600 in a 0700 directory.
    for d in ["proc", "sys"] {
        let _ = fs::remove_dir(root.join(d));
    }
    let vol = cx.host_dir("vol");
    let o = cx.rrun(&[
        "--rm",
        "-v",
        &format!("{}:/data/vol", s(&vol)),
        "-w",
        "/work",
        s(&root),
        "/bin/sh",
        "-c",
        "mkdir -m 700 /home/u && echo secret > /home/u/s && chmod 600 /home/u/s && \
         chown -R 1000:1001 /home/u && mkdir -p /used && touch /used/f",
    ]);
    o.ok();
    let is_root_mode = mode == Mode::Root;
    if is_root_mode {
        run_ok(
            Command::new("mknod")
                .arg(root.join("srv/null"))
                .args(["c", "1", "3"]),
        );
        run_ok(
            Command::new("mknod")
                .arg(root.join("srv/blk"))
                .args(["b", "7", "200"]),
        );
        // A revision-3 file capability (cap_net_raw, root id 0).
        let mut v3 = vec![0, 0, 0, 3, 0, 0x20, 0, 0, 0, 0, 0, 0];
        v3.extend([0u8; 8]);
        v3.extend([0, 0, 0, 0]);
        xattr_set(&root.join("srv/x"), "security.capability", &v3);
    }
    let out = cx.host_dir("out").join("i.tar");
    let o = cx.rrun(&["image", "save", "-t", "t:1", "-o", s(&out), s(&root)]);
    o.ok();
    assert!(
        o.stderr.contains("srv/sock: a socket, left out"),
        "sockets are skipped with a warning: {o}"
    );
    let img = open_image(&out);
    let e = |p: &str| {
        img.entry(p)
            .unwrap_or_else(|| panic!("{p} not in the layer"))
            .clone()
    };
    assert_eq!(e("srv/a").data, b"linked\n");
    let b = e("srv/b");
    assert_eq!(
        (b.typeflag, b.link.as_str()),
        (b'1', "srv/a"),
        "a hard link"
    );
    let l = e("srv/link");
    assert_eq!((l.typeflag, l.link.as_str()), (b'2', "../etc/passwd"));
    assert_eq!(e(&long).data, b"deep\n");
    assert_eq!(e(&format!("{long_dir}/")).typeflag, b'5');
    assert_eq!(e("srv/longlink").link, long_target);
    let x = e("srv/x");
    assert_eq!(
        x.xattrs.get("user.color").map(Vec::as_slice),
        Some(&b"blue"[..])
    );
    assert!(
        !x.xattrs.contains_key("user.rrun.placed"),
        "rrun's mark is not kept"
    );
    assert_eq!(x.data, b"x", "a marked file with content is kept");
    assert_eq!(e("srv/suid").mode, 0o4711);
    assert_eq!(e("srv/fifo").typeflag, b'6');
    assert!(img.entry("srv/sock").is_none());
    let u = e("home/u/");
    assert_eq!((u.uid, u.gid, u.mode), (1000, 1001, 0o700));
    let sec = e("home/u/s");
    assert_eq!((sec.uid, sec.gid, sec.mode), (1000, 1001, 0o600));
    assert_eq!(sec.data, b"secret\n");
    for placed in ["proc/", "sys/", "data/", "data/vol/", "work/"] {
        assert!(
            img.entry(placed).is_none(),
            "{placed}: a placed mount point"
        );
    }
    assert!(img.entry("used/f").is_some());
    if is_root_mode {
        assert_eq!((e("srv/null").typeflag, e("srv/null").dev), (b'3', (1, 3)));
        assert_eq!((e("srv/blk").typeflag, e("srv/blk").dev), (b'4', (7, 200)));
        let cap = &x.xattrs["security.capability"];
        assert_eq!(cap.len(), 20, "revision 3 becomes 2");
        assert_eq!(cap[3], 2);
        // --no-devices leaves them out.
        let out2 = cx.host_dir("out2").join("i.tar");
        cx.rrun(&["image", "save", "--no-devices", "-o", s(&out2), s(&root)])
            .ok();
        let img2 = open_image(&out2);
        assert!(img2.entry("srv/null").is_none() && img2.entry("srv/blk").is_none());
    }
    // A file of an id outside the user namespace (rootless): refused,
    // naming it; --keep-unmapped stores it as 65534.
    if mode == Mode::Rootless {
        w("srv/hostroot", b"r");
        std::os::unix::fs::chown(root.join("srv/hostroot"), Some(0), Some(0)).unwrap();
        let dir = cx.host_dir("out3");
        let o = cx.rrun(&["image", "save", "-o", s(&dir.join("i.tar")), s(&root)]);
        o.expect_code(125)
            .expect_rrun_error_containing("srv/hostroot");
        assert!(names(&dir).is_empty(), "nothing left: {:?}", names(&dir));
        cx.rrun(&[
            "image",
            "save",
            "--keep-unmapped",
            "-o",
            s(&dir.join("i.tar")),
            s(&root),
        ])
        .ok();
        let h = open_image(&dir.join("i.tar"));
        let hr = h.entry("srv/hostroot").unwrap();
        assert_eq!((hr.uid, hr.gid), (65534, 65534));
    }
}

fn config_from_a_container(mode: Mode) {
    let Some(cx) = Ctx::new_needing_root(mode, "a copy of the rootfs of the test user's") else {
        return;
    };
    let root = own_rootfs(&cx, "rootfs");
    let name = format!("img-from-{mode}");
    cx.rrun(&[
        "create",
        "--name",
        &name,
        "-e",
        "FOO=bar baz",
        "-e",
        "PATH=/bin:/sbin",
        "--expose",
        "5432",
        "-p",
        "127.0.0.1:8080:80/udp",
        "-w",
        "/srv",
        "-u",
        "1000:1000",
        "--hostname",
        "h1",
        s(&root),
        "/bin/sh",
        "-c",
        "echo hi",
    ])
    .ok();
    let dir = cx.host_dir("out");
    let out = dir.join("c.tar");
    let o = cx.rrun(&["image", "save", "--from", &name, "-o", s(&out)]);
    o.ok();
    assert!(
        o.stderr.contains(&format!("localhost/{name}:latest")),
        "{o}"
    );
    let img = open_image(&out);
    let c = &img.config["config"];
    assert_eq!(c["Cmd"], serde_json::json!(["/bin/sh", "-c", "echo hi"]));
    assert_eq!(
        c["Env"],
        serde_json::json!(["PATH=/bin:/sbin", "FOO=bar baz"])
    );
    assert_eq!(
        c["ExposedPorts"],
        serde_json::json!({"5432/tcp": {}, "80/udp": {}})
    );
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["User"], "1000:1000");
    assert!(img.entry("bin/busybox").is_some(), "the container's rootfs");
    cx.rrun(&["rm", &name]).ok();
}

fn refusals_leave_nothing(mode: Mode) {
    let Some(cx) = Ctx::new_needing_root(mode, "a copy of the rootfs of the test user's") else {
        return;
    };
    let root = own_rootfs(&cx, "rootfs");
    let r = s(&root);
    let dir = cx.host_dir("out");
    let out = dir.join("r.tar");
    let o = s(&out);
    let refuse = |args: &[&str], code: i32, msg: &str| {
        let mut a = vec!["image", "save"];
        a.extend_from_slice(args);
        let out = cx.rrun(&a);
        out.expect_code(code);
        let lines = out.stderr_lines();
        assert!(
            lines.len() == 1 && lines[0].starts_with("rrun: ") && lines[0].contains(msg),
            "expected one line `rrun: …{msg}…`\n{out}"
        );
        assert!(names(&dir).is_empty(), "{args:?} left {:?}", names(&dir));
    };
    refuse(
        &["-o", o, "/nonexistent-rootfs"],
        125,
        "rootfs /nonexistent-rootfs",
    );
    refuse(&["-o", o], 125, "no rootfs");
    refuse(
        &["-t", "Bad:Name", "-o", o, r],
        125,
        "invalid reference format",
    );
    refuse(
        &["--from", "no-such-container", "-o", o],
        1,
        "No such container",
    );
    refuse(&["-o", s(&dir.join("no/dir/x.tar")), r], 125, "output");
    refuse(&["-o", s(&dir), r], 125, "is a directory");
    refuse(&["-o", "-", r], 125, "give a file name");
    if mode == Mode::Rootless {
        // A file that fails half-way through the layer (root's, 0600:
        // unreadable in the user namespace): nothing is left.
        let f = root.join("etc/unreadable");
        fs::write(&f, "x").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&f, Some(0), Some(0)).unwrap();
        refuse(&["--keep-unmapped", "-o", o, r], 125, "etc/unreadable");
        fs::remove_file(&f).unwrap();
    }
    // A running container, named or by its rootfs.
    let name = format!("img-running-{mode}");
    cx.rrun(&["run", "-d", "--name", &name, r, "sleep", "60"])
        .ok();
    refuse(&["--from", &name, "-o", o], 125, "is running");
    refuse(&["-o", o, r], 125, "in use by running container");
    cx.rrun(&["rm", "-f", &name]).ok();
    cx.assert_nothing_left("image save refusals");
}

/// SIGKILL in the middle of a save: no file, and the walk (a child,
/// rootless) ends with it.
fn killed_save_leaves_nothing(mode: Mode) {
    let Some(cx) = Ctx::new_needing_root(mode, "a copy of the rootfs of the test user's") else {
        return;
    };
    let root = own_rootfs(&cx, "big");
    // 48 MiB that deflate cannot shrink, so that the save takes a while.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut data = vec![0u8; 48 << 20];
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    fs::write(root.join("big"), &data).unwrap();
    std::os::unix::fs::chown(root.join("big"), Some(cx.uid), Some(cx.gid)).unwrap();
    let dir = cx.host_dir("out");
    let out = dir.join("i.tar");
    let mut p = cx.spawn(
        cx.cmd(&["image", "save", "-o", s(&out), s(&root)]),
        Input::Null,
    );
    let pid = p.pid();
    // Its unnamed file in `dir` has a few MB in it.
    let writing = poll_until(TIMEOUT, || unnamed_file_pos(pid, &dir) > 4 << 20);
    assert!(
        writing,
        "the save never had an unnamed file of 4 MB in {}",
        dir.display()
    );
    assert!(names(&dir).is_empty(), "the file has no name while written");
    p.signal(libc::SIGKILL);
    let _ = p.wait();
    assert!(
        poll_until(TIMEOUT, || procs_with_cmdline(s(&out)).is_empty()),
        "a process of the save outlived it"
    );
    assert!(names(&dir).is_empty(), "left: {:?}", names(&dir));
}

/// The file offset of `pid`'s unnamed (O_TMPFILE) file in `dir`, 0 when
/// it has none.
fn unnamed_file_pos(pid: i32, dir: &Path) -> u64 {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    for fd in fds.flatten() {
        let Ok(target) = fs::read_link(fd.path()) else {
            continue;
        };
        let t = target.to_string_lossy();
        if t.starts_with(&format!("{}/#", dir.display())) && t.ends_with("(deleted)") {
            let info = fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .unwrap_or_default();
            return info
                .lines()
                .find_map(|l| l.strip_prefix("pos:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
        }
    }
    0
}

/// The goal: `podman load` of a saved image runs the same command with the
/// same output as `rrun run` on the rootfs. Podman runs rootless as the
/// test user, with runc.
#[test]
fn podman_load_runs_the_same() {
    let Some(cx) = Ctx::new(Mode::Rootless) else {
        return;
    };
    if let Some(t) = missing_tool(&["podman", "runc"]) {
        skip(&format!("{t} is not installed (Debian: podman, runc)"));
        return;
    }
    let root = own_rootfs(&cx, "podman");
    fs::write(root.join("etc/greeting"), "hello from the image\n").unwrap();
    std::os::unix::fs::chown(root.join("etc/greeting"), Some(cx.uid), Some(cx.gid)).unwrap();
    let script = "cat /etc/greeting; id -u; echo \"FOO=$FOO\"; pwd; ls /srv";
    let name = format!("localhost/rrun-it-{}:podman", std::process::id());
    let ctr = format!("img-podman-{}", std::process::id());
    cx.rrun(&[
        "create",
        "--name",
        &ctr,
        "-e",
        "FOO=bar",
        "-w",
        "/srv",
        s(&root),
        "/bin/sh",
        "-c",
        script,
    ])
    .ok();
    let want = cx.rrun(&["start", "-a", &ctr]);
    want.ok();
    let out = cx.host_dir("out").join("p.tar");
    save(&cx, &["--from", &ctr, "-t", &name, "-o", s(&out)]);
    cx.rrun(&["rm", &ctr]).ok();

    let pause_file = PathBuf::from(format!("/tmp/podman-run-{}/libpod/tmp/pause.pid", cx.uid));
    let pause_before = fs::read_to_string(&pause_file)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
        .filter(|&p| pid_alive(p));
    let podman = |args: &[&str]| {
        let mut c = Command::new(which("podman").unwrap());
        c.args(args)
            .env_clear()
            .env("PATH", HOST_PATH)
            .env("HOME", &cx.home)
            .current_dir(&cx.env.dir);
        if is_root() {
            use std::os::unix::process::CommandExt;
            c.uid(cx.uid).gid(cx.gid);
        }
        c
    };
    let load = cx.run(podman(&["load", "-i", s(&out)]), Input::Null);
    let got = if load.code() == Some(0) {
        Some(cx.run(
            podman(&[
                "run",
                "--rm",
                "--runtime",
                "runc",
                "--network",
                "none",
                &name,
            ]),
            Input::Null,
        ))
    } else {
        None
    };
    let _ = cx.run(podman(&["rmi", "-f", &name]), Input::Null);
    // Podman's pause process, when this test started it.
    if pause_before.is_none()
        && let Some(pid) = fs::read_to_string(&pause_file)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .filter(|&p| pid_alive(p))
    {
        // SAFETY: signalling the pause process this test's podman started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    load.ok();
    assert!(
        load.stdout.contains(&format!("Loaded image: {name}")),
        "{load}"
    );
    let got = got.unwrap();
    got.ok();
    assert_eq!(
        got.stdout, want.stdout,
        "podman's output differs from rrun's"
    );
    assert_eq!(want.lines()[0], "hello from the image");
}

fn run_ok(c: &mut Command) {
    let out = c.output().expect("spawn");
    assert!(out.status.success(), "{c:?}: {out:?}");
}

fn xattr_set(p: &Path, name: &str, v: &[u8]) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings and a slice of `v.len()` bytes.
    let r = unsafe { libc::lsetxattr(c.as_ptr(), n.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    assert_eq!(
        r,
        0,
        "setxattr {name} on {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}
