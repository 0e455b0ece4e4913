/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_CAPS_H
#define LEAKHOUND_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What leakhound does that needs privileges, and the capabilities each takes on this
 * kernel (docs/SECURITY.md, measured on Linux 6.18): one table that `leakhound check`
 * judges with and every command names the missing capability from.
 */
enum caps_need {
	CAPS_BPF = 1 << 0,	    /* load BPF programs and maps */
	CAPS_UPROBE = 1 << 1,	    /* create a uprobe */
	CAPS_TRACEPOINT = 1 << 2,   /* a kernel tracepoint: perf event, id from tracefs */
	CAPS_PROC = 1 << 3,	    /* another process's /proc/PID/exe, root, maps, memory */
	CAPS_PROC_PRIVATE = 1 << 4, /* another user's 0400 /proc files, closed directories */
	CAPS_MAP_FILES = 1 << 5,    /* /proc/PID/map_files: a deleted or replaced mapping */
};

/* This process's effective capabilities from /proc/self/status; 0 or -errno. */
int caps_read_eff(uint64_t *caps);
/* 1 in the initial user namespace (where capabilities grant BPF), 0 not, -1 unknown. */
int caps_init_userns(void);
/* Why a need takes what it takes: "to create uprobes: ...". */
const char *caps_why(enum caps_need need);
/*
 * The first capability missing for any of the needs (an OR of caps_need), as its
 * name ("CAP_SYS_PTRACE"), NULL when all are held; *need_out (may be NULL) gets the
 * need it is missing for.
 */
const char *caps_missing(unsigned needs, enum caps_need *need_out);
/* EPERM and EACCES, the permission errors (as -errno or errno). */
bool caps_perm_err(int err);
/*
 * One clause for a permission error on an operation with these needs: "missing
 * CAP_SYS_PTRACE, needed to read another process's ...", or, with every capability
 * held, what else denies it. A static buffer: use it before the next call.
 */
const char *caps_hint(unsigned needs);

/* "; " and caps_hint(needs) for a permission error (-errno or errno), else "". */
const char *caps_err_hint(int err, unsigned needs);

#endif
