#!/usr/bin/env python3
"""Where the machine's idle time goes during a registration storm
(bench/README.md, "Registration storm, seventh round").

  python3 bench/storm_idle.py [--storm N] [--sweep 64,256,1024]
                              [--pin coap-gw=0,redis=1] [--pin-load CPU]
                              [--perf] BUILD_DIR

Starts a private redis-server and the four services of BUILD_DIR (a
release build), then at each concurrency registers 5,000 devices to warm
up and runs one storm of N (50,000) with lwds-bench-load, and prints one
JSON line with, over the storm: the machine's idle share (/proc/stat,
idle + iowait of both CPUs), and for coap-gw and Redis their CPU µs per
registration (/proc/<pid>/stat), the share of the storm's wall time each
ran and each waited on a run queue (runnable without a CPU,
/proc/<pid>/task/*/schedstat), their voluntary and involuntary context
switches per registration (/proc/<pid>/status), the same run and wait
shares of the load generator, and Redis's commands, reads and writes per
registration (INFO stats).  --pin sets the CPU of a service's threads,
--pin-load the load generator's; --perf records coap-gw with perf during
each storm (bench/results/idle-gw-<in flight>.perf).
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import storm_ab  # noqa: E402
lwdslib = storm_ab.lwdslib

REDIS_STATS = ("total_commands_processed", "total_reads_processed",
               "total_writes_processed")


def machine():
    """(busy, idle) jiffies of all CPUs."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v) - v[3] - v[4], v[3] + v[4]


def proc(pid):
    """CPU s, run and run-queue wait s (all threads), context switches."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    d = {"cpu": (int(fields[11]) + int(fields[12])) /
         os.sysconf("SC_CLK_TCK"), "run": 0.0, "wait": 0.0}
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
            run, wait = f.read().split()[:2]
        d["run"] += int(run) / 1e9
        d["wait"] += int(wait) / 1e9
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("voluntary_ctxt_switches",
                       "nonvoluntary_ctxt_switches"):
                d[key.split("_")[0]] = int(value)
    return d


def redis_stats(redis):
    info = redis.info("stats")
    return {key: int(info[key]) for key in REDIS_STATS}


def pin(pid, cpu):
    for t in os.listdir("/proc/%d/task" % pid):
        os.sched_setaffinity(int(t), {cpu})


def load_cmd(build, port, n, prefix, sockets):
    return [os.path.join(build, storm_ab.LOAD), "--server",
            "127.0.0.1:%d" % port, "--count", str(n), "--prefix", prefix,
            "--sockets", str(sockets), "--update-seconds", "0"]


def shares(before, after, wall, ok):
    return {"cpu_us": round((after["cpu"] - before["cpu"]) * 1e6 / ok, 1),
            "run": round((after["run"] - before["run"]) / wall, 3),
            "wait": round((after["wait"] - before["wait"]) / wall, 3),
            "vcs_per_reg": round((after["voluntary"] -
                                  before["voluntary"]) / ok, 3),
            "ivcs_per_reg": round((after["nonvoluntary"] -
                                   before["nonvoluntary"]) / ok, 3)}


def one_storm(cfg, svc, redis, pids, c):
    build = os.path.abspath(cfg.build)
    subprocess.run(load_cmd(build, svc.coap_port, 5000, "w%d-" % c, c),
                   capture_output=True, check=True)
    before = {k: proc(p) for k, p in pids.items()}
    r0, m0, t0 = redis_stats(redis), machine(), time.monotonic()
    pre = None
    if cfg.pin_load is not None:
        def pre():
            os.sched_setaffinity(0, {cfg.pin_load})
    lp = subprocess.Popen(load_cmd(build, svc.coap_port, cfg.storm,
                                   "s%d-" % c, c),
                          stdout=subprocess.PIPE, text=True,
                          preexec_fn=pre)
    perf = None
    if cfg.perf:
        out = os.path.join(ROOT, "bench", "results", "idle-gw-%d.perf" % c)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock",
                                 "-F", "2000", "-o", out, "-p",
                                 str(pids["coap-gw"])],
                                stderr=subprocess.DEVNULL)
    load = proc(lp.pid)
    while lp.poll() is None:
        try:
            load = proc(lp.pid)  # the last sample before it exits
        except OSError:
            break
        time.sleep(0.05)
    if perf is not None:
        perf.send_signal(2)
        perf.wait()
    stdout = lp.stdout.read()
    wall = time.monotonic() - t0
    r1, m1 = redis_stats(redis), machine()
    after = {k: proc(p) for k, p in pids.items()}
    reg = [json.loads(x) for x in stdout.splitlines()
           if json.loads(x)["phase"] == "register"][0]
    ok = max(reg["ok"], 1)
    res = {"build": cfg.build, "sockets": c, "rate": reg["rate"],
           "errors": reg["errors"] + reg["timeouts"],
           "idle": round((m1[1] - m0[1]) /
                         max(m1[0] - m0[0] + m1[1] - m0[1], 1), 3),
           "loadavg": os.getloadavg()[0],
           "load_gen": {"run": round(load["run"] / wall, 3),
                        "wait": round(load["wait"] / wall, 3)},
           "redis_per_reg": {k: round((r1[k] - r0[k]) / ok, 3)
                             for k in REDIS_STATS}}
    for k in pids:
        res[k] = shares(before[k], after[k], wall, ok)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--storm", type=int, default=50000)
    ap.add_argument("--sweep", default="64,256,1024")
    ap.add_argument("--pin", default="",
                    help="service=cpu,... (coap-gw, redis)")
    ap.add_argument("--pin-load", type=int, default=None)
    ap.add_argument("--perf", action="store_true")
    ap.add_argument("build")
    cfg = ap.parse_args()
    os.environ["LWDS_BUILD_DIR"] = os.path.abspath(cfg.build)
    redis = lwdslib.Redis()
    try:
        svc = storm_ab.bench.start(redis)
        try:
            pids = {"coap-gw": svc.procs["coap-gw"].pid,
                    "redis": redis.proc.pid}
            for item in filter(None, cfg.pin.split(",")):
                name, cpu = item.split("=")
                pin(pids[name], int(cpu))
            for c in (int(x) for x in cfg.sweep.split(",")):
                print(json.dumps(one_storm(cfg, svc, redis, pids, c)),
                      flush=True)
            svc.check_running()
        finally:
            svc.stop()
    finally:
        redis.close()


if __name__ == "__main__":
    main()
