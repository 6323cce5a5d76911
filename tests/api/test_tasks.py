"""API tests for human review: leases, overlap, expiry, idempotency, gold,
release, long-poll, and a race of many raters over HTTP. Each test runs a
real rungd on an ephemeral port with its own database."""

import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import until  # noqa: E402


def pair(i, batch=None):
    item = {"prompt": "question %d" % i, "responses": ["answer A %d" % i, "answer B %d" % i]}
    if batch:
        item["batch"] = batch
    return item


class ReviewCase(rungtest.DaemonCase):
    daemon_args = ["--gold-rate", "0"]

    def setUp(self):
        self.shown = {}  # (token, task id) -> swapped, from GET /v1/tasks/next
        super().setUp()

    def post_items(self, items):
        st, _, body = self.d.request("POST", "/v1/items", {"items": items}, token=self.pipe)
        self.assertEqual(st, 201, body)
        return [x["id"] for x in body["items"]]

    def next(self, token, query=""):
        reply = self.d.request("GET", "/v1/tasks/next" + query, token=token)
        if reply[0] == 200:
            self.shown[(token, reply[2]["id"])] = reply[2]["swapped"]
        return reply

    def label(self, token, task_id, answer, **extra):
        """Labels in the item's own order: the answer is mapped to the order
        the task was shown to this rater (see label_shown)."""
        if self.shown.get((token, task_id)) and answer in ("a", "b"):
            answer = "b" if answer == "a" else "a"
        return self.label_shown(token, task_id, answer, **extra)

    def label_shown(self, token, task_id, answer, **extra):
        """Labels as the page does: "a" means responses[0] as shown."""
        body = {"answer": answer}
        body.update(extra)
        return self.d.request("POST", "/v1/tasks/%d/labels" % task_id, body, token=token)


class TestLeasing(ReviewCase):
    def test_next_shape_and_held_lease(self):
        self.post_items([pair(1), {"prompt": "p", "response": "single one", "priority": 9}])
        r1 = self.d.key("rater", "r1")
        st, h, t = self.next(r1)
        self.assertEqual(st, 200)
        # Highest priority first.
        self.assertEqual(t["kind"], "single")
        self.assertEqual(t["response"], "single one")
        for k in ("id", "prompt", "assistance", "lease_expires_ms", "lease_seconds", "remaining"):
            self.assertIn(k, t)
        self.assertIsNone(t["assistance"])
        self.assertGreater(t["lease_expires_ms"], time.time() * 1000)
        self.assertEqual(t["lease_seconds"], 600)
        self.assertEqual(h.get("Cache-Control"), "no-store")
        # Asking again returns the lease it holds (a reloaded page).
        st, _, again = self.next(r1)
        self.assertEqual((st, again["id"]), (200, t["id"]))
        # A second rater gets the other task; a third gets nothing.
        r2, r3 = self.d.key("rater", "r2"), self.d.key("rater", "r3")
        st, _, t2 = self.next(r2)
        self.assertEqual(st, 200)
        self.assertEqual(t2["kind"], "pair")
        shown = ["answer B 1", "answer A 1"] if t2["swapped"] else ["answer A 1", "answer B 1"]
        self.assertEqual(t2["responses"], shown)
        st, _, body = self.next(r3)
        self.assertEqual((st, body), (204, b""))

    def test_roles(self):
        self.post_items([pair(1)])
        st, _, body = self.next(self.pipe)
        self.assertEqual((st, body["error"]["code"]), (403, "forbidden"))
        st, _, body = self.next(None)
        self.assertEqual(st, 401)
        # Admins may label too.
        st, _, t = self.next(self.admin)
        self.assertEqual(st, 200)
        st, _, body = self.label(self.pipe, t["id"], "a")
        self.assertEqual(st, 403)

    def test_label_resolves_and_writes_comparison(self):
        ids = self.post_items([pair(1)])
        r1 = self.d.key("rater", "r1")
        _, _, t = self.next(r1)
        st, _, body = self.label(r1, t["id"], "b", confidence=4, rationale="B is right", seconds=12.5)
        self.assertEqual(st, 201, body)
        self.assertEqual(body["verdict"], "b")
        st, _, item = self.d.request("GET", "/v1/items/" + ids[0], token=self.pipe)
        self.assertEqual((item["status"], item["verdict"], item["verdict_source"]),
                         ("resolved", "b", "human"))
        rows = self.d.sql("SELECT prompt, chosen, rejected, tie, source, provenance FROM comparisons")
        self.assertEqual(len(rows), 1)
        prompt, chosen, rejected, tie, source, prov = rows[0]
        self.assertEqual((prompt, chosen, rejected, tie, source),
                         ("question 1", "answer B 1", "answer A 1", 0, "human"))
        self.assertEqual(len(json.loads(prov)["raters"]), 1)
        lab = self.d.sql("SELECT answer, confidence, rationale, seconds FROM labels")
        self.assertEqual(lab, [("b", 4, "B is right", 12.5)])
        # The lease is gone and the queue is empty.
        self.assertEqual(self.d.sql("SELECT count(*) FROM leases")[0][0], 0)
        self.assertEqual(self.next(r1)[0], 204)

    def test_label_idempotent_and_conflict(self):
        self.post_items([pair(1), pair(2)])
        r1 = self.d.key("rater", "r1")
        _, _, t = self.next(r1)
        self.assertEqual(self.label(r1, t["id"], "a")[0], 201)
        st, _, body = self.label(r1, t["id"], "a")
        self.assertEqual((st, body["status"], body["replaced"]), (200, "repeat", False))
        # A later label makes the first one no longer the rater's last:
        # it cannot change any more, even within the grace period.
        _, _, t2 = self.next(r1)
        self.assertEqual(self.label(r1, t2["id"], "a")[0], 201)
        st, _, body = self.label(r1, t["id"], "b")
        self.assertEqual((st, body["error"]["code"]), (409, "label_conflict"))
        self.assertEqual(self.d.sql("SELECT count(*) FROM labels")[0][0], 2)
        self.assertEqual(self.d.sql("SELECT answer FROM labels WHERE task_id = ?", (t["id"],)),
                         [("a",)])

    def test_label_validation_changes_nothing(self):
        self.post_items([pair(1), {"prompt": "p", "response": "r"}])
        r1 = self.d.key("rater", "r1")
        _, _, t = self.next(r1)
        tid = t["id"]
        cases = [
            ({"answer": "good"}, 422, "invalid_answer"),
            ({"answer": "maybe"}, 422, "invalid_label"),
            ({"answer": "a", "confidence": 6}, 422, "invalid_label"),
            ({"answer": "a", "confidence": "high"}, 422, "invalid_label"),
            ({"answer": "a", "rationale": "x" * 4097}, 422, "invalid_label"),
            ({"answer": "a", "extra": 1}, 422, "invalid_label"),
            ({"answer": "a", "seconds": -1}, 422, "invalid_label"),
        ]
        for body, status, code in cases:
            st, _, reply = self.d.request("POST", "/v1/tasks/%d/labels" % tid, body, token=r1)
            self.assertEqual((st, reply["error"]["code"]), (status, code), body)
        st, _, reply = self.d.request("POST", "/v1/tasks/%d/labels" % tid, raw="{bad",
                                      token=r1)
        self.assertEqual((st, reply["error"]["code"]), (400, "malformed_json"))
        st, _, reply = self.d.request("POST", "/v1/tasks/%d/labels" % tid, raw='{"answer":"a"}',
                                      token=r1, headers={"Content-Type": "text/plain"})
        self.assertEqual(st, 415)
        st, _, reply = self.label(r1, 999999, "a")
        self.assertEqual((st, reply["error"]["code"]), (404, "not_found"))
        st, _, reply = self.label(r1, 0, "a")
        self.assertEqual(st, 404)
        st, _, reply = self.d.request("POST", "/v1/tasks/abc/labels", {"answer": "a"}, token=r1)
        self.assertEqual(st, 404)
        self.assertEqual(self.d.sql("SELECT count(*) FROM labels")[0][0], 0)
        self.assertEqual(self.d.sql("SELECT leased FROM tasks WHERE id = ?", (tid,))[0][0], 1)

    def test_label_needs_the_task_served(self):
        self.post_items([pair(1), pair(2)])
        r1, r2 = self.d.key("rater", "r1"), self.d.key("rater", "r2")
        _, _, t = self.next(r1)
        # r2 was never given t: picking tasks by id is refused, nothing changes.
        st, _, body = self.label(r2, t["id"], "a")
        self.assertEqual((st, body["error"]["code"]), (409, "not_served"))
        self.assertEqual(self.d.sql("SELECT count(*) FROM labels")[0][0], 0)
        self.assertEqual(self.d.sql("SELECT leased FROM tasks WHERE id = ?", (t["id"],)), [(1,)])
        # A skipped task cannot be labelled afterwards either.
        _, _, t2 = self.next(r2)
        self.d.request("POST", "/v1/tasks/%d/release" % t2["id"], token=r2)
        st, _, body = self.label(r2, t2["id"], "a")
        self.assertEqual((st, body["error"]["code"]), (409, "not_served"))

    def test_release_skips_for_that_rater(self):
        self.post_items([pair(1)])
        r1, r2 = self.d.key("rater", "r1"), self.d.key("rater", "r2")
        _, _, t = self.next(r1)
        st, _, body = self.d.request("POST", "/v1/tasks/%d/release" % t["id"], token=r1)
        self.assertEqual((st, body["released"]), (200, True))
        st, _, body = self.d.request("POST", "/v1/tasks/%d/release" % t["id"], token=r1)
        self.assertEqual((st, body["error"]["code"]), (404, "no_lease"))
        self.assertEqual(self.next(r1)[0], 204)  # not offered again to who skipped it
        st, _, t2 = self.next(r2)
        self.assertEqual((st, t2["id"]), (200, t["id"]))


class TestOverlap(ReviewCase):
    def test_overlap_rule_majority_and_no_over_assignment(self):
        st, _, body = self.d.request("PUT", "/v1/overlap", {"batch": "triple", "overlap": 3,
                                                      "future": True}, token=self.admin)
        self.assertEqual(st, 200, body)
        st, _, body = self.d.request("PUT", "/v1/overlap", {"batch": "triple", "overlap": 0},
                                     token=self.admin)
        self.assertEqual(st, 422)
        ids = self.post_items([pair(1, batch="triple")])
        raters = [self.d.key("rater", "r%d" % i) for i in range(4)]
        tasks = [self.next(r) for r in raters]
        got = [t for (st, _, t) in tasks if st == 200]
        self.assertEqual(len(got), 3)              # three slots, three leases
        self.assertEqual(tasks[3][0], 204)          # the fourth rater gets nothing
        self.assertEqual(len({t["id"] for t in got}), 1)
        tid = got[0]["id"]
        self.assertEqual(self.label(raters[0], tid, "a")[0], 201)
        self.assertEqual(self.label(raters[1], tid, "b")[0], 201)
        st, _, body = self.d.request("GET", "/v1/items/" + ids[0], token=self.pipe)
        self.assertEqual(body["status"], "awaiting_human")   # 2 of 3 labels
        st, _, body = self.label(raters[2], tid, "a")
        self.assertEqual((st, body["verdict"]), (201, "a"))
        st, _, body = self.d.request("GET", "/v1/items/" + ids[0], token=self.pipe)
        self.assertEqual((body["status"], body["verdict"]), ("resolved", "a"))
        self.assertAlmostEqual(body["confidence"], 2 / 3, places=6)
        # The fourth rater labelling late: the task is complete.
        st, _, body = self.label(raters[3], tid, "a")
        self.assertEqual((st, body["error"]["code"]), (409, "task_complete"))

    def test_lowering_overlap_keeps_granted_leases(self):
        self.d.request("PUT", "/v1/overlap", {"batch": "b1", "overlap": 3, "future": True},
                       token=self.admin)
        self.post_items([pair(1, batch="b1")])
        raters = [self.d.key("rater", "r%d" % i) for i in range(3)]
        tid = [self.next(r)[2]["id"] for r in raters][0]
        st, _, _ = self.d.request("PUT", "/v1/overlap", {"batch": "b1", "overlap": 1},
                                  token=self.admin)
        self.assertEqual(st, 200)
        # Three raters hold leases: the task keeps room for their labels.
        self.assertEqual(self.d.sql("SELECT overlap, leased FROM tasks"), [(3, 3)])
        for r in raters:
            self.assertEqual(self.label(r, tid, "a")[0], 201)
        self.assertEqual(self.d.sql("SELECT state, labels_done, leased FROM tasks"),
                         [("done", 3, 0)])
        for r in raters:
            self.assertEqual(self.next(r)[0], 204)   # nobody is handed the done task again

    def test_split_is_a_tie(self):
        self.d.request("PUT", "/v1/overlap", {"domain": "prose", "overlap": 2, "future": True},
                       token=self.admin)
        item = pair(1)
        item["domain"] = "prose"
        self.post_items([item])
        r1, r2 = self.d.key("rater", "r1"), self.d.key("rater", "r2")
        t = self.next(r1)[2]
        self.assertEqual(self.next(r2)[2]["id"], t["id"])
        self.label(r1, t["id"], "a")
        st, _, body = self.label(r2, t["id"], "b")
        self.assertEqual(body["verdict"], "tie")
        self.assertEqual(self.d.sql("SELECT tie, source FROM comparisons"), [(1, "human")])


class TestSplitExtraLabel(ReviewCase):
    daemon_args = ["--gold-rate", "0", "--overlap", "2", "--split-extra-label"]

    def test_split_asks_one_more_label_once(self):
        ids = self.post_items([pair(1)])
        r = [self.d.key("rater", "r%d" % i) for i in range(4)]
        t = self.next(r[0])[2]
        self.assertEqual(self.next(r[1])[2]["id"], t["id"])
        self.assertEqual(self.next(r[2])[0], 204)          # two slots, both leased
        self.label(r[0], t["id"], "a")
        st, _, body = self.label(r[1], t["id"], "b")
        self.assertEqual(st, 201)
        self.assertNotIn("verdict", body)                    # split: not resolved
        self.assertEqual(self.d.sql("SELECT overlap, state FROM tasks"), [(3, "open")])
        st, _, t3 = self.next(r[2])
        self.assertEqual((st, t3["id"]), (200, t["id"]))
        st, _, body = self.label(r[2], t["id"], "b")
        self.assertEqual((st, body["verdict"]), (201, "b"))
        st, _, item = self.d.request("GET", "/v1/items/" + ids[0], token=self.pipe)
        self.assertEqual((item["status"], item["verdict"]), ("resolved", "b"))


class TestExpiry(ReviewCase):
    daemon_args = ["--gold-rate", "0", "--lease-seconds", "1"]

    def test_expired_lease_returns_task_and_late_label_rules(self):
        self.post_items([pair(1)])
        r1, r2 = self.d.key("rater", "r1"), self.d.key("rater", "r2")
        st, _, t = self.next(r1)
        self.assertEqual(self.next(r2)[0], 204)     # held by r1
        def leased_to_r2():  # once r1's lease expires, the task is back in the queue
            reply = self.next(r2)
            return reply if reply[0] == 200 else None
        st, _, t2 = until(leased_to_r2, "the expired lease to return the task")
        self.assertEqual((st, t2["id"]), (200, t["id"]))
        st, _, body = self.label(r1, t["id"], "a")  # late, and r2 holds the only slot
        self.assertEqual((st, body["error"]["code"]), (409, "lease_lost"))
        self.assertIn("expired", body["error"]["message"])
        self.assertEqual(self.label(r2, t["id"], "b")[0], 201)
        self.assertEqual(self.d.sql("SELECT answer FROM labels"), [("b",)])

    def test_late_label_accepted_while_slot_free(self):
        self.post_items([pair(1)])
        r1 = self.d.key("rater", "r1")
        _, _, t = self.next(r1)
        # Expired, and reaped by the idle writer: no longer live, kept as the
        # mark that r1 was served it.
        until(lambda: self.d.sql("SELECT live FROM leases") == [(0,)], "the idle reaper")
        self.assertEqual(self.d.sql("SELECT leased FROM tasks"), [(0,)])
        st, _, body = self.label(r1, t["id"], "a")
        self.assertEqual(st, 201, body)
        self.assertEqual(self.d.sql("SELECT state, labels_done, leased FROM tasks"),
                         [("done", 1, 0)])


class TestGold(ReviewCase):
    daemon_args = ["--gold-rate", "100"]

    def test_gold_scores_rater_never_resolves(self):
        ids = self.post_items([pair(1), pair(2)])
        st, _, body = self.d.request("POST", "/v1/items/%s/gold" % ids[0], {"answer": "a"},
                                     token=self.admin)
        self.assertEqual(st, 200, body)
        st, _, body = self.d.request("POST", "/v1/items/%s/gold" % ids[0], {"answer": "good"},
                                     token=self.admin)
        self.assertEqual((st, body["error"]["code"]), (422, "invalid_answer"))
        st, _, body = self.d.request("POST", "/v1/items/%s/gold" % ids[0], {"answer": "a"},
                                     token=self.pipe)
        self.assertEqual(st, 403)
        st, _, body = self.d.request("POST", "/v1/items/nope/gold", {"answer": "a"},
                                     token=self.admin)
        self.assertEqual(st, 404)
        raters = [self.d.key("rater", "r%d" % i) for i in range(2)]
        # With a 100% rate, each rater sees the gold task first.
        for r, ans in zip(raters, ["a", "b"]):
            st, _, t = self.next(r)
            self.assertEqual((st, t["prompt"]), (200, "question 1"))
            self.assertEqual(self.label(r, t["id"], ans)[0], 201)
        # The admin's answer settles the item; the raters' labels did not.
        st, _, item = self.d.request("GET", "/v1/items/" + ids[0], token=self.pipe)
        self.assertEqual((item["status"], item["gold"], item["verdict"], item["verdict_source"]),
                         ("resolved", True, "a", "human"))
        self.assertEqual(self.d.sql("SELECT count(*) FROM comparisons")[0][0], 0)
        st, _, body = self.d.request("GET", "/v1/raters", token=self.admin)
        self.assertEqual(st, 200)
        by = {r["name"]: r for r in body["raters"]}
        self.assertEqual((by["r0"]["gold_seen"], by["r0"]["gold_right"], by["r0"]["gold_accuracy"]),
                         (1, 1, 1.0))
        self.assertEqual((by["r1"]["gold_seen"], by["r1"]["gold_accuracy"]), (1, 0.0))
        # After their gold task, raters get the normal queue.
        st, _, t = self.next(raters[0])
        self.assertEqual((st, t["prompt"]), (200, "question 2"))
        self.assertEqual(self.d.request("GET", "/v1/raters", token=self.pipe)[0], 403)


class TestLongPoll(ReviewCase):
    def test_wait_returns_when_work_arrives(self):
        r1 = self.d.key("rater", "r1")
        t0 = time.monotonic()
        st, _, _ = self.next(r1, "?wait=1")
        self.assertEqual(st, 204)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertEqual(self.next(r1, "?wait=31")[0], 400)
        self.assertEqual(self.next(r1, "?wait=x")[0], 400)

        def later():
            self.d.wait_inflight(1, self.admin)  # the long-poll
            self.post_items([pair(7)])
        th = threading.Thread(target=later)
        th.start()
        t0 = time.monotonic()
        st, _, t = self.next(r1, "?wait=20")
        th.join()
        self.assertEqual((st, t["prompt"]), (200, "question 7"))
        self.assertLess(time.monotonic() - t0, 15)

    def test_shutdown_ends_long_polls(self):
        r1 = self.d.key("rater", "r1")
        result = {}

        def poll():
            result["st"] = self.next(r1, "?wait=30")[0]
        th = threading.Thread(target=poll)
        th.start()
        self.d.wait_inflight(1, self.admin)
        t0 = time.monotonic()
        self.d.stop()
        th.join(20)
        self.assertEqual(result.get("st"), 204)
        self.assertLess(time.monotonic() - t0, 15)


class TestForeignWriter(ReviewCase):
    """Tasks added by another process on the same database (rungd import
    into a running daemon's file) are counted and wake long-polls."""

    def write_trl(self, n):
        path = os.path.join(self.d.tmpdir, "pairs.jsonl")
        with open(path, "w") as f:
            for i in range(n):
                f.write(json.dumps({"prompt": "imported %d" % i, "chosen": "yes %d" % i,
                                    "rejected": "no %d" % i}) + "\n")
        return path

    def test_import_by_another_process_counts_and_wakes(self):
        self.post_items([pair(1)])
        r1, r2 = self.d.key("rater", "r1"), self.d.key("rater", "r2")
        st, _, t = self.next(r1)
        self.assertEqual((st, t["remaining"]), (200, 1))
        result = {}

        def poll():  # r2 has nothing to do yet: r1 holds the only task
            result["r"] = self.next(r2, "?wait=30")
        th = threading.Thread(target=poll)
        th.start()
        self.d.wait_inflight(1, self.admin)
        p = self.d.cli("import", "--db", self.d.db, "--format", "trl", "--as", "items",
                       self.write_trl(5))
        self.assertEqual(p.returncode, 0, p.stderr)
        th.join(60)
        st, _, t2 = result["r"]
        self.assertEqual(st, 200, t2)
        self.assertTrue(t2["prompt"].startswith("imported "), t2)
        self.assertEqual(t2["remaining"], 6)
        # Labelled, the first task leaves the count.
        self.assertEqual(self.label(r1, t["id"], "a")[0], 201)
        st, _, t3 = self.next(r1)
        self.assertEqual((st, t3["remaining"]), (200, 5))

    def test_a_claim_after_an_import_counts_it(self):
        """A claim made once `rungd import` has returned counts what it
        added, whether or not the daemon's listener (PostgreSQL) has heard
        of it yet: each round imports one pair, then r1 claims it (the
        only open task) and labels it."""
        r1 = self.d.key("rater", "r1")
        path = os.path.join(self.d.tmpdir, "one.jsonl")
        for k in range(10):
            with open(path, "w") as f:
                f.write(json.dumps({"prompt": "round %d" % k, "chosen": "yes", "rejected": "no"})
                        + "\n")
            p = self.d.cli("import", "--db", self.d.db, "--format", "trl", "--as", "items", path)
            self.assertEqual(p.returncode, 0, p.stderr)
            st, _, t = self.next(r1)
            self.assertEqual((st, t["prompt"], t["remaining"]), (200, "round %d" % k, 1), k)
            self.assertEqual(self.label(r1, t["id"], "a")[0], 201)


class TestRace(ReviewCase):
    daemon_args = ["--gold-rate", "0", "--overlap", "2"]

    def test_many_raters_no_over_assignment_no_lost_label(self):
        n_tasks, n_raters = 60, 24
        self.post_items([pair(i) for i in range(n_tasks)])
        tokens = [self.d.key("rater", "r%02d" % i) for i in range(n_raters)]
        acked = []
        errors = []
        lock = threading.Lock()
        max_holders = {}

        def work(idx, tok):
            conn = self.d.connection()
            try:
                while True:
                    st, _, t = self.d.request("GET", "/v1/tasks/next", token=tok, conn=conn)
                    if st == 204:
                        return
                    if st != 200:
                        errors.append(("next", st, t))
                        return
                    ans = "a" if (idx + t["id"]) % 3 else "b"
                    st, _, body = self.d.request("POST", "/v1/tasks/%d/labels" % t["id"],
                                                 {"answer": ans}, token=tok, conn=conn)
                    if st not in (200, 201):
                        errors.append(("label", st, body))
                        return
                    if t["swapped"]:  # stored in the item's own order
                        ans = "b" if ans == "a" else "a"
                    with lock:
                        acked.append((t["id"], idx, ans))
            finally:
                conn.close()

        def watch(stop):
            while not stop.is_set():
                for tid, held, done, overlap in self.d.sql(
                        "SELECT id, leased, labels_done, overlap FROM tasks"):
                    max_holders[tid] = max(max_holders.get(tid, 0), held + done)
                stop.wait(0.01)  # a sample every 10 ms until the raters are done

        stop = threading.Event()
        watcher = threading.Thread(target=watch, args=(stop,))
        watcher.start()
        threads = [threading.Thread(target=work, args=(i, t)) for i, t in enumerate(tokens)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(300)
        stop.set()
        watcher.join()
        self.assertEqual(errors, [])
        # Every task got exactly its two labels, from two different raters.
        self.assertEqual(len(acked), n_tasks * 2)
        per_task = {}
        for tid, idx, _ in acked:
            per_task.setdefault(tid, []).append(idx)
        self.assertEqual(len(per_task), n_tasks)
        for tid, who in per_task.items():
            self.assertEqual(len(who), 2, tid)
            self.assertEqual(len(set(who)), 2, tid)
        # No acknowledged label is missing from the database.
        rows = self.d.sql("SELECT l.task_id, k.name, l.answer FROM labels l "
                          "JOIN raters r ON r.id = l.rater_id JOIN api_keys k ON k.id = r.key_id")
        stored = {(tid, int(name[1:]), ans) for tid, name, ans in rows}
        self.assertEqual(stored, set(acked))
        # Never more holders than slots, at any moment the watcher saw.
        self.assertTrue(all(v <= 2 for v in max_holders.values()), max_holders)
        self.assertEqual(self.d.sql("SELECT count(*) FROM tasks WHERE state != 'done' "
                                    "OR labels_done != 2 OR leased != 0")[0][0], 0)
        self.assertEqual(self.d.sql("SELECT count(*) FROM items WHERE status = 'resolved'")[0][0],
                         n_tasks)
        self.assertEqual(self.d.sql("SELECT count(*) FROM comparisons")[0][0], n_tasks)


# A layer's training report whose calibration curve gives these bins:
# [0.5, 0.6): 40 of 100 right; [0.6, 0.8): 62 of 80; [0.8, 1]: 18 of 20.
REPORT = {"calibration": {"items": 200, "curve": [
    {"confidence": 0.5, "coverage": 1.0, "accuracy": 0.6},
    {"confidence": 0.6, "coverage": 0.5, "accuracy": 0.8},
    {"confidence": 0.8, "coverage": 0.1, "accuracy": 0.9}]}}


class TestSides(ReviewCase):
    def test_both_orders_recorded_mapped_back_and_left_share(self):
        n = 40
        ids = self.post_items([pair(i) for i in range(n)])
        r1 = self.d.key("rater", "r1")
        seen = {}
        for k in range(n):
            st, _, t = self.next(r1)
            self.assertEqual(st, 200)
            # A reloaded page shows the same order.
            st, _, again = self.next(r1)
            self.assertEqual((again["id"], again["swapped"], again["responses"]),
                             (t["id"], t["swapped"], t["responses"]))
            i = int(t["prompt"].split()[1])
            want = ["answer A %d" % i, "answer B %d" % i]
            self.assertEqual(t["responses"], want[::-1] if t["swapped"] else want)
            # The rater always picks the left one, except one tie.
            st, _, body = self.label_shown(r1, t["id"], "tie" if k == 0 else "a")
            self.assertEqual((st, body["swapped"]), (201, t["swapped"]))
            seen[i] = (t["swapped"], k == 0)
        self.assertEqual({sw for sw, _ in seen.values()}, {True, False})
        # Stored in the item's order, with the order shown.
        for i, (sw, tie) in seen.items():
            st, _, item = self.d.request("GET", "/v1/items/" + ids[i], token=self.pipe)
            self.assertEqual(item["verdict"], "tie" if tie else ("b" if sw else "a"))
        rows = self.d.sql("SELECT i.prompt, l.answer, l.swapped FROM labels l "
                          "JOIN tasks t ON t.id = l.task_id JOIN items i ON i.seq = t.item_seq")
        for prompt, answer, sw in rows:
            i = int(prompt.split()[1])
            self.assertEqual(bool(sw), seen[i][0])
            if not seen[i][1]:
                self.assertEqual(answer, "b" if sw else "a")
        # A swapped "a" chose the item's b: the comparison says so.
        i = next(i for i, (sw, tie) in seen.items() if sw and not tie)
        self.assertEqual(self.d.sql("SELECT chosen, rejected FROM comparisons WHERE prompt = ?",
                                    ("question %d" % i,)),
                         [("answer B %d" % i, "answer A %d" % i)])
        st, _, raters = self.d.request("GET", "/v1/raters", token=self.admin)
        me = next(x for x in raters["raters"] if x["name"] == "r1")
        self.assertEqual((me["left_share"], me["side_picks"], me["labels"]), (1.0, n - 1, n))

    def test_fixed_order_option(self):
        self.d.stop()
        self.d.extra_args = list(self.d.extra_args) + ["--side-order", "fixed"]
        self.d.start()
        self.post_items([pair(i) for i in range(12)])
        r1 = self.d.key("rater", "r1")
        for _ in range(12):
            st, _, t = self.next(r1)
            self.assertEqual((t["swapped"], t["responses"][0].startswith("answer A")),
                             (False, True))
            self.label_shown(r1, t["id"], "a")
        p = self.d.cli("serve", "--side-order", "sideways")
        self.assertEqual(p.returncode, 2)


class TestAssistance(ReviewCase):
    def layer_item(self, confidence, p_a, batch=None):
        """One pair item scored by a (stored, inactive) layer with REPORT."""
        [(layer,)] = self.d.sql("INSERT INTO layers(status, kind, metrics, created_ms) "
                                "VALUES('candidate', 'hashed-bt', ?, 0) RETURNING id",
                                (json.dumps(REPORT),))
        [item] = self.post_items([pair(1, batch)])
        scores = {"layer": layer, "p_a": p_a, "confidence": confidence,
                  "preference": "a" if p_a >= 0.5 else "b"}
        self.d.sql("UPDATE items SET layer_id = ?, scores = ? WHERE id = ?",
                   (layer, json.dumps(scores), item))
        return layer, item

    def test_calibrated_and_swapped_with_the_task(self):
        layer, _ = self.layer_item(0.7, 0.2)
        for i in range(8):  # raters until both orders were shown
            r = self.d.key("rater", "r%d" % i)
            st, _, t = self.next(r)
            self.assertEqual(st, 200)
            a = t["assistance"]
            self.assertEqual(t["assistance_mode"], "shown")
            self.assertEqual((a["layer_id"], a["confidence"], a["right_share"], a["right_n"]),
                             (layer, 0.7, 0.775, 80))
            # The item prefers b (p_a 0.2): shown swapped, that is the left one.
            self.assertEqual((a["preference"], round(a["p"], 4)),
                             ("a", 0.8) if t["swapped"] else ("b", 0.2))
            self.d.request("POST", "/v1/tasks/%d/release" % t["id"], token=r)
        # The label keeps the assistance that was shown.
        r = self.d.key("rater", "rz")
        t = self.next(r)[2]
        self.label_shown(r, t["id"], "a")
        self.assertEqual(json.loads(self.d.sql("SELECT assistance FROM labels")[0][0])["layer"],
                         layer)

    def test_single_response_uses_the_pointwise_curve(self):
        report = {"calibration": None, "pointwise": {"calibration": {"items": 50, "curve": [
            {"confidence": 0.5, "coverage": 1.0, "accuracy": 0.9}]}}}
        [(layer,)] = self.d.sql("INSERT INTO layers(status, kind, metrics, created_ms) "
                                "VALUES('candidate', 'hashed-bt', ?, 0) RETURNING id",
                                (json.dumps(report),))
        [item] = self.post_items([{"prompt": "p", "response": "one reply"}])
        scores = {"layer": layer, "p_good": 0.9, "confidence": 0.9, "preference": "good"}
        self.d.sql("UPDATE items SET layer_id = ?, scores = ? WHERE id = ?",
                   (layer, json.dumps(scores), item))
        t = self.next(self.d.key("rater", "r1"))[2]
        self.assertEqual((t["swapped"], t["assistance"]["preference"], t["assistance"]["p"],
                          t["assistance"]["right_share"], t["assistance"]["right_n"]),
                         (False, "good", 0.9, 0.9, 50))

    def test_no_better_than_chance_says_nothing(self):
        for conf in (0.52, 0.57):  # under 0.55; in a bin right 40% of the time
            self.layer_item(conf, 0.3)
        r = self.d.key("rater", "r1")
        for _ in range(2):
            st, _, t = self.next(r)
            self.assertIsNone(t["assistance"])
            self.label_shown(r, t["id"], "a")

    def test_modes_after_and_hidden(self):
        for mode in ("after", "hidden"):
            st, _, b = self.d.request("PUT", "/v1/batches/b-" + mode, {"assistance": mode},
                                      token=self.admin)
            self.assertEqual((st, b), (200, {"batch": "b-" + mode, "assistance": mode,
                                             "guidelines": None, "paused": False}))
            self.layer_item(0.9, 0.1, batch="b-" + mode)
        r = self.d.key("rater", "r1")
        got = {}
        for _ in range(2):
            st, _, t = self.next(r)
            self.assertIsNone(t["assistance"])
            st, _, body = self.label_shown(r, t["id"], "tie")
            self.assertEqual(st, 201)
            got[t["assistance_mode"]] = body["assistance"]
        self.assertIsNone(got["hidden"])
        self.assertEqual((got["after"]["right_share"], got["after"]["right_n"]), (0.9, 20))
        # Nothing was shown before the answers: the labels keep no assistance.
        self.assertEqual(self.d.sql("SELECT assistance FROM labels"), [(None,), (None,)])


class TestBatches(ReviewCase):
    def test_settings_guidelines_and_errors(self):
        path = "/v1/batches/b1"
        st, _, b = self.d.request("GET", path, token=self.admin)
        # The settings sit among the batch's figures (test_admin.py).
        self.assertEqual((st, b["batch"], b["assistance"], b["guidelines"]),
                         (200, "b1", "shown", None))
        text = "<b>Prefer</b> the honest answer.\nIgnore length."
        st, _, b = self.d.request("PUT", path, {"guidelines": text}, token=self.admin)
        self.assertEqual((st, b["assistance"], b["guidelines"]), (200, "shown", text))
        st, _, b = self.d.request("PUT", path, {"assistance": "after"}, token=self.admin)
        self.assertEqual((st, b["assistance"], b["guidelines"]), (200, "after", text))
        for bad in ({"assistance": "sometimes"}, {"assistance": 1}, {"colour": "red"},
                    {"guidelines": 5}, {"guidelines": "x" * 8193}):
            st, _, e = self.d.request("PUT", path, bad, token=self.admin)
            self.assertEqual((st, e["error"]["code"]), (422, "invalid_body"), bad)
        r1 = self.d.key("rater", "r1")
        self.assertEqual(self.d.request("PUT", path, {"assistance": "hidden"}, token=r1)[0], 403)
        self.assertEqual(self.d.request("PUT", path, {"assistance": "hidden"},
                                        token=self.pipe)[0], 403)
        st, _, b = self.d.request("GET", path, token=self.admin)
        self.assertEqual((b["assistance"], b["guidelines"]), ("after", text))
        # The rater sees them with the task, as text.
        self.post_items([pair(1, "b1")])
        st, _, t = self.next(r1)
        self.assertEqual((t["guidelines"], t["assistance_mode"]), (text, "after"))
        # Null (or "") clears them.
        st, _, b = self.d.request("PUT", path, {"guidelines": None}, token=self.admin)
        self.assertEqual((b["assistance"], b["guidelines"]), ("after", None))


class TestProgress(ReviewCase):
    def test_counts_from_the_server(self):
        self.post_items([pair(i) for i in range(3)])
        r1 = self.d.key("rater", "r1")
        st, _, me = self.d.request("GET", "/v1/me", token=r1)
        self.assertEqual((st, me["name"], me["progress"]), (200, "r1", {"today": 0, "total": 0}))
        st, _, t = self.next(r1)
        self.assertEqual(t["progress"], {"today": 0, "total": 0})
        st, _, body = self.label_shown(r1, t["id"], "a")
        self.assertEqual(body["progress"], {"today": 1, "total": 1})
        t = self.next(r1)[2]
        self.label_shown(r1, t["id"], "b")
        self.assertEqual(self.next(r1)[2]["progress"], {"today": 2, "total": 2})
        # A label from yesterday counts in the total only.
        self.d.sql("UPDATE labels SET created_ms = created_ms - 86400000 "
                   "WHERE task_id = ?", (t["id"],))
        st, _, me = self.d.request("GET", "/v1/me", token=r1)
        self.assertEqual(me["progress"], {"today": 1, "total": 2})
        self.assertEqual(self.d.request("GET", "/v1/me", token=self.pipe)[0], 403)


class TestUndo(ReviewCase):
    def test_replace_within_grace_redoes_the_verdict(self):
        ids = self.post_items([pair(1), pair(2)])
        r1 = self.d.key("rater", "r1")
        st, _, t = self.next(r1)
        st, _, first = self.label(r1, t["id"], "a", confidence=2)
        self.assertEqual((st, first["verdict"]), (201, "a"))
        self.assertGreater(first["undo_until_ms"], time.time() * 1000 + 50000)
        self.assertEqual(self.d.sql("SELECT chosen FROM comparisons"), [("answer A 1",)])
        # The page holds the next task meanwhile; it shows the last one again.
        st, _, t2 = self.next(r1)
        st, _, again = self.d.request("GET", "/v1/tasks/%d" % t["id"], token=r1)
        self.assertEqual((st, again["responses"], again["swapped"]),
                         (200, t["responses"], t["swapped"]))
        self.assertEqual(again["label"]["answer"], "b" if t["swapped"] else "a")
        self.assertEqual(again["label"]["undo_until_ms"], first["undo_until_ms"])
        st, _, body = self.label(r1, t["id"], "b", confidence=5)
        self.assertEqual((st, body["status"], body["replaced"], body["verdict"]),
                         (200, "replaced", True, "b"))
        self.assertEqual(body["previous"], "b" if t["swapped"] else "a")
        st, _, item = self.d.request("GET", "/v1/items/" + ids[0], token=self.pipe)
        self.assertEqual((item["status"], item["verdict"]), ("resolved", "b"))
        self.assertEqual(self.d.sql("SELECT chosen, rejected FROM comparisons"),
                         [("answer B 1", "answer A 1")])
        self.assertEqual(self.d.sql("SELECT answer, confidence FROM labels"), [("b", 5)])
        [(actor, kind, subject, detail)] = self.d.sql(
            "SELECT actor, kind, subject, detail FROM events")
        detail = json.loads(detail)
        self.assertEqual((actor, kind, subject), ("r1", "label_replaced", "task:%d" % t["id"]))
        self.assertEqual((detail["old"], detail["new"], detail["verdict"]), ("a", "b", "b"))
        # The same answer again is a repeat; the held task is still served.
        self.assertEqual(self.label(r1, t["id"], "b")[2]["status"], "repeat")
        self.assertEqual(self.next(r1)[2]["id"], t2["id"])
        # Another rater may not see it.
        r2 = self.d.key("rater", "r2")
        st, _, e = self.d.request("GET", "/v1/tasks/%d" % t["id"], token=r2)
        self.assertEqual((st, e["error"]["code"]), (404, "not_found"))
        self.assertEqual(self.d.request("GET", "/v1/tasks/x", token=r2)[0], 404)



class TestUndoGold(ReviewCase):
    daemon_args = ["--gold-rate", "100"]

    def test_gold_score_follows_the_change(self):
        ids = self.post_items([pair(1)])
        self.d.request("POST", "/v1/items/%s/gold" % ids[0], {"answer": "a"}, token=self.admin)
        r1 = self.d.key("rater", "r1")
        t = self.next(r1)[2]
        self.label(r1, t["id"], "b")
        self.assertEqual(self.label(r1, t["id"], "a")[0], 200)
        st, _, raters = self.d.request("GET", "/v1/raters", token=self.admin)
        me = next(x for x in raters["raters"] if x["name"] == "r1")
        self.assertEqual((me["labels"], me["gold_seen"], me["gold_right"]), (1, 1, 1))


class UndoCase(ReviewCase):
    def label_one(self):
        """One pair labelled "a" by r1: (r1's token, the task, the reply)."""
        self.post_items([pair(1)])
        r1 = self.d.key("rater", "r1")
        t = self.next(r1)[2]
        st, _, body = self.label(r1, t["id"], "a")
        self.assertEqual(st, 201, body)
        return r1, t, body


class TestUndoGrace(UndoCase):
    daemon_args = ["--gold-rate", "0", "--undo-seconds", "1"]

    def test_after_the_grace_period_conflict(self):
        r1, t, body = self.label_one()
        until(lambda: time.time() * 1000 > body["undo_until_ms"] + 50, "the grace period to end")
        st, _, e = self.label(r1, t["id"], "b")
        self.assertEqual((st, e["error"]["code"]), (409, "label_conflict"))
        self.assertEqual(self.d.sql("SELECT answer FROM labels"), [("a",)])
        self.assertEqual(self.d.sql("SELECT count(*) FROM events")[0][0], 0)


class TestNoUndo(UndoCase):
    daemon_args = ["--gold-rate", "0", "--undo-seconds", "0"]

    def test_zero_turns_undo_off(self):
        r1, t, body = self.label_one()
        self.assertIsNone(body["undo_until_ms"])
        self.assertEqual(self.label(r1, t["id"], "b")[0], 409)

if __name__ == "__main__":
    unittest.main(verbosity=2)
