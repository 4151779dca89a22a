# SPDX-License-Identifier: MIT
"""The heap suite's three binaries (make build-bench-heap): each one's malloc
is the library it is named after, and the check that says so would see a
replacement; and a kmalloc case that leaks fails its run (bench-leak:
tests/bench_heap_leak.c). bench-heap-smoke runs this after its run; a few
seconds.

  HEAP_BENCH_DIR=build/bench/heap /usr/bin/python3 -m unittest discover \\
      -s tools -p 'test_bench_heap_bins.py'
"""

import json
import os
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, os.environ.get("HEAP_BENCH_DIR", "build/bench/heap"))
LIBS = {"glibc": "libc.so.6", "jemalloc": "libjemalloc.so.2", "mimalloc": "libmimalloc.so.2"}
# One short benchmark of the malloc backend, far enough to write the JSON.
ONE = ["--benchmark_filter=^heap/repeat/malloc/size:64/", "--benchmark_min_time=0.001",
       "--bench_threads=1"]


def binary(lib):
	return os.path.join(DIR, f"bench-{lib}")


def run(lib, *args, env=None):
	with tempfile.TemporaryDirectory() as tmp:
		out = os.path.join(tmp, "out.json")
		p = subprocess.run([binary(lib), *ONE, *args, f"--benchmark_out={out}",
				    "--benchmark_out_format=json"], capture_output=True, text=True,
				   timeout=120, env=dict(os.environ, **(env or {})))
		if p.returncode != 0:
			raise AssertionError(f"bench-{lib}: exit {p.returncode}: {p.stdout}{p.stderr}")
		with open(out, encoding="utf-8") as f:
			return json.load(f)


def preloadable(lib):
	"""The path of lib's shared object, as the dynamic linker finds it."""
	p = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True)
	for line in p.stdout.splitlines():
		if line.strip().startswith(LIBS[lib] + " ") and "x86-64" in line:
			return line.rsplit("=>", 1)[1].strip()
	return None


@unittest.skipUnless(all(os.access(binary(lib), os.X_OK) for lib in LIBS),
		     f"{DIR}/bench-* not built (make build-bench-heap)")
class MallocLibTest(unittest.TestCase):
	def test_each_binary_runs_its_own_library(self):
		for lib, so in LIBS.items():
			with self.subTest(lib=lib):
				doc = run(lib)
				self.assertEqual(os.path.basename(doc["context"]["malloc_lib"]), so)
				rec = doc["benchmarks"][0]
				self.assertFalse(rec.get("error_occurred"), rec)
				self.assertGreater(rec["ops"], 0)

	def test_a_preloaded_malloc_is_seen(self):
		# The check is not vacuous: the glibc binary with jemalloc
		# preloaded reports jemalloc, which bench_heap.py refuses.
		path = preloadable("jemalloc")
		self.assertIsNotNone(path, "libjemalloc.so.2 not found by ldconfig")
		doc = run("glibc", env={"LD_PRELOAD": path})
		self.assertEqual(os.path.basename(doc["context"]["malloc_lib"]), LIBS["jemalloc"])

	def test_a_kmalloc_case_that_leaks_fails(self):
		# heap/leak (tests/bench_heap_leak.c) keeps one object a run: the
		# kmalloc environment's check before the next boot, or at the end,
		# must fail the run, whichever comes first.
		self.assertTrue(os.access(binary("leak"), os.X_OK),
				f"{binary('leak')} not built (make {os.path.relpath(binary('leak'), ROOT)})")
		for order in ("leak|repeat", "repeat|leak"):
			p = subprocess.run([binary("leak"), f"--benchmark_filter=^heap/({order})/kmalloc/"
					    "size:64/", "--benchmark_min_time=0.001", "--bench_threads=1"],
					   capture_output=True, text=True, timeout=60)
			self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
			self.assertRegex(p.stderr, r"kmalloc: the last benchmark leaked [1-9][0-9]* objects")

	def test_bad_arguments_refused(self):
		for lib in LIBS:
			p = subprocess.run([binary(lib), "--bench_threads=0", "--benchmark_list_tests"],
					   capture_output=True, text=True, timeout=60)
			self.assertEqual(p.returncode, 2, lib)
			self.assertIn("bad argument --bench_threads=0", p.stderr)

	def test_every_case_size_and_backend_registered(self):
		p = subprocess.run([binary("glibc"), "--benchmark_list_tests", "--bench_threads=1"],
				   capture_output=True, text=True, timeout=60)
		names = set(p.stdout.split())
		for case in ("repeat", "bulk", "pc"):
			for config in ("kmalloc", "malloc"):
				for size in (16, 64, 256, 1024, 4096):
					self.assertIn(f"heap/{case}/{config}/size:{size}/real_time/threads:1",
						      names)


if __name__ == "__main__":
	unittest.main()
