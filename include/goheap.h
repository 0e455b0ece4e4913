/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_GOHEAP_H
#define LEAKHOUND_GOHEAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "leakhound.h"

struct target;

/*
 * The Go heap tracer's kernel side (bpf/goheap.bpf.c): one loaded BPF object for every
 * target, uprobes per target on runtime.profilealloc, runtime.freeSpecial and
 * runtime.setprofilebucket at the sites the foundation decoded.
 */
struct goheap;

/* Modes: the runtime's sampled allocations and their frees, or a probe on every mallocgc. */
#define GOHEAP_SAMPLED	1U
#define GOHEAP_MALLOCGC 2U

/* The probes of a target: hook ids (enum go_hook_id) and the program each runs. */
struct goheap_probe {
	int hook;	   /* enum go_hook_id */
	const char *prog;  /* BPF program name */
	unsigned int mode; /* GOHEAP_SAMPLED or GOHEAP_MALLOCGC */
	bool required;	   /* tracing in that mode is pointless without it */
};

/* How a target is traced; rate, keep_shift and budget can change while attached. */
struct goheap_opts {
	unsigned int mode;
	uint32_t rate;	     /* MemProfileRate in effect, or the BPF-side rate (mallocgc) */
	uint32_t keep_shift; /* record one event in 2^keep_shift */
	uint32_t budget;     /* recorded events per second; 0: no limit */
};
extern const struct goheap_probe goheap_probes[];
extern const int goheap_nprobes;

/* Opens and loads the object. NULL with errno (EPERM: no privilege). */
struct goheap *goheap__open(void);
/* Detaches every target (links destroyed) and unloads; NULL is a no-op. */
void goheap__free(struct goheap *gh);
/*
 * Configures a target and attaches its probes. -ENOENT when a required site is missing
 * (*what names it), -errno from the kernel otherwise; on failure nothing stays attached.
 */
int goheap__attach(struct goheap *gh, struct target *t, const struct goheap_opts *o,
		   const char **what);
/* Updates the rate, back-off and budget of an attached target. 0 or -errno. */
int goheap__configure(struct goheap *gh, pid_t pid, const struct goheap_opts *o);
/* pid's counters (budget window and skips included). 0 or -errno. */
int goheap__tstate(struct goheap *gh, pid_t pid, struct lh_goheap_tstate *ts);
/* Detaches one target and drops its map entries. */
int goheap__detach(struct goheap *gh, pid_t pid);
/* Program ids, for tests and reports; 0 when not loaded. */
uint32_t goheap__prog_id(const struct goheap *gh, int i);

/* One allocation stack and its live sampled objects, as read from the maps. */
struct goheap_site {
	uint64_t id;
	struct lh_goheap_stack stack;	/* pcs, allocs, alloc_bytes (sampled, unscaled) */
	uint64_t live_objects;		/* sampled objects still live */
	uint64_t live_bytes;		/* their bytes, unscaled */
	double inuse_objects;		/* scaled like pprof (scaleHeapSample) */
	double inuse_bytes;
	uint64_t oldest_ns;		/* allocation time of the oldest live object; 0: none */
	/* Settled: allocated before the last completed GC began, so marked by it. */
	uint64_t settled_samples;
	double settled_objects;
	double settled_bytes;
	uint64_t settled_oldest_ns;
	/*
	 * From the runtime's own profile (src/mprof.c) when the target sampled before
	 * attach: in use as of the last completed GC now, and at attach (pre-attach).
	 */
	double hist_objects;
	double hist_bytes;
	uint64_t hist_samples;
	double hist_alloc_objects;
	double hist_alloc_bytes;
	double base_bytes;
	/* Tracked objects allocated since the last completed GC: their fate is not known yet. */
	double recent_objects;
	double recent_bytes;
};

struct goheap_snap {
	struct lh_goheap_tstate ts;
	uint64_t stats[LH_STAT__COUNT];	/* summed over CPUs (all targets) */
	struct goheap_site *sites;
	size_t nsites;
	uint64_t live_entries;
};

/*
 * Reads pid's maps: sites with their live objects scaled at the sampling rate each was
 * recorded at (rate when unknown; <= 1: no scaling) times its back-off weight. An object allocated
 * while memstats.numgc was below numgc (the last completed GC) went through that GC's mark: it is
 * counted as settled too (numgc 0: every object). 0 or -errno; goheap_snap__release() frees sites.
 */
int goheap__snapshot(struct goheap *gh, pid_t pid, int64_t rate, uint32_t numgc,
		     struct goheap_snap *s);
void goheap_snap__release(struct goheap_snap *s);
/* The object's failure counters now, summed over CPUs (all targets). 0 or -errno. */
int goheap__stats(struct goheap *gh, uint64_t stats[LH_STAT__COUNT]);
/*
 * The sites and live objects of pid from a stacks map and a live map of the heap
 * tracer's layouts (the C heap tracer shares them), added to s: what goheap__snapshot
 * does after the counters. 0 or -errno (s released).
 */
struct bpf_map;
int goheap_snap__read(struct bpf_map *stacks, struct bpf_map *live, pid_t pid, int64_t rate,
		      uint32_t numgc, struct goheap_snap *s);
/* size / (1 - exp(-size/rate)) and 1 / (1 - exp(-size/rate)): runtime/pprof's scaleHeapSample. */
void goheap_scale(uint64_t size, int64_t rate, double *objects, double *bytes);

#endif
