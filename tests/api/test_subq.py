"""API tests for sub-questions (issue 10): domain settings, decomposition at
ingest, sub-question tasks, early stop (also with raters racing), roll-up to
the item's verdict and its comparison. Each test runs a real rungd."""

import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_tasks import ReviewCase  # noqa: E402  (setUp: a daemon, pipeline and admin keys)

PROMPT = ("Natalia sold clips to 48 of her friends in April, and then she sold half as "
          "many clips in May. How many clips did Natalia sell altogether in April and May?")
RIGHT = ("Natalia sold 48 / 2 = 24 clips in May.\n"
         "Natalia sold 48 + 24 = 72 clips altogether in April and May.\n"
         "#### 72")
WRONG = ("Natalia sold 48 / 2 = 24 clips in May.\n"
         "Natalia sold 48 + 24 = 62 clips altogether in April and May.\n"
         "#### 62")


def math_pair(i=0, a=RIGHT, b=WRONG, domain="math"):
    return {"prompt": "%s (%d)" % (PROMPT, i), "responses": [a, b], "domain": domain}


def lines(text):
    """Byte spans of the non-empty lines of text."""
    out, at = [], 0
    raw = text.encode()
    for ln in raw.split(b"\n"):
        if ln.strip():
            out.append([at, at + len(ln)])
        at += len(ln) + 1
    return out


class SubqCase(ReviewCase):
    def post(self, items):
        st, _, body = self.d.request("POST", "/v1/items", {"items": items}, token=self.pipe)
        self.assertEqual(st, 201, body)
        return body["items"]

    def item(self, item_id):
        st, _, body = self.d.request("GET", "/v1/items/" + item_id, token=self.pipe)
        self.assertEqual(st, 200, body)
        return body

    def put_domain(self, name, body, token=None):
        return self.d.request("PUT", "/v1/domains/" + name, body, token=token or self.admin)

    def answer_all(self, token, rule, conn=None):
        """Claims and answers sub-question tasks until none is left (or a
        whole-item task comes, which stays leased); rule maps a task's
        subquestion object to an answer. Returns (response, span start,
        prompt) of each sub-question served, in order. Safe in threads
        with a connection of their own."""
        served = []
        while True:
            st, _, t = self.d.request("GET", "/v1/tasks/next", token=token, conn=conn)
            if st == 204 or (st == 200 and t["kind"] != "subquestion"):
                return served
            self.assertEqual(st, 200, t)
            q = t["subquestion"]
            served.append((q["response"], q["span"][0], t["prompt"]))
            st, _, body = self.d.request("POST", "/v1/tasks/%d/labels" % t["id"],
                                         {"answer": rule(q)}, token=token, conn=conn)
            self.assertEqual(st, 201, body)


class TestDomains(SubqCase):
    def test_put_get_and_validation(self):
        st, _, body = self.d.request("GET", "/v1/domains", token=self.admin)
        self.assertEqual(st, 200, body)
        by = {x["name"]: x for x in body["domains"]}
        self.assertEqual((by["math"]["decomposer"], by["math"]["stored"]), ("steps", False))
        self.assertEqual(by["code"]["decomposer"], "code")
        self.assertEqual(body["default"]["decomposer"], "none")
        good = {"decomposer": "criteria", "criteria": [{"text": "Is polite", "veto": True},
                                                       {"text": "Is brief", "veto": False}],
                "hard_tokens": 5, "step_order": "parallel"}
        st, _, body = self.put_domain("support", good)
        self.assertEqual(st, 200, body)
        self.assertEqual(body, {"name": "support", "decomposer": "criteria",
                                "criteria": good["criteria"], "hard_tokens": 5,
                                "step_order": "parallel", "checker_answers": False,
                                "checkers": ["answer", "agreement", "arithmetic", "numbers",
                                             "form"], "stored": True})
        bad = [
            {"decomposer": "lines"},
            {"decomposer": 3},
            {},
            {"decomposer": "steps", "colour": "red"},
            {"decomposer": "steps", "hard_tokens": -1},
            {"decomposer": "steps", "hard_tokens": "7"},
            {"decomposer": "steps", "hard_tokens": 1.5},
            {"decomposer": "steps", "step_order": "random"},
            {"decomposer": "criteria"},
            {"decomposer": "criteria", "criteria": []},
            {"decomposer": "criteria", "criteria": [{"text": ""}]},
            {"decomposer": "criteria", "criteria": [{"text": "x", "veto": "yes"}]},
            {"decomposer": "criteria", "criteria": [{"text": "x", "weight": 2}]},
            {"decomposer": "criteria", "criteria": ["x"]},
            {"decomposer": "steps", "criteria": [{"text": "x"}]},
        ]
        for b in bad:
            st, _, reply = self.put_domain("support", b)
            self.assertEqual((st, reply["error"]["code"]), (422, "invalid_domain"), b)
        st, _, reply = self.d.request("PUT", "/v1/domains/support", raw="{bad", token=self.admin)
        self.assertEqual(st, 400)
        self.assertEqual(self.put_domain("support", good, token=self.pipe)[0], 403)
        self.assertEqual(self.d.request("GET", "/v1/domains", token=self.pipe)[0], 403)
        # Nothing a refused request sent was kept.
        rows = self.d.sql("SELECT name, decomposer, hard_tokens, step_order FROM domains")
        self.assertEqual(rows, [("support", "criteria", 5, "parallel")])
        st, _, body = self.put_domain("math", {"decomposer": "none"})
        self.assertEqual(st, 200)
        st, _, body = self.d.request("GET", "/v1/domains", token=self.admin)
        by = {x["name"]: x for x in body["domains"]}
        self.assertEqual((by["math"]["decomposer"], by["math"]["stored"]), ("none", True))
        self.assertEqual(len([x for x in body["domains"] if x["name"] == "math"]), 1)

    def test_general_and_undecomposed_stay_whole(self):
        self.put_domain("easy", {"decomposer": "steps", "hard_tokens": 1000})
        acks = self.post([math_pair(1, domain="general"), math_pair(2, domain="easy"),
                          {"prompt": "p", "responses": ["x", "y"]}])
        self.assertEqual([a["status"] for a in acks], ["awaiting_human"] * 3)
        for a in acks:
            it = self.item(a["id"])
            self.assertEqual((it["subquestions"], it["rollup"]), ([], None))
        r1 = self.d.key("rater", "r1")
        st, _, t = self.next(r1)
        self.assertEqual((st, t["kind"]), (200, "pair"))
        self.assertNotIn("subquestion", t)
        self.assertEqual(self.d.sql("SELECT count(*) FROM subquestions")[0][0], 0)


class TestImportedItems(SubqCase):
    def write_gsm8k(self, name, question):
        path = os.path.join(self.d.tmpdir, name)
        with open(path, "w") as f:
            f.write(json.dumps({"question": question,
                                "m1": {"solution": RIGHT, "is_correct": True},
                                "m2": {"solution": WRONG, "is_correct": False}}) + "\n")
        return path

    def import_one(self, path, batch):
        p = self.d.cli("import", "--db", self.d.db, "--format", "gsm8k", "--as", "items",
                       "--batch", batch, path)
        self.assertEqual(p.returncode, 0, p.stderr)
        st, _, page = self.d.request("GET", "/v1/items?batch=" + batch, token=self.admin)
        self.assertEqual((st, len(page["items"])), (200, 1), page)
        st, _, it = self.d.request("GET", "/v1/items/" + page["items"][0]["id"],
                                   token=self.admin)
        self.assertEqual(st, 200, it)
        return it

    def test_import_plans_items_as_the_api_does(self):
        """`rungd import --as items` plans each item as POST /v1/items does:
        a GSM8K question's pair lands in domain math, decomposed into its
        steps; a domain with no decomposer keeps its items whole."""
        it = self.import_one(self.write_gsm8k("q1.jsonl", PROMPT), "imp1")
        self.assertEqual((it["domain"], it["status"]), ("math", "decomposed"))
        by_side = {}
        for q in it["subquestions"]:
            by_side.setdefault(q["response"], []).append(q["span"])
        self.assertEqual(by_side["a"], lines(it["responses"][0]))
        self.assertEqual(by_side["b"], lines(it["responses"][1]))
        self.assertEqual(sorted([lines(RIGHT), lines(WRONG)]),
                         sorted([by_side["a"], by_side["b"]]))
        st, _, body = self.put_domain("math", {"decomposer": "none"})
        self.assertEqual(st, 200, body)
        it = self.import_one(self.write_gsm8k("q2.jsonl", PROMPT + " (2)"), "imp2")
        self.assertEqual((it["domain"], it["status"], it["subquestions"]),
                         ("math", "awaiting_human", []))


class TestRollup(SubqCase):
    def test_hard_pair_from_ingest_to_comparison(self):
        ack = self.post([math_pair(1)])[0]
        self.assertEqual(ack["status"], "decomposed")
        it = self.item(ack["id"])
        self.assertEqual(it["status"], "decomposed")
        sq = it["subquestions"]
        self.assertEqual(len(sq), 6)
        self.assertEqual([q["span"] for q in sq if q["response"] == "a"], lines(RIGHT))
        self.assertEqual([q["span"] for q in sq if q["response"] == "b"], lines(WRONG))
        q0 = sq[0]
        self.assertEqual(set(q0), {"id", "response", "kind", "span", "question", "score",
                                   "confidence", "source", "answer", "status"})
        self.assertEqual((q0["kind"], q0["score"], q0["source"], q0["answer"], q0["status"]),
                         ("step", None, None, None, "open"))
        self.assertIn("steps before it", q0["question"])
        self.assertEqual([q["status"] for q in sq], ["open", "pending", "pending"] * 2)
        self.assertEqual((it["rollup"]["a"], it["rollup"]["b"], it["rollup"]["state"]),
                         ("open", "open", "open"))
        r1 = self.d.key("rater", "r1")
        st, _, t = self.next(r1)
        self.assertEqual((st, t["kind"]), (200, "subquestion"))
        self.assertEqual(t["prompt"], PROMPT + " (1)")
        self.assertEqual(t["responses"], [RIGHT, WRONG])
        self.assertEqual(t["subquestion"]["id"], sq[0]["id"])
        self.assertEqual(len(t["subquestions"]), 6)
        st, _, body = self.label(r1, t["id"], "good")
        self.assertEqual((st, body["error"]["code"]), (422, "invalid_answer"))
        wrong_step = lines(WRONG)[1][0]
        served = [("a", t["subquestion"]["span"][0])]
        self.assertEqual(self.label(r1, t["id"], "yes")[0], 201)
        served += [s[:2] for s in self.answer_all(
            r1, lambda q: "no" if (q["response"], q["span"][0]) == ("b", wrong_step) else "yes")]
        # b's last step was never asked: its second step failed it.
        self.assertEqual(len(served), 5)
        self.assertNotIn(("b", lines(WRONG)[2][0]), served)
        it = self.item(ack["id"])
        self.assertEqual((it["status"], it["verdict"], it["verdict_source"]),
                         ("resolved", "a", "aggregate"))
        self.assertEqual((it["rollup"]["a"], it["rollup"]["b"], it["rollup"]["state"]),
                         ("pass", "fail", "resolved"))
        by = {(q["response"], q["span"][0]): q for q in it["subquestions"]}
        self.assertEqual(by[("b", wrong_step)]["answer"], "no")
        self.assertEqual(by[("b", wrong_step)]["source"], "human")
        self.assertEqual(by[("b", lines(WRONG)[2][0])]["status"], "closed")
        prov = it["rollup"]["provenance"]
        self.assertEqual(prov["rollup"], {"a": "pass", "b": "fail"})
        self.assertEqual(len(prov["decided_by"]), 4)   # a's three yes and b's no
        self.assertTrue(all(x["source"] == "human" for x in prov["decided_by"]))
        rows = self.d.sql("SELECT prompt, chosen, rejected, tie, source, item_seq, provenance "
                          "FROM comparisons WHERE source = 'aggregate'")
        self.assertEqual(len(rows), 1)
        # Each human step answer is a verdict on the step in its context (the
        # question, then the response's earlier steps), training data for the
        # pointwise head; b's first step repeats a's (same text, same
        # context), so it is stored once.
        steps = self.d.sql("SELECT prompt, chosen, label FROM comparisons WHERE source = 'human' "
                           "ORDER BY prompt, chosen")
        a_lines, b_lines = RIGHT.split("\n"), WRONG.split("\n")
        q = PROMPT + " (1)"
        self.assertEqual(steps, sorted([
            (q, a_lines[0], "yes"),
            (q + "\n" + a_lines[0], a_lines[1], "yes"),
            (q + "\n" + a_lines[0] + "\n" + a_lines[1], a_lines[2], "yes"),
            (q + "\n" + b_lines[0], b_lines[1], "no")]))
        prompt, chosen, rejected, tie, source, seq, p = rows[0]
        self.assertEqual((prompt, chosen, rejected, tie, source),
                         (PROMPT + " (1)", RIGHT, WRONG, 0, "aggregate"))
        self.assertEqual(json.loads(p)["rollup"], {"a": "pass", "b": "fail"})
        self.assertEqual(self.d.sql("SELECT count(*) FROM tasks WHERE state = 'open'")[0][0], 0)
        self.assertEqual(self.next(r1)[0], 204)

    def test_no_on_step_one_ends_the_side(self):
        ack = self.post([math_pair(2)])[0]
        r1 = self.d.key("rater", "r1")
        served = [s[:2] for s in self.answer_all(r1, lambda q: "no" if q["response"] == "b"
                                                 else "yes")]
        self.assertEqual(served.count(("b", 0)), 1)
        self.assertEqual(len([s for s in served if s[0] == "b"]), 1)
        self.assertEqual(len(served), 4)
        it = self.item(ack["id"])
        self.assertEqual((it["verdict"], it["verdict_source"]), ("a", "aggregate"))
        self.assertEqual([q["status"] for q in it["subquestions"] if q["response"] == "b"],
                         ["answered", "closed", "closed"])

    def test_both_pass_becomes_whole_pair_task(self):
        ack = self.post([math_pair(3, b=RIGHT + "\nSo it is 72.")])[0]
        r1 = self.d.key("rater", "r1")
        self.answer_all(r1, lambda q: "yes")     # ends holding the whole-pair task
        it = self.item(ack["id"])
        self.assertEqual(it["status"], "awaiting_human")
        self.assertEqual((it["rollup"]["a"], it["rollup"]["b"], it["rollup"]["state"],
                          it["rollup"]["reason"]), ("pass", "pass", "whole", "both_pass"))
        st, _, t = self.next(r1)
        self.assertEqual((st, t["kind"]), (200, "pair"))
        self.assertNotIn("subquestion", t)
        self.assertEqual(len(t["subquestions"]), 7)       # the sub-verdicts, as assistance
        self.assertEqual(t["rollup"]["a"], "pass")
        st, _, body = self.label(r1, t["id"], "b")
        self.assertEqual((st, body["verdict"]), (201, "b"))
        it = self.item(ack["id"])
        self.assertEqual((it["status"], it["verdict"], it["verdict_source"]),
                         ("resolved", "b", "human"))

    def test_single_response_good_and_unsure_escalates(self):
        acks = self.post([{"prompt": "p1", "response": RIGHT, "domain": "math"}])
        r1 = self.d.key("rater", "r1")
        self.answer_all(r1, lambda q: "yes")
        it = self.item(acks[0]["id"])
        self.assertEqual((it["status"], it["verdict"], it["verdict_source"]),
                         ("resolved", "good", "aggregate"))
        self.assertEqual(self.d.sql("SELECT chosen, label, source FROM comparisons "
                                    "WHERE source = 'aggregate'"),
                         [(RIGHT, "good", "aggregate")])
        self.assertEqual(self.d.sql("SELECT count(*) FROM comparisons WHERE source = 'human' "
                                    "AND label = 'yes'")[0][0], len(lines(RIGHT)))
        # Unsure sends the step to one more rater once, then to the whole item.
        acks = self.post([{"prompt": "p2", "response": WRONG, "domain": "math"}])
        r2, r3 = self.d.key("rater", "r2"), self.d.key("rater", "r3")
        st, _, t = self.next(r1)
        self.assertEqual(self.label(r1, t["id"], "unsure")[0], 201)
        self.assertEqual(self.next(r1)[0], 204)             # not again to who said unsure
        st, _, t2 = self.next(r2)
        self.assertEqual((st, t2["id"]), (200, t["id"]))
        self.assertEqual(self.label(r2, t2["id"], "unsure")[0], 201)
        it = self.item(acks[0]["id"])
        self.assertEqual((it["status"], it["rollup"]["state"], it["rollup"]["reason"]),
                         ("awaiting_human", "whole", "unsure"))
        self.assertEqual({q["status"] for q in it["subquestions"]}, {"closed"})
        st, _, t3 = self.next(r3)
        self.assertEqual((st, t3["kind"]), (200, "single"))
        self.assertEqual(self.label(r3, t3["id"], "bad")[0], 201)
        it = self.item(acks[0]["id"])
        self.assertEqual((it["verdict"], it["verdict_source"]), ("bad", "human"))

    def test_parallel_closes_the_rest(self):
        self.put_domain("math", {"decomposer": "steps", "step_order": "parallel"})
        ack = self.post([math_pair(4)])[0]
        it = self.item(ack["id"])
        self.assertEqual([q["status"] for q in it["subquestions"]], ["open"] * 6)
        # Six raters hold the six steps, in claim order: a's three, then b's.
        r = [self.d.key("rater", "r%d" % i) for i in range(6)]
        tasks = [self.next(tok)[2] for tok in r]
        self.assertEqual([(t["subquestion"]["response"], t["subquestion"]["span"])
                          for t in tasks],
                         [("a", s) for s in lines(RIGHT)] + [("b", s) for s in lines(WRONG)])
        self.assertEqual(self.label(r[4], tasks[4]["id"], "yes")[0], 201)  # b's 2nd, kept
        self.assertEqual(self.label(r[3], tasks[3]["id"], "no")[0], 201)   # b's 1st: b fails
        st, _, body = self.label(r[5], tasks[5]["id"], "yes")           # closed under r5
        self.assertEqual((st, body["error"]["code"]), (409, "task_complete"))
        it = self.item(ack["id"])
        self.assertEqual([q["status"] for q in it["subquestions"] if q["response"] == "b"],
                         ["answered", "answered", "closed"])
        self.assertEqual(it["rollup"]["b"], "fail")
        for k in range(3):
            self.assertEqual(self.label(r[k], tasks[k]["id"], "yes")[0], 201)
        it = self.item(ack["id"])
        self.assertEqual((it["status"], it["verdict"], it["verdict_source"]),
                         ("resolved", "a", "aggregate"))
        self.assertEqual(self.d.sql("SELECT count(*) FROM tasks WHERE state = 'open'")[0][0], 0)


class TestRace(SubqCase):
    def test_many_raters_never_see_steps_after_a_no(self):
        n_items, n_raters = 12, 16
        long_b = "\n".join("Step %d: 2 + %d = %d" % (k, k, k + 2) for k in range(5))
        acks = self.post([math_pair(i, a=RIGHT, b=long_b) for i in range(n_items)])
        tokens = [self.d.key("rater", "r%02d" % i) for i in range(n_raters)]
        errors, served = [], []

        def work(tok):
            conn = self.d.connection()
            try:
                served.extend(self.answer_all(tok, lambda q: "no" if q["response"] == "b"
                                              else "yes", conn))
            except AssertionError as e:   # a refused claim or label
                errors.append(e)
            finally:
                conn.close()

        threads = [threading.Thread(target=work, args=(t,)) for t in tokens]
        for th in threads:
            th.start()
        for th in threads:
            th.join(300)
        self.assertEqual(errors, [])
        b_served = [s for s in served if s[0] == "b"]
        self.assertEqual(len(b_served), n_items)            # only step 1 of each b
        self.assertTrue(all(s[1] == 0 for s in b_served), b_served)
        self.assertEqual(len(served), n_items * 4)          # a's three steps, b's first
        self.assertEqual(len(set(served)), len(served))      # each asked once
        for a in acks:
            it = self.item(a["id"])
            self.assertEqual((it["status"], it["verdict"], it["verdict_source"]),
                             ("resolved", "a", "aggregate"))
        self.assertEqual(self.d.sql("SELECT count(*) FROM comparisons WHERE source = "
                                    "'aggregate'")[0][0], n_items)
        self.assertEqual(self.d.sql("SELECT count(*) FROM labels l JOIN tasks t ON t.id = "
                                    "l.task_id JOIN subquestions q ON q.id = t.subq_id "
                                    "WHERE q.side = 'b' AND q.ordinal > 0")[0][0], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
