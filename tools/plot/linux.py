# SPDX-License-Identifier: MIT
"""RESULTS.md's Linux section: our kernel and Debian's Linux side by side.

Both kernels' records come from tools/bench_qemu.py (make bench-qemu,
make bench-linux): results/qemu-<accel>-smp<N>.json and
results/qemu-linux-<accel>-smp<N>.json, which the loader merges into one
dataset per machine and accelerator (the configurations tell the kernels
apart). Each pair below compares one case in one of our configurations
with the same case in a Linux configuration, per vCPU count, in one
dataset (same machine, accelerator and QEMU flags):

  frame cases   full  against linux       (init_on_alloc=0: nobody zeroes)
                zero  against linux_zero  (FRAME_ZERO against Debian's
                                           default init_on_alloc=1)
  heap cases    kmalloc against linux     (SLUB, init_on_alloc=0)
  pt/fault      tree  against linux_user  (page_fault1 from user space)

"Linux / ours" is Linux's ns per operation over ours: above 1, ours is
faster. Then issue 14's targets, judged from the same figures.
"""

from compare import fmt
from loader import datasets, group_label
from plots import plan

MET, NOT_MET, NOT_MEASURED = "met", "not met", "not measured"

# The figures shown inline (the others are linked): (suite, workload, order, params).
SHOWN = (("frame", "repeat", 0, ()), ("heap", "repeat", None, (("size", 64),)),
	 ("pt", "fault", None, (("pages", 1024),)))

# (suite, workloads, argument, our config, Linux config, what it compares)
PAIRS = (
	("frame", ("repeat", "bulk_alloc", "bulk_free", "rand"), "order", "full", "linux",
	 "frames, nobody zeroes (Linux `init_on_alloc=0`)"),
	("frame", ("repeat", "bulk_alloc", "bulk_free", "rand"), "order", "zero", "linux_zero",
	 "frames zeroed (our `FRAME_ZERO`, Linux's default `init_on_alloc=1`)"),
	("heap", ("repeat", "bulk", "pc"), "size", "kmalloc", "linux",
	 "objects: our `kmalloc` against SLUB (`init_on_alloc=0`)"),
	("pt", ("fault",), "pages", "tree", "linux_user",
	 "demand faults: our `pt/fault` against page_fault1 from user space"),
)


def _arg(case, arg):
	"""A case's argument: the order, or the named parameter (size, pages)."""
	if arg == "order":
		return case.order
	return dict(case.params).get(arg)


def _index(cases):
	"""(dataset, suite, workload, config, arg value, vcpus) -> case, qemu only."""
	out = {}
	for c in cases:
		if c.source != "qemu":
			continue
		for arg in ("order", "size", "pages"):
			v = _arg(c, arg)
			if v is not None:
				out[(c.dataset, c.suite, c.workload, c.config, int(v), c.threads)] = c
				break
	return out


def _rows(idx, ds, pair):
	suite, workloads, arg, ours, theirs, _ = pair
	rows = []
	keys = sorted({(k[2], k[4], k[5]) for k in idx
		       if k[0] == ds and k[1] == suite and k[2] in workloads and k[3] in (ours, theirs)},
		      key=lambda k: (workloads.index(k[0]), k[1], k[2]))
	for workload, value, vcpus in keys:
		a = idx.get((ds, suite, workload, ours, value, vcpus))
		b = idx.get((ds, suite, workload, theirs, value, vcpus))
		ratio = f"{b.ns_per_op / a.ns_per_op:.2f}x" if a and b and a.ns_per_op > 0 else "–"
		rows.append((f"`{workload}`", value, vcpus, fmt(a.ns_per_op) if a else "–",
			     fmt(b.ns_per_op) if b else "–", ratio))
	return rows


def ratio(idx, ds, suite, workload, ours, theirs, value, vcpus):
	"""Linux's ns/op over ours for one case, or None if either is missing."""
	a = idx.get((ds, suite, workload, ours, value, vcpus))
	b = idx.get((ds, suite, workload, theirs, value, vcpus))
	if not a or not b or a.ns_per_op <= 0:
		return None
	return b.ns_per_op / a.ns_per_op


def _judge(found, least):
	"""(measured text, verdict) for ratios found: [(label, ratio or None)];
	met only if every one was measured and is at least least."""
	have = [(label, r) for label, r in found if r is not None]
	if not have:
		return "–", NOT_MEASURED
	text = ", ".join(f"{label}: {r:.2f}x" for label, r in have)
	missed = [label for label, r in have if r < least]
	missing = [label for label, r in found if r is None]
	if missed:
		return text, f"{NOT_MET} ({', '.join(missed)})"
	if missing:
		return text, f"{NOT_MEASURED} ({', '.join(missing)})"
	return text, MET


def targets(idx, ds, orders=(0, 3, 9), vcpus=(1, 2)):
	"""Issue 14's targets in dataset ds: rows (target, measured, verdict)."""
	rows = []
	found = [(f"{n} vCPU{'s' if n > 1 else ''}",
		  ratio(idx, ds, "frame", "repeat", "full", "linux", 0, n)) for n in vcpus]
	rows.append(("order-0 `repeat` (one allocation and one free per operation): ours at "
		     "least 2x faster per operation than Linux `init_on_alloc=0`", *_judge(found, 2.0)))
	for workload in ("bulk_alloc", "bulk_free", "rand"):
		found = [(f"order {o}, {n} vCPU{'s' if n > 1 else ''}",
			  ratio(idx, ds, "frame", workload, "full", "linux", o, n))
			 for o in orders for n in vcpus]
		rows.append((f"`{workload}`: ours at least as fast as Linux `init_on_alloc=0` "
			     f"at every order", *_judge(found, 1.0)))
	found = [(f"{n} vCPU{'s' if n > 1 else ''}",
		  ratio(idx, ds, "heap", "repeat", "kmalloc", "linux", 64, n)) for n in vcpus]
	rows.append(("64 B `kmalloc`+`kfree` (`heap/repeat`): ours at least as fast as SLUB",
		     *_judge(found, 1.0)))
	return rows


def _table(header, rows):
	out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
	out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
	return "\n".join(out)


def _figures(cases, plots_rel):
	"""make plot's figures of these cases (plot.py draws them into
	plots_rel): the throughput plots that have both kernels' lines."""
	linux = {"linux", "linux_zero", "linux_user"}
	plots = [p for p in plan(cases) if p.kind == "throughput" and
		 {c.config for c in p.cases} & linux and {c.config for c in p.cases} - linux]
	shown = [p for p in plots if p.cases[0].group in SHOWN]
	rest = [p for p in plots if p not in shown]
	out = [f"![{p.title}]({plots_rel}/{p.name})\n" for p in shown]
	if rest:
		out.append("Every other case: " + ", ".join(
			f"[{group_label(p.cases[0].group)}]({plots_rel}/{p.name})" for p in rest) + ".\n")
	return out


def section(cases, plots_rel="results/plots/linux"):
	"""The generated section's markdown, from the side-by-side run's cases."""
	idx = _index(cases)
	with_linux = sorted({k[0] for k in idx if k[3] in ("linux", "linux_zero", "linux_user")})
	if not with_linux:
		return ("No Linux data yet: there is no `results/linux/qemu-linux-*.json`. Run "
			"`make bench-linux`, then `make plot` and `make results`.")
	out = []
	ctxs = datasets(cases)
	for ds in with_linux:
		ctx = ctxs.get(ds, {})
		linux = ctx.get("linux") or {}
		out.append(f"### `{ds}`: {ctx.get('machine')}, {ctx.get('accel')}, QEMU "
			   f"{ctx.get('qemu_version')}, Linux {linux.get('release', '?')}\n")
		for pair in PAIRS:
			rows = _rows(idx, ds, pair)
			if not rows:
				continue
			_, _, arg, ours, theirs, what = pair
			out.append(f"#### {pair[0]}: {what}\n")
			out.append(_table(("workload", arg, "vCPUs", f"ours (`{ours}`) ns/op",
					   f"Linux (`{theirs}`) ns/op", "Linux / ours"), rows) + "\n")
		out.append("#### Targets (issue 14)\n")
		out.append(_table(("target", "Linux / ours", ""), targets(idx, ds)) + "\n")
		out.append("#### Figures\n")
		out += _figures([c for c in cases if c.dataset == ds], plots_rel)
	return "\n".join(out).rstrip()
