# SPDX-License-Identifier: MIT
"""Issue 11's like-with-like comparison: its results files and their tables.

tools/bench_compare.py (make bench-compare) runs today's host benchmark and
the same harness built with an older allocator core (BASE) one after the
other, round after round, and writes one file per arena size:

  results/compare-<ram>g.json
    {"context": {"base": "933f143", "base_subject": "...", "head": "1a2b3c4"
                 (or "1a2b3c4-dirty"), "machine": "...", "host_cpus": "2",
                 "date": "...", "ram_gib": 1, "threads": "1,2,8",
                 "rounds": 5, "min_time": 0.2, "filter": "...",
                 "command": "make bench-compare ..."},
     "benchmarks": [{"name": "frame/repeat/nopcp/order:0/real_time/threads:1",
                     "case": "repeat", "config": "nopcp", "order": 0,
                     "threads": 1,
                     "base": {"ns_per_op": [per round], "mops_total": [...]},
                     "new": {...}}]}

The samples are the harness's ns_per_op counter (each thread's time per
operation, bench/bench.h) of each round's single repetition. What the
tables say is computed here from them, never stored: the median over
rounds of ns per operation, and total throughput from it,
Mops/s = threads x 1000 / ns per op (as issue 11's own table). Ratios
compare figures of the same run: new/base at each thread count, and each
side's scaling, 2T/1T and 8T/2T total throughput.
"""

import glob
import json
import math
import os
import re
import statistics
from dataclasses import dataclass

from plots import config_sort

SIDES = ("base", "new")
CASE_ORDER = ("repeat", "bulk_alloc", "bulk_free")
SCALING = ((2, 1), (8, 2))      # (more, fewer) threads: the targets
CONTEXT_KEYS = ("base", "head", "machine", "date", "ram_gib", "threads", "rounds", "command")
FILE_RE = re.compile(r"^compare-(\d+)g\.json$")
NO_DATA = ("No comparison yet: there is no `results/compare-*g.json`. Run `make bench-compare` "
	   "(on a quiet machine), then `make results`.")


class CompareError(Exception):
	"""A comparison file that does not follow the schema; says which and where."""


@dataclass
class Row:
	case: str
	config: str
	order: object
	threads: int
	ns: dict            # side -> median ns per op
	rounds: dict        # side -> samples behind it

	def mops(self, side):
		"""Total throughput, Mops/s: threads x 1000 / ns per op."""
		ns = self.ns[side]
		return self.threads * 1000.0 / ns if ns > 0 else None

	@property
	def ratio(self):
		"""new/base total throughput at this thread count."""
		b, n = self.mops("base"), self.mops("new")
		return n / b if b and n is not None else None

	@property
	def key(self):
		return (self.case, self.config, self.order)


def median(values):
	return statistics.median(values)


# --- reading -----------------------------------------------------------------

def _number_list(path, where, v):
	if (not isinstance(v, list) or not v or
	    any(isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x)
		or x < 0 for x in v)):
		raise CompareError(f"{path}: {where}: not a non-empty list of numbers >= 0")
	return [float(x) for x in v]


def check(doc, path="<doc>"):
	"""doc if it follows the schema, else CompareError naming what is wrong."""
	if not isinstance(doc, dict) or not isinstance(doc.get("context"), dict):
		raise CompareError(f"{path}: no \"context\" object")
	for k in CONTEXT_KEYS:
		if doc["context"].get(k) in (None, ""):
			raise CompareError(f"{path}: context: {k} missing")
	benches = doc.get("benchmarks")
	if not isinstance(benches, list) or not benches:
		raise CompareError(f"{path}: no \"benchmarks\" list")
	for i, b in enumerate(benches):
		where = f"benchmarks[{i}]"
		if not isinstance(b, dict) or not isinstance(b.get("name"), str):
			raise CompareError(f"{path}: {where}: not an entry with a name")
		where = f"{where} ({b['name']})"
		for k in ("case", "config"):
			if not isinstance(b.get(k), str) or not b[k]:
				raise CompareError(f"{path}: {where}: no {k}")
		if isinstance(b.get("threads"), bool) or not isinstance(b.get("threads"), int) \
		   or b["threads"] < 1:
			raise CompareError(f"{path}: {where}: threads not a positive integer")
		for side in SIDES:
			s = b.get(side)
			if not isinstance(s, dict):
				raise CompareError(f"{path}: {where}: no {side} samples")
			_number_list(path, f"{where}: {side} ns_per_op", s.get("ns_per_op"))
	return doc


def load(path):
	try:
		with open(path, encoding="utf-8") as f:
			doc = json.load(f)
	except OSError as e:
		raise CompareError(f"{path}: cannot read: {e.strerror}") from None
	except json.JSONDecodeError as e:
		raise CompareError(f"{path}: not JSON: {e}") from None
	return check(doc, path)


def find_files(results_dir):
	"""results_dir's compare-<ram>g.json files, smallest arena first."""
	found = [p for p in glob.glob(os.path.join(results_dir, "compare-*g.json"))
		 if FILE_RE.match(os.path.basename(p))]
	return sorted(found, key=lambda p: int(FILE_RE.match(os.path.basename(p)).group(1)))


def load_dir(results_dir):
	return [load(p) for p in find_files(results_dir)]


# --- statistics --------------------------------------------------------------

def _sort_key(row):
	case = CASE_ORDER.index(row.case) if row.case in CASE_ORDER else len(CASE_ORDER)
	return (case, row.case, config_sort(row.config),
		-1 if row.order is None else row.order, row.threads)


def rows(doc):
	"""One Row per benchmark: each side's median over rounds, sorted."""
	out = []
	for b in doc["benchmarks"]:
		out.append(Row(case=b["case"], config=b["config"], order=b.get("order"),
			       threads=b["threads"],
			       ns={s: median(b[s]["ns_per_op"]) for s in SIDES},
			       rounds={s: len(b[s]["ns_per_op"]) for s in SIDES}))
	return sorted(out, key=_sort_key)


def scaling(all_rows):
	"""(case, config, order) -> {(more, fewer): {side: ratio}} for the
	SCALING pairs both thread counts of which were measured."""
	by = {}
	for r in all_rows:
		by.setdefault(r.key, {})[r.threads] = r
	out = {}
	for key, at in by.items():
		for more, fewer in SCALING:
			if more in at and fewer in at:
				ratios = {}
				for side in SIDES:
					a, b = at[more].mops(side), at[fewer].mops(side)
					ratios[side] = a / b if a is not None and b else None
				out.setdefault(key, {})[(more, fewer)] = ratios
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


def fmt_ratio(v):
	return "–" if v is None else f"{v:.2f}x"


def _table(header, body):
	out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
	out += ["| " + " | ".join(str(x) for x in r) + " |" for r in body]
	return "\n".join(out)


def _order(v):
	return "–" if v is None else v


def throughput_table(all_rows):
	return _table(("case", "config", "order", "threads", "base ns/op", "new ns/op",
		       "base Mops/s", "new Mops/s", "new/base"),
		      [(f"`{r.case}`", r.config, _order(r.order), r.threads, fmt(r.ns["base"]),
			fmt(r.ns["new"]), fmt(r.mops("base")), fmt(r.mops("new")), fmt_ratio(r.ratio))
		       for r in all_rows])


def scaling_table(all_rows):
	scale = scaling(all_rows)
	pairs = [p for p in SCALING if any(p in v for v in scale.values())]
	if not pairs:
		return None
	header = ["case", "config", "order"]
	for more, fewer in pairs:
		header += [f"base {more}T/{fewer}T", f"new {more}T/{fewer}T"]
	body, seen = [], set()
	for r in all_rows:
		if r.key in seen or r.key not in scale:
			continue
		seen.add(r.key)
		cells = [f"`{r.case}`", r.config, _order(r.order)]
		for p in pairs:
			ratios = scale[r.key].get(p, {})
			cells += [fmt_ratio(ratios.get("base")), fmt_ratio(ratios.get("new"))]
		body.append(cells)
	return _table(header, body)


def markdown(doc, level=3):
	"""A comparison file as Markdown: what was run, then the tables."""
	ctx = doc["context"]
	all_rows = rows(doc)
	rounds = sorted({n for r in all_rows for n in r.rounds.values()})
	h = "#" * level
	out = [f"{h} {ctx['ram_gib']} GiB arena: `{ctx['head']}` (new) against `{ctx['base']}` (base)",
	       "",
	       f"- base: `{ctx['base']}`" + (f" ({ctx['base_subject']})" if ctx.get("base_subject")
					    else "") + ": its allocator core (buddy, per-CPU caches) "
	       "in today's harness",
	       f"- new: `{ctx['head']}`",
	       f"- machine: {ctx['machine']}; date: {ctx['date']}",
	       f"- arena: {ctx['ram_gib']} GiB; threads {ctx['threads']}"
	       + (f"; min time {ctx['min_time']} s" if ctx.get("min_time") is not None else ""),
	       f"- rounds: {ctx['rounds']} (samples per figure: {', '.join(map(str, rounds))}); "
	       "in each the two binaries ran one after the other, base first in even rounds "
	       "and new first in odd ones",
	       f"- command: `{ctx['command']}`",
	       "",
	       "Medians over rounds; Mops/s is total throughput, threads x 1000 / ns per op.",
	       "",
	       throughput_table(all_rows)]
	scale = scaling_table(all_rows)
	if scale:
		out += ["", "Scaling, each side within itself (total throughput):", "", scale]
	return "\n".join(out) + "\n"


def section(docs):
	"""RESULTS.md's generated comparison section: every file's tables."""
	if not docs:
		return NO_DATA
	return "\n".join(markdown(d, level=3) for d in
			 sorted(docs, key=lambda d: int(d["context"]["ram_gib"]))).rstrip()
