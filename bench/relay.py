#!/usr/bin/env python3
"""The floor of issue 4's read path (bench/README.md, "The floor of the
read path"): how fast can REST reads be on these hops when nothing is done
on them?

  LWDS_BUILD_DIR=build-rel python3 bench/relay.py [--rounds N]
      [--reads-seconds S] [--no-full]

Each round runs, one after the other, closed loop, 64 in flight, against
the same kind of lwds-sim with 1,000 devices (bench_reads.py's settings):

  libcoap: issue 4's baseline, the libcoap client's CON GETs of /3/0;
  floor:   lwds-bench-reads http -> lwds-bench-relay api (HTTP/1.1) -> TCP
           stream -> lwds-bench-relay gw -> CoAP -> lwds-sim and back: the
           hops lwds takes, with no token check, no Redis, no conversion of
           the answer to JSON (bench/bench_relay.c);
  full:    lwds itself (Redis, coap-gw, rest-api; bench_reads.FullPath).

It prints one JSON line per phase (rate, ratio to the round's libcoap rate,
CPU µs per read of each process from /proc/<pid>/stat deltas) and a summary
of the medians.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_reads  # noqa: E402

lwdslib = bench_reads.lwdslib
RELAY = "bench/lwds-bench-relay"


def _start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    if "listening" not in p.stdout.readline():
        p.kill()
        raise RuntimeError("%s did not start" % cmd[0])
    return p


def _stop(p):
    if p is not None and p.poll() is None:
        p.kill()
        p.wait()


def run_floor(cfg, tmpdir):
    """One closed-loop phase through the relay: figures plus CPU µs/read."""
    udp, stream, http = (lwdslib.free_port("udp"), lwdslib.free_port(),
                         lwdslib.free_port())
    relay = bench_reads._bin(RELAY)
    gw = api = sim = None
    try:
        gw = _start([relay, "gw", "--listen", "127.0.0.1:%d" % udp,
                     "--stream", "127.0.0.1:%d" % stream,
                     "--devices", str(cfg.reads_devices)])
        sim = bench_reads._start_sim(udp, cfg.reads_devices, "fl-")
        for line in gw.stdout:
            if "registered" in line:
                break
        api = _start([relay, "api", "--listen", "127.0.0.1:%d" % http,
                      "--gw", "127.0.0.1:%d" % stream])
        paths = os.path.join(tmpdir, "floor.txt")
        bench_reads._write_paths(
            paths, ["/%d/%d/3/0" % (i, bench_reads.ACCEPT["/3/0"])
                    for i in range(cfg.reads_devices)])
        pids = {"api": api.pid, "gw": gw.pid, "lwds-sim": sim.proc.pid}
        cpu0 = {k: bench_reads.cpu_seconds(v) for k, v in pids.items()}
        gen0 = bench_reads.children_cpu_seconds()
        out = subprocess.run(
            [bench_reads._bin(bench_reads.READS), "http", "--server",
             "127.0.0.1:%d" % http, "--token", "-", "--paths-file", paths,
             "--label", "floor", "--concurrency",
             str(cfg.reads_concurrency), "--seconds",
             str(cfg.reads_seconds)],
            stdout=subprocess.PIPE, text=True, check=True,
            timeout=cfg.reads_seconds + 60).stdout
        cpu1 = {k: bench_reads.cpu_seconds(v) for k, v in pids.items()}
        cpu1["load generator"] = bench_reads.children_cpu_seconds() - gen0
        cpu0["load generator"] = 0.0
    finally:
        _stop(api)
        _stop(gw)
        if sim is not None:
            bench_reads._kill(sim)
    d = bench_reads._phases(out)["floor"]
    n = max(d["ok"], 1)
    d["cpu_us"] = {k: (cpu1[k] - cpu0[k]) * 1e6 / n for k in cpu0}
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench_reads.add_args(ap)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-full", action="store_true",
                    help="leave lwds itself out of the rounds")
    cfg = ap.parse_args()
    rates = {"libcoap": [], "floor": [], "full": []}
    cpu = {"floor": [], "full": []}
    with tempfile.TemporaryDirectory(prefix="lwds-relay-") as tmpdir:
        for rnd in range(cfg.rounds):
            lib = bench_reads.run_raw(cfg, (bench_reads.INSTANCE,),
                                      libcoap=True)[bench_reads.INSTANCE]
            phases = {"floor": run_floor(cfg, tmpdir)}
            if not cfg.no_full:
                fp = bench_reads.FullPath(cfg, tmpdir)
                try:
                    phases["full"] = fp.run(bench_reads.INSTANCE)
                finally:
                    fp.close()
            rates["libcoap"].append(lib["rate"])
            print(json.dumps({"round": rnd, "phase": "libcoap",
                              "rate": round(lib["rate"]),
                              "cpu_us": {k: round(v, 1) for k, v
                                         in lib["cpu_us"].items()}}),
                  flush=True)
            for name, d in phases.items():
                rates[name].append(d["rate"])
                cpu[name].append(d["cpu_us"])
                print(json.dumps({
                    "round": rnd, "phase": name, "rate": round(d["rate"]),
                    "ratio": round(d["rate"] / lib["rate"], 3),
                    "errors": d["errors"] + d["timeouts"],
                    "p99_ms": d["p99_ms"],
                    "cpu_us": {k: round(v, 1)
                               for k, v in d["cpu_us"].items()}}),
                    flush=True)
    summary = {"rounds": cfg.rounds}
    for name, vals in rates.items():
        if vals:
            summary[name + "_rate"] = round(statistics.median(vals))
    for name in ("floor", "full"):
        if rates[name]:
            summary[name + "_ratio"] = round(statistics.median(
                [v / b for v, b in zip(rates[name], rates["libcoap"])]), 3)
            summary[name + "_cpu_us"] = {
                k: round(statistics.median(c[k] for c in cpu[name]), 1)
                for k in cpu[name][0]}
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
