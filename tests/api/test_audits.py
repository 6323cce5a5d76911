#!/usr/bin/env python3
"""Measured trust (issue 12, part 3), on a real daemon with an external
reward model (tests/rm_server.py, rung's contract) as the active layer:
an item the layer settles also reaches a rater as an ordinary task (a
hidden audit) shown without assistance; the audit never changes the
item; the layer's audited error rate and its interval follow the labels;
a disagreement is a flag; once the error rate's lower bound passes the
layer's promise, over --audit-min decided audits and with two raters
behind the disagreements, the layer is demoted to human-only routing,
with an event, until an admin reinstates it. Ordinary tasks are shown
blind at the same share (of the items people decide), and drift between
consecutive layers is measured, in passes that stop on SIGTERM."""
import json
import os
import signal
import subprocess
import sys
import time
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


M64 = (1 << 64) - 1


def pick_hash(item_seq, seed, draw):
    """core/audit.c's pick_hash (draw 0: audit, 1: blind): FNV-1a over the
    draw and the id's bytes, then a splitmix64 finaliser."""
    h = 0xcbf29ce484222325 ^ seed
    h = ((h ^ draw) * 0x100000001b3) & M64
    for b in range(8):
        h = ((h ^ ((item_seq >> (8 * b)) & 0xff)) * 0x100000001b3) & M64
    h = (h + 0x9e3779b97f4a7c15) & M64
    h = ((h ^ (h >> 30)) * 0xbf58476d1ce4e5b9) & M64
    h = ((h ^ (h >> 27)) * 0x94d049bb133111eb) & M64
    h ^= h >> 31
    return h


def audit_pick(item_seq, seed, share_ppm, draw=0):
    """core/audit.c's audit_pick: which items a share picks."""
    return pick_hash(item_seq, seed, draw) % 1000000 < share_ppm


def blind_picks(stream, seed, share_ppm):
    """core/audit.c's blind draw over a stream of (seq, settled) in the
    order the daemon stored them: the seqs of the ordinary items shown
    blind. Each settled item adds share_ppm to a credit; an ordinary task
    is blind with probability min(1, credit), taken from the credit."""
    credit, picked = 0, []
    for seq, settled in stream:
        if settled:
            credit = min(credit + share_ppm, 64 * 1000000)
            continue
        p = min(credit, 1000000)
        if p > 0:
            credit -= p
            if pick_hash(seq, seed, 1) % 1000000 < p:
                picked.append(seq)
    return picked


class AuditCase(unittest.TestCase):
    share = "100"     # --audit-share: every settled item is audited
    audit_min = "3"   # --audit-min (None: the default, 20)
    extra = []

    def setUp(self):
        self.model = ModelServer("rung")
        self.addCleanup(lambda: self.model.stop())  # also when the rest of setUp fails
        args = ["--gold-rate", "0", "--side-order", "fixed", "--audit-share", self.share]
        if self.audit_min is not None:
            args += ["--audit-min", self.audit_min]
        self.d = Daemon(extra_args=args + self.extra)
        self.addCleanup(lambda: self.d.cleanup())
        self.admin = self.d.key("admin", "adm")
        self.pipe = self.d.key("pipeline", "pipe")
        self.rater = self.d.key("rater", "r1")
        self.rater2 = self.d.key("rater", "r2")
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
            self.d.sql("UPDATE layers SET metrics = ? WHERE id = ?",
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

    def next_task(self, rater=None):
        st, _, t = self.d.request("GET", "/v1/tasks/next", token=rater or self.rater)
        self.assertEqual(st, 200, t)
        return t

    def label(self, task, answer, rater=None):
        st, _, body = self.d.request("POST", "/v1/tasks/%d/labels" % task["id"],
                                     {"answer": answer}, token=rater or self.rater)
        self.assertEqual(st, 201, body)
        return body

    def events(self, kind):
        events = self.d.request("GET", "/v1/events", token=self.admin)[2]["events"]
        return [e for e in events if e["kind"] == kind]

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
        # Nothing is flagged, nothing else is asked.
        self.assertEqual(self.d.request("GET", "/v1/flags", token=self.admin)[2]["flags"], [])
        self.assertEqual(self.d.request("GET", "/v1/tasks/next", token=self.rater)[0], 204)
        # People's verdict is a human judgement: one comparison of source
        # audit, in the export, with the rater and no assistance.
        st, _, body = self.d.request("GET", "/v1/export?format=preference", token=self.admin)
        self.assertEqual(st, 200)
        rows = [json.loads(x) for x in body.decode().splitlines()]
        self.assertEqual([(r["source"], r["item_id"], r["prompt"], r["chosen"], r["rejected"],
                           r["raters"], r["agreement"]) for r in rows],
                         [("audit", item["id"], "Question 1", CLEAR[0], CLEAR[1], ["r1"], 1)])
        prov = json.loads(self.d.sql("SELECT provenance FROM comparisons")[0][0])
        self.assertIsNone(prov["assistance"])
        # It trains the next layer by default, counted in its lineage; the
        # audited item still does not change.
        st, _, ack = self.d.request("POST", "/v1/layers", {"members": 1, "bits": 12},
                                    token=self.admin)
        self.assertEqual(st, 202, ack)
        got = until(lambda: (lambda l: l if l["status"] != "training" else None)(
            self.d.request("GET", "/v1/layers/%d" % ack["id"], token=self.admin)[2]),
            "the layer to train")
        self.assertEqual((got["status"], got["lineage"]["comparisons"]["by_source"],
                          got["lineage"]["comparisons"]["count"]), ("candidate", {"audit": 1}, 1))
        self.assertEqual(self.frozen(self.item(item["id"])), self.frozen(item))

    def test_disagreement_flags_and_demotion_routes_to_people(self):
        # --audit-min 3: three decided audits at least, and two raters.
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
        # A third, the same rater disagrees again: 2 errors in 3 audits, the
        # Wilson interval [0.208, 0.939] lies above the 5% the layer
        # promised, but every disagreement is one rater's: kept.
        self.post(CLEAR)
        self.label(self.next_task(), "b")
        audit = self.layer_json(layer)["audit"]
        self.assertEqual((audit["audited"], audit["disagreements"], audit["demoted"]),
                         (3, 2, False))
        self.assertAlmostEqual(audit["interval"][0], 0.20766, places=4)
        self.assertEqual(self.events("layer_demoted"), [])
        # A fourth, another rater disagrees too: demoted, with an event.
        self.post(CLEAR)
        self.label(self.next_task(self.rater2), "b", self.rater2)
        audit = self.layer_json(layer)["audit"]
        self.assertEqual((audit["audited"], audit["disagreements"], audit["error_rate"],
                          audit["demoted"]), (4, 3, 0.75, True))
        self.assertAlmostEqual(audit["interval"][0], 0.300642, places=4)
        self.assertIsInstance(audit["demoted_ms"], int)
        demoted = self.events("layer_demoted")
        self.assertEqual(len(demoted), 1, demoted)
        self.assertEqual((demoted[0]["subject"], demoted[0]["actor"],
                          demoted[0]["detail"]["audited"], demoted[0]["detail"]["raters"],
                          demoted[0]["detail"]["promise"]),
                         ("layer:%d" % layer, None, 4, 2, 0.95))
        # The layer still scores, but settles nothing any more.
        fifth = self.post(CLEAR)
        self.assertEqual((fifth["status"], fifth["route"], fifth["layer_id"], fifth["verdict"]),
                         ("awaiting_human", "human", layer, None))
        self.assertAlmostEqual(fifth["scores"]["p_a"], 0.924, places=3)
        # The items it settled before stay settled.
        self.assertEqual(self.item(first["id"])["status"], "auto")
        # It stays active (it is still the one that scores and assists).
        self.assertEqual(self.layer_json(layer)["status"], "active")
        # /v1/score says so too, once the daemon has read the demotion
        # (within a second).
        until(lambda: self.score_route(CLEAR) == "human", "/v1/score to route to people")
        self.reinstate_and_count_anew(layer)

    def reinstate_and_count_anew(self, layer):
        """An admin clears the demotion: the layer settles again, and only
        audits decided after that count towards another demotion."""
        self.label(self.next_task(), "a")     # the fifth item, decided by people
        st, _, body = self.d.request("POST", "/v1/layers/%d/reinstate" % layer, token=self.admin)
        self.assertEqual((st, body), (200, {"id": layer, "demoted": False}), body)
        back = self.events("layer_reinstated")
        self.assertEqual([(e["subject"], e["actor"], e["detail"]["disagreements"]) for e in back],
                         [("layer:%d" % layer, "adm", 3)])
        self.assertEqual(self.layer_json(layer)["audit"]["demoted"], False)
        # The daemon reads it within a second, as it reads a demotion.
        until(lambda: self.score_route(CLEAR) == "auto", "/v1/score to settle again")
        self.assertEqual(self.post(CLEAR)["status"], "auto")
        # All its audits together still break the promise (3 in 5), but
        # the one decided since agrees: it stays.
        self.label(self.next_task(), "a")
        audit = self.layer_json(layer)["audit"]
        self.assertEqual((audit["audited"], audit["disagreements"], audit["demoted"]),
                         (5, 3, False))
        self.assertEqual(len(self.events("layer_demoted")), 1)
        # Again: nothing to clear; no such layer.
        st, _, body = self.d.request("POST", "/v1/layers/%d/reinstate" % layer, token=self.admin)
        self.assertEqual((st, body["error"]["code"]), (409, "not_demoted"))
        for bad in ("999", "x"):
            st, _, body = self.d.request("POST", "/v1/layers/%s/reinstate" % bad,
                                         token=self.admin)
            self.assertEqual((st, body["error"]["code"]), (404, "not_found"))
        st, _, _ = self.d.request("POST", "/v1/layers/%d/reinstate" % layer, token=self.rater)
        self.assertEqual(st, 403)

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
        self.assertEqual(self.d.sql("SELECT source, tie FROM comparisons"), [("audit", 1)])
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
        # Its comparison follows the label: the tie gave way to b.
        self.assertEqual(self.d.sql("SELECT source, chosen, rejected, tie FROM comparisons"),
                         [("audit", CLEAR[1], CLEAR[0], 0)])


class TestOneRater(AuditCase):
    audit_min = "1"   # only the rule of two raters stands in the way

    def test_one_raters_single_disagreement_does_not_demote(self):
        layer = self.add_layer()
        item = self.post(CLEAR)
        self.label(self.next_task(), "b")
        audit = self.layer_json(layer)["audit"]
        # 1 error in 1: the interval [0.21, 1] is far above 5%, and it is
        # flagged, but it is one rater's word: the layer keeps settling.
        self.assertEqual((audit["audited"], audit["disagreements"], audit["demoted"]),
                         (1, 1, False))
        self.assertGreater(audit["interval"][0], 0.05)
        flags = self.d.request("GET", "/v1/flags", token=self.admin)[2]["flags"]
        self.assertEqual([f["item_id"] for f in flags], [item["id"]])
        self.assertEqual(self.events("layer_demoted"), [])
        self.assertEqual(self.post(CLEAR)["status"], "auto")
        self.assertEqual(self.score_route(CLEAR), "auto")


class TestAuditMinimum(AuditCase):
    audit_min = None  # the default: 20 decided audits

    def test_two_raters_two_audits_are_too_few_by_default(self):
        layer = self.add_layer()
        self.post(CLEAR)
        self.post(CLEAR)
        self.label(self.next_task(), "b")
        self.label(self.next_task(self.rater2), "b", self.rater2)
        audit = self.layer_json(layer)["audit"]
        self.assertEqual((audit["audited"], audit["disagreements"], audit["demoted"]),
                         (2, 2, False))
        self.assertEqual(self.post(CLEAR)["status"], "auto")

    def test_bad_minimum_is_refused(self):
        for bad in ("0", "-1", "1000001", "x", ""):
            p = self.d.cli("serve", "--db", self.d.db, "--audit-min", bad)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("--audit-min", p.stderr)


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


class TestBlindShare(AuditCase):
    """At a share below 100 the two draws pick items of their own: the
    audits are exactly the settled items the audit draw picks, and the
    ordinary tasks shown blind exactly the items the blind draw picks, at
    the rate audits come (a test at 100% could not tell)."""
    share = "30"
    extra = ["--audit-seed", "5"]

    def test_each_draw_picks_its_share_of_its_own_items(self):
        self.add_layer(metrics=REPORT)
        items = []
        for i in range(40):
            items.append(self.post(CLEAR if i % 2 else CLOSE))
        seq = {it["id"]: self.d.sql("SELECT seq FROM items WHERE id = ?", (it["id"],))[0][0]
               for it in items}
        settled = [it for it in items if it["status"] == "auto"]
        ordinary = [it for it in items if it["status"] == "awaiting_human"]
        self.assertEqual((len(settled), len(ordinary)), (20, 20))

        want_audits = sorted(it["prompt"] for it in settled
                             if audit_pick(seq[it["id"]], 5, 300000))
        blind_seqs = blind_picks([(seq[it["id"]], it["status"] == "auto") for it in items], 5,
                                 300000)
        want_blind = sorted(it["prompt"] for it in ordinary if seq[it["id"]] in blind_seqs)
        # Neither draw picks none or all of its items at 30% of 20.
        self.assertTrue(0 < len(want_audits) < 20 and 0 < len(want_blind) < 20,
                        (want_audits, want_blind))
        blind, shown = [], []
        while True:
            st, _, t = self.d.request("GET", "/v1/tasks/next", token=self.rater)
            if st == 204:
                break
            (blind if t["assistance"] is None else shown).append(t["prompt"])
            self.label(t, "a")
        settled_prompts = {it["prompt"] for it in settled}
        self.assertEqual(sorted(p for p in blind if p in settled_prompts), want_audits)
        self.assertEqual(sorted(p for p in blind if p not in settled_prompts), want_blind)
        self.assertEqual(len(blind) + len(shown), len(want_audits) + 20)


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
            self.assertIs(drift["complete"], True)     # well within its budget
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


class TestDriftStops(AuditCase):
    """A drift pass against a model that answers late (each pair waits
    out the layer's 1 s timeout: 60 pairs take a minute, and the pass's
    budget is 30 s) stops between pairs: SIGTERM ends the daemon in a
    few seconds, not after the pass."""
    share = "0"

    def test_sigterm_during_a_drift_pass_against_a_slow_model(self):
        self.add_layer()
        items = [{"prompt": "Q%d" % i, "responses": CLEAR} for i in range(30)]
        st, _, ack = self.d.request("POST", "/v1/items", {"items": items}, token=self.pipe)
        self.assertEqual(st, 201, ack)
        slow = ModelServer("rung", mode="stall")
        try:
            body = slow.layer_params(retries=0, threshold=0.9, cache=0, timeout_ms=1000,
                                     breaker_failures=1000000)
            st, _, body = self.d.request("POST", "/v1/layers", body, token=self.admin)
            self.assertEqual(st, 201, body)
            st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % body["id"],
                                         token=self.admin)
            self.assertEqual((st, body["status"]), (200, "active"), body)
            # The watcher has started measuring: the slow model is asked.
            until(lambda: slow.stats()["requests"] >= 2, "the drift pass to call the model")
            self.d.send_signal(signal.SIGTERM)
            t0 = time.monotonic()
            try:
                rc = self.d.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.d.kill9()
                self.fail("rungd did not exit within 20 s of SIGTERM during a drift pass")
            print("exited %.2f s after SIGTERM" % (time.monotonic() - t0), file=sys.stderr)
            self.assertEqual(rc, 0)
        finally:
            slow.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
