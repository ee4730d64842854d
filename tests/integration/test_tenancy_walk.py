"""Tenancy walk (issue 6, defect 6): organisation A owns one of everything
(access key, PSK identity, a DTLS client, an object definition, a
subscription); organisation B's token then calls EVERY route of
services/rest-api/api_routes.c (read from the source, so new routes are
walked too) with A's ids.  B never gets a success for an A object, no
answer carries A's data, and A's Redis state is unchanged.  Without a
token, every route but the four anonymous ones is 401."""

import os
import re
import subprocess
import unittest

from lwdslib import ServiceTestCase, path_of, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
ROUTES = os.path.join(HERE, "..", "..", "services", "rest-api",
                      "api_routes.c")

# parameters naming objects of organisation A; others (metric names,
# operation ids, instance/resource numbers) get a plain value
OWNED = {"key", "clientID", "definitionID", "subscriptionID", "identity"}
REFUSALS = {400, 403, 404, 405, 409, 413, 415}
# the only routes a request without a token may use: the token endpoint,
# the entry point (its anonymous links), the versions and the health probe
ANONYMOUS = {("POST", "/oauth/token"), ("GET", "/"), ("GET", "/versions"),
             ("GET", "/health")}


def read_routes():
    """[(METHOD, "/path/{param}")] from the route table source."""
    src = open(ROUTES).read()
    out = []
    for m in re.finditer(r'\{\s*htp_method_(\w+)\s*,\s*((?:"[^"]*"\s*)+),',
                         src):
        path = "".join(re.findall(r'"([^"]*)"', m.group(2)))
        out.append((m.group(1), path))
    return out


class TestTenancyWalk(ServiceTestCase):
    REDIS_DB = 12
    EXTRA_ENV = {"LWDS_DTLS_PSK_POLL_MS": "50",
                 "LWDS_DEVICE_TIMEOUT_MS": "2000"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.setup_orgs()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def org_token(cls, admin, name):
        r = cls.api.post("/accesskeys", admin, {"Name": name})
        assert r.status == 201, r
        k = r.json()
        return cls.api.token(k["Key"], k["Secret"]), k

    @classmethod
    def setup_orgs(cls):
        api = cls.api
        admin = api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.a, ka = cls.org_token(admin, "org-a")
        cls.b, _ = cls.org_token(admin, "org-b")
        cls.a_key = ka["Key"]
        cls.a_org = cls.redis.hgetall("lwds:v2:accesskey:" + cls.a_key)["org"]
        r = api.post("/objecttypes/definitions", cls.a, {
            "ObjectID": "20555", "Name": "SecretThingOfA", "Properties": [
                {"PropertyID": "0", "Name": "Level", "DataType": "Integer",
                 "Access": "Read"}]})
        assert r.status == 201, r
        cls.a_def = r.json()["ID"]
        r = api.post("/subscriptions", cls.a, {
            "SubscriptionType": "ClientConnected",
            "Url": "http://127.0.0.1:9/secret-hook-of-a"})
        assert r.status == 201, r
        cls.a_sub = r.json()["ID"]
        cls.a_client = cls.register_psk_client()

    @classmethod
    def register_psk_client(cls):
        for _ in range(30):
            r = cls.api.post("/identities/psk", cls.a,
                             {"Endpoint": "secret-device-of-a"})
            assert r.status == 201, r
            psk = r.json()
            key = bytes.fromhex(psk["Secret"])
            if b"\0" not in key:
                break
            cls.api.delete("/identities/psk/" + psk["Identity"], cls.a)
        cls.a_psk = psk["Identity"]
        v = int(cls.redis.command("GET", "lwds:v2:{psk}:version"))
        wait_until(lambda: "(version %d)" % v in cls.svc.logs(5000),
                   what="PSK reload")
        subprocess.run(
            [b"coap-client-openssl", b"-m", b"post", b"-u",
             psk["Identity"].encode(), b"-k", key, b"-B", b"5", b"-e",
             b"</1/0>,</3/0>",
             b"coaps://127.0.0.1:%d/rd?ep=secret-device-of-a&lt=3600"
             % cls.svc.dtls_port], capture_output=True, timeout=30)
        rec = cls.redis.hgetall("lwds:v2:client:{%s}" % psk["Identity"])
        assert rec.get("state") == "registered", rec
        return psk["Identity"]

    # ---- helpers ---------------------------------------------------------

    def markers(self):
        """Strings that only A's data contains."""
        return ["secret-device-of-a", "SecretThingOfA", "secret-hook-of-a",
                self.a_client, self.a_def, self.a_sub, self.a_key]

    def a_state(self):
        snap = self.redis.snapshot()
        keep = {k: v for k, v in snap.items()
                if "{%s}" % self.a_org in k or self.a_client in k
                or self.a_sub in k or self.a_key in k}
        keep["psk-of-a"] = self.redis.command("HGET", "lwds:v2:{psk}",
                                              self.a_psk)
        return keep

    def fill(self, path):
        values = {"key": self.a_key, "clientID": self.a_client,
                  "definitionID": self.a_def,
                  "subscriptionID": self.a_sub, "identity": self.a_psk,
                  "instanceID": "0", "resourceID": "0",
                  "metricID": "TransactionCount", "operationID": "1"}
        params = re.findall(r"\{(\w+)\}", path)
        for p in params:
            path = path.replace("{%s}" % p, values.get(p, "x"))
        return path, bool(OWNED & set(params))

    # ---- the walk --------------------------------------------------------

    def test_routes_found(self):
        routes = read_routes()
        self.assertGreaterEqual(len(routes), 20, routes)
        self.assertIn(("GET", "/clients/{clientID}"), routes)

    def test_walk_every_route_as_other_org(self):
        before = self.a_state()
        body = {"Name": "hijack", "SubscriptionType": "ClientConnected",
                "Url": "http://127.0.0.1:9/b", "ObjectID": "20556",
                "Properties": []}
        leaks, successes = [], []
        for method, pattern in read_routes():
            path, owned = self.fill(pattern)
            send = body if method in ("POST", "PUT") else None
            r = self.api.request(method, path, self.b, body=send)
            text = r.body.decode(errors="replace")
            for m in self.markers():
                if m in text:
                    leaks.append((method, pattern, r.status, m))
            if owned and r.status not in REFUSALS:
                successes.append((method, pattern, r.status, text[:200]))
        self.assertEqual(leaks, [], "B's answers carry A's data")
        self.assertEqual(successes, [],
                         "B was not refused on A's objects")
        self.assertEqual(self.a_state(), before, "A's state changed")

    def test_walk_every_route_without_token(self):
        """Tokens are checked on every request: each route but ANONYMOUS
        is 401 without one, whatever the Accept (GET /metrics included),
        and no anonymous answer carries A's data."""
        opened, leaks = [], []
        for method, pattern in read_routes():
            path, _ = self.fill(pattern)
            for accept in (None, "text/plain", "application/xml"):
                r = self.api.request(method, path, None, accept=accept)
                text = r.body.decode(errors="replace")
                leaks += [(method, pattern, m) for m in self.markers()
                          if m in text]
                if (method, pattern) not in ANONYMOUS and r.status != 401:
                    opened.append((method, pattern, accept, r.status))
        self.assertEqual(opened, [], "answered without a token")
        self.assertEqual(leaks, [], "anonymous answers carry A's data")

    def test_a_still_sees_everything(self):
        self.assertEqual(self.api.get("/clients/" + self.a_client,
                                      self.a).status, 200)
        self.assertEqual(self.api.get("/subscriptions/" + self.a_sub,
                                      self.a).status, 200)
        self.assertEqual(self.api.get("/identities/psk/" + self.a_psk,
                                      self.a).status, 200)
        self.assertEqual(self.api.get("/objecttypes/definitions/"
                                      + self.a_def, self.a).status, 200)


if __name__ == "__main__":
    unittest.main()
