// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Map and probe chores shared by the tracer objects (include/bpfmaps.h). */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct bpf_link *bpfmaps__attach_uprobe(struct bpf_program *prog, const struct target *t,
					uint64_t off)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts);
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/exe", t->pid);
	return bpf_program__attach_uprobe_opts(prog, t->pid, path, off, &opts);
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
