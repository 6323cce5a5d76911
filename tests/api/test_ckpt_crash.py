#!/usr/bin/env python3
"""kill -9 while the checkpointer copies the WAL into the database file loses
no acknowledged item (issue 14).

The writer never writes the database file itself (it appends to the WAL;
automatic checkpoints are off), so a thread of rungd found inside a write or
a sync of the database file is the checkpointer at work. The test loads the
daemon until the WAL passes the PASSIVE threshold, watches every thread's
current system call in /proc, and sends SIGKILL the moment one is writing or
syncing the database file; then it restarts on the same file and looks for
every item a 201 acknowledged. Real daemon, real SQLite file, two rounds,
each armed once 3,000 items (about 5 MB, past the 1,000 pages that start a
PASSIVE checkpoint) were acknowledged in it."""
import os
import platform
import sqlite3
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import Daemon, sqlite_only  # noqa: E402

# System call numbers that write or sync a file, by machine (asm/unistd.h).
WRITE_SYNC = {
    "x86_64": {1: "write", 18: "pwrite64", 20: "writev", 74: "fsync", 75: "fdatasync",
               296: "pwritev", 328: "pwritev2"},
    "aarch64": {64: "write", 66: "writev", 68: "pwrite64", 70: "pwritev", 82: "fsync",
                83: "fdatasync", 287: "pwritev2"},
}.get(platform.machine())

BODY = "word " * 300  # ~1.5 KB a response: the WAL fills in a few seconds


def db_write_syscall(pid, db):
    """The name of a write or sync of the file db that a thread of pid is in
    right now, or None."""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                fields = f.read().split()
        except OSError:
            continue
        if len(fields) < 2 or not fields[0].isdigit() or int(fields[0]) not in WRITE_SYNC:
            continue
        try:
            path = os.readlink("/proc/%d/fd/%d" % (pid, int(fields[1], 16)))
        except (OSError, ValueError):
            continue
        if path == db:
            return WRITE_SYNC[int(fields[0])]
    return None


@unittest.skipUnless(WRITE_SYNC and os.path.isdir("/proc/self/task"),
                     "needs Linux /proc and a known machine's system call numbers")
@sqlite_only("kills rungd while it checkpoints the SQLite WAL into the database file")
class CheckpointCrashTest(unittest.TestCase):
    def test_kill9_during_checkpoint(self):
        d = Daemon()
        try:
            admin = d.key("admin", "boss")
            tokens = [d.key("pipeline", "ingest%d" % t) for t in range(3)]
            db = os.path.realpath(d.db)
            acked = []
            for round_ in range(2):
                caught = self.kill_in_checkpoint(d, tokens, db, acked, round_)
                d.start()
                self.check_all_there(d, admin, acked, "round %d (killed in %s)"
                                     % (round_, caught))
            d.stop()
        finally:
            d.cleanup()

    def kill_in_checkpoint(self, d, tokens, db, acked, round_):
        """Loads d from one thread per token until a thread of d writes or
        syncs db, then kills d. Returns that system call's name."""
        failures, lock, stop = [], threading.Lock(), threading.Event()

        def worker(t):
            conn, n = d.connection(), 0
            try:
                while not stop.is_set():
                    batch = [{"prompt": "q%d" % n, "response": BODY + str(i),
                              "external_id": "r%d-w%d-%d" % (round_, t, n + i)}
                             for i in range(20)]
                    n += 20
                    st, _, body = d.request("POST", "/v1/items", {"items": batch},
                                            token=tokens[t], conn=conn)
                    if st != 201:
                        failures.append((st, body))
                        return
                    with lock:
                        acked.extend(a["id"] for a in body["items"])
            except Exception:
                pass  # the daemon died under us: expected
            finally:
                conn.close()

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(len(tokens))]
        for th in threads:
            th.start()
        caught, start = None, len(acked)
        try:
            deadline = time.monotonic() + 120
            while not failures and len(acked) - start < 3000 and time.monotonic() < deadline:
                time.sleep(0.01)
            while not caught and not failures and time.monotonic() < deadline:
                caught = db_write_syscall(d.proc.pid, db)
            if caught:
                d.proc.kill()  # at once: no reaping before the signal
            d.kill9()
        finally:
            stop.set()
            for th in threads:
                th.join(rungtest.HTTP_TIMEOUT)
        self.assertEqual(failures, [])
        self.assertGreaterEqual(len(acked) - start, 3000)
        self.assertIsNotNone(caught, "no thread of rungd wrote the database file in 120 s "
                             "of ingest: no checkpoint ran")
        return caught

    def check_all_there(self, d, admin, acked, what):
        self.assertEqual(len(acked), len(set(acked)))
        con = sqlite3.connect(d.db, timeout=30)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            stored = {r[0] for r in con.execute("SELECT id FROM items")}
        finally:
            con.close()
        missing = [i for i in acked if i not in stored]
        self.assertEqual(missing, [], "%s: %d of %d acknowledged items lost"
                         % (what, len(missing), len(acked)))
        st, _, status = d.request("GET", "/v1/status", token=admin)
        self.assertEqual(st, 200)
        self.assertEqual(status["items"], len(stored))


if __name__ == "__main__":
    unittest.main(verbosity=2)  # names each test, and why one is skipped
