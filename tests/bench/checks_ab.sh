#!/bin/sh
# checks_ab.sh - issue 11: a baseline revision's checkers against this
# tree's in one process (checks_ab.c), so that both see the same load: the
# baseline's core/check*.c are built into one object whose global symbols
# get the prefix base_, linked with this tree's checkers and feature
# extractor. Prints the best of ROUNDS rounds of each (run_all+group, as
# bench_checks) and the checkers' share next to FX feature extraction.
#
# usage: tests/bench/checks_ab.sh [FILE]   (default ../shared/data/gsm8k/model_solutions.jsonl)
# env:   ROUNDS=200 BASE_REV=13103ef (a baseline from 13103ef on: the same
#        struct check_input, check_answer and check_result up to no_text)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FILE=${1:-$ROOT/../shared/data/gsm8k/model_solutions.jsonl}
ROUNDS=${ROUNDS:-200}
BASE_REV=${BASE_REV:-13103ef}
[ -f "$FILE" ] || { echo "checks_ab.sh: no $FILE (give GSM8K model_solutions.jsonl)"; exit 2; }

WORK=$(mktemp -d /tmp/rung-checks-ab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM
mkdir -p "$WORK/base"
git -C "$ROOT" archive "$BASE_REV" core | tar -x -C "$WORK/base"
CFLAGS_BENCH="-O3 -std=c11 -D_GNU_SOURCE"
for f in "$WORK"/base/core/check*.c; do
    # shellcheck disable=SC2086
    cc $CFLAGS_BENCH -I"$WORK/base/core" -c "$f" -o "$WORK/b_$(basename "$f" .c).o"
done
ld -r "$WORK"/b_*.o -o "$WORK/base_all.o"
nm --defined-only -g "$WORK/base_all.o" | awk '{print $3 " base_" $3}' | sort -u > "$WORK/syms.txt"
objcopy --redefine-syms="$WORK/syms.txt" "$WORK/base_all.o" "$WORK/base.o"
# shellcheck disable=SC2086
cc $CFLAGS_BENCH -I"$ROOT/core" "$ROOT/tests/bench/checks_ab.c" "$ROOT"/core/check*.c \
    "$ROOT/core/feat.c" "$WORK/base.o" -ljansson -lm -o "$WORK/checks_ab"
echo "baseline $BASE_REV"
"$WORK/checks_ab" "$FILE" --rounds "$ROUNDS"
