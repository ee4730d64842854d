"""What the services log at the operators' level (info) during ordinary
traffic: only lines in their log format (no library printing on its own:
libevhtp's "ODDITY, resuming when not paused", libcoap's own handler),
nothing at warning or err, libcoap's messages through the log at mapped
levels, no line per message, and each of a service's Redis connections
named once (docs/deployment.md, "Logs and request ids").  Every other module checks the first point when it stops its
services (lwdslib.close_log_dir)."""

import os
import re
import socket
import threading
import time

from lwdslib import CON, RST, CoapMessage, ServiceTestCase, foreign_lines

EP = "log-dev-1"


class TestOperatorLog(ServiceTestCase):
    REDIS_DB = 14
    EXTRA_ENV = {"LWDS_LOG_LEVEL": "info"}

    def pipelined(self, token):
        """Four requests in one write, answered later (Redis) and at once
        alternately: the pipelining that made libevhtp print ODDITY."""
        auth = "Authorization: Bearer %s\r\n" % token
        reqs = "".join(
            "GET %s HTTP/1.1\r\nHost: x\r\n%sX-Request-Id: log-%d\r\n\r\n"
            % (path, a, i) for i, (path, a) in enumerate(
                [("/clients", auth), ("/versions", ""),
                 ("/clients/nosuchclient", auth), ("/versions", "")]))
        data = b""
        with socket.create_connection(("127.0.0.1", self.svc.http_port),
                                      5) as s:
            s.sendall(reqs.encode())
            deadline = time.monotonic() + 10
            while data.count(b"X-Request-Id: log-") < 4 \
                    and time.monotonic() < deadline:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                got = s.recv(65536)
                if not got:
                    break
                data += got
        self.assertEqual(re.findall(rb"HTTP/1.1 (\d+)", data),
                         [b"200", b"200", b"404", b"200"], data)

    def read_answered_with_rst(self, token, c, cid):
        """A REST read the device answers with RST (as a device that
        rebooted does): libcoap logs it as an alert."""
        r = self.api.get("/objecttypes/definitions?pageSize=1000", token)
        did = [d["ObjectDefinitionID"] for d in r.json()["Items"]
               if int(d["ObjectID"]) == 3][0]
        result = {}
        t = threading.Thread(target=lambda: result.update(r=self.api.get(
            "/clients/%s/objecttypes/%s/instances/0" % (cid, did), token)))
        t.start()
        try:
            msg = None
            deadline = time.monotonic() + 10
            while msg is None and time.monotonic() < deadline:
                m = c.recv(1)
                if m is not None and m.type == CON and m.code != 0:
                    msg = m
            self.assertIsNotNone(msg, "the gateway's read request")
            c.send_raw(CoapMessage(RST, 0, msg.mid).encode())
        finally:
            t.join(30)
        self.assertIn("r", result)
        self.assertGreaterEqual(result["r"].status, 400, result["r"])

    def test_ordinary_traffic_logs_only_what_operators_need(self):
        token = self.admin_token()
        c, _, cid = self.register(EP, lt=300)
        r = c.request("POST", "rd/" + cid, query=["lt=300"])
        self.assertEqual(r.code_str, "2.04", r)
        # a datagram whose option runs past its end: libcoap warns
        c.send_raw(b"\x40\x01\x12\x34\xd1")
        self.assertTrue(c.ping(), "the gateway still answers")
        self.pipelined(token)
        self.read_answered_with_rst(token, c, cid)
        self.svc.stop()

        self.assertEqual(foreign_lines(self.svc.logdir), [])
        lines = []
        for name in self.svc.names:
            with open(os.path.join(self.svc.logdir, name + ".log")) as f:
                lines += f.read().splitlines()
        loud = [l for l in lines if re.search(r"Z \S+ (err|warning) ", l)]
        self.assertEqual(loud, [], "warnings during ordinary traffic")
        self.assertTrue(any(re.search(r"Z coap-gw info libcoap: .*malformed",
                                      l) for l in lines),
                        "libcoap's warning about the datagram, at info")
        self.assertFalse(any("got RST" in l for l in lines),
                         "libcoap's RST alert is debug")
        self.assertFalse(any(re.search(r"Z coap-gw \S+ updated ", l)
                             for l in lines), "an update is debug")
        # the broker's two Redis connections say which is which
        self.assertEqual(
            sorted(l.split(" ", 1)[1] for l in lines
                   if re.search(r"Z broker \S+ redis.*: connected$", l)),
            ["broker notice redis (events reader): connected",
             "broker notice redis: connected"])
