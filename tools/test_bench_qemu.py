# SPDX-License-Identifier: MIT
"""tools/bench_qemu.py against fixture serial logs (tools/testdata/bench_qemu/).

Two layers: the log checks and the progress/report text as functions, no
QEMU; and whole runs of bench_qemu.py through the real tools/qemu-run.sh
with a stand-in qemu-system-x86_64 first on PATH (fake-qemu/), which prints
a fixture log and exits as the kernel would, so the streaming, the files,
the accelerator and the exit statuses are exercised too.

  /usr/bin/python3 -m unittest discover -s tools -p 'test_bench_qemu.py'
"""

import collections
import dataclasses
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
import unittest.mock

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "testdata", "bench_qemu")
sys.path.insert(0, HERE)
sys.path.insert(0, DATA)
import bench_qemu as bq  # noqa: E402
import fixtures  # noqa: E402
import loader  # noqa: E402  (bench_qemu put tools/plot on the path)

TCG = fixtures.SIGNATURES["tcg"]
WANT = bq.Expect(config="full", vcpus=2, accel="tcg", ms=100, reps=2)
NAME = "frame/rand/full/order:9"


def good_lines(**kw):
	args = dict(config="full", vcpus=2, hypervisor=TCG, ms=100, reps=2)
	args.update(kw)
	return fixtures.boot_log(**args)


def parse(lines, want=WANT):
	p = bq.BootParser(want)
	for line in lines:
		p.feed(line + "\n")
	p.finish()
	return p


def replace_record(lines, name, rep, change):
	"""lines with record (name, rep) passed through change(dict) -> dict."""
	out = []
	for line in lines:
		if line.startswith("bench-json: "):
			rec = json.loads(line[len("bench-json: "):])
			if rec["name"] == name and rec["repetition"] == rep:
				line = "bench-json: " + json.dumps(change(rec))
		out.append(line)
	return out


def failed_lines(name=NAME, why="E_NOMEM", **kw):
	"""A boot in which name FAILED: no records for it, a FAILED line."""
	out = []
	for line in good_lines(**kw):
		if line.startswith("bench-json: ") and f'"name":"{name}"' in line:
			continue
		if line.startswith("bench: [") and f"] {name}: " in line:
			k = line.split("]")[0] + "]"
			line = f"{k} {name} FAILED: {why}"
		if line == "bench: 24 passed, 0 failed":
			line = "bench: 23 passed, 1 failed"
		out.append(line)
	return out


class Problems(unittest.TestCase):
	def assertProblem(self, parser, text):
		self.assertTrue(any(text in p for p in parser.problems),
				f"no problem saying {text!r} in {parser.problems}")


class GoodRun(Problems):
	def test_fixture_file_passes(self):
		with open(os.path.join(DATA, "tcg-smp2-full.log"), encoding="utf-8") as f:
			p = parse(f.read().splitlines())
		self.assertEqual(p.problems, [])
		self.assertEqual(len(p.benchmarks), 24)
		self.assertEqual(len(p.records()), 48)
		self.assertEqual(p.summary, (24, 0))
		self.assertEqual(p.context["hypervisor"], TCG)

	def test_crlf_lines(self):
		p = bq.BootParser(WANT)
		for line in good_lines():
			p.feed(line + "\r\n")
		self.assertEqual(p.finish(), [])

	def test_kvm_signature_with_nuls(self):
		want = bq.Expect("full", 2, "kvm", 100, 2)
		p = parse(good_lines(hypervisor=fixtures.SIGNATURES["kvm"]), want)
		self.assertEqual(p.problems, [])
		self.assertTrue(p.context["hypervisor"].startswith("KVMKVMKVM"))

	def test_filtered_run(self):
		only = ["frame/repeat/full/order:0", "frame/irq/full/order:0"]
		p = parse(good_lines(only=only))
		self.assertEqual(p.problems, [])
		self.assertEqual([b.name for b in p.benchmarks], only)

	def test_feed_events(self):
		p = bq.BootParser(WANT)
		events = [e for e in (p.feed(line) for line in good_lines()) if e]
		self.assertEqual(events[0], ("context", p.context))
		self.assertEqual([k for k, _ in events[1:]], ["benchmark"] * 24)
		self.assertEqual([b.index for _, b in events[1:]], list(range(1, 25)))


class PageTableRun(Problems):
	WANT = bq.Expect(config="tree", vcpus=2, accel="tcg", ms=100, reps=2)

	def test_boot_passes_and_is_complete(self):
		p = parse(good_lines(config="tree"), self.WANT)
		self.assertEqual(p.problems, [])
		self.assertEqual([b.name for b in p.benchmarks],
				 [f"pt/{w}/tree/pages:{n}" for w in bq.PT_WORKLOADS
				  for n in bq.PT_PAGES[w]])
		self.assertEqual(bq.missing_cases(p.benchmarks, "tree"), [])

	def test_argument_must_match_the_name(self):
		lines = replace_record(good_lines(config="tree"), "pt/map_unmap/tree/pages:16", 1,
				       lambda r: dict(r, pages=17))
		self.assertProblem(parse(lines, self.WANT), "pages 17 does not match the name")
		lines = replace_record(good_lines(config="tree"), "pt/map_unmap/tree/pages:16", 0,
				       lambda r: {k: v for k, v in r.items() if k != "pages"})
		self.assertProblem(parse(lines, self.WANT), "pages None does not match the name")

	def test_missing_region_size(self):
		want = dataclasses.replace(self.WANT, config="space")
		p = parse(good_lines(config="space", only=fixtures.names("space")[1:]), want)
		self.assertEqual(p.problems, [])
		self.assertEqual(bq.missing_cases(p.benchmarks, "space"),
				 ["no record of pt/map_unmap/space/pages:1"])

	def test_config_is_the_boots(self):
		p = parse(good_lines(config="space"), self.WANT)
		self.assertProblem(p, "config 'space', but the boot ran 'tree'")


class ZeroRun(Problems):
	WANT = bq.Expect(config="zero", vcpus=2, accel="tcg", ms=100, reps=2)

	def test_boot_passes_and_is_complete(self):
		p = parse(good_lines(config="zero"), self.WANT)
		self.assertEqual(p.problems, [])
		self.assertEqual([b.name for b in p.benchmarks],
				 [f"frame/{w}/zero/order:{o}" for w in bq.ZERO_WORKLOADS
				  for o in bq.ORDERS])
		self.assertEqual(bq.missing_cases(p.benchmarks, "zero"), [])

	def test_missing_workload(self):
		# mixed and irq do not run in zero; the four that do are required.
		p = parse(good_lines(config="zero", only=[n for n in fixtures.names("zero")
							  if "/rand/" not in n]), self.WANT)
		self.assertEqual(p.problems, [])
		self.assertEqual(bq.missing_cases(p.benchmarks, "zero"),
				 [f"no record of frame/rand/zero/order:{o}" for o in bq.ORDERS])


class HeapRun(Problems):
	WANT = bq.Expect(config="kmalloc", vcpus=2, accel="tcg", ms=100, reps=2)

	def test_boot_passes_and_is_complete(self):
		p = parse(good_lines(config="kmalloc"), self.WANT)
		self.assertEqual(p.problems, [])
		self.assertEqual([b.name for b in p.benchmarks],
				 [f"heap/{w}/kmalloc/size:{n}" for w in bq.HEAP_WORKLOADS
				  for n in bq.HEAP_SIZES])
		self.assertEqual(bq.missing_cases(p.benchmarks, "kmalloc"), [])

	def test_argument_must_match_the_name(self):
		lines = replace_record(good_lines(config="kmalloc"), "heap/bulk/kmalloc/size:256", 1,
				       lambda r: dict(r, size=257))
		self.assertProblem(parse(lines, self.WANT), "size 257 does not match the name")

	def test_missing_size(self):
		p = parse(good_lines(config="kmalloc", only=fixtures.names("kmalloc")[:-1]), self.WANT)
		self.assertEqual(p.problems, [])
		self.assertEqual(bq.missing_cases(p.benchmarks, "kmalloc"),
				 ["no record of heap/pc/kmalloc/size:4096"])


class LinuxRun(Problems):
	"""A Linux boot (bench/linux/): frame and heap suites in one configuration."""
	WANT = bq.Expect(config="linux", vcpus=2, accel="tcg", ms=100, reps=2)

	def test_boot_passes_and_is_complete(self):
		p = parse(good_lines(config="linux"), self.WANT)
		self.assertEqual(p.problems, [])
		self.assertEqual([b.name for b in p.benchmarks],
				 [f"frame/{w}/linux/order:{o}" for w in bq.ZERO_WORKLOADS
				  for o in bq.ORDERS] +
				 [f"heap/{w}/linux/size:{n}" for w in bq.HEAP_WORKLOADS
				  for n in bq.HEAP_SIZES])
		self.assertEqual(bq.missing_cases(p.benchmarks, "linux"), [])

	def test_each_suite_is_required(self):
		# heap/repeat and frame/repeat share a workload name: the suite tells.
		p = parse(good_lines(config="linux", only=[n for n in fixtures.names("linux")
							   if n != "heap/repeat/linux/size:64"]),
			  self.WANT)
		self.assertEqual(p.problems, [])
		self.assertEqual(bq.missing_cases(p.benchmarks, "linux"),
				 ["no record of heap/repeat/linux/size:64"])
		p = parse(good_lines(config="linux", only=[n for n in fixtures.names("linux")
							   if not n.startswith("frame/rand/")]),
			  self.WANT)
		self.assertEqual(bq.missing_cases(p.benchmarks, "linux"),
				 [f"no record of frame/rand/linux/order:{o}" for o in bq.ORDERS])

	def test_user_space_faults(self):
		want = bq.Expect(config="linux_user", vcpus=2, accel="tcg", ms=100, reps=2)
		p = parse(good_lines(config="linux_user"), want)
		self.assertEqual(p.problems, [])
		self.assertEqual([b.name for b in p.benchmarks], ["pt/fault/linux_user/pages:1024"])
		self.assertEqual(bq.missing_cases(p.benchmarks, "linux_user"), [])
		self.assertEqual(bq.missing_cases([], "linux_user"),
				 ["no record of pt/fault/linux_user/pages:1024"])


class FailedRuns(Problems):
	def test_failed_line(self):
		p = parse(failed_lines())
		self.assertProblem(p, f"{NAME} FAILED: E_NOMEM")
		self.assertProblem(p, "summary: 1 failed")
		self.assertEqual([b.failed for b in p.benchmarks if b.failed], ["E_NOMEM"])

	def test_failed_after_records(self):
		lines = [line for line in good_lines()
			 if not (line.startswith("bench: [") and f"] {NAME}: " in line)]
		k = [b.index for b in parse(good_lines()).benchmarks if b.name == NAME][0]
		i = max(i for i, line in enumerate(lines) if f'"name":"{NAME}"' in line)
		lines.insert(i + 1, f"bench: [{k}/24] {NAME} FAILED: timeout")
		self.assertProblem(parse(lines), f"{NAME}: FAILED after 2 bench-json lines")

	def test_missing_summary(self):
		lines = [line for line in good_lines() if not line.startswith("bench: 24 passed")]
		self.assertProblem(parse(lines), "no summary line")

	def test_stopped_inside_a_benchmark(self):
		lines = good_lines()
		cut = max(i for i, line in enumerate(lines) if line.startswith("bench-json: "))
		p = parse(lines[:cut + 1])
		self.assertProblem(p, "2 bench-json lines without a progress line")
		self.assertProblem(p, "no summary line")

	def test_no_context(self):
		p = parse([line for line in good_lines() if "bench: context" not in line])
		self.assertProblem(p, "no 'bench: context' line")
		self.assertProblem(p, "a bench-json line before the context line")

	def test_context_twice(self):
		lines = good_lines()
		ctx = [line for line in lines if line.startswith("bench: context")]
		self.assertProblem(parse(lines + ctx), "output after the summary")
		self.assertProblem(parse(ctx + lines), "a second context line")

	def test_context_not_what_was_asked(self):
		for key, field, asked in (("min_ms", "ms", 50), ("reps", "reps", 3),
					  ("vcpus", "vcpus", 4), ("config", "config", "nopcp")):
			want = dataclasses.replace(WANT, **{field: asked})
			self.assertProblem(parse(good_lines(), want),
					   f"context: {key} is {getattr(WANT, field)!r}, the boot asked for {asked!r}")

	def test_context_field_missing(self):
		lines = [line.replace('"tsc_mhz":2495,', "") for line in good_lines()]
		self.assertProblem(parse(lines), "context: tsc_mhz missing")

	def test_no_benchmarks(self):
		p = parse(good_lines(only=[]))
		self.assertProblem(p, "no benchmarks to run")


class WrongCounts(Problems):
	def test_summary_count_short(self):
		lines = [line.replace("bench: 24 passed", "bench: 23 passed") for line in good_lines()]
		p = parse(lines)
		self.assertProblem(p, "summary: 23 passed, 0 failed, but 24 benchmarks reported")
		self.assertProblem(p, "but the context announced 24")

	def test_context_announces_more(self):
		lines = [line.replace('"benchmarks":24', '"benchmarks":25') for line in good_lines()]
		p = parse(lines)
		self.assertProblem(p, "[1/24], but the context announced 25")
		self.assertProblem(p, "summary: 24 passed, but the context announced 25")

	def test_progress_skips_one(self):
		lines = [line.replace("bench: [5/24]", "bench: [6/24]") for line in good_lines()]
		self.assertProblem(parse(lines), "[6/24] after 4 benchmarks")

	def test_benchmark_twice(self):
		lines = [line.replace("frame/repeat/full/order:3", "frame/repeat/full/order:0")
			 .replace('"order":3', '"order":0') for line in good_lines()]
		self.assertProblem(parse(lines), "frame/repeat/full/order:0: reported twice")

	def test_repetition_missing(self):
		lines = [line for line in good_lines()
			 if not (f'"name":"{NAME}"' in line and '"repetition":1' in line)]
		self.assertProblem(parse(lines), f"{NAME}: repetitions [0], want 0..1")

	def test_records_of_another_benchmark(self):
		lines = replace_record(good_lines(), NAME, 1,
				       lambda r: {**r, "name": "frame/rand/full/order:3", "order": 3})
		self.assertProblem(parse(lines), f"{NAME}: its progress line follows records of")


class BadRecords(Problems):
	def bad(self, change, text, name=NAME):
		p = parse(replace_record(good_lines(), name, 0, change))
		self.assertProblem(p, text)

	def test_histogram_not_summing(self):
		self.bad(lambda r: {**r, "lat_ops": r["lat_ops"] + 1},
			 f"{NAME}: lat_log2_ns holds 4000 operations, lat_ops = 4001")

	def test_histogram_bad_bucket(self):
		self.bad(lambda r: {**r, "lat_log2_ns": {"64": 4000}}, "not a count of bucket 0..63")
		self.bad(lambda r: {**r, "lat_log2_ns": {"4": 4000.5}}, "not a count of bucket 0..63")

	def test_percentiles_out_of_order(self):
		self.bad(lambda r: {**r, "p90_ns": r["p99_ns"] * 2}, "percentiles out of order")
		self.bad(lambda r: {**r, "p999_ns": r["max_ns"] + 1}, "percentiles out of order")

	def test_every_operation_timed_but_not_all_in_histogram(self):
		want = bq.Expect("full", 2, "tcg", 100, 2, lat_every=1)
		rec = fixtures.record("full", 2, "repeat", 0, 0)
		self.assertIn(f"{rec['name']}: every operation was to be timed (lat_every 1), but "
			      "lat_ops 4000 != ops 64000", bq.check_record(rec, want))
		rec = {**rec, "ops": rec["lat_ops"]}
		self.assertEqual(bq.check_record(rec, want), [])

	def test_irq_without_irq_ops(self):
		name = "frame/irq/full/order:0"
		self.bad(lambda r: {k: v for k, v in r.items() if k != "irq_ops"},
			 "irq record of repetition 0 without irq_ops > 0", name)
		self.bad(lambda r: {**r, "irq_ops": 0}, "without irq_ops > 0", name)
		# However short its wall time: the kernel made its loops long enough.
		self.bad(lambda r: {**r, "irq_ops": 0, "wall_ns": 1000}, "without irq_ops > 0", name)
		# A later repetition may have run too fast for a tick, however long
		# its wall time.
		rec = {**fixtures.record("full", 2, "irq", 0, 1), "irq_ops": 0, "wall_ns": 50000000}
		self.assertEqual(bq.check_record(rec, WANT), [])

	def test_missing_field(self):
		for key in ("ns_per_op", "lat_ops", "p99_ns", "threads", "repetition", "workload"):
			self.bad(lambda r: {k: v for k, v in r.items() if k != key},
				 f"{key} missing or not a")

	def test_wrong_type(self):
		self.bad(lambda r: {**r, "ops": 64000.5}, "ops missing or not a integer")
		self.bad(lambda r: {**r, "mops_total": "fast"}, "mops_total missing or not a number")
		self.bad(lambda r: {**r, "extra": "text"}, "extra is 'text', not a number")

	def test_config_or_threads_not_the_boots(self):
		self.bad(lambda r: {**r, "config": "nopcp", "name": "frame/rand/nopcp/order:9"},
			 "config 'nopcp', but the boot ran 'full'")
		self.bad(lambda r: {**r, "threads": 1}, "threads 1, but the boot has 2 vCPUs")

	def test_name_disagrees(self):
		self.bad(lambda r: {**r, "order": 3}, "order 3 does not match the name")
		self.bad(lambda r: {**r, "workload": "repeat"}, "not in the name")

	def test_counts(self):
		self.bad(lambda r: {**r, "ops": 0, "lat_ops": 0, "lat_log2_ns": {}},
			 "want iterations, ops >= 1 and 0 < lat_ops <= ops")

	def test_not_json(self):
		lines = good_lines()
		i = lines.index(next(line for line in lines if line.startswith("bench-json: ")))
		lines[i] = lines[i][:-5]
		self.assertProblem(parse(lines), "bench-json: not JSON")
		lines[i] = "bench-json: [1, 2]"
		p = parse(lines)
		self.assertProblem(p, "bench-json: not a JSON object")
		self.assertProblem(p, "frame/repeat/full/order:0: repetitions [1], want 0..1")


class Hypervisor(Problems):
	def test_mismatch(self):
		self.assertIsNone(bq.check_hypervisor("tcg", "TCGTCGTCGTCG"))
		self.assertIsNone(bq.check_hypervisor("kvm", "KVMKVMKVM\0\0\0"))
		self.assertIsNone(bq.check_hypervisor("kvm", "KVMKVMKVM"))
		self.assertIn("asked for kvm", bq.check_hypervisor("kvm", "TCGTCGTCGTCG"))
		self.assertIn("asked for tcg", bq.check_hypervisor("tcg", "KVMKVMKVM"))
		self.assertIn("asked for tcg", bq.check_hypervisor("tcg", "none"))

	def test_in_a_boot(self):
		p = parse(good_lines(hypervisor="KVMKVMKVM"))
		self.assertProblem(p, "hypervisor signature is 'KVMKVMKVM', but the boot asked for tcg")


class Complete(unittest.TestCase):
	def test_missing_cases(self):
		p = parse(good_lines(only=fixtures.names("full")[1:]))
		self.assertEqual(p.problems, [])
		self.assertEqual(bq.missing_cases(p.benchmarks, "full"),
				 ["no record of frame/repeat/full/order:0"])
		self.assertEqual(bq.missing_cases(parse(good_lines()).benchmarks, "full"), [])


class FakeClock:
	def __init__(self):
		self.t = 0.0

	def __call__(self):
		return self.t


class ProgressLines(unittest.TestCase):
	def test_lines_total_and_time_left(self):
		out, clock = io.StringIO(), FakeClock()
		prog = bq.Progress(boots=3, out=out, clock=clock)
		p = bq.BootParser(WANT)
		for line in good_lines():
			clock.t += 0.05 if line.startswith("bench: [") else 0
			bq.stream([line], p, prog, "qemu-tcg", 2, collections.deque())
		lines = out.getvalue().splitlines()
		self.assertEqual(len(lines), 24)
		self.assertNotIn("\r", out.getvalue())
		self.assertEqual(lines[0], "[1/72] qemu-tcg smp=2 frame/repeat/full/order:0: "
			       "14.8 ns/op, 135 Mops/s (~4 s left)")
		self.assertTrue(lines[-1].startswith("[24/72] qemu-tcg smp=2 frame/irq/full/order:10: "))
		self.assertTrue(lines[-1].endswith("(~2 s left)"), lines[-1])
		clock.t += 600                  # a slow boot: minutes
		prog.boot_started(24)
		prog.benchmark_done("qemu-tcg", 4, p.benchmarks[0])
		# 601.2 s for 25 benchmarks, 47 left (3 boots x 24 - 25).
		self.assertTrue(out.getvalue().splitlines()[-1].endswith("(~19 min left)"))

	def test_failed_and_last(self):
		out = io.StringIO()
		prog = bq.Progress(boots=1, out=out, clock=FakeClock())
		p = bq.BootParser(WANT)
		bq.stream(failed_lines(), p, prog, "qemu-kvm", 2, collections.deque())
		lines = out.getvalue().splitlines()
		self.assertIn(f"qemu-kvm smp=2 {NAME} FAILED: E_NOMEM (", "\n".join(lines))
		self.assertTrue(lines[-1].startswith("[24/24] ") and lines[-1].endswith("(done)"))

	def test_streams_as_lines_come(self):
		"""Each benchmark's line is out before the next benchmark's output is read."""
		out = io.StringIO()
		prog = bq.Progress(boots=1, out=out, clock=FakeClock())
		seen = []

		def lines():
			for line in good_lines():
				if line.startswith("bench: ["):
					seen.append(len(out.getvalue().splitlines()))
				yield line

		bq.stream(lines(), bq.BootParser(WANT), prog, "qemu-tcg", 2, collections.deque())
		self.assertEqual(seen, list(range(24)))

	def test_fmt(self):
		self.assertEqual([bq.fmt(x) for x in (0.0123, 1.234, 12.34, 123.4, 60000.0)],
				 ["0.01", "1.23", "12.3", "123", "60000"])


class Report(unittest.TestCase):
	def test_table(self):
		opts = bq.parse_args(["--kernel", __file__, "--reps", "2"])
		runs = {n: parse(good_lines(vcpus=n), bq.Expect("full", n, "tcg", 100, 2)).records()
			for n in (1, 2)}
		runs[2] = [r for r in runs[2] if r["workload"] != "mixed"]
		meta = {"machine": "M, 2 CPUs", "qemu_version": "7.2", "commit": "abc"}
		text = bq.report("qemu-tcg", meta, runs, opts).splitlines()
		self.assertIn("qemu-tcg, M, 2 CPUs, QEMU 7.2, commit abc", text[0])
		self.assertTrue(any(line.startswith("full") and "smp=1" in line and "smp=2" in line
				    for line in text))
		row = next(line for line in text if line.split()[:2] == ["repeat", "0"])
		self.assertEqual(row.split(), ["repeat", "0", "|", "10.5", "95.5", "32",
					       "|", "14.8", "135", "32"])
		row = next(line for line in text if line.split()[:2] == ["mixed", "0"])
		self.assertEqual(row.split()[-4:], ["|", "-", "-", "-"])

	def test_page_table_table_by_pages(self):
		opts = bq.parse_args(["--kernel", __file__, "--reps", "2"])
		runs = {2: parse(good_lines(config="tree"),
				 bq.Expect("tree", 2, "tcg", 100, 2)).records()}
		meta = {"machine": "M", "qemu_version": "7.2", "commit": "c"}
		text = bq.report("qemu-tcg", meta, runs, opts).splitlines()
		self.assertIn("workload       pages", text[3])
		rows = [line.split()[:2] for line in text
			if line.split()[:1] and line.split()[0] in bq.PT_WORKLOADS]
		self.assertEqual(sorted(rows), sorted([w, str(n)] for w in bq.PT_WORKLOADS
						      for n in bq.PT_PAGES[w]))

	def test_rows_in_the_usual_order_whatever_the_kernel_ran_first(self):
		opts = bq.parse_args(["--kernel", __file__, "--reps", "2"])
		recs = parse(good_lines(), WANT).records()
		text = bq.report("qemu-tcg", {"machine": "M", "qemu_version": "7.2", "commit": "c"},
				 {2: list(reversed(recs))}, opts)
		rows = [line.split()[:2] for line in text.splitlines()
			if line.split()[:1] and line.split()[0] in bq.WORKLOADS]
		self.assertEqual(rows, [[w, str(o)] for w in bq.WORKLOADS for o in bq.ORDERS])


class Options(unittest.TestCase):
	def refused(self, *argv, text):
		err = io.StringIO()
		with self.assertRaises(SystemExit) as cm, unittest.mock.patch("sys.stderr", err):
			bq.parse_args(["--kernel", __file__] + list(argv))
		self.assertEqual(cm.exception.code, 2)
		self.assertIn(text, err.getvalue())

	def test_bad_options(self):
		self.refused("--smp", "0", text="--smp: want vCPU counts 1..255")
		self.refused("--smp", "2 x", text="--smp: want vCPU counts")
		self.refused("--smp", "256", text="--smp: want vCPU counts")
		self.refused("--smp", "2 2", text="--smp: a value given twice")
		self.refused("--smp", "", text="--smp: want vCPU counts")
		self.refused("--configs", "full,fast", text="--configs: want some of")
		self.refused("--ms", "0", text="--ms must be 1..60000")
		self.refused("--reps", "101", text="--reps 1..100")
		self.refused("--filter", "a b", text="--filter: one kernel command-line word")
		self.refused("--filter", "order:0", "--complete", text="contradict")
		self.refused("--timeout", "0", text="--timeout must be at least 1 s")
		self.refused("--lat-every", "3", text="--lat-every must be a power of two")
		self.refused("--boots", "0", text="--boots must be 1..20")
		self.refused("--accel", "hvf", text="invalid choice")
		self.refused("--no-such", text="unrecognized arguments")
		self.refused("--kernel", "/nonexistent/kernel.bin", text="--kernel: cannot read")

	def test_lists(self):
		opts = bq.parse_args(["--kernel", __file__, "--smp", "1,2  8", "--configs", "full nopcp"])
		self.assertEqual((opts.smp, opts.configs), ([1, 2, 8], ["full", "nopcp"]))
		self.assertEqual(bq.kernel_cmdline("nopcp", opts), "bench=nopcp bench_ms=100 bench_reps=3")
		opts = bq.parse_args(["--kernel", __file__, "--configs", "full tree space"])
		self.assertEqual(opts.configs, ["full", "tree", "space"])
		self.assertEqual(bq.kernel_cmdline("tree", opts), "bench=tree bench_ms=100 bench_reps=3")
		opts = bq.parse_args(["--kernel", __file__, "--configs", "zero,kmalloc"])
		self.assertEqual(opts.configs, ["zero", "kmalloc"])
		self.assertEqual(bq.kernel_cmdline("kmalloc", opts),
				 "bench=kmalloc bench_ms=100 bench_reps=3")

	def test_every_config_has_its_expectation(self):
		self.assertEqual(set(bq.EXPECT), set(bq.CONFIGS))
		opts = bq.parse_args(["--kernel", __file__, "--filter", "order:0", "--ms", "5"])
		self.assertEqual(bq.kernel_cmdline("full", opts),
				 "bench=full bench_ms=5 bench_reps=3 bench_filter=order:0")
		opts = bq.parse_args(["--kernel", __file__, "--lat-every", "1"])
		self.assertEqual(bq.kernel_cmdline("full", opts),
				 "bench=full bench_ms=100 bench_reps=3 bench_lat_every=1")


def linux_dir(root):
	"""A --linux directory as mk/linux.mk leaves it (empty stand-ins)."""
	d = os.path.join(root, "linux")
	os.makedirs(d, exist_ok=True)
	for name in ("vmlinuz", "initramfs.cpio.gz"):
		open(os.path.join(d, name), "w").close()
	with open(os.path.join(d, "versions.json"), "w") as f:
		json.dump({"release": "6.1.0-99-amd64",
			   "packages": {"linux-image-6.1.0-99-amd64": "6.1.999-1"}}, f)
	return d


class LinuxOptions(unittest.TestCase):
	refused = Options.refused

	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.linux = linux_dir(self.tmp.name)

	def tearDown(self):
		self.tmp.cleanup()

	def test_linux_configurations_and_command_lines(self):
		opts = bq.parse_args(["--kernel", __file__, "--linux", self.linux,
				      "--configs", "linux linux_zero linux_user"])
		self.assertEqual(opts.configs, ["linux", "linux_zero", "linux_user"])
		self.assertEqual(bq.kernel_cmdline("linux", opts),
				 "console=ttyS0 loglevel=6 printk.time=0 panic=-1 init_on_alloc=0 "
				 "bench=linux bench_ms=100 bench_reps=3")
		self.assertEqual(bq.kernel_cmdline("linux_zero", opts).split()[4], "init_on_alloc=1")
		self.assertEqual(bq.kernel_cmdline("linux_user", opts).split()[4], "init_on_alloc=0")
		cmd = bq.boot_command(opts, "tcg", 2, "linux", "x.log")
		self.assertEqual(cmd[-3:], ["--initrd", os.path.join(self.linux, "initramfs.cpio.gz"),
					    os.path.join(self.linux, "vmlinuz")])
		self.assertEqual(cmd[cmd.index("--mem") + 1], "1536M")   # as our kernel's boots

	def test_linux_refusals(self):
		self.refused("--configs", "linux", text="--configs: want some of full")
		self.refused("--linux", self.linux, "--configs", "full",
			     text="--configs: want some of linux,linux_zero,linux_user (with --linux)")
		os.remove(os.path.join(self.linux, "versions.json"))
		self.refused("--linux", self.linux, "--configs", "linux",
			     text="--linux: no versions.json in")
		self.refused("--linux", "/nonexistent", "--configs", "linux",
			     text="--linux: no vmlinuz in '/nonexistent'")


class Machine(unittest.TestCase):
	def test_as_gbench_says(self):
		with tempfile.NamedTemporaryFile("w", suffix="cpuinfo") as f:
			f.write("processor\t: 0\nmodel name\t: AMD EPYC 7B13 \nprocessor\t: 1\n"
				"model name\t: other\n")
			f.flush()
			self.assertEqual(bq.machine_name(f.name), f"AMD EPYC 7B13 , {bq.host_cpus()} CPUs")
		self.assertEqual(bq.machine_name("/nonexistent"), f"unknown, {bq.host_cpus()} CPUs")
		self.assertEqual(bq.mem_mib(8), 3072)


# --- whole runs: bench_qemu.py -> qemu-run.sh -> fake QEMU --------------------

class WholeRuns(unittest.TestCase):
	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.dir = self.tmp.name
		self.fake = os.path.join(self.dir, "fixtures")
		os.mkdir(self.fake)
		self.kernel = os.path.join(self.dir, "kernel.bin")
		open(self.kernel, "w").close()
		self.out = os.path.join(self.dir, "out")
		self.logs = os.path.join(self.dir, "logs")

	def tearDown(self):
		self.tmp.cleanup()

	def fixture(self, smp, config, lines=None, rc=None, reps=2):
		lines = lines if lines is not None else fixtures.boot_log(config, smp, reps=reps)
		fixtures.write(os.path.join(self.fake, f"smp{smp}-{config}.log"), lines)
		if rc is not None:
			with open(os.path.join(self.fake, f"smp{smp}-{config}.rc"), "w") as f:
				f.write(f"{rc}\n")

	def env(self):
		env = dict(os.environ, FAKE_QEMU_DIR=self.fake)
		env["PATH"] = os.path.join(DATA, "fake-qemu") + os.pathsep + env["PATH"]
		return env

	def bench(self, *argv, accel="tcg"):
		cmd = [sys.executable, os.path.join(HERE, "bench_qemu.py"), "--kernel", self.kernel,
		       "--out-dir", self.out, "--log-dir", self.logs, "--commit", "fixture1",
		       "--reps", "2", "--accel", accel, "--timeout", "30"] + list(argv)
		return subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=120)

	def qemu_run(self, append, *opts):
		cmd = [os.path.join(HERE, "qemu-run.sh"), "--smp", "2", "--accel", "tcg", "--timeout",
		       "30", "--log", os.path.join(self.logs, "q.log"), "--append", append,
		       *opts, self.kernel]
		return subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=60)

	def calls(self):
		with open(os.path.join(self.fake, "calls"), encoding="utf-8") as f:
			return f.read().splitlines()

	def files(self):
		return sorted(os.listdir(self.out)) if os.path.isdir(self.out) else []

	def test_good_run(self):
		for n in (1, 2):
			for c in ("full", "nopcp"):
				self.fixture(n, c)
		r = self.bench("--smp", "1 2", "--configs", "full,nopcp", "--report")
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		progress = [line for line in r.stdout.splitlines() if line.startswith("[")]
		self.assertEqual(len(progress), 96)
		self.assertEqual([line.split("]")[0] for line in progress],
				 [f"[{k}/96" for k in range(1, 97)])
		self.assertIn("[49/96] qemu-tcg smp=2 frame/repeat/full/order:0: ", r.stdout)
		self.assertNotIn("\r", r.stdout)
		self.assertIn("bench-qemu report: qemu-tcg", r.stdout)
		self.assertEqual(self.files(), ["qemu-tcg-smp1.json", "qemu-tcg-smp2.json"])
		with open(os.path.join(self.out, "qemu-tcg-smp2.json"), encoding="utf-8") as f:
			doc = json.load(f)
		ctx = doc["context"]
		self.assertEqual({k: ctx[k] for k in ("commit", "accel", "vcpus", "mem", "min_ms",
						      "reps", "qemu_version", "hypervisor")},
				 {"commit": "fixture1", "accel": "tcg", "vcpus": 2, "mem": "1536M",
				  "min_ms": 100, "reps": 2, "qemu_version": "7.2.99",
				  "hypervisor": "TCGTCGTCGTCG"})
		self.assertEqual(ctx["machine"], bq.machine_name())
		self.assertEqual(set(ctx), {"commit", "accel", "host_cpus", "qemu_version", "machine",
					    "vcpus", "date", "mem", "min_ms", "reps", "cpu",
					    "hypervisor", "tsc_mhz", "lat_every"})
		self.assertEqual(len(doc["records"]), 96)
		self.assertEqual({r["config"] for r in doc["records"]}, {"full", "nopcp"})
		cases = loader.load_files([os.path.join(self.out, f) for f in self.files()])
		self.assertEqual(len(cases), 2 * 2 * 24)
		self.assertEqual({c.dataset for c in cases}, {"qemu-tcg"})
		self.assertEqual(self.calls(), [
			f"smp={n} mem={1024 + 256 * n}M accel=tcg append=bench={c} bench_ms=100 bench_reps=2"
			for n in (1, 2) for c in ("full", "nopcp")])
		self.assertEqual(sorted(os.listdir(self.logs)), [
			"tcg-smp1-full.log", "tcg-smp1-nopcp.log", "tcg-smp2-full.log", "tcg-smp2-nopcp.log"])

	def test_locked_not_booted_beyond_the_host_cpus(self):
		n = bq.host_cpus() + 1
		for c in ("full", "locked"):
			self.fixture(n, c)
			self.fixture(1, c)
		r = self.bench("--smp", f"1 {n}", "--configs", "full,locked")
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		self.assertIn(f"not booting locked at smp {n}: more vCPUs than the "
			      f"{bq.host_cpus()} host CPUs", r.stdout)
		self.assertEqual([c.split(" append=")[1].split()[0] for c in self.calls()],
				 ["bench=full", "bench=locked", "bench=full"])  # smp 1, 1, n
		with open(os.path.join(self.out, f"qemu-tcg-smp{n}.json"), encoding="utf-8") as f:
			self.assertEqual({r["config"] for r in json.load(f)["records"]}, {"full"})
		# Asked for: booted.
		os.remove(os.path.join(self.fake, "calls"))
		r = self.bench("--smp", str(n), "--configs", "locked", "--locked-beyond-host")
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		self.assertEqual(len(self.calls()), 1)

	def test_only_locked_beyond_the_host_writes_nothing(self):
		n = bq.host_cpus() + 1
		r = self.bench("--smp", str(n), "--configs", "locked")
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		self.assertEqual(self.files(), [])

	def test_boots_in_rounds_every_record_a_sample(self):
		for n in (1, 2):
			self.fixture(n, "full")
		r = self.bench("--smp", "1 2", "--configs", "full", "--boots", "2", "--report")
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		self.assertEqual([c.split()[0] for c in self.calls()],
				 ["smp=1", "smp=2", "smp=1", "smp=2"])  # rounds
		self.assertIn("[96/96]", r.stdout)
		self.assertIn("medians of 2 boots x 2 repetitions", r.stdout)
		self.assertEqual(sorted(os.listdir(self.logs)), [
			"tcg-smp1-full-boot1.log", "tcg-smp1-full-boot2.log",
			"tcg-smp2-full-boot1.log", "tcg-smp2-full-boot2.log"])
		with open(os.path.join(self.out, "qemu-tcg-smp2.json"), encoding="utf-8") as f:
			doc = json.load(f)
		self.assertEqual(doc["context"]["boots"], 2)
		self.assertEqual(sorted({r["boot"] for r in doc["records"]}), [1, 2])
		cases = loader.load_files([os.path.join(self.out, f) for f in self.files()])
		self.assertEqual({c.samples for c in cases}, {4})

	def test_failed_benchmark_stops_the_run(self):
		for c in ("full", "nopcp"):
			self.fixture(1, c)
		self.fixture(2, "full")
		self.fixture(2, "nopcp", failed_lines("frame/rand/nopcp/order:9", config="nopcp"), rc=35)
		self.fixture(4, "full")
		r = self.bench("--smp", "1 2 4", "--configs", "full nopcp")
		self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
		log = os.path.join(self.logs, "tcg-smp2-nopcp.log")
		self.assertIn(f"bench_qemu: FAIL qemu-tcg smp=2 config=nopcp (log {log}):", r.stderr)
		self.assertIn("qemu-run.sh exited with 1: qemu-run: FAIL", r.stderr)
		self.assertIn("frame/rand/nopcp/order:9 FAILED: E_NOMEM", r.stderr)
		self.assertIn("frame/rand/nopcp/order:9 FAILED: E_NOMEM (", r.stdout)
		self.assertIn("bench: 23 passed, 1 failed", r.stderr)    # the output's tail
		self.assertNotIn("bench-json: {", r.stderr)              # but not its records
		self.assertTrue(os.path.exists(log))
		self.assertEqual(self.files(), ["qemu-tcg-smp1.json"])   # nothing of smp 2, no tmp
		self.assertFalse(any("smp=4" in c for c in self.calls()))

	def test_bad_record_qemu_run_passed(self):
		self.fixture(2, "full", replace_record(fixtures.boot_log("full", 2), NAME, 1,
						       lambda r: {**r, "lat_ops": 3999}))
		r = self.bench("--smp", "2", "--configs", "full")
		self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
		self.assertNotIn("qemu-run.sh exited", r.stderr)
		self.assertIn(f"{NAME}: lat_log2_ns holds 4000 operations, lat_ops = 3999", r.stderr)
		self.assertEqual(self.files(), [])

	def test_bad_exit_after_good_output(self):
		"""Every line right, but the kernel died on the way out (exit 35)."""
		self.fixture(2, "full", rc=35)
		r = self.bench("--smp", "2", "--configs", "full")
		self.assertEqual(r.returncode, 1)
		self.assertIn("qemu-run.sh exited with 1: qemu-run: FAIL smp=2 mem=1536M accel=tcg", r.stderr)
		self.assertIn("the kernel reported failure (exit code 35)", r.stderr)
		self.assertEqual(self.files(), [])

	def test_missing_summary_fails_in_qemu_run_too(self):
		self.fixture(2, "full", [line for line in fixtures.boot_log("full", 2)
					 if not line.startswith("bench: 24 passed")])
		r = self.bench("--smp", "2", "--configs", "full")
		self.assertEqual(r.returncode, 1)
		self.assertIn("no 'bench: N passed, 0 failed' line", r.stderr)
		self.assertIn("no summary line", r.stderr)

	def test_hypervisor_mismatch(self):
		self.fixture(2, "full", fixtures.boot_log("full", 2, hypervisor="KVMKVMKVM"))
		r = self.bench("--smp", "2", "--configs", "full")
		self.assertEqual(r.returncode, 1)
		self.assertIn("hypervisor signature is 'KVMKVMKVM', but the boot asked for tcg", r.stderr)

	def test_complete(self):
		self.fixture(2, "full", fixtures.boot_log("full", 2, only=fixtures.names("full")[:-1]))
		r = self.bench("--smp", "2", "--configs", "full", "--complete")
		self.assertEqual(r.returncode, 1)
		self.assertIn("no record of frame/irq/full/order:10", r.stderr)
		self.fixture(2, "full")
		self.assertEqual(self.bench("--smp", "2", "--configs", "full", "--complete").returncode, 0)

	def test_zero_and_kmalloc_complete(self):
		# The environments of issue 14's comparison with Linux: a file of
		# both, which the loader reads (size is the heap cases' argument).
		for c in ("zero", "kmalloc"):
			self.fixture(2, c)
		r = self.bench("--smp", "2", "--configs", "zero kmalloc", "--complete", "--report")
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		self.assertIn("workload        size", r.stdout)
		cases = loader.load_files([os.path.join(self.out, "qemu-tcg-smp2.json")])
		self.assertEqual({(c.suite, c.config) for c in cases},
				 {("frame", "zero"), ("heap", "kmalloc")})
		self.assertEqual(len(cases), 16 + 15)

	def test_accel_auto_decided_once(self):
		for n in (1, 2):
			self.fixture(n, "full")
		r = self.bench("--smp", "1 2", "--configs", "full", accel="auto")
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		probes = [c for c in self.calls() if c.endswith("append=probe")]
		boots = [c for c in self.calls() if "bench=" in c]
		self.assertLessEqual(len(probes), 2)           # tcg and kvm, once (none without /dev/kvm)
		self.assertEqual(len(boots), 2)
		accel = {c.split("accel=")[1].split()[0] for c in boots}
		self.assertEqual(len(accel), 1)
		self.assertEqual(self.files(), [f"qemu-{a}-smp{n}.json" for a in accel for n in (1, 2)])

	def test_bad_options_exit_2(self):
		r = self.bench("--smp", "0")
		self.assertEqual(r.returncode, 2)
		self.assertIn("--smp: want vCPU counts", r.stderr)
		self.assertFalse(os.path.exists(os.path.join(self.fake, "calls")))

	def test_qemu_run_pass_rule(self):
		self.fixture(2, "full")
		self.assertEqual(self.qemu_run("bench=full bench_ms=1").returncode, 0)
		# A bench boot must have the bench summary; a self-test line does not do.
		self.fixture(2, "full", ["selftest: 5 passed, 0 failed"])
		r = self.qemu_run("bench=full")
		self.assertEqual(r.returncode, 1)
		self.assertIn("no 'bench: N passed, 0 failed' line", r.stdout)
		self.fixture(2, "full", ["bench: 0 passed, 0 failed"])
		self.assertEqual(self.qemu_run("bench=full").returncode, 1)
		# Without bench= (bench_ms= is not it), the self-test summary counts.
		self.fixture(2, "", ["bench: 3 passed, 0 failed"])
		r = self.qemu_run("bench_ms=3")
		self.assertIn("no 'selftest: N passed, 0 failed' line", r.stdout)

	def test_qemu_run_quiet_names_failures(self):
		self.fixture(2, "full", failed_lines(), rc=35)
		r = self.qemu_run("bench=full", "--quiet")
		summary = r.stdout.split("--- last")[0]
		self.assertIn(f"] {NAME} FAILED: E_NOMEM", summary)
		self.assertIn("bench: 23 passed, 1 failed", summary)
		self.assertNotIn("bench-json", summary)

	def test_linux_run(self):
		linux = linux_dir(self.dir)
		for c in ("linux", "linux_user"):
			self.fixture(2, c)
		r = self.bench("--linux", linux, "--smp", "2", "--configs", "linux linux_user",
			       "--complete")
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		self.assertIn("qemu-linux-tcg smp=2 heap/pc/linux/size:4096: ", r.stdout)
		initrd = os.path.join(linux, "initramfs.cpio.gz")
		self.assertEqual(self.calls(), [
			f"smp=2 mem=1536M accel=tcg append={bq.linux_cmdline(c)} bench={c} "
			f"bench_ms=100 bench_reps=2 initrd={initrd}" for c in ("linux", "linux_user")])
		self.assertEqual(self.files(), ["qemu-linux-tcg-smp2.json"])
		with open(os.path.join(self.out, "qemu-linux-tcg-smp2.json"), encoding="utf-8") as f:
			doc = json.load(f)
		ctx = doc["context"]
		self.assertEqual(ctx["impl"], "linux")
		self.assertEqual(ctx["linux"]["release"], "6.1.0-99-amd64")
		self.assertEqual(ctx["linux_cmdline"],
				 {c: bq.linux_cmdline(c) for c in ("linux", "linux_user")})
		self.assertEqual({r["config"] for r in doc["records"]}, {"linux", "linux_user"})
		self.assertEqual({r["impl"] for r in doc["records"]}, {"linux 6.1.0-99-amd64"})
		# Next to our kernel's file of the same machine: one data set.
		self.fixture(2, "full")
		self.assertEqual(self.bench("--smp", "2", "--configs", "full").returncode, 0)
		cases = loader.load_files([os.path.join(self.out, f) for f in self.files()])
		self.assertEqual({c.dataset for c in cases}, {"qemu-tcg"})
		self.assertEqual({c.config for c in cases}, {"full", "linux", "linux_user"})

	def test_linux_boot_that_never_ran_the_module_fails(self):
		"""/init powers off when insmod fails: QEMU exits 0, no summary."""
		linux = linux_dir(self.dir)
		self.fixture(2, "linux", ["init: insmod allocbench.ko config=linux",
					  "insmod: can't insert '/allocbench.ko': invalid module format",
					  "reboot: Power down"], rc=0)
		r = self.bench("--linux", linux, "--smp", "2", "--configs", "linux")
		self.assertEqual(r.returncode, 1)
		self.assertIn("shut down without the kernel's exit", r.stderr)
		self.assertIn("no 'bench: context' line", r.stderr)
		self.assertEqual(self.files(), [])

	def test_qemu_run_initrd(self):
		initrd = os.path.join(self.dir, "initramfs.cpio.gz")
		open(initrd, "w").close()
		self.fixture(2, "linux")
		self.assertEqual(self.qemu_run("bench=linux", "--initrd", initrd).returncode, 0)
		self.assertTrue(self.calls()[-1].endswith(f" initrd={initrd}"))
		r = self.qemu_run("bench=linux", "--initrd", initrd + ".missing")
		self.assertEqual(r.returncode, 2)
		self.assertIn("cannot read initramfs", r.stderr)
		cmd = [os.path.join(HERE, "qemu-run.sh"), "--accel", "auto", "--initrd", initrd,
		       self.kernel]
		r = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=60)
		self.assertEqual(r.returncode, 2)
		self.assertIn("--initrd needs --accel kvm or tcg", r.stderr)

	def test_qemu_run_print_accel(self):
		r = self.qemu_run("x", "--print-accel")
		self.assertEqual((r.returncode, r.stdout), (0, "tcg\n"))
		self.assertFalse(os.path.exists(os.path.join(self.fake, "calls")))


if __name__ == "__main__":
	unittest.main()
