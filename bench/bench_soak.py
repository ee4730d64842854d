"""Scenario 5 of bench/bench.py (--soak): every kind of load at once on one
stack (Redis and the four services) for --soak-seconds (600), as issue 7
asks: "memory stays flat, zero errors, zero lost notifications".

  updates        lwds-bench-load: --soak-devices (20,000) registered, then
                 Updates at --soak-rate (2,000/s) for the whole soak.
  churn          every 5 s lwds-bench-load registers a batch of
                 --soak-churn (200) endpoints and de-registers them; the
                 batches take their names from CHURN_POOLS pools in turn, so
                 after the first round every Register is of an endpoint
                 seen before (the takeover path), as devices that come and
                 go do.  (A de-registered endpoint keeps its record and id,
                 ~450 B in Redis, for LWDS_CLIENT_RETENTION_S, 30 days by
                 default, so that it gets its id and subscriptions back;
                 then the gateway reaps it: memory grows with the distinct
                 endpoints of the last 30 days, not with registrations.)
  reads          lwds-sim with --soak-read-devices (100) devices, read
                 through rest-api by lwds-bench-reads http, open loop at
                 --soak-read-rate (200/s), GET {inst}/0 of object 3.
  notifications  lwds-bench-notify with --soak-notify-devices (100)
                 devices, each observed by one subscription whose hook is
                 lwds-bench-sink; CON notifications at --soak-notify-rate
                 (200/s); lost = sent - delivered once the sink drained.

Memory: RSS of each service and Redis's used_memory sampled every
min(10 s, soak/10); the median of the last third against the median of the
middle third (the first third holds the start-up and the first
registrations).
"""
import os
import statistics
import subprocess
import threading
import time

import bench_notify
import bench_reads

CHURN_EVERY_S = 5.0
CHURN_POOLS = 10
SERVICES = ("coap-gw", "rest-api", "broker", "webhook")


def add_args(ap):
    ap.add_argument("--soak-seconds", type=int, default=600)
    ap.add_argument("--soak-devices", type=int, default=20000)
    ap.add_argument("--soak-rate", type=float, default=2000)
    ap.add_argument("--soak-churn", type=int, default=200,
                    help="endpoints registered and de-registered every 5 s "
                    "(from 10 pools of names in turn)")
    ap.add_argument("--soak-read-devices", type=int, default=100)
    ap.add_argument("--soak-read-rate", type=float, default=200)
    ap.add_argument("--soak-notify-devices", type=int, default=100)
    ap.add_argument("--soak-notify-rate", type=float, default=200)


def short(cfg):
    cfg.soak_seconds, cfg.soak_devices = 10, 500
    cfg.soak_churn, cfg.soak_read_devices, cfg.soak_read_rate = 50, 20, 100
    cfg.soak_notify_devices, cfg.soak_notify_rate = 20, 100


class Churn(threading.Thread):
    """Batches of endpoints (names from CHURN_POOLS pools in turn)
    registered and de-registered until stopped; totals of both phases; a
    load generator that fails or prints no phase ends it (failure)."""

    def __init__(self, cfg, port, run_load):
        super().__init__(daemon=True)
        self.cfg, self.port, self.run_load = cfg, port, run_load
        self.stop_flag = threading.Event()
        self.ok = self.errors = self.batches = 0
        self.failure = None

    def run(self):
        while not self.stop_flag.is_set():
            start = time.monotonic()
            try:
                r = self.run_load(self.port, self.cfg.soak_churn,
                                  "soak-churn-%d-" %
                                  (self.batches % CHURN_POOLS), 16,
                                  ["--update-seconds", "0", "--deregister"])
                for phase in ("register", "deregister"):
                    self.ok += r[phase]["ok"]
                    self.errors += (r[phase]["errors"] +
                                    r[phase]["timeouts"])
            except (subprocess.CalledProcessError, OSError, KeyError,
                    ValueError) as e:
                self.failure = e
                return
            self.batches += 1
            self.stop_flag.wait(max(0.0, CHURN_EVERY_S -
                                    (time.monotonic() - start)))

    def stop(self):
        self.stop_flag.set()
        self.join(120)


def _reads_setup(cfg, services, api, token, tmpdir):
    """The reads' lwds-sim and the file of paths lwds-bench-reads reads."""
    sim = bench_reads._start_sim(services.coap_port, cfg.soak_read_devices,
                                 "soak-r-")
    try:
        bench_reads.lwdslib.wait_until(
            lambda: len(bench_reads._client_ids(api, token, "soak-r-"))
            >= cfg.soak_read_devices, 30, 0.2, "the reads' devices listed")
        insts = bench_reads._device_paths(
            api, token, bench_reads._client_ids(api, token, "soak-r-"))
    except BaseException:
        bench_reads._kill(sim)
        raise
    paths = os.path.join(tmpdir, "soak-reads.txt")
    bench_reads._write_paths(paths, [i + "/0" for i in insts])
    return sim, paths


def _thirds(samples, i):
    """The medians of samples[*][i] in the middle and in the last third."""
    third = max(len(samples) // 3, 1)
    return (statistics.median([s[i] for s in samples[third:2 * third]] or
                              [0]),
            statistics.median([s[i] for s in samples[2 * third:]] or [0]))


def scenario_soak(cfg, redis, services, res, b):
    """Runs the soak on services (started on redis, nothing else on them);
    b: bench.py's helpers (row, build_bin, run_load, rss_kib, redis_used,
    cpu_seconds).  Returns the rows."""
    api = services.api()
    token = api.token(services.admin_key, services.admin_secret)
    notify = bench_notify.Bench(cfg, bench_reads.lwdslib, b.build_bin,
                                b.cpu_seconds)
    tmpdir = os.path.join(cfg.out, "soak")
    os.makedirs(tmpdir, exist_ok=True)
    sink = bench_notify.Proc([b.build_bin(bench_notify.SINK), "--epoch-us",
                              str(notify.epoch)])
    emu = sim = updates = reads = churn = None
    try:
        sink_port = sink.wait_event("ready", 10)["port"]
        emu = notify.setup_devices(services, api, token, "soak-n-",
                                   cfg.soak_notify_devices, 1, sink_port,
                                   "soak")
        sim, paths = _reads_setup(cfg, services, api, token, tmpdir)
        sink.send("reset")
        updates = subprocess.Popen(
            [b.build_bin(b.LOAD), "--server",
             "127.0.0.1:%d" % services.coap_port, "--count",
             str(cfg.soak_devices), "--prefix", "soak-", "--sockets", "64",
             "--update-seconds", str(cfg.soak_seconds), "--rate",
             str(cfg.soak_rate)], stdout=subprocess.PIPE, text=True)
        reads = subprocess.Popen(
            [b.build_bin(bench_reads.READS), "http", "--server",
             "127.0.0.1:%d" % services.http_port, "--token", token,
             "--paths-file", paths, "--label", "soak", "--concurrency",
             "16", "--seconds", str(cfg.soak_seconds), "--rate",
             "%.0f" % cfg.soak_read_rate], stdout=subprocess.PIPE, text=True)
        emu.send("run %g %g con" % (cfg.soak_notify_rate, cfg.soak_seconds))
        churn = Churn(cfg, services.coap_port, b.run_load)
        churn.start()
        samples = _sample_memory(cfg, redis, services, updates, b)
        churn.stop()
        done = emu.wait_event("done", 120)
        st = bench_notify.drain(sink, done["sent"], idle_s=5.0)
        upd_out = updates.communicate(timeout=60)[0]
        reads_out = reads.communicate(timeout=120)[0]
        services.check_running()
    finally:
        for p in (updates, reads):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        if churn is not None:
            churn.stop()
        if sim is not None:
            bench_reads._kill(sim)
        for p in (emu, sink):
            if p is not None:
                p.close()
    if churn.failure is not None:
        raise RuntimeError("soak churn load failed: %r" % churn.failure)
    upd = bench_reads._phases(upd_out).get("update")
    rd = bench_reads._phases(reads_out).get("soak")
    if upd is None or rd is None:
        raise RuntimeError("soak load stopped early: %r / %r"
                           % (upd_out, reads_out))
    res["soak"] = {"updates": upd, "reads": rd, "notify": done, "sink": st,
                   "churn": {"ok": churn.ok, "errors": churn.errors,
                             "batches": churn.batches},
                   "samples": samples}
    return _rows(cfg, b.row, upd, rd, done, st, churn, samples)


def _sample_memory(cfg, redis, services, updates, b):
    """(t, RSS KiB of each service..., Redis used_memory) until the
    updates' load generator exits."""
    pids = [services.procs[n].pid for n in SERVICES]
    step = min(10.0, cfg.soak_seconds / 10.0)
    samples = []
    while updates.poll() is None:
        samples.append(tuple([time.monotonic()] +
                             [b.rss_kib(p) for p in pids] +
                             [b.redis_used(redis)]))
        time.sleep(step)
    return samples


def _rows(cfg, row, upd, rd, done, st, churn, samples):
    lost = done["sent"] - st["unique"]
    dups = st["dup_deliveries"] + st["dup_notifications"]
    errors = (upd["errors"] + upd["timeouts"] + rd["errors"] +
              rd["timeouts"] + churn.errors)
    out = [
        row("soak updates/s (%d s, %d devices)"
            % (cfg.soak_seconds, cfg.soak_devices), "1/s", upd["rate"],
            cfg.soak_rate, "rate asked"),
        row("soak registrations + de-registrations (churn, %d batches)"
            % churn.batches, "", churn.ok, 0, ""),
        row("soak reads/s (%d devices, open loop)" % cfg.soak_read_devices,
            "1/s", rd["rate"], cfg.soak_read_rate, "rate asked"),
        row("soak read p99", "ms", rd["p99_ms"], 0, ""),
        row("soak notifications delivered (CON, %d devices)"
            % cfg.soak_notify_devices, "", st["unique"], done["sent"],
            "sent"),
        row("soak errors+timeouts (updates, churn, reads)", "", errors, 0,
            "", "0"),
        row("soak notifications lost + duplicated", "", lost + dups, 0, "",
            "0"),
    ]
    for i, name in enumerate(SERVICES):
        mid, late = _thirds(samples, i + 1)
        out.append(row("soak %s RSS last third vs middle third" % name,
                       "KiB", late, mid, "middle third", "ratio ~1.0"))
    mid, late = _thirds(samples, len(SERVICES) + 1)
    out.append(row("soak Redis used_memory last third vs middle third", "B",
                   late, mid, "middle third", "ratio ~1.0"))
    return out
