#!/usr/bin/env bash
# Build rrun as it was at a git revision, for the benchmarks' A/B runs
# (BASELINE=... make bench-start / bench-bridge).
#
#   scripts/build-rev.sh [-f] [REV]
#
# REV defaults to the merge base of HEAD and `main`: on a branch, the main
# the branch grew from, so the A/B shows what the branch's own commits change.
# When that is HEAD itself (you are on main, or the branch has no commits of
# its own) there is no sensible default: name REV (HEAD~1, a tag, a commit;
# HEAD itself against uncommitted changes).
#
# The tree of REV is exported with `git archive` into a temp dir outside the
# checkout (the repository's metadata, shared with other worktrees, is not
# touched), built there with `cargo build --release --locked` for the host
# triple (REV's own .cargo/config.toml gives its flags: a static binary), and
# the binary is copied to target/baseline/rrun-<shortrev>. Cargo's output is
# kept in target/baseline/build so the next baseline reuses the dependencies
# (rm -rf target/baseline to reclaim it). A binary already built for that
# commit is reused unless -f is given.
#
# Progress goes to stderr; stdout is the binary's path alone:
#   BASELINE=$(scripts/build-rev.sh d31cc1c) make bench-start
set -euo pipefail

die() { echo "build-rev: $*" >&2; exit 1; }

force=0
if [ "${1:-}" = "-f" ]; then force=1; shift; fi
[ $# -le 1 ] || die "usage: scripts/build-rev.sh [-f] [REV]"

top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
git rev-parse --git-dir >/dev/null 2>&1 || die "$top is not a git checkout"

if [ $# -eq 1 ] && [ -n "$1" ]; then
    rev=$1
else
    git rev-parse --verify --quiet "main^{commit}" >/dev/null ||
        die "no branch 'main' to take the merge base with; name REV"
    rev=$(git merge-base HEAD main) || die "HEAD and main have no merge base; name REV"
    if [ "$rev" = "$(git rev-parse HEAD)" ]; then
        die "the merge base of HEAD and main is HEAD itself (on main?): name REV, e.g. HEAD~1 (or HEAD against uncommitted changes)"
    fi
    echo "build-rev: REV = merge base of HEAD and main" >&2
fi
commit=$(git rev-parse --verify --quiet "$rev^{commit}") || die "'$rev' is not a commit"
short=$(git rev-parse --short=12 "$commit")

out_dir=$top/target/baseline
out=$out_dir/rrun-$short
if [ "$force" -eq 0 ] && [ -x "$out" ]; then
    echo "build-rev: $out already built for $(git log -1 --format='%h %s' "$commit") (-f rebuilds it)" >&2
    echo "$out"
    exit 0
fi

triple=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
[ -n "$triple" ] || die "cannot tell the host triple (is rustc on PATH?)"

src=$(mktemp -d "${TMPDIR:-/tmp}/rrun-rev.XXXXXX") || die "mktemp failed"
cleanup() { rm -rf --one-file-system -- "$src"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "build-rev: building $(git log -1 --format='%h %s' "$commit")" >&2
git archive --format=tar "$commit" | tar -x -C "$src"
mkdir -p "$out_dir"
CARGO_TARGET_DIR=$out_dir/build cargo build --release --locked --target "$triple" \
    --manifest-path "$src/Cargo.toml" >&2
bin=$out_dir/build/$triple/release/rrun
[ -x "$bin" ] || die "cargo left no binary at $bin"
cp -f -- "$bin" "$out.tmp"
mv -f -- "$out.tmp" "$out"
echo "build-rev: $out" >&2
echo "$out"
