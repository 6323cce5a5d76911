#!/bin/sh
# checks_diff.sh - issue 11: a differential check of the checkers. check_dump
# is built from this tree against the checkers of a baseline revision and
# against this tree's, and both are run over the same texts (every string of
# every line of the given JSONL files, each line a group, plus GEN generated
# texts); their outputs (one hash per response of everything every public
# checker function gives: features as %a, findings whole) must be equal.
#
# usage: tests/bench/checks_diff.sh FILE...   (e.g. the GSM8K model_solutions
#        and train files and the HH pairs under ../shared/data)
# env:   BASE_REV=13103ef (main before the fused scans) GEN=100000
# Exit 0 when equal; 1 and the first differing responses otherwise (see them
# with check_dump --full --only N).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BASE_REV=${BASE_REV:-13103ef}
GEN=${GEN:-100000}
[ $# -gt 0 ] || { echo "usage: checks_diff.sh FILE..." >&2; exit 2; }

WORK=$(mktemp -d /tmp/rung-checks-diff.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM
mkdir -p "$WORK/base"
git -C "$ROOT" archive "$BASE_REV" core | tar -x -C "$WORK/base"
for tree in base now; do
    dir=$WORK/base/core
    [ "$tree" = now ] && dir=$ROOT/core
    cc -O2 -std=c11 -D_GNU_SOURCE ${CHECKS_DIFF_CFLAGS:-} -I"$dir" \
        "$ROOT/tests/bench/check_dump.c" "$dir"/check*.c "$dir/feat.c" -ljansson -lm -o "$WORK/dump_$tree"
    "$WORK/dump_$tree" --gen "$GEN" "$@" > "$WORK/out_$tree.txt"
done
n=$(wc -l < "$WORK/out_now.txt")
if cmp -s "$WORK/out_base.txt" "$WORK/out_now.txt"; then
    echo "checks_diff: $n records identical ($BASE_REV vs this tree, GEN=$GEN)"
    exit 0
fi
echo "checks_diff: records differ ($BASE_REV vs this tree, GEN=$GEN); first ones:"
diff "$WORK/out_base.txt" "$WORK/out_now.txt" | head -20
exit 1
