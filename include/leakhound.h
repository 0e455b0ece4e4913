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
#define LH_STATS(X)                                                                            \
	X(RINGBUF_RESERVE, "ringbuf_reserve_fail", "ring buffer full: record dropped")        \
	X(STACK_USER, "stack_user_fail", "bpf_get_stack(BPF_F_USER_STACK) failed")           \
	X(MAP_LOOKUP, "map_lookup_fail", "lookup in a fixed-size array map failed")          \
	X(PIDNS_TGID, "pidns_tgid_fail", "bpf_get_ns_current_pid_tgid() failed")

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

#endif
