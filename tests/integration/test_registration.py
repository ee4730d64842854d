"""Registration over real UDP and Redis: register, list, update,
de-register, expire, re-register (issue 2)."""

import os
import signal
import time
import unittest

from lwdslib import (ACK, CON, OPT, CoapMessage, Monitor, ServiceTestCase,
                     Sim, link, path_of, random_token, uint_opt, wait_until)

PAYLOAD = (b'</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>,</3303/0>,'
           b'</3303/1>,</5>')


class TestRegistration(ServiceTestCase):
    REDIS_DB = 1

    def setUp(self):
        self.token = self.admin_token()

    def client_record(self, cid):
        return self.redis.hgetall("lwds:v2:client:{%s}" % cid)

    def test_register_raw_lists_client(self):
        _, resp, cid = self.register("reg-raw-1", lt=300, payload=PAYLOAD)
        self.assertEqual(len(cid), 22, cid)
        r = self.api.get("/clients", self.token)
        self.assertEqual(r.status, 200, r)
        items = [i for i in r.json().get("Items", [])
                 if i.get("Name") == "reg-raw-1"]
        self.assertEqual(len(items), 1, r)
        item = items[0]
        for rel in ("self", "remove", "objecttypes", "subscriptions",
                    "metrics"):
            href = link(item, rel)
            self.assertIsNotNone(href, "no %s link in %r" % (rel, item))
            self.assertRegex(href, r"^https?://127\.0\.0\.1:%d/clients/"
                             % self.svc.http_port)
        self.assertEqual(path_of(link(item, "self")), "/clients/" + cid)
        self.assertEqual(path_of(link(item, "objecttypes")),
                         "/clients/%s/objecttypes" % cid)

    def test_register_get_client(self):
        _, _, cid = self.register("reg-get-1", payload=PAYLOAD)
        r = self.api.get("/clients/" + cid, self.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["Name"], "reg-get-1")
        self.assertEqual(path_of(link(r.json(), "self")), "/clients/" + cid)

    def test_register_record_fields(self):
        _, _, cid = self.register("reg-rec-1", lt=300, payload=PAYLOAD,
                                  extra=["sms=123"])
        rec = self.client_record(cid)
        self.assertEqual(rec.get("ep"), "reg-rec-1", rec)
        self.assertEqual(rec.get("lt"), "300", rec)
        self.assertEqual(rec.get("b"), "U", rec)
        self.assertEqual(rec.get("lwm2m"), "1.1", rec)
        self.assertEqual(rec.get("sms"), "123", rec)
        self.assertEqual(rec.get("state"), "registered", rec)
        self.assertEqual(rec.get("gw"), self.svc.gw_id, rec)
        self.assertRegex(rec.get("addr", ""), r"^127\.0\.0\.1:\d+$")
        self.assertIn("</3303/1>", rec.get("objs", ""))
        self.assertEqual(int(rec["exp"]) - int(rec["upd"]), 300000, rec)

    def test_register_objecttypes(self):
        _, _, cid = self.register("reg-ot-1", payload=PAYLOAD)
        r = self.api.get("/clients/%s/objecttypes" % cid, self.token)
        self.assertEqual(r.status, 200, r)
        ids = [i["ObjectTypeID"] for i in r.json().get("Items", [])]
        self.assertEqual(ids, ["1", "3", "3303", "5"], r)

    def test_register_alternate_root(self):
        payload = b'</lwm2m>;rt="oma.lwm2m";ct=11543,</lwm2m/1/0>,</lwm2m/3/0>'
        _, _, cid = self.register("reg-root-1", payload=payload)
        rec = self.client_record(cid)
        self.assertEqual(rec.get("root"), "/lwm2m", rec)
        r = self.api.get("/clients/%s/objecttypes" % cid, self.token)
        ids = [i["ObjectTypeID"] for i in r.json().get("Items", [])]
        self.assertEqual(ids, ["1", "3"], r)

    def test_register_duplicate_links_merged(self):
        payload = b"</3/0>,</1/0>,</3/0>,</3/1>,</1>"
        _, _, cid = self.register("reg-dup-1", payload=payload)
        r = self.api.get("/clients/%s/objecttypes" % cid, self.token)
        ids = [i["ObjectTypeID"] for i in r.json().get("Items", [])]
        self.assertEqual(ids, ["3", "1"], r)

    def test_register_queue_mode_and_extra(self):
        _, _, cid = self.register("reg-q-1", extra=["Q", "vendor=x"])
        rec = self.client_record(cid)
        self.assertEqual(rec.get("q"), "1", rec)
        self.assertIn("vendor=x", rec.get("extra", ""), rec)

    def test_register_default_lifetime(self):
        _, _, cid = self.register("reg-lt-default")
        self.assertEqual(self.client_record(cid).get("lt"), "86400")

    def test_update_without_lt_keeps_lifetime(self):
        c, _, cid = self.register("reg-upd-1", lt=300)
        before = self.client_record(cid)
        time.sleep(0.05)
        r = c.request("POST", "rd/" + cid)
        self.assertEqual(r.code_str, "2.04", r)
        rec = self.client_record(cid)
        self.assertEqual(rec.get("lt"), "300", rec)
        self.assertGreater(int(rec["upd"]), int(before["upd"]), rec)
        self.assertEqual(int(rec["exp"]) - int(rec["upd"]), 300000, rec)

    def test_idle_sessions_sized_for_returning_peers(self):
        """200 peers that keep coming back, more than the 64 idle sessions
        libcoap keeps at first: the gateway raises its cap (each step
        logged) until their sessions stay (docs/coap-gw.md)."""
        peers = []
        for i in range(200):
            c, r, cid = self.register("reg-idle-%d" % i, lt=300)
            # de-registered after: the other tests list the first page
            self.addCleanup(c.request, "DELETE", "rd/" + cid)
            peers.append((c, r, cid))
        for _ in range(5):
            for c, _, cid in peers:
                r = c.request("POST", "rd/" + cid)
                self.assertEqual(r.code_str, "2.04", r)
        path = os.path.join(self.svc.logdir, "coap-gw.log")

        def kept(n):
            with open(path, "rb") as f:
                return b"idle CoAP sessions kept: %d " % n in f.read()
        wait_until(lambda: kept(128) and kept(256),
                   what="idle-session cap raised to 128, then 256")

    def test_update_from_new_address(self):
        _, _, cid = self.register("reg-nat-1", lt=300)
        other = self.svc.coap()
        self.addCleanup(other.close)
        r = other.request("POST", "rd/" + cid)
        self.assertEqual(r.code_str, "2.04", r)
        port = other.sock.getsockname()[1]
        self.assertEqual(self.client_record(cid).get("addr"),
                         "127.0.0.1:%d" % port)

    def test_update_with_lt(self):
        c, _, cid = self.register("reg-upd-2", lt=300)
        r = c.request("POST", "rd/" + cid, query=["lt=600"])
        self.assertEqual(r.code_str, "2.04", r)
        rec = self.client_record(cid)
        self.assertEqual(rec.get("lt"), "600", rec)

    def test_update_objects(self):
        c, _, cid = self.register("reg-upd-3", payload=b"</1/0>,</3/0>")
        r = c.request("POST", "rd/" + cid, payload=b"</1/0>,</3/0>,</5/0>",
                      content_format=40)
        self.assertEqual(r.code_str, "2.04", r)
        r = self.api.get("/clients/%s/objecttypes" % cid, self.token)
        ids = [i["ObjectTypeID"] for i in r.json().get("Items", [])]
        self.assertEqual(ids, ["1", "3", "5"], r)

    def test_update_unknown_id(self):
        c = self.svc.coap()
        self.addCleanup(c.close)
        unknown = random_token(16)[:22]
        r = c.request("POST", "rd/" + unknown)
        self.assertEqual(r.code_str, "4.04", r)

    def test_deregister(self):
        c, _, cid = self.register("reg-del-1", payload=PAYLOAD)
        r = c.request("DELETE", "rd/" + cid)
        self.assertEqual(r.code_str, "2.02", r)
        self.assertNotIn("reg-del-1", self.names_listed(self.token))
        r = self.api.get("/clients/" + cid, self.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.client_record(cid).get("state"), "deregistered")
        r = c.request("DELETE", "rd/" + cid)
        self.assertEqual(r.code_str, "4.04", r)

    def test_rest_delete_client(self):
        c, _, cid = self.register("reg-rest-del-1")
        r = self.api.delete("/clients/" + cid, self.token)
        self.assertEqual(r.status, 204, r)
        self.assertNotIn("reg-rest-del-1", self.names_listed(self.token))
        self.assertEqual(self.api.delete("/clients/" + cid,
                                         self.token).status, 404)
        # the gateway dropped the session: the device's update is refused
        r = c.request("POST", "rd/" + cid)
        self.assertIn(r.code_str, ("4.03", "4.04"), r)

    def test_expire(self):
        _, _, cid = self.register("reg-exp-1", lt=2)
        self.assertIn("reg-exp-1", self.names_listed(self.token))
        wait_until(lambda: "reg-exp-1" not in self.names_listed(self.token),
                   timeout=15, interval=0.5, what="expiry of reg-exp-1")
        wait_until(lambda: self.client_record(cid).get("state") == "expired",
                   timeout=10, interval=0.5, what="state expired")
        # the expiry entry now schedules the reap of the record, when the
        # retention (LWDS_CLIENT_RETENTION_S, 30 days) has passed
        left = int(self.client_record(cid)["left"])
        key = "lwds:v2:gw:{%s}:expiry" % self.svc.gw_id
        wait_until(lambda: float(self.redis.command("ZSCORE", key, cid) or 0)
                   == left + 2592000 * 1000, timeout=10, interval=0.2,
                   what="the entry moved to left + retention")

    def ghost_device(self, cid, ep, state, exp_ms):
        """A device of gateway "ghost", which never refreshes its alive key
        (a gateway that died for good), as its Register left it."""
        now = int(time.time() * 1000)
        self.redis.command("HSET", "lwds:v2:client:{%s}" % cid, "ep", ep,
                           "org", "0", "state", state, "gw", "ghost",
                           "exp", exp_ms, "reg", now - 10000, "lt", "2")
        self.redis.command("ZADD", "lwds:v2:org:{0}:clients", now - 10000,
                           cid)
        self.redis.command("ZADD", "lwds:v2:gw:{ghost}:expiry", exp_ms, cid)
        self.redis.command("SADD", "lwds:v2:gateways", "ghost")

    def expired_events(self, cid):
        out = []
        for _, fields in self.redis.command("XRANGE", "lwds:v2:{events}",
                                            "-", "+"):
            f = dict(zip(fields[::2], fields[1::2]))
            if f.get(b"type") == b"expired" and f.get(b"id") == cid.encode():
                out.append(f)
        return out

    def test_dead_gateway_devices_expire(self):
        """The live gateway sweeps the expiry set of a gateway whose alive
        key has lapsed: a registered device past its lifetime expires (also
        an entry whose score is the lease of a sweeper that crashed), one
        already expired by a sweeper that crashed before cleaning gets its
        event again and leaves the indexes."""
        past = int(time.time() * 1000) - 10000
        # expired events are written for an organisation with
        # subscriptions only (docs/redis-schema.md, "Events")
        subs = "lwds:v2:org:{0}:subs"
        self.redis.command("ZADD", subs, "1", "reg-dead-gw-marker")
        self.addCleanup(self.redis.command, "ZREM", subs,
                        "reg-dead-gw-marker")
        due, half = "ghostDeviceDue00000000", "ghostDeviceHalfDone000"
        self.ghost_device(due, "ghost-due", "registered", past)
        self.ghost_device(half, "ghost-half", "expired", past)
        key = "lwds:v2:gw:{ghost}:expiry"
        for cid in (due, half):
            # the entry stays until the reap of the record, at left +
            # LWDS_CLIENT_RETENTION_S (30 days; a record expired before
            # retention existed gets left = the sweep's now)
            self.addCleanup(self.redis.command, "ZREM", key, cid)

            def moved():
                left = self.client_record(cid).get("left")
                score = self.redis.command("ZSCORE", key, cid)
                return left is not None and score is not None and \
                    float(score) == int(left) + 2592000 * 1000
            wait_until(moved, timeout=15, interval=0.2,
                       what="sweep of " + cid)
            self.assertEqual(self.client_record(cid)["state"], "expired")
            self.assertIsNone(self.redis.command(
                "ZSCORE", "lwds:v2:org:{0}:clients", cid))
            wait_until(lambda: len(self.expired_events(cid)) == 1,
                       timeout=5, interval=0.1, what="expired event")

    def test_dead_gateway_id_retired_when_empty(self):
        """The id of a dead gateway stays in `gateways` while its expiry
        set holds a device not yet due, and is removed once the set is
        empty, so live gateways stop checking it."""
        cid = "ghostDeviceLater000000"
        later = int(time.time() * 1000) + 3600 * 1000
        self.ghost_device(cid, "ghost-later", "registered", later)
        self.addCleanup(self.redis.command, "ZREM",
                        "lwds:v2:org:{0}:clients", cid)
        self.addCleanup(self.redis.command, "DEL",
                        "lwds:v2:client:{%s}" % cid)
        mon = Monitor(self.redis.host, self.redis.port)
        mon.start()
        try:
            wait_until(lambda: sum('"lwds:v2:gw:{ghost}:alive"' in line
                                   and '"EVAL"' in line
                                   for line in mon.lines) >= 2,
                       timeout=10, interval=0.2, what="two checks of ghost")
        finally:
            mon.stop()
        self.assertIn(b"ghost", self.redis.command(
            "SMEMBERS", "lwds:v2:gateways"))
        self.redis.command("ZREM", "lwds:v2:gw:{ghost}:expiry", cid)
        wait_until(lambda: b"ghost" not in self.redis.command(
            "SMEMBERS", "lwds:v2:gateways"), timeout=10, interval=0.2,
            what="ghost retired")
        self.assertIn(self.svc.gw_id.encode(), self.redis.command(
            "SMEMBERS", "lwds:v2:gateways"))

    def test_expiry_entry_of_moved_device_dropped(self):
        """An entry left in a dead gateway's set by a takeover that crashed
        before removing it: the record names another gateway, so the sweep
        drops the entry and leaves the record alone."""
        cid = "ghostDeviceMoved000000"
        past = int(time.time() * 1000) - 10000
        self.ghost_device(cid, "ghost-moved", "registered", past)
        self.addCleanup(self.redis.command, "ZREM",
                        "lwds:v2:org:{0}:clients", cid)
        self.addCleanup(self.redis.command, "DEL",
                        "lwds:v2:client:{%s}" % cid)
        self.redis.command("HSET", "lwds:v2:client:{%s}" % cid, "gw",
                           self.svc.gw_id)
        key = "lwds:v2:gw:{ghost}:expiry"
        wait_until(lambda: self.redis.command("ZSCORE", key, cid) is None,
                   timeout=15, interval=0.2, what="sweep of the entry")
        self.assertEqual(self.client_record(cid)["state"], "registered")
        self.assertEqual(self.expired_events(cid), [])

    def restart_gateway(self):
        """SIGKILL the gateway and start it again with the same settings
        (same LWDS_GW_ID)."""
        p = self.svc.procs["coap-gw"]
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        self.svc.spawn("coap-gw")
        self.svc.wait_ready(15)

    @staticmethod
    def update_after_restart(client, cid):
        """The Update a device sends after its gateway restarted: repeated
        while the gateway answers 5.03 (its Redis connection or the reload
        of its table not done yet), as a device does after Max-Age."""
        deadline = time.monotonic() + 10
        while True:
            r = client.request("POST", "rd/" + cid)
            if r.code_str != "5.03" or time.monotonic() > deadline:
                return r
            time.sleep(0.2)

    def test_expire_across_gateway_restart(self):
        """A registration whose lifetime ends while its gateway is down is
        expired by the restarted gateway (not brought back to life by the
        reload of its table); one still valid is kept and its Update is
        answered."""
        ca, _, short = self.register("reg-rs-short", lt=2)
        cb, _, long_ = self.register("reg-rs-long", lt=300)
        p = self.svc.procs["coap-gw"]
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        exp = int(self.client_record(short)["exp"])
        wait_until(lambda: time.time() * 1000 > exp + 2500, 10, 0.1,
                   "the short lifetime over while the gateway is down")
        self.assertEqual(self.client_record(short)["state"], "registered")
        self.svc.procs["coap-gw"].wait(0)
        self.svc.spawn("coap-gw")
        self.svc.wait_ready(15)
        wait_until(lambda: self.client_record(short).get("state") ==
                   "expired", 10, 0.2, "expired after the restart")
        self.assertNotIn("reg-rs-short", self.names_listed(self.token))
        r = self.update_after_restart(ca, short)
        self.assertEqual(r.code_str, "4.04", r)
        self.assertEqual(self.client_record(long_)["state"], "registered")
        self.assertIn("reg-rs-long", self.names_listed(self.token))
        r = self.update_after_restart(cb, long_)
        self.assertEqual(r.code_str, "2.04", r)
        # and once more: a restart finds it still expired
        self.restart_gateway()
        r = self.update_after_restart(ca, short)
        self.assertEqual(r.code_str, "4.04", r)
        self.assertEqual(self.client_record(short)["state"], "expired")

    def test_reregister_replaces(self):
        c, _, cid1 = self.register("reg-again-1")
        _, _, cid2 = self.register("reg-again-1", client=c)
        names = self.names_listed(self.token)
        self.assertEqual(names.count("reg-again-1"), 1, names)
        r = self.api.get("/clients/" + cid2, self.token)
        self.assertEqual(r.status, 200, r)

    def register_msg(self, c, ep):
        return CoapMessage(CON, 2, c.next_mid(), os.urandom(4),
                           [(OPT["Uri-Path"], b"rd"),
                            (OPT["Content-Format"], uint_opt(40)),
                            (OPT["Uri-Query"], ep.encode()),
                            (OPT["Uri-Query"], b"lt=300")], b"</1/0>")

    def test_register_answer_piggybacked(self):
        """Redis answers at once: the 2.01 comes in the ACK of the Register
        (one datagram, no empty ACK and separate response)."""
        c = self.svc.coap()
        self.addCleanup(c.close)
        msg = self.register_msg(c, "ep=reg-piggy-1")
        c.send_raw(msg.encode())
        r = c.recv()
        self.assertIsNotNone(r)
        self.assertEqual((r.type, r.mid, r.token, r.code_str),
                         (ACK, msg.mid, msg.token, "2.01"), r)

    def test_register_slow_redis_separate_answer(self):
        """Redis paused past 500 ms: the device gets the empty ACK (a
        retransmission before it gets nothing), then the 2.01 as a
        separate CON response, sent only once the record is written."""
        c = self.svc.coap()
        self.addCleanup(c.close)
        msg = self.register_msg(c, "ep=reg-slow-1")
        self.redis.command("CLIENT", "PAUSE", "1500", "ALL")
        started = time.monotonic()
        c.send_raw(msg.encode())
        time.sleep(0.1)
        c.send_raw(msg.encode())  # a retransmission
        first = c.recv(timeout=10)
        self.assertIsNotNone(first)
        self.assertEqual((first.type, first.code, first.mid),
                         (ACK, 0, msg.mid), first)
        self.assertGreaterEqual(time.monotonic() - started, 0.45)
        r = c.recv(timeout=10)
        self.assertIsNotNone(r)
        self.assertEqual((r.type, r.token, r.code_str),
                         (CON, msg.token, "2.01"), r)
        c.send_raw(CoapMessage(ACK, 0, r.mid).encode())
        cid = r.location_path()[1]
        rec = self.redis.hgetall("lwds:v2:client:{%s}" % cid)
        self.assertEqual(rec.get("state"), "registered", rec)

    def test_register_after_script_flush(self):
        """SCRIPT FLUSH (or a failover to a master without the Register
        script): the gateway falls back from EVALSHA to EVAL."""
        _, _, cid1 = self.register("reg-flush-1")
        self.redis.command("SCRIPT", "FLUSH")
        _, _, cid2 = self.register("reg-flush-1")
        self.assertEqual(cid1, cid2)
        _, _, cid3 = self.register("reg-flush-2")
        self.assertNotEqual(cid1, cid3)

    def test_location_path_is_rd_and_id(self):
        _, resp, cid = self.register("reg-loc-1")
        self.assertEqual(resp.opts(OPT["Location-Path"])[0], b"rd")


class TestSimulator(ServiceTestCase):
    """lwds-sim (tools/sim) registers clients that the API lists."""
    REDIS_DB = 6

    def test_sim_registers_and_deregisters(self):
        token = self.admin_token()
        sim = Sim(["--server", "coap://127.0.0.1:%d" % self.svc.coap_port,
                   "--count", "3", "--prefix", "sim-it-", "--lifetime",
                   "60"], env=dict(os.environ))
        try:
            sim.wait_line(Sim.READY, timeout=15)
            wait_until(lambda: sum(n.startswith("sim-it-")
                                   for n in self.names_listed(token)) == 3,
                       timeout=10, what="3 simulated clients listed")
        finally:
            status = sim.stop()
        self.assertEqual(status, 0, "\n".join(sim.lines[-20:]))
        wait_until(lambda: not any(n.startswith("sim-it-")
                                   for n in self.names_listed(token)),
                   timeout=10, what="simulated clients de-registered")


if __name__ == "__main__":
    unittest.main()
