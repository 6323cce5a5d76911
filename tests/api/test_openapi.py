"""API tests for the OpenAPI document (issue 13): static/openapi.json is
served at GET /v1/openapi.json without a key; every route of server/api.c's
routes table is in it and every path and method in it is served; real
answers (items, tasks, labels, layers, status, errors, export lines) match
its schemas, checked with a small JSON-schema validator (type, required,
properties, additionalProperties, items, enum, oneOf, $ref, bounds)."""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rungtest import REPO_ROOT  # noqa: E402
from test_subq import math_pair  # noqa: E402
from test_tasks import ReviewCase  # noqa: E402

DOC_PATH = os.path.join(REPO_ROOT, "static", "openapi.json")
API_C = os.path.join(REPO_ROOT, "server", "api.c")
METHODS = ("get", "put", "post", "delete", "patch")


def load_doc():
    with open(DOC_PATH) as f:
        return json.load(f)


def served_routes():
    """(METHOD, pattern) of every entry of api.c's routes[] table; '*' is
    one path segment."""
    with open(API_C) as f:
        src = f.read()
    table = re.search(r"static const struct route routes\[\] = \{(.*?)\n\};", src, re.S)
    assert table, "routes[] not found in server/api.c"
    return set(re.findall(r'\{"([A-Z]+)", "(/[^"]*)", ROLE_', table.group(1)))


def documented_routes(doc):
    """(METHOD, pattern) of every operation, {param} written as '*'."""
    out = set()
    for path, item in doc["paths"].items():
        for method in item:
            if method in METHODS:
                out.add((method.upper(), re.sub(r"\{[^}/]+\}", "*", path)))
    return out


class SchemaError(AssertionError):
    pass


class Validator:
    """The subset of JSON Schema (2020-12, as OpenAPI 3.1 uses it) that
    the document uses."""

    TYPES = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }

    def __init__(self, doc):
        self.doc = doc

    def resolve(self, ref):
        assert ref.startswith("#/"), ref
        node = self.doc
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def check(self, value, schema, where="$"):
        if "$ref" in schema:
            return self.check(value, self.resolve(schema["$ref"]), where)
        if "oneOf" in schema:
            fits = 0
            for sub in schema["oneOf"]:
                try:
                    self.check(value, sub, where)
                    fits += 1
                except SchemaError:
                    pass
            if fits != 1:
                raise SchemaError("%s: fits %d of oneOf, not 1: %r" % (where, fits, value))
        types = schema.get("type")
        if types is not None:
            types = types if isinstance(types, list) else [types]
            for t in types:
                assert t in self.TYPES, "unknown type %r in the document" % t
            if not any(self.TYPES[t](value) for t in types):
                raise SchemaError("%s: %r is not %s" % (where, value, "|".join(types)))
        if "enum" in schema and value not in schema["enum"]:
            raise SchemaError("%s: %r not in %r" % (where, value, schema["enum"]))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                raise SchemaError("%s: %r < minimum" % (where, value))
            if "maximum" in schema and value > schema["maximum"]:
                raise SchemaError("%s: %r > maximum" % (where, value))
        if isinstance(value, dict):
            self.check_object(value, schema, where)
        if isinstance(value, list):
            if len(value) < schema.get("minItems", 0):
                raise SchemaError("%s: fewer than minItems" % where)
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                raise SchemaError("%s: more than maxItems" % where)
            for i, v in enumerate(value):
                if "items" in schema:
                    self.check(v, schema["items"], "%s[%d]" % (where, i))

    def check_object(self, value, schema, where):
        for k in schema.get("required", []):
            if k not in value:
                raise SchemaError("%s: required %r missing in %r" % (where, k, value))
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                self.check(v, props[k], "%s.%s" % (where, k))
            elif extra is False:
                raise SchemaError("%s: property %r not allowed" % (where, k))
            elif isinstance(extra, dict):
                self.check(v, extra, "%s.%s" % (where, k))


class TestValidator(unittest.TestCase):
    def test_it_refuses_what_it_should(self):
        v = Validator({"components": {"schemas": {"E": {"type": "object", "required": ["a"],
                                                        "properties": {"a": {"type": "integer"}}}}}})
        ref = {"$ref": "#/components/schemas/E"}
        v.check({"a": 1}, ref)
        for bad in ({}, {"a": "1"}, {"a": True}, [], None):
            with self.assertRaises(SchemaError):
                v.check(bad, ref)
        v.check(None, {"type": ["string", "null"]})
        with self.assertRaises(SchemaError):
            v.check("c", {"enum": ["a", "b"]})
        with self.assertRaises(SchemaError):
            v.check([1, "x"], {"type": "array", "items": {"type": "integer"}})
        with self.assertRaises(SchemaError):
            v.check({"x": 1}, {"type": "object", "properties": {}, "additionalProperties": False})


class TestDocument(unittest.TestCase):
    def test_shape_and_refs(self):
        doc = load_doc()
        self.assertEqual(doc["openapi"], "3.1.0")
        text = json.dumps(doc)
        v = Validator(doc)
        for ref in set(re.findall(r'"\$ref": "([^"]+)"', text)):
            v.resolve(ref)  # raises KeyError when it points nowhere
        for path, item in doc["paths"].items():
            for method, op in item.items():
                self.assertIn(method, METHODS, path)
                self.assertTrue(op.get("responses"), (method, path))
                self.assertIn(op.get("x-rung-role"), ("none", "admin", "pipeline", "rater"))
                for name in re.findall(r"\{([^}]+)\}", path):
                    self.assertIn(name, [p["name"] for p in op.get("parameters", [])
                                         if p["in"] == "path"], (method, path))

    def test_every_route_in_the_table_is_documented_and_no_other(self):
        routes, documented = served_routes(), documented_routes(load_doc())
        self.assertGreater(len(routes), 20)
        self.assertEqual(routes - documented, set(), "served but not in static/openapi.json")
        self.assertEqual(documented - routes, set(), "in static/openapi.json but not served")


class ServedCase(ReviewCase):
    daemon_args = ["--gold-rate", "0", "--side-order", "fixed"]

    def setUp(self):
        super().setUp()
        self.doc = load_doc()
        self.v = Validator(self.doc)

    def op(self, method, path):
        for tmpl, item in self.doc["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}/]+\\\}", "[^/]+", re.escape(tmpl)) + "$"
            if re.match(pattern, path) and method.lower() in item:
                return item[method.lower()]
        self.fail("%s %s is not in the document" % (method, path))

    def schema_of(self, op, status, ctype="application/json"):
        resp = op["responses"].get(str(status))
        self.assertIsNotNone(resp, "status %s not documented" % status)
        if "$ref" in resp:
            resp = self.v.resolve(resp["$ref"])
        return resp["content"][ctype]["schema"]

    def conforms(self, method, path, status, body, expect=None):
        """Checks a real answer against the document: its status is
        documented for the operation and its body fits the schema."""
        if expect is not None:
            self.assertEqual(status, expect, body)
        path_only = path.split("?")[0]
        self.v.check(body, self.schema_of(self.op(method, path_only), status),
                     "%s %s %d" % (method, path_only, status))

    def call(self, method, path, body=None, token=None, expect=None):
        st, _, reply = self.d.request(method, path, body, token=token)
        self.conforms(method, path, st, reply, expect)
        return reply


class TestServed(ServedCase):
    def test_document_is_served_without_a_key(self):
        st, h, body = self.d.request("GET", "/v1/openapi.json")
        self.assertEqual(st, 200)
        self.assertEqual(h.get("Content-Type"), "application/json")
        self.assertEqual(body, self.doc)
        st, _, body = self.d.request("GET", "/v1/openapi.json?x=1")
        self.assertEqual((st, body["error"]["code"]), (400, "unknown_parameter"))

    def test_every_documented_operation_is_served(self):
        for tmpl, item in self.doc["paths"].items():
            path = re.sub(r"\{[^}/]+\}", "1", tmpl)
            for method in item:
                body = {} if "requestBody" in item[method] else None
                st, _, reply = self.d.request(method.upper(), path, body, token=self.admin)
                self.assertNotEqual(st, 405, (method, path, reply))
                if st == 404:
                    self.assertNotIn("no endpoint", reply["error"]["message"], (method, path))
        st, _, reply = self.d.request("GET", "/v1/nothing", token=self.admin)
        self.assertEqual((st, reply["error"]["code"]), (404, "not_found"))

    def test_every_operation_refuses_an_unknown_parameter(self):
        """Every route, whether or not it takes parameters of its own,
        answers an unknown one with 400 unknown_parameter naming it, in the
        documented shape, before it does anything."""
        rater = self.d.key("rater", "r1")
        self.call("POST", "/v1/items", {"prompt": "p", "responses": ["a", "b"]},
                  token=self.pipe, expect=201)
        for tmpl, item in self.doc["paths"].items():
            path = re.sub(r"\{[^}/]+\}", "1", tmpl) + "?zz=1"
            for method in item:
                body = {} if "requestBody" in item[method] else None
                st, _, reply = self.d.request(method.upper(), path, body, token=self.admin)
                self.conforms(method.upper(), path, st, reply, expect=400)
                self.assertEqual(reply["error"]["code"], "unknown_parameter", (method, path))
                self.assertIn("'zz'", reply["error"]["message"], (method, path))
        # Refused before anything happened: no item stored, no task leased.
        st, _, reply = self.d.request("POST", "/v1/items?zz=1",
                                      {"prompt": "q", "responses": ["c", "d"]}, token=self.pipe)
        self.assertEqual((st, reply["error"]["code"]), (400, "unknown_parameter"))
        listed = self.call("GET", "/v1/items", token=self.pipe, expect=200)
        self.assertEqual([i["prompt"] for i in listed["items"]], ["p"])
        st, _, reply = self.d.request("GET", "/v1/tasks/next?zz=1", token=rater)
        self.assertEqual((st, reply["error"]["code"]), (400, "unknown_parameter"))
        task = self.call("GET", "/v1/tasks/next", token=rater, expect=200)
        self.assertIsNotNone(task.get("id"), task)

    def test_real_answers_fit_the_schemas(self):
        rater = self.d.key("rater", "r1")
        one = self.call("POST", "/v1/items", {"prompt": "p", "responses": ["a1", "b1"],
                                              "batch": "b1", "external_id": "e1"},
                        token=self.pipe, expect=201)
        many = self.call("POST", "/v1/items", {"items": [math_pair(1), {"prompt": "q",
                                                                        "response": "r"}]},
                         token=self.pipe, expect=201)
        self.call("POST", "/v1/items", {"prompt": "p", "responses": ["a1", "b1"], "batch": "b1",
                                        "external_id": "e1"}, token=self.pipe, expect=200)
        self.call("GET", "/v1/items/" + one["id"], token=self.pipe, expect=200)
        decomposed = self.call("GET", "/v1/items/" + many["items"][0]["id"], token=self.pipe,
                               expect=200)
        self.assertTrue(decomposed["subquestions"])
        self.call("GET", "/v1/items?batch=b1&limit=1", token=self.pipe, expect=200)
        task = self.call("GET", "/v1/tasks/next", token=rater, expect=200)
        self.call("GET", "/v1/tasks/%d" % task["id"], token=rater, expect=200)
        answer = "yes" if task["kind"] == "subquestion" else "a"
        self.call("POST", "/v1/tasks/%d/labels" % task["id"], {"answer": answer}, token=rater,
                  expect=201)
        for path in ("/v1/layers", "/v1/status", "/v1/raters", "/v1/overlap", "/v1/domains",
                     "/v1/batches/b1", "/healthz"):
            self.call("GET", path, token=self.admin, expect=200)
        self.call("GET", "/v1/me", token=rater, expect=200)
        self.call("PUT", "/v1/batches/b1", {"assistance": "after"}, token=self.admin, expect=200)

    def test_error_bodies_fit_the_schemas(self):
        self.call("GET", "/v1/status", expect=401)
        self.call("GET", "/v1/status", token=self.pipe, expect=403)
        self.call("GET", "/v1/items/nope", token=self.pipe, expect=404)
        self.call("GET", "/v1/items?bogus=1", token=self.pipe, expect=400)
        self.call("GET", "/v1/export?format=csv", token=self.admin, expect=400)
        self.call("POST", "/v1/items", {"prompt": 5}, token=self.pipe, expect=422)
        st, _, body = self.d.request("POST", "/v1/items", raw="{", token=self.pipe)
        self.conforms("POST", "/v1/items", st, body, expect=400)

    def test_export_lines_fit_the_schemas(self):
        rater = self.d.key("rater", "r1")
        self.post_items([{"prompt": "p", "responses": ["x", "y"], "batch": "b"}])
        st, _, t = self.next(rater)
        self.label(rater, t["id"], "a")
        schemas = self.doc["components"]["schemas"]
        op = self.op("GET", "/v1/export")
        self.assertIn("application/x-ndjson", op["responses"]["200"]["content"])
        for fmt, name in (("preference", "PreferenceLine"), ("items", "ItemLine")):
            st, _, body = self.d.request("GET", "/v1/export?format=" + fmt, token=self.admin)
            lines = [json.loads(x) for x in body.decode().splitlines()]
            self.assertEqual(len(lines), 1, fmt)
            self.v.check(lines[0], schemas[name], fmt)


if __name__ == "__main__":
    unittest.main()
