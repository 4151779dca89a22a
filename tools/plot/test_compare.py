# SPDX-License-Identifier: MIT
"""compare.py and tools/bench_compare.py (make bench-compare) on made-up
numbers: medians over rounds, throughput and ratios, the tables, the
rounds' order and checks, and RESULTS.md's section. No benchmark runs: a
stand-in binary writes Google Benchmark JSON as the harness does."""

import io
import json
import os
import stat
import sys
import tempfile
import unittest
import unittest.mock

import compare
import plot
import results

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOOLS)
import bench_compare as bc  # noqa: E402

CONTEXT = {"base": "933f143", "base_subject": "bootmem: x", "head": "1a2b3c4-dirty",
	   "machine": "FIXTURE CPU, 2 CPUs", "host_cpus": "2", "date": "2026-11-30T00:00:00+00:00",
	   "ram_gib": 1, "threads": "1,2,8", "rounds": 3, "min_time": "0.2",
	   "filter": "^frame/", "command": "make bench-compare ROUNDS=3"}


def bench(case, config, order, threads, base, new):
	return {"name": f"frame/{case}/{config}/order:{order}/real_time/threads:{threads}",
		"case": case, "config": config, "order": order, "threads": threads,
		"base": {"ns_per_op": base, "mops_total": [0.0] * len(base)},
		"new": {"ns_per_op": new, "mops_total": [0.0] * len(new)}}


def fixture(**ctx):
	"""repeat nopcp order 0 at 1, 2, 8 threads (issue 11's own 933f143
	figures as the base's middle round) and bulk_alloc full order 9 at 1
	and 2 threads, even rounds."""
	return {"context": dict(CONTEXT, **ctx), "benchmarks": [
		bench("repeat", "nopcp", 0, 8, [89.0, 90.0, 95.0], [40.0, 30.0, 50.0]),
		bench("repeat", "nopcp", 0, 1, [50.0, 44.6, 40.0], [20.0, 22.0, 100.0]),
		bench("repeat", "nopcp", 0, 2, [98.5, 97.0, 99.0], [25.0, 26.0, 24.0]),
		bench("bulk_alloc", "full", 9, 2, [160.0, 170.0], [60.0, 70.0]),
		bench("bulk_alloc", "full", 9, 1, [60.0, 66.0], [30.0, 40.0]),
	]}


def table_rows(text, first):
	"""The rows of the Markdown table whose header starts with `first`, as cell lists."""
	out, inside = [], False
	for line in text.splitlines():
		cells = [c.strip() for c in line.strip().strip("|").split("|")]
		if line.startswith("| " + first + " |"):
			inside = True
			continue
		if inside and line.startswith("|---"):
			continue
		if inside and line.startswith("|"):
			out.append(cells)
		elif inside:
			break
	return out


class StatisticsTest(unittest.TestCase):
	def setUp(self):
		self.rows = {(r.case, r.threads): r for r in compare.rows(fixture())}

	def test_median_over_rounds_not_mean(self):
		r = self.rows[("repeat", 1)]
		self.assertEqual(r.ns, {"base": 44.6, "new": 22.0})     # means: 44.9, 47.3
		self.assertEqual(r.rounds, {"base": 3, "new": 3})
		# even rounds: the middle two's mean
		self.assertEqual(self.rows[("bulk_alloc", 2)].ns, {"base": 165.0, "new": 65.0})

	def test_total_throughput_and_ratio(self):
		r = self.rows[("repeat", 2)]
		self.assertAlmostEqual(r.mops("base"), 2 * 1000 / 98.5)   # 20.3, as the issue
		self.assertAlmostEqual(r.mops("new"), 2 * 1000 / 25.0)
		self.assertAlmostEqual(r.ratio, 98.5 / 25.0)             # new/base, not base/new

	def test_scaling_each_side_within_itself(self):
		s = compare.scaling(compare.rows(fixture()))
		rep = s[("repeat", "nopcp", 0)]
		self.assertAlmostEqual(rep[(2, 1)]["base"], (2000 / 98.5) / (1000 / 44.6))  # 0.91
		self.assertAlmostEqual(rep[(2, 1)]["new"], (2000 / 25.0) / (1000 / 22.0))
		self.assertAlmostEqual(rep[(8, 2)]["base"], (8000 / 90.0) / (2000 / 98.5))
		# bulk_alloc has no 8-thread figure: no 8T/2T for it
		self.assertEqual(list(s[("bulk_alloc", "full", 9)]), [(2, 1)])

	def test_rows_sorted_repeat_first_then_threads(self):
		got = [(r.case, r.threads) for r in compare.rows(fixture())]
		self.assertEqual(got, [("repeat", 1), ("repeat", 2), ("repeat", 8),
				       ("bulk_alloc", 1), ("bulk_alloc", 2)])


class TableTest(unittest.TestCase):
	def setUp(self):
		self.text = compare.markdown(fixture())

	def test_throughput_table(self):
		rows = table_rows(self.text, "case | config | order | threads")
		self.assertEqual(rows[1], ["`repeat`", "nopcp", "0", "2", "98.5", "25.0", "20.3",
					   "80.0", "3.94x"])
		self.assertEqual(rows[4], ["`bulk_alloc`", "full", "9", "2", "165.0", "65.0",
					   "12.1", "30.8", "2.54x"])
		self.assertEqual(len(rows), 5)

	def test_scaling_table(self):
		rows = table_rows(self.text, "case | config | order | base 2T/1T")
		self.assertEqual(rows, [
			["`repeat`", "nopcp", "0", "0.91x", "1.76x", "4.38x", "2.50x"],
			["`bulk_alloc`", "full", "9", "0.76x", "1.08x", "–", "–"]])
		self.assertIn("| base 2T/1T | new 2T/1T | base 8T/2T | new 8T/2T |", self.text)

	def test_context_says_what_was_run(self):
		for want in ("1 GiB arena: `1a2b3c4-dirty` (new) against `933f143` (base)",
			     "bootmem: x", "FIXTURE CPU, 2 CPUs", "2026-11-30T00:00:00+00:00",
			     "threads 1,2,8", "rounds: 3 (samples per figure: 2, 3)",
			     "`make bench-compare ROUNDS=3`"):
			self.assertIn(want, self.text)

	def test_no_scaling_table_with_one_thread_count(self):
		doc = fixture()
		doc["benchmarks"] = [b for b in doc["benchmarks"] if b["threads"] == 1]
		self.assertNotIn("Scaling", compare.markdown(doc))


class CheckTest(unittest.TestCase):
	def refused(self, change, message):
		doc = fixture()
		change(doc)
		with self.assertRaises(compare.CompareError) as e:
			compare.check(doc, "c.json")
		self.assertIn(message, str(e.exception))

	def test_malformed(self):
		self.refused(lambda d: d["context"].pop("head"), "c.json: context: head missing")
		self.refused(lambda d: d.update(benchmarks=[]), "no \"benchmarks\" list")
		self.refused(lambda d: d["benchmarks"][0]["base"].update(ns_per_op=[]),
			     "base ns_per_op: not a non-empty list")
		self.refused(lambda d: d["benchmarks"][0]["new"].update(ns_per_op=[1, float("nan")]),
			     "new ns_per_op")
		self.refused(lambda d: d["benchmarks"][1].update(threads=0), "threads not a positive")

	def test_load_dir_smallest_arena_first_others_ignored(self):
		with tempfile.TemporaryDirectory() as tmp:
			for ram in (20, 1):
				with open(os.path.join(tmp, f"compare-{ram}g.json"), "w") as f:
					json.dump(fixture(ram_gib=ram), f)
			open(os.path.join(tmp, "compare-notes.json"), "w").close()
			docs = compare.load_dir(tmp)
		self.assertEqual([d["context"]["ram_gib"] for d in docs], [1, 20])


# --- the runner ----------------------------------------------------------------

# A stand-in for build/bench/bench/bench: writes one iteration record per
# (case, config, order, thread count) to --benchmark_out, the arena it was
# given in the context, ns/op = NS x threads, and logs who ran.
FAKE = r"""#!/usr/bin/python3
import json, os, sys
args = dict(a.split("=", 1) for a in sys.argv[1:])
threads = [int(t) for t in args["--bench_threads"].split(",")]
ns = float(os.environ["FAKE_NS_" + os.environ["FAKE_SIDE"]])
with open(os.environ["FAKE_LOG"], "a") as f:
	f.write(os.environ["FAKE_SIDE"] + " " + " ".join(sys.argv[1:]) + "\n")
ram = int(args["--bench_ram_gib"]) * 1024 + int(os.environ.get("FAKE_RAM_OFF", "0"))
recs = []
for case, config, order in (("repeat", "nopcp", 0), ("bulk_alloc", "full", 9)):
	for t in threads:
		n = "frame/%s/%s/order:%d/real_time/threads:%d" % (case, config, order, t)
		recs.append({"name": n, "run_name": n, "run_type": "iteration", "threads": t,
			     "ns_per_op": ns * t, "mops_total": 1000.0 / ns})
if os.environ.get("FAKE_FAIL") == os.environ["FAKE_SIDE"]:
	recs[0].update(error_occurred=True, error_message="E_NOMEM")
json.dump({"context": {"machine": "FAKE, 2 CPUs", "host_cpus": "2",
		       "ram_mib": str(ram), "commit": os.environ.get("BENCH_COMMIT")},
	   "benchmarks": recs}, open(args["--benchmark_out"], "w"))
"""


class RunnerTest(unittest.TestCase):
	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		d = self.tmp.name
		self.bins = {}
		for side in ("base", "new"):
			path = os.path.join(d, f"bench-{side}")
			with open(path, "w") as f:
				f.write(f"#!/bin/sh\nFAKE_SIDE={side} exec /usr/bin/python3 {d}/fake.py \"$@\"\n")
			os.chmod(path, stat.S_IRWXU)
			self.bins[side] = path
		with open(os.path.join(d, "fake.py"), "w") as f:
			f.write(FAKE)
		self.log = os.path.join(d, "log")
		self.env = {"FAKE_LOG": self.log, "FAKE_NS_base": "40", "FAKE_NS_new": "20"}

	def tearDown(self):
		self.tmp.cleanup()

	def main(self, *extra, env=None):
		d = self.tmp.name
		argv = ["--base-bin", self.bins["base"], "--new-bin", self.bins["new"],
			"--base", "933f143", "--ram-gib", "1 3", "--threads", "1,2", "--rounds", "3",
			"--filter", "^frame/", "--min-time", "0.01", "--out-dir", os.path.join(d, "out"),
			"--work-dir", os.path.join(d, "work"), "--command", "make bench-compare X=1",
			*extra]
		out, err = io.StringIO(), io.StringIO()
		with unittest.mock.patch.dict(os.environ, dict(self.env, **(env or {}))), \
		     unittest.mock.patch("sys.stdout", out), unittest.mock.patch("sys.stderr", err):
			rc = bc.main(argv)
		return rc, out.getvalue(), err.getvalue()

	def test_rounds_alternate_and_files_written(self):
		rc, out, err = self.main()
		self.assertEqual(rc, 0, err)
		with open(self.log) as f:
			runs = [line.split() for line in f]
		self.assertEqual([r[0] for r in runs],
				 ["base", "new", "new", "base", "base", "new"] * 2)
		self.assertEqual({r[1] for r in runs[:6]}, {"--bench_ram_gib=1"})
		self.assertEqual({r[1] for r in runs[6:]}, {"--bench_ram_gib=3"})
		for want in ("--bench_threads=1,2", "--benchmark_filter=^frame/",
			     "--benchmark_min_time=0.01", "--benchmark_repetitions=1"):
			self.assertIn(want, runs[0])
		for ram in (1, 3):
			base = os.path.join(self.tmp.name, "out", f"compare-{ram}g")
			doc = compare.load(base + ".json")
			self.assertEqual(doc["context"]["ram_gib"], ram)
			self.assertEqual(doc["context"]["command"], "make bench-compare X=1")
			self.assertEqual(doc["context"]["machine"], "FAKE, 2 CPUs")
			self.assertEqual(doc["context"]["base"], "933f143")
			self.assertIn(doc["context"]["head"].split("-")[0], out)
			with open(base + ".md") as f:
				md = f.read()
			# new is twice as fast at every thread count: ratio 2, scaling 1
			self.assertIn("| `repeat` | nopcp | 0 | 2 | 80.0 | 40.0 | 25.0 | 50.0 | 2.00x |", md)
			self.assertIn("| `bulk_alloc` | full | 9 | 1.00x | 1.00x |", md)
		b = {x["name"]: x for x in
		     compare.load(os.path.join(self.tmp.name, "out", "compare-1g.json"))["benchmarks"]}
		rep = b["frame/repeat/nopcp/order:0/real_time/threads:2"]
		self.assertEqual(rep["base"]["ns_per_op"], [80.0, 80.0, 80.0])  # 3 rounds kept
		self.assertEqual(rep["new"]["ns_per_op"], [40.0, 40.0, 40.0])

	def test_base_binary_told_it_is_the_base(self):
		self.main()
		with open(os.path.join(self.tmp.name, "work", "1g", "round1-base.json")) as f:
			self.assertIn("933f143", json.load(f)["context"]["commit"])

	def test_failed_record_fails_the_comparison(self):
		rc, _, err = self.main(env={"FAKE_FAIL": "base"})
		self.assertEqual(rc, 1)
		self.assertIn("failed: E_NOMEM", err)
		self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "out", "compare-1g.json")))

	def test_arena_not_the_one_asked_for(self):
		rc, _, err = self.main(env={"FAKE_RAM_OFF": "1"})
		self.assertEqual(rc, 1)
		self.assertIn("arena of 1025 MiB, not the 1 GiB asked for", err)

	def test_bad_arguments_exit_2(self):
		for bad in (("--ram-gib", "0"), ("--ram-gib", "1 x"), ("--rounds", "0"),
			    ("--threads", "1,,2"), ("--min-time", "-1"), ("--base-bin", "/nonexistent")):
			with self.assertRaises(SystemExit) as e, \
			     unittest.mock.patch("sys.stderr", io.StringIO()):
				self.main(*bad)
			self.assertEqual(e.exception.code, 2, bad)


class CollectTest(unittest.TestCase):
	def doc(self, names, ram=1):
		return {"context": {"ram_mib": str(ram * 1024)},
			"benchmarks": [{"name": n, "run_type": "iteration", "ns_per_op": 10.0,
					"mops_total": 1.0} for n in names]}

	def test_a_round_missing_a_benchmark(self):
		a = "frame/repeat/full/order:0/real_time/threads:1"
		b = "frame/repeat/full/order:0/real_time/threads:2"
		rounds = [{"base": ("r0b", self.doc([a, b])), "new": ("r0n", self.doc([a, b]))},
			  {"base": ("r1b", self.doc([a])), "new": ("r1n", self.doc([a, b]))}]
		with self.assertRaises(bc.RunError) as e:
			bc.collect(rounds, 1)
		self.assertIn("round 1 base: benchmarks differ", str(e.exception))

	def test_aggregates_are_not_samples(self):
		a = "frame/repeat/full/order:0/real_time/threads:1"
		d = self.doc([a])
		d["benchmarks"].append({"name": a + "_median", "run_name": a, "run_type": "aggregate",
					"ns_per_op": 99.0})
		self.assertEqual(bc.samples(d, "x", 1), {a: (10.0, 1.0)})

	def test_parse_name(self):
		self.assertEqual(bc.parse_name("frame/bulk_free/nopcp/order:10/real_time/threads:8"),
				 ("bulk_free", "nopcp", 10, 8))
		with self.assertRaises(bc.RunError):
			bc.parse_name("frame/repeat/order:0/real_time")


# --- RESULTS.md ------------------------------------------------------------------

TEMPLATE = """# R

<!-- generated: compare -->
old
<!-- end -->
Prose.
"""


class ResultsSectionTest(unittest.TestCase):
	def test_tables_of_every_arena_in_order(self):
		text = results.fill(TEMPLATE, [], compare=[fixture(ram_gib=20), fixture(ram_gib=1)])
		self.assertNotIn("old", text)
		self.assertLess(text.index("### 1 GiB arena"), text.index("### 20 GiB arena"))
		self.assertIn("| `repeat` | nopcp | 0 | 2 | 98.5 | 25.0 | 20.3 | 80.0 | 3.94x |", text)
		self.assertTrue(text.endswith("<!-- end -->\nProse.\n"))
		self.assertEqual(results.fill(text, [], compare=[fixture(ram_gib=20),
								 fixture(ram_gib=1)]), text)

	def test_no_comparison_says_so(self):
		self.assertIn(compare.NO_DATA, results.fill(TEMPLATE, []))

	def test_make_results_reads_the_files(self):
		with tempfile.TemporaryDirectory() as tmp:
			with open(os.path.join(tmp, "compare-1g.json"), "w") as f:
				json.dump(fixture(), f)
			md = os.path.join(tmp, "R.md")
			with open(md, "w") as f:
				f.write(TEMPLATE)
			with unittest.mock.patch("sys.stdout", io.StringIO()):
				self.assertEqual(plot.main(["results", "--results", tmp, "--file", md]), 0)
			with open(md) as f:
				self.assertIn("| `bulk_alloc` | full | 9 | 1 | 63.0 | 35.0 |", f.read())
			with open(os.path.join(tmp, "compare-1g.json"), "w") as f:
				f.write("{")
			with unittest.mock.patch("sys.stdout", io.StringIO()), \
			     unittest.mock.patch("sys.stderr", io.StringIO()) as err:
				self.assertEqual(plot.main(["results", "--results", tmp, "--file", md]), 1)
			self.assertIn("compare-1g.json: not JSON", err.getvalue())


if __name__ == "__main__":
	unittest.main()
