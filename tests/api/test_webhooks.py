"""API tests for webhooks (issue 15 item 6): a pipeline key registers a
URL; each of its items' verdicts is posted there, signed with HMAC-SHA-256
over the body, retried with backoff until a 2xx, in order per hook, at
least once, across a stop and a crash of the daemon, whichever way the
verdict came (labels, the layer at ingest or on rescore, a roll-up of
sub-questions, gold, an undo). The receiver is a real HTTP
server on loopback in this process that can fail on purpose (500, no
answer within the daemon's timeout, a dropped connection); the daemon is
a real rungd (rungtest.DaemonCase)."""

import hashlib
import hmac
import http.server
import json
import os
import socket
import sqlite3
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rungtest import DaemonCase, sqlite_only, until  # noqa: E402
from test_layer import CLEAR_PAIR, write_trl  # noqa: E402
from test_openapi import Validator, load_doc  # noqa: E402
from test_subq import WRONG, lines, math_pair  # noqa: E402

DOC = load_doc()

# One attempt's limit in these tests: long enough that a loaded machine
# (ASan, two cores, other suites) answers every scripted status well within
# it, so no attempt meant to succeed times out and is sent again.
TIMEOUT_MS = 4000
DELIVERY_ID = r"^[0-9a-f]{16}-[0-9]+$"


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers
    each with the next action of its script ("hang", "close", or a status
    code), then 200 once the script is used up (or always `after`)."""

    def __init__(self, script=(), port=0, after=200, hang_s=TIMEOUT_MS / 1000 + 3):
        self.script = list(script)
        self.hang_s = hang_s  # a "hang" answers nothing this long, then drops the connection
        self.after = after
        self.got = []  # dicts: delivery, attempt, sig, body, json, action, path
        self.cv = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.cv:
                    action = outer.script.pop(0) if outer.script else outer.after
                    outer.got.append({
                        "path": self.path,
                        "delivery": self.headers.get("X-Rung-Delivery"),
                        "attempt": self.headers.get("X-Rung-Attempt"),
                        "sig": self.headers.get("X-Rung-Signature"),
                        "ts": self.headers.get("X-Rung-Timestamp"),
                        "type": self.headers.get("Content-Type"),
                        "body": body, "json": json.loads(body), "action": action})
                    outer.cv.notify_all()
                if action == "hang":
                    time.sleep(outer.hang_s)
                if action in ("hang", "close"):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(action)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def acked(self):
        """The deliveries answered 2xx, in the order they came."""
        with self.cv:
            return [g for g in self.got if isinstance(g["action"], int) and g["action"] < 300]

    def wait_acked(self, n):
        return until(lambda: len(self.acked()) >= n and self.acked(), "%d acknowledged" % n)


def signed_by(secret, got):
    """The README's check: HMAC-SHA-256 over the X-Rung-Timestamp header's
    digits, a dot, and the body's bytes."""
    signed = (got["ts"] or "").encode() + b"." + got["body"]
    want = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, got["sig"] or "")


def seq(got):
    """The outbox row number of a delivery id "<nonce>-<n>"."""
    return int(got["delivery"].rsplit("-", 1)[1])


class HookCase(DaemonCase):
    daemon_args = ["--gold-rate", "0", "--side-order", "fixed", "--webhook-timeout",
                   str(TIMEOUT_MS), "--webhook-backoff", "50", "--webhook-allow-private"]

    def setUp(self):
        super().setUp()
        self.rater = self.d.key("rater", "r1")
        self.receivers = []

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            for r in self.receivers:
                r.close()

    def receiver(self, *args, **kw):
        r = Receiver(*args, **kw)
        self.receivers.append(r)
        return r

    def hook(self, url, token=None, status=201):
        st, _, body = self.d.request("POST", "/v1/webhooks", {"url": url}, token=token or self.pipe)
        self.assertEqual(st, status, body)
        return body

    def hooks(self, token=None):
        st, _, body = self.d.request("GET", "/v1/webhooks", token=token or self.pipe)
        self.assertEqual(st, 200, body)
        return body["webhooks"]

    def post_item(self, ext, token=None):
        item = {"prompt": "p " + ext, "responses": ["left", "right"], "external_id": ext}
        st, _, body = self.d.request("POST", "/v1/items", item, token=token or self.pipe)
        self.assertEqual(st, 201, body)
        return body["id"]

    def label_next(self, answer):
        """Leases the next task and labels it; returns the task id."""
        st, _, t = self.d.request("GET", "/v1/tasks/next", token=self.rater)
        self.assertEqual(st, 200, t)
        st, _, body = self.d.request("POST", "/v1/tasks/%d/labels" % t["id"], {"answer": answer},
                                     token=self.rater)
        self.assertEqual(st, 201, body)
        return t["id"]


class TestRegistration(HookCase):
    def test_register_list_delete(self):
        h = self.hook("http://127.0.0.1:9/hook")
        ops = DOC["paths"]["/v1/webhooks"]
        Validator(DOC).check(h, ops["post"]["responses"]["201"]["content"]["application/json"]
                             ["schema"])
        self.assertEqual(sorted(h), ["created_ms", "id", "secret", "url"])
        self.assertRegex(h["secret"], "^[0-9a-f]{64}$")
        self.assertEqual(h["url"], "http://127.0.0.1:9/hook")
        h2 = self.hook("https://example.org/x?y=1")
        self.assertNotEqual(h["secret"], h2["secret"])
        listed = self.hooks()
        Validator(DOC).check({"webhooks": listed}, ops["get"]["responses"]["200"]["content"]
                             ["application/json"]["schema"])
        self.assertEqual([x["id"] for x in listed], [h["id"], h2["id"]])
        self.assertEqual(listed[0], {"id": h["id"], "url": h["url"], "created_ms": h["created_ms"],
                                     "pending": 0, "delivered": 0, "failures": 0,
                                     "last_status": None, "last_error": None,
                                     "last_attempt_ms": None})
        st, _, body = self.d.request("DELETE", "/v1/webhooks/%d" % h["id"], token=self.pipe)
        self.assertEqual((st, body), (200, {"id": h["id"], "deleted": True, "dropped": 0}))
        st, _, body = self.d.request("DELETE", "/v1/webhooks/%d" % h["id"], token=self.pipe)
        self.assertEqual((st, body["error"]["code"]), (404, "not_found"))
        self.assertEqual([x["id"] for x in self.hooks()], [h2["id"]])

    def test_bad_requests_are_json_errors_and_change_nothing(self):
        cases = [
            ({"url": "ftp://example.org/x"}, "invalid_url", "scheme"),
            ({"url": "file:///etc/passwd"}, "invalid_url", "scheme"),
            ({"url": "example.org/hook"}, "invalid_url", "absolute"),
            ({"url": "http://"}, "invalid_url", "absolute"),
            ({"url": "http://user:pw@example.org/"}, "invalid_url", "password"),
            ({"url": "http://example.org/a b"}, "invalid_url", "printable"),
            ({"url": ""}, "invalid_url", "2048"),
            ({"url": "http://x/" + "a" * 2048}, "invalid_url", "2048"),
            ({"url": 5}, "invalid_body", "'url'"),
            ({}, "invalid_body", "'url'"),
            ({"url": "http://x/", "secret": "mine"}, "invalid_body", "secret"),
        ]
        for body, code, words in cases:
            st, _, reply = self.d.request("POST", "/v1/webhooks", body, token=self.pipe)
            self.assertEqual((st, reply["error"]["code"]), (422, code), body)
            self.assertIn(words, reply["error"]["message"], body)
        st, _, reply = self.d.request("POST", "/v1/webhooks", raw="{bad", token=self.pipe)
        self.assertEqual((st, reply["error"]["code"]), (400, "malformed_json"))
        st, _, reply = self.d.request("POST", "/v1/webhooks", raw="[1]", token=self.pipe)
        self.assertEqual(st, 422, reply)
        st, _, reply = self.d.request("POST", "/v1/webhooks", raw="url=x", token=self.pipe,
                                      headers={"Content-Type": "text/plain"})
        self.assertEqual(st, 415, reply)
        st, _, reply = self.d.request("POST", "/v1/webhooks", {"url": "http://x/"},
                                      token=self.rater)
        self.assertEqual((st, reply["error"]["code"]), (403, "forbidden"))
        st, _, reply = self.d.request("POST", "/v1/webhooks", {"url": "http://x/"})
        self.assertEqual(st, 401, reply)
        st, _, reply = self.d.request("GET", "/v1/webhooks?limit=5", token=self.pipe)
        self.assertEqual((st, reply["error"]["code"]), (400, "unknown_parameter"))
        for bad in ("abc", "0", "-1", "99999999999999999999"):
            st, _, reply = self.d.request("DELETE", "/v1/webhooks/" + bad, token=self.pipe)
            self.assertEqual((st, reply["error"]["code"]), (404, "not_found"), bad)
        self.assertEqual(self.hooks(), [])
        self.assertEqual(self.d.sql("SELECT count(*) FROM webhooks")[0][0], 0)

    def test_at_most_sixteen_per_key(self):
        for i in range(16):
            self.hook("http://127.0.0.1:9/%d" % i)
        st, _, reply = self.d.request("POST", "/v1/webhooks", {"url": "http://x/"},
                                      token=self.pipe)
        self.assertEqual((st, reply["error"]["code"]), (409, "too_many_webhooks"))
        self.assertEqual(len(self.hooks()), 16)
        # Another key has its own sixteen.
        self.hook("http://127.0.0.1:9/x", token=self.admin)


class TestDelivery(HookCase):
    def test_retried_until_acknowledged_signed_and_counted(self):
        rx = self.receiver([500, "hang", "close"])
        h = self.hook(rx.url())
        t0 = int(time.time() * 1000)
        item = self.post_item("e1")
        self.label_next("b")
        got = rx.wait_acked(1)
        t1 = int(time.time() * 1000)
        tries = list(rx.got)
        # The script, then the acknowledgement. (Only a 200 answered later
        # than the timeout could add a try after it: the same delivery.)
        self.assertEqual([g["action"] for g in tries[:4]], [500, "hang", "close", 200])
        self.assertIs(got[0], tries[3])
        self.assertEqual([g["attempt"] for g in tries], [str(i + 1) for i in range(len(tries))])
        # The same delivery each time, the same bytes, a valid signature
        # over the attempt's own timestamp, taken while the test ran.
        self.assertRegex(got[0]["delivery"], DELIVERY_ID)
        self.assertEqual({g["delivery"] for g in tries}, {got[0]["delivery"]})
        self.assertEqual({g["body"] for g in tries}, {got[0]["body"]})
        for g in tries:
            self.assertTrue(signed_by(h["secret"], g), g)
            self.assertTrue(t0 <= int(g["ts"]) <= t1, g["ts"])
            self.assertEqual(g["type"], "application/json")
        self.assertFalse(signed_by("0" * 64, got[0]))
        # The timestamp is part of what is signed: another one fails.
        self.assertFalse(signed_by(h["secret"], dict(got[0], ts=str(int(got[0]["ts"]) + 1))))
        body = got[0]["json"]
        Validator(DOC).check(body, {"$ref": "#/components/schemas/WebhookDelivery"})
        _, _, it = self.d.request("GET", "/v1/items/" + item, token=self.pipe)
        self.assertEqual(body, {"delivery": got[0]["delivery"], "hook_id": h["id"],
                                "item_id": item, "external_id": "e1", "batch": None,
                                "verdict": "b", "source": "human", "confidence": 1.0,
                                "resolved_ms": it["updated_ms"]})
        self.assertEqual(it["verdict"], "b")
        listed = until(lambda: [x for x in self.hooks() if x["delivered"] == 1])
        self.assertEqual((listed[0]["pending"], listed[0]["failures"], listed[0]["last_error"]),
                         (0, len(tries) - 1, None))
        self.assertEqual(self.d.sql("SELECT count(*) FROM webhook_outbox")[0][0], 0)

    def test_last_error_is_a_coarse_class(self):
        """A failure is shown as its class, not libcurl's text naming the
        receiver's address and port."""
        hold = socket.socket()  # bound, not listening: connections are refused
        hold.bind(("127.0.0.1", 0))
        port = hold.getsockname()[1]
        self.addCleanup(hold.close)
        rx = self.receiver(after=503)
        self.hook("http://127.0.0.1:%d/hook" % port)
        self.hook(rx.url())
        self.post_item("e1")
        self.label_next("a")
        listed = until(lambda: (lambda v: all(x["failures"] for x in v) and v)(self.hooks()),
                       "a failure of each hook")
        self.assertEqual([(x["last_status"], x["last_error"]) for x in listed],
                         [(None, "refused"), (503, "http 503")])
        self.assertEqual([x["pending"] for x in listed], [1, 1])

    def test_in_order_per_item_and_at_least_once(self):
        """An item whose verdict changes (undo) gets two deliveries; the
        second is not sent before the first is acknowledged, although
        the first fails several times."""
        rx = self.receiver([503, 503, "close", 503])
        h = self.hook(rx.url())
        item = self.post_item("e1")
        task = self.label_next("a")
        st, _, body = self.d.request("POST", "/v1/tasks/%d/labels" % task, {"answer": "b"},
                                     token=self.rater)
        self.assertEqual((st, body["status"]), (200, "replaced"), body)
        acked = rx.wait_acked(2)
        self.assertEqual([g["json"]["verdict"] for g in acked], ["a", "b"])
        self.assertEqual([g["json"]["item_id"] for g in acked], [item, item])
        first, second = (seq(g) for g in acked)
        self.assertLess(first, second)
        self.assertNotEqual(acked[0]["delivery"].split("-")[0], acked[1]["delivery"].split("-")[0])
        order = [seq(g) for g in rx.got]
        # Every try of the first came before any of the second; the
        # script's failures all went to the first.
        self.assertEqual(order, sorted(order))
        self.assertEqual([(seq(g), g["action"]) for g in rx.got[:5]],
                         [(first, a) for a in (503, 503, "close", 503, 200)])
        for g in rx.got:
            self.assertTrue(signed_by(h["secret"], g))
        _, _, it = self.d.request("GET", "/v1/items/" + item, token=self.pipe)
        self.assertEqual(it["verdict"], acked[-1]["json"]["verdict"])

    def test_abandoned_at_shutdown_sent_again_after_start(self):
        """A delivery in flight when the daemon stops was not acknowledged:
        it is sent again (the same delivery id) after the next start."""
        rx = self.receiver(["hang"], hang_s=40)
        self.hook(rx.url())
        self.post_item("e1")
        # The attempt outlives the stop: the daemon must not wait for it.
        self.d.extra_args = ["--gold-rate", "0", "--side-order", "fixed",
                             "--webhook-timeout", "60000", "--webhook-backoff", "50",
                             "--webhook-allow-private"]
        self.d.restart()
        self.label_next("a")
        until(lambda: rx.got, "the first attempt")
        # The receiver holds the delivery; the daemon keeps answering.
        self.post_item("e2")
        self.assertEqual([(x["pending"], x["delivered"]) for x in self.hooks()], [(1, 0)])
        self.d.stop()
        self.assertEqual(self.d.sql("SELECT count(*) FROM webhook_outbox")[0][0], 1)
        self.d.start()
        acked = rx.wait_acked(1)
        self.assertEqual(acked[0]["delivery"], rx.got[0]["delivery"])
        self.assertEqual(acked[0]["attempt"], "1")  # the abandoned try was never recorded


@sqlite_only("plants a verdict that is not valid UTF-8, which PostgreSQL text cannot hold")
class TestStartFailure(HookCase):
    def test_delivery_that_cannot_start_is_a_failed_attempt_with_backoff(self):
        """A queued delivery whose body cannot be made (its verdict is not
        valid UTF-8: a damaged row) is recorded as a failed attempt of
        class "error" and waits its backoff like any failure, holding its
        hook's later deliveries, until the hook is deleted."""
        hold = socket.socket()  # bound, not listening: nothing is ever delivered
        hold.bind(("127.0.0.1", 0))
        self.addCleanup(hold.close)
        h = self.hook("http://127.0.0.1:%d/hook" % hold.getsockname()[1])
        self.post_item("e1")
        self.post_item("e2")
        self.label_next("a")
        self.label_next("b")
        self.d.stop()
        con = sqlite3.connect(self.d.db, timeout=30)
        with con:
            con.execute("UPDATE webhook_outbox SET verdict = X'ff' WHERE id = "
                        "(SELECT min(id) FROM webhook_outbox)")
        con.close()
        before = self.d.sql("SELECT attempts FROM webhook_outbox ORDER BY id")
        self.d.start()
        q = ("SELECT o.attempts, o.next_ms, w.last_attempt_ms, w.failures, w.last_error "
             "FROM webhook_outbox o JOIN webhooks w ON w.id = o.hook_id ORDER BY o.id")
        rows = until(lambda: (lambda r: r[0][4] == "error" and r[0][0] >= before[0][0] + 2
                              and r)(self.d.sql(q)), "two failed starts recorded")
        attempts, next_ms, last_ms, failures, _ = rows[0]
        # Every start that failed counted, and the next waits the backoff
        # of that many failures (50 ms doubling), not the 200 ms poll.
        self.assertEqual(failures, attempts + rows[1][0])
        self.assertEqual(next_ms - last_ms, min(50 * 2 ** (attempts - 1), 3600000))
        self.assertEqual(rows[1][0], before[1][0])  # the hook's later delivery waits its turn
        self.assertEqual([(x["last_status"], x["last_error"]) for x in self.hooks()],
                         [(None, "error")])
        st, _, body = self.d.request("DELETE", "/v1/webhooks/%d" % h["id"], token=self.pipe)
        self.assertEqual((st, body["dropped"]), (200, 2), body)


class TestPrivateAddresses(HookCase):
    """Without --webhook-allow-private, a hook may not reach loopback,
    private or link-local addresses: written as an address, the URL is
    refused; a name that resolves to one is refused when the sender
    connects."""

    daemon_args = ["--gold-rate", "0", "--side-order", "fixed", "--webhook-timeout",
                   str(TIMEOUT_MS), "--webhook-backoff", "50"]

    def test_address_refused_at_registration(self):
        for url in ("http://127.0.0.1:8080/hook", "http://169.254.169.254/latest/meta-data/",
                    "http://10.0.0.1/", "http://192.168.1.1/", "http://[::1]:9/",
                    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/"):
            st, _, reply = self.d.request("POST", "/v1/webhooks", {"url": url}, token=self.pipe)
            self.assertEqual((st, reply["error"]["code"]), (422, "invalid_url"), url)
            self.assertIn("--webhook-allow-private", reply["error"]["message"])
        self.assertEqual(self.hooks(), [])
        self.hook("https://93.184.216.34/hook")  # a public address is fine

    def test_name_resolving_to_loopback_refused_at_connect(self):
        rx = self.receiver()
        h = self.hook("http://localhost:%d/hook" % rx.port)
        self.post_item("e1")
        self.label_next("a")
        listed = until(lambda: [x for x in self.hooks() if x["failures"] >= 2],
                       "refused attempts")
        self.assertEqual((listed[0]["id"], listed[0]["last_status"], listed[0]["last_error"],
                          listed[0]["pending"], listed[0]["delivered"]),
                         (h["id"], None, "blocked", 1, 0))
        self.assertEqual(rx.got, [])  # nothing ever reached the receiver


class TestSources(HookCase):
    """Every way a verdict becomes final is delivered, with its source."""

    def test_layer_at_ingest_and_on_rescore(self):
        rx = self.receiver()
        self.hook(rx.url())
        queued = dict(CLEAR_PAIR, external_id="queued")
        st, _, ack = self.d.request("POST", "/v1/items", queued, token=self.pipe)
        self.assertEqual((st, ack["status"]), (201, "awaiting_human"))
        trl = os.path.join(self.d.tmpdir, "train.jsonl")
        write_trl(trl, 800, seed=7)
        p = self.d.cli("import", "--db", self.d.db, "--format", "trl", "--as", "comparisons", trl,
                       timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.d.cli("train", "--db", self.d.db, "--target", "0.9", "--seed", "3",
                       "--members", "3", "--bits", "16", timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        layer = json.loads(p.stdout)["layer_id"]
        # The running daemon picks the layer up and settles the queued item.
        got = rx.wait_acked(1)
        self.assertEqual((got[0]["json"]["item_id"], got[0]["json"]["source"],
                          got[0]["json"]["verdict"]), (ack["id"], "layer", "b"))
        st, _, ack2 = self.d.request("POST", "/v1/items", dict(CLEAR_PAIR, external_id="new"),
                                     token=self.pipe)
        self.assertEqual((st, ack2["status"]), (201, "auto"))
        got = rx.wait_acked(2)
        self.assertEqual((got[1]["json"]["item_id"], got[1]["json"]["external_id"],
                          got[1]["json"]["source"]), (ack2["id"], "new", "layer"))
        _, _, it = self.d.request("GET", "/v1/items/" + ack2["id"], token=self.pipe)
        self.assertEqual((it["layer_id"], it["confidence"]),
                         (layer, got[1]["json"]["confidence"]))

    def test_rollup_of_sub_questions(self):
        rx = self.receiver()
        self.hook(rx.url())
        st, _, ack = self.d.request("POST", "/v1/items", math_pair(1), token=self.pipe)
        self.assertEqual((st, ack["status"]), (201, "decomposed"))
        wrong_step = lines(WRONG)[1][0]
        while True:
            st, _, t = self.d.request("GET", "/v1/tasks/next", token=self.rater)
            if st == 204:
                break
            self.assertEqual((st, t["kind"]), (200, "subquestion"))
            q = t["subquestion"]
            answer = "no" if (q["response"], q["span"][0]) == ("b", wrong_step) else "yes"
            st, _, body = self.d.request("POST", "/v1/tasks/%d/labels" % t["id"],
                                         {"answer": answer}, token=self.rater)
            self.assertEqual(st, 201, body)
        got = rx.wait_acked(1)
        self.assertEqual((got[0]["json"]["item_id"], got[0]["json"]["verdict"],
                          got[0]["json"]["source"]), (ack["id"], "a", "aggregate"))
        until(lambda: self.d.sql("SELECT count(*) FROM webhook_outbox")[0][0] == 0,
              "the outbox drained")
        # The sub-questions' answers are not verdicts: one delivery (a
        # try answered only after the timeout would repeat it, not add one).
        self.assertEqual({g["delivery"] for g in rx.got}, {got[0]["delivery"]})


class TestCrash(HookCase):
    def test_delivery_survives_kill9(self):
        """The label that resolves the item is acknowledged while the
        receiver is down; the daemon is killed with SIGKILL before any
        delivery can succeed; after a restart the delivery arrives."""
        # Hold a free port bound but not listening: connections are refused.
        hold = socket.socket()
        hold.bind(("127.0.0.1", 0))
        port = hold.getsockname()[1]
        h = self.hook("http://127.0.0.1:%d/hook" % port)
        item = self.post_item("e1")
        self.label_next("b")  # 201: committed with its outbox row
        self.d.kill9()
        self.assertEqual(self.d.sql("SELECT count(*) FROM webhook_outbox")[0][0], 1)
        hold.close()
        rx = self.receiver(port=port)
        self.d.start()
        got = rx.wait_acked(1)
        self.assertTrue(signed_by(h["secret"], got[0]))
        self.assertEqual((got[0]["json"]["item_id"], got[0]["json"]["verdict"]), (item, "b"))
        until(lambda: self.d.sql("SELECT count(*) FROM webhook_outbox")[0][0] == 0,
              "the outbox drained")


class TestIsolation(HookCase):
    def test_each_key_gets_only_its_items(self):
        other = self.d.key("pipeline", "other")
        rx = self.receiver()
        mine = self.hook(rx.url("/mine"))
        theirs = self.hook(rx.url("/theirs"), token=other)
        # Neither key sees or deletes the other's hook.
        self.assertEqual([x["id"] for x in self.hooks()], [mine["id"]])
        self.assertEqual([x["id"] for x in self.hooks(other)], [theirs["id"]])
        self.assertEqual(self.hooks(self.admin), [])
        st, _, _ = self.d.request("DELETE", "/v1/webhooks/%d" % mine["id"], token=other)
        self.assertEqual(st, 404)
        a = self.post_item("a1")
        b = self.post_item("b1", token=other)
        self.label_next("a")  # resolves a1 (the oldest task)
        st, _, body = self.d.request("POST", "/v1/items/%s/gold" % b, {"answer": "b"},
                                     token=self.admin)
        self.assertEqual(st, 200, body)
        got = rx.wait_acked(2)
        by_path = {g["path"]: g for g in got}
        self.assertEqual(sorted(by_path), ["/mine", "/theirs"])
        self.assertEqual(by_path["/mine"]["json"]["item_id"], a)
        self.assertTrue(signed_by(mine["secret"], by_path["/mine"]))
        self.assertEqual((by_path["/theirs"]["json"]["item_id"],
                          by_path["/theirs"]["json"]["source"]), (b, "gold"))
        self.assertTrue(signed_by(theirs["secret"], by_path["/theirs"]))
        self.assertFalse(signed_by(mine["secret"], by_path["/theirs"]))
        # Nothing else is on its way.
        until(lambda: self.d.sql("SELECT count(*) FROM webhook_outbox")[0][0] == 0,
              "the outbox drained")
        self.assertEqual(len({g["delivery"] for g in rx.got}), 2)

    def test_revoked_key_and_deleted_hook_get_nothing(self):
        rx = self.receiver()
        gone = self.hook(rx.url("/gone"))
        self.hook(rx.url("/kept"))
        a1 = self.post_item("a1")
        self.post_item("a2")
        st, _, body = self.d.request("DELETE", "/v1/webhooks/%d" % gone["id"], token=self.pipe)
        self.assertEqual(st, 200, body)
        self.label_next("a")
        got = rx.wait_acked(1)
        self.assertEqual((got[0]["path"], got[0]["json"]["item_id"]), ("/kept", a1))
        self.d.revoke("pipe")
        self.label_next("b")  # a2 resolved after its key was revoked
        self.assertEqual(self.d.sql("SELECT count(*) FROM webhook_outbox")[0][0], 0)
        self.assertEqual({g["delivery"] for g in rx.got}, {got[0]["delivery"]})


if __name__ == "__main__":
    unittest.main(verbosity=2)  # names each test, and why one is skipped
