#!/usr/bin/env python3
"""The layer lifecycle through REST (issue 12): a layer trained by the
daemon (POST /v1/layers answers 202, GET /v1/layers/{id} shows progress and
then the report and lineage), checked against what is settled, promoted
and rolled back; candidates that must be rejected (one trained on flipped
labels, an external model that scores backwards) with their flags; a
training resumed after a restart; ingest waiting at most --layer-timeout
for a stalled external model. Real rungd, real SQLite file, no mocks."""

import hashlib
import json
import os
import random
import struct
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import until  # noqa: E402
from test_external_layer import ModelServer  # noqa: E402

GOOD = ["correct", "careful", "step", "because", "therefore", "verified", "clear", "precise"]
BAD = ["wrong", "whatever", "guess", "dunno", "lol", "random", "rude", "nonsense"]
FILLER = ["the", "a", "answer", "is", "we", "see", "that", "so", "it", "and"]
SMALL = {"members": 2, "bits": 14, "seed": 3, "target": 0.9}


def reply(rng, vocab, n=14):
    return " ".join(rng.choice(vocab if rng.random() < 0.5 else FILLER) for _ in range(n))


def pairs(n, seed, flipped=False):
    """n synthetic preference pairs: the careful reply is chosen (the
    rude one when flipped)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        good, bad = reply(rng, GOOD), reply(rng, BAD)
        out.append({"prompt": "Question %d: explain topic %d" % (i, i % 17),
                    "chosen": bad if flipped else good, "rejected": good if flipped else bad})
    return out


def ids_digest(first, last):
    """The lineage digest of the comparisons first..last: BLAKE2b-256 of
    their ids as 8-byte little-endian integers, in id order."""
    h = hashlib.blake2b(digest_size=32)
    for i in range(first, last + 1):
        h.update(struct.pack("<q", i))
    return h.hexdigest()


class LifecycleCase(rungtest.DaemonCase):
    daemon_args = ["--gold-rate", "0"]

    def import_pairs(self, rows, *args):
        self.files = getattr(self, "files", 0) + 1
        path = os.path.join(self.d.tmpdir, "pairs-%d.jsonl" % self.files)
        with open(path, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        p = self.d.cli("import", "--db", self.d.db, "--format", "trl", "--as", "comparisons",
                       *args, path, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)

    def train(self, **body):
        st, _, ack = self.d.request("POST", "/v1/layers", body, token=self.admin)
        self.assertEqual((st, ack["status"], ack["kind"]), (202, "training", "hashed-bt"), ack)
        return ack["id"]

    def layer(self, layer_id):
        st, _, body = self.d.request("GET", "/v1/layers/%d" % layer_id, token=self.admin)
        self.assertEqual(st, 200, body)
        return body

    def settled(self, layer_id):
        """Waits until the layer is no longer training; returns it."""
        return until(lambda: (lambda l: l if l["status"] != "training" else None)(
            self.layer(layer_id)), "layer %d to finish training" % layer_id, timeout=120)

    def active(self):
        return self.d.request("GET", "/v1/status", token=self.admin)[2]["active_layer"]

    def events(self):
        st, _, body = self.d.request("GET", "/v1/events?limit=1000", token=self.admin)
        self.assertEqual(st, 200)
        return [(e["kind"], e["subject"], e["actor"]) for e in body["events"]
                if e["kind"].startswith("layer_")]

    def gold_items(self, rows):
        """Pair items settled by the admin's gold answer (the chosen reply,
        shown on a random side); returns their ids."""
        rng = random.Random(11)
        ids = []
        for r in rows:
            swap = rng.random() < 0.5
            resp = [r["rejected"], r["chosen"]] if swap else [r["chosen"], r["rejected"]]
            st, _, ack = self.d.request("POST", "/v1/items", {"prompt": r["prompt"],
                                                              "responses": resp}, token=self.pipe)
            self.assertEqual(st, 201, ack)
            st, _, _ = self.d.request("POST", "/v1/items/%s/gold" % ack["id"],
                                      {"answer": "b" if swap else "a"}, token=self.admin)
            self.assertEqual(st, 200)
            ids.append(ack["id"])
        return ids


class TestLifecycle(LifecycleCase):
    def test_train_check_promote_rollback(self):
        self.import_pairs(pairs(600, 7))
        self.import_pairs(pairs(100, 8), "--trusted")          # the settled set
        first = self.train(**SMALL)
        got = self.layer(first)
        self.assertIn(got["status"], ("training", "candidate"))
        if got["status"] == "training":
            self.assertIn(got["progress"]["stage"], ("queued", "reading", "training"))
        got = self.settled(first)
        self.assertEqual((got["status"], got["kind"], got["parent"], got["progress"],
                          got["consistency"]), ("candidate", "hashed-bt", None, None, None))
        self.assertEqual((got["request"]["members"], got["request"]["auto_promote"],
                          got["request"]["requested_by"]), (2, False, "boss"))
        self.assertEqual(got["train_size"], 700)
        self.assertGreater(got["metrics"]["calibration"]["accuracy"], 0.9)
        # Lineage: exactly which comparisons trained it, re-readable by id.
        lin = got["lineage"]["comparisons"]
        self.assertEqual((lin["count"], lin["first_id"], lin["last_id"], lin["by_source"],
                          lin["excluded"], lin["truncated"], lin["include_layer_verdicts"]),
                         (700, 1, 700, {"import": 700}, 0, False, False))
        self.assertEqual(lin["digest"], ids_digest(1, 700))
        self.assertIsNone(self.active())

        st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % first, token=self.admin)
        self.assertEqual((st, body["status"]), (200, "active"), body)
        self.assertEqual((body["consistency"]["settled"], body["consistency"]["passed"]),
                         (100, True))
        self.assertEqual(self.active(), first)        # served at once, no poll to wait for
        health = self.d.request("GET", "/v1/status", token=self.admin)[2]["layer_health"]
        self.assertEqual(health, {"layer": first, "kind": "hashed-bt", "timeout_ms": 2000})
        self.assertEqual(self.layer(first)["consistency"]["settled"], 100)
        # What other parts measure of a layer comes with it (audits, drift).
        self.assertEqual(self.layer(first)["audit"]["audited"], 0)
        self.assertIn("drift", self.layer(first))

        # The next layer promotes itself once trained, when asked to.
        second = self.train(auto_promote=True, **dict(SMALL, seed=4))
        got = until(lambda: (lambda l: l if l["status"] not in ("training", "candidate")
                             else None)(self.layer(second)), "the automatic promotion",
                    timeout=120)
        self.assertEqual((got["status"], got["parent"], got["lineage"]["parent"],
                          got["lineage"]["replaced"]), ("active", first, first, first))
        self.assertTrue(got["consistency"]["passed"])
        until(lambda: self.active() == second, "the daemon to serve layer %d" % second)

        # Rollback: the layer it replaced is active again; then none.
        st, _, body = self.d.request("POST", "/v1/layers/%d/rollback" % second, token=self.admin)
        self.assertEqual((st, body), (200, {"id": second, "status": "retired", "active": first}))
        self.assertEqual((self.active(), self.layer(second)["status"]), (first, "retired"))
        st, _, body = self.d.request("POST", "/v1/layers/%d/rollback" % first, token=self.admin)
        self.assertEqual((st, body["active"]), (200, None))
        self.assertIsNone(self.active())
        for path, code in (("/v1/layers/%d/rollback" % first, 409),
                           ("/v1/layers/999/rollback", 404), ("/v1/layers/x/rollback", 404)):
            st, _, body = self.d.request("POST", path, token=self.admin)
            self.assertEqual(st, code, body)
        self.assertEqual(self.d.request("POST", "/v1/layers/%d/rollback" % first,
                                        token=self.pipe)[0], 403)

        # Every change is an event, with who made it.
        f, s = "layer:%d" % first, "layer:%d" % second
        self.assertEqual(self.events(), [
            ("layer_training", f, "boss"), ("layer_trained", f, "boss"),
            ("layer_promoted", f, "boss"),
            ("layer_training", s, "boss"), ("layer_trained", s, "boss"),
            ("layer_promoted", s, "boss"),
            ("layer_rolled_back", s, "boss"), ("layer_rolled_back", f, "boss")])
        detail = self.d.request("GET", "/v1/events?limit=1000", token=self.admin)[2]["events"]
        self.assertEqual([e["detail"] for e in detail if e["kind"] == "layer_rolled_back"],
                         [{"from": second, "to": first}, {"from": first, "to": None}])

    def test_bad_requests_change_nothing(self):
        for body in ({"members": 0}, {"bits": 40}, {"target": 1.5}, {"seed": -1},
                     {"max_rows": 0}, {"auto_promote": "yes"}, {"bogus": 1},
                     {"include_layer_verdicts": 1}):
            with self.subTest(body=body):
                st, _, reply = self.d.request("POST", "/v1/layers", body, token=self.admin)
                self.assertEqual((st, reply["error"]["code"]), (422, "invalid_body"))
        self.assertEqual(self.d.request("POST", "/v1/layers", {"kind": "nope"},
                                        token=self.admin)[2]["error"]["code"], "unsupported_kind")
        self.assertEqual(self.d.request("POST", "/v1/layers", {}, token=self.pipe)[0], 403)
        self.assertEqual(self.d.sql("SELECT count(*) FROM layers")[0][0], 0)
        for path in ("/v1/layers/1", "/v1/layers/0", "/v1/layers/abc"):
            self.assertEqual(self.d.request("GET", path, token=self.admin)[0], 404)

    def test_the_trainer_thread_is_niced(self):
        task = "/proc/%d/task" % self.d.proc.pid
        nice = {}
        for tid in os.listdir(task):
            with open(os.path.join(task, tid, "comm")) as f:
                name = f.read().strip()
            with open(os.path.join(task, tid, "stat")) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            nice[name] = int(fields[16])   # field 19 of stat: nice
        # The daemon's other threads keep the nice value it was started
        # with (the test suite itself may run under nice); the trainer's
        # is 19.
        base = os.getpriority(os.PRIO_PROCESS, self.d.proc.pid)
        self.assertEqual(nice.get("rung-train"), 19, nice)
        self.assertEqual(nice.get("rung-layers"), base, nice)
        self.assertLess(base, 19, "start the tests below nice 19 to see the trainer niced")

    def test_nothing_to_train_on_is_rejected_with_why(self):
        layer = self.train()
        got = self.settled(layer)
        self.assertEqual(got["status"], "rejected")
        self.assertIn("nothing to train on", got["metrics"]["error"])
        self.assertEqual([k for k, _, _ in self.events()],
                         ["layer_training", "layer_training_failed"])
        st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % layer, token=self.admin)
        self.assertEqual(st, 404, body)

    def test_a_training_cut_short_resumes_at_start(self):
        self.import_pairs(pairs(300, 7))
        self.d.stop()
        # As a crash leaves it: the row queued, no model yet.
        self.d.sql("INSERT INTO layers(status, kind, request, created_ms) "
                   "VALUES('training', 'hashed-bt', ?, 0)",
                   (json.dumps(dict(SMALL, requested_by="boss")),))
        self.d.restart()
        got = self.settled(1)
        self.assertEqual((got["status"], got["lineage"]["comparisons"]["count"]), ("candidate", 300))


class TestRejected(LifecycleCase):
    def test_a_candidate_trained_on_flipped_labels_is_rejected(self):
        gold = self.gold_items(pairs(40, 21))
        self.import_pairs(pairs(600, 7))
        good = self.train(auto_promote=True, **SMALL)
        got = until(lambda: (lambda l: l if l["status"] not in ("training", "candidate")
                             else None)(self.layer(good)), "the first layer's check", timeout=120)
        self.assertEqual(got["status"], "active", got["consistency"])
        self.assertEqual(got["consistency"]["settled"], 40)
        # The same kind of data with every label flipped, and a layer
        # trained on those rows alone (the newest 600).
        self.import_pairs(pairs(600, 9, flipped=True))
        bad = self.train(max_rows=600, **SMALL)
        got = self.settled(bad)
        lin = got["lineage"]["comparisons"]
        self.assertEqual((got["status"], lin["count"], lin["first_id"], lin["truncated"]),
                         ("candidate", 600, 601, True))
        st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % bad, token=self.admin)
        self.assertEqual((st, body["status"]), (200, "rejected"), body)
        rep = body["consistency"]
        self.assertFalse(rep["passed"])
        self.assertFalse(rep["rules"]["accuracy"])
        self.assertFalse(rep["rules"]["contradictions"])
        self.assertLess(rep["accuracy"], 0.5)
        self.assertGreater(rep["active_accuracy"], 0.9)
        self.assertGreater(rep["contradictions"], 0.02 * 40)
        self.assertEqual(rep["flagged"], rep["contradictions"])
        self.assertEqual(self.active(), good)
        got = self.layer(bad)
        self.assertEqual((got["status"], got["consistency"]["flagged"]),
                         ("rejected", rep["flagged"]))
        # Each contradiction is a flag on a gold item, which goes back to people.
        flags = self.d.request("GET", "/v1/flags?limit=1000", token=self.admin)[2]["flags"]
        self.assertEqual(len(flags), rep["flagged"])
        self.assertTrue(all(f["layer_id"] == bad and f["item_id"] in gold for f in flags))
        self.assertIn(("layer_rejected", "layer:%d" % bad, "boss"), self.events())

        # rungd train --activate does not bypass the check: the same
        # training from the command line is rejected too, and exits 1.
        p = self.d.cli("train", "--db", self.d.db, "--activate", "--max-rows", "600",
                       "--members", "2", "--bits", "14", "--seed", "3", "--target", "0.9",
                       timeout=120)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("rejected", p.stderr)
        report = json.loads(p.stdout)
        cli = report["layer_id"]
        self.assertEqual((report["status"], report["consistency"]["passed"],
                          report["lineage"]["comparisons"]["count"]), ("rejected", False, 600))
        self.assertEqual((self.layer(cli)["status"], self.active()), ("rejected", good))
        self.assertEqual(self.events()[-2:], [("layer_trained", "layer:%d" % cli, "rungd train"),
                                              ("layer_rejected", "layer:%d" % cli,
                                               "rungd train")])
        flags = self.d.request("GET", "/v1/flags?limit=1000", token=self.admin)[2]["flags"]
        self.assertGreater(len([f for f in flags if f["layer_id"] == cli]), 0)

    def test_an_external_model_that_scores_backwards_is_rejected(self):
        fwd, back = ModelServer(), ModelServer("reverse")
        try:
            # People settled on the longer reply; the forward model agrees.
            rows = [{"prompt": "Say something %d." % i, "chosen": " ".join(["long"] * 10),
                     "rejected": "short"} for i in range(6)]
            gold = self.gold_items(rows)
            reg = {"kind": "http", "protocol": "rung", "timeout_ms": 3000, "retries": 0,
                   "threshold": 0.9}
            ok = self.d.request("POST", "/v1/layers", dict(reg, url=fwd.url),
                                token=self.admin)[2]["id"]
            st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % ok, token=self.admin)
            self.assertEqual((st, body["status"]), (200, "active"), body)
            wrong = self.d.request("POST", "/v1/layers", dict(reg, url=back.url),
                                   token=self.admin)[2]["id"]
            st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % wrong,
                                         token=self.admin)
            self.assertEqual((st, body["status"]), (200, "rejected"), body)
            rep = body["consistency"]
            self.assertEqual((rep["settled"], rep["accuracy"], rep["active_accuracy"],
                              rep["contradictions"], rep["flagged"], rep["against_layer"]),
                             (6, 0.0, 1.0, 6, 6, ok))
            self.assertFalse(rep["rules"]["accuracy"] or rep["rules"]["contradictions"])
            self.assertEqual(self.active(), ok)
            flags = self.d.request("GET", "/v1/flags", token=self.admin)[2]["flags"]
            self.assertEqual(sorted(f["item_id"] for f in flags), sorted(gold))
            self.assertTrue(all(f["layer_id"] == wrong for f in flags))
            # Each flagged item has one more task for people.
            self.assertEqual(self.d.sql("SELECT count(*) FROM tasks WHERE gold = 0")[0][0], 6)
            self.assertEqual([k for k, _, _ in self.events()],
                             ["layer_registered", "layer_promoted", "layer_registered",
                              "layer_rejected"])
        finally:
            fwd.stop()
            back.stop()


class TestCheckSettings(LifecycleCase):
    def test_the_check_takes_its_settings_from_the_body(self):
        back = ModelServer("reverse")
        try:
            rows = [{"prompt": "Say something %d." % i, "chosen": " ".join(["long"] * 10),
                     "rejected": "short"} for i in range(4)]
            self.gold_items(rows)
            layer = self.d.request("POST", "/v1/layers", {
                "kind": "http", "url": back.url, "protocol": "rung", "retries": 0},
                token=self.admin)[2]["id"]
            path = "/v1/layers/%d/promote" % layer
            for body, code in (({"margin": 2}, "invalid_body"),
                               ({"contradict_p": 0.2}, "invalid_body"),
                               ({"contradict_share": "all"}, "invalid_body"),
                               ({"bogus": 1}, "invalid_body")):
                st, _, reply = self.d.request("POST", path, body, token=self.admin)
                self.assertEqual((st, reply["error"]["code"]), (422, code), body)
            st, _, reply = self.d.request("POST", path, raw="{", token=self.admin)
            self.assertEqual(st, 400)
            self.assertEqual(self.layer(layer)["status"], "candidate")   # nothing changed
            # Every settled item contradicted is allowed: it passes, and
            # the report says under which settings.
            st, _, reply = self.d.request("POST", path, {"contradict_share": 1.0,
                                                         "ece_floor": 0.5}, token=self.admin)
            self.assertEqual((st, reply["status"]), (200, "active"), reply)
            rep = reply["consistency"]
            self.assertEqual((rep["contradictions"], rep["contradict_share"], rep["margin"],
                              rep["ece_floor"], rep["contradict_p"], rep["flagged"]),
                             (4, 1.0, 0.01, 0.5, 0.9, 0))
        finally:
            back.stop()


class TestLayerTimeout(rungtest.DaemonCase):
    daemon_args = ["--gold-rate", "0", "--layer-timeout", "0.5"]

    def test_ingest_waits_at_most_the_layer_timeout(self):
        # The model answers after 10 s; the layer itself would wait 8 s a
        # try, three tries: without --layer-timeout an ingest would take 24 s.
        model = ModelServer("stall")
        try:
            reg = {"kind": "http", "url": model.url, "protocol": "rung", "timeout_ms": 8000,
                   "retries": 2, "threshold": 0.9}
            layer = self.d.request("POST", "/v1/layers", reg, token=self.admin)[2]["id"]
            st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % layer,
                                         token=self.admin)
            self.assertEqual((st, body["status"]), (200, "active"), body)
            replies = []

            def ingest(i):
                # The client gives up long before the layer's own 24 s.
                replies.append(self.d.request("POST", "/v1/items", {
                    "prompt": "p%d" % i, "responses": ["x y", "z"]}, token=self.pipe,
                    timeout=6))
            # More ingests than the breaker's 5 failures: tries cut short by
            # the deadline are not the model's failures.
            threads = [threading.Thread(target=ingest, args=(i,)) for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            self.assertEqual(len(replies), 6)
            for st, _, ack in replies:
                self.assertEqual(st, 201, ack)
                item = self.d.request("GET", "/v1/items/" + ack["id"], token=self.pipe)[2]
                self.assertEqual((item["status"], item["route"], item["layer_id"]),
                                 ("awaiting_human", "human", None))
            st, _, status = self.d.request("GET", "/v1/status", token=self.admin)
            health = status["layer_health"]
            self.assertEqual((health["layer"], health["kind"], health["timeout_ms"]),
                             (layer, "http", 500))
            self.assertEqual((health["failures"], health["breaker"]), (0, "closed"), health)
            self.assertEqual(self.d.sql("SELECT count(*) FROM tasks")[0][0], 6)
        finally:
            model.stop()

    def test_status_without_a_layer(self):
        st, _, status = self.d.request("GET", "/v1/status", token=self.admin)
        self.assertEqual((st, status["layer_health"]), (200, None))


if __name__ == "__main__":
    unittest.main(verbosity=2)
