// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * lh-bench: how fast leakhound's Go symbolizer is, on one core.
 *   usage: lh-bench [-n LOOKUPS] [BINARY]
 * BINARY defaults to the Go compiler ($(go env GOTOOLDIR)/compile), the largest Go
 * binary usually at hand. Prints the time to open and index it, lookups per
 * second (gosym__func_by_pc + gosym__frames) on a fresh index (each function's
 * first lookup), uncached (no pc cache) for PCs drawn two ways, cached over a
 * repeating working set, and memory. Rates are the best of RATE_RUNS runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "elfbin.h"
#include "gosym.h"

#define OPEN_RUNS 10
#define WORKING_SET 4096
/* Lookup rates are the best of this many runs: other load only slows a run down. */
#define RATE_RUNS 3

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long peak_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* xorshift64*: reproducible PCs without libc's rand() state */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 2685821657736338717ull;
}

static int default_binary(char *buf, size_t len)
{
	static const char *const cmds[] = { "/usr/local/go/bin/go env GOTOOLDIR 2>/dev/null",
					    "go env GOTOOLDIR 2>/dev/null" };

	for (size_t i = 0; i < 2; i++) {
		FILE *p = popen(cmds[i], "r");
		char dir[4096];
		int ok = p && fgets(dir, sizeof(dir), p);

		if (p)
			pclose(p);
		if (!ok)
			continue;
		dir[strcspn(dir, "\n")] = 0;
		snprintf(buf, len, "%s/compile", dir);
		if (access(buf, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static int open_both(const char *path, struct elfbin **eb, struct gosym **gs)
{
	*eb = elfbin__open(path);
	if (!*eb)
		return -errno;
	*gs = gosym__open(*eb);
	if (!*gs) {
		int err = -errno;

		elfbin__free(*eb);
		return err;
	}
	return 0;
}

/* Best and first of OPEN_RUNS opens (elfbin__open + gosym__open), in ms. */
static int bench_open(const char *path, double *first, double *best)
{
	*best = 1e9;
	for (int i = 0; i < OPEN_RUNS; i++) {
		struct elfbin *eb;
		struct gosym *gs;
		double t = now(), dt;
		int err = open_both(path, &eb, &gs);

		if (err)
			return err;
		dt = (now() - t) * 1e3;
		if (i == 0)
			*first = dt;
		if (dt < *best)
			*best = dt;
		gosym__free(gs);
		elfbin__free(eb);
	}
	return 0;
}

/* PCs: by_bytes draws uniformly over text (big functions weigh more), else a
 * uniform function, then a uniform offset in it. */
static void fill_pcs(const struct gosym *gs, uint64_t *pcs, size_t n, int by_bytes)
{
	const struct gosym_info *in = gosym__info(gs);
	uint32_t nf = gosym__func_count(gs);
	struct gosym_func fn;

	for (size_t i = 0; i < n; i++) {
		if (by_bytes) {
			pcs[i] = in->text + rnd() % (in->etext - in->text);
			continue;
		}
		gosym__func_at(gs, rnd() % nf, &fn);
		pcs[i] = fn.entry + (fn.end > fn.entry ? rnd() % (fn.end - fn.entry) : 0);
	}
}

static double bench_uncached_once(const struct gosym *gs, const uint64_t *pcs, size_t n,
				  double *frames_per)
{
	struct gosym_frame fr[64];
	struct gosym_func fn;
	uint64_t frames = 0;
	double t = now();

	for (size_t i = 0; i < n; i++) {
		int k;

		if (gosym__func_by_pc(gs, pcs[i], &fn))
			continue;
		k = gosym__frames(gs, pcs[i], fr, 64);
		frames += k > 0 ? k : 0;
	}
	t = now() - t;
	*frames_per = (double)frames / n;
	return n / t;
}

static double bench_uncached(const struct gosym *gs, const uint64_t *pcs, size_t n,
			     double *frames_per)
{
	double best = 0;

	for (int i = 0; i < RATE_RUNS; i++) {
		double r = bench_uncached_once(gs, pcs, n, frames_per);

		best = r > best ? r : best;
	}
	return best;
}

static double bench_cached_once(const struct gosym *gs, const uint64_t *set, size_t n,
				double *hit_rate)
{
	struct gosym_cache *c = gosym_cache__new(gs, 4 * WORKING_SET);
	struct gosym_frame fr[64];
	uint64_t hits, lookups;
	double t;

	if (!c)
		return 0;
	t = now();
	for (size_t i = 0; i < n; i++)
		gosym_cache__frames(c, set[rnd() % WORKING_SET], fr, 64);
	t = now() - t;
	gosym_cache__stats(c, &hits, &lookups);
	*hit_rate = lookups ? (double)hits / lookups : 0;
	gosym_cache__free(c);
	return n / t;
}

/*
 * Every function once, in random order, on a fresh index: each big function's
 * first lookup walks its tables in full to build checkpoints.
 */
static double bench_cold(const char *path, uint64_t *pcs, size_t *n, size_t *mem)
{
	struct gosym_frame fr[64];
	struct elfbin *eb;
	struct gosym *gs;
	double t;
	size_t nf;

	if (open_both(path, &eb, &gs))
		return 0;
	nf = gosym__func_count(gs);
	if (nf > *n)
		nf = *n;
	fill_pcs(gs, pcs, nf, 0);
	t = now();
	for (size_t i = 0; i < nf; i++)
		gosym__frames(gs, pcs[i], fr, 64);
	t = now() - t;
	*n = nf;
	*mem = gosym__memory(gs);
	gosym__free(gs);
	elfbin__free(eb);
	return nf / t;
}

/* RssAnon and RssFile of /proc/self/status, in KiB. */
static void rss_split(long *anon, long *file)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	*anon = *file = -1;
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "RssAnon: %ld", anon);
		sscanf(line, "RssFile: %ld", file);
	}
	if (f)
		fclose(f);
}

static double bench_cached(const struct gosym *gs, const uint64_t *set, size_t n,
			   double *hit_rate)
{
	double best = 0;

	for (int i = 0; i < RATE_RUNS; i++) {
		double r = bench_cached_once(gs, set, n, hit_rate);

		best = r > best ? r : best;
	}
	return best;
}

static void bench_names(struct gosym *gs)
{
	static const char *const names[] = {
		"runtime.mallocgc", "runtime.newproc1", "runtime.profilealloc",
		"runtime.gcStart",  "main.main",
	};
	struct gosym_func fn;
	double t = now(), build, per;
	int found = 0;

	gosym__func_by_name(gs, names[0], &fn);
	build = (now() - t) * 1e3;
	t = now();
	for (int i = 0; i < 100000; i++)
		found += gosym__func_by_name(gs, names[i % 5], &fn) == 0;
	per = (now() - t) / 100000 * 1e9;
	printf("func_by_name:       first call (builds the index) %.2f ms, then %.0f ns "
	       "per lookup (%d/5 names found)\n", build, per, found / 20000);
}

static void usage(void)
{
	fprintf(stderr, "usage: lh-bench [-n LOOKUPS] [BINARY]\n");
}

static int run(const char *path, size_t n)
{
	struct elfbin *eb = NULL;
	struct gosym *gs = NULL;
	uint64_t *pcs = calloc(n, sizeof(*pcs));
	double first = 0, best = 0, fpl = 0, hit = 0, rate;
	size_t ncold = n, mem = 0;
	long anon, file;
	int err = pcs ? bench_open(path, &first, &best) : -ENOMEM;

	if (err || (err = open_both(path, &eb, &gs)))
		goto cleanup;
	printf("binary:             %s (%u functions, pclntab %.1f MiB, %s)\n", path,
	       gosym__func_count(gs), gosym__info(gs)->pclntab_size / 1048576.0,
	       gosym__info(gs)->pclntab_how);
	printf("open + index:       %.2f ms first, %.2f ms best of %d\n", first, best, OPEN_RUNS);
	printf("rss after open:     %ld KiB peak; index %zu KiB\n", peak_rss_kib(),
	       gosym__memory(gs) / 1024);
	rate = bench_cold(path, pcs, &ncold, &mem);
	printf("cold lookups:       %.2f M/s (each of %zu functions once, fresh index; index "
	       "then %zu KiB)\n", rate / 1e6, ncold, mem / 1024);
	fill_pcs(gs, pcs, n, 0);
	rate = bench_uncached(gs, pcs, n, &fpl);
	printf("uncached lookups:   %.2f M/s (uniform function, uniform offset; "
	       "%.2f frames each)\n", rate / 1e6, fpl);
	fill_pcs(gs, pcs, n, 1);
	rate = bench_uncached(gs, pcs, n, &fpl);
	printf("uncached lookups:   %.2f M/s (uniform over text bytes; %.2f frames each)\n",
	       rate / 1e6, fpl);
	rate = bench_cached(gs, pcs, n, &hit);
	printf("cached lookups:     %.2f M/s (%d-PC working set, %.1f%% hits)\n", rate / 1e6,
	       WORKING_SET, hit * 100);
	bench_names(gs);
	rss_split(&anon, &file);
	printf("memory:             index %zu KiB after %zu lookups; peak rss %ld KiB (now "
	       "%ld KiB file pages, %ld KiB anonymous, %zu KiB of it the bench's PC array)\n",
	       gosym__memory(gs) / 1024, 2 * n, peak_rss_kib(), file, anon,
	       n * sizeof(*pcs) / 1024);
cleanup:
	if (err)
		fprintf(stderr, "lh-bench: %s: %s\n", path, strerror(-err));
	gosym__free(gs);
	elfbin__free(eb);
	free(pcs);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	size_t n = 2000000;
	char path[4200];
	int c;

	while ((c = getopt(argc, argv, "n:h")) != -1) {
		switch (c) {
		case 'n':
			n = strtoul(optarg, NULL, 0);
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind < argc) {
		snprintf(path, sizeof(path), "%s", argv[optind]);
	} else if (default_binary(path, sizeof(path))) {
		fprintf(stderr, "lh-bench: no Go toolchain found; pass a Go BINARY\n");
		return 1;
	}
	if (n < WORKING_SET)
		n = WORKING_SET;
	return run(path, n);
}
