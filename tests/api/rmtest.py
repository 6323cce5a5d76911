"""tests/rm_server.py as a test fixture: a stand-in reward-model server
speaking one protocol (vllm, tei or rung) on a free port."""
import json
import os
import subprocess
import sys
import urllib.request

RM_SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rm_server.py")
MODEL = "test-rm"


class ModelServer:
    """reward = 0.5 * words(response) - 0.125 * words(prompt); see
    tests/rm_server.py for the protocols and modes."""

    def __init__(self, protocol="rung", mode="ok"):
        self.protocol = protocol
        self.proc = subprocess.Popen([sys.executable, RM_SERVER, "--protocol", protocol,
                                      "--mode", mode, "--port", "0", "--model", MODEL],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise AssertionError("rm_server.py said %r" % line)
        self.url = "http://127.0.0.1:%d" % int(line.split()[1])

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.load(r)

    def stats(self):
        return self.get("/stats")

    def last(self):
        """The body of the last scoring request, as the server read it."""
        return self.get("/last")

    def mode(self, mode):
        req = urllib.request.Request(self.url + "/mode", json.dumps({"mode": mode}).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def layer_params(self, **extra):
        """The body of POST /v1/layers for this server."""
        body = {"kind": "http", "url": self.url, "protocol": self.protocol}
        if self.protocol == "vllm":
            body["model"] = MODEL
        body.update(extra)
        return body

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()
