#!/usr/bin/env python3
"""Instructions per REST request of lwds-rest-api (bench/README.md).

  LWDS_BUILD_DIR=build-rel python3 bench/api_callgrind.py N [NAME]

Starts a private redis-server and only lwds-rest-api, under valgrind
--tool=callgrind (instruction counts repeat exactly, unlike CPU time on a
shared machine), gets an admin token, sends N keep-alive requests on one
connection, one at a time, alternately GET /clients (answered after a
Redis reply: the request is held) and GET /versions (answered at once),
stops the service and prints the program's total instructions (Ir).  Run
it with N and with 0: the difference over N is the cost of one request.
The callgrind file stays in bench/results/NAME.callgrind (default
api-N) for callgrind_annotate.
"""
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
lwdslib = bench.lwdslib


def answer(sock, buf):
    """Reads one answer (head and Content-Length body); returns the
    status and what followed it."""
    while b"\r\n\r\n" not in buf:
        got = sock.recv(65536)
        if not got:
            raise OSError("closed")
        buf += got
    head, _, rest = buf.partition(b"\r\n\r\n")
    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        got = sock.recv(65536)
        if not got:
            raise OSError("closed")
        rest += got
    return int(head.split(b" ", 2)[1]), rest[n:]


def send_requests(port, token, count):
    reqs = [b"GET /clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + token.encode() + b"\r\n\r\n",
            b"GET /versions HTTP/1.1\r\nHost: x\r\n\r\n"]
    buf = b""
    with socket.create_connection(("127.0.0.1", port), 30) as s:
        for i in range(count):
            s.sendall(reqs[i % 2])
            status, buf = answer(s, buf)
            if status != 200:
                raise AssertionError("request %d: %d" % (i, status))


def total_ir(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise AssertionError("no totals in " + path)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    name = sys.argv[2] if len(sys.argv) > 2 else "api-%d" % count
    out = os.path.join(bench.ROOT, "bench", "results")
    os.makedirs(out, exist_ok=True)
    data = os.path.join(out, name + ".callgrind")
    redis = lwdslib.Redis()
    svc = lwdslib.Services(redis, names=("rest-api",),
                           env={"LWDS_LOG_LEVEL": "warning"})
    log = open(os.path.join(out, name + ".log"), "wb")
    p = subprocess.Popen(["valgrind", "--tool=callgrind",
                          "--log-file=" + data + ".vg.log",
                          "--callgrind-out-file=" + data,
                          lwdslib.binary("rest-api")], env=svc.env,
                         stdout=log, stderr=subprocess.STDOUT)
    svc.procs["rest-api"] = p
    try:
        svc.wait_ready(120)
        token = svc.api().token(svc.admin_key, svc.admin_secret)
        send_requests(svc.http_port, token, count)
    finally:
        p.send_signal(2)
        p.wait(120)
        svc.procs.clear()
        svc.cleanup()
        redis.close()
    print("%s: %d requests, %d instructions" % (name, count, total_ir(data)))


if __name__ == "__main__":
    main()
