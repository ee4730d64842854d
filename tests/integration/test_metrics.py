"""Metrics of spec section 8: organisation and client level, JSON and XML;
the anonymous GET /metrics stays the process's Prometheus text (issue 4)."""

import unittest

from lwdslib import ServiceTestCase, Sim, link, path_of, wait_until


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

    def test_anonymous_is_prometheus_text(self):
        r = self.api.get("/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertIn("text/plain", r.header("Content-Type"))

    def test_anonymous_asking_for_json_or_xml_is_401(self):
        """A user who forgot the token and asks for the spec's list gets
        401 like on every other endpoint, not the Prometheus text; a
        scraper (Accept with */* or text) still gets the text."""
        for accept in ("application/json", "application/xml",
                       "application/vnd.imgtec.metrics+json"):
            r = self.api.get("/metrics", accept=accept)
            self.assertEqual(r.status, 401, (accept, r))
            self.assertIn("bearer",
                          (r.header("WWW-Authenticate") or "").lower())
        prometheus = ("application/openmetrics-text;version=1.0.0,"
                      "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
        for accept in (prometheus, "text/plain", "*/*"):
            r = self.api.get("/metrics", accept=accept)
            self.assertEqual(r.status, 200, (accept, r))
            self.assertIn("text/plain", r.header("Content-Type"))

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


if __name__ == "__main__":
    unittest.main()
