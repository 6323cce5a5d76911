#!/bin/sh
# score.sh - issue 3 and 14: scoring throughput. In process (bench_reward
# score: one thread, ~1 KB responses, 5 members, both token hashes), feature
# extraction alone against the extractor of a baseline revision (bench_feat,
# built from the same source against both feat.c files with the same flags,
# rounds interleaved), and over HTTP (POST /v1/score with batches of BATCH
# ~1 KB responses, 64 connections, wrk), all in the same run. In-process rates
# are per second of the thread's CPU time: the machine may be shared.
#
# Scoring in process is also compared with bench_reward built (release) from
# SCORE_BASE_REV, the two binaries run in turn ROUNDS times (SCORE_BASE_REV=
# skips it).
#
# usage: tests/bench/score.sh [BUILD_DIR]     (default: build-bench, release)
# env:   SECONDS_PER=10 BATCH=100 CONNS=64 ROUNDS=5 N=50000
#        BASE_REV=d6831ad (the extractor before issue 14)
#        PASS_REV=7416c12 (the extractor before its fourth pass; PASS_REV= skips it)
#        SCORE_BASE_REV=4685dc6 (scoring before the checkers' and scoring's speed-ups)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-bench}
SECONDS_PER=${SECONDS_PER:-10}
BATCH=${BATCH:-100}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-5}
N=${N:-50000}
BASE_REV=${BASE_REV:-d6831ad}
PASS_REV=${PASS_REV-7416c12}
SCORE_BASE_REV=${SCORE_BASE_REV-4685dc6}
RUNGD=$BUILD/server/rungd

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null
ninja -C "$BUILD" server/rungd tests/bench/bench_reward >/dev/null

WORK=$(mktemp -d /tmp/rung-score.XXXXXX)
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Training data and request bodies: generated text, ~1 KB per response.
python3 - "$WORK" "$BATCH" <<'PY'
import json, random, sys
work, batch = sys.argv[1], int(sys.argv[2])
rng = random.Random(11)
words = ("the a answer step because therefore total number of apples we see that so it is "
         "correct careful wrong guess maybe each then add multiply result equals first next").split()
def text(n=1000):
    out = []
    while sum(len(w) + 1 for w in out) < n:
        out.append(rng.choice(words))
    return " ".join(out)
with open(work + "/train.jsonl", "w") as f:
    for i in range(2000):
        f.write(json.dumps({"prompt": "question %d" % (i % 50), "chosen": text(), "rejected": text()}) + "\n")
with open(work + "/bodies.jsonl", "w") as f:
    for b in range(16):
        items = [{"prompt": "How many apples are there in total?", "response": text()}
                 for _ in range(batch)]
        f.write(json.dumps({"items": items}) + "\n")
PY

"$RUNGD" import --db "$WORK/s.db" --format trl --as comparisons "$WORK/train.jsonl" >/dev/null
"$RUNGD" train --db "$WORK/s.db" --activate >/dev/null 2>&1
TOKEN=$("$RUNGD" keys create --db "$WORK/s.db" --role pipeline --name bench | tail -n 1)

echo "== feature extraction alone: $BASE_REV's feat.c${PASS_REV:+ and $PASS_REV's} against this one, $ROUNDS interleaved rounds"
mkdir -p "$WORK/base"
git -C "$ROOT" archive "$BASE_REV" core | tar -x -C "$WORK/base"
CFLAGS_BENCH="-O3 -std=c11 -D_GNU_SOURCE"
cc $CFLAGS_BENCH -DBENCH_FEAT_LEGACY -I"$WORK/base/core" "$ROOT/tests/bench/bench_feat.c" \
    "$WORK/base/core/feat.c" -lm -o "$WORK/feat_base"
cc $CFLAGS_BENCH -I"$ROOT/core" "$ROOT/tests/bench/bench_feat.c" "$ROOT/core/feat.c" -lm \
    -o "$WORK/feat_now"
if [ -n "$PASS_REV" ]; then
    mkdir -p "$WORK/pass"
    git -C "$ROOT" archive "$PASS_REV" core | tar -x -C "$WORK/pass"
    cc $CFLAGS_BENCH -I"$WORK/pass/core" "$ROOT/tests/bench/bench_feat.c" \
        "$WORK/pass/core/feat.c" -lm -o "$WORK/feat_pass"
fi
# Each line: label, rate, checksum of the vectors (bench_feat's last field).
for r in $(seq "$ROUNDS"); do
    "$WORK/feat_base" "$N" | awk '{print "base", $1, $NF}'
    if [ -n "$PASS_REV" ]; then
        "$WORK/feat_pass" --hash fnv1a "$N" | awk '{print "pass_fnv1a", $1, $NF}'
        "$WORK/feat_pass" --hash fx "$N" | awk '{print "pass_fx", $1, $NF}'
    fi
    "$WORK/feat_now" --hash fnv1a "$N" | awk '{print "fnv1a", $1, $NF}'
    "$WORK/feat_now" --hash fx "$N" | awk '{print "fx", $1, $NF}'
done > "$WORK/feat.txt"
python3 - "$WORK/feat.txt" "$BASE_REV" "$PASS_REV" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
rate = {}
sums = {}
for k, v, c in rows:
    rate.setdefault(k, []).append(float(v))
    sums.setdefault(k, set()).add(c)
med = {k: statistics.median(v) for k, v in rate.items()}
ratio = lambda k, b: statistics.median(x / y for x, y in zip(rate[k], rate[b]))
print("extractor of %s (FNV-1a):  %7.0f texts/s/core" % (sys.argv[2], med["base"]))
print("this extractor, FNV-1a:      %7.0f texts/s/core, %.3fx the baseline (same vectors)" % (med["fnv1a"], ratio("fnv1a", "base")))
print("this extractor, FX (new):    %7.0f texts/s/core, %.3fx the baseline" % (med["fx"], ratio("fx", "base")))
if "pass_fx" in rate:
    for h in ("fnv1a", "fx"):
        same = sums[h] == sums["pass_" + h] and len(sums[h]) == 1
        print("%s, extractor of %s: %7.0f, this one: %7.0f texts/s/core, %.3fx (median of the rounds' ratios; vectors %s)"
              % (h, sys.argv[3], med["pass_" + h], med[h], ratio(h, "pass_" + h),
                 "the same" if same else "DIFFERENT"))
        if not same:
            sys.exit("the vectors differ from %s's" % sys.argv[3])
if sums["fnv1a"] != sums["base"]:
    sys.exit("FNV-1a vectors differ from %s's" % sys.argv[2])
PY

echo "== scoring in process (one thread, $ROUNDS rounds of $N)"
"$BUILD/tests/bench/bench_reward" score "$N" --rounds "$ROUNDS" | tee "$WORK/inproc.txt"
inproc_rate=$(sed -n 's/^with checkers, new hash FX (blob v3): *\([0-9]*\) responses.*/\1/p' "$WORK/inproc.txt")

if [ -n "$SCORE_BASE_REV" ]; then
    echo "== scoring in process: bench_reward of $SCORE_BASE_REV against this one, $ROUNDS interleaved rounds of $N"
    mkdir -p "$WORK/score_base"
    git -C "$ROOT" archive "$SCORE_BASE_REV" | tar -x -C "$WORK/score_base"
    meson setup "$WORK/score_base_build" "$WORK/score_base" --buildtype=release >/dev/null
    ninja -C "$WORK/score_base_build" tests/bench/bench_reward >/dev/null
    for r in $(seq "$ROUNDS"); do
        for tree in base now; do
            bin=$BUILD/tests/bench/bench_reward
            [ "$tree" = base ] && bin=$WORK/score_base_build/tests/bench/bench_reward
            "$bin" score "$N" --rounds 1 | sed -n "s/^\(with checkers\|features only\), new hash FX (blob v3): *\([0-9]*\) .*/$tree \1 \2/p"
        done
    done > "$WORK/score_cmp.txt"
    python3 - "$WORK/score_cmp.txt" "$SCORE_BASE_REV" <<'PY'
import statistics, sys
rate = {}
for line in open(sys.argv[1]):
    tree, rest = line.split(" ", 1)
    what, value = rest.rsplit(" ", 1)
    rate.setdefault((tree, what), []).append(float(value))
for what in ("with checkers", "features only"):
    b, n = rate[("base", what)], rate[("now", what)]
    print("FX layer %-14s %s: %7.0f, this tree: %7.0f responses/s/core, %.3fx (median of %d rounds' ratios)"
          % (what + ",", sys.argv[2], statistics.median(b), statistics.median(n),
             statistics.median(x / y for x, y in zip(n, b)), len(n)))
PY
fi

"$RUNGD" serve --db "$WORK/s.db" --listen 127.0.0.1:0 --quiet > "$WORK/out" 2> "$WORK/err" &
PID=$!
for _ in $(seq 50); do
    PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/ .*|\1|p' "$WORK/out" | head -n 1)
    [ -n "$PORT" ] && break
    sleep 0.1
done

echo "== over HTTP: POST /v1/score, $BATCH responses per request, $CONNS connections, ${SECONDS_PER}s"
BODY_FILE="$WORK/bodies.jsonl" TOKEN="$TOKEN" wrk -t2 -c"$CONNS" -d"${SECONDS_PER}s" --latency \
    -s "$ROOT/tests/bench/http/post_items.lua" "http://127.0.0.1:$PORT/v1/score" > "$WORK/wrk.txt"
rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")
grep -q "non-2xx (thread-local count, thread 1): 0" "$WORK/wrk.txt" || { cat "$WORK/wrk.txt"; echo "errors in the run"; exit 1; }
cores=$(nproc)
python3 - "$rps" "$BATCH" "$inproc_rate" "$cores" "$p50" "$p99" <<'PY'
import sys
rps, batch, inproc, cores, p50, p99 = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
http = rps * batch
print("score in process:        %9.0f responses/s/core, default layer (checkers, FX)" % inproc)
print("score over HTTP:         %9.0f responses/s (%.0f req/s x %d), p50 %s, p99 %s" % (http, rps, batch, p50, p99))
print("HTTP per core:           %9.0f responses/s/core (%d cores shared by server and wrk)" % (http / cores, cores))
print("ratio HTTP/core : in-process: %.2f" % (http / cores / inproc))
PY
