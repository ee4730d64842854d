#!/usr/bin/env python3
"""Update A/B helper (bench/README.md): one round per build.

  python3 bench/update_ab.py [--devices N] [--seconds S] BUILD_DIR...

For each round it starts a private redis-server and the four services of
BUILD_DIR (a release build, as bench/storm_ab.py does), registers N devices
(default 20,000; 64 sockets) with lwds-bench-load, which then sends
Updates for S seconds (default 8), and prints one JSON line: the Update
rate and the CPU per Update of coap-gw, the broker and Redis, from /proc
deltas taken from 2 s after the start to 1 s before the end (the
registrations are over by then; the Update count of that window is the
phase's rate times its length).  Give the builds alternately (A B A B
...); the load generator comes from the first BUILD_DIR.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import storm_ab  # noqa: E402

PROCS = ("coap-gw", "broker", "redis")


def one_round(build, tools, cfg, rnd):
    os.environ["LWDS_BUILD_DIR"] = os.path.abspath(build)
    redis = storm_ab.lwdslib.Redis()
    try:
        svc = storm_ab.bench.start(redis)
        try:
            pids = {k: svc.procs[k].pid for k in PROCS if k != "redis"}
            pids["redis"] = redis.proc.pid
            p = subprocess.Popen(
                [os.path.join(tools, storm_ab.LOAD), "--server",
                 "127.0.0.1:%d" % svc.coap_port, "--count",
                 str(cfg.devices), "--prefix", "u%d-" % rnd, "--sockets",
                 "64", "--update-seconds", str(cfg.seconds)],
                stdout=subprocess.PIPE, text=True)
            time.sleep(2.0)
            c0 = {k: storm_ab.cpu_seconds(v) for k, v in pids.items()}
            t0 = time.monotonic()
            time.sleep(cfg.seconds - 3.0)
            c1 = {k: storm_ab.cpu_seconds(v) for k, v in pids.items()}
            window = time.monotonic() - t0
            out, _ = p.communicate()
            phases = {}
            for line in out.splitlines():
                d = json.loads(line)
                phases[d["phase"]] = d
            upd = phases["update"]
            n = max(upd["rate"] * window, 1.0)
            cpu = {k: round((c1[k] - c0[k]) * 1e6 / n, 1) for k in pids}
            print(json.dumps({
                "build": build, "round": rnd, "rate": upd["rate"],
                "p50_ms": upd["p50_ms"], "p99_ms": upd["p99_ms"],
                "errors": upd["errors"] + upd["timeouts"], "cpu_us": cpu,
                "lwds_us": round(sum(cpu.values()), 1),
                "loadavg": os.getloadavg()[0]}), flush=True)
        finally:
            svc.stop()
    finally:
        redis.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=20000)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("builds", nargs="+")
    cfg = ap.parse_args()
    if cfg.seconds < 5:
        ap.error("--seconds must be at least 5")
    tools = os.path.abspath(cfg.builds[0])
    for rnd, build in enumerate(cfg.builds):
        one_round(build, tools, cfg, rnd)


if __name__ == "__main__":
    main()
