#!/usr/bin/env python3
"""bench_broker.py - lwds-broker alone: how fast it turns a backlog of
"notify" entries on lwds:v2:{events} into delivery jobs on
lwds:v2:{deliveries} (bench/README.md, "Broker").

A private redis-server, lwds-rest-api once (it installs the object
definitions), then synthetic state written straight into Redis: CLIENTS
clients, each with SUBS Observation subscriptions on /3303/0/5700 (without
attributes, or with Step when --attrs), and NOTIFS notify entries (text/plain
values, every one different), round-robin over the clients.  Then the broker
starts on that backlog; the clock runs from its start until every entry is
acknowledged and every job is queued.  Prints one JSON line: notifications/s,
jobs/s, and the CPU seconds of broker and redis-server per 1000
notifications.  No webhook dispatcher runs: the jobs stay in the stream.

  LWDS_BUILD_DIR=build-bench python3 bench/bench_broker.py [--notifs N]
      [--clients C] [--subs S] [--attrs] [--updates] [--broker PATH]
      [--runs R]
"""

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
from lwdslib import Redis, Services, binary  # noqa: E402

PATH = "/3303/0/5700"
EVENTS = "lwds:v2:{events}"
DELIVERIES = "lwds:v2:{deliveries}"


def new_id():
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def pipeline(redis, cmds, chunk=2000):
    """Send commands in chunks, read (and drop) their replies."""
    for i in range(0, len(cmds), chunk):
        part = cmds[i:i + chunk]
        redis.sock.sendall(b"".join(part))
        for _ in part:
            redis._reply()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def definition_id(redis):
    ids = redis.command("ZRANGEBYSCORE", "lwds:v2:org:{0}:objdefs:oid",
                        3303, 3303)
    if not ids:
        raise SystemExit("no definition of object 3303 in Redis")
    return ids[0].decode()


def setup(redis, did, args):
    clients = [new_id() for _ in range(args.clients)]
    cmds = []
    for cid in clients:
        pre = "lwds:v2:client:{%s}" % cid
        for _ in range(args.subs):
            sid = new_id()
            fields = ["org", 0, "type", "Observation", "client", cid,
                      "def", did, "obj", 3303, "inst", 0, "prop", 5700,
                      "url", "http://127.0.0.1:9/hook", "created", 1,
                      "secret", "s" * 43]
            if args.attrs:
                fields += ["stp", "0.5"]
            cmds.append(resp("HSET", "lwds:v2:sub:{%s}" % sid, *fields))
            cmds.append(resp("SADD", pre + ":obsubs:" + PATH, sid))
        cmds.append(resp("SADD", pre + ":obspaths", PATH))
        cmds.append(resp("HSET", pre + ":observed", PATH,
                         "00 gw - 1 1"))
    now = int(time.time() * 1000)
    for k in range(args.notifs if args.updates else 0):
        cmds.append(resp("XADD", EVENTS, "*", "type", "updated", "id",
                         new_id(), "org", 0, "gw", "gw", "ts", now + k,
                         "ep", "ep-%d" % k))
    for k in range(0 if args.updates else args.notifs):
        cid = clients[k % len(clients)]
        value = "%d.5" % (k // len(clients) * 10)
        cmds.append(resp("XADD", EVENTS, "*", "type", "notify", "id", cid,
                         "org", 0, "gw", "gw", "ts", now + k, "path", PATH,
                         "ct", 0, "code", 69, "seq", k, "token", "00",
                         "payload", value))
    pipeline(redis, cmds)


def settled(redis, want_jobs):
    info = redis.command("XINFO", "GROUPS", EVENTS)
    last = redis.command("XINFO", "STREAM", EVENTS)
    last = {last[i].decode(): last[i + 1] for i in range(0, len(last), 2)}
    if not info:
        return False  # the broker has not created its group yet
    for g in info:
        d = {g[i].decode(): g[i + 1] for i in range(0, len(g), 2)}
        if d["pending"] != 0 or \
                d["last-delivered-id"] != last["last-generated-id"]:
            return False
    return redis.command("XLEN", DELIVERIES) >= want_jobs


def commandstats(redis, notifs):
    """Redis CPU per notification by command (INFO commandstats), in us."""
    out = {}
    for line in redis.command("INFO", "commandstats").decode().split("\n"):
        if not line.startswith("cmdstat_"):
            continue
        name, rest = line[8:].strip().split(":", 1)
        f = dict(kv.split("=") for kv in rest.split(","))
        us = int(f["usec"]) / notifs
        if us >= 0.05:
            out[name] = round(us, 2)
    return out


def one_run(redis, did, args, broker):
    redis.flush()
    svc = Services(redis, ("rest-api",))
    svc.start()
    svc.stop()
    did = definition_id(redis)
    setup(redis, did, args)
    # every value differs: filters pass; Updates queue nothing
    want = 0 if args.updates else args.notifs * args.subs
    env = dict(os.environ, LWDS_REDIS_URL=redis.url,
               LWDS_BROKER_HEALTH_ADDR="off", LWDS_LOG_LEVEL="warning",
               LWDS_BROKER_CONSUMER="bench")
    redis.command("CONFIG", "RESETSTAT")
    rcpu0 = cpu_seconds(redis.proc.pid)
    t0 = time.monotonic()
    p = subprocess.Popen([broker], env=env, stdin=subprocess.DEVNULL)
    try:
        while not settled(redis, want):
            if p.poll() is not None:
                raise SystemExit("broker exited with %d" % p.returncode)
            time.sleep(0.01)
        elapsed = time.monotonic() - t0
        bcpu = cpu_seconds(p.pid)
    finally:
        p.terminate()
        p.wait(10)
    rcpu = cpu_seconds(redis.proc.pid) - rcpu0
    jobs = redis.command("XLEN", DELIVERIES)
    return {"redis_us_per_notif": commandstats(redis, args.notifs),
            "elapsed_s": round(elapsed, 3),
            "notifs_per_s": round(args.notifs / elapsed),
            "jobs": jobs, "jobs_per_s": round(jobs / elapsed),
            "broker_cpu_ms_per_1k": round(bcpu * 1e6 / args.notifs, 1),
            "redis_cpu_ms_per_1k": round(rcpu * 1e6 / args.notifs, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--notifs", type=int, default=100000)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--subs", type=int, default=1)
    ap.add_argument("--attrs", action="store_true",
                    help="subscriptions with Step 0.5 (the filter script)")
    ap.add_argument("--updates", action="store_true",
                    help="\"updated\" entries of clients without "
                    "subscriptions instead of notifications")
    ap.add_argument("--broker", default=None,
                    help="lwds-broker binary (default: the build's)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    broker = args.broker or binary("broker")
    redis = Redis(0)
    try:
        runs = [one_run(redis, None, args, broker) for _ in range(args.runs)]
    finally:
        redis.close()
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]
           if k != "redis_us_per_notif"}
    med["redis_us_per_notif"] = runs[-1]["redis_us_per_notif"]
    print(json.dumps({"broker": broker, "notifs": args.notifs,
                      "clients": args.clients, "subs": args.subs,
                      "attrs": args.attrs, "median": med, "runs": runs}))


if __name__ == "__main__":
    main()
