/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_GOSYM_H
#define LEAKHOUND_GOSYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elfbin;

/*
 * Index over a Go binary's pclntab (Go 1.18-1.26: magics 0xfffffff0/0xfffffff1).
 * 1.16/1.17's 0xfffffffa (absolute functab entries, pointer funcdata) and older
 * tables are recognised and refused with ENOTSUP. Works on stripped and PIE
 * binaries: it finds the table by section name, else by symbol, else by a
 * validated scan of the loadable segments, and runtime.text through moduledata.
 * All addresses are link-time addresses; the caller subtracts the load bias of a
 * running process. Strings returned point into the mapped file and live as long
 * as the elfbin. Lookups are read-only and may run concurrently, except
 * gosym__func_by_name, whose first call builds its index.
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
	/*
	 * The runtime's funcID of the function (_func.funcID, inlinedCall.funcID): 0 for
	 * ordinary functions. The numbering changes between releases; wrappers are
	 * always the one after runtime.systemstack_switch's (runtime/symtab.go@1.19,
	 * internal/abi/symtab.go@1.21-1.26).
	 */
	uint8_t func_id;
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
	uint64_t etext;		/* end of the last function */
	uint64_t moduledata;	/* runtime.firstmoduledata, 0 when not found */
	uint64_t gofunc;	/* moduledata.gofunc (base of funcdata), 0 when not found */
	/* "section .gopclntab", "section .data.rel.ro.gopclntab", "symbol runtime.pclntab",
	 * "scan" */
	const char *pclntab_how;
	/* "section .go.module", "symbol runtime.firstmoduledata", "scan",
	 * "scan (relocations)", "not found" */
	const char *moduledata_how;
	/* "symbol runtime.text", "moduledata.text", "pcHeader.textStart" */
	const char *text_how;
};

/*
 * NULL with errno: ENOENT when there is no pclntab, EINVAL when it is malformed
 * (or runtime.text cannot be found), ENOTSUP for pclntab formats before Go 1.18.
 */
struct gosym *gosym__open(struct elfbin *eb);
void gosym__free(struct gosym *gs);
const struct gosym_info *gosym__info(const struct gosym *gs);

uint32_t gosym__func_count(const struct gosym *gs);
int gosym__func_at(const struct gosym *gs, uint32_t index, struct gosym_func *fn);
/* -ENOENT when pc is outside every function. */
int gosym__func_by_pc(const struct gosym *gs, uint64_t pc, struct gosym_func *fn);
/*
 * Exact name ("runtime.mallocgc"); -ENOENT when absent. The first call builds a
 * hash index over all names (not thread-safe); later calls are O(1). When names
 * repeat, the function with the lowest entry wins.
 */
int gosym__func_by_name(struct gosym *gs, const char *name, struct gosym_func *fn);

/*
 * Heap bytes the index holds: the name index once built, the per-function pc
 * checkpoints built by lookups, and the checkpoint slot array (virtual until
 * touched). The tables themselves stay in the file mapping.
 */
size_t gosym__memory(const struct gosym *gs);

/*
 * Frames of pc, innermost first, inlined frames expanded; the last one is the
 * physical function. Returns the number of frames (at most max), or -errno.
 * When the inline chain is longer than max, the innermost max - 1 inlined frames
 * are kept and the physical function still comes last.
 * pc is an instruction address: callers with return addresses pass ret - 1.
 */
int gosym__frames(const struct gosym *gs, uint64_t pc, struct gosym_frame *frames, int max);

/*
 * Bytes the function at pc has moved SP down since its entry (the pcsp table, as
 * runtime.funcspdelta reads it): its return address is at SP + *delta, and with a
 * frame (delta > 0) its saved frame pointer just below. pc is taken as is (a return
 * address is looked up at itself, as the runtime's unwinder does). -ENOENT when pc is
 * outside every function or the table has no value there.
 */
int gosym__sp_delta(const struct gosym *gs, uint64_t pc, int32_t *delta);

/*
 * A direct-mapped pc -> frames cache in front of gosym__frames, for stacks that
 * repeat (the common case in a tracer). One cache per thread; slots is rounded
 * up to a power of two. Chains deeper than GOSYM_CACHE_DEPTH frames bypass it.
 */
#define GOSYM_CACHE_DEPTH 6
struct gosym_cache;

struct gosym_cache *gosym_cache__new(const struct gosym *gs, uint32_t slots);
void gosym_cache__free(struct gosym_cache *c);
int gosym_cache__frames(struct gosym_cache *c, uint64_t pc, struct gosym_frame *frames, int max);
/* Lookups answered from the cache, and all lookups, since creation. */
void gosym_cache__stats(const struct gosym_cache *c, uint64_t *hits, uint64_t *lookups);

#endif
