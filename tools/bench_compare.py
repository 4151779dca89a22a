#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Issue 11's like-with-like comparison (make bench-compare, mk/compare.mk).

  tools/bench_compare.py --base-bin B --new-bin N --base SHA
      [--ram-gib "1 20"] [--threads 1,2,8] [--rounds 5] [--filter REGEX]
      [--min-time 0.2] [--out-dir results] [--work-dir DIR] [--command CMD]

For each arena size (--bench_ram_gib), ROUNDS rounds; in each, the base
binary (today's harness with BASE's allocator core) and the new one (this
tree's) run one after the other, the base first in even rounds and the new
one first in odd ones, each with one repetition of every benchmark the
filter selects, into DIR/<ram>g/round<k>-<side>.json (Google Benchmark
JSON). Every record must be there, without error, from an arena of the
size asked for. The samples go to OUT/compare-<ram>g.json and the tables
to OUT/compare-<ram>g.md (tools/plot/compare.py says what they hold; make
results copies the tables into RESULTS.md). Exit 1 on a failed run or a
malformed record (saying which), 2 on bad arguments.
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
import compare  # noqa: E402
from argtypes import min_time, positive, thread_list  # noqa: E402

ROOT = os.path.dirname(HERE)


class RunError(Exception):
	pass


# --- what was measured --------------------------------------------------------

def parse_name(name):
	"""frame/<case>/<config>/order:<k>/real_time/threads:<n> -> (case, config, order, threads)."""
	parts = name.split("/")
	plain = [p for p in parts if ":" not in p and p not in ("real_time", "")]
	kv = dict(p.split(":", 1) for p in parts if ":" in p)
	if len(plain) != 3 or "threads" not in kv:
		raise RunError(f"{name}: not frame/<case>/<config>/order:<k>/.../threads:<n>")
	try:
		order = int(kv["order"]) if "order" in kv else None
		threads = int(kv["threads"])
	except ValueError:
		raise RunError(f"{name}: order or threads not a number") from None
	return plain[1], plain[2], order, threads


def samples(doc, path, ram_gib):
	"""{name: (ns_per_op, mops_total)} of one run's JSON (one repetition each)."""
	ctx = doc.get("context", {}) if isinstance(doc, dict) else {}
	if str(ctx.get("ram_mib")) != str(ram_gib * 1024):
		raise RunError(f"{path}: arena of {ctx.get('ram_mib')} MiB, not the {ram_gib} GiB "
			       "asked for (does the binary know --bench_ram_gib?)")
	out = {}
	for b in doc.get("benchmarks", []):
		name = b.get("run_name", b.get("name"))
		if b.get("error_occurred"):
			raise RunError(f"{path}: {name} failed: {b.get('error_message', '?')}")
		if b.get("run_type", "iteration") != "iteration":
			continue
		ns, mops = b.get("ns_per_op"), b.get("mops_total")
		if not isinstance(ns, (int, float)) or ns <= 0:
			raise RunError(f"{path}: {name}: ns_per_op {ns!r} is not a time")
		if name in out:
			raise RunError(f"{path}: {name} twice (one repetition per round expected)")
		out[name] = (float(ns), float(mops) if isinstance(mops, (int, float)) else None)
	if not out:
		raise RunError(f"{path}: no benchmark records")
	return out


def collect(rounds, ram_gib):
	"""The compare file's benchmarks from rounds: [{side: (path, doc)}] in
	round order. Every round of both sides must have the same benchmarks."""
	per = {s: [] for s in compare.SIDES}
	for r in rounds:
		for side in compare.SIDES:
			path, doc = r[side]
			per[side].append(samples(doc, path, ram_gib))
	names = set(per["new"][0])
	for side in compare.SIDES:
		for i, got in enumerate(per[side]):
			if set(got) != names:
				diff = sorted(set(got) ^ names)
				raise RunError(f"round {i} {side}: benchmarks differ from round 0 new's: "
					       f"{', '.join(diff[:5])}")
	out = []
	for name in sorted(names):
		case, config, order, threads = parse_name(name)
		entry = {"name": name, "case": case, "config": config, "order": order,
			 "threads": threads}
		for side in compare.SIDES:
			entry[side] = {"ns_per_op": [got[name][0] for got in per[side]],
				       "mops_total": [got[name][1] for got in per[side]]}
		out.append(entry)
	return out


# --- running ------------------------------------------------------------------

def sides_in_order(k):
	"""Which binary runs first in round k: base in even rounds, new in odd."""
	return ("base", "new") if k % 2 == 0 else ("new", "base")


def bench_args(a, ram_gib, out):
	return [f"--bench_ram_gib={ram_gib}", f"--bench_threads={a.threads}",
		f"--benchmark_filter={a.filter}", f"--benchmark_min_time={a.min_time}",
		"--benchmark_repetitions=1", f"--benchmark_out={out}",
		"--benchmark_out_format=json"]


def run_one(a, side, binary, ram_gib, k, out, commits):
	cmd = [binary] + bench_args(a, ram_gib, out)
	print(f"bench-compare: {ram_gib} GiB, round {k + 1}/{a.rounds}: {side} "
	      f"({commits[side]})", flush=True)
	env = dict(os.environ, BENCH_COMMIT=commits[side])
	p = subprocess.run(cmd, env=env)
	if p.returncode != 0:
		raise RunError(f"{' '.join(map(shlex.quote, cmd))}: exit {p.returncode}")
	try:
		with open(out, encoding="utf-8") as f:
			return json.load(f)
	except (OSError, ValueError) as e:
		raise RunError(f"{out}: {e}") from None


def run_ram(a, ram_gib, commits):
	bins = {"base": a.base_bin, "new": a.new_bin}
	work = os.path.join(a.work_dir, f"{ram_gib}g")
	os.makedirs(work, exist_ok=True)
	rounds = []
	for k in range(a.rounds):
		r = {}
		for side in sides_in_order(k):
			out = os.path.join(work, f"round{k}-{side}.json")
			r[side] = (out, run_one(a, side, bins[side], ram_gib, k, out, commits))
		rounds.append(r)
	return rounds


# --- context ------------------------------------------------------------------

def git(*args):
	p = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
	return p.stdout.strip() if p.returncode == 0 else None


def head_commit():
	"""HEAD's short hash, -dirty if tracked files other than results/ differ
	(mk/bench.mk's BENCH_COMMIT rule)."""
	sha = git("rev-parse", "--short=7", "HEAD") or "unknown"
	dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", ".", ":!results"],
			       cwd=ROOT).returncode != 0
	return sha + ("-dirty" if dirty else "")


def context(a, ram_gib, rounds, commits):
	new_ctx = rounds[0]["new"][1].get("context", {})
	return {
		"base": commits["base_sha"],
		"base_subject": git("log", "-1", "--format=%s", commits["base_sha"]) or "",
		"head": commits["new"],
		"machine": new_ctx.get("machine", "unknown"),
		"host_cpus": new_ctx.get("host_cpus", str(os.cpu_count())),
		"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
		"ram_gib": ram_gib,
		"threads": a.threads,
		"rounds": a.rounds,
		"min_time": a.min_time,
		"filter": a.filter,
		"order": "base first in even rounds, new first in odd ones",
		"command": a.command or " ".join(map(shlex.quote, sys.argv)),
		"runner": " ".join(map(shlex.quote, sys.argv)),
	}


def write(a, ram_gib, doc):
	base = os.path.join(a.out_dir, f"compare-{ram_gib}g")
	for path, text in ((base + ".json", json.dumps(doc, indent=1) + "\n"),
			   (base + ".md", compare.markdown(doc, level=2))):
		with open(path + ".tmp", "w", encoding="utf-8") as f:
			f.write(text)
		os.replace(path + ".tmp", path)
	return base


# --- arguments ----------------------------------------------------------------

def ram_list(text):
	try:
		vals = [int(x) for x in text.split()]
	except ValueError:
		raise argparse.ArgumentTypeError(f"not a list of whole GiB: {text!r}") from None
	if not vals or any(not 1 <= v <= 1024 for v in vals) or len(set(vals)) != len(vals):
		raise argparse.ArgumentTypeError(f"want distinct sizes of 1..1024 GiB: {text!r}")
	return vals


def parse_args(argv):
	ap = argparse.ArgumentParser(prog="bench_compare.py", description=__doc__.split("\n")[0])
	ap.add_argument("--base-bin", required=True, help="the harness with BASE's allocator core")
	ap.add_argument("--new-bin", required=True, help="this tree's harness")
	ap.add_argument("--base", required=True, help="BASE's short hash (for the records)")
	ap.add_argument("--ram-gib", type=ram_list, default=[1, 20], help='arena sizes, "1 20"')
	ap.add_argument("--threads", type=thread_list, default="1,2,8")
	ap.add_argument("--rounds", type=positive, default=5)
	ap.add_argument("--filter", default=".", help="--benchmark_filter")
	ap.add_argument("--min-time", type=min_time, default="0.2", help="--benchmark_min_time")
	ap.add_argument("--out-dir", default="results")
	ap.add_argument("--work-dir", default="build/compare-runs",
			help="where each round's JSON goes")
	ap.add_argument("--command", default=None, help="the command line to record")
	a = ap.parse_args(argv)
	for b in (a.base_bin, a.new_bin):
		if not os.access(b, os.X_OK):
			ap.error(f"{b}: not an executable (make build-bench build-bench-base)")
	return a


def main(argv=None):
	a = parse_args(argv)
	commits = {"base_sha": a.base, "new": head_commit()}
	commits["base"] = f"{a.base} (allocator core; harness {commits['new']})"
	os.makedirs(a.out_dir, exist_ok=True)
	try:
		for ram in a.ram_gib:
			rounds = run_ram(a, ram, commits)
			doc = {"context": context(a, ram, rounds, commits),
			       "benchmarks": collect(rounds, ram)}
			compare.check(doc)
			base = write(a, ram, doc)
			print(f"bench-compare: wrote {base}.json and {base}.md", flush=True)
			sys.stdout.write(compare.markdown(doc, level=2))
	except (RunError, compare.CompareError) as e:
		print(f"bench_compare.py: error: {e}", file=sys.stderr)
		return 1
	return 0


if __name__ == "__main__":
	sys.exit(main())
