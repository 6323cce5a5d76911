#!/bin/sh
# eval.sh - the built-in layer on the full public data: HH-RLHF harmless
# (1,156 pairs) and GSM8K model solutions (660 questions). For each set it
# trains a default layer on the fixed 80/20 split by prompt and prints the
# held-out accuracy next to "the longer reply wins", log loss, ECE, the
# threshold and its coverage, with the held-out samples of each prompt as
# its group and with each pair alone (as the daemon scores a pair item
# whose group holds nothing else), and the checker features' weights; then
# imports each file through `rungd import` into a scratch database and
# checks the counts; then measures GSM8K through the daemon's own path
# (eval_daemon.py: held-out questions imported as items, each scored with
# its sample group). The test suite runs the same
# checks on the small fixtures in tests/data; this is the full-size figure.
#
# usage: tests/bench/eval.sh [DATA_DIR] [BUILD_DIR]
#        DATA_DIR defaults to ../shared/data beside the repository;
#        BUILD_DIR to build-bench (release)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${1:-$ROOT/../shared/data}
BUILD=${2:-$ROOT/build-bench}
HH=$DATA/hh-rlhf-harmless/pairs.jsonl
GSM=$DATA/gsm8k/model_solutions.jsonl
GSM_TRAIN=$DATA/gsm8k/train.jsonl

missing=""
for f in "$HH" "$GSM" "$GSM_TRAIN"; do
    [ -r "$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
    echo "eval.sh: the public data is not there; missing:" >&2
    for f in $missing; do echo "  $f" >&2; done
    echo "usage: tests/bench/eval.sh DATA_DIR  (the folder with hh-rlhf-harmless/ and gsm8k/)" >&2
    exit 2
fi

[ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null
ninja -C "$BUILD" server/rungd tests/bench/bench_reward >/dev/null
WORK=$(mktemp -d /tmp/rung-eval.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM

echo "== held-out evaluation (fixed 80/20 split by prompt, default layer)"
"$BUILD/tests/bench/bench_reward" eval --format hh "$HH" | tee "$WORK/hh.json"
"$BUILD/tests/bench/bench_reward" eval --format gsm8k "$GSM" | tee "$WORK/gsm8k.json"

echo "== rungd import counts"
"$BUILD/server/rungd" import --db "$WORK/e.db" --format hh --as comparisons "$HH" >"$WORK/hh.imp"
"$BUILD/server/rungd" import --db "$WORK/e.db" --format gsm8k --as comparisons "$GSM" >"$WORK/gsm.imp"
"$BUILD/server/rungd" import --db "$WORK/e.db" --format gsm8k --as comparisons "$GSM_TRAIN" \
    >"$WORK/train.imp" || true

python3 - "$WORK" "$GSM" <<'PY'
import json, sys
work, gsm = sys.argv[1], sys.argv[2]
def last_json(path):
    return json.loads(open(path).read().strip().splitlines()[-1])
ok = True
def check(name, got, want):
    global ok
    good = got == want
    ok = ok and good
    print(f"{name}: {got} (want {want}) {'OK' if good else 'MISMATCH'}")
expected = 0
for line in open(gsm):
    o = json.loads(line)
    sols = [v for v in o.values() if isinstance(v, dict) and "is_correct" in v]
    good = sum(1 for v in sols if v["is_correct"])
    expected += good * (len(sols) - good)
hh = json.load(open(f"{work}/hh.json"))
check("hh pairs read", hh["pairs"], hh["lines"])
def read(imp):  # pairs stored, plus those already stored (identical content: kept once)
    s = last_json(imp)
    return s["stored"] + s["duplicates"]
check("hh comparisons stored or duplicate", read(f"{work}/hh.imp"), hh["pairs"])
check("gsm8k comparisons stored or duplicate", read(f"{work}/gsm.imp"), expected)
check("gsm8k train.jsonl pairs (no model solutions)", last_json(f"{work}/train.imp")["stored"], 0)
for name in ("hh", "gsm8k"):
    r = json.load(open(f"{work}/{name}.json"))
    g = r.get("grouped") or r  # with sample groups; a layer without checkers has one view
    verdict = "beats" if g["accuracy"] > r["longer_wins"] else "DOES NOT beat"
    print(f"{name}: held-out accuracy {g['accuracy']:.4f} on {r['test_pairs']} pairs "
          f"{verdict} longer-wins {r['longer_wins']:.4f}; threshold {g['threshold']}, "
          f"coverage {g['coverage']}, accuracy on covered {g['accuracy_on_covered']} "
          f"(with sample groups)")
    print(f"{name}: each pair alone, as the daemon scores a pair item: accuracy "
          f"{r['accuracy']:.4f}, threshold {r['threshold']}, coverage {r['coverage']}, "
          f"accuracy on covered {r['accuracy_on_covered']}; {r['score_us_per_pair']:.1f} us a pair")
    if r.get("checks"):
        w = r["checks"]["weights"]
        print(f"{name}: checker weights " + ", ".join(f"{k} {v:.3f}" for k, v in w.items()))
sys.exit(0 if ok else 1)
PY

echo "== GSM8K as the service sees it (rungd import --as items: pairs scored with their groups)"
python3 "$ROOT/tests/bench/eval_daemon.py" "$BUILD/server/rungd" "$GSM" --label daemon
