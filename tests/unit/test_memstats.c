// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the /proc parsers and the RSS breakdown (src/memstats.c, src/membreak.c):
 * the kernel's own text (fs/proc/task_mmu.c, fs/proc/array.c layouts, captured from
 * this kernel), malformed and hostile lines, buffers without a NUL; the parts add up to
 * RSS whatever the runtime counts; the verdict rule at its edges.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "memstats.h"
#include "test.h"

static const char rollup[] =
	"00400000-7ffd1c7d1000 ---p 00000000 00:00 0                              [rollup]\n"
	"Rss:              345600 kB\n"
	"Pss:              344000 kB\n"
	"Pss_Dirty:        340000 kB\n"
	"Pss_Anon:         339000 kB\n"
	"Pss_File:           5000 kB\n"
	"Pss_Shmem:             0 kB\n"
	"Shared_Clean:       1600 kB\n"
	"Shared_Dirty:          0 kB\n"
	"Private_Clean:      4000 kB\n"
	"Private_Dirty:    340000 kB\n"
	"Referenced:       345600 kB\n"
	"Anonymous:        340000 kB\n"
	"KSM:                   0 kB\n"
	"LazyFree:            128 kB\n"
	"AnonHugePages:         0 kB\n"
	"Swap:                 64 kB\n"
	"SwapPss:              64 kB\n"
	"Locked:                0 kB\n";

static const char status[] = "Name:\tmemstat\n"
			     "Umask:\t0022\n"
			     "State:\tS (sleeping)\n"
			     "VmPeak:\t 1300000 kB\n"
			     "VmRSS:\t  345600 kB\n"
			     "RssAnon:\t  340000 kB\n"
			     "RssFile:\t    5600 kB\n"
			     "RssShmem:\t       0 kB\n"
			     "Threads:\t6\n";

static void test_parsers(void)
{
	struct proc_mem pm;
	char trunc[64];

	memset(&pm, 0x5a, sizeof(pm));
	CHECK(!procmem_parse_smaps_rollup(rollup, strlen(rollup), &pm) && pm.have_rollup &&
		      pm.rss == 345600ULL * 1024 && pm.anon == 340000ULL * 1024 &&
		      pm.lazyfree == 128 * 1024 && pm.swap == 64 * 1024,
	      "smaps_rollup: Rss, Anonymous, LazyFree, Swap");
	CHECK(!procmem_parse_status(status, strlen(status), &pm) && pm.have_status &&
		      pm.vm_rss == 345600ULL * 1024 && pm.rss_anon == 340000ULL * 1024 &&
		      pm.rss_file == 5600 * 1024 && pm.rss_shmem == 0,
	      "status: VmRSS, RssAnon, RssFile, RssShmem (tab separated)");
	/* the buffer ends inside a line, with no NUL after it */
	memcpy(trunc, "Rss: 12 kB\nAnonymous: 8 kB\nSwap: 99", 35);
	memset(trunc + 35, 'x', sizeof(trunc) - 35);
	CHECK(!procmem_parse_smaps_rollup(trunc, 35, &pm) && pm.rss == 12 * 1024 &&
		      pm.anon == 8 * 1024 && pm.swap == 0,
	      "a line cut by the buffer's end is skipped, nothing read past it");
	CHECK(procmem_parse_smaps_rollup("Rss: 12 kB\n", 11, &pm) == -EINVAL && !pm.have_rollup,
	      "smaps_rollup without Anonymous: -EINVAL");
	CHECK(procmem_parse_smaps_rollup("Rss: 1 kB\nAnonymous: 2 kB\n", 26, &pm) == -EINVAL,
	      "more anonymous than resident: -EINVAL");
	CHECK(procmem_parse_smaps_rollup("Rss: 99999999999999999999 kB\nAnonymous: 1 kB\n", 45,
					 &pm) == -EINVAL,
	      "a number past 2^64 bytes is not taken");
	CHECK(procmem_parse_smaps_rollup("Rss: -5 kB\nRss 7 kB\nAnonymous: 0x10 kB\n", 39, &pm) ==
		      -EINVAL,
	      "signs, missing colons, hex: not fields");
	CHECK(procmem_parse_status("", 0, &pm) == -EINVAL, "an empty status: -EINVAL");
	CHECK(procmem_parse_status("VmRSS:\t 4 kB\nRssAnon:\t4 kB\nRssFile:\t0 kB\n", 42, &pm) ==
		      -EINVAL,
	      "status without RssShmem: -EINVAL");
}

static void set_go(struct mem_breakdown *b)
{
	memset(b, 0, sizeof(*b));
	b->have_go = true;
	b->cgo_bytes = -1;
	b->go.heap_inuse = 20 << 20;
	b->go.heap_free = 300 << 20;
	b->go.heap_released = 8 << 20;
	b->go.heap_marked = 18 << 20;
	b->go.stack_inuse = 1 << 20;
	b->go.gc_misc_sys = 6 << 20;
	b->go.other_sys = 1 << 20;
	b->proc.have_rollup = true;
	b->proc.rss = 330 << 20;
	b->proc.anon = 326 << 20;
}

static uint64_t sum(const struct mem_breakdown *b)
{
	uint64_t s = 0;

	for (int p = 0; p < MEM__COUNT; p++)
		s += b->resident[p];
	return s;
}

static void test_breakdown(void)
{
	struct mem_breakdown b;

	set_go(&b);
	mem_breakdown__compute(&b);
	CHECK(sum(&b) == b.rss && b.resident[MEM_FILE] == 4 << 20 &&
		      b.resident[MEM_HEAP_IDLE] == 300 << 20 &&
		      b.resident[MEM_RUNTIME] == 5 << 20 && b.counted[MEM_RUNTIME] == 7 << 20 &&
		      b.resident[MEM_ANON_OTHER] == 0,
	      "parts add up to RSS; the runtime's overcount is capped to what is left");
	CHECK(b.verdict == MEM_V_IDLE_HEAP && strstr(b.why, "not a leak"),
	      "spike then idle: idle heap, not a leak (%s)", b.why);

	set_go(&b);
	b.go.heap_free = 15 << 20; /* under the 16 MiB floor */
	b.proc.rss = b.proc.anon = 40 << 20;
	mem_breakdown__compute(&b);
	CHECK(sum(&b) == b.rss && b.verdict == MEM_V_LIVE_HEAP,
	      "idle under 16 MiB: not idle heap (%s)", mem_verdict_name(b.verdict));

	set_go(&b);
	b.go.heap_inuse = 200 << 20;
	b.go.heap_free = 150 << 20;
	b.proc.rss = b.proc.anon = 400 << 20;
	mem_breakdown__compute(&b);
	CHECK(b.verdict == MEM_V_LIVE_HEAP, "idle smaller than the heap in use: live heap");

	set_go(&b);
	b.cgo_bytes = 500 << 20;
	b.go.heap_free = 0;
	b.proc.rss = b.proc.anon = 600 << 20;
	mem_breakdown__compute(&b);
	CHECK(sum(&b) == b.rss && b.resident[MEM_CGO] == 500 << 20 && b.verdict == MEM_V_CGO,
	      "C heap given by the caller is a part, and the verdict when largest");

	set_go(&b);
	b.go.heap_free = 0;
	b.proc.rss = b.proc.anon = 900 << 20;
	mem_breakdown__compute(&b);
	CHECK(sum(&b) == b.rss && b.verdict == MEM_V_ANON_OTHER && strstr(b.why, "not traced"),
	      "memory the runtime does not know: other anonymous, C heap not traced");

	set_go(&b);
	b.have_go = false;
	b.go_err = -ENOENT;
	mem_breakdown__compute(&b);
	CHECK(sum(&b) == b.rss && b.verdict == MEM_V_UNKNOWN &&
		      b.resident[MEM_ANON_OTHER] == 326 << 20,
	      "without the runtime's statistics: unknown, anonymous memory unattributed");

	set_go(&b);
	b.proc.have_rollup = false;
	b.proc.have_status = true;
	b.proc.vm_rss = 100 << 20;
	b.proc.rss_anon = 101 << 20; /* counters a little off */
	mem_breakdown__compute(&b);
	CHECK(sum(&b) == b.rss && b.rss == 100 << 20, "status counters: still adds up to VmRSS");
	CHECK(!strcmp(mem_part_name(MEM_HEAP_IDLE), "heap_idle") && !mem_part_name(MEM__COUNT),
	      "part names");
}

int main(void)
{
	test_parsers();
	test_breakdown();
	TEST_EXIT();
}
