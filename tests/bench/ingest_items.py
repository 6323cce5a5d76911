#!/usr/bin/env python3
"""ingest_items.py SRC WORK - the ~1 KB single items the ingest benchmarks
post (ingest.sh, wal_frames.sh): HH-RLHF harmless replies whose prompt and
response come to 800-1300 bytes (SRC: its pairs.jsonl), or generated text of
the same size when SRC is absent. Writes WORK/items.jsonl (1,000 items, one a
line), WORK/named.jsonl (the same items in 4 named sample groups) and
WORK/batch.jsonl (4 requests of 1,000 items)."""
import json, os, random, sys
src, work = sys.argv[1], sys.argv[2]
items = []
if os.path.exists(src):
    tag = "\n\nAssistant:"
    for line in open(src, encoding="utf-8"):
        c = json.loads(line)["chosen"]
        i = c.rfind(tag)
        p, r = c[:i + len(tag)].strip(), c[i + len(tag):].strip()
        if 800 <= len(p.encode()) + len(r.encode()) <= 1300:
            items.append({"prompt": p, "response": r})
if len(items) < 50:  # no shared data: generated text of the same size
    rnd = random.Random(1)
    words = ("the a model answer question user assistant helpful harmless because "
             "which would could should explain reason example step result value").split()
    def text(n):
        out = []
        while sum(len(w) + 1 for w in out) < n:
            out.append(rnd.choice(words))
        return " ".join(out)
    items = [{"prompt": "Human: " + text(600) + "\n\nAssistant:", "response": text(400)}
             for _ in range(200)]
with open(os.path.join(work, "items.jsonl"), "w") as f:
    for k in range(1000):
        f.write(json.dumps(items[k % len(items)]) + "\n")
with open(os.path.join(work, "named.jsonl"), "w") as f:
    for k in range(1000):  # the same items in 4 named sample groups
        f.write(json.dumps(dict(items[k % len(items)], group="bench-%d" % (k % 4))) + "\n")
with open(os.path.join(work, "batch.jsonl"), "w") as f:
    for b in range(4):
        batch = [items[(b * 37 + k) % len(items)] for k in range(1000)]
        f.write(json.dumps({"items": batch}) + "\n")
n = len(items)
size = sum(len(x["prompt"].encode()) + len(x["response"].encode()) for x in items) / n
print("data: %d distinct items, mean prompt+response %.0f bytes (%s)" %
      (n, size, "hh-rlhf" if os.path.exists(src) and n >= 50 else "generated"))
