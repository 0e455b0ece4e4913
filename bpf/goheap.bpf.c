// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sampled Go heap allocations and their frees, for `leakhound trace`.
 *
 * The runtime calls profilealloc(mp, x, size) for every allocation it samples (every
 * ~MemProfileRate bytes; malloc.go@1.19:1222, @1.26:2290) and freeSpecial(s, p, size)
 * when the sweeper frees an object that carries a profile special (mheap.go@1.19:1945,
 * @1.26). A uprobe on each keeps a map of live sampled objects (address -> size, stack,
 * time, GC cycle) and per-stack allocation totals; user space reads both every interval.
 * Nothing is sent per event: no ring buffer, no wakeup.
 *
 * One loaded object serves every target: maps are keyed by tgid, and a per-tgid
 * configuration carries the offsets and constants of that target's Go release. A hit
 * from a process without configuration is counted and ignored.
 *
 * The probe sites are the prologue's JBE (docs/PROBES.md), which can run twice per call
 * when the goroutine's stack grows: every handler is keyed by address and rewrites the
 * same entry on a repeat (only the per-stack allocation counters can count a call twice).
 *
 * --mallocgc mode, for targets whose sampling is off and may not be turned on: a probe on
 * every mallocgc call samples here instead, one allocation per ~rate bytes per CPU; there
 * is no address to follow (the result comes back in RAX at a RET, and Go functions get no
 * uretprobes), so it gives an allocation profile only.
 *
 * Every recorded event counts against the target's budget (events per second): past it,
 * events are counted as budget_skip and not recorded, and user space backs off (a higher
 * rate, or one event in 2^keep_shift, each recorded object carrying its weight).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "leakhound.h"
#include "stats.bpf.h"
#include "budget.bpf.h"
#include "stacks.bpf.h"

/* bpf_get_stack() is GPL-only. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_GOHEAP_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct lh_goheap_cfg);
} cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_GOHEAP_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct lh_goheap_tstate);
} tstate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_GOHEAP_MAX_LIVE);
	__type(key, struct lh_goheap_live_key);
	__type(value, struct lh_goheap_live);
} live SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_GOHEAP_MAX_STACKS);
	__type(key, struct lh_goheap_stack_key);
	__type(value, struct lh_goheap_stack);
} stacks SEC(".maps");

/* --mallocgc: bytes left before the next sample and calls, per CPU and target. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, LH_GOHEAP_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct lh_goheap_pcpu);
} countdown SEC(".maps");

/* Scratch for one stack: too big for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lh_goheap_stack);
} scratch SEC(".maps");

/*
 * The user stack of a sampled allocation, in the scratch buffer. The site is before
 * profilealloc's prologue has pushed RBP: the kernel's frame-pointer walk starts from the
 * caller's (mallocgc's) frame and so skips mallocgc's own return address. That address is
 * still at [rsp + ra_sp_off] (0 at the entry-side JBE, docs/PROBES.md): put it back as
 * the second frame.
 */
static __always_inline struct lh_goheap_stack *capture(struct pt_regs *ctx, __s32 ra_sp_off,
						       __u32 frame_set, __u64 *id)
{
	struct lh_goheap_stack *st;
	__u64 ra = 0;
	__u32 n;

	st = stack_walk(ctx, &scratch, 1, &n);
	if (!st)
		return NULL;
	st->pcs[0] = st->pcs[1];
	if (!frame_set && ra_sp_off >= 0 && n > 0) {
		if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(PT_REGS_SP(ctx) + ra_sp_off))) {
			stat_inc(LH_STAT_READ_USER);
			ra = 0;
		}
	}
	/*
	 * pcs[0] is the site again; pcs[1] the caller's return address, or, when it could
	 * not be read, the site once more (user space skips such a duplicate: shifting the
	 * stack down would cost a loop).
	 */
	st->pcs[1] = ra ? ra : st->pcs[0];
	if (n > 0)
		n++;
	if (n > LH_GOHEAP_STACK_DEPTH)
		n = LH_GOHEAP_STACK_DEPTH;
	st->nr = n;
	*id = stack_id(st, n);
	return st;
}

static __always_inline bool admit(const struct lh_goheap_cfg *c, struct lh_goheap_tstate *ts,
				  __u32 *weight)
{
	struct lh_budget_ctr b = {
		.kept_out = &ts->kept_out,
		.budget_skips = &ts->budget_skips,
		.window_ns = &ts->window_ns,
		.window_events = &ts->window_events,
	};

	return budget_admit(c->keep_shift, c->budget, &b, weight);
}

SEC("uprobe")
int lh_goheap_alloc(struct pt_regs *ctx)
{
	/* profilealloc(mp *m, x unsafe.Pointer, size uintptr): RAX, RBX, RCX (ABIInternal) */
	__u64 addr = ctx->bx, size = ctx->cx;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct lh_goheap_live_key lk = { .tgid = tgid, .addr = addr };
	struct lh_goheap_stack_key sk = { .tgid = tgid };
	struct lh_goheap_live lv = {};
	struct lh_goheap_tstate *ts;
	struct lh_goheap_stack *st;
	struct lh_goheap_cfg *c;
	__u32 gc = 0, weight;

	c = bpf_map_lookup_elem(&cfg, &tgid);
	ts = bpf_map_lookup_elem(&tstate, &tgid);
	if (!c || !ts) {
		stat_inc(LH_STAT_NO_CONFIG);
		return 0;
	}
	__sync_fetch_and_add(&ts->allocs, 1);
	__sync_fetch_and_add(&ts->alloc_bytes, size);
	if (!admit(c, ts, &weight))
		return 0;
	st = capture(ctx, c->alloc_ra_sp_off, c->alloc_frame_set, &sk.id);
	if (!st || !stack_add(&stacks, &sk, st, weight, size * weight))
		return 0;
	if (c->numgc_addr && bpf_probe_read_user(&gc, sizeof(gc), (void *)c->numgc_addr))
		stat_inc(LH_STAT_READ_USER);
	lv.size = size;
	lv.stack_id = sk.id;
	lv.ts_ns = bpf_ktime_get_ns();
	lv.gc = gc;
	lv.rate = c->rate;
	lv.weight = weight;
	if (bpf_map_update_elem(&live, &lk, &lv, BPF_ANY))
		stat_inc(LH_STAT_LIVE_FULL);
	return 0;
}

/* Bytes to the next --mallocgc sample: uniform in [rate/2, 3*rate/2), mean rate. */
static __always_inline __s64 next_sample(__u32 rate)
{
	if (rate <= 1)
		return 0;
	return rate / 2 + bpf_get_prandom_u32() % rate;
}

SEC("uprobe")
int lh_goheap_mallocgc(struct pt_regs *ctx)
{
	/* mallocgc(size uintptr, typ *_type, needzero bool): RAX, RBX, CL (1.19-1.26) */
	__u64 size = ctx->ax, est_objects, est_bytes;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct lh_goheap_stack_key sk = {.tgid = tgid};
	struct lh_goheap_tstate *ts;
	struct lh_goheap_stack *st;
	struct lh_goheap_cfg *c;
	struct lh_goheap_pcpu *pc;
	__u32 weight;

	/* every allocation comes here: per-CPU state only until a sample is due */
	c = bpf_map_lookup_elem(&cfg, &tgid);
	if (!c) {
		stat_inc(LH_STAT_NO_CONFIG);
		return 0;
	}
	pc = bpf_map_lookup_elem(&countdown, &tgid);
	if (!pc) {
		struct lh_goheap_pcpu first = { .left = next_sample(c->rate) };

		bpf_map_update_elem(&countdown, &tgid, &first, BPF_NOEXIST);
		pc = bpf_map_lookup_elem(&countdown, &tgid);
		if (!pc) {
			stat_inc(LH_STAT_MAP_LOOKUP);
			return 0;
		}
	}
	pc->calls++;
	if (!size)
		return 0; /* zerobase: no memory */
	pc->left -= size;
	if (pc->left >= 0)
		return 0;
	pc->left = next_sample(c->rate);
	ts = bpf_map_lookup_elem(&tstate, &tgid);
	if (!ts) {
		stat_inc(LH_STAT_NO_CONFIG);
		return 0;
	}
	__sync_fetch_and_add(&ts->allocs, 1);
	__sync_fetch_and_add(&ts->alloc_bytes, size);
	if (!admit(c, ts, &weight))
		return 0;
	/*
	 * With the sampling point uniform over the byte stream, an allocation of size bytes
	 * is sampled with probability min(1, size / rate): each sample stands for
	 * max(size, rate) bytes.
	 */
	est_bytes = size > c->rate ? size : c->rate;
	est_objects = c->rate > size ? c->rate / size : 1;
	st = capture(ctx, c->malloc_ra_sp_off, c->malloc_frame_set, &sk.id);
	if (st)
		stack_add(&stacks, &sk, st, est_objects * weight, est_bytes * weight);
	return 0;
}

SEC("uprobe")
int lh_goheap_free(struct pt_regs *ctx)
{
	/* freeSpecial(s *special, p unsafe.Pointer, size uintptr): RAX, RBX, RCX */
	__u64 s = ctx->ax, addr = ctx->bx;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct lh_goheap_live_key lk = { .tgid = tgid, .addr = addr };
	struct lh_goheap_tstate *ts;
	struct lh_goheap_live *lv;
	struct lh_goheap_cfg *c;
	__u8 kind = 0;

	c = bpf_map_lookup_elem(&cfg, &tgid);
	if (!c) {
		stat_inc(LH_STAT_NO_CONFIG);
		return 0;
	}
	if (bpf_probe_read_user(&kind, sizeof(kind), (void *)(s + c->special_kind_off))) {
		stat_inc(LH_STAT_READ_USER);
		return 0;
	}
	/* finalizers, weak handles, cleanups...: not a heap profile record */
	if (kind != c->kind_profile)
		return 0;
	ts = bpf_map_lookup_elem(&tstate, &tgid);
	lv = bpf_map_lookup_elem(&live, &lk);
	if (!lv) {
		/* allocated before attach, or a repeat of this call: nothing to do */
		if (ts)
			__sync_fetch_and_add(&ts->frees_untracked, 1);
		return 0;
	}
	if (ts) {
		__sync_fetch_and_add(&ts->frees, 1);
		__sync_fetch_and_add(&ts->free_bytes, lv->size);
	}
	bpf_map_delete_elem(&live, &lk);
	return 0;
}

SEC("uprobe")
int lh_goheap_bucket(struct pt_regs *ctx)
{
	/* setprofilebucket(p unsafe.Pointer, b *bucket): RAX, RBX */
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct lh_goheap_live_key lk = { .tgid = tgid, .addr = ctx->ax };
	struct lh_goheap_tstate *ts;
	struct lh_goheap_live *lv;

	lv = bpf_map_lookup_elem(&live, &lk);
	if (!lv)
		return 0;
	lv->bucket = ctx->bx;
	ts = bpf_map_lookup_elem(&tstate, &tgid);
	if (ts)
		__sync_fetch_and_add(&ts->buckets, 1);
	return 0;
}
