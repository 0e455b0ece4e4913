// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The runtime's own heap profile, read from another process (GO-RUNTIME.md §2):
 * walk runtime.mbuckets through allnext, one batch of target memory per bucket,
 * and compute what runtime.MemProfile would report (memProfileInternal).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gosym.h"
#include "mprof.h"
#include "target.h"

/*
 * runtime.bucket (mprof.go, 1.19-1.26, amd64 and arm64): 48-byte header
 * {next, allnext, typ, hash, size, nstk}, nstk PCs, then for typ == memProfile a
 * memRecord {active, future[3]} of memRecordCycle {allocs, frees, alloc_bytes,
 * free_bytes} (uintptr each).
 */
#define BUCKET_HDR	48
#define HDR_ALLNEXT	1
#define HDR_TYP		2
#define HDR_SIZE	4
#define HDR_NSTK	5
#define MEMRECORD_WORDS 16
#define MEMPROFILE_TYPE 1 /* bucketType memProfile, mprof.go 1.19-1.26 */
/* maxStack (mprof.go 1.19-1.22) and maxProfStackDepth (1.23+): stkbucket's bound */
#define MAX_STACK_OLD 32
#define MAX_STACK_NEW 1024
/* One read covers a bucket whose stack has at most this many PCs. */
#define SPEC_STK   32
#define SPEC_WORDS (BUCKET_HDR / 8 + SPEC_STK + MEMRECORD_WORDS)

/* A bucket's memRecord as read, before memProfileInternal's arithmetic. */
struct raw_record {
	struct mprof_counts active;
	struct mprof_counts future[3];
};

/* Open-addressing set of visited bucket addresses: the cycle guard. */
struct addr_set {
	uint64_t *slot;
	uint64_t cap; /* power of two */
	uint64_t len;
};

static int set_grow(struct addr_set *s)
{
	uint64_t ncap = s->cap ? s->cap * 2 : 1024;
	uint64_t *n = calloc(ncap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (uint64_t i = 0; i < s->cap; i++) {
		uint64_t a = s->slot[i], h;

		if (!a)
			continue;
		for (h = (a >> 3) * 0x9e3779b97f4a7c15ull; n[h & (ncap - 1)]; h++)
			;
		n[h & (ncap - 1)] = a;
	}
	free(s->slot);
	s->slot = n;
	s->cap = ncap;
	return 0;
}

/* 0 when added, -EINVAL when already present (a cycle). */
static int set_add(struct addr_set *s, uint64_t a)
{
	uint64_t h;
	int err;

	if (2 * (s->len + 1) > s->cap) {
		err = set_grow(s);
		if (err)
			return err;
	}
	for (h = (a >> 3) * 0x9e3779b97f4a7c15ull; s->slot[h & (s->cap - 1)]; h++)
		if (s->slot[h & (s->cap - 1)] == a)
			return -EINVAL;
	s->slot[h & (s->cap - 1)] = a;
	s->len++;
	return 0;
}

/* Bucket pointers are 8-aligned user-space addresses (persistentalloc). */
static bool plausible_ptr(uint64_t a)
{
	return a && !(a & 7) && a < (1ull << 56);
}

static void load_record(struct raw_record *r, const uint64_t *w)
{
	struct mprof_counts *c[4] = {&r->active, &r->future[0], &r->future[1], &r->future[2]};

	for (int i = 0; i < 4; i++) {
		c[i]->allocs = w[4 * i];
		c[i]->frees = w[4 * i + 1];
		c[i]->alloc_bytes = w[4 * i + 2];
		c[i]->free_bytes = w[4 * i + 3];
	}
}

/* target__read, with an unmapped address (pread's EIO) reported as -EFAULT too */
static int rd(struct target *t, uint64_t addr, void *buf, size_t len)
{
	int err = target__read(t, addr, buf, len);

	return err == -EIO ? -EFAULT : err;
}

struct walk {
	struct target *t;
	uint32_t max_stk;
	uint32_t cycle;
	uint64_t word[BUCKET_HDR / 8 + MAX_STACK_NEW + MEMRECORD_WORDS];
};

/*
 * Reads the bucket at addr into w->word: header, stack and memRecord in one read
 * when the stack is short, else (or when the speculative read crosses into
 * unmapped memory) the header then the rest.
 */
static int read_bucket(struct walk *w, uint64_t addr)
{
	uint64_t nstk, have;
	int err;

	err = rd(w->t, addr, w->word, SPEC_WORDS * 8);
	have = SPEC_WORDS;
	if (err == -EFAULT) {
		err = rd(w->t, addr, w->word, BUCKET_HDR);
		have = BUCKET_HDR / 8;
	}
	if (err)
		return err;
	nstk = w->word[HDR_NSTK];
	if (w->word[HDR_TYP] != MEMPROFILE_TYPE || nstk > w->max_stk)
		return -EINVAL;
	if (BUCKET_HDR / 8 + nstk + MEMRECORD_WORDS <= have)
		return 0;
	return rd(w->t, addr + have * 8, w->word + have,
		  (BUCKET_HDR / 8 + nstk + MEMRECORD_WORDS - have) * 8);
}

static void add_counts(struct mprof_counts *d, const struct mprof_counts *s)
{
	d->allocs += s->allocs;
	d->frees += s->frees;
	d->alloc_bytes += s->alloc_bytes;
	d->free_bytes += s->free_bytes;
}

/*
 * memProfileInternal (mprof.go@1.26:953, same since 1.19) first flushes
 * future[C % 3] into active, whatever the flushed bit says: once mProf_Flush has
 * run, nothing writes that slot until the next mark termination (mallocs go to
 * (C+2)%3, frees to (C+1)%3), so it is zero; before, it holds the cycle that mark
 * termination just closed. Adding it unconditionally is exact in both cases and
 * while a flush is running.
 */
static struct mprof_counts effective(const struct raw_record *r, uint32_t cycle)
{
	struct mprof_counts c = r->active;

	add_counts(&c, &r->future[cycle % 3]);
	return c;
}

static bool consistent(const struct mprof_counts *c)
{
	return c->frees <= c->allocs && c->free_bytes <= c->alloc_bytes &&
	       (c->allocs == 0) == (c->alloc_bytes == 0);
}

static int grow(void **p, uint64_t *cap, uint64_t need, size_t elem)
{
	uint64_t ncap = *cap ? *cap : 64;
	void *n;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*p, ncap * elem);
	if (!n)
		return -ENOMEM;
	*p = n;
	*cap = ncap;
	return 0;
}

struct acc {
	struct mprof_profile *out;
	struct raw_record *raw;
	uint64_t bcap, pcap;
};

/* Appends the bucket in w->word; its stk holds an index into pcs until the walk ends. */
static int append_bucket(struct acc *a, struct walk *w, uint64_t addr, uint64_t bias)
{
	struct mprof_profile *p = a->out;
	uint64_t nstk = w->word[HDR_NSTK], rcap = a->bcap;
	struct mprof_bucket *b;
	int err;

	err = grow((void **)&p->buckets, &a->bcap, p->nbuckets + 1, sizeof(*p->buckets));
	if (!err)
		err = grow((void **)&a->raw, &rcap, p->nbuckets + 1, sizeof(*a->raw));
	if (!err)
		err = grow((void **)&p->pcs, &a->pcap, p->npcs + nstk, sizeof(*p->pcs));
	if (err)
		return err;
	b = &p->buckets[p->nbuckets];
	b->addr = addr;
	b->size = w->word[HDR_SIZE];
	b->nstk = nstk;
	b->stk = (uint64_t *)(uintptr_t)p->npcs;
	for (uint64_t i = 0; i < nstk; i++)
		p->pcs[p->npcs + i] = w->word[BUCKET_HDR / 8 + i] - bias;
	p->npcs += nstk;
	load_record(&a->raw[p->nbuckets], w->word + BUCKET_HDR / 8 + nstk);
	p->nbuckets++;
	return 0;
}

/* Reads one bucket; a torn record (a counter update seen half done) is read once more. */
static int visit(struct acc *a, struct walk *w, uint64_t addr, uint64_t bias, uint64_t *next)
{
	struct raw_record r;
	struct mprof_counts c;
	int err;

	err = read_bucket(w, addr);
	if (err)
		return err;
	load_record(&r, w->word + BUCKET_HDR / 8 + w->word[HDR_NSTK]);
	c = effective(&r, w->cycle);
	if (!consistent(&c)) {
		a->out->rereads++;
		err = read_bucket(w, addr);
		if (err)
			return err;
		load_record(&r, w->word + BUCKET_HDR / 8 + w->word[HDR_NSTK]);
		c = effective(&r, w->cycle);
		if (!consistent(&c))
			a->out->torn++;
	}
	*next = w->word[HDR_ALLNEXT];
	return append_bucket(a, w, addr, bias);
}

/*
 * memProfileInternal: when no bucket has anything in active (after the flush of
 * future[C % 3]), no GC has completed yet and the runtime sums every cycle.
 */
static void finish(struct acc *a)
{
	static uint64_t none[1]; /* every stack empty: no pcs array to point into */
	struct mprof_profile *p = a->out;
	uint64_t *pcs = p->pcs ? p->pcs : none;
	bool clear = true;

	for (uint32_t i = 0; i < p->nbuckets; i++) {
		p->buckets[i].rec = effective(&a->raw[i], p->cycle);
		p->buckets[i].stk = pcs + (uintptr_t)p->buckets[i].stk;
		if (p->buckets[i].rec.allocs || p->buckets[i].rec.frees)
			clear = false;
	}
	if (!clear || !p->nbuckets)
		return;
	p->summed_futures = true;
	for (uint32_t i = 0; i < p->nbuckets; i++) {
		p->buckets[i].rec = a->raw[i].active;
		for (int c = 0; c < 3; c++)
			add_counts(&p->buckets[i].rec, &a->raw[i].future[c]);
	}
}

static int global_addr(struct target *t, enum go_global_id id, uint64_t *addr)
{
	const struct go_global *g = &t->bin->globals.global[id];

	if (!g->found)
		return -ENOENT;
	*addr = g->addr + t->bias;
	return 0;
}

/* mbuckets (atomic.UnsafePointer 1.22+, *bucket before: 8 bytes either way),
 * mProfCycle (mProfCycleHolder{atomic.Uint32}: cycle << 1 | flushed) and
 * MemProfileRate (int). */
static int read_globals(struct target *t, struct mprof_profile *p, uint64_t *head)
{
	uint64_t a_head, a_cycle, a_rate;
	uint32_t cyc;
	int err;

	err = global_addr(t, GLOBAL_MBUCKETS, &a_head);
	if (!err)
		err = global_addr(t, GLOBAL_MPROFCYCLE, &a_cycle);
	if (!err)
		err = global_addr(t, GLOBAL_MEMPROFILERATE, &a_rate);
	if (!err)
		err = rd(t, a_rate, &p->rate, sizeof(p->rate));
	if (!err)
		err = rd(t, a_cycle, &cyc, sizeof(cyc));
	if (!err)
		err = rd(t, a_head, head, sizeof(*head));
	if (err)
		return err;
	p->cycle = cyc >> 1;
	p->flushed = cyc & 1;
	return 0;
}

static int walk_chain(struct acc *a, struct walk *w, uint64_t head, uint64_t bias)
{
	struct addr_set seen = {0};
	uint64_t b = head;
	int err = 0;

	while (b && !err) {
		if (a->out->nbuckets >= MPROF_MAX_BUCKETS) {
			err = -E2BIG;
			break;
		}
		if (!plausible_ptr(b)) {
			err = -EINVAL;
			break;
		}
		err = set_add(&seen, b);
		if (!err)
			err = visit(a, w, b, bias, &b);
	}
	free(seen.slot);
	return err;
}

int mprof__read(struct target *t, struct mprof_profile *out)
{
	struct acc a = {.out = out};
	struct walk *w = NULL;
	uint64_t head = 0;
	int err;

	memset(out, 0, sizeof(*out));
	if (!t || !t->bin)
		return -EINVAL;
	err = read_globals(t, out, &head);
	if (err)
		goto out;
	w = malloc(sizeof(*w));
	if (!w) {
		err = -ENOMEM;
		goto out;
	}
	w->t = t;
	w->cycle = out->cycle;
	w->max_stk = go_version_at_least(&t->bin->bi.version, 23) ? MAX_STACK_NEW : MAX_STACK_OLD;
	err = walk_chain(&a, w, head, t->bias);
	if (!err)
		finish(&a);
out:
	free(w);
	free(a.raw);
	if (err)
		mprof__clear(out);
	return err;
}

void mprof__clear(struct mprof_profile *p)
{
	if (!p)
		return;
	free(p->buckets);
	free(p->pcs);
	memset(p, 0, sizeof(*p));
}

/* runtime/pprof/protomem.go: "runtime." always, "internal/runtime/" from 1.24 on. */
static bool hidden_frame(const struct gosym *gs, const struct go_version *v, uint64_t pc)
{
	struct gosym_frame f[8];
	int n;

	/* FuncForPC(addr) at the return PC itself, innermost inlined function first */
	n = gosym__frames(gs, pc, f, 8);
	if (n <= 0 || !f[0].func)
		return false;
	if (!strncmp(f[0].func, "runtime.", 8))
		return true;
	return (!v || go_version_at_least(v, 24)) && !strncmp(f[0].func, "internal/runtime/", 17);
}

uint32_t mprof__trim(const struct gosym *gs, const struct go_version *v, const uint64_t *stk,
		     uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (!hidden_frame(gs, v, stk[i]))
			return i;
	/* protomem.go retries with every frame shown when none is left */
	return 0;
}

void mprof__scale(int64_t count, int64_t bytes, int64_t rate, int64_t *scount, int64_t *sbytes)
{
	double avg, scale;

	if (count == 0 || bytes == 0) {
		*scount = 0;
		*sbytes = 0;
		return;
	}
	if (rate <= 1) {
		*scount = count;
		*sbytes = bytes;
		return;
	}
	avg = (double)bytes / (double)count;
	scale = 1 / (1 - exp(-avg / (double)rate));
	*scount = (int64_t)((double)count * scale);
	*sbytes = (int64_t)((double)bytes * scale);
}
