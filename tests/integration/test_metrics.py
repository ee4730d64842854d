"""Metrics of spec section 8: organisation and client level, JSON and XML,
with a token like every resource; the process's Prometheus text (issue 4)
and /health on rest-api's internal listener (LWDS_API_HEALTH_ADDR,
--health-addr), which "off" does not open."""

import subprocess
import unittest

from lwdslib import (Api, ServiceTestCase, Sim, binary, free_port, link,
                     listening_ports, path_of, wait_until)


class TestMetrics(ServiceTestCase):
    REDIS_DB = 12

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.org = cls.new_org("metrics-org", cls.admin)[1]

    def metrics(self, path, token=None, accept=None):
        r = self.api.get(path, token or self.admin, accept=accept)
        self.assertEqual(r.status, 200, r)
        return r

    def values(self, path, token=None):
        items = self.metrics(path, token).json().get("Items", [])
        return {i["Name"]: i["Value"] for i in items}

    def test_anonymous_is_401_whatever_the_accept(self):
        """Every resource of the API port needs a token, /metrics too: the
        Prometheus text is only on the internal listener."""
        prometheus = ("application/openmetrics-text;version=1.0.0,"
                      "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
        for accept in (None, "application/json", "application/xml",
                       "application/vnd.imgtec.metrics+json", "text/plain",
                       "*/*", prometheus):
            r = self.api.get("/metrics", accept=accept)
            self.assertEqual(r.status, 401, (accept, r))
            self.assertIn("bearer",
                          (r.header("WWW-Authenticate") or "").lower())
            self.assertNotIn(b"lwds_api_", r.body)

    def prometheus(self):
        """rest-api's Prometheus text from its health port."""
        r = self.svc.api_health().get("/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertIn("version=0.0.4", r.header("Content-Type"))
        return r.body.decode()

    def sample(self, name):
        """The value of series name (exact, labels included) on the health
        port, 0 when absent."""
        for line in self.prometheus().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0

    def test_health_port_counts_the_api_requests(self):
        series = 'lwds_api_requests_total{code="401"}'
        before = self.sample(series)
        self.assertEqual(self.api.get("/metrics").status, 401)
        wait_until(lambda: self.sample(series) >= before + 1, 10, 0.05,
                   "%s above %s" % (series, before))
        self.assertIn("lwds_api_request_seconds_bucket{le=",
                      self.prometheus())

    def test_health_port_health_is_the_public_one(self):
        public = self.api.get("/health")
        internal = self.svc.api_health().get("/health")
        self.assertEqual(public.status, 200, public)
        self.assertEqual(internal.status, 200, internal)
        self.assertEqual(internal.json(), public.json())
        self.assertEqual(internal.json(), {"status": "ok"})

    def test_health_port_serves_no_api_resource(self):
        health = self.svc.api_health()
        for path in ("/", "/clients", "/oauth/token"):
            self.assertEqual(health.get(path, self.admin).status, 404, path)

    def test_bad_token_is_401(self):
        r = self.api.get("/metrics", "not-a-token")
        self.assertEqual(r.status, 401, r)

    def test_number_clients_counts_connected(self):
        before = self.values("/metrics").get("NumberClients", 0)
        self.register("metrics-count-1")
        self.register("metrics-count-2")
        self.assertEqual(self.values("/metrics")["NumberClients"],
                         before + 2)
        # another organisation sees only its own (none)
        self.assertEqual(self.values("/metrics", self.org)["NumberClients"],
                         0)

    def test_counters_from_redis(self):
        key = "lwds:v2:org:{0}:metrics"
        self.redis.command("HINCRBY", key, "BytesSent", 7820)
        self.redis.command("HINCRBY", key, "TransactionCount", 3)
        v = self.values("/metrics")
        self.assertGreaterEqual(v["BytesSent"], 7820)
        self.assertGreaterEqual(v["TransactionCount"], 3)
        r = self.metrics("/metrics/BytesSent")
        m = r.json()
        self.assertEqual(m["Name"], "BytesSent")
        self.assertEqual(m["Value"], v["BytesSent"])
        self.assertEqual(path_of(link(m, "self")), "/metrics/BytesSent")
        self.assertIn("application/vnd.imgtec.metric+json",
                      r.header("Content-Type"))

    def test_list_shape_and_order(self):
        r = self.metrics("/metrics")
        doc = r.json()
        self.assertIn("application/vnd.imgtec.metrics+json",
                      r.header("Content-Type"))
        names = [i["Name"] for i in doc["Items"]]
        order = ["BytesSent", "BytesReceived", "TransactionCount",
                 "NumberClients"]
        self.assertEqual(names, [n for n in order if n in names])
        self.assertEqual(doc["PageInfo"]["TotalCount"], len(names))
        for i in doc["Items"]:
            self.assertEqual(path_of(link(i, "self")), "/metrics/" + i["Name"])

    def test_xml(self):
        r = self.metrics("/metrics", accept="application/xml")
        root = r.xml()
        self.assertEqual(root.tag, "Metrics")
        names = [e.findtext("Name") for e in root.iter("Metric")]
        self.assertIn("NumberClients", names)

    def test_unknown_metric_404(self):
        for p in ("/metrics/Nope", "/metrics/bytessent"):
            self.assertEqual(self.api.get(p, self.admin).status, 404, p)

    def test_absent_metric_404(self):
        r = self.api.get("/metrics/BytesReceived", self.org)
        self.assertEqual(r.status, 404, r)

    def test_client_metrics(self):
        _, _, cid = self.register("metrics-client")
        self.assertEqual(self.values("/clients/%s/metrics" % cid), {})
        self.redis.command("HINCRBY", "lwds:v2:client:{%s}:metrics" % cid,
                           "BytesReceived", 42)
        v = self.values("/clients/%s/metrics" % cid)
        self.assertEqual(v, {"BytesReceived": 42})
        r = self.metrics("/clients/%s/metrics/BytesReceived" % cid)
        self.assertEqual(r.json()["Value"], 42)
        self.assertEqual(path_of(link(r.json(), "self")),
                         "/clients/%s/metrics/BytesReceived" % cid)
        self.assertEqual(self.api.get("/clients/%s/metrics/NumberClients"
                                      % cid, self.admin).status, 404)

    def test_client_metrics_other_org_404(self):
        _, _, cid = self.register("metrics-client-foreign")
        for p in ("/clients/%s/metrics" % cid,
                  "/clients/%s/metrics/BytesSent" % cid):
            self.assertEqual(self.api.get(p, self.org).status, 404, p)
        self.assertEqual(self.api.get("/clients/nope/metrics",
                                      self.admin).status, 404)

    def test_client_links_to_metrics(self):
        _, _, cid = self.register("metrics-client-link")
        r = self.api.get("/clients/" + cid, self.admin)
        self.assertEqual(path_of(link(r.json(), "metrics")),
                         "/clients/%s/metrics" % cid)


class TestHealthAddrOff(ServiceTestCase):
    """rest-api opens the health listener only when given an address."""
    REDIS_DB = 12
    SERVICES = ("rest-api",)

    def ports_of(self, proc):
        return wait_until(lambda: proc.poll() is None and
                          listening_ports(proc.pid), 10, 0.05,
                          "pid %d listening" % proc.pid)

    def start_api(self, args, **env):
        """Another rest-api on a port of its own, with args and env over
        the class's settings; waits for its GET /health."""
        port = free_port()
        e = dict(self.svc.env, LWDS_HTTP_LISTEN="127.0.0.1:%d" % port)
        e.update(env)
        proc = subprocess.Popen([binary("rest-api")] + args, env=e,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.terminate)
        api = Api("http://127.0.0.1:%d" % port)

        def up():
            self.assertIsNone(proc.poll(), "rest-api exited")
            try:
                return api.get("/health").status == 200
            except OSError:
                return False
        wait_until(up, 15, 0.1, "GET /health on port %d" % port)
        return proc, port

    def test_with_an_address_two_listeners(self):
        health = int(self.svc.env["LWDS_API_HEALTH_ADDR"].rsplit(":", 1)[1])
        self.assertEqual(self.ports_of(self.svc.procs["rest-api"]),
                         {self.svc.http_port, health})

    def test_variable_off_opens_none(self):
        proc, port = self.start_api([], LWDS_API_HEALTH_ADDR="off")
        self.assertEqual(self.ports_of(proc), {port})

    def test_flag_off_wins_over_the_variable(self):
        proc, port = self.start_api(["--health-addr", "off"])
        self.assertEqual(self.ports_of(proc), {port})


if __name__ == "__main__":
    unittest.main()
