// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Goroutine creations and exits, for `leakhound trace`.
 *
 * newg_visible is the CALL runqput in runtime.newproc.func1, right after newproc1 has
 * returned the new g: RBX holds it there, at an emulated instruction, on every release
 * 1.19-1.26 (docs/PROBES.md; a uprobe on newproc1's RET would be single-stepped). The code
 * runs on g0 under systemstack, which keeps RBP: the frame-pointer walk goes on from
 * newproc into the creating goroutine's frames, the `go` statement and its callers.
 * Each new goroutine is recorded by goid with that stack, its creation time, its
 * creator's goid, and the creation stacks of its creator and their creators when those
 * were recorded: a goroutine started by a short-lived one keeps the stack that led to it.
 *
 * The exit probe (goexit0 up to 1.21, gdestroy from 1.22, RAX = the g) drops the entry;
 * malg (a new g struct, not one from the free list) is only counted.
 *
 * As in goheap.bpf.c, one loaded object serves every target: maps keyed by tgid, a
 * per-tgid configuration with that release's offsets, nothing sent per event.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "leakhound.h"
#include "stats.bpf.h"
#include "stacks.bpf.h"
#include "budget.bpf.h"

/* bpf_get_stack() is GPL-only. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_GOHEAP_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct lh_gor_cfg);
} gcfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_GOHEAP_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct lh_gor_tstate);
} gtstate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_GOR_MAX_LIVE);
	__type(key, struct lh_gor_key);
	__type(value, struct lh_gor_live);
} glive SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_GOR_MAX_STACKS);
	__type(key, struct lh_goheap_stack_key);
	__type(value, struct lh_goheap_stack);
} gstacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lh_goheap_stack);
} gscratch SEC(".maps");

static __always_inline int read_u64(__u64 *dst, __u64 addr)
{
	if (bpf_probe_read_user(dst, sizeof(*dst), (void *)addr)) {
		stat_inc(LH_STAT_READ_USER);
		return -1;
	}
	return 0;
}

/* The creating goroutine: g.parentGoid (1.21+), else g0.m.curg.goid (R14 is g0 here). */
static __always_inline __u64 parent_goid(struct pt_regs *ctx, const struct lh_gor_cfg *c,
					 __u64 newg)
{
	__u64 v = 0, m = 0, curg = 0;

	if (c->parent_goid_off >= 0) {
		read_u64(&v, newg + c->parent_goid_off);
		return v;
	}
	if (read_u64(&m, ctx->r14 + c->g_m_off) || !m)
		return 0;
	if (read_u64(&curg, m + c->m_curg_off) || !curg)
		return 0;
	read_u64(&v, curg + c->goid_off);
	return v;
}

/* The creation stack into the scratch buffer, hashed into *id; NULL when lost. */
static __always_inline struct lh_goheap_stack *capture(struct pt_regs *ctx, __u64 *id)
{
	struct lh_goheap_stack *st;
	__u32 n;

	/* the site is past newproc.func1's prologue: the walk misses no frame */
	st = stack_walk(ctx, &gscratch, 0, &n);
	if (!st)
		return NULL;
	if (!n) {
		stat_inc(LH_STAT_STACK_USER);
		return NULL;
	}
	st->nr = n;
	*id = stack_id(st, n);
	return st;
}

SEC("uprobe")
int lh_gor_create(struct pt_regs *ctx)
{
	/* newproc.func1 at CALL runqput(pp, newg, next): RAX = pp, RBX = newg */
	__u64 newg = ctx->bx;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct lh_goheap_stack_key sk = {.tgid = tgid};
	struct lh_gor_key key = {.tgid = tgid}, pkey = {.tgid = tgid};
	struct lh_gor_live lv = {}, *parent;
	struct lh_goheap_stack *st, *old;
	struct lh_gor_tstate *ts;
	struct lh_gor_cfg *c;
	struct lh_budget_ctr b;
	__u32 weight;

	c = bpf_map_lookup_elem(&gcfg, &tgid);
	ts = bpf_map_lookup_elem(&gtstate, &tgid);
	if (!c || !ts) {
		stat_inc(LH_STAT_NO_CONFIG);
		return 0;
	}
	__sync_fetch_and_add(&ts->creates, 1);
	b = (struct lh_budget_ctr){&ts->kept_out, &ts->budget_skips, &ts->window_ns,
				   &ts->window_events};
	if (!budget_admit(c->keep_shift, c->budget, &b, &weight))
		return 0;
	if (read_u64(&key.goid, newg + c->goid_off))
		return 0;
	st = capture(ctx, &sk.id);
	if (!st)
		return 0;
	old = bpf_map_lookup_elem(&gstacks, &sk);
	if (!old) {
		st->allocs = 0;
		st->alloc_bytes = 0;
		if (bpf_map_update_elem(&gstacks, &sk, st, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&gstacks, &sk)) {
			stat_inc(LH_STAT_STACK_MAP_FULL);
			return 0;
		}
		old = bpf_map_lookup_elem(&gstacks, &sk);
	}
	if (old)
		__sync_fetch_and_add(&old->allocs, weight);
	lv.stack_id = sk.id;
	lv.ts_ns = bpf_ktime_get_ns();
	lv.parent_goid = parent_goid(ctx, c, newg);
	lv.weight = weight;
	pkey.goid = lv.parent_goid;
	parent = lv.parent_goid ? bpf_map_lookup_elem(&glive, &pkey) : NULL;
	if (parent) {
		lv.anc[0] = parent->stack_id;
		lv.anc[1] = parent->anc[0];
		lv.anc[2] = parent->anc[1];
	}
	if (bpf_map_update_elem(&glive, &key, &lv, BPF_ANY))
		stat_inc(LH_STAT_LIVE_FULL);
	return 0;
}

SEC("uprobe")
int lh_gor_exit(struct pt_regs *ctx)
{
	/* goexit0(gp) / gdestroy(gp): RAX = gp, at the entry-side JBE (may run twice) */
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct lh_gor_key key = {.tgid = tgid};
	struct lh_gor_tstate *ts;
	struct lh_gor_cfg *c;

	c = bpf_map_lookup_elem(&gcfg, &tgid);
	ts = bpf_map_lookup_elem(&gtstate, &tgid);
	if (!c || !ts) {
		stat_inc(LH_STAT_NO_CONFIG);
		return 0;
	}
	if (read_u64(&key.goid, ctx->ax + c->goid_off))
		return 0;
	if (bpf_map_delete_elem(&glive, &key))
		__sync_fetch_and_add(&ts->exits_untracked, 1);
	else
		__sync_fetch_and_add(&ts->exits, 1);
	return 0;
}

SEC("uprobe")
int lh_gor_malg(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct lh_gor_tstate *ts = bpf_map_lookup_elem(&gtstate, &tgid);

	if (!ts) {
		stat_inc(LH_STAT_NO_CONFIG);
		return 0;
	}
	__sync_fetch_and_add(&ts->malgs, 1);
	return 0;
}
