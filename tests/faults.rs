//! Faults in the network's own records ($RRUN_ROOT/network/*.json):
//! empty, truncated, of another JSON shape or not UTF-8. What needs the
//! record fails with one `rrun:` line naming the file (nothing panics);
//! what does not (ps, --net=none runs, stopping and removing a running
//! bridge container) goes on working; a repaired record works at once.
//! Corrupt container records and stale pids: tests/lifecycle_stop.rs.

#[macro_use]
mod common;

use common::*;
use std::fs;

both_modes!(corrupt_network_records);

fn corrupt_network_records(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let _clean = Cleanup::new(&cx);
    cx.detach(
        &["--net=bridge", "--name", "up", "-p", "18090:80"],
        &["sleep", "1000"],
    );
    let net = cx.state.join("network");
    let mut files = vec!["leases.json", "settings.json"];
    if mode == Mode::Rootless {
        files.push("pasta.json");
    }
    for f in files {
        let p = net.join(f);
        let saved = fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
        let bad: [&[u8]; 6] = [b"", b"null", b"[1]", b"{\"x\":1}", b"{garbage", b"\xff\xfe"];
        for content in bad {
            // In place: the file keeps its owner.
            fs::write(&p, content).expect("write");
            let what = format!(
                "[{mode}] network/{f} = {:?}",
                String::from_utf8_lossy(content)
            );
            let out = cx.rrun(&[
                "--rm",
                "--net=bridge",
                "-p",
                "18091:80",
                cx.rootfs(),
                "true",
            ]);
            assert!(!out.stderr.contains("panicked"), "{what}\n{out}");
            if f == "pasta.json" {
                // Pasta's record is one rrun can do without: the pasta it
                // no longer finds is started again, which fails beside the
                // one still serving the namespace — a warning, and the run
                // goes on.
                let lines = out.stderr_lines();
                assert!(
                    out.code() == Some(0)
                        && lines.len() <= 1
                        && lines.iter().all(|l| l.starts_with("rrun: warning: ")),
                    "{what}: the run works, at most with a warning\n{out}"
                );
            } else {
                out.expect_rrun_error_containing(&format!("network/{f}"));
            }
            cx.rrun(&["--rm", "--net=none", cx.rootfs(), "true"]).ok();
            let ps = cx.rrun(&["ps", "--format", "{{.Names}} {{.Ports}}"]);
            ps.ok();
            assert_eq!(
                ps.stdout, "up 0.0.0.0:18090->80/tcp\n",
                "{what}: ps is unaffected\n{ps}"
            );
            let ni = cx.rrun(&["network", "inspect"]);
            assert!(
                !ni.stderr.contains("panicked") && matches!(ni.code(), Some(0) | Some(1)),
                "{what}: network inspect\n{ni}"
            );
            assert!(
                f == "pasta.json" || ni.code() == Some(1),
                "{what}: network inspect needs the record\n{ni}"
            );
            if ni.code() == Some(1) {
                let lines = ni.stderr_lines();
                assert!(
                    lines.len() == 1 && lines[0].starts_with("rrun: ") && lines[0].contains(f),
                    "{what}: network inspect fails naming the file\n{ni}"
                );
            }
        }
        fs::write(&p, &saved).expect("restore");
        cx.rrun(&[
            "--rm",
            "--net=bridge",
            "-p",
            "18091:80",
            cx.rootfs(),
            "true",
        ])
        .ok();
    }
    // A running bridge container stops and goes while a record is broken.
    fs::write(net.join("leases.json"), b"{garbage").expect("write");
    cx.rrun(&["stop", "-t", "1", "up"]).ok();
    cx.rrun(&["rm", "up"]).ok();
    assert!(cx.containers().is_empty(), "{:?}", cx.containers());
}
