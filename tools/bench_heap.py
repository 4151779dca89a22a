#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The heap suite's comparison (make bench-heap, mk/bench_heap.mk).

  tools/bench_heap.py --glibc-bin B --jemalloc-bin B --mimalloc-bin B
      [--threads 1,2,8] [--rounds 5] [--min-time 0.2]
      [--cases "repeat bulk pc"] [--sizes "16 64 256 1024 4096"]
      [--lat-every N] [--out-dir results] [--work-dir DIR] [--command CMD]

Four backends: heap (kmalloc/kfree, configuration kmalloc, in the glibc
binary), glibc, jemalloc and mimalloc (malloc/free, configuration malloc,
each in the binary linked with that library). In each of ROUNDS rounds the
four run one after the other, one repetition of every case, size and thread
count asked for, each round starting one backend later than the one before,
into DIR/round<k>-<backend>.json (Google Benchmark JSON). A run counts only
if its malloc is the library it stands for (context malloc_lib: glibc's
libc.so.6, libjemalloc, libmimalloc), every record asked for is there,
without error, and its latency histogram holds lat_ops operations (all of
them with --lat-every 1). The samples go to OUT/heap.json and the tables to
OUT/heap.md (tools/plot/heap.py says what they hold). Exit 1 on a failed
run or a bad record (saying which), 2 on bad arguments.
"""

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "plot"))
import heap  # noqa: E402
from argtypes import min_time, positive, power_of_two, thread_list  # noqa: E402

ROOT = os.path.dirname(HERE)
SIZES = (16, 64, 256, 1024, 4096)

# backend -> (binary option's name, configuration, what its malloc_lib must contain)
BACKENDS = {
	"heap": ("glibc", "kmalloc", "libc.so"),
	"glibc": ("glibc", "malloc", "libc.so"),
	"jemalloc": ("jemalloc", "malloc", "libjemalloc"),
	"mimalloc": ("mimalloc", "malloc", "libmimalloc"),
}
assert tuple(BACKENDS) == heap.BACKENDS


class RunError(Exception):
	pass


# --- what each run must hold ---------------------------------------------------

def record_name(case, config, size, threads):
	return f"heap/{case}/{config}/size:{size}/real_time/threads:{threads}"


def bench_filter(cases, config, sizes):
	return f"^heap/({'|'.join(cases)})/{config}/size:({'|'.join(map(str, sizes))})/"


def check_record(path, name, b, every):
	"""The record's (ns_per_op, mops_total), or RunError saying what is wrong."""
	if b.get("error_occurred"):
		raise RunError(f"{path}: {name} failed: {b.get('error_message', '?')}")
	ns, ops = b.get("ns_per_op"), b.get("ops")
	if not isinstance(ns, (int, float)) or ns <= 0:
		raise RunError(f"{path}: {name}: ns_per_op {ns!r} is not a time")
	if not isinstance(ops, (int, float)) or ops <= 0:
		raise RunError(f"{path}: {name}: no operations")
	hist = sum(v for k, v in b.items() if k.startswith("lat_log2_ns_"))
	if hist != b.get("lat_ops") or not 0 < hist <= ops or (every == 1 and hist != ops):
		raise RunError(f"{path}: {name}: histogram holds {hist} operations, "
			       f"lat_ops = {b.get('lat_ops')}, ops = {ops}")
	mops = b.get("mops_total")
	return float(ns), float(mops) if isinstance(mops, (int, float)) else None


def samples(doc, path, backend, a):
	"""{(case, size, threads): (name, ns_per_op, mops_total)} of one run's JSON."""
	_, config, lib = BACKENDS[backend]
	ctx = doc.get("context", {}) if isinstance(doc, dict) else {}
	got_lib = str(ctx.get("malloc_lib"))
	if lib not in os.path.basename(got_lib):
		raise RunError(f"{path}: malloc came from {got_lib}, not {lib}: this run is not "
			       f"{backend}'s")
	runs = {}
	for b in doc.get("benchmarks", []):
		name = b.get("run_name", b.get("name"))
		if b.get("error_occurred"):
			raise RunError(f"{path}: {name} failed: {b.get('error_message', '?')}")
		if b.get("run_type", "iteration") != "iteration":
			continue
		if name in runs:
			raise RunError(f"{path}: {name} twice (one repetition per round expected)")
		runs[name] = b
	every = int(ctx.get("lat_every", 0) or 0)
	out = {}
	for case in a.cases:
		for size in a.sizes:
			for t in a.thread_list:
				name = record_name(case, config, size, t)
				if name not in runs:
					raise RunError(f"{path}: {name} missing")
				out[(case, size, t)] = (name,) + check_record(path, name, runs.pop(name),
									      every)
	if runs:
		raise RunError(f"{path}: not asked for: {', '.join(sorted(runs)[:5])}")
	return out


def collect(rounds):
	"""The results file's benchmarks from rounds: [{backend: (path, samples)}]."""
	keys = sorted(rounds[0][heap.BACKENDS[0]][1],
		      key=lambda k: (heap.CASES.index(k[0]), k[1], k[2]))
	out = []
	for case, size, threads in keys:
		entry = {"case": case, "size": size, "threads": threads, "backends": {}}
		for backend in heap.BACKENDS:
			got = [r[backend][1][(case, size, threads)] for r in rounds]
			entry["backends"][backend] = {"name": got[0][0],
						      "ns_per_op": [g[1] for g in got],
						      "mops_total": [g[2] for g in got]}
		out.append(entry)
	return out


# --- running -------------------------------------------------------------------

def backends_in_order(k):
	"""Round k's order: the four backends, starting k places later each round."""
	b = heap.BACKENDS
	return b[k % len(b):] + b[:k % len(b)]


def bench_args(a, backend, out):
	_, config, _ = BACKENDS[backend]
	args = [f"--bench_threads={a.threads}",
		f"--benchmark_filter={bench_filter(a.cases, config, a.sizes)}",
		f"--benchmark_min_time={a.min_time}", "--benchmark_repetitions=1",
		f"--benchmark_out={out}", "--benchmark_out_format=json"]
	if a.lat_every is not None:
		args.append(f"--bench_lat_every={a.lat_every}")
	return args


def run_one(a, backend, k, out, commit):
	binary = a.bins[BACKENDS[backend][0]]
	cmd = [binary] + bench_args(a, backend, out)
	print(f"bench-heap: round {k + 1}/{a.rounds}: {backend}", flush=True)
	env = dict(os.environ, BENCH_COMMIT=commit)
	p = subprocess.run(cmd, env=env)
	if p.returncode != 0:
		raise RunError(f"{' '.join(map(shlex.quote, cmd))}: exit {p.returncode}")
	try:
		with open(out, encoding="utf-8") as f:
			doc = json.load(f)
	except (OSError, ValueError) as e:
		raise RunError(f"{out}: {e}") from None
	return doc, samples(doc, out, backend, a)


def run_rounds(a, commit):
	os.makedirs(a.work_dir, exist_ok=True)
	rounds, docs = [], {}
	for k in range(a.rounds):
		r = {}
		for backend in backends_in_order(k):
			out = os.path.join(a.work_dir, f"round{k}-{backend}.json")
			doc, got = run_one(a, backend, k, out, commit)
			docs.setdefault(backend, doc)
			r[backend] = (out, got)
		rounds.append(r)
	return rounds, docs


# --- context -------------------------------------------------------------------

def head_commit():
	"""HEAD's short hash, -dirty if tracked files other than results/ differ
	(mk/bench.mk's BENCH_COMMIT rule)."""
	p = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=ROOT,
			   capture_output=True, text=True)
	sha = p.stdout.strip() if p.returncode == 0 else "unknown"
	dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", ".", ":!results"],
			       cwd=ROOT).returncode != 0
	return sha + ("-dirty" if dirty else "")


def context(a, docs, commit):
	first = docs["heap"].get("context", {})
	return {
		"head": commit,
		"machine": first.get("machine", "unknown"),
		"host_cpus": first.get("host_cpus", str(os.cpu_count())),
		"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
		"threads": a.threads,
		"rounds": a.rounds,
		"min_time": a.min_time,
		"cases": " ".join(a.cases),
		"sizes": " ".join(map(str, a.sizes)),
		"lat_every": first.get("lat_every"),
		"malloc_libs": {b: d.get("context", {}).get("malloc_lib") for b, d in docs.items()},
		"order": "the four backends one after the other, each round starting one later",
		"command": a.command or " ".join(map(shlex.quote, sys.argv)),
		"runner": " ".join(map(shlex.quote, sys.argv)),
	}


def write(a, doc):
	base = os.path.join(a.out_dir, "heap")
	for path, text in ((base + ".json", json.dumps(doc, indent=1) + "\n"),
			   (base + ".md", heap.markdown(doc))):
		with open(path + ".tmp", "w", encoding="utf-8") as f:
			f.write(text)
		os.replace(path + ".tmp", path)
	return base


# --- arguments -----------------------------------------------------------------


def word_list(allowed, kind, convert=str):
	def parse(text):
		try:
			vals = [convert(x) for x in text.split()]
		except ValueError:
			vals = None
		if not vals or any(v not in allowed for v in vals) or len(set(vals)) != len(vals):
			raise argparse.ArgumentTypeError(
				f"want distinct {kind} of {' '.join(map(str, allowed))}: {text!r}")
		return vals
	return parse


def parse_args(argv):
	ap = argparse.ArgumentParser(prog="bench_heap.py", description=__doc__.split("\n")[0])
	for lib in ("glibc", "jemalloc", "mimalloc"):
		ap.add_argument(f"--{lib}-bin", required=True,
				help=f"the heap suite's binary linked with {lib}'s malloc")
	ap.add_argument("--threads", type=thread_list, default="1,2,8")
	ap.add_argument("--rounds", type=positive, default=5)
	ap.add_argument("--min-time", type=min_time, default="0.2", help="--benchmark_min_time")
	ap.add_argument("--cases", type=word_list(heap.CASES, "cases"), default=list(heap.CASES))
	ap.add_argument("--sizes", type=word_list(SIZES, "sizes", int), default=list(SIZES))
	ap.add_argument("--lat-every", type=power_of_two, default=None,
			help="--bench_lat_every (1: time every operation)")
	ap.add_argument("--out-dir", default="results")
	ap.add_argument("--work-dir", default="build/bench/heap/runs",
			help="where each round's JSON goes")
	ap.add_argument("--command", default=None, help="the command line to record")
	a = ap.parse_args(argv)
	a.bins = {lib: getattr(a, f"{lib}_bin") for lib in ("glibc", "jemalloc", "mimalloc")}
	for b in a.bins.values():
		if not os.access(b, os.X_OK):
			ap.error(f"{b}: not an executable (make build-bench-heap)")
	a.thread_list = [int(x) for x in a.threads.split(",")]
	return a


def main(argv=None):
	a = parse_args(argv)
	commit = head_commit()
	os.makedirs(a.out_dir, exist_ok=True)
	try:
		rounds, docs = run_rounds(a, commit)
		doc = {"context": context(a, docs, commit), "benchmarks": collect(rounds)}
		heap.check(doc)
		base = write(a, doc)
		print(f"bench-heap: wrote {base}.json and {base}.md", flush=True)
		sys.stdout.write(heap.markdown(doc))
	except (RunError, heap.HeapError) as e:
		print(f"bench_heap.py: error: {e}", file=sys.stderr)
		return 1
	return 0


if __name__ == "__main__":
	sys.exit(main())
