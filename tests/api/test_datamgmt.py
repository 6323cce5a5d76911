"""API tests for data management (issue 13 item 6): retraction of items
and batches with tombstones (out of listings, task queues, exports and
training, with events) and paused batches. Each test runs a real rungd."""

import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rungtest import Daemon  # noqa: E402
from test_subq import SubqCase, math_pair  # noqa: E402
from test_tasks import ReviewCase  # noqa: E402


def pair(i, batch="b1"):
    return {"prompt": "prompt %d" % i, "responses": ["left %d" % i, "right %d" % i],
            "batch": batch}


def jsonl(payload):
    return [json.loads(x) for x in payload.decode().splitlines() if x.strip()]


class DataCase(ReviewCase):
    daemon_args = ["--gold-rate", "0", "--side-order", "fixed"]

    def setUp(self):
        super().setUp()
        self.other = self.d.key("pipeline", "other")
        self.r1 = self.d.key("rater", "r1")

    def delete(self, path, token=None):
        return self.d.request("DELETE", path, token=token or self.admin)

    def get_item(self, item_id, token=None):
        return self.d.request("GET", "/v1/items/" + item_id, token=token or self.admin)

    def listed(self, query="", token=None):
        st, _, body = self.d.request("GET", "/v1/items" + query, token=token or self.admin)
        self.assertEqual(st, 200, body)
        return [x["id"] for x in body["items"]]

    def export(self, fmt):
        st, _, body = self.d.request("GET", "/v1/export?format=" + fmt, token=self.admin)
        self.assertEqual(st, 200, body)
        return jsonl(body)

    def prompts_served(self, token):
        """Leases every task the rater can get; returns their prompts."""
        out = []
        while True:
            st, _, t = self.next(token)
            if st == 204:
                return out
            self.assertEqual(st, 200, t)
            out.append(t["prompt"])
            st, _, b = self.label(token, t["id"], "a")
            self.assertEqual(st, 201, b)

    def snapshot(self):
        """Everything a failed request must leave alone."""
        return (self.d.sql("SELECT seq, deleted_ms FROM items ORDER BY seq"),
                self.d.sql("SELECT id, state, leased FROM tasks ORDER BY id"),
                self.d.sql("SELECT count(*) FROM leases"),
                self.d.sql("SELECT count(*) FROM events"),
                self.d.sql("SELECT batch, assistance, guidelines, paused FROM batches "
                           "ORDER BY batch"))


class TestRetractItem(DataCase):
    def test_pipeline_retracts_its_own(self):
        mine = self.post_items([pair(1), pair(2)])
        st, _, body = self.d.request("POST", "/v1/items", {"items": [pair(3)]},
                                     token=self.other)
        self.assertEqual(st, 201, body)
        theirs = body["items"][0]["id"]
        # Another pipeline's item is as absent as for GET: 404, nothing changes.
        before = self.snapshot()
        st, _, e = self.delete("/v1/items/" + theirs, token=self.pipe)
        self.assertEqual((st, e["error"]["code"]), (404, "not_found"))
        self.assertEqual(self.snapshot(), before)
        # A lease on the item is dropped and its task closed.
        st, _, t = self.next(self.r1)
        self.assertEqual((st, t["prompt"]), (200, "prompt 1"))
        st, _, body = self.delete("/v1/items/" + mine[0], token=self.pipe)
        self.assertEqual((st, body), (200, {"id": mine[0], "deleted": True}))
        self.assertEqual(self.d.sql("SELECT count(*) FROM leases x JOIN tasks t ON "
                                    "t.id = x.task_id JOIN items i ON i.seq = t.item_seq "
                                    "WHERE i.id = ?", (mine[0],))[0][0], 0)
        self.assertEqual(self.d.sql("SELECT t.state FROM tasks t JOIN items i ON "
                                    "i.seq = t.item_seq WHERE i.id = ?", (mine[0],)),
                         [("done",)])
        # The rater who held it can no longer label it.
        st, _, e = self.label(self.r1, t["id"], "a")
        self.assertEqual((st, e["error"]["code"]), (409, "task_complete"))
        self.assertIsNotNone(self.d.sql("SELECT deleted_ms FROM items WHERE id = ?",
                                        (mine[0],))[0][0])
        st, _, e = self.get_item(mine[0], token=self.pipe)
        self.assertEqual((st, e["error"]["code"]), (404, "not_found"))
        self.assertEqual(self.get_item(mine[0])[0], 404)
        self.assertEqual(self.listed(token=self.pipe), [mine[1]])
        self.assertNotIn(mine[0], self.listed("?batch=b1"))
        # A repeat is 404.
        self.assertEqual(self.delete("/v1/items/" + mine[0], token=self.pipe)[0], 404)
        # The retracted item is never served again; the others are.
        self.assertEqual(sorted(self.prompts_served(self.r1)), ["prompt 2", "prompt 3"])
        self.assertEqual(self.d.sql("SELECT actor, kind, subject, detail FROM events "
                                    "WHERE kind = 'item_deleted'"),
                         [("pipe", "item_deleted", "item:" + mine[0], None)])
        st, _, status = self.d.request("GET", "/v1/status", token=self.admin)
        self.assertEqual(status["items"], 2)

    def test_admin_retracts_any_item(self):
        st, _, body = self.d.request("POST", "/v1/items", {"items": [pair(5)]},
                                     token=self.other)
        item_id = body["items"][0]["id"]
        st, _, body = self.delete("/v1/items/" + item_id)
        self.assertEqual((st, body["deleted"]), (200, True))
        self.assertEqual(self.d.sql("SELECT actor, subject FROM events WHERE kind = "
                                    "'item_deleted'"), [("boss", "item:" + item_id)])
        self.assertEqual(self.d.request("GET", "/v1/items/" + item_id, token=self.other)[0], 404)
        st, _, e = self.d.request("POST", "/v1/items/%s/gold" % item_id, {"answer": "a"},
                                  token=self.admin)
        self.assertEqual(st, 404, e)  # a tombstone cannot become gold
        self.assertEqual(self.next(self.r1)[0], 204)

    def test_errors_change_nothing(self):
        self.post_items([pair(1)])
        before = self.snapshot()
        for path, token, code in (("/v1/items/no-such-id", self.pipe, 404),
                                  ("/v1/items/no-such-id", self.admin, 404),
                                  ("/v1/batches/none", self.admin, 404),
                                  ("/v1/batches/b1", self.pipe, 403),
                                  ("/v1/batches/b1", self.r1, 403),
                                  ("/v1/batches/b1?x=1", self.admin, 400)):
            st, _, e = self.delete(path, token=token)
            self.assertEqual(st, code, (path, e))
        self.assertEqual(self.d.request("DELETE", "/v1/items/x")[0], 401)
        self.assertEqual(self.snapshot(), before)


class TestRetractBatch(DataCase):
    def test_batch_out_of_queue_export_and_status(self):
        ids = self.post_items([pair(1), pair(2), pair(3, "b2"), pair(4)])
        # Labels first, so each item has a comparison to export.
        self.assertEqual(len(self.prompts_served(self.r1)), 4)
        self.assertEqual(len(self.export("preference")), 4)
        self.assertEqual(self.d.sql("SELECT count(*) FROM comparisons")[0][0], 4)
        # One more item in b1 not labelled yet: its open task is closed.
        more = self.post_items([pair(5)])
        st, _, body = self.delete("/v1/batches/b1")
        self.assertEqual((st, body), (200, {"batch": "b1", "deleted": 4}))
        self.assertEqual(self.next(self.r1)[0], 204)
        self.assertEqual(self.d.sql("SELECT count(*) FROM tasks WHERE state = 'open'")[0][0], 0)
        for fmt in ("preference", "items"):
            self.assertEqual([r.get("item_id", r.get("id")) for r in self.export(fmt)],
                             [ids[2]], fmt)
        self.assertEqual(self.listed(), [ids[2]])
        for i in ids[:2] + ids[3:] + more:
            self.assertEqual(self.get_item(i)[0], 404)
        # The rows stay, as tombstones.
        self.assertEqual(self.d.sql("SELECT count(*) FROM items WHERE deleted_ms IS NOT NULL")
                         [0][0], 4)
        self.assertEqual(self.d.sql("SELECT count(*) FROM comparisons")[0][0], 4)
        self.assertEqual(self.d.sql("SELECT actor, kind, subject, detail FROM events "
                                    "WHERE kind = 'batch_deleted'"),
                         [("boss", "batch_deleted", "batch:b1", '{"items":4}')])
        st, _, b1 = self.d.request("GET", "/v1/batches/b1", token=self.admin)
        self.assertEqual((st, b1["items"], b1["by_status"], b1["tasks"]["done"]),
                         (200, 0, {}, 0), b1)
        st, _, page = self.d.request("GET", "/v1/batches", token=self.admin)
        self.assertEqual([b["batch"] for b in page["batches"]], ["b2"])
        # A repeat finds nothing left to retract.
        self.assertEqual(self.delete("/v1/batches/b1")[0], 404)
        # New items may reuse the batch.
        self.post_items([pair(9)])
        self.assertEqual(self.prompts_served(self.r1), ["prompt 9"])


class TestPause(DataCase):
    def put(self, batch, body, token=None):
        return self.d.request("PUT", "/v1/batches/" + batch, body, token=token or self.admin)

    def test_pause_holds_tasks_back(self):
        self.post_items([dict(pair(1), priority=5), pair(2, "b2")])
        st, _, body = self.put("b1", {"paused": True})
        self.assertEqual((st, body["paused"], body["assistance"]), (200, True, "shown"))
        st, _, b1 = self.d.request("GET", "/v1/batches/b1", token=self.admin)
        self.assertTrue(b1["paused"])
        # Only b2's task is handed out, though b1's has the higher priority.
        self.assertEqual(self.prompts_served(self.r1), ["prompt 2"])
        # Other settings leave the pause alone.
        st, _, body = self.put("b1", {"assistance": "after"})
        self.assertEqual((body["paused"], body["assistance"]), (True, "after"))
        st, _, body = self.put("b1", {"paused": False})
        self.assertEqual((body["paused"], body["assistance"]), (False, "after"))
        self.assertEqual(self.prompts_served(self.r1), ["prompt 1"])

    def test_lease_granted_before_pause_may_finish(self):
        self.post_items([pair(1)])
        st, _, t = self.next(self.r1)
        self.assertEqual(st, 200)
        self.assertEqual(self.put("b1", {"paused": True})[0], 200)
        st, _, again = self.next(self.r1)  # a reloaded page: the same lease
        self.assertEqual((st, again["id"]), (200, t["id"]))
        st, _, b = self.label(self.r1, t["id"], "a")
        self.assertEqual(st, 201, b)

    def test_unpause_wakes_a_long_poll(self):
        self.post_items([pair(1)])
        self.assertEqual(self.put("b1", {"paused": True})[0], 200)
        self.assertEqual(self.next(self.r1)[0], 204)
        result = {}

        def poll():
            t0 = time.monotonic()
            result["reply"] = self.next(self.r1, "?wait=20")
            result["s"] = time.monotonic() - t0
        th = threading.Thread(target=poll)
        th.start()
        self.d.wait_inflight(1, self.admin)
        self.assertEqual(self.put("b1", {"paused": False})[0], 200)
        th.join(30)
        st, _, t = result["reply"]
        self.assertEqual((st, t["prompt"]), (200, "prompt 1"))
        self.assertLess(result["s"], 15)

    def test_bad_bodies_change_nothing(self):
        self.post_items([pair(1)])
        self.assertEqual(self.put("b1", {"paused": True})[0], 200)
        before = self.snapshot()
        for body in ({"paused": "no"}, {"paused": 0}, {"paused": None},
                     {"paused": False, "colour": "red"},
                     {"paused": False, "assistance": "loud"}):
            st, _, e = self.put("b1", body)
            self.assertEqual((st, e["error"]["code"]), (422, "invalid_body"), body)
        self.assertEqual(self.put("b1", {"paused": False}, token=self.pipe)[0], 403)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.next(self.r1)[0], 204)



class TestRetractSteps(SubqCase):
    def test_steps_export_leaves_a_retracted_item_out(self):
        rater = self.d.key("rater", "r1")
        ids = [x["id"] for x in self.post([math_pair(1), math_pair(2)])]
        self.answer_all(rater, lambda q: "yes")

        def exported():
            st, _, body = self.d.request("GET", "/v1/export?format=steps", token=self.admin)
            self.assertEqual(st, 200, body)
            return {r["item_id"] for r in jsonl(body)}
        self.assertEqual(exported(), set(ids))
        st, _, _ = self.d.request("DELETE", "/v1/items/" + ids[0], token=self.pipe)
        self.assertEqual(st, 200)
        self.assertEqual(exported(), {ids[1]})
        self.assertEqual(self.d.request("GET", "/v1/items/" + ids[0], token=self.pipe)[0], 404)

if __name__ == "__main__":
    unittest.main()
