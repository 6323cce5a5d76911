#!/usr/bin/env python3
"""HTTP API tests for rungd: ingest, reads, pagination, errors, roles, keys,
logs, limits, shutdown, durability and schema versions.

Run:  RUNGD=/abs/path/to/rungd python3 tests/api/test_api.py [-v] [Test.name]
Without RUNGD it uses build-dev/server/rungd under the repository root.
Exits non-zero when any test fails. Python 3 stdlib only.
"""

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rungtest  # noqa: E402
from rungtest import Daemon, sqlite_only  # noqa: E402

RUNGD = rungtest.rungd_path()

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")
NDJSON = {"Content-Type": "application/x-ndjson"}
LOG_KEYS = {"time", "method", "path", "status", "us", "key"}


def item(i=0, **extra):
    o = {"prompt": "prompt %s" % i, "response": "response %s" % i}
    o.update(extra)
    return o


class ApiCase(unittest.TestCase):
    """Helpers shared by the test classes; subclasses set cls.d."""

    d = None

    def req(self, *a, **kw):
        return self.d.request(*a, **kw)

    def assertSecurityHeaders(self, headers):
        csp = headers.get("Content-Security-Policy")
        self.assertTrue(csp, "Content-Security-Policy missing")
        self.assertIn("default-src", csp)
        self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff")
        self.assertEqual(headers.get("Referrer-Policy"), "no-referrer")

    def assertError(self, resp, status, code):
        st, headers, body = resp
        self.assertEqual(st, status, "want %d %s, got %d %r" % (status, code, st, body))
        self.assertIsInstance(body, dict, "error body is not JSON: %r" % (body,))
        self.assertIn("error", body)
        self.assertEqual(body["error"].get("code"), code, body)
        self.assertIsInstance(body["error"].get("message"), str)
        self.assertTrue(body["error"]["message"])
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"))
        self.assertSecurityHeaders(headers)
        return body["error"]

    def assertOk(self, resp, status=200):
        st, headers, body = resp
        self.assertEqual(st, status, "want %d, got %d %r" % (status, st, body))
        self.assertSecurityHeaders(headers)
        return body

    def snapshot(self):
        counts = {t: self.d.sql("SELECT count(*) FROM %s" % t)[0][0]
                  for t in ("items", "tasks", "api_keys")}
        st, _, body = self.req("GET", "/v1/status", token=self.admin)
        self.assertEqual(st, 200, body)
        counts["status.items"] = body["items"]
        counts["status.by_status"] = body["by_status"]
        return counts

    @contextlib.contextmanager
    def unchanged(self):
        """Asserts the block changes no stored row (the database and /v1/status)."""
        before = self.snapshot()
        yield
        self.assertEqual(self.snapshot(), before, "an error changed the database")


class ApiTest(ApiCase):
    """Most tests share one daemon; they use their own keys or batches where
    counts matter."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(RUNGD)
        cls.addClassCleanup(cls.d.cleanup)  # also when setUpClass fails
        cls.admin = cls.d.key("admin", "admin1")
        cls.pipe = cls.d.key("pipeline", "pipe1")
        cls.pipe2 = cls.d.key("pipeline", "pipe2")
        cls.rater = cls.d.key("rater", "rater1")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
        finally:
            cls.d.cleanup()

    def post(self, payload, token=None, status=201):
        resp = self.req("POST", "/v1/items", payload, token=token or self.pipe)
        return self.assertOk(resp, status)

    # ---- success paths ----

    def test_healthz_needs_no_auth(self):
        body = self.assertOk(self.req("GET", "/healthz"))
        self.assertEqual(body, {"status": "ok"})

    def test_ingest_single_bare_object(self):
        before = self.snapshot()
        body = self.post(item(1, domain="algebra", priority=-3, batch="b-single",
                              metadata={"src": "unit", "n": [1, 2, {"x": None}]}))
        self.assertNotIn("items", body)
        self.assertEqual(body["status"], "awaiting_human")
        self.assertEqual(body["batch"], "b-single")
        self.assertRegex(body["id"], r"^[0-9a-f-]{36}$")
        got = self.assertOk(self.req("GET", "/v1/items/" + body["id"], token=self.pipe))
        self.assertEqual(got["id"], body["id"])
        self.assertEqual(got["prompt"], "prompt 1")
        self.assertEqual(got["response"], "response 1")
        self.assertNotIn("responses", got)
        self.assertEqual(got["domain"], "algebra")
        self.assertEqual(got["priority"], -3)
        self.assertEqual(got["batch"], "b-single")
        self.assertEqual(got["metadata"], {"src": "unit", "n": [1, 2, {"x": None}]})
        self.assertEqual(got["status"], "awaiting_human")
        self.assertEqual(got["route"], "human")
        after = self.snapshot()
        self.assertEqual(after["items"], before["items"] + 1)
        self.assertEqual(after["status.items"], before["status.items"] + 1)

    def test_ingest_pair_and_unicode_round_trip(self):
        text_a = "naïve café — 日本語 🚀 \"quoted\" \\ back\nslash"
        body = self.post({"prompt": "¿qué? 🙂", "responses": [text_a, "<script>x</script>"]})
        got = self.assertOk(self.req("GET", "/v1/items/" + body["id"], token=self.admin))
        self.assertEqual(got["prompt"], "¿qué? 🙂")
        self.assertEqual(got["responses"], [text_a, "<script>x</script>"])
        self.assertNotIn("response", got)
        self.assertEqual(got["route"], "human")
        self.assertEqual(got["status"], "awaiting_human")

    def test_ingest_items_array_in_request_order(self):
        items = [item(i, batch="b-order") for i in range(5)]
        items[2] = {"prompt": "prompt 2", "responses": ["x", "y"], "batch": "b-order"}
        body = self.post({"items": items})
        self.assertEqual(list(body), ["items"])
        acks = body["items"]
        self.assertEqual(len(acks), 5)
        self.assertEqual(len({a["id"] for a in acks}), 5)
        for i, a in enumerate(acks):
            self.assertEqual(a["status"], "awaiting_human")
            self.assertEqual(a["batch"], "b-order")
            got = self.assertOk(self.req("GET", "/v1/items/" + a["id"], token=self.pipe))
            self.assertEqual(got["prompt"], "prompt %d" % i)

    def test_ingest_ndjson(self):
        lines = [json.dumps(item(i, batch="b-nd")) for i in range(3)]
        raw = (lines[0] + "\r\n\n   \n" + lines[1] + "\n" + lines[2]).encode()  # no final newline
        before = self.d.item_count()
        body = self.assertOk(self.req("POST", "/v1/items", raw=raw, token=self.pipe,
                                      headers={"Content-Type": "application/x-ndjson; charset=utf-8"}),
                             201)
        self.assertEqual(len(body["items"]), 3)
        self.assertEqual(self.d.item_count(), before + 3)
        for i, a in enumerate(body["items"]):
            got = self.assertOk(self.req("GET", "/v1/items/" + a["id"], token=self.pipe))
            self.assertEqual(got["prompt"], "prompt %d" % i)

    def test_json_content_type_with_charset(self):
        self.assertOk(self.req("POST", "/v1/items", raw=json.dumps(item(7)), token=self.pipe,
                               headers={"Content-Type": "application/json; charset=utf-8"}), 201)

    def test_bearer_scheme_is_case_insensitive(self):
        self.assertOk(self.req("GET", "/v1/items?limit=1",
                               headers={"Authorization": "bearer " + self.pipe}))

    def test_status(self):
        before = self.assertOk(self.req("GET", "/v1/status", token=self.admin))
        for k in ("items", "by_status", "by_domain", "by_batch", "db_bytes", "active_layer"):
            self.assertIn(k, before)
        self.assertIsNone(before["active_layer"])
        self.assertGreater(before["db_bytes"], 0)
        self.post({"items": [item(i, batch="b-status", domain="d-status") for i in range(3)]})
        after = self.assertOk(self.req("GET", "/v1/status", token=self.admin))
        self.assertEqual(after["items"], before["items"] + 3)
        self.assertEqual(after["by_batch"].get("b-status"), 3)
        self.assertEqual(after["by_domain"].get("d-status"), 3)
        self.assertEqual(after["by_status"]["awaiting_human"],
                         before["by_status"].get("awaiting_human", 0) + 3)
        self.assertEqual(sum(after["by_status"].values()), after["items"])
        self.assertEqual(after["items"], self.d.item_count())

    def test_metrics(self):
        st, headers, body = self.req("GET", "/metrics", token=self.admin)
        self.assertEqual(st, 200)
        self.assertSecurityHeaders(headers)
        self.assertTrue(headers.get("Content-Type", "").startswith("text/plain"))
        text = body.decode()
        m = re.search(r"^rung_requests_total (\d+)$", text, re.M)
        self.assertTrue(m, text)
        self.assertGreater(int(m.group(1)), 0)
        self.assertRegex(text, r'(?m)^rung_responses_total\{class="2xx"\} \d+$')
        self.assertRegex(text, r"(?m)^# TYPE rung_requests_total counter$")
        self.assertRegex(text, r'(?m)^rung_store_checkpoints_total\{mode="passive"\} \d+$')

    def test_layers(self):
        body = self.assertOk(self.req("GET", "/v1/layers", token=self.admin))
        self.assertEqual(body, {"layers": []})

    def test_static_index(self):
        st, headers, _ = self.req("GET", "/")
        self.assertEqual(st, 200)
        self.assertSecurityHeaders(headers)

    # ---- reads and visibility ----

    def test_get_visibility(self):
        mine = self.post(item(1))["id"]
        theirs = self.post(item(2), token=self.pipe2)["id"]
        self.assertOk(self.req("GET", "/v1/items/" + mine, token=self.pipe))
        self.assertError(self.req("GET", "/v1/items/" + theirs, token=self.pipe), 404, "not_found")
        self.assertOk(self.req("GET", "/v1/items/" + theirs, token=self.pipe2))
        self.assertError(self.req("GET", "/v1/items/" + mine, token=self.pipe2), 404, "not_found")
        self.assertOk(self.req("GET", "/v1/items/" + mine, token=self.admin))
        self.assertOk(self.req("GET", "/v1/items/" + theirs, token=self.admin))
        self.assertError(self.req("GET", "/v1/items/" + mine, token=self.rater), 403, "forbidden")
        self.assertError(self.req("GET", "/v1/items/00000000-0000-4000-8000-000000000000",
                                  token=self.admin), 404, "not_found")
        self.assertError(self.req("GET", "/v1/items/nope", token=self.admin), 404, "not_found")

    def test_list_only_own_items_for_pipeline(self):
        batch = "b-vis"
        self.post({"items": [item(i, batch=batch) for i in range(2)]})
        self.post({"items": [item(i, batch=batch) for i in range(3)]}, token=self.pipe2)
        mine = self.assertOk(self.req("GET", "/v1/items?batch=" + batch, token=self.pipe))
        theirs = self.assertOk(self.req("GET", "/v1/items?batch=" + batch, token=self.pipe2))
        everything = self.assertOk(self.req("GET", "/v1/items?batch=" + batch, token=self.admin))
        self.assertEqual(len(mine["items"]), 2)
        self.assertEqual(len(theirs["items"]), 3)
        self.assertEqual(len(everything["items"]), 5)
        self.assertIsNone(mine["next"])
        self.assertFalse({i["id"] for i in mine["items"]} & {i["id"] for i in theirs["items"]})
        self.assertError(self.req("GET", "/v1/items", token=self.rater), 403, "forbidden")

    # ---- idempotency ----

    def test_external_id_repeat_single(self):
        first = self.post(item(1, external_id="ext-single", batch="b-ext"))
        self.assertFalse(first.get("duplicate", False))
        self.assertEqual(first.get("external_id"), "ext-single")
        with self.unchanged():
            again = self.post(item(99, external_id="ext-single"), status=200)
        self.assertEqual(again["id"], first["id"])
        self.assertIs(again.get("duplicate"), True)
        self.assertEqual(again["batch"], "b-ext")
        got = self.assertOk(self.req("GET", "/v1/items/" + first["id"], token=self.pipe))
        self.assertEqual(got["prompt"], "prompt 1", "a repeat must not overwrite the item")
        self.assertEqual(got["external_id"], "ext-single")

    def test_external_id_repeat_in_batch(self):
        first = self.post(item(0, external_id="ext-b1"))
        before = self.d.item_count()
        body = self.post({"items": [item(1, external_id="ext-b2"), item(2, external_id="ext-b1"),
                                    item(3)]}, status=201)
        acks = body["items"]
        self.assertEqual(self.d.item_count(), before + 2)
        self.assertFalse(acks[0].get("duplicate", False))
        self.assertIs(acks[1].get("duplicate"), True)
        self.assertEqual(acks[1]["id"], first["id"])
        self.assertFalse(acks[2].get("duplicate", False))
        # A request made only of repeats is a 200 and stores nothing.
        with self.unchanged():
            body = self.post({"items": [item(5, external_id="ext-b1"),
                                        item(6, external_id="ext-b2")]}, status=200)
        self.assertEqual([a["id"] for a in body["items"]], [first["id"], acks[0]["id"]])
        self.assertTrue(all(a.get("duplicate") is True for a in body["items"]))

    def test_external_id_twice_in_one_request(self):
        before = self.d.item_count()
        body = self.post({"items": [item(1, external_id="ext-twice"),
                                    item(2, external_id="ext-twice")]})
        a, b = body["items"]
        self.assertEqual(a["id"], b["id"])
        self.assertIs(b.get("duplicate"), True)
        self.assertEqual(self.d.item_count(), before + 1)

    def test_external_id_is_per_key(self):
        a = self.post(item(1, external_id="ext-shared"))
        b = self.post(item(2, external_id="ext-shared"), token=self.pipe2)
        c = self.post(item(3, external_id="ext-shared"), token=self.admin)
        self.assertEqual(len({a["id"], b["id"], c["id"]}), 3)
        self.assertFalse(b.get("duplicate", False))
        rows = self.d.sql("SELECT count(*) FROM items WHERE external_id = 'ext-shared'")
        self.assertEqual(rows[0][0], 3)
        # and each key still gets its own back on a repeat
        again = self.post(item(4, external_id="ext-shared"), token=self.pipe2, status=200)
        self.assertEqual(again["id"], b["id"])

    def test_external_id_concurrent_repeats(self):
        """Many clients posting one external_id at once make one item."""
        tok = self.d.key("pipeline", "racer")
        results, errors = [], []
        start = threading.Barrier(8)

        def post(i):
            try:
                start.wait(30)
                results.append(self.req("POST", "/v1/items", item(i, external_id="race"),
                                        token=tok))
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(rungtest.HTTP_TIMEOUT)
        self.assertEqual(errors, [])
        statuses = sorted(st for st, _, _ in results)
        self.assertEqual(statuses, [200] * 7 + [201], [b for _, _, b in results])
        self.assertEqual(len({b["id"] for _, _, b in results}), 1)
        self.assertEqual(sum(1 for _, _, b in results if b.get("duplicate")), 7)
        rows = self.d.sql("SELECT count(*) FROM items i JOIN api_keys k ON k.id = i.key_id "
                          "WHERE k.name = 'racer'")
        self.assertEqual(rows[0][0], 1)

    def test_large_batch(self):
        tok = self.d.key("pipeline", "bulk")
        items = [item(i, batch="b-bulk", metadata={"i": i}) for i in range(3000)]
        acks = self.post({"items": items}, token=tok)["items"]
        self.assertEqual(len(acks), 3000)
        ids, pages = self.walk("&batch=b-bulk", tok, limit=1000)
        self.assertEqual(ids, [a["id"] for a in acks])
        self.assertEqual(pages, 3)

    # ---- pagination ----

    def walk(self, query, token, limit=7):
        ids, pages, after = [], 0, None
        while True:
            q = "/v1/items?limit=%d%s" % (limit, query)
            if after is not None:
                q += "&after=" + after
            body = self.assertOk(self.req("GET", q, token=token))
            pages += 1
            self.assertLessEqual(len(body["items"]), limit)
            ids.extend(i["id"] for i in body["items"])
            if body["next"] is None:
                return ids, pages
            self.assertIsInstance(body["next"], str)
            self.assertEqual(len(body["items"]), limit, "a short page must be the last")
            after = body["next"]
            self.assertLess(pages, 100, "pagination does not end")

    def test_pagination(self):
        tok = self.d.key("pipeline", "pager")
        expect_all, expect_a = [], []
        for r in range(5):  # 50 items in 5 requests, alternating batches
            items = [item(10 * r + i, batch="pg-a" if i % 2 == 0 else "pg-b")
                     for i in range(10)]
            acks = self.post({"items": items}, token=tok)["items"]
            expect_all.extend(a["id"] for a in acks)
            expect_a.extend(a["id"] for a, it in zip(acks, items) if it["batch"] == "pg-a")
        self.assertEqual(len(expect_all), 50)

        ids, pages = self.walk("", tok)
        self.assertEqual(ids, expect_all)  # no gaps, no repeats, insertion order
        self.assertEqual(pages, 8)
        self.assertEqual(self.walk("", tok)[0], ids, "order is not stable")

        ids_a, pages_a = self.walk("&batch=pg-a", tok)
        self.assertEqual(ids_a, expect_a)
        self.assertEqual(pages_a, 4)
        self.assertEqual(self.walk("&batch=pg-a&status=awaiting_human", tok)[0], expect_a)
        self.assertEqual(self.walk("&status=awaiting_human", tok)[0], expect_all)
        self.assertEqual(self.walk("&status=auto", tok), ([], 1))
        self.assertEqual(self.walk("&batch=pg-none", tok), ([], 1))
        # A filter whose count divides the limit: the last full page says next=null.
        self.assertEqual(self.walk("&batch=pg-a", tok, limit=5), (expect_a, 5))
        # The admin sees them too (among others), in the same order.
        admin_ids, _ = self.walk("&batch=pg-a", self.admin, limit=1000)
        self.assertEqual(admin_ids, expect_a)
        # Items added mid-walk show up at the end, with nothing repeated.
        first = self.assertOk(self.req("GET", "/v1/items?limit=7&batch=pg-b", token=tok))
        extra = self.post({"items": [item(100 + i, batch="pg-b") for i in range(3)]},
                          token=tok)["items"]
        rest, _ = [], None
        after = first["next"]
        while after:
            body = self.assertOk(self.req("GET", "/v1/items?limit=7&batch=pg-b&after=" + after,
                                          token=tok))
            rest.extend(i["id"] for i in body["items"])
            after = body["next"]
        seen = [i["id"] for i in first["items"]] + rest
        self.assertEqual(len(seen), len(set(seen)))
        self.assertEqual(seen[-3:], [a["id"] for a in extra])
        self.assertEqual(len(seen), 28)

    def test_list_default_and_max_limit(self):
        body = self.assertOk(self.req("GET", "/v1/items", token=self.admin))
        self.assertLessEqual(len(body["items"]), 100)
        self.assertIn("next", body)
        body = self.assertOk(self.req("GET", "/v1/items?limit=1000", token=self.admin))
        self.assertLessEqual(len(body["items"]), 1000)
        body = self.assertOk(self.req("GET", "/v1/items?limit=1", token=self.admin))
        self.assertEqual(len(body["items"]), 1)

    def test_list_bad_queries(self):
        for q in ("limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=", "limit=1.5",
                  "status=bogus", "status=", "after=abc", "after=-1", "after=1x"):
            with self.subTest(q=q):
                self.assertError(self.req("GET", "/v1/items?" + q, token=self.admin),
                                 400, "invalid_query")

    # ---- issue 9: lookup by external_id, unknown parameters, overlap rules ----

    def test_list_by_external_id(self):
        a = self.post(item(1, external_id="ext-look-1", batch="b-ext"))
        self.post(item(2, external_id="ext-look-2", batch="b-ext"))
        self.post(item(3, external_id="ext-look-1"), token=self.pipe2)  # same id, other key
        body = self.assertOk(self.req("GET", "/v1/items?external_id=ext-look-1", token=self.pipe))
        self.assertEqual([i["id"] for i in body["items"]], [a["id"]])
        self.assertEqual(body["items"][0]["external_id"], "ext-look-1")
        self.assertIsNone(body["next"])
        body = self.assertOk(self.req("GET", "/v1/items?external_id=ext-look-1",
                                      token=self.admin))
        self.assertEqual(len(body["items"]), 2)   # an admin sees every key's
        body = self.assertOk(self.req("GET", "/v1/items?external_id=ext-look-1&batch=b-ext",
                                      token=self.admin))
        self.assertEqual([i["id"] for i in body["items"]], [a["id"]])
        body = self.assertOk(self.req("GET", "/v1/items?external_id=no-such-ext",
                                      token=self.pipe))
        self.assertEqual(body["items"], [])
        for q in ("external_id=", "external_id=" + "x" * 257):
            with self.subTest(q=q):
                self.assertError(self.req("GET", "/v1/items?" + q, token=self.pipe),
                                 400, "invalid_query")

    def test_unknown_query_parameters_are_refused(self):
        for path, token in (("/v1/items?batch=b&extrnal_id=x", self.pipe),
                            ("/v1/items?bogus", self.pipe),
                            ("/v1/tasks/next?wiat=5", self.rater),
                            ("/v1/overlap?x=1", self.admin)):
            with self.subTest(path=path), self.unchanged():
                err = self.assertError(self.req("GET", path, token=token),
                                       400, "unknown_parameter")
                self.assertIn("'%s'" % path.split("?")[1].split("&")[-1].split("=")[0],
                              err["message"])

    def test_overlap_rules_refuse_unknown_scopes_and_are_listed(self):
        self.post(item(1, batch="b-ov", domain="d-ov"))
        for body, code in (({"batch": "b-ov-typo", "overlap": 2}, "unknown_batch"),
                           ({"domain": "d-ov-typo", "overlap": 2}, "unknown_domain")):
            with self.subTest(body=body):
                before = self.d.sql("SELECT count(*) FROM overlap_rules")
                self.assertError(self.req("PUT", "/v1/overlap", body, token=self.admin),
                                 404, code)
                self.assertEqual(self.d.sql("SELECT count(*) FROM overlap_rules"), before)
        for bad in ({"batch": "b-ov", "overlap": 2, "future": "yes"},
                    {"batch": "b-ov", "overlap": 2, "later": True}, {"batch": "", "overlap": 2}):
            with self.subTest(bad=bad):
                self.assertError(self.req("PUT", "/v1/overlap", bad, token=self.admin),
                                 422, "invalid_body")
        self.assertEqual(self.assertOk(self.req("PUT", "/v1/overlap", {"batch": "b-ov", "overlap": 2},
                                                token=self.admin)),
                         {"scope": "batch", "value": "b-ov", "overlap": 2})
        self.assertOk(self.req("PUT", "/v1/overlap", {"domain": "d-ov", "overlap": 3},
                               token=self.admin))
        self.assertOk(self.req("PUT", "/v1/overlap",
                               {"batch": "b-ov-later", "overlap": 4, "future": True},
                               token=self.admin))
        rules = self.assertOk(self.req("GET", "/v1/overlap", token=self.admin))["rules"]
        for want in ({"scope": "batch", "name": "b-ov", "overlap": 2},
                     {"scope": "batch", "name": "b-ov-later", "overlap": 4},
                     {"scope": "domain", "name": "d-ov", "overlap": 3}):
            self.assertIn(want, rules)
        self.assertEqual(rules, sorted(rules, key=lambda r: (r["scope"], r["name"])))
        self.assertError(self.req("GET", "/v1/overlap", token=self.pipe), 403, "forbidden")

    # ---- errors: bodies ----

    def test_malformed_json(self):
        with self.unchanged():
            e = self.assertError(self.req("POST", "/v1/items", raw='{"prompt": "x",',
                                          token=self.pipe), 400, "malformed_json")
            self.assertRegex(e["message"], r"line 1\b")
            self.assertRegex(e["message"], r"column \d+")
            e = self.assertError(self.req("POST", "/v1/items",
                                          raw='{\n  "prompt": "a",\n  "response": \n}',
                                          token=self.pipe), 400, "malformed_json")
            self.assertRegex(e["message"], r"line 4\b")
            self.assertRegex(e["message"], r"column 1\b")
            self.assertError(self.req("POST", "/v1/items", raw='{"prompt":"a","prompt":"b",'
                                      '"response":"c"}', token=self.pipe), 400, "malformed_json")
            self.assertError(self.req("POST", "/v1/items", raw='{"items": [' + json.dumps(item(1))
                                      + ", ]}", token=self.pipe), 400, "malformed_json")

    def test_invalid_utf8_json(self):
        with self.unchanged():
            for raw in (b'{"prompt": "\xff", "response": "x"}',
                        b'{"prompt": "ok", "response": "\xc3\x28"}',
                        b'{"items": [{"prompt": "a", "response": "b"}, '
                        b'{"prompt": "\xed\xa0\x80", "response": "b"}]}'):
                with self.subTest(raw=raw):
                    self.assertError(self.req("POST", "/v1/items", raw=raw, token=self.pipe),
                                     400, "invalid_utf8")

    def test_nul_in_string_is_refused(self):
        with self.unchanged():
            st, _, body = self.req("POST", "/v1/items", raw='{"prompt": "a\\u0000b", '
                                   '"response": "x"}', token=self.pipe)
            self.assertEqual(st, 400, body)

    def test_empty_body(self):
        with self.unchanged():
            self.assertError(self.req("POST", "/v1/items", raw=b"", token=self.pipe),
                             400, "empty_body")
            # No body at all (no Content-Length) with a JSON type.
            self.assertError(self.req("POST", "/v1/items", token=self.pipe,
                                      headers={"Content-Type": "application/json"}),
                             400, "empty_body")

    def test_unsupported_media_type(self):
        with self.unchanged():
            for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                       None):
                with self.subTest(ct=ct):
                    self.assertError(self.req("POST", "/v1/items", raw=json.dumps(item(1)),
                                              token=self.pipe, headers={"Content-Type": ct}),
                                     415, "unsupported_media_type")

    def test_invalid_body(self):
        with self.unchanged():
            for raw in ("[" + json.dumps(item(1)) + "]",
                        '{"items": {}}',
                        '{"items": "x"}',
                        '{"items": [' + json.dumps(item(1)) + '], "batch": "x"}'):
                with self.subTest(raw=raw):
                    self.assertError(self.req("POST", "/v1/items", raw=raw, token=self.pipe),
                                     422, "invalid_body")

    def test_no_items(self):
        with self.unchanged():
            self.assertError(self.req("POST", "/v1/items", {"items": []}, token=self.pipe),
                             422, "no_items")
            self.assertError(self.req("POST", "/v1/items", raw=b"\n \n\r\n", headers=NDJSON,
                                      token=self.pipe), 422, "no_items")
            st, _, body = self.req("POST", "/v1/items", raw=b"", headers=NDJSON, token=self.pipe)
            self.assertIn(st, (400, 422), body)
            self.assertIn(body["error"]["code"], ("empty_body", "no_items"))

    def check_invalid_item(self, payload, index, field, headers=None, raw=None):
        with self.unchanged():
            resp = self.req("POST", "/v1/items", payload, token=self.pipe, headers=headers,
                            raw=raw)
            e = self.assertError(resp, 422, "invalid_item")
        self.assertEqual(e.get("index"), index, e)
        self.assertEqual(e.get("field"), field, e)
        return e

    def test_invalid_items(self):
        cases = [
            ({"response": "r"}, "prompt"),
            ({"prompt": 1, "response": "r"}, "prompt"),
            ({"prompt": None, "response": "r"}, "prompt"),
            ({"prompt": "p"}, "response"),
            ({"prompt": "p", "response": 5}, "response"),
            ({"prompt": "p", "response": ["a"]}, "response"),
            ({"prompt": "p", "response": "a", "responses": ["a", "b"]}, "responses"),
            ({"prompt": "p", "responses": ["a"]}, "responses"),
            ({"prompt": "p", "responses": ["a", "b", "c"]}, "responses"),
            ({"prompt": "p", "responses": ["a", 2]}, "responses"),
            ({"prompt": "p", "responses": "ab"}, "responses"),
            ({"prompt": "p", "response": "r", "colour": "red"}, "colour"),
            ({"prompt": "p", "response": "r", "id": "x"}, "id"),
            ({"prompt": "p", "response": "r", "status": "auto"}, "status"),
        ]
        for obj, field in cases:
            with self.subTest(obj=obj):
                self.check_invalid_item(obj, 0, field)

    def test_invalid_optional_field_types(self):
        cases = {
            "external_id": [7, "", "x" * 257, ["a"], {"a": 1}, True],
            "domain": [7, "", "d" * 129, ["a"], {"a": 1}, False],
            "batch": [7, "", "b" * 129, ["a"], {"a": 1}, 1.5],
            "metadata": ["text", [1, 2], 3, True, 1.5],
            "priority": ["1", 1.5, True, [1], {"p": 1}, 10 ** 10, -(10 ** 10)],
        }
        for field, values in cases.items():
            for v in values:
                with self.subTest(field=field, value=v):
                    self.check_invalid_item(item(1, **{field: v}), 0, field)

    def test_optional_field_limits_accepted(self):
        body = self.post(item(1, external_id="x" * 256, domain="d" * 128, batch="b" * 128,
                              priority=10 ** 9, metadata={}))
        got = self.assertOk(self.req("GET", "/v1/items/" + body["id"], token=self.pipe))
        self.assertEqual(got["external_id"], "x" * 256)
        self.assertEqual(got["domain"], "d" * 128)
        self.assertEqual(got["priority"], 10 ** 9)
        self.post(item(2, priority=-(10 ** 9)))

    def test_invalid_item_in_batch_is_all_or_nothing(self):
        items = [item(0, batch="b-aon", external_id="aon-0"), item(1, batch="b-aon"),
                 {"prompt": "p", "response": "r", "priority": "high"}, item(3)]
        self.check_invalid_item({"items": items}, 2, "priority")
        self.check_invalid_item({"items": [item(0), "not an object"]}, 1, "item")
        self.check_invalid_item({"items": [item(0), item(1), item(2, extra=1)]}, 2, "extra")
        rows = self.d.sql("SELECT count(*) FROM items WHERE batch = 'b-aon' "
                          "OR external_id = 'aon-0'")
        self.assertEqual(rows[0][0], 0)
        # and the valid part alone is still new afterwards
        body = self.post({"items": items[:2]})
        self.assertFalse(any(a.get("duplicate") for a in body["items"]))

    def test_ndjson_bad_line(self):
        good = [json.dumps(item(i, batch="b-ndbad")) for i in range(4)]
        with self.unchanged():
            raw = "\n".join(good[:2] + ['{"prompt": "x", "response": }'] + good[2:]) + "\n"
            e = self.assertError(self.req("POST", "/v1/items", raw=raw, headers=NDJSON,
                                          token=self.pipe), 400, "malformed_json")
            self.assertRegex(e["message"], r"line 3\b")
            # a blank line still counts as a line
            raw = "\n".join([good[0], "", good[1], "{oops"]) + "\n"
            e = self.assertError(self.req("POST", "/v1/items", raw=raw, headers=NDJSON,
                                          token=self.pipe), 400, "malformed_json")
            self.assertRegex(e["message"], r"line 4\b")
            # two objects on one line
            raw = good[0] + "\n" + good[1] + " " + good[2] + "\n"
            e = self.assertError(self.req("POST", "/v1/items", raw=raw, headers=NDJSON,
                                          token=self.pipe), 400, "malformed_json")
            self.assertRegex(e["message"], r"line 2\b")
        rows = self.d.sql("SELECT count(*) FROM items WHERE batch = 'b-ndbad'")
        self.assertEqual(rows[0][0], 0)

    def test_ndjson_invalid_utf8(self):
        good = json.dumps(item(1, batch="b-ndutf")).encode()
        with self.unchanged():
            raw = good + b"\n" + b'{"prompt": "\xfe\xff", "response": "x"}' + b"\n" + good + b"\n"
            e = self.assertError(self.req("POST", "/v1/items", raw=raw, headers=NDJSON,
                                          token=self.pipe), 400, "invalid_utf8")
            self.assertRegex(e["message"], r"line 2\b")

    def test_ndjson_invalid_item(self):
        lines = [json.dumps(item(0)), json.dumps({"prompt": "p"}), json.dumps(item(2))]
        self.check_invalid_item(None, 1, "response", headers=NDJSON, raw="\n".join(lines))
        lines[1] = "[1, 2]"
        self.check_invalid_item(None, 1, "item", headers=NDJSON, raw="\n".join(lines))
        lines[1] = '"just a string"'
        self.check_invalid_item(None, 1, "item", headers=NDJSON, raw="\n".join(lines))

    # ---- errors: auth, roles, routes ----

    def test_unauthorized(self):
        bad = [
            None,
            "Basic " + "dXNlcjpwYXNz",
            "Bearer",
            "Bearer ",
            "Bearer not-a-token",
            "Bearer " + self.pipe + "x",
            "Bearer " + self.pipe[:-1],
            self.pipe,
            "Token " + self.pipe,
        ]
        with self.unchanged():
            for h in bad:
                with self.subTest(auth=h):
                    hdrs = {"Authorization": h} if h is not None else {}
                    st, headers, body = resp = self.req("POST", "/v1/items", item(1), headers=hdrs)
                    self.assertError(resp, 401, "unauthorized")
                    self.assertTrue(headers.get("WWW-Authenticate", "").startswith("Bearer"))
                    self.assertError(self.req("GET", "/v1/status", headers=hdrs),
                                     401, "unauthorized")
            # authentication comes before the body is looked at
            self.assertError(self.req("POST", "/v1/items", raw="{oops",
                                      headers={"Authorization": "Bearer nope"}),
                             401, "unauthorized")

    def test_forbidden_by_role(self):
        with self.unchanged():
            self.assertError(self.req("POST", "/v1/items", item(1), token=self.rater),
                             403, "forbidden")
            self.assertError(self.req("POST", "/v1/items", {"items": [item(1)]},
                                      token=self.rater), 403, "forbidden")
            for path in ("/v1/status", "/metrics", "/v1/layers"):
                with self.subTest(path=path):
                    self.assertError(self.req("GET", path, token=self.pipe), 403, "forbidden")
                    self.assertError(self.req("GET", path, token=self.rater), 403, "forbidden")

    def test_revoke_takes_effect_immediately(self):
        # On SQLite the daemon keeps verified tokens beside the stamp file
        # that revocations change (README, Keys), made with the database's
        # mode; on PostgreSQL it keeps none.
        if rungtest.PG_BASE is None:
            stamp = os.stat(self.d.db + "-keys")
            self.assertEqual(stat.S_IMODE(stamp.st_mode),
                             stat.S_IMODE(os.stat(self.d.db).st_mode))
        tok = self.d.key("pipeline", "revokee")
        made = self.post(item(1), token=tok)
        self.assertOk(self.req("GET", "/v1/items/" + made["id"], token=tok))
        conn = self.d.connection()  # a keep-alive connection opened before the revoke
        try:
            self.assertOk(self.req("GET", "/v1/items?limit=1", token=tok, conn=conn))
            p = self.d.revoke("revokee")
            self.assertEqual(p.returncode, 0)
            with self.unchanged():
                self.assertError(self.req("POST", "/v1/items", item(2), token=tok, conn=conn),
                                 401, "unauthorized")
                self.assertError(self.req("GET", "/v1/items/" + made["id"], token=tok),
                                 401, "unauthorized")
        finally:
            conn.close()
        listing = self.d.keys_list()
        line = [ln for ln in listing.splitlines() if ln.split()[:1] == ["revokee"]]
        self.assertEqual(len(line), 1, listing)
        self.assertIn("revoked", line[0])
        self.assertNotIn(tok, listing)
        # the item itself stays
        self.assertOk(self.req("GET", "/v1/items/" + made["id"], token=self.admin))
        # a second revoke of the same name fails
        p = rungtest.run_cli(RUNGD, "keys", "revoke", "--db", self.d.db, "revokee")
        self.assertNotEqual(p.returncode, 0)

    def test_keys_cli(self):
        p = rungtest.run_cli(RUNGD, "keys", "create", "--db", self.d.db, "--role", "pipeline",
                             "--name", "pipe1")
        self.assertNotEqual(p.returncode, 0, "a duplicate key name was accepted")
        p = rungtest.run_cli(RUNGD, "keys", "create", "--db", self.d.db, "--role", "root",
                             "--name", "someone")
        self.assertNotEqual(p.returncode, 0, "a bad role was accepted")
        listing = self.d.keys_list()
        for name in ("admin1", "pipe1", "pipe2", "rater1"):
            self.assertIn(name, listing)
        for tok in (self.admin, self.pipe, self.pipe2, self.rater):
            self.assertNotIn(tok, listing)

    def test_not_found_routes(self):
        with self.unchanged():
            for method, path in (("GET", "/v1/nope"), ("POST", "/v1/nope"), ("GET", "/v1"),
                                 ("GET", "/v1/items/a/b"), ("DELETE", "/nope"),
                                 ("GET", "/v1/items/" + "x" * 65), ("GET", "/no-such-file.html"),
                                 ("GET", "/../etc/passwd")):
                with self.subTest(method=method, path=path):
                    self.assertError(self.req(method, path, token=self.admin), 404, "not_found")
            self.assertError(self.req("GET", "/v1/nope"), 404, "not_found")

    def test_method_not_allowed(self):
        cases = [
            ("DELETE", "/v1/items", {"GET", "POST"}),
            ("PUT", "/v1/items", {"GET", "POST"}),
            ("PATCH", "/v1/items/abc", {"GET", "DELETE"}),
            ("PUT", "/v1/items/abc", {"GET", "DELETE"}),
            ("POST", "/healthz", {"GET"}),
            ("POST", "/v1/status", {"GET"}),
            ("DELETE", "/metrics", {"GET"}),
            ("DELETE", "/v1/layers", {"GET", "POST"}),
        ]
        with self.unchanged():
            for method, path, allow in cases:
                with self.subTest(method=method, path=path):
                    st, headers, body = resp = self.req(method, path, token=self.admin)
                    self.assertError(resp, 405, "method_not_allowed")
                    got = {m.strip() for m in (headers.get("Allow") or "").split(",") if m.strip()}
                    self.assertEqual(got, allow)

    def test_security_headers_everywhere(self):
        for method, path, tok in (("GET", "/healthz", None), ("GET", "/v1/status", None),
                                  ("GET", "/v1/status", self.pipe), ("GET", "/v1/nope", None),
                                  ("DELETE", "/v1/items", None), ("GET", "/", None),
                                  ("GET", "/metrics", self.admin),
                                  ("GET", "/v1/items?limit=0", self.admin)):
            with self.subTest(path=path):
                _, headers, _ = self.req(method, path, token=tok)
                self.assertSecurityHeaders(headers)

    def test_keep_alive_connection_serves_many(self):
        conn = self.d.connection()
        try:
            for i in range(20):
                self.assertOk(self.req("POST", "/v1/items", item(i), token=self.pipe, conn=conn),
                              201)
                self.assertError(self.req("POST", "/v1/items", raw="{", token=self.pipe,
                                          conn=conn), 400, "malformed_json")
                self.assertOk(self.req("GET", "/healthz", conn=conn))
        finally:
            conn.close()


class LimitsTest(ApiCase):
    """A daemon with --max-body 2048 --max-items 5."""

    MAX_BODY = 2048

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(RUNGD, ["--max-body", str(cls.MAX_BODY), "--max-items", "5"])
        cls.addClassCleanup(cls.d.cleanup)  # also when setUpClass fails
        cls.admin = cls.d.key("admin", "admin1")
        cls.pipe = cls.d.key("pipeline", "pipe1")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
        finally:
            cls.d.cleanup()

    def sized_item(self, size):
        """An item whose JSON encoding is exactly size bytes."""
        base = json.dumps({"prompt": "", "response": "r"})
        return json.dumps({"prompt": "p" * (size - len(base)), "response": "r"}).encode()

    def test_too_many_items(self):
        with self.unchanged():
            self.assertError(self.req("POST", "/v1/items", {"items": [item(i) for i in range(6)]},
                                      token=self.pipe), 422, "too_many_items")
            raw = "\n".join(json.dumps(item(i)) for i in range(6))
            self.assertError(self.req("POST", "/v1/items", raw=raw, headers=NDJSON,
                                      token=self.pipe), 422, "too_many_items")
        body = self.assertOk(self.req("POST", "/v1/items", {"items": [item(i) for i in range(5)]},
                                      token=self.pipe), 201)
        self.assertEqual(len(body["items"]), 5)

    def test_body_at_cap_is_accepted(self):
        raw = self.sized_item(self.MAX_BODY)
        self.assertEqual(len(raw), self.MAX_BODY)
        self.assertOk(self.req("POST", "/v1/items", raw=raw, token=self.pipe), 201)

    def test_body_too_large_by_content_length(self):
        with self.unchanged():
            # Only the headers are sent: the answer must come before the body.
            for n in (self.MAX_BODY + 1, 10 * self.MAX_BODY, 1 << 40):
                with self.subTest(n=n):
                    resp = self.d.headers_only("POST", "/v1/items", {
                        "Content-Type": "application/json", "Content-Length": str(n),
                        "Authorization": "Bearer " + self.pipe})
                    self.assertError(resp, 413, "body_too_large")
            # With the body sent too.
            raw = self.sized_item(self.MAX_BODY + 1)
            try:
                resp = self.req("POST", "/v1/items", raw=raw, token=self.pipe)
            except (ConnectionResetError, BrokenPipeError):
                resp = None  # the server may close before reading it all
            if resp is not None:
                self.assertError(resp, 413, "body_too_large")

    def test_body_too_large_chunked(self):
        raw = self.sized_item(self.MAX_BODY + 100)
        with self.unchanged():
            chunks = [raw[i:i + 500] for i in range(0, len(raw), 500)]
            self.assertError(self.req("POST", "/v1/items", chunks=chunks, token=self.pipe),
                             413, "body_too_large")
            raw = ("\n".join(json.dumps(item(i)) for i in range(3)) + "\n").encode()
            raw += b" " * (self.MAX_BODY + 10 - len(raw))
            self.assertError(self.req("POST", "/v1/items", chunks=[raw[:1000], raw[1000:]],
                                      token=self.pipe, headers=NDJSON), 413, "body_too_large")
        # Far past the cap the server may drop the connection; it must stay up.
        try:
            st, _, _ = self.req("POST", "/v1/items", chunks=[b" " * 4096] * 8, token=self.pipe)
            self.assertEqual(st, 413)
        except (ConnectionError, OSError, Exception) as e:  # noqa: B014
            if isinstance(e, AssertionError):
                raise
        self.assertOk(self.req("GET", "/healthz"))

    def test_chunked_under_cap_is_accepted(self):
        raw = self.sized_item(self.MAX_BODY - 10)
        before = self.d.item_count()
        self.assertOk(self.req("POST", "/v1/items", chunks=[raw[:700], raw[700:1400], raw[1400:]],
                               token=self.pipe), 201)
        self.assertEqual(self.d.item_count(), before + 1)


class LogTest(ApiCase):
    def test_log_lines(self):
        d = self.d = Daemon(RUNGD)
        try:
            self.admin = d.key("admin", "log-admin")
            pipe = d.key("pipeline", "log-pipe")
            rater = d.key("rater", "log-rater")
            bogus = "rung_" + "q" * 40
            made = self.assertOk(self.req("POST", "/v1/items", item(1), token=pipe), 201)
            marker = "/v1/items/" + made["id"]
            self.assertOk(self.req("GET", marker, token=pipe))
            self.req("GET", "/healthz")
            self.req("GET", "/v1/status", token=bogus)
            self.req("GET", "/v1/status", headers={"Authorization": "Bearer " + pipe + "zz"})
            self.req("POST", "/v1/items", item(2), token=rater)
            self.req("POST", "/v1/items", raw="{bad", token=pipe)
            self.req("GET", "/v1/nope?token=" + pipe)
            self.req("DELETE", "/v1/items", token=pipe)
            self.req("GET", "/metrics", token=self.admin)
            last = "/v1/items/log-last"
            self.req("GET", last, token=self.admin)
            self.assertIsNotNone(d.wait_log(lambda e: e.get("path") == last),
                                 "no log line for the last request")
            d.stop()
            entries = d.log_lines()
            self.assertGreaterEqual(len(entries), 11)
            for e in entries:
                self.assertEqual(set(e) & LOG_KEYS, LOG_KEYS, e)
                self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
                self.assertIsInstance(e["status"], int)
                self.assertIsInstance(e["us"], int)
                self.assertGreaterEqual(e["us"], 0)
                self.assertTrue(e["key"] is None or isinstance(e["key"], str))
            # exactly one line per request, with the key's name
            mine = [e for e in entries if e["path"] == marker]
            self.assertEqual(len(mine), 1, mine)
            self.assertEqual((mine[0]["method"], mine[0]["status"], mine[0]["key"]),
                             ("GET", 200, "log-pipe"))
            posted = [e for e in entries if e["method"] == "POST" and e["status"] == 201]
            self.assertEqual([e["key"] for e in posted], ["log-pipe"])
            statuses = sorted(e["status"] for e in entries if e["path"] == "/v1/status")
            self.assertEqual(statuses, [401, 401])
            self.assertTrue(all(e["key"] is None for e in entries
                                if e["path"] == "/v1/status"))
            forbidden = [e for e in entries if e["status"] == 403]
            self.assertEqual([e["key"] for e in forbidden], ["log-rater"])
            health = [e for e in entries if e["path"] == "/healthz"]
            self.assertEqual(len(health), 1)
            self.assertIsNone(health[0]["key"])
            # never a token, valid or not, on stdout or stderr
            everything = "\n".join(d.stdout_lines() + d.stderr_lines())
            for tok in (self.admin, pipe, rater, bogus, pipe + "zz"):
                self.assertNotIn(tok, everything)
            # a token's secret part either
            for tok in (self.admin, pipe, rater):
                self.assertNotIn(tok[-20:], everything)
            # stderr: JSON info lines
            for line in d.stderr_lines():
                self.assertIsInstance(json.loads(line), dict, line)
        finally:
            d.cleanup()


class LifecycleTest(ApiCase):
    """Shutdown, restart, kill -9 durability, schema versions."""

    def inflight(self, d, token, payload):
        """Opens a raw connection holding a POST /v1/items in flight: headers
        and 10 bytes of the body sent, and the daemon has seen the request."""
        s = socket.create_connection(("127.0.0.1", d.port), timeout=rungtest.HTTP_TIMEOUT)
        s.sendall(("POST /v1/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                   "\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
                   % (token, len(payload))).encode() + payload[:10])
        d.wait_inflight(1, self.admin)
        return s

    def sigterm_and_wait_for_shutdown(self, d):
        d.send_signal(signal.SIGTERM)
        d.wait_stderr("shutting down")
        rungtest.until(d.refuses_connections, "the listening socket to close")

    def finish_inflight(self, s, payload):
        s.sendall(payload[10:])
        reply = b""
        try:
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        finally:
            s.close()
        return reply

    def test_sigterm_clean_shutdown_and_restart(self):
        d = self.d = Daemon(RUNGD)
        try:
            self.admin = d.key("admin", "adm")
            pipe = d.key("pipeline", "pipe")
            ids = [a["id"] for a in self.assertOk(self.req(
                "POST", "/v1/items", {"items": [item(i, external_id="e%d" % i)
                                                for i in range(10)]}, token=pipe), 201)["items"]]
            # An in-flight request: headers and part of the body sent before SIGTERM.
            payload = json.dumps(item(42, external_id="inflight")).encode()
            s = self.inflight(d, pipe, payload)
            self.sigterm_and_wait_for_shutdown(d)
            self.assertTrue(d.running(), "rungd exited with a request in flight")
            reply = self.finish_inflight(s, payload)
            self.assertTrue(reply.startswith(b"HTTP/1.1 201"), reply[:300])
            inflight_id = json.loads(reply.split(b"\r\n\r\n", 1)[1])["id"]
            rc = d.wait()
            self.assertEqual(rc, 0, "\n".join(d.stderr_lines()))
            err = d.stderr_lines()
            self.assertTrue(any('"msg":"stopped cleanly"' in line for line in err), err)
            # the database was closed cleanly (SQLite: the WAL is checkpointed)
            if rungtest.backend() == "sqlite":
                self.assertEqual(d.sql("PRAGMA integrity_check"), [("ok",)])
            self.assertEqual(d.sql("SELECT count(*) FROM items"), [(11,)])
            # restart keeps keys and items
            d.start()
            for i in ids + [inflight_id]:
                self.assertOk(self.req("GET", "/v1/items/" + i, token=pipe))
            again = self.assertOk(self.req("POST", "/v1/items", item(0, external_id="e0"),
                                           token=pipe), 200)
            self.assertEqual(again["id"], ids[0])
            status = self.assertOk(self.req("GET", "/v1/status", token=self.admin))
            self.assertEqual(status["items"], 11)
            d.stop(signal.SIGINT)  # SIGINT stops cleanly too
            self.assertTrue(any("stopped cleanly" in line for line in d.stderr_lines(False)))
        finally:
            d.cleanup()

    def test_no_new_connections_during_shutdown(self):
        """After SIGTERM, while an in-flight request finishes, a new client
        must be refused (or closed) at once, not left hanging."""
        d = self.d = Daemon(RUNGD)
        try:
            self.admin = d.key("admin", "adm")
            pipe = d.key("pipeline", "pipe")
            payload = json.dumps(item(1)).encode()
            s = self.inflight(d, pipe, payload)
            self.sigterm_and_wait_for_shutdown(d)
            outcome = None
            t0 = time.monotonic()
            try:
                st, _, _ = d.request("GET", "/healthz", timeout=3)
                outcome = "served %d" % st
            except ConnectionRefusedError:
                outcome = "refused"
            except (ConnectionError, http.client.RemoteDisconnected):
                outcome = "closed"
            except (socket.timeout, TimeoutError):
                outcome = "hung for %.1fs" % (time.monotonic() - t0)
            reply = self.finish_inflight(s, payload)
            self.assertTrue(reply.startswith(b"HTTP/1.1 201"), reply[:300])
            self.assertEqual(d.wait(), 0)
            self.assertIn(outcome, ("refused", "closed"),
                          "a new connection during shutdown was %s" % outcome)
        finally:
            d.cleanup()

    def test_kill9_durability(self):
        d = self.d = Daemon(RUNGD)
        try:
            self.admin = d.key("admin", "adm")
            tokens = [d.key("pipeline", "ingest%d" % t) for t in range(4)]
            acked = [[] for _ in tokens]
            failures = []
            stop = threading.Event()

            def worker(t):
                conn = d.connection()
                n = 0
                try:
                    while not stop.is_set():
                        batch = [item(n + i, batch="dur", external_id="w%d-%d" % (t, n + i))
                                 for i in range(3)]
                        n += 3
                        st, _, body = d.request("POST", "/v1/items", {"items": batch},
                                                token=tokens[t], conn=conn)
                        if st != 201:
                            failures.append((st, body))
                            return
                        acked[t].extend(a["id"] for a in body["items"])
                except Exception:
                    pass  # the daemon died under us: expected
                finally:
                    conn.close()

            threads = [threading.Thread(target=worker, args=(t,)) for t in range(len(tokens))]
            for th in threads:
                th.start()
            t0 = time.monotonic()  # at least 1.5 s of load and 60 acknowledged items
            rungtest.until(lambda: failures or (time.monotonic() - t0 > 1.5
                                                and sum(map(len, acked)) >= 60),
                           "60 acknowledged items", timeout=60)
            d.kill9()
            stop.set()
            for th in threads:
                th.join(rungtest.HTTP_TIMEOUT)
            self.assertEqual(failures, [])
            ids = [i for a in acked for i in a]
            self.assertGreaterEqual(len(ids), 60)
            self.assertEqual(len(ids), len(set(ids)))

            d.start()
            if rungtest.backend() == "sqlite":
                self.assertEqual(d.sql("PRAGMA integrity_check"), [("ok",)])
            stored = {r[0] for r in d.sql("SELECT id FROM items")}
            missing = [i for i in ids if i not in stored]
            self.assertEqual(missing, [], "%d of %d acknowledged items lost"
                             % (len(missing), len(ids)))
            for i in ids[:: max(1, len(ids) // 20)]:
                self.assertOk(self.req("GET", "/v1/items/" + i, token=self.admin))
            status = self.assertOk(self.req("GET", "/v1/status", token=self.admin))
            self.assertEqual(status["items"], len(stored))
            d.stop()
        finally:
            d.cleanup()

    def run_serve(self, db):
        p = subprocess.Popen([RUNGD, "serve", "--db", db, "--listen", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=rungtest.START_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail("rungd kept running on a database it should refuse: %r" % out[:200])
        return p.returncode, out.decode(), err.decode()

    @sqlite_only("a SQLite file's PRAGMA user_version; PostgreSQL keeps its own version table")
    def test_newer_schema_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "future.db")
            con = sqlite3.connect(db)
            con.execute("CREATE TABLE future_things(x)")
            con.execute("INSERT INTO future_things VALUES (1)")
            con.execute("PRAGMA user_version = 99")
            con.commit()
            con.close()
            rc, out, err = self.run_serve(db)
            self.assertNotEqual(rc, 0)
            self.assertNotIn("listening on", out)
            self.assertIn("99", err)
            p = rungtest.run_cli(RUNGD, "keys", "create", "--db", db, "--role", "admin",
                                 "--name", "x")
            self.assertNotEqual(p.returncode, 0)
            con = sqlite3.connect(db)
            try:
                self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 99)
                tables = {r[0] for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                self.assertEqual(tables, {"future_things"})
                self.assertEqual(con.execute("SELECT x FROM future_things").fetchall(), [(1,)])
            finally:
                con.close()

    @sqlite_only("a SQLite file made by hand; PostgreSQL migrations have their own tests")
    def test_failed_migration_changes_nothing(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "clash.db")
            con = sqlite3.connect(db)
            con.execute("CREATE TABLE items(x)")  # clashes with migration 001
            con.execute("INSERT INTO items VALUES ('mine')")
            con.commit()
            con.close()
            rc, out, err = self.run_serve(db)
            self.assertNotEqual(rc, 0)
            self.assertNotIn("listening on", out)
            con = sqlite3.connect(db)
            try:
                self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 0)
                tables = {r[0] for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                self.assertEqual(tables, {"items"})
                self.assertEqual(con.execute("SELECT x FROM items").fetchall(), [("mine",)])
            finally:
                con.close()


class StoreErrorTest(ApiCase):
    """A failing database is a 5xx that says what failed: never a 404 or a
    partial 200."""

    def test_database_errors_are_not_not_found(self):
        d = self.d = Daemon(RUNGD)
        try:
            self.admin = d.key("admin", "adm")
            pipe = d.key("pipeline", "pipe")
            item_id = self.assertOk(self.req("POST", "/v1/items", item(1), token=pipe), 201)["id"]
            self.assertOk(self.req("GET", "/v1/items/" + item_id, token=pipe))
            self.assertError(self.req("GET", "/v1/items/nosuch", token=pipe), 404, "not_found")
            # Another process breaks the database under the daemon. On
            # PostgreSQL the DROP (which locks every table whose foreign
            # keys it drops) can meet a background transaction of the
            # daemon's in a deadlock, and the server aborts the DROP: it
            # is tried again then, as an admin would.
            drop = "DROP TABLE items" + (" CASCADE" if rungtest.backend() == "postgresql" else "")
            for attempt in range(5):
                try:
                    d.sql(drop)
                    break
                except rungtest.DaemonError as e:
                    if "deadlock detected" not in str(e) or attempt == 4:
                        raise
                    time.sleep(0.2)
            for path, token, what in (("/v1/items/" + item_id, pipe, "reading the item"),
                                      ("/v1/items", pipe, "listing the items"),
                                      ("/v1/status", self.admin, "counting the items")):
                err = self.assertError(self.req("GET", path, token=token), 500, "storage_error")
                self.assertIn(what, err["message"])
            d.stop()
        finally:
            d.cleanup()


class ShutdownWhileSuspendedTest(unittest.TestCase):
    """SIGTERM while a write waits on a busy database: the request still
    gets its answer and the daemon exits cleanly (libmicrohttpd must not be
    stopped with a suspended request)."""

    def test_sigterm_with_a_write_waiting_on_the_database(self):
        d = Daemon()
        try:
            pipe = d.key("pipeline", "p")
            admin = d.key("admin", "a")
            lock = rungtest.WriteLock(d.db)         # the writer must wait for us
            self.addCleanup(lock.release)
            result = {}

            def post():
                result["r"] = d.request("POST", "/v1/items", {"prompt": "p", "response": "r"},
                                        token=pipe)
            th = threading.Thread(target=post)
            th.start()
            d.wait_inflight(1, admin)
            d.send_signal(signal.SIGTERM)
            d.wait_stderr("shutting down")
            self.assertTrue(d.running())            # waiting for the suspended write
            lock.release()
            th.join(30)
            self.assertEqual(d.wait(), 0)
            st, _, body = result["r"]
            self.assertEqual(st, 201, body)
            self.assertEqual(d.sql("SELECT count(*) FROM items WHERE id = ?", (body["id"],)),
                             [(1,)])
            self.assertFalse(any("Fatal error" in l for l in d.stderr_lines()))
        finally:
            d.cleanup()


    @sqlite_only("the writer's 10 s SQLite busy timeout is what fails the waiting writes")
    def test_sigterm_past_the_grace_period(self):
        # The database stays locked past the 10 s grace: the first write
        # fails after the writer's 10 s busy timeout, the second (queued
        # behind it) after another 10 s. Both are answered with a JSON 5xx,
        # nothing is stored, and only then does the daemon stop, cleanly.
        d = Daemon()
        try:
            pipe = d.key("pipeline", "p")
            admin = d.key("admin", "a")
            con = sqlite3.connect(d.db, timeout=30, isolation_level=None)
            con.execute("BEGIN IMMEDIATE")
            results = []

            def post():
                results.append(d.request("POST", "/v1/items", {"prompt": "p", "response": "r"},
                                         token=pipe, timeout=60))
            threads = [threading.Thread(target=post) for _ in range(2)]
            threads[0].start()
            d.wait_inflight(1, admin)   # the first is queued before the second
            threads[1].start()
            d.wait_inflight(2, admin)
            d.send_signal(signal.SIGTERM)
            for th in threads:
                th.join(60)
            con.execute("ROLLBACK")
            con.close()
            self.assertEqual(d.wait(), 0)
            self.assertEqual(len(results), 2)
            for st, _, body in results:
                self.assertGreaterEqual(st, 500)
                self.assertIn("error", body)
            self.assertEqual(d.sql("SELECT count(*) FROM items"), [(0,)])
            self.assertFalse(any("Fatal error" in l for l in d.stderr_lines()))
        finally:
            d.cleanup()


class EdgeTest(unittest.TestCase):
    """Bytes a client controls that must not break the JSON of a reply or a
    log line, and bodies sent where none is taken."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.addClassCleanup(cls.d.cleanup)  # also when setUpClass fails
        cls.pipe = cls.d.key("pipeline", "edge-pipe")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
        finally:
            cls.d.cleanup()

    def test_invalid_utf8_in_path_is_a_json_404_and_logged(self):
        for path in ("/v1/%FF", "/v1/items/%FF%FE", "/v1/items/%C3"):
            st, h, body = self.d.request("GET", path, token=self.pipe)
            self.assertEqual(st, 404, path)
            self.assertEqual(body["error"]["code"], "not_found")
            self.assertIn("?", body["error"]["message"])
        st, h, body = self.d.request("PUT", "/v1/items/%C3", token=self.pipe)
        self.assertEqual((st, body["error"]["code"]), (405, "method_not_allowed"))
        line = self.d.wait_log(lambda l: l.get("path", "").startswith("/v1/items/?") and
                               l.get("method") == "PUT")
        self.assertIsNotNone(line, "no log line for a request with an invalid UTF-8 path")
        self.assertEqual(line["status"], 405)

    def test_body_refused_where_none_is_taken(self):
        # Refused on the headers, before any of the body is read.
        for path in ("/healthz", "/", "/v1/status"):
            st, _, body = self.d.headers_only("GET", path, {"Content-Length": "100000"})
            self.assertEqual((st, body["error"]["code"]), (413, "body_not_allowed"), path)
        st, _, body = self.d.headers_only("GET", "/healthz", {"Transfer-Encoding": "chunked"})
        self.assertEqual((st, body["error"]["code"]), (413, "body_not_allowed"))
        st, _, body = self.d.headers_only("POST", "/v1/tasks/1/release",
                                          {"Content-Length": "5000"})
        self.assertEqual((st, body["error"]["code"]), (413, "body_not_allowed"))
        # Without a body the same requests are answered as usual.
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)


if __name__ == "__main__":
    if not os.access(RUNGD, os.X_OK):
        sys.stderr.write("test_api.py: no rungd binary at %s (set RUNGD)\n" % RUNGD)
        sys.exit(2)
    unittest.main(verbosity=2)
