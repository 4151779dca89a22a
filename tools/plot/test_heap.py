# SPDX-License-Identifier: MIT
"""heap.py and tools/bench_heap.py (make bench-heap) on made-up numbers:
medians and ranges over rounds, throughput, the targets, the tables, the
rounds' order, the checks of every run (each backend's malloc really its
library, every record there and consistent) and bad arguments. No benchmark
runs: a stand-in binary writes Google Benchmark JSON as the harness does."""

import io
import json
import os
import stat
import sys
import tempfile
import unittest
import unittest.mock

import heap
import plot
import results

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOOLS)
import bench_heap as bh  # noqa: E402

CONTEXT = {"head": "1a2b3c4", "machine": "FIXTURE CPU, 2 CPUs", "host_cpus": "2",
	   "date": "2026-11-30T00:00:00+00:00", "threads": "1,2", "rounds": 3,
	   "min_time": "0.2", "command": "make bench-heap ROUNDS=3",
	   "malloc_libs": {"heap": "/lib/libc.so.6", "jemalloc": "/lib/libjemalloc.so.2"}}


def entry(case, size, threads, **ns):
	return {"case": case, "size": size, "threads": threads,
		"backends": {b: {"name": f"heap/{case}/x/size:{size}", "ns_per_op": v,
				 "mops_total": [1.0] * len(v)} for b, v in ns.items()}}


def fixture(**ctx):
	return {"context": dict(CONTEXT, **ctx), "benchmarks": [
		entry("pc", 64, 2, heap=[50.0, 40.0, 45.0], glibc=[60.0, 60.0, 60.0],
		      jemalloc=[40.0, 41.0, 39.0], mimalloc=[30.0, 30.0, 30.0]),
		entry("repeat", 64, 2, heap=[9.0, 10.0, 11.0], glibc=[20.0, 20.0, 20.0],
		      jemalloc=[12.0, 12.0, 12.0], mimalloc=[10.0, 10.0, 10.0]),
		entry("repeat", 64, 1, heap=[5.0, 4.0, 100.0], glibc=[20.0, 20.0, 20.0],
		      jemalloc=[6.0, 6.0, 6.0], mimalloc=[6.0, 7.0, 5.0]),
		entry("pc", 4096, 2, heap=[100.0, 100.0, 100.0], glibc=[400.0, 400.0, 400.0],
		      jemalloc=[200.0, 200.0, 200.0], mimalloc=[150.0, 150.0, 150.0]),
	]}


def table_rows(text, first):
	"""The rows of the Markdown table under the heading starting with `first`."""
	out, inside = [], False
	for line in text.splitlines():
		if line.startswith("#") and first in line:
			inside = True
			continue
		if inside and line.startswith("|---"):
			continue
		if inside and line.startswith("| size") or inside and line.startswith("| target"):
			continue
		if inside and line.startswith("|"):
			out.append([c.strip() for c in line.strip().strip("|").split("|")])
		elif inside and out:
			break
	return out


class StatisticsTest(unittest.TestCase):
	def setUp(self):
		self.rows = {(r.case, r.size, r.threads): r for r in heap.rows(fixture())}

	def test_median_and_range_over_rounds(self):
		r = self.rows[("repeat", 64, 1)]
		self.assertEqual(r.ns["heap"], 5.0)                    # mean would be 36.3
		self.assertEqual(r.spread["heap"], (4.0, 100.0))
		self.assertEqual(r.ns["mimalloc"], 6.0)

	def test_total_throughput(self):
		r = self.rows[("pc", 64, 2)]
		self.assertAlmostEqual(r.mops("heap"), 2 * 1000 / 45.0)
		self.assertAlmostEqual(r.mops("jemalloc"), 2 * 1000 / 40.0)

	def test_sorted_by_case_size_threads(self):
		got = [(r.case, r.size, r.threads) for r in heap.rows(fixture())]
		self.assertEqual(got, [("repeat", 64, 1), ("repeat", 64, 2), ("pc", 64, 2),
				       ("pc", 4096, 2)])

	def test_targets(self):
		t = heap.targets(heap.rows(fixture()))
		self.assertEqual([(w.split(",")[0], met) for w, _, _, _, met in t],
				 [("fast path: repeat", True), ("fast path: repeat", True),
				  ("producer/consumer", False), ("producer/consumer", True)])
		what, h, other, unit, met = t[2]
		self.assertEqual((unit, round(h, 1), round(other, 1)), ("Mops/s", 44.4, 50.0))
		self.assertIn("64 B, 2 threads", what)
		# equal counts as met: "at most as slow"
		doc = fixture()
		doc["benchmarks"][2]["backends"]["mimalloc"]["ns_per_op"] = [5.0]
		self.assertTrue(heap.targets(heap.rows(doc))[0][4])

	def test_no_target_without_its_baseline(self):
		doc = fixture()
		for b in doc["benchmarks"]:
			b["backends"].pop("mimalloc")
			b["backends"].pop("jemalloc")
		self.assertEqual(heap.targets(heap.rows(doc)), [])
		self.assertNotIn("targets", heap.markdown(doc))


class TableTest(unittest.TestCase):
	def setUp(self):
		self.text = heap.markdown(fixture())

	def test_case_tables(self):
		rows = table_rows(self.text, "repeat (")
		self.assertEqual(rows[0], ["64", "1", "5.00 (4.00–100.0)", "20.0 (20.0–20.0)",
					   "6.00 (6.00–6.00)", "6.00 (5.00–7.00)", "200.0", "50.0",
					   "166.7", "166.7"])
		self.assertEqual(len(rows), 2)
		self.assertEqual(len(table_rows(self.text, "producer/consumer (")), 2)
		self.assertNotIn("bulk (", self.text)                 # not measured: no table

	def test_targets_table(self):
		rows = table_rows(self.text, "targets")
		self.assertEqual(rows[0], ["fast path: repeat, 64 B, 1 thread, ns/op, heap <= mimalloc",
					   "5.00 ns/op", "6.00 ns/op", "yes"])
		self.assertEqual(rows[2][3], "**no**")

	def test_context_says_what_was_run(self):
		for want in ("`1a2b3c4`", "FIXTURE CPU, 2 CPUs", "2026-11-30T00:00:00+00:00",
			     "threads 1,2", "rounds: 3", "`make bench-heap ROUNDS=3`",
			     "heap `/lib/libc.so.6`", "jemalloc `/lib/libjemalloc.so.2`"):
			self.assertIn(want, self.text)


class CheckTest(unittest.TestCase):
	def refused(self, change, message):
		doc = fixture()
		change(doc)
		with self.assertRaises(heap.HeapError) as e:
			heap.check(doc, "f.json")
		self.assertIn(message, str(e.exception))

	def test_good_fixture(self):
		doc = fixture()
		self.assertIs(heap.check(doc), doc)

	def test_refusals(self):
		self.refused(lambda d: d.pop("context"), "no \"context\"")
		self.refused(lambda d: d["context"].pop("head"), "context: head missing")
		self.refused(lambda d: d.update(benchmarks=[]), "no \"benchmarks\"")
		self.refused(lambda d: d["benchmarks"][0].update(case="rand"), "case 'rand'")
		self.refused(lambda d: d["benchmarks"][0].update(size=0), "size not a positive")
		self.refused(lambda d: d["benchmarks"][0].update(threads=True), "threads not a positive")
		self.refused(lambda d: d["benchmarks"][0]["backends"].update(tcmalloc={}),
			     "unknown backend 'tcmalloc'")
		self.refused(lambda d: d["benchmarks"][0]["backends"]["heap"].update(ns_per_op=[0]),
			     "heap ns_per_op: not a non-empty list")
		self.refused(lambda d: d["benchmarks"].append(d["benchmarks"][0]), "twice")

	def test_load(self):
		with tempfile.TemporaryDirectory() as tmp:
			p = os.path.join(tmp, "heap.json")
			with open(p, "w") as f:
				f.write("{")
			with self.assertRaises(heap.HeapError) as e:
				heap.load(p)
			self.assertIn("not JSON", str(e.exception))
			with open(p, "w") as f:
				json.dump(fixture(), f)
			self.assertEqual(heap.load(p)["context"]["head"], "1a2b3c4")


# --- RESULTS.md ------------------------------------------------------------------

TEMPLATE = """# R

<!-- generated: heap -->
old
<!-- end -->
Prose.
"""


class ResultsSectionTest(unittest.TestCase):
	def test_tables_and_targets(self):
		text = results.fill(TEMPLATE, [], heap=fixture())
		self.assertNotIn("old", text)
		self.assertIn("### Kernel heap against glibc, jemalloc and mimalloc: `1a2b3c4`", text)
		self.assertIn("#### repeat (allocate one, free it)", text)
		self.assertIn("#### Issue 12's targets", text)
		self.assertTrue(text.endswith("<!-- end -->\nProse.\n"))
		self.assertEqual(results.fill(text, [], heap=fixture()), text)

	def test_no_heap_comparison_says_so(self):
		self.assertIn(heap.NO_DATA, results.fill(TEMPLATE, []))

	def test_make_results_reads_the_file(self):
		with tempfile.TemporaryDirectory() as tmp:
			md = os.path.join(tmp, "R.md")
			with open(md, "w") as f:
				f.write(TEMPLATE)
			with unittest.mock.patch("sys.stdout", io.StringIO()):
				self.assertEqual(plot.main(["results", "--results", tmp, "--file", md]), 0)
			with open(md) as f:
				self.assertIn(heap.NO_DATA, f.read())
			with open(os.path.join(tmp, "heap.json"), "w") as f:
				json.dump(fixture(), f)
			with unittest.mock.patch("sys.stdout", io.StringIO()):
				self.assertEqual(plot.main(["results", "--results", tmp, "--file", md]), 0)
			with open(md) as f:
				self.assertIn("| 64 | 1 | 5.00 (4.00–100.0) |", f.read())
			with open(os.path.join(tmp, "heap.json"), "w") as f:
				f.write("{")
			with unittest.mock.patch("sys.stdout", io.StringIO()), \
			     unittest.mock.patch("sys.stderr", io.StringIO()) as err:
				self.assertEqual(plot.main(["results", "--results", tmp, "--file", md]), 1)
			self.assertIn("heap.json: not JSON", err.getvalue())


# --- the runner ----------------------------------------------------------------

# A stand-in for build/bench/heap/bench-<lib>: writes one iteration record
# per (case, size, thread count) its filter selects, in the configuration
# the filter names, ns/op = NS x threads, malloc_lib = its library (or
# FAKE_LIB), and logs who ran.
FAKE = r"""#!/usr/bin/python3
import json, os, re, sys
args = dict(a.split("=", 1) for a in sys.argv[1:])
lib = os.environ["FAKE_LIBNAME"]
threads = [int(t) for t in args["--bench_threads"].split(",")]
m = re.match(r"\^heap/\(([a-z|]+)\)/([a-z]+)/size:\(([0-9|]+)\)/$", args["--benchmark_filter"])
cases, config, sizes = m.group(1).split("|"), m.group(2), m.group(3).split("|")
backend = "heap" if config == "kmalloc" else lib
ns = float(os.environ.get("FAKE_NS_" + backend, "10"))
with open(os.environ["FAKE_LOG"], "a") as f:
	f.write(backend + " " + " ".join(sys.argv[1:]) + "\n")
every = int(args.get("--bench_lat_every", "16"))
recs = []
for case in cases:
	for size in sizes:
		for t in threads:
			n = "heap/%s/%s/size:%s/real_time/threads:%d" % (case, config, size, t)
			ops = 1000
			r = {"name": n, "run_name": n, "run_type": "iteration", "threads": t,
			     "ns_per_op": ns * t, "mops_total": 1000.0 / ns, "ops": ops,
			     "lat_ops": ops // every, "lat_log2_ns_3": ops // every}
			recs.append(r)
bad = os.environ.get("FAKE_BAD", "")
if bad.startswith(backend + ":"):
	what = bad.split(":", 1)[1]
	if what == "error":
		recs[0].update(error_occurred=True, error_message="allocation failed")
	elif what == "hist":
		recs[0]["lat_log2_ns_3"] += 1
	elif what == "missing":
		recs.pop()
	elif what == "extra":
		recs.append(dict(recs[0], name="heap/rand/x/size:1/real_time/threads:1",
				 run_name="heap/rand/x/size:1/real_time/threads:1"))
	elif what == "exit":
		sys.exit(1)
libfile = {"glibc": "/lib/x86_64-linux-gnu/libc.so.6",
	   "jemalloc": "/lib/x86_64-linux-gnu/libjemalloc.so.2",
	   "mimalloc": "/lib/x86_64-linux-gnu/libmimalloc.so.2"}[lib]
json.dump({"context": {"machine": "FAKE, 2 CPUs", "host_cpus": "2", "lat_every": str(every),
		       "malloc_lib": os.environ.get("FAKE_LIB_" + lib, libfile),
		       "commit": os.environ.get("BENCH_COMMIT")},
	   "benchmarks": recs}, open(args["--benchmark_out"], "w"))
"""


class RunnerTest(unittest.TestCase):
	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		d = self.tmp.name
		self.bins = {}
		for lib in ("glibc", "jemalloc", "mimalloc"):
			path = os.path.join(d, f"bench-{lib}")
			with open(path, "w") as f:
				f.write(f"#!/bin/sh\nFAKE_LIBNAME={lib} exec /usr/bin/python3 "
					f"{d}/fake.py \"$@\"\n")
			os.chmod(path, stat.S_IRWXU)
			self.bins[lib] = path
		with open(os.path.join(d, "fake.py"), "w") as f:
			f.write(FAKE)
		self.log = os.path.join(d, "log")
		self.env = {"FAKE_LOG": self.log, "FAKE_NS_heap": "5", "FAKE_NS_glibc": "20",
			    "FAKE_NS_jemalloc": "10", "FAKE_NS_mimalloc": "8"}
		self.out = os.path.join(d, "out")

	def tearDown(self):
		self.tmp.cleanup()

	def argv(self, *extra):
		d = self.tmp.name
		return ["--glibc-bin", self.bins["glibc"], "--jemalloc-bin", self.bins["jemalloc"],
			"--mimalloc-bin", self.bins["mimalloc"], "--threads", "1,2", "--rounds", "5",
			"--cases", "repeat pc", "--sizes", "64 4096", "--min-time", "0.01",
			"--out-dir", self.out, "--work-dir", os.path.join(d, "work"),
			"--command", "make bench-heap X=1", *extra]

	def main(self, *extra, env=None):
		out, err = io.StringIO(), io.StringIO()
		with unittest.mock.patch.dict(os.environ, dict(self.env, **(env or {}))), \
		     unittest.mock.patch("sys.stdout", out), unittest.mock.patch("sys.stderr", err):
			rc = bh.main(self.argv(*extra))
		return rc, out.getvalue(), err.getvalue()

	def runs(self):
		with open(self.log) as f:
			return [line.split() for line in f]

	def test_rounds_rotate_and_files_written(self):
		rc, out, err = self.main()
		self.assertEqual(rc, 0, err)
		order = [r[0] for r in self.runs()]
		self.assertEqual(order, ["heap", "glibc", "jemalloc", "mimalloc",
					 "glibc", "jemalloc", "mimalloc", "heap",
					 "jemalloc", "mimalloc", "heap", "glibc",
					 "mimalloc", "heap", "glibc", "jemalloc",
					 "heap", "glibc", "jemalloc", "mimalloc"])
		first = self.runs()[0]
		for want in ("--bench_threads=1,2", "--benchmark_filter=^heap/(repeat|pc)/kmalloc/"
			     "size:(64|4096)/", "--benchmark_min_time=0.01", "--benchmark_repetitions=1"):
			self.assertIn(want, first)
		self.assertFalse(any(a.startswith("--bench_lat_every") for a in first))
		doc = heap.load(os.path.join(self.out, "heap.json"))
		self.assertEqual(doc["context"]["command"], "make bench-heap X=1")
		self.assertEqual(doc["context"]["malloc_libs"]["jemalloc"],
				 "/lib/x86_64-linux-gnu/libjemalloc.so.2")
		self.assertEqual(doc["context"]["malloc_libs"]["heap"], "/lib/x86_64-linux-gnu/libc.so.6")
		b = {(x["case"], x["size"], x["threads"]): x for x in doc["benchmarks"]}
		self.assertEqual(len(b), 2 * 2 * 2)
		pc = b[("pc", 4096, 2)]["backends"]
		self.assertEqual(pc["heap"]["ns_per_op"], [10.0] * 5)
		self.assertEqual(pc["heap"]["name"], "heap/pc/kmalloc/size:4096/real_time/threads:2")
		self.assertEqual(pc["mimalloc"]["name"], "heap/pc/malloc/size:4096/real_time/threads:2")
		self.assertEqual(pc["glibc"]["ns_per_op"], [40.0] * 5)
		with open(os.path.join(self.out, "heap.md")) as f:
			md = f.read()
		self.assertIn("| 64 | 1 | 5.00 (5.00–5.00) | 20.0 (20.0–20.0) | 10.0 (10.0–10.0) | "
			      "8.00 (8.00–8.00) | 200.0 | 50.0 | 100.0 | 125.0 |", md)
		self.assertIn("| fast path: repeat, 64 B, 1 thread, ns/op, heap <= mimalloc | "
			      "5.00 ns/op | 8.00 ns/op | yes |", md)
		self.assertIn(md, out)

	def test_lat_every_passed_and_checked(self):
		rc, _, err = self.main("--lat-every", "1")
		self.assertEqual(rc, 0, err)
		self.assertIn("--bench_lat_every=1", self.runs()[0])

	def test_a_baseline_that_is_not_its_library_is_refused(self):
		for lib, fake in (("glibc", "/usr/lib/libjemalloc.so.2"),
				  ("mimalloc", "/lib/x86_64-linux-gnu/libc.so.6"),
				  ("jemalloc", "unknown")):
			with self.subTest(lib=lib):
				rc, _, err = self.main(env={f"FAKE_LIB_{lib}": fake})
				self.assertEqual(rc, 1)
				self.assertIn(f"malloc came from {fake}", err)
				self.assertFalse(os.path.exists(os.path.join(self.out, "heap.json")))

	def test_bad_runs_fail_the_comparison(self):
		for bad, says in (("jemalloc:error", "failed: allocation failed"),
				  ("heap:hist", "histogram holds 63 operations, lat_ops = 62"),
				  ("mimalloc:missing", "heap/pc/malloc/size:4096/real_time/threads:2 missing"),
				  ("glibc:extra", "not asked for: heap/rand/x/size:1"),
				  ("heap:exit", "exit 1")):
			with self.subTest(bad=bad):
				rc, _, err = self.main(env={"FAKE_BAD": bad})
				self.assertEqual(rc, 1)
				self.assertIn(says, err)

	def test_every_operation_timed_means_every_one_in_the_histogram(self):
		rc, _, err = self.main("--lat-every", "1", env={"FAKE_BAD": "glibc:hist"})
		self.assertEqual(rc, 1)
		self.assertIn("histogram holds 1001 operations", err)

	def test_bad_arguments_exit_2_and_say_why(self):
		for bad, says in ((("--rounds", "0"), "must be at least 1"),
				  (("--threads", "1,,2"), "not a comma-separated list"),
				  (("--threads", "1,1"), "distinct thread counts"),
				  (("--threads", "0"), "distinct thread counts of 1..256"),
				  (("--min-time", "-1"), "must be > 0"),
				  (("--min-time", "x"), "not a number of seconds"),
				  (("--cases", "repeat rand"), "want distinct cases of repeat bulk pc"),
				  (("--cases", ""), "want distinct cases"),
				  (("--sizes", "64 100"), "want distinct sizes of 16 64 256 1024 4096"),
				  (("--sizes", "x"), "want distinct sizes"),
				  (("--lat-every", "3"), "not a power of two"),
				  (("--glibc-bin", "/nonexistent"), "/nonexistent: not an executable"),
				  (("--no-such-flag",), "unrecognized arguments: --no-such-flag")):
			with self.subTest(bad=bad):
				err = io.StringIO()
				with self.assertRaises(SystemExit) as e, \
				     unittest.mock.patch("sys.stderr", err):
					bh.parse_args(self.argv(*bad))
				self.assertEqual(e.exception.code, 2, bad)
				self.assertIn(says, err.getvalue())

	def test_a_required_binary_missing(self):
		err = io.StringIO()
		with self.assertRaises(SystemExit) as e, unittest.mock.patch("sys.stderr", err):
			bh.parse_args(["--glibc-bin", self.bins["glibc"]])
		self.assertEqual(e.exception.code, 2)
		self.assertIn("--jemalloc-bin", err.getvalue())


class OrderTest(unittest.TestCase):
	def test_each_round_starts_one_later(self):
		self.assertEqual(bh.backends_in_order(0), ("heap", "glibc", "jemalloc", "mimalloc"))
		self.assertEqual(bh.backends_in_order(1), ("glibc", "jemalloc", "mimalloc", "heap"))
		self.assertEqual(bh.backends_in_order(5), bh.backends_in_order(1))

	def test_filter(self):
		self.assertEqual(bh.bench_filter(["bulk"], "malloc", [16, 4096]),
				 "^heap/(bulk)/malloc/size:(16|4096)/")


if __name__ == "__main__":
	unittest.main()
