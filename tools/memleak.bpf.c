// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The baseline of scripts/bench-cgo.sh: outstanding C allocations traced the way bcc's
 * memleak (libbpf-tools/memleak.bpf.c) does it in its default mode, every allocation:
 * uprobes at function entry +0 of the allocator's malloc, calloc, realloc,
 * reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc and free,
 * uretprobes on the allocating ones, the requested size kept per thread from entry to
 * return, the user stack captured with bpf_get_stackid() on every allocation's return,
 * a hash of outstanding allocations by address (size, time, stack id) and one of
 * bytes and count per stack id. The same maps and sizes as memleak; the one addition
 * is a per-CPU count of the calls seen, for checking that every call was seen.
 * Loaded and attached, to one process only, by tools/lh-memleak.c.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ALLOCS_MAX_ENTRIES	    1000000
#define COMBINED_ALLOCS_MAX_ENTRIES 10240
#define STACK_MAX_ENTRIES	    10240
#define STACK_MAX_DEPTH		    127

struct alloc_info {
	__u64 size;
	__u64 timestamp_ns;
	int stack_id;
};

union combined_alloc_info {
	struct {
		__u64 total_size : 40;
		__u64 number_of_allocs : 24;
	};
	__u64 bits;
};

enum { ML_ALLOC_ENTER, ML_ALLOC_EXIT, ML_FREE, ML_FREE_MATCHED, ML_STACK_FAIL, ML_NCOUNT };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 10240);
} sizes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct alloc_info);
	__uint(max_entries, ALLOCS_MAX_ENTRIES);
} allocs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, union combined_alloc_info);
	__uint(max_entries, COMBINED_ALLOCS_MAX_ENTRIES);
} combined_allocs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 10240);
} memptrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__type(key, __u32);
	__uint(value_size, STACK_MAX_DEPTH * sizeof(__u64));
	__uint(max_entries, STACK_MAX_ENTRIES);
} stack_traces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, ML_NCOUNT);
} counts SEC(".maps");

static __always_inline void count(__u32 what)
{
	__u64 *n = bpf_map_lookup_elem(&counts, &what);

	if (n)
		*n += 1;
}

static void update_statistics_add(__u64 stack_id, __u64 sz)
{
	union combined_alloc_info *existing, incremental = {};

	existing = bpf_map_lookup_elem(&combined_allocs, &stack_id);
	if (!existing) {
		bpf_map_update_elem(&combined_allocs, &stack_id, &incremental, BPF_NOEXIST);
		existing = bpf_map_lookup_elem(&combined_allocs, &stack_id);
		if (!existing)
			return;
	}
	incremental.total_size = sz;
	incremental.number_of_allocs = 1;
	__sync_fetch_and_add(&existing->bits, incremental.bits);
}

static void update_statistics_del(__u64 stack_id, __u64 sz)
{
	union combined_alloc_info *existing, decremental = {};

	existing = bpf_map_lookup_elem(&combined_allocs, &stack_id);
	if (!existing)
		return;
	decremental.total_size = sz;
	decremental.number_of_allocs = 1;
	__sync_fetch_and_sub(&existing->bits, decremental.bits);
}

static int gen_alloc_enter(size_t size)
{
	const __u32 tid = bpf_get_current_pid_tgid();

	count(ML_ALLOC_ENTER);
	bpf_map_update_elem(&sizes, &tid, &size, BPF_ANY);
	return 0;
}

static int gen_alloc_exit2(void *ctx, __u64 address)
{
	const __u32 tid = bpf_get_current_pid_tgid();
	struct alloc_info info;
	const __u64 *size = bpf_map_lookup_elem(&sizes, &tid);

	if (!size)
		return 0; /* missed alloc entry */
	__builtin_memset(&info, 0, sizeof(info));
	info.size = *size;
	bpf_map_delete_elem(&sizes, &tid);
	if (address != 0 && address != (__u64)-1) {
		count(ML_ALLOC_EXIT);
		info.timestamp_ns = bpf_ktime_get_ns();
		info.stack_id = bpf_get_stackid(ctx, &stack_traces, BPF_F_USER_STACK);
		if (info.stack_id < 0)
			count(ML_STACK_FAIL);
		bpf_map_update_elem(&allocs, &address, &info, BPF_ANY);
		update_statistics_add(info.stack_id, info.size);
	}
	return 0;
}

static int gen_alloc_exit(struct pt_regs *ctx)
{
	return gen_alloc_exit2(ctx, PT_REGS_RC(ctx));
}

static int gen_free_enter(const void *address)
{
	const __u64 addr = (__u64)address;
	const struct alloc_info *info;

	count(ML_FREE);
	info = bpf_map_lookup_elem(&allocs, &addr);
	if (!info)
		return 0;
	count(ML_FREE_MATCHED);
	update_statistics_del(info->stack_id, info->size);
	bpf_map_delete_elem(&allocs, &addr);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(malloc_enter, size_t size)
{
	return gen_alloc_enter(size);
}

SEC("uretprobe")
int BPF_KRETPROBE(malloc_exit)
{
	return gen_alloc_exit(ctx);
}

SEC("uprobe")
int BPF_KPROBE(free_enter, void *address)
{
	return gen_free_enter(address);
}

SEC("uprobe")
int BPF_KPROBE(calloc_enter, size_t nmemb, size_t size)
{
	return gen_alloc_enter(nmemb * size);
}

SEC("uretprobe")
int BPF_KRETPROBE(calloc_exit)
{
	return gen_alloc_exit(ctx);
}

SEC("uprobe")
int BPF_KPROBE(realloc_enter, void *ptr, size_t size)
{
	gen_free_enter(ptr);
	return gen_alloc_enter(size);
}

SEC("uretprobe")
int BPF_KRETPROBE(realloc_exit)
{
	return gen_alloc_exit(ctx);
}

SEC("uprobe")
int BPF_KPROBE(reallocarray_enter, void *ptr, size_t nmemb, size_t size)
{
	gen_free_enter(ptr);
	return gen_alloc_enter(nmemb * size);
}

SEC("uretprobe")
int BPF_KRETPROBE(reallocarray_exit)
{
	return gen_alloc_exit(ctx);
}

SEC("uprobe")
int BPF_KPROBE(posix_memalign_enter, void **memptr, size_t alignment, size_t size)
{
	const __u64 memptr64 = (__u64)(size_t)memptr;
	const __u32 tid = bpf_get_current_pid_tgid();

	bpf_map_update_elem(&memptrs, &tid, &memptr64, BPF_ANY);
	return gen_alloc_enter(size);
}

SEC("uretprobe")
int BPF_KRETPROBE(posix_memalign_exit)
{
	const __u32 tid = bpf_get_current_pid_tgid();
	__u64 *memptr64;
	void *addr;

	memptr64 = bpf_map_lookup_elem(&memptrs, &tid);
	if (!memptr64)
		return 0;
	bpf_map_delete_elem(&memptrs, &tid);
	if (bpf_probe_read_user(&addr, sizeof(void *), (void *)*memptr64))
		return 0;
	return gen_alloc_exit2(ctx, (__u64)addr);
}

SEC("uprobe")
int BPF_KPROBE(aligned_alloc_enter, size_t alignment, size_t size)
{
	return gen_alloc_enter(size);
}

SEC("uretprobe")
int BPF_KRETPROBE(aligned_alloc_exit)
{
	return gen_alloc_exit(ctx);
}

SEC("uprobe")
int BPF_KPROBE(valloc_enter, size_t size)
{
	return gen_alloc_enter(size);
}

SEC("uretprobe")
int BPF_KRETPROBE(valloc_exit)
{
	return gen_alloc_exit(ctx);
}

SEC("uprobe")
int BPF_KPROBE(memalign_enter, size_t alignment, size_t size)
{
	return gen_alloc_enter(size);
}

SEC("uretprobe")
int BPF_KRETPROBE(memalign_exit)
{
	return gen_alloc_exit(ctx);
}

SEC("uprobe")
int BPF_KPROBE(pvalloc_enter, size_t size)
{
	return gen_alloc_enter(size);
}

SEC("uretprobe")
int BPF_KRETPROBE(pvalloc_exit)
{
	return gen_alloc_exit(ctx);
}
