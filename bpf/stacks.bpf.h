/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_STACKS_BPF_H
#define LEAKHOUND_STACKS_BPF_H

/*
 * The stacks every tracer object records (struct lh_goheap_stack in a hash map keyed by
 * struct lh_goheap_stack_key): a stack's id, and its counters. Needs stats.bpf.h.
 */

/*
 * The user stack (the kernel's frame-pointer walk) in the per-CPU stack of map scratch,
 * from pcs[first] on (first 0, or 1 to leave a slot for the caller); *n frames, the
 * truncated flag set. NULL (counted) when it cannot be taken.
 */
static __always_inline struct lh_goheap_stack *stack_walk(struct pt_regs *ctx, void *scratch,
							  __u32 first, __u32 *n)
{
	struct lh_goheap_stack *st;
	__u32 zero = 0;
	long len;

	st = bpf_map_lookup_elem(scratch, &zero);
	if (!st) {
		stat_inc(LH_STAT_MAP_LOOKUP);
		return NULL;
	}
	len = bpf_get_stack(ctx, &st->pcs[first], sizeof(st->pcs) - first * sizeof(st->pcs[0]),
			    BPF_F_USER_STACK);
	if (len < 0) {
		stat_inc(LH_STAT_STACK_USER);
		return NULL;
	}
	*n = len / 8;
	st->truncated = *n >= LH_GOHEAP_STACK_DEPTH - first;
	if (st->truncated)
		stat_inc(LH_STAT_STACK_TRUNCATED);
	return st;
}

/* FNV-1a over the first n pcs, then murmur3's finaliser: the id of a stack. */
static __always_inline __u64 stack_id(const struct lh_goheap_stack *st, __u32 n)
{
	__u64 h = 0xcbf29ce484222325ULL;

	for (__u32 i = 0; i < LH_GOHEAP_STACK_DEPTH; i++) {
		if (i >= n)
			break;
		h = (h ^ st->pcs[i]) * 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/*
 * Adds allocs and bytes to stack st (keyed sk) in the map stacks, inserting it first
 * when new; false when the map is full (counted).
 */
static __always_inline bool stack_add(void *stacks, struct lh_goheap_stack_key *sk,
				      struct lh_goheap_stack *st, __u64 allocs, __u64 bytes)
{
	struct lh_goheap_stack *old;

	old = bpf_map_lookup_elem(stacks, sk);
	if (!old) {
		st->allocs = 0;
		st->alloc_bytes = 0;
		/* BPF_NOEXIST: a racing CPU may have inserted it; its entry is as good */
		if (bpf_map_update_elem(stacks, sk, st, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(stacks, sk)) {
			stat_inc(LH_STAT_STACK_MAP_FULL);
			return false;
		}
		old = bpf_map_lookup_elem(stacks, sk);
	}
	if (old) {
		__sync_fetch_and_add(&old->allocs, allocs);
		__sync_fetch_and_add(&old->alloc_bytes, bytes);
	}
	return true;
}

#endif
