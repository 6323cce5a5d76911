"""API tests for issue 15's network hardening: slow clients (a connection
limit per address, a deadline for headers, a floor for a body's rate),
per-key rate limits, strict framing (raw sockets), field caps, listings
filled up to a byte budget, a bounded GET /v1/status, a full database (507),
and `rungd serve --config FILE`. Each test runs a real rungd on an
ephemeral port with its own database."""

import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rungtest import (HTTP_TIMEOUT, DaemonCase, run_cli, rungd_path, sqlite_only,  # noqa: E402
                      until)


def raw_exchange(port, data, host="127.0.0.1", source=None, timeout=None):
    """Sends data on a fresh connection and reads until the server closes
    it; returns every byte received."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout or HTTP_TIMEOUT)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    try:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def status_of(reply):
    """The status code of the first response in reply (bytes)."""
    return int(reply.split(b" ", 2)[1])


def body_of(reply):
    """The first response's body, parsed as JSON."""
    head, _, rest = reply.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return json.loads(rest[:int(line.split(b":")[1])])
    return None


def closed_now(sock):
    """True when the server has closed sock (EOF or reset); never waits."""
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def trickled_until_cut(sock, data):
    """Sends data, then waits up to 0.2 s for the server's close: True once
    sock is closed (a send refused, EOF or reset)."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return True
    sock.settimeout(0.2)
    try:
        return sock.recv(65536) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


class TestSlowClients(DaemonCase):
    """Holds twice the per-address limit open from 127.0.0.1, each
    connection trickling header lines, while 127.0.0.2 still gets answers."""

    LIMIT = 16
    daemon_args = ["--max-connections-per-ip", str(LIMIT), "--header-timeout", "600"]

    def test_other_address_answered_while_one_address_holds_its_limit(self):
        held = []
        try:
            for i in range(2 * self.LIMIT):
                s = socket.create_connection(("127.0.0.1", self.d.port), timeout=HTTP_TIMEOUT)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow-%d: 1\r\n" % i)
                held.append(s)
            # Past the limit the daemon closes the new connections at once
            # (which ones is up to the order its threads accept them in).
            until(lambda: len([s for s in held if closed_now(s)]) >= self.LIMIT,
                  "%d connections closed" % self.LIMIT)
            open_ones = [s for s in held if not closed_now(s)]
            self.assertEqual(len(open_ones), self.LIMIT)
            for s in open_ones:
                s.sendall(b"X-More: 1\r\n")
            reply = raw_exchange(self.d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n", source="127.0.0.2")
            self.assertEqual(status_of(reply), 200)
            self.assertEqual(body_of(reply), {"status": "ok"})
            # The held connections still finish their requests.
            s = open_ones[0]
            s.setblocking(True)
            s.settimeout(HTTP_TIMEOUT)
            s.sendall(b"Connection: close\r\n\r\n")
            self.assertEqual(status_of(s.recv(65536)), 200)
        finally:
            for s in held:
                s.close()
        # With the slow ones gone (once the daemon has seen them close),
        # 127.0.0.1 is served again.
        def served():
            try:
                return self.d.request("GET", "/healthz")[0] == 200
            except (ConnectionError, OSError):  # closed at once: still at the limit
                return False
        until(served, "127.0.0.1 served again")


class TestDeadlines(DaemonCase):
    daemon_args = ["--header-timeout", "1", "--min-body-rate", "100000"]

    def test_headers_past_the_deadline_are_cut(self):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=HTTP_TIMEOUT)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            # every byte would reset an idle timeout
            until(lambda: trickled_until_cut(s, b"X-Trickle: 1\r\n"), "the slow headers cut",
                  timeout=60)
        finally:
            s.close()
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
        _, _, text = self.d.request("GET", "/metrics", token=self.admin)
        self.assertIn(b'rung_connections_cut_total{reason="headers"} 1\n', text)

    def test_body_below_the_rate_floor_is_cut(self):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=HTTP_TIMEOUT)
        try:
            s.sendall(b"POST /v1/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      + self.pipe.encode() + b"\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 10000000\r\n\r\n{\"items\": [")
            until(lambda: trickled_until_cut(s, b" "), "the slow body cut", timeout=120)
        finally:
            s.close()
        self.assertEqual(self.d.item_count(), 0)
        # Cut for its body's rate (not its headers, not a crash): the
        # daemon answers and counts it.
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
        _, _, text = self.d.request("GET", "/metrics", token=self.admin)
        self.assertIn(b'rung_connections_cut_total{reason="body"} 1\n', text)

    def test_keep_alive_requests_are_not_cut(self):
        conn = self.d.connection()
        try:
            for _ in range(3):
                self.assertEqual(self.d.request("GET", "/healthz", conn=conn)[0], 200)
        finally:
            conn.close()


class TestRateLimit(DaemonCase):
    daemon_args = ["--rate-limit", "1", "--rate-burst", "3"]

    def test_a_key_past_its_rate_gets_429_with_retry_after(self):
        statuses = [self.d.request("GET", "/v1/status", token=self.admin)[0] for _ in range(3)]
        self.assertEqual(statuses, [200, 200, 200])
        # The burst is spent; a token comes back each second. Ask until one
        # is refused (a slow machine may have earned a token meanwhile).
        for _ in range(20):
            st, h, body = self.d.request("GET", "/v1/status", token=self.admin)
            if st == 429:
                break
        self.assertEqual(st, 429)
        self.assertEqual(body["error"]["code"], "rate_limited")
        self.assertGreaterEqual(int(h["Retry-After"]), 1)
        # Another key has its own bucket; public routes have none.
        self.assertEqual(self.d.request("GET", "/v1/items", token=self.pipe)[0], 200)
        for _ in range(5):
            self.assertEqual(self.d.request("GET", "/healthz")[0], 200)


class TestFraming(DaemonCase):
    """Ambiguous requests are refused on their headers: 400, then the
    connection closes (the reply is the only one on it)."""

    def send(self, data):
        return raw_exchange(self.d.port, data)

    def assert_refused(self, data, code):
        reply = self.send(data)
        self.assertEqual(status_of(reply), 400, reply)
        self.assertEqual(body_of(reply)["error"]["code"], code)
        self.assertEqual(reply.count(b"HTTP/1.1 "), 1, reply)
        self.assertIn(b"Connection: close", reply)
        self.assertIn(b"X-Content-Type-Options: nosniff", reply)

    def auth(self, token):
        return b"Authorization: Bearer " + token.encode()

    def test_two_different_content_lengths(self):
        self.assert_refused(b"POST /v1/items HTTP/1.1\r\nHost: x\r\n" + self.auth(self.pipe)
                            + b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                            b"Content-Length: 40\r\n\r\n{}", "ambiguous_length")
        self.assertEqual(self.d.item_count(), 0)

    def test_content_length_with_chunked(self):
        item = json.dumps({"prompt": "p", "response": "r"}).encode()
        self.assert_refused(b"POST /v1/items HTTP/1.1\r\nHost: x\r\n" + self.auth(self.pipe)
                            + b"\r\nContent-Type: application/json\r\nContent-Length: 3\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
                            % (len(item), item), "ambiguous_length")
        self.assertEqual(self.d.item_count(), 0)

    def test_nul_in_a_header_value(self):
        for where in (b"", b"\r\nX-After: 1"):  # the token's line last, or not
            self.assert_refused(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n" + self.auth(self.admin)
                                + b"\0x" + where + b"\r\n\r\n", "bad_header")
        # The same request without the NUL is served.
        reply = self.send(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n" + self.auth(self.admin)
                          + b"\r\nConnection: close\r\n\r\n")
        self.assertEqual(status_of(reply), 200)

    def test_bare_lf_and_folded_lines(self):
        self.assert_refused(b"GET /healthz HTTP/1.1\nHost: x\nX-A: 1\n\n", "bad_header")
        self.assert_refused(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n",
                            "bad_header")

    def test_equal_content_lengths_pass(self):
        reply = self.send(b"POST /v1/items HTTP/1.1\r\nHost: x\r\n" + self.auth(self.pipe)
                          + b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                          b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
        self.assertEqual(status_of(reply), 422)  # the body's turn: no prompt

    def test_head_only_on_public_routes(self):
        rater = self.d.key("rater", "r1")
        st, _, body = self.d.request("POST", "/v1/items", {"prompt": "p", "response": "r"},
                                     token=self.pipe)
        self.assertEqual(st, 201, body)
        st, h, _ = self.d.request("HEAD", "/v1/tasks/next", token=rater)
        self.assertEqual(st, 405)
        self.assertEqual(h["Allow"], "GET")
        self.assertEqual(self.d.sql("SELECT count(*) FROM leases")[0][0], 0)
        self.assertEqual(self.d.request("HEAD", "/healthz")[0], 200)
        self.assertEqual(self.d.request("HEAD", "/")[0], 200)
        self.assertEqual(self.d.request("HEAD", "/v1/openapi.json")[0], 200)

    def test_libmicrohttpd_own_error_for_a_bad_content_length(self):
        # Refused by libmicrohttpd before rungd sees the request: its own
        # HTML page without our headers (README, Security of framing).
        reply = self.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        self.assertEqual(status_of(reply), 400)


def big_item(i, size):
    return {"prompt": "prompt %d " % i + "p" * size, "response": "response %d " % i + "r" * size}


def sanitized(pid):
    """True when the process runs with AddressSanitizer's allocator."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def rss_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for %d" % (field, pid))


class TestFieldCaps(DaemonCase):
    daemon_args = ["--max-text", "1000", "--max-metadata", "100"]

    def test_texts_and_metadata_over_their_caps_are_413(self):
        cases = [({"prompt": "p" * 1001, "response": "r"}, "prompt"),
                 ({"prompt": "p", "response": "r" * 1001}, "response"),
                 ({"prompt": "p", "responses": ["a", "b" * 1001]}, "responses"),
                 ({"prompt": "p", "response": "r", "metadata": {"k": "v" * 100}}, "metadata")]
        for body, field in cases:
            st, _, reply = self.d.request("POST", "/v1/items", {"items": [item_ok(), body]},
                                          token=self.pipe)
            self.assertEqual(st, 413, reply)
            self.assertEqual(reply["error"]["code"], "field_too_large")
            self.assertEqual((reply["error"]["index"], reply["error"]["field"]), (1, field))
        self.assertEqual(self.d.item_count(), 0)
        st, _, _ = self.d.request("POST", "/v1/items", {"prompt": "p" * 1000, "response": "r",
                                                        "metadata": {"k": "v" * 80}},
                                  token=self.pipe)
        self.assertEqual(st, 201)


def item_ok():
    return {"prompt": "fine", "response": "fine"}


class TestPagesByBytes(DaemonCase):
    """Items of 2 x 1.5 MB: a page of at most 8 MiB holds two, whatever
    limit asks; the daemon's peak memory while paging through them stays
    under 4 x the page budget above its resident size before."""

    PAGE = 8 * 1024 * 1024
    SIZE = 1500 * 1000
    COUNT = 12
    daemon_args = ["--max-text", str(2 * 1024 * 1024), "--page-bytes", str(PAGE), "--quiet"]

    def test_pages_fill_up_to_the_budget_and_memory_stays_bounded(self):
        for i in range(self.COUNT):
            st, _, body = self.d.request("POST", "/v1/items", big_item(i, self.SIZE),
                                         token=self.pipe)
            self.assertEqual(st, 201, body)
        pid = self.d.proc.pid
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")  # resets the peak (VmHWM) to the resident size now
        before = rss_kib(pid, "VmRSS")
        seen, after, pages = [], None, 0
        while True:
            path = "/v1/items?limit=1000" + ("&after=" + after if after else "")
            st, _, body = self.d.request("GET", path, token=self.pipe)
            self.assertEqual(st, 200)
            pages += 1
            self.assertLessEqual(len(body["items"]), 2)
            self.assertGreaterEqual(len(body["items"]), 1)
            seen += [it["id"] for it in body["items"]]
            after = body["next"]
            if after is None:
                break
        self.assertEqual(len(seen), self.COUNT)
        self.assertEqual(len(set(seen)), self.COUNT)
        self.assertEqual(pages, self.COUNT // 2)
        grown = rss_kib(pid, "VmHWM") - before
        print("peak RSS above the start of paging: %d KiB (bound %d KiB)"
              % (grown, 4 * self.PAGE // 1024), file=sys.stderr)
        # AddressSanitizer holds freed memory in quarantine instead of
        # reusing it: the bound is the plain build's.
        if not sanitized(pid):
            self.assertLess(grown * 1024, 4 * self.PAGE)

    def test_one_item_over_the_budget_still_pages(self):
        for i in range(2):
            st, _, _ = self.d.request("POST", "/v1/items", big_item(i, 2 * 1024 * 1024 - 20),
                                      token=self.pipe)
            self.assertEqual(st, 201)
        st, _, body = self.d.request("GET", "/v1/items?limit=1", token=self.pipe)
        self.assertEqual(len(body["items"]), 1)
        self.assertIsNotNone(body["next"])


class TestStatusBound(DaemonCase):
    def test_status_lists_the_largest_1000_batches(self):
        items = [{"prompt": "p%d" % i, "response": "r", "batch": "b%04d" % i}
                 for i in range(1001)]
        items.append({"prompt": "again", "response": "r", "batch": "b1000"})
        st, _, body = self.d.request("POST", "/v1/items", {"items": items}, token=self.pipe)
        self.assertEqual(st, 201)
        st, _, body = self.d.request("GET", "/v1/status", token=self.admin)
        self.assertEqual(st, 200)
        self.assertEqual(len(body["by_batch"]), 1000)
        self.assertTrue(body["by_batch_truncated"])
        self.assertFalse(body["by_domain_truncated"])
        self.assertEqual(body["by_batch"]["b1000"], 2)  # the largest is never left out
        self.assertNotIn("b0999", body["by_batch"])  # ties by name: the last one goes
        self.assertEqual(body["items"], 1002)


@sqlite_only("--max-db-bytes caps the SQLite file's page count (SQLITE_FULL)")
class TestFullDatabase(DaemonCase):
    """--max-db-bytes caps the file as a full disk would: SQLITE_FULL is
    507 with Retry-After, nothing acknowledged is lost, and the daemon
    keeps serving."""

    daemon_args = ["--max-db-bytes", str(1024 * 1024)]

    def test_a_full_database_is_507_and_loses_nothing(self):
        acked = 0
        for i in range(200):
            st, h, body = self.d.request("POST", "/v1/items", big_item(i, 20000),
                                         token=self.pipe)
            if st != 201:
                break
            acked += 1
        self.assertEqual(st, 507, body)
        self.assertEqual(body["error"]["code"], "storage_full")
        self.assertGreaterEqual(int(h["Retry-After"]), 1)
        self.assertGreater(acked, 0)
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
        st, _, body = self.d.request("GET", "/v1/status", token=self.admin)
        self.assertEqual((st, body["items"]), (200, acked))
        self.d.stop()
        self.d.extra_args = []
        self.d.start()
        self.assertEqual(self.d.item_count(), acked)
        st, _, _ = self.d.request("POST", "/v1/items", big_item(999, 20000), token=self.pipe)
        self.assertEqual(st, 201)


class TestConfigFile(DaemonCase):
    def write(self, text):
        path = os.path.join(self.d.tmpdir, "rung.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def restart_with(self, *args):
        self.d.stop()
        self.d.extra_args = list(args)
        self.d.start()

    def body_status(self, size):
        return self.d.request("POST", "/v1/items", raw="x" * size, token=self.pipe)[0]

    def test_settings_apply_and_flags_win(self):
        path = self.write("# rungd serve settings\n\nmax-body = 2048   # bytes\n"
                          "quiet = true\n  max-items=5\n")
        self.restart_with("--config", path)
        self.assertEqual(self.body_status(3000), 413)
        self.assertEqual(self.body_status(100), 400)  # read: malformed JSON
        items = [item_ok()] * 6
        st, _, body = self.d.request("POST", "/v1/items", {"items": items}, token=self.pipe)
        self.assertEqual((st, body["error"]["code"]), (422, "too_many_items"))
        self.assertEqual(self.d.log_lines(all_runs=False), [])  # quiet
        self.restart_with("--config", path, "--max-body", "4096")
        self.assertEqual(self.body_status(3000), 400)

    def test_the_example_file_is_valid(self):
        example = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "deploy", "rungd.conf.example")
        # --db and --listen on the command line win over the file's.
        self.restart_with("--config", example)
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
        self.assertEqual(self.d.request("GET", "/v1/status", token=self.admin)[0], 200)

    def serve_fails(self, text):
        p = run_cli(rungd_path(), "serve", "--db", self.d.db, "--listen", "127.0.0.1:0",
                    "--config", self.write(text))
        self.assertEqual(p.returncode, 2, p.stderr)
        return p.stderr

    def test_unknown_keys_and_bad_values_name_the_key(self):
        self.assertIn("unknown key 'max-bodies'", self.serve_fails("max-bodies = 10\n"))
        self.assertIn("unknown key 'config'", self.serve_fails("config = other.conf\n"))
        err = self.serve_fails("threads = 2\nmax-body = lots\n")
        self.assertIn("line 2", err)
        self.assertIn("'max-body'", err)
        self.assertIn("'quiet'", self.serve_fails("quiet = perhaps\n"))
        self.assertIn("'side-order'", self.serve_fails("side-order = sideways\n"))
        self.assertIn("not a 'key = value' line", self.serve_fails("max-body 10\n"))
        p = run_cli(rungd_path(), "serve", "--config", os.path.join(self.d.tmpdir, "absent"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("cannot read config", p.stderr)

    def test_every_flag_is_a_key(self):
        p = run_cli(rungd_path(), "serve", "--help")
        self.assertEqual(p.returncode, 0)
        flags = [line.split()[0][2:] for line in p.stdout.splitlines()
                 if line.startswith("  --")]
        self.assertIn("max-text", flags)
        for flag in flags:
            if flag in ("config", "help", "db", "static", "listen", "tls-cert", "tls-key"):
                continue
            err = self.serve_fails("%s = \x01bad\n" % flag)
            self.assertIn("'%s'" % flag, err)
            self.assertNotIn("unknown key", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)  # names each test, and why one is skipped
