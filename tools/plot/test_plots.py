# SPDX-License-Identifier: MIT
"""plots.py and the command line: which files, written for real, named stably."""

import contextlib
import io
import os
import shutil
import tempfile
import unittest

import loader
import plot
import plots
from test_loader import DATA, HOST, QEMU


class PlanTest(unittest.TestCase):
	def test_names_from_the_data(self):
		names = [p.name for p in plots.plan(loader.load_files([HOST] + QEMU))]
		for want in ("throughput-host-frame-repeat-order0.png",
			     "throughput-host-frame-repeat-order3.png",
			     "throughput-host-frame-frobnicate-order0.png",
			     "latency-host-frame-repeat-order0-t1.png",
			     "latency-host-frame-repeat-order0-t2.png",
			     "fastpath-host-frame-repeat.png",
			     "throughput-qemu-tcg-frame-repeat-order0.png",
			     "hostvsqemu-host-qemu-tcg-frame-repeat-order0.png"):
			self.assertIn(want, names)
		self.assertEqual(len(names), len(set(names)))
		# No 2-thread CDF where there is no 2-thread case.
		self.assertNotIn("latency-host-frame-frobnicate-order0-t2.png", names)
		# Host against QEMU only for cases both have.
		self.assertEqual([n for n in names if n.startswith("hostvsqemu-")],
				 ["hostvsqemu-host-qemu-tcg-frame-repeat-order0.png"])

	def test_same_data_same_plan_whatever_the_file_order(self):
		a = [p.name for p in plots.plan(loader.load_files([HOST] + QEMU))]
		b = [p.name for p in plots.plan(loader.load_files(list(reversed(QEMU)) + [HOST]))]
		self.assertEqual(a, b)

	def test_no_qemu_no_hostvsqemu(self):
		names = [p.name for p in plots.plan(loader.load_files([HOST]))]
		self.assertFalse([n for n in names if n.startswith("hostvsqemu-")])

	def test_caption_names_machine_accel_commit(self):
		(c,) = loader.load_files([os.path.join(DATA, "host-single.json")])
		text = plots.caption(c.context)
		for want in ("FIXTURE single-run machine", "accel host", "commit fixture0", "2 host CPUs"):
			self.assertIn(want, text)


class WriteTest(unittest.TestCase):
	def setUp(self):
		self.dir = tempfile.mkdtemp()
		self.results = os.path.join(self.dir, "results")
		os.mkdir(self.results)
		shutil.copy(HOST, self.results)
		self.out = os.path.join(self.results, "plots")

	def tearDown(self):
		shutil.rmtree(self.dir)

	def run_cli(self, *argv):
		out, err = io.StringIO(), io.StringIO()
		with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
			try:
				rc = plot.main(list(argv))
			except SystemExit as e:      # argparse
				rc = e.code
		return rc, out.getvalue(), err.getvalue()

	def test_writes_every_planned_png_and_says_so(self):
		rc, out, _ = self.run_cli("plots", "--results", self.results, "--out", self.out)
		self.assertEqual(rc, 0)
		planned = [p.name for p in plots.plan(loader.load_dir(self.results))]
		self.assertEqual(sorted(os.listdir(self.out)), sorted(planned))
		for name in planned:
			with open(os.path.join(self.out, name), "rb") as f:
				self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
			self.assertIn(f"plot: wrote {os.path.join(self.out, name)}\n", out)
		self.assertIn("no kernel-under-QEMU data", out)

	def test_stale_figures_go_other_files_stay(self):
		os.makedirs(self.out)
		for name in ("throughput-host-gone-order0.png", "notes.png", "keep.txt"):
			open(os.path.join(self.out, name), "w").close()
		rc, out, _ = self.run_cli("plots", "--results", self.results, "--out", self.out)
		self.assertEqual(rc, 0)
		left = os.listdir(self.out)
		self.assertNotIn("throughput-host-gone-order0.png", left)
		self.assertIn("notes.png", left)
		self.assertIn("keep.txt", left)
		self.assertIn("removed", out)

	def test_malformed_file_fails_with_its_name(self):
		with open(os.path.join(self.results, "host-broken.json"), "w") as f:
			f.write("[]")
		rc, _, err = self.run_cli("plots", "--results", self.results, "--out", self.out)
		self.assertEqual(rc, 1)
		self.assertIn("host-broken.json", err)
		self.assertFalse(os.path.exists(self.out))

	def test_bad_flags(self):
		rc, _, err = self.run_cli("plots", "--colour", "red")
		self.assertEqual(rc, 2)
		self.assertIn("unrecognized arguments: --colour", err)
		rc, _, err = self.run_cli()
		self.assertEqual(rc, 2)
		self.assertIn("required", err)
		rc, _, err = self.run_cli("plots", "--results", os.path.join(self.dir, "none"))
		self.assertEqual(rc, 1)
		self.assertIn("no such directory", err)


if __name__ == "__main__":
	unittest.main()
