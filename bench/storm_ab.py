#!/usr/bin/env python3
"""Registration storm A/B helper (bench/README.md): one round per build.

  python3 bench/storm_ab.py [--storm N] [--sweep 64,256,1024] BUILD_DIR...

For each round it starts a private redis-server, then at each concurrency
runs one storm against a fresh lwds-bench-baseline and one against the
four services of BUILD_DIR (a release build), started anew on the emptied
Redis for each storm (both sides start every storm from the same state,
as in bench.py), and prints one
JSON line per storm: rates, p50/p99, and the CPU per registration of
every process (from /proc deltas; the load generator's from
RUSAGE_CHILDREN), plus the load average.  Give the builds alternately
(A B A B ...) to compare trees on this shared machine; the bench tools
(load generator, baseline) come from the first BUILD_DIR so both sides
use the same ones.  --subscribed: the devices' organisation first gets
one ClientDisconnected subscription (it fires on no Register, but the
broker can no longer skip the lookups of that organisation's events).
--aof: Redis with the deployment's persistence (appendonly yes,
appendfsync everysec; deploy/docker/redis.Dockerfile) instead of the
benchmarks' none.  Last, one line per build and concurrency with the
medians of its rounds.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.pop("LWDS_TEST_REDIS_URL", None)
import lwdslib  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "bench"))
import bench  # noqa: E402

LOAD = "bench/lwds-bench-load"
BASELINE = "bench/lwds-bench-baseline"


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def storm(tools, port, n, prefix, sockets, pids):
    """One storm; returns the register phase and CPU µs/registration."""
    before = {k: cpu_seconds(p) for k, p in pids.items()}
    load0 = children_cpu()
    out = subprocess.run(
        [os.path.join(tools, LOAD), "--server", "127.0.0.1:%d" % port,
         "--count", str(n), "--prefix", prefix, "--sockets", str(sockets),
         "--update-seconds", "0"], capture_output=True, text=True,
        check=True)
    load1 = children_cpu()
    reg = [json.loads(x) for x in out.stdout.splitlines()
           if json.loads(x)["phase"] == "register"][0]
    ok = max(reg["ok"], 1)
    cpu = {k: (cpu_seconds(p) - before[k]) * 1e6 / ok
           for k, p in pids.items()}
    cpu["load"] = (load1 - load0) * 1e6 / ok
    return {"rate": reg["rate"], "p50_ms": reg["p50_ms"],
            "p99_ms": reg["p99_ms"], "errors": reg["errors"] +
            reg["timeouts"], "cpu_us": {k: round(v, 1)
                                        for k, v in cpu.items()}}


def baseline_storm(tools, n, prefix, sockets):
    port = lwdslib.free_port("udp")
    p = subprocess.Popen([os.path.join(tools, BASELINE),
                          "127.0.0.1:%d" % port], stdout=subprocess.PIPE,
                         text=True)
    try:
        if p.stdout.readline().strip() != '{"event":"ready"}':
            raise RuntimeError("baseline server did not start")
        return storm(tools, port, n, prefix, sockets, {"baseline": p.pid})
    finally:
        p.terminate()
        p.wait(10)


def subscribe(svc):
    """One organisation-level ClientDisconnected subscription (org 0, the
    gateway's default organisation)."""
    api = svc.api()
    token = api.token(svc.admin_key, svc.admin_secret)
    r = api.post("/subscriptions", token, {
        "SubscriptionType": "ClientDisconnected",
        "Url": "http://127.0.0.1:9/unused"})
    if r.status != 201:
        raise RuntimeError("POST /subscriptions: %r" % (r,))


def one_round(build, tools, cfg, rnd):
    """The storms of one build at each concurrency: a list of results.
    Each gateway storm starts from the same state, as each baseline storm
    does with its fresh server: Redis emptied, the services started
    anew."""
    os.environ["LWDS_BUILD_DIR"] = os.path.abspath(build)
    redis = lwdslib.Redis()
    out = []
    try:
        if cfg.aof:
            bench.aof_on(redis)
        for c in cfg.sweep:
            base = baseline_storm(tools, cfg.storm, "b%d-%d-" % (rnd, c), c)
            redis.command("FLUSHALL")
            svc = bench.start(redis)
            try:
                if cfg.subscribed:
                    subscribe(svc)
                pids = {k: p.pid for k, p in svc.procs.items()}
                pids["redis"] = redis.proc.pid
                gw = storm(tools, svc.coap_port, cfg.storm,
                           "g%d-%d-" % (rnd, c), c, pids)
                svc.check_running()
            finally:
                svc.stop()
            res = {"build": build, "round": rnd,
                   "subscribed": cfg.subscribed, "aof": cfg.aof,
                   "sockets": c, "lwds": gw, "baseline": base,
                   "ratio": round(gw["rate"] / base["rate"], 3),
                   "loadavg": os.getloadavg()[0]}
            print(json.dumps(res), flush=True)
            out.append(res)
    finally:
        redis.close()
    return out


def print_medians(results):
    """One JSON line per (build, concurrency): the medians of its rounds."""
    groups = {}
    for r in results:
        groups.setdefault((r["build"], r["sockets"]), []).append(r)
    for (build, c), rs in groups.items():
        cpu = {k: round(statistics.median(r["lwds"]["cpu_us"][k]
                                          for r in rs), 1)
               for k in rs[0]["lwds"]["cpu_us"]}
        print(json.dumps({"build": build, "sockets": c, "rounds": len(rs),
                          "median": {
                              "rate": round(statistics.median(
                                  r["lwds"]["rate"] for r in rs)),
                              "ratio": round(statistics.median(
                                  r["ratio"] for r in rs), 3),
                              "cpu_us": cpu}}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--storm", type=int, default=50000)
    ap.add_argument("--sweep", default="64,256,1024")
    ap.add_argument("--aof", action="store_true",
                    help="Redis with appendonly yes, appendfsync everysec")
    ap.add_argument("--subscribed", action="store_true",
                    help="one subscription in the devices' organisation")
    ap.add_argument("builds", nargs="+")
    cfg = ap.parse_args()
    cfg.sweep = [int(c) for c in cfg.sweep.split(",")]
    tools = os.path.abspath(cfg.builds[0])
    results = []
    for rnd, build in enumerate(cfg.builds):
        results += one_round(build, tools, cfg, rnd)
    print_medians(results)


if __name__ == "__main__":
    main()
