// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test driver for tests/integration/mprof.sh: reads the runtime's heap profile
 * buckets out of a live Go process and prints them in forms a script compares
 * with the process's own runtime/pprof output. usage: mprof-dump PID
 *
 *   info	rate=R cycle=C flushed=0|1 buckets=N rereads=N torn=N summed=0|1 how=MBUCKETS_HOW
 *		read_us=MICROSECONDS (mprof__read alone)
 *   raw	INUSE_OBJ: INUSE_BYTES [ALLOC_OBJ: ALLOC_BYTES] @ 0xPC...
 *		(unscaled, runtime PCs: the per-bucket line of pprof's debug=1 text)
 *   pprof	ALLOC_OBJ ALLOC_BYTES INUSE_OBJ INUSE_BYTES FUNC
 *		(scaled like pprof; FUNC is the innermost function of the first frame
 *		pprof keeps after hiding the runtime's allocation frames)
 *   bucket	0xADDR size=N nstk=N trimmed=N
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gosym.h"
#include "mprof.h"
#include "target.h"

static void print_raw(const struct mprof_bucket *b, uint64_t bias)
{
	printf("raw\t%lu: %lu [%lu: %lu] @", mprof_inuse_objects(&b->rec),
	       mprof_inuse_bytes(&b->rec), b->rec.allocs, b->rec.alloc_bytes);
	for (uint32_t i = 0; i < b->nstk; i++)
		printf(" %#lx", b->stk[i] + bias);
	printf("\n");
}

static void print_pprof(const struct target *t, const struct mprof_profile *p,
			const struct mprof_bucket *b)
{
	uint32_t k = mprof__trim(t->bin->sym, &t->bin->bi.version, b->stk, b->nstk);
	int64_t ao, ab, io, ib;
	struct gosym_frame f[16];
	const char *func = "?";

	mprof__scale(b->rec.allocs, b->rec.alloc_bytes, p->rate, &ao, &ab);
	mprof__scale(mprof_inuse_objects(&b->rec), mprof_inuse_bytes(&b->rec), p->rate, &io, &ib);
	/* pprof symbolizes a return PC at PC - 1 (CallersFrames) */
	if (b->nstk && gosym__frames(t->bin->sym, b->stk[k] - 1, f, 16) > 0)
		func = f[0].func;
	printf("pprof\t%ld %ld %ld %ld %s\n", ao, ab, io, ib, func);
	printf("bucket\t%#lx size=%lu nstk=%u trimmed=%u\n", b->addr, b->size, b->nstk, k);
}

int main(int argc, char **argv)
{
	struct mprof_profile p;
	struct timespec t0, t1;
	struct target *t;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: mprof-dump PID\n");
		return 2;
	}
	t = target__open(atoi(argv[1]));
	if (!t) {
		fprintf(stderr, "mprof-dump: %s\n", gobin_strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = mprof__read(t, &p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (err) {
		fprintf(stderr, "mprof-dump: reading the profile: %s\n", strerror(-err));
		target__free(t);
		return 1;
	}
	printf("info\trate=%ld cycle=%u flushed=%d buckets=%u rereads=%u torn=%u summed=%d "
	       "how=%s read_us=%ld\n",
	       p.rate, p.cycle, p.flushed, p.nbuckets, p.rereads, p.torn, p.summed_futures,
	       t->bin->globals.global[GLOBAL_MBUCKETS].how,
	       (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
	for (uint32_t i = 0; i < p.nbuckets; i++) {
		print_raw(&p.buckets[i], t->bias);
		print_pprof(t, &p, &p.buckets[i]);
	}
	mprof__clear(&p);
	target__free(t);
	return 0;
}
