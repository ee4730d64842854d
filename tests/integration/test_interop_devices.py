"""Interop of device operations (issue 4) with two LwM2M clients we did not
write, both from npm:

* coap-node (interop/client.js: 3303 Temperature with an executable 5605,
  and 3311 Light Control): resource read, write and execute through the
  REST API.  Known gaps of coap-node 0.x, not of lwds: its LwM2M JSON has
  "bn" without the trailing '/', so names like "/3303/05700" are rejected
  on instance reads; it treats every POST with a Content-Format as Create
  (so a partial-update Write is not understood), and does not answer a
  Create or a Delete of an instance.
* lwm2m-node-lib 1.4 (Telefonica; interop/lnl_client.js: 3/0 and 3303/0):
  execute (with arguments) and discover.  Its client routes only GET, PUT
  and POST on /o/i/r: a Create (POST /o) or a Delete gets no answer at all;
  its CoAP library (coap 0.22) silently drops a request whose Accept or
  Content-Format it has not registered, and it registers only text (0),
  1541 and link-format, while lwds asks a LwM2M 1.0 client for TLV first,
  so its reads and writes time out.  An unanswered request also holds the
  gateway's CoAP session to it (NSTART 1) until libcoap gives up, so the
  tests here never send one.

Create and Delete are covered by lwds-sim (test_devices.py,
test_queue_mode.py) and by Eclipse Wakaama's client
(test_interop_wakaama.py): docs/api-device-operations.md."""

import json
import os
import subprocess
import unittest

from lwdslib import ServiceTestCase, link, path_of
from test_interop import INTEROP, NodeClient, npm_ci


class ExternalClientCase(ServiceTestCase):
    """The services and one LwM2M client we did not write, registered
    through them: CLIENT(coap_port, ENDPOINT) runs it, NAME names it in
    failures; cls.hrefs maps object ids to instance links, cls.temp is
    /3303/0."""
    EXTRA_ENV = {"LWDS_DEVICE_TIMEOUT_MS": "3000"}
    CLIENT = None
    ENDPOINT = NAME = ""

    @classmethod
    def setUpClass(cls):
        npm_ci()
        super().setUpClass()
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.node = cls.CLIENT(cls.svc.coap_port, cls.ENDPOINT)
        ev = cls.node.event()
        if ev.get("event") != "registered":
            cls.node.close()
            cls.tearDownClass()
            raise AssertionError("%s did not register: %r" % (cls.NAME, ev))
        cls.cid = ev["location"].rsplit("/", 1)[-1]
        r = cls.api.get("/clients/%s/objecttypes" % cls.cid, cls.admin)
        cls.hrefs = {int(i["ObjectTypeID"]): path_of(link(i, "instances"))
                     for i in r.json().get("Items", [])
                     if link(i, "instances")}
        cls.temp = cls.hrefs[3303] + "/0"

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "node", None) is not None:
            cls.node.close()
        super().tearDownClass()


class TestInteropDevices(ExternalClientCase):
    REDIS_DB = 0
    CLIENT = NodeClient
    ENDPOINT, NAME = "coap-node-ops", "coap-node"

    def test_read_resource(self):
        r = self.api.get(self.temp + "/resources/5700", self.admin)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["SensorValue"], 21.5)
        r = self.api.get(self.temp + "/resources/5701", self.admin,
                         accept="application/xml")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.xml().findtext("SensorUnits"), "Cel")

    def test_write_then_read(self):
        light = self.hrefs[3311] + "/0/resources/5851"
        r = self.api.put(light, self.admin, {"Dimmer": 80})
        self.assertEqual(r.status, 204, r)
        r = self.api.get(light, self.admin)
        self.assertEqual(r.json()["Dimmer"], 80, r)

    def test_execute(self):
        r = self.api.post(self.temp + "/resources/5605/execute", self.admin,
                          "")
        self.assertEqual(r.status, 204, r)
        ev = self.node.event()
        self.assertEqual(ev.get("event"), "executed", ev)

    def test_unknown_resource_404(self):
        r = self.api.get(self.temp + "/resources/5602", self.admin)
        self.assertEqual(r.status, 404, r)


class LnlClient:
    """interop/lnl_client.js (lwm2m-node-lib) as a child process."""

    def __init__(self, port, name):
        self.proc = subprocess.Popen(
            ["node", os.path.join(INTEROP, "lnl_client.js"), "127.0.0.1",
             str(port), name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def event(self):
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("lwm2m-node-lib client exited (%s)"
                                 % self.proc.poll())
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


class TestInteropLwm2mNodeLib(ExternalClientCase):
    REDIS_DB = 1
    CLIENT = LnlClient
    ENDPOINT, NAME = "lnl-ops", "lwm2m-node-lib"

    def test_registered_objects(self):
        self.assertEqual(sorted(self.hrefs), [3, 3303])

    def test_discover_instance(self):
        r = self.api.get(self.temp + "/discover", self.admin)
        self.assertEqual(r.status, 200, r)
        paths = [i["Path"] for i in r.json()["Items"]]
        self.assertIn("/3303/0/5700", paths)
        self.assertIn("/3303/0/5750", paths)

    def test_execute_with_arguments(self):
        r = self.api.post(self.temp + "/resources/5605/execute", self.admin,
                          "0='x'", content_type="text/plain")
        self.assertEqual(r.status, 204, r)
        ev = self.node.event()
        self.assertEqual(ev, {"event": "executed", "path": "/3303/0/5605",
                              "args": "0='x'"})


if __name__ == "__main__":
    unittest.main()
