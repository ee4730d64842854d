"""Two brokers share the {events} consumer group (issue 8: "several
instances that share work safely").  A burst of notifications from several
lwds-sim devices, each with three Observation subscriptions on the same
resource: without attributes (every notification exactly once), Pmin 3600
(exactly one for the whole burst: the filter decides and queues in one Lua
script, so two brokers never both pass it) and Step 50 (never the same
value twice, and never an older value after a newer one).  Then one broker
is killed during a second burst: the other claims its pending entries and
nothing is lost."""

import json
import os
import signal
import subprocess
import unittest

from hooksink import Sink
from lwdslib import (ServiceTestCase, Sim, binary, free_port, link, path_of,
                     wait_until)

N_DEVICES = 8
BURST = 25


class TestBrokerPair(ServiceTestCase):
    REDIS_DB = 9
    EXTRA_ENV = {"LWDS_BROKER_CONSUMER": "pair-a",
                 "LWDS_BROKER_CLAIM_IDLE_MS": "5000",
                 "LWDS_LOG_LEVEL": "info"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.second = None
        cls.sink = Sink()
        cls.sim = None
        try:
            cls.second = cls.start_broker("pair-b")
            cls.admin = cls.api.token(cls.svc.admin_key,
                                      cls.svc.admin_secret)
            cls.sim = Sim(["--server",
                           "coap://127.0.0.1:%d" % cls.svc.coap_port,
                           "--prefix", "pair-", "--count", str(N_DEVICES),
                           "--sensor-period", "3600000",
                           # CON: a datagram lost on a busy machine is
                           # sent again (the gateway drops the repeat)
                           "--con-notify"])
            cls.sim.wait_line(Sim.READY, 15)
            r = cls.api.get("/clients?pageSize=1000", cls.admin)
            cls.cids = {i["Name"]: path_of(link(i, "self")).rsplit("/", 1)[1]
                        for i in r.json().get("Items", [])}
            r = cls.api.get("/objecttypes/definitions?pageSize=1000",
                            cls.admin)
            cls.temp = [d["ObjectDefinitionID"] for d in r.json()["Items"]
                        if int(d["ObjectID"]) == 3303][0]
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.sim is not None:
            cls.sim.stop()
        if cls.second is not None and cls.second.poll() is None:
            cls.second.kill()
            cls.second.wait()
        cls.sink.close()
        super().tearDownClass()

    @classmethod
    def start_broker(cls, consumer):
        env = dict(cls.svc.env)
        env["LWDS_BROKER_CONSUMER"] = consumer
        env["LWDS_BROKER_HEALTH_ADDR"] = "127.0.0.1:%d" % free_port()
        log = open(os.path.join(cls.svc.logdir, consumer + ".log"), "ab")
        p = subprocess.Popen([binary("broker")], env=env,
                             stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT)
        log.close()
        return p

    # helpers

    def subscribe(self, cid, url, attrs=None):
        body = {"SubscriptionType": "Observation", "Url": self.sink.url(url),
                "Property": "5700"}
        if attrs:
            body["Attributes"] = attrs
        r = self.api.post("/clients/%s/objecttypes/%s/instances/0/"
                          "subscriptions" % (cid, self.temp), self.admin,
                          body)
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.api.delete, "/subscriptions/" + r.json()["ID"],
                        self.admin)

    def values(self, url):
        return [json.loads(r[2])["Items"][0]["Value"]["SensorValue"]
                for r in self.sink.received(url)]

    def observed_all(self):
        return all("/3303/0/5700" in self.redis.hgetall(
            "lwds:v2:client:{%s}:observed" % cid)
            for cid in self.cids.values())

    def wait_unobserved(self):
        """The subscriptions of the previous test are gone and their
        observation cancelled (else the first check of observed_all could
        see an observation about to be cancelled)."""
        wait_until(lambda: not any(self.redis.hgetall(
            "lwds:v2:client:{%s}:observed" % cid)
            for cid in self.cids.values()), 20, 0.1,
            "the previous observations cancelled")

    def burst(self, first):
        """BURST values per device, each 100 above the last, as fast as
        lwds-sim takes them."""
        out = []
        for k in range(first, first + BURST):
            start = len(self.sim.lines)
            self.sim.send("set * /3303/0/5700 %d" % (100 * k))
            self.sim.wait_line(r"^ok", 5, start)
            out.append(100 * k)
        return out

    def settled(self):
        """Every event handled and every job delivered."""
        def pairs(flat):
            return {flat[i].decode(): flat[i + 1]
                    for i in range(0, len(flat), 2)}
        key = "lwds:v2:{events}"
        last = pairs(self.redis.command("XINFO", "STREAM", key))
        for g in self.redis.command("XINFO", "GROUPS", key):
            info = pairs(g)
            if info["name"] == b"lwds-broker" and (
                    info["pending"] != 0 or info["last-delivered-id"] !=
                    last["last-generated-id"]):
                return False
        return self.redis.command("XLEN", "lwds:v2:{deliveries}") == 0

    # tests

    def test_burst_with_pmin_and_step_shared_by_two_brokers(self):
        self.wait_unobserved()
        for ep, cid in self.cids.items():
            self.subscribe(cid, "/all/" + ep)
            self.subscribe(cid, "/pmin/" + ep, {"Pmin": 3600})
            self.subscribe(cid, "/step/" + ep, {"Step": 50})
        wait_until(self.observed_all, 15, 0.1, "every device observed")
        sent = self.burst(1)
        for ep in self.cids:
            wait_until(lambda: set(self.values("/all/" + ep)) >= set(sent),
                       30, 0.1, "every value at /all/" + ep)
        wait_until(self.settled, 30, 0.1, "events handled, jobs delivered")
        shared = {}
        for ep in self.cids:
            got = self.values("/all/" + ep)
            self.assertEqual(sorted(got), sent, "no loss, no duplicate")
            self.assertEqual(len(self.values("/pmin/" + ep)), 1,
                             "Pmin 3600: one delivery for the burst")
            step = self.values("/step/" + ep)
            self.assertEqual(len(step), len(set(step)), step)
            self.assertIn(sent[-1], step, "the newest value always passes")
        for name in ("broker", "pair-b"):
            with open(os.path.join(self.svc.logdir, name + ".log")) as f:
                shared[name] = f.read().count("queued Observation")
        # how the brokers shared the work (it varies from run to run)
        print("\nnotification jobs per broker: %r" % shared)

    def test_burst_survives_a_killed_broker(self):
        self.wait_unobserved()
        for ep, cid in self.cids.items():
            self.subscribe(cid, "/kill/" + ep)
        wait_until(self.observed_all, 15, 0.1, "every device observed")
        p = self.svc.procs["broker"]
        try:
            sent = self.burst(1000)
            # killed mid-stream: pair-b claims its pending entries once
            # they are idle for LWDS_BROKER_CLAIM_IDLE_MS
            p.send_signal(signal.SIGKILL)
            p.wait(10)
            sent += self.burst(2000)
            for ep in self.cids:
                wait_until(lambda: set(self.values("/kill/" + ep)) >=
                           set(sent), 40, 0.1,
                           "every value at /kill/%s with one broker left"
                           % ep)
        finally:
            self.svc.spawn("broker")


if __name__ == "__main__":
    unittest.main()
