#!/usr/bin/env python3
"""ab_storm.py - A/B of the registration storm between two builds.

usage: bench/ab_storm.py BUILD_A BUILD_B [--count N] [--rounds R]

For each round, in alternating order, starts the four services of each
build on a private Redis, registers N distinct endpoints with 64 in flight
(lwds-bench-load, no Update phase) and reports the rate and the CPU per
registration of coap-gw, Redis and the broker from /proc/<pid>/stat
(utime + stime over the run plus 2 s for the broker to drain).  Prints one
JSON line per run, then the medians per build.  Both builds need
tests/integration/lwdslib.py-compatible binaries and bench tools
(meson setup DIR --buildtype=release).
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import bench  # noqa: E402
import lwdslib  # noqa: E402


def start(redis):
    """The services; again (new ports) when a port chosen free was taken
    meanwhile by another process of this shared machine."""
    for attempt in range(3):
        try:
            return bench.start(redis)
        except AssertionError:
            if attempt == 2:
                raise
    return None


def one_run(build, count, prefix):
    os.environ["LWDS_BUILD_DIR"] = build
    redis = lwdslib.Redis()
    try:
        svc = start(redis)
        try:
            pids = {"coap-gw": svc.procs["coap-gw"].pid,
                    "redis": redis.proc.pid,
                    "broker": svc.procs["broker"].pid}
            c0 = {k: bench.cpu_seconds(p) for k, p in pids.items()}
            r = bench.run_load(svc.coap_port, count, prefix, 64,
                               ["--update-seconds", "0"])
            time.sleep(2)
            c1 = {k: bench.cpu_seconds(p) for k, p in pids.items()}
        finally:
            svc.stop()
    finally:
        redis.close()
    out = {k + "_us": (c1[k] - c0[k]) * 1e6 / count for k in pids}
    out["rate"] = r["register"]["rate"]
    out["errors"] = r["register"]["errors"] + r["register"]["timeouts"]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--count", type=int, default=30000)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    builds = [os.path.abspath(args.a), os.path.abspath(args.b)]
    runs = {b: [] for b in builds}
    for rnd in range(args.rounds):
        for b in builds if rnd % 2 == 0 else builds[::-1]:
            res = one_run(b, args.count, "ab%d-" % rnd)
            runs[b].append(res)
            print(json.dumps({"build": b, "round": rnd,
                              "load": os.getloadavg()[0], **res}),
                  flush=True)
    for b, rs in runs.items():
        print(json.dumps({"build": b, "median": {
            k: round(statistics.median(r[k] for r in rs), 1)
            for k in rs[0]}}))


if __name__ == "__main__":
    main()
