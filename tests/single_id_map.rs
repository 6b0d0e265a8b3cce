//! A rootless user without subordinate ids: no line for it in /etc/subuid
//! or /etc/subgid, so its user namespace maps only itself (`0 UID 1`, and
//! setgroups "deny" for the gid map it writes itself). Containers still
//! run as root inside; ids beyond 0 are refused with a clear error; -t
//! works without the tty group (5 is not mapped, so devpts gets no gid=);
//! the default bridge network, its published ports and links work too.
//!
//! Every rrun here runs as `nobody` ([`Ctx::new_user_without_subids`]),
//! which Debian has and gives no range; with its own RRUN_ROOT and its own
//! test network namespace with an uplink, as the rootless network tests.

mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::*;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::chown;

/// A map file's text with its whitespace normalised, one entry a line.
fn map_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// The container sees a one-line uid and gid map (itself as 0), setgroups
/// "deny", and is root; so does the holder, seen from the host.
#[test]
fn maps_are_single_id() {
    let Some(cx) = Ctx::new_user_without_subids() else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let out = cx.sh(
        &["--net=none"],
        "echo uid_map; cat /proc/self/uid_map; echo gid_map; cat /proc/self/gid_map; \
         echo setgroups; cat /proc/self/setgroups; echo id; id -u",
    );
    out.ok();
    assert!(out.stderr.is_empty(), "nothing on stderr\n{out}");
    let want = [
        "uid_map".to_string(),
        format!("0 {} 1", cx.uid),
        "gid_map".to_string(),
        format!("0 {} 1", cx.gid),
        "setgroups".to_string(),
        "deny".to_string(),
        "id".to_string(),
        "0".to_string(),
    ];
    assert_eq!(
        map_lines(&out.stdout),
        want,
        "a single-id uid and gid map, setgroups deny, root inside\n{out}"
    );

    // The holder's namespace, read from the host.
    let holder = cx
        .holder()
        .expect("holder.json names a live holder after a rootless run");
    for (file, id) in [("uid_map", cx.uid), ("gid_map", cx.gid)] {
        let p = format!("/proc/{holder}/{file}");
        let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {p}: {e}"));
        assert_eq!(
            map_lines(&text),
            [format!("0 {id} 1")],
            "the holder's {file} is a single id"
        );
    }
    cx.assert_nothing_left("a run with single-id maps");
}

/// Users and groups other than 0 are not in the namespace: rrun refuses
/// them before it starts anything, on one line that names the id, the map
/// and the remedy.
#[test]
fn unmapped_user_and_group_refused() {
    let Some(cx) = Ctx::new_user_without_subids() else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let uid_map = format!("0 {} 1", cx.uid);
    let gid_map = format!("0 {} 1", cx.gid);

    let out = cx.sh(&["--net=none", "-u", "1000"], "echo ran");
    out.expect_rrun_error();
    let line = out.stderr_lines()[0];
    assert!(
        line.starts_with(&format!(
            "rrun: user 1000 is not mapped in your user namespace (uid map: {uid_map})"
        )) && line.contains("/etc/subuid"),
        "-u 1000: the error names the user, the uid map and /etc/subuid\n{out}"
    );
    assert!(out.stdout.is_empty(), "nothing ran\n{out}");
    cx.assert_nothing_left("-u 1000");

    let out = cx.sh(&["--net=none", "-u", "0:5"], "echo ran");
    out.expect_rrun_error();
    let line = out.stderr_lines()[0];
    assert!(
        line.starts_with(&format!(
            "rrun: group 5 is not mapped in your user namespace (gid map: {gid_map})"
        )) && line.contains("/etc/subgid"),
        "-u 0:5: the error names the group, the gid map and /etc/subgid\n{out}"
    );
    assert!(out.stdout.is_empty(), "nothing ran\n{out}");
    cx.assert_nothing_left("-u 0:5");

    // The one id there is still works.
    let out = cx.sh(&["--net=none", "-u", "0:0"], "id -u; id -g");
    out.ok();
    assert_eq!(out.stdout, "0\n0\n", "-u 0:0 runs\n{out}");
}

/// -t on a pty: the output arrives, the exit code comes through, and the
/// container's terminal belongs to group 0: group 5 (tty) is not mapped, so
/// devpts is mounted without gid=.
#[test]
fn tty_without_tty_group() {
    let Some(cx) = Ctx::new_user_without_subids() else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    let args = cx.sh_args(
        &["-it", "--net=none"],
        "echo hello-from-tty; t=$(tty); echo \"tty=$t\"; echo \"gid=$(stat -c %g \"$t\")\"; \
         sed 's/^/mi: /' /proc/self/mountinfo; exit 7",
    );
    let mut p = cx.spawn_pty(cx.cmd(&args), 24, 80);
    let status = p.wait_exit();
    let out = p.wait();
    assert_eq!(status.code(), Some(7), "the exit code through -t\n{out}");
    let lines = out.lines();
    assert!(
        lines.contains(&"hello-from-tty"),
        "the output arrives on the pty\n{out}"
    );
    assert!(
        lines.iter().any(|l| l
            .strip_prefix("tty=")
            .is_some_and(|t| t.starts_with("/dev/pts/"))),
        "tty inside is a /dev/pts path\n{out}"
    );
    assert!(
        lines.contains(&"gid=0"),
        "the terminal's group is 0 (5 is not mapped)\n{out}"
    );
    // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER
    let devpts: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("mi: "))
        .filter(|l| {
            l.split_once(" - ")
                .is_some_and(|(_, rest)| rest.split(' ').next() == Some("devpts"))
        })
        .collect();
    assert!(
        devpts
            .iter()
            .any(|l| l.split(' ').nth(4) == Some("/dev/pts")),
        "a devpts is mounted on /dev/pts\n{out}"
    );
    let with_gid: Vec<&&str> = devpts.iter().filter(|l| l.contains("gid=")).collect();
    assert!(
        with_gid.is_empty(),
        "no devpts mount has a gid= option: {with_gid:?}\n{out}"
    );
    cx.assert_nothing_left("-it");
}

/// The default bridge network: a published port on the host's 127.0.0.1
/// reaches httpd in the container, a second container gets the link's
/// variables and reaches it by its alias; both run in the single-id user
/// namespace. Removing the container leaves no lease and no veth.
#[test]
fn bridge_published_port_and_link() {
    let Some(cx) = Ctx::new_user_without_subids() else {
        return;
    };
    let _cleanup = Cleanup::new(&cx);
    for tool in ["ip", "nft", "pasta", "busybox", "timeout"] {
        if which(tool).is_none() {
            skip(&format!("{tool} is not installed on the host"));
            return;
        }
    }
    for applet in ["usr/sbin/httpd", "usr/bin/wget", "usr/bin/timeout"] {
        if fs::symlink_metadata(cx.env.rootfs.join(applet)).is_err() {
            skip(&format!(
                "the rootfs has no /{applet} (scripts/mkrootfs.sh adds it)"
            ));
            return;
        }
    }
    let ns = host_ns(&cx);
    let marker = unique_marker("index");
    let www = cx.host_dir("www");
    let index = www.join("index.html");
    fs::write(&index, format!("{marker}\n"))
        .unwrap_or_else(|e| panic!("writing {}: {e}", index.display()));
    chown(&index, Some(cx.uid), Some(cx.gid)).expect("chown index.html");

    let port = 18090;
    let publish = format!("127.0.0.1:{port}:8080");
    let volume = format!("{}:/srv:ro", www.display());
    cx.detach(
        &["--name", "ww", "-p", &publish, "-v", &volume],
        &["httpd", "-f", "-p", "8080", "-h", "/srv"],
    );
    let ip = container_ip(&cx, "ww");
    let pid: i32 = cx
        .inspect_f("{{.State.Pid}}", "ww")
        .parse()
        .expect("State.Pid is a number");
    let p = format!("/proc/{pid}/uid_map");
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {p}: {e}"));
    assert_eq!(
        map_lines(&text),
        [format!("0 {} 1", cx.uid)],
        "w runs in the single-id user namespace"
    );

    // Through the published port, from the test's host namespace (polled:
    // httpd may not listen yet when -d returns). Debian's busybox wget has
    // no -T (it takes it, and crashes): `timeout` bounds each try.
    let url = format!("http://127.0.0.1:{port}/index.html");
    let mut last = None;
    let fetched = poll_until(SETTLE, || {
        let out = cx.run(
            in_ns(
                ns,
                "timeout",
                &["5", "busybox", "wget", "-q", "-O", "-", &url],
            ),
            Input::Null,
        );
        let hit = out.code() == Some(0) && out.stdout == format!("{marker}\n");
        last = Some(out);
        hit
    });
    let last = last.expect("wget ran at least once");
    assert!(
        fetched,
        "{url} from the host serves w's index.html within {SETTLE:?}\n{last}"
    );

    // A second container with --link: the link's variables, the alias.
    let out = cx.sh(
        &["--name", "client", "--link", "ww:w"],
        "env; timeout 5 wget -q -O - http://w:8080/index.html",
    );
    out.ok();
    let got: BTreeSet<String> = out
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("W_"))
        .map(str::to_string)
        .collect();
    let want: BTreeSet<String> = [
        "W_NAME=/client/w".to_string(),
        format!("W_PORT=tcp://{ip}:8080"),
        format!("W_PORT_8080_TCP=tcp://{ip}:8080"),
        format!("W_PORT_8080_TCP_ADDR={ip}"),
        "W_PORT_8080_TCP_PORT=8080".to_string(),
        "W_PORT_8080_TCP_PROTO=tcp".to_string(),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "the link's variables\n{out}");
    assert!(
        out.lines().contains(&marker.as_str()),
        "the linked container reaches w by its alias\n{out}"
    );

    cx.rrun(&["rm", "-f", "ww"]).ok();
    assert!(leases(&cx).is_empty(), "no lease is left");
    // A veth goes with its container's network namespace, which the
    // kernel frees a moment after the last process in it is gone.
    let gone = poll_until(SETTLE, || rrun_veths(&cx).is_empty());
    assert!(gone, "veths left after rm -f: {:?}", rrun_veths(&cx));
    cx.assert_nothing_left("rm -f w");
}
