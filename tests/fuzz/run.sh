#!/bin/sh
# Runs the libFuzzer targets of a clang fuzz build for a while each.
#   tests/fuzz/run.sh BUILD_DIR SECONDS [NAME...]
# BUILD_DIR is configured as deploy/test.sh configures build-fuzz; NAME is a
# target without its fuzz_ prefix (default: all of them). Each target starts
# from its seed corpus (tests/fuzz/corpus/NAME, replayed first and never
# written to) and keeps what it finds in a temporary folder, deleted after a
# clean run. A target that crashes, leaks, hangs (10 s) or trips a
# sanitizer fails the run; its input is kept in BUILD_DIR/fuzz-artifacts/
# (add it to the corpus as a regression test once fixed). Prints per target
# the inputs run, the rate, and the corpus size reached.
set -eu
cd "$(dirname "$0")/../.."

if [ $# -lt 2 ]; then
    echo "usage: tests/fuzz/run.sh BUILD_DIR SECONDS [NAME...]" >&2
    exit 2
fi
build=$1
secs=$2
shift 2
names=${*:-decompose items label tokenize check}
art="$build/fuzz-artifacts"
mkdir -p "$art"

failed=""
for t in $names; do
    exe="$build/tests/fuzz/fuzz_$t"
    seeds="tests/fuzz/corpus/$t"
    work=$(mktemp -d)
    log="$art/fuzz_$t.log"
    dict=""
    case "$t" in
        items | label) dict="-dict=tests/fuzz/json.dict" ;;
    esac
    # shellcheck disable=SC2086 # $dict is one word or none
    if "$exe" $dict -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/$t-" "$work" "$seeds" >"$log" 2>&1; then
        status=ok
        rm -rf "$work"
    else
        status=FAILED
        failed="$failed $t"
        echo "fuzz_$t: inputs it found are in $work; the log is $log" >&2
        tail -n 40 "$log" >&2
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "fuzz_$t: $status, ${runs:-?} inputs in ${secs} s (${rate:-?}/s), $cov"
done
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed" >&2
    exit 1
fi
