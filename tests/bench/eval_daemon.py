#!/usr/bin/env python3
"""eval_daemon.py - the layer on GSM8K as the service sees it.

bench_reward eval scores held-out pairs in process; this goes through the
daemon's own path: the fixed 80/20 split by question (dataset_split_is_test:
FNV-1a 64 of the question mod 5), `rungd import --as comparisons` of the
training questions, `rungd train --activate` (defaults), then `rungd import
--format gsm8k --as items` of the held-out questions, which scores each pair
item as the daemon does (with its sample group when the layer uses groups,
the question's solutions once the whole file is read). The items' stored
scores are compared with the labels: pair accuracy (p_a >= 0.5 when a is the
correct solution), and the share routed auto with its accuracy.

usage: eval_daemon.py RUNGD GSM8K_MODEL_SOLUTIONS [--label NAME]
Prints one JSON line.
"""
import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile


def fnv1a64(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def is_test(question):
    return fnv1a64(question.encode()) % 5 == 0


def run(rungd, *args):
    p = subprocess.run([rungd, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("rungd %s failed (%d): %s" % (args[0], p.returncode, p.stderr))
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rungd")
    ap.add_argument("gsm8k")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    train, test, right = [], [], set()
    for line in open(a.gsm8k, encoding="utf-8"):
        o = json.loads(line)
        (test if is_test(o["question"]) else train).append(line)
        for v in o.values():
            if isinstance(v, dict) and v.get("is_correct"):
                right.add((o["question"], v["solution"]))
    with tempfile.TemporaryDirectory() as work:
        db = os.path.join(work, "e.db")
        for name, lines in (("train", train), ("test", test)):
            with open(os.path.join(work, name + ".jsonl"), "w", encoding="utf-8") as f:
                f.writelines(lines)
        run(a.rungd, "import", "--db", db, "--format", "gsm8k", "--as", "comparisons",
            os.path.join(work, "train.jsonl"))
        report = json.loads(run(a.rungd, "train", "--db", db, "--activate"))
        run(a.rungd, "import", "--db", db, "--format", "gsm8k", "--as", "items",
            os.path.join(work, "test.jsonl"))
        con = sqlite3.connect(db)
        rows = con.execute("SELECT prompt, response_a, response_b, scores, route FROM items").fetchall()
        con.close()
    n = ok = auto = auto_ok = 0
    for prompt, ra, rb, scores, route in rows:
        s = json.loads(scores)
        a_right = (prompt, ra) in right
        if a_right == ((prompt, rb) in right):
            continue  # not a correct-vs-wrong pair
        n += 1
        good = (s["p_a"] >= 0.5) == a_right
        ok += good
        if route == "auto":
            auto += 1
            auto_ok += good
    out = {"label": a.label, "pairs": n, "accuracy": round(ok / n, 4) if n else None,
           "coverage": round(auto / n, 4) if n else None,
           "accuracy_on_covered": round(auto_ok / auto, 4) if auto else None,
           "threshold": report.get("threshold"),
           "grouped_threshold": (report.get("grouped") or {}).get("threshold")}
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
