// SPDX-License-Identifier: MIT
/*
 * The host benchmark harness: bench.h over Google Benchmark.
 *
 * Every case of the bench_cases section (bench.h) is registered once per
 * configuration, argument and thread count, with ->Threads(n)
 * ->UseRealTime(). Each benchmark (case, configuration, argument, thread
 * count) starts on a freshly booted allocator (~20 ms); its runs and
 * repetitions share that boot. Each Google Benchmark thread is a CPU for
 * the run (bench/env.h). A run's threads share one struct run: thread 0
 * resets it before the start barrier; each thread merges its histogram,
 * operations and time into it after its body returned, and the last one
 * to do so turns the totals into the record's counters (Google Benchmark
 * sums counters over threads, so the others set none).
 *
 * The state loop: the first bench_keep_running() takes every iteration
 * Google Benchmark offers at once (KeepRunningBatch: its start barrier and
 * clock start), and bench.h's inline counter counts them down; the last
 * one reads this thread's clock and calls KeepRunning() once more, which
 * stops Google Benchmark's clock and waits at its stop barrier.
 *
 * Output: Google Benchmark's JSON (--benchmark_out=FILE
 * --benchmark_out_format=json) with the context keys commit (environment
 * variable BENCH_COMMIT), accel, host_cpus, machine, cycles_per_ns,
 * cycles_read_ns, bench_threads, lat_every, ram_mib (the machine's RAM:
 * --bench_ram_gib, or the default), ram_set_by ("--bench_ram_gib" or
 * "default") and malloc_lib (the file that defines this process's
 * malloc); on stdout one progress line per finished benchmark.
 * Exit status 1 if any run failed (bench_error, an environment failure),
 * 2 for bad arguments.
 */
#include <benchmark/benchmark.h>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include "bench/barrier.h"
#include "bench/bench.h"
#include "bench/env.h"
#include "bench/harness.h"

extern "C" {
extern const struct bench_case *const __start_bench_cases[];
extern const struct bench_case *const __stop_bench_cases[];
}

namespace {

/* One benchmark as registered: a case in a configuration with an argument. */
struct instance {
	const struct bench_case *c;
	std::string config;
	int64_t arg;
};

/*
 * Barrier waits yield (bench/barrier.h): with more threads than cores the
 * ones still to arrive need the CPU.
 */
void yield(void)
{
	sched_yield();
}

/*
 * What a run's threads share. [thread 0 resets it before the ready
 * barrier; the threads merge into it under mu]
 */
struct run {
	const instance *in;
	unsigned threads;
	bool failed; /* [atomic: __atomic builtins, as bench/barrier.c reads
			it] a thread called bench_error(): set once, read by
			every bench_barrier() wait */
	hbarrier bar; /* bench_barrier() */
	/* [mu] merged results */
	std::mutex mu;
	unsigned merged;
	uint64_t ops, timed_ns, lat_max;
	uint64_t first_start, last_end; /* the run's wall span */
	uint64_t lat[BENCH_LAT_BUCKETS];
};

/* A thread's harness state (bench_state.impl). */
struct thread {
	benchmark::State *gs;
	run *r;
	const instance *in;
	unsigned index, threads;
	bool running;      /* the clock runs (not paused) */
	uint64_t since;    /* when it last started */
	uint64_t start, end; /* when its loop started and ended */
	uint64_t timed_ns; /* time with the clock running, so far */
};

run the_run;
hbarrier ready; /* a run's threads wait there until its machine is ready */
std::atomic<unsigned> errors;
uint64_t ns_mult;      /* bench_state.ns_mult */
uint64_t lat_every = BENCH_LAT_EVERY; /* time one iteration in this many (bench.h) */
unsigned ram_gib;      /* --bench_ram_gib; 0: the environment's default */
double cycles_per_ns;  /* calibration */

void fail(const char *what)
{
	errors.fetch_add(1);
	std::fprintf(stderr, "bench: %s\n", what);
}

bool failed(const run &r)
{
	return __atomic_load_n(&r.failed, __ATOMIC_SEQ_CST);
}

thread *self(const struct bench_state *st)
{
	return static_cast<thread *>(st->impl);
}

/* ------------------------------------------------------------ calibration */

/* cycles() against the monotonic clock over ~50 ms. */
void calibrate(void)
{
	uint64_t n0 = bench_env_now_ns(), c0 = bench_env_cycles();
	struct timespec pause = { 0, 50 * 1000 * 1000 };

	nanosleep(&pause, nullptr);
	uint64_t n1 = bench_env_now_ns(), c1 = bench_env_cycles();
	cycles_per_ns = double(c1 - c0) / double(n1 - n0);
	ns_mult = uint64_t(double(1u << BENCH_NS_SHIFT) / cycles_per_ns);
}

/* What one cycles() read costs, in ns (latencies include about that). */
double cycles_read_ns(void)
{
	const unsigned n = 1000000;
	uint64_t t0 = bench_env_now_ns(), sink = 0;

	for (unsigned i = 0; i < n; i++)
		sink += bench_env_cycles();
	benchmark::DoNotOptimize(sink);
	return double(bench_env_now_ns() - t0) / n;
}

/* ---------------------------------------------------------- the results */

/* The last thread of a run: the record's counters from the merged totals. */
void report(benchmark::State &gs, const run &r)
{
	uint64_t n = 0;
	double max_ns = double(r.lat_max) / cycles_per_ns;

	for (uint64_t v : r.lat)
		n += v;
	gs.counters["ops"] = double(r.ops);
	gs.counters["lat_ops"] = double(n);
	/*
	 * Every record has every counter, zeros included: Google Benchmark
	 * computes the aggregates of repetitions from the first one's counter
	 * names, and a latency bucket that only a later repetition reached
	 * would be lost (or trip its checks).
	 */
	gs.counters["ns_per_op"] = r.ops > 0 ? double(r.timed_ns) / double(r.ops) : 0;
	gs.counters["mops_total"] = r.ops > 0 && r.last_end > r.first_start
		? double(r.ops) * 1e3 / double(r.last_end - r.first_start) : 0;
	/* A bucket's upper bound may exceed the largest latency: clamp. */
#define PERCENTILE(name, q) \
	gs.counters[name] = std::min(double(bench_percentile_ns(r.lat, n, q)), max_ns);
	BENCH_PERCENTILES(PERCENTILE)
#undef PERCENTILE
	gs.counters["max_ns"] = max_ns;
	for (unsigned k = 0; k < BENCH_LAT_BUCKETS; k++)
		gs.counters["lat_log2_ns_" + std::to_string(k)] = double(r.lat[k]);
}

void merge(benchmark::State &gs, run &r, const struct bench_state &st,
	   const thread &th)
{
	std::lock_guard<std::mutex> lock(r.mu);

	r.ops += st.ops;
	r.timed_ns += th.timed_ns;
	r.lat_max = std::max(r.lat_max, st.lat_max);
	if (th.start != 0) {
		r.first_start = std::min(r.first_start, th.start);
		r.last_end = std::max(r.last_end, th.end);
	}
	for (unsigned k = 0; k < BENCH_LAT_BUCKETS; k++)
		r.lat[k] += st.lat[k];
	if (++r.merged == r.threads)
		report(gs, r);
}

/* ------------------------------------------------------------ a run */

void reset(run &r, const instance *in, unsigned threads)
{
	r.in = in;
	r.threads = threads;
	__atomic_store_n(&r.failed, false, __ATOMIC_SEQ_CST);
	hbarrier_reset(&r.bar);
	r.merged = 0;
	r.ops = r.timed_ns = r.lat_max = 0;
	r.first_start = UINT64_MAX;
	r.last_end = 0;
	std::fill(std::begin(r.lat), std::end(r.lat), 0);
}

void run_instance(benchmark::State &gs, const instance *in)
{
	thread th = { &gs, &the_run, in, unsigned(gs.thread_index()),
		      unsigned(gs.threads()), false, 0, 0, 0, 0 };
	struct bench_state st = {};
	bool cpu = bench_env_cpu_enter();

	st.left = -1;
	st.ns_mult = ns_mult;
	st.lat_mask = lat_every - 1;
	st.impl = &th;
	if (th.index == 0) {
		static const instance *booted; /* [thread 0] */
		static unsigned booted_threads;

		reset(the_run, in, th.threads);
		if (cpu && (in != booted || th.threads != booted_threads)) {
			booted = nullptr;
			if (!bench_env_boot(in->config.c_str()))
				bench_error(&st, "cannot boot the configuration, "
					    "or the last benchmark left it "
					    "inconsistent (stderr says)");
			else
				booted = in, booted_threads = th.threads;
		}
	}
	/* Nobody touches the allocator or the run before it is ready. */
	hbarrier_wait(&ready, th.threads, nullptr, yield);
	if (!cpu)
		bench_error(&st, "no CPU id free");
	else if (!failed(the_run))
		in->c->run(&st);
	bench_end_loop(&st);
	merge(gs, the_run, st, th);
	if (cpu)
		bench_env_cpu_leave();
}

/* -------------------------------------------------------- progress */

/*
 * The display reporter: one line per benchmark finished, never a redraw
 * (a CI log stays readable), with the median ns_per_op of its
 * repetitions and an estimate of the time left.
 */
class progress : public benchmark::BenchmarkReporter {
public:
	explicit progress(unsigned total) : total_(total) {}

	bool ReportContext(const Context &) override
	{
		start_ = bench_env_now_ns();
		std::printf("bench: %u benchmarks\n", total_);
		std::fflush(stdout);
		return true;
	}

	void ReportRuns(const std::vector<Run> &runs) override
	{
		std::vector<double> ns;

		for (const Run &r : runs) {
			if (r.error_occurred) {
				errors.fetch_add(1);
				std::printf("bench: %s FAILED: %s\n",
					    r.benchmark_name().c_str(),
					    r.error_message.c_str());
			}
			auto it = r.counters.find("ns_per_op");
			if (r.run_type == Run::RT_Iteration &&
			    it != r.counters.end())
				ns.push_back(it->second.value);
			else if (r.aggregate_name == "median" &&
				 it != r.counters.end() && ns.empty())
				ns.push_back(it->second.value);
		}
		if (runs.empty() || runs[0].run_name.str() == last_)
			return;
		last_ = runs[0].run_name.str();
		done_++;
		std::sort(ns.begin(), ns.end());
		double med = ns.empty() ? 0 : ns.size() % 2 ? ns[ns.size() / 2]
			: (ns[ns.size() / 2 - 1] + ns[ns.size() / 2]) / 2;
		double spent = double(bench_env_now_ns() - start_) / 1e9;
		double left = done_ < total_ ? spent / done_ * (total_ - done_) : 0;
		char eta[32];

		if (left < 90)
			std::snprintf(eta, sizeof(eta), "%.0f s", left);
		else
			std::snprintf(eta, sizeof(eta), "%.0f min", left / 60);
		std::printf("[%u/%u] %s ... %.1f ns/op  (~%s left)\n", done_,
			    total_, last_.c_str(), med, eta);
		std::fflush(stdout);
	}

private:
	unsigned total_, done_ = 0;
	uint64_t start_ = 0;
	std::string last_;
};

/* ------------------------------------------------------------- setup */

std::vector<unsigned> thread_counts;
std::vector<instance> instances; /* never resized after registration */
std::vector<std::string> names;  /* every benchmark's full name */

/* 1, 2, 4, 8, and on to twice the CPUs where there are more than 4. */
void default_threads(void)
{
	unsigned top = std::max(8u, 2 * unsigned(sysconf(_SC_NPROCESSORS_ONLN)));

	for (unsigned t = 1; t <= top; t *= 2)
		thread_counts.push_back(t);
}

bool parse_threads(const char *s)
{
	thread_counts.clear();
	while (*s != '\0') {
		char *end;
		unsigned long v = std::strtoul(s, &end, 10);

		if (end == s || v < 1 || v > 256 || (*end != ',' && *end != '\0'))
			return false;
		thread_counts.push_back(unsigned(v));
		s = *end == ',' ? end + 1 : end;
	}
	return !thread_counts.empty();
}

/*
 * --bench_ram_gib: whole GiB, 1..1024, digits only (strtoul would take
 * "+8", " 8" and "-1", the last as a huge number).
 */
bool parse_ram_gib(const char *s, unsigned *out)
{
	unsigned v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + unsigned(*s - '0');
		if (v > 1024)
			return false;
	}
	if (v < 1)
		return false;
	*out = v;
	return true;
}

bool parse_power_of_two(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = std::strtoull(s, &end, 10);

	if (end == s || *end != '\0' || v == 0 || v > (1u << 20) ||
	    (v & (v - 1)) != 0)
		return false;
	*out = v;
	return true;
}

/*
 * Whether --bench_ram_gib (if given) holds the most threads any run has;
 * if not, says so. Checked before anything runs: too small, a case would
 * fail mid-run with a bare E_NOMEM.
 */
bool ram_fits(unsigned max_threads)
{
	uint64_t min = bench_env_min_ram(max_threads);

	if (ram_gib == 0 || (uint64_t(ram_gib) << 30) >= min)
		return true;
	std::fprintf(stderr, "bench: --bench_ram_gib=%u is too small for %u "
		     "threads: they need at least %llu GiB (%llu MiB a thread "
		     "and room; fewer threads with --bench_threads, or more "
		     "RAM)\n", ram_gib, max_threads,
		     (unsigned long long)((min + (UINT64_C(1) << 30) - 1) >> 30),
		     (unsigned long long)(BENCH_BYTES_PER_THREAD >> 20));
	return false;
}

void help(void)
{
	benchmark::PrintDefaultHelp();
	std::fprintf(stdout,
		"          [--bench_threads=N,N,...]  (default 1,2,4,8 and up "
		"to twice the CPUs)\n"
		"          [--bench_lat_every=N]  (time one iteration in N, a "
		"power of two; default 16)\n"
		"          [--bench_ram_gib=N]  (the machine's RAM in GiB, "
		"1..1024; default max(8, threads/4 + 1); too small for the\n"
		"            most threads is refused)\n");
}

void register_all(void)
{
	std::vector<std::string> configs;

	for (auto p = __start_bench_cases; p < __stop_bench_cases; p++)
		for (auto c = (*p)->configs; *c != nullptr; c++) {
			if (!bench_env_config_known(*c)) {
				std::fprintf(stderr, "bench: %s: unknown "
					     "configuration %s\n", (*p)->name, *c);
				std::exit(2);
			}
			if (std::find(configs.begin(), configs.end(), *c) ==
			    configs.end())
				configs.push_back(*c);
		}
	for (const std::string &config : configs)
		for (auto p = __start_bench_cases; p < __stop_bench_cases; p++)
			for (auto c = (*p)->configs; *c != nullptr; c++)
				if (config == *c)
					for (unsigned a = 0; a < (*p)->nargs; a++)
						instances.push_back({ *p, config,
								      (*p)->args[a] });
	for (const instance &in : instances) {
		std::string name = std::string(in.c->name) + "/" + in.config +
				   "/" + in.c->arg_name + ":" +
				   std::to_string(in.arg);
		auto *b = benchmark::RegisterBenchmark(name.c_str(),
						       run_instance, &in);

		for (unsigned t : thread_counts) {
			b->Threads(int(t));
			names.push_back(name + "/real_time/threads:" +
					std::to_string(t));
		}
		b->UseRealTime();
	}
}

/* How many benchmarks --benchmark_filter selects (for the progress line). */
unsigned selected(void)
{
	std::string spec = benchmark::GetBenchmarkFilter();
	bool negate = false;
	unsigned n = 0;

	if (spec.empty() || spec == "all")
		spec = ".";
	if (spec[0] == '-') {
		negate = true;
		spec.erase(0, 1);
	}
	std::regex re(spec, std::regex::extended);
	for (const std::string &name : names)
		n += std::regex_search(name, re) != negate;
	return n;
}

std::string machine(void)
{
	std::ifstream f("/proc/cpuinfo");
	std::string line;

	while (std::getline(f, line))
		if (line.rfind("model name", 0) == 0) {
			auto colon = line.find(':');
			return line.substr(line.find_first_not_of(" \t", colon + 1));
		}
	return "unknown";
}

void add_context(void)
{
	const char *commit = std::getenv("BENCH_COMMIT");
	char buf[64];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	benchmark::AddCustomContext("commit", commit ? commit : "unknown");
	benchmark::AddCustomContext("accel", "host");
	benchmark::AddCustomContext("host_cpus", std::to_string(cpus));
	benchmark::AddCustomContext("machine", machine() + ", " +
				    std::to_string(cpus) + " CPUs");
	std::snprintf(buf, sizeof(buf), "%.4f", cycles_per_ns);
	benchmark::AddCustomContext("cycles_per_ns", buf);
	std::snprintf(buf, sizeof(buf), "%.2f", cycles_read_ns());
	benchmark::AddCustomContext("cycles_read_ns", buf);
	std::string threads;
	for (unsigned t : thread_counts)
		threads += (threads.empty() ? "" : ",") + std::to_string(t);
	benchmark::AddCustomContext("bench_threads", threads);
	benchmark::AddCustomContext("lat_every", std::to_string(lat_every));
	/* Whose malloc this process runs (the heap suite's baselines are
	   one binary per malloc library: bench/heap/malloc.c). */
	benchmark::AddCustomContext("malloc_lib", bench_env_malloc_lib());
	/* Which arena a figure is of: the upper-order maps, and so the
	   buddy's contention, grow with it (issue 11 compares 1 and 20 GiB). */
	benchmark::AddCustomContext("ram_mib",
				    std::to_string(bench_env_ram() >> 20));
	benchmark::AddCustomContext("ram_set_by", ram_gib != 0
				    ? "--bench_ram_gib" : "default");
}

} // namespace

/* ------------------------------------------------------------ bench.h */

bool bench_loop_edge(struct bench_state *st)
{
	thread *th = self(st);
	run &r = *th->r;

	if (st->left == -2)
		return false;
	if (st->left < 0) {
		/* Start: Google Benchmark's start barrier, then our clock. */
		if (th->gs->KeepRunningBatch(th->gs->max_iterations)) {
			if (!failed(r) &&
			    bench_env_irq_start(th->in->c->irq, BENCH_IRQ_PERIOD_NS)) {
				st->left = int64_t(th->gs->max_iterations) - 1;
				st->timing = true; /* the first: always */
				th->running = true;
				th->since = th->start = bench_env_now_ns();
				return true;
			}
			if (!failed(r))
				bench_error(st, "cannot start the timer");
			th->gs->KeepRunning(); /* returns false: the stop barrier */
		}
		st->left = -2;
		return false;
	}
	/* End: our clock, then Google Benchmark's, then its stop barrier. */
	th->end = bench_env_now_ns();
	if (th->running)
		th->timed_ns += th->end - th->since;
	else if (!th->gs->error_occurred())
		th->gs->ResumeTiming(); /* FinishKeepRunning() pauses it */
	th->running = false;
	bench_env_irq_stop();
	th->gs->KeepRunning();
	st->left = -2;
	return false;
}

int64_t bench_arg(const struct bench_state *st, unsigned i)
{
	return i == 0 ? self(st)->in->arg : 0;
}

unsigned bench_thread(const struct bench_state *st)
{
	return self(st)->index;
}

unsigned bench_threads(const struct bench_state *st)
{
	return self(st)->threads;
}

void bench_pause(struct bench_state *st)
{
	thread *th = self(st);

	if (!th->running)
		return;
	th->timed_ns += bench_env_now_ns() - th->since;
	th->running = false;
	if (!th->gs->error_occurred()) /* else Google Benchmark aborts */
		th->gs->PauseTiming();
}

void bench_resume(struct bench_state *st)
{
	thread *th = self(st);

	if (th->running || st->left < 0)
		return;
	if (!th->gs->error_occurred())
		th->gs->ResumeTiming();
	th->running = true;
	th->since = bench_env_now_ns();
}

bool bench_barrier(struct bench_state *st)
{
	thread *th = self(st);

	return hbarrier_wait(&th->r->bar, th->threads, &th->r->failed, yield);
}

void bench_counter(struct bench_state *st, const char *name, uint64_t value)
{
	benchmark::State &gs = *self(st)->gs;

	gs.counters[name] = gs.counters[name].value + double(value);
}

void bench_error(struct bench_state *st, const char *msg)
{
	thread *th = self(st);

	__atomic_store_n(&th->r->failed, true, __ATOMIC_SEQ_CST);
	if (!th->gs->error_occurred())
		th->gs->SkipWithError(msg);
	if (st->left > 0)
		st->left = 0;
	errors.fetch_add(1);
}

int main(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv, help);
	default_threads();
	for (int i = 1; i < argc; i++) {
		const char *threads = "--bench_threads=", *every = "--bench_lat_every=",
			   *ram = "--bench_ram_gib=";
		size_t nt = std::strlen(threads), ne = std::strlen(every),
		       nr = std::strlen(ram);

		if (std::strncmp(argv[i], threads, nt) == 0 &&
		    parse_threads(argv[i] + nt))
			continue;
		if (std::strncmp(argv[i], every, ne) == 0 &&
		    parse_power_of_two(argv[i] + ne, &lat_every))
			continue;
		if (std::strncmp(argv[i], ram, nr) == 0 &&
		    parse_ram_gib(argv[i] + nr, &ram_gib))
			continue;
		std::fprintf(stderr, "bench: bad argument %s (--help lists "
			     "them)\n", argv[i]);
		return 2;
	}
	unsigned max_threads = *std::max_element(thread_counts.begin(),
						 thread_counts.end());
	if (!ram_fits(max_threads))
		return 2;
	if (!bench_env_init(max_threads, uint64_t(ram_gib) << 30))
		return 1;
	calibrate();
	register_all();
	add_context();

	progress display(selected());
	if (benchmark::RunSpecifiedBenchmarks(&display) == 0) {
		std::fprintf(stderr, "bench: no benchmark matches the filter\n");
		return 2;
	}
	benchmark::Shutdown();
	if (!bench_env_fini())
		fail("the allocator failed its final check");
	if (errors.load() != 0) {
		std::fprintf(stderr, "bench: %u failures\n", errors.load());
		return 1;
	}
	return 0;
}
