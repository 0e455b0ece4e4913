/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_CALLOCS_H
#define LEAKHOUND_CALLOCS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hooks.h"

struct elfbin;

/*
 * The C allocator a process really uses (DESIGN.md §5), for cgo heap tracing: the first
 * object in symbol-resolution order that defines malloc — the executable itself (a
 * static link), an allocator library mapped before libc (jemalloc, tcmalloc,
 * LD_PRELOAD), else the C library (glibc's libc.so.6, musl's ld-musl) — with the address,
 * the probe site (decoded, as for Go: hooks.c's probe_site_pick) and file offset of each
 * of its entry points. Files are opened through /proc/PID/root, so containers work.
 */
enum calloc_fn_id {
	CFN_MALLOC,
	CFN_CALLOC,
	CFN_REALLOC,
	CFN_REALLOCARRAY,
	CFN_FREE,
	CFN_POSIX_MEMALIGN,
	CFN_ALIGNED_ALLOC,
	CFN_MEMALIGN,
	CFN_VALLOC,
	CFN_PVALLOC,
	CFN__COUNT,
};

struct calloc_fn {
	const char *name;
	bool found;
	uint64_t addr;		/* link-time address in its object */
	uint64_t size;
	struct probe_site site;	/* file_off set */
	bool picked;		/* site found by decoding; else the entry */
	const char *why;	/* why not, when !picked */
	int same_as;		/* index of an earlier function at the same address; -1 */
};

struct calloc_info {
	char path[PATH_MAX];	/* as /proc/PID/maps names it (" (deleted)" included) */
	/*
	 * A path that opens the mapped file from here: /proc/PID/root/PATH, or
	 * /proc/PID/map_files/START-END when the file was deleted or replaced since it was
	 * mapped (the probes attach to the inode it reaches).
	 */
	char open_path[PATH_MAX + 64];
	const char *kind;	/* "glibc", "musl", "jemalloc", "tcmalloc", "executable", "other" */
	char build_id[64];	/* hex; "" when none */
	struct calloc_fn fn[CFN__COUNT];
};

/*
 * Finds pid's C allocator. -ENOENT when no mapped object defines malloc (a Go program
 * without cgo), -errno when /proc/PID/maps cannot be read.
 */
int callocs__find(pid_t pid, struct calloc_info *ci);
/*
 * Every function of the allocator in eb (the object found to define malloc, any bytes):
 * address, probe site, aliases, into ci->fn.
 */
void callocs__resolve(struct elfbin *eb, struct calloc_info *ci);
/* The registers of each function's arguments, for probe_site_pick ("rdi=size"...). */
const char *calloc_fn_regs(enum calloc_fn_id id);

#endif
