/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_BPFMAPS_H
#define LEAKHOUND_BPFMAPS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "leakhound.h"

struct bpf_map;
struct bpf_program;
struct bpf_link;
struct bpf_object;
struct target;

/*
 * What every tracer object does with its maps and probes (src/goheap.c,
 * src/gortrace.c): per-target keys lead with the kernel tgid.
 */

/* Deletes every key of map (at most 32 bytes) whose leading __u32 is pid. */
void bpfmaps__drop_tgid(struct bpf_map *map, size_t ksize, pid_t pid);
/* The "stats" per-CPU array (enum lh_stat), summed over CPUs. 0 or -errno. */
int bpfmaps__sum_stats(struct bpf_map *stats, uint64_t out[LH_STAT__COUNT]);
/* A counter's name as reports and /metrics show it ("live_map_full"); "?" out of range. */
const char *lh_stat_name(int i);
/*
 * Whether a counter means lost data: an event that happened but is not in the maps
 * (a full map or ring, a failed read or stack). The budget's skips are by design and
 * accounted for by the scaling; a cut stack, or a hit from an unconfigured process,
 * loses nothing of a target's.
 */
bool lh_stat_loses_data(int i);
/*
 * Uprobes are uprobe_multi links (Linux 6.6+) where the kernel has them: those need
 * CAP_BPF and CAP_PERFMON only, where a perf uprobe needs CAP_SYS_ADMIN on kernels since
 * 6.16 and the stable updates of July 2025 (docs/SECURITY.md). Decided once per
 * process; LEAKHOUND_UPROBE_CLASSIC in the environment forces perf uprobes.
 */
bool bpfmaps__uprobe_multi(void);
/* enum bpf_attach_type values newer than Debian 12's <linux/bpf.h> (Linux 6.6, 6.13) */
#define LH_BPF_TRACE_UPROBE_MULTI   48
#define LH_BPF_TRACE_UPROBE_SESSION 57
/*
 * bpf(BPF_LINK_CREATE) of a uprobe_multi link of type (multi or session) of prog on
 * path at n offsets (cookies may be NULL), for pid only: the link's fd, or -errno.
 * Made with the bpf(2) command itself: Debian 12's libbpf 1.1 has no API for it.
 */
int bpfmaps__uprobe_multi_link(struct bpf_program *prog, uint32_t type, const char *path,
			       pid_t pid, const uint64_t *offs, const uint64_t *cookies, int n);
/*
 * Makes every program of obj a uprobe_multi program when those are used: between its
 * open and its load (a program loaded for them cannot be attached as a perf uprobe).
 */
void bpfmaps__prepare_uprobes(struct bpf_object *obj);
/* A uprobe, whichever kind: bpfmaps__probe_destroy() removes it. */
struct bpfmaps_probe;
/* A uprobe of prog on path at file offset off, for pid only. NULL with errno. */
struct bpfmaps_probe *bpfmaps__uprobe(struct bpf_program *prog, pid_t pid, const char *path,
				      uint64_t off);
/*
 * The same on the target's executable, through /proc/PID/exe (its own file, in its
 * mount namespace too).
 */
struct bpfmaps_probe *bpfmaps__attach_uprobe(struct bpf_program *prog, const struct target *t,
					     uint64_t off);
void bpfmaps__probe_destroy(struct bpfmaps_probe *p);

/*
 * The size of the big maps (live objects, stacks, calls in flight) against their
 * built-in sizes: the daemon's map-memory budget. 1 by default; at least 1024 entries a
 * map, at most 16 times the built-in size.
 */
extern double bpfmaps_scale;
/* Kernel memory of the big maps of the three tracers at scale 1 (MiB, rounded up). */
#define BPFMAPS_BUILTIN_MB 130
uint32_t bpfmaps__scaled(uint32_t entries);
/* Applies bpfmaps_scale to obj's big maps: between its open and its load. */
struct bpf_object;
void bpfmaps__scale(struct bpf_object *obj);
#endif
