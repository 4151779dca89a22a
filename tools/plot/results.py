# SPDX-License-Identifier: MIT
"""Fill RESULTS.md's generated sections from the data.

RESULTS.md is its own template. A generated section is

    <!-- generated: NAME -->
    ...anything: replaced on every run...
    <!-- end -->

and everything outside such sections is prose that this module copies
unchanged. The compare section holds make bench-compare's tables
(results/compare-*g.json, compare.py) and targets11 issue 11's targets
judged from them (targets11.py), the heap section make bench-heap's
tables and issue 12's targets (results/heap.json, heap.py), the others
figures of
results/host-*.json and qemu-*.json. NAME is one of SECTIONS; an unknown name, a section that does
not end, or a nested marker is an error (the file is left as it was).
With no data every section says so, and the targets read "not measured".
"""

import re

import compare as compare_mod
import heap as heap_mod
import linux as linux_mod
from compare import fmt
import targets11
from loader import datasets, group_label
from plots import CDF_THREADS, config_sort, plan

BEGIN = re.compile(r"^<!-- generated: ([a-z0-9-]+) -->\s*$")
END = re.compile(r"^<!-- end -->\s*$")
NO_DATA = ("No data yet: there is no `results/host-*.json` or `results/qemu-*.json`. "
	   "Run `make bench`, then `make plot` and `make results`.")
MET, NOT_MET, NOT_MEASURED = "met", "not met", "not measured"


class TemplateError(Exception):
	pass




def _table(header, rows):
	out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
	out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
	return "\n".join(out)


# --- sections ---------------------------------------------------------------

def section_data(cases, plots_rel):
	if not cases:
		return NO_DATA
	rows = []
	for ds, ctx in datasets(cases).items():
		rows.append((f"`{ds}`", ctx.get("source"), ctx.get("machine"), ctx.get("accel"),
			     ctx.get("host_cpus"), ctx.get("qemu_version") or "–",
			     f"`{ctx.get('commit')}`", ctx.get("date") or "–",
			     ", ".join(f"`{f}`" for f in ctx["files"])))
	return _table(("data set", "source", "machine", "accelerator", "host CPUs", "QEMU",
		       "commit", "date", "files"), rows)


def section_commands(cases, plots_rel):
	text = ("```sh\n"
		"make bench      # runs the suites: results/host-*.json, results/qemu-*.json\n"
		f"make plot       # the figures: {plots_rel}/*.png\n"
		"make results    # this file's generated sections, from the JSON\n"
		"make bench-compare   # against commit 933f143: results/compare-*g.json\n"
		"make bench-heap      # kmalloc against glibc, jemalloc, mimalloc: results/heap.json\n"
		"make bench-linux     # ours and Debian's Linux, same cases and QEMU flags: results/linux/\n"
		"```")
	recorded = sorted({str(c.context["command"]) for c in cases if c.context.get("command")})
	if recorded:
		text += "\n\nThe runs recorded these command lines:\n\n" + "\n".join(
			f"- `{cmd}`" for cmd in recorded)
	return text


def section_tables(cases, plots_rel):
	if not cases:
		return NO_DATA
	out = []
	header = ("order", "config", "UNIT", "ns/op (median)", "min–max", "Mops/s total",
		  "p50 ns", "p99 ns", "p99.9 ns", "max ns", "runs")
	for ds, ctx in datasets(cases).items():
		unit = "vCPUs" if ctx.get("source") == "qemu" else "threads"
		out.append(f"### `{ds}`: {ctx.get('machine')}, {ctx.get('accel')}\n")
		dcases = [c for c in cases if c.dataset == ds]
		for suite, workload in sorted({(c.suite, c.workload) for c in dcases}):
			rows = []
			for c in dcases:
				if (c.suite, c.workload) != (suite, workload):
					continue
				rng = f"{fmt(c.ns_range[0])}–{fmt(c.ns_range[1])}" if c.ns_range else "–"
				p = c.percentiles
				order = "–" if c.order is None else c.order
				if c.params:
					order = f"{order} ({', '.join(f'{k} {v}' for k, v in c.params)})"
				rows.append(((c.order is None, c.order or 0, c.params, config_sort(c.config),
					      c.threads),
					     (order, c.config, c.threads, fmt(c.ns_per_op), rng,
					      fmt(c.mops_total), fmt(p.get("p50_ns")), fmt(p.get("p99_ns")),
					      fmt(p.get("p999_ns")), fmt(c.max_ns), c.samples)))
			rows.sort(key=lambda r: r[0])
			out.append(f"#### {suite} `{workload}`\n")
			out.append(_table([unit if h == "UNIT" else h for h in header],
					  [r[1] for r in rows]) + "\n")
	return "\n".join(out).rstrip()


def section_plots(cases, plots_rel):
	if not cases:
		return NO_DATA
	plots = plan(cases)
	out = []
	for kind, heading in (("fastpath", "Fast path"), ("throughput", "Throughput"),
			      ("hostvsqemu", "Host against the kernel under QEMU")):
		chosen = [p for p in plots if p.kind == kind]
		if chosen:
			out.append(f"### {heading}\n")
			out += [f"![{p.title}]({plots_rel}/{p.name})\n" for p in chosen]
	if not any(c.source == "qemu" for c in cases):
		out.append("No kernel-under-QEMU data yet, so no host-against-QEMU figures.\n")
	lat = {}
	for p in plots:
		if p.kind == "latency":
			key = (p.cases[0].dataset, p.cases[0].group)
			lat.setdefault(key, {})[p.threads] = f"[CDF]({plots_rel}/{p.name})"
	if lat:
		out.append("### Latency CDFs\n")
		rows = [(f"`{ds}`", group_label(g)) + tuple(links.get(t, "–") for t in CDF_THREADS)
			for (ds, g), links in lat.items()]
		out.append(_table(("data set", "case") + tuple(f"{t} thread(s)" for t in CDF_THREADS),
				  rows))
	return "\n".join(out).rstrip()


# --- targets ----------------------------------------------------------------

def _find(cases, ds, workload, config, order, threads):
	for c in cases:
		if (c.dataset, c.suite, c.workload, c.config, c.order, c.threads, c.params) == \
		   (ds, "frame", workload, config, order, threads, ()):
			return c
	return None


def _ratio(cases, ds, workload, config, order, num, den):
	a, b = (_find(cases, ds, workload, config, order, t) for t in (num, den))
	if a is None or b is None or b.mops_total <= 0:
		return None
	return a.mops_total / b.mops_total


def _at_most(value, limit, unit="ns"):
	if value is None:
		return "–", NOT_MEASURED
	return f"{fmt(value)} {unit}", MET if value <= limit else NOT_MET


def _ratio_row(cases, ds, workload, config, num, den, least):
	orders = sorted({c.order for c in cases if c.dataset == ds and c.workload == workload
			 and c.config == config and c.order is not None})
	found = [(o, _ratio(cases, ds, workload, config, o, num, den)) for o in orders]
	found = [(o, r) for o, r in found if r is not None]
	if not found:
		return "–", NOT_MEASURED
	text = ", ".join(f"order {o}: {r:.2f}x" for o, r in found)
	missed = [o for o, r in found if r < least]
	if not missed:
		return text, MET
	return text, f"{NOT_MET} (order {', '.join(map(str, missed))})"


def _host_targets(cases, ds):
	rows = []
	c = _find(cases, ds, "repeat", "full", 0, 1)
	rows.append(("full, order 0, `repeat`, 1 thread: at most 8 ns/op",
		     *_at_most(c and c.ns_per_op, 8)))
	bulk = _find(cases, ds, "bulk", "full", 0, 1)
	if bulk:
		rows.append(("full, order 0, `bulk`, 1 thread: at most 15 ns/op",
			     *_at_most(bulk.ns_per_op, 15)))
	else:
		phases = [_find(cases, ds, w, "full", 0, 1) for w in ("bulk_alloc", "bulk_free")]
		if all(phases):
			worst = max(p.ns_per_op for p in phases)
			rows.append(("full, order 0, `bulk`, 1 thread: at most 15 ns/op (each phase)",
				     f"alloc {fmt(phases[0].ns_per_op)} ns, free {fmt(phases[1].ns_per_op)} ns",
				     MET if worst <= 15 else NOT_MET))
		else:
			rows.append(("full, order 0, `bulk`, 1 thread: at most 15 ns/op", "–", NOT_MEASURED))
	workloads = sorted({c.workload for c in cases if c.dataset == ds and c.suite == "frame"
			    and c.config == "full"}) or [None]
	for num, den, least in ((2, 1, 1.8), (8, 2, 0.9)):
		for w in workloads:
			rows.append((f"full, {f'`{w}`' if w else 'every workload'}: {num} threads "
				     f"at least {least}x the Mops/s of {den}",
				     *_ratio_row(cases, ds, w, "full", num, den, least)))
	r = _ratio(cases, ds, "repeat", "nopcp", 0, 8, 2)
	rows.append(("nopcp, order 0, `repeat`: 8 threads at least 0.85x the Mops/s of 2",
		     *(("–", NOT_MEASURED) if r is None else
		       (f"{r:.2f}x", MET if r >= 0.85 else NOT_MET))))
	c = _find(cases, ds, "repeat", "full", 0, 2)
	p999 = c.percentiles.get("p999_ns") if c else None
	if p999 is None:
		text, status = "–", NOT_MEASURED
	else:
		text = f"p99.9 {fmt(p999)} ns (max {fmt(c.max_ns)} ns)"
		status = MET if p999 < 1000 else NOT_MET
	rows.append(("full, order 0, `repeat`, 2 threads: p99.9 under 1 µs", text, status))
	return rows


def _pt_map_unmap(cases, ds, config, threads, workload="map_unmap"):
	"""{pages: case} of pt/<workload> in config at threads (threads or
	vCPUs)."""
	out = {}
	for c in cases:
		params = dict(c.params)
		if ((c.dataset, c.suite, c.workload, c.config, c.threads) ==
		    (ds, "pt", workload, config, threads) and "pages" in params):
			out[int(params["pages"])] = c
	return out


def _pt_ratio_row(cases, ds, num, den, least, workload="map_unmap"):
	"""The Mops/s of pt/<workload> at num = (config, threads) over den's, per
	region size, judged against least."""
	a = _pt_map_unmap(cases, ds, *num, workload=workload)
	b = _pt_map_unmap(cases, ds, *den, workload=workload)
	found = [(p, a[p].mops_total / b[p].mops_total)
		 for p in sorted(set(a) & set(b)) if b[p].mops_total > 0]
	if not found:
		return "–", NOT_MEASURED
	text = ", ".join(f"pages {p}: {r:.2f}x" for p, r in found)
	missed = [p for p, r in found if r < least]
	if not missed:
		return text, MET
	return text, f"{NOT_MET} (pages {', '.join(map(str, missed))})"


def _pt_targets(cases, ds, where, unit):
	"""Issue 13's map+unmap targets (bench/cases/pt_map_unmap.c): tree
	scales, and beats one lock per address space (space)."""
	return [
		(f"{where}`pt/map_unmap`, tree: 2 {unit}s at least 1.8x the Mops/s of 1",
		 *_pt_ratio_row(cases, ds, ("tree", 2), ("tree", 1), 1.8)),
		(f"{where}`pt/map_unmap`, 2 {unit}s: tree at least 1.7x the Mops/s of space "
		 f"(one lock per address space)",
		 *_pt_ratio_row(cases, ds, ("tree", 2), ("space", 2), 1.7)),
	]


def section_targets(cases, plots_rel):
	hosts = [ds for ds, ctx in datasets(cases).items() if ctx.get("source") == "host"]
	tcg = [ds for ds, ctx in datasets(cases).items()
	       if ctx.get("source") == "qemu" and ctx.get("accel") == "tcg"]
	rows = []
	for ds in hosts or [None]:
		prefix = f"`{ds}`: " if len(hosts) > 1 else ""
		rows += [(prefix + t, m, s) for t, m, s in _host_targets(cases, ds)]
	for ds in tcg or [None]:
		prefix = f"`{ds}`: " if len(tcg) > 1 else ""
		r = _ratio(cases, ds, "repeat", "full", 0, 2, 1)
		rows.append((prefix + "kernel under TCG, full, order 0, `repeat`: "
			     "2 vCPUs at least 1.8x the Mops/s of 1",
			     *(("–", NOT_MEASURED) if r is None else
			       (f"{r:.2f}x", MET if r >= 1.8 else NOT_MET))))
	for ds in hosts or [None]:
		prefix = f"`{ds}`: " if len(hosts) > 1 else ""
		rows += _pt_targets(cases, ds, prefix + "host, ", "thread")
	for ds in tcg or [None]:
		prefix = f"`{ds}`: " if len(tcg) > 1 else ""
		rows += _pt_targets(cases, ds, prefix + "kernel under TCG, ", "vCPU")
		rows.append((prefix + "kernel under TCG, `pt/fault` (demand faults), "
			     "tree: 2 vCPUs at least 1.6x the Mops/s of 1",
			     *_pt_ratio_row(cases, ds, ("tree", 2), ("tree", 1), 1.6,
					    workload="fault")))
	return _table(("target", "measured", ""), rows)


def section_compare(cases, plots_rel, compare=()):
	"""make bench-compare's tables (results/compare-*g.json, compare.py)."""
	return compare_mod.section(list(compare))


def section_targets11(cases, plots_rel, compare=()):
	"""Issue 11's targets, from the same files (targets11.py)."""
	return targets11.section(list(compare))


def section_heap(cases, plots_rel, heap=None):
	"""make bench-heap's tables (results/heap.json, heap.py)."""
	return heap_mod.section(heap)


def section_linux(cases, plots_rel, linux=()):
	"""Our kernel and Linux side by side, and issue 14's targets (linux.py),
	from the side-by-side run's cases (results/linux/)."""
	return linux_mod.section(list(linux), f"{plots_rel}/linux")


SECTIONS = {"data": section_data, "commands": section_commands, "targets": section_targets,
	    "tables": section_tables, "plots": section_plots, "compare": section_compare,
	    "targets11": section_targets11, "heap": section_heap, "linux": section_linux}


# --- the template -----------------------------------------------------------

def fill(text, cases, plots_rel="results/plots", source="RESULTS.md", compare=(), heap=None,
	 linux=()):
	"""Return text with every generated section rewritten from cases (and
	the comparison sections, compare and targets11, from compare:
	compare.py's documents; heap from heap: heap.py's document or None;
	linux from linux: the side-by-side run's cases, results/linux/)."""
	sections = dict(SECTIONS, compare=lambda c, p: section_compare(c, p, compare),
			targets11=lambda c, p: section_targets11(c, p, compare),
			heap=lambda c, p: section_heap(c, p, heap),
			linux=lambda c, p: section_linux(c, p, linux))
	out, current, start = [], None, 0
	for n, line in enumerate(text.splitlines(keepends=True), 1):
		begin, end = BEGIN.match(line), END.match(line)
		if current is None:
			out.append(line)
			if begin:
				current, start = begin.group(1), n
				if current not in SECTIONS:
					raise TemplateError(f"{source}:{n}: unknown generated section "
							    f"{current!r} (known: {', '.join(SECTIONS)})")
			elif end:
				raise TemplateError(f"{source}:{n}: <!-- end --> outside a generated section")
		elif begin:
			raise TemplateError(f"{source}:{n}: generated section inside "
					    f"{current!r} (opened on line {start})")
		elif end:
			out.append("\n" + sections[current](cases, plots_rel).strip() + "\n\n")
			out.append(line)
			current = None
	if current is not None:
		raise TemplateError(f"{source}:{start}: generated section {current!r} has no <!-- end -->")
	return "".join(out)
