"""Durability of the {events} stream (issue 3): the gateways' MAXLEN is only
a safety cap; the broker trims what every consumer group has acknowledged,
so events written while the broker is down stay until it has handled them,
and entries another group still has pending are kept."""

import os
import re
import signal
import unittest
import urllib.request

from lwdslib import ServiceTestCase, free_port, wait_until

EVENTS = "lwds:v2:{events}"
GROUP = "lwds-broker"


def groups(redis):
    """XINFO GROUPS as {name: {field: value}}."""
    out = {}
    for g in redis.command("XINFO", "GROUPS", EVENTS) or []:
        f = {k.decode(): v.decode() if isinstance(v, bytes) else v
             for k, v in zip(g[0::2], g[1::2])}
        out[f["name"]] = f
    return out


class EventsCase(ServiceTestCase):
    def setUp(self):
        super().setUp()
        # the gateway writes the client events of an organisation with
        # subscriptions only (docs/redis-schema.md, "Events"): an entry in
        # its subscription index (the broker's lookups then find nothing)
        self.redis.command("ZADD", "lwds:v2:org:{0}:subs", "1",
                           "events-trim-marker")

    def kill_broker(self):
        p = self.svc.procs["broker"]
        p.send_signal(signal.SIGKILL)
        p.wait(10)

    def start_broker(self):
        self.svc.spawn("broker")
        self.svc.wait_ready(15)

    def xlen(self):
        return self.redis.command("XLEN", EVENTS)

    def caught_up(self):
        g = groups(self.redis).get(GROUP)
        return g is not None and g["pending"] == 0 and g["lag"] == 0


class TestEventsTrim(EventsCase):
    REDIS_DB = 6
    EXTRA_ENV = {"LWDS_EVENTS_TRIM_MS": "200", "LWDS_EVENTS_MAXLEN": "5000"}

    def test_unconsumed_kept_acknowledged_trimmed(self):
        # the broker handled and trimmed what came before
        wait_until(lambda: GROUP in groups(self.redis), 10, 0.1, "group")
        self.register("trim-first")
        wait_until(lambda: self.caught_up() and self.xlen() == 0, 10, 0.1,
                   "earlier events trimmed (XLEN %r)" % (self.xlen(),))
        # another consumer group that takes its time
        self.redis.command("XGROUP", "CREATE", EVENTS, "probe", "$")
        self.kill_broker()
        c = self.svc.coap()
        self.addCleanup(c.close)
        n = 120
        for i in range(n):
            self.register("trim-%03d" % i, client=c)
        # nothing consumed, nothing trimmed while the broker is down
        self.assertEqual(self.xlen(), n)
        ids = [e[0] for e in self.redis.command("XRANGE", EVENTS, "-", "+")]
        # the probe reads 30 and acknowledges the first 10
        self.redis.command("XREADGROUP", "GROUP", "probe", "p", "COUNT",
                           "30", "STREAMS", EVENTS, ">")
        self.redis.command("XACK", EVENTS, "probe", *ids[:10])
        self.start_broker()
        wait_until(self.caught_up, 20, 0.1, "the broker handled all %d" % n)
        # trimmed up to the probe's oldest pending entry, not further
        wait_until(lambda: self.xlen() == n - 10, 10, 0.1,
                   "trim to the probe's pending (XLEN %r)" % (self.xlen(),))
        first = self.redis.command("XRANGE", EVENTS, "-", "+", "COUNT", "1")
        self.assertEqual(first[0][0], ids[10])
        # the probe finishes: everything goes
        self.redis.command("XREADGROUP", "GROUP", "probe", "p", "STREAMS",
                           EVENTS, ">")
        self.redis.command("XACK", EVENTS, "probe", *ids[10:])
        wait_until(lambda: self.xlen() == 0, 10, 0.1,
                   "all trimmed (XLEN %r)" % (self.xlen(),))
        self.redis.command("XGROUP", "DESTROY", EVENTS, "probe")


class TestEventsCap(EventsCase):
    REDIS_DB = 7
    HEALTH = free_port()
    EXTRA_ENV = {"LWDS_EVENTS_MAXLEN": "20",
                 "LWDS_GW_HEALTH_ADDR": "127.0.0.1:%d" % HEALTH}

    def metric(self, name):
        url = "http://127.0.0.1:%d/metrics" % self.HEALTH
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
        return float(m.group(1)) if m else None

    def test_cap_reached_is_counted(self):
        """With the broker down the stream grows to the gateway's safety
        cap; the gateway finds it there (alive timer), logs it and counts
        it."""
        self.kill_broker()
        c = self.svc.coap()
        self.addCleanup(c.close)
        for i in range(150):
            self.register("cap-%03d" % i, client=c)
        self.assertLess(self.xlen(), 150)    # MAXLEN ~ trimmed
        wait_until(lambda: self.metric(
            "lwds_gw_events_cap_reached_total") == 1, 15, 0.2,
            "the cap counted")
        self.assertGreaterEqual(self.metric("lwds_gw_events_length"), 20)
        with open(os.path.join(self.svc.logdir, "coap-gw.log")) as f:
            self.assertIn("its cap LWDS_EVENTS_MAXLEN", f.read())
        self.start_broker()


if __name__ == "__main__":
    unittest.main()
