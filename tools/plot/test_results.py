# SPDX-License-Identifier: MIT
"""results.py: sections filled from the data, prose kept, targets computed right."""

import dataclasses
import os
import unittest

import loader
import results
from test_loader import HOST, QEMU, find

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = """# Results

Prose before, with a number 42 that is nobody's business.

<!-- generated: data -->
old data 1.0
<!-- end -->

Prose between.

<!-- generated: targets -->
<!-- end -->

<!-- generated: tables -->
stale
<!-- end -->
<!-- generated: plots -->
<!-- end -->
Prose after.
"""


def target_rows(text):
	"""target text -> (measured, status) from the targets table."""
	rows = {}
	for line in text.splitlines():
		cells = [c.strip() for c in line.strip().strip("|").split("|")]
		if len(cells) == 3 and cells[0] not in ("target", "---"):
			rows[cells[0]] = (cells[1], cells[2])
	return rows


class FillTest(unittest.TestCase):
	@classmethod
	def setUpClass(cls):
		cls.cases = loader.load_files([HOST] + QEMU)
		cls.text = results.fill(TEMPLATE, cls.cases)

	def test_prose_kept_sections_replaced(self):
		for prose in ("# Results\n\nProse before, with a number 42 that is nobody's business.\n",
			      "\nProse between.\n", "Prose after.\n"):
			self.assertIn(prose, self.text)
		self.assertNotIn("old data 1.0", self.text)
		self.assertNotIn("stale", self.text)
		self.assertEqual(self.text.count("<!-- end -->"), 4)

	def test_idempotent(self):
		self.assertEqual(results.fill(self.text, self.cases), self.text)

	def test_data_section(self):
		self.assertIn("FIXTURE 2-core machine", self.text)
		self.assertIn("`fixture0`", self.text)
		self.assertIn("`qemu-tcg-smp1.json`, `qemu-tcg-smp2.json`", self.text)
		self.assertIn("2026-11-30T00:00:00+00:00", self.text)

	def test_tables(self):
		self.assertIn("| 0 | full | 1 | 7.50 | 7.00–9.00 | 133.3 | 6.75 | 22.5 | 600.0 | 20,900 | 3 |",
			      self.text)
		self.assertIn("#### frame `frobnicate`", self.text)
		self.assertIn("| order | config | vCPUs |", self.text)

	def test_plot_links_match_the_plan(self):
		self.assertIn("(results/plots/fastpath-host-frame-repeat.png)", self.text)
		self.assertIn("(results/plots/hostvsqemu-host-qemu-tcg-frame-repeat-order0.png)", self.text)
		self.assertIn("[CDF](results/plots/latency-host-frame-repeat-order0-t2.png)", self.text)

	def test_targets(self):
		rows = target_rows(self.text)
		want = {
			"full, order 0, `repeat`, 1 thread: at most 8 ns/op": ("7.50 ns", "met"),
			"full, order 0, `bulk`, 1 thread: at most 15 ns/op": ("16.0 ns", "not met"),
			"full, `repeat`: 2 threads at least 1.8x the Mops/s of 1":
				("order 0: 1.83x, order 3: 2.00x", "met"),
			"full, `bulk`: 2 threads at least 1.8x the Mops/s of 1":
				("order 0: 1.78x", "not met (order 0)"),
			"full, `frobnicate`: 2 threads at least 1.8x the Mops/s of 1": ("–", "not measured"),
			"full, `repeat`: 8 threads at least 0.9x the Mops/s of 2": ("order 0: 0.96x", "met"),
			"nopcp, order 0, `repeat`: 8 threads at least 0.85x the Mops/s of 2":
				("0.71x", "not met"),
			"full, order 0, `repeat`, 2 threads: p99.9 under 1 µs":
				("p99.9 600.0 ns (max 20,840 ns)", "met"),
			"kernel under TCG, full, order 0, `repeat`: 2 vCPUs at least 1.8x the Mops/s of 1":
				("1.90x", "met"),
		}
		for target, got in want.items():
			self.assertEqual(rows.get(target), got, target)

	def test_bulk_phases_when_no_combined_bulk(self):
		bulk = find(self.cases, dataset="host", workload="bulk", threads=1)
		alloc = dataclasses.replace(bulk, workload="bulk_alloc", ns_per_op=14.0)
		free = dataclasses.replace(bulk, workload="bulk_free", ns_per_op=12.0)
		cases = [c for c in self.cases if c.workload != "bulk"] + [alloc, free]
		rows = target_rows(results.section_targets(cases, "p"))
		self.assertEqual(rows["full, order 0, `bulk`, 1 thread: at most 15 ns/op (each phase)"],
				 ("alloc 14.0 ns, free 12.0 ns", "met"))

	def test_page_table_targets(self):
		base = find(self.cases, dataset="host", workload="repeat", config="full", order=0,
			    threads=1)

		def pt(config, threads, pages, mops):
			return dataclasses.replace(base, suite="pt", workload="map_unmap", config=config,
						   order=None, threads=threads,
						   params=(("pages", str(pages)),), mops_total=mops)

		cases = self.cases + [pt("tree", 1, 16, 10.0), pt("tree", 2, 16, 19.0),
				      pt("space", 2, 16, 10.0), pt("tree", 1, 1, 10.0),
				      pt("tree", 2, 1, 17.0), pt("space", 2, 1, 11.0)]
		rows = target_rows(results.section_targets(cases, "p"))
		self.assertEqual(rows["host, `pt/map_unmap`, tree: 2 threads at least 1.8x the Mops/s of 1"],
				 ("pages 1: 1.70x, pages 16: 1.90x", "not met (pages 1)"))
		self.assertEqual(rows["host, `pt/map_unmap`, 2 threads: tree at least 1.7x the Mops/s "
				      "of space (one lock per address space)"],
				 ("pages 1: 1.55x, pages 16: 1.90x", "not met (pages 1)"))
		self.assertEqual(rows["kernel under TCG, `pt/map_unmap`, tree: 2 vCPUs at least 1.8x "
				      "the Mops/s of 1"], ("–", "not measured"))

	def test_demand_fault_target(self):
		base = find(self.cases, dataset="host", workload="repeat", config="full", order=0,
			    threads=1)

		def fault(threads, mops):
			return dataclasses.replace(base, dataset="qemu-tcg", suite="pt",
						   workload="fault", config="tree", order=None,
						   threads=threads, params=(("pages", "1024"),),
						   mops_total=mops)

		tcg = [c for c in self.cases if c.dataset == "qemu-tcg"]
		if not tcg:
			self.skipTest("no TCG dataset in the fixture")
		cases = self.cases + [fault(1, 1.0), fault(2, 1.7)]
		rows = target_rows(results.section_targets(cases, "p"))
		key = [k for k in rows if "`pt/fault`" in k]
		self.assertEqual(len(key), 1)
		self.assertEqual(rows[key[0]], ("pages 1024: 1.70x", "met"))


class NoDataTest(unittest.TestCase):
	def test_every_section_says_so_targets_not_measured(self):
		text = results.fill(TEMPLATE, [])
		self.assertEqual(text.count(results.NO_DATA), 3)     # data, tables, plots
		rows = target_rows(text)
		self.assertEqual(len(rows), 12)
		self.assertEqual({s for _, s in rows.values()}, {"not measured"})

	def test_committed_results_md_is_a_valid_template(self):
		with open(os.path.join(ROOT, "RESULTS.md"), encoding="utf-8") as f:
			text = f.read()
		out = results.fill(text, [])
		self.assertIn("docs/MEASUREMENTS.md", out)
		for name in results.SECTIONS:
			self.assertIn(f"<!-- generated: {name} -->", text)


class TemplateErrorTest(unittest.TestCase):
	def check(self, text, message):
		with self.assertRaises(results.TemplateError) as e:
			results.fill(text, [], source="R.md")
		self.assertIn(message, str(e.exception))

	def test_unknown_section(self):
		self.check("a\n<!-- generated: numbers -->\n<!-- end -->\n", "R.md:2: unknown generated section")

	def test_unterminated(self):
		self.check("<!-- generated: data -->\nprose\n", "R.md:1: generated section 'data' has no")

	def test_nested(self):
		self.check("<!-- generated: data -->\n<!-- generated: plots -->\n", "R.md:2:")

	def test_stray_end(self):
		self.check("prose\n<!-- end -->\n", "R.md:2: <!-- end --> outside")


if __name__ == "__main__":
	unittest.main()
