"""Shared helpers for rung's HTTP API tests (Python 3 stdlib only).

A Daemon runs `rungd serve` on an ephemeral port with a database in a
temporary directory, reads the bound port from its first stdout line, and
collects its stdout (per-request JSON log lines) and stderr (JSON info lines)
in the background.

    d = Daemon(rungd_path())            # or Daemon(path, ["--max-items", "5"])
    admin = d.key("admin", "boss")      # token via `rungd keys create`
    status, headers, body = d.request("GET", "/v1/status", token=admin)
    d.stop()                            # SIGTERM, wait, assert exit status 0
    d.cleanup()                         # kill if still running, remove temp dir

request() returns (status, headers, body): headers is an http.client
HTTPMessage (case-insensitive .get), body is the parsed JSON when the reply is
application/json, else the raw bytes.

Backends: by default every Daemon gets a SQLite file in its temporary
directory. With RUNG_TEST_PG set to a PostgreSQL base URI (as
tests/pg/cluster.sh start prints it, e.g.
postgresql:///postgres?host=/tmp/rungpg-x&user=postgres) each Daemon gets a
fresh database on that server instead (created with psql, dropped at
cleanup), and d.db is its URI. d.sql(query, params) reads (and writes) the
daemon's database on either backend; tests that are about SQLite files
themselves are marked @sqlite_only("why") and skipped on PostgreSQL.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Generous: under ASan the daemon starts and answers much more slowly.
START_TIMEOUT = float(os.environ.get("RUNG_TEST_START_TIMEOUT", "60"))
HTTP_TIMEOUT = float(os.environ.get("RUNG_TEST_HTTP_TIMEOUT", "60"))
STOP_TIMEOUT = float(os.environ.get("RUNG_TEST_STOP_TIMEOUT", "60"))

_LISTEN_RE = re.compile(r"rungd listening on https?://([0-9.]+):(\d+)/")


def rungd_path():
    """The rungd binary: $RUNGD, else build-dev/server/rungd in the repo."""
    p = os.environ.get("RUNGD") or os.path.join(REPO_ROOT, "build-dev", "server", "rungd")
    return os.path.abspath(p)


def run_cli(rungd, *args, timeout=None):
    """Runs `rungd ARGS...`; returns the CompletedProcess (text mode)."""
    return subprocess.run(
        [rungd, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout or START_TIMEOUT,
    )


def until(pred, what="the condition", timeout=None):
    """Polls pred() until it returns a true value, and returns that value;
    raises AssertionError naming what past timeout seconds (START_TIMEOUT
    by default). The pause between tries is a poll interval, not a guess
    at how long something takes."""
    deadline = time.monotonic() + (timeout or START_TIMEOUT)
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


class DaemonError(AssertionError):
    pass


# ---- backends ----

PG_BASE = os.environ.get("RUNG_TEST_PG") or None


def backend():
    """The backend the daemons of this run use: "sqlite" or "postgresql"."""
    return "postgresql" if PG_BASE else "sqlite"


def sqlite_only(reason):
    """Marks a test (or a class) that is about SQLite itself (its files,
    its locks): skipped, with the reason, when the run is on PostgreSQL."""
    return unittest.skipIf(PG_BASE is not None, "SQLite only: " + reason)


def postgresql_only(reason):
    """Marks a test about PostgreSQL itself (its connections, its
    notifications): it runs in the PostgreSQL pass (tests/pg/run-api.sh)
    and is skipped, with the reason, in the SQLite one."""
    return unittest.skipIf(PG_BASE is None, "PostgreSQL only: " + reason)


def is_pg_uri(db):
    return db.startswith(("postgresql://", "postgres://"))


def pg_bin(name):
    """A PostgreSQL client program: $RUNG_PG_BIN/name, else the newest
    /usr/lib/postgresql/N/bin/name, else name on the PATH."""
    d = os.environ.get("RUNG_PG_BIN")
    if not d:
        root = "/usr/lib/postgresql"
        versions = sorted((int(v) for v in os.listdir(root) if v.isdigit())
                          if os.path.isdir(root) else [])
        d = os.path.join(root, str(versions[-1]), "bin") if versions else ""
    p = os.path.join(d, name) if d else ""
    return p if p and os.access(p, os.X_OK) else (shutil.which(name) or name)


def pg_uri_with_db(base, name):
    """base (a postgresql:// URI) naming the database name instead."""
    u = urllib.parse.urlsplit(base)  # (urlunsplit drops an empty host's //)
    return "%s://%s/%s%s" % (u.scheme, u.netloc, urllib.parse.quote(name),
                             "?" + u.query if u.query else "")


# psql's unaligned output: bytes that UTF-8 text never holds separate the
# fields and the records, so any text comes back whole. NULL is printed as
# a string psql checks for valid UTF-8: one made anew for each query.
_FS, _RS = b"\xfe", b"\xfd"


def _psql(uri, script, null=b"\x01", timeout=None):
    """Runs a psql script on uri (no psqlrc, stop at the first error);
    returns its stdout (bytes)."""
    env = dict(os.environ, PGCLIENTENCODING="UTF8", PGCONNECT_TIMEOUT="30")
    p = subprocess.run([pg_bin("psql").encode(), b"-X", b"-q", b"-w", b"-A", b"-t",
                        b"-F", _FS, b"-R", _RS, b"-P", b"null=" + null,
                        b"-v", b"ON_ERROR_STOP=1", b"-d", uri.encode(), b"-f", b"-"],
                       input=script.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout or START_TIMEOUT, env=env)
    if p.returncode != 0:
        raise DaemonError("psql failed (%d): %s"
                          % (p.returncode, p.stderr.decode(errors="replace")))
    return p.stdout


_db_counter = [0]


def new_db(tmpdir, name="rung.db"):
    """A database for a daemon or a CLI run: the path tmpdir/name on SQLite
    (rungd creates the file); on PostgreSQL a fresh, empty database on the
    RUNG_TEST_PG server, whose URI is returned (drop it with drop_db)."""
    if not PG_BASE:
        return os.path.join(tmpdir, name)
    _db_counter[0] += 1
    dbname = "rungtest_%d_%d_%s" % (os.getpid(), _db_counter[0], uuid.uuid4().hex[:8])
    _psql(PG_BASE, 'CREATE DATABASE "%s";\n' % dbname)
    return pg_uri_with_db(PG_BASE, dbname)


def case_db(case, tmpdir, name="rung.db"):
    """new_db(tmpdir, name) for the test case: dropped when it ends."""
    db = new_db(tmpdir, name)
    case.addCleanup(drop_db, db)
    return db


def drop_db(db):
    """Drops a database new_db made on PostgreSQL (even with sessions still
    open); a SQLite path is left to its directory's removal."""
    if not is_pg_uri(db):
        return
    name = urllib.parse.unquote(urllib.parse.urlsplit(db).path.lstrip("/"))
    _psql(pg_uri_with_db(db, "postgres"), 'DROP DATABASE IF EXISTS "%s" WITH (FORCE);\n' % name)


def _sql_literal(v):
    """v as a PostgreSQL literal (standard_conforming_strings is on). Text
    and bytes stay untyped literals, so they take the column's type."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):  # '1' fits an integer and a boolean column
        return "'1'" if v else "'0'"
    if isinstance(v, int):  # a negative one in parentheses: "x - -1" must not be "x --1"
        return str(v) if v >= 0 else "(%d)" % v
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return "'%s'::float8" % ("NaN" if v != v else ("Infinity" if v > 0 else "-Infinity"))
        return "(%r)" % v if repr(v).startswith("-") else repr(v)
    if isinstance(v, (bytes, bytearray)):
        return "'\\x%s'" % bytes(v).hex()
    if isinstance(v, str):
        if "\0" in v:
            raise ValueError("PostgreSQL text cannot hold NUL")
        return "'" + v.replace("'", "''") + "'"
    raise TypeError("no SQL literal for %r" % (v,))


def _bind(query, params):
    """query with each ? outside quotes replaced by the literal of the next
    parameter (the SQLite placeholder style the tests use)."""
    out, it, quote = [], iter(params), None
    n = 0
    for ch in query:
        if quote:
            quote = None if ch == quote else quote
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            n += 1
            try:
                ch = _sql_literal(next(it))
            except StopIteration:
                raise ValueError("more ? than parameters in %r" % query) from None
        out.append(ch)
    if n != len(params):
        raise ValueError("%d parameters for %d ? in %r" % (len(params), n, query))
    return "".join(out)


def _pg_value(field, typ, null):
    """One field of psql's output as the sqlite3 module would give it."""
    if field == null:
        return None
    text = field.decode()
    if typ in ("smallint", "integer", "bigint", "oid"):
        return int(text)
    if typ in ("real", "double precision"):
        return float(text)
    if typ == "numeric":
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if typ == "boolean":
        return 1 if text == "t" else 0
    if typ == "bytea":
        return bytes.fromhex(text[2:])
    return text


def _pg_sql(uri, query, params):
    query = _bind(query, params).rstrip().rstrip(";")
    mark = "@@rung-%s@@" % uuid.uuid4().hex
    null = ("\x01NULL-" + mark).encode()
    out = _psql(uri, "%s \\gdesc\n\\echo %s\n%s \\g\n\\echo %s :ROW_COUNT\n"
                % (query, mark, query, mark), null)
    desc, rest = out.split(mark.encode() + b"\n", 1)
    data, count = rest.rsplit(mark.encode() + b" ", 1)
    types = [rec.rsplit(_FS, 1)[1].decode() for rec in desc.rstrip(b"\n").split(_RS)
             if _FS in rec]
    nrows = int(count)
    if not types or nrows == 0:
        return []
    rows = [rec.split(_FS) for rec in data[:-1].split(_RS)]  # data ends in a newline
    if len(rows) != nrows or any(len(r) != len(types) for r in rows):
        raise DaemonError("cannot split psql's output of %r" % query)
    return [tuple(_pg_value(f, t, null) for f, t in zip(r, types)) for r in rows]


def sql(db, query, params=()):
    """Runs one statement on the database db (a SQLite path or a
    PostgreSQL URI) with ?-placeholders, commits, and returns the rows as a
    list of tuples: integers as int, reals as float, bytes as bytes, NULL
    as None, the rest as str (booleans as 1/0, as SQLite keeps them)."""
    if is_pg_uri(db):
        return _pg_sql(db, query, tuple(params))
    con = sqlite3.connect(db, timeout=30)
    try:
        rows = con.execute(query, params).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


class WriteLock:
    """Holds the database's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL:
    an EXCLUSIVE lock on the named tables) until release(), so that the
    daemon's writes to them wait."""

    def __init__(self, db, tables=("items",)):
        self.db = db
        self.con = self.proc = None
        if not is_pg_uri(db):
            self.con = sqlite3.connect(db, timeout=30, isolation_level=None)
            self.con.execute("BEGIN IMMEDIATE")
            return
        self.proc = subprocess.Popen(
            [pg_bin("psql"), "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-d", db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("BEGIN;\nLOCK TABLE %s IN EXCLUSIVE MODE;\n\\echo locked\n"
                              % ", ".join(tables))
        self.proc.stdin.flush()
        if self.proc.stdout.readline().strip() != "locked":
            raise DaemonError("psql did not lock %s: %s" % (tables, self.proc.stderr.read()))

    def release(self):
        if self.con:
            self.con.execute("ROLLBACK")
            self.con.close()
            self.con = None
        if self.proc:
            self.proc.communicate("ROLLBACK;\n", timeout=START_TIMEOUT)
            self.proc = None


class Daemon:
    """One `rungd serve` process on 127.0.0.1:0 with its own database."""

    def __init__(self, rungd=None, extra_args=(), db=None, start=True):
        self.rungd = rungd or rungd_path()
        self.extra_args = list(extra_args)
        self.tmpdir = tempfile.mkdtemp(prefix="rungtest-")
        self.own_db = None  # the PostgreSQL database this helper made
        if db is None:
            db = new_db(self.tmpdir)
            self.own_db = db if is_pg_uri(db) else None
        self.db = db
        self.proc = None
        self.port = None
        self.host = "127.0.0.1"
        self.tokens = {}  # name -> token, every key this helper created
        self._lock = threading.Lock()
        self._out = []  # every stdout line, all runs
        self._err = []  # every stderr line, all runs
        self._run_out_start = 0
        self._run_err_start = 0
        self._readers = []
        if start:
            try:
                self.start()
            except BaseException:
                self.cleanup()  # no caller holds this Daemon to clean it up
                raise

    # ---- process control ----

    def start(self):
        if self.proc and self.proc.poll() is None:
            raise DaemonError("the daemon is running already")
        args = [self.rungd, "serve", "--db", self.db, "--listen", "127.0.0.1:0", *self.extra_args]
        with self._lock:
            self._run_out_start = len(self._out)
            self._run_err_start = len(self._err)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        port_ready = threading.Event()
        found = {}

        def read(stream, sink, watch):
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self._lock:
                    sink.append(line)
                if watch and not port_ready.is_set():
                    m = _LISTEN_RE.search(line)
                    if m:
                        found["port"] = int(m.group(2))
                        port_ready.set()
            stream.close()

        self._readers = [
            threading.Thread(target=read, args=(self.proc.stdout, self._out, True), daemon=True),
            threading.Thread(target=read, args=(self.proc.stderr, self._err, False), daemon=True),
        ]
        for t in self._readers:
            t.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not port_ready.wait(0.05):
            if self.proc.poll() is not None:
                self._join_readers()
                raise DaemonError("rungd exited with %s before listening; stderr:\n%s"
                                  % (self.proc.returncode, "\n".join(self.stderr_lines())))
            if time.monotonic() > deadline:
                self.kill9()
                raise DaemonError("rungd did not print its port within %ss" % START_TIMEOUT)
        self.port = found["port"]
        return self

    def _join_readers(self, timeout=10):
        for t in self._readers:
            t.join(timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=None):
        rc = self.proc.wait(timeout=timeout or STOP_TIMEOUT)
        self._join_readers()
        return rc

    def kill9(self):
        """SIGKILL the daemon and reap it."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait()
            self._join_readers()

    def stop(self, sig=signal.SIGTERM):
        """Sends SIGTERM (or sig), waits, asserts exit status 0. Returns it."""
        if not self.running():
            raise DaemonError("the daemon is not running (exit status %s)"
                              % (self.proc.returncode if self.proc else None))
        self.proc.send_signal(sig)
        try:
            rc = self.wait()
        except subprocess.TimeoutExpired:
            self.kill9()
            raise DaemonError("rungd did not exit within %ss of signal %d" % (STOP_TIMEOUT, sig))
        if rc != 0:
            raise DaemonError("rungd exited with %d after signal %d; stderr:\n%s"
                              % (rc, sig, "\n".join(self.stderr_lines(all_runs=False))))
        return rc

    def restart(self):
        """Starts again on the same database (after stop() or kill9())."""
        if self.running():
            self.stop()
        return self.start()

    def cleanup(self):
        try:
            self.kill9()
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            if self.own_db:
                db, self.own_db = self.own_db, None
                drop_db(db)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # ---- output ----

    def stdout_lines(self, all_runs=True):
        with self._lock:
            return list(self._out if all_runs else self._out[self._run_out_start:])

    def stderr_lines(self, all_runs=True):
        with self._lock:
            return list(self._err if all_runs else self._err[self._run_err_start:])

    def log_lines(self, all_runs=True):
        """The per-request log: stdout lines that are JSON objects, parsed.
        A line that starts with '{' but does not parse raises."""
        out = []
        for line in self.stdout_lines(all_runs):
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def wait_log(self, pred, timeout=None):
        """Waits until a log line satisfies pred; returns it (or None past
        timeout seconds, START_TIMEOUT by default: the line comes after the
        reply, and a thread of this process reads it)."""
        deadline = time.monotonic() + (timeout or START_TIMEOUT)
        while True:
            for entry in self.log_lines():
                if pred(entry):
                    return entry
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def inflight(self, token, conn=None):
        """Requests the daemon has in flight (rung_inflight_requests), not
        counting the /metrics request that asks (token: an admin key)."""
        _, _, text = self.request("GET", "/metrics", token=token, conn=conn)
        m = re.search(rb"(?m)^rung_inflight_requests (\d+)$", text)
        if not m:
            raise DaemonError("no rung_inflight_requests in /metrics")
        return int(m.group(1)) - 1

    def wait_inflight(self, n, token):
        """Waits until at least n requests are in flight (see inflight()).
        Every poll of one daemon process shares one keep-alive connection,
        also across calls: libmicrohttpd completes a request (and counts it
        out) before it reads the next one on the same connection, whereas a
        poll on a fresh connection could still count an earlier poll, whose
        completion may lag behind its reply (two waits in a row then saw one
        request too many)."""
        until(lambda: self._poll_inflight(token) >= n, "%d request(s) in flight" % n)

    def _poll_inflight(self, token):
        """inflight() on the process's polling connection, made on first use
        (and again if the daemon closed it, which counts it out first)."""
        key = (self.port, self.proc.pid)
        if getattr(self, "_poll", None) is None or self._poll[0] != key:
            self._poll = (key, self.connection())
        try:
            return self.inflight(token, self._poll[1])
        except (OSError, http.client.HTTPException):
            self._poll[1].close()
            self._poll = None
            return -1

    def wait_stderr(self, text):
        """Waits until a stderr line of the current run contains text."""
        until(lambda: any(text in line for line in self.stderr_lines(False)),
              "%r on stderr" % text)

    def refuses_connections(self):
        """True when a new TCP connection to the daemon is refused."""
        try:
            socket.create_connection((self.host, self.port), timeout=HTTP_TIMEOUT).close()
        except ConnectionRefusedError:
            return True
        return False

    # ---- keys and CLI ----

    def cli(self, *args, timeout=None):
        """Runs `rungd ARGS... ` (add --db yourself if needed)."""
        return run_cli(self.rungd, *args, timeout=timeout)

    def key(self, role, name):
        """Creates a key with `rungd keys create`; returns its token."""
        p = run_cli(self.rungd, "keys", "create", "--db", self.db, "--role", role, "--name", name)
        if p.returncode != 0:
            raise DaemonError("keys create %s %s failed (%d): %s"
                              % (role, name, p.returncode, p.stderr))
        token = p.stdout.strip().splitlines()[-1].strip()
        self.tokens[name] = token
        return token

    def revoke(self, name):
        p = run_cli(self.rungd, "keys", "revoke", "--db", self.db, name)
        if p.returncode != 0:
            raise DaemonError("keys revoke %s failed (%d): %s" % (name, p.returncode, p.stderr))
        return p

    def keys_list(self):
        p = run_cli(self.rungd, "keys", "list", "--db", self.db)
        if p.returncode != 0:
            raise DaemonError("keys list failed (%d): %s" % (p.returncode, p.stderr))
        return p.stdout

    # ---- database ----

    def sql(self, query, params=()):
        """Runs one statement on the daemon's database (either backend, see
        the module-level sql()); returns the rows as tuples."""
        return sql(self.db, query, params)

    def item_count(self):
        return self.sql("SELECT count(*) FROM items")[0][0]

    # ---- HTTP ----

    def connection(self, timeout=None):
        """A keep-alive connection to pass as request(conn=...)."""
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout or HTTP_TIMEOUT)

    def request(self, method, path, body=None, token=None, headers=None, raw=None, conn=None,
                chunks=None, timeout=None):
        """Sends one request and returns (status, headers, body).

        body: a Python value sent as JSON (Content-Type application/json).
        raw: bytes (or str) sent verbatim as the body; Content-Type defaults
             to application/json. Set a header to None to leave it out.
        chunks: a list of bytes sent with Transfer-Encoding: chunked.
        token: sent as 'Authorization: Bearer TOKEN'.
        conn: a connection from connection() to reuse (keep-alive); by
              default a fresh connection is opened and closed.
        """
        hdrs = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw.encode() if isinstance(raw, str) else raw
            hdrs["Content-Type"] = "application/json"
        elif chunks is not None:
            hdrs["Content-Type"] = "application/json"
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        for k, v in (headers or {}).items():
            for existing in [h for h in hdrs if h.lower() == k.lower()]:
                del hdrs[existing]
            if v is not None:
                hdrs[k] = v
        own = conn is None
        c = conn or self.connection(timeout)
        try:
            if chunks is not None:
                hdrs["Transfer-Encoding"] = "chunked"
                c.request(method, path, body=iter(chunks), headers=hdrs, encode_chunked=True)
            else:
                c.request(method, path, body=data, headers=hdrs)
            resp = c.getresponse()
            payload = resp.read()
            status, rh = resp.status, resp.headers
        finally:
            if own:
                c.close()
        ctype = (rh.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/json" and payload:
            try:
                return status, rh, json.loads(payload)
            except ValueError:
                pass
        return status, rh, payload

    def headers_only(self, method, path, headers, timeout=None):
        """Sends a request's headers but no body (e.g. a Content-Length the
        server should refuse before reading); returns (status, headers, body)."""
        c = self.connection(timeout)
        try:
            c.putrequest(method, path)
            for k, v in headers.items():
                c.putheader(k, v)
            c.endheaders()
            resp = c.getresponse()
            payload = resp.read()
        finally:
            c.close()
        ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/json" and payload:
            return resp.status, resp.headers, json.loads(payload)
        return resp.status, resp.headers, payload


class DaemonCase(unittest.TestCase):
    """A test case with its own daemon per test (started with daemon_args),
    an admin key (self.admin, named boss) and a pipeline key (self.pipe,
    named pipe); the daemon is stopped (exit status checked) and its
    directory removed after each test."""

    daemon_args = []

    def setUp(self):
        self.d = Daemon(extra_args=self.daemon_args)
        self.addCleanup(lambda: self.d.cleanup())  # also when the rest of setUp fails
        self.admin = self.d.key("admin", "boss")
        self.pipe = self.d.key("pipeline", "pipe")

    def tearDown(self):
        try:
            if self.d.running():
                self.d.stop()
        finally:
            self.d.cleanup()
