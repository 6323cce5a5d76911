"""Several daemons on one database (issue 16): three rungd processes share
one database (PostgreSQL in the PostgreSQL pass, where RUNG_TEST_PG is set;
the same SQLite file otherwise) and 100 raters race across them, each
alternating daemons request by request. No task gets more labels than its
overlap, no acknowledged label is lost, every item is resolved once and its
comparison written once; a daemon killed with SIGKILL mid-load loses
nothing it acknowledged and its leases expire as usual."""

import http.client
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import until  # noqa: E402

RATERS = 100
ITEMS = 60
OVERLAP = 2


def pair(i):
    return {"prompt": "multi question %d" % i,
            "responses": ["answer A %d" % i, "answer B %d" % i]}


class Rater(threading.Thread):
    """Claims and labels until no daemon has work for it, alternating
    daemons on every request. Keeps what was acknowledged."""

    def __init__(self, daemons, token, index, doomed, done):
        super().__init__(daemon=True)
        self.done = done  # set by the test once every label it wants is in
        self.daemons = daemons
        self.doomed = doomed  # daemons the test kills (or is about to)
        self.token = token
        self.turn = index
        self.acked = []  # task ids whose label got a 2xx
        self.errors = []

    def daemon(self):
        """The next daemon that is up, in turn."""
        for _ in range(len(self.daemons)):
            d = self.daemons[self.turn % len(self.daemons)]
            self.turn += 1
            if d not in self.doomed:
                return d
        raise AssertionError("no daemon is running")

    def call(self, method, path, body=None):
        while True:
            d = self.daemon()
            try:
                return d.request(method, path, body, token=self.token)
            except (ConnectionError, http.client.HTTPException, OSError):
                if d not in self.doomed:
                    raise
                # That daemon was killed meanwhile: try the next one.

    def run(self):
        try:
            while not self.done.is_set():
                # Long-polls: a lease held through a killed daemon comes back
                # when it expires.
                st, _, t = self.call("GET", "/v1/tasks/next?wait=2")
                if st == 204:
                    continue
                if st != 200:
                    self.errors.append(("next", st, t))
                    return
                st, _, body = self.call("POST", "/v1/tasks/%d/labels" % t["id"], {"answer": "a"})
                if st in (200, 201):
                    self.acked.append(t["id"])
                elif st != 409:  # lease_lost / task_complete after an expiry: refused, nothing kept
                    self.errors.append(("label", st, body))
                    return
        except Exception as e:  # reported by the test
            self.errors.append(("exception", repr(e)))


class TestSeveralDaemons(unittest.TestCase):
    args = ["--overlap", str(OVERLAP), "--gold-rate", "0", "--lease-seconds", "3",
            "--side-order", "fixed"]

    def setUp(self):
        first = rungtest.Daemon(extra_args=self.args)
        self.daemons = [first] + [rungtest.Daemon(extra_args=self.args, db=first.db)
                                  for _ in range(2)]
        self.admin = first.key("admin", "boss")
        pipe = first.key("pipeline", "pipe")
        for k in range(0, ITEMS, 20):  # ingest through every daemon
            d = self.daemons[(k // 20) % 3]
            st, _, body = d.request("POST", "/v1/items",
                                    {"items": [pair(i) for i in range(k, k + 20)]}, token=pipe)
            self.assertEqual(st, 201, body)
        self.tokens = [self.rater_key(i) for i in range(RATERS)]

    def rater_key(self, i):
        """Rater key i, made through daemon i % 3 (POST /v1/keys: a request
        instead of a CLI run that opens the database anew); returns its token."""
        st, _, body = self.daemons[i % 3].request("POST", "/v1/keys",
                                                  {"name": "r%03d" % i, "role": "rater"},
                                                  token=self.admin)
        self.assertEqual(st, 201, body)
        return body["token"]

    def tearDown(self):
        for d in reversed(self.daemons):
            try:
                if d.running():
                    d.stop()
            finally:
                if d is not self.daemons[0]:
                    d.cleanup()
        self.daemons[0].cleanup()

    def race(self, kill_after=None):
        doomed, done = [], threading.Event()
        raters = [Rater(self.daemons, tok, i, doomed, done)
                  for i, tok in enumerate(self.tokens)]
        for r in raters:
            r.start()
        if kill_after is not None:
            d = self.daemons[1]
            until(lambda: d.sql("SELECT count(*) FROM labels")[0][0] >= kill_after,
                  "labels before the kill")
            doomed.append(d)
            d.kill9()
        # Every task has its labels: the raters stop (each at its next turn).
        until(lambda: sum(len(r.acked) for r in raters) >= ITEMS * OVERLAP or
              any(r.errors for r in raters), "every label", timeout=300)
        done.set()
        for r in raters:
            r.join(60)
            self.assertFalse(r.is_alive(), "a rater did not finish")
        for r in raters:
            self.assertEqual(r.errors, [], "rater errors")
        return raters

    def check_outcome(self, raters):
        d = self.daemons[0]
        over = d.sql("SELECT t.id, t.overlap, count(l.id) FROM tasks t JOIN labels l "
                     "ON l.task_id = t.id GROUP BY t.id, t.overlap HAVING count(l.id) > t.overlap")
        self.assertEqual(over, [], "tasks over their overlap")
        acked = sorted((tid, r.token) for r in raters for tid in r.acked)
        names = {tok: "r%03d" % i for i, tok in enumerate(self.tokens)}
        stored = set(d.sql("SELECT l.task_id, k.name FROM labels l JOIN raters r "
                           "ON r.id = l.rater_id JOIN api_keys k ON k.id = r.key_id"))
        for tid, tok in acked:
            self.assertIn((tid, names[tok]), stored, "an acknowledged label is missing")
        self.assertEqual(len(stored), len(acked), "labels nobody was told were stored")
        self.assertEqual(len(acked), ITEMS * OVERLAP)
        status = d.sql("SELECT status, count(*) FROM items GROUP BY status")
        self.assertEqual(status, [("resolved", ITEMS)])
        cmp = d.sql("SELECT item_seq, count(*) FROM comparisons WHERE source = 'human' "
                    "GROUP BY item_seq HAVING count(*) <> 1")
        self.assertEqual(cmp, [], "items with other than one comparison")
        self.assertEqual(d.sql("SELECT count(*) FROM comparisons WHERE source = 'human'")[0][0],
                         ITEMS)
        # What every daemon serves agrees with the database.
        for x in self.daemons:
            if x.running():
                st, _, body = x.request("GET", "/v1/items?status=resolved&limit=1000",
                                        token=self.admin)
                self.assertEqual(st, 200, body)
                self.assertEqual(len(body["items"]), ITEMS)

    def test_settings_reach_every_daemon(self):
        """What one daemon (or the CLI) changes, every daemon applies:
        domain settings, overlap rules, revoked keys."""
        first, second, third = self.daemons
        st, _, body = first.request("PUT", "/v1/domains/proofs", {"decomposer": "paragraphs"},
                                    token=self.admin)
        self.assertEqual(st, 200, body)
        st, _, body = second.request("GET", "/v1/domains", token=self.admin)
        self.assertEqual(st, 200, body)
        stored = {d["name"]: d for d in body["domains"] if d.get("stored")}
        self.assertEqual(stored["proofs"]["decomposer"], "paragraphs")
        st, _, body = second.request("PUT", "/v1/overlap", {"domain": "proofs", "overlap": 3,
                                                            "future": True}, token=self.admin)
        self.assertEqual(st, 200, body)
        st, _, body = third.request("GET", "/v1/overlap", token=self.admin)
        self.assertIn({"scope": "domain", "name": "proofs", "overlap": 3}, body["rules"])
        self.assertEqual(third.request("GET", "/v1/tasks/next", token=self.tokens[0])[0], 200)
        first.revoke("r000")
        for d in self.daemons:
            st, _, body = d.request("GET", "/v1/tasks/next", token=self.tokens[0])
            self.assertEqual((st, body["error"]["code"]), (401, "unauthorized"))

    def test_raters_racing_across_three_daemons(self):
        self.check_outcome(self.race())

    def test_kill9_of_one_daemon_mid_load(self):
        raters = self.race(kill_after=ITEMS // 2)
        self.assertFalse(self.daemons[1].running())
        self.check_outcome(raters)


if __name__ == "__main__":
    unittest.main()
