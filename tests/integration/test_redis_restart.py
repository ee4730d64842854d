"""Redis going away under the services (issue 8): a redis-server with an
append-only file is killed and started again during registration traffic,
and a Sentinel-managed master fails over to its replica.  The services
recover by themselves: nothing acknowledged is lost, the subscription still
delivers, /health follows Redis."""

import os
import shutil
import tempfile
import threading
import time
import unittest

from deploylib import (AofRedis, Api, Proc, Sentinel, Sink, base_env,
                       free_port, http_status, listed_ids, register,
                       retrying, wait_until)


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
        self.logdir = tempfile.mkdtemp(prefix="lwds-deploy-")
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
        shutil.rmtree(self.logdir, ignore_errors=True)


class TestRedisRestart(unittest.TestCase):
    def setUp(self):
        self.redis = AofRedis()
        self.addCleanup(self.redis.close)
        self.sink = Sink()
        self.addCleanup(self.sink.close)
        self.stack = Stack(self.redis.url)
        self.addCleanup(self.stack.close)
        self.stack.wait_healthy()

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
