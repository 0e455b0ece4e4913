// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the readers of a Go process's memory: the goroutines (allgs,
 * every g, their stacks unwound, runtime.waitReasonStrings: src/goroutines.c, and
 * their rendering, src/goroutines_cmd.c), the memory-profile buckets (runtime.mbuckets:
 * src/mprof.c) and the runtime's statistics (memstats, gcController: src/memstats.c).
 * A traced process can write anything into its own memory, and changes it under the
 * reads anyway: no byte of it may crash the tracer, hang it or make it read out of
 * bounds.
 *
 * The input is the target's memory: this file stands in for src/target.c (the build
 * links every module but that one), so target__read, target__readv and target__ranges
 * serve the input's segments and nothing else; the kernel is not involved. Symbols,
 * struct offsets and pclntab come from a real Go binary, $LEAKHOUND_FUZZ_GOBIN (a test
 * fixture, built without -buildmode=pie: no load bias).
 *
 * Input: segments, each u8 base, u64 offset, u32 length (little-endian), then the
 * bytes. base < GLOBAL__COUNT: at that runtime global's address plus offset (so an
 * input survives a rebuild of the binary); 0xff: at offset itself. base 0xfe: no
 * bytes, a readable mapping of length pages at offset (what /proc/PID/maps shows: a
 * goroutine's stack must lie in one), where no segment is: reads fail there.
 *
 * Seeds are recorded from a live process of the same binary: with
 * LEAKHOUND_FUZZ_RECORD=PID:FILE the target reads PID's memory through /proc/PID/mem
 * once, runs every reader and writes what they read to FILE as an input, then exits
 * (tests/fuzz/run.sh does this with the goroutines fixture).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "goroutines.h"
#include "gosym.h"
#include "memstats.h"
#include "mprof.h"
#include "procfs.h"
#include "target.h"

#define BASE_ABS    0xff
#define BASE_MAP    0xfe
#define BASE_WINDOW (1u << 20) /* a read this far past a global is recorded against it */
#define SEG_MAX	    (1u << 20)

struct seg {
	uint64_t addr;
	uint64_t len;
	const uint8_t *data;
};

static struct gobin *bin;
static struct seg *segs;
static size_t nsegs;
/* recording: reads go to PID's memory and are written to rec as segments */
static int rec_mem = -1;
static FILE *rec;

static uint64_t seg_addr(uint8_t base, uint64_t off)
{
	if (base < GLOBAL__COUNT && bin->globals.global[base].found)
		return bin->globals.global[base].addr + off;
	return off;
}

static void record(uint64_t addr, const void *buf, uint32_t len)
{
	uint8_t base = BASE_ABS;
	uint64_t best = 0, off = addr;

	for (int i = 0; i < GLOBAL__COUNT; i++) {
		const struct go_global *g = &bin->globals.global[i];

		if (g->found && g->addr <= addr && addr - g->addr < BASE_WINDOW &&
		    g->addr >= best) {
			best = g->addr;
			base = i;
			off = addr - g->addr;
		}
	}
	fwrite(&base, 1, 1, rec);
	fwrite(&off, 8, 1, rec);
	fwrite(&len, 4, 1, rec);
	fwrite(buf, 1, len, rec);
}

int target__read(struct target *t, uint64_t addr, void *buf, size_t len)
{
	if (rec) {
		if (pread(rec_mem, buf, len, addr) != (ssize_t)len)
			return -EFAULT;
		record(addr, buf, len);
		return 0;
	}
	for (size_t i = 0; i < nsegs; i++) {
		const struct seg *s = &segs[i];

		if (s->data && addr >= s->addr && addr - s->addr <= s->len &&
		    len <= s->len - (addr - s->addr)) {
			memcpy(buf, s->data + (addr - s->addr), len);
			return 0;
		}
	}
	return -EFAULT;
}

size_t target__readv(struct target *t, struct target_iov *iov, size_t n)
{
	size_t failed = 0;

	for (size_t i = 0; i < n; i++) {
		iov[i].err = target__read(t, iov[i].addr, iov[i].buf, iov[i].len);
		failed += iov[i].err != 0;
	}
	return failed;
}

static int range_cmp(const void *a, const void *b)
{
	const struct target_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The segments as the process's readable ranges: sorted, overlapping ones merged. */
int target__ranges(struct target *t, struct target_range **out, size_t *nout)
{
	struct target_range *r = calloc(nsegs ? nsegs : 1, sizeof(*r));
	size_t n = 0, k = 0;

	if (!r)
		return -ENOMEM;
	if (rec) { /* the reads themselves tell what is mapped */
		r[n++] = (struct target_range){0, UINT64_MAX};
	} else {
		for (size_t i = 0; i < nsegs; i++)
			if (segs[i].len && segs[i].addr + segs[i].len > segs[i].addr)
				r[n++] = (struct target_range){segs[i].addr,
							       segs[i].addr + segs[i].len};
		qsort(r, n, sizeof(*r), range_cmp);
		for (size_t i = 1; i < n; i++) {
			if (r[i].start > r[k].end)
				r[++k] = r[i];
			else if (r[i].end > r[k].end)
				r[k].end = r[i].end;
		}
		n = n ? k + 1 : 0;
	}
	if (!n) {
		free(r);
		return -ESRCH;
	}
	*out = r;
	*nout = n;
	return 0;
}

/* The rest of src/target.c: not used by the readers. */
struct target *target__open(pid_t pid)
{
	errno = ENOSYS;
	return NULL;
}

void target__free(struct target *t)
{
}

/* What the readers found, to tell a recording replays as it was read. */
struct summary {
	int gor_err, mprof_err, ms_err;
	size_t goroutines, pcs, buckets;
	uint64_t heap_inuse;
};

static void run_readers(struct target *t, uint8_t how, struct summary *sum)
{
	struct goroutine_snapshot s;
	struct mprof_profile p;
	struct go_memstats ms;
	char *buf;
	size_t len;

	memset(sum, 0, sizeof(*sum));
	sum->gor_err = goroutines__snapshot(t, &s);
	if (!sum->gor_err) {
		sum->goroutines = s.n;
		sum->pcs = s.npcs;
		if (!goroutines_render_from(t, &s, how % 3, &buf, &len))
			free(buf);
		for (size_t i = 0; i < s.n; i++)
			goroutine_state(&s, &s.g[i]);
		goroutines__release(&s);
	}
	sum->mprof_err = mprof__read(t, &p);
	if (!sum->mprof_err) {
		sum->buckets = p.nbuckets;
		for (uint32_t i = 0; i < p.nbuckets; i++)
			mprof__trim(bin->sym, &bin->bi.version, p.buckets[i].stk,
				    p.buckets[i].nstk);
		mprof__clear(&p);
	}
	sum->ms_err = memstats__read(t, &ms);
	sum->heap_inuse = sum->ms_err ? 0 : ms.heap_inuse;
}

static void print_summary(const char *what, const struct summary *s)
{
	fprintf(stderr,
		"fuzz_gomem: %s: %zu goroutines, %zu pcs (%d), %zu buckets (%d), "
		"heap in use %llu (%d)\n",
		what, s->goroutines, s->pcs, s->gor_err, s->buckets, s->mprof_err,
		(unsigned long long)s->heap_inuse, s->ms_err);
}

static size_t parse_input(const uint8_t *data, size_t size);

/* Replays the recording at path: the readers must find what they found live. */
static int replay(const char *path, const struct summary *live)
{
	struct target t = {.pid = getpid(), .bin = bin, .mem_fd = -1};
	static uint8_t buf[64 << 20];
	struct summary sum;
	size_t n;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	parse_input(buf, n);
	run_readers(&t, 0, &sum);
	print_summary("replayed", &sum);
	return memcmp(&sum, live, sizeof(sum)) ? -EPROTO : 0;
}

/* The readable mappings of pid, as BASE_MAP records. */
static int record_maps(pid_t pid)
{
	char path[64], line[8192];
	struct procfs_map m;
	uint8_t base = BASE_MAP;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		uint32_t pages;

		if (procfs_parse_maps_line(line, &m) || !m.readable ||
		    (m.end - m.start) >> 12 > UINT32_MAX)
			continue;
		pages = (m.end - m.start) >> 12;
		fwrite(&base, 1, 1, rec);
		fwrite(&m.start, 8, 1, rec);
		fwrite(&pages, 4, 1, rec);
	}
	fclose(f);
	return 0;
}

static void record_and_exit(const char *spec)
{
	struct target t = {.bin = bin, .mem_fd = -1};
	char path[64], *file;
	struct summary live;

	t.pid = strtol(spec, &file, 10);
	if (*file++ != ':' || !*file) {
		fprintf(stderr, "LEAKHOUND_FUZZ_RECORD: PID:FILE, not '%s'\n", spec);
		exit(1);
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", t.pid);
	rec_mem = open(path, O_RDONLY | O_CLOEXEC);
	rec = fopen(file, "w");
	if (rec_mem < 0 || !rec) {
		perror("fuzz_gomem: recording");
		exit(1);
	}
	if (record_maps(t.pid)) {
		perror("fuzz_gomem: maps");
		exit(1);
	}
	run_readers(&t, 0, &live);
	print_summary("recorded", &live);
	if (fclose(rec)) {
		perror("fuzz_gomem: recording");
		exit(1);
	}
	rec = NULL;
	if (live.gor_err || live.mprof_err || live.ms_err || !live.goroutines) {
		fprintf(stderr, "fuzz_gomem: a reader failed on process %d\n", t.pid);
		exit(1);
	}
	if (replay(file, &live)) {
		fprintf(stderr, "fuzz_gomem: %s does not replay as recorded\n", file);
		exit(1);
	}
	exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *path = getenv("LEAKHOUND_FUZZ_GOBIN"), *spec;

	bin = path ? gobin__open(path) : NULL;
	if (!bin || !bin->supported || bin->facts.pie || !bin->sym) {
		fprintf(stderr,
			"fuzz_gomem: LEAKHOUND_FUZZ_GOBIN: a Go binary of 1.19-1.26, "
			"not PIE (%s)\n",
			path ? path : "unset");
		exit(1);
	}
	spec = getenv("LEAKHOUND_FUZZ_RECORD");
	if (spec)
		record_and_exit(spec);
	return 0;
}

/* The input's segments into segs; the sum of their bases (which way to render). */
static size_t parse_input(const uint8_t *data, size_t size)
{
	static size_t cap;
	size_t how = 0;

	nsegs = 0;
	while (size >= 13) {
		uint64_t off, len = 0;

		memcpy(&off, data + 1, 8);
		memcpy(&len, data + 9, 4);
		if (data[0] != BASE_MAP && (len > SEG_MAX || len > size - 13))
			break;
		if (nsegs == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct seg *v = realloc(segs, ncap * sizeof(*v));

			if (!v)
				break;
			segs = v;
			cap = ncap;
		}
		if (data[0] == BASE_MAP) {
			segs[nsegs++] = (struct seg){off, len << 12, NULL};
			len = 0;
		} else {
			segs[nsegs++] = (struct seg){seg_addr(data[0], off), len, data + 13};
		}
		how += data[0];
		data += 13 + len;
		size -= 13 + len;
	}
	return how;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct target t = {.pid = getpid(), .bin = bin, .mem_fd = -1};
	struct summary sum;

	run_readers(&t, parse_input(data, size), &sum);
	return 0;
}
