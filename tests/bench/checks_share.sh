#!/bin/sh
# checks_share.sh - issue 11: the checkers' share of the whole scoring of a
# GSM8K response by a layer with the checker block (bench_score_checks.c),
# this tree's core against a baseline revision's in the same run: the
# bench is built from this tree against both revisions' reward, checker
# and feature code with the same flags, and the two binaries run in turn,
# RUNS times each (each the best of ROUNDS rounds in the thread's CPU
# time; every run trains its two layers first, about 5 s).
#
# usage: tests/bench/checks_share.sh [FILE]   (default ../shared/data/gsm8k/model_solutions.jsonl)
# env:   RUNS=3 ROUNDS=10 BASE_REV=f3c2ff9 (main before the one read per response)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FILE=${1:-$ROOT/../shared/data/gsm8k/model_solutions.jsonl}
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-10}
BASE_REV=${BASE_REV:-f3c2ff9}
[ -f "$FILE" ] || { echo "checks_share.sh: no $FILE (give GSM8K model_solutions.jsonl)"; exit 2; }

WORK=$(mktemp -d /tmp/rung-checks-share.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM
mkdir -p "$WORK/base"
git -C "$ROOT" archive "$BASE_REV" core | tar -x -C "$WORK/base"
for tree in base now; do
    dir=$WORK/base/core
    [ "$tree" = now ] && dir=$ROOT/core
    cc -O3 -std=c11 -D_GNU_SOURCE -I"$dir" "$ROOT/tests/bench/bench_score_checks.c" \
        "$dir/reward.c" "$dir/reward_check.c" "$dir"/check*.c "$dir/feat.c" \
        -ljansson -lm -lpthread -o "$WORK/share_$tree"
done
for r in $(seq "$RUNS"); do
    for tree in base now; do
        "$WORK/share_$tree" "$FILE" --rounds "$ROUNDS" | sed "s/^/$tree /"
    done
done > "$WORK/out.txt"
python3 - "$WORK/out.txt" "$BASE_REV" <<'PY'
import re, statistics, sys
rows = {"base": {}, "now": {}}
for line in open(sys.argv[1]):
    m = re.match(r"(base|now)\s+(whole again|checkers again|whole|checkers|baseline)\s+([0-9.]+) us/response", line)
    if m:
        rows[m.group(1)].setdefault(m.group(2), []).append(float(m.group(3)))
print("us per GSM8K response scored in a pair with its group (CPU time), median [range] of %d runs"
      % len(rows["now"]["whole"]))
print("%-14s %22s %22s" % ("stage", sys.argv[2], "this tree"))
for k in ("whole", "checkers", "baseline", "whole again", "checkers again"):
    print("%-14s %22s %22s" % (k, *("%.2f [%.2f-%.2f]" % (statistics.median(rows[t][k]), min(rows[t][k]),
                                                          max(rows[t][k])) for t in ("base", "now"))))
for t, name in (("base", sys.argv[2]), ("now", "this tree")):
    d = rows[t]
    share = [c / w for c, w in zip(d["checkers"], d["whole"])]
    diff = [(w - b) / w for w, b in zip(d["whole"], d["baseline"])]
    print("%s: checkers' share of the whole scoring: checkers / whole %.3f [%.3f-%.3f], "
          "(whole - baseline) / whole %.3f [%.3f-%.3f] (goal <= 0.10)"
          % (name, statistics.median(share), min(share), max(share),
             statistics.median(diff), min(diff), max(diff)))
    again = [c / w for c, w in zip(d["checkers again"], d["whole again"])]
    print("%s: scored again: checkers / whole %.3f [%.3f-%.3f]"
          % (name, statistics.median(again), min(again), max(again)))
PY
