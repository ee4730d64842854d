"""Malformed CoAP and HTTP input gets precise errors, writes nothing and
leaves the services serving (issue 2)."""

import os
import struct
import unittest

from lwdslib import (CON, OPT, RST, CoapMessage, ServiceTestCase, uint_opt)


class MalformedBase(ServiceTestCase):
    def setUp(self):
        self.coap = self.svc.coap()
        self.addCleanup(self.coap.close)
        self.before = self.redis.snapshot()

    def assert_untouched_and_serving(self):
        """Redis holds the same lwds:* keys and values as before the test,
        and every service still answers."""
        self.assertEqual(self.redis.snapshot(), self.before,
                         "Redis changed by a rejected request")
        self.svc.check_running()
        fresh = self.svc.coap()
        try:
            self.assertTrue(fresh.ping(1), "gateway no longer answers ping")
        finally:
            fresh.close()
        self.assertEqual(self.api.get("/").status, 200)


class TestMalformedCoap(MalformedBase):
    REDIS_DB = 4

    def reg(self, query, payload=b"</1/0>", options=(), cf=40):
        return self.coap.request("POST", "rd", query=query, payload=payload,
                                 content_format=cf, options=options)

    def assert_error(self, r, codes=("4.00",)):
        self.assertIn(r.code_str, codes, r)
        self.assertTrue(r.payload, "no diagnostic payload: %r" % r)
        self.assert_untouched_and_serving()

    def test_missing_ep(self):
        self.assert_error(self.reg(["lt=60", "lwm2m=1.1"]))

    def test_empty_ep(self):
        self.assert_error(self.reg(["ep=", "lt=60"]))

    def test_lifetime_not_a_number(self):
        self.assert_error(self.reg(["ep=bad-lt", "lt=abc"]))

    def test_lifetime_negative(self):
        self.assert_error(self.reg(["ep=bad-lt2", "lt=-5"]))

    def test_lifetime_overflow(self):
        self.assert_error(self.reg(["ep=bad-lt3",
                                    "lt=99999999999999999999999"]))

    def test_broken_link_format(self):
        for payload in (b"</1/0", b"<1/0>", b"</1/0>;;,", b"</1/0>,</3/0",
                        b'</>;rt="oma.lwm2m', b"\xff\xfe</1/0>"):
            with self.subTest(payload=payload):
                self.assert_error(self.reg(["ep=bad-link"], payload))

    def test_bad_object_id(self):
        self.assert_error(self.reg(["ep=bad-oid"], b"</70000/0>,</3/x>"))

    @staticmethod
    def links(size):
        """A valid link-format payload of about size bytes (all distinct
        object instances)."""
        links = b",".join(b"</%d/%d>" % (3300 + i % 100, i)
                          for i in range(size // 6))
        return links[:size].rsplit(b",", 1)[0]

    def test_oversized_payload(self):
        # beyond the gateway's link-format limit (8 KiB): 4.13 or 4.00
        r = self.coap.exchange(CoapMessage(
            CON, 2, self.coap.next_mid(), b"\x05",
            [(OPT["Uri-Path"], b"rd"), (OPT["Uri-Query"], b"ep=huge"),
             (OPT["Content-Format"], uint_opt(40))], self.links(9000)),
            timeout=3)
        self.assertIsNotNone(r, "no answer to a 9000-byte registration")
        self.assert_error(r, ("4.00", "4.13"))

    def test_large_payload_never_truncated(self):
        # a valid 3000-byte payload fits a UDP datagram: it registers with
        # every link or is refused as too large, never parsed truncated
        payload = self.links(3000)
        r = self.coap.exchange(CoapMessage(
            CON, 2, self.coap.next_mid(), b"\x06",
            [(OPT["Uri-Path"], b"rd"), (OPT["Uri-Query"], b"ep=large"),
             (OPT["Content-Format"], uint_opt(40))], payload), timeout=3)
        self.assertIsNotNone(r, "no answer to a 3000-byte registration")
        if r.code_str == "2.01":
            cid = r.location_path()[1]
            objs = self.redis.hgetall("lwds:v2:client:{%s}" % cid)["objs"]
            self.assertEqual(objs.count("<"), payload.count(b"<"), objs)
        else:
            self.assert_error(r, ("4.13",))

    def test_oversized_datagram(self):
        # 60000 bytes, far beyond any CoAP receive buffer: an answer is
        # optional, but it is never a registration of what was cut off
        r = self.coap.exchange(CoapMessage(
            CON, 2, self.coap.next_mid(), b"\x07",
            [(OPT["Uri-Path"], b"rd"), (OPT["Uri-Query"], b"ep=huge2"),
             (OPT["Content-Format"], uint_opt(40))], self.links(60000)),
            timeout=2)
        if r is not None:
            self.assertIn(r.code_str, ("4.00", "4.13", "0.00"), r)
        self.assert_untouched_and_serving()

    def test_unknown_critical_option(self):
        # option 2049 is odd (critical) and unassigned
        r = self.reg(["ep=bad-opt"], options=[(2049, b"x")])
        self.assert_error(r, ("4.00", "4.02"))

    def test_unknown_elective_option_is_ignored(self):
        r = self.reg(["ep=elective-opt"], options=[(2050, b"x")])
        self.assertEqual(r.code_str, "2.01", r)

    def test_bad_content_format(self):
        self.assert_error(self.reg(["ep=bad-cf"], cf=50), ("4.00", "4.15"))

    def test_update_bad_id(self):
        r = self.coap.request("POST", "rd/not-a-valid-id!")
        self.assertIn(r.code_str, ("4.00", "4.04"), r)
        self.assert_untouched_and_serving()

    def test_truncated_header(self):
        for data in (b"\x40", b"\x40\x02", b"\x40\x02\x12"):
            with self.subTest(data=data):
                self.coap.send_raw(data)
        self.assert_untouched_and_serving()

    def test_token_length_too_long(self):
        # TKL 9 is a message format error: reset or silence, never a crash
        data = bytes([0x49, 0x02, 0x12, 0x34]) + os.urandom(9)
        r = self.coap.exchange(data, timeout=1)
        if r is not None:
            self.assertEqual(r.type, RST, r)
        self.assert_untouched_and_serving()

    def test_option_runs_past_end(self):
        msg = CoapMessage(CON, 2, 0x4321, b"\x01\x02").encode()
        data = msg + bytes([0xB2]) + b"r"  # Uri-Path of length 2, 1 byte
        r = self.coap.exchange(data, timeout=1)
        if r is not None:
            self.assertIn(r.type, (RST, 2), r)
        self.assert_untouched_and_serving()

    def test_reserved_option_nibble(self):
        msg = CoapMessage(CON, 2, 0x4322, b"\x03").encode()
        r = self.coap.exchange(msg + b"\xf1x", timeout=1)
        if r is not None:
            self.assertIn(r.code_str, ("0.00", "4.00", "4.02"), r)
        self.assert_untouched_and_serving()

    def test_random_garbage(self):
        rnd = __import__("random").Random(42)
        for _ in range(200):
            n = rnd.randint(0, 64)
            self.coap.send_raw(bytes(rnd.getrandbits(8) for _ in range(n)))
        self.assert_untouched_and_serving()

    def test_valid_register_after_garbage(self):
        self.coap.send_raw(b"\x40\x02")
        self.coap.send_raw(struct.pack("!BBH", 0x42, 0x02, 1))
        r = self.reg(["ep=after-garbage", "lt=60"])
        self.assertEqual(r.code_str, "2.01", r)
        token = self.admin_token()
        self.assertIn("after-garbage", self.names_listed(token))

    def test_query_without_value(self):
        # "Q" (queue mode) has no value: valid; "ep" without "=": invalid
        r = self.reg(["ep=flag-q", "lt=60", "Q"])
        self.assertEqual(r.code_str, "2.01", r)
        self.before = self.redis.snapshot()
        self.assert_error(self.reg(["ep"]))

    def test_uri_path_unknown(self):
        r = self.coap.request("POST", "nothing-here", query=["ep=x"])
        self.assertIn(r.code_str, ("4.04", "4.00", "4.05", "0.00"), r)
        self.assert_untouched_and_serving()

    def test_content_format_option_too_long(self):
        # a 4-byte Content-Format is a format error: 4.xx or a reset
        r = self.coap.request("POST", "rd", query=["ep=cf-long"],
                              payload=b"</1/0>",
                              options=[(OPT["Content-Format"],
                                        b"\x00\x00\x28\x00")])
        if r.type != RST:
            self.assertIn(r.code_str, ("4.00", "4.02", "4.15"), r)
        self.assert_untouched_and_serving()

    def test_accept_uint_helper(self):
        self.assertEqual(uint_opt(0), b"")
        self.assertEqual(uint_opt(40), b"\x28")


class TestMalformedHttp(MalformedBase):
    REDIS_DB = 5

    def setUp(self):
        super().setUp()
        self.token = self.admin_token()
        self.before = self.redis.snapshot()

    def test_bad_json(self):
        for body in ("{", "[1,2", '{"Name": }', "\x00\x01", "null", "42"):
            with self.subTest(body=body):
                r = self.api.post("/accesskeys", self.token, body,
                                  content_type="application/json")
                self.assertEqual(r.status, 400, r)
        self.assert_untouched_and_serving()

    def test_bad_json_error_body(self):
        r = self.api.post("/accesskeys", self.token, "{",
                          content_type="application/json")
        self.assertEqual(r.status, 400, r)
        self.assertTrue(r.body, "400 without a body")
        self.assertIn("ErrorCode", r.json(), r)

    def test_nul_escape_refused(self):
        """{"Name": "\\u0000x"} used to store an empty name (the C string
        ended at the NUL): refused with the reason; a backslash followed
        by the text u0000 is an ordinary string."""
        r = self.api.post("/accesskeys", self.token, '{"Name": "\\u0000x"}',
                          content_type="application/json")
        self.assertEqual(r.status, 400, r)
        self.assertIn("NUL", r.json()["ErrorDetails"])
        self.assert_untouched_and_serving()
        r = self.api.post("/accesskeys", self.token,
                          '{"Name": "\\\\u0000"}',
                          content_type="application/json")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["Name"], "\\u0000")

    def test_wrong_content_type(self):
        r = self.api.post("/accesskeys", self.token, '{"Name": "x"}',
                          content_type="text/plain")
        self.assertEqual(r.status, 415, r)
        self.assert_untouched_and_serving()

    def test_huge_body(self):
        body = b'{"Name": "' + b"a" * (8 << 20) + b'"}'
        try:
            r = self.api.post("/accesskeys", self.token, body,
                              content_type="application/json")
            self.assertEqual(r.status, 413, r)
        except (ConnectionResetError, BrokenPipeError):
            # the server may close after answering 413 mid-upload; the
            # API must still serve below
            pass
        self.assert_untouched_and_serving()

    def test_bad_client_ids(self):
        for cid in ("x", "AAAAAAAAAAAAAAAAAAAAAA", "%00", "a" * 300,
                    "!!!!!!!!!!!!!!!!!!!!!!"):
            with self.subTest(cid=cid):
                r = self.api.get("/clients/" + cid, self.token)
                self.assertIn(r.status, (400, 404), r)
                r = self.api.get("/clients/%s/objecttypes" % cid,
                                 self.token)
                self.assertIn(r.status, (400, 404), r)
        self.assert_untouched_and_serving()

    def test_unknown_client_id_404(self):
        from lwdslib import random_token
        r = self.api.get("/clients/" + random_token(16), self.token)
        self.assertEqual(r.status, 404, r)

    def test_unknown_routes(self):
        for path in ("/nothing", "/clients/x/y/z/w/v/u", "/oauth",
                     "/" + "a" * 4000):
            with self.subTest(path=path[:40]):
                r = self.api.get(path, self.token)
                self.assertEqual(r.status, 404, r)
        self.assert_untouched_and_serving()

    def test_bad_paging_values(self):
        for q in ("pageSize=-1", "startIndex=-5",
                  "pageSize=99999999999999999999", "startIndex=%ff"):
            with self.subTest(q=q):
                r = self.api.get("/clients?" + q, self.token)
                self.assertIn(r.status, (200, 400), r)
        self.assert_untouched_and_serving()

    def test_garbage_request(self):
        for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                    b"GET /clients HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: -1\r\n\r\n"):
            with self.subTest(raw=raw[:20]):
                try:
                    r = self.api.request("GET", "/", raw=raw)
                    self.assertGreaterEqual(r.status, 400, r)
                    self.assertLess(r.status, 500, r)
                except (ConnectionResetError, OSError,
                        __import__("http.client").client.HTTPException):
                    pass  # closing the connection is a fine answer
        self.assert_untouched_and_serving()

    def test_bad_token_form(self):
        r = self.api.post("/oauth/token", body=b"%%%&&&==",
                          content_type="application/x-www-form-urlencoded")
        self.assertEqual(r.status, 400, r)
        self.assert_untouched_and_serving()


if __name__ == "__main__":
    unittest.main()
