#!/bin/sh
# replay.sh - issue 12, part 5 on the full public data: `rungd replay` of
# the GSM8K model solutions (every correct x incorrect pair of a question,
# sides shuffled) against a fresh daemon, answered from the data's labels
# (steps by the documented rule), a layer trained and promoted after each
# round. Two configurations, each on its own daemon and database: the math
# domain's default (steps, sequential early stop) and whole-pair review
# (decomposer none); then HH-RLHF pairs. The baseline, human-only review of
# the same items (one whole-pair judgement each, reading both responses),
# is counted in the same run; the last line of each run holds the totals.
# Goal (issue 12): >= 40% of human judgements saved at >= 95% agreement.
#
# usage: tests/bench/replay.sh [DATA_DIR] [BUILD_DIR]
#        DATA_DIR: the folder with gsm8k/ and hh-rlhf-harmless/ (default
#        ../shared/data beside the repository; tests/data works too);
#        BUILD_DIR: build-bench (release)
# env:   ROUNDS (default 5), RATER_ERROR (default 0), SEED (default 1),
#        TARGET (the layers' accuracy target; default the daemon's, 0.95),
#        RUNS (default "steps whole hh")
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${1:-$ROOT/../shared/data}
BUILD=${2:-$ROOT/build-bench}
GSM=$DATA/gsm8k/model_solutions.jsonl
HH=$DATA/hh-rlhf-harmless/pairs.jsonl
for f in "$GSM" "$HH"; do
    [ -r "$f" ] || { echo "replay.sh: missing $f (give the data folder as the first argument)" >&2; exit 2; }
done
[ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null
ninja -C "$BUILD" server/rungd >/dev/null
RUNGD=$BUILD/server/rungd
WORK=$(mktemp -d /tmp/rung-replay.XXXXXX)
PID=
cleanup() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# run NAME FORMAT FILE DECOMPOSER: one campaign on a fresh daemon.
run() {
    db=$WORK/$1.db
    tok=$("$RUNGD" keys create --db "$db" --role admin --name replay 2>/dev/null | tail -n 1)
    : >"$WORK/$1.out" # exists before the daemon's shell opens it
    "$RUNGD" serve --db "$db" --listen 127.0.0.1:0 --quiet --gold-rate 0 >"$WORK/$1.out" 2>"$WORK/$1.err" &
    PID=$!
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$WORK/$1.out")
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { echo "replay.sh: rungd did not start" >&2; cat "$WORK/$1.err" >&2; exit 1; }
    if [ -n "$4" ]; then
        python3 - "$port" "$tok" "$4" <<'EOF'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
c.request("PUT", "/v1/domains/math", json.dumps({"decomposer": sys.argv[3]}),
          {"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"})
r = c.getresponse()
if r.status != 200:
    raise SystemExit("PUT /v1/domains/math answered %d %s" % (r.status, r.read()))
EOF
    fi
    how=
    [ "$2" = gsm8k ] && how=", math decomposer ${4:-steps (default)}"
    echo "== $1: $2 $(basename "$3")$how, $ROUNDS rounds, rater error $RATER_ERROR"
    start=$(date +%s)
    "$RUNGD" replay --url "http://127.0.0.1:$port" --token "$tok" --format "$2" --oracle "$3" \
        --rounds "$ROUNDS" --rater-error "$RATER_ERROR" --seed "$SEED" ${TARGET:+--target "$TARGET"} |
        tee "$WORK/$1.txt"
    echo "   ($(($(date +%s) - start)) s)"
    kill "$PID" && wait "$PID" || true
    PID=
    tail -n 1 "$WORK/$1.txt" | python3 -c '
import json, sys
t = json.loads(sys.stdin.read())
met = t["human_judgements_saved"] >= 0.40 and t["agreement"] >= 0.95
print("   %s: %d human tasks for %d items (human-only review: %d; ratio %.2f), judgements saved %.1f%%, "
      "bytes read saved %.1f%% (%.2f of review), auto-resolved %.1f%%, sub-questions the layer answered %d, "
      "agreement %.1f%%: goal (>= 40%% saved at >= 95%% agreement) %s" % (sys.argv[1], t["human_tasks"],
      t["items"], t["baseline_judgements"], t["judgements_ratio"], 100 * t["human_judgements_saved"],
      100 * t["bytes_read_saved"], t["bytes_ratio"], 100 * t["auto_resolved_share"], t["layer_answers"],
      100 * t["agreement"], "met" if met else "NOT met"))' "$1"
}

ROUNDS=${ROUNDS:-5}
RATER_ERROR=${RATER_ERROR:-0}
SEED=${SEED:-1}
for r in ${RUNS:-steps whole hh}; do
    case $r in
    steps) run steps gsm8k "$GSM" "" ;;
    whole) run whole gsm8k "$GSM" none ;;
    hh) run hh hh "$HH" "" ;;
    *) echo "replay.sh: unknown run '$r' (steps, whole, hh)" >&2; exit 2 ;;
    esac
done
