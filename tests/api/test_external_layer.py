#!/usr/bin/env python3
"""An external reward model as a layer: registered over REST, promoted,
scored on the layer worker while the request waits suspended (never on an
HTTP thread), and an item it cannot score goes to people. The model is
tests/rm_server.py speaking rung's own contract (POST /score)."""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import Daemon, until  # noqa: E402

RM_SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rm_server.py")
PROMPT = "Say something."


class ModelServer:
    """tests/rm_server.py on a free port: reward = 0.5 * words(response)
    - 0.125 * words(prompt)."""

    def __init__(self, mode="ok"):
        self.proc = subprocess.Popen([sys.executable, RM_SERVER, "--protocol", "rung", "--mode",
                                      mode, "--port", "0"], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise AssertionError("rm_server.py said %r" % line)
        self.url = "http://127.0.0.1:%d" % int(line.split()[1])

    def stats(self):
        import urllib.request
        with urllib.request.urlopen(self.url + "/stats", timeout=5) as r:
            return json.load(r)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()


class ExternalLayerTest(unittest.TestCase):
    def setUp(self):
        self.model = ModelServer()
        self.addCleanup(lambda: self.model.stop())  # also when the rest of setUp fails
        # One HTTP thread: a scoring that blocked it would stall every request.
        self.d = Daemon(extra_args=["--threads", "1", "--gold-rate", "0"])
        self.addCleanup(lambda: self.d.cleanup())
        self.admin = self.d.key("admin", "adm")
        self.pipe = self.d.key("pipeline", "pipe")

    def tearDown(self):
        self.d.cleanup()
        self.model.stop()

    def register(self, **params):
        body = {"kind": "http", "url": self.model.url, "protocol": "rung", "timeout_ms": 3000,
                "retries": 0, "threshold": 0.9, **params}
        return self.d.request("POST", "/v1/layers", body, token=self.admin)

    def promote(self, layer):
        st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % layer, token=self.admin)
        self.assertEqual((st, body["status"]), (200, "active"), body)
        until(lambda: self.d.request("GET", "/v1/status", token=self.admin)[2]["active_layer"]
              == layer, "the daemon to load the layer")

    def post(self, a, b):
        st, _, body = self.d.request("POST", "/v1/items", {"prompt": PROMPT, "responses": [a, b]},
                                     token=self.pipe)
        self.assertEqual(st, 201, body)
        return self.d.request("GET", "/v1/items/" + body["id"], token=self.pipe)[2]

    def test_register_validate_and_list(self):
        for bad, code in (({"kind": "http", "url": "ftp://x", "protocol": "rung"}, "invalid_layer"),
                          ({"kind": "http", "url": self.model.url, "protocol": "grpc"},
                           "invalid_layer"),
                          ({"kind": "http", "url": self.model.url, "protocol": "vllm"},
                           "invalid_layer"),   # vllm needs "model"
                          ({"kind": "onnx"}, "unsupported_kind"), ({"kind": 3}, "unsupported_kind"),
                          # {} and hashed-bt train a layer here (test_lifecycle.py)
                          ({"kind": "hashed-bt", "members": 0}, "invalid_body"),
                          ({"url": self.model.url}, "invalid_body")):
            with self.subTest(body=bad):
                st, _, body = self.d.request("POST", "/v1/layers", bad, token=self.admin)
                self.assertEqual((st, body["error"]["code"]), (422, code))
        self.assertEqual(self.d.request("POST", "/v1/layers", {"kind": "http"},
                                        token=self.pipe)[0], 403)
        self.assertEqual(self.d.sql("SELECT count(*) FROM layers")[0][0], 0)
        st, _, body = self.register()
        self.assertEqual((st, body["status"], body["kind"]), (201, "candidate", "http"))
        st, _, layers = self.d.request("GET", "/v1/layers", token=self.admin)
        self.assertEqual([(l["id"], l["kind"], l["status"]) for l in layers["layers"]],
                         [(body["id"], "http", "candidate")])
        self.assertEqual(self.d.request("POST", "/v1/layers/99/promote",
                                        token=self.admin)[0], 404)

    def test_scored_by_the_model_on_the_worker(self):
        layer = self.register()[2]["id"]
        self.promote(layer)
        # Six words against one: P(a) = sigmoid(0.5 * 5) = 0.92 >= 0.9: auto.
        clear = self.post("one two three four five six", "one")
        self.assertEqual((clear["status"], clear["route"], clear["verdict"], clear["layer_id"]),
                         ("auto", "auto", "a", layer))
        close = self.post("one two", "one")                     # sigmoid(0.5) = 0.62
        self.assertEqual((close["status"], close["layer_id"]), ("awaiting_human", layer))
        self.assertAlmostEqual(close["scores"]["p_a"], 0.6225, places=3)
        self.assertGreaterEqual(self.model.stats()["requests"], 2)
        # /metrics shows the external layer's health, in a form promtool takes.
        metrics = self.d.request("GET", "/metrics", token=self.admin)[2].decode()
        sent = int(re.search(r"(?m)^rung_layer_http_requests_total (\d+)$", metrics).group(1))
        self.assertEqual(sent, self.model.stats()["requests"])
        self.assertRegex(metrics, r"(?m)^rung_layer_http_failures_total 0$")
        self.assertRegex(metrics, r"(?m)^rung_layer_http_breaker_open 0$")
        promtool = shutil.which("promtool")
        self.assertTrue(promtool, "promtool is not installed (deploy/deps.sh test installs it)")
        p = subprocess.run([promtool, "check", "metrics"], input=metrics.encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_http_threads_answer_while_the_model_stalls(self):
        # The model answers after 10 s; the layer gives up after 3 s. With
        # one HTTP thread, /healthz is still answered while the ingest waits.
        self.model.stop()
        self.model = ModelServer("stall")
        layer = self.register()[2]["id"]
        self.promote(layer)
        done = {}

        def ingest():
            done["reply"] = self.d.request("POST", "/v1/items",
                                           {"prompt": PROMPT, "responses": ["x y", "z"]},
                                           token=self.pipe, timeout=30)
        th = threading.Thread(target=ingest)
        th.start()
        until(lambda: self.d.inflight(self.admin) >= 1, "the ingest to be in flight")
        st, _, body = self.d.request("GET", "/healthz")
        waiting = th.is_alive()
        th.join(30)
        self.assertEqual((st, body), (200, {"status": "ok"}))
        self.assertTrue(waiting, "/healthz was answered only after the ingest")
        st, _, ack = done["reply"]
        self.assertEqual(st, 201, ack)
        # The model never answered in time: the item went to people, unscored.
        item = self.d.request("GET", "/v1/items/" + ack["id"], token=self.pipe)[2]
        self.assertEqual((item["status"], item["route"], item["layer_id"], item["scores"]),
                         ("awaiting_human", "human", None, None))
        self.assertTrue(any("the layer could not score" in line
                            for line in self.d.stderr_lines(False)))

    def gold_pairs(self, n, answer):
        """n pairs of a one-word reply against a ten-word one, settled by the
        admin's gold answer."""
        seqs = []
        for i in range(n):
            body = {"prompt": "%s %d" % (PROMPT, i),
                    "responses": ["short", " ".join(["long"] * 10)]}
            st, _, ack = self.d.request("POST", "/v1/items", body, token=self.pipe)
            self.assertEqual(st, 201, ack)
            st, _, _ = self.d.request("POST", "/v1/items/%s/gold" % ack["id"],
                                      {"answer": answer}, token=self.admin)
            self.assertEqual(st, 200)
            seqs.append(ack["id"])
        return seqs

    def test_promotion_checks_the_candidate_against_what_is_settled(self):
        # The model prefers longer replies; people settled on the short one:
        # it contradicts every settled item with P >= 0.99 and is rejected.
        ids = self.gold_pairs(5, "a")
        layer = self.register()[2]["id"]
        st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % layer, token=self.admin)
        self.assertEqual((st, body["status"]), (200, "rejected"), body)
        rep = body["consistency"]
        self.assertEqual((rep["settled"], rep["contradictions"], rep["flagged"], rep["passed"]),
                         (5, 5, 5, False))
        self.assertFalse(rep["rules"]["contradictions"])
        self.assertEqual(rep["accuracy"], 0.0)
        self.assertIsNone(rep["active_accuracy"])    # no active layer: rule (c) alone
        layers = self.d.request("GET", "/v1/layers", token=self.admin)[2]["layers"]
        self.assertEqual((layers[0]["status"], layers[0]["consistency"]["contradictions"]),
                         ("rejected", 5))
        self.assertEqual(self.d.request("GET", "/v1/status", token=self.admin)[2]["active_layer"],
                         None)
        flagged = self.d.sql("SELECT i.id, f.layer_id FROM flags f JOIN items i "
                             "ON i.seq = f.item_seq ORDER BY f.id")
        self.assertEqual(flagged, [(i, layer) for i in ids])
        # Each flagged item goes back to people: one more task of its own.
        self.assertEqual(self.d.sql("SELECT i.id, count(*) FROM tasks t JOIN items i "
                                    "ON i.seq = t.item_seq WHERE t.gold = 0 AND t.subq_id IS NULL "
                                    "GROUP BY i.id ORDER BY min(t.id)"),
                         [(i, 1) for i in ids])
        self.assertEqual(self.d.sql("SELECT actor, kind, subject FROM events "
                                    "WHERE kind LIKE 'layer_%' ORDER BY id"),
                         [("adm", "layer_registered", "layer:%d" % layer),
                          ("adm", "layer_rejected", "layer:%d" % layer)])
        # A rejected layer is not promoted again.
        self.assertEqual(self.d.request("POST", "/v1/layers/%d/promote" % layer,
                                        token=self.admin)[0], 404)

    def test_a_candidate_that_agrees_is_promoted(self):
        self.gold_pairs(5, "b")
        layer = self.register()[2]["id"]
        st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % layer, token=self.admin)
        self.assertEqual((st, body["status"]), (200, "active"), body)
        self.assertEqual((body["consistency"]["accuracy"], body["consistency"]["passed"]),
                         (1.0, True))
        self.assertEqual(self.d.sql("SELECT count(*) FROM flags")[0][0], 0)
        self.assertEqual(self.d.request("POST", "/v1/layers/%d/promote" % layer,
                                        token=self.admin)[2]["error"]["code"], "already_active")

    def test_model_down_items_go_to_people_and_score_says_so(self):
        layer = self.register()[2]["id"]
        self.promote(layer)
        self.model.stop()
        item = self.post("one two three four five six", "one")
        self.assertEqual((item["status"], item["layer_id"]), ("awaiting_human", None))
        metrics = self.d.request("GET", "/metrics", token=self.admin)[2].decode()
        failed = int(re.search(r"(?m)^rung_layer_http_failures_total (\d+)$", metrics).group(1))
        self.assertGreaterEqual(failed, 1)
        st, _, body = self.d.request("POST", "/v1/score",
                                     {"prompt": PROMPT, "responses": ["a b", "c"]},
                                     token=self.pipe)
        self.assertEqual((st, body["error"]["code"]), (503, "layer_unavailable"))
        # Nothing was lost: the item waits for a rater.
        self.assertEqual(self.d.sql("SELECT count(*) FROM tasks WHERE state = 'open'")[0][0], 1)

    def test_model_down_import_stores_items_for_people(self):
        """`rungd import --as items` with the active layer's model down
        stores the items unscored for people, as the API does, and says how
        many in its summary."""
        layer = self.register()[2]["id"]
        self.promote(layer)
        self.model.stop()
        path = os.path.join(self.d.tmpdir, "pairs.jsonl")
        with open(path, "w") as f:
            for i in range(3):
                f.write(json.dumps({"prompt": "Say %d." % i, "chosen": "one two three",
                                    "rejected": "one"}) + "\n")
        p = self.d.cli("import", "--db", self.d.db, "--format", "trl", "--as", "items",
                       "--batch", "down", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        summary = json.loads(p.stdout)
        self.assertEqual((summary["stored"], summary["unscored"]), (3, 3))
        self.assertIn("the layer could not score", p.stderr)
        rows = self.d.sql("SELECT status, layer_id, route FROM items WHERE batch = 'down'")
        self.assertEqual(rows, [("awaiting_human", None, "human")] * 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
