/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_STATS_BPF_H
#define LEAKHOUND_STATS_BPF_H

/*
 * The failure counters every BPF object of leakhound keeps: one slot per
 * enum lh_stat (include/leakhound.h), per CPU, summed and shown by user space.
 * Nothing is ever dropped without bumping one of them.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LH_STAT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat_inc(enum lh_stat s)
{
	__u32 key = s;
	__u64 *v = bpf_map_lookup_elem(&stats, &key);

	/*
	 * Per-CPU, but a preempted program and the next one on the same CPU could both
	 * hold this slot: the atomic add costs nothing uncontended.
	 */
	if (v)
		__sync_fetch_and_add(v, 1);
}

#endif
