//! Docker parity for daily use (issue 13): `ps --filter`, `-n` and `-l`;
//! `--label` and `--label-file`; `rm -f` of a container that is not
//! there; NAMES with several linkers, published and exposed ports in
//! Docker's order, none for a stopped container; `port`'s error naming
//! the protocol; `inspect --type`.
//!
//! Every expected text and list below is what Docker 20.10 (Debian's
//! docker.io 20.10.24, daemon and CLI) printed for the same commands on a
//! busybox image, with `docker:`/`Error:`/`Error response from daemon:`
//! read as `rrun:`. Where rrun differs on purpose (NAMES lists link names
//! as Docker 1.x did; no IPv6 bindings beside the IPv4 ones) the test
//! says so. Every test runs as root and rootless.

#[macro_use]
mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::*;
use std::collections::BTreeMap;

both_modes!(
    rm_force_of_a_missing_container_succeeds,
    labels_as_docker,
    label_errors_as_docker,
    ps_filters_as_docker,
    ps_filter_errors_as_docker,
    ps_last_and_latest,
    names_of_several_linkers_in_dockers_order,
    ports_in_dockers_order_and_none_once_stopped,
    inspect_type,
    label_and_env_files_that_are_fifos,
);

/// `ps ARGS... --no-trunc --format {{.ID}}`: the names of the listed
/// containers (by id, so that a linked container's "db,web/db" reads db),
/// newest first.
#[track_caller]
fn listed(cx: &Ctx, ids: &BTreeMap<String, &str>, args: &[&str]) -> Vec<String> {
    let mut a = vec!["ps", "--no-trunc", "--format", "{{.ID}}"];
    a.extend_from_slice(args);
    let out = cx.rrun(&a);
    out.ok();
    assert!(out.stderr.is_empty(), "{out}");
    out.stdout
        .lines()
        .map(|id| {
            ids.get(id)
                .map(|n| n.to_string())
                .unwrap_or_else(|| panic!("ps listed an unknown id {id:?}\n{out}"))
        })
        .collect()
}

/// An rrun that fails with exactly `stderr` and `code`, printing nothing.
#[track_caller]
fn refused(cx: &Ctx, args: &[&str], code: i32, stderr: &str) {
    let out = cx.rrun(args);
    out.expect_code(code);
    assert_eq!(out.stderr, stderr, "[{}] {args:?}\n{out}", cx.mode);
    assert!(out.stdout.is_empty(), "[{}] {args:?}\n{out}", cx.mode);
}

/// Docker 20.10: `rm -f web nosuch` removes web, says "No such container:
/// nosuch" on stderr and exits 0 (`rm -f web; run --name web` under
/// `set -e`); without -f it exits 1.
fn rm_force_of_a_missing_container_succeeds(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(&["--name", "web", "--net=none"], &["sleep", "1000"]);
    let out = cx.rrun(&["rm", "-f", "web", "nosuch"]);
    out.expect_code(0);
    assert_eq!(out.stdout, "web\n", "{out}");
    assert_eq!(out.stderr, "rrun: No such container: nosuch\n", "{out}");
    let out = cx.rrun(&["rm", "-f", "nosuch"]);
    out.expect_code(0);
    assert_eq!(out.stderr, "rrun: No such container: nosuch\n", "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    refused(
        &cx,
        &["rm", "nosuch"],
        1,
        "rrun: No such container: nosuch\n",
    );
    // What the scripts that motivated it do under `set -e`: both succeed.
    cx.rrun(&["rm", "-f", "web"]).ok();
    cx.detach(&["--name", "web", "--net=none"], &["sleep", "1000"]);
    // A running container still needs -f.
    let out = cx.rrun(&["rm", "web"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .starts_with("rrun: You cannot remove a running container "),
        "{out}"
    );
    let out = cx.rrun(&["rm", "-f", "web"]);
    out.ok();
    assert_eq!(out.stdout, "web\n", "{out}");
}

/// `--label-file`s, then `--label`s (`-l`), a later key winning: Docker
/// 20.10 made `{" f":"1","a":"3","b":" spaced value ","c":"x=y","d":"4",
/// "e":"","z":""}` of these (a BOM, comments, a key alone skipped in a
/// file, a CRLF line end, '=' in a value, leading blanks of a flag's key
/// kept). A container without labels has `{}`.
fn labels_as_docker(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let lf1 = cx.host_file(
        "lf1",
        b"\xef\xbb\xbf a=1\n# c\n\nlone\nb= spaced value \nc=x=y\n  d=4\r\n",
    );
    let lf2 = cx.host_file("lf2", b"a=2\nz=");
    let out = cx.rrun(&[
        "--name",
        "lab",
        "--net=none",
        "--label-file",
        lf1.to_str().expect("UTF-8"),
        "--label-file",
        lf2.to_str().expect("UTF-8"),
        "--label",
        "a=3",
        "-l",
        "e",
        "--label",
        " f=1",
        cx.rootfs(),
        "true",
    ]);
    out.ok();
    assert_eq!(
        cx.inspect_f("{{json .Config.Labels}}", "lab"),
        r#"{" f":"1","a":"3","b":" spaced value ","c":"x=y","d":"4","e":"","z":""}"#
    );
    let v = cx.inspect_json("lab");
    let keys: Vec<&String> = v["Config"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys.last().map(|k| k.as_str()), Some("Labels"), "{v:#}");
    assert_eq!(cx.inspect_f("{{index .Config.Labels \"c\"}}", "lab"), "x=y");
    let out = cx.rrun(&["--name", "plain", "--net=none", cx.rootfs(), "true"]);
    out.ok();
    assert_eq!(cx.inspect_f("{{json .Config.Labels}}", "plain"), "{}");
    // ps's {{.Labels}}: by key.
    let out = cx.rrun(&[
        "ps",
        "-a",
        "--filter",
        "name=lab",
        "--format",
        "{{.Labels}}",
    ]);
    out.ok();
    assert_eq!(
        out.stdout, " f=1,a=3,b= spaced value ,c=x=y,d=4,e=,z=\n",
        "{out}"
    );
}

/// What Docker 20.10's CLI refuses of labels (125, nothing made).
fn label_errors_as_docker(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let file = |what: &str, text: &[u8]| {
        cx.host_file(what, text)
            .to_str()
            .expect("UTF-8")
            .to_string()
    };
    let utf8 = file("utf8", b"a=\xe9\n");
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--label-file".into(), file("blank", b"ok=1\nx y=1\n")],
            "rrun: poorly formatted environment: variable 'x y' contains whitespaces\n".into(),
        ),
        (
            vec!["--label-file".into(), file("nokey", b"=v\n")],
            "rrun: poorly formatted environment: no variable name on line '=v'\n".into(),
        ),
        (
            vec!["--label-file".into(), utf8.clone()],
            format!("rrun: env file {utf8} contains invalid utf8 bytes at line 1: [97 61 233]\n"),
        ),
        (
            vec!["--label-file".into(), "nosuch-labels".into()],
            "rrun: open nosuch-labels: no such file or directory\n".into(),
        ),
    ];
    for (opts, want) in cases {
        let mut a: Vec<&str> = opts.iter().map(String::as_str).collect();
        a.extend([cx.rootfs(), "true"]);
        refused(&cx, &a, 125, &want);
    }
    for (label, why) in [
        ("=x", "invalid label '=x': empty name"),
        ("a b=x", "label 'a b' contains whitespaces"),
    ] {
        let out = cx.rrun(&["--label", label, cx.rootfs(), "true"]);
        out.expect_code(125);
        assert_eq!(
            out.stderr_lines().first().copied(),
            Some(
                format!(r#"rrun: invalid argument "{label}" for "-l, --label" flag: {why}"#)
                    .as_str()
            ),
            "{out}"
        );
    }
    // Bounded as --env-file is.
    let out = cx.rrun(&["--label-file", "/dev/zero", cx.rootfs(), "true"]);
    out.expect_rrun_error_containing("label file /dev/zero: larger than 1048576 bytes (1 MiB)");
    cx.assert_nothing_left("labels refused");
}

/// A `--label-file` or `--env-file` that is a named pipe nobody writes to
/// does not hang rrun: it reads as an empty file (a pipe with a writer is
/// read as the writer writes it).
fn label_and_env_files_that_are_fifos(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let dir = cx.host_dir("fifos");
    let fifo = dir.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).expect("mkfifo");
    let _ = std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let f = fifo.to_str().expect("UTF-8");
    let started = std::time::Instant::now();
    let out = cx.rrun(&[
        "--rm",
        "--net=none",
        "--label-file",
        f,
        "--env-file",
        f,
        cx.rootfs(),
        "echo",
        "ran",
    ]);
    out.ok();
    assert_eq!(out.stdout, "ran\n", "{out}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "[{mode}] a fifo with no writer held rrun for {:?}",
        started.elapsed()
    );
    cx.assert_nothing_left("fifo label and env files");
}

/// The containers of the Docker session the filter tests replay, oldest
/// first: db (labels, exposed ports), web (published ports, links db),
/// ex3 (exited 3), ex0 (--net=none, exited 0), hh (--net=host, a
/// volume), w3 (published ports). Their ids by name, and back.
fn world(
    cx: &Ctx,
) -> (
    BTreeMap<&'static str, String>,
    BTreeMap<String, &'static str>,
) {
    let mut ids = BTreeMap::new();
    ids.insert(
        "db",
        cx.detach(
            &[
                "--name", "db", "--label", "app=db", "--label", "tier", "--expose", "5432",
                "--expose", "5433/udp",
            ],
            &["sleep", "1000"],
        ),
    );
    ids.insert(
        "web",
        cx.detach(
            &[
                "--name",
                "web",
                "--label",
                "app=web",
                "-p",
                "8080:80",
                "-p",
                "127.0.0.1::5000",
                "--link",
                "db:db",
            ],
            &["sleep", "1000"],
        ),
    );
    for (name, net, code) in [("ex3", "bridge", "3"), ("ex0", "none", "0")] {
        let out = cx.rrun(&[
            "--name",
            name,
            "--net",
            net,
            cx.rootfs(),
            "sh",
            "-c",
            &format!("exit {code}"),
        ]);
        out.expect_code(code.parse().unwrap_or(0));
        ids.insert(name, cx.inspect_f("{{.Id}}", name));
    }
    let data = cx.host_dir("data");
    ids.insert(
        "hh",
        cx.detach(
            &[
                "--name",
                "hh",
                "--net=host",
                "-v",
                &format!("{}:/data", data.display()),
            ],
            &["sleep", "1000"],
        ),
    );
    ids.insert(
        "w3",
        cx.detach(
            &[
                "--name",
                "w3",
                "-p",
                "127.0.0.1:5001:5001/udp",
                "-p",
                "3000:80",
                "-p",
                "127.0.0.1::5000",
            ],
            &["sleep", "1000"],
        ),
    );
    let back = ids.iter().map(|(n, id)| (id.clone(), *n)).collect();
    (ids, back)
}

/// Docker's rules, each filter replayed: regular expressions for name and
/// id (only unique id prefixes let a container through), all labels must
/// match, before/since by name or full id, exited only of stopped
/// containers, status listing stopped ones too, ports by published
/// (host) port or by container port, network by name, the rootfs as the
/// ancestor; values of one key are alternatives, keys must all match.
fn ps_filters_as_docker(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let (ids, back) = world(&cx);
    let ls = |args: &[&str]| listed(&cx, &back, args);
    let all = ["w3", "hh", "ex0", "ex3", "web", "db"];
    let none: [&str; 0] = [];
    let db = ids["db"].as_str();
    let rootfs = cx.rootfs().to_string();
    assert_eq!(ls(&["-a"]), all, "[{mode}] ps -a");
    assert_eq!(ls(&[]), ["w3", "hh", "web", "db"], "[{mode}] ps");
    assert!(
        ls(&["-f", "exited=3"]).is_empty(),
        "[{mode}] exited= without -a"
    );
    let checks: &[(&[&str], &[&str])] = &[
        (&["exited=+3"], &["ex3"]),
        (&["exited=0"], &["ex0"]),
        (&["exited=-1"], &none),
        (&["exited=3", "exited=0"], &["ex0", "ex3"]),
        (&["status=exited"], &["ex0", "ex3"]),
        (&["status=running"], &["w3", "hh", "web", "db"]),
        (&["status=paused"], &none),
        (&["name=d"], &["db"]),
        (&["name=^/w"], &["w3", "web"]),
        (&["name=^w"], &["w3", "web"]),
        (&["name=db$"], &["db"]),
        (&["name=["], &none),
        (&["name="], &all),
        (&["Name=db"], &["db"]),
        (&[" name = db "], &["db"]),
        (&["name=web/db"], &none),
        (&["name=db", "name=web"], &["web", "db"]),
        (&["name=db", "label=app=web"], &none),
        (&["id=zz"], &none),
        (&["id="], &none),
        (&["label=app"], &["web", "db"]),
        (&["label=app=db"], &["db"]),
        (&["label=tier"], &["db"]),
        (&["label=tier="], &["db"]),
        (&["label=app=db", "label=app=web"], &none),
        (&["label=app=db", "label=tier"], &["db"]),
        (&["before=w3"], &["hh", "ex0", "ex3", "web", "db"]),
        (&["since=db"], &["w3", "hh", "ex0", "ex3", "web"]),
        (&["since=/db"], &["w3", "hh", "ex0", "ex3", "web"]),
        (&["before=db"], &none),
        (&["before=hh", "since=web"], &["ex0", "ex3"]),
        (&["network=bridge"], &["w3", "ex3", "web", "db"]),
        (&["network=host"], &["hh"]),
        (&["network=none"], &["ex0"]),
        (&["network=none", "network=host"], &["hh", "ex0"]),
        (&["network=container:db"], &none),
        (&["publish=8080"], &["web"]),
        (&["publish=80"], &none),
        (&["expose=80"], &["w3", "web"]),
        (&["expose=5432"], &["db"]),
        (&["expose=5433"], &none),
        (&["expose=5433/udp"], &["db"]),
        (&["expose=80/"], &["w3", "web"]),
        (&["publish=5000-5001/udp"], &["w3"]),
        (&["expose=5000-5001"], &["w3", "web"]),
        (&["publish=0"], &["db"]),
        (&["publish=80/sctp"], &none),
        (&["publish=8080", "expose=5432"], &["web", "db"]),
        (&["ancestor=nosuch"], &none),
        (&["ancestor=rootfs"], &all),
        (&["ancestor=./rootfs"], &all),
        (&["health=none"], &all),
        (&["health=healthy"], &none),
        (&["is-task=false"], &all),
        (&["is-task=true"], &none),
        (&["isolation=default"], &all),
        (&["volume=/data"], &["hh"]),
        (&["volume=/nowhere"], &none),
    ];
    for (filters, want) in checks {
        let mut a = vec!["-a"];
        for f in *filters {
            a.extend(["--filter", f]);
        }
        assert_eq!(ls(&a), *want, "[{mode}] ps {a:?}");
    }
    // Ids: a unique prefix (not any substring), the full id.
    let ex: [&[&str]; 4] = [
        &["-a", "-f", &format!("id={}", &db[..4])],
        &["-a", "-f", &format!("id={db}")],
        &["-a", "-f", &format!("id={}", &db[..12]), "-f", "name=db"],
        &["-a", "-f", &format!("before={db}")],
    ];
    assert_eq!(ls(ex[0]), ["db"], "[{mode}] a unique id prefix");
    assert_eq!(ls(ex[1]), ["db"], "[{mode}] a full id");
    assert_eq!(ls(ex[2]), ["db"], "[{mode}] id and name together");
    assert!(ls(ex[3]).is_empty(), "[{mode}] before the oldest");
    assert!(
        ls(&["-a", "-f", &format!("id={}", &db[5..11])]).is_empty(),
        "[{mode}] the middle of an id is no prefix"
    );
    assert_eq!(
        ls(&["-a", "-f", &format!("ancestor={rootfs}")]),
        all,
        "[{mode}] the rootfs as given"
    );
    // -q and a table take filters too.
    let out = cx.rrun(&["ps", "-q", "-f", "name=^db$"]);
    out.ok();
    assert_eq!(out.stdout, format!("{}\n", &db[..12]), "{out}");
    let out = cx.rrun(&["ps", "--filter", "label=app=db"]);
    out.ok();
    let (_, rows) = ps_table(&out.stdout);
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0]["NAMES"], "db,web/db", "{out}");
    assert_eq!(rows[0]["PORTS"], "5432/tcp, 5433/udp", "{out}");
    let _ = ids;
}

/// What Docker 20.10 refuses: a filter that is no KEY=VALUE (the CLI: 125
/// and the usage hint), an unknown key or a value the daemon cannot read
/// (1).
fn ps_filter_errors_as_docker(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(&["--name", "db", "--net=none"], &["sleep", "1000"]);
    let short = cx.inspect_f("{{.Id}}", "db")[..12].to_string();
    refused(
        &cx,
        &["ps", "--filter", "foo"],
        125,
        "rrun: invalid argument \"foo\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\nSee 'rrun ps --help'.\n",
    );
    let daemon: &[(&str, &str)] = &[
        ("foo=bar", "Invalid filter 'foo'"),
        ("=x", "Invalid filter ''"),
        ("status=bogus", "Invalid filter 'status=bogus'"),
        ("status=run", "Invalid filter 'status=run'"),
        ("exited=x", r#"strconv.Atoi: parsing "x": invalid syntax"#),
        ("before=nosuch", "no such container nosuch"),
        ("since=nosuch", "no such container nosuch"),
        (
            "publish=8080:80",
            "filter for 'publish' should not contain ':': 8080:80",
        ),
        (
            "publish=abc",
            r#"error while looking up for publish abc: strconv.ParseUint: parsing "abc": invalid syntax"#,
        ),
        (
            "expose=5001-5000",
            "error while looking up for expose 5001-5000: Invalid range specified for the Port: 5001-5000",
        ),
        (
            "publish=65536",
            r#"error while looking up for publish 65536: strconv.ParseUint: parsing "65536": value out of range"#,
        ),
        (
            "publish=/tcp",
            "error while looking up for publish /tcp: Empty string specified for ports.",
        ),
        ("health=sick", "Unrecognised filter value for health: sick"),
        ("is-task=x", "Invalid filter 'is-task=[x]'"),
    ];
    for (f, msg) in daemon {
        refused(&cx, &["ps", "-a", "-f", f], 1, &format!("rrun: {msg}\n"));
    }
    // A short id is neither a full id nor a name to before=.
    refused(
        &cx,
        &["ps", "-f", &format!("before={short}")],
        1,
        &format!("rrun: no such container {short}\n"),
    );
    refused(
        &cx,
        &["ps", "-n", "x"],
        125,
        "rrun: invalid argument \"x\" for \"-n, --last\" flag: strconv.ParseInt: parsing \"x\": invalid syntax\nSee 'rrun ps --help'.\n",
    );
    refused(
        &cx,
        &["ps", "-n", "99999999999999999999"],
        125,
        "rrun: invalid argument \"99999999999999999999\" for \"-n, --last\" flag: strconv.ParseInt: parsing \"99999999999999999999\": value out of range\nSee 'rrun ps --help'.\n",
    );
}

/// `-n N`: the N last created, whatever their state; `-l`: `-n 1`; a
/// negative or zero N is no limit (running ones only). Docker 20.10's
/// reading of N (Go's: `0x2`, `010`, `1_0`).
fn ps_last_and_latest(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    let mut ids = BTreeMap::new();
    for (name, cmd) in [
        ("r1", "sleep 1000"),
        ("x1", "true"),
        ("r2", "sleep 1000"),
        ("x2", "exit 2"),
    ] {
        let out = cx.rrun(&[
            "-d",
            "--name",
            name,
            "--net=none",
            cx.rootfs(),
            "sh",
            "-c",
            cmd,
        ]);
        out.ok();
        ids.insert(out.stdout.trim().to_string(), name);
        if cmd != "sleep 1000" {
            cx.wait_exited(name);
        }
    }
    let ls = |args: &[&str]| listed(&cx, &ids, args);
    assert_eq!(ls(&["-l"]), ["x2"]);
    assert_eq!(ls(&["--latest"]), ["x2"]);
    assert_eq!(ls(&["-n", "2"]), ["x2", "r2"]);
    assert_eq!(ls(&["--last=3"]), ["x2", "r2", "x1"]);
    assert_eq!(ls(&["-n", "9"]), ["x2", "r2", "x1", "r1"]);
    assert_eq!(ls(&["-n", "0"]), ["r2", "r1"]);
    assert_eq!(ls(&["-n", "-3"]), ["r2", "r1"]);
    assert_eq!(ls(&["-n", "3", "-l"]), ["x2", "r2", "x1"]);
    assert_eq!(ls(&["-l", "-n", "0"]), ["r2", "r1"]);
    assert_eq!(ls(&["-n", "0x2"]), ["x2", "r2"]);
    assert_eq!(ls(&["-n", "010"]).len(), 4);
    assert_eq!(ls(&["-n", "1_0"]).len(), 4);
    assert_eq!(ls(&["-n", "2", "-f", "status=running"]), ["r2", "r1"]);
    assert_eq!(ls(&["-n", "1", "-f", "status=exited"]), ["x2"]);
    assert_eq!(ls(&["-n", "1", "-f", "name=nosuch"]), Vec::<String>::new());
    assert_eq!(ls(&["-n", "2", "-f", "since=x1"]), ["x2", "r2"]);
    let x2 = ids
        .iter()
        .find(|(_, n)| **n == "x2")
        .map(|(id, _)| id.clone())
        .unwrap_or_default();
    let out = cx.rrun(&["ps", "-lq"]);
    out.ok();
    assert_eq!(out.stdout, format!("{}\n", &x2[..12]), "{out}");
    let out = cx.rrun(&["ps", "-l", "-q", "--no-trunc"]);
    out.ok();
    assert_eq!(out.stdout, format!("{x2}\n"), "{out}");
    let out = cx.rrun(&["ps", "-l"]);
    out.ok();
    let (_, rows) = ps_table(&out.stdout);
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0]["NAMES"], "x2", "{out}");
    assert!(is_exited_status(&rows[0]["STATUS"], 2), "{out}");
}

/// NAMES lists every name of a linked container as Docker's daemon orders
/// them (its name index, "/name" strings sorted): Docker 20.10's
/// `ps --no-trunc` printed `Bb/db,aa/mydb,db,db2/Zed,web/db,zz/adb,zz/zdb`
/// for these links. (Its truncated NAMES shows `db` alone; rrun lists
/// them all, as Docker 1.x did.)
fn names_of_several_linkers_in_dockers_order(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(&["--name", "db"], &["sleep", "1000"]);
    for (name, links) in [
        ("web", &["db:db"][..]),
        ("zz", &["db:zdb", "db:adb"][..]),
        ("aa", &["db:mydb"][..]),
        ("Bb", &["db"][..]),
        ("db2", &["db:Zed"][..]),
    ] {
        let mut opts = vec!["--name", name];
        for l in links {
            opts.extend(["--link", l]);
        }
        cx.detach(&opts, &["sleep", "1000"]);
    }
    let want = "Bb/db,aa/mydb,db,db2/Zed,web/db,zz/adb,zz/zdb";
    let out = cx.rrun(&["ps", "--filter", "name=^db$", "--format", "{{.Names}}"]);
    out.ok();
    assert_eq!(out.stdout, format!("{want}\n"), "{out}");
    let out = cx.rrun(&["ps", "-f", "name=^db$"]);
    out.ok();
    let (_, rows) = ps_table(&out.stdout);
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0]["NAMES"], want, "{out}");
    // A linker that is gone takes its names along.
    cx.rrun(&["rm", "-f", "zz", "Bb"]).ok();
    let out = cx.rrun(&["ps", "-f", "name=^db$", "--format", "{{.Names}}"]);
    out.ok();
    assert_eq!(out.stdout, "aa/mydb,db,db2/Zed,web/db\n", "{out}");
}

/// `.NetworkSettings.Ports`, `.Config.ExposedPorts` and
/// `.HostConfig.PortBindings` keyed in Docker's (Go's JSON) order,
/// strings: 5000 before 53 before 80. PORTS and `.NetworkSettings.Ports`
/// only while the container runs on the bridge: `{}` and nothing once it
/// stopped, and with --net=host or none. (Docker 20.10 also lists an
/// IPv6 `::` binding beside each IPv4 one; rrun's bridge is IPv4.)
/// `port`'s error names the protocol: `No public port '9999/tcp'`.
fn ports_in_dockers_order_and_none_once_stopped(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(
        &[
            "--name",
            "pp",
            "--expose",
            "53/udp",
            "--expose",
            "5000",
            "--expose",
            "80",
            "--expose",
            "6000-6001",
            "-p",
            "8080:80",
            "-p",
            "9000:9000/udp",
        ],
        &["sleep", "1000"],
    );
    let exposed =
        r#"{"5000/tcp":{},"53/udp":{},"6000/tcp":{},"6001/tcp":{},"80/tcp":{},"9000/udp":{}}"#;
    let bindings = r#"{"80/tcp":[{"HostIp":"","HostPort":"8080"}],"9000/udp":[{"HostIp":"","HostPort":"9000"}]}"#;
    assert_eq!(
        cx.inspect_f("{{json .NetworkSettings.Ports}}", "pp"),
        r#"{"5000/tcp":null,"53/udp":null,"6000/tcp":null,"6001/tcp":null,"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"9000/udp":[{"HostIp":"0.0.0.0","HostPort":"9000"}]}"#
    );
    assert_eq!(cx.inspect_f("{{json .Config.ExposedPorts}}", "pp"), exposed);
    assert_eq!(
        cx.inspect_f("{{json .HostConfig.PortBindings}}", "pp"),
        bindings
    );
    let v = cx.inspect_json("pp");
    let keys: Vec<&String> = v["NetworkSettings"]["Ports"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "5000/tcp", "53/udp", "6000/tcp", "6001/tcp", "80/tcp", "9000/udp"
        ],
        "inspect's own JSON too"
    );
    let row = ps_row(&cx, "pp");
    assert_eq!(
        row["PORTS"],
        "5000/tcp, 53/udp, 6000-6001/tcp, 0.0.0.0:9000->9000/udp, 0.0.0.0:8080->80/tcp",
        "{row:?}"
    );

    // port: Docker's texts.
    for (arg, shown) in [
        ("9999", "9999/tcp"),
        ("9999/udp", "9999/udp"),
        ("5000", "5000/tcp"),
        ("80/sctp", "80/sctp"),
        ("80/TCP", "80/TCP"),
    ] {
        refused(
            &cx,
            &["port", "pp", arg],
            1,
            &format!("rrun: No public port '{shown}' published for pp\n"),
        );
    }
    refused(
        &cx,
        &["port", "pp", "abc"],
        1,
        "rrun: strconv.ParseUint: parsing \"abc\": invalid syntax\n",
    );
    let out = cx.rrun(&["port", "pp", "9000/udp"]);
    out.ok();
    assert_eq!(out.stdout, "0.0.0.0:9000\n", "{out}");

    // Stopped: no PORTS, `{}`; what was asked stays.
    let out = cx.rrun(&[
        "--name",
        "xx",
        "--expose",
        "80",
        "-p",
        "8082:80",
        cx.rootfs(),
        "true",
    ]);
    out.ok();
    cx.rrun(&["stop", "-t", "0", "pp"]).ok();
    cx.wait_exited("pp");
    for name in ["pp", "xx"] {
        assert_eq!(cx.inspect_f("{{json .NetworkSettings.Ports}}", name), "{}");
    }
    assert_eq!(cx.inspect_f("{{json .Config.ExposedPorts}}", "pp"), exposed);
    assert_eq!(
        cx.inspect_f("{{json .HostConfig.PortBindings}}", "pp"),
        bindings
    );
    assert_eq!(
        cx.inspect_f("{{json .HostConfig.PortBindings}}", "xx"),
        r#"{"80/tcp":[{"HostIp":"","HostPort":"8082"}]}"#
    );
    let out = cx.rrun(&["ps", "-a", "--format", "{{.Names}}|{{.Ports}}"]);
    out.ok();
    assert_eq!(out.stdout, "xx|\npp|\n", "{out}");
    refused(
        &cx,
        &["port", "xx", "80"],
        1,
        "rrun: No public port '80/tcp' published for xx\n",
    );
    let out = cx.rrun(&["port", "xx"]);
    out.ok();
    assert!(out.stdout.is_empty(), "{out}");
    assert!(
        listed(&cx, &BTreeMap::new(), &["-a", "-f", "expose=80"]).is_empty(),
        "a stopped container has no ports to filter on"
    );

    // Running on the host's network or none: no ports either.
    for net in ["host", "none"] {
        let name = format!("n-{net}");
        cx.detach(
            &["--name", &name, "--net", net, "--expose", "80"],
            &["sleep", "1000"],
        );
        assert_eq!(cx.inspect_f("{{json .NetworkSettings.Ports}}", &name), "{}");
        assert_eq!(
            cx.inspect_f("{{json .Config.ExposedPorts}}", &name),
            r#"{"80/tcp":{}}"#
        );
        let out = cx.rrun(&[
            "ps",
            "-f",
            &format!("name={name}"),
            "--format",
            "[{{.Ports}}]",
        ]);
        out.ok();
        assert_eq!(out.stdout, "[]\n", "{out}");
    }
}

/// `inspect --type container` is `inspect`; other types Docker knows
/// find nothing here; an unknown type is refused as Docker refuses it.
fn inspect_type(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(&["--name", "c1", "--net=none"], &["sleep", "1000"]);
    let out = cx.rrun(&["inspect", "--type", "container", "-f", "{{.Name}}", "c1"]);
    out.ok();
    assert_eq!(out.stdout, "/c1\n", "{out}");
    let out = cx.rrun(&["inspect", "--type=container", "c1"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    assert_eq!(v[0]["Name"], "/c1", "{out}");
    let out = cx.rrun(&["inspect", "--type=container", "nosuch"]);
    out.expect_code(1);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("[]\n", "rrun: No such container: nosuch\n")
    );
    for t in ["image", "network", "volume"] {
        let out = cx.rrun(&["inspect", "--type", t, "c1"]);
        out.expect_code(1);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.clone()),
            ("[]\n", format!("rrun: No such {t}: c1\n")),
            "{out}"
        );
    }
    refused(
        &cx,
        &["inspect", "--type", "foo", "c1"],
        1,
        "rrun: \"foo\" is not a valid value for --type\n",
    );
}
