# SPDX-License-Identifier: MIT
"""The host benchmark's own arguments: bad ones refused with exit status 2
and a message that names them, good ones taken, --bench_ram_gib's size in
the JSON context (bench-smoke runs this after its run; a few seconds).

  BENCH_BIN=build/bench/bench/bench /usr/bin/python3 -m unittest discover \\
      -s tools -p 'test_bench_args.py'
"""

import json
import os
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, os.environ.get("BENCH_BIN", "build/bench/bench/bench"))
# One short benchmark, for the runs that must get as far as the JSON.
ONE = ["--benchmark_filter=^frame/repeat/full/order:0/", "--benchmark_min_time=0.001",
       "--bench_threads=1"]


def run(*args):
	p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)
	return p.returncode, p.stdout + p.stderr


def context(*args):
	"""The JSON context of a run of ONE with args."""
	with tempfile.TemporaryDirectory() as tmp:
		out = os.path.join(tmp, "out.json")
		rc, text = run(*ONE, *args, f"--benchmark_out={out}", "--benchmark_out_format=json")
		if rc != 0:
			raise AssertionError(f"exit {rc}: {text}")
		with open(out, encoding="utf-8") as f:
			return json.load(f)["context"]


@unittest.skipUnless(os.access(BIN, os.X_OK), f"{BIN} not built (make build-bench)")
class BadArgumentsTest(unittest.TestCase):
	def refused(self, *args, says="bad argument"):
		rc, text = run(*args, "--benchmark_list_tests")
		self.assertEqual(rc, 2, f"{args}: exit {rc}, not 2: {text}")
		self.assertIn(says, text, args)
		self.assertNotIn("frame/repeat", text, f"{args}: ran or listed")

	def test_harness_and_google_benchmark_flags(self):
		for a in ("--bench_threads=0", "--bench_lat_every=3", "--no-such-flag"):
			self.refused(a)
		rc, _ = run("--benchmark_min_time=x")
		self.assertEqual(rc, 2)

	def test_ram_gib_malformed_or_out_of_range(self):
		for v in ("", "0", "1025", "99999999999999999999", "-1", "+8", " 8", "8 ", "8g",
			  "1.5", "0x10", "x"):
			self.refused(f"--bench_ram_gib={v}", says=f"bad argument --bench_ram_gib={v}")

	def test_ram_gib_too_small_for_the_most_threads(self):
		# 64 MiB a thread and an eighth more: 1 GiB holds 14 threads.
		self.refused("--bench_threads=1,15", "--bench_ram_gib=1",
			     says="--bench_ram_gib=1 is too small for 15 threads: they need at least 2 GiB")
		self.refused("--bench_ram_gib=2", "--bench_threads=29",
			     says="--bench_ram_gib=2 is too small for 29 threads")

	def test_ram_gib_taken_at_the_edge(self):
		for args in (("--bench_ram_gib=1", "--bench_threads=14"),
			     ("--bench_ram_gib=1",),           # default threads: 1..8 on 2-4 CPUs
			     ("--bench_ram_gib=1024", "--bench_threads=1")):
			rc, text = run(*args, "--benchmark_list_tests")
			self.assertEqual(rc, 0, f"{args}: {text}")
			self.assertIn("frame/repeat/full/order:0", text)


@unittest.skipUnless(os.access(BIN, os.X_OK), f"{BIN} not built (make build-bench)")
class ContextTest(unittest.TestCase):
	def test_the_arena_is_the_flags(self):
		ctx = context("--bench_ram_gib=1")
		self.assertEqual((ctx["ram_mib"], ctx["ram_set_by"]), ("1024", "--bench_ram_gib"))
		self.assertEqual(context("--bench_ram_gib=3")["ram_mib"], "3072")

	def test_default_unchanged(self):
		ctx = context()
		# max(8 GiB, 4 x 64 MiB a thread + 1 GiB) for 1 thread
		self.assertEqual((ctx["ram_mib"], ctx["ram_set_by"]), ("8192", "default"))


if __name__ == "__main__":
	unittest.main()
