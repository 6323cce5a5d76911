"""API tests for the admin's view: batches listed and in detail, a rater in
detail, agreement statistics against values computed by hand, keys over
REST. Each test runs a real rungd on an ephemeral port with its own
database."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rungtest import DaemonCase, until  # noqa: E402

# Two raters on 20 pair tasks of batch "main": A answers a on 0-9, b on
# 10-19; B answers a on 0-7 and 10-11, b elsewhere. They agree on 16 of 20.
#   Cohen: observed 0.8, chance 0.5 * 0.5 + 0.5 * 0.5 = 0.5, kappa 0.6.
#   Fleiss (two ratings a unit): the same 0.6.
#   Alpha: n 40, disagreeing coincidences 8, D_o 8/40 = 0.2,
#          D_e 2 * 20 * 20 / (40 * 39) = 0.51282, alpha 1 - 0.39 = 0.61.
# Batch "same": both answer a, b, a: every statistic 1.
# Batch "solo": only A labels (overlap 1): nothing to agree on, null on 0 items.
# Over all labels (main and same, 23 shared tasks): observed 19/23, each
# rater a on 12 of 23, chance (12/23)^2 + (11/23)^2 = 265/529:
#   Cohen = Fleiss = (19/23 - 265/529) / (264/529) = 0.651515;
#   Alpha: n 46, D_o 8/46, D_e 2 * 24 * 22 / (46 * 45), alpha 0.659091.
MAIN_A = ["a"] * 10 + ["b"] * 10
MAIN_B = ["a"] * 8 + ["b"] * 2 + ["a"] * 2 + ["b"] * 8
SAME = ["a", "b", "a"]


def item(batch, i):
    return {"prompt": "%s %d" % (batch, i), "responses": ["left %d" % i, "right %d" % i],
            "batch": batch}


class AdminCase(DaemonCase):
    daemon_args = ["--gold-rate", "0", "--side-order", "fixed", "--overlap", "2"]

    def get(self, path, token=None):
        st, _, body = self.d.request("GET", path, token=token or self.admin)
        self.assertEqual(st, 200, body)
        return body

    def post_items(self, items):
        st, _, body = self.d.request("POST", "/v1/items", {"items": items}, token=self.pipe)
        self.assertEqual(st, 201, body)

    def label_all(self, token, answers):
        """Leases tasks until none is left and labels each with
        answers[prompt] (a dict prompt -> (answer, seconds or None))."""
        n = 0
        while True:
            st, _, t = self.d.request("GET", "/v1/tasks/next", token=token)
            if st == 204:
                return n
            self.assertEqual(st, 200, t)
            answer, seconds = answers[t["prompt"]]
            body = {"answer": answer}
            if seconds is not None:
                body["seconds"] = seconds
            st, _, b = self.d.request("POST", "/v1/tasks/%d/labels" % t["id"], body, token=token)
            self.assertEqual(st, 201, b)
            n += 1

    def assert_near(self, got, want, places=4):
        self.assertIsNotNone(got)
        self.assertAlmostEqual(got, want, places=places)


class TestBatchesAndAgreement(AdminCase):
    def setUp(self):
        super().setUp()
        st, _, b = self.d.request("PUT", "/v1/overlap",
                                  {"batch": "solo", "overlap": 1, "future": True},
                                  token=self.admin)
        self.assertEqual(st, 200, b)
        self.post_items([item("main", i) for i in range(20)] +
                        [item("same", i) for i in range(3)] + [item("solo", i) for i in range(2)])
        self.ra = self.d.key("rater", "ra")
        self.rb = self.d.key("rater", "rb")
        self.answers_a = {"main %d" % i: (MAIN_A[i], i) for i in range(20)}
        self.answers_a.update({"same %d" % i: (SAME[i], None) for i in range(3)})
        self.answers_a.update({"solo 0": ("a", None), "solo 1": ("b", None)})
        self.answers_b = {"main %d" % i: (MAIN_B[i], None) for i in range(20)}
        self.answers_b.update({"same %d" % i: (SAME[i], None) for i in range(3)})

    def test_list_pages_by_name(self):
        body = self.get("/v1/batches")
        self.assertEqual([b["batch"] for b in body["batches"]], ["main", "same", "solo"])
        self.assertEqual(body["batches"][0], {"batch": "main", "items": 20, "decided": 0,
                                              "outstanding": 20})
        self.assertIsNone(body["next"])
        page = self.get("/v1/batches?limit=2")
        self.assertEqual(([b["batch"] for b in page["batches"]], page["next"]),
                         (["main", "same"], "same"))
        page = self.get("/v1/batches?limit=2&after=same")
        self.assertEqual(([b["batch"] for b in page["batches"]], page["next"]), (["solo"], None))
        # Settings alone make a batch too.
        self.d.request("PUT", "/v1/batches/later", {"assistance": "hidden"}, token=self.admin)
        self.assertIn({"batch": "later", "items": 0, "decided": 0, "outstanding": 0},
                      self.get("/v1/batches")["batches"])
        for bad, code in (("?limit=0", "invalid_query"), ("?limit=x", "invalid_query"),
                          ("?after=", "invalid_query"), ("?colour=red", "unknown_parameter")):
            st, _, e = self.d.request("GET", "/v1/batches" + bad, token=self.admin)
            self.assertEqual((st, e["error"]["code"]), (400, code), bad)
        st, _, _ = self.d.request("GET", "/v1/batches", token=self.pipe)
        self.assertEqual(st, 403)

    def test_status_midway_and_done(self):
        self.assertEqual(self.label_all(self.ra, self.answers_a), 25)
        main = self.get("/v1/batches/main")
        # 20 labels in the last hour; the open tasks want 20 more: an hour.
        self.assertEqual(main["tasks"], {"done": 0, "outstanding": 20, "labels_wanted": 20})
        self.assertEqual(main["labels_per_hour"][-1], 20)
        self.assertEqual(main["eta_ms"], 3600000)
        self.assertEqual(self.label_all(self.rb, self.answers_b), 23)
        main = self.get("/v1/batches/main")
        self.assertEqual(main["items"], 20)
        self.assertEqual(main["by_status"], {"resolved": 20})
        self.assertEqual(main["by_route"], {"human": 20})
        self.assertEqual(main["verdicts"], {"by_value": {"a": 8, "b": 8, "tie": 4},
                                            "by_source": {"human": 20}})
        self.assertEqual(main["tasks"], {"done": 20, "outstanding": 0, "labels_wanted": 0})
        self.assertEqual(len(main["labels_per_hour"]), 24)
        self.assertEqual((sum(main["labels_per_hour"]), main["labels_per_hour"][-1]), (40, 40))
        self.assertEqual(main["eta_ms"], 0)
        self.assertEqual((main["assistance"], main["guidelines"]), ("shown", None))
        ag = main["agreement"]
        self.assertEqual(len(ag["cohen_kappa"]), 1)
        pair = ag["cohen_kappa"][0]
        self.assertEqual((pair["raters"], pair["items"]), (["ra", "rb"], 20))
        self.assert_near(pair["kappa"], 0.6)
        lo, hi = pair["interval"]
        self.assertTrue(lo <= 0.6 <= hi, pair)
        self.assert_near(ag["fleiss_kappa"]["value"], 0.6)
        self.assertEqual(ag["fleiss_kappa"]["items"], 20)
        self.assert_near(ag["krippendorff_alpha"]["value"], 0.61)
        self.assertEqual(ag["krippendorff_alpha"]["items"], 20)

    def test_degenerate_batches(self):
        self.label_all(self.ra, self.answers_a)
        self.label_all(self.rb, self.answers_b)
        same = self.get("/v1/batches/same")["agreement"]
        self.assertEqual(same["cohen_kappa"], [])  # 3 shared tasks: fewer than 20
        for k in ("fleiss_kappa", "krippendorff_alpha"):
            self.assert_near(same[k]["value"], 1.0)
            self.assertEqual(same[k]["items"], 3)
        solo = self.get("/v1/batches/solo")
        self.assertEqual(solo["verdicts"]["by_value"], {"a": 1, "b": 1})
        for k in ("fleiss_kappa", "krippendorff_alpha"):
            self.assertEqual(solo["agreement"][k], {"value": None, "interval": None, "items": 0})
        empty = self.get("/v1/batches/none-yet")
        self.assertEqual((empty["items"], empty["by_status"], empty["eta_ms"]), (0, {}, 0))
        self.assertEqual(empty["labels_per_hour"], [0] * 24)

    def test_raters_agreement_and_detail(self):
        self.label_all(self.ra, self.answers_a)
        self.label_all(self.rb, self.answers_b)
        body = self.get("/v1/raters")
        ag = body["agreement"]
        self.assertEqual(len(ag["cohen_kappa"]), 1)
        self.assertEqual(ag["cohen_kappa"][0]["items"], 23)
        self.assert_near(ag["cohen_kappa"][0]["kappa"], 0.651515)
        self.assert_near(ag["fleiss_kappa"]["value"], 0.651515)
        self.assertEqual(ag["fleiss_kappa"]["items"], 23)  # solo's tasks have one label
        self.assert_near(ag["krippendorff_alpha"]["value"], 0.659091)
        ids = {r["name"]: r["id"] for r in body["raters"]}
        ra = self.get("/v1/raters/%d" % ids["ra"])
        self.assertEqual((ra["id"], ra["name"], ra["role"], ra["labels"]),
                         (ids["ra"], "ra", "rater", 25))
        # Seconds 0..19 on main, none elsewhere: the median of 0..19.
        self.assert_near(ra["median_seconds"], 9.5)
        # 16 agreeing main tasks, 3 same, 2 solo match the verdict; 4 ties do not.
        self.assert_near(ra["agreement_with_verdict"], 21 / 25)
        self.assertEqual(ra["verdicts_compared"], 25)
        # a on 10 main, 2 same, 1 solo of 25 side picks (sides in the item's order).
        self.assert_near(ra["left_share"], 13 / 25)
        self.assertEqual((ra["skips"], ra["lease_expiries"]), (0, 0))
        self.assertEqual(ra["gold"], {"seen": 0, "right": 0, "accuracy": None, "interval": None})
        rb = self.get("/v1/raters/%d" % ids["rb"])
        self.assertIsNone(rb["median_seconds"])
        self.assert_near(rb["agreement_with_verdict"], 19 / 23)


class TestRaterDetail(AdminCase):
    daemon_args = ["--gold-rate", "0", "--side-order", "fixed", "--lease-seconds", "1"]

    def test_skips_expiries_median_and_errors(self):
        self.post_items([item("b", i) for i in range(5)])
        rc = self.d.key("rater", "rc")
        rid = {r["name"]: r["id"] for r in self.get("/v1/raters")["raters"]}["rc"]
        for seconds in (4, 10, 7):
            st, _, t = self.d.request("GET", "/v1/tasks/next", token=rc)
            body = {"answer": "a", "seconds": seconds}
            st, _, b = self.d.request("POST", "/v1/tasks/%d/labels" % t["id"], body, token=rc)
            self.assertEqual(st, 201, b)
        st, _, t = self.d.request("GET", "/v1/tasks/next", token=rc)
        st, _, _ = self.d.request("POST", "/v1/tasks/%d/release" % t["id"], token=rc)
        self.assertEqual(st, 200)
        st, _, t = self.d.request("GET", "/v1/tasks/next", token=rc)
        self.assertEqual(st, 200)
        # The lease of one second runs out with no label after it.
        detail = until(lambda: (lambda d: d if d["lease_expiries"] == 1 else None)(
            self.get("/v1/raters/%d" % rid)), "the lease to expire")
        self.assertEqual((detail["labels"], detail["skips"]), (3, 1))
        self.assert_near(detail["median_seconds"], 7)
        self.assertEqual(detail["agreement_with_verdict"], 1)
        for path in ("/v1/raters/999", "/v1/raters/abc", "/v1/raters/0"):
            st, _, e = self.d.request("GET", path, token=self.admin)
            self.assertEqual((st, e["error"]["code"]), (404, "not_found"), path)
        st, _, e = self.d.request("GET", "/v1/raters/%d?x=1" % rid, token=self.admin)
        self.assertEqual((st, e["error"]["code"]), (400, "unknown_parameter"))
        self.assertEqual(self.d.request("GET", "/v1/raters/%d" % rid, token=rc)[0], 403)


class TestKeys(AdminCase):
    def test_create_list_revoke(self):
        st, h, k = self.d.request("POST", "/v1/keys", {"name": "r7", "role": "rater"},
                                  token=self.admin)
        self.assertEqual((st, k["name"], k["role"]), (201, "r7", "rater"), k)
        self.assertEqual(h.get("Cache-Control"), "no-store")
        token = k["token"]
        st, _, me = self.d.request("GET", "/v1/me", token=token)
        self.assertEqual((st, me["name"]), (200, "r7"))
        st, _, raw = self.d.request("GET", "/v1/keys", token=self.admin)
        self.assertEqual(st, 200)
        keys = {x["name"]: x for x in raw["keys"]}
        self.assertEqual(set(keys), {"boss", "pipe", "r7"})
        self.assertEqual(set(keys["r7"]),
                         {"name", "role", "created_ms", "revoked_ms", "batches", "domains"})
        self.assertEqual((keys["r7"]["batches"], keys["r7"]["domains"]), ([], []))
        self.assertIsNone(keys["r7"]["revoked_ms"])
        self.assertNotIn(token, json.dumps(raw))
        # Refused bodies change nothing.
        for body, st_want, code in (
                ({"name": "r7", "role": "rater"}, 409, "key_exists"),
                ({"name": "x", "role": "owner"}, 422, "invalid_body"),
                ({"name": "a b", "role": "rater"}, 422, "invalid_body"),
                ({"name": "", "role": "rater"}, 422, "invalid_body"),
                ({"name": "n" * 64, "role": "rater"}, 422, "invalid_body"),
                ({"name": 5, "role": "rater"}, 422, "invalid_body"),
                ({"role": "rater"}, 422, "invalid_body"),
                ({"name": "y", "role": "rater", "token": "mine"}, 422, "invalid_body")):
            st, _, e = self.d.request("POST", "/v1/keys", body, token=self.admin)
            self.assertEqual((st, e["error"]["code"]), (st_want, code), body)
        st, _, e = self.d.request("POST", "/v1/keys", raw=b"{", token=self.admin,
                                  headers={"Content-Type": "application/json"})
        self.assertEqual((st, e["error"]["code"]), (400, "malformed_json"))
        for t in (token, self.pipe):
            st, _, _ = self.d.request("POST", "/v1/keys", {"name": "z", "role": "admin"}, token=t)
            self.assertEqual(st, 403)
            self.assertEqual(self.d.request("DELETE", "/v1/keys/boss", token=t)[0], 403)
        self.assertEqual(len(self.get("/v1/keys")["keys"]), 3)
        # Revoking: the token stops working at once; a second time is 404.
        st, _, b = self.d.request("DELETE", "/v1/keys/r7", token=self.admin)
        self.assertEqual((st, b), (200, {"name": "r7", "revoked": True}))
        self.assertEqual(self.d.request("GET", "/v1/me", token=token)[0], 401)
        st, _, e = self.d.request("DELETE", "/v1/keys/r7", token=self.admin)
        self.assertEqual((st, e["error"]["code"]), (404, "not_found"))
        st, _, e = self.d.request("DELETE", "/v1/keys/nobody", token=self.admin)
        self.assertEqual(st, 404)
        revoked = {x["name"]: x for x in self.get("/v1/keys")["keys"]}["r7"]["revoked_ms"]
        self.assertIsInstance(revoked, int)
        self.assertEqual(self.d.sql("SELECT count(*) FROM api_keys")[0][0], 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
