#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Plots and RESULTS.md from the benchmark JSON (make plot, make results).

  tools/plot/plot.py plots   [--results DIR] [--out DIR]
  tools/plot/plot.py results [--results DIR] [--plots DIR] [--file RESULTS.md]

Reads DIR/host-*.json (Google Benchmark) and DIR/qemu-*.json (the kernel's
suite); `results` also DIR/compare-*g.json (make bench-compare) and
DIR/heap.json (make bench-heap). DIR/linux/ (make bench-linux: both
kernels' qemu-*.json from one run) is a data set of its own: `plots`
draws it into OUT/linux/, `results` fills the linux section from it. `plots`
writes PNGs into --out (default results/plots), one line per file.
`results` rewrites the generated sections of --file and nothing else.
A malformed results file stops both with its name and the entry (exit 1).
Runs with Debian's /usr/bin/python3 and python3-matplotlib.
"""

import argparse
import os
import sys

import compare
import heap
import loader
import plots
import results


def _linux_cases(results_dir):
	"""The side-by-side run's cases (DIR/linux/), [] if there is none."""
	d = os.path.join(results_dir, "linux")
	if not os.path.isdir(d):
		return []
	cases = loader.load_dir(d)
	print(f"plot: {len(cases)} cases from {len(loader.find_files(d))} files in {d}/")
	return cases


def main(argv=None):
	ap = argparse.ArgumentParser(prog="plot.py", description=__doc__.split("\n")[0])
	sub = ap.add_subparsers(dest="command", metavar="{plots,results}")
	sub.required = True
	p = sub.add_parser("plots", help="write the PNG figures")
	p.add_argument("--results", default="results", help="where the JSON is (default results)")
	p.add_argument("--out", default="results/plots", help="PNG directory (default results/plots)")
	r = sub.add_parser("results", help="rewrite RESULTS.md's generated sections")
	r.add_argument("--results", default="results", help="where the JSON is (default results)")
	r.add_argument("--plots", default="results/plots",
		       help="where `plots` writes the PNGs, for the links (default results/plots)")
	r.add_argument("--file", default="RESULTS.md", help="the file to fill (default RESULTS.md)")
	args = ap.parse_args(argv)

	try:
		cases = loader.load_dir(args.results)
		files = len(loader.find_files(args.results))
		print(f"plot: {len(cases)} cases from {files} files in {args.results}/")
		if args.command == "plots":
			if not cases:
				print(f"plot: no data in {args.results}/ (run `make bench` first)")
			plots.write_all(cases, args.out)
			linux_cases = _linux_cases(args.results)
			if linux_cases:
				plots.write_all(linux_cases, os.path.join(args.out, "linux"))
		else:
			with open(args.file, encoding="utf-8") as f:
				text = f.read()
			rel = os.path.relpath(os.path.abspath(args.plots),
					      os.path.dirname(os.path.abspath(args.file)))
			docs = compare.load_dir(args.results)
			if docs:
				print(f"plot: {len(docs)} comparisons (compare-*g.json)")
			heap_doc = heap.load_dir(args.results)
			if heap_doc is not None:
				print(f"plot: the heap comparison ({heap.FILE})")
			new = results.fill(text, cases, rel, source=args.file, compare=docs,
					   heap=heap_doc, linux=_linux_cases(args.results))
			tmp = args.file + ".tmp"
			with open(tmp, "w", encoding="utf-8") as f:
				f.write(new)
			os.replace(tmp, args.file)
			print(f"plot: wrote {args.file}")
	except (loader.LoadError, compare.CompareError, heap.HeapError, results.TemplateError,
		OSError) as e:
		print(f"plot.py: error: {e}", file=sys.stderr)
		return 1
	return 0


if __name__ == "__main__":
	sys.exit(main())
