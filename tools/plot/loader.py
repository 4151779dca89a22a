# SPDX-License-Identifier: MIT
"""Load benchmark JSON into one list of cases, whatever suite wrote it.

Two inputs (see ../shared/design/BENCHMARKS.md):

  results/host-*.json  Google Benchmark's --benchmark_format=json. One entry
                       per repetition ("iteration") plus aggregates; user
                       counters (ops, ns_per_op, mops_total, p50_ns, ...,
                       lat_log2_ns_<k>) are top-level numbers of an entry.
  results/qemu-*.json  the kernel's records, one file per -smp run:
                       {"context": {...}, "records": [{...}]}.

A case is one (suite, workload, config, order, threads) measured on one
machine with one accelerator: a dataset. Its central figures are the
median aggregate's where Google Benchmark wrote one, else the median of its
samples; its spread is min..max over the samples (repetitions, or records
of the same case in several files). Latency histograms are summed over the
samples, never averaged: bucket k counts operations that took
[2^k, 2^(k+1)) ns. A percentile a record lacks is read from the merged
histogram the way the harness computes its own (hist_percentile).

Names are parsed liberally (an unknown workload or config is just another
line on a plot); malformed files are refused with the file and the entry
named (LoadError), so a broken run cannot become a quiet gap in a table.
"""

import glob
import json
import math
import os
import re
import statistics
from dataclasses import dataclass, field

PERCENTILES = {"p50_ns": 0.5, "p90_ns": 0.9, "p99_ns": 0.99, "p999_ns": 0.999}
# Google Benchmark's own tokens in a run name, not part of the case.
GB_NAME_TOKENS = {"real_time", "manual_time", "process_time"}
GB_NAME_KEYS = {"iterations", "repeats", "min_time", "min_warmup_time"}
HIST_PREFIX = "lat_log2_ns_"
CONTEXT_KEYS = ("commit", "accel", "machine", "host_cpus")
# Context values that may differ between the files of one dataset: all are kept.
MERGED_KEYS = ("commit", "date", "qemu_version")


class LoadError(Exception):
	"""A results file that does not follow the schema; says which and where."""


@dataclass
class Case:
	source: str            # "host" or "qemu"
	dataset: str           # e.g. "host", "qemu-tcg"; see dataset_ids()
	suite: str             # first name component, e.g. "frame"
	workload: str
	config: str
	order: object          # int, or None when the name has no order:
	threads: int           # threads (host) or vCPUs (qemu)
	ns_per_op: float
	mops_total: float
	percentiles: dict      # "p50_ns", ... -> ns; absent keys not measured
	max_ns: object         # float or None
	hist: dict             # k -> count, summed over samples
	samples: int           # repetitions / records behind the figures
	ns_range: object = None    # (min, max) over samples, or None
	mops_range: object = None
	params: tuple = ()     # other key:value name parts, sorted
	context: dict = field(default_factory=dict)

	@property
	def group(self):
		"""What one plot or table is about: everything but config and threads."""
		return (self.suite, self.workload, self.order, self.params)


def group_label(group):
	suite, workload, order, params = group
	parts = [workload]
	if order is not None:
		parts.append(f"order {order}")
	parts += [f"{k} {v}" for k, v in params]
	return ", ".join(parts)


def hist_percentile(hist, q, max_ns=None):
	"""The q-quantile (0..1) of a log2 histogram, as the harness reports it:
	the upper edge of the bucket that holds it (a bound, never an
	under-estimate), clamped to max_ns when that is known."""
	total = sum(hist.values())
	if total <= 0:
		return None
	cum = 0.0
	for k in sorted(hist):
		cum += hist[k]
		if hist[k] > 0 and cum >= q * total:
			break
	edge = 2.0 ** (k + 1)
	return edge if max_ns is None else min(edge, max_ns)


def hist_cdf(hist):
	"""Points (ns, fraction of operations at most ns) for a CDF plot."""
	total = sum(hist.values())
	if total <= 0:
		return [], []
	ks = sorted(hist)
	xs, ys, cum = [2.0 ** ks[0]], [0.0], 0.0
	for k in ks:
		cum += hist[k]
		xs.append(2.0 ** (k + 1))
		ys.append(cum / total)
	return xs, ys


def parse_name(name):
	"""Split "frame/repeat/full/order:0/threads:2/real_time" into its parts.

	The plain components are suite, workload, config in that order (missing
	ones become "?"); key:value components are returned in a dict.
	"""
	plain, kv = [], {}
	for part in name.split("/"):
		if ":" in part:
			k, _, v = part.partition(":")
			if k not in GB_NAME_KEYS:
				kv[k] = v
		elif part and part not in GB_NAME_TOKENS:
			plain.append(part)
	plain += ["?"] * (3 - len(plain))
	if len(plain) > 3:
		# "heap/kmalloc/repeat/full": keep the workload readable.
		plain = [plain[0], "/".join(plain[1:-1]), plain[-1]]
	return plain[0], plain[1], plain[2], kv


# --- reading one file -------------------------------------------------------

def _read_json(path):
	try:
		with open(path, encoding="utf-8") as f:
			return json.load(f)
	except OSError as e:
		raise LoadError(f"{path}: cannot read: {e.strerror}") from None
	except json.JSONDecodeError as e:
		raise LoadError(f"{path}: not JSON: {e}") from None


def _number(path, where, obj, key, required=True):
	v = obj.get(key)
	if v is None and not required:
		return None
	if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
		what = "missing" if v is None else f"not a finite number ({v!r})"
		raise LoadError(f"{path}: {where}: {key} {what}")
	if v < 0:
		raise LoadError(f"{path}: {where}: {key} is negative ({v})")
	return float(v)


def _context(path, doc):
	ctx = doc.get("context") if isinstance(doc, dict) else None
	if not isinstance(ctx, dict):
		raise LoadError(f"{path}: no \"context\" object")
	for key in CONTEXT_KEYS:
		if ctx.get(key) in (None, ""):
			raise LoadError(f"{path}: context: {key} missing")
	return ctx


def _histogram(path, where, buckets, what):
	"""{bucket: count} from (name, count) pairs whose names are bucket
	numbers; `what` + a name is how errors call it."""
	hist = {}
	for name, count in buckets:
		try:
			k = int(name)
		except ValueError:
			raise LoadError(f"{path}: {where}: bad {what}{name}") from None
		if not 0 <= k < 64:
			raise LoadError(f"{path}: {where}: histogram bucket {k} out of range 0..63")
		if isinstance(count, bool) or not isinstance(count, (int, float)) or count < 0:
			raise LoadError(f"{path}: {where}: histogram bucket {k} count {count!r} is not a count")
		hist[k] = float(count)
	return hist


def _sample(path, where, entry, hist):
	"""The figures every sample has, from an entry or a record."""
	s = {
		"ns_per_op": _number(path, where, entry, "ns_per_op"),
		"mops_total": _number(path, where, entry, "mops_total"),
		"max_ns": _number(path, where, entry, "max_ns", required=False),
		"percentiles": {},
		"hist": hist,
	}
	for p in PERCENTILES:
		v = _number(path, where, entry, p, required=False)
		if v is not None:
			s["percentiles"][p] = v
	return s


def _load_host(path, doc):
	"""Google Benchmark JSON: yields (key, kind, sample); kind is "median" or "run"."""
	entries = doc.get("benchmarks")
	if not isinstance(entries, list):
		raise LoadError(f"{path}: no \"benchmarks\" list")
	for i, e in enumerate(entries):
		if not isinstance(e, dict) or not isinstance(e.get("name"), str):
			raise LoadError(f"{path}: benchmarks[{i}]: not an entry with a name")
		where = f"benchmarks[{i}] ({e['name']})"
		if e.get("error_occurred"):
			raise LoadError(f"{path}: {where}: the benchmark failed: "
					f"{e.get('error_message', 'no message')}")
		kind = e.get("run_type", "iteration")
		if kind == "aggregate":
			if e.get("aggregate_name") != "median":
				continue        # mean, stddev, cv: not reported
			kind = "median"
		elif kind == "iteration":
			kind = "run"
		else:
			raise LoadError(f"{path}: {where}: unknown run_type {kind!r}")
		run_name = e.get("run_name", e["name"])
		if not isinstance(run_name, str):
			raise LoadError(f"{path}: {where}: run_name is not a string")
		suite, workload, config, kv = parse_name(run_name)
		threads = e.get("threads", kv.get("threads"))
		order = kv.get("order")
		hist = _histogram(path, where,
				  ((key[len(HIST_PREFIX):], count) for key, count in e.items()
				   if key.startswith(HIST_PREFIX)),
				  f"histogram counter {HIST_PREFIX}")
		params = {k: v for k, v in kv.items() if k not in ("order", "threads")}
		key = _case_key(path, where, suite, workload, config, order, threads, params)
		yield key, kind, _sample(path, where, e, hist)


def _load_qemu(path, doc):
	records = doc.get("records")
	if not isinstance(records, list):
		raise LoadError(f"{path}: no \"records\" list")
	for i, r in enumerate(records):
		if not isinstance(r, dict):
			raise LoadError(f"{path}: records[{i}]: not an object")
		name = r.get("name", "")
		where = f"records[{i}] ({name})" if name else f"records[{i}]"
		suite, workload, config, kv = parse_name(name if isinstance(name, str) else "")
		workload = r.get("workload", workload)
		config = r.get("config", config)
		order = r.get("order", kv.get("order"))
		threads = r.get("threads", kv.get("threads"))
		raw = r.get("lat_log2_ns", {})
		if not isinstance(raw, dict):
			raise LoadError(f"{path}: {where}: lat_log2_ns is not an object")
		hist = _histogram(path, where, raw.items(), "histogram bucket ")
		params = {k: v for k, v in kv.items() if k not in ("order", "threads")}
		key = _case_key(path, where, suite, workload, config, order, threads, params)
		yield key, "run", _sample(path, where, r, hist)


def _case_key(path, where, suite, workload, config, order, threads, params):
	for what, v in (("workload", workload), ("config", config)):
		if not isinstance(v, str) or not v or v == "?":
			raise LoadError(f"{path}: {where}: no {what}")
	try:
		threads = int(threads)
		if threads < 1:
			raise ValueError
	except (TypeError, ValueError):
		raise LoadError(f"{path}: {where}: threads missing or not a positive integer") from None
	if order is not None:
		try:
			order = int(order)
		except (TypeError, ValueError):
			raise LoadError(f"{path}: {where}: order {order!r} is not an integer") from None
	return (suite, workload, config, order, tuple(sorted(params.items())), threads)


# --- merging ----------------------------------------------------------------

def _slug(text):
	return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:40] or "x"


def _dataset_ids(contexts):
	"""Name each (source, machine, accel) once: "host", "qemu-tcg", or with
	the machine appended when one source ran on several machines."""
	ids = {}
	for source, machine, accel in sorted(contexts):
		base = source if source == "host" else f"{source}-{_slug(accel)}"
		clash = [c for c in contexts if c[0] == source and
			 (source == "host" or c[2] == accel) and c[1] != machine]
		ids[(source, machine, accel)] = f"{base}-{_slug(machine)}" if clash else base
	return ids


def _build_case(dataset, key, meds, runs, ctx):
	"""One Case from its samples: the median aggregate if Google Benchmark
	wrote one (meds), the iteration runs or kernel records (runs)."""
	suite, workload, config, order, params, threads = key
	if len(meds) > 1:
		raise LoadError(f"{', '.join(ctx['files'])}: {dataset} {suite}/{workload}/{config}"
				f" order {order} threads {threads}: more than one median aggregate")
	samples = runs or meds
	central = meds or samples          # what the central figures come from

	def median(name):
		return statistics.median([s[name] for s in central])

	def spread(name):
		if len(runs) < 2:
			return None
		return (min(s[name] for s in runs), max(s[name] for s in runs))

	pct = {}
	for p in PERCENTILES:
		vals = [s["percentiles"][p] for s in central if p in s["percentiles"]]
		if vals:
			pct[p] = statistics.median(vals)
	hist = {}
	for s in samples:
		for k, c in s["hist"].items():
			hist[k] = hist.get(k, 0.0) + c
	maxes = [s["max_ns"] for s in samples if s["max_ns"] is not None]
	for p, q in PERCENTILES.items():
		if p not in pct and hist:      # a record without it: from the buckets
			pct[p] = hist_percentile(hist, q, max(maxes) if maxes else None)
	return Case(source=ctx["source"], dataset=dataset, suite=suite, workload=workload,
		    config=config, order=order, threads=threads,
		    ns_per_op=median("ns_per_op"), mops_total=median("mops_total"),
		    percentiles=pct, max_ns=max(maxes) if maxes else None,
		    hist=hist, samples=len(samples), ns_range=spread("ns_per_op"),
		    mops_range=spread("mops_total"), params=params, context=ctx)


def load_files(paths):
	"""Load the given host-*.json / qemu-*.json files into a sorted list of Case."""
	groups = {}        # (source, machine, accel) -> {key: (meds, runs)}
	contexts = {}      # (source, machine, accel) -> merged context
	for path in paths:
		base = os.path.basename(path)
		if base.startswith("host-"):
			source, reader = "host", _load_host
		elif base.startswith("qemu-"):
			source, reader = "qemu", _load_qemu
		else:
			raise LoadError(f"{path}: name must start with host- or qemu-")
		doc = _read_json(path)
		ctx = _context(path, doc)
		ds = (source, str(ctx["machine"]), str(ctx["accel"]))
		merged = contexts.setdefault(ds, {"files": []})
		for k, v in ctx.items():
			old = merged.get(k)
			if old is None:
				merged[k] = v
			elif k in MERGED_KEYS and str(v) not in str(old).split(", "):
				merged[k] = f"{old}, {v}"   # files from several runs
		merged["files"].append(base)
		merged["source"] = source
		cases = groups.setdefault(ds, {})
		for key, kind, sample in reader(path, doc):
			meds, runs = cases.setdefault(key, ([], []))
			(meds if kind == "median" else runs).append(sample)
	ids = _dataset_ids(list(groups))
	out = []
	for ds, cases in groups.items():
		ctx = contexts[ds]
		ctx["dataset"] = ids[ds]
		out += [_build_case(ids[ds], key, meds, runs, ctx)
			for key, (meds, runs) in cases.items()]
	out.sort(key=sort_key)
	return out


def sort_key(c):
	return (c.dataset, c.suite, c.workload, -1 if c.order is None else c.order,
		c.params, c.config, c.threads)


def find_files(results_dir):
	"""The result files of a directory, in a fixed order."""
	return sorted(glob.glob(os.path.join(results_dir, "host-*.json")) +
		      glob.glob(os.path.join(results_dir, "qemu-*.json")))


def load_dir(results_dir):
	if not os.path.isdir(results_dir):
		raise LoadError(f"{results_dir}: no such directory")
	return load_files(find_files(results_dir))


def datasets(cases):
	"""dataset id -> its context, in a fixed order."""
	out = {}
	for c in cases:
		out.setdefault(c.dataset, c.context)
	return dict(sorted(out.items()))
