// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the leak-verdict model (src/model.c) on synthetic sites. Each
 * site is simulated object by object: allocations of a fixed size, each sampled
 * with the runtime's probability 1 - exp(-size/rate) (mallocgc's Poisson
 * sampling), kept or freed by the site's shape, and reported once per GC-aligned
 * window as the tracer would: live samples, live bytes and objects scaled like
 * pprof, the allocation total, the age of the oldest live sample.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "test.h"

#define MAX_LIVE 200000

/* xorshift64*: a fixed sequence per seed, so every run sees the same series */
static uint64_t rng_state;

static double uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) / (double)(1ull << 53);
}

enum shape { LEAK, CHURN, PLATEAU, SPIKE, LEAK_THEN_STOP };

struct sim {
	enum shape shape;
	double size;	    /* object size, bytes */
	double rate;	    /* sampling rate, bytes per sample */
	double alloc_per_s; /* objects allocated per second */
	uint32_t cap;	    /* live objects kept at most (churn, plateau) */
	double stop_s;	    /* LEAK_THEN_STOP: no more leaks after this time */
	double spike_s;	    /* SPIKE: when the one batch is made */
	uint32_t spike_n;
	/* live sampled objects, a FIFO of birth times (oldest first) */
	double *birth;
	uint32_t head, n;
	uint64_t live_objs; /* all live objects, sampled or not */
	uint64_t alloc_samples;
};

static double p_sample(const struct sim *s)
{
	return s->rate <= 1 ? 1 : 1 - exp(-s->size / s->rate);
}

static void drop_oldest(struct sim *s)
{
	/* one live object dies: the oldest; it is a sampled one as often as sampled
	 * objects are among the live */
	if (s->n && uniform() < (double)s->n / s->live_objs) {
		s->head = (s->head + 1) % MAX_LIVE;
		s->n--;
	}
	s->live_objs--;
}

static void alloc_one(struct sim *s, double t)
{
	if (s->live_objs >= s->cap && s->live_objs)
		drop_oldest(s);
	s->live_objs++;
	if (uniform() < p_sample(s) && s->n < MAX_LIVE) {
		s->birth[(s->head + s->n) % MAX_LIVE] = t;
		s->n++;
		s->alloc_samples++;
	}
}

/* Advances the site by dt seconds from t. */
static void run(struct sim *s, double t, double dt)
{
	double n = s->alloc_per_s * dt;

	if (s->shape == LEAK_THEN_STOP && t >= s->stop_s)
		n = 0;
	if (s->shape == SPIKE && t <= s->spike_s && s->spike_s < t + dt) {
		for (uint32_t i = 0; i < s->spike_n; i++) {
			s->cap++;
			alloc_one(s, t);
		}
	}
	for (uint64_t i = 0; i < (uint64_t)n; i++)
		alloc_one(s, t + dt * i / n);
}

static void observe(struct model *m, struct sim *s, uint64_t id, uint32_t gc, double t)
{
	double scale = 1 / p_sample(s);
	double age = s->n ? t - s->birth[s->head] : 0;

	model__observe(m, id, gc, (uint64_t)(t * 1e9), (uint64_t)(s->n * s->size * scale),
		       (uint64_t)(s->n * scale), (uint64_t)(s->alloc_samples * s->size * scale),
		       (uint64_t)(age * 1e9), s->n);
}

static void sim_init(struct sim *s, enum shape shape, double size, double rate, double per_s,
		     uint32_t cap)
{
	memset(s, 0, sizeof(*s));
	s->shape = shape;
	s->size = size;
	s->rate = rate;
	s->alloc_per_s = per_s;
	s->cap = cap;
	s->birth = calloc(MAX_LIVE, sizeof(double));
}

/* Runs one site through `windows` windows of `win` seconds, one GC each. */
static enum model_verdict simulate(struct sim *s, int windows, double win, struct suspect *out)
{
	struct model *m = model__new(NULL);
	enum model_verdict v;

	for (int w = 0; w < windows; w++) {
		run(s, w * win, win);
		observe(m, s, 42, w + 1, (w + 1) * win);
		model__close_window(m, w + 1, (uint64_t)((w + 1) * win * 1e9));
	}
	v = model__judge(m, 42, out);
	model__free(m);
	free(s->birth);
	return v;
}

static void test_linear_leak(void)
{
	struct suspect su;
	struct sim s;
	double want = 1 << 20; /* bytes/s */
	enum model_verdict v;

	/* exact mode (rate 1): every allocation is a sample */
	rng_state = 1;
	sim_init(&s, LEAK, 1024, 1, want / 1024, UINT32_MAX);
	v = simulate(&s, 12, 10, &su);
	CHECK(v == VERDICT_SUSPECT, "leak, rate 1: %s", model_verdict_name(v));
	CHECK(fabs(su.growth_per_s / want - 1) < 0.01, "leak, rate 1: growth %.0f B/s, want %.0f",
	      su.growth_per_s, want);
	CHECK(su.windows == 6 && su.oldest_age_s > 100, "leak, rate 1: %u windows, oldest %.0f s",
	      su.windows, su.oldest_age_s);
	CHECK(su.confidence > 0.9, "leak, rate 1: confidence %.2f", su.confidence);

	/* sampled at 16 KiB: ~3800 samples over the fit */
	for (uint64_t seed = 1; seed <= 5; seed++) {
		rng_state = seed * 7919;
		sim_init(&s, LEAK, 1024, 16384, want / 1024, UINT32_MAX);
		v = simulate(&s, 12, 10, &su);
		CHECK(v == VERDICT_SUSPECT && fabs(su.growth_per_s / want - 1) < 0.05,
		      "leak, rate 16 KiB, seed %lu: %s, growth %.0f B/s (%+.1f%%), confidence %.2f",
		      seed, model_verdict_name(v), su.growth_per_s,
		      100 * (su.growth_per_s / want - 1), su.confidence);
	}

	/* the runtime's default 512 KiB: ~120 samples over the fit, within 25% */
	for (uint64_t seed = 1; seed <= 5; seed++) {
		rng_state = seed * 104729;
		sim_init(&s, LEAK, 1024, 512 * 1024, want / 1024, UINT32_MAX);
		v = simulate(&s, 12, 10, &su);
		CHECK(v == VERDICT_SUSPECT && fabs(su.growth_per_s / want - 1) < 0.25,
		      "leak, rate 512 KiB, seed %lu: %s, growth %.0f B/s (%+.1f%%), confidence "
		      "%.2f",
		      seed, model_verdict_name(v), su.growth_per_s,
		      100 * (su.growth_per_s / want - 1), su.confidence);
	}
}

static void test_not_suspects(void)
{
	struct suspect su;
	struct sim s;
	enum model_verdict v;

	for (uint64_t seed = 1; seed <= 5; seed++) {
		/* churn: 10 MB/s through a live set of 2000 x 1 KiB */
		rng_state = seed;
		sim_init(&s, CHURN, 1024, 16384, 10000, 2000);
		v = simulate(&s, 12, 10, &su);
		CHECK(v != VERDICT_SUSPECT, "churn, seed %lu: %s (growth %.0f B/s, alloc %lu)",
		      seed, model_verdict_name(v), su.growth_per_s, su.alloc_bytes);

		/* plateau: a cache of 50000 x 1 KiB filled in 25 s, then replaced LRU */
		rng_state = seed;
		sim_init(&s, PLATEAU, 1024, 16384, 2000, 50000);
		v = simulate(&s, 12, 10, &su);
		CHECK(v != VERDICT_SUSPECT, "plateau, seed %lu: %s (growth %.0f B/s)", seed,
		      model_verdict_name(v), su.growth_per_s);

		/* spike: 100 MB kept at once at 35 s, light churn around it */
		rng_state = seed;
		sim_init(&s, SPIKE, 1024, 16384, 100, 100);
		s.spike_s = 35;
		s.spike_n = 100000;
		v = simulate(&s, 9, 10, &su);
		CHECK(v != VERDICT_SUSPECT, "spike, seed %lu: %s (growth %.0f B/s)", seed,
		      model_verdict_name(v), su.growth_per_s);

		/* a leak that stopped: suspect while it ran, not once the fit is past it */
		rng_state = seed;
		sim_init(&s, LEAK_THEN_STOP, 1024, 16384, 1000, UINT32_MAX);
		s.stop_s = 60;
		v = simulate(&s, 6, 10, &su);
		CHECK(v == VERDICT_SUSPECT, "leak until 60 s, seed %lu, at 60 s: %s", seed,
		      model_verdict_name(v));
		rng_state = seed;
		sim_init(&s, LEAK_THEN_STOP, 1024, 16384, 1000, UINT32_MAX);
		s.stop_s = 60;
		v = simulate(&s, 14, 10, &su);
		CHECK(v != VERDICT_SUSPECT, "leak stopped at 60 s, seed %lu: %s", seed,
		      model_verdict_name(v));
	}
}

/* A small leak at the default rate: a handful of samples that noise can explain. */
static void test_low_samples(void)
{
	struct suspect su;
	struct sim s;
	enum model_verdict v;
	int suspects = 0;

	for (uint64_t seed = 1; seed <= 20; seed++) {
		/* 8 KiB/s at 512 KiB: ~1 sample per 6.5 s, ~9 over the fit */
		rng_state = seed * 31;
		sim_init(&s, LEAK, 1024, 512 * 1024, 8, UINT32_MAX);
		v = simulate(&s, 12, 10, &su);
		suspects += v == VERDICT_SUSPECT;
		/* a flat site of ~3 samples that come and go */
		rng_state = seed * 37;
		sim_init(&s, CHURN, 1024, 512 * 1024, 200, 1500);
		v = simulate(&s, 12, 10, &su);
		CHECK(v != VERDICT_SUSPECT, "flat site of %lu samples, seed %lu: %s", su.samples,
		      seed, model_verdict_name(v));
	}
	/* ~9 samples of growth are within 3 sigma of noise: never a suspect; at rate
	 * 16 KiB (32x the samples) the same leak is found */
	CHECK(suspects == 0, "leak of ~9 samples: %d of 20 seeds suspect", suspects);
	rng_state = 5;
	sim_init(&s, LEAK, 1024, 16384, 8, UINT32_MAX);
	v = simulate(&s, 12, 10, &su);
	CHECK(v == VERDICT_SUSPECT, "the same leak at 16 KiB: %s, %.0f B/s", model_verdict_name(v),
	      su.growth_per_s);
}

/* Windows that end without a completed GC add no point. */
static void test_no_gc_windows(void)
{
	struct model *m = model__new(NULL);
	struct suspect su;
	uint32_t points, skipped;
	uint32_t gc = 0;
	int err, eagain = 0;

	/* a leak of 10 KiB/s (exact counts); a GC only every third window */
	for (int w = 1; w <= 30; w++) {
		uint64_t t = w * 10ull * 1000000000;
		uint64_t live = w * 102400;

		if (w % 3 == 0)
			gc++;
		model__observe(m, 7, gc, t, live, live / 1024, live, t, live / 1024);
		err = model__close_window(m, gc, t);
		eagain += err == -EAGAIN;
	}
	model__windows(m, &points, &skipped);
	/* windows 1 and 2 end before the first GC ever: no point either */
	CHECK(eagain == 20 && skipped == 20 && points == 10,
	      "30 windows, 10 GCs: %d -EAGAIN, %u points, %u skipped", eagain, points, skipped);
	CHECK(model__judge(m, 7, &su) == VERDICT_SUSPECT && su.windows == 6,
	      "leak seen through GCs only: %u windows", su.windows);
	CHECK(fabs(su.growth_per_s / 10240 - 1) < 0.01, "growth %.0f B/s, want 10240",
	      su.growth_per_s);
	CHECK(model__close_window(m, gc - 1, 400ull * 1000000000) == -EINVAL,
	      "GC cycle going back: -EINVAL");
	model__free(m);

	/* no GC at all: never a point, never a verdict */
	m = model__new(NULL);
	for (int w = 1; w <= 10; w++) {
		model__observe(m, 9, 5, w * 1000000000ull, w * 1000000ull, w, w * 1000000ull,
			       w * 1000000000ull, w * 100);
		model__close_window(m, 5, w * 1000000000ull);
	}
	CHECK(model__judge(m, 9, &su) == VERDICT_FEW_WINDOWS && su.windows == 1,
	      "one GC in 10 windows: %s, %u windows", model_verdict_name(model__judge(m, 9, NULL)),
	      su.windows);
	model__free(m);
}

/* Growth carried by young objects only (a queue that lengthens with load) is not a
 * leak; and a site that stops being observed has nothing live. */
static void test_young_and_gone(void)
{
	struct model *m = model__new(NULL);
	struct suspect su;
	enum model_verdict v;

	for (int w = 1; w <= 8; w++) {
		uint64_t t = w * 10000000000ull, live = w * 10000000ull;

		model__observe(m, 1, w, t, live, live / 1000, 10 * live, 5000000000ull,
			       live / 1000);
		if (w <= 6)
			model__observe(m, 2, w, t, live, live / 1000, live, t, live / 1000);
		model__close_window(m, w, t);
		if (w == 6)
			CHECK(model__judge(m, 2, NULL) == VERDICT_SUSPECT, "site 2 grows: suspect");
	}
	v = model__judge(m, 1, &su);
	CHECK(v == VERDICT_YOUNG, "growth of 5 s old objects: %s (oldest %.0f s)",
	      model_verdict_name(v), su.oldest_age_s);
	v = model__judge(m, 2, &su);
	CHECK(v != VERDICT_SUSPECT && su.live == 0, "site 2 unobserved for 2 windows: %s, live %lu",
	      model_verdict_name(v), su.live);
	model__free(m);
}

static void test_api(void)
{
	struct model_opts o;
	struct model *m;
	struct suspect out[4];
	int n;

	model_opts__default(&o);
	o.windows = 64;
	errno = 0;
	CHECK(!model__new(&o) && errno == EINVAL, "64 windows refused with EINVAL");
	model_opts__default(&o);
	o.max_sites = 3;
	m = model__new(&o);
	CHECK(m != NULL, "model__new");
	if (!m)
		return;
	for (uint64_t id = 0; id < 3; id++)
		model__observe(m, id, 1, 0, 0, 0, 0, 0, 0);
	CHECK(model__observe(m, 99, 1, 0, 0, 0, 0, 0, 0) == -ENOSPC, "max_sites: -ENOSPC");
	CHECK(model__judge(m, 99, NULL) == VERDICT_UNKNOWN_SITE, "unknown site");
	model__free(m);

	/* several leaks: suspects strongest first, max respected */
	m = model__new(NULL);
	for (int w = 1; w <= 8; w++)
		for (uint64_t id = 1; id <= 6; id++) {
			uint64_t live = w * id * 1000000;

			model__observe(m, id, w, w * 10000000000ull, live, live / 1000, live,
				       w * 10000000000ull, live / 1000);
			if (id == 6)
				model__close_window(m, w, w * 10000000000ull);
		}
	n = model__suspects(m, out, 4);
	CHECK(n == 4 && out[0].site_id == 6 && out[1].site_id == 5 && out[3].site_id == 3,
	      "4 strongest of 6 suspects in order: n=%d first=%lu last=%lu", n,
	      n ? out[0].site_id : 0, n ? out[n - 1].site_id : 0);
	model__free(m);
	model__free(NULL);
}

int main(void)
{
	test_linear_leak();
	test_not_suspects();
	test_low_samples();
	test_no_gc_windows();
	test_young_and_gone();
	test_api();
	TEST_EXIT();
}
