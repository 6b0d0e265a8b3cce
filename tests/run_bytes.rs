//! Arguments that are not UTF-8, --env-file's bound, and --add-host with
//! --net=none/host (issue 12, item 6).
//!
//! Commands, their arguments, env values (-e, -e K copied from rrun's
//! environment, --env-file) and paths (-v both sides, -w, --tmpfs, the
//! rootfs, exec's command, -e and -w) reach the container as the exact bytes
//! given, and the record keeps them; identifiers (names, hostnames, links,
//! dns, ports, caps, users, env keys, options, templates) that are not UTF-8
//! are refused with 125 and one `rrun:` line naming the bad byte escaped —
//! never a panic (134).

#[macro_use]
mod common;

use common::*;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

both_modes!(
    non_utf8_arguments_reach_the_container,
    non_utf8_arguments_recorded_and_shown,
    non_utf8_identifiers_are_refused,
    env_file_is_bounded,
    add_host_with_net_none_and_host,
);

fn b(s: &[u8]) -> OsString {
    OsString::from_vec(s.to_vec())
}

fn os(s: &str) -> OsString {
    OsString::from(s)
}

/// Each line of `od -An -tx1` output per value, spaces and line breaks
/// dropped: "61e9".
const HEX_EACH: &str =
    r#"for x in "$@"; do printf %s "$x" | od -An -tx1 | tr -d ' \n'; echo; done"#;

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// A copy of the rootfs (hard links) under a directory whose name is not
/// UTF-8.
fn rootfs_named_in_bytes(cx: &Ctx, what: &str) -> PathBuf {
    let dir = cx.host_dir(what).join(OsStr::from_bytes(b"r\xe9\xff"));
    let out = std::process::Command::new("cp")
        .arg("-al")
        .arg(&cx.env.rootfs)
        .arg(&dir)
        .output()
        .expect("running cp");
    assert!(
        out.status.success(),
        "cp -al of the rootfs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The pass-through positions, each with a `\xe9` (and other bytes that
/// are not UTF-8): what the command sees, byte for byte (od in the
/// container), and what lands on the host through the volume.
fn non_utf8_arguments_reach_the_container(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let rootfs = rootfs_named_in_bytes(&cx, "rootfs-bytes");
    let vol = cx.host_dir("vol").join(OsStr::from_bytes(b"s\xe9"));
    fs::create_dir(&vol).expect("mkdir the volume source");
    std::os::unix::fs::chown(&vol, Some(cx.uid), Some(cx.gid)).expect("chown");
    let env_file = cx.host_file("envfile", b"W=w\xe9 \xff\nX2=\xc3\n");
    // The arguments, then -e V, -e K (copied), the env file's W and X2,
    // the working directory, the tmpfs's type; then a file through the
    // volume.
    let script = format!(
        r#"set -- "$@" "$V" "$K" "$W" "$X2"; {HEX_EACH}; pwd -P | od -An -tx1 | tr -d ' \n'; echo; stat -f -c %T "$T"; printf 'from\351' > "$D/fé""#,
    );
    let args: Vec<OsString> = vec![
        os("--rm"),
        os("-e"),
        b(b"V=v\xe9"),
        os("-e"),
        os("K"),
        os("--env-file"),
        env_file.into_os_string(),
        os("-e"),
        b(b"T=/t\xe9"),
        os("-e"),
        b(b"D=/d\xe9"),
        os("-v"),
        cat(&[vol.as_os_str().as_bytes(), b":/d\xe9"]),
        os("-w"),
        b(b"/w\xe9/x"),
        os("--tmpfs"),
        b(b"/t\xe9:size=1m"),
        rootfs.into_os_string(),
        os("/bin/sh"),
        os("-c"),
        os(&script),
        os("sh"),
        b(b"a\xe9"),
        b(b"\xff b\xfe"),
    ];
    let mut cmd = cx.cmd(&args);
    // -e K copies K from rrun's environment, bytes and all.
    cmd.env("K", OsStr::from_bytes(b"k\xe9\x80"));
    let out = cx.run(cmd, Input::Null);
    out.ok();
    let want = [
        hex(b"a\xe9"),
        hex(b"\xff b\xfe"),
        hex(b"v\xe9"),
        hex(b"k\xe9\x80"),
        hex(b"w\xe9 \xff"),
        hex(b"\xc3"),
        hex(b"/w\xe9/x\n"),
        "tmpfs".to_string(),
    ];
    assert_eq!(
        out.lines(),
        want.iter().map(String::as_str).collect::<Vec<_>>(),
        "[{mode}] every value reaches the command byte for byte\n{out}"
    );
    let written = fs::read(vol.join("f\u{e9}")).expect("the file written through the volume");
    assert_eq!(
        written, b"from\xe9",
        "[{mode}] the volume is the host's s\\xe9"
    );
    // Through --init (its own argv carries PATH and the command) and with
    // a PATH that is not UTF-8, searched as bytes.
    let out = cx.rrun(&[
        os("--rm"),
        os("--init"),
        os("-e"),
        b(b"PATH=/x\xe9:/bin"),
        os(cx.rootfs()),
        os("sh"),
        os("-c"),
        os(&format!(r#"set -- "$@" "$PATH"; {HEX_EACH}"#)),
        os("sh"),
        b(b"i\xe9"),
    ]);
    out.ok();
    assert_eq!(
        out.lines(),
        [hex(b"i\xe9"), hex(b"/x\xe9:/bin")],
        "[{mode}] --init passes bytes through\n{out}"
    );
    // The rootfs as rrun's first word (no subcommand can be named so).
    let out = cx.rrun(&[
        rootfs_named_in_bytes(&cx, "first").into_os_string(),
        os("/bin/sh"),
        os("-c"),
        os("exit 3"),
    ]);
    out.expect_code(3);
    let ids = cx.rrun(&["ps", "-aq", "--no-trunc"]);
    ids.ok();
    cx.rrun(&["rm", ids.stdout.trim()]).ok();
    cx.assert_nothing_left("a run with bytes that are not UTF-8");
}

fn cat(parts: &[&[u8]]) -> OsString {
    OsString::from_vec(parts.concat())
}

/// A kept container with such bytes: config.json holds them (hex form for
/// those, plain strings for the rest), inspect shows U+FFFD (as Docker's
/// JSON does), ps --no-trunc escapes them as Go's strconv.Quote, and exec's
/// command, -e and -w pass through too.
fn non_utf8_arguments_recorded_and_shown(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let args: Vec<OsString> = vec![
        os("-d"),
        os("--name"),
        os("kept"),
        os("-e"),
        b(b"V=v\xe9"),
        os("-w"),
        b(b"/w\xe9"),
        os(cx.rootfs()),
        os("/bin/sh"),
        os("-c"),
        os("exec sleep 1000"),
        b(b"caf\xe9"),
    ];
    let out = cx.rrun(&args);
    out.ok();
    let id = out.stdout.trim().to_string();
    assert!(is_hex(&id, 64), "{out}");
    let config: serde_json::Value = serde_json::from_slice(
        &fs::read(cx.state.join("containers").join(&id).join("config.json"))
            .expect("reading config.json"),
    )
    .expect("config.json is JSON");
    assert_eq!(config["path"], "/bin/sh", "UTF-8 stays a string\n{config}");
    assert_eq!(
        config["args"],
        serde_json::json!(["-c", "exec sleep 1000", {"hex": "636166e9"}]),
        "bytes that are not UTF-8 are kept in full\n{config}"
    );
    assert_eq!(
        config["workdir"],
        serde_json::json!({"hex": hex(b"/w\xe9")})
    );
    assert!(
        config["env"]
            .as_array()
            .is_some_and(|e| e.contains(&serde_json::json!({"hex": hex(b"V=v\xe9")}))),
        "{config}"
    );
    // inspect: U+FFFD where the byte was.
    let v = cx.inspect_json("kept");
    assert_eq!(
        v["Args"],
        serde_json::json!(["-c", "exec sleep 1000", "caf\u{fffd}"]),
        "[{mode}] inspect shows the byte as U+FFFD\n{v}"
    );
    assert_eq!(v["Config"]["WorkingDir"], "/w\u{fffd}");
    // ps: escaped, as Go's strconv.Quote.
    let out = cx.rrun(&["ps", "--no-trunc", "--format", "{{.Command}}"]);
    out.ok();
    assert_eq!(
        out.stdout, "\"/bin/sh -c 'exec sleep 1000' caf\\xe9\"\n",
        "[{mode}] ps escapes the byte\n{out}"
    );
    // exec: its command, -e and -w as bytes; the container's own -e too.
    let out = cx.rrun(&[
        os("exec"),
        os("-e"),
        b(b"X=x\xe9"),
        os("-w"),
        b(b"/w\xe9"),
        os("kept"),
        os("/bin/sh"),
        os("-c"),
        os(&format!(
            r#"set -- "$@" "$X" "$V"; {HEX_EACH}; pwd -P | od -An -tx1 | tr -d ' \n'; echo"#
        )),
        os("sh"),
        b(b"e\xe9\xff"),
    ]);
    out.ok();
    assert_eq!(
        out.lines(),
        [
            hex(b"e\xe9\xff"),
            hex(b"x\xe9"),
            hex(b"v\xe9"),
            hex(b"/w\xe9\n")
        ],
        "[{mode}] exec passes bytes through\n{out}"
    );
    // A command name that is not UTF-8 is looked up as it is: not found.
    let out = cx.rrun(&[os("exec"), os("kept"), b(b"caf\xe9")]);
    out.expect_code(127);
    assert!(
        out.stderr.starts_with("rrun: ") && out.stderr.contains(r#""caf\xE9""#),
        "{out}"
    );
    cx.rrun(&["rm", "-f", "kept"]).ok();
    cx.assert_nothing_left("a kept container with bytes");
}

/// Every identifier position, with a `\xe9`: 125, one `rrun:` line that
/// shows the byte escaped, nothing written to the state directory.
fn non_utf8_identifiers_are_refused(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let key_file = cx.host_file("keyfile", b"# ok\nk\xe9=1\n");
    let src = cx.host_dir("vsrc");
    let run = |opts: Vec<OsString>| -> Vec<OsString> {
        let mut a = opts;
        a.extend([os(cx.rootfs()), os("/bin/true")]);
        a
    };
    let not_utf8 = "is not valid UTF-8";
    let cases: Vec<(Vec<OsString>, &str)> = vec![
        (run(vec![os("--name"), b(b"caf\xe9")]), not_utf8),
        (run(vec![b(b"--name=caf\xe9")]), not_utf8),
        (run(vec![os("-h"), b(b"h\xe9")]), not_utf8),
        (run(vec![os("--link"), b(b"db\xe9:x")]), not_utf8),
        (run(vec![os("--dns"), b(b"1.1.1.\xe9")]), not_utf8),
        (run(vec![os("--dns-search"), b(b"d\xe9")]), not_utf8),
        (run(vec![os("--add-host"), b(b"h\xe9:1.2.3.4")]), not_utf8),
        (run(vec![os("--cap-add"), b(b"NET\xe9")]), not_utf8),
        (run(vec![os("--cap-drop"), b(b"NET\xe9")]), not_utf8),
        (run(vec![os("-u"), b(b"u\xe9")]), not_utf8),
        (run(vec![os("-p"), b(b"80\xe9")]), not_utf8),
        (run(vec![os("--expose"), b(b"80\xe9")]), not_utf8),
        (run(vec![os("--net"), b(b"n\xe9")]), not_utf8),
        (run(vec![os("--security-opt"), b(b"s\xe9")]), not_utf8),
        (run(vec![os("--mtu"), b(b"15\xe9")]), not_utf8),
        (
            run(vec![os("-e"), b(b"k\xe9=1")]),
            "the name is not valid UTF-8",
        ),
        (
            run(vec![os("-e"), b(b"k\xe9")]),
            "the name is not valid UTF-8",
        ),
        (
            run(vec![os("--env-file"), key_file.into_os_string()]),
            "line 2: invalid environment variable",
        ),
        (
            run(vec![os("--tmpfs"), b(b"/t:size=1\xe9")]),
            "the options are not valid UTF-8",
        ),
        (
            run(vec![
                os("-v"),
                cat(&[src.as_os_str().as_bytes(), b":/d:r\xe9"]),
            ]),
            "options are ro or rw",
        ),
        (
            vec![os("inspect"), os("-f"), b(b"{{\xe9}}"), os("x")],
            not_utf8,
        ),
        (vec![os("ps"), os("--format"), b(b"{{.ID}}\xe9")], not_utf8),
        (vec![os("exec"), b(b"c\xe9"), os("true")], not_utf8),
        (vec![os("logs"), b(b"c\xe9")], not_utf8),
        (vec![os("stop"), b(b"c\xe9")], not_utf8),
        (vec![os("kill"), os("-s"), b(b"K\xe9"), os("c")], not_utf8),
        (vec![os("rm"), b(b"c\xe9")], not_utf8),
        (vec![os("port"), os("c"), b(b"80\xe9")], not_utf8),
    ];
    let before = tree_snapshot(&cx.state);
    for (args, msg) in cases {
        let shown: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
        let out = cx.rrun(&args);
        out.expect_rrun_error_containing(msg);
        assert!(
            out.stderr.contains(r"\xE9") && !out.stderr.contains('\u{fffd}'),
            "[{mode}] {shown:?}: the bad byte is shown escaped\n{out}"
        );
        assert_eq!(
            tree_snapshot(&cx.state),
            before,
            "[{mode}] {shown:?}: something was written to the state directory"
        );
    }
    cx.assert_nothing_left("identifiers that are not UTF-8");
}

/// --env-file reads at most 1 MiB: /dev/zero (endless) and a file one byte
/// over are refused at once with one line naming the file and the limit;
/// a file of exactly 1 MiB is read.
fn env_file_is_bounded(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    const MIB: usize = 1 << 20;
    // 1 MiB of comment lines, then one variable on the last line.
    let mut exact = Vec::with_capacity(MIB);
    while exact.len() + 64 < MIB {
        exact.extend_from_slice(&[b"#".as_slice(), &[b'x'; 62], b"\n"].concat());
    }
    let tail = b"LAST=1\n";
    exact.extend(std::iter::repeat_n(
        b'#',
        MIB - exact.len() - tail.len() - 1,
    ));
    exact.push(b'\n');
    exact.extend_from_slice(tail);
    assert_eq!(exact.len(), MIB);
    let mut over = exact.clone();
    over.push(b'\n');
    let exact_f = cx.host_file("exact", &exact);
    let over_f = cx.host_file("over", &over);
    let before = tree_snapshot(&cx.state);
    for f in [PathBuf::from("/dev/zero"), over_f] {
        let started = std::time::Instant::now();
        let out = cx.rrun(&[
            os("--env-file"),
            f.clone().into_os_string(),
            os(cx.rootfs()),
            os("/bin/true"),
        ]);
        out.expect_rrun_error_containing(&format!(
            "env file {}: larger than 1048576 bytes (1 MiB)",
            f.display()
        ));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "[{mode}] {} was refused at once, not read on",
            f.display()
        );
        assert_eq!(
            tree_snapshot(&cx.state),
            before,
            "[{mode}] {}: something was written to the state directory",
            f.display()
        );
    }
    let out = cx.sh(
        &["--env-file", exact_f.to_str().expect("UTF-8 path")],
        "echo $LAST",
    );
    out.ok();
    assert_eq!(
        out.stdout, "1\n",
        "[{mode}] a 1 MiB env file is read\n{out}"
    );
    cx.assert_nothing_left("an env file too big");
}

/// --add-host with --net=none and --net=host: written, as Docker does — its
/// default block and the lines (with host networking too: the host's
/// file is not used then, so that a line may override one of its names),
/// host-gateway the bridge network's gateway, and no line naming the
/// container (captured from Docker 20.10). Without --add-host, --net=host
/// keeps the host's own /etc/hosts.
fn add_host_with_net_none_and_host(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let gw = cx.sh(&[], "ip route | awk '/^default/ {print $3}'");
    gw.ok();
    let gw = gw.stdout.trim().to_string();
    assert!(
        gw.parse::<std::net::Ipv4Addr>().is_ok(),
        "the bridge's gateway\n{gw}"
    );
    let out = cx.sh(
        &[
            "--net=none",
            "-h",
            "box",
            "--add-host",
            "a.example:10.1.2.3",
            "--add-host",
            "gw.example:host-gateway",
            "--add-host",
            "v6.example:fd00::1",
        ],
        "cat /etc/hosts",
    );
    out.ok();
    let mut want: Vec<String> = DEFAULT_HOSTS.iter().map(|s| s.to_string()).collect();
    want.extend([
        "10.1.2.3\ta.example".to_string(),
        format!("{gw}\tgw.example"),
        "fd00::1\tv6.example".to_string(),
    ]);
    assert_eq!(
        out.lines(),
        want,
        "[{mode}] --net=none: the default block and the lines, as Docker's\n{out}"
    );
    let host_hosts = fs::read_to_string("/etc/hosts").expect("reading the host's /etc/hosts");
    let out = cx.sh(
        &[
            "--net=host",
            "--add-host",
            "a.example:10.1.2.3",
            "--add-host",
            "localhost:10.9.9.9",
        ],
        "cat /etc/hosts",
    );
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[..6],
        DEFAULT_HOSTS,
        "[{mode}] --net=host with --add-host: Docker's default block\n{out}"
    );
    assert_eq!(
        lines[6..],
        ["10.1.2.3\ta.example", "10.9.9.9\tlocalhost"],
        "[{mode}] --net=host: the --add-host lines, and nothing after them\n{out}"
    );
    let out = cx.sh(&["--net=host"], "cat /etc/hosts");
    out.ok();
    assert_eq!(
        out.stdout, host_hosts,
        "[{mode}] --net=host without --add-host: the host's own file"
    );
    cx.assert_nothing_left("--add-host with --net=none and host");
}
