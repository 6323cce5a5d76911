"""HTTPS: rungd serve --tls-cert/--tls-key (libmicrohttpd's GnuTLS), with a
certificate this test makes with the openssl command, checked by Python's
ssl client against that certificate."""

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rungtest import HTTP_TIMEOUT, Daemon, DaemonError, rungd_path, run_cli  # noqa: E402


def make_cert(folder, name, cn="localhost"):
    """A self-signed P-256 certificate for 127.0.0.1 and localhost; returns
    (cert path, key path)."""
    cert = os.path.join(folder, name + ".pem")
    key = os.path.join(folder, name + ".key")
    openssl = shutil.which("openssl")
    if not openssl:
        raise AssertionError("the openssl command is missing (deploy/deps.sh test installs it)")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


class TlsDaemon(Daemon):
    """A Daemon whose requests go over HTTPS, verified against cafile."""

    def __init__(self, cafile, extra_args):
        self.context = ssl.create_default_context(cafile=cafile)
        super().__init__(extra_args=extra_args)

    def connection(self, timeout=None):
        return http.client.HTTPSConnection(self.host, self.port, context=self.context,
                                           timeout=timeout or HTTP_TIMEOUT)


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="rungtls-")
        cls.cert, cls.key = make_cert(cls.dir, "server")
        cls.other_cert, cls.other_key = make_cert(cls.dir, "other")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.d = TlsDaemon(self.cert, ["--tls-cert", self.cert, "--tls-key", self.key])
        self.pipe = self.d.key("pipeline", "pipe")

    def tearDown(self):
        try:
            if self.d.running():
                self.d.stop()
        finally:
            self.d.cleanup()

    def test_https_serves_the_api_to_a_verifying_client(self):
        self.assertIn("rungd listening on https://127.0.0.1:%d/" % self.d.port,
                      "\n".join(self.d.stdout_lines()))
        status, _, body = self.d.request("GET", "/healthz")
        self.assertEqual(status, 200, body)
        item = {"prompt": "2+2?", "response": "4", "external_id": "tls-1"}
        status, headers, body = self.d.request("POST", "/v1/items", body=item, token=self.pipe)
        self.assertEqual(status, 201, body)
        self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff")
        status, _, got = self.d.request("GET", "/v1/items/" + body["id"], token=self.pipe)
        self.assertEqual((status, got["prompt"]), (200, "2+2?"), got)
        # A keep-alive connection carries several requests over one session.
        conn = self.d.connection()
        try:
            for _ in range(3):
                status, _, _ = self.d.request("GET", "/healthz", conn=conn)
                self.assertEqual(status, 200)
            self.assertIn(conn.sock.version(), ("TLSv1.2", "TLSv1.3"))
        finally:
            conn.close()
        self.assertEqual(self.d.item_count(), 1)

    def test_a_client_that_does_not_trust_the_certificate_is_refused(self):
        # The other certificate is no CA of this one: verification fails.
        ctx = ssl.create_default_context(cafile=self.other_cert)
        with socket.create_connection((self.d.host, self.d.port), timeout=HTTP_TIMEOUT) as s:
            with self.assertRaises(ssl.SSLCertVerificationError):
                ctx.wrap_socket(s, server_hostname="127.0.0.1")
        # The daemon goes on serving verified clients.
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)

    def test_plain_http_on_the_tls_port_gets_no_http_answer(self):
        c = http.client.HTTPConnection(self.d.host, self.d.port, timeout=HTTP_TIMEOUT)
        try:
            with self.assertRaises((http.client.HTTPException, ConnectionError)):
                c.request("GET", "/healthz")
                c.getresponse().read()
        finally:
            c.close()
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)


class TlsOptionsTest(unittest.TestCase):
    """Bad TLS options end rungd serve before it listens, saying why."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="rungtls-")
        cls.cert, cls.key = make_cert(cls.dir, "server")
        cls.other_cert, cls.other_key = make_cert(cls.dir, "other")
        cls.db = os.path.join(cls.dir, "rung.db")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def serve(self, *args):
        return run_cli(rungd_path(), "serve", "--db", self.db, "--listen", "127.0.0.1:0", *args)

    def test_cert_without_key_is_a_usage_error(self):
        p = self.serve("--tls-cert", self.cert)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--tls-cert and --tls-key go together", p.stderr)
        p = self.serve("--tls-key", self.key)
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_missing_or_empty_files_are_named(self):
        missing = os.path.join(self.dir, "nope.pem")
        p = self.serve("--tls-cert", missing, "--tls-key", self.key)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot open the TLS certificate '%s'" % missing, p.stderr)
        empty = os.path.join(self.dir, "empty.key")
        open(empty, "w").close()
        p = self.serve("--tls-cert", self.cert, "--tls-key", empty)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("no PEM block", p.stderr)

    def test_a_key_that_does_not_match_the_certificate_is_refused(self):
        p = self.serve("--tls-cert", self.cert, "--tls-key", self.other_key)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("the TLS certificate and key were refused", p.stderr)
        self.assertIn("do not match", p.stderr)
        self.assertNotIn("rungd listening", p.stdout)


if __name__ == "__main__":
    unittest.main()
