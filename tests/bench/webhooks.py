#!/usr/bin/env python3
"""Benchmark of webhook delivery (issue 15 item 6): how fast rungd's sender
drains a full outbox to receivers on loopback, against a same-run baseline
(one Python client posting the same bodies to the same receiver, one
after another on one keep-alive connection). Prints figures; asserts
nothing about time. Not run by the tests.

    tests/bench/webhooks.py [RUNGD] [--items N] [--hooks H]

The receiver holds its first request until every item's verdict is
committed (gold answers set by an admin), so the outbox holds N x H
deliveries when the clock starts; it then answers 200 at once."""

import argparse
import http.client
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "api"))
from rungtest import Daemon, rungd_path, until  # noqa: E402
from test_webhooks import Receiver  # noqa: E402


class GatedReceiver(Receiver):
    """A Receiver whose first request waits for release()."""

    def __init__(self):
        self.gate = threading.Event()
        super().__init__()
        handler = self.server.RequestHandlerClass
        gate = self.gate
        inner = handler.do_POST

        def do_post(h):
            gate.wait()
            inner(h)

        handler.do_POST = do_post

    def release(self):
        self.gate.set()


def baseline(rx, bodies):
    """Seconds for one client to post every body to rx in turn."""
    c = http.client.HTTPConnection("127.0.0.1", rx.port)
    t0 = time.monotonic()
    for b in bodies:
        c.request("POST", "/base", body=b, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
    dt = time.monotonic() - t0
    c.close()
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rungd", nargs="?", default=rungd_path())
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--hooks", type=int, default=1)
    a = ap.parse_args()
    d = Daemon(a.rungd, ["--quiet", "--webhook-timeout", "600000"])
    rx = GatedReceiver()
    try:
        admin, pipe = d.key("admin", "boss"), d.key("pipeline", "pipe")
        for i in range(a.hooks):
            st, _, _ = d.request("POST", "/v1/webhooks", {"url": rx.url("/h%d" % i)}, token=pipe)
            assert st == 201
        items = [{"prompt": "p%d" % i, "responses": ["a", "b"]} for i in range(a.items)]
        st, _, body = d.request("POST", "/v1/items", {"items": items}, token=pipe)
        assert st == 201, body
        conn = d.connection()
        for it in body["items"]:
            st, _, _ = d.request("POST", "/v1/items/%s/gold" % it["id"], {"answer": "a"},
                                 token=admin, conn=conn)
            assert st == 200
        conn.close()
        total = a.items * a.hooks
        until(lambda: d.sql("SELECT count(*) FROM webhook_outbox")[0][0] == total, "the outbox")
        t0 = time.monotonic()
        rx.release()
        until(lambda: len(rx.acked()) >= total, "every delivery", timeout=3600)
        dt = time.monotonic() - t0
        got = rx.acked()
        ids = [int(g["delivery"]) for g in got]
        in_order = all(sorted(x) == x for x in
                       ([int(g["delivery"]) for g in got if g["path"] == p]
                        for p in {g["path"] for g in got}))
        bodies = [g["body"] for g in got[:a.items]]
        base = baseline(rx, bodies)
        print(json.dumps({"items": a.items, "hooks": a.hooks, "deliveries": total,
                          "seconds": round(dt, 3), "deliveries_per_s": round(total / dt),
                          "baseline_one_client_per_s": round(len(bodies) / base),
                          "ratio": round((total / dt) / (len(bodies) / base), 2),
                          "in_order_per_hook": in_order,
                          "duplicates": len(ids) - len(set(ids))}))
        d.stop()
    finally:
        rx.close()
        d.cleanup()


if __name__ == "__main__":
    main()
