#!/bin/sh
# reward_vs_liblinear.sh - the built-in reward layer (5-member ensemble) against
# one `liblinear-train -s 0` model on the same libsvm files: HH, GSM8K (the
# tests' fixed 80/20 split by prompt) and 500,000 synthetic comparisons.
#
# usage: tests/bench/reward_vs_liblinear.sh [BUILD_DIR]   (default: build-bench)
# env:   WORK (scratch dir, default /tmp/rung-bench), SYNTH_N (default 500000),
#        DATA (default ../shared/data next to the repo)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-bench}
WORK=${WORK:-/tmp/rung-bench}
SYNTH_N=${SYNTH_N:-500000}
DATA=${DATA:-$ROOT/../shared/data}
BENCH=$BUILD/tests/bench/bench_reward

for tool in liblinear-train liblinear-predict; do
    command -v $tool >/dev/null || { echo "missing $tool (apt-get install liblinear-tools)"; exit 1; }
done
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time (apt-get install time)"; exit 1; }
if [ ! -x "$BENCH" ]; then
    [ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" --buildtype=release
    ninja -C "$BUILD" tests/bench/bench_reward
fi
mkdir -p "$WORK"

# timev KEY FILE: a value of /usr/bin/time -v.
timev() { grep "$1" "$2" | awk -F': ' '{ print $2 }'; }
# wall time of /usr/bin/time -v ("h:mm:ss" or "m:ss.cc") in seconds
wall_s() { timev "Elapsed (wall clock)" "$1" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'; }

echo "== preparing libsvm files in $WORK"
for split in train test; do
    [ -s "$WORK/hh.$split" ] || "$BENCH" libsvm --format hh "$DATA/hh-rlhf-harmless/pairs.jsonl" \
        --split $split "$WORK/hh.$split" --bits 18
    [ -s "$WORK/gsm8k.$split" ] || "$BENCH" libsvm --format gsm8k \
        "$DATA/gsm8k/model_solutions.jsonl" --split $split "$WORK/gsm8k.$split" --bits 18
done
[ -s "$WORK/synth.test" ] || "$BENCH" synth "$SYNTH_N" "$WORK/synth.train" "$WORK/synth.test" --bits 20

all_ok=1
run() { # run NAME BITS
    name=$1 bits=$2 tr=$WORK/$1.train te=$WORK/$1.test
    /usr/bin/time -v liblinear-train -s 0 -q "$tr" "$WORK/$name.model" 2>"$WORK/$name.ll.time" >/dev/null
    ll_acc=$(liblinear-predict "$te" "$WORK/$name.model" "$WORK/$name.pred" | sed 's/Accuracy = \([0-9.]*\)%.*/\1/')
    ll_wall=$(wall_s "$WORK/$name.ll.time")
    ll_rss=$(timev "Maximum resident" "$WORK/$name.ll.time")
    # Same training rows as liblinear (no calibration hold-out) ...
    /usr/bin/time -v "$BENCH" train-libsvm "$tr" "$te" --bits "$bits" --members 5 --calib 0 \
        >"$WORK/$name.rung.out" 2>"$WORK/$name.rung.time"
    r_acc=$(awk '$1 == "accuracy" { printf "%.4f", 100 * $2 }' "$WORK/$name.rung.out")
    r_wall=$(wall_s "$WORK/$name.rung.time")
    r_rss=$(timev "Maximum resident" "$WORK/$name.rung.time")
    # ... and the production default: 20% held out to pick the threshold.
    "$BENCH" train-libsvm "$tr" "$te" --bits "$bits" --members 5 >"$WORK/$name.rung20.out"
    r20_acc=$(awk '$1 == "accuracy" { printf "%.4f", 100 * $2 }' "$WORK/$name.rung20.out")
    rows=$(awk '$1 == "rows_train" { print $2 }' "$WORK/$name.rung.out")
    nnz=$(awk '$1 == "rows_train" { print $4 }' "$WORK/$name.rung.out")
    echo "== $name: $rows training rows, $nnz nonzeros"
    echo "$name liblinear -s 0 (1 model):   accuracy ${ll_acc}%  wall ${ll_wall}s  maxrss ${ll_rss} KB"
    echo "$name rung 5 members, calib 0:   accuracy ${r_acc}%  wall ${r_wall}s  maxrss ${r_rss} KB"
    echo "$name rung 5 members, calib 0.2: accuracy ${r20_acc}% (trained on 80%)"
    awk -v la="$ll_acc" -v ra="$r_acc" -v lw="$ll_wall" -v rw="$r_wall" -v lr="$ll_rss" \
        -v rr="$r_rss" -v n="$name" 'BEGIN {
        da = ra - la; wr = rw / (lw > 0 ? lw : 1e-9); mr = rr / lr;
        a = da >= -0.5; w = rw < lw; m = mr <= 0.5;
        printf "%s accuracy delta %+.2f points (target >= -0.5): %s\n", n, da, a ? "OK" : "MISS";
        printf "%s wall ratio rung/liblinear %.2f (target < 1): %s\n", n, wr, w ? "OK" : "MISS";
        printf "%s rss ratio rung/liblinear %.2f (target <= 0.5): %s\n", n, mr, m ? "OK" : "MISS";
        exit !(a && w && m) }' || all_ok=0
}
run hh 18
run gsm8k 18
run synth 20

echo "== scoring throughput"
"$BENCH" score 100000
# On HH and GSM8K (~1k rows) both RSS figures are fixed costs (libraries,
# 2^18-bucket weight vectors), so the RSS target is meant for synth.
[ $all_ok = 1 ] && echo "all targets hold" || echo "some targets missed (see MISS above)"
