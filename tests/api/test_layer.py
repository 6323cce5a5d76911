"""API and CLI tests for the reward layer: import, train, hot swap in a
running daemon, /v1/score, routing fields on ingest, eval. Real rungd, real
SQLite file, no mocks."""

import json
import os
import random
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import Daemon, until  # noqa: E402

GOOD = ["correct", "careful", "step", "because", "therefore", "verified", "clear", "precise"]
BAD = ["wrong", "whatever", "guess", "dunno", "lol", "random", "rude", "nonsense"]
FILLER = ["the", "a", "answer", "is", "we", "see", "that", "so", "it", "and"]


def reply(rng, vocab, n=14):
    words = [rng.choice(vocab if rng.random() < 0.5 else FILLER) for _ in range(n)]
    return " ".join(words)


def write_trl(path, n, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"prompt": "Question %d: explain topic %d" % (i, i % 17),
                                "chosen": reply(rng, GOOD), "rejected": reply(rng, BAD)}) + "\n")


CLEAR_PAIR = {"prompt": "Question: explain topic 3",
              "responses": ["lol whatever dunno guess random nonsense rude wrong lol",
                            "correct careful step because therefore verified clear precise"]}
TWIN_PAIR = {"prompt": "Question: explain topic 4",
             "responses": ["the answer is that so it", "the answer is that so it"]}


class LayerCase(rungtest.DaemonCase):
    daemon_args = ["--gold-rate", "0"]

    def setUp(self):
        super().setUp()
        self.trl = os.path.join(self.d.tmpdir, "train.jsonl")
        write_trl(self.trl, 800, seed=7)

    def cli(self, *args):
        return self.d.cli(*args, timeout=300)

    def import_and_train(self, *train_args):
        p = self.cli("import", "--db", self.d.db, "--format", "trl", "--as", "comparisons",
                     self.trl)
        self.assertEqual(p.returncode, 0, p.stderr)
        summary = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual((summary["pairs"], summary["stored"], summary["rejected_lines"]),
                         (800, 800, 0))
        p = self.cli("train", "--db", self.d.db, "--target", "0.9", *train_args)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def wait_active(self, layer_id):
        """Waits until the daemon serves layer_id: it looks the active layer
        up every second, then loads it, which on a loaded machine (two
        cores, other suites, ASan) may take more than a few seconds."""
        until(lambda: self.d.request("GET", "/v1/status", token=self.admin)[2]
              ["active_layer"] == layer_id, "the daemon to pick up layer %s" % layer_id)


class TestTrainAndServe(LayerCase):
    def test_no_layer_routes_everything_to_humans(self):
        st, _, body = self.d.request("POST", "/v1/score", CLEAR_PAIR, token=self.pipe)
        self.assertEqual(st, 200)
        self.assertEqual((body["route"], body["layer_id"], body["verdict"]), ("human", None, None))
        p = self.cli("train", "--db", self.d.db)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no comparisons", p.stderr)

    def test_train_hot_swap_score_and_route(self):
        st, _, body = self.d.request("GET", "/v1/status", token=self.admin)
        self.assertIsNone(body["active_layer"])
        report = self.import_and_train("--seed", "3", "--members", "3", "--bits", "16")
        self.assertEqual(report["status"], "active")   # the first layer becomes active
        self.assertEqual((report["members"], report["bits"], report["seed"]), (3, 16, 3))
        self.assertEqual(report["sources"], {"import": 800})
        self.assertIsNotNone(report["threshold"])
        tau = report["threshold"]
        self.assertTrue(0.5 <= tau <= 1.0)
        self.assertGreater(report["calibration"]["accuracy"], 0.9)
        for k in ("log_loss", "ece", "curve"):
            self.assertIn(k, report["calibration"])
        layer = report["layer_id"]
        self.wait_active(layer)   # the running daemon picks it up, no restart

        before = self.d.item_count()
        st, _, s = self.d.request("POST", "/v1/score", CLEAR_PAIR, token=self.pipe)
        self.assertEqual(st, 200, s)
        self.assertEqual((s["route"], s["verdict"], s["layer_id"]), ("auto", "b", layer))
        self.assertGreaterEqual(s["confidence"], tau)
        self.assertLess(s["scores"]["p_a"], 0.5)
        self.assertGreater(s["scores"]["b"]["mean"], s["scores"]["a"]["mean"])
        st, _, s2 = self.d.request("POST", "/v1/score", {"items": [CLEAR_PAIR, TWIN_PAIR]},
                                   token=self.pipe)
        self.assertEqual(st, 200)
        self.assertEqual([x["route"] for x in s2["items"]], ["auto", "human"])
        self.assertLess(s2["items"][1]["confidence"], tau)
        self.assertEqual(self.d.item_count(), before)   # scoring stores nothing
        st, _, bad = self.d.request("POST", "/v1/score", {"prompt": 1, "response": "x"},
                                    token=self.pipe)
        self.assertEqual((st, bad["error"]["code"]), (422, "invalid_item"))
        rater = self.d.key("rater", "r1")
        self.assertEqual(self.d.request("POST", "/v1/score", CLEAR_PAIR, token=rater)[0], 403)

        st, _, acks = self.d.request("POST", "/v1/items", {"items": [CLEAR_PAIR, TWIN_PAIR,
                                     {"prompt": "p", "response": "one reply"}]}, token=self.pipe)
        self.assertEqual(st, 201)
        self.assertEqual([a["status"] for a in acks["items"]],
                         ["auto", "awaiting_human", "awaiting_human"])
        st, _, auto = self.d.request("GET", "/v1/items/" + acks["items"][0]["id"], token=self.pipe)
        self.assertEqual((auto["route"], auto["verdict"], auto["verdict_source"], auto["layer_id"]),
                         ("auto", "b", "layer", layer))
        self.assertGreaterEqual(auto["confidence"], tau)
        self.assertEqual(auto["scores"]["layer"], layer)
        st, _, human = self.d.request("GET", "/v1/items/" + acks["items"][1]["id"], token=self.pipe)
        self.assertEqual((human["route"], human["verdict"], human["layer_id"]), ("human", None, layer))
        self.assertLess(human["confidence"], tau)
        # Only the two human-routed items became tasks; the rater sees the
        # layer's assistance.
        self.assertEqual(self.d.sql("SELECT count(*) FROM tasks")[0][0], 2)
        st, _, task = self.d.request("GET", "/v1/tasks/next", token=rater)
        self.assertEqual(st, 200)
        if task["kind"] == "pair":  # the twins: a coin flip is not shown (issue 9)
            self.assertIsNone(task["assistance"])

        # A second candidate stays a candidate; --activate swaps it in live.
        p = self.cli("train", "--db", self.d.db, "--target", "0.9", "--members", "2",
                     "--bits", "14")
        self.assertEqual(p.returncode, 0, p.stderr)
        second = json.loads(p.stdout)
        self.assertEqual(second["status"], "candidate")
        time.sleep(1.5)
        self.assertEqual(self.d.request("GET", "/v1/status", token=self.admin)[2]["active_layer"],
                         layer)
        p = self.cli("train", "--db", self.d.db, "--target", "0.9", "--activate")
        third = json.loads(p.stdout)
        self.assertEqual(third["status"], "active")
        self.wait_active(third["layer_id"])
        st, _, layers = self.d.request("GET", "/v1/layers", token=self.admin)
        self.assertEqual([l["status"] for l in layers["layers"]], ["active", "candidate", "retired"])

    def test_deterministic_training(self):
        a = self.import_and_train("--seed", "5", "--members", "2", "--bits", "14")
        p = self.cli("train", "--db", self.d.db, "--target", "0.9", "--seed", "5", "--members",
                     "2", "--bits", "14")
        b = json.loads(p.stdout)
        blobs = self.d.sql("SELECT params FROM layers WHERE id IN (?, ?) ORDER BY id",
                           (a["layer_id"], b["layer_id"]))
        self.assertEqual(blobs[0][0], blobs[1][0])
        self.assertEqual(a["calibration"], b["calibration"])


class TestImportEval(LayerCase):
    def test_import_reports_bad_lines_and_exit_code(self):
        path = os.path.join(self.d.tmpdir, "mixed.jsonl")
        with open(path, "w") as f:
            f.write(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n")
            f.write("{not json\n")
            f.write(json.dumps({"prompt": "p", "chosen": 3, "rejected": "r"}) + "\n")
            f.write(json.dumps({"prompt": "p2", "chosen": "c2", "rejected": "r2"}) + "\n")
        p = self.cli("import", "--db", self.d.db, "--format", "trl", "--as", "comparisons", path)
        self.assertEqual(p.returncode, 1)
        self.assertIn("line 2", p.stderr)
        self.assertIn("line 3", p.stderr)
        summary = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual((summary["stored"], summary["rejected_lines"]), (2, 2))
        self.assertEqual(self.d.sql("SELECT count(*) FROM comparisons")[0][0], 2)
        p = self.cli("import", "--db", self.d.db, "--format", "xml", "--as", "comparisons", path)
        self.assertEqual(p.returncode, 2)
        p = self.cli("import", "--db", self.d.db, "--format", "trl", "--as", "comparisons",
                     os.path.join(self.d.tmpdir, "missing.jsonl"))
        self.assertEqual(p.returncode, 1)

    def raw_get(self, path, token):
        """The body of a GET as text, to see how numbers are printed."""
        conn = self.d.connection()
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + token})
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            return resp.read().decode()
        finally:
            conn.close()

    def test_queued_items_rescored_when_a_layer_becomes_active(self):
        held = {"prompt": "Question: explain topic 5",
                "responses": ["wrong guess lol", "correct careful step verified"]}
        ids = []
        for it in (held, CLEAR_PAIR, TWIN_PAIR):
            st, _, ack = self.d.request("POST", "/v1/items", it, token=self.pipe)
            self.assertEqual((st, ack["status"]), (201, "awaiting_human"))
            ids.append(ack["id"])
        rater = self.d.key("rater", "r1")
        st, _, task = self.d.request("GET", "/v1/tasks/next", token=rater)
        self.assertEqual((st, task["prompt"]), (200, held["prompt"]))   # a human holds it
        report = self.import_and_train("--seed", "3", "--members", "3", "--bits", "16")
        layer = report["layer_id"]

        def item(i):
            return self.d.request("GET", "/v1/items/" + ids[i], token=self.pipe)[2]
        until(lambda: item(2)["layer_id"] == layer, "the queued items to be rescored")
        clear, twin, kept = item(1), item(2), item(0)
        self.assertEqual((clear["status"], clear["route"], clear["verdict"],
                          clear["verdict_source"], clear["layer_id"]),
                         ("auto", "auto", "b", "layer", layer))
        self.assertGreaterEqual(clear["confidence"], report["threshold"])
        self.assertEqual((twin["status"], twin["route"], twin["verdict"]),
                         ("awaiting_human", "human", None))
        self.assertEqual(twin["scores"]["layer"], layer)
        self.assertLess(twin["confidence"], report["threshold"])
        self.assertEqual((kept["layer_id"], kept["scores"]), (None, None))  # leased: untouched
        self.assertEqual(self.d.sql("SELECT i.id, t.state FROM tasks t JOIN items i "
                                    "ON i.seq = t.item_seq ORDER BY t.id"),
                         [(ids[0], "open"), (ids[1], "done"), (ids[2], "open")])
        self.d.wait_stderr("rescored queued items")
        # Another rater gets the twin pair, now scored; its assistance is a
        # coin flip (two equal replies), so none is shown. The settled one
        # is offered to nobody.
        other = self.d.key("rater", "r2")
        st, _, task = self.d.request("GET", "/v1/tasks/next", token=other)
        self.assertEqual((st, task["prompt"]), (200, TWIN_PAIR["prompt"]))
        self.assertIsNone(task["assistance"])
        self.assertEqual(self.d.request("GET", "/v1/tasks/next", token=other)[0], 200)
        third = self.d.key("rater", "r3")
        self.assertEqual(self.d.request("GET", "/v1/tasks/next", token=third)[0], 204)

    def test_rescore_from_the_cli(self):
        ids = []
        for it in (CLEAR_PAIR, TWIN_PAIR):
            ids.append(self.d.request("POST", "/v1/items", it, token=self.pipe)[2]["id"])
        self.d.stop()
        p = self.cli("rescore", "--db", self.d.db)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no active layer", p.stderr)
        report = self.import_and_train("--seed", "3", "--members", "3", "--bits", "16")
        p = self.cli("rescore", "--db", self.d.db)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout),
                         {"layer_id": report["layer_id"], "rescored": 2, "auto": 1,
                          "still_human": 1})
        self.assertEqual(self.d.sql("SELECT id, status, layer_id FROM items ORDER BY seq"),
                         [(ids[0], "auto", report["layer_id"]),
                          (ids[1], "awaiting_human", report["layer_id"])])
        p = self.cli("rescore", "--db", self.d.db)   # nothing left: resumable, idempotent
        self.assertEqual(json.loads(p.stdout)["rescored"], 0)
        for bad in (["--db"], ["--db", self.d.db, "extra"], ["--bogus"]):
            self.assertEqual(self.cli("rescore", *bad).returncode, 2)
        p = self.cli("rescore", "--db", os.path.join(self.d.tmpdir, "none.db"))
        self.assertEqual(p.returncode, 2)

    def test_numbers_are_printed_rounded(self):
        self.import_and_train("--seed", "3", "--members", "3", "--bits", "16")
        layer = self.d.sql("SELECT id FROM layers WHERE status = 'active'")[0][0]
        self.wait_active(layer)
        st, _, ack = self.d.request("POST", "/v1/items", TWIN_PAIR, token=self.pipe)
        for path in ("/v1/items/" + ack["id"], "/v1/items", "/v1/layers"):
            with self.subTest(path=path):
                reals = re.findall(r"(\d+)\.(\d+)", self.raw_get(path, self.admin))
                self.assertTrue(reals)
                # At most 6 significant digits: never 0.55000000000000004.
                digits = [len((a + b).lstrip("0")) for a, b in reals]
                self.assertLessEqual(max(digits), 6, reals[digits.index(max(digits))])

    def test_import_as_items_queues_pairs(self):
        path = os.path.join(self.d.tmpdir, "few.jsonl")
        write_trl(path, 10, seed=1)
        p = self.cli("import", "--db", self.d.db, "--format", "trl", "--as", "items", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        st, _, page = self.d.request("GET", "/v1/items?batch=import&limit=100", token=self.admin)
        self.assertEqual(len(page["items"]), 10)
        self.assertTrue(all(i["kind"] == "pair" and i["status"] == "awaiting_human"
                            for i in page["items"]))
        # The chosen reply is shown on either side, so "A" is not a tell.
        with open(path) as f:
            chosen = {o["prompt"]: o["chosen"] for o in map(json.loads, f)}
        sides = [i["responses"][0] == chosen[i["prompt"]] for i in page["items"]]
        self.assertIn(True, sides)
        self.assertIn(False, sides)
        self.assertEqual(self.d.sql("SELECT count(*) FROM tasks")[0][0], 10)
        self.assertEqual(self.d.sql("SELECT count(*) FROM comparisons")[0][0], 0)

    def test_eval_prints_metrics(self):
        self.import_and_train()
        test = os.path.join(self.d.tmpdir, "test.jsonl")
        write_trl(test, 300, seed=99)
        p = self.cli("eval", "--db", self.d.db, "--format", "trl", test)
        self.assertEqual(p.returncode, 0, p.stderr)
        m = json.loads(p.stdout)
        for k in ("pairs", "accuracy", "log_loss", "ece", "threshold", "coverage",
                  "accuracy_on_covered"):
            self.assertIn(k, m)
        self.assertEqual(m["pairs"], 300)
        self.assertGreater(m["accuracy"], 0.9)
        self.assertTrue(0 <= m["coverage"] <= 1)
        # Same prompts, new replies: nothing was seen in training.
        self.assertEqual(m["seen_in_training"], 0)
        self.assertEqual(m["unseen"]["pairs"], 300)
        self.assertEqual(m["unseen"]["accuracy"], m["accuracy"])
        self.assertNotIn("warning", p.stderr)
        # The training file itself plus the fresh pairs: the training pairs
        # are warned about and reported apart.
        mixed = os.path.join(self.d.tmpdir, "mixed.jsonl")
        with open(mixed, "w") as out:
            for src in (self.trl, test):
                with open(src) as f:
                    out.write(f.read())
        p = self.cli("eval", "--db", self.d.db, "--format", "trl", mixed)
        self.assertEqual(p.returncode, 0, p.stderr)
        m2 = json.loads(p.stdout)
        self.assertEqual((m2["pairs"], m2["seen_in_training"]), (1100, 800))
        self.assertIn("warning: 800 of 1100 pairs", p.stderr)
        self.assertEqual(m2["unseen"]["pairs"], 300)
        self.assertAlmostEqual(m2["unseen"]["accuracy"], m["accuracy"], places=5)
        for k in ("accuracy", "coverage", "accuracy_on_covered", "log_loss", "ece"):
            self.assertIn(k, m2["unseen"])
        p = self.cli("eval", "--db", self.d.db, "--layer", "999", "--format", "trl", test)
        self.assertNotEqual(p.returncode, 0)

    def test_real_data_import_counts(self):
        # The fixtures cut from the public data (tests/data/README.md).
        data = os.environ.get("RUNG_DATA_DIR") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "data")
        hh = os.path.join(data, "hh-rlhf-harmless", "pairs.jsonl")
        gsm = os.path.join(data, "gsm8k", "model_solutions.jsonl")
        p = self.cli("import", "--db", self.d.db, "--format", "hh", "--as", "comparisons", hh)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["stored"], 289)
        p = self.cli("import", "--db", self.d.db, "--format", "gsm8k", "--as", "comparisons", gsm)
        self.assertEqual(p.returncode, 0, p.stderr)
        # One pair per correct x incorrect solution of each question.
        expected = 0
        with open(gsm) as f:
            for line in f:
                o = json.loads(line)
                sols = [v for v in o.values() if isinstance(v, dict) and "is_correct" in v]
                good = sum(1 for v in sols if v["is_correct"])
                expected += good * (len(sols) - good)
        # Identical solutions of a question make identical pairs: stored once.
        summary = json.loads(p.stdout)
        self.assertEqual(summary["stored"] + summary["duplicates"], expected)
        self.assertLess(summary["duplicates"], expected // 100)
        self.assertEqual(self.d.sql("SELECT count(*) FROM comparisons")[0][0],
                         289 + summary["stored"])

    def test_log_lines_escape_the_db_path(self):
        # A quote and a backslash in --db once made stderr invalid JSON.
        self.d.stop()
        self.d.cleanup()
        self.d = Daemon(extra_args=["--gold-rate", "0"], start=False)
        self.d.db = os.path.join(self.d.tmpdir, 'x"y\\z.db')
        self.d.start()
        self.admin = self.d.key("admin", "boss")
        self.trl = os.path.join(self.d.tmpdir, "train.jsonl")
        write_trl(self.trl, 800, seed=7)
        report = self.import_and_train()
        self.wait_active(report["layer_id"])
        self.d.stop()
        lines = [json.loads(line) for line in self.d.stderr_lines()]
        self.assertIn(self.d.db, [o.get("db") for o in lines])
        msgs = [o.get("msg") for o in lines]
        for m in ("rungd listening", "active layer", "shutting down", "stopped cleanly"):
            self.assertIn(m, msgs)


if __name__ == "__main__":
    unittest.main(verbosity=2)
