# SPDX-License-Identifier: MIT
"""The figures: which ones the data calls for (plan) and drawing them (render).

plan() needs no matplotlib, so RESULTS.md links exactly the files that
`make plot` writes. File names depend only on the data's cases, never on
time or order of discovery:

  throughput-DS-CASE.png        Mops/s against threads (vCPUs), one line per
                                config; a dashed line at the host's CPU count
  latency-DS-CASE-tN.png        CDF of the merged histograms at N threads
  fastpath-DS-SUITE-repeat.png  ns/op at 1 thread per order, bars per config
  hostvsqemu-HDS-QDS-CASE.png   the same case on the host and in the kernel

DS is a dataset id (loader.datasets), CASE e.g. "frame-repeat-order0".
"""

import os
import re
from dataclasses import dataclass

from loader import group_label, hist_cdf

CDF_THREADS = (1, 2)
PREFIXES = ("throughput-", "latency-", "fastpath-", "hostvsqemu-")
# The frame allocator's configurations, zero (full, every block zeroed:
# bench/cases/zero_env.c), then the page-table environments (tree:
# per-node locks; space: one lock per address space, the baseline, in the
# locked configuration's red), then the kernel heap's (kmalloc: alone in
# its heap cases' figures), then Linux's (make bench-linux: linux against
# full, kmalloc and tree, linux_zero against zero), in purple and brown.
CONFIG_ORDER = ("full", "nopcp", "locked", "zero", "tree", "space", "kmalloc",
		"linux", "linux_zero", "linux_user")
COLORS = {"full": "C0", "nopcp": "C1", "locked": "C3", "zero": "C2", "tree": "C0",
	  "space": "C3", "kmalloc": "C0", "linux": "C4", "linux_zero": "C5",
	  "linux_user": "C4"}
SPARE_COLORS = ("C6", "C7", "C8", "C9")


@dataclass
class Plot:
	name: str          # file name, no directory
	kind: str          # "throughput", "latency", "fastpath", "hostvsqemu"
	title: str
	cases: list        # the cases drawn
	threads: int = 0   # latency: the thread count shown


def _slug(text):
	return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def case_slug(group):
	suite, workload, order, params = group
	parts = [suite, workload] + ([f"order{order}"] if order is not None else [])
	parts += [f"{k}{v}" for k, v in params]
	return "-".join(_slug(p) for p in parts)


def config_sort(config):
	return (CONFIG_ORDER.index(config) if config in CONFIG_ORDER else len(CONFIG_ORDER), config)


def _by(cases, key):
	out = {}
	for c in cases:
		out.setdefault(key(c), []).append(c)
	return out


def plan(cases):
	"""Every figure for these cases, in a fixed order."""
	plots = []
	by_ds = _by(cases, lambda c: c.dataset)
	for ds, dcases in sorted(by_ds.items()):
		unit = "vCPUs" if dcases[0].source == "qemu" else "threads"
		for group, gcases in sorted(_by(dcases, lambda c: c.group).items(), key=_gkey):
			label = group_label(group)
			plots.append(Plot(f"throughput-{ds}-{case_slug(group)}.png", "throughput",
					  f"{label}: throughput against {unit} ({ds})", gcases))
			for t in CDF_THREADS:
				at = [c for c in gcases if c.threads == t and c.hist]
				if at:
					plots.append(Plot(f"latency-{ds}-{case_slug(group)}-t{t}.png",
							  "latency", f"{label}: latency CDF, {t} {unit} ({ds})",
							  at, threads=t))
		for suite in sorted({c.suite for c in dcases}):
			fast = [c for c in dcases if c.suite == suite and c.workload == "repeat"
				and c.threads == 1 and not c.params and c.order is not None]
			if fast:
				plots.append(Plot(f"fastpath-{ds}-{_slug(suite)}-repeat.png", "fastpath",
						  f"{suite} repeat: ns per operation at 1 thread, by order ({ds})",
						  fast))
	hosts = sorted(ds for ds, cs in by_ds.items() if cs[0].source == "host")
	qemus = sorted(ds for ds, cs in by_ds.items() if cs[0].source == "qemu")
	for h in hosts:
		for q in qemus:
			hg, qg = _by(by_ds[h], lambda c: c.group), _by(by_ds[q], lambda c: c.group)
			for group in sorted(set(hg) & set(qg), key=lambda g: _gkey((g, None))):
				plots.append(Plot(f"hostvsqemu-{h}-{q}-{case_slug(group)}.png", "hostvsqemu",
						  f"{group_label(group)}: host threads ({h}) against "
						  f"kernel vCPUs ({q})", hg[group] + qg[group]))
	return plots


def _gkey(item):
	suite, workload, order, params = item[0]
	return (suite, workload, -1 if order is None else order, params)


# --- drawing ----------------------------------------------------------------

def caption(ctx):
	parts = [str(ctx.get("machine")), f"accel {ctx.get('accel')}",
		 f"{ctx.get('host_cpus')} host CPUs"]
	if ctx.get("qemu_version"):
		parts.append(f"QEMU {ctx['qemu_version']}")
	parts.append(f"commit {ctx.get('commit')}")
	if ctx.get("date"):
		parts.append(str(ctx["date"]))
	return f"{ctx.get('dataset')}: " + " | ".join(parts)


def _colors(configs):
	spare = iter(SPARE_COLORS * 4)
	return {c: COLORS.get(c) or next(spare) for c in sorted(configs, key=config_sort)}


def _new_figure():
	from matplotlib.figure import Figure
	return Figure(figsize=(8, 5), dpi=100)


def _finish(fig, ax, plot, contexts):
	ax.set_title(plot.title, fontsize=10)
	ax.grid(True, which="major", alpha=0.3)
	lines = [caption(c) for c in contexts]
	fig.subplots_adjust(bottom=0.13 + 0.03 * len(lines))
	fig.text(0.01, 0.01, "\n".join(lines), fontsize=7, ha="left", va="bottom")


def _series(cases, yname, rname):
	cases = sorted(cases, key=lambda c: c.threads)
	xs = [c.threads for c in cases]
	ys = [getattr(c, yname) for c in cases]
	lo = [y - (getattr(c, rname) or (y, y))[0] for c, y in zip(cases, ys)]
	hi = [(getattr(c, rname) or (y, y))[1] - y for c, y in zip(cases, ys)]
	return xs, ys, [lo, hi]


def _threads_axis(ax, cases, unit, host_cpus):
	xs = sorted({c.threads for c in cases})
	ax.set_xscale("log", base=2)
	ax.set_xticks(xs)
	ax.set_xticklabels([str(x) for x in xs])
	ax.minorticks_off()
	ax.set_xlabel(f"{unit} (log2 scale)")
	if host_cpus:
		ax.axvline(host_cpus, color="gray", linestyle=":",
			   label=f"{host_cpus} host CPUs (oversubscribed beyond)")


def _host_cpus(ctx):
	try:
		return int(ctx.get("host_cpus"))
	except (TypeError, ValueError):
		return None


def _throughput(ax, plot):
	ctx = plot.cases[0].context
	unit = "vCPUs" if plot.cases[0].source == "qemu" else "threads"
	by_cfg = _by(plot.cases, lambda c: c.config)
	colors = _colors(by_cfg)
	for cfg in colors:
		xs, ys, err = _series(by_cfg[cfg], "mops_total", "mops_range")
		ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, color=colors[cfg], label=cfg)
	_threads_axis(ax, plot.cases, unit, _host_cpus(ctx))
	ax.set_ylabel("throughput, Mops/s (all threads; bars: min-max)")
	ax.set_ylim(bottom=0)
	return [ctx]


def _latency(ax, plot):
	by_cfg = _by(plot.cases, lambda c: c.config)
	colors = _colors(by_cfg)
	for cfg in colors:
		c = by_cfg[cfg][0]
		xs, ys = hist_cdf(c.hist)
		ax.plot(xs, ys, marker=".", color=colors[cfg],
			label=f"{cfg} ({sum(c.hist.values()):.0f} ops)")
	ax.set_xscale("log")
	ax.axhline(0.99, color="gray", linestyle=":", linewidth=0.8)
	ax.axhline(0.999, color="gray", linestyle="--", linewidth=0.8)
	ax.set_xlabel("latency of one operation, ns (log scale; log2 buckets)")
	ax.set_ylabel("fraction of operations at most x (dotted 0.99, dashed 0.999)")
	ax.set_ylim(0, 1.01)
	return [plot.cases[0].context]


def _fastpath(ax, plot):
	orders = sorted({c.order for c in plot.cases})
	by_cfg = _by(plot.cases, lambda c: c.config)
	colors = _colors(by_cfg)
	width = 0.8 / len(colors)
	for i, cfg in enumerate(colors):
		at = {c.order: c for c in by_cfg[cfg]}
		xs = [j + (i - (len(colors) - 1) / 2) * width for j, o in enumerate(orders) if o in at]
		cs = [at[o] for o in orders if o in at]
		ys = [c.ns_per_op for c in cs]
		err = [[y - (c.ns_range or (y, y))[0] for c, y in zip(cs, ys)],
		       [(c.ns_range or (y, y))[1] - y for c, y in zip(cs, ys)]]
		ax.bar(xs, ys, width, yerr=err, capsize=3, color=colors[cfg], label=cfg)
	ax.set_xticks(range(len(orders)))
	ax.set_xticklabels([f"order {o}" for o in orders])
	ax.set_ylabel("ns per operation, 1 thread (median; bars: min-max)")
	return [plot.cases[0].context]


def _hostvsqemu(ax, plot):
	by = _by(plot.cases, lambda c: (c.source, c.config))
	colors = _colors({c.config for c in plot.cases})
	for (source, cfg) in sorted(by, key=lambda k: (k[0], config_sort(k[1]))):
		xs, ys, err = _series(by[(source, cfg)], "mops_total", "mops_range")
		ax.errorbar(xs, ys, yerr=err, marker="o" if source == "host" else "s", capsize=3,
			    linestyle="-" if source == "host" else "--", color=colors[cfg],
			    label=f"{cfg}, {by[(source, cfg)][0].dataset}")
	contexts = list({c.dataset: c.context for c in plot.cases}.values())
	_threads_axis(ax, plot.cases, "threads (host) or vCPUs (kernel)",
		      _host_cpus(contexts[0]))
	# Log scale: the kernel under TCG runs one to two orders of magnitude
	# slower than the host, and on a linear axis its lines lie flat on zero;
	# what compares is the shape (how each scales), which a log axis keeps.
	ax.set_yscale("log")
	ax.set_ylabel("throughput, Mops/s (all threads or vCPUs; log scale)")
	return contexts


DRAW = {"throughput": _throughput, "latency": _latency, "fastpath": _fastpath,
	"hostvsqemu": _hostvsqemu}


def render(plot, path):
	fig = _new_figure()
	ax = fig.add_subplot()
	contexts = DRAW[plot.kind](ax, plot)
	ax.legend(fontsize=8)
	_finish(fig, ax, plot, contexts)
	# No timestamp or version in the file: the same data gives the same bytes.
	fig.savefig(path, format="png", metadata={"Software": None})


def write_all(cases, out_dir, say=print):
	"""Draw every planned figure into out_dir; remove our stale ones there.

	Returns the paths written. Files in out_dir that do not start with one
	of PREFIXES are not touched.
	"""
	import matplotlib
	matplotlib.use("Agg")
	os.makedirs(out_dir, exist_ok=True)
	plots = plan(cases)
	written = set()
	for p in plots:
		path = os.path.join(out_dir, p.name)
		render(p, path)
		written.add(p.name)
		say(f"plot: wrote {path}")
	if cases and not any(c.source == "qemu" for c in cases):
		say("plot: no kernel-under-QEMU data (qemu-*.json): no host-against-QEMU plots")
	for name in sorted(os.listdir(out_dir)):
		if name.endswith(".png") and name.startswith(PREFIXES) and name not in written:
			os.remove(os.path.join(out_dir, name))
			say(f"plot: removed {os.path.join(out_dir, name)} (not from this data)")
	return [os.path.join(out_dir, p.name) for p in plots]
