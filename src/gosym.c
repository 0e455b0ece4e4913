// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Go pclntab reader: functions, files, lines and inlined frames of a Go binary,
 * from the file alone (no DWARF, no symbols needed).
 *
 * Formats read from the runtime and linker sources: runtime/symtab.go and
 * runtime/symtabinl.go (1.18-1.26), internal/abi/symtab.go (1.21+),
 * cmd/link/internal/ld/pcln.go and symtab.go (the writers). Nothing is copied:
 * every table is a bounds-checked view into the elfbin's mapping, and nothing per
 * function is built at open time beyond one pass that checks the function table.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "elfbin.h"
#include "gosym_int.h"

/* pcHeader magics (internal/abi/symtab.go@1.26, runtime/symtab.go before). */
#define MAGIC_GO12 0xfffffffbu	/* 1.2-1.15 */
#define MAGIC_GO116 0xfffffffau /* 1.16-1.17 */
#define MAGIC_GO118 0xfffffff0u /* 1.18-1.19: functab entries are offsets from textStart */
#define MAGIC_GO120 0xfffffff1u /* 1.20-1.26 */

/* runtime.pcHeader (runtime/symtab.go@1.18-1.26; textStart unused, written 0, in 1.26). */
enum {
	PCH_MINLC = 6,
	PCH_PTRSIZE = 7,
	PCH_NFUNC = 8,
	PCH_NFILES = 16,
	PCH_TEXTSTART = 24,
	PCH_FUNCNAME = 32,
	PCH_CU = 40,
	PCH_FILETAB = 48,
	PCH_PCTAB = 56,
	PCH_PCLN = 64,
	PCH_SIZE = 72,
};

/*
 * runtime.moduledata (runtime/symtab.go per tag): unchanged up to etext in
 * 1.16-1.26; gofunc moves when 1.20 adds covctrs/ecovctrs.
 */
enum {
	MD_PCHEADER = 0,
	MD_FUNCNAMETAB = 8,
	MD_FTAB = 128,
	MD_FINDFUNCTAB = 152,
	MD_MINPC = 160,
	MD_TEXT = 176,
	MD_GOFUNC_118 = 304,
	MD_GOFUNC_120 = 320,
};

/*
 * runtime.findfunctab: one findfuncbucket {idx uint32; subbuckets [16]uint8} per
 * abi.FuncTabBucketSize (4096) bytes of text from minpc, each subbucket 256 bytes
 * (runtime/symtab.go findfunc, 1.18-1.26; written by cmd/link/internal/ld/pcln.go).
 */
#define FFB_BUCKET 4096
#define FFB_SUBBUCKET 256
#define FFB_SIZE 20
/* A bucket is a hint: after this many steps past it, fall back to the binary search. */
#define FFB_MAX_SCAN 64

/* File bytes from vaddr to the end of the file image of its PT_LOAD. */
static int seg_span(const struct elfbin *eb, uint64_t vaddr, struct span *out)
{
	for (size_t i = 0; i < elfbin__segment_count(eb); i++) {
		const struct elf_seg *s = elfbin__segment_at(eb, i);

		if (s->type != PT_LOAD || vaddr < s->vaddr || vaddr - s->vaddr >= s->filesz)
			continue;
		out->len = s->filesz - (vaddr - s->vaddr);
		out->p = elfbin__vaddr_ptr(eb, vaddr, out->len);
		return out->p ? 0 : -ERANGE;
	}
	return -ERANGE;
}

/* ---- the table: header and function table ---------------------------------- */

/* Splits the table into its five parts; every offset is checked against len. */
static int parse_tables(struct gosym *gs, const uint8_t *p, uint64_t len)
{
	static const int order[] = { PCH_FUNCNAME, PCH_CU, PCH_FILETAB, PCH_PCTAB, PCH_PCLN };
	struct span *parts[] = { &gs->funcnames, &gs->cutab, &gs->filetab, &gs->pctab,
				 &gs->pclntable };
	uint64_t off[6];

	for (int i = 0; i < 5; i++)
		off[i] = rd64(p + order[i]);
	off[5] = len;
	/* the linker writes them in this order (cmd/link/internal/ld/pcln.go) */
	if (off[0] < PCH_SIZE)
		return -EINVAL;
	for (int i = 0; i < 5; i++)
		if (off[i] > off[i + 1])
			return -EINVAL;
	for (int i = 0; i < 5; i++) {
		parts[i]->p = p + off[i];
		parts[i]->len = off[i + 1] - off[i];
		parts[i]->nul_end = parts[i]->len && !parts[i]->p[parts[i]->len - 1];
	}
	return 0;
}

/*
 * functab: nfunc + 1 {entryoff, funcoff} pairs sorted by entry, the last one
 * holding only the end of text (runtime/symtab.go functab, pcln.go writer). One
 * pass checks order and that every _func header lies inside the table, so that
 * lookups need only check the variable-length tail.
 */
static int check_functab(const struct gosym *gs)
{
	uint64_t need = 8 * ((uint64_t)gs->nfunc + 1);
	uint32_t prev = 0;

	if (need > gs->pclntable.len)
		return -EINVAL;
	for (uint32_t i = 0; i <= gs->nfunc; i++) {
		uint32_t e = ftab_entryoff(gs, i);

		if (e < prev)
			return -EINVAL;
		prev = e;
		if (i < gs->nfunc &&
		    (uint64_t)ftab_funcoff(gs, i) + gs->func_size > gs->pclntable.len)
			return -EINVAL;
	}
	return 0;
}

static bool magic_known(uint32_t magic)
{
	return magic == MAGIC_GO118 || magic == MAGIC_GO120;
}

static bool magic_old(uint32_t magic)
{
	return magic == MAGIC_GO116 || magic == MAGIC_GO12;
}

/* 0 when p holds a pcHeader we can read; -ENOTSUP for older formats. */
static int parse_header(struct gosym *gs, const uint8_t *p, uint64_t len)
{
	uint32_t magic;
	uint64_t nfunc, nfiles;
	int err;

	if (len < PCH_SIZE)
		return -EINVAL;
	magic = rd32(p);
	if (p[4] || p[5] || (p[PCH_MINLC] != 1 && p[PCH_MINLC] != 2 && p[PCH_MINLC] != 4))
		return -EINVAL;
	if (magic_old(magic))
		return -ENOTSUP;
	if (!magic_known(magic) || p[PCH_PTRSIZE] != 8)
		return -EINVAL;
	nfunc = rd64(p + PCH_NFUNC);
	nfiles = rd64(p + PCH_NFILES);
	if (!nfunc || nfunc > len / 8 || nfiles > len)
		return -EINVAL;
	err = parse_tables(gs, p, len);
	if (err)
		return err;
	gs->tab.p = p;
	gs->tab.len = len;
	gs->nfunc = nfunc;
	gs->quantum = p[PCH_MINLC];
	gs->info.magic = magic;
	gs->info.min_lc = p[PCH_MINLC];
	gs->info.nfunc = nfunc;
	gs->info.nfiles = nfiles;
	if (magic == MAGIC_GO118) {
		gs->func_size = FUNC_SIZE_118;
		gs->nfuncdata_off = FUNC_NFUNCDATA_118;
		gs->inl_size = INL_SIZE_118;
		gs->inl_name = INL_NAME_118;
		gs->inl_parentpc = INL_PARENTPC_118;
		gs->inl_funcid = INL_FUNCID_118;
	} else {
		gs->func_size = FUNC_SIZE_120;
		gs->nfuncdata_off = FUNC_NFUNCDATA_120;
		gs->inl_size = INL_SIZE_120;
		gs->inl_name = INL_NAME_120;
		gs->inl_parentpc = INL_PARENTPC_120;
		gs->inl_funcid = INL_FUNCID_120;
	}
	return check_functab(gs);
}

static int try_table(struct gosym *gs, uint64_t addr, const uint8_t *p, uint64_t len,
		     const char *how)
{
	int err = parse_header(gs, p, len);

	if (err)
		return err;
	gs->info.pclntab = addr;
	gs->info.pclntab_size = len;
	gs->info.pclntab_how = how;
	return 0;
}

/*
 * .gopclntab in every internally linked binary and in 1.26 PIE;
 * .data.rel.ro.gopclntab in 1.19-1.25 Go-linked PIE (cmd/link/internal/ld/data.go
 * genrelrosecname). Externally linked PIE merges it into .data.rel.ro: scan.
 */
static int find_by_section(struct gosym *gs, struct elfbin *eb)
{
	static const char *const names[] = { ".gopclntab", ".data.rel.ro.gopclntab" };
	static const char *const hows[] = { "section .gopclntab",
					    "section .data.rel.ro.gopclntab" };
	int err = -ENOENT;

	for (size_t i = 0; i < 2; i++) {
		const struct elf_sect *s = elfbin__section(eb, names[i]);
		const uint8_t *p;
		size_t len;

		if (!s || s->type == SHT_NOBITS || !(p = elfbin__section_data(eb, s, &len)))
			continue;
		err = try_table(gs, s->addr, p, len, hows[i]);
		if (!err || err == -ENOTSUP)
			return err;
	}
	return err;
}

static int find_by_symbol(struct gosym *gs, struct elfbin *eb)
{
	uint64_t addr, size = 0, end;
	struct span sp;
	int err;

	if (elfbin__symbol(eb, "runtime.pclntab", &addr, &size))
		return -ENOENT;
	if (!size && !elfbin__symbol(eb, "runtime.epclntab", &end, NULL) && end > addr)
		size = end - addr;
	err = seg_span(eb, addr, &sp);
	if (err)
		return err;
	if (size && size < sp.len)
		sp.len = size;
	return try_table(gs, addr, sp.p, sp.len, "symbol runtime.pclntab");
}

/*
 * No section, no symbol: look for the header bytes "F0|F1 FF FF FF 00 00 minLC 08"
 * at 8-aligned addresses of every PT_LOAD and take the first one that validates.
 */
static int scan_segment(struct gosym *gs, const struct elf_seg *s, const uint8_t *p)
{
	static const uint8_t pat[] = { 0xff, 0xff, 0xff, 0x00, 0x00 };
	const uint8_t *q = p + 1, *end = p + s->filesz;
	int err = -ENOENT;

	while (q < end && (q = memmem(q, end - q, pat, sizeof(pat)))) {
		const uint8_t *h = q - 1;
		uint64_t vaddr = s->vaddr + (h - p);

		q++;
		if ((vaddr & 7) || (h[0] != 0xf0 && h[0] != 0xf1))
			continue;
		err = try_table(gs, vaddr, h, end - h, "scan");
		if (!err)
			return 0;
	}
	return err == -ENOTSUP ? -EINVAL : err;
}

static int find_by_scan(struct gosym *gs, struct elfbin *eb)
{
	int err = -ENOENT;

	for (size_t i = 0; i < elfbin__segment_count(eb); i++) {
		const struct elf_seg *s = elfbin__segment_at(eb, i);
		const uint8_t *p;

		if (s->type != PT_LOAD || (s->flags & PF_X) || s->filesz < PCH_SIZE)
			continue;
		p = elfbin__vaddr_ptr(eb, s->vaddr, s->filesz);
		if (p && !(err = scan_segment(gs, s, p)))
			return 0;
	}
	return err;
}

static int find_table(struct gosym *gs, struct elfbin *eb)
{
	int err = find_by_section(gs, eb);

	if (err == -ENOENT)
		err = find_by_symbol(gs, eb);
	if (err == -ENOENT || err == -ERANGE)
		err = find_by_scan(gs, eb);
	return err;
}

/* ---- moduledata, runtime.text and gofunc -------------------------------------- */

/*
 * A moduledata points back to this table: pcHeader (+0), funcnametab.ptr (+8)
 * and ftab.ptr (+128). Reads go through relocations: lld leaves zeros in the
 * file and keeps the value as an R_X86_64_RELATIVE addend.
 */
static bool md_valid(const struct gosym *gs, struct elfbin *eb, uint64_t md)
{
	uint64_t pch, names, ftab;
	uint64_t t = gs->info.pclntab;

	if (elfbin__read_ptr(eb, md + MD_PCHEADER, &pch) ||
	    elfbin__read_ptr(eb, md + MD_FUNCNAMETAB, &names) ||
	    elfbin__read_ptr(eb, md + MD_FTAB, &ftab))
		return false;
	return pch == t && names == t + (gs->funcnames.p - gs->tab.p) &&
	       ftab == t + (gs->pclntable.p - gs->tab.p);
}

struct md_scan {
	const struct gosym *gs;
	struct elfbin *eb;
	uint64_t found;
};

static int md_reloc_cb(uint64_t where, uint64_t addend, void *ctx)
{
	struct md_scan *ms = ctx;

	if (addend != ms->gs->info.pclntab || !md_valid(ms->gs, ms->eb, where))
		return 0;
	ms->found = where;
	return 1;
}

/* ≤1.25 stripped: an 8-aligned word == pclntab in a writable segment (.noptrdata). */
static uint64_t md_scan_file(const struct gosym *gs, struct elfbin *eb)
{
	uint64_t want = gs->info.pclntab;

	for (size_t i = 0; i < elfbin__segment_count(eb); i++) {
		const struct elf_seg *s = elfbin__segment_at(eb, i);
		const uint8_t *p;

		if (s->type != PT_LOAD || !(s->flags & PF_W) || s->filesz < 16)
			continue;
		p = elfbin__vaddr_ptr(eb, s->vaddr, s->filesz);
		if (!p)
			continue;
		for (uint64_t o = (8 - (s->vaddr & 7)) & 7; o + 16 <= s->filesz; o += 8) {
			if (rd64(p + o) == want && md_valid(gs, eb, s->vaddr + o))
				return s->vaddr + o;
		}
	}
	return 0;
}

static uint64_t find_moduledata(const struct gosym *gs, struct elfbin *eb, const char **how)
{
	const struct elf_sect *s = elfbin__section(eb, ".go.module");
	struct md_scan ms = { gs, eb, 0 };
	uint64_t md;

	/* 1.26: moduledata has its own section (cmd/link/internal/ld/data.go@1.26) */
	*how = "section .go.module";
	if (s && md_valid(gs, eb, s->addr))
		return s->addr;
	*how = "symbol runtime.firstmoduledata";
	if (!elfbin__symbol(eb, "runtime.firstmoduledata", &md, NULL) && md_valid(gs, eb, md))
		return md;
	*how = "scan";
	md = md_scan_file(gs, eb);
	if (md)
		return md;
	*how = "scan (relocations)";
	if (elfbin__for_each_relative(eb, md_reloc_cb, &ms) > 0)
		return ms.found;
	*how = "not found";
	return 0;
}

/*
 * runtime.text is the base of functab entry offsets. The symbol when there is a
 * .symtab; else moduledata.text (+176); else pcHeader.textStart, which 1.26 no
 * longer writes (runtime/symtab.go@1.26 pcHeader) and lld PIE leaves 0.
 */
static int find_text(struct gosym *gs, struct elfbin *eb)
{
	uint64_t text = 0;

	if (!elfbin__symbol(eb, "runtime.text", &text, NULL) && text) {
		gs->info.text_how = "symbol runtime.text";
	} else if (gs->info.moduledata &&
		   !elfbin__read_ptr(eb, gs->info.moduledata + MD_TEXT, &text) && text) {
		gs->info.text_how = "moduledata.text";
	} else if (!elfbin__read_ptr(eb, gs->info.pclntab + PCH_TEXTSTART, &text) && text) {
		gs->info.text_how = "pcHeader.textStart";
	} else {
		return -EINVAL;
	}
	gs->info.text = text;
	gs->info.etext = text + ftab_entryoff(gs, gs->nfunc);
	return 0;
}

/*
 * funcdata offsets are relative to moduledata.gofunc, the go:func.* symbol
 * (go.func.* in 1.18-1.19; cmd/link/internal/ld/symtab.go). Without it the
 * inline tree is out of reach and frames are physical functions only.
 */
static void find_gofunc(struct gosym *gs, struct elfbin *eb)
{
	uint64_t off = gs->info.magic == MAGIC_GO118 ? MD_GOFUNC_118 : MD_GOFUNC_120;
	uint64_t gofunc = 0;

	if (gs->info.moduledata)
		elfbin__read_ptr(eb, gs->info.moduledata + off, &gofunc);
	if (!gofunc && elfbin__symbol(eb, "go:func.*", &gofunc, NULL))
		elfbin__symbol(eb, "go.func.*", &gofunc, NULL);
	if (!gofunc || seg_span(eb, gofunc, &gs->gofunc))
		return;
	gs->info.gofunc = gofunc;
}

/* The runtime's own pc -> function index: saves most of a binary search. */
static void find_findfunctab(struct gosym *gs, struct elfbin *eb)
{
	uint64_t md = gs->info.moduledata, ff, minpc;

	if (!md || elfbin__read_ptr(eb, md + MD_FINDFUNCTAB, &ff) ||
	    elfbin__read_ptr(eb, md + MD_MINPC, &minpc) || minpc < gs->info.text ||
	    seg_span(eb, ff, &gs->findfunctab))
		return;
	gs->minpc_off = minpc - gs->info.text;
}

struct gosym *gosym__open(struct elfbin *eb)
{
	struct gosym *gs = calloc(1, sizeof(*gs));
	int err;

	if (!gs)
		return NULL;
	err = find_table(gs, eb);
	if (err)
		goto fail;
	gs->info.moduledata = find_moduledata(gs, eb, &gs->info.moduledata_how);
	err = find_text(gs, eb);
	if (err)
		goto fail;
	find_gofunc(gs, eb);
	find_findfunctab(gs, eb);
	gs->pcv = calloc(1, sizeof(*gs->pcv) +
			    (size_t)gs->nfunc * PCV_KINDS * sizeof(gs->pcv->slot[0]));
	if (!gs->pcv) {
		err = -ENOMEM;
		goto fail;
	}
	return gs;
fail:
	gosym__free(gs);
	errno = err == -ERANGE ? EINVAL : -err;
	return NULL;
}

void gosym__free(struct gosym *gs)
{
	if (!gs)
		return;
	gosym_pcv_free(gs);
	free(gs->names);
	free(gs);
}

const struct gosym_info *gosym__info(const struct gosym *gs)
{
	return &gs->info;
}

size_t gosym__memory(const struct gosym *gs)
{
	size_t names = gs->names ? (gs->names_mask + 1) * sizeof(*gs->names) : 0;

	return sizeof(*gs) + names + sizeof(*gs->pcv) +
	       (size_t)gs->nfunc * PCV_KINDS * sizeof(gs->pcv->slot[0]) +
	       __atomic_load_n(&gs->pcv->bytes, __ATOMIC_RELAXED);
}

uint32_t gosym__func_count(const struct gosym *gs)
{
	return gs->nfunc;
}

/* ---- functions ---------------------------------------------------------------- */

void gosym_func_rec(const struct gosym *gs, uint32_t i, struct func_rec *f)
{
	uint32_t off = ftab_funcoff(gs, i);
	uint64_t tail;

	f->p = gs->pclntable.p + off;
	f->index = i;
	f->entry = gs->info.text + ftab_entryoff(gs, i);
	f->end = gs->info.text + ftab_entryoff(gs, i + 1);
	f->npcdata = rd32(f->p + FUNC_NPCDATA);
	f->nfuncdata = f->p[gs->nfuncdata_off];
	tail = 4 * ((uint64_t)f->npcdata + f->nfuncdata);
	f->tail_ok = off + gs->func_size + tail <= gs->pclntable.len;
}

const char *gosym_name_at(const struct gosym *gs, int32_t off)
{
	const char *s = off >= 0 ? span_str(&gs->funcnames, off) : NULL;

	return s ? s : "?";
}

static void fill_func(const struct gosym *gs, uint32_t i, struct gosym_func *fn)
{
	const uint8_t *p = gs->pclntable.p + ftab_funcoff(gs, i);

	fn->entry = gs->info.text + ftab_entryoff(gs, i);
	fn->end = gs->info.text + ftab_entryoff(gs, i + 1);
	fn->name = gosym_name_at(gs, (int32_t)rd32(p + FUNC_NAMEOFF));
	fn->index = i;
}

int gosym__func_at(const struct gosym *gs, uint32_t index, struct gosym_func *fn)
{
	if (index >= gs->nfunc)
		return -ENOENT;
	fill_func(gs, index, fn);
	return 0;
}

/*
 * runtime.findfunc: the bucket gives a function index at or before off, then a
 * short scan. false when the bucket does not lead there (a corrupt table).
 */
static bool func_index_bucket(const struct gosym *gs, uint64_t off, uint32_t *idx)
{
	const uint8_t *b;
	uint64_t x;
	uint32_t i;

	if (!gs->findfunctab.p || off < gs->minpc_off)
		return false;
	x = off - gs->minpc_off;
	if ((x / FFB_BUCKET + 1) * FFB_SIZE > gs->findfunctab.len)
		return false;
	b = gs->findfunctab.p + x / FFB_BUCKET * FFB_SIZE;
	i = rd32(b) + b[4 + x % FFB_BUCKET / FFB_SUBBUCKET];
	if (i >= gs->nfunc || ftab_entryoff(gs, i) > off)
		return false;
	for (int k = 0; ftab_entryoff(gs, i + 1) <= off; k++)
		if (k == FFB_MAX_SCAN || ++i >= gs->nfunc)
			return false;
	*idx = i;
	return true;
}

/* The last entry <= pc. */
int gosym_func_index(const struct gosym *gs, uint64_t pc, uint32_t *idx)
{
	uint64_t off;
	uint32_t lo = 0, hi = gs->nfunc;

	if (pc < gs->info.text)
		return -ENOENT;
	off = pc - gs->info.text;
	if (off < ftab_entryoff(gs, 0) || off >= ftab_entryoff(gs, gs->nfunc))
		return -ENOENT;
	if (func_index_bucket(gs, off, idx))
		return 0;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (ftab_entryoff(gs, mid) <= off)
			lo = mid;
		else
			hi = mid;
	}
	*idx = lo;
	return 0;
}

int gosym__func_by_pc(const struct gosym *gs, uint64_t pc, struct gosym_func *fn)
{
	uint32_t i;
	int err = gosym_func_index(gs, pc, &i);

	if (err)
		return err;
	fill_func(gs, i, fn);
	return 0;
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static const char *func_name(const struct gosym *gs, uint32_t i)
{
	const uint8_t *f = gs->pclntable.p + ftab_funcoff(gs, i);

	return gosym_name_at(gs, (int32_t)rd32(f + FUNC_NAMEOFF));
}

/* Inserted in index (= entry) order, so a probe finds the lowest entry first. */
static int build_names(struct gosym *gs)
{
	uint32_t size = 1;

	while (size < 2 * gs->nfunc)
		size <<= 1;
	gs->names = calloc(size, sizeof(*gs->names));
	if (!gs->names)
		return -ENOMEM;
	gs->names_mask = size - 1;
	for (uint32_t i = 0; i < gs->nfunc; i++) {
		uint32_t h = name_hash(func_name(gs, i)) & gs->names_mask;

		while (gs->names[h])
			h = (h + 1) & gs->names_mask;
		gs->names[h] = i + 1;
	}
	return 0;
}

int gosym__func_by_name(struct gosym *gs, const char *name, struct gosym_func *fn)
{
	uint32_t h;
	int err;

	if (!gs->names && (err = build_names(gs)))
		return err;
	/* the table is at most half full: the probe ends at an empty slot */
	for (h = name_hash(name) & gs->names_mask; gs->names[h]; h = (h + 1) & gs->names_mask) {
		uint32_t i = gs->names[h] - 1;

		if (strcmp(func_name(gs, i), name) == 0) {
			fill_func(gs, i, fn);
			return 0;
		}
	}
	return -ENOENT;
}

