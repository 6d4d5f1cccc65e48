#!/bin/sh
# Run the integration tests (tests/integration) with Debian's pytest against
# the sanitizer build, so memory errors in real protocol flows fail the run.
#   YUBIN=path/to/yubin    binary under test (default build-asan/yubin)
#   PYTEST_ARGS="-k smtp"  extra pytest arguments
set -e
cd "$(dirname "$0")/.."
: "${YUBIN:=$(pwd)/build-asan/yubin}"
export YUBIN
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# A private base directory per run: pytest's shared /tmp/pytest-of-USER keeps
# only the newest runs and would delete the directories of a concurrent run.
base=$(mktemp -d /tmp/yubin-it.XXXXXX)
chmod 755 "$base"
status=0
# Test files run in parallel (pytest-xdist, one file per worker at a time so
# module fixtures such as the private database servers start once): most of
# a test's time is spent waiting on sockets and timers, not on the CPU.
#   YUBIN_TEST_JOBS=N  number of workers (default 2; 1 runs serially)
jobs="${YUBIN_TEST_JOBS:-2}"
par=""
if [ "$jobs" -gt 1 ] && /usr/bin/python3 -c "import xdist" 2>/dev/null; then
    par="-n $jobs --dist loadfile"
fi
/usr/bin/python3 -m pytest -q -p no:cacheprovider --basetemp="$base/t" $par tests/integration $PYTEST_ARGS || status=$?
[ "$status" -eq 0 ] && rm -rf "$base"
exit $status
