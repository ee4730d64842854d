"""Helpers of the deployment tests (test_scaleout, test_redis_restart):
a restartable redis-server with an append-only file, Redis Sentinel, a
webhook sink, nginx as the UDP/HTTP balancer, one service process, CoAP
registration and HTTP calls that tolerate a dead peer."""

import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from lwdslib import (Api, CoapClient, Redis, binary, free_port, random_token,
                     wait_until)


class AofRedis(Redis):
    """redis-server with appendonly yes / appendfsync always in its own
    directory, which restart() kills (SIGKILL) and starts again on the same
    port and files.  Never the shared LWDS_TEST_REDIS_URL server."""

    def __init__(self, db=0, port=None, extra=()):
        self.fixed_port = port
        self.extra = list(extra)
        saved = os.environ.pop("LWDS_TEST_REDIS_URL", None)
        try:
            super().__init__(db)
        finally:
            if saved is not None:
                os.environ["LWDS_TEST_REDIS_URL"] = saved

    def _start(self):
        exe = shutil.which("redis-server")
        if not exe:
            raise AssertionError("redis-server not found")
        if self.tmp is None:
            self.tmp = tempfile.mkdtemp(prefix="lwds-aof-")
            self.host = "127.0.0.1"
            self.port = self.fixed_port or free_port()
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", self.tmp, "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--protected-mode", "no"]
            + self.extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self):
        if self.sock:
            self.sock.close()
            self.sock = None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def start_again(self):
        self._buf = b""
        self._start()
        self._connect()


class Sentinel:
    """One redis-sentinel monitoring master name on host:port (quorum 1,
    quick failover)."""

    def __init__(self, name, host, port):
        exe = shutil.which("redis-sentinel")
        if not exe:
            raise AssertionError("redis-sentinel not found (Debian package "
                                 "redis-sentinel, scripts/packages.sh)")
        self.tmp = tempfile.mkdtemp(prefix="lwds-sentinel-")
        self.port = free_port()
        conf = os.path.join(self.tmp, "sentinel.conf")
        with open(conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\n"
                    "sentinel monitor %s %s %d 1\n"
                    "sentinel down-after-milliseconds %s 1000\n"
                    "sentinel failover-timeout %s 5000\n"
                    % (self.port, self.tmp, name, host, port, name, name))
        self.proc = subprocess.Popen([exe, conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def master(self, name):
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                s.sendall(b"SENTINEL get-master-addr-by-name %s\r\n"
                          % name.encode())
                data = s.recv(4096).decode()
        except OSError:
            return None
        parts = data.split("\r\n")
        return (parts[2], int(parts[4])) if data.startswith("*2") else None

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)


class Sink:
    """HTTP server in the test process recording webhook POSTs."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with sink.lock:
                    sink.requests.append((self.path, dict(self.headers),
                                          body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def clients(self, path):
        """Client ids named by the deliveries to path (with repeats)."""
        out = []
        with self.lock:
            reqs = [r for r in self.requests if r[0] == path]
        for _, _, body in reqs:
            for item in json.loads(body).get("Items", []):
                for lk in item.get("Links", []):
                    if lk.get("rel") == "client":
                        out.append(lk["href"].rsplit("/", 1)[-1])
        return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Proc:
    """One service process with its own environment and log file."""

    def __init__(self, name, env, logdir, tag=""):
        self.name = name + tag
        self.log = os.path.join(logdir, self.name + ".log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [binary(name)], env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT)

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, n=30):
        try:
            with open(self.log, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return "--- %s\n%s" % (self.name, "\n".join(lines[-n:]))


def base_env(redis_url):
    """The settings every service of one test shares."""
    env = dict(os.environ)
    env.update({
        "LWDS_REDIS_URL": redis_url,
        "LWDS_ADMIN_KEY": random_token(),
        "LWDS_ADMIN_SECRET": random_token(),
        "LWDS_SIGNING_KEY": random_token(32),
        "LWDS_EVENTS_URL": "tcp://127.0.0.1:%d" % free_port(),
        "LWDS_BROKER_HEALTH_ADDR": "127.0.0.1:%d" % free_port(),
        "LWDS_LOG_LEVEL": "info",
    })
    return env


def http_status(port, path="/health", timeout=1.0):
    """Status of GET path on 127.0.0.1:port, or None when unreachable."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", path)
        st = c.getresponse().status
        c.close()
        return st
    except OSError:
        return None


def register(host, port, ep, lt=300, timeout=2.0, client=None):
    """Register ep over CoAP; returns (client, id) or (client, None)."""
    c = client or CoapClient(host, port, timeout=timeout)
    try:
        r = c.request("POST", "rd", query=["ep=" + ep, "lt=%d" % lt,
                                           "lwm2m=1.1", "b=U"],
                      payload=b"</1/0>,</3/0>", content_format=40)
    except (AssertionError, OSError, socket.timeout):
        return c, None
    if r is None or r.code_str != "2.01":
        return c, None
    loc = r.location_path()
    return c, loc[1] if len(loc) == 2 else None


def retrying(api, method, path, token, body=None, tries=20):
    """An API call retried (the way a careful client does) until it gets an
    HTTP answer below 500."""
    last = None
    for _ in range(tries):
        try:
            last = api.request(method, path, token, body)
            if last.status < 500:
                return last
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise AssertionError("%s %s: no answer below 500 (last %r)"
                         % (method, path, last))


def listed_ids(api, token):
    r = retrying(api, "GET", "/clients?pageSize=1000", token)
    assert r.status == 200, r
    out = set()
    for i in r.json().get("Items", []):
        for lk in i.get("Links", []):
            if lk.get("rel") == "self":
                out.add(lk["href"].rsplit("/", 1)[-1])
    return out


__all__ = ["AofRedis", "Sentinel", "Sink", "Proc", "base_env", "http_status",
           "register", "retrying", "listed_ids", "Api", "wait_until",
           "free_port"]
