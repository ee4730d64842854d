"""Object definitions through the REST API (issue 3, spec 5): the shipped
definitions installed at start-up, CRUD in JSON and XML, bulk creation,
per-organisation scope and the fixed defects of spec 11.2 (PUT by URL id,
400 instead of 500/721, 403 on global definitions for tenants)."""

import os
import unittest

from lwdslib import ServiceTestCase, link, path_of

HERE = os.path.dirname(os.path.abspath(__file__))
DEFS = "/objecttypes/definitions"
BULK = "application/vnd.imgtec.objectdefinitions+json"


def demo(oid, name="DemoObject"):
    return {"ObjectID": str(oid), "Name": name, "Properties": [
        {"PropertyID": "0", "Name": "Button1State", "DataType": "Integer",
         "Access": "Read"},
        {"PropertyID": "1", "Name": "Led1", "DataType": "Boolean",
         "Access": "ReadWrite"},
        {"PropertyID": "2", "Name": "Blink", "Access": "Execute"}]}


class TestDefinitions(ServiceTestCase):
    REDIS_DB = 9
    SERVICES = ("rest-api",)
    EXTRA_ENV = {"LWDS_OBJECTS_FILE": os.path.join(
        HERE, "..", "..", "data", "objects", "lwds-objects.json")}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.tenants = []
        for name in ("org-a", "org-b"):
            cls.tenants.append(cls.new_org(name, cls.admin)[1])

    def all_defs(self, token):
        r = self.api.get(DEFS + "?pageSize=1000", token)
        self.assertEqual(r.status, 200, r)
        return r.json().get("Items", [])

    def by_oid(self, token, oid):
        return [d for d in self.all_defs(token) if d["ObjectID"] == str(oid)]

    def create(self, token, body, status=201):
        r = self.api.post(DEFS, token, body)
        self.assertEqual(r.status, status, r)
        return r.json()["ID"] if status == 201 else None

    def test_shipped_definitions_installed(self):
        items = self.all_defs(self.admin)
        oids = [int(d["ObjectID"]) for d in items]
        for oid in (0, 1, 2, 3, 4, 5, 6, 7, 15, 3200, 3303, 3348):
            self.assertIn(oid, oids)
        self.assertEqual(oids, sorted(oids))
        dev = self.by_oid(self.admin, 3)[0]
        self.assertEqual(dev["SerialisationName"], "Device")
        self.assertEqual(dev["MIMEType"], "application/vnd.oma.lwm2m.device")
        rels = [l["rel"] for l in dev["Links"]]
        self.assertEqual(rels, ["self", "update", "remove"])
        self.assertEqual(len(dev["ObjectDefinitionID"]), 22)

    def test_create_read_json_and_xml(self):
        did = self.create(self.admin, demo(20020))
        r = self.api.get(DEFS + "/" + did, self.admin)
        self.assertEqual(r.status, 200, r)
        d = r.json()
        self.assertEqual(d["ObjectDefinitionID"], did)
        self.assertEqual(d["MIMEType"], "application/vnd.oma.lwm2m.ext:20020")
        self.assertEqual([p["SerialisationName"] for p in d["Properties"]],
                         ["Button1State", "Led1", "Blink"])
        self.assertEqual(d["Properties"][2]["DataType"], "NotSet")
        r = self.api.get(DEFS + "/" + did, self.admin,
                         accept="application/xml")
        self.assertEqual(r.header("Content-Type"),
                         "application/vnd.imgtec.objectdefinition+xml")
        x = r.xml()
        self.assertEqual(x.tag, "ObjectDefinition")
        self.assertEqual(x.find("ObjectID").text, "20020")
        self.assertEqual(len(x.find("Properties")), 3)
        self.create(self.admin, demo(20020, "Again"), 409)

    def test_create_xml_body(self):
        body = ("<ObjectDefinition><ObjectID>20030</ObjectID><Name>X Thing"
                "</Name><Properties><PropertyDefinition><PropertyID>5"
                "</PropertyID><Name>Level</Name><DataType>Float</DataType>"
                "<Access>Read</Access></PropertyDefinition></Properties>"
                "</ObjectDefinition>")
        r = self.api.post(DEFS, self.admin, body,
                          content_type="application/xml",
                          accept="application/xml")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.xml().tag, "ResourceCreated")
        d = self.by_oid(self.admin, 20030)[0]
        self.assertEqual(d["SerialisationName"], "XThing")
        self.assertEqual(d["Properties"][0]["DataType"], "Float")

    def test_bulk_all_or_nothing(self):
        r = self.api.post(DEFS, self.admin,
                          {"Items": [demo(20040), demo(3)]},
                          content_type=BULK)
        self.assertEqual(r.status, 409, r)
        self.assertEqual(self.by_oid(self.admin, 20040), [])
        r = self.api.post(DEFS, self.admin,
                          {"Items": [demo(20040), demo(20041)]},
                          content_type=BULK)
        self.assertEqual(r.status, 201, r)
        items = r.json()["Items"]
        self.assertEqual(len(items), 2)
        self.assertEqual(path_of(link(items[1], "self")),
                         DEFS + "/" + items[1]["ID"])

    def test_bad_bodies_are_400(self):
        cases = [("{", "malformed JSON"),
                 ({"Name": "no id"}, "ObjectID: missing"),
                 ({"ObjectID": "1", "Singleton": "yes"}, "Singleton"),
                 ({"ObjectID": "1", "Properties": [
                     {"PropertyID": "1", "DataType": "Text"}]}, "DataType")]
        for body, why in cases:
            r = self.api.post(DEFS, self.admin, body,
                              content_type="application/json")
            self.assertEqual(r.status, 400, r)
            self.assertIn(why, r.json()["ErrorDetails"], r)
        r = self.api.post(DEFS, self.admin, "",
                          content_type="application/json")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.api.get(DEFS + "/nope", self.admin).status, 400)
        r = self.api.get(DEFS + "/AAAAAAAAAAAAAAAAAAAAAQ", self.admin)
        self.assertEqual(r.status, 404, r)

    def test_walk_statuses_say_why(self):
        """A new user's mistakes: the 201 names the new definition in
        Location; a duplicate (409), a global definition changed by a
        tenant (403) and an unknown id (404) answer with an Error body
        saying why; a PUT whose body is not JSON or XML is 415 (a typed
        body, spec 1.4), as is one without Content-Type."""
        r = self.api.post(DEFS, self.admin, demo(20060))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(path_of(r.header("Location")),
                         path_of(link(r.json(), "self")))
        did = r.json()["ID"]
        r = self.api.post(DEFS, self.admin, demo(20060, "Again"))
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.json()["ErrorMessage"], "ConflictException")
        self.assertIn("ObjectID", r.json()["ErrorDetails"])
        gid = self.by_oid(self.tenants[0], 3)[0]["ObjectDefinitionID"]
        r = self.api.delete(DEFS + "/" + gid, self.tenants[0])
        self.assertEqual(r.status, 403, r)
        self.assertIn("global", r.json()["ErrorDetails"])
        r = self.api.get(DEFS + "/AAAAAAAAAAAAAAAAAAAAAQ", self.admin)
        self.assertEqual(r.status, 404, r)
        self.assertIn("no object definition", r.json()["ErrorDetails"])
        for ct in ("text/plain", None):
            r = self.api.put(DEFS + "/" + did, self.admin,
                             '{"ObjectID": "20060", "Name": "X"}',
                             content_type=ct)
            self.assertEqual(r.status, 415, (ct, r))
        self.assertEqual(self.api.get(DEFS + "/" + did,
                                      self.admin).json()["Name"],
                         "DemoObject")

    def test_put_replaces_by_url_id(self):
        did = self.create(self.admin, demo(20050))
        other = self.create(self.admin, demo(20051))
        before = self.api.get(DEFS + "/" + did, self.admin).json()
        body = demo(20050, "Renamed")
        body["ObjectDefinitionID"] = other  # ignored: the URL decides
        r = self.api.put(DEFS + "/" + did, self.admin, body)
        self.assertEqual(r.status, 204, r)
        after = self.api.get(DEFS + "/" + did, self.admin).json()
        self.assertEqual(after["Name"], "Renamed")
        self.assertEqual(
            [p["PropertyDefinitionID"] for p in after["Properties"]],
            [p["PropertyDefinitionID"] for p in before["Properties"]])
        self.assertEqual(len(self.by_oid(self.admin, 20050)), 1)
        self.assertEqual(self.api.get(DEFS + "/" + other,
                                      self.admin).json()["Name"],
                         "DemoObject")
        r = self.api.put(DEFS + "/" + did, self.admin, demo(20051))
        self.assertEqual(r.status, 409, r)

    def test_tenant_scope(self):
        a, b = self.tenants
        glob = self.by_oid(a, 3)[0]
        self.assertEqual([l["rel"] for l in glob["Links"]], ["self"])
        gid = glob["ObjectDefinitionID"]
        self.assertEqual(self.api.put(DEFS + "/" + gid, a, demo(3)).status,
                         403)
        self.assertEqual(self.api.delete(DEFS + "/" + gid, a).status, 403)
        own = self.create(a, demo(3, "Org A Device"))
        mine = self.by_oid(a, 3)
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["ObjectDefinitionID"], own)
        self.assertEqual([l["rel"] for l in mine[0]["Links"]],
                         ["self", "update", "remove"])
        self.assertEqual(self.by_oid(b, 3)[0]["ObjectDefinitionID"], gid)
        self.assertEqual(self.by_oid(self.admin, 3)[0]["ObjectDefinitionID"],
                         gid)
        self.assertEqual(self.api.get(DEFS + "/" + own, b).status, 404)
        self.assertEqual(self.api.delete(DEFS + "/" + own, b).status, 404)
        self.assertEqual(self.api.delete(DEFS + "/" + own, a).status, 204)
        self.assertEqual(self.api.get(DEFS + "/" + own, a).status, 404)
        self.assertEqual(self.by_oid(a, 3)[0]["ObjectDefinitionID"], gid)

    def test_paging_and_xml_list(self):
        r = self.api.get(DEFS + "?pageSize=2&startIndex=1", self.admin,
                         accept="application/xml")
        self.assertEqual(r.status, 200, r)
        x = r.xml()
        self.assertEqual(x.tag, "ObjectDefinitions")
        self.assertEqual(x.find("PageInfo/ItemsCount").text, "2")
        self.assertEqual(x.find("PageInfo/StartIndex").text, "1")
        self.assertEqual(len(x.find("Items")), 2)
        self.assertEqual(x.find("Items/ObjectDefinition/ObjectID").text, "1")


if __name__ == "__main__":
    unittest.main()
