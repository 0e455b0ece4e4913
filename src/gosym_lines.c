// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pc -> frames: pcvalue tables (file, line, inline-tree index) and the inline
 * tree, as the runtime reads them (runtime/symtab.go pcvalue/step,
 * runtime/symtabinl.go inlineUnwinder, 1.18-1.26).
 *
 * A pcvalue table is a delta-encoded list that can only be read from the
 * function's entry, so a lookup in a big function (the compiler has functions
 * of tens of thousands of instructions) walks thousands of steps. The first
 * lookup in a big function therefore walks the whole table once and records the
 * walk's state at every CKPT_SPAN bytes of code; later lookups index that array
 * by pc and walk only the last few steps. Memory follows use: only functions
 * looked up, only tables walked (12 bytes per CKPT_SPAN bytes of code).
 */
#include <errno.h>
#include <stdlib.h>

#include "gosym_int.h"

/* internal/abi/symtab.go@1.21+ (runtime/symtab.go before): same numbers 1.18-1.26. */
#define PCDATA_INLTREEINDEX 2
#define FUNCDATA_INLTREE 3

/* Inline chains deeper than this are cut: a corrupt parentPc cycle must end. */
#define MAX_INLINE_WALK 128
/* Varints in pcvalue tables are uint32: at most 5 bytes (runtime.readvarint). */
#define MAX_VARINT_SHIFT 28
/* Functions with less code than this are walked from the entry every time. */
#define CKPT_MIN_CODE 512
#define CKPT_SPAN 64

/* State of a table walk after a step: the value holds on [previous pc, pc). */
struct pcv_state {
	const uint8_t *p; /* next (value delta, pc delta) pair */
	uint64_t pc;
	uint32_t val;
	bool first;
};

/* A walk's state; off == the table's own offset marks the state before any step. */
struct pcv_ckpt {
	uint32_t pcoff; /* pc - entry */
	uint32_t val;
	uint32_t off;	/* p - pctab */
};

/* c[b]: the last state with pc <= entry + b * CKPT_SPAN, for n buckets of code. */
struct pcv_index {
	uint32_t n;
	uint32_t table; /* offset of the table in pctab */
	struct pcv_ckpt c[];
};

static inline bool uvarint(const uint8_t **pp, const uint8_t *end, uint32_t *v)
{
	const uint8_t *p = *pp;
	uint32_t r = 0;

	for (unsigned int shift = 0; shift <= MAX_VARINT_SHIFT; shift += 7) {
		if (p >= end)
			return false;
		r |= (uint32_t)(*p & 0x7f) << shift;
		if (!(*p++ & 0x80)) {
			*pp = p;
			*v = r;
			return true;
		}
	}
	return false;
}

/*
 * One step (runtime.step): a zigzag value delta, then a pc delta in units of the
 * PC quantum; a zero value delta after the first pair ends the table. false at
 * the end or on malformed input. Every step consumes input: walks end.
 */
static inline bool pcv_step(const struct gosym *gs, struct pcv_state *s)
{
	const uint8_t *end = gs->pctab.p + gs->pctab.len;
	uint32_t uv, pcd;

	/* most deltas fit one byte each: take both without the general loop */
	if (end - s->p >= 2 && !((s->p[0] | s->p[1]) & 0x80)) {
		uv = s->p[0];
		pcd = s->p[1];
		s->p += 2;
	} else if (!uvarint(&s->p, end, &uv) || !uvarint(&s->p, end, &pcd)) {
		return false;
	}
	if (uv == 0 && !s->first)
		return false;
	s->val += (uv & 1) ? ~(uv >> 1) : (uv >> 1);
	s->pc += (uint64_t)pcd * gs->quantum;
	s->first = false;
	return true;
}

static bool pcv_start(const struct gosym *gs, uint64_t entry, uint32_t off, struct pcv_state *s)
{
	if (!off || off >= gs->pctab.len)
		return false;
	s->p = gs->pctab.p + off;
	s->pc = entry;
	s->val = (uint32_t)-1;
	s->first = true;
	return true;
}

/* Value at target from state s (runtime.pcvalue); -1 past the end of the table. */
static int32_t pcv_walk(const struct gosym *gs, struct pcv_state *s, uint64_t target)
{
	while (pcv_step(gs, s))
		if (target < s->pc)
			return (int32_t)s->val;
	return -1;
}

static void ckpt_save(const struct gosym *gs, const struct pcv_state *st, uint64_t entry,
		      struct pcv_ckpt *c)
{
	c->pcoff = st->pc - entry;
	c->val = st->val;
	c->off = st->p - gs->pctab.p;
}

/* One walk over the table: each bucket start gets the state whose range holds it. */
static struct pcv_index *pcv_build(const struct gosym *gs, const struct func_rec *f,
				   uint32_t off)
{
	uint64_t n = (f->end - f->entry + CKPT_SPAN - 1) / CKPT_SPAN, b = 0;
	struct pcv_state prev, next;
	struct pcv_index *ix;

	if (!pcv_start(gs, f->entry, off, &prev))
		return NULL;
	ix = malloc(sizeof(*ix) + n * sizeof(ix->c[0]));
	if (!ix)
		return NULL;
	ix->n = n;
	ix->table = off;
	while (b < n) {
		next = prev;
		if (!pcv_step(gs, &next))
			break;
		for (; b < n && f->entry + b * CKPT_SPAN < next.pc; b++)
			ckpt_save(gs, &prev, f->entry, &ix->c[b]);
		prev = next;
	}
	for (; b < n; b++)
		ckpt_save(gs, &prev, f->entry, &ix->c[b]);
	return ix;
}

/* The checkpoints of one table, built by the first lookup; NULL without memory. */
static const struct pcv_index *pcv_index(const struct gosym *gs, const struct func_rec *f,
					 int kind, uint32_t off)
{
	struct pcv_index **slot = &gs->pcv->slot[(size_t)f->index * PCV_KINDS + kind];
	struct pcv_index *ix = __atomic_load_n(slot, __ATOMIC_ACQUIRE), *expected = NULL;

	if (ix)
		return ix;
	ix = pcv_build(gs, f, off);
	if (!ix)
		return NULL;
	/* another thread may have built it meanwhile: keep the first */
	if (!__atomic_compare_exchange_n(slot, &expected, ix, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		free(ix);
		return expected;
	}
	__atomic_add_fetch(&gs->pcv->bytes,
			   sizeof(*ix) + ix->n * sizeof(ix->c[0]), __ATOMIC_RELAXED);
	return ix;
}

/* Starts s at the state whose range holds the start of target's bucket. */
static void pcv_seek(const struct gosym *gs, const struct pcv_index *ix, uint64_t entry,
		     uint64_t target, struct pcv_state *s)
{
	uint64_t b = (target - entry) / CKPT_SPAN;
	const struct pcv_ckpt *c;

	if (target < entry || b >= ix->n)
		return;
	c = &ix->c[b];
	if (c->off == ix->table) /* before the first step */
		return;
	s->p = gs->pctab.p + c->off;
	s->pc = entry + c->pcoff;
	s->val = c->val;
	s->first = false;
}

/* Value of table off (of kind) of f at target; -1 when absent or malformed. */
static int32_t pcvalue(const struct gosym *gs, const struct func_rec *f, int kind, uint32_t off,
		       uint64_t target)
{
	const struct pcv_index *ix;
	struct pcv_state s;

	if (!pcv_start(gs, f->entry, off, &s))
		return -1;
	if (f->end - f->entry >= CKPT_MIN_CODE && (ix = pcv_index(gs, f, kind, off)) &&
	    ix->table == off)
		pcv_seek(gs, ix, f->entry, target, &s);
	return pcv_walk(gs, &s, target);
}

void gosym_pcv_free(struct gosym *gs)
{
	for (size_t i = 0; gs->pcv && i < (size_t)gs->nfunc * PCV_KINDS; i++)
		free(gs->pcv->slot[i]);
	free(gs->pcv);
}

/* filetab[cutab[cuOffset + fileno]] (runtime.funcfile). */
static const char *file_at(const struct gosym *gs, const struct func_rec *f, uint64_t pc)
{
	int32_t fileno = pcvalue(gs, f, PCV_FILE, rd32(f->p + FUNC_PCFILE), pc);
	uint64_t i, off;
	const char *s;

	if (fileno < 0)
		return "?";
	i = (uint64_t)rd32(f->p + FUNC_CUOFF) + (uint32_t)fileno;
	if (i >= gs->cutab.len / 4)
		return "?";
	off = rd32(gs->cutab.p + 4 * i);
	s = off == UINT32_MAX ? NULL : span_str(&gs->filetab, off);
	return s ? s : "?";
}

static uint32_t line_at(const struct gosym *gs, const struct func_rec *f, uint64_t pc)
{
	int32_t line = pcvalue(gs, f, PCV_LINE, rd32(f->p + FUNC_PCLN), pc);

	return line < 0 ? 0 : (uint32_t)line;
}

static uint32_t pcdata_off(const struct gosym *gs, const struct func_rec *f, uint32_t k)
{
	if (!f->tail_ok || k >= f->npcdata)
		return 0;
	return rd32(f->p + gs->func_size + 4 * k);
}

/* The inline tree of f inside gofunc, or NULL when f has none. */
static const uint8_t *inl_tree(const struct gosym *gs, const struct func_rec *f, uint64_t *len)
{
	uint32_t off;

	if (!f->tail_ok || FUNCDATA_INLTREE >= f->nfuncdata || !gs->gofunc.p)
		return NULL;
	off = rd32(f->p + gs->func_size + 4 * (f->npcdata + FUNCDATA_INLTREE));
	if (off == UINT32_MAX || off >= gs->gofunc.len)
		return NULL;
	*len = gs->gofunc.len - off;
	return gs->gofunc.p + off;
}

/* Entry ix of the inline tree; its length is unknown, so bounded by the segment. */
static const uint8_t *inl_entry(const struct gosym *gs, const uint8_t *tree, uint64_t tree_len,
				int32_t ix)
{
	uint64_t off = (uint64_t)(uint32_t)ix * gs->inl_size;

	if (ix < 0 || off + gs->inl_size > tree_len)
		return NULL;
	return tree + off;
}

static inline void prefetch_table(const struct gosym *gs, uint32_t off)
{
	if (off && off < gs->pctab.len)
		__builtin_prefetch(gs->pctab.p + off);
}

static void set_frame(const struct gosym *gs, const struct func_rec *f, uint64_t pc,
		      int32_t nameoff, bool inlined, uint8_t func_id, struct gosym_frame *fr)
{
	fr->func = gosym_name_at(gs, nameoff);
	fr->file = file_at(gs, f, pc);
	fr->line = line_at(gs, f, pc);
	fr->inlined = inlined;
	fr->func_id = func_id;
}

/*
 * The inline tree index at pc names the innermost inlined call; its parentPc is
 * an instruction of the caller that carries the call site's position
 * (runtime.inlineUnwinder.next, symtabinl.go@1.21; 1.18-1.19 have the same
 * parentPc). Walk out until the index is -1: that pc belongs to f itself.
 */
int gosym__frames(const struct gosym *gs, uint64_t pc, struct gosym_frame *frames, int max)
{
	const uint8_t *tree = NULL, *e;
	uint64_t tree_len = 0;
	struct func_rec f;
	uint32_t idx, inl;
	int32_t ix = -1;
	int n = 0, err;

	if (max < 1)
		return -EINVAL;
	err = gosym_func_index(gs, pc, &idx);
	if (err)
		return err;
	gosym_func_rec(gs, idx, &f);
	inl = pcdata_off(gs, &f, PCDATA_INLTREEINDEX);
	/* three tables in three places: let their cache misses overlap */
	prefetch_table(gs, inl);
	prefetch_table(gs, rd32(f.p + FUNC_PCFILE));
	prefetch_table(gs, rd32(f.p + FUNC_PCLN));
	if (inl && (tree = inl_tree(gs, &f, &tree_len)))
		ix = pcvalue(gs, &f, PCV_INL, inl, pc);
	for (int steps = 0; ix >= 0 && steps < MAX_INLINE_WALK; steps++) {
		uint64_t parent;

		if (!(e = inl_entry(gs, tree, tree_len, ix)))
			break;
		if (n < max - 1)
			set_frame(gs, &f, pc, (int32_t)rd32(e + gs->inl_name), true,
				  e[gs->inl_funcid], &frames[n++]);
		parent = f.entry + (uint32_t)rd32(e + gs->inl_parentpc);
		if (parent >= f.end)
			break;
		pc = parent;
		ix = pcvalue(gs, &f, PCV_INL, inl, pc);
	}
	/* _func: funcID, flag, padding, then nfuncdata (runtime/runtime2.go _func) */
	set_frame(gs, &f, pc, (int32_t)rd32(f.p + FUNC_NAMEOFF), false,
		  f.p[gs->nfuncdata_off - 3], &frames[n]);
	return n + 1;
}

int gosym__sp_delta(const struct gosym *gs, uint64_t pc, int32_t *delta)
{
	struct func_rec f;
	uint32_t idx;
	int32_t v;
	int err;

	err = gosym_func_index(gs, pc, &idx);
	if (err)
		return err;
	gosym_func_rec(gs, idx, &f);
	/* the pcsp table (runtime.funcspdelta): SP moved down since entry, never negative */
	v = pcvalue(gs, &f, PCV_SP, rd32(f.p + FUNC_PCSP), pc);
	if (v < 0)
		return -ENOENT;
	*delta = v;
	return 0;
}
