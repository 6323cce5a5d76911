#!/usr/bin/env python3
"""Layer state changes that meet (issue 12): a rollback committed while a
promotion check runs makes the check's result stale (it is discarded, an
event says so, and the check runs again against the layer now active);
SIGTERM during a long training stops the daemon at once and leaves the
layer queued, to train again at the next start. Real rungd, real database,
no sleeps as synchronisation: the model server holds the check's calls
until the test lets them go."""

import json
import os
import signal
import sys
import threading
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import Daemon, until  # noqa: E402
from test_external_layer import ModelServer  # noqa: E402
from test_lifecycle import LifecycleCase, pairs  # noqa: E402


def set_mode(server, mode):
    req = urllib.request.Request(server.url + "/mode", data=json.dumps({"mode": mode}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


class TwoModelsCase(unittest.TestCase):
    """A daemon and two model servers: one for the active layer, one for
    the candidate, whose calls the test can hold."""

    def setUp(self):
        self.active_model = ModelServer()
        self.addCleanup(lambda: self.active_model.stop())
        self.cand_model = ModelServer()
        self.addCleanup(lambda: self.cand_model.stop())
        self.d = Daemon(extra_args=["--gold-rate", "0"])
        self.addCleanup(lambda: self.d.cleanup())
        self.admin = self.d.key("admin", "adm")
        self.pipe = self.d.key("pipeline", "pipe")

    def register(self, server):
        body = {"kind": "http", "url": server.url, "protocol": "rung", "timeout_ms": 60000,
                "retries": 0, "threshold": 0.9}
        st, _, ack = self.d.request("POST", "/v1/layers", body, token=self.admin)
        self.assertEqual(st, 201, ack)
        return ack["id"]

    def gold_pairs(self, n):
        """Pairs settled on the longer reply (b), which both models prefer."""
        for i in range(n):
            body = {"prompt": "Say something %d." % i,
                    "responses": ["short", " ".join(["long"] * 10)]}
            st, _, ack = self.d.request("POST", "/v1/items", body, token=self.pipe)
            self.assertEqual(st, 201, ack)
            st, _, _ = self.d.request("POST", "/v1/items/%s/gold" % ack["id"], {"answer": "b"},
                                      token=self.admin)
            self.assertEqual(st, 200)


class TestPromotionMeetsRollback(TwoModelsCase):
    def test_a_rollback_during_the_check_makes_it_run_again(self):
        self.gold_pairs(3)
        first = self.register(self.active_model)
        st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % first, token=self.admin)
        self.assertEqual((st, body["status"]), (200, "active"), body)
        cand = self.register(self.cand_model)
        set_mode(self.cand_model, "hold")  # the candidate's calls wait for the test
        got = {}

        def promote():
            got["reply"] = self.d.request("POST", "/v1/layers/%d/promote" % cand,
                                          token=self.admin)

        t = threading.Thread(target=promote)
        t.start()
        try:
            # The check has read the active layer (first) and is scoring.
            until(lambda: self.cand_model.stats()["held"] >= 1, "the check to call the model")
            st, _, body = self.d.request("POST", "/v1/layers/%d/rollback" % first,
                                         token=self.admin)
            self.assertEqual((st, body["active"]), (200, None), body)
        finally:
            set_mode(self.cand_model, "ok")
            t.join(120)
        st, _, body = got["reply"]
        self.assertEqual((st, body["status"]), (200, "active"), body)
        # Judged against what is active now (none), not against first.
        self.assertEqual(body["consistency"]["against_layer"], 0)
        self.assertIsNone(body["consistency"]["active_accuracy"])
        events = self.d.sql("SELECT kind, subject, detail FROM events WHERE kind LIKE 'layer_%' "
                            "ORDER BY id")
        kinds = [(k, s) for k, s, _ in events]
        self.assertEqual(kinds[-3:], [("layer_rolled_back", "layer:%d" % first),
                                      ("layer_check_discarded", "layer:%d" % cand),
                                      ("layer_promoted", "layer:%d" % cand)])
        self.assertEqual(json.loads(events[-2][2]), {"compared_against": first, "active": None})
        # What the promotion replaced is what was active when it committed.
        st, _, layer = self.d.request("GET", "/v1/layers/%d" % cand, token=self.admin)
        self.assertEqual((layer["status"], layer["lineage"]["replaced"]), ("active", None))
        self.assertEqual(self.d.sql("SELECT status FROM layers WHERE id = ?", (first,)),
                         [("retired",)])


class TestStopDuringCheck(TwoModelsCase):
    def refuses(self):
        try:
            return self.d.refuses_connections()
        except ConnectionResetError:   # the listening socket shut down under the connect
            return True

    def test_sigterm_gives_a_check_up_and_records_nothing(self):
        self.gold_pairs(3)
        cand = self.register(self.cand_model)
        set_mode(self.cand_model, "hold")
        got = {}

        def promote():
            try:
                got["reply"] = self.d.request("POST", "/v1/layers/%d/promote" % cand,
                                              token=self.admin)
            except OSError as e:   # the daemon may close the connection as it stops
                got["reply"] = (None, None, str(e))

        t = threading.Thread(target=promote)
        t.start()
        try:
            until(lambda: self.cand_model.stats()["held"] >= 1, "the check to call the model")
            self.d.send_signal(signal.SIGTERM)
            # The daemon is stopping (it no longer accepts connections: it
            # raised the stop flag just before) before the model answers
            # the call the check is waiting on.
            until(self.refuses, "the daemon to stop accepting")
        finally:
            set_mode(self.cand_model, "ok")
            t.join(120)
        # The check gives up at the next settled pair: the daemon exits and
        # nothing was recorded; the layer is still a candidate.
        self.assertEqual(self.d.wait(), 0)
        st, _, body = got["reply"]
        if st is not None:
            self.assertEqual((st, body["error"]["code"]), (503, "shutting_down"), body)
        self.assertEqual(self.d.sql("SELECT status, consistency FROM layers WHERE id = ?",
                                    (cand,)), [("candidate", None)])
        self.assertEqual(self.d.sql("SELECT kind FROM events WHERE kind LIKE 'layer_%' "
                                    "ORDER BY id"), [("layer_registered",)])
        self.assertEqual(self.cand_model.stats()["requests"], 1)


class TestStopDuringTraining(LifecycleCase):
    # A training of minutes: 64 members, 30 SGD epochs each, on 20,000
    # pairs of long replies, on one core.
    LONG = {"members": 64, "bits": 18, "seed": 5}

    def test_sigterm_stops_a_training_and_the_layer_stays_queued(self):
        rows = pairs(20000, 21)
        for r in rows:
            r["chosen"] += " " + r["chosen"] + " " + r["chosen"]
            r["rejected"] += " " + r["rejected"] + " " + r["rejected"]
        self.import_pairs(rows)
        layer = self.train(**self.LONG)
        until(lambda: (self.layer(layer)["progress"] or {}).get("stage") == "training",
              "the trainer to start training", timeout=300)
        # SIGTERM: the daemon exits (status 0) long before the training
        # could have ended; Daemon.stop fails the test if it does not exit.
        self.d.stop()
        self.assertEqual(self.d.sql("SELECT status, CASE WHEN params IS NULL THEN 1 ELSE 0 END FROM layers WHERE id = ?",
                                    (layer,)), [("training", 1)])
        ev = self.d.sql("SELECT kind, actor FROM events WHERE subject = ? ORDER BY id",
                        ("layer:%d" % layer,))
        self.assertEqual(ev, [("layer_training", "boss"), ("layer_training_interrupted", "boss")])
        # Restarted, the daemon trains it again from the start.
        self.d.restart()
        until(lambda: (self.layer(layer)["progress"] or {}).get("stage") in ("reading", "training"),
              "the trainer to pick the layer up again", timeout=120)
        self.assertEqual(self.layer(layer)["status"], "training")
        self.d.stop()
        self.assertEqual(self.d.sql("SELECT status FROM layers WHERE id = ?", (layer,)),
                         [("training",)])


if __name__ == "__main__":
    unittest.main(verbosity=2)
