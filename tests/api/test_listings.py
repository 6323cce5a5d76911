"""API tests for issue 13's listings and limited keys: a rater key limited
to batches or domains is served only their tasks; GET /v1/raters,
/v1/keys, /v1/flags and /v1/events page like /v1/items (limit, after, a
"next" cursor, null only on the last page) and refuse bad parameters; and
the progress line of `rungd import` shows on a terminal only. Each test runs
a real rungd on an ephemeral port with its own database."""

import os
import pty
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import DaemonCase, rungd_path  # noqa: E402

DATA = os.environ.get("RUNG_DATA_DIR") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")


def item(batch, domain, i):
    return {"prompt": "%s %s %d" % (batch, domain, i), "responses": ["l%d" % i, "r%d" % i],
            "batch": batch, "domain": domain}


class ListingCase(DaemonCase):
    daemon_args = ["--gold-rate", "0", "--side-order", "fixed"]

    def get(self, path, token=None, status=200):
        st, _, body = self.d.request("GET", path, token=token or self.admin)
        self.assertEqual(st, status, body)
        return body

    def post_items(self, items):
        st, _, body = self.d.request("POST", "/v1/items", {"items": items}, token=self.pipe)
        self.assertEqual(st, 201, body)
        return body

    def page_all(self, path, field, limit):
        """Follows "next" from the first page; returns every row and the
        number of pages."""
        rows, after, pages = [], None, 0
        while True:
            q = "%s?limit=%d" % (path, limit) + ("&after=%s" % after if after else "")
            body = self.get(q)
            self.assertLessEqual(len(body[field]), limit)
            rows += body[field]
            pages += 1
            self.assertIn("next", body)
            if body["next"] is None:
                return rows, pages
            self.assertIsInstance(body["next"], str)
            after = body["next"]


class TestLimitedKeys(ListingCase):
    daemon_args = ["--gold-rate", "0", "--side-order", "fixed", "--overlap", "3"]
    def drain(self, token):
        """Leases and labels every task the key is served; their prompts."""
        seen = []
        while True:
            st, _, t = self.d.request("GET", "/v1/tasks/next", token=token)
            if st == 204:
                return seen
            self.assertEqual(st, 200, t)
            seen.append(t["prompt"])
            st, _, body = self.d.request("POST", "/v1/tasks/%d/labels" % t["id"],
                                         {"answer": "a"}, token=token)
            self.assertEqual(st, 201, body)

    def test_limited_key_is_served_only_its_batches_or_domains(self):
        items = [item(b, d, i) for b in ("b1", "b2", "b3") for d in ("poem", "chat")
                 for i in range(3)]
        self.post_items(items)
        st, _, k = self.d.request("POST", "/v1/keys", {"name": "lim", "role": "rater",
                                                       "batches": ["b1"], "domains": ["chat"]},
                                  token=self.admin)
        self.assertEqual(st, 201, k)
        self.assertEqual((k["batches"], k["domains"]), (["b1"], ["chat"]))
        p = self.d.cli("keys", "create", "--db", self.d.db, "--role", "rater", "--name", "dom",
                       "--domains", "poem")
        self.assertEqual(p.returncode, 0, p.stderr)
        dom = p.stdout.strip().splitlines()[-1].strip()
        got = self.drain(k["token"])
        want = {x["prompt"] for x in items if x["batch"] == "b1" or x["domain"] == "chat"}
        self.assertEqual(sorted(got), sorted(want))
        got = self.drain(dom)
        self.assertEqual(sorted(got), sorted(x["prompt"] for x in items if x["domain"] == "poem"))
        # An unlimited rater still gets every task the others left.
        st, _, free = self.d.request("POST", "/v1/keys", {"name": "free", "role": "rater"},
                                     token=self.admin)
        left = self.drain(free["token"])
        self.assertEqual(len(left), len(items))
        keys = {x["name"]: x for x in self.get("/v1/keys")["keys"]}
        self.assertEqual((keys["lim"]["batches"], keys["lim"]["domains"]), (["b1"], ["chat"]))
        self.assertEqual((keys["dom"]["batches"], keys["dom"]["domains"]), ([], ["poem"]))
        self.assertEqual((keys["free"]["batches"], keys["free"]["domains"]), ([], []))
        self.assertIn('domains=["poem"]', self.d.keys_list())

    def test_scope_far_behind_the_queue_head(self):
        # 300 tasks of "big" come first in claim order (higher priority):
        # a key limited to "small" reaches its tasks past them.
        big = [dict(item("big", "x", i), priority=5) for i in range(300)]
        small = [item("small", "y", i) for i in range(2)]
        self.post_items(big + small)
        st, _, k = self.d.request("POST", "/v1/keys", {"name": "s", "role": "rater",
                                                       "batches": ["small"]}, token=self.admin)
        self.assertEqual(sorted(self.drain(k["token"])), sorted(x["prompt"] for x in small))
        st, _, k = self.d.request("POST", "/v1/keys", {"name": "y", "role": "rater",
                                                       "domains": ["x"]}, token=self.admin)
        st, _, t = self.d.request("GET", "/v1/tasks/next", token=k["token"])
        self.assertEqual((st, t["prompt"]), (200, "big x 0"))

    def test_bad_limits_refused(self):
        for body in ({"name": "x", "role": "pipeline", "batches": ["b"]},
                     {"name": "x", "role": "admin", "domains": ["d"]},
                     {"name": "x", "role": "rater", "batches": "b"},
                     {"name": "x", "role": "rater", "batches": [""]},
                     {"name": "x", "role": "rater", "batches": [5]},
                     {"name": "x", "role": "rater", "domains": ["d" * 129]},
                     {"name": "x", "role": "rater", "batches": ["b%d" % i for i in range(65)]}):
            st, _, e = self.d.request("POST", "/v1/keys", body, token=self.admin)
            self.assertEqual((st, e["error"]["code"]), (422, "invalid_body"), body)
        p = self.d.cli("keys", "create", "--db", self.d.db, "--role", "pipeline", "--name", "y",
                       "--batches", "b")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertNotIn("x", {k["name"] for k in self.get("/v1/keys")["keys"]})


class TestPaging(ListingCase):
    def check_pages(self, path, field, key, want):
        for limit in (1, 2, 3, 1000):
            rows, pages = self.page_all(path, field, limit)
            got = [r[key] for r in rows]
            self.assertEqual(sorted(got), sorted(want), (path, limit))
            self.assertEqual(len(got), len(set(got)), (path, limit))
            self.assertEqual(pages, max(1, -(-len(want) // limit)), (path, limit))

    def test_raters_and_keys_page(self):
        names = ["r%02d" % i for i in range(7)]
        for n in names:
            self.d.key("rater", n)
        raters, _ = self.page_all("/v1/raters", "raters", 3)
        self.assertEqual([r["name"] for r in raters], sorted(names + ["boss"]))
        self.check_pages("/v1/raters", "raters", "name", names + ["boss"])
        self.assertIn("agreement", self.get("/v1/raters?limit=1"))
        self.check_pages("/v1/keys", "keys", "name", names + ["boss", "pipe"])
        keys, _ = self.page_all("/v1/keys", "keys", 2)
        self.assertEqual([k["name"] for k in keys], ["boss", "pipe"] + names)

    def test_flags_and_events_page(self):
        acks = self.post_items([item("b", "d", i) for i in range(5)])["items"]
        ids = [a["id"] for a in acks]
        seqs = [self.d.sql("SELECT seq FROM items WHERE id = ?", (i,))[0][0] for i in ids]
        for n, seq in enumerate(seqs):
            self.d.sql("INSERT INTO flags(item_seq, layer_id, reason, created_ms) "
                       "VALUES(?, NULL, ?, ?)", (seq, "reason %d" % n, 1000 + n))
        self.d.sql("DELETE FROM events")
        for n in range(6):
            self.d.sql("INSERT INTO events(at_ms, actor, kind, subject, detail) "
                       "VALUES(?, ?, 'test', ?, ?)",
                       (2000 + n, "boss" if n % 2 else None, "s%d" % n,
                        '{"n": %d}' % n if n % 3 else "plain %d" % n))
        self.check_pages("/v1/flags", "flags", "id", self.flag_ids())
        flags, _ = self.page_all("/v1/flags", "flags", 2)
        self.assertEqual([f["item_id"] for f in flags], ids)
        f = flags[0]
        self.assertEqual(set(f), {"id", "item_id", "layer_id", "reason", "state", "created_ms"})
        self.assertEqual((f["layer_id"], f["reason"], f["state"], f["created_ms"]),
                         (None, "reason 0", "open", 1000))
        events, _ = self.page_all("/v1/events", "events", 4)
        self.assertEqual(len(events), 6)
        self.check_pages("/v1/events", "events", "id", [e["id"] for e in events])
        e0, e1 = events[0], events[1]
        self.assertEqual(set(e0), {"id", "at_ms", "actor", "kind", "subject", "detail"})
        self.assertEqual((e0["actor"], e0["subject"], e0["detail"]), (None, "s0", "plain 0"))
        self.assertEqual((e1["actor"], e1["at_ms"], e1["detail"]), ("boss", 2001, {"n": 1}))

    def flag_ids(self):
        return [r[0] for r in self.d.sql("SELECT id FROM flags ORDER BY id")]

    def test_empty_listings_end_at_once(self):
        for path, field in (("/v1/flags", "flags"), ("/v1/events", "events")):
            body = self.get(path)
            self.assertEqual((body[field], body["next"]), ([], None))

    def test_bad_parameters_400(self):
        for path in ("/v1/raters", "/v1/keys", "/v1/flags", "/v1/events"):
            for q, code in (("?limit=0", "invalid_query"), ("?limit=1001", "invalid_query"),
                            ("?limit=x", "invalid_query"), ("?after=", "invalid_query"),
                            ("?colour=red", "unknown_parameter")):
                st, _, e = self.d.request("GET", path + q, token=self.admin)
                self.assertEqual((st, e["error"]["code"]), (400, code), path + q)
        for path in ("/v1/keys", "/v1/flags", "/v1/events"):
            st, _, e = self.d.request("GET", path + "?after=abc", token=self.admin)
            self.assertEqual((st, e["error"]["code"]), (400, "invalid_query"), path)
        for path in ("/v1/flags", "/v1/events"):
            st, _, _ = self.d.request("GET", path, token=self.pipe)
            self.assertEqual(st, 403, path)


class TestImportProgress(unittest.TestCase):
    """The progress line of `rungd import` goes to stderr when it is a
    terminal (a pseudo-terminal here) and nowhere when it is a pipe; the
    JSON summary on stdout is the same either way."""

    def setUp(self):
        import tempfile
        self.tmp = tempfile.mkdtemp()
        self.data = os.path.join(DATA, "hh-rlhf-harmless", "pairs.jsonl")

    def tearDown(self):
        import shutil
        shutil.rmtree(self.tmp)

    def args(self, name):
        db = rungtest.case_db(self, self.tmp, name)   # a fresh database on the run's backend
        return [rungd_path(), "import", "--db", db, "--format", "hh", "--as", "comparisons",
                self.data]

    def test_progress_on_a_terminal_only(self):
        master, slave = pty.openpty()
        p = subprocess.Popen(self.args("tty.db"), stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        out = p.stdout.read()
        p.stdout.close()
        self.assertEqual(p.wait(), 0, seen)
        text = seen.decode()
        self.assertRegex(text, r"rungd import: \d+ pairs, \d+/s, \d+:\d\d elapsed")
        piped = subprocess.run(self.args("pipe.db"), capture_output=True)
        self.assertEqual(piped.returncode, 0, piped.stderr)
        self.assertNotIn(b"rungd import:", piped.stderr)
        self.assertNotIn(b"\r", piped.stderr)
        self.assertEqual(out, piped.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
