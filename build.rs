//! Build facts `rrun version` prints: the target triple and the git commit
//! the binary was built from ("unknown" outside a git checkout, e.g. from a
//! source tarball; RRUN_BUILD_COMMIT overrides it for packagers).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit of the checkout at `dir` (with "-dirty" when tracked files
/// differ from it), and the files whose change moves it (not the index:
/// `git status` rewrites it, and each rewrite would rebuild rrun). Only the
/// package's own checkout counts: a tarball unpacked inside some other
/// repository must not take that repository's commit.
fn commit(dir: &Path) -> Option<(String, Vec<PathBuf>)> {
    if !dir.join(".git").exists() {
        return None;
    }
    let id = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    let dirty =
        git(dir, &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let mut watch = Vec::new();
    let abs = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { dir.join(p) }
    };
    if let Some(g) = git(dir, &["rev-parse", "--git-dir"]).map(abs) {
        watch.push(g.join("HEAD"));
    }
    if let (Some(common), Some(head)) = (
        git(dir, &["rev-parse", "--git-common-dir"]).map(abs),
        git(dir, &["rev-parse", "--symbolic-full-name", "HEAD"]),
    ) {
        watch.push(common.join("packed-refs"));
        if head.starts_with("refs/") {
            watch.push(common.join(head));
        }
    }
    let id = if dirty { format!("{id}-dirty") } else { id };
    Some((id, watch))
}

fn main() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let target = env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=RRUN_TARGET={target}");
    println!("cargo:rerun-if-env-changed=RRUN_BUILD_COMMIT");
    // What can make a checkout dirty; a tarball build reruns on the same.
    for p in ["build.rs", "Cargo.toml", "Cargo.lock", "src"] {
        println!("cargo:rerun-if-changed={}", dir.join(p).display());
    }
    let given = env::var("RRUN_BUILD_COMMIT").ok().filter(|c| !c.is_empty());
    let id = match given {
        Some(c) => c,
        None => match commit(&dir) {
            Some((id, watch)) => {
                for w in watch.iter().filter(|w| w.exists()) {
                    println!("cargo:rerun-if-changed={}", w.display());
                }
                id
            }
            None => "unknown".into(),
        },
    };
    println!("cargo:rustc-env=RRUN_COMMIT={id}");
}
