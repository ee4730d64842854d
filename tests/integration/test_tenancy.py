"""Organisations: the admin creates one by creating an access key; it sees
none of the admin organisation's clients or keys (issue 2, spec 2.1, 2.5)."""

import os
import unittest

from lwdslib import ServiceTestCase, Services, link, path_of


class TestTenancy(ServiceTestCase):
    REDIS_DB = 3

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.org_key, cls.org = cls.new_org("org-b", cls.admin)

    def test_new_key_shape(self):
        k = self.org_key
        self.assertEqual(k["Name"], "org-b")
        self.assertEqual(len(k["Key"]), 86, k)
        self.assertEqual(len(k["Secret"]), 86, k)
        self.assertRegex(k["Key"], r"^[A-Za-z0-9_-]+$")
        self.assertEqual(path_of(link(k, "self")), "/accesskeys/" + k["Key"])

    def test_secret_never_shown_again(self):
        r = self.api.get("/accesskeys/" + self.org_key["Key"], self.org)
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("Secret", r.json(), r)

    def test_secret_not_stored_in_clear(self):
        rec = self.redis.hgetall("lwds:v2:accesskey:" + self.org_key["Key"])
        self.assertTrue(rec, "no accesskey record in Redis")
        self.assertNotIn(self.org_key["Secret"], rec.values())

    def test_org_sees_no_admin_clients(self):
        _, _, cid = self.register("tenant-admin-dev")
        self.assertIn("tenant-admin-dev", self.names_listed(self.admin))
        r = self.api.get("/clients", self.org)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["PageInfo"]["TotalCount"], 0, r)
        self.assertNotIn("Items", r.json(), r)

    def test_org_gets_404_for_admin_client(self):
        _, _, cid = self.register("tenant-admin-dev2")
        for path in ("/clients/" + cid, "/clients/%s/objecttypes" % cid):
            r = self.api.get(path, self.org)
            self.assertEqual(r.status, 404, r)
        r = self.api.delete("/clients/" + cid, self.org)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(self.api.get("/clients/" + cid, self.admin).status,
                         200)

    def test_org_gets_404_for_admin_key(self):
        key = self.svc.admin_key
        self.assertEqual(self.api.get("/accesskeys/" + key,
                                      self.org).status, 404)
        self.assertEqual(self.api.put("/accesskeys/" + key, self.org,
                                      {"Name": "mine"}).status, 404)
        self.assertEqual(self.api.delete("/accesskeys/" + key,
                                         self.org).status, 404)
        # the admin can still log in
        self.api.token(self.svc.admin_key, self.svc.admin_secret)

    def test_org_lists_only_its_keys(self):
        r = self.api.get("/accesskeys", self.org)
        self.assertEqual(r.status, 200, r)
        keys = [i["Key"] for i in r.json().get("Items", [])]
        self.assertIn(self.org_key["Key"], keys)
        self.assertNotIn(self.svc.admin_key, keys)

    def test_second_org_isolated_from_first(self):
        r = self.api.post("/accesskeys", self.admin, {"Name": "org-c"})
        self.assertEqual(r.status, 201, r)
        c = r.json()
        tok_c = self.api.token(c["Key"], c["Secret"])
        r = self.api.get("/accesskeys/" + self.org_key["Key"], tok_c)
        self.assertEqual(r.status, 404, r)
        keys = [i["Key"] for i in
                self.api.get("/accesskeys", tok_c).json().get("Items", [])]
        self.assertEqual(keys, [c["Key"]])

    def test_org_key_creates_key_in_same_org(self):
        r = self.api.post("/accesskeys", self.org, {"Name": "org-b-2"})
        self.assertEqual(r.status, 201, r)
        k2 = r.json()
        tok2 = self.api.token(k2["Key"], k2["Secret"])
        keys = [i["Key"] for i in
                self.api.get("/accesskeys", tok2).json().get("Items", [])]
        self.assertIn(self.org_key["Key"], keys)
        self.assertIn(k2["Key"], keys)

    def test_rename_and_delete_own_key(self):
        r = self.api.post("/accesskeys", self.org, {"Name": "temp"})
        self.assertEqual(r.status, 201, r)
        k = r.json()["Key"]
        r = self.api.put("/accesskeys/" + k, self.org, {"Name": "renamed"})
        self.assertEqual(r.status, 204, r)
        r = self.api.get("/accesskeys/" + k, self.org)
        self.assertEqual(r.json()["Name"], "renamed", r)
        self.assertEqual(self.api.delete("/accesskeys/" + k,
                                         self.org).status, 204)
        self.assertEqual(self.api.get("/accesskeys/" + k,
                                      self.org).status, 404)

    def test_device_of_second_org(self):
        """A second gateway on the same Redis puts its devices into another
        organisation (LWDS_COAP_ORG): that one sees them, the admin and
        org B get 404."""
        r = self.api.post("/accesskeys", self.admin, {"Name": "org-d"})
        self.assertEqual(r.status, 201, r)
        key = r.json()
        tok_d = self.api.token(key["Key"], key["Secret"])
        org = self.redis.hgetall("lwds:v2:accesskey:" + key["Key"]).get("org")
        self.assertTrue(org and org != "0", "org of the new key: %r" % org)
        gw2 = Services(self.redis, ("coap-gw",), env={
            "LWDS_COAP_ORG": org,
            "LWDS_EVENTS_URL": self.svc.env["LWDS_EVENTS_URL"]})
        gw2.gw_id = gw2.env["LWDS_GW_ID"] = "test-gw2-%d" % os.getpid()
        self.addCleanup(gw2.cleanup)
        gw2.start()
        c = gw2.coap()
        self.addCleanup(c.close)
        _, _, cid = self.register("tenant-d-dev", client=c)
        self.assertEqual(self.redis.hgetall(
            "lwds:v2:client:{%s}" % cid).get("org"), org)
        self.assertIn("tenant-d-dev", self.names_listed(tok_d))
        self.assertEqual(self.api.get("/clients/" + cid, tok_d).status, 200)
        self.assertEqual(self.api.get("/clients/" + cid, self.org).status,
                         404)
        self.assertNotIn("tenant-d-dev", self.names_listed(self.admin))
        self.assertEqual(self.api.get("/clients/" + cid,
                                      self.admin).status, 404)

    def test_org_cannot_refresh_into_other_org(self):
        pair = self.api.token_pair(self.org_key["Key"], self.org_key["Secret"])
        r = self.api.token_response({"grant_type": "refresh_token",
                                     "refresh_token": pair["refresh_token"]})
        self.assertEqual(r.status, 201, r)
        tok = r.json()["access_token"]
        r = self.api.get("/accesskeys", tok)
        keys = [i["Key"] for i in r.json().get("Items", [])]
        self.assertIn(self.org_key["Key"], keys)
        self.assertNotIn(self.svc.admin_key, keys)


if __name__ == "__main__":
    unittest.main()
