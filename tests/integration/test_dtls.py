"""CoAP over DTLS with PSK identities (issue 6; REST spec 3.2, 9.1):
identities created through the API are accepted by the gateway without a
restart, bind the client id, organisation and endpoint, and are refused
after revocation; wrong keys, unknown identities, another endpoint and
blacklisted clients are refused.  Peers: Debian's coap-client-openssl
(libcoap3-bin), openssl s_client (cipher suites) and lwds-sim."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import json

from hooksink import Sink
from lwdslib import (CON, METHODS, OPT, CoapMessage, ServiceTestCase, Sim,
                     link, path_of, uint_opt, wait_until)

COAP_CLIENT = "coap-client-openssl"
PAYLOAD = b"</1/0>,</3/0>"


def resumed(test, port, suite, *cred):
    """Two s_client handshakes, the second offering the first's session
    (-sess_out, -sess_in): the second must be an abbreviated one.  Returns
    the session file's path."""
    path = os.path.join(tempfile.mkdtemp(prefix="lwds-sess-"), "session")
    test.addCleanup(shutil.rmtree, os.path.dirname(path), True)
    first = s_client(port, suite, "-sess_out", path, *cred)
    test.assertIn("New, TLSv1.2", first, first)
    second = s_client(port, suite, "-sess_in", path, *cred)
    test.assertIn("Reused, TLSv1.2", second, second)
    return path


def s_client_send(port, suite, data, until, *cred):
    """s_client sending data (raw bytes) as application data, kept open
    until until() holds (or 15 s), then stopped; returns its output."""
    p = subprocess.Popen(["openssl", "s_client", "-dtls1_2", "-quiet",
                          "-ign_eof", "-connect", "127.0.0.1:%d" % port,
                          "-cipher", suite] + list(cred),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        p.stdin.write(data)
        p.stdin.flush()
        try:
            wait_until(until, 15, 0.1, "the effect of the data sent")
        except AssertionError:
            pass
    finally:
        p.kill()
        out = p.communicate()[0]
    return out.decode(errors="replace")


def s_client(port, suite, *cred):
    """One DTLS 1.2 handshake with openssl s_client; stdout + stderr."""
    r = subprocess.run(["openssl", "s_client", "-dtls1_2", "-connect",
                        "127.0.0.1:%d" % port, "-cipher", suite] +
                       list(cred), input=b"", capture_output=True,
                       timeout=20)
    return (r.stdout + r.stderr).decode(errors="replace")


class DeviceChecks:
    """A REST read and an Observe whose notifications reach a hook, with
    lwds-sim as the device over its DTLS session (mixed into both
    classes)."""

    def read_and_observe(self, sim, cid, serial):
        r = self.api.get("/clients/%s/objecttypes" % cid, self.tok)
        self.assertEqual(r.status, 200, r)
        hrefs = {int(i["ObjectTypeID"]): path_of(link(i, "instances"))
                 for i in r.json().get("Items", []) if link(i, "instances")}
        self.assertIn(3, hrefs, r)
        r = self.api.get(hrefs[3] + "/0", self.tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json().get("SerialNumber"), serial, r)
        sink = Sink()
        self.addCleanup(sink.close)
        r = self.api.post(hrefs[3303] + "/0/subscriptions", self.tok,
                          {"SubscriptionType": "Observation",
                           "Property": "5700", "Url": sink.url("/dtls")})
        self.assertEqual(r.status, 201, r)
        wait_until(lambda: "/3303/0/5700" in self.redis.hgetall(
            "lwds:v2:client:{%s}:observed" % cid), 15, 0.1, "observed")
        start = len(sim.lines)
        sim.send("set * /3303/0/5700 31.5")
        sim.wait_line(r"^ok", 5, start)

        def values():
            return [json.loads(b)["Items"][0]["Value"].get("SensorValue")
                    for _, _, b, _, _ in sink.received("/dtls")]
        wait_until(lambda: 31.5 in values(), 15, 0.1,
                   "the notification at the hook: %r" % (values(),))


class TestDtlsPsk(ServiceTestCase, DeviceChecks):
    REDIS_DB = 14
    EXTRA_ENV = {"LWDS_DTLS_PSK_POLL_MS": "50",
                 "LWDS_DEVICE_TIMEOUT_MS": "5000"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if shutil.which(COAP_CLIENT) is None:
            cls.tearDownClass()
            raise AssertionError(COAP_CLIENT + " missing (libcoap3-bin)")
        admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.admin = admin
        cls.orgs = []
        for name in ("dtls-a", "dtls-b"):
            r = cls.api.post("/accesskeys", admin, {"Name": name})
            if r.status != 201:
                cls.tearDownClass()
                raise AssertionError("POST /accesskeys: %r" % r)
            k = r.json()
            org = int(cls.redis.hgetall("lwds:v2:accesskey:" + k["Key"])
                      ["org"])
            cls.orgs.append((cls.api.token(k["Key"], k["Secret"]), org))
        cls.tok, cls.org = cls.orgs[0]
        cls.tok2, _ = cls.orgs[1]

    # ---- helpers ---------------------------------------------------------

    def dtls_url(self, path="rd", query=""):
        return "coaps://127.0.0.1:%d/%s%s" % (self.svc.dtls_port, path,
                                              query)

    def gateway_synced(self):
        """Wait until the gateway loaded the current identity table."""
        v = self.redis.command("GET", "lwds:v2:{psk}:version")
        v = int(v) if v else 0
        wait_until(lambda: "(version %d)" % v in self.svc.logs(5000),
                   timeout=10, what="gateway PSK reload to version %d" % v)

    def create_psk(self, token=None, body=None, usable=True):
        """POST /identities/psk; with usable, retry until the key has no
        NUL byte (coap-client takes the key as a C string argument)."""
        for _ in range(30):
            r = self.api.post("/identities/psk", token or self.tok, body)
            self.assertEqual(r.status, 201, r)
            psk = r.json()
            key = bytes.fromhex(psk["Secret"])
            if not usable or b"\0" not in key:
                self.gateway_synced()
                return psk, key
            self.api.delete(path_of(link(psk, "self")), token or self.tok)
        self.fail("no NUL-free key in 30 identities")

    def coap(self, identity, key, ep, method="post", path="rd", wait=5):
        """Run coap-client-openssl; returns its stdout + stderr."""
        query = "?ep=%s&lt=300" % ep if method == "post" and path == "rd" \
            else ""
        args = [COAP_CLIENT.encode(), b"-m", method.encode(),
                b"-u", identity.encode(), b"-k", key,
                b"-B", str(wait).encode(), b"-t", b"40"]
        if method == "post":
            args += [b"-e", PAYLOAD]
        args.append(self.dtls_url(path, query).encode())
        r = subprocess.run(args, capture_output=True, timeout=wait + 20)
        return (r.stdout + r.stderr).decode(errors="replace")

    def record(self, cid):
        return self.redis.hgetall("lwds:v2:client:{%s}" % cid)

    # ---- REST ------------------------------------------------------------

    def test_identities_links(self):
        r = self.api.get("/identities", self.tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(path_of(link(r.json(), "psk")), "/identities/psk")
        self.assertEqual(path_of(link(r.json(), "certificate")),
                         "/identities/certificates")

    def test_psk_create_shape(self):
        psk, _ = self.create_psk(usable=False)
        self.assertRegex(psk["Identity"], r"^[A-Za-z0-9_-]{22}$")
        self.assertRegex(psk["Secret"], r"^[0-9A-F]{64}$")
        self.assertEqual(path_of(link(psk, "self")),
                         "/identities/psk/" + psk["Identity"])
        r = self.api.get("/identities/psk/" + psk["Identity"], self.tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["Identity"], psk["Identity"])
        self.assertNotIn("Secret", r.json())
        r = self.api.get("/identities/psk?pageSize=1000", self.tok)
        self.assertEqual(r.status, 200, r)
        ids = [i["Identity"] for i in r.json().get("Items", [])]
        self.assertIn(psk["Identity"], ids)
        self.assertNotIn(psk["Secret"], r.body.decode())

    def test_psk_other_org_sees_nothing(self):
        psk, _ = self.create_psk(usable=False)
        path = "/identities/psk/" + psk["Identity"]
        self.assertEqual(self.api.get(path, self.tok2).status, 404)
        self.assertEqual(self.api.delete(path, self.tok2).status, 404)
        r = self.api.get("/identities/psk?pageSize=1000", self.tok2)
        self.assertNotIn(psk["Identity"], r.body.decode())
        self.assertEqual(self.api.get(path, self.tok).status, 200)

    def test_psk_admin_refused(self):
        r = self.api.post("/identities/psk", self.admin)
        self.assertEqual(r.status, 403, r)

    def test_psk_bad_endpoint_refused(self):
        r = self.api.post("/identities/psk", self.tok, {"Endpoint": "a b"})
        self.assertEqual(r.status, 400, r)

    def test_psk_unknown_is_404(self):
        r = self.api.get("/identities/psk/AAAAAAAAAAAAAAAAAAAAAA", self.tok)
        self.assertEqual(r.status, 404, r)
        r = self.api.get("/identities/psk/not-an-id", self.tok)
        self.assertEqual(r.status, 404, r)

    # ---- DTLS ------------------------------------------------------------

    def test_register_with_coap_client(self):
        psk, key = self.create_psk()
        cid = psk["Identity"]
        out = self.coap(cid, key, cid)
        self.assertNotIn("4.", out)
        rec = self.record(cid)
        self.assertEqual(rec.get("sec"), "1", (rec, out))
        self.assertEqual(rec.get("org"), str(self.org), rec)
        self.assertEqual(rec.get("ep"), cid, rec)
        r = self.api.get("/clients/" + cid, self.tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.api.get("/clients/" + cid, self.tok2).status,
                         404)

    def test_endpoint_mismatch_refused(self):
        psk, key = self.create_psk()
        cid = psk["Identity"]
        out = self.coap(cid, key, "someone-else")
        self.assertIn("4.03", out)
        self.assertNotIn("2.01", out)
        self.assertEqual(self.record(cid), {})
        self.assertEqual(self.redis.keys("lwds:v2:org:{*}:ep:someone-else"),
                         [])

    def test_bound_endpoint(self):
        psk, key = self.create_psk(body={"Endpoint": "meter-17"})
        self.assertEqual(psk.get("Endpoint"), "meter-17")
        cid = psk["Identity"]
        self.assertIn("4.03", self.coap(cid, key, cid))
        self.assertNotIn("4.", self.coap(cid, key, "meter-17"))
        self.assertEqual(self.record(cid).get("ep"), "meter-17")

    def test_wrong_key_refused(self):
        psk, key = self.create_psk()
        cid = psk["Identity"]
        bad = bytes([key[0] ^ 0x01 or 0x02]) + key[1:]
        self.coap(cid, bad, cid, wait=2)
        self.assertEqual(self.record(cid), {})

    def test_unknown_identity_refused(self):
        _, key = self.create_psk()
        cid = "AAAAAAAAAAAAAAAAAAAAAQ"
        self.coap(cid, key, cid, wait=2)
        self.assertEqual(self.record(cid), {})
        self.assertIn("unknown PSK identity", self.svc.logs(5000))

    def test_revoked_identity_refused(self):
        psk, key = self.create_psk()
        cid = psk["Identity"]
        self.assertNotIn("4.", self.coap(cid, key, cid))
        before = self.record(cid)
        self.assertEqual(before.get("state"), "registered", before)
        r = self.api.delete("/identities/psk/" + cid, self.tok)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.api.get("/identities/psk/" + cid,
                                      self.tok).status, 404)
        self.gateway_synced()
        # re-registration needs a new handshake, which fails
        self.redis.command("DEL", "lwds:v2:client:{%s}" % cid)
        self.coap(cid, key, cid, wait=2)
        self.assertEqual(self.record(cid), {})

    def test_blacklisted_client_refused(self):
        psk, key = self.create_psk()
        cid = psk["Identity"]
        self.assertNotIn("4.", self.coap(cid, key, cid))
        r = self.api.delete("/clients/" + cid, self.tok)
        self.assertEqual(r.status, 204, r)
        out = self.coap(cid, key, cid)
        self.assertIn("4.03", out)
        self.assertNotIn("2.01", out)

    def test_cipher_suites(self):
        """TLS_PSK_WITH_AES_128_CCM_8 and TLS_PSK_WITH_AES_128_CBC_SHA256
        both complete a DTLS 1.2 handshake (gw_dtls.c sets the list)."""
        if shutil.which("openssl") is None:
            self.fail("openssl missing")
        psk, _ = self.create_psk(usable=False)
        for suite in ("PSK-AES128-CCM8", "PSK-AES128-CBC-SHA256"):
            out = s_client(self.svc.dtls_port, suite, "-psk_identity",
                           psk["Identity"], "-psk", psk["Secret"])
            self.assertRegex(out, r"Cipher is %s" % re.escape(suite), out)
            self.assertRegex(out, r"Protocol\s*: DTLSv1.2", out)
            self.assertNotIn("alert", out)

    def test_session_resumed(self):
        """A PSK device that comes back (a new address or port) resumes
        its session with an abbreviated handshake."""
        psk, _ = self.create_psk(usable=False)
        cred = ("-psk_identity", psk["Identity"], "-psk", psk["Secret"])
        session = resumed(self, self.svc.dtls_port, "PSK-AES128-CCM8",
                          *cred)
        # the resumed session still names its identity: a Register on it
        # is bound to the PSK's endpoint (the PSK callback did not run)
        ep = psk["Identity"]
        register = CoapMessage(CON, METHODS["POST"], 7, b"\x01", [
            (OPT["Uri-Path"], b"rd"),
            (OPT["Content-Format"], uint_opt(40)),
            (OPT["Uri-Query"], ("ep=%s" % ep).encode()),
            (OPT["Uri-Query"], b"lt=300")], PAYLOAD).encode()
        out = s_client_send(self.svc.dtls_port, "PSK-AES128-CCM8", register,
                            lambda: self.record(ep).get("ep") == ep,
                            "-sess_in", session, *cred)
        self.assertEqual(self.record(ep).get("ep"), ep,
                         "%s\n%s" % (out, self.svc.logs()))

    def test_sim_registers_over_dtls(self):
        psk, key = self.create_psk(body={"Endpoint": "dtls-sim-0"},
                                   usable=False)
        cid = psk["Identity"]
        sim = Sim(["--server", self.dtls_url("").rstrip("/"),
                   "--psk-identity", cid, "--psk-key", psk["Secret"],
                   "--prefix", "dtls-sim-", "--count", "1", "--lifetime", "300"])
        self.addCleanup(sim.stop)
        sim.wait_line(Sim.READY, timeout=20)
        rec = self.record(cid)
        self.assertEqual(rec.get("sec"), "1", rec)
        self.assertEqual(rec.get("ep"), "dtls-sim-0", rec)
        self.assertEqual(self.api.get("/clients/" + cid, self.tok).status,
                         200)
        # a device read travels over the device's DTLS session
        r = self.api.get("/clients/%s/objecttypes" % cid, self.tok)
        self.assertEqual(r.status, 200, r)
        hrefs = {int(i["ObjectTypeID"]): path_of(link(i, "instances"))
                 for i in r.json().get("Items", []) if link(i, "instances")}
        self.assertIn(3, hrefs, r)
        r = self.api.get(hrefs[3] + "/0", self.tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json().get("SerialNumber"), "dtls-sim-0", r)
        self.read_and_observe(sim, cid, "dtls-sim-0")
        sim.stop()
        wait_until(lambda: self.record(cid).get("state") == "deregistered",
                   timeout=10, what="de-registration over DTLS")


class TestDtlsShards(TestDtlsPsk):
    """The PSK checks again with the DTLS port served by four libcoap
    contexts (LWDS_DTLS_SHARDS, one SO_REUSEPORT socket each): handshakes,
    the identity cache, refusals, and a device read and Observe over a
    session held by a shard (docs/coap-gw.md, bench/dtls/README.md)."""
    EXTRA_ENV = dict(TestDtlsPsk.EXTRA_ENV, LWDS_DTLS_SHARDS="4")

    def test_shards_listening(self):
        wait_until(lambda: "(4 shards)" in self.svc.logs(5000), timeout=10,
                   what="the gateway's DTLS shards line")


def pem_blocks(text):
    """{"EC PRIVATE KEY": "-----BEGIN...", ...} of a PEM bundle."""
    out = {}
    for m in re.finditer(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----",
                         text, re.S):
        out[m.group(1)] = m.group(0) + "\n"
    return out


class TestDtlsCertificates(ServiceTestCase, DeviceChecks):
    """Device certificates from POST /identities/certificates on the
    gateway's certificate port (spec 3.3, 3.4)."""

    REDIS_DB = 15

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        admin = cls.api.token(cls.svc.admin_key, cls.svc.admin_secret)
        cls.admin = admin
        r = cls.api.post("/accesskeys", admin, {"Name": "certs"})
        k = r.json()
        cls.org = int(cls.redis.hgetall("lwds:v2:accesskey:" + k["Key"])
                      ["org"])
        cls.tok = cls.api.token(k["Key"], k["Secret"])
        cls.dir = tempfile.mkdtemp(prefix="lwds-certs-")

    def issue(self):
        r = self.api.post("/identities/certificates", self.tok)
        self.assertEqual(r.status, 201, r)
        body = r.json()
        self.assertEqual(body["CertificateFormat"], "PEM")
        return body["RawCertificate"]

    def files(self, raw, name):
        blocks = pem_blocks(raw)
        key = os.path.join(self.dir, name + ".key")
        crt = os.path.join(self.dir, name + ".crt")
        with open(key, "w") as f:
            f.write(blocks["EC PRIVATE KEY"])
        with open(crt, "w") as f:
            f.write(blocks["CERTIFICATE"])
        return crt, key

    def subject(self, crt):
        out = subprocess.run(["openssl", "x509", "-in", crt, "-noout",
                              "-subject", "-nameopt", "sep_multiline"],
                             capture_output=True, text=True).stdout
        cn = re.search(r"CN=(\S+)", out).group(1)
        o = re.search(r"O=(\S+)", out).group(1)
        return cn, o

    def coap(self, crt, key, ep, wait=5, port=None):
        r = subprocess.run(
            [COAP_CLIENT, "-m", "post", "-c", crt, "-j", key, "-n",
             "-B", str(wait), "-t", "40", "-e", PAYLOAD.decode(),
             "coaps://127.0.0.1:%d/rd?ep=%s&lt=300"
             % (port or self.svc.dtls_port, ep)],
            capture_output=True, timeout=wait + 20)
        return (r.stdout + r.stderr).decode(errors="replace")

    @staticmethod
    def guid_to_id(guid):
        import base64
        h = guid.replace("-", "")
        b = bytes.fromhex(h)
        raw = b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def record(self, cid):
        return self.redis.hgetall("lwds:v2:client:{%s}" % cid)

    def ca_file(self):
        """The device CA certificate (no key) as a file."""
        ca = self.redis.command("GET", "lwds:v2:config:ca").decode()
        path = os.path.join(self.dir, "ca-only.crt")
        with open(path, "w") as f:
            f.write(pem_blocks(ca)["CERTIFICATE"])
        return path

    def test_cipher_suites(self):
        """ECDHE-ECDSA with AES-128-CCM_8 and AES-128-CBC-SHA256 on the
        same port as PSK."""
        crt, key = self.files(self.issue(), "suites")
        for suite in ("ECDHE-ECDSA-AES128-CCM8", "ECDHE-ECDSA-AES128-SHA256"):
            out = s_client(self.svc.dtls_port, suite, "-cert", crt, "-key",
                           key)
            self.assertRegex(out, r"Cipher is %s" % re.escape(suite), out)
            self.assertRegex(out, r"Protocol\s*: DTLSv1.2", out)
            self.assertNotIn("alert", out)

    def test_session_resumed(self):
        """A certificate device that comes back resumes its session."""
        crt, key = self.files(self.issue(), "resume")
        resumed(self, self.svc.dtls_port, "ECDHE-ECDSA-AES128-CCM8",
                "-cert", crt, "-key", key)

    def test_no_certificate_refused(self):
        """A certificate suite without a client certificate fails the
        handshake."""
        out = s_client(self.svc.dtls_port, "ECDHE-ECDSA-AES128-CCM8")
        self.assertIn("alert handshake failure", out)

    def test_second_port(self):
        """LWDS_DTLS_CERT_LISTEN is one more endpoint of the same
        context: certificates work there too."""
        crt, key = self.files(self.issue(), "second")
        cn, _ = self.subject(crt)
        self.assertNotIn("4.", self.coap(crt, key, cn,
                                         port=self.svc.dtls_cert_port))
        self.assertEqual(self.record(self.guid_to_id(cn)).get("sec"), "1")

    def test_sim_with_certificate(self):
        """lwds-sim --cert/--key/--ca registers, answers a REST read and
        sends notifications that reach a hook; the blacklisted client is
        refused afterwards.  The CN is given whole with --endpoint: one
        ending in a letter (as 6 in 16 do) cannot be --prefix + --first."""
        for _ in range(60):
            crt, key = self.files(self.issue(), "sim")
            cn, _ = self.subject(crt)
            if not cn[-1].isdigit():
                break
        self.assertFalse(cn[-1].isdigit(), cn)
        cid = self.guid_to_id(cn)
        sim = Sim(["--server", "coaps://127.0.0.1:%d" % self.svc.dtls_port,
                   "--cert", crt, "--key", key, "--ca", self.ca_file(),
                   "--endpoint", cn, "--lifetime", "300",
                   "--sensor-period", "3600000"])
        self.addCleanup(sim.stop)
        sim.wait_line(Sim.READY, timeout=20)
        rec = self.record(cid)
        self.assertEqual(rec.get("sec"), "1", rec)
        self.assertEqual(rec.get("ep"), cn, rec)
        self.read_and_observe(sim, cid, cn)
        sim.stop()
        wait_until(lambda: self.record(cid).get("state") == "deregistered",
                   timeout=10, what="de-registration over DTLS")
        self.assertEqual(self.api.delete("/clients/" + cid, self.tok).status,
                         204)
        out = self.coap(crt, key, cn)
        self.assertIn("4.03", out)
        self.assertNotIn("2.01", out)

    def test_sim_wrong_ca_refused(self):
        """--ca with another CA: lwds-sim refuses the gateway."""
        crt, key = self.files(self.issue(), "wrongca")
        other = os.path.join(self.dir, "other-ca.crt")
        okey = os.path.join(self.dir, "other-ca.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", okey, "-subj", "/CN=other",
                        "-days", "5", "-out", other], check=True,
                       capture_output=True)
        cn, _ = self.subject(crt)
        sim = Sim(["--server", "coaps://127.0.0.1:%d" % self.svc.dtls_port,
                   "--cert", crt, "--key", key, "--ca", other,
                   "--prefix", "x", "--count", "1"])
        self.addCleanup(sim.stop)
        sim.wait_line(r"no answer from the server", timeout=20)
        self.assertEqual(self.record(self.guid_to_id(cn)), {})

    def test_certificates_collection(self):
        r = self.api.get("/identities/certificates", self.tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(path_of(link(r.json(), "add")),
                         "/identities/certificates")
        r = self.api.post("/identities/certificates", self.admin)
        self.assertEqual(r.status, 403, r)

    def test_certificate_shape(self):
        raw = self.issue()
        order = [m.group(1) for m in
                 re.finditer(r"-----BEGIN ([A-Z ]+)-----", raw)]
        self.assertEqual(order, ["EC PRIVATE KEY", "PUBLIC KEY",
                                 "CERTIFICATE"])
        crt, _ = self.files(raw, "shape")
        cn, o = self.subject(crt)
        self.assertRegex(cn, r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
                             r"[0-9a-f]{4}-[0-9a-f]{12}$")
        self.assertEqual(o, str(self.org))
        text = subprocess.run(["openssl", "x509", "-in", crt, "-noout",
                               "-text"], capture_output=True,
                              text=True).stdout
        self.assertIn("CA:FALSE", text)
        self.assertIn("prime256v1", text)
        self.assertIn("TLS Web Client Authentication", text)

    def test_register_with_certificate(self):
        crt, key = self.files(self.issue(), "dev")
        cn, _ = self.subject(crt)
        cid = self.guid_to_id(cn)
        out = self.coap(crt, key, cn)
        self.assertNotIn("4.", out)
        rec = self.record(cid)
        self.assertEqual(rec.get("sec"), "1", (rec, out))
        self.assertEqual(rec.get("org"), str(self.org), rec)
        self.assertEqual(rec.get("ep"), cn, rec)
        self.assertEqual(self.api.get("/clients/" + cid, self.tok).status,
                         200)

    def test_certificate_endpoint_mismatch_refused(self):
        crt, key = self.files(self.issue(), "mismatch")
        cn, _ = self.subject(crt)
        out = self.coap(crt, key, "not-" + cn)
        self.assertIn("4.03", out)
        self.assertEqual(self.record(self.guid_to_id(cn)), {})

    def test_self_signed_refused(self):
        crt, key = self.files(self.issue(), "self")
        cn = "8a39d904-f7a2-44bc-9917-e5e255b1bdf7"
        own = os.path.join(self.dir, "selfsigned.crt")
        subprocess.run(["openssl", "req", "-x509", "-new", "-key", key,
                        "-subj", "/CN=%s/O=%d" % (cn, self.org), "-days",
                        "5", "-out", own], check=True, capture_output=True)
        self.coap(own, key, cn, wait=2)
        self.assertEqual(self.record(self.guid_to_id(cn)), {})

    def test_expired_refused(self):
        """A certificate from the right CA whose validity ended."""
        crt, key = self.files(self.issue(), "exp")
        ca = self.redis.command("GET", "lwds:v2:config:ca").decode()
        blocks = pem_blocks(ca)
        cafile = os.path.join(self.dir, "ca.crt")
        cakey = os.path.join(self.dir, "ca.key")
        with open(cafile, "w") as f:
            f.write(blocks["CERTIFICATE"])
        with open(cakey, "w") as f:
            f.write(blocks["EC PRIVATE KEY"])
        cn = "0d2b5c61-5bd1-4d8e-8f43-2f1c8e2a9b10"
        csr = os.path.join(self.dir, "exp.csr")
        subprocess.run(["openssl", "req", "-new", "-key", key, "-subj",
                        "/CN=%s/O=%d" % (cn, self.org), "-out", csr],
                       check=True, capture_output=True)
        conf = os.path.join(self.dir, "ca.cnf")
        db = os.path.join(self.dir, "index.txt")
        open(db, "w").close()
        with open(conf, "w") as f:
            f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s\n"
                    "new_certs_dir=%s\nserial=%s\ndefault_md=sha256\n"
                    "policy=p\n[p]\ncommonName=supplied\n"
                    "organizationName=supplied\n"
                    % (db, self.dir, os.path.join(self.dir, "serial")))
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("01\n")
        old = os.path.join(self.dir, "expired.crt")
        subprocess.run(["openssl", "ca", "-batch", "-config", conf,
                        "-cert", cafile, "-keyfile", cakey, "-in", csr,
                        "-out", old, "-startdate", "20200101000000Z",
                        "-enddate", "20200201000000Z", "-notext"],
                       check=True, capture_output=True)
        self.coap(old, key, cn, wait=2)
        self.assertEqual(self.record(self.guid_to_id(cn)), {})


if __name__ == "__main__":
    unittest.main()
