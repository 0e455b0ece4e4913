// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * lh-memleak: the memleak-style baseline of scripts/bench-cgo.sh. Traces one process's
 * C allocations the way bcc's memleak does by default (tools/memleak.bpf.c): uprobes at
 * entry +0 and uretprobes, attached to that process only, on the allocator it uses
 * (callocs__find: the executable's own, jemalloc/tcmalloc, else the C library), one
 * probe per address (glibc's aligned_alloc is memalign: memleak would count those calls
 * twice), the stack of every allocation.
 *   usage: lh-memleak -p PID [-i SECONDS] [-s] [-P]
 * -P is not memleak's way: each entry probe goes where `leakhound info` places it (an
 * instruction the kernel emulates, when one comes before the arguments are touched)
 * instead of +0, to show what placement alone changes (glibc's free+0 is a test, which
 * the kernel single-steps; free+3, a je, it emulates).
 * Prints "lh-memleak: attached ..." once every probe is in place, then every interval
 * and at exit (SIGINT, SIGTERM, or when the process is gone) one line:
 *   lh-memleak: allocs=N frees=N frees_matched=N stack_fail=N outstanding_bytes=N
 *               outstanding_objects=N stacks=N
 * the calls seen (allocations entered and returned non-NULL; frees, and frees of an
 * address it had recorded) and what is outstanding per its maps. With -s, at exit, one
 * line per stack with something outstanding:
 *   stack bytes=N objects=N pcs=0x...,0x...
 * its user stack as bpf_get_stackid() took it (innermost first), unsymbolized.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "callocs.h"
#include "memleak.skel.h"

#define STACK_MAX_DEPTH 127

enum { ML_ALLOC_ENTER, ML_ALLOC_EXIT, ML_FREE, ML_FREE_MATCHED, ML_STACK_FAIL, ML_NCOUNT };

union combined_alloc_info {
	struct {
		unsigned long long total_size : 40;
		unsigned long long number_of_allocs : 24;
	};
	unsigned long long bits;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static struct bpf_program *prog_of(struct memleak_bpf *skel, int fn, bool ret)
{
	switch (fn) {
	case CFN_MALLOC:
		return ret ? skel->progs.malloc_exit : skel->progs.malloc_enter;
	case CFN_CALLOC:
		return ret ? skel->progs.calloc_exit : skel->progs.calloc_enter;
	case CFN_REALLOC:
		return ret ? skel->progs.realloc_exit : skel->progs.realloc_enter;
	case CFN_REALLOCARRAY:
		return ret ? skel->progs.reallocarray_exit : skel->progs.reallocarray_enter;
	case CFN_FREE:
		return ret ? NULL : skel->progs.free_enter;
	case CFN_POSIX_MEMALIGN:
		return ret ? skel->progs.posix_memalign_exit : skel->progs.posix_memalign_enter;
	case CFN_ALIGNED_ALLOC:
		return ret ? skel->progs.aligned_alloc_exit : skel->progs.aligned_alloc_enter;
	case CFN_MEMALIGN:
		return ret ? skel->progs.memalign_exit : skel->progs.memalign_enter;
	case CFN_VALLOC:
		return ret ? skel->progs.valloc_exit : skel->progs.valloc_enter;
	case CFN_PVALLOC:
		return ret ? skel->progs.pvalloc_exit : skel->progs.pvalloc_enter;
	}
	return NULL;
}

static void print_stacks(struct memleak_bpf *skel)
{
	int afd = bpf_map__fd(skel->maps.combined_allocs);
	int sfd = bpf_map__fd(skel->maps.stack_traces);
	unsigned long long key, next, pcs[STACK_MAX_DEPTH];
	union combined_alloc_info v;
	void *prev = NULL;

	while (!bpf_map_get_next_key(afd, prev, &next)) {
		__u32 id = next;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(afd, &key, &v) || !v.number_of_allocs)
			continue;
		printf("stack bytes=%llu objects=%llu pcs=", (unsigned long long)v.total_size,
		       (unsigned long long)v.number_of_allocs);
		memset(pcs, 0, sizeof(pcs));
		if ((long long)key >= 0 && !bpf_map_lookup_elem(sfd, &id, pcs))
			for (int i = 0; i < STACK_MAX_DEPTH && pcs[i]; i++)
				printf("%s0x%llx", i ? "," : "", pcs[i]);
		printf("\n");
	}
}

static void report(struct memleak_bpf *skel)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned long long c[ML_NCOUNT] = {0}, bytes = 0, objects = 0, stacks = 0;
	unsigned long long *per = calloc(ncpu > 0 ? ncpu : 1, sizeof(*per));
	int cfd = bpf_map__fd(skel->maps.counts), afd = bpf_map__fd(skel->maps.combined_allocs);
	unsigned long long key, next;
	union combined_alloc_info v;
	void *prev = NULL;

	for (__u32 i = 0; per && i < ML_NCOUNT; i++) {
		if (bpf_map_lookup_elem(cfd, &i, per))
			continue;
		for (int cpu = 0; cpu < ncpu; cpu++)
			c[i] += per[cpu];
	}
	free(per);
	while (!bpf_map_get_next_key(afd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(afd, &key, &v))
			continue;
		bytes += v.total_size;
		objects += v.number_of_allocs;
		stacks += v.number_of_allocs != 0;
	}
	printf("lh-memleak: allocs=%llu frees=%llu frees_matched=%llu stack_fail=%llu "
	       "outstanding_bytes=%llu outstanding_objects=%llu stacks=%llu\n",
	       c[ML_ALLOC_EXIT], c[ML_FREE], c[ML_FREE_MATCHED], c[ML_STACK_FAIL], bytes, objects,
	       stacks);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct calloc_info *ci = calloc(1, sizeof(*ci));
	struct bpf_link *links[2 * CFN__COUNT];
	struct memleak_bpf *skel = NULL;
	char path[PATH_MAX + 32];
	double interval = 5;
	int pid = 0, opt, err = 1, probes = 0;
	bool stacks = false, placed = false;

	while ((opt = getopt(argc, argv, "p:i:sPh")) != -1) {
		switch (opt) {
		case 'p':
			pid = atoi(optarg);
			break;
		case 'i':
			interval = atof(optarg);
			break;
		case 's':
			stacks = true;
			break;
		case 'P':
			placed = true;
			break;
		default:
			fprintf(stderr, "usage: lh-memleak -p PID [-i SECONDS] [-s] [-P]\n");
			return 2;
		}
	}
	if (pid <= 0 || interval <= 0 || optind != argc) {
		fprintf(stderr, "usage: lh-memleak -p PID [-i SECONDS] [-s] [-P]\n");
		return 2;
	}
	if (!ci)
		return 1;
	opt = callocs__find(pid, ci);
	if (opt) {
		fprintf(stderr, "lh-memleak: no C allocator found in process %d: %s\n", pid,
			strerror(-opt));
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/root%s", pid, ci->path);
	libbpf_set_print(libbpf_quiet);
	skel = memleak_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "lh-memleak: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	for (int fn = 0; fn < CFN__COUNT; fn++) {
		if (!ci->fn[fn].found || ci->fn[fn].same_as >= 0)
			continue;
		for (int ret = 0; ret < 2; ret++) {
			LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = ci->fn[fn].name,
				    .retprobe = ret);
			struct bpf_program *prog = prog_of(skel, fn, ret);
			const struct calloc_fn *f = &ci->fn[fn];
			size_t off = 0;

			if (!prog)
				continue;
			if (placed && !ret && f->picked)
				off = f->site.addr - f->addr;
			links[probes] = bpf_program__attach_uprobe_opts(prog, pid, path, off, &uo);
			if (!links[probes]) {
				fprintf(stderr, "lh-memleak: cannot attach to %s in %s: %s\n",
					ci->fn[fn].name, path, strerror(errno));
				goto out;
			}
			probes++;
		}
	}
	printf("lh-memleak: attached %d probes to %s (%s) in process %d%s\n", probes, ci->path,
	       ci->kind, pid, placed ? ", entry probes placed" : "");
	fflush(stdout);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop && kill(pid, 0) == 0) {
		struct timespec ts = {(time_t)interval,
				      (long)((interval - (time_t)interval) * 1e9)};

		if (nanosleep(&ts, NULL) == 0 || !stop)
			report(skel);
	}
	report(skel);
	if (stacks)
		print_stacks(skel);
	err = 0;
out:
	while (probes > 0)
		bpf_link__destroy(links[--probes]);
	memleak_bpf__destroy(skel);
	free(ci);
	return err ? 1 : 0;
}
