"""API tests for checker answers (issue 11, item 4): with a domain's
"checker_answers" on, a step holding an equation the arithmetic checker
finds wrong is answered no by the checker (source "checker"); off by
default. A real rungd, no layer."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_subq import RIGHT, WRONG, SubqCase, lines, math_pair  # noqa: E402


class TestCheckerAnswers(SubqCase):
    def test_off_by_default(self):
        st, _, body = self.d.request("GET", "/v1/domains", token=self.admin)
        self.assertEqual(st, 200)
        self.assertIs(body["default"]["checker_answers"], False)
        every = ["answer", "agreement", "arithmetic", "numbers", "form"]
        self.assertEqual(body["default"]["checkers"], every)
        math = [d for d in body["domains"] if d["name"] == "math"][0]
        self.assertIs(math["checker_answers"], False)
        ack = self.post([math_pair(1)])[0]
        sq = self.item(ack["id"])["subquestions"]
        self.assertEqual([q["source"] for q in sq], [None] * 6)

    def test_a_wrong_equation_answers_its_step_no(self):
        st, _, body = self.put_domain("math", {"decomposer": "steps", "checker_answers": True})
        self.assertEqual((st, body["checker_answers"]), (200, True), body)
        ack = self.post([math_pair(2)])[0]
        it = self.item(ack["id"])
        by = {(q["response"], q["span"][0]): q for q in it["subquestions"]}
        wrong = by[("b", lines(WRONG)[1][0])]     # "48 + 24 = 62"
        self.assertEqual((wrong["answer"], wrong["source"], wrong["status"]),
                         ("no", "checker", "answered"))
        # Nothing else is decisive: every other step waits for a person.
        self.assertEqual(sum(q["source"] is not None for q in it["subquestions"]), 1)
        self.assertEqual(it["rollup"]["b"], "fail")
        # People answer a's steps only; the checker's no sank b.
        r1 = self.d.key("rater", "r1")
        served = self.answer_all(r1, lambda q: "yes")
        self.assertEqual([s[0] for s in served], ["a", "a", "a"])
        it = self.item(ack["id"])
        self.assertEqual((it["verdict"], it["verdict_source"]), ("a", "aggregate"))
        decided = it["rollup"]["provenance"]["decided_by"]
        self.assertIn({"id": wrong["id"], "response": "b", "ordinal": 1, "answer": "no",
                       "source": "checker"}, decided)
        # A checker's answer is not a person's: it trains nothing.
        self.assertEqual(self.d.sql("SELECT count(*) FROM comparisons WHERE source = 'human' "
                                    "AND label = 'no'"), [(0,)])

    def test_without_the_arithmetic_checker_nothing_is_answered(self):
        st, _, body = self.put_domain("math", {"decomposer": "steps", "checker_answers": True,
                                               "checkers": ["answer", "form"]})
        self.assertEqual((st, body["checkers"]), (200, ["answer", "form"]), body)
        ack = self.post([math_pair(3)])[0]
        sq = self.item(ack["id"])["subquestions"]
        self.assertEqual([q["source"] for q in sq], [None] * 6)

    def answers(self, token=None):
        return self.d.request("GET", "/v1/checker-answers", token=token or self.admin)

    def test_accuracy_on_settled_items(self):
        """GET /v1/checker-answers: each checker answer judged against its
        item's settled verdict (here gold answers): a no on the side that
        lost agrees, a no on the side that won does not."""
        st, _, body = self.answers()
        self.assertEqual((st, body), (200, {"answered": 0, "settled": 0, "agreeing": 0,
                                            "accuracy": None, "interval": None}))
        self.put_domain("math", {"decomposer": "steps", "checker_answers": True})
        acks = self.post([math_pair(10), math_pair(11, a=WRONG, b=RIGHT), math_pair(12)])
        st, _, body = self.answers()
        self.assertEqual((st, body["answered"], body["settled"], body["accuracy"]),
                         (200, 3, 0, None), body)
        # Gold says a: right for the first (the checker sank b), wrong for
        # the second (the checker sank a, the response gold prefers).
        for ack in acks[:2]:
            st, _, body = self.d.request("POST", "/v1/items/%s/gold" % ack["id"],
                                         {"answer": "a"}, token=self.admin)
            self.assertEqual(st, 200, body)
        st, _, body = self.answers()
        self.assertEqual((body["answered"], body["settled"], body["agreeing"]), (3, 2, 1), body)
        self.assertAlmostEqual(body["accuracy"], 0.5, places=6)
        # The 95% Wilson interval of 1 of 2.
        self.assertAlmostEqual(body["interval"][0], 0.0945, places=3)
        self.assertAlmostEqual(body["interval"][1], 0.9055, places=3)
        # A deleted item's answers leave the count.
        st, _, _ = self.d.request("DELETE", "/v1/items/" + acks[2]["id"], token=self.pipe)
        self.assertEqual(st, 200)
        self.assertEqual(self.answers()[2]["answered"], 2)
        # Admins only.
        self.assertEqual(self.answers(self.d.key("rater", "r9"))[0], 403)
        self.assertEqual(self.d.request("GET", "/v1/checker-answers")[0], 401)

    def test_bad_setting_is_refused(self):
        for bad in ({"checker_answers": 1}, {"checkers": ["answer", "answer"]},
                    {"checkers": ["spelling"]}, {"checkers": "form"}, {"checkers": [1]}):
            bad["decomposer"] = "steps"
            st, _, body = self.put_domain("math", bad)
            self.assertEqual((st, body["error"]["code"]), (422, "invalid_domain"), bad)
        st, _, body = self.d.request("GET", "/v1/domains", token=self.admin)
        self.assertFalse([d for d in body["domains"] if d["name"] == "math"][0]["stored"])


if __name__ == "__main__":
    unittest.main()
