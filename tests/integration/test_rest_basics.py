"""REST API basics: entry point, versions, tokens, paging, content
negotiation, CORS (deviceserver-rest-api.md sections 1 and 2)."""

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import unittest
import urllib.parse

from lwdslib import Redis, ServiceTestCase, Services, link, path_of

ENTRY_RELS = ["authenticate", "accesskeys", "configuration", "clients",
              "identities", "objectdefinitions", "subscriptions", "metrics",
              "versions"]


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class TestRestBasics(ServiceTestCase):
    REDIS_DB = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.paging_ids = []

    def setUp(self):
        self.token = self.admin_token()

    def org_pair(self):
        """A token pair of a fresh organisation (> 0)."""
        r = self.api.post("/accesskeys", self.token, {"Name": "basics"})
        self.assertEqual(r.status, 201, r)
        k = r.json()
        return self.api.token_pair(k["Key"], k["Secret"])

    # entry point and versions

    def test_entry_anonymous(self):
        r = self.api.get("/")
        self.assertEqual(r.status, 200, r)
        rels = [l["rel"] for l in r.json()["Links"]]
        self.assertEqual(rels, ["authenticate", "versions"], r)

    def test_entry_with_token(self):
        r = self.api.get("/", self.token)
        self.assertEqual(r.status, 200, r)
        rels = [l["rel"] for l in r.json()["Links"]]
        self.assertEqual(rels, ENTRY_RELS, r)
        self.assertEqual(path_of(link(r.json(), "clients")), "/clients")

    def test_entry_bad_token_shows_fewer_links(self):
        r = self.api.get("/", "not.a.token")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()["Links"]), 2, r)

    def test_configuration_link_leads_somewhere(self):
        """Every link of GET / answers: configuration (spec 9.6) has the
        bootstrap link, and bootstrap is a 404 saying lwds has no
        bootstrap server (the spec's answer when none announced itself)."""
        r = self.api.get(path_of(link(self.api.get("/", self.token).json(),
                                      "configuration")), self.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"),
                         "application/vnd.imgtec.configuration+json")
        boot = link(r.json(), "bootstrap")
        self.assertEqual(path_of(boot), "/configuration/bootstrap")
        r = self.api.get(path_of(boot), self.token)
        self.assertEqual(r.status, 404, r)
        self.assertIn("no LwM2M bootstrap server", r.json()["ErrorDetails"])
        r = self.api.get("/configuration", self.token,
                         accept="application/xml")
        self.assertEqual(r.xml().tag, "Configuration")
        self.assertEqual(self.api.get("/configuration").status, 401)

    def test_unknown_path_404_says_why(self):
        r = self.api.get("/clientz", self.token)
        self.assertEqual(r.status, 404, r)
        self.assertIn("follow the links", r.json()["ErrorDetails"])

    def test_created_answers_have_location(self):
        """201 answers name the new resource in Location (the self link):
        access keys and PSK identities."""
        r = self.api.post("/accesskeys", self.token, {"Name": "loc"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("Location"), link(r.json(), "self"))
        k = r.json()
        tok = self.api.token(k["Key"], k["Secret"])
        r = self.api.post("/identities/psk", tok)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("Location"), link(r.json(), "self"))
        self.assertEqual(self.api.get(path_of(r.header("Location")),
                                      tok).status, 200)

    def test_versions(self):
        r = self.api.get("/versions")
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertIn("BuildNumber", body, r)
        self.assertIsInstance(body.get("Components"), list, r)

    def test_cors_options(self):
        r = self.api.request("OPTIONS", "/clients")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*", r)
        methods = r.header("Access-Control-Allow-Methods") or ""
        for m in ("GET", "POST", "PUT", "DELETE"):
            self.assertIn(m, methods)
        self.assertIn("authorization",
                      (r.header("Access-Control-Allow-Headers") or "").lower())

    def test_cors_on_get(self):
        r = self.api.get("/versions")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*", r)

    # keep-alive connections: pipelining and a half-closed request

    def raw_requests(self, chunks, expect, shut_wr=False):
        """Sends each of chunks on one connection (then, with shut_wr,
        ends the client's side) and returns the answers as (status,
        X-Request-Id, body) in the order they came, once expect answers
        are complete, the server closes or 10 s pass without a byte."""
        return self.parse_answers(self.exchange(chunks, expect, shut_wr))

    def exchange(self, chunks, expect=None, shut_wr=False):
        """raw_requests' bytes as they came; with expect None, all until
        the server closes (which must come).  A server that refuses before all is sent (and
        resets) is no error."""
        s = socket.create_connection(("127.0.0.1", self.svc.http_port), 5)
        self.addCleanup(s.close)
        try:
            for c in chunks:
                s.sendall(c)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(10)
        data = b""
        try:
            while True:
                got = s.recv(65536)
                if not got:
                    break
                data += got
                done = self.parse_answers(data, complete=True)
                if expect and done is not None and len(done) >= expect:
                    break
        except ConnectionResetError:
            pass
        except socket.timeout:
            if expect is None:
                self.fail("not closed 10 s after %r" % data[:200])
        return data

    @staticmethod
    def parse_answers(data, complete=False):
        out = []
        while data:
            head, sep, rest = data.partition(b"\r\n\r\n")
            if not sep:
                return None if complete else out
            lines = head.decode("latin-1").split("\r\n")
            hdrs = {k.strip().lower(): v.strip() for k, _, v in
                    (l.partition(":") for l in lines[1:])}
            n = int(hdrs.get("content-length", "0"))
            if len(rest) < n:
                return None if complete else out
            out.append((int(lines[0].split()[1]), hdrs.get("x-request-id"),
                        rest[:n]))
            data = rest[n:]
        return out

    def get_req(self, path, rid, token=True):
        auth = ("Authorization: Bearer %s\r\n" % self.token) if token else ""
        return ("GET %s HTTP/1.1\r\nHost: x\r\n%sX-Request-Id: %s\r\n\r\n"
                % (path, auth, rid)).encode()

    def test_pipelined_requests_answered_in_order(self):
        """Requests answered later (Redis) and at once, sent in one write:
        each is parsed only after the one before it was answered, and the
        answers come back in order on the same connection."""
        reqs = [self.get_req("/clients", "pipe-1"),
                self.get_req("/versions", "pipe-2", token=False),
                self.get_req("/clients/nosuchclient", "pipe-3"),
                b"OPTIONS /clients HTTP/1.1\r\nHost: x\r\n"
                b"X-Request-Id: pipe-4\r\n\r\n",
                self.get_req("/clients", "pipe-5"),
                self.get_req("/accesskeys", "pipe-6")]
        answers = self.raw_requests([b"".join(reqs)], len(reqs))
        self.assertEqual([(st, rid) for st, rid, _ in answers],
                         [(200, "pipe-1"), (200, "pipe-2"), (404, "pipe-3"),
                          (200, "pipe-4"), (200, "pipe-5"), (200, "pipe-6")],
                         answers)
        self.assertIn(b"Items", answers[0][2])
        # the same, one request per write, sent without waiting
        answers = self.raw_requests(reqs, len(reqs))
        self.assertEqual([rid for _, rid, _ in answers],
                         ["pipe-%d" % i for i in range(1, 7)], answers)

    def test_half_closed_request_still_answered(self):
        """A client that ends its side right after its requests still gets
        every answer (one answered later, one at once), then the server
        closes."""
        answers = self.raw_requests(
            [self.get_req("/clients", "half-1") +
             self.get_req("/versions", "half-2", token=False)], 2,
            shut_wr=True)
        self.assertEqual([(st, rid) for st, rid, _ in answers],
                         [(200, "half-1"), (200, "half-2")], answers)

    # over-long lines of a request head (api_server.c, API_LINE_MAX)

    LINE_MAX = 8191  # bytes of a head line before its LF, CR included

    def refused(self, chunks):
        """Sends chunks on a new connection and returns (status, headers,
        body) of the one answer, after checking that the server then
        closes the connection."""
        data = self.exchange(chunks)
        answers = self.parse_answers(data, complete=True)
        self.assertIsNotNone(answers, data[:300])
        self.assertEqual(len(answers), 1, data[:300])
        head = data.partition(b"\r\n\r\n")[0].decode("latin-1")
        hdrs = {k.strip().lower(): v.strip() for k, _, v in
                (l.partition(":") for l in head.split("\r\n")[1:])}
        return answers[0][0], hdrs, json.loads(answers[0][2])

    def assert_line_refused(self, chunks, status, code, what):
        st, hdrs, body = self.refused(chunks)
        self.assertEqual(st, status, body)
        self.assertEqual(hdrs.get("connection"), "close", hdrs)
        self.assertEqual(hdrs.get("content-type"),
                         "application/vnd.imgtec.error+json", hdrs)
        self.assertEqual(body["ErrorCode"], code, body)
        self.assertEqual(body["ErrorDetails"], "%s longer than %d bytes"
                         % (what, self.LINE_MAX), body)
        # the next connection is served
        self.assertEqual(self.api.get("/").status, 200)

    def test_long_header_line_431(self):
        for size in (9 * 1024, 20 * 1024):
            req = (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * size
                   + b"\r\n\r\n")
            self.assert_line_refused([req], 431,
                                     "RequestHeaderFieldsTooLarge",
                                     "request header line")

    def test_long_header_line_in_pieces_431(self):
        """The line's length counts across reads."""
        chunks = [b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: "]
        chunks += [b"p" * 1024] * 10 + [b"\r\n\r\n"]
        self.assert_line_refused(chunks, 431, "RequestHeaderFieldsTooLarge",
                                 "request header line")

    def test_long_header_name_431(self):
        req = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"N" * 9000 + b": v\r\n\r\n"
        self.assert_line_refused([req], 431, "RequestHeaderFieldsTooLarge",
                                 "request header line")

    def test_long_url_414(self):
        req = (b"GET /" + b"u" * (9 * 1024) + b" HTTP/1.1\r\nHost: x"
               b"\r\n\r\n")
        self.assert_line_refused([req], 414, "URITooLong", "request line")
        # after blank lines, which the parser skips, too
        self.assert_line_refused([b"\r\n\r\n" + req], 414, "URITooLong",
                                 "request line")

    def test_lines_up_to_the_limit_served(self):
        """A header line and a request line of exactly LINE_MAX bytes
        before the LF are parsed and answered; one more byte is refused;
        several long lines of one head are counted one by one."""
        pad = self.LINE_MAX - len("X-Pad: \r")
        answers = self.raw_requests(
            [b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * pad
             + b"\r\nX-Pad2: " + b"q" * 4000 + b"\r\n\r\n"], 1)
        self.assertEqual([a[0] for a in answers], [200], answers)
        path = b"/" + b"u" * (self.LINE_MAX - len("GET  HTTP/1.1\r") - 1)
        answers = self.raw_requests(
            [b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"], 1)
        self.assertEqual([a[0] for a in answers], [404], answers)
        self.assert_line_refused(
            [b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * (pad + 1)
             + b"\r\n\r\n"], 431, "RequestHeaderFieldsTooLarge",
            "request header line")

    def test_long_body_line_is_not_a_header(self):
        """A body of one 20 KB line, followed by a pipelined request, and
        a head of 12 KB in 1 KB lines sent in pieces: all served."""
        body = json.dumps({"Name": "n" * 20000}).encode()
        post = (b"POST /accesskeys HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: Bearer " + self.token.encode() +
                b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nX-Request-Id: body-1\r\n\r\n"
                % len(body) + body)
        answers = self.raw_requests(
            [post + self.get_req("/versions", "body-2", token=False)], 2)
        self.assertEqual([rid for _, rid, _ in answers],
                         ["body-1", "body-2"], answers)
        self.assertNotIn(answers[0][0], (414, 431), answers)
        head = [b"GET /versions HTTP/1.1\r\nHost: x\r\n"]
        head += [b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(12)]
        answers = self.raw_requests(head + [b"\r\n"], 1)
        self.assertEqual([a[0] for a in answers], [200], answers)

    # tokens

    def test_token_pair_shape(self):
        r = self.api.token_response({"grant_type": "password",
                                     "username": self.svc.admin_key,
                                     "password": self.svc.admin_secret})
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.header("Content-Type").startswith(
            "application/json"), r)
        body = r.json()
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 3600)
        self.assertEqual(len(body["access_token"].split(".")), 3)
        self.assertIn("refresh_token", body)

    def test_token_wrong_secret(self):
        r = self.api.token_response({"grant_type": "password",
                                     "username": self.svc.admin_key,
                                     "password": "wrong"})
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["ErrorDetails"],
                         "unknown access key or wrong secret")

    def test_token_unknown_key(self):
        r = self.api.token_response({"grant_type": "password",
                                     "username": "nobody", "password": "x"})
        self.assertEqual(r.status, 401, r)

    def test_token_bad_grant(self):
        r = self.api.token_response({"grant_type": "magic"})
        self.assertEqual(r.status, 400, r)
        r = self.api.token_response({"username": self.svc.admin_key})
        self.assertEqual(r.status, 400, r)

    def test_no_token_401(self):
        for path in ("/clients", "/accesskeys"):
            r = self.api.get(path)
            self.assertEqual(r.status, 401, r)
            self.assertIn("bearer",
                          (r.header("WWW-Authenticate") or "").lower(), r)

    def test_bad_token_401(self):
        r = self.api.get("/clients", "garbage")
        self.assertEqual(r.status, 401, r)
        # a well-formed token with a forged signature
        head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = b64url(json.dumps({"exp": 4102444800}).encode())
        forged = "%s.%s.%s" % (head, claims, b64url(b"\0" * 32))
        r = self.api.get("/clients", forged)
        self.assertEqual(r.status, 401, r)
        # the real token with one signature character changed
        t = self.token[:-2] + ("A" if self.token[-2] != "A" else "B") + \
            self.token[-1]
        self.assertEqual(self.api.get("/clients", t).status, 401)

    def test_401_says_why(self):
        """A refused token is 401 with an empty body, as in the spec; the
        WWW-Authenticate challenge says why (RFC 6750 error and
        error_description); without a token it is a bare Bearer."""
        def why(token):
            r = self.api.get("/clients", token)
            self.assertEqual(r.status, 401, r)
            self.assertEqual(r.body, b"", r)
            h = r.header("WWW-Authenticate") or ""
            if token is None:
                self.assertEqual(h, "Bearer", r)
                return None
            self.assertIn('error="invalid_token"', h, r)
            return re.search(r'error_description="([^"]*)"', h).group(1)

        self.assertIsNone(why(None))
        self.assertIn("not a valid JWT", why("garbage"))
        self.assertIn("refresh token", why(self.org_pair()["refresh_token"]))
        t = self.token[:-2] + ("A" if self.token[-2] != "A" else "B") + \
            self.token[-1]
        self.assertIn("signature", why(t))
        # the admin token re-signed with an expiry in the past
        head, payload, _ = self.token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["exp"] = 1000000000
        body = head + "." + b64url(json.dumps(claims).encode())
        sig = hmac.new(self.svc.env["LWDS_SIGNING_KEY"].encode(),
                       body.encode(), hashlib.sha256).digest()
        self.assertIn("expired", why(body + "." + b64url(sig)))
        r = self.api.get("/clients", headers={"Authorization": "Basic eA=="})
        self.assertIn("Bearer <access_token>",
                      r.header("WWW-Authenticate"), r)

    def test_alg_none_401(self):
        head = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        claims = b64url(json.dumps({"exp": 4102444800}).encode())
        r = self.api.get("/clients", "%s.%s." % (head, claims))
        self.assertEqual(r.status, 401, r)

    def test_refresh_grant(self):
        pair = self.org_pair()
        r = self.api.token_response({"grant_type": "refresh_token",
                                     "refresh_token": pair["refresh_token"]})
        self.assertEqual(r.status, 201, r)
        new = r.json()
        self.assertEqual(self.api.get("/clients",
                                      new["access_token"]).status, 200)

    def test_refresh_token_as_access_token_401(self):
        pair = self.org_pair()
        r = self.api.get("/clients", pair["refresh_token"])
        self.assertEqual(r.status, 401, r)

    def test_access_token_as_refresh_token_400(self):
        pair = self.org_pair()
        r = self.api.token_response({"grant_type": "refresh_token",
                                     "refresh_token": pair["access_token"]})
        self.assertIn(r.status, (400, 401), r)

    def test_forged_refresh_token_rejected(self):
        head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = b64url(json.dumps({"OrgID": "7", "RT": "1",
                                    "exp": 4102444800}).encode())
        forged = "%s.%s.%s" % (head, claims, b64url(b"x" * 32))
        r = self.api.token_response({"grant_type": "refresh_token",
                                     "refresh_token": forged})
        self.assertIn(r.status, (400, 401), r)

    # paging

    def ensure_five_clients(self):
        if not self.paging_ids:
            for i in range(5):
                _, _, cid = self.register("page-%d" % i)
                self.paging_ids.append(cid)

    def test_paging_middle(self):
        self.ensure_five_clients()
        r = self.api.get("/clients?pageSize=2&startIndex=2", self.token)
        self.assertEqual(r.status, 200, r)
        body = r.json()
        pi = body["PageInfo"]
        self.assertEqual((pi["TotalCount"], pi["ItemsCount"],
                          pi["StartIndex"]), (5, 2, 2), r)
        self.assertEqual(len(body["Items"]), 2)
        links = {l["rel"]: path_of(l["href"]) for l in pi["Links"]}
        self.assertEqual(links, {
            "first": "/clients?pageSize=2&startIndex=0",
            "prev": "/clients?pageSize=2&startIndex=0",
            "next": "/clients?pageSize=2&startIndex=4",
            "last": "/clients?pageSize=2&startIndex=3"}, r)

    def test_paging_pages_cover_all(self):
        self.ensure_five_clients()
        seen = []
        for start in (0, 2, 4):
            r = self.api.get("/clients?pageSize=2&startIndex=%d" % start,
                             self.token)
            seen += [path_of(link(i, "self")).split("/")[-1]
                     for i in r.json().get("Items", [])]
        self.assertEqual(sorted(seen), sorted(self.paging_ids))

    def test_paging_defaults(self):
        self.ensure_five_clients()
        r = self.api.get("/clients?pageSize=abc&startIndex=x", self.token)
        self.assertEqual(r.status, 200, r)
        pi = r.json()["PageInfo"]
        self.assertEqual((pi["TotalCount"], pi["ItemsCount"],
                          pi["StartIndex"]), (5, 5, 0), r)
        self.assertNotIn("Links", pi, r)

    def test_paging_past_end(self):
        self.ensure_five_clients()
        r = self.api.get("/clients?startIndex=10", self.token)
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["PageInfo"]["ItemsCount"], 0, r)
        self.assertNotIn("Items", body, r)

    # content negotiation

    def test_accept_xml(self):
        self.ensure_five_clients()
        r = self.api.get("/clients", self.token, accept="application/xml")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith(
            "application/vnd.imgtec.clients+xml"), r)
        root = r.xml()
        self.assertEqual(root.tag, "Clients")
        self.assertEqual(root.findtext("PageInfo/TotalCount"), "5")
        names = [c.findtext("Name") for c in root.findall("Items/Client")]
        self.assertEqual(sorted(names), ["page-%d" % i for i in range(5)])
        links = root.findall("Items/Client/Links/Link")
        self.assertTrue(links and links[0].get("rel"), r)

    def test_accept_star(self):
        r = self.api.get("/clients", self.token, accept="*/*")
        self.assertTrue(r.header("Content-Type").startswith(
            "application/json"), r)

    def test_accept_vendor_json(self):
        r = self.api.get("/clients", self.token,
                         accept="application/vnd.imgtec.clients+json")
        self.assertTrue(r.header("Content-Type").startswith(
            "application/vnd.imgtec.clients+json"), r)

    def test_entry_xml(self):
        r = self.api.get("/", accept="text/xml")
        self.assertEqual(r.status, 200, r)
        root = r.xml()
        self.assertEqual(root.tag, "APIEntryPoint")
        rels = [l.get("rel") for l in root.findall("Links/Link")]
        self.assertEqual(rels, ["authenticate", "versions"])

    def test_links_use_host_header(self):
        r = self.api.get("/", self.token, headers={"Host": "ds.example.com"})
        href = link(r.json(), "clients")
        self.assertEqual(urllib.parse.urlparse(href).netloc,
                         "ds.example.com", r)


if __name__ == "__main__":
    unittest.main()


class TestAdminBootstrap(unittest.TestCase):
    """Without LWDS_ADMIN_KEY, rest-api generates the admin key when
    organisation 0 has none; several instances starting at once against
    one Redis generate exactly one key between them."""

    REDIS_DB = 13
    INSTANCES = 3

    def setUp(self):
        self.redis = Redis(self.REDIS_DB)
        self.addCleanup(self.redis.close)
        self.redis.flush()
        self.svcs = []
        for _ in range(self.INSTANCES):
            svc = Services(self.redis, ("rest-api",))
            for name in ("LWDS_ADMIN_KEY", "LWDS_ADMIN_SECRET"):
                svc.env.pop(name, None)
            self.addCleanup(svc.cleanup)
            self.svcs.append(svc)

    def test_instances_starting_together_generate_one_key(self):
        threads = [threading.Thread(target=svc.start) for svc in self.svcs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for svc in self.svcs:
            svc.wait_ready()
        keys = self.redis.command("ZRANGE", "lwds:v2:org:{0}:accesskeys",
                                  "0", "-1")
        self.assertEqual(len(keys), 1, keys)
        printed = [re.findall(r"LWDS_ADMIN_(KEY|SECRET)=(\S+)",
                              svc.logs(400)) for svc in self.svcs]
        printed = [dict(p) for p in printed if p]
        self.assertEqual(len(printed), 1, "instances printing a key")
        self.assertEqual(printed[0]["KEY"], keys[0].decode())
        # the printed pair is usable on every instance
        for svc in self.svcs:
            token = svc.api().token(printed[0]["KEY"], printed[0]["SECRET"])
            self.assertTrue(token)
