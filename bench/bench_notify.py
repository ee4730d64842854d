"""Scenario 4 of bench/bench.py: notifications to web hooks, end to end.

Full stack (Redis, coap-gw, broker, webhook, rest-api) driven by
lwds-bench-notify (N devices over plain CoAP, the notified value is the send
time in microseconds) and received by lwds-bench-sink (answers 204, computes
device-to-hook latency from the value, counts duplicates).  Phases:

  max     every device observed by one subscription; CON notifications as
          fast as the gateway ACKs them (one in flight per device) for D s;
          delivered/s = unique deliveries / (last delivery - first send).
          The backlog queues in the Redis streams, so its latency is
          queueing time and is not reported.
  at-max  NON notifications at that rate (open loop) for D s: p50/p99/p999
          latency, lost = sent - delivered (goal 0).
  half    the same at half that rate.
  fanout  one device observed by F subscriptions (one hook URL each):
          deliveries/s for notifications at --fanout-rate/s for D s.
  baseline  lwds-bench-sink --post: the same-shaped POSTs straight to the
          sink over 8 keep-alive connections (the HTTP path without lwds).

CPU seconds of every process come from /proc deltas per phase.
"""
import json
import os
import select
import subprocess
import sys
import time

NOTIFY = "bench/lwds-bench-notify"
SINK = "bench/lwds-bench-sink"


class Proc:
    """A child speaking JSON lines on stdout, taking commands on stdin."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True,
                                  bufsize=1)

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def wait_event(self, name, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("%s: no %s event within %.0f s"
                                   % (self.p.args[0], name, timeout))
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if not r:
                continue
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("%s exited (%s) waiting for %s"
                                   % (self.p.args[0], self.p.poll(), name))
            d = json.loads(line)
            if d.get("event") == name:
                return d

    def ask(self, command, event, timeout=30):
        self.send(command)
        return self.wait_event(event, timeout)

    def close(self):
        try:
            self.send("quit")
        except OSError:
            pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def cpu_all(pids, cpu_seconds):
    out = {}
    for name, pid in pids.items():
        try:
            out[name] = cpu_seconds(pid)
        except OSError:
            out[name] = 0.0
    return out


def cpu_delta(before, after):
    return {k: round(after[k] - before[k], 3) for k in before}


def definition_id(api, token, oid):
    r = api.get("/objecttypes/definitions?pageSize=1000", token)
    for d in r.json().get("Items", []):
        if str(d.get("ObjectID")) == str(oid):
            return d["ObjectDefinitionID"]
    raise RuntimeError("no definition of object %s" % oid)


def subscribe(api, token, cid, did, url):
    path = "/clients/%s/objecttypes/%s/instances/0/subscriptions" % (cid, did)
    r = api.post(path, token, {"SubscriptionType": "Observation",
                               "Property": "5700", "Url": url})
    if r.status != 201:
        raise RuntimeError("POST %s: %r" % (path, r))


def commandstats(redis, deliveries):
    """{command: [calls, usec]} per delivery from INFO commandstats."""
    info = redis.command("INFO", "commandstats")
    if isinstance(info, bytes):
        info = info.decode()
    out = {}
    n = max(deliveries, 1)
    for line in info.splitlines():
        if not line.startswith("cmdstat_"):
            continue
        name, rest = line[8:].split(":", 1)
        f = dict(kv.split("=") for kv in rest.split(","))
        out[name] = [round(int(f["calls"]) / n, 3),
                     round(int(f["usec"]) / n, 2)]
    return out


def udp_drops():
    """Machine-wide UDP datagrams dropped for a full receive buffer
    (/proc/net/snmp Udp RcvbufErrors): where NON notifications get lost
    before the gateway reads them."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def drain(sink, expected, idle_s=2.0, timeout=120.0):
    """Sink stats once `expected` unique deliveries arrived, or once none
    arrived for idle_s (the rest is lost), or after timeout."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while True:
        st = sink.ask("stats", "stats")
        if st["unique"] >= expected or time.monotonic() > deadline:
            return st
        if st["unique"] != last:
            last, since = st["unique"], time.monotonic()
        elif time.monotonic() - since > idle_s:
            return st
        time.sleep(0.1)


class Bench:
    def __init__(self, cfg, lwdslib, build_bin, cpu_seconds):
        self.cfg = cfg
        self.lwdslib = lwdslib
        self.build_bin = build_bin
        self.cpu_seconds = cpu_seconds
        self.epoch = int(time.time() * 1e6)

    def now_rel(self):
        return time.time() - self.epoch / 1e6

    def phase(self, name, emu, sink, pids, rate, secs, mode, per_note):
        """One run of the emulator; figures from emulator, sink, /proc."""
        sink.ask("stats", "stats")
        sink.send("reset")
        perf = self.perf_start(name, pids)
        c0 = cpu_all(pids, self.cpu_seconds)
        u0 = udp_drops()
        t0 = self.now_rel()
        done = emu.ask("run %g %g %s" % (rate, secs, mode), "done",
                       secs + 60)
        st = drain(sink, done["sent"] * per_note,
                   idle_s=max(3.0, secs / 2))
        c1 = cpu_all(pids, self.cpu_seconds)
        self.perf_stop(perf)
        span = max(st["last_s"] - t0, 1e-6)
        return {"phase": name, "emulator": done, "sink": st,
                "cpu_s": cpu_delta(c0, c1),
                "delivered_per_s": st["unique"] / span,
                "udp_rcvbuf_drops": udp_drops() - u0,
                "lost": done["sent"] * per_note - st["unique"]}

    def perf_start(self, phase, pids):
        """LWDS_BENCH_PERF=webhook,broker,...: perf record those processes
        during the max phase (bench/results/notify-<name>.perf)."""
        names = os.environ.get("LWDS_BENCH_PERF", "")
        if phase != "max" or not names:
            return []
        out = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "results")
        os.makedirs(out, exist_ok=True)
        procs = []
        for name in names.split(","):
            data = os.path.join(out, "notify-%s.perf" % name)
            procs.append((data, subprocess.Popen(
                ["perf", "record", "-e", "cpu-clock", "-F", "999", "-g",
                 "-o", data, "-p", str(pids[name])],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        time.sleep(0.5)
        return procs

    def perf_stop(self, procs):
        for data, p in procs:
            p.send_signal(2)
            p.wait(60)
            rep = subprocess.run(
                ["perf", "report", "-i", data, "--no-children", "--sort",
                 "dso,symbol", "--stdio", "-g", "none", "--percent-limit",
                 "0.7"], capture_output=True, text=True)
            print("== perf %s" % data)
            print("\n".join(x for x in rep.stdout.splitlines()[:70]
                            if x and not x.startswith("#")))

    def baseline(self, sink_port):
        out = subprocess.run(
            [self.build_bin(SINK), "--post",
             "http://127.0.0.1:%d/baseline" % sink_port,
             "--count", str(self.cfg.notify_baseline), "--conns", "8",
             "--epoch-us", str(self.epoch)],
            capture_output=True, text=True, check=True, timeout=300)
        return json.loads(out.stdout.splitlines()[-1])

    def setup_devices(self, services, api, token, prefix, count, subs_per,
                      sink_port, hook):
        emu = Proc([self.build_bin(NOTIFY), "--server",
                    "127.0.0.1:%d" % services.coap_port, "--count",
                    str(count), "--prefix", prefix, "--expect-obs",
                    str(count), "--epoch-us", str(self.epoch)])
        reg = emu.wait_event("registered", 120)
        if reg["ok"] != count:
            raise RuntimeError("%d of %d devices registered"
                               % (reg["ok"], count))
        ids = emu.ask("ids", "ids")["ids"]
        did = definition_id(api, token, 3303)
        for i, cid in enumerate(ids):
            for j in range(subs_per):
                subscribe(api, token, cid, did, "http://127.0.0.1:%d/%s/%d"
                          % (sink_port, hook, i * subs_per + j))
        emu.wait_event("observed", 120)
        return emu

    def run(self, services, redis, res):
        cfg = self.cfg
        api = services.api()
        token = api.token(services.admin_key, services.admin_secret)
        sink = Proc([self.build_bin(SINK), "--epoch-us", str(self.epoch)])
        emu = fan = None
        try:
            sink_port = sink.wait_event("ready", 10)["port"]
            base = self.baseline(sink_port)
            sink.send("reset")
            emu = self.setup_devices(services, api, token, "nb-",
                                     cfg.notify_devices, 1, sink_port, "dev")
            pids = {n: p.pid for n, p in services.procs.items()}
            pids.update({"redis": redis.proc.pid, "emulator": emu.p.pid,
                         "sink": sink.p.pid})
            # warm-up: connections, JIT-free but caches and pools fill
            self.phase("warm-up", emu, sink, pids, 2000, 1, "non", 1)
            redis.command("CONFIG", "RESETSTAT")
            mx = self.phase("max", emu, sink, pids, 0, cfg.notify_seconds,
                            "con", 1)
            mx["redis_commands"] = commandstats(redis, mx["sink"]["unique"])
            full_rate = max(mx["delivered_per_s"], 200)
            if cfg.notify_rate:  # the same offered load for two builds
                full_rate = cfg.notify_rate
            at_max = self.phase("at-max", emu, sink, pids, full_rate,
                                cfg.notify_seconds, "non", 1)
            half = self.phase("half", emu, sink, pids, full_rate / 2,
                              cfg.notify_seconds, "non", 1)
            emu.close()
            emu = None
            fan = self.setup_devices(services, api, token, "fan-", 1,
                                     cfg.fanout_subs, sink_port, "fan")
            pids["emulator"] = fan.p.pid
            fo = self.phase("fanout", fan, sink, pids, cfg.fanout_rate,
                            cfg.notify_seconds, "non", cfg.fanout_subs)
            services.check_running()
        finally:
            for p in (emu, fan, sink):
                if p is not None:
                    p.close()
        res["notify"] = {"baseline": base, "max": mx, "at_max": at_max,
                         "half": half, "fanout": fo}
        return self.rows(base, mx, at_max, half, fo)

    def rows(self, base, mx, at_max, half, fo):
        row = self.row
        n = self.cfg.notify_devices
        out = [
            row("notify delivered/s (max, %d devices, CON)" % n, "1/s",
                mx["delivered_per_s"], base["rate"],
                "sink POSTed directly", ">= 20000"),
            row("notify max lost + duplicates", "", mx["lost"] +
                mx["sink"]["dup_notifications"], 0, "", "0"),
            row("notify at max rate: delivered / sent per s", "1/s",
                at_max["delivered_per_s"], at_max["emulator"]["rate"],
                "rate sent"),
            row("notify at max rate p50 / p99 latency", "ms",
                at_max["sink"]["p50_ms"], at_max["sink"]["p99_ms"], "p99"),
            row("notify at max rate p999 latency", "ms",
                at_max["sink"]["p999_ms"], 0, ""),
            row("notify at max rate lost + duplicates", "",
                at_max["lost"] + at_max["sink"]["dup_notifications"], 0, "",
                "0"),
            row("notify at max rate UDP receive-buffer drops", "",
                at_max["udp_rcvbuf_drops"], 0, "(machine-wide)"),
            row("notify half rate asked / delivered", "1/s",
                half["delivered_per_s"], half["emulator"]["rate"],
                "rate sent"),
            row("notify half p50 latency", "ms", half["sink"]["p50_ms"],
                0, ""),
            row("notify half p99 latency", "ms", half["sink"]["p99_ms"],
                0, "", "< 50"),
            row("notify half p999 latency", "ms", half["sink"]["p999_ms"],
                0, ""),
            row("notify half lost + duplicates", "",
                half["lost"] + half["sink"]["dup_notifications"], 0, "",
                "0"),
            row("fan-out deliveries/s (1 observation, %d subs)"
                % self.cfg.fanout_subs, "1/s", fo["delivered_per_s"],
                base["rate"], "sink POSTed directly"),
            row("fan-out p50 / p99 latency", "ms", fo["sink"]["p50_ms"],
                fo["sink"]["p99_ms"], "p99"),
            row("fan-out lost + duplicates", "",
                fo["lost"] + fo["sink"]["dup_notifications"], 0, "", "0"),
        ]
        delivered = max(mx["sink"]["unique"], 1)
        for name, secs in sorted(mx["cpu_s"].items()):
            out.append(row("notify max CPU per delivery: %s" % name, "us",
                           secs * 1e6 / delivered, 0, ""))
        fd = max(fo["sink"]["unique"], 1)
        for name in ("broker", "webhook", "redis"):
            out.append(row("fan-out CPU per delivery: %s" % name, "us",
                           fo["cpu_s"].get(name, 0) * 1e6 / fd, 0, ""))
        return out


def scenario_notify(cfg, row, lwdslib, build_bin, cpu_seconds):
    """Runs scenario 4 on its own Redis and services; returns the rows
    (row is bench.py's row builder) and the raw figures."""
    res = {}
    redis = lwdslib.Redis()
    try:
        services = lwdslib.Services(
            redis, env={"LWDS_LOG_LEVEL": "warning"}).start()
        try:
            b = Bench(cfg, lwdslib, build_bin, cpu_seconds)
            b.row = row
            try:
                rows = b.run(services, redis, res)
            except (RuntimeError, AssertionError):
                print(services.logs(20), file=sys.stderr)
                raise
        finally:
            services.stop()
    finally:
        redis.close()
    return rows, res


FILL_LUA = (
    "for i = 1, tonumber(ARGV[1]) do redis.call('XADD', KEYS[1], '*', "
    "'job', string.format(ARGV[2], i, i)) end return 1")


def webhook_only(n, lwdslib, build_bin, cpu_seconds):
    """The dispatcher alone: n jobs pre-filled in the deliveries stream
    (same-shaped bodies, signed), lwds-webhook started, time until the sink
    has them all; returns {rate, cpu_us per delivery of webhook/redis}."""
    redis = lwdslib.Redis()
    sink = Proc([build_bin(SINK)])
    try:
        port = sink.wait_event("ready", 10)["port"]
        body = ('{"Items":[{"Links":[{"rel":"subscription","href":'
                '"/subscriptions/AAAAAAAAAAAAAAAAAAAAAA"},{"rel":"client",'
                '"href":"/clients/BBBBBBBBBBBBBBBBBBBBBB"},{"rel":"object",'
                '"href":"/clients/BBBBBBBBBBBBBBBBBBBBBB/objecttypes/'
                'CCCCCCCCCCCCCCCCCCCCCC/instances/0"},{"rel":"definition",'
                '"href":"/objecttypes/definitions/CCCCCCCCCCCCCCCCCCCCCC"}],'
                '"TimeTriggered":"2026-11-25T14:00:00Z","SubscriptionType":'
                '"Observation","Value":{"InstanceID":0,"SensorValue":%d}}]}')
        job = json.dumps({
            "v": 1, "id": "%020dAA", "sub": "BBBBBBBBBBBBBBBBBBBBBA",
            "org": 0, "url": "http://127.0.0.1:%d/hook" % port,
            "ct": "application/json",
            "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I",
            "attempt": 0, "created": int(time.time() * 1000),
            "body": body})
        redis.command("EVAL", FILL_LUA, "1", "lwds:v2:{deliveries}",
                      str(n), job)
        svc = lwdslib.Services(redis, names=("webhook",),
                               env={"LWDS_LOG_LEVEL": "warning"})
        t0 = time.monotonic()
        svc.start()
        try:
            pid = svc.procs["webhook"].pid
            st = drain(sink, n, idle_s=5, timeout=300)
            if st["unique"] < n:
                print(svc.logs())
            t1 = time.monotonic()
            cpu = cpu_seconds(pid), cpu_seconds(redis.proc.pid)
        finally:
            svc.cleanup()
        got = max(st["unique"], 1)
        return {"n": n, "delivered": st["unique"],
                "rate": st["unique"] / (t1 - t0),
                "webhook_us": cpu[0] * 1e6 / got,
                "redis_us": cpu[1] * 1e6 / got}
    finally:
        sink.close()
        redis.close()


def add_args(ap):
    ap.add_argument("--notify-devices", type=int, default=1000)
    ap.add_argument("--notify-seconds", type=float, default=10)
    ap.add_argument("--fanout-subs", type=int, default=1000)
    ap.add_argument("--fanout-rate", type=float, default=40)
    ap.add_argument("--notify-baseline", type=int, default=200000)
    ap.add_argument("--notify-rate", type=float, default=0,
                    help="NON rate of the at-max phase (half: half of it) "
                    "instead of the max phase's delivered/s")


def short(cfg):
    cfg.notify_devices, cfg.notify_seconds = 100, 2
    cfg.fanout_subs, cfg.fanout_rate = 100, 20
    cfg.notify_baseline = 5000


def main():
    """Scenario 4 alone: LWDS_BUILD_DIR=build-bench python3
    bench/bench_notify.py [--short] [options]."""
    import argparse
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--webhook-only", type=int, default=0,
                    help="only the dispatcher draining N pre-filled jobs")
    add_args(ap)
    cfg = ap.parse_args()
    if cfg.webhook_only:
        print(json.dumps(webhook_only(cfg.webhook_only, bench.lwdslib,
                                      bench.build_bin, bench.cpu_seconds)))
        return
    if cfg.short:
        short(cfg)
    rows, res = scenario_notify(cfg, bench.row, bench.lwdslib,
                                bench.build_bin, bench.cpu_seconds)
    bench.print_table(rows)
    print("redis commands per delivery (max phase): [calls, usec]")
    for k, v in sorted(res["notify"]["max"]["redis_commands"].items(),
                       key=lambda kv: -kv[1][1]):
        print("  %-20s %8.3f %8.2f" % (k, v[0], v[1]))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
