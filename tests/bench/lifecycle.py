#!/usr/bin/env python3
"""Does the daemon keep serving while it trains a layer? (issue 12)

    python3 tests/bench/lifecycle.py RUNGD [--rows N] [--seconds S] [--clients C]

Starts RUNGD on a free port with a fresh database, imports N synthetic
comparisons (rungd import), then measures single-item ingest (closed loop,
C client threads, durable) for S seconds with the trainer idle (the
baseline, same run), and again for S seconds while POST /v1/layers trains
a layer from those N rows. Prints one line per figure: ingest rate and
p50/p99 latency idle and during training, their ratio, the training's
wall time, and the daemon's peak RSS before and after training
(VmHWM). The clients are Python threads: the rates are the client's as
much as the daemon's, but both windows share that limit."""

import argparse
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))
from rungtest import Daemon  # noqa: E402

WORDS = ["correct", "careful", "step", "because", "wrong", "guess", "lol", "random", "the",
         "answer", "is", "we", "see", "that", "so", "it", "and", "verified", "rude", "clear"]


def write_pairs(path, n):
    rng = random.Random(1)
    with open(path, "w") as f:
        for i in range(n):
            a = " ".join(rng.choice(WORDS) for _ in range(60))
            b = " ".join(rng.choice(WORDS) for _ in range(60))
            f.write(json.dumps({"prompt": "Question %d about topic %d" % (i, i % 97),
                                "chosen": a, "rejected": b}) + "\n")


def hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def ingest_window(d, token, seconds, clients, tag):
    """Closed-loop single-item ingest for seconds; returns (rate, p50, p99) in
    items/s and ms."""
    lat, stop, lock = [], time.monotonic() + seconds, threading.Lock()

    def run(k):
        conn, i, mine = d.connection(), 0, []
        while time.monotonic() < stop:
            body = {"prompt": "p %s %d %d" % (tag, k, i), "responses": ["x y z", "a b"]}
            t0 = time.monotonic()
            st, _, _ = d.request("POST", "/v1/items", body, token=token, conn=conn)
            mine.append(time.monotonic() - t0)
            if st != 201:
                raise SystemExit("ingest answered %d" % st)
            i += 1
        with lock:
            lat.extend(mine)
    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    return len(lat) / wall, pick(0.5), pick(0.99)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rungd")
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    d = Daemon(rungd=os.path.abspath(a.rungd), extra_args=["--quiet", "--gold-rate", "0"])
    try:
        admin, pipe = d.key("admin", "adm"), d.key("pipeline", "pipe")
        path = os.path.join(d.tmpdir, "pairs.jsonl")
        write_pairs(path, a.rows)
        p = d.cli("import", "--db", d.db, "--format", "trl", "--as", "comparisons", path,
                  timeout=3600)
        if p.returncode:
            raise SystemExit(p.stderr)
        before = hwm_kb(d.proc.pid)
        idle = ingest_window(d, pipe, a.seconds, a.clients, "idle")
        st, _, ack = d.request("POST", "/v1/layers", {}, token=admin)
        t0 = time.monotonic()
        layer = ack["id"]
        busy = ingest_window(d, pipe, a.seconds, a.clients, "busy")
        still = d.request("GET", "/v1/layers/%d" % layer, token=admin)[2]["status"]
        while d.request("GET", "/v1/layers/%d" % layer, token=admin)[2]["status"] == "training":
            time.sleep(0.2)
        took = time.monotonic() - t0
        print("rows %d, clients %d, %.0f s windows" % (a.rows, a.clients, a.seconds))
        print("ingest idle:            %.0f items/s, p50 %.1f ms, p99 %.1f ms" % idle)
        print("ingest while training:  %.0f items/s, p50 %.1f ms, p99 %.1f ms (layer still "
              "training at the end of the window: %s)" % (busy + (still == "training",)))
        print("ratio (busy / idle):    rate %.2f, p99 %.2f" % (busy[0] / idle[0],
                                                                busy[2] / idle[2]))
        print("training wall time:     %.1f s (niced, one core)" % took)
        print("daemon peak RSS:        %.0f MB before training, %.0f MB after"
              % (before / 1024, hwm_kb(d.proc.pid) / 1024))
    finally:
        d.cleanup()


if __name__ == "__main__":
    main()
