#!/usr/bin/env python3
"""sim_shared.py - one lwds-sim process with --shared-sockets at scale
(docs/simulator.md, bench/README.md): Redis and the four services from a
build, N devices registering with coap-gw from one lwds-sim on a range of
loopback addresses, then REST reads of devices spread over the range.

  LWDS_BUILD_DIR=build-rel python3 bench/sim_shared.py [--count 100000]
      [--addrs 127.1.0.0-127.2.255.255] [--reads 8] [--per-device-sockets]

--per-device-sockets runs the default transport instead (one libcoap
session and socket per device), for comparison at counts the descriptor
limit allows.

Prints one JSON line: time to all registered (lwds-sim's ready line), the
RSS of lwds-sim (total and per device) and of coap-gw, lwds-sim's open
descriptors and CPU seconds, and each read (device, status, ms, whether
the SerialNumber read is the device's own endpoint name)."""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.pop("LWDS_TEST_REDIS_URL", None)   # always a private Redis
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import lwdslib  # noqa: E402
from bench import cpu_seconds, rss_kib  # noqa: E402


def read_spread(api, token, total, n):
    """Read /3/0 of n clients at evenly spaced listing positions."""
    out = []
    for k in range(n):
        r = api.get("/clients?startIndex=%d&pageSize=1"
                    % (k * total // n), token)
        item = r.json()["Items"][0]
        cid = lwdslib.path_of(lwdslib.link(item, "self")).rsplit("/", 1)[1]
        r = api.get("/clients/%s/objecttypes" % cid, token)
        inst = [lwdslib.path_of(lwdslib.link(i, "instances"))
                for i in r.json()["Items"] if int(i["ObjectTypeID"]) == 3][0]
        t0 = time.monotonic()
        r = api.get(inst + "/0", token)
        ms = (time.monotonic() - t0) * 1000
        out.append({"ep": item["Name"], "status": r.status,
                    "ms": round(ms, 1),
                    "own_serial": r.status == 200 and
                    r.json().get("SerialNumber") == item["Name"]})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--addrs", default="127.1.0.0-127.2.255.255")
    ap.add_argument("--reads", type=int, default=8)
    ap.add_argument("--per-device-sockets", action="store_true")
    args = ap.parse_args()
    redis = lwdslib.Redis(0)
    svc = lwdslib.Services(redis, env={"LWDS_LOG_LEVEL": "notice"})
    sim = None
    try:
        svc.start()
        sim = lwdslib.Sim(["--server", "coap://127.0.0.1:%d" % svc.coap_port,
                           "--count", str(args.count),
                           "--local-addrs", args.addrs, "--lifetime", "3600",
                           "--sensor-period", "3600000", "--quiet"] +
                          ([] if args.per_device_sockets
                           else ["--shared-sockets"]))
        ready = json.loads(sim.wait_line(lwdslib.Sim.READY, 600))
        pid = sim.proc.pid
        res = {"count": args.count, "addrs": args.addrs,
               "shared": not args.per_device_sockets,
               "ready_s": ready["elapsed_ms"] / 1000.0,
               "sim_rss_kib": rss_kib(pid),
               "sim_fds": len(os.listdir("/proc/%d/fd" % pid)),
               "sim_cpu_s": cpu_seconds(pid),
               "gw_rss_kib": rss_kib(svc.procs["coap-gw"].pid),
               "loadavg": os.getloadavg()[0]}
        res["sim_rss_per_device_b"] = round(
            res["sim_rss_kib"] * 1024 / args.count)
        token = svc.api().token(svc.admin_key, svc.admin_secret)
        res["reads"] = read_spread(svc.api(), token, args.count, args.reads)
        res["stats"] = {k: v for k, v in sim.stats(60).items()
                        if k in ("registered", "registrations",
                                 "registration_failures", "shared")}
        print(json.dumps(res))
    finally:
        if sim is not None:
            sim.stop(60)
        svc.cleanup()
        redis.close()


if __name__ == "__main__":
    main()
