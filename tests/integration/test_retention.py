"""test_retention - the records of clients that left are reaped once
LWDS_CLIENT_RETENTION_S has passed (docs/redis-schema.md, "Retention").

TestRetentionShort (3 s): a de-registered, an expired and an evicted
client are still found (GET /clients/{id}) until the retention ends, then
their record, every key of their slot, their endpoint index and their
client-level subscriptions are gone while other clients are untouched; the
same endpoint registers again under a new id and is read through REST.

TestRetentionCrash (an hour, so nothing is due by itself): the states a
crash between the reap's steps leaves, made by hand (entries moved into
the past), and the next sweep finishing the job; a Register of the
endpoint in such a state (the record marked by the reap's first step, the
endpoint index still naming the id) gets a new id and the old one is
reaped whole; a client that registered again before its retention ended
is never reaped; a record that left before retention existed (no `left`)
gets its retention from now.  tests/test_reap.c runs the reap's and the
Register's scripts in every order their steps interleave in.

TestRetentionOff (0): records are kept as before; Register and De-register
send the same commands with and without a retention.
"""

import time
import unittest
import urllib.request

from lwdslib import (Monitor, ServiceTestCase, Sim, free_port, link,
                     parse_monitor, path_of, wait_until)

HOOK = "http://127.0.0.1:9/retention"
PAYLOAD = b"</1/0>,</3/0>"


class RetentionCase(ServiceTestCase):
    REDIS_DB = 5
    RETENTION_S = 3

    @classmethod
    def setUpClass(cls):
        cls.health = "127.0.0.1:%d" % free_port()
        cls.EXTRA_ENV = {"LWDS_CLIENT_RETENTION_S": str(cls.RETENTION_S),
                         "LWDS_GW_HEALTH_ADDR": cls.health}
        super().setUpClass()
        cls.token = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)

    # keys and records

    @staticmethod
    def rec_key(cid):
        return "lwds:v2:client:{%s}" % cid

    def record(self, cid):
        return self.redis.hgetall(self.rec_key(cid))

    def client_keys(self, cid):
        """Every key of the client's slot but its blacklist entry."""
        keys = self.redis.keys("lwds:v2:client:{%s}*" % cid)
        keys += self.redis.keys("lwds:v2:obs:{%s}" % cid)
        return sorted(k for k in keys if not k.endswith(":blacklisted"))

    def expiry_score(self, cid):
        s = self.redis.command("ZSCORE", "lwds:v2:gw:{%s}:expiry"
                               % self.svc.gw_id, cid)
        return None if s is None else float(s)

    def index(self, ep):
        v = self.redis.command("GET", "lwds:v2:org:{0}:ep:" + ep)
        return None if v is None else v.decode()

    def connected(self, cid):
        return self.redis.command("ZSCORE", "lwds:v2:org:{0}:clients",
                                  cid) is not None

    # subscriptions

    def subscribe(self, cid, kind="ClientUpdated"):
        r = self.api.post("/clients/%s/subscriptions" % cid, self.token,
                          {"SubscriptionType": kind, "Url": HOOK + "/" + cid})
        self.assertEqual(r.status, 201, r)
        return r.json()["ID"]

    def org_sub_ids(self):
        r = self.api.get("/subscriptions?pageSize=1000", self.token)
        self.assertEqual(r.status, 200, r)
        return {path_of(link(i, "self")).rsplit("/", 1)[1]
                for i in r.json().get("Items", [])}

    def assert_sub_gone(self, sid):
        self.assertEqual(self.api.get("/subscriptions/" + sid,
                                      self.token).status, 404)
        self.assertNotIn(sid, self.org_sub_ids())
        self.assertEqual(self.redis.keys("lwds:v2:sub:{%s}" % sid), [])
        self.assertIsNone(self.redis.command(
            "ZSCORE", "lwds:v2:org:{0}:subs", sid))
        self.assertNotIn(sid.encode(), self.redis.command(
            "HVALS", "lwds:v2:org:{0}:subs:dedup"))
        self.assertEqual(self.redis.command(
            "GET", "lwds:v2:{deliveries}:filter:" + sid), b"deleted")

    def assert_reaped(self, cid, ep, sids):
        """Everything of cid is gone; sids were its subscriptions."""
        self.assertEqual(self.api.get("/clients/" + cid,
                                      self.token).status, 404)
        self.assertEqual(self.client_keys(cid), [])
        self.assertNotEqual(self.index(ep), cid)
        self.assertFalse(self.connected(cid))
        self.assertIsNone(self.expiry_score(cid))
        for sid in sids:
            self.assert_sub_gone(sid)

    def wait_reaped(self, cid, timeout=30):
        wait_until(lambda: not self.redis.command("EXISTS",
                                                  self.rec_key(cid)),
                   timeout, 0.1, "the record of %s reaped" % cid)
        # the reap's last step is the expiry entry
        wait_until(lambda: self.expiry_score(cid) is None, 10, 0.1,
                   "the reap of %s finished" % cid)

    def found_until_retention(self, cid):
        """GET /clients/{id} answers 404 only once left + retention has
        passed (by the clock of this machine, which the services share)."""
        left = int(self.record(cid).get("left", "0"))
        self.assertGreater(left, 0)
        r = self.api.get("/clients/" + cid, self.token)
        after = time.time() * 1000
        if r.status != 200:
            self.assertEqual(r.status, 404, r)
            self.assertGreaterEqual(after, left + self.RETENTION_S * 1000)


class TestRetentionShort(RetentionCase):
    RETENTION_S = 3

    def other_client(self, ep):
        """A client that stays registered, with a subscription."""
        _, _, cid = self.register(ep, lt=300, payload=PAYLOAD)
        return cid, self.subscribe(cid)

    def assert_untouched(self, cid, sid):
        self.assertEqual(self.record(cid)["state"], "registered")
        self.assertEqual(self.api.get("/clients/" + cid,
                                      self.token).status, 200)
        self.assertEqual(self.api.get("/subscriptions/" + sid,
                                      self.token).status, 200)

    def test_deregistered_client_reaped(self):
        other, other_sid = self.other_client("ret-keep-1")
        c, _, cid = self.register("ret-dereg", lt=300, payload=PAYLOAD)
        sids = [self.subscribe(cid), self.subscribe(cid, "ClientConnected")]
        self.assertEqual(c.request("DELETE", "rd/" + cid).code_str, "2.02")
        self.assertEqual(self.record(cid)["state"], "deregistered")
        self.found_until_retention(cid)
        self.wait_reaped(cid)
        self.assert_reaped(cid, "ret-dereg", sids)
        self.assert_untouched(other, other_sid)
        _, _, again = self.register("ret-dereg", lt=300, payload=PAYLOAD,
                                    client=c)
        self.assertNotEqual(again, cid)
        self.assertEqual(self.api.get("/clients/" + again,
                                      self.token).status, 200)
        self.assertIn("ret-dereg", self.names_listed(self.token))

    def test_expired_client_reaped(self):
        other, other_sid = self.other_client("ret-keep-2")
        _, _, cid = self.register("ret-exp", lt=1, payload=PAYLOAD)
        sid = self.subscribe(cid)
        wait_until(lambda: self.record(cid).get("state") != "registered",
                   20, 0.1, "expiry of ret-exp")
        self.found_until_retention(cid)
        self.wait_reaped(cid)
        self.assert_reaped(cid, "ret-exp", [sid])
        self.assert_untouched(other, other_sid)
        _, _, again = self.register("ret-exp", lt=300, payload=PAYLOAD)
        self.assertNotEqual(again, cid)
        self.assertEqual(self.api.get("/clients/" + again,
                                      self.token).status, 200)

    def test_evicted_client_reaped(self):
        other, other_sid = self.other_client("ret-keep-3")
        _, _, cid = self.register("ret-evict", lt=300, payload=PAYLOAD)
        sid = self.subscribe(cid)
        self.assertEqual(self.api.delete("/clients/" + cid,
                                         self.token).status, 204)
        self.assertEqual(self.record(cid)["state"], "removed")
        self.assertIn("left", self.record(cid))
        self.wait_reaped(cid)
        self.assert_reaped(cid, "ret-evict", [sid])
        # the id stays refused: its blacklist entry is kept
        self.assertTrue(self.redis.command(
            "EXISTS", "lwds:v2:client:{%s}:blacklisted" % cid))
        self.assert_untouched(other, other_sid)
        _, _, again = self.register("ret-evict", lt=300, payload=PAYLOAD)
        self.assertNotEqual(again, cid)

    @staticmethod
    def instance_path(api, token, cid, oid):
        r = api.get("/clients/%s/objecttypes" % cid, token)
        for item in r.json().get("Items", []):
            if int(item["ObjectTypeID"]) == oid:
                return path_of(link(item, "instances")) + "/0"
        raise AssertionError("no object %d: %r" % (oid, r))

    def sim_id(self, sim):
        sim.wait_line(Sim.READY, 15)
        r = self.api.get("/clients?pageSize=1000", self.token)
        for item in r.json().get("Items", []):
            if item["Name"] == "ret-sim-0":
                return path_of(link(item, "self")).rsplit("/", 1)[1]
        raise AssertionError("ret-sim-0 not listed: %r" % r)

    def start_sim(self):
        sim = Sim(["--server", "coap://127.0.0.1:%d" % self.svc.coap_port,
                   "--prefix", "ret-sim-", "--count", "1"])
        self.addCleanup(sim.stop)
        return sim

    def test_observed_device_reaped_and_back(self):
        """An lwds-sim device with an Observation subscription (the
        broker's observation keys too): reaped after its De-register, then
        the same endpoint comes back under a new id and is read."""
        sim = self.start_sim()
        cid = self.sim_id(sim)
        inst = self.instance_path(self.api, self.token, cid, 3)
        r = self.api.post(inst + "/subscriptions", self.token,
                          {"SubscriptionType": "Observation",
                           "Url": HOOK + "/obs"})
        self.assertEqual(r.status, 201, r)
        sid = r.json()["ID"]
        wait_until(lambda: self.redis.command(
            "HLEN", "lwds:v2:client:{%s}:observed" % cid) == 1, 15, 0.1,
            "the broker's observation")
        self.assertIn("lwds:v2:client:{%s}:obspaths" % cid,
                      self.client_keys(cid))
        sim.stop()
        wait_until(lambda: self.record(cid).get("state") ==
                   "deregistered", 10, 0.1, "the sim's De-register")
        self.wait_reaped(cid)
        self.assert_reaped(cid, "ret-sim-0", [sid])
        again = self.sim_id(self.start_sim())
        self.assertNotEqual(again, cid)
        r = self.api.get(self.instance_path(self.api, self.token, again, 3),
                         self.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["SerialNumber"], "ret-sim-0")

    def test_subscription_leaves_the_client_set_last(self):
        """The reap deletes a subscription with the client's set of ids
        last (LWM2M_SUB_CLIENT_SET_LAST): a crash before the record's DEL
        leaves the id where the next sweep finds it again (MONITOR)."""
        c, _, cid = self.register("ret-order", lt=300, payload=PAYLOAD)
        sid = self.subscribe(cid)
        mon = Monitor(self.redis.host, self.redis.port)
        mon.start()
        try:
            self.assertEqual(c.request("DELETE", "rd/" + cid).code_str,
                             "2.02")
            self.wait_reaped(cid)
        finally:
            mon.stop()
        subs = ("lwds:v2:client:{%s}:subs" % cid).encode()
        sub = ("lwds:v2:sub:{%s}" % sid).encode()
        order = []
        for line in mon.lines:
            p = parse_monitor(line)
            if p is None or not p[1] or p[0] == "lua":
                continue
            name = p[1][0].upper()
            if (name, p[1][1:3]) in ((b"SREM", [subs, sid.encode()]),
                                     (b"DEL", [sub])):
                order.append(name)
        self.assertEqual(order, [b"DEL", b"SREM"])

    def reaped_total(self):
        url = "http://%s/metrics" % self.health
        with urllib.request.urlopen(url, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("lwds_gw_clients_reaped_total "):
                    return float(line.split()[1])
        return 0.0

    def test_reaped_counted_and_logged(self):
        before = self.reaped_total()
        c, _, cid = self.register("ret-count", lt=300, payload=PAYLOAD)
        self.assertEqual(c.request("DELETE", "rd/" + cid).code_str, "2.02")
        self.wait_reaped(cid)
        self.assertGreaterEqual(self.reaped_total(), before + 1)
        wait_until(lambda: "clients gone for more than 3 s" in
                   self.svc.logs(tail=100000), 10, 0.2,
                   "the sweep's log line")


class TestRetentionCrash(RetentionCase):
    RETENTION_S = 3600

    def left_client(self, ep, n_subs=1):
        """A client that registered, subscribed and de-registered, its
        retention made over (left moved back, its entry due)."""
        c, _, cid = self.register(ep, lt=300, payload=PAYLOAD)
        sids = [self.subscribe(cid, k)
                for k in ("ClientUpdated", "ClientConnected")[:n_subs]]
        self.assertEqual(c.request("DELETE", "rd/" + cid).code_str, "2.02")
        left = int(self.record(cid)["left"])
        self.assertEqual(self.expiry_score(cid), left + 3600 * 1000)
        self.assertEqual(self.api.get("/clients/" + cid,
                                      self.token).status, 200)
        return cid, sids

    def make_due(self, cid, record=True):
        """left moved an hour back (record), then the entry due."""
        now = int(time.time() * 1000)
        if record:
            self.redis.command("HSET", self.rec_key(cid), "left",
                               now - 3600 * 1000 - 10000)
        self.redis.command("ZADD", "lwds:v2:gw:{%s}:expiry" % self.svc.gw_id,
                           now - 10000, cid)

    def after_step_1(self, cid):
        """The state the reap's step 1 leaves: the record marked."""
        self.redis.command("HSET", self.rec_key(cid), "reap", "1")

    def test_after_step_1(self):
        """Record (marked), endpoint index and subscriptions still there:
        the sweep reaps the marked record."""
        cid, sids = self.left_client("ret-crash-1", 2)
        self.after_step_1(cid)
        self.assertEqual(self.index("ret-crash-1"), cid)
        self.make_due(cid)
        wait_until(lambda: self.expiry_score(cid) is None, 30, 0.1,
                   "the reap of %s finished" % cid)
        self.assert_reaped(cid, "ret-crash-1", sids)
        self.assertIsNone(self.index("ret-crash-1"))

    def test_after_step_2(self):
        cid, sids = self.left_client("ret-crash-2", 2)
        self.after_step_1(cid)
        self.redis.command("DEL", "lwds:v2:org:{0}:ep:ret-crash-2")
        self.assertEqual(self.api.get("/subscriptions/" + sids[0],
                                      self.token).status, 200)
        self.make_due(cid)
        wait_until(lambda: self.expiry_score(cid) is None, 30, 0.1,
                   "the reap of %s finished" % cid)
        self.assert_reaped(cid, "ret-crash-2", sids)

    def test_after_step_3_one_subscription_left(self):
        cid, sids = self.left_client("ret-crash-3", 2)
        self.after_step_1(cid)
        self.redis.command("DEL", "lwds:v2:org:{0}:ep:ret-crash-3")
        self.assertEqual(self.api.delete("/subscriptions/" + sids[0],
                                         self.token).status, 204)
        self.make_due(cid)
        wait_until(lambda: self.expiry_score(cid) is None, 30, 0.1,
                   "the reap of %s finished" % cid)
        self.assert_reaped(cid, "ret-crash-3", sids)

    def test_after_step_4_or_a_previous_version(self):
        """Record and index deleted, subscriptions left (a reap of the
        previous version stopped after its record step): the sweep finds
        the record gone and still deletes the subscriptions, then the
        entry."""
        cid, sids = self.left_client("ret-crash-5", 2)
        self.redis.command("DEL", "lwds:v2:org:{0}:ep:ret-crash-5")
        self.redis.command("DEL", self.rec_key(cid))
        self.make_due(cid, record=False)
        wait_until(lambda: self.expiry_score(cid) is None, 30, 0.1,
                   "the reap of %s finished" % cid)
        self.assert_reaped(cid, "ret-crash-5", sids)

    def test_register_after_step_1_gets_a_new_id(self):
        """The race of a Register with its own client's reap: the index
        still names the id the reap has started on; the takeover finds the
        record marked, the Register points the index at a new id and
        answers with it, and makes the old id's entry due: the sweep then
        reaps the old id whole."""
        c, _, cid = self.register("ret-race", lt=300, payload=PAYLOAD)
        sids = [self.subscribe(cid)]
        self.assertEqual(c.request("DELETE", "rd/" + cid).code_str, "2.02")
        self.make_due(cid)
        self.redis.command("ZADD", "lwds:v2:gw:{%s}:expiry" % self.svc.gw_id,
                           int(time.time() * 1000) + 3600 * 1000, cid)
        self.after_step_1(cid)
        _, _, again = self.register("ret-race", lt=300, payload=PAYLOAD,
                                    client=c)
        self.assertNotEqual(again, cid)
        self.assertEqual(self.index("ret-race"), again)
        self.assertEqual(self.record(again)["state"], "registered")
        self.assertEqual(self.api.get("/clients/" + again,
                                      self.token).status, 200)
        wait_until(lambda: self.expiry_score(cid) is None, 30, 0.1,
                   "the reap of %s finished" % cid)
        self.assert_reaped(cid, "ret-race", sids)
        self.assertEqual(self.index("ret-race"), again)
        self.assertTrue(self.connected(again))
        self.assertEqual(self.api.get("/clients/" + again,
                                      self.token).status, 200)

    def test_leave_unfinished_then_reaped(self):
        """Still in the connected index (a De-register whose last steps
        never ran): the sweep finishes the leave, then reaps."""
        cid, sids = self.left_client("ret-crash-4")
        self.redis.command("ZADD", "lwds:v2:org:{0}:clients", "1", cid)
        self.make_due(cid)
        self.wait_reaped(cid)
        self.assert_reaped(cid, "ret-crash-4", sids)

    def test_registered_again_never_reaped(self):
        c, _, cid = self.register("ret-back", lt=300, payload=PAYLOAD)
        sid = self.subscribe(cid)
        self.assertEqual(c.request("DELETE", "rd/" + cid).code_str, "2.02")
        self.assertIn("left", self.record(cid))
        _, _, again = self.register("ret-back", lt=300, payload=PAYLOAD,
                                    client=c)
        self.assertEqual(again, cid)
        rec = self.record(cid)
        self.assertEqual(rec["state"], "registered")
        self.assertNotIn("left", rec)
        self.assertEqual(self.expiry_score(cid), float(rec["exp"]))
        # made due by hand: the sweep only puts its score back
        self.redis.command("ZADD", "lwds:v2:gw:{%s}:expiry" % self.svc.gw_id,
                           int(time.time() * 1000) - 10000, cid)
        wait_until(lambda: self.expiry_score(cid) == float(rec["exp"]), 15,
                   0.1, "the entry's score restored")
        self.assertEqual(self.record(cid)["state"], "registered")
        self.assertEqual(self.api.get("/subscriptions/" + sid,
                                      self.token).status, 200)
        self.assertEqual(self.index("ret-back"), cid)

    def test_left_before_retention_gets_it_now(self):
        c, _, cid = self.register("ret-old", lt=300, payload=PAYLOAD)
        self.assertEqual(c.request("DELETE", "rd/" + cid).code_str, "2.02")
        self.redis.command("HDEL", self.rec_key(cid), "left")
        before = int(time.time() * 1000)
        self.redis.command("ZADD", "lwds:v2:gw:{%s}:expiry" % self.svc.gw_id,
                           before - 10000, cid)
        wait_until(lambda: "left" in self.record(cid), 15, 0.1,
                   "left written by the sweep")
        left = int(self.record(cid)["left"])
        self.assertGreaterEqual(left, before)
        wait_until(lambda: self.expiry_score(cid) == left + 3600 * 1000, 10,
                   0.1, "the entry moved to left + retention")
        self.assertEqual(self.record(cid)["state"], "deregistered")


class CommandsCase(RetentionCase):
    """The commands the gateway sends about one client for a Register of
    a new endpoint and its De-register (MONITOR)."""

    def register_deregister_commands(self, ep):
        mon = Monitor(self.redis.host, self.redis.port)
        mon.start()
        try:
            c, _, cid = self.register(ep, lt=300, payload=PAYLOAD)
            self.assertEqual(c.request("DELETE", "rd/" + cid).code_str,
                             "2.02")
            key = "gw:{%s}:expiry" % self.svc.gw_id

            def written():
                lines = list(mon.lines)
                at = [i for i, ln in enumerate(lines)
                      if '"deregistered"' in ln and cid in ln]
                return at and any(key in ln and cid in ln
                                  for ln in lines[at[0] + 1:])
            wait_until(written, 5, 0.05, "the De-register's writes")
        finally:
            mon.stop()
        gw_conn, out = None, []
        for line in mon.lines:
            p = parse_monitor(line)
            if p is None or not p[1]:
                continue
            conn, args = p
            if gw_conn is None and args[0].upper() == b"SET" and \
                    args[1].endswith(b":ep:" + ep.encode()):
                gw_conn = conn
            if conn != gw_conn or not any(cid.encode() in a for a in args):
                continue
            name = args[0].upper().decode()
            if name != "XADD":  # only with subscriptions in the org
                out.append((name, args))
        return cid, out


class TestRetentionOff(CommandsCase):
    RETENTION_S = 0

    def test_records_kept_as_before(self):
        c, _, cid = self.register("ret-off", lt=300, payload=PAYLOAD)
        sid = self.subscribe(cid)
        self.assertEqual(c.request("DELETE", "rd/" + cid).code_str, "2.02")
        rec = self.record(cid)
        self.assertEqual(rec["state"], "deregistered")
        self.assertNotIn("left", rec)
        self.assertIsNone(self.expiry_score(cid))
        _, _, gone = self.register("ret-off-2", lt=300, payload=PAYLOAD)
        self.assertEqual(self.api.delete("/clients/" + gone,
                                         self.token).status, 204)
        self.assertNotIn("left", self.record(gone))
        self.assertIsNone(self.expiry_score(gone))
        self.assertEqual(self.api.get("/clients/" + cid,
                                      self.token).status, 200)
        self.assertEqual(self.api.get("/subscriptions/" + sid,
                                      self.token).status, 200)
        # an entry of it due (a De-register that stopped before its last
        # step): the sweep removes the entry, as before, and keeps the rest
        self.redis.command("ZADD", "lwds:v2:gw:{%s}:expiry" % self.svc.gw_id,
                           int(time.time() * 1000) - 10000, cid)
        wait_until(lambda: self.expiry_score(cid) is None, 15, 0.1,
                   "the sweep of the entry")
        rec = self.record(cid)
        self.assertEqual(rec["state"], "deregistered")
        self.assertNotIn("left", rec)
        self.assertEqual(self.index("ret-off"), cid)
        self.assertEqual(self.api.get("/subscriptions/" + sid,
                                      self.token).status, 200)

    def test_commands_unchanged(self):
        _, cmds = self.register_deregister_commands("ret-cmds-off")
        self.assertEqual([n for n, _ in cmds], COMMANDS + ["ZREM"])
        self.assertNotIn(b"left", cmds[-3][1])


# Register of a new endpoint: the endpoint index, the expiry entry, the
# record, the connected index; De-register: the blacklist and the record
# read, the state, the connected index; then the expiry entry (ZREM
# without a retention, ZADD with one: the same one command)
COMMANDS = ["SET", "ZADD", "HSET", "ZADD", "EXISTS", "HMGET", "HSET", "ZREM"]


class TestRetentionCommands(CommandsCase):
    RETENTION_S = 3600

    def test_commands_unchanged(self):
        cid, cmds = self.register_deregister_commands("ret-cmds-on")
        self.assertEqual([n for n, _ in cmds], COMMANDS + ["ZADD"])
        self.assertIn(b"left", cmds[-3][1])
        left = int(self.record(cid)["left"])
        self.assertEqual(int(float(cmds[-1][1][2])), left + 3600 * 1000)


if __name__ == "__main__":
    unittest.main()
