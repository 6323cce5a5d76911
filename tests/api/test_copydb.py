"""rungd copy-db (issue 16): a whole deployment copied into another
database, SQLite -> SQLite, and with RUNG_TEST_PG set (a base URI of a
throwaway PostgreSQL cluster) SQLite -> PostgreSQL -> SQLite. Real daemon,
real content written through the API, real databases; the copies are
compared row by row, by their exports and by daemons running on them."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rungtest import Daemon, DaemonCase, rungd_path, run_cli, until  # noqa: E402
from test_layer import CLEAR_PAIR, TWIN_PAIR, write_trl  # noqa: E402
from test_subq import math_pair  # noqa: E402

PG_BASE = os.environ.get("RUNG_TEST_PG") or None
FORMATS = ("preference", "steps", "items")


def psql_bin():
    root = "/usr/lib/postgresql"
    versions = sorted(int(v) for v in os.listdir(root) if v.isdigit()) \
        if os.path.isdir(root) else []
    p = os.path.join(root, str(versions[-1]), "bin", "psql") if versions else ""
    return p if p and os.access(p, os.X_OK) else (shutil.which("psql") or "psql")


def psql(uri, sql):
    p = subprocess.run([psql_bin(), "-X", "-q", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                        "-d", uri, "-c", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("psql failed: %s" % p.stderr)
    return p.stdout


def pg_db(case):
    """A fresh database on the RUNG_TEST_PG server, dropped when the test ends."""
    name = "copydb_%d_%s" % (os.getpid(), uuid.uuid4().hex[:8])
    psql(PG_BASE, 'CREATE DATABASE "%s"' % name)
    case.addCleanup(psql, PG_BASE, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    u = urllib.parse.urlsplit(PG_BASE)
    return "%s://%s/%s%s" % (u.scheme, u.netloc, name, "?" + u.query if u.query else "")


def is_pg(db):
    return db.startswith(("postgresql://", "postgres://"))


# SQLite's group log (schema/013_group_log.sql): copy-db fills it from the
# copied items in the destination and copies none of its rows.
DERIVED = {"item_groups"}


def tables_of(path):
    con = sqlite3.connect(path)
    try:
        return sorted(r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
    finally:
        con.close()


def rows_of(path):
    """Every row of every table of an SQLite file, sorted: {table: [row]}."""
    con = sqlite3.connect(path)
    try:
        return {t: sorted(con.execute('SELECT * FROM "%s"' % t).fetchall(), key=repr)
                for t in tables_of(path)}
    finally:
        con.close()


def column(db, sql):
    """The first column of a query's rows (integers or text) on either backend."""
    if is_pg(db):
        return [int(x) if x.lstrip("-").isdigit() else x
                for x in psql(db, sql).splitlines() if x != ""]
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute(sql)]
    finally:
        con.close()


def count(db, table):
    return column(db, 'SELECT count(*) FROM "%s"' % table)[0]


class CopyDbCase(DaemonCase):
    """The source is a daemon on an SQLite file (whatever the run's backend);
    its copies go to files of a directory of the test's own."""

    daemon_args = ["--gold-rate", "0", "--webhook-allow-private"]
    pg_source = False  # the source on PostgreSQL instead (needs RUNG_TEST_PG)

    def setUp(self):
        if self.pg_source and not PG_BASE:
            self.skipTest("a PostgreSQL source needs RUNG_TEST_PG: runs in the PostgreSQL pass")
        self.dir = tempfile.mkdtemp(prefix="rungcopy-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        src = pg_db(self) if self.pg_source else os.path.join(self.dir, "src.db")
        self.d = Daemon(extra_args=self.daemon_args, db=src)
        self.admin = self.d.key("admin", "boss")
        self.pipe = self.d.key("pipeline", "pipe")

    def path(self, name):
        return os.path.join(self.dir, name)

    def copy(self, src, dst, expect=0):
        p = run_cli(rungd_path(), "copy-db", "--from", src, "--to", dst, timeout=600)
        self.assertEqual(p.returncode, expect, p.stderr)
        return json.loads(p.stdout) if expect == 0 else p

    def export(self, db, fmt):
        p = run_cli(rungd_path(), "export", "--db", db, "--format", fmt, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def post(self, items, token=None):
        st, _, body = self.d.request("POST", "/v1/items", {"items": items},
                                     token=token or self.pipe)
        self.assertEqual(st, 201, body)
        return body["items"]

    def label_all(self, token, answer):
        """Claims and labels tasks until none is left; sub-question tasks
        get yes on response a, no on b."""
        n = 0
        while True:
            st, _, t = self.d.request("GET", "/v1/tasks/next", token=token)
            if st == 204:
                return n
            self.assertEqual(st, 200, t)
            a = answer
            if t["kind"] == "subquestion":
                a = "yes" if t["subquestion"]["response"] == "a" else "no"
            elif t["kind"] == "single":
                a = "good"
            st, _, body = self.d.request("POST", "/v1/tasks/%d/labels" % t["id"],
                                         {"answer": a, "confidence": 3, "seconds": 1.25},
                                         token=token)
            self.assertEqual(st, 201, body)
            n += 1


class TestCopyDb(CopyDbCase):
    def fill(self):
        """Content of every kind: a trained layer (auto verdicts), human
        verdicts from raters, sub-questions, comparisons, keys, events, an
        overlap rule, a webhook with its outbox."""
        trl = self.path("train.jsonl")
        write_trl(trl, 800, seed=7)
        p = run_cli(rungd_path(), "import", "--db", self.d.db, "--format", "trl", "--as",
                    "comparisons", trl, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run_cli(rungd_path(), "train", "--db", self.d.db, "--target", "0.9", "--seed", "3",
                    timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        layer = json.loads(p.stdout)["layer_id"]
        until(lambda: self.d.request("GET", "/v1/status", token=self.admin)[2]["active_layer"]
              == layer, "the daemon to pick up the layer")
        st, _, hook = self.d.request("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/hook"},
                                     token=self.pipe)
        self.assertEqual(st, 201, hook)
        st, _, b = self.d.request("PUT", "/v1/overlap", {"batch": "solo", "overlap": 1,
                                                         "future": True}, token=self.admin)
        self.assertEqual(st, 200, b)
        st, _, b = self.d.request("PUT", "/v1/domains/math", {"decomposer": "steps"},
                                  token=self.admin)
        self.assertIn(st, (200, 201), b)
        acks = self.post([CLEAR_PAIR, TWIN_PAIR, math_pair(1)] +
                         [{"prompt": "q %d" % i, "responses": ["x %d" % i, "y %d é" % i],
                           "batch": "solo", "external_id": "e%d" % i,
                           "metadata": {"n": i, "f": 0.1 * i}} for i in range(6)] +
                         [{"prompt": "single %d" % i, "response": "one reply %d" % i}
                          for i in range(3)])
        self.assertEqual(acks[0]["status"], "auto")
        raters = [self.d.key("rater", "r%d" % i) for i in range(2)]
        self.assertGreater(self.label_all(raters[0], "b"), 0)
        self.label_all(raters[1], "a")
        self.post([{"prompt": "left open", "responses": ["p", "q"]}])
        self.d.request("GET", "/v1/tasks/next", token=raters[1])  # a live lease
        self.d.key("pipeline", "spare")
        self.d.revoke("spare")

    def test_round_trip_keeps_every_row_and_export(self):
        """SQLite -> SQLite; with RUNG_TEST_PG, SQLite -> PostgreSQL ->
        SQLite: every row of every table comes back equal, the exports are
        the same, and daemons serve the copies."""
        self.fill()
        self.d.stop()  # the source stays as it is from here
        src = self.d.db
        want = rows_of(src)
        for t in ("items", "tasks", "labels", "comparisons", "layers", "api_keys", "raters",
                  "events", "subquestions", "webhooks", "webhook_outbox", "leases"):
            self.assertGreater(len(want[t]), 0, t)
        mid = pg_db(self) if PG_BASE else self.path("mid.db")
        out = self.copy(src, mid)
        self.assertGreater(len(want["item_groups"]), 0)
        copied = {t: r for t, r in want.items() if t not in DERIVED}
        # every table of the schema
        self.assertEqual(sorted(out["tables"]), sorted(set(tables_of(src)) - DERIVED))
        self.assertEqual(out["tables"], {t: len(r) for t, r in copied.items()})
        self.assertEqual(out["rows"], sum(len(r) for r in copied.values()))
        for t, r in (copied if PG_BASE else want).items():
            self.assertEqual(count(mid, t), len(r), t)
        final = mid
        if PG_BASE:
            final = self.path("back.db")
            self.assertEqual(self.copy(mid, final)["tables"], out["tables"])
        for fmt in FORMATS:
            self.assertEqual(self.export(final, fmt), self.export(src, fmt), fmt)
            if PG_BASE:
                self.assertEqual(self.export(mid, fmt), self.export(src, fmt), fmt)
        # Row for row, the outbox too: the destination's triggers added
        # nothing (same ids, same nonces, nothing more).
        self.assertEqual(rows_of(final), want)
        # The copies serve: new rows take ids past the copied ones.
        for db in ([mid, final] if PG_BASE else [final]):
            with Daemon(extra_args=self.daemon_args, db=db) as d2:
                st, _, body = d2.request("POST", "/v1/items", {"prompt": "after", "response": "r"},
                                         token=self.pipe)
                self.assertEqual(st, 201, body)
                st, _, item = d2.request("GET", "/v1/items/" + body["id"], token=self.pipe)
                self.assertEqual(st, 200, item)
                d2.stop()
            self.assertEqual(count(db, "items"), len(want["items"]) + 1)

    def test_refuses_a_destination_with_data(self):
        self.post([{"prompt": "p", "response": "r"}])
        dst = pg_db(self) if PG_BASE else self.path("dst.db")
        self.copy(self.d.db, dst)
        before = count(dst, "items")
        p = self.copy(self.d.db, dst, expect=2)
        self.assertIn("already holds rung data", p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertEqual(count(dst, "items"), before)
        # Into itself: the source holds data, so it is refused too.
        p = self.copy(self.d.db, self.d.db, expect=2)
        self.assertIn("already holds rung data", p.stderr)
        # A database of another program's tables is fine; nothing of it is touched.
        other = self.path("other.db")
        con = sqlite3.connect(other)
        con.execute("CREATE TABLE notes (x TEXT)")
        con.execute("INSERT INTO notes VALUES ('keep me')")
        con.commit()
        con.close()
        self.assertEqual(self.copy(self.d.db, other)["tables"]["items"], 1)
        self.assertEqual(count(other, "notes"), 1)

    def test_bad_command_lines_and_sources(self):
        p = run_cli(rungd_path(), "copy-db", "--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("--from PATH_OR_URI --to PATH_OR_URI", p.stdout)
        p = run_cli(rungd_path(), "copy-db", "--from", self.d.db)
        self.assertEqual(p.returncode, 2)
        p = self.copy(self.path("missing.db"), self.path("x.db"), expect=2)
        self.assertIn("no database at", p.stderr)
        self.assertFalse(os.path.exists(self.path("x.db")))
        # A source of an older schema is not migrated behind its owner's back.
        old = self.path("old.db")
        shutil.copy(self.d.db, old)
        con = sqlite3.connect(old)
        con.execute("PRAGMA user_version = 3")
        con.commit()
        con.close()
        p = self.copy(old, self.path("y.db"), expect=2)
        self.assertIn("schema is version 3", p.stderr)
        self.assertFalse(os.path.exists(self.path("y.db")))


class TestCopyUnderWrites(CopyDbCase):
    """A source written to during the copy still gives the copy of one
    moment. The destination is held locked by the test right after the
    copy took its snapshot, while writes go on; every item sent after
    that must be missing from the copy, every item acknowledged before
    the copy started must be in it, with its task."""

    WRITERS = 2

    def writer(self, w, log, stop, errors):
        conn = self.d.connection()
        n = 0
        try:
            while not stop.is_set():
                sent = time.monotonic()
                st, _, body = self.d.request(
                    "POST", "/v1/items", conn=conn, token=self.pipe,
                    body={"items": [{"prompt": "w%d-%d-%d" % (w, n, i), "response": "r"}
                                    for i in range(10)]})
                n += 1
                if st != 201:
                    errors.append((st, body))
                    return
                log.append((sent, time.monotonic(), [x["id"] for x in body["items"]]))
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(repr(e))
        finally:
            conn.close()

    def test_copy_is_one_snapshot(self):
        self.post([{"prompt": "pre %d" % i, "response": "r"} for i in range(3000)])
        dst = self.path("dst.db")
        lock = sqlite3.connect(dst, isolation_level=None)
        lock.execute("PRAGMA journal_mode = WAL")  # as rung sets it: nothing to change later
        lock.execute("CREATE TABLE unrelated (x)")
        log, stop, errors = [], threading.Event(), []
        threads = [threading.Thread(target=self.writer, args=(w, log, stop, errors))
                   for w in range(self.WRITERS)]
        for t in threads:
            t.start()
        proc = None
        try:
            until(lambda: len(log) >= 5 or errors, "writes before the copy")
            lock.execute("BEGIN IMMEDIATE")  # the copy waits for it after its snapshot
            started = time.monotonic()
            proc = subprocess.Popen([rungd_path(), "copy-db", "--from", self.d.db, "--to", dst],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            lines = [proc.stderr.readline()]
            while lines[-1] and "snapshot" not in lines[-1]:
                lines.append(proc.stderr.readline())
            self.assertIn("snapshot", lines[-1], lines)
            seen = time.monotonic()
            until(lambda: sum(1 for x in log if x[0] > seen) >= 5 or errors,
                  "writes sent after the snapshot")
            lock.execute("ROLLBACK")
            out, err = proc.communicate(timeout=600)
            err = "".join(lines) + err
        finally:
            stop.set()
            for t in threads:
                t.join()
            if proc and proc.poll() is None:
                proc.kill()
            lock.close()
        self.assertEqual(errors, [])
        self.assertEqual(proc.returncode, 0, err)
        summary = json.loads(out)
        got = set(column(dst, "SELECT id FROM items"))
        before = {i for sent, acked, ids in log if acked < started for i in ids}
        after = {i for sent, acked, ids in log if sent > seen for i in ids}
        self.assertTrue(before and after)
        self.assertLessEqual(before, got)
        self.assertEqual(got & after, set())
        self.assertEqual(summary["tables"]["items"], len(got))
        # One moment: each item has its task, and the items are a prefix
        # of the source's (seq is commit order).
        self.assertEqual(summary["tables"]["tasks"], len(got))
        seqs = sorted(column(dst, "SELECT seq FROM items"))
        self.assertEqual(seqs, column(self.d.db, "SELECT seq FROM items WHERE seq <= %d "
                                                 "ORDER BY seq" % seqs[-1]))


class TestCopyUnderWritesFromPg(TestCopyUnderWrites):
    """The same with the source on PostgreSQL (REPEATABLE READ, a cursor)."""

    pg_source = True


if __name__ == "__main__":
    unittest.main()
