# SPDX-License-Identifier: MIT
"""Issue 11's targets, judged from make bench-compare's files (compare.py).

RESULTS.md's generated section "targets11": for each arena (every
compare-<ram>g.json, and the 1 and 20 GiB the issue names even when their
file is missing) a table target | measured | met or not met:

1. nopcp repeat, orders 0 and 3, new build: 2 threads at least 1.7x one
   thread's total throughput, 8 threads at least 0.9x two threads'.
2. full bulk_alloc against the base: order 3 at least 2x, order 9 at least
   3x, at 2 and at 8 threads. bulk_free is shown beside it, as
   information: no target of the lead's reading of the issue.
3. full never slower than nopcp (new build), every order and thread count
   of repeat, bulk_alloc and bulk_free: the worst full/nopcp ratio.
4. full repeat no slower than the base at every order and thread count:
   the worst new/base ratio.

Every figure is compare.py's: total Mops/s from the median over rounds
(threads x 1000 / ns per op). "met" means the ratio reaches the target,
with no allowance for noise; a ratio is printed with as many digits as
it takes to show on which side of the target it lies. A figure the file
lacks makes its row "no data", which is not met.
"""

import compare
from compare import fmt, fmt_ratio

ISSUE_BASE = "933f143"      # the commit issue 11's targets compare against
ARENAS = (1, 20)            # GiB: the arenas the targets are stated at
MET, NOT_MET, NO_DATA = "met", "not met", "no data"
INFO = "–"                  # the status of a row shown for information only
CASES = ("repeat", "bulk_alloc", "bulk_free")

# (order, more threads, fewer threads, least ratio of total throughput)
SCALING = ((0, 2, 1, 1.7), (0, 8, 2, 0.9), (3, 2, 1, 1.7), (3, 8, 2, 0.9))
# (case, order, least new/base, a target or information only)
AGAINST_BASE = (("bulk_alloc", 3, 2.0, True), ("bulk_alloc", 9, 3.0, True),
		("bulk_free", 3, 2.0, False), ("bulk_free", 9, 3.0, False))
AGAINST_BASE_THREADS = (2, 8)
INTRO = ("Issue 11's targets, from the medians of the comparison above: total Mops/s "
	 "(threads x 1000 / ns per op), new build unless a row says otherwise. \"met\" means the "
	 "ratio reaches the target in this run, with no allowance for noise; a figure the run "
	 "lacks is \"no data\", not met.")


def _threads(n):
	return f"{n} thread{'' if n == 1 else 's'}"


def _where(order, threads):
	return f"order {'–' if order is None else order}, {_threads(threads)}"


def fmt_vs(ratio, least):
	"""ratio as '1.23x', with more digits where two would round it onto
	the other side of least (0.998 is '0.998x', not a met-looking '1.00x')."""
	for digits in range(2, 7):
		text = f"{ratio:.{digits}f}"
		if (float(text) >= least) == (ratio >= least):
			break
	return text + "x"


def _div(a, b):
	return a / b if a is not None and b else None


def _index(doc):
	"""(case, config, order, threads) -> compare.Row."""
	return {(r.case, r.config, r.order, r.threads): r for r in compare.rows(doc)}


def _missing(case, config, order, threads):
	"""'no data' naming what is missing: every thread count of threads."""
	return (f"no data (`{case}` {config} order {order} at "
		f"{' and '.join(_threads(t) for t in threads)} not measured)")


# --- the four targets ---------------------------------------------------------

def scaling_rows(at):
	"""Target 1: nopcp repeat's own scaling, new build (the base's beside it)."""
	rows = []
	for order, more, fewer, least in SCALING:
		target = (f"nopcp `repeat` order {order}: {_threads(more)} at least {least}x "
			  f"the total Mops/s of {_threads(fewer)}")
		a, b = (at.get(("repeat", "nopcp", order, t)) for t in (more, fewer))
		r = _div(a and a.mops("new"), b and b.mops("new"))
		if r is None:
			gone = [t for t, row in ((more, a), (fewer, b)) if row is None or not row.mops("new")]
			rows.append((target, _missing("repeat", "nopcp", order, gone), NOT_MET))
			continue
		base = _div(a.mops("base"), b.mops("base"))
		rows.append((target, f"{fmt_vs(r, least)} (base: {fmt_ratio(base)})",
			     MET if r >= least else NOT_MET))
	return rows


def against_base_rows(at):
	"""Target 2: full bulk against the base at 2 and 8 threads."""
	rows = []
	for case, order, least, is_target in AGAINST_BASE:
		for threads in AGAINST_BASE_THREADS:
			where = f"full `{case}` order {order}, {_threads(threads)}"
			target = (f"{where}: at least {least:g}x the base's Mops/s" if is_target else
				  f"{where}: against the base (information, not a target)")
			row = at.get((case, "full", order, threads))
			r = row and row.ratio
			if r is None:
				rows.append((target, _missing(case, "full", order, [threads]),
					     NOT_MET if is_target else INFO))
				continue
			text = (f"{fmt_vs(r, least) if is_target else fmt_ratio(r)} "
				f"({fmt(row.mops('new'))} against {fmt(row.mops('base'))} Mops/s)")
			rows.append((target, text, (MET if r >= least else NOT_MET) if is_target else INFO))
	return rows


def _sort_key(order_threads):
	order, threads = order_threads
	return (-1 if order is None else order, threads)


def _coverage(points):
	orders = sorted({o for o, _ in points}, key=lambda o: -1 if o is None else o)
	threads = sorted({t for _, t in points})
	return (f"orders {', '.join('–' if o is None else str(o) for o in orders)} "
		f"at {', '.join(map(str, threads))} threads")


def _worst(ratios, least, missing=()):
	"""(measured, status) for "every ratio at least least": the worst and
	where, how many fall short, what was covered, what is missing."""
	if not ratios:
		return (f"no data{' (' + '; '.join(missing) + ')' if missing else ''}", NOT_MET)
	r, _, (order, threads) = min((r, _sort_key(p), p) for p, r in ratios.items())
	below = sum(1 for v in ratios.values() if v < least)
	text = (f"worst {fmt_vs(r, least)}: {_where(order, threads)} ({below} of {len(ratios)} "
		f"below {least:.2f}x; {_coverage(ratios)})")
	if missing:
		text += "; no data: " + "; ".join(missing)
	return text, MET if r >= least and not missing else NOT_MET


def full_vs_nopcp_rows(at):
	"""Target 3: full never slower than nopcp, new build, per case."""
	rows = []
	for case in CASES:
		points = sorted({(o, t) for (c, cfg, o, t) in at
				 if c == case and cfg in ("full", "nopcp")}, key=_sort_key)
		ratios, missing = {}, []
		for o, t in points:
			full, nopcp = at.get((case, "full", o, t)), at.get((case, "nopcp", o, t))
			r = _div(full and full.mops("new"), nopcp and nopcp.mops("new"))
			if r is None:
				gone = "full" if full is None else "nopcp"
				missing.append(f"{gone} {_where(o, t)}")
			else:
				ratios[(o, t)] = r
		if not points:
			missing.append(f"no `{case}` figures")
		rows.append((f"full `{case}` no slower than nopcp at every order and thread count "
			     "(full/nopcp at least 1.0x)", *_worst(ratios, 1.0, missing)))
	return rows


def repeat_vs_base_rows(at):
	"""Target 4: full repeat no slower than the base anywhere."""
	ratios = {(o, t): row.ratio for (c, cfg, o, t), row in at.items()
		  if (c, cfg) == ("repeat", "full") and row.ratio is not None}
	return [("full `repeat` no slower than the base at every order and thread count "
		 "(new/base at least 1.0x)", *_worst(ratios, 1.0, [] if ratios else
							["no full `repeat` figures"]))]


def rows(doc):
	"""Every target's (target, measured, status) for one comparison file."""
	at = _index(doc)
	return (scaling_rows(at) + against_base_rows(at) + full_vs_nopcp_rows(at) +
		repeat_vs_base_rows(at))


# --- the section --------------------------------------------------------------

def _table(body):
	out = ["| target | measured |  |", "|---|---|---|"]
	out += ["| " + " | ".join(r) + " |" for r in body]
	return "\n".join(out)


def arena(ram, doc, level=4):
	"""One arena's heading, what was compared, and its table."""
	h = "#" * level
	if doc is None:
		return (f"{h} {ram} GiB arena: not measured\n\n"
			f"No `results/compare-{ram}g.json`, so every target is \"no data\" at {ram} GiB "
			f"(not met): run `make bench-compare` with {ram} in RAM_GIB.")
	ctx = doc["context"]
	out = [f"{h} {ram} GiB arena: `{ctx['head']}` (new) against `{ctx['base']}` (base)", ""]
	if not str(ctx["base"]).startswith(ISSUE_BASE):
		out += [f"The base of this run is `{ctx['base']}`, not issue 11's `{ISSUE_BASE}`: "
			"its ratios against the base are not the issue's.", ""]
	out.append(_table(rows(doc)))
	return "\n".join(out)


def section(docs):
	"""RESULTS.md's targets11 section: every arena measured and every
	arena the issue names, smallest first."""
	by_ram = {int(d["context"]["ram_gib"]): d for d in docs}
	parts = [INTRO] + [arena(ram, by_ram.get(ram)) for ram in sorted(set(by_ram) | set(ARENAS))]
	return "\n\n".join(parts)
