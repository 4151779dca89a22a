# SPDX-License-Identifier: MIT
"""targets11.py: issue 11's targets judged from make bench-compare's files.

The fixtures are testdata/compare-1g.json and compare-20g.json
(make_fixtures.py, whose COMPARE_1G comment works every ratio out by
hand). Each expected figure below is one that a mistake in the arithmetic
changes: per-thread instead of total throughput, the base build instead of
the new one, base/new instead of new/base, a mean instead of the median."""

import io
import os
import tempfile
import unittest
import unittest.mock

import compare
import plot
import results
import targets11

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "testdata")
ROOT = os.path.dirname(os.path.dirname(HERE))


def docs():
	return {d["context"]["ram_gib"]: d for d in compare.load_dir(TESTDATA)}


def by_target(rows):
	return {t: (m, s) for t, m, s in rows}


def S(order, more, fewer, least):
	return (f"nopcp `repeat` order {order}: {more} threads at least {least}x the total Mops/s "
		f"of {fewer} thread{'' if fewer == 1 else 's'}")


def B(case, order, threads, least=None):
	where = f"full `{case}` order {order}, {threads} threads"
	return (f"{where}: at least {least}x the base's Mops/s" if least else
		f"{where}: against the base (information, not a target)")


def F(case):
	return (f"full `{case}` no slower than nopcp at every order and thread count "
		"(full/nopcp at least 1.0x)")


R = "full `repeat` no slower than the base at every order and thread count (new/base at least 1.0x)"
EVERY = "orders 0, 3, 9 at 1, 2, 8 threads"


class OneGiBTest(unittest.TestCase):
	"""compare-1g.json: some targets met, some not."""

	@classmethod
	def setUpClass(cls):
		cls.doc = docs()[1]
		cls.rows = by_target(targets11.rows(cls.doc))

	def check(self, want):
		for target, got in want.items():
			self.assertEqual(self.rows.get(target), got, target)

	def test_every_target_has_a_row(self):
		self.assertEqual(len(self.rows), 4 + 8 + 3 + 1)

	def test_scaling_is_total_throughput_of_the_new_build(self):
		# per thread, order 0's 2T/1T would be 40/44 = 0.91x; the base's
		# own 2T/1T is 0.91x and its order-3 8T/2T 0.92x (met)
		self.check({
			S(0, 2, 1, 1.7): ("1.82x (base: 0.91x)", "met"),
			S(0, 8, 2, 0.9): ("0.93x (base: 1.10x)", "met"),
			S(3, 2, 1, 1.7): ("1.67x (base: 0.67x)", "not met"),
			S(3, 8, 2, 0.9): ("0.85x (base: 0.92x)", "not met"),
		})

	def test_bulk_alloc_is_new_over_base(self):
		self.check({
			B("bulk_alloc", 3, 2, 2): ("2.15x (71.4 against 33.2 Mops/s)", "met"),
			B("bulk_alloc", 3, 8, 2): ("1.82x (66.7 against 36.6 Mops/s)", "not met"),
			B("bulk_alloc", 9, 2, 3): ("3.32x (40.0 against 12.0 Mops/s)", "met"),
			B("bulk_alloc", 9, 8, 3): ("3.25x (40.0 against 12.3 Mops/s)", "met"),
		})

	def test_bulk_free_is_information_only(self):
		self.check({
			B("bulk_free", 3, 2): ("2.00x (80.0 against 40.0 Mops/s)", "–"),
			B("bulk_free", 3, 8): ("1.90x (80.0 against 42.1 Mops/s)", "–"),
			B("bulk_free", 9, 2): ("2.92x (41.7 against 14.3 Mops/s)", "–"),
			B("bulk_free", 9, 8): ("2.95x (42.1 against 14.3 Mops/s)", "–"),
		})

	def test_full_against_nopcp_new_build_worst_and_where(self):
		# the base's bulk_alloc worst would be 0.55x at order 9, 2 threads
		self.check({
			F("repeat"): (f"worst 1.55x: order 9, 8 threads (0 of 9 below 1.00x; {EVERY})", "met"),
			F("bulk_alloc"): (f"worst 0.95x: order 9, 8 threads (1 of 9 below 1.00x; {EVERY})",
					  "not met"),
			# two digits would print 1.00x for a ratio that is not met
			F("bulk_free"): (f"worst 0.998x: order 3, 8 threads (1 of 9 below 1.00x; {EVERY})",
					 "not met"),
		})

	def test_full_repeat_new_over_base_worst_and_where(self):
		# base/new would be worst at order 9, 1 thread: 0.75x
		self.check({R: (f"worst 0.97x: order 9, 8 threads (1 of 9 below 1.00x; {EVERY})",
				"not met")})


class TwentyGiBTest(unittest.TestCase):
	"""compare-20g.json: every target met but one figure not measured."""

	@classmethod
	def setUpClass(cls):
		cls.rows = by_target(targets11.rows(docs()[20]))

	def test_missing_figure_is_no_data_not_met(self):
		self.assertEqual(self.rows[S(3, 8, 2, 0.9)],
				 ("no data (`repeat` nopcp order 3 at 8 threads not measured)", "not met"))
		self.assertEqual(self.rows[F("repeat")],
				 (f"worst 1.67x: order 9, 1 thread (0 of 8 below 1.00x; {EVERY}); "
				  "no data: nopcp order 3, 8 threads", "not met"))

	def test_the_rest_met(self):
		for target, want in {
			S(3, 2, 1, 1.7): ("1.76x (base: 0.67x)", "met"),
			B("bulk_alloc", 3, 8, 2): ("2.19x (80.0 against 36.6 Mops/s)", "met"),
			F("bulk_alloc"): (f"worst 1.05x: order 9, 8 threads (0 of 9 below 1.00x; {EVERY})",
					  "met"),
			F("bulk_free"): (f"worst 1.04x: order 3, 2 threads (0 of 9 below 1.00x; {EVERY})",
					 "met"),
			R: (f"worst 1.07x: order 9, 8 threads (0 of 9 below 1.00x; {EVERY})", "met"),
		}.items():
			self.assertEqual(self.rows[target], want, target)
		statuses = [s for t, (m, s) in self.rows.items() if t not in (S(3, 8, 2, 0.9), F("repeat"))]
		self.assertEqual(set(statuses), {"met", "–"})


class MissingTest(unittest.TestCase):
	def doc_without(self, drop):
		doc = docs()[1]
		doc["benchmarks"] = [b for b in doc["benchmarks"] if not drop(b)]
		return by_target(targets11.rows(doc))

	def test_no_thread_count_at_all(self):
		rows = self.doc_without(lambda b: b["threads"] == 1 and b["config"] == "nopcp")
		self.assertEqual(rows[S(0, 2, 1, 1.7)],
				 ("no data (`repeat` nopcp order 0 at 1 thread not measured)", "not met"))
		# full at 1 thread has no nopcp to compare with
		self.assertEqual(rows[F("bulk_free")][1], "not met")
		self.assertIn("no data: nopcp order 0, 1 thread; nopcp order 3, 1 thread; "
			      "nopcp order 9, 1 thread", rows[F("bulk_free")][0])

	def test_no_case_at_all(self):
		rows = self.doc_without(lambda b: b["case"] != "repeat")
		for case in ("bulk_alloc", "bulk_free"):
			self.assertEqual(rows[F(case)], (f"no data (no `{case}` figures)", "not met"))
		self.assertEqual(rows[B("bulk_alloc", 9, 8, 3)],
				 ("no data (`bulk_alloc` full order 9 at 8 threads not measured)", "not met"))
		self.assertEqual(rows[B("bulk_free", 9, 8)],
				 ("no data (`bulk_free` full order 9 at 8 threads not measured)", "–"))

	def test_no_full_repeat(self):
		rows = self.doc_without(lambda b: (b["case"], b["config"]) == ("repeat", "full"))
		self.assertEqual(rows[R], ("no data (no full `repeat` figures)", "not met"))


class FormatTest(unittest.TestCase):
	def test_digits_enough_to_show_the_side(self):
		self.assertEqual(targets11.fmt_vs(0.998, 1.0), "0.998x")
		self.assertEqual(targets11.fmt_vs(0.99996, 1.0), "0.99996x")
		self.assertEqual(targets11.fmt_vs(1.004, 1.0), "1.00x")
		self.assertEqual(targets11.fmt_vs(1.6999, 1.7), "1.6999x")
		self.assertEqual(targets11.fmt_vs(1.7, 1.7), "1.70x")
		self.assertEqual(targets11.fmt_vs(3.25, 3.0), "3.25x")


class SectionTest(unittest.TestCase):
	def test_every_arena_smallest_first(self):
		text = targets11.section(list(docs().values())[::-1])
		self.assertTrue(text.startswith(targets11.INTRO))
		one = text.index("#### 1 GiB arena: `fixture1` (new) against `933f143` (base)")
		self.assertLess(one, text.index("#### 20 GiB arena: `fixture1` (new) against `933f143`"))
		self.assertEqual(text.count("| target | measured |  |"), 2)
		self.assertNotIn("not issue 11's", text)

	def test_an_arena_the_issue_names_is_said_missing(self):
		text = targets11.section([docs()[20]])
		self.assertIn("#### 1 GiB arena: not measured\n\nNo `results/compare-1g.json`", text)
		self.assertEqual(text.count("| target | measured |  |"), 1)
		none = targets11.section([])
		for ram in (1, 20):
			self.assertIn(f"#### {ram} GiB arena: not measured", none)
		self.assertNotIn("| target |", none)

	def test_another_arena_is_judged_too(self):
		doc = docs()[1]
		doc["context"]["ram_gib"] = 4
		text = targets11.section([doc])
		self.assertLess(text.index("#### 1 GiB arena: not measured"),
				text.index("#### 4 GiB arena: `fixture1`"))
		self.assertLess(text.index("#### 4 GiB arena"), text.index("#### 20 GiB arena"))

	def test_another_base_is_said(self):
		doc = docs()[1]
		doc["context"]["base"] = "abcdef0"
		self.assertIn("The base of this run is `abcdef0`, not issue 11's `933f143`",
			      targets11.section([doc]))


TEMPLATE = """# R

<!-- generated: compare -->
<!-- end -->

### Against the targets (issue 11)

<!-- generated: targets11 -->
old
<!-- end -->

Prose.
"""


class ResultsTest(unittest.TestCase):
	def test_filled_from_the_comparison_files(self):
		text = results.fill(TEMPLATE, [], compare=list(docs().values()))
		self.assertNotIn("old", text)
		self.assertIn("### Against the targets (issue 11)\n\n<!-- generated: targets11 -->\n\n"
			      + targets11.INTRO, text)
		self.assertIn("| " + S(3, 8, 2, 0.9) + " | 0.85x (base: 0.92x) | not met |", text)
		self.assertTrue(text.endswith("<!-- end -->\n\nProse.\n"))
		self.assertEqual(results.fill(text, [], compare=list(docs().values())), text)

	def test_make_results_reads_the_files(self):
		with tempfile.TemporaryDirectory() as tmp:
			md = os.path.join(tmp, "R.md")
			with open(md, "w") as f:
				f.write(TEMPLATE)
			with unittest.mock.patch("sys.stdout", io.StringIO()):
				self.assertEqual(plot.main(["results", "--results", TESTDATA, "--file", md]), 0)
			with open(md) as f:
				text = f.read()
		self.assertIn("| " + R + " | worst 1.07x: order 9, 8 threads", text)

	def test_results_md_has_it_after_the_comparison(self):
		with open(os.path.join(ROOT, "RESULTS.md"), encoding="utf-8") as f:
			text = f.read()
		compare_end = text.index("<!-- end -->", text.index("<!-- generated: compare -->"))
		mine = text.index("<!-- generated: targets11 -->")
		self.assertLess(compare_end, mine)
		self.assertNotIn("<!-- generated:", text[compare_end:mine])
		self.assertNotIn("\n## ", text[compare_end:mine])


if __name__ == "__main__":
	unittest.main()
