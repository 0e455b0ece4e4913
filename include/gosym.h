/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_GOSYM_H
#define LEAKHOUND_GOSYM_H

#include <stdbool.h>
#include <stdint.h>

struct elfbin;

/*
 * Index over a Go binary's pclntab (Go 1.18-1.26: magics 0xfffffff0/0xfffffff1,
 * and 1.16/1.17's 0xfffffffa). Works on stripped and PIE binaries: it finds the
 * table by section name, else by a validated scan of the read-only segments, and
 * runtime.text through moduledata. All addresses are link-time addresses; the
 * caller subtracts the load bias of a running process. Strings returned point
 * into the mapped file and live as long as the elfbin.
 */
struct gosym;

struct gosym_func {
	uint64_t entry;
	uint64_t end; /* next function's entry (or etext) */
	const char *name;
	uint32_t index;
};

struct gosym_frame {
	const char *func;
	const char *file;
	uint32_t line;
	bool inlined; /* true for every frame but the outermost (physical) one */
};

/* How the table and moduledata were found, for `leakhound info`. */
struct gosym_info {
	uint64_t pclntab;	/* link-time address of the pcHeader */
	uint64_t pclntab_size;
	uint32_t magic;
	uint8_t min_lc;		/* PC quantum: 1 amd64, 4 arm64 */
	uint32_t nfunc;
	uint32_t nfiles;
	uint64_t text;		/* runtime.text: base of functab entry offsets */
	uint64_t etext;
	uint64_t moduledata;	/* runtime.firstmoduledata, 0 when not found */
	uint64_t gofunc;	/* moduledata.gofunc (base of funcdata), 0 when not found */
	const char *pclntab_how;	/* "section .gopclntab", "scan", ... */
	const char *moduledata_how;	/* "section .go.module", "symbol", "scan", "scan (relocations)" */
};

/* NULL with errno: ENOENT when there is no pclntab, EINVAL when it is malformed. */
struct gosym *gosym__open(struct elfbin *eb);
void gosym__free(struct gosym *gs);
const struct gosym_info *gosym__info(const struct gosym *gs);

uint32_t gosym__func_count(const struct gosym *gs);
int gosym__func_at(const struct gosym *gs, uint32_t index, struct gosym_func *fn);
/* -ENOENT when pc is outside every function. */
int gosym__func_by_pc(const struct gosym *gs, uint64_t pc, struct gosym_func *fn);
/* Exact name ("runtime.mallocgc"); -ENOENT when absent. Built lazily, O(log n). */
int gosym__func_by_name(struct gosym *gs, const char *name, struct gosym_func *fn);

/*
 * Frames of pc, innermost first, inlined frames expanded; the last one is the
 * physical function. Returns the number of frames (at most max), or -errno.
 * pc is an instruction address: callers with return addresses pass ret - 1.
 */
int gosym__frames(const struct gosym *gs, uint64_t pc, struct gosym_frame *frames, int max);

#endif
