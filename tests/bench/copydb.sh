#!/bin/sh
# copydb.sh - issue 16: how fast `rungd copy-db` moves a deployment. A
# database of N items (default 50000) is made with `rungd import` of
# generated pairs, as items (an item and its task each) and as comparisons,
# then copied SQLite -> SQLite; when RUNG_TEST_PG names a PostgreSQL server
# (a base URI, as tests/pg/cluster.sh start prints it) also SQLite ->
# PostgreSQL and PostgreSQL -> SQLite (a database is created there and
# dropped after). Same-run baseline: `rungd backup` of the same file
# (SQLite's online page copy: the fastest consistent copy there is, but
# SQLite to SQLite only).
#
# usage: tests/bench/copydb.sh [BUILD_DIR] [N]     (default: build-bench, 50000)
# env:   KEEP=1   keep the scratch dir
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-bench}
N=${2:-50000}
RUNGD=$BUILD/server/rungd
if [ ! -x "$RUNGD" ]; then
    meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null
    ninja -C "$BUILD" server/rungd >/dev/null
fi
TMP=$(mktemp -d /tmp/rung-copydb-bench.XXXXXX)
PGDB=""
cleanup() {
    if [ -n "$PGDB" ]; then
        psql -X -q -w -d "$RUNG_TEST_PG" -c "DROP DATABASE IF EXISTS \"$PGDB\" WITH (FORCE)" \
            >/dev/null 2>&1 || true
    fi
    [ "${KEEP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT

# ---- the source: N items and N comparisons ----
python3 - "$TMP/pairs.jsonl" "$N" <<'EOF'
import json, random, sys
rng = random.Random(1)
words = "the a answer is we see that so it and step because therefore clear wrong guess".split()
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        say = lambda: " ".join(rng.choice(words) for _ in range(40))
        f.write(json.dumps({"prompt": "Question %d: %s" % (i, say()), "chosen": say(),
                            "rejected": say()}) + "\n")
EOF
SRC=$TMP/src.db
"$RUNGD" import --db "$SRC" --format trl --as items "$TMP/pairs.jsonl" >/dev/null 2>&1
"$RUNGD" import --db "$SRC" --format trl --as comparisons "$TMP/pairs.jsonl" >/dev/null 2>&1
echo "source: $N items (with their tasks) and $N comparisons, $(du -k "$SRC" | cut -f1) KiB"

# copy LABEL FROM TO: one copy-db run, its figures.
copy() {
    "$RUNGD" copy-db --from "$2" --to "$3" 2>/dev/null >"$TMP/out.json"
    python3 - "$1" "$TMP/out.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[2]))
print("%-22s %8d rows  %7.2f s  %8.0f rows/s" % (sys.argv[1], s["rows"], s["seconds"],
                                               s["rows"] / s["seconds"]))
EOF
}

t0=$(date +%s%N)
"$RUNGD" backup --db "$SRC" "$TMP/backup.db" >/dev/null 2>&1
t1=$(date +%s%N)
echo "baseline: rungd backup $(( (t1 - t0) / 1000000 )) ms (SQLite's page copy, SQLite to SQLite only)"
copy "sqlite -> sqlite" "$SRC" "$TMP/copy.db"
if [ -n "${RUNG_TEST_PG:-}" ]; then
    PGDB=copydb_bench_$$
    psql -X -q -w -d "$RUNG_TEST_PG" -c "CREATE DATABASE \"$PGDB\"" >/dev/null
    PGURI=$(python3 -c 'import sys, urllib.parse as u
s = u.urlsplit(sys.argv[1])
print("%s://%s/%s%s" % (s.scheme, s.netloc, sys.argv[2], "?" + s.query if s.query else ""))' \
        "$RUNG_TEST_PG" "$PGDB")
    copy "sqlite -> postgresql" "$SRC" "$PGURI"
    copy "postgresql -> sqlite" "$PGURI" "$TMP/back.db"
fi
