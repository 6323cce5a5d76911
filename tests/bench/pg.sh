#!/bin/sh
# pg.sh - issue 16: one daemon on PostgreSQL against one on SQLite (the
# same-run baseline), and two daemons sharing one PostgreSQL database.
# On a 2-core machine PostgreSQL, the daemons and the load generator share
# the cores: the figures say what this machine does, not what a server with
# its own database host would.
#
# Measures, per setup, with tests/bench/http/loadgen (closed loop):
#   ingest single   POST /v1/items, one ~1 KB item per request, CONNS connections
#   ingest batched  POST /v1/items, 100 items per request
#   rater trip      GET /v1/tasks/next + POST /v1/tasks/{id}/labels, RATERS raters
# Two daemons: the connections are split between them (one loadgen each,
# run at once), and the rates are summed.
#
# usage: tests/bench/pg.sh [BUILD_DIR]      (default: build-bench)
# env:   SECONDS_PER=8 WARMUP=2 CONNS=32 RATERS=64 SETUPS="sqlite pg pg2" KEEP=1
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-bench}
SECONDS_PER=${SECONDS_PER:-8}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-32}
RATERS=${RATERS:-64}
SETUPS=${SETUPS:-sqlite pg pg2}
BENCH=$BUILD/tests/bench/http
RUNGD=$BUILD/server/rungd

if [ ! -d "$BUILD" ]; then
    meson setup "$BUILD" "$ROOT" --buildtype=release
fi
ninja -C "$BUILD" server/rungd tests/bench/http/loadgen >/dev/null

WORK=$(mktemp -d /tmp/rung-pgbench.XXXXXX)
chmod 755 "$WORK"
PIDS=""
BASE=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    [ -n "$BASE" ] && "$ROOT/tests/pg/cluster.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
    [ "${KEEP:-0}" = 1 ] && echo "scratch kept in $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

BASE=$("$ROOT/tests/pg/cluster.sh" start "$WORK/pg")
PSQL=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql

# ---- data: ~1 KB pair items, generated ----
python3 - "$WORK" <<'EOF'
import json, os, random, sys
rnd = random.Random(1)
words = ("the a model answer question user assistant helpful harmless because "
         "which would could should explain reason example step result value").split()
def text(n):
    out = []
    while sum(len(w) + 1 for w in out) < n:
        out.append(rnd.choice(words))
    return " ".join(out)
items = [{"prompt": "Q%d " % k + text(500), "responses": [text(250), text(250)]}
         for k in range(1000)]
with open(os.path.join(sys.argv[1], "items.jsonl"), "w") as f:  # one item a request
    for it in items:
        f.write(json.dumps({"items": [it]}) + "\n")
with open(os.path.join(sys.argv[1], "batch.jsonl"), "w") as f:  # 100 items a request
    for b in range(10):
        f.write(json.dumps({"items": items[b * 100:(b + 1) * 100]}) + "\n")
EOF

# db_for SETUP NAME: a fresh database of the setup's backend
db_for() {
    case "$1" in
    sqlite) echo "$WORK/$2.db" ;;
    *)
        "$PSQL" -q "$BASE" -c "CREATE DATABASE $2" >/dev/null
        echo "$BASE" | sed "s|:///postgres?|:///$2?|"
        ;;
    esac
}

# start DB: a daemon on a free port; appends its port to PORTS
start() {
    log="$WORK/d$$.$(date +%s%N).err"
    "$RUNGD" serve --db "$1" --listen 127.0.0.1:0 --gold-rate 0 --quiet >/dev/null 2>"$log" &
    PIDS="$PIDS $!"
    for _ in $(seq 200); do
        p=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$log" | head -1)
        if [ -n "$p" ]; then PORTS="$PORTS $p"; return 0; fi
        sleep 0.05
    done
    echo "rungd did not start:"; cat "$log"; exit 1
}

# figures NAME FILE...: sums req_s / items_s, takes the worst p50/p99
figures() {
    name=$1
    shift
    awk -v name="$name" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        req += v["req_s"]; items += v["items_s"]; err += v["errors"]
        if (v["p50_ms"] > p50) p50 = v["p50_ms"]
        if (v["p99_ms"] > p99) p99 = v["p99_ms"]
    } END {
        printf "%-28s req_s=%.0f", name, req
        if (items > 0) printf " items_s=%.0f", items
        printf " p50_ms=%.2f p99_ms=%.2f errors=%d\n", p50, p99, err
    }' "$@"
}

# run_setup SETUP: daemons up, three measurements, daemons down
run_setup() {
    setup=$1 n=1
    [ "$setup" = pg2 ] && n=2
    db=$(db_for "$setup" "b_$setup")
    TOKEN=$("$RUNGD" keys create --db "$db" --role pipeline --name bench | tail -1)
    : >"$WORK/$setup.tokens"
    for i in $(seq "$RATERS"); do
        "$RUNGD" keys create --db "$db" --role rater --name "r$i" | tail -1 >>"$WORK/$setup.tokens"
    done
    PORTS=""
    before=$PIDS
    for _ in $(seq "$n"); do start "$db"; done
    for per in 1 100; do
        conns=$CONNS bodies=$WORK/items.jsonl
        [ "$per" = 100 ] && conns=8 bodies=$WORK/batch.jsonl
        k=0
        for p in $PORTS; do
            k=$((k + 1))
            "$BENCH/loadgen" post --port "$p" --conns $((conns / n)) --path /v1/items \
                --bodies "$bodies" --token "$TOKEN" --items-per-req "$per" \
                --duration "$SECONDS_PER" --warmup "$WARMUP" --name x >"$WORK/out.$k" &
            LG="$LG $!"
        done
        wait_loadgens
        figures "$setup ingest x$per" $(outs)
    done
    k=0
    for p in $PORTS; do
        k=$((k + 1))
        half=$((RATERS / n))
        sed -n "$(((k - 1) * half + 1)),$((k * half))p" "$WORK/$setup.tokens" >"$WORK/tok.$k"
        "$BENCH/loadgen" tasks --port "$p" --conns "$half" --tokens "$WORK/tok.$k" \
            --duration "$SECONDS_PER" --warmup "$WARMUP" --name x >"$WORK/out.$k" &
        LG="$LG $!"
    done
    wait_loadgens
    figures "$setup rater round trip" $(outs)
    for p in $PIDS; do
        case " $before " in *" $p "*) ;; *) kill "$p"; wait "$p" 2>/dev/null || true ;; esac
    done
    PIDS=$before
}

LG=""
wait_loadgens() {
    for p in $LG; do wait "$p" || true; done
    LG=""
}
outs() { ls "$WORK"/out.*; }

echo "pg.sh: ${SECONDS_PER}s per figure after ${WARMUP}s warm-up; $CONNS connections (8 for batches), $RATERS raters; $(nproc) cores shared by PostgreSQL, daemons and load"
for s in $SETUPS; do
    rm -f "$WORK"/out.*
    run_setup "$s"
done
