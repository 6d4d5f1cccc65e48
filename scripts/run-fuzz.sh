#!/bin/sh
# Run libFuzzer targets one after the other (one process at a time).
#   run-fuzz.sh NAME...     FUZZ_SECONDS (default 60) seconds each
# Binaries: build-fuzz/fuzz_NAME (make fuzz-build). Seeds are read from
# tests/fuzz/corpus/NAME/ and never written; what the run finds goes to
# build-fuzz/corpus/NAME/, crashes to build-fuzz/crashes/NAME/, the log to
# build-fuzz/logs/NAME.log. The "max_len:" line of the target's header
# comment sets -max_len. Exit status 1 if any target found a crash.
# FUZZ_TIMEOUT (default 10) is -timeout, wall-clock seconds per input: raise
# it when the run is niced on a busy machine, where a starved process would
# report inputs that take 0.1 s as timeouts.
secs=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-10}
status=0
for t in "$@"; do
    bin=build-fuzz/fuzz_$t
    src=tests/fuzz/fuzz_$t.c
    seeds=tests/fuzz/corpus/$t
    [ -x "$bin" ] || { echo "fuzz: $bin missing (make fuzz-build)" >&2; status=1; continue; }
    mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t" build-fuzz/logs
    maxlen=$(sed -n 's/^ \* max_len: *\([0-9][0-9]*\).*/\1/p' "$src" | head -n 1)
    set -- -max_total_time="$secs" -timeout="$timeout" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="build-fuzz/crashes/$t/"
    [ -n "$maxlen" ] && set -- "$@" -max_len="$maxlen"
    [ -f "tests/fuzz/$t.dict" ] && set -- "$@" -dict="tests/fuzz/$t.dict"
    echo "fuzz: $t for ${secs}s${maxlen:+ (max_len $maxlen)}"
    started=$(date +%s)
    if ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$bin" "$@" "build-fuzz/corpus/$t" "$seeds" >"build-fuzz/logs/$t.log" 2>&1; then
        result=ok
    else
        result="FAILED (see build-fuzz/logs/$t.log, build-fuzz/crashes/$t/)"
        status=1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/logs/$t.log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "build-fuzz/logs/$t.log" | tail -n 1)
    echo "fuzz: $t: $result after $(($(date +%s) - started)) s, ${execs:-?} executions, ${cov:-no coverage line}"
done
exit $status
