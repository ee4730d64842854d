"""test_redis_cluster - the key layout fits Redis Cluster (issue 8).

Starts a redis-server with --cluster-enabled yes that owns all 16384 slots
(one master: lwds talks to one endpoint, docs/deployment.md), checks that
it refuses what a cluster refuses, then runs the integration modules that
drive every path writing Redis with all four services pointed at it:

  register/update/de-register/expiry, DELETE of a client,
  gateway restart (gw_restore)        test_registration, test_lifecycle
  reap of records past their
  retention, its crash states         test_retention
  PSK identities, DTLS registers      test_dtls
  object definitions                  test_definitions
  subscriptions of every type and
  level, duplicates, connectivity
  events to hooks                     test_subscriptions
  Observe with attributes (filter)    test_observe, test_broker_pair
  webhook retry and dead letters      test_delivery
  queued device operations            test_queue_mode
  access keys                         test_tenancy, test_rest_basics
  lwds-sim devices                    test_devices

Redis 7.0 in cluster mode refuses a transaction or a script whose declared
KEYS (or a single command's keys) hash to different slots (CROSSSLOT), but
on a node that owns every slot it does NOT refuse a script that touches
keys it did not declare, of any slot (checked below).  So the test also
records every command with MONITOR and checks each script and each
MULTI/EXEC itself: every key a script touches is one of its KEYS, and all
keys of a script or transaction are in one slot.  Any CROSSSLOT error
reply during the run (INFO errorstats) fails the test too.
"""

import os
import re
import unittest

from lwdslib import Monitor, Redis, RedisError, Services, parse_monitor, \
    wait_until

MODULES = ["test_registration", "test_lifecycle", "test_dtls",
           "test_definitions", "test_subscriptions", "test_observe",
           "test_broker_pair", "test_delivery", "test_queue_mode",
           "test_tenancy", "test_rest_basics", "test_devices",
           "test_retention"]


def crc16(data):
    """CRC16-CCITT (XMODEM), the Redis Cluster key hash."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    """The slot of key (bytes), hash tags included."""
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc16(key) % 16384


class KeyFinder:
    """The keys of a command, from the server's own key specs (COMMAND
    INFO; COMMAND GETKEYS for commands with movable keys)."""

    def __init__(self, redis):
        self.redis = redis
        self.specs = {}

    def spec(self, name):
        if name not in self.specs:
            info = self.redis.command("COMMAND", "INFO", name)[0]
            if info is None:
                self.specs[name] = None
            else:
                flags = [f if isinstance(f, str) else f.decode()
                         for f in info[2]]
                # movable keys, or a container (XINFO GROUPS ...)
                ask = "movablekeys" in flags or (
                    info[3] == 0 and len(info) > 9 and bool(info[9]))
                self.specs[name] = (info[3], info[4], info[5], ask)
        return self.specs[name]

    def keys(self, args):
        name = args[0].lower().decode()
        spec = self.spec(name)
        if spec is None:
            return []
        first, last, step, ask = spec
        if ask:
            try:
                return self.redis.command("COMMAND", "GETKEYS", *args)
            except RedisError:
                return []
        if first == 0:
            return []
        last = len(args) + last if last < 0 else last
        return [args[i] for i in range(first, min(last, len(args) - 1) + 1,
                                       step)]


def check_lines(lines, finder, counts=None):
    """The violations (strings) in a MONITOR log; counts (a dict) gets the
    number of scripts and transactions checked."""
    bad, script, multi = [], None, {}
    counts = {} if counts is None else counts
    counts.update(scripts=0, transactions=0)

    def close_script():
        if script is None:
            return
        declared, touched, cmd = script
        slots = {key_slot(k) for k in declared + touched}
        undeclared = [k for k in touched if k not in declared]
        if undeclared:
            bad.append("script %r touches undeclared keys %r"
                       % (cmd[:60], undeclared[:3]))
        if len(slots) > 1:
            bad.append("script %r crosses slots: %r"
                       % (cmd[:60], (declared + touched)[:6]))

    for line in lines:
        p = parse_monitor(line)
        if p is None or not p[1]:
            continue
        client, args = p
        name = args[0].upper()
        if client == "lua":
            if script is not None:
                script[1].extend(finder.keys(args))
            continue
        close_script()
        script = None
        if name in (b"EVAL", b"EVALSHA", b"EVAL_RO", b"EVALSHA_RO"):
            n = int(args[2])
            counts["scripts"] += 1
            script = (list(args[3:3 + n]), [], args[1][:60].decode(
                "utf-8", "replace"))
        elif name == b"MULTI":
            multi[client] = []
        elif name in (b"EXEC", b"DISCARD"):
            keys = multi.pop(client, [])
            counts["transactions"] += 1
            if len({key_slot(k) for k in keys}) > 1:
                bad.append("MULTI/EXEC crosses slots: %r" % keys[:6])
        else:
            keys = finder.keys(args)
            if client in multi:
                multi[client].extend(keys)
            if len({key_slot(k) for k in keys}) > 1:
                bad.append("%s crosses slots: %r" % (name, keys[:6]))
    close_script()
    return bad


def crossslot_errors(redis):
    stats = redis.command("INFO", "errorstats")
    stats = stats.decode() if isinstance(stats, bytes) else stats
    m = re.search(r"errorstat_CROSSSLOT:count=(\d+)", stats)
    return int(m.group(1)) if m else 0


class TestRedisCluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        saved = os.environ.pop("LWDS_TEST_REDIS_URL", None)
        try:
            cls.redis = Redis(cluster=True)
        finally:
            if saved is not None:
                os.environ["LWDS_TEST_REDIS_URL"] = saved

    @classmethod
    def tearDownClass(cls):
        cls.redis.close()

    def test_1_server_refuses_cross_slot(self):
        """What the cluster-mode server enforces, and what it does not."""
        r = self.redis
        self.assertNotEqual(key_slot(b"a"), key_slot(b"b"))
        self.assertEqual(key_slot(b"x{a}y"), key_slot(b"a"))
        self.assertEqual(key_slot(b"123456789"), 0x31C3 % 16384)
        r.command("MULTI")
        r.command("SET", "a", "1")
        r.command("SET", "b", "1")
        with self.assertRaisesRegex(RedisError, "CROSSSLOT"):
            r.command("EXEC")
        with self.assertRaisesRegex(RedisError, "CROSSSLOT"):
            r.command("EVAL", "return 1", 2, "a", "b")
        with self.assertRaisesRegex(RedisError, "SELECT is not allowed"):
            r.command("SELECT", 1)
        # not enforced on a node owning every slot: undeclared keys of
        # other slots, which the MONITOR check below catches
        self.assertEqual(r.command(
            "EVAL", "redis.call('SET', 'b', 1) return 1", 1, "a"), 1)
        r.command("DEL", "b")

    def test_2_monitor_check_catches(self):
        """The MONITOR check finds an undeclared key and a cross-slot
        transaction (so the real run below proves something)."""
        lines = [
            '1.0 [0 127.0.0.1:1] "EVAL" "x" "1" "{c}a"',
            '1.0 [0 lua] "SET" "{c}a" "1"',
            '1.0 [0 lua] "SET" "{c}b" "1"',
            '1.0 [0 127.0.0.1:1] "MULTI"',
            '1.0 [0 127.0.0.1:1] "SET" "{c}a" "1"',
            '1.0 [0 127.0.0.1:1] "SET" "{d}a" "1"',
            '1.0 [0 127.0.0.1:1] "EXEC"',
        ]
        bad = check_lines(lines, KeyFinder(self.redis))
        self.assertEqual(len(bad), 2, bad)
        self.assertIn("undeclared", bad[0])
        self.assertIn("MULTI/EXEC", bad[1])

    def test_3_every_path_single_slot(self):
        """The services' integration modules pass against the cluster
        node, and no script or transaction they cause crosses a slot."""
        env = {"LWDS_TEST_REDIS_URL": "redis://%s:%d" % (self.redis.host,
                                                          self.redis.port),
               "LWDS_TEST_REDIS_CLUSTER": "1"}
        saved = {k: os.environ.get(k) for k in env}
        self.redis.command("CONFIG", "RESETSTAT")
        mon = Monitor(self.redis.host, self.redis.port)
        mon.start()
        os.environ.update(env)
        try:
            suite = unittest.defaultTestLoader.loadTestsFromNames(MODULES)
            res = unittest.TextTestRunner(verbosity=1).run(suite)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            mon.stop()
        self.assertTrue(res.wasSuccessful() and res.testsRun > 0,
                        "modules failed on the cluster node: %d failures, "
                        "%d errors" % (len(res.failures), len(res.errors)))
        self.assertEqual(crossslot_errors(self.redis), 0)
        self.assertGreater(len(mon.lines), 1000)
        counts = {}
        bad = check_lines(mon.lines, KeyFinder(self.redis), counts)
        self.assertEqual(bad, [], "\n".join(sorted(set(bad))[:30]))
        # the run exercised scripts and transactions (registrations,
        # subscriptions, notifications, webhook acks, PSK identities)
        self.assertGreater(counts["scripts"], 100, counts)
        self.assertGreater(counts["transactions"], 10, counts)
        print("checked %d scripts, %d transactions, %d commands"
              % (counts["scripts"], counts["transactions"], len(mon.lines)))

    def commands_of(self, lines):
        """(name, first key) of each command in lines, in order."""
        finder, out = KeyFinder(self.redis), []
        for line in lines:
            p = parse_monitor(line)
            if p is None or not p[1]:
                continue
            keys = finder.keys(p[1])
            out.append((p[1][0].upper().decode(),
                        keys[0].decode() if keys else ""))
        return out

    def first(self, cmds, name, key_part):
        for i, (n, k) in enumerate(cmds):
            if n == name and key_part in k:
                return i
        self.fail("no %s of a key with %r in %r" % (name, key_part, cmds))

    def test_4_step_order(self):
        """The orders docs/redis-schema.md promises, as Redis saw them:
        Register writes the gateway's expiry entry before the record and
        the event last, and checks the organisation's subscriptions after
        the record; De-register writes the state before it removes the
        expiry entry; a subscription delete removes the record last."""
        env = {"LWDS_GW_ID": "order-gw"}
        svc = Services(self.redis, env=env)
        svc.start()
        mon = None
        try:
            api = svc.api()
            token = api.token(svc.admin_key, svc.admin_secret)
            # an organisation with a subscription: its events are written
            r = api.post("/subscriptions", token,
                         {"SubscriptionType": "ClientDisconnected",
                          "Url": "http://127.0.0.1:9/o"})
            self.assertEqual(r.status, 201, r)
            org_sid = r.json()["ID"]
            mon = Monitor(self.redis.host, self.redis.port)
            mon.start()
            c = svc.coap()
            r = c.request("POST", "rd", query=["ep=order-1", "lt=300",
                                               "b=U", "lwm2m=1.1"],
                          payload=b"</1/0>,</3/0>", content_format=40)
            self.assertEqual(r.code_str, "2.01", r)
            cid = r.location_path()[1]
            r = api.post("/clients/%s/subscriptions" % cid, token,
                         {"SubscriptionType": "ClientUpdated",
                          "Url": "http://127.0.0.1:9/h"})
            self.assertEqual(r.status, 201, r)
            sid = r.json()["ID"]
            self.assertEqual(api.delete("/subscriptions/" + sid,
                                        token).status, 204)
            r = c.request("DELETE", "rd/" + cid)
            self.assertEqual(r.code_str, "2.02", r)
            c.close()
            self.assertEqual(api.delete("/subscriptions/" + org_sid,
                                        token).status, 204)
            # the De-register moves the expiry entry to the reap of the
            # record (LWDS_CLIENT_RETENTION_S): the entry's second ZADD
            wait_until(lambda: sum('"ZADD"' in ln and
                                   "gw:{order-gw}:expiry" in ln and
                                   cid in ln for ln in mon.lines) >= 2,
                       5, 0.05, "the expiry entry moved")
        finally:
            if mon is not None:
                mon.stop()
            svc.cleanup()
        cmds = self.commands_of(mon.lines)
        idx = self.first(cmds, "SET", ":ep:order-1")
        exp = self.first(cmds, "ZADD", "gw:{order-gw}:expiry")
        rec = self.first(cmds, "HSET", "client:{%s}" % cid)
        org = self.first(cmds, "ZADD", "org:{0}:clients")
        ev = self.first(cmds, "XADD", "{events}")
        check = self.first(cmds, "EXISTS", "org:{0}:subs")
        self.assertTrue(idx < exp < rec < org < ev, cmds[idx:ev + 1])
        self.assertLess(rec, check, cmds[rec:check + 1])
        sub_rec = self.first(cmds, "HSET", "sub:{%s}" % sid)
        sub_idx = self.first(cmds, "SADD", "client:{%s}:evsubs" % cid)
        sub_srem = self.first(cmds, "SREM", "client:{%s}:evsubs" % cid)
        sub_del = self.first(cmds, "DEL", "sub:{%s}" % sid)
        self.assertTrue(sub_rec < sub_idx < sub_srem < sub_del)
        state = max(i for i, (n, k) in enumerate(cmds)
                    if n == "HSET" and k == "lwds:v2:client:{%s}" % cid)
        unexp = max(i for i, (n, k) in enumerate(cmds)
                    if n == "ZADD" and "gw:{order-gw}:expiry" in k)
        self.assertLess(state, unexp)


if __name__ == "__main__":
    unittest.main()
