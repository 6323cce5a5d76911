#!/bin/sh
# cut.sh SRC - cuts the test fixtures in this folder from the public data in
# SRC (the folder that holds hh-rlhf-harmless/ and gsm8k/). Deterministic:
# running it again on the same SRC gives the same files byte for byte.
set -eu
SRC=${1:?usage: tests/data/cut.sh DATA_DIR (the folder with hh-rlhf-harmless/ and gsm8k/)}
HERE=$(cd "$(dirname "$0")" && pwd)

for f in hh-rlhf-harmless/pairs.jsonl hh-rlhf-harmless/LICENSE gsm8k/model_solutions.jsonl \
    gsm8k/train.jsonl gsm8k/LICENSE; do
    [ -r "$SRC/$f" ] || { echo "cut.sh: missing $SRC/$f" >&2; exit 1; }
done
mkdir -p "$HERE/hh-rlhf-harmless" "$HERE/gsm8k"

# Every 4th line, from the first: 289 of the 1,156 HH pairs, 165 of the 660
# GSM8K questions (each with its four model solutions).
awk 'NR % 4 == 1' "$SRC/hh-rlhf-harmless/pairs.jsonl" >"$HERE/hh-rlhf-harmless/pairs.jsonl"
awk 'NR % 4 == 1' "$SRC/gsm8k/model_solutions.jsonl" >"$HERE/gsm8k/model_solutions.jsonl"
# train.jsonl has no model solutions: 20 lines are enough to show that.
head -n 20 "$SRC/gsm8k/train.jsonl" >"$HERE/gsm8k/train.jsonl"
cp "$SRC/hh-rlhf-harmless/LICENSE" "$HERE/hh-rlhf-harmless/LICENSE"
cp "$SRC/gsm8k/LICENSE" "$HERE/gsm8k/LICENSE"
wc -l "$HERE"/hh-rlhf-harmless/pairs.jsonl "$HERE"/gsm8k/*.jsonl
