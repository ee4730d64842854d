"""A device operation's Redis lookups (the access key, the definition
versions, the client record, the gateway route) on every device route:
a revoked key is refused on the very next request, a token of another
organisation gets a bare 404 (nothing of the other organisation leaks), a
token claiming another organisation is refused, a client gone between
requests is 404, a record naming a gateway that is down gets 503, and a
client that hangs up while the lookups are in flight leaves rest-api
serving."""

import base64
import hashlib
import hmac
import json
import socket
import struct
import time
import unittest

from lwdslib import ServiceTestCase, Sim, link, path_of, random_token, \
    wait_until

EPS = ("pf-0", "pf-1", "pf-2")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TestDevopLookups(ServiceTestCase):
    REDIS_DB = 14
    SERVICES = ("coap-gw", "rest-api")
    EXTRA_ENV = {"LWDS_DEVICE_TIMEOUT_MS": "2000"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.key_b, cls.tok_b = cls.new_org("org-b", cls.admin)
        cls.sim = Sim(["--server", "coap://127.0.0.1:%d" % cls.svc.coap_port,
                       "--prefix", "pf-", "--count", str(len(EPS)),
                       "--verbose"])
        # after tearDownClass, and after a setUpClass that failed
        cls.addClassCleanup(cls.sim.stop)
        try:
            cls.sim.wait_line(Sim.READY, 15)
            cls.cids = cls.client_ids()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def client_ids(cls):
        def listed():
            r = cls.api.get("/clients?pageSize=100", cls.admin)
            return {i["Name"]: path_of(link(i, "self")).rsplit("/", 1)[1]
                    for i in r.json().get("Items", [])}
        wait_until(lambda: all(ep in listed() for ep in EPS), 15, 0.1,
                   "the simulated clients listed")
        return listed()

    def device_inst(self, ep):
        """Path of /3/0 of ep (its definition id from its object types)."""
        cid = self.cids[ep]
        r = self.api.get("/clients/%s/objecttypes" % cid, self.admin)
        for item in r.json().get("Items", []):
            if item["ObjectTypeID"] == "3":
                return path_of(link(item, "instances")) + "/0"
        raise AssertionError("no object 3 for %s: %r" % (ep, r))

    def sim_ops(self):
        return self.sim.stats()["ops"]

    def org0_key(self):
        """A second access key of the admin organisation, written as
        api_auth.c's store_key does (the API makes new keys in a new
        organisation when the admin asks)."""
        key, secret = random_token(32), random_token(32)
        self.redis.command(
            "HSET", "lwds:v2:accesskey:" + key, "name", "second", "org", "0",
            "secret", hashlib.sha256(secret.encode()).hexdigest(),
            "created", str(int(time.time() * 1000)))
        self.redis.command("ZADD", "lwds:v2:org:{0}:accesskeys",
                           str(int(time.time() * 1000)), key)
        return key, secret

    def all_device_requests(self, ep, tok):
        """Every device-operation route on ep's /3/0 as tok: statuses and
        bodies."""
        inst = self.device_inst(ep)
        comp = "/clients/%s/composite" % self.cids[ep]
        rs = [self.api.get(inst, tok),
              self.api.get(inst + "/resources/0", tok),
              self.api.get(inst.rsplit("/", 1)[0], tok),
              self.api.get(inst + "/discover", tok),
              self.api.put(inst + "/resources/14", tok, {"UTCOffset": "x"}),
              self.api.put(inst + "/attributes", tok, {"pmin": 5}),
              self.api.post(comp + "/read", tok, {"Paths": ["/3/0/0"]}),
              self.api.put(comp, tok, {"Items": [
                  {"Path": "/3/0/14", "Value": "x", "Type": "String"}]})]
        return [(r.method, r.path, r.status, r.body) for r in rs]

    # ---- the key check --------------------------------------------------

    def test_revoked_key_refused_on_next_read(self):
        key, secret = self.org0_key()
        tok = self.api.token(key, secret)
        inst = self.device_inst("pf-0")
        self.assertEqual(self.api.get(inst, tok).status, 200)
        r = self.api.delete("/accesskeys/" + key, self.admin)
        self.assertEqual(r.status, 204, r)
        for method, path, status, body in self.all_device_requests("pf-0",
                                                                   tok):
            self.assertEqual(status, 401, (method, path, body))
            self.assertEqual(body, b"", (method, path))

    def test_other_org_gets_404_and_device_untouched(self):
        """Another organisation's token gets the 404 of a client that does
        not exist (the same text): nothing tells it the client is there."""
        before = self.sim_ops()
        unknown = json.dumps({
            "ErrorCode": "NotFound", "ErrorMessage": "Exception",
            "ErrorDetails": "the client is not a registered client of this "
                            "organisation"}, separators=(",", ":"))
        for method, path, status, body in self.all_device_requests(
                "pf-0", self.tok_b):
            self.assertEqual(status, 404, (method, path, body))
            self.assertEqual(body.decode(), unknown, (method, path))
        # the admin organisation's own reads still work, and the device
        # saw none of org B's requests
        self.assertEqual(self.api.get(self.device_inst("pf-0"),
                                      self.admin).status, 200)
        after = self.sim_ops()
        self.assertEqual(after["read"], before["read"] + 1)
        for op in ("write", "discover", "write_attributes",
                   "read_composite", "write_composite"):
            self.assertEqual(after[op], before[op], op)

    def test_forged_org_claim_refused(self):
        """A token signed with the real signing key naming org B's access
        key but claiming organisation 0 (where the device is): the prefetch
        looks up with organisation 0, the key check fails, nothing of what
        was fetched answers: 401 with an empty body."""
        signing = self.svc.env["LWDS_SIGNING_KEY"].encode()
        head, payload, _ = self.tok_b.split(".")
        claims = json.loads(b64url_decode(payload))
        self.assertNotEqual(claims["OrgID"], 0)
        claims["OrgID"] = 0
        body = head + "." + b64url(json.dumps(claims).encode())
        sig = hmac.new(signing, body.encode(), hashlib.sha256).digest()
        forged = body + "." + b64url(sig)
        before = self.sim_ops()
        for method, path, status, data in self.all_device_requests(
                "pf-0", forged):
            self.assertEqual(status, 401, (method, path, data))
            self.assertEqual(data, b"", (method, path))
        after = self.sim_ops()
        self.assertEqual(after, before)
        # the same claim with the real key of organisation 0 is accepted:
        # the forgery was refused by the key check, not by the signature
        claims["AK"] = self.svc.admin_key
        body = head + "." + b64url(json.dumps(claims).encode())
        sig = hmac.new(signing, body.encode(), hashlib.sha256).digest()
        r = self.api.get(self.device_inst("pf-0"), body + "." + b64url(sig))
        self.assertEqual(r.status, 200, r)

    # ---- the client record ----------------------------------------------

    def test_client_deregistered_between_requests(self):
        inst = self.device_inst("pf-2")
        cid = self.cids["pf-2"]
        self.assertEqual(self.api.get(inst, self.admin).status, 200)
        self.sim.send("deregister pf-2")
        wait_until(lambda: self.redis.hgetall(
            "lwds:v2:client:{%s}" % cid).get("state") == "deregistered",
            10, 0.05, "pf-2 deregistered")
        r = self.api.get(inst, self.admin)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["ErrorDetails"],
                         "the client is not a registered client of this "
                         "organisation")
        r = self.api.post("/clients/%s/composite/read" % cid, self.admin,
                          {"Paths": ["/3/0/0"]})
        self.assertEqual(r.status, 404, r)

    def test_unknown_client_and_definition_404(self):
        inst = self.device_inst("pf-0")
        parts = inst.split("/")
        other = list(parts)
        other[2] = "AAAAAAAAAAAAAAAAAAAAAA"
        self.assertEqual(self.api.get("/".join(other), self.admin).status,
                         404)
        other = list(parts)
        other[4] = "AAAAAAAAAAAAAAAAAAAAAA"
        self.assertEqual(self.api.get("/".join(other), self.admin).status,
                         404)

    # ---- routes and hang-ups ---------------------------------------------

    def test_record_names_a_gateway_that_is_down(self):
        """The route follows the record read for this request: a record
        that now names another gateway (one that is down) gets 503, not a
        read through the gateway of the last read."""
        inst = self.device_inst("pf-1")
        key = "lwds:v2:client:{%s}" % self.cids["pf-1"]
        gw = self.redis.hgetall(key)["gw"]
        self.assertEqual(self.api.get(inst, self.admin).status, 200)
        self.redis.command("HSET", key, "gw", "gw-elsewhere")
        try:
            r = self.api.get(inst, self.admin)
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.header("Retry-After"), "5")
            self.assertIn("gateway is down", r.json()["ErrorDetails"])
        finally:
            self.redis.command("HSET", key, "gw", gw)
        self.assertEqual(self.api.get(inst, self.admin).status, 200)

    def test_hang_up_while_lookups_in_flight(self):
        inst = self.device_inst("pf-0")
        comp = "/clients/%s/composite/read" % self.cids["pf-0"]
        key, secret = self.org0_key()
        revoked = self.api.token(key, secret)
        self.assertEqual(self.api.delete("/accesskeys/" + key,
                                         self.admin).status, 204)
        body = json.dumps({"Paths": ["/3/0/0"]})
        reqs = []
        for tok in (self.admin, self.tok_b, revoked):
            auth = "Authorization: Bearer %s\r\n" % tok
            reqs.append("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (inst, auth))
            reqs.append("GET %s/resources/0 HTTP/1.1\r\nHost: x\r\n%s\r\n"
                        % (inst, auth))
            reqs.append("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: "
                        "application/json\r\nContent-Length: %d\r\n\r\n%s"
                        % (comp, auth, len(body), body))
        for i in range(300):
            s = socket.create_connection((self.api.host, self.api.port), 10)
            if i % 2:
                # RST instead of FIN
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            s.sendall(reqs[i % len(reqs)].encode())
            s.close()
        self.svc.check_running()
        wait_until(lambda: self.api.get(inst, self.admin).status == 200, 10,
                   0.1, "rest-api answering reads again")
        self.svc.check_running()


if __name__ == "__main__":
    unittest.main()
