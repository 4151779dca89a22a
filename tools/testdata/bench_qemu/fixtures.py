# SPDX-License-Identifier: MIT
"""Serial logs of benchmark boots, written from the protocol (issue 10 item 4:
the kernel's "bench: context", "bench-json:", "bench: [k/N] ..." and summary
lines, interleaved with ordinary boot lines). Made-up numbers, not
measurements; tools/test_bench_qemu.py builds its cases from them.

tcg-smp2-full.log beside this file is not made up: the serial log of a
real boot (make kernel; tools/qemu-run.sh --smp 2 --mem 1536M --accel tcg
--append "bench=full bench_ms=100 bench_reps=2"
build/kernel-bench/kernel.bin), which the checks must pass as it is.
"""

import json

WORKLOADS = ("repeat", "bulk_alloc", "bulk_free", "rand", "mixed", "irq")
ORDERS = (0, 3, 9, 10)
# Environment zero's frame workloads (those that allocate with FRAME_ZERO).
ZERO_WORKLOADS = ("repeat", "bulk_alloc", "bulk_free", "rand")
# The page-table cases' environments, and their argument.
PT_CONFIGS = ("tree", "space")
PT_WORKLOADS = ("map_unmap", "fault")
PT_PAGES = {"map_unmap": (1, 16, 256), "fault": (1024,)}
# The heap cases' environment, and their argument.
HEAP_WORKLOADS = ("repeat", "bulk", "pc")
HEAP_SIZES = (16, 64, 256, 1024, 4096)
SIGNATURES = {"tcg": "TCGTCGTCGTCG", "kvm": "KVMKVMKVM\\u0000\\u0000\\u0000"}
# Stands for the signature; the fake QEMU puts in its -accel's.
HYPERVISOR = "@HYPERVISOR@"
CONFIG_COST = {"full": 1.0, "nopcp": 3.0, "locked": 9.0, "zero": 5.0, "tree": 2.0,
	       "space": 4.0, "kmalloc": 1.5, "linux": 4.0, "linux_zero": 30.0,
	       "linux_user": 20.0}
# Linux's configurations (bench/linux/): several suites in one boot, as
# (suite, argument name, values, workloads).
LINUX_SUITES = {
	"linux": (("frame", "order", ORDERS, ZERO_WORKLOADS), ("heap", "size", HEAP_SIZES, HEAP_WORKLOADS)),
	"linux_zero": (("frame", "order", ORDERS, ZERO_WORKLOADS),
		       ("heap", "size", HEAP_SIZES, HEAP_WORKLOADS)),
	"linux_user": (("pt", "pages", (1024,), ("fault",)),),
}


def suite_of(config, workload=None, suite=None):
	"""(suite, argument name, argument values, workloads) of config's cases;
	the values are workload's where they differ by workload. A Linux
	configuration has several suites: suite says which (default its first)."""
	if config in LINUX_SUITES:
		return next(s for s in LINUX_SUITES[config] if suite in (None, s[0]))
	if config in PT_CONFIGS:
		return ("pt", "pages", PT_PAGES[workload] if workload else None, PT_WORKLOADS)
	if config == "kmalloc":
		return ("heap", "size", HEAP_SIZES, HEAP_WORKLOADS)
	return ("frame", "order", ORDERS, ZERO_WORKLOADS if config == "zero" else WORKLOADS)


def names(config):
	if config in LINUX_SUITES:
		return [f"{suite}/{w}/{config}/{key}:{a}" for suite, key, args, workloads
			in LINUX_SUITES[config] for w in workloads for a in args]
	suite, key, _, workloads = suite_of(config)
	return [f"{suite}/{w}/{config}/{key}:{a}" for w in workloads
		for a in suite_of(config, w)[2]]


def record(config, vcpus, workload, arg, rep, suite=None):
	"""One bench-json object, consistent: its histogram sums to lat_ops, its
	percentiles are bucket upper edges in order, capped by max_ns. arg: the
	order, or the pages (page-table environments) or the object size
	(kmalloc)."""
	suite, key, args, _ = suite_of(config, workload, suite)
	ns = round((10.0 + 2 * args.index(arg) + rep) * CONFIG_COST[config] * vcpus ** 0.5, 3)
	lat_ops = 4000
	k = int(max(ns, 2)).bit_length() - 1  # the bucket most operations fall in
	hist = {str(k): 3900, str(k + 1): 90, str(k + 6): 10}
	max_ns = 2 ** (k + 6) + 17
	rec = {"name": f"{suite}/{workload}/{config}/{key}:{arg}", "workload": workload,
	       "config": config, key: arg, "threads": vcpus, "repetition": rep,
	       "iterations": 1000, "ops": 64000, "lat_ops": lat_ops, "wall_ns": 50000000,
	       "ns_per_op": ns,
	       "mops_total": round(vcpus * 1000.0 / ns, 3), "p50_ns": 2 ** (k + 1),
	       "p90_ns": 2 ** (k + 1), "p99_ns": 2 ** (k + 2), "p999_ns": 2 ** (k + 7),
	       "max_ns": max_ns, "lat_log2_ns": hist}
	rec["p999_ns"] = min(rec["p999_ns"], max_ns)
	if workload == "irq":
		rec["irq_ops"] = 120
	return rec


def context(config, vcpus, hypervisor, ms, reps, benchmarks):
	ctx = {"config": config, "vcpus": vcpus, "cpu": "QEMU Virtual CPU version 2.5+",
	       "hypervisor": "SIG", "tsc_mhz": 2495, "min_ms": ms, "reps": reps,
	       "lat_every": 16, "benchmarks": benchmarks}
	# The signature is spliced in as text: KVM's has NULs, written \\u0000.
	return json.dumps(ctx, separators=(",", ":")).replace('"SIG"', f'"{hypervisor}"')


def boot_log(config="full", vcpus=2, hypervisor=HYPERVISOR, ms=100, reps=2, only=None):
	"""A good boot's serial output, as a list of lines (no newlines). only:
	the benchmark names to run (a filter), default all (24 in a frame
	configuration, 16 in zero, 4 in a page-table one, 15 in kmalloc)."""
	run = [n for n in names(config) if only is None or n in only]
	out = ["SeaBIOS (version 1.16.2-debian-1.16.2-1)", "Booting from ROM..",
	       "memmap: 0x0000000000000000-0x000000000009fbff usable",
	       f"CPUs online: {vcpus} (APIC ids 0..{vcpus - 1})",
	       f"frame: booted config={config}",
	       "bench: " + "context " + context(config, vcpus, hypervisor, ms, reps, len(run))]
	for k, name in enumerate(run, 1):
		suite, workload, _, arg = name.split("/")
		recs = [record(config, vcpus, workload, int(arg.split(":")[1]), r, suite)
			for r in range(reps)]
		out += ["bench-json: " + json.dumps(r, separators=(",", ":")) for r in recs]
		r = recs[0]
		out.append(f"bench: [{k}/{len(run)}] {name}: {r['ns_per_op']:.3f} ns/op, "
			   f"{r['mops_total']:.3f} Mops/s, p99 {r['p99_ns']} ns, max {r['max_ns']} ns")
		if k == 3:
			out.append("lapic: timer 100 Hz on CPU 1")   # other lines interleave
	out.append(f"bench: {len(run)} passed, 0 failed")
	out.append("exit: code 16")
	return out


def write(path, lines, crlf=False):
	with open(path, "w", encoding="utf-8") as f:
		f.write("".join(line + ("\r\n" if crlf else "\n") for line in lines))

