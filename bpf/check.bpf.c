// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The self-test of `leakhound check`: one uprobe on a function of leakhound's own binary.
 * Small as it is, it exercises every kernel piece the tracers rely on: rodata set between
 * open and load, a tgid filter (PID-namespace aware), a per-CPU hit counter, argument
 * registers, a user stack from bpf_get_stack() and a ring-buffer record submitted without
 * a wakeup, with a failure counter for every path that can lose something.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "leakhound.h"
#include "stats.bpf.h"

/* bpf_get_stack() is GPL-only. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space between check_bpf__open() and __load(); 0 matches nothing. */
const volatile __u32 cfg_tgid = 0;
/*
 * When leakhound runs in a PID namespace other than the initial one, getpid() there is
 * not the kernel's tgid: the filter then compares the tgid as seen from that namespace
 * (bpf_get_ns_current_pid_tgid, 5.7+), identified by the nsfs device and inode of
 * /proc/self/ns/pid. Zero means the initial namespace.
 */
const volatile __u64 cfg_pidns_dev = 0;
const volatile __u64 cfg_pidns_ino = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

/* Room for a few hundred records; check sends a handful and drains them once. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* The caller's tgid and thread id as user space numbers them; false if unknown. */
static __always_inline bool current_ids(__u32 *tgid, __u32 *tid)
{
	struct bpf_pidns_info ns;
	__u64 id;

	if (!cfg_pidns_ino) {
		id = bpf_get_current_pid_tgid();
		*tgid = id >> 32;
		*tid = (__u32)id;
		return true;
	}
	/* -EINVAL also means "a task of another namespace": for check, still a failure. */
	if (bpf_get_ns_current_pid_tgid(cfg_pidns_dev, cfg_pidns_ino, &ns, sizeof(ns))) {
		stat_inc(LH_STAT_PIDNS_TGID);
		return false;
	}
	*tgid = ns.tgid;
	*tid = ns.pid;
	return true;
}

static __always_inline void count_hit(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&hits, &zero);

	if (!n) {
		stat_inc(LH_STAT_MAP_LOOKUP);
		return;
	}
	__sync_fetch_and_add(n, 1);
}

SEC("uprobe")
int BPF_KPROBE(lh_check_target, __u64 arg0)
{
	struct lh_check_event *e;
	__u32 tgid, tid;
	long len;

	if (!current_ids(&tgid, &tid) || tgid != cfg_tgid)
		return 0;
	count_hit();

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(LH_STAT_RINGBUF_RESERVE);
		return 0;
	}
	e->tgid = tgid;
	e->tid = tid;
	e->ts_ns = bpf_ktime_get_ns();
	e->arg0 = arg0;
	e->pad = 0;
	/* Fills what it can and zeroes the rest of the buffer, on failure too. */
	len = bpf_get_stack(ctx, e->stack, sizeof(e->stack), BPF_F_USER_STACK);
	if (len < 0)
		stat_inc(LH_STAT_STACK_USER);
	e->stack_bytes = len;
	/* User space drains the ring on its own schedule: a wakeup per record costs ~4 us. */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}
