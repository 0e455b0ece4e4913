/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_MPROF_H
#define LEAKHOUND_MPROF_H

#include <stdbool.h>
#include <stdint.h>

struct target;
struct gosym;
struct go_version;

/*
 * The runtime's own heap profile read out of a live process: the memory-profile
 * buckets on runtime.mbuckets (GO-RUNTIME.md §2), the history of sampled
 * allocations from before leakhound attached.
 */

/* One runtime.memRecordCycle (mprof.go, 1.19-1.26): sampled counts, unscaled. */
struct mprof_counts {
	uint64_t allocs;
	uint64_t frees;
	uint64_t alloc_bytes;
	uint64_t free_bytes;
};

struct mprof_bucket {
	/*
	 * Runtime address of the runtime.bucket: its identity for the life of the
	 * process (buckets are persistentalloc'd, never freed or moved), the same
	 * pointer mProf_Malloc hands to setprofilebucket.
	 */
	uint64_t addr;
	uint64_t size; /* allocation size, part of the bucket's key */
	uint32_t nstk;
	uint64_t *stk; /* return PCs, link-time (runtime - bias), innermost first */
	/*
	 * As runtime.MemProfile reports it (memProfileInternal): the heap as of
	 * the last completed GC, in samples, unscaled.
	 */
	struct mprof_counts rec;
};

struct mprof_profile {
	int64_t rate;	     /* runtime.MemProfileRate at the time of the read */
	uint32_t cycle;	     /* mProfCycle.value >> 1 */
	bool flushed;	     /* mProfCycle bit 0: future[cycle % 3] already in active */
	bool summed_futures; /* no bucket had active data: all futures summed, as the
			      * runtime does before the first GC */
	uint32_t nbuckets;
	struct mprof_bucket *buckets; /* in allnext order, newest first */
	uint32_t rereads;	      /* buckets read twice because their counters were torn */
	uint32_t torn;		      /* buckets still inconsistent after the re-read (kept as read;
				       * their in-use clamps to 0) */
	/* storage */
	uint64_t *pcs;
	uint64_t npcs;
};

/* Hard bound on the buckets walked: a longer chain is -E2BIG. */
#define MPROF_MAX_BUCKETS 1000000

/*
 * Reads the profile of t. Needs runtime.mbuckets, runtime.mProfCycle and
 * runtime.MemProfileRate in t->bin->globals (-ENOENT otherwise). -EINVAL for a
 * chain that is not a memory-profile bucket chain (bad type, too deep a stack,
 * misaligned or repeated pointer), -E2BIG past MPROF_MAX_BUCKETS, -EFAULT when
 * target memory cannot be read. On error *out is left empty.
 */
int mprof__read(struct target *t, struct mprof_profile *out);
void mprof__clear(struct mprof_profile *p);

/*
 * Index of the first frame pprof shows of a heap stack (runtime/pprof/protomem.go):
 * leading frames whose function, as runtime.FuncForPC names it at the return PC
 * itself (innermost inlined function), starts with "runtime." (1.19-1.23) or also
 * "internal/runtime/" (1.24+) are hidden; when every frame is hidden, none is.
 * stk holds link-time return PCs. Returns 0..n-1 (0 for n == 0).
 */
uint32_t mprof__trim(const struct gosym *gs, const struct go_version *v, const uint64_t *stk,
		     uint32_t n);

/*
 * pprof's scaleHeapSample (runtime/pprof/protomem.go, 1.19-1.26): divides by the
 * probability 1 - exp(-avg/rate) that an allocation of the bucket's average size
 * was sampled. rate <= 1 leaves the values as they are.
 */
void mprof__scale(int64_t count, int64_t bytes, int64_t rate, int64_t *scount, int64_t *sbytes);

/* In-use objects and bytes of a record (allocs - frees), 0 when torn. */
static inline uint64_t mprof_inuse_objects(const struct mprof_counts *c)
{
	return c->allocs >= c->frees ? c->allocs - c->frees : 0;
}

static inline uint64_t mprof_inuse_bytes(const struct mprof_counts *c)
{
	return c->alloc_bytes >= c->free_bytes ? c->alloc_bytes - c->free_bytes : 0;
}

#endif
