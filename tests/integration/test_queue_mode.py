"""Queue mode (issue 4): requests to a sleeping queue-mode device are held
by the gateway; the HTTP caller waits up to its Prefer: wait (or
LWDS_QUEUE_WAIT_MS) and then gets 202 with the Location of an operation
resource, which later answers what the synchronous call would have; with
Prefer: handling=strict the caller gets 504 instead."""

import re
import threading
import time
import unittest

from lwdslib import ServiceTestCase, Sim, path_of, wait_until
from test_devices import TEST_OBJECT, DeviceCase


class TestQueueMode(DeviceCase):
    """A fresh queue-mode device per test: a device's wake-up Update is
    where its queued requests go out, and each test ends there."""
    REDIS_DB = 15
    SIM_ARGS = ["--queue"]
    EXTRA_ENV = {"LWDS_DEVICE_TIMEOUT_MS": "3000",
                 "LWDS_QUEUE_WAIT_MS": "1000",
                 "LWDS_QUEUE_AWAKE_MS": "300"}
    SEQ = [0]

    @classmethod
    def setUpClass(cls):
        ServiceTestCase.setUpClass.__func__(cls)
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        r = cls.api.post("/objecttypes/definitions", cls.admin, TEST_OBJECT)
        if r.status != 201:
            cls.tearDownClass()
            raise AssertionError("POST definition 3442: %r" % r)
        cls.sim = None

    def setUp(self):
        n = self.SEQ[0] = self.SEQ[0] + 1
        self.EP = "qdev-%d" % n
        self.sim = Sim(["--server", "coap://127.0.0.1:%d"
                        % self.svc.coap_port, "--prefix", "qdev-",
                        "--first", str(n), "--count", "1", "--verbose",
                        "--queue"])
        self.addCleanup(self.sim.stop)
        self.sim.wait_line(Sim.READY, 15)
        self.cid = self.client_id(self.EP)
        self.hrefs = self.instance_hrefs(self.cid)

    def sleep(self, on):
        start = len(self.sim.lines)
        self.sim.send("sleep %s %s" % (self.EP, "on" if on else "off"))
        self.sim.wait_line(r"^ok", 5, start)
        if on:
            time.sleep(0.5)  # past the gateway's awake window

    def queued(self, headers=None):
        self.sleep(True)
        r = self.api.get(self.inst(3), self.admin, headers=headers)
        self.assertEqual(r.status, 202, r)
        loc = path_of(r.header("Location"))
        self.assertEqual(r.json()["Status"], "pending")
        self.assertEqual(path_of(r.json()["Links"][0]["href"]), loc)
        self.assertRegex(loc, r"^/clients/%s/operations/[A-Za-z0-9_-]{22}$"
                         % self.cid)
        return loc

    def test_awake_device_answers_at_once(self):
        r = self.get(self.inst(3))
        self.assertEqual(r.status, 200, r)

    def test_sleeping_device_202_then_result(self):
        loc = self.queued({"Prefer": "wait=1"})
        r = self.get(loc)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["Status"], "pending")
        self.sleep(False)  # wakes with an Update: the request goes out
        wait_until(lambda: self.get(loc).status != 200
                   or "Status" not in self.get(loc).json(), 10, 0.2,
                   "the queued read to complete")
        r = self.get(loc)
        self.assertEqual(r.status, 200, r)
        d = r.json()
        self.assertEqual(d["SerialNumber"], self.EP)
        self.assertEqual(path_of(d["Links"][0]["href"]), self.inst(3))
        r = self.get(loc, accept="application/xml")
        self.assertEqual(r.xml().tag, "Device")

    def test_default_wait_from_configuration(self):
        t0 = time.monotonic()
        self.queued()
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)

    def test_respond_async(self):
        t0 = time.monotonic()
        self.queued({"Prefer": "respond-async"})
        self.assertLess(time.monotonic() - t0, 0.9)

    def test_strict_is_504(self):
        self.sleep(True)
        r = self.api.get(self.inst(3), self.admin,
                         headers={"Prefer": "handling=strict, wait=1"})
        self.assertEqual(r.status, 504, r)
        self.assertIn(self.cid, r.json()["ErrorDetails"])

    def test_wakes_within_the_wait(self):
        self.sleep(True)
        threading.Timer(1.0, self.sleep, (False,)).start()
        r = self.api.get(self.inst(3), self.admin,
                         headers={"Prefer": "wait=8"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["SerialNumber"], self.EP)

    def test_queued_write_result(self):
        self.sleep(True)
        r = self.api.put(self.inst(3442), self.admin, {"Number": 31},
                         headers={"Prefer": "wait=1"})
        self.assertEqual(r.status, 202, r)
        loc = path_of(r.header("Location"))
        self.sleep(False)
        wait_until(lambda: self.get(loc).status == 204, 10, 0.2,
                   "the queued write to complete")
        self.assertEqual(self.get(self.inst(3442)).json()["Number"], 31)
        self.assertEqual(self.get(loc).status, 204)

    def test_queued_sequence_in_order(self):
        """A write, a write+execute PUT, an execute, a create and a delete
        queued while the device sleeps all reach it in that order when it
        wakes, and every result can be fetched."""
        self.sleep(True)
        async_ = {"Prefer": "respond-async"}
        calls = [
            ("PUT", self.inst(3442), {"Number": 5}),
            ("PUT", self.inst(3303), {"ApplicationType": "q",
                                      "ResetMinandMaxMeasuredValues": None}),
            ("POST", self.inst(3) + "/resources/12/execute", None),
            ("POST", self.hrefs[3303], {"InstanceID": "7",
                                        "ApplicationType": "new"}),
            ("DELETE", self.inst(3303, 7), None),
        ]
        locs = []
        for method, path, body in calls:
            r = self.api.request(method, path, self.admin, body,
                                 headers=async_)
            self.assertEqual(r.status, 202, (method, path, r))
            locs.append(path_of(r.header("Location")))
        start = len(self.sim.lines)
        self.sleep(False)

        # none of them answers 200 once done: 200 is "pending"
        wait_until(lambda: all(self.get(loc).status != 200 for loc in locs),
                   20, 0.2, "the queued operations to complete")
        self.assertEqual([self.get(loc).status for loc in locs],
                         [204, 204, 204, 201, 204])
        self.assertEqual(self.get(locs[3]).json()["ID"], "7")
        rx = re.compile(r'ep="%s" (POST|PUT|DELETE) (\S+) -> (\d\.\d\d)'
                        % re.escape(self.EP))
        seen = [m.groups() for m in map(rx.search, self.sim.lines[start:])
                if m]
        self.assertEqual(seen, [("POST", "/3442/0", "2.04"),
                                ("POST", "/3303/0", "2.04"),
                                ("POST", "/3303/0/5605", "2.04"),
                                ("POST", "/3/0/12", "2.04"),
                                ("POST", "/3303", "2.01"),
                                ("DELETE", "/3303/7", "2.02")])
        self.assertEqual(self.get(self.inst(3442)).json()["Number"], 5)
        self.assertEqual(self.get(self.inst(3303)).json()["ApplicationType"],
                         "q")

    def test_queued_write_and_execute_stops_at_failure(self):
        """The executes of a queued PUT are not sent when its write fails;
        the stored result is the write's error."""
        self.sleep(True)
        r = self.api.put(self.inst(3303), self.admin,
                         {"ApplicationType": "x" * 10,
                          "ResetMinandMaxMeasuredValues": None},
                         headers={"Prefer": "respond-async"})
        self.assertEqual(r.status, 202, r)
        loc = path_of(r.header("Location"))
        start = len(self.sim.lines)
        self.sim.send("fail %s 4.00" % self.EP)
        self.sleep(False)
        wait_until(lambda: self.get(loc).status != 200, 20, 0.2,
                   "the queued PUT to complete")
        self.assertEqual(self.get(loc).status, 400)
        self.sim.send("fail %s off" % self.EP)
        self.assertFalse([l for l in self.sim.lines[start:]
                          if "/3303/0/5605" in l])

    def test_operation_of_other_org_or_client_404(self):
        loc = self.queued({"Prefer": "respond-async"})
        r = self.api.post("/accesskeys", self.admin, {"Name": "q-other"})
        k = r.json()
        other = self.api.token(k["Key"], k["Secret"])
        self.assertEqual(self.api.get(loc, other).status, 404)
        opid = loc.rsplit("/", 1)[1]
        self.assertEqual(self.get("/clients/AAAAAAAAAAAAAAAAAAAAAA/"
                                  "operations/" + opid).status, 404)
        self.assertEqual(self.get("/clients/%s/operations/x" % self.cid)
                         .status, 404)

    def test_bad_prefer_400(self):
        r = self.api.get(self.inst(3), self.admin,
                         headers={"Prefer": "wait=soon"})
        self.assertEqual(r.status, 400, r)


if __name__ == "__main__":
    unittest.main()
