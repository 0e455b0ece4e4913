// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * OOM kills, for the snapshots taken when a traced process is the victim (src/oom.c).
 *
 * oom:mark_victim fires in __oom_kill_process() right after SIGKILL was sent to the
 * victim, before it can exit: the record is in the ring before the process is gone.
 * The victim is the task the OOM killer picked, a thread-group leader unless the leader
 * had already released its mm (then another thread of the group): user space matches
 * the pid against its targets, then the thread's tgid.
 *
 * The classic tracepoint, not tp_btf: its arguments changed from (int pid) to
 * (struct task_struct *, uid_t) in 6.8, while the record's pid field never moved; the
 * rss fields came with 6.8 and are read only where they exist. OOM kills are rare:
 * nothing is filtered here. A lost record bumps stats[RINGBUF_RESERVE].
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "leakhound.h"
#include "stats.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, LH_OOM_RINGBUF_BYTES);
} oom_events SEC(".maps");

SEC("tracepoint/oom/mark_victim")
int lh_oom_victim(struct trace_event_raw_mark_victim *ctx)
{
	struct lh_oom_event *e;

	e = bpf_ringbuf_reserve(&oom_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(LH_STAT_RINGBUF_RESERVE);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->pid = BPF_CORE_READ(ctx, pid);
	e->ts_ns = bpf_ktime_get_ns();
	if (bpf_core_field_exists(ctx->anon_rss)) {
		e->has_rss = 1;
		e->total_vm_kb = BPF_CORE_READ(ctx, total_vm);
		e->anon_rss_kb = BPF_CORE_READ(ctx, anon_rss);
		e->file_rss_kb = BPF_CORE_READ(ctx, file_rss);
		e->shmem_rss_kb = BPF_CORE_READ(ctx, shmem_rss);
		e->oom_score_adj = BPF_CORE_READ(ctx, oom_score_adj);
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}
