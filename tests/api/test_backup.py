"""rungd backup: a consistent copy while the daemon serves, under write load,
and a restore from it. Real daemon, real SQLite files."""

import json
import os
import sqlite3
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rungtest import Daemon, DaemonCase, run_cli, sqlite_only, until  # noqa: E402

WRITERS = 2
ITEMS_PER_POST = 20
PRELOAD = 8000  # items already stored, so the copy has something to read


def items(tag, n, pad=""):
    return [{"prompt": "%s prompt %d %s" % (tag, i, pad), "response": "response %d" % i}
            for i in range(n)]


@sqlite_only("rungd backup copies a SQLite file with SQLite's online backup")
class BackupTest(DaemonCase):
    def out(self, name="backup.db"):
        return os.path.join(self.d.tmpdir, name)

    def post_forever(self, w, acked, errors, lock, stop):
        """Posts batches until stop; records the ids of every 201."""
        conn = self.d.connection()
        n = 0
        try:
            while not stop.is_set():
                st, _, body = self.d.request("POST", "/v1/items", conn=conn, token=self.pipe,
                                             body={"items": items("w%d-%d" % (w, n),
                                                                  ITEMS_PER_POST)})
                n += 1
                if st != 201:
                    errors.append((st, body))
                    return
                with lock:
                    acked.extend(x["id"] for x in body["items"])
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(repr(e))
        finally:
            conn.close()

    def preload(self):
        pad = "x" * 400
        for k in range(0, PRELOAD, 4000):
            st, _, body = self.d.request("POST", "/v1/items", token=self.pipe,
                                         body={"items": items("pre%d" % k, 4000, pad)})
            self.assertEqual(st, 201, body)

    def test_backup_under_write_load_holds_every_acknowledged_item(self):
        self.preload()
        acked, errors, lock, stop = [], [], threading.Lock(), threading.Event()
        threads = [threading.Thread(target=self.post_forever, args=(w, acked, errors, lock, stop))
                   for w in range(WRITERS)]
        for t in threads:
            t.start()
        try:
            until(lambda: len(acked) >= 200 or errors, "200 items acknowledged under load")
            with lock:
                before = set(acked)  # acknowledged before the backup starts
            t0 = time.monotonic()
            p = run_cli(self.d.rungd, "backup", "--db", self.d.db, self.out())
            secs = time.monotonic() - t0
            with lock:
                during = len(acked) - len(before)
            # The daemon still takes writes after the backup.
            until(lambda: len(acked) >= len(before) + during + 100 or errors,
                  "100 more items acknowledged after the backup")
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(errors, [])
        self.assertEqual(p.returncode, 0, p.stderr)
        summary = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual(summary["bytes"], os.path.getsize(self.out()))
        print("backup: %d bytes in %.2f s (command %.2f s), %d items acknowledged during it"
              % (summary["bytes"], summary["seconds"], secs, during), file=sys.stderr)

        con = sqlite3.connect(self.out())
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            self.assertEqual(con.execute("PRAGMA journal_mode").fetchone()[0], "delete")
            copied = {r[0] for r in con.execute("SELECT id FROM items")}
            pre = con.execute("SELECT count(*) FROM items WHERE prompt LIKE 'pre%'").fetchone()[0]
        finally:
            con.close()
        self.assertFalse(os.path.exists(self.out() + "-wal"))
        self.assertEqual(pre, PRELOAD)
        self.assertEqual(before - copied, set(), "acknowledged before the backup, not in it")
        final = {r[0] for r in self.d.sql("SELECT id FROM items")}
        self.assertEqual(copied - final, set(), "in the backup but not in the database")
        self.assertEqual(set(acked) - final, set())
        self.restore_serves(sorted(before)[:20])

    def restore_serves(self, ids):
        """A daemon on a copy of the backup (the restore the README shows)
        answers the same keys and holds the items."""
        self.d.stop()
        restored = os.path.join(self.d.tmpdir, "restored.db")
        with open(self.out(), "rb") as src, open(restored, "wb") as dst:
            dst.write(src.read())
        r = Daemon(db=restored)
        try:
            for i in ids:
                st, _, body = r.request("GET", "/v1/items/" + i, token=self.pipe)
                self.assertEqual((st, body.get("id")), (200, i), body)
            r.stop()
        finally:
            r.cleanup()

    def test_backup_refuses_to_overwrite_and_names_bad_arguments(self):
        self.assertEqual(run_cli(self.d.rungd, "backup", "--db", self.d.db, self.out()).returncode,
                         0)
        size = os.path.getsize(self.out())
        p = run_cli(self.d.rungd, "backup", "--db", self.d.db, self.out())
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("exists already", p.stderr)
        self.assertEqual(os.path.getsize(self.out()), size)
        self.assertFalse(os.path.exists(self.out() + ".tmp"))
        missing = os.path.join(self.d.tmpdir, "none.db")
        p = run_cli(self.d.rungd, "backup", "--db", missing, self.out("b2.db"))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("no database at", p.stderr)
        self.assertFalse(os.path.exists(self.out("b2.db")))
        for args in (["backup", self.out("b3.db")], ["backup", "--db", self.d.db],
                     ["backup", "--db", self.d.db, "a.db", "b.db"]):
            p = run_cli(self.d.rungd, *args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
        notdb = os.path.join(self.d.tmpdir, "not.db")
        with open(notdb, "w") as f:
            f.write("not a database, just text " * 100)
        p = run_cli(self.d.rungd, "backup", "--db", notdb, self.out("b4.db"))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertFalse(os.path.exists(self.out("b4.db")))
        self.assertFalse(os.path.exists(self.out("b4.db") + ".tmp"))


if __name__ == "__main__":
    unittest.main(verbosity=2)  # names each test, and why one is skipped
