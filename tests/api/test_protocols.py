#!/usr/bin/env python3
"""External reward models over each protocol rung speaks (vLLM's pooling
API, text-embeddings-inference's /predict, rung's own /score), against
tests/rm_server.py speaking each exactly as its project documents it:
healthy, the items are scored by the model (and the request the model
received has the documented shape); when the model stalls, answers 500,
answers garbage or JSON of the wrong shape, every item goes to people,
unscored, never with a guessed verdict; healthy again, scoring resumes.
Real rungd, real model server processes."""
import math
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmtest import MODEL, ModelServer  # noqa: E402
from rungtest import Daemon, until  # noqa: E402

TEMPLATE = "Human: {prompt}\n\nAssistant: {response}"


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


class ProtocolCase:
    """One protocol's tests; subclasses set protocol."""
    protocol = None

    def setUp(self):
        self.model = ModelServer(self.protocol)
        self.addCleanup(lambda: self.model.stop())  # also when the rest of setUp fails
        self.d = Daemon(extra_args=["--gold-rate", "0", "--audit-share", "0"])
        self.addCleanup(lambda: self.d.cleanup())
        self.admin = self.d.key("admin", "adm")
        self.pipe = self.d.key("pipeline", "pipe")
        self.n = 0
        # No retries and a breaker that stays closed: each failure is seen
        # as it is; no cache, so every item asks the model.
        st, _, body = self.d.request("POST", "/v1/layers", self.model.layer_params(
            timeout_ms=1500, retries=0, breaker_failures=1000, cache=0, threshold=0.9),
            token=self.admin)
        self.assertEqual(st, 201, body)
        self.layer = body["id"]
        st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % self.layer,
                                     token=self.admin)
        self.assertEqual((st, body["status"]), (200, "active"), body)
        until(lambda: self.d.request("GET", "/v1/status", token=self.admin)[2]["active_layer"]
              == self.layer, "the daemon to load the layer")

    def tearDown(self):
        self.d.cleanup()
        self.model.stop()

    def post(self, a, b):
        """Posts a pair under a prompt of its own; returns the stored item."""
        self.n += 1
        prompt = "Question %d" % self.n
        st, _, ack = self.d.request("POST", "/v1/items", {"prompt": prompt, "responses": [a, b]},
                                    token=self.pipe, timeout=60)
        self.assertEqual(st, 201, ack)
        return self.d.request("GET", "/v1/items/" + ack["id"], token=self.pipe)[2]

    def expected_request(self, prompt, a, b):
        texts = [TEMPLATE.format(prompt=prompt, response=r) for r in (a, b)]
        if self.protocol == "vllm":
            return {"model": MODEL, "input": texts}
        if self.protocol == "tei":
            return {"inputs": [[prompt, a], [prompt, b]], "raw_scores": True}
        return {"inputs": [{"prompt": prompt, "response": a}, {"prompt": prompt, "response": b}]}

    def assert_scored(self, clear_first=True):
        six, one = "one two three four five six", "one"
        item = self.post(six, one) if clear_first else self.post(one, six)
        # Six words against one: P(a) = sigmoid(0.5 * 5) = 0.924 >= 0.9.
        self.assertEqual((item["status"], item["route"], item["layer_id"]),
                         ("auto", "auto", self.layer), item)
        self.assertEqual(item["verdict"], "a" if clear_first else "b")
        p = sigmoid(2.5)
        self.assertAlmostEqual(item["scores"]["p_a"], p if clear_first else 1 - p, places=4)
        close = self.post("one two", "one")
        self.assertEqual((close["status"], close["route"], close["layer_id"]),
                         ("awaiting_human", "human", self.layer))
        self.assertAlmostEqual(close["scores"]["p_a"], sigmoid(0.5), places=4)
        # The model got the request its project documents.
        self.assertEqual(self.model.last(),
                         self.expected_request("Question %d" % self.n, "one two", "one"))

    def assert_to_people(self, mode):
        self.model.mode(mode)
        before = self.model.stats()["requests"]
        item = self.post("one two three four five six seven", "one")
        self.assertEqual((item["status"], item["route"], item["layer_id"], item["scores"],
                          item["verdict"]), ("awaiting_human", "human", None, None, None), mode)
        self.assertGreater(self.model.stats()["requests"], before, "the model was asked")
        st, _, body = self.d.request("POST", "/v1/score",
                                     {"prompt": "p", "responses": ["a b", "c"]}, token=self.pipe,
                                     timeout=60)
        self.assertEqual((st, body["error"]["code"]), (503, "layer_unavailable"), mode)
        tasks = self.d.sql("SELECT count(*) FROM tasks t JOIN items i ON i.seq = t.item_seq "
                           "WHERE i.id = ? AND t.state = 'open'", (item["id"],))[0][0]
        self.assertEqual(tasks, 1, "the item waits for a rater")

    def test_scored_when_healthy(self):
        self.assert_scored()
        self.assert_scored(clear_first=False)

    def test_failures_go_to_people_then_scoring_resumes(self):
        for mode in ("stall", "500", "garbage", "shape"):
            with self.subTest(mode=mode):
                self.assert_to_people(mode)
        self.model.mode("ok")
        self.assert_scored()
        metrics = self.d.request("GET", "/metrics", token=self.admin)[2].decode()
        self.assertRegex(metrics, r"(?m)^rung_layer_http_failures_total [1-9]\d*$")


class TestVllm(ProtocolCase, unittest.TestCase):
    protocol = "vllm"

    def test_an_unknown_model_is_an_error_not_a_score(self):
        # vLLM answers 404 with its error object for a model it does not
        # serve: the item goes to people.
        st, _, body = self.d.request("POST", "/v1/layers", self.model.layer_params(
            model="other-model", retries=0, threshold=0.9), token=self.admin)
        self.assertEqual(st, 201, body)
        st, _, body = self.d.request("POST", "/v1/layers/%d/promote" % body["id"],
                                     token=self.admin)
        # The settled set is empty: nothing to score, so it is promoted.
        self.assertEqual((st, body["status"]), (200, "active"), body)
        until(lambda: self.d.request("GET", "/v1/status", token=self.admin)[2]["active_layer"]
              == body["id"], "the daemon to load the layer")
        item = self.post("one two three four five six", "one")
        self.assertEqual((item["status"], item["layer_id"]), ("awaiting_human", None))


class TestTei(ProtocolCase, unittest.TestCase):
    protocol = "tei"


class TestRung(ProtocolCase, unittest.TestCase):
    protocol = "rung"


if __name__ == "__main__":
    unittest.main(verbosity=2)
