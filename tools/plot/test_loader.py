# SPDX-License-Identifier: MIT
"""loader.py against the fixtures in testdata/ and hand-made malformed files."""

import json
import os
import tempfile
import unittest

import loader

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")
HOST = os.path.join(DATA, "host-fixture.json")
QEMU = [os.path.join(DATA, f"qemu-tcg-smp{n}.json") for n in (1, 2)]


def read_json(path):
	with open(path, encoding="utf-8") as f:
		return json.load(f)


def write_json(path, doc):
	with open(path, "w", encoding="utf-8") as f:
		json.dump(doc, f)


def find(cases, **want):
	hits = [c for c in cases if all(getattr(c, k) == v for k, v in want.items())]
	assert len(hits) == 1, (want, len(hits))
	return hits[0]


class HostTest(unittest.TestCase):
	@classmethod
	def setUpClass(cls):
		cls.cases = loader.load_files([HOST])

	def test_median_aggregate_not_mean(self):
		c = find(self.cases, workload="repeat", config="full", order=0, threads=1)
		self.assertEqual(c.ns_per_op, 7.5)          # mean would be 7.83
		self.assertAlmostEqual(c.mops_total, 1000 / 7.5)
		self.assertEqual(c.source, "host")
		self.assertEqual(c.dataset, "host")
		self.assertEqual(c.context["commit"], "fixture0")

	def test_spread_over_iteration_runs(self):
		c = find(self.cases, workload="repeat", config="full", order=0, threads=1)
		self.assertEqual(c.ns_range, (7.0, 9.0))
		self.assertEqual(c.samples, 3)
		self.assertAlmostEqual(c.mops_range[1], 1000 / 7.0)

	def test_histograms_summed_over_repetitions(self):
		c = find(self.cases, workload="repeat", config="full", order=0, threads=1)
		# Repetitions at 7, 7.5 (bucket 2) and 9 ns (bucket 3), 600000 each in
		# their own bucket and 390000 in the next one.
		self.assertEqual(c.hist[2], 2 * 600000)
		self.assertEqual(c.hist[3], 2 * 390000 + 600000)
		self.assertEqual(c.hist[4], 390000)
		self.assertEqual(sum(c.hist.values()), 3 * 1000000)

	def test_percentiles_and_max(self):
		c = find(self.cases, workload="repeat", config="full", order=0, threads=2)
		self.assertEqual(c.percentiles["p999_ns"], 600.0)
		self.assertAlmostEqual(c.percentiles["p50_ns"], 8.2 * 0.9)
		self.assertEqual(c.max_ns, 20000.0 + 8.4 * 100)     # max over runs, not median

	def test_unknown_workload_and_gb_name_tokens(self):
		c = find(self.cases, workload="frobnicate")
		self.assertEqual((c.suite, c.config, c.order, c.threads), ("frame", "full", 0, 1))
		self.assertIsNone(c.ns_range)       # one run: no spread

	def test_single_iteration_run_without_aggregates(self):
		(c,) = loader.load_files([os.path.join(DATA, "host-single.json")])
		self.assertEqual((c.workload, c.config, c.threads, c.ns_per_op), ("repeat", "full", 1, 9.5))


class QemuTest(unittest.TestCase):
	def test_files_merged_into_one_dataset(self):
		cases = loader.load_files(QEMU)
		self.assertEqual({c.dataset for c in cases}, {"qemu-tcg"})
		self.assertEqual(sorted({c.threads for c in cases}), [1, 2])
		c = find(cases, config="full", threads=2)
		self.assertEqual((c.source, c.workload, c.order, c.mops_total), ("qemu", "repeat", 0, 38.0))
		self.assertEqual(c.hist, {5: 600000, 6: 390000, 10: 9900, 15: 100})
		self.assertEqual(c.context["qemu_version"], "7.2.0")

	def test_missing_percentiles_come_from_the_merged_buckets(self):
		with tempfile.TemporaryDirectory() as d:
			doc = read_json(QEMU[0])
			for p in ("p50_ns", "p999_ns"):
				del doc["records"][0][p]
			path = os.path.join(d, "qemu-x.json")
			write_json(path, doc)
			c = find(loader.load_files([path]), config="full")
			# 600000 of 1000000 in [32, 64), 99.9% below 1024 (+9900 in [1024, 2048)).
			self.assertEqual(c.percentiles["p50_ns"], 64.0)
			self.assertEqual(c.percentiles["p999_ns"], 2048.0)
			self.assertEqual(c.percentiles["p99_ns"], 150.0)      # the record's own

	def test_same_case_in_two_files_is_two_samples(self):
		with tempfile.TemporaryDirectory() as d:
			doc = read_json(QEMU[0])
			paths = []
			for i, mops in enumerate((20.0, 30.0, 22.0)):
				doc["records"][0]["mops_total"] = mops
				paths.append(os.path.join(d, f"qemu-run{i}.json"))
				write_json(paths[-1], doc)
			c = find(loader.load_files(paths), config="full")
			self.assertEqual((c.mops_total, c.mops_range, c.samples), (22.0, (20.0, 30.0), 3))
			self.assertEqual(c.hist[5], 3 * 600000)

	def test_two_machines_are_two_datasets(self):
		with tempfile.TemporaryDirectory() as d:
			doc = read_json(QEMU[0])
			doc["context"]["machine"] = "Other Box 16"
			other = os.path.join(d, "qemu-other.json")
			write_json(other, doc)
			ids = {c.dataset for c in loader.load_files(QEMU + [other])}
			self.assertEqual(ids, {"qemu-tcg-other-box-16",
					       "qemu-tcg-fixture-2-core-machine-not-a-measurement"})


class HistogramTest(unittest.TestCase):
	def test_percentile_is_the_bucket_upper_edge(self):
		h = {3: 50, 4: 50}                 # [8, 16) and [16, 32)
		self.assertEqual(loader.hist_percentile(h, 0.25), 16.0)
		self.assertEqual(loader.hist_percentile(h, 0.5), 16.0)
		self.assertEqual(loader.hist_percentile(h, 0.51), 32.0)
		self.assertEqual(loader.hist_percentile(h, 1.0), 32.0)
		self.assertEqual(loader.hist_percentile(h, 0.75, max_ns=20.0), 20.0)
		self.assertIsNone(loader.hist_percentile({}, 0.5))

	def test_percentile_skips_empty_buckets(self):
		self.assertEqual(loader.hist_percentile({2: 0, 10: 4}, 0.5), 2048.0)
		self.assertEqual(loader.hist_percentile({2: 0, 10: 4}, 0.0), 2048.0)

	def test_cdf(self):
		xs, ys = loader.hist_cdf({3: 1, 5: 3})
		self.assertEqual(xs, [8, 16, 64])
		self.assertEqual(ys, [0.0, 0.25, 1.0])


class MalformedTest(unittest.TestCase):
	"""Every broken file is refused, naming the file and the entry."""

	def load_broken(self, name, doc, raw=None):
		with tempfile.TemporaryDirectory() as d:
			path = os.path.join(d, name)
			with open(path, "w") as f:
				f.write(raw if raw is not None else json.dumps(doc))
			with self.assertRaises(loader.LoadError) as e:
				loader.load_files([path])
			self.assertIn(path, str(e.exception))
			return str(e.exception)

	def host_with(self, **change):
		doc = read_json(HOST)
		doc["benchmarks"][0].update(change)
		return doc

	def test_not_json(self):
		self.assertIn("not JSON", self.load_broken("host-x.json", None, raw="{"))

	def test_no_benchmarks(self):
		doc = read_json(HOST)
		del doc["benchmarks"]
		self.assertIn('no "benchmarks"', self.load_broken("host-x.json", doc))

	def test_context_without_commit(self):
		doc = read_json(HOST)
		del doc["context"]["commit"]
		self.assertIn("commit missing", self.load_broken("host-x.json", doc))

	def test_counter_not_a_number(self):
		msg = self.load_broken("host-x.json", self.host_with(ns_per_op="fast"))
		self.assertIn("benchmarks[0] (frame/repeat/full/order:0/threads:1)", msg)
		self.assertIn("ns_per_op not a finite number", msg)

	def test_counter_missing(self):
		doc = read_json(HOST)
		del doc["benchmarks"][4]["mops_total"]        # the median aggregate
		self.assertIn("benchmarks[4] (frame/repeat/full/order:0/threads:1_median): mops_total missing", self.load_broken("host-x.json", doc))

	def test_failed_benchmark(self):
		msg = self.load_broken("host-x.json", self.host_with(error_occurred=True,
								     error_message="out of memory"))
		self.assertIn("out of memory", msg)

	def test_bad_threads(self):
		self.assertIn("threads", self.load_broken("host-x.json", self.host_with(threads=0)))

	def test_bad_histogram_bucket(self):
		doc = self.host_with(lat_log2_ns_99=3.0)
		self.assertIn("bucket 99", self.load_broken("host-x.json", doc))

	def test_qemu_bad_record(self):
		doc = read_json(QEMU[0])
		doc["records"][1]["lat_log2_ns"] = {"x": 1}
		msg = self.load_broken("qemu-x.json", doc)
		self.assertIn("records[1] (frame/repeat/nopcp/order:0)", msg)

	def test_qemu_record_without_config(self):
		doc = read_json(QEMU[0])
		doc["records"][0] = {k: v for k, v in doc["records"][0].items()
				     if k not in ("config", "name")}
		self.assertIn("no config", self.load_broken("qemu-x.json", doc))

	def test_unknown_file_name(self):
		self.assertIn("host- or qemu-", self.load_broken("bench.json", {}))


if __name__ == "__main__":
	unittest.main()
