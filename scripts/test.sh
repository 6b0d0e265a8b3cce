#!/usr/bin/env bash
# The body of `make test` (after scripts/test-setup.sh when root, and `make
# rootfs`): every test the caller can run, then a summary of what ran and
# what did not.
#
#   as root            the root tests, and the rootless ones as $RRUN_TEST_USER
#                      (default rrtest), each in a network namespace of its own
#   as another user    the rootless tests as that user; the tests that need
#                      root are not run, and the summary lists them
#
# Arguments go to `cargo test` (a filter, --test NAME). The harness appends
# each test that did not run to target/test-skips.log ($RRUN_TEST_SKIP_LOG);
# cargo's output is kept in target/test-output.log.
#
# Exit status: cargo test's, non-zero when a test that could run failed.
# A test that needs root, run by an ordinary user, is never a failure; a
# test that says SKIP (a missing tool, no subordinate ids, no user
# namespaces) is listed, and fails under CI=true, where every test the
# caller may run must run.
set -uo pipefail

cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." || exit
mkdir -p target
skips=$PWD/target/test-skips.log
output=$PWD/target/test-output.log
: >"$skips"
export RRUN_TEST_SKIP_LOG=$skips

if [ "$(id -u)" -eq 0 ]; then
    who="as root: the root tests, and the rootless tests as ${RRUN_TEST_USER:-rrtest}"
else
    who="as $(id -un), not root: the rootless tests as $(id -un); tests that need root are not run"
fi
echo "make test: $who${CI:+ (CI=$CI)}"

# Tests hold many sockets at once (200 concurrent connections through the
# forwarder): the soft limit on open files up to the hard one (a login's
# soft limit is often 1024).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Every signal at its default disposition, however make test was started (a
# shell's `&` ignores SIGINT and SIGQUIT, nohup SIGHUP; a test compares the
# signals a container ignores with those the test process ignores): GNU env
# can reset them, bash cannot reset signals ignored on its entry.
default_signals=()
if env --default-signal true 2>/dev/null; then
    default_signals=(env --default-signal)
fi

started=$(date +%s)
"${default_signals[@]}" "${CARGO:-cargo}" test --no-fail-fast "$@" 2>&1 | tee "$output"
status=${PIPESTATUS[0]}
elapsed=$(($(date +%s) - started))

# --- summary -------------------------------------------------------------------
read -r passed failed < <(awk '
    /^test result: / {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed;?$/) p += $i
            if ($(i + 1) ~ /^failed;?$/) f += $i
        }
    }
    END { print p + 0, f + 0 }' "$output")

# A test that did not run returned, so cargo counts it as passed; under
# CI=true a SKIP panics, so cargo counts it as failed.
read -r not_run skipped < <(sort -u "$skips" | awk -F'\t' '
    $1 == "needs-root" { n++ } $1 == "skip" { s++ } END { print n + 0, s + 0 }')
ran=$((passed - not_run))
[ "${CI:-}" = true ] || ran=$((ran - skipped))

echo
echo "==> make test summary ($who)"
printf 'tests: %d ran and passed, %d failed, %d not run (need root), %d skipped;' \
    "$ran" "$failed" "$not_run" "$skipped"
printf ' %dm%02ds; cargo test exit status %d\n' $((elapsed / 60)) $((elapsed % 60)) "$status"

# The log's lines: class<TAB>binary<TAB>test<TAB>reason.
# Grouped: root-mode tests by test binary; the others by their reason.
sort -u "$skips" | awk -F'\t' -v ci="${CI:-}" '
    function add(kind, key, name) {
        k = kind SUBSEP key
        if (!(k in cnt)) order[kind, ++groups[kind]] = key
        cnt[k]++; names[k] = names[k] " " name; total[kind]++
    }
    function show(kind,   g, key, k, line, n, i, a) {
        for (g = 1; g <= groups[kind]; g++) {
            key = order[kind, g]; k = kind SUBSEP key
            line = sprintf("    %s (%d):", key, cnt[k])
            n = split(names[k], a, " ")
            for (i = 1; i <= n; i++) {
                if (length(line) + 1 + length(a[i]) > 100) { print line; line = "      " }
                line = line " " a[i]
            }
            print line
        }
    }
    $1 == "needs-root" && $4 == "it runs rrun as root" { add("root", $2, $3); next }
    $1 == "needs-root" { r = $4; sub(/^it needs root on the host: /, "", r); add("host", r, $2 "::" $3); next }
    $1 == "skip" { add("skip", $4, $2 "::" $3); next }
    END {
        if (total["root"] + total["host"] > 0) {
            printf "not run, they need root (%d; `make test` as root runs them; never a failure):\n",
                total["root"] + total["host"]
            if (total["root"] > 0) {
                printf "  root-mode tests (%d), by test file:\n", total["root"]
                show("root")
            }
            if (total["host"] > 0) {
                printf "  tests that need root for something else (%d), by what:\n", total["host"]
                show("host")
            }
        }
        if (total["skip"] > 0) {
            printf "skipped (%d)%s, by reason:\n", total["skip"],
                (ci == "true" ? ", each a FAILURE under CI=true" : "; under CI=true each would fail")
            show("skip")
        }
        if (total["root"] + total["host"] + total["skip"] == 0) print "every test ran"
    }'
if [ "$status" -ne 0 ]; then
    echo "FAILED: see the failures above (all of cargo's output: target/test-output.log)"
fi
exit "$status"
