#!/bin/sh
# Installs what the tests need, builds, and runs every suite: unit and API
# tests on a normal build, the API tests again on a throwaway PostgreSQL
# cluster, unit and API tests under AddressSanitizer + UBSan, a short
# run of each fuzz target (RUNG_FUZZ_SECONDS, default 10) on a clang build,
# and the browser tests in headless Chromium. Exits 0 only if all pass.
#
# The machine has 2 cores, and the API tests spend most of their time
# waiting (on daemons, long-polls, timeouts), so independent stages overlap:
#   1. lint, then the normal build (both cores);
#   2. the SQLite pass and the PostgreSQL pass, and beside them the
#      sanitizer build (at nice 10, so the tests come first), then the
#      sanitizer tests as soon as it is done (with the fuzz build at nice
#      10), and the browser tests once the SQLite pass is done;
#   3. the fuzz targets two at a time, nothing else running, so that each
#      gets a core of its own for its RUNG_FUZZ_SECONDS.
# A stage's output goes to its own log, printed whole when the stage ends;
# a failed stage fails the run once the stages beside it have ended. The
# durations of the stages are printed at the end.
set -eu
cd "$(dirname "$0")/.."

./deploy/deps.sh test

logs=$(mktemp -d "${TMPDIR:-/tmp}/rung-test-logs.XXXXXX")
trap 'rm -rf "$logs"' EXIT
trap 'exit 130' INT TERM
t0=$(date +%s)
failed=""

# stage NAME CMD...: runs CMD in the background, its output in NAME's log.
stage() {
    name=$1
    shift
    echo "== $name: started at $(($(date +%s) - t0)) s"
    (
        set +e
        start=$(date +%s)
        # (set -e applies inside the stage's functions too: not in an if.)
        (set -e; "$@") >"$logs/$name.log" 2>&1
        rc=$?
        # CPU seconds (user + system) of what the stage ran and waited for.
        # (times itself, not in a pipe or $(...): a subshell has no children.)
        times >"$logs/$name.times"
        cpu=$(tail -n 1 "$logs/$name.times" | tr 'ms' '  ' |
            awk '{ printf "%.0f", $1 * 60 + $2 + $3 * 60 + $4 }')
        echo "$rc $start $(date +%s) $cpu" >"$logs/$name.status"
    ) &
    echo $! >"$logs/$name.pid"
}

# finish NAME...: waits for the stages, prints each one's log and result.
finish() {
    for name in "$@"; do
        wait "$(cat "$logs/$name.pid")" || true
        read -r rc start end cpu <"$logs/$name.status"
        echo "== $name"
        cat "$logs/$name.log"
        echo "== $name: $([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)")" \
            "in $((end - start)) s (from $((start - t0)) s to $((end - t0)) s), $cpu s of CPU"
        printf '%-18s %5d s  (%4d-%4d s)  %5d s of CPU\n' "$name" $((end - start)) \
            $((start - t0)) $((end - t0)) "$cpu" >>"$logs/summary"
        [ "$rc" = 0 ] || failed="$failed $name"
    done
}

alone() { # alone NAME CMD...: a stage with nothing beside it
    stage "$@"
    finish "$1"
    [ -z "$failed" ] || { echo "== failed:$failed" >&2; exit 1; }
}

asan_env() {
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$@"
}

build_test() {
    if [ ! -f build-test/build.ninja ]; then
        meson setup build-test --buildtype=debugoptimized >/dev/null
    fi
    ninja -C build-test
}

fuzz_names=$(cd tests/fuzz && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fuzz_secs=${RUNG_FUZZ_SECONDS:-10}

# The sanitizer build and the clang fuzz build (their own build folders), at
# nice 10: they take the CPU that the tests running beside them leave idle.
build_asan() {
    if [ ! -f build-asan/build.ninja ]; then
        meson setup build-asan --buildtype=debug -Db_sanitize=address,undefined \
            -Db_lundef=false -Dc_args=-fno-sanitize-recover=all >/dev/null
    fi
    nice -n 10 ninja -C build-asan
}
build_fuzz() {
    if [ ! -f build-fuzz/build.ninja ]; then
        CC=clang meson setup build-fuzz --buildtype=debugoptimized \
            -Db_sanitize=address,undefined -Db_lundef=false \
            "-Dc_args=['-fsanitize=fuzzer-no-link','-fno-sanitize-recover=all']" >/dev/null
    fi
    # shellcheck disable=SC2046 # one target a word
    nice -n 10 ninja -C build-fuzz $(for t in $fuzz_names; do echo "tests/fuzz/fuzz_$t"; done)
}

# Two fuzz targets at a time: the first half of the list beside the second.
fuzz_half() { # fuzz_half 1|2
    n=$(echo "$fuzz_names" | wc -w)
    # shellcheck disable=SC2086 # one target a word
    names=$(echo $fuzz_names | tr ' ' '\n' | awk -v h="$1" -v n="$n" \
        '(h == 1 && NR <= (n + 1) / 2) || (h == 2 && NR > (n + 1) / 2)')
    [ -z "$names" ] || ./tests/fuzz/run.sh build-fuzz "$fuzz_secs" $names
}

browser() {
    RUNGD="$(pwd)/build-test/server/rungd" RUNG_BUILD_DIR="$(pwd)/build-test" \
        ./tests/browser/run.sh
}

alone lint ./deploy/lint.sh
alone build build_test

stage tests meson test -C build-test --print-errorlogs --num-processes 2
stage tests-pg ./tests/pg/run-api.sh build-test
stage build-asan build_asan
finish build-asan
if [ -n "$failed" ]; then
    finish tests tests-pg
    echo "== failed:$failed" >&2
    exit 1
fi
# The sanitizer tests start as soon as their build is done, the fuzz build
# beside them. Their unit_reward alone takes minutes of one core: three at a
# time, so that two others go on meanwhile.
stage tests-asan asan_env meson test -C build-asan --print-errorlogs --num-processes 3 \
    --timeout-multiplier 4
stage build-fuzz build_fuzz
finish tests
stage browser browser
finish tests-pg tests-asan build-fuzz browser
[ -z "$failed" ] || { echo "== failed:$failed" >&2; exit 1; }

echo "== fuzz targets (clang: libFuzzer + ASan + UBSan), $fuzz_secs s each, two at a time"
stage fuzz-1 fuzz_half 1
stage fuzz-2 fuzz_half 2
finish fuzz-1 fuzz-2
[ -z "$failed" ] || { echo "== failed:$failed" >&2; exit 1; }

echo "== stages: wall time, span from the start of the run, CPU time (not counting"
echo "   the PostgreSQL server's; the machine's load: $(cut -d' ' -f1-3 /proc/loadavg))"
cat "$logs/summary"
echo "== all test suites passed in $(($(date +%s) - t0)) s"
