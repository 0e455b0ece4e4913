/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_GORTRACE_H
#define LEAKHOUND_GORTRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "leakhound.h"

struct target;

/*
 * The goroutine tracer's kernel side (bpf/goroutines.bpf.c): one loaded object for every
 * target; per target, uprobes on newproc.func1's CALL runqput (a new goroutine, RBX =
 * newg), on goroutine exit (goexit0 up to 1.21, gdestroy from 1.22) and on malg.
 */
struct gortrace;

struct gortrace_opts {
	uint32_t keep_shift;	/* record one creation in 2^keep_shift */
	uint32_t budget;	/* recorded creations per second; 0: no limit */
};

/* The hook of the target's probe i (0, 1, ...; NULL past the last), for --dry-run. */
struct go_hook;
const struct go_hook *gortrace__hook(const struct target *t, int i);

/* Opens and loads the object. NULL with errno (EPERM: no privilege). */
struct gortrace *gortrace__open(void);
void gortrace__free(struct gortrace *gt);
/*
 * Configures a target and attaches its probes. -ENOENT when a required site or offset
 * is missing (*what names it), -errno from the kernel; on failure nothing stays attached.
 */
int gortrace__attach(struct gortrace *gt, struct target *t, const struct gortrace_opts *o,
		     const char **what);
int gortrace__detach(struct gortrace *gt, pid_t pid);
int gortrace__configure(struct gortrace *gt, pid_t pid, const struct gortrace_opts *o);
int gortrace__tstate(struct gortrace *gt, pid_t pid, struct lh_gor_tstate *ts);
/* The object's failure counters now, summed over CPUs (all targets). 0 or -errno. */
int gortrace__stats(struct gortrace *gt, uint64_t stats[LH_STAT__COUNT]);

/* A live goroutine recorded at its creation. */
struct gor_live {
	uint64_t goid;
	struct lh_gor_live v;
};

struct gor_stack {
	uint64_t id;
	struct lh_goheap_stack st;	/* pcs; allocs: creations from this stack (weighted) */
};

struct gor_snap {
	struct lh_gor_tstate ts;
	uint64_t stats[LH_STAT__COUNT];	/* summed over CPUs (all targets) */
	struct gor_live *live;		/* sorted by goid */
	size_t nlive;
	struct gor_stack *stacks;	/* sorted by id */
	size_t nstacks;
};

/* Reads pid's maps. 0 or -errno; gor_snap__release() frees. */
int gortrace__snapshot(struct gortrace *gt, pid_t pid, struct gor_snap *s);
void gor_snap__release(struct gor_snap *s);
/* The stack with this id, or NULL. */
const struct gor_stack *gor_snap__stack(const struct gor_snap *s, uint64_t id);
/* The recorded goroutine with this goid, or NULL. */
const struct gor_live *gor_snap__find(const struct gor_snap *s, uint64_t goid);

#endif
