/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_BUDGET_BPF_H
#define LEAKHOUND_BUDGET_BPF_H

/*
 * The probe budget of a target (DESIGN.md §3, Safety), shared by every tracer object:
 * whether to record an event, and with what weight. First the random 1-in-2^keep_shift
 * back-off user space asks for (events left out count as kept_out, by design), then at
 * most budget recorded events per one-second window (the rest count as budget_skip, a
 * drop). The window reset races between CPUs; a few events more or less in a window do
 * not matter. Needs stats.bpf.h.
 */
struct lh_budget_ctr {
	__u64 *kept_out;
	__u64 *budget_skips;
	__u64 *window_ns;
	__u64 *window_events;
};

static __always_inline bool budget_admit(__u32 keep_shift, __u32 budget,
					 const struct lh_budget_ctr *b, __u32 *weight)
{
	__u32 shift = keep_shift & 31;
	__u64 now;

	*weight = 1U << shift;
	if (shift && (bpf_get_prandom_u32() & (*weight - 1))) {
		__sync_fetch_and_add(b->kept_out, 1);
		return false;
	}
	if (!budget)
		return true;
	now = bpf_ktime_get_ns();
	if (now - *b->window_ns >= 1000000000ULL) {
		*b->window_ns = now;
		*b->window_events = 0;
	}
	if (__sync_fetch_and_add(b->window_events, 1) < budget)
		return true;
	__sync_fetch_and_add(b->budget_skips, 1);
	stat_inc(LH_STAT_BUDGET);
	return false;
}

#endif
