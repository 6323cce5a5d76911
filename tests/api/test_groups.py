"""API tests for sample groups (issue 11, item 1): an item's group, pairs
scored with their group's other samples, the group's waiting items scored
again when a sample joins, `rungd import --format gsm8k` grouping a
question's solutions. A real daemon, a layer trained on the GSM8K fixture."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import until  # noqa: E402

GSM8K = os.path.join(rungtest.REPO_ROOT, "tests", "data", "gsm8k", "model_solutions.jsonl")

QUESTION = ("Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning "
            "and bakes muffins for her friends every day with four. She sells the remainder at "
            "the farmers' market daily for $2 per fresh duck egg. How much in dollars does she "
            "make every day at the farmers' market?")
RIGHT = ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
         "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer\u2019s market.\nA: 18")
WRONG = ("Janet eats 3 ducks eggs for breakfast every morning and she sells the rest so she has "
         "16 - 3 = <<16-3=13>>13 ducks eggs left\nShe has 13 ducks eggs and she sells 2 each day "
         "so she makes 13 * 2 = $<<13*2=26>>26\nA: 26")


def agreeing(i):
    """Another sample whose final answer is RIGHT's (18)."""
    return ("She keeps 16 - 7 = <<16-7=9>>9 eggs to sell (variant %d).\n"
            "9 * 2 = <<9*2=18>>18 dollars.\nA: 18" % i)


class GroupCase(rungtest.DaemonCase):
    daemon_args = ["--gold-rate", "0", "--side-order", "fixed"]

    def setUp(self):
        super().setUp()
        p = self.d.cli("import", "--db", self.d.db, "--format", "gsm8k", "--as", "comparisons",
                       GSM8K, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        # A low target so that the fixture's layer has a grouped threshold
        # above 0.5 (on ~300 pairs none is vouched for at 0.95; at 0.8 the
        # layer of blob version 6 vouches for every pair, ties included).
        p = self.d.cli("train", "--db", self.d.db, "--seed", "1", "--members", "3", "--bits",
                       "16", "--target", "0.85", timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.report = json.loads(p.stdout)
        self.assertIsNotNone(self.report["grouped"]["threshold"])
        until(lambda: self.d.request("GET", "/v1/status", token=self.admin)[2]["active_layer"]
              == self.report["layer_id"], "the daemon to load the layer")

    def post(self, items, token=None):
        st, _, ack = self.d.request("POST", "/v1/items", {"items": items},
                                    token=token or self.pipe)
        self.assertEqual(st, 201, ack)
        return [a["id"] for a in ack["items"]]

    def item(self, item_id, token=None):
        st, _, it = self.d.request("GET", "/v1/items/" + item_id, token=token or self.pipe)
        self.assertEqual(st, 200, it)
        return it


class TestGroups(GroupCase):
    def test_a_joining_sample_rescores_and_resolves_the_waiting_pair(self):
        [pair] = self.post([{"prompt": QUESTION, "responses": [RIGHT, WRONG], "group": "janet"}])
        alone = self.item(pair)
        self.assertEqual(alone["group"], "janet")
        self.assertEqual(alone["scores"]["group_samples"], 2)
        # Alone, the layer is not sure enough (its pair-alone threshold,
        # if it has one, is above this pair's confidence): people decide.
        alone_tau = self.report["threshold"]
        self.assertTrue(alone_tau is None or alone["confidence"] < alone_tau, alone)
        self.assertEqual((alone["status"], alone["route"]), ("awaiting_human", "human"))
        # Three more samples of the question, all answering 18, join.
        self.post([{"prompt": QUESTION, "response": agreeing(i), "group": "janet"}
                   for i in range(3)])
        grown = until(lambda: (lambda it: it if it["scores"]["group_samples"] == 5 else None)(
            self.item(pair)), "the pair to be scored again with its group")
        self.assertGreater(grown["scores"]["p_a"], alone["scores"]["p_a"])
        self.assertEqual(grown["scores"]["threshold"], self.report["grouped"]["threshold"])
        self.assertGreaterEqual(grown["confidence"], self.report["grouped"]["threshold"])
        self.assertEqual((grown["status"], grown["route"], grown["verdict"],
                          grown["verdict_source"]), ("auto", "auto", "a", "layer"))
        self.assertEqual(self.d.sql("SELECT t.state FROM tasks t JOIN items i ON i.seq = "
                                    "t.item_seq WHERE i.id = ?", (pair,)), [("done",)])
        self.assertEqual(self.d.sql("SELECT group_stale FROM items WHERE id = ?", (pair,)), [(0,)])

    def test_the_items_of_one_request_see_each_other(self):
        ids = self.post([{"prompt": QUESTION, "response": agreeing(0)},
                         {"prompt": QUESTION, "response": agreeing(1)},
                         {"prompt": QUESTION, "responses": [WRONG, RIGHT]}])
        pair = self.item(ids[2])
        self.assertEqual(pair["scores"]["group_samples"], 4)
        self.assertEqual(pair["group"], self.item(ids[0])["group"])
        self.assertTrue(pair["group"].startswith("prompt:"))
        self.assertEqual((pair["status"], pair["verdict"]), ("auto", "b"))

    def test_a_labelled_item_is_left_alone(self):
        st, _, _ = self.d.request("PUT", "/v1/overlap",
                                  {"batch": "two", "overlap": 2, "future": True},
                                  token=self.admin)
        self.assertEqual(st, 200)
        # Two pairs of twins (the same answer on both sides): the layer
        # cannot tell their sides apart, whatever joins.
        held, waiting = self.post([
            {"prompt": QUESTION, "responses": [WRONG, WRONG + " "], "group": "g",
             "batch": "two", "priority": 10},
            {"prompt": QUESTION, "responses": [RIGHT, RIGHT + " "], "group": "g",
             "batch": "two"}])
        self.assertEqual(self.item(held)["scores"]["group_samples"], 4)
        rater = self.d.key("rater", "r1")
        st, _, task = self.d.request("GET", "/v1/tasks/next", token=rater)
        self.assertEqual((st, task["responses"]), (200, [WRONG, WRONG + " "]))
        st, _, lab = self.d.request("POST", "/v1/tasks/%d/labels" % task["id"], {"answer": "b"},
                                    token=rater)
        self.assertEqual(st, 201, lab)
        before = self.item(held)
        self.post([{"prompt": QUESTION, "response": agreeing(i), "group": "g"} for i in range(2)])
        until(lambda: self.item(waiting)["scores"]["group_samples"] == 6,
              "the waiting item to be scored again")
        after = self.item(held)
        self.assertEqual((after["scores"], after["status"], after["updated_ms"]),
                         (before["scores"], "awaiting_human", before["updated_ms"]))

    def test_a_retracted_sample_rescores_the_waiting_pair(self):
        # Twins (the same answer on both sides): the layer cannot settle
        # the pair, whatever its group holds, so it keeps waiting.
        [pair] = self.post([{"prompt": QUESTION, "responses": [RIGHT, RIGHT + " "],
                             "group": "r"}])
        samples = self.post([{"prompt": QUESTION, "response": agreeing(i), "group": "r"}
                             for i in range(2)])
        until(lambda: self.item(pair)["scores"]["group_samples"] == 4,
              "the pair to be scored with the samples")
        st, _, body = self.d.request("DELETE", "/v1/items/" + samples[0], token=self.pipe)
        self.assertEqual((st, body), (200, {"id": samples[0], "deleted": True}))
        shrunk = until(lambda: (lambda it: it if it["scores"]["group_samples"] == 3 else None)(
            self.item(pair)), "the pair to be scored again without the retracted sample")
        self.assertEqual((shrunk["status"], shrunk["route"]), ("awaiting_human", "human"))
        self.assertEqual(self.d.sql("SELECT group_stale FROM items WHERE id = ?", (pair,)), [(0,)])

    def test_marks_left_by_a_crash_are_taken_up_at_start(self):
        [pair] = self.post([{"prompt": QUESTION, "responses": [RIGHT, WRONG], "group": "k"}])
        self.d.kill9()
        # As a crash would leave them: a sample joined (committed with its
        # mark), nobody scored the pair again.
        self.d.sql("INSERT INTO items(id, key_id, kind, prompt, response_a, status, "
                   "created_ms, updated_ms, \"group\") SELECT 'joined', key_id, 'single', "
                   "prompt, ?, 'awaiting_human', 0, 0, 'k' FROM items WHERE id = ?",
                   (agreeing(0), pair))
        if not rungtest.PG_BASE:  # SQLite logs the item's group in the same commit
            self.d.sql("INSERT INTO item_groups(seq, key_id, \"group\") SELECT seq, key_id, "
                       "\"group\" FROM items WHERE id = 'joined'")
        self.d.sql("UPDATE items SET group_stale = 1 WHERE id = ?", (pair,))
        self.d.restart()
        until(lambda: self.item(pair)["scores"]["group_samples"] == 3,
              "the pair to be scored again at start")
        self.assertEqual(self.d.sql("SELECT group_stale FROM items WHERE id = ?", (pair,)),
                         [(0,)])

    def test_groups_are_per_key_and_default_to_the_normalised_prompt(self):
        other = self.d.key("pipeline", "other")
        [mine] = self.post([{"prompt": QUESTION, "responses": [RIGHT, WRONG]}])
        self.post([{"prompt": "  " + QUESTION.upper() + "\n", "response": agreeing(i)}
                   for i in range(3)])
        [theirs] = self.post([{"prompt": QUESTION, "responses": [RIGHT, WRONG]}], token=other)
        until(lambda: self.item(mine)["scores"]["group_samples"] == 5, "my pair to see my samples")
        it = self.item(theirs, token=other)
        self.assertEqual(it["group"], self.item(mine)["group"])
        self.assertEqual(it["scores"]["group_samples"], 2)   # another key's samples: not its group

    def test_bad_groups_are_refused_and_change_nothing(self):
        for bad in ("", 7, "x" * 129, ["a"]):
            st, _, body = self.d.request("POST", "/v1/items",
                                         {"prompt": "p", "response": "r", "group": bad},
                                         token=self.pipe)
            self.assertEqual((st, body["error"]["code"], body["error"]["field"]),
                             (422, "invalid_item", "group"), bad)
        self.assertEqual(self.d.sql("SELECT count(*) FROM items"), [(0,)])
        st, _, ok = self.d.request("POST", "/v1/items",
                                   {"prompt": "p", "response": "r", "group": "x" * 128},
                                   token=self.pipe)
        self.assertEqual(st, 201, ok)

    def test_score_uses_the_stored_group_and_stores_nothing(self):
        self.post([{"prompt": QUESTION, "response": agreeing(i), "group": "s"} for i in range(3)])
        st, _, body = self.d.request("POST", "/v1/score", {"items": [
            {"prompt": QUESTION, "responses": [RIGHT, WRONG], "group": "s"},
            {"prompt": QUESTION, "responses": [RIGHT, WRONG], "group": "elsewhere"}]},
            token=self.pipe)
        self.assertEqual(st, 200, body)
        grouped, alone = body["items"]
        self.assertEqual((grouped["scores"]["group_samples"], alone["scores"]["group_samples"]),
                         (5, 2))
        self.assertGreater(grouped["scores"]["p_a"], alone["scores"]["p_a"])
        self.assertEqual(self.d.sql("SELECT count(*) FROM items"), [(3,)])


BAD_SUM = ("Janet has 16 - 3 - 4 = <<16-3-4=8>>8 eggs left.\n"
           "She makes 8 * 2 = $<<8*2=16>>16.\nA: 16")


class TestChecksInTasks(GroupCase):
    def test_a_task_carries_the_findings_at_their_spans(self):
        self.post([{"prompt": QUESTION, "response": agreeing(i), "group": "c"} for i in range(2)])
        st, _, _ = self.d.request("PUT", "/v1/overlap", {"batch": "c", "overlap": 1,
                                                          "future": True}, token=self.admin)
        self.post([{"prompt": QUESTION, "responses": [BAD_SUM, WRONG], "group": "c",
                    "batch": "c", "priority": 5}])
        rater = self.d.key("rater", "r1")
        st, _, task = self.d.request("GET", "/v1/tasks/next", token=rater)
        self.assertEqual((st, task["responses"]), (200, [BAD_SUM, WRONG]))
        checks = task["checks"]
        for c in checks:
            self.assertEqual(set(c), {"response", "checker", "code", "finding", "span",
                                      "verdict"})
        bad = [c for c in checks if c["verdict"] == "fail" and c["checker"] == "arithmetic"]
        # The inline equation and its calculator annotation, each at its span.
        self.assertEqual([c["response"] for c in bad], [0, 0])
        self.assertEqual([BAD_SUM.encode()[c["span"][0]:c["span"][1]].decode() for c in bad],
                         ["16 - 3 - 4 = <<16-3-4=8>>8", "<<16-3-4=8>>"])
        self.assertEqual(bad[0]["finding"], "wrong: it is 9, not 8")
        ok = [c for c in checks if c["verdict"] == "pass" and c["response"] == 1]
        self.assertEqual(len(ok), 4, checks)   # WRONG's equations are right (twice each)
        agree = [c for c in checks if c["checker"] == "agreement"]
        self.assertEqual([c["response"] for c in agree], [0, 1])
        # Its group: the two samples answering 18, and the other side.
        self.assertIn("0 of 3 other samples", agree[0]["finding"])
        self.assertIsNone(agree[0]["span"])
        st, _, again = self.d.request("GET", "/v1/tasks/%d" % task["id"], token=rater)
        self.assertEqual(again["checks"], checks)

    def test_a_domain_shows_the_checkers_it_names(self):
        st, _, _ = self.d.request("PUT", "/v1/domains/quiet",
                                  {"decomposer": "none", "checkers": ["arithmetic"]},
                                  token=self.admin)
        self.assertEqual(st, 200)
        st, _, _ = self.d.request("PUT", "/v1/domains/mute", {"decomposer": "none",
                                                               "checkers": []},
                                  token=self.admin)
        self.assertEqual(st, 200)
        self.post([{"prompt": QUESTION, "responses": [BAD_SUM, WRONG], "domain": "quiet",
                    "priority": 2},
                   {"prompt": QUESTION + " ", "responses": [BAD_SUM, WRONG], "domain": "mute",
                    "priority": 1}])
        rater = self.d.key("rater", "r1")
        st, _, task = self.d.request("GET", "/v1/tasks/next", token=rater)
        self.assertEqual(st, 200)
        self.assertEqual({c["checker"] for c in task["checks"]}, {"arithmetic"})
        self.assertEqual(len(task["checks"]), 8)   # four equations on each side
        st, _, _ = self.d.request("POST", "/v1/tasks/%d/labels" % task["id"], {"answer": "b"},
                                  token=rater)
        st, _, task = self.d.request("GET", "/v1/tasks/next", token=rater)
        self.assertEqual((st, task["checks"]), (200, []))

    def test_no_findings_when_assistance_is_not_shown(self):
        st, _, _ = self.d.request("PUT", "/v1/batches/h", {"assistance": "after"},
                                  token=self.admin)
        self.assertEqual(st, 200)
        self.post([{"prompt": QUESTION, "responses": [BAD_SUM, WRONG], "batch": "h"}])
        rater = self.d.key("rater", "r1")
        st, _, task = self.d.request("GET", "/v1/tasks/next", token=rater)
        self.assertEqual((st, task["checks"]), (200, []))


class TestImportGroups(GroupCase):
    def test_gsm8k_import_puts_a_questions_solutions_in_one_group(self):
        p = self.d.cli("import", "--db", self.d.db, "--format", "gsm8k", "--as", "items",
                       "--batch", "q", GSM8K, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(GSM8K) as f:
            rows = [json.loads(line) for line in f]
        want = {}
        for o in rows:
            sols = [v for v in o.values() if isinstance(v, dict) and "is_correct" in v]
            right = [s["solution"] for s in sols if s["is_correct"]]
            wrong = [s["solution"] for s in sols if not s["is_correct"]]
            if right and wrong:
                want[o["question"]] = len(set(right + wrong))
        items, after = [], ""
        while True:
            st, _, page = self.d.request("GET", "/v1/items?batch=q&limit=1000" + after,
                                         token=self.admin)
            self.assertEqual(st, 200)
            items += page["items"]
            if not page["next"]:
                break
            after = "&after=" + page["next"]
        groups = {}
        for it in items:
            groups.setdefault(it["prompt"], set()).add(it["group"])
            # Every item was scored (again, once the file was read) with all
            # of its question's solutions.
            self.assertEqual(it["scores"]["group_samples"], want[it["prompt"]], it["prompt"])
        self.assertEqual(set(groups), set(want))
        self.assertTrue(all(len(g) == 1 for g in groups.values()))
        self.assertEqual(len({next(iter(g)) for g in groups.values()}), len(groups))
        self.assertEqual(self.d.sql("SELECT count(*) FROM items WHERE group_stale > 0 "
                                    "AND status = 'awaiting_human'"), [(0,)])
        # Planned as the API plans (domain math splits its steps), with the
        # layer: every step scored, and no item it settled split.
        split, unscored = self.d.sql("SELECT count(DISTINCT item_seq), "
                                     "count(*) - count(score) FROM subquestions")[0]
        self.assertEqual((split > 0, unscored), (True, 0))
        self.assertEqual(self.d.sql("SELECT count(*) FROM items i WHERE route = 'auto' AND "
                                    "EXISTS (SELECT 1 FROM subquestions s "
                                    "WHERE s.item_seq = i.seq)"), [(0,)])


if __name__ == "__main__":
    unittest.main()
