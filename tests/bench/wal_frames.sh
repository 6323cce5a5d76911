#!/bin/sh
# wal_frames.sh - issue 14: where the WAL frames of durable single-item
# ingest go, b-tree by b-tree, and what the writer pays for them.
#
# rungd takes single ~1 KB items from CONNS connections (closed loop); near
# the end of the run the WAL file is copied, and each of its frames (one
# page image each) is mapped to the table or index that owns the page
# (SQLite's dbstat table on the database after the run). Two kinds of items
# run in turn, ROUNDS times each: "default", each item in the default group
# of its prompt (the hash of the normalised prompt, as a pipeline that sends
# no group gets), and "named", the same items spread over 4 named groups, the
# same-run baseline where the items_group index is written at a few hot
# pages instead of one page of its own per item. Printed per run: frames per
# commit by b-tree, frames and CPU time per item by thread (writer, HTTP
# workers, checkpointer), the rate.
#
# usage: tests/bench/wal_frames.sh [BUILD_DIR]   (default: build-bench)
# env:   SECONDS_PER=6 CONNS=64 ROUNDS=2 RUNGD=PATH
#        DATA  shared data dir (default ../shared/data; generated text without it)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-bench}
SECONDS_PER=${SECONDS_PER:-6}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-2}
DATA=${DATA:-$ROOT/../shared/data}
RUNGD=${RUNGD:-$BUILD/server/rungd}

[ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null
ninja -C "$BUILD" server/rungd tests/bench/http/loadgen >/dev/null
WORK=$(mktemp -d /tmp/rung-walframes.XXXXXX)
RPID=""
cleanup() {
    [ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

python3 "$ROOT/tests/bench/ingest_items.py" "$DATA/hh-rlhf-harmless/pairs.jsonl" "$WORK"
mv "$WORK/items.jsonl" "$WORK/default.jsonl"

# Clock ticks of the daemon's threads by kind: "writer= http= ckpt=".
ticks() {
    for t in /proc/"$1"/task/*; do
        printf '%s %s\n' "$(tr -d ' ' <"$t/comm")" "$(cut -d' ' -f14,15 "$t/stat")"
    done | awk 'NF == 3 { k = $1 ~ /^MHD/ ? "http" : $1 ~ /writer/ ? "writer" : $1 ~ /ckpt/ ? "ckpt" : "other"
                          c[k] += $2 + $3 }
                END { for (k in c) printf "%s=%d ", k, c[k] }'
}

run() { # run KIND
    db=$WORK/$1.db
    rm -f "$db" "$db-wal" "$db-shm"
    token=$("$RUNGD" keys create --db "$db" --role pipeline --name bench 2>/dev/null | tail -1)
    "$RUNGD" serve --db "$db" --listen 127.0.0.1:0 --gold-rate 0 --quiet >/dev/null 2>"$db.err" &
    RPID=$!
    port=""
    for _ in $(seq 100); do
        port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$db.err" | head -1)
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "rungd did not start"; cat "$db.err"; exit 1; }
    "$BUILD/tests/bench/http/loadgen" post --port "$port" --conns "$CONNS" --path /v1/items \
        --bodies "$WORK/$1.jsonl" --token "$token" --duration "$SECONDS_PER" --warmup 1 \
        --name "$1" >"$WORK/$1.out" &
    lg=$!
    sleep 1
    before=$(ticks "$RPID")
    sleep $((SECONDS_PER * 3 / 4))
    cp "$db-wal" "$WORK/snap-wal"
    wait "$lg"
    after=$(ticks "$RPID")
    kill "$RPID"
    wait "$RPID" 2>/dev/null || true
    RPID=""
    python3 - "$db" "$WORK/snap-wal" "$WORK/$1.out" "$before" "$after" "$(getconf CLK_TCK)" <<'EOF'
import collections, re, sqlite3, struct, sys
db, wal, out, before, after, hz = sys.argv[1:7]
w = open(wal, "rb").read()
psz, salt = struct.unpack(">I", w[8:12])[0], w[16:24]
frames, commits, off = [], 0, 32
while off + 24 + psz <= len(w) and w[off + 8:off + 16] == salt:
    pg, size = struct.unpack(">II", w[off:off + 8])
    frames.append(pg)
    commits += size > 0
    off += 24 + psz
owner = dict(sqlite3.connect(db).execute("SELECT pageno, name FROM dbstat"))
by = collections.Counter(owner.get(p, "(free)") for p in frames)
line = open(out).read()
reqs = int(re.search(r"requests=(\d+)", line).group(1))
rate = re.search(r"req_s=(\d+)", line).group(1)
p99 = re.search(r"p99_ms=([\d.]+)", line).group(1)
tick = lambda s: {k: int(v) for k, v in (kv.split("=") for kv in s.split())}
b, a = tick(before), tick(after)
# the ticks span the measured window (after loadgen's warm-up second)
cpu = {k: (a[k] - b.get(k, 0)) / int(hz) * 1e6 / reqs for k in a}
print("%s: %s req/s, p99 %s ms; %d WAL frames in %d commits (%.1f a commit)" %
      (out.rsplit("/", 1)[1][:-4], rate, p99, len(frames), commits, len(frames) / max(commits, 1)))
print("   frames a commit: " + ", ".join("%s %.1f" % (k, v / max(commits, 1)) for k, v in by.most_common(8)))
print("   CPU a request: " +
      ", ".join("%s %.1f us" % (k, cpu[k]) for k in ("writer", "http", "ckpt") if k in cpu))
EOF
}

for r in $(seq "$ROUNDS"); do
    echo "== round $r"
    run default
    run named
done
