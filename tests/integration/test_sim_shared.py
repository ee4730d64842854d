"""lwds-sim --shared-sockets (docs/simulator.md): one process runs more
devices than it may open descriptors.  Its RLIMIT_NOFILE is lowered to 256
(soft and hard) and it registers 2,000 devices on 1,024 loopback addresses
(two shared sockets) with coap-gw; then devices on both sockets and at both
ends of the address range are read, written (block-wise both ways),
executed and observed through the REST API, with the notification delivered
to a web hook.  TestDevicesShared runs every case of test_devices.TestDevices
(reads, writes, execute, discover, write-attributes, create, delete,
block-wise transfers...) against one device on the shared sockets."""

import json
import os
import resource

from hooksink import Sink
from lwdslib import ServiceTestCase, Sim, link, path_of, wait_until
import test_devices
from test_devices import TEST_OBJECT

COUNT = 2000
ADDRS = "127.77.0.0-127.77.3.255"  # 1,024 addresses: ports of 2 sockets
NOFILE = 256


def _low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


class TestSimShared(ServiceTestCase):
    REDIS_DB = 14
    # devices at both ends of the range, on both sockets
    EPS = ("shr-0", "shr-1023", "shr-1024", "shr-1500", "shr-1999")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = Sink()
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        r = cls.api.post("/objecttypes/definitions", cls.admin, TEST_OBJECT)
        if r.status != 201:
            cls.sink.close()
            super().tearDownClass()
            raise AssertionError("POST definition 3442: %r" % r)
        cls.sim = Sim(["--server", "coap://127.0.0.1:%d" % cls.svc.coap_port,
                       "--prefix", "shr-", "--count", str(COUNT),
                       "--shared-sockets", "--local-addrs", ADDRS,
                       "--sensor-period", "3600000", "--lifetime", "600"],
                      preexec_fn=_low_nofile)
        try:
            cls.sim.wait_line(Sim.READY, 30)
            cls.ids = cls.client_ids()
        except BaseException:
            cls.sim.stop()
            cls.sink.close()
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        cls.sink.close()
        super().tearDownClass()

    @classmethod
    def client_ids(cls):
        """Endpoint name -> client id of the devices in EPS."""
        out, start = {}, 0
        while True:
            r = cls.api.get("/clients?startIndex=%d&pageSize=500" % start,
                            cls.admin)
            items = r.json().get("Items", [])
            for item in items:
                if item["Name"] in cls.EPS:
                    out[item["Name"]] = path_of(link(item, "self")) \
                        .rsplit("/", 1)[1]
            start += len(items)
            if not items or start >= r.json()["PageInfo"]["TotalCount"]:
                return out

    def instance(self, ep, oid, iid=0):
        r = self.api.get("/clients/%s/objecttypes" % self.ids[ep],
                         self.admin)
        self.assertEqual(r.status, 200, r)
        for item in r.json()["Items"]:
            if int(item["ObjectTypeID"]) == oid:
                return "%s/%d" % (path_of(link(item, "instances")), iid)
        raise AssertionError("%s has no object %d" % (ep, oid))

    def test_registered_with_few_descriptors(self):
        stats = self.sim.stats()
        self.assertEqual(stats["clients"], COUNT)
        self.assertEqual(stats["registered"], COUNT)
        self.assertEqual(sorted(self.ids), sorted(self.EPS))
        fds = len(os.listdir("/proc/%d/fd" % self.sim.proc.pid))
        self.assertLess(fds, NOFILE)
        self.assertLess(fds, 64, "a few sockets, not one per device")

    def test_read_reaches_the_right_device(self):
        for ep in self.EPS:
            r = self.api.get(self.instance(ep, 3), self.admin)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["SerialNumber"], ep)

    def test_write_and_read_block_wise(self):
        big = "s" * 3000  # over one datagram: Block1 write, Block2 read
        for ep, text in (("shr-1024", "small"), ("shr-1999", big)):
            inst = self.instance(ep, 3442)
            r = self.api.put(inst, self.admin, {"Text": text})
            self.assertEqual(r.status, 204, r)
            r = self.api.get(inst, self.admin)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["Text"], text)

    def test_execute(self):
        start = len(self.sim.lines)
        r = self.api.post(self.instance("shr-1023", 1) +
                          "/resources/8/execute", self.admin)
        self.assertEqual(r.status, 204, r)
        # the registration update trigger makes the device send an Update
        wait_until(lambda: self.sim.stats()["updates"] >= 1, 10, 0.2,
                   "an Update after the execute")
        self.assertEqual(self.sim.stats()["ops"]["execute"], 1,
                         self.sim.lines[start:])

    def test_observation_notifies_web_hook(self):
        ep = "shr-1500"
        inst = self.instance(ep, 3303)
        r = self.api.post(inst + "/subscriptions", self.admin,
                          {"SubscriptionType": "Observation",
                           "Url": self.sink.url("/shared"),
                           "Property": "5700"})
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.api.delete, "/subscriptions/" + r.json()["ID"],
                        self.admin)
        wait_until(lambda: self.sim.stats()["observe_paths"]
                   .get("/3303/0/5700", 0) >= 1, 10, 0.2, "observed")
        start = len(self.sim.lines)
        self.sim.send("set %s /3303/0/5700 42.5" % ep)
        self.sim.wait_line(r"^ok 1", 5, start)

        def values():
            return [json.loads(b)["Items"][0]["Value"].get("SensorValue")
                    for _, _, b, _, _ in self.sink.received("/shared")]
        wait_until(lambda: 42.5 in values(), 10, 0.1,
                   "42.5 delivered: %r" % values())


class TestDevicesShared(test_devices.TestDevices):
    """The device-management cases of test_devices on the shared sockets:
    sim_dm.c serves both transports, so they must pass unchanged."""
    SIM_ARGS = ["--shared-sockets", "--local-addrs", "127.78.0.1"]
