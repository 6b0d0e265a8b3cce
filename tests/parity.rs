//! Docker parity for daily use (issue 13): what a Docker user trips over,
//! each asserted against Docker 20.10's own output, captured by running the
//! same scenario with Debian's docker.io on the same busybox rootfs
//! (imported as an image), as root and rootless (`NAME::root`,
//! `NAME::rootless`):
//! - the user's -e/--env-file win over --link variables;
//! - `-h web.example.com` puts `IP web.example.com web` in /etc/hosts,
//!   `--domainname`, `--dns-option`;
//! - -p with --net=host or none is discarded (a warning with host);
//! - inspect's Mounts, Image, ExecIDs, RestartPolicy, Config.Env,
//!   State.Health for templates;
//! - `-u` and `--group-add`: the groups Docker gives, and `id`'s line;
//! - no `127.0.0.1 HOSTNAME` line without an address of its own;
//! - a one-character --name is refused.

#[macro_use]
mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::*;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{lchown, symlink};
use std::path::{Path, PathBuf};

both_modes!(
    user_env_wins_over_link_env,
    hostname_with_dots_and_domainname,
    dns_options_in_resolv_conf,
    publish_with_host_and_none_is_discarded,
    inspect_keys_users_template_on,
    groups_as_docker,
    hosts_without_an_own_address,
    one_character_name_refused,
);

fn sorted_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// Item 1. Docker (captured): `run -d --name db -e PG_VERSION=9.3 --expose
/// 5432 IMG httpd …`, then `run --rm --name web2 -e DB_PORT=5432 --link
/// db:db IMG env | sort` prints the user's DB_PORT=5432 and the other link
/// variables; --env-file's values win too.
fn user_env_wins_over_link_env(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    cx.detach(
        &["--name", "db", "-e", "PG_VERSION=9.3", "--expose", "5432"],
        &["httpd", "-f", "-p", "5432"],
    );
    let ip = container_ip(&cx, "db");
    let out = cx.rrun(&[
        "--rm",
        "--name",
        "web2",
        "-h",
        "webhost",
        "-e",
        "DB_PORT=5432",
        "--link",
        "db:db",
        cx.rootfs(),
        "env",
    ]);
    out.ok();
    let want = [
        "DB_ENV_PG_VERSION=9.3".to_string(),
        "DB_NAME=/web2/db".into(),
        "DB_PORT=5432".into(),
        format!("DB_PORT_5432_TCP=tcp://{ip}:5432"),
        format!("DB_PORT_5432_TCP_ADDR={ip}"),
        "DB_PORT_5432_TCP_PORT=5432".into(),
        "DB_PORT_5432_TCP_PROTO=tcp".into(),
        "HOME=/root".into(),
        "HOSTNAME=webhost".into(),
        format!("PATH={CONTAINER_PATH}"),
    ];
    assert_eq!(
        sorted_lines(&out.stdout),
        want,
        "[{mode}] -e DB_PORT=5432 wins over the link's DB_PORT, as in Docker\n{out}"
    );

    // Docker (captured): --env-file with DB_NAME=mine and
    // DB_PORT_5432_TCP_ADDR=fromfile, -e DB_ENV_PG_VERSION=x.
    let file = cx.host_file("envfile", b"DB_NAME=mine\nDB_PORT_5432_TCP_ADDR=fromfile\n");
    let file = file.to_str().expect("UTF-8 path");
    let out = cx.rrun(&[
        "--rm",
        "-h",
        "web3",
        "--env-file",
        file,
        "-e",
        "DB_ENV_PG_VERSION=x",
        "--link",
        "db:db",
        cx.rootfs(),
        "env",
    ]);
    out.ok();
    let want = [
        "DB_ENV_PG_VERSION=x".to_string(),
        "DB_NAME=mine".into(),
        format!("DB_PORT=tcp://{ip}:5432"),
        format!("DB_PORT_5432_TCP=tcp://{ip}:5432"),
        "DB_PORT_5432_TCP_ADDR=fromfile".into(),
        "DB_PORT_5432_TCP_PORT=5432".into(),
        "DB_PORT_5432_TCP_PROTO=tcp".into(),
        "HOME=/root".into(),
        "HOSTNAME=web3".into(),
        format!("PATH={CONTAINER_PATH}"),
    ];
    assert_eq!(
        sorted_lines(&out.stdout),
        want,
        "[{mode}] --env-file and -e win over the link variables\n{out}"
    );

    // Config.Env holds what the user set, not Docker's defaults or the
    // link variables; a one-character alias is a link's (Docker's too).
    cx.detach(
        &["--name", "web4", "-e", "DB_PORT=1", "--link", "db:x"],
        &["sleep", "1000"],
    );
    assert_eq!(
        cx.inspect_f("{{json .Config.Env}}", "web4"),
        r#"["DB_PORT=1"]"#,
        "[{mode}] Config.Env"
    );
    let out = cx.rrun(&["exec", "web4", "sh", "-c", "echo $X_NAME $DB_PORT"]);
    out.ok();
    assert_eq!(out.stdout, "/web4/x 1\n", "[{mode}] {out}");
}

/// Item 3. Docker (captured), the last line of /etc/hosts and the names:
///   -h web.example.com                      → IP\tweb.example.com web
///   -h web.example.com --domainname corp.lan → IP\tweb.example.com.corp.lan web
///   -h web --domainname corp.lan            → IP\tweb.corp.lan web
/// and `ping web` answers; hostname and /etc/hostname are the -h value,
/// /proc/sys/kernel/domainname the --domainname ("(none)" without).
fn hostname_with_dots_and_domainname(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let script = "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1; \
                  tail -n 1 /etc/hosts; hostname; cat /etc/hostname; \
                  cat /proc/sys/kernel/domainname; echo HOSTNAME=$HOSTNAME; \
                  ping -c 1 -W 2 web >/dev/null 2>&1 && echo ping-web-ok";
    for (opts, names, domain) in [
        (
            &["-h", "web.example.com"][..],
            "web.example.com web",
            "(none)",
        ),
        (
            &["-h", "web.example.com", "--domainname", "corp.lan"][..],
            "web.example.com.corp.lan web",
            "corp.lan",
        ),
        (
            &["-h", "web", "--domainname", "corp.lan"][..],
            "web.corp.lan web",
            "corp.lan",
        ),
    ] {
        let mut o = vec!["--name", "hh"];
        o.extend_from_slice(opts);
        let out = cx.rrun(&cx.sh_args_keep(&o, script));
        out.ok();
        let lines = out.lines();
        let ip = lines.first().copied().unwrap_or_default();
        let host = opts[1];
        assert_eq!(
            lines[1..],
            [
                format!("{ip}\t{names}").as_str(),
                host,
                host,
                domain,
                &format!("HOSTNAME={host}"),
                "ping-web-ok",
            ],
            "[{mode}] {opts:?}\n{out}"
        );
        let want_domain = if domain == "(none)" { "" } else { domain };
        assert_eq!(
            cx.inspect_f("{{.Config.Hostname}}|{{.Config.Domainname}}", "hh"),
            format!("{host}|{want_domain}"),
            "[{mode}] {opts:?}: inspect"
        );
        cx.rrun(&["rm", "hh"]).ok();
    }
    // With the default hostname: `ID.corp.lan ID`.
    let out = cx.sh(
        &["--domainname", "corp.lan"],
        "tail -n 1 /etc/hosts; hostname",
    );
    out.ok();
    let l = out.lines();
    assert_eq!(l.len(), 2, "{out}");
    assert!(
        l[0].ends_with(&format!("\t{0}.corp.lan {0}", l[1])),
        "[{mode}] --domainname alone\n{out}"
    );
    // --net=none takes --domainname too (captured: /proc shows it).
    let out = cx.sh(
        &["--net=none", "--domainname", "x.y"],
        "cat /proc/sys/kernel/domainname",
    );
    out.ok();
    assert_eq!(out.stdout, "x.y\n", "[{mode}] {out}");
    // A --net=container: container has its target's names (captured:
    // its own --domainname ignored).
    cx.detach(
        &["--name", "dd", "-h", "dd", "--domainname", "corp.x"],
        &["sleep", "1000"],
    );
    let out = cx.sh(
        &["--net=container:dd", "--domainname", "ignored.z"],
        "cat /proc/sys/kernel/domainname; hostname; tail -n 1 /etc/hosts",
    );
    out.ok();
    let ip = container_ip(&cx, "dd");
    assert_eq!(
        out.lines(),
        ["corp.x", "dd", &format!("{ip}\tdd.corp.x dd")],
        "[{mode}] --net=container:dd\n{out}"
    );
    // A bad --domainname: 125, one line, nothing left.
    let out = cx.sh(&["--domainname", "a b"], "true");
    out.expect_rrun_error_containing("invalid domainname \"a b\"");
}

/// Item 3. Docker (captured; the host's file: one nameserver, no options):
///   --dns-opt ndots:2 --dns-option timeout:1 → options ndots:2 timeout:1
///   with --dns 10.1.2.3 --dns-search ex.com  → search, nameserver, options
///   --net=host / --net=none --dns-opt ndots:3 → options ndots:3
/// Inspect's HostConfig.DnsOptions lists them.
fn dns_options_in_resolv_conf(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let out = cx.sh(
        &[
            "--dns-opt",
            "ndots:2",
            "--dns-option",
            "timeout:1",
            "--dns",
            "10.1.2.3",
            "--dns-search",
            "ex.com",
        ],
        "cat /etc/resolv.conf",
    );
    out.ok();
    assert_eq!(
        out.stdout, "search ex.com\nnameserver 10.1.2.3\noptions ndots:2 timeout:1\n",
        "[{mode}] {out}"
    );
    for net in ["--net=host", "--net=none", "--net=bridge"] {
        let out = cx.sh(&[net, "--dns-opt", "ndots:3"], "cat /etc/resolv.conf");
        out.ok();
        let last = out.lines().last().map(|l| l.to_string());
        assert_eq!(
            last.as_deref(),
            Some("options ndots:3"),
            "[{mode}] {net}: the options line replaces the host's\n{out}"
        );
        assert_eq!(
            out.stdout.matches("options").count(),
            1,
            "[{mode}] {net}: one options line\n{out}"
        );
    }
    cx.detach(
        &["--name", "dn", "--net=none", "--dns-opt", "ndots:2"],
        &["sleep", "1000"],
    );
    assert_eq!(
        cx.inspect_f("{{json .HostConfig.DnsOptions}}", "dn"),
        r#"["ndots:2"]"#
    );
    for bad in ["a b", "a#b", "a;b"] {
        let out = cx.sh(&["--dns-opt", bad], "true");
        out.expect_rrun_error_containing("invalid --dns-option");
    }
    cx.rrun(&["rm", "-f", "dn"]).ok();
    cx.assert_nothing_left("bad --dns-option");
}

/// Item 6. Docker (captured): `-p 8080:80` with --net=host prints
/// `WARNING: Published ports are discarded when using host network mode`
/// on stderr and runs; with --net=none it runs silently; -P with either,
/// silently. The record keeps them (HostConfig.PortBindings,
/// Config.ExposedPorts), ps's PORTS is empty, NetworkSettings.Ports `{}`,
/// `port NAME` prints nothing.
fn publish_with_host_and_none_is_discarded(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let warning = "WARNING: Published ports are discarded when using host network mode\n";
    for (opts, stderr) in [
        (&["--net=host", "-p", "18080:80"][..], warning),
        (
            &["--net=host", "-p", "18080:80", "-p", "9090:90/udp"][..],
            warning,
        ),
        (&["--net=none", "-p", "18080:80"][..], ""),
        (&["--net=host", "-P", "--expose", "80"][..], ""),
        (&["--net=none", "-P", "--expose", "80"][..], ""),
    ] {
        let mut a = vec!["--rm"];
        a.extend_from_slice(opts);
        a.extend([cx.rootfs(), "echo", "ran"]);
        let out = cx.rrun(&a);
        assert!(
            out.code() == Some(0) && out.stdout == "ran\n" && out.stderr == stderr,
            "[{mode}] {opts:?}: runs, {stderr:?} on stderr\n{out}"
        );
    }
    // Detached: the warning on stderr, the id on stdout. Nothing holds the
    // port: a second one publishing it runs too.
    for name in ["h1", "h2"] {
        let out = cx.rrun(&[
            "-d",
            "--name",
            name,
            "--net=host",
            "-p",
            "18080:80",
            "--expose",
            "90",
            cx.rootfs(),
            "sleep",
            "1000",
        ]);
        out.ok();
        assert!(
            is_hex(out.stdout.trim_end(), 64) && out.stderr == warning,
            "[{mode}] -d --net=host -p\n{out}"
        );
    }
    cx.detach(
        &["--name", "n1", "--net=none", "-p", "18080:80"],
        &["sleep", "1000"],
    );
    for name in ["h1", "n1"] {
        assert_eq!(
            cx.inspect_f(
                "{{json .HostConfig.PortBindings}} {{json .NetworkSettings.Ports}}",
                name
            ),
            r#"{"80/tcp":[{"HostIp":"","HostPort":"18080"}]} {}"#,
            "[{mode}] {name}"
        );
        let out = cx.rrun(&["port", name]);
        out.ok();
        assert_eq!(out.stdout, "", "[{mode}] port {name}\n{out}");
        let out = cx.rrun(&["ps", "--format", "{{.Names}}|{{.Ports}}|"]);
        out.ok();
        assert!(
            out.lines().contains(&format!("{name}||").as_str()),
            "[{mode}] ps shows no ports for {name}\n{out}"
        );
    }
    assert_eq!(
        cx.inspect_f("{{json .Config.ExposedPorts}}", "h1"),
        r#"{"80/tcp":{},"90/tcp":{}}"#
    );
    // Still refused with another container's network (Docker too).
    cx.detach(&["--name", "n2", "--net=none"], &["sleep", "1000"]);
    let out = cx.sh(&["--net=container:n2", "-p", "18080:80"], "true");
    out.expect_rrun_error_containing("conflicting options");
}

/// Item 7. Docker (captured), for `-v SRC:/data -v SRC2:/ro:ro --tmpfs
/// /scratch:size=1m`: Mounts lists the binds only (--tmpfs is in
/// HostConfig.Tmpfs), `{{.State.Health}}` is `<nil>` (and the JSON has no
/// Health), ExecIDs null, RestartPolicy {"Name":"no","MaximumRetryCount":0},
/// Config.Env what the user set (null without -e), --env-file's lines as
/// they are then each -e key once, a bare unset `-e K` kept.
fn inspect_keys_users_template_on(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let v1 = cx.host_dir("vol");
    let v2 = cx.host_dir("vol2");
    let envf = cx.host_file("envf", b"F=1\nA=file\nUNSET_IN_FILE\n");
    let (v1, v2, envf) = (
        v1.to_str().expect("UTF-8"),
        v2.to_str().expect("UTF-8"),
        envf.to_str().expect("UTF-8"),
    );
    let b1 = format!("{v1}:/data");
    let b2 = format!("{v2}/:/ro/./:ro");
    cx.detach(
        &[
            "--name",
            "m1",
            "--net=none",
            "-v",
            &b1,
            "-v",
            &b2,
            "--tmpfs",
            "/scratch:size=1m",
            "-e",
            "A=1",
            "-e",
            "B=1",
            "-e",
            "A=2",
            "--env-file",
            envf,
            "-e",
            "NOPE_UNSET",
        ],
        &["sleep", "1000"],
    );
    let v = cx.inspect_json("m1");
    assert_eq!(
        v["Mounts"],
        serde_json::json!([
            {"Type": "bind", "Source": v1, "Destination": "/data", "Mode": "", "RW": true, "Propagation": "rprivate"},
            {"Type": "bind", "Source": v2, "Destination": "/ro", "Mode": "ro", "RW": false, "Propagation": "rprivate"},
        ]),
        "[{mode}] {v:#}"
    );
    assert_eq!(
        v["HostConfig"]["Tmpfs"],
        serde_json::json!({"/scratch": "size=1m"})
    );
    let rootfs = fs::canonicalize(cx.rootfs()).expect("canonicalize the rootfs");
    assert_eq!(v["Image"], rootfs.to_str().expect("UTF-8"));
    assert_eq!(v["ExecIDs"], serde_json::Value::Null);
    assert!(v["State"].get("Health").is_none(), "{v:#}");
    assert_eq!(
        v["Config"]["Env"],
        serde_json::json!(["F=1", "A=file", "A=2", "B=1", "NOPE_UNSET"]),
        "[{mode}] Config.Env as Docker keeps it"
    );
    let keys: Vec<&String> = v.as_object().expect("an object").keys().collect();
    let pos = |k: &str| keys.iter().position(|x| *x == k);
    assert!(
        pos("Image") == pos("State").map(|p| p + 1)
            && pos("ExecIDs") < pos("HostConfig")
            && pos("HostConfig") < pos("Mounts")
            && pos("Mounts") < pos("Config"),
        "[{mode}] Docker's key order: {keys:?}"
    );
    // The process's environment has what Docker's has.
    let out = cx.rrun(&["exec", "m1", "env"]);
    out.ok();
    assert_eq!(
        sorted_lines(&out.stdout),
        [
            "A=2".to_string(),
            "B=1".into(),
            "F=1".into(),
            "HOME=/root".into(),
            format!("HOSTNAME={}", cx.inspect_f("{{.Config.Hostname}}", "m1")),
            format!("PATH={CONTAINER_PATH}"),
        ],
        "[{mode}] {out}"
    );
    for (tpl, want) in [
        ("{{.State.Health}}", "<nil>".to_string()),
        ("{{json .State.Health}}", "null".into()),
        (
            "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
            "none".into(),
        ),
        ("{{json .ExecIDs}}", "null".into()),
        ("{{.HostConfig.RestartPolicy.Name}}", "no".into()),
        (
            "{{json .HostConfig.RestartPolicy}}",
            r#"{"Name":"no","MaximumRetryCount":0}"#.into(),
        ),
        ("{{.HostConfig.LogConfig.Type}}", "json-file".into()),
        (
            "{{range .Mounts}}{{.Source}}:{{.Destination}}:{{.RW}} {{end}}",
            format!("{v1}:/data:true {v2}:/ro:false "),
        ),
    ] {
        assert_eq!(cx.inspect_f(tpl, "m1"), want, "[{mode}] {tpl}");
    }
    // No -e at all: null (Docker's, for an image without ENV); no -v: [].
    cx.detach(&["--name", "m2", "--net=none", "-t"], &["sleep", "1000"]);
    assert_eq!(
        cx.inspect_f("{{json .Config.Env}} {{json .Mounts}}", "m2"),
        "null []"
    );
}

/// A small rootfs for this test: busybox, its applets, and passwd/group
/// files with memberships (the same files the capture used).
fn groups_rootfs(cx: &Ctx) -> PathBuf {
    let r = cx.host_dir("groups-rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        fs::create_dir(r.join(d)).expect("mkdir");
    }
    fs::copy(cx.env.rootfs.join("bin/busybox"), r.join("bin/busybox")).expect("copy busybox");
    for t in ["sh", "id", "grep", "cat", "sleep"] {
        symlink("busybox", r.join("bin").join(t)).expect("symlink an applet");
    }
    fs::write(
        r.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("write passwd");
    fs::write(
        r.join("etc/group"),
        "root:x:0:\ntty:x:5:\nwheel:x:10:app\naudio:x:29:app,root\napp:x:1000:\n\
         staff:x:50:nobody\nnogroup:x:65534:\n",
    )
    .expect("write group");
    chown_tree(&r, cx.uid, cx.gid);
    r
}

fn chown_tree(p: &Path, uid: u32, gid: u32) {
    lchown(p, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
    if fs::symlink_metadata(p).expect("lstat").is_dir() {
        for e in fs::read_dir(p).expect("readdir").flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}

/// Item 8. Docker 20.10 (captured with this rootfs's passwd and group):
/// the groups start with the gid; a user (by name or uid) without an
/// explicit group gets the groups listing its name; an explicit group
/// gets that group alone; --group-add adds names and numbers, each once;
/// `exec -u` gets --group-add too.
fn groups_as_docker(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let root = groups_rootfs(&cx);
    let root = root.to_str().expect("UTF-8 path");
    let run = |opts: &[&str], cmd: &[&str]| {
        let mut a = vec!["--rm", "--net=none"];
        a.extend_from_slice(opts);
        a.push(root);
        a.extend_from_slice(cmd);
        cx.rrun(&a)
    };
    let id = "id; grep Groups /proc/self/status";
    for (opts, want_id, want_status) in [
        (
            &[][..],
            "uid=0(root) gid=0(root) groups=0(root),29(audio)",
            "0 29",
        ),
        (
            &["-u", "1000"],
            "uid=1000(app) gid=1000(app) groups=10(wheel),29(audio),1000(app)",
            "10 29 1000",
        ),
        (
            &["-u", "app"],
            "uid=1000(app) gid=1000(app) groups=10(wheel),29(audio),1000(app)",
            "10 29 1000",
        ),
        (
            &["-u", "1000:1000"],
            "uid=1000(app) gid=1000(app) groups=1000(app)",
            "1000",
        ),
        (
            &["-u", "app:audio"],
            "uid=1000(app) gid=29(audio) groups=29(audio)",
            "29",
        ),
        (&["-u", "1234"], "uid=1234 gid=0(root) groups=0(root)", "0"),
        (
            &["-u", "1234:5678"],
            "uid=1234 gid=5678 groups=5678",
            "5678",
        ),
        (
            &["-u", "0:1000"],
            "uid=0(root) gid=1000(app) groups=1000(app)",
            "1000",
        ),
        (
            &["-u", "nobody"],
            "uid=65534(nobody) gid=65534(nogroup) groups=50(staff),65534(nogroup)",
            "50 65534",
        ),
        (
            &["-u", "app", "--group-add", "staff", "--group-add", "7"],
            "uid=1000(app) gid=1000(app) groups=7,10(wheel),29(audio),50(staff),1000(app)",
            "7 10 29 50 1000",
        ),
        (
            &[
                "-u",
                "app:audio",
                "--group-add",
                "audio",
                "--group-add",
                "10",
            ],
            "uid=1000(app) gid=29(audio) groups=10(wheel),29(audio)",
            "10 29",
        ),
        (
            &["--group-add", "4242"],
            "uid=0(root) gid=0(root) groups=0(root),29(audio),4242",
            "0 29 4242",
        ),
        (
            &["--group-add", "5", "--group-add", "5"],
            "uid=0(root) gid=0(root) groups=0(root),5(tty),29(audio)",
            "0 5 29",
        ),
    ] {
        let out = run(opts, &["sh", "-c", id]);
        out.ok();
        let l = out.lines();
        assert_eq!(
            l,
            [want_id, &format!("Groups:\t{want_status} ")],
            "[{mode}] {opts:?}\n{out}"
        );
    }
    // Docker's errors (as the daemon words them), 125, nothing left.
    let out = run(&["--group-add", "nosuch"], &["true"]);
    out.expect_rrun_error();
    assert_eq!(
        out.stderr, "rrun: Unable to find group nosuch: no matching entries in group file\n",
        "[{mode}] {out}"
    );
    let out = run(&["--group-add", "4294967295"], &["true"]);
    out.expect_rrun_error();
    assert_eq!(
        out.stderr, "rrun: uids and gids must be in range 0-2147483647\n",
        "[{mode}] {out}"
    );
    cx.assert_nothing_left("a bad --group-add");

    // exec: the container's groups; with -u, --group-add still holds.
    let out = cx.rrun(&[
        "-d",
        "--name",
        "gx",
        "--net=none",
        "--group-add",
        "7",
        "-u",
        "app",
        root,
        "sleep",
        "1000",
    ]);
    out.ok();
    for (user, want) in [
        (None, "7 10 29 1000"),
        (Some("0"), "0 7 29"),
        (Some("1000:1000"), "7 1000"),
    ] {
        let mut a = vec!["exec"];
        if let Some(u) = user {
            a.extend(["-u", u]);
        }
        a.extend(["gx", "grep", "Groups", "/proc/self/status"]);
        let out = cx.rrun(&a);
        out.ok();
        assert_eq!(
            out.stdout,
            format!("Groups:\t{want} \n"),
            "[{mode}] exec -u {user:?}\n{out}"
        );
    }
    assert_eq!(
        cx.inspect_f("{{json .HostConfig.GroupAdd}}", "gx"),
        r#"["7"]"#
    );
}

/// Item 8. Docker (captured): --net=none's /etc/hosts is the default block
/// (and its --add-host lines), with no line for the container; --net=host's
/// is the host's own file, or with --add-host the default block and the
/// lines, again none for the container.
fn hosts_without_an_own_address(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let block: Vec<String> = DEFAULT_HOSTS.iter().map(|s| s.to_string()).collect();
    for opts in [
        &["--net=none"][..],
        &["--net=none", "-h", "box"],
        &["--net=none", "-h", "web.example.com", "--domainname", "x.y"],
    ] {
        let out = cx.sh(opts, "cat /etc/hosts");
        out.ok();
        assert_eq!(out.lines(), block, "[{mode}] {opts:?}\n{out}");
    }
    let mut with_lines = block.clone();
    with_lines.extend(["1.2.3.4\tfoo".to_string(), "::1\tbar".to_string()]);
    for net in ["--net=none", "--net=host"] {
        let out = cx.sh(
            &[net, "--add-host", "foo:1.2.3.4", "--add-host", "bar:::1"],
            "cat /etc/hosts",
        );
        out.ok();
        assert_eq!(out.lines(), with_lines, "[{mode}] {net} --add-host\n{out}");
    }
    let host_hosts = fs::read_to_string("/etc/hosts").expect("reading the host's /etc/hosts");
    let out = cx.sh(&["--net=host", "-h", "box"], "cat /etc/hosts; hostname");
    out.ok();
    assert_eq!(
        out.stdout,
        format!("{host_hosts}box\n"),
        "[{mode}] --net=host: the host's file"
    );
    // The hostname is still the container's own.
    let out = cx.sh(&["--net=none", "-h", "box"], "hostname; cat /etc/hostname");
    out.ok();
    assert_eq!(out.stdout, "box\nbox\n", "[{mode}] {out}");
}

/// Item 8. Docker (captured): `--name a`, `--name 1`, `--name /a` → 125,
/// "Invalid container name (a), only [a-zA-Z0-9][a-zA-Z0-9_.-] are
/// allowed"; `--name ab` and `--name /ab` run; `--name ""` is no name;
/// a one-character link alias is fine (`--link db:x`).
fn one_character_name_refused(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    for bad in ["a", "1", "/a"] {
        let out = cx.rrun(&["--rm", "--net=none", "--name", bad, cx.rootfs(), "true"]);
        out.expect_rrun_error();
        assert_eq!(
            out.stderr,
            format!(
                "rrun: Invalid container name ({bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n"
            ),
            "[{mode}] {out}"
        );
    }
    cx.assert_nothing_left("one-character names");
    cx.rrun(&["--net=none", "--name", "ab", cx.rootfs(), "true"])
        .ok();
    cx.rrun(&["--net=none", "--name", "/cd", cx.rootfs(), "true"])
        .ok();
    cx.rrun(&["--net=none", "--name", "", cx.rootfs(), "true"])
        .ok();
    let out = cx.rrun(&["ps", "-a", "--format", "{{.Names}}"]);
    out.ok();
    let names: BTreeSet<&str> = out.lines().into_iter().collect();
    assert!(
        names.contains("ab") && names.contains("cd") && names.len() == 3,
        "[{mode}] ab, cd and a generated name\n{out}"
    );
    assert!(
        names.iter().any(|n| n.contains('_')),
        "[{mode}] --name \"\" gets a generated name\n{out}"
    );
}
