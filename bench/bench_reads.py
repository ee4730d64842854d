"""Scenario 3 of bench/bench.py: REST reads through the full path against
raw CoAP round trips to the same simulated devices (bench/README.md).

  libcoap: lwds-bench-reads-libcoap, a libcoap 4.3.1 client (one client
        session per device, C CON GETs in flight, the next sent from the
        response handler) that is also the LwM2M server of an lwds-sim with
        N devices: the baseline issue 4 names.
  raw:  lwds-bench-reads coap, our own lean raw-UDP tool in the same role
        (CON GETs of /3/0 and /3/0/0, C in flight): faster than a libcoap
        client, kept as a stricter reference.
        Both send each GET with the Accept option coap-gw sends for the
        same REST read (ACCEPT below), so the device does the same work
        on both sides.
  full: the same lwds-sim registered with lwds-coap-gw; lwds-bench-reads
        http sends GET {inst}/0 and {inst}/0/resources/0 of object 3 over C
        keep-alive connections to lwds-rest-api (-> nng rpc -> coap-gw ->
        CoAP -> lwds-sim), closed loop, then the instance read again
        open-loop at half the peak rate (--half-peak-runs phases, 3 by
        default: the run with the median p99 gives the half-peak rows, the
        p99 of every run is printed too).  CPU per request of each process
        from /proc/<pid>/stat deltas (also for the half-peak phase), and
        Redis's commands and read events per request (INFO stats deltas).

Run alone: LWDS_BUILD_DIR=build-bench python3 bench/bench_reads.py [--short]
"""
import json
import os
import resource
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests", "integration"))
import lwdslib  # noqa: E402

READS = "bench/lwds-bench-reads"
READS_LIBCOAP = "bench/lwds-bench-reads-libcoap"
INSTANCE, RESOURCE = "/3/0", "/3/0/0"
# The Accept coap-gw sends lwds-sim for the REST reads of these paths
# (SenML-CBOR for an instance, CBOR for one resource; bench/README.md, sixth
# round): the raw baselines send the same.
ACCEPT = {INSTANCE: 112, RESOURCE: 60}


def _bin(name):
    return os.path.join(lwdslib.build_dir(), name)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    """CPU time of this process's children that have been waited for."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_delay_seconds(pid):
    """Time the threads of pid have spent runnable but waiting for a CPU
    (/proc/<pid>/task/*/schedstat, second field, ns)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def _start_sim(port, count, prefix):
    sim = lwdslib.Sim(["--server", "coap://127.0.0.1:%d" % port,
                       "--count", str(count), "--prefix", prefix,
                       "--lifetime", "86400", "--quiet",
                       "--max-inflight", "64"])
    sim.wait_line(lwdslib.Sim.READY, 120)
    return sim


def _kill(sim):
    sim.proc.kill()
    sim.proc.wait()


def _phases(text):
    return {d["phase"]: d for d in map(json.loads, text.splitlines())
            if "phase" in d}


def run_raw(cfg, paths=(INSTANCE, RESOURCE), rate=0.0, libcoap=False):
    """Raw CoAP GET round trips, from the lean tool or (libcoap) the
    libcoap client: {path: figures}; each path's cpu_us holds the CPU µs
    per read of the tool and the simulator over all the paths' phases."""
    port = lwdslib.free_port("udp")
    cmd = [_bin(READS_LIBCOAP)] if libcoap else [_bin(READS), "coap"]
    cmd += ["--listen", "127.0.0.1:%d" % port,
            "--devices", str(cfg.reads_devices),
           "--concurrency", str(cfg.reads_concurrency),
           "--seconds", str(cfg.reads_seconds)]
    for path in paths:
        cmd += ["--path", path, "--accept", str(ACCEPT[path])]
    if rate > 0:
        cmd += ["--rate", "%.0f" % rate]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    sim = None
    try:
        if "listening" not in p.stdout.readline():
            raise RuntimeError("%s did not start" % cmd[0])
        sim = _start_sim(port, cfg.reads_devices, "rr-")
        wait0 = run_delay_seconds(sim.proc.pid) + run_delay_seconds(p.pid)
        for line in p.stdout:
            if "registered" in line:
                break
        cpu0 = {"client": cpu_seconds(p.pid),
                "lwds-sim": cpu_seconds(sim.proc.pid)}
        gen0 = children_cpu_seconds()
        out, _ = p.communicate(timeout=cfg.reads_seconds * 2 + 150)
        # the tool has exited: its own wait is lost, the simulator's is not
        wait = run_delay_seconds(sim.proc.pid) - wait0
        cpu = {"client": children_cpu_seconds() - gen0 - cpu0["client"],
               "lwds-sim": cpu_seconds(sim.proc.pid) - cpu0["lwds-sim"]}
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if sim is not None:
            _kill(sim)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %r" % (cmd[0], out))
    d = _phases(out)
    n = max(sum(v["ok"] for v in d.values()), 1)
    for v in d.values():
        v["sim_wait_us"] = max(wait, 0) * 1e6 / n
        v["cpu_us"] = {k: t * 1e6 / n for k, t in cpu.items()}
    return d


def _client_ids(api, token, prefix=""):
    """Ids of the clients whose endpoint name starts with prefix."""
    ids, start = [], 0
    while True:
        r = api.get("/clients?startIndex=%d&pageSize=500" % start, token)
        items = r.json().get("Items", [])
        for item in items:
            if item.get("Name", "").startswith(prefix):
                ids.append(lwdslib.path_of(lwdslib.link(item, "self"))
                           .rsplit("/", 1)[1])
        start += len(items)
        if not items or start >= r.json()["PageInfo"]["TotalCount"]:
            return ids


def _device_paths(api, token, ids):
    """The instances collection of object 3 of every client."""
    out = []
    for cid in ids:
        r = api.get("/clients/%s/objecttypes" % cid, token)
        for item in r.json().get("Items", []):
            if str(item["ObjectTypeID"]) == "3":
                out.append(lwdslib.path_of(lwdslib.link(item, "instances")))
    return out


def _write_paths(path, items):
    with open(path, "w") as f:
        f.write("\n".join(items) + "\n")


class FullPath:
    """Redis, coap-gw, rest-api and an lwds-sim with N devices."""

    def __init__(self, cfg, tmpdir):
        self.cfg = cfg
        self.redis = lwdslib.Redis()
        self.svc = self.sim = None
        try:
            self.svc = lwdslib.Services(
                self.redis, names=("coap-gw", "rest-api"),
                env={"LWDS_LOG_LEVEL": "warning"}).start()
            self.sim = _start_sim(self.svc.coap_port, cfg.reads_devices,
                                  "rd-")
            api = self.svc.api()
            self.token = api.token(self.svc.admin_key, self.svc.admin_secret)
            lwdslib.wait_until(
                lambda: len(_client_ids(api, self.token))
                >= cfg.reads_devices, 30, 0.2, "all devices listed")
            insts = _device_paths(api, self.token,
                                  _client_ids(api, self.token))
        except BaseException:
            self.close()
            raise
        self.files = {INSTANCE: os.path.join(tmpdir, "reads-inst.txt"),
                      RESOURCE: os.path.join(tmpdir, "reads-res.txt")}
        _write_paths(self.files[INSTANCE], [i + "/0" for i in insts])
        _write_paths(self.files[RESOURCE],
                     [i + "/0/resources/0" for i in insts])
        self.pids = {"rest-api": self.svc.procs["rest-api"].pid,
                     "coap-gw": self.svc.procs["coap-gw"].pid,
                     "redis": self.redis.proc.pid,
                     "lwds-sim": self.sim.proc.pid}

    def run(self, path, rate=0.0):
        """One lwds-bench-reads http phase; figures plus CPU us/request."""
        cfg = self.cfg
        cmd = [_bin(READS), "http", "--server",
               "127.0.0.1:%d" % self.svc.http_port, "--token", self.token,
               "--paths-file", self.files[path], "--label", path,
               "--concurrency", str(cfg.reads_concurrency),
               "--seconds", str(cfg.reads_seconds)]
        if rate > 0:
            cmd += ["--rate", "%.0f" % rate]
        red0 = self.redis_stats()
        cpu0 = {k: cpu_seconds(v) for k, v in self.pids.items()}
        wait0 = {k: run_delay_seconds(v) for k, v in self.pids.items()}
        gen0 = children_cpu_seconds()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        out, _ = p.communicate(timeout=cfg.reads_seconds + 60)
        cpu1 = {k: cpu_seconds(v) for k, v in self.pids.items()}
        cpu1["load generator"] = children_cpu_seconds() - gen0
        cpu0["load generator"] = 0.0
        wait1 = {k: run_delay_seconds(v) for k, v in self.pids.items()}
        red1 = self.redis_stats()
        if p.returncode != 0:
            raise RuntimeError("lwds-bench-reads http failed: %r" % out)
        d = _phases(out)[path]
        n = max(d["ok"], 1)
        d["cpu_us"] = {k: (cpu1[k] - cpu0[k]) * 1e6 / n for k in cpu0}
        d["wait_us"] = {k: (wait1[k] - wait0[k]) * 1e6 / n for k in wait0}
        d["redis_per_req"] = {k: (red1[k] - red0[k]) / n for k in red0}
        self.svc.check_running()
        return d

    def redis_stats(self):
        """Redis's commands and read events (one per wake-up that read a
        client's input) so far, from INFO stats."""
        vals = self.redis.info("stats")
        return {"commands": int(vals["total_commands_processed"]),
                "read_events": int(vals["total_reads_processed"])}

    def close(self):
        if self.sim is not None:
            _kill(self.sim)
        if self.svc is not None:
            self.svc.stop()
        self.redis.close()


def _row(name, unit, value, base, base_name, goal=""):
    return {"name": name, "unit": unit, "value": value, "baseline": base,
            "baseline_name": base_name,
            "ratio": value / base if base else None, "goal": goal}


def _rows(cfg, raw, lib, full, half, raw_half):
    n, c = cfg.reads_devices, cfg.reads_concurrency
    rows = []
    for path, what in ((INSTANCE, "instance"), (RESOURCE, "resource")):
        f, r = full[path], raw[path]
        rows.append(_row("reads %s/s (%d devices, %d in flight)"
                         % (what, n, c), "1/s", f["rate"], lib[path]["rate"],
                         "libcoap client GET %s (issue 4's baseline)" % path,
                         ">= 50%" if path == INSTANCE else ""))
        rows.append(_row("reads %s/s against the lean raw-UDP tool"
                         % what, "1/s", f["rate"], r["rate"],
                         "lwds-bench-reads coap GET %s (stricter)" % path))
        for p in ("p50_ms", "p99_ms", "p999_ms"):
            rows.append(_row("reads %s %s" % (what, p), "ms", f[p], r[p],
                             "raw CoAP GET %s" % path))
        rows.append(_row("reads %s errors+timeouts" % what, "",
                         f["errors"] + f["timeouts"],
                         r["errors"] + r["timeouts"], "raw CoAP", "0"))
        for svc, us in sorted(f["cpu_us"].items()):
            rows.append(_row("reads %s CPU per request, %s" % (what, svc),
                             "us", us, 0, ""))
        for k, v in sorted(f["redis_per_req"].items()):
            rows.append(_row("reads %s: Redis %s per request" % (what, k),
                             "", v, 0, ""))
    rows.append(_row("reads instance p99 at half peak (%.0f/s open loop)"
                     % half["asked"], "ms", half["p99_ms"],
                     raw_half["p99_ms"], "raw CoAP at the same rate",
                     "< 10"))
    for i, p99 in enumerate(half["p99_each_ms"]):
        rows.append(_row("reads instance p99 at half peak, run %d of %d "
                         "(sorted)" % (i + 1, len(half["p99_each_ms"])),
                         "ms", p99, 0, ""))
    rows.append(_row("reads instance p50 at half peak", "ms",
                     half["p50_ms"], raw_half["p50_ms"],
                     "raw CoAP at the same rate"))
    rows.append(_row("reads instance rate at half peak", "1/s",
                     half["rate"], half["asked"], "rate asked"))
    for svc, us in sorted(half["cpu_us"].items()):
        rows.append(_row("reads at half peak: CPU per request, %s" % svc,
                         "us", us, 0, ""))
    for k, v in sorted(half["redis_per_req"].items()):
        rows.append(_row("reads at half peak: Redis %s per request" % k, "",
                         v, 0, ""))
    for svc, us in sorted(half["wait_us"].items()):
        rows.append(_row("reads at half peak: wait for a CPU per request, %s"
                         % svc, "us", us,
                         raw_half["sim_wait_us"] if svc == "lwds-sim" else 0,
                         "lwds-sim, raw CoAP at the same rate"
                         if svc == "lwds-sim" else ""))
    return rows


def scenario_reads(cfg, res, tmpdir=None):
    """Scenario 3; fills res["reads"] and returns the table rows."""
    if tmpdir is None:
        with tempfile.TemporaryDirectory(prefix="lwds-reads-") as d:
            return scenario_reads(cfg, res, d)
    raw = run_raw(cfg)
    lib = run_raw(cfg, libcoap=True)
    fp = FullPath(cfg, tmpdir)
    try:
        full = {path: fp.run(path) for path in (INSTANCE, RESOURCE)}
        rate = full[INSTANCE]["rate"] / 2.0
        halves = sorted((fp.run(INSTANCE, rate)
                         for _ in range(max(cfg.half_peak_runs, 1))),
                        key=lambda h: h["p99_ms"])
        half = halves[len(halves) // 2]
        half["asked"] = rate
        half["p99_each_ms"] = [h["p99_ms"] for h in halves]
    finally:
        fp.close()
    raw_half = run_raw(cfg, (INSTANCE,), rate)[INSTANCE]
    res["reads"] = {"raw": raw, "raw_libcoap": lib, "full": full,
                    "half_peak": half, "raw_at_half_peak_rate": raw_half,
                    "ratio_libcoap": {p: full[p]["rate"] / lib[p]["rate"]
                                      if lib[p]["rate"] else None
                                      for p in full},
                    "ratio_lean": {p: full[p]["rate"] / raw[p]["rate"]
                                   if raw[p]["rate"] else None
                                   for p in full}}
    return _rows(cfg, raw, lib, full, half, raw_half)


def add_args(ap):
    ap.add_argument("--reads-devices", type=int, default=1000)
    ap.add_argument("--reads-concurrency", type=int, default=64)
    ap.add_argument("--reads-seconds", type=float, default=10)
    ap.add_argument("--half-peak-runs", type=int, default=3,
                    help="open-loop phases at half the peak rate; the one "
                    "with the median p99 is reported")


def shorten(cfg):
    cfg.reads_devices, cfg.reads_seconds, cfg.half_peak_runs = 200, 1, 1


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true")
    add_args(ap)
    args = ap.parse_args()
    if args.short:
        shorten(args)
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for r in scenario_reads(args, out, d):
            print("%-58s %12.3f %12s %6s  %s" % (
                r["name"] + (" [%s]" % r["unit"] if r["unit"] else ""),
                r["value"], "%.3f" % r["baseline"] if r["baseline"] else "-",
                "%.2f" % r["ratio"] if r["ratio"] is not None else "-",
                r["goal"]))
    print(json.dumps(out))
