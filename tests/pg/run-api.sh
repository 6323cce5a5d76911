#!/bin/sh
# Runs the API test suite (meson suite api) against PostgreSQL: starts a
# throwaway cluster in a temporary folder (tests/pg/cluster.sh), runs the
# suite with RUNG_TEST_PG set to it, so that every daemon and CLI run of the
# tests gets a fresh database there instead of a SQLite file, and stops and
# removes the cluster afterwards, also when a test fails or the run is cut.
#   tests/pg/run-api.sh BUILD_DIR [TEST_NAME...]
# First it prepares every store statement there (tests/unit/pg_prepare).
# The test log is BUILD_DIR/meson-logs/testlog-pg.txt.
set -eu
cd "$(dirname "$0")/../.."

if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [TEST_NAME...]" >&2
    exit 2
fi
build=$1
shift

dir=$(mktemp -d "${TMPDIR:-/tmp}/rungpg-XXXXXX")
trap './tests/pg/cluster.sh stop "$dir" || true' EXIT
trap 'exit 130' INT TERM

RUNG_TEST_PG=$(./tests/pg/cluster.sh start "$dir")
export RUNG_TEST_PG
echo "pg: a throwaway cluster at $RUNG_TEST_PG"
# Every store statement prepares on the PostgreSQL schema (applied in a
# transaction that is rolled back).
ninja -C "$build" tests/unit/pg_prepare >/dev/null
"$build/tests/unit/pg_prepare" "$RUNG_TEST_PG"
meson test -C "$build" --suite api --num-processes 2 --print-errorlogs --logbase testlog-pg "$@"
