// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Map and probe chores shared by the tracer objects (include/bpfmaps.h). */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpfmaps.h"
#include "target.h"

void bpfmaps__drop_tgid(struct bpf_map *map, size_t ksize, pid_t pid)
{
	uint8_t key[32], next[32];
	bool first = true;

	if (ksize > sizeof(key))
		return;
	while (!bpf_map__get_next_key(map, first ? NULL : key, next, ksize)) {
		first = false;
		memcpy(key, next, ksize);
		if (*(__u32 *)next == (__u32)pid)
			bpf_map__delete_elem(map, next, ksize, 0);
	}
}

static const char *const stat_names[] = {
#define X(id, name, desc) name,
	LH_STATS(X)
#undef X
};

const char *lh_stat_name(int i)
{
	return i >= 0 && i < LH_STAT__COUNT ? stat_names[i] : "?";
}

bool lh_stat_loses_data(int i)
{
	return i >= 0 && i < LH_STAT__COUNT && i != LH_STAT_BUDGET && i != LH_STAT_NO_CONFIG &&
	       i != LH_STAT_STACK_TRUNCATED;
}

int bpfmaps__sum_stats(struct bpf_map *stats, uint64_t out[LH_STAT__COUNT])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;
	int err = 0;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 s = 0; s < LH_STAT__COUNT && !err; s++) {
		err = bpf_map__lookup_elem(stats, &s, sizeof(s), vals, ncpu * sizeof(*vals), 0);
		out[s] = 0;
		for (int c = 0; !err && c < ncpu; c++)
			out[s] += vals[c];
	}
	free(vals);
	return err;
}

/* bpf_cmd value for a link newer than Debian 12's <linux/bpf.h> (6.6) can describe */
#define LH_BPF_LINK_CREATE 28

struct bpfmaps_probe {
	struct bpf_link *link; /* a perf uprobe */
	int fd;		       /* or a uprobe_multi link; -1: none */
};

bool bpfmaps__uprobe_multi(void)
{
	static int have = -1;
	struct btf *vmlinux;

	if (have >= 0)
		return have;
	have = 0;
	if (getenv("LEAKHOUND_UPROBE_CLASSIC"))
		return false;
	/* the kernel side of BPF_TRACE_UPROBE_MULTI links, kernel/trace/bpf_trace.c (6.6) */
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return false;
	have = btf__find_by_name_kind(vmlinux, "bpf_uprobe_multi_link_attach", BTF_KIND_FUNC) >= 0;
	btf__free(vmlinux);
	return have;
}

void bpfmaps__prepare_uprobes(struct bpf_object *obj)
{
	struct bpf_program *p;

	if (!bpfmaps__uprobe_multi())
		return;
	bpf_object__for_each_program(p, obj)
		bpf_program__set_expected_attach_type(p, LH_BPF_TRACE_UPROBE_MULTI);
}

int bpfmaps__uprobe_multi_link(struct bpf_program *prog, uint32_t type, const char *path,
			       pid_t pid, const uint64_t *offs, const uint64_t *cookies, int n)
{
	/* union bpf_attr's link_create for uprobe_multi (Linux 6.6) */
	struct {
		__u32 prog_fd, target_fd, attach_type, flags;
		struct {
			__aligned_u64 path, offsets, ref_ctr_offsets, cookies;
			__u32 cnt, flags, pid;
		} uprobe_multi;
	} a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_fd = bpf_program__fd(prog);
	a.attach_type = type;
	a.uprobe_multi.path = (uintptr_t)path;
	a.uprobe_multi.offsets = (uintptr_t)offs;
	a.uprobe_multi.cookies = (uintptr_t)cookies;
	a.uprobe_multi.cnt = n;
	a.uprobe_multi.pid = pid;
	fd = syscall(__NR_bpf, LH_BPF_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

struct bpfmaps_probe *bpfmaps__uprobe(struct bpf_program *prog, pid_t pid, const char *path,
				      uint64_t off)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts);
	struct bpfmaps_probe *p = calloc(1, sizeof(*p));
	int err = 0;

	if (!p)
		return NULL;
	p->fd = -1;
	if (bpfmaps__uprobe_multi()) {
		p->fd = bpfmaps__uprobe_multi_link(prog, LH_BPF_TRACE_UPROBE_MULTI, path, pid,
						   &off, NULL, 1);
		if (p->fd < 0)
			err = p->fd;
	} else {
		p->link = bpf_program__attach_uprobe_opts(prog, pid, path, off, &opts);
		if (!p->link)
			err = -errno;
	}
	if (err) {
		free(p);
		errno = -err;
		return NULL;
	}
	return p;
}

struct bpfmaps_probe *bpfmaps__attach_uprobe(struct bpf_program *prog, const struct target *t,
					     uint64_t off)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/exe", t->pid);
	return bpfmaps__uprobe(prog, t->pid, path, off);
}

void bpfmaps__probe_destroy(struct bpfmaps_probe *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	bpf_link__destroy(p->link);
	free(p);
}

double bpfmaps_scale = 1;

uint32_t bpfmaps__scaled(uint32_t entries)
{
	double n = entries * bpfmaps_scale;

	return n < 1024 ? 1024 : n > entries * 16.0 ? entries * 16U : (uint32_t)n;
}

void bpfmaps__scale(struct bpf_object *obj)
{
	static const char *const big[] = { "live", "stacks", "pending", "glive", "gstacks" };
	struct bpf_map *m;

	if (bpfmaps_scale == 1)
		return;
	bpf_object__for_each_map(m, obj) {
		for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
			if (!strcmp(bpf_map__name(m), big[i]))
				bpf_map__set_max_entries(m, bpfmaps__scaled(bpf_map__max_entries(m)));
	}
}
