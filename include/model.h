/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_MODEL_H
#define LEAKHOUND_MODEL_H

#include <stdint.h>

/*
 * The leak-verdict model (DESIGN.md §6, docs/MODEL.md): per site, a series of
 * GC-aligned windows of settled live bytes and objects; a site is a suspect when
 * its settled state keeps growing over the recent windows with old objects still
 * live. Sites are opaque 64-bit ids (a stack id, a bucket address...).
 */
struct model;

struct model_opts {
	uint32_t windows;	  /* points in the fit (default 6, at most 32) */
	uint32_t min_windows;	  /* points needed for a verdict (default 4) */
	double floor_bytes_per_s; /* absolute growth floor (default 512 B/s) */
	double min_growth_frac;	  /* growth over the fit / live at its end (default 0.01) */
	double min_up_frac;	  /* share of window-to-window deltas > 0 (default 0.6) */
	double noise_z;		  /* sample growth / its Poisson noise (default 3) */
	double min_new_samples;	  /* sample growth over the fit (default 6) */
	double min_age_windows;	  /* oldest live object, in windows (default 3) */
	uint64_t sample_rate;	  /* bytes per sample, for sites observed with samples == 0
				   * (default 512 KiB, runtime.MemProfileRate's default) */
	uint32_t max_sites;	  /* default 1 << 16 (about 30 MB at most with 6 windows) */
};

/* A zero field of model_opts takes the default. */
void model_opts__default(struct model_opts *o);

struct suspect {
	uint64_t site_id;
	double growth_per_s; /* Theil-Sen slope of settled live bytes, bytes/s */
	uint64_t live;	     /* settled live bytes at the last window */
	uint64_t live_objects;
	uint64_t alloc_bytes; /* allocation total at the last window */
	double oldest_age_s;
	double confidence;  /* [0, 1]: windows, fit and samples */
	uint32_t windows;   /* points the verdict rests on */
	uint64_t samples;   /* live samples at the last window */
	double new_samples; /* sample growth over the fit */
};

/* Why a site is or is not a suspect, for reports and tests. */
enum model_verdict {
	VERDICT_SUSPECT,
	VERDICT_FEW_WINDOWS,  /* fewer than min_windows points */
	VERDICT_FLAT,	      /* slope under the absolute floor */
	VERDICT_SMALL,	      /* growth a small fraction of the site's size */
	VERDICT_NOT_MONOTONE, /* too few positive deltas: spike, plateau, noise */
	VERDICT_NOISE,	      /* sampling noise can explain the growth */
	VERDICT_YOUNG,	      /* no old object still live: churn */
	VERDICT_UNKNOWN_SITE,
};

/* NULL with errno (EINVAL for bad options, ENOMEM). o may be NULL (defaults). */
struct model *model__new(const struct model_opts *o);
void model__free(struct model *m);

/*
 * The settled state of a site for the window being filled: live bytes and
 * objects as of the last completed GC (scaled), the allocation total (scaled),
 * the age of its oldest live sampled object and the number of live samples it
 * rests on (0: estimated from live_bytes / sample_rate). gc_cycle is the GC the
 * state is settled at. A later observation of the same site in the same window
 * replaces the earlier one. -ENOSPC past max_sites.
 */
int model__observe(struct model *m, uint64_t site_id, uint32_t gc_cycle, uint64_t time_ns,
		   uint64_t live_bytes, uint64_t live_objects, uint64_t alloc_bytes,
		   uint64_t oldest_age_ns, uint64_t samples);

/*
 * Ends a window at time_ns, with gc_cycle the last completed GC. When no GC has
 * completed since the previous window, nothing is settled anew: no point is added,
 * the window's observations are dropped and -EAGAIN is returned. A site observed
 * before but not in this window gets a point with nothing live. -EINVAL when
 * gc_cycle or time goes backwards.
 */
int model__close_window(struct model *m, uint32_t gc_cycle, uint64_t time_ns);

/* Suspects, strongest growth first; returns how many were written (<= max). */
int model__suspects(const struct model *m, struct suspect *out, int max);

/* The verdict on one site, with its figures in *s when s is not NULL. */
enum model_verdict model__judge(const struct model *m, uint64_t site_id, struct suspect *s);
const char *model_verdict_name(enum model_verdict v);

/*
 * The points a site's verdict rests on, oldest first: time (seconds, the model's clock)
 * and settled live bytes; at most max (the model keeps o.windows). Returns how many.
 */
int model__series(const struct model *m, uint64_t site_id, double *t, double *live, int max);
/* Windows closed with a point, and windows closed with no completed GC. */
void model__windows(const struct model *m, uint32_t *points, uint32_t *skipped);

#endif
