"""Redis going away under the services (issue 8): a redis-server with an
append-only file is killed and started again during registration traffic,
and a Sentinel-managed master fails over to its replica.  The services
recover by themselves: nothing acknowledged is lost (registrations, and
notifications the gateway ACKed while Redis was down), the subscription
still delivers, /health follows Redis."""

import json
import os
import socket
import threading
import time
import unittest
import urllib.request

from deploylib import (AofRedis, Api, Proc, Sentinel, Sink, base_env,
                       free_port, http_status, listed_ids, register,
                       retrying, wait_until)
from lwdslib import Redis, Sim, close_log_dir, log_dir


class Traffic(threading.Thread):
    """Registers new endpoints one after another through the gateway;
    remembers the ids the gateway acknowledged (2.01)."""

    def __init__(self, port, prefix):
        super().__init__(daemon=True)
        self.port, self.prefix = port, prefix
        self.acked, self.failed = [], 0
        self.stop_flag = threading.Event()

    def run(self):
        n = 0
        while not self.stop_flag.is_set():
            n += 1
            c, cid = register("127.0.0.1", self.port,
                              "%s-%d" % (self.prefix, n), timeout=1.0)
            c.close()
            if cid:
                self.acked.append(cid)
            else:
                self.failed += 1
            time.sleep(0.02)

    def stop(self):
        self.stop_flag.set()
        self.join(10)


class Stack:
    """coap-gw, rest-api, broker and webhook on one Redis (URL or
    sentinels in env)."""

    def __init__(self, redis_url, extra_env=None, names=None):
        self.logdir = log_dir("lwds-deploy-")
        self.env = base_env(redis_url)
        self.http = free_port()
        self.coap = free_port("udp")
        self.gw_health = free_port()
        self.wh_health = free_port()
        self.env.update({
            "LWDS_HTTP_LISTEN": "127.0.0.1:%d" % self.http,
            "LWDS_COAP_LISTEN": "127.0.0.1:%d" % self.coap,
            "LWDS_DTLS_LISTEN": "127.0.0.1:%d" % free_port("udp"),
            "LWDS_GW_RPC_URL": "tcp://127.0.0.1:%d" % free_port(),
            "LWDS_GW_HEALTH_ADDR": "127.0.0.1:%d" % self.gw_health,
            "LWDS_WEBHOOK_HEALTH_ADDR": "127.0.0.1:%d" % self.wh_health,
            "LWDS_GW_ID": "restart-gw-%d" % os.getpid(),
        })
        self.env.update(extra_env or {})
        self.procs = [Proc(n, self.env, self.logdir)
                      for n in names or ("broker", "coap-gw", "rest-api",
                                         "webhook")]
        self.api = Api("http://127.0.0.1:%d" % self.http)

    def healthy(self):
        ports = [self.http, self.gw_health]
        if any(p.name == "webhook" for p in self.procs):
            ports.append(self.wh_health)
        return all(http_status(p) == 200 for p in ports)

    def wait_healthy(self, timeout=30):
        try:
            wait_until(lambda: self.check() and self.healthy(), timeout,
                       0.1, "every /health answering 200")
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.logs())) from None

    def check(self):
        for p in self.procs:
            if not p.alive():
                raise AssertionError("%s exited\n%s" % (p.name, self.logs()))
        return True

    def logs(self):
        return "\n".join(p.tail() for p in self.procs)

    def token(self):
        return self.api.token(self.env["LWDS_ADMIN_KEY"],
                              self.env["LWDS_ADMIN_SECRET"])

    def close(self):
        for p in self.procs:
            p.stop()
        close_log_dir(self.logdir)


def gw_metric(stack, name):
    """A value of coap-gw's /metrics, or None."""
    url = "http://127.0.0.1:%d/metrics" % stack.gw_health
    with urllib.request.urlopen(url, timeout=2) as f:
        for line in f.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


class CutProxy:
    """A TCP proxy in front of Redis that, once armed with a marker, closes
    the connection carrying the first chunk that holds it, without passing
    that chunk on: Redis never gets those commands, and their sender finds
    its connection lost with them in flight.  Later connections pass."""

    def __init__(self, host, port):
        self.upstream = (host, port)
        self.marker = None
        self.cut = threading.Event()
        self.lock = threading.Lock()
        self.socks = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, marker):
        with self.lock:
            self.marker = marker

    def _accept(self):
        while True:
            try:
                down, _ = self.listener.accept()
                up = socket.create_connection(self.upstream)
            except OSError:
                return
            with self.lock:
                self.socks += [down, up]
            threading.Thread(target=self._pump, args=(down, up, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, False),
                             daemon=True).start()

    def _pump(self, src, dst, to_redis):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            with self.lock:
                hit = to_redis and self.marker and self.marker in data
                if hit:
                    self.marker = None
            if not data or hit:
                for sk in (src, dst):
                    try:
                        sk.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                if hit:
                    self.cut.set()
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self):
        self.listener.close()
        with self.lock:
            for sk in self.socks:
                sk.close()


class RestartCase(unittest.TestCase):
    """A private AofRedis under the four services, a hook sink."""
    EXTRA_ENV = None

    def setUp(self):
        self.redis = AofRedis()
        self.addCleanup(self.redis.close)
        self.sink = Sink()
        self.addCleanup(self.sink.close)
        self.stack = Stack(self.redis.url, self.EXTRA_ENV)
        self.addCleanup(self.stack.close)
        self.stack.wait_healthy()

    def hook_values(self, path):
        with self.sink.lock:
            bodies = [r[2] for r in self.sink.requests if r[0] == path]
        return [json.loads(b)["Items"][0]["Value"].get("SensorValue")
                for b in bodies]

    def observed_device(self):
        """lwds-sim with one device sending CON notifications, observed
        by one subscription whose hook is /obs, a change already
        delivered; returns set_value(v) and delivered(v)."""
        st = self.stack
        token = st.token()
        sim = Sim(["--server", "coap://127.0.0.1:%d" % st.coap,
                   "--prefix", "rr-obs-", "--count", "1", "--con-notify",
                   "--sensor-period", "3600000"])
        self.addCleanup(sim.stop)
        sim.wait_line(Sim.READY, 15)
        r = retrying(st.api, "GET", "/clients?pageSize=1000", token)
        cid = [i["Links"][0]["href"].rsplit("/", 1)[1]
               for i in r.json()["Items"] if i["Name"] == "rr-obs-0"][0]
        r = retrying(st.api, "GET", "/objecttypes/definitions?pageSize=1000",
                     token)
        defid = [d["ObjectDefinitionID"] for d in r.json()["Items"]
                 if int(d["ObjectID"]) == 3303][0]
        r = st.api.post("/clients/%s/objecttypes/%s/instances/0/"
                        "subscriptions" % (cid, defid), token, {
                            "SubscriptionType": "Observation",
                            "Property": "5700",
                            "Url": self.sink.url("/obs")})
        self.assertEqual(r.status, 201, r)

        def set_value(v):
            start = len(sim.lines)
            sim.send("set rr-obs-0 /3303/0/5700 %s" % v)
            sim.wait_line(r"^ok", 5, start)

        def delivered(v):
            return v in self.hook_values("/obs")

        # the observation is up once a change reaches the hook
        deadline = time.monotonic() + 20
        for v in range(21, 100):
            set_value(v)
            end = time.monotonic() + 1
            while not delivered(v) and time.monotonic() < end:
                time.sleep(0.05)
            if delivered(v) or time.monotonic() > deadline:
                break
        self.assertTrue(delivered(v), "no notification before the outage")
        return set_value, delivered

    def notify_during_outage(self, set_value, v):
        """Redis killed, the device notifies v (CON, ACKed by the
        gateway), Redis started again."""
        st = self.stack
        self.redis.kill()
        wait_until(lambda: http_status(st.gw_health) == 503, 10, 0.1,
                   "coap-gw /health 503 while Redis is down")
        set_value(v)
        # the gateway took it: held, or counted as dropped
        wait_until(lambda: (gw_metric(self.stack, "lwds_gw_notify_backlog") or 0)
                   + (gw_metric(self.stack, "lwds_gw_notify_dropped_total") or 0)
                   == 1, 10, 0.1, "the notification taken by the gateway")
        self.redis.start_again()
        st.wait_healthy()


class TestRedisRestart(RestartCase):
    def test_restart_during_traffic_loses_nothing(self):
        st = self.stack
        token = st.token()
        r = st.api.post("/subscriptions", token, {
            "SubscriptionType": "ClientConnected",
            "Url": self.sink.url("/hook")})
        self.assertEqual(r.status, 201, r)
        sub = r.json()["ID"]
        traffic = Traffic(st.coap, "rr")
        traffic.start()
        wait_until(lambda: len(traffic.acked) >= 10, 20, 0.05,
                   "10 registrations before the restart")
        self.redis.kill()
        # Redis down: health says so, the services stay up
        wait_until(lambda: http_status(st.http) == 503, 10, 0.1,
                   "rest-api /health 503 while Redis is down")
        wait_until(lambda: http_status(st.gw_health) == 503, 10, 0.1,
                   "coap-gw /health 503 while Redis is down")
        time.sleep(1)
        st.check()
        before_restart = len(traffic.acked)
        self.redis.start_again()
        st.wait_healthy()
        wait_until(lambda: len(traffic.acked) >= before_restart + 10, 30,
                   0.1, "10 registrations after the restart")
        traffic.stop()
        st.check()
        # every acknowledged registration survived, the subscription too
        listed = listed_ids(st.api, token)
        lost = [c for c in traffic.acked if c not in listed]
        self.assertEqual(lost, [], "acknowledged but lost; %d failed "
                         "during the outage" % traffic.failed)
        r = retrying(st.api, "GET", "/subscriptions/" + sub, token)
        self.assertEqual(r.status, 200, r)
        # and it still delivers: the last registrations reach the hook
        last = traffic.acked[-3:]
        wait_until(lambda: set(last) <= set(self.sink.clients("/hook")), 20,
                   0.1, "deliveries for registrations after the restart")


    def test_notification_acked_while_redis_down_is_delivered(self):
        set_value, delivered = self.observed_device()
        self.notify_during_outage(set_value, 77.5)
        wait_until(lambda: delivered(77.5), 20, 0.1,
                   "the held notification delivered: %r"
                   % self.hook_values("/obs"))
        self.assertEqual(gw_metric(self.stack, "lwds_gw_notify_backlog"), 0)
        self.assertEqual(gw_metric(self.stack, "lwds_gw_notify_dropped_total"), 0)
        self.stack.check()


class TestRedisRestartNoBacklog(RestartCase):
    """LWDS_GW_NOTIFY_BACKLOG_BYTES bounds what the gateway holds: past it
    a notification is counted as dropped and the gateway keeps serving."""
    EXTRA_ENV = {"LWDS_GW_NOTIFY_BACKLOG_BYTES": "0"}

    def test_notification_past_the_backlog_limit_is_counted(self):
        set_value, delivered = self.observed_device()
        self.notify_during_outage(set_value, 66.5)
        self.assertEqual(gw_metric(self.stack, "lwds_gw_notify_dropped_total"), 1)
        set_value(67.5)
        wait_until(lambda: delivered(67.5), 20, 0.1,
                   "the next notification delivered")
        self.assertFalse(delivered(66.5))
        self.stack.check()


class TestEventConnectionLost(unittest.TestCase):
    """A client's connectivity event goes to {events} after the device got
    its answer; when the gateway's connection to Redis is lost with that
    XADD in flight, the event is held and written on reconnect, not lost."""

    def setUp(self):
        self.redis = Redis()
        self.addCleanup(self.redis.close)
        self.proxy = CutProxy(self.redis.host, self.redis.port)
        self.addCleanup(self.proxy.close)
        self.sink = Sink()
        self.addCleanup(self.sink.close)
        self.stack = Stack(self.redis.url,
                           names=("broker", "rest-api", "webhook"))
        self.addCleanup(self.stack.close)
        env = dict(self.stack.env, LWDS_REDIS_URL="redis://127.0.0.1:%d/%d"
                   % (self.proxy.port, self.redis.db))
        self.stack.procs.append(Proc("coap-gw", env, self.stack.logdir))
        self.stack.wait_healthy()

    def test_update_event_in_flight_when_the_connection_drops(self):
        st = self.stack
        r = st.api.post("/subscriptions", st.token(), {
            "SubscriptionType": "ClientUpdated",
            "Url": self.sink.url("/upd")})
        self.assertEqual(r.status, 201, r)
        c, cid = register("127.0.0.1", st.coap, "cut-0")
        self.addCleanup(c.close)
        self.assertIsNotNone(cid, "registered")
        # the event's XADD, and nothing after it, never reaches Redis
        self.proxy.arm(b"$7\r\nupdated\r\n")
        resp = c.request("POST", "rd/" + cid, query=["lt=300"])
        self.assertEqual(resp.code_str, "2.04")
        self.assertTrue(self.proxy.cut.wait(10), "the XADD was sent")
        wait_until(lambda: cid in self.sink.clients("/upd"), 20, 0.1,
                   "the ClientUpdated event delivered after the "
                   "reconnect\n%s" % st.logs())
        self.assertEqual(gw_metric(st, "lwds_gw_notify_dropped_total"), 0)
        st.check()


class TestSentinelFailover(unittest.TestCase):
    MASTER = "lwdsmaster"

    def setUp(self):
        self.master = AofRedis()
        self.addCleanup(self.master.close)
        self.replica = AofRedis(extra=["--replicaof", "127.0.0.1",
                                       str(self.master.port)])
        self.addCleanup(self.replica.close)
        self.sentinel = Sentinel(self.MASTER, "127.0.0.1", self.master.port)
        self.addCleanup(self.sentinel.close)
        wait_until(lambda: self.sentinel.master(self.MASTER), 10, 0.1,
                   "sentinel up")
        # the URL names a port nobody listens on: only the sentinel can
        # lead the services to Redis
        self.stack = Stack("redis://127.0.0.1:%d/0" % free_port(), {
            "LWDS_REDIS_SENTINELS": "127.0.0.1:%d,127.0.0.1:%d"
                                    % (free_port(), self.sentinel.port),
            "LWDS_REDIS_MASTER": self.MASTER,
        }, names=("coap-gw", "rest-api"))
        self.addCleanup(self.stack.close)
        self.stack.wait_healthy()

    def test_failover_followed(self):
        st = self.stack
        token = st.token()
        c, first = register("127.0.0.1", st.coap, "sentinel-a")
        c.close()
        self.assertTrue(first, "registration through the first master")
        # make sure the replica has it before the master dies
        wait_until(lambda: self.replica.command("EXISTS",
                                                "lwds:v2:client:{%s}" % first),
                   10, 0.1, "replication of the first client")
        self.master.kill()
        wait_until(lambda: self.sentinel.master(self.MASTER)
                   == ("127.0.0.1", self.replica.port), 30, 0.2,
                   "sentinel promoting the replica")
        st.wait_healthy(30)

        def second():
            c2, cid = register("127.0.0.1", st.coap, "sentinel-b",
                               timeout=1.0)
            c2.close()
            return cid
        cid = wait_until(second, 20, 0.2, "registration after failover")
        st.check()
        self.assertLessEqual({first, cid}, listed_ids(st.api, token))
        # the sentinel closed our connection when it promoted the replica
        self.replica.sock.close()
        self.replica._buf = b""
        self.replica._connect()
        self.assertEqual(self.replica.command("ROLE")[0], b"master")


if __name__ == "__main__":
    unittest.main()
