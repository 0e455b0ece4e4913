/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Internals shared by gosym.c (tables, functions) and gosym_lines.c (pc -> frames). */
#ifndef LEAKHOUND_GOSYM_INT_H
#define LEAKHOUND_GOSYM_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gosym.h"

/*
 * runtime._func: 1.18-1.19 have no startLine, so the fields after cuOffset move
 * by 4 (runtime/symtab.go@1.19 vs @1.20; runtime/runtime2.go@1.21+).
 */
enum {
	FUNC_ENTRYOFF = 0,
	FUNC_NAMEOFF = 4,
	FUNC_PCSP = 16,
	FUNC_PCFILE = 20,
	FUNC_PCLN = 24,
	FUNC_NPCDATA = 28,
	FUNC_CUOFF = 32,
	FUNC_NFUNCDATA_118 = 39,
	FUNC_SIZE_118 = 40,
	FUNC_NFUNCDATA_120 = 43,
	FUNC_SIZE_120 = 44,
};

/*
 * runtime.inlinedCall: 1.18-1.19 {parent i16, funcID u8, _, file i32, line i32,
 * func_ i32, parentPc i32} (runtime/symtab.go@1.19); 1.20+ {funcID u8, _ [3]u8,
 * nameOff i32, parentPc i32, startLine i32} (runtime/symtabinl.go@1.21).
 */
enum {
	INL_FUNCID_118 = 2,
	INL_NAME_118 = 12,
	INL_PARENTPC_118 = 16,
	INL_SIZE_118 = 20,
	INL_FUNCID_120 = 0,
	INL_NAME_120 = 4,
	INL_PARENTPC_120 = 8,
	INL_SIZE_120 = 16,
};

/* The pcvalue tables gosym_lines.c indexes per function: pcfile, pcln, inline index, pcsp. */
enum { PCV_FILE, PCV_LINE, PCV_INL, PCV_SP, PCV_KINDS };

struct span {
	const uint8_t *p;
	uint64_t len;
	bool nul_end; /* ends with a NUL byte: every string inside ends inside */
};

struct pcv_index;
struct pcv_table;

struct gosym {
	struct gosym_info info;
	struct span tab;	/* the whole table, from the pcHeader */
	struct span funcnames;	/* NUL-terminated names */
	struct span cutab;	/* uint32 offsets into filetab, per compilation unit */
	struct span filetab;	/* NUL-terminated file names */
	struct span pctab;	/* pcvalue tables */
	struct span pclntable;	/* functab, then the _func records */
	struct span gofunc;	/* funcdata (inline trees) up to the end of its segment */
	struct span findfunctab; /* the runtime's pc -> function buckets, when found */
	uint64_t minpc_off;	/* moduledata.minpc - runtime.text: base of findfunctab */
	uint32_t nfunc;
	uint32_t quantum;
	uint32_t func_size;	/* sizeof(_func) before pcdata */
	uint32_t nfuncdata_off;
	uint32_t inl_size, inl_name, inl_parentpc, inl_funcid;
	/* func_by_name: open-addressing hash of index + 1, built on first use */
	uint32_t *names;
	uint32_t names_mask;
	/*
	 * Checkpoints into the pcvalue tables of big functions, PCV_KINDS slots per
	 * function, each built on first use and published atomically (gosym_lines.c).
	 * The slot array is calloc'd: pages no lookup touched cost no memory.
	 */
	struct pcv_table *pcv;
};

/* Lookups through a const gosym fill it: a separate object, updated atomically. */
struct pcv_table {
	uint64_t bytes; /* checkpoint memory */
	struct pcv_index *slot[];
};

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* A NUL-terminated string at off inside s, or NULL. */
static inline const char *span_str(const struct span *s, uint64_t off)
{
	if (off >= s->len || (!s->nul_end && !memchr(s->p + off, 0, s->len - off)))
		return NULL;
	return (const char *)s->p + off;
}

static inline uint32_t ftab_entryoff(const struct gosym *gs, uint32_t i)
{
	return rd32(gs->pclntable.p + 8 * (uint64_t)i);
}

static inline uint32_t ftab_funcoff(const struct gosym *gs, uint32_t i)
{
	return rd32(gs->pclntable.p + 8 * (uint64_t)i + 4);
}

/* A _func record, its fixed part known to be in bounds (checked at open). */
struct func_rec {
	const uint8_t *p;
	uint32_t index;
	uint64_t entry;
	uint64_t end;
	uint32_t npcdata;
	uint32_t nfuncdata;
	bool tail_ok; /* pcdata and funcdata arrays inside the table */
};

void gosym_func_rec(const struct gosym *gs, uint32_t i, struct func_rec *f);
/* Function name at a funcnametab offset, "?" when out of bounds. */
const char *gosym_name_at(const struct gosym *gs, int32_t off);
/* Index of the function holding pc; -ENOENT outside every function. */
int gosym_func_index(const struct gosym *gs, uint64_t pc, uint32_t *idx);
/* Frees the checkpoints of gosym_lines.c. */
void gosym_pcv_free(struct gosym *gs);

#endif
