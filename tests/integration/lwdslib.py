"""lwdslib - helpers for the lwds integration tests (Python standard library).

Pieces:
  free_port()             a free loopback TCP or UDP port
  Redis                   a private redis-server (or the one in
                          LWDS_TEST_REDIS_URL) and a tiny RESP client
  Services                the four daemons, started from the build
                          directory with per-test settings, stopped cleanly;
                          cleanup() fails when a service wrote a line that
                          is not in its log format (close_log_dir)
  Api                     an HTTP client for the REST API (tokens, JSON, XML)
  CoapMessage, CoapClient hand-made CoAP encoding and a UDP client, so tests
                          can send exactly the bytes they want
  Sim                     control of tools/sim/lwds-sim over stdin/stdout

Environment:
  LWDS_BUILD_DIR        build directory holding the binaries (default: build)
  LWDS_TEST_REDIS_URL   redis://host:port of a running server; without it a
                        private redis-server is started (tests FAIL, never
                        skip, when none can be had)
  LWDS_TEST_REDIS_CLUSTER  1: that server runs in cluster mode (database 0
                        only, no SELECT; test_redis_cluster.py sets it)
  LWDS_TEST_LOG_DIR     keep every service log of the run: each set of
                        services logs in its own directory under this one,
                        which is not removed afterwards (default: temporary
                        directories, removed)
"""

import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def build_dir():
    """The build directory: LWDS_BUILD_DIR, relative to the repo root."""
    d = os.environ.get("LWDS_BUILD_DIR", "build")
    return d if os.path.isabs(d) else os.path.join(ROOT, d)


BINARIES = {
    "coap-gw": "services/coap-gw/lwds-coap-gw",
    "rest-api": "services/rest-api/lwds-rest-api",
    "broker": "services/broker/lwds-broker",
    "webhook": "services/webhook/lwds-webhook",
    "sim": "tools/lwds-sim",
}


def binary(name):
    """Absolute path of a built executable; fails the test if it is absent."""
    path = os.path.join(build_dir(), BINARIES[name])
    if not os.access(path, os.X_OK):
        raise AssertionError("%s not built (looked for %s)" % (name, path))
    return path


def log_dir(prefix):
    """A new directory for the logs of one set of services: under
    LWDS_TEST_LOG_DIR when it is set (kept), else a temporary one."""
    keep = os.environ.get("LWDS_TEST_LOG_DIR")
    if keep:
        os.makedirs(keep, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=keep or None)


def drop_log_dir(path):
    """Remove a directory of log_dir, unless LWDS_TEST_LOG_DIR keeps it."""
    if not os.environ.get("LWDS_TEST_LOG_DIR"):
        shutil.rmtree(path, ignore_errors=True)


# A line of lwm2m_log: "2026-11-25T11:20:03.123Z coap-gw notice ..." or,
# with LWDS_LOG_JSON=1, {"ts":"...","svc":...}.  A service writes nothing
# else: any other line is a library printing on its own (libevhtp's
# "ODDITY", libcoap's own handler), a message with a raw newline in it, or
# a crash report, and an operator reading the log cannot place it.
LOG_LINE = re.compile(
    rb'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [a-z0-9-]+ '
    rb'(err|warning|notice|info|debug) |\{"ts":"[^"]*","svc":")')


def foreign_lines(logdir):
    """The lines of the *.log files in logdir that are not lwm2m_log's, as
    'file: line'."""
    out = []
    for name in sorted(os.listdir(logdir)):
        if not name.endswith(".log"):
            continue
        with open(os.path.join(logdir, name), "rb") as f:
            for line in f.read().splitlines():
                if not LOG_LINE.match(line):
                    out.append("%s: %s" % (name, line.decode(
                        errors="replace")))
    return out


def close_log_dir(path):
    """Drop the log directory path (drop_log_dir) of services that have
    stopped, after failing if they wrote a line that is not lwm2m_log's
    (foreign_lines)."""
    try:
        bad = foreign_lines(path) if os.path.isdir(path) else []
    finally:
        drop_log_dir(path)
    if bad:
        raise AssertionError("services wrote %d lines outside their log "
                             "format:\n%s" % (len(bad), "\n".join(bad[:10])))


# The ports free_port hands out lie below the kernel's ephemeral range
# (net.ipv4.ip_local_port_range, 32768-60999 by default), so that no
# outgoing connection (a service's Redis client, nginx's upstreams, another
# test's) can take one between the choice and the service's bind, as the
# kernel's own choice of a free port (bind to 0) allowed; and below
# lwds-sim's fixed ports (20000 up, with --local-addrs).  A process never
# gets the same port twice.
FREE_PORTS = (10000, 19999)
_ports_given = set()


def free_port(kind="tcp"):
    """A loopback port that is free right now (TCP, or UDP with 'udp')."""
    t = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    for _ in range(1000):
        port = random.randint(*FREE_PORTS)
        if port in _ports_given:
            continue
        with socket.socket(socket.AF_INET, t) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError("no free port in %d-%d" % FREE_PORTS)


def listening_ports(pid):
    """The TCP ports process pid listens on (IPv4 and IPv6), from its
    descriptors and /proc/net/tcp{,6}."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            # st 0A is LISTEN; cols[9] is the socket's inode
            if cols[3] == "0A" and cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def random_token(nbytes=64):
    """URL-safe base64 without padding of nbytes random bytes."""
    import base64
    raw = base64.urlsafe_b64encode(os.urandom(nbytes)).decode()
    return raw.rstrip("=")


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a true value; return it or fail."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                         % (timeout, what, last))


# --------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------

_ESC = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b",
        '"': b'"', "\\": b"\\"}


def parse_monitor(line):
    """(client, [args as bytes]) of one MONITOR line, or None."""
    m = re.match(r'^\+?[\d.]+ \[\d+ ([^\]]+)\] (.*)$', line)
    if not m:
        return None
    client, rest, args, i = m.group(1), m.group(2), [], 0
    while i < len(rest):
        if rest[i] != '"':
            i += 1
            continue
        i, cur = i + 1, bytearray()
        while rest[i] != '"':
            if rest[i] == "\\":
                c = rest[i + 1]
                if c == "x":
                    cur += bytes([int(rest[i + 2:i + 4], 16)])
                    i += 4
                    continue
                cur += _ESC.get(c, c.encode())
                i += 2
                continue
            cur += rest[i].encode("latin-1", "replace")
            i += 1
        args.append(bytes(cur))
        i += 1
    return client, args


class Monitor(threading.Thread):
    """MONITOR on its own connection, every line appended to a list."""

    def __init__(self, host, port):
        super().__init__(daemon=True)
        self.sock = socket.create_connection((host, port))
        self.sock.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
        self.lines = []

    def run(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                return
            if not data:
                return
            buf += data
            *done, buf = buf.split(b"\r\n")
            self.lines.extend(d.decode("utf-8", "replace") for d in done)

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.join(10)
        self.sock.close()


class RedisError(Exception):
    pass


class Redis:
    """A redis-server for the tests and a minimal RESP client.

    Uses LWDS_TEST_REDIS_URL when set, otherwise starts redis-server on a
    free loopback port in a temporary directory.  db selects the logical
    database, so test modules running in parallel do not share keys.
    """

    def __init__(self, db=0, cluster=None):
        """cluster: start a cluster-mode server owning every slot (a single
        master); None follows LWDS_TEST_REDIS_CLUSTER.  Cluster mode has
        database 0 only."""
        if cluster is None:
            cluster = os.environ.get("LWDS_TEST_REDIS_CLUSTER") == "1"
        self.cluster = cluster
        self.db = 0 if cluster else db
        self.proc = None
        self.tmp = None
        url = os.environ.get("LWDS_TEST_REDIS_URL")
        if url:
            u = urllib.parse.urlparse(url)
            self.host, self.port = u.hostname or "127.0.0.1", u.port or 6379
        else:
            self._start()
        self.sock = None
        self._buf = b""
        self._connect()
        if cluster and self.proc is not None:
            self._own_all_slots()

    def _own_all_slots(self):
        self.command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        wait_until(lambda: b"cluster_state:ok" in
                   self.command("CLUSTER", "INFO"), 15, 0.1,
                   "cluster_state:ok")

    def _start(self):
        exe = shutil.which("redis-server")
        if not exe:
            raise AssertionError("redis-server not found: install it "
                                 "(./lwds test does) or set "
                                 "LWDS_TEST_REDIS_URL")
        self.tmp = tempfile.mkdtemp(prefix="lwds-redis-")
        self.host, self.port = "127.0.0.1", free_port()
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", self.tmp, "--save", "", "--appendonly", "no",
             "--protected-mode", "no"] +
            # the cluster bus port defaults to port + 10000, which may be
            # taken or above 65535: a free one of its own
            (["--cluster-enabled", "yes", "--cluster-config-file",
              os.path.join(self.tmp, "nodes.conf"), "--cluster-port",
              str(free_port())] if self.cluster else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _connect(self):
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.create_connection((self.host, self.port),
                                                     timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("cannot reach redis at %s:%d"
                                         % (self.host, self.port))
                time.sleep(0.05)
        if not self.cluster:
            self.command("SELECT", self.db)

    @property
    def url(self):
        if self.cluster:
            return "redis://%s:%d" % (self.host, self.port)
        return "redis://%s:%d/%d" % (self.host, self.port, self.db)

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _line(self):
        while b"\r\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RedisError("connection closed")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self._buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RedisError("connection closed")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RedisError("bad reply %r" % line)

    def command(self, *args):
        """Send one command, return its decoded reply (bytes for bulk)."""
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(parts))
        return self._reply()

    def flush(self):
        self.command("FLUSHDB")

    def keys(self, pattern="lwds:*"):
        return sorted(k.decode() for k in self.command("KEYS", pattern))

    def info(self, section):
        """INFO section as a dict of field -> text value."""
        text = self.command("INFO", section).decode()
        return dict(line.split(":", 1) for line in text.splitlines()
                    if ":" in line and not line.startswith("#"))

    def hgetall(self, key):
        flat = self.command("HGETALL", key) or []
        return {flat[i].decode(): flat[i + 1].decode()
                for i in range(0, len(flat), 2)}

    def snapshot(self, pattern="lwds:*", ignore=(r"^lwds:v2:gw:",)):
        """Every matching key with its serialised value (DUMP), minus the
        keys a running gateway refreshes on its own."""
        out = {}
        for k in self.keys(pattern):
            if any(re.search(p, k) for p in ignore):
                continue
            if self.command("TYPE", k) == "stream":
                # the entries, not the consumer groups' positions, which
                # the broker and the dispatcher move in the background
                out[k] = repr(self.command("XRANGE", k, "-", "+"))
                continue
            out[k] = self.command("DUMP", k)
        return out


# --------------------------------------------------------------------------
# The services
# --------------------------------------------------------------------------

def _http_answers(host, port):
    """True when GET /health on host:port gets any HTTP answer."""
    try:
        c = http.client.HTTPConnection(host, port, timeout=1)
        c.request("GET", "/health")
        c.getresponse().read()
        c.close()
        return True
    except OSError:
        return False


class Services:
    """The four lwds daemons with one test's settings.

    Settings that tests pass: LWDS_REDIS_URL, LWDS_ADMIN_KEY,
    LWDS_ADMIN_SECRET, LWDS_HTTP_LISTEN, LWDS_COAP_LISTEN, LWDS_GW_ID,
    LWDS_GW_RPC_URL, LWDS_EVENTS_URL, LWDS_SIGNING_KEY,
    LWDS_WEBHOOK_HEALTH_ADDR, LWDS_BROKER_HEALTH_ADDR, LWDS_API_HEALTH_ADDR
    and whatever a test adds in env.
    """

    ALL = ("coap-gw", "rest-api", "broker", "webhook")

    def __init__(self, redis, names=ALL, env=None):
        self.redis = redis
        self.names = names
        self.http_port = free_port()
        self.coap_port = free_port("udp")
        self.dtls_port = free_port("udp")
        self.dtls_cert_port = free_port("udp")
        self.admin_key = random_token()
        self.admin_secret = random_token()
        self.gw_id = "test-gw-%d" % os.getpid()
        self.logdir = log_dir("lwds-logs-")
        self.env = dict(os.environ)
        self.env.update({
            "LWDS_REDIS_URL": redis.url,
            "LWDS_ADMIN_KEY": self.admin_key,
            "LWDS_ADMIN_SECRET": self.admin_secret,
            "LWDS_HTTP_LISTEN": "127.0.0.1:%d" % self.http_port,
            "LWDS_COAP_LISTEN": "127.0.0.1:%d" % self.coap_port,
            "LWDS_DTLS_LISTEN": "127.0.0.1:%d" % self.dtls_port,
            "LWDS_DTLS_CERT_LISTEN": "127.0.0.1:%d" % self.dtls_cert_port,
            "LWDS_GW_ID": self.gw_id,
            "LWDS_GW_RPC_URL": "tcp://127.0.0.1:%d" % free_port(),
            "LWDS_EVENTS_URL": "tcp://127.0.0.1:%d" % free_port(),
            "LWDS_WEBHOOK_HEALTH_ADDR": "127.0.0.1:%d" % free_port(),
            "LWDS_BROKER_HEALTH_ADDR": "127.0.0.1:%d" % free_port(),
            "LWDS_API_HEALTH_ADDR": "127.0.0.1:%d" % free_port(),
            "LWDS_SIGNING_KEY": random_token(32),
            "LWDS_LOG_LEVEL": "debug",
        })
        self.env.update(env or {})
        self.procs = {}

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def api_health(self):
        """An Api on rest-api's internal /health and /metrics listener
        (LWDS_API_HEALTH_ADDR)."""
        return Api("http://" + self.env["LWDS_API_HEALTH_ADDR"])

    def start(self, timeout=15):
        """Start every service, then wait for GET / and a CoAP ping."""
        for name in self.names:
            self.spawn(name, "wb")
        try:
            self.wait_ready(timeout)
        except AssertionError:
            self.stop()
            raise
        return self

    def spawn(self, name, mode="ab"):
        """Start service name with these settings, without waiting; its
        output goes to its log, appended ("ab": a restart) or new ("wb")."""
        log = open(os.path.join(self.logdir, name + ".log"), mode)
        self.procs[name] = subprocess.Popen(
            [binary(name)], env=self.env, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self.procs[name]

    def wait_ready(self, timeout=15):
        deadline = time.monotonic() + timeout
        try:
            if "rest-api" in self.names:
                wait_until(lambda: self._alive() and self._http_up(),
                           deadline - time.monotonic(), 0.1,
                           "GET / on port %d" % self.http_port)
            # broker and webhook: their health port answers once the loop
            # runs, so their signal handlers are in place (a signal sent
            # earlier would kill them by default action)
            for name, var in (("broker", "LWDS_BROKER_HEALTH_ADDR"),
                              ("webhook", "LWDS_WEBHOOK_HEALTH_ADDR")):
                if name in self.names and self.env.get(var):
                    host, port = self.env[var].rsplit(":", 1)
                    wait_until(lambda: self._alive() and
                               _http_answers(host, int(port)),
                               max(1, deadline - time.monotonic()), 0.1,
                               "%s health on %s" % (name, self.env[var]))
            if "coap-gw" in self.names:
                c = CoapClient("127.0.0.1", self.coap_port)
                try:
                    wait_until(lambda: self._alive() and c.ping(0.3),
                               max(1, deadline - time.monotonic()), 0.1,
                               "CoAP ping on port %d" % self.coap_port)
                finally:
                    c.close()
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.logs())) from None

    def _alive(self):
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise AssertionError("%s exited with %s"
                                     % (name, p.returncode))
        return True

    def _http_up(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.http_port,
                                           timeout=1)
            c.request("GET", "/")
            return c.getresponse().status == 200
        except OSError:
            return False

    def check_running(self):
        """Fail when a service has died (the 'keeps serving' checks)."""
        try:
            return self._alive()
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.logs())) from None

    def logs(self, tail=40):
        out = []
        for name in self.names:
            path = os.path.join(self.logdir, name + ".log")
            try:
                with open(path, "rb") as f:
                    lines = f.read().decode(errors="replace").splitlines()
            except OSError:
                continue
            out.append("--- %s (last %d lines)" % (name, tail))
            out.extend(lines[-tail:])
        return "\n".join(out)

    def stop(self):
        """SIGTERM every service; return {name: exit status}."""
        codes = {}
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in self.procs.items():
            try:
                codes[name] = p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                codes[name] = p.wait()
        self.procs = {}
        return codes

    def cleanup(self):
        """Stop the services and drop their logs; fail when a service
        wrote a line outside its log format (close_log_dir)."""
        self.stop()
        close_log_dir(self.logdir)

    def api(self):
        return Api(self.base_url)

    def coap(self):
        return CoapClient("127.0.0.1", self.coap_port)


class ServiceTestCase(unittest.TestCase):
    """Base class: one Redis db and one set of services per test class,
    the db flushed and the services restarted for every class."""

    REDIS_DB = 1
    SERVICES = Services.ALL
    EXTRA_ENV = {}

    @classmethod
    def setUpClass(cls):
        cls.redis = Redis(cls.REDIS_DB)
        cls.redis.flush()
        cls.svc = Services(cls.redis, cls.SERVICES, cls.EXTRA_ENV)
        try:
            cls.svc.start()
        except BaseException:
            cls.svc.stop()
            drop_log_dir(cls.svc.logdir)
            cls.redis.close()
            raise
        cls.api = cls.svc.api()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.svc.cleanup()
        finally:
            cls.redis.close()

    def admin_token(self):
        return self.api.token(self.svc.admin_key, self.svc.admin_secret)

    @classmethod
    def new_org(cls, name, admin):
        """An access key the admin makes (a new organisation): its JSON
        (Key, Secret, ...) and a token of it.  Tears the class down and
        fails when the key cannot be made (for setUpClass)."""
        r = cls.api.post("/accesskeys", admin, {"Name": name})
        if r.status != 201:
            cls.tearDownClass()
            raise AssertionError("POST /accesskeys %s: %r" % (name, r))
        key = r.json()
        return key, cls.api.token(key["Key"], key["Secret"])

    def register(self, ep, lt=None, payload=b"</1/0>,</3/0>", extra=(),
                 client=None):
        """Register ep over raw CoAP; return (client, response, id)."""
        c = client or self.svc.coap()
        if client is None:
            self.addCleanup(c.close)
        q = ["ep=" + ep] + (["lt=%d" % lt] if lt is not None else [])
        q += ["lwm2m=1.1", "b=U"] + list(extra)
        r = c.request("POST", "rd", query=q, payload=payload,
                      content_format=40)
        self.assertEqual(r.code_str, "2.01", "register %s: %r" % (ep, r))
        loc = r.location_path()
        self.assertEqual(len(loc), 2, "Location-Path %r" % (loc,))
        self.assertEqual(loc[0], "rd")
        return c, r, loc[1]

    def names_listed(self, token):
        r = self.api.get("/clients?pageSize=1000", token)
        self.assertEqual(r.status, 200, r)
        return [i["Name"] for i in r.json().get("Items", [])]


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class Response:
    def __init__(self, method, path, status, headers, body):
        self.method, self.path = method, path
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body.decode())

    def xml(self):
        return ET.fromstring(self.body)

    def __repr__(self):
        body = self.body[:400].decode(errors="replace")
        return "<%s %s -> %d %s %r>" % (self.method, self.path, self.status,
                                         self.header("Content-Type"), body)


class Api:
    """Client for the REST API at base_url (http://host:port)."""

    def __init__(self, base_url):
        u = urllib.parse.urlparse(base_url)
        self.host, self.port = u.hostname, u.port

    def request(self, method, path, token=None, body=None, accept=None,
                content_type=None, headers=None, raw=None):
        """One request on a fresh connection.  body: dict/list (sent as
        JSON), str or bytes; raw: the whole request bytes, sent as is."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            if raw is not None:
                c.connect()
                c.sock.sendall(raw)
                resp = http.client.HTTPResponse(c.sock, method=method)
                resp.begin()
            else:
                h = dict(headers or {})
                if token:
                    h["Authorization"] = "Bearer " + token
                if accept:
                    h["Accept"] = accept
                if isinstance(body, (dict, list)):
                    body = json.dumps(body)
                    content_type = content_type or "application/json"
                if isinstance(body, str):
                    body = body.encode()
                if content_type:
                    h["Content-Type"] = content_type
                c.request(method, path, body=body, headers=h)
                resp = c.getresponse()
            data = resp.read()
            return Response(method, path, resp.status, resp.getheaders(),
                            data)
        finally:
            c.close()

    def get(self, path, token=None, **kw):
        return self.request("GET", path, token, **kw)

    def post(self, path, token=None, body=None, **kw):
        return self.request("POST", path, token, body, **kw)

    def put(self, path, token=None, body=None, **kw):
        return self.request("PUT", path, token, body, **kw)

    def delete(self, path, token=None, **kw):
        return self.request("DELETE", path, token, **kw)

    def token_response(self, form):
        return self.post("/oauth/token", body=urllib.parse.urlencode(form),
                         content_type="application/x-www-form-urlencoded")

    def token_pair(self, key, secret):
        r = self.token_response({"grant_type": "password", "username": key,
                                 "password": secret})
        if r.status != 201:
            raise AssertionError("token for key %s...: %r" % (key[:8], r))
        return r.json()

    def token(self, key, secret):
        return self.token_pair(key, secret)["access_token"]


def link(obj, rel):
    """The href of the link rel in a JSON object's Links (or None)."""
    for l in obj.get("Links", []):
        if l.get("rel") == rel:
            return l.get("href")
    return None


def path_of(href):
    """The path (and query) of an absolute href."""
    u = urllib.parse.urlparse(href)
    return u.path + ("?" + u.query if u.query else "")


# --------------------------------------------------------------------------
# CoAP (RFC 7252), by hand
# --------------------------------------------------------------------------

CON, NON, ACK, RST = 0, 1, 2, 3
METHODS = {"GET": 1, "POST": 2, "PUT": 3, "DELETE": 4, "FETCH": 5,
           "PATCH": 6, "IPATCH": 7}
OPT = {"If-Match": 1, "Uri-Host": 3, "ETag": 4, "If-None-Match": 5,
       "Observe": 6, "Uri-Port": 7, "Location-Path": 8, "Uri-Path": 11,
       "Content-Format": 12, "Max-Age": 14, "Uri-Query": 15, "Accept": 17,
       "Location-Query": 20, "Block2": 23, "Block1": 27, "Size2": 28,
       "Proxy-Uri": 35, "Proxy-Scheme": 39, "Size1": 60}


def code(cls, detail):
    return (cls << 5) | detail


def uint_opt(value):
    """The minimal big-endian bytes of an unsigned option value."""
    out = b""
    while value:
        out = bytes([value & 0xFF]) + out
        value >>= 8
    return out


class CoapMessage:
    """A CoAP message; options is a list of (number, bytes) in any order."""

    def __init__(self, mtype=CON, code_=0, mid=0, token=b"", options=None,
                 payload=b""):
        self.type, self.code, self.mid = mtype, code_, mid
        self.token, self.payload = token, payload
        self.options = list(options or [])

    @property
    def code_str(self):
        return "%d.%02d" % (self.code >> 5, self.code & 31)

    def opts(self, number):
        return [v for n, v in self.options if n == number]

    def location_path(self):
        return [v.decode() for v in self.opts(OPT["Location-Path"])]

    def encode(self):
        if len(self.token) > 8:
            raise ValueError("token longer than 8 bytes")
        out = bytearray([0x40 | (self.type << 4) | len(self.token),
                         self.code]) + struct.pack("!H", self.mid)
        out += self.token
        last = 0
        for num, val in sorted(self.options, key=lambda o: o[0]):
            out += _opt_header(num - last, len(val)) + val
            last = num
        if self.payload:
            out += b"\xff" + self.payload
        return bytes(out)

    @classmethod
    def decode(cls, data):
        if len(data) < 4 or data[0] >> 6 != 1:
            raise ValueError("not a CoAP message: %r" % data[:8])
        tkl = data[0] & 15
        m = cls(mtype=(data[0] >> 4) & 3, code_=data[1],
                mid=struct.unpack("!H", data[2:4])[0],
                token=data[4:4 + tkl])
        i, num = 4 + tkl, 0
        while i < len(data):
            if data[i] == 0xFF:
                m.payload = data[i + 1:]
                break
            delta, length = data[i] >> 4, data[i] & 15
            i += 1
            delta, i = _ext(delta, data, i)
            length, i = _ext(length, data, i)
            num += delta
            m.options.append((num, data[i:i + length]))
            i += length
        return m

    def __repr__(self):
        names = {v: k for k, v in OPT.items()}
        opts = ", ".join("%s=%r" % (names.get(n, n), v)
                         for n, v in self.options)
        return "<CoAP %s type=%d mid=%d [%s] payload=%r>" % (
            self.code_str, self.type, self.mid, opts, self.payload[:200])


def _opt_header(delta, length):
    def nib(v):
        if v < 13:
            return v, b""
        if v < 269:
            return 13, bytes([v - 13])
        return 14, struct.pack("!H", v - 269)
    d, dx = nib(delta)
    l, lx = nib(length)
    return bytes([(d << 4) | l]) + dx + lx


def _ext(v, data, i):
    if v == 13:
        return data[i] + 13, i + 1
    if v == 14:
        return struct.unpack("!H", data[i:i + 2])[0] + 269, i + 2
    if v == 15:
        raise ValueError("reserved option nibble 15")
    return v, i


class CoapClient:
    """A UDP CoAP endpoint on loopback that talks to one server."""

    def __init__(self, host, port, timeout=5.0):
        self.server = (host, port)
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.mid = random.randint(0, 0xFFFF)

    def close(self):
        self.sock.close()

    def next_mid(self):
        self.mid = (self.mid + 1) & 0xFFFF
        return self.mid

    def send_raw(self, data):
        self.sock.sendto(data, self.server)

    def recv(self, timeout=None):
        """The next datagram from the server decoded, or None on timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            data, addr = self.sock.recvfrom(65536)
            if addr == self.server:
                return CoapMessage.decode(data)

    def exchange(self, msg, timeout=None):
        """Send msg (a CoapMessage or raw bytes); return the response that
        matches its token (piggy-backed or separate), or None."""
        raw = msg if isinstance(msg, bytes) else msg.encode()
        self.send_raw(raw)
        if isinstance(msg, bytes):
            return self.recv(timeout)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            r = self.recv(left) if left > 0 else None
            if r is None:
                return None
            if r.type == ACK and r.code == 0 and r.mid == msg.mid:
                continue  # empty ACK: the response comes separately
            if r.type in (ACK, RST) and r.mid == msg.mid:
                return r
            if r.token == msg.token and r.code >= 64:
                if r.type == CON:
                    self.send_raw(CoapMessage(ACK, 0, r.mid).encode())
                return r
            if r.type == CON:  # a server request we do not serve
                self.send_raw(CoapMessage(RST, 0, r.mid).encode())

    def request(self, method, path, query=(), payload=b"",
                content_format=None, options=(), mtype=CON, timeout=None):
        """A request to path ("rd" or "rd/<id>") with Uri-Query items."""
        opts = [(OPT["Uri-Path"], seg.encode())
                for seg in path.strip("/").split("/") if seg]
        opts += [(OPT["Uri-Query"], q.encode()) for q in query]
        if content_format is not None:
            opts.append((OPT["Content-Format"], uint_opt(content_format)))
        opts += list(options)
        if isinstance(payload, str):
            payload = payload.encode()
        msg = CoapMessage(mtype, METHODS[method], self.next_mid(),
                          os.urandom(4), opts, payload)
        r = self.exchange(msg, timeout)
        if r is None:
            raise AssertionError("no CoAP response to %s /%s %r"
                                 % (method, path, list(query)))
        return r

    def ping(self, timeout=1.0, attempts=3):
        """CoAP ping (empty CON); True when the server answers RST.

        Retries with a new message id: libcoap 4.3.1 servers (its own
        coap-rd too) leave every other ping unanswered when it follows a
        request from the same endpoint at once."""
        for _ in range(attempts):
            msg = CoapMessage(CON, 0, self.next_mid())
            try:
                r = self.exchange(msg, timeout)
            except OSError:
                return False
            if r is not None and r.type == RST and r.mid == msg.mid:
                return True
        return False


# --------------------------------------------------------------------------
# lwds-sim
# --------------------------------------------------------------------------

class Sim:
    """lwds-sim as a child process: args go on its command line, commands
    go to its stdin one per line ("quit", "stats", ...), its output lines
    are collected; it prints {"event":"ready",...} once every client has
    registered."""

    READY = r'"event"\s*:\s*"ready"'


    def __init__(self, args, env=None, preexec_fn=None):
        self.proc = subprocess.Popen(
            [binary("sim")] + list(args), env=env or dict(os.environ),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1,
            preexec_fn=preexec_fn)
        self.lines = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, pattern, timeout=10.0, start=0):
        """The first output line (from index start) matching pattern."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None
                                 and not self._reader.is_alive()):
                    raise AssertionError(
                        "lwds-sim: no line matching %r; output:\n%s"
                        % (pattern, "\n".join(self.lines[-30:])))
                self._cond.wait(left)

    def send(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stats(self, timeout=10.0):
        """The answer of the stats command (docs/simulator.md) as a dict:
        counters of clients, requests, ops (per operation), paths..."""
        start = len(self.lines)
        self.send("stats")
        line = self.wait_line(r'"observe_paths"', timeout, start)
        return json.loads(line[line.index("{"):])

    def stop(self, timeout=10):
        """Send "quit" (the clients de-register), then SIGTERM if it does
        not exit; return the exit status."""
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
