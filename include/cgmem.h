/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_CGMEM_H
#define LEAKHOUND_CGMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The memory cgroup of a process, as the early snapshot trigger reads it: cgroup v2
 * memory.current / memory.max, or v1 memory.usage_in_bytes / memory.limit_in_bytes.
 * The limit that applies is the lowest on the path up to the hierarchy's root, since a
 * parent's limit caps its children.
 */
struct cgmem {
	int version;		/* 1 or 2; 0: no memory controller found */
	char dir[4096];		/* the cgroup's directory in this process's mount namespace */
	char root[4096];	/* the hierarchy's mount point: the limit walk stops there */
};

#define CGMEM_UNLIMITED UINT64_MAX

/*
 * The memory controller's cgroup path in /proc/PID/cgroup text: the v1 line whose
 * controller list names "memory", else the v2 "0::" line. 1 or 2, 0 when none; path
 * NUL-terminated (truncated to size).
 */
int cgmem_parse_proc_cgroup(const char *text, size_t len, char *path, size_t size);
/*
 * The mount point of the hierarchy of that version in /proc/self/mountinfo text: a
 * "cgroup" mount whose super options name "memory" (v1), or the "cgroup2" mount (v2).
 * Octal escapes (\040) decoded. 0, or -ENOENT.
 */
int cgmem_parse_mountinfo(const char *text, size_t len, int version, char *mnt, size_t size);
/*
 * A value of a memory.stat-like file ("key value" lines): 0, or -ENOENT when the key
 * is not there.
 */
int cgmem_parse_stat(const char *text, size_t len, const char *key, uint64_t *val);

/* Finds pid's memory cgroup: 0, -ENOENT (no memory controller), or -errno. */
int cgmem__find(pid_t pid, struct cgmem *cg);
/*
 * Usage now: memory.current (v2) / memory.usage_in_bytes (v1), both counting page cache.
 * 0 or -errno.
 */
int cgmem__usage(const struct cgmem *cg, uint64_t *bytes);
/* The lowest limit on the path to the root; CGMEM_UNLIMITED when there is none. */
int cgmem__limit(const struct cgmem *cg, uint64_t *bytes);
/*
 * The working set: usage less the inactive file pages the kernel reclaims before it
 * OOM-kills anyone (what the kubelet's eviction looks at too). 0 or -errno.
 */
int cgmem__working_set(const struct cgmem *cg, uint64_t usage, uint64_t *bytes);

#endif
