"""PostgreSQL faults (issue 16): connections cut under running daemons.
A request that meets a lost connection gets 503 with Retry-After (never a
wrong answer, never a 500), the daemon connects again on its own, nothing
acknowledged is lost, and a daemon whose listening connection was cut
hears of other daemons' work again. Runs in the PostgreSQL pass
(tests/pg/run-api.sh)."""

import http.client
import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import until  # noqa: E402


def pair(i):
    return {"prompt": "cut %d" % i, "responses": ["left %d" % i, "right %d" % i]}


@rungtest.postgresql_only("connections to a PostgreSQL server cut under the daemon")
class TestLostConnections(rungtest.DaemonCase):
    daemon_args = ["--gold-rate", "0"]

    def cut(self):
        """Terminates every session of the daemons' database but this one,
        and waits until they are gone."""
        pids = [r[0] for r in self.d.sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")]
        self.assertGreater(len(pids), 0)
        listed = ", ".join(str(p) for p in pids)
        self.d.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE pid IN (%s)" % listed)
        until(lambda: self.d.sql("SELECT count(*) FROM pg_stat_activity WHERE pid IN (%s)"
                                 % listed)[0][0] == 0, "the cut sessions to end")

    def answer_or_503(self, d, method, path, body, token, ok):
        """Sends until the status is ok; every other answer must be 503
        storage_unavailable with Retry-After."""
        def attempt():
            st, h, reply = d.request(method, path, body, token=token)
            if st == ok:
                return (reply,)  # a 204's empty body is an answer too
            self.assertEqual(st, 503, reply)
            self.assertEqual(reply["error"]["code"], "storage_unavailable")
            self.assertIsNotNone(h.get("Retry-After"))
            return None
        return until(attempt, "%s %s to answer %d" % (method, path, ok))[0]

    def test_cut_connections_answer_503_then_reconnect(self):
        acked = []
        st, _, body = self.d.request("POST", "/v1/items", {"items": [pair(0)]}, token=self.pipe)
        self.assertEqual(st, 201, body)
        acked += [x["id"] for x in body["items"]]
        self.cut()
        body = self.answer_or_503(self.d, "POST", "/v1/items", {"items": [pair(1)]}, self.pipe,
                                  201)
        acked += [x["id"] for x in body["items"]]
        listing = self.answer_or_503(self.d, "GET", "/v1/items?limit=100", None, self.admin, 200)
        self.assertEqual(sorted(x["id"] for x in listing["items"]), sorted(acked))
        # (Written before the reply, but read from the pipe by a thread of
        # this process: waited for, not looked at once.)
        self.d.wait_stderr('"postgresql reconnected"')

    def test_listener_hears_again_after_a_cut(self):
        other = rungtest.Daemon(extra_args=self.daemon_args, db=self.d.db)
        try:
            rater = self.d.key("rater", "r1")
            self.cut()
            # Both daemons answer again (their writers reconnect on use).
            self.answer_or_503(other, "GET", "/v1/tasks/next", None, rater, 204)
            self.answer_or_503(self.d, "GET", "/v1/status", None, self.admin, 200)
            until(lambda: any('"postgresql listener reconnected"' in l
                              for l in other.stderr_lines()), "the listener to connect again")
            got = {}

            def wait_for_task():
                t0 = time.monotonic()
                got["reply"] = self.answer_or_503(other, "GET", "/v1/tasks/next?wait=25", None,
                                                  rater, 200)
                got["seconds"] = time.monotonic() - t0

            waiter = threading.Thread(target=wait_for_task)
            waiter.start()
            # One keep-alive connection for every poll: on a fresh one the
            # previous poll could still be counted in flight (see
            # rungtest.Daemon.wait_inflight), and the item would be posted
            # before the long-poll came.
            conn = other.connection()
            self.addCleanup(conn.close)

            def waiting():
                try:
                    st, _, text = other.request("GET", "/metrics", token=self.admin, conn=conn)
                except (OSError, http.client.HTTPException):  # closed: it opens again
                    conn.close()
                    return False
                if st == 503:
                    return False
                self.assertEqual(st, 200, text)
                return re.search(rb"(?m)^rung_inflight_requests ([2-9]|\d\d+)$", text)
            until(waiting, "the long-poll to be waiting")
            self.answer_or_503(self.d, "POST", "/v1/items", {"items": [pair(2)]}, self.pipe, 201)
            waiter.join(60)
            task = got["reply"]
            self.assertEqual(task["prompt"], "cut 2")
            # Woken by the other daemon's notification, not by the end of the wait.
            self.assertLess(got["seconds"], 20)
        finally:
            if other.running():
                other.stop()
            other.cleanup()



@rungtest.postgresql_only("daemons migrating one new PostgreSQL database at once")
class TestMigrationRace(unittest.TestCase):
    def test_daemons_started_together_migrate_once(self):
        first = rungtest.Daemon(start=False)
        daemons = [first] + [rungtest.Daemon(db=first.db, start=False) for _ in range(3)]
        errors = []

        def start(d):
            try:
                d.start()
            except Exception as e:  # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=start, args=(d,)) for d in daemons]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual(errors, [])
            for d in daemons:
                self.assertEqual(d.request("GET", "/healthz")[0], 200)
            self.assertEqual(len(first.sql("SELECT version FROM rung_schema")), 1)
            tables = first.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'items'")
            self.assertEqual(tables[0][0], 1)
        finally:
            for d in reversed(daemons):
                if d.running():
                    d.stop()
                if d is not first:
                    d.cleanup()
            first.cleanup()

if __name__ == "__main__":
    unittest.main(verbosity=2)
