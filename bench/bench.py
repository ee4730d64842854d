#!/usr/bin/env python3
"""lwds benchmarks (bench/README.md): run by bench/run.sh or ./lwds bench.

Starts a private redis-server and the services (tests/integration/lwdslib.py)
from an optimised build, drives them with lwds-bench-load and lwds-sim,
prints a table and writes bench/results/<timestamp>.json.  Every figure is
printed next to the baseline measured in the same run, and their ratio.

  --short   CI smoke mode (well under 2 minutes): small counts, one run,
            proves the pipeline works; its figures are not judged.
  --soak    also run the 10-minute soak: updates, registrations and
            de-registrations, REST reads and notifications at once
            (bench/bench_soak.py; not in CI, whose --short runs 10 s of it).
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.pop("LWDS_TEST_REDIS_URL", None)   # always a private Redis
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import lwdslib  # noqa: E402
import bench_notify  # noqa: E402
import bench_reads  # noqa: E402
import bench_soak  # noqa: E402


def build_bin(name):
    return os.path.join(lwdslib.build_dir(), name)


LOAD = "bench/lwds-bench-load"
BASELINE = "bench/lwds-bench-baseline"


# --------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------

def run_load(port, count, prefix, sockets, extra=()):
    """One lwds-bench-load run; returns {phase: figures}."""
    cmd = [build_bin(LOAD), "--server", "127.0.0.1:%d" % port,
           "--count", str(count), "--prefix", prefix,
           "--sockets", str(sockets)] + list(extra)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    phases = {}
    for line in out.stdout.splitlines():
        d = json.loads(line)
        phases[d["phase"]] = d
    return phases


class Baseline:
    """lwds-bench-baseline on a free UDP port."""

    def __init__(self):
        self.port = lwdslib.free_port("udp")
        self.proc = subprocess.Popen(
            [build_bin(BASELINE), "127.0.0.1:%d" % self.port],
            stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != '{"event":"ready"}':
            raise RuntimeError("baseline server did not start")

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_used(redis):
    return int(redis.info("memory").get("used_memory", 0))


def aof_on(redis):
    """The deployment's persistence on redis (appendonly yes, appendfsync
    everysec: deploy/docker/redis.Dockerfile); waits for the first
    rewrite."""
    redis.command("CONFIG", "SET", "appendfsync", "everysec")
    redis.command("CONFIG", "SET", "appendonly", "yes")
    deadline = time.monotonic() + 30
    while b"aof_rewrite_in_progress:0" not in redis.command(
            "INFO", "persistence"):
        if time.monotonic() > deadline:
            raise RuntimeError("Redis did not finish its AOF rewrite")
        time.sleep(0.05)


def median(values):
    return statistics.median(values) if values else 0.0


def row(name, unit, value, base, base_name, goal=""):
    ratio = value / base if base else None
    return {"name": name, "unit": unit, "value": value,
            "baseline": base, "baseline_name": base_name,
            "ratio": ratio, "goal": goal}


# --------------------------------------------------------------------------
# scenarios
# --------------------------------------------------------------------------

def storm_pair(cfg, redis, run, sockets):
    """One baseline then one gateway storm at `sockets` in flight; the
    Updates only at the main concurrency (cfg.sockets).  Each side starts
    from the same state in every storm: the baseline is a fresh server,
    the gateway fresh services on an emptied Redis (so the medians are of
    like runs, not of storms into 0 to 700,000 earlier devices; the scale
    scenario measures a populated gateway)."""
    secs = cfg.update_seconds if sockets == cfg.sockets else 0
    extra = ["--update-seconds", str(secs)]
    b = Baseline()
    try:
        base = run_load(b.port, cfg.storm, "sb%d-%d-" % (run, sockets),
                        sockets, extra)
    finally:
        b.close()
    redis.command("FLUSHALL")
    services = start(redis)
    try:
        gw = run_load(services.coap_port, cfg.storm,
                      "sg%d-%d-" % (run, sockets), sockets, extra)
        services.check_running()
    finally:
        services.stop()
    return gw, base


def storm_rows(cfg, sockets, gw, base, main):
    """Table rows of one concurrency (medians over the runs)."""
    rows = []
    phases = (("register", "registrations"), ("update", "updates"))
    for phase, what in phases if main else phases[:1]:
        rows.append(row("storm %s/s (N=%d, %d in flight)"
                        % (what, cfg.storm, sockets), "1/s",
                        median([r[phase]["rate"] for r in gw]),
                        median([r[phase]["rate"] for r in base]),
                        "libcoap 2.01 server"))
        for p in ("p50_ms", "p99_ms"):
            rows.append(row("storm %s %s (%d in flight)"
                            % (phase, p, sockets), "ms",
                            median([r[phase][p] for r in gw]),
                            median([r[phase][p] for r in base]),
                            "libcoap 2.01 server"))
    return rows


def storm_errors(runs):
    return sum(r[p]["errors"] + r[p]["timeouts"]
               for by_c in runs for r in by_c.values() for p in r
               if p in ("register", "update"))


def scenario_storm(cfg, redis, res):
    """Registration storm + Updates: gateway vs baseline, alternating, at
    each concurrency of cfg.sweep (cfg.sockets first, with the Updates).
    The goal is judged peak against peak: each side's median rate at its
    best concurrency ("as fast as possible")."""
    sweep = [cfg.sockets] + [c for c in cfg.sweep if c != cfg.sockets]
    gw, base = [], []
    for run in range(cfg.runs):
        gw.append({})
        base.append({})
        for c in sweep:
            gw[run][c], base[run][c] = storm_pair(cfg, redis, run, c)
    res["storm_runs"] = {"gateway": [r[cfg.sockets] for r in gw],
                         "baseline": [r[cfg.sockets] for r in base]}
    res["storm_sweep"] = {"concurrency": sweep, "gateway": gw,
                          "baseline": base}
    rows = []
    peak = {"gateway": (0, 0), "baseline": (0, 0)}
    for c in sweep:
        rows += storm_rows(cfg, c, [r[c] for r in gw], [r[c] for r in base],
                           c == cfg.sockets)
        for side, runs in (("gateway", gw), ("baseline", base)):
            rate = median([r[c]["register"]["rate"] for r in runs])
            peak[side] = max(peak[side], (rate, c))
    rows.append(row("storm registrations/s, peak vs peak (lwds at %d, "
                    "baseline at %d in flight)"
                    % (peak["gateway"][1], peak["baseline"][1]), "1/s",
                    peak["gateway"][0], peak["baseline"][0],
                    "libcoap 2.01 server", ">= 20000 and >= 40%"))
    res["storm_peak"] = peak
    rows.append(row("storm errors+timeouts (all runs, all concurrencies)",
                    "", storm_errors(gw), storm_errors(base),
                    "libcoap 2.01 server", "0"))
    return rows


# lwds-sim --shared-sockets: the devices' addresses (65,536 of them)
SIM_SHARED_ADDRS = "127.1.0.0-127.1.255.255"


def sim_run(port, count, prefix, extra=()):
    """lwds-sim registering count devices: registrations/s from its ready
    line, and its open descriptors and RSS at that moment (then quit)."""
    p = subprocess.Popen(
        [build_bin(lwdslib.BINARIES["sim"]), "--server",
         "coap://127.0.0.1:%d" % port, "--count", str(count), "--prefix",
         prefix, "--lifetime", "86400", "--quiet", "--max-inflight", "64"] +
        list(extra),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            d = json.loads(line)
            if d.get("event") == "ready":
                return {"rate": count / max(d["elapsed_ms"], 1) * 1000.0,
                        "fds": len(os.listdir("/proc/%d/fd" % p.pid)),
                        "rss_kib": rss_kib(p.pid)}
        raise RuntimeError("lwds-sim did not get ready")
    finally:
        try:
            p.stdin.write("quit\n")
            p.stdin.flush()
        except OSError:
            pass
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def scenario_sim(cfg, gw_port, res):
    """The storm driven by lwds-sim: cfg.sim devices with a libcoap session
    and socket each, then cfg.sim_shared devices from the same one process
    on a few shared sockets (--shared-sockets), each against the baseline
    server and the gateway."""
    shared = ["--shared-sockets", "--local-addrs", SIM_SHARED_ADDRS]
    b = Baseline()
    try:
        base = sim_run(b.port, cfg.sim, "simb-")
        base_shared = sim_run(b.port, cfg.sim_shared, "simsb-", shared)
    finally:
        b.close()
    gw = sim_run(gw_port, cfg.sim, "simg-")
    gw_shared = sim_run(gw_port, cfg.sim_shared, "simsg-", shared)
    res["sim"] = {"gateway": gw, "baseline": base,
                  "shared": {"gateway": gw_shared, "baseline": base_shared}}
    n = cfg.sim_shared
    return [
        row("lwds-sim registrations/s (N=%d, 64 in flight)" % cfg.sim,
            "1/s", gw["rate"], base["rate"], "libcoap 2.01 server"),
        row("lwds-sim devices registered from one process (shared sockets)",
            "", n, n, "devices asked", ">= 100000"),
        row("lwds-sim registrations/s, one process, shared sockets (N=%d, "
            "64 in flight)" % n, "1/s", gw_shared["rate"],
            base_shared["rate"], "libcoap 2.01 server"),
        row("lwds-sim descriptors for the %d devices" % n, "",
            gw_shared["fds"], 0, ""),
        row("lwds-sim RSS per device (shared sockets)", "B",
            gw_shared["rss_kib"] * 1024.0 / n, 0, ""),
    ]


def scenario_scale(cfg, redis, services, res):
    """Many devices on one gateway: memory per device, time, update rate."""
    gw_pid = services.procs["coap-gw"].pid
    redis_pid = redis.proc.pid
    rss0, mem0 = rss_kib(gw_pid), redis_used(redis)
    cpu0 = cpu_seconds(gw_pid), cpu_seconds(redis_pid)
    r = run_load(services.coap_port, cfg.scale, "dev-", cfg.sockets,
                 ["--update-seconds", str(cfg.update_seconds),
                  "--local-addrs", "127.0.2.1-127.0.2.254"])
    rss1, mem1 = rss_kib(gw_pid), redis_used(redis)
    cpu1 = cpu_seconds(gw_pid), cpu_seconds(redis_pid)
    n = max(r["register"]["ok"], 1)
    res["scale"] = {"load": r, "gw_rss_kib": [rss0, rss1],
                    "redis_used_memory": [mem0, mem1],
                    "cpu_s": {"coap-gw": cpu1[0] - cpu0[0],
                              "redis": cpu1[1] - cpu0[1]}}
    gw_b = (rss1 - rss0) * 1024.0 / n
    redis_b = (mem1 - mem0) / float(n)
    ops = r["register"]["ok"] + r["update"]["ok"]
    return [
        row("scale devices registered", "", r["register"]["ok"], cfg.scale,
            "devices asked", "1000000"),
        row("scale coap-gw RSS per device", "B", gw_b, 1024,
            "goal 1 KiB", "<= 1024"),
        row("scale Redis used_memory per device", "B", redis_b, 1536,
            "goal 1.5 KiB", "<= 1536"),
        row("scale time to register all", "s",
            r["register"]["elapsed_s"], 0, ""),
        row("scale registrations/s (into 0 to N devices, %d in flight)"
            % cfg.sockets, "1/s", r["register"]["rate"], 0, ""),
        row("scale sustained updates/s", "1/s", r["update"]["rate"],
            res["storm_update_baseline"], "libcoap 2.01 server"),
        row("scale coap-gw CPU per operation", "us",
            (cpu1[0] - cpu0[0]) * 1e6 / max(ops, 1), 0, ""),
        row("scale redis CPU per operation", "us",
            (cpu1[1] - cpu0[1]) * 1e6 / max(ops, 1), 0, ""),
    ]


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def machine():
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu": model,
            "mem_gib": round(mem_kib / 1048576.0, 1),
            "kernel": platform.release()}


def fmt(v):
    if isinstance(v, float):
        return "%.3f" % v if abs(v) < 100 else "%.0f" % v
    return str(v)


def print_table(rows):
    print("%-52s %12s %12s %8s  %s" % ("figure", "value", "baseline",
                                       "ratio", "goal"))
    for r in rows:
        print("%-52s %12s %12s %8s  %s" % (
            r["name"] + (" [%s]" % r["unit"] if r["unit"] else ""),
            fmt(r["value"]), fmt(r["baseline"]) if r["baseline"] else "-",
            "%.2f" % r["ratio"] if r["ratio"] is not None else "-",
            r["goal"]))


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--soak", action="store_true")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--storm", type=int, default=50000)
    ap.add_argument("--sim", type=int, default=10000)
    ap.add_argument("--sim-shared", type=int, default=100000,
                    help="devices of the lwds-sim --shared-sockets storm "
                    "(one process)")
    ap.add_argument("--scale", type=int, default=1000000)
    ap.add_argument("--sockets", type=int, default=64,
                    help="storm concurrency (exchanges in flight) of the "
                    "Updates and of the scale and soak scenarios")
    ap.add_argument("--sweep", default="64,256,1024",
                    help="storm concurrencies, comma-separated: each is "
                    "measured for lwds and the baseline in every run "
                    "(--short: --sockets only)")
    ap.add_argument("--update-seconds", type=float, default=10)
    ap.add_argument("--aof", action="store_true",
                    help="Redis with the deployment's persistence "
                    "(appendonly yes, appendfsync everysec) for the storm, "
                    "sim, scale and soak scenarios; default: none")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--no-notify", action="store_true",
                    help="skip scenario 4 (notifications to web hooks)")
    bench_notify.add_args(ap)
    ap.add_argument("--no-reads", action="store_true",
                    help="skip scenario 3 (REST reads)")
    bench_reads.add_args(ap)
    bench_soak.add_args(ap)
    cfg = ap.parse_args()
    if cfg.short:
        cfg.runs, cfg.storm, cfg.sim, cfg.scale = 1, 2000, 500, 5000
        cfg.sim_shared = 2000
        cfg.update_seconds = 2
        bench_soak.short(cfg)
        bench_notify.short(cfg)
        bench_reads.shorten(cfg)
        cfg.sweep = str(cfg.sockets)
    try:
        cfg.sweep = [int(c) for c in cfg.sweep.split(",") if c.strip()]
    except ValueError:
        ap.error("--sweep wants numbers like 64,256,1024")
    if not cfg.sweep or min(cfg.sweep) < 1 or max(cfg.sweep) > 20000:
        ap.error("--sweep: concurrencies between 1 and 20000")
    return cfg


def start(redis):
    """The services; again (new ports) when a port chosen free was taken
    meanwhile by another process of this shared machine."""
    for attempt in range(3):
        svc = lwdslib.Services(redis, env={"LWDS_LOG_LEVEL": "warning"})
        try:
            return svc.start()
        except AssertionError:
            svc.cleanup()
            if attempt == 2:
                raise
    return None


def main():
    cfg = parse_args()
    res = {"started": datetime.datetime.utcnow().isoformat() + "Z",
           "machine": machine(), "config": vars(cfg)}
    rows = []
    redis = lwdslib.Redis()
    try:
        if cfg.aof:
            aof_on(redis)
        rows += scenario_storm(cfg, redis, res)
        res["storm_update_baseline"] = median(
            [r["update"]["rate"] for r in res["storm_runs"]["baseline"]])
        redis.command("FLUSHALL")
        services = start(redis)
        try:
            rows += scenario_sim(cfg, services.coap_port, res)
            services.check_running()
        finally:
            services.stop()
        redis.command("FLUSHALL")
        services = start(redis)
        try:
            rows += scenario_scale(cfg, redis, services, res)
            services.check_running()
        finally:
            services.stop()
        if cfg.soak or cfg.short:
            redis.command("FLUSHALL")
            services = start(redis)
            try:
                rows += bench_soak.scenario_soak(cfg, redis, services, res,
                                                 sys.modules[__name__])
            except (RuntimeError, AssertionError):
                print(services.logs(20), file=sys.stderr)
                raise
            finally:
                services.stop()
    finally:
        redis.close()
    if not cfg.no_reads:
        rows += bench_reads.scenario_reads(cfg, res)
    if not cfg.no_notify:
        notify_rows, notify_res = bench_notify.scenario_notify(
            cfg, row, lwdslib, build_bin, cpu_seconds)
        rows += notify_rows
        res.update(notify_res)
    res["rows"] = rows
    os.makedirs(cfg.out, exist_ok=True)
    path = os.path.join(cfg.out, time.strftime("%Y%m%dT%H%M%SZ",
                                               time.gmtime()) + ".json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    m = res["machine"]
    print("machine: %d CPUs, %s, %.1f GiB; %s mode"
          % (m["nproc"], m["cpu"], m["mem_gib"],
             "short" if cfg.short else "full"))
    print_table(rows)
    print("results: %s" % os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
