"""Read-Composite and Write-Composite (issue 4, docs/api-device-operations.md
"Composite") through the REST API against lwds-sim over UDP: JSON and XML
bodies, multi-instance resources, a path that does not exist, a write that
is refused as a whole, a device that only takes SenML JSON, and a LwM2M 1.0
device that is refused before anything is sent."""

import unittest

from test_devices import DeviceCase


def items_by_path(doc):
    return {i["Path"]: i for i in doc["Items"]}


class CompositeCase(DeviceCase):
    EXTRA_ENV = {"LWDS_DEVICE_TIMEOUT_MS": "3000"}

    def composite(self):
        return "/clients/%s/composite" % self.cid

    def read(self, paths, **kw):
        return self.api.post(self.composite() + "/read", self.admin,
                             {"Paths": paths}, **kw)

    def write(self, items):
        return self.api.put(self.composite(), self.admin, {"Items": items})

    def sim_ops(self):
        """The simulator's operation counters (the stats command)."""
        return self.sim.stats()["ops"]


class TestComposite(CompositeCase):
    """A LwM2M 1.1 client with every format: SenML CBOR on the wire."""

    REDIS_DB = 11

    def test_read_json(self):
        r = self.read(["/3/0/2", "/3303/0/5700", "/3/0/7", "/3442/0/1110/0",
                       "/3442/0/150"])
        self.assertEqual(r.status, 200, r)
        got = items_by_path(r.json())
        self.assertEqual(got["/3/0/2"]["Value"], self.EP)
        self.assertIsInstance(got["/3303/0/5700"]["Value"], (int, float))
        volts = [p for p in got if p.startswith("/3/0/7/")]
        self.assertGreaterEqual(len(volts), 1, got)
        self.assertEqual(got["/3442/0/1110/0"]["Value"], "a")
        self.assertEqual(got["/3442/0/150"],
                         {"Path": "/3442/0/150", "Value": "AQID",
                          "Type": "Opaque"})
        self.assertNotIn("/3/0/0", got)

    def test_read_instance_and_overlap(self):
        # /3303/0 covers /3303/0/5700: each value comes back once
        r = self.read(["/3303/0/5700", "/3303/0"])
        self.assertEqual(r.status, 200, r)
        paths = [i["Path"] for i in r.json()["Items"]]
        self.assertEqual(len(paths), len(set(paths)))
        self.assertIn("/3303/0/5700", paths)
        self.assertIn("/3303/0/5701", paths)

    def test_read_xml(self):
        r = self.api.post(self.composite() + "/read", self.admin,
                          "<Composite><Paths><Path>/3/0/2</Path>"
                          "<Path>/3442/0/120</Path></Paths></Composite>",
                          content_type="application/xml",
                          accept="application/xml")
        self.assertEqual(r.status, 200, r)
        items = r.xml().findall("Items/Item")
        got = {i.findtext("Path"): i.findtext("Value") for i in items}
        self.assertEqual(got["/3/0/2"], self.EP)
        self.assertIn("/3442/0/120", got)

    def test_read_not_found(self):
        r = self.read(["/3/0/2", "/3442/9"])
        self.assertEqual(r.status, 404, r)
        self.assertIn("read-composite", r.json()["ErrorDetails"])
        r = self.read(["/3/0/2", "/3/0/9999"])
        self.assertEqual(r.status, 404, r)

    def test_write_json_then_read(self):
        r = self.api.post(self.hrefs[3442], self.admin,
                          {"InstanceID": "3", "Text": "x"})
        self.assertEqual(r.status, 201, r)
        r = self.write([
            {"Path": "/3442/3/110", "Value": "written"},
            {"Path": "/3442/3/120", "Value": 77},
            {"Path": "/3442/3/1120/4", "Value": 9, "Type": "Integer"},
            {"Path": "/3442/3/150", "Value": "AAEC", "Type": "Opaque"},
            {"Path": "/3303/0/5750", "Value": "kitchen"}])
        self.assertEqual(r.status, 204, r)
        r = self.read(["/3442/3", "/3303/0/5750"])
        self.assertEqual(r.status, 200, r)
        got = items_by_path(r.json())
        self.assertEqual(got["/3442/3/110"]["Value"], "written")
        self.assertEqual(got["/3442/3/120"]["Value"], 77)
        self.assertEqual(got["/3442/3/1120/4"]["Value"], 9)
        self.assertEqual(got["/3442/3/150"]["Value"], "AAEC")
        self.assertEqual(got["/3303/0/5750"]["Value"], "kitchen")
        # a resource-instance write leaves the other instances alone
        r = self.write([{"Path": "/3442/3/1120/5", "Value": 10}])
        self.assertEqual(r.status, 204, r)
        r = self.read(["/3442/3/1120"])
        got = items_by_path(r.json())
        self.assertEqual(got["/3442/3/1120/4"]["Value"], 9)
        self.assertEqual(got["/3442/3/1120/5"]["Value"], 10)
        r = self.get(self.inst(3442, 3))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["Text"], "written")

    def test_write_xml(self):
        r = self.api.put(self.composite(), self.admin,
                         "<Composite><Items><Item><Path>/3442/0/130</Path>"
                         "<Value>2.25</Value><Type>Float</Type></Item>"
                         "<Item><Path>/3442/0/140</Path><Value>true</Value>"
                         "<Type>Boolean</Type></Item></Items></Composite>",
                         content_type="application/xml")
        self.assertEqual(r.status, 204, r)
        r = self.read(["/3442/0/130", "/3442/0/140"])
        got = items_by_path(r.json())
        self.assertEqual(got["/3442/0/130"]["Value"], 2.25)
        self.assertIs(got["/3442/0/140"]["Value"], True)

    def test_write_refused_as_a_whole(self):
        before = self.read(["/3442/0/110"]).json()["Items"][0]["Value"]
        # instance 9 does not exist: nothing is written
        r = self.write([{"Path": "/3442/0/110", "Value": "not kept"},
                        {"Path": "/3442/9/110", "Value": "x"}])
        self.assertEqual(r.status, 404, r)
        self.assertIn("write-composite", r.json()["ErrorDetails"])
        # /3/0/2 (serial number) is read-only
        r = self.write([{"Path": "/3442/0/110", "Value": "not kept"},
                        {"Path": "/3/0/2", "Value": "x"}])
        self.assertEqual(r.status, 405, r)
        r = self.read(["/3442/0/110"])
        self.assertEqual(r.json()["Items"][0]["Value"], before)

    def test_ops_reach_device(self):
        before = self.sim_ops()
        self.assertEqual(self.read(["/3/0/2"]).status, 200)
        self.assertEqual(self.write([{"Path": "/3303/0/5750",
                                      "Value": "x"}]).status, 204)
        after = self.sim_ops()
        self.assertEqual(after["read_composite"],
                         before["read_composite"] + 1)
        self.assertEqual(after["write_composite"],
                         before["write_composite"] + 1)


class TestCompositeSenmlJson(CompositeCase):
    """A client that takes SenML JSON only (plus text and opaque): the
    FETCH body, the answer and the iPATCH body are SenML JSON."""

    REDIS_DB = 12
    SIM_ARGS = ["--formats", "110"]

    def test_read_and_write(self):
        r = self.write([{"Path": "/3442/0/110", "Value": "via json"},
                        {"Path": "/3442/0/1110/2", "Value": "b"}])
        self.assertEqual(r.status, 204, r)
        r = self.read(["/3442/0/110", "/3442/0/1110", "/3/0/2"])
        self.assertEqual(r.status, 200, r)
        got = items_by_path(r.json())
        self.assertEqual(got["/3442/0/110"]["Value"], "via json")
        self.assertEqual(got["/3442/0/1110/0"]["Value"], "a")
        self.assertEqual(got["/3442/0/1110/2"]["Value"], "b")
        self.assertEqual(got["/3/0/2"]["Value"], self.EP)


class TestCompositeLwm2m10(CompositeCase):
    """A LwM2M 1.0 client has no composite operations: the gateway says so
    and sends nothing."""

    REDIS_DB = 13
    SIM_ARGS = ["--lwm2m", "1.0"]

    def test_refused(self):
        before = self.sim_ops()
        r = self.read(["/3/0/2"])
        self.assertEqual(r.status, 400, r)
        self.assertIn("1.0", r.json()["ErrorDetails"])
        r = self.write([{"Path": "/3442/0/110", "Value": "x"}])
        self.assertEqual(r.status, 400, r)
        self.assertIn("1.0", r.json()["ErrorDetails"])
        after = self.sim_ops()
        self.assertEqual(after["read_composite"], before["read_composite"])
        self.assertEqual(after["other"], before["other"])
        self.assertEqual(after["write_composite"],
                         before["write_composite"])


if __name__ == "__main__":
    unittest.main()
