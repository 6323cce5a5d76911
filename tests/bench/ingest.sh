#!/bin/sh
# ingest.sh - issues 2 and 14: durable ingest over HTTP against two ceilings
# measured in the same run: bare_server (libmicrohttpd + jansson, no storage)
# and raw_sqlite (the same rows straight into SQLite, WAL + synchronous=FULL).
# Closed loop (each connection sends when its last answer is in) for the
# maximum rates, then open loop (loadgen --rate: paced sends, latency from
# each request's due time) at half of rungd's maximum, rungd and the bare
# server at the same rate; and the disk's own fdatasync latency, the floor
# of any durable answer.
#
# usage: tests/bench/ingest.sh [BUILD_DIR]        (default: build-bench)
# env:   SECONDS_PER=10  seconds per measurement (after WARMUP=2)
#        CONNS=64        connections
#        PIN="split none" pinning modes to run: split = server on CPU 0,
#                        load generator on CPU 1; none = no taskset
#        DATA            shared data dir (default ../shared/data next to the repo;
#                        generated text is used when it is absent)
#        WRK=1           also cross-check single-item POSTs with wrk: the
#                        issue's own setting, a RATIO[..] wrk line
#        WRK_THREADS=2   wrk's threads (-t2, as issue 14 measured)
#        KEEP=1          keep the scratch dir
#        RUNGD=PATH      the rungd to measure (default: BUILD_DIR/server/rungd)
#        ONLY=batch      only the batch figures of issue 14: 1,000-item batches
#                        from one client posting back to back and from 4
#                        connections (no pinning), against raw SQLite in the
#                        same run: a plain table (36-character key + the
#                        item's JSON, raw_sqlite --plain) and rung's item +
#                        task rows, each in one transaction
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-bench}
SECONDS_PER=${SECONDS_PER:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
PIN=${PIN:-split none}
DATA=${DATA:-$ROOT/../shared/data}
WRK=${WRK:-1}
WRK_THREADS=${WRK_THREADS:-2}
BENCH=$BUILD/tests/bench/http
RUNGD=${RUNGD:-$BUILD/server/rungd}

# ---- tools and build ----
if [ "$WRK" = 1 ] && ! command -v wrk >/dev/null; then
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; } ||
        { echo "cannot install wrk; running without it"; WRK=0; }
fi
command -v python3 >/dev/null || { echo "missing python3"; exit 1; }
if [ ! -d "$BUILD" ]; then
    meson setup "$BUILD" "$ROOT" --buildtype=release
fi
ninja -C "$BUILD" server/rungd tests/bench/http/loadgen tests/bench/http/bare_server \
    tests/bench/http/raw_sqlite >/dev/null

WORK=$(mktemp -d /tmp/rung-ingest.XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    [ "${KEEP:-0}" = 1 ] && echo "scratch kept in $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# ---- data: ~1 KB single items ----
python3 "$ROOT/tests/bench/ingest_items.py" "$DATA/hh-rlhf-harmless/pairs.jsonl" "$WORK"

# ---- helpers ----
cpus_server() { [ "$1" = split ] && echo 0 || echo 0-$(($(nproc) - 1)); }
cpus_load() { [ "$1" = split ] && echo 1 || echo 0-$(($(nproc) - 1)); }

# start_rungd DB CPUS [log]: starts rungd on a free port; sets PORT and RPID.
start_rungd() {
    db=$1 cpus=$2 mode=${3:-quiet}
    q=--quiet
    [ "$mode" = log ] && q=
    taskset -c "$cpus" "$RUNGD" serve --db "$db" --listen 127.0.0.1:0 --gold-rate 0 $q \
        >/dev/null 2>"$db.err" &
    RPID=$!
    PIDS="$PIDS $RPID"
    PORT=""
    for _ in $(seq 100); do
        PORT=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$db.err" | head -1)
        [ -n "$PORT" ] && return 0
        sleep 0.05
    done
    echo "rungd did not start:"; cat "$db.err"; exit 1
}
start_bare() {
    taskset -c "$1" "$BENCH/bare_server" >"$WORK/bare.out" 2>&1 &
    RPID=$!
    PIDS="$PIDS $RPID"
    PORT=""
    for _ in $(seq 100); do
        PORT=$(sed -n 's/^port \([0-9]*\)/\1/p' "$WORK/bare.out")
        [ -n "$PORT" ] && return 0
        sleep 0.05
    done
    echo "bare_server did not start"; exit 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
new_db() { # new_db NAME: a fresh rung database and a pipeline key; sets TOKEN
    rm -f "$WORK/$1.db"*
    TOKEN=$("$RUNGD" keys create --db "$WORK/$1.db" --role pipeline --name bench | tail -1)
}
load() { # load NAME CPUS ITEMS_PER_REQ BODIES [LOADGEN_OPTION...]
    name=$1 cpus=$2 per=$3 file=$4
    shift 4
    taskset -c "$cpus" "$BENCH/loadgen" post --port "$PORT" --conns "$CONNS" --path /v1/items \
        --bodies "$file" --token "$TOKEN" --items-per-req "$per" --duration "$SECONDS_PER" \
        --warmup "$WARMUP" --name "$name" "$@" || true
}
ticks() { # ticks PID: CPU clock ticks (user + system) per thread name, "name=ticks ..."
    for t in /proc/"$1"/task/*; do
        printf '%s %s\n' "$(tr -d ' ' <"$t/comm")" "$(cut -d' ' -f14,15 "$t/stat" 2>/dev/null)"
    done | awk 'NF == 3 {c[$1] += $2 + $3} END {for (k in c) printf "%s=%d ", k, c[k]}'
}
# cpu_load NAME CPUS ITEMS_PER_REQ BODIES: load, then the server's CPU time per
# item by thread (MHD workers = HTTP, rung-writer, rung-ckpt, the rest),
# counted from the end of the warm-up; a figure the machine's other load
# disturbs far less than a rate.
cpu_load() {
    load "$@" >"$WORK/cpu_load.out" &
    lp=$!
    sleep "$WARMUP"
    before=$(ticks "$RPID")
    wait "$lp" || true
    after=$(ticks "$RPID")
    cat "$WORK/cpu_load.out"
    items=$(($(val requests "$WORK/cpu_load.out" | cut -d. -f1) * $3))
    echo "$before | $after" | awk -v n="$1" -v items="$items" -v hz="$(getconf CLK_TCK)" '{
        side = 0
        for (i = 1; i <= NF; i++) {
            if ($i == "|") { side = 1; continue }
            split($i, kv, "="); k = kv[1] ~ /^MHD/ ? "http" : kv[1] ~ /^rung-(writer|ckpt)$/ ? substr(kv[1], 6) : "other"
            if (side) a[k] += kv[2]; else b[k] += kv[2]
        }
        if (!items) exit
        out = ""; tot = 0
        for (k in a) { us = (a[k] - b[k]) * 1e6 / hz / items; tot += us; out = out sprintf(" %s=%.1f", k, us) }
        printf "cpu_per_item %s us:%s total=%.1f\n", n, out, tot }'
}
wrk_fig() { # req/s, p50, p99 from wrk --latency output
    awk '/Requests\/sec/ {r = $2} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
         /Non-2xx/ {bad = $NF}
         END {printf "req_s=%s p50=%s p99=%s non2xx=%d (wrk, %d threads)", r, p50, p99, bad, t}' t="$WRK_THREADS" "$1"
}
val() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" "$2" | head -1; }

# batch_figures: issue 14's batch targets (ONLY=batch).
batch_figures() {
    R=$WORK/results.batch
    : >"$R"
    echo "host: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); ${SECONDS_PER}s per figure"
    for c in 1 4; do
        new_db "batch$c"
        start_rungd "$WORK/batch$c.db" 0-$(($(nproc) - 1))
        CONNS=$c cpu_load "rungd_batch1000_conns$c" 0-$(($(nproc) - 1)) 1000 "$WORK/batch.jsonl" | tee -a "$R"
        stop "$RPID"
    done
    new_db rawp
    "$BENCH/raw_sqlite" --db "$WORK/rawp.db" --items "$WORK/items.jsonl" --seconds "$SECONDS_PER" \
        --txn 0 --plain --uuid7 | sed 's/^/raw_sqlite_plain_one_txn /' | tee -a "$R"
    new_db rawt
    "$BENCH/raw_sqlite" --db "$WORK/rawt.db" --items "$WORK/items.jsonl" --seconds "$SECONDS_PER" \
        --txn 0 --tasks --uuid7 | sed 's/^/raw_sqlite_items_tasks_one_txn /' | tee -a "$R"
    plain=$(grep '^raw_sqlite_plain_one_txn ' "$R" | sed -n 's/.* rows_s=\([0-9.]*\).*/\1/p')
    rows=$(grep '^raw_sqlite_items_tasks_one_txn ' "$R" | sed -n 's/.* rows_s=\([0-9.]*\).*/\1/p')
    for c in 1 4; do
        want=$([ $c = 1 ] && echo 40 || echo 70)
        items=$(grep "^rungd_batch1000_conns$c " "$R" | sed -n 's/.* items_s=\([0-9.]*\).*/\1/p')
        awk -v c=$c -v i="$items" -v p="$plain" -v r="$rows" -v w=$want 'BEGIN {
            a = p ? 100 * i / p : 0; b = r ? 100 * i / r : 0
            printf "RATIO[batch, %d connection%s] rungd %.0f items/s / raw SQLite plain %.0f rows/s = %.1f%% (target >= %d%%: %s); / raw SQLite item+task rows %.0f rows/s = %.1f%%\n",
                c, (c > 1 ? "s" : ""), i, p, a, w, (a >= w ? "met" : "MISSED"), r, b }'
    done
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
if [ "${ONLY:-}" = batch ]; then
    batch_figures
    exit 0
fi

echo "host: $(nproc) cores, $(uname -r); $CONNS connections, ${SECONDS_PER}s per figure after ${WARMUP}s warm-up"
for pin in $PIN; do
    S=$(cpus_server $pin) L=$(cpus_load $pin)
    R=$WORK/results.$pin
    : >"$R"
    echo
    echo "== pinning: $pin (server CPUs $S, load generator CPUs $L)"

    start_bare "$S"; TOKEN=none
    cpu_load bare_single "$L" 1 "$WORK/items.jsonl" | tee -a "$R"
    cpu_load bare_batch1000 "$L" 1000 "$WORK/batch.jsonl" | tee -a "$R"
    if [ "$WRK" = 1 ]; then
        BODY_FILE=$WORK/items.jsonl TOKEN=none taskset -c "$L" wrk -t"$WRK_THREADS" -c"$CONNS" \
            -d"${SECONDS_PER}s" --latency -s "$ROOT/tests/bench/http/post_items.lua" \
            "http://127.0.0.1:$PORT/v1/items" >"$WORK/wrk.bare" 2>&1 || true
        echo "wrk_bare_single $(wrk_fig "$WORK/wrk.bare")" | tee -a "$R"
    fi
    stop "$RPID"

    new_db single
    start_rungd "$WORK/single.db" "$S"
    cpu_load rungd_single "$L" 1 "$WORK/items.jsonl" | tee -a "$R"
    if [ "$WRK" = 1 ]; then
        BODY_FILE=$WORK/items.jsonl TOKEN=$TOKEN taskset -c "$L" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${SECONDS_PER}s" \
            --latency -s "$ROOT/tests/bench/http/post_items.lua" \
            "http://127.0.0.1:$PORT/v1/items" >"$WORK/wrk.rungd" 2>&1 || true
        echo "wrk_rungd_single $(wrk_fig "$WORK/wrk.rungd")" | tee -a "$R"
    fi
    stop "$RPID"

    # Open loop at half of rungd's closed-loop maximum: rungd, then the bare
    # server at the same rate (the latency of HTTP and the load generator).
    half=$(awk '/^rungd_single / {for (i = 1; i <= NF; i++) if ($i ~ /^req_s=/) print int(substr($i, 7) / 2)}' "$R" | head -1)
    if [ -n "$half" ] && [ "$half" -gt 0 ]; then
        new_db open
        start_rungd "$WORK/open.db" "$S"
        load rungd_single_open_loop "$L" 1 "$WORK/items.jsonl" --rate "$half" | tee -a "$R"
        stop "$RPID"
        start_bare "$S"; TOKEN=none
        load bare_single_open_loop "$L" 1 "$WORK/items.jsonl" --rate "$half" | tee -a "$R"
        stop "$RPID"
    fi
    # The floor of a durable answer: one fdatasync of the disk the WAL is on,
    # after a 16 KB append (about one small group commit), timed for as long.
    python3 - "$WORK/sync.probe" "$SECONDS_PER" <<'PY' | tee -a "$R"
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
lat, end = [], time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    os.write(fd, b"x" * 16384)
    t = time.perf_counter()
    os.fdatasync(fd)
    lat.append((time.perf_counter() - t) * 1000)
os.close(fd)
os.unlink(sys.argv[1])
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))]
print("disk_fdatasync syncs=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f" % (len(lat), q(0.5), q(0.99), lat[-1]))
PY

    new_db batch
    start_rungd "$WORK/batch.db" "$S"
    cpu_load rungd_batch1000 "$L" 1000 "$WORK/batch.jsonl" | tee -a "$R"
    stop "$RPID"

    new_db raw1
    taskset -c "$S" "$BENCH/raw_sqlite" --db "$WORK/raw1.db" --items "$WORK/items.jsonl" \
        --seconds "$SECONDS_PER" --txn 0 --tasks --uuid7 | sed 's/^/raw_sqlite_one_txn /' | tee -a "$R"
    new_db raw2
    taskset -c "$S" "$BENCH/raw_sqlite" --db "$WORK/raw2.db" --items "$WORK/items.jsonl" \
        --seconds "$SECONDS_PER" --txn 1000 --tasks --uuid7 | sed 's/^/raw_sqlite_txn1000 /' | tee -a "$R"
    new_db raw3
    taskset -c "$S" "$BENCH/raw_sqlite" --db "$WORK/raw3.db" --items "$WORK/items.jsonl" \
        --seconds "$SECONDS_PER" --txn 0 --uuid7 | sed 's/^/raw_sqlite_items_only_one_txn /' | tee -a "$R"
    new_db raw4
    taskset -c "$S" "$BENCH/raw_sqlite" --db "$WORK/raw4.db" --items "$WORK/items.jsonl" \
        --seconds "$SECONDS_PER" --txn 64 --tasks --uuid7 | sed 's/^/raw_sqlite_txn64 /' | tee -a "$R"
    new_db raw5
    taskset -c "$S" "$BENCH/raw_sqlite" --db "$WORK/raw5.db" --items "$WORK/items.jsonl" \
        --seconds "$SECONDS_PER" --txn 0 --tasks | sed 's/^/raw_sqlite_one_txn_uuid4 /' | tee -a "$R"
    rm -f "$WORK"/*.db "$WORK"/*.db-*

    if [ "$pin" = "$(echo $PIN | awk '{print $1}')" ]; then
        new_db logged
        start_rungd "$WORK/logged.db" "$S" log
        load rungd_single_logging "$L" 1 "$WORK/items.jsonl" | tee -a "$R"
        stop "$RPID"
        rm -f "$WORK"/*.db "$WORK"/*.db-*
    fi

    b=$(grep '^bare_single ' "$R" | head -1) rs=$(grep '^rungd_single ' "$R" | head -1)
    rb=$(grep '^rungd_batch1000 ' "$R" | head -1)
    raw=$(grep '^raw_sqlite_one_txn ' "$R" | head -1)
    echo "$b" >"$WORK/b"; echo "$rs" >"$WORK/rs"; echo "$rb" >"$WORK/rb"; echo "$raw" >"$WORK/raw"
    grep '^rungd_single_open_loop ' "$R" | head -1 >"$WORK/ro"
    grep '^bare_single_open_loop ' "$R" | head -1 >"$WORK/bo"
    grep '^disk_fdatasync ' "$R" | head -1 >"$WORK/ds"
    awk -v rate="$(val open_loop_rate "$WORK/ro")" -v rp="$(val p99_ms "$WORK/ro")" \
        -v rm="$(val max_ms "$WORK/ro")" -v bp="$(val p99_ms "$WORK/bo")" -v dp="$(val p99_ms "$WORK/ds")" \
        -v pin="$pin" 'BEGIN {
        if (rate) printf "OPEN[%s] at %d req/s (half of rungd'"'"'s maximum): rungd p99 %.2f ms (max %.1f ms), bare server p99 %.2f ms; the disk'"'"'s fdatasync p99 %.2f ms\n",
            pin, rate, rp, rm, bp, dp }'
    awk -v br="$(val req_s "$WORK/b")" -v rr="$(val req_s "$WORK/rs")" -v p99="$(val p99_ms "$WORK/rs")" \
        -v items="$(val items_s "$WORK/rb")" -v raw="$(val rows_s "$WORK/raw")" -v pin="$pin" 'BEGIN {
        r1 = br ? 100 * rr / br : 0; r2 = raw ? 100 * items / raw : 0
        printf "RATIO[%s] single: rungd %.0f req/s / bare %.0f req/s = %.1f%% (target >= 40%%: %s); rungd p99 %.2f ms (target <= 10 ms: %s)\n",
            pin, rr, br, r1, (r1 >= 40 ? "met" : "MISSED"), p99, (p99 <= 10 ? "met" : "MISSED")
        printf "RATIO[%s] batch: rungd %.0f items/s / raw SQLite %.0f rows/s (one txn, item+task rows) = %.1f%% (target >= 70%%: %s)\n",
            pin, items, raw, r2, (r2 >= 70 ? "met" : "MISSED")
    }'
    if [ "$WRK" = 1 ]; then
        grep '^wrk_bare_single ' "$R" | head -1 >"$WORK/wb"
        grep '^wrk_rungd_single ' "$R" | head -1 >"$WORK/wr"
        awk -v br="$(val req_s "$WORK/wb")" -v rr="$(val req_s "$WORK/wr")" -v t="$WRK_THREADS" \
            -v p99="$(sed -n 's/.* p99=\([0-9.]*[mu]s\).*/\1/p' "$WORK/wr")" -v pin="$pin" 'BEGIN {
            r = br ? 100 * rr / br : 0
            printf "RATIO[%s] single, wrk -t%d: rungd %.0f req/s / bare %.0f req/s = %.1f%% (target >= 40%%: %s); rungd p99 %s\n",
                pin, t, rr, br, r, (r >= 40 ? "met" : "MISSED"), p99 }'
    fi
    bc=$(sed -n 's/^cpu_per_item bare_single us:.* total=\([0-9.]*\)/\1/p' "$R" | head -1)
    rc=$(sed -n 's/^cpu_per_item rungd_single us:.* total=\([0-9.]*\)/\1/p' "$R" | head -1)
    awk -v b="$bc" -v r="$rc" -v pin="$pin" 'BEGIN {
        if (b && r) printf "CPU[%s] single: rungd %.1f us per item / bare %.1f us per request = %.2fx (the 40%% rate target, in CPU terms: <= 2.50x)\n",
            pin, r, b, r / b }'
done
