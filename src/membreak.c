// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * RSS broken down into what holds it (docs/MEMORY.md), and a verdict in words: whether
 * a high RSS is live Go heap, idle heap the scavenger has not returned yet, goroutine
 * stacks, C heap, or memory the Go runtime does not know about.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "memstats.h"
#include "target.h"

static const char *const part_names[MEM__COUNT] = {
	[MEM_HEAP_INUSE] = "heap_inuse", [MEM_STACKS] = "stacks",   [MEM_HEAP_IDLE] = "heap_idle",
	[MEM_CGO] = "cgo_heap",		 [MEM_RUNTIME] = "runtime", [MEM_FILE] = "file",
	[MEM_ANON_OTHER] = "anon_other",
};

static const char *const part_titles[MEM__COUNT] = {
	[MEM_HEAP_INUSE] = "Go heap in use",
	[MEM_STACKS] = "goroutine stacks",
	[MEM_HEAP_IDLE] = "Go heap idle, not released",
	[MEM_CGO] = "C heap outstanding",
	[MEM_RUNTIME] = "other runtime structures",
	[MEM_FILE] = "file-backed and shared",
	[MEM_ANON_OTHER] = "other anonymous",
};

static const char *const verdict_names[] = {
	[MEM_V_UNKNOWN] = "unknown",	 [MEM_V_IDLE_HEAP] = "idle_heap",
	[MEM_V_LIVE_HEAP] = "live_heap", [MEM_V_STACKS] = "goroutine_stacks",
	[MEM_V_CGO] = "cgo_heap",	 [MEM_V_RUNTIME] = "runtime",
	[MEM_V_FILE] = "file_backed",	 [MEM_V_ANON_OTHER] = "other_anonymous",
};

const char *mem_part_name(enum mem_part p)
{
	return (unsigned)p < MEM__COUNT ? part_names[p] : NULL;
}

const char *mem_verdict_name(enum mem_verdict v)
{
	return (unsigned)v <= MEM_V_ANON_OTHER ? verdict_names[v] : NULL;
}

static double mib(uint64_t b)
{
	return b / 1048576.0;
}

/* The verdict a part stands for when it is the largest. */
static const enum mem_verdict part_verdict[MEM__COUNT] = {
	[MEM_HEAP_INUSE] = MEM_V_LIVE_HEAP,  [MEM_STACKS] = MEM_V_STACKS,
	[MEM_HEAP_IDLE] = MEM_V_IDLE_HEAP,   [MEM_CGO] = MEM_V_CGO,
	[MEM_RUNTIME] = MEM_V_RUNTIME,	     [MEM_FILE] = MEM_V_FILE,
	[MEM_ANON_OTHER] = MEM_V_ANON_OTHER,
};

/*
 * Idle heap not yet returned: freed spans the runtime keeps mapped. The scavenger returns
 * what exceeds ~10% over the heap goal's share (retainExtraPercent, mgcscavenge.go) at
 * about 1% of a CPU, so after a spike it can hold RSS for minutes. It is what RSS is
 * "about" when it is at least 16 MiB (below, it is the allocator's normal slack), at
 * least the heap in use (the live heap is the smaller part) and a quarter of RSS.
 */
static bool idle_dominates(const struct mem_breakdown *b)
{
	const uint64_t *r = b->resident;

	return r[MEM_HEAP_IDLE] >= MEM_IDLE_FLOOR && r[MEM_HEAP_IDLE] >= r[MEM_HEAP_INUSE] &&
	       r[MEM_HEAP_IDLE] * 4 >= b->rss;
}

static void words(struct mem_breakdown *b, enum mem_part top)
{
	const uint64_t *r = b->resident;
	const struct go_memstats *g = &b->go;
	size_t n = sizeof(b->why);
	double share = b->rss ? 100.0 * r[top] / b->rss : 0;

	switch (b->verdict) {
	case MEM_V_IDLE_HEAP:
		/* with GOGC=off the scavenger's goal follows no heap goal: it keeps it all */
		snprintf(b->why, n,
			 "idle heap, not a leak: %.1f MiB (%.0f%%) of the RSS is Go heap the "
			 "program freed and the runtime keeps (not returned to the OS by the "
			 "scavenger yet); live heap after the last GC %.1f MiB. %s",
			 mib(r[MEM_HEAP_IDLE]), share, mib(g->heap_marked),
			 g->heap_goal ? "The scavenger returns it over time; debug.FreeOSMemory() "
					"or GOMEMLIMIT sooner"
				      : "With GC off (GOGC=off) the scavenger keeps it; "
					"debug.FreeOSMemory() or GOMEMLIMIT returns it");
		break;
	case MEM_V_LIVE_HEAP:
		snprintf(b->why, n,
			 "mostly Go heap in use: %.1f MiB (%.0f%%), %.1f MiB live after the last "
			 "GC; "
			 "if it keeps growing, 'leakhound trace' shows which allocation sites hold "
			 "it",
			 mib(r[top]), share, mib(g->heap_marked));
		break;
	case MEM_V_STACKS:
		snprintf(b->why, n,
			 "mostly goroutine stacks: %.1f MiB (%.0f%%); 'leakhound goroutines' shows "
			 "which goroutines",
			 mib(r[top]), share);
		break;
	case MEM_V_CGO:
		snprintf(b->why, n,
			 "mostly C heap allocated and not freed: %.1f MiB (%.0f%%, sampled "
			 "estimate); see the C heap sites of 'leakhound trace'",
			 mib(r[top]), share);
		break;
	case MEM_V_RUNTIME:
		snprintf(b->why, n,
			 "mostly the Go runtime's own structures (spans, GC metadata): %.1f MiB "
			 "(%.0f%%)",
			 mib(r[top]), share);
		break;
	case MEM_V_FILE:
		snprintf(b->why, n,
			 "mostly file-backed or shared mappings (the executable, libraries, mapped "
			 "files): %.1f MiB (%.0f%%), not heap",
			 mib(r[top]), share);
		break;
	default:
		snprintf(b->why, n,
			 "mostly anonymous memory the Go runtime does not account for: %.1f MiB "
			 "(%.0f%%): C allocations%s, mmap by C code, thread stacks",
			 mib(r[top]), share, b->cgo_bytes < 0 ? " (the C heap is not traced)" : "");
	}
}

static void decide(struct mem_breakdown *b)
{
	enum mem_part top = MEM_HEAP_INUSE;

	if (!b->have_go) {
		b->verdict = MEM_V_UNKNOWN;
		snprintf(b->why, sizeof(b->why),
			 "unknown: the Go runtime's memory statistics could not be read (%s)",
			 memstats_strerror(b->go_err));
		return;
	}
	for (int p = 0; p < MEM__COUNT; p++)
		if (b->resident[p] > b->resident[top])
			top = p;
	b->verdict = idle_dominates(b) ? MEM_V_IDLE_HEAP : part_verdict[top];
	if (b->verdict == MEM_V_IDLE_HEAP)
		top = MEM_HEAP_IDLE;
	words(b, top);
}

/* Other runtime structures: [Sys] less the heap and StackInuse (readmemstats_m). */
static uint64_t runtime_other(const struct go_memstats *g)
{
	return g->stacks_sys + g->mspan_sys + g->mcache_sys + g->buckhash_sys + g->gc_misc_sys +
	       g->workbufs + g->other_sys;
}

void mem_breakdown__compute(struct mem_breakdown *b)
{
	const struct proc_mem *pm = &b->proc;
	uint64_t anon, left;

	memset(b->counted, 0, sizeof(b->counted));
	memset(b->resident, 0, sizeof(b->resident));
	b->rss = pm->have_rollup ? pm->rss : pm->vm_rss;
	anon = pm->have_rollup ? pm->anon : pm->rss_anon;
	if (anon > b->rss)
		anon = b->rss;
	if (b->have_go) {
		b->counted[MEM_HEAP_INUSE] = b->go.heap_inuse;
		b->counted[MEM_STACKS] = b->go.stack_inuse;
		b->counted[MEM_HEAP_IDLE] = b->go.heap_free;
		b->counted[MEM_RUNTIME] = runtime_other(&b->go);
	}
	b->counted[MEM_CGO] = b->cgo_bytes > 0 ? (uint64_t)b->cgo_bytes : 0;
	/* in the enum's order: the parts most surely resident first */
	left = anon;
	for (int p = MEM_HEAP_INUSE; p <= MEM_RUNTIME; p++) {
		b->resident[p] = b->counted[p] < left ? b->counted[p] : left;
		left -= b->resident[p];
	}
	b->counted[MEM_FILE] = b->resident[MEM_FILE] = b->rss - anon;
	b->counted[MEM_ANON_OTHER] = b->resident[MEM_ANON_OTHER] = left;
	decide(b);
}

static double elapsed_us(const struct timespec *a, const struct timespec *z)
{
	return (z->tv_sec - a->tv_sec) * 1e6 + (z->tv_nsec - a->tv_nsec) / 1e3;
}

int mem_breakdown__read(struct target *t, bool rollup, int64_t cgo_bytes, struct mem_breakdown *b)
{
	struct timespec t0, t1, t2;
	int err;

	memset(b, 0, sizeof(*b));
	b->cgo_bytes = cgo_bytes;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	b->go_err = memstats__read(t, &b->go);
	b->have_go = !b->go_err;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	err = procmem__read(t->pid, rollup, &b->proc);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	b->runtime_us = elapsed_us(&t0, &t1);
	b->proc_us = elapsed_us(&t1, &t2);
	if (err)
		return err;
	mem_breakdown__compute(b);
	return 0;
}

/* ---- output ---- */

static void print_part(const struct mem_breakdown *b, enum mem_part p, FILE *out,
		       const char *indent)
{
	fprintf(out, "%s  %-28s %9.1f MiB", indent, part_titles[p], mib(b->resident[p]));
	if (p == MEM_CGO && b->cgo_bytes < 0)
		fprintf(out, "  (not traced: within other anonymous)");
	else if (p == MEM_CGO)
		fprintf(out, "  (traced, sampled estimate)");
	if (b->counted[p] > b->resident[p])
		fprintf(out, "  (the runtime counts %.1f MiB, not all of it resident)",
			mib(b->counted[p]));
	fputc('\n', out);
}

void mem_breakdown__print(const struct mem_breakdown *b, FILE *out, const char *indent)
{
	const struct go_memstats *g = &b->go;
	const struct proc_mem *pm = &b->proc;
	uint64_t sum = 0;

	fprintf(out, "%sRSS %.1f MiB (%s): anonymous %.1f MiB", indent, mib(b->rss),
		pm->have_rollup ? "smaps_rollup" : "status",
		mib(pm->have_rollup ? pm->anon : pm->rss_anon));
	if (pm->have_status)
		fprintf(out, ", file %.1f MiB, shmem %.1f MiB", mib(pm->rss_file),
			mib(pm->rss_shmem));
	if (pm->swap)
		fprintf(out, "; swapped out %.1f MiB", mib(pm->swap));
	fputc('\n', out);
	for (int p = 0; p < MEM__COUNT; p++) {
		print_part(b, p, out, indent);
		sum += b->resident[p];
	}
	fprintf(out, "%s  %-28s %9.1f MiB  (= RSS)\n", indent, "total", mib(sum));
	if (b->have_go) {
		fprintf(out, "%s  %-28s %9.1f MiB  (not resident, not in RSS)\n", indent,
			"Go heap released to the OS", mib(g->heap_released));
		fprintf(out, "%sGo heap: live after the last GC %.1f MiB, allocated now %.1f MiB, ",
			indent, mib(g->heap_marked), mib(g->heap_alloc));
		if (g->heap_goal)
			fprintf(out, "next GC at %.1f MiB", mib(g->heap_goal));
		else
			fprintf(out, "GC off (GOGC=off)");
		if (g->memory_limit > 0 && g->memory_limit < INT64_MAX)
			fprintf(out, ", GOMEMLIMIT %.1f MiB", mib(g->memory_limit));
		fprintf(out, "; %u GC cycles\n", g->numgc);
	}
	fprintf(out, "%sverdict: %s\n", indent, b->why);
}

/* Short titles of the parts, for one line. */
static const char *const part_short[MEM__COUNT] = {
	[MEM_HEAP_INUSE] = "heap in use",
	[MEM_STACKS] = "stacks",
	[MEM_HEAP_IDLE] = "idle heap",
	[MEM_CGO] = "C heap",
	[MEM_RUNTIME] = "runtime",
	[MEM_FILE] = "file-backed",
	[MEM_ANON_OTHER] = "other anonymous",
};

void mem_breakdown__print_short(const struct mem_breakdown *b, FILE *out)
{
	const struct go_memstats *g = &b->go;

	fprintf(out, "memory: RSS %.1f MiB =", mib(b->rss));
	for (int p = 0; p < MEM__COUNT; p++) {
		if (p == MEM_CGO && b->cgo_bytes < 0)
			continue;
		fprintf(out, "%s %s %.1f", p ? "," : "", part_short[p], mib(b->resident[p]));
	}
	fprintf(out, " MiB\n");
	if (b->have_go) {
		fprintf(out, "  released to the OS %.1f MiB; live after the last GC %.1f MiB; ",
			mib(g->heap_released), mib(g->heap_marked));
		if (g->heap_goal)
			fprintf(out, "next GC at %.1f MiB; ", mib(g->heap_goal));
		else
			fprintf(out, "GC off; ");
		fprintf(out, "%u GC cycles\n", g->numgc);
	}
	fprintf(out, "  verdict: %s\n", b->why);
}

static cJSON *num_or_null(bool have, double v)
{
	return have ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *go_json(const struct go_memstats *g)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "heap_inuse", g->heap_inuse);
	cJSON_AddNumberToObject(o, "heap_idle", g->heap_free + g->heap_released);
	cJSON_AddNumberToObject(o, "heap_released", g->heap_released);
	cJSON_AddNumberToObject(o, "heap_alloc", g->heap_alloc);
	cJSON_AddNumberToObject(o, "heap_live", g->heap_live);
	cJSON_AddNumberToObject(o, "heap_marked", g->heap_marked);
	cJSON_AddItemToObject(o, "next_gc", num_or_null(g->heap_goal, g->heap_goal));
	cJSON_AddNumberToObject(o, "last_heap_goal", g->last_heap_goal);
	cJSON_AddItemToObject(
		o, "memory_limit",
		num_or_null(g->memory_limit > 0 && g->memory_limit < INT64_MAX, g->memory_limit));
	cJSON_AddNumberToObject(o, "stack_inuse", g->stack_inuse);
	cJSON_AddNumberToObject(o, "stack_sys", g->stack_inuse + g->stacks_sys);
	cJSON_AddNumberToObject(o, "mspan_sys", g->mspan_sys);
	cJSON_AddNumberToObject(o, "mcache_sys", g->mcache_sys);
	cJSON_AddNumberToObject(o, "buckhash_sys", g->buckhash_sys);
	cJSON_AddNumberToObject(o, "gc_sys", g->gc_misc_sys + g->workbufs);
	cJSON_AddNumberToObject(o, "other_sys", g->other_sys);
	cJSON_AddNumberToObject(o, "sys",
				g->heap_inuse + g->heap_free + g->heap_released + g->stack_inuse +
					runtime_other(g));
	cJSON_AddNumberToObject(o, "num_gc", g->numgc);
	return o;
}

static cJSON *proc_json(const struct proc_mem *pm)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "source", pm->have_rollup ? "smaps_rollup" : "status");
	cJSON_AddItemToObject(o, "anonymous", num_or_null(pm->have_rollup, pm->anon));
	cJSON_AddItemToObject(o, "lazyfree", num_or_null(pm->have_rollup, pm->lazyfree));
	cJSON_AddItemToObject(o, "swap", num_or_null(pm->have_rollup, pm->swap));
	cJSON_AddNumberToObject(o, "vm_rss", pm->vm_rss);
	cJSON_AddNumberToObject(o, "rss_anon", pm->rss_anon);
	cJSON_AddNumberToObject(o, "rss_file", pm->rss_file);
	cJSON_AddNumberToObject(o, "rss_shmem", pm->rss_shmem);
	return o;
}

cJSON *mem_breakdown__json(const struct mem_breakdown *b)
{
	cJSON *o = cJSON_CreateObject(), *parts;

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "rss", b->rss);
	parts = cJSON_AddObjectToObject(o, "parts");
	for (int p = 0; parts && p < MEM__COUNT; p++) {
		cJSON *x = cJSON_AddObjectToObject(parts, part_names[p]);
		bool known = p == MEM_CGO ? b->cgo_bytes >= 0 : b->have_go || p >= MEM_FILE;

		if (!x)
			break;
		cJSON_AddItemToObject(x, "bytes", num_or_null(known, b->counted[p]));
		cJSON_AddNumberToObject(x, "resident", b->resident[p]);
	}
	cJSON_AddItemToObject(o, "released", num_or_null(b->have_go, b->go.heap_released));
	cJSON_AddItemToObject(o, "gc_cycles", num_or_null(b->have_go, b->go.numgc));
	cJSON_AddItemToObject(o, "heap_goal",
			      num_or_null(b->have_go && b->go.heap_goal, b->go.heap_goal));
	cJSON_AddStringToObject(o, "verdict", verdict_names[b->verdict]);
	cJSON_AddStringToObject(o, "why", b->why);
	cJSON_AddItemToObject(o, "go", b->have_go ? go_json(&b->go) : cJSON_CreateNull());
	if (!b->have_go)
		cJSON_AddStringToObject(o, "go_error", memstats_strerror(b->go_err));
	cJSON_AddItemToObject(o, "proc", proc_json(&b->proc));
	cJSON_AddNumberToObject(o, "runtime_read_us", b->runtime_us);
	cJSON_AddNumberToObject(o, "proc_read_us", b->proc_us);
	return o;
}
