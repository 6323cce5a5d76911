#!/usr/bin/env python3
"""A stand-in reward-model server for the "http" layer kind's tests.

    python3 tests/rm_server.py --protocol vllm|tei|rung [--mode MODE]
                               [--port 0] [--model NAME]

Prints "PORT <n>" on stdout once it listens, then serves until killed.

Each protocol is spoken as its project documents it:
  vllm  POST /pooling  {"model", "input": str | [str]} ->
        {"id", "object": "list", "created", "model",
         "data": [{"index", "object": "pooling", "data": [reward]}], "usage"}
        (vllm/entrypoints/pooling/pooling/protocol.py); an error is
        {"error": {"message", "type", "param", "code"}} (ErrorResponse of
        vllm/entrypoints/openai/engine/protocol.py), e.g. an unknown model
        is 404.
  tei   POST /predict  {"inputs": str | [str] | [str, str] | [[str] | [str, str], ...],
        "raw_scores", "truncate"} -> one list of {"score", "label"} for a
        single input, a list of such lists for a batch, sorted by score
        (router/src/http/types.rs); without raw_scores a single-label
        model's logit goes through a sigmoid. An error is {"error",
        "error_type"} (ErrorResponse of router/src/lib.rs).
  rung  POST /score  {"inputs": [{"prompt", "response"}]} -> {"scores": [...]}
        (README, External layers); an error is {"error": text}.

The model: reward = 0.5 * words(response) - 0.125 * words(prompt), words
split on whitespace. A text (vllm, tei with a template) is read as
"Human: {prompt}\\n\\nAssistant: {response}"; a text without that shape is
all response. GET /stats answers {"requests", "inputs"} (scoring requests
and inputs so far); GET /last the body of the last scoring request as it
was received (null before one); POST /mode {"mode": M} changes the mode.
GET /stats also says how many scoring requests are "held" (mode hold).

Modes: ok; reverse (as ok, the reward negated: a model that scores
backwards); stall (answers after 10 s); 500 (always, with the protocol's
own error object); flaky (every other request is a 500, the first one
included); 400 (always); garbage (a body that is not JSON); shape (valid
JSON of the wrong shape for the protocol: vllm an embedding of 8 numbers
per input, tei one object instead of a list per input, rung "scores" an
object); count (one result too few); nan (a NaN reward, as Python's json
writes it); string (a reward that is a string); big (a 2 MiB answer);
labels (tei: two labels per input, "good" = reward, "bad" = -reward);
auth (as ok, but without "Authorization: Bearer secret" the answer is 401);
hold (a scoring request waits, counted in /stats "held", until POST /mode
changes the mode, then is answered as ok: a test decides exactly when a
model call returns).
"""
import argparse
import json
import math
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATHS = {"vllm": "/pooling", "tei": "/predict", "rung": "/score"}


def reward(prompt, response):
    return 0.5 * len(response.split()) - 0.125 * len(prompt.split())


def reward_of_text(text):
    head, sep, response = text.rpartition("\n\nAssistant: ")
    if not sep or not head.startswith("Human: "):
        return reward("", text)
    return reward(head[len("Human: "):], response)


class BadRequest(Exception):
    def __init__(self, status, body):
        super().__init__(status)
        self.status = status
        self.body = body


def is_str_list(v, sizes):
    return isinstance(v, list) and len(v) in sizes and all(isinstance(s, str) for s in v)


class State:
    def __init__(self, args):
        self.args = args
        self.mode = args.mode
        self.requests = 0
        self.inputs = 0
        self.last = None  # the last scoring request's body
        self.held = 0     # scoring requests waiting in mode hold
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # the mode changed


def vllm_error(status, message, kind):
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}


def error_body(protocol, status, message):
    """The error object each project answers with."""
    if protocol == "vllm":
        return vllm_error(status, message, "InternalServerError" if status >= 500
                          else "BadRequestError")
    if protocol == "tei":
        return {"error": message, "error_type": "backend" if status >= 500 else "validation"}
    return {"error": message}


def vllm_rewards(req, model):
    if not isinstance(req, dict) or "input" not in req:
        raise BadRequest(400, vllm_error(400, "input is required", "BadRequestError"))
    if req.get("model") not in (None, model):
        raise BadRequest(404, vllm_error(404, "The model `%s` does not exist." % req.get("model"),
                                         "NotFoundError"))
    inp = req["input"]
    texts = [inp] if isinstance(inp, str) else inp
    if not is_str_list(texts, range(1, 1 << 20)):
        raise BadRequest(400, vllm_error(400, "input must be text", "BadRequestError"))
    return [reward_of_text(t) for t in texts], None


def tei_sequence(seq):
    if is_str_list(seq, (1,)):
        return reward_of_text(seq[0])
    if is_str_list(seq, (2,)):
        return reward(seq[0], seq[1])
    raise BadRequest(422, {"error": "a sequence is [string] or [string, string]",
                           "error_type": "validation"})


def tei_rewards(req):
    inputs = req.get("inputs") if isinstance(req, dict) else None
    if isinstance(req, dict) and req.get("truncate") not in (None, True, False):
        raise BadRequest(422, {"error": "truncate: a boolean", "error_type": "validation"})
    if isinstance(inputs, str):
        return [reward_of_text(inputs)], "single"
    if is_str_list(inputs, (1, 2)):
        return [tei_sequence(inputs)], "single"
    if not isinstance(inputs, list) or not inputs:
        status = 400 if inputs == [] else 422
        raise BadRequest(status, {"error": "Batch is empty" if status == 400 else "bad inputs",
                                  "error_type": "empty" if status == 400 else "validation"})
    return [tei_sequence(s) for s in inputs], "batch"


def rung_rewards(req):
    inputs = req.get("inputs") if isinstance(req, dict) else None
    if not isinstance(inputs, list) or not inputs or not all(
            isinstance(i, dict) and isinstance(i.get("prompt"), str)
            and isinstance(i.get("response"), str) for i in inputs):
        raise BadRequest(422, {"error": "inputs: [{prompt, response}, ...]"})
    return [reward(i["prompt"], i["response"]) for i in inputs], None


def predictions(r, raw, mode):
    if mode == "labels":
        preds = [{"score": r, "label": "good"}, {"score": -r, "label": "bad"}]
        return sorted(preds, key=lambda p: p["score"], reverse=True)
    score = r if raw or isinstance(r, str) or math.isnan(r) else 1.0 / (1.0 + math.exp(-r))
    return [{"score": score, "label": "LABEL_0"}]


def wrong_shape(protocol, rewards):
    """Valid JSON that is not the protocol's answer."""
    if protocol == "vllm":
        return {"id": "pool-test", "object": "list", "created": int(time.time()),
                "model": "test", "data": [{"index": i, "object": "pooling",
                                           "data": [0.125 * k for k in range(8)]}
                                          for i in range(len(rewards))],
                "usage": {"prompt_tokens": 0, "total_tokens": 0}}
    if protocol == "tei":
        return [{"score": r, "label": "LABEL_0"} for r in rewards]
    return {"scores": {"first": rewards[0]}}


def answer(protocol, model, req, rewards, form, mode):
    if protocol == "vllm":
        return {"id": "pool-test", "object": "list", "created": int(time.time()), "model": model,
                "data": [{"index": i, "object": "pooling", "data": [r]}
                         for i, r in enumerate(rewards)],
                "usage": {"prompt_tokens": 0, "total_tokens": 0, "completion_tokens": 0,
                          "prompt_tokens_details": None}}
    if protocol == "tei":
        lists = [predictions(r, bool(req.get("raw_scores")), mode) for r in rewards]
        return lists[0] if form == "single" else lists
    return {"scores": rewards}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(n) or b"null")
        except ValueError:
            raise BadRequest(400, {"error": "body is not JSON"})

    def do_GET(self):
        st = self.state
        with st.lock:
            if self.path == "/stats":
                return self.reply(200, {"requests": st.requests, "inputs": st.inputs,
                                        "held": st.held})
            if self.path == "/last":
                return self.reply(200, st.last)
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        st = self.state
        try:
            req = self.read_json()
            if self.path == "/mode":
                with st.lock:
                    st.mode = req["mode"]
                    st.changed.notify_all()
                return self.reply(200, {"mode": st.mode})
            if self.path != PATHS[st.args.protocol]:
                return self.reply(404, {"error": "not found"})
            with st.lock:
                st.requests += 1
                st.last = req
                n_req, mode = st.requests, st.mode
            if mode == "auth" and self.headers.get("Authorization") != "Bearer secret":
                return self.reply(401, {"error": "Unauthorized"})
            self.score(req, mode, n_req)
        except BadRequest as e:
            self.reply(e.status, e.body)

    def score(self, req, mode, n_req):
        st, protocol = self.state, self.state.args.protocol
        if protocol == "vllm":
            rewards, form = vllm_rewards(req, st.args.model)
        elif protocol == "tei":
            rewards, form = tei_rewards(req)
        else:
            rewards, form = rung_rewards(req)
        with st.lock:
            st.inputs += len(rewards)
            if mode == "hold":  # answered as ok once the mode changes
                st.held += 1
                while st.mode == "hold":
                    st.changed.wait()
                st.held -= 1
                mode = "ok"
        if mode == "stall":
            time.sleep(10)
        if mode == "500" or (mode == "flaky" and n_req % 2 == 1):
            return self.reply(500, error_body(protocol, 500, "internal error"))
        if mode == "400":
            return self.reply(400, error_body(protocol, 400, "bad request"))
        if mode == "garbage":
            return self.reply(200, None, raw=b"<html>not json{")
        if mode == "shape":
            return self.reply(200, wrong_shape(protocol, rewards))
        if mode == "reverse":
            rewards = [-r for r in rewards]
        if mode == "big":
            return self.reply(200, None, raw=b"[" + b" " * (2 << 20) + b"]")
        if mode == "count":
            rewards = rewards[:-1]
        elif mode == "nan":
            rewards = [float("nan")] + rewards[1:]
        elif mode == "string":
            rewards = ["1.5"] + rewards[1:]
        self.reply(200, answer(protocol, st.args.model, req, rewards, form, mode))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", choices=sorted(PATHS), required=True)
    ap.add_argument("--mode", default="ok")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--model", default="test-rm")
    args = ap.parse_args()
    Handler.state = State(args)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
