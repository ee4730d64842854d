"""Observation collation (issue 5, spec 7) with lwds-sim as the device: all
Observation subscriptions on one client and path share ONE observation on
the device (counted with lwds-sim's stats: observe_paths), merged
attributes are written, cancelling one subscription keeps the observation
for the others, the last one cancels it, and a re-registration of the
device re-establishes it."""

import json
import signal
import time
import unittest
import xml.etree.ElementTree as ET

from hooksink import Sink
from lwdslib import Monitor, ServiceTestCase, Sim, link, parse_monitor, \
    path_of, wait_until


class TestObserve(ServiceTestCase):
    REDIS_DB = 15
    EP = "obs-0"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = Sink()
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.sim = Sim(["--server", "coap://127.0.0.1:%d" % cls.svc.coap_port,
                       "--prefix", "obs-", "--count", "1", "--verbose",
                       "--sensor-period", "3600000"])
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
        return self.sim.stats(5)

    def observes(self, path):
        return self.stats().get("observe_paths", {}).get(path, 0)

    def cancels(self):
        return self.stats().get("ops", {}).get("cancel", 0)

    def subscribe(self, oid, iid, prop=None, url="/h", attrs=None,
                  accept=None):
        path = "/clients/%s/objecttypes/%s/instances/%d/subscriptions" % (
            self.cid, self.defs[oid], iid)
        body = {"SubscriptionType": "Observation",
                "Url": self.sink.url(url)}
        if prop is not None:
            body["Property"] = prop
        if attrs:
            body["Attributes"] = attrs
        if accept:
            body["AcceptContentType"] = accept
        r = self.api.post(path, self.admin, body)
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.api.delete, "/subscriptions/" + r.json()["ID"],
                        self.admin)
        return r.json()["ID"]

    def unsubscribe(self, sid):
        r = self.api.delete("/subscriptions/" + sid, self.admin)
        self.assertEqual(r.status, 204, r)

    def observed(self):
        return self.redis.hgetall("lwds:v2:client:{%s}:observed" % self.cid)

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
        self.assertEqual(state[2], "pmin=5&pmax&st=0.5", state)
        b = self.subscribe(3303, 0, "SensorValue", "/b",
                           {"Pmin": 2, "Pmax": 60, "Step": 1.25})
        wait_until(lambda: self.observed().get(path, "").split()[2:3] ==
                   ["pmin=2&pmax=60&st=0.5"], 10, 0.1, "merged attributes")
        c = self.subscribe(3303, 0, "5700", "/c")    # wants every change
        wait_until(lambda: self.observed().get(path, "").split()[2:3] ==
                   ["pmin&pmax=60&st"], 10, 0.1, "merged with c")
        time.sleep(0.5)
        self.assertEqual(self.observes(path), before + 1,
                         "a second Observe for the same path")
        cancels = self.cancels()
        self.unsubscribe(b)
        self.unsubscribe(a)
        wait_until(lambda: self.observed().get(path, "").split()[2:3] ==
                   ["pmin&pmax&st"], 10, 0.1, "attributes of c only")
        self.assertEqual(self.cancels(), cancels, "cancelled for c too")
        self.assertIn(path, self.observed())
        r = self.api.put("/subscriptions/" + c, self.admin,
                         {"Attributes": {"Pmin": 7}})
        self.assertEqual(r.status, 204, r)
        wait_until(lambda: self.observed().get(path, "").split()[2:3] ==
                   ["pmin=7&pmax&st"], 10, 0.1, "attributes after PUT")
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

    def set_value(self, v):
        start = len(self.sim.lines)
        self.sim.send("set obs-0 /3303/0/5700 %s" % v)
        self.sim.wait_line(r"^ok", 5, start)

    def values(self, url):
        """Values delivered to url, repeats collapsed (the device may send
        a value twice; the server forwards what it sends: spec 11.1)."""
        out = []
        for _, _, body, _, _ in self.sink.received(url):
            v = json.loads(body)["Items"][0]["Value"].get("SensorValue")
            if not out or out[-1] != v:
                out.append(v)
        return out

    def test_notifications_filtered_per_subscription(self):
        a = self.subscribe(3303, 0, "5700", "/n-all")
        b = self.subscribe(3303, 0, "5700", "/n-step", {"Step": 10})
        c = self.subscribe(3303, 0, None, "/n-inst")
        x = self.subscribe(3303, 0, "5700", "/n-xml",
                           accept="application/xml")
        g = self.subscribe(3303, 0, "5700", "/n-gt", {"GreaterThan": 30})
        wait_until(lambda: "/3303/0/5700" in self.observed() and
                   "/3303/0" in self.observed(), 10, 0.1, "observed")
        for v in ("20.5", "21", "35.25"):
            self.set_value(v)
            time.sleep(0.4)
        # deliveries are concurrent, so their order is not checked
        for url in ("/n-all", "/n-step", "/n-inst", "/n-gt"):
            wait_until(lambda: 35.25 in self.values(url), 10, 0.1,
                       "35.25 at %s: %r" % (url, self.values(url)))
        self.assertGreaterEqual(set(self.values("/n-all")), {20.5, 21, 35.25})
        self.assertEqual(set(self.values("/n-step")), {20.5, 35.25})
        self.assertEqual(set(self.values("/n-gt")), {20.5, 35.25})
        wait_until(lambda: any(b"35.25" in r[2] for r in
                               self.sink.received("/n-xml")), 10, 0.1,
                   "35.25 at /n-xml")
        body = json.loads(self.sink.received("/n-all")[-1][2])
        item = body["Items"][0]
        self.assertEqual(item["SubscriptionType"], "Observation")
        self.assertTrue(item["TimeTriggered"].endswith("Z"), item)
        rels = {l["rel"]: l["href"] for l in item["Links"]}
        self.assertEqual(rels["subscription"], "/subscriptions/" + a)
        self.assertEqual(rels["object"], "/clients/%s/objecttypes/%s/"
                         "instances/0" % (self.cid, self.defs[3303]))
        self.assertEqual(item["Value"]["InstanceID"], "0")
        self.assertNotIn("Links", item["Value"])
        _, headers, xml, _, _ = [r for r in self.sink.received("/n-xml")
                                 if b"35.25" in r[2]][0]
        self.assertEqual(headers["Content-Type"], "application/xml")
        root = ET.fromstring(xml)
        self.assertEqual(root.tag, "Notifications")
        n = root.find("Items/Notification")
        self.assertEqual(n.find("SubscriptionType").text, "Observation")
        self.assertEqual(n.find("Value/*/SensorValue").text, "35.25")
        for s in (a, b, c, x, g):
            self.unsubscribe(s)

    def test_deleted_subscription_leaves_no_filter_state(self):
        """A notification the broker is filtering when its subscription is
        deleted queues nothing and creates no filter state again: the
        DELETE leaves an expiring "deleted" string in place of the filter
        hash.  The race is replayed: the broker's own filter-script call
        for the subscription, recorded with MONITOR, is sent again after
        the DELETE (without the string it would pass, as the first
        notification of a new filter, and write the hash back for good)."""
        self.wait_clean()
        seen = self.observes("/3303/0/5700")
        mon = Monitor(self.redis.host, self.redis.port)
        mon.start()
        try:
            sid = self.subscribe(3303, 0, "5700", "/late", {"Step": 1})
            self.wait_observes("/3303/0/5700", seen + 1)
            self.set_value("40.5")
            wait_until(lambda: 40.5 in self.values("/late"), 10, 0.1,
                       "40.5 at /late")
        finally:
            mon.stop()
        key = ("lwds:v2:{deliveries}:filter:%s" % sid).encode()
        calls = [p[1] for p in map(parse_monitor, mon.lines)
                 if p and len(p[1]) > 3 and p[1][0].upper() == b"EVALSHA"
                 and p[1][3] == key]
        self.assertTrue(calls, "no filter script call for " + sid)
        self.unsubscribe(sid)
        self.assertEqual(self.redis.command("GET", key), b"deleted")
        self.assertTrue(0 < self.redis.command("PTTL", key) <= 600000)
        self.assertEqual(self.redis.command(*calls[-1]), 0)
        self.assertEqual(self.redis.command("TYPE", key), "string")

    def restart(self, name, sig=signal.SIGKILL):
        """Stop service name with sig (SIGKILL by default) and start it
        again with the same settings (a gateway keeps its LWDS_GW_ID, as a
        deployed one does)."""
        p = self.svc.procs[name]
        p.send_signal(sig)
        p.wait(10)
        self.svc.spawn(name)
        self.svc.wait_ready(15)

    def wait_clean(self):
        """The previous tests' subscriptions are deleted (cleanups) and
        their observations cancelled, so the counts below are ours."""
        wait_until(lambda: not self.observed(), 15, 0.1,
                   "earlier observations cancelled")

    def test_observation_survives_gateway_restart(self):
        """The gateway is SIGKILLed and started again under the same id.
        Without any Update or Register from the device, the new process
        reads its devices and the observation tokens back from Redis: a
        REST read reaches the device, and a notification sent with the
        token the killed process issued reaches the hook.  No new Observe
        is needed, then or at the device's next Update (the gateway keeps
        its start time, which dates the tokens), nor after a graceful
        stop (SIGTERM) and start."""
        path = "/3303/0/5700"
        self.wait_clean()
        self.subscribe(3303, 0, "5700", "/n-gw")
        wait_until(lambda: path in self.observed(), 10, 0.1, "observed")
        before = self.observes(path)
        stats = self.stats()
        gw_key = "lwds:v2:gw:{%s}" % self.svc.gw_id
        started = self.redis.hgetall(gw_key)["started"]
        token = self.observed()[path].split()[0]
        self.restart("coap-gw")
        inst = "/clients/%s/objecttypes/%s/instances/0" % (
            self.cid, self.defs[3303])
        wait_until(lambda: self.api.get(inst, self.admin).status == 200,
                   15, 0.2, "a REST read through the restarted gateway")
        self.set_value("42.5")
        wait_until(lambda: 42.5 in self.values("/n-gw"), 15, 0.1,
                   "a notification after the gateway restart: %r"
                   % (self.values("/n-gw"),))
        after = self.stats()
        for k in ("registrations", "updates"):
            self.assertEqual(after.get(k), stats.get(k), k)
        self.assertEqual(self.observes(path), before)
        self.assertEqual(self.redis.hgetall(gw_key)["started"], started)
        self.assertEqual(self.observed()[path].split()[0], token)
        # the next Update finds the observation current: no new Observe
        self.sim.send("update *")
        wait_until(lambda: self.stats().get("updates", 0) >
                   after.get("updates", 0), 10, 0.1, "the Update")
        self.set_value("43.5")
        wait_until(lambda: 43.5 in self.values("/n-gw"), 15, 0.1,
                   "a notification after the Update")
        self.assertEqual(self.observes(path), before)
        # a graceful stop leaves the tokens in Redis for the next process
        self.restart("coap-gw", signal.SIGTERM)
        wait_until(lambda: self.api.get(inst, self.admin).status == 200,
                   15, 0.2, "a REST read after a graceful restart")
        self.set_value("44.5")
        wait_until(lambda: 44.5 in self.values("/n-gw"), 15, 0.1,
                   "a notification after a graceful restart")
        self.assertEqual(self.observes(path), before)

    def test_instance_notification_reaches_resource_subscription(self):
        """Spec 6.6: a notification of the whole instance satisfies a
        property subscription of that instance.  The device refuses the
        resource Observe (so only /3303/0 is observed); the property
        subscription then gets the instance notifications, with every
        resource the device sent."""
        self.wait_clean()
        start = len(self.sim.lines)
        self.sim.send("fail obs-0 4.05")
        self.sim.wait_line(r"^ok", 5, start)
        def requests():
            return self.stats().get("paths", {}).get("/3303/0/5700", 0)
        before = requests()
        try:
            self.subscribe(3303, 0, "5700", "/n-res")
            # Write-Attributes, then the Observe, both refused
            wait_until(lambda: requests() >= before + 2, 10, 0.1,
                       "the refused Observe")
        finally:
            start = len(self.sim.lines)
            self.sim.send("fail obs-0 off")
            self.sim.wait_line(r"^ok", 5, start)
        self.subscribe(3303, 0, None, "/n-whole")
        wait_until(lambda: "/3303/0" in self.observed(), 10, 0.1,
                   "instance observed")
        self.assertNotIn("/3303/0/5700", self.observed())
        self.set_value("17.25")
        wait_until(lambda: 17.25 in self.values("/n-res"), 15, 0.1,
                   "the instance notification at the property hook: %r"
                   % (self.values("/n-res"),))
        body = [json.loads(r[2]) for r in self.sink.received("/n-res")][-1]
        value = body["Items"][0]["Value"]
        self.assertIn("SensorUnits", value, value)    # the whole instance

    def test_notifications_survive_broker_sigkill(self):
        self.subscribe(3303, 0, "5700", "/n-kill")
        wait_until(lambda: "/3303/0/5700" in self.observed(), 10, 0.1,
                   "observed")
        p = self.svc.procs["broker"]
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        for v in ("1.5", "2.5", "3.5"):
            self.set_value(v)
            time.sleep(0.3)
        self.svc.spawn("broker")
        wait_until(lambda: set(self.values("/n-kill")) >= {1.5, 2.5, 3.5},
                   20, 0.2, "values after the broker restart: %r"
                   % (self.values("/n-kill"),))


if __name__ == "__main__":
    unittest.main()
