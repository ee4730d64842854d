"""Scale-out on one machine (issue 8): two coap-gw, two rest-api, two
webhook dispatchers and one broker on one Redis, with nginx in front as the
UDP balancer (hash of the client address, consistent) and the HTTP
balancer.  lwds-sim clients on 16 loopback addresses register through the
balancer; both API instances see every device; killing a gateway moves
only its devices, which re-register through the other; killing an API
instance or a dispatcher loses no retried request and no notification."""

import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from deploylib import (AofRedis, Api, Proc, Sink, base_env, free_port,
                       http_status, listed_ids, retrying, wait_until)
from lwdslib import Sim, close_log_dir, log_dir

# One lwds-sim per loopback address (one client each): the balancer keys
# on the source address, so every device looks like its own host.  The
# block of 127/8 depends on the pid, so concurrent runs do not collide
# (lwds-sim binds fixed ports from 20000).
N_DEVICES = 16
ADDR_BLOCK = "127.%d.%d" % (2 + os.getpid() % 250, os.getpid() // 250 % 250)

NGINX_CONF = """
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 1024; }}
stream {{
	upstream coap {{
		hash $remote_addr consistent;
		server 127.0.0.1:{gw1} max_fails=1 fail_timeout=60s;
		server 127.0.0.1:{gw2} max_fails=1 fail_timeout=60s;
	}}
	server {{
		listen 127.0.0.1:{udp} udp;
		proxy_pass coap;
		proxy_timeout 10m;
	}}
}}
http {{
	access_log off;
	client_body_temp_path {tmp}/body;
	proxy_temp_path {tmp}/proxy;
	fastcgi_temp_path {tmp}/fastcgi;
	uwsgi_temp_path {tmp}/uwsgi;
	scgi_temp_path {tmp}/scgi;
	upstream api {{
		server 127.0.0.1:{api1} max_fails=1 fail_timeout=60s;
		server 127.0.0.1:{api2} max_fails=1 fail_timeout=60s;
	}}
	server {{
		listen 127.0.0.1:{http};
		location / {{
			proxy_pass http://api;
			proxy_set_header Host $http_host;
			proxy_next_upstream error timeout http_502 http_503;
			proxy_connect_timeout 2s;
		}}
	}}
}}
"""


class Nginx:
    def __init__(self, **ports):
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.access(exe, os.X_OK):
            raise AssertionError("nginx not installed (scripts/packages.sh)")
        self.tmp = tempfile.mkdtemp(prefix="lwds-nginx-")
        os.chmod(self.tmp, 0o777)
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(tmp=self.tmp, **ports))
        self.proc = subprocess.Popen(
            [exe, "-p", self.tmp, "-c", conf, "-e", self.tmp + "/error.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.proc.poll() is None
                   and http_status(ports["http"], "/") is not None,
                   10, 0.1, "nginx listening\n" + self.log())

    def log(self):
        try:
            with open(os.path.join(self.tmp, "error.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Sims(list):
    """Several lwds-sim processes driven as one."""

    def send(self, command):
        for one in self:
            one.send(command)

    def stop(self):
        for one in self:
            one.stop()


class TestScaleOut(unittest.TestCase):
    def setUp(self):
        self.redis = AofRedis()
        self.addCleanup(self.redis.close)
        self.sink = Sink()
        self.addCleanup(self.sink.close)
        self.logdir = log_dir("lwds-scale-")
        self.addCleanup(close_log_dir, self.logdir)
        self.env = base_env(self.redis.url)
        self.env["LWDS_WEBHOOK_CLAIM_IDLE_MS"] = "1000"
        self.env["LWDS_BROKER_CLAIM_IDLE_MS"] = "1000"
        self.env["LWDS_BROKER_CONSUMER"] = "scale-brk1"
        self.procs = {}
        self.ports = {}
        self.start("broker", "", {})
        for i in (1, 2):
            coap, health = free_port("udp"), free_port()
            self.ports["gw%d" % i] = coap
            self.ports["gw%d_health" % i] = health
            self.start("coap-gw", str(i), {
                "LWDS_COAP_LISTEN": "127.0.0.1:%d" % coap,
                "LWDS_DTLS_LISTEN": "127.0.0.1:%d" % free_port("udp"),
                "LWDS_GW_RPC_URL": "tcp://127.0.0.1:%d" % free_port(),
                "LWDS_GW_HEALTH_ADDR": "127.0.0.1:%d" % health,
                "LWDS_GW_ID": "scale-gw%d-%d" % (i, os.getpid())})
            api, api_health = free_port(), free_port()
            self.ports["api%d" % i] = api
            self.ports["api%d_health" % i] = api_health
            self.start("rest-api", str(i), {
                "LWDS_HTTP_LISTEN": "127.0.0.1:%d" % api,
                "LWDS_API_HEALTH_ADDR": "127.0.0.1:%d" % api_health})
            wh = free_port()
            self.ports["wh%d_health" % i] = wh
            self.start("webhook", str(i), {
                "LWDS_WEBHOOK_HEALTH_ADDR": "127.0.0.1:%d" % wh,
                "LWDS_WEBHOOK_CONSUMER": "scale-wh%d" % i})
        self.wait_health(self.ports.keys())
        udp, http = free_port("udp"), free_port()
        self.nginx = Nginx(gw1=self.ports["gw1"], gw2=self.ports["gw2"],
                           api1=self.ports["api1"], api2=self.ports["api2"],
                           udp=udp, http=http)
        self.addCleanup(self.nginx.close)
        self.lb_udp = udp
        self.lb = Api("http://127.0.0.1:%d" % http)
        self.api = {i: Api("http://127.0.0.1:%d" % self.ports["api%d" % i])
                    for i in (1, 2)}
        self.token = self.api[1].token(self.env["LWDS_ADMIN_KEY"],
                                       self.env["LWDS_ADMIN_SECRET"])

    def start(self, name, tag, extra):
        env = dict(self.env)
        env.update(extra)
        p = Proc(name, env, self.logdir, tag)
        self.procs[name + tag] = p
        self.addCleanup(p.stop)

    def logs(self):
        return "\n".join(p.tail(15) for p in self.procs.values())

    def wait_health(self, keys):
        def ok():
            for name, p in self.procs.items():
                if not p.alive():
                    raise AssertionError("%s exited\n%s"
                                         % (name, self.logs()))
            return all(http_status(self.ports[k]) == 200
                       for k in keys if k.startswith("api")
                       or k.endswith("_health"))
        try:
            wait_until(ok, 20, 0.1, "every /health answering 200")
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.logs())) from None

    def sim(self, prefix):
        sims = Sims()
        self.addCleanup(sims.stop)
        for i in range(N_DEVICES):
            sims.append(Sim(["--server", "coap://127.0.0.1:%d" % self.lb_udp,
                             "--count", "1", "--local-addrs",
                             "%s.%d" % (ADDR_BLOCK, i + 1),
                             "--prefix", "%s%d-" % (prefix, i),
                             "--lifetime", "120"]))
        for one in sims:
            one.wait_line(Sim.READY, 30)
        return sims

    def owned(self, i):
        key = "lwds:v2:gw:{scale-gw%d-%d}:expiry" % (i, os.getpid())
        return {c.decode()
                for c in self.redis.command("ZRANGE", key, 0, -1)}

    def subscribe(self, api, path):
        r = retrying(api, "POST", "/subscriptions", self.token, {
            "SubscriptionType": "ClientConnected",
            "Url": self.sink.url(path)})
        self.assertEqual(r.status, 201, r)
        return r.json()["ID"]

    # -- tests -------------------------------------------------------------

    def test_devices_spread_and_visible_through_both_apis(self):
        self.sim("so-a-")
        gw1, gw2 = self.owned(1), self.owned(2)
        self.assertEqual(len(gw1 | gw2), N_DEVICES)
        self.assertTrue(gw1 and gw2, "the balancer used one gateway only: "
                        "%d/%d" % (len(gw1), len(gw2)))
        # a token of one instance works on the other (shared signing key)
        for api in (self.api[1], self.api[2], self.lb):
            self.assertEqual(listed_ids(api, self.token), gw1 | gw2)

    def test_reads_through_either_api_reach_every_device(self):
        self.sim("so-r-")
        owners = {c: 1 for c in self.owned(1)}
        owners.update({c: 2 for c in self.owned(2)})
        r = retrying(self.api[1], "GET", "/clients?pageSize=1000",
                     self.token)
        names = {}
        for item in r.json().get("Items", []):
            cid = [lk["href"] for lk in item["Links"]
                   if lk["rel"] == "self"][0].rsplit("/", 1)[-1]
            names[cid] = item["Name"]
        self.assertEqual(set(names), set(owners))
        pairs = set()
        # every device is read through both API instances, so each instance
        # reaches devices of each gateway whatever order the ids sort in
        for cid, ep in sorted(names.items()):
            for i in (1, 2):
                api = self.api[i]
                r = retrying(api, "GET", "/clients/%s/objecttypes" % cid,
                             self.token)
                href = [lk["href"] for item in r.json()["Items"]
                        if str(item["ObjectTypeID"]) == "3"
                        for lk in item["Links"] if lk["rel"] == "instances"][0]
                path = href[href.index("/clients/"):] + "/0"
                r = api.get(path, self.token)
                self.assertEqual(r.status, 200, "%s via api%d: %r\n%s"
                                 % (ep, i, r, self.logs()))
                self.assertEqual(r.json()["SerialNumber"], ep)
                pairs.add((i, owners[cid]))
        # each API instance read devices of each gateway
        self.assertEqual(pairs, {(1, 1), (1, 2), (2, 1), (2, 2)})

    def test_metrics_on_every_service(self):
        self.sim("so-m-")
        listed_ids(self.api[1], self.token)

        def text(port):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/metrics")
            r = c.getresponse()
            body = r.read().decode()
            c.close()
            self.assertEqual(r.status, 200, body)
            self.assertIn("version=0.0.4", r.getheader("Content-Type"))
            return body
        broker = int(self.env["LWDS_BROKER_HEALTH_ADDR"].rsplit(":", 1)[1])
        expect = {
            self.ports["api1_health"]: [
                'lwds_api_requests_total{code="200"}',
                "lwds_api_request_seconds_bucket{le="],
            self.ports["gw1_health"]: [
                'lwds_gw_registry_events_total{event="registered"}',
                "lwds_gw_devices "],
            broker: ["lwds_broker_events_total "],
            self.ports["wh1_health"]: ["lwds_webhook_queue_depth "],
        }
        for port, names in expect.items():
            wait_until(lambda: all(n in text(port) for n in names), 10,
                       0.2, "%s on port %d" % (names, port))

    def test_subscription_through_either_api_sees_every_device(self):
        self.subscribe(self.api[2], "/hook")
        s = self.sim("so-b-")
        ids = self.owned(1) | self.owned(2)
        self.assertEqual(len(ids), N_DEVICES)
        wait_until(lambda: ids <= set(self.sink.clients("/hook")), 20, 0.1,
                   "a ClientConnected delivery per device")
        # the subscription made on api2 is read back through api1
        r = retrying(self.api[1], "GET", "/subscriptions?pageSize=100",
                     self.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json().get("Items", [])), 1, r)
        s.send("quit")

    def test_gateway_killed_moves_only_its_devices(self):
        s = self.sim("so-c-")
        gw1, gw2 = self.owned(1), self.owned(2)
        self.assertTrue(gw1 and gw2)
        self.procs["coap-gw1"].kill()
        # the other gateway's devices do not notice
        self.assertEqual(listed_ids(self.lb, self.token), gw1 | gw2)

        def moved():
            s.send("update *")
            return self.owned(2) >= gw2 and len(self.owned(2)) == N_DEVICES
        wait_until(moved, 30, 1.0, "every device registered through gw2")
        listed = listed_ids(self.lb, self.token)
        self.assertEqual(len(listed), N_DEVICES)
        self.assertLessEqual(gw2, listed, "gw2's devices kept their ids")
        for cid in listed:
            rec = self.redis.hgetall("lwds:v2:client:{%s}" % cid)
            self.assertEqual(rec.get("gw"), "scale-gw2-%d" % os.getpid())
        self.assertTrue(self.procs["coap-gw2"].alive(), self.logs())

    def test_two_brokers_share_events_and_survive_a_kill(self):
        """Brokers share the {events} consumer group: with two running,
        killing one loses no event (the other claims its pending entries
        after LWDS_BROKER_CLAIM_IDLE_MS)."""
        health2 = free_port()
        self.start("broker", "2", {
            "LWDS_BROKER_CONSUMER": "scale-brk2",
            "LWDS_BROKER_HEALTH_ADDR": "127.0.0.1:%d" % health2,
            "LWDS_EVENTS_URL": "tcp://127.0.0.1:%d" % free_port()})
        wait_until(lambda: http_status(health2) == 200, 10, 0.1,
                   "second broker healthy")
        self.subscribe(self.lb, "/hook")
        s = self.sim("so-k-")
        ids = self.owned(1) | self.owned(2)
        wait_until(lambda: ids <= set(self.sink.clients("/hook")), 20, 0.1,
                   "deliveries with two brokers")
        before = len(self.sink.clients("/hook"))
        s.send("register *")
        self.procs["broker"].kill()
        wait_until(lambda: len(self.sink.clients("/hook")) >= before
                   + N_DEVICES, 30, 0.2,
                   "a delivery per registration despite the killed "
                   "broker\n" + self.logs())
        now = self.owned(1) | self.owned(2)
        self.assertEqual(set(self.sink.clients("/hook")[before:]), now)

    def test_observations_follow_devices_to_the_other_gateway(self):
        """Observation subscriptions on every device; gw1 dies; its devices
        move to gw2 with an Update and the broker observes them again
        through gw2 (no new subscription): notifications reach the hook."""
        s = self.sim("so-o-")
        ids = self.owned(1) | self.owned(2)
        r = retrying(self.api[1], "GET",
                     "/objecttypes/definitions?pageSize=1000", self.token)
        did = [d["ObjectDefinitionID"] for d in r.json()["Items"]
               if int(d["ObjectID"]) == 3303][0]
        for cid in ids:
            r = retrying(self.lb, "POST", "/clients/%s/objecttypes/%s/"
                         "instances/0/subscriptions" % (cid, did),
                         self.token, {"SubscriptionType": "Observation",
                                      "Url": self.sink.url("/obs"),
                                      "Property": "5700"})
            self.assertEqual(r.status, 201, r)

        def observed_via(cid):
            v = self.redis.hgetall("lwds:v2:client:{%s}:observed"
                                   % cid).get("/3303/0/5700", "")
            return v.split()[1] if v else None
        wait_until(lambda: all(observed_via(c) for c in ids), 20, 0.1,
                   "every device observed\n" + self.logs())
        self.procs["coap-gw1"].kill()
        gw2 = "scale-gw2-%d" % os.getpid()

        def moved():
            s.send("update *")
            return all(observed_via(c) == gw2 for c in ids)
        wait_until(moved, 40, 1.0, "every observation made through gw2\n"
                   + self.logs())
        s.send("set * /3303/0/5700 77.5")

        def notified():
            with self.sink.lock:
                bodies = [r[2] for r in self.sink.requests
                          if r[0] == "/obs" and b"77.5" in r[2]]
            got = set()
            for body in bodies:
                for lk in json.loads(body)["Items"][0]["Links"]:
                    if lk["rel"] == "client":
                        got.add(lk["href"].rsplit("/", 1)[-1])
            return got >= ids
        wait_until(notified, 20, 0.2, "a notification from every device "
                   "after the move\n" + self.logs())

    def test_api_and_dispatcher_killed_lose_nothing(self):
        self.subscribe(self.lb, "/hook")
        s = self.sim("so-d-")
        ids = self.owned(1) | self.owned(2)
        wait_until(lambda: ids <= set(self.sink.clients("/hook")), 20, 0.1,
                   "first deliveries")
        # an API instance dies: requests through the balancer still work
        self.procs["rest-api1"].kill()
        for _ in range(30):
            r = self.lb.get("/clients?pageSize=1000", self.token)
            self.assertEqual(r.status, 200, r)
        # a dispatcher dies with deliveries in flight: the other one takes
        # them over (pending entries claimed after LWDS_WEBHOOK_CLAIM_IDLE_MS)
        before = len(self.sink.clients("/hook"))
        s.send("register *")
        self.procs["webhook1"].kill()
        wait_until(lambda: len(self.sink.clients("/hook")) >= before
                   + N_DEVICES, 30, 0.2,
                   "a delivery per re-registration despite the dead "
                   "dispatcher\n" + self.logs())
        got = self.sink.clients("/hook")[before:]
        now = self.owned(1) | self.owned(2)
        self.assertEqual(set(got), now)


if __name__ == "__main__":
    unittest.main()
