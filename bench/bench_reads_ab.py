"""A/B of the full REST read path between release builds, alternated.

  python3 bench/bench_reads_ab.py [--rounds N] [--reads-seconds S] BUILD...

Each round starts, for every BUILD in turn (A B A B ... when --rounds
alternates them), a private Redis, that build's coap-gw and rest-api and an
lwds-sim with --reads-devices devices (bench_reads.FullPath), then runs the
closed-loop instance read and resource read phases of lwds-bench-reads http
(64 connections by default).  Per phase it prints one JSON line: the rate,
p50/p99 and the CPU per read of each process from /proc/<pid>/stat deltas,
plus rest-api's system calls per read (/proc/<pid>/io syscr and syscw).
With --open-rates R1,R2,... each round also runs the instance read open
loop at those fixed rates (reads/s, --reads-seconds each; --no-closed skips
the closed-loop phases): p50/p99/p999 and the same per-read figures, plus
Redis's commands and read events (wake-ups that read input) per read and
each process's wait for a CPU per read (schedstat run delay).
Each build's own load generator and simulator drive it: build the
sides from trees that differ only in the services measured.  At the end: the median of each figure
per build and path.  On this shared machine the rates move with the other
jobs; the CPU per read is the figure to compare.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_reads  # noqa: E402


def syscalls(pid):
    """(read, write) system calls of pid so far, from /proc/<pid>/io."""
    vals = {}
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            k, v = line.split(":")
            vals[k] = int(v)
    return vals["syscr"], vals["syscw"]


def one_round(build, cfg, rnd):
    """Both closed-loop phases on one fresh set of services of build."""
    os.environ["LWDS_BUILD_DIR"] = os.path.abspath(build)
    out = []
    with tempfile.TemporaryDirectory(prefix="lwds-ab-") as d:
        fp = bench_reads.FullPath(cfg, d)
        try:
            api = fp.pids["rest-api"]
            phases = [] if cfg.no_closed else [
                (bench_reads.INSTANCE, 0.0), (bench_reads.RESOURCE, 0.0)]
            phases += [(bench_reads.INSTANCE, rate)
                       for rate in cfg.open_rates]
            for path, rate in phases:
                s0 = syscalls(api)
                all0 = {k: sum(syscalls(v)) for k, v in fp.pids.items()}
                r = fp.run(path, rate)
                s1 = syscalls(api)
                all1 = {k: sum(syscalls(v)) for k, v in fp.pids.items()}
                n = max(r["ok"], 1)
                res = {"build": build, "round": rnd, "path": path,
                       "asked": rate,
                       "rate": r["rate"], "p50_ms": r["p50_ms"],
                       "p99_ms": r["p99_ms"], "p999_ms": r["p999_ms"],
                       "errors": r["errors"] + r["timeouts"],
                       "cpu_us": {k: round(v, 1)
                                  for k, v in r["cpu_us"].items()},
                       "wait_us": {k: round(v, 1)
                                   for k, v in r["wait_us"].items()},
                       "redis_per_req": {k: round(v, 2) for k, v in
                                         r["redis_per_req"].items()},
                       "syscalls_per_req": {k: round((all1[k] - all0[k]) / n,
                                                     2) for k in all0},
                       "api_reads_per_req": round((s1[0] - s0[0]) / n, 2),
                       "api_writes_per_req": round((s1[1] - s0[1]) / n, 2),
                       "loadavg": os.getloadavg()[0]}
                print(json.dumps(res), flush=True)
                out.append(res)
        finally:
            fp.close()
    return out


def medians(results, builds):
    kinds = sorted({(r["path"], r["asked"]) for r in results})
    for b in builds:
        for path, asked in kinds:
            rs = [r for r in results if r["build"] == b and
                  r["path"] == path and r["asked"] == asked]
            if not rs:
                continue
            cpu = {k: round(statistics.median(r["cpu_us"][k] for r in rs), 1)
                   for k in rs[0]["cpu_us"]}
            wait = {k: round(statistics.median(r["wait_us"][k]
                                               for r in rs), 1)
                    for k in rs[0]["wait_us"]}
            red = {k: round(statistics.median(r["redis_per_req"][k]
                                              for r in rs), 2)
                   for k in rs[0]["redis_per_req"]}
            print(json.dumps({
                "median": b, "path": path, "asked": asked, "runs": len(rs),
                "rate": round(statistics.median(r["rate"] for r in rs)),
                "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                "p999_ms": statistics.median(r["p999_ms"] for r in rs),
                "cpu_us": cpu, "wait_us": wait, "redis_per_req": red,
                "api_syscalls_per_req": round(statistics.median(
                    r["api_reads_per_req"] + r["api_writes_per_req"]
                    for r in rs), 2)}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs="+")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--open-rates", default="",
                    help="comma-separated fixed rates (reads/s) for open-"
                    "loop instance read phases in every round")
    ap.add_argument("--no-closed", action="store_true",
                    help="skip the closed-loop phases")
    bench_reads.add_args(ap)
    cfg = ap.parse_args()
    cfg.open_rates = [float(x) for x in cfg.open_rates.split(",") if x]
    results = []
    for rnd in range(cfg.rounds):
        order = cfg.builds if rnd % 2 == 0 else cfg.builds[::-1]
        for b in order:
            results += one_round(b, cfg, rnd)
    medians(results, cfg.builds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
