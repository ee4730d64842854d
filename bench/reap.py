#!/usr/bin/env python3
"""The reap of records past LWDS_CLIENT_RETENTION_S (bench/README.md,
"Client retention"): what it costs and whether Redis gives the memory back.

  LWDS_BUILD_DIR=build-rel python3 bench/reap.py [--clients N] [--retention S]

Starts a private redis-server and the four services with
LWDS_CLIENT_RETENTION_S=S (default 5), then lwds-bench-load registers N
distinct endpoints (default 50,000; 64 sockets) and de-registers them all.
Once the gateway's sweep has reaped every record (the gateway's expiry set
empty) it prints one JSON line: Redis used_memory before the
registrations, after the De-registers and after the reap (bytes per client
kept before the reap, left after it); the reap's length from the first
record gone to the expiry set empty; the CPU µs per reaped client of
coap-gw and Redis (/proc deltas from the last De-register to the end of
the reap, idle sweeps included) and Redis's commands per reaped client
(INFO stats).  No subscriptions: those cost a subscription delete each
(lwm2m_sub_delete), as DELETE /subscriptions/{id} does.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import storm_ab  # noqa: E402

lwdslib = storm_ab.lwdslib


def used_memory(redis):
    return int(redis.info("memory")["used_memory"])


def commands(redis):
    return int(redis.info("stats")["total_commands_processed"])


def wait_reaped(redis, key, deadline_s):
    """(time the first key went, time the expiry set is empty, polls made:
    two O(1) commands each)."""
    n0, first, polls = redis.command("DBSIZE"), None, 0
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        polls += 1
        if first is None and redis.command("DBSIZE") < n0:
            first = time.monotonic()
        if redis.command("ZCARD", key) == 0:
            return first or time.monotonic(), time.monotonic(), polls
        time.sleep(0.05)
    raise AssertionError("the reap did not finish in %d s" % deadline_s)


def run(cfg):
    os.environ["LWDS_CLIENT_RETENTION_S"] = str(cfg.retention)
    tools = os.environ.get("LWDS_BUILD_DIR", "build-rel")
    redis = lwdslib.Redis()
    try:
        svc = storm_ab.bench.start(redis)
        try:
            pids = {"coap-gw": svc.procs["coap-gw"].pid,
                    "redis": redis.proc.pid}
            key = "lwds:v2:gw:{%s}:expiry" % svc.gw_id
            m0 = used_memory(redis)
            subprocess.run(
                [os.path.join(tools, storm_ab.LOAD), "--server",
                 "127.0.0.1:%d" % svc.coap_port, "--count",
                 str(cfg.clients), "--prefix", "reap-", "--sockets", "64",
                 "--deregister"], check=True, stdout=subprocess.DEVNULL)
            c0 = {k: storm_ab.cpu_seconds(p) for k, p in pids.items()}
            n0, m1 = commands(redis), used_memory(redis)
            first, done, polls = wait_reaped(redis, key,
                                             120 + cfg.retention)
            c1 = {k: storm_ab.cpu_seconds(p) for k, p in pids.items()}
            n1 = commands(redis)
            time.sleep(1.5)  # a sweep of nothing, then the memory
            m2 = used_memory(redis)
            svc.check_running()
        finally:
            svc.stop()
    finally:
        redis.close()
    n = cfg.clients
    # this script's own commands between n0 and n1 are not the reap's:
    # one INFO, the DBSIZE before the polls, two per poll
    mine = 2 + 2 * polls
    print(json.dumps({
        "clients": n, "retention_s": cfg.retention,
        "redis_used_memory": {"before": m0, "deregistered": m1,
                              "reaped": m2},
        "kept_bytes_per_client": round((m1 - m0) / n, 1),
        "left_bytes_per_client": round((m2 - m0) / n, 1),
        "reap_seconds": round(done - first, 2),
        "reaped_per_s": round(n / max(done - first, 1e-3)),
        "cpu_us_per_client": {k: round((c1[k] - c0[k]) * 1e6 / n, 1)
                              for k in pids},
        "redis_commands_per_client": round((n1 - n0 - mine) / n, 2),
        "loadavg": os.getloadavg()[0]}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50000)
    ap.add_argument("--retention", type=int, default=5)
    run(ap.parse_args())


if __name__ == "__main__":
    main()
