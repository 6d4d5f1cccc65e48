#!/bin/sh
# sieve-conformance.sh - run Pigeonhole's .svtest files with yubin's
# Sieve library (tests/unit/sieve_testsuite.c) and list, per file:
# pass, fail, or skip (a capability or testsuite command yubin does not
# implement yet). Fails when a file named in tests/sieve/conformance-pass.txt
# does not pass, so what passes today keeps passing.
#
# usage: sieve-conformance.sh RUNNER [SUITE_DIR]
runner=$1
suite=${2:-../shared/conformance/sieve/pigeonhole-tests}
expect=tests/sieve/conformance-pass.txt
if [ ! -d "$suite" ]; then
    echo "sieve-conformance: $suite not found, skipped"
    exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pass=0 fail=0 skip=0
# A sanitizer finding must not look like a reported test failure (exit 1).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
for f in $(cd "$suite" && find . -name '*.svtest' | sed 's|^\./||' | sort); do
    timeout 30 "$runner" "$suite/$f" >"$out/log" 2>&1
    rc=$?
    # failures/: Pigeonhole runs these with "testsuite -F": they must fail, cleanly
    case $f in
    failures/*)
        if [ $rc = 1 ] && grep -q '^summary: ' "$out/log"; then rc=0; else rc=1; fi ;;
    esac
    case $rc in
    0) echo "pass $f"; echo "$f" >>"$out/passed"; pass=$((pass + 1)) ;;
    2) echo "skip $f ($(grep -m1 SKIP "$out/log" | sed 's/^SKIP //'))"; skip=$((skip + 1)) ;;
    *) echo "fail $f ($(grep -m1 -E '^(FAIL|ERROR)' "$out/log"))"; fail=$((fail + 1)) ;;
    esac
done
echo "sieve-conformance: $pass passed, $fail failed, $skip skipped"
touch "$out/passed"
bad=0
for f in $(grep -v '^#' "$expect"); do
    if ! grep -qx "$f" "$out/passed"; then
        echo "sieve-conformance: REGRESSION: $f is expected to pass"
        bad=1
    fi
done
exit $bad
