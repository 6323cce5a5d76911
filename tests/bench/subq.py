#!/usr/bin/env python3
"""subq.py - what decomposition costs and saves, measured on a real daemon.

For GSM8K questions (each a pair: one correct and one incorrect model
solution, sides shuffled, domain "math"), this script:

  1. times ingest of hard items (decomposed into step sub-questions) against
     the same items in a domain without a decomposer, in the same run;
  2. acts as the raters, answering every task from the data's own labels,
     and counts the human judgements (tasks answered) and the bytes of model
     text read per resolved item, with step_order "sequential" (early stop:
     a side's next step is asked only after a "yes"), "parallel" (all steps
     open, the rest closed on the first "no"), and without decomposition
     (one whole-pair task per item), and "checker": sequential with the
     domain's checker answers on (a step holding a wrong equation answered no
     by the arithmetic checker), those answers scored against the oracle.

The oracle for a step (the documented rule): steps of a correct solution are
right; in an incorrect solution the wrong step is the first whose running
result departs from the reference solution's numbers (the result of its
calculator annotation <<...=R>>, or its last number, is not among the
numbers of the reference solution or of the question), or the final step
when none does. A
whole-pair task is answered with the correct side.

usage: subq.py RUNGD DATA_FILE [--items N]
"""
import argparse
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

NUM = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def numbers(text):
    return {n.replace(",", "").rstrip(".") for n in NUM.findall(text)}


def step_result(step):
    """The running result of a step: its last calculator annotation's value,
    else its last number; None when it has no number."""
    ann = re.findall(r"<<[^<>]*=([^<>]*)>>", step)
    if ann:
        return ann[-1].replace(",", "").strip()
    found = NUM.findall(step)
    return found[-1].replace(",", "").rstrip(".") if found else None


def wrong_step(solution, reference, question):
    """Index of the first wrong step of an incorrect solution (see above);
    numbers given in the question count as the reference's too."""
    steps = [s for s in solution.split("\n") if s.strip()]
    ref = numbers(reference) | numbers(question)
    for i, s in enumerate(steps):
        r = step_result(s)
        if r is not None and r not in ref:
            return i
    return len(steps) - 1


def load_pairs(path, limit, rng):
    """One pair per question: its first correct and first incorrect solution."""
    out = []
    for line in open(path, encoding="utf-8"):
        q = json.loads(line)
        sols = [v for v in q.values() if isinstance(v, dict) and "is_correct" in v]
        good = [s["solution"] for s in sols if s["is_correct"]]
        bad = [s["solution"] for s in sols if not s["is_correct"]]
        if not good or not bad:
            continue
        swap = rng.random() < 0.5
        a, b = (bad[0], good[0]) if swap else (good[0], bad[0])
        out.append({"prompt": q["question"], "a": a, "b": b, "correct": "b" if swap else "a",
                    "wrong_step": wrong_step(bad[0], q.get("ground_truth", ""), q["question"])})
        if len(out) == limit:
            break
    return out


class Daemon:
    def __init__(self, rungd, work, name):
        self.db = os.path.join(work, name + ".db")
        self.rungd = rungd

        def key(role, kname):
            out = subprocess.run([rungd, "keys", "create", "--db", self.db, "--role", role,
                                  "--name", kname], check=True, capture_output=True, text=True)
            return out.stdout.strip().splitlines()[-1]
        self.admin = key("admin", "adm")
        self.pipe = key("pipeline", "pipe")
        self.proc = subprocess.Popen([rungd, "serve", "--db", self.db, "--listen", "127.0.0.1:0",
                                      "--quiet", "--gold-rate", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r":(\d+)/", line)
        if not m:
            raise SystemExit("rungd did not start: %r" % line)
        self.conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=30)

    def req(self, method, path, body=None, token=None):
        hdrs = {"Authorization": "Bearer " + (token or self.admin)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        self.conn.request(method, path, data, hdrs)
        r = self.conn.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def ingest(d, pairs, domain, tag):
    t0 = time.perf_counter()
    for k, p in enumerate(pairs):
        st, body = d.req("POST", "/v1/items", {"prompt": p["prompt"], "responses": [p["a"], p["b"]],
                                               "domain": domain, "external_id": "%s%d" % (tag, k)},
                         token=d.pipe)
        if st not in (200, 201):
            raise SystemExit("ingest answered %d %s" % (st, body))
    return (time.perf_counter() - t0) / len(pairs)


def oracle_step(p, side, span):
    """The oracle's answer to the step of side at span (see above)."""
    before = p[side][:span[0]]
    index = len([s for s in before.split("\n") if s.strip()])
    if p["correct"] == side:
        return "yes"
    return "no" if index >= p["wrong_step"] else "yes"


def answer(task, by_text):
    """The oracle's answer to a task, and the model-text bytes it shows."""
    resp = task.get("responses") or []
    shown = len(task.get("prompt", "").encode()) + sum(len(r.encode()) for r in resp)
    key = (task["prompt"], frozenset(resp))
    p = by_text[key]
    if task["kind"] == "subquestion":
        sq = task["subquestion"]
        # A step is read with the steps before it: the response up to its end.
        shown = len(task["prompt"].encode()) + sq["span"][1]
        return oracle_step(p, sq["response"], sq["span"]), shown
    # Whole pair: the correct side, in the order shown.
    want = p[p["correct"]]
    return ("a" if resp and resp[0] == want else "b"), shown


def review(d, pairs):
    by_text = {(p["prompt"], frozenset((p["a"], p["b"]))): p for p in pairs}
    tasks = bytes_read = 0
    kinds = {}
    while True:
        st, t = d.req("GET", "/v1/tasks/next")
        if st == 204:
            break
        if st != 200:
            raise SystemExit("tasks/next answered %d %s" % (st, t))
        ans, shown = answer(t, by_text)
        st, body = d.req("POST", "/v1/tasks/%s/labels" % t["id"], {"answer": ans})
        if st not in (200, 201):
            raise SystemExit("label answered %d %s" % (st, body))
        tasks += 1
        bytes_read += shown
        kinds[t["kind"]] = kinds.get(t["kind"], 0) + 1
    right = resolved = subqs = checker = checker_right = 0
    for k in range(len(pairs)):
        st, page = d.req("GET", "/v1/items?external_id=h%d" % k, token=d.pipe)
        items = page["items"] if st == 200 else []
        if items and items[0]["status"] == "resolved":
            resolved += 1
            right += items[0].get("verdict") == pairs[k]["correct"]
        if items:
            one = d.req("GET", "/v1/items/" + items[0]["id"], token=d.pipe)[1]
            subqs += len(one.get("subquestions") or [])
            # Checker answers, measured like a layer's: against the oracle.
            for q in one.get("subquestions") or []:
                if q.get("source") == "checker":
                    checker += 1
                    checker_right += q["answer"] == oracle_step(pairs[k], q["response"],
                                                                q["span"])
    return {"tasks": tasks, "by_kind": kinds, "resolved": resolved, "agreement": right,
            "bytes_read": bytes_read, "subquestions": subqs, "checker_answers": checker,
            "checker_right": checker_right}


def run(rungd, work, pairs, mode):
    d = Daemon(rungd, work, mode)
    try:
        if mode == "checker":  # sequential, with the arithmetic checker answering steps
            st, body = d.req("PUT", "/v1/domains/math", {"decomposer": "steps",
                                                         "checker_answers": True})
            if st != 200:
                raise SystemExit("PUT /v1/domains/math answered %d %s" % (st, body))
        elif mode != "whole":
            st, body = d.req("PUT", "/v1/domains/math", {"decomposer": "steps", "step_order": mode})
            if st != 200:
                raise SystemExit("PUT /v1/domains/math answered %d %s" % (st, body))
        else:
            d.req("PUT", "/v1/domains/math", {"decomposer": "none"})
        per_item = ingest(d, pairs, "math", "h")
        r = review(d, pairs)
        r["ingest_ms_per_item"] = per_item * 1000
        return r
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rungd")
    ap.add_argument("data")
    ap.add_argument("--items", type=int, default=330)
    a = ap.parse_args()
    pairs = load_pairs(a.data, a.items, random.Random(7))
    if not pairs:
        raise SystemExit("no pairs in %s" % a.data)
    steps = sum(len([s for s in p[x].split("\n") if s.strip()]) for p in pairs for x in "ab")
    print("%d pairs, %.1f steps per pair" % (len(pairs), steps / len(pairs)))
    with tempfile.TemporaryDirectory() as work:
        # Extra ingest cost of a hard item, against the same items kept whole.
        d = Daemon(a.rungd, work, "ingest")
        try:
            d.req("PUT", "/v1/domains/general", {"decomposer": "none"})
            whole = ingest(d, pairs, "general", "w")
            hard = ingest(d, pairs, "math", "h")
        finally:
            d.stop()
        print("ingest: %.3f ms per hard item, %.3f ms per whole item (%.2fx, same run)"
              % (hard * 1000, whole * 1000, hard / whole))
        rows = {m: run(a.rungd, work, pairs, m)
                for m in ("sequential", "parallel", "checker", "whole")}
    base = rows["whole"]
    for m, r in rows.items():
        n = max(r["resolved"], 1)
        print("%-10s tasks %5d (%s)  resolved %d/%d  tasks per resolved item %.2f  "
              "KB read per item %.1f  verdicts right %d/%d  vs whole-pair review: %.2fx tasks"
              % (m, r["tasks"], ", ".join("%s %d" % kv for kv in sorted(r["by_kind"].items())),
                 r["resolved"], len(pairs), r["tasks"] / n, r["bytes_read"] / n / 1024,
                 r["agreement"], r["resolved"], r["tasks"] / max(base["tasks"], 1)))
    c = rows["checker"]
    print("checker answers (sequential, domain checker_answers on): %d steps answered no, %d "
          "right by the oracle (%.1f%%); %d human tasks against %d without (%.2fx)"
          % (c["checker_answers"], c["checker_right"],
             100.0 * c["checker_right"] / max(c["checker_answers"], 1), c["tasks"],
             rows["sequential"]["tasks"], c["tasks"] / max(rows["sequential"]["tasks"], 1)))
    every = rows["sequential"]["subquestions"]
    print("without early stop every step is asked: %d tasks; early stop asks %d (%.0f%% fewer)"
          % (every, rows["sequential"]["tasks"],
             100.0 * (1 - rows["sequential"]["tasks"] / max(every, 1))))
    print(json.dumps({m: r for m, r in rows.items()}))


if __name__ == "__main__":
    sys.exit(main())
