#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Check a benchmark JSON file (Google Benchmark's, from build/bench/bench/bench).

    tools/bench_check.py [--threads 1,2,4,8] [--orders 0,3,9,10] [--only REGEX] FILE

Fails (exit 1, saying why) unless FILE is well-formed JSON with the context
keys every record needs and, for every frame workload, configuration, order
and thread count, a run named frame/<workload>/<config>/order:<o>/real_time
/threads:<n> (in environment zero, bench/cases/zero_env.c, the workloads
that allocate with FRAME_ZERO), and for every page-table workload,
environment (tree: per-node locks; space: one lock per table, the
baseline), region size and thread count, a run named
pt/<workload>/<config>/pages:<p>/real_time/threads:<n>, each without
error, whose counters are consistent: ops > 0, every
sampled operation in the latency histogram (the lat_log2_ns_<k> counters
sum to lat_ops, 0 < lat_ops <= ops, and = ops if the run timed every
operation: context lat_every = 1), p50 <= p90 <= p99 <= p99.9 <= max,
for irq, interrupts that allocated (irq_ops > 0), and for mixed, its
fragmentation counters with fully_coalesced = 1. Threads default to the
run's own list (context bench_threads). --only REGEX: only the runs
whose names REGEX matches (re.search) are expected, and only they may be
there (a run made with Google Benchmark's --benchmark_filter). No timing
is judged: performance is not a test.
"""
import argparse
import json
import re
import sys

WORKLOADS = ["repeat", "bulk_alloc", "bulk_free", "rand", "mixed", "irq"]
CONFIGS = ["full", "nopcp", "locked"]
# The environment whose frame cases allocate with FRAME_ZERO, and those cases.
ZERO_CONFIG = "zero"
ZERO_WORKLOADS = ["repeat", "bulk_alloc", "bulk_free", "rand"]
# The page-table cases (bench/cases/pt_*.c): their environments, and the
# region sizes in pages.
PT_WORKLOADS = ["map_unmap", "fault"]
PT_CONFIGS = ["tree", "space"]
PT_PAGES = {"map_unmap": [1, 16, 256], "fault": [1024]}
CONTEXT = ["commit", "accel", "host_cpus", "machine", "cycles_per_ns", "bench_threads",
           "lat_every", "ram_mib"]
MIXED_COUNTERS = ["largest_free_order_min", "free_order9_blocks", "free_order10_blocks",
                  "fully_coalesced"]
COUNTERS = ["ops", "lat_ops", "ns_per_op", "mops_total", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns"]


def numbers(s):
    try:
        return [int(x) for x in s.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("not a comma-separated list of numbers: " + s)


def check_run(name, run, every):
    """Problems of one iteration run, as strings."""
    bad = []
    if run.get("error_occurred"):
        return [name + ": failed: " + run.get("error_message", "?")]
    for c in COUNTERS:
        if c not in run:
            bad.append(name + ": no counter " + c)
    if bad:
        return bad
    if run["ops"] <= 0:
        bad.append(name + ": no operations")
    hist = sum(v for k, v in run.items() if k.startswith("lat_log2_ns_"))
    if (hist != run["lat_ops"] or not 0 < hist <= run["ops"]
            or (every == 1 and hist != run["ops"])):
        bad.append("%s: histogram holds %d operations, lat_ops = %d, ops = %d"
                   % (name, hist, run["lat_ops"], run["ops"]))
    p = [run[c] for c in COUNTERS[4:]]
    if p != sorted(p):
        bad.append(name + ": percentiles out of order: %s" % p)
    if "/irq/" in name and run.get("irq_ops", 0) <= 0:
        bad.append(name + ": no interrupt allocated (irq_ops)")
    if "/mixed/" in name:
        bad += check_fragmentation(name, run)
    return bad


def check_fragmentation(name, run):
    """frame/mixed's report (bench/cases/frame_mixed.c): every counter there,
    the quiescent counts fully coalesced, the sampled order a real one."""
    missing = [c for c in MIXED_COUNTERS if c not in run]
    if missing:
        return [name + ": no counter " + ", ".join(missing)]
    bad = []
    if run["fully_coalesced"] != 1:
        bad.append(name + ": free blocks of orders 9 and 10 not what full coalescing gives")
    if not 0 <= run["largest_free_order_min"] <= 10:
        bad.append(name + ": largest_free_order_min %r not an order" % run["largest_free_order_min"])
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=numbers)
    ap.add_argument("--orders", type=numbers, default=[0, 3, 9, 10])
    ap.add_argument("--only", type=re.compile, default=None, metavar="REGEX")
    ap.add_argument("file")
    a = ap.parse_args()
    try:
        with open(a.file) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("bench_check: %s: %s" % (a.file, e))
    ctx = doc.get("context", {})
    bad = ["context: no " + k for k in CONTEXT if k not in ctx]
    if ctx.get("accel") != "host":
        bad.append("context: accel is %r, not 'host'" % ctx.get("accel"))
    threads = a.threads or numbers(ctx.get("bench_threads", "1"))
    runs = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type") == "iteration":
            runs.setdefault(b["name"], []).append(b)
    want = set()
    for t in threads:
        want |= {"frame/%s/%s/order:%d/real_time/threads:%d" % (w, c, o, t)
                 for w in WORKLOADS for c in CONFIGS for o in a.orders}
        want |= {"frame/%s/%s/order:%d/real_time/threads:%d" % (w, ZERO_CONFIG, o, t)
                 for w in ZERO_WORKLOADS for o in a.orders}
        want |= {"pt/%s/%s/pages:%d/real_time/threads:%d" % (w, c, p, t)
                 for w in PT_WORKLOADS for c in PT_CONFIGS for p in PT_PAGES[w]}
    if a.only:
        want = {n for n in want if a.only.search(n)}
        if not want:
            bad.append("--only %r matches no expected run" % a.only.pattern)
    for name in sorted(want):
        if name not in runs:
            bad.append(name + ": missing")
            continue
        for run in runs[name]:
            bad += check_run(name, run, int(ctx.get("lat_every", 0)))
    for name in sorted(set(runs) - want):
        bad.append(name + ": not expected (update tools/bench_check.py)")
    for b in bad[:40]:
        print("bench_check: " + b, file=sys.stderr)
    if bad:
        sys.exit("bench_check: %s: %d problems" % (a.file, len(bad)))
    print("bench_check: %s: %d benchmarks, all there and consistent" % (a.file, len(want)))


if __name__ == "__main__":
    main()
