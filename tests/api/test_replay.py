"""rungd replay against a real daemon on the fixtures of tests/data (HH and
GSM8K, small rounds): its rows add up to its totals, its shares are shares,
and its figures match a recount through the API (the labels the daemon
holds, the final verdicts of the exported items judged against the file)."""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402

DATA = os.environ.get("RUNG_DATA_DIR") or os.path.join(rungtest.REPO_ROOT, "tests", "data")
HH = os.path.join(DATA, "hh-rlhf-harmless", "pairs.jsonl")
GSM8K = os.path.join(DATA, "gsm8k", "model_solutions.jsonl")

ROW = re.compile(r"^\s*(\d+)\s+(-|\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(.*)$")


def hh_prefers(path):
    """(prompt, preferred reply, other reply) -> True for each HH pair,
    splitting each dialogue where the replay's reader does: after the last
    "\\n\\nAssistant:" both share."""
    out = set()
    for line in open(path, encoding="utf-8"):
        d = json.loads(line)
        ch, rj = d["chosen"], d["rejected"]
        end = ch.rfind("\n\nAssistant:")
        while end >= 0 and not rj.startswith(ch[:end + 12]):
            end = ch.rfind("\n\nAssistant:", 0, end)
        p = ch[:end + 12]
        out.add((p, ch[len(p):].strip(), rj[len(p):].strip()))
    return out


def gsm8k_correct(path):
    """(question, solution) of every correct model solution."""
    out = set()
    for line in open(path, encoding="utf-8"):
        q = json.loads(line)
        for v in q.values():
            if isinstance(v, dict) and v.get("is_correct"):
                out.add((q["question"], v["solution"]))
    return out


class ReplayCase(rungtest.DaemonCase):
    daemon_args = ["--gold-rate", "0", "--quiet"]

    def replay(self, fmt, oracle, *args, url=None):
        p = self.d.cli("replay", "--url", url or "http://127.0.0.1:%d" % self.d.port, "--token",
                       self.admin, "--format", fmt, "--oracle", oracle, *args, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.strip().splitlines()
        self.assertTrue(lines[0].split()[:3] == ["round", "layer", "items"], lines[0])
        rows = []
        for line in lines[1:-1]:
            m = ROW.match(line)
            self.assertIsNotNone(m, line)
            rows.append({"round": int(m.group(1)), "layer": m.group(2), "items": int(m.group(3)),
                         "tasks": int(m.group(4)), "bytes": int(m.group(5)),
                         "auto": float(m.group(7)), "agreement": float(m.group(8)),
                         "after": m.group(9)})
        return rows, json.loads(lines[-1])

    def items(self):
        """Every item the daemon holds, with its texts (export, then GET)."""
        st, _, body = self.d.request("GET", "/v1/export?format=items", token=self.admin)
        self.assertEqual(st, 200)
        out = []
        for line in body.decode().splitlines():
            row = json.loads(line)
            st, _, item = self.d.request("GET", "/v1/items/" + row["id"], token=self.admin)
            self.assertEqual(st, 200)
            self.assertEqual(item["verdict"], row["verdict"])
            out.append(item)
        return out

    def labels_given(self):
        st, _, body = self.d.request("GET", "/v1/raters", token=self.admin)
        self.assertEqual(st, 200)
        return sum(r["labels"] for r in body["raters"] if r["name"] == "boss")

    def check_totals(self, rows, tot, rounds, per_round):
        """The rows add up to the totals; the shares are shares of them."""
        self.assertEqual([r["round"] for r in rows], list(range(1, rounds + 1)))
        self.assertEqual([r["items"] for r in rows], [per_round] * rounds)
        self.assertEqual(tot["items"], sum(r["items"] for r in rows))
        self.assertEqual(tot["human_tasks"], sum(r["tasks"] for r in rows))
        self.assertEqual(tot["bytes_read"], sum(r["bytes"] for r in rows))
        self.assertEqual(tot["baseline_judgements"], tot["items"])
        self.assertEqual(tot["rounds"], rounds)
        for k in ("human_judgements_saved", "bytes_read_saved", "agreement",
                  "auto_resolved_share"):
            self.assertGreaterEqual(tot[k], 0.0, k)
            self.assertLessEqual(tot[k], 1.0, k)
        self.assertAlmostEqual(tot["judgements_ratio"], tot["human_tasks"] / tot["items"], 5)
        self.assertAlmostEqual(tot["human_judgements_saved"],
                               max(0.0, 1 - tot["human_tasks"] / tot["items"]), 5)
        self.assertAlmostEqual(tot["bytes_read_saved"],
                               max(0.0, 1 - tot["bytes_read"] / tot["baseline_bytes"]), 5)
        self.assertAlmostEqual(tot["agreement"], tot["agreeing"] / tot["items"], 5)
        self.assertAlmostEqual(tot["auto_resolved_share"], tot["auto_resolved"] / tot["items"], 5)
        # The lifecycle: a layer trained after each round and promoted or
        # rejected; each round is routed by the layer the one before left.
        self.assertEqual(tot["layers_trained"], rounds)
        self.assertEqual(tot["layers_promoted"] + tot["layers_rejected"], rounds)
        self.assertEqual(rows[0]["layer"], "-")
        for before, row in zip(rows, rows[1:]):
            m = re.match(r"layer (\d+) (active|rejected, keeps (\d+|none))$", before["after"])
            self.assertIsNotNone(m, before["after"])
            kept = m.group(1) if m.group(2) == "active" else m.group(3)
            self.assertEqual(row["layer"], "-" if kept == "none" else kept)
        # Every human task counted is a label the daemon holds from the key.
        self.assertEqual(self.labels_given(), tot["human_tasks"])


class TestReplayHH(ReplayCase):
    def test_hh_rounds_add_up_and_agree_with_the_file(self):
        rows, tot = self.replay("hh", HH, "--rounds", "2", "--per-round", "12")
        self.check_totals(rows, tot, 2, 12)
        prefers = hh_prefers(HH)
        items = self.items()
        self.assertEqual(len(items), 24)
        agreeing = 0
        for it in items:
            a, b = it["responses"]
            win, lose = (a, b) if it["verdict"] == "a" else (b, a)
            agreeing += it["verdict"] in ("a", "b") and \
                (it["prompt"], win.strip(), lose.strip()) in prefers
        self.assertEqual(tot["agreeing"], agreeing)
        # A rater without errors and a layer that defers: every verdict right.
        self.assertEqual(tot["flipped"], 0)
        self.assertEqual(tot["agreement"], 1.0)

    def test_target_reaches_the_layers(self):
        """--target T trains every layer with accuracy target T (its
        report says so) and is echoed in the totals."""
        rows, tot = self.replay("hh", HH, "--rounds", "2", "--per-round", "10", "--target",
                                "0.8")
        self.check_totals(rows, tot, 2, 10)
        self.assertEqual(tot["target"], 0.8)
        self.assertEqual(tot["layers_trained"], 2)
        st, _, body = self.d.request("GET", "/v1/layers", token=self.admin)
        self.assertEqual(st, 200, body)
        ids = [x["id"] for x in body["layers"]]
        self.assertEqual(len(ids), 2)
        for i in ids:
            st, _, layer = self.d.request("GET", "/v1/layers/%d" % i, token=self.admin)
            self.assertEqual(st, 200, layer)
            self.assertEqual(layer["request"]["target"], 0.8, layer)
            self.assertEqual(layer["metrics"]["target"], 0.8, layer)


class TestReplayGSM8K(ReplayCase):
    def test_gsm8k_steps_with_rater_errors_add_up(self):
        rows, tot = self.replay("gsm8k", GSM8K, "--rounds", "2", "--per-round", "8",
                                "--rater-error", "0.2", "--seed", "3",
                                url="http://127.0.0.1:%d/" % self.d.port)
        self.check_totals(rows, tot, 2, 8)
        correct = gsm8k_correct(GSM8K)
        items = self.items()
        self.assertEqual(len(items), 16)
        agreeing = 0
        for it in items:
            self.assertEqual(it["domain"], "math")
            self.assertTrue(it["subquestions"], "math items are split into steps")
            if it["verdict"] in ("a", "b"):
                agreeing += (it["prompt"], it["responses"]["ab".index(it["verdict"])]) in correct
        self.assertEqual(tot["agreeing"], agreeing)
        self.assertEqual(tot["layer_answers"],
                         sum(q["source"] == "layer" for it in items for q in it["subquestions"]))
        # Steps cost more judgements than whole pairs, and a fifth of the
        # answers were flipped.
        self.assertGreater(tot["human_tasks"], tot["items"])
        self.assertGreater(tot["flipped"], 0)
        self.assertLess(tot["flipped"], tot["human_tasks"] / 2)


class TestReplayUsage(ReplayCase):
    def test_bad_options_and_tokens_are_refused(self):
        base = ["replay", "--url", "http://127.0.0.1:%d" % self.d.port]
        p = self.d.cli(*base, "--token", self.admin, "--format", "trl", "--oracle", HH)
        self.assertEqual(p.returncode, 2)
        p = self.d.cli(*base, "--token", self.admin, "--format", "hh", "--oracle", HH,
                       "--rater-error", "1.5")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--rater-error", p.stderr)
        for bad in ("0.4", "0.5", "1", "1.01", "x"):
            p = self.d.cli(*base, "--token", self.admin, "--format", "hh", "--oracle", HH,
                           "--target", bad)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("--target", p.stderr)
        p = self.d.cli(*base, "--token", self.pipe, "--format", "hh", "--oracle", HH)
        self.assertEqual(p.returncode, 1)
        self.assertIn("403", p.stderr)
        p = self.d.cli(*base, "--token", self.admin, "--format", "hh", "--oracle",
                       os.path.join(self.d.tmpdir, "missing.jsonl"))
        self.assertEqual(p.returncode, 1)
        # Nothing listens on port 1: the connection fails, said on stderr.
        p = self.d.cli("replay", "--url", "http://127.0.0.1:1", "--token", self.admin, "--format",
                       "hh", "--oracle", HH)
        self.assertEqual(p.returncode, 1)
        self.assertIn("GET /v1/status", p.stderr)
        self.assertEqual(self.d.item_count(), 0)


if __name__ == "__main__":
    unittest.main()
