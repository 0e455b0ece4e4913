/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_TARGET_H
#define LEAKHOUND_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buildinfo.h"
#include "globals.h"
#include "goffsets.h"
#include "hooks.h"

struct elfbin;
struct gosym;

/* ELF facts of a Go binary, for reports and for choosing code paths. */
struct gobin_facts {
	bool pie;		/* ET_DYN */
	bool dynamic;		/* has an interpreter or DT_NEEDED */
	bool stripped;		/* no .symtab */
	bool cgo;		/* runtime/cgo linked in */
	bool external_link;	/* laid out by a host linker */
	bool dwarf;		/* .debug_info present */
	bool dwarf_compressed;	/* SHF_COMPRESSED (zlib) */
	int dwarf_version;	/* of the first unit, 0 when unknown */
	const char *go_buildid;	/* .note.go.buildid, "" when absent */
};

/*
 * A Go binary and everything leakhound derives from it: build info, pclntab,
 * probe sites, runtime globals and struct offsets. Opened once per executable
 * and shared by every process that runs it.
 */
struct gobin {
	struct elfbin *elf;
	struct go_buildinfo bi;
	struct gosym *sym;
	struct gobin_facts facts;
	bool supported;			/* a Go release leakhound can trace */
	struct go_hooks hooks;
	struct go_globals globals;
	struct go_offsets offsets;
	int offsets_err;		/* 0, or why offsets are unknown */
};

/*
 * NULL with errno: ENOENT/EACCES/... from open, ENOEXEC when the file is not an
 * ELF file or is corrupt, ENOPKG when it is not a Go program (no build info or
 * no pclntab). A Go release outside 1.19-1.26 opens with supported = false.
 */
struct gobin *gobin__open(const char *path);
void gobin__free(struct gobin *gb);
/* A message for the errno values of gobin__open() and target__open(). */
const char *gobin_strerror(int err);

/* A running Go process. */
struct target {
	pid_t pid;
	char exe[4096];		/* the executable's path inside the target's mount namespace */
	char root[64];		/* /proc/PID/root: the target's file system, containers included */
	uint64_t start_time;	/* /proc/PID/stat starttime: tells PID reuse apart */
	uint64_t exe_dev, exe_ino; /* /proc/PID/exe's file: tells an execve apart */
	uint64_t bias;		/* load bias: runtime address = link-time address + bias */
	struct gobin *bin;
	int mem_fd;		/* /proc/PID/mem, opened on first read */
};

/* NULL with errno: ESRCH (no such process), EACCES/EPERM, or gobin__open()'s errors. */
struct target *target__open(pid_t pid);
void target__free(struct target *t);
/* Reads target memory at a runtime address; -EFAULT on a short read. */
int target__read(struct target *t, uint64_t addr, void *buf, size_t len);

/* One range of a batched read, and how it went: 0 or -errno (-EFAULT: not all there). */
struct target_iov {
	uint64_t addr;
	void *buf;
	size_t len;
	int err;
};

/*
 * Reads n ranges with as few system calls as the kernel allows (process_vm_readv, up
 * to 1024 ranges a call), each range as one read; a range the batch cannot finish is
 * read alone with target__read. Sets every iov[i].err; returns how many failed.
 */
size_t target__readv(struct target *t, struct target_iov *iov, size_t n);

/* A readable part of the target's address space. */
struct target_range {
	uint64_t start, end;
};

/*
 * The readable ranges of /proc/PID/maps in address order, adjacent ones merged, into a
 * malloc'd array. -ESRCH when the process is gone, -ENOMEM.
 */
int target__ranges(struct target *t, struct target_range **r, size_t *n);

#endif
