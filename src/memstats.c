// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Go runtime's memory statistics, read from the target's memory, and the kernel's
 * view of the process's memory (/proc/PID/smaps_rollup, /proc/PID/status).
 *
 * runtime.ReadMemStats stops the world and derives MemStats (readmemstats_m, mstats.go
 * in every release 1.19-1.26) from gcController's sysMemStats and atomics, from the
 * memstats.heapStats ring and from memstats' *_sys fields. Those are plain aligned
 * words, copied by the kernel while the target runs: the set of them is not one instant
 * (a span moving from idle to in use during the copy: a page or two, not a share of the
 * heap), and a word written during the copy could in principle come out torn; what the
 * runtime's accounting guarantees (plausible()) catches a torn or misplaced word, and the
 * read is retried.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memstats.h"
#include "procfs.h"
#include "target.h"

/* runtime/malloc.go: _PageSize, the unit of every span */
#define GO_PAGE_SIZE 8192
#define NSLOTS	     3 /* consistentHeapStats.stats: [3]heapStatsDelta */

/* Offsets read from gcController, in one range. */
static const enum go_off_id gcc_fields[] = {
	OFF_GCC_HEAPINUSE,  OFF_GCC_HEAPFREE,	  OFF_GCC_HEAPRELEASED,	     OFF_GCC_HEAPLIVE,
	OFF_GCC_HEAPMARKED, OFF_GCC_LASTHEAPGOAL, OFF_GCC_GCPERCENTHEAPGOAL, OFF_GCC_TOTALALLOC,
	OFF_GCC_TOTALFREE,  OFF_GCC_MEMORYLIMIT,
};
/* And from memstats, in a second (the ring and the _sys words) and a third (numgc). */
static const enum go_off_id ms_fields[] = {
	OFF_MSTATS_STACKS_SYS,	    OFF_MSTATS_MSPAN_SYS, OFF_MSTATS_MCACHE_SYS,
	OFF_MSTATS_BUCKHASH_SYS,    OFF_MSTATS_GCMISCSYS, OFF_MSTATS_OTHER_SYS,
	OFF_MSTATS_HEAPSTATS_STATS,
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* The ranges are small: gcControllerState is < 512 bytes, the ring and _sys < 4 KiB. */
#define MAX_RANGE 8192

struct ms_layout {
	const int64_t *o; /* go_offsets.val */
	uint64_t gcc, ms; /* runtime addresses of the two globals */
	int64_t gcc_end;  /* bytes of gcController read */
	int64_t ms_end;	  /* bytes of memstats read (from 0) */
};

static int layout_of(struct target *t, struct ms_layout *l)
{
	const struct go_global *g = t->bin->globals.global;
	const int64_t *o = t->bin->offsets.val;

	if (!g[GLOBAL_MEMSTATS].found || !g[GLOBAL_GCCONTROLLER].found || t->bin->offsets_err)
		return -ENOENT;
	l->o = o;
	l->gcc = g[GLOBAL_GCCONTROLLER].addr + t->bias;
	l->ms = g[GLOBAL_MEMSTATS].addr + t->bias;
	l->gcc_end = l->ms_end = 0;
	for (size_t i = 0; i < ARRAY_SIZE(gcc_fields); i++) {
		if (o[gcc_fields[i]] < 0)
			return -ENOENT;
		if (o[gcc_fields[i]] + 8 > l->gcc_end)
			l->gcc_end = o[gcc_fields[i]] + 8;
	}
	for (size_t i = 0; i < ARRAY_SIZE(ms_fields); i++) {
		if (o[ms_fields[i]] < 0)
			return -ENOENT;
		if (o[ms_fields[i]] + 8 > l->ms_end)
			l->ms_end = o[ms_fields[i]] + 8;
	}
	if (o[OFF_MSTATS_NUMGC] < 0 || o[OFF_HEAPSTATSDELTA_SIZE] <= 0 ||
	    o[OFF_HEAPSTATSDELTA_INSTACKS] < 0 || o[OFF_HEAPSTATSDELTA_INWORKBUFS] < 0)
		return -ENOENT;
	if (o[OFF_MSTATS_HEAPSTATS_STATS] + NSLOTS * o[OFF_HEAPSTATSDELTA_SIZE] > l->ms_end)
		l->ms_end = o[OFF_MSTATS_HEAPSTATS_STATS] + NSLOTS * o[OFF_HEAPSTATSDELTA_SIZE];
	if (l->gcc_end > MAX_RANGE || l->ms_end > MAX_RANGE)
		return -ENOENT;
	return 0;
}

static uint64_t word(const uint8_t *buf, int64_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

/* Σ over the ring's slots of one int64 delta: the running total (GO-RUNTIME.md §7). */
static int64_t ring_sum(const struct ms_layout *l, const uint8_t *ms, enum go_off_id field)
{
	uint64_t sum = 0; /* modulo 2^64, as the runtime's own int64 sums wrap: no UB */

	for (int i = 0; i < NSLOTS; i++)
		sum += word(ms, l->o[OFF_MSTATS_HEAPSTATS_STATS] + i * l->o[OFF_HEAPSTATSDELTA_SIZE] +
				l->o[field]);
	return (int64_t)sum;
}

static void decode(const struct ms_layout *l, const uint8_t *gcc, const uint8_t *ms, uint32_t numgc,
		   struct go_memstats *s)
{
	const int64_t *o = l->o;

	s->heap_inuse = word(gcc, o[OFF_GCC_HEAPINUSE]);
	s->heap_free = word(gcc, o[OFF_GCC_HEAPFREE]);
	s->heap_released = word(gcc, o[OFF_GCC_HEAPRELEASED]);
	/* two counters updated at different times (mcache refill, sweep): never below 0 */
	s->heap_alloc = word(gcc, o[OFF_GCC_TOTALALLOC]) - word(gcc, o[OFF_GCC_TOTALFREE]);
	if ((int64_t)s->heap_alloc < 0)
		s->heap_alloc = 0;
	s->heap_live = word(gcc, o[OFF_GCC_HEAPLIVE]);
	s->heap_marked = word(gcc, o[OFF_GCC_HEAPMARKED]);
	s->heap_goal = word(gcc, o[OFF_GCC_GCPERCENTHEAPGOAL]);
	/* mgcpacer.go: ^uint64(0) when GOGC=off */
	if (s->heap_goal == UINT64_MAX)
		s->heap_goal = 0;
	s->last_heap_goal = word(gcc, o[OFF_GCC_LASTHEAPGOAL]);
	s->memory_limit = (int64_t)word(gcc, o[OFF_GCC_MEMORYLIMIT]);
	s->stack_inuse = (uint64_t)ring_sum(l, ms, OFF_HEAPSTATSDELTA_INSTACKS);
	s->workbufs = (uint64_t)ring_sum(l, ms, OFF_HEAPSTATSDELTA_INWORKBUFS);
	s->stacks_sys = word(ms, o[OFF_MSTATS_STACKS_SYS]);
	s->mspan_sys = word(ms, o[OFF_MSTATS_MSPAN_SYS]);
	s->mcache_sys = word(ms, o[OFF_MSTATS_MCACHE_SYS]);
	s->buckhash_sys = word(ms, o[OFF_MSTATS_BUCKHASH_SYS]);
	s->gc_misc_sys = word(ms, o[OFF_MSTATS_GCMISCSYS]);
	s->other_sys = word(ms, o[OFF_MSTATS_OTHER_SYS]);
	s->numgc = numgc;
}

/*
 * What the runtime's accounting guarantees: heap and stack figures move in whole pages
 * (mheap.go: spans are npages * _PageSize; growth and scavenging too) and the ring sums
 * are not negative. Wrong offsets or a torn merge of the ring (a reader in the target
 * moving slot gen-1 into gen) break one of them.
 */
static bool plausible(const struct go_memstats *s)
{
	const uint64_t pg = GO_PAGE_SIZE - 1;

	return s->heap_inuse && !(s->heap_inuse & pg) && !(s->heap_free & pg) &&
	       !(s->heap_released & pg) && !(s->stack_inuse & pg) && (int64_t)s->stack_inuse >= 0 &&
	       (int64_t)s->workbufs >= 0;
}

int memstats__read(struct target *t, struct go_memstats *s)
{
	uint8_t gcc[MAX_RANGE], ms[MAX_RANGE];
	struct ms_layout l;
	uint32_t numgc = 0;
	int err = layout_of(t, &l);

	for (int attempt = 0; !err && attempt < 3; attempt++) {
		struct target_iov iov[3] = {
			{.addr = l.gcc, .buf = gcc, .len = l.gcc_end},
			{.addr = l.ms, .buf = ms, .len = l.ms_end},
			{.addr = l.ms + l.o[OFF_MSTATS_NUMGC], .buf = &numgc, .len = sizeof(numgc)},
		};

		if (target__readv(t, iov, 3)) {
			err = iov[0].err ? iov[0].err : iov[1].err ? iov[1].err : iov[2].err;
			break;
		}
		decode(&l, gcc, ms, numgc, s);
		if (plausible(s))
			return 0;
		err = attempt < 2 ? 0 : -EPROTO;
	}
	return err;
}

const char *memstats_strerror(int err)
{
	switch (err) {
	case -ENOENT:
		return "runtime.memstats, runtime.gcController or their offsets are unknown for "
		       "this binary";
	case -EPROTO:
		return "what was read is not the runtime's statistics (offsets wrong for this "
		       "release?)";
	case -ESRCH:
		return "the process exited";
	default:
		return strerror(-err);
	}
}

/* ---- /proc ---- */

/*
 * One "Key:   N kB" line at p (end: the buffer's end): the key into key (NUL-terminated,
 * truncated), the number in bytes. Returns the start of the next line. *ok false for a
 * line that is not of that form.
 */
static const char *kb_line(const char *p, const char *end, char *key, size_t keysz, uint64_t *bytes,
			   bool *ok)
{
	const char *nl = memchr(p, '\n', end - p), *q;
	const char *eol = nl ? nl : end;
	uint64_t v = 0;
	size_t k = 0;
	int digits = 0;

	*ok = false;
	for (q = p; q < eol && *q != ':'; q++)
		if (k + 1 < keysz)
			key[k++] = *q;
	key[k] = 0;
	if (q == eol)
		goto next;
	for (q++; q < eol && (*q == ' ' || *q == '\t'); q++)
		;
	for (; q < eol && *q >= '0' && *q <= '9'; q++, digits++) {
		if (v > (UINT64_MAX / 1024 - 9) / 10)
			goto next; /* more than 2^64 bytes: no such process */
		v = v * 10 + (*q - '0');
	}
	if (!digits || eol - q < 3 || memcmp(q, " kB", 3))
		goto next;
	*bytes = v * 1024;
	*ok = true;
next:
	return nl ? nl + 1 : end;
}

struct kb_field {
	const char *key;
	uint64_t *dst;
	bool need;
};

/* Every line of buf whose key is one of f[]'s; -EINVAL unless every needed one was. */
static int parse_kb(const char *buf, size_t len, struct kb_field *f, int n)
{
	const char *p = buf, *end = buf + len;
	unsigned int seen = 0;
	char key[32];

	while (p < end) {
		uint64_t v;
		bool ok;

		p = kb_line(p, end, key, sizeof(key), &v, &ok);
		for (int i = 0; ok && i < n; i++)
			if (!strcmp(key, f[i].key)) {
				*f[i].dst = v;
				seen |= 1U << i;
			}
	}
	for (int i = 0; i < n; i++)
		if (f[i].need && !(seen & (1U << i)))
			return -EINVAL;
	return 0;
}

int procmem_parse_smaps_rollup(const char *buf, size_t len, struct proc_mem *pm)
{
	struct kb_field f[] = {
		{"Rss", &pm->rss, true},
		{"Anonymous", &pm->anon, true},
		{"LazyFree", &pm->lazyfree, false},
		{"Swap", &pm->swap, false},
	};
	int err;

	pm->rss = pm->anon = pm->lazyfree = pm->swap = 0;
	err = parse_kb(buf, len, f, ARRAY_SIZE(f));
	/* Anonymous pages are resident pages: more of them than Rss is not the kernel's file */
	if (!err && pm->anon > pm->rss)
		err = -EINVAL;
	pm->have_rollup = !err;
	return err;
}

int procmem_parse_status(const char *buf, size_t len, struct proc_mem *pm)
{
	struct kb_field f[] = {
		{"VmRSS", &pm->vm_rss, true},
		{"RssAnon", &pm->rss_anon, true},
		{"RssFile", &pm->rss_file, true},
		{"RssShmem", &pm->rss_shmem, true},
	};
	int err;

	pm->vm_rss = pm->rss_anon = pm->rss_file = pm->rss_shmem = 0;
	err = parse_kb(buf, len, f, ARRAY_SIZE(f));
	/* VmRSS is their sum (fs/proc/task_mmu.c) */
	if (!err && pm->rss_anon > pm->vm_rss)
		err = -EINVAL;
	pm->have_status = !err;
	return err;
}

int procmem__read(pid_t pid, bool rollup, struct proc_mem *pm)
{
	char path[64], buf[8192];
	ssize_t n;

	memset(pm, 0, sizeof(*pm));
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	n = procfs_read(path, buf, sizeof(buf));
	if (n >= 0)
		n = procmem_parse_status(buf, n, pm);
	if (n >= 0 && rollup) {
		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
		n = procfs_read(path, buf, sizeof(buf));
		if (n >= 0)
			n = procmem_parse_smaps_rollup(buf, n, pm);
	}
	/* a process gone: no /proc/PID, or its files read as ESRCH */
	return n == -ENOENT ? -ESRCH : n < 0 ? n : 0;
}
