/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_H
#define LEAKHOUND_H

/*
 * The BPF <-> user space contract, and the only one: every struct that crosses a map or
 * a ring buffer is declared here, once, for both compilers. clang --target=bpf sees it
 * after vmlinux.h, the host compiler after <linux/types.h>. Rules:
 *   - fixed-width __u8/__u16/__u32/__u64 (__s32 where a kernel helper returns a signed
 *     count) fields only: no pointers, no long, no enums as field types, no bitfields;
 *   - explicit padding, so both sides agree without relying on either ABI;
 *   - a _Static_assert on the size of every shared struct, so a field added on one side
 *     only fails the build instead of corrupting records.
 */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/*
 * Failure counters. Every BPF object has a per-CPU array map named "stats" with
 * LH_STAT__COUNT entries of __u64, indexed by enum lh_stat: every path on which the
 * kernel side loses something (a full ring buffer, a stack it could not capture, a map
 * update refused) bumps exactly one counter, so nothing is dropped silently.
 *
 * Later tracers extend the list by appending X() lines before the end, one per new
 * failure path, with the name reports and /metrics show. Never reorder or remove an
 * entry: numbers are shared by every object built from this header, and a counter
 * that no object uses simply stays zero.
 */
#define LH_STATS(X)                                                                       \
	X(RINGBUF_RESERVE, "ringbuf_reserve_fail", "ring buffer full: record dropped")    \
	X(STACK_USER, "stack_user_fail", "bpf_get_stack(BPF_F_USER_STACK) failed")        \
	X(MAP_LOOKUP, "map_lookup_fail", "lookup in a fixed-size array map failed")       \
	X(PIDNS_TGID, "pidns_tgid_fail", "bpf_get_ns_current_pid_tgid() failed")          \
	X(LIVE_FULL, "live_map_full", "live-object map full: sampled object not tracked") \
	X(STACK_MAP_FULL, "stack_map_full", "stack map full: allocation not tracked")     \
	X(STACK_TRUNCATED, "stack_truncated", "user stack deeper than the buffer: cut")   \
	X(READ_USER, "read_user_fail", "bpf_probe_read_user() of target memory failed")   \
	X(NO_CONFIG, "no_config", "probe hit from a process with no configuration")       \
	X(BUDGET, "budget_skip", "probe budget of the target exceeded: event not recorded") \
	X(PENDING_FULL, "pending_full", "map of allocator calls in flight full: call lost")

#define LH_STAT_ENUM(id, name, desc) LH_STAT_##id,
enum lh_stat {
	LH_STATS(LH_STAT_ENUM)
	LH_STAT__COUNT
};
#undef LH_STAT_ENUM

/* ---- check.bpf.c: the self-test uprobe of `leakhound check` ---- */

/* Frames kept per record: enough to prove user stacks work, small enough for the ring. */
#define LH_CHECK_STACK_DEPTH 32

/* One ring-buffer record per uprobe hit. */
struct lh_check_event {
	__u32 tgid;	      /* as the filter saw it (in cfg_pidns when set) */
	__u32 tid;	      /* kernel thread id */
	__u64 ts_ns;	      /* bpf_ktime_get_ns() */
	__u64 arg0;	      /* first integer argument (C ABI: RDI), proves register access */
	__s32 stack_bytes;    /* bpf_get_stack() result: bytes filled, or -errno */
	__u32 pad;
	__u64 stack[LH_CHECK_STACK_DEPTH]; /* user PCs, innermost (the probed IP) first */
};
_Static_assert(sizeof(struct lh_check_event) == 32 + 8 * LH_CHECK_STACK_DEPTH,
	       "struct lh_check_event layout changed: fix both sides");

/* ---- goheap.bpf.c: sampled Go heap allocations and their frees, for `leakhound trace` ---- */

/* User PCs kept per allocation stack: the sampled-allocation site, its caller, then the walk. */
#define LH_GOHEAP_STACK_DEPTH 64
/* Live sampled objects over all targets: 256 Ki x 56 bytes = 14 MiB at most. */
#define LH_GOHEAP_MAX_LIVE (256 * 1024)
#define LH_GOHEAP_MAX_STACKS (16 * 1024)
#define LH_GOHEAP_MAX_TARGETS 64

/*
 * Per-target configuration, keyed by the kernel tgid: one loaded object serves every
 * target (DESIGN.md §2), each with its own Go release's offsets and globals.
 */
struct lh_goheap_cfg {
	__u64 numgc_addr;	/* runtime address of memstats.numgc (uint32); 0: unknown */
	__u32 special_kind_off;	/* offsetof(runtime.special, kind) (a byte) */
	__u32 kind_profile;	/* _KindSpecialProfile: 2, 3 or 4 by release */
	__s32 alloc_ra_sp_off;	/* profilealloc's return address at [rsp + this]; -1: unknown */
	__u32 alloc_frame_set;	/* rbp already points at profilealloc's own frame */
	__s32 malloc_ra_sp_off; /* the same for mallocgc (--mallocgc mode) */
	__u32 malloc_frame_set;
	/*
	 * The sampling rate in effect, in bytes: runtime.MemProfileRate for the profilealloc
	 * probe (recorded with each object, so a rate changed while tracing scales each
	 * object right), the BPF-side rate of the mallocgc probe.
	 */
	__u32 rate;
	/* Back-off: record one event in 2^keep_shift, chosen at random (weight 2^keep_shift). */
	__u32 keep_shift;
	/* Recorded events per second allowed (the probe budget); 0: no limit. */
	__u32 budget;
	__u32 pad;
};
_Static_assert(sizeof(struct lh_goheap_cfg) == 48, "struct lh_goheap_cfg layout changed");

/* Per-target counters, updated with atomic adds. */
struct lh_goheap_tstate {
	__u64 allocs;		/* profilealloc hits (a may_repeat site can count one call twice) */
	__u64 alloc_bytes;
	__u64 frees;		/* freeSpecial of a tracked profiled object */
	__u64 free_bytes;
	__u64 frees_untracked; /* freeSpecial of a profiled object allocated before attach */
	__u64 buckets;	       /* setprofilebucket hits that tied a live object to its bucket */
	__u64 mallocgc_calls;  /* mallocgc hits: summed by user space from lh_goheap_pcpu */
	__u64 kept_out;	       /* events left out by the 1-in-2^keep_shift back-off */
	__u64 budget_skips;    /* events over the budget, not recorded */
	__u64 window_ns;       /* start of the current one-second budget window */
	__u64 window_events;   /* events recorded in it */
};
_Static_assert(sizeof(struct lh_goheap_tstate) == 88, "struct lh_goheap_tstate layout changed");

/*
 * --mallocgc, per CPU and target: bytes left to the next sample, and calls. Per CPU so
 * that a probe on every allocation shares no cache line between CPUs.
 */
struct lh_goheap_pcpu {
	__s64 left;
	__u64 calls;
};
_Static_assert(sizeof(struct lh_goheap_pcpu) == 16, "struct lh_goheap_pcpu layout changed");

struct lh_goheap_live_key {
	__u32 tgid;
	__u32 pad;
	__u64 addr;		/* the object's address in the target */
};
_Static_assert(sizeof(struct lh_goheap_live_key) == 16, "struct lh_goheap_live_key changed");

struct lh_goheap_live {
	__u64 size;	/* bytes, rounded up to the size class by the runtime */
	__u64 stack_id; /* key of the stacks map (with tgid) */
	__u64 ts_ns;	/* bpf_ktime_get_ns() at allocation */
	__u64 bucket;	/* the runtime's *bucket (setprofilebucket), 0 until tied */
	__u32 gc;	/* memstats.numgc at allocation; 0 when unknown */
	__u32 rate;	/* lh_goheap_cfg.rate when it was recorded */
	__u32 weight;	/* 2^keep_shift when it was recorded */
	__u32 pad;
};
_Static_assert(sizeof(struct lh_goheap_live) == 48, "struct lh_goheap_live layout changed");

struct lh_goheap_stack_key {
	__u32 tgid;
	__u32 pad;
	__u64 id;		/* hash of the PCs */
};
_Static_assert(sizeof(struct lh_goheap_stack_key) == 16, "struct lh_goheap_stack_key changed");

struct lh_goheap_stack {
	/*
	 * Sampled allocations from this stack since attach, each counted with its back-off
	 * weight; in --mallocgc mode, already scaled: estimated allocations and bytes.
	 */
	__u64 allocs;
	__u64 alloc_bytes;
	__u32 nr;		/* valid entries of pcs */
	__u32 truncated;
	__u64 pcs[LH_GOHEAP_STACK_DEPTH]; /* innermost first: profilealloc, its caller, ... */
};
_Static_assert(sizeof(struct lh_goheap_stack) == 24 + 8 * LH_GOHEAP_STACK_DEPTH,
	       "struct lh_goheap_stack layout changed");

/* ---- goroutines.bpf.c: goroutine creation and exit, for `leakhound trace` ---- */

/* Live goroutines over all targets, and distinct creation stacks. */
#define LH_GOR_MAX_LIVE (256 * 1024)
#define LH_GOR_MAX_STACKS (16 * 1024)
/* Creation stacks kept of the creator's own creation, its creator's, ...: story 1's chain. */
#define LH_GOR_ANCESTORS 3

/* Per-target configuration, keyed by the kernel tgid. */
struct lh_gor_cfg {
	__s32 goid_off;		/* offsetof(runtime.g, goid) */
	__s32 parent_goid_off;	/* offsetof(runtime.g, parentGoid), 1.21+; -1: none */
	__s32 g_m_off;		/* offsetof(runtime.g, m) */
	__s32 m_curg_off;	/* offsetof(runtime.m, curg) */
	__u32 keep_shift;	/* record one creation in 2^keep_shift (budget back-off) */
	__u32 budget;		/* recorded creations per second; 0: no limit */
};
_Static_assert(sizeof(struct lh_gor_cfg) == 24, "struct lh_gor_cfg layout changed");

struct lh_gor_tstate {
	__u64 creates;		/* newg_visible hits: goroutines made runnable */
	__u64 exits;		/* exits of recorded goroutines */
	__u64 exits_untracked;	/* exits of goroutines from before attach, or not recorded */
	__u64 malgs;		/* malg hits: new g structs (not taken from the free list) */
	__u64 kept_out;
	__u64 budget_skips;
	__u64 window_ns;
	__u64 window_events;
};
_Static_assert(sizeof(struct lh_gor_tstate) == 64, "struct lh_gor_tstate layout changed");

struct lh_gor_key {
	__u32 tgid;
	__u32 pad;
	__u64 goid;
};
_Static_assert(sizeof(struct lh_gor_key) == 16, "struct lh_gor_key layout changed");

/*
 * A live goroutine created since attach. Creation stacks live in a stacks map of the
 * same layout as the heap tracer's (struct lh_goheap_stack_key / lh_goheap_stack, with
 * allocs counting creations from the stack).
 */
struct lh_gor_live {
	__u64 stack_id;		/* its creation stack */
	__u64 ts_ns;		/* bpf_ktime_get_ns() at creation */
	__u64 parent_goid;	/* the creating goroutine */
	__u64 anc[LH_GOR_ANCESTORS]; /* the creator's creation stack, its creator's...; 0: none */
	__u32 weight;		/* 2^keep_shift when it was recorded */
	__u32 pad;
};
_Static_assert(sizeof(struct lh_gor_live) == 56, "struct lh_gor_live layout changed");

/* ---- cheap.bpf.c: C heap allocations under cgo, for `leakhound trace --cgo` ---- */

/*
 * The allocator's entry points, in the order of include/callocs.h's enum calloc_fn_id;
 * the BPF side gets the id of a probe as its attach cookie.
 */
#define LH_CFN_MALLOC		0
#define LH_CFN_CALLOC		1
#define LH_CFN_REALLOC		2
#define LH_CFN_REALLOCARRAY	3
#define LH_CFN_FREE		4
#define LH_CFN_POSIX_MEMALIGN	5
#define LH_CFN_ALIGNED_ALLOC	6
#define LH_CFN_MEMALIGN		7
#define LH_CFN_VALLOC		8
#define LH_CFN_PVALLOC		9
#define LH_CFN_COUNT		10

/* Live sampled C objects and stacks over all targets; threads inside an allocator call. */
#define LH_CHEAP_MAX_LIVE (256 * 1024)
#define LH_CHEAP_MAX_STACKS (16 * 1024)
#define LH_CHEAP_MAX_TARGETS 64
#define LH_CHEAP_MAX_PENDING (16 * 1024)

/*
 * Per-target configuration, keyed by the kernel tgid. Live objects and stacks use the Go
 * heap tracer's layouts (lh_goheap_live_key, lh_goheap_live with gc = 0 and bucket = the
 * allocator function's id, lh_goheap_stack_key, lh_goheap_stack).
 */
struct lh_cheap_cfg {
	/*
	 * Runtime [lo, hi) of each probed entry point (0, 0: not probed): a call whose
	 * return address lies in one of them is the allocator calling itself (glibc's
	 * realloc(NULL, n) calls malloc), left to the outer call. lo is also the frame put
	 * at the top of every recorded stack.
	 */
	__u64 fn_lo[LH_CFN_COUNT];
	__u64 fn_hi[LH_CFN_COUNT];
	__u32 rate;		/* mean bytes between samples; <= 1: every allocation */
	__u32 keep_shift;	/* budget back-off: record one sample in 2^keep_shift */
	__u32 budget;		/* recorded allocations per second; 0: no limit */
	__u32 pad;
};
_Static_assert(sizeof(struct lh_cheap_cfg) == 16 * LH_CFN_COUNT + 16,
	       "struct lh_cheap_cfg layout changed");

/*
 * Per-target budget state and rare counters, updated with atomic adds (the counters of
 * every call are per CPU: struct lh_cheap_pcpu).
 */
struct lh_cheap_tstate {
	__u64 pending_full;	/* calls lost: the pending map was full */
	__u64 kept_out;
	__u64 budget_skips;
	__u64 window_ns;
	__u64 window_events;
};
_Static_assert(sizeof(struct lh_cheap_tstate) == 40, "struct lh_cheap_tstate layout changed");

/*
 * Per CPU and target: bytes left to the next sample (an exponential countdown, as the Go
 * runtime samples, so a sample of size bytes stands for 1 / (1 - exp(-size/rate))
 * objects), and the counters of calls. Per CPU: every allocator call comes here, and
 * a counter shared by all CPUs would cost a contended cache line per call.
 */
struct lh_cheap_pcpu {
	__s64 left;
	__u64 calls;		/* allocating calls, nested ones included */
	__u64 nested;		/* sampled calls from inside another probed entry point: left
				 * to the outer call (every one with rate <= 1) */
	__u64 frees;		/* free calls, NULL included */
	__u64 allocs;		/* allocations recorded (sampled and admitted) */
	__u64 alloc_bytes;	/* their requested bytes */
	__u64 rec_frees;	/* frees (and reallocs) of a recorded object */
	__u64 rec_free_bytes;
	__u64 failed;		/* recorded calls that returned no memory */
	__u64 pad;
};
_Static_assert(sizeof(struct lh_cheap_pcpu) == 80, "struct lh_cheap_pcpu layout changed");

/*
 * A thread inside an allocating call, keyed by thread and stack pointer at entry (the
 * tgid first, so that a target's entries go with it when it is detached).
 */
struct lh_cheap_pending_key {
	__u32 tgid;
	__u32 tid;
	__u64 sp;
};
_Static_assert(sizeof(struct lh_cheap_pending_key) == 16, "lh_cheap_pending_key changed");

struct lh_cheap_pending {
	__u64 size;		/* bytes asked for */
	__u64 ptr;		/* realloc's old pointer; posix_memalign's memptr */
	__u32 fn;		/* LH_CFN_* */
	__u32 weight;		/* 0: not sampled (realloc of a recorded object only) */
};
_Static_assert(sizeof(struct lh_cheap_pending) == 24, "struct lh_cheap_pending layout changed");

/* ---- discover.bpf.c: processes appearing and going away, for `leakhound daemon` ---- */

#define LH_DISC_EXEC 1	/* a process ran execve(): a new executable image */
#define LH_DISC_EXIT 2	/* the last thread of a process exited: the process is gone */

/*
 * Ring buffer of discovery records: 40 bytes (48 in the ring), ~21000 in flight, a few
 * seconds of a node starting thousands of processes per second.
 */
#define LH_DISC_RINGBUF_BYTES (1024 * 1024)

struct lh_disc_event {
	__u32 kind;		/* LH_DISC_* */
	__u32 pid;		/* tgid, as the initial PID namespace sees it */
	__u64 start_ns;		/* group leader's start_boottime: /proc/PID/stat starttime in ns */
	__u64 exec_id;		/* task->self_exec_id after the exec (exit: the last one) */
	__u64 ts_ns;		/* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the event */
	__u32 ppid;		/* the parent's tgid (exec only) */
	__u32 pad;
};
_Static_assert(sizeof(struct lh_disc_event) == 40, "struct lh_disc_event layout changed");

/* ---- OOM kills (bpf/oom.bpf.c) ---- */

/* Ring buffer of OOM victims: one record per kill, a few hundred fit. */
#define LH_OOM_RINGBUF_BYTES (16 * 1024)

/* One oom:mark_victim: the task the kernel picked, and its memory then (kernels 6.8+). */
struct lh_oom_event {
	__u32 pid;		/* the victim task's pid (its thread-group leader's, in practice) */
	__u32 has_rss;		/* the tracepoint carries the rss fields below */
	__u64 ts_ns;		/* bpf_ktime_get_ns() */
	__u64 total_vm_kb;
	__u64 anon_rss_kb;
	__u64 file_rss_kb;
	__u64 shmem_rss_kb;
	__s64 oom_score_adj;
};
_Static_assert(sizeof(struct lh_oom_event) == 56, "struct lh_oom_event layout changed");

#endif
