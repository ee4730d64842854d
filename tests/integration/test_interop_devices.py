"""Interop of device operations (issue 4) with npm's coap-node, an LwM2M
client we did not write (interop/client.js: 3303 Temperature with an
executable 5605, and 3311 Light Control): resource read, write and execute
through the REST API.

Known gaps of coap-node 0.x, not of lwds (docs/api-device-operations.md):
its LwM2M JSON has "bn" without the trailing '/', so names like
"/3303/05700" are rejected on instance reads; it treats every POST with a
Content-Format as Create (so a partial-update Write is not understood), and
does not answer a Create or a Delete of an instance."""

import unittest

from lwdslib import ServiceTestCase, link, path_of
from test_interop import NodeClient, npm_ci


class TestInteropDevices(ServiceTestCase):
    REDIS_DB = 0
    EXTRA_ENV = {"LWDS_DEVICE_TIMEOUT_MS": "3000"}

    @classmethod
    def setUpClass(cls):
        npm_ci()
        super().setUpClass()
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.node = NodeClient(cls.svc.coap_port, "coap-node-ops")
        ev = cls.node.event()
        if ev.get("event") != "registered":
            cls.node.close()
            cls.tearDownClass()
            raise AssertionError("coap-node did not register: %r" % ev)
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


if __name__ == "__main__":
    unittest.main()
