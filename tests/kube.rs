//! `generate kube` and `kube play`/`kube down` (issue 18), as root and
//! rootless: the source document's web + db scenario through a manifest
//! (the published port answers, web reaches db by the link's alias and
//! sees Kubernetes' variables for the Service), the round trip
//! generate → play → generate, a pod of two containers sharing one
//! network, and refusals and failures that leave nothing behind.
//!
//! Every rrun runs in the harness's network namespace (the test's
//! "host"): tests/common/net.rs.

#[macro_use]
mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use net::*;

both_modes!(
    web_and_db_through_a_manifest,
    a_pod_shares_one_network,
    failures_leave_nothing,
);

/// `generate kube ARGS` into a file of the test's: its path and text.
#[track_caller]
fn generate(cx: &Ctx, file: &str, args: &[&str]) -> (String, String) {
    let mut a = vec!["generate", "kube"];
    a.extend_from_slice(args);
    let out = cx.rrun(&a);
    out.ok();
    let path = cx.host_file(file, out.stdout.as_bytes());
    (path.to_string_lossy().into_owned(), out.stdout.clone())
}

fn web_and_db_through_a_manifest(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let db_cmd = servers(&[5432], &[]);
    cx.detach(
        &["--name", "db", "-e", "PG_VERSION=9.3", "--expose", "5432"],
        &["sh", "-c", &db_cmd],
    );
    let web_cmd = servers(&[5000], &[]);
    cx.detach(
        &[
            "--name",
            "web",
            "-p",
            "8080:5000",
            "--link",
            "db:db",
            "-e",
            "MODE=prod",
        ],
        &["sh", "-c", &web_cmd],
    );
    let (file, yaml) = generate(&cx, "web-db.yaml", &["--service", "web", "db"]);
    // A Service named by the link's alias; no link variable written.
    assert!(
        yaml.contains("kind: Service\nmetadata:\n  name: db\n"),
        "{yaml}"
    );
    assert!(yaml.contains("hostPort: 8080"), "{yaml}");
    assert!(
        !yaml.contains("DB_PORT"),
        "link variables are local\n{yaml}"
    );
    assert!(
        yaml.contains(&format!("io.rrun.rootfs/web: {}", cx.rootfs())),
        "{yaml}"
    );
    cx.rrun(&["rm", "-f", "web", "db"]).ok();

    // Played back with no other flag.
    let out = cx.rrun(&["kube", "play", &file]);
    out.ok();
    assert!(
        out.stdout.starts_with("Pod:\ndb\n"),
        "db's pod first\n{out}"
    );
    assert!(out.stdout.contains("Pod:\nweb\n"), "{out}");
    wait_serving(&cx, "web", &[5000], &[]);
    wait_serving(&cx, "db", &[5432], &[]);
    wait_reachable(&cx, host_ns(&cx), &tcp_ok("127.0.0.1", 8080, "tcp-5000"));
    check_from_exec(
        &cx,
        "web reaches db by the alias",
        "web",
        &[tcp_ok("db", 5432, "tcp-5432")],
    );
    let db_ip = cx.inspect_f(
        "{{(index .NetworkSettings.Networks \"rrun-kube\").IPAddress}}",
        "db",
    );
    let env = cx.rrun(&["exec", "web", "env"]);
    env.ok();
    for want in [
        format!("DB_SERVICE_HOST={db_ip}"),
        "DB_SERVICE_PORT=5432".into(),
        "DB_SERVICE_PORT_TCP_5432=5432".into(),
        format!("DB_PORT=tcp://{db_ip}:5432"),
        format!("DB_PORT_5432_TCP=tcp://{db_ip}:5432"),
        format!("DB_PORT_5432_TCP_ADDR={db_ip}"),
        "DB_PORT_5432_TCP_PORT=5432".into(),
        "DB_PORT_5432_TCP_PROTO=tcp".into(),
        "MODE=prod".into(),
    ] {
        assert!(env.lines().contains(&want.as_str()), "{want}\n{env}");
    }
    assert!(
        !env.stdout.contains("DB_NAME="),
        "Kubernetes sets no DB_NAME\n{env}"
    );
    // The db pod started first: it has no variables of its own Service.
    let env = cx.rrun(&["exec", "db", "env"]);
    assert!(!env.stdout.contains("DB_SERVICE_HOST"), "{env}");

    // The round trip: what runs now generates the same manifest.
    let (_, again) = generate(&cx, "again.yaml", &["--service", "web", "db"]);
    assert_eq!(again, yaml, "generate → play → generate");
    // A second play of the same file is refused, and changes nothing.
    let out = cx.rrun(&["kube", "play", &file]);
    out.expect_code(125)
        .expect_rrun_error_containing("the container name db is in use");
    assert_eq!(cx.containers().len(), 2);

    let out = cx.rrun(&["kube", "down", &file]);
    out.ok();
    assert_eq!(
        out.stdout, "Pods stopped:\nweb\ndb\nPods removed:\nweb\ndb\n",
        "{out}"
    );
    let nets = cx.rrun(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !nets.stdout.contains("rrun-kube"),
        "the play's network goes\n{nets}"
    );
    cx.assert_nothing_left("kube down");
}

fn a_pod_shares_one_network(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let app_cmd = servers(&[7000], &[]);
    cx.detach(
        &["--name", "app", "--expose", "7000", "-m", "64m"]
            [..if mode == Mode::Root { 6 } else { 4 }],
        &["sh", "-c", &app_cmd],
    );
    cx.detach(
        &["--name", "app-side", "--net", "container:app"],
        &["sleep", "1000"],
    );
    let (file, yaml) = generate(
        &cx,
        "pod.yaml",
        &["--type", "deployment", "app", "app-side"],
    );
    assert!(yaml.contains("kind: Deployment"), "{yaml}");
    assert!(
        yaml.contains("- name: side\n") || yaml.contains("name: side\n"),
        "{yaml}"
    );
    cx.rrun(&["rm", "-f", "app", "app-side"]).ok();
    let out = cx.rrun(&["kube", "play", "--network", "podnet", &file]);
    out.ok();
    // The second container is in the first's network namespace.
    wait_serving(&cx, "app", &[7000], &[]);
    check_from_exec(
        &cx,
        "side shares app's loopback",
        "app-side",
        &[tcp_ok("127.0.0.1", 7000, "tcp-7000")],
    );
    let net = cx.inspect_f("{{.HostConfig.NetworkMode}}", "app-side");
    assert_eq!(net, "container:app");
    let restart = cx.inspect_f("{{.HostConfig.RestartPolicy.Name}}", "app");
    assert_eq!(restart, "always", "a Deployment's pods restart always");
    if mode == Mode::Root {
        assert_eq!(cx.inspect_f("{{.HostConfig.Memory}}", "app"), "67108864");
    }
    // kube down removes only what kube play started.
    cx.detach(&["--name", "bystander"], &["sleep", "1000"]);
    let out = cx.rrun(&["kube", "down", "--network", "podnet", &file]);
    out.ok();
    assert_eq!(cx.containers().len(), 1, "{:?}", cx.containers());
    cx.rrun(&["rm", "-f", "bystander"]).ok();
    cx.assert_nothing_left("kube down");
}

fn failures_leave_nothing(mode: Mode) {
    let Some(cx) = net_ctx(mode) else { return };
    let _cleanup = Cleanup::new(&cx);
    let rootfs = cx.rootfs().to_string();
    // The second pod's rootfs does not exist: the first is undone.
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: one, labels: {app: one}}\nspec:\n  affinity: {}\n  containers: [{name: one, image: a, command: [sleep, '1000'], livenessProbe: {tcpSocket: {port: 1}}}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: one}\nspec: {selector: {app: one}, ports: [{port: 1}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: two}\nspec:\n  containers: [{name: two, image: b, command: [sleep, '1000']}]\n";
    let file = cx.host_file("bad.yaml", manifest.as_bytes());
    let file = file.to_str().expect("UTF-8 path");
    let out = cx.rrun(&[
        "kube",
        "play",
        "--rootfs",
        &format!("a={rootfs}"),
        "--rootfs",
        "b=/nonexistent/rootfs",
        file,
    ]);
    out.expect_code(125);
    assert!(out.stderr.contains("rrun: kube play: "), "{out}");
    assert!(
        out.stderr
            .contains("ignoring spec.affinity (not supported)"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("ignoring spec.containers[0].livenessProbe.tcpSocket.port (not supported)"),
        "{out}"
    );
    assert!(
        out.stderr.contains(
            "pod two: container two did not start (exit 125); nothing of this play is left"
        ),
        "{out}"
    );
    cx.assert_nothing_left("a failed play");
    let nets = cx.rrun(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.stdout.contains("rrun-kube"), "{nets}");

    // An image without a rootfs, a missing file, bad flags: one line,
    // 125, nothing made.
    let file = cx.host_file(
        "plain.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: one}\nspec: {containers: [{name: one, image: a}]}\n",
    );
    let file = file.to_str().expect("UTF-8 path");
    for (args, msg) in [
        (
            vec!["kube", "play", file],
            "container one runs image \"a\", and no rootfs is known for it: pass --rootfs a=DIR",
        ),
        (
            vec!["kube", "play", "/nonexistent.yaml"],
            "reading /nonexistent.yaml: ",
        ),
        (
            vec!["kube", "play", "--rootfs", "x", file],
            "--rootfs \"x\": use IMAGE=DIR",
        ),
        (
            vec!["kube", "play", "--network", "bridge", file],
            "kube play needs a user-defined network",
        ),
        (
            vec!["generate", "kube", "--type", "job", "x"],
            "--type \"job\": use pod or deployment",
        ),
    ] {
        let out = cx.rrun(&args);
        assert_ne!(out.code(), Some(0), "{args:?}\n{out}");
        out.expect_rrun_error_containing(msg);
    }
    let out = cx.rrun(&["generate", "kube", "nosuch"]);
    out.expect_code(1);
    assert_eq!(out.stderr, "rrun: No such container: nosuch\n");
    let v2 = cx.host_file(
        "v2.yaml",
        b"apiVersion: v2\nkind: Pod\nmetadata: {name: a}\n",
    );
    let out = cx.rrun(&["kube", "play", v2.to_str().expect("UTF-8")]);
    out.expect_code(125)
        .expect_rrun_error_containing("document 1 (Pod): ");
    let out = cx.rrun(&["kube", "frobnicate"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .starts_with("rrun: unknown command: rrun kube frobnicate\n"),
        "{out}"
    );
    cx.assert_nothing_left("refusals");
}
