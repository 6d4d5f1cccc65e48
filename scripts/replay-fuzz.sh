#!/bin/sh
# Replay every fuzz corpus with the gcc + ASan/UBSan builds (make fuzz-replay):
#   replay-fuzz.sh NAME...   runs build-asan/fuzz/NAME tests/fuzz/corpus/NAME
# Prints one closing line "fuzz-replay: N passed, N failed".
pass=0; fail=0
for t in "$@"; do
    if build-asan/fuzz/"$t" tests/fuzz/corpus/"$t"; then
        pass=$((pass+1))
    else
        echo "FAILED: fuzz replay of $t"
        fail=$((fail+1))
    fi
done
echo "fuzz-replay: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
