"""CLI tests (issue 9): which commands create a database and say so, the
refusal of a missing one, keys create's missing options, --version, ISO
8601 times in keys list, and rungd import's options and summary. Real
rungd, real databases (SQLite files; with RUNG_TEST_PG, a fresh PostgreSQL
database where the test is not about files), no mocks."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import Daemon, sqlite_only  # noqa: E402

RUNGD = rungtest.rungd_path()
DATA = os.environ.get("RUNG_DATA_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data")


def created_lines(stderr):
    out = []
    for line in stderr.splitlines():
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if isinstance(o, dict) and o.get("msg") == "created database":
            out.append(o)
    return out


class CliCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rungcli-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_in_tmp(self, *args):
        """Runs rungd in the empty temporary folder (where ./rung.db would go)."""
        return subprocess.run([RUNGD, *args], cwd=self.tmp, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=rungtest.START_TIMEOUT)

    def db(self, name="t.db"):
        return os.path.join(self.tmp, name)

    def fresh_db(self):
        """An empty database on the backend of the run (dropped after)."""
        return rungtest.case_db(self, self.tmp, "t.db")


@sqlite_only("which commands create a SQLite file, and where")
class TestDatabaseCreation(CliCase):
    def test_readers_refuse_a_missing_database(self):
        trl = os.path.join(self.tmp, "x.jsonl")
        with open(trl, "w") as f:
            f.write(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n")
        for args in (["keys", "list"], ["keys", "revoke", "someone"], ["train"],
                     ["eval", "--format", "trl", trl], ["demo"],
                     ["keys", "list", "--db", self.db("nope.db")]):
            with self.subTest(args=args):
                p = self.run_in_tmp(*args)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("no database at", p.stderr)
                self.assertEqual(sorted(os.listdir(self.tmp)), ["x.jsonl"])

    def test_creators_say_so_once(self):
        p = self.run_in_tmp("keys", "create", "--db", self.db(), "--role", "admin", "--name", "a")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(created_lines(p.stderr), [{"level": "info", "msg": "created database",
                                                    "db": self.db()}])
        p = self.run_in_tmp("keys", "create", "--db", self.db(), "--role", "rater", "--name", "b")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(created_lines(p.stderr), [])
        trl = os.path.join(self.tmp, "x.jsonl")
        with open(trl, "w") as f:
            f.write(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n")
        p = self.run_in_tmp("import", "--db", self.db("i.db"), "--format", "trl", "--as",
                            "comparisons", trl)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([o["db"] for o in created_lines(p.stderr)], [self.db("i.db")])

    def test_serve_says_it_created_the_database(self):
        d = Daemon(extra_args=["--gold-rate", "0"])
        try:
            d.stop()
            self.assertEqual([o["db"] for o in created_lines("\n".join(d.stderr_lines()))],
                             [d.db])
            d.start()
            d.stop()
            self.assertEqual(len(created_lines("\n".join(d.stderr_lines()))), 1)
        finally:
            d.cleanup()


class TestKeysAndVersion(CliCase):
    def test_keys_create_names_what_is_missing(self):
        p = self.run_in_tmp("keys", "create", "--db", self.db(), "--role", "admin")
        self.assertEqual(p.returncode, 2)
        self.assertIn("missing --name", p.stderr)
        p = self.run_in_tmp("keys", "create", "--db", self.db(), "--name", "x")
        self.assertEqual(p.returncode, 2)
        self.assertIn("missing --role", p.stderr)
        self.assertFalse(os.path.exists(self.db()))

    def test_keys_list_times_are_iso_8601_utc(self):
        db = self.fresh_db()
        p = self.run_in_tmp("keys", "create", "--db", db, "--role", "admin", "--name", "a")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.run_in_tmp("keys", "list", "--db", db)
        self.assertEqual(p.returncode, 0, p.stderr)
        row = [ln for ln in p.stdout.splitlines() if ln.split()[:1] == ["a"]][0]
        self.assertRegex(row, r"\b20\d\d-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-6]\dZ\b")

    def test_version(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(os.path.join(root, "meson.build")) as f:
            want = re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)
        p = self.run_in_tmp("--version")
        self.assertEqual((p.returncode, p.stdout), (0, "rungd %s\n" % want))
        self.assertEqual(os.listdir(self.tmp), [])



class TestImport(CliCase):
    def setUp(self):
        super().setUp()
        self.hh = os.path.join(DATA, "hh-rlhf-harmless", "pairs.jsonl")
        with open(self.hh) as f:
            self.lines = f.readlines()
        self.database = self.fresh_db()

    def write(self, name, lines):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.writelines(lines)
        return path

    def imp(self, *args):
        return self.run_in_tmp("import", "--db", self.database, *args)

    def sql(self, q):
        return rungtest.sql(self.database, q)

    def test_a_file_without_pairs_is_an_error_with_a_hint(self):
        p = self.imp("--format", "gsm8k", "--as", "comparisons",
                     os.path.join(DATA, "gsm8k", "train.jsonl"))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("no pairs: this GSM8K file has no model solutions", p.stderr)
        self.assertIn("model_solutions.jsonl", p.stderr)
        summary = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual((summary["pairs"], summary["stored"]), (0, 0))
        p = self.imp("--format", "trl", "--as", "comparisons", self.hh)   # wrong format
        self.assertEqual(p.returncode, 1)
        self.assertIn("no pairs", p.stderr)

    def test_duplicates_in_the_file_are_counted(self):
        path = self.write("d.jsonl", self.lines[:3] + self.lines[:2] + self.lines[1:2])
        p = self.imp("--format", "hh", "--as", "comparisons", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        summary = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual((summary["pairs"], summary["duplicates"]), (6, 3))

    def summary(self, p):
        return json.loads(p.stdout.strip().splitlines()[-1])

    def test_comparisons_are_stored_once_across_imports(self):
        first = self.write("a.jsonl", self.lines[:4])
        p = self.imp("--format", "hh", "--as", "comparisons", first)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual((self.summary(p)["stored"], self.summary(p)["duplicates"]), (4, 0))
        # The same file again, five times: nothing new, exit 0, and it says so.
        for _ in range(5):
            p = self.imp("--format", "hh", "--as", "comparisons", first)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual((self.summary(p)["pairs"], self.summary(p)["stored"],
                              self.summary(p)["duplicates"]), (4, 0, 4))
            self.assertIn("all 4 pairs were already stored", p.stderr)
        # Overlapping files: only the new pairs are stored.
        p = self.imp("--format", "hh", "--as", "comparisons", self.write("b.jsonl", self.lines[2:6]))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual((self.summary(p)["stored"], self.summary(p)["duplicates"]), (2, 2))
        self.assertNotIn("already stored", p.stderr)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT digest) FROM comparisons"),
                         [(6, 6)])

    def test_items_are_stored_once_per_batch(self):
        path = self.write("i.jsonl", self.lines[:3] + self.lines[:1])
        p = self.imp("--format", "hh", "--as", "items", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual((self.summary(p)["stored"], self.summary(p)["duplicates"]), (3, 1))
        p = self.imp("--format", "hh", "--as", "items", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual((self.summary(p)["stored"], self.summary(p)["duplicates"]), (0, 4))
        self.assertIn("all 4 pairs were already stored", p.stderr)
        p = self.imp("--format", "hh", "--as", "items", "--batch", "other", path)
        self.assertEqual(self.summary(p)["stored"], 3)   # another batch is other content
        self.assertEqual(self.sql("SELECT batch, count(*) FROM items GROUP BY 1 ORDER BY 1"),
                         [("import", 3), ("other", 3)])
        self.assertEqual(self.sql("SELECT count(*) FROM tasks"), [(6,)])

    def test_trusted_comparisons_say_so_in_provenance(self):
        path = self.write("t.jsonl", self.lines[:4])
        p = self.imp("--format", "hh", "--as", "comparisons", "--trusted", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.imp("--format", "hh", "--as", "comparisons", self.write("u.jsonl", self.lines[4:6]))
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = self.sql("SELECT source, provenance FROM comparisons ORDER BY id")
        self.assertEqual([r[0] for r in rows], ["import"] * 6)
        self.assertEqual([json.loads(r[1]) for r in rows[:4]], [{"trusted": True}] * 4)
        self.assertEqual([r[1] for r in rows[4:]], [None, None])
        p = self.imp("--format", "hh", "--as", "items", "--trusted", path)
        self.assertEqual(p.returncode, 2)

    def test_items_take_batch_and_priority(self):
        path = self.write("i.jsonl", self.lines[:3])
        p = self.imp("--format", "hh", "--as", "items", "--batch", "b1", "--priority", "7", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.imp("--format", "hh", "--as", "items", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.sql("SELECT batch, priority, count(*) FROM items GROUP BY 1, 2 "
                                  "ORDER BY 1"), [("b1", 7, 3), ("import", 0, 3)])
        for bad in (["--priority", "x"], ["--priority", "2000000000"], ["--batch", ""],
                    ["--batch", "b" * 129]):
            with self.subTest(bad=bad):
                p = self.imp("--format", "hh", "--as", "items", *bad, path)
                self.assertEqual(p.returncode, 2)
        p = self.imp("--format", "hh", "--as", "comparisons", "--batch", "b1", path)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--as items", p.stderr)

    def step_lines(self):
        """rung's step JSONL from the GSM8K fixture: one line per solution,
        one step per line; a correct solution's steps are right, an
        incorrect one's last step is wrong. Also the distinct verdicts (step,
        its context, answer): two models often write the same first step."""
        out, verdicts, distinct = [], 0, set()
        self.first_no = None
        with open(os.path.join(DATA, "gsm8k", "model_solutions.jsonl")) as f:
            for line in f:
                q = json.loads(line)
                for v in q.values():
                    if not isinstance(v, dict) or "is_correct" not in v:
                        continue
                    text, steps, at = v["solution"], [], 0
                    for part in text.split("\n"):
                        if part.strip():
                            steps.append({"span": [at, at + len(part.encode())],
                                          "answer": "yes"})
                        at += len(part.encode()) + 1
                    if steps and not v["is_correct"]:
                        steps[-1]["answer"] = "no"
                    verdicts += len(steps)
                    raw, ctx = text.encode(), q["question"]
                    for st in steps:
                        piece = raw[st["span"][0]:st["span"][1]].decode()
                        distinct.add((ctx, piece, st["answer"]))
                        if st["answer"] == "no" and self.first_no is None:
                            self.first_no = (ctx, piece)
                        ctx += "\n" + piece
                    out.append(json.dumps({"prompt": q["question"], "response": text,
                                           "steps": steps}) + "\n")
        return out, verdicts, len(distinct)

    def test_step_verdicts_train_the_pointwise_head(self):
        lines, verdicts, distinct = self.step_lines()
        path = self.write("steps.jsonl", lines)
        p = self.imp("--format", "steps", "--as", "comparisons", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        s = self.summary(p)
        self.assertEqual((s["steps"], s["stored"], s["duplicates"], s["rejected_lines"]),
                         (verdicts, distinct, verdicts - distinct, 0))
        rows = dict(self.sql("SELECT label, count(*) FROM comparisons GROUP BY 1"))
        self.assertEqual(sum(rows.values()), distinct)
        self.assertGreater(rows["no"], 50)
        # The step is stored with its context: the question, then each earlier step.
        self.assertEqual(self.sql("SELECT prompt, chosen FROM comparisons WHERE label = 'no' "
                                  "ORDER BY id LIMIT 1")[0], self.first_no)
        self.assertIn("\n", self.first_no[0])
        again = self.imp("--format", "steps", "--as", "comparisons", path)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual((self.summary(again)["stored"], self.summary(again)["duplicates"]),
                         (0, verdicts))
        self.assertIn("already stored", again.stderr)
        p = self.run_in_tmp("train", "--db", self.database, "--members", "2", "--bits", "14")
        self.assertEqual(p.returncode, 0, p.stderr)
        report = json.loads(p.stdout)
        self.assertEqual(report["points"], distinct)
        self.assertIsNotNone(report["pointwise"])
        p = self.imp("--format", "steps", "--as", "items", path)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--as comparisons", p.stderr)

    def test_prm800k_labels(self):
        line = {"question": {"problem": "P"}, "label": {"steps": [
            {"completions": [{"text": "s1", "rating": 1, "flagged": None}],
             "human_completion": None, "chosen_completion": 0},
            {"completions": [{"text": "s2", "rating": -1, "flagged": None},
                             {"text": "s2b", "rating": 0, "flagged": None}],
             "human_completion": None, "chosen_completion": 1}]}}
        path = self.write("prm.jsonl", [json.dumps(line) + "\n"])
        p = self.imp("--format", "prm800k", "--as", "comparisons", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.summary(p)["steps"], 3)
        self.assertEqual(self.sql("SELECT prompt, chosen, label FROM comparisons ORDER BY id"),
                         [("P", "s1", "yes"), ("P\ns1", "s2", "no"), ("P\ns1", "s2b", "yes")])


if __name__ == "__main__":
    unittest.main(verbosity=2)
