// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The leak-verdict model (DESIGN.md §6; thresholds and their reasons in
 * docs/MODEL.md). Each site keeps its last `windows` settled points, one per
 * window that ended after a completed GC; a verdict is a set of rules over them.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define MAX_WINDOWS 32

struct point {
	double t;    /* seconds */
	double live; /* settled live bytes */
	double objects;
	double alloc;	/* allocation total, bytes */
	double age;	/* oldest live object, seconds */
	double samples; /* live samples */
};

struct site {
	uint64_t id;
	bool used;
	bool observed; /* in the window being filled */
	struct point pending;
	uint32_t n;	  /* points held, <= windows */
	uint32_t head;	  /* ring index of the oldest point */
	struct point *pt; /* ring of o.windows points */
};

struct model {
	struct model_opts o;
	struct site *site; /* open addressing on id */
	uint32_t cap;	   /* power of two */
	uint32_t nsites;
	bool closed_once;
	uint32_t last_gc;
	uint64_t last_time;
	uint32_t points, skipped;
};

void model_opts__default(struct model_opts *o)
{
	struct model_opts d = {
		.windows = 6,
		.min_windows = 4,
		.floor_bytes_per_s = 512,
		.min_growth_frac = 0.01,
		.min_up_frac = 0.6,
		.noise_z = 3,
		.min_new_samples = 6,
		.min_age_windows = 3,
		.sample_rate = 512 * 1024,
		.max_sites = 1u << 16,
	};
	*o = d;
}

static void fill_defaults(struct model_opts *o, const struct model_opts *in)
{
	struct model_opts d;

	model_opts__default(&d);
	*o = in ? *in : d;
#define DEF(f)     \
	if (!o->f) \
	o->f = d.f
	DEF(windows);
	DEF(min_windows);
	DEF(floor_bytes_per_s);
	DEF(min_growth_frac);
	DEF(min_up_frac);
	DEF(noise_z);
	DEF(min_new_samples);
	DEF(min_age_windows);
	DEF(sample_rate);
	DEF(max_sites);
#undef DEF
}

struct model *model__new(const struct model_opts *in)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	fill_defaults(&m->o, in);
	if (m->o.windows > MAX_WINDOWS || m->o.min_windows < 3 || m->o.min_windows > m->o.windows ||
	    m->o.min_up_frac > 1) {
		free(m);
		errno = EINVAL;
		return NULL;
	}
	return m;
}

void model__free(struct model *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; i < m->cap; i++)
		free(m->site[i].pt);
	free(m->site);
	free(m);
}

static uint32_t hash_id(uint64_t id, uint32_t cap)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdull;
	id ^= id >> 33;
	return (uint32_t)id & (cap - 1);
}

static struct site *find(const struct model *m, uint64_t id)
{
	if (!m->cap)
		return NULL;
	for (uint32_t h = hash_id(id, m->cap), i = 0; i < m->cap; i++, h = (h + 1) & (m->cap - 1)) {
		if (!m->site[h].used)
			return NULL;
		if (m->site[h].id == id)
			return &m->site[h];
	}
	return NULL;
}

static struct site *slot_for(struct site *tab, uint32_t cap, uint64_t id)
{
	uint32_t h = hash_id(id, cap);

	while (tab[h].used && tab[h].id != id)
		h = (h + 1) & (cap - 1);
	return &tab[h];
}

static int grow(struct model *m)
{
	uint32_t ncap = m->cap ? m->cap * 2 : 64;
	struct site *n = calloc(ncap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->site[i].used)
			*slot_for(n, ncap, m->site[i].id) = m->site[i];
	free(m->site);
	m->site = n;
	m->cap = ncap;
	return 0;
}

int model__observe(struct model *m, uint64_t site_id, uint32_t gc_cycle, uint64_t time_ns,
		   uint64_t live_bytes, uint64_t live_objects, uint64_t alloc_bytes,
		   uint64_t oldest_age_ns, uint64_t samples)
{
	struct site *s = find(m, site_id);
	int err;

	if (!s) {
		if (m->nsites >= m->o.max_sites)
			return -ENOSPC;
		if (2 * (m->nsites + 1) > m->cap) {
			err = grow(m);
			if (err)
				return err;
		}
		s = slot_for(m->site, m->cap, site_id);
		s->pt = calloc(m->o.windows, sizeof(*s->pt));
		if (!s->pt)
			return -ENOMEM;
		s->used = true;
		s->id = site_id;
		m->nsites++;
	}
	s->observed = true;
	s->pending = (struct point){
		.live = (double)live_bytes,
		.objects = (double)live_objects,
		.alloc = (double)alloc_bytes,
		.age = oldest_age_ns / 1e9,
		/* with no count from the caller, one sample per sample_rate bytes */
		.samples = samples ? (double)samples : (double)live_bytes / m->o.sample_rate,
	};
	return 0;
}

static struct point *at(struct site *s, uint32_t i, uint32_t windows)
{
	return &s->pt[(s->head + i) % windows];
}

static void push(struct site *s, const struct point *p, uint32_t windows)
{
	if (s->n < windows) {
		*at(s, s->n, windows) = *p;
		s->n++;
	} else {
		s->pt[s->head] = *p;
		s->head = (s->head + 1) % windows;
	}
}

static void close_site(struct model *m, struct site *s, double t, bool gc)
{
	struct point p = s->pending;

	if (gc && (s->observed || s->n)) {
		/* a site not observed this window has nothing live; its total stays */
		if (!s->observed) {
			p = (struct point){0};
			p.alloc = s->n ? at(s, s->n - 1, m->o.windows)->alloc : 0;
		}
		p.t = t;
		push(s, &p, m->o.windows);
	}
	s->observed = false;
}

int model__close_window(struct model *m, uint32_t gc_cycle, uint64_t time_ns)
{
	bool gc;

	if (m->closed_once && (time_ns < m->last_time || (int32_t)(gc_cycle - m->last_gc) < 0))
		return -EINVAL;
	/*
	 * A window with no completed GC settles nothing new (DESIGN.md §6); nor does
	 * one with gc_cycle 0, before the first GC ever.
	 */
	gc = gc_cycle != m->last_gc;
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->site[i].used)
			close_site(m, &m->site[i], time_ns / 1e9, gc);
	m->closed_once = true;
	m->last_time = time_ns;
	if (!gc) {
		m->skipped++;
		return -EAGAIN;
	}
	m->last_gc = gc_cycle;
	m->points++;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Theil-Sen: the median of the slopes of every pair of points (distinct times). */
static double theil_sen(const struct point *p, int n, size_t field)
{
	double slopes[MAX_WINDOWS * (MAX_WINDOWS - 1) / 2];
	int k = 0;

	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++) {
			double yi = *(const double *)((const char *)&p[i] + field);
			double yj = *(const double *)((const char *)&p[j] + field);

			if (p[j].t > p[i].t)
				slopes[k++] = (yj - yi) / (p[j].t - p[i].t);
		}
	return k ? median(slopes, k) : 0;
}

/* Figures of a site's fit, computed once and judged by the rules. */
struct fit {
	struct point p[MAX_WINDOWS];
	int n;
	double slope;	    /* bytes/s */
	double span;	    /* seconds from the first point to the last */
	double window;	    /* median window length, seconds */
	double up_frac;	    /* share of deltas > 0 */
	double new_samples; /* sample growth over the fit */
	double noise;	    /* Poisson noise of that growth, in samples */
	double resid;	    /* median |residual| / growth over the fit */
};

static void fit_site(const struct model *m, struct site *s, struct fit *f)
{
	double d[MAX_WINDOWS], r[MAX_WINDOWS], ts, alloc_samples, per_byte, icpt;
	const struct point *first, *last;
	int up = 0;

	f->n = s->n;
	for (int i = 0; i < f->n; i++)
		f->p[i] = *at(s, i, m->o.windows);
	first = &f->p[0];
	last = &f->p[f->n - 1];
	f->slope = theil_sen(f->p, f->n, offsetof(struct point, live));
	f->span = last->t - first->t;
	for (int i = 1; i < f->n; i++) {
		up += f->p[i].live > f->p[i - 1].live;
		d[i - 1] = f->p[i].t - f->p[i - 1].t;
	}
	f->up_frac = (double)up / (f->n - 1);
	f->window = median(d, f->n - 1);
	/*
	 * Sample growth from the slope of the sample series; its noise is that of
	 * the samples that came and went in the span: the new ones (allocation
	 * growth turned into samples at the site's samples-per-byte) plus the freed
	 * ones, a Poisson count each.
	 */
	ts = theil_sen(f->p, f->n, offsetof(struct point, samples));
	f->new_samples = ts * f->span;
	per_byte = last->live > 0 ? last->samples / last->live : 1.0 / m->o.sample_rate;
	alloc_samples = fmax(0, (last->alloc - first->alloc) * per_byte);
	f->noise = sqrt(fmax(1, 2 * fmax(alloc_samples, f->new_samples) - f->new_samples));
	/* goodness of the line: median absolute residual against the growth */
	for (int i = 0; i < f->n; i++)
		r[i] = f->p[i].live - f->slope * (f->p[i].t - first->t);
	icpt = median(r, f->n);
	for (int i = 0; i < f->n; i++)
		r[i] = fabs(f->p[i].live - icpt - f->slope * (f->p[i].t - first->t));
	f->resid = f->slope * f->span > 0 ? median(r, f->n) / (f->slope * f->span) : 1;
}

static enum model_verdict rules(const struct model *m, const struct fit *f)
{
	const struct model_opts *o = &m->o;
	const struct point *last;

	if (f->n < (int)o->min_windows || f->n < 1 || f->span <= 0)
		return VERDICT_FEW_WINDOWS;
	last = &f->p[f->n - 1];
	if (f->slope < o->floor_bytes_per_s)
		return VERDICT_FLAT;
	if (f->slope * f->span < o->min_growth_frac * last->live)
		return VERDICT_SMALL;
	if (f->up_frac < o->min_up_frac)
		return VERDICT_NOT_MONOTONE;
	if (f->new_samples < o->min_new_samples || f->new_samples < o->noise_z * f->noise)
		return VERDICT_NOISE;
	if (last->age < o->min_age_windows * f->window)
		return VERDICT_YOUNG;
	return VERDICT_SUSPECT;
}

/*
 * Product of three factors in [0, 1]: how full the fit is (windows), how well a
 * line explains it (residuals against the growth, and the share of rising
 * deltas) and how far the sample growth is above its noise.
 */
static double confidence(const struct model *m, const struct fit *f)
{
	double c_win = fmin(1, (double)f->n / m->o.windows);
	double c_fit = fmax(0, 1 - 2 * f->resid) * f->up_frac;
	double c_smp = 1 - exp(-f->new_samples / (2 * m->o.noise_z * f->noise));

	return fmin(1, fmax(0, c_win * c_fit * c_smp));
}

static void fill(const struct model *m, const struct site *s, const struct fit *f,
		 struct suspect *out)
{
	const struct point *last;

	memset(out, 0, sizeof(*out));
	out->site_id = s->id;
	out->windows = f->n;
	if (!f->n)
		return;
	last = &f->p[f->n - 1];
	out->growth_per_s = f->slope;
	out->live = (uint64_t)last->live;
	out->live_objects = (uint64_t)last->objects;
	out->alloc_bytes = (uint64_t)last->alloc;
	out->oldest_age_s = last->age;
	out->samples = (uint64_t)llround(last->samples);
	out->new_samples = f->new_samples;
	out->confidence = f->n >= 2 ? confidence(m, f) : 0;
}

static enum model_verdict judge_site(const struct model *m, struct site *s, struct suspect *out)
{
	struct fit f = {0};
	enum model_verdict v = VERDICT_FEW_WINDOWS;

	if (s->n >= 2) {
		fit_site(m, s, &f);
		v = rules(m, &f);
	} else {
		f.n = s->n;
		if (s->n)
			f.p[0] = *at(s, 0, m->o.windows);
	}
	if (out)
		fill(m, s, &f, out);
	return v;
}

enum model_verdict model__judge(const struct model *m, uint64_t site_id, struct suspect *s)
{
	struct site *site = find(m, site_id);

	if (!site)
		return VERDICT_UNKNOWN_SITE;
	return judge_site(m, site, s);
}

static int cmp_growth(const void *a, const void *b)
{
	const struct suspect *x = a, *y = b;

	return (x->growth_per_s < y->growth_per_s) - (x->growth_per_s > y->growth_per_s);
}

int model__suspects(const struct model *m, struct suspect *out, int max)
{
	int n = 0;

	for (uint32_t i = 0; i < m->cap; i++) {
		struct suspect s;

		if (!m->site[i].used || judge_site(m, &m->site[i], &s) != VERDICT_SUSPECT)
			continue;
		if (n < max) {
			out[n++] = s;
		} else if (max > 0) {
			/* keep the strongest: replace the weakest if this one grows faster */
			qsort(out, n, sizeof(*out), cmp_growth);
			if (s.growth_per_s > out[n - 1].growth_per_s)
				out[n - 1] = s;
		}
	}
	qsort(out, n, sizeof(*out), cmp_growth);
	return n;
}

const char *model_verdict_name(enum model_verdict v)
{
	static const char *const names[] = {
		[VERDICT_SUSPECT] = "suspect",
		[VERDICT_FEW_WINDOWS] = "few_windows",
		[VERDICT_FLAT] = "flat",
		[VERDICT_SMALL] = "small",
		[VERDICT_NOT_MONOTONE] = "not_monotone",
		[VERDICT_NOISE] = "noise",
		[VERDICT_YOUNG] = "young",
		[VERDICT_UNKNOWN_SITE] = "unknown_site",
	};

	return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

void model__windows(const struct model *m, uint32_t *points, uint32_t *skipped)
{
	*points = m->points;
	*skipped = m->skipped;
}

int model__series(const struct model *m, uint64_t site_id, double *t, double *live, int max)
{
	struct site *s = find(m, site_id);
	int n = 0;

	if (!s)
		return 0;
	for (uint32_t i = 0; i < s->n && n < max; i++, n++) {
		const struct point *p = at(s, i, m->o.windows);

		t[n] = p->t;
		live[n] = p->live;
	}
	return n;
}
