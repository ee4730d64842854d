"""Device operations (issue 4, spec 4.7-4.13 and docs/api-device-
operations.md) against lwds-sim over real UDP and Redis, in JSON and XML:
reads of objects 1, 3, 5, 3303 and the simulator's test object 3442,
writes, executes (with arguments), create and delete, block-wise transfers,
a device that does not answer, a device that answers errors, and a gateway
killed mid-request."""

import base64
import http.client
import signal
import socket
import threading
import time
import unittest

from lwdslib import ServiceTestCase, Sim, link, path_of, wait_until

TEST_OBJECT = {
    "ObjectID": "3442", "Name": "lwds-sim test", "MIMEType":
    "application/vnd.lwds.simtest", "SerialisationName": "SimTest",
    "Singleton": False,
    "Properties": [
        {"PropertyID": "110", "Name": "Text", "DataType": "String",
         "Access": "ReadWrite"},
        {"PropertyID": "120", "Name": "Number", "DataType": "Integer",
         "Access": "ReadWrite"},
        {"PropertyID": "130", "Name": "Real", "DataType": "Float",
         "Access": "ReadWrite"},
        {"PropertyID": "140", "Name": "Flag", "DataType": "Boolean",
         "Access": "ReadWrite"},
        {"PropertyID": "150", "Name": "Blob", "DataType": "Opaque",
         "Access": "ReadWrite"},
        {"PropertyID": "160", "Name": "When", "DataType": "DateTime",
         "Access": "ReadWrite"},
        {"PropertyID": "170", "Name": "Link", "DataType": "ObjLink",
         "Access": "ReadWrite"},
        {"PropertyID": "1110", "Name": "Texts", "DataType": "String",
         "IsCollection": True, "Access": "ReadWrite",
         "CollectionItemSerialisationName": "Text"},
        {"PropertyID": "1120", "Name": "Numbers", "DataType": "Integer",
         "IsCollection": True, "Access": "ReadWrite",
         "CollectionItemSerialisationName": "Number"},
    ],
}


class DeviceCase(ServiceTestCase):
    """Services + one lwds-sim client per test class."""

    SIM_ARGS = []
    EP = "dev-0"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        r = cls.api.post("/objecttypes/definitions", cls.admin, TEST_OBJECT)
        if r.status != 201:
            cls.tearDownClass()
            raise AssertionError("POST definition 3442: %r" % r)
        cls.sim = cls.start_sim(cls.SIM_ARGS)
        try:
            cls.cid = cls.client_id(cls.EP)
            cls.hrefs = cls.instance_hrefs(cls.cid)
        except BaseException:
            cls.sim.stop()
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "sim", None) is not None:
            cls.sim.stop()
        super().tearDownClass()

    @classmethod
    def start_sim(cls, args):
        sim = Sim(["--server", "coap://127.0.0.1:%d" % cls.svc.coap_port,
                   "--prefix", "dev-", "--count", "1", "--verbose"] + args)
        sim.wait_line(Sim.READY, 15)
        return sim

    @classmethod
    def client_id(cls, ep):
        r = cls.api.get("/clients?pageSize=1000", cls.admin)
        for item in r.json().get("Items", []):
            if item["Name"] == ep:
                return path_of(link(item, "self")).rsplit("/", 1)[1]
        raise AssertionError("client %s not listed: %r" % (ep, r))

    @classmethod
    def instance_hrefs(cls, cid):
        """ObjectTypeID -> path of its .../instances collection."""
        r = cls.api.get("/clients/%s/objecttypes" % cid, cls.admin)
        out = {}
        for item in r.json().get("Items", []):
            href = link(item, "instances")
            if href:
                out[int(item["ObjectTypeID"])] = path_of(href)
        return out

    def get(self, path, **kw):
        return self.api.get(path, self.admin, **kw)

    def inst(self, oid, iid=0):
        return "%s/%d" % (self.hrefs[oid], iid)


class TestDevices(DeviceCase):
    REDIS_DB = 10
    EXTRA_ENV = {"LWDS_DEVICE_TIMEOUT_MS": "2000"}

    # ---- reads -----------------------------------------------------------

    def test_read_device_instance_json(self):
        r = self.get(self.inst(3))
        self.assertEqual(r.status, 200, r)
        self.assertIn("application/vnd.oma.lwm2m.device+json",
                      r.header("Content-Type"))
        d = r.json()
        self.assertEqual(d["InstanceID"], "0")
        self.assertEqual(d["SerialNumber"], self.EP)
        self.assertIsInstance(d["AvailablePowerSources"], list)
        self.assertTrue(all(isinstance(v, int)
                            for v in d["PowerSourceVoltages"]))
        self.assertRegex(d["CurrentTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(path_of(link(d, "self")), self.inst(3))
        self.assertEqual(path_of(link(d, "discover")),
                         self.inst(3) + "/discover")
        self.assertEqual(path_of(link(d, "attributes")),
                         self.inst(3) + "/attributes")
        self.assertNotIn("Reboot", d)

    def test_read_device_instance_xml(self):
        r = self.get(self.inst(3), accept="application/xml")
        self.assertEqual(r.status, 200, r)
        self.assertIn("+xml", r.header("Content-Type"))
        root = r.xml()
        self.assertEqual(root.tag, "Device")
        self.assertEqual(root.findtext("InstanceID"), "0")
        self.assertEqual(root.findtext("SerialNumber"), self.EP)
        items = root.find("AvailablePowerSources")
        self.assertIsNotNone(items)
        self.assertGreater(len(list(items)), 0)

    def test_read_object_list(self):
        r = self.get(self.hrefs[3303])
        self.assertEqual(r.status, 200, r)
        self.assertIn("application/vnd.oma.lwm2m.ext:3303s+json",
                      r.header("Content-Type"))
        d = r.json()
        self.assertEqual(path_of(link(d, "add")), self.hrefs[3303])
        self.assertGreaterEqual(len(d["Items"]), 1)
        t = d["Items"][0]
        self.assertIsInstance(t["SensorValue"], float)
        self.assertEqual(path_of(link(t, "self")),
                         self.hrefs[3303] + "/" + t["InstanceID"])

    def test_read_object_list_xml(self):
        r = self.get(self.hrefs[1], accept="application/xml")
        self.assertEqual(r.status, 200, r)
        root = r.xml()
        self.assertEqual(root.tag, "LwM2MServers")
        self.assertIsNotNone(root.find("Items"))

    def test_read_server_and_firmware(self):
        r = self.get(self.inst(1))
        self.assertEqual(r.status, 200, r)
        self.assertIsInstance(r.json()["Lifetime"], int)
        r = self.get(self.inst(5))
        self.assertEqual(r.status, 200, r)
        self.assertIn("State", r.json())

    def test_read_types_opaque_objlink(self):
        r = self.get(self.inst(3442))
        self.assertEqual(r.status, 200, r)
        d = r.json()
        self.assertEqual(d["Link"], "3303:0")
        base64.b64decode(d["Blob"], validate=True)
        self.assertIsInstance(d["Flag"], bool)

    def test_read_single_resource(self):
        r = self.get(self.inst(3) + "/resources/2")
        self.assertEqual(r.status, 200, r)
        d = r.json()
        self.assertEqual(d["SerialNumber"], self.EP)
        self.assertNotIn("Manufacturer", d)

    def test_read_star_accept_gives_definition_type(self):
        """Spec 1.4: for object instances Accept */* (curl's default)
        gives <MIMEType>+json, not the generic application/json."""
        for path, mt in ((self.inst(3), "application/vnd.oma.lwm2m.device"),
                         (self.hrefs[3], "application/vnd.oma.lwm2m.devices"),
                         (self.inst(3) + "/resources/0",
                          "application/vnd.oma.lwm2m.device")):
            r = self.get(path, accept="*/*")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("Content-Type"), mt + "+json", path)
        # the rest of the API keeps the star rule
        r = self.get("/clients/%s" % self.cid, accept="*/*")
        self.assertEqual(r.header("Content-Type"), "application/json", r)

    def test_read_unknown_instance_404(self):
        self.assertEqual(self.get(self.inst(3, 7)).status, 404)
        r = self.get(self.inst(3) + "/resources/999")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["ErrorDetails"],
                         "the definition of object 3 has no resource 999")

    def test_bad_ids(self):
        base = self.hrefs[3]
        for p in (base + "/x", base + "/65535", base + "/-1"):
            r = self.get(p)
            self.assertEqual(r.status, 404, p)
            self.assertEqual(r.json()["ErrorDetails"],
                             "the instance id must be a number 0..65534", p)
        r = self.get("/clients/AAAAAAAAAAAAAAAAAAAAAA/objecttypes/"
                     + base.split("/")[4] + "/instances")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["ErrorDetails"], "invalid client id")
        r = self.get("/clients/%s/objecttypes/AQAAAAAAAAAAAAAAAAAAAA/"
                     "instances" % self.cid)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["ErrorDetails"],
                         "no object definition with this id is visible to "
                         "this organisation")
        unknown = "AQAAAAAAAAAAAAAAAAAAAA"
        r = self.get(base.replace(self.cid, unknown) + "/0")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["ErrorDetails"],
                         "the client is not a registered client of this "
                         "organisation")

    def test_put_naming_no_resource_is_400(self):
        """A misspelt resource name must not look like a successful write:
        nothing is sent to the device and the answer says why."""
        before = self.sim.stats()["ops"]
        for body in ({"Nmber": 5}, {}):
            r = self.api.put(self.inst(3442), self.admin, body)
            self.assertEqual(r.status, 400, r)
            self.assertIn("names no resource of SimTest",
                          r.json()["ErrorDetails"])
        after = self.sim.stats()["ops"]
        self.assertEqual(after["write"], before["write"])
        self.assertEqual(after["execute"], before["execute"])

    # ---- writes and executes ---------------------------------------------

    def test_write_partial_then_read(self):
        r = self.api.put(self.inst(3442), self.admin,
                         {"Text": "hello", "Number": -5, "Flag": True})
        self.assertEqual(r.status, 204, r)
        d = self.get(self.inst(3442)).json()
        self.assertEqual((d["Text"], d["Number"], d["Flag"]),
                         ("hello", -5, True))

    def test_write_xml(self):
        body = "<SimTest><Real>2.5</Real><When>2020-01-02T03:04:05Z</When>" \
               "</SimTest>"
        r = self.api.put(self.inst(3442), self.admin, body,
                         content_type="application/xml")
        self.assertEqual(r.status, 204, r)
        d = self.get(self.inst(3442)).json()
        self.assertEqual(d["Real"], 2.5)
        self.assertEqual(d["When"], "2020-01-02T03:04:05Z")

    def test_write_multi_instance_values(self):
        r = self.api.put(self.inst(3442), self.admin,
                         {"Numbers": [7, 8, 9], "Texts": ["a", "b"]})
        self.assertEqual(r.status, 204, r)
        d = self.get(self.inst(3442)).json()
        self.assertEqual(d["Numbers"], [7, 8, 9])
        self.assertEqual(d["Texts"], ["a", "b"])

    def test_write_resource_replace(self):
        r = self.api.put(self.inst(3442) + "/resources/120", self.admin,
                         {"Number": 4242})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.get(self.inst(3442)).json()["Number"], 4242)

    def test_write_bad_body_400_names_property(self):
        r = self.api.put(self.inst(3442), self.admin, {"Number": "many"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("Number", r.json()["ErrorDetails"])

    def test_write_read_only_405(self):
        r = self.api.put(self.inst(3) + "/resources/0", self.admin,
                         {"Manufacturer": "x"})
        self.assertEqual(r.status, 405, r)

    def test_execute_in_put(self):
        r = self.api.put(self.inst(3303), self.admin,
                         {"ResetMinandMaxMeasuredValues": None})
        self.assertEqual(r.status, 204, r)

    def test_write_and_execute_in_put(self):
        # one operation for the gateway: the write, then the execute
        start = len(self.sim.lines)
        r = self.api.put(self.inst(3303), self.admin,
                         {"ApplicationType": "put+exec",
                          "ResetMinandMaxMeasuredValues": None})
        self.assertEqual(r.status, 204, r)
        self.sim.wait_line(r"POST /3303/0/5605 ", 5, start)
        seen = [l.split('" ', 1)[1].split(" ")[1]
                for l in self.sim.lines[start:] if "POST /3303/0" in l]
        self.assertEqual(seen, ["/3303/0", "/3303/0/5605"])
        self.assertEqual(self.get(self.inst(3303)).json()["ApplicationType"],
                         "put+exec")

    def test_execute_with_arguments(self):
        start = len(self.sim.lines)
        r = self.api.post(self.inst(1) + "/resources/8/execute", self.admin,
                          "0='x',1", content_type="text/plain")
        self.assertEqual(r.status, 204, r)
        self.sim.wait_line(r"POST /1/0/8", 5, start)

    def test_large_opaque_write_blockwise(self):
        blob = base64.b64encode(bytes(range(256)) * 16).decode()  # 4 KiB
        r = self.api.put(self.inst(5) + "/resources/0", self.admin,
                         {"Package": blob})
        self.assertEqual(r.status, 204, r)

    def test_large_read_blockwise(self):
        big = "x" * 3000
        r = self.api.put(self.inst(3442), self.admin, {"Text": big})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.get(self.inst(3442)).json()["Text"], big)

    # ---- Discover and Write-Attributes ------------------------------------

    def test_write_attributes_then_discover(self):
        res = self.inst(3303) + "/resources/5700"
        r = self.api.put(res + "/attributes", self.admin,
                         {"pmin": 10, "pmax": 60, "gt": 20.25, "st": 0.125})
        self.assertEqual(r.status, 204, r)
        r = self.get(self.inst(3303) + "/discover")
        self.assertEqual(r.status, 200, r)
        items = {i["Path"]: i.get("Attributes", {})
                 for i in r.json()["Items"]}
        self.assertIn("/3303/0/5700", items)
        a = items["/3303/0/5700"]
        self.assertEqual((a["pmin"], a["pmax"], a["gt"], a["st"]),
                         ("10", "60", "20.25", "0.125"))
        # null clears an attribute
        r = self.api.put(res + "/attributes", self.admin, {"gt": None})
        self.assertEqual(r.status, 204, r)
        r = self.get(res + "/discover", accept="application/xml")
        self.assertEqual(r.status, 200, r)
        link_el = r.xml().find("Items/Link")
        self.assertEqual(link_el.findtext("Path"), "/3303/0/5700")
        self.assertIsNone(link_el.find("Attributes/gt"))

    def test_discover_object(self):
        r = self.get("/clients/%s/objecttypes" % self.cid)
        item = [i for i in r.json()["Items"] if i["ObjectTypeID"] == "3"][0]
        self.assertEqual(path_of(link(item, "discover")),
                         self.hrefs[3].rsplit("/", 1)[0] + "/discover")
        self.assertEqual(path_of(link(item, "attributes")),
                         self.hrefs[3].rsplit("/", 1)[0] + "/attributes")
        r = self.get("/clients/" + self.cid)
        self.assertEqual(path_of(link(r.json(), "composite")),
                         "/clients/%s/composite" % self.cid)
        r = self.get(self.hrefs[3].rsplit("/", 1)[0] + "/discover")
        self.assertEqual(r.status, 200, r)
        paths = [i["Path"] for i in r.json()["Items"]]
        self.assertIn("/3/0", paths)

    def test_write_attributes_bad(self):
        res = self.inst(3303) + "/resources/5700/attributes"
        for body in ({"pmin": "ten"}, {"pmin": -1}, {}, {"gt": 1e999}):
            r = self.api.put(res, self.admin, body)
            self.assertEqual(r.status, 400, (body, r))

    # ---- composite: the bodies are checked before anything is sent (the
    # operations themselves are in test_composite.py) ---------------------

    def test_composite_bad_bodies(self):
        c = "/clients/%s/composite" % self.cid
        for body in ({}, {"Paths": []}, {"Paths": ["/3/x"]}, {"Paths": [3]}):
            r = self.api.post(c + "/read", self.admin, body)
            self.assertEqual(r.status, 400, (body, r))
        for body in ({"Items": []},
                     {"Items": [{"Path": "/3442/0", "Value": 1}]},
                     {"Items": [{"Path": "/3442/0/120", "Value": "x",
                                 "Type": "Integer"}]},
                     {"Items": [{"Path": "/3442/0/120", "Value": 1,
                                 "Type": "Nope"}]},
                     {"Items": [{"Path": "/3442/0/120"}]}):
            r = self.api.put(c, self.admin, body)
            self.assertEqual(r.status, 400, (body, r))
        r = self.api.put(c, self.admin, "<Composite><Items><Item><Path>"
                         "/3442/0/120</Path><Value>x</Value><Type>Integer"
                         "</Type></Item></Items></Composite>",
                         content_type="application/xml")
        self.assertEqual(r.status, 400, r)
        self.assertIn("/3442/0/120", r.json()["ErrorDetails"])

    # ---- create and delete -----------------------------------------------

    def test_create_and_delete(self):
        r = self.api.post(self.hrefs[3303], self.admin,
                          {"InstanceID": "5", "ApplicationType": "room"})
        self.assertEqual(r.status, 201, r)
        d = r.json()
        self.assertEqual(d["ID"], "5")
        self.assertEqual(path_of(link(d, "self")), self.inst(3303, 5))
        self.assertEqual(self.get(self.inst(3303, 5)).status, 200)
        r = self.api.delete(self.inst(3303, 5), self.admin)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.get(self.inst(3303, 5)).status, 404)

    def test_create_without_id_takes_a_free_one(self):
        r = self.api.post(self.hrefs[3442], self.admin, {"Number": 1})
        self.assertEqual(r.status, 201, r)
        iid = int(r.json()["ID"])
        self.assertNotEqual(iid, 0)
        self.assertEqual(self.get(self.inst(3442, iid)).json()["Number"], 1)
        self.assertEqual(self.api.delete(self.inst(3442, iid),
                                         self.admin).status, 204)

    # ---- errors ----------------------------------------------------------

    def test_device_errors_mapped(self):
        for code, status in (("4.04", 404), ("4.05", 405), ("4.00", 400),
                             ("4.01", 403), ("4.03", 403)):
            start = len(self.sim.lines)
            self.sim.send("fail %s %s" % (self.EP, code))
            self.sim.wait_line(r"^ok", 5, start)
            try:
                r = self.get(self.inst(3))
            finally:
                self.sim.send("fail %s off" % self.EP)
            self.assertEqual(r.status, status, (code, r))

    def mute(self):
        """Mutes the device and waits for lwds-sim's "ok" (a request sent
        before it has read the command would be answered)."""
        start = len(self.sim.lines)
        self.sim.send("mute %s on" % self.EP)
        self.sim.wait_line(r"^ok", 10, start)

    def test_mute_is_504(self):
        self.mute()
        try:
            r = self.get(self.inst(3))
        finally:
            self.sim.send("mute %s off" % self.EP)
        self.assertEqual(r.status, 504, r)
        d = r.json()
        self.assertIn(self.cid, d["ErrorDetails"])
        self.assertIn("read /3/0", d["ErrorDetails"])

    def test_device_back_after_timeouts_answers_at_once(self):
        """Requests that timed out (LWDS_DEVICE_TIMEOUT_MS 2 s here) are not
        left retransmitting on the device's session (libcoap would go on
        for 93 s, and with NSTART 1 every later request would wait behind
        them): once the device answers again, the next read gets 200.
        Without the cancel, the read after the two 504s waits behind the
        first request's retransmission, due 6-9 s after it, and times
        out."""
        self.mute()
        try:
            for _ in range(2):
                self.assertEqual(self.get(self.inst(3)).status, 504)
        finally:
            start = len(self.sim.lines)
            self.sim.send("mute %s off" % self.EP)
            self.sim.wait_line(r"^ok", 10, start)
        r = self.get(self.inst(3))
        self.assertEqual(r.status, 200, r)

    def test_metrics_count_operations(self):
        path = "/clients/%s/metrics" % self.cid

        def value(name):
            r = self.get(path)
            return {i["Name"]: i["Value"] for i in
                    r.json().get("Items", [])}.get(name, 0)
        before = value("TransactionCount")
        self.assertEqual(self.get(self.inst(3)).status, 200)
        wait_until(lambda: value("TransactionCount") > before, 5, 0.1,
                   "TransactionCount to grow")
        self.assertGreater(value("BytesSent"), 0)
        self.assertGreater(value("BytesReceived"), 0)


class TestDevicesMetricsAtStop(DeviceCase):
    """A gateway stopped with SIGTERM writes the counts it still holds (it
    writes them once a second; same db as TestDevices, the classes of a
    module run one after the other)."""
    REDIS_DB = 10

    def metric(self, name):
        r = self.get("/clients/%s/metrics" % self.cid)
        self.assertEqual(r.status, 200, r)
        return {i["Name"]: i["Value"] for i in
                r.json().get("Items", [])}.get(name, 0)

    def test_counts_written_at_sigterm(self):
        before = self.metric("TransactionCount")
        self.assertEqual(self.get(self.inst(3)).status, 200)
        gw = self.svc.procs["coap-gw"]
        gw.send_signal(signal.SIGTERM)
        self.assertEqual(gw.wait(10), 0)
        self.assertGreater(self.metric("TransactionCount"), before)


class TestDevicesHeldPastIoTimeout(DeviceCase):
    """LWDS_HTTP_IO_TIMEOUT_S (1 s here): a connection that sends nothing,
    or stops inside its headers, is closed; a request that waits for its
    device longer than that (LWDS_DEVICE_TIMEOUT_MS 3 s) is still answered,
    and its connection serves the next request."""
    REDIS_DB = 10
    EXTRA_ENV = {"LWDS_DEVICE_TIMEOUT_MS": "3000",
                 "LWDS_HTTP_IO_TIMEOUT_S": "1"}

    def closed_by_server(self, sent):
        """Sends sent on a new connection; True once the server closed it
        (within 15 s), with nothing answered."""
        s = socket.create_connection(("127.0.0.1", self.svc.http_port), 5)
        self.addCleanup(s.close)
        s.sendall(sent)
        s.settimeout(15)
        try:
            return s.recv(65536) == b""
        except ConnectionResetError:
            return True

    def test_idle_connection_closed(self):
        self.assertTrue(self.closed_by_server(b""))

    def test_stalled_headers_closed(self):
        self.assertTrue(self.closed_by_server(
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "))

    def test_request_held_past_timeout_answered(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.svc.http_port,
                                          timeout=15)
        self.addCleanup(conn.close)
        auth = {"Authorization": "Bearer " + self.admin}
        start = len(self.sim.lines)
        self.sim.send("mute %s on" % self.EP)
        self.sim.wait_line(r"^ok", 10, start)
        try:
            began = time.monotonic()
            conn.request("GET", self.inst(3), headers=auth)
            r = conn.getresponse()
            body = r.read()
            held = time.monotonic() - began
        finally:
            start = len(self.sim.lines)
            self.sim.send("mute %s off" % self.EP)
            self.sim.wait_line(r"^ok", 10, start)
        self.assertEqual(r.status, 504, body)
        self.assertGreater(held, 1.0)  # it outlived the connection timeout
        # the same connection goes on
        conn.request("GET", self.inst(3), headers=auth)
        r = conn.getresponse()
        self.assertEqual(r.status, 200, r.read())


class TestDevicesDeviceTimeout(DeviceCase):
    """The gateway killed mid-request (last: it kills the gateway; same db
    as TestDevices, the classes of a module run one after the other)."""
    REDIS_DB = 10
    EXTRA_ENV = {"LWDS_DEVICE_TIMEOUT_MS": "2000"}

    def test_gateway_killed_mid_request_is_503(self):
        start = len(self.sim.lines)
        self.sim.send("mute %s on" % self.EP)
        self.sim.wait_line(r"^ok", 10, start)
        result = {}

        def call():
            result["r"] = self.get(self.inst(3))
        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.5)
        self.svc.procs["coap-gw"].kill()
        t.join(15)
        self.assertEqual(result["r"].status, 503, result["r"])
        self.assertIsNotNone(result["r"].header("Retry-After"))
        # the API keeps serving everything else
        self.assertEqual(self.get("/clients/" + self.cid).status, 200)
        r = self.get(self.inst(3))
        self.assertEqual(r.status, 503, r)
        self.assertIsNotNone(r.header("Retry-After"))


if __name__ == "__main__":
    unittest.main()
