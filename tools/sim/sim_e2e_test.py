#!/usr/bin/env python3
"""End-to-end test of lwds-sim over real UDP, with this script as the LwM2M
server: registration, reads, writes, create/delete, execute, observe with
`set`, mute, stats and de-registration on quit; CoAP ping, a separate
answer to an Update and a lost Update (retransmitted).  Runs twice: with
libcoap sessions (the default) and with --shared-sockets, which also
answers a retransmitted request from its cache.

Usage: sim_e2e_test.py PATH/TO/lwds-sim
"""
import json
import os
import random
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_rd import parse  # noqa: E402

CON, ACK, RST = 0, 2, 3
GET, POST, PUT, DELETE = 1, 2, 3, 4


def opt_bytes(num, value):
    return value if isinstance(value, bytes) else (
        value.encode() if isinstance(value, str) else
        (value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""))


def encode(typ, code, mid, token, opts, payload=b""):
    out = bytes([0x40 | (typ << 4) | len(token), code]) + mid.to_bytes(2, "big") + token
    prev = 0
    for num, value in sorted(opts, key=lambda o: o[0]):
        value = opt_bytes(num, value)
        delta, length, ext = num - prev, len(value), b""
        dn, ln = delta, length
        if delta >= 269:
            dn, ext = 14, (delta - 269).to_bytes(2, "big")
        elif delta >= 13:
            dn, ext = 13, bytes([delta - 13])
        if length >= 13:
            ln, ext = 13, ext + bytes([length - 13])
        out += bytes([(dn << 4) | ln]) + ext + value
        prev = num
    return out + (b"\xff" + payload if payload else b"")


class Server:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.mid = random.randint(0, 60000)
        self.clients = {}   # ep -> (addr, location)
        self.events = []    # (code, path, query) of client requests
        self.notes = []     # notifications (token, payload)
        self.forget = False # answer the next Update with 4.04
        self.update_mode = None  # "separate", "drop_first" for the next one
        self.seen = []      # (mid, code, path) of every request
        self.empties = []   # (type, mid) of empty messages

    def handle(self, msg, peer):
        typ, code, mid, token, opts, payload = parse(msg)
        if code >= 64:  # a response: returned to request()
            return typ, code, mid, token, opts, payload
        if code == 0:
            self.empties.append((typ, mid))
            return None
        path = "/".join(v.decode() for k, v in opts if k == 11)
        query = [v.decode() for k, v in opts if k == 15]
        self.seen.append((mid, code, path))
        if code == POST and path.startswith("rd/") and self.update_mode:
            if self.special_update(mid, token, peer):
                return None
        self.events.append((code, path, query))
        reply = [(8, b"rd"), (8, str(len(self.clients) + 1))]
        if code == POST and path == "rd":
            ep = [q[3:] for q in query if q.startswith("ep=")][0]
            self.clients[ep] = (peer, "rd/%d" % (len(self.clients) + 1))
            rc, ro = 65, reply
        elif code == POST and self.forget:
            self.forget = False
            rc, ro = 132, []
        else:
            rc, ro = (66 if code == DELETE else 68), []
        self.sock.sendto(encode(ACK, rc, mid, token, ro), peer)
        return None

    def special_update(self, mid, token, peer):
        """Drop the first copy of an Update, or answer it separately (an
        empty ACK, then a CON 2.04).  True when handled here."""
        if self.update_mode == "drop_first":
            if [m for m, _, _ in self.seen].count(mid) == 1:
                return True
            self.update_mode = None
            return False
        self.update_mode = None
        self.sock.sendto(encode(ACK, 0, mid, b"", []), peer)
        self.mid = (self.mid + 1) & 0xFFFF
        self.sep_mid = self.mid
        self.sock.sendto(encode(CON, 68, self.mid, token, []), peer)
        self.events.append((POST, "separate", []))
        return True

    def raw(self, ep, msg, timeout=2.0):
        """Send msg to ep; the first datagram back, raw."""
        self.sock.sendto(msg, self.clients[ep][0])
        self.sock.settimeout(timeout)
        try:
            return self.sock.recvfrom(65536)[0]
        except socket.timeout:
            return None

    def pump_until(self, cond, seconds=10.0):
        """Serve until cond() holds or the deadline passes."""
        end = time.time() + seconds
        while not cond() and time.time() < end:
            self.pump(0.1)
        return cond()

    def pump(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            self.sock.settimeout(max(0.01, end - time.time()))
            try:
                msg, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                return
            r = self.handle(msg, peer)
            if r is not None and r[1] == 69 and any(k == 6 for k, _ in r[4]):
                self.notes.append((r[3], r[5]))
                if r[0] == CON:  # a server that forgot the token: RST
                    self.sock.sendto(encode(3, 0, r[2], b"", []), peer)

    def request(self, ep, code, path, opts=(), payload=b"", timeout=2.0):
        self.mid = (self.mid + 1) & 0xFFFF
        token = os.urandom(4)
        o = [(11, seg) for seg in path.strip("/").split("/") if seg] + list(opts)
        self.sock.sendto(encode(CON, code, self.mid, token, o, payload),
                         self.clients[ep][0])
        end = time.time() + timeout
        while time.time() < end:
            self.sock.settimeout(max(0.01, end - time.time()))
            try:
                msg, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                break
            r = self.handle(msg, peer)
            if r is not None and r[3] == token and r[1] >= 64:
                return r[1], dict(r[4]), r[5]
        return None, {}, b""


def code(c):
    return "%d.%02d" % (c >> 5, c & 31) if c is not None else "none"


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what, flush=True)


def transport_checks(srv, command, shared):
    """Ping, a separate answer, a lost Update, and (shared sockets) a
    retransmitted request answered from the cache."""
    ping = srv.raw("sim-0", encode(CON, 0, 4242, b"", []))
    check(ping is not None and ping[0] >> 4 & 3 == RST and
          ping[2:4] == (4242).to_bytes(2, "big"), "CoAP ping gets RST")
    srv.update_mode = "separate"
    command("update sim-0")
    check(srv.pump_until(lambda: srv.update_mode is None and
                         (ACK, srv.sep_mid) in srv.empties),
          "a separate CON answer to an Update is acknowledged")
    srv.update_mode = "drop_first"
    command("update sim-0")

    def updates():
        return [m for m, c, p in srv.seen if p.startswith("rd/")]
    # retransmitted after ACK_TIMEOUT (2 to 3 s); answered this time
    check(srv.pump_until(lambda: srv.update_mode is None) and
          updates()[-1] == updates()[-2], "a lost Update is retransmitted")
    if not shared:
        return
    msg = encode(CON, GET, 777, b"\x07", [(11, "3"), (11, "0"), (11, "1"),
                                          (17, 0)])
    first, again = srv.raw("sim-0", msg), srv.raw("sim-0", msg)
    check(first is not None and first == again,
          "a retransmitted request gets the same answer")
    stats = json.loads(command("stats"))
    check(stats["shared"]["duplicates"] == 1 and
          stats["shared"]["retransmits"] >= 1, "shared socket counters")


def run(binary, shared):
    srv = Server()
    ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ctl.bind(("127.0.0.1", 0))
    ctl_port = ctl.getsockname()[1]
    ctl.close()
    extra = ["--shared-sockets", "--local-addrs", "127.79.0.1-127.79.0.2"]
    sim = subprocess.Popen([binary, "--server", "coap://127.0.0.1:%d" % srv.port,
                            "--count", "2", "--lwm2m", "1.0", "--no-stdin",
                            "--control-port", str(ctl_port), "--quiet"] +
                           (extra if shared else []),
                           stdout=subprocess.PIPE, text=True)
    print("# %s" % ("shared sockets" if shared else "libcoap sessions"),
          flush=True)
    cs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cs.settimeout(2)

    def command(line):
        cs.sendto(line.encode(), ("127.0.0.1", ctl_port))
        return cs.recvfrom(65536)[0].decode()

    try:
        srv.pump(2)
        check(set(srv.clients) == {"sim-0", "sim-1"}, "both clients registered")
        if shared:
            check({a for (a, _), _ in srv.clients.values()} ==
                  {"127.79.0.1", "127.79.0.2"}, "each from its own address")
        reg = [e for e in srv.events if e[0] == POST and e[1] == "rd"][0]
        check("lwm2m=1.0" in reg[2] and "lt=300" in reg[2], "register query")

        c, o, p = srv.request("sim-0", GET, "/3/0/2", [(17, 0)])
        check(code(c) == "2.05" and p == b"sim-0", "read serial number as text")
        transport_checks(srv, command, shared)
        c, o, p = srv.request("sim-0", GET, "/3/0")
        check(code(c) == "2.05" and o.get(12) == (11542).to_bytes(2, "big"),
              "1.0 client answers TLV by default")
        c, o, p = srv.request("sim-0", GET, "/3/0/4")
        check(code(c) == "4.05", "read of an executable is 4.05")
        c, o, p = srv.request("sim-0", GET, "/3/0", [(17, 50)])
        check(code(c) == "4.06", "unsupported Accept is 4.06")
        c, _, _ = srv.request("sim-0", PUT, "/3442/0/110", [(12, 0)], b"hello")
        c2, _, p = srv.request("sim-0", GET, "/3442/0/110", [(17, 0)])
        check(code(c) == "2.04" and p == b"hello", "write then read a string")
        c, _, _ = srv.request("sim-0", PUT, "/3/0/0", [(12, 0)], b"x")
        check(code(c) == "4.05", "write of a read-only resource is 4.05")
        c, _, _ = srv.request("sim-0", PUT, "/3442/0/120", [(12, 50)], b"1")
        check(code(c) == "4.15", "unsupported Content-Format is 4.15")
        c, o, _ = srv.request("sim-0", POST, "/3442")
        srv.pump(0.5)
        check(code(c) == "2.01", "create gives 2.01")
        check(any(e[0] == POST and e[1] == "rd/1" for e in srv.events),
              "create is followed by an Update")
        c, _, _ = srv.request("sim-0", DELETE, "/3442/1")
        check(code(c) == "2.02", "delete gives 2.02")
        c, _, _ = srv.request("sim-0", POST, "/5/0/2")
        check(code(c) == "4.05", "firmware update without a package is 4.05")
        c, _, _ = srv.request("sim-0", PUT, "/3303/0/5700",
                              [(15, "pmin=0"), (15, "st=5")])
        check(code(c) == "2.04", "write-attributes")
        c, _, p = srv.request("sim-0", GET, "/3303/0/5700", [(17, 40)])
        check(code(c) == "2.05" and b"st=5" in p, "discover shows attributes")
        c, o, _ = srv.request("sim-0", GET, "/3303/0/5700", [(6, 0), (17, 0)])
        check(code(c) == "2.05" and 6 in o, "observe accepted")
        check(command("set sim-0 /3303/0/5700 80").startswith("ok"), "set")
        srv.pump(0.5)
        check(any(p == b"80" for _, p in srv.notes), "notification after set")
        for i in range(25):
            command("set sim-0 /3303/0/5700 %d" % (i * 10))
            srv.pump(0.05)
        before = len(srv.notes)
        check(before >= 15, "a notification per change")
        command("set sim-0 /3303/0/5700 1")
        command("set sim-0 /3303/0/5700 99")
        srv.pump(0.3)
        check(len(srv.notes) == before, "RST to a CON notification cancels")
        check(command("mute sim-1 on").startswith("ok"), "mute")
        c, _, _ = srv.request("sim-1", GET, "/3/0/0", [(17, 0)], timeout=1)
        check(c is None, "muted client does not answer")
        command("mute sim-1 off")
        c, _, _ = srv.request("sim-1", GET, "/3/0/0", [(17, 0)])
        check(code(c) == "2.05", "unmuted client answers")
        check(command("fail sim-1 4.03").startswith("ok"), "fail")
        c, _, p = srv.request("sim-1", GET, "/3/0/0", [(17, 0)])
        check(code(c) == "4.03", "failing client answers the forced code")
        command("fail sim-1 off")
        check(command("fail sim-1 9.99").startswith("error"), "bad code")
        srv.forget = True
        n_reg = len([e for e in srv.events if e[1] == "rd"])
        command("update sim-1")
        srv.pump(0.5)
        check(len([e for e in srv.events if e[1] == "rd"]) == n_reg + 1,
              "an Update answered 4.04 makes the client register again")
        stats = json.loads(command("stats"))
        check(stats["observe_paths"].get("/3303/0/5700") == 1 and
              stats["ops"]["create"] == 1 and stats["reregistrations"] == 1,
              "stats counts")
        command("quit")
        srv.pump(1.5)
        dels = [e for e in srv.events if e[0] == DELETE and e[1].startswith("rd/")]
        check(len(dels) == 2, "both clients de-register on quit")
        out = sim.communicate(timeout=10)[0]
        check(sim.returncode == 0 and '"event":"ready"' in out and
              '"event":"summary"' in out, "ready and summary lines")
    finally:
        if sim.poll() is None:
            sim.kill()


def main():
    run(sys.argv[1], False)
    run(sys.argv[1], True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
