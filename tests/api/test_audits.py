#!/usr/bin/env python3
"""Measured trust (issue 12, part 3), on a real daemon with an external
reward model (tests/rm_server.py, rung's contract) as the active layer:
an item the layer settles also reaches a rater as an ordinary task (a
hidden audit) shown without assistance; the audit never changes the
item; the layer's audited error rate and its interval follow the labels;
a disagreement is a flag; once the error rate's lower bound passes the
layer's promise the layer is demoted to human-only routing, with an
event. Ordinary tasks are shown blind at the same share, and drift
between consecutive layers is measured."""
import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmtest import ModelServer  # noqa: E402
from rungtest import Daemon, until  # noqa: E402

CLEAR = ["one two three four five six", "one"]   # P(a) = 0.924: the layer settles it (a)
CLOSE = ["one two", "one"]                       # P(a) = 0.62: people decide
# A calibration report that lets a task show the layer's assistance
# (aggregate_assist_shown): 80% right at confidence 0.6 and above.
REPORT = {"target": 0.95, "calibration": {"items": 200, "curve": [
    {"confidence": 0.5, "coverage": 1.0, "accuracy": 0.6},
    {"confidence": 0.6, "coverage": 0.5, "accuracy": 0.8}]}}


def write_sql(db, query, params):
    """A fixture written straight into the daemon's database."""
    con = sqlite3.connect(db, timeout=30)
    try:
        with con:
            con.execute(query, params)
    finally:
        con.close()


class AuditCase(unittest.TestCase):
    share = "100"     # --audit-share: every settled item is audited
    extra = []

    def setUp(self):
        self.model = ModelServer("rung")
        self.d = Daemon(extra_args=["--gold-rate", "0", "--side-order", "fixed",
                                    "--audit-share", self.share, *self.extra])
        self.admin = self.d.key("admin", "adm")
        self.pipe = self.d.key("pipeline", "pipe")
        self.rater = self.d.key("rater", "r1")
        self.n = 0

    def tearDown(self):
        self.d.cleanup()
        self.model.stop()

    def add_layer(self, model=None, metrics=None):
        """Registers model (default self.model) as a layer, promotes it and
        waits until the daemon routes with it; returns its id."""
        body = (model or self.model).layer_params(retries=0, threshold=0.9, cache=0)
        st, _, body = self.d.request("POST", "/v1/layers", body, token=self.admin)
        self.assertEqual(st, 201, body)
        layer = body["id"]
        if metrics is not None:
            write_sql(self.d.db, "UPDATE layers SET metrics = ? WHERE id = ?",
                      (json.dumps(metrics), layer))
        st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % layer, token=self.admin)
        self.assertEqual((st, body["status"]), (200, "active"), body)
        until(lambda: self.d.request("GET", "/v1/status", token=self.admin)[2]["active_layer"]
              == layer, "the daemon to load the layer")
        return layer

    def post(self, responses):
        self.n += 1
        st, _, ack = self.d.request("POST", "/v1/items", {"prompt": "Question %d" % self.n,
                                                         "responses": responses},
                                    token=self.pipe)
        self.assertEqual(st, 201, ack)
        return self.item(ack["id"])

    def item(self, item_id):
        return self.d.request("GET", "/v1/items/" + item_id, token=self.pipe)[2]

    def next_task(self):
        st, _, t = self.d.request("GET", "/v1/tasks/next", token=self.rater)
        self.assertEqual(st, 200, t)
        return t

    def label(self, task, answer):
        st, _, body = self.d.request("POST", "/v1/tasks/%d/labels" % task["id"],
                                     {"answer": answer}, token=self.rater)
        self.assertEqual(st, 201, body)
        return body

    def score_route(self, responses):
        st, _, body = self.d.request("POST", "/v1/score", {"prompt": "p", "responses": responses},
                                     token=self.pipe)
        self.assertEqual(st, 200, body)
        return body["route"]

    def layer_json(self, layer):
        layers = self.d.request("GET", "/v1/layers", token=self.admin)[2]["layers"]
        return next(x for x in layers if x["id"] == layer)

    def frozen(self, item):
        return {k: item[k] for k in ("status", "route", "verdict", "verdict_source",
                                     "confidence", "layer_id", "scores")}


class TestHiddenAudits(AuditCase):
    def test_audit_reaches_a_rater_and_never_changes_the_item(self):
        layer = self.add_layer()
        item = self.post(CLEAR)
        self.assertEqual((item["status"], item["route"], item["verdict"],
                          item["verdict_source"]), ("auto", "auto", "a", "layer"))
        audit = self.layer_json(layer)["audit"]
        self.assertEqual((audit["audited"], audit["open"], audit["error_rate"],
                          audit["interval"], audit["demoted"]), (0, 1, None, None, False))
        # The settled item reaches a rater as an ordinary task, shown
        # without the layer's view.
        t = self.next_task()
        self.assertEqual((t["kind"], t["prompt"], t["responses"], t["assistance"]),
                         ("pair", "Question 1", CLEAR, None))
        self.assertNotIn("audit", json.dumps(t))
        reply = self.label(t, "a")
        self.assertEqual(reply["verdict"], "a")
        self.assertEqual(self.frozen(self.item(item["id"])), self.frozen(item))
        audit = self.layer_json(layer)["audit"]
        self.assertEqual((audit["audited"], audit["disagreements"], audit["open"],
                          audit["error_rate"], audit["promise"], audit["demoted"]),
                         (1, 0, 0, 0.0, 0.95, False))
        self.assertEqual(audit["interval"][0], 0.0)
        self.assertAlmostEqual(audit["interval"][1], 0.79345, places=4)   # Wilson 95%, 0 of 1
        # Nothing is flagged, nothing trains on it, nothing else is asked.
        self.assertEqual(self.d.request("GET", "/v1/flags", token=self.admin)[2]["flags"], [])
        self.assertEqual(self.d.sql("SELECT count(*) FROM comparisons")[0][0], 0)
        self.assertEqual(self.d.request("GET", "/v1/tasks/next", token=self.rater)[0], 204)

    def test_disagreement_flags_and_demotion_routes_to_people(self):
        layer = self.add_layer()
        self.assertEqual(self.score_route(CLEAR), "auto")
        # A first audit agrees...
        first = self.post(CLEAR)
        self.label(self.next_task(), "a")
        # ...a second one, people give the other answer: a flag, the item unchanged.
        second = self.post(CLEAR)
        t = self.next_task()
        self.assertEqual(t["prompt"], "Question 2")
        self.label(t, "b")
        self.assertEqual(self.frozen(self.item(second["id"])), self.frozen(second))
        flags = self.d.request("GET", "/v1/flags", token=self.admin)[2]["flags"]
        self.assertEqual([(f["item_id"], f["layer_id"], f["reason"]) for f in flags],
                         [(second["id"], layer, "audit_disagreement")])
        # 1 error in 2: the Wilson interval [0.0945, 0.9055] lies above the
        # 5% the layer promised (its target 0.95): demoted, with an event.
        audit = self.layer_json(layer)["audit"]
        self.assertEqual((audit["audited"], audit["disagreements"], audit["error_rate"],
                          audit["demoted"]), (2, 1, 0.5, True))
        self.assertAlmostEqual(audit["interval"][0], 0.094531, places=4)
        self.assertIsInstance(audit["demoted_ms"], int)
        events = self.d.request("GET", "/v1/events", token=self.admin)[2]["events"]
        demoted = [e for e in events if e["kind"] == "layer_demoted"]
        self.assertEqual(len(demoted), 1, events)
        self.assertEqual((demoted[0]["subject"], demoted[0]["actor"],
                          demoted[0]["detail"]["audited"], demoted[0]["detail"]["promise"]),
                         ("layer:%d" % layer, None, 2, 0.95))
        # The layer still scores, but settles nothing any more.
        third = self.post(CLEAR)
        self.assertEqual((third["status"], third["route"], third["layer_id"], third["verdict"]),
                         ("awaiting_human", "human", layer, None))
        self.assertAlmostEqual(third["scores"]["p_a"], 0.924, places=3)
        # The items it settled before stay settled.
        self.assertEqual(self.item(first["id"])["status"], "auto")
        # It stays active (it is still the one that scores and assists).
        self.assertEqual(self.layer_json(layer)["status"], "active")
        # /v1/score says so too, once the daemon has read the demotion
        # (within a second).
        until(lambda: self.score_route(CLEAR) == "human", "/v1/score to route to people")

    def test_items_settled_by_a_rescoring_pass_are_audited_too(self):
        # Queued before any layer: people's tasks, no audit.
        queued = self.post(CLEAR)
        self.assertEqual(queued["status"], "awaiting_human")
        layer = self.add_layer()
        # The new layer rescores the queue and settles the item: its task
        # closes, and an audit task of its own is queued.
        until(lambda: self.item(queued["id"])["status"] == "auto", "the rescoring pass")
        self.assertEqual(self.layer_json(layer)["audit"]["open"], 1)
        t = self.next_task()
        self.assertEqual((t["prompt"], t["assistance"]), ("Question 1", None))
        self.label(t, "a")
        self.assertEqual(self.layer_json(layer)["audit"]["audited"], 1)
        self.assertEqual(self.item(queued["id"])["verdict_source"], "layer")

    def test_a_retracted_item_takes_its_audit_along(self):
        layer = self.add_layer()
        item = self.post(CLEAR)
        self.assertEqual(self.layer_json(layer)["audit"]["open"], 1)
        st, _, _ = self.d.request("DELETE", "/v1/items/" + item["id"], token=self.pipe)
        self.assertEqual(st, 200)
        self.assertEqual(self.layer_json(layer)["audit"]["open"], 0)
        self.assertEqual(self.d.request("GET", "/v1/tasks/next", token=self.rater)[0], 204)

    def test_ties_are_inconclusive_and_undo_decides_again(self):
        layer = self.add_layer()
        self.post(CLEAR)
        t = self.next_task()
        self.label(t, "tie")
        audit = self.layer_json(layer)["audit"]
        self.assertEqual((audit["audited"], audit["inconclusive"], audit["error_rate"]),
                         (0, 1, None))
        # Changed within the undo period: decided again, as a disagreement.
        st, _, body = self.d.request("POST", "/v1/tasks/%d/labels" % t["id"], {"answer": "b"},
                                     token=self.rater)
        self.assertEqual((st, body["status"]), (200, "replaced"), body)
        audit = self.layer_json(layer)["audit"]
        self.assertEqual((audit["audited"], audit["disagreements"], audit["inconclusive"]),
                         (1, 1, 0))
        self.assertEqual(len(self.d.request("GET", "/v1/flags", token=self.admin)[2]["flags"]),
                         1)
        self.assertEqual(self.d.sql("SELECT status, verdict FROM items"), [("auto", "a")])


class TestBlindTasks(AuditCase):
    def test_ordinary_tasks_are_shown_blind_at_the_same_share(self):
        layer = self.add_layer(metrics=REPORT)
        audited = self.post(CLEAR)
        ordinary = self.post(CLOSE)
        self.assertEqual((audited["status"], ordinary["status"]), ("auto", "awaiting_human"))
        shown = []
        for _ in range(2):
            shown.append(self.next_task())
            self.label(shown[-1], "a")
        # The audit and the ordinary task show nothing of the layer, and
        # look alike.
        self.assertEqual([t["prompt"] for t in shown], ["Question 1", "Question 2"])
        self.assertEqual([t["assistance"] for t in shown], [None, None])
        self.assertEqual(sorted(shown[0]), sorted(shown[1]))
        # The ordinary one is decided by people as usual; its label keeps
        # no assistance, and counts as a blind label of the layer.
        self.assertEqual((self.item(ordinary["id"])["status"],
                          self.item(ordinary["id"])["verdict_source"]), ("resolved", "human"))
        self.assertEqual(self.d.sql("SELECT assistance FROM labels"), [(None,), (None,)])
        effect = self.layer_json(layer)["audit"]["assistance_effect"]
        self.assertEqual(effect["blind"], {"labels": 1, "same_as_layer": 1, "share": 1.0})
        self.assertEqual(effect["shown"], {"labels": 0, "same_as_layer": 0, "share": None})


class TestNoAudits(AuditCase):
    share = "0"

    def test_share_zero_audits_nothing_and_shows_assistance(self):
        layer = self.add_layer(metrics=REPORT)
        self.post(CLEAR)
        self.post(CLOSE)
        t = self.next_task()
        self.assertEqual(t["prompt"], "Question 2")       # only the ordinary task
        self.assertEqual(t["assistance"]["preference"], "a")
        self.label(t, "b")
        self.assertEqual(self.d.request("GET", "/v1/tasks/next", token=self.rater)[0], 204)
        audit = self.layer_json(layer)["audit"]
        self.assertEqual((audit["audited"], audit["open"]), (0, 0))
        self.assertEqual(audit["assistance_effect"]["shown"],
                         {"labels": 1, "same_as_layer": 0, "share": 0.0})

    def test_bad_share_is_refused(self):
        for bad in ("-1", "101", "two", ""):
            p = self.d.cli("serve", "--db", self.d.db, "--audit-share", bad)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("--audit-share", p.stderr)


class TestDrift(AuditCase):
    share = "0"
    extra = ["--drift-seconds", "1"]

    def test_consecutive_layers_compared_on_probe_and_recent_items(self):
        first = self.add_layer()
        for i in range(3):
            self.post(["one two three", "one"] if i % 2 else ["one", "one two three"])
        self.assertIsNone(self.layer_json(first)["drift"])      # no layer before it
        backwards = ModelServer("rung", mode="reverse")
        try:
            second = self.add_layer(model=backwards)
            drift = until(lambda: self.layer_json(second)["drift"], "the drift to be measured")
            # It prefers the other side of every pair the first one scored.
            self.assertEqual((drift["parent"], drift["probe"]["items"],
                              drift["probe"]["agreement"], drift["recent"]["agreement"]),
                             (first, 3, 0.0, 0.0))
            self.assertAlmostEqual(drift["probe"]["mean_abs_diff"], 0.462117, places=5)
            self.assertIsInstance(drift["computed_ms"], int)
            # Recent items are measured again as they come.
            for _ in range(2):
                self.post(["same words here", "same words here"])
            until(lambda: self.layer_json(second)["drift"]["recent"]["items"] == 5,
                  "the drift to be measured on recent items")
            drift = self.layer_json(second)["drift"]
            self.assertAlmostEqual(drift["recent"]["agreement"], 0.4)
            self.assertEqual(drift["probe"]["items"], 5)
        finally:
            backwards.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
