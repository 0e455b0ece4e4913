// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * C heap allocations of cgo programs and their frees, for `leakhound trace --cgo`.
 *
 * The allocating entry points of the target's C allocator (malloc, calloc, realloc,
 * reallocarray, posix_memalign, aligned_alloc/memalign, valloc, pvalloc) get an entry
 * probe and a return probe, free an entry probe (src/cheap.c attaches them at sites
 * decoded by src/callocs.c). Byte-based sampling decides at entry, per CPU, with an
 * exponential countdown like the Go runtime's, so the live table and the reports scale
 * each sample as pprof does. Only a sampled call (or a realloc of a recorded object)
 * needs its return: with uprobe sessions (Linux 6.13+) the entry program skips the
 * return probe of every other call; without, the return program finds nothing pending
 * and leaves at once.
 *
 * A call in flight is kept under (thread, stack pointer at entry): the return of the same
 * call sees the stack pointer 8 bytes higher. An allocator calling its own entry points
 * (glibc: realloc(NULL, n) -> malloc, memalign -> malloc) is recognised by the return
 * address of the inner call lying inside a probed function, and left to the outer call;
 * a tail call (reallocarray -> realloc) reaches the inner entry with the outer's stack
 * pointer, already pending, and is left to it too.
 *
 * Stacks are taken at the return, where the caller's registers are back: the allocator
 * function (its entry address) first, then the caller's return address and the kernel's
 * frame-pointer walk from there, which goes on into the Go frames of the goroutine that
 * called into C when the C code keeps RBP (runtime.asmcgocall leaves the goroutine's frame
 * pointer in it); user space cuts the stack where an address leaves the mappings.
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

extern bool bpf_session_is_return(void) __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_CHEAP_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct lh_cheap_cfg);
} cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_CHEAP_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct lh_cheap_tstate);
} tstate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, LH_CHEAP_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct lh_cheap_pcpu);
} countdown SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_CHEAP_MAX_PENDING);
	__type(key, struct lh_cheap_pending_key);
	__type(value, struct lh_cheap_pending);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_CHEAP_MAX_LIVE);
	__type(key, struct lh_goheap_live_key);
	__type(value, struct lh_goheap_live);
} live SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LH_CHEAP_MAX_STACKS);
	__type(key, struct lh_goheap_stack_key);
	__type(value, struct lh_goheap_stack);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lh_goheap_stack);
} scratch SEC(".maps");

/* Session programs: 0 runs the return probe of this call, 1 skips it. */
#define WANT_RETURN 0
#define NO_RETURN   1

/* log2(1 + m/256) in 16.16 fixed point, m = 0..255. */
static const __u32 log2_frac[256] = {
	    0,   369,   736,  1102,  1466,  1829,  2190,  2551,
	 2909,  3267,  3623,  3978,  4331,  4683,  5034,  5384,
	 5732,  6079,  6425,  6769,  7112,  7454,  7795,  8134,
	 8473,  8810,  9146,  9480,  9814, 10146, 10477, 10807,
	11136, 11464, 11791, 12116, 12440, 12764, 13086, 13407,
	13727, 14046, 14363, 14680, 14996, 15310, 15624, 15937,
	16248, 16559, 16868, 17177, 17484, 17791, 18096, 18401,
	18704, 19007, 19308, 19609, 19909, 20207, 20505, 20802,
	21098, 21393, 21687, 21980, 22272, 22564, 22854, 23144,
	23433, 23720, 24007, 24293, 24579, 24863, 25146, 25429,
	25711, 25992, 26272, 26551, 26830, 27108, 27384, 27660,
	27936, 28210, 28484, 28757, 29029, 29300, 29571, 29840,
	30109, 30378, 30645, 30912, 31178, 31443, 31707, 31971,
	32234, 32496, 32758, 33019, 33279, 33538, 33797, 34055,
	34312, 34569, 34825, 35080, 35334, 35588, 35841, 36094,
	36346, 36597, 36847, 37097, 37346, 37595, 37842, 38090,
	38336, 38582, 38827, 39072, 39316, 39559, 39802, 40044,
	40286, 40527, 40767, 41006, 41246, 41484, 41722, 41959,
	42196, 42432, 42667, 42902, 43137, 43370, 43603, 43836,
	44068, 44300, 44530, 44761, 44990, 45220, 45448, 45676,
	45904, 46131, 46357, 46583, 46809, 47034, 47258, 47482,
	47705, 47928, 48150, 48372, 48593, 48813, 49034, 49253,
	49472, 49691, 49909, 50127, 50344, 50560, 50776, 50992,
	51207, 51422, 51636, 51850, 52063, 52276, 52488, 52700,
	52911, 53122, 53332, 53542, 53751, 53960, 54169, 54377,
	54584, 54791, 54998, 55204, 55410, 55615, 55820, 56025,
	56229, 56432, 56635, 56838, 57040, 57242, 57443, 57644,
	57845, 58045, 58245, 58444, 58643, 58841, 59039, 59237,
	59434, 59631, 59827, 60023, 60219, 60414, 60609, 60803,
	60997, 61190, 61384, 61576, 61769, 61961, 62152, 62343,
	62534, 62725, 62915, 63104, 63294, 63483, 63671, 63859,
	64047, 64234, 64421, 64608, 64794, 64980, 65166, 65351,
};

/*
 * Bytes to the next sample: exponential with mean rate, -rate * ln(u) for u uniform in
 * (0, 1], from 32 random bits: log2 from the top bit's position and a table of the next
 * eight.
 */
static __always_inline __s64 next_sample(__u32 rate)
{
	__u32 u = bpf_get_prandom_u32() | 1, x = u, k = 0, m;
	__u64 nlog2, nln;

	if (rate <= 1)
		return 0;
	if (x >= 1U << 16) {
		k += 16;
		x >>= 16;
	}
	if (x >= 1U << 8) {
		k += 8;
		x >>= 8;
	}
	if (x >= 1U << 4) {
		k += 4;
		x >>= 4;
	}
	if (x >= 1U << 2) {
		k += 2;
		x >>= 2;
	}
	if (x >= 1U << 1)
		k += 1;
	m = k >= 8 ? u >> (k - 8) : u << (8 - k);
	/* -log2(u / 2^32) = 32 - log2(u), 16.16; times ln 2 (45426 / 2^16) */
	nlog2 = (32ULL << 16) - ((__u64)k << 16) - log2_frac[m & 0xff];
	nln = nlog2 * 45426 >> 16;
	return (__s64)((__u64)rate * nln >> 16);
}

/*
 * Bytes asked for (what the caller asked, as for every call: pvalloc's rounding up to a
 * page is the allocator's, like malloc's to its size classes), and the pointer argument.
 */
static __always_inline __u64 call_size(struct pt_regs *ctx, __u32 fn, __u64 *ptr)
{
	__u64 di = PT_REGS_PARM1(ctx), si = PT_REGS_PARM2(ctx), dx = PT_REGS_PARM3(ctx);

	*ptr = 0;
	switch (fn) {
	case LH_CFN_MALLOC:
	case LH_CFN_VALLOC:
	case LH_CFN_PVALLOC:
		return di;
	case LH_CFN_CALLOC:
		return di * si;
	case LH_CFN_REALLOC:
		*ptr = di;
		return si;
	case LH_CFN_REALLOCARRAY:
		*ptr = di;
		return si * dx;
	case LH_CFN_POSIX_MEMALIGN:
		*ptr = di;
		return dx;
	case LH_CFN_ALIGNED_ALLOC:
	case LH_CFN_MEMALIGN:
		return si;
	}
	return 0;
}

static __always_inline bool inside_allocator(const struct lh_cheap_cfg *c, __u64 ra)
{
	for (int i = 0; i < LH_CFN_COUNT; i++)
		if (ra >= c->fn_lo[i] && ra < c->fn_hi[i])
			return true;
	return false;
}

static __always_inline struct lh_cheap_pcpu *pcpu_of(__u32 tgid, const struct lh_cheap_cfg *c)
{
	struct lh_cheap_pcpu *pc = bpf_map_lookup_elem(&countdown, &tgid);

	if (!pc) {
		struct lh_cheap_pcpu first = { .left = next_sample(c->rate) };

		bpf_map_update_elem(&countdown, &tgid, &first, BPF_NOEXIST);
		pc = bpf_map_lookup_elem(&countdown, &tgid);
		if (!pc)
			stat_inc(LH_STAT_MAP_LOOKUP);
	}
	return pc;
}

static __always_inline int on_entry(struct pt_regs *ctx, __u32 fn)
{
	__u64 id = bpf_get_current_pid_tgid(), ra = 0, ptr, size;
	struct lh_cheap_pending_key pk = {
		.tgid = id >> 32, .tid = (__u32)id, .sp = PT_REGS_SP(ctx)
	};
	struct lh_cheap_pending pd = { .fn = fn };
	__u32 tgid = id >> 32, weight = 0;
	struct lh_cheap_tstate *ts;
	struct lh_cheap_pcpu *pc;
	struct lh_cheap_cfg *c;
	bool sampled = false;

	if (fn >= LH_CFN_COUNT)
		return NO_RETURN;
	c = bpf_map_lookup_elem(&cfg, &tgid);
	if (!c) {
		stat_inc(LH_STAT_NO_CONFIG);
		return NO_RETURN;
	}
	pc = pcpu_of(tgid, c);
	if (!pc)
		return NO_RETURN;
	pc->calls++;
	size = call_size(ctx, fn, &ptr);
	/*
	 * The countdown first: most calls end here, with no return probe. A nested call
	 * charges it too; with an exponential countdown that biases nothing (each allocation
	 * is sampled with 1 - exp(-size/rate) whatever other bytes went by), and a sample
	 * that falls on a nested call below is dropped like a sample point between calls.
	 */
	if (c->rate <= 1) {
		sampled = true;
	} else {
		pc->left -= size;
		if (pc->left < 0) {
			pc->left = next_sample(c->rate);
			sampled = true;
		}
	}
	/* realloc of a recorded object: its return says whether the object moved or died */
	if (!sampled && !(ptr && fn != LH_CFN_POSIX_MEMALIGN &&
			  bpf_map_lookup_elem(&live, &(struct lh_goheap_live_key){
							      .tgid = tgid, .addr = ptr })))
		return NO_RETURN;
	if (bpf_probe_read_user(&ra, sizeof(ra), (void *)pk.sp)) {
		stat_inc(LH_STAT_READ_USER);
		return NO_RETURN;
	}
	if (inside_allocator(c, ra)) {
		pc->nested++;
		return NO_RETURN;
	}
	/* a tail call from an entry point whose call is pending already */
	if (bpf_map_lookup_elem(&pending, &pk))
		return NO_RETURN;
	if (sampled) {
		ts = bpf_map_lookup_elem(&tstate, &tgid);
		if (ts) {
			struct lh_budget_ctr b = {
				.kept_out = &ts->kept_out,
				.budget_skips = &ts->budget_skips,
				.window_ns = &ts->window_ns,
				.window_events = &ts->window_events,
			};

			if (!budget_admit(c->keep_shift, c->budget, &b, &weight))
				weight = 0;
		}
	}
	pd.size = size;
	pd.ptr = ptr;
	pd.weight = weight;
	if (bpf_map_update_elem(&pending, &pk, &pd, BPF_ANY)) {
		stat_inc(LH_STAT_PENDING_FULL);
		ts = bpf_map_lookup_elem(&tstate, &tgid);
		if (ts)
			__sync_fetch_and_add(&ts->pending_full, 1);
		return NO_RETURN;
	}
	return WANT_RETURN;
}

/* The stack of the call returning now, in the scratch buffer, hashed to *hid. */
static __always_inline struct lh_goheap_stack *capture(struct pt_regs *ctx, __u64 fn_pc,
						       __u64 *hid)
{
	struct lh_goheap_stack *st;
	__u32 n;

	st = stack_walk(ctx, &scratch, 1, &n);
	if (!st)
		return NULL;
	st->pcs[0] = fn_pc;
	n++;
	if (n > LH_GOHEAP_STACK_DEPTH)
		n = LH_GOHEAP_STACK_DEPTH;
	st->nr = n;
	*hid = stack_id(st, n);
	return st;
}

/* Forgets a recorded object: freed, or moved by realloc. pc may be NULL. */
static __always_inline void forget(__u32 tgid, __u64 addr, struct lh_cheap_pcpu *pc)
{
	struct lh_goheap_live_key lk = { .tgid = tgid, .addr = addr };
	struct lh_goheap_live *lv;

	lv = bpf_map_lookup_elem(&live, &lk);
	if (!lv)
		return;
	if (pc) {
		pc->rec_frees++;
		pc->rec_free_bytes += lv->size;
	}
	bpf_map_delete_elem(&live, &lk);
}

static __always_inline int on_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), addr = PT_REGS_RC(ctx);
	/* the return address is popped: the stack pointer is 8 above the entry's */
	struct lh_cheap_pending_key pk = {
		.tgid = id >> 32, .tid = (__u32)id, .sp = PT_REGS_SP(ctx) - 8
	};
	struct lh_goheap_stack_key sk = { .tgid = id >> 32 };
	struct lh_goheap_live lv = {};
	struct lh_cheap_pending pd, *p;
	struct lh_cheap_pcpu *pc;
	struct lh_goheap_stack *st;
	struct lh_cheap_cfg *c;
	__u32 tgid = id >> 32, fn;

	p = bpf_map_lookup_elem(&pending, &pk);
	if (!p)
		return 0; /* not sampled (without sessions every return comes here) */
	pd = *p;
	bpf_map_delete_elem(&pending, &pk);
	pc = bpf_map_lookup_elem(&countdown, &tgid);
	if (pd.fn == LH_CFN_POSIX_MEMALIGN) {
		/* returns 0 or an error number; the pointer went to *memptr */
		if ((int)addr != 0 || bpf_probe_read_user(&addr, sizeof(addr), (void *)pd.ptr))
			addr = 0;
	} else if ((pd.fn == LH_CFN_REALLOC || pd.fn == LH_CFN_REALLOCARRAY) && pd.ptr &&
		   (addr || !pd.size)) {
		/* moved, resized in place, or freed by realloc(p, 0): the old object is gone */
		forget(tgid, pd.ptr, pc);
	}
	fn = pd.fn;
	if (!pd.weight || fn >= LH_CFN_COUNT)
		return 0;
	c = bpf_map_lookup_elem(&cfg, &tgid);
	if (!pc || !c) {
		stat_inc(LH_STAT_NO_CONFIG);
		return 0;
	}
	if (!addr) {
		pc->failed++;
		return 0;
	}
	pc->allocs++;
	pc->alloc_bytes += pd.size;
	st = capture(ctx, c->fn_lo[fn], &sk.id);
	if (!st || !stack_add(&stacks, &sk, st, pd.weight, pd.size * pd.weight))
		return 0;
	lv.size = pd.size;
	lv.stack_id = sk.id;
	lv.ts_ns = bpf_ktime_get_ns();
	lv.bucket = fn;
	lv.rate = c->rate;
	lv.weight = pd.weight;
	if (bpf_map_update_elem(&live, &(struct lh_goheap_live_key){ .tgid = tgid, .addr = addr },
				&lv, BPF_ANY))
		stat_inc(LH_STAT_LIVE_FULL);
	return 0;
}

/* With uprobe sessions: one program for both ends of a call. */
SEC("uprobe")
int lh_cheap_session(struct pt_regs *ctx)
{
	if (bpf_session_is_return())
		return on_return(ctx);
	return on_entry(ctx, bpf_get_attach_cookie(ctx));
}

/* Without: an entry probe and a return probe on each allocating entry point. */
SEC("uprobe")
int lh_cheap_entry(struct pt_regs *ctx)
{
	on_entry(ctx, bpf_get_attach_cookie(ctx));
	return 0;
}

SEC("uretprobe")
int lh_cheap_return(struct pt_regs *ctx)
{
	return on_return(ctx);
}

SEC("uprobe")
int lh_cheap_free(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), addr = PT_REGS_PARM1(ctx);
	__u32 tgid = id >> 32;
	struct lh_cheap_pcpu *pc;
	struct lh_cheap_cfg *c;

	c = bpf_map_lookup_elem(&cfg, &tgid);
	if (!c) {
		stat_inc(LH_STAT_NO_CONFIG);
		return 0;
	}
	pc = pcpu_of(tgid, c);
	if (pc)
		pc->frees++;
	if (addr)
		forget(tgid, addr, pc);
	return 0;
}
