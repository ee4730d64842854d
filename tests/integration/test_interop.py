"""Interop: a LwM2M client we did not write (npm's coap-node, pinned in
interop/package-lock.json) registers, shows up in GET /clients and
de-registers (issue 2)."""

import json
import os
import shutil
import subprocess
import unittest

from lwdslib import ServiceTestCase, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
INTEROP = os.path.join(HERE, "interop")


def npm_ci():
    """Install the pinned client from the committed lock file once."""
    if all(os.path.isdir(os.path.join(INTEROP, "node_modules", pkg))
           for pkg in ("coap-node", "lwm2m-node-lib")):
        return
    npm = shutil.which("npm")
    if not npm:
        raise AssertionError("npm not found (./lwds test installs it)")
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=INTEROP,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise AssertionError("npm ci failed:\n" + r.stdout + r.stderr)


class NodeClient:
    # version None keeps coap-node's own default, lwm2m=1.0.0
    def __init__(self, port, name, lifetime=300, version=None):
        args = ["node", os.path.join(INTEROP, "client.js"), "127.0.0.1",
                str(port), name, str(lifetime)] + ([version] if version else [])
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1)

    def event(self):
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("coap-node client exited: %s"
                                 % self.proc.stderr.read())
        return json.loads(line)

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


class TestInterop(ServiceTestCase):
    REDIS_DB = 7

    @classmethod
    def setUpClass(cls):
        npm_ci()
        super().setUpClass()

    def test_coap_node_registers_and_deregisters(self):
        token = self.admin_token()
        node = NodeClient(self.svc.coap_port, "coap-node-1")
        self.addCleanup(node.close)
        ev = node.event()
        self.assertEqual(ev.get("event"), "registered", ev)
        self.assertEqual(ev.get("status"), "2.01", ev)
        cid = ev["location"].rsplit("/", 1)[-1]
        self.assertEqual(ev["location"], "/rd/" + cid, ev)
        self.assertIn("coap-node-1", self.names_listed(token))
        r = self.api.get("/clients/%s/objecttypes" % cid, token)
        self.assertEqual(r.status, 200, r)
        ids = [i["ObjectTypeID"] for i in r.json().get("Items", [])]
        self.assertEqual(ids, ["3", "4", "3303", "3311"], r)
        node.send("deregister")
        ev = node.event()
        self.assertEqual(ev, {"event": "deregistered", "status": "2.02"})
        wait_until(lambda: "coap-node-1" not in self.names_listed(token),
                   timeout=5, what="coap-node-1 gone from /clients")


if __name__ == "__main__":
    unittest.main()
