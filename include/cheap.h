/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_CHEAP_H
#define LEAKHOUND_CHEAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "callocs.h"
#include "goheap.h"
#include "leakhound.h"

struct target;

/*
 * The C heap tracer's kernel side (bpf/cheap.bpf.c): one loaded object for every target,
 * probes per target on the entry points of the C allocator it uses (src/callocs.c).
 */
struct cheap;

/* How probes are attached: a uprobe session per call (Linux 6.13+), else uprobe + uretprobe. */
enum cheap_attach_mode {
	CHEAP_SESSION,
	CHEAP_CLASSIC,
};

/* How a target is sampled; can change while attached. */
struct cheap_opts {
	uint32_t rate;	     /* mean bytes between samples; 0 or 1: every allocation */
	uint32_t keep_shift; /* record one sample in 2^keep_shift */
	uint32_t budget;     /* recorded allocations per second; 0: no limit */
};

/*
 * Opens and loads the object, with uprobe sessions when the kernel has them and
 * LEAKHOUND_UPROBE_CLASSIC is not set in the environment. NULL with errno.
 */
struct cheap *cheap__open(void);
void cheap__free(struct cheap *ch);
enum cheap_attach_mode cheap__mode(const struct cheap *ch);
/*
 * Configures a target and attaches to the allocator ci describes. -ENOENT when malloc or
 * free has no site (*what names it), -errno from the kernel otherwise (*what names the
 * step); on failure nothing stays attached.
 */
int cheap__attach(struct cheap *ch, struct target *t, const struct calloc_info *ci,
		  const struct cheap_opts *o, const char **what);
int cheap__configure(struct cheap *ch, pid_t pid, const struct cheap_opts *o);
int cheap__detach(struct cheap *ch, pid_t pid);
/*
 * File offset of the probe of an entry point: its decoded site, except for an allocating
 * function whose site is past a change of the stack pointer (its return probe needs the
 * return address at [rsp]): then the entry. *emulated (may be NULL): the kernel emulates
 * the instruction there (else it is single-stepped, or unknown).
 */
uint64_t cheap_probe_off(const struct calloc_fn *f, bool allocating, bool *emulated);
/* Entry points probed for pid (aliases counted once), and their names, comma-separated. */
int cheap__probes(const struct cheap *ch, pid_t pid, char *names, size_t len);

/* A target's counters: struct lh_cheap_pcpu summed over CPUs, and the budget's. */
struct cheap_counts {
	struct lh_cheap_tstate ts;
	struct lh_cheap_pcpu sum; /* .left meaningless */
};

/* pid's counters alone. 0 or -errno. */
int cheap__counts(struct cheap *ch, pid_t pid, struct cheap_counts *cnt);
/* The object's failure counters now, summed over CPUs (all targets). 0 or -errno. */
int cheap__stats(struct cheap *ch, uint64_t stats[LH_STAT__COUNT]);
/*
 * pid's sites and live sampled objects (scaled at the rate each was recorded at, times
 * its back-off weight; every object settled: C memory has no GC), stats, counters.
 */
int cheap__snapshot(struct cheap *ch, pid_t pid, int64_t rate, struct goheap_snap *s,
		    struct cheap_counts *cnt);
uint32_t cheap__prog_id(const struct cheap *ch, int i);

#endif
