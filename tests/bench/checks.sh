#!/bin/sh
# checks.sh - issue 11: what the checkers cost next to feature extraction,
# this tree's checkers against those of a baseline revision in the same run.
# bench_checks.c is built from this tree against both revisions' core/check*.c
# and feat.c with the same flags, and the two binaries run in turn, ROUNDS
# times each; bench_checks times per second of the thread's CPU time (the
# machine may be shared) and keeps the best of its own rounds. The baseline's
# "FX, 2 a prompt" is two feat_extract_hash calls (-DBENCH_CHECKS_LEGACY).
#
# usage: tests/bench/checks.sh [FILE]   (default ../shared/data/gsm8k/model_solutions.jsonl)
# env:   ROUNDS=3 INNER=10 BASE_REV=4685dc6 (main before this work)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FILE=${1:-$ROOT/../shared/data/gsm8k/model_solutions.jsonl}
ROUNDS=${ROUNDS:-3}
INNER=${INNER:-10}
BASE_REV=${BASE_REV:-4685dc6}
[ -f "$FILE" ] || { echo "checks.sh: no $FILE (give GSM8K model_solutions.jsonl)"; exit 2; }

WORK=$(mktemp -d /tmp/rung-checks.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM
mkdir -p "$WORK/base"
git -C "$ROOT" archive "$BASE_REV" core | tar -x -C "$WORK/base"
CFLAGS_BENCH="-O3 -std=c11 -D_GNU_SOURCE"
for tree in base now; do
    dir=$WORK/base/core legacy=-DBENCH_CHECKS_LEGACY
    [ "$tree" = now ] && dir=$ROOT/core legacy=
    # shellcheck disable=SC2086
    cc $CFLAGS_BENCH $legacy -I"$dir" "$ROOT/tests/bench/bench_checks.c" "$dir"/check*.c \
        "$dir/feat.c" -ljansson -lm -o "$WORK/checks_$tree"
done
for r in $(seq "$ROUNDS"); do
    for tree in base now; do
        "$WORK/checks_$tree" "$FILE" --rounds "$INNER" | sed "s/^/$tree /"
    done
done > "$WORK/out.txt"
python3 - "$WORK/out.txt" "$BASE_REV" <<'PY'
import re, statistics, sys
rows = {"base": {}, "now": {}}
for line in open(sys.argv[1]):
    m = re.match(r"(base|now)\s+(\S.*?)\s+([0-9.]+) us/response", line)
    if m:
        rows[m.group(1)].setdefault(m.group(2), []).append(float(m.group(3)))
med = {t: {k: statistics.median(v) for k, v in d.items()} for t, d in rows.items()}
print("median of %d runs each, us per GSM8K response (CPU time)" % len(rows["now"]["check_run_all"]))
print("%-16s %10s %10s %8s" % ("stage", sys.argv[2], "this tree", "ratio"))
for k in med["now"]:
    print("%-16s %10.2f %10.2f %8.2fx" % (k, med["base"][k], med["now"][k], med["base"][k] / med["now"][k]))
for t, name in (("base", sys.argv[2]), ("now", "this tree")):
    m = med[t]
    print("%s: checkers / features FX %.3f, prompt once per group %.3f; share of features FX + checkers %.3f (goal <= 0.10)"
          % (name, m["check_run_all"] / m["features FX"], m["run_all+group"] / m["features FX"],
             m["run_all+group"] / (m["run_all+group"] + m["features FX"])))
PY
