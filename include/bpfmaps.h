/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_BPFMAPS_H
#define LEAKHOUND_BPFMAPS_H

#include <stdint.h>
#include <sys/types.h>

#include "leakhound.h"

struct bpf_map;
struct bpf_program;
struct bpf_link;
struct target;

/*
 * What every tracer object does with its maps and probes (src/goheap.c,
 * src/gortrace.c): per-target keys lead with the kernel tgid.
 */

/* Deletes every key of map (at most 32 bytes) whose leading __u32 is pid. */
void bpfmaps__drop_tgid(struct bpf_map *map, size_t ksize, pid_t pid);
/* The "stats" per-CPU array (enum lh_stat), summed over CPUs. 0 or -errno. */
int bpfmaps__sum_stats(struct bpf_map *stats, uint64_t out[LH_STAT__COUNT]);
/*
 * A uprobe of prog on the target's executable, through /proc/PID/exe (its own file, in
 * its mount namespace too), at file offset off, for pid only. NULL with errno.
 */
struct bpf_link *bpfmaps__attach_uprobe(struct bpf_program *prog, const struct target *t,
				       uint64_t off);

#endif
