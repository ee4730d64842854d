"""Durable delivery end to end (issue 5, spec 6.6-6.8): gateway events on
the stream lwds:v2:{events} (written here as a gateway would) -> lwds-broker
(consumer group) -> lwds:v2:{deliveries} -> lwds-webhook -> a real HTTP
sink.  SIGKILL of the broker and of the dispatcher mid-stream loses
nothing; a failing hook is retried and recovers; a hook that never recovers
becomes a dead letter shown by the REST API; a slow hook delays no other."""

import json
import signal
import time
import unittest

from hooksink import Sink
from lwdslib import ServiceTestCase, wait_until

EVENTS = "lwds:v2:{events}"


def client_id(n):
    """A valid 22-character client id made from n."""
    return ("C%020dA" % n).replace("0", "Q")


class TestDelivery(ServiceTestCase):
    REDIS_DB = 14
    SERVICES = ("rest-api", "broker", "webhook")
    EXTRA_ENV = {
        "LWDS_BROKER_EVENTS": "stream",
        "LWDS_BROKER_CONSUMER": "broker-1",
        "LWDS_WEBHOOK_CONSUMER": "webhook-1",
        "LWDS_WEBHOOK_MAX_RETRIES": "2",
        "LWDS_WEBHOOK_BACKOFF_BASE_MS": "200",
        "LWDS_WEBHOOK_BACKOFF_MAX_MS": "400",
        "LWDS_WEBHOOK_TIMEOUT_MS": "5000",
        "LWDS_LOG_LEVEL": "info",
    }

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = Sink()
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.seq = 0

    @classmethod
    def tearDownClass(cls):
        cls.sink.close()
        super().tearDownClass()

    # helpers

    def subscribe(self, path, type_, level="/subscriptions"):
        r = self.api.post(level, self.admin, {"SubscriptionType": type_,
                                              "Url": self.sink.url(path)})
        self.assertEqual(r.status, 201, r)
        sid = r.json()["ID"]
        self.addCleanup(self.api.delete, "/subscriptions/" + sid, self.admin)
        return sid

    def event(self, type_, cid, org=0):
        self.redis.command("XADD", EVENTS, "*", "type", type_, "id", cid,
                           "org", str(org), "gw", "test-gw", "ep",
                           "ep-" + cid, "ts", str(int(time.time() * 1000)))

    def fresh_ids(self, n):
        TestDelivery.seq += 1000
        return [client_id(TestDelivery.seq + i) for i in range(n)]

    def clients_seen(self, path):
        seen = set()
        for _, _, body, _, status in self.sink.received(path):
            if status == 200:
                item = json.loads(body)["Items"][0]
                for link in item["Links"]:
                    if link["rel"] == "client":
                        seen.add(link["href"].rsplit("/", 1)[-1])
        return seen

    def kill(self, name):
        p = self.svc.procs[name]
        p.send_signal(signal.SIGKILL)
        p.wait(10)

    def start(self, name):
        self.svc.spawn(name)

    def wait_clients(self, path, ids, timeout=30):
        wait_until(lambda: self.clients_seen(path) >= set(ids), timeout,
                   0.1, "%d clients at %s (have %d)" % (
                       len(ids), path, len(self.clients_seen(path))))

    # connectivity events from the stream

    def test_each_client_event_type(self):
        types = {"registered": "ClientConnected",
                 "updated": "ClientUpdated",
                 "deregistered": "ClientDisconnected",
                 "expired": "ClientConnectionExpired"}
        for t, name in types.items():
            self.subscribe("/type-" + t, name)
        cid = self.fresh_ids(1)[0]
        for t in types:
            self.event(t, cid)
        self.event("removed", cid)
        for t, name in types.items():
            n = 2 if t == "deregistered" else 1
            self.sink.wait_count("/type-" + t, n, 15)
            body = json.loads(self.sink.received("/type-" + t)[0][2])
            self.assertEqual(body["Items"][0]["SubscriptionType"], name)

    def test_client_level_fires_only_for_its_client(self):
        a, b = self.fresh_ids(2)
        # a client of the organisation (a gateway would have written it)
        self.redis.command("HSET", "lwds:v2:client:{%s}" % a, "org", "0",
                           "state", "registered")
        self.subscribe("/only-a", "ClientUpdated",
                       "/clients/%s/subscriptions" % a)
        self.event("updated", b)
        self.event("updated", a)
        self.sink.wait_count("/only-a", 1, 15)
        time.sleep(0.5)
        self.assertEqual(self.clients_seen("/only-a"), {a})

    def test_notify_and_malformed_entries_do_not_block(self):
        self.subscribe("/after-notify", "ClientConnected")
        cid = self.fresh_ids(1)[0]
        self.redis.command("XADD", EVENTS, "*", "type", "notify", "id", cid,
                           "org", "0", "path", "/3303/0/5700", "ct", "0",
                           "payload", "21.5")
        self.redis.command("XADD", EVENTS, "*", "type", "registered", "id",
                           "not-an-id", "org", "0")
        self.event("registered", cid)
        self.sink.wait_count("/after-notify", 1, 15)
        self.assertEqual(self.clients_seen("/after-notify"), {cid})

    # crashes

    def test_broker_sigkill_loses_nothing(self):
        self.subscribe("/broker-kill", "ClientUpdated")
        ids = self.fresh_ids(1000)
        self.kill("broker")
        for cid in ids:
            self.event("updated", cid)
        self.start("broker")
        time.sleep(0.1)
        self.kill("broker")          # mid-stream: some entries pending
        self.start("broker")
        self.wait_clients("/broker-kill", ids, 40)
        pending = self.redis.command("XPENDING", EVENTS, "lwds-broker")
        wait_until(lambda: self.redis.command(
            "XPENDING", EVENTS, "lwds-broker")[0] == 0, 10, 0.1,
            "no pending events (%r)" % (pending,))

    def test_dispatcher_sigkill_loses_nothing(self):
        self.sink.script("/wh-kill", [200], delay=0.02)
        self.subscribe("/wh-kill", "ClientUpdated")
        ids = self.fresh_ids(150)
        for cid in ids:
            self.event("updated", cid)
        self.sink.wait_count("/wh-kill", 5, 15)
        self.kill("webhook")
        self.start("webhook")
        self.wait_clients("/wh-kill", ids, 60)

    # hooks

    def test_hook_fails_then_recovers(self):
        self.sink.script("/flaky", [500, 503, 200])
        self.subscribe("/flaky", "ClientConnected")
        self.event("registered", self.fresh_ids(1)[0])
        self.sink.wait_count("/flaky", 3, 20)
        got = self.sink.received("/flaky")
        self.assertEqual([r[4] for r in got], [500, 503, 200])
        self.assertEqual({r[1]["X-Lwds-Delivery"] for r in got},
                         {got[0][1]["X-Lwds-Delivery"]})
        self.assertEqual([r[1]["X-Lwds-Attempt"] for r in got],
                         ["1", "2", "3"])
        self.assertGreaterEqual(got[1][3] - got[0][3], 0.15)

    def test_retry_of_deleted_subscription_dropped(self):
        """A job waiting in the retry set when its subscription is deleted
        is dropped when due: the hook gets nothing more and no dead letter
        is kept.  A due retry of a live subscription is delivered."""
        gone = self.subscribe("/gone", "ClientConnected")
        kept = self.subscribe("/kept", "ClientConnected")
        r = self.api.delete("/subscriptions/" + gone, self.admin)
        self.assertEqual(r.status, 204, r)
        now = int(time.time() * 1000)
        for sid, path in ((gone, "/gone"), (kept, "/kept")):
            job = {"v": 1, "id": "D" + sid[1:], "sub": sid, "org": 0,
                   "url": self.sink.url(path), "ct": "application/json",
                   "secret": "", "attempt": 1, "created": now,
                   "body": "{}"}
            self.redis.command("ZADD", "lwds:v2:{deliveries}:retry", now,
                               json.dumps(job))
        self.sink.wait_count("/kept", 1, 20)
        line = "dropped sub=%s " % gone
        wait_until(lambda: line in self.svc.logs(200), 20, 0.1,
                   "the retry dropped")
        self.assertEqual(self.sink.received("/gone"), [])
        dead = self.redis.command("XRANGE", "lwds:v2:{deliveries}:dead",
                                  "-", "+")
        self.assertNotIn(gone.encode(), [f[1][f[1].index(b"sub") + 1]
                                         for f in dead])

    def test_hook_never_recovers_is_dead_letter(self):
        self.sink.script("/down", [500])
        sid = self.subscribe("/down", "ClientConnected")
        self.event("registered", self.fresh_ids(1)[0])
        p = "/subscriptions/%s/deadletters" % sid

        def items():
            r = self.api.get(p, self.admin)
            self.assertEqual(r.status, 200, r)
            return r.json().get("Items", [])
        wait_until(lambda: len(items()) == 1, 20, 0.2, "dead letter")
        d = items()[0]
        self.assertEqual(d["Status"], 500, d)
        self.assertEqual(d["Attempts"], 3, d)
        self.assertEqual(len(self.sink.received("/down")), 3)
        r = self.api.get(p, self.admin, accept="application/xml")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"<DeadLetter>", r.body)

    def test_slow_hook_does_not_delay_others(self):
        self.sink.script("/slow", [200], delay=2.0)
        self.subscribe("/slow", "ClientDisconnected")
        self.subscribe("/fast", "ClientDisconnected")
        t0 = time.monotonic()
        self.event("deregistered", self.fresh_ids(1)[0])
        self.sink.wait_count("/fast", 1, 10)
        fast = self.sink.received("/fast")[0][3] - t0
        self.sink.wait_count("/slow", 1, 10)
        self.assertLess(fast, 1.5, "fast hook waited for the slow one")


if __name__ == "__main__":
    unittest.main()
