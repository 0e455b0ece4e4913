// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Processes appearing and going away, for the daemon's discovery (src/discover.c).
 *
 * sched_process_exec fires in exec_binprm() once the new image is in place: the task is
 * then the thread-group leader (de_thread() made it so), with the old leader's PID and
 * start time, and self_exec_id already bumped (begin_new_exec()). sched_process_exit
 * fires for every thread in do_exit() after signal->live was decremented: live == 0 means
 * this was the last thread, the process is gone (two threads exiting at once may both see
 * 0; user space drops the second). Kernel threads are left out.
 *
 * Nothing is filtered here: whether an executable is a Go program is decided in user
 * space, once per binary. Every lost record bumps stats[RINGBUF_RESERVE].
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "leakhound.h"
#include "stats.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* include/linux/sched.h */
#define PF_KTHREAD 0x00200000

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, LH_DISC_RINGBUF_BYTES);
} events SEC(".maps");

static __always_inline int emit(struct task_struct *p, __u32 kind)
{
	struct lh_disc_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(LH_STAT_RINGBUF_RESERVE);
		return 0;
	}
	e->kind = kind;
	e->pid = BPF_CORE_READ(p, tgid);
	e->start_ns = BPF_CORE_READ(p, group_leader, start_boottime);
	e->exec_id = BPF_CORE_READ(p, self_exec_id);
	e->ts_ns = bpf_ktime_get_ns();
	e->ppid = kind == LH_DISC_EXEC ? BPF_CORE_READ(p, real_parent, tgid) : 0;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(lh_disc_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return emit(p, LH_DISC_EXEC);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(lh_disc_exit, struct task_struct *p)
{
	if (BPF_CORE_READ(p, flags) & PF_KTHREAD)
		return 0;
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	return emit(p, LH_DISC_EXIT);
}
