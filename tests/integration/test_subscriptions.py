"""Subscriptions (issue 5, spec 6.1-6.4, 6.6-6.8): CRUD at every level in
JSON and XML, validation, duplicates, tenancy, and client-event webhooks
delivered to a real HTTP sink with the X-Lwds-Signature HMAC; dead letters
visible through GET /subscriptions/{id}/deadletters."""

import hashlib
import hmac
import json
import time
import unittest
import urllib.request
import xml.etree.ElementTree as ET

from hooksink import Sink
from lwdslib import (ACK, CON, OPT, CoapMessage, ServiceTestCase, code,
                     free_port, link, path_of, uint_opt, wait_until)


class TestSubscriptions(ServiceTestCase):
    REDIS_DB = 13
    GW_HEALTH = free_port()
    # nothing trimmed from {events} while the class runs (client_events)
    EXTRA_ENV = {"LWDS_GW_HEALTH_ADDR": "127.0.0.1:%d" % GW_HEALTH,
                 "LWDS_EVENTS_TRIM_MS": "0"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = Sink()
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.other = cls.new_org("subs-b", cls.admin)[1]
        cls.warm_up()

    @classmethod
    def warm_up(cls):
        """Waits until gateway events reach the broker: nng pub/sub drops
        what a gateway publishes before its dial to the broker completes."""
        r = cls.api.post("/subscriptions", cls.admin, {
            "SubscriptionType": "ClientConnected",
            "Url": cls.sink.url("/warm-up")})
        if r.status != 201:
            raise AssertionError("warm-up subscription: %r" % r)
        c = cls.svc.coap()
        try:
            deadline = time.monotonic() + 20
            while not cls.sink.received("/warm-up"):
                if time.monotonic() > deadline:
                    raise AssertionError("no event reached the broker\n"
                                         + cls.svc.logs())
                c.request("POST", "rd", query=["ep=warm-up", "lt=60",
                                                "b=U", "lwm2m=1.1"],
                          payload=b"</3/0>", content_format=40)
                time.sleep(0.3)
        finally:
            c.close()
        cls.api.delete("/subscriptions/" + r.json()["ID"], cls.admin)

    @classmethod
    def tearDownClass(cls):
        cls.sink.close()
        super().tearDownClass()

    # helpers

    def create(self, path, body, token=None, status=201, **kw):
        r = self.api.post(path, token or self.admin, body, **kw)
        self.assertEqual(r.status, status, r)
        self.last_created = r
        if status != 201:
            return r
        sid = r.json()["ID"]
        self.addCleanup(self.api.delete, "/subscriptions/" + sid,
                        token or self.admin)
        return r.json()

    def definition(self, oid):
        r = self.api.get("/objecttypes/definitions?pageSize=1000",
                         self.admin)
        self.assertEqual(r.status, 200, r)
        for d in r.json().get("Items", []):
            if str(d.get("ObjectID")) == str(oid):
                return d["ObjectDefinitionID"]
        self.fail("no definition of object %s" % oid)

    def client_id(self, ep):
        _, _, cid = self.register(ep, lt=300)
        return cid

    # create / read

    def test_create_org_level_returns_id_secret_self(self):
        url = self.sink.url("/org-level")
        j = self.create("/subscriptions", {"SubscriptionType":
                                           "clientconnected", "Url": url})
        self.assertEqual(len(j["ID"]), 22, j)
        self.assertGreaterEqual(len(j["Secret"]), 40, j)
        self.assertEqual(path_of(self.last_created.header("Location")),
                         "/subscriptions/" + j["ID"])
        self.assertEqual(path_of(link(j, "self")), "/subscriptions/" + j["ID"])
        r = self.api.get("/subscriptions/" + j["ID"], self.admin)
        self.assertEqual(r.status, 200, r)
        s = r.json()
        self.assertEqual(s["SubscriptionType"], "ClientConnected")
        self.assertEqual(s["Url"], url)
        self.assertEqual(s["AcceptContentType"], "application/json")
        self.assertNotIn("Secret", s)
        self.assertNotIn("Property", s)
        for rel in ("self", "update", "remove"):
            self.assertEqual(path_of(link(s, rel)), "/subscriptions/" + j["ID"])

    def test_create_instance_level_property_exact_decimals(self):
        did = self.definition(3303)
        cid = self.client_id("subs-inst")
        path = "/clients/%s/objecttypes/%s/instances/0/subscriptions" % (
            cid, did)
        j = self.create(path, {
            "SubscriptionType": "Observation", "Property": "5700",
            "Url": self.sink.url("/temp"),
            "Attributes": {"Pmin": 5, "Pmax": "60", "Step": 0.25,
                           "LessThan": -10.125, "GreaterThan": 30.05}})
        r = self.api.get("/subscriptions/" + j["ID"], self.admin)
        self.assertEqual(r.status, 200, r)
        self.assertIn('"Step":0.25', r.body.decode().replace(" ", ""))
        s = r.json()
        self.assertEqual(s["Property"], "SensorValue")
        self.assertEqual(s["Attributes"], {"Pmin": 5, "Pmax": 60,
                                           "Step": 0.25,
                                           "LessThan": -10.125,
                                           "GreaterThan": 30.05})
        rec = self.redis.hgetall("lwds:v2:sub:{%s}" % j["ID"])
        self.assertEqual(rec["obj"], "3303")
        self.assertEqual(rec["inst"], "0")
        self.assertEqual(rec["prop"], "5700")
        self.assertEqual(rec["stp"], "0.25")
        self.assertEqual(rec["client"], cid)
        r = self.api.get(path, self.admin)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([path_of(link(i, "self")) for i in r.json()["Items"]],
                         ["/subscriptions/" + j["ID"]])
        self.assertEqual(path_of(link(r.json(), "add")), path)

    def test_property_by_name_and_unknown_property(self):
        did = self.definition(3303)
        cid = self.client_id("subs-prop")
        path = "/clients/%s/objecttypes/%s/instances/1/subscriptions" % (
            cid, did)
        self.create(path, {"SubscriptionType": "Observation",
                           "Property": "sensorvalue",
                           "Url": self.sink.url("/p")})
        r = self.create(path, {"SubscriptionType": "Observation",
                               "Property": "NoSuchThing",
                               "Url": self.sink.url("/p2")}, status=400)
        self.assertIn("Property", r.json()["ErrorDetails"])

    def test_client_level_and_object_link(self):
        did = self.definition(3)
        cid = self.client_id("subs-client")
        href = "http://x/clients/%s/objecttypes/%s/instances/0" % (cid, did)
        j = self.create("/subscriptions", {
            "SubscriptionType": "Observation", "Url": self.sink.url("/o"),
            "Links": [{"rel": "object", "href": href}]})
        rec = self.redis.hgetall("lwds:v2:sub:{%s}" % j["ID"])
        self.assertEqual((rec["client"], rec["def"], rec["obj"], rec["inst"]),
                         (cid, did, "3", "0"))
        j2 = self.create("/clients/%s/subscriptions" % cid, {
            "SubscriptionType": "ClientUpdated", "Url": self.sink.url("/u")})
        r = self.api.get("/clients/%s/subscriptions" % cid, self.admin)
        self.assertEqual(r.status, 200, r)
        ids = [path_of(link(i, "self")).split("/")[-1]
               for i in r.json()["Items"]]
        self.assertEqual(sorted(ids), sorted([j["ID"], j2["ID"]]))
        self.assertIn(j2["ID"].encode(), self.redis.command(
            "SMEMBERS", "lwds:v2:client:{%s}:evsubs:ClientUpdated" % cid))

    def test_xml_create_and_read(self):
        body = ("<Subscription><SubscriptionType>ClientDisconnected"
                "</SubscriptionType><Url>%s</Url><Attributes><Pmin>3</Pmin>"
                "</Attributes></Subscription>" % self.sink.url("/x"))
        r = self.api.post("/subscriptions", self.admin, body,
                          content_type="application/vnd.imgtec.subscription"
                                       "+xml",
                          accept="application/xml")
        self.assertEqual(r.status, 201, r)
        root = ET.fromstring(r.body)
        self.assertEqual(root.tag, "ResourceCreated")
        sid = root.find("ID").text
        self.addCleanup(self.api.delete, "/subscriptions/" + sid, self.admin)
        r = self.api.get("/subscriptions/" + sid, self.admin,
                         accept="application/xml")
        self.assertEqual(r.status, 200, r)
        root = ET.fromstring(r.body)
        self.assertEqual(root.tag, "Subscription")
        self.assertEqual(root.find("AcceptContentType").text,
                         "application/xml")
        self.assertEqual(root.find("Attributes/Pmin").text, "3")

    # validation, duplicates, tenancy

    def test_bad_bodies_are_400_with_reason(self):
        url = self.sink.url("/bad")
        cases = [
            ({"Url": url}, "SubscriptionType"),
            ({"SubscriptionType": "Nope", "Url": url}, "SubscriptionType"),
            ({"SubscriptionType": "ClientConnected"}, "Url"),
            ({"SubscriptionType": "ClientConnected", "Url": "ftp://x/y"},
             "Url"),
            ({"SubscriptionType": "ClientConnected", "Url": url,
              "Attributes": {"Pmin": 1.5}}, "Pmin"),
            ({"SubscriptionType": "ClientConnected", "Url": url,
              "Attributes": {"Step": " "}}, "Step"),
            ({"SubscriptionType": "ClientConnected", "Url": url,
              "Attributes": {"Step": -1}}, "Step"),
            ('{"SubscriptionType":"ClientConnected","Url":"%s",'
             '"Attributes":{"GreaterThan":1e5}}' % url, "GreaterThan"),
            ({"SubscriptionType": "Observation", "Url": url,
              "Property": "5700"}, "Property"),
            ({"SubscriptionType": "ClientConnected", "Url": url,
              "Links": [{"rel": "object", "href": "/clients/zz"}]}, "client"),
        ]
        for body, word in cases:
            r = self.api.post("/subscriptions", self.admin, body,
                              content_type="application/json")
            self.assertEqual(r.status, 400, (body, r))
            self.assertIn(word, r.body.decode(), (body, r))
        r = self.api.post("/subscriptions", self.admin, "{", content_type=
                          "application/json")
        self.assertEqual(r.status, 400, r)

    def test_duplicate_is_409_case_insensitive_url(self):
        body = {"SubscriptionType": "ClientConnected",
                "Url": self.sink.url("/dup")}
        j = self.create("/subscriptions", body)
        body["Url"] = body["Url"].upper().replace("HTTP", "http")
        r = self.create("/subscriptions", body, status=409)
        self.assertIn(j["ID"], r.body.decode())
        self.assertEqual(r.json()["ErrorMessage"], "ConflictException")
        # a different type on the same URL is not a duplicate
        self.create("/subscriptions", {"SubscriptionType": "ClientUpdated",
                                       "Url": self.sink.url("/dup")})

    def test_other_organisation_gets_404(self):
        j = self.create("/subscriptions", {"SubscriptionType":
                                           "ClientConnected",
                                           "Url": self.sink.url("/mine")})
        p = "/subscriptions/" + j["ID"]
        self.assertEqual(self.api.get(p, self.other).status, 404)
        self.assertEqual(self.api.put(p, self.other, {"Url": "http://a/b"})
                         .status, 404)
        self.assertEqual(self.api.delete(p, self.other).status, 404)
        self.assertEqual(self.api.get(p + "/deadletters", self.other).status,
                         404)
        r = self.api.get("/subscriptions", self.other)
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("Items", r.json())
        self.assertEqual(self.api.get(p, self.admin).status, 200)

    def test_unknown_ids(self):
        # spec 6.4: an undecodable id (too short, or all zero bytes) is a
        # 400, an unknown one a 404; both say why
        for bad in ("nope", "A" * 22):
            r = self.api.get("/subscriptions/" + bad, self.admin)
            self.assertEqual(r.status, 400, r)
            self.assertIn("invalid subscription id",
                          r.json()["ErrorDetails"])
        r = self.api.get("/subscriptions/" + "B" * 22, self.admin)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["ErrorDetails"],
                         "no such subscription in this organisation")
        self.assertEqual(self.api.get("/clients/bad/subscriptions",
                                      self.admin).status, 400)
        self.assertEqual(self.api.get("/clients/%s/subscriptions" % ("B" * 22),
                                      self.admin).status, 404)

    # update / delete

    def test_put_changes_url_and_one_attribute(self):
        j = self.create("/subscriptions", {
            "SubscriptionType": "ClientConnected", "Url": self.sink.url("/a"),
            "Attributes": {"Pmin": 1, "Pmax": 9}})
        p = "/subscriptions/" + j["ID"]
        r = self.api.put(p, self.admin, {"Url": self.sink.url("/b"),
                                         "Attributes": {"Pmax": 30}})
        self.assertEqual(r.status, 204, r)
        s = self.api.get(p, self.admin).json()
        self.assertEqual(s["Url"], self.sink.url("/b"))
        self.assertEqual(s["Attributes"], {"Pmin": 1, "Pmax": 30})
        self.assertEqual(self.api.put(p, self.admin, {}).status, 400)
        self.create("/subscriptions", {"SubscriptionType": "ClientConnected",
                                       "Url": self.sink.url("/c")})
        r = self.api.put(p, self.admin, {"Url": self.sink.url("/c")})
        self.assertEqual(r.status, 409, r)

    def test_delete_removes_record_and_indexes(self):
        r = self.api.post("/subscriptions", self.admin, {
            "SubscriptionType": "ClientConnectionExpired",
            "Url": self.sink.url("/del")})
        self.assertEqual(r.status, 201, r)
        sid = r.json()["ID"]
        p = "/subscriptions/" + sid
        self.assertEqual(self.api.delete(p, self.admin).status, 204)
        self.assertEqual(self.api.get(p, self.admin).status, 404)
        self.assertEqual(self.api.delete(p, self.admin).status, 404)
        self.assertEqual(self.redis.hgetall("lwds:v2:sub:{%s}" % sid), {})
        self.assertNotIn(sid.encode(), self.redis.command(
            "SMEMBERS", "lwds:v2:org:{0}:evsubs:ClientConnectionExpired"))
        # the same subscription can be created again
        self.create("/subscriptions", {"SubscriptionType":
                                       "ClientConnectionExpired",
                                       "Url": self.sink.url("/del")})

    # webhooks of client events

    def test_client_event_hooks_signed_and_client_level_only_own(self):
        self.create("/subscriptions", {"SubscriptionType": "ClientConnected",
                                       "Url": self.sink.url("/hook-org")})
        cid = self.client_id("subs-hook-a")
        # the client-level subscription must not see that first event
        wait_until(lambda: len(self.sink.received("/hook-org")) >= 1,
                   20, what="organisation hook x1")
        j_cli = self.create("/clients/%s/subscriptions" % cid, {
            "SubscriptionType": "ClientConnected",
            "Url": self.sink.url("/hook-a")})
        self.client_id("subs-hook-b")            # another client
        wait_until(lambda: len(self.sink.received("/hook-org")) >= 2,
                   20, what="organisation hook x2")
        self.register("subs-hook-a", lt=300)     # registers again
        wait_until(lambda: len(self.sink.received("/hook-a")) >= 1,
                   20, what="hook of client a")
        wait_until(lambda: len(self.sink.received("/hook-org")) >= 3,
                   20, what="organisation hook x3")
        time.sleep(0.5)
        got = self.sink.received("/hook-a")
        self.assertEqual(len(got), 1, got)
        _, headers, body, _, _ = got[0]
        sig = headers.get("X-Lwds-Signature")
        mac = hmac.new(j_cli["Secret"].encode(), body, hashlib.sha256)
        self.assertEqual(sig, "sha256=" + mac.hexdigest())
        item = json.loads(body)["Items"][0]
        self.assertEqual(item["SubscriptionType"], "ClientConnected")
        self.assertEqual(link(item, "client"), "/clients/" + cid)
        self.assertEqual(link(item, "subscription"),
                         "/subscriptions/" + j_cli["ID"])
        self.assertTrue(item["TimeTriggered"].endswith("Z"), item)
        self.assertTrue(headers.get("X-Lwds-Delivery"))

    @staticmethod
    def counter(url, name):
        with urllib.request.urlopen(url, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return 0.0

    def broker_counter(self, name):
        return self.counter("http://%s/metrics"
                            % self.svc.env["LWDS_BROKER_HEALTH_ADDR"], name)

    def gw_counter(self, name):
        return self.counter("http://127.0.0.1:%d/metrics" % self.GW_HEALTH,
                            name)

    def events_caught_up(self):
        for g in self.redis.command("XINFO", "GROUPS",
                                    "lwds:v2:{events}") or []:
            f = dict(zip(g[0::2], g[1::2]))
            if f[b"name"] == b"lwds-broker":
                return f[b"pending"] == 0 and f[b"lag"] == 0
        return False

    def events_last(self):
        """The id of the last entry added to {events}."""
        info = self.redis.command("XINFO", "STREAM", "lwds:v2:{events}")
        return dict(zip(info[0::2], info[1::2]))[b"last-generated-id"]

    def client_events(self, after):
        """(type, id) of the client events added to {events} after the
        entry id after (other entries, such as the REST API's
        "subscription" ones of earlier tests' clean-ups, left out)."""
        out = []
        for _, fields in self.redis.command(
                "XRANGE", "lwds:v2:{events}", b"(" + after, "+"):
            f = dict(zip(fields[0::2], fields[1::2]))
            if f.get(b"type") in (b"registered", b"updated",
                                  b"deregistered", b"expired"):
                out.append((f[b"type"].decode(), f[b"id"].decode()))
        return out

    def no_subscription(self):
        """Checks that organisation 0 has no subscription, and registers a
        client until the gateway's hint says so too (an event skipped):
        until a check found none, a Register sends its XADD with the check,
        and none is sent within GW_SUBS_FRESH_MS of a check that found
        subscriptions (the broker acknowledges those events without
        lookups)."""
        self.assertEqual(self.redis.command("ZCARD", "lwds:v2:org:{0}:subs"),
                         0, "another test left a subscription")
        name = "lwds_gw_events_skipped_total"

        def primed():
            before = self.gw_counter(name)
            self.client_id("subs-primer")
            return self.gw_counter(name) > before
        wait_until(primed, 10, 0.2, "an event skipped")

    def test_org_without_subscriptions_writes_no_events(self):
        # the gateway adds no client event of an organisation that has no
        # subscription at all to {events}: Register (new and known
        # endpoint), Update and De-register; one created afterwards fires
        # for the next event (the gateway's hint that the organisation had
        # none is corrected by the check every event sends)
        self.no_subscription()
        name = "lwds_gw_events_skipped_total"
        wait_until(self.events_caught_up, 20, what="every event acked")
        before, last = self.gw_counter(name), self.events_last()
        for i in range(3):
            self.client_id("subs-none-%d" % i)
        c, _, cid = self.register("subs-none-1", lt=300)     # known
        self.assertEqual(c.request("POST", "rd/" + cid).code_str, "2.04")
        self.assertEqual(c.request("DELETE", "rd/" + cid).code_str, "2.02")
        # (devices of other tests may expire meanwhile: at least six)
        self.assertGreaterEqual(self.gw_counter(name), before + 6)
        self.assertEqual(self.client_events(last), [])
        self.create("/subscriptions", {"SubscriptionType": "ClientConnected",
                                       "Url": self.sink.url("/hook-first")})
        cid = self.client_id("subs-none-0")
        self.sink.wait_count("/hook-first", 1)
        item = json.loads(self.sink.received("/hook-first")[0][2])["Items"][0]
        self.assertEqual(link(item, "client"), "/clients/" + cid)
        self.assertEqual(self.client_events(last), [("registered", cid)])

    def register_batch(self, prefix, n):
        """Registers n new endpoints at once from one socket, so that the
        gateway reads them together and gets their claims' replies in one
        batch; returns their ids."""
        c = self.svc.coap()
        self.addCleanup(c.close)
        pending = {}
        for i in range(n):
            token = i.to_bytes(4, "big")
            query = ["ep=%s%d" % (prefix, i), "lt=300", "lwm2m=1.1", "b=U"]
            opts = [(OPT["Uri-Path"], b"rd")]
            opts += [(OPT["Uri-Query"], q.encode()) for q in query]
            opts += [(OPT["Content-Format"], uint_opt(40))]
            pending[token] = CoapMessage(CON, code(0, 2), c.next_mid(),
                                         token, opts, b"</1/0>,</3/0>")
            c.send_raw(pending[token].encode())
        ids, deadline = [], time.monotonic() + 20
        while pending and time.monotonic() < deadline:
            r = c.recv(1.0)
            if r is None or (r.type == ACK and r.code == 0):
                continue  # (an empty ACK: the answer follows separately)
            if r.type == CON:
                c.send_raw(CoapMessage(ACK, 0, r.mid).encode())
            if pending.pop(r.token, None) is not None:
                self.assertEqual(r.code_str, "2.01", r)
                ids.append(r.location_path()[1])
        self.assertEqual(pending, {}, "Registers left unanswered")
        return ids

    def test_batched_registers_each_checked(self):
        # Registers answered in one batch of Redis replies share their
        # organisation's check (one EXISTS after all their writes): with
        # no subscription every event is left out, with one every event
        # is written
        self.no_subscription()
        name = "lwds_gw_events_skipped_total"
        wait_until(self.events_caught_up, 20, what="every event acked")
        before, last = self.gw_counter(name), self.events_last()
        self.register_batch("subs-batch-a", 40)
        self.assertGreaterEqual(self.gw_counter(name), before + 40)
        self.assertEqual(self.client_events(last), [])
        self.create("/subscriptions", {"SubscriptionType": "ClientConnected",
                                       "Url": self.sink.url("/hook-batch")})
        ids = self.register_batch("subs-batch-b", 40)
        written = {i for t, i in self.client_events(last) if t == "registered"}
        self.assertEqual(set(ids) - written, set(), "events left out")

    def test_broker_still_skips_lookups_of_other_writers(self):
        # an event of an organisation without subscriptions that reaches
        # the stream anyway (another writer, a gateway of an older
        # version) is acknowledged by the broker without lookups
        self.assertEqual(self.redis.command("ZCARD", "lwds:v2:org:{0}:subs"),
                         0, "another test left a subscription")
        name = "lwds_broker_events_unsubscribed_total"
        before = self.broker_counter(name)
        self.redis.command("XADD", "lwds:v2:{events}", "*", "type",
                           "registered", "id", "subsOtherWriter0000000",
                           "org", "0", "gw", "old-gw", "ts",
                           str(int(time.time() * 1000)), "ep", "other-1")
        wait_until(lambda: self.broker_counter(name) >= before + 1, 20,
                   what="the event acknowledged without lookups")
        wait_until(self.events_caught_up, 20, what="every event acked")

    def test_hooks_created_right_after_a_registration(self):
        # ClientConnected and ClientUpdated hooks created right after a
        # client of an organisation without subscriptions registered: that
        # Register happened before them (its event was not written), the
        # client's Update and the next client's Register reach them
        self.no_subscription()
        last = self.events_last()
        c, _, cid_a = self.register("subs-right-a", lt=300)
        self.create("/subscriptions", {"SubscriptionType": "ClientConnected",
                                       "Url": self.sink.url("/right-conn")})
        self.create("/subscriptions", {"SubscriptionType": "ClientUpdated",
                                       "Url": self.sink.url("/right-upd")})
        self.assertEqual(self.client_events(last), [])
        self.assertEqual(c.request("POST", "rd/" + cid_a).code_str, "2.04")
        self.sink.wait_count("/right-upd", 1)
        item = json.loads(self.sink.received("/right-upd")[0][2])["Items"][0]
        self.assertEqual(link(item, "client"), "/clients/" + cid_a)
        cid_b = self.client_id("subs-right-b")
        self.sink.wait_count("/right-conn", 1)
        got = [json.loads(b[2])["Items"][0]
               for b in self.sink.received("/right-conn")]
        self.assertEqual([link(i, "client") for i in got],
                         ["/clients/" + cid_b])

    def test_dead_letter_listed(self):
        self.sink.script("/gone", [404])
        j = self.create("/subscriptions", {
            "SubscriptionType": "ClientConnected",
            "Url": self.sink.url("/gone")})
        self.client_id("subs-dead")
        p = "/subscriptions/%s/deadletters" % j["ID"]

        def listed():
            r = self.api.get(p, self.admin)
            self.assertEqual(r.status, 200, r)
            return r.json().get("Items", [])
        wait_until(lambda: len(listed()) == 1, 10, what="dead letter")
        d = listed()[0]
        self.assertEqual(d["Status"], 404, d)
        self.assertEqual(d["Url"], self.sink.url("/gone"))
        self.assertEqual(len(d["DeliveryID"]), 22, d)
        self.assertTrue(d["TimeFailed"].endswith("Z"), d)



class TestNngEvents(ServiceTestCase):
    """LWDS_BROKER_EVENTS=nng: the broker takes client events from the
    gateways' nng pub instead of {events}; the gateway publishes there only
    while a subscriber is connected (nng would drop the rest)."""

    REDIS_DB = 14
    EXTRA_ENV = {"LWDS_BROKER_EVENTS": "nng"}

    def test_gateway_events_reach_a_broker_on_nng(self):
        sink = Sink()
        self.addCleanup(sink.close)
        admin = self.admin_token()
        r = self.api.post("/subscriptions", admin, {
            "SubscriptionType": "ClientConnected",
            "Url": sink.url("/nng")})
        self.assertEqual(r.status, 201, r)
        c = self.svc.coap()
        self.addCleanup(c.close)
        cid = None
        deadline = time.monotonic() + 20
        # nng drops what the gateway publishes before its dial completes
        while not sink.received("/nng"):
            self.assertLess(time.monotonic(), deadline,
                            "no event reached the broker over nng")
            _, _, cid = self.register("nng-dev", lt=60, client=c)
            time.sleep(0.3)
        item = json.loads(sink.received("/nng")[0][2])["Items"][0]
        self.assertEqual(link(item, "client"), "/clients/" + cid)

if __name__ == "__main__":
    unittest.main()
