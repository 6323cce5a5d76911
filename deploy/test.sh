#!/bin/sh
# Installs what the tests need, builds, and runs every suite: unit and API
# tests on a normal build, the API tests again on a throwaway PostgreSQL
# cluster, unit and API tests under AddressSanitizer + UBSan, a short
# run of each fuzz target (RUNG_FUZZ_SECONDS, default 10) on a clang build,
# and the browser tests in headless Chromium. Exits 0 only if all pass.
set -eu
cd "$(dirname "$0")/.."

./deploy/deps.sh test

echo "== lint (clang-format, banned functions)"
./deploy/lint.sh

echo "== build (debug, warnings as errors)"
if [ ! -f build-test/build.ninja ]; then
    meson setup build-test --buildtype=debugoptimized >/dev/null
fi
ninja -C build-test

echo "== unit and API tests"
meson test -C build-test --print-errorlogs --num-processes 2

echo "== API tests on PostgreSQL (a throwaway cluster of their own)"
./tests/pg/run-api.sh build-test

echo "== sanitizer build (ASan + UBSan): unit and API tests"
if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=all >/dev/null
fi
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 4

echo "== fuzz targets (clang: libFuzzer + ASan + UBSan), ${RUNG_FUZZ_SECONDS:-10} s each"
if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz --buildtype=debugoptimized -Db_sanitize=address,undefined \
        -Db_lundef=false "-Dc_args=['-fsanitize=fuzzer-no-link','-fno-sanitize-recover=all']" \
        >/dev/null
fi
fuzz_names=$(cd tests/fuzz && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
ninja -C build-fuzz $(for t in $fuzz_names; do echo "tests/fuzz/fuzz_$t"; done)
./tests/fuzz/run.sh build-fuzz "${RUNG_FUZZ_SECONDS:-10}" $fuzz_names

echo "== browser tests (headless Chromium)"
RUNGD="$(pwd)/build-test/server/rungd" RUNG_BUILD_DIR="$(pwd)/build-test" ./tests/browser/run.sh

echo "== all test suites passed"
