/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_MEMSTATS_H
#define LEAKHOUND_MEMSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct target;
struct cJSON;

/*
 * The runtime's memory statistics, read from the target's memory without stopping it
 * (GO-RUNTIME.md §7): the plain fields runtime.ReadMemStats derives its numbers from.
 * Bytes unless said otherwise; the MemStats field each one equals is in brackets.
 */
struct go_memstats {
	uint64_t heap_inuse;	 /* gcController.heapInUse [HeapInuse] */
	uint64_t heap_free;	 /* gcController.heapFree [HeapIdle - HeapReleased] */
	uint64_t heap_released;	 /* gcController.heapReleased [HeapReleased] */
	uint64_t heap_alloc;	 /* totalAlloc - totalFree [HeapAlloc, up to the mcache flushes] */
	uint64_t heap_live;	 /* gcController.heapLive: what the pacer counts now */
	uint64_t heap_marked;	 /* gcController.heapMarked: live after the last mark */
	uint64_t heap_goal;	 /* gcPercentHeapGoal [NextGC, GOGC's goal]; 0: GC off */
	uint64_t last_heap_goal; /* the goal of the last completed cycle */
	int64_t memory_limit;	 /* GOMEMLIMIT; INT64_MAX: none */
	uint64_t stack_inuse;	 /* Σ memstats.heapStats.stats[0..2].inStacks [StackInuse] */
	uint64_t workbufs;	 /* Σ inWorkBufs (in [GCSys]) */
	uint64_t stacks_sys;	 /* [StackSys - StackInuse]: OS stacks the runtime mapped */
	uint64_t mspan_sys;	 /* [MSpanSys] */
	uint64_t mcache_sys;	 /* [MCacheSys] */
	uint64_t buckhash_sys;	 /* [BuckHashSys] */
	uint64_t gc_misc_sys;	 /* [GCSys - workbufs] */
	uint64_t other_sys;	 /* [OtherSys] */
	uint32_t numgc;		 /* [NumGC] */
};

/*
 * Reads them: one process_vm_readv of three ranges. -ENOENT when runtime.memstats or
 * runtime.gcController, or an offset, is unknown for the binary; -EPROTO when what was
 * read cannot be the runtime's statistics (not whole heap pages, a negative sum: a torn
 * read is retried twice first); else target__read's errors.
 */
int memstats__read(struct target *t, struct go_memstats *ms);
/* A message for memstats__read()'s errors. */
const char *memstats_strerror(int err);

/* Memory of a process as the kernel counts it. */
struct proc_mem {
	/* /proc/PID/smaps_rollup: exact, from a walk of the page tables */
	bool have_rollup;
	uint64_t rss, anon, lazyfree, swap;
	/* /proc/PID/status: the mm's counters (cheap, per-CPU batched: a few pages off) */
	bool have_status;
	uint64_t vm_rss, rss_anon, rss_file, rss_shmem;
};

/*
 * Parsers of the two files, for any bytes (no NUL needed): "Key:  N kB" lines; unknown
 * keys, malformed lines and numbers past 2^64 / 1024 are skipped. 0 when the fields
 * the breakdown needs were found (rollup: Rss and Anonymous; status: VmRSS, RssAnon,
 * RssFile, RssShmem), -EINVAL when not.
 */
int procmem_parse_smaps_rollup(const char *buf, size_t len, struct proc_mem *pm);
int procmem_parse_status(const char *buf, size_t len, struct proc_mem *pm);
/* Reads /proc/PID/status, and smaps_rollup when rollup. -ESRCH, -EACCES, ... */
int procmem__read(pid_t pid, bool rollup, struct proc_mem *pm);

/* The parts of RSS (docs/MEMORY.md). */
enum mem_part {
	MEM_HEAP_INUSE, /* Go heap in use (spans holding objects) */
	MEM_STACKS,	/* goroutine stacks: stack spans [StackInuse] */
	MEM_HEAP_IDLE,	/* Go heap idle, not yet returned to the OS */
	MEM_CGO,	/* C heap outstanding (traced, sampled and scaled) */
	MEM_RUNTIME,	/* other runtime structures: [Sys] - heap - StackInuse */
	MEM_FILE,	/* file-backed and shared mappings: Rss - Anonymous */
	MEM_ANON_OTHER, /* anonymous memory none of the above accounts for */
	MEM__COUNT,
};

enum mem_verdict {
	MEM_V_UNKNOWN, /* the runtime's statistics could not be read */
	MEM_V_IDLE_HEAP,
	MEM_V_LIVE_HEAP,
	MEM_V_STACKS,
	MEM_V_CGO,
	MEM_V_RUNTIME,
	MEM_V_FILE,
	MEM_V_ANON_OTHER,
};

/* The idle-heap rule (docs/MEMORY.md): idle >= this, >= heap in use, >= RSS / 4. */
#define MEM_IDLE_FLOOR (16ULL << 20)

struct mem_breakdown {
	bool have_go; /* go holds the runtime's statistics */
	int go_err;   /* else why not (-errno) */
	struct go_memstats go;
	struct proc_mem proc;
	int64_t cgo_bytes; /* traced C heap outstanding; -1: unknown (not traced) */
	uint64_t rss;
	/*
	 * counted: the runtime's (or leakhound's) figure for the part; resident: its share
	 * of RSS. The shares add up to RSS exactly: the runtime's figures are given the
	 * anonymous RSS in the order of the enum, each up to what is left (a mapped page
	 * the program never touched is counted, not resident), the rest is MEM_ANON_OTHER.
	 */
	uint64_t counted[MEM__COUNT];
	uint64_t resident[MEM__COUNT];
	enum mem_verdict verdict;
	char why[320];	   /* the verdict in words */
	double runtime_us; /* time to read the runtime's statistics */
	double proc_us;	   /* and /proc (status, smaps_rollup) */
};

/* JSON name of a part ("heap_inuse", ...), and of a verdict ("idle_heap", ...). */
const char *mem_part_name(enum mem_part p);
const char *mem_verdict_name(enum mem_verdict v);
/*
 * Reads everything (smaps_rollup too when rollup) and computes the breakdown. cgo_bytes:
 * the traced C heap outstanding, -1 when not traced. Fails (-errno) only when the
 * process's memory counters cannot be read; unreadable runtime statistics leave
 * have_go false (go_err says why) and the Go parts 0.
 */
int mem_breakdown__read(struct target *t, bool rollup, int64_t cgo_bytes, struct mem_breakdown *b);
/* The parts and the verdict from b->go, b->proc, b->cgo_bytes (for tests). */
void mem_breakdown__compute(struct mem_breakdown *b);
void mem_breakdown__print(const struct mem_breakdown *b, FILE *out, const char *indent);
/* The same in three lines, for the periodic reports of 'leakhound trace'. */
void mem_breakdown__print_short(const struct mem_breakdown *b, FILE *out);
/* {rss, parts: {name: {bytes, resident}}, released, go: {...}, verdict, why, ...} */
struct cJSON *mem_breakdown__json(const struct mem_breakdown *b);

#endif
