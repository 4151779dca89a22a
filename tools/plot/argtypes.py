# SPDX-License-Identifier: MIT
"""argparse value types the benchmark runners share (tools/bench_compare.py,
tools/bench_heap.py): each returns the value or raises ArgumentTypeError
with what was wrong, so a bad flag exits 2 with a message."""

import argparse


def thread_list(text):
	"""A comma-separated list of distinct thread counts 1..256 (MAX_CPUS);
	returned as given, for the benchmark's --bench_threads."""
	try:
		vals = [int(x) for x in text.split(",")]
	except ValueError:
		raise argparse.ArgumentTypeError(f"not a comma-separated list of thread counts: "
						 f"{text!r}") from None
	if not vals or any(not 1 <= v <= 256 for v in vals) or len(set(vals)) != len(vals):
		raise argparse.ArgumentTypeError(f"want distinct thread counts of 1..256: {text!r}")
	return text


def positive(text):
	try:
		v = int(text)
	except ValueError:
		raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
	if v < 1:
		raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
	return v


def power_of_two(text):
	v = positive(text)
	if v & (v - 1):
		raise argparse.ArgumentTypeError(f"not a power of two: {text!r}")
	return v


def min_time(text):
	"""Seconds, > 0; returned as given, for --benchmark_min_time."""
	try:
		v = float(text)
	except ValueError:
		raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
	if not v > 0:
		raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
	return text
