#!/bin/sh
# Installs what the tests need, builds, and runs every suite: unit and API
# tests on a normal build, the API tests again on a throwaway PostgreSQL
# cluster, unit and API tests under AddressSanitizer + UBSan, a short
# run of each fuzz target (RUNG_FUZZ_SECONDS, default 10) on a clang build,
# and the browser tests in headless Chromium. Exits 0 only if all pass.
#
# The machine has 2 cores, and the API tests spend most of their time
# waiting (on daemons, long-polls, timeouts), so independent stages overlap,
# each starting as soon as the stages it needs have passed:
#   - lint first, alone;
#   - the normal build, and beside it (at nice 10) the sanitizer build of
#     unit_reward, whose sanitizer run alone takes minutes of one core: it
#     starts as soon as it is built;
#   - after the normal build, the SQLite pass and the PostgreSQL pass, with
#     the rest of the sanitizer build at nice 10 (the tests come first);
#   - the rest of the sanitizer tests once their build is done, with the
#     fuzz build beside them at nice 10; the browser tests once the SQLite
#     pass is done;
#   - the fuzz targets last, two at a time with nothing beside them, so that
#     each gets a core of its own for its RUNG_FUZZ_SECONDS.
# A stage's output goes to its own log, printed whole at the end in the
# order above; a stage whose dependency failed does not run. The wall time,
# span and CPU time of every stage are printed at the end.
set -eu
cd "$(dirname "$0")/.."

./deploy/deps.sh test

logs=$(mktemp -d "${TMPDIR:-/tmp}/rung-test-logs.XXXXXX")
trap 'rm -rf "$logs"' EXIT
trap 'exit 130' INT TERM
t0=$(date +%s)
failed=""

# stage NAME "DEPS" CMD...: runs CMD in the background, its output in NAME's
# log, once every stage in DEPS has passed (not at all if one failed).
stage() {
    name=$1
    deps=$2
    shift 2
    (
        set +e
        rc=0
        for d in $deps; do
            while [ ! -f "$logs/$d.status" ]; do sleep 1; done
            read -r drc _ <"$logs/$d.status"
            if [ "$drc" != 0 ]; then
                rc=125
                echo "not run: $d failed" >"$logs/$name.log"
            fi
        done
        start=$(date +%s)
        if [ "$rc" = 0 ]; then
            echo "== $name: started at $((start - t0)) s"
            # (set -e applies inside the stage's functions too: not in an if.)
            (set -e; "$@") >"$logs/$name.log" 2>&1
            rc=$?
        fi
        # CPU seconds (user + system) of what the stage ran and waited for.
        # (times itself, not in a pipe or $(...): a subshell has no children.)
        times >"$logs/$name.times"
        cpu=$(tail -n 1 "$logs/$name.times" | tr 'ms' '  ' |
            awk '{ printf "%.0f", $1 * 60 + $2 + $3 * 60 + $4 }')
        echo "$rc $start $(date +%s) $cpu" >"$logs/$name.status.tmp"
        mv "$logs/$name.status.tmp" "$logs/$name.status"
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
        case "$rc" in
        0) result=ok ;;
        125) result="NOT RUN" ;;
        *) result="FAILED (exit $rc)" ;;
        esac
        echo "== $name: $result" \
            "in $((end - start)) s (from $((start - t0)) s to $((end - t0)) s), $cpu s of CPU"
        printf '%-18s %5d s  (%4d-%4d s)  %5d s of CPU\n' "$name" $((end - start)) \
            $((start - t0)) $((end - t0)) "$cpu" >>"$logs/summary"
        [ "$rc" = 0 ] || failed="$failed $name"
    done
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
setup_asan() {
    if [ ! -f build-asan/build.ninja ]; then
        meson setup build-asan --buildtype=debug -Db_sanitize=address,undefined \
            -Db_lundef=false -Dc_args=-fno-sanitize-recover=all >/dev/null
    fi
}
build_asan_reward() {
    setup_asan
    nice -n 10 ninja -C build-asan tests/unit/test_reward
}
build_asan() {
    nice -n 10 ninja -C build-asan
}
# The sanitizer tests but unit_reward (its own stage), by name.
tests_asan_rest() {
    names=$(meson test -C build-asan --no-rebuild --list 2>/dev/null | sed -n 's|^.* / ||p' |
        grep -vx unit_reward)
    # shellcheck disable=SC2086 # one name a word
    asan_env meson test -C build-asan --no-rebuild --print-errorlogs --num-processes 2 \
        --timeout-multiplier 4 $names
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

stage lint "" ./deploy/lint.sh
stage build "lint" build_test
stage build-asan-reward "lint" build_asan_reward
stage tests-asan-reward "build-asan-reward" asan_env meson test -C build-asan --no-rebuild \
    --print-errorlogs --timeout-multiplier 4 --logbase testlog-reward unit_reward
stage tests "build" meson test -C build-test --print-errorlogs --num-processes 2
stage tests-pg "build" ./tests/pg/run-api.sh build-test
stage build-asan "build build-asan-reward" build_asan
stage tests-asan "build-asan" tests_asan_rest
stage build-fuzz "build-asan" build_fuzz
stage browser "tests" browser
stage fuzz-1 "tests tests-pg tests-asan-reward tests-asan build-fuzz browser" fuzz_half 1
stage fuzz-2 "tests tests-pg tests-asan-reward tests-asan build-fuzz browser" fuzz_half 2
finish lint build build-asan-reward tests-asan-reward tests tests-pg build-asan tests-asan \
    build-fuzz browser fuzz-1 fuzz-2

echo "== stages: wall time, span from the start of the run, CPU time (not counting"
echo "   the PostgreSQL server's; the machine's load: $(cut -d' ' -f1-3 /proc/loadavg))"
cat "$logs/summary"
if [ -n "$failed" ]; then
    echo "== failed:$failed" >&2
    exit 1
fi
echo "== all test suites passed in $(($(date +%s) - t0)) s"
