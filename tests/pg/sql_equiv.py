#!/usr/bin/env python3
"""Runs every store statement on SQLite and on PostgreSQL over the same rows
with the same parameters, and compares what each returns and, for a write,
the rows of the table it writes (and of the webhook outbox its triggers
fill). Issue 16: the PostgreSQL text of a statement (core/store_pg_sql.c)
must mean what its SQLite text means, not only prepare.

    tests/pg/sql_equiv.py URI PG_PREPARE

URI is a PostgreSQL database (libpq's rules); the check works in a schema of
its own, rung_sql_equiv, dropped at the end. PG_PREPARE is the built
tests/unit/pg_prepare: its -j output gives each statement's two texts and
the parameter types PostgreSQL inferred. SQLite runs in memory with the
migrations of schema/. Python 3 stdlib and psql only.

Values are compared as text, reals to 9 significant digits; rows of a
statement without ORDER BY, and the rows of a written table, are compared
as sets. A write runs in a
transaction that is rolled back, so each statement starts from the sample
rows. Statements that read the SQLite-only digest function rung_digest,
and those whose result is the database's own (size, data version,
transaction control, SQLite's group log), are skipped and listed. Exit 1 on any difference.
"""

import json
import os
import re
import sqlite3
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = "rung_sql_equiv"
H = b"\x01\x02"

# (table, columns, rows): enough of each table that every statement has
# rows to find, with NULLs, retracted items, limited keys, JSON columns.
ROWS = [
    ("api_keys", "id,name,role,lookup,hash,created_ms,revoked_ms", [
        (1, "admin1", "admin", "l1", H, 1000, None), (2, "rater1", "rater", "l2", H, 1001, None),
        (3, "pipe", "pipeline", "l3", H, 1002, None), (4, "Rater2", "rater", "l4", H, 1003, 5000),
        (5, "rater3", "rater", "l5", H, 1004, None), (6, "pipe2", "pipeline", "l6", H, 1005, None)]),
    ("layers", "id,parent,status,kind,params,train_size,sources,metrics,threshold,consistency,"
     "created_ms,request,lineage,prev_active,activated_ms,demoted_ms", [
        (1, None, "retired", "hashed-bt", H, 10, '{"human":3}', '{"auc":0.7}', 0.6, None, 2000,
         None, None, None, 2100, None),
        (2, 1, "active", "hashed-bt", H, 20, None, '{"auc":0.8}', None, '{"ok":true}', 3000,
         '{"by":"x"}', '{"ids":[1,2]}', 1, 3100, 4000),
        (3, 2, "training", "hashed-bt", None, 0, None, None, None, None, 3500, '{"r":1}', None,
         None, None, None)]),
    ("raters", "id,key_id,gold_seen,gold_right,labels", [(1, 2, 3, 2, 7), (2, 4, 0, 0, 2),
                                                          (3, 5, 1, 1, 4)]),
    ("items", "seq,id,key_id,external_id,batch,kind,prompt,response_a,response_b,domain,metadata,"
     "priority,status,route,verdict,verdict_source,confidence,layer_id,scores,gold_answer,"
     "created_ms,updated_ms,deleted_ms,\"group\",group_stale,digest", [
        (1, "u1", 3, "e1", "b1", "pair", "p1", "A1", "B1", "math", None, 0, "awaiting_human",
         "human", None, None, 0.4, 2, '{"preference":"a"}', None, 100, 100, None, "g1", 0, None),
        (2, "u2", 3, "e2", "b1", "pair", "p2", "A2", "B2", "math", '{"m":1}', 1, "resolved",
         "human", "a", "human", 0.9, 2, '{"preference":"a"}', None, 101, 150, None, "g1", 1, None),
        (3, "u3", 3, None, "b2", "single", "p3", "A3", None, "code", None, 0, "auto", "auto",
         "good", "layer", 0.95, 2, '{"preference":"good"}', None, 102, 102, None, None, 0, None),
        (4, "u4", None, None, "B0", "pair", "p4", "A4", "B4", None, None, 2, "resolved", "human",
         "b", "aggregate", 0.7, None, None, None, 103, 160, None, None, 0, b"\x07"),
        (5, "u5", 6, "e1", "b1", "pair", "p5", "A5", "B5", "math", None, 0, "awaiting_human",
         "human", None, None, None, None, None, "b", 104, 104, None, None, 0, None),
        (6, "u6", 3, "e6", "b1", "pair", "p6", "A6", "B6", None, None, 0, "awaiting_human",
         "human", None, None, None, 1, None, None, 105, 105, 200, None, 0, None),
        (7, "u7", 3, "e7", None, "pair", "p7", "A7", "B7", "math", None, 5, "decomposed", "human",
         None, None, None, 2, '{"preference":"b"}', None, 106, 106, None, None, 2, None),
        (8, "u8", 6, "e8", "b3", "pair", "p8", "A8", "B8", "law", None, 0, "resolved", "human",
         "a", "human", 0.6, 2, '{"preference":"b"}', None, 107, 180, None, None, 0, None),
        (9, "u9", 3, "e9", "b1", "pair", "p9", "A9", "B9", "math", None, 0, "awaiting_human",
         "human", None, None, 0.5, 1, '{"preference":"a"}', None, 108, 108, None, "g1", 1, None)]),
    ("subquestions", "id,item_seq,side,ordinal,kind,span_start,span_end,question,score,"
     "confidence,status,verdict,source,sinks", [
        (1, 7, "a", 0, "step", 0, 5, "q1", 0.5, 0.5, "answered", "yes", "human", 1),
        (2, 7, "a", 1, "step", 5, 9, "q2", None, None, "answered", "no", "layer", 1),
        (3, 7, "b", 0, "step", 0, 4, "q3", None, None, "open", None, None, 1),
        (4, 7, "b", 1, "criterion", 0, 4, "q4", None, None, "answered", "unsure", "human", 0),
        (5, 4, "a", 0, "step", 0, 3, "q5", None, None, "answered", "unsure", "human", 1)]),
    ("tasks", "id,item_seq,subq_id,kind,priority,overlap,labels_done,leased,gold,extra_used,"
     "state,created_ms,audit,blind", [
        (1, 1, None, "pair", 0, 3, 1, 1, 0, 0, "open", 100, 0, 0),
        (2, 2, None, "pair", 1, 2, 2, 0, 0, 0, "done", 101, 0, 1),
        (3, 5, None, "pair", 0, 1, 0, 0, 1, 0, "open", 104, 0, 0),
        (4, 7, 3, "pair", 5, 1, 0, 0, 0, 0, "open", 106, 0, 0),
        (5, 4, None, "pair", 2, 2, 2, 0, 0, 0, "done", 103, 0, 0),
        (6, 6, None, "pair", 0, 1, 0, 0, 0, 0, "open", 105, 0, 0),
        (7, 3, None, "single", 0, 1, 1, 0, 0, 0, "done", 102, 1, 1),
        (8, 8, None, "pair", 0, 3, 1, 0, 0, 0, "open", 107, 0, 1),
        (9, 9, None, "pair", 0, 2, 0, 0, 0, 0, "open", 108, 0, 0)]),
    ("leases", "task_id,rater_id,expires_ms,live,swapped", [
        (1, 1, 9000, 1, 1), (6, 1, 500, 1, 0), (8, 2, 400, 0, 0), (3, 3, 9000, 1, 0)]),
    ("skips", "task_id,rater_id", [(6, 2), (1, 3)]),
    ("labels", "id,task_id,rater_id,answer,confidence,rationale,seconds,assistance,created_ms,"
     "swapped", [
        (1, 1, 2, "a", 3, "r", 12.5, '{"s":1}', 200, 0), (2, 2, 1, "a", None, None, 3.0, None, 210, 1),
        (3, 2, 3, "a", 2, None, 7.0, "{}", 220, 0), (4, 5, 1, "b", None, None, None, None, 230, 0),
        (5, 5, 3, "b", None, None, 1.0, None, 240, 0), (6, 7, 1, "bad", None, None, 4.0, "{}", 250, 0),
        (7, 8, 1, "b", None, None, 2.0, '{"x":1}', 250, 0)]),
    ("comparisons", "id,prompt,chosen,rejected,tie,label,source,weight,layer_id,item_seq,"
     "provenance,created_ms,digest", [
        (1, "p2", "A2", "B2", 0, None, "human", 1.0, None, 2, '{"raters":[3,1],"agreement":1.0}',
         300, None),
        (2, "px", "c", "r", 0, None, "import", 1.0, None, None, '{"trusted":true}', 50, b"\x09"),
        (3, "py", "c", "r", 0, None, "import", 1.0, None, None, "not json", 60, None),
        (4, "pz", "c", "r", 0, None, "import", 0.5, None, None, '{"trusted":1}', 70, None),
        (5, "p4", "A4", "B4", 0, None, "aggregate", 1.0, None, 4,
         '{"decided_by":[{"source":"human"}],"agreement":0.5}', 310, None),
        (6, "pw", "c", None, 0, "good", "layer", 1.0, 2, 3, None, 320, None),
        (7, "p6", "A6", "B6", 0, None, "human", 1.0, None, 6, '{"raters":[1]}', 330, None),
        (8, "pv", "c", "r", 1, None, "import", 1.0, None, None, '{"trusted":true}', 80, None),
        (9, "pu", "c", "r", 0, None, "import", 1.0, None, None, '{"trusted":false}', 90, None)]),
    ("flags", "id,item_seq,layer_id,reason,state,created_ms", [
        (1, 1, 2, "r1", "open", 400), (2, 3, None, "r2", "open", 410)]),
    ("events", "id,at_ms,actor,kind,detail,subject", [
        (1, 500, "admin1", "layer_reinstated", None, "layer:2"), (2, 510, None, "x", "{}", "task:1"),
        (3, 520, "a", "layer_reinstated", None, "layer:2")]),
    ("overlap_rules", "scope,value,overlap", [("batch", "b1", 3), ("domain", "math", 2)]),
    ("batches", "batch,assistance,guidelines,updated_ms,paused", [
        ("b1", "after", "g", 600, 0), ("b2", "shown", None, 610, 1), ("zz", "hidden", None, 620, 0)]),
    ("domains", "name,decomposer,criteria,hard_tokens,step_order,updated_ms,checker_answers,"
     "checkers", [("math", "steps", None, 0, "sequential", 700, 1, 31),
                  ("code", "code", '[{"text":"t","veto":true}]', 5, "parallel", 710, 0, 4)]),
    ("rollups", "item_seq,step_order,state,reason,provenance", [
        (7, "sequential", "open", None, None),
        (4, "parallel", "resolved", "both_pass",
         '{"decided_by":[{"source":"human"},{"source":"human"}]}')]),
    ("key_scopes", "key_id,scope,value", [
        (5, "batch", "b1"), (5, "batch", "B0"), (5, "domain", "math"), (2, "domain", "law")]),
    ("audits", "task_id,item_seq,layer_id,layer_verdict,human_verdict,outcome,created_ms,"
     "decided_ms", [(7, 3, 2, "good", "bad", "disagree", 800, 900),
                    (2, 2, 2, "a", None, None, 800, None)]),
    ("layer_drift", "layer_id,parent_id,detail,computed_ms", [(2, 1, '{"probe":{}}', 950)]),
    ("webhooks", "id,key_id,url,secret,created_ms,delivered,failures,last_status,last_error,"
     "last_attempt_ms", [(1, 3, "http://h/1", "s", 960, 1, 0, 200, None, 970),
                         (2, 3, "http://h/2", "s", 961, 0, 2, 500, "bad", 980),
                         (3, 6, "http://h/3", "s", 962, 0, 0, None, None, None)]),
    ("webhook_outbox", "id,nonce,hook_id,item_seq,verdict,source,confidence,resolved_ms,attempts,"
     "next_ms", [(1, "n1", 1, 2, "a", "human", 0.9, 150, 0, 0),
                 (2, "n2", 2, 2, "a", "human", 0.9, 150, 1, 990),
                 (3, "n3", 1, 3, "good", "layer", 0.95, 102, 0, 0)]),
]

# Tables whose key the database assigns: PostgreSQL's identity is set past
# the sample rows, as SQLite's next rowid is.
IDENTITY = {"api_keys": "id", "layers": "id", "items": "seq", "subquestions": "id", "raters": "id",
            "tasks": "id", "labels": "id", "comparisons": "id", "flags": "id", "events": "id",
            "webhooks": "id", "webhook_outbox": "id"}

# Parameters by type for statements without their own below: four runs.
GENERIC = {"bigint": [1, 2, 0, 100000], "text": ["b1", None, "math", "a"],
           "double": [0.5, None, 0.5, 2.0], "bytea": [b"\x01", None, b"\x02", None]}

# Parameters that reach the rows (and the edges) of a statement.
CUSTOM = {
    "ST_EXPORT_PREFERENCE": [[0, None, "human", None], [0, None, "human", 0.9],
                             [0, "b1", "human", 0.2], [0, None, "aggregate", None]],
    "ST_EXPORT_STEP_SIDES": [[0, None, None], [0, None, "human"], [0, "B0", None]],
    "ST_EXPORT_STEPS": [[7, "a", None], [7, "a", "human"], [4, "a", None]],
    "ST_EXPORT_ITEMS": [[0, None, None], [0, "b1", "human"]],
    "ST_ITEMS_ALL": [[0, None, 0, 100], [1, "resolved", 0, 100], [0, None, 3, 2]],
    "ST_ITEMS_BATCH": [[0, None, 0, 100, "b1"], [0, None, 6, 100, "b1"]],
    "ST_ITEMS_STATUS": [[0, "resolved", 0, 100], [0, "awaiting_human", 3, 100]],
    "ST_ITEMS_EXT": [[0, None, 0, 100, "e1", None], [0, None, 6, 100, "e1", "b1"],
                     [0, "resolved", 0, 10, "e1", None]],
    "ST_ITEM_FIND_EXT": [[None, "e1"], [3, "e1"], [6, "e1"]],
    "ST_GROUP_MARK_STALE": [[3, "g1", 10], [None, "g1", 10]],
    "ST_GROUP_SAMPLES": [[3, "g1", 10], [None, "g1", 10]],
    "ST_GROUP_SAMPLES_IN": [[3, "g1", 10, 1, 2] + [None] * 62, [3, "g1", 1, 2, 1] + [None] * 62,
                            [None, "g1", 10, 1] + [None] * 63, [3, "g2", 10, 1] + [None] * 63],
    "ST_GROUP_SAMPLES_IN8": [[3, "g1", 10, 2, 1] + [None] * 6, [3, "g1", 1, 1, 2] + [None] * 6,
                             [3, "g2", 10, 1] + [None] * 7],
    "ST_GROUP_MARK_STALE_IN": [[3, "g1", 10, 1, 2] + [None] * 62, [3, "g1", 2, 2, 1] + [None] * 62,
                               [3, "g2", 10, 1] + [None] * 63],
    "ST_GROUP_LOG_SINCE": [[0, 100], [1, 1], [100, 10]],
    "ST_RESCORE_PENDING": [[0, 1, 10], [0, 2, 10], [0, None, 10]],
    "ST_GROUP_STALE_PENDING": [[0, 10], [9, 10]],
    "ST_ITEM_FIND_DIGEST": [[b"\x07"], [b"\x08"]],
    "ST_CMP_INSERT": [["p", "c", "r", 0, None, "human", 1.0, None, 2, '{"raters":[1]}', 7, b"\x09"],
                      ["p", "c", None, 0, "good", "layer", 0.5, 2, None, None, 7, b"\x0a"]],
    "ST_ITEM_SET_DIGEST": [[1, b"\x09"], [1, b"\x07"]],
    "ST_KEY_INSERT": [["k9", "rater", "l9", H, 7], ["rater1", "rater", "l9", H, 7]],
    "ST_KEY_REVOKE": [["rater1", 9], ["Rater2", 9]],
    "ST_TASK_INSERT": [[1, "pair", 0, 2, 7]],
    "ST_LABEL_INSERT": [[9, 1, "a", 3, "r", 1.5, None, 7, 0], [1, 2, "a", 3, "r", 1.5, None, 7, 0]],
    "ST_GOLD_TASK_INSERT": [[9, "pair", 0, 7]],
    "ST_OVERLAP_UPSERT": [["batch", "b1", 4], ["domain", "law", 2]],
    "ST_OVERLAP_APPLY_DOMAIN": [["math", 5], ["math", 1]],
    "ST_LABEL_REPLACE": [[1, 2, "b", 1, "x", 2.5]],
    "ST_RESCORE_HUMAN": [[9, None, 0.3, 2, "{}", 5], [1, None, 0.3, 2, "{}", 5]],
    "ST_GROUP_STALE_CLEAR": [[9, 1], [9, 2]],
    "ST_DOMAIN_UPSERT": [["math", "code", None, 3, "parallel", 5, 0, 4],
                         ["new", "none", None, 0, "sequential", 5, 1, 31]],
    "ST_SUBQ_INSERT": [[9, "a", 0, "step", 0, 3, "q", 0.5, 0.5, "open", None, None, 1]],
    "ST_ROLLUP_INSERT": [[9, "sequential"], [7, "sequential"]],
    "ST_ROLLUP_SET": [[7, "whole", "unsure", '{"x":1}']],
    "ST_LAYER_TRAINED": [[3, "candidate", H, 5, "{}", "{}", 0.5, "{}"], [3, "rejected", None, 0,
                                                                        None, None, None, None]],
    "ST_WEBHOOK_DELETE": [[3, 6], [3, 3]],
    "ST_KEY_BY_LOOKUP": [["l2"], ["l4"]],
    "ST_ITEM_GET": [["u1"], ["u6"]],
    "ST_ITEM_BY_UUID": [["u2"], ["u6"]],
    "ST_SUBQ_ITEM": [[7], [4]],
    "ST_SUBQ_TASK_OF": [[3], [1]],
    "ST_ROLLUP_GET": [[7], [4]],
    "ST_RETRACT_ITEM_SEQ": [["u1", 0], ["u1", 3], ["u1", 6]],
    "ST_AUDIT_REINSTATED": [["layer:2"], ["layer:1"]],
    "ST_WEBHOOK_LIST": [[3], [6]],
    "ST_SETTLED": [[-1], [3], [100], [0]],
    "ST_LABEL_GET": [[1, 2], [2, 1], [5, 1], [8, 1]],
    "ST_RATER_DETAIL": [[1, 1000], [2, 1000], [3, 100]],
    "ST_KEY_LIST": [[0, 100], [3, 2]],
    "ST_KEY_SCOPE_INSERT": [[5, "batch", "b1"], [5, "domain", "law"]],
    "ST_SKIP_INSERT": [[6, 2], [6, 3]],
    "ST_BATCH_UPSERT": [["b1", None, 0, None, 5, None], ["b1", "hidden", 1, "new", 5, 1],
                        ["nb", None, 1, "g", 5, None]],
    "ST_LAYER_SET_ACTIVE": [[1, 5, 1, 2], [1, 5, 0, 2], [3, 5, 1, None], [2, 5, None, 1]],
    "ST_AGREE_LABELS": [[None], ["b1"]],
    "ST_ITEMS_IN_BATCH": [["b1"], ["nope"]],
    "ST_AUDIT_LAYER_DEMOTED": [[1], [2]],
    "ST_OVERLAP_APPLY_BATCH": [["b1", 5], ["b1", 1]],
    "ST_BATCH_LIST": [["", 100], ["b1", 1]],
    "ST_RATERS_PAGE": [["", 100], ["R", 100]],
    "ST_COUNT_DOMAIN": [[10]], "ST_COUNT_BATCH": [[10]],
    "ST_TASK_PICK_GOLD": [[1, 0], [2, 5], [3, 5]],
    "ST_TASK_PICK_NEAR": [[1, 5], [3, 5]], "ST_TASK_PICK_FAR": [[1, 5], [3, 5]],
    "ST_BATCH_HOURLY": [["b1", 3600000], ["b1", 300]],
    "ST_AUDIT_ASSIST": [[2], [1]],
    "ST_ITEM_AGGREGATE": [[2, "b", 0.5, 999], [8, "a", 0.6, 999], [1, "a", 0.6, 999]],
    "ST_ITEM_RESOLVE": [[1, "b", 0.5, 999], [2, "a", 0.9, 999]],
    "ST_ITEM_SET_STATUS": [[1, "resolved", 5], [2, "awaiting_human", 5]],
    "ST_RESCORE_AUTO": [[1, "a", 0.9, 2, "{}", 5], [6, "a", 0.9, 2, "{}", 5]],
    "ST_ITEM_INSERT": [["n1", 3, "x1", "b1", "pair", "p", "a", "b", None, None, 0, "auto", "auto",
                        "a", "layer", 0.9, 2, None, 7, None],
                       ["n2", 6, None, None, "single", "p", "a", None, None, None, 0,
                        "awaiting_human", "human", None, None, None, None, None, 7, "g"]],
}

# SQL run before a statement, in its transaction, on both databases.
BEFORE = {"ST_LAYER_SET_ACTIVE": "UPDATE layers SET status = 'retired' WHERE status = 'active'"}

SKIP_KINDS = ("BEGIN", "COMMIT", "SAVEPOINT", "ROLLBACK", "RELEASE", "PRAGMA")
# ST_GROUP_LOG_INSERT writes SQLite's own group log, which PostgreSQL has
# not (it keeps the index items_group): its PostgreSQL text does nothing.
SKIP_NAMES = ("ST_DB_SIZE", "ST_DATA_VERSION", "ST_GROUP_LOG_INSERT")


def stmt_names():
    text = open(os.path.join(REPO, "core", "store_internal.h")).read()
    body = text[text.index("enum stmt_id {"):text.index("STMT_COUNT")]
    return re.findall(r"\b(ST_[A-Z0-9_]+),", body)


def psql(uri, sql):
    cmd = ["psql", "-X", "-q", "-d", uri, "-v", "ON_ERROR_STOP=1", "-A", "-t", "-F", "\x1f",
           "-R", "\x1e", "-P", "null=\x1a"]
    r = subprocess.run(cmd, input="SET search_path = %s;\n%s" % (SCHEMA, sql),
                       capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def pg_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bytes):
        return "'\\x%s'::bytea" % v.hex()
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


def norm(v):
    if v is None or v == "\x1a":
        return None
    if isinstance(v, bytes):
        return "\\x" + v.hex()
    try:
        return "%.9g" % float(v)
    except ValueError:
        return str(v)


def pg_rows(text):
    return [tuple(norm(v) for v in r.strip("\n").split("\x1f"))
            for r in text.split("\x1e") if r.strip("\n")]


def written_tables(sql):
    m = re.match(r"\s*(?:INSERT(?: OR IGNORE)? INTO|UPDATE|DELETE FROM)\s+(\w+)", sql, re.I)
    return [m.group(1)] + (["webhook_outbox"] if m.group(1) != "webhook_outbox" else []) if m else []


def columns(sq, table):
    return [c[1] for c in sq.execute("PRAGMA table_info(%s)" % table) if c[1] != "nonce"]


def select_all(sq, table):
    return "SELECT %s FROM %s" % (
        ", ".join('"%s"' % c for c in columns(sq, table)), table)


def setup(uri):
    sq = sqlite3.connect(":memory:", isolation_level=None)
    sq.create_function("rung_digest", -1, lambda *a: None)  # 003 only names it
    sq.execute("PRAGMA foreign_keys = ON")
    for f in sorted(os.listdir(os.path.join(REPO, "schema"))):
        if f.endswith(".sql"):
            sq.executescript(open(os.path.join(REPO, "schema", f)).read())
    psql(uri, "DROP SCHEMA IF EXISTS %s CASCADE;" % SCHEMA)
    sql = ["CREATE SCHEMA %s; SET search_path = %s;" % (SCHEMA, SCHEMA)]
    pg_dir = os.path.join(REPO, "schema", "pg")
    sql += [open(os.path.join(pg_dir, f)).read() for f in sorted(os.listdir(pg_dir))]
    reseq = []
    for table, cols, rows in ROWS:
        for r in rows:
            sq.execute("INSERT INTO %s(%s) VALUES(%s)" % (table, cols, ",".join("?" * len(r))), r)
            sql.append("INSERT INTO %s(%s) VALUES(%s);" % (table, cols,
                                                           ",".join(pg_literal(v) for v in r)))
        if table == "items":  # SQLite's group log, as the store writes it beside each item
            sq.execute('INSERT INTO item_groups(seq, key_id, "group") '
                       'SELECT seq, key_id, "group" FROM items WHERE "group" IS NOT NULL')
        if table in IDENTITY:
            reseq.append("SELECT setval(pg_get_serial_sequence('%s', '%s'), max(%s)) FROM %s;"
                         % (table, IDENTITY[table], IDENTITY[table], table))
    rc, _, err = psql(uri, "\n".join(sql))
    if rc:
        sys.exit("sql_equiv: loading PostgreSQL: " + err)
    return sq, "\n".join(reseq) + "\n"


def run_sqlite(sq, st, args):
    """(rows, last rowid, table dumps, whether it found or changed rows) or
    the error text."""
    tables = written_tables(st["sqlite"])
    if tables:
        sq.execute("BEGIN")
        if st["name"] in BEFORE:
            sq.execute(BEFORE[st["name"]])
    try:
        cur = sq.execute(st["sqlite"], args)
        rows = [tuple(norm(v) for v in r) for r in cur]
        dumps = [[tuple(norm(v) for v in r) for r in sq.execute(select_all(sq, t))]
                 for t in tables]
        return rows, cur.lastrowid, dumps, bool(rows) or cur.rowcount > 0
    except sqlite3.Error as e:
        return str(e)
    finally:
        if tables:
            sq.execute("ROLLBACK")


def run_pg(uri, sq, st, args, reseq):
    """(rows, table dumps) or the error text."""
    tables = written_tables(st["sqlite"])
    before = BEFORE.get(st["name"], "") + ";" if st["name"] in BEFORE and tables else ""
    sql = reseq + "BEGIN;\n" + before + "\nPREPARE s AS %s;\n\\echo \x1d\nEXECUTE s%s;\n" % (
        st["pg"], "(%s)" % ", ".join(pg_literal(a) for a in args) if args else "")
    for t in tables:
        sql += "\\echo \x1d\n%s;\n" % select_all(sq, t)
    rc, out, err = psql(uri, sql + "ROLLBACK;\n")
    if rc:
        return err.strip()
    parts = [pg_rows(p) for p in out.split("\x1d\n")[1:]]
    return parts[0], parts[1:]


def compare(uri, sq, st, args, reseq, found):
    """A description of how the two differ, "" when they agree. Adds the
    statement to found when it returned rows."""
    s, p = run_sqlite(sq, st, args), run_pg(uri, sq, st, args, reseq)
    if not isinstance(s, str) and s[3]:
        found.add(st["id"])
    if isinstance(s, str) or isinstance(p, str):
        both = isinstance(s, str) and isinstance(p, str)
        return "" if both else "error only on one side: sqlite=%s pg=%s" % (
            s if isinstance(s, str) else "ok", p if isinstance(p, str) else "ok")
    (s_rows, rowid, s_dumps, _), (p_rows, p_dumps) = s, p
    out = []
    if "AS last_insert_rowid" in st["pg"]:
        if p_rows != [(norm(rowid),)]:
            out.append("last_insert_rowid sqlite=%s pg=%s" % (rowid, p_rows))
    elif p_rows != s_rows and ("ORDER BY" in st["sqlite"].upper()
                               or sorted(map(repr, p_rows)) != sorted(map(repr, s_rows))):
        out.append("rows sqlite=%s pg=%s" % (s_rows[:5], p_rows[:5]))
    for t, sd, pd in zip(written_tables(st["sqlite"]), s_dumps, p_dumps):
        if sorted(map(repr, sd)) != sorted(map(repr, pd)):
            out.append("table %s: only sqlite %s; only pg %s" % (
                t, [r for r in sd if r not in pd][:3], [r for r in pd if r not in sd][:3]))
    return "; ".join(out)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: sql_equiv.py URI PG_PREPARE")
    uri, pg_prepare = sys.argv[1], sys.argv[2]
    r = subprocess.run([pg_prepare, uri, "-j"], capture_output=True, text=True)
    stmts = [json.loads(line) for line in r.stdout.splitlines()]
    names = stmt_names()
    sq, reseq = setup(uri)
    differ, skipped, runs, found, reads = 0, [], 0, set(), []
    try:
        for st in stmts:
            name = st["name"] = names[st["id"]]
            if (st["sqlite"].split()[0].upper() in SKIP_KINDS or name in SKIP_NAMES
                    or "rung_digest" in st["sqlite"]):
                skipped.append(name)
                continue
            reads.append(st["id"])
            arg_sets = CUSTOM.get(name) or [[GENERIC[t][k] for t in st["types"]] for k in range(4)]
            for args in arg_sets:
                runs += 1
                diff = compare(uri, sq, st, args, reseq, found)
                if diff:
                    differ += 1
                    print("DIFF %s %s\n  %s" % (name, args, diff))
    finally:
        psql(uri, "DROP SCHEMA IF EXISTS %s CASCADE;" % SCHEMA)
    print("sql_equiv: %d statements, %d runs, %d differences; skipped %d: %s" % (
        len(stmts) - len(skipped), runs, differ, len(skipped), " ".join(skipped)))
    empty = [names[i] for i in reads if i not in found]
    if empty:
        print("sql_equiv: found or changed no row in any run: " + " ".join(empty))
    unprepared = sorted(set(names) - set(names[st["id"]] for st in stmts))
    if unprepared:
        print("sql_equiv: not compared, they do not prepare (see pg_prepare): " + " ".join(unprepared))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
