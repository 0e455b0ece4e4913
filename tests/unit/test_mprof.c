// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the bucket walk (src/mprof.c) on bucket chains laid out by hand in
 * this process's memory with the runtime's layout (mprof.go 1.19-1.26: 48-byte
 * header, nstk PCs, memRecord {active, future[3]} of {allocs, frees, alloc_bytes,
 * free_bytes}) and read back through /proc/self/mem: what memProfileInternal
 * reports, and the malformed chains an untrusted target could hold.
 * The live comparison with the runtime is tests/integration/mprof.sh.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mprof.h"
#include "target.h"
#include "test.h"

#define WORDS(nstk) (6 + (nstk) + 16)

static uint64_t g_mbuckets, g_rate = 524288;
static uint32_t g_cycle;

/* A bucket in w: typ, size, nstk, PCs 0x1000+i; counts for active and futures. */
static uint64_t *mk(uint64_t *w, uint64_t nstk, uint64_t size, uint64_t *next)
{
	memset(w, 0, WORDS(nstk) * 8);
	w[1] = (uint64_t)(uintptr_t)next;
	w[2] = 1;
	w[4] = size;
	w[5] = nstk;
	for (uint64_t i = 0; i < nstk; i++)
		w[6 + i] = 0x401000 + 16 * i;
	return w;
}

/* rec 0 = active, 1..3 = future[0..2] */
static void counts(uint64_t *w, int rec, uint64_t allocs, uint64_t frees, uint64_t size)
{
	uint64_t *c = w + 6 + w[5] + 4 * rec;

	c[0] = allocs;
	c[1] = frees;
	c[2] = allocs * size;
	c[3] = frees * size;
}

static int read_chain(struct target *t, uint64_t *head, struct mprof_profile *p)
{
	g_mbuckets = (uint64_t)(uintptr_t)head;
	return mprof__read(t, p);
}

static void test_counts(struct target *t)
{
	static uint64_t a[WORDS(3)], b[WORDS(40)], c[WORDS(1)];
	struct mprof_profile p;
	int err;

	/* cycle 7, not flushed: active + future[7 % 3 = 1] */
	g_cycle = 7 << 1;
	mk(a, 3, 1024, mk(b, 40, 16384, mk(c, 1, 64, NULL)));
	counts(a, 0, 10, 4, 1024);
	counts(a, 1 + 1, 5, 1, 1024);
	counts(a, 1 + 2, 100, 0, 1024); /* (C+2)%3: allocs since, not reported */
	counts(b, 0, 3, 0, 16384);
	counts(b, 1 + 0, 0, 2, 16384); /* (C+1)%3: frees since, not reported */
	err = read_chain(t, a, &p);
	CHECK(!err && p.nbuckets == 3, "chain of 3: err %d, %u buckets", err, p.nbuckets);
	if (err)
		return;
	CHECK(p.cycle == 7 && !p.flushed && p.rate == 524288 && !p.summed_futures,
	      "cycle %u flushed %d rate %ld", p.cycle, p.flushed, p.rate);
	CHECK(p.buckets[0].addr == (uintptr_t)a && p.buckets[1].addr == (uintptr_t)b,
	      "bucket addresses are their identity");
	CHECK(p.buckets[0].rec.allocs == 15 && p.buckets[0].rec.frees == 5 &&
		      mprof_inuse_bytes(&p.buckets[0].rec) == 10 * 1024,
	      "active + future[C%%3]: %lu allocs, %lu frees", p.buckets[0].rec.allocs,
	      p.buckets[0].rec.frees);
	CHECK(p.buckets[1].nstk == 40 && p.buckets[1].stk[39] == 0x401000 + 16 * 39 &&
		      p.buckets[1].rec.allocs == 3 && p.buckets[1].size == 16384,
	      "a 40-PC stack (two reads): nstk %u, allocs %lu", p.buckets[1].nstk,
	      p.buckets[1].rec.allocs);
	CHECK(p.buckets[2].rec.allocs == 0, "an empty bucket");
	mprof__clear(&p);

	/* no active data anywhere: every cycle summed (memProfileInternal's "clear") */
	memset(a + 6 + 3, 0, 16 * 8);
	memset(b + 6 + 40, 0, 16 * 8);
	counts(a, 1 + 2, 6, 0, 1024);
	counts(b, 1 + 0, 2, 1, 16384);
	err = read_chain(t, a, &p);
	CHECK(!err && p.summed_futures && p.buckets[0].rec.allocs == 6 &&
		      p.buckets[1].rec.allocs == 2 && p.buckets[1].rec.frees == 1,
	      "before the first GC: futures summed (err %d)", err);
	mprof__clear(&p);

	/* a torn record (frees above allocs) is read twice, then kept and counted */
	counts(c, 0, 1, 3, 64);
	err = read_chain(t, a, &p);
	CHECK(!err && p.rereads == 1 && p.torn == 1 && mprof_inuse_objects(&p.buckets[2].rec) == 0,
	      "torn counters: %u rereads, %u torn", p.rereads, p.torn);
	mprof__clear(&p);
	err = read_chain(t, NULL, &p);
	CHECK(!err && p.nbuckets == 0, "no bucket yet: empty profile");
}

static void test_malformed(struct target *t)
{
	static uint64_t a[WORDS(2)], b[WORDS(2)], big[WORDS(33)];
	struct mprof_profile p;
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *map;
	uint64_t *edge;
	int err;

	g_cycle = 3 << 1 | 1;
	mk(a, 2, 8, mk(b, 2, 8, a));
	err = read_chain(t, a, &p);
	CHECK(err == -EINVAL && p.nbuckets == 0, "a cycle: %d", err);
	mk(b, 2, 8, NULL);
	b[2] = 2; /* a block-profile bucket */
	CHECK(read_chain(t, a, &p) == -EINVAL, "a bucket of another type: -EINVAL");
	mk(b, 2, 8, (uint64_t *)((uintptr_t)a + 4));
	CHECK(read_chain(t, a, &p) == -EINVAL, "a misaligned next: -EINVAL");
	/* 1.22: at most maxStack = 32 PCs */
	mk(big, 33, 8, NULL);
	t->bin->bi.version.minor = 22;
	CHECK(read_chain(t, big, &p) == -EINVAL, "33 PCs in a 1.22 bucket: -EINVAL");
	t->bin->bi.version.minor = 23;
	CHECK(read_chain(t, big, &p) == 0 && p.buckets[0].nstk == 33, "33 PCs in a 1.23 bucket");
	mprof__clear(&p);
	mk(a, 2, 8, mk(b, 2, 8, NULL));
	b[5] = 5000;
	CHECK(read_chain(t, a, &p) == -EINVAL, "nstk 5000: -EINVAL");

	/* a bucket at the end of a mapping: the one-read guess faults, two reads do */
	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return;
	munmap(map + page, page);
	edge = (uint64_t *)(map + page - WORDS(2) * 8);
	mk(edge, 2, 8, NULL);
	counts(edge, 0, 2, 1, 8);
	err = read_chain(t, edge, &p);
	CHECK(!err && p.nbuckets == 1 && p.buckets[0].rec.allocs == 2,
	      "bucket at the end of a mapping: err %d", err);
	mprof__clear(&p);
	mk(a, 2, 8, (uint64_t *)(map + page));
	CHECK(read_chain(t, a, &p) == -EFAULT, "next pointer to unmapped memory: -EFAULT");
	munmap(map, page);
}

int main(void)
{
	struct gobin bin;
	struct target t;

	memset(&bin, 0, sizeof(bin));
	memset(&t, 0, sizeof(t));
	bin.bi.version = (struct go_version){1, 26, 0};
	bin.globals.global[GLOBAL_MBUCKETS] =
		(struct go_global){.found = true, .addr = (uintptr_t)&g_mbuckets};
	bin.globals.global[GLOBAL_MPROFCYCLE] =
		(struct go_global){.found = true, .addr = (uintptr_t)&g_cycle};
	bin.globals.global[GLOBAL_MEMPROFILERATE] =
		(struct go_global){.found = true, .addr = (uintptr_t)&g_rate};
	t.pid = getpid();
	t.mem_fd = -1;
	t.bin = &bin;
	test_counts(&t);
	test_malformed(&t);
	bin.globals.global[GLOBAL_MBUCKETS].found = false;
	CHECK(mprof__read(&t, &(struct mprof_profile){0}) == -ENOENT, "no mbuckets: -ENOENT");
	if (t.mem_fd >= 0)
		close(t.mem_fd);
	TEST_EXIT();
}
