#!/bin/sh
# subq.sh - decomposition on real data (issue 10): extra ingest cost of a hard
# item, and human tasks per resolved item with early stop (sequential),
# parallel steps and whole-pair review, on a daemon answering from GSM8K's
# is_correct labels (the rule is in subq.py). Decomposer throughput in MB/s
# comes from bench_decompose.
#
# usage: tests/bench/subq.sh [DATA_DIR] [BUILD_DIR]
#        DATA_DIR: the folder with gsm8k/ (default ../shared/data beside the
#        repository; tests/data works too); BUILD_DIR: build-bench (release)
# env:   ITEMS (pairs, default 330: the public half's questions)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${1:-$ROOT/../shared/data}
BUILD=${2:-$ROOT/build-bench}
FILE=$DATA/gsm8k/model_solutions.jsonl
[ -r "$FILE" ] || { echo "subq.sh: missing $FILE (give the data folder as the first argument)" >&2; exit 2; }
[ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null
ninja -C "$BUILD" server/rungd tests/bench/bench_decompose >/dev/null

echo "== decomposer throughput (steps, GSM8K solutions)"
"$BUILD/tests/bench/bench_decompose" --kind steps "$FILE"
echo "== decomposer throughput (code, rung's own C sources as one file)"
SRC=$(mktemp /tmp/rung-code.XXXXXX)
trap 'rm -f "$SRC"' EXIT INT TERM
cat "$ROOT"/core/*.c "$ROOT"/server/*.c >"$SRC"
"$BUILD/tests/bench/bench_decompose" --kind code "$SRC"
echo "== review with and without decomposition"
python3 "$ROOT/tests/bench/subq.py" "$BUILD/server/rungd" "$FILE" --items "${ITEMS:-330}"
