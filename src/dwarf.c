// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Minimal DWARF reader: unit headers (v2-v5, 32/64-bit), abbreviation tables and
 * every DW_FORM of DWARF 5 plus the GNU extensions, so that any attribute can be
 * skipped. Go <= 1.24 emits DWARF 4, 1.25+ DWARF 5 (internal/buildcfg/exp.go@1.25);
 * externally linked cgo binaries also carry gcc's DWARF 5 C units (strx, line_strp,
 * implicit_const). Only structure types and constants whose names were asked for
 * are remembered; everything else is walked over.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dwarf.h"
#include "elfbin.h"

/* Tags, attributes and forms used here (DWARF 5, section 7.5). */
#define DW_TAG_class_type	0x02
#define DW_TAG_member		0x0d
#define DW_TAG_structure_type	0x13
#define DW_TAG_typedef		0x16
#define DW_TAG_union_type	0x17
#define DW_TAG_const_type	0x26
#define DW_TAG_constant		0x27
#define DW_TAG_volatile_type	0x35
#define DW_TAG_restrict_type	0x37
#define DW_TAG_atomic_type	0x47

#define DW_AT_name		0x03
#define DW_AT_byte_size		0x0b
#define DW_AT_const_value	0x1c
#define DW_AT_data_member_location 0x38
#define DW_AT_declaration	0x3c
#define DW_AT_type		0x49
#define DW_AT_str_offsets_base	0x72

#define DW_OP_plus_uconst	0x23

enum {
	DW_FORM_addr = 0x01, DW_FORM_block2 = 0x03, DW_FORM_block4, DW_FORM_data2,
	DW_FORM_data4, DW_FORM_data8, DW_FORM_string, DW_FORM_block, DW_FORM_block1,
	DW_FORM_data1, DW_FORM_flag, DW_FORM_sdata, DW_FORM_strp, DW_FORM_udata,
	DW_FORM_ref_addr, DW_FORM_ref1, DW_FORM_ref2, DW_FORM_ref4, DW_FORM_ref8,
	DW_FORM_ref_udata, DW_FORM_indirect, DW_FORM_sec_offset, DW_FORM_exprloc,
	DW_FORM_flag_present, DW_FORM_strx, DW_FORM_addrx, DW_FORM_ref_sup4,
	DW_FORM_strp_sup, DW_FORM_data16, DW_FORM_line_strp, DW_FORM_ref_sig8,
	DW_FORM_implicit_const, DW_FORM_loclistx, DW_FORM_rnglistx, DW_FORM_ref_sup8,
	DW_FORM_strx1, DW_FORM_strx2, DW_FORM_strx3, DW_FORM_strx4, DW_FORM_addrx1,
	DW_FORM_addrx2, DW_FORM_addrx3, DW_FORM_addrx4,
	DW_FORM_GNU_addr_index = 0x1f01, DW_FORM_GNU_str_index = 0x1f02,
	DW_FORM_GNU_ref_alt = 0x1f20, DW_FORM_GNU_strp_alt = 0x1f21,
};

#define DW_UT_compile		0x01
#define DW_UT_type		0x02
#define DW_UT_partial		0x03
#define DW_UT_skeleton		0x04
#define DW_UT_split_compile	0x05
#define DW_UT_split_type	0x06

/* Bounds on hostile input beyond what section sizes already bound. */
#define MAX_TYPE_HOPS	32	/* typedef/qualifier chain while resolving a member type */
#define MAX_PATH_DEPTH	8	/* components of a member path */
#define MAX_INDIRECT	4	/* nested DW_FORM_indirect */

struct rd {
	const uint8_t *p;
	const uint8_t *end;
	bool err;
};

struct abbrev_attr {
	uint64_t at;
	uint64_t form;
	int64_t implicit;
};

struct abbrev {
	uint64_t code;
	uint64_t tag;
	bool children;
	size_t first;	/* index of its first attribute in the table's attrs */
	size_t nattr;
};

struct abbrev_table {
	uint64_t off;
	struct abbrev *ab;
	size_t nab;
	struct abbrev_attr *attrs;
	size_t nattrs;
	bool bad;
};

struct unit {
	uint64_t off;	/* unit header, absolute in .debug_info */
	uint64_t die;	/* first DIE */
	uint64_t end;
	uint64_t abbrev_off;
	uint64_t str_offsets_base;
	struct abbrev_table *tab;	/* NULL until first used */
	uint16_t version;
	uint8_t addr_size;
	uint8_t off_size;
	bool bad;
	bool walked;
	bool based;	/* unit DIE read: str_offsets_base known */
};

struct wanted {
	char *name;
	uint64_t tag;
	uint64_t die;	/* absolute offset of the DIE */
	int64_t cval;
	bool found;
};

struct dwarf {
	struct dwarf_sections s;
	struct unit *units;
	size_t nunits;
	struct abbrev_table **tabs;	/* hash by offset, tab_cap slots */
	size_t ntabs;
	size_t tab_cap;
	uint64_t abbrev_parsed;		/* bytes of .debug_abbrev parsed so far */
	struct wanted *want;
	size_t nwant;
	bool headers_bad;
};

/* Attribute value classes. */
enum vclass { V_NONE, V_CONST, V_STR, V_REF, V_BLOCK, V_OTHER };

struct val {
	enum vclass cls;
	uint64_t u;		/* constant bits, reference (absolute), string/index offset */
	bool is_signed;
	bool strx;		/* V_STR as an index into .debug_str_offsets, in u */
	const char *str;	/* V_STR when resolved */
	const uint8_t *blk;
	uint64_t blen;
};

/* The attributes a DIE can tell us; everything else is skipped. */
struct die {
	uint64_t off;
	uint64_t tag;
	bool children;
	bool null;
	bool decl;
	const char *name;
	struct val loc;
	struct val size;
	struct val type;
	struct val cval;
};

/* ---- bounded readers ---- */

static bool rd_need(struct rd *r, uint64_t n)
{
	if (r->err || (uint64_t)(r->end - r->p) < n) {
		r->err = true;
		return false;
	}
	return true;
}

static uint64_t rd_uint(struct rd *r, unsigned n)
{
	uint64_t v = 0;

	if (!rd_need(r, n))
		return 0;
	/* DWARF in ELF files for amd64/arm64 is little-endian. */
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return v;
}

static void rd_skip(struct rd *r, uint64_t n)
{
	if (rd_need(r, n))
		r->p += n;
}

static uint64_t rd_uleb(struct rd *r)
{
	uint64_t v = 0;

	for (unsigned shift = 0; rd_need(r, 1); shift += 7) {
		uint8_t b = *r->p++;

		if (shift >= 64 || (shift == 63 && (b & 0x7e))) {
			r->err = true;
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	return 0;
}

static int64_t rd_sleb(struct rd *r)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b = 0;

	do {
		if (!rd_need(r, 1) || shift >= 64) {
			r->err = true;
			return 0;
		}
		b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	if (shift < 64 && (b & 0x40))
		v |= ~0ULL << shift;
	return (int64_t)v;
}

/* A NUL-terminated string inside [p, end), or NULL. */
static const char *cstr_at(const uint8_t *base, size_t len, uint64_t off)
{
	if (!base || off >= len || !memchr(base + off, 0, len - off))
		return NULL;
	return (const char *)base + off;
}

/* ---- abbreviation tables ---- */

static int abbrev_cmp(const void *a, const void *b)
{
	const struct abbrev *x = a, *y = b;

	return x->code < y->code ? -1 : x->code > y->code;
}

static int table_push_attr(struct abbrev_table *t, size_t *cap, const struct abbrev_attr *a)
{
	if (t->nattrs == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		void *n = realloc(t->attrs, ncap * sizeof(*t->attrs));

		if (!n)
			return -ENOMEM;
		t->attrs = n;
		*cap = ncap;
	}
	t->attrs[t->nattrs++] = *a;
	return 0;
}

static int table_push_abbrev(struct abbrev_table *t, size_t *cap, const struct abbrev *a)
{
	if (t->nab == *cap) {
		size_t ncap = *cap ? *cap * 2 : 32;
		void *n = realloc(t->ab, ncap * sizeof(*t->ab));

		if (!n)
			return -ENOMEM;
		t->ab = n;
		*cap = ncap;
	}
	t->ab[t->nab++] = *a;
	return 0;
}

/* Reads the attribute specs of one abbreviation, up to its (0, 0) terminator. */
static int abbrev_read_attrs(struct rd *r, struct abbrev_table *t, size_t *cap, struct abbrev *a)
{
	int err;

	a->first = t->nattrs;
	for (;;) {
		struct abbrev_attr at = { .at = rd_uleb(r), .form = rd_uleb(r) };

		if (r->err)
			return -EINVAL;
		if (!at.at && !at.form)
			break;
		if (at.form == DW_FORM_implicit_const)
			at.implicit = rd_sleb(r);
		err = table_push_attr(t, cap, &at);
		if (err)
			return err;
	}
	a->nattr = t->nattrs - a->first;
	return 0;
}

/* Parses the abbreviation table at off; each iteration consumes input, so it ends. */
static int abbrev_parse(const struct dwarf *dw, struct abbrev_table *t, uint64_t *parsed)
{
	struct rd r = { dw->s.abbrev, dw->s.abbrev + dw->s.abbrev_len, false };
	size_t acap = 0, ab_cap = 0;
	int err = 0;

	if (t->off >= dw->s.abbrev_len)
		return -EINVAL;
	r.p += t->off;
	for (;;) {
		struct abbrev a = { .code = rd_uleb(&r) };

		if (!a.code)
			break;
		a.tag = rd_uleb(&r);
		a.children = rd_uint(&r, 1) != 0;
		if (r.err)
			break;
		err = abbrev_read_attrs(&r, t, &acap, &a);
		if (!err)
			err = table_push_abbrev(t, &ab_cap, &a);
		if (err)
			break;
	}
	/* Counted on failure too: the budget bounds the work, not the successes. */
	*parsed += (uint64_t)(r.p - dw->s.abbrev) - t->off;
	if (!err && r.err)
		err = -EINVAL;
	if (!err && t->nab)
		qsort(t->ab, t->nab, sizeof(*t->ab), abbrev_cmp);
	return err;
}

static const struct abbrev *abbrev_find(const struct abbrev_table *t, uint64_t code)
{
	struct abbrev key = { .code = code };

	/* Producers number abbreviations 1..n, so the direct slot is almost always it. */
	if (!t->nab)
		return NULL;
	if (code >= 1 && code <= t->nab && t->ab[code - 1].code == code)
		return &t->ab[code - 1];
	return bsearch(&key, t->ab, t->nab, sizeof(*t->ab), abbrev_cmp);
}

static void table_free(struct abbrev_table *t)
{
	if (!t)
		return;
	free(t->ab);
	free(t->attrs);
	free(t);
}

/*
 * Abbreviation tables by offset, in an open-addressing hash: gcc gives every unit
 * its own table, and a hostile file can have one per few bytes of .debug_info.
 */
static size_t tab_slot(const struct dwarf *dw, uint64_t off)
{
	size_t mask = dw->tab_cap - 1;
	size_t i = (size_t)((off * 0x9e3779b97f4a7c15ULL) >> 32) & mask;

	while (dw->tabs[i] && dw->tabs[i]->off != off)
		i = (i + 1) & mask;
	return i;
}

static int tabs_grow(struct dwarf *dw)
{
	struct abbrev_table **old = dw->tabs;
	size_t old_cap = dw->tab_cap, cap = old_cap ? old_cap * 2 : 16;

	dw->tabs = calloc(cap, sizeof(*dw->tabs));
	if (!dw->tabs) {
		dw->tabs = old;
		return -ENOMEM;
	}
	dw->tab_cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i])
			dw->tabs[tab_slot(dw, old[i]->off)] = old[i];
	free(old);
	return 0;
}

/*
 * Parses a new table. Well-formed tables are disjoint, so parsing more than twice
 * the section (plus slack) means units are pointing into one another's tables: the
 * rest are refused rather than parsed again and again.
 */
static struct abbrev_table *table_new(struct dwarf *dw, uint64_t off)
{
	struct abbrev_table *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return NULL;
	t->off = off;
	if (dw->abbrev_parsed > 2 * (uint64_t)dw->s.abbrev_len + (1 << 20)) {
		t->bad = true;
		return t;
	}
	err = abbrev_parse(dw, t, &dw->abbrev_parsed);
	if (err == -ENOMEM) {
		table_free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->bad = err != 0;
	return t;
}

/* The (cached) table of a unit; NULL with errno. Go units all share one table. */
static struct abbrev_table *unit_table(struct dwarf *dw, struct unit *u)
{
	size_t slot;

	if (!u->tab) {
		if ((dw->ntabs + 1) * 2 > dw->tab_cap && tabs_grow(dw)) {
			errno = ENOMEM;
			return NULL;
		}
		slot = tab_slot(dw, u->abbrev_off);
		if (!dw->tabs[slot]) {
			dw->tabs[slot] = table_new(dw, u->abbrev_off);
			if (!dw->tabs[slot])
				return NULL;
			dw->ntabs++;
		}
		u->tab = dw->tabs[slot];
	}
	if (u->tab->bad) {
		errno = EINVAL;
		return NULL;
	}
	return u->tab;
}

/* ---- unit headers ---- */

/* Parses the header at off; sets *next past the unit. -EINVAL when framing is lost. */
static int unit_header(const struct dwarf *dw, uint64_t off, struct unit *u, uint64_t *next)
{
	struct rd r = { dw->s.info + off, dw->s.info + dw->s.info_len, false };
	uint64_t len = rd_uint(&r, 4);
	uint8_t ut = DW_UT_compile;

	memset(u, 0, sizeof(*u));
	u->off = off;
	u->off_size = 4;
	if (len == 0xffffffff) {
		len = rd_uint(&r, 8);
		u->off_size = 8;
	} else if (len >= 0xfffffff0) {
		return -EINVAL;
	}
	if (r.err || len > (uint64_t)(r.end - r.p))
		return -EINVAL;
	u->end = (uint64_t)(r.p - dw->s.info) + len;
	*next = u->end;
	r.end = r.p + len;
	u->version = rd_uint(&r, 2);
	if (u->version < 2 || u->version > 5) {
		u->bad = true;
		return 0;
	}
	if (u->version >= 5) {
		ut = rd_uint(&r, 1);
		u->addr_size = rd_uint(&r, 1);
		u->abbrev_off = rd_uint(&r, u->off_size);
	} else {
		u->abbrev_off = rd_uint(&r, u->off_size);
		u->addr_size = rd_uint(&r, 1);
	}
	if (ut == DW_UT_skeleton || ut == DW_UT_split_compile)
		rd_skip(&r, 8);				/* dwo_id */
	else if (ut == DW_UT_type || ut == DW_UT_split_type)
		rd_skip(&r, 8 + u->off_size);		/* type_signature, type_offset */
	u->die = (uint64_t)(r.p - dw->s.info);
	/* 64-bit DWARF pairs 8-byte offsets; the default strx base skips the v5 header. */
	u->str_offsets_base = 2 * u->off_size;
	u->bad = r.err || (u->addr_size != 4 && u->addr_size != 8);
	return 0;
}

/* Every unit header up front: a cheap hop by unit_length, needed to resolve references. */
static int units_scan(struct dwarf *dw)
{
	uint64_t off = 0, next;
	size_t cap = 0;

	while (off < dw->s.info_len) {
		struct unit u;

		if (unit_header(dw, off, &u, &next)) {
			dw->headers_bad = true;
			break;
		}
		if (dw->nunits == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *n = realloc(dw->units, ncap * sizeof(*dw->units));

			if (!n)
				return -ENOMEM;
			dw->units = n;
			cap = ncap;
		}
		dw->units[dw->nunits++] = u;
		off = next;
	}
	return 0;
}

static struct unit *unit_of(struct dwarf *dw, uint64_t off)
{
	size_t lo = 0, hi = dw->nunits;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct unit *u = &dw->units[mid];

		if (off < u->off)
			hi = mid;
		else if (off >= u->end)
			lo = mid + 1;
		else
			return off >= u->die && !u->bad ? u : NULL;
	}
	return NULL;
}

/* ---- attribute values ---- */

static const char *str_offsets_lookup(const struct dwarf *dw, const struct unit *u, uint64_t idx)
{
	uint64_t at;
	struct rd r;

	if (u->str_offsets_base > dw->s.str_offsets_len ||
	    idx > dw->s.str_offsets_len / u->off_size)
		return NULL;
	at = u->str_offsets_base + idx * u->off_size;
	if (at > dw->s.str_offsets_len)
		return NULL;
	r = (struct rd){ dw->s.str_offsets + at, dw->s.str_offsets + dw->s.str_offsets_len, false };
	at = rd_uint(&r, u->off_size);
	return r.err ? NULL : cstr_at(dw->s.str, dw->s.str_len, at);
}

/* Fixed-size forms: byte count, or 0 when the form is not fixed-size. */
static unsigned form_fixed_size(uint64_t form, const struct unit *u)
{
	switch (form) {
	case DW_FORM_flag: case DW_FORM_data1: case DW_FORM_ref1: case DW_FORM_strx1:
	case DW_FORM_addrx1:
		return 1;
	case DW_FORM_data2: case DW_FORM_ref2: case DW_FORM_strx2: case DW_FORM_addrx2:
		return 2;
	case DW_FORM_strx3: case DW_FORM_addrx3:
		return 3;
	case DW_FORM_data4: case DW_FORM_ref4: case DW_FORM_ref_sup4: case DW_FORM_strx4:
	case DW_FORM_addrx4:
		return 4;
	case DW_FORM_data8: case DW_FORM_ref8: case DW_FORM_ref_sig8: case DW_FORM_ref_sup8:
		return 8;
	case DW_FORM_data16:
		return 16;
	case DW_FORM_addr:
		return u->addr_size;
	case DW_FORM_strp: case DW_FORM_line_strp: case DW_FORM_sec_offset:
	case DW_FORM_strp_sup: case DW_FORM_GNU_ref_alt: case DW_FORM_GNU_strp_alt:
		return u->off_size;
	case DW_FORM_ref_addr:
		/* DWARF 2 sized DW_FORM_ref_addr like an address (DWARF 3, 7.5.4). */
		return u->version <= 2 ? u->addr_size : u->off_size;
	}
	return 0;
}

static void val_block(struct rd *r, uint64_t len, struct val *v)
{
	v->cls = V_BLOCK;
	v->blk = r->p;
	v->blen = len;
	rd_skip(r, len);
}

/* Variable-size forms. -EINVAL for a form no DWARF version defines. */
static int read_var_form(struct rd *r, uint64_t form, struct val *v)
{
	const uint8_t *nul;

	switch (form) {
	case DW_FORM_string:
		nul = r->err ? NULL : memchr(r->p, 0, r->end - r->p);
		if (!nul)
			return -EINVAL;
		v->cls = V_STR;
		v->str = (const char *)r->p;
		r->p = nul + 1;
		return 0;
	case DW_FORM_block1: val_block(r, rd_uint(r, 1), v); return 0;
	case DW_FORM_block2: val_block(r, rd_uint(r, 2), v); return 0;
	case DW_FORM_block4: val_block(r, rd_uint(r, 4), v); return 0;
	case DW_FORM_block:
	case DW_FORM_exprloc: val_block(r, rd_uleb(r), v); return 0;
	case DW_FORM_sdata:
		v->cls = V_CONST;
		v->u = (uint64_t)rd_sleb(r);
		v->is_signed = true;
		return 0;
	case DW_FORM_udata: v->cls = V_CONST; v->u = rd_uleb(r); return 0;
	case DW_FORM_ref_udata: v->cls = V_REF; v->u = rd_uleb(r); return 0;
	case DW_FORM_strx: case DW_FORM_GNU_str_index:
		v->cls = V_STR;
		v->strx = true;
		v->u = rd_uleb(r);
		return 0;
	case DW_FORM_addrx: case DW_FORM_GNU_addr_index: case DW_FORM_loclistx:
	case DW_FORM_rnglistx: v->cls = V_OTHER; rd_uleb(r); return 0;
	case DW_FORM_flag_present: v->cls = V_CONST; v->u = 1; return 0;
	}
	return -EINVAL;
}

/* Classifies a fixed-size value already read into v->u. */
static void classify_fixed(const struct dwarf *dw, const struct unit *u, uint64_t form,
			   struct val *v)
{
	switch (form) {
	case DW_FORM_data1: case DW_FORM_data2: case DW_FORM_data4: case DW_FORM_data8:
	case DW_FORM_flag:
		v->cls = V_CONST;
		break;
	case DW_FORM_ref1: case DW_FORM_ref2: case DW_FORM_ref4: case DW_FORM_ref8:
		v->cls = V_REF;
		v->u += u->off;	/* unit-relative */
		break;
	case DW_FORM_ref_addr:
		v->cls = V_REF;
		break;
	case DW_FORM_strp:
		v->cls = V_STR;
		v->str = cstr_at(dw->s.str, dw->s.str_len, v->u);
		break;
	case DW_FORM_line_strp:
		v->cls = V_STR;
		v->str = cstr_at(dw->s.line_str, dw->s.line_str_len, v->u);
		break;
	case DW_FORM_strx1: case DW_FORM_strx2: case DW_FORM_strx3: case DW_FORM_strx4:
		v->cls = V_STR;	/* an index, resolved once the unit's base is known */
		v->strx = true;
		break;
	default:
		v->cls = V_OTHER;	/* addresses, sections offsets, other files' data */
	}
}

/*
 * Reads (or skips) one attribute value. Strings from strx forms are left as an
 * index in v->u with v->str NULL: the unit's DW_AT_str_offsets_base may come later
 * in the same DIE.
 */
static int read_form(const struct dwarf *dw, const struct unit *u, struct rd *r, uint64_t form,
		     int64_t implicit, struct val *v)
{
	unsigned n;

	for (int depth = 0; form == DW_FORM_indirect; depth++) {
		form = rd_uleb(r);
		/* implicit_const keeps its value in the abbreviation: not allowed here. */
		if (r->err || depth >= MAX_INDIRECT || form == DW_FORM_implicit_const)
			return -EINVAL;
	}
	memset(v, 0, sizeof(*v));
	if (form == DW_FORM_implicit_const) {
		v->cls = V_CONST;
		v->u = (uint64_t)implicit;
		v->is_signed = true;
		return 0;
	}
	n = form_fixed_size(form, u);
	if (n) {
		if (n <= 8) {
			v->u = rd_uint(r, n);
		} else {
			v->blk = r->p;
			v->blen = n;
			rd_skip(r, n);
		}
		classify_fixed(dw, u, form, v);
		if (n > 8)
			v->cls = V_BLOCK;	/* data16 */
	} else if (read_var_form(r, form, v)) {
		return -EINVAL;
	} else if (form == DW_FORM_ref_udata) {
		v->u += u->off;	/* unit-relative */
	}
	return r->err ? -EINVAL : 0;
}

/* ---- DIEs ---- */

static void die_keep(struct die *d, uint64_t at, const struct val *v, struct unit *u)
{
	switch (at) {
	case DW_AT_byte_size: d->size = *v; break;
	case DW_AT_const_value: d->cval = *v; break;
	case DW_AT_data_member_location: d->loc = *v; break;
	case DW_AT_type: d->type = *v; break;
	case DW_AT_declaration: d->decl = v->cls == V_CONST && v->u; break;
	case DW_AT_str_offsets_base: if (v->cls == V_OTHER) u->str_offsets_base = v->u; break;
	}
}

/*
 * Reads one DIE (or a null entry) at r, which must stop at the unit's end. Only the
 * attributes in struct die are kept; strx names resolve after the whole DIE is read.
 */
static int die_read(struct dwarf *dw, struct unit *u, const struct abbrev_table *t, struct rd *r,
		    struct die *d)
{
	const struct abbrev *a;
	struct val v, name = { 0 };
	uint64_t code;

	memset(d, 0, sizeof(*d));
	d->off = (uint64_t)(r->p - dw->s.info);
	code = rd_uleb(r);
	if (r->err)
		return -EINVAL;
	if (!code) {
		d->null = true;
		return 0;
	}
	a = abbrev_find(t, code);
	if (!a)
		return -EINVAL;
	d->tag = a->tag;
	d->children = a->children;
	for (size_t i = 0; i < a->nattr; i++) {
		const struct abbrev_attr *at = &t->attrs[a->first + i];

		if (read_form(dw, u, r, at->form, at->implicit, &v))
			return -EINVAL;
		if (at->at == DW_AT_name)
			name = v;
		die_keep(d, at->at, &v, u);
	}
	d->name = NULL;
	if (name.cls == V_STR)
		d->name = name.strx ? str_offsets_lookup(dw, u, name.u) : name.str;
	return 0;
}

/* A reader over one unit positioned at an absolute offset inside it. */
static int rd_at(struct dwarf *dw, uint64_t off, struct unit **up, const struct abbrev_table **tp,
		 struct rd *r)
{
	struct unit *u = unit_of(dw, off);

	if (!u)
		return -EINVAL;
	*tp = unit_table(dw, u);
	if (!*tp)
		return -errno;
	if (!u->based) {
		struct die cu;

		/* The unit DIE first: its DW_AT_str_offsets_base resolves strx names. */
		*r = (struct rd){ dw->s.info + u->die, dw->s.info + u->end, false };
		if (die_read(dw, u, *tp, r, &cu))
			return -EINVAL;
		u->based = true;
	}
	*up = u;
	*r = (struct rd){ dw->s.info + off, dw->s.info + u->end, false };
	return 0;
}

static int die_at(struct dwarf *dw, uint64_t off, struct die *d, struct unit **up,
		  const struct abbrev_table **tp, struct rd *r)
{
	int err = rd_at(dw, off, up, tp, r);

	return err ? err : die_read(dw, *up, *tp, r, d);
}

/* ---- the index pass ---- */

static bool tag_indexed(uint64_t tag)
{
	return tag == DW_TAG_structure_type || tag == DW_TAG_union_type ||
	       tag == DW_TAG_class_type || tag == DW_TAG_constant;
}

/* Records d if it defines a name still wanted; returns how many names that settled. */
static size_t index_die(struct dwarf *dw, const struct die *d)
{
	if (!tag_indexed(d->tag) || !d->name || d->decl)
		return 0;
	if (d->tag == DW_TAG_constant && d->cval.cls != V_CONST)
		return 0;
	for (size_t i = 0; i < dw->nwant; i++) {
		struct wanted *w = &dw->want[i];

		if (w->found || strcmp(w->name, d->name))
			continue;
		w->found = true;
		w->tag = d->tag;
		w->die = d->off;
		w->cval = (int64_t)d->cval.u;
		return 1;
	}
	return 0;
}

/* Walks every DIE of one unit. Each iteration consumes at least one byte. */
static int index_unit(struct dwarf *dw, struct unit *u, size_t *left)
{
	const struct abbrev_table *t = unit_table(dw, u);
	struct rd r;
	struct die d;

	if (!t)
		return -errno;
	r = (struct rd){ dw->s.info + u->die, dw->s.info + u->end, false };
	u->based = true;	/* the first DIE read below is the unit DIE */
	while (r.p < r.end && *left) {
		if (die_read(dw, u, t, &r, &d))
			return -EINVAL;
		if (!d.null)
			*left -= index_die(dw, &d);
	}
	u->walked |= r.p >= r.end;
	return 0;
}

static int want_add(struct dwarf *dw, const char *name)
{
	void *n;

	for (size_t i = 0; i < dw->nwant; i++)
		if (!strcmp(dw->want[i].name, name))
			return 0;
	n = realloc(dw->want, (dw->nwant + 1) * sizeof(*dw->want));
	if (!n)
		return -ENOMEM;
	dw->want = n;
	memset(&dw->want[dw->nwant], 0, sizeof(*dw->want));
	dw->want[dw->nwant].name = strdup(name);
	if (!dw->want[dw->nwant].name)
		return -ENOMEM;
	dw->nwant++;
	return 0;
}

int dwarf__index(struct dwarf *dw, const char *const *names, size_t n)
{
	size_t left = 0, found = 0;
	int err;

	for (size_t i = 0; i < n; i++) {
		err = want_add(dw, names[i]);
		if (err)
			return err;
	}
	for (size_t i = 0; i < dw->nwant; i++)
		left += !dw->want[i].found;
	for (size_t i = 0; i < dw->nunits && left; i++) {
		struct unit *u = &dw->units[i];

		if (u->bad)
			continue;
		err = index_unit(dw, u, &left);
		if (err == -ENOMEM)
			return err;
		u->bad = err != 0;	/* a corrupt unit is skipped, now and later */
	}
	for (size_t i = 0; i < dw->nwant; i++)
		found += dw->want[i].found;
	return dw->headers_bad && !found ? -EINVAL : 0;
}

/* ---- lookups ---- */

static const struct wanted *wanted_find(const struct dwarf *dw, const char *name, bool constant)
{
	for (size_t i = 0; i < dw->nwant; i++) {
		const struct wanted *w = &dw->want[i];

		if (w->found && !strcmp(w->name, name) && (w->tag == DW_TAG_constant) == constant)
			return w;
	}
	return NULL;
}

/* Byte offset from a DW_AT_data_member_location: a constant or DW_OP_plus_uconst N. */
static int member_location(const struct val *loc, int64_t *off)
{
	struct rd r;

	if (loc->cls == V_CONST) {
		*off = (int64_t)loc->u;
		return 0;
	}
	if (loc->cls != V_BLOCK)
		return loc->cls == V_NONE ? -ENODATA : -ENOTSUP;
	r = (struct rd){ loc->blk, loc->blk + loc->blen, false };
	if (rd_uint(&r, 1) != DW_OP_plus_uconst)
		return -ENOTSUP;
	*off = (int64_t)rd_uleb(&r);
	return r.err || r.p != r.end ? -ENOTSUP : 0;
}

/*
 * Visits the direct children of the DIE at off; cb returns non-zero to stop. Nested
 * children are walked over by depth. Bounded by the unit's end.
 */
static int for_each_child(struct dwarf *dw, uint64_t off,
			  int (*cb)(struct dwarf *dw, const struct die *d, void *ctx), void *ctx)
{
	const struct abbrev_table *t;
	struct unit *u;
	struct rd r;
	struct die d;
	long depth = 1;
	int err = die_at(dw, off, &d, &u, &t, &r);

	if (err)
		return err;
	if (d.null || !d.children)
		return 0;
	while (depth > 0) {
		if (r.p >= r.end || die_read(dw, u, t, &r, &d))
			return -EINVAL;
		if (d.null) {
			depth--;
			continue;
		}
		if (depth == 1) {
			err = cb(dw, &d, ctx);
			if (err)
				return err;
		}
		depth += d.children;
	}
	return 0;
}

struct member_q {
	const char *name;
	size_t len;
	bool found;
	bool is_union;
	int64_t off;
	uint64_t type;
	int err;
};

static int member_match(struct dwarf *dw, const struct die *d, void *ctx)
{
	struct member_q *q = ctx;

	if (d->tag != DW_TAG_member || !d->name || strncmp(d->name, q->name, q->len) ||
	    d->name[q->len])
		return 0;
	q->found = true;
	q->type = d->type.cls == V_REF ? d->type.u : 0;
	q->err = member_location(&d->loc, &q->off);
	/* A union member without a location sits at 0 (DWARF 5, 5.7.6). */
	if (q->err == -ENODATA && q->is_union) {
		q->off = 0;
		q->err = 0;
	}
	return 1;
}

/* Follows typedefs and qualifiers from a type reference to a struct/union DIE. */
static int resolve_aggregate(struct dwarf *dw, uint64_t ref, uint64_t *out, bool *is_union)
{
	const struct abbrev_table *t;
	struct unit *u;
	struct rd r;
	struct die d;

	for (int hop = 0; hop < MAX_TYPE_HOPS; hop++) {
		int err = die_at(dw, ref, &d, &u, &t, &r);

		if (err)
			return err;
		switch (d.tag) {
		case DW_TAG_structure_type: case DW_TAG_union_type: case DW_TAG_class_type:
			*out = ref;
			*is_union = d.tag == DW_TAG_union_type;
			return 0;
		case DW_TAG_typedef: case DW_TAG_const_type: case DW_TAG_volatile_type:
		case DW_TAG_restrict_type: case DW_TAG_atomic_type:
			if (d.type.cls != V_REF)
				return -EINVAL;
			ref = d.type.u;
			break;
		default:
			return -EINVAL;
		}
	}
	return -ELOOP;
}

/* Adds up the offsets of each component of "a.b.c" starting at the struct DIE at die. */
static int member_path(struct dwarf *dw, uint64_t die, bool is_union, const char *path,
		       uint64_t *off)
{
	uint64_t total = 0;
	int err;

	for (int depth = 0; depth < MAX_PATH_DEPTH; depth++) {
		const char *dot = strchr(path, '.');
		struct member_q q = { .name = path, .is_union = is_union };

		q.len = dot ? (size_t)(dot - path) : strlen(path);

		err = for_each_child(dw, die, member_match, &q);
		if (err < 0)
			return err;
		if (!q.found)
			return -ENOENT;
		if (q.err)
			return q.err;
		total += (uint64_t)q.off;
		if (!dot) {
			*off = total;
			return 0;
		}
		if (!q.type)
			return -EINVAL;
		err = resolve_aggregate(dw, q.type, &die, &is_union);
		if (err)
			return err;
		path = dot + 1;
	}
	return -E2BIG;
}

int dwarf__member_offset(struct dwarf *dw, const char *type, const char *path, uint64_t *off)
{
	const struct wanted *w = wanted_find(dw, type, false);

	if (!w)
		return -ENOENT;
	return member_path(dw, w->die, w->tag == DW_TAG_union_type, path, off);
}

int dwarf__byte_size(struct dwarf *dw, const char *type, uint64_t *size)
{
	const struct wanted *w = wanted_find(dw, type, false);
	const struct abbrev_table *t;
	struct unit *u;
	struct rd r;
	struct die d;
	int err;

	if (!w)
		return -ENOENT;
	err = die_at(dw, w->die, &d, &u, &t, &r);
	if (err)
		return err;
	if (d.size.cls != V_CONST)
		return d.size.cls == V_NONE ? -ENOENT : -ENOTSUP;
	*size = d.size.u;
	return 0;
}

int dwarf__constant(struct dwarf *dw, const char *name, int64_t *val)
{
	const struct wanted *w = wanted_find(dw, name, true);

	if (!w)
		return -ENOENT;
	*val = w->cval;
	return 0;
}

struct member_cb {
	int (*cb)(const char *name, int64_t off, void *ctx);
	void *ctx;
};

static int member_visit(struct dwarf *dw, const struct die *d, void *ctx)
{
	struct member_cb *m = ctx;
	int64_t off;

	if (d->tag != DW_TAG_member)
		return 0;
	if (member_location(&d->loc, &off))
		off = -1;
	return m->cb(d->name ? d->name : "", off, m->ctx);
}

int dwarf__for_each_member(struct dwarf *dw, const char *type,
			   int (*cb)(const char *name, int64_t off, void *ctx), void *ctx)
{
	const struct wanted *w = wanted_find(dw, type, false);
	struct member_cb m = { cb, ctx };

	if (!w)
		return -ENOENT;
	return for_each_child(dw, w->die, member_visit, &m);
}

void dwarf__stats(const struct dwarf *dw, struct dwarf_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->units = dw->nunits;
	st->headers_bad = dw->headers_bad;
	for (size_t i = 0; i < dw->nunits; i++) {
		const struct unit *u = &dw->units[i];

		st->walked += u->walked;
		st->bad += u->bad;
		if (u->version < sizeof(st->by_version) / sizeof(st->by_version[0]))
			st->by_version[u->version]++;
	}
}

/* ---- open / free ---- */

struct dwarf *dwarf__open_sections(const struct dwarf_sections *secs)
{
	struct dwarf *dw;
	int err;

	if (!secs->info || !secs->abbrev || !secs->info_len) {
		errno = ENOENT;
		return NULL;
	}
	dw = calloc(1, sizeof(*dw));
	if (!dw)
		return NULL;
	dw->s = *secs;
	err = units_scan(dw);
	if (err || !dw->nunits) {
		dwarf__free(dw);
		errno = err ? -err : EINVAL;
		return NULL;
	}
	return dw;
}

/* Contents of an optional section; NULL and 0 when absent. -errno when unreadable. */
static int section_get(struct elfbin *eb, const char *name, const uint8_t **p, size_t *len)
{
	const struct elf_sect *s = elfbin__section(eb, name);

	*p = NULL;
	*len = 0;
	if (!s)
		return 0;
	*p = elfbin__section_data(eb, s, len);
	return *p ? 0 : -EINVAL;
}

struct dwarf *dwarf__open(struct elfbin *eb)
{
	struct dwarf_sections s;
	int err;

	err = section_get(eb, ".debug_info", &s.info, &s.info_len);
	if (!err)
		err = section_get(eb, ".debug_abbrev", &s.abbrev, &s.abbrev_len);
	if (!err)
		err = section_get(eb, ".debug_str", &s.str, &s.str_len);
	if (!err)
		err = section_get(eb, ".debug_line_str", &s.line_str, &s.line_str_len);
	if (!err)
		err = section_get(eb, ".debug_str_offsets", &s.str_offsets, &s.str_offsets_len);
	if (err) {
		errno = -err;
		return NULL;
	}
	return dwarf__open_sections(&s);
}

void dwarf__free(struct dwarf *dw)
{
	if (!dw)
		return;
	for (size_t i = 0; i < dw->tab_cap; i++)
		table_free(dw->tabs[i]);
	for (size_t i = 0; i < dw->nwant; i++)
		free(dw->want[i].name);
	free(dw->tabs);
	free(dw->units);
	free(dw->want);
	free(dw);
}
