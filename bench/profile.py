#!/usr/bin/env python3
"""Profile lwds-coap-gw during a registration storm (bench/README.md).

  LWDS_BUILD_DIR=build-bench python3 bench/profile.py perf|callgrind [N]

Starts a private redis-server and only lwds-coap-gw under the profiler
(perf record, or valgrind --tool=callgrind, which counts instructions
and so repeats exactly), registers N devices (default 20000; 64 in
flight) with lwds-bench-load, stops the gateway and prints the report's
top entries.  Output files stay in bench/results/.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
lwdslib = bench.lwdslib


def main():
    tool = sys.argv[1] if len(sys.argv) > 1 else "perf"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    out = os.path.join(bench.ROOT, "bench", "results")
    os.makedirs(out, exist_ok=True)
    data = os.path.join(out, "gw.%s" % tool)
    if tool == "perf":
        wrap = ["perf", "record", "-e", "cpu-clock", "-F", "2000",
                "--call-graph", "dwarf,16384", "-o", data, "--"]
    else:
        wrap = ["valgrind", "--tool=callgrind",
                "--callgrind-out-file=" + data]
    redis = lwdslib.Redis()
    svc = lwdslib.Services(redis, names=("coap-gw",),
                           env={"LWDS_LOG_LEVEL": "warning"})
    real = lwdslib.binary
    lwdslib.binary = lambda name: real(name)
    env = svc.env
    log = open(os.path.join(out, "gw-profile.log"), "wb")
    p = subprocess.Popen(wrap + [lwdslib.binary("coap-gw")], env=env,
                         stdout=log, stderr=subprocess.STDOUT)
    svc.procs["coap-gw"] = p
    try:
        svc.wait_ready(60)
        r = bench.run_load(svc.coap_port, count, "prof-", 64)
        print(r["register"])
    finally:
        p.send_signal(2)
        p.wait(120)
        redis.close()
    if tool == "perf":
        rep = subprocess.run(["perf", "report", "-i", data, "--no-children",
                              "--sort", "dso,symbol", "--stdio", "-g",
                              "none", "--percent-limit", "1"],
                             capture_output=True, text=True)
        print("\n".join(rep.stdout.splitlines()[:60]))
    else:
        rep = subprocess.run(["callgrind_annotate", data],
                             capture_output=True, text=True)
        print("\n".join(rep.stdout.splitlines()[:60]))


if __name__ == "__main__":
    main()
