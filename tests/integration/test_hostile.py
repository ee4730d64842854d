"""Hostile input (issue 6): malformed, truncated, oversized and replayed
CoAP and DTLS datagrams and malformed HTTP.  Afterwards every service still
answers correctly (CoAP ping, a DTLS registration, GET /) and Redis holds
exactly what it held before."""

import os
import random
import socket
import struct
import subprocess
import threading
import time
import unittest

from lwdslib import (CON, OPT, CoapMessage, ServiceTestCase, uint_opt,
                     wait_until)

COAP_CLIENT = "coap-client-openssl"


def dtls_record(ctype, epoch, seq, body, version=b"\xfe\xfd"):
    return (bytes([ctype]) + version + struct.pack(">H", epoch)
            + seq.to_bytes(6, "big") + struct.pack(">H", len(body)) + body)


def client_hello(cookie=b"", suites=(0xC0A8, 0x00AE), cookie_len=None):
    """A DTLS 1.2 ClientHello record offering PSK suites."""
    body = (b"\xfe\xfd" + os.urandom(32) + b"\x00"
            + bytes([len(cookie) if cookie_len is None else cookie_len])
            + cookie + struct.pack(">H", 2 * len(suites))
            + b"".join(struct.pack(">H", s) for s in suites) + b"\x01\x00")
    hs = (b"\x01" + len(body).to_bytes(3, "big") + b"\x00\x00"
          + b"\x00\x00\x00" + len(body).to_bytes(3, "big") + body)
    return dtls_record(22, 0, 0, hs)


class UdpProxy:
    """Forwards one client's datagrams to target and records them."""

    def __init__(self, target):
        self.target = target
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.sent, self.client, self.stop = [], None, False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.front.getsockname()[1]

    def run(self):
        self.front.settimeout(0.05)
        self.back.settimeout(0.05)
        while not self.stop:
            try:
                data, addr = self.front.recvfrom(65535)
                self.client = addr
                self.sent.append(data)
                self.back.sendto(data, self.target)
            except socket.timeout:
                pass
            try:
                data, _ = self.back.recvfrom(65535)
                if self.client:
                    self.front.sendto(data, self.client)
            except socket.timeout:
                pass

    def replay(self):
        for d in self.sent:
            self.back.sendto(d, self.target)
            time.sleep(0.01)

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.front.close()
        self.back.close()


class TestHostile(ServiceTestCase):
    REDIS_DB = 11
    EXTRA_ENV = {"LWDS_DTLS_PSK_POLL_MS": "50"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        r = cls.api.post("/accesskeys", admin, {"Name": "hostile"})
        k = r.json()
        cls.tok = cls.api.token(k["Key"], k["Secret"])

    def setUp(self):
        self.dtls = ("127.0.0.1", self.svc.dtls_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(self.sock.close)

    # ---- helpers ---------------------------------------------------------

    def psk(self):
        for _ in range(30):
            r = self.api.post("/identities/psk", self.tok)
            self.assertEqual(r.status, 201, r)
            p = r.json()
            key = bytes.fromhex(p["Secret"])
            if b"\0" not in key:
                v = int(self.redis.command("GET", "lwds:v2:{psk}:version"))
                wait_until(lambda: "(version %d)" % v in
                           self.svc.logs(5000), what="PSK reload")
                return p["Identity"], key
        self.fail("no NUL-free key")

    def dtls_register(self, ident, key, port=None, wait=5):
        r = subprocess.run(
            [COAP_CLIENT.encode(), b"-m", b"post", b"-u", ident.encode(),
             b"-k", key, b"-B", str(wait).encode(), b"-e", b"</1/0>",
             b"coaps://127.0.0.1:%d/rd?ep=%s&lt=300"
             % (port or self.svc.dtls_port, ident.encode())],
            capture_output=True, timeout=wait + 20)
        return (r.stdout + r.stderr).decode(errors="replace")

    def assert_serving(self, before):
        self.assertEqual(self.redis.snapshot(), before,
                         "hostile input changed Redis")
        self.svc.check_running()
        c = self.svc.coap()
        try:
            self.assertTrue(c.ping(1), "gateway no longer answers ping")
        finally:
            c.close()
        self.assertEqual(self.api.get("/").status, 200)
        ident, key = self.psk()
        self.assertNotIn("4.", self.dtls_register(ident, key))
        rec = self.redis.hgetall("lwds:v2:client:{%s}" % ident)
        self.assertEqual(rec.get("sec"), "1", rec)

    def blast(self, addr, datagrams):
        for d in datagrams:
            self.sock.sendto(d, addr)
        time.sleep(0.3)

    # ---- DTLS ------------------------------------------------------------

    def test_dtls_garbage_truncated_oversized(self):
        before = self.redis.snapshot()
        rnd = random.Random(6)
        hello = client_hello()
        dgrams = [hello[:n] for n in range(0, len(hello), 7)]
        dgrams += [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1,
                   1400))) for _ in range(200)]
        dgrams += [b"\x16\xfe\xfd" + b"\xff" * 10 + b"\xff\xff",
                   client_hello(cookie_len=255),
                   client_hello(cookie=b"\x00" * 32),
                   client_hello(suites=()),
                   dtls_record(23, 1, 5, os.urandom(64)),
                   dtls_record(21, 0, 1, b"\x02\x28"),
                   dtls_record(22, 0, 0, b"\x01\xff\xff\xff" + b"\x00" * 8),
                   hello + hello + hello,
                   b"\x16" + os.urandom(8000)]
        self.blast(self.dtls, dgrams)
        self.assert_serving(before)

    def test_dtls_replayed_session(self):
        ident, key = self.psk()
        proxy = UdpProxy(self.dtls)
        self.addCleanup(proxy.close)
        out = self.dtls_register(ident, key, port=proxy.port)
        self.assertNotIn("4.", out)
        wait_until(lambda: self.redis.hgetall(
            "lwds:v2:client:{%s}" % ident).get("state") == "registered",
            what="registration through the proxy")
        time.sleep(0.3)
        before = self.redis.snapshot()
        proxy.replay()
        time.sleep(0.5)
        self.assertEqual(self.redis.snapshot(), before,
                         "a replayed DTLS session changed Redis")
        self.assert_serving(self.redis.snapshot())

    # ---- CoAP ------------------------------------------------------------

    def test_coap_replayed_register(self):
        """The same Register datagram (same MID and token) again.  Plain
        CoAP has no replay protection and the gateway does not cache its
        separate responses, so a replay after the answer re-registers the
        same endpoint: same client id, no new key, only the timestamps
        move.  (Over DTLS, replays are dropped: test_dtls_replayed_session.)
        """
        c = self.svc.coap()
        self.addCleanup(c.close)
        msg = CoapMessage(CON, 2, c.next_mid(), os.urandom(4),
                          [(OPT["Uri-Path"], b"rd"),
                           (OPT["Content-Format"], uint_opt(40)),
                           (OPT["Uri-Query"], b"ep=replayed"),
                           (OPT["Uri-Query"], b"lt=300")], b"</1/0>")
        r = c.exchange(msg)
        self.assertIsNotNone(r)
        self.assertEqual(r.code_str, "2.01", r)
        time.sleep(0.2)
        before = self.redis.snapshot()
        cid = r.location_path()[1]
        rec = self.redis.hgetall("lwds:v2:client:{%s}" % cid)
        for _ in range(5):
            c.send_raw(msg.encode())
        time.sleep(0.5)
        self.assertEqual(sorted(self.redis.snapshot()), sorted(before))
        after = self.redis.hgetall("lwds:v2:client:{%s}" % cid)
        for k in ("reg", "upd", "exp"):
            rec.pop(k, None)
            after.pop(k, None)
        self.assertEqual(after, rec)
        self.assert_serving(self.redis.snapshot())

    def test_coap_malformed_and_oversized(self):
        before = self.redis.snapshot()
        addr = ("127.0.0.1", self.svc.coap_port)
        rnd = random.Random(7)
        reg = (b"\x42\x02\x12\x34\xab\xcd\xb2rd\x4dep=hostile\xff"
               b"</1/0>")
        dgrams = [reg[:n] for n in range(len(reg))]
        dgrams += [b"\x40\x02\x00\x01" + b"\xdd\xff\xff" + b"x" * 20,
                   b"\x4f\x02\x00\x01", b"\x80\x02\x00\x01",
                   b"\x40\x02\x00\x01\xb2rd\x3d\xff" + b"q" * 300,
                   b"\x40\x02\x00\x01\xb2rd\xff" + b"<" * 1400,
                   b"\x40\x02\x00\x01\xb2rd\xff" + b"A" * 9000]
        dgrams += [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1,
                   1400))) for _ in range(200)]
        self.blast(addr, dgrams)
        self.assert_serving(before)

    # ---- HTTP ------------------------------------------------------------

    def raw_http(self, data):
        s = socket.create_connection(("127.0.0.1", self.svc.http_port), 5)
        try:
            s.sendall(data)
            s.settimeout(3)
            try:
                return s.recv(4096)
            except (socket.timeout, ConnectionResetError):
                return b""
        finally:
            s.close()

    def test_http_malformed(self):
        before = self.redis.snapshot()
        reqs = [b"\x00\x01\x02\r\n\r\n",
                b"GET\r\n\r\n",
                b"GET / HTTP/9.9\r\n\r\n",
                b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"b" * 70000
                + b"\r\n\r\n",
                b"POST /accesskeys HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: -5\r\n\r\n{}",
                b"POST /accesskeys HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 99999999999999999999\r\n\r\n{}",
                b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
                b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: "
                b"application/x-www-form-urlencoded\r\nContent-Length: 30"
                b"\r\n\r\ngrant_type=password&%zz=%00",
                b"GET /clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                b"a.b.c\r\n\r\n",
                b"GET /clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + b"e" * 20000 + b"\r\n\r\n"]
        for q in reqs:
            answer = self.raw_http(q)
            self.assertFalse(answer.startswith(b"HTTP/1.1 2"),
                             (q[:60], answer[:200]))
            self.assertNotIn(b" 500 ", answer[:20], (q[:60], answer[:200]))
        self.assert_serving(before)


class TestHttpLimits(ServiceTestCase):
    """Header-size, connection and early body limits of the REST API
    (api_server.c), with small limits."""

    REDIS_DB = 13
    SERVICES = ("rest-api",)
    MAX_CONNS = 6
    EXTRA_ENV = {"LWDS_HTTP_MAX_HEADER": "2048",
                 "LWDS_HTTP_MAX_CONNECTIONS": str(MAX_CONNS),
                 "LWDS_HTTP_MAX_BODY": "1000"}

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.svc.http_port), 5)
        self.addCleanup(s.close)
        return s

    def read_all(self, s, timeout=5):
        """Everything the server sends until it closes."""
        s.settimeout(timeout)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out
                out += chunk
        except ConnectionResetError:
            return out

    def status_of(self, answer):
        return int(answer.split(b" ", 2)[1]) if answer else 0

    def test_header_limit_431(self):
        s = self.connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" +
                  b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 100)
                           for i in range(40)) + b"\r\n")
        answer = self.read_all(s)
        self.assertEqual(self.status_of(answer), 431, answer[:300])
        self.assertIn(b"request headers larger than 2048 bytes", answer)
        self.assertIn(b"RequestHeaderFieldsTooLarge", answer)
        # just under the limit is served
        r = self.api.request("GET", "/", headers={"X-Pad": "q" * 1500})
        self.assertEqual(r.status, 200, r)

    def test_header_limit_unbounded_stream(self):
        """Headers that never end: refused once over the limit, the
        connection closed, not buffered."""
        s = self.connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        try:
            for i in range(200):
                s.sendall(b"X-%d: %s\r\n" % (i, b"z" * 50))
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = self.read_all(s)
        self.assertEqual(self.status_of(answer), 431, answer[:300])

    def test_body_refused_before_it_is_read(self):
        """Content-Length over LWDS_HTTP_MAX_BODY: 413 at once, although
        not one byte of the body was sent."""
        s = self.connect()
        s.sendall(b"POST /accesskeys HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: 5000000\r\n\r\n")
        answer = self.read_all(s)
        self.assertEqual(self.status_of(answer), 413, answer[:300])
        self.assertIn(b"request body larger than 1000 bytes", answer)
        self.assertEqual(self.api.get("/").status, 200)

    def hold(self, n):
        """n connections that each got 200 for GET /, or None (closed)."""
        held = []
        try:
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1",
                                              self.svc.http_port), 5)
                held.append(s)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                s.settimeout(5)
                if not s.recv(65536).startswith(b"HTTP/1.1 200"):
                    raise OSError("not served")
            return held
        except OSError:
            for s in held:
                s.close()
            return None

    def limit_holds(self):
        """MAX_CONNS connections served and one more refused with 503.
        False (and everything closed) when connections of earlier tests
        were still counted; the caller retries."""
        held = self.hold(self.MAX_CONNS)
        if held is None:
            return False
        try:
            extra = socket.create_connection(("127.0.0.1",
                                              self.svc.http_port), 5)
            try:
                self.answer = self.read_all(extra)
            finally:
                extra.close()
            return True
        finally:
            for s in held:
                s.close()

    def test_connection_limit_503(self):
        wait_until(self.limit_holds, 20, 0.2,
                   "%d connections served" % self.MAX_CONNS)
        self.assertEqual(self.status_of(self.answer), 503,
                         self.answer[:300])
        self.assertIn(b"too many connections", self.answer)
        self.assertIn(b"Retry-After: 1", self.answer)
        wait_until(lambda: self.try_get() == 200, 10, 0.1,
                   "served again after the held connections closed")

    def test_refused_then_reset_frees_the_connection(self):
        """Peers that announce a body over the limit and reset at once:
        their connections are freed, so more of them than
        LWDS_HTTP_MAX_CONNECTIONS do not lock the API out."""
        for _ in range(3 * self.MAX_CONNS):
            s = socket.create_connection(("127.0.0.1", self.svc.http_port),
                                         5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            s.sendall(b"POST /accesskeys HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 9999999\r\n\r\n")
            s.close()
        # all of them freed: MAX_CONNS connections are served again
        wait_until(lambda: self.release(self.hold(self.MAX_CONNS)), 20,
                   0.2, "%d connections served after %d reset ones"
                   % (self.MAX_CONNS, 3 * self.MAX_CONNS))

    @staticmethod
    def release(held):
        for s in held or ():
            s.close()
        return held is not None

    def try_get(self):
        try:
            return self.api.get("/").status
        except OSError:
            return 0


if __name__ == "__main__":
    unittest.main()
