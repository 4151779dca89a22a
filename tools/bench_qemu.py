#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Run the kernel's benchmark suite under QEMU and keep its records (make bench-qemu).

  tools/bench_qemu.py [--kernel build/kernel/kernel.bin] [--smp "1 2 4 8"]
                      [--configs full,nopcp,locked,zero,tree,space,kmalloc]
                      [--accel auto|tcg|kvm]
                      [--ms 100] [--reps 3] [--filter S] [--out-dir results]
                      [--log-dir build/bench/qemu] [--commit C] [--timeout 600]
                      [--complete] [--report]

Boots the kernel through tools/qemu-run.sh once per (vCPU count,
configuration) with the command line "bench=CONFIG bench_ms=MS
bench_reps=REPS [bench_filter=S]", reads its serial output as it comes
(the protocol: a "bench: context {...}" line, reps "bench-json: {...}"
lines and one "bench: [k/N] NAME: ..." line per benchmark, the summary
"bench: P passed, F failed"), prints one line per benchmark as it finishes,
and writes OUT-DIR/qemu-<accel>-smp<N>.json for each vCPU count once all
its configurations passed: {"context": {...}, "records": [...]}, the schema
tools/plot/loader.py reads (and is checked to read before the file is
renamed into place). Each boot's serial log stays in LOG-DIR.

The accelerator is decided once (qemu-run.sh --print-accel: auto means KVM
only where a probe boot is not slower under it) and every boot must say it
ran under it (the kernel's CPUID hypervisor signature). RAM per boot:
1024 + 256 * N MiB (each vCPU may hold 64 MiB of frames in a case).

A boot fails when qemu-run.sh does, or when its output breaks the protocol:
a FAILED benchmark, a summary with failures or a count other than the
context's, a malformed record (a missing or non-numeric field, a histogram
that does not sum to lat_ops, percentiles out of order, irq without
irq_ops > 0, a config or thread count other than the boot's, an argument
other than the name's). --complete also requires every workload and
argument the protocol lists for each configuration booted (EXPECT: the
frame workloads at every order in full, nopcp and locked, and those that
allocate with FRAME_ZERO in environment zero; the page-table workloads at
every region size in the page-table environments tree and space; the heap
workloads at every object size in environment kmalloc) (the smoke run).
No timing is judged.

Linux (--linux DIR, make bench-linux): the same boots of Debian's stock
kernel, DIR as tools/linux/fetch.sh and mk/linux.mk leave it (vmlinuz,
initramfs.cpio.gz, versions.json): qemu-run.sh with the same flags, vCPU
counts and memory, the initramfs added, the Linux configurations
(LINUX_CONFIGS) instead of ours; the accelerator is decided by our
kernel's probe boot (--kernel) as for our boots. Its files are
OUT-DIR/qemu-linux-<accel>-smp<N>.json, whose context adds "impl":
"linux", the packages and release (versions.json) and each
configuration's Linux command line ("linux_cmdline").

Exit status: 0 every boot passed; 1 a boot failed (named, with its log and
what was wrong; no file for its vCPU count is written); 2 bad options.
"""

import argparse
import collections
import datetime
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
QEMU_RUN = os.path.join(HERE, "qemu-run.sh")
sys.path.insert(0, os.path.join(HERE, "plot"))
import loader  # noqa: E402  (tools/plot/loader.py: the reader the files must satisfy)

# The frame allocator's configurations, then the environments (bench.h):
# zero (bench/cases/zero_env.c: the frame cases allocating with
# FRAME_ZERO), the page-table cases' (bench/cases/pt_env.c: the allocator
# in full, the user table locked per node or as a whole) and the heap's
# (bench/heap/kmalloc.c: kmalloc/kfree).
CONFIGS = ("full", "nopcp", "locked", "zero", "tree", "space", "kmalloc")
# What --complete requires of each configuration (the protocol's list):
# its suite, workloads, the argument's name and values.
WORKLOADS = ("repeat", "bulk_alloc", "bulk_free", "rand", "mixed", "irq")
ZERO_WORKLOADS = ("repeat", "bulk_alloc", "bulk_free", "rand")
ORDERS = (0, 3, 9, 10)
PT_WORKLOADS = ("map_unmap", "fault")
PT_PAGES = {"map_unmap": (1, 16, 256), "fault": (1024,)}
HEAP_WORKLOADS = ("repeat", "bulk", "pc")
HEAP_SIZES = (16, 64, 256, 1024, 4096)
FRAME_EXPECT = ("frame", WORKLOADS, "order", ORDERS)
ZERO_EXPECT = ("frame", ZERO_WORKLOADS, "order", ORDERS)
PT_EXPECT = ("pt", PT_WORKLOADS, "pages", PT_PAGES)
HEAP_EXPECT = ("heap", HEAP_WORKLOADS, "size", HEAP_SIZES)
EXPECT = {"full": FRAME_EXPECT, "nopcp": FRAME_EXPECT, "locked": FRAME_EXPECT,
	  "zero": ZERO_EXPECT, "tree": PT_EXPECT, "space": PT_EXPECT,
	  "kmalloc": HEAP_EXPECT}
PERCENTILES = ("p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns")
# CPUID 0x40000000's signature under each accelerator.
SIGNATURES = {"tcg": ("TCGTCGTCGTCG", "is"), "kvm": ("KVMKVMKVM", "starts with")}
TAIL_LINES = 30

# Linux's configurations (mk/linux.mk) and the Linux command line of
# each, before the bench words: the serial console, only notices and
# worse on it (the protocol's lines are notices), no timestamps (lines
# start at column 0), reboot on panic (QEMU then exits 0: a failure), and
# whether every allocation is zeroed (Debian's default is 1).
LINUX_CONFIGS = ("linux", "linux_zero", "linux_user")
LINUX_BASE_CMDLINE = "console=ttyS0 loglevel=6 printk.time=0 panic=-1"
LINUX_INIT_ON_ALLOC = {"linux": 0, "linux_zero": 1, "linux_user": 0}
# What --complete requires of them (bench/linux/cases.c, pagefault.c):
# several suites each, the same workloads and arguments as the
# configurations they stand beside (zero's frame cases, kmalloc's, and
# pt/fault).
LINUX_EXPECT = {"linux": (ZERO_EXPECT, HEAP_EXPECT),
		"linux_zero": (ZERO_EXPECT, HEAP_EXPECT),
		"linux_user": (("pt", ("fault",), "pages", {"fault": PT_PAGES["fault"]}),)}

# Whole lines, from column 0 (other boot log lines interleave).
CONTEXT_RE = re.compile(r"^bench: context (.*)$")
RECORD_RE = re.compile(r"^bench-json: (.*)$")
FAILED_RE = re.compile(r"^bench: \[(\d+)/(\d+)\] (\S+) FAILED: (.*)$")
PROGRESS_RE = re.compile(r"^bench: \[(\d+)/(\d+)\] (\S+): (.*)$")
SUMMARY_RE = re.compile(r"^bench: (\d+) passed, (\d+) failed\s*$")


class UsageError(Exception):
	"""Bad options: exit 2."""


# --- checking one boot's output (no QEMU needed) ----------------------------

LAT_EVERY_DEFAULT = 16  # the kernel's (bench.h: BENCH_LAT_EVERY)


@dataclass(frozen=True)
class Expect:
	"""What one boot was asked to do, which its output must agree with."""
	config: str
	vcpus: int
	accel: str          # "tcg" or "kvm", as decided
	ms: int
	reps: int
	lat_every: int = LAT_EVERY_DEFAULT  # 1: every operation timed, lat_ops == ops


@dataclass
class Benchmark:
	index: int          # k of "[k/N]"
	name: str
	records: list       # its bench-json objects, repetition 0..reps-1
	failed: object = None   # the reason of a FAILED line, else None


def is_int(v):
	return isinstance(v, int) and not isinstance(v, bool)


def is_number(v):
	return (isinstance(v, (int, float)) and not isinstance(v, bool)
		and math.isfinite(v))


CONTEXT_FIELDS = (("config", str), ("vcpus", int), ("cpu", str), ("hypervisor", str),
		  ("tsc_mhz", float), ("min_ms", int), ("reps", int),
		  ("lat_every", int), ("benchmarks", int))


def _typed(kind, v):
	if kind is str:
		return isinstance(v, str)
	return is_int(v) if kind is int else is_number(v)


KIND_NAMES = {str: "string", int: "integer", float: "number"}


def check_hypervisor(accel, signature):
	"""None if the kernel's CPUID signature is the accelerator's, else why not."""
	want, how = SIGNATURES[accel]
	ok = signature == want if how == "is" else signature.startswith(want)
	if ok:
		return None
	return (f"the kernel's hypervisor signature is {signature!r}, but the boot asked for "
		f"{accel} (whose signature {how} {want!r})")


def check_context(ctx, want):
	"""Problems of the context object, as strings."""
	if not isinstance(ctx, dict):
		return ["context: not a JSON object"]
	bad = [f"context: {key} missing or not a {KIND_NAMES[kind]}"
	       for key, kind in CONTEXT_FIELDS if not _typed(kind, ctx.get(key))]
	if bad:
		return bad
	for key, asked in (("config", want.config), ("vcpus", want.vcpus),
			   ("min_ms", want.ms), ("reps", want.reps),
			   ("lat_every", want.lat_every)):
		if ctx[key] != asked:
			bad.append(f"context: {key} is {ctx[key]!r}, the boot asked for {asked!r}")
	if ctx["benchmarks"] < 1:
		bad.append("context: no benchmarks to run (does the filter match any?)")
	if ctx["lat_every"] < 1 or ctx["tsc_mhz"] <= 0:
		bad.append(f"context: lat_every {ctx['lat_every']} or tsc_mhz {ctx['tsc_mhz']} not positive")
	why = check_hypervisor(want.accel, ctx["hypervisor"])
	if why:
		bad.append(why)
	return bad


RECORD_FIELDS = (("name", str), ("workload", str), ("config", str), ("threads", int),
		 ("repetition", int), ("iterations", int), ("ops", int), ("lat_ops", int),
		 ("wall_ns", int),
		 ("ns_per_op", float), ("mops_total", float)) + tuple((p, float) for p in PERCENTILES)
KNOWN_KEYS = {key for key, _ in RECORD_FIELDS} | {"order", "lat_log2_ns"}


def _name_parts(name):
	"""(plain components, {key: value}) of "frame/repeat/full/order:0"."""
	plain, kv = [], {}
	for part in name.split("/"):
		if ":" in part:
			k, _, v = part.partition(":")
			kv[k] = v
		else:
			plain.append(part)
	return plain, kv


def _check_histogram(rec):
	hist = rec.get("lat_log2_ns")
	if not isinstance(hist, dict):
		return ["lat_log2_ns missing or not an object"]
	total = 0
	for k, count in hist.items():
		if not (k.isdigit() and int(k) < 64) or not is_int(count) or count < 0:
			return [f"lat_log2_ns: bucket {k!r}: {count!r} is not a count of bucket 0..63"]
		total += count
	if total != rec["lat_ops"]:
		return [f"lat_log2_ns holds {total} operations, lat_ops = {rec['lat_ops']}"]
	return []


def check_record(rec, want):
	"""Problems of one bench-json object, as strings naming the record."""
	if not isinstance(rec, dict):
		return ["bench-json: not a JSON object"]
	name = rec.get("name") if isinstance(rec.get("name"), str) else "bench-json record"
	bad = [f"{key} missing or not a {KIND_NAMES[kind]}"
	       for key, kind in RECORD_FIELDS if not _typed(kind, rec.get(key))]
	bad += [f"{key} is {rec[key]!r}, not a number" for key in rec
		if key not in KNOWN_KEYS and not is_number(rec[key])]
	if not bad:
		bad = _check_record_values(rec, want)
	return [f"{name}: {b}" for b in bad]


def _check_record_values(rec, want):
	bad = []
	plain, kv = _name_parts(rec["name"])
	if rec["workload"] not in plain or rec["config"] not in plain:
		bad.append(f"workload {rec['workload']!r} or config {rec['config']!r} not in the name")
	# The argument ("order:0", "pages:16") is a field of the record too.
	for key in sorted(set(kv) | ({"order"} if "order" in rec else set())):
		if not is_int(rec.get(key)) or str(rec[key]) != kv.get(key):
			bad.append(f"{key} {rec.get(key)!r} does not match the name")
	if rec["config"] != want.config:
		bad.append(f"config {rec['config']!r}, but the boot ran {want.config!r}")
	if rec["threads"] != want.vcpus:
		bad.append(f"threads {rec['threads']}, but the boot has {want.vcpus} vCPUs")
	if not 0 <= rec["repetition"] < want.reps:
		bad.append(f"repetition {rec['repetition']} not in 0..{want.reps - 1}")
	if rec["iterations"] < 1 or rec["ops"] < 1 or not 0 < rec["lat_ops"] <= rec["ops"]:
		bad.append(f"iterations {rec['iterations']}, ops {rec['ops']}, lat_ops "
			   f"{rec['lat_ops']}: want iterations, ops >= 1 and 0 < lat_ops <= ops")
	if want.lat_every == 1 and rec["lat_ops"] != rec["ops"]:
		bad.append(f"every operation was to be timed (lat_every 1), but lat_ops "
			   f"{rec['lat_ops']} != ops {rec['ops']}")
	pcts = [rec[p] for p in PERCENTILES]
	if pcts != sorted(pcts):
		bad.append("percentiles out of order (p50 <= p90 <= p99 <= p999 <= max): "
			   + ", ".join(f"{p} {rec[p]}" for p in PERCENTILES))
	# The kernel makes the first repetition's run long enough for timer
	# ticks in every CPU's loop (bench/kernel.c: IRQ_MIN_LOOP_NS): it must
	# count interrupts that allocated. A later one, at the same iteration
	# count, may run many times faster on a loaded host and see none (its
	# wall time does not tell: 2.3 ms, yet a CPU's loop of 1.1 ms).
	if (rec["workload"] == "irq" and rec["repetition"] == 0 and
	    not (is_number(rec.get("irq_ops")) and rec["irq_ops"] > 0)):
		bad.append(f"irq record of repetition 0 without irq_ops > 0 "
			   f"(irq_ops {rec.get('irq_ops')!r})")
	return bad + _check_histogram(rec)


def _json(text):
	try:
		return json.loads(text)
	except ValueError as e:
		return e


class BootParser:
	"""One boot's output, fed a line at a time (feed) and checked against the
	protocol as it comes; finish() adds what only the end can tell. The
	problems found are in .problems; a boot passed only if there are none
	(and qemu-run.sh passed it)."""

	def __init__(self, want):
		self.want = want
		self.context = None
		self.benchmarks = []
		self.summary = None          # (passed, failed)
		self.problems = []
		self._pending = []           # bench-json records awaiting their progress line

	def feed(self, line):
		"""Returns ("context", ctx) or ("benchmark", Benchmark) for a line that
		completes one, else None."""
		line = line.rstrip("\r\n")
		if not line.startswith("bench"):
			return None
		for regex, handle in ((CONTEXT_RE, self._context), (RECORD_RE, self._record),
				      (FAILED_RE, self._failed), (PROGRESS_RE, self._progress),
				      (SUMMARY_RE, self._summary)):
			m = regex.match(line)
			if m:
				if self.summary is not None:
					self.problems.append(f"output after the summary: {line[:100]!r}")
					return None
				return handle(m)
		return None

	def _context(self, m):
		ctx = _json(m.group(1))
		if self.context is not None:
			self.problems.append("a second context line")
			return None
		if isinstance(ctx, ValueError):
			self.problems.append(f"context: not JSON: {ctx}")
		else:
			self.problems += check_context(ctx, self.want)
		self.context = ctx if isinstance(ctx, dict) else {}
		return ("context", self.context)

	def _record(self, m):
		rec = _json(m.group(1))
		if self.context is None:
			self.problems.append("a bench-json line before the context line")
		if isinstance(rec, ValueError):
			self.problems.append(f"bench-json: not JSON: {rec}: {m.group(1)[:80]!r}")
			return None
		self.problems += check_record(rec, self.want)
		if isinstance(rec, dict):
			self._pending.append(rec)
		return None

	def _announced(self, k, n, name):
		"""Checks a progress line's [k/N] and name."""
		if self.context is None:
			self.problems.append(f"{name}: a progress line before the context line")
		elif n != self.context.get("benchmarks"):
			self.problems.append(f"{name}: [{k}/{n}], but the context announced "
					     f"{self.context.get('benchmarks')} benchmarks")
		if k != len(self.benchmarks) + 1:
			self.problems.append(f"{name}: [{k}/{n}] after {len(self.benchmarks)} benchmarks")
		if any(b.name == name for b in self.benchmarks):
			self.problems.append(f"{name}: reported twice")

	def _failed(self, m):
		k, n, name, why = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
		self._announced(k, n, name)
		self.problems.append(f"{name} FAILED: {why}")
		if self._pending:
			self.problems.append(f"{name}: FAILED after {len(self._pending)} bench-json lines")
			self._pending = []
		b = Benchmark(k, name, [], failed=why)
		self.benchmarks.append(b)
		return ("benchmark", b)

	def _progress(self, m):
		k, n, name = int(m.group(1)), int(m.group(2)), m.group(3)
		self._announced(k, n, name)
		records, self._pending = self._pending, []
		names = sorted({r.get("name") for r in records if isinstance(r, dict)}, key=str)
		if names and names != [name]:
			self.problems.append(f"{name}: its progress line follows records of {names}")
		reps = [r.get("repetition") for r in records]
		if reps != list(range(self.want.reps)):
			self.problems.append(f"{name}: repetitions {reps}, want 0..{self.want.reps - 1}")
		b = Benchmark(k, name, records)
		self.benchmarks.append(b)
		return ("benchmark", b)

	def _summary(self, m):
		self.summary = (int(m.group(1)), int(m.group(2)))
		return None

	def finish(self):
		"""The end of the output: what is missing. Returns .problems."""
		if self.context is None:
			self.problems.append("no 'bench: context' line (not a benchmark boot?)")
		if self._pending:
			self.problems.append(f"{len(self._pending)} bench-json lines without a progress "
					     f"line after them (the boot stopped inside a benchmark?)")
		if self.summary is None:
			self.problems.append("no summary line 'bench: P passed, F failed'")
			return self.problems
		passed, failed = self.summary
		announced = (self.context or {}).get("benchmarks")
		if failed:
			self.problems.append(f"summary: {failed} failed")
		if passed + failed != len(self.benchmarks):
			self.problems.append(f"summary: {passed} passed, {failed} failed, but "
					     f"{len(self.benchmarks)} benchmarks reported")
		if passed != announced:
			self.problems.append(f"summary: {passed} passed, but the context announced "
					     f"{announced} benchmarks")
		return self.problems

	def records(self):
		return [r for b in self.benchmarks for r in b.records]


def missing_cases(benchmarks, config):
	"""The protocol's workload/argument pairs (EXPECT) that no record of
	config covers."""
	missing = []
	for suite, workloads, arg, values in LINUX_EXPECT.get(config, (EXPECT.get(config),)):
		have = {(r.get("workload"), r.get(arg)) for b in benchmarks for r in b.records
			if r.get("name", "").startswith(suite + "/")}
		missing += [f"no record of {suite}/{w}/{config}/{arg}:{v}"
			    for w in workloads
			    for v in (values[w] if isinstance(values, dict) else values)
			    if (w, v) not in have]
	return missing


# --- progress and the report --------------------------------------------------

def fmt(x):
	"""A figure with about 3 significant digits, never in e-notation."""
	if x >= 100:
		return f"{x:.0f}"
	return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def fmt_left(seconds):
	if seconds < 100:
		return f"~{seconds:.0f} s left"
	return f"~{seconds / 60:.0f} min left"


def median_of(records, key):
	return statistics.median(r[key] for r in records)


class Progress:
	"""One line per finished benchmark: "[k/TOTAL] LABEL smp=N NAME: figures
	(~time left)". TOTAL is boots x benchmarks, learned from the contexts as
	they come; time left is the mean time per benchmark so far (boots
	included) times the benchmarks left."""

	def __init__(self, boots, out=None, clock=time.monotonic):
		self.boots = boots
		self.out = out or sys.stdout
		self.clock = clock
		self.start = clock()
		self.done = 0
		self.counts = []             # benchmarks of each boot whose context came

	def boot_started(self, benchmarks):
		self.counts.append(benchmarks)

	@property
	def total(self):
		if not self.counts:
			return None
		return sum(self.counts) + (self.boots - len(self.counts)) * self.counts[-1]

	def benchmark_done(self, label, vcpus, b):
		self.done += 1
		total = self.total or self.done
		if b.failed is not None:
			what = f"{b.name} FAILED: {b.failed}"
		elif b.records and all(is_number(r.get("ns_per_op")) and is_number(r.get("mops_total"))
				       for r in b.records):
			what = (f"{b.name}: {fmt(median_of(b.records, 'ns_per_op'))} ns/op, "
				f"{fmt(median_of(b.records, 'mops_total'))} Mops/s")
		else:
			what = f"{b.name}: no usable record"
		left = max(total - self.done, 0)
		rate = (self.clock() - self.start) / self.done
		when = fmt_left(rate * left) if left else "done"
		print(f"[{self.done}/{total}] {label} smp={vcpus} {what} ({when})",
		      file=self.out, flush=True)


def reps_text(opts):
	reps = f"{opts.reps} repetition{'s' if opts.reps > 1 else ''}"
	return f"{opts.boots} boots x {reps}" if opts.boots > 1 else reps


def record_arg(rec):
	"""(name, value) of a record's argument ("order", 0), from its name's
	key:value part; (None, None) if it has none."""
	_, kv = _name_parts(rec.get("name", ""))
	for key in sorted(kv):
		if is_int(rec.get(key)):
			return key, rec[key]
	return None, None


def report(label, meta, runs, opts):
	"""A table per configuration: each workload and argument (order, or
	pages), ns/op, Mops/s and p99 (medians over repetitions) per vCPU count.
	runs: {vcpus: records}."""
	smps = sorted(runs)
	cells = collections.OrderedDict()   # (config, workload, arg) -> {smp: records}
	args = {}                           # config -> its argument's name
	for n in smps:
		for r in runs[n]:
			name, value = record_arg(r)
			key = (r["config"], r["workload"], value)
			cells.setdefault(key, {}).setdefault(n, []).append(r)
			if name is not None:
				args.setdefault(r["config"], name)
	lines = [f"bench-qemu report: {label}, {meta['machine']}, QEMU {meta['qemu_version']}, "
		 f"commit {meta['commit']} (medians of {reps_text(opts)} of >= {opts.ms} ms; "
		 f"p99 in ns)"]
	col = "{:>9} {:>8} {:>7}"
	for config in dict.fromkeys(k[0] for k in cells):
		lines.append("")
		lines.append(f"{config:<22}" + "".join(f" | {'smp=' + str(n):^26}" for n in smps))
		lines.append(f"{'  workload':<15}{args.get(config, 'order'):>7}" +
			     "".join(" | " + col.format("ns/op", "Mops/s", "p99") for _ in smps))
		# The workloads in their usual order (the kernel runs them in
		# link order); ones this script does not know last.
		rank = {w: i for i, w in enumerate(WORKLOADS)}
		keys = sorted((k for k in cells if k[0] == config),
			      key=lambda k: (rank.get(k[1], len(rank)), k[1],
					     -1 if k[2] is None else k[2]))
		for key in keys:
			_, workload, order = key
			by_n = cells[key]
			row = f"  {workload:<13}{'-' if order is None else order:>7}"
			for n in smps:
				recs = by_n.get(n)
				row += " | " + (col.format(fmt(median_of(recs, "ns_per_op")),
							    fmt(median_of(recs, "mops_total")),
							    f"{median_of(recs, 'p99_ns'):.0f}")
						if recs else col.format("-", "-", "-"))
			lines.append(row)
	return "\n".join(line.rstrip() for line in lines)


# --- the host, the files ------------------------------------------------------

def machine_name(cpuinfo="/proc/cpuinfo"):
	"""What bench/gbench.cc's machine() says, so that host and QEMU datasets
	of one machine carry the same name: the first "model name", then
	", N CPUs" (online CPUs)."""
	model = "unknown"
	try:
		with open(cpuinfo, encoding="utf-8", errors="replace") as f:
			for line in f:
				if line.startswith("model name"):
					model = line.split(":", 1)[1].rstrip("\n").lstrip(" \t")
					break
	except OSError:
		pass
	return f"{model}, {host_cpus()} CPUs"


def host_cpus():
	return os.sysconf("SC_NPROCESSORS_ONLN")


def qemu_version():
	"""The version of the qemu-system-x86_64 qemu-run.sh will run, or raises OSError."""
	try:
		out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
				     text=True, timeout=30).stdout
	except (OSError, subprocess.SubprocessError) as e:
		raise OSError(f"qemu-system-x86_64 --version: {e}") from None
	m = re.search(r"version (\S+)", out)
	if not m:
		raise OSError(f"qemu-system-x86_64 --version said {out.strip()[:80]!r}")
	return m.group(1)


def git_commit():
	"""As mk/bench.mk's BENCH_COMMIT: the short hash, -dirty if tracked files
	other than results/ differ."""
	root = os.path.dirname(HERE)
	try:
		head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
				      capture_output=True, text=True).stdout.strip()
		dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", ".", ":!results"],
				       cwd=root, capture_output=True).returncode != 0
	except OSError:
		return "unknown"
	return (head or "unknown") + ("-dirty" if head and dirty else "")


def mem_mib(vcpus):
	return 1024 + 256 * vcpus


def dataset(meta, accel, vcpus, opts, parsers, date):
	"""The qemu-<accel>-smp<N>.json document of one vCPU count's boots."""
	first = parsers[0].context
	ctx = {"commit": meta["commit"], "accel": accel, "host_cpus": meta["host_cpus"],
	       "qemu_version": meta["qemu_version"], "machine": meta["machine"],
	       "vcpus": vcpus, "date": date, "mem": f"{mem_mib(vcpus)}M",
	       "min_ms": opts.ms, "reps": opts.reps, "cpu": first["cpu"],
	       "hypervisor": first["hypervisor"], "tsc_mhz": first["tsc_mhz"],
	       "lat_every": first["lat_every"]}
	if opts.filter:
		ctx["filter"] = opts.filter
	if opts.boots > 1:
		ctx["boots"] = opts.boots
	if opts.linux:
		ctx["impl"] = "linux"
		ctx["linux"] = meta["linux"]
		ctx["linux_cmdline"] = {c: linux_cmdline(c) for c in opts.configs}
	records = [dict(r, boot=getattr(p, "boot", 1)) if opts.boots > 1 else r
		   for p in parsers for r in p.records()]
	if opts.linux:
		# Every record names the kernel it measured (its packages: context).
		impl = f"linux {meta['linux'].get('release', '?')}"
		records = [dict(r, impl=impl) for r in records]
	return {"context": ctx, "records": records}


def write_dataset(path, doc):
	"""Writes doc to path through a temporary file that the plot loader must
	read first; raises loader.LoadError or OSError, leaving no file."""
	tmp = path + ".tmp"           # still "qemu-*", so the loader takes it as such
	try:
		with open(tmp, "w", encoding="utf-8") as f:
			json.dump(doc, f, indent=1)
			f.write("\n")
		loader.load_files([tmp])
		os.replace(tmp, path)
	finally:
		if os.path.exists(tmp):
			os.unlink(tmp)


# --- running the boots --------------------------------------------------------

def parse_args(argv):
	ap = argparse.ArgumentParser(prog="bench_qemu.py", description=__doc__.split("\n")[0])
	ap.add_argument("--kernel", default="build/kernel/kernel.bin")
	ap.add_argument("--smp", default="1 2 4 8", help='vCPU counts, e.g. "1 2 4 8"')
	ap.add_argument("--configs", default="full,nopcp,locked")
	ap.add_argument("--accel", default="auto", choices=("auto", "tcg", "kvm"))
	ap.add_argument("--ms", type=int, default=100, help="bench_ms: minimum time per run")
	ap.add_argument("--reps", type=int, default=3, help="bench_reps: repetitions")
	ap.add_argument("--boots", type=int, default=1,
			help="boots of each vCPU count and configuration, in rounds (every "
			"record of every boot is a sample: the medians are over them all)")
	ap.add_argument("--filter", default="", help="bench_filter: only names containing it")
	ap.add_argument("--lat-every", type=int, default=LAT_EVERY_DEFAULT,
			help="bench_lat_every: time one iteration in N (a power of two; 1: all, "
			"and every record's histogram must hold every operation)")
	ap.add_argument("--out-dir", default="results")
	ap.add_argument("--log-dir", default="build/bench/qemu")
	ap.add_argument("--commit", default=None, help="default: git's, as BENCH_COMMIT")
	ap.add_argument("--timeout", type=int, default=600, help="seconds per boot")
	ap.add_argument("--complete", action="store_true",
			help="require every workload and order in every configuration")
	ap.add_argument("--report", action="store_true", help="print a table at the end")
	ap.add_argument("--linux", default=None, metavar="DIR",
			help="boot Debian's Linux from DIR (mk/linux.mk's build/linux) in the "
			"Linux configurations; --kernel is then only the accelerator probe's")
	ap.add_argument("--locked-beyond-host", action="store_true",
			help="boot the locked configuration at more vCPUs than host CPUs too "
			"(ticket-lock convoys: minutes per benchmark)")
	opts = ap.parse_args(argv)
	try:
		validate(opts)
	except UsageError as e:
		ap.error(str(e))
	return opts


def _words(text):
	return [w for w in re.split(r"[,\s]+", text) if w]


def validate(opts):
	"""Checks opts and normalizes the lists; raises UsageError."""
	smp = _words(opts.smp)
	if not smp or not all(s.isdigit() and 1 <= int(s) <= 255 for s in smp):
		raise UsageError(f"--smp: want vCPU counts 1..255, e.g. \"1 2 4 8\", not {opts.smp!r}")
	opts.smp = [int(s) for s in smp]
	configs = _words(opts.configs)
	known = LINUX_CONFIGS if opts.linux else CONFIGS
	if not configs or any(c not in known for c in configs):
		raise UsageError(f"--configs: want some of {','.join(known)}"
				 f"{' (with --linux)' if opts.linux else ''}, not {opts.configs!r}")
	opts.configs = configs
	for what, values in (("--smp", opts.smp), ("--configs", opts.configs)):
		if len(set(values)) != len(values):
			raise UsageError(f"{what}: a value given twice")
	if not 1 <= opts.ms <= 60000 or not 1 <= opts.reps <= 100:
		raise UsageError(f"--ms must be 1..60000 and --reps 1..100 (the kernel's limits), "
				 f"not {opts.ms} and {opts.reps}")
	if not 1 <= opts.lat_every <= 1 << 20 or opts.lat_every & (opts.lat_every - 1):
		raise UsageError(f"--lat-every must be a power of two 1..1048576, not {opts.lat_every}")
	if opts.filter and not re.fullmatch(r"[A-Za-z0-9_/:.-]+", opts.filter):
		raise UsageError(f"--filter: one kernel command-line word of letters, digits "
				 f"and _/:.-, not {opts.filter!r}")
	if opts.filter and opts.complete:
		raise UsageError("--complete and --filter contradict each other")
	if not 1 <= opts.boots <= 20:
		raise UsageError(f"--boots must be 1..20, not {opts.boots}")
	if opts.timeout < 1:
		raise UsageError(f"--timeout must be at least 1 s, not {opts.timeout}")
	if not os.access(opts.kernel, os.R_OK):
		raise UsageError(f"--kernel: cannot read {opts.kernel!r} (make kernel)")
	if opts.commit is not None and not opts.commit.strip():
		raise UsageError("--commit: empty")
	if opts.linux:
		for name in ("vmlinuz", "initramfs.cpio.gz", "versions.json"):
			if not os.access(os.path.join(opts.linux, name), os.R_OK):
				raise UsageError(f"--linux: no {name} in {opts.linux!r} "
						 f"(make linux-fetch linux-build)")


def resolve_accel(opts):
	"""The accelerator every boot of this run uses, decided once by qemu-run.sh;
	raises OSError saying why there is none."""
	p = subprocess.run([QEMU_RUN, "--accel", opts.accel, "--print-accel", opts.kernel],
			   stdout=subprocess.PIPE, text=True)
	accel = p.stdout.strip()
	if p.returncode != 0 or accel not in SIGNATURES:
		raise OSError(f"qemu-run.sh --print-accel: exit {p.returncode}, said {accel!r}")
	return accel


def linux_cmdline(config):
	"""The Linux command line of a Linux configuration, before the bench words."""
	return f"{LINUX_BASE_CMDLINE} init_on_alloc={LINUX_INIT_ON_ALLOC[config]}"


def kernel_cmdline(config, opts):
	"""The command line: the bench words (read by our kernel, or by Linux's
	/init from its environment), after Linux's own words with --linux."""
	words = [linux_cmdline(config)] if opts.linux else []
	words += [f"bench={config}", f"bench_ms={opts.ms}", f"bench_reps={opts.reps}"]
	if opts.lat_every != LAT_EVERY_DEFAULT:
		words.append(f"bench_lat_every={opts.lat_every}")
	return " ".join(words + ([f"bench_filter={opts.filter}"] if opts.filter else []))


def boot_command(opts, accel, vcpus, config, log):
	cmd = [QEMU_RUN, "--smp", str(vcpus), "--mem", f"{mem_mib(vcpus)}M", "--accel", accel,
	       "--timeout", str(opts.timeout), "--log", log,
	       "--append", kernel_cmdline(config, opts)]
	if opts.linux:
		return cmd + ["--initrd", os.path.join(opts.linux, "initramfs.cpio.gz"),
			      os.path.join(opts.linux, "vmlinuz")]
	return cmd + [opts.kernel]


def stream(lines, parser, progress, label, vcpus, tail):
	"""Feeds each line to parser as it comes, prints progress, keeps the last
	lines but records (the log has them) in tail (a deque) for a failure report."""
	for line in lines:
		if not line.startswith("bench-json: "):
			tail.append(line.rstrip("\r\n"))
		event = parser.feed(line)
		if event is None:
			continue
		kind, what = event
		if kind == "context":
			progress.boot_started(what.get("benchmarks") if is_int(what.get("benchmarks"))
					      and what["benchmarks"] > 0 else 1)
		else:
			progress.benchmark_done(label, vcpus, what)


def run_boot(opts, accel, vcpus, config, progress, boot=1):
	"""Boots once (the boot-th time of this vcpus and config); returns
	(parser, problems, log). No problems: it passed."""
	suffix = f"-boot{boot}" if opts.boots > 1 else ""
	log = os.path.join(opts.log_dir, f"{accel}-smp{vcpus}-{config}{suffix}.log")
	parser = BootParser(Expect(config, vcpus, accel, opts.ms, opts.reps, opts.lat_every))
	tail = collections.deque(maxlen=TAIL_LINES)
	cmd = boot_command(opts, accel, vcpus, config, log)
	with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
			      stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
		stream(proc.stdout, parser, progress,
		       f"qemu-{'linux-' if opts.linux else ''}{accel}", vcpus, tail)
	problems = parser.finish()
	if proc.returncode != 0:
		problems.insert(0, f"qemu-run.sh exited with {proc.returncode}: "
				   f"{tail[-1] if tail else 'no output'}")
	if not problems and opts.complete:
		problems = missing_cases(parser.benchmarks, config)
	if problems:
		print(f"bench_qemu: FAIL qemu-{accel} smp={vcpus} config={config} (log {log}):",
		      file=sys.stderr)
		for p in problems:
			print(f"  {p}", file=sys.stderr)
		print(f"--- the last {len(tail)} lines of its output but bench-json records:",
		      file=sys.stderr)
		for line in tail:
			print(f"  {line}", file=sys.stderr)
	return parser, problems, log


def boots_at(config, vcpus, host_cpus, opts):
	"""Whether this run boots config at vcpus: not locked beyond the host's
	CPUs unless asked (see run())."""
	return config != "locked" or vcpus <= host_cpus or opts.locked_beyond_host


def host_meta(opts):
	meta = {"commit": opts.commit or git_commit(), "host_cpus": host_cpus(),
		"machine": machine_name(), "qemu_version": qemu_version()}
	if opts.linux:
		with open(os.path.join(opts.linux, "versions.json"), encoding="utf-8") as f:
			meta["linux"] = json.load(f)
	return meta


def write_vcpus(meta, accel, vcpus, opts, parsers, date):
	"""Write one vCPU count's file; returns its records."""
	doc = dataset(meta, accel, vcpus, opts, parsers, date)
	kind = "linux-" if opts.linux else ""
	path = os.path.join(opts.out_dir, f"qemu-{kind}{accel}-smp{vcpus}.json")
	write_dataset(path, doc)
	print(f"bench_qemu: wrote {path} ({len(doc['records'])} records)", flush=True)
	return doc["records"]


def run(opts):
	"""Every boot; returns the exit status."""
	meta = host_meta(opts)
	accel = resolve_accel(opts)
	os.makedirs(opts.out_dir, exist_ok=True)
	os.makedirs(opts.log_dir, exist_ok=True)
	label = f"qemu-{'linux-' if opts.linux else ''}{accel}"
	print(f"bench_qemu: {label}, smp {' '.join(map(str, opts.smp))}, configs "
	      f"{','.join(opts.configs)}, {reps_text(opts)} of >= {opts.ms} ms per benchmark, "
	      f"logs in {opts.log_dir}/", flush=True)
	skipped = [(v, c) for v in opts.smp for c in opts.configs
		   if not boots_at(c, v, meta["host_cpus"], opts)]
	if skipped:
		print(f"bench_qemu: not booting locked at smp "
		      f"{' '.join(str(v) for v, _ in skipped)}: more vCPUs than the "
		      f"{meta['host_cpus']} host CPUs, where the spin-locked buddy's ticket "
		      f"lock hands over to vCPUs the host has descheduled and one operation "
		      f"takes milliseconds (minutes per benchmark; --locked-beyond-host "
		      f"boots them anyway)", flush=True)
	progress = Progress((len(opts.smp) * len(opts.configs) - len(skipped)) * opts.boots)
	# Rounds of every boot, not every boot of one kind in a row: on a
	# shared machine the host's load drifts over minutes, and what one
	# vCPU count is compared with should have seen the same drift.
	parsers = {vcpus: [] for vcpus in opts.smp}
	dates, runs = {}, {}
	for boot in range(1, opts.boots + 1):
		for vcpus in opts.smp:
			dates.setdefault(vcpus, datetime.datetime.now().astimezone()
					 .isoformat(timespec="seconds"))
			for config in opts.configs:
				if (vcpus, config) in skipped:
					continue
				parser, problems, _ = run_boot(opts, accel, vcpus, config,
							       progress, boot)
				if problems:
					return 1
				parser.boot = boot
				parsers[vcpus].append(parser)
			# A vCPU count's file, as soon as its last boot passed.
			if boot == opts.boots and parsers[vcpus]:
				runs[vcpus] = write_vcpus(meta, accel, vcpus, opts,
							  parsers[vcpus], dates[vcpus])
	if opts.report:
		print(report(label, meta, runs, opts), flush=True)
	return 0


def main(argv=None):
	opts = parse_args(sys.argv[1:] if argv is None else argv)
	try:
		return run(opts)
	except (OSError, loader.LoadError) as e:
		print(f"bench_qemu: error: {e}", file=sys.stderr)
		return 1
	except KeyboardInterrupt:
		print("bench_qemu: interrupted", file=sys.stderr)
		return 130


if __name__ == "__main__":
	sys.exit(main())
