/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_GLOBALS_INT_H
#define LEAKHOUND_GLOBALS_INT_H

/*
 * Internals of the globals module, shared by src/globals*.c only: the code-pattern
 * scanner (globals_scan.c) and the per-global rules (globals_recipe.c) of
 * STRIPPED-GLOBALS.md, amd64.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "globals.h"

struct elfbin;
struct gosym;

/* Largest runtime function the rules read (runtime.init of 1.19 is ~10 KiB). */
#define GLB_MAX_FUNC (1u << 20)

struct glb_range {
	uint64_t lo, hi; /* [lo, hi) */
};

/* The writable data classes of a module, read from moduledata (runtime/symtab.go). */
enum glb_class {
	CLS_NOPTRDATA,
	CLS_DATA,
	CLS_BSS,
	CLS_NOPTRBSS,
	CLS__COUNT,
};

struct glb_ctx {
	struct elfbin *eb;
	struct gosym *gs;
	const struct go_version *v; /* NULL when unknown */
	uint64_t pclntab;
	uint64_t text;		/* runtime.text as pclntab sees it */
	uint64_t etext;		/* text + the functab's closing entry offset */
	uint64_t md;		/* moduledata, 0 until found */
	bool have_ranges;
	struct glb_range cls[CLS__COUNT];
	/* sites shared between rules */
	uint64_t mpr_store;	/* MemProfileRate as stored by the dMP site, 0 if none */
};

/* A function's bytes, from pclntab [entry, end). */
struct glb_func {
	const char *name;
	uint64_t entry;
	const uint8_t *p;
	size_t n;
};

/* RIP-relative operand forms (STRIPPED-GLOBALS.md §1.4); masks for glb_next_ref(). */
enum glb_form {
	REF_LOAD64 = 1 << 0,   /* REX.W 8B /r	MOV r64, [rip+d] */
	REF_LOAD32 = 1 << 1,   /* [REX] 8B /r	MOV r32, [rip+d] */
	REF_LEA = 1 << 2,      /* REX.W 8D /r	LEA r64, [rip+d] */
	REF_STORE64 = 1 << 3,  /* REX.W 89 /r	MOV [rip+d], r64 */
	REF_MOVZX8 = 1 << 4,   /* [REX] 0F B6 /r	MOVZX r32, byte [rip+d] */
	REF_CMPB = 1 << 5,     /* 80 /7 ib	CMP byte [rip+d], imm8 */
	REF_MOVQ_IMM = 1 << 6, /* REX.W C7 /0 id	MOV qword [rip+d], imm32 */
	REF_MOVB_IMM = 1 << 7, /* C6 /0 ib	MOV byte [rip+d], imm8 */
};
#define REF_ANY 0xff

struct glb_ref {
	size_t off;	 /* offset of the instruction in the function */
	size_t next;	 /* offset just after it */
	uint64_t target; /* link-time address of the operand */
	enum glb_form form;
	uint8_t reg;	 /* ModRM reg with REX.R (the register operand) */
	uint32_t imm;	 /* immediate of CMPB / MOVQ_IMM / MOVB_IMM */
};

int glb_func(struct glb_ctx *c, const char *name, struct glb_func *f);
bool glb_in(const struct glb_ctx *c, enum glb_class cls, uint64_t addr, uint64_t len);
bool glb_is_data(const struct glb_ctx *c, uint64_t addr);
/* Decodes a RIP-relative operand starting exactly at off; no data filter. */
bool glb_match_at(const struct glb_func *f, size_t off, struct glb_ref *r);
/*
 * Next operand of a form in mask, at or after *pos, whose target is a data address of
 * the module (every class of enum glb_class). Operands of other forms that also point
 * at data are stepped over whole. Advances *pos past the match.
 */
bool glb_next_ref(const struct glb_ctx *c, const struct glb_func *f, size_t *pos, unsigned mask,
		  struct glb_ref *r);
/* Whether a CALL rel32 to callee follows at off, after at most max_nop bytes of NOPs. */
bool glb_call_at(const struct glb_func *f, size_t off, size_t max_nop, uint64_t callee);
/* Offset just after the first CALL rel32 to callee at or after from; 0 when none. */
size_t glb_find_call(const struct glb_func *f, size_t from, uint64_t callee);
/* Entry of a function by name, 0 when absent. */
uint64_t glb_entry(struct glb_ctx *c, const char *name);

/* Reads moduledata and the data class ranges; NULL or a static error. */
const char *glb_load_ranges(struct glb_ctx *c, uint64_t md);

/* The recipe for every global; fills what it finds, sets error on the rest. */
void glb_recipe(struct glb_ctx *c, struct go_globals *g);

#endif
