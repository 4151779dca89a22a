# SPDX-License-Identifier: MIT
"""The heap suite's comparison (issue 12, item 9): its results file and tables.

tools/bench_heap.py (make bench-heap) runs the same heap cases (bench/heap/)
on four backends, round after round, and writes:

  results/heap.json
    {"context": {"head": "1a2b3c4" (or "-dirty"), "machine": "...",
                 "host_cpus": "2", "date": "...", "threads": "1,2,8",
                 "rounds": 5, "min_time": "0.2", "cases": "repeat bulk pc",
                 "sizes": "16 64 256 1024 4096",
                 "malloc_libs": {backend: the file that defined malloc in
                                 its runs},
                 "command": "make bench-heap ..."},
     "benchmarks": [{"case": "repeat", "size": 64, "threads": 1,
                     "backends": {"heap": {"name": "heap/repeat/kmalloc/
                                                    size:64/real_time/threads:1",
                                           "ns_per_op": [per round],
                                           "mops_total": [per round]},
                                  "glibc": {...}, "jemalloc": {...},
                                  "mimalloc": {...}}}]}

The samples are the harness's ns_per_op counter (each thread's time per
operation, bench/bench.h; an operation is one allocation or one free) of
each round's single repetition. What the tables say is computed here, never
stored: the median over rounds of ns per operation with the rounds' range,
and total throughput from the median, Mops/s = threads x 1000 / ns per op
(as tools/plot/compare.py). Issue 12's two targets are judged on those
medians, for the closing note; nothing asserts them.
"""

import json
import math
import os
import statistics

BACKENDS = ("heap", "glibc", "jemalloc", "mimalloc")
CASES = ("repeat", "bulk", "pc")
CASE_TITLES = {"repeat": "repeat (allocate one, free it)",
	       "bulk": "bulk (allocate 1024, free them all)",
	       "pc": "producer/consumer (freed by another thread)"}
CONTEXT_KEYS = ("head", "machine", "date", "threads", "rounds", "command")
FAST_PATH_SIZE = 64
FILE = "heap.json"
NO_DATA = ("No heap comparison yet: there is no `results/heap.json`. Run `make bench-heap` "
	   "(on a quiet machine), then `make results`.")


class HeapError(Exception):
	"""A heap results file that does not follow the schema; says which and where."""


def median(values):
	return statistics.median(values)


def mops(threads, ns):
	"""Total throughput, Mops/s, from ns per operation per thread."""
	return threads * 1000.0 / ns if ns > 0 else None


# --- reading -----------------------------------------------------------------

def _samples(path, where, v):
	if (not isinstance(v, list) or not v or
	    any(isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x)
		or x <= 0 for x in v)):
		raise HeapError(f"{path}: {where}: not a non-empty list of numbers > 0")


def _check_entry(path, i, b):
	where = f"benchmarks[{i}]"
	if not isinstance(b, dict):
		raise HeapError(f"{path}: {where}: not an object")
	if b.get("case") not in CASES:
		raise HeapError(f"{path}: {where}: case {b.get('case')!r} is none of {', '.join(CASES)}")
	for k in ("size", "threads"):
		if isinstance(b.get(k), bool) or not isinstance(b.get(k), int) or b[k] < 1:
			raise HeapError(f"{path}: {where}: {k} not a positive integer")
	where += f" ({b['case']}, {b['size']} B, {b['threads']} threads)"
	backends = b.get("backends")
	if not isinstance(backends, dict) or not backends:
		raise HeapError(f"{path}: {where}: no backends")
	for name, s in backends.items():
		if name not in BACKENDS:
			raise HeapError(f"{path}: {where}: unknown backend {name!r}")
		if not isinstance(s, dict):
			raise HeapError(f"{path}: {where}: {name}: not an object")
		_samples(path, f"{where}: {name} ns_per_op", s.get("ns_per_op"))


def check(doc, path="<doc>"):
	"""doc if it follows the schema, else HeapError naming what is wrong."""
	if not isinstance(doc, dict) or not isinstance(doc.get("context"), dict):
		raise HeapError(f"{path}: no \"context\" object")
	for k in CONTEXT_KEYS:
		if doc["context"].get(k) in (None, ""):
			raise HeapError(f"{path}: context: {k} missing")
	benches = doc.get("benchmarks")
	if not isinstance(benches, list) or not benches:
		raise HeapError(f"{path}: no \"benchmarks\" list")
	seen = set()
	for i, b in enumerate(benches):
		_check_entry(path, i, b)
		key = (b["case"], b["size"], b["threads"])
		if key in seen:
			raise HeapError(f"{path}: benchmarks[{i}]: {key} twice")
		seen.add(key)
	return doc


def load(path):
	try:
		with open(path, encoding="utf-8") as f:
			doc = json.load(f)
	except OSError as e:
		raise HeapError(f"{path}: cannot read: {e.strerror}") from None
	except json.JSONDecodeError as e:
		raise HeapError(f"{path}: not JSON: {e}") from None
	return check(doc, path)


def load_dir(results_dir):
	"""results_dir's heap.json, checked, or None if there is none."""
	path = os.path.join(results_dir, FILE)
	return load(path) if os.path.exists(path) else None


# --- statistics --------------------------------------------------------------

class Row:
	"""One (case, size, threads): each backend's median and range over rounds."""

	def __init__(self, b):
		self.case, self.size, self.threads = b["case"], b["size"], b["threads"]
		self.ns, self.spread = {}, {}
		for name in BACKENDS:
			s = b["backends"].get(name)
			if s is not None:
				self.ns[name] = median(s["ns_per_op"])
				self.spread[name] = (min(s["ns_per_op"]), max(s["ns_per_op"]))

	def mops(self, name):
		return mops(self.threads, self.ns[name]) if name in self.ns else None


def rows(doc):
	"""One Row per benchmark, in case, size, thread order."""
	out = [Row(b) for b in doc["benchmarks"]]
	return sorted(out, key=lambda r: (CASES.index(r.case), r.size, r.threads))


def targets(all_rows):
	"""Issue 12's targets on these medians: [(what, heap, other, unit, met)].

	Fast path: heap/repeat of 64 B, every thread count measured, heap's ns
	per operation at most mimalloc's. Producer/consumer at 2 threads, every
	size measured: heap's throughput at least jemalloc's."""
	out = []
	for r in all_rows:
		if r.case == "repeat" and r.size == FAST_PATH_SIZE and {"heap", "mimalloc"} <= set(r.ns):
			out.append((f"fast path: repeat, {r.size} B, {r.threads} thread"
				    + ("s" if r.threads > 1 else "") + ", ns/op, heap <= mimalloc",
				    r.ns["heap"], r.ns["mimalloc"], "ns/op",
				    r.ns["heap"] <= r.ns["mimalloc"]))
	for r in all_rows:
		if r.case == "pc" and r.threads == 2 and {"heap", "jemalloc"} <= set(r.ns):
			out.append((f"producer/consumer, {r.size} B, 2 threads, Mops/s, heap >= jemalloc",
				    r.mops("heap"), r.mops("jemalloc"), "Mops/s",
				    r.mops("heap") >= r.mops("jemalloc")))
	return out


# --- tables ------------------------------------------------------------------

def fmt(v):
	if v is None:
		return "–"
	if v < 10:
		return f"{v:.2f}"
	if v < 1000:
		return f"{v:.1f}"
	return f"{v:,.0f}"


def _ns_cell(row, name):
	if name not in row.ns:
		return "–"
	lo, hi = row.spread[name]
	return f"{fmt(row.ns[name])} ({fmt(lo)}–{fmt(hi)})"


def _table(header, body):
	out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
	out += ["| " + " | ".join(str(x) for x in r) + " |" for r in body]
	return "\n".join(out)


def case_table(case_rows, backends):
	header = (["size (B)", "threads"] + [f"{n} ns/op" for n in backends]
		  + [f"{n} Mops/s" for n in backends])
	body = [[r.size, r.threads] + [_ns_cell(r, n) for n in backends]
		+ [fmt(r.mops(n)) for n in backends] for r in case_rows]
	return _table(header, body)


def targets_table(all_rows):
	t = targets(all_rows)
	if not t:
		return None
	return _table(("target", "heap", "baseline", "met"),
		      [(what, f"{fmt(h)} {unit}", f"{fmt(o)} {unit}", "yes" if met else "**no**")
		       for what, h, o, unit, met in t])


def markdown(doc, level=2):
	"""A heap results file as Markdown: what was run, a table per case, the targets."""
	ctx = doc["context"]
	all_rows = rows(doc)
	backends = [n for n in BACKENDS if any(n in r.ns for r in all_rows)]
	h = "#" * level
	libs = ctx.get("malloc_libs") or {}
	out = [f"{h} Kernel heap against glibc, jemalloc and mimalloc: `{ctx['head']}`",
	       "",
	       "- backends: heap = `kmalloc`/`kfree` on the host platform (frame allocator "
	       "full, then `heap_init()`); glibc, jemalloc, mimalloc = `malloc`/`free`, one "
	       "binary per library, each that process's only malloc"
	       + ("; malloc from: " + ", ".join(f"{n} `{libs[n]}`" for n in backends if n in libs)
		  if libs else ""),
	       f"- machine: {ctx['machine']}; date: {ctx['date']}",
	       f"- threads {ctx['threads']}"
	       + (f"; min time {ctx['min_time']} s" if ctx.get("min_time") is not None else ""),
	       f"- rounds: {ctx['rounds']}; in each, the four backends ran one after the other, "
	       "each round starting one backend later",
	       f"- command: `{ctx['command']}`",
	       "",
	       "An operation is one allocation or one free. ns/op: median over rounds "
	       "(min–max in brackets), each thread's time per operation (waiting for the ring "
	       "included in producer/consumer); Mops/s: total throughput, threads x 1000 / "
	       "median ns per op."]
	for case in CASES:
		case_rows = [r for r in all_rows if r.case == case]
		if case_rows:
			out += ["", f"{h}# {CASE_TITLES[case]}", "", case_table(case_rows, backends)]
	t = targets_table(all_rows)
	if t:
		out += ["", f"{h}# Issue 12's targets (on these medians; not asserted)", "", t]
	return "\n".join(out) + "\n"


def section(doc):
	"""RESULTS.md's generated heap section: the file's tables, or why there are none."""
	return NO_DATA if doc is None else markdown(doc, level=3).rstrip()
