/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_GOROUTINES_H
#define LEAKHOUND_GOROUTINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct target;

/*
 * Every goroutine of a running Go process, read out of its memory (runtime.allgs,
 * GO-RUNTIME.md §3.3) without probes and without stopping it. The reads race with the
 * program: every loop is bounded, every pointer is checked against /proc/PID/maps, and
 * a g whose fields do not hold together on two reads is skipped and counted.
 */

/* runtime/runtime2.go, 1.19-1.26 (10 and 11 are 1.26's); _Gscan is OR'ed in. */
enum goroutine_status {
	GSTATUS_IDLE = 0,
	GSTATUS_RUNNABLE = 1,
	GSTATUS_RUNNING = 2,
	GSTATUS_SYSCALL = 3,
	GSTATUS_WAITING = 4,
	GSTATUS_DEAD = 6,
	GSTATUS_COPYSTACK = 8,
	GSTATUS_PREEMPTED = 9,
	GSTATUS_LEAKED = 10,
	GSTATUS_DEADEXTRA = 11,
	GSTATUS_SCAN = 0x1000,
};

/* How much of a goroutine's stack the snapshot has. */
enum goroutine_stack {
	GSTACK_OK,	   /* unwound to runtime.goexit or to the end of the frame chain */
	GSTACK_RUNNING,	   /* running on a thread now: its saved registers are stale */
	GSTACK_TRUNCATED,  /* the frame chain broke (or got too deep): frames so far */
	GSTACK_UNREADABLE, /* saved registers or stack outside the target's memory */
};

struct goroutine {
	uint64_t goid;
	uint64_t parent_goid; /* g.parentGoid (1.21+); 0: not recorded */
	uint64_t gaddr;	      /* runtime address of the g */
	uint32_t status;      /* without _Gscan */
	bool system;	      /* not counted by runtime.NumGoroutine (isSystemGoroutine) */
	int32_t wait_reason;  /* g.waitreason while waiting, else -1 */
	int64_t wait_ns;      /* how long it has waited, -1 when unknown (see below) */
	uint64_t startpc;     /* link-time address of the start function */
	uint64_t gopc;	      /* link-time return address of the `go` statement's call */
	enum goroutine_stack stack;
	uint32_t pc_off; /* its frames: snapshot pcs[pc_off .. pc_off + npcs) */
	uint32_t npcs;
};

/*
 * pcs are link-time return addresses, innermost first, each looked up at pc - 1; an
 * address that is not a return address (the entry of a goroutine that has not run
 * yet, the instruction an asynchronous preemption stopped) is stored as pc + 1, as
 * the runtime's own tracebackPCs does.
 */
struct goroutine_snapshot {
	struct goroutine *g; /* live goroutines (not _Gdead), in allgs order */
	size_t n;
	uint64_t *pcs;	     /* never NULL in a snapshot taken, even one without a frame */
	size_t npcs;
	uint64_t allglen; /* entries of allgs, dead ones included */
	uint32_t user;	  /* runtime.NumGoroutine's count */
	uint32_t system;
	uint32_t dead;	       /* _Gdead (and _Gidle) gs kept for reuse */
	uint32_t unreadable;   /* g pointers outside the target's memory, or short reads */
	uint32_t torn;	       /* gs inconsistent on two reads: changing under us */
	uint32_t stack_errors; /* goroutines with GSTACK_UNREADABLE or GSTACK_TRUNCATED */
	int64_t nanotime;      /* the target's runtime.nanotime() at the snapshot */
	uint64_t elapsed_ns;   /* how long the snapshot took */
	const char *allgs_how; /* "runtime.allgptr/allglen" or "runtime.allgs" */
	char **reasons;	       /* runtime.waitReasonStrings, read from the target */
	uint32_t nreasons;
};

/* Bounds: allgs longer than this is refused (-E2BIG); deeper stacks are truncated. */
#define GOROUTINES_MAX	    10000000
#define GOROUTINE_MAX_DEPTH 128

/*
 * One snapshot of t. -ENOENT when allgs or the g offsets are unknown, -ENOTSUP for a
 * Go release outside 1.19-1.26, -ESRCH when the process is gone, -EFAULT when allgs
 * itself cannot be read, -E2BIG past GOROUTINES_MAX. On error *s is empty.
 */
int goroutines__snapshot(struct target *t, struct goroutine_snapshot *s);
void goroutines__release(struct goroutine_snapshot *s);

/* "waiting", "running", ... as the runtime's gStatusStrings; "?" out of range. */
const char *goroutine_status_name(uint32_t status);
/*
 * The runtime's word for a goroutine's state in tracebacks: its wait reason while
 * waiting with one (runtime/traceback.go goroutineheader), else its status name.
 */
const char *goroutine_state(const struct goroutine_snapshot *s, const struct goroutine *g);

/*
 * A snapshot of t's goroutines rendered as the runtime's /debug/pprof/goroutine does:
 * the gzip'd profile, debug=1 (grouped by stack) or debug=2 (one by one), into a
 * malloc'd buffer. 0, or -errno (goroutines__snapshot's, -ENOMEM).
 */
enum goroutines_format {
	GOROUTINES_PPROF,
	GOROUTINES_DEBUG1,
	GOROUTINES_DEBUG2,
};
int goroutines_render(struct target *t, enum goroutines_format fmt, char **buf, size_t *len);
/* The same from a snapshot taken before (s is left as it is). */
int goroutines_render_from(struct target *t, const struct goroutine_snapshot *s,
			   enum goroutines_format fmt, char **buf, size_t *len);
#endif
