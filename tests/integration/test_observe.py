"""Observation collation (issue 5, spec 7) with lwds-sim as the device: all
Observation subscriptions on one client and path share ONE observation on
the device (counted with lwds-sim's stats: observe_paths), merged
attributes are written, cancelling one subscription keeps the observation
for the others, the last one cancels it, and a re-registration of the
device re-establishes it."""

import json
import time
import unittest

from hooksink import Sink
from lwdslib import ServiceTestCase, Sim, link, path_of, wait_until


class TestObserve(ServiceTestCase):
    REDIS_DB = 15
    EP = "obs-0"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = Sink()
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.sim = Sim(["--server", "coap://127.0.0.1:%d" % cls.svc.coap_port,
                       "--prefix", "obs-", "--count", "1", "--verbose"])
        try:
            cls.sim.wait_line(Sim.READY, 15)
            r = cls.api.get("/clients?pageSize=1000", cls.admin)
            cls.cid = [path_of(link(i, "self")).rsplit("/", 1)[1]
                       for i in r.json().get("Items", [])
                       if i["Name"] == cls.EP][0]
            r = cls.api.get("/objecttypes/definitions?pageSize=1000",
                            cls.admin)
            cls.defs = {int(d["ObjectID"]): d["ObjectDefinitionID"]
                        for d in r.json()["Items"]}
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

    # helpers

    def stats(self):
        start = len(self.sim.lines)
        self.sim.send("stats")
        line = self.sim.wait_line(r'"observe_paths"', 5, start)
        return json.loads(line[line.index("{"):])

    def observes(self, path):
        return self.stats().get("observe_paths", {}).get(path, 0)

    def cancels(self):
        return self.stats().get("ops", {}).get("cancel", 0)

    def subscribe(self, oid, iid, prop=None, url="/h", attrs=None):
        path = "/clients/%s/objecttypes/%s/instances/%d/subscriptions" % (
            self.cid, self.defs[oid], iid)
        body = {"SubscriptionType": "Observation",
                "Url": self.sink.url(url)}
        if prop is not None:
            body["Property"] = prop
        if attrs:
            body["Attributes"] = attrs
        r = self.api.post(path, self.admin, body)
        self.assertEqual(r.status, 201, r)
        return r.json()["ID"]

    def unsubscribe(self, sid):
        r = self.api.delete("/subscriptions/" + sid, self.admin)
        self.assertEqual(r.status, 204, r)

    def observed(self):
        return self.redis.hgetall("lwds:v1:client:{%s}:observed" % self.cid)

    def wait_observes(self, path, n, timeout=15):
        wait_until(lambda: self.observes(path) >= n, timeout, 0.2,
                   "%d observe requests of %s" % (n, path))

    # tests

    def test_collation_cancel_and_reregistration(self):
        path = "/3303/0/5700"
        before = self.observes(path)
        a = self.subscribe(3303, 0, "5700", "/a", {"Pmin": 5, "Step": 0.5})
        self.wait_observes(path, before + 1)
        wait_until(lambda: path in self.observed(), 10, 0.1, "stored")
        state = self.observed()[path].split()
        self.assertEqual(state[2], "pmin=5&st=0.5", state)
        b = self.subscribe(3303, 0, "SensorValue", "/b",
                           {"Pmin": 2, "Pmax": 60, "Step": 1.25})
        c = self.subscribe(3303, 0, "5700", "/c")
        wait_until(lambda: self.observed().get(path, "").split()[2:] ==
                   ["pmin=2&pmax=60&st=0.5"], 10, 0.1, "merged attributes")
        time.sleep(0.5)
        self.assertEqual(self.observes(path), before + 1,
                         "a second Observe for the same path")
        cancels = self.cancels()
        self.unsubscribe(b)
        self.unsubscribe(a)
        wait_until(lambda: self.observed().get(path, "").split()[2:] ==
                   ["-"], 10, 0.1, "attributes of c only")
        self.assertEqual(self.cancels(), cancels, "cancelled for c too")
        self.assertIn(path, self.observed())
        # the device registers again: it forgot the observation
        self.sim.send("register *")
        self.wait_observes(path, before + 2)
        wait_until(lambda: path in self.observed(), 10, 0.1,
                   "stored again")
        self.unsubscribe(c)
        wait_until(lambda: path not in self.observed(), 10, 0.1,
                   "observation forgotten")
        wait_until(lambda: self.cancels() > cancels, 10, 0.2,
                   "cancel on the device")

    def test_paths_observed_separately(self):
        inst = "/3303/0"
        res = "/3303/0/5701"
        bi, br = self.observes(inst), self.observes(res)
        s1 = self.subscribe(3303, 0, None, "/inst")
        s2 = self.subscribe(3303, 0, "5701", "/res")
        self.wait_observes(inst, bi + 1)
        self.wait_observes(res, br + 1)
        self.unsubscribe(s1)
        self.unsubscribe(s2)
        wait_until(lambda: inst not in self.observed() and
                   res not in self.observed(), 10, 0.1, "both cancelled")


if __name__ == "__main__":
    unittest.main()
