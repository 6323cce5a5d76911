#!/bin/sh
# tasks.sh - issue 4: the rater round trip GET /v1/tasks/next then
# POST /v1/tasks/{id}/labels {"answer":"a"} with 200 raters (200 rater keys,
# one keep-alive connection each), with 1,000 and with 1,000,000 queued tasks.
#
# Method: each case runs ROUNDS measured rounds (plus one warm-up round) of
# 200 raters x PER_CONN round trips; between rounds the queue is topped up by
# POSTing as many pair items as were labelled, so every round of the 1,000
# case starts with 1,000 queued tasks and never drains (it ends at 1,000 -
# 200 x PER_CONN). The 1,000,000 case is seeded with `rungd import --format
# trl --as items` from a generated trl file and topped up the same way.
# Latencies of all measured rounds are pooled for p50/p99. Two client paces
# (THINKS): think 0 = closed loop, every rater fires its next round trip the
# moment the last one ends (200 in flight: a saturation test); think T = each
# rater waits uniform 0..2T ms before each round trip (paced raters; humans
# take seconds per label, so this is still far busier than real use).
#
# usage: tests/bench/tasks.sh [BUILD_DIR]          (default: build-bench)
# env:   RATERS=200 PER_CONN=2 ROUNDS=10 CASES="1000 1000000" THINKS="0 500"
#        PIN="split none" (split: server on CPU 0, load generator on CPU 1)
#        ABORT_MS=5000 (a round with a p50 above it ends that case)
#        DATA (shared data dir; generated text when absent), KEEP=1
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-bench}
RATERS=${RATERS:-200}
PER_CONN=${PER_CONN:-2}
ROUNDS=${ROUNDS:-10}
CASES=${CASES:-1000 1000000}
THINKS=${THINKS:-0 500}
PIN=${PIN:-split none}
DATA=${DATA:-$ROOT/../shared/data}
BENCH=$BUILD/tests/bench/http
RUNGD=$BUILD/server/rungd

command -v python3 >/dev/null || { echo "missing python3"; exit 1; }
command -v curl >/dev/null || apt-get install -y curl >/dev/null
if [ ! -d "$BUILD" ]; then
    meson setup "$BUILD" "$ROOT" --buildtype=release
fi
ninja -C "$BUILD" server/rungd tests/bench/http/loadgen >/dev/null

WORK=$(mktemp -d /tmp/rung-tasks.XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    [ "${KEEP:-0}" = 1 ] && echo "scratch kept in $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# ---- data: pair items (HH prompt + chosen/rejected final replies) ----
MAXN=0
for n in $CASES; do [ "$n" -gt "$MAXN" ] && MAXN=$n; done
python3 - "$DATA/hh-rlhf-harmless/pairs.jsonl" "$WORK" "$MAXN" "$((RATERS * PER_CONN))" <<'EOF'
import json, os, random, sys
src, work, maxn, refill = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tag = "\n\nAssistant:"
pairs = []
if os.path.exists(src):
    for line in open(src, encoding="utf-8"):
        x = json.loads(line)
        c, r = x["chosen"], x["rejected"]
        i, j = c.rfind(tag), r.rfind(tag)
        pairs.append((c[:i + len(tag)], c[i + len(tag):].strip(), r[j + len(tag):].strip()))
if len(pairs) < 50:
    rnd = random.Random(1)
    words = "the a model answer question user assistant helpful because which would".split()
    text = lambda n: " ".join(rnd.choice(words) for _ in range(n // 6))
    pairs = [("Human: " + text(500) + tag, text(200), text(200)) for _ in range(500)]
with open(os.path.join(work, "trl.jsonl"), "w") as f:
    for k in range(maxn):
        p, a, b = pairs[k % len(pairs)]
        f.write(json.dumps({"prompt": p, "chosen": a, "rejected": b}) + "\n")
def batch(n, off):
    return json.dumps({"items": [{"prompt": pairs[(off + k) % len(pairs)][0],
                                  "responses": list(pairs[(off + k) % len(pairs)][1:])}
                                 for k in range(n)]})
open(os.path.join(work, "refill.json"), "w").write(batch(refill, 7))
size = sum(len(p.encode()) + len(a.encode()) + len(b.encode()) for p, a, b in pairs) / len(pairs)
print("data: %d distinct pairs, mean prompt+responses %.0f bytes" % (len(pairs), size))
EOF

cpus_server() { [ "$1" = split ] && echo 0 || echo 0-$(($(nproc) - 1)); }
cpus_load() { [ "$1" = split ] && echo 1 || echo 0-$(($(nproc) - 1)); }

# make_db N: the DB with N queued tasks, RATERS rater keys, a pipeline key.
make_db() {
    db=$WORK/tasks$1.db
    if [ ! -f "$db.ready" ]; then
        rm -f "$db" "$db"-*
        head -n "$1" "$WORK/trl.jsonl" >"$WORK/seed.jsonl"
        t0=$(date +%s)
        "$RUNGD" import --db "$db" --format trl --as items "$WORK/seed.jsonl" >/dev/null 2>&1
        "$RUNGD" keys create --db "$db" --role pipeline --name pipe | tail -1 >"$db.pipe"
        : >"$db.tokens"
        i=0
        while [ $i -lt "$RATERS" ]; do
            "$RUNGD" keys create --db "$db" --role rater --name "rater$i" | tail -1 >>"$db.tokens"
            i=$((i + 1))
        done
        echo "seeded $1 tasks and $RATERS rater keys in $(($(date +%s) - t0)) s"
        cp "$db" "$db.seed"   # pristine copy: each pinning mode starts from it
        touch "$db.ready"
    else
        cp "$db.seed" "$db"
        rm -f "$db-wal" "$db-shm"
    fi
}

start_rungd() {
    db=$1 cpus=$2
    taskset -c "$cpus" "$RUNGD" serve --db "$db" --listen 127.0.0.1:0 --gold-rate 0 --quiet \
        >/dev/null 2>"$db.err" &
    RPID=$!
    PIDS="$PIDS $RPID"
    PORT=""
    for _ in $(seq 200); do
        PORT=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$db.err" | head -1)
        [ -n "$PORT" ] && return 0
        sleep 0.05
    done
    echo "rungd did not start:"; cat "$db.err"; exit 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
open_tasks() { sqlite3 "file:$1?mode=ro" "SELECT count(*) FROM tasks WHERE state='open'" 2>/dev/null || echo "?"; }

echo "host: $(nproc) cores; $RATERS raters x $PER_CONN round trips x $ROUNDS rounds (+1 warm-up)"
for pin in $PIN; do
    S=$(cpus_server $pin) L=$(cpus_load $pin)
    echo
    echo "== pinning: $pin (server CPUs $S, load generator CPUs $L)"
    for n in $CASES; do
        make_db "$n"
        db=$WORK/tasks$n.db
        start_rungd "$db" "$S"
        for think in $THINKS; do
        lat=$WORK/lat.$pin.$n.$think
        : >"$lat"
        rm -f "$WORK/aborted.out"
        r=0
        while [ $r -le "$ROUNDS" ]; do
            if [ $r -eq 0 ]; then out=/dev/null; else out=$lat; fi
            taskset -c "$L" "$BENCH/loadgen" tasks --port "$PORT" --conns "$RATERS" \
                --tokens "$db.tokens" --per-conn "$PER_CONN" --latencies "$out" \
                --think-ms "$think" --name "round$r" >"$WORK/round.out" || true
            [ $r -eq 1 ] && sed 's/^/  first measured round: /' "$WORK/round.out"
            if grep -q "errors=[1-9]\|empty=[1-9]" "$WORK/round.out"; then
                echo "  round $r had errors or empty answers:"; cat "$WORK/round.out"
            fi
            # a round whose p50 is past ABORT_MS (default 5 s) ends the case:
            # the remaining rounds would only repeat it, for minutes
            if awk -v m="${ABORT_MS:-5000}" '{for (i = 1; i <= NF; i++) if ($i ~ /^p50_ms=/) {split($i, a, "="); exit !(a[2] > m)}; exit 1}' "$WORK/round.out"; then
                echo "  round $r: p50 over ${ABORT_MS:-5000} ms, case stopped after it:"; cat "$WORK/round.out"
                cp "$WORK/round.out" "$WORK/aborted.out"
                r=$((ROUNDS + 1))
                continue
            fi
            # top the queue up by what this round labelled
            curl -s -o /dev/null -H "Authorization: Bearer $(cat "$db.pipe")" \
                -H 'Content-Type: application/json' --data-binary @"$WORK/refill.json" \
                "http://127.0.0.1:$PORT/v1/items"
            r=$((r + 1))
        done
        if [ -s "$lat" ]; then
            fig=$("$BENCH/loadgen" pct "$lat" | sed 's/^pct //')
        else  # only the warm-up round ran (aborted): its own figures
            fig="$(sed 's/.* \(p50_ms=[^ ]* p90_ms=[^ ]* p99_ms=[^ ]* max_ms=[^ ]*\).*/\1/' "$WORK/aborted.out") (warm-up round only)"
        fi
        [ -f "$WORK/aborted.out" ] && fig="$fig ABORTED"
        echo "tasks_$n[$pin,think=$think] open_after=$(open_tasks "$db") round_trips $fig" |
            tee -a "$WORK/results.$pin"
        done
        stop "$RPID"
    done
    for think in $THINKS; do
        a=$(sed -n "s/^tasks_1000\[$pin,think=$think\].*p99_ms=\([0-9.]*\).*/\1/p" "$WORK/results.$pin")
        b=$(sed -n "s/^tasks_1000000\[$pin,think=$think\].*p99_ms=\([0-9.]*\).*/\1/p" "$WORK/results.$pin")
        [ -n "$a" ] && [ -n "$b" ] || continue
        awk -v a="$a" -v b="$b" -v tag="$pin,think=$think" 'BEGIN {
            printf "RATIO[%s] p99 1k %.2f ms (target <= 5 ms: %s); p99 1M %.2f ms (target <= 5 ms: %s); 1M/1k = %.2fx (target <= 1.5x: %s)\n",
                tag, a, (a <= 5 ? "met" : "MISSED"), b, (b <= 5 ? "met" : "MISSED"), b / a, (b / a <= 1.5 ? "met" : "MISSED")
        }'
    done
done
