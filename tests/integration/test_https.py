"""HTTPS for the REST API (issue 6): LWDS_TLS_CERT/LWDS_TLS_KEY, the
client-certificate mode (LWDS_TLS_CLIENT_CA), and the token lifecycle over
HTTPS: issue, refresh, refresh token refused as access token, expiry,
revocation by deleting the access key."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import hooksink
from lwdslib import Redis, Services, random_token, wait_until


def b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def make_pki(d):
    """CA, server certificate for 127.0.0.1 and a client certificate."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True,
                       capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
        "-out", "ca.crt", "-subj", "/CN=lwds test CA", "-days", "2")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"),
                      ("client", "extendedKeyUsage=clientAuth")):
        run("req", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext + "\n")
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt",
            "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", name + ".ext", "-out", name + ".crt")
    return {n: os.path.join(d, n) for n in
            ("ca.crt", "server.crt", "server.key", "client.crt",
             "client.key")}


class HttpsBase(unittest.TestCase):
    REDIS_DB = 10
    CLIENT_CA = False
    EXTRA = {}

    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl") is None:
            raise AssertionError("openssl missing")
        cls.dir = tempfile.mkdtemp(prefix="lwds-https-")
        cls.pki = make_pki(cls.dir)
        env = {"LWDS_TLS_CERT": cls.pki["server.crt"],
               "LWDS_TLS_KEY": cls.pki["server.key"]}
        if cls.CLIENT_CA:
            env["LWDS_TLS_CLIENT_CA"] = cls.pki["ca.crt"]
        env.update(cls.EXTRA)
        cls.redis = Redis(cls.REDIS_DB)
        cls.redis.flush()
        cls.svc = Services(cls.redis, ("rest-api",), env)
        cls.svc._http_up = cls.https_up
        try:
            cls.svc.start()
        except BaseException:
            cls.svc.cleanup()
            cls.redis.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.svc.cleanup()
        cls.redis.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def context(cls, client_cert=True):
        ctx = ssl.create_default_context(cafile=cls.pki["ca.crt"])
        if client_cert:
            ctx.load_cert_chain(cls.pki["client.crt"], cls.pki["client.key"])
        return ctx

    @classmethod
    def https_up(cls):
        try:
            return cls.request("GET", "/")[0] == 200
        except (OSError, ssl.SSLError):
            return False

    @classmethod
    def request(cls, method, path, token=None, body=None, ctype=None,
                client_cert=True):
        c = http.client.HTTPSConnection("127.0.0.1", cls.svc.http_port,
                                        timeout=5,
                                        context=cls.context(client_cert))
        h = {}
        if token:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, dict):
            body, ctype = json.dumps(body), "application/json"
        if ctype:
            h["Content-Type"] = ctype
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def token_pair(self, key, secret):
        s, b = self.request("POST", "/oauth/token", body=urllib.parse.
                            urlencode({"grant_type": "password",
                                       "username": key,
                                       "password": secret}),
                            ctype="application/x-www-form-urlencoded")
        self.assertEqual(s, 201, b)
        return json.loads(b)


class TestHttps(HttpsBase):
    def test_https_root_links_are_https(self):
        s, b = self.request("GET", "/")
        self.assertEqual(s, 200, b)
        self.assertIn(b'"https://127.0.0.1:', b)

    def test_plain_http_gets_no_answer(self):
        sock = socket.create_connection(("127.0.0.1", self.svc.http_port),
                                        5)
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(3)
            try:
                data = sock.recv(100)
            except (socket.timeout, ConnectionResetError):
                data = b""
        finally:
            sock.close()
        self.assertFalse(data.startswith(b"HTTP/1.1 200"), data)

    def test_pipelined_over_tls_answered_in_order(self):
        """Requests answered later (Redis) and at once, pipelined in one
        TLS write: every answer comes back, in order."""
        admin = self.token_pair(self.svc.admin_key, self.svc.admin_secret)
        auth = "Authorization: Bearer %s\r\n" % admin["access_token"]
        reqs = "".join(
            "GET %s HTTP/1.1\r\nHost: x\r\n%sX-Request-Id: tls-%d\r\n\r\n"
            % (path, a, i) for i, (path, a) in enumerate(
                [("/clients", auth), ("/versions", ""),
                 ("/accesskeys", auth), ("/clients/nosuchclient", auth)]))
        with socket.create_connection(("127.0.0.1", self.svc.http_port),
                                      5) as raw:
            with self.context().wrap_socket(
                    raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(reqs.encode())
                data = b""
                deadline = time.monotonic() + 10
                while data.count(b"X-Request-Id: tls-") < 4 \
                        and time.monotonic() < deadline:
                    tls.settimeout(max(0.1, deadline - time.monotonic()))
                    try:
                        got = tls.recv(65536)
                    except socket.timeout:
                        break
                    if not got:
                        break
                    data += got
        ids = re.findall(rb"X-Request-Id: (tls-\d)", data)
        status = re.findall(rb"HTTP/1.1 (\d+)", data)
        self.assertEqual(ids, [b"tls-0", b"tls-1", b"tls-2", b"tls-3"], data)
        self.assertEqual(status, [b"200", b"200", b"200", b"404"], data)

    def test_long_head_lines_refused_over_tls(self):
        """A 20 KB header line gets 431, a 9 KB URL 414, each with the
        JSON error and Connection: close, then the server closes; the
        next connection is served."""
        for req, status, code in [
                (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20480
                 + b"\r\n\r\n", b"431", b"RequestHeaderFieldsTooLarge"),
                (b"GET /" + b"u" * 9216 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"414", b"URITooLong")]:
            data = b""
            with socket.create_connection(("127.0.0.1", self.svc.http_port),
                                          5) as raw:
                with self.context().wrap_socket(
                        raw, server_hostname="127.0.0.1") as tls:
                    try:
                        tls.sendall(req)
                    except OSError:
                        pass  # refused before all was sent
                    tls.settimeout(10)
                    try:
                        while True:
                            got = tls.recv(65536)
                            if not got:
                                break
                            data += got
                    except (ConnectionResetError, ssl.SSLEOFError):
                        pass
            self.assertTrue(data.startswith(b"HTTP/1.1 " + status), data)
            self.assertIn(b"Connection: close\r\n", data)
            self.assertIn(b'"ErrorCode":"' + code + b'"', data)
            self.assertEqual(self.request("GET", "/")[0], 200)

    def test_old_tls_refused(self):
        ctx = self.context()
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises((ssl.SSLError, OSError)):
            with socket.create_connection(
                    ("127.0.0.1", self.svc.http_port), 5) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                    pass

    def test_token_lifecycle(self):
        admin = self.token_pair(self.svc.admin_key, self.svc.admin_secret)
        s, b = self.request("POST", "/accesskeys", admin["access_token"],
                            {"Name": "lifecycle"})
        self.assertEqual(s, 201, b)
        key = json.loads(b)
        pair = self.token_pair(key["Key"], key["Secret"])
        self.assertEqual(pair["expires_in"], 3600)
        at, rt = pair["access_token"], pair["refresh_token"]
        self.assertEqual(self.request("GET", "/clients", at)[0], 200)
        # a refresh token is not an access token
        self.assertEqual(self.request("GET", "/clients", rt)[0], 401)
        # refresh: a new pair; an access token is not a refresh token
        form = "application/x-www-form-urlencoded"
        s, b = self.request("POST", "/oauth/token", body=urllib.parse.
                            urlencode({"grant_type": "refresh_token",
                                       "refresh_token": rt}), ctype=form)
        self.assertEqual(s, 201, b)
        at2 = json.loads(b)["access_token"]
        self.assertEqual(self.request("GET", "/clients", at2)[0], 200)
        s, _ = self.request("POST", "/oauth/token", body=urllib.parse.
                            urlencode({"grant_type": "refresh_token",
                                       "refresh_token": at}), ctype=form)
        self.assertIn(s, (400, 401))
        # expiry: same claims, signed with the configured key
        claims = json.loads(base64.urlsafe_b64decode(
            at.split(".")[1] + "=="))
        sk = self.svc.env["LWDS_SIGNING_KEY"].encode()

        def forge(exp):
            c = dict(claims, exp=exp)
            head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
            body = b64(json.dumps(c, separators=(",", ":")).encode())
            sig = hmac.new(sk, (head + "." + body).encode(),
                           hashlib.sha256).digest()
            return head + "." + body + "." + b64(sig)
        self.assertEqual(self.request("GET", "/clients",
                                      forge(int(time.time()) + 600))[0], 200,
                         "forged valid token refused: forging is wrong")
        self.assertEqual(self.request("GET", "/clients",
                                      forge(int(time.time()) - 1))[0], 401)
        # revoke: deleting the access key ends its tokens
        s, _ = self.request("DELETE", "/accesskeys/" + key["Key"], at)
        self.assertEqual(s, 204)
        self.assertEqual(self.request("GET", "/clients", at2)[0], 401)
        s, _ = self.request("POST", "/oauth/token", body=urllib.parse.
                            urlencode({"grant_type": "refresh_token",
                                       "refresh_token": rt}), ctype=form)
        self.assertIn(s, (400, 401))


class TestHttpsClientCertificates(HttpsBase):
    REDIS_DB = 10
    CLIENT_CA = True

    def test_with_client_certificate(self):
        self.assertEqual(self.request("GET", "/")[0], 200)

    def test_without_client_certificate_refused(self):
        with self.assertRaises((ssl.SSLError, OSError,
                                http.client.HTTPException)):
            self.request("GET", "/", client_cert=False)


class TestRateLimit(HttpsBase):
    """LWDS_RATE_LIMIT per access key: 429 with Retry-After and a body
    naming the limit; another key is not affected."""

    EXTRA = {"LWDS_RATE_LIMIT": "2", "LWDS_RATE_BURST": "5"}

    def get(self, token):
        c = http.client.HTTPSConnection("127.0.0.1", self.svc.http_port,
                                        timeout=5, context=self.context())
        try:
            c.request("GET", "/clients",
                      headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            return r.status, r.getheader("Retry-After"), r.read()
        finally:
            c.close()

    def test_429_after_burst(self):
        admin = self.token_pair(self.svc.admin_key, self.svc.admin_secret)
        s, b = self.request("POST", "/accesskeys", admin["access_token"],
                            {"Name": "other"})
        self.assertIn(s, (201, 429), b)
        answers = [self.get(admin["access_token"]) for _ in range(12)]
        limited = [a for a in answers if a[0] == 429]
        self.assertTrue(limited, [a[0] for a in answers])
        self.assertTrue(all(a[0] in (200, 429) for a in answers), answers)
        status, retry, body = limited[0]
        self.assertGreaterEqual(int(retry), 1)
        self.assertIn(b"too many requests", body)
        if s == 201:
            k = json.loads(b)
            other = self.token_pair(k["Key"], k["Secret"])
            self.assertEqual(self.get(other["access_token"])[0], 200)
        time.sleep(1.2)
        self.assertEqual(self.get(admin["access_token"])[0], 200)


class TestHttpsHooks(unittest.TestCase):
    """lwds-webhook delivers to https hooks with the certificate verified
    against LWDS_WEBHOOK_CA_FILE, also many at once (keep-alive, pipelined),
    and dead-letters a hook whose certificate is not trusted."""

    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl") is None:
            raise AssertionError("openssl missing")
        cls.dir = tempfile.mkdtemp(prefix="lwds-https-hooks-")
        cls.pki = make_pki(cls.dir)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             "rogue.key", "-out", "rogue.crt", "-subj", "/CN=rogue",
             "-days", "2", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, cwd=cls.dir)
        cls.sinks = []
        for name in ("server", "rogue"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(cls.dir, name + ".crt"),
                                os.path.join(cls.dir, name + ".key"))
            cls.sinks.append(hooksink.Sink(ssl_context=ctx))
        cls.redis = Redis(10)
        cls.redis.flush()
        cls.svc = Services(cls.redis, ("webhook",), {
            "LWDS_WEBHOOK_CA_FILE": cls.pki["ca.crt"],
            "LWDS_WEBHOOK_MAX_RETRIES": "0"})
        try:
            cls.svc.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.svc.cleanup()
        cls.redis.close()
        for s in cls.sinks:
            s.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def queue(self, url, value):
        did = b64(os.urandom(16))
        job = {"v": 1, "id": did, "sub": b64(os.urandom(16)), "org": 0,
               "url": url, "ct": "application/json", "secret": "",
               "attempt": 0,
               "created": int(time.time() * 1000),
               "body": json.dumps({"Value": value})}
        self.redis.command("XADD", "lwds:v2:{deliveries}", "*", "job",
                           json.dumps(job))
        return did

    def test_verified_hook_gets_every_job(self):
        sink = self.sinks[0]
        ids = {self.queue(sink.url("/ok"), i) for i in range(200)}
        sink.wait_count("/ok", 200, timeout=60)
        got = {r[1]["X-Lwds-Delivery"] for r in sink.received("/ok")}
        self.assertEqual(got, ids)

    def test_untrusted_hook_is_dead_lettered(self):
        did = self.queue(self.sinks[1].url("/bad"), 1)

        def dead():
            for _, fields in self.redis.command(
                    "XRANGE", "lwds:v2:{deliveries}:dead", "-", "+"):
                f = dict(zip(fields[::2], fields[1::2]))
                if did.encode() in f.get(b"job", b""):
                    return f
            return None
        f = wait_until(dead, timeout=30, what="dead letter")
        self.assertIn(b"certificate verify failed", f[b"error"])
        self.assertEqual(self.sinks[1].received("/bad"), [])


if __name__ == "__main__":
    unittest.main()
