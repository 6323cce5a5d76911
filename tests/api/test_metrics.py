"""/metrics after some traffic: `promtool check metrics` (Debian package
prometheus; deploy/deps.sh test installs it) accepts it, and the families
an operator alerts on are there with the values the traffic implies."""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rungtest import DaemonCase, backend, until  # noqa: E402
from test_external_layer import ModelServer  # noqa: E402
from test_webhooks import Receiver  # noqa: E402

PROMTOOL = shutil.which("promtool")


def series(text, name, **labels):
    """The value of the one sample of name with exactly these labels, or
    None."""
    want = ",".join('%s="%s"' % kv for kv in labels.items())
    pat = r"(?m)^%s%s (\S+)$" % (re.escape(name), re.escape("{%s}" % want) if want else "")
    m = re.search(pat, text)
    return float(m.group(1)) if m else None


class TestMetrics(DaemonCase):
    daemon_args = ["--gold-rate", "0", "--side-order", "fixed"]

    def setUp(self):
        super().setUp()
        self.rater = self.d.key("rater", "r1")

    def traffic(self):
        items = [{"prompt": "p%d" % i, "responses": ["x%d" % i, "y%d" % i]} for i in range(3)]
        items.append({"prompt": "q", "response": "one answer"})
        st, _, _ = self.d.request("POST", "/v1/items", {"items": items}, token=self.pipe)
        self.assertEqual(st, 201)
        st, _, t = self.d.request("GET", "/v1/tasks/next", token=self.rater)
        st, _, _ = self.d.request("POST", "/v1/tasks/%d/labels" % t["id"], {"answer": "a"},
                                  token=self.rater)
        self.assertEqual(st, 201)
        st, _, t = self.d.request("GET", "/v1/tasks/next", token=self.rater)  # held: a live lease
        self.assertEqual(st, 200)
        self.assertEqual(self.d.request("GET", "/v1/nothing/here", token=self.admin)[0], 404)
        self.assertEqual(self.d.request("GET", "/v1/items", token="rung_bad")[0], 401)
        st, _, body = self.d.request("GET", "/metrics", token=self.admin)
        self.assertEqual(st, 200)
        return body.decode()

    def test_promtool_accepts_it(self):
        self.assertTrue(PROMTOOL, "promtool is not installed (deploy/deps.sh test installs "
                                  "Debian's prometheus package)")
        text = self.traffic()
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        self.assertEqual(p.stdout + p.stderr, b"")

    def test_families_and_values(self):
        text = self.traffic()
        types = dict(re.findall(r"(?m)^# TYPE (\S+) (\S+)$", text))
        helps = set(re.findall(r"(?m)^# HELP (\S+) \S", text))
        self.assertEqual(set(types), helps)
        for name, kind in types.items():
            self.assertEqual(kind == "counter", name.endswith("_total"), name)
        # Every sample belongs to a family with HELP and TYPE.
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name = re.match(r"[a-z_]+", line).group(0)
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                self.assertTrue(name in types or base in types, line)
        self.assertEqual(types["rung_request_duration_seconds"], "histogram")
        post = {"method": "POST", "route": "/v1/items"}
        self.assertEqual(series(text, "rung_request_duration_seconds_count", **post), 1)
        self.assertEqual(series(text, "rung_request_duration_seconds_bucket", **post, le="+Inf"),
                         1)
        self.assertIsNotNone(series(text, "rung_request_duration_seconds_bucket", **post,
                                    le="0.005"))
        self.assertGreater(series(text, "rung_request_duration_seconds_sum", **post), 0)
        # A refused request counts under its route; an unknown path under other.
        self.assertEqual(series(text, "rung_request_duration_seconds_count", method="GET",
                                route="/v1/items"), 1)
        self.assertEqual(series(text, "rung_request_duration_seconds_count", method="any",
                                route="other"), 1)
        self.assertEqual(series(text, "rung_queue_depth", kind="pair"), 2)
        self.assertEqual(series(text, "rung_queue_depth", kind="single"), 1)
        self.assertEqual(series(text, "rung_queue_depth", kind="subquestion"), 0)
        self.assertEqual(series(text, "rung_leases_live"), 1)
        self.assertEqual(series(text, "rung_labels"), 1)
        self.assertEqual(series(text, "rung_items"), 4)
        self.assertEqual(series(text, "rung_auto_resolved_ratio"), 0)
        self.assertEqual(series(text, "rung_active_layer_id"), 0)
        self.assertEqual(series(text, "rung_items_ingested_total"), 4)
        # Ingests run without savepoints; none failed, so no group ran twice.
        self.assertEqual(series(text, "rung_store_guarded_reruns_total"), 0)
        self.assertIsNotNone(series(text, "rung_store_checkpoints_total", mode="passive"))
        # No group waited at the WAL's bound in this small run.
        self.assertEqual(series(text, "rung_store_checkpoint_gated_total"), 0)
        self.assertEqual(series(text, "rung_store_checkpoint_gated_seconds_total"), 0)
        if backend() == "sqlite":
            self.assertGreater(series(text, "rung_store_wal_frames_total"), 0)
            # the 4 items in their prompts' groups, in memory
            self.assertEqual(series(text, "rung_store_group_lookup", what="items"), 4)
            self.assertGreaterEqual(series(text, "rung_store_group_lookup", what="groups"), 1)
            self.assertGreater(series(text, "rung_store_group_lookup_bytes"), 0)
        else:  # PostgreSQL has no WAL of ours: the family says 0
            self.assertEqual(series(text, "rung_store_wal_frames_total"), 0)
            self.assertEqual(series(text, "rung_store_group_lookup", what="items"), 0)
        self.assertIsNotNone(series(text, "rung_responses_total", **{"class": "4xx"}))
        self.assertNotIn("rung_request_seconds_sum", text)


def promtool_check(case, text):
    case.assertTrue(PROMTOOL, "promtool is not installed (deploy/deps.sh test installs "
                              "Debian's prometheus package)")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=60)
    case.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
    case.assertEqual(p.stdout + p.stderr, b"")


class TestTrustMetrics(DaemonCase):
    """Hidden audits and webhook deliveries on /metrics: an external model
    settles an item, its audit reaches a rater who disagrees, and the
    item's verdict goes to a hook that fails once, then acknowledges."""
    daemon_args = ["--gold-rate", "0", "--side-order", "fixed", "--audit-share", "100",
                   "--webhook-allow-private", "--webhook-backoff", "50", "--webhook-timeout",
                   "4000"]

    def setUp(self):
        super().setUp()
        self.rater = self.d.key("rater", "r1")
        self.model = ModelServer()
        self.addCleanup(lambda: self.model.stop())
        self.hook = Receiver(script=[500])
        self.addCleanup(lambda: self.hook.close())

    def metrics(self):
        st, _, body = self.d.request("GET", "/metrics", token=self.admin)
        self.assertEqual(st, 200)
        return body.decode()

    def test_audits_and_webhooks(self):
        text = self.metrics()
        self.assertEqual(series(text, "rung_audits_total", outcome="agree"), 0)
        self.assertEqual(series(text, "rung_webhook_outbox_pending"), 0)
        self.assertIn("\nrung_layer_audited_error_rate NaN\n", text)   # no active layer
        promtool_check(self, text)
        body = {"kind": "http", "url": self.model.url, "protocol": "rung", "retries": 0,
                "threshold": 0.9}
        layer = self.d.request("POST", "/v1/layers", body, token=self.admin)[2]["id"]
        st, _, got = self.d.request("POST", "/v1/layers/%d/promote" % layer, token=self.admin)
        self.assertEqual((st, got["status"]), (200, "active"), got)
        until(lambda: series(self.metrics(), "rung_active_layer_id") == layer, "the layer")
        st, _, _ = self.d.request("POST", "/v1/webhooks", {"url": self.hook.url()},
                                  token=self.pipe)
        self.assertEqual(st, 201)
        st, _, ack = self.d.request("POST", "/v1/items", {
            "prompt": "Say something.", "responses": ["one two three four five six", "one"]},
            token=self.pipe)
        self.assertEqual((st, ack["status"]), (201, "auto"), ack)
        text = self.metrics()
        self.assertEqual(series(text, "rung_audits_open"), 1)
        self.assertEqual(series(text, "rung_layer_audited"), 0)
        # The audit: the rater prefers b, the layer said a.
        st, _, t = self.d.request("GET", "/v1/tasks/next", token=self.rater)
        self.assertEqual(st, 200)
        st, _, _ = self.d.request("POST", "/v1/tasks/%d/labels" % t["id"], {"answer": "b"},
                                  token=self.rater)
        self.assertEqual(st, 201)
        self.hook.wait_acked(1)
        text = until(lambda: (lambda x: x if series(
            x, "rung_webhook_deliveries_total", result="delivered") == 1 else None)(
            self.metrics()), "the delivery to be counted")
        self.assertEqual([series(text, "rung_audits_total", outcome=o)
                          for o in ("agree", "disagree", "inconclusive")], [0, 1, 0])
        self.assertEqual(series(text, "rung_audits_open"), 0)
        self.assertEqual(series(text, "rung_layer_audited"), 1)
        self.assertEqual(series(text, "rung_layer_audited_error_rate"), 1.0)
        self.assertAlmostEqual(series(text, "rung_layer_audited_error_rate_lower"), 0.206549,
                               places=5)   # Wilson 95%, 1 of 1
        self.assertEqual(series(text, "rung_layer_demoted"), 0)
        self.assertEqual(series(text, "rung_webhook_deliveries_total", result="failed"), 1)
        self.assertEqual(series(text, "rung_webhook_outbox_pending"), 0)
        promtool_check(self, text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
