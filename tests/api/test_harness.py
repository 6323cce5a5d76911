"""The test harness's own database helpers (tests/api/rungtest.py), on the
backend of the run: rungtest.sql gives the same rows for the same statement
on SQLite (the sqlite3 module) and on PostgreSQL (psql, with RUNG_TEST_PG
set), so that the API tests' direct reads and fixture writes mean the same
on both; new_db and drop_db make and remove a database; WriteLock makes a
writer wait. No daemon: a table of the test's own."""

import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import sql  # noqa: E402

TEXTS = ["plain", "", "it's", 'a "quoted" word', "back\\slash \\x41", "new\nline\r\n",
         "tab\there", "why? ?1 :name :'v' $1", "-- not a comment", "é ü 漢字 🙂",
         "\x01", "x" * 5000]


class HarnessCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rungharness-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.db = rungtest.case_db(self, self.tmp)
        # Types both backends take: BYTEA has no meaning to SQLite, which
        # keeps a blob as it is given.
        sql(self.db, "CREATE TABLE t (id BIGINT PRIMARY KEY, s TEXT, b BYTEA, "
                     "r DOUBLE PRECISION, n BIGINT)")


class TestSql(HarnessCase):
    def test_values_come_back_as_they_went_in(self):
        for i, text in enumerate(TEXTS):
            with self.subTest(text=text[:20]):
                sql(self.db, "INSERT INTO t(id, s) VALUES (?, ?)", (i, text))
                self.assertEqual(sql(self.db, "SELECT s FROM t WHERE id = ?", (i,)), [(text,)])
                self.assertEqual(sql(self.db, "SELECT id FROM t WHERE s = ?", (text,)), [(i,)])
        rows = [(100, b"\x00\xff\x01'\\", -1.5, -(2 ** 62)), (101, b"", 0.1, 0),
                (102, None, None, None), (103, bytes(range(256)), 1e300, 2 ** 62)]
        for row in rows:
            sql(self.db, "INSERT INTO t(id, b, r, n) VALUES (?, ?, ?, ?)", row)
        self.assertEqual(sql(self.db, "SELECT id, b, r, n FROM t WHERE id >= ? ORDER BY id",
                             (100,)), rows)
        self.assertEqual(sql(self.db, "SELECT n - ?, r * ? FROM t WHERE id = ?",
                             (-1, -2, 100)), [(-(2 ** 62) + 1, 3.0)])

    def test_null_and_empty_text_differ(self):
        sql(self.db, "INSERT INTO t(id, s) VALUES (1, ''), (2, NULL)")
        self.assertEqual(sql(self.db, "SELECT id, s FROM t ORDER BY id"), [(1, ""), (2, None)])
        self.assertEqual(sql(self.db, "SELECT s, s FROM t WHERE id = 1"), [("", "")])
        self.assertEqual(sql(self.db, "SELECT s FROM t WHERE id = 2"), [(None,)])

    def test_counts_writes_and_returning(self):
        self.assertEqual(sql(self.db, "SELECT count(*) FROM t"), [(0,)])
        self.assertEqual(sql(self.db, "SELECT id FROM t"), [])
        self.assertEqual(sql(self.db, "INSERT INTO t(id, s) VALUES (?, 'a') RETURNING id",
                             (7,)), [(7,)])
        self.assertEqual(sql(self.db, "UPDATE t SET s = ? WHERE id = ?;", ("b", 7)), [])
        self.assertEqual(sql(self.db, "SELECT count(*), sum(id), min(s) FROM t"), [(1, 7, "b")])
        self.assertEqual(sql(self.db, "DELETE FROM t WHERE id = ? RETURNING s", (7,)), [("b",)])
        self.assertEqual(sql(self.db, "SELECT count(*) FROM t"), [(0,)])

    def test_placeholders_inside_quotes_are_text(self):
        self.assertEqual(sql(self.db, "SELECT '?', \"s\" FROM t WHERE id = ?", (1,)), [])
        sql(self.db, "INSERT INTO t(id, s) VALUES (1, 'it''s ?')")
        self.assertEqual(sql(self.db, "SELECT s, ? FROM t WHERE s = 'it''s ?'", ("x",)),
                         [("it's ?", "x")])
        for q, params in (("SELECT ? FROM t", ()), ("SELECT 1 FROM t", (1,))):
            with self.assertRaises((ValueError, sqlite3.Error)):  # the counts differ
                sql(self.db, q, params)

    def test_an_error_raises(self):
        with self.assertRaises((AssertionError, sqlite3.Error)):
            sql(self.db, "SELECT nosuch FROM t")
        with self.assertRaises((AssertionError, sqlite3.Error)):
            sql(self.db, "INSERT INTO t(id) VALUES (1), (1)")  # the same key twice
        self.assertEqual(sql(self.db, "SELECT count(*) FROM t"), [(0,)])


class TestDatabases(unittest.TestCase):
    def test_new_db_is_empty_and_its_own_and_drop_db_removes_it(self):
        tmp = tempfile.mkdtemp(prefix="rungharness-")
        self.addCleanup(shutil.rmtree, tmp, True)
        a, b = rungtest.new_db(tmp, "a.db"), rungtest.new_db(tmp, "b.db")
        self.assertNotEqual(a, b)
        self.assertEqual(rungtest.is_pg_uri(a), rungtest.backend() == "postgresql")
        sql(a, "CREATE TABLE x (v BIGINT)")
        sql(a, "INSERT INTO x VALUES (1)")
        with self.assertRaises((AssertionError, sqlite3.Error)):
            sql(b, "SELECT v FROM x")  # b has no table x
        rungtest.drop_db(a)
        rungtest.drop_db(b)
        if rungtest.backend() == "postgresql":
            names = {urlname(a), urlname(b)}
            left = sql(rungtest.PG_BASE, "SELECT datname FROM pg_database")
            self.assertEqual(names & {r[0] for r in left}, set())


def urlname(uri):
    return uri.split("?")[0].rsplit("/", 1)[1]


class TestWriteLock(HarnessCase):
    def test_a_writer_waits_until_release(self):
        lock = rungtest.WriteLock(self.db, tables=("t",))
        self.addCleanup(lock.release)
        done = threading.Event()

        def write():
            sql(self.db, "INSERT INTO t(id) VALUES (1)")
            done.set()
        th = threading.Thread(target=write, daemon=True)
        th.start()
        self.assertEqual(self.waiting_writers(), 1)
        self.assertFalse(done.is_set())
        self.assertEqual(sql(self.db, "SELECT count(*) FROM t"), [(0,)])  # readers go on
        lock.release()
        th.join(rungtest.START_TIMEOUT)
        self.assertTrue(done.is_set())
        self.assertEqual(sql(self.db, "SELECT id FROM t"), [(1,)])

    def waiting_writers(self):
        """How many sessions wait for a lock (PostgreSQL), or whether a
        write fails at once on the busy file (SQLite)."""
        if rungtest.backend() == "postgresql":
            q = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                 "AND datname = ?")
            return rungtest.until(lambda: sql(self.db, q, (urlname(self.db),))[0][0],
                                  "the writer to wait for the lock")
        con = sqlite3.connect(self.db, timeout=0)
        try:
            con.execute("INSERT INTO t(id) VALUES (2)")
            return 0
        except sqlite3.OperationalError as e:
            self.assertIn("locked", str(e))
            return 1
        finally:
            con.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
